/*
 * The asyncio toolbox over tasks and futures: gather, shield, to_thread,
 * run_in_executor and weft_run. None of it needs task internals: each is a
 * future wired to other futures with done callbacks, which run in whatever
 * thread completes the child (the loop's, or a pool worker's), so the
 * shared state is atomic or guarded by the futures themselves.
 */
#include <stdlib.h>
#include <string.h>

#include "internal/error.h"
#include "internal/future.h"
#include "internal/loop.h"
#include "weft/loop.h"

/* --------------------------------------------------------------- gather */

typedef struct gather {
    weft_future *outer;
    size_t n;
    size_t left;             /* children not done (atomic) */
    unsigned refs;           /* callbacks still to run: n + 1 (atomic) */
    bool return_exceptions;
    weft_future *children[]; /* references */
} gather;

static void gather_unref(gather *g)
{
    if (__atomic_sub_fetch(&g->refs, 1, __ATOMIC_ACQ_REL))
        return;
    for (size_t i = 0; i < g->n; i++)
        weft_future_unref(g->children[i]);
    weft_future_unref(g->outer);
    free(g);
}

static int gather_child_done(weft_future *child, void *arg)
{
    gather *g = arg;
    /* Reading the outcome marks a failed task's error retrieved: the
     * gather reports it (or its caller reads the children). */
    int code = weft_future_cancelled(child) ? 0 : weft_future_exception(child, 0);
    if (!g->return_exceptions) {
        /* The first failure (or cancellation) ends the gather; the other
         * children go on, as asyncio's. A later one finds it done. */
        if (weft_future_cancelled(child))
            weft_future_set_error(g->outer, WEFT_ECANCELLED, "a gathered future was cancelled");
        else if (code)
            weft_future_set_error(g->outer, code, weft_future_message(child));
    }
    if (__atomic_sub_fetch(&g->left, 1, __ATOMIC_ACQ_REL) == 0)
        weft_future_set_result(g->outer, NULL);
    gather_unref(g);
    return 0;
}

/* The outer future ended: if by cancellation, the children are cancelled. */
static int gather_outer_done(weft_future *outer, void *arg)
{
    gather *g = arg;
    if (weft_future_cancelled(outer))
        for (size_t i = 0; i < g->n; i++)
            weft_future_cancel(g->children[i]);
    gather_unref(g);
    return 0;
}

int weft_gather(weft_future *const *fs, size_t n, bool return_exceptions, weft_future **out)
{
    if (!out || (n && !fs))
        return WEFT_EINVAL;
    for (size_t i = 0; i < n; i++)
        if (!fs[i])
            return WEFT_EINVAL;
    weft_future *outer;
    int rc = weft_future_new(&outer);
    if (rc)
        return rc;
    if (n == 0) {
        weft_future_set_result(outer, NULL);
        *out = outer;
        return 0;
    }
    gather *g = malloc(sizeof *g + n * sizeof g->children[0]);
    if (!g) {
        weft_future_unref(outer);
        return WEFT_ENOMEM;
    }
    *g = (gather){.outer = weft_future_ref(outer), .n = n, .left = n, .refs = (unsigned)n + 1,
                  .return_exceptions = return_exceptions};
    for (size_t i = 0; i < n; i++)
        g->children[i] = weft_future_ref(fs[i]);
    /* A new future's first callback node is embedded: this cannot fail. */
    weft_future_add_done_callback(outer, gather_outer_done, g);
    for (size_t i = 0; i < n; i++) {
        if (weft_future_add_done_callback(fs[i], gather_child_done, g)) {
            /* Out of memory for this child's callback node: the gather
             * cannot watch it, so it fails now; `left` never reaches 0. */
            weft_future_set_error(outer, WEFT_ENOMEM, "no memory to watch a gathered future");
            gather_unref(g);
        }
    }
    *out = outer;
    return 0;
}

/* --------------------------------------------------------------- shield */

static int shield_copy(weft_future *inner, void *arg)
{
    weft_future *outer = arg;
    if (weft_future_cancelled(inner)) {
        weft_future_cancel(outer);
    } else {
        void *res = NULL;
        int code = weft_future_result(inner, &res, 0);
        if (code)
            weft_future_set_error(outer, code, weft_future_message(inner));
        else
            weft_future_set_result(outer, res);
    }
    weft_future_unref(outer);
    return 0;
}

int weft_shield(weft_future *f, weft_future **out)
{
    if (!f || !out)
        return WEFT_EINVAL;
    weft_future *outer;
    int rc = weft_future_new(&outer);
    if (rc)
        return rc;
    weft_future_ref(outer);
    rc = weft_future_add_done_callback(f, shield_copy, outer);
    if (rc) {
        weft_future_unref(outer);
        weft_future_unref(outer);
        return rc;
    }
    *out = outer;
    return 0;
}

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
