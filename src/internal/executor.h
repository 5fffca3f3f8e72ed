/*
 * The executor interface: every backend (the thread pool now, the process
 * pool later) fills this table; executor.c implements the public calls on
 * top of it, map included.
 */
#ifndef WEFT_INTERNAL_EXECUTOR_H
#define WEFT_INTERNAL_EXECUTOR_H

#include "weft/executor.h"

typedef struct weft__executor_ops {
    const char *name;
    int (*submit)(weft_executor *ex, weft_task_fn fn, void *arg, weft_future **out);
    /* Stop accepting work (cancelling what has not started, if asked);
     * unless `wait` is false, wait for the workers until `deadline`
     * (WEFT__NO_DEADLINE for none): 0 or WEFT_ETIMEDOUT. */
    int (*shutdown)(weft_executor *ex, bool cancel_futures, bool wait, int64_t deadline);
    void (*destroy)(weft_executor *ex); /* after a waiting shutdown: free it */
    /* Optional: a backend's own map (the process pool's, whose items cross
     * processes); NULL for the generic one on submit. Called with the input
     * checked and n > 0. */
    int (*map)(weft_executor *ex, weft_task_fn fn, void *const *args, void **results, size_t n,
               double timeout, size_t chunksize);
} weft__executor_ops;

/* Every backend's object starts with this. */
struct weft_executor {
    const weft__executor_ops *ops;
};

#endif
