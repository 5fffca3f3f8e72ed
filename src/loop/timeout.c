/*
 * Timeout scopes (asyncio.timeout and timeout_at): a deadline over a block
 * of a task's code, ending its wait there with a cancellation that exit
 * turns into WEFT_ETIMEDOUT.
 *
 * A scope lives in the caller's storage, which nothing initialises before
 * weft_timeout_enter: `self` pointing at the scope itself marks one that
 * enter has set up, and no other field of a scope without it is read.
 * Enter reads nothing at all (the storage may be uninitialised); the calls
 * after it read `self`, which a zeroed scope never entered does not match.
 *
 * A task chains the scopes it has entered and not left (innermost first,
 * through `outer`), and one timer of its own, in its record, is armed for
 * the earliest deadline among them: the loop never holds a pointer into a
 * scope. So a scope that is still entered when its task ends (a bug: the
 * frame holding it has returned) is dropped with the task, unread; its
 * storage may be reused. A frame that returns with a scope entered while
 * its task goes on breaks the chain, as freeing a lock's memory while it
 * is held would: exit before returning.
 *
 * Everything here runs on the loop's thread.
 */
#include <stdbool.h>
#include <stdint.h>

#include "internal/check.h"
#include "internal/clock.h"
#include "internal/loop.h"
#include "internal/task.h"
#include "weft/loop.h"

typedef struct weft__scope {
    struct weft__scope *self;  /* == the scope, once entered */
    weft__task_scopes *sc;     /* the scopes of the task that entered it */
    struct weft__scope *outer; /* the next scope out on that task's chain */
    int64_t when;              /* the deadline, WEFT__NO_DEADLINE for none */
    int cancelling_at_enter;
    bool live;                 /* entered and not yet exited */
    bool expired;              /* its deadline passed while it was live */
} scope;

_Static_assert(sizeof(scope) <= sizeof(weft_timeout), "weft_timeout too small");

/* Arm the task's scope timer for the earliest deadline of its live scopes
 * not expired yet (none: stopped). */
static int scopes_rearm(weft__task_scopes *sc)
{
    weft_loop *loop;
    (void)weft__task_of_scopes(sc, &loop);
    int64_t first = WEFT__NO_DEADLINE;
    for (scope *s = sc->innermost; s; s = s->outer)
        if (!s->expired && s->when < first)
            first = s->when;
    if (first == WEFT__NO_DEADLINE) {
        weft__loop_timer_stop(loop, &sc->timer);
        return 0;
    }
    if (weft__loop_timer_pending(&sc->timer) && sc->timer.when == first)
        return 0;
    return weft__loop_timer_start(loop, &sc->timer, first);
}

/* The earliest deadline passed: every scope due expires, each with a
 * cancel request of its own (asyncio's handles, one per scope). */
static void scopes_fired(weft__loop_timer *tm)
{
    weft__task_scopes *sc = CONTAINER_OF(tm, weft__task_scopes, timer);
    weft_loop *loop;
    weft_future *f = weft__task_of_scopes(sc, &loop);
    int64_t now = weft__now_ns();
    for (scope *s = sc->innermost; s; s = s->outer) {
        if (!s->expired && s->when <= now) {
            s->expired = true;
            weft_task_cancel_msg(f, NULL); /* on the loop's thread: at once */
        }
    }
    /* Growing the heap is the only failure, and this timer's slot was
     * just freed: a new start cannot fail here. */
    (void)scopes_rearm(sc);
}

/* Loop time `when` (seconds) as a deadline: WEFT_FOREVER is none; 1 on a
 * NaN or another negative time. */
static int when_to_ns(double when, int64_t *ns)
{
    if (when == WEFT_FOREVER) {
        *ns = WEFT__NO_DEADLINE;
        return 0;
    }
    if (!(when >= 0))
        return 1;
    *ns = when >= 9.2e9 ? WEFT__NO_DEADLINE : (int64_t)(when * 1e9);
    return 0;
}

static bool scope_live(const scope *s)
{
    return s->self == s && s->live;
}

/* Enter reads nothing of the storage: `weft_timeout t;` holds garbage, or
 * a dead scope's bytes where a pooled stack ran another task. A scope is
 * live in this task exactly when it is on the task's chain. */
static int scope_enter(weft_timeout *tmo, int64_t when)
{
    scope *s = (scope *)tmo;
    weft__task_scopes *sc = weft__task_running_scopes();
    weft_loop *loop;
    weft_future *f = weft__task_of_scopes(sc, &loop);
    for (scope *on = sc->innermost; on; on = on->outer)
        if (on == s)
            return WEFT_ESTATE; /* entered already (asyncio: RuntimeError) */
    *s = (scope){
        .self = s,
        .sc = sc,
        .outer = sc->innermost,
        .when = when,
        .cancelling_at_enter = (int)weft_task_cancelling(f),
        .live = true,
    };
    sc->innermost = s;
    sc->timer.fire = scopes_fired;
    /* A deadline already past expires at the loop's next iteration. */
    int rc = scopes_rearm(sc);
    if (rc) {
        sc->innermost = s->outer;
        s->live = false;
    }
    return rc;
}

int weft_timeout_enter(weft_timeout *tmo, double delay)
{
    if (!tmo || weft__timeout_valid(delay))
        return WEFT_EINVAL;
    if (!weft__task_running_scopes())
        return WEFT_ESTATE;
    return scope_enter(tmo, weft__deadline(delay));
}

int weft_timeout_enter_at(weft_timeout *tmo, double when)
{
    int64_t ns;
    if (!tmo || when_to_ns(when, &ns))
        return WEFT_EINVAL;
    if (!weft__task_running_scopes())
        return WEFT_ESTATE;
    return scope_enter(tmo, ns);
}

int weft_timeout_reschedule(weft_timeout *tmo, double when)
{
    scope *s = (scope *)tmo;
    int64_t ns;
    if (!s || when_to_ns(when, &ns))
        return WEFT_EINVAL;
    /* Never entered, exited, or expiring already (asyncio: RuntimeError). */
    if (!scope_live(s) || s->expired)
        return WEFT_ESTATE;
    weft_loop *loop;
    (void)weft__task_of_scopes(s->sc, &loop);
    if (!weft__loop_on_its_thread(loop))
        return WEFT_ESTATE;
    int64_t old = s->when;
    s->when = ns;
    int rc = scopes_rearm(s->sc);
    if (rc)
        s->when = old;
    return rc;
}

double weft_timeout_when(const weft_timeout *tmo)
{
    const scope *s = (const scope *)tmo;
    if (!s || s->self != s || s->when == WEFT__NO_DEADLINE)
        return WEFT_FOREVER;
    return (double)s->when / 1e9;
}

bool weft_timeout_expired(const weft_timeout *tmo)
{
    const scope *s = (const scope *)tmo;
    return s && s->self == s && s->expired;
}

int weft_timeout_exit(weft_timeout *tmo, int rc)
{
    scope *s = (scope *)tmo;
    if (!s || !scope_live(s) || s->sc != weft__task_running_scopes())
        return WEFT_ESTATE;
    weft__task_scopes *sc = s->sc;
    weft_loop *loop;
    weft_future *f = weft__task_of_scopes(sc, &loop);
    /* Off the chain, wherever it is (an inner scope left entered is the
     * caller's bug, not a reason to lose this one). */
    for (scope **pp = &sc->innermost; *pp; pp = &(*pp)->outer) {
        if (*pp == s) {
            *pp = s->outer;
            break;
        }
    }
    s->outer = NULL;
    s->live = false;
    (void)scopes_rearm(sc); /* at most moves the timer later: no growth */
    /* The expiry's request is withdrawn; only when no other request came
     * since enter is the cancellation the scope's own, and a timeout. */
    unsigned left = 0;
    if (s->expired && weft_task_uncancel(f, &left) == 0 &&
        left <= (unsigned)s->cancelling_at_enter && rc == WEFT_ECANCELLED)
        rc = WEFT_ETIMEDOUT;
    return rc;
}
