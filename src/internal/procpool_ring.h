/*
 * The process pool's rings of records (src/procpool/ring.c; the records'
 * format is in internal/procpool.h), the payloads too big for a ring, and
 * the buffers records are copied into: what the parent and its workers
 * both use to talk.
 */
#ifndef WEFT_INTERNAL_PROCPOOL_RING_H
#define WEFT_INTERNAL_PROCPOOL_RING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "internal/clock.h"
#include "internal/procpool.h"
#include "internal/xwait.h"
#include "weft/procpool.h"

#define WEFT__PAD8(n) (((n) + 7) & ~(size_t)7)

/* A ring in shared memory (see ring.c): `cap` bytes at `data`, cap a power
 * of two; head and tail count the bytes ever taken and ever written, so
 * tail - head is what the ring holds, never more than cap. */
typedef struct weft__ring {
    weft__xlock lock;
    /* Shared wait words (internal/xwait.h), their waiters entering under
     * the lock: consumers wait on `items`, which a push bumps, producers
     * on `space`, which a pop bumps. */
    weft__xword items;
    weft__xword space;
    uint64_t head, tail;
    uint64_t cap;
    char *data;
} weft__ring;

/* The room a record with a payload of `len` bytes takes in a ring. */
static inline size_t weft__rec_size(size_t len)
{
    return (sizeof(weft__rec) + len + WEFT__REC_ALIGN - 1) & ~(size_t)(WEFT__REC_ALIGN - 1);
}

/* A ring's lock is robust (xlock): a process killed holding it leaves
 * the next locker told, and the ring is consistent then (see ring.c), so
 * there is nothing to repair and the report is dropped. */
static inline void weft__ring_lock(weft__ring *r)
{
    (void)weft__xlock_lock(&r->lock, WEFT__NO_DEADLINE);
}

static inline void weft__ring_unlock(weft__ring *r)
{
    weft__xlock_unlock(&r->lock);
}

/* With the ring locked and nothing to take (or no room): sleep on w (the
 * ring's items or space) until a push or pop bumps it; the ring is locked
 * again on return, and the caller looks again. */
static inline void weft__ring_wait_locked(weft__ring *r, weft__xword *w)
{
    uint32_t seen = weft__xword_enter(w);
    weft__ring_unlock(r);
    weft__xword_sleep(w, seen, WEFT__NO_DEADLINE);
    weft__ring_lock(r);
}

int weft__ring_init(weft__ring *r, size_t cap);
int weft__ring_push_locked(weft__ring *r, const weft__rec *h, const void *a, size_t alen,
                           uint64_t *at);
weft__rec *weft__ring_peek_locked(weft__ring *r);
void weft__ring_pop_locked(weft__ring *r, weft__rec *h);
int weft__ring_peek_checked(weft__ring *r, weft__rec **out);
bool weft__spin_for(const uint64_t *pos, uint64_t from);
void weft__prefault(void *addr, size_t len, bool write);

/* A buffer a record is copied into, grown as needed (weft__wbuf_fit: 0 or
 * WEFT_ENOMEM); its holder frees p. */
typedef struct weft__wbuf {
    void *p;
    size_t cap;
} weft__wbuf;

int weft__wbuf_fit(weft__wbuf *b, size_t n);

/* The size of a weft_bytes's allocation of len bytes: its head, the
 * weft_bytes, the bytes and a 0 byte. A large payload's memfd (see ring.c)
 * is laid out as one, its bytes at WEFT__LARGE_DATA. */
static inline size_t weft__bytes_alloc_size(size_t len)
{
    return sizeof(weft__bytes_head) + sizeof(weft_bytes) + len + 1;
}

#define WEFT__LARGE_DATA (sizeof(weft__bytes_head) + sizeof(weft_bytes))

int weft__large_make(const void *data, size_t len);
int weft__large_open(const weft__large_ref *ref);

#endif
