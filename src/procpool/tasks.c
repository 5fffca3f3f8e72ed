/*
 * The parent's table of the tasks in flight: a slot per task, whose id
 * (the slot's index and a generation) its records carry, so that a stale
 * result is recognised; the queueing of a task's record into the task
 * ring, or the overflow list while the ring is full; and the ends of the
 * futures the pool fails or cancels, put off until the pool's lock is let
 * go (weft__pp_doom, weft__pp_finish_doomed).
 */

#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal/check.h"
#include "internal/fnref.h"
#include "internal/future.h"
#include "internal/procpool_parent.h"
#include "weft/future.h"
#include "weft/process.h"

/* A task's record waiting in the overflow list for room in the ring. */
struct weft__overflow {
    weft__overflow *next;
    weft__rec h;
    size_t len;
    unsigned char data[];
};

/* With mu held: the function's index, registering it on first use. */
int weft__pp_fn_index(weft__procpool *p, weft__fnptr fn)
{
    weft__pp_shared *sh = p->sh;
    uint32_t n = sh->nfns;
    for (uint32_t i = 0; i < n; i++)
        if (p->fnptrs[i] == fn)
            return (int)i;
    if (n >= WEFT__PP_MAX_FNS)
        return WEFT_ENOMEM;
    int r = weft__fnref_make(&sh->fns[n], fn);
    if (r)
        return r;
    p->fnptrs[n] = fn;
    __atomic_store_n(&sh->nfns, n + 1, __ATOMIC_RELEASE);
    return (int)n;
}

/* With mu held: a free slot (the table grows when none is): 0 and its
 * index, or WEFT_ENOMEM. */
int weft__pp_slot_alloc(weft__procpool *p, uint32_t *out)
{
    if (p->free_head == WEFT__NO_SLOT) {
        uint32_t ncap = p->nslots ? p->nslots * 2 : 64;
        weft__task_slot *s = realloc(p->slots, ncap * sizeof *s);
        if (!s)
            return WEFT_ENOMEM;
        for (uint32_t i = p->nslots; i < ncap; i++)
            s[i] = (weft__task_slot){.next_free = i + 1 < ncap ? i + 1 : WEFT__NO_SLOT,
                                     .large_fd = -1};
        p->free_head = p->nslots;
        p->slots = s;
        p->nslots = ncap;
    }
    *out = p->free_head;
    p->free_head = p->slots[*out].next_free;
    WEFT_ASSERT(!p->slots[*out].f && !p->slots[*out].job &&
                p->slots[*out].where == WEFT__AT_NONE);
    return 0;
}

void weft__pp_job_unref(weft__map_job *j)
{
    if (--j->refs == 0)
        free(j);
}

/* With mu held: forget slot i (its future reference is the caller's). */
void weft__pp_slot_release(weft__procpool *p, uint32_t i)
{
    weft__task_slot *s = &p->slots[i];
    WEFT_ASSERT(s->f && p->pending > 0);
    if (s->job)
        weft__pp_job_unref(s->job);
    if (s->large_fd >= 0)
        close(s->large_fd);
    s->large_fd = -1;
    s->f = NULL;
    s->job = NULL;
    s->where = WEFT__AT_NONE;
    s->gen++;
    s->next_free = p->free_head;
    p->free_head = i;
    p->pending--;
}

/* With mu held: put slot i's record in the task ring, or in the overflow
 * list when the ring is full. Its future stays PENDING until a worker
 * takes it (weft__pp_note_started). */
int weft__pp_enqueue(weft__procpool *p, uint32_t i, const weft__rec *h, const void *a, size_t alen)
{
    weft__ring *r = &p->sh->tasks;
    if (weft__rec_size(alen) > r->cap / 4)
        return WEFT_EMSGSIZE;
    int rc = WEFT_EFULL;
    if (!p->ovf_head) { /* keep the order of submits */
        weft__ring_lock(r);
        rc = weft__ring_push_locked(r, h, a, alen, &p->slots[i].pos);
        weft__ring_unlock(r);
    }
    if (rc == 0) {
        p->slots[i].where = WEFT__AT_RING;
        weft__pp_wake_workers(p->sh, 1);
        return 0;
    }
    weft__overflow *o = malloc(sizeof *o + alen);
    if (!o)
        return WEFT_ENOMEM;
    o->next = NULL;
    o->h = *h;
    o->len = alen;
    if (alen)
        memcpy(o->data, a, alen);
    if (p->ovf_tail) {
        p->ovf_tail->next = o;
    } else {
        /* The overflow was empty, so the collector may be asleep without
         * having asked the workers to wake it when they make room, and the
         * ring may have emptied meanwhile: ask them now, and wake it. */
        p->ovf_head = o;
        __atomic_store_n(&p->sh->want_space, 1, __ATOMIC_SEQ_CST);
        uint64_t one = 1;
        (void)!write(p->sh->evfd, &one, sizeof one);
    }
    p->ovf_tail = o;
    p->slots[i].where = WEFT__AT_OVERFLOW;
    return 0;
}

/* With mu held: move overflow into the ring while it fits. Items whose
 * task was cancelled meanwhile (their slot let go: pool_cancel) are
 * dropped. */
void weft__pp_flush_overflow(weft__procpool *p)
{
    weft__ring *r = &p->sh->tasks;
    int pushed = 0;
    while (p->ovf_head) {
        weft__overflow *o = p->ovf_head;
        uint32_t i = (uint32_t)o->h.id;
        if (weft__pp_slot_holds(p, i, o->h.id)) {
            weft__ring_lock(r);
            int rc = weft__ring_push_locked(r, &o->h, o->data, o->len, &p->slots[i].pos);
            weft__ring_unlock(r);
            if (rc != 0)
                break;
            p->slots[i].where = WEFT__AT_RING;
            pushed++;
        }
        p->ovf_head = o->next;
        if (!p->ovf_head)
            p->ovf_tail = NULL;
        free(o);
    }
    if (pushed)
        weft__pp_wake_workers(p->sh, pushed);
}

/* With mu held: mark RUNNING the futures whose records the workers have
 * taken (each worker's slot names the task it runs). A future already
 * done or running is left as it is. A read of a PENDING future's state
 * does the same for that future (pool_refresh), so this only saves reads
 * the work. */
void weft__pp_note_started(weft__procpool *p)
{
    for (unsigned w = 0; w < p->n; w++) {
        uint64_t running = __atomic_load_n(&p->sh->slots[w].running, __ATOMIC_ACQUIRE);
        uint32_t k = (uint32_t)(running - 1);
        if (running && weft__pp_slot_holds(p, k, running - 1))
            weft_future_set_running_or_notify_cancel(p->slots[k].f);
    }
}

/* With mu held: finish f once mu is let go (weft__pp_finish_doomed),
 * with `code` and `msg`, or cancelled for code 0; the slot's reference
 * goes with it. Without the memory to put it off, it is finished now. */
void weft__pp_doom(weft__procpool *p, weft_future *f, int code, const char *msg)
{
    if (p->ndoom == p->doomcap) {
        size_t cap = p->doomcap ? p->doomcap * 2 : 16;
        weft__doomed *d = realloc(p->doom, cap * sizeof *d);
        if (!d) {
            if (code != 0 || !weft__future_cancel_pending(f))
                weft_future_set_error(f, code ? code : WEFT_ECANCELLED, msg);
            weft_future_unref(f);
            return;
        }
        p->doom = d;
        p->doomcap = cap;
    }
    p->doom[p->ndoom++] = (weft__doomed){.f = f, .code = code, .msg = msg ? strdup(msg) : NULL};
}

/* Finish the futures doomed so far; mu is not held. */
void weft__pp_finish_doomed(weft__procpool *p)
{
    pthread_mutex_lock(&p->mu);
    weft__doomed *d = p->doom;
    size_t n = p->ndoom;
    p->doom = NULL;
    p->ndoom = p->doomcap = 0;
    pthread_mutex_unlock(&p->mu);
    for (size_t k = 0; k < n; k++) {
        if (d[k].code != 0 || !weft__future_cancel_pending(d[k].f))
            weft_future_set_error(d[k].f, d[k].code ? d[k].code : WEFT_ECANCELLED, d[k].msg);
        free(d[k].msg);
        weft_future_unref(d[k].f);
    }
    free(d);
}

/* With mu held: a chunk of a map fails; the map's first failure is the
 * first chunk the parent sees fail (multiprocessing.Pool.map's). */
void weft__pp_note_chunk_error(weft__task_slot *s)
{
    if (s->job && s->job->first_err == SIZE_MAX)
        s->job->first_err = s->first;
}

/* With mu held: take back every task no worker has taken (the overflow
 * and the records in the ring) and doom its future to CANCELLED. */
void weft__pp_cancel_queued(weft__procpool *p)
{
    while (p->ovf_head) {
        weft__overflow *o = p->ovf_head;
        uint32_t i = (uint32_t)o->h.id;
        p->ovf_head = o->next;
        if (weft__pp_slot_holds(p, i, o->h.id)) {
            weft__pp_doom(p, p->slots[i].f, 0, NULL);
            weft__pp_slot_release(p, i);
        }
        free(o);
    }
    p->ovf_tail = NULL;
    weft__ring *r = &p->sh->tasks;
    weft__ring_lock(r);
    weft__rec *h;
    while ((h = weft__ring_peek_locked(r))) {
        uint32_t i = (uint32_t)h->id;
        if (weft__pp_slot_holds(p, i, h->id)) {
            weft__pp_doom(p, p->slots[i].f, 0, NULL);
            weft__pp_slot_release(p, i);
        }
        weft__ring_pop_locked(r, h);
    }
    weft__ring_unlock(r);
}

/* With mu held: doom every future not yet done to fail (a broken pool,
 * workers gone at shutdown, terminate) and drop the overflow; the caller
 * finishes them (weft__pp_finish_doomed) once mu is let go. */
void weft__pp_fail_all(weft__procpool *p, int code, const char *msg)
{
    while (p->ovf_head) {
        weft__overflow *o = p->ovf_head;
        p->ovf_head = o->next;
        free(o);
    }
    p->ovf_tail = NULL;
    for (uint32_t i = 0; i < p->nslots; i++) {
        weft_future *f = p->slots[i].f;
        if (!f)
            continue;
        weft__pp_note_chunk_error(&p->slots[i]);
        weft__pp_doom(p, f, code, msg);
        weft__pp_slot_release(p, i);
    }
}

/* With mu held: the pool cannot go on. */
void weft__pp_break_pool(weft__procpool *p, const char *why)
{
    if (!p->broken) {
        p->broken = true;
        for (unsigned i = 0; i < p->n; i++)
            if (p->procs[i])
                weft_process_kill(p->procs[i]);
    }
    weft__pp_fail_all(p, WEFT_EBROKEN, why);
}
