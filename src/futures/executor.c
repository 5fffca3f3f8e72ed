/*
 * The executor interface: the public calls dispatch through the backend's
 * table (src/internal/executor.h); map is written once here, on submit.
 *
 * map's memory: the chunk tasks may outlive the call (a timeout or an error
 * returns while tasks still run; Python's map leaves them running too). So
 * nothing a task touches belongs to the caller: one block holds the chunk
 * records, a copy of args and the tasks' own result slots, and is freed by
 * whoever drops the last reference to it: the map call, or the done
 * callback of the last straggler. Results are copied to the caller's array
 * as each chunk is collected, in order.
 *
 * The exit registry: a list of the live executors, under one mutex, and an
 * atexit handler that shuts each one down and waits for it, one at a time.
 * The lock is never held across a shutdown: while the hook waits for an
 * executor it marks it busy, and a weft_executor_free of that executor
 * (from another thread, concurrently with exit) waits on the condition
 * variable until the hook is done with it before destroying it. The hook
 * walks the list from the head after each executor, since the list may
 * have changed meanwhile; exit_done keeps it from visiting one twice.
 * fork: the child gets the list of its parent's executors, whose workers
 * it does not have; the child handler empties the list and bumps the
 * generation, so that the parent's executors, if the child frees them, are
 * recognised as not linked here.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal/clock.h"
#include "internal/error.h"
#include "internal/executor.h"
#include "internal/future.h"

/* ------------------------------------------------------ exit registry */

static pthread_mutex_t reg_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t reg_cv = PTHREAD_COND_INITIALIZER;
static pthread_once_t reg_once = PTHREAD_ONCE_INIT;
static weft_executor reg_head = {.exit_next = &reg_head, .exit_prev = &reg_head};
static unsigned reg_gen = 1; /* under reg_mu */
static bool reg_exiting;     /* under reg_mu: the exit hook has begun */

/* The executor whose worker the calling thread is, if any. */
static _Thread_local weft_executor *tl_worker_of;

void weft__executor_worker_enter(weft_executor *ex)
{
    tl_worker_of = ex;
}

weft_executor *weft__executor_of_worker(void)
{
    return tl_worker_of;
}

static void reg_atfork_prepare(void)
{
    pthread_mutex_lock(&reg_mu);
}

static void reg_atfork_parent(void)
{
    pthread_mutex_unlock(&reg_mu);
}

static void reg_atfork_child(void)
{
    reg_head.exit_next = reg_head.exit_prev = &reg_head;
    reg_gen++;
    reg_exiting = false;
    /* Threads of the parent may have waited on it; none exists here. */
    pthread_cond_init(&reg_cv, NULL);
    pthread_mutex_unlock(&reg_mu);
}

static void reg_exit_hook(void)
{
    weft__executors_exit();
}

static void reg_init(void)
{
    pthread_atfork(reg_atfork_prepare, reg_atfork_parent, reg_atfork_child);
    atexit(reg_exit_hook);
}

static void exit_join(weft_executor *ex)
{
    if (ex->ops->exit_join)
        ex->ops->exit_join(ex);
    else
        ex->ops->shutdown(ex, false, true, WEFT__NO_DEADLINE);
}

void weft__executor_register(weft_executor *ex)
{
    pthread_once(&reg_once, reg_init);
    pthread_mutex_lock(&reg_mu);
    ex->exit_gen = reg_gen;
    ex->exit_busy = false;
    ex->exit_done = reg_exiting;
    ex->exit_next = &reg_head;
    ex->exit_prev = reg_head.exit_prev;
    reg_head.exit_prev->exit_next = ex;
    reg_head.exit_prev = ex;
    bool late = reg_exiting;
    pthread_mutex_unlock(&reg_mu);
    /* Made while the process exits: as Python's submit after interpreter
     * shutdown, it takes no work. */
    if (late)
        ex->ops->shutdown(ex, false, false, 0);
}

void weft__executor_unregister(weft_executor *ex)
{
    pthread_mutex_lock(&reg_mu);
    if (ex->exit_gen == reg_gen && ex->exit_next) {
        while (ex->exit_busy)
            pthread_cond_wait(&reg_cv, &reg_mu);
        ex->exit_prev->exit_next = ex->exit_next;
        ex->exit_next->exit_prev = ex->exit_prev;
        ex->exit_next = ex->exit_prev = NULL;
    }
    pthread_mutex_unlock(&reg_mu);
}

void weft__executors_exit(void)
{
    /* Called by one of a pool's own workers (exit() inside a task): that
     * pool first, so that its queued tasks, which this thread runs, are
     * done before the other pools, whose work may wait for them, are
     * joined. */
    weft_executor *mine = weft__executor_of_worker();
    pthread_mutex_lock(&reg_mu);
    reg_exiting = true;
    for (;;) {
        weft_executor *ex;
        if (mine && mine->exit_gen == reg_gen && mine->exit_next && !mine->exit_done) {
            ex = mine;
        } else {
            ex = reg_head.exit_next;
            while (ex != &reg_head && ex->exit_done)
                ex = ex->exit_next;
            if (ex == &reg_head)
                break;
        }
        ex->exit_done = ex->exit_busy = true;
        pthread_mutex_unlock(&reg_mu);
        exit_join(ex);
        pthread_mutex_lock(&reg_mu);
        ex->exit_busy = false;
        pthread_cond_broadcast(&reg_cv);
    }
    pthread_mutex_unlock(&reg_mu);
}

/* ------------------------------------------------------- the interface */

int weft_executor_submit(weft_executor *ex, weft_task_fn fn, void *arg, weft_future **out)
{
    if (!ex || !fn || !out)
        return WEFT_EINVAL;
    return ex->ops->submit(ex, fn, arg, out);
}

int weft_executor_shutdown(weft_executor *ex, bool cancel_futures, double timeout)
{
    if (!ex || weft__timeout_valid(timeout))
        return WEFT_EINVAL;
    return ex->ops->shutdown(ex, cancel_futures, true, weft__deadline(timeout));
}

void weft_executor_free(weft_executor *ex)
{
    if (!ex)
        return;
    if (ex->borrowed) {
        /* Others may hold it (to_thread, run_in_executor); it lives until
         * the process ends. */
        weft_report_error("weft_executor_free", WEFT_EINVAL,
                          "the default executor is borrowed and never freed; left as it was");
        return;
    }
    int rc = ex->ops->shutdown(ex, false, true, WEFT__NO_DEADLINE);
    if (rc == WEFT_EDEADLK) {
        /* From one of the pool's own workers: freeing would pull the pool
         * from under the calling thread. The pool is shut down (no wait)
         * and left alone, which leaks it; the caller's bug is reported. */
        weft_report_error("weft_executor_free", rc,
                          "called from one of the executor's own workers; not freed");
        return;
    }
    weft__executor_unregister(ex);
    ex->ops->destroy(ex);
}

/* ------------------------------------------------------------------ map */


typedef struct map_block map_block;

typedef struct map_chunk {
    map_block *b;
    size_t first, count;
    size_t failed_at; /* index of the first failing item, if one failed */
} map_chunk;

struct map_block {
    unsigned refs; /* the map call + one per straggler's done callback */
    weft_task_fn fn;
    map_chunk *chunks;
    void **args;
    void **res;
};

static void block_unref(map_block *b)
{
    if (__atomic_sub_fetch(&b->refs, 1, __ATOMIC_ACQ_REL) == 0)
        free(b);
}

static int drop_block_cb(weft_future *f, void *arg)
{
    (void)f;
    block_unref(arg);
    return 0;
}

/* One chunk: fn over its items in order, stopping at the first error. */
static int chunk_task(void *arg, void **result)
{
    map_chunk *c = arg;
    map_block *b = c->b;
    (void)result;
    for (size_t i = c->first; i < c->first + c->count; i++) {
        b->res[i] = NULL;
        int rc = b->fn(b->args[i], &b->res[i]);
        if (rc != 0) {
            c->failed_at = i;
            return rc < 0 ? rc : WEFT_EINVAL;
        }
    }
    return 0;
}

int weft_executor_map(weft_executor *ex, weft_task_fn fn, void *const *args, void **results,
                      size_t n, size_t chunksize, double timeout)
{
    weft__set_last_message(NULL);
    if (!ex || !fn || (n && (!args || !results)) || weft__timeout_valid(timeout) != 0)
        return WEFT_EINVAL;
    if (n == 0)
        return 0;
    if (ex->ops->map)
        return ex->ops->map(ex, fn, args, results, n, timeout, chunksize);
    int64_t deadline = weft__deadline(timeout);
    if (chunksize == 0)
        chunksize = 1;
    size_t nchunks = n / chunksize + (n % chunksize != 0);

    /* One block: header, chunks, args copy, result slots. */
    size_t size = sizeof(map_block) + nchunks * sizeof(map_chunk) + 2 * n * sizeof(void *);
    if (nchunks > SIZE_MAX / sizeof(map_chunk) || n > SIZE_MAX / (4 * sizeof(void *)))
        return WEFT_ENOMEM;
    map_block *b = malloc(size);
    weft_future **fs = malloc(nchunks * sizeof *fs);
    if (!b || !fs) {
        free(b);
        free(fs);
        return WEFT_ENOMEM;
    }
    b->refs = 1;
    b->fn = fn;
    b->chunks = (map_chunk *)(b + 1);
    b->args = (void **)(b->chunks + nchunks);
    b->res = b->args + n;
    memcpy(b->args, args, n * sizeof(void *));

    int rc = 0;
    size_t submitted = 0;
    for (; submitted < nchunks; submitted++) {
        map_chunk *c = &b->chunks[submitted];
        c->b = b;
        c->first = submitted * chunksize;
        c->count = n - c->first < chunksize ? n - c->first : chunksize;
        c->failed_at = SIZE_MAX;
        if ((rc = ex->ops->submit(ex, chunk_task, c, &fs[submitted])) != 0)
            break;
    }

    size_t collected = 0;
    if (rc == 0) {
        for (; collected < nchunks; collected++) {
            weft_future *f = fs[collected];
            rc = weft_future_result(f, NULL, weft__remaining(deadline));
            if (rc == WEFT_ETIMEDOUT && !weft_future_done(f))
                break; /* the map's time ran out (not the task's own code) */
            if (rc != 0) {
                weft__set_last_message(weft_future_message(f));
                /* The chunk is done: the items before its failure are
                 * valid results. */
                map_chunk *c = &b->chunks[collected];
                size_t upto = c->failed_at == SIZE_MAX ? c->first : c->failed_at;
                memcpy(results + c->first, b->res + c->first,
                       (upto - c->first) * sizeof(void *));
                weft_future_unref(f);
                collected++;
                break;
            }
            map_chunk *c = &b->chunks[collected];
            memcpy(results + c->first, b->res + c->first, c->count * sizeof(void *));
            weft_future_unref(f);
        }
    }

    /* Stragglers (after an error, a timeout or a failed submit): cancel
     * what has not started; each keeps the block alive until it is done,
     * through a done callback (at once if it is done already). */
    for (size_t i = collected; i < submitted; i++) {
        weft_future *f = fs[i];
        weft_future_cancel(f);
        __atomic_add_fetch(&b->refs, 1, __ATOMIC_RELAXED);
        if (weft_future_add_done_callback(f, drop_block_cb, b) != 0) {
            /* The callback could not be recorded: wait for the task here
             * rather than free what it may still use. */
            __atomic_sub_fetch(&b->refs, 1, __ATOMIC_RELAXED);
            weft_future_exception(f, WEFT_FOREVER);
        }
        weft_future_unref(f);
    }
    block_unref(b);
    free(fs);
    return rc;
}
