/*
 * Sleeping (Python's time.sleep and asyncio.sleep in one call). It sits
 * above park: a thread's sleep shows in its wait slot, a coroutine's is its
 * parker's nap. The clock itself is below, in clock.c.
 */
#include <errno.h>
#include <sched.h>
#include <time.h>

#include "internal/clock.h"
#include "internal/park.h"

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
