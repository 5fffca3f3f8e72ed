/*
 * Records: fixed-size records from retained slabs, with a cache per thread
 * (src/base/records.c). Futures (a plain and an owned kind) and the loop's
 * handles take their records here instead of from malloc one by one.
 *
 * A user declares, per kind of record, three statics:
 *
 *     static weft__record_store handle_store = WEFT__RECORD_STORE_INIT;
 *     static const weft__records handle_records = {
 *         .slot = sizeof(weft_handle),
 *         .tag_off = offsetof(weft_handle, tag),
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
 * A record's weft__record_tag belongs to this module for the record's
 * whole life: its user never writes it (an initialiser that writes the
 * whole record copies it: `.tag = r->tag`). While the record is free all
 * its bytes are the module's: its first ones hold a weft__record_link, and
 * under ASan the others (but the tag) are poisoned.
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

/* Whether a record lives in a slab (else it was malloc'ed on its own). */
typedef bool weft__record_tag;

/* What a free record holds at its start: the chains it is on. */
typedef struct weft__record_link weft__record_link;
struct weft__record_link {
    weft__record_link *next;       /* the next record of its chain */
    weft__record_link *batch_next; /* a chain's head in the depot: the next chain */
    unsigned batch_len;            /* a chain's head in the depot: its length */
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

typedef struct weft__records {
    /* A record's bytes: a multiple of 8, at least a weft__record_link's.
     * Records in a slab start on a 64-byte line and follow each other, so
     * a multiple of 64 puts every record on its own lines. */
    size_t slot;
    /* Where its weft__record_tag is: past a weft__record_link's bytes,
     * which a free record holds at its start. */
    size_t tag_off;
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

static inline weft__record_tag *weft__records_tag(const weft__records *kind, void *rec)
{
    return (weft__record_tag *)((char *)rec + kind->tag_off);
}

/* Under ASan a free record is poisoned but for its link, so that
 * LeakSanitizer follows the chains from the caches and the depot, and its
 * tag's 8 bytes (ASan's granule), which give reads. */
static inline void weft__records_poison(const weft__records *kind, void *rec)
{
#if defined(WEFT_SANITIZE_ADDRESS)
    size_t link_end = sizeof(weft__record_link), tag = kind->tag_off & ~(size_t)7;
    if (tag > link_end)
        ASAN_POISON_MEMORY_REGION((char *)rec + link_end, tag - link_end);
    if (tag + 8 < kind->slot)
        ASAN_POISON_MEMORY_REGION((char *)rec + tag + 8, kind->slot - tag - 8);
#else
    (void)kind, (void)rec;
#endif
}

static inline void weft__records_unpoison(const weft__records *kind, void *rec)
{
#if defined(WEFT_SANITIZE_ADDRESS)
    ASAN_UNPOISON_MEMORY_REGION(rec, kind->slot);
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
    weft__records_unpoison(kind, l);
    cache->head = l->next;
    cache->n--;
    /* The next one's first line, while the caller fills this one: in a
     * burst the chain is long out of the cache, and each record holds the
     * next link. */
    if (cache->head)
        __builtin_prefetch(cache->head, 1, 3);
    return l;
}

/* Give back a record of `kind` that weft__records_take returned, on any
 * thread. */
static inline void weft__records_give(const weft__records *kind, weft__record_cache *cache,
                                      void *rec)
{
    if (__builtin_expect(!*weft__records_tag(kind, rec) ||
                             cache->state != WEFT__RECORD_CACHE_LIVE ||
                             cache->n >= WEFT__RECORD_CACHE_MAX,
                         0)) {
        weft__records_give_slow(kind, cache, rec);
        return;
    }
    weft__record_link *l = rec;
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
