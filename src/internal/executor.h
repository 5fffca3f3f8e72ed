/*
 * The executor interface: every backend (the thread pool, the process
 * pool) fills this table; executor.c implements the public calls on top of
 * it, map included, and keeps the exit registry: the live executors that
 * exit shuts down and waits for.
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
    /* Optional: what the exit hook does with a live executor; NULL for
     * shutdown(cancel_futures false, wait, no deadline). A backend whose
     * worker may be the thread that called exit() finishes the work
     * itself there instead of waiting for itself. */
    void (*exit_join)(weft_executor *ex);
} weft__executor_ops;

/* Every backend's object starts with this. The exit fields belong to
 * executor.c's registry and are read and written under its lock only. */
struct weft_executor {
    const weft__executor_ops *ops;
    weft_executor *exit_next, *exit_prev;
    unsigned exit_gen; /* the registry's generation it was linked in; 0: never */
    bool exit_busy;    /* the exit hook is shutting it down now */
    bool exit_done;    /* the exit hook has shut it down (or will not) */
    bool borrowed;     /* weft's own (the default executor): never freed */
};

/* Put a new executor (every field zeroed but ops) on the registry, before
 * it is handed to its creator. At exit (an atexit handler registered when
 * the first executor is made) every executor still on it is shut down and
 * waited for, as Python's executors are joined at interpreter exit. Once
 * that has begun, an executor registered is shut down at once, so its
 * submits get WEFT_ESHUTDOWN. A forked child starts with an empty
 * registry: the parent's executors are not the child's to wait for. */
void weft__executor_register(weft_executor *ex);

/* Take ex off the registry (weft_executor_free does, before destroy);
 * waits while the exit hook is shutting it down. Nothing for an executor
 * that is not on this process's registry. */
void weft__executor_unregister(weft_executor *ex);

/* The exit hook's work, callable once more by a process's own exit path:
 * shut down and wait for every executor on the registry. */
void weft__executors_exit(void);

/* A backend's worker thread says whose worker it is while it runs
 * (enter(ex) first, enter(NULL) last); of_worker returns that executor, or
 * NULL on any other thread. The exit hook shuts the caller's own executor
 * down first, and a backend refuses to wait for its own workers from one. */
void weft__executor_worker_enter(weft_executor *ex);
weft_executor *weft__executor_of_worker(void);

#endif
