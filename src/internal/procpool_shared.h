/*
 * What the process pool's parent and its workers share. The shared state
 * (weft__pp_shared, in shared memory, so every worker sees it at the same
 * address under every start method): two rings of records, tasks from the
 * parent to any worker and results from the workers to the parent, a table
 * of function references, and a slot per worker. The weft_bytes the
 * records' payloads become, and how a pointer is checked to be one. A
 * worker's entry points.
 *
 * Wake-ups: a worker with nothing to do spins for a moment, then sleeps on
 * the task ring's wait word (xword, internal/xwait.h), which counts its
 * sleepers so that a push makes no system call while every worker is
 * busy. The
 * parent's collector thread sleeps in poll() on an eventfd and the workers'
 * pidfds (a dead worker is seen at once); a worker writes the eventfd after
 * a push only when the collector said it sleeps and no parent thread is
 * helping. A thread waiting on one of the pool's futures helps (pool_help,
 * through the future's owner hook): it spins on the result ring and drains
 * it itself, so a round trip costs no wake-up on the parent's side, where
 * a futex wake-up costs more than the rest of the round trip.
 */
#ifndef WEFT_INTERNAL_PROCPOOL_SHARED_H
#define WEFT_INTERNAL_PROCPOOL_SHARED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "internal/fnref.h"
#include "internal/procpool.h"
#include "internal/procpool_ring.h"
#include "weft/procpool.h"

#define WEFT__PP_MAX_FNS 256

/* A worker's slot's state: the worker sets RETIRING (max_tasks_per_child
 * reached) or INIT_FAILED before it exits. */
enum { WEFT__W_FREE, WEFT__W_RUNNING, WEFT__W_RETIRING, WEFT__W_INIT_FAILED };

/* A worker's slot, in shared memory; the parent sets it up when it starts
 * the worker. */
typedef struct weft__worker_slot {
    int32_t pid;
    uint32_t state;
    weft__xword ack; /* word 1: the parent has opened the worker's large result */
    /* The id + 1 of the task record the worker took and has not answered
     * yet, 0 for none: the task a worker that dies was running, and the
     * task whose future reads RUNNING (pool_refresh, weft__pp_note_started).
     * Written by the worker alone, before it runs the task (release); the
     * parent reads it at any time for the state, and once the worker is
     * dead and reaped for its last task (the reap orders it after the
     * worker's last store). */
    uint64_t running;
    int32_t init_code; /* the initializer's code, before WEFT__W_INIT_FAILED */
} weft__worker_slot;

/* The state the parent and its workers share, in shared memory. */
typedef struct weft__pp_shared {
    weft__ring tasks;
    weft__ring results;
    uint32_t stop;             /* workers exit when the task ring is empty */
    uint32_t collector_sleeps; /* write the eventfd after a result push */
    uint32_t helpers;          /* parent threads taking results themselves */
    uint32_t want_space;       /* the parent has overflow: eventfd after a pop */
    int evfd;                  /* registered: the same number in every worker */
    uint32_t max_tasks;
    int32_t init_fn; /* index in fns, -1 none */
    uint32_t initarg_len;
    uint32_t nfns;
    weft__fnref fns[WEFT__PP_MAX_FNS];
    unsigned nworkers;
    weft__worker_slot *slots; /* shared too */
    unsigned char *initarg;   /* shared too */
} weft__pp_shared;

/* ------------------------------------------------------------- bytes */

/* A weft_bytes's allocation is a head (weft__bytes_head: cap, magic), the
 * weft_bytes (len), its bytes and a 0 byte. The magic, XORed with the
 * weft_bytes's address, says whose the memory is:
 *   WEFT__BYTES_OWNED     made by weft_bytes_new: its holder frees it, a
 *                         task may return it. Every weft_bytes weft gives
 *                         out (a future's result, a map's) is one.
 *   WEFT__BYTES_BORROWED  a task's argument in a worker: the pool's buffer
 *                         (or its mapping of a large argument), which the
 *                         task may read and pass on but not free or return.
 * weft_bytes_free clears the magic before the memory goes back, so a freed
 * one no longer passes (until its memory is a weft_bytes again). */
#define WEFT__BYTES_OWNED 0x5746b7e5c0ffee01ULL
#define WEFT__BYTES_BORROWED 0x5746b7e5b0aaed02ULL

static inline weft__bytes_head *weft__bytes_head_of(const weft_bytes *b)
{
    return (weft__bytes_head *)((uintptr_t)b - sizeof(weft__bytes_head));
}

static inline void weft__bytes_mark(weft_bytes *b, uint64_t kind, size_t cap)
{
    weft__bytes_head *h = weft__bytes_head_of(b);
    h->cap = cap;
    h->magic = kind ^ (uintptr_t)b;
}

/* What the head and len say of b: WEFT__BYTES_OWNED, WEFT__BYTES_BORROWED
 * or 0. */
static inline uint64_t weft__bytes_kind(const weft_bytes *b, const weft__bytes_head *h,
                                        size_t len)
{
    uint64_t m = h->magic ^ (uintptr_t)b;
    if ((m != WEFT__BYTES_OWNED && m != WEFT__BYTES_BORROWED) || len > h->cap)
        return 0;
    return m;
}

/* A pointer given with its type (the process pool's own calls,
 * weft_bytes_free) is trusted to point at memory: its head is read
 * directly. One given as `void *` is probed (weft__bytes_probe, bytes.c). */
static inline uint64_t weft__bytes_kind_direct(const weft_bytes *b)
{
    return weft__bytes_kind(b, weft__bytes_head_of(b), b->len);
}

size_t weft__bytes_probe(const void *const *ptrs, size_t n, unsigned kinds, uint64_t *kind);
/* weft_last_message when `call` was given, as `what`, an argument that is
 * not a weft_bytes. */
void weft__bytes_bad_arg(const char *call, const char *what);

/* ------------------------------------------------------------ worker */

/* What a worker process starts with (weft__worker_main's argument, in
 * shared memory): its pool, and its index in the workers' slots. */
typedef struct weft__worker_arg {
    weft__pp_shared *sh;
    unsigned index;
} weft__worker_arg;

/* A worker process's body (worker.c). */
int weft__worker_main(void *arg);

/* A starmap call's item (packed by weft__procpool_starmap_start): a
 * header, then each argument laid out as a weft_bytes after room for its
 * head (a u64 length, WEFT__NO_ITEM for NULL, and the bytes padded to 8),
 * so that the arguments are handed to the function where they lie. */
typedef struct weft__star_head {
    uint32_t magic;
    int32_t fn; /* the user's function's index in the pool's table */
    uint64_t nargs;
} weft__star_head;

#define WEFT__STAR_MAGIC 0x57535452u
#define WEFT__STAR_ARG_ROOM(len)                                                               \
    (sizeof(weft__bytes_head) + sizeof(weft_bytes) + WEFT__PAD8(len))

/* The task a starmap's items run as (in a worker): unpack the call's
 * arguments and call the user's function with them. */
int weft__star_call(void *arg, void **result);

#endif
