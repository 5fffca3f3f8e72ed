/*
 * Subprocesses (weft/subprocess.h): real programs (sh, cat, true, head),
 * in coroutines and in plain threads.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "wt.h"

static const weft_subprocess_opts pipes = {.stdin_mode = WEFT_SUBPROCESS_PIPE,
                                           .stdout_mode = WEFT_SUBPROCESS_PIPE,
                                           .stderr_mode = WEFT_SUBPROCESS_PIPE};

/* ---------------------------------------------------- in coroutines */

static int cat_echo(void *arg, void **result)
{
    const char *argv[] = {"cat", NULL};
    weft_subprocess *p;
    WT_OK(weft_subprocess_exec(&p, argv, &pipes));
    ck_assert_int_gt(weft_subprocess_pid(p), 0);
    int code;
    WT_ERR(weft_subprocess_returncode(p, &code), WEFT_ESTATE);
    WT_OK(weft_stream_write(weft_subprocess_stdin(p), "one\ntwo\n", 8));
    char line[16];
    size_t n;
    WT_OK(weft_stream_readline(weft_subprocess_stdout(p), line, sizeof line, &n, 10));
    ck_assert_uint_eq(n, 4);
    ck_assert_int_eq(memcmp(line, "one\n", 4), 0);
    WT_OK(weft_subprocess_close_stdin(p, 10));
    ck_assert_ptr_null(weft_subprocess_stdin(p));
    WT_OK(weft_stream_readline(weft_subprocess_stdout(p), line, sizeof line, &n, 10));
    ck_assert_uint_eq(n, 4);
    WT_OK(weft_stream_readline(weft_subprocess_stdout(p), line, sizeof line, &n, 10));
    ck_assert_uint_eq(n, 0); /* cat saw the end of its input */
    WT_OK(weft_subprocess_wait(p, &code, 10));
    ck_assert_int_eq(code, 0);
    WT_OK(weft_subprocess_returncode(p, &code));
    WT_OK(weft_subprocess_kill(p)); /* after the exit: nothing, no error */
    weft_subprocess_free(p);
    return 0;
}

START_TEST(echo_through_cat)
{
    WT_OK(weft_run(cat_echo, NULL, NULL));
}
END_TEST

static int exit_codes(void *arg, void **result)
{
    weft_subprocess *p;
    int code;
    WT_OK(weft_subprocess_shell(&p, "exit 3", NULL));
    WT_OK(weft_subprocess_wait(p, &code, 10));
    ck_assert_int_eq(code, 3);
    weft_subprocess_free(p);

    /* Killed by a signal: minus its number. A wait that times out leaves
     * it running and waitable. */
    const char *sleeper[] = {"sleep", "30", NULL};
    WT_OK(weft_subprocess_exec(&p, sleeper, NULL));
    WT_ERR(weft_subprocess_wait(p, &code, 0.02), WEFT_ETIMEDOUT);
    WT_ERR(weft_subprocess_wait(p, &code, 0), WEFT_ETIMEDOUT);
    WT_OK(weft_subprocess_kill(p));
    WT_OK(weft_subprocess_wait(p, &code, 10));
    ck_assert_int_eq(code, -SIGKILL);
    weft_subprocess_free(p);

    WT_OK(weft_subprocess_exec(&p, sleeper, NULL));
    WT_OK(weft_subprocess_terminate(p));
    WT_OK(weft_subprocess_wait(p, &code, 10));
    ck_assert_int_eq(code, -SIGTERM);
    weft_subprocess_free(p);
    return 0;
}

START_TEST(exit_codes_and_signals)
{
    WT_OK(weft_run(exit_codes, NULL, NULL));
}
END_TEST

static int wait_forever(void *arg, void **result)
{
    bool *entered = ((void **)arg)[1];
    *entered = true;
    return weft_subprocess_wait(((void **)arg)[0], NULL, WEFT_FOREVER);
}

static int cancel_wait(void *arg, void **result)
{
    const char *sleeper[] = {"sleep", "30", NULL};
    weft_subprocess *p;
    WT_OK(weft_subprocess_exec(&p, sleeper, NULL));
    bool entered = false;
    void *args[2] = {p, &entered};
    weft_future *t;
    WT_OK(weft_create_task(NULL, wait_forever, args, NULL, &t));
    while (!entered)
        weft_sleep(0);
    ck_assert(weft_future_cancel(t));
    WT_ERR(weft_await(t, NULL, WEFT_FOREVER), WEFT_ECANCELLED);
    weft_future_unref(t);
    /* Still running, still waitable. */
    int code;
    WT_ERR(weft_subprocess_returncode(p, &code), WEFT_ESTATE);
    WT_OK(weft_subprocess_kill(p));
    WT_OK(weft_subprocess_wait(p, &code, 10));
    ck_assert_int_eq(code, -SIGKILL);
    weft_subprocess_free(p);
    return 0;
}

START_TEST(cancelled_wait)
{
    WT_OK(weft_run(cancel_wait, NULL, NULL));
}
END_TEST

/* communicate with several MiB both ways, and both outputs at once. */
static int big_communicate(void *arg, void **result)
{
    size_t len = 4u << 20;
    char *input = malloc(len);
    for (size_t i = 0; i < len; i++)
        input[i] = (char)('a' + i % 23);
    const char *argv[] = {"cat", NULL};
    weft_subprocess *p;
    WT_OK(weft_subprocess_exec(&p, argv, &pipes));
    void *out, *err;
    size_t outlen, errlen;
    WT_OK(weft_subprocess_communicate(p, input, len, &out, &outlen, &err, &errlen, 30));
    ck_assert_uint_eq(outlen, len);
    ck_assert_int_eq(memcmp(out, input, len), 0);
    ck_assert_uint_eq(errlen, 0);
    ck_assert_int_eq(((char *)err)[0], 0);
    int code;
    WT_OK(weft_subprocess_returncode(p, &code));
    ck_assert_int_eq(code, 0);
    free(out);
    free(err);
    weft_subprocess_free(p);
    free(input);

    /* A child that writes 1 MiB to each of stdout and stderr, interleaved:
     * reading one pipe at a time would deadlock. */
    WT_OK(weft_subprocess_shell(&p,
                                "i=0; while [ $i -lt 16 ]; do head -c 65536 /dev/zero; "
                                "head -c 65536 /dev/zero >&2; i=$((i+1)); done",
                                &pipes));
    WT_OK(weft_subprocess_communicate(p, NULL, 0, &out, &outlen, &err, &errlen, 30));
    ck_assert_uint_eq(outlen, 1u << 20);
    ck_assert_uint_eq(errlen, 1u << 20);
    free(out);
    free(err);
    weft_subprocess_free(p);
    return 0;
}

START_TEST(communicate_large)
{
    WT_OK(weft_run(big_communicate, NULL, NULL));
}
END_TEST

static int comm_timeout(void *arg, void **result)
{
    weft_subprocess *p;
    WT_OK(weft_subprocess_shell(&p, "echo started; exec sleep 30", &pipes));
    void *out = NULL;
    WT_ERR(weft_subprocess_communicate(p, NULL, 0, &out, NULL, NULL, NULL, 0.1), WEFT_ETIMEDOUT);
    ck_assert_ptr_null(out);
    int code;
    WT_ERR(weft_subprocess_returncode(p, &code), WEFT_ESTATE); /* still running */
    WT_OK(weft_subprocess_kill(p));
    WT_OK(weft_subprocess_wait(p, &code, 10));
    ck_assert_int_eq(code, -SIGKILL);
    weft_subprocess_free(p);
    return 0;
}

START_TEST(communicate_timeout)
{
    WT_OK(weft_run(comm_timeout, NULL, NULL));
}
END_TEST

/* ------------------------------------------------ streams and modes */

START_TEST(modes_cwd_env)
{
    /* Outside a coroutine: communicate runs its own loop. */
    weft_subprocess *p;
    weft_subprocess_opts o = {.stdout_mode = WEFT_SUBPROCESS_PIPE,
                              .stderr_mode = WEFT_SUBPROCESS_STDOUT,
                              .stdin_mode = WEFT_SUBPROCESS_DEVNULL};
    WT_OK(weft_subprocess_shell(&p, "echo out; echo err >&2; cat; echo done", &o));
    ck_assert_ptr_null(weft_subprocess_stdin(p));
    ck_assert_ptr_null(weft_subprocess_stderr(p));
    void *out;
    size_t outlen;
    WT_OK(weft_subprocess_communicate(p, NULL, 0, &out, &outlen, NULL, NULL, 10));
    ck_assert_str_eq(out, "out\nerr\ndone\n");
    free(out);
    weft_subprocess_free(p);

    char *env[] = {"WEFT_TEST_VAR=hello", "PATH=/usr/bin:/bin", NULL};
    weft_subprocess_opts o2 = {.stdout_mode = WEFT_SUBPROCESS_PIPE, .cwd = "/tmp", .env = env,
                               .stderr_mode = WEFT_SUBPROCESS_DEVNULL};
    WT_OK(weft_subprocess_shell(&p, "echo $WEFT_TEST_VAR; pwd; echo gone >&2", &o2));
    WT_OK(weft_subprocess_communicate(p, NULL, 0, &out, &outlen, NULL, NULL, 10));
    ck_assert_str_eq(out, "hello\n/tmp\n");
    free(out);
    int code;
    WT_OK(weft_subprocess_wait(p, &code, 10));
    ck_assert_int_eq(code, 0);
    weft_subprocess_free(p);
}
END_TEST

START_TEST(start_failures)
{
    weft_subprocess *p = NULL;
    const char *missing[] = {"weft-no-such-program", NULL};
    WT_ERR(weft_subprocess_exec(&p, missing, NULL), -ENOENT);
    ck_assert_ptr_null(p);
    char path[] = "/tmp/weft-noexec-XXXXXX";
    int fd = mkstemp(path); /* mode 0600: not executable */
    ck_assert_int_ge(fd, 0);
    close(fd);
    const char *notexec[] = {path, NULL};
    WT_ERR(weft_subprocess_exec(&p, notexec, NULL), -EACCES);
    unlink(path);
    const char *t[] = {"true", NULL};
    WT_ERR(weft_subprocess_exec(&p, t, &(weft_subprocess_opts){.cwd = "/no/such/dir"}), -ENOENT);
    WT_ERR(weft_subprocess_exec(&p, t, &(weft_subprocess_opts){.stdin_mode = WEFT_SUBPROCESS_STDOUT}),
           WEFT_EINVAL);
    WT_ERR(weft_subprocess_exec(&p, t, &(weft_subprocess_opts){.stdout_mode = 42}), WEFT_EINVAL);
    const char *empty[] = {NULL};
    WT_ERR(weft_subprocess_exec(&p, empty, NULL), WEFT_EINVAL);
    WT_ERR(weft_subprocess_exec(&p, NULL, NULL), WEFT_EINVAL);
    WT_ERR(weft_subprocess_exec(NULL, t, NULL), WEFT_EINVAL);
    WT_ERR(weft_subprocess_shell(&p, NULL, NULL), WEFT_EINVAL);
    WT_ERR(weft_subprocess_wait(NULL, NULL, 1), WEFT_EINVAL);
    WT_ERR(weft_subprocess_send_signal(NULL, SIGTERM), WEFT_EINVAL);
    WT_OK(weft_subprocess_exec(&p, t, NULL));
    WT_ERR(weft_subprocess_wait(p, NULL, -3), WEFT_EINVAL);
    WT_ERR(weft_subprocess_send_signal(p, -1), WEFT_EINVAL);
    WT_ERR(weft_subprocess_communicate(p, "x", 1, NULL, NULL, NULL, NULL, 1), WEFT_EINVAL);
    WT_OK(weft_subprocess_wait(p, NULL, 10));
    weft_subprocess_free(p);
    weft_subprocess_free(NULL);
}
END_TEST

/* ------------------------------------------------- pipeline, many */

typedef struct pump {
    weft_stream *from, *to;
    weft_subprocess *to_proc;
} pump;

static int pump_bytes(void *arg, void **result)
{
    pump *pu = arg;
    char buf[4096];
    size_t n;
    int rc;
    while ((rc = weft_stream_read(pu->from, buf, sizeof buf, &n, 10)) == 0 && n) {
        if ((rc = weft_stream_write(pu->to, buf, n)) != 0 ||
            (rc = weft_stream_drain(pu->to, 10)) != 0)
            return rc;
    }
    int rc2 = weft_subprocess_close_stdin(pu->to_proc, 10);
    return rc ? rc : rc2;
}

static int pipeline(void *arg, void **result)
{
    /* seq 1 20000 | sort -rn, with a coroutine carrying the bytes. */
    const char *seq[] = {"seq", "1", "20000", NULL};
    const char *sort[] = {"sort", "-rn", NULL};
    weft_subprocess *a, *b;
    WT_OK(weft_subprocess_exec(&a, seq, &(weft_subprocess_opts){.stdout_mode = WEFT_SUBPROCESS_PIPE}));
    WT_OK(weft_subprocess_exec(&b, sort, &(weft_subprocess_opts){.stdin_mode = WEFT_SUBPROCESS_PIPE,
                                                                  .stdout_mode = WEFT_SUBPROCESS_PIPE}));
    pump pu = {weft_subprocess_stdout(a), weft_subprocess_stdin(b), b};
    weft_future *t;
    WT_OK(weft_create_task(NULL, pump_bytes, &pu, "pump", &t));
    char line[32];
    size_t n;
    WT_OK(weft_stream_readline(weft_subprocess_stdout(b), line, sizeof line, &n, 10));
    ck_assert_uint_eq(n, 6);
    ck_assert_int_eq(memcmp(line, "20000\n", 6), 0);
    size_t lines = 1;
    while (weft_stream_readline(weft_subprocess_stdout(b), line, sizeof line, &n, 10) == 0 && n)
        lines++;
    ck_assert_uint_eq(lines, 20000);
    WT_OK(weft_await(t, NULL, WEFT_FOREVER));
    weft_future_unref(t);
    int ca, cb;
    WT_OK(weft_subprocess_wait(a, &ca, 10));
    WT_OK(weft_subprocess_wait(b, &cb, 10));
    ck_assert_int_eq(ca, 0);
    ck_assert_int_eq(cb, 0);
    weft_subprocess_free(a);
    weft_subprocess_free(b);
    return 0;
}

START_TEST(two_process_pipeline)
{
    WT_OK(weft_run(pipeline, NULL, NULL));
}
END_TEST

static int wait_one(void *arg, void **result)
{
    int code = -1;
    int rc = weft_subprocess_wait(arg, &code, 20);
    *result = (void *)(intptr_t)code;
    return rc;
}

static int many(void *arg, void **result)
{
    enum { N = 50 };
    weft_subprocess *p[N];
    weft_future *f[N];
    for (int i = 0; i < N; i++) {
        char cmd[32];
        snprintf(cmd, sizeof cmd, "exit %d", i % 7);
        WT_OK(weft_subprocess_shell(&p[i], cmd, NULL));
        WT_OK(weft_create_task(NULL, wait_one, p[i], NULL, &f[i]));
    }
    for (int i = 0; i < N; i++) {
        void *r;
        WT_OK(weft_await(f[i], &r, WEFT_FOREVER));
        ck_assert_int_eq((int)(intptr_t)r, i % 7);
        weft_future_unref(f[i]);
        weft_subprocess_free(p[i]);
    }
    /* Every child was reaped: none is left to wait for. */
    ck_assert_int_eq(waitpid(-1, NULL, WNOHANG), -1);
    ck_assert_int_eq(errno, ECHILD);
    return 0;
}

START_TEST(many_children_all_reaped)
{
    WT_OK(weft_run(many, NULL, NULL));
}
END_TEST

/* The child `pid` was reaped (by free at once, or on a machine loaded past
 * free's short wait, by its background reaper soon after): waitpid no
 * longer knows it. A child left running would fail this after 10 s. */
static void assert_reaped(pid_t pid)
{
    for (int i = 0; i < 10000 && waitpid(pid, NULL, WNOHANG) == 0; i++)
        usleep(1000);
    ck_assert_int_eq(waitpid(pid, NULL, WNOHANG), -1);
    ck_assert_int_eq(errno, ECHILD);
}

/* As asyncio's transport close: free kills a child still running and
 * reaps it, so no process and no zombie is left. */
START_TEST(free_kills_running_child)
{
    const char *argv[] = {"sleep", "1000", NULL};
    weft_subprocess *p;
    WT_OK(weft_subprocess_exec(&p, argv, &pipes));
    pid_t pid = weft_subprocess_pid(p);
    ck_assert_int_eq(kill(pid, 0), 0);
    weft_subprocess_free(p);
    assert_reaped(pid);
}
END_TEST

/* The same from a coroutine, for a child that ignores SIGTERM and stdin's
 * end (only SIGKILL stops it). */
static int free_in_coroutine(void *arg, void **result)
{
    weft_subprocess *p;
    WT_OK(weft_subprocess_shell(&p, "trap '' TERM; exec sleep 1000", &pipes));
    pid_t pid = weft_subprocess_pid(p);
    weft_subprocess_free(p);
    assert_reaped(pid);
    return 0;
}

START_TEST(free_kills_child_in_coroutine)
{
    WT_OK(weft_run(free_in_coroutine, NULL, NULL));
}
END_TEST

/* A child that already exited is reaped by free, with no signal to its
 * (possibly recycled) pid: its exit status was its own. */
START_TEST(free_exited_child)
{
    weft_subprocess *p;
    WT_OK(weft_subprocess_shell(&p, "exit 5", NULL));
    pid_t pid = weft_subprocess_pid(p);
    siginfo_t si;
    memset(&si, 0, sizeof si);
    /* Wait for the exit without reaping it. */
    ck_assert_int_eq(waitid(P_PID, (id_t)pid, &si, WEXITED | WNOWAIT), 0);
    ck_assert_int_eq(si.si_code, CLD_EXITED);
    weft_subprocess_free(p);
    ck_assert_int_eq(waitpid(pid, NULL, WNOHANG), -1);
    ck_assert_int_eq(errno, ECHILD);
}
END_TEST

/* asyncio's test_subprocess_concurrent_wait: many waiters on one child
 * (coroutines of its loop, and a plain thread) all get its code. */
struct waiter {
    weft_subprocess *p;
    int code;
    int rc;
};

static int wait_task(void *arg, void **result)
{
    struct waiter *w = arg;
    w->rc = weft_subprocess_wait(w->p, &w->code, WEFT_FOREVER);
    return 0;
}

static void *wait_thread(void *arg)
{
    struct waiter *w = arg;
    w->rc = weft_subprocess_wait(w->p, &w->code, WEFT_FOREVER);
    return NULL;
}

static int concurrent(void *arg, void **result)
{
    weft_subprocess *p;
    WT_OK(weft_subprocess_shell(&p, "read line; exit 6", &pipes));
    struct waiter w[4];
    weft_future *t[3];
    for (int i = 0; i < 4; i++)
        w[i] = (struct waiter){.p = p, .code = -1, .rc = 1};
    for (int i = 0; i < 3; i++)
        WT_OK(weft_create_task(NULL, wait_task, &w[i], NULL, &t[i]));
    weft_thread *th;
    WT_OK(weft_thread_new(&th, wait_thread, &w[3], NULL));
    WT_OK(weft_thread_start(th));
    weft_sleep(0); /* the tasks start waiting */
    WT_OK(weft_stream_write(weft_subprocess_stdin(p), "go\n", 3));
    WT_OK(weft_subprocess_close_stdin(p, 10));
    for (int i = 0; i < 3; i++) {
        WT_OK(weft_await(t[i], NULL, WEFT_FOREVER));
        weft_future_unref(t[i]);
    }
    WT_OK(weft_thread_join(th, WEFT_FOREVER));
    weft_thread_unref(th);
    for (int i = 0; i < 4; i++) {
        WT_OK(w[i].rc);
        ck_assert_int_eq(w[i].code, 6);
    }
    weft_subprocess_free(p);
    return 0;
}

START_TEST(concurrent_waits)
{
    WT_OK(weft_run(concurrent, NULL, NULL));
}
END_TEST

/* asyncio's test_stdin_broken_pipe: writing more than a pipe holds to a
 * child that exits without reading fails with the pipe's error (Python's
 * BrokenPipeError or ConnectionResetError), never SIGPIPE or a hang; and
 * test_communicate_ignore_broken_pipe: communicate does not fail for it. */
static int broken_stdin(void *arg, void **result)
{
    size_t len = 4u << 20;
    char *data = malloc(len);
    ck_assert_ptr_nonnull(data);
    memset(data, 'x', len);
    weft_subprocess *p;
    WT_OK(weft_subprocess_shell(&p, "exit 1", &(weft_subprocess_opts){
        .stdin_mode = WEFT_SUBPROCESS_PIPE}));
    int code;
    WT_OK(weft_subprocess_wait(p, &code, 10)); /* gone before we write */
    ck_assert_int_eq(code, 1);
    int rc = weft_stream_write(weft_subprocess_stdin(p), data, len);
    if (rc == 0)
        rc = weft_stream_drain(weft_subprocess_stdin(p), 10);
    ck_assert_msg(rc == WEFT_EPIPE || rc == WEFT_ECONNRESET, "write/drain returned %d (%s)",
                  rc, weft_err_name(rc));
    weft_subprocess_free(p);

    WT_OK(weft_subprocess_shell(&p, "exit 1", &(weft_subprocess_opts){
        .stdin_mode = WEFT_SUBPROCESS_PIPE, .stdout_mode = WEFT_SUBPROCESS_PIPE}));
    void *out = NULL;
    size_t outlen = 99;
    WT_OK(weft_subprocess_communicate(p, data, len, &out, &outlen, NULL, NULL, 10));
    ck_assert_uint_eq(outlen, 0);
    free(out);
    WT_OK(weft_subprocess_returncode(p, &code));
    ck_assert_int_eq(code, 1);
    weft_subprocess_free(p);
    free(data);
    return 0;
}

START_TEST(stdin_broken_pipe)
{
    WT_OK(weft_run(broken_stdin, NULL, NULL));
}
END_TEST

/* A second communicate after the child ended: its pipes are at their end,
 * so it returns at once with nothing more read and the same code. */
static int communicate_twice(void *arg, void **result)
{
    weft_subprocess *p;
    WT_OK(weft_subprocess_shell(&p, "echo hi", &pipes));
    void *out = NULL;
    size_t outlen = 0;
    WT_OK(weft_subprocess_communicate(p, NULL, 0, &out, &outlen, NULL, NULL, 10));
    ck_assert_uint_eq(outlen, 3);
    free(out);
    out = NULL;
    WT_OK(weft_subprocess_communicate(p, NULL, 0, &out, &outlen, NULL, NULL, 10));
    ck_assert_uint_eq(outlen, 0);
    free(out);
    WT_ERR(weft_subprocess_communicate(p, "x", 1, NULL, NULL, NULL, NULL, 10), WEFT_EINVAL);
    weft_subprocess_free(p);
    return 0;
}

START_TEST(communicate_after_exit)
{
    WT_OK(weft_run(communicate_twice, NULL, NULL));
}
END_TEST

/* asyncio's test_start_new_session, and process_group=0: the child's
 * process group and session, read from /proc by the child's shell. */
static void group_and_session(const weft_subprocess_opts *o, pid_t *pid, long *pgrp, long *sid)
{
    weft_subprocess_opts oo = *o;
    oo.stdout_mode = WEFT_SUBPROCESS_PIPE;
    weft_subprocess *p;
    WT_OK(weft_subprocess_shell(&p, "read -r pid comm state ppid pgrp sid rest < /proc/$$/stat; "
                                    "echo $pgrp $sid", &oo));
    *pid = weft_subprocess_pid(p);
    void *out = NULL;
    size_t len = 0;
    WT_OK(weft_subprocess_communicate(p, NULL, 0, &out, &len, NULL, NULL, 10));
    ck_assert_int_eq(sscanf(out, "%ld %ld", pgrp, sid), 2);
    free(out);
    weft_subprocess_free(p);
}

START_TEST(new_session_and_group)
{
    pid_t pid;
    long pgrp, sid;
    group_and_session(&(weft_subprocess_opts){0}, &pid, &pgrp, &sid);
    ck_assert_int_eq(pgrp, getpgrp());
    ck_assert_int_eq(sid, getsid(0));
    group_and_session(&(weft_subprocess_opts){.start_new_session = true}, &pid, &pgrp, &sid);
    ck_assert_int_eq(sid, pid);
    ck_assert_int_eq(pgrp, pid);
    group_and_session(&(weft_subprocess_opts){.new_process_group = true}, &pid, &pgrp, &sid);
    ck_assert_int_eq(pgrp, pid);
    ck_assert_int_eq(sid, getsid(0));
    weft_subprocess *p = NULL;
    const char *argv[] = {"true", NULL};
    WT_ERR(weft_subprocess_exec(&p, argv, &(weft_subprocess_opts){.start_new_session = true,
                                                                 .new_process_group = true}),
           WEFT_EINVAL);
    ck_assert_ptr_null(p);
}
END_TEST

WT_MAIN("subprocess", 60, echo_through_cat, exit_codes_and_signals, cancelled_wait,
        communicate_large, communicate_timeout, modes_cwd_env, start_failures,
        two_process_pipeline, many_children_all_reaped, free_kills_running_child,
        free_kills_child_in_coroutine, free_exited_child, concurrent_waits,
        stdin_broken_pipe, communicate_after_exit, new_session_and_group)
