/*
 * Executors at exit, as Python joins its executors at interpreter exit:
 * work submitted to a pool still runs when the program exits (also after
 * shutdown without wait), a submit after the exit-time shutdown is refused,
 * a worker that calls exit() still gets its pool's queued work done, a
 * forked child does not join its parent's pools, and a pool freed while
 * exit waits for it is not used after it is gone.
 *
 * Each test forks a child that sets the scene and calls exit() (what a
 * return from main does); the child and its threads write what ran to a
 * pipe, and the parent reads it to the end and collects the exit status.
 * A task that must still be running when exit begins waits for an event
 * that an atexit handler sets: registered after the pool was made, it runs
 * before the executors are joined.
 */
#include <fcntl.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "wt.h"

/* Under ThreadSanitizer: a process that exits while threads it never
 * joined are alive (daemon threads, the thread that called exit(), a
 * process pool's collector) is what these tests make on purpose, so
 * TSan's report of those threads, which would also change the exit code,
 * is off. Races are still reported. */
#ifdef WEFT_SANITIZE_THREAD
const char *__tsan_default_options(void);
const char *__tsan_default_options(void)
{
    return "report_thread_leaks=0";
}
#endif

static int g_out = -1; /* the child's end of the pipe */

static void say(const char *s)
{
    if (write(g_out, s, strlen(s)) < 0)
        _exit(99);
}

/* Fork; the child runs body (which ends in exit) and the parent reads what
 * it wrote into buf (a C string) and returns its exit code (or 128 + the
 * signal). */
static int run_child(void (*body)(void), char *buf, size_t cap)
{
    int fds[2];
    ck_assert_int_eq(pipe(fds), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        close(fds[0]);
        g_out = fds[1];
        body();
        _exit(98); /* body must exit */
    }
    close(fds[1]);
    size_t n = 0;
    for (;;) {
        ssize_t r = read(fds[0], buf + n, cap - 1 - n);
        if (r <= 0)
            break;
        n += (size_t)r;
    }
    buf[n] = 0;
    close(fds[0]);
    int st;
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static weft_executor *pool_of(unsigned max_workers)
{
    weft_executor *ex = NULL;
    weft_thread_pool_opts o = {.max_workers = max_workers};
    if (weft_thread_pool_new(&ex, &o) != 0)
        _exit(97);
    return ex;
}

static weft_event release_ev; /* set by release_at_exit */

static void release_at_exit(void)
{
    weft_event_set(&release_ev);
}

/* Held until exit has begun, then says its letter. */
static int held_say(void *arg, void **result)
{
    (void)result;
    weft_event_wait(&release_ev, WEFT_FOREVER);
    say(arg);
    return 0;
}

static int say_task(void *arg, void **result)
{
    (void)result;
    say(arg);
    return 0;
}

static void submit_or_die(weft_executor *ex, weft_task_fn fn, void *arg)
{
    weft_future *f;
    if (weft_executor_submit(ex, fn, arg, &f) != 0)
        _exit(96);
    weft_future_unref(f);
}

/* ------------------------------------------------- exit runs the work */

static void queued_body(void)
{
    weft_event_init(&release_ev);
    weft_executor *ex = pool_of(1);
    atexit(release_at_exit);
    submit_or_die(ex, held_say, "A");
    submit_or_die(ex, say_task, "B");
    submit_or_die(ex, say_task, "C");
    exit(0);
}

START_TEST(exit_runs_submitted_work)
{
    char buf[64];
    ck_assert_int_eq(run_child(queued_body, buf, sizeof buf), 0);
    ck_assert_str_eq(buf, "ABC");
}
END_TEST

static void nowait_body(void)
{
    weft_event_init(&release_ev);
    weft_executor *ex = pool_of(1);
    atexit(release_at_exit);
    submit_or_die(ex, held_say, "A");
    submit_or_die(ex, say_task, "B");
    /* shutdown(wait=False): the work still runs before the process ends. */
    if (weft_executor_shutdown(ex, false, 0) != WEFT_ETIMEDOUT)
        _exit(95);
    exit(0);
}

START_TEST(exit_after_shutdown_nowait_runs_work)
{
    char buf[64];
    ck_assert_int_eq(run_child(nowait_body, buf, sizeof buf), 0);
    ck_assert_str_eq(buf, "AB");
}
END_TEST

static void cancel_nowait_body(void)
{
    weft_event_init(&release_ev);
    weft_executor *ex = pool_of(1);
    atexit(release_at_exit);
    weft_future *a;
    if (weft_executor_submit(ex, held_say, "A", &a) != 0)
        _exit(96);
    while (!weft_future_running(a))
        sched_yield();
    weft_future_unref(a);
    submit_or_die(ex, say_task, "B");
    /* shutdown(wait=False, cancel_futures=True): B never runs, the running
     * A still finishes before the process ends. */
    if (weft_executor_shutdown(ex, true, 0) != WEFT_ETIMEDOUT)
        _exit(95);
    exit(0);
}

START_TEST(exit_after_cancel_futures_finishes_running_work)
{
    char buf[64];
    ck_assert_int_eq(run_child(cancel_nowait_body, buf, sizeof buf), 0);
    ck_assert_str_eq(buf, "A");
}
END_TEST

static void default_body(void)
{
    weft_event_init(&release_ev);
    weft_executor *ex = weft_default_executor();
    if (!ex)
        _exit(97);
    atexit(release_at_exit);
    submit_or_die(ex, held_say, "A");
    exit(0);
}

START_TEST(exit_runs_default_executor_work)
{
    char buf[64];
    ck_assert_int_eq(run_child(default_body, buf, sizeof buf), 0);
    ck_assert_str_eq(buf, "A");
}
END_TEST

/* ------------------------------------- submits after the exit shutdown */

static weft_executor *late_ex;

static void submit_late(void)
{
    weft_future *f = NULL;
    int rc = weft_executor_submit(late_ex, say_task, "late", &f);
    say(rc == WEFT_ESHUTDOWN ? "|ESHUTDOWN" : rc == 0 ? "|accepted" : "|other");
    weft_future_unref(f);
}

static void late_submit_body(void)
{
    /* Registered before the pool exists, so it runs after the executors
     * were shut down at exit (Python's atexit callbacks run after
     * threading's exit joined the executors). */
    atexit(submit_late);
    late_ex = pool_of(2);
    submit_or_die(late_ex, say_task, "A");
    exit(0);
}

START_TEST(submit_after_exit_shutdown_refused)
{
    char buf[64];
    ck_assert_int_eq(run_child(late_submit_body, buf, sizeof buf), 0);
    ck_assert_str_eq(buf, "A|ESHUTDOWN");
}
END_TEST

static void make_pool_late(void)
{
    weft_executor *ex;
    weft_thread_pool_opts o = {.max_workers = 1};
    if (weft_thread_pool_new(&ex, &o) != 0) {
        say("new failed");
        return;
    }
    weft_future *f = NULL;
    int rc = weft_executor_submit(ex, say_task, "ran", &f);
    say(rc == WEFT_ESHUTDOWN ? "ESHUTDOWN" : rc == 0 ? "accepted" : "other");
    weft_future_unref(f);
    weft_executor_free(ex);
}

static void pool_made_late_body(void)
{
    atexit(make_pool_late);
    weft_executor_free(pool_of(1)); /* the exit hook is registered from now on */
    exit(0);
}

START_TEST(pool_made_after_exit_shutdown_refuses_work)
{
    char buf[64];
    ck_assert_int_eq(run_child(pool_made_late_body, buf, sizeof buf), 0);
    ck_assert_str_eq(buf, "ESHUTDOWN");
}
END_TEST

/* ----------------------------------------- a worker that calls exit() */

static weft_event go_ev;

static int exit_in_task(void *arg, void **result)
{
    (void)arg;
    (void)result;
    weft_event_wait(&go_ev, WEFT_FOREVER);
    exit(3);
}

static void worker_exit_body(void)
{
    weft_event_init(&go_ev);
    weft_executor *ex = pool_of(1);
    submit_or_die(ex, exit_in_task, NULL);
    submit_or_die(ex, say_task, "B");
    submit_or_die(ex, say_task, "C");
    weft_event_set(&go_ev);
    /* The main thread never ends: the worker's exit() ends the process. */
    weft_event never;
    weft_event_init(&never);
    weft_event_wait(&never, WEFT_FOREVER);
    _exit(94);
}

START_TEST(exit_from_worker_runs_its_pools_queue)
{
    /* The only worker is the one exiting: it cannot be joined, so it runs
     * what its pool still has queued itself, then the process ends with
     * its code. */
    char buf[64];
    ck_assert_int_eq(run_child(worker_exit_body, buf, sizeof buf), 3);
    ck_assert_str_eq(buf, "BC");
}
END_TEST

static weft_future *p_queued;

static int wait_for_p(void *arg, void **result)
{
    (void)arg;
    (void)result;
    weft_future_result(p_queued, NULL, WEFT_FOREVER);
    say("Q");
    return 0;
}

static void worker_exit_order_body(void)
{
    weft_event_init(&go_ev);
    weft_executor *q = pool_of(1); /* made first: first on the registry */
    weft_executor *p = pool_of(1);
    submit_or_die(p, exit_in_task, NULL);
    if (weft_executor_submit(p, say_task, "P", &p_queued) != 0)
        _exit(96);
    submit_or_die(q, wait_for_p, NULL);
    weft_event_set(&go_ev);
    weft_event never;
    weft_event_init(&never);
    weft_event_wait(&never, WEFT_FOREVER);
    _exit(94);
}

START_TEST(exit_from_worker_serves_its_pool_first)
{
    /* Pool Q's task waits for a task queued on pool P, whose only worker
     * calls exit(): the exit runs P's queue before it waits for Q, which
     * would otherwise wait for ever. */
    char buf[64];
    ck_assert_int_eq(run_child(worker_exit_order_body, buf, sizeof buf), 3);
    ck_assert_str_eq(buf, "PQ");
}
END_TEST

/* --------------------------------------------------------------- fork */

static int fork_and_exit(void *arg, void **result)
{
    (void)arg;
    weft_event_wait(&go_ev, WEFT_FOREVER);
    pid_t pid = fork();
    if (pid < 0)
        return WEFT_EAGAIN;
    if (pid == 0) {
        /* LeakSanitizer's report of the test runner's records (see below)
         * is noise here. */
        int devnull = open("/dev/null", O_WRONLY);
        if (devnull >= 0)
            dup2(devnull, 2);
        exit(0); /* the child owns no pool: nothing to join, nothing to run */
    }
    int st;
    if (waitpid(pid, &st, 0) != pid)
        return WEFT_ECHILD;
    /* Whether it exited rather than died: its code is LeakSanitizer's to
     * choose under ASan (the test runner's records, on the stack of a
     * thread the child does not have, read as leaks there). */
    *result = (void *)(uintptr_t)WIFEXITED(st);
    return 0;
}

START_TEST(forked_child_does_not_join_parents_pool)
{
    /* A child forked by a worker, while its pool has work queued, exits
     * without running that work (it is the parent's) and without waiting
     * for the parent's workers. The work runs once, in the parent. */
    int fds[2];
    ck_assert_int_eq(pipe(fds), 0);
    g_out = fds[1];
    weft_event_init(&release_ev);
    weft_event_init(&go_ev);
    weft_executor *ex = pool_of(2);
    weft_future *a, *f, *b;
    WT_OK(weft_executor_submit(ex, held_say, "A", &a));
    WT_OK(weft_executor_submit(ex, fork_and_exit, NULL, &f));
    while (!weft_future_running(a) || !weft_future_running(f))
        sched_yield();
    /* Both workers are busy: B stays queued while the worker forks. */
    WT_OK(weft_executor_submit(ex, say_task, "B", &b));
    weft_event_set(&go_ev);
    void *exited = NULL;
    WT_OK(weft_future_result(f, &exited, WEFT_FOREVER));
    ck_assert_ptr_eq(exited, (void *)1);
    weft_event_set(&release_ev);
    WT_OK(weft_future_result(b, NULL, WEFT_FOREVER));
    weft_future_unref(a);
    weft_future_unref(f);
    weft_future_unref(b);
    weft_executor_free(ex);
    close(fds[1]);
    char buf[16];
    ssize_t n = read(fds[0], buf, sizeof buf - 1);
    ck_assert_int_ge(n, 0);
    buf[n] = 0;
    /* A and B once each, in either order (B may run on the forking
     * worker before A is released); never a second B from the child. */
    ck_assert_msg(n == 2 && strchr(buf, 'A') && strchr(buf, 'B'), "wrote \"%s\"", buf);
    close(fds[0]);
}
END_TEST

/* ----------------------------------------- freed while exit waits for it */

static weft_executor *racing_ex;
static weft_thread *freer, *exiter;
static weft_event free_ev;

static void *free_it(void *arg)
{
    (void)arg;
    weft_event_wait(&free_ev, WEFT_FOREVER);
    weft_executor_free(racing_ex);
    return NULL;
}

static void *exit_it(void *arg)
{
    (void)arg;
    exit(5);
}

static void let_free_go(void)
{
    weft_event_set(&free_ev);
}

/* Returns once the freeing thread and the exiting thread both wait for the
 * pool's worker: the one in weft_executor_free, the other in the exit hook. */
static int wait_both_joining(void *arg, void **result)
{
    (void)arg;
    (void)result;
    wt_wait_for_state(freer, WEFT_THREAD_WAITING, WEFT_WAIT_JOIN, NULL);
    wt_wait_for_state(exiter, WEFT_THREAD_WAITING, WEFT_WAIT_JOIN, NULL);
    say("A");
    return 0;
}

static void free_during_exit_body(void)
{
    weft_event_init(&free_ev);
    racing_ex = pool_of(1);
    atexit(let_free_go); /* runs before the executors are joined */
    weft_thread_opts daemon = {.daemon = WEFT_DAEMON_YES};
    if (weft_thread_new(&freer, free_it, NULL, &daemon) != 0 || weft_thread_start(freer) != 0 ||
        weft_thread_new(&exiter, exit_it, NULL, &daemon) != 0)
        _exit(93);
    submit_or_die(racing_ex, wait_both_joining, NULL);
    submit_or_die(racing_ex, say_task, "B");
    if (weft_thread_start(exiter) != 0)
        _exit(93);
    weft_event never;
    weft_event_init(&never);
    weft_event_wait(&never, WEFT_FOREVER);
    _exit(94);
}

START_TEST(free_while_exit_joins_the_pool)
{
    /* exit() on one thread joins the pool while another thread frees it:
     * the free waits until the exit hook is done with the pool before it
     * is destroyed (ASan would see a use after free), and the work runs. */
    char buf[64];
    ck_assert_int_eq(run_child(free_during_exit_body, buf, sizeof buf), 5);
    ck_assert_str_eq(buf, "AB");
}
END_TEST

/* -------------------------------------------------------- process pool */

static int proc_say(void *arg, void **result)
{
    (void)arg;
    (void)result;
    say("P");
    return 0;
}

static void procpool_body(void)
{
    weft_process_pool_opts o = {.max_workers = 1, .start_method = WEFT_START_FORK};
    weft_executor *ex;
    if (weft_process_pool_new(&ex, &o) != 0)
        _exit(97);
    for (int i = 0; i < 3; i++) {
        weft_future *f;
        if (weft_process_pool_submit(ex, proc_say, NULL, &f) != 0)
            _exit(96);
        weft_future_unref(f);
    }
    exit(0);
}

START_TEST(exit_runs_process_pool_work)
{
    char buf[64];
    ck_assert_int_eq(run_child(procpool_body, buf, sizeof buf), 0);
    ck_assert_str_eq(buf, "PPP");
}
END_TEST

/* ------------------------------------------------ a weft child process */

static weft_thread *child_main_thread;

/* Returns once the child's main thread waits for this worker: the
 * child's function has returned and its exit joins the pool. */
static int wait_for_join(void *arg, void **result)
{
    (void)arg;
    (void)result;
    wt_wait_for_state(child_main_thread, WEFT_THREAD_WAITING, WEFT_WAIT_JOIN, NULL);
    say("C");
    return 0;
}

static int child_with_pool(void *arg)
{
    (void)arg;
    child_main_thread = weft_current_thread();
    weft_executor *ex = pool_of(1);
    submit_or_die(ex, wait_for_join, NULL);
    submit_or_die(ex, say_task, "D");
    return 0; /* the pool is neither shut down nor freed */
}

static void weft_child_body(void)
{
    weft_process_opts o = {.start_method = WEFT_START_FORK};
    weft_process *p;
    if (weft_process_new(&p, child_with_pool, NULL, &o) != 0 || weft_process_start(p) != 0 ||
        weft_process_join(p, WEFT_FOREVER) != 0)
        _exit(92);
    int code = -1;
    weft_process_exitcode(p, &code);
    exit(code);
}

START_TEST(weft_child_process_joins_its_pools)
{
    /* As Python's child runs threading._shutdown once its target returns:
     * a weft child process waits for the work of the pools it made. */
    char buf[64];
    ck_assert_int_eq(run_child(weft_child_body, buf, sizeof buf), 0);
    ck_assert_str_eq(buf, "CD");
}
END_TEST

WT_MAIN("executor_exit", 60, exit_runs_submitted_work, exit_after_shutdown_nowait_runs_work,
        exit_after_cancel_futures_finishes_running_work, exit_runs_default_executor_work,
        submit_after_exit_shutdown_refused, pool_made_after_exit_shutdown_refuses_work,
        exit_from_worker_runs_its_pools_queue, exit_from_worker_serves_its_pool_first,
        forked_child_does_not_join_parents_pool,
        free_while_exit_joins_the_pool, exit_runs_process_pool_work,
        weft_child_process_joins_its_pools)
