/*
 * Condition: waiters park on the condition's own address, FIFO.
 *
 * Why notify can neither miss a waiter nor wake a wrong one: a waiter joins
 * the park queue while it still holds the user's lock and releases the lock
 * only in park's before_sleep, once queued. notify requires the lock, so any
 * waiter that counted itself in waiters_ is already queued when notify runs,
 * and a wake-up comes only from a notify: no spurious wake-ups, and
 * notify(n) wakes exactly min(n, queued) waiters, oldest first.
 *
 * waiters_ is protected by the user's lock. A waiter adds itself before
 * parking; a notifier subtracts the waiters it actually dequeued; a waiter
 * that timed out (and so was not dequeued by anyone) subtracts itself after
 * re-acquiring the lock. notify uses it to skip the park bucket when nobody
 * waits.
 */
#include "internal/clock.h"
#include "internal/park.h"
#include "internal/sync.h"

enum { KIND_LOCK, KIND_RLOCK };

static weft_lock *cond_lock(const weft_condition *c)
{
    return c->lock_;
}

static weft_rlock *cond_rlock(const weft_condition *c)
{
    return c->lock_;
}

int weft_condition_init(weft_condition *cond, weft_lock *lock)
{
    if (!cond)
        return WEFT_EINVAL;
    if (!lock) {
        weft_rlock_init(&cond->own_);
        return weft_condition_init_rlock(cond, &cond->own_);
    }
    cond->lock_ = lock;
    cond->kind_ = KIND_LOCK;
    cond->waiters_ = 0;
    weft_rlock_init(&cond->own_);
    return 0;
}

int weft_condition_init_rlock(weft_condition *cond, weft_rlock *rlock)
{
    if (!cond || !rlock)
        return WEFT_EINVAL;
    if (rlock != &cond->own_)
        weft_rlock_init(&cond->own_);
    cond->lock_ = rlock;
    cond->kind_ = KIND_RLOCK;
    cond->waiters_ = 0;
    return 0;
}

void weft_condition_destroy(weft_condition *cond)
{
    (void)cond; /* it holds nothing to release */
}

int weft_condition_acquire(weft_condition *cond, double timeout)
{
    if (!cond)
        return WEFT_EINVAL;
    return cond->kind_ == KIND_RLOCK ? weft_rlock_acquire(cond_rlock(cond), timeout)
                                     : weft_lock_acquire(cond_lock(cond), timeout);
}

int weft_condition_release(weft_condition *cond)
{
    if (!cond)
        return WEFT_EINVAL;
    return cond->kind_ == KIND_RLOCK ? weft_rlock_release(cond_rlock(cond))
                                     : weft_lock_release(cond_lock(cond));
}

bool weft_condition_locked(const weft_condition *cond)
{
    if (!cond)
        return false;
    return cond->kind_ == KIND_RLOCK ? weft_rlock_locked(cond->lock_)
                                     : weft_lock_locked(cond->lock_);
}

/* A plain Lock has no owner, so "held" can only mean "locked". */
static bool cond_held(const weft_condition *cond)
{
    return cond->kind_ == KIND_RLOCK ? weft_rlock_is_owned(cond_rlock(cond))
                                     : weft_lock_locked(cond_lock(cond));
}

/* Python's _release_save: drop every level of an RLock at once. */
static void cond_release_all(void *ctx)
{
    weft_condition *cond = ctx;
    if (cond->kind_ == KIND_RLOCK) {
        weft_rlock *r = cond_rlock(cond);
        r->count_ = 0;
        __atomic_store_n(&r->owner_, 0, __ATOMIC_RELAXED);
        weft_lock_release(&r->lock_);
    } else {
        weft_lock_release(cond_lock(cond));
    }
}

/* Python's _acquire_restore. No deadline: wait always returns with the lock
 * held. While blocked the thread's state shows the condition. */
static void cond_reacquire(weft_condition *cond, uint32_t depth)
{
    /* The caller held the lock and must hold it again whatever happens: a
     * coroutine cancelled meanwhile still waits for it (asyncio does too),
     * and sees the cancellation at its next wait. */
    weft__cancel_mask();
    if (cond->kind_ == KIND_RLOCK) {
        weft_rlock *r = cond_rlock(cond);
        weft__lock_acquire_until(&r->lock_, WEFT__NO_DEADLINE, WEFT_WAIT_CONDITION, cond);
        __atomic_store_n(&r->owner_, weft__self_id(), __ATOMIC_RELAXED);
        r->count_ = depth;
    } else {
        weft__lock_acquire_until(cond_lock(cond), WEFT__NO_DEADLINE, WEFT_WAIT_CONDITION, cond);
    }
    weft__cancel_unmask();
}

/* The caller holds the lock and has checked everything. */
static int cond_wait_until(weft_condition *cond, int64_t deadline)
{
    uint32_t depth = cond->kind_ == KIND_RLOCK ? cond_rlock(cond)->count_ : 0;
    weft__park_spec spec = {
        .before_sleep = cond_release_all,
        .ctx = cond,
        .why = WEFT_WAIT_CONDITION,
        .what = cond,
    };
    cond->waiters_++;
    int rc = weft__park(cond, &spec, deadline, NULL);
    cond_reacquire(cond, depth);
    if (rc != 0)
        cond->waiters_--;
    return rc;
}

int weft_condition_wait(weft_condition *cond, double timeout)
{
    if (!cond || weft__timeout_valid(timeout))
        return WEFT_EINVAL;
    if (!cond_held(cond))
        return WEFT_ENOTOWNER;
    /* Nobody can notify while we hold the lock: polling cannot succeed. */
    if (timeout == 0)
        return WEFT_ETIMEDOUT;
    return cond_wait_until(cond, weft__deadline(timeout));
}

int weft_condition_wait_for(weft_condition *cond, weft_predicate pred, void *arg,
                            double timeout)
{
    if (!cond || !pred || weft__timeout_valid(timeout))
        return WEFT_EINVAL;
    if (!cond_held(cond))
        return WEFT_ENOTOWNER;
    if (pred(arg))
        return 0;
    if (timeout == 0)
        return WEFT_ETIMEDOUT;
    int64_t deadline = weft__deadline(timeout);
    for (;;) {
        int rc = cond_wait_until(cond, deadline);
        if (rc == WEFT_ECANCELLED)
            return rc; /* delivered even if the predicate just became true */
        if (pred(arg))
            return 0;
        if (rc != 0)
            return rc;
        /* Notified, predicate still false: wait on for what is left. */
        if (deadline != WEFT__NO_DEADLINE && weft__now_ns() >= deadline)
            return WEFT_ETIMEDOUT;
    }
}

int weft_condition_notify(weft_condition *cond, unsigned n)
{
    if (!cond)
        return WEFT_EINVAL;
    if (!cond_held(cond))
        return WEFT_ENOTOWNER;
    if (n == 0 || cond->waiters_ == 0)
        return 0;
    cond->waiters_ -= (uint32_t)weft__unpark(cond, n, NULL, NULL);
    return 0;
}

int weft_condition_notify_all(weft_condition *cond)
{
    return weft_condition_notify(cond, UINT32_MAX);
}
