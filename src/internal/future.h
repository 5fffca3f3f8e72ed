/* What executors need from futures beyond the public API. */
#ifndef WEFT_INTERNAL_FUTURE_H
#define WEFT_INTERNAL_FUTURE_H

#include "weft/executor.h"
#include "weft/future.h"

/* Run a task on behalf of `f` in the calling thread: RUNNING (unless it was
 * cancelled: then 0 without running), fn, then finish it with the result or
 * with the error and the message the task attached (weft_task_set_message).
 * Returns the task's code (0 if cancelled). The future is not unref'ed. */
int weft__future_run(weft_future *f, weft_task_fn fn, void *arg);

/* Fail a PENDING future without running it (a broken pool). */
int weft__future_fail_pending(weft_future *f, int code, const char *message);

/* Fast allocation for executors: a future with two references (the
 * submitter's and the executor's), from a per-thread cache of freed futures
 * where possible. */
int weft__future_new2(weft_future **out);

#endif
