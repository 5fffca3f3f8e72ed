/*
 * Lock: one word, a CAS fast path, bounded spinning, then park.
 *
 * word_ bits: LOCKED (held), PARKED (waiters may be parked on the lock).
 * PARKED is set by an acquirer before it parks and cleared only under the
 * park bucket lock (in the unpark callback or a timed-out waiter's callback)
 * when the last waiter leaves; park's validate re-checks both bits under the
 * same bucket lock, so a release can never miss a waiter.
 */
#include "internal/clock.h"
#include "internal/park.h"
#include "internal/solo.h"
#include "internal/sync.h"
#include "platform/futex.h"

#define LOCKED 1u
#define PARKED 2u
#define TOKEN_HANDOFF 1u /* the releaser kept LOCKED set for the woken waiter */

/*
 * Spinning. A lock hold is usually a few dozen nanoseconds, far less than a
 * park/unpark (two system calls and a context switch), so a contended
 * acquirer spins first; past SPIN_ROUNDS the holder is probably descheduled
 * or in a long critical section, and sleeping is better.
 *
 * The spin backs off exponentially, from SPIN_PAUSES_FIRST up to
 * SPIN_PAUSES_MAX pause instructions between looks at the word. Each look
 * pulls the lock's cache line (and whatever the lock guards beside it) away
 * from the holder, and a waiter that pounces on every release makes the line
 * cross cores on every critical section. Looking rarely lets the running
 * holder release and re-take the lock many times in a row from its own cache,
 * which is where the throughput under contention comes from (the bench's
 * lock_contended row). The price is latency: a waiter may look up to
 * SPIN_PAUSES_MAX pauses after a release. Starvation stays bounded: a waiter
 * that spins in vain parks, and parked waiters get direct hand-off (see
 * lock_unpark_cb).
 *
 * The whole spin is short, some 150 pauses (a few microseconds), because a
 * waiter cannot tell a running holder from a preempted one: when a wake-up
 * preempts the holder on the waiter's own CPU (a condition's notify does
 * that), every spin is pure loss until the waiter parks and lets the holder
 * run (the bench's cond_pingpong row). A short spin gives the contended
 * throughput of a long one.
 */
#define SPIN_ROUNDS 6
#define SPIN_PAUSES_FIRST 8
#define SPIN_PAUSES_MAX 32

int weft_lock_init(weft_lock *lock)
{
    if (!lock)
        return WEFT_EINVAL;
    lock->word_ = 0;
    return 0;
}

void weft_lock_destroy(weft_lock *lock)
{
    (void)lock; /* it holds nothing to release */
}

static bool lock_validate(void *ctx)
{
    weft_lock *lock = ctx;
    uint32_t s = __atomic_load_n(&lock->word_, __ATOMIC_RELAXED);
    return (s & (LOCKED | PARKED)) == (LOCKED | PARKED);
}

static void lock_timed_out(void *ctx, bool was_last)
{
    weft_lock *lock = ctx;
    if (was_last)
        __atomic_fetch_and(&lock->word_, ~PARKED, __ATOMIC_RELAXED);
}

int weft__lock_acquire_until(weft_lock *lock, int64_t deadline, weft_wait_kind why,
                             const void *what)
{
    weft__park_spec spec = {
        .validate = lock_validate,
        .timed_out = lock_timed_out,
        .ctx = lock,
        .why = why,
        .what = what,
    };
    unsigned spins = 0, pauses = SPIN_PAUSES_FIRST;
    uint32_t s = __atomic_load_n(&lock->word_, __ATOMIC_RELAXED);
    for (;;) {
        if (!(s & LOCKED)) {
            if (__atomic_compare_exchange_n(&lock->word_, &s, s | LOCKED, true,
                                            __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
                return 0;
            continue;
        }
        /* Nobody parked yet: the holder is likely running, spin a little.
         * Once someone is parked, queue behind it instead: spinning then
         * would only race the parked waiters for every release. */
        if (!(s & PARKED) && spins < SPIN_ROUNDS && weft__park_should_spin()) {
            spins++;
            for (unsigned i = 0; i < pauses; i++)
                weft__cpu_relax();
            if (pauses < SPIN_PAUSES_MAX)
                pauses *= 2;
            s = __atomic_load_n(&lock->word_, __ATOMIC_RELAXED);
            continue;
        }
        if (!(s & PARKED) &&
            !__atomic_compare_exchange_n(&lock->word_, &s, s | PARKED, true, __ATOMIC_RELAXED,
                                         __ATOMIC_RELAXED))
            continue;
        uintptr_t token = 0;
        int rc = weft__park(lock, &spec, deadline, &token);
        if (rc == 0 && token == TOKEN_HANDOFF) {
            /* The releaser's store of the word happened under the bucket
             * lock; park's wake-up orders it before us. */
            return 0;
        }
        if (rc != 0 && rc != WEFT_EAGAIN)
            return rc;
        spins = 0;
        pauses = SPIN_PAUSES_FIRST;
        s = __atomic_load_n(&lock->word_, __ATOMIC_RELAXED);
    }
}

/* The lock if it is free now (a CAS may fail on the waiters' bit alone). */
static bool lock_try(weft_lock *lock, uint32_t s)
{
    while (!(s & LOCKED)) {
        if (WEFT__CAS32(&lock->word_, &s, s | LOCKED, __ATOMIC_ACQUIRE))
            return true;
    }
    return false;
}

/* Out of line, so that the free lock's path needs no stack frame. */
static __attribute__((noinline)) int lock_acquire_slow(weft_lock *lock, uint32_t s,
                                                       double timeout)
{
    if (lock_try(lock, s))
        return 0;
    if (timeout == 0)
        return WEFT_ETIMEDOUT;
    return weft__lock_acquire_until(lock, weft__deadline(timeout), WEFT_WAIT_LOCK, lock);
}

int weft_lock_acquire(weft_lock *lock, double timeout)
{
    if (!lock || weft__timeout_valid(timeout))
        return WEFT_EINVAL;
    uint32_t s = 0;
    if (WEFT__CAS32(&lock->word_, &s, LOCKED, __ATOMIC_ACQUIRE))
        return 0;
    return lock_acquire_slow(lock, s, timeout);
}

typedef struct lock_release {
    weft_lock *lock;
    int rc;
} lock_release;

/*
 * The slow release, under the bucket lock with up to one waiter dequeued.
 * The releaser still holds the lock: it is unlocked (or handed off) here and
 * only here, so that after this callback the releaser touches nothing of
 * the lock, only park's bucket and the woken waiter's record. As with a
 * pthread mutex, whoever takes the lock next may free it as soon as it is
 * free; clearing LOCKED first and calling unpark after let a releaser write
 * into a lock that a barger had meanwhile taken, released and freed.
 *
 * The word may change under us only by an acquirer setting PARKED before it
 * validates (under this bucket lock, after us): if our store clears that
 * bit again, its validate fails and it retries, so no waiter is lost.
 */
static uintptr_t lock_unpark_cb(void *ctx, weft__unpark_result r)
{
    lock_release *rel = ctx;
    weft_lock *lock = rel->lock;
    if (!(__atomic_load_n(&lock->word_, __ATOMIC_RELAXED) & LOCKED)) {
        /* A concurrent second release got here first: bad input. A waiter
         * dequeued meanwhile just looks again. */
        rel->rc = WEFT_ENOTLOCKED;
        return 0;
    }
    uint32_t parked = r.have_more ? PARKED : 0;
    if (r.unparked && r.be_fair) {
        /* Hand off: the lock stays LOCKED for the woken waiter, which syncs
         * with us through park's wake-up. */
        __atomic_store_n(&lock->word_, LOCKED | parked, __ATOMIC_RELAXED);
        return TOKEN_HANDOFF;
    }
    __atomic_store_n(&lock->word_, parked, __ATOMIC_RELEASE); /* the unlock */
    return 0;
}

int weft_lock_release(weft_lock *lock)
{
    if (!lock)
        return WEFT_EINVAL;
    uint32_t s = LOCKED;
    if (WEFT__CAS32(&lock->word_, &s, 0, __ATOMIC_RELEASE))
        return 0;
    if (!(s & LOCKED))
        return WEFT_ENOTLOCKED;
    lock_release rel = {lock, 0};
    weft__unpark_fair(lock, 1, lock_unpark_cb, &rel);
    return rel.rc;
}

bool weft_lock_locked(const weft_lock *lock)
{
    return lock && (__atomic_load_n(&lock->word_, __ATOMIC_RELAXED) & LOCKED);
}
