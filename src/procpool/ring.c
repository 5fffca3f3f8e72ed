/*
 * The rings the parent and its workers exchange records through (their
 * format is in internal/procpool.h), the payloads too big for a ring, and
 * the buffers records are copied into.
 *
 * A ring is a power-of-two byte buffer with monotonic head and tail counts,
 * guarded by a robust process-shared lock (xlock, internal/xwait.h): a
 * process killed inside it leaves the next locker told, and since head and
 * tail move only after a record is fully written or fully copied out, the
 * ring is consistent then. Records are 32-byte aligned; one that would straddle the end is
 * preceded by a pad record. The counts only grow, so tail - head, the
 * bytes in use, is never more than the ring holds.
 */

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "internal/check.h"
#include "internal/clock.h"
#include "internal/procpool_ring.h"
#include "internal/share.h"
#include "internal/thread.h"
#include "platform/futex.h"

/* Fault a region in now, at the pool's start, rather than page by page in
 * the middle of the first map (a minor fault costs about as much as
 * handing over a few hundred small items). Best effort: kernels before
 * 5.14 have no MADV_POPULATE_*, and the pages then come on first use. */
void weft__prefault(void *addr, size_t len, bool write)
{
#ifdef MADV_POPULATE_WRITE
    uintptr_t a = (uintptr_t)addr & ~(uintptr_t)4095;
    len += (uintptr_t)addr - a;
    (void)!madvise((void *)a, len, write ? MADV_POPULATE_WRITE : MADV_POPULATE_READ);
#else
    (void)addr;
    (void)len;
    (void)write;
#endif
}

int weft__ring_init(weft__ring *r, size_t cap)
{
    if (weft__xlock_init(&r->lock, WEFT__XLOCK_PLAIN) != 0)
        return WEFT_ENOMEM;
    r->data = weft__shared_alloc(cap);
    if (!r->data) {
        weft__xlock_destroy(&r->lock);
        return WEFT_ENOMEM;
    }
    r->cap = cap;
    weft__prefault(r->data, cap, true);
    return 0;
}

/* Push a record with payload a[0..alen) with the ring locked: 0 and, when
 * `at` is not NULL, the record's position (the count head reaches once the
 * record is taken: it is still in the ring while head <= *at), or
 * WEFT_EFULL when it does not fit now. */
int weft__ring_push_locked(weft__ring *r, const weft__rec *h, const void *a, size_t alen,
                           uint64_t *at)
{
    WEFT_ASSERT(r->tail - r->head <= r->cap);
    size_t need = weft__rec_size(alen);
    uint64_t pos = r->tail & (r->cap - 1);
    size_t to_end = r->cap - pos;
    size_t pad = need > to_end ? to_end : 0;
    if (r->cap - (r->tail - r->head) < need + pad)
        return WEFT_EFULL;
    if (pad) {
        weft__rec *p = (weft__rec *)(r->data + pos);
        p->size = (uint32_t)pad;
        p->kind = WEFT__REC_PAD;
        pos = 0;
    }
    weft__rec *dst = (weft__rec *)(r->data + pos);
    if (at)
        *at = r->tail + pad;
    *dst = *h;
    dst->size = (uint32_t)need;
    dst->len = (uint32_t)alen;
    if (alen)
        memcpy(dst + 1, a, alen);
    __atomic_store_n(&r->tail, r->tail + pad + need, __ATOMIC_RELEASE);
    weft__xword_signal_locked(&r->items); /* the pusher wakes after unlocking */
    return 0;
}

/* The next record with the ring locked, pads skipped, or NULL when empty.
 * The caller copies what it needs, then weft__ring_pop_locked. For the
 * task ring, whose records the parent writes (the result ring's are
 * peeked at with weft__ring_peek_checked). */
weft__rec *weft__ring_peek_locked(weft__ring *r)
{
    WEFT_ASSERT(r->tail - r->head <= r->cap);
    while (r->head != r->tail) {
        weft__rec *h = (weft__rec *)(r->data + (r->head & (r->cap - 1)));
        WEFT_ASSERT(h->size >= sizeof *h && h->size % WEFT__REC_ALIGN == 0 &&
                    h->size <= r->tail - r->head);
        if (h->kind != WEFT__REC_PAD)
            return h;
        /* Atomic: helping waiters read head without the lock. */
        __atomic_store_n(&r->head, r->head + h->size, __ATOMIC_RELEASE);
    }
    return NULL;
}

/* Take the record a peek returned (the one at head) out of the ring. */
void weft__ring_pop_locked(weft__ring *r, weft__rec *h)
{
    WEFT_ASSERT(h == (weft__rec *)(r->data + (r->head & (r->cap - 1))) &&
                h->size <= r->tail - r->head);
    __atomic_store_n(&r->head, r->head + h->size, __ATOMIC_RELEASE);
    weft__xword_signal_locked(&r->space); /* the popper wakes after unlocking */
}

/* Wait up to SPIN_NS for *pos to move away from `from`, without a system
 * call: a worker between two tasks, or the collector between two results,
 * usually needs to wait only a few microseconds, and waking from a futex or
 * poll() costs more than that. Only when the machine has a CPU to spare
 * for it (one CPU: the spinner would hold up the very process it waits
 * for). */
#define SPIN_NS 30000

bool weft__spin_for(const uint64_t *pos, uint64_t from)
{
    if (!weft__can_spin())
        return false;
    int64_t until = weft__now_ns() + SPIN_NS;
    for (unsigned i = 1;; i++) {
        if (__atomic_load_n(pos, __ATOMIC_ACQUIRE) != from)
            return true;
        weft__cpu_relax();
        if (i % 64 == 0 && weft__now_ns() > until)
            return false;
    }
}

/* The next result record with the ring locked, pads skipped: 0 and *out
 * (NULL when the ring is empty), or WEFT_EBROKEN when the bytes at its
 * head do not frame a record. Workers write this ring, and a buggy one may
 * write anything in its records; a record frames when its size is a whole
 * number of slots that holds its header and its payload and ends before
 * the ring's end and its tail (then the next one starts where a record
 * can). Head and tail themselves move only by the rings' code. */
int weft__ring_peek_checked(weft__ring *r, weft__rec **out)
{
    WEFT_ASSERT(r->tail - r->head <= r->cap);
    *out = NULL;
    while (r->head != r->tail) {
        uint64_t pos = r->head & (r->cap - 1);
        weft__rec *h = (weft__rec *)(r->data + pos);
        if (h->size < sizeof *h || h->size % WEFT__REC_ALIGN || h->size > r->cap - pos ||
            h->size > r->tail - r->head ||
            (h->kind != WEFT__REC_PAD && h->len > h->size - sizeof *h))
            return WEFT_EBROKEN;
        if (h->kind != WEFT__REC_PAD) {
            *out = h;
            return 0;
        }
        /* Atomic: helping waiters read head without the lock. */
        __atomic_store_n(&r->head, r->head + h->size, __ATOMIC_RELEASE);
    }
    return 0;
}

int weft__wbuf_fit(weft__wbuf *b, size_t n)
{
    if (n <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < n)
        cap *= 2;
    void *p = realloc(b->p, cap);
    if (!p)
        return WEFT_ENOMEM;
    b->p = p;
    b->cap = cap;
    return 0;
}

/* Large payloads. A task argument or a result too big for a quarter of
 * its ring travels in a memfd of its own, laid out as a weft_bytes, and
 * its record carries a weft__large_ref (count == WEFT__COUNT_LARGE): the
 * sender's pid and fd number, which the receiver opens through /proc (a
 * process of the same user may; no ptrace rights are needed). A worker maps a large argument
 * privately and hands the mapping to the task: no copy on its side. The
 * sender keeps its fd open until the receiver has opened its own: the
 * parent until the task's result is in, a worker until the parent
 * acknowledges (the slot's ack futex). */

/* A memfd holding data as a weft_bytes: the fd, or a negative code. */
int weft__large_make(const void *data, size_t len)
{
    int fd = memfd_create("weft-payload", MFD_CLOEXEC);
    if (fd < 0)
        return errno == EMFILE || errno == ENFILE ? WEFT_EMFILE : WEFT_ENOMEM;
    weft_bytes head = {.len = len};
    if (ftruncate(fd, (off_t)weft__bytes_alloc_size(len)) != 0 ||
        pwrite(fd, &head, sizeof head, sizeof(weft__bytes_head)) != (ssize_t)sizeof head) {
        close(fd);
        return WEFT_ENOMEM;
    }
    for (size_t off = 0; off < len;) {
        ssize_t n =
            pwrite(fd, (const char *)data + off, len - off, (off_t)(WEFT__LARGE_DATA + off));
        if (n <= 0) {
            close(fd);
            return WEFT_ENOMEM;
        }
        off += (size_t)n;
    }
    return fd;
}

/* The sender's memfd, opened through /proc: the fd, or a negative code. */
int weft__large_open(const weft__large_ref *ref)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/fd/%d", (int)ref->pid, (int)ref->fd);
    /* O_NONBLOCK: a reference to a FIFO (a buggy sender's) must not wait
     * for a writer; a memfd reads the same either way. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return errno == EMFILE || errno == ENFILE ? WEFT_EMFILE : WEFT_EBROKEN;
    return fd;
}
