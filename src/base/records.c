/*
 * Records: fixed-size records from slabs that are kept, not from malloc per
 * record (internal/records.h has the interface). An executor makes a future
 * per task, a loop a handle per callback: a burst of a million would
 * otherwise malloc a million records, free them, have the heap trimmed, and
 * fault the same memory in again on the next burst.
 *
 *   - Each kind of record (a size, and where its tag is) has its own
 *     caches, depot and slabs. A free record holds its links itself, over
 *     its user's bytes: a record costs its own size and nothing more.
 *   - Each thread keeps a cache of free records per kind (a LIFO chain, so
 *     the record freed last, still in the cache, is the next one handed
 *     out). Taking and giving back on the same thread touch nothing shared.
 *   - A cache that grows past WEFT__RECORD_CACHE_MAX hands a chain of
 *     CACHE_BATCH records to its kind's depot, a stack of chains under the
 *     kind's lock; an empty cache takes a chain from there, or carves one
 *     from the current slab. So records given back on other threads than
 *     the one that took them (an executor's workers, a waiter, the loop that
 *     ran a call_soon_threadsafe callback) flow back in batches, one lock
 *     round trip per CACHE_BATCH records.
 *   - Slabs are allocated as needed and never given back, up to the kind's
 *     bound (`retain`): the memory a burst needed stays mapped for the next
 *     one, but no more than that. Past it, records are malloc'ed one by one
 *     (their tag false) and freed when given back.
 *   - The first slabs are small (SLAB_RECORDS records, from malloc). Once a
 *     kind holds HUGE_AFTER bytes of them it is in a burst, and its next
 *     slabs are 2 MiB, aligned and advised as transparent huge pages: a
 *     million records spread over 4 KiB pages cost a TLB miss (a page walk,
 *     doubled under virtualisation) per record per pass; on huge pages they
 *     fit the TLB. A program that makes a few records never pays a huge
 *     page.
 *   - A thread's caches go to the depots when the thread exits (a pthread
 *     key destructor); a record given back after that (another key's
 *     destructor dropping a future) goes to its depot on its own.
 *   - Only weft__records_trim (weft_trim_memory) frees a slab, when every
 *     record in it is free and in the depot.
 *
 * The kinds' locks are pthread mutexes, as the coroutine stacks' (this
 * layer is below park): each is held for a few instructions, never across
 * a wait.
 *
 * Under ASan a kind keeps no slabs, whatever its bound: every record is
 * malloc'ed on its own and freed when given back, so ASan sees each
 * record's life and LeakSanitizer reports one nobody gave back, which a
 * retained slab would hide. (Defining WEFT_RECORDS_ASAN_SLABS keeps the
 * slabs; a free record is then poisoned, so a use after it was given back
 * is still reported.)
 */
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "internal/check.h"
#include "internal/records.h"

#define SLAB_RECORDS 512u
#define HUGE_SIZE ((size_t)2 << 20)
#define HUGE_AFTER ((size_t)4 << 20)
#define CACHE_BATCH 256u

#if defined(WEFT_SANITIZE_ADDRESS) && !defined(WEFT_RECORDS_ASAN_SLABS)
#define RETAIN(kind) ((void)(kind), (size_t)0)
#else
#define RETAIN(kind) ((kind)->retain)
#endif

/* A slab: this header, then records on 64-byte lines. The list of slabs
 * keeps them reachable. */
struct weft__record_slab {
    weft__record_slab *next;
    size_t size;          /* the slab's bytes, header included */
    bool huge;            /* mmap'ed (huge_slab), else malloc'ed */
};
typedef weft__record_slab slab;

/* Every store that has had a live cache (so every one with slabs), newest
 * first: what trim and the fork handlers walk. Pushed under list_lock,
 * never unlinked (stores are static). */
static weft__record_store *listed;
static pthread_mutex_t list_lock = PTHREAD_MUTEX_INITIALIZER;

/* The calling thread's live caches, and whether its exit is hooked: NEW
 * until its first cache goes live, then LIVE, DEAD once the key's
 * destructor ran (or the key could not be set). */
static _Thread_local weft__record_cache *live_caches WEFT__TLS_IE;
static _Thread_local unsigned char thread_state WEFT__TLS_IE;
static pthread_key_t exit_key;
static pthread_once_t exit_once = PTHREAD_ONCE_INIT;
static bool exit_key_ok;

/* 2 MiB on a 2 MiB boundary, advised as a huge page (a hint: without
 * transparent huge pages it is 512 small ones), or NULL. */
static slab *huge_slab(void)
{
    char *m = mmap(NULL, 2 * HUGE_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                   -1, 0);
    if (m == MAP_FAILED)
        return NULL;
    char *a = (char *)(((uintptr_t)m + HUGE_SIZE - 1) & ~(uintptr_t)(HUGE_SIZE - 1));
    if (a > m)
        munmap(m, (size_t)(a - m));
    munmap(a + HUGE_SIZE, (size_t)(m + HUGE_SIZE - a));
#ifdef MADV_HUGEPAGE
    madvise(a, HUGE_SIZE, MADV_HUGEPAGE);
#endif
    return (slab *)a;
}

static char *slab_first(const slab *sl)
{
    return (char *)(((uintptr_t)(sl + 1) + 63) & ~(uintptr_t)63);
}

static unsigned slab_records(const weft__records *kind, const slab *sl)
{
    return (unsigned)(((uintptr_t)sl + sl->size - (uintptr_t)slab_first(sl)) / kind->slot);
}

/* Link up to n records from the kind's current slab into a chain for the
 * caller's cache: its length in *got. NULL with *got 0 when the bound is
 * reached, NULL with *got 1 when memory ran out. The store's lock held. */
static weft__record_link *carve_locked(const weft__records *kind, unsigned n, unsigned *got)
{
    weft__record_store *s = kind->store;
    *got = 0;
    if (s->carve_left == 0) {
#if defined(WEFT_SANITIZE_ADDRESS)
        /* LeakSanitizer does not look into mmap'ed memory: a huge slab
         * would hide the list of slabs behind it, which it then reports. */
        bool huge = false;
#else
        bool huge = s->slab_bytes >= HUGE_AFTER;
#endif
        size_t size = huge ? HUGE_SIZE : sizeof(slab) + 64 + (size_t)SLAB_RECORDS * kind->slot;
        if (s->slab_bytes + size > RETAIN(kind))
            return NULL;
        slab *sl = huge ? huge_slab() : malloc(size);
        if (!sl) {
            *got = 1;
            return NULL;
        }
        sl->next = s->slabs;
        sl->size = size;
        sl->huge = huge;
        s->slabs = sl;
        s->slab_bytes += size;
        s->carve_next = slab_first(sl);
        s->carve_left = slab_records(kind, sl);
    }
    if (n > s->carve_left)
        n = s->carve_left;
    weft__record_link *head = NULL;
    for (unsigned i = 0; i < n; i++) {
        /* From the top down, so that the chain hands records out in
         * address order. */
        char *rec = s->carve_next + (size_t)(n - 1 - i) * kind->slot;
        weft__record_link *l = (weft__record_link *)rec;
        *weft__records_tag(kind, rec) = true;
        l->next = head;
        weft__records_poison(kind, rec);
        head = l;
    }
    s->carve_next += (size_t)n * kind->slot;
    s->carve_left -= n;
    *got = n;
    return head;
}

/* Fill the kind's empty cache: a chain from the depot, or new records from
 * a slab. 1 if filled, 0 if the bound is reached, -1 if memory ran out. */
static int cache_refill(const weft__records *kind, weft__record_cache *c)
{
    weft__record_store *s = kind->store;
    unsigned n = 0;
    pthread_mutex_lock(&s->lock);
    weft__record_link *head = s->depot;
    if (head) {
        /* The length is kept in the head: counting would walk the chain,
         * a cache miss per record when it was spilled long ago. */
        s->depot = head->batch_next;
        n = head->batch_len;
    } else {
        head = carve_locked(kind, CACHE_BATCH, &n);
    }
    pthread_mutex_unlock(&s->lock);
    if (!head)
        return n ? -1 : 0;
    c->head = head;
    c->n = n;
    return 1;
}

/* Hand the chain head..tail, of n records, to the kind's depot. */
static void depot_put(const weft__records *kind, weft__record_link *head,
                      weft__record_link *tail, unsigned n)
{
    weft__record_store *s = kind->store;
    tail->next = NULL;
    head->batch_len = n;
    pthread_mutex_lock(&s->lock);
    head->batch_next = s->depot;
    s->depot = head;
    pthread_mutex_unlock(&s->lock);
}

/* Hand every record of the calling thread's caches to the depots. */
static void caches_spill(void)
{
    for (weft__record_cache *c = live_caches; c; c = c->next_live) {
        if (c->head) {
            weft__record_link *tail = c->head;
            unsigned n = 1;
            for (; tail->next; n++)
                tail = tail->next;
            depot_put(c->kind, c->head, tail, n);
        }
        c->head = NULL;
        c->n = 0;
    }
}

static void thread_exit(void *unused)
{
    caches_spill();
    for (weft__record_cache *c = live_caches; c; c = c->next_live)
        c->state = WEFT__RECORD_CACHE_DEAD;
    thread_state = WEFT__RECORD_CACHE_DEAD;
}

/* The stores' locks are held across fork, so that a child never inherits
 * one locked by a thread that does not exist there. */
static void fork_prepare(void)
{
    pthread_mutex_lock(&list_lock);
    for (weft__record_store *s = listed; s; s = s->next_listed)
        pthread_mutex_lock(&s->lock);
}

static void fork_parent(void)
{
    for (weft__record_store *s = listed; s; s = s->next_listed)
        pthread_mutex_unlock(&s->lock);
    pthread_mutex_unlock(&list_lock);
}

/* The child's only thread took the locks in fork_prepare: it releases them
 * (re-initialising them instead would leave TSan believing they were
 * still held). */
static void fork_child(void)
{
    fork_parent();
}

static void exit_key_init(void)
{
    exit_key_ok = pthread_key_create(&exit_key, thread_exit) == 0;
    pthread_atfork(fork_prepare, fork_parent, fork_child);
}

/* Put the kind's store on the list trim and fork walk, once. */
static void store_list(const weft__records *kind)
{
    weft__record_store *s = kind->store;
    if (__atomic_load_n(&s->listed, __ATOMIC_ACQUIRE))
        return;
    pthread_mutex_lock(&list_lock);
    if (!s->listed) {
        s->kind = kind;
        s->next_listed = listed;
        __atomic_store_n(&listed, s, __ATOMIC_RELEASE);
        __atomic_store_n(&s->listed, true, __ATOMIC_RELEASE);
    }
    pthread_mutex_unlock(&list_lock);
}

/* Whether the calling thread's cache c may hold records: only once the key
 * whose destructor empties it at thread exit is set. */
static bool cache_live(const weft__records *kind, weft__record_cache *c)
{
    if (c->state == WEFT__RECORD_CACHE_NEW) {
        if (thread_state == WEFT__RECORD_CACHE_NEW) {
            pthread_once(&exit_once, exit_key_init);
            /* The key's value only has to be non-NULL for the destructor
             * to run. */
            bool ok = exit_key_ok && pthread_setspecific(exit_key, &live_caches) == 0;
            thread_state = ok ? WEFT__RECORD_CACHE_LIVE : WEFT__RECORD_CACHE_DEAD;
        }
        WEFT_ASSERT(kind->slot % 8 == 0 && kind->tag_off >= sizeof(weft__record_link) &&
                    kind->tag_off < kind->slot);
        if (thread_state == WEFT__RECORD_CACHE_LIVE) {
            store_list(kind);
            c->kind = kind;
            c->next_live = live_caches;
            live_caches = c;
        }
        c->state = thread_state;
    }
    return c->state == WEFT__RECORD_CACHE_LIVE;
}

void *weft__records_take_slow(const weft__records *kind, weft__record_cache *c)
{
    int rc = 0;
    if (cache_live(kind, c) && (rc = cache_refill(kind, c)) > 0)
        return weft__records_take(kind, c);
    if (rc < 0)
        return NULL;
    /* Past the bound, or a thread whose cache is gone: one record on its
     * own, freed when given back. */
    void *rec = malloc(kind->slot);
    if (rec)
        *weft__records_tag(kind, rec) = false;
    return rec;
}

void weft__records_give_slow(const weft__records *kind, weft__record_cache *c, void *rec)
{
    weft__record_link *l = rec;
    if (!*weft__records_tag(kind, rec)) {
        free(rec);
        return;
    }
    weft__records_poison(kind, rec);
    if (!cache_live(kind, c)) {
        depot_put(kind, l, l, 1);
        return;
    }
    if (c->n >= WEFT__RECORD_CACHE_MAX) {
        /* Spill the CACHE_BATCH records at the top of the cache (their
         * links are readable while poisoned); the one given back now
         * stays. */
        weft__record_link *head = c->head, *tail = head;
        for (unsigned i = 1; i < CACHE_BATCH; i++)
            tail = tail->next;
        c->head = tail->next;
        c->n -= CACHE_BATCH;
        depot_put(kind, head, tail, CACHE_BATCH);
    }
    l->next = c->head;
    c->head = l;
    c->n++;
}

/* ------------------------------------------------------------- trimming */

typedef struct slab_tally {
    slab *sl;
    unsigned free;        /* its records in the depot, or never carved */
} slab_tally;

static int by_address(const void *a, const void *b)
{
    uintptr_t x = (uintptr_t)((const slab_tally *)a)->sl;
    uintptr_t y = (uintptr_t)((const slab_tally *)b)->sl;
    return (x > y) - (x < y);
}

/* The tally of the slab holding address p (t sorted by address). */
static slab_tally *tally_of(slab_tally *t, size_t n, const void *p)
{
    size_t lo = 0, hi = n;
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if ((uintptr_t)t[mid].sl <= (uintptr_t)p)
            lo = mid;
        else
            hi = mid;
    }
    return &t[lo];
}

/*
 * Free the kind's slabs that hold no live record: every record of theirs
 * is in the depot (or was never carved). A record in some thread's cache
 * counts as live, so it keeps its slab. The depot is then rebuilt from the
 * records that stay, in chains of CACHE_BATCH. Returns the bytes freed.
 * The walk touches every free record once: a call on request, not a path
 * anything hot takes.
 */
static size_t kind_trim(const weft__records *kind)
{
    weft__record_store *s = kind->store;
    size_t n = 0, freed = 0;
    pthread_mutex_lock(&s->lock);
    for (slab *sl = s->slabs; sl; sl = sl->next)
        n++;
    slab_tally *t = n ? malloc(n * sizeof *t) : NULL;
    if (!t) {
        pthread_mutex_unlock(&s->lock);
        return 0;
    }
    size_t i = 0;
    for (slab *sl = s->slabs; sl; sl = sl->next)
        t[i++] = (slab_tally){sl, 0};
    /* The newest slab is the one being carved: its rest is free too. */
    if (s->carve_left)
        t[0].free = s->carve_left;
    qsort(t, n, sizeof *t, by_address);
    /* A free record's link is the record. */
    for (weft__record_link *h = s->depot; h; h = h->batch_next)
        for (weft__record_link *l = h; l; l = l->next)
            tally_of(t, n, l)->free++;

    /* Rebuild the depot without the records of the slabs that go. */
    weft__record_link *chains = NULL, *head = NULL, *tail = NULL;
    unsigned len = 0;
    for (weft__record_link *h = s->depot, *hn; h; h = hn) {
        hn = h->batch_next;
        for (weft__record_link *l = h, *ln; l; l = ln) {
            ln = l->next;
            slab_tally *st = tally_of(t, n, l);
            if (st->free == slab_records(kind, st->sl))
                continue;
            l->next = NULL;
            if (!head)
                head = l;
            else
                tail->next = l;
            tail = l;
            if (++len == CACHE_BATCH) {
                head->batch_len = len;
                head->batch_next = chains;
                chains = head;
                head = NULL;
                len = 0;
            }
        }
    }
    if (head) {
        head->batch_len = len;
        head->batch_next = chains;
        chains = head;
    }
    s->depot = chains;

    /* Unlink the slabs that go; they are freed below, off the lock. */
    slab *gone = NULL;
    for (slab **pp = &s->slabs; *pp;) {
        slab *sl = *pp;
        slab_tally *st = tally_of(t, n, slab_first(sl));
        if (st->free == slab_records(kind, sl)) {
            if (sl == s->slabs && s->carve_left) {
                s->carve_left = 0;
                s->carve_next = NULL;
            }
            *pp = sl->next;
            s->slab_bytes -= sl->size;
            sl->next = gone;
            gone = sl;
        } else {
            pp = &sl->next;
        }
    }
    pthread_mutex_unlock(&s->lock);
    free(t);
    while (gone) {
        slab *sl = gone;
        gone = sl->next;
        freed += sl->size;
        if (sl->huge)
            munmap(sl, HUGE_SIZE);
        else
            free(sl);
    }
    return freed;
}

size_t weft__records_trim(void)
{
    if (thread_state == WEFT__RECORD_CACHE_LIVE)
        caches_spill(); /* this thread's cached records may free a slab */
    size_t freed = 0;
    for (weft__record_store *s = __atomic_load_n(&listed, __ATOMIC_ACQUIRE); s;
         s = s->next_listed)
        freed += kind_trim(s->kind);
    return freed;
}
