/* weft_process: exit codes, signals, join timeouts, liveness, daemons dying
 * with their parent, names, cpu_count and bad input. Children that must keep
 * running block on a pipe read; the test learns what happened through pipes
 * and exit statuses, never by sleeping.
 *
 * Every test runs under the start method TEST_METHOD: fork here, and
 * forkserver in test_forkserver.c, which includes this file. So children
 * get their arguments by copy (arg_size) and the pipe ends they use are
 * registered with the share module, which is how a forkserver child gets
 * fds; under fork both are harmless. */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "internal/share.h"
#include "wt.h"

#ifndef TEST_METHOD
#define TEST_METHOD WEFT_START_FORK
#endif

static void use_method(void)
{
    WT_OK(weft_set_start_method(TEST_METHOD));
    ck_assert_int_eq(weft_get_start_method(), TEST_METHOD);
}

static bool served(void)
{
    return weft_get_start_method() == WEFT_START_FORKSERVER;
}

static weft_process_opts with_arg(size_t size)
{
    return (weft_process_opts){.arg_size = size};
}

static void make_pipe(int fds[2], bool share_read, bool share_write)
{
    ck_assert_int_eq(pipe(fds), 0);
    if (share_read)
        WT_OK(weft__share_fd_add(fds[0]));
    if (share_write)
        WT_OK(weft__share_fd_add(fds[1]));
}

static void close_pipe_end(int fd)
{
    weft__share_fd_remove(fd); /* nothing if it was not registered */
    close(fd);
}

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

struct until_closed {
    int rd;
    int wr; /* the write end a fork child inherited, or -1 (forkserver) */
};

/* Drops its inherited copy of the write end, if any, so the parent closing
 * its own is EOF, then blocks on the read end. */
static int block_until_closed(void *arg)
{
    struct until_closed *u = arg;
    if (u->wr >= 0)
        close(u->wr);
    return block_on_pipe(&u->rd);
}

static struct until_closed until_closed_of(const int fds[2])
{
    return (struct until_closed){.rd = fds[0], .wr = served() ? -1 : fds[1]};
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
    weft_process_free(p);
    return code;
}

START_TEST(process_exit_codes)
{
    use_method();
    ck_assert_int_eq(exit_of(return_arg, (void *)0), 0);
    ck_assert_int_eq(exit_of(return_arg, (void *)42), 42);
    ck_assert_int_eq(exit_of(return_arg, (void *)0x1ff), 0xff);
    ck_assert_int_eq(exit_of(return_arg, (void *)(intptr_t)WEFT_EINVAL), 1);
    ck_assert_int_eq(exit_of(return_arg, (void *)(intptr_t)WEFT_ESTATE), 1);
}
END_TEST

static void signal_test(int (*send)(weft_process *), int want)
{
    use_method();
    int fds[2];
    make_pipe(fds, true, false);
    /* Check's SIGTERM handler, inherited by a fork child, would kill the
     * whole test. */
    signal(SIGTERM, SIG_DFL);
    weft_process_opts o = with_arg(sizeof(int));
    weft_process *p = start(block_on_pipe, &fds[0], &o);
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
    weft_process_free(p);
    close_pipe_end(fds[0]);
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
    use_method();
    int fds[2];
    make_pipe(fds, true, false);
    struct until_closed u = until_closed_of(fds);
    weft_process_opts o = with_arg(sizeof u);
    weft_process *p;
    WT_OK(weft_process_new(&p, block_until_closed, &u, &o));
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
    close_pipe_end(fds[0]);
}
END_TEST

extern bool weft__process_no_pidfd;

/* The wait for kernels without pidfd_open: the same timeouts and results. */
START_TEST(process_join_without_pidfd)
{
    use_method();
    weft__process_no_pidfd = true;
    int fds[2];
    make_pipe(fds, true, false);
    struct until_closed u = until_closed_of(fds);
    weft_process_opts o = with_arg(sizeof u);
    weft_process *p;
    WT_OK(weft_process_new(&p, block_until_closed, &u, &o));
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
    weft_process_free(p);
    close_pipe_end(fds[0]);
    ck_assert_int_eq(exit_of(return_arg, (void *)9), 9);
}
END_TEST

/* free of a running child waits for it: the pipe lets it finish. */
START_TEST(process_free_running)
{
    use_method();
    int fds[2];
    make_pipe(fds, true, false);
    struct until_closed u = until_closed_of(fds);
    weft_process_opts o = with_arg(sizeof u);
    weft_process *p = start(block_until_closed, &u, &o);
    pid_t pid = weft_process_pid(p);
    close(fds[1]);
    weft_process_free(p);
    /* Reaped: no zombie is left under that pid for us. */
    ck_assert_int_eq(waitpid(pid, NULL, WNOHANG), -1);
    ck_assert_int_eq(errno, ECHILD);
    close_pipe_end(fds[0]);
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

/* Tests: the forkserver's pid in this process, 0 if it has none. */
pid_t weft__forkserver_pid(void);

/* Reports the grandchild's pid, and the pid of the server that forked it
 * (0 under fork: the grandchild is its own child then). */
static int middle(void *arg)
{
    struct middle_args *a = arg;
    weft_process_opts o = {.daemon = a->gdaemon, .arg_size = sizeof a->hold};
    weft_process *g;
    if (weft_process_new(&g, grandchild, &a->hold, &o) || weft_process_start(g))
        return 2;
    pid_t pids[2] = {weft_process_pid(g), weft__forkserver_pid()};
    if (write(a->report, pids, sizeof pids) != sizeof pids)
        return 3;
    return block_on_pipe(&a->hold);
}

static pid_t read_middle_report(int fd, pid_t *server)
{
    pid_t pids[2] = {0, 0};
    ck_assert_int_eq(read(fd, pids, sizeof pids), (ssize_t)sizeof pids);
    ck_assert_int_gt(pids[0], 0);
    *server = pids[1];
    return pids[0];
}

/* Under forkserver the grandchild is the middle's server's child: it comes
 * to us (the subreaper) once that server is gone too. The server exits when
 * it sees its parent die, after killing its daemons. */
static void wait_middle_server(pid_t server)
{
    if (!server)
        return;
    int st;
    ck_assert_int_eq(waitpid(server, &st, 0), server);
    ck_assert(WIFEXITED(st));
    ck_assert_int_eq(WEXITSTATUS(st), 0);
}

START_TEST(process_daemon_dies_with_parent)
{
    use_method();
    /* Orphans come to us instead of init, so we can reap the grandchild
     * and see how it died. */
    ck_assert_int_eq(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
    int report[2], hold[2];
    pid_t server;
    make_pipe(report, false, true);
    make_pipe(hold, true, false);
    struct middle_args a = {.report = report[1], .hold = hold[0], .gdaemon = WEFT_DAEMON_YES};
    weft_process_opts o = with_arg(sizeof a);
    weft_process *m = start(middle, &a, &o);
    close_pipe_end(report[1]);
    pid_t gpid = read_middle_report(report[0], &server);
    WT_OK(weft_process_kill(m));
    WT_OK(weft_process_join(m, WEFT_FOREVER));
    wait_middle_server(server);
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
    weft_process_free(m);
    close(report[0]);
    close_pipe_end(hold[0]);
    close(hold[1]);
}
END_TEST

/* A non-daemon grandchild survives its parent's death: it is still running
 * after the middle was reaped, and the SIGTERM we then send is what kills it
 * (a pending parent-death SIGKILL would have won). */
START_TEST(process_non_daemon_survives)
{
    use_method();
    ck_assert_int_eq(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
    signal(SIGTERM, SIG_DFL); /* as in signal_test */
    int report[2], hold[2];
    pid_t server;
    make_pipe(report, false, true);
    make_pipe(hold, true, false);
    struct middle_args a = {.report = report[1], .hold = hold[0], .gdaemon = WEFT_DAEMON_NO};
    weft_process_opts o = with_arg(sizeof a);
    weft_process *m = start(middle, &a, &o);
    close_pipe_end(report[1]);
    pid_t gpid = read_middle_report(report[0], &server);
    WT_OK(weft_process_kill(m));
    WT_OK(weft_process_join(m, WEFT_FOREVER));
    wait_middle_server(server);
    int st;
    ck_assert_int_eq(waitpid(gpid, &st, WNOHANG), 0);
    ck_assert_int_eq(kill(gpid, SIGTERM), 0);
    ck_assert_int_eq(waitpid(gpid, &st, 0), gpid);
    ck_assert(WIFSIGNALED(st));
    ck_assert_int_eq(WTERMSIG(st), SIGTERM);
    WT_OK(weft_process_close(m));
    weft_process_free(m);
    close(report[0]);
    close_pipe_end(hold[0]);
    close(hold[1]);
}
END_TEST

struct identity {
    char name[32];
    pid_t parent; /* the process that started it (not the forkserver) */
};

static int check_identity(void *arg)
{
    const struct identity *want = arg;
    if (strcmp(weft_current_process_name(), want->name) != 0)
        return 3;
    if (weft_parent_pid() != want->parent)
        return 4;
    return 0;
}

START_TEST(process_names)
{
    use_method();
    ck_assert_str_eq(weft_current_process_name(), "MainProcess");
    ck_assert_int_eq(weft_parent_pid(), 0);
    weft_process *a, *b;
    WT_OK(weft_process_new(&a, check_identity, NULL, NULL));
    ck_assert(strncmp(weft_process_name(a), "Process-", 8) == 0);
    ck_assert(!weft_process_daemon(a));
    struct identity id = {.name = "worker", .parent = getpid()};
    weft_process_opts o = {.name = "worker", .daemon = WEFT_DAEMON_YES, .arg_size = sizeof id};
    WT_OK(weft_process_new(&b, check_identity, &id, &o));
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
    weft_process_free(b);
    ck_assert_uint_ge(weft_cpu_count(), 1);
}
END_TEST

START_TEST(process_bad_input)
{
    use_method();
    weft_process *p;
    WT_ERR(weft_process_new(NULL, return_arg, NULL, NULL), WEFT_EINVAL);
    WT_ERR(weft_process_new(&p, NULL, NULL, NULL), WEFT_EINVAL);
    weft_process_opts o = {.daemon = 7};
    WT_ERR(weft_process_new(&p, return_arg, NULL, &o), WEFT_EINVAL);
    o = (weft_process_opts){.start_method = 3};
    WT_ERR(weft_process_new(&p, return_arg, NULL, &o), WEFT_EINVAL);
    o = (weft_process_opts){.start_method = -1};
    WT_ERR(weft_process_new(&p, return_arg, NULL, &o), WEFT_EINVAL);
    o = (weft_process_opts){.arg_size = 4}; /* bytes to copy, from NULL */
    WT_ERR(weft_process_new(&p, return_arg, NULL, &o), WEFT_EINVAL);
    WT_ERR(weft_set_start_method((enum weft_start_method)7), WEFT_EINVAL);
    ck_assert_int_eq(weft_get_start_method(), TEST_METHOD);
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
    weft_process_free(p);
    /* An unstarted object closes and frees too. */
    WT_OK(weft_process_new(&p, return_arg, NULL, NULL));
    WT_OK(weft_process_close(p));
    weft_process_free(p);
}
END_TEST


/* ------------------------------------------ Python-faithful additions */

#include <poll.h>

struct thread_child {
    int go;       /* read end: the thread waits for a byte here */
    int report;   /* write end: "r" when fn returned, "t" when the thread ends */
    bool daemon;  /* the thread's daemon flag */
};

static void *child_thread(void *arg)
{
    const struct thread_child *c = arg;
    char b;
    while (read(c->go, &b, 1) < 0 && errno == EINTR)
        ;
    if (!c->daemon && write(c->report, "t", 1) != 1)
        return NULL;
    return NULL;
}

/* Starts a thread that waits for `go`, says fn returned, and returns. */
static int start_thread_and_return(void *arg)
{
    struct thread_child *c = arg;
    weft_thread_opts o = {.daemon = c->daemon ? WEFT_DAEMON_YES : WEFT_DAEMON_NO};
    weft_thread *t;
    if (weft_thread_new(&t, child_thread, c, &o) || weft_thread_start(t))
        return 2;
    weft_thread_unref(t);
    return write(c->report, "r", 1) == 1 ? 0 : 3;
}

/* Python's child runs threading._shutdown once its target returns: the
 * child stays alive while a non-daemon thread it started still runs, and
 * exits with the target's code once that thread is done. */
START_TEST(process_waits_for_non_daemon_threads)
{
    use_method();
    int go[2], report[2];
    make_pipe(go, true, false);
    make_pipe(report, false, true);
    struct thread_child c = {.go = go[0], .report = report[1], .daemon = false};
    weft_process_opts o = with_arg(sizeof c);
    weft_process *p = start(start_thread_and_return, &c, &o);
    close_pipe_end(report[1]);
    char b = 0;
    ck_assert_int_eq(read(report[0], &b, 1), 1);
    ck_assert_int_eq(b, 'r'); /* fn has returned */
    /* The thread blocks on `go`, so the child must not have exited. */
    WT_ERR(weft_process_join(p, 0.2), WEFT_ETIMEDOUT);
    ck_assert(weft_process_is_alive(p));
    ck_assert_int_eq(write(go[1], "g", 1), 1);
    ck_assert_int_eq(read(report[0], &b, 1), 1);
    ck_assert_int_eq(b, 't');
    WT_OK(weft_process_join(p, WEFT_FOREVER));
    int code;
    WT_OK(weft_process_exitcode(p, &code));
    ck_assert_int_eq(code, 0);
    WT_OK(weft_process_close(p));
    weft_process_free(p);
    close(report[0]);
    close_pipe_end(go[0]);
    close(go[1]);
}
END_TEST

/* A daemon thread does not keep the child: it ends with it. */
START_TEST(process_does_not_wait_for_daemon_threads)
{
    use_method();
    int go[2], report[2];
    make_pipe(go, true, false);
    make_pipe(report, false, true);
    struct thread_child c = {.go = go[0], .report = report[1], .daemon = true};
    weft_process_opts o = with_arg(sizeof c);
    weft_process *p = start(start_thread_and_return, &c, &o);
    close_pipe_end(report[1]);
    WT_OK(weft_process_join(p, WEFT_FOREVER)); /* nobody ever writes `go` */
    int code;
    WT_OK(weft_process_exitcode(p, &code));
    ck_assert_int_eq(code, 0);
    WT_OK(weft_process_close(p));
    weft_process_free(p);
    close(report[0]);
    close_pipe_end(go[0]);
    close(go[1]);
}
END_TEST

static bool in_children(const weft_process *p)
{
    weft_process *out[16];
    size_t n = 99;
    WT_OK(weft_active_children(out, 16, &n));
    ck_assert_uint_le(n, 16);
    for (size_t i = 0; i < n; i++)
        if (out[i] == p)
            return true;
    return false;
}

static void wait_sentinel(const weft_process *p)
{
    int fd = -1;
    WT_OK(weft_process_sentinel(p, &fd));
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    int r;
    while ((r = poll(&pfd, 1, -1)) < 0 && errno == EINTR)
        ;
    ck_assert_int_eq(r, 1);
}

/* Python's active_children(): a process is listed from its start while it
 * runs; one that ended is reaped by the call and no longer listed, and
 * its exit code is known without a join. */
START_TEST(process_active_children)
{
    use_method();
    int fds[2];
    make_pipe(fds, true, false);
    struct until_closed u = until_closed_of(fds);
    weft_process_opts o = with_arg(sizeof u);
    weft_process *p, *q;
    WT_OK(weft_process_new(&p, block_until_closed, &u, &o));
    ck_assert(!in_children(p));
    WT_OK(weft_process_start(p));
    ck_assert(in_children(p));
    q = start(return_arg, (void *)7, NULL);
    WT_OK(weft_process_join(q, WEFT_FOREVER));
    ck_assert(!in_children(q));
    size_t n = 99;
    WT_OK(weft_active_children(NULL, 0, &n)); /* count only */
    ck_assert_uint_eq(n, 1);
    weft_process *one = NULL;
    WT_OK(weft_active_children(&one, 1, &n));
    ck_assert_uint_eq(n, 1);
    ck_assert_ptr_eq(one, p);
    close(fds[1]);
    wait_sentinel(p);
    ck_assert(!in_children(p));
    int code = -1;
    WT_OK(weft_process_exitcode(p, &code)); /* no join needed */
    ck_assert_int_eq(code, 0);
    WT_OK(weft_active_children(NULL, 0, &n));
    ck_assert_uint_eq(n, 0);
    WT_ERR(weft_active_children(NULL, 0, NULL), WEFT_EINVAL);
    WT_ERR(weft_active_children(NULL, 3, &n), WEFT_EINVAL);
    WT_OK(weft_process_close(p));
    weft_process_free(p);
    WT_OK(weft_process_close(q));
    weft_process_free(q);
    close_pipe_end(fds[0]);
}
END_TEST

/* A freed process leaves the list, even while its child ran. */
START_TEST(process_free_leaves_active_children)
{
    use_method();
    weft_process *p = start(return_arg, (void *)0, NULL);
    weft_process_free(p); /* joins it */
    size_t n = 99;
    WT_OK(weft_active_children(NULL, 0, &n));
    ck_assert_uint_eq(n, 0);
}
END_TEST

static int count_children(void *arg)
{
    size_t n = 99;
    if (weft_active_children(NULL, 0, &n))
        return 2;
    return (int)n; /* the parent's children are not ours */
}

/* A child starts with no children of its own, whatever its parent has. */
START_TEST(process_child_has_no_children)
{
    use_method();
    int fds[2];
    make_pipe(fds, true, false);
    struct until_closed u = until_closed_of(fds);
    weft_process_opts o = with_arg(sizeof u);
    weft_process *p = start(block_until_closed, &u, &o);
    ck_assert_int_eq(exit_of(count_children, NULL), 0);
    close(fds[1]);
    WT_OK(weft_process_join(p, WEFT_FOREVER));
    WT_OK(weft_process_close(p));
    weft_process_free(p);
    close_pipe_end(fds[0]);
}
END_TEST

static int sentinel_ready(int fd)
{
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    return poll(&pfd, 1, 0);
}

static void sentinel_test(void)
{
    int fd = 5;
    weft_process *p;
    int fds[2];
    make_pipe(fds, true, false);
    struct until_closed u = until_closed_of(fds);
    weft_process_opts o = with_arg(sizeof u);
    WT_OK(weft_process_new(&p, block_until_closed, &u, &o));
    WT_ERR(weft_process_sentinel(p, &fd), WEFT_ESTATE); /* Python: ValueError */
    ck_assert_int_eq(fd, -1);
    WT_ERR(weft_process_sentinel(p, NULL), WEFT_EINVAL);
    WT_ERR(weft_process_sentinel(NULL, &fd), WEFT_EINVAL);
    WT_OK(weft_process_start(p));
    WT_OK(weft_process_sentinel(p, &fd));
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(sentinel_ready(fd), 0);
    close(fds[1]);
    wait_sentinel(p);
    WT_OK(weft_process_join(p, WEFT_FOREVER));
    ck_assert(!weft_process_is_alive(p));
    ck_assert_int_eq(sentinel_ready(fd), 1); /* stays readable */
    WT_OK(weft_process_close(p));
    WT_ERR(weft_process_sentinel(p, &fd), WEFT_ESTATE);
    weft_process_free(p);
    close_pipe_end(fds[0]);
}

/* Python's sentinel: readable once the child ended, not before. */
START_TEST(process_sentinel)
{
    use_method();
    sentinel_test();
}
END_TEST

/* The same where the kernel has no pidfd_open (fork: a pipe). */
START_TEST(process_sentinel_without_pidfd)
{
    use_method();
    weft__process_no_pidfd = true;
    sentinel_test();
}
END_TEST

/* Once the sentinel is readable the child is known to be gone: is_alive
 * is false and join does not wait, whatever the start method. */
START_TEST(process_sentinel_then_is_alive)
{
    use_method();
    for (int i = 0; i < 20; i++) {
        weft_process *p = start(return_arg, (void *)(intptr_t)i, NULL);
        wait_sentinel(p);
        ck_assert(!weft_process_is_alive(p));
        WT_OK(weft_process_join(p, 0));
        int code;
        WT_OK(weft_process_exitcode(p, &code));
        ck_assert_int_eq(code, i);
        WT_OK(weft_process_close(p));
        weft_process_free(p);
    }
}
END_TEST

/* Python 3.14's interrupt(): SIGINT, the exit code -SIGINT. */
START_TEST(process_interrupted)
{
    signal(SIGINT, SIG_DFL);
    signal_test(weft_process_interrupt, -SIGINT);
}
END_TEST

/* After close, Python raises ValueError from join, terminate, kill and
 * sentinel: WEFT_ESTATE; the identity and exit code stay readable. */
START_TEST(process_closed_refuses)
{
    use_method();
    weft_process *p = start(return_arg, (void *)4, NULL);
    WT_OK(weft_process_join(p, WEFT_FOREVER));
    pid_t pid = weft_process_pid(p);
    WT_OK(weft_process_close(p));
    WT_OK(weft_process_close(p)); /* a second close is 0 */
    WT_ERR(weft_process_join(p, 0), WEFT_ESTATE);
    WT_ERR(weft_process_join(p, WEFT_FOREVER), WEFT_ESTATE);
    WT_ERR(weft_process_terminate(p), WEFT_ESTATE);
    WT_ERR(weft_process_kill(p), WEFT_ESTATE);
    WT_ERR(weft_process_interrupt(p), WEFT_ESTATE);
    WT_ERR(weft_process_start(p), WEFT_ESTATE);
    int code, fd;
    WT_ERR(weft_process_sentinel(p, &fd), WEFT_ESTATE);
    ck_assert(!weft_process_is_alive(p));
    WT_OK(weft_process_exitcode(p, &code));
    ck_assert_int_eq(code, 4);
    ck_assert_int_eq(weft_process_pid(p), pid);
    ck_assert(weft_process_name(p) != NULL);
    WT_ERR(weft_process_interrupt(NULL), WEFT_EINVAL);
    weft_process_free(p);
}
END_TEST

/* Python's _test_terminate_or_kill: a live child is listed, join(0) times
 * out, and after terminate it is gone from the list with -SIGTERM. */
START_TEST(process_terminate_lifecycle)
{
    use_method();
    signal(SIGTERM, SIG_DFL);
    int fds[2];
    make_pipe(fds, true, false);
    weft_process_opts o = with_arg(sizeof(int));
    weft_process *p = start(block_on_pipe, &fds[0], &o);
    ck_assert(weft_process_is_alive(p));
    ck_assert(in_children(p));
    int code;
    WT_ERR(weft_process_exitcode(p, &code), WEFT_ESTATE);
    WT_ERR(weft_process_join(p, 0), WEFT_ETIMEDOUT);
    ck_assert(weft_process_is_alive(p));
    WT_OK(weft_process_terminate(p));
    WT_OK(weft_process_join(p, WEFT_FOREVER));
    ck_assert(!weft_process_is_alive(p));
    ck_assert(!in_children(p));
    WT_OK(weft_process_exitcode(p, &code));
    ck_assert_int_eq(code, -SIGTERM);
    WT_OK(weft_process_close(p));
    weft_process_free(p);
    close_pipe_end(fds[0]);
    close(fds[1]);
}
END_TEST


static int use_parents_process(void *arg)
{
    weft_process *sibling = *(weft_process **)arg;
    int code, fd;
    if (weft_process_join(sibling, 0) != WEFT_ESTATE)
        return 2;
    if (weft_process_is_alive(sibling))
        return 3;
    if (weft_process_exitcode(sibling, &code) != WEFT_ESTATE)
        return 4;
    if (weft_process_kill(sibling) != WEFT_ESTATE)
        return 5;
    if (weft_process_sentinel(sibling, &fd) != WEFT_ESTATE)
        return 6;
    if (weft_process_close(sibling) != WEFT_ESTATE || weft_process_start(sibling) != WEFT_ESTATE)
        return 7;
    if (weft_process_pid(sibling) <= 0)
        return 8;
    return 0;
}

/* Python: "can only join a child process". A fork child that reaches its
 * parent's process object (memory is shared by copy) may not wait for,
 * reap or signal that child, which is its sibling: before, its join read
 * the sibling as ended with code 255. */
START_TEST(process_foreign_object)
{
    use_method();
    if (served())
        return; /* a forkserver child has no copy of the parent's memory */
    int fds[2];
    make_pipe(fds, true, false);
    struct until_closed u = until_closed_of(fds);
    weft_process_opts o = with_arg(sizeof u);
    weft_process *sibling = start(block_until_closed, &u, &o);
    ck_assert_int_eq(exit_of(use_parents_process, &sibling), 0);
    ck_assert(weft_process_is_alive(sibling));
    close(fds[1]);
    WT_OK(weft_process_join(sibling, WEFT_FOREVER));
    int code;
    WT_OK(weft_process_exitcode(sibling, &code));
    ck_assert_int_eq(code, 0);
    WT_OK(weft_process_close(sibling));
    weft_process_free(sibling);
    close_pipe_end(fds[0]);
}
END_TEST


struct coro_join {
    weft_process *p;
    int rc;
    bool started;
};

static int join_task(void *arg, void **result)
{
    struct coro_join *j = arg;
    j->started = true;
    j->rc = weft_process_join(j->p, WEFT_FOREVER);
    return j->rc;
}

struct coro_join_args {
    weft_process *p;
    int release; /* write end: closing it lets the child end */
};

/* The joining task is suspended, not its loop: this coroutine still runs,
 * cancels one joiner, and lets the child end, which the other sees. */
static int join_in_coroutine(void *arg, void **result)
{
    struct coro_join_args *a = arg;
    struct coro_join j1 = {.p = a->p, .rc = 1}, j2 = {.p = a->p, .rc = 1};
    weft_future *t1, *t2;
    WT_OK(weft_create_task(NULL, join_task, &j1, NULL, &t1));
    WT_OK(weft_create_task(NULL, join_task, &j2, NULL, &t2));
    while (!j1.started || !j2.started)
        weft_sleep(0);
    weft_sleep(0);
    ck_assert(!weft_future_done(t1));
    ck_assert(weft_process_is_alive(a->p));
    ck_assert(weft_future_cancel(t2));
    WT_ERR(weft_await(t2, NULL, WEFT_FOREVER), WEFT_ECANCELLED);
    ck_assert_int_eq(j2.rc, WEFT_ECANCELLED);
    ck_assert(weft_process_is_alive(a->p)); /* a cancelled join leaves it running */
    WT_ERR(weft_process_join(a->p, 0.01), WEFT_ETIMEDOUT);
    close(a->release);
    WT_OK(weft_await(t1, NULL, WEFT_FOREVER));
    WT_OK(j1.rc);
    weft_future_unref(t1);
    weft_future_unref(t2);
    return 0;
}

static void join_in_coroutine_test(void)
{
    use_method();
    int fds[2];
    make_pipe(fds, true, false);
    struct until_closed u = until_closed_of(fds);
    weft_process_opts o = with_arg(sizeof u);
    weft_process *p = start(block_until_closed, &u, &o);
    struct coro_join_args a = {.p = p, .release = fds[1]};
    WT_OK(weft_run(join_in_coroutine, &a, NULL));
    int code;
    WT_OK(weft_process_exitcode(p, &code));
    ck_assert_int_eq(code, 0);
    WT_OK(weft_process_close(p));
    weft_process_free(p);
    close_pipe_end(fds[0]);
}

/* weft_process_join inside a coroutine suspends only that coroutine. */
START_TEST(process_join_in_coroutine)
{
    join_in_coroutine_test();
}
END_TEST

/* The same where the kernel has no pidfd_open (fork: the death pipe). */
START_TEST(process_join_in_coroutine_without_pidfd)
{
    weft__process_no_pidfd = true;
    join_in_coroutine_test();
}
END_TEST


struct churn {
    int rounds;
    int failures;
};

static void *churn_thread(void *arg)
{
    struct churn *c = arg;
    for (int i = 0; i < c->rounds; i++) {
        weft_process *p;
        weft_process_opts o = {.daemon = WEFT_DAEMON_NO};
        if (weft_process_new(&p, return_arg, (void *)(intptr_t)(i & 7), &o) ||
            weft_process_start(p)) {
            c->failures++;
            continue;
        }
        int code = -1;
        if (weft_process_join(p, WEFT_FOREVER) || weft_process_exitcode(p, &code) ||
            code != (i & 7))
            c->failures++;
        if (i & 1)
            weft_process_close(p);
        weft_process_free(p);
    }
    return NULL;
}

/* active_children while other threads start, join and free processes:
 * never more listed than can be alive, none left at the end. */
START_TEST(process_active_children_concurrent)
{
    use_method();
    struct churn c[2] = {{.rounds = 25}, {.rounds = 25}};
    weft_thread *t[2];
    for (int i = 0; i < 2; i++) {
        WT_OK(weft_thread_new(&t[i], churn_thread, &c[i], NULL));
        WT_OK(weft_thread_start(t[i]));
    }
    size_t n;
    while (weft_thread_is_alive(t[0]) || weft_thread_is_alive(t[1])) {
        weft_process *out[4];
        WT_OK(weft_active_children(out, 4, &n));
        ck_assert_uint_le(n, 2);
    }
    for (int i = 0; i < 2; i++) {
        WT_OK(weft_thread_join(t[i], WEFT_FOREVER));
        weft_thread_unref(t[i]);
        ck_assert_int_eq(c[i].failures, 0);
    }
    WT_OK(weft_active_children(NULL, 0, &n));
    ck_assert_uint_eq(n, 0);
}
END_TEST

#ifndef TEST_PROCESS_NO_MAIN
WT_MAIN("process", 30, process_exit_codes, process_killed, process_terminated,
        process_join_timeout, process_join_without_pidfd, process_free_running, process_daemon_dies_with_parent,
        process_non_daemon_survives, process_names, process_bad_input,
        process_waits_for_non_daemon_threads, process_does_not_wait_for_daemon_threads,
        process_active_children, process_free_leaves_active_children,
        process_child_has_no_children, process_sentinel, process_sentinel_without_pidfd,
        process_sentinel_then_is_alive, process_interrupted, process_closed_refuses,
        process_terminate_lifecycle, process_foreign_object, process_join_in_coroutine,
        process_join_in_coroutine_without_pidfd, process_active_children_concurrent)
#endif
