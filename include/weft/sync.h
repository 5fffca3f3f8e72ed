/**
 * Python's threading primitives: Lock, RLock, Condition, Semaphore,
 * BoundedSemaphore, Event, Barrier.
 *
 * All are caller-allocated: embed them in your own structs, initialise with
 * the static initializer or _init, and _destroy when done (destroying an
 * object that threads still wait on is undefined, as with pthreads). None
 * holds a resource, so _destroy frees nothing; calling it is still part of
 * the contract, as pthread_mutex_destroy's is.
 *
 * Every acquire and wait takes its timeout last (the grammar of
 * weft/common.h): WEFT_FOREVER waits without end, 0 polls, a positive value
 * waits at most that long; when the time runs out, a poll included, the
 * call returns WEFT_ETIMEDOUT. All of them wait through park (one waiting
 * mechanism for threads and coroutines), and none makes a system call when
 * it does not have to wait. Invalid timeouts (NaN, negative other than
 * WEFT_FOREVER) and NULL objects give WEFT_EINVAL.
 *
 * Python to weft:
 *
 *     lock.acquire()                  weft_lock_acquire(&l, WEFT_FOREVER)
 *     lock.acquire(timeout=t)         weft_lock_acquire(&l, t)
 *     lock.acquire(blocking=False)    weft_lock_acquire(&l, 0)
 *     False from acquire              WEFT_ETIMEDOUT
 *     with lock: ...                  acquire ... release
 *     RuntimeError on bad release     WEFT_ENOTLOCKED / WEFT_ENOTOWNER
 *     ValueError (BoundedSemaphore)   WEFT_EOVERFLOW
 *     BrokenBarrierError              WEFT_EBROKEN
 *
 * @file
 */
#ifndef WEFT_SYNC_H
#define WEFT_SYNC_H

#include "weft/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ Lock */

/**
 * A mutual-exclusion lock (threading.Lock). One 32-bit word; needs no
 * destruction but weft_lock_destroy exists for symmetry.
 *
 * A Lock has no owner: as in Python, any thread may release it.
 *
 * Fairness: uncontended acquire is one compare-and-swap. A contended
 * acquirer spins briefly, then parks in FIFO order. A running thread may take
 * a just-released lock before a parked one wakes (this keeps throughput high),
 * but about every millisecond a release hands the lock directly to the
 * longest-parked waiter, so no waiter starves under steady contention.
 */
typedef struct weft_lock {
    uint32_t word_; /* private: bit 0 locked, bit 1 has parked waiters */
} weft_lock;

#define WEFT_LOCK_INIT {0}

WEFT_API int weft_lock_init(weft_lock *lock);
WEFT_API void weft_lock_destroy(weft_lock *lock);
/** Take the lock, waiting at most `timeout` seconds for it to be free:
 *  0 or WEFT_ETIMEDOUT (0 polls: takes it only if it is free now). */
WEFT_API int weft_lock_acquire(weft_lock *lock, double timeout);
/** Release: 0, or WEFT_ENOTLOCKED if the lock was not locked (state unchanged). */
WEFT_API int weft_lock_release(weft_lock *lock);
/** Whether the lock is held by anyone (a snapshot). */
WEFT_API bool weft_lock_locked(const weft_lock *lock);

/* ----------------------------------------------------------------- RLock */

/**
 * A reentrant lock (threading.RLock): the owning thread may acquire it again;
 * it is free when released as many times as acquired. Release by a thread
 * that does not own it is WEFT_ENOTOWNER. Fairness as weft_lock.
 */
typedef struct weft_rlock {
    weft_lock lock_;    /* private */
    uint32_t count_;    /* private: recursion depth, owner-only */
    uintptr_t owner_;   /* private: owning thread's id, 0 if none */
} weft_rlock;

#define WEFT_RLOCK_INIT {WEFT_LOCK_INIT, 0, 0}

WEFT_API int weft_rlock_init(weft_rlock *rlock);
WEFT_API void weft_rlock_destroy(weft_rlock *rlock);
/** Take it (again, if the caller holds it): 0 or WEFT_ETIMEDOUT. */
WEFT_API int weft_rlock_acquire(weft_rlock *rlock, double timeout);
/** 0, or WEFT_ENOTOWNER if the caller does not hold it. */
WEFT_API int weft_rlock_release(weft_rlock *rlock);
/** Whether the calling thread holds it. */
WEFT_API bool weft_rlock_is_owned(const weft_rlock *rlock);
/** Whether any thread holds it (a snapshot; Python 3.14's RLock.locked()). */
WEFT_API bool weft_rlock_locked(const weft_rlock *rlock);
/** The calling thread's recursion depth (0 if it does not hold it). */
WEFT_API unsigned weft_rlock_count(const weft_rlock *rlock);

/* ------------------------------------------------------------- Condition */

/**
 * A condition variable bound to a Lock or an RLock (threading.Condition).
 *
 * wait, wait_for and notify require the caller to hold the lock
 * (WEFT_ENOTOWNER otherwise; for a plain Lock "held" means locked, since
 * Locks have no owner). wait releases the lock, sleeps, and re-acquires it
 * before returning, whatever it returns; with an RLock it releases every
 * level of recursion and restores them.
 *
 * Waiters are woken in FIFO order: notify(n) wakes the n longest waiting,
 * exactly n if at least n wait. There are no spurious wake-ups.
 */
typedef struct weft_condition {
    void *lock_;        /* private: the weft_lock or weft_rlock */
    int kind_;          /* private: which of the two */
    uint32_t waiters_;  /* private: parked or about to park, under the lock */
    weft_rlock own_;    /* private: the lock when none is given */
} weft_condition;

/** Bind to `lock`, or to a private RLock when `lock` is NULL (Python's default). */
WEFT_API int weft_condition_init(weft_condition *cond, weft_lock *lock);
/** Bind to an RLock (which must not be NULL). */
WEFT_API int weft_condition_init_rlock(weft_condition *cond, weft_rlock *rlock);
WEFT_API void weft_condition_destroy(weft_condition *cond);

/** Acquire/release the underlying lock (`with cond:`). */
WEFT_API int weft_condition_acquire(weft_condition *cond, double timeout);
WEFT_API int weft_condition_release(weft_condition *cond);
/** Whether the underlying lock is held, by any thread (a snapshot; Python
 *  3.14's Condition.locked()). */
WEFT_API bool weft_condition_locked(const weft_condition *cond);

/** Wait to be notified: 0, WEFT_ETIMEDOUT, or WEFT_ENOTOWNER. */
WEFT_API int weft_condition_wait(weft_condition *cond, double timeout);

typedef bool (*weft_predicate)(void *arg);

/** Wait until pred(arg) is true (checked under the lock, first before any
 *  wait): 0 when true, WEFT_ETIMEDOUT if the time ran out with it false. */
WEFT_API int weft_condition_wait_for(weft_condition *cond, weft_predicate pred, void *arg,
                                     double timeout);

/** Wake up to n waiters (n may be 0). */
WEFT_API int weft_condition_notify(weft_condition *cond, unsigned n);
WEFT_API int weft_condition_notify_all(weft_condition *cond);

/* ------------------------------------------------------------- Semaphore */

/**
 * A counting semaphore (threading.Semaphore and BoundedSemaphore).
 *
 * Fairness: strictly FIFO among waiters. A release while threads wait hands
 * the permit directly to the oldest waiter; a new acquirer cannot overtake
 * threads already waiting.
 *
 * Bounded: release that would raise the value above the initial value fails
 * with WEFT_EOVERFLOW and changes nothing. Values are limited to
 * WEFT_SEMAPHORE_MAX: past it, a release of an unbounded semaphore fails with
 * WEFT_EOVERFLOW too.
 */
typedef struct weft_semaphore {
    uint32_t word_;  /* private: value << 1 | has parked waiters */
    uint32_t bound_; /* private: 0 unbounded, else 0x80000000 | the maximum value */
} weft_semaphore;

#define WEFT_SEMAPHORE_MAX 0x7fffffffu
#define WEFT_SEMAPHORE_INIT(value) {(uint32_t)(value) << 1, 0}
#define WEFT_BOUNDED_SEMAPHORE_INIT(value) \
    {(uint32_t)(value) << 1, 0x80000000u | (uint32_t)(value)}

/** value > WEFT_SEMAPHORE_MAX is WEFT_EINVAL. */
WEFT_API int weft_semaphore_init(weft_semaphore *sem, unsigned value);
WEFT_API int weft_bounded_semaphore_init(weft_semaphore *sem, unsigned value);
WEFT_API void weft_semaphore_destroy(weft_semaphore *sem);
/** Take a permit: 0 or WEFT_ETIMEDOUT. */
WEFT_API int weft_semaphore_acquire(weft_semaphore *sem, double timeout);
/** Release one permit. */
WEFT_API int weft_semaphore_release(weft_semaphore *sem);
/** Release n permits at once (Python's release(n)); n == 0 is WEFT_EINVAL
 *  (Python raises ValueError for n < 1). */
WEFT_API int weft_semaphore_release_n(weft_semaphore *sem, unsigned n);
/** The current value (a snapshot). */
WEFT_API unsigned weft_semaphore_value(const weft_semaphore *sem);

/* ----------------------------------------------------------------- Event */

/**
 * An event flag (threading.Event). set wakes every waiter; wait returns at
 * once while the flag is set.
 */
typedef struct weft_event {
    uint32_t word_; /* private: bit 0 set, bit 1 has parked waiters */
} weft_event;

#define WEFT_EVENT_INIT {0}

WEFT_API int weft_event_init(weft_event *ev);
WEFT_API void weft_event_destroy(weft_event *ev);
WEFT_API int weft_event_set(weft_event *ev);
WEFT_API int weft_event_clear(weft_event *ev);
WEFT_API bool weft_event_is_set(const weft_event *ev);
/** 0 if the flag is (or becomes) set, WEFT_ETIMEDOUT otherwise. Python's
 *  wait() returns the flag; here 0 means true. */
WEFT_API int weft_event_wait(weft_event *ev, double timeout);

/* --------------------------------------------------------------- Barrier */

/** A barrier's action: run by one thread (the last to arrive), with the
 *  barrier's internal lock held, before the others are released. Non-zero
 *  breaks the barrier: the action's thread gets that code back (a positive
 *  value, which would read as an arrival index, comes back as WEFT_EBROKEN),
 *  every other waiter WEFT_EBROKEN. A call of the same barrier's wait,
 *  abort or reset from the action is WEFT_EDEADLK and changes nothing
 *  (Python's would hang on the barrier's lock); its getters may be called. */
typedef int (*weft_barrier_action)(void *arg);

/**
 * A barrier for a fixed number of threads (threading.Barrier).
 *
 * wait gives each party its arrival index, 0 for the first thread to
 * arrive up to parties-1 for the last. A wait that times out, an abort, or
 * a reset while threads wait breaks the barrier for every waiter
 * (WEFT_EBROKEN; the one that timed out gets WEFT_EBROKEN too, as in
 * Python). A timeout of 0 by a party that is not the last therefore breaks
 * it at once. As in Python, a deadline that passes once the last party has
 * arrived (while the action runs, say) breaks nothing: that party passes
 * with the others. A new generation starts only once every party of the
 * last one has left. A broken barrier stays broken until reset. Waiters
 * are released all at once, in no particular order. Python's
 * Barrier(timeout=t), a default for every wait, has no twin: C has no
 * default arguments, so each wait takes its own timeout.
 */
typedef struct weft_barrier {
    weft_lock lock_;              /* private */
    unsigned parties_;            /* private */
    unsigned count_;              /* private: arrived in this generation */
    uint32_t broken_;             /* private */
    uint64_t generation_;         /* private */
    weft_barrier_action action_;  /* private */
    void *action_arg_;            /* private */
    uintptr_t acting_;            /* private: who runs the action, 0 if none */
    unsigned late_;               /* private: latecomers of generation late_gen_ */
    uint64_t late_gen_;           /* private */
} weft_barrier;

/** parties must be >= 1. action may be NULL. */
WEFT_API int weft_barrier_init(weft_barrier *b, unsigned parties, weft_barrier_action action,
                               void *action_arg);
WEFT_API void weft_barrier_destroy(weft_barrier *b);
/** Wait for every party: 0 and the arrival index in *index (may be NULL),
 *  or WEFT_EBROKEN, the action's code, WEFT_EINVAL, WEFT_EDEADLK (from the
 *  action). */
WEFT_API int weft_barrier_wait(weft_barrier *b, unsigned *index, double timeout);
/** Put the barrier in the broken state; waiters get WEFT_EBROKEN. */
WEFT_API int weft_barrier_abort(weft_barrier *b);
/** Return to the empty state; current waiters get WEFT_EBROKEN. */
WEFT_API int weft_barrier_reset(weft_barrier *b);
WEFT_API unsigned weft_barrier_parties(const weft_barrier *b);
/** Threads currently waiting (a snapshot). */
WEFT_API unsigned weft_barrier_n_waiting(const weft_barrier *b);
WEFT_API bool weft_barrier_broken(const weft_barrier *b);

#ifdef __cplusplus
}
#endif

#endif
