/* What the task module (task.c) and the calls built on tasks (gather.c, run.c) share. */
#ifndef WEFT_INTERNAL_TASK_H
#define WEFT_INTERNAL_TASK_H

#include <stdbool.h>

#include "internal/future.h"
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

#endif
