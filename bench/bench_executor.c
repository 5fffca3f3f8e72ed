/*
 * Executor benchmarks: the throughput of tiny tasks (submit a million no-op
 * tasks to two workers, then wait for them all) and the latency of one
 * submit -> result round trip.
 */
#include <pthread.h>
#include <stdlib.h>

#include "harness.h"
#include "weft/executor.h"

#ifdef WB_HAVE_GLIB
#include <glib.h>
#endif
#ifdef WB_HAVE_LIBUV
#include <uv.h>
#endif

/* ------------------------------------------------------- tiny tasks */

static int weft_nop(void *arg, void **result)
{
    (void)arg;
    (void)result;
    return 0;
}

/* Each task with its own future, as Python's submit gives; every future is
 * waited for and dropped. The pool (and its two workers) is made per run. */
static double weft_tiny(long n)
{
    weft_thread_pool_opts o = {.max_workers = 2};
    weft_executor *ex;
    weft_future **fs = malloc((size_t)n * sizeof *fs);
    if (!fs || weft_thread_pool_new(&ex, &o) != 0)
        return -1;
    int bad = 0;
    double t0 = wb_now();
    for (long i = 0; i < n; i++)
        bad |= weft_executor_submit(ex, weft_nop, NULL, &fs[i]);
    for (long i = 0; i < n && !bad; i++) {
        bad |= weft_future_result(fs[i], NULL, WEFT_FOREVER);
        weft_future_unref(fs[i]);
    }
    double dt = wb_now() - t0;
    weft_executor_free(ex);
    free(fs);
    return bad ? -1 : dt / (double)n;
}

#ifdef WB_HAVE_GLIB
static struct {
    GMutex m;
    GCond c;
    long done, want;
} gtp;

static void glib_task(gpointer data, gpointer user)
{
    (void)data;
    (void)user;
    /* The counter + condition is how a GThreadPool user waits for a batch. */
    if (__atomic_add_fetch(&gtp.done, 1, __ATOMIC_ACQ_REL) == gtp.want) {
        g_mutex_lock(&gtp.m);
        g_cond_signal(&gtp.c);
        g_mutex_unlock(&gtp.m);
    }
}

static double glib_tiny(long n)
{
    gtp.done = 0;
    gtp.want = n;
    GThreadPool *p = g_thread_pool_new(glib_task, NULL, 2, FALSE, NULL);
    if (!p)
        return -1;
    double t0 = wb_now();
    for (long i = 0; i < n; i++)
        g_thread_pool_push(p, GINT_TO_POINTER(1), NULL);
    g_mutex_lock(&gtp.m);
    while (__atomic_load_n(&gtp.done, __ATOMIC_ACQUIRE) < n)
        g_cond_wait(&gtp.c, &gtp.m);
    g_mutex_unlock(&gtp.m);
    double dt = wb_now() - t0;
    g_thread_pool_free(p, FALSE, TRUE);
    return dt / (double)n;
}
#define GLIB_TINY {.name = "GLib GThreadPool", .run = glib_tiny}
#else
#define GLIB_TINY {.name = "GLib GThreadPool", .skip = "n/a (GLib development files not found)"}
#endif

#ifdef WB_HAVE_LIBUV
static long uv_done;

static void uv_nop(uv_work_t *req)
{
    (void)req;
}

static void uv_after(uv_work_t *req, int status)
{
    (void)req;
    if (status == 0)
        uv_done++;
}

static double uv_tiny(long n)
{
    /* libuv reads the size of its one global pool at the first
     * uv_queue_work of the process: set before any. */
    setenv("UV_THREADPOOL_SIZE", "2", 1);
    uv_work_t *reqs = malloc((size_t)n * sizeof *reqs);
    uv_loop_t loop;
    if (!reqs || uv_loop_init(&loop) != 0)
        return -1;
    uv_done = 0;
    double t0 = wb_now();
    for (long i = 0; i < n; i++)
        uv_queue_work(&loop, &reqs[i], uv_nop, uv_after);
    uv_run(&loop, UV_RUN_DEFAULT);
    double dt = wb_now() - t0;
    uv_loop_close(&loop);
    free(reqs);
    return uv_done == n ? dt / (double)n : -1;
}
#define UV_TINY {.name = "libuv uv_queue_work (2 threads)", .run = uv_tiny, .target = 0.5}
#else
#define UV_TINY                                                                         \
    {.name = "libuv uv_queue_work (2 threads)", .skip = "n/a (libuv development files not found)", \
     .target = 0.5}
#endif

const wb_bench wb_executor_tiny = {
    .name = "executor_tiny_tasks",
    .what = "Submit 1,000,000 no-op tasks to a pool of 2 workers, then wait for all of them "
            "(weft and Python: one future per task; GThreadPool: a counter and a condition; "
            "libuv: the loop's after-work callbacks; Go: a goroutine per task and a WaitGroup, "
            "GOMAXPROCS=2).",
    .unit = "ns",
    .n = 1000000,
    .runs = 5,
    .target_peer = 1,
    .target = 0.25,
    .c = {
        {.name = "weft thread pool", .run = weft_tiny},
        GLIB_TINY,
        UV_TINY,
        {.name = "Go goroutines + WaitGroup", .go_dir = "executor", .py_case = "tiny_tasks"},
        {.name = "Python ThreadPoolExecutor", .py_script = "executor.py", .py_case = "tiny_tasks",
         .py_n = 50000, .target = 0.01},
    },
};
WB_REGISTER(wb_executor_tiny, 210)

/* -------------------------------------------------------- round trip */

static double weft_roundtrip(long n)
{
    weft_thread_pool_opts o = {.max_workers = 1};
    weft_executor *ex;
    weft_future *f;
    if (weft_thread_pool_new(&ex, &o) != 0)
        return -1;
    int bad = weft_executor_submit(ex, weft_nop, NULL, &f); /* start the worker */
    if (!bad) {
        bad |= weft_future_result(f, NULL, WEFT_FOREVER);
        weft_future_unref(f);
    }
    double t0 = wb_now();
    for (long i = 0; i < n && !bad; i++) {
        bad |= weft_executor_submit(ex, weft_nop, NULL, &f);
        bad |= weft_future_result(f, NULL, WEFT_FOREVER);
        weft_future_unref(f);
    }
    double dt = wb_now() - t0;
    weft_executor_free(ex);
    return bad ? -1 : dt / (double)n;
}

/* The floor: one worker thread and a mutex + condition handoff, both ways. */
static struct {
    pthread_mutex_t m;
    pthread_cond_t c;
    long req, done; /* requests posted, requests served */
    bool stop;
} pt = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, false};

static void *pt_worker(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&pt.m);
    for (;;) {
        while (pt.req == pt.done && !pt.stop)
            pthread_cond_wait(&pt.c, &pt.m);
        if (pt.req == pt.done)
            break;
        pt.done++; /* the no-op task */
        pthread_cond_broadcast(&pt.c);
    }
    pthread_mutex_unlock(&pt.m);
    return NULL;
}

static double pthread_roundtrip(long n)
{
    pthread_t t;
    pt.req = pt.done = 0;
    pt.stop = false;
    if (pthread_create(&t, NULL, pt_worker, NULL) != 0)
        return -1;
    double t0 = wb_now();
    pthread_mutex_lock(&pt.m);
    for (long i = 0; i < n; i++) {
        pt.req++;
        pthread_cond_broadcast(&pt.c);
        while (pt.done != pt.req)
            pthread_cond_wait(&pt.c, &pt.m);
    }
    pt.stop = true;
    pthread_cond_broadcast(&pt.c);
    pthread_mutex_unlock(&pt.m);
    double dt = wb_now() - t0;
    pthread_join(t, NULL);
    return dt / (double)n;
}

const wb_bench wb_executor_roundtrip = {
    .name = "executor_roundtrip",
    .what = "One at a time: submit a no-op task to a 1-worker pool and wait for its result "
            "(latency); the pthread floor hands a request to one worker thread and back "
            "with a mutex and a condition.",
    .unit = "us",
    .n = 100000,
    .runs = 5,
    .target_peer = 2,
    .target = 0.05,
    .c = {
        {.name = "weft thread pool", .run = weft_roundtrip},
        {.name = "pthread mutex+cond handoff", .run = pthread_roundtrip, .floor = true},
        {.name = "Python ThreadPoolExecutor", .py_script = "executor.py", .py_case = "roundtrip",
         .py_n = 20000},
    },
};
WB_REGISTER(wb_executor_roundtrip, 220)
