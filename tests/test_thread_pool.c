/*
 * The thread pool: workers on demand and reused, names, initializer (and a
 * failing one breaking the pool), shutdown with and without cancel_futures,
 * submit after shutdown, the default executor, and a conservation stress
 * test (every one of 1,000,000 tasks runs exactly once).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "wt.h"

static weft_executor *pool_of(unsigned max_workers)
{
    weft_executor *ex = NULL;
    weft_thread_pool_opts o = {.max_workers = max_workers};
    WT_OK(weft_thread_pool_new(&ex, &o));
    return ex;
}

static int nop(void *arg, void **result)
{
    (void)arg;
    (void)result;
    return 0;
}

/* A task that says it started (counts) and then waits on an event. */
static weft_event gate_ev;
static unsigned started;

static int held(void *arg, void **result)
{
    (void)arg;
    *result = weft_current_thread();
    __atomic_fetch_add(&started, 1, __ATOMIC_SEQ_CST);
    weft_event_wait(&gate_ev, WEFT_FOREVER);
    return 0;
}

static int whoami(void *arg, void **result)
{
    (void)arg;
    *result = weft_current_thread();
    return 0;
}

static int echo_arg(void *arg, void **result)
{
    *result = arg;
    return 0;
}

static void wait_started(unsigned n)
{
    while (__atomic_load_n(&started, __ATOMIC_SEQ_CST) < n)
        sched_yield();
}

START_TEST(workers_on_demand_and_reused)
{
    weft_executor *ex = pool_of(4);
    weft_event_init(&gate_ev);
    ck_assert_uint_eq(weft_thread_pool_workers_len(ex), 0);

    weft_future *a, *b;
    WT_OK(weft_executor_submit(ex, held, NULL, &a));
    wait_started(1);
    ck_assert_uint_eq(weft_thread_pool_workers_len(ex), 1);
    /* The only worker is busy: the next task needs a second one. */
    WT_OK(weft_executor_submit(ex, held, NULL, &b));
    wait_started(2);
    ck_assert_uint_eq(weft_thread_pool_workers_len(ex), 2);
    weft_event_set(&gate_ev);
    weft_thread *ta, *tb;
    WT_OK(weft_future_result(a, (void **)&ta, WEFT_FOREVER));
    WT_OK(weft_future_result(b, (void **)&tb, WEFT_FOREVER));
    ck_assert_ptr_ne(ta, tb);
    weft_future_unref(a);
    weft_future_unref(b);

    /* Both idle (parked): one task at a time reuses them. */
    for (int round = 0; round < 5; round++) {
        wt_wait_for_state(ta, WEFT_THREAD_WAITING, WEFT_WAIT_QUEUE, NULL);
        wt_wait_for_state(tb, WEFT_THREAD_WAITING, WEFT_WAIT_QUEUE, NULL);
        weft_future *c;
        weft_thread *tc;
        WT_OK(weft_executor_submit(ex, whoami, NULL, &c));
        WT_OK(weft_future_result(c, (void **)&tc, WEFT_FOREVER));
        ck_assert(tc == ta || tc == tb);
        weft_future_unref(c);
        ck_assert_uint_eq(weft_thread_pool_workers_len(ex), 2);
    }
    weft_executor_free(ex);
}
END_TEST

START_TEST(workers_capped)
{
    enum { N = 7 };
    weft_executor *ex = pool_of(3);
    weft_event_init(&gate_ev);
    weft_future *fs[N];
    for (int i = 0; i < N; i++)
        WT_OK(weft_executor_submit(ex, held, NULL, &fs[i]));
    wait_started(3);
    ck_assert_uint_eq(weft_thread_pool_workers_len(ex), 3);
    /* The rest waits for a worker. */
    ck_assert_uint_eq(__atomic_load_n(&started, __ATOMIC_SEQ_CST), 3);
    ck_assert(!weft_future_running(fs[N - 1]));
    weft_event_set(&gate_ev);
    for (int i = 0; i < N; i++) {
        WT_OK(weft_future_result(fs[i], NULL, WEFT_FOREVER));
        weft_future_unref(fs[i]);
    }
    ck_assert_uint_eq(weft_thread_pool_workers_len(ex), 3);
    weft_executor_free(ex);
}
END_TEST

START_TEST(default_max_workers)
{
    /* min(32, cpus + 4): at least 5. Start enough held tasks to see it. */
    weft_executor *ex = pool_of(0);
    weft_event_init(&gate_ev);
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0)
        cpus = CPU_COUNT(&set);
    unsigned want = cpus + 4 < 32 ? (unsigned)cpus + 4 : 32;
    weft_future *fs[40];
    for (unsigned i = 0; i < want + 2; i++)
        WT_OK(weft_executor_submit(ex, held, NULL, &fs[i]));
    wait_started(want);
    ck_assert_uint_eq(weft_thread_pool_workers_len(ex), want);
    weft_event_set(&gate_ev);
    for (unsigned i = 0; i < want + 2; i++) {
        WT_OK(weft_future_result(fs[i], NULL, WEFT_FOREVER));
        weft_future_unref(fs[i]);
    }
    weft_executor_free(ex);
}
END_TEST

START_TEST(thread_names)
{
    weft_thread_pool_opts o = {.max_workers = 2, .thread_name_prefix = "crunch"};
    weft_executor *ex;
    WT_OK(weft_thread_pool_new(&ex, &o));
    weft_event_init(&gate_ev);
    weft_future *a, *b;
    WT_OK(weft_executor_submit(ex, held, NULL, &a));
    wait_started(1);
    WT_OK(weft_executor_submit(ex, held, NULL, &b));
    wait_started(2);
    weft_thread *ta, *tb;
    weft_event_set(&gate_ev);
    WT_OK(weft_future_result(a, (void **)&ta, WEFT_FOREVER));
    WT_OK(weft_future_result(b, (void **)&tb, WEFT_FOREVER));
    ck_assert_str_eq(weft_thread_name(ta), "crunch_0");
    ck_assert_str_eq(weft_thread_name(tb), "crunch_1");
    ck_assert(weft_thread_daemon(ta));
    weft_future_unref(a);
    weft_future_unref(b);
    weft_executor_free(ex);

    /* Default prefix: Python's "ThreadPoolExecutor-N_i". */
    ex = pool_of(1);
    weft_future *c;
    weft_thread *tc;
    WT_OK(weft_executor_submit(ex, whoami, NULL, &c));
    WT_OK(weft_future_result(c, (void **)&tc, WEFT_FOREVER));
    const char *name = weft_thread_name(tc);
    ck_assert_msg(strncmp(name, "ThreadPoolExecutor-", 19) == 0, "name %s", name);
    ck_assert_msg(strcmp(name + strlen(name) - 2, "_0") == 0, "name %s", name);
    weft_future_unref(c);
    weft_executor_free(ex);
}
END_TEST

START_TEST(thread_name_prefix_empty_or_long)
{
    /* Python's `thread_name_prefix or default`: "" names the workers as no
     * prefix does. A long prefix is kept whole, worker number included. */
    weft_thread_pool_opts o = {.max_workers = 1, .thread_name_prefix = ""};
    weft_executor *ex;
    WT_OK(weft_thread_pool_new(&ex, &o));
    weft_future *f;
    weft_thread *t;
    WT_OK(weft_executor_submit(ex, whoami, NULL, &f));
    WT_OK(weft_future_result(f, (void **)&t, WEFT_FOREVER));
    ck_assert_msg(strncmp(weft_thread_name(t), "ThreadPoolExecutor-", 19) == 0, "name %s",
                  weft_thread_name(t));
    weft_future_unref(f);
    weft_executor_free(ex);

    char prefix[400];
    memset(prefix, 'p', sizeof prefix - 1);
    prefix[sizeof prefix - 1] = 0;
    o.thread_name_prefix = prefix;
    WT_OK(weft_thread_pool_new(&ex, &o));
    WT_OK(weft_executor_submit(ex, whoami, NULL, &f));
    WT_OK(weft_future_result(f, (void **)&t, WEFT_FOREVER));
    const char *name = weft_thread_name(t);
    ck_assert_uint_eq(strlen(name), sizeof prefix - 1 + 2);
    ck_assert_str_eq(name + sizeof prefix - 1, "_0");
    weft_future_unref(f);
    weft_executor_free(ex);
}
END_TEST

/* ------------------------------------------------------ initializer */

static unsigned inits;

static int count_init(void *arg)
{
    ck_assert_ptr_eq(arg, &inits);
    __atomic_fetch_add(&inits, 1, __ATOMIC_SEQ_CST);
    return 0;
}

START_TEST(initializer_once_per_worker)
{
    weft_thread_pool_opts o = {.max_workers = 3, .initializer = count_init, .initarg = &inits};
    weft_executor *ex;
    WT_OK(weft_thread_pool_new(&ex, &o));
    weft_event_init(&gate_ev);
    weft_future *fs[3];
    for (int i = 0; i < 3; i++)
        WT_OK(weft_executor_submit(ex, held, NULL, &fs[i]));
    wait_started(3);
    weft_event_set(&gate_ev);
    for (int i = 0; i < 3; i++) {
        WT_OK(weft_future_result(fs[i], NULL, WEFT_FOREVER));
        weft_future_unref(fs[i]);
    }
    for (int i = 0; i < 100; i++) {
        weft_future *f;
        WT_OK(weft_executor_submit(ex, nop, NULL, &f));
        WT_OK(weft_future_result(f, NULL, WEFT_FOREVER));
        weft_future_unref(f);
    }
    weft_executor_free(ex);
    ck_assert_uint_eq(inits, 3);
}
END_TEST

static weft_event init_ev;

static int failing_init(void *arg)
{
    (void)arg;
    weft_event_wait(&init_ev, WEFT_FOREVER);
    return WEFT_EAGAIN;
}

START_TEST(initializer_failure_breaks_pool)
{
    weft_thread_pool_opts o = {.max_workers = 1, .initializer = failing_init};
    weft_executor *ex;
    WT_OK(weft_thread_pool_new(&ex, &o));
    weft_event_init(&init_ev);
    /* The initializer is held: these stay pending. */
    weft_future *fs[4];
    for (int i = 0; i < 4; i++)
        WT_OK(weft_executor_submit(ex, nop, NULL, &fs[i]));
    weft_event_set(&init_ev);
    for (int i = 0; i < 4; i++) {
        WT_ERR(weft_future_result(fs[i], NULL, WEFT_FOREVER), WEFT_EBROKEN);
        const char *m = weft_future_message(fs[i]);
        ck_assert_ptr_nonnull(m);
        ck_assert_msg(strstr(m, "initializer") != NULL, "message: %s", m);
        weft_future_unref(fs[i]);
    }
    weft_future *f = NULL;
    WT_ERR(weft_executor_submit(ex, nop, NULL, &f), WEFT_EBROKEN);
    ck_assert_ptr_null(f);
    void *args[2] = {0}, *res[2];
    WT_ERR(weft_executor_map(ex, nop, args, res, 2, 1, WEFT_FOREVER), WEFT_EBROKEN);
    weft_executor_free(ex);
}
END_TEST

static int report_count, report_code;
static char report_what[64], report_text[512];

static void capture_report(const char *what, int code, const char *message, void *arg)
{
    (void)arg;
    __atomic_fetch_add(&report_count, 1, __ATOMIC_SEQ_CST);
    report_code = code;
    snprintf(report_what, sizeof report_what, "%s", what);
    snprintf(report_text, sizeof report_text, "%s", message ? message : "");
}

static int init_with_message(void *arg)
{
    weft_task_set_message("no database at %s", (const char *)arg);
    return WEFT_EPERM;
}

START_TEST(initializer_failure_reported)
{
    /* As Python logs "Exception in initializer": the failure goes to the
     * report handler, naming the worker's pool, the code and the
     * initializer's own message; the pool still breaks. */
    weft_set_report_handler(capture_report, NULL);
    weft_thread_pool_opts o = {.max_workers = 1, .thread_name_prefix = "dbpool",
                               .initializer = init_with_message, .initarg = "/tmp/db"};
    weft_executor *ex;
    WT_OK(weft_thread_pool_new(&ex, &o));
    weft_future *f;
    WT_OK(weft_executor_submit(ex, nop, NULL, &f));
    WT_ERR(weft_future_result(f, NULL, WEFT_FOREVER), WEFT_EBROKEN);
    const char *m = weft_future_message(f);
    ck_assert_msg(m && strstr(m, "initializer") && strstr(m, "no database at /tmp/db"),
                  "message: %s", m ? m : "(null)");
    weft_future_unref(f);
    WT_OK(weft_executor_shutdown(ex, false, WEFT_FOREVER));
    weft_set_report_handler(NULL, NULL);
    ck_assert_int_eq(report_count, 1);
    ck_assert_int_eq(report_code, WEFT_EPERM);
    ck_assert_msg(strstr(report_what, "initializer") != NULL, "what: %s", report_what);
    ck_assert_msg(strstr(report_text, "dbpool") != NULL, "text: %s", report_text);
    ck_assert_msg(strstr(report_text, "no database at /tmp/db") != NULL, "text: %s", report_text);
    WT_ERR(weft_executor_submit(ex, nop, NULL, &f), WEFT_EBROKEN);
    weft_executor_free(ex);
}
END_TEST

/* ------------------------------------------------------ workers' count */

START_TEST(idle_worker_reused)
{
    /* Python's test_idle_thread_reuse: tasks submitted and waited for one
     * at a time keep a single worker, though the pool could start more:
     * the worker counts itself idle before it wakes the waiting caller. */
    weft_executor *ex = pool_of(8);
    for (int i = 0; i < 500; i++) {
        weft_future *f;
        WT_OK(weft_executor_submit(ex, nop, NULL, &f));
        WT_OK(weft_future_result(f, NULL, WEFT_FOREVER));
        weft_future_unref(f);
        ck_assert_msg(weft_thread_pool_workers_len(ex) == 1, "round %d: %u workers", i,
                      weft_thread_pool_workers_len(ex));
    }
    weft_executor_free(ex);
}
END_TEST

START_TEST(workers_len_counts_live_workers)
{
    /* Workers alive now: the started ones until they exit, none after a
     * waiting shutdown (Python joins them: none is alive after). */
    weft_executor *ex = pool_of(2);
    weft_event_init(&gate_ev);
    weft_future *a, *b;
    WT_OK(weft_executor_submit(ex, held, NULL, &a));
    WT_OK(weft_executor_submit(ex, held, NULL, &b));
    wait_started(2);
    ck_assert_uint_eq(weft_thread_pool_workers_len(ex), 2);
    weft_event_set(&gate_ev);
    WT_OK(weft_executor_shutdown(ex, false, WEFT_FOREVER));
    ck_assert_uint_eq(weft_thread_pool_workers_len(ex), 0);
    weft_future_unref(a);
    weft_future_unref(b);
    weft_executor_free(ex);

    /* A worker whose initializer failed has exited. */
    weft_set_report_handler(capture_report, NULL);
    weft_thread_pool_opts o = {.max_workers = 1, .initializer = init_with_message,
                               .initarg = "x"};
    WT_OK(weft_thread_pool_new(&ex, &o));
    weft_future *f;
    WT_OK(weft_executor_submit(ex, nop, NULL, &f));
    WT_ERR(weft_future_result(f, NULL, WEFT_FOREVER), WEFT_EBROKEN);
    weft_future_unref(f);
    WT_OK(weft_executor_shutdown(ex, false, WEFT_FOREVER));
    ck_assert_uint_eq(weft_thread_pool_workers_len(ex), 0);
    weft_executor_free(ex);
    weft_set_report_handler(NULL, NULL);
}
END_TEST

/* --------------------------------------------------------- shutdown */

START_TEST(second_shutdown_cancels_queued)
{
    /* As Python's shutdown(cancel_futures=True) after a shutdown without
     * it: what is still queued is cancelled, what runs finishes. */
    weft_executor *ex = pool_of(1);
    weft_event_init(&gate_ev);
    weft_future *a, *q[3];
    WT_OK(weft_executor_submit(ex, held, NULL, &a));
    wait_started(1);
    for (int i = 0; i < 3; i++)
        WT_OK(weft_executor_submit(ex, nop, NULL, &q[i]));
    WT_ERR(weft_executor_shutdown(ex, false, 0), WEFT_ETIMEDOUT);
    WT_ERR(weft_executor_shutdown(ex, true, 0), WEFT_ETIMEDOUT);
    for (int i = 0; i < 3; i++)
        ck_assert(weft_future_cancelled(q[i]));
    weft_event_set(&gate_ev);
    WT_OK(weft_executor_shutdown(ex, true, WEFT_FOREVER));
    WT_OK(weft_future_result(a, NULL, 0));
    weft_future_unref(a);
    for (int i = 0; i < 3; i++)
        weft_future_unref(q[i]);
    weft_executor_free(ex);
}
END_TEST

START_TEST(shutdown_after_cancelled_submit)
{
    /* Python's gh-94440: a task submitted and cancelled at once, right
     * before shutdown(wait), does not hang the shutdown. */
    weft_executor *ex = pool_of(1);
    for (int i = 0; i < 50; i++) {
        weft_future *f;
        WT_OK(weft_executor_submit(ex, nop, NULL, &f));
        WT_OK(weft_future_result(f, NULL, WEFT_FOREVER));
        weft_future_unref(f);
    }
    weft_future *g;
    WT_OK(weft_executor_submit(ex, nop, NULL, &g));
    weft_future_cancel(g);
    WT_OK(weft_executor_shutdown(ex, false, WEFT_FOREVER));
    ck_assert(weft_future_done(g));
    weft_future_unref(g);
    weft_executor_free(ex);
}
END_TEST


START_TEST(shutdown_cancel_futures)
{
    weft_executor *ex = pool_of(1);
    weft_event_init(&gate_ev);
    weft_future *a, *q[5];
    WT_OK(weft_executor_submit(ex, held, NULL, &a));
    wait_started(1);
    for (int i = 0; i < 5; i++)
        WT_OK(weft_executor_submit(ex, nop, NULL, &q[i]));
    /* A poll: the held task still runs. */
    WT_ERR(weft_executor_shutdown(ex, true, 0), WEFT_ETIMEDOUT);
    for (int i = 0; i < 5; i++) {
        ck_assert(weft_future_cancelled(q[i]));
        WT_ERR(weft_future_result(q[i], NULL, 0), WEFT_ECANCELLED);
    }
    ck_assert(weft_future_running(a));
    WT_ERR(weft_executor_submit(ex, nop, NULL, &q[0]), WEFT_ESHUTDOWN);
    weft_event_set(&gate_ev);
    WT_OK(weft_future_result(a, NULL, WEFT_FOREVER));
    WT_OK(weft_executor_shutdown(ex, true, WEFT_FOREVER)); /* again: harmless */
    weft_future_unref(a);
    for (int i = 0; i < 5; i++)
        weft_future_unref(q[i]);
    weft_executor_free(ex);
}
END_TEST

START_TEST(shutdown_runs_queued)
{
    /* Without cancel_futures, what was queued still runs. */
    weft_executor *ex = pool_of(1);
    weft_event_init(&gate_ev);
    weft_future *a, *q[5];
    WT_OK(weft_executor_submit(ex, held, NULL, &a));
    wait_started(1);
    for (int i = 0; i < 5; i++)
        WT_OK(weft_executor_submit(ex, whoami, NULL, &q[i]));
    WT_ERR(weft_executor_shutdown(ex, false, 0), WEFT_ETIMEDOUT);
    WT_ERR(weft_executor_submit(ex, nop, NULL, &q[0]), WEFT_ESHUTDOWN);
    weft_event_set(&gate_ev);
    WT_OK(weft_executor_shutdown(ex, false, WEFT_FOREVER));
    for (int i = 0; i < 5; i++) {
        ck_assert_int_eq(weft_future_get_state(q[i]), WEFT_FUTURE_FINISHED);
        weft_future_unref(q[i]);
    }
    weft_thread *t;
    WT_OK(weft_future_result(a, (void **)&t, 0));
    weft_future_unref(a);
    weft_executor_free(ex);
}
END_TEST

START_TEST(shutdown_before_any_work)
{
    weft_executor *ex = pool_of(2);
    WT_OK(weft_executor_shutdown(ex, false, WEFT_FOREVER));
    WT_OK(weft_executor_shutdown(ex, true, 0));
    weft_future *f = NULL;
    WT_ERR(weft_executor_submit(ex, nop, NULL, &f), WEFT_ESHUTDOWN);
    weft_executor_free(ex);
}
END_TEST

static weft_executor *self_pool;

static int shutdown_self(void *arg, void **result)
{
    (void)arg;
    (void)result;
    /* A worker cannot wait for itself. */
    return weft_executor_shutdown(self_pool, false, WEFT_FOREVER);
}

START_TEST(shutdown_wait_from_worker)
{
    self_pool = pool_of(1);
    weft_future *f;
    WT_OK(weft_executor_submit(self_pool, shutdown_self, NULL, &f));
    WT_ERR(weft_future_result(f, NULL, WEFT_FOREVER), WEFT_EDEADLK);
    weft_future_unref(f);
    WT_ERR(weft_executor_submit(self_pool, nop, NULL, &f), WEFT_ESHUTDOWN);
    weft_executor_free(self_pool);
}
END_TEST

START_TEST(cancel_queued_future)
{
    /* A future cancelled while queued is skipped by its worker. */
    weft_executor *ex = pool_of(1);
    weft_event_init(&gate_ev);
    weft_future *a, *b, *c;
    WT_OK(weft_executor_submit(ex, held, NULL, &a));
    wait_started(1);
    WT_OK(weft_executor_submit(ex, held, NULL, &b));
    WT_OK(weft_executor_submit(ex, nop, NULL, &c));
    ck_assert(weft_future_cancel(b));
    weft_event_set(&gate_ev);
    WT_OK(weft_future_result(c, NULL, WEFT_FOREVER));
    WT_ERR(weft_future_result(b, NULL, 0), WEFT_ECANCELLED);
    ck_assert_uint_eq(__atomic_load_n(&started, __ATOMIC_SEQ_CST), 1);
    weft_future_unref(a);
    weft_future_unref(b);
    weft_future_unref(c);
    weft_executor_free(ex);
}
END_TEST

/* --------------------------------------------------- default executor */

START_TEST(default_executor)
{
    weft_executor *ex = weft_default_executor();
    ck_assert_ptr_nonnull(ex);
    ck_assert_ptr_eq(weft_default_executor(), ex);
    weft_future *f;
    WT_OK(weft_executor_submit(ex, whoami, NULL, &f));
    weft_thread *t;
    WT_OK(weft_future_result(f, (void **)&t, WEFT_FOREVER));
    ck_assert_msg(strncmp(weft_thread_name(t), "ThreadPoolExecutor-", 19) == 0, "%s",
                  weft_thread_name(t));
    weft_future_unref(f);
    /* Not freed: it is shut down at exit, which must not hang. */
}
END_TEST

START_TEST(default_executor_free_refused)
{
    /* The default executor is borrowed: freeing it is a misuse that is
     * reported, and the pool goes on working for everyone else. */
    weft_executor *ex = weft_default_executor();
    ck_assert_ptr_nonnull(ex);
    weft_set_report_handler(capture_report, NULL);
    weft_executor_free(ex);
    weft_set_report_handler(NULL, NULL);
    ck_assert_int_eq(report_count, 1);
    ck_assert_int_eq(report_code, WEFT_EINVAL);
    ck_assert_str_eq(report_what, "weft_executor_free");
    ck_assert_ptr_eq(weft_default_executor(), ex);
    weft_future *f;
    WT_OK(weft_executor_submit(ex, nop, NULL, &f));
    WT_OK(weft_future_result(f, NULL, WEFT_FOREVER));
    weft_future_unref(f);
}
END_TEST

/* Pools made and freed on several threads at once: each is put on and
 * taken off the exit registry (src/futures/executor.c) under its lock; no pool is
 * lost or freed twice (ASan, TSan), and each runs its work. */
static weft_barrier churn_bar;

static void *pool_churn(void *arg)
{
    (void)arg;
    weft_barrier_wait(&churn_bar, NULL, WEFT_FOREVER);
    for (int i = 0; i < 100; i++) {
        weft_executor *ex;
        weft_thread_pool_opts o = {.max_workers = 1};
        weft_future *f;
        void *r = NULL;
        if (weft_thread_pool_new(&ex, &o) != 0 ||
            weft_executor_submit(ex, echo_arg, (void *)(uintptr_t)(i + 1), &f) != 0 ||
            weft_future_result(f, &r, WEFT_FOREVER) != 0 || r != (void *)(uintptr_t)(i + 1))
            abort();
        weft_future_unref(f);
        weft_executor_free(ex);
    }
    return NULL;
}

START_TEST(pools_made_and_freed_on_many_threads)
{
    enum { P = 4 };
    weft_barrier_init(&churn_bar, P, NULL, NULL);
    weft_thread *t[P];
    for (int i = 0; i < P; i++) {
        WT_OK(weft_thread_new(&t[i], pool_churn, NULL, NULL));
        WT_OK(weft_thread_start(t[i]));
    }
    for (int i = 0; i < P; i++) {
        WT_OK(weft_thread_join(t[i], WEFT_FOREVER));
        weft_thread_unref(t[i]);
    }
}
END_TEST

/* -------------------------------------------------------- conservation */

static unsigned char *hits;
static unsigned long total;

static int count_task(void *arg, void **result)
{
    (void)result;
    __atomic_fetch_add(&hits[(uintptr_t)arg], 1, __ATOMIC_RELAXED);
    __atomic_fetch_add(&total, 1, __ATOMIC_RELAXED);
    return 0;
}

static unsigned long callbacks;

static int count_cb(weft_future *f, void *arg)
{
    (void)arg;
    ck_assert(weft_future_done(f));
    __atomic_fetch_add(&callbacks, 1, __ATOMIC_RELAXED);
    return 0;
}

START_TEST(million_tasks_four_workers)
{
    /* Every task runs exactly once, and every future finishes exactly once
     * (a done callback counts). The futures are dropped right after submit
     * except each 64th, which is also waited for. */
    unsigned long n = 1000000;
    const char *env = getenv("WEFT_TEST_TASKS");
    if (env)
        n = strtoul(env, NULL, 10);
    hits = calloc(n, 1);
    weft_executor *ex = pool_of(4);
    weft_future **kept = calloc(n / 64 + 1, sizeof *kept);
    size_t nkept = 0;
    for (uintptr_t i = 0; i < n; i++) {
        weft_future *f;
        WT_OK(weft_executor_submit(ex, count_task, (void *)i, &f));
        WT_OK(weft_future_add_done_callback(f, count_cb, NULL));
        if (i % 64 == 0)
            kept[nkept++] = f;
        else
            weft_future_unref(f);
    }
    for (size_t k = 0; k < nkept; k++) {
        WT_OK(weft_future_result(kept[k], NULL, WEFT_FOREVER));
        weft_future_unref(kept[k]);
    }
    WT_OK(weft_executor_shutdown(ex, false, WEFT_FOREVER));
    ck_assert_uint_le(weft_thread_pool_workers_len(ex), 4);
    ck_assert_uint_eq(total, n);
    ck_assert_uint_eq(callbacks, n);
    for (unsigned long i = 0; i < n; i++)
        ck_assert_msg(hits[i] == 1, "task %lu ran %u times", i, hits[i]);
    weft_executor_free(ex);
    free(hits);
    free(kept);
}
END_TEST

/* Several submitters at once, each waiting for all of its futures. */
static weft_executor *shared_ex;
static weft_barrier start_bar;

static void *submitter(void *arg)
{
    enum { M = 20000 };
    weft_future **fs = malloc(M * sizeof *fs);
    weft_barrier_wait(&start_bar, NULL, WEFT_FOREVER);
    for (uintptr_t i = 0; i < M; i++)
        if (weft_executor_submit(shared_ex, count_task, (void *)((uintptr_t)arg * M + i),
                                 &fs[i]) != 0)
            abort();
    for (int i = 0; i < M; i++) {
        if (weft_future_result(fs[i], NULL, WEFT_FOREVER) != 0)
            abort();
        weft_future_unref(fs[i]);
    }
    free(fs);
    return NULL;
}

START_TEST(many_submitters)
{
    enum { P = 4, M = 20000 };
    hits = calloc(P * M, 1);
    shared_ex = pool_of(3);
    weft_barrier_init(&start_bar, P, NULL, NULL);
    weft_thread *t[P];
    for (uintptr_t i = 0; i < P; i++) {
        WT_OK(weft_thread_new(&t[i], submitter, (void *)i, NULL));
        WT_OK(weft_thread_start(t[i]));
    }
    for (int i = 0; i < P; i++) {
        WT_OK(weft_thread_join(t[i], WEFT_FOREVER));
        weft_thread_unref(t[i]);
    }
    ck_assert_uint_eq(total, P * M);
    for (unsigned long i = 0; i < P * M; i++)
        ck_assert_uint_eq(hits[i], 1);
    weft_executor_free(shared_ex);
    free(hits);
}
END_TEST

/* Future records are pooled (src/base/records.c): they are made on one thread
 * and freed on another, in bursts larger than a thread's cache, by threads
 * that then exit with records still cached. No live future may share its
 * record with another, and each keeps its own outcome. */
enum { XN = 3000, XROUNDS = 6 };
static weft_future *xfs[XN];

static void *x_make(void *arg)
{
    for (uintptr_t i = 0; i < XN; i++)
        if (weft_executor_submit(arg, echo_arg, (void *)i, &xfs[i]) != 0)
            abort();
    return NULL;
}

static void *x_drop(void *arg)
{
    (void)arg;
    for (uintptr_t i = 0; i < XN; i++) {
        void *r = NULL;
        if (weft_future_result(xfs[i], &r, WEFT_FOREVER) != 0 || r != (void *)i)
            abort();
        weft_future_unref(xfs[i]);
    }
    return NULL;
}

static int by_address(const void *a, const void *b)
{
    uintptr_t x = (uintptr_t) * (weft_future *const *)a, y = (uintptr_t) * (weft_future *const *)b;
    return (x > y) - (x < y);
}

START_TEST(future_records_cross_threads)
{
    weft_executor *ex = pool_of(2);
    static weft_future *sorted[XN];
    for (int round = 0; round < XROUNDS; round++) {
        weft_thread *mk, *dr;
        WT_OK(weft_thread_new(&mk, x_make, ex, NULL));
        WT_OK(weft_thread_start(mk));
        WT_OK(weft_thread_join(mk, WEFT_FOREVER));
        weft_thread_unref(mk);
        memcpy(sorted, xfs, sizeof sorted);
        qsort(sorted, XN, sizeof *sorted, by_address);
        for (int i = 1; i < XN; i++)
            ck_assert_ptr_ne(sorted[i - 1], sorted[i]);
        WT_OK(weft_thread_new(&dr, x_drop, NULL, NULL));
        WT_OK(weft_thread_start(dr));
        WT_OK(weft_thread_join(dr, WEFT_FOREVER));
        weft_thread_unref(dr);
    }
    /* This thread too: make and drop more than its cache holds. */
    x_make(ex);
    x_drop(NULL);
    weft_executor_free(ex);
}
END_TEST

/* The timeout form of shutdown(wait=true): a held worker makes it time out
 * (polling and timed), the pool refuses work meanwhile, and once the task
 * is released a further call waits the workers out. */
START_TEST(shutdown_timeout)
{
    weft_executor *ex = pool_of(1);
    weft_future *f;
    weft_event_init(&gate_ev);
    WT_OK(weft_executor_submit(ex, held, NULL, &f));
    wait_started(1);
    WT_ERR(weft_executor_shutdown(ex, false, -2), WEFT_EINVAL);
    WT_ERR(weft_executor_shutdown(NULL, false, 1), WEFT_EINVAL);
    WT_ERR(weft_executor_shutdown(ex, false, 0), WEFT_ETIMEDOUT);
    double t0 = weft_monotonic();
    WT_ERR(weft_executor_shutdown(ex, false, 0.02), WEFT_ETIMEDOUT);
    ck_assert(weft_monotonic() - t0 >= 0.02);
    weft_future *g;
    WT_ERR(weft_executor_submit(ex, nop, NULL, &g), WEFT_ESHUTDOWN);
    ck_assert(weft_future_running(f));
    WT_OK(weft_event_set(&gate_ev));
    WT_OK(weft_executor_shutdown(ex, false, WEFT_FOREVER));
    ck_assert(weft_future_done(f));
    WT_OK(weft_executor_shutdown(ex, false, 0)); /* done: polling succeeds */
    weft_future_unref(f);
    weft_executor_free(ex);
}
END_TEST

WT_MAIN("thread_pool", 60, workers_on_demand_and_reused, workers_capped, default_max_workers,
        thread_names, initializer_once_per_worker, initializer_failure_breaks_pool,
        shutdown_cancel_futures, shutdown_runs_queued, shutdown_before_any_work,
        shutdown_wait_from_worker, cancel_queued_future, default_executor,
        million_tasks_four_workers, many_submitters, future_records_cross_threads,
        shutdown_timeout, initializer_failure_reported, idle_worker_reused,
        workers_len_counts_live_workers, shutdown_after_cancelled_submit,
        thread_name_prefix_empty_or_long, second_shutdown_cancels_queued,
        default_executor_free_refused, pools_made_and_freed_on_many_threads)
