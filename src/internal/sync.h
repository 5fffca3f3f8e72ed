/* Internals the sync and thread modules share. */
#ifndef WEFT_INTERNAL_SYNC_H
#define WEFT_INTERNAL_SYNC_H

#include "internal/park.h"
#include "weft/sync.h"

/* Acquire `lock`, parking until `deadline`; while parked the thread's state
 * shows (why, what), so an RLock or a Condition re-acquiring its lock shows
 * itself rather than the inner Lock. 0, WEFT_ETIMEDOUT or a parker's code. */
int weft__lock_acquire_until(weft_lock *lock, int64_t deadline, weft_wait_kind why,
                             const void *what);

/* Take one of weft's own short-lived internal locks (a queue's, a future's,
 * a pool's). Inside a coroutine the wait is not a cancellation point: the
 * caller's critical section must run with the lock held whatever happens,
 * and a cancel request stays pending for the task's next wait. */
static inline void weft__lock_take(weft_lock *lock)
{
    if (weft_lock_acquire(lock, 0) == 0)
        return;
    weft__cancel_mask();
    weft_lock_acquire(lock, WEFT_FOREVER);
    weft__cancel_unmask();
}

#endif
