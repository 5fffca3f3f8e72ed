/* The process pool: submit and results as bytes, errors and messages, map of
 * fixed-size items, initializer, max_tasks_per_child, a worker killed
 * mid-task breaking the pool (and its message naming the cause and the
 * task), shutdown with and without cancel, overflow of the task ring,
 * oversized payloads, arguments and results that are not weft_bytes, and
 * bad input. Workers that must block wait on shared events made before the
 * pool; the test learns what they do through them, never by sleeping. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "wt.h"
#include "weft/procpool.h"
#include "weft/shm.h"

static int square(void *arg, void **result)
{
    weft_bytes *in = arg;
    if (!in || in->len != sizeof(int))
        return WEFT_EINVAL;
    int v;
    memcpy(&v, in->data, sizeof v);
    v *= v;
    return weft_bytes_new((weft_bytes **)result, &v, sizeof v);
}

static int fail_with_message(void *arg, void **result)
{
    weft_task_set_message("no luck in process %d", 1);
    return WEFT_EOVERFLOW;
}

static int no_result(void *arg, void **result)
{
    return 0;
}

static int empty_result(void *arg, void **result)
{
    return weft_bytes_new((weft_bytes **)result, NULL, 0);
}

static int my_pid(void *arg, void **result)
{
    int pid = getpid();
    return weft_bytes_new((weft_bytes **)result, &pid, sizeof pid);
}

/* Tasks whose result is not a weft_bytes the task may return. */
static int return_number(void *arg, void **result)
{
    *result = (void *)(intptr_t)5;
    return 0;
}

/* The compiler cannot see that p is a local's address (it would warn). */
static void *hide(void *p)
{
    __asm__ volatile("" : "+r"(p));
    return p;
}

static int return_stack(void *arg, void **result)
{
    char local[64];
    memset(local, 0, sizeof local);
    *result = hide(local + 16);
    return 0;
}

static int return_freed(void *arg, void **result)
{
    weft_bytes *b;
    int rc = weft_bytes_new(&b, "gone", 4);
    if (rc)
        return rc;
    weft_bytes_free(b);
    *result = b;
    return 0;
}

static int return_arg(void *arg, void **result)
{
    *result = arg;
    return 0;
}

/* A map item whose task returns a number for item 4, the square else. */
static int square_but_4(void *arg, void **result)
{
    weft_bytes *in = arg;
    if (in && in->len == sizeof(int) && *(int *)weft_bytes_data(in) == 4) {
        *result = (void *)(intptr_t)4;
        return 0;
    }
    return square(arg, result);
}

/* Workers that die in the middle of a task. */
static int kill_self(void *arg, void **result)
{
    kill(getpid(), SIGKILL);
    return 0;
}

static int exit_3(void *arg, void **result)
{
    _exit(3);
}

/* A map item that ends its worker at item 2. */
static int square_exit_at_2(void *arg, void **result)
{
    weft_bytes *in = arg;
    if (in && in->len == sizeof(int) && *(int *)weft_bytes_data(in) == 2)
        _exit(3);
    return square(arg, result);
}

static int square_item(const void *in, void *out)
{
    long v = *(const int *)in;
    *(long *)out = v * v;
    return 0;
}

static int fail_at_777(const void *in, void *out)
{
    int v = *(const int *)in;
    if (v == 777)
        return WEFT_EOVERFLOW;
    *(int *)out = v;
    return 0;
}

/* The start method of the pools a test makes: the default (forkserver), or
 * fork for the tests that run under both (FOR_BOTH_METHODS). */
static int g_method;

#define FOR_BOTH_METHODS                                                                \
    for (int wt_m_ = 0; wt_m_ < 2 && ((g_method = wt_m_ ? WEFT_START_FORK               \
                                                        : WEFT_START_FORKSERVER),       \
                                      1);                                               \
         wt_m_++)

static weft_executor *new_pool(unsigned workers, const weft_process_pool_opts *extra)
{
    weft_process_pool_opts o = extra ? *extra : (weft_process_pool_opts){0};
    o.max_workers = workers;
    o.start_method = g_method;
    weft_executor *ex = NULL;
    WT_OK(weft_process_pool_new(&ex, &o));
    return ex;
}

static weft_future *submit_int(weft_executor *ex, weft_task_fn fn, int v)
{
    weft_bytes *b;
    WT_OK(weft_bytes_new(&b, &v, sizeof v));
    weft_future *f = NULL;
    WT_OK(weft_process_pool_submit(ex, fn, b, &f));
    weft_bytes_free(b); /* the pool copied it */
    return f;
}

static int result_int(weft_future *f)
{
    weft_bytes *b = NULL;
    WT_OK(weft_process_pool_result(f, &b, WEFT_FOREVER));
    ck_assert_ptr_nonnull(b);
    ck_assert_uint_eq(b->len, sizeof(int));
    int v;
    memcpy(&v, b->data, sizeof v);
    weft_bytes_free(b);
    weft_future_unref(f);
    return v;
}

START_TEST(submit_and_results)
{
    FOR_BOTH_METHODS {
        weft_executor *ex = new_pool(2, NULL);
        ck_assert_uint_eq(weft_process_pool_workers_len(ex), 2);
        weft_future *fs[50];
        for (int i = 0; i < 50; i++)
            fs[i] = submit_int(ex, square, i);
        for (int i = 0; i < 50; i++)
            ck_assert_int_eq(result_int(fs[i]), i * i);

        /* An error carries its code and message across. */
        weft_future *f;
        WT_OK(weft_process_pool_submit(ex, fail_with_message, NULL, &f));
        WT_ERR(weft_future_exception(f, WEFT_FOREVER), WEFT_EOVERFLOW);
        ck_assert_str_eq(weft_future_message(f), "no luck in process 1");
        weft_future_unref(f);
        /* A task given no argument gets NULL: square refuses it. */
        WT_OK(weft_process_pool_submit(ex, square, NULL, &f));
        WT_ERR(weft_future_exception(f, WEFT_FOREVER), WEFT_EINVAL);
        weft_future_unref(f);

        /* No result and an empty result differ. */
        weft_bytes *r = (weft_bytes *)1;
        WT_OK(weft_process_pool_submit(ex, no_result, NULL, &f));
        WT_OK(weft_process_pool_result(f, &r, WEFT_FOREVER));
        ck_assert_ptr_null(r);
        weft_future_unref(f);
        WT_OK(weft_process_pool_submit(ex, empty_result, NULL, &f));
        WT_OK(weft_process_pool_result(f, &r, WEFT_FOREVER));
        ck_assert_ptr_nonnull(r);
        ck_assert_uint_eq(r->len, 0);
        ck_assert_int_eq(weft_bytes_data(r)[0], 0);
        weft_bytes_free(r);
        weft_future_unref(f);

        /* The executor's calls take the same bytes, as `void *`. */
        weft_bytes *seven;
        WT_OK(weft_bytes_new(&seven, &(int){7}, sizeof(int)));
        WT_OK(weft_executor_submit(ex, square, seven, &f));
        weft_bytes_free(seven);
        ck_assert_int_eq(result_int(f), 49);
        WT_OK(weft_executor_submit(ex, no_result, NULL, &f));
        WT_OK(weft_future_exception(f, WEFT_FOREVER));
        weft_future_unref(f);

        /* The work ran in other processes. */
        int pid = result_int(submit_int(ex, my_pid, 0));
        ck_assert_int_ne(pid, getpid());
        pid_t pids[4];
        size_t npids;
        WT_OK(weft_process_pool_pids(ex, pids, 4, &npids));
        ck_assert_uint_eq(npids, 2);
        ck_assert(pid == pids[0] || pid == pids[1]);
        weft_executor_free(ex);
    }
}
END_TEST

START_TEST(map_fixed_items)
{
    weft_executor *ex = new_pool(2, NULL);
    enum { N = 100000 };
    int *in = malloc(N * sizeof *in);
    long *out = malloc(N * sizeof *out);
    for (int i = 0; i < N; i++)
        in[i] = i;
    size_t chunks[] = {0, 1000, 7, 99999, N};
    for (int c = 0; c < 5; c++) {
        size_t n = chunks[c] == 7 ? 3000 : N; /* small chunks: fewer items */
        memset(out, 0xff, N * sizeof *out);
        WT_OK(weft_process_pool_map_fixed(ex, square_item, in, sizeof *in, out, sizeof *out, n,
                                          chunks[c], WEFT_FOREVER));
        for (size_t i = 0; i < n; i++)
            ck_assert_int_eq(out[i], (long)i * (long)i);
    }
    /* The first failing item's code comes back. */
    int *outi = malloc(N * sizeof *outi);
    WT_ERR(weft_process_pool_map_fixed(ex, fail_at_777, in, sizeof *in, outi, sizeof *outi, N,
                                       100, WEFT_FOREVER),
           WEFT_EOVERFLOW);
    WT_OK(weft_process_pool_map_fixed(ex, square_item, in, sizeof *in, out, sizeof *out, 0, 0,
                                      WEFT_FOREVER));
    free(in);
    free(out);
    free(outi);
    weft_executor_free(ex);
}
END_TEST

static int square_or_fail(void *arg, void **result)
{
    weft_bytes *in = arg;
    if (in && in->len == sizeof(int)) {
        int v;
        memcpy(&v, in->data, sizeof v);
        if (v == 57) {
            weft_task_set_message("57 is not welcome");
            return WEFT_EOVERFLOW;
        }
    }
    return square(arg, result);
}

START_TEST(map_of_bytes_in_chunks)
{
    weft_executor *ex = new_pool(2, NULL);
    enum { N = 300 };
    weft_bytes *args[N], *results[N];
    for (int i = 0; i < N; i++)
        WT_OK(weft_bytes_new(&args[i], &i, sizeof i));
    size_t chunks[] = {0, 1, 3, 100, 1000};
    for (int c = 0; c < 5; c++) {
        WT_OK(weft_process_pool_map(ex, square, (const weft_bytes *const *)args, results, N,
                                    chunks[c], WEFT_FOREVER));
        for (int i = 0; i < N; i++) {
            weft_bytes *b = results[i];
            ck_assert_ptr_nonnull(b);
            int v;
            memcpy(&v, b->data, sizeof v);
            ck_assert_int_eq(v, i * i);
            weft_bytes_free(b);
        }
    }
    /* The first failure in input order, with its message; every result
     * left non-NULL is the caller's to free. */
    WT_ERR(weft_process_pool_map(ex, square_or_fail, (const weft_bytes *const *)args, results,
                                 N, 10, WEFT_FOREVER),
           WEFT_EOVERFLOW);
    ck_assert_str_eq(weft_last_message(), "57 is not welcome");
    for (int i = 0; i < N; i++)
        weft_bytes_free(results[i]);
    /* A NULL argument reaches the task as NULL. */
    const weft_bytes *none[2] = {NULL, args[2]};
    WT_ERR(weft_process_pool_map(ex, square, none, results, 2, 2, WEFT_FOREVER), WEFT_EINVAL);
    for (int i = 0; i < 2; i++)
        weft_bytes_free(results[i]);
    /* The executor's map takes the same bytes, as `void *`. */
    void *vargs[3] = {args[3], NULL, args[5]}, *vres[3];
    WT_ERR(weft_executor_map(ex, square, vargs, vres, 3, 1, WEFT_FOREVER), WEFT_EINVAL);
    ck_assert_int_eq(*(int *)weft_bytes_data(vres[0]), 9);
    for (int i = 0; i < 3; i++)
        weft_bytes_free(vres[i]);
    vargs[1] = args[4];
    WT_OK(weft_executor_map(ex, square, vargs, vres, 3, 2, WEFT_FOREVER));
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(*(int *)weft_bytes_data(vres[i]), (i + 3) * (i + 3));
        weft_bytes_free(vres[i]);
    }
    for (int i = 0; i < N; i++)
        weft_bytes_free(args[i]);
    weft_executor_free(ex);
}
END_TEST

static int init_value;

static int set_init_value(const weft_bytes *arg)
{
    if (!arg || arg->len != sizeof(int))
        return WEFT_EINVAL;
    memcpy(&init_value, arg->data, sizeof init_value);
    return 0;
}

static int get_init_value(void *arg, void **result)
{
    return weft_bytes_new((weft_bytes **)result, &init_value, sizeof init_value);
}

static int failing_init(const weft_bytes *arg)
{
    return WEFT_EINVAL;
}

START_TEST(initializer_runs_in_each_worker)
{
    FOR_BOTH_METHODS {
        int v = 4242;
        weft_process_pool_opts o = {.initializer = set_init_value, .initarg = &v,
                                    .initarg_size = sizeof v};
        weft_executor *ex = new_pool(2, &o);
        for (int i = 0; i < 10; i++)
            ck_assert_int_eq(result_int(submit_int(ex, get_init_value, 0)), 4242);
        weft_executor_free(ex);

        /* A failing initializer breaks the pool: the future fails, no hang. */
        weft_process_pool_opts bad = {.initializer = failing_init};
        ex = new_pool(1, &bad);
        weft_future *f = NULL;
        int rc = weft_process_pool_submit(ex, square, NULL, &f);
        if (rc == 0) {
            WT_ERR(weft_future_exception(f, WEFT_FOREVER), WEFT_EBROKEN);
            weft_future_unref(f);
        } else {
            ck_assert_int_eq(rc, WEFT_EBROKEN);
        }
        weft_executor_free(ex);
    }
}
END_TEST

START_TEST(max_tasks_per_child_replaces_workers)
{
    FOR_BOTH_METHODS {
        weft_process_pool_opts o = {.max_tasks_per_child = 2};
        weft_executor *ex = new_pool(1, &o);
        int pids[6];
        for (int i = 0; i < 6; i++)
            pids[i] = result_int(submit_int(ex, my_pid, 0));
        /* One worker at a time, two tasks each: three processes in turn. */
        ck_assert_int_eq(pids[0], pids[1]);
        ck_assert_int_eq(pids[2], pids[3]);
        ck_assert_int_eq(pids[4], pids[5]);
        ck_assert_int_ne(pids[0], pids[2]);
        ck_assert_int_ne(pids[2], pids[4]);
        weft_executor_free(ex);
    }
}
END_TEST

/* A task that tells the parent it started (and its pid), then blocks until
 * released. The events and the value are shared objects made before the
 * pool, so workers have them under either start method; their pointers
 * travel in the task's argument. */
struct blocker {
    weft_pevent *started, *release;
    weft_value *pid;
};

static struct blocker new_blocker(void)
{
    struct blocker b;
    WT_OK(weft_pevent_new(&b.started));
    WT_OK(weft_pevent_new(&b.release));
    WT_OK(weft_value_new(&b.pid, WEFT_CTYPE_I64, NULL, false));
    return b;
}

static void free_blocker(struct blocker *b)
{
    weft_pevent_free(b->started);
    weft_pevent_free(b->release);
    weft_value_free(b->pid);
}

static int tell_and_block(void *arg, void **result)
{
    weft_bytes *in = arg;
    struct blocker b;
    if (!in || in->len != sizeof b)
        return WEFT_EINVAL;
    memcpy(&b, in->data, sizeof b);
    weft_value_set_i64(b.pid, getpid());
    weft_pevent_set(b.started);
    return weft_pevent_wait(b.release, WEFT_FOREVER);
}

static weft_future *submit_blocker(weft_executor *ex, const struct blocker *b)
{
    weft_bytes *arg;
    WT_OK(weft_bytes_new(&arg, b, sizeof *b));
    weft_future *f = NULL;
    WT_OK(weft_process_pool_submit(ex, tell_and_block, arg, &f));
    weft_bytes_free(arg);
    return f;
}

START_TEST(killed_worker_breaks_the_pool)
{
    FOR_BOTH_METHODS {
        struct blocker b = new_blocker();
        weft_executor *ex = new_pool(2, NULL);
        weft_future *blocked = submit_blocker(ex, &b);
        WT_OK(weft_pevent_wait(b.started, WEFT_FOREVER));
        int64_t pid;
        WT_OK(weft_value_get_i64(b.pid, &pid));
        weft_future *more[20];
        for (int i = 0; i < 20; i++)
            more[i] = submit_blocker(ex, &b);
        ck_assert_int_eq(kill((pid_t)pid, SIGKILL), 0);
        WT_ERR(weft_future_exception(blocked, WEFT_FOREVER), WEFT_EBROKEN);
        for (int i = 0; i < 20; i++) {
            WT_ERR(weft_future_exception(more[i], WEFT_FOREVER), WEFT_EBROKEN);
            weft_future_unref(more[i]);
        }
        weft_future_unref(blocked);
        weft_future *f = NULL;
        WT_ERR(weft_executor_submit(ex, square, NULL, &f), WEFT_EBROKEN);
        WT_OK(weft_executor_shutdown(ex, false, WEFT_FOREVER));
        weft_executor_free(ex);
        /* A new pool works. */
        ex = new_pool(2, NULL);
        ck_assert_int_eq(result_int(submit_int(ex, square, 9)), 81);
        weft_executor_free(ex);
        free_blocker(&b);
    }
}
END_TEST

START_TEST(shutdown_waits_or_cancels)
{
    struct blocker b = new_blocker();
    weft_executor *ex = new_pool(1, NULL);
    weft_future *blocked = submit_blocker(ex, &b), *queued[10];
    WT_OK(weft_pevent_wait(b.started, WEFT_FOREVER));
    for (int i = 0; i < 10; i++)
        queued[i] = submit_int(ex, square, i);
    /* Cancel what has not started; the running task goes on. */
    WT_ERR(weft_executor_shutdown(ex, true, 0), WEFT_ETIMEDOUT);
    for (int i = 0; i < 10; i++) {
        ck_assert(weft_future_done(queued[i]));
        ck_assert_int_ne(weft_future_exception(queued[i], 0), 0);
        weft_future_unref(queued[i]);
    }
    ck_assert(!weft_future_done(blocked));
    weft_future *f = NULL;
    WT_ERR(weft_executor_submit(ex, square, NULL, &f), WEFT_ESHUTDOWN);
    WT_OK(weft_pevent_set(b.release)); /* let it finish */
    WT_OK(weft_executor_shutdown(ex, false, WEFT_FOREVER));
    WT_OK(weft_future_exception(blocked, 0));
    weft_future_unref(blocked);
    ck_assert_uint_eq(weft_process_pool_workers_len(ex), 0);
    weft_executor_free(ex);

    /* Without cancel, shutdown waits for everything submitted. */
    ex = new_pool(2, NULL);
    weft_future *all[100];
    for (int i = 0; i < 100; i++)
        all[i] = submit_int(ex, square, i);
    WT_OK(weft_executor_shutdown(ex, false, WEFT_FOREVER));
    for (int i = 0; i < 100; i++)
        ck_assert_int_eq(result_int(all[i]), i * i);
    weft_executor_free(ex);
    free_blocker(&b);
}
END_TEST

static int big_result(void *arg, void **result)
{
    int rc = weft_bytes_new((weft_bytes **)result, NULL, 5000);
    if (rc == 0)
        ((weft_bytes *)*result)->data[4999] = 99;
    return rc;
}

static int sum_of(const weft_bytes *b)
{
    int s = 0;
    for (size_t k = 0; k < b->len; k++)
        s += b->data[k] * (int)(k % 13 + 1);
    return s;
}

static int checksum(void *arg, void **result)
{
    weft_bytes *in = arg;
    if (!in)
        return WEFT_EINVAL;
    int s = sum_of(in);
    return weft_bytes_new((weft_bytes **)result, &s, sizeof s);
}

static int echo(void *arg, void **result)
{
    weft_bytes *in = arg;
    return in ? weft_bytes_new((weft_bytes **)result, in->data, in->len) : WEFT_EINVAL;
}

/* Megabytes each way with the default rings: no size limit, and the bytes
 * arrive intact. */
START_TEST(large_payloads)
{
    FOR_BOTH_METHODS {
        weft_executor *ex = new_pool(2, NULL);
        size_t len = (size_t)9 << 20;
        weft_bytes *b;
        WT_OK(weft_bytes_new(&b, NULL, len));
        for (size_t k = 0; k < len; k++)
            b->data[k] = (unsigned char)(k * 31 + (k >> 12));
        weft_future *fs[3];
        for (int i = 0; i < 3; i++)
            WT_OK(weft_process_pool_submit(ex, echo, b, &fs[i]));
        for (int i = 0; i < 3; i++) {
            weft_bytes *got = NULL;
            WT_OK(weft_process_pool_result(fs[i], &got, WEFT_FOREVER));
            ck_assert_uint_eq(got->len, len);
            ck_assert(memcmp(got->data, b->data, len) == 0);
            weft_bytes_free(got);
            weft_future_unref(fs[i]);
        }
        weft_bytes_free(b);
        weft_executor_free(ex);
    }
}
END_TEST

START_TEST(small_rings_overflow_and_limits)
{
    /* 4 KiB rings: a thousand tasks go through the overflow list. */
    weft_process_pool_opts o = {.ring_bytes = 4096};
    weft_executor *ex = new_pool(2, &o);
    enum { N = 1000 };
    weft_future **fs = malloc(N * sizeof *fs);
    for (int i = 0; i < N; i++)
        fs[i] = submit_int(ex, square, i);
    for (int i = 0; i < N; i++)
        ck_assert_int_eq(result_int(fs[i]), i * i);
    free(fs);
    /* An argument or a result over a quarter of the ring takes the large
     * path (a memory file of its own). */
    weft_bytes *b;
    WT_OK(weft_bytes_new(&b, NULL, 2000));
    for (size_t k = 0; k < b->len; k++)
        b->data[k] = (unsigned char)(k * 7);
    weft_future *f = NULL;
    WT_OK(weft_process_pool_submit(ex, checksum, b, &f));
    ck_assert_int_eq(result_int(f), sum_of(b));
    /* The executor's submit takes the large path too. */
    WT_OK(weft_executor_submit(ex, checksum, b, &f));
    ck_assert_int_eq(result_int(f), sum_of(b));
    weft_bytes_free(b);
    WT_OK(weft_process_pool_submit(ex, big_result, NULL, &f));
    weft_bytes *r = NULL;
    WT_OK(weft_process_pool_result(f, &r, WEFT_FOREVER));
    ck_assert_uint_eq(r->len, 5000);
    ck_assert_int_eq(r->data[4999], 99);
    weft_bytes_free(r);
    weft_future_unref(f);
    /* A large argument is the task's to pass on, not to return. */
    WT_OK(weft_bytes_new(&b, NULL, 3000));
    WT_OK(weft_process_pool_submit(ex, return_arg, b, &f));
    WT_ERR(weft_future_exception(f, WEFT_FOREVER), WEFT_EINVAL);
    ck_assert_ptr_nonnull(strstr(weft_future_message(f), "returned its argument"));
    weft_future_unref(f);
    weft_bytes_free(b);
    /* A map item must fit the ring. */
    const weft_bytes *one[1];
    WT_OK(weft_bytes_new((weft_bytes **)&one[0], NULL, 2000));
    weft_bytes *out[1];
    WT_ERR(weft_process_pool_map(ex, checksum, one, out, 1, 1, WEFT_FOREVER), WEFT_EMSGSIZE);
    weft_bytes_free((weft_bytes *)one[0]);
    ck_assert_int_eq(result_int(submit_int(ex, square, 3)), 9);
    weft_executor_free(ex);
}
END_TEST

/* Threads that submit, wait (and so help drain the ring), map and free
 * results at once, over small rings so the overflow path runs too: every
 * result is right and every future completes once. */
static weft_executor *g_stress_ex;

static void *stress_thread(void *arg)
{
    int base = (int)(intptr_t)arg;
    for (int round = 0; round < 20; round++) {
        weft_future *fs[50];
        for (int i = 0; i < 50; i++)
            fs[i] = submit_int(g_stress_ex, square, base + i);
        for (int i = 49; i >= 0; i--) /* out of order: others complete ours */
            if (result_int(fs[i]) != (base + i) * (base + i))
                return (void *)1;
        int in[300];
        long out[300];
        for (int i = 0; i < 300; i++)
            in[i] = base + i;
        if (weft_process_pool_map_fixed(g_stress_ex, square_item, in, sizeof *in, out,
                                        sizeof *out, 300, 7, WEFT_FOREVER) != 0)
            return (void *)2;
        for (int i = 0; i < 300; i++)
            if (out[i] != (long)in[i] * in[i])
                return (void *)3;
    }
    return NULL;
}

START_TEST(threads_submit_wait_and_map_at_once)
{
    weft_process_pool_opts o = {.ring_bytes = 8192};
    g_stress_ex = new_pool(2, &o);
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(pthread_create(&t[i], NULL, stress_thread, (void *)(intptr_t)(i * 1000)),
                         0);
    for (int i = 0; i < 4; i++) {
        void *r;
        ck_assert_int_eq(pthread_join(t[i], &r), 0);
        ck_assert_ptr_null(r);
    }
    weft_executor_free(g_stress_ex);
}
END_TEST

/* The executor's calls take `void *`: a pointer that is not a weft_bytes
 * made by weft_bytes_new is refused with WEFT_EINVAL and a message, never
 * read through (the parent would crash), and the pool goes on. */
START_TEST(generic_calls_refuse_what_is_not_bytes)
{
    weft_executor *ex = new_pool(1, NULL);
    int pid = result_int(submit_int(ex, my_pid, 0));
    int plain = 5;
    weft_bytes *freed, *good;
    WT_OK(weft_bytes_new(&good, &plain, sizeof plain));
    WT_OK(weft_bytes_new(&freed, &plain, sizeof plain));
    weft_bytes_free(freed); /* before anything else is allocated */
    /* Two pages, the first unmapped: an address in it, and the second's
     * first byte (a weft_bytes there would have its head in the first). */
    long pg = sysconf(_SC_PAGESIZE);
    char *pages = mmap(NULL, 2 * (size_t)pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                       -1, 0);
    ck_assert(pages != MAP_FAILED);
    WT_OK(munmap(pages, (size_t)pg));
    int *heap_int = malloc(64);
    *heap_int = 5;
    void *bad[] = {(void *)(intptr_t)1, (void *)(intptr_t)4096, (void *)(intptr_t)-8,
                   &plain, heap_int, freed, good->data, pages + 64, pages + pg};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        weft_future *f = NULL;
        WT_ERR(weft_executor_submit(ex, square, bad[i], &f), WEFT_EINVAL);
        ck_assert_ptr_null(f);
        ck_assert_ptr_nonnull(weft_last_message());
        ck_assert_msg(strstr(weft_last_message(),
                             "weft_executor_submit: the argument is not a weft_bytes made by "
                             "weft_bytes_new") != NULL,
                      "bad[%zu]: %s", i, weft_last_message());
        void *args[3] = {good, NULL, bad[i]}, *res[3] = {NULL, NULL, NULL};
        WT_ERR(weft_executor_map(ex, square, args, res, 3, 1, WEFT_FOREVER), WEFT_EINVAL);
        ck_assert_msg(strstr(weft_last_message(), "weft_executor_map: args[2] is not a weft_bytes") !=
                          NULL,
                      "bad[%zu]: %s", i, weft_last_message());
        for (int k = 0; k < 3; k++)
            ck_assert_ptr_null(res[k]); /* nothing ran */
    }
    /* NULL is no argument; a good one works; the one worker is the same. */
    weft_future *f;
    WT_OK(weft_executor_submit(ex, no_result, NULL, &f));
    WT_OK(weft_future_exception(f, WEFT_FOREVER));
    weft_future_unref(f);
    WT_OK(weft_executor_submit(ex, square, good, &f));
    ck_assert_int_eq(result_int(f), 25);
    ck_assert_int_eq(result_int(submit_int(ex, my_pid, 0)), pid);
    WT_OK(munmap(pages + pg, (size_t)pg));
    free(heap_int);
    weft_bytes_free(good);
    weft_executor_free(ex);
}
END_TEST

static const char not_bytes[] =
    "the task returned a result that is not a weft_bytes (one made by weft_bytes_new and not "
    "freed)";

static int free_own_arg(void *arg, void **result)
{
    weft_bytes_free(arg); /* the pool's: refused (and reported), not freed */
    return echo(arg, result);
}

/* A task's result that is not a weft_bytes fails that task with
 * WEFT_EINVAL and a message; the worker lives on. */
START_TEST(results_that_are_not_bytes_fail_their_task)
{
    FOR_BOTH_METHODS {
        weft_executor *ex = new_pool(1, NULL);
        int pid = result_int(submit_int(ex, my_pid, 0));
        weft_task_fn bad[] = {return_number, return_stack, return_freed};
        for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
            weft_future *f;
            WT_OK(weft_process_pool_submit(ex, bad[i], NULL, &f));
            WT_ERR(weft_future_exception(f, WEFT_FOREVER), WEFT_EINVAL);
            ck_assert_str_eq(weft_future_message(f), not_bytes);
            weft_future_unref(f);
        }
        /* Its own argument is the pool's: not to return, nor to free. */
        weft_bytes *b;
        WT_OK(weft_bytes_new(&b, "mine", 4));
        weft_future *f;
        WT_OK(weft_process_pool_submit(ex, return_arg, b, &f));
        WT_ERR(weft_future_exception(f, WEFT_FOREVER), WEFT_EINVAL);
        ck_assert_str_eq(weft_future_message(f),
                         "the task returned its argument, which belongs to the pool, as its "
                         "result (return a copy made with weft_bytes_new)");
        weft_future_unref(f);
        WT_OK(weft_process_pool_submit(ex, free_own_arg, b, &f));
        weft_bytes *r;
        WT_OK(weft_process_pool_result(f, &r, WEFT_FOREVER));
        ck_assert_str_eq((const char *)weft_bytes_data(r), "mine");
        weft_bytes_free(r);
        weft_future_unref(f);
        weft_bytes_free(b);

        /* In a map: the item's error and message; the items before it are
         * done. */
        enum { N = 6 };
        weft_bytes *args[N], *res[N];
        for (int i = 0; i < N; i++)
            WT_OK(weft_bytes_new(&args[i], &i, sizeof i));
        WT_ERR(weft_process_pool_map(ex, square_but_4, (const weft_bytes *const *)args, res, N, 2,
                                     WEFT_FOREVER),
               WEFT_EINVAL);
        ck_assert_str_eq(weft_last_message(), not_bytes);
        for (int i = 0; i < 4; i++)
            ck_assert_int_eq(*(int *)weft_bytes_data(res[i]), i * i);
        for (int i = 0; i < N; i++) {
            weft_bytes_free(res[i]);
            weft_bytes_free(args[i]);
        }
        /* The worker lived through all of it. */
        ck_assert_int_eq(result_int(submit_int(ex, my_pid, 0)), pid);
        ck_assert_uint_eq(weft_process_pool_workers_len(ex), 1);
        weft_executor_free(ex);
    }
}
END_TEST

/* msg is want, then the end or " (" and the function's name (where the
 * dynamic symbol table has it). */
static void check_message(const char *msg, const char *want)
{
    size_t n = strlen(want);
    ck_assert_msg(msg && strncmp(msg, want, n) == 0 && (msg[n] == 0 || msg[n] == ' '),
                  "message \"%s\", expected \"%s\"", msg ? msg : "(null)", want);
}

/* A worker that dies mid-task breaks the pool, and the futures say why:
 * the signal or the exit code, the worker and the task. */
START_TEST(dead_worker_says_why)
{
    FOR_BOTH_METHODS {
        /* Killed by a signal, in the pool's third task; the fourth waits. */
        weft_executor *ex = new_pool(1, NULL);
        int pid = result_int(submit_int(ex, my_pid, 0));
        ck_assert_int_eq(result_int(submit_int(ex, square, 3)), 9);
        weft_future *dies, *queued;
        WT_OK(weft_process_pool_submit(ex, kill_self, NULL, &dies));
        queued = submit_int(ex, square, 4);
        WT_ERR(weft_future_exception(dies, WEFT_FOREVER), WEFT_EBROKEN);
        char want[200], other[300];
        snprintf(want, sizeof want, "worker %d was killed by signal 9 (Killed) while running task 3",
                 pid);
        check_message(weft_future_message(dies), want);
        WT_ERR(weft_future_exception(queued, WEFT_FOREVER), WEFT_EBROKEN);
        snprintf(other, sizeof other, "a process in the process pool was terminated abruptly: %s",
                 want);
        check_message(weft_future_message(queued), other);
        weft_future_unref(dies);
        weft_future_unref(queued);
        weft_executor_free(ex);

        /* _exit(3) in the second task. */
        ex = new_pool(1, NULL);
        pid = result_int(submit_int(ex, my_pid, 0));
        WT_OK(weft_process_pool_submit(ex, exit_3, NULL, &dies));
        WT_ERR(weft_future_exception(dies, WEFT_FOREVER), WEFT_EBROKEN);
        snprintf(want, sizeof want, "worker %d exited with code 3 while running task 2", pid);
        check_message(weft_future_message(dies), want);
        weft_future_unref(dies);
        weft_executor_free(ex);

        /* In a map's chunk: the task is the chunk, its items named. */
        ex = new_pool(1, NULL);
        pid = result_int(submit_int(ex, my_pid, 0));
        enum { N = 6 };
        weft_bytes *args[N], *res[N];
        for (int i = 0; i < N; i++)
            WT_OK(weft_bytes_new(&args[i], &i, sizeof i));
        WT_ERR(weft_process_pool_map(ex, square_exit_at_2, (const weft_bytes *const *)args, res,
                                     N, 2, WEFT_FOREVER),
               WEFT_EBROKEN);
        snprintf(want, sizeof want, "worker %d exited with code 3 while running task 3 (", pid);
        ck_assert_msg(strncmp(weft_last_message(), want, strlen(want)) == 0 &&
                          strstr(weft_last_message(), "map items 2 to 3)"),
                      "%s", weft_last_message());
        for (int i = 0; i < N; i++) {
            weft_bytes_free(res[i]);
            weft_bytes_free(args[i]);
        }
        weft_executor_free(ex);
    }
}
END_TEST

/* weft_bytes: the getter C++ uses, and a second free reported, not done
 * (the sanitizers report the read of freed memory themselves). */
static int g_reports;

static void count_report(const char *what, int code, const char *message, void *arg)
{
    if (strcmp(what, "weft_bytes_free") == 0 && code == WEFT_EINVAL)
        g_reports++;
}

START_TEST(bytes_data_and_misuse)
{
    weft_bytes *b;
    WT_OK(weft_bytes_new(&b, "abc", 3));
    ck_assert_ptr_eq(weft_bytes_data(b), b->data);
    ck_assert_str_eq((const char *)weft_bytes_data(b), "abc");
    ck_assert_ptr_null(weft_bytes_data(NULL));
    weft_bytes_free(b);
    WT_OK(weft_bytes_new(&b, NULL, 0));
    ck_assert_int_eq(weft_bytes_data(b)[0], 0);
    weft_set_report_handler(count_report, NULL);
    weft_bytes_free(b);
#if !defined(WEFT_SANITIZE_ADDRESS) && !defined(WEFT_SANITIZE_THREAD)
    weft_bytes_free(b);
    ck_assert_int_eq(g_reports, 1);
#endif
    weft_set_report_handler(NULL, NULL);
}
END_TEST

START_TEST(bad_input)
{
    weft_executor *ex = NULL;
    WT_ERR(weft_process_pool_new(NULL, NULL), WEFT_EINVAL);
    weft_process_pool_opts o = {.initarg_size = 4};
    WT_ERR(weft_process_pool_new(&ex, &o), WEFT_EINVAL);
    o = (weft_process_pool_opts){.max_workers = 100000};
    WT_ERR(weft_process_pool_new(&ex, &o), WEFT_EINVAL);
    WT_ERR(weft_bytes_new(NULL, NULL, 0), WEFT_EINVAL);
    weft_bytes_free(NULL);

    weft_executor *tp;
    WT_OK(weft_thread_pool_new(&tp, NULL));
    int in = 1;
    long out;
    WT_ERR(weft_process_pool_map_fixed(tp, square_item, &in, sizeof in, &out, sizeof out, 1, 0,
                                       WEFT_FOREVER),
           WEFT_EINVAL);
    ck_assert_uint_eq(weft_process_pool_workers_len(tp), 0);
    /* The process pool's typed calls on a thread pool, and on its future. */
    weft_future *tf;
    WT_ERR(weft_process_pool_submit(tp, square, NULL, &tf), WEFT_EINVAL);
    weft_bytes *targ[1] = {NULL}, *tres[1];
    WT_ERR(weft_process_pool_map(tp, square, (const weft_bytes *const *)targ, tres, 1, 0,
                                 WEFT_FOREVER),
           WEFT_EINVAL);
    WT_OK(weft_executor_submit(tp, no_result, NULL, &tf));
    weft_bytes *tr = (weft_bytes *)1;
    WT_ERR(weft_process_pool_result(tf, &tr, WEFT_FOREVER), WEFT_EINVAL);
    ck_assert_ptr_null(tr);
    WT_ERR(weft_process_pool_result(tf, NULL, WEFT_FOREVER), WEFT_EINVAL);
    weft_future_unref(tf);
    weft_executor_free(tp);

    ex = new_pool(1, NULL);
    weft_future *f = NULL;
    WT_ERR(weft_executor_submit(ex, NULL, NULL, &f), WEFT_EINVAL);
    WT_ERR(weft_executor_submit(ex, square, NULL, NULL), WEFT_EINVAL);
    WT_ERR(weft_process_pool_submit(ex, NULL, NULL, &f), WEFT_EINVAL);
    WT_ERR(weft_process_pool_submit(ex, square, NULL, NULL), WEFT_EINVAL);
    WT_ERR(weft_process_pool_map(ex, square, NULL, NULL, 1, 0, WEFT_FOREVER), WEFT_EINVAL);
    WT_ERR(weft_process_pool_map(ex, square, NULL, NULL, 0, 0, -2), WEFT_EINVAL);
    WT_OK(weft_process_pool_map(ex, square, NULL, NULL, 0, 0, WEFT_FOREVER));
    WT_ERR(weft_process_pool_map_fixed(ex, NULL, &in, sizeof in, &out, sizeof out, 1, 0,
                                       WEFT_FOREVER),
           WEFT_EINVAL);
    WT_ERR(weft_process_pool_map_fixed(ex, square_item, NULL, sizeof in, &out, sizeof out, 1, 0,
                                       WEFT_FOREVER),
           WEFT_EINVAL);
    WT_ERR(weft_process_pool_map_fixed(ex, square_item, &in, 0, &out, sizeof out, 1, 0,
                                       WEFT_FOREVER),
           WEFT_EINVAL);
    WT_ERR(weft_process_pool_map_fixed(ex, square_item, &in, sizeof in, &out, sizeof out, 1, 0,
                                       -2),
           WEFT_EINVAL);
    weft_executor_free(ex);
}
END_TEST

/* A task that counts its runs in a shared value; its argument is the
 * value's pointer, padded to the argument's length (to fill a ring). */
static int count_run(void *arg, void **result)
{
    weft_bytes *in = arg;
    weft_value *runs;
    if (!in || in->len < sizeof runs)
        return WEFT_EINVAL;
    memcpy(&runs, in->data, sizeof runs);
    return weft_value_add_i64(runs, 1, NULL);
}

static weft_future *submit_count(weft_executor *ex, weft_value *runs, size_t len)
{
    weft_bytes *arg;
    WT_OK(weft_bytes_new(&arg, NULL, len));
    memcpy(arg->data, &runs, sizeof runs);
    weft_future *f = NULL;
    WT_OK(weft_process_pool_submit(ex, count_run, arg, &f));
    weft_bytes_free(arg);
    return f;
}

static int64_t runs_of(weft_value *runs)
{
    int64_t n;
    WT_OK(weft_value_get_i64(runs, &n));
    return n;
}

/* Work no worker has taken is PENDING and can be cancelled, in the ring or
 * in the overflow; a cancelled task never runs; a task a worker took is
 * RUNNING and cannot be cancelled (concurrent.futures' cancel()). */
START_TEST(queued_work_is_pending_and_cancellable)
{
    FOR_BOTH_METHODS {
        struct blocker b = new_blocker();
        weft_value *runs;
        WT_OK(weft_value_new(&runs, WEFT_CTYPE_I64, NULL, false));
        /* A ring of four records at this size: most of the queue overflows. */
        weft_process_pool_opts o = {.ring_bytes = 4096};
        weft_executor *ex = new_pool(1, &o);
        weft_future *blocked = submit_blocker(ex, &b);
        WT_OK(weft_pevent_wait(b.started, WEFT_FOREVER));
        enum { Q = 12 };
        weft_future *q[Q];
        for (int i = 0; i < Q; i++)
            q[i] = submit_count(ex, runs, 900);
        for (int i = 0; i < Q; i++) {
            ck_assert_int_eq(weft_future_get_state(q[i]), WEFT_FUTURE_PENDING);
            ck_assert(!weft_future_running(q[i]));
        }
        /* The head of the ring, one in the overflow, the last. */
        int cancel[] = {0, 7, Q - 1};
        for (int k = 0; k < 3; k++) {
            ck_assert(weft_future_cancel(q[cancel[k]]));
            ck_assert(weft_future_cancelled(q[cancel[k]]));
            ck_assert(weft_future_done(q[cancel[k]]));
            WT_ERR(weft_future_exception(q[cancel[k]], 0), WEFT_ECANCELLED);
            ck_assert(weft_future_cancel(q[cancel[k]])); /* cancelled already */
        }
        ck_assert(!weft_future_cancel(blocked));
        ck_assert(weft_future_running(blocked));
        ck_assert(!weft_future_cancelled(blocked));
        WT_OK(weft_pevent_set(b.release));
        WT_OK(weft_future_exception(blocked, WEFT_FOREVER));
        for (int i = 0; i < Q; i++) {
            if (i != 0 && i != 7 && i != Q - 1) {
                WT_OK(weft_future_exception(q[i], WEFT_FOREVER));
                ck_assert(!weft_future_cancel(q[i])); /* done */
            }
            weft_future_unref(q[i]);
        }
        WT_OK(weft_executor_shutdown(ex, false, WEFT_FOREVER));
        ck_assert_int_eq(runs_of(runs), Q - 3);
        weft_future_unref(blocked);
        weft_executor_free(ex);
        weft_value_free(runs);
        free_blocker(&b);
    }
}
END_TEST

/* shutdown(cancel_futures=True): what waits ends CANCELLED and never runs;
 * what runs finishes with its result. */
START_TEST(shutdown_cancel_futures_cancels_what_waits)
{
    struct blocker b = new_blocker();
    weft_value *runs;
    WT_OK(weft_value_new(&runs, WEFT_CTYPE_I64, NULL, false));
    weft_process_pool_opts o = {.ring_bytes = 4096};
    weft_executor *ex = new_pool(1, &o);
    weft_future *blocked = submit_blocker(ex, &b), *q[10];
    WT_OK(weft_pevent_wait(b.started, WEFT_FOREVER));
    for (int i = 0; i < 10; i++)
        q[i] = submit_count(ex, runs, 900);
    WT_ERR(weft_executor_shutdown(ex, true, 0), WEFT_ETIMEDOUT);
    for (int i = 0; i < 10; i++) {
        ck_assert(weft_future_cancelled(q[i]));
        WT_ERR(weft_future_exception(q[i], 0), WEFT_ECANCELLED);
        weft_future_unref(q[i]);
    }
    ck_assert(weft_future_running(blocked));
    WT_OK(weft_pevent_set(b.release));
    WT_OK(weft_executor_shutdown(ex, false, WEFT_FOREVER));
    WT_OK(weft_future_exception(blocked, 0));
    ck_assert_int_eq(runs_of(runs), 0);
    weft_future_unref(blocked);
    weft_executor_free(ex);
    weft_value_free(runs);
    free_blocker(&b);
}
END_TEST

/* A map item: item 0 blocks until released, the others count their runs. */
struct block_or_count {
    struct blocker b;
    weft_value *runs;
    int block;
};

static int block_or_count(void *arg, void **result)
{
    weft_bytes *in = arg;
    struct block_or_count c;
    if (!in || in->len != sizeof c)
        return WEFT_EINVAL;
    memcpy(&c, in->data, sizeof c);
    if (!c.block)
        return weft_value_add_i64(c.runs, 1, NULL);
    weft_pevent_set(c.b.started);
    return weft_pevent_wait(c.b.release, WEFT_FOREVER);
}

/* A map that times out cancels its calls no worker has taken, as
 * Executor.map cancels its remaining futures. */
START_TEST(map_timeout_cancels_calls_not_started)
{
    struct blocker b = new_blocker();
    weft_value *runs;
    WT_OK(weft_value_new(&runs, WEFT_CTYPE_I64, NULL, false));
    weft_executor *ex = new_pool(1, NULL);
    enum { N = 10 };
    weft_bytes *args[N], *res[N];
    for (int i = 0; i < N; i++) {
        struct block_or_count c = {.b = b, .runs = runs, .block = i == 0};
        WT_OK(weft_bytes_new(&args[i], &c, sizeof c));
    }
    /* Item 0 holds the only worker: the time runs out. */
    WT_ERR(weft_process_pool_map(ex, block_or_count, (const weft_bytes *const *)args, res, N, 1,
                                 0.02),
           WEFT_ETIMEDOUT);
    WT_OK(weft_pevent_set(b.release));
    WT_OK(weft_executor_shutdown(ex, false, WEFT_FOREVER));
    ck_assert_int_eq(runs_of(runs), 0);
    /* The executor's map too. */
    weft_executor_free(ex);
    ex = new_pool(1, NULL);
    WT_OK(weft_pevent_clear(b.release));
    void *vargs[N], *vres[N];
    for (int i = 0; i < N; i++)
        vargs[i] = args[i];
    WT_ERR(weft_executor_map(ex, block_or_count, vargs, vres, N, 1, 0.02), WEFT_ETIMEDOUT);
    WT_OK(weft_pevent_set(b.release));
    WT_OK(weft_executor_shutdown(ex, false, WEFT_FOREVER));
    ck_assert_int_eq(runs_of(runs), 0);
    for (int i = 0; i < N; i++) {
        weft_bytes_free(res[i]);
        weft_bytes_free(vres[i]);
        weft_bytes_free(args[i]);
    }
    weft_executor_free(ex);
    weft_value_free(runs);
    free_blocker(&b);
}
END_TEST

/* max_tasks_per_child with shutdown(wait): every queued task runs, each in
 * a fresh worker (ProcessPoolExecutor's early shutdown case). */
START_TEST(max_tasks_per_child_never_drops_work)
{
    FOR_BOTH_METHODS {
        weft_process_pool_opts o = {.max_tasks_per_child = 1};
        weft_executor *ex = new_pool(3, &o);
        enum { N = 12 };
        weft_future *fs[N];
        for (int i = 0; i < N; i++)
            fs[i] = submit_int(ex, my_pid, 0);
        WT_OK(weft_executor_shutdown(ex, false, WEFT_FOREVER));
        int pids[N];
        for (int i = 0; i < N; i++)
            pids[i] = result_int(fs[i]);
        for (int i = 0; i < N; i++)
            for (int j = 0; j < i; j++)
                ck_assert_int_ne(pids[i], pids[j]);
        ck_assert_uint_eq(weft_process_pool_workers_len(ex), 0);
        weft_executor_free(ex);
    }
}
END_TEST

/* A failing initializer is reported ("Exception in initializer"), naming
 * the pool and the error, and the pool breaks. */
static int g_init_reports;
static char g_init_report[600];

static void init_report(const char *what, int code, const char *message, void *arg)
{
    if (strcmp(what, "process pool initializer") == 0 && code == WEFT_EINVAL && message) {
        g_init_reports++;
        snprintf(g_init_report, sizeof g_init_report, "%s", message);
    }
}

START_TEST(failing_initializer_is_reported)
{
    weft_set_report_handler(init_report, NULL);
    weft_process_pool_opts bad = {.initializer = failing_init};
    weft_executor *ex = new_pool(1, &bad);
    weft_future *f = NULL;
    int rc = weft_process_pool_submit(ex, square, NULL, &f);
    if (rc == 0) {
        WT_ERR(weft_future_exception(f, WEFT_FOREVER), WEFT_EBROKEN);
        weft_future_unref(f);
    } else {
        ck_assert_int_eq(rc, WEFT_EBROKEN);
    }
    WT_OK(weft_executor_shutdown(ex, false, WEFT_FOREVER));
    ck_assert_int_eq(g_init_reports, 1);
    char pool[40];
    snprintf(pool, sizeof pool, "process pool %p", (void *)ex);
    ck_assert_msg(strstr(g_init_report, "Exception in initializer") &&
                      strstr(g_init_report, pool) && strstr(g_init_report, "EINVAL"),
                  "%s", g_init_report);
    weft_executor_free(ex);
    weft_set_report_handler(NULL, NULL);
}
END_TEST

/* terminate_workers() and kill_workers() (3.14): what waits is cancelled,
 * the task that ran fails (the pool was forcefully shut down), submits are
 * refused, and shutdown then returns. */
START_TEST(terminate_and_kill_workers)
{
    for (int kill_them = 0; kill_them < 2; kill_them++) {
        struct blocker b = new_blocker();
        weft_executor *ex = new_pool(1, NULL);
        weft_future *blocked = submit_blocker(ex, &b), *q[3];
        WT_OK(weft_pevent_wait(b.started, WEFT_FOREVER));
        for (int i = 0; i < 3; i++)
            q[i] = submit_int(ex, square, i);
        WT_OK(kill_them ? weft_process_pool_kill_workers(ex)
                        : weft_process_pool_terminate_workers(ex));
        for (int i = 0; i < 3; i++) {
            ck_assert(weft_future_cancelled(q[i]));
            weft_future_unref(q[i]);
        }
        WT_ERR(weft_future_exception(blocked, WEFT_FOREVER), WEFT_EBROKEN);
        ck_assert_ptr_nonnull(strstr(weft_future_message(blocked), "forcefully shut down"));
        weft_future *f = NULL;
        WT_ERR(weft_process_pool_submit(ex, square, NULL, &f), WEFT_ESHUTDOWN);
        WT_OK(weft_process_pool_terminate_workers(ex)); /* a second time: nothing */
        WT_OK(weft_executor_shutdown(ex, false, WEFT_FOREVER));
        ck_assert_uint_eq(weft_process_pool_workers_len(ex), 0);
        weft_future_unref(blocked);
        weft_executor_free(ex);
        free_blocker(&b);
    }
    weft_executor *tp;
    WT_OK(weft_thread_pool_new(&tp, NULL));
    WT_ERR(weft_process_pool_terminate_workers(tp), WEFT_EINVAL);
    WT_ERR(weft_process_pool_kill_workers(NULL), WEFT_EINVAL);
    weft_executor_free(tp);
}
END_TEST

/* A task submitted and cancelled at once, then shutdown(wait): no hang,
 * whether the cancel came first or a worker did (gh-94440). */
START_TEST(cancel_then_shutdown_does_not_hang)
{
    FOR_BOTH_METHODS {
        weft_executor *ex = new_pool(1, NULL);
        ck_assert_int_eq(result_int(submit_int(ex, square, 3)), 9);
        weft_future *f = submit_int(ex, square, 4);
        if (weft_future_cancel(f))
            WT_ERR(weft_future_exception(f, 0), WEFT_ECANCELLED);
        WT_OK(weft_executor_shutdown(ex, false, WEFT_FOREVER));
        ck_assert(weft_future_done(f));
        weft_future_unref(f);
        weft_executor_free(ex);
    }
}
END_TEST

/* max_tasks_per_child = 1 and shutdown(wait=False) while the first task
 * runs: the worker that retires after it is replaced, and the queued
 * tasks run (gh-119592). */
START_TEST(max_tasks_per_child_after_shutdown_without_wait)
{
    struct blocker b = new_blocker();
    weft_value *runs;
    WT_OK(weft_value_new(&runs, WEFT_CTYPE_I64, NULL, false));
    weft_process_pool_opts o = {.max_tasks_per_child = 1};
    weft_executor *ex = new_pool(1, &o);
    weft_future *first = submit_blocker(ex, &b), *rest[2];
    for (int i = 0; i < 2; i++)
        rest[i] = submit_count(ex, runs, 16);
    WT_OK(weft_pevent_wait(b.started, WEFT_FOREVER));
    WT_ERR(weft_executor_shutdown(ex, false, 0), WEFT_ETIMEDOUT);
    WT_OK(weft_pevent_set(b.release));
    WT_OK(weft_future_exception(first, WEFT_FOREVER));
    for (int i = 0; i < 2; i++) {
        WT_OK(weft_future_exception(rest[i], WEFT_FOREVER));
        weft_future_unref(rest[i]);
    }
    WT_OK(weft_executor_shutdown(ex, false, WEFT_FOREVER));
    ck_assert_int_eq(runs_of(runs), 2);
    weft_future_unref(first);
    weft_executor_free(ex);
    weft_value_free(runs);
    free_blocker(&b);
}
END_TEST

/* A holder that ends a pool's future itself (set_result while queued, or
 * set_running_or_notify_cancel and then cancel): no hang, no leak, and the
 * pool goes on. */
START_TEST(futures_ended_by_their_holder)
{
    struct blocker b = new_blocker();
    weft_executor *ex = new_pool(1, NULL);
    weft_future *blocked = submit_blocker(ex, &b);
    WT_OK(weft_pevent_wait(b.started, WEFT_FOREVER));
    weft_future *early = submit_int(ex, square, 5), *running = submit_int(ex, square, 6);
    WT_OK(weft_future_set_result(early, NULL));
    WT_OK(weft_future_set_running_or_notify_cancel(running));
    ck_assert(!weft_future_cancel(running));
    WT_ERR(weft_future_exception(running, WEFT_FOREVER), WEFT_ECANCELLED);
    WT_OK(weft_pevent_set(b.release));
    WT_OK(weft_future_exception(blocked, WEFT_FOREVER));
    ck_assert_int_eq(result_int(submit_int(ex, square, 7)), 49); /* early's ran before */
    void *r = (void *)1;
    WT_OK(weft_future_result(early, &r, 0));
    ck_assert_ptr_null(r);
    weft_future_unref(early);
    weft_future_unref(running);
    weft_future_unref(blocked);
    weft_executor_free(ex);
    free_blocker(&b);
}
END_TEST

/* Cancels racing the workers' takes: every future ends exactly one way,
 * cancelled (its task never ran) or done (it ran once), and the runs
 * counted in the workers match the futures not cancelled. */
START_TEST(cancel_races_take_conservation)
{
    weft_value *runs;
    WT_OK(weft_value_new(&runs, WEFT_CTYPE_I64, NULL, false));
    weft_process_pool_opts o = {.ring_bytes = 8192}; /* the overflow is used too */
    weft_executor *ex = new_pool(2, &o);
    enum { N = 600 };
    weft_future **fs = malloc(N * sizeof *fs);
    bool *said = calloc(N, sizeof *said); /* cancel() returned true */
    for (int i = 0; i < N; i++) {
        fs[i] = submit_count(ex, runs, 200);
        if (i % 2 == 0)
            said[i] = weft_future_cancel(fs[i]);
        if (i % 7 == 3) /* later: queued, or taken meanwhile */
            said[i - 3] = weft_future_cancel(fs[i - 3]) || said[i - 3];
    }
    int64_t done = 0;
    for (int i = 0; i < N; i++) {
        int rc = weft_future_exception(fs[i], WEFT_FOREVER);
        ck_assert_int_eq(weft_future_cancelled(fs[i]), said[i]);
        if (said[i]) {
            ck_assert_int_eq(rc, WEFT_ECANCELLED);
        } else {
            WT_OK(rc);
            done++;
        }
        weft_future_unref(fs[i]);
    }
    WT_OK(weft_executor_shutdown(ex, false, WEFT_FOREVER));
    ck_assert_int_eq(runs_of(runs), done);
    free(said);
    free(fs);
    weft_executor_free(ex);
    weft_value_free(runs);
}
END_TEST

static int count_cb(weft_future *f, void *arg)
{
    __atomic_add_fetch((int *)arg, weft_future_cancelled(f) ? 100 : 1, __ATOMIC_RELAXED);
    return 0;
}

/* A queued task's done callbacks run when it is cancelled, in the thread
 * that cancels, and see it cancelled (Future.add_done_callback). */
START_TEST(cancel_runs_done_callbacks)
{
    struct blocker b = new_blocker();
    weft_executor *ex = new_pool(1, NULL);
    weft_future *blocked = submit_blocker(ex, &b);
    WT_OK(weft_pevent_wait(b.started, WEFT_FOREVER));
    weft_future *q = submit_int(ex, square, 3);
    int calls = 0;
    WT_OK(weft_future_add_done_callback(q, count_cb, &calls));
    WT_OK(weft_future_add_done_callback(q, count_cb, &calls));
    ck_assert(weft_future_cancel(q));
    ck_assert_int_eq(__atomic_load_n(&calls, __ATOMIC_RELAXED), 200);
    WT_OK(weft_future_add_done_callback(q, count_cb, &calls)); /* done: runs at once */
    ck_assert_int_eq(__atomic_load_n(&calls, __ATOMIC_RELAXED), 300);
    WT_OK(weft_pevent_set(b.release));
    WT_OK(weft_future_exception(blocked, WEFT_FOREVER));
    weft_future_unref(q);
    weft_future_unref(blocked);
    weft_executor_free(ex);
    free_blocker(&b);
}
END_TEST

WT_MAIN("procpool", 60, submit_and_results, map_fixed_items, map_of_bytes_in_chunks, initializer_runs_in_each_worker,
        max_tasks_per_child_replaces_workers, killed_worker_breaks_the_pool,
        shutdown_waits_or_cancels, small_rings_overflow_and_limits, large_payloads,
        threads_submit_wait_and_map_at_once, generic_calls_refuse_what_is_not_bytes,
        results_that_are_not_bytes_fail_their_task, dead_worker_says_why, bytes_data_and_misuse,
        bad_input, queued_work_is_pending_and_cancellable, shutdown_cancel_futures_cancels_what_waits,
        map_timeout_cancels_calls_not_started, max_tasks_per_child_never_drops_work,
        failing_initializer_is_reported, terminate_and_kill_workers,
        cancel_then_shutdown_does_not_hang, max_tasks_per_child_after_shutdown_without_wait,
        futures_ended_by_their_holder, cancel_races_take_conservation,
        cancel_runs_done_callbacks)
