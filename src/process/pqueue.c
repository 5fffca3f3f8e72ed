/*
 * Process queues (multiprocessing.Queue and JoinableQueue): byte messages
 * in a ring of shared memory. See weft/ipc.h for the contract.
 *
 * Layout: one shared block holds the state, the lock, the wait words and
 * the ring; the handle (process-private, in handle memory so that every
 * child has a copy at the same address) holds the pointer to it and this
 * process's "closed" flag. Items are records in the ring, framed as every
 * byte ring (xring, internal/xwait.h): an 8-byte length, then the bytes,
 * padded to 8, at byte offsets that only grow (head: the next record
 * written, tail: the oldest).
 *
 * Lock: a robust process-shared lock (xlock, internal/xwait.h).
 * Uncontended it is a compare-and-swap in user space, like a weft_lock. If
 * its holder dies, the next locker is told and repairs the state (below)
 * before its own operation, so a killed process never wedges the queue.
 *
 * Waiting: three shared wait words (xword: items came, space came, all
 * tasks done). A waiter counts itself and reads the word under the lock,
 * then sleeps on the word outside it; whoever changes the state bumps the
 * word under the lock only if someone is counted, and wakes after
 * unlocking, so an uncontended put or get makes no system call (xword's
 * "Under a lock"). pthread condition variables are not used: glibc's keep
 * per-waiter group state that a waiter killed mid-wait can leave wrong for
 * the others.
 *
 * Crash consistency: the state a get or put changes (head, tail, items,
 * unfinished tasks) is published by one commit: the new values are written
 * to `next`, then `journal` is set, then they are copied to `cur`, then
 * `journal` is cleared. A process killed anywhere in there leaves either
 * journal clear and `cur` untouched (the operation never happened) or
 * journal set and `next` complete, which the repair copies to `cur` (redo).
 * A get copies the item out before its commit, so a consumer killed
 * mid-get leaves the item at the front of the queue for the others. The
 * ordering needed is only program order on the dying thread itself: a
 * SIGKILL stops it between two instructions and every store it made before
 * is in memory, so compiler barriers (signal fences) are enough.
 */
#include <limits.h>
#include <stdalign.h>
#include <stdint.h>
#include <stdlib.h>

#include "internal/check.h"
#include "internal/clock.h"
#include "internal/share.h"
#include "internal/xwait.h"
#include "weft/ipc.h"

#define MAX_CAPACITY ((size_t)1 << 40)

struct pq_state {
    uint64_t head, tail;  /* byte offsets: next record written, oldest record */
    uint64_t items;       /* records between tail and head */
    uint64_t unfinished;  /* JoinableQueue: put minus task_done */
};

/* The word a kind of waiter sleeps on, each on its own cache line:
 * putters and getters bump different ones. */
struct pq_wait {
    alignas(64) weft__xword w;
};

struct pq_shared {
    weft__xlock lock;
    uint64_t cap;     /* ring bytes, a multiple of 64 */
    uint64_t maxsize; /* items, 0 for no limit */
    bool joinable;
    uint32_t journal; /* 1 while `next` is being copied to `cur` */
    struct pq_state cur, next;
    struct pq_wait got_items, got_space, all_done;
    alignas(64) unsigned char ring[];
};

struct weft_pqueue {
    struct pq_shared *s;
    bool closed; /* in this process */
};

/* Tests set this to stop a process with the lock held (then they kill
 * it): called with WEFT__PQ_HOOK_COPIED inside a get after the copy and
 * before the commit, with WEFT__PQ_HOOK_JOURNAL inside every commit once
 * the journal is set. Declared in the test, not in a header: it is no API. */
void (*weft__pqueue_hook)(int where);
enum { WEFT__PQ_HOOK_COPIED = 1, WEFT__PQ_HOOK_JOURNAL = 2 };

#define BARRIER() __atomic_signal_fence(__ATOMIC_SEQ_CST)

/* Write st as the queue's state: see Crash consistency above. */
static void commit(struct pq_shared *s, struct pq_state st)
{
    s->next = st;
    BARRIER();
    s->journal = 1;
    BARRIER();
    if (weft__pqueue_hook)
        weft__pqueue_hook(WEFT__PQ_HOOK_JOURNAL);
    /* Atomic stores: qsize and empty read these without the lock. */
    __atomic_store_n(&s->cur.head, st.head, __ATOMIC_RELAXED);
    __atomic_store_n(&s->cur.tail, st.tail, __ATOMIC_RELAXED);
    __atomic_store_n(&s->cur.items, st.items, __ATOMIC_RELAXED);
    __atomic_store_n(&s->cur.unfinished, st.unfinished, __ATOMIC_RELAXED);
    BARRIER();
    s->journal = 0;
}

/* The holder of the lock died inside a critical section: finish its
 * commit if it had begun one, else what it did is not part of the state. */
static void repair(struct pq_shared *s)
{
    if (s->journal)
        commit(s, s->next);
}

/* Deadlines here: WEFT__NO_DEADLINE waits without end, 0 polls (timeout 0:
 * no clock read), anything else is an absolute CLOCK_MONOTONIC time. */
static int64_t deadline_of(double timeout)
{
    return timeout == 0 ? 0 : weft__deadline(timeout);
}

static bool passed(int64_t deadline)
{
    return deadline == 0 || (deadline != WEFT__NO_DEADLINE && weft__now_ns() >= deadline);
}

/* Take the lock by the deadline: 0, or WEFT_ETIMEDOUT (not held). The lock
 * is held only for one copy, so waiting for it is not what a poll (timeout
 * 0) refuses to do: a poll takes it as a wait without end does, and fails
 * only on the queue's own state (as the in-process queue's try_put). A
 * positive timeout bounds this wait too, which matters only for a holder
 * that is stopped (SIGSTOP, a debugger). A holder that died is repaired
 * here (xlock's policy: the repair is a redo, so a repairer that dies too
 * is repaired in turn by the next locker). */
static int lock_by(struct pq_shared *s, int64_t deadline)
{
    int rc = weft__xlock_lock(&s->lock, deadline == 0 ? WEFT__NO_DEADLINE : deadline);
    if (rc == WEFT_EOWNERDEAD)
        repair(s);
    else if (rc)
        return rc; /* WEFT_ETIMEDOUT: a plain lock has no other outcome */
    return 0;
}

static void pq_unlock(struct pq_shared *s)
{
    weft__xlock_unlock(&s->lock);
}

/* Under the lock: tell w's sleepers, if any; whether to wake them once the
 * lock is released. */
static bool signal_locked(struct pq_wait *w)
{
    return weft__xword_signal_locked(&w->w);
}

static void wake(struct pq_wait *w, int n)
{
    weft__xword_wake(&w->w, n);
}

/* Called with the lock held when the caller must wait: sleep on w until it
 * is bumped or the deadline passes. 0 with the lock held again (the caller
 * rechecks), or WEFT_ETIMEDOUT without it. */
static int wait_locked(struct pq_shared *s, struct pq_wait *w, int64_t deadline)
{
    if (passed(deadline)) {
        pq_unlock(s);
        return WEFT_ETIMEDOUT;
    }
    uint32_t seen = weft__xword_enter(&w->w);
    pq_unlock(s);
    weft__xword_sleep(&w->w, seen, deadline);
    return lock_by(s, deadline);
}

int weft_pqueue_new(weft_pqueue **out, const weft_pqueue_opts *opts)
{
    if (!out)
        return WEFT_EINVAL;
    size_t cap = opts && opts->capacity ? opts->capacity : WEFT_PQUEUE_DEFAULT_CAPACITY;
    if (cap > MAX_CAPACITY)
        return WEFT_EINVAL;
    cap = (cap + 63) & ~(size_t)63;
    weft_pqueue *q = weft__handle_alloc(sizeof *q);
    if (!q)
        return WEFT_ENOMEM;
    struct pq_shared *s = weft__shared_alloc(sizeof *s + cap);
    if (!s) {
        weft__handle_free(q);
        return WEFT_ENOMEM;
    }
    if (weft__xlock_init(&s->lock, WEFT__XLOCK_PLAIN) != 0) {
        weft__shared_free(s);
        weft__handle_free(q);
        return WEFT_ENOMEM;
    }
    s->cap = cap;
    s->maxsize = opts ? opts->maxsize : 0;
    s->joinable = opts && opts->joinable;
    q->s = s;
    *out = q;
    return 0;
}

void weft_pqueue_free(weft_pqueue *q)
{
    if (!q)
        return;
    /* Only the creator frees the ring (and the lock in it); a child's
     * shared_free would do nothing anyway, but the lock must not be
     * destroyed under the others either. The others are done with the
     * queue, so nobody live holds the lock (a dead holder's is taken over
     * by the destroy). */
    if (weft__shared_owned(q->s)) {
        weft__xlock_destroy(&q->s->lock);
        weft__shared_free(q->s);
    }
    weft__handle_free(q);
}

int weft_pqueue_close(weft_pqueue *q)
{
    if (!q)
        return WEFT_EINVAL;
    q->closed = true; /* a second close changes nothing, as in Python */
    return 0;
}

/* Returns WEFT_ETIMEDOUT when the wait ends without success. */
static int put_impl(weft_pqueue *q, const void *buf, size_t len, double timeout)
{
    if (!q || (!buf && len) || weft__timeout_valid(timeout))
        return WEFT_EINVAL;
    if (q->closed)
        return WEFT_ESTATE;
    struct pq_shared *s = q->s;
    if (len > s->cap - WEFT__XRING_HDR)
        return WEFT_EMSGSIZE;
    uint64_t need = weft__xring_record_size(len);
    int64_t deadline = deadline_of(timeout);
    int rc = lock_by(s, deadline);
    for (;;) {
        if (rc)
            return rc;
        struct pq_state st = s->cur;
        if ((!s->maxsize || st.items < s->maxsize) && s->cap - (st.head - st.tail) >= need)
            break;
        rc = wait_locked(s, &s->got_space, deadline);
    }
    struct pq_state st = s->cur;
    WEFT_ASSERT(st.head - st.tail + need <= s->cap);
    /* The record is written beyond head, where nobody reads until the
     * commit: a putter killed here leaves no trace. */
    st.head = weft__xring_put(s->ring, s->cap, st.head, buf, len);
    st.items++;
    if (s->joinable)
        st.unfinished++;
    commit(s, st);
    bool woke = signal_locked(&s->got_items);
    pq_unlock(s);
    if (woke)
        wake(&s->got_items, 1);
    return 0;
}

int weft_pqueue_put(weft_pqueue *q, const void *buf, size_t len, double timeout)
{
    return put_impl(q, buf, len, timeout);
}

/* Take the oldest item: into buf (cap bytes), or into a malloc'ed buffer
 * stored in *out when out is not NULL. */
static int get_impl(weft_pqueue *q, void *buf, size_t cap, void **out, size_t *len,
                    double timeout)
{
    if (weft__timeout_valid(timeout))
        return WEFT_EINVAL;
    if (q->closed)
        return WEFT_ESTATE;
    struct pq_shared *s = q->s;
    int64_t deadline = deadline_of(timeout);
    int rc = lock_by(s, deadline);
    for (;;) {
        if (rc)
            return rc;
        if (s->cur.items > 0)
            break;
        rc = wait_locked(s, &s->got_items, deadline);
    }
    struct pq_state st = s->cur;
    uint64_t n = weft__xring_len(s->ring, s->cap, st.tail);
    /* Only a committed put wrote the length at tail. */
    WEFT_ASSERT(weft__xring_record_size(n) <= st.head - st.tail);
    void *dst = buf;
    if (out) {
        dst = malloc(n ? n : 1);
        if (!dst)
            rc = WEFT_ENOMEM;
    } else if (n > cap) {
        *len = (size_t)n;
        rc = WEFT_EMSGSIZE;
    }
    if (rc) {
        /* The item stays; this getter may have taken the wake-up meant for
         * one that can take it. */
        bool woke = signal_locked(&s->got_items);
        pq_unlock(s);
        if (woke)
            wake(&s->got_items, 1);
        return rc;
    }
    st.tail = weft__xring_get(s->ring, s->cap, st.tail, dst, n);
    if (weft__pqueue_hook)
        weft__pqueue_hook(WEFT__PQ_HOOK_COPIED);
    st.items--;
    commit(s, st);
    bool wake_more = st.items > 0 && signal_locked(&s->got_items);
    bool wake_put = signal_locked(&s->got_space);
    pq_unlock(s);
    /* Every waiting putter: freed bytes may suit a small item and not the
     * one a single woken putter holds. A getter is woken for each item
     * left, in case a put's single wake-up went to one that has gone. */
    if (wake_put)
        wake(&s->got_space, INT_MAX);
    if (wake_more)
        wake(&s->got_items, 1);
    if (out)
        *out = dst;
    *len = (size_t)n;
    return 0;
}

int weft_pqueue_get(weft_pqueue *q, void *buf, size_t cap, size_t *len, double timeout)
{
    if (!q || !len || (!buf && cap))
        return WEFT_EINVAL;
    return get_impl(q, buf, cap, NULL, len, timeout);
}

int weft_pqueue_get_alloc(weft_pqueue *q, void **buf, size_t *len, double timeout)
{
    if (!q || !buf || !len)
        return WEFT_EINVAL;
    return get_impl(q, NULL, 0, buf, len, timeout);
}

size_t weft_pqueue_qsize(const weft_pqueue *q)
{
    if (!q || q->closed)
        return 0;
    return (size_t)__atomic_load_n(&q->s->cur.items, __ATOMIC_RELAXED);
}

bool weft_pqueue_empty(const weft_pqueue *q)
{
    return weft_pqueue_qsize(q) == 0;
}

bool weft_pqueue_full(const weft_pqueue *q)
{
    if (!q || q->closed || !q->s->maxsize)
        return false;
    return weft_pqueue_qsize(q) >= q->s->maxsize;
}

size_t weft_pqueue_max_item(const weft_pqueue *q)
{
    return q ? (size_t)(q->s->cap - WEFT__XRING_HDR) : 0;
}

int weft_pqueue_task_done(weft_pqueue *q)
{
    if (!q)
        return WEFT_EINVAL;
    if (q->closed || !q->s->joinable)
        return WEFT_ESTATE;
    struct pq_shared *s = q->s;
    lock_by(s, WEFT__NO_DEADLINE);
    struct pq_state st = s->cur;
    if (st.unfinished == 0) {
        pq_unlock(s);
        return WEFT_EOVERFLOW;
    }
    st.unfinished--;
    commit(s, st);
    bool woke = st.unfinished == 0 && signal_locked(&s->all_done);
    pq_unlock(s);
    if (woke)
        wake(&s->all_done, INT_MAX);
    return 0;
}

int weft_pqueue_join(weft_pqueue *q, double timeout)
{
    if (!q || weft__timeout_valid(timeout))
        return WEFT_EINVAL;
    if (q->closed || !q->s->joinable)
        return WEFT_ESTATE;
    struct pq_shared *s = q->s;
    int64_t deadline = deadline_of(timeout);
    int rc = lock_by(s, deadline);
    while (!rc && s->cur.unfinished > 0)
        rc = wait_locked(s, &s->all_done, deadline);
    if (!rc)
        pq_unlock(s);
    return rc;
}
