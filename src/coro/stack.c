/*
 * stack: the coroutine stack pool.
 *
 * Stacks are carved out of slabs: one anonymous MAP_NORESERVE mapping holds
 * many stacks, each preceded by its guard:
 *
 *     | guard | stack 0 ......... hdr | guard | stack 1 ......... hdr | ...
 *
 * The guard is WEFT__STACK_GUARD bytes (64 KiB), not one page: right under
 * it lies the top of the stack below, with that stack's header and its
 * coroutine's record, and a frame larger than the guard that writes only
 * its low end (code built without -fstack-clash-protection does not probe
 * its frames page by page) would land there silently instead of faulting.
 * A guard costs address space and page-table entries only, no memory.
 *
 * A mapping per stack (or an mprotect per guard, which splits the mapping in
 * three) would hit vm.max_map_count (65530 by default) long before a million
 * coroutines, so guards are installed with madvise(MADV_GUARD_INSTALL)
 * (Linux 6.13+): markers in the page tables that fault on access and add no
 * memory mapping. Older kernels refuse it with EINVAL; then each guard is an
 * mprotect(PROT_NONE) range (still one mapping per guard, whatever its
 * length) and the mapping limit caps the number of live stacks at about
 * vm.max_map_count / 2.
 *
 * Nothing of a stack is touched before it is handed out: a slab gives out
 * never-used stacks by bumping an index, so only the pages coroutines really
 * use become resident. A stack's top WEFT__STACK_HDR bytes hold the pool's
 * record of it (its slab, and the cache link while it is free), on the
 * page the coroutine touches first anyway.
 *
 * Free stacks are kept at three levels: a small cache per thread (no lock,
 * no syscall: creating a coroutine after one was freed costs a few loads and
 * stores), per-slab bitmaps under one global lock, visited in batches, and
 * cold slabs. A slab hands out its lowest free stack first, so a burst of
 * coroutines gets its stacks in address order, burst after burst: the loop
 * then walks them in order, and neighbours share page-table pages (a free
 * list would hand them back in the order they were freed, which a few
 * bursts turn into a shuffle that costs a page walk per stack). A slab
 * whose stacks are all free is idle: its pages stay resident for
 * WEFT__STACK_DECAY_NS, so that a burst of coroutines after a burst finds
 * its stacks warm (no page fault, no zeroing: on this kind of
 * virtual machine that is most of a short-lived task's price), as
 * allocators decay their dirty pages instead of returning them at once.
 * After that, once more than WEFT__STACK_CACHE_MAX stacks of a size are
 * free, an idle slab gives its memory back with one madvise over the whole
 * slab but stays mapped, its guards in place (markers survive MADV_FREE and
 * MADV_DONTNEED): it becomes cold. The decay is checked when a stack is
 * freed and by weft__stack_trim, which an idle event loop calls (and wakes
 * up for), so a burst's memory goes back even when nothing else happens;
 * taking a stack never gives memory back (that is when it is wanted). A cold
 * slab is handed out again like a fresh one (all bits set) and costs page
 * faults only, not a mapping and a guard install per stack, which on a
 * virtual machine is the larger part of a new stack's price. The address
 * space of cold slabs is bounded (COLD_MAX_BYTES, and nothing with mprotect
 * guards, whose mappings count against vm.max_map_count): beyond it, slabs
 * are unmapped.
 *
 * The memory of a cold slab is given back with MADV_FREE: the kernel takes
 * the pages only under memory pressure, and a page touched again before
 * then costs a minor fault instead of a fresh zeroed page (about ten times
 * less on this kind of virtual machine). They count in the process's RSS
 * until reclaimed (as LazyFree in smaps). Kernels without MADV_FREE (before
 * 4.5) get MADV_DONTNEED.
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include "internal/clock.h"
#include "internal/coro.h"
#include "internal/tls.h"

#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102
#endif

#ifndef MADV_FREE
#define MADV_FREE 8
#endif
/* The pidfd that names the calling process to process_madvise (Linux 6.14;
 * older kernels refuse it with EBADF). */
#define PIDFD_SELF_ (-10000)

/* A slab spans about this much address space (and at least one stack). */
#define SLAB_BYTES (64u << 20)
#define SLAB_MAX_STACKS 256u
/* Address space of cold slabs kept mapped. What it costs is page tables
 * (the guard markers keep them): about 1/512 of it, 512 MiB at most. A
 * million default stacks (64 KiB and their 64 KiB guard: 128 GiB) fit, so
 * a burst of a million tasks finds its slabs again the next time. */
#define COLD_MAX_BYTES ((size_t)256 << 30)
/* Per-thread cache: a few sizes, this many stacks each; a full list gives
 * half of itself back to the global lists in one locked pass, and an empty
 * one takes up to BATCH stacks in one. */
#define TC_SIZES 4
#define TC_MAX 64u
#define BATCH 16u

typedef struct slab slab;
typedef struct pool pool;
typedef struct hdr hdr;

/* At the top of every stack that has been handed out at least once since
 * its slab was made (or went cold): written once, then only read. */
struct hdr {
    slab *slab;
};

struct slab {
    slab *prev, *next; /* the pool's list of slabs with a free stack, or of cold ones */
    slab *iprev, *inext; /* the pool's idle slabs, oldest first */
    int64_t idle_since; /* when its last stack came back; 0: not idle */
    pool *pool;
    char *mem;
    size_t len;
    unsigned nstacks;
    unsigned nfree;   /* free stacks (the bits set in freemap) */
    uint64_t freemap[SLAB_MAX_STACKS / 64]; /* bit i: stack i is free */
    uint64_t hdrmap[SLAB_MAX_STACKS / 64];  /* bit i: stack i's hdr is written */
};

/* All stacks of one usable size. Pools are never freed (a program uses a
 * handful of sizes), so the per-thread caches may point at them. */
struct pool {
    pool *next;
    size_t size;      /* usable bytes of a stack */
    size_t slot;      /* guard + size */
    unsigned per_slab;
    size_t nfree;     /* free stacks in this pool's warm slabs (not in thread caches) */
    slab *avail;      /* warm slabs with nfree > 0 */
    slab *cold;       /* cold slabs (singly linked by next) */
    slab *idle_head, *idle_tail; /* wholly free warm slabs, oldest first */
};

/* A thread's cache for one size: a stack of stacks, the most recently
 * freed (still in the CPU's cache) on top. An array, not a list through the
 * stacks: taking one touches nothing of it, which matters when a burst
 * takes thousands whose pages are long out of the cache and the TLB. */
typedef struct tcache {
    pool *pool;
    unsigned n;
    hdr *stk[TC_MAX];
} tcache;

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pool *pools;
static size_t page;
static size_t guard; /* WEFT__STACK_GUARD rounded up to whole pages */
/* 0: not known yet, 1: MADV_GUARD_INSTALL works, 2: mprotect fallback.
 * Written under mu. */
static int guard_mode;
/* Whether process_madvise installs guards in one call per slab (false once
 * the kernel refused it), the advice that makes a slab cold, and the
 * address space of cold slabs. Under mu. */
static bool bulk_guards = true;
static int cold_advice = MADV_FREE;
static size_t cold_bytes;
/* The earliest time an idle slab may go cold (WEFT__NO_DEADLINE: none can);
 * written under mu, read without it by weft__stack_trim's quick check. */
static int64_t next_due = WEFT__NO_DEADLINE;
static int64_t decay_ns = WEFT__STACK_DECAY_NS;
/* process_madvise's vector for one slab; static because the caller may be
 * on a small coroutine stack. Under mu. */
static struct iovec guard_iov[SLAB_MAX_STACKS];

/* Initial-exec (internal/tls.h): no __tls_get_addr call per coroutine. */
static _Thread_local tcache *tc WEFT__TLS_IE; /* TC_SIZES, or NULL */
/* TC_OFF: no destructor registered yet; TC_ON: registered; TC_GONE: the
 * destructor has flushed the cache (the thread is exiting). */
enum { TC_OFF, TC_ON, TC_GONE };
static _Thread_local unsigned char tc_state WEFT__TLS_IE;
static pthread_key_t tc_key;
static pthread_once_t once = PTHREAD_ONCE_INIT;
static bool initialised; /* init_once has run (release/acquire) */

static void tc_flush(void *unused);

/* fork() in another thread while this one holds mu would leave the child's
 * copy locked for ever: the atfork handlers hold it across the fork. */
static void fork_prepare(void)
{
    pthread_mutex_lock(&mu);
}

static void fork_parent(void)
{
    pthread_mutex_unlock(&mu);
}

/* The child's only thread took the lock in fork_prepare: it releases it
 * (re-initialising it instead would leave TSan believing it still held). */
static void fork_child(void)
{
    pthread_mutex_unlock(&mu);
}

static void init_once(void)
{
    page = (size_t)sysconf(_SC_PAGESIZE);
    guard = (WEFT__STACK_GUARD + page - 1) & ~(page - 1);
    if (pthread_key_create(&tc_key, tc_flush) != 0)
        abort(); /* only fails when the process is out of keys: cannot happen here */
    pthread_atfork(fork_prepare, fork_parent, fork_child);
    __atomic_store_n(&initialised, true, __ATOMIC_RELEASE);
}

/* pthread_once is a call into libc each time; a coroutine's creation asked
 * three times. Once the flag is seen (acquire), what init_once wrote is. */
static inline void init(void)
{
    if (!__atomic_load_n(&initialised, __ATOMIC_ACQUIRE))
        pthread_once(&once, init_once);
}

size_t weft__stack_page(void)
{
    init();
    return page;
}

size_t weft__stack_guard(void)
{
    init();
    return guard;
}

bool weft__stack_guard_is_marker(void)
{
    pthread_mutex_lock(&mu);
    int m = guard_mode;
    pthread_mutex_unlock(&mu);
    return m == 1;
}

static hdr *hdr_of(void *base, size_t size)
{
    return (hdr *)((char *)base + size - WEFT__STACK_HDR);
}

/* Whether the guard marker at g faults. An emulator (qemu-user) may take an
 * advice it does not know as a hint and ignore it with success: then the
 * kernel reading a string at g finds a zero page (ENOENT) instead of failing
 * with EFAULT, and the guards fall back to mprotect. */
static bool guard_works(const char *g)
{
    return access(g, F_OK) != 0 && errno == EFAULT;
}

/* Markers for guards [from, s->nstacks) in as few calls as the kernel
 * allows: one process_madvise for the slab costs about half as much as a
 * madvise per guard, whatever the guards' length. Returns the index of the first guard left to do (all
 * of them when the call is refused). Under mu, guard_mode 1. */
static unsigned install_bulk(slab *s, size_t slot, unsigned from)
{
#ifdef SYS_process_madvise
    while (bulk_guards && from < s->nstacks) {
        unsigned n = s->nstacks - from;
        for (unsigned i = 0; i < n; i++) {
            guard_iov[i].iov_base = s->mem + (size_t)(from + i) * slot;
            guard_iov[i].iov_len = guard;
        }
        long rc = syscall(SYS_process_madvise, PIDFD_SELF_, guard_iov, (size_t)n,
                          MADV_GUARD_INSTALL, 0u);
        if (rc <= 0) {
            /* EBADF (no PIDFD_SELF), EINVAL (an advice process_madvise did
             * not take before 6.13), ENOSYS: one madvise per guard. An
             * EINTR or ENOMEM leaves the rest to those too. */
            if (errno != EINTR && errno != ENOMEM)
                bulk_guards = false;
            break;
        }
        /* A partial result counts whole guards: each vector entry is one
         * (a guard half done would be installed again: markers are
         * idempotent). */
        from += (unsigned)((size_t)rc / guard);
    }
#else
    (void)s;
    (void)slot;
#endif
    return from;
}

/* The guards of a fresh slab. Under mu. */
static int install_guards(slab *s, size_t slot)
{
    for (unsigned i = 0; i < s->nstacks; i++) {
        if (guard_mode == 1 && bulk_guards) {
            i = install_bulk(s, slot, i);
            if (i == s->nstacks)
                break;
        }
        char *g = s->mem + (size_t)i * slot;
        if (guard_mode != 2) {
            int rc = madvise(g, guard, MADV_GUARD_INSTALL);
            if (rc == 0 && (guard_mode == 1 || guard_works(g))) {
                guard_mode = 1;
                continue;
            }
            /* The first guard was refused with EINVAL (a kernel before
             * 6.13: an unknown advice) or silently ignored: mprotect from
             * now on. Any other failure is a failure of this slab. */
            if (rc != 0 && (errno != EINVAL || guard_mode == 1))
                return -1;
            guard_mode = 2;
        }
        if (mprotect(g, guard, PROT_NONE) != 0)
            return -1; /* ENOMEM: vm.max_map_count reached */
    }
    return 0;
}

static void avail_push(pool *p, slab *s)
{
    s->prev = NULL;
    s->next = p->avail;
    if (p->avail)
        p->avail->prev = s;
    p->avail = s;
}

static void avail_unlink(pool *p, slab *s)
{
    if (s->prev)
        s->prev->next = s->next;
    else
        p->avail = s->next;
    if (s->next)
        s->next->prev = s->prev;
    s->prev = s->next = NULL;
}

/* Every stack of s free. */
static void slab_fill(slab *s)
{
    s->nfree = s->nstacks;
    for (unsigned i = 0; i < SLAB_MAX_STACKS / 64; i++) {
        unsigned lo = i * 64;
        s->freemap[i] = s->nstacks >= lo + 64 ? ~(uint64_t)0
                        : s->nstacks > lo     ? ((uint64_t)1 << (s->nstacks - lo)) - 1
                                              : 0;
    }
}

/* Under mu. */
static slab *slab_new(pool *p)
{
    slab *s = malloc(sizeof *s);
    if (!s)
        return NULL;
    s->len = (size_t)p->per_slab * p->slot;
    s->mem = mmap(NULL, s->len, PROT_READ | PROT_WRITE,
                  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (s->mem == MAP_FAILED) {
        free(s);
        return NULL;
    }
    /* With THP set to "always", the first touch of a stack could fault in a
     * 2 MiB page: a coroutine must cost only the 4 KiB pages it uses. */
    madvise(s->mem, s->len, MADV_NOHUGEPAGE);
    s->pool = p;
    s->nstacks = p->per_slab;
    slab_fill(s);
    memset(s->hdrmap, 0, sizeof s->hdrmap);
    s->iprev = s->inext = NULL;
    s->idle_since = 0;
    if (install_guards(s, p->slot) != 0) {
        munmap(s->mem, s->len);
        free(s);
        return NULL;
    }
    avail_push(p, s);
    p->nfree += s->nstacks;
    return s;
}

/* Under mu. */
static pool *pool_get(size_t size)
{
    for (pool *p = pools; p; p = p->next)
        if (p->size == size)
            return p;
    pool *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->size = size;
    p->slot = size + guard;
    size_t n = SLAB_BYTES / p->slot;
    p->per_slab = n < 1 ? 1 : n > SLAB_MAX_STACKS ? SLAB_MAX_STACKS : (unsigned)n;
    p->next = pools;
    pools = p;
    return p;
}

static void idle_unlink(pool *p, slab *s)
{
    if (s->iprev)
        s->iprev->inext = s->inext;
    else
        p->idle_head = s->inext;
    if (s->inext)
        s->inext->iprev = s->iprev;
    else
        p->idle_tail = s->iprev;
    s->iprev = s->inext = NULL;
    s->idle_since = 0;
}

static void idle_append(pool *p, slab *s, int64_t now)
{
    s->idle_since = now > 0 ? now : 1;
    s->inext = NULL;
    s->iprev = p->idle_tail;
    if (p->idle_tail)
        p->idle_tail->inext = s;
    else
        p->idle_head = s;
    p->idle_tail = s;
}

/* next_due after a change to an idle list or a pool's free count. Under mu. */
static void due_update(void)
{
    int64_t due = WEFT__NO_DEADLINE;
    for (pool *p = pools; p; p = p->next)
        if (p->idle_head && p->nfree > WEFT__STACK_CACHE_MAX &&
            p->idle_head->idle_since + decay_ns < due)
            due = p->idle_head->idle_since + decay_ns;
    __atomic_store_n(&next_due, due, __ATOMIC_RELAXED);
}

/* A cold slab made warm again: all its stacks are as good as never used. */
static slab *cold_take(pool *p)
{
    slab *s = p->cold;
    p->cold = s->next;
    cold_bytes -= s->len;
    slab_fill(s);
    avail_push(p, s);
    p->nfree += s->nstacks;
    return s;
}

/* An idle slab leaves the warm ones: cold if there is room, else
 * unmapped. Under mu. */
static void slab_release(pool *p, slab *s)
{
    idle_unlink(p, s);
    avail_unlink(p, s);
    p->nfree -= s->nstacks;
    if (guard_mode == 1 && cold_bytes + s->len <= COLD_MAX_BYTES) {
        int rc = madvise(s->mem, s->len, cold_advice);
        if (rc != 0 && cold_advice == MADV_FREE && errno == EINVAL) {
            cold_advice = MADV_DONTNEED; /* a kernel before 4.5 */
            rc = madvise(s->mem, s->len, cold_advice);
        }
        if (rc == 0) {
            /* The kernel may take the pages, headers and all. */
            memset(s->hdrmap, 0, sizeof s->hdrmap);
            cold_bytes += s->len;
            s->next = p->cold;
            s->prev = NULL;
            p->cold = s;
            return;
        }
    }
    munmap(s->mem, s->len);
    free(s);
}

/* One stack out of p's slabs, or NULL. Under mu. */
static hdr *pool_take(pool *p)
{
    slab *s = p->avail;
    if (!s && !(s = p->cold ? cold_take(p) : slab_new(p)))
        return NULL;
    if (s->idle_since)
        idle_unlink(p, s);
    unsigned w = 0;
    while (!s->freemap[w])
        w++; /* nfree > 0: some bit is set */
    unsigned i = w * 64 + (unsigned)__builtin_ctzll(s->freemap[w]); /* lowest first */
    s->freemap[w] &= s->freemap[w] - 1;
    hdr *h = hdr_of(s->mem + (size_t)i * p->slot + guard, p->size);
    /* A stack reused warm keeps its header: not writing it again leaves its
     * page alone until the coroutine's first frames need it. */
    if (!(s->hdrmap[w] & ((uint64_t)1 << (i % 64)))) {
        s->hdrmap[w] |= (uint64_t)1 << (i % 64);
        h->slab = s;
    }
    if (--s->nfree == 0)
        avail_unlink(p, s);
    p->nfree--;
    return h;
}

/* Idle slabs of p that have decayed go cold, oldest first, while the pool
 * keeps more than its cache of free stacks. Under mu. */
static void purge(pool *p, int64_t now)
{
    slab *s;
    while ((s = p->idle_head) && now - s->idle_since >= decay_ns &&
           p->nfree > WEFT__STACK_CACHE_MAX)
        slab_release(p, s);
}

/* Back to its slab, which turns idle when all its stacks are free; idle
 * slabs that have decayed give their memory back. Under mu. */
static void pool_give(hdr *h, int64_t *now)
{
    slab *s = h->slab;
    pool *p = s->pool;
    /* The stack's top is the end of its slot. */
    size_t i = (size_t)((char *)h + WEFT__STACK_HDR - s->mem) / p->slot - 1;
    s->freemap[i / 64] |= (uint64_t)1 << (i % 64);
    if (s->nfree++ == 0)
        avail_push(p, s);
    p->nfree++;
    if (s->nfree == s->nstacks) {
        if (!*now)
            *now = weft__now_ns();
        idle_append(p, s, *now);
        purge(p, *now);
    }
}

int64_t weft__stack_trim(int64_t now)
{
    int64_t due = __atomic_load_n(&next_due, __ATOMIC_RELAXED);
    if (due == WEFT__NO_DEADLINE)
        return -1;
    if (now < due)
        return due - now;
    pthread_mutex_lock(&mu);
    for (pool *p = pools; p; p = p->next)
        purge(p, now);
    due_update();
    due = next_due;
    pthread_mutex_unlock(&mu);
    return due == WEFT__NO_DEADLINE ? -1 : due > now ? due - now : 0;
}

void weft__stack_set_decay(int64_t ns)
{
    pthread_mutex_lock(&mu);
    decay_ns = ns < 0 ? WEFT__STACK_DECAY_NS : ns;
    due_update();
    pthread_mutex_unlock(&mu);
}

size_t weft__stack_trim_all(void)
{
    size_t before = 0, after = 0;
    pthread_mutex_lock(&mu);
    for (pool *p = pools; p; p = p->next) {
        for (slab *s = p->idle_head; s; s = s->inext)
            before += s->len;
        purge(p, WEFT__NO_DEADLINE);
        for (slab *s = p->idle_head; s; s = s->inext)
            after += s->len;
    }
    due_update();
    pthread_mutex_unlock(&mu);
    return before - after;
}

size_t weft__stack_idle_bytes(void)
{
    size_t n = 0;
    pthread_mutex_lock(&mu);
    for (pool *p = pools; p; p = p->next)
        for (slab *s = p->idle_head; s; s = s->inext)
            n += s->len;
    pthread_mutex_unlock(&mu);
    return n;
}

/* A thread's cached stacks go back to the global lists when it exits (the
 * key's destructor) so that another thread can use them. Another key's
 * destructor may free a coroutine after this one ran (destructors run in
 * an unspecified order): from then on the thread has no cache, and such a
 * stack goes straight to the global lists (a cache filled now would have
 * no destructor left to flush it). */
static void tc_flush(void *unused)
{
    (void)unused;
    tc_state = TC_GONE;
    tcache *c = tc;
    tc = NULL;
    if (!c)
        return;
    int64_t now = 0;
    pthread_mutex_lock(&mu);
    for (int i = 0; i < TC_SIZES; i++)
        for (unsigned k = 0; k < c[i].n; k++)
            pool_give(c[i].stk[k], &now);
    due_update();
    pthread_mutex_unlock(&mu);
    free(c);
}

/* This thread's cache entry for `size`, claiming an empty entry for it if
 * there is none; NULL when all entries serve other sizes. */
static tcache *tc_for(size_t size, bool claim)
{
    tcache *c = tc, *empty = NULL;
    if (c) {
        for (int i = 0; i < TC_SIZES; i++) {
            if (c[i].pool && c[i].pool->size == size)
                return &c[i];
            if (!empty && !c[i].pool)
                empty = &c[i];
        }
    }
    if (!claim || tc_state == TC_GONE)
        return NULL;
    if (!c) {
        /* Without memory for a cache the thread goes to the slabs each
         * time, which is slower but works. */
        if (!(c = calloc(TC_SIZES, sizeof *c)))
            return NULL;
        tc = c;
        empty = &c[0];
        /* The destructor runs at thread exit for a non-NULL value. */
        pthread_setspecific(tc_key, c);
        tc_state = TC_ON;
    }
    return empty;
}

void *weft__stack_alloc(size_t size)
{
    init();
    tcache *c = tc_for(size, false);
    hdr *h;
    if (c && c->n) {
        h = c->stk[--c->n];
    } else {
        pthread_mutex_lock(&mu);
        pool *p = pool_get(size);
        h = p ? pool_take(p) : NULL;
        if (h && (c || (c = tc_for(size, true)))) {
            /* Refill the (empty) cache while the lock is held, from slabs
             * that already exist (a new slab is made only for a stack asked
             * for), in the order taken: address order within a slab. */
            hdr *batch[BATCH];
            unsigned n = 0;
            while (n < BATCH && p->avail)
                batch[n++] = pool_take(p);
            c->pool = p;
            for (unsigned k = 0; k < n; k++) /* the lowest on top */
                c->stk[k] = batch[n - 1 - k];
            c->n = n;
        }
        due_update();
        pthread_mutex_unlock(&mu);
        if (!h)
            return NULL;
    }
    return (char *)h + WEFT__STACK_HDR - size;
}

void weft__stack_free(void *base, size_t size)
{
    hdr *h = hdr_of(base, size);
    tcache *c = tc_for(size, true);
    if (c && c->n < TC_MAX) {
        c->pool = h->slab->pool;
        c->stk[c->n++] = h;
        return;
    }
    int64_t now = 0;
    pthread_mutex_lock(&mu);
    pool_give(h, &now);
    if (c) {
        /* The older half (the bottom, the coldest) goes back. */
        for (unsigned k = 0; k < TC_MAX / 2; k++)
            pool_give(c->stk[k], &now);
        memmove(c->stk, c->stk + TC_MAX / 2, (c->n - TC_MAX / 2) * sizeof *c->stk);
        c->n -= TC_MAX / 2;
    }
    due_update();
    pthread_mutex_unlock(&mu);
}
