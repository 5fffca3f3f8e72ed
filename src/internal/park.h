/*
 * park - the one way anything in weft waits.
 *
 * A waiter parks on a key (the address of the object it waits for: a lock, a
 * condition, a thread's join word) and sleeps until another thread unparks
 * that key, or until its deadline. The waiter record lives on the waiter's
 * own stack (a thread's or a coroutine's): parking never allocates.
 *
 * Waiters are queued in FIFO order per key in a fixed table of buckets hashed
 * by key, each bucket with its own small lock (the design of WebKit's
 * ParkingLot and of the kernel's futex hash). Primitives therefore need no
 * wait list of their own: a weft_lock is one 32-bit word.
 *
 * The protocol that makes lost wake-ups impossible:
 *   - park() locks the key's bucket and calls spec->validate(ctx) under it. If
 *     validate says the wait is no longer needed (the lock got free), park
 *     returns WEFT_EAGAIN without sleeping. Otherwise the waiter is queued,
 *     the bucket unlocked, spec->before_sleep(ctx) runs (a condition releases
 *     its lock there), and the waiter sleeps.
 *   - unpark() locks the same bucket, dequeues up to `max` waiters of the key,
 *     calls cb(ctx, n, have_more) under the bucket lock (the primitive updates
 *     its state word knowing exactly whether waiters remain), stores the token
 *     cb returned in each dequeued waiter, unlocks, and wakes them.
 *   Because validate and the unpark callback both run under the bucket lock,
 *   a primitive that sets a "has waiters" bit in validate and clears it in the
 *   unpark callback never loses a waiter.
 *
 * Timeouts: a waiter whose deadline passes takes the bucket lock; if it is
 * still queued it removes itself, calls spec->timed_out(ctx, was_last) under
 * the lock and returns WEFT_ETIMEDOUT. If an unparker already dequeued it, the
 * wake-up is already decided: it waits for it and returns 0 as if woken in
 * time. A waiter is therefore woken exactly once or times out, never both.
 *
 * Threads and coroutines: how a waiter sleeps and how it is woken is a pair
 * of functions (weft__parker) chosen per thread of execution. A plain thread
 * sleeps on a futex; a coroutine yields to its event loop and is woken by
 * being made ready on that loop. Primitives never see which: they
 * call park/unpark only. A parker may end a wait early with its own code
 * (WEFT_ECANCELLED for a cancelled coroutine); park treats that like a
 * timeout (dequeue, timed_out callback) and returns the code.
 *
 * Fairness: waiters of one key are woken in the order they parked. The
 * bucket also tells weft__unpark_fair's callers when it is time to be fair
 * (weft__unpark_result.be_fair): about every millisecond per bucket, so that
 * a lock can hand itself directly to its oldest waiter instead of letting a
 * running thread barge in forever.
 */
#ifndef WEFT_INTERNAL_PARK_H
#define WEFT_INTERNAL_PARK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "internal/tls.h"
#include "weft/common.h"
#include "weft/thread.h"

typedef struct weft__waiter weft__waiter;

/* How the current thread of execution sleeps and is woken. */
typedef struct weft__parker {
    /* Sleep until w->woken is set (return 0), the deadline passes (return
     * WEFT_ETIMEDOUT) or the parker's own reason to stop (return that code).
     * May return 0 only once w->woken is set. */
    int (*sleep)(weft__waiter *w, int64_t deadline);
    /* Set w->woken and wake the sleeper. After the store, w may be gone: the
     * function must read everything it needs from w before it. */
    void (*wake)(weft__waiter *w);
    /* weft_sleep inside this parker's world (a coroutine suspends itself on
     * its loop's timers; 0 yields to the loop). NULL: the thread sleeps. */
    int (*nap)(double seconds);
} weft__parker;

struct weft__waiter {
    weft__waiter *next;       /* bucket queue link */
    const void *key;          /* what it parks on */
    uintptr_t park_token;     /* the waiter's word to unparkers (see filter) */
    uintptr_t unpark_token;   /* the unparker's word to the waiter */
    const weft__parker *parker;
    void *parker_ctx;         /* the coroutine, for a coroutine parker */
    uint32_t woken;           /* parker word: 1 once woken (the parker may use other values) */
    bool queued;              /* under the bucket lock: still in the queue */
};

typedef struct weft__park_spec {
    /* Bucket locked. Return false not to park (park returns WEFT_EAGAIN).
     * NULL means always park. */
    bool (*validate)(void *ctx);
    /* Queued, bucket unlocked, before sleeping. May be NULL. */
    void (*before_sleep)(void *ctx);
    /* Bucket locked, the waiter just removed itself after a timeout or a
     * parker's cancellation; was_last says whether no other waiter of the key
     * remains. May be NULL. */
    void (*timed_out)(void *ctx, bool was_last);
    void *ctx;
    uintptr_t token;          /* becomes waiter.park_token */
    weft_wait_kind why;       /* shown in the thread's state while parked */
    const void *what;         /* the object waited on, for the thread state */
} weft__park_spec;

/* Park on `key` until unparked or `deadline` (absolute CLOCK_MONOTONIC ns, or
 * WEFT__NO_DEADLINE). Returns 0 when unparked (the unparker's token in
 * *unpark_token if not NULL), WEFT_EAGAIN if validate refused,
 * WEFT_ETIMEDOUT, or a parker's own code (WEFT_ECANCELLED). */
int weft__park(const void *key, const weft__park_spec *spec, int64_t deadline,
               uintptr_t *unpark_token);

typedef struct weft__unpark_result {
    size_t unparked;  /* waiters dequeued */
    bool have_more;   /* waiters of the key still queued */
    bool be_fair;     /* time to hand off directly (see Fairness above);
                         only weft__unpark_fair says so */
} weft__unpark_result;

/* Called with the bucket locked; returns the token the woken waiters get. */
typedef uintptr_t (*weft__unpark_cb)(void *ctx, weft__unpark_result r);

/* Optional filter: called with the bucket locked for each waiter of the key
 * in FIFO order, with its park_token. */
typedef enum { WEFT__FILTER_UNPARK, WEFT__FILTER_SKIP, WEFT__FILTER_STOP } weft__filter_result;
typedef weft__filter_result (*weft__filter_fn)(void *ctx, uintptr_t park_token);

/* Wake up to `max` waiters parked on `key`, oldest first. cb (may be NULL,
 * then the token is 0) runs under the bucket lock even when nobody was
 * dequeued. Returns how many were woken. */
size_t weft__unpark(const void *key, size_t max, weft__unpark_cb cb, void *ctx);

/* As weft__unpark, but only the waiters the filter accepts. */
size_t weft__unpark_filter(const void *key, size_t max, weft__filter_fn filter,
                           weft__unpark_cb cb, void *ctx);

/* As weft__unpark_filter, but the dequeued waiters are not woken yet: they
 * are returned (chained by next, NULL for none) for weft__unpark_wake,
 * which the caller runs once it has released its own lock, so that a
 * wake-up's system call does not lengthen that lock's hold. The waiters
 * count as woken from the start: none can time out or be cancelled in
 * between. */
weft__waiter *weft__unpark_filter_held(const void *key, size_t max, weft__filter_fn filter,
                                       weft__unpark_cb cb, void *ctx);
/* Wake the waiters weft__unpark_filter_held returned; how many. */
size_t weft__unpark_wake(weft__waiter *list);

/* As weft__unpark, and the result says when it is time to be fair (see
 * Fairness above): for a primitive that can hand itself to a waiter. The
 * others do without, since finding out reads the clock now and then, which
 * on a virtual machine costs more than a hand-off between coroutines. */
size_t weft__unpark_fair(const void *key, size_t max, weft__unpark_cb cb, void *ctx);

/*
 * The current thread's observable wait state. The thread module points this
 * at the weft_thread record of every thread it knows; park and weft_sleep
 * write to it while a thread waits. NULL for threads weft does not know.
 *
 * Only the owning thread writes its slot; any thread may read it. `seq` makes
 * (why, what) one consistent snapshot (a seqlock): the writer makes it odd,
 * stores both fields, then makes it even again; a reader retries while it is
 * odd or changed under it (weft__wait_slot_read).
 */
typedef struct weft__wait_slot {
    uint32_t seq;          /* odd while the owner updates why/what */
    int why;               /* weft_wait_kind */
    const void *what;
} weft__wait_slot;

extern _Thread_local weft__wait_slot *weft__my_wait_slot WEFT__TLS_IE;

static inline void weft__wait_slot_write(weft__wait_slot *s, int why, const void *what)
{
    uint32_t q = __atomic_load_n(&s->seq, __ATOMIC_RELAXED); /* owner: no race */
    __atomic_store_n(&s->seq, q + 1, __ATOMIC_RELAXED);
    /* Release stores (not fences, which TSan does not model): a reader whose
     * acquire load sees a new field value also sees the odd seq before it,
     * so its second look at seq tells it to retry. */
    __atomic_store_n(&s->what, what, __ATOMIC_RELEASE);
    __atomic_store_n(&s->why, why, __ATOMIC_RELEASE);
    __atomic_store_n(&s->seq, q + 2, __ATOMIC_RELEASE);
}

static inline void weft__wait_slot_read(const weft__wait_slot *s, int *why, const void **what)
{
    for (;;) {
        uint32_t q = __atomic_load_n(&s->seq, __ATOMIC_ACQUIRE);
        if (q & 1)
            continue;
        *why = __atomic_load_n(&s->why, __ATOMIC_ACQUIRE);
        *what = __atomic_load_n(&s->what, __ATOMIC_ACQUIRE);
        if (__atomic_load_n(&s->seq, __ATOMIC_RELAXED) == q)
            return;
    }
}

static inline void weft__wait_slot_enter(weft_wait_kind why, const void *what)
{
    weft__wait_slot *s = weft__my_wait_slot;
    if (s)
        weft__wait_slot_write(s, (int)why, what);
}

static inline void weft__wait_slot_leave(void)
{
    weft__wait_slot *s = weft__my_wait_slot;
    if (s)
        weft__wait_slot_write(s, (int)WEFT_WAIT_NONE, NULL);
}

/* The parker of the calling thread of execution: NULL means the thread's
 * futex parker; a coroutine runtime installs its own (and its context) while
 * it runs a coroutine. */
extern _Thread_local const weft__parker *weft__current_parker WEFT__TLS_IE;
extern _Thread_local void *weft__current_parker_ctx WEFT__TLS_IE;

/* True inside a coroutine. Spinning before parking is for threads: a
 * coroutine that spins holds up its whole loop, and the holder it waits
 * for is often another coroutine of the same loop, which cannot run. */
static inline bool weft__park_should_spin(void)
{
    return weft__current_parker == NULL;
}

/* A parker context (weft__current_parker_ctx: a coroutine's task) starts
 * with this header. */
typedef struct weft__parker_ctx {
    /* > 0 while the coroutine is in a wait that must not end by
     * cancellation (reacquiring a condition's lock): a cancel request then
     * stays pending until its next unmasked suspension. */
    int cancel_masked;
} weft__parker_ctx;

/* Mask cancellation around a wait that must complete; a no-op for threads,
 * which are never cancelled. Nests. */
static inline void weft__cancel_mask(void)
{
    weft__parker_ctx *c = weft__current_parker_ctx;
    if (c)
        c->cancel_masked++;
}

static inline void weft__cancel_unmask(void)
{
    weft__parker_ctx *c = weft__current_parker_ctx;
    if (c)
        c->cancel_masked--;
}

/* Reset every bucket in a child after fork: the other threads, and so every
 * queued waiter, are gone. Called by the fork handler. */
void weft__park_after_fork_child(void);

/* A unique id of the calling thread of execution among live ones (RLock
 * owners): the thread, or inside a coroutine the coroutine's parker context
 * (its task), so that two tasks on one thread are two owners. */
extern _Thread_local char weft__self_marker;
static inline uintptr_t weft__self_id(void)
{
    void *ctx = weft__current_parker_ctx;
    return ctx ? (uintptr_t)ctx : (uintptr_t)&weft__self_marker;
}

#endif
