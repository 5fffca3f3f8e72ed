/*
 * Queues: Queue (FIFO), LifoQueue, PriorityQueue and SimpleQueue.
 *
 * One weft_lock guards the storage (a ring that doubles for FIFO, an array
 * for LIFO, a binary heap for priority) and the counters that go with it.
 * Nothing allocates per item: storage grows by doubling and never shrinks.
 *
 * Waiting goes through park, on three keys inside the queue: getters park on
 * &q->getters, putters on &q->putters, joiners on &q->joiners. Each key's
 * word counts the waiters parked on it. A count changes only under the key's
 * park bucket lock (incremented in validate, decremented in the unpark and
 * timed-out callbacks), so it is exact there; elsewhere it is read to decide
 * whether an unpark is needed at all, which keeps the bucket (and every
 * system call) out of a hand-off whose other side is running.
 *
 * No lost wake-up. It is a Dekker pattern between a waiter's validate and the
 * other side's update, both sequentially consistent:
 *   getter (validate):  getters += 1;  then read count (and shut)
 *   putter:             count += 1;    then read getters
 * At least one of them sees the other: either validate sees the item and
 * refuses to park (undoing its increment), or the putter sees the getter and
 * unparks one. Putters against getters (count vs putters) and joiners against
 * task_done (unfinished vs joiners) work the same way. A waiter that is woken
 * and then finds the item taken by a thread that barged in simply parks again:
 * the item it lost was got, so no item stays in the queue with a getter
 * parked and no wake-up on its way.
 *
 * One wake-up per item: a put wakes one getter, a get wakes one putter. The
 * woken thread retries from the top. Shutdown and the last task_done wake all.
 *
 * Hand-off: a put that finds the queue empty and a getter parked gives the
 * item straight to the oldest one, as a Go channel does. Under the queue's
 * lock (nothing can be put ahead of it) and park's bucket lock (the getter is
 * still queued, so it cannot time out under us), the item goes into the
 * getter's slot (its park token) and the getter, dequeued there, is woken
 * with HANDED once the queue's lock is released (a thread's wake-up is a
 * system call, not to be made holding it): it returns the item without
 * locking the queue again, and the item never takes room in it (the get wakes
 * no putter for it; the put passes on the wake it may have had for that room
 * instead). This halves the atomic operations of a producer-consumer exchange
 * between two running sides. The bucket lock nests inside the queue's:
 * nothing that holds a bucket lock takes a queue's lock (validate and the
 * callbacks only read and count).
 *
 * User code (the priority comparator) runs under the queue's lock; the drop
 * callback of an immediate shutdown runs with no lock held.
 */
#include <stdlib.h>
#include <string.h>

#include "internal/clock.h"
#include "internal/park.h"
#include "internal/solo.h"
#include "internal/sync.h"
#include "platform/futex.h"
#include "weft/queue.h"
#include "weft/sync.h"

enum queue_kind { KIND_FIFO, KIND_LIFO, KIND_PRIORITY, KIND_SIMPLE };

#define SHUT 1u      /* puts fail; gets drain, then fail */
#define SHUT_NOW 2u  /* gets fail at once (immediate shutdown) */

#define INITIAL_CAP 16

/* How many times a getter or putter looks at the queue before it parks: a
 * hand-off partner that is running usually delivers within this. */
#define PREPARK_SPIN 64

typedef struct heap_entry {
    void *item;
    uint64_t seq; /* insertion order: the tie-breaker */
} heap_entry;

struct weft_queue {
    /* Read-only after creation. */
    int kind;
    size_t maxsize;
    weft_compare_fn cmp;
    void *cmp_ctx;

    /* Guarded by lock. count, unfinished and shut are also read without it
     * (atomically): by qsize/empty/full, and by the waiters' validate. */
    __attribute__((aligned(64))) weft_lock lock;
    uint32_t shut;
    size_t count;
    size_t unfinished; /* put and not yet task_done */
    size_t cap;        /* slots in buf (a power of two for the ring) */
    size_t head;       /* FIFO: index of the oldest item */
    void **buf;        /* FIFO ring, LIFO stack */
    heap_entry *heap;  /* priority */
    uint64_t seq;

    /* Park keys, and counts of the waiters parked on them. */
    __attribute__((aligned(64))) uint32_t getters;
    __attribute__((aligned(64))) uint32_t putters;
    uint32_t joiners;
};

/* ---- storage (lock held) ---- */

/* Make room for one more item: 0 or WEFT_ENOMEM (nothing changed). */
static int storage_reserve(weft_queue *q)
{
    if (q->count < q->cap)
        return 0;
    if (q->cap > SIZE_MAX / 2 / sizeof(heap_entry))
        return WEFT_ENOMEM;
    size_t ncap = q->cap * 2;
    if (q->kind == KIND_PRIORITY) {
        heap_entry *h = realloc(q->heap, ncap * sizeof *h);
        if (!h)
            return WEFT_ENOMEM;
        q->heap = h;
    } else if (q->kind == KIND_LIFO) {
        void **b = realloc(q->buf, ncap * sizeof *b);
        if (!b)
            return WEFT_ENOMEM;
        q->buf = b;
    } else {
        /* The ring is full: unroll it into the new one, oldest first. */
        void **b = malloc(ncap * sizeof *b);
        if (!b)
            return WEFT_ENOMEM;
        size_t first = q->cap - q->head;
        memcpy(b, q->buf + q->head, first * sizeof *b);
        memcpy(b + first, q->buf, q->head * sizeof *b);
        free(q->buf);
        q->buf = b;
        q->head = 0;
    }
    q->cap = ncap;
    return 0;
}

/* Ordering of the heap: a before b? */
static bool heap_before(const weft_queue *q, const heap_entry *a, const heap_entry *b)
{
    int c = q->cmp(a->item, b->item, q->cmp_ctx);
    return c < 0 || (c == 0 && a->seq < b->seq);
}

/* Room reserved. */
static void storage_push(weft_queue *q, void *item)
{
    size_t n = q->count;
    switch (q->kind) {
    case KIND_PRIORITY: {
        heap_entry e = {item, q->seq++};
        size_t i = n;
        while (i > 0) {
            size_t parent = (i - 1) / 2;
            if (!heap_before(q, &e, &q->heap[parent]))
                break;
            q->heap[i] = q->heap[parent];
            i = parent;
        }
        q->heap[i] = e;
        break;
    }
    case KIND_LIFO:
        q->buf[n] = item;
        break;
    default:
        q->buf[(q->head + n) & (q->cap - 1)] = item;
        break;
    }
}

/* count > 0. */
static void *storage_pop(weft_queue *q)
{
    size_t n = q->count;
    switch (q->kind) {
    case KIND_PRIORITY: {
        void *top = q->heap[0].item;
        heap_entry last = q->heap[n - 1];
        n--;
        size_t i = 0;
        for (;;) {
            size_t c = 2 * i + 1;
            if (c >= n)
                break;
            if (c + 1 < n && heap_before(q, &q->heap[c + 1], &q->heap[c]))
                c++;
            if (!heap_before(q, &q->heap[c], &last))
                break;
            q->heap[i] = q->heap[c];
            i = c;
        }
        if (n > 0)
            q->heap[i] = last;
        return top;
    }
    case KIND_LIFO:
        return q->buf[n - 1];
    default: {
        void *item = q->buf[q->head];
        q->head = (q->head + 1) & (q->cap - 1);
        return item;
    }
    }
}

/* ---- creation ---- */

static int queue_create(weft_queue **out, int kind, size_t maxsize, weft_compare_fn cmp,
                        void *ctx)
{
    if (!out)
        return WEFT_EINVAL;
    weft_queue *q = aligned_alloc(64, sizeof *q);
    if (!q)
        return WEFT_ENOMEM;
    memset(q, 0, sizeof *q);
    q->kind = kind;
    q->maxsize = maxsize;
    q->cmp = cmp;
    q->cmp_ctx = ctx;
    weft_lock_init(&q->lock);
    q->cap = INITIAL_CAP;
    if (kind == KIND_PRIORITY)
        q->heap = malloc(q->cap * sizeof *q->heap);
    else
        q->buf = malloc(q->cap * sizeof *q->buf);
    if (!q->heap && !q->buf) {
        free(q);
        return WEFT_ENOMEM;
    }
    *out = q;
    return 0;
}

int weft_queue_new(weft_queue **out, size_t maxsize)
{
    return queue_create(out, KIND_FIFO, maxsize, NULL, NULL);
}

int weft_lifo_queue_new(weft_queue **out, size_t maxsize)
{
    return queue_create(out, KIND_LIFO, maxsize, NULL, NULL);
}

int weft_priority_queue_new(weft_queue **out, size_t maxsize, weft_compare_fn cmp, void *ctx)
{
    if (!cmp)
        return WEFT_EINVAL;
    return queue_create(out, KIND_PRIORITY, maxsize, cmp, ctx);
}

int weft_simple_queue_new(weft_queue **out)
{
    return queue_create(out, KIND_SIMPLE, 0, NULL, NULL);
}

void weft_queue_free(weft_queue *q)
{
    if (!q)
        return;
    free(q->buf);
    free(q->heap);
    free(q);
}

/* ---- waking ---- */

/* Bucket locked: n waiters of the key left. Every change to a key's count
 * happens under its bucket lock, so a load and a store suffice (no bus
 * lock); only the increment in validate is half of the Dekker pair. */
static void count_out(uint32_t *key, size_t n)
{
    __atomic_store_n(key, __atomic_load_n(key, __ATOMIC_RELAXED) - (uint32_t)n,
                     __ATOMIC_RELAXED);
}

/* The unpark token of a getter that was handed its item (see Hand-off). */
#define HANDED 1u

typedef struct handoff {
    weft_queue *q;
    void *item;
} handoff;

/* Bucket locked, for the getter about to be woken: its park token is the
 * address of its slot. */
static weft__filter_result give_item(void *ctx, uintptr_t slot)
{
    *(void **)slot = ((handoff *)ctx)->item;
    return WEFT__FILTER_UNPARK;
}

static uintptr_t gave_item(void *ctx, weft__unpark_result r)
{
    count_out(&((handoff *)ctx)->q->getters, r.unparked);
    return HANDED;
}

/* Unpark callback: the key's word counts its parked waiters. */
static uintptr_t waiters_left(void *ctx, weft__unpark_result r)
{
    count_out(ctx, r.unparked);
    return 0;
}

static void wake(uint32_t *key, size_t n)
{
    /* Sequentially consistent: the second half of the Dekker pair (see the
     * top of the file); the caller's update of the state came before. */
    if (__atomic_load_n(key, __ATOMIC_SEQ_CST) != 0)
        weft__unpark(key, n, waiters_left, key);
}

typedef struct queue_wait {
    weft_queue *q;
    uint32_t *key;
    bool (*ready)(const weft_queue *q); /* true: no reason to park */
} queue_wait;

static bool get_ready(const weft_queue *q)
{
    return __atomic_load_n(&q->count, __ATOMIC_SEQ_CST) != 0 ||
           __atomic_load_n(&q->shut, __ATOMIC_SEQ_CST) != 0;
}

static bool put_ready(const weft_queue *q)
{
    return __atomic_load_n(&q->count, __ATOMIC_SEQ_CST) < q->maxsize ||
           __atomic_load_n(&q->shut, __ATOMIC_SEQ_CST) != 0;
}

static bool join_ready(const weft_queue *q)
{
    return __atomic_load_n(&q->unfinished, __ATOMIC_SEQ_CST) == 0;
}

/* Bucket locked: count ourselves in, then look (the first half of the
 * Dekker pair); if there is no need to wait after all, count ourselves out. */
static bool wait_validate(void *ctx)
{
    queue_wait *w = ctx;
    WEFT__FETCH_ADD32(w->key, 1, __ATOMIC_SEQ_CST);
    if (w->ready(w->q)) {
        count_out(w->key, 1);
        return false;
    }
    return true;
}

static void wait_timed_out(void *ctx, bool was_last)
{
    queue_wait *w = ctx;
    count_out(w->key, 1);
}

/* Park until woken, refused (the state changed) or the deadline: 0 to look
 * again, or WEFT_ETIMEDOUT / a parker's code. A short spin first. A getter
 * passes its slot (else NULL): *handed tells whether a put filled it. */
static int queue_park(weft_queue *q, uint32_t *key, bool (*ready)(const weft_queue *),
                      int64_t deadline, void **slot, bool *handed)
{
    if (handed)
        *handed = false;
    for (int i = 0; weft__park_should_spin() && i < PREPARK_SPIN; i++) {
        if (ready(q))
            return 0;
        weft__cpu_relax();
    }
    queue_wait w = {q, key, ready};
    weft__park_spec spec = {
        .validate = wait_validate,
        .timed_out = wait_timed_out,
        .ctx = &w,
        .token = (uintptr_t)slot,
        .why = WEFT_WAIT_QUEUE,
        .what = q,
    };
    uintptr_t token = 0;
    int rc = weft__park(key, &spec, deadline, &token);
    if (handed)
        *handed = rc == 0 && token == HANDED;
    return rc == WEFT_EAGAIN ? 0 : rc;
}

/* ---- put ---- */

/* One attempt: 0, WEFT_EFULL, WEFT_ESHUTDOWN or WEFT_ENOMEM. */
static int put_once(weft_queue *q, void *item)
{
    weft__lock_take(&q->lock);
    if (q->shut) {
        weft_lock_release(&q->lock);
        return WEFT_ESHUTDOWN;
    }
    if (q->maxsize && q->count >= q->maxsize) {
        weft_lock_release(&q->lock);
        return WEFT_EFULL;
    }
    int rc = storage_reserve(q);
    if (rc) {
        weft_lock_release(&q->lock);
        return rc;
    }
    /* Counted before a hand-off wakes the getter, whose task_done may
     * follow at once. */
    if (q->kind != KIND_SIMPLE)
        __atomic_store_n(&q->unfinished, q->unfinished + 1, __ATOMIC_RELAXED);
    if (q->count == 0 && __atomic_load_n(&q->getters, __ATOMIC_RELAXED) != 0) {
        handoff h = {q, item};
        weft__waiter *getter = weft__unpark_filter_held(&q->getters, 1, give_item, gave_item, &h);
        if (getter) {
            weft_lock_release(&q->lock);
            weft__unpark_wake(getter); /* out of the lock: maybe a system call */
            /* The room this put may have been woken for is still free: the
             * get that would have taken the item from it, and woken the
             * next putter, will not happen. Pass the wake on. */
            if (q->maxsize)
                wake(&q->putters, 1);
            return 0;
        }
        /* The getters timed out meanwhile: into the queue. */
    }
    storage_push(q, item);
    __atomic_store_n(&q->count, q->count + 1, __ATOMIC_SEQ_CST);
    weft_lock_release(&q->lock);
    wake(&q->getters, 1);
    return 0;
}

/* A put that may wait: the deadline is taken only once it must. Out of
 * line, as get_waiting: the public call stays a check and a jump. */
static __attribute__((noinline)) int put_waiting(weft_queue *q, void *item, double timeout)
{
    int rc = put_once(q, item);
    if (rc != WEFT_EFULL)
        return rc;
    if (timeout == 0)
        return WEFT_ETIMEDOUT;
    int64_t deadline = weft__deadline(timeout);
    for (;;) {
        rc = queue_park(q, &q->putters, put_ready, deadline, NULL, NULL);
        if (rc == WEFT_ETIMEDOUT) {
            /* As Python: what the queue holds when the time is up decides. */
            rc = put_once(q, item);
            return rc == WEFT_EFULL ? WEFT_ETIMEDOUT : rc;
        }
        if (rc)
            return rc;
        rc = put_once(q, item);
        if (rc != WEFT_EFULL)
            return rc;
    }
}

int weft_queue_put(weft_queue *q, void *item, double timeout)
{
    if (!q || weft__timeout_valid(timeout))
        return WEFT_EINVAL;
    return put_waiting(q, item, timeout);
}

/* ---- get ---- */

/* One attempt: 0, WEFT_EEMPTY or WEFT_ESHUTDOWN. */
static int get_once(weft_queue *q, void **item)
{
    weft__lock_take(&q->lock);
    if (q->count == 0 || (q->shut & SHUT_NOW)) {
        int rc = q->shut ? WEFT_ESHUTDOWN : WEFT_EEMPTY;
        weft_lock_release(&q->lock);
        return rc;
    }
    *item = storage_pop(q);
    __atomic_store_n(&q->count, q->count - 1, __ATOMIC_SEQ_CST);
    weft_lock_release(&q->lock);
    if (q->maxsize)
        wake(&q->putters, 1);
    return 0;
}

/* A get that may wait: the deadline is taken only once it must. */
static __attribute__((noinline)) int get_waiting(weft_queue *q, void **item, double timeout)
{
    int rc;
    if (timeout == 0) {
        rc = get_once(q, item);
        return rc == WEFT_EEMPTY ? WEFT_ETIMEDOUT : rc;
    }
    /* An empty queue is seen without its lock: park's validate looks
     * again, under the bucket lock, before the getter sleeps. */
    if (get_ready(q) && (rc = get_once(q, item)) != WEFT_EEMPTY)
        return rc;
    int64_t deadline = weft__deadline(timeout);
    for (;;) {
        void *slot;
        bool handed;
        rc = queue_park(q, &q->getters, get_ready, deadline, &slot, &handed);
        if (handed) {
            *item = slot;
            return 0;
        }
        if (rc == WEFT_ETIMEDOUT) {
            rc = get_once(q, item);
            return rc == WEFT_EEMPTY ? WEFT_ETIMEDOUT : rc;
        }
        if (rc)
            return rc;
        if (get_ready(q) && (rc = get_once(q, item)) != WEFT_EEMPTY)
            return rc;
    }
}

int weft_queue_get(weft_queue *q, void **item, double timeout)
{
    if (!q || !item || weft__timeout_valid(timeout))
        return WEFT_EINVAL;
    return get_waiting(q, item, timeout);
}

/* ---- sizes ---- */

size_t weft_queue_qsize(const weft_queue *q)
{
    return q ? __atomic_load_n(&q->count, __ATOMIC_RELAXED) : 0;
}

bool weft_queue_empty(const weft_queue *q)
{
    return weft_queue_qsize(q) == 0;
}

bool weft_queue_full(const weft_queue *q)
{
    return q && q->maxsize && weft_queue_qsize(q) >= q->maxsize;
}

size_t weft_queue_maxsize(const weft_queue *q)
{
    return q ? q->maxsize : 0;
}

/* ---- tasks ---- */

/* Lock held: one task fewer; true if that was the last one. */
static bool task_finished(weft_queue *q)
{
    size_t left = q->unfinished - 1;
    __atomic_store_n(&q->unfinished, left, __ATOMIC_SEQ_CST);
    return left == 0;
}

int weft_queue_task_done(weft_queue *q)
{
    if (!q)
        return WEFT_EINVAL;
    if (q->kind == KIND_SIMPLE)
        return WEFT_ESTATE;
    weft__lock_take(&q->lock);
    if (q->unfinished == 0) {
        weft_lock_release(&q->lock);
        return WEFT_EOVERFLOW;
    }
    bool last = task_finished(q);
    weft_lock_release(&q->lock);
    if (last)
        wake(&q->joiners, SIZE_MAX);
    return 0;
}

int weft_queue_join(weft_queue *q, double timeout)
{
    if (!q || weft__timeout_valid(timeout))
        return WEFT_EINVAL;
    if (q->kind == KIND_SIMPLE)
        return WEFT_ESTATE;
    if (join_ready(q))
        return 0;
    if (timeout == 0)
        return WEFT_ETIMEDOUT;
    int64_t deadline = weft__deadline(timeout);
    for (;;) {
        int rc = queue_park(q, &q->joiners, join_ready, deadline, NULL, NULL);
        if (rc == WEFT_ECANCELLED)
            return rc; /* delivered even if the queue just drained */
        if (join_ready(q))
            return 0;
        if (rc)
            return rc;
    }
}

/* ---- shutdown ---- */

int weft_queue_shutdown(weft_queue *q, bool immediate, void (*drop)(void *item))
{
    if (!q)
        return WEFT_EINVAL;
    weft__lock_take(&q->lock);
    __atomic_store_n(&q->shut, q->shut | SHUT | (immediate ? SHUT_NOW : 0), __ATOMIC_SEQ_CST);
    weft_lock_release(&q->lock);
    /* Wake the waiters first: the drops below may take a while. */
    wake(&q->getters, SIZE_MAX);
    wake(&q->putters, SIZE_MAX);
    if (immediate) {
        /* One item at a time, so that drop runs with no lock held. Nothing
         * can be put any more, and gets fail at once, so this loop (or a
         * concurrent shutdown's) sees every item. */
        for (;;) {
            weft__lock_take(&q->lock);
            if (q->count == 0) {
                weft_lock_release(&q->lock);
                break;
            }
            void *item = storage_pop(q);
            __atomic_store_n(&q->count, q->count - 1, __ATOMIC_SEQ_CST);
            bool last = q->kind != KIND_SIMPLE && q->unfinished > 0 && task_finished(q);
            weft_lock_release(&q->lock);
            if (drop)
                drop(item);
            if (last)
                wake(&q->joiners, SIZE_MAX);
        }
    }
    return 0;
}

bool weft_queue_is_shutdown(const weft_queue *q)
{
    return q && __atomic_load_n(&q->shut, __ATOMIC_RELAXED) != 0;
}
