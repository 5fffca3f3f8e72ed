/* weft_future: states, outcomes, waiting, cancellation, callbacks, the
 * report handler, reference counting, the executor internals (run, message,
 * fail_pending, new2) and the races between completion and its readers. */
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal/future.h"
#include "internal/park.h"
#include "wt.h"

/* ------------------------------------------------------------ helpers */

typedef struct waiter {
    weft_future *f;
    double timeout;
    weft__wait_slot slot;
    void *res;
    int rc;
} waiter;

static void *wait_result(void *arg)
{
    waiter *w = arg;
    weft__my_wait_slot = &w->slot;
    w->rc = weft_future_result(w->f, &w->res, w->timeout);
    return NULL;
}

static void start_waiter(waiter *w, pthread_t *t, weft_future *f, double timeout)
{
    *w = (waiter){.f = f, .timeout = timeout, .rc = 1};
    ck_assert_int_eq(pthread_create(t, NULL, wait_result, w), 0);
}

/* A report handler that counts and remembers the last report. */
typedef struct reports {
    int n;
    int code;
    char what[64];
    char message[64];
} reports;

static void count_report(const char *what, int code, const char *message, void *arg)
{
    reports *r = arg;
    __atomic_fetch_add(&r->n, 1, __ATOMIC_RELAXED);
    r->code = code;
    snprintf(r->what, sizeof r->what, "%s", what);
    snprintf(r->message, sizeof r->message, "%s", message ? message : "(null)");
}

/* ------------------------------------------------------------- states */

START_TEST(future_states)
{
    weft_future *f;
    WT_OK(weft_future_new(&f));
    ck_assert_int_eq(weft_future_get_state(f), WEFT_FUTURE_PENDING);
    ck_assert(!weft_future_done(f) && !weft_future_running(f) && !weft_future_cancelled(f));
    WT_OK(weft_future_set_running_or_notify_cancel(f));
    ck_assert_int_eq(weft_future_get_state(f), WEFT_FUTURE_RUNNING);
    ck_assert(weft_future_running(f) && !weft_future_done(f));
    WT_ERR(weft_future_set_running_or_notify_cancel(f), WEFT_ESTATE);
    ck_assert(!weft_future_cancel(f)); /* running: too late */
    ck_assert_int_eq(weft_future_get_state(f), WEFT_FUTURE_RUNNING);
    int value = 42;
    WT_OK(weft_future_set_result(f, &value));
    ck_assert_int_eq(weft_future_get_state(f), WEFT_FUTURE_FINISHED);
    ck_assert(weft_future_done(f) && !weft_future_running(f) && !weft_future_cancelled(f));
    ck_assert(!weft_future_cancel(f)); /* finished: too late */
    void *res = NULL;
    WT_OK(weft_future_result(f, &res, 0));
    ck_assert_ptr_eq(res, &value);
    WT_OK(weft_future_result(f, NULL, WEFT_FOREVER));
    WT_OK(weft_future_exception(f, 1));
    ck_assert_ptr_null(weft_future_message(f));
    WT_ERR(weft_future_set_result(f, NULL), WEFT_ESTATE);
    WT_ERR(weft_future_set_error(f, WEFT_EAGAIN, "x"), WEFT_ESTATE);
    WT_ERR(weft_future_set_running_or_notify_cancel(f), WEFT_ESTATE);
    res = NULL;
    WT_OK(weft_future_result(f, &res, 0)); /* the first outcome stands */
    ck_assert_ptr_eq(res, &value);
    weft_future_unref(f);
}
END_TEST

START_TEST(future_set_on_pending)
{
    /* As in Python, set_result/set_error need not go through RUNNING. */
    weft_future *f, *g;
    WT_OK(weft_future_new(&f));
    WT_OK(weft_future_new(&g));
    WT_OK(weft_future_set_result(f, NULL));
    WT_OK(weft_future_set_error(g, WEFT_EBROKEN, NULL));
    WT_ERR(weft_future_exception(g, 0), WEFT_EBROKEN);
    ck_assert_ptr_null(weft_future_message(g));
    WT_ERR(weft_future_set_running_or_notify_cancel(f), WEFT_ESTATE);
    WT_ERR(weft_future_set_running_or_notify_cancel(g), WEFT_ESTATE);
    weft_future_unref(f);
    weft_future_unref(g);
}
END_TEST

START_TEST(future_errors)
{
    weft_future *f;
    WT_ERR(weft_future_new(NULL), WEFT_EINVAL);
    WT_ERR(weft__future_new2(NULL), WEFT_EINVAL);
    WT_OK(weft_future_new(&f));
    ck_assert_ptr_null(weft_future_ref(NULL));
    weft_future_unref(NULL);
    WT_ERR(weft_future_result(NULL, NULL, 0), WEFT_EINVAL);
    WT_ERR(weft_future_exception(NULL, 0), WEFT_EINVAL);
    WT_ERR(weft_future_result(f, NULL, -2), WEFT_EINVAL);
    WT_ERR(weft_future_result(f, NULL, 0.0 / 0.0), WEFT_EINVAL);
    WT_ERR(weft_future_exception(f, -0.5), WEFT_EINVAL);
    ck_assert_ptr_null(weft_future_message(NULL));
    ck_assert(!weft_future_cancel(NULL));
    ck_assert(!weft_future_cancelled(NULL) && !weft_future_running(NULL));
    ck_assert(!weft_future_done(NULL));
    WT_ERR(weft_future_set_running_or_notify_cancel(NULL), WEFT_EINVAL);
    WT_ERR(weft_future_set_result(NULL, NULL), WEFT_EINVAL);
    WT_ERR(weft_future_set_error(NULL, WEFT_EAGAIN, NULL), WEFT_EINVAL);
    WT_ERR(weft_future_set_error(f, 0, NULL), WEFT_EINVAL);
    WT_ERR(weft_future_set_error(f, 5, "positive"), WEFT_EINVAL);
    WT_ERR(weft_future_add_done_callback(NULL, NULL, NULL), WEFT_EINVAL);
    WT_ERR(weft_future_add_done_callback(f, NULL, NULL), WEFT_EINVAL);
    WT_ERR(weft__future_fail_pending(NULL, WEFT_EBROKEN, NULL), WEFT_EINVAL);
    WT_ERR(weft__future_fail_pending(f, 0, NULL), WEFT_EINVAL);
    WT_ERR(weft__future_run(f, NULL, NULL), WEFT_EINVAL);
    WT_ERR(weft__future_run(NULL, NULL, NULL), WEFT_EINVAL);
    /* None of the refused calls changed the future. */
    ck_assert_int_eq(weft_future_get_state(f), WEFT_FUTURE_PENDING);
    WT_ERR(weft_future_result(f, NULL, 0), WEFT_ETIMEDOUT);
    weft_future_unref(f);
}
END_TEST

START_TEST(future_error_and_message)
{
    weft_future *f;
    WT_OK(weft_future_new(&f));
    char msg[] = "disk on fire";
    WT_OK(weft_future_set_error(f, WEFT_EAGAIN, msg));
    msg[0] = 'D'; /* the future holds a copy */
    void *res = &res;
    WT_ERR(weft_future_result(f, &res, 0), WEFT_EAGAIN);
    ck_assert_ptr_eq(res, &res); /* untouched on failure */
    WT_ERR(weft_future_exception(f, WEFT_FOREVER), WEFT_EAGAIN);
    ck_assert_str_eq(weft_future_message(f), "disk on fire");
    ck_assert_int_eq(weft_future_get_state(f), WEFT_FUTURE_FINISHED);
    ck_assert(weft_future_done(f) && !weft_future_cancelled(f));
    WT_ERR(weft_future_set_error(f, WEFT_EBROKEN, "again"), WEFT_ESTATE);
    ck_assert_str_eq(weft_future_message(f), "disk on fire");
    weft_future_unref(f);
}
END_TEST

START_TEST(future_result_timeout)
{
    weft_future *f;
    WT_OK(weft_future_new(&f));
    WT_ERR(weft_future_result(f, NULL, 0), WEFT_ETIMEDOUT);
    double t0 = weft_monotonic();
    WT_ERR(weft_future_result(f, NULL, 0.03), WEFT_ETIMEDOUT);
    double waited = weft_monotonic() - t0;
    ck_assert_msg(waited >= 0.03, "waited %.3f s", waited);
    WT_ERR(weft_future_exception(f, 0.01), WEFT_ETIMEDOUT);
    ck_assert(!weft_future_done(f));
    /* The timed-out waiter left nothing behind that breaks completion. */
    WT_OK(weft_future_set_result(f, f));
    void *res;
    WT_OK(weft_future_result(f, &res, 0));
    ck_assert_ptr_eq(res, f);
    weft_future_unref(f);
}
END_TEST

START_TEST(future_result_wakes_waiters)
{
    enum { NW = 4 };
    weft_future *f;
    WT_OK(weft_future_new(&f));
    waiter w[NW];
    pthread_t t[NW];
    for (int i = 0; i < NW; i++)
        start_waiter(&w[i], &t[i], f, i % 2 ? WEFT_FOREVER : 60);
    for (int i = 0; i < NW; i++)
        wt_wait_until_parked(&w[i].slot, WEFT_WAIT_FUTURE);
    ck_assert_ptr_eq(w[0].slot.what, f);
    int value = 7;
    WT_OK(weft_future_set_result(f, &value));
    for (int i = 0; i < NW; i++) {
        pthread_join(t[i], NULL);
        WT_OK(w[i].rc);
        ck_assert_ptr_eq(w[i].res, &value);
    }
    weft_future_unref(f);
}
END_TEST

START_TEST(future_error_wakes_waiter)
{
    weft_future *f;
    WT_OK(weft_future_new(&f));
    waiter w;
    pthread_t t;
    start_waiter(&w, &t, f, WEFT_FOREVER);
    wt_wait_until_parked(&w.slot, WEFT_WAIT_FUTURE);
    WT_OK(weft_future_set_error(f, WEFT_ENOMEM, "out"));
    pthread_join(t, NULL);
    WT_ERR(w.rc, WEFT_ENOMEM);
    weft_future_unref(f);
}
END_TEST

START_TEST(future_cancel)
{
    weft_future *f;
    WT_OK(weft_future_new(&f));
    waiter w;
    pthread_t t;
    start_waiter(&w, &t, f, WEFT_FOREVER);
    wt_wait_until_parked(&w.slot, WEFT_WAIT_FUTURE);
    ck_assert(weft_future_cancel(f));
    pthread_join(t, NULL);
    WT_ERR(w.rc, WEFT_ECANCELLED);
    ck_assert(weft_future_cancelled(f) && weft_future_done(f) && !weft_future_running(f));
    ck_assert_int_eq(weft_future_get_state(f), WEFT_FUTURE_CANCELLED);
    ck_assert(weft_future_cancel(f)); /* already cancelled: still true */
    WT_ERR(weft_future_exception(f, 0), WEFT_ECANCELLED);
    ck_assert_ptr_null(weft_future_message(f));
    WT_ERR(weft_future_set_result(f, NULL), WEFT_ESTATE);
    WT_ERR(weft_future_set_error(f, WEFT_EAGAIN, NULL), WEFT_ESTATE);
    WT_ERR(weft_future_set_running_or_notify_cancel(f), WEFT_ECANCELLED);
    WT_ERR(weft__future_fail_pending(f, WEFT_EBROKEN, NULL), WEFT_ESTATE);
    weft_future_unref(f);
}
END_TEST

/* ------------------------------------------------------------ tasks */

static int task_calls;

static int task_ok(void *arg, void **result)
{
    task_calls++;
    ck_assert_ptr_null(*result); /* starts NULL */
    *result = arg;
    return 0;
}

static int task_fail(void *arg, void **result)
{
    task_calls++;
    WT_OK(weft_task_set_message("first %d", 1));
    WT_OK(weft_task_set_message("item %s failed", (const char *)arg)); /* last wins */
    return WEFT_EAGAIN;
}

static int task_fail_silent(void *arg, void **result)
{
    task_calls++;
    return WEFT_EBUSY;
}

static int task_message_then_ok(void *arg, void **result)
{
    task_calls++;
    WT_OK(weft_task_set_message("ignored"));
    *result = arg;
    return 0;
}

static int task_positive(void *arg, void **result)
{
    task_calls++;
    WT_OK(weft_task_set_message("replaced"));
    return 3;
}

static int cb_record_state(weft_future *f, void *arg)
{
    *(weft_future_state *)arg = weft_future_get_state(f);
    return 0;
}

START_TEST(task_run_result)
{
    weft_future *f;
    WT_OK(weft__future_new2(&f));
    task_calls = 0;
    int value;
    WT_OK(weft__future_run(f, task_ok, &value));
    ck_assert_int_eq(task_calls, 1);
    void *res = NULL;
    WT_OK(weft_future_result(f, &res, 0));
    ck_assert_ptr_eq(res, &value);
    /* A finished future is not run again. */
    WT_ERR(weft__future_run(f, task_ok, &value), WEFT_ESTATE);
    ck_assert_int_eq(task_calls, 1);
    weft_future_unref(f); /* the executor's reference */
    ck_assert(weft_future_done(f));
    weft_future_unref(f); /* the submitter's */
}
END_TEST

START_TEST(task_run_error_message)
{
    weft_future *f, *g, *h;
    WT_OK(weft__future_new2(&f));
    WT_OK(weft__future_new2(&g));
    WT_OK(weft__future_new2(&h));
    task_calls = 0;
    WT_ERR(weft__future_run(f, task_fail, "x7"), WEFT_EAGAIN);
    WT_ERR(weft_future_exception(f, 0), WEFT_EAGAIN);
    ck_assert_str_eq(weft_future_message(f), "item x7 failed");
    WT_ERR(weft__future_run(g, task_fail_silent, NULL), WEFT_EBUSY);
    ck_assert_ptr_null(weft_future_message(g)); /* no message leaks over */
    WT_OK(weft__future_run(h, task_message_then_ok, h));
    ck_assert_ptr_null(weft_future_message(h));
    ck_assert_int_eq(task_calls, 3);
    /* Outside a task there is nothing to attach a message to. */
    WT_ERR(weft_task_set_message("nobody hears %d", 1), WEFT_ESTATE);
    weft_future *all[] = {f, g, h};
    for (int i = 0; i < 3; i++) {
        weft_future_unref(all[i]);
        weft_future_unref(all[i]);
    }
}
END_TEST

START_TEST(task_run_positive_return)
{
    weft_future *f;
    WT_OK(weft__future_new2(&f));
    WT_ERR(weft__future_run(f, task_positive, NULL), WEFT_EINVAL);
    WT_ERR(weft_future_exception(f, 0), WEFT_EINVAL);
    const char *m = weft_future_message(f);
    ck_assert_ptr_nonnull(m);
    ck_assert_msg(strstr(m, "returned 3"), "message: %s", m);
    weft_future_unref(f);
    weft_future_unref(f);
}
END_TEST

START_TEST(task_cancelled_never_runs)
{
    weft_future *f;
    WT_OK(weft__future_new2(&f));
    weft_future_state seen = WEFT_FUTURE_PENDING;
    WT_OK(weft_future_add_done_callback(f, cb_record_state, &seen));
    ck_assert(weft_future_cancel(f));
    ck_assert_int_eq(seen, WEFT_FUTURE_CANCELLED); /* ran at once, saw it cancelled */
    task_calls = 0;
    WT_OK(weft__future_run(f, task_ok, NULL));
    ck_assert_int_eq(task_calls, 0);
    WT_ERR(weft_future_result(f, NULL, 0), WEFT_ECANCELLED);
    weft_future_unref(f);
    weft_future_unref(f);
}
END_TEST

/* A task that runs another task inline: each sees its own message. */
static int task_inner_outer(void *arg, void **result)
{
    WT_OK(weft_task_set_message("outer"));
    weft_future *inner = arg;
    WT_ERR(weft__future_run(inner, task_fail, "in"), WEFT_EAGAIN);
    return WEFT_EBUSY; /* the outer message is still "outer" */
}

START_TEST(task_nested_messages)
{
    weft_future *outer, *inner;
    WT_OK(weft_future_new(&outer));
    WT_OK(weft_future_new(&inner));
    WT_ERR(weft__future_run(outer, task_inner_outer, inner), WEFT_EBUSY);
    ck_assert_str_eq(weft_future_message(outer), "outer");
    ck_assert_str_eq(weft_future_message(inner), "item in failed");
    WT_ERR(weft_task_set_message("after"), WEFT_ESTATE);
    weft_future_unref(outer);
    weft_future_unref(inner);
}
END_TEST

START_TEST(fail_pending)
{
    weft_future *f, *g;
    WT_OK(weft__future_new2(&f));
    WT_OK(weft__future_new2(&g));
    WT_OK(weft__future_fail_pending(f, WEFT_EBROKEN, "initializer failed"));
    WT_ERR(weft_future_exception(f, 0), WEFT_EBROKEN);
    ck_assert_str_eq(weft_future_message(f), "initializer failed");
    WT_ERR(weft__future_fail_pending(f, WEFT_EBROKEN, NULL), WEFT_ESTATE);
    /* A running future is not pending: it is left to finish. */
    WT_OK(weft_future_set_running_or_notify_cancel(g));
    WT_ERR(weft__future_fail_pending(g, WEFT_EBROKEN, NULL), WEFT_ESTATE);
    ck_assert(weft_future_running(g));
    WT_OK(weft_future_set_result(g, NULL));
    for (int i = 0; i < 2; i++) {
        weft_future_unref(f);
        weft_future_unref(g);
    }
}
END_TEST

/* ---------------------------------------------------------- callbacks */

typedef struct cblog {
    int n;
    int order[16];
    pthread_t thread[16];
} cblog;

static cblog cb_log;

static int cb_log_arg(weft_future *f, void *arg)
{
    ck_assert(weft_future_done(f));
    int i = cb_log.n++;
    cb_log.order[i] = (int)(intptr_t)arg;
    cb_log.thread[i] = pthread_self();
    return 0;
}

static void *complete_in_thread(void *arg)
{
    WT_OK(weft_future_set_result(arg, NULL));
    return NULL;
}

START_TEST(callbacks_order_and_thread)
{
    weft_future *f;
    WT_OK(weft_future_new(&f));
    memset(&cb_log, 0, sizeof cb_log);
    for (intptr_t i = 0; i < 6; i++) /* one embedded, five malloc'd */
        WT_OK(weft_future_add_done_callback(f, cb_log_arg, (void *)i));
    ck_assert_int_eq(cb_log.n, 0);
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, complete_in_thread, f), 0);
    pthread_join(t, NULL);
    ck_assert_int_eq(cb_log.n, 6);
    for (int i = 0; i < 6; i++) {
        ck_assert_int_eq(cb_log.order[i], i);
        ck_assert(pthread_equal(cb_log.thread[i], t)); /* in the completing thread */
    }
    /* Added after completion: runs at once, in the caller. */
    WT_OK(weft_future_add_done_callback(f, cb_log_arg, (void *)6));
    ck_assert_int_eq(cb_log.n, 7);
    ck_assert_int_eq(cb_log.order[6], 6);
    ck_assert(pthread_equal(cb_log.thread[6], pthread_self()));
    weft_future_unref(f);
}
END_TEST

static int cb_log_other(weft_future *f, void *arg)
{
    return cb_log_arg(f, (void *)((intptr_t)arg + 100));
}

START_TEST(remove_done_callback)
{
    /* asyncio's Future.remove_done_callback: every registration of the
     * callback goes, the count is returned, the rest run in order
     * (test_futures' test_remove_done_callback and the remove_first,
     * remove_third cases). A C callback is fn with its arg. */
    weft_future *f;
    WT_OK(weft_future_new(&f));
    memset(&cb_log, 0, sizeof cb_log);
    size_t n = 99;
    WT_OK(weft_future_remove_done_callback(f, cb_log_arg, (void *)1, &n));
    ck_assert_uint_eq(n, 0); /* none yet */
    WT_OK(weft_future_add_done_callback(f, cb_log_arg, (void *)1)); /* the embedded one */
    WT_OK(weft_future_add_done_callback(f, cb_log_arg, (void *)2));
    WT_OK(weft_future_add_done_callback(f, cb_log_other, (void *)1));
    WT_OK(weft_future_add_done_callback(f, cb_log_arg, (void *)1));
    WT_OK(weft_future_add_done_callback(f, cb_log_arg, (void *)3));
    WT_OK(weft_future_add_done_callback(f, cb_log_arg, (void *)1)); /* the last one */
    WT_OK(weft_future_remove_done_callback(f, cb_log_arg, (void *)1, &n));
    ck_assert_uint_eq(n, 3); /* first, middle and last; same fn, other arg stays */
    WT_OK(weft_future_remove_done_callback(f, cb_log_arg, (void *)1, &n));
    ck_assert_uint_eq(n, 0);
    WT_OK(weft_future_remove_done_callback(f, cb_log_arg, (void *)4, NULL));
    /* The list is still whole: one added now goes last, into the freed
     * embedded room. */
    WT_OK(weft_future_add_done_callback(f, cb_log_arg, (void *)5));
    WT_OK(weft_future_remove_done_callback(f, cb_log_arg, (void *)3, &n));
    ck_assert_uint_eq(n, 1);
    WT_OK(weft_future_add_done_callback(f, cb_log_arg, (void *)6));
    ck_assert_int_eq(cb_log.n, 0);
    WT_OK(weft_future_set_result(f, NULL));
    int want[] = {2, 101, 5, 6};
    ck_assert_int_eq(cb_log.n, 4);
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(cb_log.order[i], want[i]);
    /* Done: the callbacks ran, nothing is left to remove. */
    WT_OK(weft_future_remove_done_callback(f, cb_log_arg, (void *)2, &n));
    ck_assert_uint_eq(n, 0);
    WT_ERR(weft_future_remove_done_callback(NULL, cb_log_arg, NULL, &n), WEFT_EINVAL);
    ck_assert_uint_eq(n, 0);
    WT_ERR(weft_future_remove_done_callback(f, NULL, NULL, NULL), WEFT_EINVAL);
    weft_future_unref(f);

    /* Removing every callback leaves a future whose completion runs none;
     * one freed with callbacks removed leaks nothing. */
    WT_OK(weft_future_new(&f));
    WT_OK(weft_future_add_done_callback(f, cb_log_arg, (void *)7));
    WT_OK(weft_future_add_done_callback(f, cb_log_arg, (void *)7));
    WT_OK(weft_future_remove_done_callback(f, cb_log_arg, (void *)7, &n));
    ck_assert_uint_eq(n, 2);
    ck_assert(weft_future_cancel(f));
    ck_assert_int_eq(cb_log.n, 4);
    weft_future_unref(f);
    WT_OK(weft_future_new(&f));
    WT_OK(weft_future_add_done_callback(f, cb_log_arg, (void *)8));
    WT_OK(weft_future_add_done_callback(f, cb_log_arg, (void *)9));
    WT_OK(weft_future_remove_done_callback(f, cb_log_arg, (void *)8, &n));
    weft_future_unref(f); /* never done: 9 is dropped unrun */
    ck_assert_int_eq(cb_log.n, 4);
}
END_TEST

static int cb_fail(weft_future *f, void *arg)
{
    cb_log_arg(f, arg);
    return WEFT_EAGAIN;
}

START_TEST(callbacks_failure_reported)
{
    reports r = {0};
    weft_set_report_handler(count_report, &r);
    weft_future *f;
    WT_OK(weft_future_new(&f));
    memset(&cb_log, 0, sizeof cb_log);
    WT_OK(weft_future_add_done_callback(f, cb_log_arg, (void *)0));
    WT_OK(weft_future_add_done_callback(f, cb_fail, (void *)1));
    WT_OK(weft_future_add_done_callback(f, cb_log_arg, (void *)2));
    WT_OK(weft_future_set_error(f, WEFT_EBUSY, NULL));
    ck_assert_int_eq(cb_log.n, 3); /* the one after the failure still ran */
    ck_assert_int_eq(r.n, 1);
    ck_assert_int_eq(r.code, WEFT_EAGAIN);
    ck_assert_str_eq(r.what, "done callback");
    /* Failing at once in the caller is reported too; add still succeeds. */
    WT_OK(weft_future_add_done_callback(f, cb_fail, (void *)3));
    ck_assert_int_eq(r.n, 2);
    weft_set_report_handler(NULL, NULL);
    weft_future_unref(f);
}
END_TEST

START_TEST(report_default_handler)
{
    reports r = {0};
    weft_set_report_handler(count_report, &r);
    weft_report_error("thing", WEFT_EBROKEN, "went wrong");
    ck_assert_int_eq(r.n, 1);
    ck_assert_str_eq(r.what, "thing");
    ck_assert_str_eq(r.message, "went wrong");
    weft_set_report_handler(NULL, &r); /* back to the default: stderr */
    int fds[2];
    ck_assert_int_eq(pipe(fds), 0);
    fflush(stderr);
    int saved = dup(2);
    dup2(fds[1], 2);
    weft_report_error("worker", WEFT_EBROKEN, "init failed");
    weft_report_error("cb", WEFT_ETIMEDOUT, NULL);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    close(fds[1]);
    char buf[256] = {0};
    ssize_t got = 0, k;
    while ((k = read(fds[0], buf + got, sizeof buf - 1 - (size_t)got)) > 0)
        got += k;
    close(fds[0]);
    ck_assert_str_eq(buf, "weft: worker: EBROKEN (init failed)\n"
                          "weft: cb: ETIMEDOUT (timed out)\n");
    ck_assert_int_eq(r.n, 1);
}
END_TEST

static int cb_unref(weft_future *f, void *arg)
{
    weft_future_unref(f);
    return 0;
}

START_TEST(callback_unrefs_future)
{
    /* The callbacks drop the only references while set_result/cancel still
     * runs: ASan would catch a use after free. */
    weft_future *f;
    WT_OK(weft_future_new(&f));
    weft_future_ref(f);
    WT_OK(weft_future_add_done_callback(f, cb_unref, NULL)); /* embedded node */
    WT_OK(weft_future_add_done_callback(f, cb_unref, NULL)); /* malloc'd node */
    WT_OK(weft_future_set_result(f, NULL));

    WT_OK(weft_future_new(&f));
    WT_OK(weft_future_add_done_callback(f, cb_unref, NULL));
    ck_assert(weft_future_cancel(f));

    WT_OK(weft_future_new(&f));
    WT_OK(weft_future_set_result(f, NULL));
    WT_OK(weft_future_add_done_callback(f, cb_unref, NULL)); /* at once */
}
END_TEST

typedef struct chain {
    weft_future *other;
    int ran;
} chain;

static int cb_count(weft_future *f, void *arg)
{
    __atomic_fetch_add((int *)arg, 1, __ATOMIC_RELAXED);
    return 0;
}

static int cb_chain(weft_future *f, void *arg)
{
    chain *c = arg;
    c->ran++;
    /* From inside a callback: add to another future, to the same (done)
     * future, and complete the other one. No lock is held. */
    WT_OK(weft_future_add_done_callback(c->other, cb_count, &c->ran));
    WT_OK(weft_future_add_done_callback(f, cb_count, &c->ran));
    WT_OK(weft_future_set_result(c->other, NULL));
    return 0;
}

START_TEST(callback_reenters)
{
    weft_future *f, *g;
    WT_OK(weft_future_new(&f));
    WT_OK(weft_future_new(&g));
    chain c = {g, 0};
    WT_OK(weft_future_add_done_callback(f, cb_chain, &c));
    WT_OK(weft_future_set_result(f, NULL));
    ck_assert_int_eq(c.ran, 3);
    ck_assert(weft_future_done(g));
    weft_future_unref(f);
    weft_future_unref(g);
}
END_TEST

START_TEST(callbacks_dropped_if_never_done)
{
    /* A future freed while pending frees its callback records (LSan). */
    weft_future *f;
    int n = 0;
    WT_OK(weft_future_new(&f));
    for (int i = 0; i < 3; i++)
        WT_OK(weft_future_add_done_callback(f, cb_count, &n));
    weft_future_unref(f);
    ck_assert_int_eq(n, 0);
}
END_TEST

/* ------------------------------------------------------------- races */

enum { RACE_ROUNDS = 2000, RACE_CBS = 3 };

typedef struct race {
    weft_barrier *bar;
    weft_future *f;
    int counts[RACE_CBS];
    int won[3];
} race;

static void *race_adder(void *arg)
{
    race *r = arg;
    for (int i = 0; i < RACE_ROUNDS; i++) {
        weft_barrier_wait(r->bar, NULL, WEFT_FOREVER);
        weft_future *f = __atomic_load_n(&r->f, __ATOMIC_ACQUIRE);
        for (int k = 0; k < RACE_CBS; k++)
            WT_OK(weft_future_add_done_callback(f, cb_count, &r->counts[k]));
        weft_barrier_wait(r->bar, NULL, WEFT_FOREVER);
    }
    return NULL;
}

static void *race_completer(void *arg)
{
    race *r = arg;
    for (int i = 0; i < RACE_ROUNDS; i++) {
        weft_barrier_wait(r->bar, NULL, WEFT_FOREVER);
        weft_future *f = __atomic_load_n(&r->f, __ATOMIC_ACQUIRE);
        if (i % 2)
            WT_OK(weft_future_set_result(f, NULL));
        else
            ck_assert(weft_future_cancel(f));
        weft_barrier_wait(r->bar, NULL, WEFT_FOREVER);
    }
    return NULL;
}

START_TEST(race_callback_vs_completion)
{
    weft_barrier bar;
    WT_OK(weft_barrier_init(&bar, 3, NULL, NULL));
    race r = {.bar = &bar};
    pthread_t a, c;
    ck_assert_int_eq(pthread_create(&a, NULL, race_adder, &r), 0);
    ck_assert_int_eq(pthread_create(&c, NULL, race_completer, &r), 0);
    for (int i = 0; i < RACE_ROUNDS; i++) {
        weft_future *f;
        WT_OK(weft__future_new2(&f));
        __atomic_store_n(&r.f, f, __ATOMIC_RELEASE);
        weft_barrier_wait(&bar, NULL, WEFT_FOREVER);
        weft_barrier_wait(&bar, NULL, WEFT_FOREVER);
        for (int k = 0; k < RACE_CBS; k++) /* exactly once each, every round */
            ck_assert_int_eq(__atomic_load_n(&r.counts[k], __ATOMIC_RELAXED), i + 1);
        weft_future_unref(f);
        weft_future_unref(f);
    }
    pthread_join(a, NULL);
    pthread_join(c, NULL);
    weft_barrier_destroy(&bar);
}
END_TEST

typedef struct remove_race {
    weft_barrier *bar;
    weft_future *f;
    int ran;          /* the callback's runs, this round */
    size_t removed;   /* what remove said, this round */
} remove_race;

static void *race_remover(void *arg)
{
    remove_race *r = arg;
    for (int i = 0; i < RACE_ROUNDS; i++) {
        weft_barrier_wait(r->bar, NULL, WEFT_FOREVER);
        weft_future *f = __atomic_load_n(&r->f, __ATOMIC_ACQUIRE);
        WT_OK(weft_future_remove_done_callback(f, cb_count, &r->ran, &r->removed));
        weft_barrier_wait(r->bar, NULL, WEFT_FOREVER);
    }
    return NULL;
}

static void *race_remove_completer(void *arg)
{
    remove_race *r = arg;
    for (int i = 0; i < RACE_ROUNDS; i++) {
        weft_barrier_wait(r->bar, NULL, WEFT_FOREVER);
        weft_future *f = __atomic_load_n(&r->f, __ATOMIC_ACQUIRE);
        WT_OK(weft_future_set_result(f, NULL));
        weft_barrier_wait(r->bar, NULL, WEFT_FOREVER);
    }
    return NULL;
}

START_TEST(race_remove_vs_completion)
{
    /* A remove racing the completion: either it removed the callback (and
     * it never runs) or it found nothing (and the callback ran), every
     * round; never both, never neither. */
    weft_barrier bar;
    WT_OK(weft_barrier_init(&bar, 3, NULL, NULL));
    remove_race r = {.bar = &bar};
    pthread_t a, c;
    ck_assert_int_eq(pthread_create(&a, NULL, race_remover, &r), 0);
    ck_assert_int_eq(pthread_create(&c, NULL, race_remove_completer, &r), 0);
    for (int i = 0; i < RACE_ROUNDS; i++) {
        weft_future *f;
        WT_OK(weft_future_new(&f));
        r.ran = 0;
        r.removed = 99;
        WT_OK(weft_future_add_done_callback(f, cb_count, &r.ran));
        __atomic_store_n(&r.f, f, __ATOMIC_RELEASE);
        weft_barrier_wait(&bar, NULL, WEFT_FOREVER);
        weft_barrier_wait(&bar, NULL, WEFT_FOREVER);
        ck_assert_msg((r.removed == 1 && r.ran == 0) || (r.removed == 0 && r.ran == 1),
                      "round %d: removed %zu, ran %d", i, r.removed, r.ran);
        weft_future_unref(f);
    }
    pthread_join(a, NULL);
    pthread_join(c, NULL);
    weft_barrier_destroy(&bar);
}
END_TEST

typedef struct ender {
    race *r;
    int kind;
} ender;

static void *race_ender(void *arg)
{
    ender *e = arg;
    race *r = e->r;
    for (int i = 0; i < RACE_ROUNDS; i++) {
        weft_barrier_wait(r->bar, NULL, WEFT_FOREVER);
        weft_future *f = __atomic_load_n(&r->f, __ATOMIC_ACQUIRE);
        bool won;
        if (e->kind == 0)
            won = weft_future_set_result(f, NULL) == 0;
        else if (e->kind == 1)
            won = weft_future_set_error(f, WEFT_EAGAIN, "lost?") == 0;
        else
            won = weft_future_cancel(f);
        if (won)
            r->won[e->kind]++;
        weft_barrier_wait(r->bar, NULL, WEFT_FOREVER);
    }
    return NULL;
}

START_TEST(race_enders)
{
    /* set_result, set_error and cancel at once: exactly one wins, and the
     * outcome is the winner's. */
    weft_barrier bar;
    WT_OK(weft_barrier_init(&bar, 4, NULL, NULL));
    race r = {.bar = &bar};
    ender e[3];
    pthread_t t[3];
    for (int k = 0; k < 3; k++) {
        e[k] = (ender){&r, k};
        ck_assert_int_eq(pthread_create(&t[k], NULL, race_ender, &e[k]), 0);
    }
    int count = 0;
    for (int i = 0; i < RACE_ROUNDS; i++) {
        weft_future *f;
        WT_OK(weft_future_new(&f));
        WT_OK(weft_future_add_done_callback(f, cb_count, &count));
        __atomic_store_n(&r.f, f, __ATOMIC_RELEASE);
        int before[3] = {r.won[0], r.won[1], r.won[2]};
        weft_barrier_wait(&bar, NULL, WEFT_FOREVER);
        weft_barrier_wait(&bar, NULL, WEFT_FOREVER);
        int wins = 0, winner = -1;
        for (int k = 0; k < 3; k++)
            if (r.won[k] != before[k]) {
                wins++;
                winner = k;
            }
        ck_assert_int_eq(wins, 1);
        ck_assert_int_eq(count, i + 1);
        int rc = weft_future_exception(f, 0);
        ck_assert_int_eq(rc, winner == 0 ? 0 : winner == 1 ? WEFT_EAGAIN : WEFT_ECANCELLED);
        /* A cancel that lost to a set is not "cancelled" (the loser reads
         * false); one that came after a cancel reads true, which cannot
         * happen here since only one canceller exists. */
        weft_future_unref(f);
    }
    for (int k = 0; k < 3; k++)
        pthread_join(t[k], NULL);
    ck_assert_int_eq(r.won[0] + r.won[1] + r.won[2], RACE_ROUNDS);
    weft_barrier_destroy(&bar);
}
END_TEST

typedef struct refs_arg {
    weft_future *f;
    weft_barrier *bar;
} refs_arg;

enum { REF_THREADS = 4, REF_ROUNDS = 20000 };

static void *ref_hammer(void *arg)
{
    refs_arg *a = arg;
    weft_barrier_wait(a->bar, NULL, WEFT_FOREVER);
    for (int i = 0; i < REF_ROUNDS; i++) {
        weft_future_ref(a->f);
        weft_future_unref(a->f);
    }
    /* Each thread owns one reference and drops it; the last one frees. */
    void *res;
    WT_OK(weft_future_result(a->f, &res, WEFT_FOREVER));
    ck_assert_ptr_eq(res, a);
    weft_future_unref(a->f);
    return NULL;
}

START_TEST(refcount_stress)
{
    for (int round = 0; round < 20; round++) {
        weft_barrier bar;
        WT_OK(weft_barrier_init(&bar, REF_THREADS + 1, NULL, NULL));
        refs_arg a;
        WT_OK(weft_future_new(&a.f));
        a.bar = &bar;
        for (int i = 1; i < REF_THREADS; i++)
            weft_future_ref(a.f);
        pthread_t t[REF_THREADS];
        for (int i = 0; i < REF_THREADS; i++)
            ck_assert_int_eq(pthread_create(&t[i], NULL, ref_hammer, &a), 0);
        weft_barrier_wait(&bar, NULL, WEFT_FOREVER);
        /* Completing races the hammering and the waiting; the memory is
         * freed by whichever thread drops last (ASan/TSan check it). */
        weft_future *f = a.f;
        weft_future_ref(f);
        WT_OK(weft_future_set_result(f, &a));
        weft_future_unref(f);
        for (int i = 0; i < REF_THREADS; i++)
            pthread_join(t[i], NULL);
        weft_barrier_destroy(&bar);
    }
}
END_TEST

/* ------------------------------------------------------------- cache */

START_TEST(new2_reuse)
{
    /* The per-thread cache hands freed records back: a freed future's
     * record comes back for the next one, and a burst larger than the
     * cache is freed. (Under ASan records are malloc'ed one by one, so
     * that LeakSanitizer sees a leaked future: no reuse to check.) */
    weft_future *f, *g;
    WT_OK(weft__future_new2(&f));
    weft_future_unref(f);
    weft_future_unref(f);
    WT_OK(weft__future_new2(&g));
#ifndef WEFT_SANITIZE_ADDRESS
    ck_assert_ptr_eq(f, g);
#endif
    ck_assert_int_eq(weft_future_get_state(g), WEFT_FUTURE_PENDING);
    weft_future_unref(g);
    ck_assert(!weft_future_done(g)); /* one reference left */
    weft_future_unref(g);

    enum { BURST = 300 };
    static weft_future *fs[BURST];
    for (int round = 0; round < 50; round++) {
        for (int i = 0; i < BURST; i++) {
            WT_OK(weft__future_new2(&fs[i]));
            if (i % 3 == 0)
                WT_OK(weft_future_set_error(fs[i], WEFT_EAGAIN, "with a message"));
            else if (i % 3 == 1)
                WT_OK(weft_future_add_done_callback(fs[i], cb_unref, NULL));
        }
        for (int i = 0; i < BURST; i++) {
            if (i % 3 == 1)
                WT_OK(weft_future_set_result(fs[i], NULL)); /* cb drops one */
            else
                weft_future_unref(fs[i]);
            weft_future_unref(fs[i]);
        }
    }
}
END_TEST

static void *cache_thread(void *arg)
{
    /* Fill this thread's cache, then exit: its destructor frees it. */
    weft_future *fs[80];
    for (int i = 0; i < 80; i++)
        WT_OK(weft__future_new2(&fs[i]));
    for (int i = 0; i < 80; i++) {
        weft_future_unref(fs[i]);
        weft_future_unref(fs[i]);
    }
    return NULL;
}

START_TEST(cache_freed_at_thread_exit)
{
    for (int i = 0; i < 8; i++) {
        pthread_t t;
        ck_assert_int_eq(pthread_create(&t, NULL, cache_thread, NULL), 0);
        pthread_join(t, NULL);
    }
}
END_TEST

/* A future made in one thread and freed in another lands in the second
 * thread's cache: the executor pattern. */
static void *free_other(void *arg)
{
    weft_future **fs = arg;
    for (int i = 0; i < 100; i++) {
        WT_OK(weft__future_run(fs[i], task_ok, fs[i]));
        weft_future_unref(fs[i]);
    }
    return NULL;
}

START_TEST(cache_cross_thread)
{
    weft_future *fs[100];
    for (int round = 0; round < 20; round++) {
        for (int i = 0; i < 100; i++)
            WT_OK(weft__future_new2(&fs[i]));
        pthread_t t;
        ck_assert_int_eq(pthread_create(&t, NULL, free_other, fs), 0);
        for (int i = 0; i < 100; i++) {
            void *res;
            WT_OK(weft_future_result(fs[i], &res, WEFT_FOREVER));
            ck_assert_ptr_eq(res, fs[i]);
            weft_future_unref(fs[i]);
        }
        pthread_join(t, NULL);
    }
}
END_TEST

/* An owner whose record lives in the future's room. */
typedef struct room_rec {
    uint64_t tag;
    int *destroyed;
    char fill[WEFT__FUTURE_ROOM - sizeof(uint64_t) - sizeof(int *)];
} room_rec;

static const weft__future_owner room_owner;

static void room_destroy(weft_future *f, void *ctx)
{
    room_rec *r = ctx;
    ck_assert_ptr_eq(weft__future_owner_ctx(f, &room_owner), r);
    (*r->destroyed)++;
}

static const weft__future_owner room_owner = {.destroy = room_destroy};

START_TEST(owned_errors)
{
    weft_future *f;
    void *room;
    WT_ERR(weft__future_new_owned(NULL, 1, &room_owner, &room), WEFT_EINVAL);
    WT_ERR(weft__future_new_owned(&f, 1, NULL, &room), WEFT_EINVAL);
    WT_ERR(weft__future_new_owned(&f, 1, &room_owner, NULL), WEFT_EINVAL);
    WT_ERR(weft__future_new_owned(&f, 0, &room_owner, &room), WEFT_EINVAL);
    WT_ERR(weft__future_new_owned(&f, 3, &room_owner, &room), WEFT_EINVAL);
}
END_TEST

START_TEST(owned_room)
{
    /* The room is the owner's context, on its own line beside the record,
     * all WEFT__FUTURE_ROOM bytes of it usable; the owner's destroy runs
     * once, when the last reference goes; and owned records are recycled
     * among themselves, never handed out as plain futures. */
    int destroyed = 0;
    weft_future *f, *g;
    void *room;
    WT_OK(weft__future_new_owned(&f, 2, &room_owner, &room));
    ck_assert_ptr_eq(weft__future_owner_ctx(f, &room_owner), room);
    ck_assert_uint_eq((uintptr_t)room % 64, 0);
    ck_assert((char *)room > (char *)f);
    room_rec *r = room;
    memset(r, 0xA5, sizeof *r);
    r->tag = 42;
    r->destroyed = &destroyed;
    WT_OK(weft_future_set_result(f, r));
    void *res;
    WT_OK(weft_future_result(f, &res, 0));
    ck_assert_ptr_eq(res, r);
    weft_future_unref(f);
    ck_assert_int_eq(destroyed, 0);
    ck_assert_uint_eq(r->tag, 42);
    weft_future_unref(f);
    ck_assert_int_eq(destroyed, 1);

    WT_OK(weft__future_new2(&g));
    ck_assert_ptr_ne(g, f);
    WT_OK(weft__future_new_owned(&f, 1, &room_owner, &room));
    ck_assert_ptr_eq(weft__future_owner_ctx(g, &room_owner), NULL);
    ((room_rec *)room)->destroyed = &destroyed;
    weft_future_unref(f);
    ck_assert_int_eq(destroyed, 2);
    weft_future_unref(g);
    weft_future_unref(g);
}
END_TEST

START_TEST(burst_past_small_slabs)
{
    /* More records than the small slabs hold (a few MiB): the allocator
     * moves on to its 2 MiB slabs. Every record stays distinct and whole
     * while all are live, and all come back. Twice, so the second burst
     * runs on recycled records. */
    enum { N = 60000 };
    int destroyed = 0;
    weft_future **fs = malloc(N * sizeof *fs);
    weft_future **os = malloc(N * sizeof *os);
    ck_assert(fs && os);
    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < N; i++) {
            void *room;
            WT_OK(weft__future_new2(&fs[i]));
            WT_OK(weft__future_new_owned(&os[i], 1, &room_owner, &room));
            room_rec *r = room;
            r->tag = (uint64_t)i;
            r->destroyed = &destroyed;
            WT_OK(weft_future_set_result(fs[i], (void *)(uintptr_t)i));
        }
        for (int i = 0; i < N; i++) {
            void *res;
            WT_OK(weft_future_result(fs[i], &res, 0));
            ck_assert_uint_eq((uintptr_t)res, (uintptr_t)i);
            room_rec *r = weft__future_owner_ctx(os[i], &room_owner);
            ck_assert_uint_eq(r->tag, (uint64_t)i);
            weft_future_unref(fs[i]);
            weft_future_unref(fs[i]);
            weft_future_unref(os[i]);
        }
        ck_assert_int_eq(destroyed, N * (round + 1));
    }
    free(fs);
    free(os);
}
END_TEST

/* The slabs a burst needed stay for the next burst, until
 * weft_trim_memory gives back every one that holds no live record; a live
 * record keeps its slab and stays usable. Under ASan each record is
 * malloc'ed on its own (nothing is kept, nothing to give back). */
START_TEST(trim_memory_after_burst)
{
    enum { N = 200000 };
    weft_future **fs = malloc(N * sizeof *fs);
    ck_assert_ptr_nonnull(fs);
    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < N; i++)
            WT_OK(weft_future_new(&fs[i]));
        weft_future *keep = fs[N / 2];
        for (int i = 0; i < N; i++)
            if (fs[i] != keep)
                weft_future_unref(fs[i]);
        size_t freed = weft_trim_memory();
#if defined(WEFT_SANITIZE_ADDRESS)
        ck_assert_uint_eq(freed, 0);
#else
        /* A record is at least a cache line; all but a slab's worth go. */
        ck_assert_msg(freed >= (size_t)N / 2 * 64, "round %d: %zu bytes freed", round, freed);
#endif
        WT_OK(weft_future_set_result(keep, (void *)7));
        void *r;
        WT_OK(weft_future_result(keep, &r, 0));
        ck_assert_ptr_eq(r, (void *)7);
        weft_future_unref(keep);
    }
    /* Nothing left to give back but the slab the last record kept. */
    ck_assert_uint_lt(weft_trim_memory(), (size_t)4 << 20);
    free(fs);
}
END_TEST

static void *unref_all(void *arg)
{
    weft_future **fs = arg;
    for (int i = 0; i < 1000; i++)
        weft_future_unref(fs[i]);
    return NULL;
}

/* Records cached by another thread keep their slabs; trimming from any
 * thread leaves every record usable. */
START_TEST(trim_memory_with_other_threads)
{
    weft_future *fs[1000];
    for (int i = 0; i < 1000; i++)
        WT_OK(weft_future_new(&fs[i]));
    weft_thread *t;
    WT_OK(weft_thread_new(&t, unref_all, fs, NULL));
    WT_OK(weft_thread_start(t));
    weft_trim_memory(); /* while the other thread frees */
    WT_OK(weft_thread_join(t, WEFT_FOREVER));
    weft_thread_unref(t);
    weft_trim_memory();
    for (int i = 0; i < 1000; i++) {
        WT_OK(weft_future_new(&fs[i]));
        WT_OK(weft_future_set_result(fs[i], (void *)(intptr_t)i));
    }
    for (int i = 0; i < 1000; i++) {
        void *r;
        WT_OK(weft_future_result(fs[i], &r, 0));
        ck_assert_ptr_eq(r, (void *)(intptr_t)i);
        weft_future_unref(fs[i]);
    }
}
END_TEST

WT_MAIN("future", 30, future_states, future_set_on_pending, future_errors,
        future_error_and_message, future_result_timeout, future_result_wakes_waiters,
        future_error_wakes_waiter, future_cancel, task_run_result, task_run_error_message,
        task_run_positive_return, task_cancelled_never_runs, task_nested_messages, fail_pending,
        callbacks_order_and_thread, callbacks_failure_reported, report_default_handler,
        callback_unrefs_future, callback_reenters, callbacks_dropped_if_never_done,
        race_callback_vs_completion, race_enders, refcount_stress, new2_reuse,
        cache_freed_at_thread_exit, cache_cross_thread, owned_errors, owned_room,
        burst_past_small_slabs, trim_memory_after_burst, trim_memory_with_other_threads,
        remove_done_callback, race_remove_vs_completion)
