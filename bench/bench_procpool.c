/*
 * Process pool benchmarks: the submit -> result round trip through a
 * 2-worker pool (with no bytes, and with 16 bytes each way through the
 * typed and the executor's submit), a map of 1,000,000 small items, and the seeds' CPU-bound
 * example (4 x summing 10^7 integers) done serially, with threads and with
 * processes, beside Python doing the same.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>

#include "harness.h"
#include "weft/executor.h"
#include "weft/procpool.h"

static int nop(void *arg, void **result)
{
    return 0;
}

static double weft_pp_roundtrip(long n)
{
    weft_process_pool_opts o = {.max_workers = 2};
    weft_executor *ex;
    weft_future *f;
    if (weft_process_pool_new(&ex, &o) != 0)
        return -1;
    int bad = 0;
    for (int i = 0; i < 4 && !bad; i++) { /* every worker has started */
        bad |= weft_executor_submit(ex, nop, NULL, &f);
        bad |= bad ? 0 : weft_future_result(f, NULL, WEFT_FOREVER);
        if (f)
            weft_future_unref(f);
    }
    double t0 = wb_now();
    for (long i = 0; i < n && !bad; i++) {
        bad |= weft_executor_submit(ex, nop, NULL, &f);
        bad |= weft_future_result(f, NULL, WEFT_FOREVER);
        weft_future_unref(f);
    }
    double dt = wb_now() - t0;
    weft_executor_free(ex);
    return bad ? -1 : dt / (double)n;
}

const wb_bench wb_procpool_roundtrip = {
    .name = "procpool_roundtrip",
    .what = "One at a time: submit a no-op task to a 2-worker process pool and wait for its "
            "result (latency; Python: ProcessPoolExecutor(2), default start method).",
    .unit = "us",
    .n = 20000,
    .runs = 5,
    .target_peer = 1,
    .target = 0.05,
    .c = {
        {.name = "weft process pool", .run = weft_pp_roundtrip},
        {.name = "Python ProcessPoolExecutor", .py_script = "procpool.py",
         .py_case = "roundtrip", .py_n = 2000},
    },
};
WB_REGISTER(wb_procpool_roundtrip, 600)

/* The same round trip with 16 bytes each way, through the process pool's
 * typed calls and through the executor's. The executor's submit checks its
 * `void *` argument without reading through it: found among the weft_bytes
 * made lately, it is read; else it is probed by a system call first (the
 * "cold" case: thousands of weft_bytes made after it). A worker checks
 * every task's result the same way (one just made: found). */
static int echo16(void *arg, void **result)
{
    const weft_bytes *in = arg;
    return weft_bytes_new((weft_bytes **)result, in->data, in->len);
}

enum { TYPED, GENERIC, GENERIC_COLD };
#define COLD_FILL 4096

static double roundtrip_bytes(long n, int how)
{
    weft_process_pool_opts o = {.max_workers = 2};
    weft_executor *ex;
    weft_future *f = NULL;
    weft_bytes *arg, **fill = calloc(COLD_FILL, sizeof *fill);
    int bad = !fill || weft_bytes_new(&arg, "0123456789abcdef", 16) != 0;
    for (int i = 0; i < COLD_FILL && !bad && how == GENERIC_COLD; i++)
        bad |= weft_bytes_new(&fill[i], NULL, 16);
    if (bad || weft_process_pool_new(&ex, &o) != 0) {
        for (int i = 0; fill && i < COLD_FILL; i++)
            weft_bytes_free(fill[i]);
        free(fill);
        return -1;
    }
    double t0 = 0;
    for (long i = -4; i < n && !bad; i++) { /* 4 first: every worker has started */
        if (i == 0)
            t0 = wb_now();
        weft_bytes *r = NULL;
        bad |= how == TYPED ? weft_process_pool_submit(ex, echo16, arg, &f)
                            : weft_executor_submit(ex, echo16, arg, &f);
        bad |= bad ? 0 : weft_process_pool_result(f, &r, WEFT_FOREVER);
        bad |= !bad && (!r || r->len != 16);
        weft_bytes_free(r);
        if (f)
            weft_future_unref(f);
        f = NULL;
    }
    double dt = wb_now() - t0;
    weft_executor_free(ex);
    weft_bytes_free(arg);
    for (int i = 0; i < COLD_FILL; i++)
        weft_bytes_free(fill[i]);
    free(fill);
    return bad ? -1 : dt / (double)n;
}

static double weft_pp_roundtrip_typed(long n)
{
    return roundtrip_bytes(n, TYPED);
}

static double weft_pp_roundtrip_generic(long n)
{
    return roundtrip_bytes(n, GENERIC);
}

static double weft_pp_roundtrip_generic_cold(long n)
{
    return roundtrip_bytes(n, GENERIC_COLD);
}

const wb_bench wb_procpool_roundtrip_bytes = {
    .name = "procpool_roundtrip_bytes",
    .what = "One at a time: submit a task with a 16-byte argument that returns a 16-byte "
            "result to a 2-worker process pool and wait for it (latency): "
            "weft_process_pool_submit beside weft_executor_submit, which probes its untyped "
            "argument.",
    .unit = "us",
    .n = 20000,
    .runs = 5,
    .c = {
        {.name = "weft_process_pool_submit", .run = weft_pp_roundtrip_typed},
        {.name = "weft_executor_submit", .run = weft_pp_roundtrip_generic},
        {.name = "weft_executor_submit, cold argument", .run = weft_pp_roundtrip_generic_cold},
    },
};
WB_REGISTER(wb_procpool_roundtrip_bytes, 605)

/* ---------------------------------------------------------------- map */

static int square_item(const void *in, void *out)
{
    int v = *(const int *)in;
    *(int *)out = v * v;
    return 0;
}

static double weft_pp_map(long n)
{
    weft_process_pool_opts o = {.max_workers = 2};
    weft_executor *ex;
    int *in = malloc((size_t)n * sizeof *in), *out = malloc((size_t)n * sizeof *out);
    if (!in || !out || weft_process_pool_new(&ex, &o) != 0) {
        free(in);
        free(out);
        return -1;
    }
    for (long i = 0; i < n; i++)
        in[i] = (int)(i & 0x7fff);
    double t0 = wb_now();
    int bad = weft_process_pool_map_fixed(ex, square_item, in, sizeof *in, out, sizeof *out,
                                          (size_t)n, 0, WEFT_FOREVER);
    double dt = wb_now() - t0;
    for (long i = 0; i < n && !bad; i += 997)
        bad |= out[i] != in[i] * in[i];
    weft_executor_free(ex);
    free(in);
    free(out);
    return bad ? -1 : dt / (double)n;
}

const wb_bench wb_procpool_map = {
    .name = "procpool_map",
    .what = "Map square over 1,000,000 ints with a 2-worker process pool, default chunksize "
            "(n / (4 x workers)); the pool exists before the clock starts (Python: "
            "multiprocessing.Pool(2).map).",
    .unit = "ns",
    .n = 1000000,
    .runs = 5,
    .target_peer = 1,
    .target = 0.05,
    .c = {
        {.name = "weft process pool map", .run = weft_pp_map},
        {.name = "Python multiprocessing.Pool.map", .py_script = "procpool.py",
         .py_case = "pool_map", .py_n = 1000000},
    },
};
WB_REGISTER(wb_procpool_map, 610)

/* --------------------------------------------------------- CPU bound */

#define SUM_N 10000000L

/* sum(range(10**7)); the empty asm keeps the compiler from replacing the
 * loop by its closed form, so the work is the work. */
static long sum_range(long n)
{
    long s = 0;
    for (long i = 0; i < n; i++) {
        s += i;
        __asm__ volatile("" : "+r"(s));
    }
    return s;
}

static int sum_task(void *arg, void **result)
{
    long s = sum_range(SUM_N);
    if (s != SUM_N * (SUM_N - 1) / 2)
        return WEFT_EINVAL;
    return 0;
}

static double cpu_serial(long n)
{
    double t0 = wb_now();
    long bad = 0;
    for (long k = 0; k < n; k++)
        for (int i = 0; i < 4; i++)
            bad |= sum_range(SUM_N) != SUM_N * (SUM_N - 1) / 2;
    return bad ? -1 : (wb_now() - t0) / (double)n;
}

static double cpu_pool(long n, weft_executor *ex)
{
    int bad = 0;
    double t0 = wb_now();
    for (long k = 0; k < n && !bad; k++) {
        weft_future *f[4];
        for (int i = 0; i < 4; i++)
            bad |= weft_executor_submit(ex, sum_task, NULL, &f[i]);
        for (int i = 0; i < 4 && !bad; i++) {
            bad |= weft_future_result(f[i], NULL, WEFT_FOREVER);
            weft_future_unref(f[i]);
        }
    }
    double dt = wb_now() - t0;
    weft_executor_free(ex);
    return bad ? -1 : dt / (double)n;
}

static double cpu_threads(long n)
{
    weft_thread_pool_opts o = {.max_workers = 4};
    weft_executor *ex;
    return weft_thread_pool_new(&ex, &o) != 0 ? -1 : cpu_pool(n, ex);
}

static double cpu_processes(long n)
{
    weft_process_pool_opts o = {.max_workers = 4};
    weft_executor *ex;
    return weft_process_pool_new(&ex, &o) != 0 ? -1 : cpu_pool(n, ex);
}

const wb_bench wb_cpu_bound = {
    .name = "cpu_bound",
    .what = "The seeds' CPU-bound example: 4 x sum(range(10**7)), serially, on 4 threads and on "
            "4 processes (pools made inside the timing, as the seed does), in weft and Python. "
            "Figures for scale; no target: threads scale in C, not under Python's GIL.",
    .unit = "ms",
    .n = 3,
    .runs = 3,
    .c = {
        {.name = "weft serial", .run = cpu_serial},
        {.name = "weft threads (4)", .run = cpu_threads},
        {.name = "weft processes (4)", .run = cpu_processes},
        {.name = "Python serial", .py_script = "procpool.py", .py_case = "cpu_serial", .py_n = 1},
        {.name = "Python threads (4)", .py_script = "procpool.py", .py_case = "cpu_threads",
         .py_n = 1},
        {.name = "Python processes (4)", .py_script = "procpool.py", .py_case = "cpu_processes",
         .py_n = 1},
    },
};
WB_REGISTER(wb_cpu_bound, 620)
