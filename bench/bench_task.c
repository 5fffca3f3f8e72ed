/*
 * Coroutines on the event loop (weft/loop.h) against asyncio and goroutines.
 *
 *   task_spawn          n tasks that each yield once (weft_sleep(0)); the
 *                       figure is the time per task, from the first create
 *                       until the last has finished
 *   task_pingpong       two coroutines bounce a token through two weft_queues
 *                       (one each way); the figure is one round trip
 *   task_parked         n coroutines (16 KiB stacks) that all wait on one
 *                       weft_event: the time per coroutine from the first
 *                       create until every one is parked
 *   task_parked_rss     the same, in a forked child: its peak resident growth
 *
 * Each workload runs as the main task of its own weft_run (asyncio.run), and
 * times itself from inside it, as the peers do: loop creation is not part of
 * the figure. Peers: bench/peers/asyncio_peers.py and bench/peers/go/tasks.
 */
#include <stdint.h>

#include "harness.h"
#include "weft/loop.h"
#include "weft/queue.h"
#include "weft/sync.h"

/* The coroutines of one workload all run on the loop's one thread: the
 * counters below need no atomics. */
static struct {
    long n;
    long left;          /* tasks not yet at the point counted */
    long exited;        /* parked tasks that have finished */
    int failed;
    weft_event all_in;  /* set when `left` reaches 0 */
    weft_event release; /* parked tasks wait on this one */
    weft_event all_out; /* set when every parked task has finished */
    double seconds;
} w;

static void reset(long n)
{
    w.n = n;
    w.left = n;
    w.exited = 0;
    w.failed = 0;
    w.seconds = -1;
    weft_event_init(&w.all_in);
    weft_event_init(&w.release);
    weft_event_init(&w.all_out);
}

static void count_in(void)
{
    if (--w.left == 0 && weft_event_set(&w.all_in) != 0)
        w.failed = 1;
}

/* ---- spawn: n tasks that each yield once ---- */

static int yield_once(void *arg, void **result)
{
    (void)arg;
    (void)result;
    int rc = weft_sleep(0);
    if (rc != 0)
        w.failed = 1;
    count_in();
    return rc;
}

static int spawn_main(void *arg, void **result)
{
    (void)arg;
    (void)result;
    double t0 = wb_now();
    for (long i = 0; i < w.n; i++)
        if (weft_create_task(NULL, yield_once, NULL, NULL, NULL) != 0)
            return -1;
    int rc = weft_event_wait(&w.all_in, WEFT_FOREVER);
    w.seconds = wb_now() - t0;
    return rc;
}

static double weft_spawn_run(long n)
{
    reset(n);
    int rc = weft_run(spawn_main, NULL, NULL);
    return rc != 0 || w.failed || w.left != 0 ? -1 : w.seconds / (double)n;
}

/* ---- ping-pong: a token there and back through two queues ---- */

static struct {
    weft_queue *there, *back;
} pp;

static int echo(void *arg, void **result)
{
    (void)arg;
    (void)result;
    for (long i = 0; i < w.n; i++) {
        void *x;
        int rc = weft_queue_get(pp.there, &x, WEFT_FOREVER);
        if (rc == 0)
            rc = weft_queue_put(pp.back, x, WEFT_FOREVER);
        if (rc != 0)
            return rc;
    }
    return 0;
}

static int pingpong_main(void *arg, void **result)
{
    (void)arg;
    (void)result;
    weft_future *peer;
    int rc = weft_create_task(NULL, echo, NULL, "echo", &peer);
    if (rc != 0)
        return rc;
    uint64_t sum = 0;
    double t0 = wb_now();
    for (long i = 0; i < w.n && rc == 0; i++) {
        void *x;
        rc = weft_queue_put(pp.there, (void *)(uintptr_t)i, WEFT_FOREVER);
        if (rc == 0)
            rc = weft_queue_get(pp.back, &x, WEFT_FOREVER);
        sum += (uintptr_t)x;
    }
    w.seconds = wb_now() - t0;
    int prc = weft_await(peer, NULL, WEFT_FOREVER);
    weft_future_unref(peer);
    if (rc == 0 && sum != (uint64_t)w.n * (uint64_t)(w.n - 1) / 2)
        rc = -1;
    return rc != 0 ? rc : prc;
}

static double weft_pingpong_run(long n)
{
    reset(n);
    if (weft_queue_new(&pp.there, 0) != 0)
        return -1;
    if (weft_queue_new(&pp.back, 0) != 0) {
        weft_queue_free(pp.there);
        return -1;
    }
    int rc = weft_run(pingpong_main, NULL, NULL);
    weft_queue_free(pp.there);
    weft_queue_free(pp.back);
    return rc != 0 ? -1 : w.seconds / (double)n;
}

/* ---- parked: n coroutines waiting on one event ---- */

/* Only the pages a coroutine touches cost memory; 16 KiB is the smallest
 * stack weft accepts and what a million waiters would be given. */
static const weft_task_opts parked_opts = {.stack_size = 16 * 1024};

static int park_one(void *arg, void **result)
{
    (void)arg;
    (void)result;
    count_in();
    int rc = weft_event_wait(&w.release, WEFT_FOREVER);
    if (rc != 0)
        w.failed = 1;
    if (++w.exited == w.n && weft_event_set(&w.all_out) != 0)
        w.failed = 1;
    return rc;
}

static int parked_main(void *arg, void **result)
{
    (void)arg;
    (void)result;
    double t0 = wb_now();
    for (long i = 0; i < w.n; i++)
        if (weft_create_task_opts(NULL, park_one, NULL, &parked_opts, NULL) != 0)
            return -1;
    int rc = weft_event_wait(&w.all_in, WEFT_FOREVER);
    w.seconds = wb_now() - t0;
    if (rc == 0)
        rc = weft_event_set(&w.release);
    if (rc == 0)
        rc = weft_event_wait(&w.all_out, WEFT_FOREVER);
    return rc;
}

static double weft_parked_run(long n)
{
    reset(n);
    int rc = weft_run(parked_main, NULL, NULL);
    return rc != 0 || w.failed || w.exited != n ? -1 : w.seconds / (double)n;
}

static double weft_parked_rss_run(long n)
{
    return wb_child_rss(weft_parked_run, n, NULL);
}

/* ---- the tables ---- */

const wb_bench wb_task_spawn = {
    .name = "task_spawn",
    .what = "1,000,000 tasks that each yield to the loop once (weft_sleep(0); asyncio.sleep(0); "
            "Go: runtime.Gosched), created in a row and all waited for (figure: per task).",
    .unit = "ns",
    .n = 1000000,
    .runs = 5,
    .target_peer = 2,
    .target = 0.5,
    .c = {
        {.name = "weft_create_task", .run = weft_spawn_run},
        {.name = "Python asyncio create_task + gather", .py_script = "asyncio_peers.py",
         .py_case = "spawn", .py_n = 100000, .target = 0.02},
        {.name = "Go goroutines + WaitGroup", .go_dir = "tasks", .py_case = "spawn"},
    },
};

const wb_bench wb_task_pingpong = {
    .name = "task_pingpong",
    .what = "Two coroutines bounce a token through two queues, one each way (weft: weft_queue; "
            "asyncio.Queue; Go: two unbuffered channels) (figure: one round trip).",
    .unit = "ns",
    .n = 1000000,
    .runs = 5,
    .target_peer = 2,
    .target = 0.5,
    .c = {
        {.name = "weft coroutines + weft_queue", .run = weft_pingpong_run},
        {.name = "Python asyncio.Queue", .py_script = "asyncio_peers.py", .py_case = "pingpong",
         .py_n = 100000, .target = 0.02},
        {.name = "Go unbuffered channels", .go_dir = "tasks", .py_case = "pingpong"},
    },
};

const wb_bench wb_task_parked = {
    .name = "task_parked",
    .what = "1,000,000 coroutines (weft: 16 KiB stacks) that all wait on one event (asyncio.Event; "
            "Go: goroutines receiving from one channel) (figure: per coroutine, from the first "
            "create until all are parked).",
    .unit = "ns",
    .n = 1000000,
    .runs = 3,
    .target_peer = 2,
    .target = 0.5,
    .c = {
        {.name = "weft_create_task_opts + weft_event", .run = weft_parked_run},
        {.name = "Python asyncio tasks + Event", .py_script = "asyncio_peers.py",
         .py_case = "parked", .py_n = 100000},
        {.name = "Go goroutines on one channel", .go_dir = "tasks", .py_case = "parked"},
    },
};

const wb_bench wb_task_parked_rss = {
    .name = "task_parked_rss",
    .what = "The task_parked workload, each run in a fresh process: its peak resident memory "
            "growth with 1,000,000 coroutines parked.",
    .unit = "MiB",
    .quantity = true,
    .n = 1000000,
    .runs = 3,
    .target_peer = 2,
    .target = 1.7,
    .c = {
        {.name = "weft coroutines (16 KiB stacks)", .run = weft_parked_rss_run},
        {.name = "Python asyncio tasks", .py_script = "asyncio_peers.py",
         .py_case = "parked_rss", .py_n = 100000},
        {.name = "Go goroutines", .go_dir = "tasks", .py_case = "parked_rss"},
    },
};

WB_REGISTER(wb_task_spawn, 410)
WB_REGISTER(wb_task_pingpong, 410)
WB_REGISTER(wb_task_parked, 410)
WB_REGISTER(wb_task_parked_rss, 410)
