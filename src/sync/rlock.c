/*
 * RLock: a Lock plus an owner and a recursion count.
 *
 * owner_ is written only by the thread that holds (or is taking) the inner
 * lock, but any thread reads it to ask "is it mine?", so every access is a
 * relaxed atomic. A relaxed read is enough: a thread can only ever find its
 * own id there if it stored it itself, and what it stored is visible to it.
 * count_ is touched only by the owner.
 */
#include "internal/clock.h"
#include "internal/park.h"
#include "internal/sync.h"

static uintptr_t rlock_owner(const weft_rlock *r)
{
    return __atomic_load_n(&r->owner_, __ATOMIC_RELAXED);
}

static void rlock_take(weft_rlock *r, uintptr_t me)
{
    __atomic_store_n(&r->owner_, me, __ATOMIC_RELAXED);
    r->count_ = 1;
}

/* The owner re-enters. A depth past 2^32-1 would wrap to "free". */
static int rlock_reenter(weft_rlock *r)
{
    if (r->count_ == UINT32_MAX)
        return WEFT_EOVERFLOW;
    r->count_++;
    return 0;
}

int weft_rlock_init(weft_rlock *rlock)
{
    if (!rlock)
        return WEFT_EINVAL;
    weft_lock_init(&rlock->lock_);
    rlock->count_ = 0;
    rlock->owner_ = 0;
    return 0;
}

void weft_rlock_destroy(weft_rlock *rlock)
{
    (void)rlock; /* it holds nothing to release */
}

/* Out of line, so that the free rlock's path stays short. */
static __attribute__((noinline)) int rlock_acquire_slow(weft_rlock *rlock, uintptr_t me,
                                                        double timeout)
{
    if (timeout == 0)
        return WEFT_ETIMEDOUT;
    int rc = weft__lock_acquire_until(&rlock->lock_, weft__deadline(timeout), WEFT_WAIT_RLOCK,
                                      rlock);
    if (rc == 0)
        rlock_take(rlock, me);
    return rc;
}

int weft_rlock_acquire(weft_rlock *rlock, double timeout)
{
    if (!rlock || weft__timeout_valid(timeout))
        return WEFT_EINVAL;
    uintptr_t me = weft__self_id();
    if (rlock_owner(rlock) == me)
        return rlock_reenter(rlock);
    if (weft_lock_acquire(&rlock->lock_, 0) != 0)
        return rlock_acquire_slow(rlock, me, timeout);
    rlock_take(rlock, me);
    return 0;
}

int weft_rlock_release(weft_rlock *rlock)
{
    if (!rlock)
        return WEFT_EINVAL;
    if (rlock_owner(rlock) != weft__self_id())
        return WEFT_ENOTOWNER;
    if (--rlock->count_ > 0)
        return 0;
    /* Clear the owner before the inner release publishes the lock as free:
     * the next owner must not find our id there. */
    __atomic_store_n(&rlock->owner_, 0, __ATOMIC_RELAXED);
    return weft_lock_release(&rlock->lock_);
}

bool weft_rlock_is_owned(const weft_rlock *rlock)
{
    return rlock && rlock_owner(rlock) == weft__self_id();
}

unsigned weft_rlock_count(const weft_rlock *rlock)
{
    return weft_rlock_is_owned(rlock) ? rlock->count_ : 0;
}

bool weft_rlock_locked(const weft_rlock *rlock)
{
    return rlock && weft_lock_locked(&rlock->lock_);
}
