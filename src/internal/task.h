/* What the task module (task.c) and the calls built on tasks (gather.c, run.c) share. */
#ifndef WEFT_INTERNAL_TASK_H
#define WEFT_INTERNAL_TASK_H

#include <stdbool.h>

#include "weft/future.h"

/* True if f is a weft_gather future: its cancel is a request to its
 * children, and it ends only once they let it (as a task's does), so
 * whoever cancels it and must see it end waits for it. */
bool weft__is_gather(const weft_future *f);
/* weft_task_cancel_msg for a gather: its children are cancelled with msg. */
bool weft__gather_cancel_msg(weft_future *f, const char *msg);

#endif
