/*
 * weft_bytes, the process pool's payloads: made by weft_bytes_new and
 * freed by weft_bytes_free, or lent to a task by the pool as its
 * argument; and the checks that a pointer given as one is one. The
 * layout, the two kinds and the direct check are in
 * internal/procpool_shared.h.
 *
 * A pointer given as `void *` (the executor calls, a task's result) may be
 * anything: its head is copied with process_vm_readv on our own pid, which
 * fails with EFAULT where a load would fault, and only then looked at.
 * That system call costs as much as a whole round trip to a worker, so a
 * table of the weft_bytes made lately comes first (g_live): a pointer
 * found there is a live weft_bytes of ours and is read directly. Most
 * are: a task's result was made just before the task returned, and an
 * argument is usually one of the last made.
 */

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include "internal/error.h"
#include "internal/procpool_shared.h"
#include "weft/procpool.h"

_Static_assert(offsetof(weft_bytes, data) == sizeof(weft_bytes),
               "weft_bytes_data is the address right after the struct");
_Static_assert(sizeof(weft__bytes_head) == 16,
               "a weft_bytes after its head keeps malloc's alignment");

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
 * (WEFT__BYTES_OWNED or WEFT__BYTES_BORROWED when of a kind not asked
 * for, else 0). Nothing is read through a pointer: the head and len of each (24 bytes
 * before and at it) are copied by the kernel, a batch at a time, and an
 * address the kernel cannot read ends the batch there. */
size_t weft__bytes_probe(const void *const *ptrs, size_t n, unsigned kinds, uint64_t *kind)
{
    struct raw {
        weft__bytes_head h;
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
                if (!(kinds & 1) || weft__bytes_kind_direct(ptrs[i]) != WEFT__BYTES_OWNED) {
                    *kind = weft__bytes_kind_direct(ptrs[i]);
                    return i;
                }
                continue;
            }
            /* A weft_bytes is aligned as malloc's memory, after a head. */
            if (a % _Alignof(weft_bytes) || a < sizeof(weft__bytes_head) ||
                a > UINTPTR_MAX - sizeof(uint64_t))
                return i;
            at[k] = i;
            local[k] = (struct iovec){&raw[k], sizeof raw[k]};
            remote[k] = (struct iovec){(void *)(a - sizeof(weft__bytes_head)), sizeof raw[k]};
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
            uint64_t m = weft__bytes_kind(b, &raw[j].h, raw[j].len);
            unsigned bit = m == WEFT__BYTES_OWNED ? 1 : m == WEFT__BYTES_BORROWED ? 2 : 0;
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
    if (len > SIZE_MAX - sizeof(weft__bytes_head) - sizeof(weft_bytes) - 1)
        return WEFT_ENOMEM;
    weft__bytes_head *h = malloc(sizeof *h + sizeof(weft_bytes) + len + 1);
    if (!h)
        return WEFT_ENOMEM;
    weft_bytes *b = (weft_bytes *)(h + 1);
    b->len = len;
    if (data)
        memcpy(b->data, data, len);
    else
        memset(b->data, 0, len);
    b->data[len] = 0;
    weft__bytes_mark(b, WEFT__BYTES_OWNED, len);
    __atomic_store_n(live_slot(b), (uintptr_t)b, __ATOMIC_RELEASE);
    *out = b;
    return 0;
}

void weft_bytes_free(weft_bytes *b)
{
    if (!b)
        return;
    uint64_t kind = weft__bytes_kind_direct(b);
    if (kind != WEFT__BYTES_OWNED) {
        weft_report_error("weft_bytes_free", WEFT_EINVAL,
                          kind == WEFT__BYTES_BORROWED
                              ? "not freed: a process pool task's argument belongs to the pool"
                              : "not freed: not a weft_bytes made by weft_bytes_new, or freed "
                                "already");
        return;
    }
    uintptr_t *slot = live_slot(b), was = (uintptr_t)b;
    if (__atomic_load_n(slot, __ATOMIC_RELAXED) == was)
        __atomic_compare_exchange_n(slot, &was, 0, false, __ATOMIC_RELAXED, __ATOMIC_RELAXED);
    weft__bytes_head *h = weft__bytes_head_of(b);
    /* Volatile: a store just before free is otherwise dropped as dead. */
    *(volatile uint64_t *)&h->magic = 0;
    free(h);
}

unsigned char *weft_bytes_data(const weft_bytes *b)
{
    return b ? (unsigned char *)(uintptr_t)b->data : NULL;
}

/* The failure's text when an argument is not a weft_bytes. */
void weft__bytes_bad_arg(const char *call, const char *what)
{
    char msg[256];
    snprintf(msg, sizeof msg,
             "%s: %s is not a weft_bytes made by weft_bytes_new, or was freed (a process pool's "
             "tasks take bytes, or NULL)",
             call, what);
    weft__set_last_message(msg);
}
