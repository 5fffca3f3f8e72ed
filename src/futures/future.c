/*
 * Futures: one state word, and a small lock for the lists of done callbacks
 * and completion hooks.
 *
 * state bits: the weft_future_state in the low two bits, then
 *   COMPLETING  a set_result/set_error/fail_pending won the right to finish
 *               the future and is writing the outcome; the state still reads
 *               PENDING or RUNNING (not done) until it publishes.
 *   PARKED      threads may be parked on the future (result, exception):
 *               set in park's validate under the bucket lock, so a
 *               completion that sees it clear has nobody to wake.
 *   HOOKED      the lists may hold callbacks or hooks: set under the lock
 *               by whoever appends, so a completion that sees it clear need
 *               not take the lock at all (the common executor case).
 *
 * Ending exactly once: every way to end a future is one CAS on the state
 * word out of PENDING/RUNNING without COMPLETING (cancel goes straight to
 * CANCELLED, the others to COMPLETING and then FINISHED), so exactly one of
 * concurrent enders wins. The winner writes result/code/message with plain
 * stores and publishes FINISHED with a release CAS; readers load the state
 * with acquire and only read the outcome once they see it final.
 *
 * After publishing, the completer wakes the parked waiters (PARKED in the
 * word its CAS replaced), then, if HOOKED was set, takes the lock, runs the
 * hooks under it, detaches the callback list and runs the callbacks with no
 * lock held. An adder checks the state under the same lock: it either
 * appends before the completer takes the lists (and the completer sees
 * HOOKED, because the adder set it before the publishing CAS in the word's
 * modification order) or sees the state final and runs its callback itself.
 * Hence every callback runs exactly once.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal/check.h"
#include "internal/clock.h"
#include "internal/future.h"
#include "internal/park.h"
#include "internal/records.h"
#include "internal/solo.h"
#include "internal/sync.h"
#include "internal/tls.h"
#include "weft/sync.h"

#define STATE_MASK 3u
#define COMPLETING 4u
#define PARKED 8u
#define HOOKED 16u

typedef struct cb_node {
    struct cb_node *next;
    weft_future_cb fn;
    void *arg;
} cb_node;

struct weft_future {
    /* The first cache line holds what every executor task touches (submit,
     * run, finish, result, unref); the second what callbacks, owners and
     * the record cache use. */
    uint32_t state;        /* first: waiters park on &f->state (== f) */
    uint32_t refs;
    weft_lock lock;        /* guards cbs, cbs_last, cb0_used, hooks */
    int code;              /* written once by the winner, read after final */
    void *result;
    char *message;         /* heap, owned; freed with the future */
    cb_node *cbs, *cbs_last;
    weft__future_hook *hooks;
    const weft__future_owner *owner; /* a task's: set once before sharing */
    void *owner_ctx;
    cb_node cb0;           /* room for the first callback: no malloc */
    bool cb0_used;
    uint8_t retrieved;       /* the outcome was read (atomic, relaxed) */
    bool owned;              /* the record has room for an owner (its kind) */
    weft__record_tag tag;    /* the record allocator's */
};

static bool is_final(uint32_t s)
{
    return (s & STATE_MASK) >= WEFT_FUTURE_CANCELLED;
}

static uint32_t load_state(const weft_future *f)
{
    return __atomic_load_n(&f->state, __ATOMIC_ACQUIRE);
}

/* ------------------------------------------------------------ records */

/*
 * Future records come from the record allocator (internal/records.h), in
 * two kinds: a plain future, and an owned one, with WEFT__FUTURE_ROOM bytes
 * after it for its owner's record (a task lives beside its future: one
 * allocation, and the lines a step touches next to each other). Each bound
 * is the memory a burst may keep for the next one.
 */
/* A plain record's bytes, whole lines; an owned record's room starts
 * there. */
#define RECORD_SIZE ((sizeof(weft_future) + 63) & ~(size_t)63)
#ifndef WEFT_FUTURE_RETAIN
#define WEFT_FUTURE_RETAIN ((size_t)128 << 20)
#endif
/* An owned record is three times a plain one's size; four times the plain
 * bound holds a million tasks' records (384 MiB), and some. */
#ifndef WEFT_FUTURE_OWNED_RETAIN
#define WEFT_FUTURE_OWNED_RETAIN (WEFT_FUTURE_RETAIN * 4)
#endif

static weft__record_store plain_store = WEFT__RECORD_STORE_INIT;
static weft__record_store owned_store = WEFT__RECORD_STORE_INIT;
static const weft__records kinds[2] = {
    [false] = {.slot = RECORD_SIZE,
               .tag_off = offsetof(weft_future, tag),
               .retain = WEFT_FUTURE_RETAIN,
               .store = &plain_store},
    [true] = {.slot = RECORD_SIZE + WEFT__FUTURE_ROOM,
              .tag_off = offsetof(weft_future, tag),
              .retain = WEFT_FUTURE_OWNED_RETAIN,
              .store = &owned_store},
};
static _Thread_local weft__record_cache caches[2] WEFT__TLS_IE;

/* ------------------------------------------------- life and reference */

static int future_make(weft_future **out, uint32_t refs, bool owned)
{
    if (!out)
        return WEFT_EINVAL;
    weft_future *f = weft__records_take(&kinds[owned], &caches[owned]);
    if (!f)
        return WEFT_ENOMEM;
    /* Plain stores: nobody else sees f until the caller publishes it. */
    *f = (weft_future){.state = WEFT_FUTURE_PENDING,
                       .refs = refs,
                       .lock = WEFT_LOCK_INIT,
                       .owned = owned,
                       .tag = f->tag};
    *out = f;
    return 0;
}

int weft_future_new(weft_future **out)
{
    return future_make(out, 1, false);
}

int weft__future_new2(weft_future **out)
{
    return future_make(out, 2, false);
}

int weft__future_new_owned(weft_future **out, uint32_t refs, const weft__future_owner *owner,
                           void **room)
{
    if (!room || !owner || refs < 1 || refs > 2)
        return WEFT_EINVAL;
    int rc = future_make(out, refs, true);
    if (rc)
        return rc;
    (*out)->owner = owner;
    (*out)->owner_ctx = *room = (char *)*out + RECORD_SIZE;
    return 0;
}

weft_future *weft_future_ref(weft_future *f)
{
    /* Relaxed: taking a reference needs one already held, which orders it. */
    if (f)
        WEFT__FETCH_ADD32(&f->refs, 1, __ATOMIC_RELAXED);
    return f;
}

static void future_destroy(weft_future *f)
{
    /* Hooks are removed by their owners (wait, as_completed) before they
     * drop their references. Callbacks of a future that never ended are
     * dropped without running. */
    WEFT_ASSERT(!f->hooks);
    if (f->owner && f->owner->destroy)
        f->owner->destroy(f, f->owner_ctx);
    free(f->message);
    for (cb_node *n = f->cbs, *next; n; n = next) {
        next = n->next;
        if (n != &f->cb0)
            free(n);
    }
    weft__records_give(&kinds[f->owned], &caches[f->owned], f);
}

void weft_future_unref(weft_future *f)
{
    /* acq_rel: every owner's writes (release) happen before the freeing
     * owner's reads and the record's reuse (acquire). The last reference
     * needs no read-modify-write: nobody else holds one, so nobody can take
     * one (taking needs one held), and the acquire load orders the other
     * owners' releases before the freeing as the exchange would. */
    if (f && (__atomic_load_n(&f->refs, __ATOMIC_ACQUIRE) == 1 ||
              WEFT__FETCH_ADD32(&f->refs, (uint32_t)-1, __ATOMIC_ACQ_REL) == 1))
        future_destroy(f);
}

/* ------------------------------------------------------------ reporting */

/* The handler and its argument change together: a reader copies the pair
 * under the lock and calls the handler outside it (so a handler may be
 * called once more just after being replaced). */
static weft_lock report_lock = WEFT_LOCK_INIT;
static weft_report_fn report_fn;
static void *report_arg;

void weft_set_report_handler(weft_report_fn fn, void *arg)
{
    weft__lock_take(&report_lock);
    report_fn = fn;
    report_arg = fn ? arg : NULL;
    weft_lock_release(&report_lock);
}

void weft_report_error(const char *what, int code, const char *message)
{
    weft__lock_take(&report_lock);
    weft_report_fn fn = report_fn;
    void *arg = report_arg;
    weft_lock_release(&report_lock);
    if (!what)
        what = "error";
    if (fn) {
        fn(what, code, message, arg);
        return;
    }
    /* One fprintf: stdio's stream lock keeps the line whole. A warning
     * (code 0) has no error to name. */
    if (code == 0 && !message)
        fprintf(stderr, "weft: %s\n", what);
    else if (code == 0)
        fprintf(stderr, "weft: %s: %s\n", what, message);
    else
        fprintf(stderr, "weft: %s: %s (%s)\n", what, weft_err_name(code),
                message ? message : weft_strerror(code));
}

/* ---------------------------------------------------- completion */

static void call_cb(weft_future *f, weft_future_cb fn, void *arg)
{
    int rc = fn(f, arg);
    if (rc)
        weft_report_error("done callback", rc, NULL);
}

/* Under f->lock: set HOOKED unless f is final. Returns false if final; the
 * acquire then makes the outcome visible to a callback the caller runs. */
static bool mark_hooked(weft_future *f)
{
    uint32_t s = __atomic_load_n(&f->state, __ATOMIC_ACQUIRE);
    do {
        if (is_final(s))
            return false;
        if (s & HOOKED)
            return true;
    } while (!__atomic_compare_exchange_n(&f->state, &s, s | HOOKED, true, __ATOMIC_ACQUIRE,
                                          __ATOMIC_ACQUIRE));
    return true;
}

/* The completer's half, after the publishing CAS: hooks under the lock, then
 * the callbacks without it. */
static void run_lists(weft_future *f)
{
    weft__lock_take(&f->lock);
    for (weft__future_hook *h = f->hooks, *next; h; h = next) {
        next = h->next;
        h->linked = false;
        h->fn(h, f);
    }
    f->hooks = NULL;
    cb_node *n = f->cbs;
    f->cbs = f->cbs_last = NULL;
    weft_lock_release(&f->lock);
    if (!n)
        return;
    /* A callback may drop the reference the completer's caller relied on
     * (a callback that unrefs its future): keep f alive until the last one
     * has run, the embedded node included. */
    weft_future_ref(f);
    while (n) {
        cb_node *next = n->next;
        call_cb(f, n->fn, n->arg);
        if (n != &f->cb0)
            free(n);
        n = next;
    }
    weft_future_unref(f);
}

/* `old` is the state word the publishing CAS replaced. */
static void notify(weft_future *f, uint32_t old)
{
    if (old & PARKED)
        weft__unpark(&f->state, SIZE_MAX, NULL, NULL);
    if (old & HOOKED)
        run_lists(f);
}

/* Win the right to finish f (from PENDING, or RUNNING unless pending_only).
 * Relaxed: the winner only writes its own outcome next, and nobody reads it
 * before the release of publish(). */
static bool claim(weft_future *f, bool pending_only)
{
    uint32_t s = __atomic_load_n(&f->state, __ATOMIC_RELAXED);
    do {
        if (is_final(s) || (s & COMPLETING))
            return false;
        if (pending_only && (s & STATE_MASK) != WEFT_FUTURE_PENDING)
            return false;
    } while (!WEFT__CAS32(&f->state, &s, s | COMPLETING, __ATOMIC_RELAXED));
    return true;
}

static void publish(weft_future *f, uint32_t final)
{
    uint32_t s = __atomic_load_n(&f->state, __ATOMIC_RELAXED);
    while (!WEFT__CAS32(&f->state, &s, (s & (PARKED | HOOKED)) | final, __ATOMIC_RELEASE))
        ;
    notify(f, s);
}

/* Finish f with an outcome; `message` (heap or NULL) becomes f's on success
 * and stays the caller's on WEFT_ESTATE. */
static int finish(weft_future *f, bool pending_only, int code, void *result, char *message)
{
    if (!claim(f, pending_only))
        return WEFT_ESTATE;
    f->code = code;
    f->result = result;
    f->message = message;
    publish(f, WEFT_FUTURE_FINISHED);
    return 0;
}

int weft_future_set_result(weft_future *f, void *result)
{
    if (!f)
        return WEFT_EINVAL;
    if (f->owner && f->owner->sealed)
        return WEFT_ESTATE;
    return finish(f, false, 0, result, NULL);
}

static int fail(weft_future *f, bool pending_only, int code, const char *message)
{
    if (!f || code >= 0)
        return WEFT_EINVAL;
    char *m = NULL;
    /* Copy before claiming: once claimed, the future must end. */
    if (message && !(m = strdup(message)))
        return WEFT_ENOMEM;
    int rc = finish(f, pending_only, code, NULL, m);
    if (rc)
        free(m);
    return rc;
}

int weft_future_set_error(weft_future *f, int code, const char *message)
{
    if (f && f->owner && f->owner->sealed)
        return WEFT_ESTATE;
    return fail(f, false, code, message);
}

int weft__future_fail_pending(weft_future *f, int code, const char *message)
{
    return fail(f, true, code, message);
}

static int set_running(weft_future *f);

int weft_future_set_running_or_notify_cancel(weft_future *f)
{
    if (!f)
        return WEFT_EINVAL;
    if (f->owner && f->owner->sealed)
        return WEFT_ESTATE;
    return set_running(f);
}

static int set_running(weft_future *f)
{
    uint32_t s = __atomic_load_n(&f->state, __ATOMIC_RELAXED);
    do {
        if ((s & STATE_MASK) == WEFT_FUTURE_CANCELLED)
            return WEFT_ECANCELLED;
        if ((s & STATE_MASK) != WEFT_FUTURE_PENDING || (s & COMPLETING))
            return WEFT_ESTATE;
    } while (!WEFT__CAS32(&f->state, &s, (s & ~STATE_MASK) | WEFT_FUTURE_RUNNING,
                          __ATOMIC_RELAXED));
    return 0;
}

bool weft_future_cancel(weft_future *f)
{
    if (!f)
        return false;
    uint32_t s = __atomic_load_n(&f->state, __ATOMIC_RELAXED);
    /* A task is asked to stop (Task.cancel) rather than ended here: its
     * loop ends it, so its callbacks run on the loop's thread, and a
     * running task is not refused. */
    if (!is_final(s) && !(s & COMPLETING) && f->owner && f->owner->cancel)
        return f->owner->cancel(f, f->owner_ctx);
    return weft__future_cancel_pending(f);
}

bool weft__future_cancel_pending(weft_future *f)
{
    uint32_t s = __atomic_load_n(&f->state, __ATOMIC_RELAXED);
    do {
        if ((s & STATE_MASK) == WEFT_FUTURE_CANCELLED)
            return true;
        if ((s & STATE_MASK) != WEFT_FUTURE_PENDING || (s & COMPLETING))
            return false;
    } while (!__atomic_compare_exchange_n(&f->state, &s,
                                          (s & ~STATE_MASK) | WEFT_FUTURE_CANCELLED, true,
                                          __ATOMIC_RELEASE, __ATOMIC_RELAXED));
    notify(f, s);
    return true;
}

/* ------------------------------------------------------------- reading */

weft_future_state weft_future_get_state(const weft_future *f)
{
    if (!f)
        return WEFT_FUTURE_PENDING;
    uint32_t s = load_state(f);
    if ((s & STATE_MASK) == WEFT_FUTURE_PENDING && f->owner && f->owner->refresh) {
        f->owner->refresh(f, f->owner_ctx);
        s = load_state(f);
    }
    return (weft_future_state)(s & STATE_MASK);
}

bool weft_future_cancelled(const weft_future *f)
{
    return weft_future_get_state(f) == WEFT_FUTURE_CANCELLED;
}

bool weft_future_running(const weft_future *f)
{
    return weft_future_get_state(f) == WEFT_FUTURE_RUNNING;
}

bool weft_future_done(const weft_future *f)
{
    return f && is_final(load_state(f));
}

const char *weft_future_message(const weft_future *f)
{
    /* A cancelled task keeps its cancel message; other cancelled futures
     * have none. */
    if (!f || (load_state(f) & STATE_MASK) < WEFT_FUTURE_CANCELLED)
        return NULL;
    return f->message;
}

/* Park's validate, under the bucket lock: park only while f is not final,
 * announcing the waiter with PARKED first. Acquire, because refusing means
 * the caller goes on to read the outcome. */
static bool future_validate(void *ctx)
{
    weft_future *f = ctx;
    uint32_t s = __atomic_load_n(&f->state, __ATOMIC_ACQUIRE);
    for (;;) {
        if (is_final(s))
            return false;
        if (s & PARKED)
            return true;
        if (__atomic_compare_exchange_n(&f->state, &s, s | PARKED, true, __ATOMIC_ACQUIRE,
                                        __ATOMIC_ACQUIRE))
            return true;
    }
}

static void future_timed_out(void *ctx, bool was_last)
{
    weft_future *f = ctx;
    if (was_last)
        __atomic_fetch_and(&f->state, ~PARKED, __ATOMIC_RELAXED);
}

/* Wait until f is final: 0 and the final state word in *state. A done
 * future costs one load: no clock read, no system call. */
static int wait_final(weft_future *f, double timeout, uint32_t *state)
{
    if (!f || weft__timeout_valid(timeout))
        return WEFT_EINVAL;
    uint32_t s = load_state(f);
    if (!is_final(s)) {
        if (timeout == 0)
            return WEFT_ETIMEDOUT;
        weft__park_spec spec = {
            .validate = future_validate,
            .timed_out = future_timed_out,
            .ctx = f,
            .why = WEFT_WAIT_FUTURE,
            .what = f,
        };
        int64_t deadline = weft__deadline(timeout);
        if (f->owner && f->owner->help && weft__park_should_spin()) {
            f->owner->help(f, f->owner_ctx, deadline);
            s = load_state(f);
        }
        for (; !is_final(s);) {
            int rc = weft__park(&f->state, &spec, deadline, NULL);
            /* A coroutine's cancellation is delivered even if the future
             * ended at the same moment (asyncio does so too); only a
             * timeout defers to an outcome that is there. */
            if (rc == WEFT_ECANCELLED)
                return rc;
            s = load_state(f);
            if (is_final(s))
                break;
            if (rc != 0 && rc != WEFT_EAGAIN)
                return rc;
        }
    }
    *state = s;
    return 0;
}

int weft_future_result(weft_future *f, void **result, double timeout)
{
    uint32_t s;
    int rc = wait_final(f, timeout, &s);
    if (rc)
        return rc;
    if (f->owner)
        __atomic_store_n(&f->retrieved, 1, __ATOMIC_RELAXED);
    if ((s & STATE_MASK) == WEFT_FUTURE_CANCELLED)
        return WEFT_ECANCELLED;
    if (f->code == 0 && result)
        *result = f->result;
    return f->code;
}

int weft_future_exception(weft_future *f, double timeout)
{
    return weft_future_result(f, NULL, timeout);
}

/* ------------------------------------------------ callbacks and hooks */

int weft_future_add_done_callback(weft_future *f, weft_future_cb fn, void *arg)
{
    if (!f || !fn)
        return WEFT_EINVAL;
    if (!is_final(load_state(f))) {
        weft__lock_take(&f->lock);
        if (mark_hooked(f)) {
            /* malloc under the lock: it is short, and the lock is f's own. */
            cb_node *n = f->cb0_used ? malloc(sizeof *n) : &f->cb0;
            if (n) {
                *n = (cb_node){NULL, fn, arg};
                f->cb0_used = true;
                if (f->cbs_last)
                    f->cbs_last->next = n;
                else
                    f->cbs = n;
                f->cbs_last = n;
            }
            weft_lock_release(&f->lock);
            return n ? 0 : WEFT_ENOMEM;
        }
        weft_lock_release(&f->lock);
    }
    call_cb(f, fn, arg);
    return 0;
}

int weft_future_remove_done_callback(weft_future *f, weft_future_cb fn, void *arg,
                                     size_t *removed)
{
    if (removed)
        *removed = 0;
    if (!f || !fn)
        return WEFT_EINVAL;
    size_t n = 0;
    /* Once the future is final its list has been taken by the completer
     * (or never held anything): nothing is left to remove. */
    if (!is_final(load_state(f))) {
        weft__lock_take(&f->lock);
        cb_node *prev = NULL;
        for (cb_node *c = f->cbs, *next; c; c = next) {
            next = c->next;
            if (c->fn != fn || c->arg != arg) {
                prev = c;
                continue;
            }
            if (prev)
                prev->next = next;
            else
                f->cbs = next;
            if (c == &f->cb0)
                f->cb0_used = false; /* free for the next callback added */
            else
                free(c);
            n++;
        }
        f->cbs_last = prev;
        weft_lock_release(&f->lock);
    }
    if (removed)
        *removed = n;
    return 0;
}

bool weft__future_hook_add(weft_future *f, weft__future_hook *h)
{
    weft__lock_take(&f->lock);
    bool hooked = mark_hooked(f);
    if (hooked) {
        h->prev = NULL;
        h->next = f->hooks;
        if (f->hooks)
            f->hooks->prev = h;
        f->hooks = h;
        h->linked = true;
    }
    weft_lock_release(&f->lock);
    return hooked;
}

void weft__future_hook_remove(weft_future *f, weft__future_hook *h)
{
    /* If the completer got to h first, it ran h->fn under this lock: once we
     * hold it, that call is over. */
    weft__lock_take(&f->lock);
    if (h->linked) {
        if (h->prev)
            h->prev->next = h->next;
        else
            f->hooks = h->next;
        if (h->next)
            h->next->prev = h->prev;
        h->linked = false;
    }
    weft_lock_release(&f->lock);
}

/* ---------------------------------------------------------------- tasks */

/*
 * The task the calling thread is running, for weft_task_set_message. A
 * record on weft__future_run's stack; `prev` restores an outer task when a
 * task runs another inline.
 */
typedef struct task_ctx {
    char *message;
    struct task_ctx *prev;
} task_ctx;

static _Thread_local task_ctx *current_task WEFT__TLS_IE;

int weft_task_set_message(const char *fmt, ...)
{
    task_ctx *t = current_task;
    if (!t)
        return WEFT_ESTATE;
    if (!fmt)
        return WEFT_EINVAL;
    char *m;
    va_list ap;
    va_start(ap, fmt);
    int n = vasprintf(&m, fmt, ap);
    va_end(ap);
    if (n < 0)
        return WEFT_ENOMEM;
    free(t->message);
    t->message = m;
    return 0;
}

void *weft__future_task_ctx_swap(void *ctx)
{
    task_ctx *old = current_task;
    current_task = ctx;
    return old;
}

int weft__future_run(weft_future *f, weft_task_fn fn, void *arg)
{
    return weft__future_run_ex(f, fn, arg, false);
}

int weft__future_run_ex(weft_future *f, weft_task_fn fn, void *arg, bool cancelled_ends_cancelled)
{
    if (!f || !fn)
        return WEFT_EINVAL;
    int rc = set_running(f);
    if (rc == WEFT_ECANCELLED)
        return 0;
    if (rc)
        return rc;
    task_ctx t = {NULL, current_task};
    current_task = &t;
    void *res = NULL;
    rc = fn(arg, &res);
    current_task = t.prev;
    if (rc == 0) {
        free(t.message);
        finish(f, false, 0, res, NULL);
        return 0;
    }
    if (rc > 0) {
        /* A task that returns a positive value is a bug: a failure must be a
         * negative code. Fail it loudly rather than guess. */
        free(t.message);
        if (asprintf(&t.message, "task returned %d: a task returns 0 or a negative error code",
                     rc) < 0)
            t.message = NULL;
        rc = WEFT_EINVAL;
    }
    if (rc == WEFT_ECANCELLED && cancelled_ends_cancelled) {
        /* A task that lets a cancellation through ends cancelled (asyncio's
         * Task does the same with a CancelledError). */
        if (claim(f, false)) {
            f->message = t.message; /* the cancel message, as Python keeps it */
            publish(f, WEFT_FUTURE_CANCELLED);
        } else {
            free(t.message);
        }
        return rc;
    }
    /* The future is RUNNING and ours to end, unless user code holding it
     * called set_result/set_error meanwhile: then that outcome stands. */
    if (finish(f, false, rc, NULL, t.message))
        free(t.message);
    return rc;
}

void weft__future_set_owner(weft_future *f, const weft__future_owner *owner, void *ctx)
{
    f->owner = owner;
    f->owner_ctx = ctx;
}

void *weft__future_owner_ctx(const weft_future *f, const weft__future_owner *owner)
{
    return f && f->owner == owner ? f->owner_ctx : NULL;
}

bool weft__future_retrieved(const weft_future *f)
{
    return __atomic_load_n(&f->retrieved, __ATOMIC_RELAXED);
}

int weft__future_code(const weft_future *f)
{
    return (load_state(f) & STATE_MASK) == WEFT_FUTURE_FINISHED ? f->code : 0;
}

void weft__future_wait_uncancellable(weft_future *f)
{
    uint32_t s;
    weft__cancel_mask();
    (void)wait_final(f, WEFT_FOREVER, &s); /* masked: it only ends when f does */
    weft__cancel_unmask();
}
