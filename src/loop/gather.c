/*
 * gather and shield (asyncio.gather, asyncio.shield). Neither needs task
 * internals: each is a future wired to other futures with done callbacks,
 * which run in whatever thread completes the child (the loop's, or a pool
 * worker's), so the shared state is atomic or guarded by the futures
 * themselves.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "internal/error.h"
#include "internal/future.h"
#include "internal/task.h"
#include "weft/loop.h"

/* --------------------------------------------------------------- gather */

/*
 * The outer future is owned (weft/internal/future.h): its cancel is
 * asyncio's _GatheringFuture.cancel, a request passed to the children,
 * and the outer ends only through them. Without return_exceptions the
 * first child that fails or ends cancelled ends it; with it, the last
 * child does, and a cancel request then ends it with WEFT_ECANCELLED
 * whatever the children's outcomes (asyncio's gather propagates its
 * cancellation regardless of return_exceptions). Either way the outer is
 * FINISHED with WEFT_ECANCELLED, not CANCELLED, as asyncio's outer gets a
 * CancelledError as its exception.
 *
 * Lifetime: g is shared by the n children's callbacks and the outer's
 * record (its destroy hook), so refs starts at n + 1. g holds a reference
 * to the outer until the last child is done.
 */
typedef struct gather {
    weft_future *outer;      /* a reference until the last child is done */
    size_t n;
    size_t left;             /* children not done (atomic) */
    size_t refs;             /* see above (atomic) */
    int cancel_requested;    /* the outer's cancel asked for it (atomic) */
    bool return_exceptions;
    weft_future *children[]; /* references */
} gather;

static const weft__future_owner gather_owner;

static gather *gather_of(void *room)
{
    return *(gather **)room;
}

static void gather_unref(gather *g)
{
    if (__atomic_sub_fetch(&g->refs, 1, __ATOMIC_ACQ_REL))
        return;
    for (size_t i = 0; i < g->n; i++)
        weft_future_unref(g->children[i]);
    free(g);
}

/* One child less to wait for (`child` is done, or NULL: one the gather
 * could not watch); the last one ends the outer. */
static void gather_child_gone(gather *g, weft_future *child)
{
    if (__atomic_sub_fetch(&g->left, 1, __ATOMIC_ACQ_REL))
        return;
    weft_future *outer = g->outer;
    g->outer = NULL;
    if (__atomic_load_n(&g->cancel_requested, __ATOMIC_ACQUIRE)) {
        /* The last child's cancel message, as asyncio's CancelledError. */
        const char *msg = child && weft_future_cancelled(child) ? weft_future_message(child) : NULL;
        weft_future_set_error(outer, WEFT_ECANCELLED, msg ? msg : "the gather was cancelled");
    } else {
        weft_future_set_result(outer, NULL);
    }
    weft_future_unref(outer);
}

static int gather_child_done(weft_future *child, void *arg)
{
    gather *g = arg;
    /* Reading the outcome marks a failed task's error retrieved: the
     * gather reports it (or its caller reads the children). */
    bool cancelled = weft_future_cancelled(child);
    int code = cancelled ? 0 : weft_future_exception(child, 0);
    if (!g->return_exceptions) {
        /* The first failure (or cancellation) ends the gather; the other
         * children go on, as asyncio's. A later one finds it done. */
        const char *msg = weft_future_message(child);
        if (cancelled)
            weft_future_set_error(g->outer, WEFT_ECANCELLED,
                                  msg ? msg : "a gathered future was cancelled");
        else if (code)
            weft_future_set_error(g->outer, code, msg);
    }
    gather_child_gone(g, child);
    gather_unref(g);
    return 0;
}

/* Any thread, the outer not done: cancel the children not done, with
 * msg (NULL: none). True if one of them took it; false when they are all
 * done already (the outer then gets their outcome, asyncio's
 * test_cancel_gather_1). */
static bool gather_cancel_children(gather *g, const char *msg)
{
    /* Set first: a child cancelled here may end at once, in this call,
     * and its callback must see the request. */
    __atomic_store_n(&g->cancel_requested, 1, __ATOMIC_RELEASE);
    bool any = false;
    for (size_t i = 0; i < g->n; i++)
        if (!weft_future_done(g->children[i]) && weft_task_cancel_msg(g->children[i], msg))
            any = true;
    if (!any)
        __atomic_store_n(&g->cancel_requested, 0, __ATOMIC_RELEASE);
    return any;
}

static bool gather_cancel(weft_future *outer, void *room)
{
    return gather_cancel_children(gather_of(room), NULL);
}

static bool gather_cancel_msg(weft_future *f, void *room, const char *msg)
{
    if (weft_future_done(f))
        return false;
    return gather_cancel_children(gather_of(room), msg);
}

static void gather_destroy(weft_future *outer, void *room)
{
    gather_unref(gather_of(room));
}

static const weft__future_owner gather_owner = {.cancel = gather_cancel,
                                                .destroy = gather_destroy};

/* Tasks treat a gather's cancel as a request, as their own (task.c). */
static const weft__cancel_request gather_request = {.owner = &gather_owner,
                                                    .cancel_msg = gather_cancel_msg};

int weft_gather(weft_future *const *fs, size_t n, bool return_exceptions, weft_future **out)
{
    if (!out || (n && !fs))
        return WEFT_EINVAL;
    if (n > (SIZE_MAX - sizeof(gather)) / sizeof(weft_future *))
        return WEFT_ENOMEM; /* more than memory can hold: the size would wrap */
    for (size_t i = 0; i < n; i++)
        if (!fs[i])
            return WEFT_EINVAL;
    weft_future *outer;
    if (n == 0) {
        int rc = weft_future_new(&outer);
        if (rc)
            return rc;
        weft_future_set_result(outer, NULL);
        *out = outer;
        return 0;
    }
    gather *g = malloc(sizeof *g + n * sizeof g->children[0]);
    if (!g)
        return WEFT_ENOMEM;
    weft__task_set_cancel_request(&gather_request);
    void *room;
    /* Two references: the caller's and g's. */
    if (weft__future_new_owned(&outer, 2, &gather_owner, &room)) {
        free(g);
        return WEFT_ENOMEM;
    }
    *(gather **)room = g;
    *g = (gather){.outer = outer, .n = n, .left = n, .refs = n + 1,
                  .return_exceptions = return_exceptions};
    for (size_t i = 0; i < n; i++)
        g->children[i] = weft_future_ref(fs[i]);
    for (size_t i = 0; i < n; i++) {
        if (weft_future_add_done_callback(fs[i], gather_child_done, g)) {
            /* Out of memory for this child's callback node: the gather
             * cannot watch it, so it fails now and counts it gone. */
            weft_future_set_error(outer, WEFT_ENOMEM, "no memory to watch a gathered future");
            gather_child_gone(g, NULL);
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
