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
        if (!g->aborting) {
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

int weft_task_group_wait(weft_task_group *g)
{
    if (!g)
        return WEFT_EINVAL;
    if (g->finished)
        return g->result;
    if (weft_current_task() != g->parent)
        return WEFT_ESTATE;
    g->exiting = true;
    /* A body that was cancelled from outside (a request still standing
     * that is not the group's own) ends the group: the children are
     * cancelled too, as asyncio's __aexit__ does with a CancelledError. */
    bool cancelled_from_outside =
        weft_task_cancelling(g->parent) > (g->cancelled_parent ? 1u : 0u);
    if (cancelled_from_outside)
        group_abort(g);
    while (g->active > 0) {
        int rc = weft_event_wait(&g->all_done, WEFT_FOREVER);
        if (rc == WEFT_ECANCELLED) {
            /* Cancelled while waiting: the children are cancelled and
             * still awaited. The group's own request is not "outside". */
            if (!g->cancelled_parent)
                cancelled_from_outside = true;
            group_abort(g);
        }
    }
    if (g->cancelled_parent)
        weft_task_uncancel(g->parent, NULL);
    g->finished = true;
    if (g->nerrors)
        g->result = weft_future_exception(g->errors[0], 0);
    else
        g->result = cancelled_from_outside ? WEFT_ECANCELLED : 0;
    return g->result;
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
