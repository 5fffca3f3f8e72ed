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
    int (*shutdown)(weft_executor *ex, bool wait, bool cancel_futures);
    void (*destroy)(weft_executor *ex); /* after a waiting shutdown: free it */
} weft__executor_ops;

/* Every backend's object starts with this. */
struct weft_executor {
    const weft__executor_ops *ops;
};

#endif
