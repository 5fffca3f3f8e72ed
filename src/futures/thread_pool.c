/*
 * The thread pool (concurrent.futures.ThreadPoolExecutor).
 *
 * Scheduling is built for the throughput of tiny tasks:
 *
 *   - Tasks wait in a bounded lock-free MPMC ring (Dmitry Vyukov's array
 *     queue: a cell's sequence number says whose turn it is, producers and
 *     consumers each claim a position with one CAS). A task record is three
 *     words stored in the cell, so submitting allocates nothing but the
 *     future, which weft__future_new2 takes from a per-thread cache.
 *   - When the ring is full (a producer far ahead of the workers) tasks go to
 *     an overflow list of chunks under a lock; while the overflow holds
 *     anything, new tasks go there too, so that the order stays FIFO (up to
 *     the races of concurrent submitters). A worker that finds the ring empty
 *     moves a batch from the overflow back into the ring.
 *   - A worker that finds nothing spins briefly, then parks on the pool's
 *     `nsleep` word. Only max_spin workers spin at once (half of those the
 *     CPUs can run at a time, at least one); the others park at once. A
 *     spinner is runnable all the time, and more of them than free CPUs
 *     take the submitter's CPU, slowing the very submits they wait for.
 *     A submit pays for an unpark (a bucket lock and a futex wake) only
 *     when `nsleep` is non-zero: while the workers are busy a submit makes
 *     no system call.
 *
 * Lost wake-ups (the Dekker pattern): a worker increments nsleep (seq_cst
 * RMW) and then looks for work (seq_cst loads of enq_pos, deq_pos and
 * ov_count); a submitter claims its position with a seq_cst CAS of enq_pos
 * (or a seq_cst RMW of ov_count) and then loads nsleep (seq_cst). In the
 * single total order of seq_cst operations one of the two comes first, so
 * either the worker sees the task or the submitter sees the sleeper. A task
 * claimed but not yet published makes has_work() true, so the worker does
 * not park: it loops until the producer's publishing store lands. park's
 * validate repeats the check under the bucket lock, and the unpark callback
 * decrements nsleep under the same lock for the waiters it dequeues.
 *
 * Shutdown and broken pools use a gate word instead of a lock on the submit
 * path: a submitter adds GATE_ONE while it pushes; shutdown (or the
 * initializer's failure) sets a state bit, then waits for the submitters
 * in flight to leave. After that no task can be pushed, so draining the
 * queue (cancel_futures, broken) or telling the workers to exit once it is
 * empty cannot miss one.
 *
 * Workers are weft threads named "<prefix>_<i>". They are daemon threads
 * for weft_shutdown (which joins non-daemon threads), yet exit does wait
 * for the work: every pool is on the executor registry (executor.c), whose
 * exit hook shuts it down and joins its workers, as Python's
 * threading._register_atexit joins ThreadPoolExecutor's. A worker that
 * calls exit() is one the hook cannot join: it runs its own pool's queued
 * tasks itself and joins the others (tp_exit_join).
 *
 * Idle count: a worker counts itself idle (nidle) once it finds no work,
 * and also right after a task returns, before its future is finished, when
 * no more work is visible and the pool may still grow: the caller woken by
 * that future may submit at once, and must find the worker idle rather than
 * start another thread (Python's test_idle_thread_reuse).
 */
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal/clock.h"
#include "internal/executor.h"
#include "internal/future.h"
#include "internal/park.h"
#include "internal/sync.h"
#include "internal/thread.h"
#include "platform/futex.h"
#include "weft/sync.h"
#include "weft/thread.h"

#define MAX_WORKERS_CAP 4096u

/* Ring capacity (a power of two): 32 bytes a cell, 256 KiB a pool. */
#ifndef WEFT_POOL_RING
#define WEFT_POOL_RING 8192u
#endif
#define OV_CHUNK 1024u

/*
 * How an idle worker waits for work before it parks: a few rounds of pause
 * (a submitter that is running delivers within them), then rounds of
 * sched_yield. Yielding matters when the pool is as large as the machine: a
 * submitter feeding two workers on two cores shares a core with one of
 * them, and a worker that pause-spins there takes the submitter's CPU for
 * its whole time slice, which multiplies the time of tiny tasks. With
 * nothing else to run, sched_yield returns at once, so the whole wait is
 * some tens of microseconds before parking.
 */
#ifndef WEFT_POOL_SPIN
#define WEFT_POOL_SPIN 256
#endif
#ifndef WEFT_POOL_PAUSE_ROUNDS
#define WEFT_POOL_PAUSE_ROUNDS 32
#endif

#define GATE_SHUT 1u
#define GATE_BROKEN 2u
#define GATE_ONE 4u

#define CACHELINE 64

typedef struct task {
    weft_task_fn fn;
    void *arg;
    weft_future *fut; /* the executor's reference */
} task;

/* One cell per cache line: the submitter fills the next cell while a
 * worker reads this one, and sharing a line between them would bounce it
 * on every task. */
typedef struct cell {
    _Alignas(CACHELINE) size_t seq;
    task t;
} cell;

typedef struct ov_chunk {
    struct ov_chunk *next;
    unsigned head, tail;
    task t[OV_CHUNK];
} ov_chunk;

typedef struct pool {
    weft_executor base;
    /* Read-mostly configuration. */
    unsigned max_workers;
    char *prefix;
    int (*initializer)(void *);
    void *initarg;
    cell *ring;
    size_t mask;

    /* Producers' line. */
    _Alignas(CACHELINE) size_t enq_pos;
    /* Consumers' line. */
    _Alignas(CACHELINE) size_t deq_pos;
    /* Submit gate: state bits + GATE_ONE per submitter in flight. Only
     * submitters and shutdown touch it. */
    _Alignas(CACHELINE) unsigned gate;
    /* Idle bookkeeping: touched only when a worker runs out of work. */
    _Alignas(CACHELINE) unsigned nsleep; /* parked (or about to park) workers; also the park key */
    unsigned nidle;                      /* workers that found nothing to do (spinning or parked) */
    unsigned nspin;                      /* workers spinning for work: they need no wake */
    unsigned max_spin;                   /* at most this many spin at once (read-only) */
    unsigned exiting;                    /* set once by shutdown after the gate drained */
    /* Overflow list (rare path). ov_count is read without the lock. */
    _Alignas(CACHELINE) size_t ov_count;
    weft_lock ov_lock;
    ov_chunk *ov_head, *ov_tail, *ov_spare;

    /* Workers: the array only grows, under lock; nthreads is read without. */
    _Alignas(CACHELINE) weft_lock lock;
    unsigned nthreads;
    weft_thread **threads;
    unsigned nalive; /* workers started and not yet returned (atomic) */
    int broken_code;
    char broken_msg[256];
} pool;

static const weft__executor_ops thread_pool_ops;

static unsigned pool_counter;

/* ------------------------------------------------------------ the ring */

static bool ring_push(pool *p, const task *t)
{
    size_t pos = __atomic_load_n(&p->enq_pos, __ATOMIC_RELAXED);
    for (;;) {
        cell *c = &p->ring[pos & p->mask];
        size_t seq = __atomic_load_n(&c->seq, __ATOMIC_ACQUIRE);
        intptr_t dif = (intptr_t)seq - (intptr_t)pos;
        if (dif == 0) {
            /* seq_cst: half of the sleeper handshake (see the top). */
            if (__atomic_compare_exchange_n(&p->enq_pos, &pos, pos + 1, true, __ATOMIC_SEQ_CST,
                                            __ATOMIC_RELAXED)) {
                c->t = *t;
                /* Release: the consumer that sees seq == pos + 1 sees t. */
                __atomic_store_n(&c->seq, pos + 1, __ATOMIC_RELEASE);
                return true;
            }
        } else if (dif < 0) {
            return false; /* full */
        } else {
            pos = __atomic_load_n(&p->enq_pos, __ATOMIC_RELAXED);
        }
    }
}

static bool ring_pop(pool *p, task *t)
{
    size_t pos = __atomic_load_n(&p->deq_pos, __ATOMIC_RELAXED);
    for (;;) {
        cell *c = &p->ring[pos & p->mask];
        size_t seq = __atomic_load_n(&c->seq, __ATOMIC_ACQUIRE);
        intptr_t dif = (intptr_t)seq - (intptr_t)(pos + 1);
        if (dif == 0) {
            if (__atomic_compare_exchange_n(&p->deq_pos, &pos, pos + 1, true, __ATOMIC_RELAXED,
                                            __ATOMIC_RELAXED)) {
                *t = c->t;
                /* Release: the producer a lap later sees our read done. */
                __atomic_store_n(&c->seq, pos + p->mask + 1, __ATOMIC_RELEASE);
                return true;
            }
        } else if (dif < 0) {
            return false; /* empty (or the next task is claimed, not yet published) */
        } else {
            pos = __atomic_load_n(&p->deq_pos, __ATOMIC_RELAXED);
        }
    }
}

/* Whether the next ring cell holds a task, or the overflow does: what an
 * idle worker polls. Unlike has_work it reads no line the submitters write
 * on every push but the cell itself, which the worker must read anyway, so
 * polling does not make every submit's claim of enq_pos miss the cache. */
static bool work_visible(pool *p)
{
    size_t pos = __atomic_load_n(&p->deq_pos, __ATOMIC_RELAXED);
    const cell *c = &p->ring[pos & p->mask];
    return __atomic_load_n(&c->seq, __ATOMIC_ACQUIRE) == pos + 1 ||
           __atomic_load_n(&p->ov_count, __ATOMIC_RELAXED) != 0;
}

/* Work queued or being pushed: the worker's half of the handshake. */
static bool has_work(pool *p)
{
    return __atomic_load_n(&p->enq_pos, __ATOMIC_SEQ_CST) !=
               __atomic_load_n(&p->deq_pos, __ATOMIC_SEQ_CST) ||
           __atomic_load_n(&p->ov_count, __ATOMIC_SEQ_CST) != 0;
}

/* --------------------------------------------------------- overflow */

/* ov_lock held. */
static int ov_push_locked(pool *p, const task *t)
{
    ov_chunk *c = p->ov_tail;
    if (!c || c->tail == OV_CHUNK) {
        ov_chunk *n = p->ov_spare;
        if (n) {
            p->ov_spare = NULL;
        } else if (!(n = malloc(sizeof *n))) {
            return WEFT_ENOMEM;
        }
        n->next = NULL;
        n->head = n->tail = 0;
        if (c)
            c->next = n;
        else
            p->ov_head = n;
        p->ov_tail = n;
        c = n;
    }
    c->t[c->tail++] = *t;
    /* seq_cst RMW: the submitter's half of the handshake on this path. */
    __atomic_fetch_add(&p->ov_count, 1, __ATOMIC_SEQ_CST);
    return 0;
}

/* ov_lock held. */
static bool ov_pop_locked(pool *p, task *t)
{
    ov_chunk *c = p->ov_head;
    if (!c || c->head == c->tail)
        return false;
    *t = c->t[c->head++];
    __atomic_fetch_sub(&p->ov_count, 1, __ATOMIC_SEQ_CST);
    if (c->head == c->tail) {
        p->ov_head = c->next;
        if (!p->ov_head)
            p->ov_tail = NULL;
        if (!p->ov_spare)
            p->ov_spare = c;
        else
            free(c);
    }
    return true;
}

/* Take a task: the ring first, then (refilling the ring from) the overflow. */
static bool take(pool *p, task *t)
{
    if (ring_pop(p, t))
        return true;
    if (__atomic_load_n(&p->ov_count, __ATOMIC_RELAXED) == 0)
        return false;
    weft__lock_take(&p->ov_lock);
    bool got = ov_pop_locked(p, t);
    /* Move a batch into the ring for the other workers; they are older
     * than anything a submitter adds meanwhile (it goes to the overflow
     * while ov_count is non-zero). */
    task m;
    for (unsigned i = 0; got && i < WEFT_POOL_RING / 2; i++) {
        ov_chunk *c = p->ov_head;
        if (!c || c->head == c->tail)
            break;
        m = c->t[c->head];
        if (!ring_push(p, &m))
            break;
        ov_pop_locked(p, &m);
    }
    weft_lock_release(&p->ov_lock);
    return got;
}

static int push(pool *p, const task *t)
{
    if (__atomic_load_n(&p->ov_count, __ATOMIC_RELAXED) == 0 && ring_push(p, t))
        return 0;
    weft__lock_take(&p->ov_lock);
    int rc = ov_push_locked(p, t);
    weft_lock_release(&p->ov_lock);
    return rc;
}

/* An estimate (it only steers spawning and waking): deq_pos is loaded
 * first, so pops between the two loads cannot make it pass enq_pos and wrap
 * the difference around. */
static size_t queued_count(pool *p)
{
    size_t deq = __atomic_load_n(&p->deq_pos, __ATOMIC_SEQ_CST);
    size_t enq = __atomic_load_n(&p->enq_pos, __ATOMIC_SEQ_CST);
    return (enq > deq ? enq - deq : 0) + __atomic_load_n(&p->ov_count, __ATOMIC_SEQ_CST);
}

/* ---------------------------------------------------------- sleeping */

static uintptr_t unpark_cb(void *ctx, weft__unpark_result r)
{
    pool *p = ctx;
    /* Under the bucket lock: the dequeued waiters are no longer sleepers,
     * so later submits do not try to wake them again. */
    if (r.unparked)
        __atomic_fetch_sub(&p->nsleep, (unsigned)r.unparked, __ATOMIC_SEQ_CST);
    return 0;
}

static bool park_validate(void *ctx)
{
    pool *p = ctx;
    return !has_work(p) && !__atomic_load_n(&p->exiting, __ATOMIC_SEQ_CST);
}

/* Wake a sleeper unless a worker is spinning: the spinner will see the
 * task (it stops counting in nspin before it parks and looks for work once
 * more after nsleep++, so the handshake above still holds), and when it
 * takes one it wakes a sleeper if more work waits. When the workers drain
 * the queue faster than one submitter fills it, this saves a futex wake
 * per submit. */
static void wake_one(pool *p)
{
    if (__atomic_load_n(&p->nsleep, __ATOMIC_SEQ_CST) &&
        !__atomic_load_n(&p->nspin, __ATOMIC_SEQ_CST))
        weft__unpark(&p->nsleep, 1, unpark_cb, p);
}

/* ------------------------------------------------------------ workers */

static void drain_failing(pool *p, int code, const char *msg)
{
    task t;
    for (;;) {
        bool got = ring_pop(p, &t);
        if (!got) {
            weft__lock_take(&p->ov_lock);
            got = ov_pop_locked(p, &t);
            weft_lock_release(&p->ov_lock);
        }
        if (!got)
            return;
        if (code == WEFT_ECANCELLED)
            weft_future_cancel(t.fut);
        else
            weft__future_fail_pending(t.fut, code, msg);
        weft_future_unref(t.fut);
    }
}

/* Wait for the submitters inside the gate to leave (a few instructions
 * each: they never block inside it). */
static void gate_drain(pool *p)
{
    while (__atomic_load_n(&p->gate, __ATOMIC_ACQUIRE) >= GATE_ONE)
        sched_yield();
}

static void pool_break(pool *p, int code, const char *why)
{
    weft__lock_take(&p->lock);
    if (!p->broken_code) {
        p->broken_code = code;
        snprintf(p->broken_msg, sizeof p->broken_msg,
                 "a thread initializer failed (%s: %s), the thread pool is not usable anymore",
                 weft_err_name(code), why);
    }
    __atomic_fetch_or(&p->gate, GATE_BROKEN, __ATOMIC_SEQ_CST);
    weft_lock_release(&p->lock);
    gate_drain(p);
    drain_failing(p, WEFT_EBROKEN, p->broken_msg);
}

static int init_task(void *arg, void **result)
{
    pool *p = arg;
    (void)result;
    return p->initializer(p->initarg);
}

/* Run the initializer as a task, so that it may attach a message to its
 * failure (weft_task_set_message). A failure is reported, naming the
 * worker, its pool and the error, as Python logs "Exception in
 * initializer", and breaks the pool. Returns its code. */
static int run_initializer(pool *p)
{
    weft_future *f;
    int rc;
    const char *msg = NULL;
    if (weft__future_new2(&f) == 0) {
        rc = weft__future_run(f, init_task, p);
        msg = weft_future_message(f);
    } else {
        f = NULL;
        rc = p->initializer(p->initarg);
        if (rc > 0)
            rc = WEFT_EINVAL;
    }
    if (rc != 0) {
        const char *why = msg ? msg : weft_strerror(rc);
        char text[512];
        snprintf(text, sizeof text, "in worker %s of thread pool %s: %s; the pool is broken",
                 weft_thread_name(weft_current_thread()), p->prefix, why);
        weft_report_error("thread pool initializer", rc, text);
        pool_break(p, rc, why);
    }
    if (f) {
        weft_future_unref(f);
        weft_future_unref(f);
    }
    return rc;
}

/* What a worker runs a task through: the task, then, before the future is
 * finished, the idle count (see the top). */
typedef struct run_ctx {
    pool *p;
    const task *t;
    bool *idle;
} run_ctx;

static int run_task(void *arg, void **result)
{
    run_ctx *c = arg;
    int rc = c->t->fn(c->t->arg, result);
    pool *p = c->p;
    if (__atomic_load_n(&p->nthreads, __ATOMIC_RELAXED) < p->max_workers && !work_visible(p)) {
        /* seq_cst RMW before the future's release: a submitter woken by
         * the future sees it. */
        __atomic_fetch_add(&p->nidle, 1, __ATOMIC_SEQ_CST);
        *c->idle = true;
    }
    return rc;
}

static void *worker_main(void *arg)
{
    pool *p = arg;
    weft__executor_worker_enter(&p->base);
    if (p->initializer && run_initializer(p) != 0) {
        weft__executor_worker_enter(NULL);
        __atomic_fetch_sub(&p->nalive, 1, __ATOMIC_RELEASE);
        return NULL;
    }
    bool idle = false; /* counted in nidle */
    task t;
    for (;;) {
        if (take(p, &t)) {
        run:
            if (idle) {
                __atomic_fetch_sub(&p->nidle, 1, __ATOMIC_SEQ_CST);
                idle = false;
            }
            run_ctx rc = {p, &t, &idle};
            weft__future_run(t.fut, run_task, &rc);
            weft_future_unref(t.fut);
            continue;
        }
        /* Acquire: pairs with shutdown's release store, made after every
         * submitter left the gate, so the take below sees every task. */
        if (__atomic_load_n(&p->exiting, __ATOMIC_ACQUIRE)) {
            if (take(p, &t))
                goto run;
            break;
        }
        if (!idle) {
            __atomic_fetch_add(&p->nidle, 1, __ATOMIC_SEQ_CST);
            idle = true;
        }
        bool found = false;
        /* Become a spinner if fewer than max_spin are; else park now. */
        unsigned ns = __atomic_load_n(&p->nspin, __ATOMIC_RELAXED);
        bool spin = false;
        while (ns < p->max_spin && !(spin = __atomic_compare_exchange_n(
                                         &p->nspin, &ns, ns + 1, true, __ATOMIC_SEQ_CST,
                                         __ATOMIC_RELAXED)))
            ;
        for (int i = 0; spin && i < WEFT_POOL_SPIN; i++) {
            if (work_visible(p) || __atomic_load_n(&p->exiting, __ATOMIC_RELAXED)) {
                found = true;
                break;
            }
            if (i < WEFT_POOL_PAUSE_ROUNDS)
                weft__cpu_relax();
            else
                sched_yield();
        }
        if (spin)
            __atomic_fetch_sub(&p->nspin, 1, __ATOMIC_SEQ_CST);
        if (found) {
            /* Submitters skipped waking sleepers while we spun: pass the
             * wake on if there is more than we will take. */
            if (__atomic_load_n(&p->nsleep, __ATOMIC_RELAXED) && queued_count(p) > 1)
                wake_one(p);
            continue;
        }
        __atomic_fetch_add(&p->nsleep, 1, __ATOMIC_SEQ_CST);
        weft__park_spec spec = {
            .validate = park_validate,
            .ctx = p,
            .why = WEFT_WAIT_QUEUE,
            .what = p,
        };
        /* Woken: the unparker decremented nsleep for us. Refused (work
         * arrived meanwhile): we undo our own increment. */
        if (weft__park(&p->nsleep, &spec, WEFT__NO_DEADLINE, NULL) != 0)
            __atomic_fetch_sub(&p->nsleep, 1, __ATOMIC_SEQ_CST);
    }
    if (idle)
        __atomic_fetch_sub(&p->nidle, 1, __ATOMIC_SEQ_CST);
    weft__executor_worker_enter(NULL);
    __atomic_fetch_sub(&p->nalive, 1, __ATOMIC_RELEASE);
    return NULL;
}

/* Start one more worker if below max. Returns 0 or the start's error. */
static int spawn(pool *p)
{
    int rc = 0;
    weft__lock_take(&p->lock);
    unsigned n = p->nthreads;
    if (n < p->max_workers) {
        /* The whole prefix, however long, and the worker's number. */
        size_t len = strlen(p->prefix) + 16;
        char *name = malloc(len);
        if (!name) {
            weft_lock_release(&p->lock);
            return WEFT_ENOMEM;
        }
        snprintf(name, len, "%s_%u", p->prefix, n);
        weft_thread_opts o = {.name = name, .daemon = WEFT_DAEMON_YES};
        weft_thread *t;
        rc = weft_thread_new(&t, worker_main, p, &o);
        free(name);
        if (rc == 0) {
            /* Counted before it starts: it may return at once (its
             * initializer failed). */
            __atomic_fetch_add(&p->nalive, 1, __ATOMIC_RELAXED);
            if ((rc = weft_thread_start(t)) != 0) {
                __atomic_fetch_sub(&p->nalive, 1, __ATOMIC_RELAXED);
                weft_thread_unref(t);
            }
        }
        if (rc == 0) {
            p->threads[n] = t;
            __atomic_store_n(&p->nthreads, n + 1, __ATOMIC_RELEASE);
        }
    }
    weft_lock_release(&p->lock);
    return rc;
}

/* ------------------------------------------------------------- the ops */

static int tp_submit(weft_executor *ex, weft_task_fn fn, void *arg, weft_future **out)
{
    pool *p = (pool *)ex;
    unsigned g = __atomic_fetch_add(&p->gate, GATE_ONE, __ATOMIC_ACQUIRE);
    int rc = 0;
    if (g & (GATE_SHUT | GATE_BROKEN)) {
        rc = (g & GATE_BROKEN) ? WEFT_EBROKEN : WEFT_ESHUTDOWN;
        goto out;
    }
    weft_future *f;
    if ((rc = weft__future_new2(&f)) != 0)
        goto out;
    task t = {fn, arg, f};
    if ((rc = push(p, &t)) != 0) {
        weft_future_unref(f);
        weft_future_unref(f);
        goto out;
    }
    /* Python's _adjust_thread_count: start a worker unless an idle one can
     * take the task. Counting queued tasks (ours included) against idle
     * workers, not just "is anyone idle", keeps a worker that is idle now
     * but about to take an earlier task from counting for this one too.
     * Once max_workers run, this costs one load of a read-mostly line.
     * nidle is read before the queue: a worker takes a task before it
     * leaves nidle, so reading nidle after it left would pair an idle count
     * without it with a queue that still held its task, and start a worker
     * nobody needs. */
    if (__atomic_load_n(&p->nthreads, __ATOMIC_ACQUIRE) < p->max_workers) {
        unsigned idle = __atomic_load_n(&p->nidle, __ATOMIC_SEQ_CST);
        if (queued_count(p) > idle) {
            int src = spawn(p);
            /* No worker at all to run it: refuse the task. The queued
             * record stays; the worker that pops it some day finds the
             * future done and skips it. If a worker started meanwhile and
             * already runs it, the submit stands. */
            if (src != 0 && __atomic_load_n(&p->nthreads, __ATOMIC_ACQUIRE) == 0 &&
                weft__future_fail_pending(f, src, "could not start a worker thread") == 0) {
                weft_future_unref(f);
                rc = src;
                goto out;
            }
        }
    }
    *out = f;
out:
    /* Wake before leaving the gate: once we are out, a shutdown may see the
     * gate empty, join the workers and free the pool under us. wake_one
     * never blocks (a bucket lock and a futex wake at most). */
    if (rc == 0)
        wake_one(p);
    /* Release: shutdown's acquire load of the gate sees our push done. */
    __atomic_fetch_sub(&p->gate, GATE_ONE, __ATOMIC_RELEASE);
    return rc;
}

static int tp_shutdown(weft_executor *ex, bool cancel_futures, bool wait, int64_t deadline)
{
    pool *p = (pool *)ex;
    __atomic_fetch_or(&p->gate, GATE_SHUT, __ATOMIC_SEQ_CST);
    gate_drain(p);
    if (cancel_futures)
        drain_failing(p, WEFT_ECANCELLED, NULL);
    /* Release: a worker that sees exiting sees every push (see worker_main). */
    __atomic_store_n(&p->exiting, 1, __ATOMIC_SEQ_CST);
    weft__unpark(&p->nsleep, SIZE_MAX, unpark_cb, p);
    if (!wait)
        return 0;
    if (weft__executor_of_worker() == ex)
        return WEFT_EDEADLK;
    /* No worker can be added now (submits are refused), so the array is
     * stable; many threads may join the same worker. */
    unsigned n = __atomic_load_n(&p->nthreads, __ATOMIC_ACQUIRE);
    for (unsigned i = 0; i < n; i++) {
        int rc = weft_thread_join(p->threads[i], weft__remaining(deadline));
        if (rc)
            return rc;
    }
    return 0;
}

/* The exit hook's join. From one of the pool's own workers (it called
 * exit() inside a task) the worker cannot wait for itself: the pool is shut
 * down, this thread runs what is still queued, and the other workers are
 * joined. */
static void tp_exit_join(weft_executor *ex)
{
    pool *p = (pool *)ex;
    if (weft__executor_of_worker() != ex) {
        tp_shutdown(ex, false, true, WEFT__NO_DEADLINE);
        return;
    }
    tp_shutdown(ex, false, false, 0);
    task t;
    while (take(p, &t)) {
        weft__future_run(t.fut, t.fn, t.arg);
        weft_future_unref(t.fut);
    }
    weft_thread *self = weft_current_thread();
    unsigned n = __atomic_load_n(&p->nthreads, __ATOMIC_ACQUIRE);
    for (unsigned i = 0; i < n; i++)
        if (p->threads[i] != self)
            weft_thread_join(p->threads[i], WEFT_FOREVER);
}

static void tp_destroy(weft_executor *ex)
{
    pool *p = (pool *)ex;
    for (unsigned i = 0; i < p->nthreads; i++)
        weft_thread_unref(p->threads[i]);
    /* The workers emptied the queue before exiting, but a task whose submit
     * failed because no worker could be started stays queued (its future
     * already failed) when none ever started: drop the executor's
     * references to those. */
    task t;
    while (take(p, &t))
        weft_future_unref(t.fut);
    while (p->ov_head) {
        ov_chunk *c = p->ov_head;
        p->ov_head = c->next;
        free(c);
    }
    free(p->ov_spare);
    free(p->threads);
    free(p->ring);
    free(p->prefix);
    free(p);
}

static const weft__executor_ops thread_pool_ops = {
    .name = "thread_pool",
    .submit = tp_submit,
    .shutdown = tp_shutdown,
    .destroy = tp_destroy,
    .exit_join = tp_exit_join,
};

/* ------------------------------------------------------------ creation */

int weft_thread_pool_new(weft_executor **out, const weft_thread_pool_opts *opts)
{
    static const weft_thread_pool_opts defaults;
    if (!out)
        return WEFT_EINVAL;
    if (!opts)
        opts = &defaults;
    if (opts->max_workers > MAX_WORKERS_CAP)
        return WEFT_EINVAL;
    pool *p = calloc(1, sizeof *p);
    if (!p)
        return WEFT_ENOMEM;
    p->base.ops = &thread_pool_ops;
    unsigned cpus = weft__cpu_count();
    p->max_workers = opts->max_workers ? opts->max_workers : (cpus + 4 < 32 ? cpus + 4 : 32);
    p->initializer = opts->initializer;
    p->initarg = opts->initarg;
    /* An empty prefix is no prefix, as Python's `thread_name_prefix or
     * default`. */
    if (opts->thread_name_prefix && opts->thread_name_prefix[0]) {
        p->prefix = strdup(opts->thread_name_prefix);
    } else {
        char buf[48];
        snprintf(buf, sizeof buf, "ThreadPoolExecutor-%u",
                 __atomic_fetch_add(&pool_counter, 1, __ATOMIC_RELAXED));
        p->prefix = strdup(buf);
    }
    p->threads = calloc(p->max_workers, sizeof *p->threads);
    p->ring = aligned_alloc(CACHELINE, WEFT_POOL_RING * sizeof *p->ring);
    if (!p->prefix || !p->threads || !p->ring) {
        free(p->prefix);
        free(p->threads);
        free(p->ring);
        free(p);
        return WEFT_ENOMEM;
    }
    unsigned active = p->max_workers < cpus ? p->max_workers : cpus;
    p->max_spin = active / 2 ? active / 2 : 1;
    p->mask = WEFT_POOL_RING - 1;
    for (size_t i = 0; i < WEFT_POOL_RING; i++)
        p->ring[i].seq = i;
    weft__executor_register(&p->base);
    *out = &p->base;
    return 0;
}

unsigned weft_thread_pool_workers_len(const weft_executor *ex)
{
    if (!ex || ex->ops != &thread_pool_ops)
        return 0;
    return __atomic_load_n(&((const pool *)ex)->nalive, __ATOMIC_ACQUIRE);
}

/* ------------------------------------------------------ default executor */

static pthread_once_t default_once = PTHREAD_ONCE_INIT;
static weft_executor *default_ex;

/* The default pool is on the exit registry like every pool: exit shuts it
 * down and waits for what was submitted. It is never freed: another exit
 * handler may still hold the pointer (its submits get WEFT_ESHUTDOWN). */
static void default_init(void)
{
    weft_executor *ex;
    if (weft_thread_pool_new(&ex, NULL) != 0)
        return;
    ex->borrowed = true;
    __atomic_store_n(&default_ex, ex, __ATOMIC_RELEASE);
}

weft_executor *weft_default_executor(void)
{
    pthread_once(&default_once, default_init);
    return __atomic_load_n(&default_ex, __ATOMIC_ACQUIRE);
}
