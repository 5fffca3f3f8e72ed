/*
 * Event loop benchmarks: a million timers with random deadlines up to one
 * second, all started and then run to completion, against libuv's timers.
 *
 * Both loops sleep between deadlines, so the wall time of a run is about
 * one second whoever does the work; the figure is the CPU time the process
 * spent (starting the timers, firing them, the loop's iterations), per
 * timer. Deadlines are whole milliseconds (libuv's timer resolution), from
 * one seed, the same for both. The second benchmark is the memory the same
 * workload needs: its peak RSS growth, measured in a forked child.
 */
#include <stdlib.h>
#include <time.h>

#include "harness.h"
#include "weft/loop.h"

#ifdef WB_HAVE_LIBUV
#include <uv.h>
#endif

static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* The deadlines, in ms from the start: made once per process (and so
 * resident before a memory-measuring child forks). */
static unsigned *offsets;
static long noffsets;

static unsigned *get_offsets(long n)
{
    if (noffsets < n) {
        free(offsets);
        offsets = malloc((size_t)n * sizeof *offsets);
        if (!offsets)
            return NULL;
        unsigned seed = 20240601;
        for (long i = 0; i < n; i++)
            offsets[i] = (unsigned)(rand_r(&seed) % 1000);
        noffsets = n;
    }
    return offsets;
}

typedef struct counter {
    long fired, want;
    weft_loop *loop;
} counter;

static void weft_timer_cb(void *arg)
{
    counter *c = arg;
    if (++c->fired == c->want)
        weft_loop_stop(c->loop);
}

static double weft_timers(long n)
{
    unsigned *off = get_offsets(n);
    weft_loop *L;
    if (!off || weft_loop_new(&L, NULL) != 0)
        return -1;
    counter c = {0, n, L};
    int bad = 0;
    double t0 = cpu_now();
    double base = weft_loop_time(L);
    for (long i = 0; i < n; i++)
        bad |= weft_loop_call_at(L, base + off[i] * 1e-3, weft_timer_cb, &c, NULL);
    bad |= weft_loop_run_forever(L);
    double dt = cpu_now() - t0;
    weft_loop_free(L);
    return bad || c.fired != n ? -1 : dt / (double)n;
}

static double weft_timers_rss(long n)
{
    if (!get_offsets(n))
        return -1;
    return wb_child_rss(weft_timers, n, NULL);
}

#ifdef WB_HAVE_LIBUV
static long uv_fired;

static void uv_fire_cb(uv_timer_t *t)
{
    (void)t;
    uv_fired++;
}

static void uv_close_nop(uv_handle_t *h)
{
    (void)h;
}

static double uv_timers(long n)
{
    unsigned *off = get_offsets(n);
    uv_loop_t loop;
    if (!off || uv_loop_init(&loop) != 0)
        return -1;
    uv_fired = 0;
    double t0 = cpu_now();
    /* The handles are the caller's memory in libuv: part of the work. */
    uv_timer_t *t = malloc((size_t)n * sizeof *t);
    if (!t)
        return -1;
    uv_update_time(&loop);
    for (long i = 0; i < n; i++) {
        uv_timer_init(&loop, &t[i]);
        uv_timer_start(&t[i], uv_fire_cb, off[i], 0);
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    double dt = cpu_now() - t0;
    for (long i = 0; i < n; i++)
        uv_close((uv_handle_t *)&t[i], uv_close_nop);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    free(t);
    return uv_fired == n ? dt / (double)n : -1;
}

static double uv_timers_rss(long n)
{
    if (!get_offsets(n))
        return -1;
    return wb_child_rss(uv_timers, n, NULL);
}
#define UV_TIMERS {.name = "libuv uv_timer_t", .run = uv_timers}
#define UV_TIMERS_RSS {.name = "libuv uv_timer_t", .run = uv_timers_rss}
#else
#define UV_TIMERS {.name = "libuv uv_timer_t", .skip = "n/a (libuv development files not found)"}
#define UV_TIMERS_RSS UV_TIMERS
#endif

const wb_bench wb_loop_timers = {
    .name = "loop timers",
    .what = "Start 1,000,000 one-shot timers with random deadlines up to 1 s (whole ms, one "
            "seed), then run the loop until all have fired (weft: call_at handles; libuv: one "
            "uv_timer_t and uv_timer_start each). CPU time of the process (both loops sleep "
            "between deadlines), per timer.",
    .unit = "ns",
    .n = 1000000,
    .runs = 3,
    .target_peer = 1,
    .target = 0.5,
    .c = {
        {.name = "weft loop call_at", .run = weft_timers},
        UV_TIMERS,
    },
};
WB_REGISTER(wb_loop_timers, 400)

const wb_bench wb_loop_timers_memory = {
    .name = "loop timers memory",
    .what = "The loop timers workload in a forked child: its peak resident memory growth "
            "(handles, the timer structure, the loop).",
    .unit = "MiB",
    .quantity = true,
    .n = 1000000,
    .runs = 3,
    .target_peer = 1,
    .target = 1.0,
    .c = {
        {.name = "weft loop call_at", .run = weft_timers_rss},
        UV_TIMERS_RSS,
    },
};
WB_REGISTER(wb_loop_timers_memory, 401)
