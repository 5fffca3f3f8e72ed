/*
 * park: waiter queues keyed by address. See src/internal/park.h for the
 * protocol; this file is the bucket table, the bucket lock and the thread
 * (futex) parker.
 */
#include <pthread.h>
#include <string.h>

#include "internal/check.h"
#include "internal/clock.h"
#include "internal/park.h"
#include "internal/solo.h"
#include "platform/futex.h"

_Thread_local weft__wait_slot *weft__my_wait_slot WEFT__TLS_IE;
_Thread_local const weft__parker *weft__current_parker WEFT__TLS_IE;
_Thread_local void *weft__current_parker_ctx WEFT__TLS_IE;
_Thread_local char weft__self_marker;

/*
 * The bucket table has a fixed size: a key's waiters share a bucket with the
 * waiters of whatever else hashes there, which costs a longer queue walk, not
 * correctness. 1024 buckets keep collisions rare for thousands of contended
 * objects at 64 KiB of memory; every bucket has its own cache line so that
 * unrelated objects do not contend.
 */
#define BUCKET_BITS 10
#define NBUCKETS (1u << BUCKET_BITS)

typedef struct bucket {
    uint32_t lock;           /* 0 free, 1 locked, 2 locked with sleepers */
    uint32_t rng;            /* for the fairness interval jitter */
    weft__waiter *head, *tail;
    int64_t fair_deadline;   /* next time an unpark reports be_fair */
    uint32_t fair_tick;      /* unparks, to read the clock at every 16th */
} __attribute__((aligned(64))) bucket;

static bucket buckets[NBUCKETS];

static bucket *bucket_for(const void *key)
{
    /* Fibonacci hashing: the multiply mixes the address bits into the top. */
    uint64_t h = (uint64_t)(uintptr_t)key * 0x9E3779B97F4A7C15ull;
    return &buckets[h >> (64 - BUCKET_BITS)];
}

/* The bucket lock is a three-state futex mutex (Drepper's "Futexes are
 * tricky", mutex 3) with a short spin: its critical sections are a few list
 * operations, so a waiter rarely has to sleep. */
static void bucket_lock(bucket *b)
{
    uint32_t c = 0;
    if (WEFT__CAS32(&b->lock, &c, 1, __ATOMIC_ACQUIRE))
        return;
    for (int i = 0; i < 64; i++) {
        weft__cpu_relax();
        c = __atomic_load_n(&b->lock, __ATOMIC_RELAXED);
        if (c == 0 && __atomic_compare_exchange_n(&b->lock, &c, 1, false, __ATOMIC_ACQUIRE,
                                                  __ATOMIC_RELAXED))
            return;
    }
    if (c != 2)
        c = __atomic_exchange_n(&b->lock, 2, __ATOMIC_ACQUIRE);
    while (c != 0) {
        weft__futex_wait(&b->lock, 2, WEFT__NO_DEADLINE);
        c = __atomic_exchange_n(&b->lock, 2, __ATOMIC_ACQUIRE);
    }
}

static void bucket_unlock(bucket *b)
{
    if (WEFT__XCHG32(&b->lock, 0, __ATOMIC_RELEASE) == 2)
        weft__futex_wake(&b->lock, 1);
}

static void bucket_append(bucket *b, weft__waiter *w)
{
    w->next = NULL;
    if (b->tail)
        b->tail->next = w;
    else
        b->head = w;
    b->tail = w;
}

static void bucket_unlink(bucket *b, weft__waiter *prev, weft__waiter *w)
{
    if (prev)
        prev->next = w->next;
    else
        b->head = w->next;
    if (b->tail == w)
        b->tail = prev;
    WEFT_ASSERT(w->queued);
    w->next = NULL;
    w->queued = false;
}

static void bucket_remove(bucket *b, weft__waiter *w)
{
    weft__waiter *prev = NULL;
    for (weft__waiter *p = b->head; p != w; p = p->next)
        prev = p;
    bucket_unlink(b, prev, w);
}

static bool bucket_has_key(const bucket *b, const void *key)
{
    for (const weft__waiter *p = b->head; p; p = p->next)
        if (p->key == key)
            return true;
    return false;
}

/*
 * The thread parker. The waiter's word: 0 waiting, 1 woken, 2 asleep in the
 * kernel. The waiter polls the word for a short while first: when the waker
 * is running (a hand-off between two busy threads) the wake-up arrives within
 * microseconds, and catching it in user space saves the sleep and the
 * wake-up, which cost tens of microseconds on a virtual machine. Only then
 * does it announce it is going to sleep (2), and only then does the waker pay
 * for a futex wake.
 */
#ifndef WEFT_PARK_SPIN
#define WEFT_PARK_SPIN 100
#endif
enum { W_WAITING = 0, W_WOKEN = 1, W_SLEEPING = 2 };

static int thread_sleep(weft__waiter *w, int64_t deadline)
{
    for (int i = 0; i < WEFT_PARK_SPIN; i++) {
        if (__atomic_load_n(&w->woken, __ATOMIC_ACQUIRE) == W_WOKEN)
            return 0;
        weft__cpu_relax();
    }
    uint32_t v = W_WAITING;
    if (!__atomic_compare_exchange_n(&w->woken, &v, W_SLEEPING, false, __ATOMIC_ACQUIRE,
                                     __ATOMIC_ACQUIRE) &&
        v == W_WOKEN)
        return 0;
    while (__atomic_load_n(&w->woken, __ATOMIC_ACQUIRE) != W_WOKEN) {
        if (weft__futex_wait(&w->woken, W_SLEEPING, deadline) == -ETIMEDOUT)
            return __atomic_load_n(&w->woken, __ATOMIC_ACQUIRE) == W_WOKEN ? 0 : WEFT_ETIMEDOUT;
    }
    return 0;
}

static void thread_wake(weft__waiter *w)
{
    /* After the exchange the waiter may return and its stack record be
     * reused; a wake then hits whatever lives there, which is harmless:
     * every futex wait in weft rechecks its word. */
    if (__atomic_exchange_n(&w->woken, W_WOKEN, __ATOMIC_RELEASE) == W_SLEEPING)
        weft__futex_wake(&w->woken, 1);
}

static const weft__parker thread_parker = {thread_sleep, thread_wake, NULL};

int weft__park(const void *key, const weft__park_spec *spec, int64_t deadline,
               uintptr_t *unpark_token)
{
    bucket *b = bucket_for(key);
    weft__waiter w = {
        .key = key,
        .park_token = spec->token,
        .parker = weft__current_parker ? weft__current_parker : &thread_parker,
        .parker_ctx = weft__current_parker_ctx,
        .queued = true,
    };

    bucket_lock(b);
    if (spec->validate && !spec->validate(spec->ctx)) {
        bucket_unlock(b);
        return WEFT_EAGAIN;
    }
    bucket_append(b, &w);
    bucket_unlock(b);

    if (spec->before_sleep)
        spec->before_sleep(spec->ctx);

    /* The thread's wait state is the thread's: a coroutine that parks
     * leaves its thread running the loop, not waiting. */
    bool slot = w.parker == &thread_parker;
    if (slot)
        weft__wait_slot_enter(spec->why, spec->what);
    int rc = w.parker->sleep(&w, deadline);
    if (rc != 0) {
        bucket_lock(b);
        if (w.queued) {
            bucket_remove(b, &w);
            if (spec->timed_out)
                spec->timed_out(spec->ctx, !bucket_has_key(b, key));
            bucket_unlock(b);
            if (slot)
                weft__wait_slot_leave();
            return rc;
        }
        bucket_unlock(b);
        /* An unparker dequeued us before we could: its wake is decided and
         * imminent, so the wait counts as woken. */
        while (w.parker->sleep(&w, WEFT__NO_DEADLINE) != 0)
            ;
    }
    /* Woken: the unparker took the record off the queue before the wake. */
    WEFT_ASSERT(!w.queued);
    if (slot)
        weft__wait_slot_leave();
    if (unpark_token)
        *unpark_token = w.unpark_token;
    return 0;
}

/* About every millisecond (jittered so buckets do not line up) an unpark
 * reports be_fair. */
static bool bucket_time_to_be_fair(bucket *b)
{
    /* Reading the clock costs more than the rest of an unpark (a hand-off
     * between two coroutines or threads spent a sixth of its time there):
     * look only at every 16th unpark. Fairness matters under contention,
     * where unparks are frequent, so it still comes about every
     * millisecond. */
    if (++b->fair_tick & 15)
        return false;
    int64_t now = weft__now_ns();
    if (now < b->fair_deadline)
        return false;
    b->rng = b->rng * 1103515245u + 12345u;
    b->fair_deadline = now + 500000 + (b->rng >> 12) % 500000;
    return true;
}

/* Dequeue (under the bucket lock) up to max waiters the filter accepts, run
 * cb, give them its token: the waiters to wake, chained by next. */
static weft__waiter *dequeue(const void *key, size_t max, weft__filter_fn filter,
                             weft__unpark_cb cb, void *ctx, bool fair)
{
    bucket *b = bucket_for(key);
    weft__waiter *woken = NULL, **woken_tail = &woken;
    weft__unpark_result r = {0, false, false};

    bucket_lock(b);
    weft__waiter *prev = NULL, *w = b->head;
    while (w) {
        if (w->key != key) {
            prev = w;
            w = w->next;
            continue;
        }
        weft__filter_result act = WEFT__FILTER_UNPARK;
        if (r.unparked == max)
            act = WEFT__FILTER_STOP;
        else if (filter)
            act = filter(ctx, w->park_token);
        if (act == WEFT__FILTER_STOP) {
            r.have_more = true;
            break;
        }
        if (act == WEFT__FILTER_SKIP) {
            r.have_more = true;
            prev = w;
            w = w->next;
            continue;
        }
        weft__waiter *next = w->next;
        bucket_unlink(b, prev, w);
        *woken_tail = w;
        woken_tail = &w->next;
        r.unparked++;
        w = next;
    }
    if (fair && r.unparked)
        r.be_fair = bucket_time_to_be_fair(b);
    uintptr_t token = cb ? cb(ctx, r) : 0;
    for (weft__waiter *p = woken; p; p = p->next)
        p->unpark_token = token;
    bucket_unlock(b);
    return woken;
}

size_t weft__unpark_wake(weft__waiter *list)
{
    size_t n = 0;
    for (weft__waiter *p = list; p; n++) {
        weft__waiter *next = p->next; /* p is gone once woken */
        p->parker->wake(p);
        p = next;
    }
    return n;
}

static size_t unpark(const void *key, size_t max, weft__filter_fn filter, weft__unpark_cb cb,
                     void *ctx, bool fair)
{
    return weft__unpark_wake(dequeue(key, max, filter, cb, ctx, fair));
}

weft__waiter *weft__unpark_filter_held(const void *key, size_t max, weft__filter_fn filter,
                                       weft__unpark_cb cb, void *ctx)
{
    return dequeue(key, max, filter, cb, ctx, false);
}

size_t weft__unpark_filter(const void *key, size_t max, weft__filter_fn filter,
                           weft__unpark_cb cb, void *ctx)
{
    return unpark(key, max, filter, cb, ctx, false);
}

size_t weft__unpark(const void *key, size_t max, weft__unpark_cb cb, void *ctx)
{
    return unpark(key, max, NULL, cb, ctx, false);
}

size_t weft__unpark_fair(const void *key, size_t max, weft__unpark_cb cb, void *ctx)
{
    return unpark(key, max, NULL, cb, ctx, true);
}

void weft__park_after_fork_child(void)
{
    memset(buckets, 0, sizeof buckets);
}
