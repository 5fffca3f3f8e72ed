/*
 * Barrier: an internal Lock, an arrival count and a generation number.
 *
 * Each waiter parks on &b->generation_ (not on b: the internal lock lives at
 * b's address and parks its own waiters there), joining the queue while it
 * holds the barrier lock and releasing the lock in park's before_sleep. So
 * when the last party arrives (holding the lock) every earlier party of its
 * generation is queued, or has timed out. The last party wakes them all and
 * the unpark token tells each how ITS generation ended, passed or broken;
 * nobody needs to look at the barrier again, so the next generation can
 * start at once.
 *
 * Timeouts: as in Python, whoever takes the barrier lock first decides. A
 * waiter whose deadline passes has left the queue; it then takes the lock
 * and, if its generation is still the current one and not yet broken,
 * breaks it. If the last party got the lock first, the generation passes
 * (its action ran with the lock held, so nobody could break it meanwhile):
 * its unpark finds fewer waiters than parties - 1, and the missing ones are
 * latecomers still on their way to the lock. It leaves them a note, late_
 * of them for generation late_gen_, and each latecomer that finds the note
 * for its generation passes too. Until the last latecomer has read it, a
 * new arrival waits (parked on &b->late_, the lock released as for a
 * generation), as Python's Barrier lets no one in while the last
 * generation drains: so the note is never overwritten while it is needed,
 * and a generation that changed without a note for it was ended by a
 * reset.
 *
 * count_ and broken_ are written under the lock but read by the snapshot
 * getters without it, hence the relaxed atomics.
 *
 * The action runs with the lock held, so a call of the barrier from it
 * would wait on itself for ever. acting_ names the caller that runs the
 * action (weft__self_id), so the calls that take the lock refuse it first.
 * A relaxed read is enough, as for an RLock's owner: a caller can only
 * find its own id there if it stored it itself.
 */
#include "internal/clock.h"
#include "internal/park.h"
#include "internal/sync.h"

#define TOKEN_PASSED 1u
#define TOKEN_BROKEN 2u

static const void *barrier_key(const weft_barrier *b)
{
    return &b->generation_;
}

static void barrier_set_count(weft_barrier *b, unsigned n)
{
    __atomic_store_n(&b->count_, n, __ATOMIC_RELAXED);
}

static void barrier_set_broken(weft_barrier *b, bool broken)
{
    __atomic_store_n(&b->broken_, broken, __ATOMIC_RELAXED);
}

static void barrier_lock(weft_barrier *b)
{
    /* Internal, held briefly: not a cancellation point (see weft__lock_take). */
    weft__cancel_mask();
    weft__lock_acquire_until(&b->lock_, WEFT__NO_DEADLINE, WEFT_WAIT_BARRIER, b);
    weft__cancel_unmask();
}

static void barrier_unlock(weft_barrier *b)
{
    weft_lock_release(&b->lock_);
}

int weft_barrier_init(weft_barrier *b, unsigned parties, weft_barrier_action action,
                      void *action_arg)
{
    if (!b || parties == 0 || parties > INT32_MAX)
        return WEFT_EINVAL;
    weft_lock_init(&b->lock_);
    b->parties_ = parties;
    b->count_ = 0;
    b->broken_ = 0;
    b->generation_ = 0;
    b->action_ = action;
    b->action_arg_ = action_arg;
    b->acting_ = 0;
    b->late_ = 0;
    b->late_gen_ = 0;
    return 0;
}

void weft_barrier_destroy(weft_barrier *b)
{
    (void)b; /* it holds nothing to release */
}

static uintptr_t token_cb(void *ctx, weft__unpark_result r)
{
    return (uintptr_t)ctx;
}

/* Lock held: release this generation's waiters as broken. The generation
 * number stays: a broken barrier is the same generation until reset. */
static void barrier_break(weft_barrier *b)
{
    barrier_set_broken(b, true);
    barrier_set_count(b, 0);
    weft__unpark(barrier_key(b), SIZE_MAX, token_cb, (void *)(uintptr_t)TOKEN_BROKEN);
}

/* Lock held, the last party: run the action, then release everyone. */
static int barrier_pass(weft_barrier *b)
{
    int rc = 0;
    if (b->action_) {
        __atomic_store_n(&b->acting_, weft__self_id(), __ATOMIC_RELAXED);
        rc = b->action_(b->action_arg_);
        __atomic_store_n(&b->acting_, 0, __ATOMIC_RELAXED);
    }
    if (rc != 0) {
        barrier_break(b);
        return rc < 0 ? rc : WEFT_EBROKEN; /* no positive code reaches a caller */
    }
    size_t woken = weft__unpark(barrier_key(b), SIZE_MAX, token_cb,
                                (void *)(uintptr_t)TOKEN_PASSED);
    if (woken < b->parties_ - 1) {
        b->late_ = b->parties_ - 1 - (unsigned)woken;
        b->late_gen_ = b->generation_;
    }
    b->generation_++;
    barrier_set_count(b, 0);
    return 0;
}

/* Called from the barrier's own action (see the top). */
static bool in_action(const weft_barrier *b)
{
    return __atomic_load_n(&b->acting_, __ATOMIC_RELAXED) == weft__self_id();
}

static void barrier_unlock_cb(void *ctx)
{
    barrier_unlock(ctx);
}

/* Lock held: wait, the lock released, until every latecomer of the last
 * generation has read its note. Not a cancellation point, as the lock. */
static void barrier_wait_drained(weft_barrier *b)
{
    weft__park_spec spec = {
        .before_sleep = barrier_unlock_cb,
        .ctx = b,
        .why = WEFT_WAIT_BARRIER,
        .what = b,
    };
    while (b->late_ > 0) {
        weft__cancel_mask();
        weft__park(&b->late_, &spec, WEFT__NO_DEADLINE, NULL);
        weft__cancel_unmask();
        barrier_lock(b);
    }
}

/* Lock held, the waiter's deadline passed (or its coroutine was cancelled)
 * after it left the queue of generation gen: 0 if that generation passed
 * with it as a latecomer, else WEFT_EBROKEN (breaking the generation if it
 * is still the current one). */
static int barrier_late(weft_barrier *b, uint64_t gen)
{
    if (b->generation_ == gen) {
        if (!b->broken_)
            barrier_break(b);
        return WEFT_EBROKEN;
    }
    if (b->late_ > 0 && b->late_gen_ == gen) {
        if (--b->late_ == 0)
            weft__unpark(&b->late_, SIZE_MAX, NULL, NULL);
        return 0;
    }
    return WEFT_EBROKEN; /* a reset ended it */
}

/* Lock held, not the last party: wait for the generation to end. */
static int barrier_await(weft_barrier *b, double timeout)
{
    if (timeout == 0) {
        /* Python breaks the barrier on a wait(0) that is not the last. */
        barrier_break(b);
        barrier_unlock(b);
        return WEFT_EBROKEN;
    }
    uint64_t gen = b->generation_;
    weft__park_spec spec = {
        .before_sleep = barrier_unlock_cb,
        .ctx = b,
        .why = WEFT_WAIT_BARRIER,
        .what = b,
    };
    uintptr_t token = 0;
    int rc = weft__park(barrier_key(b), &spec, weft__deadline(timeout), &token);
    if (rc == 0)
        return token == TOKEN_PASSED ? 0 : WEFT_EBROKEN;
    barrier_lock(b);
    int late = barrier_late(b, gen);
    barrier_unlock(b);
    return rc == WEFT_ETIMEDOUT ? late : rc;
}

int weft_barrier_wait(weft_barrier *b, unsigned *index, double timeout)
{
    if (index)
        *index = 0;
    if (!b || weft__timeout_valid(timeout))
        return WEFT_EINVAL;
    if (in_action(b))
        return WEFT_EDEADLK;
    barrier_lock(b);
    barrier_wait_drained(b);
    if (b->broken_) {
        barrier_unlock(b);
        return WEFT_EBROKEN;
    }
    unsigned i = b->count_;
    barrier_set_count(b, i + 1);
    int rc;
    if (i + 1 < b->parties_) {
        rc = barrier_await(b, timeout); /* unlocks */
    } else {
        rc = barrier_pass(b);
        barrier_unlock(b);
    }
    if (rc == 0 && index)
        *index = i;
    return rc;
}

int weft_barrier_abort(weft_barrier *b)
{
    if (!b)
        return WEFT_EINVAL;
    if (in_action(b))
        return WEFT_EDEADLK;
    barrier_lock(b);
    barrier_break(b);
    barrier_unlock(b);
    return 0;
}

int weft_barrier_reset(weft_barrier *b)
{
    if (!b)
        return WEFT_EINVAL;
    if (in_action(b))
        return WEFT_EDEADLK;
    barrier_lock(b);
    if (b->count_ > 0)
        barrier_break(b);
    /* A new generation: waiters of the old one that timed out find the
     * number changed and leave the new one alone. */
    b->generation_++;
    barrier_set_count(b, 0);
    barrier_set_broken(b, false);
    barrier_unlock(b);
    return 0;
}

unsigned weft_barrier_parties(const weft_barrier *b)
{
    return b ? b->parties_ : 0;
}

unsigned weft_barrier_n_waiting(const weft_barrier *b)
{
    return b ? __atomic_load_n(&b->count_, __ATOMIC_RELAXED) : 0;
}

bool weft_barrier_broken(const weft_barrier *b)
{
    return b && __atomic_load_n(&b->broken_, __ATOMIC_RELAXED);
}
