/* What the task module (task.c) and the calls built on tasks (gather.c, run.c, timeout.c) share. */
#ifndef WEFT_INTERNAL_TASK_H
#define WEFT_INTERNAL_TASK_H

#include <stdbool.h>

#include "internal/future.h"
#include "internal/loop.h"
#include "weft/future.h"

/* A kind of future built above tasks whose cancel is a request, as a
 * task's is (a gather's: the request goes to its children, and the future
 * ends only once they let it). Its module registers it once, before it
 * makes the first such future; weft_task_cancel_msg passes the message to
 * cancel_msg, and weft_await, having cancelled one, waits for its end. Only
 * one kind is registered (there is one such module); ctx is what
 * weft__future_owner_ctx gives for that owner. */
typedef struct weft__cancel_request {
    const weft__future_owner *owner;
    bool (*cancel_msg)(weft_future *f, void *ctx, const char *msg);
} weft__cancel_request;
void weft__task_set_cancel_request(const weft__cancel_request *kind);

/* A task's timeout scopes (timeout.c): the innermost entered and not yet
 * exited, and one timer armed for the earliest deadline among them. It
 * lives in the task's record: task.c makes it with the timer not pending,
 * and drops the chain and stops the timer when the task ends; timeout.c
 * does the rest, on the loop's thread. */
struct weft__scope;
typedef struct weft__task_scopes {
    struct weft__scope *innermost;
    weft__loop_timer timer;
} weft__task_scopes;
/* The running task's scopes; NULL outside a task. */
weft__task_scopes *weft__task_running_scopes(void);
/* The task whose scopes sc are (its future), and in *loop its loop. */
weft_future *weft__task_of_scopes(weft__task_scopes *sc, weft_loop **loop);

#endif
