/*
 * Timer: a weft_thread that waits out its interval on the timer's cancel
 * word through park (why EVENT, what the timer: Python's Timer waits on an
 * Event), then runs the function unless cancelled first. The word goes
 * once from WAITING to CANCELLED (cancel) or to FIRING (the thread, just
 * before fn): whichever CAS wins decides, so cancel knows whether fn runs.
 *
 * Ownership: the user owns the timer; its thread only borrows it, and
 * weft_timer_free joins the thread before freeing, so the thread never
 * outlives the struct. A free from fn itself cannot join: it marks the
 * timer and the thread frees it after fn returns, touching nothing of it
 * after that.
 */
#include <stdlib.h>

#include "internal/clock.h"
#include "internal/park.h"
#include "weft/thread.h"

enum { WAITING, CANCELLED, FIRING };

struct weft_timer {
    uint32_t cancelled; /* park key: WAITING, then CANCELLED or FIRING */
    uint32_t fired;     /* set (release) after fn returned */
    bool free_on_return; /* fn freed its own timer; only its thread touches it */
    double interval;
    weft_timer_fn fn;
    void *arg;
    weft_thread *thread;
};

static bool not_cancelled(void *ctx)
{
    weft_timer *t = ctx;
    return __atomic_load_n(&t->cancelled, __ATOMIC_ACQUIRE) == WAITING;
}

static void *timer_main(void *arg)
{
    weft_timer *t = arg;
    weft__park_spec spec = {
        .validate = not_cancelled,
        .ctx = t,
        .why = WEFT_WAIT_EVENT,
        .what = t,
    };
    int64_t deadline = weft__deadline(t->interval);
    for (;;) {
        int rc = weft__park(&t->cancelled, &spec, deadline, NULL);
        if (rc == WEFT_ETIMEDOUT)
            break;
        /* EAGAIN (refused: cancelled) or woken by cancel. */
        if (!not_cancelled(t))
            return NULL;
    }
    /* As Python: a cancel racing with the deadline may lose. */
    uint32_t waiting = WAITING;
    if (__atomic_compare_exchange_n(&t->cancelled, &waiting, FIRING, false, __ATOMIC_ACQ_REL,
                                    __ATOMIC_ACQUIRE)) {
        t->fn(t->arg);
        if (t->free_on_return) {
            weft_thread_unref(t->thread); /* a running thread keeps its record */
            free(t);
            return NULL;
        }
        __atomic_store_n(&t->fired, 1, __ATOMIC_RELEASE);
    }
    return NULL;
}

int weft_timer_new(weft_timer **out, double interval, weft_timer_fn fn, void *arg,
                   const weft_thread_opts *opts)
{
    if (!out || !fn || interval != interval)
        return WEFT_EINVAL;
    if (interval < 0)
        interval = 0; /* Python's Timer fires at once: its wait(-1) polls */
    weft_timer *t = calloc(1, sizeof *t);
    if (!t)
        return WEFT_ENOMEM;
    t->interval = interval;
    t->fn = fn;
    t->arg = arg;
    int rc = weft_thread_new(&t->thread, timer_main, t, opts);
    if (rc) {
        free(t);
        return rc;
    }
    *out = t;
    return 0;
}

int weft_timer_start(weft_timer *t)
{
    return t ? weft_thread_start(t->thread) : WEFT_EINVAL;
}

bool weft_timer_cancel(weft_timer *t)
{
    if (!t)
        return false;
    uint32_t waiting = WAITING;
    if (__atomic_compare_exchange_n(&t->cancelled, &waiting, CANCELLED, false, __ATOMIC_ACQ_REL,
                                    __ATOMIC_ACQUIRE)) {
        weft__unpark(&t->cancelled, SIZE_MAX, NULL, NULL);
        return true;
    }
    return waiting == CANCELLED;
}

int weft_timer_join(weft_timer *t, double timeout)
{
    return t ? weft_thread_join(t->thread, timeout) : WEFT_EINVAL;
}

bool weft_timer_fired(const weft_timer *t)
{
    return t && __atomic_load_n(&t->fired, __ATOMIC_ACQUIRE);
}

weft_thread *weft_timer_thread(const weft_timer *t)
{
    return t ? t->thread : NULL;
}

void weft_timer_free(weft_timer *t)
{
    if (!t)
        return;
    if (weft_current_thread() == t->thread) {
        /* From fn: its thread frees the timer once fn returns. */
        t->free_on_return = true;
        return;
    }
    weft_timer_cancel(t);
    weft_thread_join(t->thread, WEFT_FOREVER); /* ESTATE if never started */
    weft_thread_unref(t->thread);
    free(t);
}
