/*
 * The process pool. See weft/procpool.h for the contract.
 *
 * Shared state (struct pp_shared, in shared memory, so every worker sees it
 * at the same address under every start method): two rings of records,
 * tasks from the parent to any worker and results from the workers to the
 * parent, a table of function references, and a slot per worker.
 *
 * A ring is a power-of-two byte buffer with monotonic head and tail counts,
 * guarded by a robust process-shared mutex: a process killed inside it
 * leaves the next locker EOWNERDEAD, and since head and tail move only after
 * a record is fully written or fully copied out, the ring is consistent
 * then. Records are 32-byte aligned; one that would straddle the end is
 * preceded by a pad record.
 *
 * Wake-ups: a worker with nothing to do spins for a moment, then sleeps on
 * the task ring's futex word (a shared futex), counted in `sleepers` so
 * that a push makes no system call while every worker is busy. The
 * parent's collector thread sleeps in poll() on an eventfd and the workers'
 * pidfds (a dead worker is seen at once); a worker writes the eventfd after
 * a push only when the collector said it sleeps and no parent thread is
 * helping. A thread waiting on one of the pool's futures helps (pool_help,
 * through the future's owner hook): it spins on the result ring and drains
 * it itself, so a round trip costs no wake-up on the parent's side. On a
 * virtual machine a futex wake-up costs tens of microseconds; the helping
 * wait brought the round trip from about 50 us to about 2 us.
 *
 * Parent side: a submit finds a slot for its future in a table (ids carry
 * a generation, so a stale result is recognised), and pushes the record; a
 * full task ring sends it to an overflow list the collector drains as the
 * workers make room. The future stays PENDING, and can be cancelled, until
 * a worker takes its record out of the ring (pool_cancel): the worker then
 * names the task in its slot, and a read of the future's state, or the
 * collector, marks it RUNNING (pool_refresh, note_started).
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include "internal/clock.h"
#include "internal/error.h"
#include "internal/executor.h"
#include "internal/fnref.h"
#include "internal/future.h"
#include "internal/process.h"
#include "internal/procpool.h"
#include "internal/share.h"
#include "internal/thread.h"
#include "platform/futex.h"
#include "weft/process.h"
#include "weft/procpool.h"
#include "weft/sync.h"
#include "weft/thread.h"

#define MAX_FNS 256
#define DEFAULT_RING ((size_t)4 << 20)

/* The records' format is in internal/procpool.h. */
#define PAD8(n) (((n) + 7) & ~(size_t)7)

struct ring {
    pthread_mutex_t lock;
    uint32_t seq;      /* futex word: bumped by every push */
    uint32_t sleepers; /* consumers asleep on seq */
    uint32_t space_seq;      /* futex word: bumped by every pop */
    uint32_t space_sleepers; /* producers asleep on space_seq */
    uint64_t head, tail;
    uint64_t cap;
    char *data;
};

enum { W_FREE, W_RUNNING, W_RETIRING, W_INIT_FAILED };

struct worker_slot {
    int32_t pid;
    uint32_t state;
    uint32_t ack; /* futex word: the parent has opened the worker's large result */
    /* The id + 1 of the task record the worker took and has not answered
     * yet, 0 for none: the task a worker that dies was running, and the
     * task whose future reads RUNNING (pool_refresh, note_started).
     * Written by the worker alone, before it runs the task (release); the
     * parent reads it at any time for the state, and once the worker is
     * dead and reaped for its last task (the reap orders it after the
     * worker's last store). */
    uint64_t running;
    int32_t init_code; /* the initializer's code, before W_INIT_FAILED */
};

struct pp_shared {
    struct ring tasks;
    struct ring results;
    uint32_t stop;            /* workers exit when the task ring is empty */
    uint32_t collector_sleeps; /* write the eventfd after a result push */
    uint32_t helpers;         /* parent threads taking results themselves */
    uint32_t want_space;      /* the parent has overflow: eventfd after a pop */
    int evfd;                 /* registered: the same number in every worker */
    uint32_t max_tasks;
    int32_t init_fn; /* index in fns, -1 none */
    uint32_t initarg_len;
    uint32_t nfns;
    weft__fnref fns[MAX_FNS];
    unsigned nworkers;
    struct worker_slot *slots; /* shared too */
    unsigned char *initarg;    /* shared too */
};

/* ------------------------------------------------------------- bytes */

/* A weft_bytes's allocation is a head (weft__bytes_head: cap, magic), the
 * weft_bytes (len), its bytes and a 0 byte. The magic, XORed with the
 * weft_bytes's address, says whose the memory is:
 *   BYTES_OWNED     made by weft_bytes_new: its holder frees it, a task
 *                   may return it. Every weft_bytes weft gives out (a
 *                   future's result, a map's) is one.
 *   BYTES_BORROWED  a task's argument in a worker: the pool's buffer (or
 *                   its mapping of a large argument), which the task may
 *                   read and pass on but not free or return.
 * weft_bytes_free clears the magic before the memory goes back, so a freed
 * one no longer passes (until its memory is a weft_bytes again).
 *
 * Two ways to check a pointer. One given with its type (the process
 * pool's own calls, weft_bytes_free) is trusted to point at memory, and
 * its head is read directly. One given as `void *` (the executor calls, a
 * task's result) may be anything: its head is copied with
 * process_vm_readv on our own pid, which fails with EFAULT where a load
 * would fault, and only then looked at.
 *
 * That system call costs as much as a whole round trip to a worker, so a
 * table of the weft_bytes made lately comes first (g_live): a pointer
 * found there is a live weft_bytes of ours and is read directly. Most
 * are: a task's result was made just before the task returned, and an
 * argument is usually one of the last made. */
#define BYTES_OWNED 0x5746b7e5c0ffee01ULL
#define BYTES_BORROWED 0x5746b7e5b0aaed02ULL

typedef weft__bytes_head bytes_head;

_Static_assert(offsetof(weft_bytes, data) == sizeof(weft_bytes),
               "weft_bytes_data is the address right after the struct");
_Static_assert(sizeof(bytes_head) == 16, "a weft_bytes after its head keeps malloc's alignment");

/* The table of live weft_bytes made lately, one per slot by address.
 * weft_bytes_new puts each in its slot (replacing whatever was there);
 * weft_bytes_free takes it out before its memory goes, if it is still
 * there. So a pointer found in its slot was made by weft_bytes_new and not
 * freed since (memory made a weft_bytes again at the same address is that
 * new one). A fork child has its parent's table and memory alike. Release
 * and acquire: the head is written before its pointer is seen here. */
#define LIVE_SLOTS 256

static uintptr_t g_live[LIVE_SLOTS];

static uintptr_t *live_slot(const void *b)
{
    uintptr_t a = (uintptr_t)b >> 4;
    return &g_live[(a ^ (a >> 8) ^ (a >> 16)) & (LIVE_SLOTS - 1)];
}

static bool live_has(const void *b)
{
    return __atomic_load_n(live_slot(b), __ATOMIC_ACQUIRE) == (uintptr_t)b;
}

static bytes_head *head_of(const weft_bytes *b)
{
    return (bytes_head *)((uintptr_t)b - sizeof(bytes_head));
}

static void mark_bytes(weft_bytes *b, uint64_t kind, size_t cap)
{
    bytes_head *h = head_of(b);
    h->cap = cap;
    h->magic = kind ^ (uintptr_t)b;
}

/* What the head and len say of b: BYTES_OWNED, BYTES_BORROWED or 0. */
static uint64_t bytes_kind(const weft_bytes *b, const bytes_head *h, size_t len)
{
    uint64_t m = h->magic ^ (uintptr_t)b;
    if ((m != BYTES_OWNED && m != BYTES_BORROWED) || len > h->cap)
        return 0;
    return m;
}

/* A typed pointer: its head is read directly. */
static uint64_t bytes_kind_direct(const weft_bytes *b)
{
    return bytes_kind(b, head_of(b), b->len);
}

/* Our pid for process_vm_readv, kept across calls (getpid is a system call
 * of its own) and forgotten in a fork child. */
static pid_t g_self_pid;
static pthread_once_t g_self_pid_once = PTHREAD_ONCE_INIT;

static void self_pid_forget(void)
{
    __atomic_store_n(&g_self_pid, 0, __ATOMIC_RELAXED);
}

static void self_pid_init(void)
{
    pthread_atfork(NULL, NULL, self_pid_forget);
}

static pid_t self_pid(void)
{
    pid_t pid = __atomic_load_n(&g_self_pid, __ATOMIC_RELAXED);
    if (pid == 0) {
        /* Registered before the first pid is kept: a fork after it
         * always forgets it. */
        pthread_once(&g_self_pid_once, self_pid_init);
        pid = getpid();
        __atomic_store_n(&g_self_pid, pid, __ATOMIC_RELAXED);
    }
    return pid;
}

/* Up to this many pointers are probed by one system call. */
#define PROBE_BATCH 64

/* Untyped pointers: the index of the first of ptrs[0..n) that is neither
 * NULL nor a weft_bytes of one of the `kinds` (a mask of 1 for owned, 2
 * for borrowed), or n when all are; *kind gets what the bad one is
 * (BYTES_OWNED or BYTES_BORROWED when of a kind not asked for, else 0).
 * Nothing is read through a pointer: the head and len of each (24 bytes
 * before and at it) are copied by the kernel, a batch at a time, and an
 * address the kernel cannot read ends the batch there. */
static size_t probe_bytes(const void *const *ptrs, size_t n, unsigned kinds, uint64_t *kind)
{
    struct raw {
        bytes_head h;
        uint64_t len;
    };
    struct raw raw[PROBE_BATCH];
    struct iovec local[PROBE_BATCH], remote[PROBE_BATCH];
    size_t at[PROBE_BATCH];
    *kind = 0;
    for (size_t i = 0; i < n;) {
        size_t k = 0;
        for (; i < n && k < PROBE_BATCH; i++) {
            uintptr_t a = (uintptr_t)ptrs[i];
            if (!a)
                continue;
            if (live_has(ptrs[i])) {
                /* Ours and live: its memory may be read. */
                if (!(kinds & 1) || bytes_kind_direct(ptrs[i]) != BYTES_OWNED) {
                    *kind = bytes_kind_direct(ptrs[i]);
                    return i;
                }
                continue;
            }
            /* A weft_bytes is aligned as malloc's memory, after a head. */
            if (a % _Alignof(weft_bytes) || a < sizeof(bytes_head) ||
                a > UINTPTR_MAX - sizeof(uint64_t))
                return i;
            at[k] = i;
            local[k] = (struct iovec){&raw[k], sizeof raw[k]};
            remote[k] = (struct iovec){(void *)(a - sizeof(bytes_head)), sizeof raw[k]};
            k++;
        }
        if (k == 0)
            break;
        ssize_t got = syscall(SYS_process_vm_readv, self_pid(), local, k, remote, k, 0);
        size_t whole = got < 0 ? 0 : (size_t)got / sizeof(struct raw);
        for (size_t j = 0; j < k; j++) {
            if (j >= whole)
                return at[j];
            const weft_bytes *b = ptrs[at[j]];
            uint64_t m = bytes_kind(b, &raw[j].h, raw[j].len);
            unsigned bit = m == BYTES_OWNED ? 1 : m == BYTES_BORROWED ? 2 : 0;
            if (!(bit & kinds)) {
                *kind = m;
                return at[j];
            }
        }
    }
    return n;
}

int weft_bytes_new(weft_bytes **out, const void *data, size_t len)
{
    if (!out)
        return WEFT_EINVAL;
    if (len > SIZE_MAX - sizeof(bytes_head) - sizeof(weft_bytes) - 1)
        return WEFT_ENOMEM;
    bytes_head *h = malloc(sizeof *h + sizeof(weft_bytes) + len + 1);
    if (!h)
        return WEFT_ENOMEM;
    weft_bytes *b = (weft_bytes *)(h + 1);
    b->len = len;
    if (data)
        memcpy(b->data, data, len);
    else
        memset(b->data, 0, len);
    b->data[len] = 0;
    mark_bytes(b, BYTES_OWNED, len);
    __atomic_store_n(live_slot(b), (uintptr_t)b, __ATOMIC_RELEASE);
    *out = b;
    return 0;
}

void weft_bytes_free(weft_bytes *b)
{
    if (!b)
        return;
    uint64_t kind = bytes_kind_direct(b);
    if (kind != BYTES_OWNED) {
        weft_report_error("weft_bytes_free", WEFT_EINVAL,
                          kind == BYTES_BORROWED
                              ? "not freed: a process pool task's argument belongs to the pool"
                              : "not freed: not a weft_bytes made by weft_bytes_new, or freed "
                                "already");
        return;
    }
    uintptr_t *slot = live_slot(b), was = (uintptr_t)b;
    if (__atomic_load_n(slot, __ATOMIC_RELAXED) == was)
        __atomic_compare_exchange_n(slot, &was, 0, false, __ATOMIC_RELAXED, __ATOMIC_RELAXED);
    bytes_head *h = head_of(b);
    /* Volatile: a store just before free is otherwise dropped as dead. */
    *(volatile uint64_t *)&h->magic = 0;
    free(h);
}

unsigned char *weft_bytes_data(const weft_bytes *b)
{
    return b ? (unsigned char *)(uintptr_t)b->data : NULL;
}

/* The failure's text when an argument is not a weft_bytes. */
static void bad_arg_message(const char *call, const char *what)
{
    char msg[256];
    snprintf(msg, sizeof msg,
             "%s: %s is not a weft_bytes made by weft_bytes_new, or was freed (a process pool's "
             "tasks take bytes, or NULL)",
             call, what);
    weft__set_last_message(msg);
}

/* ------------------------------------------------------------- rings */

static void ring_lock(struct ring *r)
{
    int e = pthread_mutex_lock(&r->lock);
    if (e == EOWNERDEAD)
        pthread_mutex_consistent(&r->lock); /* see the file comment */
}

static void ring_unlock(struct ring *r)
{
    pthread_mutex_unlock(&r->lock);
}

/* Fault a region in now, at the pool's start, rather than page by page in
 * the middle of the first map (a minor fault costs about as much as
 * handing over a few hundred small items). Best effort: kernels before
 * 5.14 have no MADV_POPULATE_*, and the pages then come on first use. */
static void prefault(void *addr, size_t len, bool write)
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

static int ring_init(struct ring *r, size_t cap)
{
    pthread_mutexattr_t a;
    pthread_mutexattr_init(&a);
    pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
    pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
    int e = pthread_mutex_init(&r->lock, &a);
    pthread_mutexattr_destroy(&a);
    if (e)
        return WEFT_ENOMEM;
    r->data = weft__shared_alloc(cap);
    if (!r->data) {
        pthread_mutex_destroy(&r->lock);
        return WEFT_ENOMEM;
    }
    r->cap = cap;
    prefault(r->data, cap, true);
    return 0;
}

static size_t rec_size(size_t len)
{
    return (sizeof(weft__rec) + len + WEFT__REC_ALIGN - 1) & ~(size_t)(WEFT__REC_ALIGN - 1);
}

/* Push a record with payload a[0..alen) with the ring locked: 0 and, when
 * `at` is not NULL, the record's position (the count head reaches once the
 * record is taken: it is still in the ring while head <= *at), or
 * WEFT_EFULL when it does not fit now. */
static int ring_push_locked(struct ring *r, const weft__rec *h, const void *a, size_t alen,
                            uint64_t *at)
{
    size_t need = rec_size(alen);
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
    r->seq++;
    return 0;
}

/* The next record with the ring locked, pads skipped, or NULL when empty.
 * The caller copies what it needs, then ring_pop_locked. */
static weft__rec *ring_peek_locked(struct ring *r)
{
    while (r->head != r->tail) {
        weft__rec *h = (weft__rec *)(r->data + (r->head & (r->cap - 1)));
        if (h->kind != WEFT__REC_PAD)
            return h;
        /* Atomic: helping waiters read head without the lock. */
        __atomic_store_n(&r->head, r->head + h->size, __ATOMIC_RELEASE);
    }
    return NULL;
}

static void ring_pop_locked(struct ring *r, weft__rec *h)
{
    __atomic_store_n(&r->head, r->head + h->size, __ATOMIC_RELEASE);
    r->space_seq++;
}

/* Wait up to SPIN_NS for *pos to move away from `from`, without a system
 * call: a worker between two tasks, or the collector between two results,
 * usually needs to wait only a few microseconds, and waking from a futex or
 * poll() costs more than that. Only when the machine has a CPU to spare
 * for it (one CPU: the spinner would hold up the very process it waits
 * for). */
#define SPIN_NS 30000

static bool spin_for(const uint64_t *pos, uint64_t from)
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

/* --------------------------------------------------- large payloads */

/* A task argument or a result too big for a quarter of its ring travels in
 * a memfd of its own, laid out as a weft_bytes, and its record carries a
 * weft__large_ref (count == WEFT__COUNT_LARGE): the sender's pid and fd
 * number, which the receiver opens through /proc (a process of the same
 * user may; no ptrace rights are needed). A worker maps a large argument
 * privately and hands the mapping to the task: no copy on its side. The
 * sender keeps its fd open until the receiver has opened its own: the
 * parent until the task's result is in, a worker until the parent
 * acknowledges (the slot's ack futex). */

static size_t large_size(size_t len)
{
    return sizeof(bytes_head) + sizeof(weft_bytes) + len + 1;
}

/* Where a large payload's bytes start in its memfd. */
#define LARGE_DATA (sizeof(bytes_head) + sizeof(weft_bytes))

/* A memfd holding data as a weft_bytes: the fd, or a negative code. */
static int large_make(const void *data, size_t len)
{
    int fd = memfd_create("weft-payload", MFD_CLOEXEC);
    if (fd < 0)
        return errno == EMFILE || errno == ENFILE ? WEFT_EMFILE : WEFT_ENOMEM;
    weft_bytes head = {.len = len};
    if (ftruncate(fd, (off_t)large_size(len)) != 0 ||
        pwrite(fd, &head, sizeof head, sizeof(bytes_head)) != (ssize_t)sizeof head) {
        close(fd);
        return WEFT_ENOMEM;
    }
    for (size_t off = 0; off < len;) {
        ssize_t n = pwrite(fd, (const char *)data + off, len - off, (off_t)(LARGE_DATA + off));
        if (n <= 0) {
            close(fd);
            return WEFT_ENOMEM;
        }
        off += (size_t)n;
    }
    return fd;
}

static int large_open(const weft__large_ref *ref)
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

/* ----------------------------------------------------------- worker */

struct wbuf {
    void *p;
    size_t cap;
};

static int wbuf_fit(struct wbuf *b, size_t n)
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

struct worker_arg {
    struct pp_shared *sh;
    unsigned index;
};

/* Function references resolve once per worker. */
struct fn_cache {
    weft__fnptr fn[MAX_FNS];
};

static weft__fnptr resolve_fn(struct pp_shared *sh, struct fn_cache *c, int32_t i)
{
    if (i < 0 || i >= MAX_FNS || (uint32_t)i >= __atomic_load_n(&sh->nfns, __ATOMIC_ACQUIRE))
        return NULL;
    if (!c->fn[i])
        c->fn[i] = weft__fnref_resolve(&sh->fns[i]);
    return c->fn[i];
}

static void push_result(struct pp_shared *sh, const weft__rec *h, const void *a, size_t alen)
{
    struct ring *r = &sh->results;
    weft__rec fail;
    if (rec_size(alen) > r->cap / 4) {
        /* Too big for the ring: the task fails rather than block for ever. */
        fail = *h;
        fail.status = WEFT_EMSGSIZE;
        fail.count = 0;
        h = &fail;
        alen = 0;
    }
    ring_lock(r);
    while (ring_push_locked(r, h, a, alen, NULL) == WEFT_EFULL) {
        r->space_sleepers++;
        uint32_t s = r->space_seq;
        ring_unlock(r);
        weft__futex_wait_shared(&r->space_seq, s, WEFT__NO_DEADLINE);
        ring_lock(r);
        r->space_sleepers--;
    }
    ring_unlock(r);
    /* The tail store before the loads below (Dekker with the collector's
     * collector_sleeps and pool_help's helpers, each stored before their
     * read of tail). A parent thread spinning on the ring (pool_help)
     * takes the result: the collector need not wake. The reads are
     * read-modify-writes: full barriers after the store. */
    if (__atomic_fetch_add(&sh->helpers, 0, __ATOMIC_SEQ_CST) == 0 &&
        __atomic_exchange_n(&sh->collector_sleeps, 0, __ATOMIC_SEQ_CST)) {
        uint64_t one = 1;
        (void)!write(sh->evfd, &one, sizeof one);
    }
}

/* Push a result too big for the ring through a memfd and wait until the
 * parent has opened it. */
static void push_large_result(struct pp_shared *sh, unsigned index, weft__rec *res,
                              const weft_bytes *b)
{
    int fd = large_make(b->data, b->len);
    if (fd < 0) {
        res->status = fd;
        res->count = 0;
        push_result(sh, res, NULL, 0);
        return;
    }
    struct worker_slot *slot = &sh->slots[index];
    weft__large_ref ref = {.pid = getpid(), .fd = fd, .len = b->len, .worker = index};
    __atomic_store_n(&slot->ack, 0, __ATOMIC_RELAXED);
    res->count = WEFT__COUNT_LARGE;
    push_result(sh, res, &ref, sizeof ref);
    while (__atomic_load_n(&slot->ack, __ATOMIC_ACQUIRE) == 0)
        weft__futex_wait_shared(&slot->ack, 0, WEFT__NO_DEADLINE);
    close(fd);
}

/* What is wrong with a task's result, or NULL when it is a weft_bytes the
 * task may return. The task's word is not trusted: a number cast to a
 * pointer, a stack address or a freed weft_bytes must fail the task, not
 * kill the worker, so the result is probed before anything reads it. */
static const char *result_problem(const void *result)
{
    uint64_t kind;
    if (probe_bytes(&result, 1, 1, &kind) == 1)
        return NULL;
    return kind == BYTES_BORROWED
               ? "the task returned its argument, which belongs to the pool, as its result "
                 "(return a copy made with weft_bytes_new)"
               : "the task returned a result that is not a weft_bytes (one made by "
                 "weft_bytes_new and not freed)";
}

/* The worker's buffer w as a task argument: a weft_bytes after its head. */
static weft_bytes *wbuf_bytes(const struct wbuf *w)
{
    return (weft_bytes *)((char *)w->p + sizeof(bytes_head));
}

/* One task: fn(bytes, &result), its code and message kept by a future. */
static void run_task(struct pp_shared *sh, unsigned index, const weft__rec *h,
                     weft_task_fn fn, weft_bytes *arg)
{
    weft__rec res = {.kind = WEFT__REC_RESULT, .id = h->id};
    weft_future *f = NULL;
    if (!fn) {
        res.status = WEFT_ENOTSUP;
        static const char msg[] = "the task's function is not loaded in the worker";
        push_result(sh, &res, msg, sizeof msg - 1);
        return;
    }
    if (weft_future_new(&f) != 0) {
        res.status = WEFT_ENOMEM;
        push_result(sh, &res, NULL, 0);
        return;
    }
    weft__future_run(f, fn, arg);
    void *result = NULL;
    int code = weft_future_result(f, &result, 0);
    const char *bad = code == 0 && result ? result_problem(result) : NULL;
    res.status = code;
    if (bad) {
        /* Not ours to free either: it is left as it is. */
        res.status = WEFT_EINVAL;
        push_result(sh, &res, bad, strlen(bad));
    } else if (code == 0) {
        weft_bytes *b = result;
        res.count = b != NULL; /* an empty result and no result differ */
        if (b && rec_size(b->len) > sh->results.cap / 4)
            push_large_result(sh, index, &res, b);
        else
            push_result(sh, &res, b ? b->data : NULL, b ? b->len : 0);
        weft_bytes_free(b);
    } else {
        const char *m = weft_future_message(f);
        push_result(sh, &res, m, m ? strlen(m) : 0);
    }
    weft_future_unref(f);
}

/* A chunk of fixed-size items: fn over each, stopping at the first error. */
static void run_chunk(struct pp_shared *sh, const weft__rec *h, weft_item_fn fn,
                      const unsigned char *in, struct wbuf *out)
{
    weft__rec res = {.kind = WEFT__REC_CHUNK_RESULT, .id = h->id};
    uint32_t n = h->count;
    size_t in_size = n ? h->len / n : 0;
    size_t out_size = (size_t)h->status; /* a chunk carries its output size here */
    if (!fn) {
        res.status = WEFT_ENOTSUP;
        push_result(sh, &res, NULL, 0);
        return;
    }
    if (wbuf_fit(out, (size_t)n * out_size) != 0) {
        res.status = WEFT_ENOMEM;
        push_result(sh, &res, NULL, 0);
        return;
    }
    uint32_t done = 0;
    int code = 0;
    for (; done < n; done++) {
        code = fn(in + (size_t)done * in_size, (char *)out->p + (size_t)done * out_size);
        if (code != 0)
            break;
    }
    res.status = code < 0 ? code : code > 0 ? WEFT_EINVAL : 0;
    res.count = done;
    push_result(sh, &res, out->p, (size_t)done * out_size);
}

static void run_multi(struct pp_shared *sh, const weft__rec *h, weft_task_fn fn,
                      const unsigned char *in, struct wbuf *out, struct wbuf *item)
{
    weft__rec res = {.kind = WEFT__REC_MULTI_RESULT, .id = h->id};
    if (!fn) {
        res.status = WEFT_ENOTSUP;
        push_result(sh, &res, NULL, 0);
        return;
    }
    size_t used = 0, off = 0;
    uint32_t done = 0;
    for (; done < h->count; done++) {
        uint64_t len;
        memcpy(&len, in + off, sizeof len);
        off += sizeof len;
        weft_bytes *arg = NULL;
        if (len != WEFT__NO_ITEM) {
            if (wbuf_fit(item, sizeof(bytes_head) + sizeof(weft_bytes) + len + 1) != 0) {
                res.status = WEFT_ENOMEM;
                break;
            }
            arg = wbuf_bytes(item);
            arg->len = len;
            memcpy(arg->data, in + off, len);
            arg->data[len] = 0;
            mark_bytes(arg, BYTES_BORROWED, len);
            off += PAD8(len);
        }
        weft_future *f = NULL;
        int code = weft_future_new(&f);
        void *result = NULL;
        if (code == 0) {
            weft__future_run(f, fn, arg);
            code = weft_future_result(f, &result, 0);
        }
        const char *m = code == 0 && result ? result_problem(result) : NULL;
        if (m)
            code = WEFT_EINVAL; /* the result is left as it is */
        else if (code != 0 && f)
            m = weft_future_message(f);
        weft_bytes *b = code == 0 ? result : NULL;
        size_t blen = b ? b->len : m ? strlen(m) : 0;
        if (wbuf_fit(out, used + 16 + PAD8(blen)) != 0) {
            weft_bytes_free(b);
            if (f)
                weft_future_unref(f);
            res.status = WEFT_ENOMEM;
            break;
        }
        uint32_t st = (uint32_t)code, has = b != NULL;
        uint64_t l = blen;
        char *e = (char *)out->p + used;
        memcpy(e, &st, 4);
        memcpy(e + 4, &has, 4);
        memcpy(e + 8, &l, 8);
        if (blen)
            memcpy(e + 16, b ? (const void *)b->data : (const void *)m, blen);
        used += 16 + PAD8(blen);
        weft_bytes_free(b);
        if (f)
            weft_future_unref(f);
        if (code != 0) {
            done++; /* the failed item's entry is in the result */
            break;
        }
    }
    res.count = done;
    push_result(sh, &res, out->p, used);
}

/* This process's pool and function cache when it is a worker (a worker is
 * a process of its own): what a starmap call resolves its function by. */
static struct pp_shared *g_worker_sh;
static struct fn_cache *g_worker_fc;

/* A starmap call's item (packed by weft__procpool_starmap_start): a
 * header, then each argument laid out as a weft_bytes after room for its
 * head (a u64 length, WEFT__NO_ITEM for NULL, and the bytes padded to 8),
 * so that the arguments are handed to the function where they lie. */
struct star_head {
    uint32_t magic;
    int32_t fn; /* the user's function's index in the pool's table */
    uint64_t nargs;
};

#define STAR_MAGIC 0x57535452u
#define STAR_ARG_ROOM(len) (sizeof(bytes_head) + sizeof(weft_bytes) + PAD8(len))

/* The task a starmap's items run as: unpack the call's arguments and call
 * the user's function with them. */
static int star_call(void *arg, void **result)
{
    weft_bytes *in = arg;
    struct star_head h;
    if (!in || in->len < sizeof h || !g_worker_sh)
        return WEFT_EINVAL;
    memcpy(&h, in->data, sizeof h);
    weft_star_fn fn = (weft_star_fn)resolve_fn(g_worker_sh, g_worker_fc, h.fn);
    if (h.magic != STAR_MAGIC || h.nargs > (in->len - sizeof h) / STAR_ARG_ROOM(0))
        return WEFT_EINVAL;
    if (!fn)
        return WEFT_ENOTSUP;
    const weft_bytes *small[16];
    const weft_bytes **argv = h.nargs <= 16 ? small : malloc(h.nargs * sizeof *argv);
    if (!argv)
        return WEFT_ENOMEM;
    size_t off = sizeof h;
    for (uint64_t k = 0; k < h.nargs; k++) {
        size_t room = in->len - off;
        if (room < STAR_ARG_ROOM(0)) {
            if (argv != small)
                free(argv);
            return WEFT_EINVAL;
        }
        weft_bytes *b = (weft_bytes *)(in->data + off + sizeof(bytes_head));
        uint64_t len = b->len;
        if (len == WEFT__NO_ITEM) {
            argv[k] = NULL;
            len = 0;
        } else if (len > room || STAR_ARG_ROOM(len) > room) {
            if (argv != small)
                free(argv);
            return WEFT_EINVAL;
        } else {
            mark_bytes(b, BYTES_BORROWED, len);
            argv[k] = b;
        }
        off += STAR_ARG_ROOM(len);
    }
    int rc = fn(argv, (size_t)h.nargs, result);
    if (argv != small)
        free(argv);
    return rc;
}

static int worker_main(void *argp)
{
    struct worker_arg *wa = argp;
    struct pp_shared *sh = wa->sh;
    struct worker_slot *slot = &sh->slots[wa->index];
    struct fn_cache *fc = calloc(1, sizeof *fc);
    struct wbuf in = {0}, out = {0}, item = {0};
    if (!fc)
        return 1;
    g_worker_sh = sh;
    g_worker_fc = fc;
    if (sh->init_fn >= 0) {
        int (*init)(const weft_bytes *) =
            (int (*)(const weft_bytes *))resolve_fn(sh, fc, sh->init_fn);
        weft_bytes *ia = NULL;
        int r = init ? weft_bytes_new(&ia, sh->initarg, sh->initarg_len) : WEFT_ENOTSUP;
        if (r == 0)
            r = init(ia);
        weft_bytes_free(ia);
        if (r != 0) {
            slot->init_code = r;
            __atomic_store_n(&slot->state, W_INIT_FAILED, __ATOMIC_RELEASE);
            free(fc);
            return 1;
        }
    }
    /* This process's page tables for the rings, and its buffers at the
     * size a chunk can have, before the first task (see prefault). */
    prefault(sh->tasks.data, sh->tasks.cap, false);
    prefault(sh->results.data, sh->results.cap, true);
    if (wbuf_fit(&in, sizeof(bytes_head) + sh->tasks.cap / 4 + sizeof(weft_bytes) + 1) == 0)
        prefault(in.p, in.cap, true);
    if (wbuf_fit(&out, sh->results.cap / 4) == 0)
        prefault(out.p, out.cap, true);
    uint32_t done = 0;
    struct ring *r = &sh->tasks;
    for (;;) {
        ring_lock(r);
        weft__rec *h;
        bool spun = false;
        while (!(h = ring_peek_locked(r))) {
            if (__atomic_load_n(&sh->stop, __ATOMIC_ACQUIRE)) {
                ring_unlock(r);
                goto out;
            }
            if (!spun) {
                /* Look again (stop included) after the spin, whatever it saw. */
                uint64_t tail = r->tail;
                ring_unlock(r);
                spin_for(&r->tail, tail);
                ring_lock(r);
                spun = true;
                continue;
            }
            spun = false;
            r->sleepers++;
            uint32_t s = r->seq;
            ring_unlock(r);
            weft__futex_wait_shared(&r->seq, s, WEFT__NO_DEADLINE);
            ring_lock(r);
            r->sleepers--;
        }
        weft__rec hd = *h;
        int fit = wbuf_fit(&in, sizeof(bytes_head) + sizeof(weft_bytes) + hd.len + 1);
        if (fit == 0) {
            weft_bytes *b = wbuf_bytes(&in);
            b->len = hd.len;
            memcpy(b->data, h + 1, hd.len);
            b->data[hd.len] = 0;
            mark_bytes(b, BYTES_BORROWED, hd.len);
        }
        ring_pop_locked(r, h);
        ring_unlock(r);
        /* Dekker with the collector, which sets want_space and then reads
         * head: our head store must be visible before we read want_space,
         * or each may miss the other's and the collector sleeps on a ring
         * with room (a store may pass a later plain load: the read is a
         * read-modify-write, a full barrier). */
        if (__atomic_fetch_or(&sh->want_space, 0, __ATOMIC_SEQ_CST) &&
            __atomic_exchange_n(&sh->want_space, 0, __ATOMIC_ACQ_REL)) {
            uint64_t one = 1;
            (void)!write(sh->evfd, &one, sizeof one);
        }
        /* Before the task runs: from here on a read of its future's state
         * in the parent sees it RUNNING (pool_refresh). */
        __atomic_store_n(&slot->running, hd.id + 1, __ATOMIC_RELEASE);
        if (fit != 0) {
            weft__rec res = {.kind = hd.kind == WEFT__REC_CHUNK   ? WEFT__REC_CHUNK_RESULT
                                     : hd.kind == WEFT__REC_MULTI ? WEFT__REC_MULTI_RESULT
                                                                  : WEFT__REC_RESULT,
                             .id = hd.id, .status = WEFT_ENOMEM};
            push_result(sh, &res, NULL, 0);
        } else if (hd.kind == WEFT__REC_MULTI) {
            run_multi(sh, &hd, (weft_task_fn)resolve_fn(sh, fc, hd.fn), wbuf_bytes(&in)->data,
                      &out, &item);
        } else if (hd.kind == WEFT__REC_CHUNK) {
            run_chunk(sh, &hd, (weft_item_fn)resolve_fn(sh, fc, hd.fn), wbuf_bytes(&in)->data,
                      &out);
        } else if (hd.count == WEFT__COUNT_LARGE) {
            weft__large_ref ref;
            memcpy(&ref, wbuf_bytes(&in)->data, sizeof ref);
            int fd = large_open(&ref);
            void *map = fd < 0 ? MAP_FAILED
                               : mmap(NULL, large_size(ref.len), PROT_READ | PROT_WRITE,
                                      MAP_PRIVATE, fd, 0);
            if (fd >= 0)
                close(fd);
            if (map == MAP_FAILED) {
                weft__rec res = {.kind = WEFT__REC_RESULT, .id = hd.id,
                                 .status = fd < 0 ? fd : WEFT_ENOMEM};
                push_result(sh, &res, NULL, 0);
            } else {
                /* A private mapping: the head is ours to mark. */
                weft_bytes *arg = (weft_bytes *)((char *)map + sizeof(bytes_head));
                mark_bytes(arg, BYTES_BORROWED, ref.len);
                run_task(sh, wa->index, &hd, (weft_task_fn)resolve_fn(sh, fc, hd.fn), arg);
                munmap(map, large_size(ref.len));
            }
        } else {
            /* count: an argument was given */
            weft_bytes *arg = hd.count ? wbuf_bytes(&in) : NULL;
            run_task(sh, wa->index, &hd, (weft_task_fn)resolve_fn(sh, fc, hd.fn), arg);
        }
        __atomic_store_n(&slot->running, 0, __ATOMIC_RELAXED);
        if (sh->max_tasks && ++done >= sh->max_tasks) {
            __atomic_store_n(&slot->state, W_RETIRING, __ATOMIC_RELEASE);
            break;
        }
    }
out:
    free(in.p);
    free(out.p);
    free(item.p);
    free(fc);
    return 0;
}

/* ----------------------------------------------------------- parent */

/* A map's destination, shared by its chunks. Detached (out == NULL) when
 * the map returns early, so a late chunk writes nowhere. */
struct map_job {
    unsigned refs;      /* chunks in flight + the map call; under pool mu */
    void *out;          /* fixed: out array; bytes map: weft_bytes *results[] */
    size_t out_size;    /* fixed items; 0 for a bytes map */
    unsigned char *ok;  /* bytes map: ok[i] set once item i succeeded */
    size_t first_err;   /* the first item of the first chunk to fail, SIZE_MAX for none */
};

struct fslot {
    weft_future *f;     /* NULL when free */
    uint32_t gen;
    uint32_t next_free;
    struct map_job *job; /* chunks only */
    int large_fd;        /* a large argument's memfd, open until the result is in */
    size_t first;        /* the chunk's first item */
    uint32_t count;
    int32_t fn;          /* its function's index (for a dead worker's message) */
    uint64_t seq;        /* its task number: 1 for the pool's first task */
    uint64_t pos;        /* AT_RING: the record's position (see ring_push_locked) */
    int where;           /* where the task waits for a worker */
};

/* A task's record waits in the overflow list or in the task ring until a
 * worker takes it out of the ring: until then its future is PENDING and
 * can be cancelled (pool_cancel); once taken it is the worker's. */
enum { AT_NONE, AT_RING, AT_OVERFLOW };

/* A future's finish, put off until the pool's lock is let go: finishing
 * runs the future's done callbacks, which may call the pool. code 0:
 * cancelled (its task never started). */
struct doomed {
    weft_future *f;
    int code;
    char *msg;
};

/* What a pool's future keeps beside it (its owner context). */
struct pp_fut {
    struct pool *p;
    uint64_t id; /* its slot's id while the slot holds it */
    bool outer;  /* no task of its own (weft__procpool_future_new) */
};

struct overflow {
    struct overflow *next;
    weft__rec h;
    size_t len;
    unsigned char data[];
};

typedef struct pool {
    weft_executor base;
    struct doomed *doom; /* under mu: futures to finish once mu is let go */
    size_t ndoom, doomcap;
    pthread_mutex_t mu;
    struct pp_shared *sh;
    unsigned n;
    weft_process **procs;  /* NULL once exited and reaped */
    int *pidfds;           /* the workers' exit fds (theirs), -1 with no live worker */
    struct worker_arg *wargs; /* shared memory: valid in the workers */
    weft_process_opts popts;
    struct fslot *slots;
    uint32_t nslots, free_head;
    struct overflow *ovf_head, *ovf_tail;
    weft__fnptr fnptrs[MAX_FNS]; /* the parent's side of sh->fns */
    unsigned pending;            /* futures not yet completed */
    uint64_t tasks;              /* tasks submitted so far: the last one's number */
    bool shutdown, broken, stopped, terminated;
    int broken_code;
    pthread_t collector;
    bool collector_started;
    weft_event done; /* the collector has finished */
    /* Whoever takes results off the ring (the collector, or a thread
     * waiting on one of the pool's futures) holds drain_mu. */
    pthread_mutex_t drain_mu;
    struct wbuf drain_buf;
    /* The executor's reference and one per live future: a thread may still
     * be in pool_help for a future when the executor is freed. */
    unsigned refs;
} pool;

#define NO_SLOT UINT32_MAX

static const weft__executor_ops pool_ops;

static pool *as_pool(weft_executor *ex)
{
    return ex && ex->ops == &pool_ops ? (pool *)ex : NULL;
}

/* With mu held: the function's index, registering it on first use. */
static int fn_index(pool *p, weft__fnptr fn)
{
    struct pp_shared *sh = p->sh;
    uint32_t n = sh->nfns;
    for (uint32_t i = 0; i < n; i++)
        if (p->fnptrs[i] == fn)
            return (int)i;
    if (n >= MAX_FNS)
        return WEFT_ENOMEM;
    int r = weft__fnref_make(&sh->fns[n], fn);
    if (r)
        return r;
    p->fnptrs[n] = fn;
    __atomic_store_n(&sh->nfns, n + 1, __ATOMIC_RELEASE);
    return (int)n;
}

static int slot_alloc(pool *p, uint32_t *out)
{
    if (p->free_head == NO_SLOT) {
        uint32_t ncap = p->nslots ? p->nslots * 2 : 64;
        struct fslot *s = realloc(p->slots, ncap * sizeof *s);
        if (!s)
            return WEFT_ENOMEM;
        for (uint32_t i = p->nslots; i < ncap; i++)
            s[i] = (struct fslot){.next_free = i + 1 < ncap ? i + 1 : NO_SLOT, .large_fd = -1};
        p->free_head = p->nslots;
        p->slots = s;
        p->nslots = ncap;
    }
    *out = p->free_head;
    p->free_head = p->slots[*out].next_free;
    return 0;
}

static uint64_t slot_id(const pool *p, uint32_t i)
{
    return (uint64_t)p->slots[i].gen << 32 | i;
}

static void job_unref(struct map_job *j)
{
    if (--j->refs == 0)
        free(j);
}

/* With mu held: forget slot i (its future reference is the caller's). */
static void slot_release(pool *p, uint32_t i)
{
    struct fslot *s = &p->slots[i];
    if (s->job)
        job_unref(s->job);
    if (s->large_fd >= 0)
        close(s->large_fd);
    s->large_fd = -1;
    s->f = NULL;
    s->job = NULL;
    s->where = AT_NONE;
    s->gen++;
    s->next_free = p->free_head;
    p->free_head = i;
    p->pending--;
}

static void wake_worker(struct pp_shared *sh, int n)
{
    weft__futex_wake_shared(&sh->tasks.seq, n);
}

/* With mu held: put slot i's record in the task ring, or in the overflow
 * list when the ring is full. Its future stays PENDING until a worker
 * takes it (note_started). */
static int enqueue(pool *p, uint32_t i, const weft__rec *h, const void *a, size_t alen)
{
    struct ring *r = &p->sh->tasks;
    if (rec_size(alen) > r->cap / 4)
        return WEFT_EMSGSIZE;
    int rc = WEFT_EFULL;
    bool wake = false;
    if (!p->ovf_head) { /* keep the order of submits */
        ring_lock(r);
        rc = ring_push_locked(r, h, a, alen, &p->slots[i].pos);
        wake = rc == 0 && r->sleepers > 0;
        ring_unlock(r);
    }
    if (rc == 0) {
        p->slots[i].where = AT_RING;
        if (wake)
            wake_worker(p->sh, 1);
        return 0;
    }
    struct overflow *o = malloc(sizeof *o + alen);
    if (!o)
        return WEFT_ENOMEM;
    o->next = NULL;
    o->h = *h;
    o->len = alen;
    if (alen)
        memcpy(o->data, a, alen);
    if (p->ovf_tail) {
        p->ovf_tail->next = o;
    } else {
        /* The overflow was empty, so the collector may be asleep without
         * having asked the workers to wake it when they make room, and the
         * ring may have emptied meanwhile: ask them now, and wake it. */
        p->ovf_head = o;
        __atomic_store_n(&p->sh->want_space, 1, __ATOMIC_SEQ_CST);
        uint64_t one = 1;
        (void)!write(p->sh->evfd, &one, sizeof one);
    }
    p->ovf_tail = o;
    p->slots[i].where = AT_OVERFLOW;
    return 0;
}

/* With mu held: whether slot i holds the task whose id is `id`. */
static bool slot_holds(const pool *p, uint32_t i, uint64_t id)
{
    return i < p->nslots && p->slots[i].f && slot_id(p, i) == id;
}

/* With mu held: move overflow into the ring while it fits. Items whose
 * task was cancelled meanwhile (their slot let go: pool_cancel) are
 * dropped. */
static void flush_overflow(pool *p)
{
    struct ring *r = &p->sh->tasks;
    int pushed = 0;
    while (p->ovf_head) {
        struct overflow *o = p->ovf_head;
        uint32_t i = (uint32_t)o->h.id;
        if (slot_holds(p, i, o->h.id)) {
            ring_lock(r);
            int rc = ring_push_locked(r, &o->h, o->data, o->len, &p->slots[i].pos);
            ring_unlock(r);
            if (rc != 0)
                break;
            p->slots[i].where = AT_RING;
            pushed++;
        }
        p->ovf_head = o->next;
        if (!p->ovf_head)
            p->ovf_tail = NULL;
        free(o);
    }
    if (pushed)
        wake_worker(p->sh, pushed);
}

/* With mu held: mark RUNNING the futures whose records the workers have
 * taken (each worker's slot names the task it runs). A future already
 * done or running is left as it is. A read of a PENDING future's state
 * does the same for that future (pool_refresh), so this only saves reads
 * the work. */
static void note_started(pool *p)
{
    for (unsigned w = 0; w < p->n; w++) {
        uint64_t running = __atomic_load_n(&p->sh->slots[w].running, __ATOMIC_ACQUIRE);
        uint32_t k = (uint32_t)(running - 1);
        if (running && slot_holds(p, k, running - 1))
            weft_future_set_running_or_notify_cancel(p->slots[k].f);
    }
}

/* With mu held: finish f once mu is let go (finish_doomed), with `code`
 * and `msg`, or cancelled for code 0; the slot's reference goes with it.
 * Without the memory to put it off, it is finished now. */
static void doom(pool *p, weft_future *f, int code, const char *msg)
{
    if (p->ndoom == p->doomcap) {
        size_t cap = p->doomcap ? p->doomcap * 2 : 16;
        struct doomed *d = realloc(p->doom, cap * sizeof *d);
        if (!d) {
            if (code != 0 || !weft__future_cancel_pending(f))
                weft_future_set_error(f, code ? code : WEFT_ECANCELLED, msg);
            weft_future_unref(f);
            return;
        }
        p->doom = d;
        p->doomcap = cap;
    }
    p->doom[p->ndoom++] = (struct doomed){.f = f, .code = code, .msg = msg ? strdup(msg) : NULL};
}

/* Finish the futures doomed so far; mu is not held. */
static void finish_doomed(pool *p)
{
    pthread_mutex_lock(&p->mu);
    struct doomed *d = p->doom;
    size_t n = p->ndoom;
    p->doom = NULL;
    p->ndoom = p->doomcap = 0;
    pthread_mutex_unlock(&p->mu);
    for (size_t k = 0; k < n; k++) {
        if (d[k].code != 0 || !weft__future_cancel_pending(d[k].f))
            weft_future_set_error(d[k].f, d[k].code ? d[k].code : WEFT_ECANCELLED, d[k].msg);
        free(d[k].msg);
        weft_future_unref(d[k].f);
    }
    free(d);
}

/* With mu held: a chunk of a map fails; the map's first failure is the
 * first chunk the parent sees fail (multiprocessing.Pool.map's). */
static void note_chunk_error(struct fslot *s)
{
    if (s->job && s->job->first_err == SIZE_MAX)
        s->job->first_err = s->first;
}

/* With mu held: take back every task no worker has taken (the overflow
 * and the records in the ring) and doom its future to CANCELLED. */
static void cancel_queued(pool *p)
{
    while (p->ovf_head) {
        struct overflow *o = p->ovf_head;
        uint32_t i = (uint32_t)o->h.id;
        p->ovf_head = o->next;
        if (slot_holds(p, i, o->h.id)) {
            doom(p, p->slots[i].f, 0, NULL);
            slot_release(p, i);
        }
        free(o);
    }
    p->ovf_tail = NULL;
    struct ring *r = &p->sh->tasks;
    ring_lock(r);
    weft__rec *h;
    while ((h = ring_peek_locked(r))) {
        uint32_t i = (uint32_t)h->id;
        if (slot_holds(p, i, h->id)) {
            doom(p, p->slots[i].f, 0, NULL);
            slot_release(p, i);
        }
        ring_pop_locked(r, h);
    }
    ring_unlock(r);
}

/* The owner's cancel: weft_future_cancel on one of the pool's futures.
 * A task no worker has taken is taken back - its overflow entry is
 * dropped by flush_overflow once its slot is let go; its record in the
 * ring becomes a pad, which workers skip - and its future ends CANCELLED.
 * A worker takes a record and this call pads one under the task ring's
 * lock, and a record is taken once head has passed its position: exactly
 * one of them wins. A task a worker took is running and is not
 * cancelled. */
static bool pool_cancel(weft_future *f, void *ctx)
{
    struct pp_fut *pf = ctx;
    pool *p = pf->p;
    uint32_t i = (uint32_t)pf->id;
    bool back = false;
    if (pf->outer)
        return weft_future_cancelled(f); /* only its maker ends it */
    pthread_mutex_lock(&p->mu);
    if (slot_holds(p, i, pf->id) && p->slots[i].f == f) {
        struct fslot *s = &p->slots[i];
        if (s->where == AT_OVERFLOW) {
            back = true;
        } else if (s->where == AT_RING) {
            struct ring *r = &p->sh->tasks;
            ring_lock(r);
            if (r->head <= s->pos) {
                weft__rec *h = (weft__rec *)(r->data + (s->pos & (r->cap - 1)));
                h->kind = WEFT__REC_PAD;
                /* Pads at the head go now (the size is the record's):
                 * a sleeping worker would not pass them, and the overflow
                 * may be waiting for their room. */
                ring_peek_locked(r);
                back = true;
            }
            ring_unlock(r);
            if (!back)
                weft_future_set_running_or_notify_cancel(f);
        }
        if (back) {
            slot_release(p, i);
            flush_overflow(p);
        }
    }
    pthread_mutex_unlock(&p->mu);
    if (!back)
        return weft_future_cancelled(f);
    bool cancelled = weft__future_cancel_pending(f);
    if (!cancelled) {
        /* Made RUNNING by its holder (set_running_or_notify_cancel, a
         * misuse): its task will not run, so it must end all the same. */
        weft_future_set_error(f, WEFT_ECANCELLED, "the task was taken back before it started");
    }
    weft_future_unref(f); /* the slot's; the caller holds its own */
    return cancelled;
}

/* The pool's side of its futures: the waiting thread helps (see file
 * comment), and each future keeps the pool's memory alive. */
#define HELP_NS 50000

static void pool_unref(pool *p);
static bool drain_results(pool *p);

static void pool_help(weft_future *f, void *ctx, int64_t deadline)
{
    pool *p = ((struct pp_fut *)ctx)->p;
    struct pp_shared *sh = p->sh;
    if (!weft__can_spin())
        return; /* the spinner would hold up the worker it waits for */
    int64_t until = weft__now_ns() + HELP_NS;
    if (until > deadline)
        until = deadline;
    __atomic_add_fetch(&sh->helpers, 1, __ATOMIC_SEQ_CST);
    for (unsigned i = 1; !weft_future_done(f); i++) {
        if (__atomic_load_n(&sh->results.tail, __ATOMIC_ACQUIRE) !=
                __atomic_load_n(&sh->results.head, __ATOMIC_ACQUIRE) &&
            pthread_mutex_trylock(&p->drain_mu) == 0) {
            drain_results(p);
            pthread_mutex_unlock(&p->drain_mu);
            continue;
        }
        weft__cpu_relax();
        if (i % 64 == 0 && weft__now_ns() > until)
            break;
    }
    __atomic_sub_fetch(&sh->helpers, 1, __ATOMIC_SEQ_CST);
    /* A worker that saw us here did not wake the collector: what it
     * pushed must not wait in the ring until the next push. */
    if (__atomic_load_n(&sh->results.tail, __ATOMIC_SEQ_CST) !=
        __atomic_load_n(&sh->results.head, __ATOMIC_SEQ_CST)) {
        /* Not a blocking lock: the holder may be this very thread (a done
         * callback waiting on another of the pool's futures). A drainer
         * that is there loops until the ring is empty, but may be leaving:
         * then the collector, woken, takes it. */
        if (pthread_mutex_trylock(&p->drain_mu) == 0) {
            drain_results(p);
            pthread_mutex_unlock(&p->drain_mu);
        } else if (sh->evfd >= 0) {
            uint64_t one = 1;
            (void)!write(sh->evfd, &one, sizeof one);
        }
    }
}

static void pool_future_destroy(weft_future *f, void *ctx)
{
    pool_unref(((struct pp_fut *)ctx)->p);
}

/* A PENDING future's state is read: a worker may have taken its task and
 * not yet be seen to (note_started runs when the parent's threads wake).
 * A worker names the task it runs in its slot before it runs it, so a
 * task seen to have started is seen RUNNING. No lock: the slots live as
 * long as the pool, which the future keeps. */
static void pool_refresh(const weft_future *f, void *ctx)
{
    struct pp_fut *pf = ctx;
    pool *p = pf->p;
    if (pf->outer)
        return;
    for (unsigned w = 0; w < p->n; w++) {
        if (__atomic_load_n(&p->sh->slots[w].running, __ATOMIC_ACQUIRE) == pf->id + 1) {
            weft_future_set_running_or_notify_cancel((weft_future *)f);
            return;
        }
    }
}

static const weft__future_owner pool_owner = {
    .cancel = pool_cancel,
    .destroy = pool_future_destroy,
    .help = pool_help,
    .refresh = pool_refresh,
};

int weft_process_pool_result(weft_future *f, weft_bytes **out, double timeout)
{
    if (!out)
        return WEFT_EINVAL;
    *out = NULL;
    if (!weft__future_owner_ctx(f, &pool_owner))
        return WEFT_EINVAL;
    void *r = NULL;
    int rc = weft_future_result(f, &r, timeout);
    if (rc == 0)
        *out = r;
    return rc;
}

/* With mu held: a new future for the task in slot i (two references: the
 * submitter's and the slot's). */
static int pool_future_new(pool *p, uint32_t i, weft_future **out)
{
    void *room;
    int rc = weft__future_new_owned(out, 2, &pool_owner, &room);
    if (rc == 0) {
        _Static_assert(sizeof(struct pp_fut) <= WEFT__FUTURE_ROOM, "a pool future's room");
        *(struct pp_fut *)room = (struct pp_fut){.p = p, .id = slot_id(p, i)};
        __atomic_add_fetch(&p->refs, 1, __ATOMIC_RELAXED);
    }
    return rc;
}

int weft__procpool_future_new(weft_executor *ex, weft_future **out)
{
    pool *p = as_pool(ex);
    if (!p || !out)
        return WEFT_EINVAL;
    void *room;
    int rc = weft__future_new_owned(out, 1, &pool_owner, &room);
    if (rc == 0) {
        *(struct pp_fut *)room = (struct pp_fut){.p = p, .outer = true};
        __atomic_add_fetch(&p->refs, 1, __ATOMIC_RELAXED);
    }
    return rc;
}

/* Submit fn(b), b a weft_bytes checked already (or NULL). */
static int submit_bytes(pool *p, weft_task_fn fn, const weft_bytes *b, weft_future **out)
{
    pthread_mutex_lock(&p->mu);
    int rc = p->broken ? WEFT_EBROKEN : p->shutdown ? WEFT_ESHUTDOWN : 0;
    int fi = rc ? rc : fn_index(p, (weft__fnptr)fn);
    uint32_t i;
    weft_future *f = NULL;
    if (fi < 0) {
        rc = fi;
    } else if ((rc = slot_alloc(p, &i)) == 0) {
        if ((rc = pool_future_new(p, i, &f)) == 0) {
            weft__rec h = {.kind = WEFT__REC_TASK, .id = slot_id(p, i), .fn = fi,
                           .count = b != NULL};
            p->slots[i].f = f;
            p->slots[i].fn = fi;
            p->slots[i].seq = ++p->tasks;
            p->pending++;
            if (b && rec_size(b->len) > p->sh->tasks.cap / 4) {
                /* Too big for the ring: its own memfd (weft__large_ref). */
                int fd = large_make(b->data, b->len);
                weft__large_ref ref = {.pid = getpid(), .fd = fd, .len = b->len};
                h.count = WEFT__COUNT_LARGE;
                p->slots[i].large_fd = fd;
                rc = fd < 0 ? fd : enqueue(p, i, &h, &ref, sizeof ref);
            } else {
                rc = enqueue(p, i, &h, b ? b->data : NULL, b ? b->len : 0);
            }
            if (rc) {
                slot_release(p, i);
                weft_future_unref(f);
                weft_future_unref(f);
                f = NULL;
            }
        } else {
            p->slots[i].next_free = p->free_head;
            p->free_head = i;
        }
    }
    pthread_mutex_unlock(&p->mu);
    if (rc == 0)
        *out = f;
    return rc;
}

/* The executor's submit: arg is a `void *` and may be anything, so it is
 * probed (see bytes) before the pool reads it. */
static int pool_submit(weft_executor *ex, weft_task_fn fn, void *arg, weft_future **out)
{
    pool *p = (pool *)ex;
    weft__set_last_message(NULL);
    if (!fn || !out)
        return WEFT_EINVAL;
    uint64_t kind;
    if (arg && probe_bytes((const void *const *)&arg, 1, 3, &kind) == 0) {
        bad_arg_message("weft_executor_submit", "the argument");
        return WEFT_EINVAL;
    }
    return submit_bytes(p, fn, arg, out);
}

int weft_process_pool_submit(weft_executor *ex, weft_task_fn fn, const weft_bytes *arg,
                             weft_future **out)
{
    pool *p = as_pool(ex);
    weft__set_last_message(NULL);
    if (!p || !fn || !out)
        return WEFT_EINVAL;
    if (arg && !bytes_kind_direct(arg)) {
        bad_arg_message("weft_process_pool_submit", "the argument");
        return WEFT_EINVAL;
    }
    return submit_bytes(p, fn, arg, out);
}

/* With mu held: doom every future not yet done to fail (a broken pool,
 * workers gone at shutdown, terminate) and drop the overflow; the caller
 * finishes them (finish_doomed) once mu is let go. */
static void fail_all(pool *p, int code, const char *msg)
{
    while (p->ovf_head) {
        struct overflow *o = p->ovf_head;
        p->ovf_head = o->next;
        free(o);
    }
    p->ovf_tail = NULL;
    for (uint32_t i = 0; i < p->nslots; i++) {
        weft_future *f = p->slots[i].f;
        if (!f)
            continue;
        note_chunk_error(&p->slots[i]);
        doom(p, f, code, msg);
        slot_release(p, i);
    }
}

/* A worker's large result: read it into a new weft_bytes, then let the
 * worker close its memfd. The reference is the worker's word: it must
 * name a regular file (a FIFO would hold the open up for ever; large_open
 * does not wait) that holds the length it says, or no memory is sized by
 * it. */
static int take_large(pool *p, const void *payload, size_t len, weft_bytes **out)
{
    weft__large_ref ref;
    if (len != sizeof ref)
        return WEFT_EBROKEN;
    memcpy(&ref, payload, sizeof ref);
    int fd = large_open(&ref);
    struct stat st;
    int rc = fd < 0 ? fd : fstat(fd, &st) != 0 ? WEFT_EBROKEN : 0;
    if (rc == 0 && (!S_ISREG(st.st_mode) || (uint64_t)st.st_size < large_size(0) ||
                    ref.len > (uint64_t)st.st_size - large_size(0)))
        rc = WEFT_EBROKEN;
    if (rc == 0)
        rc = weft_bytes_new(out, NULL, ref.len);
    for (size_t off = 0; rc == 0 && off < ref.len;) {
        ssize_t n = pread(fd, (*out)->data + off, ref.len - off, (off_t)(LARGE_DATA + off));
        if (n <= 0) {
            rc = WEFT_EBROKEN;
            weft_bytes_free(*out);
            *out = NULL;
        }
        off += n > 0 ? (size_t)n : 0;
    }
    if (fd >= 0)
        close(fd);
    if (ref.worker < p->n) {
        struct worker_slot *slot = &p->sh->slots[ref.worker];
        __atomic_store_n(&slot->ack, 1, __ATOMIC_RELEASE);
        weft__futex_wake_shared(&slot->ack, 1);
    }
    return rc;
}

/* Whether a bytes map's result entries (internal/procpool.h) frame within
 * data[0..len): `count` entries, at most `items` of them, each in bounds,
 * each status 0 or negative, the first failure the last entry. */
static bool entries_frame(const unsigned char *data, size_t len, uint32_t count, size_t items)
{
    if (count > items)
        return false;
    size_t off = 0;
    for (uint32_t k = 0; k < count; k++) {
        uint32_t st, has;
        uint64_t n;
        if (len - off < 16)
            return false;
        memcpy(&st, data + off, 4);
        memcpy(&has, data + off + 4, 4);
        memcpy(&n, data + off + 8, 8);
        if ((int32_t)st > 0 || has > 1 || (st && has) || n > len - off - 16 ||
            PAD8(n) > len - off - 16 || (st && k + 1 != count))
            return false;
        off += 16 + PAD8(n);
    }
    return true;
}

/* A result record, copied out of the ring: complete its future. The record
 * is a worker's, and a buggy worker may have written anything in it: what
 * it says must be what its task can have produced (the kind its slot
 * expects, a negative code or 0, no more items than its chunk has, every
 * length within the payload), or the future fails with WEFT_EBROKEN
 * rather than have its result, or another task's destination, written
 * from it. */
static void complete(pool *p, const weft__rec *h, const unsigned char *data,
                     weft_bytes *large)
{
    uint32_t i = (uint32_t)h->id;
    pthread_mutex_lock(&p->mu);
    if (i >= p->nslots || !p->slots[i].f || slot_id(p, i) != h->id) {
        pthread_mutex_unlock(&p->mu); /* failed already (broken) */
        weft_bytes_free(large);
        return;
    }
    struct fslot *s = &p->slots[i];
    struct map_job *j = s->job;
    weft_future *f = s->f;
    int code = h->status;
    char *msg = NULL;
    void *result = NULL;
    uint32_t kind = !j ? WEFT__REC_RESULT
                    : j->out_size ? WEFT__REC_CHUNK_RESULT
                                  : WEFT__REC_MULTI_RESULT;
    bool bad = h->kind != kind || code > 0;
    if (bad) {
        /* another task's kind of result, or not a code */
    } else if (h->kind == WEFT__REC_CHUNK_RESULT) {
        bad = h->count > s->count || h->len != (size_t)h->count * j->out_size;
        if (!bad && j->out && h->len)
            memcpy((char *)j->out + s->first * j->out_size, data, h->len);
        if (code == 0 && h->count != s->count)
            code = WEFT_EBROKEN;
    } else if (h->kind == WEFT__REC_MULTI_RESULT) {
        weft_bytes **results = j->out;
        size_t off = 0;
        uint32_t k = 0;
        bad = !entries_frame(data, h->len, h->count, s->count);
        for (; !bad && k < h->count; k++) {
            uint32_t st, has;
            uint64_t len;
            memcpy(&st, data + off, 4);
            memcpy(&has, data + off + 4, 4);
            memcpy(&len, data + off + 8, 8);
            const unsigned char *bytes = data + off + 16;
            off += 16 + PAD8(len);
            if (st != 0) {
                code = (int32_t)st;
                msg = len ? strndup((const char *)bytes, len) : NULL;
                break;
            }
            if (has && results &&
                weft_bytes_new(&results[s->first + k], bytes, len) != 0) {
                code = WEFT_ENOMEM;
                break;
            }
            if (results && j->ok)
                j->ok[s->first + k] = 1;
        }
        if (code == 0 && k != s->count)
            code = WEFT_EBROKEN;
    } else if (large) {
        result = large;
        large = NULL;
    } else if (code == 0) {
        /* count: 1 with a result (maybe empty), 0 with none */
        bad = h->count > 1 || (h->count == 0 && h->len);
        if (!bad && h->count && weft_bytes_new((weft_bytes **)&result, data, h->len) != 0)
            code = WEFT_ENOMEM;
    } else {
        bad = h->count != 0;
        if (!bad && h->len)
            msg = strndup((const char *)data, h->len);
    }
    weft_bytes_free(large);
    if (bad) {
        code = WEFT_EBROKEN;
        msg = strdup("a process pool worker sent a malformed result");
    }
    if (code != 0)
        note_chunk_error(s);
    slot_release(p, i);
    pthread_mutex_unlock(&p->mu);
    /* Refused only when the caller ended the future itself (a misuse):
     * then the result is nobody's. */
    if (code == 0 && weft_future_set_result(f, result) != 0)
        weft_bytes_free(result);
    else if (code != 0)
        weft_future_set_error(f, code, msg);
    free(msg);
    weft_future_unref(f);
}

static void break_pool(pool *p, const char *why);

/* The next result record with the ring locked, pads skipped: 0 and *out
 * (NULL when the ring is empty), or WEFT_EBROKEN when the bytes at its
 * head do not frame a record. Workers write this ring, and a buggy one may
 * write anything in its records; a record frames when its size is a whole
 * number of slots that holds its header and its payload and ends before
 * the ring's end and its tail (then the next one starts where a record
 * can). Head and tail themselves move only by the rings' code. */
static int result_peek_locked(struct ring *r, weft__rec **out)
{
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

/* Drain the result ring; the copy is made with the ring locked, the
 * completion (which may run callbacks) without. A ring that does not
 * frame breaks the pool: nothing after the bad record can be read, and
 * its results may be any task's. */
static bool drain_results(pool *p)
{
    struct ring *r = &p->sh->results;
    struct wbuf *buf = &p->drain_buf;
    bool any = false;
    for (;;) {
        ring_lock(r);
        weft__rec *h;
        if (result_peek_locked(r, &h) != 0) {
            __atomic_store_n(&r->head, r->tail, __ATOMIC_RELEASE); /* dropped */
            r->space_seq++;
            ring_unlock(r);
            weft__futex_wake_shared(&r->space_seq, INT_MAX);
            pthread_mutex_lock(&p->mu);
            break_pool(p, "a process pool worker wrote a corrupt result record");
            pthread_mutex_unlock(&p->mu);
            finish_doomed(p);
            return true;
        }
        if (!h) {
            ring_unlock(r);
            return any;
        }
        weft__rec hd = *h;
        bool ok = wbuf_fit(buf, hd.len) == 0;
        if (ok && hd.len)
            memcpy(buf->p, h + 1, hd.len);
        ring_pop_locked(r, h);
        bool wake = r->space_sleepers > 0;
        ring_unlock(r);
        if (wake)
            weft__futex_wake_shared(&r->space_seq, INT_MAX);
        weft_bytes *large = NULL;
        if (!ok) {
            hd.status = WEFT_ENOMEM;
            hd.len = 0;
            hd.count = 0;
        } else if (hd.kind == WEFT__REC_RESULT && hd.count == WEFT__COUNT_LARGE &&
                   hd.status == 0) {
            hd.status = take_large(p, buf->p, hd.len, &large);
            hd.count = hd.status == 0;
            hd.len = 0;
        }
        complete(p, &hd, buf->p, large);
        any = true;
    }
}

static int start_worker(pool *p, unsigned i)
{
    p->wargs[i] = (struct worker_arg){.sh = p->sh, .index = i};
    p->sh->slots[i] = (struct worker_slot){.state = W_RUNNING};
    weft_process *proc;
    int r = weft_process_new(&proc, worker_main, &p->wargs[i], &p->popts);
    if (r)
        return r;
    if ((r = weft_process_start(proc)) != 0) {
        weft_process_free(proc);
        return r;
    }
    /* The process's own exit fd (not one opened by pid now: a worker whose
     * initializer failed may be gone and reaped already). */
    int fd = weft__process_exit_fd(proc);
    if (fd < 0) {
        weft_process_kill(proc);
        weft_process_free(proc);
        return WEFT_ENOTSUP;
    }
    p->sh->slots[i].pid = weft_process_pid(proc);
    p->procs[i] = proc;
    p->pidfds[i] = fd;
    return 0;
}

/* With mu held: the pool cannot go on. */
static void break_pool(pool *p, const char *why)
{
    if (!p->broken) {
        p->broken = true;
        for (unsigned i = 0; i < p->n; i++)
            if (p->procs[i])
                weft_process_kill(p->procs[i]);
    }
    fail_all(p, WEFT_EBROKEN, why);
}

/* How a worker ended, for messages: "worker 12 was killed by signal 9
 * (Killed)", "worker 12 exited with code 3". `code` is the process's exit
 * code (a signal's is its negated number). */
static void describe_exit(char *buf, size_t len, pid_t pid, int code)
{
    if (code < 0)
        snprintf(buf, len, "worker %d was killed by signal %d (%s)", (int)pid, -code,
                 strsignal(-code));
    else
        snprintf(buf, len, "worker %d exited with code %d", (int)pid, code);
}

/* With mu held: " while running task 7 (fn)" for the task in slot s, with
 * its function's name where the dynamic symbol table has it and a map
 * chunk's items. */
static void describe_task(const pool *p, const struct fslot *s, char *buf, size_t len)
{
    const char *name = NULL;
    Dl_info info;
    weft__fnptr fn = s->fn >= 0 && s->fn < MAX_FNS ? p->fnptrs[s->fn] : NULL;
    if (fn && dladdr((void *)fn, &info) && info.dli_sname && info.dli_saddr == (void *)fn)
        name = info.dli_sname;
    int n = snprintf(buf, len, " while running task %llu", (unsigned long long)s->seq);
    if (n < 0 || (size_t)n >= len)
        return;
    if (s->job && s->count > 1)
        snprintf(buf + n, len - (size_t)n, " (%s%smap items %zu to %zu)", name ? name : "",
                 name ? ", " : "", s->first, s->first + s->count - 1);
    else if (s->job)
        snprintf(buf + n, len - (size_t)n, " (%s%smap item %zu)", name ? name : "",
                 name ? ", " : "", s->first);
    else if (name)
        snprintf(buf + n, len - (size_t)n, " (%s)", name);
}

/* With mu held: whether tasks wait for a worker (in the overflow or the
 * ring). */
static bool work_queued(pool *p)
{
    if (p->ovf_head)
        return true;
    struct ring *r = &p->sh->tasks;
    ring_lock(r);
    bool any = ring_peek_locked(r) != NULL;
    ring_unlock(r);
    return any;
}

/* With mu held: the report of a failed initializer, as Python's "Exception
 * in initializer": the pool, the worker, the function and its code. */
static void describe_init(const pool *p, int code, pid_t pid, char *buf, size_t len)
{
    const char *name = NULL;
    Dl_info info;
    int32_t fi = p->sh->init_fn;
    weft__fnptr fn = fi >= 0 && fi < MAX_FNS ? p->fnptrs[fi] : NULL;
    if (fn && dladdr((void *)fn, &info) && info.dli_sname && info.dli_saddr == (void *)fn)
        name = info.dli_sname;
    char what[64];
    if (code < 0)
        snprintf(what, sizeof what, "%s (%s)", weft_err_name(code), weft_strerror(code));
    else
        snprintf(what, sizeof what, "%d, not a WEFT_E* code", code);
    snprintf(buf, len,
             "Exception in initializer: process pool %p, worker %d: the initializer %s "
             "returned %s; the pool is broken",
             (const void *)p, (int)pid, name ? name : "(unnamed)", what);
}

/* Worker i has exited: reap it and replace it if it retired. A worker
 * that died otherwise breaks the pool; the task it was running, if any,
 * fails with what killed it and which task it was. */
static void worker_exited(pool *p, unsigned i)
{
    weft_process *proc = p->procs[i];
    weft_process_join(proc, WEFT_FOREVER);
    int code = 0;
    weft_process_exitcode(proc, &code);
    pid_t pid = weft_process_pid(proc);
    uint32_t state = __atomic_load_n(&p->sh->slots[i].state, __ATOMIC_ACQUIRE);
    uint64_t running = __atomic_load_n(&p->sh->slots[i].running, __ATOMIC_ACQUIRE);
    /* Whatever the worker answered before it died completes first: the
     * task it names as running may have been answered just before. */
    if (running) {
        pthread_mutex_lock(&p->drain_mu);
        drain_results(p);
        pthread_mutex_unlock(&p->drain_mu);
    }
    char cause[128], task[200] = "", msg[400];
    describe_exit(cause, sizeof cause, pid, code);
    weft_future *dead = NULL;
    pthread_mutex_lock(&p->mu);
    /* Others (terminate, workers) read procs[] under mu: free it after. */
    p->procs[i] = NULL;
    p->pidfds[i] = -1;
    weft_process_free(proc);
    bool killed_by_us = p->broken || p->terminated;
    uint32_t k = (uint32_t)(running - 1);
    if (running && !killed_by_us && k < p->nslots && p->slots[k].f &&
        slot_id(p, k) == running - 1) {
        /* Failed here, outside mu (its callbacks may call the pool). */
        describe_task(p, &p->slots[k], task, sizeof task);
        dead = p->slots[k].f;
        note_chunk_error(&p->slots[k]);
        slot_release(p, k);
    }
    char report[600] = "";
    int init_code = 0;
    if (killed_by_us) {
        /* Killed by break_pool or terminate: nothing more to do. */
    } else if (code == 0 && state == W_RETIRING && (!p->stopped || work_queued(p))) {
        /* Retired (max_tasks_per_child): replaced while there is work for
         * it, shutdown or not, so that no queued task is dropped. */
        if (start_worker(p, i) != 0)
            break_pool(p, "a process pool worker could not be replaced");
    } else if (!(code == 0 && p->stopped && !dead)) {
        if (state == W_INIT_FAILED) {
            init_code = p->sh->slots[i].init_code;
            describe_init(p, init_code, pid, report, sizeof report);
            snprintf(msg, sizeof msg, "a process pool worker's initializer failed (%s)", cause);
        } else {
            snprintf(msg, sizeof msg,
                     "a process in the process pool was terminated abruptly: %s%s", cause,
                     task[0] ? task : " while idle");
        }
        break_pool(p, msg);
    }
    pthread_mutex_unlock(&p->mu);
    if (report[0])
        weft_report_error("process pool initializer", init_code < 0 ? init_code : WEFT_EINVAL,
                          report);
    if (dead) {
        snprintf(msg, sizeof msg, "%s%s", cause, task);
        weft_future_set_error(dead, WEFT_EBROKEN, msg);
        weft_future_unref(dead);
    }
    finish_doomed(p);
}

static void *collector_main(void *arg)
{
    pool *p = arg;
    struct pp_shared *sh = p->sh;
    struct pollfd *fds = calloc(p->n + 1, sizeof *fds);
    unsigned *who = calloc(p->n + 1, sizeof *who);
    for (;;) {
        pthread_mutex_lock(&p->drain_mu);
        drain_results(p);
        pthread_mutex_unlock(&p->drain_mu);
        pthread_mutex_lock(&p->mu);
        note_started(p);
        flush_overflow(p);
        if (p->shutdown && !p->ovf_head && !p->stopped) {
            /* Everything submitted is in the ring: let the workers finish. */
            p->stopped = true;
            __atomic_store_n(&sh->stop, 1, __ATOMIC_RELEASE);
            ring_lock(&sh->tasks);
            sh->tasks.seq++;
            ring_unlock(&sh->tasks);
            wake_worker(sh, INT_MAX);
        }
        bool want_space = p->ovf_head != NULL;
        pthread_mutex_unlock(&p->mu);
        nfds_t n = 0;
        fds[n++] = (struct pollfd){.fd = sh->evfd, .events = POLLIN};
        for (unsigned i = 0; i < p->n; i++) {
            if (p->pidfds[i] >= 0) {
                who[n] = i;
                fds[n++] = (struct pollfd){.fd = p->pidfds[i], .events = POLLIN};
            }
        }
        if (n == 1) {
            /* Every worker is gone: the last results are in the ring. */
            pthread_mutex_lock(&p->drain_mu);
            drain_results(p);
            pthread_mutex_unlock(&p->drain_mu);
            break;
        }
        __atomic_store_n(&sh->collector_sleeps, 1, __ATOMIC_SEQ_CST);
        if (want_space)
            __atomic_store_n(&sh->want_space, 1, __ATOMIC_SEQ_CST);
        int timeout = -1;
        if (__atomic_load_n(&sh->results.tail, __ATOMIC_SEQ_CST) !=
            __atomic_load_n(&sh->results.head, __ATOMIC_SEQ_CST))
            timeout = 0; /* a result came in between: do not sleep */
        if (want_space && __atomic_load_n(&sh->tasks.tail, __ATOMIC_SEQ_CST) -
                                  __atomic_load_n(&sh->tasks.head, __ATOMIC_SEQ_CST) <
                              sh->tasks.cap / 2)
            timeout = 0;
        int rc = poll(fds, n, timeout);
        __atomic_store_n(&sh->collector_sleeps, 0, __ATOMIC_SEQ_CST);
        if (rc <= 0)
            continue;
        if (fds[0].revents) {
            uint64_t v;
            (void)!read(sh->evfd, &v, sizeof v);
        }
        for (nfds_t k = 1; k < n; k++)
            if (fds[k].revents)
                worker_exited(p, who[k]);
    }
    pthread_mutex_lock(&p->mu);
    fail_all(p, p->broken ? WEFT_EBROKEN : WEFT_ESHUTDOWN,
             p->broken ? "the process pool is broken" : "the process pool's workers are gone");
    pthread_mutex_unlock(&p->mu);
    finish_doomed(p);
    free(fds);
    free(who);
    weft_event_set(&p->done);
    return NULL;
}

/* Join the collector once it has finished (`done` is set), whoever asks
 * first: a waiting shutdown (at exit the pool may never be freed, and an
 * unjoined thread is a leak) or the teardown. Not from the collector
 * itself, which runs done callbacks that may shut the pool down. */
static void join_collector(pool *p)
{
    if (!__atomic_load_n(&p->collector_started, __ATOMIC_ACQUIRE) ||
        pthread_equal(pthread_self(), p->collector))
        return;
    if (__atomic_exchange_n(&p->collector_started, false, __ATOMIC_ACQ_REL))
        pthread_join(p->collector, NULL);
}

static int pool_shutdown(weft_executor *ex, bool cancel_futures, bool wait, int64_t deadline)
{
    pool *p = (pool *)ex;
    struct pp_shared *sh = p->sh;
    pthread_mutex_lock(&p->mu);
    p->shutdown = true;
    if (cancel_futures)
        cancel_queued(p); /* what runs goes on */
    pthread_mutex_unlock(&p->mu);
    finish_doomed(p);
    /* The collector sets stop once the overflow is in the ring. */
    uint64_t one = 1;
    (void)!write(sh->evfd, &one, sizeof one);
    if (!wait)
        return 0;
    double timeout = WEFT_FOREVER;
    if (deadline != WEFT__NO_DEADLINE) {
        int64_t left = deadline - weft__now_ns();
        timeout = left > 0 ? (double)left / 1e9 : 0;
    }
    int r = weft_event_wait(&p->done, timeout);
    if (r == WEFT_ETIMEDOUT)
        return r;
    join_collector(p);
    return 0;
}

/* Stop the pool now: refuse new work, cancel what no worker took, end
 * every worker (SIGKILL, or SIGTERM with `term`), and fail the futures of
 * the tasks they ran with `code` and `msg`. Nothing for a broken pool or
 * a second time. */
static int force_shutdown(weft_executor *ex, bool term, int code, const char *msg)
{
    pool *p = as_pool(ex);
    if (!p)
        return WEFT_EINVAL;
    pthread_mutex_lock(&p->mu);
    p->shutdown = true;
    if (!p->terminated && !p->broken) {
        p->terminated = true;
        cancel_queued(p);
        for (unsigned i = 0; i < p->n; i++) {
            if (p->procs[i] && (!term || weft_process_terminate(p->procs[i]) != 0))
                weft_process_kill(p->procs[i]);
        }
        fail_all(p, code, msg);
    }
    pthread_mutex_unlock(&p->mu);
    finish_doomed(p);
    uint64_t one = 1;
    (void)!write(p->sh->evfd, &one, sizeof one);
    return 0;
}

int weft_process_pool_terminate_workers(weft_executor *ex)
{
    return force_shutdown(ex, true, WEFT_EBROKEN,
                          "the process pool was forcefully shut down (terminate_workers) while "
                          "the task ran");
}

int weft_process_pool_kill_workers(weft_executor *ex)
{
    return force_shutdown(ex, false, WEFT_EBROKEN,
                          "the process pool was forcefully shut down (kill_workers) while the "
                          "task ran");
}

int weft__procpool_terminate(weft_executor *ex)
{
    return force_shutdown(ex, false, WEFT_ECANCELLED, "the pool was terminated while the task ran");
}

/* Stop the collector and the workers and close the pool's fds. Memory
 * stays until the last reference goes (pool_unref). */
static void pool_teardown(pool *p)
{
    join_collector(p);
    for (unsigned i = 0; i < p->n; i++) {
        if (p->procs && p->procs[i]) {
            weft_process_kill(p->procs[i]);
            weft_process_free(p->procs[i]);
            p->procs[i] = NULL;
        }
        if (p->pidfds)
            p->pidfds[i] = -1; /* the process's own: gone with it */
    }
    struct pp_shared *sh = p->sh;
    if (sh && sh->evfd >= 0) {
        weft__share_fd_remove(sh->evfd);
        close(sh->evfd);
        sh->evfd = -1;
    }
}

static void pool_unref(pool *p)
{
    if (__atomic_sub_fetch(&p->refs, 1, __ATOMIC_ACQ_REL) != 0)
        return;
    struct pp_shared *sh = p->sh;
    if (sh) {
        weft__shared_free(sh->tasks.data);
        weft__shared_free(sh->results.data);
        weft__shared_free(sh->slots);
        weft__shared_free(sh->initarg);
        weft__shared_free(sh);
    }
    weft__shared_free(p->wargs);
    free(p->procs);
    free(p->pidfds);
    free(p->slots);
    free(p->drain_buf.p);
    weft_event_destroy(&p->done);
    pthread_mutex_destroy(&p->drain_mu);
    pthread_mutex_destroy(&p->mu);
    free(p);
}

static void pool_release(pool *p)
{
    pool_teardown(p);
    pool_unref(p);
}

static void pool_destroy(weft_executor *ex)
{
    pool_release((pool *)ex);
}

static size_t round_pow2(size_t v)
{
    size_t c = 4096;
    while (c < v)
        c *= 2;
    return c;
}

/* A pool; with `bare`, one with no worker process and no collector (see
 * weft__procpool_new_bare). */
static int pool_new(weft_executor **out, const weft_process_pool_opts *opts, bool bare)
{
    weft_process_pool_opts o = opts ? *opts : (weft_process_pool_opts){0};
    if (!out || o.max_workers > 4096 || (o.initarg_size && !o.initarg) ||
        (o.start_method != WEFT_START_DEFAULT && o.start_method != WEFT_START_FORK &&
         o.start_method != WEFT_START_FORKSERVER) ||
        o.initarg_size > UINT32_MAX || o.ring_bytes > ((size_t)1 << 31))
        return WEFT_EINVAL;
    unsigned n = o.max_workers ? o.max_workers : weft_cpu_count();
    size_t cap = round_pow2(o.ring_bytes ? o.ring_bytes : DEFAULT_RING);
    pool *p = calloc(1, sizeof *p);
    if (!p)
        return WEFT_ENOMEM;
    p->base.ops = &pool_ops;
    p->n = n;
    p->free_head = NO_SLOT;
    pthread_mutex_init(&p->mu, NULL);
    pthread_mutex_init(&p->drain_mu, NULL);
    p->refs = 1;
    weft_event_init(&p->done);
    p->popts.daemon = WEFT_DAEMON_YES;
    p->popts.start_method = o.start_method;
    int r = WEFT_ENOMEM;
    p->procs = calloc(n, sizeof *p->procs);
    p->pidfds = malloc(n * sizeof *p->pidfds);
    struct pp_shared *sh = p->sh = weft__shared_alloc(sizeof *sh);
    if (!p->procs || !p->pidfds || !sh)
        goto fail;
    for (unsigned i = 0; i < n; i++)
        p->pidfds[i] = -1;
    sh->evfd = -1;
    sh->init_fn = -1;
    sh->max_tasks = o.max_tasks_per_child;
    sh->nworkers = n;
    if (ring_init(&sh->tasks, cap) != 0 || ring_init(&sh->results, cap) != 0)
        goto fail;
    sh->slots = weft__shared_alloc(n * sizeof *sh->slots);
    p->wargs = weft__shared_alloc(n * sizeof *p->wargs);
    if (!sh->slots || !p->wargs)
        goto fail;
    if (o.initializer) {
        int fi = fn_index(p, (weft__fnptr)o.initializer);
        if (fi < 0) {
            r = fi;
            goto fail;
        }
        sh->init_fn = fi;
        if (o.initarg_size) {
            sh->initarg = weft__shared_alloc(o.initarg_size);
            if (!sh->initarg)
                goto fail;
            memcpy(sh->initarg, o.initarg, o.initarg_size);
            sh->initarg_len = (uint32_t)o.initarg_size;
        }
    }
    sh->evfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (sh->evfd < 0) {
        r = errno == EMFILE || errno == ENFILE ? WEFT_EMFILE : WEFT_ENOMEM;
        goto fail;
    }
    if ((r = weft__share_fd_add(sh->evfd)) != 0) {
        close(sh->evfd);
        sh->evfd = -1;
        goto fail;
    }
    if (wbuf_fit(&p->drain_buf, cap / 4) == 0)
        prefault(p->drain_buf.p, p->drain_buf.cap, true);
    if (bare) {
        weft_event_set(&p->done); /* no collector to wait for */
        *out = &p->base;
        return 0;
    }
    for (unsigned i = 0; i < n; i++)
        if ((r = start_worker(p, i)) != 0)
            goto fail;
    if (pthread_create(&p->collector, NULL, collector_main, p) != 0) {
        r = WEFT_EAGAIN;
        goto fail;
    }
    p->collector_started = true;
    *out = &p->base;
    return 0;
fail:
    pool_release(p);
    return r;
}

int weft_process_pool_new(weft_executor **out, const weft_process_pool_opts *opts)
{
    int rc = pool_new(out, opts, false);
    if (rc == 0)
        weft__executor_register(*out); /* exit waits for its work */
    return rc;
}

unsigned weft_process_pool_workers_len(const weft_executor *ex)
{
    pool *p = as_pool((weft_executor *)ex);
    if (!p)
        return 0;
    pthread_mutex_lock(&p->mu);
    unsigned k = 0;
    for (unsigned i = 0; i < p->n; i++)
        k += p->procs[i] != NULL;
    pthread_mutex_unlock(&p->mu);
    return k;
}

int weft_process_pool_pids(const weft_executor *ex, pid_t *out, size_t cap, size_t *n)
{
    pool *p = as_pool((weft_executor *)ex);
    if (!p || !n || (cap && !out))
        return WEFT_EINVAL;
    pthread_mutex_lock(&p->mu);
    size_t k = 0;
    for (unsigned i = 0; i < p->n; i++) {
        if (p->procs[i]) {
            if (k < cap)
                out[k] = weft_process_pid(p->procs[i]);
            k++;
        }
    }
    pthread_mutex_unlock(&p->mu);
    *n = k;
    return 0;
}

/* ---------------------------------------------------------------- map */

/* With mu held: one chunk of a map into the ring (or the overflow). */
static int chunk_enqueue(pool *p, struct map_job *job, const weft__rec *tmpl, size_t first,
                         const void *payload, size_t len, weft_future **out)
{
    int rc = p->broken ? WEFT_EBROKEN : p->shutdown ? WEFT_ESHUTDOWN : 0;
    uint32_t i;
    if (rc || (rc = slot_alloc(p, &i)) != 0)
        return rc;
    weft_future *f;
    if ((rc = pool_future_new(p, i, &f)) != 0) {
        p->slots[i].next_free = p->free_head;
        p->free_head = i;
        return rc;
    }
    struct fslot *s = &p->slots[i];
    s->f = f;
    s->job = job;
    s->first = first;
    s->count = tmpl->count;
    s->fn = tmpl->fn;
    s->seq = ++p->tasks;
    job->refs++;
    p->pending++;
    weft__rec h = *tmpl;
    h.id = slot_id(p, i);
    if ((rc = enqueue(p, i, &h, payload, len)) != 0) {
        slot_release(p, i);
        weft_future_unref(f);
        weft_future_unref(f);
        return rc;
    }
    *out = f;
    return 0;
}

static double time_left(int64_t deadline)
{
    if (deadline == WEFT__NO_DEADLINE)
        return WEFT_FOREVER;
    int64_t left = deadline - weft__now_ns();
    return left > 0 ? (double)left / 1e9 : 0;
}

/* Wait for a map's chunks in input order, then detach the destination so
 * that a chunk finishing later writes nowhere, and let the futures go.
 * Executor.map (wait_all false) stops at the first chunk that fails.
 * multiprocessing.Pool.map (wait_all) waits for every chunk, and its error
 * is that of the first chunk the parent saw fail. On an error or a
 * timeout the chunks no worker took are cancelled. */
static int map_collect(pool *p, weft_future **fs, size_t submitted, size_t chunksize,
                       struct map_job *job, int rc, int64_t deadline, bool wait_all)
{
    size_t failed = SIZE_MAX;
    for (size_t c = 0; c < submitted && rc == 0; c++) {
        int e = weft_future_exception(fs[c], time_left(deadline));
        if (e == WEFT_ETIMEDOUT || (e && !wait_all))
            rc = e;
        if (e && e != WEFT_ETIMEDOUT && failed == SIZE_MAX)
            failed = c;
    }
    pthread_mutex_lock(&p->mu);
    if (wait_all && rc == 0 && failed != SIZE_MAX && job->first_err != SIZE_MAX)
        failed = job->first_err / chunksize;
    job->out = NULL;
    job_unref(job);
    pthread_mutex_unlock(&p->mu);
    if (rc != WEFT_ETIMEDOUT && failed != SIZE_MAX) {
        rc = weft_future_exception(fs[failed], 0);
        weft__set_last_message(weft_future_message(fs[failed]));
    }
    for (size_t c = 0; c < submitted; c++) {
        if (rc)
            weft_future_cancel(fs[c]);
        weft_future_unref(fs[c]);
    }
    free(fs);
    return rc;
}

static int map_fixed_run(pool *p, int fi, const void *in, size_t in_size, void *out,
                         size_t out_size, size_t n, size_t chunksize, double timeout,
                         bool wait_all)
{
    int64_t deadline = weft__deadline(timeout);
    size_t nchunks = n / chunksize + (n % chunksize != 0);
    weft_future **fs = calloc(nchunks, sizeof *fs);
    struct map_job *job = malloc(sizeof *job);
    if (!fs || !job) {
        free(fs);
        free(job);
        return WEFT_ENOMEM;
    }
    *job = (struct map_job){.refs = 1, .out = out, .out_size = out_size, .first_err = SIZE_MAX};
    int rc = 0;
    size_t submitted = 0;
    pthread_mutex_lock(&p->mu);
    for (; submitted < nchunks && rc == 0; submitted++) {
        size_t first = submitted * chunksize;
        size_t count = n - first < chunksize ? n - first : chunksize;
        weft__rec h = {.kind = WEFT__REC_CHUNK, .fn = fi, .status = (int32_t)out_size,
                       .count = (uint32_t)count};
        rc = chunk_enqueue(p, job, &h, first, (const char *)in + first * in_size,
                           count * in_size, &fs[submitted]);
        if (rc)
            break;
    }
    pthread_mutex_unlock(&p->mu);
    return map_collect(p, fs, submitted, chunksize, job, rc, deadline, wait_all);
}

/* The bytes map: chunks of up to chunksize items, each chunk within a
 * quarter of the ring. */
int weft__procpool_map_start(weft_executor *ex, weft_task_fn fn, const weft_bytes *const *args,
                             weft_bytes **results, size_t n, size_t chunksize,
                             weft__map_run *run)
{
    memset(run, 0, sizeof *run);
    pool *p = as_pool(ex);
    if (!p || !fn || (n && (!args || !results)))
        return WEFT_EINVAL;
    for (size_t i = 0; i < n; i++) {
        if (args[i] && !bytes_kind_direct(args[i])) {
            char what[40];
            snprintf(what, sizeof what, "args[%zu]", i);
            bad_arg_message("the process pool's map", what);
            return WEFT_EINVAL;
        }
    }
    if (chunksize == 0)
        chunksize = 1;
    if (chunksize > UINT32_MAX)
        chunksize = UINT32_MAX;
    if (n)
        memset(results, 0, n * sizeof *results);
    size_t limit = p->sh->tasks.cap / 4 - sizeof(weft__rec) - WEFT__REC_ALIGN;
    run->pool = p;
    run->fs = calloc(n + 1, sizeof *run->fs); /* at most one chunk per item */
    run->first = calloc(n + 1, sizeof *run->first);
    run->ok = calloc(n + 1, 1);
    struct map_job *job = run->job = malloc(sizeof *job);
    if (!run->fs || !run->first || !run->ok || !job)
        return WEFT_ENOMEM;
    *job = (struct map_job){.refs = 1, .out = results, .ok = run->ok, .first_err = SIZE_MAX};
    pthread_mutex_lock(&p->mu);
    int fi = fn_index(p, (weft__fnptr)fn);
    pthread_mutex_unlock(&p->mu);
    if (fi < 0)
        return fi;
    struct wbuf pack = {0};
    int rc = 0;
    size_t next = 0;
    while (next < n && rc == 0) {
        size_t first = next, used = 0;
        while (next < n && next - first < chunksize) {
            const weft_bytes *b = args[next];
            size_t need = 8 + (b ? PAD8(b->len) : 0);
            if (used + need > limit) {
                if (next == first)
                    rc = WEFT_EMSGSIZE; /* one item alone is too big */
                break;
            }
            if ((rc = wbuf_fit(&pack, used + need)) != 0)
                break;
            uint64_t len = b ? b->len : WEFT__NO_ITEM;
            memcpy((char *)pack.p + used, &len, 8);
            if (b && b->len)
                memcpy((char *)pack.p + used + 8, b->data, b->len);
            used += need;
            next++;
        }
        if (rc)
            break;
        weft__rec h = {.kind = WEFT__REC_MULTI, .fn = fi, .count = (uint32_t)(next - first)};
        pthread_mutex_lock(&p->mu);
        rc = chunk_enqueue(p, job, &h, first, pack.p, used, &run->fs[run->nchunks]);
        pthread_mutex_unlock(&p->mu);
        if (rc == 0) {
            run->first[run->nchunks++] = first;
            run->first[run->nchunks] = next;
        }
    }
    free(pack.p);
    return rc;
}

void weft__procpool_map_detach(weft__map_run *run)
{
    pool *p = run->pool;
    if (p && run->job) {
        pthread_mutex_lock(&p->mu);
        ((struct map_job *)run->job)->out = NULL;
        pthread_mutex_unlock(&p->mu);
    }
}

int weft__procpool_starmap_start(weft_executor *ex, weft_star_fn fn,
                                 const weft_bytes *const *args, size_t nargs,
                                 weft_bytes **results, size_t n, size_t chunksize,
                                 weft__map_run *run)
{
    memset(run, 0, sizeof *run);
    pool *p = as_pool(ex);
    if (!p || !fn || (n && (!results || (nargs && !args))) || nargs > UINT32_MAX ||
        (nargs && n > SIZE_MAX / nargs))
        return WEFT_EINVAL;
    for (size_t i = 0; i < n * nargs; i++) {
        if (args[i] && !bytes_kind_direct(args[i])) {
            char what[96];
            snprintf(what, sizeof what, "args[%zu] (call %zu's argument %zu)", i, i / nargs,
                     i % nargs);
            bad_arg_message("the process pool's starmap", what);
            return WEFT_EINVAL;
        }
    }
    pthread_mutex_lock(&p->mu);
    int fi = fn_index(p, (weft__fnptr)fn);
    pthread_mutex_unlock(&p->mu);
    if (fi < 0)
        return fi;
    /* Each call packed into one weft_bytes (struct star_head), which the
     * map copies at once. */
    weft_bytes **packed = calloc(n ? n : 1, sizeof *packed);
    if (!packed)
        return WEFT_ENOMEM;
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        size_t len = sizeof(struct star_head);
        for (size_t k = 0; k < nargs; k++) {
            const weft_bytes *b = args[i * nargs + k];
            size_t room = STAR_ARG_ROOM(b ? b->len : 0);
            if (room > SIZE_MAX - len) {
                rc = WEFT_EMSGSIZE;
                break;
            }
            len += room;
        }
        if (rc || (rc = weft_bytes_new(&packed[i], NULL, len)) != 0)
            break;
        unsigned char *d = packed[i]->data;
        struct star_head h = {.magic = STAR_MAGIC, .fn = fi, .nargs = nargs};
        memcpy(d, &h, sizeof h);
        size_t off = sizeof h;
        for (size_t k = 0; k < nargs; k++) {
            const weft_bytes *b = args[i * nargs + k];
            uint64_t blen = b ? b->len : WEFT__NO_ITEM;
            memcpy(d + off + sizeof(bytes_head), &blen, sizeof blen);
            if (b && b->len)
                memcpy(d + off + sizeof(bytes_head) + sizeof(weft_bytes), b->data, b->len);
            off += STAR_ARG_ROOM(b ? b->len : 0);
        }
    }
    if (rc == 0)
        rc = weft__procpool_map_start(ex, star_call, (const weft_bytes *const *)packed, results,
                                      n, chunksize, run);
    for (size_t i = 0; i < n; i++)
        weft_bytes_free(packed[i]);
    free(packed);
    return rc;
}

void weft__procpool_map_end(weft__map_run *run, bool cancel)
{
    pool *p = run->pool;
    if (p && run->job) {
        pthread_mutex_lock(&p->mu);
        struct map_job *job = run->job;
        job->out = NULL;
        job_unref(job);
        pthread_mutex_unlock(&p->mu);
    } else {
        free(run->job);
    }
    for (size_t c = 0; c < run->nchunks; c++) {
        if (cancel)
            weft_future_cancel(run->fs[c]);
        weft_future_unref(run->fs[c]);
    }
    free(run->fs);
    free(run->first);
    free(run->ok);
    memset(run, 0, sizeof *run);
}

size_t weft__procpool_map_first_failed(const weft__map_run *run)
{
    pool *p = run->pool;
    struct map_job *job = run->job;
    if (!p || !job || run->nchunks == 0)
        return run->nchunks;
    pthread_mutex_lock(&p->mu);
    size_t item = job->first_err;
    pthread_mutex_unlock(&p->mu);
    if (item == SIZE_MAX)
        return run->nchunks;
    size_t lo = 0, hi = run->nchunks; /* the last chunk whose first item <= item */
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (run->first[mid] <= item)
            lo = mid;
        else
            hi = mid;
    }
    return lo;
}

/* A map over args checked already. */
static int map_bytes(weft_executor *ex, weft_task_fn fn, const weft_bytes *const *args,
                     weft_bytes **results, size_t n, size_t chunksize, double timeout)
{
    int64_t deadline = weft__deadline(timeout);
    weft__map_run run;
    int rc = weft__procpool_map_start(ex, fn, args, results, n, chunksize, &run);
    for (size_t c = 0; c < run.nchunks && rc == 0; c++) {
        double t = WEFT_FOREVER;
        if (deadline != WEFT__NO_DEADLINE) {
            int64_t left = deadline - weft__now_ns();
            t = left > 0 ? (double)left / 1e9 : 0;
        }
        rc = weft_future_exception(run.fs[c], t);
        if (rc && rc != WEFT_ETIMEDOUT)
            weft__set_last_message(weft_future_message(run.fs[c]));
    }
    weft__procpool_map_end(&run, rc != 0);
    return rc;
}

/* The executor's map (weft_executor_map has checked the rest): the
 * arguments are `void *` and may be anything, so they are probed (see
 * bytes) before the pool reads them. */
static int pool_map(weft_executor *ex, weft_task_fn fn, void *const *args, void **results,
                    size_t n, double timeout, size_t chunksize)
{
    uint64_t kind;
    size_t bad = probe_bytes((const void *const *)args, n, 3, &kind);
    if (bad < n) {
        char what[40];
        snprintf(what, sizeof what, "args[%zu]", bad);
        bad_arg_message("weft_executor_map", what);
        return WEFT_EINVAL;
    }
    return map_bytes(ex, fn, (const weft_bytes *const *)args, (weft_bytes **)results, n,
                     chunksize, timeout);
}

int weft_process_pool_map(weft_executor *ex, weft_task_fn fn, const weft_bytes *const *args,
                          weft_bytes **results, size_t n, size_t chunksize, double timeout)
{
    weft__set_last_message(NULL);
    if (!as_pool(ex) || !fn || (n && (!args || !results)) || weft__timeout_valid(timeout) != 0)
        return WEFT_EINVAL;
    if (n == 0)
        return 0;
    return map_bytes(ex, fn, args, results, n, chunksize, timeout);
}

int weft_process_pool_map_fixed(weft_executor *ex, weft_item_fn fn, const void *in,
                                size_t in_size, void *out, size_t out_size, size_t n,
                                size_t chunksize, double timeout)
{
    return weft__procpool_map_fixed(ex, fn, in, in_size, out, out_size, n, chunksize, timeout,
                                    false);
}

int weft__procpool_map_fixed(weft_executor *ex, weft_item_fn fn, const void *in, size_t in_size,
                             void *out, size_t out_size, size_t n, size_t chunksize,
                             double timeout, bool wait_all)
{
    pool *p = as_pool(ex);
    if (!p || !fn || in_size == 0 || out_size == 0 || ((!in || !out) && n > 0) ||
        out_size > INT32_MAX || weft__timeout_valid(timeout) != 0)
        return WEFT_EINVAL;
    if (n == 0)
        return 0;
    if (chunksize == 0) {
        chunksize = n / (4 * (size_t)p->n);
        if (chunksize == 0)
            chunksize = 1;
    }
    /* A chunk and its results must fit a quarter of a ring each. */
    size_t item = in_size > out_size ? in_size : out_size;
    size_t fit = (p->sh->tasks.cap / 4 - sizeof(weft__rec) - WEFT__REC_ALIGN) / item;
    if (fit == 0)
        return WEFT_EMSGSIZE;
    if (chunksize > fit)
        chunksize = fit;
    if (chunksize > UINT32_MAX)
        chunksize = UINT32_MAX;
    pthread_mutex_lock(&p->mu);
    int fi = fn_index(p, (weft__fnptr)fn);
    pthread_mutex_unlock(&p->mu);
    if (fi < 0)
        return fi;
    return map_fixed_run(p, fi, in, in_size, out, out_size, n, chunksize, timeout, wait_all);
}

static const weft__executor_ops pool_ops = {
    .name = "process pool",
    .submit = pool_submit,
    .shutdown = pool_shutdown,
    .destroy = pool_destroy,
    .map = pool_map,
};

/* ------------------------------------------- a pool played by hand */

int weft__procpool_new_bare(weft_executor **out, const weft_process_pool_opts *opts)
{
    weft_process_pool_opts o = opts ? *opts : (weft_process_pool_opts){0};
    if (!o.max_workers)
        o.max_workers = 1;
    return pool_new(out, &o, true);
}

int weft__procpool_take_task(weft_executor *ex, weft__rec *h, void *buf, size_t cap)
{
    pool *p = as_pool(ex);
    if (!p || !h || (!buf && cap))
        return WEFT_EINVAL;
    struct ring *r = &p->sh->tasks;
    ring_lock(r);
    weft__rec *t = ring_peek_locked(r);
    int rc = !t ? WEFT_EEMPTY : t->len > cap ? WEFT_EMSGSIZE : 0;
    if (t)
        *h = *t;
    if (rc == 0) {
        if (t->len)
            memcpy(buf, t + 1, t->len);
        ring_pop_locked(r, t);
    }
    ring_unlock(r);
    return rc;
}

int weft__procpool_push_result(weft_executor *ex, const void *data, size_t n)
{
    pool *p = as_pool(ex);
    if (!p || (!data && n))
        return WEFT_EINVAL;
    struct ring *r = &p->sh->results;
    weft__rec h = {0};
    if (n)
        memcpy(&h, data, n < sizeof h ? n : sizeof h);
    size_t alen = n > sizeof h ? n - sizeof h : 0;
    ring_lock(r);
    int rc = ring_push_locked(r, &h, alen ? (const char *)data + sizeof h : NULL, alen, NULL);
    if (rc == 0) {
        /* The push wrote the size and length it knows; the caller's stand. */
        weft__rec *dst = (weft__rec *)(r->data + ((r->tail - rec_size(alen)) & (r->cap - 1)));
        dst->size = h.size;
        dst->len = h.len;
    }
    ring_unlock(r);
    return rc;
}

void weft__procpool_drain(weft_executor *ex)
{
    pool *p = as_pool(ex);
    if (!p)
        return;
    pthread_mutex_lock(&p->drain_mu);
    drain_results(p);
    pthread_mutex_unlock(&p->drain_mu);
    pthread_mutex_lock(&p->mu);
    flush_overflow(p);
    pthread_mutex_unlock(&p->mu);
}
