/*
 * Thread start + join: the cost of a short-lived thread, from creation to
 * the joiner seeing it finished (Python's Thread(...).start(); .join()).
 */
#include <pthread.h>

#include "harness.h"

#include "weft/thread.h"

static void *nothing(void *arg)
{
    return arg;
}

static double weft_start_join(long n)
{
    double t0 = wb_now();
    for (long i = 0; i < n; i++) {
        weft_thread *t;
        if (weft_thread_new(&t, nothing, NULL, NULL) != 0)
            return -1;
        if (weft_thread_start(t) != 0 || weft_thread_join(t, WEFT_FOREVER) != 0) {
            weft_thread_unref(t);
            return -1;
        }
        weft_thread_unref(t);
    }
    return (wb_now() - t0) / (double)n;
}

static double pthread_start_join(long n)
{
    double t0 = wb_now();
    for (long i = 0; i < n; i++) {
        pthread_t t;
        if (pthread_create(&t, NULL, nothing, NULL) != 0)
            return -1;
        pthread_join(t, NULL);
    }
    return (wb_now() - t0) / (double)n;
}

const wb_bench wb_thread_start_join = {
    .name = "thread_start_join",
    .what = "Create, start and join a thread whose function returns at once "
            "(weft: new + start + join + free).",
    .unit = "us",
    .n = 4000,
    .runs = 11, /* wake-up latency on a VM swings; more runs steady the median */
    .target_peer = 1,
    .target = 1.1,
    .c = {
        {.name = "weft_thread", .run = weft_start_join},
        {.name = "pthread_create + join", .run = pthread_start_join},
        {.name = "Python threading.Thread", .py_script = "thread.py", .py_case = "start_join",
         .py_n = 3000},
    },
};

WB_REGISTER(wb_thread_start_join, 130)
