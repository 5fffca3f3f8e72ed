/*
 * Subprocesses: posix_spawnp with pipes that become weft_streams, and a
 * pidfd to learn of the exit.
 *
 * posix_spawn (glibc: clone(CLONE_VFORK) + exec) reports a failed exec
 * to the parent as its return value, so a missing program is an error of
 * the start, as Python's FileNotFoundError. Every descriptor weft opens is
 * close-on-exec; the child gets only its three standard streams.
 *
 * The exit: the pidfd is adopted by a weft_socket, so that waiting on it
 * is the one fd wait of weft (a coroutine suspends on its loop; a thread
 * polls) and closing it is safe under a wait in flight. Reaping takes the
 * process's lock, so that two waiters cannot both reap (the second would
 * get ECHILD, or worse, a recycled pid's status).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "internal/clock.h"
#include "internal/error.h"
#include "internal/fdwait.h"
#include "internal/net.h"
#include "weft/loop.h"
#include "weft/subprocess.h"
#include "weft/thread.h"

extern char **environ;

struct weft_subprocess {
    pid_t pid;
    weft_socket *exit_sock;   /* the pidfd, or NULL without pidfd_open */
    pthread_mutex_t mu;       /* reaping */
    bool reaped;
    int returncode;
    weft_stream *in, *out, *err;
};

/* ------------------------------------------------------------ start */

typedef struct spawn_fds {
    int in[2], out[2], err[2];
} spawn_fds;

static void close_fd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

static void close_all(spawn_fds *f)
{
    for (int i = 0; i < 2; i++) {
        close_fd(&f->in[i]);
        close_fd(&f->out[i]);
        close_fd(&f->err[i]);
    }
}

/* Set up one standard stream of the child: fd 0, 1 or 2. */
static int plan_stream(posix_spawn_file_actions_t *fa, weft_subprocess_stdio mode, int target,
                       int pipefd[2])
{
    switch (mode) {
    case WEFT_SUBPROCESS_INHERIT:
        return 0;
    case WEFT_SUBPROCESS_DEVNULL:
        return -posix_spawn_file_actions_addopen(fa, target, "/dev/null",
                                                 target == 0 ? O_RDONLY : O_WRONLY, 0);
    case WEFT_SUBPROCESS_PIPE:
        if (pipe2(pipefd, O_CLOEXEC) != 0)
            return weft__errno_code(errno);
        /* dup2 onto the standard number clears close-on-exec there. */
        return -posix_spawn_file_actions_adddup2(fa, target == 0 ? pipefd[0] : pipefd[1], target);
    case WEFT_SUBPROCESS_STDOUT:
        return target == 2 ? -posix_spawn_file_actions_adddup2(fa, 1, 2) : WEFT_EINVAL;
    }
    return WEFT_EINVAL;
}

static bool mode_ok(weft_subprocess_stdio m, bool is_stderr)
{
    return m == WEFT_SUBPROCESS_INHERIT || m == WEFT_SUBPROCESS_PIPE ||
           m == WEFT_SUBPROCESS_DEVNULL || (is_stderr && m == WEFT_SUBPROCESS_STDOUT);
}

static int stream_of(int *fd, const weft_stream_opts *opts, weft_stream **out)
{
    if (*fd < 0)
        return 0;
    weft_socket *s = NULL;
    int rc = weft_socket_from_fd(&s, *fd);
    *fd = -1; /* adopted (or closed) */
    return rc ? rc : weft_stream_new(out, s, opts);
}

static int spawn(weft_subprocess *p, const char *const *argv, const weft_subprocess_opts *o,
                 spawn_fds *f)
{
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    int rc = -posix_spawn_file_actions_init(&fa);
    if (rc)
        return rc;
    if ((rc = -posix_spawnattr_init(&attr)) != 0) {
        posix_spawn_file_actions_destroy(&fa);
        return rc;
    }
    rc = plan_stream(&fa, o->stdin_mode, 0, f->in);
    if (!rc)
        rc = plan_stream(&fa, o->stdout_mode, 1, f->out);
    if (!rc)
        rc = plan_stream(&fa, o->stderr_mode, 2, f->err);
    if (!rc && o->cwd)
        rc = -posix_spawn_file_actions_addchdir_np(&fa, o->cwd);
    /* The child starts with no signal blocked (weft's threads may block
     * some) and SIGPIPE and SIGXFSZ at their defaults, as Python's
     * restore_signals does. */
    sigset_t none, defaults;
    sigemptyset(&none);
    sigemptyset(&defaults);
    sigaddset(&defaults, SIGPIPE);
    sigaddset(&defaults, SIGXFSZ);
    if (!rc)
        rc = -posix_spawnattr_setsigmask(&attr, &none);
    if (!rc)
        rc = -posix_spawnattr_setsigdefault(&attr, &defaults);
    short flags = POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF;
    if (o->start_new_session)
        flags |= POSIX_SPAWN_SETSID;
    if (o->new_process_group) {
        flags |= POSIX_SPAWN_SETPGROUP;
        if (!rc)
            rc = -posix_spawnattr_setpgroup(&attr, 0); /* its own pid */
    }
    if (!rc)
        rc = -posix_spawnattr_setflags(&attr, flags);
    if (!rc)
        rc = -posix_spawnp(&p->pid, argv[0], &fa, &attr, (char *const *)argv,
                           o->env ? o->env : environ);
    posix_spawnattr_destroy(&attr);
    posix_spawn_file_actions_destroy(&fa);
    return rc;
}

int weft_subprocess_exec(weft_subprocess **out, const char *const *argv,
                         const weft_subprocess_opts *opts)
{
    if (out)
        *out = NULL;
    weft_subprocess_opts o = opts ? *opts : (weft_subprocess_opts){0};
    if (!out || !argv || !argv[0] || !*argv[0] || !mode_ok(o.stdin_mode, false) ||
        !mode_ok(o.stdout_mode, false) || !mode_ok(o.stderr_mode, true) ||
        (o.start_new_session && o.new_process_group))
        return WEFT_EINVAL;
    weft_subprocess *p = calloc(1, sizeof *p);
    if (!p)
        return WEFT_ENOMEM;
    pthread_mutex_init(&p->mu, NULL);
    spawn_fds f = {{-1, -1}, {-1, -1}, {-1, -1}};
    int rc = spawn(p, argv, &o, &f);
    /* The child's ends are the child's now. */
    close_fd(&f.in[0]);
    close_fd(&f.out[1]);
    close_fd(&f.err[1]);
    if (rc) {
        close_all(&f);
        pthread_mutex_destroy(&p->mu);
        free(p);
        return rc;
    }
#ifdef SYS_pidfd_open
    int pidfd = (int)syscall(SYS_pidfd_open, p->pid, 0);
    if (pidfd >= 0 && weft_socket_from_fd(&p->exit_sock, pidfd) != 0)
        p->exit_sock = NULL;
#endif
    rc = stream_of(&f.in[1], &o.stream, &p->in);
    if (!rc)
        rc = stream_of(&f.out[0], &o.stream, &p->out);
    if (!rc)
        rc = stream_of(&f.err[0], &o.stream, &p->err);
    close_all(&f);
    if (rc) {
        /* The child runs but we cannot talk to it: stop it. */
        kill(p->pid, SIGKILL);
        weft_subprocess_free(p);
        return rc;
    }
    *out = p;
    return 0;
}

int weft_subprocess_shell(weft_subprocess **out, const char *cmd,
                          const weft_subprocess_opts *opts)
{
    if (!cmd) {
        if (out)
            *out = NULL;
        return WEFT_EINVAL;
    }
    const char *argv[] = {"/bin/sh", "-c", cmd, NULL};
    return weft_subprocess_exec(out, argv, opts);
}

/* -------------------------------------------------------- accessors */

pid_t weft_subprocess_pid(const weft_subprocess *p)
{
    return p ? p->pid : -1;
}

weft_stream *weft_subprocess_stdin(const weft_subprocess *p)
{
    return p ? p->in : NULL;
}

weft_stream *weft_subprocess_stdout(const weft_subprocess *p)
{
    return p ? p->out : NULL;
}

weft_stream *weft_subprocess_stderr(const weft_subprocess *p)
{
    return p ? p->err : NULL;
}

int weft_subprocess_close_stdin(weft_subprocess *p, double timeout)
{
    if (!p || weft__timeout_valid(timeout))
        return WEFT_EINVAL;
    weft_stream *in = p->in;
    p->in = NULL;
    if (!in)
        return 0;
    int rc = weft_stream_close(in, timeout);
    weft_stream_free(in);
    /* A child that stopped reading is not the caller's error here. */
    return rc == -EPIPE ? 0 : rc;
}

/* ------------------------------------------------------------- exit */

/* Reap the child if it has exited. */
static bool try_reap(weft_subprocess *p)
{
    pthread_mutex_lock(&p->mu);
    if (!p->reaped) {
        siginfo_t si;
        memset(&si, 0, sizeof si);
        if (waitid(P_PID, (id_t)p->pid, &si, WEXITED | WNOHANG) == 0 && si.si_pid == p->pid) {
            p->returncode = si.si_code == CLD_EXITED ? si.si_status : -si.si_status;
            __atomic_store_n(&p->reaped, true, __ATOMIC_RELEASE);
        }
    }
    bool done = p->reaped;
    pthread_mutex_unlock(&p->mu);
    return done;
}

int weft_subprocess_returncode(const weft_subprocess *p, int *code)
{
    if (!p || !code)
        return WEFT_EINVAL;
    if (!__atomic_load_n(&p->reaped, __ATOMIC_ACQUIRE))
        return WEFT_ESTATE;
    *code = p->returncode;
    return 0;
}

/* Wait on the pidfd until it is readable (the child exited) or the
 * deadline. Each wait watches a duplicate of it with an fdw of its own:
 * readiness edges are consumed by the waiter they wake, so waiters sharing
 * one fdw would leave all but one parked for an edge that never comes (a
 * pidfd has one edge, the exit). The duplicate is made under the socket's
 * user count, so a concurrent free cannot close the pidfd under it. */
static int wait_pidfd(weft_socket *s, int64_t deadline)
{
    int rc = weft__socket_user_begin(s);
    if (rc)
        return rc;
    int fd = fcntl(weft_socket_fd(s), F_DUPFD_CLOEXEC, 0);
    int e = errno;
    weft__socket_user_end(s);
    if (fd < 0)
        return weft__errno_code(e);
    weft__fdw w;
    weft__fdw_init(&w, fd);
    rc = weft__fdw_wait(&w, WEFT__IO_READ, deadline);
    /* On the loop's thread (a coroutine's wait) or never registered (a
     * thread's): the close is done here. */
    weft__fdw_close(&w);
    close(fd);
    return rc;
}

static int wait_exit(weft_subprocess *p, int64_t deadline)
{
    double backoff = 0.001;
    while (!try_reap(p)) {
        int rc;
        if (p->exit_sock) {
            rc = wait_pidfd(p->exit_sock, deadline);
        } else {
            /* No pidfd: look again after a while (suspending only the
             * coroutine, if in one). */
            double left = weft__remaining(deadline);
            if (left == 0)
                return WEFT_ETIMEDOUT;
            rc = weft_sleep(left < 0 || left > backoff ? backoff : left);
            if (backoff < 0.05)
                backoff *= 2;
        }
        if (rc)
            return rc;
    }
    return 0;
}

int weft_subprocess_wait(weft_subprocess *p, int *code, double timeout)
{
    if (!p || weft__timeout_valid(timeout))
        return WEFT_EINVAL;
    int rc = wait_exit(p, weft__deadline(timeout));
    if (rc == 0 && code)
        *code = p->returncode;
    return rc;
}

int weft_subprocess_send_signal(weft_subprocess *p, int sig)
{
    if (!p || sig < 0 || sig >= NSIG)
        return WEFT_EINVAL;
    pthread_mutex_lock(&p->mu);
    int rc = 0;
    /* Under the reaping lock: once reaped, the pid may be another's. */
    if (!p->reaped && kill(p->pid, sig) != 0 && errno != ESRCH)
        rc = weft__errno_code(errno);
    pthread_mutex_unlock(&p->mu);
    return rc;
}

int weft_subprocess_terminate(weft_subprocess *p)
{
    return weft_subprocess_send_signal(p, SIGTERM);
}

int weft_subprocess_kill(weft_subprocess *p)
{
    return weft_subprocess_send_signal(p, SIGKILL);
}

/* ------------------------------------------------------ communicate */

typedef struct comm {
    weft_subprocess *p;
    const void *input;
    size_t len;
    void *out, *err;
    size_t outlen, errlen;
    double timeout;
} comm;

static int comm_write(void *arg, void **result)
{
    comm *c = arg;
    int rc = c->len ? weft_stream_write(c->p->in, c->input, c->len) : 0;
    int rc2 = weft_subprocess_close_stdin(c->p, WEFT_FOREVER);
    rc = rc ? rc : rc2;
    return rc == -EPIPE ? 0 : rc;
}

/* Read a pipe to its end into a new NUL-terminated buffer. */
static int read_to_end(weft_stream *st, void **buf, size_t *len)
{
    int rc = weft_stream_read_all(st, buf, len, SIZE_MAX - 1, WEFT_FOREVER);
    if (rc)
        return rc;
    char *b = realloc(*buf, *len + 1);
    if (!b)
        return WEFT_ENOMEM;
    b[*len] = 0;
    *buf = b;
    return 0;
}

static int comm_read_out(void *arg, void **result)
{
    comm *c = arg;
    return read_to_end(c->p->out, &c->out, &c->outlen);
}

static int comm_read_err(void *arg, void **result)
{
    comm *c = arg;
    return read_to_end(c->p->err, &c->err, &c->errlen);
}

static int comm_body(comm *c)
{
    weft_task_group *g = NULL;
    int rc = weft_task_group_new(&g);
    if (rc)
        return rc;
    if (c->p->in)
        rc = weft_task_group_create_task(g, comm_write, c, "stdin", NULL);
    if (!rc && c->p->out)
        rc = weft_task_group_create_task(g, comm_read_out, c, "stdout", NULL);
    if (!rc && c->p->err)
        rc = weft_task_group_create_task(g, comm_read_err, c, "stderr", NULL);
    int rc2 = weft_task_group_wait(g);
    weft_task_group_free(g);
    rc = rc ? rc : rc2;
    return rc ? rc : wait_exit(c->p, WEFT__NO_DEADLINE);
}

static int comm_coroutine(void *arg, void **result)
{
    comm *c = arg;
    weft_timeout t = {0}; /* zeroed: enter reads it to refuse a live scope */
    int rc = weft_timeout_enter(&t, c->timeout);
    if (rc)
        return rc;
    rc = comm_body(c);
    return weft_timeout_exit(&t, rc);
}

int weft_subprocess_communicate(weft_subprocess *p, const void *input, size_t len, void **out,
                                size_t *outlen, void **err, size_t *errlen, double timeout)
{
    if (out)
        *out = NULL;
    if (err)
        *err = NULL;
    if (outlen)
        *outlen = 0;
    if (errlen)
        *errlen = 0;
    if (!p || (len && (!input || !p->in)) || weft__timeout_valid(timeout))
        return WEFT_EINVAL;
    comm c = {.p = p, .input = input, .len = len, .timeout = timeout};
    /* The pipes are read by concurrent tasks: on this coroutine's loop, or
     * on a loop of its own for a plain thread. */
    int rc = weft_in_coroutine() ? comm_coroutine(&c, NULL) : weft_run(comm_coroutine, &c, NULL);
    if (rc == 0) {
        if (out) {
            *out = c.out;
            c.out = NULL;
        }
        if (err) {
            *err = c.err;
            c.err = NULL;
        }
        if (outlen)
            *outlen = c.outlen;
        if (errlen)
            *errlen = c.errlen;
    }
    free(c.out);
    free(c.err);
    return rc;
}

/* ------------------------------------------------------------- free */

static void *reap_later(void *arg)
{
    siginfo_t si;
    pid_t pid = (pid_t)(intptr_t)arg;
    while (waitid(P_PID, (id_t)pid, &si, WEXITED) != 0 && errno == EINTR)
        ;
    return NULL;
}

/* How long free waits for a child it killed before leaving the reap to a
 * thread: SIGKILL ends a process at once, unless it is in an
 * uninterruptible wait (a stuck disk, a frozen cgroup). */
#define KILL_REAP_WAIT_NS 100000000

/* Wait (up to KILL_REAP_WAIT_NS) until the killed child can be reaped. */
static bool reap_killed(weft_subprocess *p)
{
    int64_t deadline = weft__now_ns() + KILL_REAP_WAIT_NS;
    int64_t step = 20000;
    while (!try_reap(p)) {
        int64_t now = weft__now_ns();
        if (now >= deadline)
            return false;
        if (p->exit_sock) {
            struct pollfd pfd = {.fd = weft_socket_fd(p->exit_sock), .events = POLLIN};
            int64_t ms = (deadline - now + 999999) / 1000000;
            poll(&pfd, 1, (int)ms);
            continue;
        }
        struct timespec ts = weft__ns_to_timespec(step < deadline - now ? step : deadline - now);
        nanosleep(&ts, NULL);
        step *= 2;
    }
    return true;
}

void weft_subprocess_free(weft_subprocess *p)
{
    if (!p)
        return;
    weft_stream_free(p->in);
    weft_stream_free(p->out);
    weft_stream_free(p->err);
    /* As asyncio's transport close: a child still running is killed (the
     * pipes are gone, nobody could talk to it or wait for it any more),
     * then reaped. send_signal does nothing once it was reaped, so a pid
     * that is another's by now is never signalled. */
    if (!try_reap(p)) {
        weft_subprocess_send_signal(p, SIGKILL);
        reap_killed(p);
    }
    weft_socket_free(p->exit_sock);
    if (!try_reap(p)) {
        /* Killed but not gone yet: a small detached thread reaps it when
         * it ends, so that no zombie stays behind and free does not block. */
        pthread_t t;
        pthread_attr_t a;
        pthread_attr_init(&a);
        pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
        pthread_attr_setstacksize(&a, 64 * 1024);
        pthread_create(&t, &a, reap_later, (void *)(intptr_t)p->pid);
        pthread_attr_destroy(&a);
    }
    pthread_mutex_destroy(&p->mu);
    free(p);
}
