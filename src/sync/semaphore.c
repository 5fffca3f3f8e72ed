/*
 * Semaphore and BoundedSemaphore: one word, value << 1 | PARKED.
 *
 * Invariant: PARKED implies value == 0. An acquirer sets PARKED (in park's
 * validate, under the bucket lock) only when it finds the value 0, and while
 * PARKED is set a release does not add to the value: it hands its permits
 * straight to the oldest waiters (the unpark token says "you have one") and
 * adds only what is left over, clearing PARKED in the same bucket-locked
 * callback when no waiter remains. A newcomer therefore finds value 0 while
 * anyone waits and queues behind them: strict FIFO.
 *
 * bound_ is 0 for a plain semaphore, else BOUNDED | the initial value, so
 * that BoundedSemaphore(0) (which refuses every release) stays expressible.
 */
#include "internal/clock.h"
#include "internal/park.h"
#include "internal/sync.h"

#define PARKED 1u
#define ONE 2u
#define BOUNDED 0x80000000u
#define TOKEN_PERMIT 1u

static uint32_t value_of(uint32_t s)
{
    return s >> 1;
}

/* The most the value may reach. */
static uint32_t sem_limit(const weft_semaphore *sem)
{
    return sem->bound_ ? sem->bound_ & ~BOUNDED : WEFT_SEMAPHORE_MAX;
}

int weft_semaphore_init(weft_semaphore *sem, unsigned value)
{
    if (!sem || value > WEFT_SEMAPHORE_MAX)
        return WEFT_EINVAL;
    sem->word_ = value << 1;
    sem->bound_ = 0;
    return 0;
}

int weft_bounded_semaphore_init(weft_semaphore *sem, unsigned value)
{
    if (!sem || value > WEFT_SEMAPHORE_MAX)
        return WEFT_EINVAL;
    sem->word_ = value << 1;
    sem->bound_ = BOUNDED | value;
    return 0;
}

void weft_semaphore_destroy(weft_semaphore *sem)
{
    (void)sem; /* it holds nothing to release */
}

/* A permit if one is free now. */
static bool sem_try(weft_semaphore *sem)
{
    uint32_t s = __atomic_load_n(&sem->word_, __ATOMIC_RELAXED);
    while (value_of(s) > 0) {
        if (__atomic_compare_exchange_n(&sem->word_, &s, s - ONE, true, __ATOMIC_ACQUIRE,
                                        __ATOMIC_RELAXED))
            return true;
    }
    return false;
}

static bool sem_validate(void *ctx)
{
    weft_semaphore *sem = ctx;
    uint32_t s = __atomic_load_n(&sem->word_, __ATOMIC_RELAXED);
    for (;;) {
        if (value_of(s) > 0)
            return false;
        if (s & PARKED)
            return true;
        if (__atomic_compare_exchange_n(&sem->word_, &s, s | PARKED, true, __ATOMIC_RELAXED,
                                        __ATOMIC_RELAXED))
            return true;
    }
}

static void sem_timed_out(void *ctx, bool was_last)
{
    weft_semaphore *sem = ctx;
    if (was_last)
        __atomic_fetch_and(&sem->word_, ~PARKED, __ATOMIC_RELAXED);
}

static int sem_acquire_until(weft_semaphore *sem, int64_t deadline)
{
    weft__park_spec spec = {
        .validate = sem_validate,
        .timed_out = sem_timed_out,
        .ctx = sem,
        .why = WEFT_WAIT_SEMAPHORE,
        .what = sem,
    };
    for (;;) {
        if (sem_try(sem))
            return 0;
        int rc = weft__park(sem, &spec, deadline, NULL);
        /* Woken means handed a permit: nothing to retry. */
        if (rc != WEFT_EAGAIN)
            return rc;
    }
}

/* Out of line, so that taking a free permit needs no stack frame. */
static __attribute__((noinline)) int sem_acquire_slow(weft_semaphore *sem, double timeout)
{
    if (timeout == 0)
        return WEFT_ETIMEDOUT;
    return sem_acquire_until(sem, weft__deadline(timeout));
}

int weft_semaphore_acquire(weft_semaphore *sem, double timeout)
{
    if (!sem || weft__timeout_valid(timeout))
        return WEFT_EINVAL;
    if (sem_try(sem))
        return 0;
    return sem_acquire_slow(sem, timeout);
}

typedef struct sem_release {
    weft_semaphore *sem;
    uint32_t n;
    int rc;
} sem_release;

/*
 * Bucket locked; r.unparked waiters were dequeued and each gets a permit.
 * The rest goes to the value. If anyone was dequeued, PARKED was set all
 * along (it is cleared only with the queue empty), so the value is 0 and the
 * caller's check n <= limit covers the leftover. With nobody dequeued the
 * waiters may all have timed out and other releases refilled the value, so
 * the bound is checked again here, before anything changes.
 *
 * The RMW acquires as well as releases: the permits go to the woken waiters
 * on behalf of every earlier releaser, and those waiters synchronise only
 * with us (through park's wake-up).
 */
static uintptr_t sem_release_cb(void *ctx, weft__unpark_result r)
{
    sem_release *rel = ctx;
    weft_semaphore *sem = rel->sem;
    uint32_t left = rel->n - (uint32_t)r.unparked;
    uint32_t s = __atomic_load_n(&sem->word_, __ATOMIC_RELAXED), n;
    do {
        if (value_of(s) + (uint64_t)left > sem_limit(sem)) {
            rel->rc = WEFT_EOVERFLOW;
            return 0;
        }
        n = (s & ~PARKED) + left * ONE;
        if (r.have_more)
            n |= PARKED;
    } while (!__atomic_compare_exchange_n(&sem->word_, &s, n, true, __ATOMIC_ACQ_REL,
                                          __ATOMIC_RELAXED));
    return TOKEN_PERMIT;
}

int weft_semaphore_release_n(weft_semaphore *sem, unsigned n)
{
    if (!sem || n == 0)
        return WEFT_EINVAL;
    uint32_t limit = sem_limit(sem);
    if (n > limit)
        return WEFT_EOVERFLOW;
    uint32_t s = __atomic_load_n(&sem->word_, __ATOMIC_RELAXED);
    while (!(s & PARKED)) {
        if (value_of(s) + n > limit)
            return WEFT_EOVERFLOW;
        if (__atomic_compare_exchange_n(&sem->word_, &s, s + n * ONE, true, __ATOMIC_RELEASE,
                                        __ATOMIC_RELAXED))
            return 0;
    }
    sem_release rel = {sem, n, 0};
    weft__unpark(sem, n, sem_release_cb, &rel);
    return rel.rc;
}

int weft_semaphore_release(weft_semaphore *sem)
{
    return weft_semaphore_release_n(sem, 1);
}

unsigned weft_semaphore_value(const weft_semaphore *sem)
{
    return sem ? value_of(__atomic_load_n(&sem->word_, __ATOMIC_RELAXED)) : 0;
}
