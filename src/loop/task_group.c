/*
 * TaskGroup: structured concurrency (asyncio.TaskGroup). Children are tasks
 * of the running loop; their done callbacks run on the loop's thread, so
 * the group needs no lock. The group is reference-counted by its user and
 * by each child's pending callback, so freeing it early (a body that bails
 * out) only cancels the children.
 */
#include <stdlib.h>

#include "internal/loop.h"
#include "weft/loop.h"
#include "weft/sync.h"

struct weft_task_group {
    weft_future *parent;       /* the task that owns the group (a reference) */
    weft_future **children;    /* references, for cancelling them */
    size_t n, cap;
    size_t active;             /* children not done */
    weft_future **errors;      /* failed children (references), in order */
    size_t nerrors, errcap;
    unsigned refs;             /* the user's, plus one per active child */
    bool aborting;             /* a child failed: the others are cancelled */
    bool exiting;              /* the parent is in weft_task_group_wait */
    bool finished;             /* wait returned */
    bool cancelled_parent;     /* the group asked the parent to cancel */
    unsigned cancelling_at_new; /* the parent's cancel requests then */
    int result;                /* what wait returned */
    weft_event all_done;       /* set when the last child ends during wait */
};

static void group_unref(weft_task_group *g)
{
    if (--g->refs)
        return;
    for (size_t i = 0; i < g->n; i++)
        weft_future_unref(g->children[i]);
    for (size_t i = 0; i < g->nerrors; i++)
        weft_future_unref(g->errors[i]);
    free(g->children);
    free(g->errors);
    weft_event_destroy(&g->all_done);
    weft_future_unref(g->parent);
    free(g);
}

static void group_abort(weft_task_group *g)
{
    if (g->aborting)
        return;
    g->aborting = true;
    for (size_t i = 0; i < g->n; i++)
        if (!weft_future_done(g->children[i]))
            weft_future_cancel(g->children[i]);
}

static int child_done(weft_future *child, void *arg)
{
    weft_task_group *g = arg;
    g->active--;
    if (!weft_future_cancelled(child) && weft_future_exception(child, 0) != 0) {
        if (g->nerrors == g->errcap) {
            size_t cap = g->errcap ? 2 * g->errcap : 4;
            weft_future **e = realloc(g->errors, cap * sizeof *e);
            if (e) {
                g->errors = e;
                g->errcap = cap;
            }
        }
        /* Without room the failure still aborts the group; only the list
         * misses it (the first failure always fits: errcap starts at 4). */
        if (g->nerrors < g->errcap)
            g->errors[g->nerrors++] = weft_future_ref(child);
        if (weft_future_done(g->parent)) {
            /* A group freed without wait by a parent that has ended:
             * nobody will read this failure (asyncio reports it too). */
            weft_loop_error e = {
                .message = "a task group's child failed after its parent task ended",
                .code = weft_future_exception(child, 0),
                .detail = weft_future_message(child),
                .task = child,
            };
            weft_loop_call_exception_handler(weft_get_running_loop(), &e);
        } else if (!g->aborting) {
            group_abort(g);
            /* The parent, still in the body, must stop too (asyncio). */
            if (!g->exiting && !weft_future_done(g->parent)) {
                g->cancelled_parent = true;
                weft_future_cancel(g->parent);
            }
        }
    }
    if (g->active == 0 && g->exiting)
        weft_event_set(&g->all_done);
    group_unref(g);
    return 0;
}

int weft_task_group_new(weft_task_group **out)
{
    if (!out)
        return WEFT_EINVAL;
    weft_future *parent = weft_current_task();
    if (!parent)
        return WEFT_ESTATE;
    weft_task_group *g = calloc(1, sizeof *g);
    if (!g)
        return WEFT_ENOMEM;
    g->errors = malloc(4 * sizeof *g->errors);
    if (!g->errors) {
        free(g);
        return WEFT_ENOMEM;
    }
    g->errcap = 4;
    g->refs = 1;
    g->parent = weft_future_ref(parent);
    g->cancelling_at_new = weft_task_cancelling(parent);
    weft_event_init(&g->all_done);
    *out = g;
    return 0;
}

int weft_task_group_create_task(weft_task_group *g, weft_task_fn fn, void *arg, const char *name,
                                weft_future **out)
{
    if (!g || !fn)
        return WEFT_EINVAL;
    if (g->aborting || g->finished)
        return WEFT_ESTATE;
    if (g->n == g->cap) {
        size_t cap = g->cap ? 2 * g->cap : 8;
        weft_future **c = realloc(g->children, cap * sizeof *c);
        if (!c)
            return WEFT_ENOMEM;
        g->children = c;
        g->cap = cap;
    }
    weft_future *child;
    int rc = weft_create_task(NULL, fn, arg, name, &child);
    if (rc)
        return rc;
    /* A new task's first done callback uses the future's embedded node:
     * this cannot fail. */
    g->refs++;
    g->active++;
    weft_future_add_done_callback(child, child_done, g);
    g->children[g->n++] = weft_future_ref(child);
    if (out)
        *out = child;
    else
        weft_future_unref(child);
    return 0;
}

/*
 * Exit, as asyncio's TaskGroup.__aexit__ (3.13 and later). Cancel requests
 * are counted on the parent (weft_task_cancelling): the group's own (a
 * child failed while the body ran, or weft_task_group_cancel) is withdrawn
 * here, and any other one that came since the group was made stands: it
 * ends the group with WEFT_ECANCELLED, or, when children failed (whose
 * code wins, as the ExceptionGroup does), it is re-armed, so that the
 * parent's next wait, or its return, still sees it. A cancellation that
 * reaches the parent while it waits here for the children, the group
 * already aborting after a failure, is therefore never lost.
 */
int weft_task_group_wait(weft_task_group *g)
{
    if (!g)
        return WEFT_EINVAL;
    if (g->finished)
        return g->result;
    if (weft_current_task() != g->parent)
        return WEFT_ESTATE;
    g->exiting = true;
    /* A body that was cancelled from outside (a request that is not the
     * group's own, made since the group was) ends the group: the children
     * are cancelled too, as asyncio's __aexit__ does with a CancelledError. */
    unsigned own = g->cancelled_parent ? 1u : 0u;
    bool cancelled = weft_task_cancelling(g->parent) > g->cancelling_at_new + own;
    if (cancelled)
        group_abort(g);
    while (g->active > 0) {
        if (weft_event_wait(&g->all_done, WEFT_FOREVER) == WEFT_ECANCELLED) {
            /* The group's own request, or one from outside: the counts
             * below tell them apart. The children are cancelled and still
             * awaited. */
            cancelled = true;
            group_abort(g);
        }
    }
    unsigned left = weft_task_cancelling(g->parent);
    if (g->cancelled_parent)
        weft_task_uncancel(g->parent, &left);
    g->finished = true;
    if (g->nerrors) {
        g->result = weft_future_exception(g->errors[0], 0);
        if (left > 0) {
            /* Withdrawn and made again: the count stays, and the request
             * is pending once more. */
            weft_task_uncancel(g->parent, NULL);
            weft_future_cancel(g->parent);
        }
    } else {
        g->result = cancelled && left > 0 ? WEFT_ECANCELLED : 0;
    }
    return g->result;
}

bool weft_task_group_cancel(weft_task_group *g)
{
    if (!g)
        return false;
    if (g->finished || g->aborting)
        return g->aborting;
    group_abort(g);
    /* The body stops at its next wait; wait withdraws this request, so the
     * group ends without WEFT_ECANCELLED. A parent already in wait needs
     * none. */
    if (!g->exiting && !weft_future_done(g->parent)) {
        g->cancelled_parent = true;
        weft_future_cancel(g->parent);
    }
    return true;
}

int weft_task_group_errors(const weft_task_group *g, weft_future **out, size_t cap, size_t *n)
{
    if (!g || !n || (cap && !out))
        return WEFT_EINVAL;
    for (size_t i = 0; i < g->nerrors && i < cap; i++)
        out[i] = g->errors[i];
    *n = g->nerrors;
    return 0;
}

void weft_task_group_free(weft_task_group *g)
{
    if (!g)
        return;
    /* Children still running (no wait) are cancelled; their callbacks hold
     * the group until they end. */
    group_abort(g);
    group_unref(g);
}
