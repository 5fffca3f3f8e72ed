/*
 * Queue hand-off: one producer thread puts n items, one consumer thread gets
 * them; the figure is the time per item. weft's Queue (unbounded FIFO) is the
 * contender; its SimpleQueue and a bounded Queue (maxsize 1024) are shown
 * beside it. Peers: a plain pthread mutex + two condition variables around a
 * bounded ring (what one writes by hand), GLib's GAsyncQueue, a Go buffered
 * channel (capacity 1024) and Python's queue.Queue.
 */
#include <pthread.h>
#include <stdint.h>

#include "harness.h"
#include "weft/queue.h"

#ifdef WB_HAVE_GLIB
#include <glib.h>
#endif

#define ITEM(v) ((void *)(uintptr_t)(v))

/* Every workload sends 1..n and checks the sum on the consumer's side. */
static uint64_t expected_sum(long n)
{
    return (uint64_t)n * (uint64_t)(n + 1) / 2;
}

/* ---- weft ---- */

static struct {
    weft_queue *q;
    long n;
    int go;
    int failed;
} wq;

static void *weft_producer(void *arg)
{
    wb_wait_flag(&wq.go);
    for (long i = 1; i <= wq.n; i++)
        if (weft_queue_put(wq.q, ITEM(i), WEFT_FOREVER) != 0)
            __atomic_store_n(&wq.failed, 1, __ATOMIC_RELAXED);
    return NULL;
}

static double weft_handoff(weft_queue *q, long n)
{
    pthread_t t;
    wq.q = q;
    wq.n = n;
    wq.go = 0;
    wq.failed = 0;
    if (pthread_create(&t, NULL, weft_producer, NULL) != 0)
        return -1;
    uint64_t sum = 0;
    double t0 = wb_now();
    __atomic_store_n(&wq.go, 1, __ATOMIC_RELEASE);
    for (long i = 0; i < n; i++) {
        void *x;
        if (weft_queue_get(q, &x, WEFT_FOREVER) != 0) {
            wq.failed = 1;
            break;
        }
        sum += (uintptr_t)x;
    }
    pthread_join(t, NULL);
    double dt = wb_now() - t0;
    weft_queue_free(q);
    return wq.failed || sum != expected_sum(n) ? -1 : dt / (double)n;
}

static double weft_queue_run(long n)
{
    weft_queue *q;
    return weft_queue_new(&q, 0) ? -1 : weft_handoff(q, n);
}

static double weft_simple_run(long n)
{
    weft_queue *q;
    return weft_simple_queue_new(&q) ? -1 : weft_handoff(q, n);
}

static double weft_bounded_run(long n)
{
    weft_queue *q;
    return weft_queue_new(&q, 1024) ? -1 : weft_handoff(q, n);
}

/* ---- pthread mutex + condvars around a bounded ring ---- */

#define RING 1024

static struct {
    pthread_mutex_t m;
    pthread_cond_t not_empty, not_full;
    void *buf[RING];
    size_t head, count;
    long n;
    int go;
} pr = {.m = PTHREAD_MUTEX_INITIALIZER,
      .not_empty = PTHREAD_COND_INITIALIZER,
      .not_full = PTHREAD_COND_INITIALIZER};

static void ring_put(void *x)
{
    pthread_mutex_lock(&pr.m);
    while (pr.count == RING)
        pthread_cond_wait(&pr.not_full, &pr.m);
    pr.buf[(pr.head + pr.count) % RING] = x;
    pr.count++;
    pthread_cond_signal(&pr.not_empty);
    pthread_mutex_unlock(&pr.m);
}

static void *ring_get(void)
{
    pthread_mutex_lock(&pr.m);
    while (pr.count == 0)
        pthread_cond_wait(&pr.not_empty, &pr.m);
    void *x = pr.buf[pr.head];
    pr.head = (pr.head + 1) % RING;
    pr.count--;
    pthread_cond_signal(&pr.not_full);
    pthread_mutex_unlock(&pr.m);
    return x;
}

static void *ring_producer(void *arg)
{
    wb_wait_flag(&pr.go);
    for (long i = 1; i <= pr.n; i++)
        ring_put(ITEM(i));
    return NULL;
}

static double pthread_ring_run(long n)
{
    pthread_t t;
    pr.head = pr.count = 0;
    pr.n = n;
    pr.go = 0;
    if (pthread_create(&t, NULL, ring_producer, NULL) != 0)
        return -1;
    uint64_t sum = 0;
    double t0 = wb_now();
    __atomic_store_n(&pr.go, 1, __ATOMIC_RELEASE);
    for (long i = 0; i < n; i++)
        sum += (uintptr_t)ring_get();
    pthread_join(t, NULL);
    double dt = wb_now() - t0;
    return sum != expected_sum(n) ? -1 : dt / (double)n;
}

/* ---- GLib GAsyncQueue ---- */

#ifdef WB_HAVE_GLIB
static struct {
    GAsyncQueue *q;
    long n;
    int go;
} gq;

static void *glib_producer(void *arg)
{
    wb_wait_flag(&gq.go);
    for (long i = 1; i <= gq.n; i++)
        g_async_queue_push(gq.q, ITEM(i)); /* items must not be NULL */
    return NULL;
}

static double glib_run(long n)
{
    pthread_t t;
    gq.q = g_async_queue_new();
    gq.n = n;
    gq.go = 0;
    if (pthread_create(&t, NULL, glib_producer, NULL) != 0)
        return -1;
    uint64_t sum = 0;
    double t0 = wb_now();
    __atomic_store_n(&gq.go, 1, __ATOMIC_RELEASE);
    for (long i = 0; i < n; i++)
        sum += (uintptr_t)g_async_queue_pop(gq.q);
    pthread_join(t, NULL);
    double dt = wb_now() - t0;
    g_async_queue_unref(gq.q);
    return sum != expected_sum(n) ? -1 : dt / (double)n;
}
#define GLIB_CONTENDER {.name = "GLib GAsyncQueue", .run = glib_run, .target = 0.5}
#else
#define GLIB_CONTENDER                                                                 \
    {.name = "GLib GAsyncQueue", .skip = "n/a (GLib development files not found)",      \
     .target = 0.5}
#endif

const wb_bench wb_queue_handoff = {
    .name = "queue_handoff",
    .what = "One producer thread hands 10,000,000 items to one consumer thread through a "
            "queue (weft: unbounded Queue; SimpleQueue and maxsize 1024 beside it; the "
            "pthread ring and the Go channel hold 1024).",
    .unit = "ns",
    .n = 10000000,
    .runs = 5,
    .c = {
        {.name = "weft_queue (FIFO, unbounded)", .run = weft_queue_run},
        {.name = "weft SimpleQueue", .run = weft_simple_run},
        {.name = "weft_queue (maxsize 1024)", .run = weft_bounded_run},
        {.name = "pthread mutex+cond ring (1024)", .run = pthread_ring_run},
        GLIB_CONTENDER,
        {.name = "Go buffered channel (1024)", .go_dir = "queue", .py_case = "handoff",
         .target = 1.0},
        {.name = "Python queue.Queue", .py_script = "queues.py", .py_case = "handoff",
         .py_n = 200000},
    },
};

WB_REGISTER(wb_queue_handoff, 200)
