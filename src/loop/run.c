/*
 * Between threads and the loop: run_in_executor and to_thread (a call on a
 * pool, awaited), weft_run (asyncio.run: a loop for one main task, and its
 * clean-up) and run_coroutine_threadsafe (a task started from another
 * thread, seen there as a plain future).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "internal/check.h"
#include "internal/error.h"
#include "internal/future.h"
#include "internal/loop.h"
#include "internal/task.h"
#include "weft/loop.h"

/* ------------------------------------------------------ threads, run */

int weft_run_in_executor(weft_loop *loop, weft_executor *ex, weft_task_fn fn, void *arg,
                         weft_future **out)
{
    if (!fn || !out)
        return WEFT_EINVAL;
    if (!loop && !weft__loop_running())
        return WEFT_ESTATE;
    if (!ex && !(ex = weft_default_executor()))
        return WEFT_ENOMEM;
    return weft_executor_submit(ex, fn, arg, out);
}

int weft_to_thread(weft_task_fn fn, void *arg, void **result)
{
    if (!fn)
        return WEFT_EINVAL;
    weft_executor *ex = weft_default_executor();
    if (!ex)
        return WEFT_ENOMEM;
    weft_future *f;
    weft__set_last_message(NULL);
    int rc = weft_executor_submit(ex, fn, arg, &f);
    if (rc)
        return rc;
    rc = weft_await(f, result, WEFT_FOREVER);
    if (rc)
        weft__set_last_message(weft_future_message(f));
    if (rc == WEFT_ECANCELLED && !weft_future_done(f)) {
        /* Cancelled while fn runs on a worker: fn may still use arg, which
         * in C usually lives on this coroutine's stack, so wait for it to
         * end (without being cancelled again) before returning. */
        weft__future_wait_uncancellable(f);
    }
    weft_future_unref(f);
    return rc;
}

int weft_run(weft_task_fn main, void *arg, void **result)
{
    if (!main)
        return WEFT_EINVAL;
    if (weft__loop_running())
        return WEFT_ESTATE;
    weft_loop *loop;
    int rc = weft_loop_new(&loop, NULL);
    if (rc)
        return rc;
    weft_future *task;
    weft__set_last_message(NULL);
    rc = weft_create_task(loop, main, arg, "main", &task);
    if (rc == 0) {
        rc = weft_loop_run_until_complete(loop, task, result);
        if (rc)
            weft__set_last_message(weft_future_message(task));
        weft_future_unref(task);
    }
    /* The tasks main left behind are cancelled and run to their end,
     * silently (asyncio.run's clean-up); then the loop goes. */
    weft__tasks_finish(loop, false);
    weft_loop_free(loop);
    return rc;
}

/* ------------------------------------------- run_coroutine_threadsafe */

/*
 * asyncio.run_coroutine_threadsafe. The caller's thread gets `outer`, a
 * plain future; the loop's thread starts the task and chains it to outer.
 * As in Python, outer stays PENDING while the task runs, so the caller may
 * cancel it at any time: it ends CANCELLED at once, and a hook on it passes
 * the cancel on to the task (a task's cancel from another thread travels to
 * its loop). When the task ends, its outcome is copied into outer, unless
 * outer was cancelled (or set) first.
 *
 * The record has one owner at a time: the queued item, then (once the task
 * is made) the task's done callback, which frees it. The hook on outer lives
 * in the record, so the callback removes it before freeing: removal waits
 * for a hook running in the canceller's thread (it holds outer's lock).
 */
typedef struct rct {
    weft__loop_item item;
    weft__future_hook hook; /* on outer, while the task runs */
    weft_loop *loop;
    weft_task_fn fn;
    void *arg;
    weft_future *outer;     /* a reference */
    weft_future *task;      /* a reference, once made */
} rct;

static void rct_free(rct *r)
{
    weft_future_unref(r->outer);
    weft_future_unref(r->task);
    free(r);
}

/* Outer is done, in the thread that ended it, under its lock: a cancel goes
 * on to the task. A task's cancel is a request, delivered at its next step
 * on the loop; it never ends the task in the caller, so rct_task_done (which
 * takes outer's lock to remove this hook) cannot run inside this hook. */
static void rct_outer_done(weft__future_hook *h, weft_future *outer)
{
    rct *r = CONTAINER_OF(h, rct, hook);
    if (weft_future_cancelled(outer))
        weft_future_cancel(r->task);
}

/* Python's _set_concurrent_future_state: outer goes RUNNING only now, and
 * not at all if it was cancelled. A message that cannot be copied is left
 * out rather than leave outer RUNNING for ever. */
static void rct_settle(weft_future *outer, int code, void *result, const char *message)
{
    if (weft_future_set_running_or_notify_cancel(outer) != 0)
        return;
    if (code == 0)
        weft_future_set_result(outer, result);
    else if (weft_future_set_error(outer, code, message) == WEFT_ENOMEM)
        weft_future_set_error(outer, code, NULL);
}

/* The task ended (on the loop's thread, no lock held). */
static int rct_task_done(weft_future *task, void *arg)
{
    rct *r = arg;
    weft__future_hook_remove(r->outer, &r->hook);
    void *res = NULL;
    int rc = weft_future_result(task, &res, 0); /* marks the outcome retrieved */
    if (weft_future_cancelled(task))
        weft_future_cancel(r->outer);
    else
        rct_settle(r->outer, rc, res, weft_future_message(task));
    rct_free(r);
    return 0;
}

static void rct_start(weft__loop_item *it)
{
    rct *r = CONTAINER_OF(it, rct, item);
    if (weft_future_done(r->outer)) { /* cancelled before it started */
        rct_free(r);
        return;
    }
    int rc = weft_create_task(r->loop, r->fn, r->arg, NULL, &r->task);
    if (rc != 0) {
        r->task = NULL;
        rct_settle(r->outer, rc, NULL, "run_coroutine_threadsafe: the task could not start");
        rct_free(r);
        return;
    }
    r->hook = (weft__future_hook){.fn = rct_outer_done};
    bool hooked = weft__future_hook_add(r->outer, &r->hook);
    if (!hooked && weft_future_cancelled(r->outer))
        weft_future_cancel(r->task);
    /* A task not yet started has no callback: the first one is stored in
     * the future, so this cannot run out of memory; if it ever did, the
     * task is cancelled and outer told why, rather than left pending. */
    rc = weft_future_add_done_callback(r->task, rct_task_done, r);
    if (rc != 0) {
        weft__future_hook_remove(r->outer, &r->hook);
        weft_future_cancel(r->task);
        rct_settle(r->outer, rc, NULL, "run_coroutine_threadsafe: cannot chain the task");
        rct_free(r);
    }
}

static void rct_describe(weft__loop_item *it, char *buf, size_t len)
{
    (void)it;
    snprintf(buf, len, "run_coroutine_threadsafe start");
}

/* The loop closed before the task could start: it never will. */
static void rct_drop(weft__loop_item *it)
{
    rct *r = CONTAINER_OF(it, rct, item);
    weft_future_cancel(r->outer);
    rct_free(r);
}

int weft_run_coroutine_threadsafe(weft_loop *loop, weft_task_fn fn, void *arg,
                                  weft_future **out)
{
    if (out)
        *out = NULL;
    weft_loop *L = loop ? loop : weft__loop_running();
    if (!L)
        return WEFT_ESTATE;
    if (!fn || !out)
        return WEFT_EINVAL;
    rct *r = malloc(sizeof *r);
    if (!r)
        return WEFT_ENOMEM;
    *r = (rct){
        .item = {.run = rct_start, .describe = rct_describe, .drop = rct_drop},
        .loop = L,
        .fn = fn,
        .arg = arg,
    };
    int rc = weft_future_new(&r->outer);
    if (rc != 0) {
        free(r);
        return rc;
    }
    /* The caller's reference, taken before the loop can see the record. */
    weft_future *f = weft_future_ref(r->outer);
    rc = weft__loop_ready_threadsafe(L, &r->item);
    if (rc != 0) {
        weft_future_unref(f);
        rct_free(r);
        return rc;
    }
    *out = f;
    return 0;
}
