/*
 * Lock benchmarks: the uncontended fast path, and two threads hammering one
 * lock (the case where spinning, parking and hand-off decide the figure).
 */
#include <pthread.h>
#include <sched.h>

#include "harness.h"
#include "weft/sync.h"

/* ------------------------------------------------------- uncontended */

static double weft_uncontended(long n)
{
    weft_lock l = WEFT_LOCK_INIT;
    double t0 = wb_now();
    for (long i = 0; i < n; i++) {
        weft_lock_acquire(&l, WEFT_FOREVER);
        weft_lock_release(&l);
    }
    return (wb_now() - t0) / (double)n;
}

static double pthread_uncontended(long n)
{
    pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
    double t0 = wb_now();
    for (long i = 0; i < n; i++) {
        pthread_mutex_lock(&m);
        pthread_mutex_unlock(&m);
    }
    return (wb_now() - t0) / (double)n;
}

const wb_bench wb_lock_uncontended = {
    .name = "lock_uncontended",
    .what = "One thread: acquire + release of a free lock.",
    .unit = "ns",
    .n = 20000000,
    .runs = 7,
    .target_peer = 1,
    .target = 1.0,
    .c = {
        {.name = "weft_lock", .run = weft_uncontended},
        {.name = "pthread_mutex", .run = pthread_uncontended},
        {.name = "Python threading.Lock", .py_script = "lock.py", .py_case = "uncontended",
         .py_n = 2000000},
    },
};

/* --------------------------------------------------------- contended */

/* The counter shares the lock's cache line, as in real code where a lock
 * guards the fields beside it: the line moves between the cores with each
 * hand-over, whoever holds it. */
static struct {
    weft_lock wl;
    pthread_mutex_t pm;
    long counter;
    long n;
    int go;
} __attribute__((aligned(64))) shared = {.wl = WEFT_LOCK_INIT, .pm = PTHREAD_MUTEX_INITIALIZER};

static void *weft_worker(void *arg)
{
    wb_wait_flag(&shared.go);
    for (long i = 0; i < shared.n; i++) {
        weft_lock_acquire(&shared.wl, WEFT_FOREVER);
        shared.counter++;
        weft_lock_release(&shared.wl);
    }
    return NULL;
}

static void *pthread_worker(void *arg)
{
    wb_wait_flag(&shared.go);
    for (long i = 0; i < shared.n; i++) {
        pthread_mutex_lock(&shared.pm);
        shared.counter++;
        pthread_mutex_unlock(&shared.pm);
    }
    return NULL;
}

static void *atomic_worker(void *arg)
{
    wb_wait_flag(&shared.go);
    for (long i = 0; i < shared.n; i++)
        __atomic_fetch_add(&shared.counter, 1, __ATOMIC_SEQ_CST);
    return NULL;
}

/* Pins worker i to the i-th CPU the process may use. Left to the scheduler,
 * the two workers sometimes share one CPU (time-sliced, so nothing is
 * contended and the figure is a single thread's) and sometimes not, and the
 * runs of a benchmark would mix the two regimes. Pinned, every contender
 * measures real contention between two cores. */
static void pin_attr(pthread_attr_t *attr, int i)
{
    cpu_set_t allowed, one;
    pthread_attr_init(attr);
    if (sched_getaffinity(0, sizeof allowed, &allowed) != 0 || CPU_COUNT(&allowed) < 2)
        return;
    for (int cpu = 0, seen = 0; cpu < CPU_SETSIZE; cpu++) {
        if (CPU_ISSET(cpu, &allowed) && seen++ == i) {
            CPU_ZERO(&one);
            CPU_SET(cpu, &one);
            pthread_attr_setaffinity_np(attr, sizeof one, &one);
            return;
        }
    }
}

/* Two threads, n increments each; the clock starts when both are created
 * and released together, and stops when both are joined. */
static double two_threads(void *(*fn)(void *), long n)
{
    pthread_t t[2];
    shared.counter = 0;
    shared.n = n;
    __atomic_store_n(&shared.go, 0, __ATOMIC_RELAXED);
    for (int i = 0; i < 2; i++) {
        pthread_attr_t attr;
        pin_attr(&attr, i);
        int rc = pthread_create(&t[i], &attr, fn, NULL);
        pthread_attr_destroy(&attr);
        if (rc != 0)
            return -1;
    }
    double t0 = wb_now();
    __atomic_store_n(&shared.go, 1, __ATOMIC_RELEASE);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    double dt = wb_now() - t0;
    if (shared.counter != 2 * n) /* a broken lock must not post a good figure */
        return -1;
    return dt / (double)(2 * n);
}

static double weft_contended(long n) { return two_threads(weft_worker, n); }
static double pthread_contended(long n) { return two_threads(pthread_worker, n); }
static double atomic_contended(long n) { return two_threads(atomic_worker, n); }

const wb_bench wb_lock_contended = {
    .name = "lock_contended",
    .what = "Two threads x 10,000,000 increments of one counter under the lock "
            "(figure: wall time per increment).",
    .unit = "ns",
    .n = 10000000,
    .runs = 5,
    .target_peer = 1,
    .target = 0.8,
    .c = {
        {.name = "weft_lock", .run = weft_contended},
        {.name = "pthread_mutex", .run = pthread_contended},
        {.name = "atomic add, no lock", .run = atomic_contended, .floor = true},
        {.name = "Python threading.Lock", .py_script = "lock.py", .py_case = "contended",
         .py_n = 1000000},
    },
};

WB_REGISTER(wb_lock_uncontended, 100)
WB_REGISTER(wb_lock_contended, 110)
