/*
 * The forkserver start method: the server, the parent's side of a start,
 * and the child's set-up. A backend below process.c, which calls it
 * through internal/forkserver.h. See weft/process.h for the contract.
 *
 * The server is this very program re-executed (/proc/self/exe) with an
 * environment marker that names its control socket. weft's constructor
 * below sees the marker before main() would run, and runs the server loop
 * instead; main() never runs in the server nor in its children. The
 * server is single-threaded and never takes a lock another thread could
 * hold, so a child forked from it inherits no held lock: that is the point
 * of the method.
 *
 * One start goes as internal/forkserver_wire.h describes: the parent hands
 * the server one end of a fresh socket pair, the server forks a child that
 * keeps it, the parent sends the child what to run on it and the child
 * acks, and the server sends the exit code there once it has reaped the
 * child. The server's child then enters weft__child_run (child.c), as a
 * fork child does; nothing here calls back into process.c.
 *
 * A child that fails before it runs fn (a function it cannot resolve, no
 * memory, an address of the handle heap already taken) acks the error,
 * then shuts down reading on its socket: the parent's pending writes fail
 * with EPIPE at once (the server's copy of the socket would otherwise keep
 * them blocked), and the parent reports the ack's error. The server does
 * the same when fork fails.
 *
 * The parent dies: the control socket reads EOF in the server, which
 * SIGKILLs its daemon children (unreaped, so their pids are still theirs)
 * and exits; its non-daemon children go on as orphans. A daemon child also
 * arms PR_SET_PDEATHSIG against the server, in case the server itself is
 * killed.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "internal/check.h"
#include "internal/child.h"
#include "internal/fnref.h"
#include "internal/forkserver.h"
#include "internal/forkserver_wire.h"
#include "internal/share.h"
#include "internal/sockmsg.h"
#include "weft/common.h"
#include "weft/process.h"

#define MARKER "WEFT_FORKSERVER"
#define CTL_FD 3 /* the control socket's number in the server */

/* Tests: the next start's first child says its shared memory could not be
 * placed (as when the server's layout is in the way). */
int weft__forkserver_layout_taken;

/* Tests: name an object nobody has, so the child cannot resolve fn (a
 * function in a library loaded after the server started is the real case,
 * and hard to produce in a test). Declared where used. */
bool weft__forkserver_bad_object;

/* ----------------------------------------------------------- plumbing */

static int err_code(int e)
{
    switch (e) {
    case ENOMEM:
    case ENOBUFS:
        return WEFT_ENOMEM;
    case EPIPE:
    case ECONNRESET:
        return WEFT_EPIPE;
    default:
        return WEFT_EAGAIN;
    }
}

/* ------------------------------------------------------------ the child */

static void close_all_but(int keep)
{
    /* Everything from the server but the child socket and 0..2. */
    if (keep > 3)
        syscall(SYS_close_range, 3u, (unsigned)keep - 1, 0u);
    if (syscall(SYS_close_range, (unsigned)keep + 1, ~0u, 0u) != 0) {
        long max = sysconf(_SC_OPEN_MAX);
        for (int fd = 3; fd < max && fd < 65536; fd++)
            if (fd != keep)
                close(fd);
    }
}

static _Noreturn void child_fail(int sock, int rc)
{
    struct weft__forkserver_msg m = {.kind = WEFT__FORKSERVER_ACK, .value = rc,
                                     .pid = (int32_t)getpid()};
    weft__sock_send_all(sock, &m, sizeof m, err_code);
    /* The parent may be blocked writing the rest to us: SHUT_RD makes its
     * writes fail now, although the server still holds this socket. */
    shutdown(sock, SHUT_RD);
    _exit(1);
}

/* Fds 0, 1 and 2 as the parent has them now: a mask byte says which are
 * open, and those come attached in order. */
static int child_stdio(int sock)
{
    unsigned char mask;
    int fds[3];
    int n = weft__sock_recv_fds(sock, &mask, 1, fds, 3, err_code);
    if (n < 0)
        return n;
    int k = 0, rc = 0;
    for (int i = 0; i < 3; i++) {
        if (!(mask & (1u << i))) {
            close(i);
            continue;
        }
        if (k >= n) {
            rc = WEFT_EINVAL;
            break;
        }
        if (dup2(fds[k], i) < 0)
            rc = err_code(errno);
        k++;
    }
    for (int i = 0; i < n; i++)
        close(fds[i]);
    return rc;
}

static _Noreturn void child_main(int sock, bool daemon, pid_t server)
{
    sigset_t none;
    sigemptyset(&none);
    signal(SIGINT, SIG_DFL);
    signal(SIGCHLD, SIG_DFL);
    sigprocmask(SIG_SETMASK, &none, NULL);
    if (daemon) {
        /* Relative to the server, which is single-threaded: the signal
         * comes when the server dies, the usual way being that our parent
         * died and the server killed us first anyway. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != server)
            raise(SIGKILL);
    }
    close_all_but(sock);

    struct weft__forkserver_header h;
    int rc = weft__sock_recv_all(sock, &h, sizeof h, err_code);
    if (rc)
        child_fail(sock, rc);
    if (h.magic != WEFT__FORKSERVER_MAGIC || h.name_len >= WEFT__FORKSERVER_NAME_MAX)
        child_fail(sock, WEFT_EINVAL);
    if (h.layout_taken)
        child_fail(sock, WEFT__FORKSERVER_LAYOUT_TAKEN);
    char name[WEFT__FORKSERVER_NAME_MAX];
    weft_process_fn fn = (weft_process_fn)weft__fnref_resolve(&h.fn);
    if (!fn)
        child_fail(sock, WEFT_ENOTSUP);
    rc = weft__sock_recv_all(sock, name, h.name_len, err_code);
    if (rc)
        child_fail(sock, rc);
    name[h.name_len] = 0;
    void *arg = (void *)(uintptr_t)h.arg_value;
    if (h.arg_size > 0) {
        /* Freed by nobody: it lives as long as the child, as fn's arg. */
        arg = malloc((size_t)h.arg_size);
        if (!arg)
            child_fail(sock, WEFT_ENOMEM);
        rc = weft__sock_recv_all(sock, arg, (size_t)h.arg_size, err_code);
        if (rc)
            child_fail(sock, rc);
    }
    rc = child_stdio(sock);
    if (rc)
        child_fail(sock, rc);
    rc = weft__share_recv(&sock);
    if (rc)
        child_fail(sock, rc == WEFT_EAGAIN ? WEFT__FORKSERVER_LAYOUT_TAKEN : rc);
    /* Our own pidfd, for the parent's signals: it names this process for
     * as long as the parent keeps it, whoever reaps us and whatever pid
     * the kernel hands out later (no race with pid reuse at all). */
    int pidfd = (int)syscall(SYS_pidfd_open, getpid(), 0);
    if (pidfd < 0)
        child_fail(sock, WEFT_ENOTSUP);
    struct weft__forkserver_msg m = {.kind = WEFT__FORKSERVER_ACK, .value = 0,
                                     .pid = (int32_t)getpid()};
    rc = weft__sock_send_fds(sock, &m, sizeof m, &pidfd, 1, err_code);
    close(pidfd);
    close(sock);
    if (rc)
        _exit(1); /* the parent is gone, or will report the start failed */
    weft__child_run(fn, arg, name, daemon, (pid_t)h.parent_pid);
}

/* ----------------------------------------------------------- the server */

struct kid {
    pid_t pid;
    int sock; /* our copy of its child socket, for the exit code */
    bool daemon;
};

static struct kid *g_kids;
static size_t g_nkids, g_capkids;

static void server_reap(void)
{
    for (;;) {
        int st;
        pid_t pid = waitpid(-1, &st, WNOHANG);
        if (pid < 0 && errno == EINTR)
            continue;
        if (pid <= 0)
            return;
        for (size_t i = 0; i < g_nkids; i++) {
            if (g_kids[i].pid != pid)
                continue;
            struct weft__forkserver_msg m = {
                .kind = WEFT__FORKSERVER_EXIT, .pid = pid,
                .value = WIFEXITED(st) ? WEXITSTATUS(st) : -WTERMSIG(st)};
            /* Non-blocking: a parent that stopped reading (it closed the
             * process, or was killed) must not stall the server. The
             * message is small and the socket otherwise idle, so it fits. */
            send(g_kids[i].sock, &m, sizeof m, MSG_NOSIGNAL | MSG_DONTWAIT);
            close(g_kids[i].sock);
            g_kids[i] = g_kids[--g_nkids];
            break;
        }
    }
}

static void server_start_one(const struct weft__forkserver_request *req, int sock, pid_t self)
{
    if (g_nkids == g_capkids) {
        size_t cap = g_capkids ? 2 * g_capkids : 16;
        struct kid *k = realloc(g_kids, cap * sizeof *k);
        if (!k) {
            struct weft__forkserver_msg m = {.kind = WEFT__FORKSERVER_ACK, .value = WEFT_ENOMEM};
            weft__sock_send_all(sock, &m, sizeof m, err_code);
            shutdown(sock, SHUT_RD);
            close(sock);
            return;
        }
        g_kids = k;
        g_capkids = cap;
    }
    WEFT_ASSERT(g_nkids < g_capkids);
    pid_t pid = fork();
    if (pid == 0)
        child_main(sock, req->daemon != 0, self);
    if (pid < 0) {
        struct weft__forkserver_msg m = {.kind = WEFT__FORKSERVER_ACK, .value = err_code(errno)};
        weft__sock_send_all(sock, &m, sizeof m, err_code);
        shutdown(sock, SHUT_RD);
        close(sock);
        return;
    }
    g_kids[g_nkids++] = (struct kid){.pid = pid, .sock = sock, .daemon = req->daemon != 0};
}

static _Noreturn void server_main(int ctl)
{
    pid_t self = getpid();
    /* As Python's forkserver: a Ctrl-C for the program's process group is
     * the parent's to handle, not the server's. */
    signal(SIGINT, SIG_IGN);
    sigset_t chld;
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    sigprocmask(SIG_BLOCK, &chld, NULL);
    int sfd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
    if (sfd < 0 || weft__sock_send_all(ctl, "r", 1, err_code) != 0)
        _exit(1);
    for (;;) {
        struct pollfd pf[2] = {{.fd = ctl, .events = POLLIN}, {.fd = sfd, .events = POLLIN}};
        if (poll(pf, 2, -1) < 0)
            continue; /* EINTR */
        if (pf[1].revents) {
            struct signalfd_siginfo si;
            while (read(sfd, &si, sizeof si) > 0)
                ;
            server_reap();
        }
        if (!pf[0].revents)
            continue;
        struct weft__forkserver_request req;
        int fd = -1;
        int n = weft__sock_recv_fds(ctl, &req, sizeof req, &fd, 1, err_code);
        if (n == 1) {
            server_start_one(&req, fd, self);
            continue;
        }
        if (n == 0)
            continue; /* its socket was dropped (no fd left here): the parent reads EOF */
        /* EOF: the parent is gone (it exited, or was killed). */
        break;
    }
    for (size_t i = 0; i < g_nkids; i++)
        if (g_kids[i].daemon)
            kill(g_kids[i].pid, SIGKILL); /* unreaped: still our child */
    _exit(0);
}

/* Runs in every program that links this file, before main(): in the
 * server image (the program re-executed with the marker) it never
 * returns. The marker carries the parent's pid as well, so a stray copy of
 * it in some other program's environment is ignored. */
__attribute__((constructor)) static void forkserver_ctor(void)
{
    const char *m = getenv(MARKER);
    if (!m)
        return;
    int fd = -1, parent = 0;
    bool ours = sscanf(m, "%d:%d", &fd, &parent) == 2 && fd == CTL_FD && parent == getppid();
    struct stat st;
    ours = ours && fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode);
    unsetenv(MARKER);
    if (!ours)
        return;
    fcntl(fd, F_SETFD, FD_CLOEXEC);
    server_main(fd);
}

/* ----------------------------------------------------------- the parent */

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static int g_ctl = -1;      /* our end of the control socket */
static pid_t g_server;      /* the server, our child */
static pid_t g_ctl_owner;   /* the process g_ctl belongs to */

/* Tests: the server's pid (0 before one started). */
pid_t weft__forkserver_pid(void);
pid_t weft__forkserver_pid(void)
{
    pthread_mutex_lock(&g_lock);
    pid_t pid = g_ctl_owner == getpid() ? g_server : 0;
    pthread_mutex_unlock(&g_lock);
    return pid;
}

bool weft__forkserver_supported(void)
{
    static int cached; /* 0 unknown, 1 yes, 2 no */
    int c = __atomic_load_n(&cached, __ATOMIC_RELAXED);
    if (c == 0) {
        int fd = (int)syscall(SYS_pidfd_open, getpid(), 0);
        if (fd >= 0)
            close(fd);
        c = fd >= 0 ? 1 : 2;
        __atomic_store_n(&cached, c, __ATOMIC_RELAXED);
    }
    return c == 1;
}

/* Servers retired because their layout was in the way (a child acked
 * WEFT__FORKSERVER_LAYOUT_TAKEN): their control sockets stay open, so that
 * they go on relaying the exits of the children they started and keep
 * their daemons alive, until this process exits (or forks: a fork child
 * closes them, as it does g_ctl). */
static int g_retired[8];
static int g_nretired;

static void server_retire_locked(void)
{
    if (g_ctl < 0 || g_ctl_owner != getpid())
        return;
    if (g_nretired < (int)(sizeof g_retired / sizeof g_retired[0])) {
        g_retired[g_nretired++] = g_ctl;
    } else {
        /* Too many in a row: something else is wrong. Let this one go
         * (it exits once it sees the socket closed). */
        close(g_ctl);
    }
    g_ctl = -1;
    g_server = 0;
    g_ctl_owner = 0;
}

static void server_retire(void)
{
    pthread_mutex_lock(&g_lock);
    server_retire_locked();
    pthread_mutex_unlock(&g_lock);
}

/* Called once the server is known dead (its end of the control socket is
 * closed: it is exiting), or in a fork child, where it is not ours. */
static void server_forget_locked(void)
{
    if (g_ctl >= 0 && g_ctl_owner == getpid()) {
        close(g_ctl);
        /* Our child, exiting: reap it so no zombie stays. */
        while (waitpid(g_server, NULL, 0) < 0 && errno == EINTR)
            ;
    }
    g_ctl = -1;
    g_server = 0;
    g_ctl_owner = 0;
}

/* Start the server, with g_lock held. */
static int server_spawn_locked(void)
{
    WEFT_ASSERT(g_ctl < 0); /* the old server was forgotten first */
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0)
        return err_code(errno);
    extern char **environ;
    size_t n = 0;
    while (environ && environ[n])
        n++;
    char **envp = malloc((n + 2) * sizeof *envp);
    char marker[64];
    if (!envp) {
        close(sv[0]);
        close(sv[1]);
        return WEFT_ENOMEM;
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (strncmp(environ[i], MARKER "=", sizeof MARKER) != 0)
            envp[k++] = environ[i];
    snprintf(marker, sizeof marker, MARKER "=%d:%d", CTL_FD, (int)getpid());
    envp[k++] = marker;
    envp[k] = NULL;
    extern char *program_invocation_name;
    char *argv[] = {program_invocation_name, NULL};

    /* posix_spawn (a vfork-style clone) runs no atfork handlers and takes
     * no lock another thread may hold: this is safe while the program runs
     * threads. The control socket goes to fd 3, every other fd is closed
     * (the server must not keep the program's pipes open), the signal mask
     * is emptied and every signal is reset to its default. */
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    int rc = posix_spawn_file_actions_init(&fa);
    if (rc == 0)
        rc = posix_spawn_file_actions_adddup2(&fa, sv[1], CTL_FD);
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 34))
    if (rc == 0)
        rc = posix_spawn_file_actions_addclosefrom_np(&fa, CTL_FD + 1);
#endif
    if (rc == 0)
        rc = posix_spawnattr_init(&at);
    if (rc == 0) {
        posix_spawnattr_setsigmask(&at, &none);
        posix_spawnattr_setsigdefault(&at, &all);
        posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
        pid_t pid;
        rc = posix_spawn(&pid, "/proc/self/exe", &fa, &at, argv, envp);
        posix_spawnattr_destroy(&at);
        if (rc == 0)
            g_server = pid;
    }
    posix_spawn_file_actions_destroy(&fa);
    free(envp);
    close(sv[1]);
    if (rc != 0) {
        close(sv[0]);
        return rc == ENOENT || rc == EACCES ? WEFT_ENOTSUP : err_code(rc);
    }
    /* The server says it is up: a failed exec shows as EOF here, not as
     * a start that fails later for no visible reason. */
    char c;
    if (weft__sock_recv_all(sv[0], &c, 1, err_code) != 0) {
        close(sv[0]);
        waitpid(g_server, NULL, 0);
        g_server = 0;
        return WEFT_EAGAIN;
    }
    g_ctl = sv[0];
    g_ctl_owner = getpid();
    return 0;
}

/* Hand the child's socket to the server, starting the server if needed.
 * A server that died since (killed by someone) is replaced once. */
static void register_atfork(void);

static int server_request(bool daemon, int child_end)
{
    /* Registered here, not by a constructor: a forkserver child is forked
     * from a server that ran inside weft's constructor, where a later
     * constructor never ran. */
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, register_atfork);
    struct weft__forkserver_request req = {.daemon = daemon};
    pthread_mutex_lock(&g_lock);
    int rc = 0;
    for (int attempt = 0; attempt < 2; attempt++) {
        if (g_ctl < 0 || g_ctl_owner != getpid()) {
            server_forget_locked();
            rc = server_spawn_locked();
            if (rc)
                break;
        }
        rc = weft__sock_send_fds(g_ctl, &req, sizeof req, &child_end, 1, err_code);
        if (rc != WEFT_EPIPE)
            break;
        server_forget_locked();
    }
    pthread_mutex_unlock(&g_lock);
    return rc;
}

static int send_stdio(int sock)
{
    unsigned char mask = 0;
    int fds[3], n = 0;
    for (int i = 0; i < 3; i++) {
        if (fcntl(i, F_GETFD) >= 0) {
            mask |= (unsigned char)(1u << i);
            fds[n++] = i;
        }
    }
    return weft__sock_send_fds(sock, &mask, 1, fds, n, err_code);
}

/* One attempt: a new child of the server, handed everything it needs. */
static int start_once(const struct weft__forkserver_spec *spec,
                      const struct weft__forkserver_header *hp, size_t name_len,
                      struct weft__forkserver_child *out)
{
    const struct weft__forkserver_header h = *hp;
    int rc;
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
        return err_code(errno);
    rc = server_request(spec->daemon, sv[1]);
    close(sv[1]);
    if (rc) {
        close(sv[0]);
        return rc == WEFT_EPIPE ? WEFT_EAGAIN : rc;
    }
    /* From here on the child's ack decides: a write that fails means the
     * child (or the server) gave up, and the ack says why. */
    int wr = weft__sock_send_all(sv[0], &h, sizeof h, err_code);
    if (!wr)
        wr = weft__sock_send_all(sv[0], spec->name, name_len, err_code);
    if (!wr && spec->arg_size)
        wr = weft__sock_send_all(sv[0], spec->arg, spec->arg_size, err_code);
    if (!wr)
        wr = send_stdio(sv[0]);
    if (!wr)
        wr = weft__share_send(sv[0]);

    struct weft__forkserver_msg m;
    int pidfd = -1;
    int got = weft__sock_recv_fds(sv[0], &m, sizeof m, &pidfd, 1, err_code);
    if (got < 0 || m.kind != WEFT__FORKSERVER_ACK) {
        /* EOF, or the exit code of a child that died before it acked. */
        rc = wr == WEFT_ENOMEM ? wr : WEFT_EAGAIN;
    } else if (m.value != 0) {
        /* The documented refusals; anything else of the child's set-up
         * (its end of the hand-over failed) is a passing one. */
        rc = m.value == WEFT_ENOMEM || m.value == WEFT_ENOTSUP ? m.value : WEFT_EAGAIN;
        if (m.value == WEFT__FORKSERVER_LAYOUT_TAKEN)
            server_retire();
    } else if (got != 1) {
        rc = WEFT_EAGAIN;
    } else if (wr) {
        rc = wr; /* cannot happen: the child acked everything we sent */
    } else {
        out->sock = sv[0];
        out->pidfd = pidfd;
        out->pid = (pid_t)m.pid;
        return 0;
    }
    if (pidfd >= 0)
        close(pidfd);
    close(sv[0]);
    return rc;
}

int weft__forkserver_start(const struct weft__forkserver_spec *spec,
                           struct weft__forkserver_child *out)
{
    if (!weft__forkserver_supported())
        return WEFT_ENOTSUP;
    struct weft__forkserver_header h = {
        .magic = WEFT__FORKSERVER_MAGIC, .parent_pid = (int32_t)getpid(),
        .daemon = spec->daemon, .arg_size = spec->arg_size,
        .arg_value = spec->arg_size ? 0 : (uint64_t)(uintptr_t)spec->arg};
    int rc = weft__fnref_make(&h.fn, (weft__fnptr)spec->fn);
    size_t name_len = strlen(spec->name);
    if (rc == 0 && name_len >= WEFT__FORKSERVER_NAME_MAX)
        rc = WEFT_EINVAL;
    if (rc)
        return rc;
    if (weft__forkserver_bad_object)
        strcpy(h.fn.object, "weft: no such object");
    h.name_len = (uint32_t)name_len;

    /* A child that died or gave up before it acked is a passing failure
     * (WEFT_EAGAIN): the child never ran fn, so a fresh one is started,
     * twice at most - from a fresh server when the old one's layout was
     * in the way (WEFT__FORKSERVER_LAYOUT_TAKEN). */
    for (int attempt = 0;; attempt++) {
        h.layout_taken = weft__forkserver_layout_taken > 0;
        if (weft__forkserver_layout_taken > 0)
            weft__forkserver_layout_taken--;
        rc = start_once(spec, &h, name_len, out);
        if (rc != WEFT_EAGAIN || attempt == 2)
            return rc;
    }
}

/* A fork child (weft's fork start method or the program's own fork) does
 * not share its parent's server: it drops its copy of the control socket,
 * so the server sees EOF when the parent dies whatever children it forked,
 * and starts a server of its own when it needs one. The lock is held
 * across the fork so the child sees g_ctl whole; nothing forks while
 * holding it (the server is started by posix_spawn, which runs no atfork
 * handlers). */
static void atfork_prepare(void)
{
    pthread_mutex_lock(&g_lock);
}

static void atfork_parent(void)
{
    pthread_mutex_unlock(&g_lock);
}

static void atfork_child(void)
{
    if (g_ctl >= 0)
        close(g_ctl);
    for (int i = 0; i < g_nretired; i++)
        close(g_retired[i]);
    g_nretired = 0;
    g_ctl = -1;
    g_server = 0;
    g_ctl_owner = 0;
    pthread_mutex_unlock(&g_lock);
}

static void register_atfork(void)
{
    pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
}
