/*
 * Records: fixed-size records from retained slabs, with a cache per thread
 * (src/base/records.c). Futures (a plain and an owned kind) and the loop's
 * handles take their records here instead of from malloc one by one.
 *
 * A user declares, per kind of record, three statics:
 *
 *     static weft__record_store handle_store = WEFT__RECORD_STORE_INIT;
 *     static const weft__records handle_records = {
 *         .slot = WEFT__RECORD_SLOT(sizeof(weft_handle)),
 *         .link_off = offsetof(weft_handle, link),
 *         .retain = ((size_t)128 << 20),
 *         .store = &handle_store,
 *     };
 *     static _Thread_local weft__record_cache handle_cache WEFT__TLS_IE;
 *
 * and takes and gives with weft__records_take(&handle_records,
 * &handle_cache) and weft__records_give(same, record). The descriptor is
 * const, so that the compiler folds its fields into the inline fast paths
 * below; the store is the kind's shared state; the cache is the calling
 * thread's (a cache serves one kind only).
 *
 * Any thread may give back a record any thread took: a record given on
 * another thread goes into that thread's cache, and caches hand records
 * back and forth through the kind's depot in batches.
 *
 * The record's weft__record_link belongs to this module for the record's
 * whole life: its user never writes it (an initialiser that writes the
 * whole record copies it: `.link = r->link`). While the record is free its
 * other bytes are the module's too, and under ASan the bytes before the
 * link are poisoned.
 */
#ifndef WEFT_INTERNAL_RECORDS_H
#define WEFT_INTERNAL_RECORDS_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include "internal/tls.h"

#if defined(WEFT_SANITIZE_ADDRESS)
#include <sanitizer/asan_interface.h>
#endif

typedef struct weft__record_link weft__record_link;
struct weft__record_link {
    weft__record_link *next;       /* free: the next record of its chain */
    weft__record_link *batch_next; /* a chain's head in the depot: the next chain */
    unsigned batch_len;            /* a chain's head in the depot: its length */
    bool pooled;                   /* the record lives in a slab (else malloc'ed) */
};

/* A kind's shared state, under its lock (records.c); one per kind. */
typedef struct weft__record_slab weft__record_slab;
typedef struct weft__record_store weft__record_store;
struct weft__record_store {
    pthread_mutex_t lock;
    weft__record_link *depot;   /* chains, linked by their heads' batch_next */
    weft__record_slab *slabs;   /* every slab, newest first */
    char *carve_next;           /* the current slab's first unused record */
    unsigned carve_left;        /* records left in it */
    size_t slab_bytes;          /* all slabs' sizes */
    /* On the list trim and fork walk (atomic), with the one kind the store
     * serves. */
    bool listed;
    const struct weft__records *kind;
    weft__record_store *next_listed;
};

#define WEFT__RECORD_STORE_INIT {.lock = PTHREAD_MUTEX_INITIALIZER}

/* A record's bytes in a slab: whole 64-byte lines. */
#define WEFT__RECORD_SLOT(bytes) (((size_t)(bytes) + 63) & ~(size_t)63)

typedef struct weft__records {
    size_t slot;      /* a record's bytes: WEFT__RECORD_SLOT of its size */
    size_t link_off;  /* where its weft__record_link is */
    /* The bound on the kind's slabs: the memory a burst needed stays for
     * the next one, but no more than this; past it records are malloc'ed
     * one by one and freed when given back. Under ASan a kind keeps no
     * slabs at all (records.c). */
    size_t retain;
    weft__record_store *store;
} weft__records;

/* A thread's free records of one kind: a LIFO chain, so the record given
 * back last, still in the CPU's cache, is the next one taken. */
typedef struct weft__record_cache weft__record_cache;
struct weft__record_cache {
    weft__record_link *head;
    unsigned n;
    unsigned char state;          /* WEFT__RECORD_CACHE_* */
    const weft__records *kind;    /* set when it goes live */
    weft__record_cache *next_live; /* the thread's live caches */
};

/* NEW: not used yet on this thread; LIVE: may hold records (the thread's
 * exit empties it); DEAD: the thread is exiting, or its exit could not be
 * hooked: records go straight to the depot. */
enum { WEFT__RECORD_CACHE_NEW = 0, WEFT__RECORD_CACHE_LIVE, WEFT__RECORD_CACHE_DEAD };

/* A cache past this many records hands a batch to the depot. */
#define WEFT__RECORD_CACHE_MAX 512u

/* The slow paths of the two below. */
void *weft__records_take_slow(const weft__records *kind, weft__record_cache *cache);
void weft__records_give_slow(const weft__records *kind, weft__record_cache *cache, void *rec);

static inline weft__record_link *weft__records_link(const weft__records *kind, void *rec)
{
    return (weft__record_link *)((char *)rec + kind->link_off);
}

static inline void *weft__records_of(const weft__records *kind, weft__record_link *l)
{
    return (char *)l - kind->link_off;
}

/* Under ASan a free record is poisoned up to its link; the link stays
 * readable so that LeakSanitizer follows the chains from the caches and
 * the depot. */
static inline void weft__records_poison(const weft__records *kind, void *rec)
{
#if defined(WEFT_SANITIZE_ADDRESS)
    ASAN_POISON_MEMORY_REGION(rec, kind->link_off);
#else
    (void)kind, (void)rec;
#endif
}

static inline void weft__records_unpoison(const weft__records *kind, void *rec)
{
#if defined(WEFT_SANITIZE_ADDRESS)
    ASAN_UNPOISON_MEMORY_REGION(rec, kind->link_off);
#else
    (void)kind, (void)rec;
#endif
}

/* A record of `kind` (uninitialised but for its link), or NULL when memory
 * ran out. */
static inline void *weft__records_take(const weft__records *kind, weft__record_cache *cache)
{
    weft__record_link *l = cache->head;
    if (__builtin_expect(!l, 0))
        return weft__records_take_slow(kind, cache);
    void *rec = weft__records_of(kind, l);
    weft__records_unpoison(kind, rec);
    cache->head = l->next;
    cache->n--;
    /* The next one's first line, while the caller fills this one: in a
     * burst the chain is long out of the cache, and each record holds the
     * next link. */
    if (cache->head)
        __builtin_prefetch(weft__records_of(kind, cache->head), 1, 3);
    return rec;
}

/* Give back a record of `kind` that weft__records_take returned, on any
 * thread. */
static inline void weft__records_give(const weft__records *kind, weft__record_cache *cache,
                                      void *rec)
{
    weft__record_link *l = weft__records_link(kind, rec);
    if (__builtin_expect(!l->pooled || cache->state != WEFT__RECORD_CACHE_LIVE ||
                             cache->n >= WEFT__RECORD_CACHE_MAX,
                         0)) {
        weft__records_give_slow(kind, cache, rec);
        return;
    }
    weft__records_poison(kind, rec);
    l->next = cache->head;
    cache->head = l;
    cache->n++;
}

/* weft_trim_memory: free the slabs of every kind that hold no live record
 * (the calling thread's cached records first go back to the depots; other
 * threads' caches keep their slabs). Returns the bytes freed. */
size_t weft__records_trim(void);

#endif
