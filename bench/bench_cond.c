/*
 * Condition ping-pong: two threads take turns through one condition and its
 * lock; the figure is one round trip (A wakes B, B wakes A), so it measures
 * wait + notify + the wake-up path of park, twice.
 */
#include <pthread.h>

#include "harness.h"
#include "weft/sync.h"

static struct {
    weft_lock l;
    weft_condition c;
    int turn; /* 1: B's turn, 0: A's */
    long n;
    int failed;
} ws;

static void *weft_ponger(void *arg)
{
    weft_lock_acquire(&ws.l, WEFT_FOREVER);
    for (long i = 0; i < ws.n; i++) {
        while (ws.turn != 1)
            if (weft_condition_wait(&ws.c, WEFT_FOREVER) != 0)
                ws.failed = 1;
        ws.turn = 0;
        weft_condition_notify(&ws.c, 1);
    }
    weft_lock_release(&ws.l);
    return NULL;
}

static double weft_pingpong(long n)
{
    pthread_t t;
    weft_lock_init(&ws.l);
    if (weft_condition_init(&ws.c, &ws.l) != 0)
        return -1;
    ws.turn = 0;
    ws.n = n;
    ws.failed = 0;
    if (pthread_create(&t, NULL, weft_ponger, NULL) != 0)
        return -1;
    double t0 = wb_now();
    weft_lock_acquire(&ws.l, WEFT_FOREVER);
    for (long i = 0; i < n; i++) {
        ws.turn = 1;
        weft_condition_notify(&ws.c, 1);
        while (ws.turn != 0)
            if (weft_condition_wait(&ws.c, WEFT_FOREVER) != 0)
                ws.failed = 1;
    }
    weft_lock_release(&ws.l);
    pthread_join(t, NULL);
    double dt = wb_now() - t0;
    weft_condition_destroy(&ws.c);
    return ws.failed ? -1 : dt / (double)n;
}

static struct {
    pthread_mutex_t m;
    pthread_cond_t c;
    int turn;
    long n;
} ps = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0};

static void *pthread_ponger(void *arg)
{
    pthread_mutex_lock(&ps.m);
    for (long i = 0; i < ps.n; i++) {
        while (ps.turn != 1)
            pthread_cond_wait(&ps.c, &ps.m);
        ps.turn = 0;
        pthread_cond_signal(&ps.c);
    }
    pthread_mutex_unlock(&ps.m);
    return NULL;
}

static double pthread_pingpong(long n)
{
    pthread_t t;
    ps.turn = 0;
    ps.n = n;
    if (pthread_create(&t, NULL, pthread_ponger, NULL) != 0)
        return -1;
    double t0 = wb_now();
    pthread_mutex_lock(&ps.m);
    for (long i = 0; i < n; i++) {
        ps.turn = 1;
        pthread_cond_signal(&ps.c);
        while (ps.turn != 0)
            pthread_cond_wait(&ps.c, &ps.m);
    }
    pthread_mutex_unlock(&ps.m);
    pthread_join(t, NULL);
    return (wb_now() - t0) / (double)n;
}

const wb_bench wb_cond_pingpong = {
    .name = "cond_pingpong",
    .what = "Two threads take turns through one condition variable and its lock "
            "(figure: one round trip, A to B and back).",
    .unit = "us",
    .n = 20000,
    .runs = 5,
    .target_peer = 1,
    .target = 1.0,
    .c = {
        {.name = "weft_condition + weft_lock", .run = weft_pingpong},
        {.name = "pthread_cond + pthread_mutex", .run = pthread_pingpong},
        {.name = "Python threading.Condition", .py_script = "cond.py", .py_case = "pingpong",
         .py_n = 20000},
    },
};

WB_REGISTER(wb_cond_pingpong, 120)
