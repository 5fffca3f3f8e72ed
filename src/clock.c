/* Time: the monotonic clock and sleeping. */
#include <errno.h>
#include <sched.h>
#include <time.h>

#include "internal/clock.h"
#include "internal/park.h"

double weft_monotonic(void)
{
    return (double)weft__now_ns() / 1e9;
}

int weft_sleep(double seconds)
{
    /* A duration, not a timeout: negative values (WEFT_FOREVER among
     * them) and NaN are bad input, as Python's time.sleep says. +inf and
     * values past the clock's range sleep for ever, as the same values do
     * as a timeout (a coroutine's sleep until it is cancelled). */
    if (!(seconds >= 0))
        return WEFT_EINVAL;
    if (weft__current_parker && weft__current_parker->nap)
        return weft__current_parker->nap(seconds); /* a coroutine: only it sleeps */
    if (seconds == 0) {
        sched_yield();
        return 0;
    }
    /* WEFT__NO_DEADLINE is some 292 years of uptime: an absolute sleep to
     * it does not end. */
    struct timespec ts = weft__ns_to_timespec(weft__deadline(seconds));
    weft__wait_slot_enter(WEFT_WAIT_SLEEP, NULL);
    /* Absolute deadline: a signal that interrupts the sleep does not stretch it. */
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
        ;
    weft__wait_slot_leave();
    return 0;
}

const char *weft_wait_kind_name(weft_wait_kind kind)
{
    static const char *const names[] = {
        [WEFT_WAIT_NONE] = "none",           [WEFT_WAIT_LOCK] = "lock",
        [WEFT_WAIT_RLOCK] = "rlock",         [WEFT_WAIT_CONDITION] = "condition",
        [WEFT_WAIT_SEMAPHORE] = "semaphore", [WEFT_WAIT_EVENT] = "event",
        [WEFT_WAIT_BARRIER] = "barrier",     [WEFT_WAIT_JOIN] = "join",
        [WEFT_WAIT_SLEEP] = "sleep",         [WEFT_WAIT_OTHER] = "other",
        [WEFT_WAIT_QUEUE] = "queue",         [WEFT_WAIT_FUTURE] = "future",
    };
    if ((unsigned)kind < sizeof names / sizeof names[0] && names[kind])
        return names[kind];
    return "unknown";
}
