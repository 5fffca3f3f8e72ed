/*
 * The process pool's calls (weft/procpool.h for the contract, and
 * internal/procpool.h for Pool's): weft_process_pool_new, the executor's
 * ops, and every call that takes a weft_executor. Each checks its input,
 * and that it was given a process pool, then leaves the work to the files
 * beside it:
 *   bytes.c      weft_bytes, and whether a pointer is one
 *   ring.c       the shared rings of records, and payloads too big for them
 *   worker.c     a worker process: take the next record, run it
 *   tasks.c      the parent's table of tasks in flight and their queueing
 *   results.c    taking the results and completing the futures
 *   shutdown.c   a pool's end
 *   submit.c     submit, and the pool's futures
 *   collector.c  the workers' lives and the collector thread
 *   map.c        the maps
 * each calling only into those above it in this list. What the parent
 * and the workers share is in internal/procpool_shared.h, how the
 * parent's side is held in internal/procpool_parent.h. pool.c
 * (multiprocessing.Pool) is built on the calls of internal/procpool.h.
 */

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "internal/error.h"
#include "internal/executor.h"
#include "internal/procpool.h"
#include "internal/procpool_parent.h"
#include "internal/share.h"
#include "internal/thread.h"
#include "weft/process.h"
#include "weft/procpool.h"
#include "weft/sync.h"
#include "weft/thread.h"

#define DEFAULT_RING ((size_t)4 << 20)

static const weft__executor_ops pool_ops;

static weft__procpool *as_pool(weft_executor *ex)
{
    return ex && ex->ops == &pool_ops ? (weft__procpool *)ex : NULL;
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
    weft__procpool *p = calloc(1, sizeof *p);
    if (!p)
        return WEFT_ENOMEM;
    p->base.ops = &pool_ops;
    p->n = n;
    p->free_head = WEFT__NO_SLOT;
    pthread_mutex_init(&p->mu, NULL);
    pthread_mutex_init(&p->drain_mu, NULL);
    p->refs = 1;
    weft_event_init(&p->done);
    p->popts.daemon = WEFT_DAEMON_YES;
    p->popts.start_method = o.start_method;
    int r = WEFT_ENOMEM;
    p->procs = calloc(n, sizeof *p->procs);
    p->pidfds = malloc(n * sizeof *p->pidfds);
    weft__pp_shared *sh = p->sh = weft__shared_alloc(sizeof *sh);
    if (!p->procs || !p->pidfds || !sh)
        goto fail;
    for (unsigned i = 0; i < n; i++)
        p->pidfds[i] = -1;
    sh->evfd = -1;
    sh->init_fn = -1;
    sh->max_tasks = o.max_tasks_per_child;
    sh->nworkers = n;
    if (weft__ring_init(&sh->tasks, cap) != 0 || weft__ring_init(&sh->results, cap) != 0)
        goto fail;
    sh->slots = weft__shared_alloc(n * sizeof *sh->slots);
    p->wargs = weft__shared_alloc(n * sizeof *p->wargs);
    if (!sh->slots || !p->wargs)
        goto fail;
    if (o.initializer) {
        int fi = weft__pp_fn_index(p, (weft__fnptr)o.initializer);
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
    if (weft__wbuf_fit(&p->drain_buf, cap / 4) == 0)
        weft__prefault(p->drain_buf.p, p->drain_buf.cap, true);
    if (bare) {
        weft_event_set(&p->done); /* no collector to wait for */
        *out = &p->base;
        return 0;
    }
    for (unsigned i = 0; i < n; i++)
        if ((r = weft__pp_start_worker(p, i)) != 0)
            goto fail;
    if (pthread_create(&p->collector, NULL, weft__pp_collector_main, p) != 0) {
        r = WEFT_EAGAIN;
        goto fail;
    }
    p->collector_started = true;
    *out = &p->base;
    return 0;
fail:
    weft__pp_release(p);
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
    weft__procpool *p = as_pool((weft_executor *)ex);
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
    weft__procpool *p = as_pool((weft_executor *)ex);
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

/* ------------------------------------------------------------ submit */

/* The executor's submit: arg is a `void *` and may be anything, so it is
 * probed (see bytes.c) before the pool reads it. */
static int pool_submit(weft_executor *ex, weft_task_fn fn, void *arg, weft_future **out)
{
    weft__procpool *p = (weft__procpool *)ex;
    weft__set_last_message(NULL);
    if (!fn || !out)
        return WEFT_EINVAL;
    uint64_t kind;
    if (arg && weft__bytes_probe((const void *const *)&arg, 1, 3, &kind) == 0) {
        weft__bytes_bad_arg("weft_executor_submit", "the argument");
        return WEFT_EINVAL;
    }
    return weft__pp_submit(p, fn, arg, out);
}

int weft_process_pool_submit(weft_executor *ex, weft_task_fn fn, const weft_bytes *arg,
                             weft_future **out)
{
    weft__procpool *p = as_pool(ex);
    weft__set_last_message(NULL);
    if (!p || !fn || !out)
        return WEFT_EINVAL;
    if (arg && !weft__bytes_kind_direct(arg)) {
        weft__bytes_bad_arg("weft_process_pool_submit", "the argument");
        return WEFT_EINVAL;
    }
    return weft__pp_submit(p, fn, arg, out);
}

int weft__procpool_future_new(weft_executor *ex, weft_future **out)
{
    weft__procpool *p = as_pool(ex);
    if (!p || !out)
        return WEFT_EINVAL;
    return weft__pp_outer_future_new(p, out);
}

/* --------------------------------------------------------- shutdown */

static int force_shutdown_ex(weft_executor *ex, bool term, int code, const char *msg)
{
    weft__procpool *p = as_pool(ex);
    if (!p)
        return WEFT_EINVAL;
    weft__pp_force_shutdown(p, term, code, msg);
    return 0;
}

int weft_process_pool_terminate_workers(weft_executor *ex)
{
    return force_shutdown_ex(ex, true, WEFT_EBROKEN,
                             "the process pool was forcefully shut down (terminate_workers) "
                             "while the task ran");
}

int weft_process_pool_kill_workers(weft_executor *ex)
{
    return force_shutdown_ex(ex, false, WEFT_EBROKEN,
                             "the process pool was forcefully shut down (kill_workers) while "
                             "the task ran");
}

int weft__procpool_terminate(weft_executor *ex)
{
    return force_shutdown_ex(ex, false, WEFT_ECANCELLED,
                             "the pool was terminated while the task ran");
}

/* ---------------------------------------------------------------- map */

/* Every argument of a bytes map is a weft_bytes made by weft_bytes_new, or
 * NULL: WEFT_EINVAL with weft_last_message set for the first that is not. */
static int check_map_args(const weft_bytes *const *args, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (args[i] && !weft__bytes_kind_direct(args[i])) {
            char what[40];
            snprintf(what, sizeof what, "args[%zu]", i);
            weft__bytes_bad_arg("the process pool's map", what);
            return WEFT_EINVAL;
        }
    }
    return 0;
}

int weft__procpool_map_start(weft_executor *ex, weft_task_fn fn, const weft_bytes *const *args,
                             weft_bytes **results, size_t n, size_t chunksize,
                             weft__map_run *run)
{
    memset(run, 0, sizeof *run);
    weft__procpool *p = as_pool(ex);
    if (!p || !fn || (n && (!args || !results)))
        return WEFT_EINVAL;
    if (check_map_args(args, n) != 0)
        return WEFT_EINVAL;
    return weft__pp_map_start(p, fn, args, results, n, chunksize, run);
}

int weft__procpool_starmap_start(weft_executor *ex, weft_star_fn fn,
                                 const weft_bytes *const *args, size_t nargs,
                                 weft_bytes **results, size_t n, size_t chunksize,
                                 weft__map_run *run)
{
    memset(run, 0, sizeof *run);
    weft__procpool *p = as_pool(ex);
    if (!p || !fn || (n && (!results || (nargs && !args))) || nargs > UINT32_MAX ||
        (nargs && n > SIZE_MAX / nargs))
        return WEFT_EINVAL;
    for (size_t i = 0; i < n * nargs; i++) {
        if (args[i] && !weft__bytes_kind_direct(args[i])) {
            char what[96];
            snprintf(what, sizeof what, "args[%zu] (call %zu's argument %zu)", i, i / nargs,
                     i % nargs);
            weft__bytes_bad_arg("the process pool's starmap", what);
            return WEFT_EINVAL;
        }
    }
    return weft__pp_starmap_start(p, fn, args, nargs, results, n, chunksize, run);
}

/* The executor's map (weft_executor_map has checked the rest): the
 * arguments are `void *` and may be anything, so they are probed (see
 * bytes.c) before the pool reads them. */
static int pool_map(weft_executor *ex, weft_task_fn fn, void *const *args, void **results,
                    size_t n, double timeout, size_t chunksize)
{
    uint64_t kind;
    size_t bad = weft__bytes_probe((const void *const *)args, n, 3, &kind);
    if (bad < n) {
        char what[40];
        snprintf(what, sizeof what, "args[%zu]", bad);
        weft__bytes_bad_arg("weft_executor_map", what);
        return WEFT_EINVAL;
    }
    return weft__pp_map_bytes((weft__procpool *)ex, fn, (const weft_bytes *const *)args,
                              (weft_bytes **)results, n, chunksize, timeout);
}

int weft_process_pool_map(weft_executor *ex, weft_task_fn fn, const weft_bytes *const *args,
                          weft_bytes **results, size_t n, size_t chunksize, double timeout)
{
    weft__procpool *p = as_pool(ex);
    weft__set_last_message(NULL);
    if (!p || !fn || (n && (!args || !results)) || weft__timeout_valid(timeout) != 0)
        return WEFT_EINVAL;
    if (n == 0)
        return 0;
    if (check_map_args(args, n) != 0)
        return WEFT_EINVAL;
    return weft__pp_map_bytes(p, fn, args, results, n, chunksize, timeout);
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
    weft__procpool *p = as_pool(ex);
    if (!p || !fn || in_size == 0 || out_size == 0 || ((!in || !out) && n > 0) ||
        out_size > INT32_MAX || weft__timeout_valid(timeout) != 0)
        return WEFT_EINVAL;
    if (n == 0)
        return 0;
    return weft__pp_map_fixed(p, fn, in, in_size, out, out_size, n, chunksize, timeout,
                              wait_all);
}

static const weft__executor_ops pool_ops = {
    .name = "process pool",
    .submit = pool_submit,
    .shutdown = weft__pp_shutdown,
    .destroy = weft__pp_destroy,
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
    weft__procpool *p = as_pool(ex);
    if (!p || !h || (!buf && cap))
        return WEFT_EINVAL;
    weft__ring *r = &p->sh->tasks;
    weft__ring_lock(r);
    weft__rec *t = weft__ring_peek_locked(r);
    int rc = !t ? WEFT_EEMPTY : t->len > cap ? WEFT_EMSGSIZE : 0;
    if (t)
        *h = *t;
    if (rc == 0) {
        if (t->len)
            memcpy(buf, t + 1, t->len);
        weft__ring_pop_locked(r, t);
    }
    weft__ring_unlock(r);
    return rc;
}

int weft__procpool_push_result(weft_executor *ex, const void *data, size_t n)
{
    weft__procpool *p = as_pool(ex);
    if (!p || (!data && n))
        return WEFT_EINVAL;
    weft__ring *r = &p->sh->results;
    weft__rec h = {0};
    if (n)
        memcpy(&h, data, n < sizeof h ? n : sizeof h);
    size_t alen = n > sizeof h ? n - sizeof h : 0;
    weft__ring_lock(r);
    int rc = weft__ring_push_locked(r, &h, alen ? (const char *)data + sizeof h : NULL, alen, NULL);
    if (rc == 0) {
        /* The push wrote the size and length it knows; the caller's stand. */
        weft__rec *dst = (weft__rec *)(r->data + ((r->tail - weft__rec_size(alen)) & (r->cap - 1)));
        dst->size = h.size;
        dst->len = h.len;
    }
    weft__ring_unlock(r);
    return rc;
}

void weft__procpool_drain(weft_executor *ex)
{
    weft__procpool *p = as_pool(ex);
    if (!p)
        return;
    pthread_mutex_lock(&p->drain_mu);
    weft__pp_drain_results(p);
    pthread_mutex_unlock(&p->drain_mu);
    pthread_mutex_lock(&p->mu);
    weft__pp_flush_overflow(p);
    pthread_mutex_unlock(&p->mu);
}
