/* Internals the sync and thread modules share. */
#ifndef WEFT_INTERNAL_SYNC_H
#define WEFT_INTERNAL_SYNC_H

#include "weft/sync.h"

/* Acquire `lock`, parking until `deadline`; while parked the thread's state
 * shows (why, what), so an RLock or a Condition re-acquiring its lock shows
 * itself rather than the inner Lock. 0, WEFT_ETIMEDOUT or a parker's code. */
int weft__lock_acquire_until(weft_lock *lock, int64_t deadline, weft_wait_kind why,
                             const void *what);

#endif
