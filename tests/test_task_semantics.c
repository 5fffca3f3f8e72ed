/*
 * Tasks, task groups and timeout scopes as Python's asyncio has them: the
 * behaviours CPython's test_tasks, test_taskgroups, test_timeouts and
 * test_waitfor pin down, one test each, in weft's terms.
 *
 * Orderings come from the loop (FIFO ready queue, timers in deadline
 * order) or from events, never from a race.
 */
#include <math.h>
#include <pthread.h>
#include <string.h>

#include "wt.h"

/* ----------------------------------------------------------- helpers */

static int sleep_forever(void *arg, void **result)
{
    return weft_sleep(INFINITY);
}

static int return_arg(void *arg, void **result)
{
    *result = arg;
    return 0;
}

/* What the exception handler saw. */
static int handler_calls;
static int handler_code;
static char handler_message[128];
static char handler_detail[128];

static void count_handler(weft_loop *loop, const weft_loop_error *e, void *arg)
{
    handler_calls++;
    handler_code = e->code;
    snprintf(handler_message, sizeof handler_message, "%s", e->message ? e->message : "");
    snprintf(handler_detail, sizeof handler_detail, "%s", e->detail ? e->detail : "");
}

static int reports;

static void count_reports(const char *what, int code, const char *message, void *arg)
{
    reports++;
}

static int sleeper_signals_nothing(void *arg, void **result)
{
    return weft_sleep(10);
}

/* -------------------------------------------------- awaiting oneself */

static int await_self(void *arg, void **result)
{
    weft_future *me = weft_current_task();
    WT_ERR(weft_await(me, NULL, WEFT_FOREVER), WEFT_EDEADLK);
    WT_ERR(weft_future_result(me, NULL, WEFT_FOREVER), WEFT_EDEADLK);
    WT_ERR(weft_future_exception(me, WEFT_FOREVER), WEFT_EDEADLK);
    /* The task is not hurt: it waits and ends normally. */
    WT_OK(weft_sleep(0));
    *result = (void *)7;
    return 0;
}

/* asyncio: "Task cannot await on itself" (RuntimeError at once). */
START_TEST(task_awaiting_itself_fails_at_once)
{
    void *r = NULL;
    WT_OK(weft_run(await_self, NULL, &r));
    ck_assert_ptr_eq(r, (void *)7);
}
END_TEST

static int wait_for_self(void *arg, void **result)
{
    weft_future *me = weft_current_task();
    /* wait_for(current_task(), t) returns with the error, not at t. */
    double t0 = weft_monotonic();
    WT_ERR(weft_await(me, NULL, 30), WEFT_EDEADLK);
    WT_ERR(weft_future_result(me, NULL, 30), WEFT_EDEADLK);
    ck_assert(weft_monotonic() - t0 < 10);
    ck_assert(!weft_future_done(me));
    ck_assert_uint_eq(weft_task_cancelling(me), 0);
    return 0;
}

START_TEST(wait_for_on_itself_returns)
{
    WT_OK(weft_run(wait_for_self, NULL, NULL));
}
END_TEST

static int callback_rc = 1;

static void await_in_callback(void *arg)
{
    callback_rc = weft_await(arg, NULL, WEFT_FOREVER);
}

static int callback_awaits(void *arg, void **result)
{
    weft_future *t;
    WT_OK(weft_create_task(NULL, sleeper_signals_nothing, NULL, NULL, &t));
    WT_OK(weft_loop_call_soon(NULL, await_in_callback, t, NULL));
    WT_OK(weft_sleep(0.001));
    ck_assert_int_eq(callback_rc, WEFT_EDEADLK);
    WT_ERR(weft_await(t, NULL, 0), WEFT_ETIMEDOUT); /* a poll is fine */
    ck_assert(weft_future_cancel(t));
    WT_ERR(weft_await(t, NULL, WEFT_FOREVER), WEFT_ECANCELLED);
    weft_future_unref(t);
    return 0;
}

/* A loop's callback cannot block the loop on one of its own tasks. */
START_TEST(callback_awaiting_a_task_of_its_loop_fails)
{
    WT_OK(weft_run(callback_awaits, NULL, NULL));
}
END_TEST

/* ------------------------------------------- only the coroutine ends it */

static int task_set_methods(void *arg, void **result)
{
    weft_future *t;
    WT_OK(weft_create_task(NULL, return_arg, (void *)11, NULL, &t));
    WT_ERR(weft_future_set_result(t, (void *)1), WEFT_ESTATE);
    WT_ERR(weft_future_set_error(t, WEFT_EIO, "no"), WEFT_ESTATE);
    WT_ERR(weft_future_set_running_or_notify_cancel(t), WEFT_ESTATE);
    void *r = NULL;
    WT_OK(weft_await(t, &r, WEFT_FOREVER));
    ck_assert_ptr_eq(r, (void *)11);
    /* Done: still refused, the outcome unchanged. */
    WT_ERR(weft_future_set_result(t, (void *)1), WEFT_ESTATE);
    WT_OK(weft_future_result(t, &r, 0));
    ck_assert_ptr_eq(r, (void *)11);
    weft_future_unref(t);
    /* A plain future still takes them. */
    weft_future *f;
    WT_OK(weft_future_new(&f));
    WT_OK(weft_future_set_result(f, NULL));
    weft_future_unref(f);
    return 0;
}

/* asyncio: Task does not support set_result / set_exception. */
START_TEST(set_result_on_a_task_is_refused)
{
    WT_OK(weft_run(task_set_methods, NULL, NULL));
}
END_TEST

/* ---------------------------------------------------- cancel at the end */

static int cancel_self_and_return(void *arg, void **result)
{
    ck_assert(weft_future_cancel(weft_current_task()));
    *result = (void *)12;
    return (int)(intptr_t)arg; /* no suspension point in between */
}

static int cancel_at_end(void *arg, void **result)
{
    weft_future *t;
    WT_OK(weft_create_task(NULL, cancel_self_and_return, (void *)0, NULL, &t));
    WT_ERR(weft_await(t, NULL, WEFT_FOREVER), WEFT_ECANCELLED);
    ck_assert(weft_future_cancelled(t));
    /* weft's grammar: cancel of a cancelled future says it is cancelled
     * (asyncio's Task.cancel() says False: see the guide). */
    ck_assert(weft_future_cancel(t));
    weft_future_unref(t);
    return 0;
}

/* test_cancel_at_end: the coroutine returns right after cancel(). */
START_TEST(self_cancel_then_return_ends_cancelled)
{
    WT_OK(weft_run(cancel_at_end, NULL, NULL));
}
END_TEST

static int cancel_at_end_error(void *arg, void **result)
{
    weft_future *t;
    WT_OK(weft_create_task(NULL, cancel_self_and_return, (void *)(intptr_t)WEFT_EIO, NULL, &t));
    WT_ERR(weft_await(t, NULL, WEFT_FOREVER), WEFT_EIO);
    ck_assert(!weft_future_cancelled(t));
    weft_future_unref(t);
    return 0;
}

/* An error returned after cancel() wins, as an exception does. */
START_TEST(self_cancel_then_error_ends_with_the_error)
{
    WT_OK(weft_run(cancel_at_end_error, NULL, NULL));
}
END_TEST

static int cancel_then_uncancel(void *arg, void **result)
{
    weft_future *me = weft_current_task();
    ck_assert(weft_future_cancel(me));
    unsigned left = 9;
    WT_OK(weft_task_uncancel(me, &left));
    ck_assert_uint_eq(left, 0);
    WT_OK(weft_sleep(0)); /* the withdrawn request is not delivered */
    ck_assert(weft_future_cancel(me));
    WT_OK(weft_task_uncancel(me, NULL));
    *result = (void *)5;
    return 0;
}

/* test_uncancel_resets_must_cancel. */
START_TEST(uncancel_withdraws_the_pending_request)
{
    void *r = NULL;
    WT_OK(weft_run(cancel_then_uncancel, NULL, &r));
    ck_assert_ptr_eq(r, (void *)5);
}
END_TEST

static int cancel_self_then_wait(void *arg, void **result)
{
    weft_future *me = weft_current_task();
    ck_assert(weft_future_cancel(me));
    ck_assert(weft_future_cancel(me)); /* two requests, one delivery */
    ck_assert_uint_eq(weft_task_cancelling(me), 2);
    WT_ERR(weft_sleep(0), WEFT_ECANCELLED);
    WT_OK(weft_sleep(0));
    return WEFT_ECANCELLED;
}

/* test_cancel_current_task: the next suspension point sees it, once. */
START_TEST(self_cancel_reaches_the_next_wait)
{
    WT_ERR(weft_run(cancel_self_then_wait, NULL, NULL), WEFT_ECANCELLED);
}
END_TEST

/* --------------------------------------------------- cancel(msg) */

static int sleeper_lets_cancel_through(void *arg, void **result)
{
    return weft_sleep(10);
}

static int cancel_with_message(void *arg, void **result)
{
    weft_future *t;
    /* While it sleeps. */
    WT_OK(weft_create_task(NULL, sleeper_lets_cancel_through, NULL, NULL, &t));
    WT_OK(weft_sleep(0));
    ck_assert(weft_task_cancel_msg(t, "my message"));
    WT_ERR(weft_await(t, NULL, WEFT_FOREVER), WEFT_ECANCELLED);
    ck_assert_str_eq(weft_future_message(t), "my message");
    weft_future_unref(t);
    /* Before it starts; the last message given wins. */
    WT_OK(weft_create_task(NULL, sleeper_lets_cancel_through, NULL, NULL, &t));
    ck_assert(weft_task_cancel_msg(t, "first"));
    ck_assert(weft_task_cancel_msg(t, "second"));
    WT_ERR(weft_await(t, NULL, WEFT_FOREVER), WEFT_ECANCELLED);
    ck_assert_str_eq(weft_future_message(t), "second");
    /* Done: a cancel changes nothing. */
    ck_assert(weft_task_cancel_msg(t, "third"));
    ck_assert_str_eq(weft_future_message(t), "second");
    weft_future_unref(t);
    /* Without a message: none. */
    WT_OK(weft_create_task(NULL, sleeper_lets_cancel_through, NULL, NULL, &t));
    WT_OK(weft_sleep(0));
    ck_assert(weft_task_cancel_msg(t, NULL));
    WT_ERR(weft_await(t, NULL, WEFT_FOREVER), WEFT_ECANCELLED);
    ck_assert_ptr_null(weft_future_message(t));
    weft_future_unref(t);
    /* Finished already: false, as weft_future_cancel. */
    WT_OK(weft_create_task(NULL, return_arg, NULL, NULL, &t));
    WT_OK(weft_await(t, NULL, WEFT_FOREVER));
    ck_assert(!weft_task_cancel_msg(t, "late"));
    ck_assert_ptr_null(weft_future_message(t));
    weft_future_unref(t);
    /* A plain future is cancelled, without keeping the text. */
    weft_future *f;
    WT_OK(weft_future_new(&f));
    ck_assert(weft_task_cancel_msg(f, "plain"));
    ck_assert(weft_future_cancelled(f));
    ck_assert_ptr_null(weft_future_message(f));
    weft_future_unref(f);
    ck_assert(!weft_task_cancel_msg(NULL, "x"));
    return 0;
}

/* test_cancel_with_message_then_future_result / _before_starting_task. */
START_TEST(cancel_message_is_read_from_the_task)
{
    WT_OK(weft_run(cancel_with_message, NULL, NULL));
}
END_TEST

static int own_text(void *arg, void **result)
{
    int rc = weft_sleep(10);
    ck_assert_int_eq(rc, WEFT_ECANCELLED);
    weft_task_set_message("own text");
    return rc;
}

static int awaits_inner(void *arg, void **result)
{
    return weft_await(arg, NULL, WEFT_FOREVER);
}

static int cancel_message_travels(void *arg, void **result)
{
    /* The request's message is the one kept; without one, the text the
     * coroutine set. */
    weft_future *t;
    WT_OK(weft_create_task(NULL, own_text, NULL, NULL, &t));
    WT_OK(weft_sleep(0));
    ck_assert(weft_task_cancel_msg(t, "request"));
    WT_ERR(weft_await(t, NULL, WEFT_FOREVER), WEFT_ECANCELLED);
    ck_assert_str_eq(weft_future_message(t), "request");
    weft_future_unref(t);
    WT_OK(weft_create_task(NULL, own_text, NULL, NULL, &t));
    WT_OK(weft_sleep(0));
    ck_assert(weft_future_cancel(t));
    WT_ERR(weft_await(t, NULL, WEFT_FOREVER), WEFT_ECANCELLED);
    ck_assert_str_eq(weft_future_message(t), "own text");
    weft_future_unref(t);
    /* An outer task cancelled with a message while it awaits an inner one
     * passes the message on (asyncio cancels the awaited future with it). */
    weft_future *inner, *outer;
    WT_OK(weft_create_task(NULL, sleeper_lets_cancel_through, NULL, NULL, &inner));
    WT_OK(weft_create_task(NULL, awaits_inner, inner, NULL, &outer));
    WT_OK(weft_sleep(0));
    ck_assert(weft_task_cancel_msg(outer, "from the top"));
    WT_ERR(weft_await(outer, NULL, WEFT_FOREVER), WEFT_ECANCELLED);
    ck_assert(weft_future_cancelled(inner));
    ck_assert_str_eq(weft_future_message(inner), "from the top");
    ck_assert_str_eq(weft_future_message(outer), "from the top");
    weft_future_unref(inner);
    weft_future_unref(outer);
    return 0;
}

START_TEST(cancel_message_passes_to_the_awaited_task)
{
    WT_OK(weft_run(cancel_message_travels, NULL, NULL));
}
END_TEST

/* From another thread, while the loop runs. */
static weft_event started, cancelled_from_thread;

static int sleeper_signals(void *arg, void **result)
{
    WT_OK(weft_event_set(&started));
    return weft_sleep(10);
}

static void *cancel_thread(void *arg)
{
    weft_event_wait(&started, WEFT_FOREVER);
    ck_assert(weft_task_cancel_msg(arg, "from a thread"));
    weft_event_set(&cancelled_from_thread);
    return NULL;
}

static int cross_thread_message(void *arg, void **result)
{
    weft_future *t;
    WT_OK(weft_create_task(NULL, sleeper_signals, NULL, NULL, &t));
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, cancel_thread, t), 0);
    WT_ERR(weft_await(t, NULL, WEFT_FOREVER), WEFT_ECANCELLED);
    ck_assert_str_eq(weft_future_message(t), "from a thread");
    pthread_join(th, NULL);
    weft_future_unref(t);
    return 0;
}

START_TEST(cancel_message_from_another_thread)
{
    weft_event_init(&started);
    weft_event_init(&cancelled_from_thread);
    WT_OK(weft_run(cross_thread_message, NULL, NULL));
    weft_event_destroy(&started);
    weft_event_destroy(&cancelled_from_thread);
}
END_TEST

static int proof;

static int inner_awaits_waiter(void *arg, void **result)
{
    int rc = weft_await(arg, NULL, WEFT_FOREVER);
    if (rc == WEFT_ECANCELLED)
        proof += 1;
    return rc;
}

static int outer_catches(void *arg, void **result)
{
    weft_future *inner;
    WT_OK(weft_create_task(NULL, inner_awaits_waiter, arg, NULL, &inner));
    int rc = weft_await(inner, NULL, WEFT_FOREVER);
    weft_future_unref(inner);
    if (rc == WEFT_ECANCELLED)
        proof += 100; /* caught: the task goes on and returns */
    return 0;
}

static int outer_waits(void *arg, void **result)
{
    weft_future *inner;
    WT_OK(weft_create_task(NULL, inner_awaits_waiter, arg, NULL, &inner));
    bool done;
    int rc = weft_wait(&inner, 1, WEFT_ALL_COMPLETED, &done, NULL, WEFT_FOREVER);
    weft_future_unref(inner);
    return rc;
}

static int cancel_chains(void *arg, void **result)
{
    /* Cancelling outer cancels inner, which cancels the future it awaits. */
    weft_future *waiter, *outer;
    WT_OK(weft_future_new(&waiter));
    proof = 0;
    WT_OK(weft_create_task(NULL, outer_catches, waiter, NULL, &outer));
    WT_OK(weft_sleep(0));
    WT_OK(weft_sleep(0));
    ck_assert(weft_future_cancel(outer));
    WT_OK(weft_await(outer, NULL, WEFT_FOREVER));
    ck_assert_int_eq(proof, 101);
    ck_assert(weft_future_cancelled(waiter));
    weft_future_unref(outer);
    weft_future_unref(waiter);
    /* weft_wait does not pass the cancellation on: inner goes on. */
    WT_OK(weft_future_new(&waiter));
    proof = 0;
    WT_OK(weft_create_task(NULL, outer_waits, waiter, NULL, &outer));
    WT_OK(weft_sleep(0));
    WT_OK(weft_sleep(0));
    ck_assert(weft_future_cancel(outer));
    WT_ERR(weft_await(outer, NULL, WEFT_FOREVER), WEFT_ECANCELLED);
    ck_assert(!weft_future_done(waiter));
    WT_OK(weft_future_set_result(waiter, NULL));
    WT_OK(weft_sleep(0));
    WT_OK(weft_sleep(0));
    ck_assert_int_eq(proof, 0); /* inner saw its future done, not a cancel */
    weft_future_unref(outer);
    weft_future_unref(waiter);
    return 0;
}

/* test_yield_future_passes_cancel, test_yield_wait_does_not_shield_cancel. */
START_TEST(cancel_passes_down_awaits_not_waits)
{
    WT_OK(weft_run(cancel_chains, NULL, NULL));
}
END_TEST

/* ---------------------------------------------------------- wait_for */

static bool ran;

static int note_ran(void *arg, void **result)
{
    ran = true;
    return 0;
}

static int wait_for_zero(void *arg, void **result)
{
    /* A task not started yet: timed out at once, cancelled, never run. */
    weft_future *t;
    ran = false;
    WT_OK(weft_create_task(NULL, note_ran, NULL, NULL, &t));
    WT_ERR(weft_await(t, NULL, 0), WEFT_ETIMEDOUT);
    ck_assert(weft_future_cancelled(t));
    ck_assert(!ran);
    weft_future_unref(t);
    /* A done future: its result, even with timeout 0. */
    weft_future *f;
    WT_OK(weft_future_new(&f));
    WT_OK(weft_future_set_result(f, (void *)3));
    void *r = NULL;
    WT_OK(weft_await(f, &r, 0));
    ck_assert_ptr_eq(r, (void *)3);
    weft_future_unref(f);
    return 0;
}

/* test_wait_for_timeout_less_then_0_or_0_*. */
START_TEST(wait_for_zero_timeout)
{
    WT_OK(weft_run(wait_for_zero, NULL, NULL));
}
END_TEST

static int returns_42_when_cancelled(void *arg, void **result)
{
    int rc = weft_sleep(10);
    ck_assert_int_eq(rc, WEFT_ECANCELLED);
    *result = (void *)42;
    return 0; /* the cancellation is suppressed */
}

static int fails_in_clean_up(void *arg, void **result)
{
    int rc = weft_sleep(10);
    ck_assert_int_eq(rc, WEFT_ECANCELLED);
    WT_OK(weft_sleep(0.001));
    return WEFT_EPERM;
}

static int wait_for_outcomes(void *arg, void **result)
{
    /* test_wait_for_cancel_suppressed: the task's own result wins. */
    weft_future *t;
    WT_OK(weft_create_task(NULL, returns_42_when_cancelled, NULL, NULL, &t));
    void *r = NULL;
    WT_OK(weft_await(t, &r, 0.01));
    ck_assert_ptr_eq(r, (void *)42);
    weft_future_unref(t);
    /* test_wait_for_reraises_exception_during_cancellation. */
    WT_OK(weft_create_task(NULL, fails_in_clean_up, NULL, NULL, &t));
    WT_ERR(weft_await(t, NULL, 0.01), WEFT_EPERM);
    weft_future_unref(t);
    /* test_wait_for_waits_for_task_cancellation_w_timeout_0: a started
     * task, timeout 0: cancelled and its clean-up awaited. */
    WT_OK(weft_create_task(NULL, fails_in_clean_up, NULL, NULL, &t));
    WT_OK(weft_sleep(0));
    WT_ERR(weft_await(t, NULL, 0), WEFT_EPERM);
    ck_assert(weft_future_done(t));
    weft_future_unref(t);
    return 0;
}

START_TEST(wait_for_gives_the_outcome_of_the_clean_up)
{
    WT_OK(weft_run(wait_for_outcomes, NULL, NULL));
}
END_TEST

static int blocked_forever(void *arg, void **result)
{
    weft_future *f;
    WT_OK(weft_future_new(&f));
    int rc = weft_await(f, NULL, WEFT_FOREVER); /* never set */
    ck_assert(weft_future_cancelled(f));
    weft_future_unref(f);
    return rc;
}

static int awaits_with(void *arg, void **result)
{
    weft_future **pair = arg;
    return weft_await(pair[0], NULL, *(double *)pair[1]);
}

static int cancel_wait_for(void *arg, void **result)
{
    double timeouts[] = {WEFT_FOREVER, 60};
    for (int i = 0; i < 2; i++) {
        weft_future *t, *w;
        WT_OK(weft_create_task(NULL, blocked_forever, NULL, NULL, &t));
        void *pair[2] = {t, &timeouts[i]};
        WT_OK(weft_create_task(NULL, awaits_with, pair, NULL, &w));
        WT_OK(weft_sleep(0));
        ck_assert(weft_future_cancel(w));
        WT_ERR(weft_await(w, NULL, WEFT_FOREVER), WEFT_ECANCELLED);
        /* Python issue #23219: cancelling the wait cancels the task. */
        ck_assert(weft_future_cancelled(t));
        weft_future_unref(t);
        weft_future_unref(w);
    }
    return 0;
}

/* test_cancel_wait_for, test_cancel_blocking_wait_for. */
START_TEST(cancelling_wait_for_cancels_the_awaited_task)
{
    WT_OK(weft_run(cancel_wait_for, NULL, NULL));
}
END_TEST

static weft_event cleanup_started;

static int slow_uninterrupted_clean_up(void *arg, void **result)
{
    int rc = weft_sleep(10);
    ck_assert_int_eq(rc, WEFT_ECANCELLED);
    WT_OK(weft_event_set(&cleanup_started));
    WT_OK(weft_sleep(0.02)); /* not cut short by the waiter's next cancel */
    return rc;
}

static int waits_for_stubborn(void *arg, void **result)
{
    weft_future *inner;
    WT_OK(weft_create_task(NULL, slow_uninterrupted_clean_up, NULL, NULL, &inner));
    WT_ERR(weft_await(inner, NULL, 0.005), WEFT_ETIMEDOUT);
    ck_assert(weft_future_cancelled(inner));
    weft_future_unref(inner);
    /* The request that came during the clean-up is this task's now. */
    WT_ERR(weft_sleep(0), WEFT_ECANCELLED);
    return WEFT_ECANCELLED;
}

static int cancel_during_clean_up(void *arg, void **result)
{
    weft_future *w;
    WT_OK(weft_create_task(NULL, waits_for_stubborn, NULL, NULL, &w));
    WT_OK(weft_event_wait(&cleanup_started, WEFT_FOREVER));
    ck_assert(weft_future_cancel(w));
    WT_ERR(weft_await(w, NULL, WEFT_FOREVER), WEFT_ECANCELLED);
    weft_future_unref(w);
    return 0;
}

/* weft's difference from asyncio: kept, not passed on. */
START_TEST(cancel_during_awaited_clean_up_is_kept_for_the_next_wait)
{
    weft_event_init(&cleanup_started);
    WT_OK(weft_run(cancel_during_clean_up, NULL, NULL));
    weft_event_destroy(&cleanup_started);
}
END_TEST

/* ------------------------------------------------------------- gather */

static int cleaned;

static int slow_child(void *arg, void **result)
{
    int rc = weft_sleep(10);
    if (rc != WEFT_ECANCELLED)
        return rc;
    WT_OK(weft_sleep(0.005)); /* clean-up takes a while */
    cleaned++;
    return rc;
}

static int awaits_gather(void *arg, void **result)
{
    return weft_await(arg, NULL, WEFT_FOREVER);
}

static int gather_cancel_waits(void *arg, void **result)
{
    for (int rex = 0; rex < 2; rex++) {
        weft_future *fs[3];
        for (int i = 0; i < 3; i++)
            WT_OK(weft_create_task(NULL, slow_child, NULL, NULL, &fs[i]));
        weft_future *g, *p;
        WT_OK(weft_gather(fs, 3, rex, &g));
        WT_OK(weft_create_task(NULL, awaits_gather, g, NULL, &p));
        WT_OK(weft_sleep(0));
        cleaned = 0;
        ck_assert(weft_future_cancel(p));
        WT_ERR(weft_await(p, NULL, WEFT_FOREVER), WEFT_ECANCELLED);
        /* The awaiting task ended only once the gather did: with
         * return_exceptions after every child's clean-up, without it
         * after the first. */
        ck_assert(weft_future_done(g));
        ck_assert_int_ge(cleaned, rex ? 3 : 1);
        WT_ERR(weft_future_result(g, NULL, 0), WEFT_ECANCELLED);
        for (int i = 0; i < 3; i++) {
            WT_ERR(weft_await(fs[i], NULL, WEFT_FOREVER), WEFT_ECANCELLED);
            weft_future_unref(fs[i]);
        }
        weft_future_unref(g);
        weft_future_unref(p);
    }
    return 0;
}

/* asyncio's gather: a cancellation is a request to the children, and the
 * gather ends through them (test_cancel_gather_2, issue 32684). */
START_TEST(gather_cancel_ends_through_the_children)
{
    WT_OK(weft_run(gather_cancel_waits, NULL, NULL));
}
END_TEST

static int gather_wait_for(void *arg, void **result)
{
    weft_future *fs[2];
    for (int i = 0; i < 2; i++)
        WT_OK(weft_create_task(NULL, slow_child, NULL, NULL, &fs[i]));
    weft_future *g;
    WT_OK(weft_gather(fs, 2, true, &g));
    cleaned = 0;
    WT_ERR(weft_await(g, NULL, 0.01), WEFT_ETIMEDOUT);
    ck_assert_int_eq(cleaned, 2);
    for (int i = 0; i < 2; i++) {
        ck_assert(weft_future_cancelled(fs[i]));
        weft_future_unref(fs[i]);
    }
    weft_future_unref(g);
    /* Children all done: a cancel is refused and the results stand
     * (test_cancel_gather_1). */
    WT_OK(weft_create_task(NULL, return_arg, (void *)1, NULL, &fs[0]));
    WT_OK(weft_create_task(NULL, return_arg, (void *)2, NULL, &fs[1]));
    WT_OK(weft_gather(fs, 2, false, &g));
    WT_OK(weft_await(g, NULL, WEFT_FOREVER));
    ck_assert(!weft_future_cancel(g));
    WT_OK(weft_future_result(g, NULL, 0));
    for (int i = 0; i < 2; i++)
        weft_future_unref(fs[i]);
    weft_future_unref(g);
    return 0;
}

static int gather_cancel_message(void *arg, void **result)
{
    for (int rex = 0; rex < 2; rex++) {
        weft_future *fs[2];
        for (int i = 0; i < 2; i++)
            WT_OK(weft_create_task(NULL, sleeper_lets_cancel_through, NULL, NULL, &fs[i]));
        weft_future *g;
        WT_OK(weft_gather(fs, 2, rex, &g));
        WT_OK(weft_sleep(0));
        ck_assert(weft_task_cancel_msg(g, "stop it"));
        WT_ERR(weft_await(g, NULL, WEFT_FOREVER), WEFT_ECANCELLED);
        ck_assert_str_eq(weft_future_message(g), "stop it");
        for (int i = 0; i < 2; i++) {
            WT_ERR(weft_await(fs[i], NULL, WEFT_FOREVER), WEFT_ECANCELLED);
            ck_assert_str_eq(weft_future_message(fs[i]), "stop it");
            weft_future_unref(fs[i]);
        }
        ck_assert(!weft_task_cancel_msg(g, "again")); /* done */
        weft_future_unref(g);
    }
    return 0;
}

/* A count no memory can hold is refused before the array is read. */
START_TEST(gather_refuses_an_impossible_count)
{
    weft_future *one = NULL, *g = (weft_future *)1;
    WT_OK(weft_future_new(&one));
    WT_ERR(weft_gather(&one, SIZE_MAX, false, &g), WEFT_ENOMEM);
    WT_ERR(weft_gather(&one, SIZE_MAX / sizeof(void *), true, &g), WEFT_ENOMEM);
    WT_ERR(weft_gather(NULL, 2, false, &g), WEFT_EINVAL);
    WT_ERR(weft_gather(&one, 1, false, NULL), WEFT_EINVAL);
    weft_future_unref(one);
}
END_TEST

/* gather.cancel(msg) cancels the children with msg (test_cancel_gather_2). */
START_TEST(gather_cancel_message_reaches_the_children)
{
    WT_OK(weft_run(gather_cancel_message, NULL, NULL));
}
END_TEST

/* wait_for(gather(...), t): the children are cancelled and awaited, and
 * the wait is a timeout. */
START_TEST(wait_for_a_gather)
{
    WT_OK(weft_run(gather_wait_for, NULL, NULL));
}
END_TEST

/* ------------------------------------------------------- timeout scopes */

static double now(void)
{
    return weft_loop_time(weft_get_running_loop());
}

static int timeout_when(void *arg, void **result)
{
    weft_timeout cm;
    double deadline = now() + 10;
    WT_OK(weft_timeout_enter_at(&cm, deadline));
    ck_assert(fabs(weft_timeout_when(&cm) - deadline) < 1e-6);
    WT_OK(weft_timeout_reschedule(&cm, deadline + 20));
    ck_assert(fabs(weft_timeout_when(&cm) - (deadline + 20)) < 1e-6);
    WT_OK(weft_timeout_reschedule(&cm, WEFT_FOREVER));
    ck_assert(weft_timeout_when(&cm) == WEFT_FOREVER);
    WT_OK(weft_timeout_exit(&cm, 0));
    ck_assert(!weft_timeout_expired(&cm));
    /* timeout(None) and timeout_at(None). */
    WT_OK(weft_timeout_enter(&cm, WEFT_FOREVER));
    ck_assert(weft_timeout_when(&cm) == WEFT_FOREVER);
    WT_OK(weft_sleep(0.001));
    WT_OK(weft_timeout_exit(&cm, 0));
    ck_assert(!weft_timeout_expired(&cm));
    WT_OK(weft_timeout_enter_at(&cm, WEFT_FOREVER));
    ck_assert(weft_timeout_when(&cm) == WEFT_FOREVER);
    WT_OK(weft_timeout_exit(&cm, 0));
    /* timeout(10): when() is later than now, also after exit. */
    double t0 = now();
    WT_OK(weft_timeout_enter(&cm, 10));
    WT_OK(weft_sleep(0.001));
    WT_OK(weft_timeout_exit(&cm, 0));
    ck_assert(weft_timeout_when(&cm) > t0 + 9);
    ck_assert(!weft_timeout_expired(&cm));
    /* timeout_at a deadline that passes. */
    deadline = now() + 0.01;
    WT_OK(weft_timeout_enter_at(&cm, deadline));
    int rc = weft_sleep(10);
    WT_ERR(weft_timeout_exit(&cm, rc), WEFT_ETIMEDOUT);
    ck_assert(weft_timeout_expired(&cm));
    ck_assert(fabs(weft_timeout_when(&cm) - deadline) < 1e-6);
    WT_ERR(weft_timeout_enter_at(&cm, NAN), WEFT_EINVAL);
    WT_ERR(weft_timeout_enter_at(&cm, -3), WEFT_EINVAL);
    WT_ERR(weft_timeout_enter_at(NULL, 1), WEFT_EINVAL);
    return 0;
}

/* test_timeout_at_basic, test_timeout_disabled, test_timeout_not_called,
 * test_reschedule's when(). */
START_TEST(timeout_when_and_timeout_at)
{
    weft_timeout cm;
    WT_ERR(weft_timeout_enter_at(&cm, 1), WEFT_ESTATE); /* no task */
    WT_OK(weft_run(timeout_when, NULL, NULL));
}
END_TEST

static int timeout_states(void *arg, void **result)
{
    weft_timeout cm;
    memset(&cm, 0, sizeof cm);
    /* Never entered. */
    WT_ERR(weft_timeout_reschedule(&cm, now() + 1), WEFT_ESTATE);
    WT_ERR(weft_timeout_exit(&cm, 0), WEFT_ESTATE);
    ck_assert(!weft_timeout_expired(&cm));
    ck_assert(weft_timeout_when(&cm) == WEFT_FOREVER);
    /* Live: entering again is refused and changes nothing. */
    WT_OK(weft_timeout_enter(&cm, 0.01));
    double when = weft_timeout_when(&cm);
    WT_ERR(weft_timeout_enter(&cm, 100), WEFT_ESTATE);
    WT_ERR(weft_timeout_enter_at(&cm, WEFT_FOREVER), WEFT_ESTATE);
    ck_assert(weft_timeout_when(&cm) == when);
    int rc = weft_sleep(10); /* the first deadline still holds */
    WT_ERR(weft_timeout_exit(&cm, rc), WEFT_ETIMEDOUT);
    /* Exited: reschedule and a second exit are refused. */
    WT_ERR(weft_timeout_reschedule(&cm, now() + 1), WEFT_ESTATE);
    WT_ERR(weft_timeout_exit(&cm, 0), WEFT_ESTATE);
    /* The storage may hold a new scope. */
    WT_OK(weft_timeout_enter(&cm, 10));
    WT_OK(weft_timeout_exit(&cm, 0));
    /* Expired but not exited: no reschedule (asyncio: expiring). */
    WT_OK(weft_timeout_enter(&cm, 0));
    rc = weft_sleep(10);
    ck_assert_int_eq(rc, WEFT_ECANCELLED);
    WT_ERR(weft_timeout_reschedule(&cm, now() + 10), WEFT_ESTATE);
    WT_ERR(weft_timeout_exit(&cm, rc), WEFT_ETIMEDOUT);
    WT_ERR(weft_timeout_reschedule(NULL, 1), WEFT_EINVAL);
    WT_ERR(weft_timeout_exit(NULL, 0), WEFT_ESTATE);
    return 0;
}

/* Enter reads nothing of its storage: bytes left there by a scope that
 * was live when its task ended (a pooled stack gives the same address to
 * the next task) or plain garbage do not make it refuse. */
static int timeout_stale_storage(void *arg, void **result)
{
    weft_timeout cm, copy;
    WT_OK(weft_timeout_enter(&cm, 10));
    memcpy(&copy, &cm, sizeof cm); /* a live scope's bytes, at this address */
    WT_OK(weft_timeout_exit(&cm, 0));
    memcpy(&cm, &copy, sizeof cm);
    WT_OK(weft_timeout_enter(&cm, 10));
    WT_OK(weft_timeout_exit(&cm, 0));
    memset(&cm, 0xa5, sizeof cm);
    WT_OK(weft_timeout_enter(&cm, 10));
    WT_ERR(weft_timeout_enter(&cm, 10), WEFT_ESTATE);
    WT_OK(weft_timeout_exit(&cm, 0));
    return 0;
}

START_TEST(timeout_enter_reads_no_storage)
{
    WT_OK(weft_run(timeout_stale_storage, NULL, NULL));
}
END_TEST

/* test_timeout_already_entered, _finished, _not_entered. */
START_TEST(timeout_scope_states)
{
    WT_OK(weft_run(timeout_states, NULL, NULL));
}
END_TEST

static int timeout_zero(void *arg, void **result)
{
    weft_timeout cm;
    double t0 = now();
    WT_OK(weft_timeout_enter(&cm, 0));
    int rc = weft_sleep(0);
    WT_ERR(weft_timeout_exit(&cm, rc), WEFT_ETIMEDOUT);
    ck_assert(weft_timeout_expired(&cm));
    ck_assert(t0 <= weft_timeout_when(&cm) && weft_timeout_when(&cm) <= now());
    /* A deadline in the past, through timeout_at. */
    WT_OK(weft_timeout_enter_at(&cm, t0 - 1 > 0 ? t0 - 1 : 0));
    rc = weft_sleep(0);
    WT_ERR(weft_timeout_exit(&cm, rc), WEFT_ETIMEDOUT);
    ck_assert_uint_eq(weft_task_cancelling(weft_current_task()), 0);
    return 0;
}

/* test_timeout_zero_sleep_zero, test_timeout_in_the_past_sleep_zero. */
START_TEST(timeout_zero_expires_at_the_next_yield)
{
    WT_OK(weft_run(timeout_zero, NULL, NULL));
}
END_TEST

static int nested_same_deadline(void *arg, void **result)
{
    weft_timeout outer, inner;
    double deadline = now() + 0.01;
    WT_OK(weft_timeout_enter_at(&outer, deadline));
    WT_OK(weft_timeout_enter_at(&inner, deadline));
    int rc = weft_sleep(10);
    rc = weft_timeout_exit(&inner, rc);
    ck_assert_int_eq(rc, WEFT_ECANCELLED); /* only the outermost times out */
    WT_ERR(weft_timeout_exit(&outer, rc), WEFT_ETIMEDOUT);
    ck_assert(weft_timeout_expired(&outer));
    ck_assert(weft_timeout_expired(&inner));
    ck_assert_uint_eq(weft_task_cancelling(weft_current_task()), 0);
    return 0;
}

/* test_nested_timeouts. */
START_TEST(nested_scopes_expiring_together)
{
    WT_OK(weft_run(nested_same_deadline, NULL, NULL));
}
END_TEST

static int foreign_cancel(void *arg, void **result)
{
    weft_timeout cm;
    WT_OK(weft_timeout_enter(&cm, 10));
    ck_assert(weft_future_cancel(weft_current_task()));
    int rc = weft_sleep(10);
    WT_ERR(weft_timeout_exit(&cm, rc), WEFT_ECANCELLED);
    ck_assert(!weft_timeout_expired(&cm));
    return rc;
}

/* test_foreign_cancel_doesnt_timeout_if_not_expired. */
START_TEST(foreign_cancel_is_not_a_timeout)
{
    WT_ERR(weft_run(foreign_cancel, NULL, NULL), WEFT_ECANCELLED);
}
END_TEST

static int timeout_after_cancel(void *arg, void **result)
{
    /* A cancellation caught without uncancel, then a clean-up bounded by
     * a timeout that expires. */
    ck_assert(weft_future_cancel(weft_current_task()));
    WT_ERR(weft_sleep(1), WEFT_ECANCELLED);
    weft_timeout cm;
    WT_OK(weft_timeout_enter(&cm, 0));
    int rc = weft_sleep(1);
    WT_ERR(weft_timeout_exit(&cm, rc), WEFT_ETIMEDOUT);
    /* And a cancel inside such a scope stays a cancellation. */
    WT_OK(weft_timeout_enter(&cm, 1));
    ck_assert(weft_future_cancel(weft_current_task()));
    rc = weft_sleep(2);
    WT_ERR(weft_timeout_exit(&cm, rc), WEFT_ECANCELLED);
    return 0;
}

/* test_timeout_after_cancellation, test_cancel_in_timeout_after_cancellation. */
START_TEST(timeout_after_a_caught_cancellation)
{
    WT_OK(weft_run(timeout_after_cancel, NULL, NULL));
}
END_TEST

static int foreign_error(void *arg, void **result)
{
    weft_timeout cm;
    /* An error of the body's own (not expired): passed through. */
    WT_OK(weft_timeout_enter(&cm, 10));
    WT_ERR(weft_timeout_exit(&cm, WEFT_EPERM), WEFT_EPERM);
    ck_assert(!weft_timeout_expired(&cm));
    /* Expired, and the clean-up fails with another error: that error,
     * and the expiry's request is withdrawn all the same. */
    WT_OK(weft_timeout_enter(&cm, 0.001));
    WT_ERR(weft_sleep(1), WEFT_ECANCELLED);
    WT_ERR(weft_timeout_exit(&cm, WEFT_EPERM), WEFT_EPERM);
    ck_assert(weft_timeout_expired(&cm));
    ck_assert_uint_eq(weft_task_cancelling(weft_current_task()), 0);
    WT_OK(weft_sleep(0));
    return 0;
}

/* test_foreign_exception_passed, test_foreign_exception_on_timeout. */
START_TEST(timeout_passes_other_errors_through)
{
    WT_OK(weft_run(foreign_error, NULL, NULL));
}
END_TEST

typedef struct resched {
    weft_future *entered; /* gets the scope as its result */
} resched;

static int in_scope(void *arg, void **result)
{
    resched *r = arg;
    weft_timeout cm;
    WT_OK(weft_timeout_enter_at(&cm, now() + 10));
    WT_OK(weft_future_set_result(r->entered, &cm));
    int rc = weft_sleep(50);
    ck_assert(!weft_timeout_expired(&cm));
    return weft_timeout_exit(&cm, rc);
}

static int reschedule_from_outside(void *arg, void **result)
{
    resched r;
    WT_OK(weft_future_new(&r.entered));
    weft_future *t;
    WT_OK(weft_create_task(NULL, in_scope, &r, NULL, &t));
    void *p;
    WT_OK(weft_await(r.entered, &p, WEFT_FOREVER));
    weft_timeout *cm = p;
    double d1 = weft_timeout_when(cm);
    WT_OK(weft_timeout_reschedule(cm, d1 + 20));
    ck_assert(fabs(weft_timeout_when(cm) - (d1 + 20)) < 1e-6);
    WT_OK(weft_timeout_reschedule(cm, WEFT_FOREVER));
    ck_assert(weft_timeout_when(cm) == WEFT_FOREVER);
    ck_assert(weft_future_cancel(t));
    WT_ERR(weft_await(t, NULL, WEFT_FOREVER), WEFT_ECANCELLED);
    weft_future_unref(t);
    weft_future_unref(r.entered);
    return 0;
}

/* test_reschedule: another task moves a live scope's deadline. */
START_TEST(reschedule_from_another_task)
{
    WT_OK(weft_run(reschedule_from_outside, NULL, NULL));
}
END_TEST

static int leaves_scope_open(void *arg, void **result)
{
    weft_timeout mine;
    WT_OK(weft_timeout_enter(&mine, 0.005));
    return 0; /* no exit: a bug, which must not hurt the loop */
}

static int scope_left_open(void *arg, void **result)
{
    WT_OK(weft_create_task(NULL, leaves_scope_open, NULL, NULL, NULL));
    WT_OK(weft_sleep(0.05)); /* past the abandoned deadline */
    /* Timers still work. */
    weft_timeout cm;
    WT_OK(weft_timeout_enter(&cm, 0.005));
    int rc = weft_sleep(10);
    WT_ERR(weft_timeout_exit(&cm, rc), WEFT_ETIMEDOUT);
    return 0;
}

/* A task that returns inside a scope: the scope's timer goes with it. */
START_TEST(scope_left_open_by_a_finished_task)
{
    WT_OK(weft_run(scope_left_open, NULL, NULL));
}
END_TEST

/* ---------------------------------------------------------- TaskGroup */

static weft_event cleaning, may_finish;

static int fails_at_once(void *arg, void **result)
{
    weft_task_set_message("child failed");
    return WEFT_EIO;
}

/* Cancelled, it cleans up until told to finish. */
static int slow_clean_up(void *arg, void **result)
{
    int rc = weft_sleep(10);
    ck_assert_int_eq(rc, WEFT_ECANCELLED);
    WT_OK(weft_event_set(&cleaning));
    WT_OK(weft_event_wait(&may_finish, WEFT_FOREVER));
    return rc;
}

static int group_parent(void *arg, void **result)
{
    weft_task_group *g;
    WT_OK(weft_task_group_new(&g));
    WT_OK(weft_task_group_create_task(g, slow_clean_up, NULL, NULL, NULL));
    WT_OK(weft_task_group_create_task(g, fails_at_once, NULL, NULL, NULL));
    /* The children start only once this task waits: the failure comes
     * while the group is already exiting. */
    WT_ERR(weft_task_group_wait(g), WEFT_EIO);
    weft_task_group_free(g);
    /* The outside cancel that came meanwhile is still pending. */
    ck_assert_uint_eq(weft_task_cancelling(weft_current_task()), 1);
    WT_ERR(weft_sleep(0), WEFT_ECANCELLED);
    return WEFT_ECANCELLED;
}

static int cancel_while_group_handles_error(void *arg, void **result)
{
    weft_future *p;
    WT_OK(weft_create_task(NULL, group_parent, NULL, "parent", &p));
    WT_OK(weft_event_wait(&cleaning, WEFT_FOREVER));
    ck_assert(weft_future_cancel(p)); /* from outside, mid error handling */
    WT_OK(weft_event_set(&may_finish));
    WT_ERR(weft_await(p, NULL, WEFT_FOREVER), WEFT_ECANCELLED);
    ck_assert(weft_future_cancelled(p));
    weft_future_unref(p);
    return 0;
}

/* Python 3.13's TaskGroup: an outside cancellation that arrives while the
 * group handles a child's error is not swallowed. */
START_TEST(group_keeps_an_outside_cancel_during_error_handling)
{
    weft_event_init(&cleaning);
    weft_event_init(&may_finish);
    WT_OK(weft_run(cancel_while_group_handles_error, NULL, NULL));
    weft_event_destroy(&cleaning);
    weft_event_destroy(&may_finish);
}
END_TEST

static int group_parent_in_body(void *arg, void **result)
{
    weft_task_group *g;
    WT_OK(weft_task_group_new(&g));
    WT_OK(weft_task_group_create_task(g, slow_clean_up, NULL, NULL, NULL));
    WT_OK(weft_task_group_create_task(g, fails_at_once, NULL, NULL, NULL));
    /* The failure cancels the body here (the group's own request). */
    WT_ERR(weft_sleep(10), WEFT_ECANCELLED);
    WT_ERR(weft_task_group_wait(g), WEFT_EIO);
    weft_task_group_free(g);
    ck_assert_uint_eq(weft_task_cancelling(weft_current_task()), 1);
    /* Returning a result now still ends the task cancelled. */
    return 0;
}

static int cancel_while_body_handles_error(void *arg, void **result)
{
    weft_future *p;
    WT_OK(weft_create_task(NULL, group_parent_in_body, NULL, "parent", &p));
    WT_OK(weft_event_wait(&cleaning, WEFT_FOREVER));
    ck_assert(weft_future_cancel(p));
    WT_OK(weft_event_set(&may_finish));
    WT_ERR(weft_await(p, NULL, WEFT_FOREVER), WEFT_ECANCELLED);
    ck_assert(weft_future_cancelled(p));
    weft_future_unref(p);
    return 0;
}

/* The same when the group had cancelled the body itself first. */
START_TEST(group_keeps_an_outside_cancel_after_its_own)
{
    weft_event_init(&cleaning);
    weft_event_init(&may_finish);
    WT_OK(weft_run(cancel_while_body_handles_error, NULL, NULL));
    weft_event_destroy(&cleaning);
    weft_event_destroy(&may_finish);
}
END_TEST

static int group_error_alone(void *arg, void **result)
{
    weft_task_group *g;
    WT_OK(weft_task_group_new(&g));
    WT_OK(weft_task_group_create_task(g, fails_at_once, NULL, NULL, NULL));
    WT_ERR(weft_sleep(10), WEFT_ECANCELLED);
    WT_ERR(weft_task_group_wait(g), WEFT_EIO);
    weft_task_group_free(g);
    /* The group's own request is withdrawn: the task goes on. */
    ck_assert_uint_eq(weft_task_cancelling(weft_current_task()), 0);
    WT_OK(weft_sleep(0));
    return 0;
}

/* test_taskgroup_09-like: a failure without outside cancel leaves the
 * parent free to go on. */
START_TEST(group_error_leaves_the_parent_uncancelled)
{
    WT_OK(weft_run(group_error_alone, NULL, NULL));
}
END_TEST

static int cancels_its_group(void *arg, void **result)
{
    ck_assert(weft_task_group_cancel(arg));
    ck_assert(weft_task_group_cancel(arg)); /* idempotent */
    return 0;
}

static int group_cancelled(void *arg, void **result)
{
    weft_task_group *g;
    WT_OK(weft_task_group_new(&g));
    weft_future *sleeper;
    WT_OK(weft_task_group_create_task(g, sleep_forever, NULL, NULL, &sleeper));
    WT_OK(weft_task_group_create_task(g, cancels_its_group, g, NULL, NULL));
    WT_ERR(weft_sleep(10), WEFT_ECANCELLED); /* the body is cancelled */
    WT_ERR(weft_task_group_create_task(g, return_arg, NULL, NULL, NULL), WEFT_ESTATE);
    WT_OK(weft_task_group_wait(g)); /* without WEFT_ECANCELLED */
    ck_assert(weft_future_cancelled(sleeper));
    ck_assert_uint_eq(weft_task_cancelling(weft_current_task()), 0);
    ck_assert(weft_task_group_cancel(g)); /* after exit: still says so */
    weft_future_unref(sleeper);
    weft_task_group_free(g);
    /* A group that ended normally: nothing to cancel. */
    WT_OK(weft_task_group_new(&g));
    WT_OK(weft_task_group_create_task(g, return_arg, NULL, NULL, NULL));
    WT_OK(weft_task_group_wait(g));
    ck_assert(!weft_task_group_cancel(g));
    weft_task_group_free(g);
    ck_assert(!weft_task_group_cancel(NULL));
    /* Cancelled by the body itself, which goes straight to wait. */
    WT_OK(weft_task_group_new(&g));
    WT_OK(weft_task_group_create_task(g, sleep_forever, NULL, NULL, NULL));
    ck_assert(weft_task_group_cancel(g));
    WT_OK(weft_task_group_wait(g));
    weft_task_group_free(g);
    WT_OK(weft_sleep(0));
    return 0;
}

/* TaskGroup.cancel() (Python 3.15). */
START_TEST(task_group_cancel)
{
    WT_OK(weft_run(group_cancelled, NULL, NULL));
}
END_TEST

static int group_cancel_then_timeout(void *arg, void **result)
{
    weft_timeout cm;
    WT_OK(weft_timeout_enter(&cm, 0.02));
    weft_task_group *g;
    WT_OK(weft_task_group_new(&g));
    WT_OK(weft_task_group_create_task(g, slow_clean_up, NULL, NULL, NULL));
    WT_OK(weft_sleep(0));
    ck_assert(weft_task_group_cancel(g));
    /* The child cleans up until the scope's deadline has cancelled us
     * in the group's wait. */
    int rc = weft_task_group_wait(g);
    weft_task_group_free(g);
    WT_ERR(weft_timeout_exit(&cm, rc), WEFT_ETIMEDOUT);
    return 0;
}

static int sets_after(void *arg, void **result)
{
    WT_OK(weft_event_wait(&cleaning, WEFT_FOREVER));
    WT_OK(weft_sleep(0.1)); /* past the scope's deadline */
    return weft_event_set(&may_finish);
}

static int group_cancel_timeout_main(void *arg, void **result)
{
    weft_future *helper;
    WT_OK(weft_create_task(NULL, sets_after, NULL, NULL, &helper));
    int rc = group_cancel_then_timeout(arg, result);
    WT_OK(weft_await(helper, NULL, WEFT_FOREVER));
    weft_future_unref(helper);
    return rc;
}

/* CPython gh-155433: after tg.cancel(), a timeout from outside the group
 * is still a timeout. */
START_TEST(task_group_cancel_keeps_an_outer_timeout)
{
    weft_event_init(&cleaning);
    weft_event_init(&may_finish);
    WT_OK(weft_run(group_cancel_timeout_main, NULL, NULL));
    weft_event_destroy(&cleaning);
    weft_event_destroy(&may_finish);
}
END_TEST

static int child_cancelled_alone(void *arg, void **result)
{
    weft_task_group *g;
    WT_OK(weft_task_group_new(&g));
    weft_future *t1, *t2;
    WT_OK(weft_task_group_create_task(g, sleep_forever, NULL, NULL, &t1));
    WT_OK(weft_sleep(0));
    ck_assert(weft_future_cancel(t1)); /* one child, explicitly */
    WT_OK(weft_task_group_create_task(g, return_arg, (void *)11, "yolo", &t2));
    ck_assert_str_eq(weft_task_name(t2), "yolo");
    WT_OK(weft_task_group_wait(g)); /* everything else goes on */
    ck_assert(weft_future_cancelled(t1));
    void *r = NULL;
    WT_OK(weft_future_result(t2, &r, 0));
    ck_assert_ptr_eq(r, (void *)11);
    size_t n = 9;
    WT_OK(weft_task_group_errors(g, NULL, 0, &n));
    ck_assert_uint_eq(n, 0);
    weft_future_unref(t1);
    weft_future_unref(t2);
    weft_task_group_free(g);
    ck_assert_uint_eq(weft_task_cancelling(weft_current_task()), 0);
    return 0;
}

/* test_taskgroup_03, test_taskgroup_task_name. */
START_TEST(group_child_cancelled_alone_is_no_failure)
{
    WT_OK(weft_run(child_cancelled_alone, NULL, NULL));
}
END_TEST

typedef struct hydra {
    weft_task_group *g;
    int *born;
} hydra;

static int hydra_fn(void *arg, void **result)
{
    hydra *h = arg;
    (*h->born)++;
    int rc = weft_sleep(0.001);
    if (rc)
        return rc; /* cancelled: the group is shutting down */
    /* Heads grow from inside the group while its task waits. A head whose
     * sleep ended just as the group began shutting down finds it closed
     * (its cancellation waits for its next wait) and stops there. */
    for (int i = 0; i < 2 && *h->born < 10; i++) {
        rc = weft_task_group_create_task(h->g, hydra_fn, h, NULL, NULL);
        if (rc)
            return rc == WEFT_ESTATE ? 0 : rc;
    }
    return 0;
}

static int hercules(void *arg, void **result)
{
    hydra *h = arg;
    while (*h->born < 10)
        WT_OK(weft_sleep(0.001));
    weft_task_set_message("cut");
    return WEFT_EPERM;
}

static int grows_then_fails(void *arg, void **result)
{
    int born = 0;
    weft_task_group *g;
    WT_OK(weft_task_group_new(&g));
    hydra h = {g, &born};
    WT_OK(weft_task_group_create_task(g, hydra_fn, &h, NULL, NULL));
    WT_OK(weft_task_group_create_task(g, hercules, &h, NULL, NULL));
    WT_ERR(weft_task_group_wait(g), WEFT_EPERM);
    ck_assert_int_ge(born, 10);
    weft_future *e[4];
    size_t n;
    WT_OK(weft_task_group_errors(g, e, 4, &n));
    ck_assert_uint_eq(n, 1);
    ck_assert_str_eq(weft_future_message(e[0]), "cut");
    /* Finished: no new child. */
    WT_ERR(weft_task_group_create_task(g, return_arg, NULL, NULL, NULL), WEFT_ESTATE);
    WT_ERR(weft_task_group_wait(g), WEFT_EPERM); /* the same answer again */
    weft_task_group_free(g);
    return 0;
}

/* test_taskgroup_24, test_taskgroup_25: children add children. */
START_TEST(group_children_add_children)
{
    WT_OK(weft_run(grows_then_fails, NULL, NULL));
}
END_TEST

static int cleans_up_children(void *arg, void **result)
{
    int *n = arg;
    int rc = weft_sleep(5);
    if (rc == WEFT_ECANCELLED)
        (*n)++;
    return rc;
}

static int runner(void *arg, void **result)
{
    weft_task_group *g;
    WT_OK(weft_task_group_new(&g));
    for (int i = 0; i < 5; i++)
        WT_OK(weft_task_group_create_task(g, cleans_up_children, arg, NULL, NULL));
    int rc = weft_task_group_wait(g);
    weft_task_group_free(g);
    return rc;
}

static int group_runner_cancelled(void *arg, void **result)
{
    int n = 0;
    weft_future *r;
    WT_OK(weft_create_task(NULL, runner, &n, NULL, &r));
    WT_OK(weft_sleep(0.01));
    ck_assert(!weft_future_done(r));
    ck_assert(weft_task_cancel_msg(r, "test"));
    WT_ERR(weft_await(r, NULL, WEFT_FOREVER), WEFT_ECANCELLED);
    ck_assert_str_eq(weft_future_message(r), "test");
    ck_assert_int_eq(n, 5);
    weft_future_unref(r);
    return 0;
}

/* test_cancellation: a task cancelled in the group's wait cancels the
 * children, and ends cancelled with its message. */
START_TEST(group_task_cancelled_while_waiting)
{
    WT_OK(weft_run(group_runner_cancelled, NULL, NULL));
}
END_TEST

static int body_fails_cancel_and_wait(void *arg, void **result)
{
    int n = 0;
    weft_task_group *g;
    WT_OK(weft_task_group_new(&g));
    for (int i = 0; i < 3; i++)
        WT_OK(weft_task_group_create_task(g, cleans_up_children, &n, NULL, NULL));
    WT_OK(weft_sleep(0));
    int body_rc = WEFT_EIO; /* the body fails: asyncio's __aexit__ with an error */
    ck_assert(weft_task_group_cancel(g));
    WT_OK(weft_task_group_wait(g));
    ck_assert_int_eq(n, 3); /* every child cleaned up before we go on */
    weft_task_group_free(g);
    return body_rc;
}

/* test_taskgroup_09/10: a body that fails cancels the children and awaits
 * them (weft_task_group_cancel, then wait). */
START_TEST(group_body_failure_cancels_and_awaits_children)
{
    WT_ERR(weft_run(body_fails_cancel_and_wait, NULL, NULL), WEFT_EIO);
}
END_TEST

static int fails_on_cancel(void *arg, void **result)
{
    int rc = weft_sleep(INFINITY);
    ck_assert_int_eq(rc, WEFT_ECANCELLED);
    WT_OK(weft_sleep(0.001)); /* its parent ends meanwhile */
    weft_task_set_message("late failure");
    return WEFT_EIO;
}

static int frees_group_and_returns(void *arg, void **result)
{
    weft_task_group *g;
    WT_OK(weft_task_group_new(&g));
    WT_OK(weft_task_group_create_task(g, fails_on_cancel, NULL, NULL, NULL));
    WT_OK(weft_sleep(0));
    weft_task_group_free(g); /* no wait: the child is cancelled, not awaited */
    return 0;
}

static int orphan_failure(void *arg, void **result)
{
    weft_loop_set_exception_handler(weft_get_running_loop(), count_handler, NULL);
    weft_future *p;
    WT_OK(weft_create_task(NULL, frees_group_and_returns, NULL, NULL, &p));
    WT_OK(weft_await(p, NULL, WEFT_FOREVER));
    WT_OK(weft_sleep(0.02)); /* the child fails after its parent ended */
    weft_future_unref(p);
    ck_assert_int_eq(handler_calls, 1);
    ck_assert_int_eq(handler_code, WEFT_EIO);
    ck_assert_str_eq(handler_detail, "late failure");
    return 0;
}

/* asyncio's TaskGroup reports a child that errs after its parent task
 * completed, rather than lose the error. */
START_TEST(group_child_failing_after_its_parent_is_reported)
{
    WT_OK(weft_run(orphan_failure, NULL, NULL));
}
END_TEST

/* ------------------------------------------------------------- shield */

static int shield_cases(void *arg, void **result)
{
    /* The inner cancelled: the outer is cancelled. */
    weft_future *inner, *outer;
    WT_OK(weft_create_task(NULL, sleep_forever, NULL, NULL, &inner));
    WT_OK(weft_shield(inner, &outer));
    WT_OK(weft_sleep(0));
    ck_assert(weft_future_cancel(inner));
    WT_ERR(weft_await(outer, NULL, WEFT_FOREVER), WEFT_ECANCELLED);
    ck_assert(weft_future_cancelled(outer));
    weft_future_unref(outer);
    weft_future_unref(inner);
    /* A task awaiting a shield is cancelled: the inner goes on. */
    WT_OK(weft_create_task(NULL, returns_42_when_cancelled, NULL, NULL, &inner));
    WT_OK(weft_shield(inner, &outer));
    weft_future *waiter;
    WT_OK(weft_create_task(NULL, awaits_gather, outer, NULL, &waiter));
    WT_OK(weft_sleep(0));
    ck_assert(weft_future_cancel(waiter));
    WT_ERR(weft_await(waiter, NULL, WEFT_FOREVER), WEFT_ECANCELLED);
    ck_assert(weft_future_cancelled(outer));
    ck_assert(!weft_future_done(inner));
    ck_assert(weft_future_cancel(inner));
    void *r = NULL;
    WT_OK(weft_await(inner, &r, WEFT_FOREVER));
    ck_assert_ptr_eq(r, (void *)42);
    weft_future_unref(waiter);
    weft_future_unref(outer);
    weft_future_unref(inner);
    /* gather(shield(a), shield(b)) cancelled: a and b go on. */
    weft_future *a, *b, *sa, *sb, *g;
    WT_OK(weft_create_task(NULL, returns_42_when_cancelled, NULL, NULL, &a));
    WT_OK(weft_create_task(NULL, returns_42_when_cancelled, NULL, NULL, &b));
    WT_OK(weft_shield(a, &sa));
    WT_OK(weft_shield(b, &sb));
    weft_future *fs[2] = {sa, sb};
    WT_OK(weft_gather(fs, 2, false, &g));
    WT_OK(weft_sleep(0));
    ck_assert(weft_future_cancel(g));
    WT_ERR(weft_await(g, NULL, WEFT_FOREVER), WEFT_ECANCELLED);
    ck_assert(!weft_future_done(a));
    ck_assert(!weft_future_done(b));
    weft_future_cancel(a);
    weft_future_cancel(b);
    WT_OK(weft_await(a, NULL, WEFT_FOREVER));
    WT_OK(weft_await(b, NULL, WEFT_FOREVER));
    weft_future_unref(g);
    weft_future_unref(sa);
    weft_future_unref(sb);
    weft_future_unref(a);
    weft_future_unref(b);
    return 0;
}

/* test_shield_cancel_inner, test_shield_effect, test_gather_shield. */
START_TEST(shield_cases_from_asyncio)
{
    WT_OK(weft_run(shield_cases, NULL, NULL));
}
END_TEST

/* ------------------------------------------------- weft_run clean-up */

static weft_future *leftover;

static int fails_when_cancelled(void *arg, void **result)
{
    int rc = weft_sleep(INFINITY);
    ck_assert_int_eq(rc, WEFT_ECANCELLED);
    weft_task_set_message("clean-up failed");
    return WEFT_EIO;
}

static int leaves_a_task(void *arg, void **result)
{
    weft_loop_set_exception_handler(weft_get_running_loop(), count_handler, NULL);
    WT_OK(weft_create_task(NULL, fails_when_cancelled, NULL, NULL, &leftover));
    WT_OK(weft_create_task(NULL, sleep_forever, NULL, NULL, NULL)); /* ends cancelled */
    WT_OK(weft_sleep(0));
    return 0;
}

/* asyncio.run's clean-up reports a leftover task that ends with an error
 * (not a cancellation) through the loop's exception handler, once. */
START_TEST(run_reports_errors_of_leftover_tasks)
{
    weft_set_report_handler(count_reports, NULL);
    WT_OK(weft_run(leaves_a_task, NULL, NULL));
    ck_assert_int_eq(handler_calls, 1);
    ck_assert_int_eq(handler_code, WEFT_EIO);
    ck_assert_str_eq(handler_detail, "clean-up failed");
    ck_assert_ptr_nonnull(strstr(handler_message, "shutdown"));
    WT_ERR(weft_future_exception(leftover, 0), WEFT_EIO);
    weft_future_unref(leftover);
    /* Reported once: not again as "never retrieved". */
    ck_assert_int_eq(reports, 0);
    ck_assert_int_eq(handler_calls, 1);
    weft_set_report_handler(NULL, NULL);
}
END_TEST

/* So does a loop's close, after its report of the task left pending. */
START_TEST(loop_close_reports_errors_of_the_tasks_it_cancels)
{
    weft_loop *loop;
    WT_OK(weft_loop_new(&loop, NULL));
    weft_loop_set_exception_handler(loop, count_handler, NULL);
    weft_future *t, *h;
    WT_OK(weft_create_task(loop, fails_when_cancelled, NULL, NULL, &t));
    WT_OK(weft_create_task(loop, return_arg, NULL, NULL, &h));
    WT_OK(weft_loop_run_until_complete(loop, h, NULL)); /* t starts and sleeps */
    ck_assert_int_eq(handler_calls, 0);
    WT_OK(weft_loop_close(loop));
    ck_assert_int_eq(handler_calls, 2); /* pending, then its error */
    ck_assert_int_eq(handler_code, WEFT_EIO);
    ck_assert_str_eq(handler_detail, "clean-up failed");
    WT_ERR(weft_future_exception(t, 0), WEFT_EIO);
    weft_future_unref(t);
    weft_future_unref(h);
    weft_loop_free(loop);
    ck_assert_int_eq(handler_calls, 2);
}
END_TEST

WT_MAIN("task_semantics", 60, task_awaiting_itself_fails_at_once, wait_for_on_itself_returns,
        callback_awaiting_a_task_of_its_loop_fails,
        set_result_on_a_task_is_refused, self_cancel_then_return_ends_cancelled,
        self_cancel_then_error_ends_with_the_error, uncancel_withdraws_the_pending_request,
        self_cancel_reaches_the_next_wait, cancel_message_is_read_from_the_task,
        cancel_message_passes_to_the_awaited_task, cancel_message_from_another_thread,
        cancel_passes_down_awaits_not_waits, wait_for_zero_timeout, wait_for_gives_the_outcome_of_the_clean_up,
        cancelling_wait_for_cancels_the_awaited_task,
        cancel_during_awaited_clean_up_is_kept_for_the_next_wait, gather_cancel_ends_through_the_children,
        wait_for_a_gather, gather_cancel_message_reaches_the_children,
        gather_refuses_an_impossible_count,
        timeout_when_and_timeout_at, timeout_scope_states, timeout_enter_reads_no_storage,
        timeout_zero_expires_at_the_next_yield, nested_scopes_expiring_together,
        foreign_cancel_is_not_a_timeout, timeout_after_a_caught_cancellation,
        timeout_passes_other_errors_through, reschedule_from_another_task, scope_left_open_by_a_finished_task,
        group_keeps_an_outside_cancel_during_error_handling,
        group_keeps_an_outside_cancel_after_its_own, group_error_leaves_the_parent_uncancelled,
        task_group_cancel, task_group_cancel_keeps_an_outer_timeout,
        group_child_cancelled_alone_is_no_failure, group_children_add_children,
        group_task_cancelled_while_waiting, group_body_failure_cancels_and_awaits_children,
        group_child_failing_after_its_parent_is_reported, shield_cases_from_asyncio,
        run_reports_errors_of_leftover_tasks, loop_close_reports_errors_of_the_tasks_it_cancels)
