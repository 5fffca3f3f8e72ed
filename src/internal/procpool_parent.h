/*
 * How the process pool's parent holds a pool (weft__procpool), for the
 * files of its side: tasks.c, results.c, shutdown.c, submit.c,
 * collector.c, map.c and procpool.c, in that order from the ground up
 * (each calls only into those before it; procpool.c holds the executor's
 * ops and checks every call's input).
 *
 * A submit finds a slot for its future in a table (ids carry a generation,
 * so a stale result is recognised), and pushes the record; a full task
 * ring sends it to an overflow list the collector drains as the workers
 * make room. The future stays PENDING, and can be cancelled, until a
 * worker takes its record out of the ring (pool_cancel): the worker then
 * names the task in its slot, and a read of the future's state, or the
 * collector, marks it RUNNING (pool_refresh, weft__pp_note_started).
 *
 * "With mu held" below means the pool's mu. Lock order: drain_mu, then
 * mu, then a ring's lock.
 */
#ifndef WEFT_INTERNAL_PROCPOOL_PARENT_H
#define WEFT_INTERNAL_PROCPOOL_PARENT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "internal/executor.h"
#include "internal/fnref.h"
#include "internal/procpool.h"
#include "internal/procpool_ring.h"
#include "internal/procpool_shared.h"
#include "internal/xwait.h"
#include "weft/future.h"
#include "weft/process.h"
#include "weft/sync.h"

/* A map's destination, shared by its chunks. Detached (out == NULL) when
 * the map returns early, so a late chunk writes nowhere. */
typedef struct weft__map_job {
    unsigned refs;     /* chunks in flight + the map call; under pool mu */
    void *out;         /* fixed: out array; bytes map: weft_bytes *results[] */
    size_t out_size;   /* fixed items; 0 for a bytes map */
    unsigned char *ok; /* bytes map: ok[i] set once item i succeeded */
    size_t first_err;  /* the first item of the first chunk to fail, SIZE_MAX for none */
} weft__map_job;

/* A task in flight: its slot in the pool's table. */
typedef struct weft__task_slot {
    weft_future *f; /* NULL when free */
    uint32_t gen;
    uint32_t next_free;
    weft__map_job *job; /* chunks only */
    int large_fd;       /* a large argument's memfd, open until the result is in */
    size_t first;       /* the chunk's first item */
    uint32_t count;
    int32_t fn;   /* its function's index (for a dead worker's message) */
    uint64_t seq; /* its task number: 1 for the pool's first task */
    uint64_t pos; /* WEFT__AT_RING: the record's position (weft__ring_push_locked) */
    int where;    /* where the task waits for a worker */
} weft__task_slot;

/* A task's record waits in the overflow list or in the task ring until a
 * worker takes it out of the ring: until then its future is PENDING and
 * can be cancelled (pool_cancel); once taken it is the worker's. */
enum { WEFT__AT_NONE, WEFT__AT_RING, WEFT__AT_OVERFLOW };

/* A future's finish, put off until the pool's lock is let go: finishing
 * runs the future's done callbacks, which may call the pool. code 0:
 * cancelled (its task never started). */
typedef struct weft__doomed {
    weft_future *f;
    int code;
    char *msg;
} weft__doomed;

typedef struct weft__overflow weft__overflow; /* a task record waiting for room (tasks.c) */

/* A process pool, as its parent holds it. */
typedef struct weft__procpool {
    weft_executor base;
    weft__doomed *doom; /* under mu: futures to finish once mu is let go */
    size_t ndoom, doomcap;
    pthread_mutex_t mu;
    weft__pp_shared *sh;
    unsigned n;
    weft_process **procs;    /* NULL once exited and reaped */
    int *pidfds;             /* the workers' exit fds (theirs), -1 with no live worker */
    weft__worker_arg *wargs; /* shared memory: valid in the workers */
    weft_process_opts popts;
    weft__task_slot *slots;
    uint32_t nslots, free_head;
    weft__overflow *ovf_head, *ovf_tail;
    weft__fnptr fnptrs[WEFT__PP_MAX_FNS]; /* the parent's side of sh->fns */
    unsigned pending;                     /* futures not yet completed */
    uint64_t tasks; /* tasks submitted so far: the last one's number */
    bool shutdown, broken, stopped, terminated;
    int broken_code;
    pthread_t collector;
    bool collector_started;
    weft_event done; /* the collector has finished */
    /* Whoever takes results off the ring (the collector, or a thread
     * waiting on one of the pool's futures) holds drain_mu. */
    pthread_mutex_t drain_mu;
    weft__wbuf drain_buf;
    /* The executor's reference and one per live future: a thread may still
     * be in pool_help for a future when the executor is freed. */
    unsigned refs;
} weft__procpool;

#define WEFT__NO_SLOT UINT32_MAX

static inline uint64_t weft__pp_slot_id(const weft__procpool *p, uint32_t i)
{
    return (uint64_t)p->slots[i].gen << 32 | i;
}

/* With mu held: whether slot i holds the task whose id is `id`. */
static inline bool weft__pp_slot_holds(const weft__procpool *p, uint32_t i, uint64_t id)
{
    return i < p->nslots && p->slots[i].f && weft__pp_slot_id(p, i) == id;
}

/* Wake up to n workers asleep on the task ring (none: no system call). */
static inline void weft__pp_wake_workers(weft__pp_shared *sh, int n)
{
    weft__xword_wake(&sh->tasks.items, n);
}

/* tasks.c: the table of tasks in flight; each with mu held. */
int weft__pp_fn_index(weft__procpool *p, weft__fnptr fn);
int weft__pp_slot_alloc(weft__procpool *p, uint32_t *out);
void weft__pp_slot_release(weft__procpool *p, uint32_t i);
void weft__pp_job_unref(weft__map_job *j);
int weft__pp_enqueue(weft__procpool *p, uint32_t i, const weft__rec *h, const void *a,
                     size_t alen);
void weft__pp_flush_overflow(weft__procpool *p);
void weft__pp_note_started(weft__procpool *p);
void weft__pp_doom(weft__procpool *p, weft_future *f, int code, const char *msg);
void weft__pp_note_chunk_error(weft__task_slot *s);
void weft__pp_cancel_queued(weft__procpool *p);
void weft__pp_fail_all(weft__procpool *p, int code, const char *msg);
void weft__pp_break_pool(weft__procpool *p, const char *why);
/* tasks.c, with mu not held: finish the futures doomed so far. */
void weft__pp_finish_doomed(weft__procpool *p);

/* results.c: take every result off the ring (with drain_mu held). */
bool weft__pp_drain_results(weft__procpool *p);

/* shutdown.c */
int weft__pp_shutdown(weft_executor *ex, bool cancel_futures, bool wait, int64_t deadline);
void weft__pp_force_shutdown(weft__procpool *p, bool term, int code, const char *msg);
void weft__pp_unref(weft__procpool *p);
void weft__pp_release(weft__procpool *p);
void weft__pp_destroy(weft_executor *ex);

/* submit.c */
int weft__pp_future_new(weft__procpool *p, uint32_t i, weft_future **out);
int weft__pp_outer_future_new(weft__procpool *p, weft_future **out);
int weft__pp_submit(weft__procpool *p, weft_task_fn fn, const weft_bytes *b, weft_future **out);

/* collector.c */
int weft__pp_start_worker(weft__procpool *p, unsigned i);
void *weft__pp_collector_main(void *arg);

/* map.c: the calls of procpool.c and internal/procpool.h, for a pool and
 * arguments checked already. */
int weft__pp_map_start(weft__procpool *p, weft_task_fn fn, const weft_bytes *const *args,
                       weft_bytes **results, size_t n, size_t chunksize, weft__map_run *run);
int weft__pp_starmap_start(weft__procpool *p, weft_star_fn fn, const weft_bytes *const *args,
                           size_t nargs, weft_bytes **results, size_t n, size_t chunksize,
                           weft__map_run *run);
int weft__pp_map_bytes(weft__procpool *p, weft_task_fn fn, const weft_bytes *const *args,
                       weft_bytes **results, size_t n, size_t chunksize, double timeout);
int weft__pp_map_fixed(weft__procpool *p, weft_item_fn fn, const void *in, size_t in_size,
                       void *out, size_t out_size, size_t n, size_t chunksize, double timeout,
                       bool wait_all);

#endif
