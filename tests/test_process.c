/* weft_process: exit codes, signals, join timeouts, liveness, daemons dying
 * with their parent, names, cpu_count and bad input. Children that must keep
 * running block on a pipe read; the test learns what happened through pipes
 * and exit statuses, never by sleeping. */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "wt.h"

static int return_arg(void *arg)
{
    return (int)(intptr_t)arg;
}

/* Blocks until the pipe's write end is closed everywhere (or it is killed). */
static int block_on_pipe(void *arg)
{
    int fd = *(int *)arg;
    char c;
    while (read(fd, &c, 1) < 0 && errno == EINTR)
        ;
    return 0;
}

/* Takes a pipe's two fds: drops its inherited copy of the write end, so the
 * parent closing its own is EOF, then blocks on the read end. */
static int block_until_closed(void *arg)
{
    int *fds = arg;
    close(fds[1]);
    return block_on_pipe(&fds[0]);
}

static weft_process *start(weft_process_fn fn, void *arg, const weft_process_opts *opts)
{
    weft_process *p = NULL;
    WT_OK(weft_process_new(&p, fn, arg, opts));
    WT_OK(weft_process_start(p));
    return p;
}

static int exit_of(weft_process_fn fn, void *arg)
{
    weft_process *p = start(fn, arg, NULL);
    WT_OK(weft_process_join(p, WEFT_FOREVER));
    int code = 12345;
    WT_OK(weft_process_exitcode(p, &code));
    WT_OK(weft_process_close(p));
    return code;
}

START_TEST(process_exit_codes)
{
    ck_assert_int_eq(exit_of(return_arg, (void *)0), 0);
    ck_assert_int_eq(exit_of(return_arg, (void *)42), 42);
    ck_assert_int_eq(exit_of(return_arg, (void *)0x1ff), 0xff);
    ck_assert_int_eq(exit_of(return_arg, (void *)(intptr_t)WEFT_EINVAL), 1);
    ck_assert_int_eq(exit_of(return_arg, (void *)(intptr_t)WEFT_ESTATE), 1);
}
END_TEST

static void signal_test(int (*send)(weft_process *), int want)
{
    int fds[2];
    ck_assert_int_eq(pipe(fds), 0);
    /* Check's SIGTERM handler, inherited, would kill the whole test. */
    signal(SIGTERM, SIG_DFL);
    weft_process *p = start(block_on_pipe, &fds[0], NULL);
    ck_assert(weft_process_is_alive(p));
    int code;
    WT_ERR(weft_process_exitcode(p, &code), WEFT_ESTATE);
    WT_ERR(weft_process_close(p), WEFT_ESTATE);
    WT_OK(send(p));
    WT_OK(weft_process_join(p, WEFT_FOREVER));
    ck_assert(!weft_process_is_alive(p));
    WT_OK(weft_process_exitcode(p, &code));
    ck_assert_int_eq(code, want);
    /* Signals after the reap are no-ops. */
    WT_OK(weft_process_kill(p));
    WT_OK(weft_process_terminate(p));
    WT_OK(weft_process_close(p));
    close(fds[0]);
    close(fds[1]);
}

START_TEST(process_killed)
{
    signal_test(weft_process_kill, -SIGKILL);
}
END_TEST

START_TEST(process_terminated)
{
    signal_test(weft_process_terminate, -SIGTERM);
}
END_TEST

START_TEST(process_join_timeout)
{
    int fds[2];
    ck_assert_int_eq(pipe(fds), 0);
    weft_process *p;
    WT_OK(weft_process_new(&p, block_until_closed, fds, NULL));
    ck_assert(!weft_process_is_alive(p));
    ck_assert_int_eq(weft_process_pid(p), 0);
    WT_OK(weft_process_start(p));
    ck_assert_int_gt(weft_process_pid(p), 0);
    WT_ERR(weft_process_join(p, 0), WEFT_ETIMEDOUT);
    WT_ERR(weft_process_join(p, 0.05), WEFT_ETIMEDOUT);
    ck_assert(weft_process_is_alive(p));
    /* Closing the write end everywhere lets the child return 0. */
    close(fds[1]);
    WT_OK(weft_process_join(p, 30));
    ck_assert(!weft_process_is_alive(p));
    int code;
    WT_OK(weft_process_exitcode(p, &code));
    ck_assert_int_eq(code, 0);
    WT_OK(weft_process_join(p, 0));
    weft_process_free(p);
    close(fds[0]);
}
END_TEST

extern bool weft__process_no_pidfd;

/* The wait for kernels without pidfd_open: the same timeouts and results. */
START_TEST(process_join_without_pidfd)
{
    weft__process_no_pidfd = true;
    int fds[2];
    ck_assert_int_eq(pipe(fds), 0);
    weft_process *p;
    WT_OK(weft_process_new(&p, block_until_closed, fds, NULL));
    WT_OK(weft_process_start(p));
    WT_ERR(weft_process_join(p, 0), WEFT_ETIMEDOUT);
    WT_ERR(weft_process_join(p, 0.05), WEFT_ETIMEDOUT);
    ck_assert(weft_process_is_alive(p));
    close(fds[1]);
    WT_OK(weft_process_join(p, 30));
    int code;
    WT_OK(weft_process_exitcode(p, &code));
    ck_assert_int_eq(code, 0);
    WT_OK(weft_process_close(p));
    close(fds[0]);
    ck_assert_int_eq(exit_of(return_arg, (void *)9), 9);
}
END_TEST

/* free of a running child waits for it: the pipe lets it finish. */
START_TEST(process_free_running)
{
    int fds[2];
    ck_assert_int_eq(pipe(fds), 0);
    weft_process *p = start(block_until_closed, fds, NULL);
    pid_t pid = weft_process_pid(p);
    close(fds[1]);
    weft_process_free(p);
    /* Reaped: no zombie is left under that pid for us. */
    ck_assert_int_eq(waitpid(pid, NULL, WNOHANG), -1);
    ck_assert_int_eq(errno, ECHILD);
    close(fds[0]);
}
END_TEST

struct middle_args {
    int report; /* write end: the grandchild's pid goes here, held by the grandchild */
    int hold;   /* read end of a pipe nobody writes: keeps the middle running */
    int gdaemon; /* the grandchild's daemon option */
};

static int grandchild(void *arg)
{
    return block_on_pipe(arg);
}

static int middle(void *arg)
{
    struct middle_args *a = arg;
    weft_process_opts o = {.daemon = a->gdaemon};
    weft_process *g;
    if (weft_process_new(&g, grandchild, &a->hold, &o) || weft_process_start(g))
        return 2;
    pid_t pid = weft_process_pid(g);
    if (write(a->report, &pid, sizeof pid) != sizeof pid)
        return 3;
    return block_on_pipe(&a->hold);
}

START_TEST(process_daemon_dies_with_parent)
{
    /* Orphans come to us instead of init, so we can reap the grandchild
     * and see how it died. */
    ck_assert_int_eq(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
    int report[2], hold[2];
    ck_assert_int_eq(pipe(report), 0);
    ck_assert_int_eq(pipe(hold), 0);
    struct middle_args a = {.report = report[1], .hold = hold[0], .gdaemon = WEFT_DAEMON_YES};
    weft_process *m = start(middle, &a, NULL);
    close(report[1]);
    pid_t gpid = 0;
    ck_assert_int_eq(read(report[0], &gpid, sizeof gpid), (ssize_t)sizeof gpid);
    ck_assert_int_gt(gpid, 0);
    WT_OK(weft_process_kill(m));
    WT_OK(weft_process_join(m, WEFT_FOREVER));
    int code;
    WT_OK(weft_process_exitcode(m, &code));
    ck_assert_int_eq(code, -SIGKILL);
    /* EOF once every holder of report's write end is gone: the middle
     * (killed) and the grandchild (killed by its parent-death signal). */
    char c;
    ck_assert_int_eq(read(report[0], &c, 1), 0);
    int st;
    ck_assert_int_eq(waitpid(gpid, &st, 0), gpid);
    ck_assert(WIFSIGNALED(st));
    ck_assert_int_eq(WTERMSIG(st), SIGKILL);
    ck_assert_int_eq(kill(gpid, 0), -1);
    ck_assert_int_eq(errno, ESRCH);
    WT_OK(weft_process_close(m));
    close(report[0]);
    close(hold[0]);
    close(hold[1]);
}
END_TEST

/* A non-daemon grandchild survives its parent's death: it is still running
 * after the middle was reaped, and the SIGTERM we then send is what kills it
 * (a pending parent-death SIGKILL would have won). */
START_TEST(process_non_daemon_survives)
{
    ck_assert_int_eq(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
    signal(SIGTERM, SIG_DFL); /* as in signal_test */
    int report[2], hold[2];
    ck_assert_int_eq(pipe(report), 0);
    ck_assert_int_eq(pipe(hold), 0);
    struct middle_args a = {.report = report[1], .hold = hold[0], .gdaemon = WEFT_DAEMON_NO};
    weft_process *m = start(middle, &a, NULL);
    close(report[1]);
    pid_t gpid = 0;
    ck_assert_int_eq(read(report[0], &gpid, sizeof gpid), (ssize_t)sizeof gpid);
    WT_OK(weft_process_kill(m));
    WT_OK(weft_process_join(m, WEFT_FOREVER));
    int st;
    ck_assert_int_eq(waitpid(gpid, &st, WNOHANG), 0);
    ck_assert_int_eq(kill(gpid, SIGTERM), 0);
    ck_assert_int_eq(waitpid(gpid, &st, 0), gpid);
    ck_assert(WIFSIGNALED(st));
    ck_assert_int_eq(WTERMSIG(st), SIGTERM);
    WT_OK(weft_process_close(m));
    close(report[0]);
    close(hold[0]);
    close(hold[1]);
}
END_TEST

static int check_identity(void *arg)
{
    const char *want = arg;
    if (strcmp(weft_current_process_name(), want) != 0)
        return 3;
    if (weft_parent_pid() != getppid())
        return 4;
    return 0;
}

START_TEST(process_names)
{
    ck_assert_str_eq(weft_current_process_name(), "MainProcess");
    ck_assert_int_eq(weft_parent_pid(), 0);
    weft_process *a, *b;
    WT_OK(weft_process_new(&a, check_identity, NULL, NULL));
    ck_assert(strncmp(weft_process_name(a), "Process-", 8) == 0);
    ck_assert(!weft_process_daemon(a));
    weft_process_opts o = {.name = "worker", .daemon = WEFT_DAEMON_YES};
    WT_OK(weft_process_new(&b, check_identity, (void *)"worker", &o));
    ck_assert_str_eq(weft_process_name(b), "worker");
    ck_assert(weft_process_daemon(b));
    ck_assert_str_ne(weft_process_name(a), weft_process_name(b));
    weft_process_free(a);
    WT_OK(weft_process_start(b));
    WT_OK(weft_process_join(b, WEFT_FOREVER));
    int code;
    WT_OK(weft_process_exitcode(b, &code));
    ck_assert_int_eq(code, 0);
    WT_OK(weft_process_close(b));
    ck_assert_uint_ge(weft_cpu_count(), 1);
}
END_TEST

START_TEST(process_bad_input)
{
    weft_process *p;
    WT_ERR(weft_process_new(NULL, return_arg, NULL, NULL), WEFT_EINVAL);
    WT_ERR(weft_process_new(&p, NULL, NULL, NULL), WEFT_EINVAL);
    weft_process_opts o = {.daemon = 7};
    WT_ERR(weft_process_new(&p, return_arg, NULL, &o), WEFT_EINVAL);
    WT_ERR(weft_process_start(NULL), WEFT_EINVAL);
    WT_ERR(weft_process_join(NULL, 0), WEFT_EINVAL);
    WT_ERR(weft_process_terminate(NULL), WEFT_EINVAL);
    WT_ERR(weft_process_kill(NULL), WEFT_EINVAL);
    WT_ERR(weft_process_close(NULL), WEFT_EINVAL);
    int code;
    WT_ERR(weft_process_exitcode(NULL, &code), WEFT_EINVAL);
    ck_assert(!weft_process_is_alive(NULL));
    ck_assert_int_eq(weft_process_pid(NULL), 0);
    ck_assert_ptr_null(weft_process_name(NULL));
    weft_process_free(NULL);

    WT_OK(weft_process_new(&p, return_arg, (void *)5, NULL));
    WT_ERR(weft_process_exitcode(p, NULL), WEFT_EINVAL);
    WT_ERR(weft_process_join(p, 0), WEFT_ESTATE);
    WT_ERR(weft_process_exitcode(p, &code), WEFT_ESTATE);
    WT_ERR(weft_process_terminate(p), WEFT_ESTATE);
    WT_ERR(weft_process_kill(p), WEFT_ESTATE);
    WT_ERR(weft_process_join(p, -0.5), WEFT_EINVAL);
    WT_ERR(weft_process_join(p, NAN), WEFT_EINVAL);
    WT_OK(weft_process_start(p));
    WT_ERR(weft_process_start(p), WEFT_ESTATE);
    WT_ERR(weft_process_join(p, -0.5), WEFT_EINVAL);
    WT_ERR(weft_process_join(p, NAN), WEFT_EINVAL);
    WT_OK(weft_process_join(p, WEFT_FOREVER));
    WT_ERR(weft_process_start(p), WEFT_ESTATE);
    WT_OK(weft_process_exitcode(p, &code));
    ck_assert_int_eq(code, 5);
    WT_OK(weft_process_close(p));
    /* An unstarted object closes and frees too. */
    WT_OK(weft_process_new(&p, return_arg, NULL, NULL));
    WT_OK(weft_process_close(p));
}
END_TEST

WT_MAIN("process", 30, process_exit_codes, process_killed, process_terminated,
        process_join_timeout, process_join_without_pidfd, process_free_running, process_daemon_dies_with_parent,
        process_non_daemon_survives, process_names, process_bad_input)
