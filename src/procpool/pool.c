/*
 * multiprocessing.Pool over the process pool. See weft/procpool.h.
 *
 * The pool is a process pool executor plus Python's life cycle (close,
 * terminate, join) and its calls: apply and apply_async (a submit and a
 * done callback), map, and imap over the process pool's chunked map, whose
 * chunk futures are awaited in order or as they finish.
 */
#include <stdlib.h>
#include <string.h>

#include "internal/error.h"
#include "internal/future.h"
#include "internal/clock.h"
#include "internal/procpool.h"
#include "weft/procpool.h"
#include "weft/process.h"

struct weft_pool {
    weft_executor *ex;
    int state; /* under the executor's own locking: set by one caller only */
    unsigned processes;
};

enum { POOL_RUN, POOL_CLOSED, POOL_TERMINATED };

int weft_pool_new(weft_pool **out, const weft_process_pool_opts *opts)
{
    if (!out)
        return WEFT_EINVAL;
    weft_pool *p = calloc(1, sizeof *p);
    if (!p)
        return WEFT_ENOMEM;
    int r = weft_process_pool_new(&p->ex, opts);
    if (r) {
        free(p);
        return r;
    }
    p->processes = opts && opts->max_workers ? opts->max_workers : weft_cpu_count();
    *out = p;
    return 0;
}

weft_executor *weft_pool_executor(const weft_pool *pool)
{
    return pool ? pool->ex : NULL;
}

static int submit(weft_pool *pool, weft_task_fn fn, const weft_bytes *arg, weft_future **f)
{
    if (__atomic_load_n(&pool->state, __ATOMIC_ACQUIRE) != POOL_RUN)
        return WEFT_ESHUTDOWN;
    return weft_process_pool_submit(pool->ex, fn, arg, f);
}

static int drop_result(weft_future *f, void *arg)
{
    weft_bytes *res = NULL;
    if (weft_process_pool_result(f, &res, 0) == 0)
        weft_bytes_free(res);
    return 0;
}

int weft_pool_apply(weft_pool *pool, weft_task_fn fn, const weft_bytes *arg,
                    weft_bytes **result, double timeout)
{
    weft__set_last_message(NULL);
    if (!pool || !fn || !result || weft__timeout_valid(timeout) != 0)
        return WEFT_EINVAL;
    weft_future *f;
    int r = submit(pool, fn, arg, &f);
    if (r)
        return r;
    weft_bytes *res = NULL;
    r = weft_process_pool_result(f, &res, timeout);
    if (r != 0 && r != WEFT_ETIMEDOUT)
        weft__set_last_message(weft_future_message(f));
    if (r == WEFT_ETIMEDOUT) {
        /* The task goes on; its result is dropped when it comes (the first
         * callback needs no allocation, so this cannot fail). */
        weft_future_add_done_callback(f, drop_result, NULL);
    }
    *result = res;
    weft_future_unref(f);
    return r;
}

/* An apply_async in flight. The caller's future (the AsyncResult, when
 * asked for) is not the task's: it completes after the callbacks ran, as
 * Python's AsyncResult is ready only once its callback returned. */
struct async_ctx {
    weft_pool_callback cb;
    weft_pool_error_callback ecb;
    void *arg;
    weft_future *outer; /* the caller's future (a reference of ours), or NULL */
};

static int async_done(weft_future *f, void *arg)
{
    struct async_ctx *c = arg;
    weft_bytes *res = NULL;
    int code = weft_future_exception(f, 0);
    if (code == 0) {
        weft_process_pool_result(f, &res, 0);
        if (c->cb)
            c->cb(res, c->arg);
        /* The reader's to free; nobody's if the caller ended the future
         * itself (a misuse). */
        if (!c->outer || weft_future_set_result(c->outer, res) != 0)
            weft_bytes_free(res);
    } else {
        const char *msg = weft_future_message(f);
        if (c->ecb)
            c->ecb(code, msg, c->arg);
        /* A task cancelled before it started (terminate) leaves its
         * AsyncResult cancelled too. */
        if (c->outer &&
            !(weft_future_cancelled(f) && weft__future_cancel_pending(c->outer)))
            weft_future_set_error(c->outer, code, msg);
    }
    weft_future_unref(c->outer);
    weft_future_unref(f); /* the reference submit gave us */
    free(c);
    return 0;
}

int weft_pool_apply_async(weft_pool *pool, weft_task_fn fn, const weft_bytes *arg,
                          weft_pool_callback cb, weft_pool_error_callback ecb, void *cbarg,
                          weft_future **out)
{
    if (out)
        *out = NULL;
    if (!pool || !fn)
        return WEFT_EINVAL;
    struct async_ctx *c = malloc(sizeof *c);
    if (!c)
        return WEFT_ENOMEM;
    *c = (struct async_ctx){.cb = cb, .ecb = ecb, .arg = cbarg};
    int r = out ? weft__procpool_future_new(pool->ex, &c->outer) : 0;
    weft_future *f;
    if (r == 0 && (r = submit(pool, fn, arg, &f)) != 0)
        weft_future_unref(c->outer);
    if (r) {
        free(c);
        return r;
    }
    if (out)
        *out = weft_future_ref(c->outer);
    /* The future's first callback lives in the future: it needs no memory
     * and cannot fail; it runs at once if the task is done already. */
    weft_future_add_done_callback(f, async_done, c);
    return 0;
}

/* ----------------------------------------------------- map, map_async */

/*
 * A map in flight (map, starmap and their _async twins): each chunk's
 * future has a done callback that counts it; the callback that sees the
 * last chunk done ends the map: stops the results' writing, runs the
 * user's callback, then completes the AsyncResult's future. The first
 * chunk whose callback sees it failed is the map's failure (the order
 * the pool completes the chunks in, which is the order their results
 * reached it). References: the starter's (until its call returns) and one
 * per chunk whose callback has not run; the last one ends the run.
 */
struct amap;

struct amap_chunk {
    struct amap *m;
    size_t c;
};

struct amap {
    weft__map_run run;
    weft_future *f;      /* the AsyncResult; RUNNING from the start */
    weft_bytes **results;
    size_t n;
    size_t left;         /* chunks whose callback has not run (atomic) */
    size_t first_failed; /* SIZE_MAX, then the first chunk whose callback saw it fail (atomic) */
    unsigned refs;       /* atomic */
    weft_pool_map_callback cb;
    weft_pool_error_callback ecb;
    void *cbarg;
    struct amap_chunk *chunks;
};

static void amap_unref(struct amap *m)
{
    if (__atomic_sub_fetch(&m->refs, 1, __ATOMIC_ACQ_REL) != 0)
        return;
    weft__procpool_map_end(&m->run, false);
    weft_future_unref(m->f);
    free(m->chunks);
    free(m);
}

static void amap_finish(struct amap *m)
{
    weft__procpool_map_detach(&m->run); /* the results are complete */
    size_t c = __atomic_load_n(&m->first_failed, __ATOMIC_ACQUIRE);
    if (c != SIZE_MAX) {
        /* The failure that arrived first is the one the pool noted as it
         * took the results, in the order the workers sent them. The
         * callbacks' order is not that: a chunk done before its callback
         * was added runs it then, in index order. A chunk that failed with
         * no result of its own (cancelled, the pool broken) has no note:
         * the callbacks' first stands. */
        size_t seen = weft__procpool_map_first_failed(&m->run);
        if (seen < m->run.nchunks && weft_future_exception(m->run.fs[seen], 0) != 0)
            c = seen;
    }
    if (c == SIZE_MAX) {
        if (m->cb)
            m->cb(m->results, m->n, m->cbarg);
        weft_future_set_result(m->f, m->results);
        return;
    }
    int code = weft_future_exception(m->run.fs[c], 0);
    const char *msg = weft_future_message(m->run.fs[c]);
    if (m->ecb)
        m->ecb(code, msg, m->cbarg);
    weft_future_set_error(m->f, code, msg);
}

static int amap_chunk_done(weft_future *f, void *arg)
{
    struct amap_chunk *k = arg;
    struct amap *m = k->m;
    if (weft_future_exception(f, 0) != 0) {
        size_t none = SIZE_MAX;
        __atomic_compare_exchange_n(&m->first_failed, &none, k->c, false, __ATOMIC_ACQ_REL,
                                    __ATOMIC_ACQUIRE);
    }
    if (__atomic_sub_fetch(&m->left, 1, __ATOMIC_ACQ_REL) == 0)
        amap_finish(m);
    amap_unref(m);
    return 0;
}

/* Start a map (fn a weft_task_fn) or a starmap (sfn, nargs); on success
 * *out holds the starter's reference. On failure nothing that writes to
 * results is left and results[0..n) are NULL. */
static int amap_start(weft_pool *pool, weft_task_fn fn, weft_star_fn sfn, size_t nargs,
                      const weft_bytes *const *args, weft_bytes **results, size_t n,
                      size_t chunksize, weft_pool_map_callback cb, weft_pool_error_callback ecb,
                      void *cbarg, struct amap **out)
{
    if (__atomic_load_n(&pool->state, __ATOMIC_ACQUIRE) != POOL_RUN)
        return WEFT_ESHUTDOWN;
    if (chunksize == 0) {
        /* Python's Pool default: about four chunks per process. */
        size_t per = 4 * (size_t)(pool->processes ? pool->processes : 1);
        chunksize = n / per + (n % per != 0);
    }
    struct amap *m = calloc(1, sizeof *m);
    if (!m)
        return WEFT_ENOMEM;
    if (n)
        memset(results, 0, n * sizeof *results);
    int r = sfn ? weft__procpool_starmap_start(pool->ex, sfn, args, nargs, results, n, chunksize,
                                               &m->run)
                : weft__procpool_map_start(pool->ex, fn, args, results, n, chunksize, &m->run);
    size_t nc = m->run.nchunks;
    if (r == 0 && (r = weft_future_new(&m->f)) == 0) {
        weft_future_set_running_or_notify_cancel(m->f);
        if (!(m->chunks = malloc((nc ? nc : 1) * sizeof *m->chunks)))
            r = WEFT_ENOMEM;
    }
    if (r) {
        weft__procpool_map_end(&m->run, true);
        for (size_t i = 0; i < n; i++) {
            weft_bytes_free(results[i]);
            results[i] = NULL;
        }
        weft_future_unref(m->f);
        free(m->chunks);
        free(m);
        return r;
    }
    *m = (struct amap){.run = m->run, .f = m->f, .results = results, .n = n, .left = nc,
                       .first_failed = SIZE_MAX, .refs = (unsigned)nc + 1, .cb = cb,
                       .ecb = ecb, .cbarg = cbarg, .chunks = m->chunks};
    if (nc == 0) {
        amap_finish(m); /* n == 0: done at once */
    } else {
        for (size_t c = 0; c < nc; c++) {
            m->chunks[c] = (struct amap_chunk){.m = m, .c = c};
            /* A chunk's future has no other callback: its first lives in
             * the future, needs no memory and cannot fail (it runs at once
             * if the chunk is done already). */
            weft_future_add_done_callback(m->run.fs[c], amap_chunk_done, &m->chunks[c]);
        }
    }
    *out = m;
    return 0;
}

/* Wait for a started map; on a timeout the calls not started are
 * cancelled and nothing more is written to the results. */
static int amap_wait(struct amap *m, double timeout)
{
    int r = weft_future_exception(m->f, timeout);
    if (r == WEFT_ETIMEDOUT) {
        weft__procpool_map_detach(&m->run);
        for (size_t c = 0; c < m->run.nchunks; c++)
            weft_future_cancel(m->run.fs[c]);
    } else if (r) {
        weft__set_last_message(weft_future_message(m->f));
    }
    amap_unref(m);
    return r;
}

static int map_args_ok(weft_pool *pool, bool fn, const weft_bytes *const *args, size_t nargs,
                       weft_bytes **results, size_t n)
{
    weft__set_last_message(NULL);
    return pool && fn && (!n || (results && (!nargs || args))) ? 0 : WEFT_EINVAL;
}

int weft_pool_map(weft_pool *pool, weft_task_fn fn, const weft_bytes *const *args,
                  weft_bytes **results, size_t n, size_t chunksize, double timeout)
{
    struct amap *m;
    int r = map_args_ok(pool, fn, args, 1, results, n);
    if (r || (r = weft__timeout_valid(timeout)) != 0)
        return WEFT_EINVAL;
    if ((r = amap_start(pool, fn, NULL, 1, args, results, n, chunksize, NULL, NULL, NULL, &m)))
        return r;
    return amap_wait(m, timeout);
}

int weft_pool_map_async(weft_pool *pool, weft_task_fn fn, const weft_bytes *const *args,
                        weft_bytes **results, size_t n, size_t chunksize,
                        weft_pool_map_callback cb, weft_pool_error_callback ecb, void *cbarg,
                        weft_future **out)
{
    struct amap *m;
    if (out)
        *out = NULL;
    int r = map_args_ok(pool, fn, args, 1, results, n);
    if (r || (r = amap_start(pool, fn, NULL, 1, args, results, n, chunksize, cb, ecb, cbarg,
                             &m)))
        return r;
    if (out)
        *out = weft_future_ref(m->f);
    amap_unref(m);
    return 0;
}

int weft_pool_starmap(weft_pool *pool, weft_star_fn fn, const weft_bytes *const *args,
                      size_t nargs, weft_bytes **results, size_t n, size_t chunksize,
                      double timeout)
{
    struct amap *m;
    int r = map_args_ok(pool, fn, args, nargs, results, n);
    if (r || (r = weft__timeout_valid(timeout)) != 0)
        return WEFT_EINVAL;
    if ((r = amap_start(pool, NULL, fn, nargs, args, results, n, chunksize, NULL, NULL, NULL,
                        &m)))
        return r;
    return amap_wait(m, timeout);
}

int weft_pool_starmap_async(weft_pool *pool, weft_star_fn fn, const weft_bytes *const *args,
                            size_t nargs, weft_bytes **results, size_t n, size_t chunksize,
                            weft_pool_map_callback cb, weft_pool_error_callback ecb, void *cbarg,
                            weft_future **out)
{
    struct amap *m;
    if (out)
        *out = NULL;
    int r = map_args_ok(pool, fn, args, nargs, results, n);
    if (r || (r = amap_start(pool, NULL, fn, nargs, args, results, n, chunksize, cb, ecb, cbarg,
                             &m)))
        return r;
    if (out)
        *out = weft_future_ref(m->f);
    amap_unref(m);
    return 0;
}

int weft_pool_map_fixed(weft_pool *pool, weft_item_fn fn, const void *in, size_t in_size,
                        void *out, size_t out_size, size_t n, size_t chunksize, double timeout)
{
    if (!pool)
        return WEFT_EINVAL;
    if (__atomic_load_n(&pool->state, __ATOMIC_ACQUIRE) != POOL_RUN)
        return WEFT_ESHUTDOWN;
    return weft__procpool_map_fixed(pool->ex, fn, in, in_size, out, out_size, n, chunksize,
                                    timeout, true);
}

/* ---------------------------------------------------------------- imap */

struct weft_pool_iter {
    weft__map_run run;
    weft_bytes **results;
    bool ordered;
    int start_error;    /* a submit that failed part way: reported at the end */
    size_t chunk;       /* ordered: the chunk being handed out */
    size_t item;        /* the next item to hand out */
    size_t end;         /* one past the last item of the current chunk */
    bool *handed;       /* unordered: chunks already handed out */
    bool *done;         /* unordered: weft_wait's answer */
    weft_future **waitfs; /* unordered: the chunks not handed out yet */
    size_t *waitidx;
    char *msg;
    int err;            /* the current chunk's error, after its good items */
};

int weft_pool_imap(weft_pool *pool, weft_task_fn fn, const weft_bytes *const *args, size_t n,
                   size_t chunksize, bool ordered, weft_pool_iter **out)
{
    weft__set_last_message(NULL);
    if (!pool || !fn || !out || (n && !args))
        return WEFT_EINVAL;
    if (__atomic_load_n(&pool->state, __ATOMIC_ACQUIRE) != POOL_RUN)
        return WEFT_ESHUTDOWN;
    weft_pool_iter *it = calloc(1, sizeof *it);
    if (!it)
        return WEFT_ENOMEM;
    it->ordered = ordered;
    it->results = calloc(n ? n : 1, sizeof *it->results);
    if (!it->results) {
        free(it);
        return WEFT_ENOMEM;
    }
    int r = weft__procpool_map_start(pool->ex, fn, args, it->results, n, chunksize, &it->run);
    if (r && it->run.nchunks == 0) {
        weft__procpool_map_end(&it->run, true);
        free(it->results);
        free(it);
        return r;
    }
    it->start_error = r;
    size_t nc = it->run.nchunks ? it->run.nchunks : 1;
    it->handed = calloc(nc, sizeof *it->handed);
    it->done = calloc(nc, sizeof *it->done);
    it->waitfs = calloc(nc, sizeof *it->waitfs);
    it->waitidx = calloc(nc, sizeof *it->waitidx);
    if (!it->handed || !it->done || !it->waitfs || !it->waitidx) {
        weft_pool_iter_free(it);
        return WEFT_ENOMEM;
    }
    *out = it;
    return 0;
}

/* Chunk c is done: hand out its items; when it failed, the ones before the
 * failing item, then the error. */
static void open_chunk(weft_pool_iter *it, size_t c)
{
    weft_future *f = it->run.fs[c];
    it->item = it->run.first[c];
    int r = weft_future_exception(f, 0);
    if (r == 0) {
        it->end = it->run.first[c + 1];
        return;
    }
    it->end = it->item;
    while (it->end < it->run.first[c + 1] && it->run.ok[it->end])
        it->end++;
    free(it->msg);
    const char *m = weft_future_message(f);
    it->msg = m ? strdup(m) : NULL;
    it->err = r;
}

int weft_pool_iter_next(weft_pool_iter *it, weft_bytes **result, size_t *index, double timeout)
{
    if (!it || !result || weft__timeout_valid(timeout) != 0)
        return WEFT_EINVAL;
    *result = NULL;
    weft__set_last_message(NULL);
    for (;;) {
        if (it->item < it->end) {
            size_t i = it->item++;
            *result = it->results[i];
            it->results[i] = NULL;
            if (index)
                *index = i;
            return 0;
        }
        if (it->err) {
            int e = it->err;
            it->err = 0;
            weft__set_last_message(it->msg);
            return e;
        }
        size_t c;
        if (it->ordered) {
            if (it->chunk >= it->run.nchunks)
                break;
            int r = weft_future_exception(it->run.fs[it->chunk], timeout);
            if (r == WEFT_ETIMEDOUT)
                return r;
            c = it->chunk++;
        } else {
            /* The first chunk to finish among those not handed out. */
            size_t k = 0;
            for (size_t j = 0; j < it->run.nchunks; j++) {
                if (!it->handed[j]) {
                    it->waitidx[k] = j;
                    it->waitfs[k++] = it->run.fs[j];
                }
            }
            if (k == 0)
                break;
            int r = weft_wait(it->waitfs, k, WEFT_FIRST_COMPLETED, it->done, NULL, timeout);
            if (r)
                return r;
            size_t j = 0;
            while (!it->done[j])
                j++;
            c = it->waitidx[j];
            it->handed[c] = true;
        }
        open_chunk(it, c);
    }
    if (it->start_error) {
        int e = it->start_error;
        it->start_error = 0;
        return e;
    }
    return WEFT_EEOF;
}

void weft_pool_iter_free(weft_pool_iter *it)
{
    if (!it)
        return;
    /* Detach first: no chunk writes into results once the run has ended. */
    size_t n = it->run.nchunks ? it->run.first[it->run.nchunks] : 0;
    weft__procpool_map_end(&it->run, true);
    for (size_t i = 0; i < n; i++)
        weft_bytes_free(it->results[i]);
    free(it->results);
    free(it->msg);
    free(it->handed);
    free(it->done);
    free(it->waitfs);
    free(it->waitidx);
    free(it);
}

/* ----------------------------------------------------------- life cycle */

int weft_pool_close(weft_pool *pool)
{
    if (!pool)
        return WEFT_EINVAL;
    int expect = POOL_RUN;
    if (__atomic_compare_exchange_n(&pool->state, &expect, POOL_CLOSED, false, __ATOMIC_ACQ_REL,
                                    __ATOMIC_ACQUIRE)) {
        /* Python's close() does not wait: a poll that finds work still
         * running is not a failure. */
        int rc = weft_executor_shutdown(pool->ex, false, 0);
        return rc == WEFT_ETIMEDOUT ? 0 : rc;
    }
    return 0;
}

int weft_pool_terminate(weft_pool *pool)
{
    if (!pool)
        return WEFT_EINVAL;
    __atomic_store_n(&pool->state, POOL_TERMINATED, __ATOMIC_RELEASE);
    return weft__procpool_terminate(pool->ex);
}

int weft_pool_join(weft_pool *pool, double timeout)
{
    if (!pool || weft__timeout_valid(timeout) != 0)
        return WEFT_EINVAL;
    if (__atomic_load_n(&pool->state, __ATOMIC_ACQUIRE) == POOL_RUN)
        return WEFT_ESTATE;
    return weft_executor_shutdown(pool->ex, false, timeout);
}

void weft_pool_free(weft_pool *pool)
{
    if (!pool)
        return;
    weft_pool_terminate(pool);
    weft_executor_free(pool->ex);
    free(pool);
}
