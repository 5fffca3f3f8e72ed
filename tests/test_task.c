/*
 * Tasks: coroutines on the loop, await, sleep, cancellation, gather,
 * wait_for, timeout scopes, shield, TaskGroup, to_thread, and weft's
 * primitives (Lock, RLock, Condition, Event, Queue) used from coroutines.
 *
 * Orderings between tasks come from the loop itself (FIFO ready queue,
 * timers in deadline order) or from events, never from a race.
 */
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "wt.h"

/* ----------------------------------------------------------- helpers */

static int return_arg(void *arg, void **result)
{
    *result = arg;
    return 0;
}

static int fail_with(void *arg, void **result)
{
    weft_task_set_message("failed on purpose %d", (int)(intptr_t)arg);
    return (int)(intptr_t)arg;
}

static int sleep_then_return(void *arg, void **result)
{
    int ms = (int)(intptr_t)arg;
    int rc = weft_sleep(ms / 1000.0);
    if (rc)
        return rc;
    *result = arg;
    return 0;
}

/* A log of small integers appended by tasks (one loop thread: no lock). */
static int order[64];
static int norder;

static void note(int v)
{
    order[norder++] = v;
}

/* ------------------------------------------------------------- basics */

static int main_returns_42(void *arg, void **result)
{
    ck_assert(weft_in_coroutine());
    ck_assert_ptr_nonnull(weft_current_task());
    ck_assert_ptr_nonnull(weft_get_running_loop());
    ck_assert_str_eq(weft_task_name(weft_current_task()), "main");
    *result = (void *)42;
    return 0;
}

START_TEST(run_returns_main_result)
{
    void *res = NULL;
    ck_assert(!weft_in_coroutine());
    ck_assert_ptr_null(weft_current_task());
    WT_OK(weft_run(main_returns_42, NULL, &res));
    ck_assert_ptr_eq(res, (void *)42);
    ck_assert_ptr_null(weft_last_message());
    WT_ERR(weft_run(fail_with, (void *)(intptr_t)WEFT_EBUSY, NULL), WEFT_EBUSY);
    /* main's future is gone: its message is the thread's last one. */
    char want[64];
    snprintf(want, sizeof want, "failed on purpose %d", WEFT_EBUSY);
    ck_assert_str_eq(weft_last_message(), want);
    WT_ERR(weft_run(NULL, NULL, NULL), WEFT_EINVAL);
    WT_OK(weft_run(main_returns_42, NULL, &res));
    ck_assert_ptr_null(weft_last_message()); /* cleared by the next run */
}
END_TEST

static int to_thread_fails(void *arg, void **result)
{
    WT_ERR(weft_to_thread(fail_with, (void *)(intptr_t)WEFT_EPERM, NULL), WEFT_EPERM);
    char want[64];
    snprintf(want, sizeof want, "failed on purpose %d", WEFT_EPERM);
    ck_assert_str_eq(weft_last_message(), want);
    return 0;
}

/* weft_to_thread gives no future: the worker's message is the thread's
 * last one. */
START_TEST(to_thread_failure_message)
{
    WT_OK(weft_run(to_thread_fails, NULL, NULL));
}
END_TEST

static int yielder(void *arg, void **result)
{
    int id = (int)(intptr_t)arg;
    for (int i = 0; i < 3; i++) {
        note(id * 10 + i);
        WT_OK(weft_sleep(0));
    }
    return 0;
}

static int two_yielders(void *arg, void **result)
{
    weft_future *a, *b;
    WT_OK(weft_create_task(NULL, yielder, (void *)1, NULL, &a));
    WT_OK(weft_create_task(NULL, yielder, (void *)2, "second", &b));
    ck_assert(strncmp(weft_task_name(a), "Task-", 5) == 0);
    ck_assert_str_eq(weft_task_name(b), "second");
    WT_OK(weft_task_set_name(b, "renamed"));
    ck_assert_str_eq(weft_task_name(b), "renamed");
    ck_assert(weft_is_task(a));
    size_t n;
    WT_OK(weft_all_tasks(NULL, NULL, 0, &n));
    ck_assert_uint_eq(n, 3); /* main and the two */
    WT_OK(weft_await(a, NULL, WEFT_FOREVER));
    WT_OK(weft_await(b, NULL, WEFT_FOREVER));
    weft_future_unref(a);
    weft_future_unref(b);
    return 0;
}

START_TEST(tasks_interleave_at_yields)
{
    norder = 0;
    WT_OK(weft_run(two_yielders, NULL, NULL));
    int want[] = {10, 20, 11, 21, 12, 22};
    ck_assert_int_eq(norder, 6);
    for (int i = 0; i < 6; i++)
        ck_assert_int_eq(order[i], want[i]);
}
END_TEST

static void note_99(void *arg)
{
    note(99);
}

static int yielder4(void *arg, void **result)
{
    int id = (int)(intptr_t)arg;
    for (int i = 0; i < 4; i++) {
        note(id * 10 + i);
        if (id == 1 && i == 1)
            WT_OK(weft_loop_call_soon(NULL, note_99, NULL, NULL));
        WT_OK(weft_sleep(0));
    }
    return 0;
}

static int three_yielders(void *arg, void **result)
{
    weft_future *t[3];
    for (int i = 0; i < 3; i++)
        WT_OK(weft_create_task(NULL, yielder4, (void *)(intptr_t)(i + 1), NULL, &t[i]));
    for (int i = 0; i < 3; i++) {
        WT_OK(weft_await(t[i], NULL, WEFT_FOREVER));
        weft_future_unref(t[i]);
    }
    return 0;
}

START_TEST(yields_keep_fifo_order)
{
    /* Tasks that yield go from one to the next without the loop while only
     * tasks are ready (a batch's last hands over to the next batch's
     * first), and a callback queued among them still runs in its place. */
    norder = 0;
    WT_OK(weft_run(three_yielders, NULL, NULL));
    int want[] = {10, 20, 30, 11, 21, 31, 99, 12, 22, 32, 13, 23, 33};
    ck_assert_int_eq(norder, 13);
    for (int i = 0; i < 13; i++)
        ck_assert_int_eq(order[i], want[i]);
}
END_TEST

static int sleeper_measured(void *arg, void **result)
{
    double t0 = weft_monotonic();
    WT_OK(weft_sleep(0.02));
    double dt = weft_monotonic() - t0;
    ck_assert_msg(dt >= 0.0195, "slept %f s", dt);
    return 0;
}

START_TEST(sleep_suspends_only_the_task)
{
    WT_OK(weft_run(sleeper_measured, NULL, NULL));
}
END_TEST

static int gather_ordered(void *arg, void **result)
{
    /* Finish in reverse order of creation; results come back in order. */
    weft_future *fs[4];
    for (int i = 0; i < 4; i++)
        WT_OK(weft_create_task(NULL, sleep_then_return, (void *)(intptr_t)(40 - 10 * i), NULL,
                               &fs[i]));
    weft_future *g;
    WT_OK(weft_gather(fs, 4, false, &g));
    WT_OK(weft_await(g, NULL, WEFT_FOREVER));
    for (int i = 0; i < 4; i++) {
        void *r;
        WT_OK(weft_future_result(fs[i], &r, 0));
        ck_assert_int_eq((int)(intptr_t)r, 40 - 10 * i);
        weft_future_unref(fs[i]);
    }
    weft_future_unref(g);
    /* n == 0 is done at once. */
    WT_OK(weft_gather(NULL, 0, false, &g));
    ck_assert(weft_future_done(g));
    weft_future_unref(g);
    WT_ERR(weft_gather(NULL, 1, false, &g), WEFT_EINVAL);
    return 0;
}

START_TEST(gather_keeps_order)
{
    WT_OK(weft_run(gather_ordered, NULL, NULL));
}
END_TEST

static int gather_failing(void *arg, void **result)
{
    weft_future *fs[3];
    WT_OK(weft_create_task(NULL, sleep_then_return, (void *)20, NULL, &fs[0]));
    WT_OK(weft_create_task(NULL, fail_with, (void *)(intptr_t)WEFT_EBUSY, NULL, &fs[1]));
    WT_OK(weft_create_task(NULL, fail_with, (void *)(intptr_t)WEFT_EAGAIN, NULL, &fs[2]));
    weft_future *g;
    /* Fail fast: the first failure, while the sleeper goes on. */
    WT_OK(weft_gather(fs, 3, false, &g));
    WT_ERR(weft_await(g, NULL, WEFT_FOREVER), WEFT_EBUSY);
    ck_assert_str_eq(weft_future_message(g), "failed on purpose -16");
    ck_assert(!weft_future_done(fs[0]));
    weft_future_unref(g);
    /* return_exceptions: every outcome, once all are done. */
    WT_OK(weft_gather(fs, 3, true, &g));
    WT_OK(weft_await(g, NULL, WEFT_FOREVER));
    WT_OK(weft_future_exception(fs[0], 0));
    WT_ERR(weft_future_exception(fs[1], 0), WEFT_EBUSY);
    WT_ERR(weft_future_exception(fs[2], 0), WEFT_EAGAIN);
    weft_future_unref(g);
    for (int i = 0; i < 3; i++)
        weft_future_unref(fs[i]);
    return 0;
}

START_TEST(gather_errors)
{
    WT_OK(weft_run(gather_failing, NULL, NULL));
}
END_TEST

static int gather_cancelled(void *arg, void **result)
{
    weft_future *fs[2];
    WT_OK(weft_create_task(NULL, sleep_then_return, (void *)5000, NULL, &fs[0]));
    WT_OK(weft_create_task(NULL, sleep_then_return, (void *)5000, NULL, &fs[1]));
    weft_future *g;
    WT_OK(weft_gather(fs, 2, false, &g));
    WT_OK(weft_sleep(0)); /* the children start sleeping */
    ck_assert(weft_future_cancel(g));
    for (int i = 0; i < 2; i++) {
        WT_ERR(weft_await(fs[i], NULL, WEFT_FOREVER), WEFT_ECANCELLED);
        ck_assert(weft_future_cancelled(fs[i]));
        weft_future_unref(fs[i]);
    }
    weft_future_unref(g);
    return 0;
}

START_TEST(gather_cancel_cancels_children)
{
    WT_OK(weft_run(gather_cancelled, NULL, NULL));
}
END_TEST

/* ------------------------------------------------------- cancellation */

static bool cleaned_up;

static int sleep_long_clean_up(void *arg, void **result)
{
    int rc = weft_sleep(10);
    ck_assert_int_eq(rc, WEFT_ECANCELLED);
    /* Clean-up may still wait (a cancellation is delivered once). */
    WT_OK(weft_sleep(0.001));
    cleaned_up = true;
    return rc;
}

static int cancel_sleeping(void *arg, void **result)
{
    weft_future *t;
    WT_OK(weft_create_task(NULL, sleep_long_clean_up, NULL, NULL, &t));
    WT_OK(weft_sleep(0)); /* let it start and sleep */
    ck_assert(!weft_future_done(t));
    ck_assert(weft_future_cancel(t));
    ck_assert_int_eq(weft_task_cancelling(t), 1);
    WT_ERR(weft_await(t, NULL, WEFT_FOREVER), WEFT_ECANCELLED);
    ck_assert(weft_future_cancelled(t));
    ck_assert(cleaned_up);
    ck_assert(weft_future_cancel(t)); /* already cancelled: true, as a future */
    weft_future_unref(t);
    return 0;
}

START_TEST(cancel_reaches_sleep)
{
    cleaned_up = false;
    WT_OK(weft_run(cancel_sleeping, NULL, NULL));
}
END_TEST

static int sleep_given(void *arg, void **result)
{
    return weft_sleep(*(double *)arg);
}

/* asyncio.sleep(math.inf): the task sleeps until it is cancelled (values
 * past the clock's range likewise); before, weft_sleep refused them. */
static int sleep_forever_until_cancelled(void *arg, void **result)
{
    static double forever[] = {INFINITY, 1e10, 1e300};
    for (size_t i = 0; i < sizeof forever / sizeof *forever; i++) {
        weft_future *t;
        WT_OK(weft_create_task(NULL, sleep_given, &forever[i], NULL, &t));
        WT_OK(weft_sleep(0)); /* it starts and sleeps */
        WT_OK(weft_sleep(0.01));
        ck_assert_msg(!weft_future_done(t), "weft_sleep(%g) ended", forever[i]);
        ck_assert(weft_future_cancel(t));
        WT_ERR(weft_await(t, NULL, WEFT_FOREVER), WEFT_ECANCELLED);
        weft_future_unref(t);
    }
    return 0;
}

START_TEST(sleep_without_end_until_cancelled)
{
    WT_OK(weft_run(sleep_forever_until_cancelled, NULL, NULL));
}
END_TEST

static bool body_ran;

static int set_body_ran(void *arg, void **result)
{
    body_ran = true;
    return 0;
}

static int cancel_before_start(void *arg, void **result)
{
    weft_future *t;
    WT_OK(weft_create_task(NULL, set_body_ran, NULL, NULL, &t));
    ck_assert(weft_future_cancel(t));
    WT_ERR(weft_await(t, NULL, WEFT_FOREVER), WEFT_ECANCELLED);
    ck_assert(!body_ran);
    weft_future_unref(t);
    return 0;
}

START_TEST(cancelled_before_start_never_runs)
{
    body_ran = false;
    WT_OK(weft_run(cancel_before_start, NULL, NULL));
}
END_TEST

static int refuser(void *arg, void **result)
{
    weft_future *me = weft_current_task();
    WT_ERR(weft_sleep(10), WEFT_ECANCELLED);
    unsigned left = 9;
    WT_OK(weft_task_uncancel(me, &left));
    ck_assert_uint_eq(left, 0);
    WT_OK(weft_sleep(0.001)); /* not cancelled again */
    *result = (void *)7;
    return 0;
}

static int cancel_refused(void *arg, void **result)
{
    weft_future *t;
    WT_OK(weft_create_task(NULL, refuser, NULL, NULL, &t));
    WT_OK(weft_sleep(0));
    ck_assert(weft_future_cancel(t));
    void *r;
    WT_OK(weft_await(t, &r, WEFT_FOREVER));
    ck_assert_ptr_eq(r, (void *)7);
    weft_future_unref(t);
    return 0;
}

START_TEST(cancel_can_be_refused)
{
    WT_OK(weft_run(cancel_refused, NULL, NULL));
}
END_TEST

typedef struct {
    weft_event ev;
    weft_future *task;
} cross;

static int wait_event(void *arg, void **result)
{
    cross *c = arg;
    return weft_event_wait(&c->ev, WEFT_FOREVER);
}

static void *cancel_from_thread(void *arg)
{
    cross *c = arg;
    ck_assert(weft_future_cancel(c->task));
    return NULL;
}

static int cancel_cross_thread(void *arg, void **result)
{
    cross c;
    weft_event_init(&c.ev);
    WT_OK(weft_create_task(NULL, wait_event, &c, NULL, &c.task));
    WT_OK(weft_sleep(0));
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, cancel_from_thread, &c), 0);
    WT_ERR(weft_await(c.task, NULL, WEFT_FOREVER), WEFT_ECANCELLED);
    ck_assert(weft_future_cancelled(c.task));
    pthread_join(th, NULL);
    weft_future_unref(c.task);
    weft_event_destroy(&c.ev);
    return 0;
}

START_TEST(cancel_from_another_thread)
{
    WT_OK(weft_run(cancel_cross_thread, NULL, NULL));
}
END_TEST

/* await cancels what it awaits when its own task is cancelled. */
static int awaiter(void *arg, void **result)
{
    weft_future *inner = arg;
    return weft_await(inner, NULL, WEFT_FOREVER);
}

static int await_propagates(void *arg, void **result)
{
    weft_future *inner, *outer;
    cleaned_up = false;
    WT_OK(weft_create_task(NULL, sleep_long_clean_up, NULL, NULL, &inner));
    WT_OK(weft_create_task(NULL, awaiter, inner, NULL, &outer));
    WT_OK(weft_sleep(0));
    ck_assert(weft_future_cancel(outer));
    WT_ERR(weft_await(outer, NULL, WEFT_FOREVER), WEFT_ECANCELLED);
    /* The inner task was cancelled and finished its clean-up first. */
    ck_assert(weft_future_cancelled(inner));
    ck_assert(cleaned_up);
    weft_future_unref(inner);
    weft_future_unref(outer);
    return 0;
}

START_TEST(await_cancels_the_awaited_task)
{
    WT_OK(weft_run(await_propagates, NULL, NULL));
}
END_TEST

/* ------------------------------------------- wait_for, timeout, shield */

static int wait_for_timing_out(void *arg, void **result)
{
    weft_future *t;
    cleaned_up = false;
    WT_OK(weft_create_task(NULL, sleep_long_clean_up, NULL, NULL, &t));
    WT_ERR(weft_await(t, NULL, 0.01), WEFT_ETIMEDOUT);
    ck_assert(weft_future_cancelled(t));
    ck_assert(cleaned_up); /* awaited its clean-up */
    weft_future_unref(t);
    /* In time: the result. */
    WT_OK(weft_create_task(NULL, sleep_then_return, (void *)1, NULL, &t));
    void *r;
    WT_OK(weft_await(t, &r, 5));
    ck_assert_ptr_eq(r, (void *)1);
    weft_future_unref(t);
    WT_ERR(weft_await(NULL, NULL, 1), WEFT_EINVAL);
    return 0;
}

START_TEST(wait_for_cancels_and_awaits)
{
    WT_OK(weft_run(wait_for_timing_out, NULL, NULL));
}
END_TEST

static int timeout_scopes(void *arg, void **result)
{
    weft_timeout t;
    WT_OK(weft_timeout_enter(&t, 0.01));
    int rc = weft_sleep(10);
    ck_assert_int_eq(rc, WEFT_ECANCELLED);
    ck_assert(weft_timeout_expired(&t));
    WT_ERR(weft_timeout_exit(&t, rc), WEFT_ETIMEDOUT);
    ck_assert_int_eq(weft_task_cancelling(weft_current_task()), 0);
    /* Not expiring: the body's code passes through. */
    WT_OK(weft_timeout_enter(&t, 10));
    rc = weft_sleep(0.001);
    ck_assert(!weft_timeout_expired(&t));
    WT_OK(weft_timeout_exit(&t, rc));
    /* Rescheduled from never to now. */
    WT_OK(weft_timeout_enter(&t, WEFT_FOREVER));
    WT_OK(weft_timeout_reschedule(&t, weft_loop_time(weft_get_running_loop()) + 0.005));
    rc = weft_sleep(10);
    WT_ERR(weft_timeout_exit(&t, rc), WEFT_ETIMEDOUT);
    WT_ERR(weft_timeout_enter(&t, -2), WEFT_EINVAL);
    /* The task can still wait normally afterwards. */
    WT_OK(weft_sleep(0.001));
    return 0;
}

START_TEST(timeout_scope)
{
    weft_timeout t;
    WT_ERR(weft_timeout_enter(&t, 1), WEFT_ESTATE);
    WT_OK(weft_run(timeout_scopes, NULL, NULL));
}
END_TEST

static int shielded(void *arg, void **result)
{
    weft_future *inner, *outer;
    WT_OK(weft_create_task(NULL, sleep_then_return, (void *)10, NULL, &inner));
    WT_OK(weft_shield(inner, &outer));
    ck_assert(weft_future_cancel(outer));
    ck_assert(!weft_future_cancelled(inner));
    void *r;
    WT_OK(weft_await(inner, &r, WEFT_FOREVER));
    ck_assert_ptr_eq(r, (void *)10);
    weft_future_unref(outer);
    /* The shield carries the outcome when not cancelled. */
    WT_OK(weft_shield(inner, &outer));
    WT_OK(weft_await(outer, &r, WEFT_FOREVER));
    ck_assert_ptr_eq(r, (void *)10);
    weft_future_unref(outer);
    weft_future_unref(inner);
    return 0;
}

START_TEST(shield_protects_inner)
{
    WT_OK(weft_run(shielded, NULL, NULL));
}
END_TEST

/* ---------------------------------------------------------- TaskGroup */

static atomic_int siblings_cancelled;

static int long_sibling(void *arg, void **result)
{
    int rc = weft_sleep(10);
    if (rc == WEFT_ECANCELLED)
        siblings_cancelled++;
    return rc;
}

static int fail_after(void *arg, void **result)
{
    WT_OK(weft_sleep(0.001));
    weft_task_set_message("child failed");
    return (int)(intptr_t)arg;
}

static int group_ok(void *arg, void **result)
{
    weft_task_group *g;
    WT_OK(weft_task_group_new(&g));
    weft_future *fs[5];
    for (int i = 0; i < 5; i++)
        WT_OK(weft_task_group_create_task(g, sleep_then_return, (void *)(intptr_t)(i + 1), NULL,
                                          &fs[i]));
    WT_OK(weft_task_group_wait(g));
    for (int i = 0; i < 5; i++) {
        void *r;
        WT_OK(weft_future_result(fs[i], &r, 0));
        ck_assert_int_eq((int)(intptr_t)r, i + 1);
        weft_future_unref(fs[i]);
    }
    size_t nerr;
    WT_OK(weft_task_group_errors(g, NULL, 0, &nerr));
    ck_assert_uint_eq(nerr, 0);
    weft_task_group_free(g);
    return 0;
}

static int group_failing(void *arg, void **result)
{
    weft_task_group *g;
    WT_OK(weft_task_group_new(&g));
    siblings_cancelled = 0;
    for (int i = 0; i < 3; i++)
        WT_OK(weft_task_group_create_task(g, long_sibling, NULL, NULL, NULL));
    WT_OK(weft_task_group_create_task(g, fail_after, (void *)(intptr_t)WEFT_EBUSY, "bad", NULL));
    /* The body is cancelled by the failure... */
    WT_ERR(weft_sleep(10), WEFT_ECANCELLED);
    WT_ERR(weft_task_group_create_task(g, long_sibling, NULL, NULL, NULL), WEFT_ESTATE);
    /* ...and the group reports it once every child is done. */
    WT_ERR(weft_task_group_wait(g), WEFT_EBUSY);
    ck_assert_int_eq(siblings_cancelled, 3);
    weft_future *e[2] = {NULL, NULL};
    size_t nerr;
    WT_OK(weft_task_group_errors(g, e, 2, &nerr));
    ck_assert_uint_eq(nerr, 1);
    ck_assert_str_eq(weft_task_name(e[0]), "bad");
    ck_assert_str_eq(weft_future_message(e[0]), "child failed");
    ck_assert_ptr_null(e[1]); /* untouched past the count */
    /* The group's own cancel request was withdrawn. */
    ck_assert_int_eq(weft_task_cancelling(weft_current_task()), 0);
    WT_OK(weft_sleep(0.001));
    weft_task_group_free(g);
    return 0;
}

typedef struct {
    weft_event *go;
    int code;
} fail_on;

static int fail_on_event(void *arg, void **result)
{
    fail_on *f = arg;
    WT_OK(weft_event_wait(f->go, WEFT_FOREVER));
    return f->code;
}

static int group_two_failures(void *arg, void **result)
{
    weft_task_group *g;
    weft_event go;
    weft_event_init(&go);
    WT_OK(weft_task_group_new(&g));
    /* One event wakes both in the same loop iteration: the second is
     * already woken when the first fails, so it fails too (the group's
     * cancel request stays pending, as asyncio's would). Had the second not
     * started yet, the first failure would cancel it before it ran. */
    fail_on a = {&go, WEFT_EBUSY}, b = {&go, WEFT_EAGAIN};
    WT_OK(weft_task_group_create_task(g, fail_on_event, &a, NULL, NULL));
    WT_OK(weft_task_group_create_task(g, fail_on_event, &b, NULL, NULL));
    WT_OK(weft_sleep(0)); /* both wait on the event */
    WT_OK(weft_event_set(&go));
    WT_ERR(weft_task_group_wait(g), WEFT_EBUSY);
    weft_future *e[2];
    size_t nerr;
    WT_OK(weft_task_group_errors(g, e, 2, &nerr));
    ck_assert_uint_eq(nerr, 2);
    WT_ERR(weft_future_exception(e[1], 0), WEFT_EAGAIN);
    weft_task_group_free(g);
    weft_event_destroy(&go);
    return 0;
}

START_TEST(task_group)
{
    weft_task_group *g;
    WT_ERR(weft_task_group_new(&g), WEFT_ESTATE);
    WT_OK(weft_run(group_ok, NULL, NULL));
    WT_OK(weft_run(group_failing, NULL, NULL));
    WT_OK(weft_run(group_two_failures, NULL, NULL));
}
END_TEST

/* --------------------------------------------- threads and executors */

static int square_on_thread(void *arg, void **result)
{
    ck_assert(!weft_in_coroutine());
    intptr_t n = (intptr_t)arg;
    *result = (void *)(n * n);
    return 0;
}

static int offload(void *arg, void **result)
{
    void *r;
    WT_OK(weft_to_thread(square_on_thread, (void *)9, &r));
    ck_assert_ptr_eq(r, (void *)81);
    weft_future *f;
    WT_OK(weft_run_in_executor(NULL, NULL, square_on_thread, (void *)5, &f));
    WT_OK(weft_await(f, &r, WEFT_FOREVER));
    ck_assert_ptr_eq(r, (void *)25);
    weft_future_unref(f);
    /* Many at once, all awaited from the loop. */
    weft_future *fs[64];
    for (int i = 0; i < 64; i++)
        WT_OK(weft_run_in_executor(NULL, NULL, square_on_thread, (void *)(intptr_t)i, &fs[i]));
    for (int i = 0; i < 64; i++) {
        WT_OK(weft_await(fs[i], &r, WEFT_FOREVER));
        ck_assert_int_eq((intptr_t)r, i * i);
        weft_future_unref(fs[i]);
    }
    return 0;
}

START_TEST(thread_pool_results_wake_tasks)
{
    WT_OK(weft_run(offload, NULL, NULL));
}
END_TEST

/* ------------------------------------------- primitives in coroutines */

typedef struct {
    weft_lock lock;
    weft_rlock rlock;
    int in_lock;
    weft_event held, go;
} shared;

static int hold_lock(void *arg, void **result)
{
    shared *s = arg;
    WT_OK(weft_lock_acquire(&s->lock, WEFT_FOREVER));
    WT_OK(weft_event_set(&s->held));
    /* Others try meanwhile: the loop must run them. */
    WT_OK(weft_event_wait(&s->go, WEFT_FOREVER));
    s->in_lock++;
    WT_OK(weft_lock_release(&s->lock));
    return 0;
}

static int want_lock(void *arg, void **result)
{
    shared *s = arg;
    int rc = weft_lock_acquire(&s->lock, WEFT_FOREVER);
    if (rc)
        return rc;
    s->in_lock++;
    WT_OK(weft_lock_release(&s->lock));
    return 0;
}

static int locks_between_tasks(void *arg, void **result)
{
    shared s = {.lock = WEFT_LOCK_INIT};
    weft_event_init(&s.held);
    weft_event_init(&s.go);
    weft_future *holder, *cancelled, *later;
    WT_OK(weft_create_task(NULL, hold_lock, &s, NULL, &holder));
    WT_OK(weft_event_wait(&s.held, WEFT_FOREVER));
    WT_OK(weft_create_task(NULL, want_lock, &s, NULL, &cancelled));
    WT_OK(weft_create_task(NULL, want_lock, &s, NULL, &later));
    WT_OK(weft_sleep(0)); /* both park on the lock */
    ck_assert(weft_future_cancel(cancelled));
    WT_ERR(weft_await(cancelled, NULL, WEFT_FOREVER), WEFT_ECANCELLED);
    WT_OK(weft_event_set(&s.go)); /* only now may the holder release */
    WT_OK(weft_await(holder, NULL, WEFT_FOREVER));
    WT_OK(weft_await(later, NULL, WEFT_FOREVER));
    ck_assert_int_eq(s.in_lock, 2);
    /* The lock is consistent: free, and takes and releases normally. */
    ck_assert(!weft_lock_locked(&s.lock));
    WT_OK(weft_lock_acquire(&s.lock, 0));
    WT_OK(weft_lock_release(&s.lock));
    weft_future_unref(holder);
    weft_future_unref(cancelled);
    weft_future_unref(later);
    weft_event_destroy(&s.held);
    weft_event_destroy(&s.go);
    return 0;
}

START_TEST(cancel_while_awaiting_lock)
{
    WT_OK(weft_run(locks_between_tasks, NULL, NULL));
}
END_TEST

static int rlock_other_task(void *arg, void **result)
{
    shared *s = arg;
    WT_ERR(weft_rlock_acquire(&s->rlock, 0), WEFT_ETIMEDOUT);
    WT_ERR(weft_rlock_release(&s->rlock), WEFT_ENOTOWNER);
    return 0;
}

static int rlock_per_task(void *arg, void **result)
{
    shared s;
    WT_OK(weft_rlock_init(&s.rlock));
    WT_OK(weft_rlock_acquire(&s.rlock, WEFT_FOREVER));
    WT_OK(weft_rlock_acquire(&s.rlock, WEFT_FOREVER)); /* re-entry by the same task */
    weft_future *t;
    WT_OK(weft_create_task(NULL, rlock_other_task, &s, NULL, &t));
    WT_OK(weft_await(t, NULL, WEFT_FOREVER));
    weft_future_unref(t);
    WT_OK(weft_rlock_release(&s.rlock));
    WT_OK(weft_rlock_release(&s.rlock));
    weft_rlock_destroy(&s.rlock);
    return 0;
}

START_TEST(rlock_owner_is_the_task)
{
    WT_OK(weft_run(rlock_per_task, NULL, NULL));
}
END_TEST

typedef struct {
    weft_condition cond;
    int items;
    int consumed;
} stock;

static int consumer_task(void *arg, void **result)
{
    stock *s = arg;
    for (int i = 0; i < 10; i++) {
        WT_OK(weft_condition_acquire(&s->cond, WEFT_FOREVER));
        while (s->items == 0)
            WT_OK(weft_condition_wait(&s->cond, WEFT_FOREVER));
        s->items--;
        s->consumed++;
        WT_OK(weft_condition_release(&s->cond));
    }
    return 0;
}

static int producer_task(void *arg, void **result)
{
    stock *s = arg;
    for (int i = 0; i < 10; i++) {
        WT_OK(weft_condition_acquire(&s->cond, WEFT_FOREVER));
        s->items++;
        WT_OK(weft_condition_notify(&s->cond, 1));
        WT_OK(weft_condition_release(&s->cond));
        WT_OK(weft_sleep(0));
    }
    return 0;
}

static int condition_tasks(void *arg, void **result)
{
    stock s = {0};
    WT_OK(weft_condition_init(&s.cond, NULL));
    weft_future *c, *p;
    WT_OK(weft_create_task(NULL, consumer_task, &s, NULL, &c));
    WT_OK(weft_create_task(NULL, producer_task, &s, NULL, &p));
    WT_OK(weft_await(p, NULL, WEFT_FOREVER));
    WT_OK(weft_await(c, NULL, WEFT_FOREVER));
    ck_assert_int_eq(s.consumed, 10);
    weft_future_unref(c);
    weft_future_unref(p);
    weft_condition_destroy(&s.cond);
    return 0;
}

START_TEST(condition_between_tasks)
{
    WT_OK(weft_run(condition_tasks, NULL, NULL));
}
END_TEST

/* A thread and coroutines share one Lock and one Queue under stress. */
#define MIX_ITEMS 20000

typedef struct {
    weft_lock lock;
    weft_queue *q;
    long sum_put, sum_got, count;
} mixed;

static void *producer_thread(void *arg)
{
    mixed *m = arg;
    for (long i = 1; i <= MIX_ITEMS; i++) {
        ck_assert_int_eq(weft_queue_put(m->q, (void *)i, WEFT_FOREVER), 0);
        weft_lock_acquire(&m->lock, WEFT_FOREVER);
        m->sum_put += i;
        m->count++;
        weft_lock_release(&m->lock);
    }
    return NULL;
}

static int consumer_coro(void *arg, void **result)
{
    mixed *m = (mixed *)((void **)arg)[0];
    long n = (long)(intptr_t)((void **)arg)[1];
    for (long i = 0; i < n; i++) {
        void *item;
        WT_OK(weft_queue_get(m->q, &item, WEFT_FOREVER));
        WT_OK(weft_lock_acquire(&m->lock, WEFT_FOREVER));
        m->sum_got += (long)item;
        m->count++;
        WT_OK(weft_lock_release(&m->lock));
        WT_OK(weft_queue_task_done(m->q));
    }
    return 0;
}

static int mixed_world(void *arg, void **result)
{
    mixed m = {.lock = WEFT_LOCK_INIT};
    WT_OK(weft_queue_new(&m.q, 64));
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, producer_thread, &m), 0);
    void *args[4][2];
    weft_future *cs[4];
    for (int i = 0; i < 4; i++) {
        args[i][0] = &m;
        args[i][1] = (void *)(intptr_t)(MIX_ITEMS / 4);
        WT_OK(weft_create_task(NULL, consumer_coro, args[i], NULL, &cs[i]));
    }
    for (int i = 0; i < 4; i++) {
        WT_OK(weft_await(cs[i], NULL, WEFT_FOREVER));
        weft_future_unref(cs[i]);
    }
    WT_OK(weft_queue_join(m.q, WEFT_FOREVER));
    pthread_join(th, NULL);
    ck_assert_int_eq(m.sum_got, (long)MIX_ITEMS * (MIX_ITEMS + 1) / 2);
    ck_assert_int_eq(m.sum_put, m.sum_got);
    ck_assert_int_eq(m.count, 2 * MIX_ITEMS);
    weft_queue_free(m.q);
    return 0;
}

START_TEST(thread_and_coroutines_share_lock_and_queue)
{
    WT_OK(weft_run(mixed_world, NULL, NULL));
}
END_TEST

/* ---------------------------------------------------------- at scale */

#ifdef WEFT_SANITIZE_THREAD
#define MANY 4000 /* TSan gives each coroutine a fiber, and fibers count as threads (8128 at most) */
#else
#define MANY 100000
#endif
static int woke;

static int short_nap(void *arg, void **result)
{
    /* Deadlines spread over 20 ms, in a scrambled order. */
    unsigned i = (unsigned)(uintptr_t)arg;
    WT_OK(weft_sleep(((i * 7919u) % 20) / 1000.0));
    woke++;
    return 0;
}

static int many_sleepers(void *arg, void **result)
{
    weft_task_opts o = {.stack_size = 16 * 1024};
    for (unsigned i = 0; i < MANY; i++)
        WT_OK(weft_create_task_opts(NULL, short_nap, (void *)(uintptr_t)i, &o, NULL));
    size_t n;
    WT_OK(weft_all_tasks(NULL, NULL, 0, &n));
    ck_assert_uint_eq(n, MANY + 1);
    while (woke < MANY)
        WT_OK(weft_sleep(0.005));
    return 0;
}

START_TEST(hundred_thousand_sleeping_tasks)
{
    woke = 0;
    WT_OK(weft_run(many_sleepers, NULL, NULL));
    ck_assert_int_eq(woke, MANY);
    /* The burst's task records (and idle stacks) are kept for the next
     * burst until asked for: then they go. */
    size_t freed = weft_trim_memory();
#if !defined(WEFT_SANITIZE_ADDRESS)
    ck_assert_msg(freed >= (size_t)MANY * 128, "%zu bytes freed", freed);
#endif
    ck_assert_uint_lt(weft_trim_memory(), freed / 10 + 1);
}
END_TEST

/* ------------------------------------------------- reports and debug */

typedef struct {
    int calls;
    char message[128];
    int code;
} seen;

static void record(weft_loop *loop, const weft_loop_error *e, void *arg)
{
    seen *s = arg;
    s->calls++;
    snprintf(s->message, sizeof s->message, "%s", e->message);
    s->code = e->code;
}

static int nap_forever(void *arg, void **result)
{
    int rc = weft_sleep(100);
    *(int *)arg = rc;
    return rc;
}

START_TEST(reports_unretrieved_and_pending)
{
    weft_loop *loop;
    WT_OK(weft_loop_new(&loop, NULL));
    seen s = {0};
    weft_loop_set_exception_handler(loop, record, &s);
    /* A failure nobody reads is reported when the future goes. */
    weft_future *t;
    WT_OK(weft_create_task(loop, fail_with, (void *)(intptr_t)WEFT_EBUSY, NULL, &t));
    weft_future *u;
    WT_OK(weft_create_task(loop, fail_with, (void *)(intptr_t)WEFT_EBUSY, NULL, &u));
    WT_ERR(weft_loop_run_until_complete(loop, t, NULL), WEFT_EBUSY);
    WT_ERR(weft_loop_run_until_complete(loop, u, NULL), WEFT_EBUSY);
    weft_future_unref(t); /* retrieved by run_until_complete: silent */
    ck_assert_int_eq(s.calls, 0);
    /* A task failing unwatched. */
    WT_OK(weft_create_task(loop, fail_with, (void *)(intptr_t)WEFT_EAGAIN, NULL, NULL));
    weft_future *w;
    WT_OK(weft_create_task(loop, sleep_then_return, (void *)1, NULL, &w));
    WT_OK(weft_loop_run_until_complete(loop, w, NULL));
    weft_future_unref(w);
    ck_assert_int_eq(s.calls, 1);
    ck_assert_str_eq(s.message, "Task exception was never retrieved");
    ck_assert_int_eq(s.code, WEFT_EAGAIN);
    /* Pending at free: reported, cancelled, and run to its end. */
    int rc = 0;
    WT_OK(weft_create_task(loop, nap_forever, &rc, NULL, NULL));
    WT_OK(weft_create_task(loop, sleep_then_return, (void *)1, NULL, &w));
    WT_OK(weft_loop_run_until_complete(loop, w, NULL));
    weft_future_unref(w);
    WT_OK(weft_loop_close(loop));
    weft_loop_free(loop);
    ck_assert_int_eq(s.calls, 2);
    ck_assert(strstr(s.message, "pending") != NULL);
    ck_assert_int_eq(rc, WEFT_ECANCELLED);
    weft_future_unref(u);
}
END_TEST

static int spin_80ms(void *arg, void **result)
{
    double end = weft_monotonic() + 0.08;
    while (weft_monotonic() < end)
        ;
    return 0;
}

typedef struct {
    int calls;
    bool named;
} slow_seen;

static void record_slow(weft_loop *loop, const weft_loop_error *e, void *arg)
{
    slow_seen *s = arg;
    s->calls++;
    if (e->message && strstr(e->message, "slowpoke"))
        s->named = true;
}

START_TEST(debug_warns_about_slow_step)
{
    weft_loop *loop;
    weft_loop_opts o = {.debug = 1, .slow_callback_duration = 0.05};
    WT_OK(weft_loop_new(&loop, &o));
    ck_assert(weft_loop_get_debug(loop));
    slow_seen s = {0};
    weft_loop_set_exception_handler(loop, record_slow, &s);
    weft_future *t;
    WT_OK(weft_create_task(loop, spin_80ms, NULL, "slowpoke", &t));
    WT_OK(weft_loop_run_until_complete(loop, t, NULL));
    weft_future_unref(t);
    WT_OK(weft_loop_close(loop));
    weft_loop_free(loop);
    ck_assert_int_ge(s.calls, 1);
    ck_assert(s.named);
}
END_TEST

/* --------------------------------------------- races found in review */

/* A cancellation that crosses a wake is kept for the next wait, not lost:
 * A is parked on f; B cancels A (A is interrupted and scheduled), then,
 * while B keeps the loop busy, a thread completes f (its wake finds A
 * already interrupted). */
static weft_future *lc_f, *lc_a;
static atomic_int lc_go, lc_done;

static void *lc_completer(void *arg)
{
    while (!atomic_load(&lc_go))
        sched_yield();
    weft_future_set_result(lc_f, (void *)7);
    atomic_store(&lc_done, 1);
    return NULL;
}

static int lc_task_a(void *arg, void **result)
{
    int rc = weft_await(lc_f, NULL, WEFT_FOREVER);
    if (rc == 0)
        rc = weft_sleep(10); /* the kept cancellation arrives here */
    return rc;
}

static int lc_task_b(void *arg, void **result)
{
    WT_OK(weft_sleep(0)); /* A is parked on f by now */
    ck_assert(weft_future_cancel(lc_a));
    atomic_store(&lc_go, 1);
    while (!atomic_load(&lc_done)) /* hold the loop until f is set */
        sched_yield();
    return 0;
}

static int lost_cancel_main(void *arg, void **result)
{
    weft_future *b;
    WT_OK(weft_create_task(NULL, lc_task_a, NULL, "A", &lc_a));
    WT_OK(weft_create_task(NULL, lc_task_b, NULL, "B", &b));
    WT_ERR(weft_await(lc_a, NULL, WEFT_FOREVER), WEFT_ECANCELLED);
    ck_assert(weft_future_cancelled(lc_a));
    WT_OK(weft_await(b, NULL, WEFT_FOREVER));
    weft_future_unref(b);
    weft_future_unref(lc_a);
    return 0;
}

START_TEST(cancel_crossing_a_wake_is_kept)
{
    pthread_t th;
    WT_OK(weft_future_new(&lc_f));
    ck_assert_int_eq(pthread_create(&th, NULL, lc_completer, NULL), 0);
    WT_OK(weft_run(lost_cancel_main, NULL, NULL));
    pthread_join(th, NULL);
    weft_future_unref(lc_f);
}
END_TEST

/* Two cancel requests before the task runs are delivered once. */
static int cancelled_once(void *arg, void **result)
{
    int rc = weft_sleep(10);
    ck_assert_int_eq(rc, WEFT_ECANCELLED);
    WT_OK(weft_sleep(0.001)); /* the clean-up wait is not cancelled again */
    return rc;
}

static int double_cancel_main(void *arg, void **result)
{
    weft_future *t;
    WT_OK(weft_create_task(NULL, cancelled_once, NULL, NULL, &t));
    WT_OK(weft_sleep(0));
    ck_assert(weft_future_cancel(t));
    ck_assert(weft_future_cancel(t));
    ck_assert_int_eq(weft_task_cancelling(t), 2);
    WT_ERR(weft_await(t, NULL, WEFT_FOREVER), WEFT_ECANCELLED);
    weft_future_unref(t);
    return 0;
}

START_TEST(two_cancels_delivered_once)
{
    WT_OK(weft_run(double_cancel_main, NULL, NULL));
}
END_TEST

/* A put hands its item to a coroutine parked in get (the queue stays
 * empty); a cancellation that arrives after the hand-off, before the
 * getter runs, does not lose the item: the get returns it and the
 * cancellation comes at the getter's next wait. */
static weft_queue *ho_q;
static uintptr_t ho_got;

static int ho_getter(void *arg, void **result)
{
    (void)arg;
    (void)result;
    void *item = NULL;
    WT_OK(weft_queue_get(ho_q, &item, WEFT_FOREVER));
    ho_got = (uintptr_t)item;
    int rc = weft_sleep(10);
    ck_assert_int_eq(rc, WEFT_ECANCELLED);
    return rc;
}

static int handoff_main(void *arg, void **result)
{
    (void)arg;
    (void)result;
    weft_future *g;
    WT_OK(weft_create_task(NULL, ho_getter, NULL, "getter", &g));
    WT_OK(weft_sleep(0)); /* the getter parks in get */
    WT_OK(weft_queue_put(ho_q, (void *)(uintptr_t)77, WEFT_FOREVER));
    ck_assert_uint_eq(weft_queue_qsize(ho_q), 0);
    ck_assert(weft_future_cancel(g));
    WT_ERR(weft_await(g, NULL, WEFT_FOREVER), WEFT_ECANCELLED);
    ck_assert_uint_eq(ho_got, 77);
    ck_assert(weft_queue_empty(ho_q));
    /* The item went to the getter: nothing is left to get. */
    void *x;
    WT_ERR(weft_queue_get(ho_q, &x, 0), WEFT_ETIMEDOUT);
    weft_future_unref(g);
    return 0;
}

static int ho_getter_keeps(void *arg, void **result)
{
    (void)arg;
    void *item = NULL;
    WT_OK(weft_queue_get(ho_q, &item, WEFT_FOREVER));
    __atomic_store_n((uintptr_t *)arg, (uintptr_t)item, __ATOMIC_RELAXED);
    return 0;
}

static int handoff_order_main(void *arg, void **result)
{
    (void)arg;
    (void)result;
    enum { N = 3 };
    uintptr_t got[N] = {0};
    weft_future *g[N];
    for (int i = 0; i < N; i++)
        WT_OK(weft_create_task(NULL, ho_getter_keeps, &got[i], NULL, &g[i]));
    WT_OK(weft_sleep(0)); /* all three park, in order */
    for (uintptr_t i = 0; i < N; i++)
        WT_OK(weft_queue_put(ho_q, (void *)(100 + i), WEFT_FOREVER));
    ck_assert_uint_eq(weft_queue_qsize(ho_q), 0);
    for (int i = 0; i < N; i++) {
        WT_OK(weft_await(g[i], NULL, WEFT_FOREVER));
        ck_assert_uint_eq(got[i], 100 + (uintptr_t)i);
        weft_future_unref(g[i]);
    }
    return 0;
}

START_TEST(queue_hands_item_to_coroutine)
{
    WT_OK(weft_queue_new(&ho_q, 0));
    WT_OK(weft_run(handoff_main, NULL, NULL));
    WT_OK(weft_run(handoff_order_main, NULL, NULL));
    weft_queue_free(ho_q);
}
END_TEST

/* Two tasks that hand control to each other directly (each wakes the
 * other, then waits) do not starve the loop: a timer still fires and a
 * thread-pool result still arrives while they bounce. */
static weft_event bounce_ev[2];
static int bounce_stop;

static int bouncer(void *arg, void **result)
{
    (void)result;
    int me = (int)(intptr_t)arg;
    long n = 0;
    while (!bounce_stop) {
        weft_event_set(&bounce_ev[!me]);
        WT_OK(weft_event_wait(&bounce_ev[me], WEFT_FOREVER));
        weft_event_clear(&bounce_ev[me]);
        n++;
    }
    weft_event_set(&bounce_ev[!me]);
    *result = (void *)(intptr_t)n;
    return 0;
}

static int pool_job(void *arg, void **result)
{
    (void)arg;
    *result = (void *)(intptr_t)42;
    return 0;
}

static int bounce_main(void *arg, void **result)
{
    (void)arg;
    (void)result;
    weft_event_init(&bounce_ev[0]);
    weft_event_init(&bounce_ev[1]);
    bounce_stop = 0;
    weft_future *b[2];
    WT_OK(weft_create_task(NULL, bouncer, (void *)0, NULL, &b[0]));
    WT_OK(weft_create_task(NULL, bouncer, (void *)1, NULL, &b[1]));
    /* This task's timer must fire, and a thread's result must come in,
     * while the two bounce. */
    WT_OK(weft_sleep(0.02));
    void *r = NULL;
    WT_OK(weft_to_thread(pool_job, NULL, &r));
    ck_assert_ptr_eq(r, (void *)(intptr_t)42);
    bounce_stop = 1;
    for (int i = 0; i < 2; i++) {
        void *n = NULL;
        WT_OK(weft_await(b[i], &n, WEFT_FOREVER));
        ck_assert_int_gt((intptr_t)n, 10);
        weft_future_unref(b[i]);
    }
    return 0;
}

START_TEST(bouncing_tasks_do_not_starve_the_loop)
{
    WT_OK(weft_run(bounce_main, NULL, NULL));
}
END_TEST

/* A coroutine and a thread ping-pong on one Condition: the thread's notify
 * often lands between the coroutine queueing itself and suspending. */
#define PINGS 20000
static weft_lock pp_lock = WEFT_LOCK_INIT;
static weft_condition pp_cond;
static int pp_turn;

static void *pp_thread(void *arg)
{
    for (int i = 0; i < PINGS; i++) {
        weft_lock_acquire(&pp_lock, WEFT_FOREVER);
        while (pp_turn != 1)
            weft_condition_wait(&pp_cond, WEFT_FOREVER);
        pp_turn = 0;
        weft_condition_notify(&pp_cond, 1);
        weft_lock_release(&pp_lock);
    }
    return NULL;
}

static int pp_coro(void *arg, void **result)
{
    for (int i = 0; i < PINGS; i++) {
        WT_OK(weft_lock_acquire(&pp_lock, WEFT_FOREVER));
        while (pp_turn != 0)
            WT_OK(weft_condition_wait(&pp_cond, WEFT_FOREVER));
        pp_turn = 1;
        WT_OK(weft_condition_notify(&pp_cond, 1));
        WT_OK(weft_lock_release(&pp_lock));
    }
    return 0;
}

START_TEST(condition_pingpong_with_a_thread)
{
    WT_OK(weft_condition_init(&pp_cond, &pp_lock));
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, pp_thread, NULL), 0);
    WT_OK(weft_run(pp_coro, NULL, NULL));
    pthread_join(th, NULL);
}
END_TEST

/* A TaskGroup whose body is cancelled from outside cancels its children. */
static int tg_body(void *arg, void **result)
{
    weft_task_group *g;
    WT_OK(weft_task_group_new(&g));
    siblings_cancelled = 0;
    WT_OK(weft_task_group_create_task(g, long_sibling, NULL, NULL, NULL));
    WT_OK(weft_task_group_create_task(g, long_sibling, NULL, NULL, NULL));
    int rc = weft_sleep(10); /* cancelled here by main */
    ck_assert_int_eq(rc, WEFT_ECANCELLED);
    WT_ERR(weft_task_group_wait(g), WEFT_ECANCELLED);
    ck_assert_int_eq(siblings_cancelled, 2);
    weft_task_group_free(g);
    return WEFT_ECANCELLED;
}

static int tg_body_main(void *arg, void **result)
{
    weft_future *t;
    WT_OK(weft_create_task(NULL, tg_body, NULL, NULL, &t));
    WT_OK(weft_sleep(0)); /* the body starts its children and sleeps */
    ck_assert(weft_future_cancel(t));
    WT_ERR(weft_await(t, NULL, 5), WEFT_ECANCELLED);
    weft_future_unref(t);
    return 0;
}

START_TEST(task_group_body_cancelled)
{
    WT_OK(weft_run(tg_body_main, NULL, NULL));
}
END_TEST

/* Joining a thread from a coroutine suspends only the coroutine. */
static void *slow_thread(void *arg)
{
    weft_event_wait(arg, WEFT_FOREVER);
    return NULL;
}

static int ticks_then_release(void *arg, void **result)
{
    for (int i = 0; i < 3; i++)
        WT_OK(weft_sleep(0));
    return weft_event_set(arg);
}

static int join_in_coroutine(void *arg, void **result)
{
    weft_event ev;
    weft_event_init(&ev);
    weft_thread *th;
    WT_OK(weft_thread_new(&th, slow_thread, &ev, NULL));
    WT_OK(weft_thread_start(th));
    weft_future *t;
    /* The thread ends only when this task sets the event: a join that
     * blocked the loop would never return. */
    WT_OK(weft_create_task(NULL, ticks_then_release, &ev, NULL, &t));
    WT_OK(weft_thread_join(th, WEFT_FOREVER));
    WT_OK(weft_await(t, NULL, WEFT_FOREVER));
    weft_future_unref(t);
    weft_thread_unref(th);
    weft_event_destroy(&ev);
    return 0;
}

START_TEST(thread_join_suspends_the_task)
{
    WT_OK(weft_run(join_in_coroutine, NULL, NULL));
}
END_TEST

/* Freeing a loop from inside another running loop cannot run its tasks. */
static int free_other_loop(void *arg, void **result)
{
    weft_loop *other = arg;
    WT_ERR(weft_loop_close(other), WEFT_ESTATE);
    return 0;
}

START_TEST(free_loop_from_another_loop)
{
    weft_loop *other;
    WT_OK(weft_loop_new(&other, NULL));
    WT_OK(weft_create_task(other, sleep_then_return, (void *)1, NULL, NULL));
    WT_OK(weft_run(free_other_loop, other, NULL));
    WT_OK(weft_loop_close(other)); /* from here it can */
    weft_loop_free(other);
}
END_TEST

/* ----------------------------------------------------------- bad input */

static int nested_run(void *arg, void **result)
{
    WT_ERR(weft_run(return_arg, NULL, NULL), WEFT_ESTATE);
    weft_task_opts o = {.stack_size = 100};
    WT_ERR(weft_create_task_opts(NULL, return_arg, NULL, &o, NULL), WEFT_EINVAL);
    WT_ERR(weft_create_task(NULL, NULL, NULL, NULL, NULL), WEFT_EINVAL);
    WT_ERR(weft_sleep(-1), WEFT_EINVAL);
    return 0;
}

START_TEST(bad_input)
{
    WT_ERR(weft_create_task(NULL, return_arg, NULL, NULL, NULL), WEFT_ESTATE);
    weft_future *f;
    WT_OK(weft_future_new(&f));
    ck_assert(!weft_is_task(f));
    ck_assert_ptr_null(weft_task_name(f));
    WT_ERR(weft_task_uncancel(f, NULL), WEFT_EINVAL);
    ck_assert_uint_eq(weft_task_cancelling(f), 0);
    WT_ERR(weft_task_set_name(f, "x"), WEFT_EINVAL);
    weft_future_unref(f);
    WT_OK(weft_run(nested_run, NULL, NULL));
    size_t n;
    WT_ERR(weft_all_tasks(NULL, NULL, 0, &n), WEFT_ESTATE);
}
END_TEST

WT_MAIN("task", 60, run_returns_main_result, to_thread_failure_message, tasks_interleave_at_yields, yields_keep_fifo_order,
        sleep_suspends_only_the_task, gather_keeps_order, gather_errors,
        gather_cancel_cancels_children, cancel_reaches_sleep, sleep_without_end_until_cancelled,
        cancelled_before_start_never_runs,
        cancel_can_be_refused, cancel_from_another_thread, await_cancels_the_awaited_task,
        wait_for_cancels_and_awaits, timeout_scope, shield_protects_inner, task_group,
        thread_pool_results_wake_tasks, cancel_while_awaiting_lock, rlock_owner_is_the_task,
        condition_between_tasks, thread_and_coroutines_share_lock_and_queue,
        hundred_thousand_sleeping_tasks, reports_unretrieved_and_pending,
        debug_warns_about_slow_step, cancel_crossing_a_wake_is_kept, two_cancels_delivered_once,
        queue_hands_item_to_coroutine, bouncing_tasks_do_not_starve_the_loop,
        condition_pingpong_with_a_thread, task_group_body_cancelled, thread_join_suspends_the_task,
        free_loop_from_another_loop, bad_input)
