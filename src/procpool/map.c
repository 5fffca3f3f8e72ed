/*
 * The pool's maps: a fixed-size map (items of one size in, outputs of one
 * size out), a bytes map (a weft_bytes in and out per item) and a
 * starmap (several weft_bytes in per call), each cut into chunks that go
 * to the workers as one record each, with the arguments checked already
 * by their callers (procpool.c).
 */

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal/clock.h"
#include "internal/error.h"
#include "internal/procpool_parent.h"
#include "weft/future.h"
#include "weft/procpool.h"

/* With mu held: one chunk of a map into the ring (or the overflow). */
static int chunk_enqueue(weft__procpool *p, weft__map_job *job, const weft__rec *tmpl, size_t first,
                         const void *payload, size_t len, weft_future **out)
{
    int rc = p->broken ? WEFT_EBROKEN : p->shutdown ? WEFT_ESHUTDOWN : 0;
    uint32_t i;
    if (rc || (rc = weft__pp_slot_alloc(p, &i)) != 0)
        return rc;
    weft_future *f;
    if ((rc = weft__pp_future_new(p, i, &f)) != 0) {
        p->slots[i].next_free = p->free_head;
        p->free_head = i;
        return rc;
    }
    weft__task_slot *s = &p->slots[i];
    s->f = f;
    s->job = job;
    s->first = first;
    s->count = tmpl->count;
    s->fn = tmpl->fn;
    s->seq = ++p->tasks;
    job->refs++;
    p->pending++;
    weft__rec h = *tmpl;
    h.id = weft__pp_slot_id(p, i);
    if ((rc = weft__pp_enqueue(p, i, &h, payload, len)) != 0) {
        weft__pp_slot_release(p, i);
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
static int map_collect(weft__procpool *p, weft_future **fs, size_t submitted, size_t chunksize,
                       weft__map_job *job, int rc, int64_t deadline, bool wait_all)
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
    weft__pp_job_unref(job);
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

static int map_fixed_run(weft__procpool *p, int fi, const void *in, size_t in_size, void *out,
                         size_t out_size, size_t n, size_t chunksize, double timeout,
                         bool wait_all)
{
    int64_t deadline = weft__deadline(timeout);
    size_t nchunks = n / chunksize + (n % chunksize != 0);
    weft_future **fs = calloc(nchunks, sizeof *fs);
    weft__map_job *job = malloc(sizeof *job);
    if (!fs || !job) {
        free(fs);
        free(job);
        return WEFT_ENOMEM;
    }
    *job = (weft__map_job){.refs = 1, .out = out, .out_size = out_size, .first_err = SIZE_MAX};
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
int weft__pp_map_start(weft__procpool *p, weft_task_fn fn, const weft_bytes *const *args,
                       weft_bytes **results, size_t n, size_t chunksize, weft__map_run *run)
{
    memset(run, 0, sizeof *run);
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
    weft__map_job *job = run->job = malloc(sizeof *job);
    if (!run->fs || !run->first || !run->ok || !job)
        return WEFT_ENOMEM;
    *job = (weft__map_job){.refs = 1, .out = results, .ok = run->ok, .first_err = SIZE_MAX};
    pthread_mutex_lock(&p->mu);
    int fi = weft__pp_fn_index(p, (weft__fnptr)fn);
    pthread_mutex_unlock(&p->mu);
    if (fi < 0)
        return fi;
    weft__wbuf pack = {0};
    int rc = 0;
    size_t next = 0;
    while (next < n && rc == 0) {
        size_t first = next, used = 0;
        while (next < n && next - first < chunksize) {
            const weft_bytes *b = args[next];
            size_t need = 8 + (b ? WEFT__PAD8(b->len) : 0);
            if (used + need > limit) {
                if (next == first)
                    rc = WEFT_EMSGSIZE; /* one item alone is too big */
                break;
            }
            if ((rc = weft__wbuf_fit(&pack, used + need)) != 0)
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
    weft__procpool *p = run->pool;
    if (p && run->job) {
        pthread_mutex_lock(&p->mu);
        ((weft__map_job *)run->job)->out = NULL;
        pthread_mutex_unlock(&p->mu);
    }
}

/* Pool.starmap: each call packed into one item (weft__star_head), run by
 * weft__star_call in the worker. */
int weft__pp_starmap_start(weft__procpool *p, weft_star_fn fn, const weft_bytes *const *args,
                           size_t nargs, weft_bytes **results, size_t n, size_t chunksize,
                           weft__map_run *run)
{
    memset(run, 0, sizeof *run);
    pthread_mutex_lock(&p->mu);
    int fi = weft__pp_fn_index(p, (weft__fnptr)fn);
    pthread_mutex_unlock(&p->mu);
    if (fi < 0)
        return fi;
    /* Each call packed into one weft_bytes (weft__star_head), which the
     * map copies at once. */
    weft_bytes **packed = calloc(n ? n : 1, sizeof *packed);
    if (!packed)
        return WEFT_ENOMEM;
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        size_t len = sizeof(weft__star_head);
        for (size_t k = 0; k < nargs; k++) {
            const weft_bytes *b = args[i * nargs + k];
            size_t room = WEFT__STAR_ARG_ROOM(b ? b->len : 0);
            if (room > SIZE_MAX - len) {
                rc = WEFT_EMSGSIZE;
                break;
            }
            len += room;
        }
        if (rc || (rc = weft_bytes_new(&packed[i], NULL, len)) != 0)
            break;
        unsigned char *d = packed[i]->data;
        weft__star_head h = {.magic = WEFT__STAR_MAGIC, .fn = fi, .nargs = nargs};
        memcpy(d, &h, sizeof h);
        size_t off = sizeof h;
        for (size_t k = 0; k < nargs; k++) {
            const weft_bytes *b = args[i * nargs + k];
            uint64_t blen = b ? b->len : WEFT__NO_ITEM;
            memcpy(d + off + sizeof(weft__bytes_head), &blen, sizeof blen);
            if (b && b->len)
                memcpy(d + off + sizeof(weft__bytes_head) + sizeof(weft_bytes), b->data, b->len);
            off += WEFT__STAR_ARG_ROOM(b ? b->len : 0);
        }
    }
    if (rc == 0)
        rc = weft__pp_map_start(p, weft__star_call, (const weft_bytes *const *)packed, results, n,
                                chunksize, run);
    for (size_t i = 0; i < n; i++)
        weft_bytes_free(packed[i]);
    free(packed);
    return rc;
}

void weft__procpool_map_end(weft__map_run *run, bool cancel)
{
    weft__procpool *p = run->pool;
    if (p && run->job) {
        pthread_mutex_lock(&p->mu);
        weft__map_job *job = run->job;
        job->out = NULL;
        weft__pp_job_unref(job);
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
    weft__procpool *p = run->pool;
    weft__map_job *job = run->job;
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

/* A bytes map waited for in input order, stopping at the first chunk
 * that fails. */
int weft__pp_map_bytes(weft__procpool *p, weft_task_fn fn, const weft_bytes *const *args,
                       weft_bytes **results, size_t n, size_t chunksize, double timeout)
{
    int64_t deadline = weft__deadline(timeout);
    weft__map_run run;
    int rc = weft__pp_map_start(p, fn, args, results, n, chunksize, &run);
    for (size_t c = 0; c < run.nchunks && rc == 0; c++) {
        rc = weft_future_exception(run.fs[c], time_left(deadline));
        if (rc && rc != WEFT_ETIMEDOUT)
            weft__set_last_message(weft_future_message(run.fs[c]));
    }
    weft__procpool_map_end(&run, rc != 0);
    return rc;
}

/* A fixed-size map: chunks of chunksize items (0: a quarter of an even
 * share per worker), each within a quarter of the ring. */
int weft__pp_map_fixed(weft__procpool *p, weft_item_fn fn, const void *in, size_t in_size,
                       void *out, size_t out_size, size_t n, size_t chunksize, double timeout,
                       bool wait_all)
{
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
    int fi = weft__pp_fn_index(p, (weft__fnptr)fn);
    pthread_mutex_unlock(&p->mu);
    if (fi < 0)
        return fi;
    return map_fixed_run(p, fi, in, in_size, out, out_size, n, chunksize, timeout, wait_all);
}
