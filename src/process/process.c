/*
 * Processes: the object, the fork start method, and the parent's side of
 * the forkserver method's status (the forkserver backend, forkserver.c,
 * starts those children). A child of either method enters
 * weft__child_run (child.c). See weft/process.h for the contract.
 *
 * State is guarded by the object's mutex. A fork child's pid stays
 * reserved until weft reaps it (a zombie keeps it), and reaping happens
 * only under the mutex, so signals sent under the mutex before the reap
 * can never hit a recycled pid. A forkserver child is the server's child,
 * not ours: the server reaps it and sends its exit code on the child's
 * socket, and signals go through a pidfd the child opened on itself, which
 * can never name another process.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "internal/check.h"
#include "internal/child.h"
#include "internal/clock.h"
#include "internal/error.h"
#include "internal/fdwait.h"
#include "internal/forkserver.h"
#include "internal/forkserver_wire.h"
#include "internal/process.h"
#include "internal/thread.h"
#include "weft/loop.h"
#include "weft/process.h"
#include "weft/thread.h"

enum { P_NEW, P_RUNNING, P_DONE };

struct weft_process {
    pthread_mutex_t lock;
    weft_process_fn fn;
    void *arg;       /* the caller's pointer, or our copy of arg_size bytes */
    size_t arg_size; /* 0: arg is passed as it is */
    char *name;
    bool daemon;
    int method;   /* as asked; WEFT_START_DEFAULT is resolved at start */
    bool served;  /* started by the forkserver */
    bool sock_eof; /* served: the socket ended without an exit code */
    int state;    /* P_*, under lock */
    bool closed;  /* weft_process_close ran: it may not start (under lock) */
    pid_t pid;    /* set at start, then constant */
    pid_t owner;  /* the process that made the object: the only one that
                     may start, wait for or signal its child */
    int pidfd;    /* -1 without pidfd support; closed when freed */
    int sock;     /* served: the exit code arrives here; -1 otherwise */
    int death_rd; /* fork without a pidfd: the read end of a pipe whose only
                     write end the child holds (EOF once it exits); -1 otherwise */
    int sentinel_err; /* weft_process_sentinel's code when there is no fd */
    int exitcode; /* valid once P_DONE */
    /* On g_children (under g_children_lock) from a successful start until
     * freed: active_children's list. */
    struct weft_process *prev, *next;
    bool listed;
    unsigned gen; /* g_children_gen when listed */
};

/* Tests set this to exercise the wait used on kernels without pidfd_open.
 * Declared where used (the tests), not in a header: it is no API. */
bool weft__process_no_pidfd;

static unsigned g_counter;
/* The processes this process started and has not freed. Lock order:
 * g_children_lock before a process's lock; nothing takes it while holding
 * a process's lock. */
static pthread_mutex_t g_children_lock = PTHREAD_MUTEX_INITIALIZER;
static struct weft_process *g_children;
static pthread_once_t g_children_once = PTHREAD_ONCE_INIT;

/* Bumped in every fork child: a process listed under another generation
 * is on a list this process dropped. */
static unsigned g_children_gen;

/* A fork child has none of its parent's children: whichever thread forks
 * (weft's fork start or the program's own fork), the child starts with an
 * empty list and a fresh lock, as Python's child starts with no _children.
 * The lock is not held across the fork (weft_process_start forks with a
 * process's lock held, and active_children takes that lock under this
 * one), so another thread may have held it or been half-way through a
 * change: the child drops the list without reading it. The parent's
 * objects stay in the child's memory, unlisted by their generation. */
static void children_atfork_child(void)
{
    pthread_mutex_init(&g_children_lock, NULL);
    g_children = NULL;
    g_children_gen++;
}

static void children_register_atfork(void)
{
    pthread_atfork(NULL, NULL, children_atfork_child);
}

static void children_add(weft_process *p)
{
    pthread_mutex_lock(&g_children_lock);
    p->prev = NULL;
    p->next = g_children;
    if (g_children)
        g_children->prev = p;
    g_children = p;
    p->listed = true;
    p->gen = g_children_gen;
    pthread_mutex_unlock(&g_children_lock);
}

static void children_remove(weft_process *p)
{
    pthread_mutex_lock(&g_children_lock);
    if (p->listed && p->gen == g_children_gen) {
        if (p->prev)
            p->prev->next = p->next;
        else
            g_children = p->next;
        if (p->next)
            p->next->prev = p->prev;
        p->listed = false;
    }
    pthread_mutex_unlock(&g_children_lock);
}

static int g_method; /* weft_set_start_method's; WEFT_START_DEFAULT at first */

int weft_process_new(weft_process **out, weft_process_fn fn, void *arg,
                     const weft_process_opts *opts)
{
    if (!out || !fn)
        return WEFT_EINVAL;
    int daemon = opts ? opts->daemon : WEFT_DAEMON_INHERIT;
    if (daemon != WEFT_DAEMON_INHERIT && daemon != WEFT_DAEMON_YES && daemon != WEFT_DAEMON_NO)
        return WEFT_EINVAL;
    int method = opts ? opts->start_method : WEFT_START_DEFAULT;
    if (method != WEFT_START_DEFAULT && method != WEFT_START_FORK &&
        method != WEFT_START_FORKSERVER)
        return WEFT_EINVAL;
    size_t arg_size = opts ? opts->arg_size : 0;
    if (arg_size && !arg)
        return WEFT_EINVAL;
    weft_process *p = calloc(1, sizeof *p);
    if (!p)
        return WEFT_ENOMEM;
    if (arg_size) {
        p->arg = malloc(arg_size);
        if (!p->arg) {
            free(p);
            return WEFT_ENOMEM;
        }
        memcpy(p->arg, arg, arg_size);
    }
    if (opts && opts->name) {
        p->name = strdup(opts->name);
    } else {
        char buf[32];
        snprintf(buf, sizeof buf, "Process-%u",
                 __atomic_add_fetch(&g_counter, 1, __ATOMIC_RELAXED));
        p->name = strdup(buf);
    }
    if (!p->name) {
        if (arg_size)
            free(p->arg);
        free(p);
        return WEFT_ENOMEM;
    }
    pthread_mutex_init(&p->lock, NULL);
    p->fn = fn;
    if (!arg_size)
        p->arg = arg;
    p->arg_size = arg_size;
    p->method = method;
    p->sock = -1;
    p->daemon = daemon == WEFT_DAEMON_INHERIT ? weft__child_daemon() : daemon == WEFT_DAEMON_YES;
    p->state = P_NEW;
    p->pidfd = -1;
    p->death_rd = -1;
    p->sentinel_err = WEFT_ESTATE;
    p->owner = getpid();
    *out = p;
    return 0;
}

/* A copy of the object in another process (a fork child of its owner):
 * the child is not that process's child, so it may not be waited for or
 * signalled from there (Python: "can only join a child process"). Checked
 * before the lock, which may have been held by a thread of the owner when
 * it forked. */
static bool foreign(const weft_process *p)
{
    return p->owner != getpid();
}

static int status_to_code(const siginfo_t *si)
{
    if (si->si_code == CLD_EXITED)
        return si->si_status;
    return -si->si_status; /* CLD_KILLED or CLD_DUMPED */
}

static bool pidfd_exited(int pidfd)
{
    struct pollfd pfd = {.fd = pidfd, .events = POLLIN};
    return poll(&pfd, 1, 0) > 0;
}

/* A served child: its exit code, if the server has sent it. The server
 * sends it once, after its reap, in one small message. If the socket ends
 * without it (the server was killed: the code is lost), the child is done
 * once its pidfd says it exited, and its code reads 255 as with fork. */
static void try_status_served_locked(weft_process *p)
{
    WEFT_ASSERT(p->sock >= 0 && p->pidfd >= 0);
    if (!p->sock_eof) {
        struct weft__forkserver_msg m;
        ssize_t n;
        do
            n = recv(p->sock, &m, sizeof m, MSG_DONTWAIT | MSG_WAITALL);
        while (n < 0 && errno == EINTR);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (n == (ssize_t)sizeof m && m.kind == WEFT__FORKSERVER_EXIT) {
            p->exitcode = m.value;
            p->state = P_DONE;
            /* The socket is the sentinel: with the message read, it must
             * stay readable, also before the server closes its copy. */
            shutdown(p->sock, SHUT_RD);
            return;
        }
        __atomic_store_n(&p->sock_eof, true, __ATOMIC_RELAXED);
    }
    if (pidfd_exited(p->pidfd)) {
        p->exitcode = 255;
        p->state = P_DONE;
    }
}

/* Reap the child if it has exited, without waiting. Called with p->lock
 * held and p->state == P_RUNNING. */
static void try_reap_locked(weft_process *p)
{
    WEFT_ASSERT(p->state == P_RUNNING);
    if (p->served) {
        try_status_served_locked(p);
        return;
    }
    siginfo_t si;
    for (;;) {
        memset(&si, 0, sizeof si);
        if (waitid(P_PID, (id_t)p->pid, &si, WEXITED | WNOHANG) == 0)
            break;
        if (errno == EINTR)
            continue;
        /* ECHILD: somebody else reaped it (SIGCHLD ignored, or a foreign
         * waitpid(-1)); its status is lost. */
        p->exitcode = 255;
        p->state = P_DONE;
        return;
    }
    if (si.si_pid == 0)
        return; /* still running */
    p->exitcode = status_to_code(&si);
    p->state = P_DONE;
}

static _Noreturn void child_main(weft_process *p, pid_t parent, int death_rd)
{
    /* The write end of the death pipe (if any) stays open, held by us only,
     * until we exit. */
    if (death_rd >= 0)
        close(death_rd);
    if (p->daemon) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        /* The parent may have died between fork and prctl, before the
         * death signal was armed: then we were already reparented. */
        if (getppid() != parent)
            raise(SIGKILL);
    }
    weft__child_run(p->fn, p->arg, p->name, p->daemon, parent);
}

static int resolve_method(int m)
{
    if (m == WEFT_START_DEFAULT)
        m = __atomic_load_n(&g_method, __ATOMIC_RELAXED);
    if (m == WEFT_START_DEFAULT)
        m = weft__forkserver_supported() ? WEFT_START_FORKSERVER : WEFT_START_FORK;
    return m;
}

int weft_set_start_method(enum weft_start_method m)
{
    if (m != WEFT_START_DEFAULT && m != WEFT_START_FORK && m != WEFT_START_FORKSERVER)
        return WEFT_EINVAL;
    __atomic_store_n(&g_method, (int)m, __ATOMIC_RELAXED);
    return 0;
}

enum weft_start_method weft_get_start_method(void)
{
    return (enum weft_start_method)resolve_method(WEFT_START_DEFAULT);
}

/* Whether a fork child can be watched by a pidfd (the kernel has
 * pidfd_open and the tests did not turn it off). */
static bool pidfd_usable(void)
{
    return !weft__process_no_pidfd && weft__forkserver_supported();
}

static int start_served(weft_process *p)
{
    WEFT_ASSERT(p->state == P_NEW);
    struct weft__forkserver_spec spec = {.fn = p->fn, .arg = p->arg, .arg_size = p->arg_size,
                                         .name = p->name, .daemon = p->daemon};
    struct weft__forkserver_child c;
    int rc = weft__forkserver_start(&spec, &c);
    if (rc)
        return rc;
    WEFT_ASSERT(c.sock >= 0 && c.pidfd >= 0);
    p->served = true;
    p->sock = c.sock;
    p->pidfd = c.pidfd;
    __atomic_store_n(&p->pid, c.pid, __ATOMIC_RELAXED);
    p->state = P_RUNNING;
    return 0;
}

int weft_process_start(weft_process *p)
{
    if (!p)
        return WEFT_EINVAL;
    if (foreign(p))
        return WEFT_ESTATE;
    pthread_mutex_lock(&p->lock);
    if (p->state != P_NEW || p->closed) {
        pthread_mutex_unlock(&p->lock);
        return WEFT_ESTATE;
    }
    pthread_once(&g_children_once, children_register_atfork);
    if (resolve_method(p->method) == WEFT_START_FORKSERVER) {
        int rc = start_served(p);
        pthread_mutex_unlock(&p->lock);
        if (!rc)
            children_add(p);
        return rc;
    }
    pid_t parent = getpid();
    /* Without a pidfd the sentinel is a pipe: its only write end lives in
     * the child, so the read end sees EOF once the child has exited. */
    int death[2] = {-1, -1};
    if (!pidfd_usable() && pipe2(death, O_CLOEXEC) != 0) {
        int e = errno;
        pthread_mutex_unlock(&p->lock);
        return e == ENFILE || e == EMFILE ? weft__errno_code(e) : WEFT_EAGAIN;
    }
    /* Flushed first, or the child would write the parent's pending output a
     * second time when it exits. */
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0)
        child_main(p, parent, death[0]);
    if (death[1] >= 0)
        close(death[1]);
    if (pid < 0) {
        int e = errno;
        if (death[0] >= 0)
            close(death[0]);
        pthread_mutex_unlock(&p->lock);
        return e == ENOMEM ? WEFT_ENOMEM : WEFT_EAGAIN;
    }
    p->death_rd = death[0];
    __atomic_store_n(&p->pid, pid, __ATOMIC_RELAXED);
    p->state = P_RUNNING;
#ifdef SYS_pidfd_open
    /* The child is not reaped yet (only we reap it, under this lock), so
     * this pid cannot name another process. Any failure (ENOSYS on old
     * kernels, EMFILE) falls back to the polling wait. */
    if (p->death_rd < 0) {
        p->pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
        if (p->pidfd < 0) {
            p->sentinel_err = weft__errno_code(errno);
            p->pidfd = -1;
        }
    }
#endif
    pthread_mutex_unlock(&p->lock);
    children_add(p);
    return 0;
}

#define INITIAL_BACKOFF_NS 50000

/* In a coroutine: suspend it (not its loop) until fd is readable. The loop
 * watches a duplicate with an fdw of this call's own: a readiness edge
 * wakes the waiters of one fdw, but the first one woken consumes it, and
 * the exit is the only edge these fds ever get, so joiners must not share
 * one. The duplicate is made under the lock, so a close (of a child that
 * ended meanwhile) cannot pull fd from under it. 0 when it is readable (or
 * worth a look), WEFT_ETIMEDOUT, WEFT_ECANCELLED, WEFT_ESTATE (closed). */
static int wait_readable_coroutine(weft_process *p, int fd, int64_t deadline)
{
    pthread_mutex_lock(&p->lock);
    int dup = p->closed ? -1 : fcntl(fd, F_DUPFD_CLOEXEC, 0);
    int e = errno;
    bool closed = p->closed;
    pthread_mutex_unlock(&p->lock);
    if (closed)
        return WEFT_ESTATE;
    if (dup < 0)
        return weft__errno_code(e);
    weft__fdw w;
    weft__fdw_init(&w, dup);
    int rc = weft__fdw_wait(&w, WEFT__IO_READ, deadline);
    weft__fdw_close(&w); /* on the loop's thread: done here */
    close(dup);
    return rc;
}

/* Wait until the child may have exited or the deadline passes, without the
 * lock: a thread sleeps, a coroutine is suspended. 0 if it should be
 * checked now, WEFT_ETIMEDOUT, or in a coroutine WEFT_ECANCELLED. */
static int wait_exit(weft_process *p, int64_t deadline, int64_t *backoff_ns)
{
    int64_t now = weft__now_ns();
    if (deadline != WEFT__NO_DEADLINE && now >= deadline)
        return WEFT_ETIMEDOUT;
    /* A served child: its socket brings the exit code (the pidfd would
     * wake us before the server has sent it). sock and pidfd are constant
     * once started, so reading them without the lock is fine. */
    int fd = p->served && !__atomic_load_n(&p->sock_eof, __ATOMIC_RELAXED) ? p->sock : p->pidfd;
    /* The death pipe (fork without a pidfd) reads EOF as the child exits,
     * a moment before waitid can reap it: wait on it until then, and poll
     * by pid after. */
    if (fd < 0 && p->death_rd >= 0 && *backoff_ns == INITIAL_BACKOFF_NS)
        fd = p->death_rd;
    bool coroutine = weft_in_coroutine();
    if (fd >= 0 && coroutine) {
        int rc = wait_readable_coroutine(p, fd, deadline);
        if (rc == 0 && fd == p->death_rd)
            *backoff_ns = INITIAL_BACKOFF_NS + 1;
        return rc;
    }
    if (fd >= 0) {
        int ms = -1;
        if (deadline != WEFT__NO_DEADLINE) {
            int64_t left = (deadline - now + 999999) / 1000000;
            ms = left > 1000000 ? 1000000 : (int)left;
        }
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        /* EINTR or a timeout: the caller re-checks */
        if (poll(&pfd, 1, ms) > 0 && fd == p->death_rd)
            *backoff_ns = INITIAL_BACKOFF_NS + 1;
        return 0;
    }
    /* No pidfd: the only waits by pid that do not reap are polls. Sleep a
     * little longer each round (50 us to 10 ms), never past the deadline. */
    int64_t ns = *backoff_ns;
    if (deadline != WEFT__NO_DEADLINE && deadline - now < ns)
        ns = deadline - now;
    *backoff_ns = *backoff_ns * 2 > 10000000 ? 10000000 : *backoff_ns * 2;
    if (coroutine)
        return weft_sleep((double)ns / 1e9); /* 0 or WEFT_ECANCELLED */
    struct timespec ts = weft__ns_to_timespec(ns);
    nanosleep(&ts, NULL);
    return 0;
}

int weft_process_join(weft_process *p, double timeout)
{
    if (!p || weft__timeout_valid(timeout))
        return WEFT_EINVAL;
    if (foreign(p))
        return WEFT_ESTATE;
    int64_t deadline = WEFT__NO_DEADLINE, backoff = INITIAL_BACKOFF_NS;
    bool have_deadline = false;
    for (;;) {
        pthread_mutex_lock(&p->lock);
        int st = p->state;
        if (st == P_RUNNING) {
            try_reap_locked(p);
            st = p->state;
        }
        bool closed = p->closed;
        pthread_mutex_unlock(&p->lock);
        if (st == P_NEW || closed)
            return WEFT_ESTATE;
        if (st == P_DONE)
            return 0;
        if (!have_deadline) {
            deadline = weft__deadline(timeout);
            have_deadline = true;
        }
        int rc = wait_exit(p, deadline, &backoff);
        if (rc)
            return rc;
    }
}

bool weft_process_is_alive(const weft_process *cp)
{
    /* Reaping a child that exited changes no state a caller can see: it
     * only learns what is already true. */
    weft_process *p = (weft_process *)cp;
    if (!p || foreign(p))
        return false;
    pthread_mutex_lock(&p->lock);
    if (p->state == P_RUNNING)
        try_reap_locked(p);
    bool alive = p->state == P_RUNNING;
    pthread_mutex_unlock(&p->lock);
    return alive;
}

int weft_process_exitcode(const weft_process *cp, int *code)
{
    weft_process *p = (weft_process *)cp; /* a reap only learns what is true */
    if (!p || !code)
        return WEFT_EINVAL;
    if (foreign(p))
        return WEFT_ESTATE;
    pthread_mutex_lock(&p->lock);
    if (p->state == P_RUNNING)
        try_reap_locked(p);
    int rc = WEFT_ESTATE;
    if (p->state == P_DONE) {
        *code = p->exitcode;
        rc = 0;
    }
    pthread_mutex_unlock(&p->lock);
    return rc;
}

static int send_signal(weft_process *p, int sig)
{
    if (!p)
        return WEFT_EINVAL;
    if (foreign(p))
        return WEFT_ESTATE;
    pthread_mutex_lock(&p->lock);
    int rc = 0;
    if (p->state == P_NEW || p->closed)
        rc = WEFT_ESTATE;
    else if (p->state == P_RUNNING && p->served)
        syscall(SYS_pidfd_send_signal, p->pidfd, sig, NULL, 0); /* ESRCH once it exited */
    else if (p->state == P_RUNNING)
        kill(p->pid, sig); /* unreaped, so still ours: cannot fail usefully */
    pthread_mutex_unlock(&p->lock);
    return rc;
}

int weft_process_terminate(weft_process *p)
{
    return send_signal(p, SIGTERM);
}

int weft_process_kill(weft_process *p)
{
    return send_signal(p, SIGKILL);
}

int weft_process_interrupt(weft_process *p)
{
    return send_signal(p, SIGINT);
}

int weft_process_sentinel(const weft_process *cp, int *fd)
{
    weft_process *p = (weft_process *)cp; /* only its lock is taken */
    if (fd)
        *fd = -1;
    if (!p || !fd)
        return WEFT_EINVAL;
    if (foreign(p))
        return WEFT_ESTATE;
    pthread_mutex_lock(&p->lock);
    int rc = 0;
    if (p->state == P_NEW || p->closed)
        rc = WEFT_ESTATE;
    else if (p->served)
        *fd = p->sock; /* written by the server once it has the exit code */
    else if (p->pidfd >= 0)
        *fd = p->pidfd;
    else if (p->death_rd >= 0)
        *fd = p->death_rd;
    else
        rc = p->sentinel_err;
    pthread_mutex_unlock(&p->lock);
    return rc;
}

int weft_active_children(weft_process **out, size_t cap, size_t *n)
{
    if (n)
        *n = 0;
    if (!n || (cap && !out))
        return WEFT_EINVAL;
    size_t k = 0;
    pthread_mutex_lock(&g_children_lock);
    for (weft_process *c = g_children; c; c = c->next) {
        pthread_mutex_lock(&c->lock);
        if (c->state == P_RUNNING)
            try_reap_locked(c);
        bool alive = c->state == P_RUNNING;
        pthread_mutex_unlock(&c->lock);
        if (!alive)
            continue;
        if (k < cap)
            out[k] = c;
        k++;
    }
    pthread_mutex_unlock(&g_children_lock);
    *n = k;
    return 0;
}

pid_t weft_process_pid(const weft_process *p)
{
    /* Written once under the lock before start returns; a reader racing
     * with start gets 0 or the pid. */
    return p ? __atomic_load_n(&p->pid, __ATOMIC_RELAXED) : 0;
}

int weft__process_exit_fd(const weft_process *p)
{
    /* The pidfd for both methods; a served child without one has its
     * socket, which the server writes (or closes) when the child exits. */
    if (!p)
        return -1;
    return p->pidfd >= 0 ? p->pidfd : p->served ? p->sock : -1;
}

const char *weft_process_name(const weft_process *p)
{
    return p ? p->name : NULL;
}

bool weft_process_daemon(const weft_process *p)
{
    return p && p->daemon;
}

/* The descriptors that watch the child; it has been reaped (or was never
 * started). Under lock or with the process no longer shared. */
static void release_fds(weft_process *p)
{
    if (p->pidfd >= 0)
        close(p->pidfd);
    if (p->sock >= 0)
        close(p->sock);
    if (p->death_rd >= 0)
        close(p->death_rd);
    p->pidfd = p->sock = p->death_rd = -1;
}

int weft_process_close(weft_process *p)
{
    if (!p)
        return WEFT_EINVAL;
    if (foreign(p))
        return WEFT_ESTATE;
    if (weft_process_is_alive(p))
        return WEFT_ESTATE;
    pthread_mutex_lock(&p->lock);
    p->closed = true;
    release_fds(p);
    pthread_mutex_unlock(&p->lock);
    return 0;
}

void weft_process_free(weft_process *p)
{
    if (!p)
        return;
    if (p->state != P_NEW && !p->closed && !foreign(p))
        weft_process_join(p, WEFT_FOREVER);
    children_remove(p);
    release_fds(p);
    pthread_mutex_destroy(&p->lock);
    if (p->arg_size)
        free(p->arg);
    free(p->name);
    free(p);
}

unsigned weft_cpu_count(void)
{
    return weft__cpu_count();
}
