/*
 * A task's way in, and its future. A submit finds the task a slot, makes
 * its future and queues its record. The pool's futures have the pool as
 * their owner: a cancel takes back a task no worker has taken, a thread
 * waiting on one helps take the results, a read of a PENDING one's state
 * sees whether a worker has taken its task, and each keeps the pool's
 * memory alive.
 */

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <unistd.h>

#include "internal/check.h"
#include "internal/clock.h"
#include "internal/future.h"
#include "internal/procpool_parent.h"
#include "internal/thread.h"
#include "platform/futex.h"
#include "weft/future.h"
#include "weft/procpool.h"

/* What a pool's future keeps beside it (its owner context). */
struct pp_fut {
    weft__procpool *p;
    uint64_t id; /* its slot's id while the slot holds it */
    bool outer;  /* no task of its own (weft__procpool_future_new) */
};

/* The owner's cancel: weft_future_cancel on one of the pool's futures.
 * A task no worker has taken is taken back - its overflow entry is
 * dropped by weft__pp_flush_overflow once its slot is let go; its record
 * in the ring becomes a pad, which workers skip - and its future ends
 * CANCELLED.
 * A worker takes a record and this call pads one under the task ring's
 * lock, and a record is taken once head has passed its position: exactly
 * one of them wins. A task a worker took is running and is not
 * cancelled. */
static bool pool_cancel(weft_future *f, void *ctx)
{
    struct pp_fut *pf = ctx;
    weft__procpool *p = pf->p;
    uint32_t i = (uint32_t)pf->id;
    bool back = false;
    if (pf->outer)
        return weft_future_cancelled(f); /* only its maker ends it */
    pthread_mutex_lock(&p->mu);
    if (weft__pp_slot_holds(p, i, pf->id) && p->slots[i].f == f) {
        weft__task_slot *s = &p->slots[i];
        if (s->where == WEFT__AT_OVERFLOW) {
            back = true;
        } else if (s->where == WEFT__AT_RING) {
            weft__ring *r = &p->sh->tasks;
            weft__ring_lock(r);
            if (r->head <= s->pos) {
                weft__rec *h = (weft__rec *)(r->data + (s->pos & (r->cap - 1)));
                WEFT_ASSERT(h->id == pf->id && h->kind != WEFT__REC_PAD);
                h->kind = WEFT__REC_PAD;
                /* Pads at the head go now (the size is the record's):
                 * a sleeping worker would not pass them, and the overflow
                 * may be waiting for their room. */
                weft__ring_peek_locked(r);
                back = true;
            }
            weft__ring_unlock(r);
            if (!back)
                weft_future_set_running_or_notify_cancel(f);
        }
        if (back) {
            weft__pp_slot_release(p, i);
            weft__pp_flush_overflow(p);
        }
    }
    pthread_mutex_unlock(&p->mu);
    if (!back)
        return weft_future_cancelled(f);
    bool cancelled = weft__future_cancel_pending(f);
    if (!cancelled) {
        /* Made RUNNING by its holder (set_running_or_notify_cancel, a
         * misuse): its task will not run, so it must end all the same. */
        weft_future_set_error(f, WEFT_ECANCELLED, "the task was taken back before it started");
    }
    weft_future_unref(f); /* the slot's; the caller holds its own */
    return cancelled;
}

/* The pool's side of its futures: the waiting thread helps (see
 * internal/procpool_shared.h), and each future keeps the pool's memory
 * alive. */
#define HELP_NS 50000

static void pool_help(weft_future *f, void *ctx, int64_t deadline)
{
    weft__procpool *p = ((struct pp_fut *)ctx)->p;
    weft__pp_shared *sh = p->sh;
    if (!weft__can_spin())
        return; /* the spinner would hold up the worker it waits for */
    int64_t until = weft__now_ns() + HELP_NS;
    if (until > deadline)
        until = deadline;
    __atomic_add_fetch(&sh->helpers, 1, __ATOMIC_SEQ_CST);
    for (unsigned i = 1; !weft_future_done(f); i++) {
        if (__atomic_load_n(&sh->results.tail, __ATOMIC_ACQUIRE) !=
                __atomic_load_n(&sh->results.head, __ATOMIC_ACQUIRE) &&
            pthread_mutex_trylock(&p->drain_mu) == 0) {
            weft__pp_drain_results(p);
            pthread_mutex_unlock(&p->drain_mu);
            continue;
        }
        weft__cpu_relax();
        if (i % 64 == 0 && weft__now_ns() > until)
            break;
    }
    __atomic_sub_fetch(&sh->helpers, 1, __ATOMIC_SEQ_CST);
    /* A worker that saw us here did not wake the collector: what it
     * pushed must not wait in the ring until the next push. */
    if (__atomic_load_n(&sh->results.tail, __ATOMIC_SEQ_CST) !=
        __atomic_load_n(&sh->results.head, __ATOMIC_SEQ_CST)) {
        /* Not a blocking lock: the holder may be this very thread (a done
         * callback waiting on another of the pool's futures). A drainer
         * that is there loops until the ring is empty, but may be leaving:
         * then the collector, woken, takes it. */
        if (pthread_mutex_trylock(&p->drain_mu) == 0) {
            weft__pp_drain_results(p);
            pthread_mutex_unlock(&p->drain_mu);
        } else if (sh->evfd >= 0) {
            uint64_t one = 1;
            (void)!write(sh->evfd, &one, sizeof one);
        }
    }
}

static void pool_future_destroy(weft_future *f, void *ctx)
{
    weft__pp_unref(((struct pp_fut *)ctx)->p);
}

/* A PENDING future's state is read: a worker may have taken its task and
 * not yet be seen to (weft__pp_note_started runs when the parent's
 * threads wake). A worker names the task it runs in its slot before it runs it, so a
 * task seen to have started is seen RUNNING. No lock: the slots live as
 * long as the pool, which the future keeps. */
static void pool_refresh(const weft_future *f, void *ctx)
{
    struct pp_fut *pf = ctx;
    weft__procpool *p = pf->p;
    if (pf->outer)
        return;
    for (unsigned w = 0; w < p->n; w++) {
        if (__atomic_load_n(&p->sh->slots[w].running, __ATOMIC_ACQUIRE) == pf->id + 1) {
            weft_future_set_running_or_notify_cancel((weft_future *)f);
            return;
        }
    }
}

static const weft__future_owner pool_owner = {
    .cancel = pool_cancel,
    .destroy = pool_future_destroy,
    .help = pool_help,
    .refresh = pool_refresh,
};

int weft_process_pool_result(weft_future *f, weft_bytes **out, double timeout)
{
    if (!out)
        return WEFT_EINVAL;
    *out = NULL;
    if (!weft__future_owner_ctx(f, &pool_owner))
        return WEFT_EINVAL;
    void *r = NULL;
    int rc = weft_future_result(f, &r, timeout);
    if (rc == 0)
        *out = r;
    return rc;
}

/* With mu held: a new future for the task in slot i (two references: the
 * submitter's and the slot's). */
int weft__pp_future_new(weft__procpool *p, uint32_t i, weft_future **out)
{
    void *room;
    int rc = weft__future_new_owned(out, 2, &pool_owner, &room);
    if (rc == 0) {
        _Static_assert(sizeof(struct pp_fut) <= WEFT__FUTURE_ROOM, "a pool future's room");
        *(struct pp_fut *)room = (struct pp_fut){.p = p, .id = weft__pp_slot_id(p, i)};
        __atomic_add_fetch(&p->refs, 1, __ATOMIC_RELAXED);
    }
    return rc;
}

/* A future no task backs (weft__procpool_future_new): one reference, its
 * maker's. */
int weft__pp_outer_future_new(weft__procpool *p, weft_future **out)
{
    void *room;
    int rc = weft__future_new_owned(out, 1, &pool_owner, &room);
    if (rc == 0) {
        *(struct pp_fut *)room = (struct pp_fut){.p = p, .outer = true};
        __atomic_add_fetch(&p->refs, 1, __ATOMIC_RELAXED);
    }
    return rc;
}

/* Submit fn(b), b a weft_bytes checked already (or NULL). */
int weft__pp_submit(weft__procpool *p, weft_task_fn fn, const weft_bytes *b, weft_future **out)
{
    pthread_mutex_lock(&p->mu);
    int rc = p->broken ? WEFT_EBROKEN : p->shutdown ? WEFT_ESHUTDOWN : 0;
    int fi = rc ? rc : weft__pp_fn_index(p, (weft__fnptr)fn);
    uint32_t i;
    weft_future *f = NULL;
    if (fi < 0) {
        rc = fi;
    } else if ((rc = weft__pp_slot_alloc(p, &i)) == 0) {
        if ((rc = weft__pp_future_new(p, i, &f)) == 0) {
            weft__rec h = {.kind = WEFT__REC_TASK, .id = weft__pp_slot_id(p, i), .fn = fi,
                           .count = b != NULL};
            p->slots[i].f = f;
            p->slots[i].fn = fi;
            p->slots[i].seq = ++p->tasks;
            p->pending++;
            if (b && weft__rec_size(b->len) > p->sh->tasks.cap / 4) {
                /* Too big for the ring: its own memfd (weft__large_ref). */
                int fd = weft__large_make(b->data, b->len);
                weft__large_ref ref = {.pid = getpid(), .fd = fd, .len = b->len};
                h.count = WEFT__COUNT_LARGE;
                p->slots[i].large_fd = fd;
                rc = fd < 0 ? fd : weft__pp_enqueue(p, i, &h, &ref, sizeof ref);
            } else {
                rc = weft__pp_enqueue(p, i, &h, b ? b->data : NULL, b ? b->len : 0);
            }
            if (rc) {
                weft__pp_slot_release(p, i);
                weft_future_unref(f);
                weft_future_unref(f);
                f = NULL;
            }
        } else {
            p->slots[i].next_free = p->free_head;
            p->free_head = i;
        }
    }
    pthread_mutex_unlock(&p->mu);
    if (rc == 0)
        *out = f;
    return rc;
}
