/*
 * The shared dict and list. See weft/shm.h for the contract.
 *
 * Layout: one shared block (so the pointer is the same object in every
 * child) holding the header, the chunks, the index and a mark bitmap:
 *
 *   chunks   64-byte chunks, numbered from 1 (0 means none): a 4-byte link
 *            and WEFT_PDICT_CHUNK bytes of payload. An entry is a chain of
 *            chunks holding an 8-byte header (key and value lengths), the
 *            key and the value; free chunks form a list through the links.
 *   index    the dict: two open-addressing tables (linear probing) of
 *            {hash, head} slots, head 0 for empty and TOMB for deleted;
 *            the list: two arrays of chain heads. One of the two is active.
 *   marks    one bit per chunk, for the repair.
 *
 * Crash consistency. Every call runs under a robust weft_plock, so a
 * process killed mid-call leaves the lock to the next caller, which then
 * repairs the structure before its own call. What makes the repair
 * possible is that every change becomes visible through one aligned store,
 * made with release order after everything it publishes was written:
 *   - a new or replacing entry is written whole into chunks taken from the
 *     free list, then its head is stored into its slot (or list cell);
 *   - a delete stores TOMB into the slot; a list append stores the new
 *     length, a pop from the end the shorter length;
 *   - anything that changes many cells (a dict rehash, a clear, a list pop
 *     from the middle) builds the inactive table or array and then flips
 *     `active` (for the list, active and length share one 64-bit word).
 * So the active index is always one a complete call left behind. What a
 * dead caller can leave wrong is only bookkeeping: the free list (chunks
 * taken but never published, or unpublished but not yet given back), the
 * counters. The repair recomputes them from the active index: it walks
 * every reachable chain, marking its chunks (a chain that is malformed or
 * shares a chunk with another is dropped; neither can come from a crash,
 * only from a stray write), then rebuilds the free list from the unmarked
 * chunks and the counts from the index.
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "internal/share.h"
#include "weft/shm.h"

#define CHUNK WEFT_PDICT_CHUNK
#define HDR 8u
#define EMPTY 0u
#define TOMB UINT32_MAX
#define MAX_ENTRIES ((size_t)1 << 28)
#define MAX_CHUNKS ((size_t)UINT32_MAX - 1)

typedef struct chunk {
    uint32_t next;
    unsigned char data[CHUNK];
} chunk;

typedef struct slot {
    uint32_t hash;
    uint32_t head;
} slot;

typedef struct store {
    weft_plock *lock;
    chunk *chunks;   /* chunks[i - 1] is chunk i */
    void *index;     /* two tables (dict) or two arrays (list) */
    uint32_t *marks; /* nchunks bits */
    uint32_t nchunks;
    uint32_t cap;    /* max entries or items */
    uint32_t free_head, nfree;
    /* dict */
    uint32_t tsize;  /* slots per table, a power of two */
    uint32_t active; /* the table in use: 0 or 1 */
    uint32_t count, tombs;
    /* list */
    uint64_t lstate; /* active array << 32 | length */
} store;

struct weft_pdict {
    store s;
};

struct weft_plist {
    store s;
};

struct weft_pdict_keys {
    size_t n;
    struct {
        size_t off, len;
    } *at;
    unsigned char *bytes;
};

/* Tests only (declared where used, as weft__process_no_pidfd): a process
 * that sets this dies by SIGKILL at that point of a call, lock held, so
 * the tests can check the repair after a death at each step that matters. */
int weft__shm_dict_crash_at;

enum {
    CRASH_NONE,
    CRASH_DICT_NEW,      /* a new entry written, not published */
    CRASH_DICT_REPLACE,  /* the new value published, the old not freed */
    CRASH_DICT_DELETE,   /* the tombstone published, the entry not freed */
    CRASH_DICT_REHASH,   /* the other table half built */
    CRASH_DICT_CLEAR,    /* the empty table published, the chunks not freed */
    CRASH_LIST_APPEND,   /* the item written, the length not published */
    CRASH_LIST_SET,      /* the new item published, the old not freed */
    CRASH_LIST_POP,      /* the other array built, not flipped in */
    CRASH_LIST_POP_LAST, /* the shorter length published, the item not freed */
    CRASH_LIST_INSERT,   /* the other array built with the new item, not flipped in */
    CRASH_LIST_CLEAR,    /* the empty list published, the chunks not freed */
};

static void crash_point(int where)
{
    if (__builtin_expect(weft__shm_dict_crash_at == where, 0))
        raise(SIGKILL);
}

weft_plock *weft__pdict_lock(weft_pdict *d);
weft_plock *weft__pdict_lock(weft_pdict *d)
{
    return d->s.lock;
}

weft_plock *weft__plist_lock(weft_plist *l);
weft_plock *weft__plist_lock(weft_plist *l)
{
    return l->s.lock;
}

static chunk *ch(store *s, uint32_t i)
{
    return &s->chunks[i - 1];
}

static uint32_t chunks_for(size_t payload)
{
    return (uint32_t)((HDR + payload + CHUNK - 1) / CHUNK);
}

/* ------------------------------------------------------------- cursors */

/* A position in a chain, moving to the next chunk lazily. */
typedef struct cursor {
    store *s;
    uint32_t idx, off;
} cursor;

static size_t cur_step(cursor *c, size_t n)
{
    if (c->off == CHUNK) {
        c->idx = ch(c->s, c->idx)->next;
        c->off = 0;
    }
    size_t k = CHUNK - c->off;
    return n < k ? n : k;
}

static void cur_read(cursor *c, void *out, size_t n)
{
    unsigned char *o = out;
    while (n) {
        size_t k = cur_step(c, n);
        if (o) {
            memcpy(o, ch(c->s, c->idx)->data + c->off, k);
            o += k;
        }
        c->off += (uint32_t)k;
        n -= k;
    }
}

static void cur_write(cursor *c, const void *in, size_t n)
{
    const unsigned char *p = in;
    while (n) {
        size_t k = cur_step(c, n);
        memcpy(ch(c->s, c->idx)->data + c->off, p, k);
        p += k;
        c->off += (uint32_t)k;
        n -= k;
    }
}

static bool cur_eq(cursor *c, const void *in, size_t n)
{
    const unsigned char *p = in;
    while (n) {
        size_t k = cur_step(c, n);
        if (memcmp(ch(c->s, c->idx)->data + c->off, p, k))
            return false;
        p += k;
        c->off += (uint32_t)k;
        n -= k;
    }
    return true;
}

static void chain_lens(store *s, uint32_t head, uint32_t *klen, uint32_t *vlen)
{
    memcpy(klen, ch(s, head)->data, 4);
    memcpy(vlen, ch(s, head)->data + 4, 4);
}

/* Whether a key/value of these lengths can ever be stored. */
static bool fits(store *s, size_t klen, size_t vlen)
{
    return klen <= UINT32_MAX && vlen <= UINT32_MAX &&
           HDR + klen + vlen <= (uint64_t)s->nchunks * CHUNK;
}

/* Take the chunks for an entry off the free list and write it. The caller
 * checked that nfree suffices. Nothing points to the chain yet. */
static uint32_t chain_write(store *s, const void *key, uint32_t klen, const void *val,
                            uint32_t vlen)
{
    uint32_t n = chunks_for((size_t)klen + vlen);
    uint32_t head = s->free_head, last = head;
    for (uint32_t i = 1; i < n; i++)
        last = ch(s, last)->next;
    s->free_head = ch(s, last)->next;
    s->nfree -= n;
    ch(s, last)->next = 0;
    uint32_t hdr[2] = {klen, vlen};
    cursor c = {s, head, 0};
    cur_write(&c, hdr, HDR);
    cur_write(&c, key, klen);
    cur_write(&c, val, vlen);
    return head;
}

/* Give an unpublished chain's chunks back. */
static void chain_free(store *s, uint32_t head)
{
    uint32_t klen, vlen;
    chain_lens(s, head, &klen, &vlen);
    uint32_t n = chunks_for((size_t)klen + vlen), i = head;
    while (n--) {
        uint32_t next = ch(s, i)->next;
        ch(s, i)->next = s->free_head;
        s->free_head = i;
        s->nfree++;
        i = next;
    }
}

/* Copy the value of a chain to the caller (see Reading into a buffer). */
static int chain_value(store *s, uint32_t head, void *buf, size_t cap, size_t *len)
{
    uint32_t klen, vlen;
    chain_lens(s, head, &klen, &vlen);
    if (len)
        *len = vlen;
    if (vlen > cap)
        return WEFT_EMSGSIZE;
    cursor c = {s, head, 0};
    cur_read(&c, NULL, HDR + klen);
    cur_read(&c, buf, vlen);
    return 0;
}

static int chain_value_alloc(store *s, uint32_t head, void **out, size_t *len)
{
    uint32_t klen, vlen;
    chain_lens(s, head, &klen, &vlen);
    unsigned char *b = malloc((size_t)vlen + 1);
    if (!b)
        return WEFT_ENOMEM;
    chain_value(s, head, b, vlen, len);
    b[vlen] = 0;
    *out = b;
    return 0;
}

/* -------------------------------------------------------------- repair */

static bool marked(store *s, uint32_t i)
{
    return s->marks[(i - 1) / 32] >> ((i - 1) % 32) & 1;
}

static void mark(store *s, uint32_t i, bool on)
{
    if (on)
        s->marks[(i - 1) / 32] |= 1u << ((i - 1) % 32);
    else
        s->marks[(i - 1) / 32] &= ~(1u << ((i - 1) % 32));
}

/* Mark a chain's chunks if it is well formed and shares none with a chain
 * already marked; false (and nothing marked) otherwise. */
static bool chain_claim(store *s, uint32_t head)
{
    if (head == EMPTY || head > s->nchunks)
        return false;
    uint32_t klen, vlen;
    chain_lens(s, head, &klen, &vlen);
    if (!fits(s, klen, vlen))
        return false;
    uint32_t n = chunks_for((size_t)klen + vlen), i = head, done = 0;
    for (; done < n; done++) {
        if (i == EMPTY || i > s->nchunks || marked(s, i))
            break;
        mark(s, i, true);
        i = ch(s, i)->next;
    }
    if (done == n)
        return true;
    for (i = head; done--; i = ch(s, i)->next)
        mark(s, i, false);
    return false;
}

/* The free list from the unmarked chunks. */
static void rebuild_free(store *s)
{
    s->free_head = 0;
    s->nfree = 0;
    for (uint32_t i = s->nchunks; i >= 1; i--) {
        if (!marked(s, i)) {
            ch(s, i)->next = s->free_head;
            s->free_head = i;
            s->nfree++;
        }
    }
}

static slot *table(store *s, uint32_t t)
{
    return (slot *)s->index + (size_t)t * s->tsize;
}

static uint32_t *items(store *s, uint32_t t)
{
    return (uint32_t *)s->index + (size_t)t * s->cap;
}

static void dict_repair(store *s)
{
    memset(s->marks, 0, ((size_t)s->nchunks + 31) / 32 * 4);
    slot *t = table(s, s->active);
    s->count = s->tombs = 0;
    for (uint32_t i = 0; i < s->tsize; i++) {
        uint32_t h = t[i].head;
        if (h == TOMB) {
            s->tombs++;
        } else if (h != EMPTY) {
            if (chain_claim(s, h)) {
                s->count++;
            } else {
                __atomic_store_n(&t[i].head, TOMB, __ATOMIC_RELEASE);
                s->tombs++;
            }
        }
    }
    rebuild_free(s);
}

static void list_repair(store *s)
{
    memset(s->marks, 0, ((size_t)s->nchunks + 31) / 32 * 4);
    uint64_t st = s->lstate;
    uint32_t a = (uint32_t)(st >> 32), len = (uint32_t)st;
    if (a > 1 || len > s->cap) { /* cannot come from a crash; start empty */
        a = 0;
        len = 0;
        __atomic_store_n(&s->lstate, 0, __ATOMIC_RELEASE);
    }
    uint32_t *from = items(s, a), kept = 0;
    for (uint32_t i = 0; i < len; i++)
        if (chain_claim(s, from[i]))
            kept++;
    if (kept != len) {
        /* Drop the bad items: a new array, flipped in by one store. */
        uint32_t *to = items(s, a ^ 1), k = 0;
        memset(s->marks, 0, ((size_t)s->nchunks + 31) / 32 * 4);
        for (uint32_t i = 0; i < len; i++)
            if (chain_claim(s, from[i]))
                to[k++] = from[i];
        __atomic_store_n(&s->lstate, (uint64_t)(a ^ 1) << 32 | k, __ATOMIC_RELEASE);
    }
    rebuild_free(s);
}

/* ---------------------------------------------------------------- store */

static int store_new(store **out, size_t cap, size_t bytes, bool dict)
{
    if (!out || cap == 0 || cap > MAX_ENTRIES || bytes == 0)
        return WEFT_EINVAL;
    size_t nchunks = bytes / CHUNK + (bytes % CHUNK != 0);
    if (nchunks > MAX_CHUNKS)
        return WEFT_EINVAL;
    size_t tsize = 8;
    while (tsize < 2 * cap)
        tsize *= 2;
    size_t head_sz = (sizeof(store) + 63) & ~(size_t)63;
    size_t index_sz = dict ? 2 * tsize * sizeof(slot) : 2 * cap * sizeof(uint32_t);
    size_t marks_sz = (nchunks + 31) / 32 * 4;
    size_t total = head_sz + nchunks * sizeof(chunk) + index_sz + marks_sz;
    store *s = weft__shared_alloc(total);
    if (!s)
        return WEFT_ENOMEM;
    int rc = weft_plock_new(&s->lock);
    if (rc) {
        weft__shared_free(s);
        return rc;
    }
    char *p = (char *)s + head_sz;
    s->chunks = (chunk *)p;
    s->index = p + nchunks * sizeof(chunk);
    s->marks = (uint32_t *)((char *)s->index + index_sz);
    s->nchunks = (uint32_t)nchunks;
    s->cap = (uint32_t)cap;
    s->tsize = (uint32_t)tsize;
    rebuild_free(s); /* no marks: every chunk free */
    *out = s;
    return 0;
}

static void store_free(store *s)
{
    if (s && weft__shared_owned(s)) {
        weft_plock_free(s->lock);
        weft__shared_free(s);
    }
}

static int store_lock(store *s, bool dict)
{
    int rc = weft_plock_acquire(s->lock, WEFT_FOREVER);
    if (rc == WEFT_EOWNERDEAD) {
        if (dict)
            dict_repair(s);
        else
            list_repair(s);
        return 0;
    }
    return rc;
}

static void store_unlock(store *s)
{
    weft_plock_release(s->lock);
}

/* ----------------------------------------------------------------- dict */

static uint32_t hash(const void *key, size_t len)
{
    const unsigned char *p = key;
    uint32_t h = 2166136261u; /* FNV-1a */
    for (size_t i = 0; i < len; i++)
        h = (h ^ p[i]) * 16777619u;
    return h;
}

static bool key_eq(store *s, uint32_t head, const void *key, size_t klen)
{
    uint32_t kl, vl;
    chain_lens(s, head, &kl, &vl);
    if (kl != klen)
        return false;
    cursor c = {s, head, 0};
    cur_read(&c, NULL, HDR);
    return cur_eq(&c, key, klen);
}

/* The slot holding the key, or NULL; *ins gets the slot an insert would
 * take (the first tombstone on the way, else the empty slot that ends the
 * probe; NULL if the table has neither). */
static slot *dict_find(store *s, uint32_t h, const void *key, size_t klen, slot **ins)
{
    slot *t = table(s, s->active), *tomb = NULL;
    uint32_t mask = s->tsize - 1;
    for (uint32_t n = 0, i = h & mask; n < s->tsize; n++, i = (i + 1) & mask) {
        uint32_t hd = t[i].head;
        if (hd == EMPTY) {
            *ins = tomb ? tomb : &t[i];
            return NULL;
        }
        if (hd == TOMB) {
            if (!tomb)
                tomb = &t[i];
        } else if (t[i].hash == h && key_eq(s, hd, key, klen)) {
            return &t[i];
        }
    }
    *ins = tomb;
    return NULL;
}

/* Rehash the live entries into the other table, without tombstones, and
 * flip to it. */
static void dict_rehash(store *s)
{
    uint32_t other = s->active ^ 1, mask = s->tsize - 1;
    slot *from = table(s, s->active), *to = table(s, other);
    memset(to, 0, (size_t)s->tsize * sizeof(slot));
    for (uint32_t i = 0; i < s->tsize; i++) {
        if (from[i].head == EMPTY || from[i].head == TOMB)
            continue;
        uint32_t j = from[i].hash & mask;
        while (to[j].head != EMPTY)
            j = (j + 1) & mask;
        to[j] = from[i];
        crash_point(CRASH_DICT_REHASH);
    }
    __atomic_store_n(&s->active, other, __ATOMIC_RELEASE);
    s->tombs = 0;
}

static bool bytes_ok(const void *p, size_t len)
{
    return p || len == 0;
}

int weft_pdict_new(weft_pdict **out, size_t max_entries, size_t bytes)
{
    return store_new((store **)out, max_entries, bytes, true);
}

void weft_pdict_free(weft_pdict *d)
{
    store_free(d ? &d->s : NULL);
}

int weft_pdict_set(weft_pdict *d, const void *key, size_t klen, const void *val, size_t vlen)
{
    if (!d || !bytes_ok(key, klen) || !bytes_ok(val, vlen))
        return WEFT_EINVAL;
    store *s = &d->s;
    if (!fits(s, klen, vlen))
        return WEFT_EFULL;
    uint32_t h = hash(key, klen), need = chunks_for(klen + vlen);
    int rc = store_lock(s, true);
    if (rc)
        return rc;
    slot *ins, *f = dict_find(s, h, key, klen, &ins);
    if (need > s->nfree || (!f && s->count >= s->cap)) {
        rc = WEFT_EFULL;
    } else if (f) {
        uint32_t old = f->head;
        uint32_t nh = chain_write(s, key, (uint32_t)klen, val, (uint32_t)vlen);
        __atomic_store_n(&f->head, nh, __ATOMIC_RELEASE);
        crash_point(CRASH_DICT_REPLACE);
        chain_free(s, old);
    } else {
        /* Keep the table at most 3/4 used (live and tombstones) so probes
         * stay short and always end at an empty slot. */
        if (!ins || (ins->head == EMPTY && s->count + s->tombs + 1 > s->tsize / 4 * 3)) {
            dict_rehash(s);
            dict_find(s, h, key, klen, &ins);
        }
        bool was_tomb = ins->head == TOMB;
        uint32_t nh = chain_write(s, key, (uint32_t)klen, val, (uint32_t)vlen);
        ins->hash = h;
        crash_point(CRASH_DICT_NEW);
        __atomic_store_n(&ins->head, nh, __ATOMIC_RELEASE);
        s->count++;
        if (was_tomb)
            s->tombs--;
    }
    store_unlock(s);
    return rc;
}

/* Unpublish the entry in slot f (under the lock). */
static void slot_delete(store *s, slot *f)
{
    uint32_t old = f->head;
    __atomic_store_n(&f->head, TOMB, __ATOMIC_RELEASE);
    crash_point(CRASH_DICT_DELETE);
    s->count--;
    s->tombs++;
    chain_free(s, old);
}

/* get, or with `remove` pop: the entry goes only once its value was read
 * (so a buffer too small leaves it in place). */
static int dict_get(weft_pdict *d, const void *key, size_t klen, void *buf, size_t cap,
                    size_t *vlen, void **alloc, bool remove)
{
    if (!d || !bytes_ok(key, klen))
        return WEFT_EINVAL;
    store *s = &d->s;
    uint32_t h = hash(key, klen);
    int rc = store_lock(s, true);
    if (rc)
        return rc;
    slot *ins, *f = dict_find(s, h, key, klen, &ins);
    if (!f)
        rc = WEFT_ENOENT;
    else if (alloc)
        rc = chain_value_alloc(s, f->head, alloc, vlen);
    else
        rc = chain_value(s, f->head, buf, cap, vlen);
    if (rc == 0 && remove)
        slot_delete(s, f);
    store_unlock(s);
    return rc;
}

int weft_pdict_get(weft_pdict *d, const void *key, size_t klen, void *buf, size_t cap,
                   size_t *vlen)
{
    if (!bytes_ok(buf, cap))
        return WEFT_EINVAL;
    return dict_get(d, key, klen, buf, cap, vlen, NULL, false);
}

int weft_pdict_get_alloc(weft_pdict *d, const void *key, size_t klen, void **val, size_t *vlen)
{
    if (!val)
        return WEFT_EINVAL;
    return dict_get(d, key, klen, NULL, 0, vlen, val, false);
}

int weft_pdict_pop(weft_pdict *d, const void *key, size_t klen, void *buf, size_t cap,
                   size_t *vlen)
{
    if (!bytes_ok(buf, cap))
        return WEFT_EINVAL;
    return dict_get(d, key, klen, buf, cap, vlen, NULL, true);
}

int weft_pdict_pop_alloc(weft_pdict *d, const void *key, size_t klen, void **val, size_t *vlen)
{
    if (!val)
        return WEFT_EINVAL;
    return dict_get(d, key, klen, NULL, 0, vlen, val, true);
}

int weft_pdict_delete(weft_pdict *d, const void *key, size_t klen)
{
    if (!d || !bytes_ok(key, klen))
        return WEFT_EINVAL;
    store *s = &d->s;
    uint32_t h = hash(key, klen);
    int rc = store_lock(s, true);
    if (rc)
        return rc;
    slot *ins, *f = dict_find(s, h, key, klen, &ins);
    if (!f)
        rc = WEFT_ENOENT;
    else
        slot_delete(s, f);
    store_unlock(s);
    return rc;
}

/* The getters below take the store's lock, which lives in shared memory:
 * they change nothing a caller can see, so their object is const to the
 * caller and the lock is taken through a cast. */
bool weft_pdict_contains(const weft_pdict *d, const void *key, size_t klen)
{
    if (!d || !bytes_ok(key, klen))
        return false;
    store *s = (store *)&d->s;
    uint32_t h = hash(key, klen);
    if (store_lock(s, true))
        return false;
    slot *ins;
    bool found = dict_find(s, h, key, klen, &ins) != NULL;
    store_unlock(s);
    return found;
}

size_t weft_pdict_len(const weft_pdict *d)
{
    store *s = d ? (store *)&d->s : NULL;
    if (!s || store_lock(s, true))
        return 0;
    size_t n = s->count;
    store_unlock(s);
    return n;
}

int weft_pdict_clear(weft_pdict *d)
{
    if (!d)
        return WEFT_EINVAL;
    store *s = &d->s;
    int rc = store_lock(s, true);
    if (rc)
        return rc;
    uint32_t other = s->active ^ 1;
    memset(table(s, other), 0, (size_t)s->tsize * sizeof(slot));
    __atomic_store_n(&s->active, other, __ATOMIC_RELEASE);
    crash_point(CRASH_DICT_CLEAR);
    s->count = s->tombs = 0;
    memset(s->marks, 0, ((size_t)s->nchunks + 31) / 32 * 4);
    rebuild_free(s);
    store_unlock(s);
    return 0;
}

int weft_pdict_keys_new(weft_pdict *d, weft_pdict_keys **out)
{
    if (!d || !out)
        return WEFT_EINVAL;
    store *s = &d->s;
    int rc = store_lock(s, true);
    if (rc)
        return rc;
    slot *t = table(s, s->active);
    size_t n = 0, total = 0;
    for (uint32_t i = 0; i < s->tsize; i++) {
        if (t[i].head != EMPTY && t[i].head != TOMB) {
            uint32_t kl, vl;
            chain_lens(s, t[i].head, &kl, &vl);
            n++;
            total += kl;
        }
    }
    weft_pdict_keys *k = malloc(sizeof *k);
    if (k) {
        k->n = n;
        k->at = malloc((n ? n : 1) * sizeof *k->at);
        k->bytes = malloc(total ? total : 1);
    }
    if (!k || !k->at || !k->bytes) {
        if (k) {
            free(k->at);
            free(k->bytes);
            free(k);
        }
        store_unlock(s);
        return WEFT_ENOMEM;
    }
    size_t off = 0, j = 0;
    for (uint32_t i = 0; i < s->tsize; i++) {
        if (t[i].head == EMPTY || t[i].head == TOMB)
            continue;
        uint32_t kl, vl;
        chain_lens(s, t[i].head, &kl, &vl);
        cursor c = {s, t[i].head, 0};
        cur_read(&c, NULL, HDR);
        cur_read(&c, k->bytes + off, kl);
        k->at[j].off = off;
        k->at[j].len = kl;
        off += kl;
        j++;
    }
    store_unlock(s);
    *out = k;
    return 0;
}

size_t weft_pdict_keys_len(const weft_pdict_keys *keys)
{
    return keys ? keys->n : 0;
}

const void *weft_pdict_keys_get(const weft_pdict_keys *keys, size_t i, size_t *len)
{
    if (!keys || i >= keys->n)
        return NULL;
    if (len)
        *len = keys->at[i].len;
    return keys->bytes + keys->at[i].off;
}

void weft_pdict_keys_free(weft_pdict_keys *keys)
{
    if (keys) {
        free(keys->at);
        free(keys->bytes);
        free(keys);
    }
}

/* ----------------------------------------------------------------- list */

int weft_plist_new(weft_plist **out, size_t max_items, size_t bytes)
{
    return store_new((store **)out, max_items, bytes, false);
}

void weft_plist_free(weft_plist *l)
{
    store_free(l ? &l->s : NULL);
}

/* Python's index: negative counts from the end. false if out of range. */
static bool norm_index(ptrdiff_t i, uint32_t len, uint32_t *out)
{
    if (i < 0)
        i += (ptrdiff_t)len;
    if (i < 0 || i >= (ptrdiff_t)len)
        return false;
    *out = (uint32_t)i;
    return true;
}

int weft_plist_append(weft_plist *l, const void *data, size_t len)
{
    if (!l || !bytes_ok(data, len))
        return WEFT_EINVAL;
    store *s = &l->s;
    if (!fits(s, 0, len))
        return WEFT_EFULL;
    int rc = store_lock(s, false);
    if (rc)
        return rc;
    uint64_t st = s->lstate;
    uint32_t a = (uint32_t)(st >> 32), n = (uint32_t)st;
    if (n >= s->cap || chunks_for(len) > s->nfree) {
        rc = WEFT_EFULL;
    } else {
        items(s, a)[n] = chain_write(s, NULL, 0, data, (uint32_t)len);
        crash_point(CRASH_LIST_APPEND);
        __atomic_store_n(&s->lstate, (uint64_t)a << 32 | (n + 1), __ATOMIC_RELEASE);
    }
    store_unlock(s);
    return rc;
}

static int list_get(weft_plist *l, ptrdiff_t i, void *buf, size_t cap, size_t *len,
                    void **alloc)
{
    if (!l)
        return WEFT_EINVAL;
    store *s = &l->s;
    int rc = store_lock(s, false);
    if (rc)
        return rc;
    uint64_t st = s->lstate;
    uint32_t k;
    if (!norm_index(i, (uint32_t)st, &k))
        rc = WEFT_EINVAL;
    else if (alloc)
        rc = chain_value_alloc(s, items(s, (uint32_t)(st >> 32))[k], alloc, len);
    else
        rc = chain_value(s, items(s, (uint32_t)(st >> 32))[k], buf, cap, len);
    store_unlock(s);
    return rc;
}

int weft_plist_get(weft_plist *l, ptrdiff_t i, void *buf, size_t cap, size_t *len)
{
    if (!bytes_ok(buf, cap))
        return WEFT_EINVAL;
    return list_get(l, i, buf, cap, len, NULL);
}

int weft_plist_get_alloc(weft_plist *l, ptrdiff_t i, void **data, size_t *len)
{
    if (!data)
        return WEFT_EINVAL;
    return list_get(l, i, NULL, 0, len, data);
}

int weft_plist_set(weft_plist *l, ptrdiff_t i, const void *data, size_t len)
{
    if (!l || !bytes_ok(data, len))
        return WEFT_EINVAL;
    store *s = &l->s;
    int rc = store_lock(s, false);
    if (rc)
        return rc;
    uint64_t st = s->lstate;
    uint32_t k;
    if (!norm_index(i, (uint32_t)st, &k)) {
        rc = WEFT_EINVAL;
    } else if (!fits(s, 0, len) || chunks_for(len) > s->nfree) {
        rc = WEFT_EFULL;
    } else {
        uint32_t *cell = &items(s, (uint32_t)(st >> 32))[k], old = *cell;
        uint32_t nh = chain_write(s, NULL, 0, data, (uint32_t)len);
        __atomic_store_n(cell, nh, __ATOMIC_RELEASE);
        crash_point(CRASH_LIST_SET);
        chain_free(s, old);
    }
    store_unlock(s);
    return rc;
}

/* Python's insert: an index past either end inserts at that end. */
int weft_plist_insert(weft_plist *l, ptrdiff_t i, const void *data, size_t len)
{
    if (!l || !bytes_ok(data, len))
        return WEFT_EINVAL;
    store *s = &l->s;
    if (!fits(s, 0, len))
        return WEFT_EFULL;
    int rc = store_lock(s, false);
    if (rc)
        return rc;
    uint64_t st = s->lstate;
    uint32_t a = (uint32_t)(st >> 32), n = (uint32_t)st;
    if (i < 0)
        i = i + (ptrdiff_t)n < 0 ? 0 : i + (ptrdiff_t)n;
    uint32_t k = i > (ptrdiff_t)n ? n : (uint32_t)i;
    if (n >= s->cap || chunks_for(len) > s->nfree) {
        rc = WEFT_EFULL;
    } else {
        /* The other array with the new item at k, flipped in by one store;
         * a death before the flip leaves the chain unreachable, and the
         * repair gives it back. */
        uint32_t *from = items(s, a), *to = items(s, a ^ 1);
        memcpy(to, from, (size_t)k * sizeof *to);
        to[k] = chain_write(s, NULL, 0, data, (uint32_t)len);
        memcpy(to + k + 1, from + k, (size_t)(n - k) * sizeof *to);
        crash_point(CRASH_LIST_INSERT);
        __atomic_store_n(&s->lstate, (uint64_t)(a ^ 1) << 32 | (n + 1), __ATOMIC_RELEASE);
    }
    store_unlock(s);
    return rc;
}

int weft_plist_clear(weft_plist *l)
{
    if (!l)
        return WEFT_EINVAL;
    store *s = &l->s;
    int rc = store_lock(s, false);
    if (rc)
        return rc;
    uint32_t a = (uint32_t)(s->lstate >> 32);
    __atomic_store_n(&s->lstate, (uint64_t)a << 32, __ATOMIC_RELEASE);
    crash_point(CRASH_LIST_CLEAR);
    memset(s->marks, 0, ((size_t)s->nchunks + 31) / 32 * 4);
    rebuild_free(s);
    store_unlock(s);
    return 0;
}

static int list_pop(weft_plist *l, ptrdiff_t i, void *buf, size_t cap, size_t *len,
                    void **alloc)
{
    if (!l)
        return WEFT_EINVAL;
    store *s = &l->s;
    int rc = store_lock(s, false);
    if (rc)
        return rc;
    uint64_t st = s->lstate;
    uint32_t a = (uint32_t)(st >> 32), n = (uint32_t)st, k;
    if (n == 0) {
        rc = WEFT_EEMPTY;
    } else if (!norm_index(i, n, &k)) {
        rc = WEFT_EINVAL;
    } else {
        uint32_t *from = items(s, a), head = from[k];
        rc = alloc ? chain_value_alloc(s, head, alloc, len) : chain_value(s, head, buf, cap, len);
        if (rc == 0) {
            if (k == n - 1) {
                __atomic_store_n(&s->lstate, (uint64_t)a << 32 | (n - 1), __ATOMIC_RELEASE);
                crash_point(CRASH_LIST_POP_LAST);
            } else {
                uint32_t *to = items(s, a ^ 1);
                memcpy(to, from, (size_t)k * sizeof *to);
                memcpy(to + k, from + k + 1, (size_t)(n - k - 1) * sizeof *to);
                crash_point(CRASH_LIST_POP);
                __atomic_store_n(&s->lstate, (uint64_t)(a ^ 1) << 32 | (n - 1),
                                 __ATOMIC_RELEASE);
            }
            chain_free(s, head);
        }
    }
    store_unlock(s);
    return rc;
}

int weft_plist_pop(weft_plist *l, ptrdiff_t i, void *buf, size_t cap, size_t *len)
{
    if (!bytes_ok(buf, cap))
        return WEFT_EINVAL;
    return list_pop(l, i, buf, cap, len, NULL);
}

int weft_plist_pop_alloc(weft_plist *l, ptrdiff_t i, void **data, size_t *len)
{
    if (!data)
        return WEFT_EINVAL;
    return list_pop(l, i, NULL, 0, len, data);
}

size_t weft_plist_len(const weft_plist *l)
{
    store *s = l ? (store *)&l->s : NULL;
    if (!s || store_lock(s, false))
        return 0;
    size_t n = (uint32_t)s->lstate;
    store_unlock(s);
    return n;
}
