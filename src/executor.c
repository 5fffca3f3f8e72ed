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
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal/clock.h"
#include "internal/error.h"
#include "internal/executor.h"
#include "internal/future.h"

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
    int rc = ex->ops->shutdown(ex, false, true, WEFT__NO_DEADLINE);
    if (rc == WEFT_EDEADLK) {
        /* From one of the pool's own workers: freeing would pull the pool
         * from under the calling thread. The pool is shut down (no wait)
         * and left alone, which leaks it; the caller's bug is reported. */
        weft_report_error("weft_executor_free", rc,
                          "called from one of the executor's own workers; not freed");
        return;
    }
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
