/* weft_timer: fires once after its interval, cancel prevents it, free
 * cancels and joins. */
#include <sched.h>

#include "wt.h"

struct shot {
    int calls;
    weft_thread *ran_on;
    weft_lock *gate; /* if set: held by the test while the function runs */
};

static void fire(void *arg)
{
    struct shot *s = arg;
    s->calls++;
    s->ran_on = weft_current_thread();
    if (s->gate) {
        weft_lock_acquire(s->gate, WEFT_FOREVER);
        weft_lock_release(s->gate);
    }
}

START_TEST(timer_fires_once)
{
    struct shot s = {0};
    weft_timer *t;
    WT_OK(weft_timer_new(&t, 0.05, fire, &s, NULL));
    ck_assert(!weft_timer_fired(t));
    double t0 = weft_monotonic();
    WT_OK(weft_timer_start(t));
    WT_OK(weft_timer_join(t, WEFT_FOREVER));
    ck_assert(weft_monotonic() - t0 >= 0.05);
    ck_assert(weft_timer_fired(t));
    ck_assert_int_eq(s.calls, 1);
    ck_assert_ptr_eq(s.ran_on, weft_timer_thread(t));
    ck_assert(!weft_timer_cancel(t)); /* too late: it fired */
    ck_assert(weft_timer_fired(t));
    weft_timer_free(t);
    ck_assert_int_eq(s.calls, 1);
}
END_TEST

START_TEST(timer_zero_interval)
{
    struct shot s = {0};
    weft_timer *t;
    WT_OK(weft_timer_new(&t, 0, fire, &s, NULL));
    WT_OK(weft_timer_start(t));
    WT_OK(weft_timer_join(t, WEFT_FOREVER));
    ck_assert_int_eq(s.calls, 1);
    weft_timer_free(t);
}
END_TEST

START_TEST(timer_cancel_prevents_firing)
{
    struct shot s = {0};
    weft_timer *t;
    WT_OK(weft_timer_new(&t, 1000, fire, &s, NULL));
    WT_OK(weft_timer_start(t));
    /* It waits on its cancel event, shown with the timer as the object. */
    wt_wait_for_state(weft_timer_thread(t), WEFT_THREAD_WAITING, WEFT_WAIT_EVENT, t);
    ck_assert(weft_timer_cancel(t));
    ck_assert(weft_timer_cancel(t)); /* still cancelled */
    WT_OK(weft_timer_join(t, WEFT_FOREVER));
    ck_assert(!weft_timer_fired(t));
    ck_assert_int_eq(s.calls, 0);
    weft_timer_free(t);
}
END_TEST

START_TEST(timer_cancel_before_start)
{
    struct shot s = {0};
    weft_timer *t;
    WT_OK(weft_timer_new(&t, 0, fire, &s, NULL));
    ck_assert(weft_timer_cancel(t));
    WT_OK(weft_timer_start(t));
    WT_OK(weft_timer_join(t, WEFT_FOREVER));
    ck_assert(!weft_timer_fired(t));
    ck_assert_int_eq(s.calls, 0);
    weft_timer_free(t);
}
END_TEST

/* fired turns true only once the function has returned. */
START_TEST(timer_fired_after_return)
{
    weft_lock gate = WEFT_LOCK_INIT;
    struct shot s = {.gate = &gate};
    weft_timer *t;
    WT_OK(weft_lock_acquire(&gate, WEFT_FOREVER));
    WT_OK(weft_timer_new(&t, 0, fire, &s, NULL));
    WT_OK(weft_timer_start(t));
    wt_wait_for_state(weft_timer_thread(t), WEFT_THREAD_WAITING, WEFT_WAIT_LOCK, &gate);
    ck_assert(!weft_timer_fired(t));
    ck_assert(!weft_timer_cancel(t)); /* too late: it is running */
    WT_ERR(weft_timer_join(t, 0), WEFT_ETIMEDOUT);
    WT_OK(weft_lock_release(&gate));
    WT_OK(weft_timer_join(t, WEFT_FOREVER));
    ck_assert(weft_timer_fired(t));
    ck_assert_int_eq(s.calls, 1);
    weft_timer_free(t);
}
END_TEST

START_TEST(timer_free)
{
    struct shot s = {0};
    weft_timer *t;
    /* Never started. */
    WT_OK(weft_timer_new(&t, 1, fire, &s, NULL));
    weft_timer_free(t);
    /* Waiting: free cancels and joins, promptly. */
    WT_OK(weft_timer_new(&t, 1000, fire, &s, NULL));
    WT_OK(weft_timer_start(t));
    weft_timer_free(t);
    ck_assert_int_eq(s.calls, 0);
    weft_timer_free(NULL);
}
END_TEST

START_TEST(timer_options_and_errors)
{
    struct shot s = {0};
    weft_timer *t;
    WT_ERR(weft_timer_new(NULL, 1, fire, &s, NULL), WEFT_EINVAL);
    WT_ERR(weft_timer_new(&t, 1, NULL, &s, NULL), WEFT_EINVAL);
    WT_ERR(weft_timer_new(&t, 0.0 / 0.0, fire, &s, NULL), WEFT_EINVAL);
    weft_thread_opts bad = {.stack_size = 100};
    WT_ERR(weft_timer_new(&t, 1, fire, &s, &bad), WEFT_EINVAL);
    WT_ERR(weft_timer_start(NULL), WEFT_EINVAL);
    ck_assert(!weft_timer_cancel(NULL));
    WT_ERR(weft_timer_join(NULL, 1), WEFT_EINVAL);
    ck_assert(!weft_timer_fired(NULL));
    ck_assert_ptr_null(weft_timer_thread(NULL));

    weft_thread_opts o = {.name = "my-timer", .daemon = WEFT_DAEMON_YES};
    WT_OK(weft_timer_new(&t, 0, fire, &s, &o));
    ck_assert_str_eq(weft_thread_name(weft_timer_thread(t)), "my-timer");
    ck_assert(weft_thread_daemon(weft_timer_thread(t)));
    WT_ERR(weft_timer_join(t, 0), WEFT_ESTATE); /* not started */
    WT_OK(weft_timer_start(t));
    WT_ERR(weft_timer_start(t), WEFT_ESTATE);
    WT_ERR(weft_timer_join(t, -5), WEFT_EINVAL);
    WT_OK(weft_timer_join(t, WEFT_FOREVER));
    ck_assert_int_eq(s.calls, 1);
    weft_timer_free(t);
}
END_TEST

/* A one-shot timer that frees itself from its own function: the free
 * returns at once and the timer's thread frees the timer after the
 * function, so nothing is used after it is freed (ASan would say) and
 * nothing leaks (LSan would say). From inside, cancel is false (it is
 * running) and join is EDEADLK. */
struct self_freeing {
    weft_timer *timer;
    bool cancelled;
    int join_rc;
};

static void free_myself(void *arg)
{
    struct self_freeing *sf = arg;
    sf->cancelled = weft_timer_cancel(sf->timer);
    sf->join_rc = weft_timer_join(sf->timer, 1);
    weft_timer_free(sf->timer);
}

START_TEST(timer_free_from_own_function)
{
    struct self_freeing sf = {0};
    WT_OK(weft_timer_new(&sf.timer, 0, free_myself, &sf, NULL));
    weft_thread *th = weft_thread_ref(weft_timer_thread(sf.timer));
    WT_OK(weft_timer_start(sf.timer));
    WT_OK(weft_thread_join(th, WEFT_FOREVER));
    ck_assert(!sf.cancelled);
    WT_ERR(sf.join_rc, WEFT_EDEADLK);
    weft_thread_unref(th);
}
END_TEST

/* As Python's Timer, whose wait of a negative interval returns at once: a
 * negative interval fires at once instead of failing. */
START_TEST(timer_negative_interval_fires_at_once)
{
    double intervals[] = {-1, -1e300, WEFT_FOREVER};
    for (int i = 0; i < 3; i++) {
        struct shot s = {0};
        weft_timer *t;
        WT_OK(weft_timer_new(&t, intervals[i], fire, &s, NULL));
        WT_OK(weft_timer_start(t));
        WT_OK(weft_timer_join(t, WEFT_FOREVER));
        ck_assert(weft_timer_fired(t));
        ck_assert_int_eq(s.calls, 1);
        weft_timer_free(t);
    }
}
END_TEST

WT_MAIN("timer", 30, timer_fires_once, timer_zero_interval, timer_cancel_prevents_firing,
        timer_cancel_before_start, timer_fired_after_return, timer_free,
        timer_options_and_errors, timer_free_from_own_function,
        timer_negative_interval_fires_at_once)
