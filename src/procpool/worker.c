/*
 * A worker process of the pool: it takes the next task record out of the
 * task ring (sleeping on the ring's futex word when there is none), runs
 * it and pushes its result into the result ring, until the pool stops or
 * it has run its max_tasks_per_child.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "internal/check.h"
#include "internal/fnref.h"
#include "internal/future.h"
#include "internal/procpool_ring.h"
#include "internal/procpool_shared.h"
#include "internal/xwait.h"
#include "weft/future.h"
#include "weft/procpool.h"

/* Function references resolve once per worker. */
struct fn_cache {
    weft__fnptr fn[WEFT__PP_MAX_FNS];
};

static weft__fnptr resolve_fn(weft__pp_shared *sh, struct fn_cache *c, int32_t i)
{
    if (i < 0 || i >= WEFT__PP_MAX_FNS ||
        (uint32_t)i >= __atomic_load_n(&sh->nfns, __ATOMIC_ACQUIRE))
        return NULL;
    if (!c->fn[i])
        c->fn[i] = weft__fnref_resolve(&sh->fns[i]);
    return c->fn[i];
}

static void push_result(weft__pp_shared *sh, const weft__rec *h, const void *a, size_t alen)
{
    weft__ring *r = &sh->results;
    weft__rec fail;
    if (weft__rec_size(alen) > r->cap / 4) {
        /* Too big for the ring: the task fails rather than block for ever. */
        fail = *h;
        fail.status = WEFT_EMSGSIZE;
        fail.count = 0;
        h = &fail;
        alen = 0;
    }
    weft__ring_lock(r);
    while (weft__ring_push_locked(r, h, a, alen, NULL) == WEFT_EFULL)
        weft__ring_wait_locked(r, &r->space);
    weft__ring_unlock(r);
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
static void push_large_result(weft__pp_shared *sh, unsigned index, weft__rec *res,
                              const weft_bytes *b)
{
    int fd = weft__large_make(b->data, b->len);
    if (fd < 0) {
        res->status = fd;
        res->count = 0;
        push_result(sh, res, NULL, 0);
        return;
    }
    weft__worker_slot *slot = &sh->slots[index];
    weft__large_ref ref = {.pid = getpid(), .fd = fd, .len = b->len, .worker = index};
    __atomic_store_n(&slot->ack.word, 0, __ATOMIC_RELAXED);
    res->count = WEFT__COUNT_LARGE;
    push_result(sh, res, &ref, sizeof ref);
    /* xword's protocol without a lock: the word is the acknowledgement. */
    while (!weft__xword_enter(&slot->ack))
        weft__xword_sleep(&slot->ack, 0, WEFT__NO_DEADLINE);
    weft__xword_leave(&slot->ack);
    close(fd);
}

/* What is wrong with a task's result, or NULL when it is a weft_bytes the
 * task may return. The task's word is not trusted: a number cast to a
 * pointer, a stack address or a freed weft_bytes must fail the task, not
 * kill the worker, so the result is probed before anything reads it. */
static const char *result_problem(const void *result)
{
    uint64_t kind;
    if (weft__bytes_probe(&result, 1, 1, &kind) == 1)
        return NULL;
    return kind == WEFT__BYTES_BORROWED
               ? "the task returned its argument, which belongs to the pool, as its result "
                 "(return a copy made with weft_bytes_new)"
               : "the task returned a result that is not a weft_bytes (one made by "
                 "weft_bytes_new and not freed)";
}

/* The worker's buffer w as a task argument: a weft_bytes after its head. */
static weft_bytes *wbuf_bytes(const weft__wbuf *w)
{
    return (weft_bytes *)((char *)w->p + sizeof(weft__bytes_head));
}

/* One task: fn(bytes, &result), its code and message kept by a future. */
static void run_task(weft__pp_shared *sh, unsigned index, const weft__rec *h,
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
        if (b && weft__rec_size(b->len) > sh->results.cap / 4)
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
static void run_chunk(weft__pp_shared *sh, const weft__rec *h, weft_item_fn fn,
                      const unsigned char *in, weft__wbuf *out)
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
    if (weft__wbuf_fit(out, (size_t)n * out_size) != 0) {
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

static void run_multi(weft__pp_shared *sh, const weft__rec *h, weft_task_fn fn,
                      const unsigned char *in, weft__wbuf *out, weft__wbuf *item)
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
            if (weft__wbuf_fit(item, weft__bytes_alloc_size(len)) != 0) {
                res.status = WEFT_ENOMEM;
                break;
            }
            arg = wbuf_bytes(item);
            arg->len = len;
            memcpy(arg->data, in + off, len);
            arg->data[len] = 0;
            weft__bytes_mark(arg, WEFT__BYTES_BORROWED, len);
            off += WEFT__PAD8(len);
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
        if (weft__wbuf_fit(out, used + 16 + WEFT__PAD8(blen)) != 0) {
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
        used += 16 + WEFT__PAD8(blen);
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
static weft__pp_shared *g_worker_sh;
static struct fn_cache *g_worker_fc;

/* The task a starmap's items run as: unpack the call's arguments and call
 * the user's function with them. */
int weft__star_call(void *arg, void **result)
{
    weft_bytes *in = arg;
    weft__star_head h;
    if (!in || in->len < sizeof h || !g_worker_sh)
        return WEFT_EINVAL;
    memcpy(&h, in->data, sizeof h);
    weft_star_fn fn = (weft_star_fn)resolve_fn(g_worker_sh, g_worker_fc, h.fn);
    if (h.magic != WEFT__STAR_MAGIC || h.nargs > (in->len - sizeof h) / WEFT__STAR_ARG_ROOM(0))
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
        if (room < WEFT__STAR_ARG_ROOM(0)) {
            if (argv != small)
                free(argv);
            return WEFT_EINVAL;
        }
        weft_bytes *b = (weft_bytes *)(in->data + off + sizeof(weft__bytes_head));
        uint64_t len = b->len;
        if (len == WEFT__NO_ITEM) {
            argv[k] = NULL;
            len = 0;
        } else if (len > room || WEFT__STAR_ARG_ROOM(len) > room) {
            if (argv != small)
                free(argv);
            return WEFT_EINVAL;
        } else {
            weft__bytes_mark(b, WEFT__BYTES_BORROWED, len);
            argv[k] = b;
        }
        off += WEFT__STAR_ARG_ROOM(len);
    }
    int rc = fn(argv, (size_t)h.nargs, result);
    if (argv != small)
        free(argv);
    return rc;
}

/* A worker's own state: its pool and slot, its function cache, and the
 * buffers a task's record and its result are made in. */
struct worker {
    weft__pp_shared *sh;
    unsigned index;
    weft__worker_slot *slot;
    struct fn_cache *fc;
    weft__wbuf in, out, item;
};

/* The pool's initializer, if it has one: 0, or its failure's code, which
 * the slot keeps for the parent's report (WEFT__W_INIT_FAILED). */
static int run_initializer(struct worker *w)
{
    weft__pp_shared *sh = w->sh;
    if (sh->init_fn < 0)
        return 0;
    int (*init)(const weft_bytes *) =
        (int (*)(const weft_bytes *))resolve_fn(sh, w->fc, sh->init_fn);
    weft_bytes *ia = NULL;
    int r = init ? weft_bytes_new(&ia, sh->initarg, sh->initarg_len) : WEFT_ENOTSUP;
    if (r == 0)
        r = init(ia);
    weft_bytes_free(ia);
    if (r != 0) {
        w->slot->init_code = r;
        __atomic_store_n(&w->slot->state, WEFT__W_INIT_FAILED, __ATOMIC_RELEASE);
    }
    return r;
}

/* Take the next task record out of the task ring, waiting for one (a spin,
 * then the ring's wait word): false once the pool stops with the ring
 * empty. *hd gets its header, and its payload goes to w->in as a borrowed
 * weft_bytes; *copied is false when w->in could not grow to it (the task
 * then fails with WEFT_ENOMEM). From its return the record is this
 * worker's, and the worker's slot names its task. */
static bool take_next(struct worker *w, weft__rec *hd, bool *copied)
{
    weft__pp_shared *sh = w->sh;
    weft__ring *r = &sh->tasks;
    weft__ring_lock(r);
    weft__rec *h;
    bool spun = false;
    while (!(h = weft__ring_peek_locked(r))) {
        if (__atomic_load_n(&sh->stop, __ATOMIC_ACQUIRE)) {
            weft__ring_unlock(r);
            return false;
        }
        if (!spun) {
            /* Look again (stop included) after the spin, whatever it saw. */
            uint64_t tail = r->tail;
            weft__ring_unlock(r);
            weft__spin_for(&r->tail, tail);
            weft__ring_lock(r);
            spun = true;
            continue;
        }
        spun = false;
        weft__ring_wait_locked(r, &r->items);
    }
    /* The parent writes the task ring, and only tasks in it. */
    WEFT_ASSERT(h->kind == WEFT__REC_TASK || h->kind == WEFT__REC_CHUNK ||
                h->kind == WEFT__REC_MULTI);
    *hd = *h;
    int fit = weft__wbuf_fit(&w->in, weft__bytes_alloc_size(hd->len));
    if (fit == 0) {
        weft_bytes *b = wbuf_bytes(&w->in);
        b->len = hd->len;
        memcpy(b->data, h + 1, hd->len);
        b->data[hd->len] = 0;
        weft__bytes_mark(b, WEFT__BYTES_BORROWED, hd->len);
    }
    weft__ring_pop_locked(r, h);
    weft__ring_unlock(r);
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
    WEFT_ASSERT(__atomic_load_n(&w->slot->running, __ATOMIC_RELAXED) == 0);
    __atomic_store_n(&w->slot->running, hd->id + 1, __ATOMIC_RELEASE);
    *copied = fit == 0;
    return true;
}

/* A task whose argument is too big for the ring: its record holds a
 * weft__large_ref to the parent's memfd, which is mapped privately and
 * handed to the task as it lies. */
static void run_large(struct worker *w, const weft__rec *hd)
{
    weft__pp_shared *sh = w->sh;
    weft__large_ref ref;
    memcpy(&ref, wbuf_bytes(&w->in)->data, sizeof ref);
    int fd = weft__large_open(&ref);
    size_t size = weft__bytes_alloc_size(ref.len);
    void *map = fd < 0 ? MAP_FAILED
                       : mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    if (fd >= 0)
        close(fd);
    if (map == MAP_FAILED) {
        weft__rec res = {.kind = WEFT__REC_RESULT, .id = hd->id,
                         .status = fd < 0 ? fd : WEFT_ENOMEM};
        push_result(sh, &res, NULL, 0);
    } else {
        /* A private mapping: the head is ours to mark. */
        weft_bytes *arg = (weft_bytes *)((char *)map + sizeof(weft__bytes_head));
        weft__bytes_mark(arg, WEFT__BYTES_BORROWED, ref.len);
        run_task(sh, w->index, hd, (weft_task_fn)resolve_fn(sh, w->fc, hd->fn), arg);
        munmap(map, size);
    }
}

/* Run the record take_next took and push its result. */
static void run_record(struct worker *w, const weft__rec *hd, bool copied)
{
    weft__pp_shared *sh = w->sh;
    if (!copied) {
        weft__rec res = {.kind = hd->kind == WEFT__REC_CHUNK   ? WEFT__REC_CHUNK_RESULT
                                 : hd->kind == WEFT__REC_MULTI ? WEFT__REC_MULTI_RESULT
                                                               : WEFT__REC_RESULT,
                         .id = hd->id, .status = WEFT_ENOMEM};
        push_result(sh, &res, NULL, 0);
    } else if (hd->kind == WEFT__REC_MULTI) {
        run_multi(sh, hd, (weft_task_fn)resolve_fn(sh, w->fc, hd->fn),
                  wbuf_bytes(&w->in)->data, &w->out, &w->item);
    } else if (hd->kind == WEFT__REC_CHUNK) {
        run_chunk(sh, hd, (weft_item_fn)resolve_fn(sh, w->fc, hd->fn),
                  wbuf_bytes(&w->in)->data, &w->out);
    } else if (hd->count == WEFT__COUNT_LARGE) {
        run_large(w, hd);
    } else {
        /* count: an argument was given */
        weft_bytes *arg = hd->count ? wbuf_bytes(&w->in) : NULL;
        run_task(sh, w->index, hd, (weft_task_fn)resolve_fn(sh, w->fc, hd->fn), arg);
    }
}

int weft__worker_main(void *argp)
{
    weft__worker_arg *wa = argp;
    weft__pp_shared *sh = wa->sh;
    struct worker w = {.sh = sh, .index = wa->index, .slot = &sh->slots[wa->index]};
    w.fc = calloc(1, sizeof *w.fc);
    if (!w.fc)
        return 1;
    g_worker_sh = sh;
    g_worker_fc = w.fc;
    if (run_initializer(&w) != 0) {
        free(w.fc);
        return 1;
    }
    /* This process's page tables for the rings, and its buffers at the
     * size a chunk can have, before the first task (see weft__prefault). */
    weft__prefault(sh->tasks.data, sh->tasks.cap, false);
    weft__prefault(sh->results.data, sh->results.cap, true);
    if (weft__wbuf_fit(&w.in, weft__bytes_alloc_size(sh->tasks.cap / 4)) == 0)
        weft__prefault(w.in.p, w.in.cap, true);
    if (weft__wbuf_fit(&w.out, sh->results.cap / 4) == 0)
        weft__prefault(w.out.p, w.out.cap, true);
    uint32_t done = 0;
    weft__rec hd;
    bool copied;
    while (take_next(&w, &hd, &copied)) {
        run_record(&w, &hd, copied);
        __atomic_store_n(&w.slot->running, 0, __ATOMIC_RELAXED);
        if (sh->max_tasks && ++done >= sh->max_tasks) {
            __atomic_store_n(&w.slot->state, WEFT__W_RETIRING, __ATOMIC_RELEASE);
            break;
        }
    }
    free(w.in.p);
    free(w.out.p);
    free(w.item.p);
    free(w.fc);
    return 0;
}
