/*
 * The executor interface: submit, map (order, chunks, first error, timeout,
 * cancellation of the rest), shutdown and free, through the thread pool.
 * Interleavings are forced with events; no test sleeps to wait for a state.
 */
#include <string.h>

#include "wt.h"

static weft_executor *pool_of(unsigned max_workers)
{
    weft_executor *ex = NULL;
    weft_thread_pool_opts o = {.max_workers = max_workers};
    WT_OK(weft_thread_pool_new(&ex, &o));
    return ex;
}

static int add_one(void *arg, void **result)
{
    *result = (void *)((uintptr_t)arg + 1);
    return 0;
}

static int fail_with_message(void *arg, void **result)
{
    (void)result;
    weft_task_set_message("item %d went wrong", (int)(uintptr_t)arg);
    return WEFT_EOVERFLOW;
}

START_TEST(submit_result)
{
    weft_executor *ex = pool_of(2);
    weft_future *f;
    WT_OK(weft_executor_submit(ex, add_one, (void *)41, &f));
    void *r = NULL;
    WT_OK(weft_future_result(f, &r, WEFT_FOREVER));
    ck_assert_ptr_eq(r, (void *)42);
    ck_assert(weft_future_done(f));
    weft_future_unref(f);
    weft_executor_free(ex);
}
END_TEST

START_TEST(submit_error_and_message)
{
    weft_executor *ex = pool_of(1);
    weft_future *f;
    WT_OK(weft_executor_submit(ex, fail_with_message, (void *)7, &f));
    WT_ERR(weft_future_result(f, NULL, WEFT_FOREVER), WEFT_EOVERFLOW);
    WT_ERR(weft_future_exception(f, 0), WEFT_EOVERFLOW);
    ck_assert_str_eq(weft_future_message(f), "item 7 went wrong");
    weft_future_unref(f);
    weft_executor_free(ex);
}
END_TEST

START_TEST(many_tasks)
{
    enum { N = 20000 };
    weft_executor *ex = pool_of(3);
    static weft_future *fs[N];
    for (uintptr_t i = 0; i < N; i++)
        WT_OK(weft_executor_submit(ex, add_one, (void *)i, &fs[i]));
    for (uintptr_t i = 0; i < N; i++) {
        void *r;
        WT_OK(weft_future_result(fs[i], &r, WEFT_FOREVER));
        ck_assert_ptr_eq(r, (void *)(i + 1));
        weft_future_unref(fs[i]);
    }
    weft_executor_free(ex);
}
END_TEST

START_TEST(bad_arguments)
{
    weft_executor *ex = pool_of(1);
    weft_future *f = NULL;
    void *args[1] = {0}, *res[1];
    WT_ERR(weft_executor_submit(NULL, add_one, NULL, &f), WEFT_EINVAL);
    WT_ERR(weft_executor_submit(ex, NULL, NULL, &f), WEFT_EINVAL);
    WT_ERR(weft_executor_submit(ex, add_one, NULL, NULL), WEFT_EINVAL);
    WT_ERR(weft_executor_map(NULL, add_one, args, res, 1, 1, WEFT_FOREVER), WEFT_EINVAL);
    WT_ERR(weft_executor_map(ex, NULL, args, res, 1, 1, WEFT_FOREVER), WEFT_EINVAL);
    WT_ERR(weft_executor_map(ex, add_one, NULL, res, 1, 1, WEFT_FOREVER), WEFT_EINVAL);
    WT_ERR(weft_executor_map(ex, add_one, args, NULL, 1, 1, WEFT_FOREVER), WEFT_EINVAL);
    WT_ERR(weft_executor_map(ex, add_one, args, res, 1, 1, -2.0), WEFT_EINVAL);
    WT_ERR(weft_executor_shutdown(NULL, false, WEFT_FOREVER), WEFT_EINVAL);
    weft_thread_pool_opts bad = {.max_workers = 100000};
    weft_executor *ex2 = NULL;
    WT_ERR(weft_thread_pool_new(&ex2, &bad), WEFT_EINVAL);
    WT_ERR(weft_thread_pool_new(NULL, NULL), WEFT_EINVAL);
    ck_assert_uint_eq(weft_thread_pool_workers_len(NULL), 0);
    weft_executor_free(NULL);
    weft_executor_free(ex);
}
END_TEST

START_TEST(map_empty)
{
    weft_executor *ex = pool_of(1);
    WT_OK(weft_executor_map(ex, add_one, NULL, NULL, 0, 0, WEFT_FOREVER));
    ck_assert_uint_eq(weft_thread_pool_workers_len(ex), 0);
    weft_executor_free(ex);
}
END_TEST

/* ---------------------------------------------------- map out of order */

enum { OOO = 6 };
static weft_event ooo_ev[OOO];
static int ooo_order[OOO];
static int ooo_done;

/* Item i waits for item i+1 to finish: they finish last to first. */
static int reverse_task(void *arg, void **result)
{
    int i = (int)(uintptr_t)arg;
    if (i < OOO - 1)
        weft_event_wait(&ooo_ev[i], WEFT_FOREVER);
    ooo_order[__atomic_fetch_add(&ooo_done, 1, __ATOMIC_SEQ_CST)] = i;
    *result = (void *)(uintptr_t)(100 + i);
    if (i > 0)
        weft_event_set(&ooo_ev[i - 1]);
    return 0;
}

START_TEST(map_order_out_of_order)
{
    weft_executor *ex = pool_of(OOO);
    void *args[OOO], *res[OOO];
    for (int i = 0; i < OOO; i++) {
        weft_event_init(&ooo_ev[i]);
        args[i] = (void *)(uintptr_t)i;
    }
    WT_OK(weft_executor_map(ex, reverse_task, args, res, OOO, 1, WEFT_FOREVER));
    for (int i = 0; i < OOO; i++) {
        ck_assert_ptr_eq(res[i], (void *)(uintptr_t)(100 + i));
        ck_assert_int_eq(ooo_order[i], OOO - 1 - i);
    }
    ck_assert_ptr_null(weft_last_message());
    weft_executor_free(ex);
}
END_TEST

/* ------------------------------------------------------------ chunks */

static uint64_t chunk_thread[10];

static int record_thread(void *arg, void **result)
{
    uintptr_t i = (uintptr_t)arg;
    chunk_thread[i] = weft_get_ident();
    *result = (void *)(i * i);
    return 0;
}

START_TEST(map_chunksize)
{
    weft_executor *ex = pool_of(4);
    void *args[10], *res[10];
    for (uintptr_t i = 0; i < 10; i++)
        args[i] = (void *)i;
    WT_OK(weft_executor_map(ex, record_thread, args, res, 10, 3, WEFT_FOREVER));
    for (uintptr_t i = 0; i < 10; i++) {
        ck_assert_ptr_eq(res[i], (void *)(i * i));
        /* Items of one chunk run in one task, so on one thread. */
        if (i % 3)
            ck_assert_uint_eq(chunk_thread[i], chunk_thread[i - 1]);
    }
    /* ceil(10 / 3) = 4 tasks at most, so at most 4 workers were needed. */
    ck_assert_uint_le(weft_thread_pool_workers_len(ex), 4);
    /* chunksize larger than n: one task. */
    WT_OK(weft_executor_map(ex, record_thread, args, res, 10, 100, WEFT_FOREVER));
    for (uintptr_t i = 1; i < 10; i++)
        ck_assert_uint_eq(chunk_thread[i], chunk_thread[0]);
    weft_executor_free(ex);
}
END_TEST

/* ------------------------------------------------------- first error */

static weft_event late_ev;

/* Items 3 and 7 fail; 7 fails first in time (3 waits for it). */
static int two_failures(void *arg, void **result)
{
    int i = (int)(uintptr_t)arg;
    if (i == 3) {
        weft_event_wait(&late_ev, WEFT_FOREVER);
        weft_task_set_message("item 3 failed");
        return WEFT_EOVERFLOW;
    }
    if (i == 7) {
        weft_task_set_message("item 7 failed");
        weft_event_set(&late_ev);
        return WEFT_EAGAIN;
    }
    *result = (void *)(uintptr_t)(i + 1);
    return 0;
}

START_TEST(map_first_error_in_order)
{
    weft_executor *ex = pool_of(2);
    void *args[10], *res[10] = {0};
    weft_event_init(&late_ev);
    for (uintptr_t i = 0; i < 10; i++)
        args[i] = (void *)i;
    WT_ERR(weft_executor_map(ex, two_failures, args, res, 10, 1, WEFT_FOREVER), WEFT_EOVERFLOW);
    ck_assert_ptr_nonnull(weft_last_message());
    ck_assert_str_eq(weft_last_message(), "item 3 failed");
    for (uintptr_t i = 0; i < 3; i++)
        ck_assert_ptr_eq(res[i], (void *)(i + 1));
    /* A later successful map clears the message. */
    WT_OK(weft_executor_map(ex, add_one, args, res, 3, 1, WEFT_FOREVER));
    ck_assert_ptr_null(weft_last_message());
    weft_executor_free(ex);
}
END_TEST

START_TEST(map_first_error_in_chunk)
{
    weft_executor *ex = pool_of(2);
    void *args[10], *res[10] = {0};
    weft_event_init(&late_ev);
    for (uintptr_t i = 0; i < 10; i++)
        args[i] = (void *)i;
    /* Chunks {0..4} {5..9}: the first chunk stops at item 3 (which waits
     * for item 7 in the other chunk), its items before 3 are results. */
    WT_ERR(weft_executor_map(ex, two_failures, args, res, 10, 5, WEFT_FOREVER), WEFT_EOVERFLOW);
    ck_assert_str_eq(weft_last_message(), "item 3 failed");
    for (uintptr_t i = 0; i < 3; i++)
        ck_assert_ptr_eq(res[i], (void *)(i + 1));
    weft_executor_free(ex);
}
END_TEST

/* ---------------------------------------- cancel the rest after failure */

static weft_event hold_ev;
static int ran;

static int fail_first_hold_second(void *arg, void **result)
{
    int i = (int)(uintptr_t)arg;
    __atomic_fetch_add(&ran, 1, __ATOMIC_SEQ_CST);
    (void)result;
    if (i == 0)
        return WEFT_EINVAL;
    weft_event_wait(&hold_ev, WEFT_FOREVER);
    return 0;
}

START_TEST(map_error_cancels_rest)
{
    /* One worker: item 0 fails. Whichever later item the worker starts
     * before map cancels the rest (item 1, or a later one if map cancelled
     * item 1 first) holds the worker until map has returned, so every other
     * item is still queued when map cancels it and never runs: at most two
     * items run, whatever the interleaving. */
    weft_executor *ex = pool_of(1);
    void *args[5], *res[5];
    weft_event_init(&hold_ev);
    for (uintptr_t i = 0; i < 5; i++)
        args[i] = (void *)i;
    WT_ERR(weft_executor_map(ex, fail_first_hold_second, args, res, 5, 1, WEFT_FOREVER),
           WEFT_EINVAL);
    ck_assert_ptr_null(weft_last_message());
    weft_event_set(&hold_ev);
    weft_executor_free(ex);
    ck_assert_int_le(__atomic_load_n(&ran, __ATOMIC_SEQ_CST), 2);
}
END_TEST

static int hold_all(void *arg, void **result)
{
    (void)arg;
    (void)result;
    __atomic_fetch_add(&ran, 1, __ATOMIC_SEQ_CST);
    weft_event_wait(&hold_ev, WEFT_FOREVER);
    return 0;
}

START_TEST(map_timeout)
{
    /* One worker held by item 0: map times out, the rest is cancelled, and
     * item 0 (still running when map returns) outlives the map's memory
     * safely (ASan checks). */
    weft_executor *ex = pool_of(1);
    void *args[5] = {0}, *res[5];
    weft_event_init(&hold_ev);
    WT_ERR(weft_executor_map(ex, hold_all, args, res, 5, 1, 0.05), WEFT_ETIMEDOUT);
    weft_event_set(&hold_ev);
    weft_executor_free(ex);
    ck_assert_int_eq(__atomic_load_n(&ran, __ATOMIC_SEQ_CST), 1);
}
END_TEST

static int quick_but_hold_two(void *arg, void **result)
{
    if ((uintptr_t)arg == 2)
        weft_event_wait(&hold_ev, WEFT_FOREVER);
    *result = (void *)((uintptr_t)arg + 1);
    return 0;
}

START_TEST(map_timeout_keeps_earlier_results)
{
    /* Python's map(timeout) yields the results that came in time before
     * it raises TimeoutError: items 0 and 1 are done, item 2 is held past
     * the map's time. */
    weft_executor *ex = pool_of(1);
    void *args[4] = {(void *)0, (void *)1, (void *)2, (void *)3};
    void *res[4] = {0};
    weft_event_init(&hold_ev);
    WT_ERR(weft_executor_map(ex, quick_but_hold_two, args, res, 4, 1, 1.0), WEFT_ETIMEDOUT);
    ck_assert_ptr_eq(res[0], (void *)1);
    ck_assert_ptr_eq(res[1], (void *)2);
    weft_event_set(&hold_ev);
    weft_executor_free(ex);
}
END_TEST

static weft_event busy_ev;

static int hold_busy(void *arg, void **result)
{
    (void)arg;
    (void)result;
    weft_event_wait(&busy_ev, WEFT_FOREVER);
    return 0;
}

START_TEST(map_timeout_on_busy_pool_runs_nothing)
{
    /* Python's test_executor_map_current_future_cancel: the only worker is
     * busy, a map with timeout 0 times out, and none of its items ever
     * runs (each is cancelled while still queued). */
    weft_executor *ex = pool_of(1);
    weft_event_init(&busy_ev);
    weft_event_init(&hold_ev);
    weft_future *busy;
    WT_OK(weft_executor_submit(ex, hold_busy, NULL, &busy));
    while (!weft_future_running(busy))
        sched_yield();
    void *args[2] = {0}, *res[2];
    WT_ERR(weft_executor_map(ex, hold_all, args, res, 2, 1, 0), WEFT_ETIMEDOUT);
    weft_event_set(&busy_ev);
    weft_event_set(&hold_ev);
    WT_OK(weft_future_result(busy, NULL, WEFT_FOREVER));
    weft_future_unref(busy);
    weft_executor_free(ex);
    ck_assert_int_eq(__atomic_load_n(&ran, __ATOMIC_SEQ_CST), 0);
}
END_TEST

START_TEST(map_after_shutdown)
{
    weft_executor *ex = pool_of(1);
    void *args[3] = {0}, *res[3];
    WT_OK(weft_executor_shutdown(ex, false, WEFT_FOREVER));
    WT_ERR(weft_executor_map(ex, add_one, args, res, 3, 1, WEFT_FOREVER), WEFT_ESHUTDOWN);
    weft_executor_free(ex);
}
END_TEST

START_TEST(map_large)
{
    enum { N = 100000 };
    weft_executor *ex = pool_of(4);
    void **args = malloc(N * sizeof *args), **res = malloc(N * sizeof *res);
    for (uintptr_t i = 0; i < N; i++)
        args[i] = (void *)i;
    WT_OK(weft_executor_map(ex, add_one, args, res, N, 0, WEFT_FOREVER));
    for (uintptr_t i = 0; i < N; i++)
        ck_assert_ptr_eq(res[i], (void *)(i + 1));
    WT_OK(weft_executor_map(ex, add_one, args, res, N, 64, WEFT_FOREVER));
    for (uintptr_t i = 0; i < N; i++)
        ck_assert_ptr_eq(res[i], (void *)(i + 1));
    free(args);
    free(res);
    weft_executor_free(ex);
}
END_TEST

WT_MAIN("executor", 30, submit_result, submit_error_and_message, many_tasks, bad_arguments,
        map_empty, map_order_out_of_order, map_chunksize, map_first_error_in_order,
        map_first_error_in_chunk, map_error_cancels_rest, map_timeout,
        map_timeout_keeps_earlier_results, map_timeout_on_busy_pool_runs_nothing,
        map_after_shutdown, map_large)
