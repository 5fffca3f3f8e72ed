/*
 * task: coroutines run as tasks on an event loop (asyncio.Task), and the
 * coroutine parker that lets every weft primitive suspend a task instead of
 * its thread.
 *
 * A task is a future (what weft_create_task returns) plus a record beside it
 * (struct task) that the future owns: the record lives until the future's
 * last reference is dropped (the owner's destroy hook frees it), while the
 * coroutine and its stack live only until the coroutine returns.
 *
 * Everything here runs on the loop's thread except the coroutine parker's
 * wake (any thread: it is how a thread-pool result or a thread releasing a
 * lock resumes a task) and the cancel hooks (weft_future_cancel,
 * weft_task_cancel_msg: any thread, they forward).
 *
 * Only the coroutine ends its task's future: the owner is sealed, so the
 * public set_result and set_error refuse it, and a cancel is a request the
 * coroutine answers at a wait, or at its return (see task_body).
 *
 * The parker protocol. A task waits on one park waiter record w (on the
 * coroutine's stack); w->woken is its word:
 *   0  waiting, not yet suspended (the coroutine is still running)
 *   3  suspended: the coroutine has given control back to the loop
 *   1  woken by an unparker (park's "decided" wake-up)
 *   2  interrupted on the loop thread (the deadline timer, a cancellation)
 * The coroutine moves 0 -> 3 just before it yields; failing that (a wake
 * got there first: 1) it does not suspend at all. Only a task that really
 * suspended is ever scheduled, and by exactly one party: the waker whose
 * exchange found 3, or the interrupter whose CAS moved 3 -> 2. A wake that
 * finds 0 or 2 schedules nothing (the coroutine is running, or the
 * interrupter already scheduled it). Interrupts happen only on the loop
 * thread, so never while the coroutine runs.
 *
 * Park's "dequeued but not yet woken" path: when the coroutine was
 * interrupted but an unparker had already dequeued its waiter, park calls
 * sleep again and must get that wake. Such a re-sleep (the word is 2 on
 * entry) arms no timer and delivers no cancellation, and a cancellation it
 * had returned is kept for the task's next wait instead (must_cancel): the
 * wait itself counts as woken. The same holds when the wake and an
 * interrupt cross: a cancelled wait that turns out woken re-arms the
 * request, so a cancellation is never lost, and never delivered twice.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal/check.h"
#include "internal/clock.h"
#include "internal/coro.h"
#include "internal/fmt.h"
#include "internal/future.h"
#include "internal/loop.h"
#include "internal/park.h"
#include "internal/solo.h"
#include "internal/task.h"
#include "internal/tls.h"
#include "weft/loop.h"
#include "weft/sync.h"

enum { W_WAITING = 0, W_WOKEN = 1, W_INTERRUPTED = 2, W_SUSPENDED = 3 };

typedef enum { T_NEW, T_STARTED, T_DONE } task_phase;

typedef struct task {
    weft__parker_ctx pctx;     /* first: what park's cancel masking sees */
    weft__loop_item item;      /* queued to be resumed (or started) */
    weft__loop_timer timer;    /* the deadline of the current wait */
    weft_loop *loop;
    weft_future *future;       /* the loop's reference while not done */
    weft__coro *coro;
    weft_task_fn fn;
    void *arg;
    struct task *prev, *next;  /* the loop's live tasks */
    weft__waiter *waiter;      /* while suspended in park, else NULL */
    void *task_ctx;            /* future.c's task context while suspended */
    char *name;                /* NULL: the auto name in auto_name */
    size_t stack_size;
    int wake_reason;           /* why an interrupted wait ended */
    int cancel_requests;       /* asyncio's cancelling() */
    bool must_cancel;          /* a request not yet delivered */
    bool resleep;              /* in park's re-sleep: only the wake ends it */
    bool freeing_cancelled;    /* cancelled by the loop's freeing */
    bool errored;              /* in the registry of failed tasks (below) */
    bool shutdown_report;      /* cancelled by weft_run or loop close: an
                                  error it ends with goes to the handler */
    char *cancel_msg;          /* the last cancel request's message (heap) */
    weft__task_scopes scopes;  /* its timeout scopes (timeout.c) */
    struct task *fprev, *fnext; /* that registry, under failed_lock */
    task_phase phase;
    char auto_name[26];      /* "Task-" and up to 20 digits */
} task;

_Static_assert(sizeof(task) <= WEFT__FUTURE_ROOM, "a task lives in its future's room");

#define TASK_OF(p, field) ((task *)((char *)(p) - offsetof(task, field)))

static _Thread_local task *running WEFT__TLS_IE;

static const weft__parker task_parker;
static const weft__future_owner task_owner;

static task *task_of(const weft_future *f)
{
    return weft__future_owner_ctx(f, &task_owner);
}

/* ------------------------------------------------------------ resuming */

static void task_step(weft__loop_item *it);

static void schedule(task *t)
{
    weft__loop_ready(t->loop, &t->item);
}

/* Interrupt the current wait of t (loop thread, t suspended): true if this
 * call ends it. */
static bool interrupt(task *t, int reason)
{
    weft__waiter *w = t->waiter;
    if (!w || t->resleep)
        return false;
    uint32_t v = W_SUSPENDED;
    if (!__atomic_compare_exchange_n(&w->woken, &v, W_INTERRUPTED, false, __ATOMIC_ACQ_REL,
                                     __ATOMIC_ACQUIRE))
        return false; /* a wake got there first and scheduled it */
    t->wake_reason = reason;
    schedule(t);
    return true;
}

static void deadline_fired(weft__loop_timer *tm)
{
    interrupt(TASK_OF(tm, timer), WEFT_ETIMEDOUT);
}


/* Deliver a pending cancel request at a suspension point: true if the
 * caller must return WEFT_ECANCELLED. */
static bool take_cancel(task *t)
{
    if (!t->must_cancel || t->pctx.cancel_masked)
        return false;
    t->must_cancel = false;
    return true;
}

static bool transfer_ok(weft__loop_item *it, void *self);
static void warm_successors(task *t);
static bool has_coro(task *t);

/*
 * Give control back to the loop; the caller has arranged to be resumed.
 * When the loop would go straight on to another task (the next of the
 * batch, or the only one ready: weft__loop_take_next), switch to that task
 * directly, doing for it what its step would: one switch instead of two,
 * and no return through the loop's frames (each a mispredicted return after
 * a switch). The loop's task_step then finds, when its resume returns, the
 * task that came back in `running`.
 */
static void suspend(void)
{
    task *t = running;
    weft__loop_item *it = weft__loop_take_next(t->loop, transfer_ok, t);
    if (!it) {
        weft__coro_yield();
        return;
    }
    task *u = TASK_OF(it, item);
    WEFT_ASSERT(u->phase != T_DONE); /* transfer_ok let through no ended task */
    warm_successors(u);
    u->phase = T_STARTED;
    t->task_ctx = weft__future_task_ctx_swap(u->task_ctx);
    running = u;
    weft__current_parker_ctx = u;
    weft__coro_transfer(u->coro);
}

/* Suspend on w until a wake (0) or an interrupt (its reason). */
static int wait_suspended(task *t, weft__waiter *w)
{
    t->wake_reason = 0;
    t->waiter = w;
    uint32_t v = W_WAITING;
    if (WEFT__CAS32(&w->woken, &v, W_SUSPENDED, __ATOMIC_ACQ_REL))
        suspend();
    t->waiter = NULL;
    weft__loop_timer_stop(t->loop, &t->timer);
    if (__atomic_load_n(&w->woken, __ATOMIC_ACQUIRE) == W_WOKEN) {
        /* Woken, though maybe interrupted first: a cancellation that lost
         * the race waits for the next wait. */
        if (t->wake_reason == WEFT_ECANCELLED)
            t->must_cancel = true;
        return 0;
    }
    return t->wake_reason;
}

/* End a wait that has not suspended: 0 if a wake came first. */
static int end_early(task *t, weft__waiter *w, int why)
{
    uint32_t v = W_WAITING;
    if (__atomic_compare_exchange_n(&w->woken, &v, W_INTERRUPTED, false, __ATOMIC_ACQ_REL,
                                    __ATOMIC_ACQUIRE)) {
        t->wake_reason = why;
        return why;
    }
    if (why == WEFT_ECANCELLED)
        t->must_cancel = true; /* woken after all: keep the request */
    return 0;
}

static int task_sleep(weft__waiter *w, int64_t deadline)
{
    task *t = w->parker_ctx;
    uint32_t v = __atomic_load_n(&w->woken, __ATOMIC_ACQUIRE);
    if (v == W_WOKEN)
        return 0;
    if (v == W_INTERRUPTED) {
        /* Park's re-sleep: the wake is decided and on its way. A
         * cancellation we returned is kept for the next wait. */
        if (t->wake_reason == WEFT_ECANCELLED)
            t->must_cancel = true;
        if (!__atomic_compare_exchange_n(&w->woken, &v, W_WAITING, false, __ATOMIC_ACQ_REL,
                                         __ATOMIC_ACQUIRE))
            return 0; /* it arrived: v is W_WOKEN */
        /* Only the wake ends a re-sleep: interrupts skip it. */
        t->resleep = true;
        wait_suspended(t, w);
        t->resleep = false;
        return 0;
    }
    /* A task waiting for its own future would wait for ever: only its
     * return ends that future (asyncio's "Task cannot await on itself").
     * Waiters of a future park on its address (future.c). */
    if (w->key == (const void *)t->future)
        return end_early(t, w, WEFT_EDEADLK);
    if (take_cancel(t))
        return end_early(t, w, WEFT_ECANCELLED);
    if (deadline != WEFT__NO_DEADLINE && deadline <= weft__now_ns())
        return end_early(t, w, WEFT_ETIMEDOUT);
    if (deadline != WEFT__NO_DEADLINE) {
        int rc = weft__loop_timer_start(t->loop, &t->timer, deadline);
        if (rc)
            return end_early(t, w, rc);
    }
    return wait_suspended(t, w);
}

static void task_wake(weft__waiter *w)
{
    /* Read what we need before the exchange: once it is done, w (on the
     * task's stack) may be gone. If the exchange finds the task suspended,
     * the task cannot run until we schedule it, so t is safe to use. */
    task *t = w->parker_ctx;
    if (weft__loop_on_its_thread(t->loop)) {
        /* On the loop's thread nothing else can write the word meanwhile:
         * the task is suspended (or being interrupted, which happens on
         * this thread too), and only this unparker dequeued it. A load and
         * a store do what the exchange does, without its bus lock. */
        uint32_t v = __atomic_load_n(&w->woken, __ATOMIC_ACQUIRE);
        __atomic_store_n(&w->woken, W_WOKEN, __ATOMIC_RELEASE);
        if (v == W_SUSPENDED)
            schedule(t);
        return;
    }
    if (__atomic_exchange_n(&w->woken, W_WOKEN, __ATOMIC_ACQ_REL) == W_SUSPENDED)
        (void)weft__loop_ready_threadsafe(t->loop, &t->item);
}

/* weft_sleep inside a task. */
static int task_nap(double seconds)
{
    task *t = running;
    if (seconds == 0) {
        if (take_cancel(t))
            return WEFT_ECANCELLED;
        schedule(t);
        suspend();
        return take_cancel(t) ? WEFT_ECANCELLED : 0;
    }
    /* A private waiter nobody can unpark: only the deadline or a
     * cancellation ends it (only a cancellation, without a deadline). */
    weft__waiter w = {.parker = &task_parker, .parker_ctx = t};
    int rc = task_sleep(&w, weft__deadline(seconds));
    return rc == WEFT_ETIMEDOUT ? 0 : rc;
}

static const weft__parker task_parker = {task_sleep, task_wake, task_nap};

/* --------------------------------------------------------------- life */

/* The message of a task that ends cancelled: the last cancel request's, if
 * it gave one (Python's CancelledError(msg)). Runs as the task. */
static void cancel_text(task *t)
{
    if (t->cancel_msg)
        weft_task_set_message("%s", t->cancel_msg);
}

/* The coroutine, as its future runs it. A cancel request that came while
 * the coroutine ran and that no later suspension took ends the task
 * cancelled even when the coroutine then returns a result (asyncio's task
 * whose coroutine returns with _must_cancel set); an error it returns
 * wins over the request, as an exception does in asyncio. */
static int task_body(void *arg, void **result)
{
    task *t = arg;
    int rc = t->fn(t->arg, result);
    if (rc == 0 && t->must_cancel) {
        t->must_cancel = false;
        rc = WEFT_ECANCELLED;
    }
    if (rc == WEFT_ECANCELLED)
        cancel_text(t);
    return rc;
}

static void task_main(void *arg)
{
    task *t = arg;
    weft__future_run_ex(t->future, task_body, t, true);
}

static void task_describe(weft__loop_item *it, char *buf, size_t len)
{
    task *t = TASK_OF(it, item);
    snprintf(buf, len, "task '%s'", t->name ? t->name : t->auto_name);
}

static void unlink_live(task *t)
{
    weft__loop_tasks *l = weft__loop_task_list(t->loop);
    if (t->prev)
        t->prev->next = t->next;
    else
        l->head = t->next;
    if (t->next)
        t->next->prev = t->prev;
    t->prev = t->next = NULL;
    l->count--;
}

static void note_failure(task *t);

/* The coroutine returned (or never had to start): drop what only a running
 * task needs, then the loop's reference, which may free t itself. */
static void task_done(task *t)
{
    WEFT_ASSERT(t->phase == T_STARTED); /* a task ends once, after its first step */
    t->phase = T_DONE;
    unlink_live(t);
    /* Scopes left entered are dropped unread: their storage, a returned
     * frame, may hold anything by now. */
    t->scopes.innermost = NULL;
    weft__loop_timer_stop(t->loop, &t->scopes.timer);
    weft__coro_free(t->coro);
    t->coro = NULL;
    weft__loop_timer_stop(t->loop, &t->timer);
    if (weft_future_get_state(t->future) == WEFT_FUTURE_FINISHED && weft__future_code(t->future)) {
        if (t->shutdown_report) {
            /* asyncio.run's clean-up reports a task it cancelled that
             * ended with an error instead; reading the code marks it
             * retrieved, so it is not reported again when dropped. */
            weft_loop_error e = {
                .message = "unhandled error of a task cancelled at shutdown",
                .code = weft_future_exception(t->future, 0),
                .detail = weft_future_message(t->future),
                .task = t->future,
            };
            weft_loop_call_exception_handler(t->loop, &e);
        }
        note_failure(t);
    }
    weft_future *f = t->future;
    t->future = NULL;
    weft_future_unref(f);
}

static int cancelled_fn(void *arg, void **result)
{
    cancel_text(arg);
    return WEFT_ECANCELLED;
}

static int nomem_fn(void *arg, void **result)
{
    weft_task_set_message("no memory for the task's stack");
    return WEFT_ENOMEM;
}

/*
 * Before a task runs, warm the tasks queued right behind it, so that their
 * memory is in the cache when their turn comes: with many tasks each step
 * would otherwise wait for its stack's page walk and cache misses, one
 * after the other (the CPU cannot see past a switch). A pipeline:
 *   next:           the frames its resume pops (or, for a task yet to
 *                   start, its coroutine, made now, and the lines its first
 *                   calls will write);
 *   next but one:   its coroutine's record and its future;
 *   the one after:  its task record, which the next step reads.
 * Hints only: a task cancelled or woken out of turn meanwhile is no harm.
 */
static void warm_successors(task *t)
{
    weft__loop_item *nx = weft__loop_upcoming(t->loop);
    if (!nx || nx->run != task_step)
        return;
    task *n = TASK_OF(nx, item);
    if (n->coro || (n->phase == T_NEW && !n->must_cancel && has_coro(n))) /* else: at its step */
        weft__coro_prefetch(n->coro, true);
    weft__loop_item *nx2 = nx->next;
    if (nx2 && nx2->run == task_step) {
        task *n2 = TASK_OF(nx2, item);
        if (n2->coro)
            weft__coro_prefetch(n2->coro, false);
        __builtin_prefetch(n2->future, 1, 3);
        if (nx2->next) {
            __builtin_prefetch(nx2->next, 0, 3);
            __builtin_prefetch((char *)nx2->next + 64, 0, 3);
        }
    }
}

/* t's coroutine, made now if it has none yet: false without memory for
 * its stack (the task's step then ends it with WEFT_ENOMEM). */
static bool has_coro(task *t)
{
    if (t->coro)
        return true;
    if (weft__coro_new(&t->coro, t->stack_size, task_main, t) != 0)
        return false;
    weft__coro_set_name(t->coro, t->name ? t->name : t->auto_name);
    return true;
}

/* weft__loop_take_next's test: a task of this loop other than the one
 * suspending, whose step would resume or start its coroutine (a new one
 * gets it here; one to be cancelled before it starts, or without memory
 * for a stack, goes through its own step). */
static bool transfer_ok(weft__loop_item *it, void *self)
{
    if (it->run != task_step)
        return false;
    task *u = TASK_OF(it, item);
    if (u == self)
        return false;
    if (u->phase == T_NEW)
        return !u->must_cancel && !weft_future_done(u->future) && has_coro(u);
    return true;
}

static void task_step(weft__loop_item *it)
{
    task *t = TASK_OF(it, item);
    WEFT_ASSERT(t->phase != T_DONE); /* an ended task is never made ready */
    warm_successors(t);
    if (t->phase == T_NEW) {
        t->phase = T_STARTED;
        /* A task cancelled before it started never runs its function. */
        weft_task_fn early = NULL;
        if (take_cancel(t) || weft_future_done(t->future))
            early = cancelled_fn; /* (a future already done: run_ex skips it) */
        else if (!has_coro(t))
            early = nomem_fn;
        if (early) {
            weft__future_run_ex(t->future, early, t, true);
            task_done(t);
            return;
        }
    }
    task *outer = running;
    const weft__parker *outer_parker = weft__current_parker;
    void *outer_pctx = weft__current_parker_ctx;
    running = t;
    weft__current_parker = &task_parker;
    weft__current_parker_ctx = t;
    void *outer_ctx = weft__future_task_ctx_swap(t->task_ctx);
    bool alive = weft__coro_resume(t->coro);
    /* t, or the task a transfer (see suspend) ran in its place. */
    task *back = running;
    back->task_ctx = weft__future_task_ctx_swap(outer_ctx);
    running = outer;
    weft__current_parker = outer_parker;
    weft__current_parker_ctx = outer_pctx;
    if (!alive)
        task_done(back);
}

/* ------------------------------------------------------ cancellation */

/* Loop thread: asyncio's Task.cancel. */
static bool request_cancel(task *t)
{
    if (t->phase == T_DONE || weft_future_done(t->future))
        return false;
    t->cancel_requests++;
    if (!t->pctx.cancel_masked && interrupt(t, WEFT_ECANCELLED))
        return true;
    /* A cancellation already on its way to the task is not delivered a
     * second time (asyncio delivers pending requests once). */
    weft__waiter *w = t->waiter;
    if (w && !t->resleep && t->wake_reason == WEFT_ECANCELLED &&
        __atomic_load_n(&w->woken, __ATOMIC_ACQUIRE) == W_INTERRUPTED)
        return true;
    t->must_cancel = true;
    return true;
}

/* Loop thread: a cancel request with a message (heap, taken; NULL for
 * none). The message is kept only when the request is: the last one given
 * is the cancelled task's text. */
static bool request_cancel_msg(task *t, char *msg)
{
    if (!request_cancel(t)) {
        free(msg);
        return false;
    }
    if (msg) {
        free(t->cancel_msg);
        t->cancel_msg = msg;
    }
    return true;
}

/* A request from another thread, on its way to the loop. */
typedef struct cancel_req {
    weft_future *f; /* a reference */
    char *msg;
} cancel_req;

static void cancel_cb(void *arg)
{
    cancel_req *r = arg;
    task *t = task_of(r->f);
    if (t && t->future)
        request_cancel_msg(t, r->msg);
    else
        free(r->msg);
    weft_future_unref(r->f);
    free(r);
}

/* Any thread: cancel t, whose future is f, with msg (heap, taken). */
static bool cancel_task(weft_future *f, task *t, char *msg)
{
    if (weft__loop_on_its_thread(t->loop) || !weft_loop_is_running(t->loop))
        return request_cancel_msg(t, msg);
    /* Another thread: the request travels to the loop. */
    cancel_req *r = NULL;
    if (weft_future_done(f) || !(r = malloc(sizeof *r))) {
        free(msg);
        return false;
    }
    *r = (cancel_req){weft_future_ref(f), msg};
    if (weft_loop_call_soon_threadsafe(t->loop, cancel_cb, r, NULL)) {
        weft_future_unref(f);
        free(msg);
        free(r);
        return false;
    }
    return true;
}

static bool owner_cancel(weft_future *f, void *ctx)
{
    return cancel_task(f, ctx, NULL);
}

/* ------------------------------------------- failures never retrieved */

/*
 * asyncio reports a task whose exception nobody retrieved when the task is
 * garbage collected. Here that is when its future's last reference goes,
 * which may happen on any thread, after the loop is gone. Failed tasks are
 * therefore kept in a registry under one lock (failures are rare, the lock
 * is off the hot path): the loop clears their loop pointer when it is freed,
 * and the report goes to the loop's handler only while the loop exists and
 * the caller is its thread or it is not running; otherwise to
 * weft_report_error.
 */
static pthread_mutex_t failed_lock = PTHREAD_RECURSIVE_MUTEX_INITIALIZER_NP;
static task *failed_head;

static void note_failure(task *t)
{
    pthread_mutex_lock(&failed_lock);
    t->errored = true;
    t->fnext = failed_head;
    if (failed_head)
        failed_head->fprev = t;
    failed_head = t;
    pthread_mutex_unlock(&failed_lock);
}

static void owner_destroy(weft_future *f, void *ctx)
{
    task *t = ctx;
    /* `errored` was set, if at all, before the loop dropped its reference,
     * and the reference count orders it before this last release: a task
     * that never failed is in no registry and needs no lock. */
    if (!t->errored) {
        free(t->name);
        free(t->cancel_msg);
        return;
    }
    pthread_mutex_lock(&failed_lock);
    if (t->fprev)
        t->fprev->fnext = t->fnext;
    else
        failed_head = t->fnext;
    if (t->fnext)
        t->fnext->fprev = t->fprev;
    if (!weft__future_retrieved(f)) {
        int code = weft__future_code(f);
        weft_loop *loop = t->loop;
        if (loop && (weft__loop_on_its_thread(loop) || !weft_loop_is_running(loop))) {
            weft_loop_error e = {
                .message = "Task exception was never retrieved",
                .code = code,
                .detail = weft_future_message(f),
                .task = f,
            };
            weft_loop_call_exception_handler(loop, &e);
        } else {
            char what[96];
            snprintf(what, sizeof what, "task '%s': exception never retrieved",
                     t->name ? t->name : t->auto_name);
            weft_report_error(what, code, weft_future_message(f));
        }
    }
    pthread_mutex_unlock(&failed_lock);
    free(t->name);
    free(t->cancel_msg);
}

/* sealed: only the coroutine ends a task's future (set_result and
 * set_error refuse, as asyncio's Task does). */
static const weft__future_owner task_owner = {
    .cancel = owner_cancel,
    .destroy = owner_destroy,
    .sealed = true,
};

/* ------------------------------------------------------------ the API */

static weft_loop *loop_or_running(weft_loop *loop)
{
    return loop ? loop : weft__loop_running();
}

/* The loop calls up through these (internal/loop.h). Registered before the
 * first task exists, so any loop holding a task finds them; a relaxed read
 * after that, the store happening once per process (and again in a fork
 * child, harmlessly). */
static const weft__loop_task_hooks loop_hooks = {
    .closing = weft__tasks_loop_freeing,
    .name = weft_task_name,
};

/* The one kind of future above tasks whose cancel is a request
 * (internal/task.h): stored before the first such future exists (and again,
 * the same value, before each later one). */
static const weft__cancel_request *cancel_request;

void weft__task_set_cancel_request(const weft__cancel_request *kind)
{
    __atomic_store_n(&cancel_request, kind, __ATOMIC_RELEASE);
}

/* f's kind if it is of the registered one (its owner context in *ctx). */
static const weft__cancel_request *cancel_request_of(const weft_future *f, void **ctx)
{
    const weft__cancel_request *k = __atomic_load_n(&cancel_request, __ATOMIC_ACQUIRE);
    if (!k || !(*ctx = weft__future_owner_ctx(f, k->owner)))
        return NULL;
    return k;
}

static void register_hooks(void)
{
    static bool done;
    if (!__atomic_load_n(&done, __ATOMIC_RELAXED)) {
        weft__loop_set_task_hooks(&loop_hooks);
        __atomic_store_n(&done, true, __ATOMIC_RELAXED);
    }
}

int weft_create_task_opts(weft_loop *loop, weft_task_fn fn, void *arg, const weft_task_opts *opts,
                          weft_future **out)
{
    loop = loop_or_running(loop);
    if (!loop)
        return WEFT_ESTATE;
    if (!fn)
        return WEFT_EINVAL;
    size_t stack = opts ? opts->stack_size : 0;
    if (stack && stack < WEFT__CORO_STACK_MIN)
        return WEFT_EINVAL;
    /* The loop's structures are its thread's: another thread may only add
     * tasks while the loop is not running. */
    if (weft_loop_is_running(loop) && !weft__loop_on_its_thread(loop))
        return WEFT_ESTATE;
    char *name = NULL;
    if (opts && opts->name && !(name = strdup(opts->name)))
        return WEFT_ENOMEM;
    /* The task lives beside its future, in one record that goes when the
     * last reference to the future does; the loop holds one until the task
     * ends. */
    weft_future *f;
    void *room;
    if (weft__future_new_owned(&f, out ? 2 : 1, &task_owner, &room)) {
        free(name);
        return WEFT_ENOMEM;
    }
    task *t = room;
    *t = (task){
        .item = {.run = task_step, .describe = task_describe},
        .timer = WEFT__TIMER_INIT(deadline_fired),
        .scopes = {.timer = WEFT__TIMER_INIT(NULL)},
        .loop = loop,
        .future = f,
        .fn = fn,
        .arg = arg,
        .name = name,
        .stack_size = stack,
    };
    register_hooks();
    weft__loop_tasks *l = weft__loop_task_list(loop);
    /* asyncio's automatic name, without snprintf (a tenth of a task's
     * creation otherwise). */
    memcpy(t->auto_name, "Task-", 5);
    t->auto_name[5 + weft__fmt_dec(t->auto_name + 5, ++l->next_id)] = '\0';
    t->next = l->head;
    if (t->next)
        t->next->prev = t;
    l->head = t;
    l->count++;
    schedule(t);
    if (out)
        *out = f;
    return 0;
}

int weft_create_task(weft_loop *loop, weft_task_fn fn, void *arg, const char *name,
                     weft_future **out)
{
    weft_task_opts o = {.name = name};
    return weft_create_task_opts(loop, fn, arg, &o, out);
}

weft_future *weft_current_task(void)
{
    return running ? running->future : NULL;
}

bool weft_in_coroutine(void)
{
    return running != NULL;
}

int weft_all_tasks(weft_loop *loop, weft_future **out, size_t cap, size_t *n)
{
    loop = loop_or_running(loop);
    if (!loop)
        return WEFT_ESTATE;
    if ((cap && !out) || !n)
        return WEFT_EINVAL;
    weft__loop_tasks *l = weft__loop_task_list(loop);
    size_t i = 0;
    for (task *t = l->head; t; t = t->next) {
        if (weft_future_done(t->future))
            continue; /* cancelled before it started */
        if (i < cap)
            out[i] = weft_future_ref(t->future);
        i++;
    }
    *n = i;
    return 0;
}

bool weft_is_task(const weft_future *f)
{
    return task_of(f) != NULL;
}

const char *weft_task_name(const weft_future *f)
{
    task *t = task_of(f);
    if (!t)
        return NULL;
    return t->name ? t->name : t->auto_name;
}

int weft_task_set_name(weft_future *f, const char *name)
{
    task *t = task_of(f);
    if (!t || !name)
        return WEFT_EINVAL;
    char *n = strdup(name);
    if (!n)
        return WEFT_ENOMEM;
    if (t->coro)
        weft__coro_set_name(t->coro, n);
    free(t->name);
    t->name = n;
    return 0;
}

unsigned weft_task_cancelling(const weft_future *f)
{
    task *t = task_of(f);
    return t ? (unsigned)t->cancel_requests : 0;
}

int weft_task_uncancel(weft_future *f, unsigned *remaining)
{
    if (remaining)
        *remaining = 0;
    task *t = task_of(f);
    if (!t)
        return WEFT_EINVAL;
    if (t->cancel_requests > 0 && --t->cancel_requests == 0) {
        t->must_cancel = false;
        free(t->cancel_msg); /* withdrawn with the last request */
        t->cancel_msg = NULL;
    }
    if (remaining)
        *remaining = (unsigned)t->cancel_requests;
    return 0;
}

bool weft_task_cancel_msg(weft_future *f, const char *msg)
{
    task *t = task_of(f);
    if (!t) {
        void *ctx;
        const weft__cancel_request *k = cancel_request_of(f, &ctx);
        return k ? k->cancel_msg(f, ctx, msg) : weft_future_cancel(f);
    }
    if (weft_future_done(f))
        return weft_future_cancelled(f);
    /* Without memory for the text the request still goes, without it. */
    return cancel_task(f, t, msg ? strdup(msg) : NULL);
}

int weft_await(weft_future *f, void **result, double timeout)
{
    if (!f || weft__timeout_valid(timeout))
        return WEFT_EINVAL;
    if (running && f == running->future)
        return WEFT_EDEADLK; /* it could only end once this wait did */
    /* A callback of the loop (not a coroutine) that would block the loop's
     * thread on a task of that loop: the task could never run. */
    task *ft = task_of(f);
    if (!running && ft && timeout != 0 && !weft_future_done(f) && ft->future &&
        weft__loop_on_its_thread(ft->loop))
        return WEFT_EDEADLK;
    int rc = weft_future_result(f, result, timeout);
    if ((rc != WEFT_ETIMEDOUT && rc != WEFT_ECANCELLED) || weft_future_done(f))
        return rc;
    /* Out of time (asyncio.wait_for), or cancelled ourselves while f was
     * not done (asyncio's await): cancel f too, with our own cancel
     * message, and let a task finish its clean-up first. */
    if (rc == WEFT_ECANCELLED && running && running->cancel_msg)
        weft_task_cancel_msg(f, running->cancel_msg);
    else
        weft_future_cancel(f);
    /* A task's or a gather's cancel is a request: wait for its end. */
    void *ctx;
    if (weft_is_task(f) || cancel_request_of(f, &ctx))
        weft__future_wait_uncancellable(f);
    if (rc == WEFT_ETIMEDOUT && weft_future_done(f) &&
        weft_future_get_state(f) == WEFT_FUTURE_FINISHED) {
        /* It finished after all while being cancelled: its outcome wins,
         * as in asyncio; a cancellation it ended with (a gather's) is
         * still the timeout. */
        int out = weft_future_result(f, result, 0);
        return out == WEFT_ECANCELLED ? WEFT_ETIMEDOUT : out;
    }
    return rc;
}

/* ------------------------------------------------------- loop freeing */

int weft__tasks_finish(weft_loop *loop, bool report)
{
    weft__loop_tasks *l = weft__loop_task_list(loop);
    /* Running this loop here is impossible while another runs on this
     * thread (freeing a loop from a coroutine of another one). */
    if (l->count && weft__loop_running())
        return WEFT_ESTATE;
    /* Pending tasks are cancelled and run until they end (asyncio.run's
     * clean-up). A task is cancelled once; only one that withdrew the
     * request (uncancel) is cancelled again. One that ends with an error
     * rather than cancelled is reported as it ends (task_done). */
    while (l->count) {
        weft_future *probe = NULL;
        for (task *t = l->head; t; t = t->next) {
            probe = t->future;
            /* A task cancelled before it started is done already; it only
             * waits for its step to release it. */
            if (weft_future_done(t->future))
                continue;
            if (report && !t->freeing_cancelled) {
                weft_loop_error e = {
                    .message = "Task was pending when its loop was freed: cancelled",
                    .task = t->future,
                };
                weft_loop_call_exception_handler(loop, &e);
            }
            if (!t->freeing_cancelled || t->cancel_requests == 0) {
                t->freeing_cancelled = true;
                t->shutdown_report = true;
                request_cancel(t);
            }
        }
        /* Run the loop until the last-listed task ends, then look again. */
        weft_future_ref(probe);
        weft_loop_run_until_complete(loop, probe, NULL);
        weft_future_unref(probe);
    }
    return 0;
}

int weft__tasks_loop_freeing(weft_loop *loop)
{
    int rc = weft__tasks_finish(loop, true);
    if (rc)
        return rc;
    /* Failed tasks whose futures outlive the loop report elsewhere. */
    pthread_mutex_lock(&failed_lock);
    for (task *t = failed_head; t; t = t->fnext)
        if (t->loop == loop)
            t->loop = NULL;
    pthread_mutex_unlock(&failed_lock);
    return 0;
}

/* ------------------------------------------------------ timeout scopes */

weft__task_scopes *weft__task_running_scopes(void)
{
    return running ? &running->scopes : NULL;
}

weft_future *weft__task_of_scopes(weft__task_scopes *sc, weft_loop **loop)
{
    task *t = TASK_OF(sc, scopes);
    *loop = t->loop;
    return t->future;
}
