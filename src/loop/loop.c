/*
 * loop: the event loop (asyncio's BaseEventLoop for C). One loop runs on one
 * thread at a time; it owns a ready queue of intrusive items, a timer heap,
 * a thread-safe hand-off queue, and a poller (platform/poll.h) for fd
 * watchers and cross-thread wake-ups.
 *
 * An iteration (run_once), as asyncio's _run_once:
 *   1. the poll timeout: 0 if anything is ready (or a stop is asked), else
 *      until the earliest timer, else none (cut short when idle coroutine
 *      stacks are due to go back to the kernel: weft__stack_trim);
 *   2. poll, and hand each ready fd to its watcher's ready();
 *   3. fire the due timers (a call_later handle's fire appends its item to
 *      the ready queue), equal deadlines in the order they were started;
 *   4. move what other threads handed over into the ready queue;
 *   5. run exactly the items that are ready now. Items queued while they
 *      run wait for the next iteration, so a callback that reschedules
 *      itself cannot starve I/O or timers.
 *
 * Threads: every function is for the loop's thread (or for a loop that is
 * not running), except weft_loop_stop, weft_loop_call_soon_threadsafe,
 * weft_loop_is_running and weft__loop_ready_threadsafe. These must not race
 * with weft_loop_free (loop.h): the owner makes sure every other thread is
 * done calling them (joined, told to stop, or holding something the owner
 * waits for) before it frees the loop. A call that overlaps free is a
 * use-after-free, whatever its outcome: the gate (inbox.c) lives in
 * the loop's own memory, so a call that reaches it after free has returned
 * touches freed memory. The gate is only a best-effort check: free waits
 * for the calls already inside it, and one that finds it closed returns
 * WEFT_ESTATE, which catches some misuse but makes none of it safe.
 *
 * Fork: a loop is not usable in a forked child (its epoll instance is
 * shared with the parent, and its thread is gone). A child must neither run
 * nor free the parent's loops; it may make new ones.
 *
 * This file is the loop proper and its handles; the timer heap, the
 * cross-thread side and the fd watchers are files of their own
 * (internal/loop_state.h lists them).
 */
#include <dlfcn.h>
#include <math.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal/check.h"
#include "internal/clock.h"
#include "internal/coro.h"
#include "internal/future.h"
#include "internal/loop.h"
#include "internal/loop_state.h"
#include "internal/park.h"
#include "internal/records.h"
#include "internal/tls.h"
#include "platform/poll.h"

/* Iterations that find a producer in flight (see inbox.c) before the loop
 * starts to yield its CPU to it. */
#define INFLIGHT_SPINS 8

/*
 * Two kinds of handle share the type, and both are records of the record
 * allocator (internal/records.h), taken on the thread that makes the
 * handle and given back on the thread that drops it last, which the
 * allocator allows. A call_soon/call_later/call_at handle is touched on
 * the loop's thread only: plain fields. A call_soon_threadsafe handle is
 * made on any thread and may be cancelled from any thread while the loop
 * runs it, so it has an atomic reference count (`refs`: the loop's until
 * it ran or was dropped, plus the callers') and an atomic state word
 * (`ts`): the loop sets TS_RAN (a CAS) before it calls fn unless
 * TS_CANCELLED is there; a cancel sets TS_CANCELLED (a fetch_or) and
 * stopped the call unless TS_RAN was there. Whichever comes first in the
 * word's order wins.
 */
enum { TS_RAN = 1, TS_CANCELLED = 2 };

struct weft_handle {
    weft__loop_item item;
    weft__loop_timer timer;
    weft_callback fn;
    void *arg;
    weft_loop *loop;
    unsigned users; /* references callers hold (weft_handle_ref/_unref) */
    bool sched;     /* the loop holds its reference (queued, or timer pending) */
    bool cancelled;
    bool ran;       /* its callback ran (or runs now) */
    bool timed;     /* call_later / call_at */
    bool threadsafe; /* from call_soon_threadsafe: the fields below */
    uint32_t ts;    /* TS_* bits, atomic */
    uint32_t refs;  /* atomic */
    weft__record_tag tag; /* the record allocator's */
};

/* A million pending call_later handles fit the bound (104 bytes each). */
#ifndef WEFT_LOOP_HANDLE_RETAIN
#define WEFT_LOOP_HANDLE_RETAIN ((size_t)128 << 20)
#endif

static weft__record_store handle_store = WEFT__RECORD_STORE_INIT;
static const weft__records handle_records = {
    .slot = sizeof(weft_handle),
    .tag_off = offsetof(weft_handle, tag),
    .retain = WEFT_LOOP_HANDLE_RETAIN,
    .store = &handle_store,
};
static _Thread_local weft__record_cache handle_cache WEFT__TLS_IE;

static _Thread_local weft_loop *running_loop WEFT__TLS_IE;

/* The task module's hooks (internal/loop.h), once it has made a task. */
static const weft__loop_task_hooks *task_hooks;

/* ------------------------------------------------------------ time */

static double ns_to_time(int64_t ns)
{
    return (double)ns / 1e9;
}

/* A loop time (seconds) to ns; saturates for huge values and infinities
 * (+inf never comes, -inf is long past). */
static int64_t time_to_ns(double when)
{
    if (when >= 9.0e9)
        return WEFT__NO_DEADLINE - 1;
    if (when <= -9.0e9)
        return INT64_MIN / 2;
    return (int64_t)(when * 1e9);
}

/* A delay from now (seconds, negative allowed: asyncio runs such a timer at
 * once, in deadline order) to ns on the loop's clock, saturating. */
static int64_t delay_to_ns(double delay)
{
    if (delay <= -9.0e9)
        return INT64_MIN / 2;
    if (delay >= 9.0e9)
        return WEFT__NO_DEADLINE - 1;
    int64_t now = weft__now_ns(), ns = (int64_t)(delay * 1e9);
    return ns >= WEFT__NO_DEADLINE - 1 - now ? WEFT__NO_DEADLINE - 1 : now + ns;
}

/* ------------------------------------------------------ ready queue */

void weft__loop_ready(weft_loop *L, weft__loop_item *it)
{
    it->next = NULL;
    if (L->ready_tail)
        L->ready_tail->next = it;
    else
        L->ready_head = it;
    L->ready_tail = it;
}

/* ------------------------------------------------------------ handles */

static void handle_run(weft__loop_item *it);
static void handle_fire(weft__loop_timer *t);
static void handle_describe(weft__loop_item *it, char *buf, size_t len);

static weft_handle *handle_alloc(void)
{
    return weft__records_take(&handle_records, &handle_cache);
}

static void handle_free(weft_handle *h)
{
    weft__records_give(&handle_records, &handle_cache, h);
}

/* The loop no longer holds h (it ran, was cancelled out of the heap, or
 * its loop closed): freed unless a caller still holds it. */
static void handle_unschedule(weft_handle *h)
{
    h->sched = false;
    if (!h->users)
        handle_free(h);
}

/* A handle on the ready list of a loop that closes. */
static void handle_drop(weft__loop_item *it)
{
    handle_unschedule(CONTAINER_OF(it, weft_handle, item));
}

static int schedule(weft_loop *L, bool timed, int64_t when, weft_callback fn, void *arg,
                    weft_handle **out)
{
    weft_handle *h = handle_alloc();
    if (!h)
        return WEFT_ENOMEM;
    h->item = (weft__loop_item){.run = handle_run, .describe = handle_describe, .drop = handle_drop};
    h->timer = (weft__loop_timer)WEFT__TIMER_INIT(handle_fire);
    h->fn = fn;
    h->arg = arg;
    h->loop = L;
    h->users = out != NULL;
    h->sched = true;
    h->cancelled = false;
    h->ran = false;
    h->timed = timed;
    h->threadsafe = false;
    if (timed) {
        if (weft__loop_timer_start(L, &h->timer, when) != 0) {
            handle_free(h);
            return WEFT_ENOMEM;
        }
    } else {
        weft__loop_ready(L, &h->item);
    }
    if (out) {
        __atomic_fetch_add(&L->handle_refs, 1, __ATOMIC_RELAXED);
        *out = h;
    }
    return 0;
}

static void handle_fire(weft__loop_timer *t)
{
    weft_handle *h = CONTAINER_OF(t, weft_handle, timer);
    weft__loop_ready(h->loop, &h->item);
}

static void handle_run(weft__loop_item *it)
{
    weft_handle *h = CONTAINER_OF(it, weft_handle, item);
    /* sched stays set while fn runs: fn may drop the caller's reference
     * (weft_handle_unref(h)), which must not recycle h under us. */
    if (!h->cancelled) {
        h->ran = true;
        h->fn(h->arg);
    }
    handle_unschedule(h);
}

static void describe_fn(const char *what, void (*fn)(void *), char *buf, size_t len)
{
    Dl_info info;
    void *p;
    memcpy(&p, &fn, sizeof p);
    if (dladdr(p, &info) && info.dli_sname)
        snprintf(buf, len, "%s %s", what, info.dli_sname);
    else
        snprintf(buf, len, "%s %p", what, p);
}

static void handle_describe(weft__loop_item *it, char *buf, size_t len)
{
    weft_handle *h = CONTAINER_OF(it, weft_handle, item);
    describe_fn(h->timed ? "timer callback" : "callback", h->fn, buf, len);
}

static weft_loop *resolve(weft_loop *L)
{
    return L ? L : running_loop;
}

/* Loop-thread functions called on a loop another thread runs. */
static bool foreign(const weft_loop *L)
{
    return __atomic_load_n(&L->shared.running, __ATOMIC_RELAXED) && running_loop != L;
}

int weft_loop_call_soon(weft_loop *loop, weft_callback fn, void *arg, weft_handle **out)
{
    weft_loop *L = resolve(loop);
    if (!L || L->dead || foreign(L))
        return WEFT_ESTATE;
    if (!fn)
        return WEFT_EINVAL;
    return schedule(L, false, 0, fn, arg, out);
}

int weft_loop_call_at(weft_loop *loop, double when, weft_callback fn, void *arg,
                      weft_handle **out)
{
    weft_loop *L = resolve(loop);
    if (!L || L->dead || foreign(L))
        return WEFT_ESTATE;
    if (!fn || isnan(when))
        return WEFT_EINVAL;
    return schedule(L, true, time_to_ns(when), fn, arg, out);
}

int weft_loop_call_later(weft_loop *loop, double delay, weft_callback fn, void *arg,
                         weft_handle **out)
{
    weft_loop *L = resolve(loop);
    if (!L || L->dead || foreign(L))
        return WEFT_ESTATE;
    if (!fn || isnan(delay))
        return WEFT_EINVAL;
    return schedule(L, true, delay_to_ns(delay), fn, arg, out);
}

/* Drop one reference to a call_soon_threadsafe handle: acq_rel, so that the
 * last one's free comes after every other holder's use. */
static void ts_release(weft_handle *h)
{
    if (__atomic_sub_fetch(&h->refs, 1, __ATOMIC_ACQ_REL) == 0)
        handle_free(h);
}

static void ts_run(weft__loop_item *it)
{
    weft_handle *h = CONTAINER_OF(it, weft_handle, item);
    /* TS_RAN only if no cancel came first, so that a cancelled handle
     * keeps answering true. */
    uint32_t s = __atomic_load_n(&h->ts, __ATOMIC_ACQUIRE);
    while (!(s & TS_CANCELLED)) {
        if (__atomic_compare_exchange_n(&h->ts, &s, s | TS_RAN, true, __ATOMIC_ACQ_REL,
                                        __ATOMIC_ACQUIRE)) {
            h->fn(h->arg);
            break;
        }
    }
    ts_release(h);
}

/* Dropped unrun by a loop that closes: the loop's reference goes. */
static void ts_drop(weft__loop_item *it)
{
    ts_release(CONTAINER_OF(it, weft_handle, item));
}

static void ts_describe(weft__loop_item *it, char *buf, size_t len)
{
    describe_fn("callback", CONTAINER_OF(it, weft_handle, item)->fn, buf, len);
}

int weft_loop_call_soon_threadsafe(weft_loop *loop, weft_callback fn, void *arg,
                                   weft_handle **out)
{
    weft_loop *L = resolve(loop);
    if (!L)
        return WEFT_ESTATE;
    if (!fn)
        return WEFT_EINVAL;
    /* Taken on the caller's thread, given back by whoever drops the last
     * reference: the loop after it ran it (or dropped it), or the caller. */
    weft_handle *h = handle_alloc();
    if (!h)
        return WEFT_ENOMEM;
    *h = (weft_handle){
        .item = {.run = ts_run, .describe = ts_describe, .drop = ts_drop},
        .timer = WEFT__TIMER_INIT(NULL),
        .fn = fn,
        .arg = arg,
        .loop = L,
        .threadsafe = true,
        .refs = out ? 2 : 1,
        .tag = h->tag,
    };
    /* The caller's reference is taken before the loop can see the handle:
     * the loop may run it and drop its own at once. */
    int rc = weft__loop_ready_threadsafe(L, &h->item);
    if (rc != 0) {
        handle_free(h);
        return rc;
    }
    if (out)
        *out = h;
    return 0;
}

/* ------------------------------------------------------------ handles */

bool weft_handle_cancel(weft_handle *h)
{
    if (!h)
        return false;
    if (h->threadsafe) /* any thread: its loop may be gone */
        return !(__atomic_fetch_or(&h->ts, TS_CANCELLED, __ATOMIC_ACQ_REL) & TS_RAN);
    weft_loop *L = h->loop;
    if (!L->dead && foreign(L))
        return false; /* not allowed: the loop's thread only */
    /* A handle that ran is marked too, as asyncio's; it was not stopped. */
    bool stopped = !h->ran;
    if (h->cancelled)
        return stopped;
    h->cancelled = true;
    /* A pending timer leaves the heap at once (a million cancelled
     * call_later handles cost nothing); a queued item stays queued and is
     * skipped when its turn comes. */
    if (!L->dead && h->timed && weft__loop_timer_pending(&h->timer)) {
        weft__loop_timer_stop(L, &h->timer);
        handle_unschedule(h);
    }
    return stopped;
}

bool weft_handle_cancelled(const weft_handle *h)
{
    if (h && h->threadsafe)
        return __atomic_load_n(&h->ts, __ATOMIC_ACQUIRE) & TS_CANCELLED;
    return h && h->cancelled;
}

double weft_handle_when(const weft_handle *h)
{
    return h && h->timed ? ns_to_time(h->timer.when) : -1;
}

weft_handle *weft_handle_ref(weft_handle *h)
{
    if (h && h->threadsafe) {
        /* Relaxed: a reference is taken only by one who holds one. */
        __atomic_fetch_add(&h->refs, 1, __ATOMIC_RELAXED);
    } else if (h) {
        h->users++;
        __atomic_fetch_add(&h->loop->handle_refs, 1, __ATOMIC_RELAXED);
    }
    return h;
}

void weft_handle_unref(weft_handle *h)
{
    if (h && h->threadsafe) {
        ts_release(h);
        return;
    }
    if (!h || !h->users)
        return;
    weft_loop *L = h->loop;
    h->users--;
    /* A closed loop holds none of its handles (sched is clear). */
    if (!h->users && !h->sched)
        handle_free(h);
    if (L->dead) {
        /* The loop was freed: its memory lives on for the handles callers
         * still hold; the last one takes it. */
        if (__atomic_sub_fetch(&L->handle_refs, 1, __ATOMIC_ACQ_REL) == 0)
            free(L);
        return;
    }
    __atomic_fetch_sub(&L->handle_refs, 1, __ATOMIC_RELAXED);
}

bool weft__loop_is_running_any(const weft_loop *L)
{
    return __atomic_load_n(&L->shared.running, __ATOMIC_ACQUIRE) != 0;
}

/* ------------------------------------------------------------ running */

static void run_item_debug(weft_loop *L, weft__loop_item *it)
{
    /* Name the item before running it: running may free it. A handle is
     * named by its function only if it turns out slow (dladdr costs). */
    char name[160] = "";
    void (*fn)(void *) = NULL;
    bool timed = false;
    if (it->run == handle_run) {
        weft_handle *h = CONTAINER_OF(it, weft_handle, item);
        fn = h->cancelled ? NULL : h->fn;
        timed = h->timed;
    } else if (it->run == ts_run) {
        weft_handle *h = CONTAINER_OF(it, weft_handle, item);
        fn = __atomic_load_n(&h->ts, __ATOMIC_RELAXED) & TS_CANCELLED ? NULL : h->fn;
    } else if (it->describe) {
        it->describe(it, name, sizeof name);
    } else {
        snprintf(name, sizeof name, "item %p", (void *)it);
    }
    int64_t t0 = weft__now_ns();
    it->run(it);
    double dt = (double)(weft__now_ns() - t0) / 1e9;
    /* A cancelled handle ran nothing: no fn and no name to report. */
    if (dt > L->slow && (fn || name[0])) {
        if (fn)
            describe_fn(timed ? "timer callback" : "callback", fn, name, sizeof name);
        weft__loop_warn(L, NULL, "Executing %s took %.3f seconds", name, dt);
    }
}

/* Inlined into run_until, its one caller: a task's step returns into the
 * loop's own frame, one return fewer to mispredict after each switch back
 * from a coroutine (the CPU's return predictor holds the coroutine's). */
static inline __attribute__((always_inline)) void run_once(weft_loop *L)
{
    int64_t timeout = -1;
    bool waiting = false, handoff = false;
    if (L->ready_head || __atomic_load_n(&L->shared.stop, __ATOMIC_RELAXED)) {
        timeout = 0;
    } else {
        __atomic_store_n(&L->shared.polling, POLL_WAITING, __ATOMIC_SEQ_CST);
        if (weft__loop_inbox_maybe_nonempty(L) ||
            __atomic_load_n(&L->shared.stop, __ATOMIC_SEQ_CST)) {
            __atomic_store_n(&L->shared.polling, POLL_BUSY, __ATOMIC_RELAXED);
            timeout = 0;
            handoff = true;
        } else {
            waiting = true;
            int64_t now = weft__now_ns();
            if (L->heap_n) {
                timeout = L->heap[0].when - now;
                if (timeout < 0)
                    timeout = 0;
            }
            /* Going to sleep: coroutine stacks idle long enough go back
             * to the kernel, and the sleep ends when the next ones are due
             * (a loop that bursts and then waits gives the memory back). */
            int64_t trim = weft__stack_trim(now);
            if (trim >= 0 && (timeout < 0 || trim < timeout))
                timeout = trim;
        }
    }

    if (waiting || L->nwatch) {
        L->nevents = weft__poll_wait(&L->poller, timeout, L->events, MAX_EVENTS);
        /* A producer that saw WAITING wrote (or is writing) the eventfd: a
         * late write only makes a later wait return early. */
        if (waiting)
            __atomic_store_n(&L->shared.polling, POLL_BUSY, __ATOMIC_RELAXED);
        for (L->event_pos = 0; L->event_pos < L->nevents;) {
            weft__poll_event *e = &L->events[L->event_pos++];
            weft__loop_io *io = e->data;
            if (io && io->events)
                io->ready(io, e->events);
        }
        L->nevents = L->event_pos = 0;
    }

    if (L->heap_n)
        weft__loop_timers_fire_due(L);

    if (!weft__loop_inbox_idle(L))
        for (weft__loop_item *it; (it = weft__loop_inbox_pop(L));)
            weft__loop_ready(L, it);

    /* Woken only by the hand-off queue, and nothing came out of it: a
     * producer is between its exchange and its link. It needs a few
     * instructions, unless it was preempted there; then spinning (without
     * even a poll when no fd is watched) only burns the CPU it may be
     * waiting for. */
    if (handoff && !L->ready_head && weft__loop_inbox_maybe_nonempty(L)) {
        if (++L->inflight > INFLIGHT_SPINS)
            sched_yield();
    } else {
        L->inflight = 0;
    }

    /* Detach the batch: what its items queue goes to the next iteration. */
    weft__loop_item *it = L->ready_head;
    L->ready_head = L->ready_tail = NULL;
    while (it) {
        L->upcoming = it->next;
        it->next = NULL;
        if (L->debug)
            run_item_debug(L, it);
        else
            it->run(it);
        it = L->upcoming; /* weft__loop_take_next may have taken some */
    }
    L->skipped = 0;
}

/* Iterations until one of the stop bits in `mask` is set. */
static void run_until(weft_loop *L, uint32_t mask)
{
    do
        run_once(L);
    while (!(__atomic_load_n(&L->shared.stop, __ATOMIC_ACQUIRE) & mask));
}

static int run_enter(weft_loop *L)
{
    if (running_loop || L->dead)
        return WEFT_ESTATE;
    uint32_t expect = 0;
    if (!__atomic_compare_exchange_n(&L->shared.running, &expect, 1, false, __ATOMIC_ACQUIRE,
                                     __ATOMIC_RELAXED))
        return WEFT_ESTATE;
    running_loop = L;
    return 0;
}

static void run_leave(weft_loop *L, uint32_t clear)
{
    /* As asyncio, a stop is consumed by the run it ended; one that arrives
     * after this point stops the next run after one iteration. */
    __atomic_fetch_and(&L->shared.stop, ~clear, __ATOMIC_RELAXED);
    running_loop = NULL;
    __atomic_store_n(&L->shared.running, 0, __ATOMIC_RELEASE);
}

int weft_loop_run_forever(weft_loop *L)
{
    if (!L)
        return WEFT_EINVAL;
    int rc = run_enter(L);
    if (rc != 0)
        return rc;
    run_until(L, STOP_USER);
    run_leave(L, STOP_USER);
    return 0;
}

typedef struct until_hook {
    weft__future_hook h;
    weft_loop *loop;
} until_hook;

/* In the completing thread, with the future's lock held: only a flag and a
 * wake. The loop is alive: run_until_complete removes the hook before it
 * returns, and a running loop cannot be freed. */
static void until_done(weft__future_hook *h, weft_future *f)
{
    weft_loop *L = CONTAINER_OF(h, until_hook, h)->loop;
    __atomic_fetch_or(&L->shared.stop, STOP_FUTURE, __ATOMIC_SEQ_CST);
    weft__loop_wake(L);
}

int weft_loop_run_until_complete(weft_loop *L, weft_future *f, void **result)
{
    if (!L || !f)
        return WEFT_EINVAL;
    int rc = run_enter(L);
    if (rc != 0)
        return rc;
    until_hook uh = {.h.fn = until_done, .loop = L};
    bool hooked = weft__future_hook_add(f, &uh.h);
    if (!hooked) /* already done: one iteration, as asyncio */
        __atomic_fetch_or(&L->shared.stop, STOP_FUTURE, __ATOMIC_RELAXED);
    run_until(L, ~0u);
    /* Removed before the stop bits are cleared, so a completion racing
     * with a user stop cannot leave STOP_FUTURE behind for the next run. */
    if (hooked)
        weft__future_hook_remove(f, &uh.h);
    run_leave(L, STOP_USER | STOP_FUTURE);
    if (!weft_future_done(f))
        return WEFT_ESTATE;
    return weft_future_result(f, result, 0);
}

int weft_loop_stop(weft_loop *loop)
{
    weft_loop *L = resolve(loop);
    if (!L)
        return WEFT_ESTATE;
    return weft__loop_request_stop(L);
}

bool weft_loop_is_running(const weft_loop *L)
{
    return L && __atomic_load_n(&L->shared.running, __ATOMIC_ACQUIRE);
}

bool weft_loop_is_closed(const weft_loop *L)
{
    return L && L->dead;
}

weft_loop *weft_get_running_loop(void)
{
    return running_loop;
}

weft_loop *weft__loop_running(void)
{
    return running_loop;
}

bool weft__loop_on_its_thread(const weft_loop *L)
{
    return L && running_loop == L;
}

double weft_loop_time(const weft_loop *L)
{
    (void)L;
    return ns_to_time(weft__now_ns());
}

/* ------------------------------------------------------ new and free */

int weft_loop_new(weft_loop **out, const weft_loop_opts *opts)
{
    if (!out)
        return WEFT_EINVAL;
    weft_loop_opts o = opts ? *opts : (weft_loop_opts){0};
    if (!(o.slow_callback_duration >= 0) || !isfinite(o.slow_callback_duration))
        return WEFT_EINVAL;
    weft_loop *L;
    if (posix_memalign((void **)&L, 64, sizeof *L) != 0)
        return WEFT_ENOMEM;
    memset(L, 0, sizeof *L);
    int rc = weft__poll_init(&L->poller);
    if (rc != 0) {
        free(L);
        return rc;
    }
    L->shared.push = L->pop = &L->sentinel;
    L->handle_refs = 1;
    L->slow = o.slow_callback_duration > 0 ? o.slow_callback_duration : 0.1;
    if (o.debug == 0) {
        const char *env = getenv("WEFT_DEBUG");
        L->debug = env && *env && strcmp(env, "0") != 0;
    } else {
        L->debug = o.debug > 0;
    }
    *out = L;
    return 0;
}

/* A closing loop's pending timer: a handle's is no longer scheduled. */
static void forget_timer(weft__loop_timer *t)
{
    if (t->fire == handle_fire)
        handle_unschedule(CONTAINER_OF(t, weft_handle, timer));
}

/* Drop an item without running it: its own hook releases what it holds;
 * one without a hook (a task's) simply stays unqueued. */
static void drop_item(weft_loop *L, weft__loop_item *it)
{
    it->next = NULL;
    if (it->drop)
        it->drop(it);
}


int weft_loop_close(weft_loop *L)
{
    if (!L)
        return WEFT_EINVAL;
    if (L->dead)
        return 0;
    if (__atomic_load_n(&L->shared.running, __ATOMIC_ACQUIRE))
        return WEFT_ESTATE;
    const weft__loop_task_hooks *th = __atomic_load_n(&task_hooks, __ATOMIC_ACQUIRE);
    int rc = th ? th->closing(L) : 0;
    if (rc)
        return rc;

    /* Close the gate and wait for the any-thread calls already inside. */
    weft__loop_inbox_close(L);

    for (weft__loop_item *it; (it = weft__loop_inbox_pop(L));)
        drop_item(L, it);
    for (weft__loop_item *it = L->ready_head, *next; it; it = next) {
        next = it->next;
        drop_item(L, it);
    }
    L->ready_head = L->ready_tail = NULL;
    weft__loop_timers_close(L, forget_timer);
    weft__loop_watchers_close(L);
    weft__poll_close(&L->poller);
    L->dead = true;
    return 0;
}

void weft_loop_free(weft_loop *L)
{
    if (!L)
        return;
    int rc = weft_loop_close(L);
    if (rc) {
        weft_report_error("weft_loop_free", rc, "the loop runs, or its tasks cannot be run "
                          "here; not freed");
        return;
    }
    if (__atomic_sub_fetch(&L->handle_refs, 1, __ATOMIC_ACQ_REL) == 0)
        free(L);
}

/* ----------------------------------------------- errors and debugging */

void weft_loop_set_exception_handler(weft_loop *L, weft_exception_handler fn, void *arg)
{
    if (!L)
        return;
    L->handler = fn;
    L->handler_arg = arg;
}

void weft_loop_call_exception_handler(weft_loop *L, const weft_loop_error *err)
{
    if (!err)
        return;
    if (L && L->handler) {
        L->handler(L, err, L->handler_arg);
        return;
    }
    const char *what = err->message ? err->message : "unhandled error in event loop";
    const weft__loop_task_hooks *th = __atomic_load_n(&task_hooks, __ATOMIC_ACQUIRE);
    const char *name = err->task && th ? th->name(err->task) : NULL;
    if (!name) {
        weft_report_error(what, err->code, err->detail);
        return;
    }
    char buf[512];
    snprintf(buf, sizeof buf, "%s (task '%s')", what, name);
    weft_report_error(buf, err->code, err->detail);
}

void weft__loop_warn(weft_loop *L, weft_future *task, const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    weft_loop_error err = {.message = buf, .code = 0, .detail = NULL, .task = task};
    weft_loop_call_exception_handler(L, &err);
}

void weft_loop_set_debug(weft_loop *L, bool on)
{
    if (L)
        L->debug = on;
}

bool weft_loop_get_debug(const weft_loop *L)
{
    return L && L->debug;
}

bool weft__loop_debug(const weft_loop *L)
{
    return L->debug;
}

double weft__loop_slow_duration(const weft_loop *L)
{
    return L->slow;
}

void weft__loop_set_task_hooks(const weft__loop_task_hooks *hooks)
{
    __atomic_store_n(&task_hooks, hooks, __ATOMIC_RELEASE);
}

weft__loop_tasks *weft__loop_task_list(weft_loop *L)
{
    return &L->tasks;
}

weft__loop_item *weft__loop_upcoming(const weft_loop *L)
{
    return L->upcoming;
}

/* Iterations a batch's items may take over in a row while fds or timers
 * could have something (they are looked at again after that many). */
#define SKIP_MAX 64

weft__loop_item *weft__loop_take_next(weft_loop *L, bool (*accept)(weft__loop_item *, void *),
                                      void *ctx)
{
    if (L->debug)
        return NULL; /* each step is timed on its own */
    weft__loop_item *it = L->upcoming;
    if (it) {
        if (!accept(it, ctx))
            return NULL;
        L->upcoming = it->next;
        it->next = NULL;
        return it;
    }
    /* The batch is over. The next iteration would poll the fds, fire the
     * due timers, take what other threads handed over, and run what is
     * ready as its batch. With nothing handed over and no fd or timer to
     * look at, that is just the ready items: they become the batch here.
     * With fds or timers, only a sole ready item is taken, and they are
     * looked at again after SKIP_MAX such items at most. */
    it = L->ready_head;
    if (!it || weft__loop_inbox_maybe_nonempty(L) ||
        __atomic_load_n(&L->shared.stop, __ATOMIC_ACQUIRE))
        return NULL;
    if ((L->nwatch || L->heap_n) && (it != L->ready_tail || L->skipped >= SKIP_MAX))
        return NULL;
    if (!accept(it, ctx))
        return NULL;
    L->skipped++;
    L->upcoming = it->next;
    it->next = NULL;
    L->ready_head = L->ready_tail = NULL;
    return it;
}
