/* weft_loop: callbacks (order, iterations), timers, handles and their
 * references, stop and run_until_complete from every side, the thread-safe
 * hand-off under stress, fd watchers, the exception handler and debug mode,
 * teardown with work pending, and bad input. */
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal/clock.h"
#include "internal/loop.h"
#include "wt.h"

/* ------------------------------------------------------------ helpers */

/* Callbacks append their tag here. */
typedef struct trace {
    int n;
    int tags[64];
    weft_loop *loop;
    int stop_at; /* stop the loop when n reaches this (0: never) */
} trace;

typedef struct tagged {
    trace *tr;
    int tag;
} tagged;

static void record(void *arg)
{
    tagged *t = arg;
    trace *tr = t->tr;
    if (tr->n < 64)
        tr->tags[tr->n] = t->tag;
    tr->n++;
    if (tr->stop_at && tr->n == tr->stop_at)
        WT_OK(weft_loop_stop(tr->loop));
}

static void stop_cb(void *arg)
{
    WT_OK(weft_loop_stop(arg));
}

static void set_event(void *arg)
{
    WT_OK(weft_event_set(arg));
}

static void count_cb(void *arg)
{
    ++*(int *)arg;
}

/* For callbacks whose count nobody reads. */
static int sink;

static weft_loop *new_loop(void)
{
    weft_loop *L;
    WT_OK(weft_loop_new(&L, NULL));
    return L;
}

/* ------------------------------------------------------------- order */

START_TEST(call_soon_fifo)
{
    weft_loop *L = new_loop();
    trace tr = {.loop = L, .stop_at = 5};
    tagged t[5];
    for (int i = 0; i < 5; i++) {
        t[i] = (tagged){&tr, i};
        WT_OK(weft_loop_call_soon(L, record, &t[i], NULL));
    }
    ck_assert(!weft_loop_is_running(L));
    WT_OK(weft_loop_run_forever(L));
    ck_assert(!weft_loop_is_running(L));
    ck_assert_int_eq(tr.n, 5);
    for (int i = 0; i < 5; i++)
        ck_assert_int_eq(tr.tags[i], i);
    WT_OK(weft_loop_close(L));
    weft_loop_free(L);
}
END_TEST

START_TEST(call_later_order)
{
    weft_loop *L = new_loop();
    trace tr = {.loop = L, .stop_at = 8};
    tagged t[8];
    for (int i = 0; i < 8; i++)
        t[i] = (tagged){&tr, i};
    /* Tags 0..2 by distinct delays, started out of order. */
    WT_OK(weft_loop_call_later(L, 0.030, record, &t[2], NULL));
    WT_OK(weft_loop_call_later(L, 0.010, record, &t[0], NULL));
    WT_OK(weft_loop_call_later(L, 0.020, record, &t[1], NULL));
    /* Tags 3..7 share one deadline: they fire in the order started. */
    double when = weft_loop_time(L) + 0.040;
    for (int i = 3; i < 8; i++)
        WT_OK(weft_loop_call_at(L, when, record, &t[i], NULL));
    double t0 = weft_monotonic();
    WT_OK(weft_loop_run_forever(L));
    ck_assert(weft_monotonic() - t0 >= 0.039);
    for (int i = 0; i < 8; i++)
        ck_assert_int_eq(tr.tags[i], i);
    WT_OK(weft_loop_close(L));
    weft_loop_free(L);
}
END_TEST

typedef struct at_check {
    weft_loop *loop;
    double when, fired;
} at_check;

static void at_cb(void *arg)
{
    at_check *c = arg;
    c->fired = weft_loop_time(c->loop);
    WT_OK(weft_loop_stop(c->loop));
}

START_TEST(call_at_time)
{
    weft_loop *L = new_loop();
    double now = weft_loop_time(L);
    ck_assert(fabs(now - weft_monotonic()) < 0.05);
    at_check c = {.loop = L, .when = now + 0.02};
    weft_handle *h;
    WT_OK(weft_loop_call_at(L, c.when, at_cb, &c, &h));
    ck_assert(fabs(weft_handle_when(h) - c.when) < 1e-6);
    WT_OK(weft_loop_run_forever(L));
    ck_assert(c.fired >= c.when);
    weft_handle_unref(h);

    /* A deadline in the past runs at once; call_soon handles have no when. */
    WT_OK(weft_loop_call_at(L, 0.0, at_cb, &c, NULL));
    WT_OK(weft_loop_run_forever(L));
    WT_OK(weft_loop_call_soon(L, count_cb, &sink, &h));
    ck_assert(weft_handle_when(h) == -1);
    weft_handle_unref(h);
    WT_OK(weft_loop_close(L));
    weft_loop_free(L);
}
END_TEST

/* ----------------------------------------------------------- handles */

static void unref_self(void *arg)
{
    weft_handle **hp = arg;
    weft_handle_unref(*hp);
    *hp = NULL;
}

static void cancel_self(void *arg)
{
    weft_handle **hp = arg;
    ck_assert(!weft_handle_cancel(*hp)); /* too late: it runs now */
}

START_TEST(cancel_and_refs)
{
    weft_loop *L = new_loop();
    int soon = 0, later = 0, ran = 0;
    weft_handle *hs, *hl, *hr, *hself, *hcs;
    WT_OK(weft_loop_call_soon(L, count_cb, &soon, &hs));
    WT_OK(weft_loop_call_later(L, 0.001, count_cb, &later, &hl));
    WT_OK(weft_loop_call_soon(L, count_cb, &ran, &hr));
    WT_OK(weft_loop_call_soon(L, unref_self, &hself, &hself));
    WT_OK(weft_loop_call_soon(L, cancel_self, &hcs, &hcs));
    ck_assert(!weft_handle_cancelled(hs));
    ck_assert(weft_handle_cancel(hs));
    ck_assert(weft_handle_cancel(hl));
    ck_assert(weft_handle_cancel(hl)); /* twice: harmless */
    ck_assert(weft_handle_cancelled(hs) && weft_handle_cancelled(hl));
    /* A second reference keeps the handle while the first is dropped. */
    ck_assert_ptr_eq(weft_handle_ref(hl), hl);
    weft_handle_unref(hl);
    ck_assert(weft_handle_cancelled(hl));
    weft_handle_unref(hl); /* cancelled timer: out of the heap, and now gone */
    ck_assert_ptr_null(weft_handle_ref(NULL));
    WT_OK(weft_loop_call_later(L, 0.005, stop_cb, L, NULL));
    WT_OK(weft_loop_run_forever(L));
    ck_assert_int_eq(soon, 0);
    ck_assert_int_eq(later, 0);
    ck_assert_int_eq(ran, 1);
    ck_assert_ptr_null(hself);
    ck_assert(weft_handle_cancelled(hcs));
    /* Cancelling a handle that ran stops nothing (and marks it, as asyncio). */
    ck_assert(!weft_handle_cancel(hr));
    ck_assert(weft_handle_cancelled(hr));
    weft_handle_unref(hr);
    weft_handle_unref(hs);
    weft_handle_unref(hcs);
    weft_handle_unref(NULL);
    ck_assert(!weft_handle_cancel(NULL));
    ck_assert(!weft_handle_cancelled(NULL));
    ck_assert(weft_handle_when(NULL) == -1);

    /* Recycled handles start clean: no cancelled flag carried over. */
    for (int i = 0; i < 1000; i++)
        WT_OK(weft_loop_call_soon(L, count_cb, &ran, NULL));
    WT_OK(weft_loop_call_soon(L, stop_cb, L, NULL));
    WT_OK(weft_loop_run_forever(L));
    ck_assert_int_eq(ran, 1001);
    WT_OK(weft_loop_close(L));
    weft_loop_free(L);
}
END_TEST

/* ---------------------------------------------------------- iterations */

typedef struct spinner {
    weft_loop *loop;
    int runs;
} spinner;

static void respawn(void *arg)
{
    spinner *s = arg;
    s->runs++;
    if (s->runs < 100000)
        WT_OK(weft_loop_call_soon(s->loop, respawn, s, NULL));
}

START_TEST(next_iteration)
{
    weft_loop *L = new_loop();
    spinner s = {.loop = L};
    /* respawn requeues itself; stop_cb, queued after it, stops the loop at
     * the end of the first iteration: the requeued call must wait. */
    WT_OK(weft_loop_call_soon(L, respawn, &s, NULL));
    WT_OK(weft_loop_call_soon(L, stop_cb, L, NULL));
    WT_OK(weft_loop_run_forever(L));
    ck_assert_int_eq(s.runs, 1);
    /* One iteration more per run once a stop is pending (as asyncio). */
    WT_OK(weft_loop_stop(L));
    WT_OK(weft_loop_run_forever(L));
    ck_assert_int_eq(s.runs, 2);
    /* A timer fires although a callback requeues itself forever. */
    WT_OK(weft_loop_call_later(L, 0.01, stop_cb, L, NULL));
    WT_OK(weft_loop_run_forever(L));
    ck_assert(s.runs > 2 && s.runs < 100000);
    WT_OK(weft_loop_close(L)); /* respawn is still queued: dropped */
    weft_loop_free(L);
}
END_TEST

/* ----------------------------------------------------------------- stop */

typedef struct stopper {
    weft_loop *loop;
    weft_event running;
    int rc;
} stopper;

static void *stop_from_thread(void *arg)
{
    stopper *s = arg;
    WT_OK(weft_event_wait(&s->running, WEFT_FOREVER));
    s->rc = weft_loop_stop(s->loop);
    return NULL;
}

START_TEST(stop_other_thread)
{
    weft_loop *L = new_loop();
    stopper s = {.loop = L, .rc = 1};
    WT_OK(weft_event_init(&s.running));
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, stop_from_thread, &s), 0);
    /* The loop has nothing else to do: it blocks in the poll until the
     * other thread's stop wakes it. */
    WT_OK(weft_loop_call_soon(L, set_event, &s.running, NULL));
    WT_OK(weft_loop_run_forever(L));
    pthread_join(t, NULL);
    WT_OK(s.rc);
    WT_OK(weft_loop_close(L));
    weft_loop_free(L);
}
END_TEST

/* -------------------------------------------------- run_until_complete */

static int wait_then_answer(void *arg, void **result)
{
    WT_OK(weft_event_wait(arg, WEFT_FOREVER));
    *result = (void *)(intptr_t)42;
    return 0;
}

START_TEST(until_complete_pool)
{
    weft_loop *L = new_loop();
    weft_executor *ex;
    weft_thread_pool_opts o = {.max_workers = 1};
    WT_OK(weft_thread_pool_new(&ex, &o));
    weft_event go;
    WT_OK(weft_event_init(&go));
    weft_future *f;
    WT_OK(weft_executor_submit(ex, wait_then_answer, &go, &f));
    /* The worker finishes only after the loop runs. */
    WT_OK(weft_loop_call_soon(L, set_event, &go, NULL));
    void *res = NULL;
    WT_OK(weft_loop_run_until_complete(L, f, &res));
    ck_assert_ptr_eq(res, (void *)(intptr_t)42);
    ck_assert(!weft_loop_is_running(L));
    weft_future_unref(f);
    weft_executor_free(ex);
    WT_OK(weft_loop_close(L));
    weft_loop_free(L);
}
END_TEST

typedef struct completer {
    weft_event running;
    weft_future *f;
    int code;
} completer;

static void *complete_from_thread(void *arg)
{
    completer *c = arg;
    WT_OK(weft_event_wait(&c->running, WEFT_FOREVER));
    if (c->code)
        WT_OK(weft_future_set_error(c->f, c->code, "it failed"));
    else
        WT_OK(weft_future_set_result(c->f, c));
    return NULL;
}

START_TEST(until_complete_thread)
{
    weft_loop *L = new_loop();
    for (int round = 0; round < 2; round++) {
        completer c = {.code = round ? WEFT_EAGAIN : 0};
        WT_OK(weft_event_init(&c.running));
        WT_OK(weft_future_new(&c.f));
        pthread_t t;
        ck_assert_int_eq(pthread_create(&t, NULL, complete_from_thread, &c), 0);
        WT_OK(weft_loop_call_soon(L, set_event, &c.running, NULL));
        void *res = NULL;
        int rc = weft_loop_run_until_complete(L, c.f, &res);
        pthread_join(t, NULL);
        if (round == 0) {
            WT_OK(rc);
            ck_assert_ptr_eq(res, &c);
        } else {
            WT_ERR(rc, WEFT_EAGAIN);
        }
        weft_future_unref(c.f);
    }

    /* A future done before the run: one iteration runs, then its result. */
    weft_future *f;
    WT_OK(weft_future_new(&f));
    WT_OK(weft_future_set_result(f, L));
    int n = 0;
    WT_OK(weft_loop_call_soon(L, count_cb, &n, NULL));
    void *res = NULL;
    WT_OK(weft_loop_run_until_complete(L, f, &res));
    ck_assert_ptr_eq(res, L);
    ck_assert_int_eq(n, 1);
    weft_future_unref(f);
    WT_OK(weft_loop_close(L));
    weft_loop_free(L);
}
END_TEST

START_TEST(until_complete_stopped)
{
    weft_loop *L = new_loop();
    weft_future *f;
    WT_OK(weft_future_new(&f));
    WT_OK(weft_loop_call_soon(L, stop_cb, L, NULL));
    WT_ERR(weft_loop_run_until_complete(L, f, NULL), WEFT_ESTATE);
    /* Completing it after the loop returned must not touch the loop, nor
     * stop its next run. */
    WT_OK(weft_future_set_result(f, NULL));
    int n = 0;
    WT_OK(weft_loop_call_later(L, 0.005, count_cb, &n, NULL));
    WT_OK(weft_loop_call_later(L, 0.010, stop_cb, L, NULL));
    WT_OK(weft_loop_run_forever(L));
    ck_assert_int_eq(n, 1);
    WT_OK(weft_loop_close(L));
    weft_loop_free(L);
    weft_future_unref(f);

    /* And a future that completes after its loop is freed. */
    L = new_loop();
    WT_OK(weft_future_new(&f));
    WT_OK(weft_loop_call_soon(L, stop_cb, L, NULL));
    WT_ERR(weft_loop_run_until_complete(L, f, NULL), WEFT_ESTATE);
    WT_OK(weft_loop_close(L));
    weft_loop_free(L);
    WT_OK(weft_future_set_result(f, NULL));
    weft_future_unref(f);
}
END_TEST

/* ------------------------------------------------------ nested, threads */

typedef struct nested {
    weft_loop *loop, *other;
    int rc_same, rc_other, rc_free, rc_until;
    weft_future *f;
} nested;

static void try_nested(void *arg)
{
    nested *n = arg;
    ck_assert_ptr_eq(weft_get_running_loop(), n->loop);
    ck_assert(weft__loop_on_its_thread(n->loop));
    ck_assert(!weft__loop_on_its_thread(n->other));
    n->rc_same = weft_loop_run_forever(n->loop);
    n->rc_other = weft_loop_run_forever(n->other);
    n->rc_until = weft_loop_run_until_complete(n->other, n->f, NULL);
    n->rc_free = weft_loop_close(n->loop);
    WT_OK(weft_loop_stop(NULL)); /* NULL: the running loop */
}

START_TEST(nested_run)
{
    nested n = {.loop = new_loop(), .other = new_loop()};
    WT_OK(weft_future_new(&n.f));
    ck_assert_ptr_null(weft_get_running_loop());
    WT_OK(weft_loop_call_soon(n.loop, try_nested, &n, NULL));
    WT_OK(weft_loop_run_forever(n.loop));
    WT_ERR(n.rc_same, WEFT_ESTATE);
    WT_ERR(n.rc_other, WEFT_ESTATE);
    WT_ERR(n.rc_until, WEFT_ESTATE);
    WT_ERR(n.rc_free, WEFT_ESTATE);
    ck_assert_ptr_null(weft_get_running_loop());
    weft_future_unref(n.f);
    WT_OK(weft_loop_close(n.loop));
    weft_loop_free(n.loop);
    WT_OK(weft_loop_close(n.other));
    weft_loop_free(n.other);
}
END_TEST

typedef struct twin {
    weft_barrier *both;
    weft_loop *loop;
    int fired;
    bool saw_own;
} twin;

static void twin_cb(void *arg)
{
    twin *t = arg;
    t->saw_own = weft_get_running_loop() == t->loop;
    /* Both loops are inside a callback at the same time. */
    WT_OK(weft_barrier_wait(t->both, NULL, WEFT_FOREVER));
    t->fired++;
    WT_OK(weft_loop_stop(t->loop));
}

static void *twin_thread(void *arg)
{
    twin *t = arg;
    WT_OK(weft_loop_new(&t->loop, NULL));
    WT_OK(weft_loop_call_later(t->loop, 0.002, twin_cb, t, NULL));
    WT_OK(weft_loop_run_forever(t->loop));
    WT_OK(weft_loop_close(t->loop));
    weft_loop_free(t->loop);
    return NULL;
}

START_TEST(two_loops)
{
    weft_barrier b;
    WT_OK(weft_barrier_init(&b, 2, NULL, NULL));
    twin t[2] = {{.both = &b}, {.both = &b}};
    pthread_t th[2];
    for (int i = 0; i < 2; i++)
        ck_assert_int_eq(pthread_create(&th[i], NULL, twin_thread, &t[i]), 0);
    for (int i = 0; i < 2; i++) {
        pthread_join(th[i], NULL);
        ck_assert_int_eq(t[i].fired, 1);
        ck_assert(t[i].saw_own);
    }
    weft_barrier_destroy(&b);
}
END_TEST

/* ----------------------------------------------- call_soon_threadsafe */

#define TS_THREADS 4
#define TS_CALLS 10000

typedef struct ts_state {
    weft_loop *loop;
    weft_barrier start;
    long sum, calls;
    int seen[TS_THREADS * TS_CALLS];
} ts_state;

typedef struct ts_arg {
    ts_state *s;
    int id;
} ts_arg;

static ts_state *ts_global;

static void ts_cb(void *arg)
{
    ts_state *s = ts_global;
    intptr_t v = (intptr_t)arg;
    s->seen[v]++;
    s->sum += v;
    if (++s->calls == TS_THREADS * TS_CALLS)
        WT_OK(weft_loop_stop(s->loop));
}

static void *ts_producer(void *arg)
{
    ts_arg *a = arg;
    WT_OK(weft_barrier_wait(&a->s->start, NULL, WEFT_FOREVER));
    for (int i = 0; i < TS_CALLS; i++)
        WT_OK(weft_loop_call_soon_threadsafe(a->s->loop, ts_cb,
                                             (void *)(intptr_t)(a->id * TS_CALLS + i), NULL));
    return NULL;
}

static void ts_release(void *arg)
{
    /* Runs on the loop: the producers start while it runs. */
    WT_OK(weft_barrier_wait(arg, NULL, WEFT_FOREVER));
}

START_TEST(threadsafe_stress)
{
    ts_state *s = calloc(1, sizeof *s);
    ts_global = s;
    s->loop = new_loop();
    WT_OK(weft_barrier_init(&s->start, TS_THREADS + 1, NULL, NULL));
    pthread_t th[TS_THREADS];
    ts_arg args[TS_THREADS];
    for (int i = 0; i < TS_THREADS; i++) {
        args[i] = (ts_arg){s, i};
        ck_assert_int_eq(pthread_create(&th[i], NULL, ts_producer, &args[i]), 0);
    }
    WT_OK(weft_loop_call_soon(s->loop, ts_release, &s->start, NULL));
    WT_OK(weft_loop_run_forever(s->loop));
    for (int i = 0; i < TS_THREADS; i++)
        pthread_join(th[i], NULL);
    long n = TS_THREADS * TS_CALLS;
    ck_assert_int_eq(s->calls, n);
    ck_assert_int_eq(s->sum, n * (n - 1) / 2);
    for (long i = 0; i < n; i++)
        ck_assert_int_eq(s->seen[i], 1);
    weft_barrier_destroy(&s->start);
    WT_OK(weft_loop_close(s->loop));
    weft_loop_free(s->loop);
    free(s);
}
END_TEST

/* The internal form: caller-owned items, no allocation. */
typedef struct my_item {
    weft__loop_item it;
    int runs;
    weft_loop *loop;
} my_item;

static void my_item_run(weft__loop_item *it)
{
    my_item *m = (my_item *)it;
    m->runs++;
    WT_OK(weft_loop_stop(m->loop));
}

typedef struct my_timer {
    weft__loop_timer t;
    int fired;
} my_timer;

static void my_timer_fire(weft__loop_timer *t)
{
    ((my_timer *)t)->fired++;
}

START_TEST(internal_items_timers)
{
    weft_loop *L = new_loop();
    my_item m = {.it = {NULL, my_item_run, NULL}, .loop = L};
    WT_OK(weft__loop_ready_threadsafe(L, &m.it));
    WT_OK(weft_loop_run_forever(L));
    ck_assert_int_eq(m.runs, 1);
    weft__loop_ready(L, &m.it);
    WT_OK(weft_loop_run_forever(L));
    ck_assert_int_eq(m.runs, 2);

    my_timer a = {.t = WEFT__TIMER_INIT(my_timer_fire)}, b = a;
    ck_assert(!weft__loop_timer_pending(&a.t));
    int64_t now = weft__now_ns();
    WT_OK(weft__loop_timer_start(L, &a.t, now + 1000000000));
    WT_OK(weft__loop_timer_start(L, &b.t, now + 2000000000));
    ck_assert(weft__loop_timer_pending(&a.t) && weft__loop_timer_pending(&b.t));
    weft__loop_timer_stop(L, &b.t);
    weft__loop_timer_stop(L, &b.t);
    ck_assert(!weft__loop_timer_pending(&b.t));
    WT_OK(weft__loop_timer_start(L, &a.t, now)); /* moved: due at once */
    WT_OK(weft_loop_call_later(L, 0.002, stop_cb, L, NULL));
    WT_OK(weft_loop_run_forever(L));
    ck_assert_int_eq(a.fired, 1);
    ck_assert_int_eq(b.fired, 0);
    ck_assert(!weft__loop_timer_pending(&a.t));
    WT_OK(weft__loop_timer_start(L, &b.t, now + 5000000000));
    ck_assert(weft__loop_task_list(L)->head == NULL && weft__loop_task_list(L)->count == 0);
    WT_OK(weft_loop_close(L)); /* b is dropped, left not pending */
    weft_loop_free(L);
    ck_assert(!weft__loop_timer_pending(&b.t));
}
END_TEST

/* ------------------------------------------------------------- teardown */

START_TEST(free_pending)
{
    weft_loop *L = new_loop();
    int n = 0;
    weft_handle *held_soon, *held_later;
    for (int i = 0; i < 100; i++) {
        WT_OK(weft_loop_call_soon(L, count_cb, &n, NULL));
        WT_OK(weft_loop_call_later(L, 10 + i, count_cb, &n, NULL));
        WT_OK(weft_loop_call_soon_threadsafe(L, count_cb, &n, NULL));
    }
    WT_OK(weft_loop_call_soon(L, count_cb, &n, &held_soon));
    WT_OK(weft_loop_call_later(L, 5, count_cb, &n, &held_later));
    WT_OK(weft_loop_close(L));
    weft_loop_free(L);
    ck_assert_int_eq(n, 0);
    /* Handles outlive their loop: harmless to cancel, then dropped. */
    ck_assert(weft_handle_when(held_later) > weft_monotonic());
    ck_assert(weft_handle_cancel(held_soon));
    ck_assert(weft_handle_cancel(held_later));
    weft_handle_unref(held_soon);
    weft_handle_unref(held_later);
    WT_ERR(weft_loop_close(NULL), WEFT_EINVAL);
    weft_loop_free(NULL);
}
END_TEST

/* --------------------------------------------- errors and debug mode */

typedef struct got_error {
    int n;
    weft_loop *loop;
    char message[256];
    int code;
    char detail[64];
    weft_future *task;
} got_error;

static void handler(weft_loop *loop, const weft_loop_error *err, void *arg)
{
    got_error *g = arg;
    g->n++;
    g->loop = loop;
    snprintf(g->message, sizeof g->message, "%s", err->message);
    g->code = err->code;
    snprintf(g->detail, sizeof g->detail, "%s", err->detail ? err->detail : "(null)");
    g->task = err->task;
}

typedef struct reports {
    int n;
    int code;
    char what[64], message[64];
} reports;

static void report(const char *what, int code, const char *message, void *arg)
{
    reports *r = arg;
    r->n++;
    r->code = code;
    snprintf(r->what, sizeof r->what, "%s", what);
    snprintf(r->message, sizeof r->message, "%s", message ? message : "(null)");
}

START_TEST(exception_handler)
{
    weft_loop *L = new_loop();
    got_error g = {0};
    weft_loop_set_exception_handler(L, handler, &g);
    weft_future *f;
    WT_OK(weft_future_new(&f));
    weft_loop_error e = {"something broke", WEFT_EAGAIN, "details", f};
    weft_loop_call_exception_handler(L, &e);
    ck_assert_int_eq(g.n, 1);
    ck_assert_ptr_eq(g.loop, L);
    ck_assert_str_eq(g.message, "something broke");
    ck_assert_int_eq(g.code, WEFT_EAGAIN);
    ck_assert_str_eq(g.detail, "details");
    ck_assert_ptr_eq(g.task, f);
    weft__loop_warn(L, f, "warned %d", 7);
    ck_assert_int_eq(g.n, 2);
    ck_assert_str_eq(g.message, "warned 7");
    ck_assert_int_eq(g.code, 0);

    /* The default goes through weft_report_error. */
    reports r = {0};
    weft_set_report_handler(report, &r);
    weft_loop_set_exception_handler(L, NULL, NULL);
    weft_loop_call_exception_handler(L, &e);
    weft_set_report_handler(NULL, NULL);
    ck_assert_int_eq(g.n, 2);
    ck_assert_int_eq(r.n, 1);
    ck_assert_str_eq(r.what, "something broke");
    ck_assert_int_eq(r.code, WEFT_EAGAIN);
    ck_assert_str_eq(r.message, "details");
    weft_future_unref(f);
    WT_OK(weft_loop_close(L));
    weft_loop_free(L);
}
END_TEST

/* Not static: so that dladdr can name it where the binary exports it. */
void weft_test_slow_callback(void *arg);
void weft_test_slow_callback(void *arg)
{
    int64_t end = weft__now_ns() + 80 * 1000000;
    while (weft__now_ns() < end)
        ;
    WT_OK(weft_loop_stop(arg));
}

START_TEST(debug_slow_callback)
{
    weft_loop_opts o = {.debug = 1, .slow_callback_duration = 0.05};
    weft_loop *L;
    WT_OK(weft_loop_new(&L, &o));
    ck_assert(weft_loop_get_debug(L) && weft__loop_debug(L));
    ck_assert(weft__loop_slow_duration(L) == 0.05);
    got_error g = {0};
    weft_loop_set_exception_handler(L, handler, &g);
    WT_OK(weft_loop_call_soon(L, count_cb, &sink, NULL)); /* fast: no warning */
    WT_OK(weft_loop_call_soon(L, weft_test_slow_callback, L, NULL));
    WT_OK(weft_loop_run_forever(L));
    ck_assert_int_eq(g.n, 1);
    ck_assert_msg(strncmp(g.message, "Executing callback ", 19) == 0, "%s", g.message);
    ck_assert_msg(strstr(g.message, " took 0.0") || strstr(g.message, " took 0.1"), "%s",
                  g.message);
    char addr[32];
    void (*fn)(void *) = weft_test_slow_callback;
    void *p;
    memcpy(&p, &fn, sizeof p);
    snprintf(addr, sizeof addr, "%p", p);
    ck_assert_msg(strstr(g.message, "weft_test_slow_callback") || strstr(g.message, addr), "%s",
                  g.message);

    /* Off: no warning. */
    weft_loop_set_debug(L, false);
    ck_assert(!weft_loop_get_debug(L));
    WT_OK(weft_loop_call_soon(L, weft_test_slow_callback, L, NULL));
    WT_OK(weft_loop_run_forever(L));
    ck_assert_int_eq(g.n, 1);
    WT_OK(weft_loop_close(L));
    weft_loop_free(L);

    /* WEFT_DEBUG=1 turns it on; opts.debug = -1 overrides it. */
    setenv("WEFT_DEBUG", "1", 1);
    WT_OK(weft_loop_new(&L, NULL));
    ck_assert(weft_loop_get_debug(L));
    ck_assert(weft__loop_slow_duration(L) == 0.1);
    WT_OK(weft_loop_close(L));
    weft_loop_free(L);
    o = (weft_loop_opts){.debug = -1};
    WT_OK(weft_loop_new(&L, &o));
    ck_assert(!weft_loop_get_debug(L));
    WT_OK(weft_loop_close(L));
    weft_loop_free(L);
    unsetenv("WEFT_DEBUG");
}
END_TEST

/* --------------------------------------------------------------- timers */

#define MANY 100000

typedef struct many {
    weft_loop *loop;
    int64_t *when; /* per timer index */
    int last_index;
    int64_t last_when;
    long fired;
    bool in_order;
} many;

static many *many_global;

static void many_cb(void *arg)
{
    many *m = many_global;
    int i = (int)(intptr_t)arg;
    int64_t w = m->when[i];
    /* Deadline order; ties in start (index) order. */
    if (w < m->last_when || (w == m->last_when && i < m->last_index))
        m->in_order = false;
    m->last_when = w;
    m->last_index = i;
    if (++m->fired == MANY)
        WT_OK(weft_loop_stop(m->loop));
}

START_TEST(many_timers)
{
    many m = {.loop = new_loop(), .in_order = true, .last_when = INT64_MIN, .last_index = -1};
    many_global = &m;
    m.when = malloc(MANY * sizeof *m.when);
    double base = weft_loop_time(m.loop);
    unsigned seed = 12345;
    weft_handle *cancel[100];
    for (int i = 0; i < MANY; i++) {
        /* Deadlines over 50 ms on a 1 us grid: plenty of ties. */
        int us = rand_r(&seed) % 50000;
        double when = base + us * 1e-6;
        m.when[i] = (int64_t)(when * 1e9);
        WT_OK(weft_loop_call_at(m.loop, when, many_cb, (void *)(intptr_t)i, NULL));
        if (i < 100) /* and some that are cancelled */
            WT_OK(weft_loop_call_at(m.loop, when, many_cb, (void *)(intptr_t)i, &cancel[i]));
    }
    for (int i = 0; i < 100; i++) {
        ck_assert(weft_handle_cancel(cancel[i]));
        weft_handle_unref(cancel[i]);
    }
    WT_OK(weft_loop_run_forever(m.loop));
    ck_assert_int_eq(m.fired, MANY);
    ck_assert(m.in_order);
    WT_OK(weft_loop_close(m.loop));
    weft_loop_free(m.loop);
    free(m.when);
}
END_TEST

/* ----------------------------------------------------------------- I/O */

typedef struct watch {
    weft__loop_io io;
    weft_loop *loop;
    int calls;
    unsigned last;
} watch;

static void watch_ready(weft__loop_io *io, unsigned events)
{
    watch *w = (watch *)io;
    w->calls++;
    w->last = events;
    WT_OK(weft_loop_stop(w->loop));
}

static void write_byte(void *arg)
{
    ck_assert_int_eq(write(*(int *)arg, "x", 1), 1);
}

/* One iteration: a pending stop ends the next run after it. */
static void one_iteration(weft_loop *L)
{
    WT_OK(weft_loop_stop(L));
    WT_OK(weft_loop_run_forever(L));
}

START_TEST(io_pipe)
{
    weft_loop *L = new_loop();
    int p[2];
    ck_assert_int_eq(pipe(p), 0);
    watch r = {.io = {.fd = p[0], .ready = watch_ready}, .loop = L};
    watch w = {.io = {.fd = p[1], .ready = watch_ready}, .loop = L};

    /* Read-ready after a write made by a callback. */
    WT_OK(weft__loop_io_set(L, &r.io, WEFT__IO_READ));
    ck_assert_uint_eq(r.io.events, WEFT__IO_READ);
    one_iteration(L);
    ck_assert_int_eq(r.calls, 0);
    WT_OK(weft_loop_call_soon(L, write_byte, &p[1], NULL));
    WT_OK(weft_loop_run_forever(L));
    ck_assert_int_eq(r.calls, 1);
    ck_assert_uint_eq(r.last, WEFT__IO_READ);

    /* Write-ready at once. */
    WT_OK(weft__loop_io_set(L, &w.io, WEFT__IO_WRITE));
    WT_OK(weft__loop_io_set(L, &r.io, 0)); /* stop watching the readable end */
    WT_OK(weft__loop_io_set(L, &r.io, 0));
    WT_OK(weft_loop_run_forever(L));
    ck_assert_int_eq(w.calls, 1);
    ck_assert_uint_eq(w.last, WEFT__IO_WRITE);
    ck_assert_int_eq(r.calls, 1);
    weft__loop_io_close(L, &w.io);
    one_iteration(L);
    ck_assert_int_eq(w.calls, 1);
    ck_assert_int_eq(r.calls, 1);

    /* Watching again; then a hang-up reports both bits. */
    WT_OK(weft__loop_io_set(L, &r.io, WEFT__IO_READ));
    WT_OK(weft_loop_run_forever(L)); /* the byte is still there */
    ck_assert_int_eq(r.calls, 2);
    char c;
    ck_assert_int_eq(read(p[0], &c, 1), 1);
    close(p[1]);
    WT_OK(weft_loop_run_forever(L));
    ck_assert_int_eq(r.calls, 3);
    ck_assert_uint_eq(r.last, WEFT__IO_READ | WEFT__IO_WRITE);
    weft__loop_io_close(L, &r.io);
    weft__loop_io_close(L, &r.io); /* twice: harmless */
    close(p[0]);

    /* A bad fd: the backend's code. */
    watch bad = {.io = {.fd = -1, .ready = watch_ready}, .loop = L};
    ck_assert_int_lt(weft__loop_io_set(L, &bad.io, WEFT__IO_READ), 0);
    WT_OK(weft_loop_close(L));
    weft_loop_free(L);
}
END_TEST

/* Two watchers reported in one batch, each closing the other from its
 * ready(): the second must not be called. */
typedef struct closer {
    weft__loop_io io;
    weft_loop *loop;
    struct closer *other;
    int calls;
} closer;

static void close_other(weft__loop_io *io, unsigned events)
{
    closer *c = (closer *)io;
    c->calls++;
    weft__loop_io_close(c->loop, &c->other->io);
    WT_OK(weft_loop_stop(c->loop));
}

START_TEST(io_close_in_batch)
{
    weft_loop *L = new_loop();
    int p[2], q[2];
    ck_assert_int_eq(pipe(p), 0);
    ck_assert_int_eq(pipe(q), 0);
    closer a = {.io = {.fd = p[1], .ready = close_other}, .loop = L};
    closer b = {.io = {.fd = q[1], .ready = close_other}, .loop = L, .other = &a};
    a.other = &b;
    WT_OK(weft__loop_io_set(L, &a.io, WEFT__IO_WRITE));
    WT_OK(weft__loop_io_set(L, &b.io, WEFT__IO_WRITE));
    WT_OK(weft_loop_run_forever(L));
    ck_assert_int_eq(a.calls + b.calls, 1);
    weft__loop_io_close(L, &a.io);
    weft__loop_io_close(L, &b.io);
    close(p[0]);
    close(p[1]);
    close(q[0]);
    close(q[1]);
    WT_OK(weft_loop_close(L));
    weft_loop_free(L);
}
END_TEST

/* ------------------------------------------------------------ bad input */

START_TEST(bad_input)
{
    weft_loop *L;
    WT_ERR(weft_loop_new(NULL, NULL), WEFT_EINVAL);
    weft_loop_opts o = {.slow_callback_duration = -1};
    WT_ERR(weft_loop_new(&L, &o), WEFT_EINVAL);
    o.slow_callback_duration = NAN;
    WT_ERR(weft_loop_new(&L, &o), WEFT_EINVAL);

    int n = 0;
    WT_ERR(weft_loop_call_soon(NULL, count_cb, &n, NULL), WEFT_ESTATE);
    WT_ERR(weft_loop_call_later(NULL, 1, count_cb, &n, NULL), WEFT_ESTATE);
    WT_ERR(weft_loop_call_at(NULL, 1, count_cb, &n, NULL), WEFT_ESTATE);
    WT_ERR(weft_loop_call_soon_threadsafe(NULL, count_cb, &n, NULL), WEFT_ESTATE);
    WT_ERR(weft_loop_stop(NULL), WEFT_ESTATE);
    WT_ERR(weft_loop_run_forever(NULL), WEFT_EINVAL);
    WT_ERR(weft_loop_run_until_complete(NULL, NULL, NULL), WEFT_EINVAL);
    ck_assert(!weft_loop_is_running(NULL));
    ck_assert(!weft_loop_get_debug(NULL));

    L = new_loop();
    weft_handle *h = (weft_handle *)&n;
    WT_ERR(weft_loop_call_soon(L, NULL, &n, &h), WEFT_EINVAL);
    ck_assert_ptr_eq(h, (weft_handle *)&n); /* untouched */
    WT_ERR(weft_loop_call_later(L, NAN, count_cb, &n, NULL), WEFT_EINVAL);
    WT_ERR(weft_loop_call_later(L, 1, NULL, &n, NULL), WEFT_EINVAL);
    WT_ERR(weft_loop_call_at(L, NAN, count_cb, &n, NULL), WEFT_EINVAL);
    WT_ERR(weft_loop_call_soon_threadsafe(L, NULL, &n, NULL), WEFT_EINVAL);
    WT_ERR(weft_loop_run_until_complete(L, NULL, NULL), WEFT_EINVAL);
    weft_loop_set_exception_handler(NULL, handler, NULL);
    weft_loop_call_exception_handler(L, NULL);
    weft_loop_set_debug(NULL, true);
    /* A huge delay is fine (it never comes). */
    WT_OK(weft_loop_call_later(L, 1e300, count_cb, &n, NULL));
    WT_OK(weft_loop_close(L));
    weft_loop_free(L);
}
END_TEST

static void free_while_running(void *arg)
{
    weft_loop *L = arg;
    WT_ERR(weft_loop_close(L), WEFT_ESTATE);
    WT_OK(weft_loop_stop(L));
}

typedef struct foreign {
    weft_loop *loop;
    weft_event running, done;
    weft_handle *h;
    int rc_soon, rc_ts;
    bool rc_cancel;
} foreign;

static void *foreign_calls(void *arg)
{
    foreign *f = arg;
    WT_OK(weft_event_wait(&f->running, WEFT_FOREVER));
    f->rc_soon = weft_loop_call_soon(f->loop, count_cb, &sink, NULL);
    f->rc_cancel = weft_handle_cancel(f->h);
    ck_assert(weft_loop_is_running(f->loop));
    f->rc_ts = weft_loop_call_soon_threadsafe(f->loop, stop_cb, f->loop, NULL);
    return NULL;
}

START_TEST(wrong_thread_and_state)
{
    weft_loop *L = new_loop();
    WT_OK(weft_loop_call_soon(L, free_while_running, L, NULL));
    WT_OK(weft_loop_run_forever(L));

    /* Loop-thread calls from another thread while the loop runs. */
    foreign f = {.loop = L};
    WT_OK(weft_event_init(&f.running));
    WT_OK(weft_loop_call_later(L, 100, count_cb, &sink, &f.h));
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, foreign_calls, &f), 0);
    WT_OK(weft_loop_call_soon(L, set_event, &f.running, NULL));
    WT_OK(weft_loop_run_forever(L));
    pthread_join(t, NULL);
    WT_ERR(f.rc_soon, WEFT_ESTATE);
    ck_assert(!f.rc_cancel && !weft_handle_cancelled(f.h)); /* refused */
    WT_OK(f.rc_ts);
    ck_assert(weft_handle_cancel(f.h)); /* fine now: not running */
    weft_handle_unref(f.h);
    WT_OK(weft_loop_close(L));
    weft_loop_free(L);
}
END_TEST


/* ------------------------------------------- past deadlines (issue 17) */

START_TEST(call_later_negative_runs_at_once)
{
    /* asyncio: a negative delay or a past time is due at once; due timers
     * join the iteration after the callbacks already ready, in deadline
     * order (test_base_events' test_call_later_negative_delays). */
    weft_loop *L = new_loop();
    trace tr = {.loop = L};
    tagged t[7];
    for (int i = 0; i < 7; i++)
        t[i] = (tagged){&tr, i};
    double now = weft_loop_time(L);
    weft_handle *h;
    WT_OK(weft_loop_call_later(L, -1, record, &t[4], &h));
    ck_assert(weft_handle_when(h) < now);
    weft_handle_unref(h);
    WT_OK(weft_loop_call_later(L, -2, record, &t[3], NULL));
    WT_OK(weft_loop_call_at(L, now - 3, record, &t[2], NULL));
    WT_OK(weft_loop_call_later(L, 0, record, &t[5], NULL));
    WT_OK(weft_loop_call_later(L, -INFINITY, record, &t[1], NULL));
    WT_OK(weft_loop_call_soon(L, record, &t[0], NULL));
    WT_OK(weft_loop_call_at(L, -1e300, record, &t[6], &h)); /* saturates: earliest */
    ck_assert(weft_handle_cancel(h));
    weft_handle_unref(h);
    /* Never due: accepted, as asyncio accepts math.inf. */
    int never = 0;
    WT_OK(weft_loop_call_later(L, INFINITY, count_cb, &never, NULL));
    WT_OK(weft_loop_call_at(L, INFINITY, count_cb, &never, NULL));
    WT_OK(weft_loop_call_later(L, 1e300, count_cb, &never, NULL));
    one_iteration(L); /* everything due runs in this one iteration */
    ck_assert_int_eq(tr.n, 6);
    for (int i = 0; i < 6; i++)
        ck_assert_int_eq(tr.tags[i], i);
    ck_assert_int_eq(never, 0);
    WT_ERR(weft_loop_call_later(L, NAN, count_cb, &never, NULL), WEFT_EINVAL);
    WT_ERR(weft_loop_call_at(L, NAN, count_cb, &never, NULL), WEFT_EINVAL);
    WT_OK(weft_loop_close(L));
    weft_loop_free(L);
}
END_TEST

/* -------------------------------------------------------- closed loop */

static int never_coro(void *arg, void **result)
{
    ++*(int *)arg;
    return 0;
}

START_TEST(closed_loop_refuses)
{
    /* asyncio: a closed loop raises RuntimeError for every scheduling call
     * and for running; closing again is fine. */
    weft_loop *L = new_loop();
    ck_assert(!weft_loop_is_closed(L));
    ck_assert(!weft_loop_is_closed(NULL));
    WT_OK(weft_loop_close(L));
    ck_assert(weft_loop_is_closed(L));
    int n = 0;
    weft_handle *h = NULL;
    weft_future *f = (weft_future *)&n, *g;
    WT_ERR(weft_loop_call_soon(L, count_cb, &n, &h), WEFT_ESTATE);
    WT_ERR(weft_loop_call_later(L, 0, count_cb, &n, &h), WEFT_ESTATE);
    WT_ERR(weft_loop_call_at(L, 0, count_cb, &n, &h), WEFT_ESTATE);
    WT_ERR(weft_loop_call_soon_threadsafe(L, count_cb, &n, &h), WEFT_ESTATE);
    ck_assert_ptr_null(h);
    WT_ERR(weft_run_coroutine_threadsafe(L, never_coro, &n, &f), WEFT_ESTATE);
    ck_assert_ptr_null(f);
    WT_ERR(weft_loop_run_forever(L), WEFT_ESTATE);
    WT_OK(weft_future_new(&g));
    WT_ERR(weft_loop_run_until_complete(L, g, NULL), WEFT_ESTATE);
    WT_OK(weft_future_set_result(g, NULL));
    WT_ERR(weft_loop_run_until_complete(L, g, NULL), WEFT_ESTATE);
    weft_future_unref(g);
    WT_OK(weft_loop_close(L));
    ck_assert(weft_loop_is_closed(L));
    ck_assert_int_eq(n, 0);
    weft_loop_free(L);
}
END_TEST

/* ------------------------------- call_soon_threadsafe's handle (issue 17) */

typedef struct ts_cancel {
    weft_loop *loop;
    weft_event in_cb, posted;
    weft_handle *h, *ran;
    int n;
    bool cancel_rc;
} ts_cancel;

/* On the loop: holds the loop inside a callback until the other thread
 * has posted and cancelled. */
static void hold_loop(void *arg)
{
    ts_cancel *c = arg;
    WT_OK(weft_event_set(&c->in_cb));
    WT_OK(weft_event_wait(&c->posted, WEFT_FOREVER));
}

static void *post_and_cancel(void *arg)
{
    ts_cancel *c = arg;
    WT_OK(weft_event_wait(&c->in_cb, WEFT_FOREVER));
    ck_assert(weft_loop_is_running(c->loop));
    WT_OK(weft_loop_call_soon_threadsafe(c->loop, count_cb, &c->n, &c->h));
    c->cancel_rc = weft_handle_cancel(c->h); /* the loop runs: still allowed */
    WT_OK(weft_loop_call_soon_threadsafe(c->loop, stop_cb, c->loop, &c->ran));
    WT_OK(weft_event_set(&c->posted));
    return NULL;
}

START_TEST(threadsafe_handle_cancel)
{
    ts_cancel c = {.loop = new_loop()};
    WT_OK(weft_event_init(&c.in_cb));
    WT_OK(weft_event_init(&c.posted));
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, post_and_cancel, &c), 0);
    WT_OK(weft_loop_call_soon(c.loop, hold_loop, &c, NULL));
    WT_OK(weft_loop_run_forever(c.loop));
    pthread_join(t, NULL);
    ck_assert(c.cancel_rc);
    ck_assert(weft_handle_cancelled(c.h));
    ck_assert(weft_handle_cancel(c.h)); /* again: still cancelled */
    ck_assert_int_eq(c.n, 0);
    ck_assert(weft_handle_when(c.h) == -1);
    /* The one that ran: too late to cancel, but marked (as asyncio). */
    ck_assert(!weft_handle_cancelled(c.ran));
    ck_assert(!weft_handle_cancel(c.ran));
    ck_assert(weft_handle_cancelled(c.ran));
    ck_assert_ptr_eq(weft_handle_ref(c.ran), c.ran);
    weft_handle_unref(c.ran);
    weft_handle_unref(c.ran);

    /* Posted and cancelled while the loop is not running. */
    weft_handle *h;
    WT_OK(weft_loop_call_soon_threadsafe(c.loop, count_cb, &c.n, &h));
    ck_assert(weft_handle_cancel(h));
    one_iteration(c.loop);
    ck_assert_int_eq(c.n, 0);
    weft_handle_unref(h);

    /* A handle outlives its loop: dropped unrun at close, freed by its
     * last reference afterwards. */
    WT_OK(weft_loop_call_soon_threadsafe(c.loop, count_cb, &c.n, &h));
    WT_OK(weft_loop_close(c.loop));
    weft_loop_free(c.loop);
    ck_assert(weft_handle_cancel(h));
    weft_handle_unref(h);
    ck_assert_int_eq(c.n, 0);
    weft_handle_unref(c.h);
}
END_TEST

#define RACE_CALLS 20000

typedef struct ts_race {
    weft_loop *loop;
    weft_barrier start;
    long ran, cancelled;
} ts_race;

static void race_count(void *arg)
{
    ++((ts_race *)arg)->ran;
}

static void race_release(void *arg)
{
    WT_OK(weft_barrier_wait(&((ts_race *)arg)->start, NULL, WEFT_FOREVER));
}

static void *race_poster(void *arg)
{
    ts_race *r = arg;
    WT_OK(weft_barrier_wait(&r->start, NULL, WEFT_FOREVER));
    for (int i = 0; i < RACE_CALLS; i++) {
        weft_handle *h;
        WT_OK(weft_loop_call_soon_threadsafe(r->loop, race_count, r, &h));
        if (i % 3 == 0)
            sched_yield(); /* now and then let the loop get there first */
        r->cancelled += weft_handle_cancel(h);
        weft_handle_unref(h);
    }
    WT_OK(weft_loop_call_soon_threadsafe(r->loop, stop_cb, r->loop, NULL));
    return NULL;
}

START_TEST(threadsafe_cancel_race)
{
    /* Cancels racing the loop running the same handles: each call either
     * ran or was cancelled, never both, never neither. */
    ts_race r = {.loop = new_loop()};
    WT_OK(weft_barrier_init(&r.start, 2, NULL, NULL));
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, race_poster, &r), 0);
    WT_OK(weft_loop_call_soon(r.loop, race_release, &r, NULL));
    WT_OK(weft_loop_run_forever(r.loop));
    pthread_join(t, NULL);
    ck_assert_int_eq(r.ran + r.cancelled, RACE_CALLS);
    weft_barrier_destroy(&r.start);
    WT_OK(weft_loop_close(r.loop));
    weft_loop_free(r.loop);
}
END_TEST

/* ------------------------------------ run_coroutine_threadsafe (issue 17) */

typedef struct loop_thread {
    weft_loop *loop;
    weft_event up;
    pthread_t th;
} loop_thread;

static void set_up(void *arg)
{
    WT_OK(weft_event_set(arg));
}

static void *run_loop_thread(void *arg)
{
    loop_thread *lt = arg;
    WT_OK(weft_loop_call_soon(lt->loop, set_up, &lt->up, NULL));
    WT_OK(weft_loop_run_forever(lt->loop));
    return NULL;
}

/* A loop running on its own thread, up when this returns. */
static void loop_thread_start(loop_thread *lt)
{
    lt->loop = new_loop();
    WT_OK(weft_event_init(&lt->up));
    ck_assert_int_eq(pthread_create(&lt->th, NULL, run_loop_thread, lt), 0);
    WT_OK(weft_event_wait(&lt->up, WEFT_FOREVER));
}

static void loop_thread_stop(loop_thread *lt)
{
    WT_OK(weft_loop_stop(lt->loop));
    pthread_join(lt->th, NULL);
    WT_OK(weft_loop_close(lt->loop));
    weft_loop_free(lt->loop);
}

typedef struct coro_arg {
    weft_loop *expect_loop;
    weft_event started, release, saw;
    int rc_wait;
    int runs;
    int code;
} coro_arg;

static int answer_coro(void *arg, void **result)
{
    coro_arg *a = arg;
    a->runs++;
    ck_assert(weft_in_coroutine());
    ck_assert_ptr_eq(weft_get_running_loop(), a->expect_loop);
    WT_OK(weft_sleep(0)); /* a real suspension on its loop */
    if (a->code) {
        WT_OK(weft_task_set_message("no answer today"));
        return a->code;
    }
    *result = (void *)(intptr_t)42;
    return 0;
}

START_TEST(run_coroutine_threadsafe_result)
{
    loop_thread lt;
    loop_thread_start(&lt);
    coro_arg a = {.expect_loop = lt.loop};
    weft_future *f;
    WT_OK(weft_run_coroutine_threadsafe(lt.loop, answer_coro, &a, &f));
    ck_assert(!weft_is_task(f)); /* a plain future, for this thread */
    void *res = NULL;
    WT_OK(weft_future_result(f, &res, WEFT_FOREVER));
    ck_assert_ptr_eq(res, (void *)(intptr_t)42);
    weft_future_unref(f);

    /* A failure arrives with its code and message. */
    a.code = WEFT_EAGAIN;
    WT_OK(weft_run_coroutine_threadsafe(lt.loop, answer_coro, &a, &f));
    WT_ERR(weft_future_result(f, &res, WEFT_FOREVER), WEFT_EAGAIN);
    ck_assert_str_eq(weft_future_message(f), "no answer today");
    ck_assert_int_eq(weft_future_get_state(f), WEFT_FUTURE_FINISHED);
    weft_future_unref(f);
    ck_assert_int_eq(a.runs, 2);
    loop_thread_stop(&lt);
}
END_TEST

static int waiting_coro(void *arg, void **result)
{
    coro_arg *a = arg;
    a->runs++;
    WT_OK(weft_event_set(&a->started));
    a->rc_wait = weft_event_wait(&a->release, WEFT_FOREVER); /* suspends the task */
    WT_OK(weft_event_set(&a->saw));
    return a->rc_wait;
}

START_TEST(run_coroutine_threadsafe_cancel)
{
    /* Python: cancelling the concurrent future while the task runs cancels
     * the future at once and the task on its loop. */
    loop_thread lt;
    loop_thread_start(&lt);
    coro_arg a = {0};
    WT_OK(weft_event_init(&a.started));
    WT_OK(weft_event_init(&a.release));
    WT_OK(weft_event_init(&a.saw));
    weft_future *f;
    WT_OK(weft_run_coroutine_threadsafe(lt.loop, waiting_coro, &a, &f));
    WT_OK(weft_event_wait(&a.started, WEFT_FOREVER));
    ck_assert(!weft_future_running(f)); /* PENDING while the task runs */
    ck_assert(weft_future_cancel(f));
    ck_assert(weft_future_cancelled(f));
    WT_ERR(weft_future_result(f, NULL, 0), WEFT_ECANCELLED);
    WT_OK(weft_event_wait(&a.saw, WEFT_FOREVER));
    WT_ERR(a.rc_wait, WEFT_ECANCELLED);
    weft_future_unref(f);
    loop_thread_stop(&lt);
}
END_TEST

START_TEST(run_coroutine_threadsafe_not_started)
{
    /* Cancelled before the loop got to it: the coroutine never runs. */
    weft_loop *L = new_loop();
    coro_arg a = {.expect_loop = L};
    weft_future *f, *g;
    WT_OK(weft_run_coroutine_threadsafe(L, answer_coro, &a, &f));
    ck_assert(weft_future_cancel(f));
    one_iteration(L);
    one_iteration(L);
    ck_assert_int_eq(a.runs, 0);
    weft_future_unref(f);

    /* Started by a loop that is run later, from this thread. */
    WT_OK(weft_run_coroutine_threadsafe(L, answer_coro, &a, &f));
    void *res = NULL;
    WT_OK(weft_loop_run_until_complete(L, f, &res));
    ck_assert_ptr_eq(res, (void *)(intptr_t)42);
    weft_future_unref(f);

    /* The loop closes before the task could start: the future is
     * cancelled, not left pending for ever. */
    WT_OK(weft_run_coroutine_threadsafe(L, answer_coro, &a, &g));
    WT_OK(weft_loop_close(L));
    ck_assert(weft_future_cancelled(g));
    ck_assert_int_eq(a.runs, 1);
    weft_future_unref(g);
    weft_loop_free(L);
}
END_TEST

typedef struct from_coro {
    weft_loop *other;
    coro_arg a;
    int rc;
    void *res;
} from_coro;

static int main_coro(void *arg, void **result)
{
    /* In a coroutine of one loop, waiting on a task of another: only this
     * coroutine waits (its loop keeps running other tasks). */
    from_coro *c = arg;
    weft_future *f;
    WT_OK(weft_run_coroutine_threadsafe(c->other, answer_coro, &c->a, &f));
    c->rc = weft_future_result(f, &c->res, WEFT_FOREVER);
    weft_future_unref(f);
    return 0;
}

START_TEST(run_coroutine_threadsafe_from_coroutine)
{
    loop_thread lt;
    loop_thread_start(&lt);
    from_coro c = {.other = lt.loop, .a = {.expect_loop = lt.loop}};
    WT_OK(weft_run(main_coro, &c, NULL));
    WT_OK(c.rc);
    ck_assert_ptr_eq(c.res, (void *)(intptr_t)42);
    loop_thread_stop(&lt);

    /* Bad input. */
    weft_future *f = (weft_future *)&c;
    WT_ERR(weft_run_coroutine_threadsafe(NULL, answer_coro, &c.a, &f), WEFT_ESTATE);
    ck_assert_ptr_null(f);
    weft_loop *L = new_loop();
    WT_ERR(weft_run_coroutine_threadsafe(L, NULL, &c.a, &f), WEFT_EINVAL);
    WT_ERR(weft_run_coroutine_threadsafe(L, answer_coro, &c.a, NULL), WEFT_EINVAL);
    weft_loop_free(L);
}
END_TEST

START_TEST(run_coroutine_threadsafe_loop_closed_while_running)
{
    /* The loop is closed while the task waits: close cancels the task (and
     * reports it pending), and the waiting thread's future ends cancelled
     * instead of waiting for ever (Python would leave it pending). */
    weft_loop *L = new_loop();
    got_error g = {0};
    weft_loop_set_exception_handler(L, handler, &g);
    coro_arg a = {0};
    WT_OK(weft_event_init(&a.started));
    WT_OK(weft_event_init(&a.release));
    WT_OK(weft_event_init(&a.saw));
    weft_future *f;
    WT_OK(weft_run_coroutine_threadsafe(L, waiting_coro, &a, &f));
    while (weft_event_wait(&a.started, 0) != 0)
        one_iteration(L);
    ck_assert(!weft_future_done(f));
    WT_OK(weft_loop_close(L));
    WT_ERR(a.rc_wait, WEFT_ECANCELLED);
    ck_assert(weft_future_cancelled(f));
    WT_ERR(weft_future_result(f, NULL, WEFT_FOREVER), WEFT_ECANCELLED);
    ck_assert_int_eq(g.n, 1); /* "Task was pending when its loop was freed" */
    weft_future_unref(f);
    weft_loop_free(L);
}
END_TEST

#define RCT_THREADS 3
#define RCT_CALLS 300

typedef struct rct_stress {
    weft_loop *loop;
    long started;   /* coroutines that ran (loop thread only) */
    long results, cancelled;
} rct_stress;

static int echo_coro(void *arg, void **result)
{
    rct_stress *s = *(rct_stress **)arg;
    s->started++;
    int rc = weft_sleep(0);
    if (rc == WEFT_ECANCELLED)
        return rc; /* a cancel that came during the sleep: the task ends cancelled */
    WT_OK(rc);
    *result = arg;
    return 0;
}

typedef struct rct_slot {
    rct_stress *s; /* first: what echo_coro reads */
    long results, cancelled;
} rct_slot;

static void *rct_submitter(void *arg)
{
    rct_slot *slots = arg;
    rct_stress *s = slots[0].s;
    weft_future *fs[RCT_CALLS];
    for (int i = 0; i < RCT_CALLS; i++) {
        WT_OK(weft_run_coroutine_threadsafe(s->loop, echo_coro, &slots[i], &fs[i]));
        if (i % 2)
            (void)weft_future_cancel(fs[i]); /* may come before, during or after */
    }
    for (int i = 0; i < RCT_CALLS; i++) {
        void *res = NULL;
        int rc = weft_future_result(fs[i], &res, WEFT_FOREVER);
        if (rc == 0) {
            ck_assert_ptr_eq(res, &slots[i]);
            slots[0].results++;
        } else {
            WT_ERR(rc, WEFT_ECANCELLED);
            ck_assert(weft_future_cancelled(fs[i]));
            slots[0].cancelled++;
        }
        weft_future_unref(fs[i]);
    }
    return NULL;
}

START_TEST(run_coroutine_threadsafe_stress)
{
    /* Submissions and cancels from several threads at once, racing the
     * loop: every future ends exactly once, with its own result or
     * cancelled, and nothing leaks (the sanitizers' runs). */
    loop_thread lt;
    loop_thread_start(&lt);
    rct_stress s = {.loop = lt.loop};
    static rct_slot slots[RCT_THREADS][RCT_CALLS];
    pthread_t th[RCT_THREADS];
    for (int t = 0; t < RCT_THREADS; t++) {
        for (int i = 0; i < RCT_CALLS; i++)
            slots[t][i] = (rct_slot){.s = &s};
        ck_assert_int_eq(pthread_create(&th[t], NULL, rct_submitter, slots[t]), 0);
    }
    long results = 0, cancelled = 0;
    for (int t = 0; t < RCT_THREADS; t++) {
        pthread_join(th[t], NULL);
        results += slots[t][0].results;
        cancelled += slots[t][0].cancelled;
    }
    ck_assert_int_eq(results + cancelled, RCT_THREADS * RCT_CALLS);
    ck_assert(results >= RCT_THREADS * RCT_CALLS / 2); /* the ones never cancelled */
    loop_thread_stop(&lt);
    ck_assert(s.started >= results);
}
END_TEST

/* ------------------------------------------------ audit: loop semantics */

typedef struct other_runner {
    weft_loop *loop;
    weft_future *f;
    int rc_run, rc_until, rc_close;
    weft_event done;
} other_runner;

static void *run_elsewhere(void *arg)
{
    other_runner *o = arg;
    o->rc_run = weft_loop_run_forever(o->loop);
    o->rc_until = weft_loop_run_until_complete(o->loop, o->f, NULL);
    o->rc_close = weft_loop_close(o->loop);
    WT_OK(weft_event_set(&o->done));
    return NULL;
}

static void start_other_runner(void *arg)
{
    other_runner *o = arg;
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, run_elsewhere, o), 0);
    /* The loop stays inside this callback until the other thread tried. */
    WT_OK(weft_event_wait(&o->done, WEFT_FOREVER));
    pthread_join(t, NULL);
    WT_OK(weft_loop_stop(o->loop));
}

START_TEST(running_loop_refuses_other_thread)
{
    /* asyncio: 'This event loop is already running' and 'Cannot close a
     * running event loop', from any thread. */
    other_runner o = {.loop = new_loop()};
    WT_OK(weft_event_init(&o.done));
    WT_OK(weft_future_new(&o.f));
    WT_OK(weft_loop_call_soon(o.loop, start_other_runner, &o, NULL));
    WT_OK(weft_loop_run_forever(o.loop));
    WT_ERR(o.rc_run, WEFT_ESTATE);
    WT_ERR(o.rc_until, WEFT_ESTATE);
    WT_ERR(o.rc_close, WEFT_ESTATE);
    ck_assert(!weft_loop_is_closed(o.loop));
    weft_future_unref(o.f);
    WT_OK(weft_loop_close(o.loop));
    weft_loop_free(o.loop);
}
END_TEST

typedef struct same_thread {
    weft_loop *loop;
    trace tr;
    tagged t[3];
} same_thread;

static void post_from_loop(void *arg)
{
    same_thread *st = arg;
    /* call_soon_threadsafe from the loop's own thread (test_events'
     * test_call_soon_threadsafe_same_thread): it runs, after what was
     * already ready, in a later iteration. */
    WT_OK(weft_loop_call_soon_threadsafe(st->loop, record, &st->t[2], NULL));
    record(&st->t[0]);
}

START_TEST(threadsafe_same_thread)
{
    same_thread st = {.loop = new_loop()};
    st.tr = (trace){.loop = st.loop, .stop_at = 3};
    for (int i = 0; i < 3; i++)
        st.t[i] = (tagged){&st.tr, i};
    WT_OK(weft_loop_call_soon(st.loop, post_from_loop, &st, NULL));
    WT_OK(weft_loop_call_soon(st.loop, record, &st.t[1], NULL));
    WT_OK(weft_loop_run_forever(st.loop));
    ck_assert_int_eq(st.tr.n, 3);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(st.tr.tags[i], i);
    WT_OK(weft_loop_close(st.loop));
    weft_loop_free(st.loop);
}
END_TEST

START_TEST(stop_finishes_iteration)
{
    /* asyncio's stop(): the callbacks already ready in this iteration still
     * run; what they schedule waits for the next run. */
    weft_loop *L = new_loop();
    int n = 0;
    WT_OK(weft_loop_call_soon(L, stop_cb, L, NULL));
    WT_OK(weft_loop_call_soon(L, count_cb, &n, NULL));
    WT_OK(weft_loop_call_later(L, -1, count_cb, &n, NULL)); /* due now: same iteration */
    WT_OK(weft_loop_run_forever(L));
    ck_assert_int_eq(n, 2);
    WT_OK(weft_loop_close(L));
    weft_loop_free(L);
}
END_TEST

START_TEST(debug_threadsafe_and_cancelled)
{
    /* Debug mode names a slow call_soon_threadsafe callback as it names a
     * call_soon one, and says nothing of handles that were cancelled (they
     * ran nothing). Every step counts as slow here. */
    weft_loop_opts o = {.debug = 1, .slow_callback_duration = 1e-9};
    weft_loop *L;
    WT_OK(weft_loop_new(&L, &o));
    got_error g = {0};
    weft_loop_set_exception_handler(L, handler, &g);
    int n = 0;
    weft_handle *h1, *h2;
    WT_OK(weft_loop_call_soon_threadsafe(L, count_cb, &n, &h1));
    ck_assert(weft_handle_cancel(h1));
    WT_OK(weft_loop_call_soon(L, count_cb, &n, &h2));
    ck_assert(weft_handle_cancel(h2));
    one_iteration(L);
    ck_assert_int_eq(g.n, 0);
    WT_OK(weft_loop_call_soon_threadsafe(L, count_cb, &n, NULL));
    one_iteration(L);
    ck_assert_int_eq(n, 1);
    ck_assert_int_eq(g.n, 1);
    ck_assert_msg(strncmp(g.message, "Executing callback ", 19) == 0, "%s", g.message);
    weft_handle_unref(h1);
    weft_handle_unref(h2);
    WT_OK(weft_loop_close(L));
    weft_loop_free(L);
}
END_TEST

WT_MAIN("loop", 30, call_soon_fifo, call_later_order, call_at_time, cancel_and_refs,
        next_iteration, stop_other_thread, until_complete_pool, until_complete_thread,
        until_complete_stopped, nested_run, two_loops, threadsafe_stress, internal_items_timers,
        free_pending, exception_handler, debug_slow_callback, many_timers, io_pipe,
        io_close_in_batch, bad_input, wrong_thread_and_state, call_later_negative_runs_at_once,
        closed_loop_refuses, threadsafe_handle_cancel, threadsafe_cancel_race,
        run_coroutine_threadsafe_result, run_coroutine_threadsafe_cancel,
        run_coroutine_threadsafe_not_started, run_coroutine_threadsafe_from_coroutine,
        run_coroutine_threadsafe_stress, run_coroutine_threadsafe_loop_closed_while_running,
        running_loop_refuses_other_thread,
        threadsafe_same_thread, stop_finishes_iteration, debug_threadsafe_and_cancelled)
