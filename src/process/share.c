/*
 * Handle memory, shared memory and registered fds: what a child process gets
 * of its parent. See internal/share.h for the contract.
 *
 * The handle heap is one reservation of address space, committed as it
 * grows, carved by a size-class allocator whose whole state (free lists,
 * the shared chunk table, the registered fds) lives at the start of the
 * heap itself. Copying the heap's used prefix to the same address therefore
 * copies the allocator with it: that is all a forkserver child needs to see
 * every handle its parent had.
 *
 * Shared memory comes in chunks, each a memfd mapped MAP_SHARED. A chunk
 * holds blocks of one size class (so a block needs no header and a block
 * of 2^k bytes is 2^k-aligned up to the page size), or one large block.
 * A chunk belongs to the process that created it; only that process takes
 * blocks from it. A child inherits the parent's free lists with the heap,
 * so the first shared allocation in a new process drops them (the pid
 * changed) and starts chunks of its own.
 *
 * One mutex guards everything. It is not in the heap: every image has its
 * own, and the atfork handlers hold it across fork.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "internal/error.h"
#include "internal/share.h"
#include "internal/sockmsg.h"
#include "weft/common.h"

#define HEAP_RESERVE ((size_t)256 << 20)
#define HEAP_GROW ((size_t)1 << 20)
#define HANDLE_MIN_SHIFT 5 /* 32-byte smallest block, header included */
#define HANDLE_CLASSES 24  /* up to 256 MiB */
#define HANDLE_MAGIC 0x77656674u

#define SHARED_MIN_SHIFT 6 /* 64-byte smallest block: a cache line */
#define SHARED_CLASSES 13  /* 64 B .. 256 KiB in chunks; larger alone */
#define CHUNK_SIZE ((size_t)1 << 20)

#define WIRE_MAGIC 0x5745465453484152ull /* "WEFTSHAR" */

/* The header of a handle block, 16 bytes so the payload stays aligned. */
struct hblock {
    uint32_t magic;
    uint32_t cls;
    uint64_t pad;
};

struct chunk {
    char *addr;
    size_t size;
    int fd;    /* the memfd, close-on-exec, kept to hand it to children */
    int cls;   /* size class, or -1 for one large block */
    pid_t owner;
    size_t bump; /* next never-used offset (owner only) */
};

/* Lives at the start of the heap, so children get it with the heap. */
struct heap_state {
    char *base;
    size_t committed;
    size_t top; /* bytes in use from base, this struct included */
    void *hfree[HANDLE_CLASSES];
    /* Shared allocation state, valid only while shared_pid == getpid(). */
    pid_t shared_pid;
    void *sfree[SHARED_CLASSES];
    int cur[SHARED_CLASSES]; /* chunk index being bumped, -1 none */
    struct chunk *chunks;
    int nchunks, capchunks;
    int *fds;
    int nfds, capfds;
};

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static struct heap_state *g_heap;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static size_t g_page;

static void fork_prepare(void)
{
    pthread_mutex_lock(&g_lock);
}

static void fork_parent(void)
{
    pthread_mutex_unlock(&g_lock);
}

/* The child's only thread took the lock in fork_prepare: it releases it
 * (re-initialising it instead would leave TSan believing it still held). */
static void fork_child(void)
{
    pthread_mutex_unlock(&g_lock);
}

static void init_once(void)
{
    g_page = (size_t)sysconf(_SC_PAGESIZE);
    pthread_atfork(fork_prepare, fork_parent, fork_child);
}

/* ------------------------------------------------------- handle heap */

static int heap_commit(struct heap_state *h, size_t need)
{
    if (need <= h->committed)
        return 0;
    if (need > HEAP_RESERVE)
        return WEFT_ENOMEM;
    size_t to = (need + HEAP_GROW - 1) & ~(HEAP_GROW - 1);
    if (to > HEAP_RESERVE)
        to = HEAP_RESERVE;
    if (mprotect(h->base + h->committed, to - h->committed, PROT_READ | PROT_WRITE) != 0)
        return WEFT_ENOMEM;
    h->committed = to;
    return 0;
}

/* With g_lock held. */
static struct heap_state *heap_get(void)
{
    if (g_heap)
        return g_heap;
    char *base = mmap(NULL, HEAP_RESERVE, PROT_NONE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (base == MAP_FAILED)
        return NULL;
    if (mprotect(base, HEAP_GROW, PROT_READ | PROT_WRITE) != 0) {
        munmap(base, HEAP_RESERVE);
        return NULL;
    }
    struct heap_state *h = (struct heap_state *)base;
    h->base = base;
    h->committed = HEAP_GROW;
    h->top = (sizeof *h + 15) & ~(size_t)15;
    h->shared_pid = 0;
    g_heap = h;
    return h;
}

static int class_of(size_t need, int min_shift, int nclasses)
{
    int shift = min_shift;
    while (((size_t)1 << shift) < need) {
        if (++shift >= min_shift + nclasses)
            return -1;
    }
    return shift - min_shift;
}

/* With g_lock held. */
static void *handle_alloc_locked(size_t size)
{
    struct heap_state *h = heap_get();
    if (!h || size > HEAP_RESERVE)
        return NULL;
    int cls = class_of(size + sizeof(struct hblock), HANDLE_MIN_SHIFT, HANDLE_CLASSES);
    if (cls < 0)
        return NULL;
    size_t bsize = (size_t)1 << (cls + HANDLE_MIN_SHIFT);
    struct hblock *b = h->hfree[cls];
    if (b) {
        h->hfree[cls] = *(void **)(b + 1);
    } else {
        if (heap_commit(h, h->top + bsize) != 0)
            return NULL;
        b = (struct hblock *)(h->base + h->top);
        h->top += bsize;
    }
    memset(b, 0, bsize);
    b->magic = HANDLE_MAGIC;
    b->cls = (uint32_t)cls;
    return b + 1;
}

static void handle_free_locked(void *p)
{
    struct heap_state *h = g_heap;
    struct hblock *b = (struct hblock *)p - 1;
    if (!h || (char *)b < h->base || (char *)b >= h->base + h->top || b->magic != HANDLE_MAGIC)
        abort(); /* not a handle block, or freed twice: memory is corrupt */
    b->magic = 0;
    *(void **)p = h->hfree[b->cls];
    h->hfree[b->cls] = b;
}

void *weft__handle_alloc(size_t size)
{
    pthread_once(&g_once, init_once);
    pthread_mutex_lock(&g_lock);
    void *p = handle_alloc_locked(size);
    pthread_mutex_unlock(&g_lock);
    return p;
}

void weft__handle_free(void *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&g_lock);
    handle_free_locked(p);
    pthread_mutex_unlock(&g_lock);
}

/* Grow a handle-heap array of `elem`-byte entries to hold one more. */
static int grow_array(void **arr, int n, int *cap, size_t elem)
{
    if (n < *cap)
        return 0;
    int ncap = *cap ? *cap * 2 : 16;
    void *a = handle_alloc_locked((size_t)ncap * elem);
    if (!a)
        return WEFT_ENOMEM;
    if (*arr) {
        memcpy(a, *arr, (size_t)n * elem);
        handle_free_locked(*arr);
    }
    *arr = a;
    *cap = ncap;
    return 0;
}

/* ------------------------------------------------------ shared memory */

/* A new process drops the free lists it inherited: they point into its
 * parent's chunks. With g_lock held. */
static void shared_adopt(struct heap_state *h)
{
    pid_t self = getpid();
    if (h->shared_pid == self)
        return;
    h->shared_pid = self;
    memset(h->sfree, 0, sizeof h->sfree);
    for (int i = 0; i < SHARED_CLASSES; i++)
        h->cur[i] = -1;
}

static int chunk_new(struct heap_state *h, size_t size, int cls)
{
    if (grow_array((void **)&h->chunks, h->nchunks, &h->capchunks, sizeof *h->chunks) != 0)
        return -1;
    int fd = memfd_create("weft-shared", MFD_CLOEXEC);
    if (fd < 0)
        return -1;
    if (ftruncate(fd, (off_t)size) != 0) {
        close(fd);
        return -1;
    }
    char *addr = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (addr == MAP_FAILED) {
        close(fd);
        return -1;
    }
    int i = h->nchunks++;
    h->chunks[i] = (struct chunk){.addr = addr, .size = size, .fd = fd, .cls = cls,
                                  .owner = h->shared_pid, .bump = 0};
    return i;
}

static int chunk_find(const struct heap_state *h, const void *p)
{
    for (int i = 0; i < h->nchunks; i++) {
        const struct chunk *c = &h->chunks[i];
        if ((const char *)p >= c->addr && (const char *)p < c->addr + c->size)
            return i;
    }
    return -1;
}

void *weft__shared_alloc(size_t size)
{
    pthread_once(&g_once, init_once);
    if (size == 0)
        size = 1;
    if (size > ((size_t)1 << 46))
        return NULL;
    pthread_mutex_lock(&g_lock);
    void *p = NULL;
    struct heap_state *h = heap_get();
    if (!h)
        goto out;
    shared_adopt(h);
    int cls = class_of(size, SHARED_MIN_SHIFT, SHARED_CLASSES);
    if (cls < 0) {
        size_t len = (size + g_page - 1) & ~(g_page - 1);
        int i = chunk_new(h, len, -1);
        if (i >= 0)
            p = h->chunks[i].addr;
        goto out;
    }
    size_t bsize = (size_t)1 << (cls + SHARED_MIN_SHIFT);
    if (h->sfree[cls]) {
        p = h->sfree[cls];
        h->sfree[cls] = *(void **)p;
        memset(p, 0, bsize);
        goto out;
    }
    int i = h->cur[cls];
    if (i < 0 || h->chunks[i].bump + bsize > h->chunks[i].size) {
        i = chunk_new(h, CHUNK_SIZE, cls);
        if (i < 0)
            goto out;
        h->cur[cls] = i;
    }
    /* Never-used memfd pages are zero already. */
    p = h->chunks[i].addr + h->chunks[i].bump;
    h->chunks[i].bump += bsize;
out:
    pthread_mutex_unlock(&g_lock);
    return p;
}

void weft__shared_free(void *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&g_lock);
    struct heap_state *h = g_heap;
    int i = h ? chunk_find(h, p) : -1;
    if (i < 0)
        abort(); /* not a shared block: memory is corrupt */
    struct chunk *c = &h->chunks[i];
    if (c->owner != getpid())
        goto out; /* the parent's block: not ours to free */
    shared_adopt(h);
    if (c->cls >= 0) {
        *(void **)p = h->sfree[c->cls];
        h->sfree[c->cls] = p;
        goto out;
    }
    munmap(c->addr, c->size);
    close(c->fd);
    /* Keep indexes of size-class chunks stable: cur[] refers to them. */
    int last = h->nchunks - 1;
    if (i != last) {
        h->chunks[i] = h->chunks[last];
        for (int k = 0; k < SHARED_CLASSES; k++)
            if (h->cur[k] == last)
                h->cur[k] = i;
    }
    h->nchunks--;
out:
    pthread_mutex_unlock(&g_lock);
}

bool weft__shared_owned(const void *p)
{
    pthread_mutex_lock(&g_lock);
    int i = g_heap && p ? chunk_find(g_heap, p) : -1;
    bool owned = i >= 0 && g_heap->chunks[i].owner == getpid();
    pthread_mutex_unlock(&g_lock);
    return owned;
}

/* ------------------------------------------------------ registered fds */

int weft__share_fd_add(int fd)
{
    if (fd < 0)
        return WEFT_EINVAL;
    pthread_once(&g_once, init_once);
    pthread_mutex_lock(&g_lock);
    int r = WEFT_ENOMEM;
    struct heap_state *h = heap_get();
    if (h && grow_array((void **)&h->fds, h->nfds, &h->capfds, sizeof *h->fds) == 0) {
        h->fds[h->nfds++] = fd;
        r = 0;
    }
    pthread_mutex_unlock(&g_lock);
    return r;
}

void weft__share_fd_remove(int fd)
{
    pthread_mutex_lock(&g_lock);
    struct heap_state *h = g_heap;
    for (int i = 0; h && i < h->nfds; i++) {
        if (h->fds[i] == fd) {
            h->fds[i] = h->fds[--h->nfds];
            break;
        }
    }
    pthread_mutex_unlock(&g_lock);
}

/* ------------------------------------------------------------ transfer */

struct wire_header {
    uint64_t magic;
    uint64_t base;      /* 0: the parent has no heap, nothing follows */
    uint64_t committed;
    uint64_t top;
    uint32_t nchunks;
    uint32_t nfds;
};

/* The hand-over's own reading of a failed send or receive. */
static int share_code(int e)
{
    return e == EPIPE || e == ECONNRESET ? WEFT_EPIPE : weft__errno_code(e);
}

/* One byte of data carries each batch of fds. */
static int send_fds(int sock, const int *fds, int n)
{
    for (int off = 0; off < n; off += WEFT__SOCK_FDS_MAX) {
        int k = n - off < WEFT__SOCK_FDS_MAX ? n - off : WEFT__SOCK_FDS_MAX;
        int rc = weft__sock_send_fds(sock, "f", 1, fds + off, k, share_code);
        if (rc)
            return rc;
    }
    return 0;
}

/* Receive n fds, in the batches send_fds sent; on failure every fd
 * received so far is closed. */
static int recv_fds(int sock, int *fds, int n)
{
    int got = 0;
    while (got < n) {
        int want = n - got < WEFT__SOCK_FDS_MAX ? n - got : WEFT__SOCK_FDS_MAX;
        char byte;
        int k = weft__sock_recv_fds(sock, &byte, 1, fds + got, want, share_code);
        int err = k < 0 ? k : k != want ? WEFT_EINVAL : 0;
        if (k > 0)
            got += k;
        if (err) {
            for (int j = 0; j < got; j++)
                close(fds[j]);
            return err;
        }
    }
    return 0;
}

int weft__share_send(int sock)
{
    pthread_once(&g_once, init_once);
    pthread_mutex_lock(&g_lock);
    struct heap_state *h = g_heap;
    struct wire_header hd = {.magic = WIRE_MAGIC};
    if (h) {
        hd.base = (uint64_t)(uintptr_t)h->base;
        hd.committed = h->committed;
        hd.top = h->top;
        hd.nchunks = (uint32_t)h->nchunks;
        hd.nfds = (uint32_t)h->nfds;
    }
    int r = weft__sock_send_all(sock, &hd, sizeof hd, share_code);
    if (r == 0 && h)
        r = weft__sock_send_all(sock, h->base, h->top, share_code);
    int *fds = NULL;
    if (r == 0 && h && h->nchunks > 0) {
        fds = malloc(sizeof(int) * (size_t)h->nchunks);
        if (!fds)
            r = WEFT_ENOMEM;
        for (int i = 0; r == 0 && i < h->nchunks; i++)
            fds[i] = h->chunks[i].fd;
        if (r == 0)
            r = send_fds(sock, fds, h->nchunks);
    }
    /* The registered fds' numbers travel in the heap (h->fds). */
    if (r == 0 && h && h->nfds > 0)
        r = send_fds(sock, h->fds, h->nfds);
    pthread_mutex_unlock(&g_lock);
    free(fds);
    return r;
}

/* Move fd to a number above `floor`, close-on-exec; the old number is
 * closed. */
static int move_above(int fd, int floor)
{
    int nfd = fcntl(fd, F_DUPFD_CLOEXEC, floor + 1);
    if (nfd < 0)
        return weft__errno_code(errno);
    close(fd);
    return nfd;
}

int weft__share_recv(int *sockp)
{
    if (!sockp || *sockp < 0)
        return WEFT_EINVAL;
    pthread_once(&g_once, init_once);
    int sock = *sockp;
    pthread_mutex_lock(&g_lock);
    bool have_heap = g_heap != NULL;
    pthread_mutex_unlock(&g_lock);
    if (have_heap)
        return WEFT_ESTATE; /* this process has a heap of its own already */
    struct wire_header hd;
    int r = weft__sock_recv_all(sock, &hd, sizeof hd, share_code);
    if (r)
        return r;
    if (hd.magic != WIRE_MAGIC || hd.committed > HEAP_RESERVE || hd.top > hd.committed)
        return WEFT_EINVAL;
    if (!hd.base)
        return 0;
    pthread_mutex_lock(&g_lock);
    if (g_heap) {
        pthread_mutex_unlock(&g_lock);
        return WEFT_ESTATE; /* this process has a heap of its own already */
    }
    char *want = (char *)(uintptr_t)hd.base;
    char *base = mmap(want, HEAP_RESERVE, PROT_NONE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED_NOREPLACE, -1, 0);
    if (base == MAP_FAILED || base != want) {
        if (base != MAP_FAILED)
            munmap(base, HEAP_RESERVE); /* an old kernel took it as a hint */
        pthread_mutex_unlock(&g_lock);
        return WEFT_EAGAIN; /* the address is taken here */
    }
    r = WEFT_ENOMEM;
    if (mprotect(base, hd.committed, PROT_READ | PROT_WRITE) != 0)
        goto fail;
    r = weft__sock_recv_all(sock, base, hd.top, share_code);
    if (r)
        goto fail;
    struct heap_state *h = (struct heap_state *)base;
    r = WEFT_EINVAL;
    if (h->base != base || h->top != hd.top || h->committed != hd.committed ||
        (uint32_t)h->nchunks != hd.nchunks || (uint32_t)h->nfds != hd.nfds)
        goto fail;
    int nrecv = h->nchunks + h->nfds;
    int *got = nrecv ? malloc(sizeof(int) * (size_t)nrecv) : NULL;
    r = WEFT_ENOMEM;
    if (nrecv && !got)
        goto fail;
    r = recv_fds(sock, got, h->nchunks);
    if (r == 0) {
        r = recv_fds(sock, got + h->nchunks, h->nfds);
        if (r)
            for (int i = 0; i < h->nchunks; i++)
                close(got[i]);
    }
    if (r) {
        free(got);
        goto fail;
    }
    /* Everything received moves above the highest target number, so that
     * placing the registered fds cannot close one of them. */
    int floor = 2;
    for (int i = 0; i < h->nfds; i++)
        if (h->fds[i] > floor)
            floor = h->fds[i];
    for (int i = 0; i < nrecv && r >= 0; i++) {
        r = move_above(got[i], floor);
        if (r >= 0)
            got[i] = r;
    }
    if (r >= 0) {
        r = move_above(sock, floor);
        if (r >= 0)
            sock = r;
    }
    for (int i = 0; i < h->nchunks && r >= 0; i++) {
        struct chunk *c = &h->chunks[i];
        void *a = mmap(c->addr, c->size, PROT_READ | PROT_WRITE,
                       MAP_SHARED | MAP_FIXED_NOREPLACE, got[i], 0);
        if (a == MAP_FAILED || a != c->addr) {
            if (a != MAP_FAILED)
                munmap(a, c->size);
            r = WEFT_EAGAIN;
            break;
        }
        c->fd = got[i];
    }
    for (int i = 0; i < h->nfds && r >= 0; i++) {
        if (dup3(got[h->nchunks + i], h->fds[i], O_CLOEXEC) < 0)
            r = weft__errno_code(errno);
        close(got[h->nchunks + i]);
    }
    free(got);
    *sockp = sock;
    if (r < 0) {
        /* Half installed: the child must exit, as the contract says. */
        pthread_mutex_unlock(&g_lock);
        return r;
    }
    g_heap = h;
    shared_adopt(h);
    pthread_mutex_unlock(&g_lock);
    return 0;
fail:
    munmap(base, HEAP_RESERVE);
    pthread_mutex_unlock(&g_lock);
    return r;
}

/* Tests only: forget everything, as a process that never had a heap, so
 * that weft__share_recv can be tested in a fork child. */
void weft__share_forget(void);
void weft__share_forget(void)
{
    pthread_mutex_lock(&g_lock);
    struct heap_state *h = g_heap;
    if (h) {
        for (int i = 0; i < h->nchunks; i++) {
            munmap(h->chunks[i].addr, h->chunks[i].size);
            close(h->chunks[i].fd);
        }
        for (int i = 0; i < h->nfds; i++)
            close(h->fds[i]);
        munmap(h->base, HEAP_RESERVE);
        g_heap = NULL;
    }
    pthread_mutex_unlock(&g_lock);
}
