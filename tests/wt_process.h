/*
 * wt_process.h - what the tests that start processes share: each such test
 * runs once under each start method (BOTH), and spawn/reap start a child
 * with the current method and collect its exit code.
 */
#ifndef WEFT_TESTS_WT_PROCESS_H
#define WEFT_TESTS_WT_PROCESS_H

#include "wt.h"

/* The start method of the children of the running test. */
static int g_method;

#define BOTH(name)                                                             \
    START_TEST(name##_fork)                                                    \
    {                                                                          \
        g_method = WEFT_START_FORK;                                            \
        name();                                                                \
    }                                                                          \
    END_TEST                                                                   \
    START_TEST(name##_forkserver)                                              \
    {                                                                          \
        g_method = WEFT_START_FORKSERVER;                                      \
        name();                                                                \
    }                                                                          \
    END_TEST

static inline weft_process *spawn(weft_process_fn fn, void *arg)
{
    weft_process_opts o = {.start_method = g_method};
    weft_process *p = NULL;
    WT_OK(weft_process_new(&p, fn, arg, &o));
    WT_OK(weft_process_start(p));
    return p;
}

/* Join and close p; its exit code. */
static inline int reap(weft_process *p)
{
    WT_OK(weft_process_join(p, WEFT_FOREVER));
    int code = -1000;
    WT_OK(weft_process_exitcode(p, &code));
    WT_OK(weft_process_close(p));
    weft_process_free(p);
    return code;
}

#endif
