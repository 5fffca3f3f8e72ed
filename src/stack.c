/*
 * stack: the coroutine stack pool.
 *
 * Stacks are carved out of slabs: one anonymous MAP_NORESERVE mapping holds
 * many stacks, each preceded by its guard page:
 *
 *     | guard | stack 0 ......... hdr | guard | stack 1 ......... hdr | ...
 *
 * A mapping per stack (or an mprotect per guard, which splits the mapping in
 * three) would hit vm.max_map_count (65530 by default) long before a million
 * coroutines, so guards are installed with madvise(MADV_GUARD_INSTALL)
 * (Linux 6.13+): a marker in the page tables that faults on access and adds
 * no memory mapping. Older kernels refuse it with EINVAL; then each guard is
 * an mprotect(PROT_NONE) page and the mapping limit caps the number of live
 * stacks at about vm.max_map_count / 2.
 *
 * Nothing of a stack is touched before it is handed out: a slab gives out
 * never-used stacks by bumping an index, so only the pages coroutines really
 * use become resident. A stack's top WEFT__STACK_HDR bytes hold the pool's
 * record of it (its slab, and the free-list link while it is free), on the
 * page the coroutine touches first anyway.
 *
 * Free stacks are kept at two levels: a small cache per thread (no lock, no
 * syscall: creating a coroutine after one was freed costs a few loads and
 * stores), and per-slab free lists under one global lock, visited in batches.
 * Once more than WEFT__STACK_CACHE_MAX stacks of a size are free globally,
 * a slab whose stacks are all free is unmapped.
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "internal/coro.h"

#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102
#endif

/* A slab spans about this much address space (and at least one stack). */
#define SLAB_BYTES (64u << 20)
#define SLAB_MAX_STACKS 256u
/* Per-thread cache: a few sizes, this many stacks each; a full list gives
 * half of itself back to the global lists in one locked pass, and an empty
 * one takes up to BATCH stacks in one. */
#define TC_SIZES 4
#define TC_MAX 64u
#define BATCH 16u

typedef struct slab slab;
typedef struct pool pool;
typedef struct hdr hdr;

/* At the top of every stack that has been handed out at least once. */
struct hdr {
    slab *slab;
    hdr *next; /* free lists (per-thread cache or slab) */
};

struct slab {
    slab *prev, *next; /* the pool's list of slabs with a free stack */
    pool *pool;
    char *mem;
    size_t len;
    unsigned nstacks;
    unsigned nfree;   /* free stacks: on `free` plus the never-used ones */
    unsigned fresh;   /* stacks [fresh, nstacks) were never handed out */
    hdr *free;
};

/* All stacks of one usable size. Pools are never freed (a program uses a
 * handful of sizes), so the per-thread caches may point at them. */
struct pool {
    pool *next;
    size_t size;      /* usable bytes of a stack */
    size_t slot;      /* guard + size */
    unsigned per_slab;
    size_t nfree;     /* free stacks in this pool's slabs (not in thread caches) */
    slab *avail;      /* slabs with nfree > 0 */
};

typedef struct tcache {
    pool *pool;
    hdr *head;
    unsigned n;
} tcache;

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pool *pools;
static size_t page;
/* 0: not known yet, 1: MADV_GUARD_INSTALL works, 2: mprotect fallback.
 * Written under mu. */
static int guard_mode;

/* initial-exec, as in coro.c: no __tls_get_addr call per coroutine. */
static _Thread_local tcache tc[TC_SIZES] __attribute__((tls_model("initial-exec")));
static _Thread_local bool tc_registered __attribute__((tls_model("initial-exec")));
static pthread_key_t tc_key;
static pthread_once_t once = PTHREAD_ONCE_INIT;

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

static void fork_child(void)
{
    pthread_mutex_init(&mu, NULL);
}

static void init_once(void)
{
    page = (size_t)sysconf(_SC_PAGESIZE);
    if (pthread_key_create(&tc_key, tc_flush) != 0)
        abort(); /* only fails when the process is out of keys: cannot happen here */
    pthread_atfork(fork_prepare, fork_parent, fork_child);
}

size_t weft__stack_page(void)
{
    pthread_once(&once, init_once);
    return page;
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

/* Guard pages of a fresh slab. Under mu. */
static int install_guards(slab *s, size_t slot)
{
    for (unsigned i = 0; i < s->nstacks; i++) {
        char *g = s->mem + (size_t)i * slot;
        if (guard_mode != 2) {
            int rc = madvise(g, page, MADV_GUARD_INSTALL);
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
        if (mprotect(g, page, PROT_NONE) != 0)
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
    s->nstacks = s->nfree = p->per_slab;
    s->fresh = 0;
    s->free = NULL;
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
    p->slot = size + page;
    size_t n = SLAB_BYTES / p->slot;
    p->per_slab = n < 1 ? 1 : n > SLAB_MAX_STACKS ? SLAB_MAX_STACKS : (unsigned)n;
    p->next = pools;
    pools = p;
    return p;
}

/* One stack out of p's slabs, or NULL. Under mu. */
static hdr *pool_take(pool *p)
{
    slab *s = p->avail;
    if (!s && !(s = slab_new(p)))
        return NULL;
    hdr *h;
    if (s->free) {
        h = s->free;
        s->free = h->next;
    } else {
        char *base = s->mem + (size_t)s->fresh++ * p->slot + page;
        h = hdr_of(base, p->size);
        h->slab = s;
    }
    if (--s->nfree == 0)
        avail_unlink(p, s);
    p->nfree--;
    return h;
}

/* Back to its slab; the slab goes back to the kernel when all its stacks
 * are free and the pool has more than enough free ones. Under mu. */
static void pool_give(hdr *h)
{
    slab *s = h->slab;
    pool *p = s->pool;
    h->next = s->free;
    s->free = h;
    if (s->nfree++ == 0)
        avail_push(p, s);
    p->nfree++;
    if (s->nfree == s->nstacks && p->nfree > WEFT__STACK_CACHE_MAX) {
        avail_unlink(p, s);
        p->nfree -= s->nstacks;
        munmap(s->mem, s->len);
        free(s);
    }
}

/* A thread's cached stacks go back to the global lists when it exits (the
 * key's destructor) so that another thread can use them. */
static void tc_flush(void *unused)
{
    (void)unused;
    pthread_mutex_lock(&mu);
    for (int i = 0; i < TC_SIZES; i++) {
        while (tc[i].head) {
            hdr *h = tc[i].head;
            tc[i].head = h->next;
            pool_give(h);
        }
        tc[i].n = 0;
        tc[i].pool = NULL;
    }
    pthread_mutex_unlock(&mu);
}

/* This thread's cache entry for `size`, claiming an empty entry for it if
 * there is none; NULL when all entries serve other sizes. */
static tcache *tc_for(size_t size, bool claim)
{
    tcache *empty = NULL;
    for (int i = 0; i < TC_SIZES; i++) {
        if (tc[i].pool && tc[i].pool->size == size)
            return &tc[i];
        if (!empty && !tc[i].pool)
            empty = &tc[i];
    }
    if (!claim || !empty)
        return NULL;
    if (!tc_registered) {
        /* Any non-NULL value makes the destructor run at thread exit. */
        pthread_setspecific(tc_key, tc);
        tc_registered = true;
    }
    return empty;
}

void *weft__stack_alloc(size_t size)
{
    pthread_once(&once, init_once);
    tcache *c = tc_for(size, false);
    hdr *h;
    if (c && c->head) {
        h = c->head;
        c->head = h->next;
        c->n--;
    } else {
        pthread_mutex_lock(&mu);
        pool *p = pool_get(size);
        h = p ? pool_take(p) : NULL;
        if (h && (c || (c = tc_for(size, true)))) {
            /* Refill the cache while the lock is held, from slabs that
             * already exist (a new slab is made only for a stack asked for). */
            c->pool = p;
            while (c->n < BATCH && p->avail) {
                hdr *x = pool_take(p);
                x->next = c->head;
                c->head = x;
                c->n++;
            }
        }
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
        h->next = c->head;
        c->head = h;
        c->n++;
        return;
    }
    pthread_mutex_lock(&mu);
    pool_give(h);
    if (c) {
        while (c->n > TC_MAX / 2) {
            hdr *x = c->head;
            c->head = x->next;
            c->n--;
            pool_give(x);
        }
    }
    pthread_mutex_unlock(&mu);
}
