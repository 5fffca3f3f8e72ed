/*
 * System-call faults: the I/O and resource calls weft makes can fail or
 * come back short, and weft must either retry them into the right result
 * or return a clean error, leaking nothing. This program is linked with
 * --wrap for those calls (tests/CMakeLists.txt), so weft's own calls (and
 * this file's) go through the wrappers below; libc's internal calls do not.
 *
 * A fault plan lives in a shared page: a call counter, the index `at` of
 * the first call that may fail and the kind of fault. The first wrapped
 * call at or after `at` that admits the kind gets it, once, in whichever
 * process or thread of the run makes it (the page is shared with the
 * processes weft starts). A wrapper admits a fault only where a real
 * kernel could give it for that call and descriptor:
 *
 *   EINTR     a call that can sleep: a blocking descriptor, a wait with a
 *             timeout other than 0, a waitid without WNOHANG
 *   EAGAIN    a data call or accept on a non-blocking socket or FIFO (or
 *             with MSG_DONTWAIT)
 *   short     a data call on a stream socket or FIFO moves half the bytes
 *             (at least 1; FIFO writes only above PIPE_BUF, which is atomic)
 *   peer      the other side failed: ECONNRESET (reads), EPIPE (writes),
 *             ECONNREFUSED (connect), ECONNABORTED (accept)
 *   resource  EMFILE (calls that make descriptors), ENOMEM (epoll_ctl ADD,
 *             poll, socket reads), ENOBUFS (socket writes), EAGAIN
 *             (connect: no local port)
 *
 * An injected EAGAIN is one that came just before the descriptor became
 * ready again, and an injected short transfer on a non-blocking descriptor
 * one that found the buffer (nearly) empty or full. The kernel follows
 * either with a new readiness edge once the descriptor is ready again,
 * which edge-triggered epoll users rely on; the wrapper gives that edge
 * too, by re-arming the descriptor's registration in each epoll set that
 * watches it (EPOLL_CTL_MOD with the same events and data, read from
 * /proc/self/fdinfo), which reports it again if it is ready now.
 *
 * The sweep: each scenario (a small workload with a checkable result) runs
 * once unfaulted in a forked child, which counts the wrapped calls and
 * which faults each admits; then, per fault kind, in one forked child per
 * eligible call index (strided to a budget). The outcome of each run must
 * be the right result, or for `peer` and `resource` faults a clean error
 * (a weft call returned a negative code, which the run reports); EINTR,
 * EAGAIN and short transfers must always end in the right result. Any run
 * that crashes, hangs (killed at a deadline), reports a sanitizer error
 * (LeakSanitizer's leak check runs at the end of each run under ASan),
 * leaves a descriptor open or a child process behind, or gets a wrong
 * result fails the test, naming the scenario, the call, its index and the
 * fault.
 *
 * The runs are forked from the test's main thread while no weft thread
 * exists: every scenario makes and tears down its own loops, pools and
 * processes inside its run.
 */
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "weft/procpool.h"
#include "weft/stream.h"
#include "wt.h"

#if WEFT_SANITIZE_ADDRESS
#include <sanitizer/lsan_interface.h>
#endif

#if WEFT_SANITIZE_THREAD
/* A run ends with _exit while the default executor's threads live, and
 * ThreadSanitizer would sleep a second there (atexit_sleep_ms) each time.
 * TSAN_OPTIONS still has the last word. */
const char *__tsan_default_options(void);
const char *__tsan_default_options(void)
{
    return "atexit_sleep_ms=0";
}
#endif

/* ------------------------------------------------------------ faults */

enum fault { F_NONE, F_EINTR, F_EAGAIN, F_SHORT, F_PEER, F_RESOURCE, NFAULTS };
static const char *const fault_names[NFAULTS] = {"none", "EINTR", "EAGAIN", "short",
                                                 "peer", "resource"};
#define BIT(f) (1u << (f))
/* Faults after which weft must still give the right result. */
#define MUST_RECOVER (BIT(F_EINTR) | BIT(F_EAGAIN) | BIT(F_SHORT))

enum call {
    C_READ, C_WRITE, C_RECV, C_SEND, C_RECVMSG, C_SENDMSG, C_ACCEPT4, C_CONNECT,
    C_SOCKET, C_SOCKETPAIR, C_PIPE2, C_EPOLL_CREATE1, C_EPOLL_CTL, C_EPOLL_WAIT,
    C_EPOLL_PWAIT2, C_EVENTFD, C_MEMFD_CREATE, C_POLL, C_PPOLL, C_WAITID, C_WAITPID,
    NCALLS
};
static const char *const call_names[NCALLS] = {
    "read", "write", "recv", "send", "recvmsg", "sendmsg", "accept4", "connect",
    "socket", "socketpair", "pipe2", "epoll_create1", "epoll_ctl", "epoll_wait",
    "epoll_pwait2", "eventfd", "memfd_create", "poll", "ppoll", "waitid", "waitpid"};

/* Calls whose admitted faults the counting run records, by index. */
#define MAX_CALLS 65536

/*
 * The page shared by the harness, its run child and every process that
 * child starts. The harness writes the plan before forking a run; the
 * wrappers and the run write the rest; the harness reads it once the run
 * child is gone.
 */
typedef struct page {
    /* The plan. */
    int armed;         /* atomic: wrappers count and inject only while set */
    int fault;         /* enum fault of this run; F_NONE counts only */
    uint64_t at;       /* the first call index that may fail */
    /* The wrappers. */
    uint64_t calls;    /* atomic: wrapped calls made while armed */
    int fired;         /* atomic: the fault was injected (once) */
    int fired_call;    /* enum call that got it */
    int fired_errno;   /* its errno, 0 for a short transfer */
    uint64_t fired_index;
    pid_t fired_pid;
    uint8_t admits[MAX_CALLS]; /* counting run: BIT(fault) mask per call index */
    /* The run. */
    int wrong_set;     /* atomic: wrong[] holds the first wrong result */
    char wrong[256];
    int done;          /* the run child finished its checks */
    int rc;            /* the scenario's result: 0 or a weft code */
    int child_rc;      /* the error a process the run started failed with */
    int leaked;        /* LeakSanitizer found a leak */
    int new_fds;       /* descriptors the run left open */
    char fd_report[256];
    char child_report[128];
} page;

static page *g;

static bool armed(void)
{
    return g && __atomic_load_n(&g->armed, __ATOMIC_ACQUIRE);
}

/* What a wrapper's call admits, and how each admitted fault looks. */
typedef struct admit {
    unsigned mask;     /* BIT(fault) */
    int peer, resource; /* the errno of those two */
    int fd;            /* an EAGAIN re-arms this descriptor's edges; -1: none */
    bool nonblocking;  /* ... and so does a short transfer on a non-blocking one */
} admit;

static void rearm(int fd);

/* Count the call; if it is the planned one, claim the fault: the errno to
 * fail with (0: none), or *shorten for a short transfer. */
static int inject(enum call c, admit a, bool *shorten)
{
    *shorten = false;
    uint64_t i = __atomic_fetch_add(&g->calls, 1, __ATOMIC_RELAXED);
    int f = g->fault;
    if (f == F_NONE && i < MAX_CALLS)
        g->admits[i] = (uint8_t)a.mask; /* the counting run */
    if (f == F_NONE || i < g->at || !(a.mask & BIT(f)))
        return 0;
    int zero = 0;
    if (!__atomic_compare_exchange_n(&g->fired, &zero, 1, false, __ATOMIC_ACQ_REL,
                                     __ATOMIC_RELAXED))
        return 0;
    int e = f == F_EINTR ? EINTR : f == F_EAGAIN ? EAGAIN : f == F_PEER ? a.peer
          : f == F_RESOURCE ? a.resource : 0;
    g->fired_call = c;
    g->fired_errno = e;
    g->fired_index = i;
    g->fired_pid = getpid();
    if (f == F_SHORT)
        *shorten = true;
    if ((f == F_EAGAIN || (f == F_SHORT && a.nonblocking)) && a.fd >= 0)
        rearm(a.fd);
    return e;
}

/* ---------------------------------------------- descriptors' natures */

enum fd_kind { FD_OTHER, FD_FILE, FD_FIFO, FD_STREAM, FD_DGRAM };

static enum fd_kind fd_kind_of(int fd)
{
    struct stat st;
    if (fstat(fd, &st) != 0)
        return FD_OTHER;
    if (S_ISREG(st.st_mode))
        return FD_FILE;
    if (S_ISFIFO(st.st_mode))
        return FD_FIFO;
    if (!S_ISSOCK(st.st_mode))
        return FD_OTHER; /* eventfd, epoll, pidfd, tty */
    int type = 0;
    socklen_t len = sizeof type;
    getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len);
    return type == SOCK_STREAM ? FD_STREAM : FD_DGRAM; /* seqpacket keeps boundaries */
}

static bool nonblocking(int fd, int flags)
{
    int fl = fcntl(fd, F_GETFL);
    return (flags & MSG_DONTWAIT) || (fl >= 0 && (fl & O_NONBLOCK));
}

/* A read or write of len bytes on fd (MSG_* flags for the socket calls). */
static admit io_admit(int fd, int flags, size_t len, bool out)
{
    enum fd_kind k = fd_kind_of(fd);
    bool nb = nonblocking(fd, flags), sock = k == FD_STREAM || k == FD_DGRAM;
    admit a = {.peer = out ? EPIPE : ECONNRESET, .resource = out ? ENOBUFS : ENOMEM, .fd = fd,
               .nonblocking = nb};
    if (!nb && k != FD_FILE)
        a.mask |= BIT(F_EINTR);
    if (nb && (sock || k == FD_FIFO))
        a.mask |= BIT(F_EAGAIN);
    if ((k == FD_STREAM || k == FD_FIFO) && len >= 2 && !(k == FD_FIFO && out && len <= PIPE_BUF))
        a.mask |= BIT(F_SHORT);
    if (k == FD_STREAM || (k == FD_FIFO && out))
        a.mask |= BIT(F_PEER);
    if (sock)
        a.mask |= BIT(F_RESOURCE);
    return a;
}

/* A call that makes descriptors. */
static admit make_admit(void)
{
    return (admit){.mask = BIT(F_RESOURCE), .resource = EMFILE, .fd = -1};
}

/* A wait: it sleeps unless its timeout is 0. */
static admit wait_admit(bool sleeps, bool can_fail_alloc)
{
    return (admit){.mask = (sleeps ? BIT(F_EINTR) : 0u) |
                           (can_fail_alloc ? BIT(F_RESOURCE) : 0u),
                   .resource = ENOMEM, .fd = -1};
}

static size_t half(size_t n)
{
    return n / 2 ? n / 2 : 1;
}

/* ------------------- the edge after an EAGAIN or a short transfer */

int __real_epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev);

/* Re-arm fd's registration in epoll set epfd, if it has one, with its own
 * events and data (as /proc shows them): the kernel reports it again if it
 * is ready now. The caller is in a call on fd, which keeps it open (weft
 * counts a socket's calls in flight), so the registration read is live. */
static void rearm_in(int epfd, int fd)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/self/fdinfo/%d", epfd);
    FILE *f = fopen(path, "re");
    if (!f)
        return;
    while (fgets(line, sizeof line, f)) {
        int tfd;
        unsigned events;
        unsigned long long data;
        if (sscanf(line, "tfd: %d events: %x data: %llx", &tfd, &events, &data) == 3 &&
            tfd == fd) {
            struct epoll_event ev = {.events = events, .data.u64 = data};
            __real_epoll_ctl(epfd, EPOLL_CTL_MOD, fd, &ev);
        }
    }
    fclose(f);
}

/* Re-arm fd in every epoll set of the process that watches it. */
static void rearm(int fd)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return;
    for (struct dirent *e; (e = readdir(d));) {
        char path[300], target[64];
        snprintf(path, sizeof path, "/proc/self/fd/%s", e->d_name);
        ssize_t n = readlink(path, target, sizeof target - 1);
        if (n > 0) {
            target[n] = 0;
            if (strcmp(target, "anon_inode:[eventpoll]") == 0)
                rearm_in(atoi(e->d_name), fd);
        }
    }
    closedir(d);
}

/* ------------------------------------------------------ the wrappers */

ssize_t __real_read(int fd, void *buf, size_t n);
ssize_t __real_write(int fd, const void *buf, size_t n);
ssize_t __real_recv(int fd, void *buf, size_t n, int flags);
ssize_t __real_send(int fd, const void *buf, size_t n, int flags);
ssize_t __real_recvmsg(int fd, struct msghdr *m, int flags);
ssize_t __real_sendmsg(int fd, const struct msghdr *m, int flags);
int __real_accept4(int fd, struct sockaddr *a, socklen_t *len, int flags);
int __real_connect(int fd, const struct sockaddr *a, socklen_t len);
int __real_socket(int domain, int type, int proto);
int __real_socketpair(int domain, int type, int proto, int sv[2]);
int __real_pipe2(int fds[2], int flags);
int __real_epoll_create1(int flags);
int __real_epoll_wait(int epfd, struct epoll_event *ev, int max, int ms);
int __real_epoll_pwait2(int epfd, struct epoll_event *ev, int max, const struct timespec *t,
                        const sigset_t *mask);
int __real_eventfd(unsigned int v, int flags);
int __real_memfd_create(const char *name, unsigned int flags);
int __real_poll(struct pollfd *fds, nfds_t n, int ms);
int __real_ppoll(struct pollfd *fds, nfds_t n, const struct timespec *t, const sigset_t *mask);
int __real_waitid(idtype_t type, id_t id, siginfo_t *si, int options);
pid_t __real_waitpid(pid_t pid, int *status, int options);

#define FAIL_WITH(e) (errno = (e), -1)

ssize_t __wrap_read(int fd, void *buf, size_t n)
{
    if (!armed())
        return __real_read(fd, buf, n);
    bool shorten;
    int e = inject(C_READ, io_admit(fd, 0, n, false), &shorten);
    return e ? FAIL_WITH(e) : __real_read(fd, buf, shorten ? half(n) : n);
}

ssize_t __wrap_write(int fd, const void *buf, size_t n)
{
    if (!armed())
        return __real_write(fd, buf, n);
    bool shorten;
    int e = inject(C_WRITE, io_admit(fd, 0, n, true), &shorten);
    return e ? FAIL_WITH(e) : __real_write(fd, buf, shorten ? half(n) : n);
}

ssize_t __wrap_recv(int fd, void *buf, size_t n, int flags)
{
    if (!armed())
        return __real_recv(fd, buf, n, flags);
    bool shorten;
    int e = inject(C_RECV, io_admit(fd, flags, n, false), &shorten);
    return e ? FAIL_WITH(e) : __real_recv(fd, buf, shorten ? half(n) : n, flags);
}

ssize_t __wrap_send(int fd, const void *buf, size_t n, int flags)
{
    if (!armed())
        return __real_send(fd, buf, n, flags);
    bool shorten;
    int e = inject(C_SEND, io_admit(fd, flags, n, true), &shorten);
    return e ? FAIL_WITH(e) : __real_send(fd, buf, shorten ? half(n) : n, flags);
}

static size_t iov_total(const struct msghdr *m)
{
    size_t n = 0;
    for (size_t i = 0; i < m->msg_iovlen; i++)
        n += m->msg_iov[i].iov_len;
    return n;
}

/* Copy m's first `keep` bytes of vectors into iov (room for m's count). */
static void iov_cut(const struct msghdr *m, struct iovec *iov, struct msghdr *out, size_t keep)
{
    *out = *m;
    out->msg_iov = iov;
    out->msg_iovlen = 0;
    for (size_t i = 0; i < m->msg_iovlen && keep; i++) {
        size_t take = m->msg_iov[i].iov_len < keep ? m->msg_iov[i].iov_len : keep;
        iov[out->msg_iovlen++] = (struct iovec){m->msg_iov[i].iov_base, take};
        keep -= take;
    }
}

ssize_t __wrap_recvmsg(int fd, struct msghdr *m, int flags)
{
    if (!armed())
        return __real_recvmsg(fd, m, flags);
    bool shorten;
    size_t total = iov_total(m);
    int e = inject(C_RECVMSG, io_admit(fd, flags, total, false), &shorten);
    if (e)
        return FAIL_WITH(e);
    if (!shorten)
        return __real_recvmsg(fd, m, flags);
    struct iovec iov[m->msg_iovlen];
    struct msghdr cut;
    iov_cut(m, iov, &cut, half(total));
    ssize_t r = __real_recvmsg(fd, &cut, flags);
    m->msg_namelen = cut.msg_namelen;
    m->msg_controllen = cut.msg_controllen;
    m->msg_flags = cut.msg_flags;
    return r;
}

ssize_t __wrap_sendmsg(int fd, const struct msghdr *m, int flags)
{
    if (!armed())
        return __real_sendmsg(fd, m, flags);
    bool shorten;
    size_t total = iov_total(m);
    int e = inject(C_SENDMSG, io_admit(fd, flags, total, true), &shorten);
    if (e)
        return FAIL_WITH(e);
    if (!shorten)
        return __real_sendmsg(fd, m, flags);
    struct iovec iov[m->msg_iovlen];
    struct msghdr cut;
    iov_cut(m, iov, &cut, half(total));
    return __real_sendmsg(fd, &cut, flags);
}

int __wrap_accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags)
{
    if (!armed())
        return __real_accept4(fd, addr, len, flags);
    bool nb = nonblocking(fd, 0), shorten;
    admit a = {.mask = (nb ? BIT(F_EAGAIN) : BIT(F_EINTR)) | BIT(F_PEER) | BIT(F_RESOURCE),
               .peer = ECONNABORTED, .resource = EMFILE, .fd = fd};
    int e = inject(C_ACCEPT4, a, &shorten);
    return e ? FAIL_WITH(e) : __real_accept4(fd, addr, len, flags);
}

int __wrap_connect(int fd, const struct sockaddr *addr, socklen_t len)
{
    if (!armed())
        return __real_connect(fd, addr, len);
    bool shorten;
    admit a = {.mask = (nonblocking(fd, 0) ? 0u : BIT(F_EINTR)) | BIT(F_PEER) | BIT(F_RESOURCE),
               .peer = ECONNREFUSED, .resource = EAGAIN, .fd = -1};
    int e = inject(C_CONNECT, a, &shorten);
    return e ? FAIL_WITH(e) : __real_connect(fd, addr, len);
}

/* The calls that make descriptors: EMFILE or the real call. */
#define WRAP_MAKER(name, call, params, args)                                            \
    int __wrap_##name params                                                             \
    {                                                                                    \
        bool shorten;                                                                    \
        int e = armed() ? inject(call, make_admit(), &shorten) : 0;                      \
        return e ? FAIL_WITH(e) : __real_##name args;                                    \
    }

WRAP_MAKER(socket, C_SOCKET, (int domain, int type, int proto), (domain, type, proto))
WRAP_MAKER(socketpair, C_SOCKETPAIR, (int domain, int type, int proto, int sv[2]),
           (domain, type, proto, sv))
WRAP_MAKER(pipe2, C_PIPE2, (int fds[2], int flags), (fds, flags))
WRAP_MAKER(epoll_create1, C_EPOLL_CREATE1, (int flags), (flags))
WRAP_MAKER(eventfd, C_EVENTFD, (unsigned int v, int flags), (v, flags))
WRAP_MAKER(memfd_create, C_MEMFD_CREATE, (const char *name, unsigned int flags), (name, flags))

int __wrap_epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev)
{
    if (!armed())
        return __real_epoll_ctl(epfd, op, fd, ev);
    bool shorten;
    /* Only an ADD allocates (ENOMEM, or ENOSPC past max_user_watches). */
    admit a = {.mask = op == EPOLL_CTL_ADD ? BIT(F_RESOURCE) : 0u, .resource = ENOMEM, .fd = -1};
    int e = inject(C_EPOLL_CTL, a, &shorten);
    return e ? FAIL_WITH(e) : __real_epoll_ctl(epfd, op, fd, ev);
}

int __wrap_epoll_wait(int epfd, struct epoll_event *ev, int max, int ms)
{
    if (!armed())
        return __real_epoll_wait(epfd, ev, max, ms);
    bool shorten;
    int e = inject(C_EPOLL_WAIT, wait_admit(ms != 0, false), &shorten);
    return e ? FAIL_WITH(e) : __real_epoll_wait(epfd, ev, max, ms);
}

int __wrap_epoll_pwait2(int epfd, struct epoll_event *ev, int max, const struct timespec *t,
                        const sigset_t *mask)
{
    if (!armed())
        return __real_epoll_pwait2(epfd, ev, max, t, mask);
    bool shorten, sleeps = !t || t->tv_sec || t->tv_nsec;
    int e = inject(C_EPOLL_PWAIT2, wait_admit(sleeps, false), &shorten);
    return e ? FAIL_WITH(e) : __real_epoll_pwait2(epfd, ev, max, t, mask);
}

int __wrap_poll(struct pollfd *fds, nfds_t n, int ms)
{
    if (!armed())
        return __real_poll(fds, n, ms);
    bool shorten;
    int e = inject(C_POLL, wait_admit(ms != 0, true), &shorten);
    return e ? FAIL_WITH(e) : __real_poll(fds, n, ms);
}

int __wrap_ppoll(struct pollfd *fds, nfds_t n, const struct timespec *t, const sigset_t *mask)
{
    if (!armed())
        return __real_ppoll(fds, n, t, mask);
    bool shorten, sleeps = !t || t->tv_sec || t->tv_nsec;
    int e = inject(C_PPOLL, wait_admit(sleeps, true), &shorten);
    return e ? FAIL_WITH(e) : __real_ppoll(fds, n, t, mask);
}

int __wrap_waitid(idtype_t type, id_t id, siginfo_t *si, int options)
{
    if (!armed())
        return __real_waitid(type, id, si, options);
    bool shorten;
    int e = inject(C_WAITID, wait_admit(!(options & WNOHANG), false), &shorten);
    return e ? FAIL_WITH(e) : __real_waitid(type, id, si, options);
}

pid_t __wrap_waitpid(pid_t pid, int *status, int options)
{
    if (!armed())
        return __real_waitpid(pid, status, options);
    bool shorten;
    int e = inject(C_WAITPID, wait_admit(!(options & WNOHANG), false), &shorten);
    return e ? FAIL_WITH(e) : __real_waitpid(pid, status, options);
}

/* ------------------------------------------- what scenarios share */

/* A scenario found a wrong result (in any process of the run): the first
 * one is kept for the report. Returns a code that stops the scenario. */
static int wrong(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int wrong(const char *fmt, ...)
{
    if (!__atomic_exchange_n(&g->wrong_set, 1, __ATOMIC_ACQ_REL)) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(g->wrong, sizeof g->wrong, fmt, ap);
        va_end(ap);
    }
    return WEFT_EINVAL;
}

/* The code to report when two steps failed: the first argument's, which
 * callers pass cause first (a teardown's error follows from the body's). */
static int first_error(int a, int b)
{
    return a ? a : b;
}

/* The byte at offset i of a scenario's data stream `seed`. */
static unsigned char pattern(unsigned seed, size_t i)
{
    return (unsigned char)(i * 7 + i / 251 + seed * 31);
}

static void fill_pattern(void *buf, size_t n, unsigned seed, size_t from)
{
    for (size_t i = 0; i < n; i++)
        ((unsigned char *)buf)[i] = pattern(seed, from + i);
}

/* 0 if buf holds stream `seed`'s bytes from offset `from`, else the code
 * wrong() returns, naming `who` and the first differing offset. */
static int check_pattern(const void *buf, size_t n, unsigned seed, size_t from, const char *who)
{
    for (size_t i = 0; i < n; i++)
        if (((const unsigned char *)buf)[i] != pattern(seed, from + i))
            return wrong("%s: byte %zu is %u, expected %u", who, from + i,
                         ((const unsigned char *)buf)[i], pattern(seed, from + i));
    return 0;
}

static int square_on_thread(void *arg, void **result)
{
    intptr_t v = (intptr_t)arg;
    *result = (void *)(v * v);
    return 0;
}

/* ---------------------------------------------------- scenario: loop */

/* Timers and call_soon (their order), call_soon_threadsafe from another
 * thread (the loop's cross-thread wake), to_thread and run_in_executor. */
typedef struct loop_ctx {
    weft_loop *loop;
    char order[4];           /* what ran: 's' call_soon, '1' and '2' the timers */
    int norder;
    weft_future *woken;      /* completed by the cross-thread callback */
    weft_future *timers;     /* completed by the later timer */
} loop_ctx;

static void note_order(loop_ctx *c, char what)
{
    if (c->norder < (int)sizeof c->order - 1)
        c->order[c->norder++] = what;
}

static void soon_cb(void *arg)
{
    note_order(arg, 's');
}

static void first_timer_cb(void *arg)
{
    note_order(arg, '1');
}

static void second_timer_cb(void *arg)
{
    loop_ctx *c = arg;
    note_order(c, '2');
    weft_future_set_result(c->timers, NULL);
}

static void woken_cb(void *arg)
{
    loop_ctx *c = arg;
    weft_future_set_result(c->woken, (void *)(intptr_t)42);
}

static void *post_from_thread(void *arg)
{
    loop_ctx *c = arg;
    int rc = weft_loop_call_soon_threadsafe(c->loop, woken_cb, c, NULL);
    if (rc) /* the callback will never run: end the future here */
        weft_future_set_error(c->woken, rc, NULL);
    return NULL;
}

/* Await f; 0 if it gave `want`. */
static int await_value(weft_future *f, intptr_t want, const char *what)
{
    void *v = NULL;
    int rc = weft_await(f, &v, WEFT_FOREVER);
    if (rc == 0 && (intptr_t)v != want)
        rc = wrong("%s gave %ld, expected %ld", what, (long)(intptr_t)v, (long)want);
    return rc;
}

static int cross_thread_wake(loop_ctx *c)
{
    weft_thread *t = NULL;
    int rc = weft_thread_new(&t, post_from_thread, c, NULL);
    if (rc)
        return rc;
    if ((rc = weft_thread_start(t)) != 0) {
        weft_thread_unref(t);
        return rc;
    }
    rc = await_value(c->woken, 42, "call_soon_threadsafe");
    int rc2 = weft_thread_join(t, WEFT_FOREVER);
    weft_thread_unref(t);
    return first_error(rc, rc2);
}

static int executor_results(loop_ctx *c)
{
    void *v = NULL;
    int rc = weft_to_thread(square_on_thread, (void *)7, &v);
    if (rc == 0 && (intptr_t)v != 49)
        rc = wrong("to_thread gave %ld, expected 49", (long)(intptr_t)v);
    if (rc)
        return rc;
    weft_future *f = NULL;
    if ((rc = weft_run_in_executor(c->loop, NULL, square_on_thread, (void *)9, &f)) != 0)
        return rc;
    rc = await_value(f, 81, "run_in_executor");
    weft_future_unref(f);
    return rc;
}

static int loop_main(void *arg, void **result)
{
    loop_ctx *c = arg;
    c->loop = weft_get_running_loop();
    double now = weft_loop_time(c->loop); /* one base: the order is the deadlines' */
    int rc = weft_loop_call_at(c->loop, now + 0.002, second_timer_cb, c, NULL);
    if (!rc)
        rc = weft_loop_call_at(c->loop, now + 0.001, first_timer_cb, c, NULL);
    if (!rc)
        rc = weft_loop_call_soon(c->loop, soon_cb, c, NULL);
    if (!rc)
        rc = cross_thread_wake(c);
    if (!rc)
        rc = executor_results(c);
    if (!rc)
        rc = weft_await(c->timers, NULL, WEFT_FOREVER);
    if (!rc && strcmp(c->order, "s12") != 0)
        rc = wrong("callbacks ran in the order \"%s\", expected \"s12\"", c->order);
    return rc;
}

static int loop_scenario(void)
{
    loop_ctx c = {0};
    int rc = weft_future_new(&c.woken);
    if (!rc)
        rc = weft_future_new(&c.timers);
    if (!rc)
        rc = weft_run(loop_main, &c, NULL);
    weft_future_unref(c.woken);
    weft_future_unref(c.timers);
    return rc;
}

/* ----------------------------------------------------- scenario: net */

/* A TCP echo over 127.0.0.1 between two coroutines: the client sends
 * NET_BYTES in chunks and half-closes, the server checks and echoes every
 * chunk until the end, the client checks what comes back. */
#define NET_BYTES 6000
#define NET_CHUNK 1000

typedef struct net_ctx {
    weft_socket *listener;
    weft_sockaddr addr;
} net_ctx;

static int net_server(void *arg, void **result)
{
    net_ctx *c = arg;
    weft_socket *s = NULL;
    int rc = weft_socket_accept(c->listener, &s, NULL, WEFT_FOREVER);
    if (rc)
        return rc;
    char buf[NET_CHUNK];
    size_t total = 0, n;
    while ((rc = weft_socket_recv(s, buf, sizeof buf, &n, WEFT_FOREVER)) == 0 && n > 0) {
        if ((rc = check_pattern(buf, n, 1, total, "echo server")) != 0)
            break;
        total += n;
        if ((rc = weft_socket_sendall(s, buf, n, NULL, WEFT_FOREVER)) != 0)
            break;
    }
    if (rc == 0 && total != NET_BYTES)
        rc = WEFT_EEOF; /* the client failed and left: its error is the cause */
    rc = first_error(rc, weft_socket_close(s));
    weft_socket_free(s);
    return rc;
}

static int net_send_all(weft_socket *s)
{
    char buf[NET_CHUNK];
    for (size_t off = 0; off < NET_BYTES; off += NET_CHUNK) {
        fill_pattern(buf, NET_CHUNK, 1, off);
        int rc = weft_socket_sendall(s, buf, NET_CHUNK, NULL, WEFT_FOREVER);
        if (rc)
            return rc;
    }
    return weft_socket_shutdown(s, SHUT_WR);
}

static int net_receive_echo(weft_socket *s)
{
    char buf[NET_CHUNK];
    size_t total = 0, n;
    int rc;
    while ((rc = weft_socket_recv(s, buf, sizeof buf, &n, WEFT_FOREVER)) == 0 && n > 0) {
        if ((rc = check_pattern(buf, n, 1, total, "echo client")) != 0)
            return rc;
        total += n;
    }
    if (rc == 0 && total != NET_BYTES)
        rc = WEFT_EEOF; /* the server failed and left */
    return rc;
}

static int net_client(void *arg, void **result)
{
    net_ctx *c = arg;
    weft_socket *s = NULL;
    int rc = weft_socket_new(&s, AF_INET, SOCK_STREAM);
    if (rc)
        return rc;
    rc = weft_socket_connect(s, &c->addr, WEFT_FOREVER);
    if (!rc)
        rc = net_send_all(s);
    if (!rc)
        rc = net_receive_echo(s);
    rc = first_error(rc, weft_socket_close(s));
    weft_socket_free(s);
    return rc;
}

/* Run server and client as a task group: a failure cancels the other. */
static int net_main(void *arg, void **result)
{
    net_ctx *c = arg;
    weft_task_group *tg = NULL;
    int rc = weft_task_group_new(&tg);
    if (rc)
        return rc;
    rc = weft_task_group_create_task(tg, net_server, c, "server", NULL);
    if (!rc)
        rc = weft_task_group_create_task(tg, net_client, c, "client", NULL);
    int rc2 = weft_task_group_wait(tg);
    weft_task_group_free(tg);
    return first_error(rc, rc2);
}

static int net_scenario(void)
{
    net_ctx c = {0};
    int rc = weft_create_server(&c.listener, "127.0.0.1", 0, NULL);
    if (rc)
        return rc;
    rc = weft_socket_getsockname(c.listener, &c.addr);
    if (!rc)
        rc = weft_run(net_main, &c, NULL);
    rc = first_error(rc, weft_socket_close(c.listener));
    weft_socket_free(c.listener);
    return rc;
}

/* -------------------------------------------------- scenario: stream */

/*
 * A line protocol between a weft_server's handler and a client made with
 * weft_open_connection, each request written and drained, each reply read
 * with readuntil("\n"):
 *   "HELLO <k> <text>\n"          -> "OK <k> <length of text>\n"   (readline)
 *   "BLOB <n>\n" + n bytes        -> "GOT <n> <byte sum>\n"        (readexactly)
 *   "<text>\r\n\r\n"              -> "REC <length with separator>\n" (readuntil)
 *   "QUIT\n"                      -> "BYE\n", then the end of the stream
 * The client's high-water mark is small, so a blob the socket does not
 * take at once makes drain wait for the loop's background flush.
 */
#define STREAM_LINES 4
#define STREAM_BLOB 3000
#define STREAM_REC "a record: key=value; other=thing"
#define STREAM_SEP "\r\n\r\n"

typedef struct stream_ctx {
    int port;
    int handler_rc;    /* the first error the loop reported for a handler */
} stream_ctx;

static void record_handler_error(weft_loop *loop, const weft_loop_error *err, void *arg)
{
    stream_ctx *c = arg;
    if (!c->handler_rc)
        c->handler_rc = err->code ? err->code : WEFT_EBROKEN;
}

static unsigned blob_sum(void)
{
    unsigned sum = 0;
    for (size_t i = 0; i < STREAM_BLOB; i++)
        sum += pattern(2, i);
    return sum;
}

/* The handler's answer to a "BLOB <n>" request: read the n bytes. */
static int serve_blob(weft_stream *st, size_t n, char *reply, size_t cap)
{
    static char blob[STREAM_BLOB];
    size_t got = 0;
    if (n != STREAM_BLOB)
        return wrong("handler: BLOB of %zu bytes, expected %d", n, STREAM_BLOB);
    int rc = weft_stream_readexactly(st, blob, n, &got, WEFT_FOREVER);
    if (!rc)
        rc = check_pattern(blob, n, 2, 0, "handler's blob");
    unsigned sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += (unsigned char)blob[i];
    snprintf(reply, cap, "GOT %zu %u\n", n, sum);
    return rc;
}

/* The handler's answer to a request whose first line is `line`. */
static int serve_request(weft_stream *st, const char *line, char *reply, size_t cap)
{
    int k, len;
    size_t n;
    char text[128];
    if (sscanf(line, "HELLO %d %n", &k, &len) == 1) {
        snprintf(reply, cap, "OK %d %zu\n", k, strlen(line + len) - 1);
        return 0;
    }
    if (sscanf(line, "BLOB %zu", &n) == 1)
        return serve_blob(st, n, reply, cap);
    if (strcmp(line, "QUIT\n") == 0) {
        snprintf(reply, cap, "BYE\n");
        return 1;
    }
    if (strncmp(line, "RECORD\n", 7) == 0) {
        int rc = weft_stream_readuntil(st, STREAM_SEP, 4, text, sizeof text, &n, WEFT_FOREVER);
        if (!rc && (n != strlen(STREAM_REC STREAM_SEP) || memcmp(text, STREAM_REC, n - 4) != 0))
            rc = wrong("handler: record of %zu bytes \"%.*s\"", n, (int)n, text);
        snprintf(reply, cap, "REC %zu\n", n);
        return rc;
    }
    return wrong("handler: unknown request \"%s\"", line);
}

static int stream_handler(weft_stream *st, void *arg)
{
    for (;;) {
        char line[256], reply[64];
        size_t len = 0;
        int rc = weft_stream_readline(st, line, sizeof line - 1, &len, WEFT_FOREVER);
        if (rc)
            return rc;
        if (len == 0 || line[len - 1] != '\n')
            return WEFT_EEOF; /* the client left before QUIT */
        line[len] = 0;
        int r = serve_request(st, line, reply, sizeof reply);
        if (r < 0)
            return r;
        if ((rc = weft_stream_write(st, reply, strlen(reply))) != 0 ||
            (rc = weft_stream_drain(st, WEFT_FOREVER)) != 0)
            return rc;
        if (r == 1)
            return 0; /* QUIT: the server closes the stream */
    }
}

/* Send a request (written, then drained) and check its one-line reply. */
static int exchange(weft_stream *st, const void *req, size_t len, const char *want)
{
    char reply[64];
    size_t n = 0;
    int rc = weft_stream_write(st, req, len);
    if (!rc)
        rc = weft_stream_drain(st, WEFT_FOREVER);
    if (!rc)
        rc = weft_stream_readuntil(st, "\n", 1, reply, sizeof reply, &n, WEFT_FOREVER);
    if (!rc && (n != strlen(want) || memcmp(reply, want, n) != 0))
        rc = wrong("client: reply \"%.*s\", expected \"%s\"", (int)n, reply, want);
    return rc;
}

static int stream_requests(weft_stream *st)
{
    char req[STREAM_BLOB + 32], want[64];
    int rc = 0;
    for (int k = 0; k < STREAM_LINES && !rc; k++) {
        int len = snprintf(req, sizeof req, "HELLO %d %.*s\n", k, 10 + 20 * k,
                           "the quick brown fox jumps over the lazy dog, again and again, "
                           "and once more for luck");
        snprintf(want, sizeof want, "OK %d %d\n", k, 10 + 20 * k);
        rc = exchange(st, req, (size_t)len, want);
    }
    if (!rc) {
        int len = snprintf(req, sizeof req, "BLOB %d\n", STREAM_BLOB);
        fill_pattern(req + len, STREAM_BLOB, 2, 0);
        snprintf(want, sizeof want, "GOT %d %u\n", STREAM_BLOB, blob_sum());
        rc = exchange(st, req, (size_t)len + STREAM_BLOB, want);
    }
    if (!rc) {
        const char rec[] = "RECORD\n" STREAM_REC STREAM_SEP;
        snprintf(want, sizeof want, "REC %zu\n", strlen(STREAM_REC STREAM_SEP));
        rc = exchange(st, rec, sizeof rec - 1, want);
    }
    if (!rc)
        rc = exchange(st, "QUIT\n", 5, "BYE\n");
    return rc;
}

static int stream_client(stream_ctx *c)
{
    weft_stream_opts o = {.high_water = 1024, .low_water = 256};
    weft_stream *st = NULL;
    int rc = weft_open_connection(&st, "127.0.0.1", c->port, &o, WEFT_FOREVER);
    if (rc)
        return rc;
    rc = stream_requests(st);
    if (!rc) { /* after BYE the server ends the stream */
        char b;
        size_t n = 0;
        rc = weft_stream_read(st, &b, 1, &n, WEFT_FOREVER);
        if (!rc && (n != 0 || !weft_stream_at_eof(st)))
            rc = wrong("client: %zu more bytes after BYE", n);
    }
    rc = first_error(rc, weft_stream_close(st, WEFT_FOREVER));
    weft_stream_free(st);
    return rc;
}

static int stream_main(void *arg, void **result)
{
    stream_ctx *c = arg;
    weft_loop_set_exception_handler(weft_get_running_loop(), record_handler_error, c);
    weft_server *srv = NULL;
    int rc = weft_server_start(&srv, stream_handler, c, "127.0.0.1", 0, NULL);
    if (rc)
        return rc;
    weft_socket *ls = NULL;
    size_t n = 0;
    weft_sockaddr addr;
    rc = weft_server_sockets(srv, &ls, 1, &n);
    if (!rc)
        rc = weft_socket_getsockname(ls, &addr);
    if (!rc) {
        c->port = weft_sockaddr_port(&addr);
        rc = stream_client(c);
    }
    int rc2 = weft_server_close(srv);
    if (!rc2)
        rc2 = weft_server_wait_closed(srv, WEFT_FOREVER);
    weft_server_free(srv);
    return first_error(first_error(rc, c->handler_rc), rc2);
}

static int stream_scenario(void)
{
    stream_ctx c = {0};
    return weft_run(stream_main, &c, NULL);
}

/* ------------------------------------------------- scenario: process */

/*
 * A fork child and its parent: the parent sends PROC_MSGS messages of
 * growing size on a duplex pipe and the child answers each with a digest;
 * the parent put PROC_ITEMS numbers in a process queue before the start,
 * which the child sums into another queue; a last "done" on the pipe says
 * the sum is there. Either side stops at its first error and closes its
 * end, which the other sees as the end of the pipe; the parent kills the
 * child if it failed itself.
 */
#define PROC_MSGS 6
#define PROC_ITEMS 8
/* The parent's timeout: finite, so its calls take the MSG_DONTWAIT + ppoll
 * path (the child's, without one, block in the kernel), and far beyond a
 * run's deadline, so a stuck call is still caught as a hang. */
#define PROC_TIMEOUT 600.0

typedef struct proc_args {
    weft_conn *parent_end, *child_end;
    weft_pqueue *in, *out;
} proc_args;

typedef struct digest {
    uint32_t index, len, sum;
} digest;

static size_t proc_msg_len(int i)
{
    return (size_t)i * 5000 + 3;
}

static digest digest_of(int i, const unsigned char *buf, size_t len)
{
    digest d = {(uint32_t)i, (uint32_t)len, 0};
    for (size_t j = 0; j < len; j++)
        d.sum = d.sum * 31 + buf[j];
    return d;
}

static int child_exchange(weft_conn *c)
{
    for (int i = 0; i < PROC_MSGS; i++) {
        void *buf = NULL;
        size_t len = 0;
        int rc = weft_conn_recv_bytes_alloc(c, &buf, &len, 1 << 20, WEFT_FOREVER);
        if (rc)
            return rc;
        if (len != proc_msg_len(i))
            rc = wrong("child: message %d has %zu bytes, expected %zu", i, len, proc_msg_len(i));
        if (!rc)
            rc = check_pattern(buf, len, 3 + (unsigned)i, 0, "child");
        digest d = digest_of(i, buf, len);
        free(buf);
        if (!rc)
            rc = weft_conn_send_bytes(c, &d, sizeof d, WEFT_FOREVER);
        if (rc)
            return rc;
    }
    return 0;
}

static int child_sum(proc_args *a)
{
    uint64_t sum = 0;
    for (int i = 0; i < PROC_ITEMS; i++) {
        uint64_t v = 0;
        size_t len = 0;
        int rc = weft_pqueue_get(a->in, &v, sizeof v, &len, WEFT_FOREVER);
        if (rc)
            return rc;
        sum += v;
    }
    int rc = weft_pqueue_put(a->out, &sum, sizeof sum, WEFT_FOREVER);
    return rc ? rc : weft_conn_send_bytes(a->child_end, "done", 4, WEFT_FOREVER);
}

/* The child's exit status is 0 or 1; its error code goes to the page. */
static int proc_child(void *arg)
{
    proc_args *a = arg;
    weft_conn_close(a->parent_end);
    int rc = child_exchange(a->child_end);
    if (!rc)
        rc = child_sum(a);
    if (rc)
        __atomic_store_n(&g->child_rc, rc, __ATOMIC_RELAXED);
    weft_conn_close(a->child_end);
    return rc ? 1 : 0;
}

static int parent_exchange(weft_conn *c)
{
    unsigned char *buf = malloc(proc_msg_len(PROC_MSGS - 1));
    if (!buf)
        return WEFT_ENOMEM;
    int rc = 0;
    for (int i = 0; i < PROC_MSGS && !rc; i++) {
        size_t len = proc_msg_len(i), n = 0;
        fill_pattern(buf, len, 3 + (unsigned)i, 0);
        digest want = digest_of(i, buf, len), got = {0};
        rc = weft_conn_send_bytes(c, buf, len, PROC_TIMEOUT);
        if (!rc)
            rc = weft_conn_recv_bytes(c, &got, sizeof got, &n, PROC_TIMEOUT);
        if (!rc && (n != sizeof got || memcmp(&got, &want, sizeof got) != 0))
            rc = wrong("parent: digest %d is {%u, %u, %u}, expected {%u, %u, %u}", i, got.index,
                       got.len, got.sum, want.index, want.len, want.sum);
    }
    free(buf);
    return rc;
}

static int parent_sum(proc_args *a)
{
    char done[8];
    size_t n = 0;
    uint64_t sum = 0;
    int rc = weft_conn_recv_bytes(a->parent_end, done, sizeof done, &n, PROC_TIMEOUT);
    if (!rc && (n != 4 || memcmp(done, "done", 4) != 0))
        return wrong("parent: \"%.*s\" instead of \"done\"", (int)n, done);
    if (!rc)
        rc = weft_pqueue_get(a->out, &sum, sizeof sum, &n, 0);
    if (!rc && sum != PROC_ITEMS * (PROC_ITEMS + 1) / 2)
        rc = wrong("parent: the child's sum is %llu", (unsigned long long)sum);
    return rc;
}

/* Run the child and talk to it; then reap it (killed if we failed). */
static int run_proc_child(proc_args *a)
{
    weft_process_opts po = {.start_method = WEFT_START_FORK, .arg_size = sizeof *a};
    weft_process *p = NULL;
    int rc = weft_process_new(&p, proc_child, a, &po);
    if (rc)
        return rc;
    if ((rc = weft_process_start(p)) != 0) {
        weft_process_free(p);
        return rc;
    }
    weft_conn_close(a->child_end);
    rc = parent_exchange(a->parent_end);
    if (!rc)
        rc = parent_sum(a);
    if (rc)
        weft_process_kill(p);
    int code = -1;
    int rc2 = weft_process_join(p, WEFT_FOREVER);
    if (!rc2)
        rc2 = weft_process_exitcode(p, &code);
    if (!rc2 && !rc && code != 0)
        rc2 = wrong("the child exited with %d after a correct exchange", code);
    weft_process_free(p);
    return first_error(rc, rc2);
}

static int process_scenario(void)
{
    proc_args a = {0};
    weft_pqueue_opts qo = {.capacity = 4096};
    int rc = weft_pipe(&a.parent_end, &a.child_end, true);
    if (!rc)
        rc = weft_pqueue_new(&a.in, &qo);
    if (!rc)
        rc = weft_pqueue_new(&a.out, &qo);
    for (uint64_t v = 1; v <= PROC_ITEMS && !rc; v++)
        rc = weft_pqueue_put(a.in, &v, sizeof v, 0);
    if (!rc) {
        rc = run_proc_child(&a);
        /* The child's own failure is the cause of what the parent saw. */
        int child = __atomic_load_n(&g->child_rc, __ATOMIC_RELAXED);
        if (child && !g->wrong_set)
            rc = child;
    }
    weft_conn_free(a.parent_end);
    weft_conn_free(a.child_end);
    weft_pqueue_free(a.in);
    weft_pqueue_free(a.out);
    return rc;
}

/* ---------------------------------------------------- scenario: pool */

/* A process pool (fork workers) and a thread pool, each given the same
 * submits and map of squares. */
#define POOL_SUBMITS 4
#define POOL_MAP 6

/* A pool's task: the square of an int, as bytes (process pool) or as the
 * pointer's value (thread pool). */
typedef struct pool_kind {
    weft_task_fn fn;
    int (*arg)(int v, void **out);
    int (*value)(void *result, long *v); /* frees the result */
    void (*drop)(void *arg_or_result);
} pool_kind;

static int bytes_square(void *arg, void **result)
{
    weft_bytes *in = arg;
    int v;
    if (!in || in->len != sizeof v)
        return WEFT_EINVAL;
    memcpy(&v, in->data, sizeof v);
    long sq = (long)v * v;
    return weft_bytes_new((weft_bytes **)result, &sq, sizeof sq);
}

static int bytes_arg(int v, void **out)
{
    return weft_bytes_new((weft_bytes **)out, &v, sizeof v);
}

static int bytes_value(void *result, long *v)
{
    weft_bytes *b = result;
    int rc = b && b->len == sizeof *v ? 0 : wrong("a process pool result of the wrong size");
    if (!rc)
        memcpy(v, b->data, sizeof *v);
    weft_bytes_free(b);
    return rc;
}

static void bytes_drop(void *arg_or_result)
{
    weft_bytes_free(arg_or_result);
}

static int int_arg(int v, void **out)
{
    *out = (void *)(intptr_t)v;
    return 0;
}

static int int_value(void *result, long *v)
{
    *v = (long)(intptr_t)result;
    return 0;
}

static void int_drop(void *arg_or_result)
{
}

static const pool_kind process_pool_kind = {bytes_square, bytes_arg, bytes_value, bytes_drop};
static const pool_kind thread_pool_kind = {square_on_thread, int_arg, int_value, int_drop};

static int check_square(const pool_kind *k, void *result, int v, const char *how)
{
    long got = 0;
    int rc = k->value(result, &got);
    if (!rc && got != (long)v * v)
        rc = wrong("%s of %d gave %ld", how, v, got);
    return rc;
}

static int pool_submits(weft_executor *ex, const pool_kind *k)
{
    weft_future *fs[POOL_SUBMITS] = {0};
    int rc = 0, n = 0;
    for (; n < POOL_SUBMITS && !rc; n++) {
        void *arg = NULL;
        rc = k->arg(n + 2, &arg);
        if (!rc)
            rc = weft_executor_submit(ex, k->fn, arg, &fs[n]);
        k->drop(arg); /* a process pool copied it */
    }
    for (int i = 0; i < n; i++) {
        void *r = NULL;
        int r1 = fs[i] ? weft_future_result(fs[i], &r, WEFT_FOREVER) : 0;
        if (fs[i] && !r1)
            r1 = check_square(k, r, i + 2, "a submit");
        rc = first_error(rc, r1);
        weft_future_unref(fs[i]);
    }
    return rc;
}

static int pool_map(weft_executor *ex, const pool_kind *k)
{
    void *args[POOL_MAP] = {0}, *results[POOL_MAP] = {0};
    int rc = 0;
    for (int i = 0; i < POOL_MAP && !rc; i++)
        rc = k->arg(i * 3, &args[i]);
    if (!rc)
        rc = weft_executor_map(ex, k->fn, args, results, POOL_MAP, 2, WEFT_FOREVER);
    /* After a failure, the results that came are still the caller's (the
     * others stay NULL). */
    for (int i = 0; i < POOL_MAP; i++) {
        if (!rc)
            rc = check_square(k, results[i], i * 3, "a map");
        else
            k->drop(results[i]);
        k->drop(args[i]);
    }
    return rc;
}

static int pool_workload(weft_executor *ex, const pool_kind *k)
{
    int rc = pool_submits(ex, k);
    if (!rc)
        rc = pool_map(ex, k);
    weft_executor_free(ex);
    return rc;
}

static int pool_scenario(void)
{
    weft_process_pool_opts po = {.max_workers = 2, .start_method = WEFT_START_FORK,
                                 .ring_bytes = 65536};
    weft_executor *ex = NULL;
    int rc = weft_process_pool_new(&ex, &po);
    if (!rc)
        rc = pool_workload(ex, &process_pool_kind);
    if (rc)
        return rc;
    weft_thread_pool_opts to = {.max_workers = 2};
    if ((rc = weft_thread_pool_new(&ex, &to)) != 0)
        return rc;
    return pool_workload(ex, &thread_pool_kind);
}

/* ------------------------------------------------------- a run child */

typedef struct scenario {
    const char *name;
    int (*run)(void); /* 0: the right result; else the first weft error */
} scenario;

static const scenario scenarios[] = {
    {"loop", loop_scenario},       {"net", net_scenario},   {"stream", stream_scenario},
    {"process", process_scenario}, {"pool", pool_scenario},
};

/* The open descriptors: bit i of set[i / 64] for fd i below 1024. */
typedef struct fd_set_ {
    uint64_t bits[16];
} fd_set_;

static void open_fds(fd_set_ *s)
{
    memset(s, 0, sizeof *s);
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return;
    int self = dirfd(d);
    for (struct dirent *e; (e = readdir(d));) {
        int fd = atoi(e->d_name);
        if (e->d_name[0] != '.' && fd != self && fd < 1024)
            s->bits[fd / 64] |= 1ull << (fd % 64);
    }
    closedir(d);
}

/* Name the descriptors open in `after` and not in `before`, but for
 * weft's shared-memory chunks: src/process/share.c keeps each one open for the
 * life of the process (a child started later is handed them), and how
 * many a run makes depends on where it failed. */
static int report_new_fds(const fd_set_ *before, const fd_set_ *after, char *out, size_t cap)
{
    int n = 0;
    size_t used = 0;
    out[0] = 0;
    for (int fd = 0; fd < 1024; fd++) {
        uint64_t bit = 1ull << (fd % 64);
        if (!(after->bits[fd / 64] & bit) || (before->bits[fd / 64] & bit))
            continue;
        char path[64], target[96] = "?";
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
        ssize_t len = readlink(path, target, sizeof target - 1);
        if (len > 0)
            target[len] = 0;
        if (strncmp(target, "/memfd:weft-shared", 18) == 0)
            continue;
        if (used < cap)
            used += (size_t)snprintf(out + used, cap - used, "%s%d -> %s", n ? ", " : "", fd,
                                     target);
        n++;
    }
    return n;
}

/* A child process left behind: unreaped (a zombie) or still running. */
static void report_children(char *out, size_t cap)
{
    siginfo_t si = {0};
    if (__real_waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT) != 0)
        return; /* ECHILD: none */
    if (si.si_pid)
        snprintf(out, cap, "child %d exited and was never reaped", (int)si.si_pid);
    else
        snprintf(out, cap, "a child process is still running");
}

/* The run: the scenario with the plan armed, then the checks of what it
 * left behind. Its process group holds everything it starts. */
static _Noreturn void run_child(const scenario *sc, int errfd)
{
    setpgid(0, 0);
    dup2(errfd, STDERR_FILENO);
    close(errfd);
    fd_set_ before, after;
    open_fds(&before);
    __atomic_store_n(&g->armed, 1, __ATOMIC_RELEASE);
    int rc = sc->run();
    __atomic_store_n(&g->armed, 0, __ATOMIC_RELEASE);
    g->rc = rc;
    open_fds(&after);
    g->new_fds = report_new_fds(&before, &after, g->fd_report, sizeof g->fd_report);
    report_children(g->child_report, sizeof g->child_report);
#if WEFT_SANITIZE_ADDRESS
    g->leaked = __lsan_do_recoverable_leak_check();
#endif
    g->done = 1;
    _exit(0);
}

/* ------------------------------------------------------- the harness */

/* A run's deadline, stretched as Check's timeouts are under the
 * sanitizers. An unfaulted run takes well under a second in every mode. */
#define RUN_DEADLINE_S 5

typedef struct run_result {
    pid_t pid;        /* the run child */
    bool hung, fired;
    int status;       /* the run child's wait status */
    bool outlived;    /* processes of the run were alive after it exited */
    double seconds;   /* how long it took */
    char err[2048];   /* the start of its standard error */
} run_result;

static double timeout_multiplier(void)
{
    const char *m = getenv("CK_TIMEOUT_MULTIPLIER");
    double v = m ? atof(m) : 1;
    return v >= 1 ? v : 1;
}

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* Wait for the run child up to the deadline; kill its group past that. */
static void reap_run(pid_t pid, run_result *r)
{
    int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
    struct pollfd p = {.fd = pidfd, .events = POLLIN};
    int n;
    while ((n = __real_poll(&p, 1, (int)(RUN_DEADLINE_S * 1000 * timeout_multiplier()))) < 0 &&
           errno == EINTR)
        ;
    close(pidfd);
    if (n == 0) {
        r->hung = true;
        kill(-pid, SIGKILL);
    }
    while (__real_waitpid(pid, &r->status, 0) < 0 && errno == EINTR)
        ;
    /* Anything of the run still alive outlived it (the group is gone once
     * every member is reaped). */
    if (kill(-pid, 0) == 0) {
        r->outlived = !r->hung;
        kill(-pid, SIGKILL);
    }
}

/* One run of sc in a forked child under the plan (fault, at); its
 * standard error goes to errfd. */
static void run_once(const scenario *sc, int fault, uint64_t at, int errfd, run_result *r)
{
    memset(r, 0, sizeof *r);
    memset(g, 0, offsetof(page, admits));
    memset(&g->wrong_set, 0, sizeof *g - offsetof(page, wrong_set));
    g->fault = fault;
    g->at = at;
    /* The child's descriptor shares this one's offset: back to 0. */
    ck_assert_int_eq(ftruncate(errfd, 0), 0);
    ck_assert_int_eq(lseek(errfd, 0, SEEK_SET), 0);
    fflush(NULL);
    double t0 = now_s();
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0)
        run_child(sc, errfd);
    r->pid = pid;
    reap_run(pid, r);
    r->seconds = now_s() - t0;
    r->fired = g->fired;
    ssize_t n = pread(errfd, r->err, sizeof r->err - 1, 0);
    r->err[n > 0 ? n : 0] = 0;
}

/* What a run's fault was, for the report. */
static void describe_fault(int fault, pid_t run_pid, char *out, size_t cap)
{
    if (!g->fired) {
        snprintf(out, cap, "%s fault never injected", fault_names[fault]);
        return;
    }
    snprintf(out, cap, "%s fault, %s() call #%llu%s: %s", fault_names[fault],
             call_names[g->fired_call], (unsigned long long)g->fired_index,
             g->fired_pid == run_pid ? "" : " in a child process",
             g->fired_errno ? strerrorname_np(g->fired_errno) : "a short transfer");
}

/* The first line of the run's standard error that names a sanitizer. */
static const char *sanitizer_line(const char *err)
{
    static const char *const marks[] = {"LeakSanitizer", "AddressSanitizer",
                                        "ThreadSanitizer", "runtime error:"};
    for (size_t i = 0; i < sizeof marks / sizeof *marks; i++) {
        const char *p = strstr(err, marks[i]);
        if (p) {
            while (p > err && p[-1] != '\n')
                p--;
            return p;
        }
    }
    return NULL;
}

enum outcome { O_RIGHT, O_CLEAN, O_FAIL };

/* Judge a run: the right result, a clean error (allowed for this fault),
 * or a failure, said in `why`. */
static enum outcome judge(const run_result *r, int fault, char *why, size_t cap)
{
    const char *san = sanitizer_line(r->err);
    if (r->hung)
        snprintf(why, cap, "hang: killed after %.0f s", RUN_DEADLINE_S * timeout_multiplier());
    else if (WIFSIGNALED(r->status))
        snprintf(why, cap, "crash: %s", strsignal(WTERMSIG(r->status)));
    else if (san || g->leaked)
        snprintf(why, cap, "%s: %.200s", g->leaked ? "leak" : "sanitizer", san ? san : "");
    else if (WEXITSTATUS(r->status) != 0 || !g->done)
        snprintf(why, cap, "the run exited with %d before its checks", WEXITSTATUS(r->status));
    else if (g->wrong_set)
        snprintf(why, cap, "wrong result: %s", g->wrong);
    else if (g->new_fds)
        snprintf(why, cap, "%d descriptors left open: %s", g->new_fds, g->fd_report);
    else if (g->child_report[0] || r->outlived)
        snprintf(why, cap, "%s", g->child_report[0] ? g->child_report
                                                    : "a process of the run outlived it");
    else if (g->rc == 0)
        return O_RIGHT;
    else if (r->fired && !(MUST_RECOVER & BIT(fault)))
        return O_CLEAN;
    else
        snprintf(why, cap, "error %d (%s: %s)%s", g->rc, weft_err_name(g->rc),
                 weft_strerror(g->rc), r->fired ? ", where weft must retry" : " without a fault");
    return O_FAIL;
}

/* A scenario's sweep so far. */
typedef struct tally {
    int eligible[NFAULTS], runs[NFAULTS], right[NFAULTS], clean[NFAULTS], failed[NFAULTS];
    int codes[16], ncodes; /* the distinct clean errors seen */
    int failures, hangs;
    double slowest;        /* the longest run that did not hang, seconds */
    char first[1024];      /* the first failure, for Check's message */
} tally;

static void note_clean_code(tally *t, int rc)
{
    for (int i = 0; i < t->ncodes; i++)
        if (t->codes[i] == rc)
            return;
    if (t->ncodes < (int)(sizeof t->codes / sizeof *t->codes))
        t->codes[t->ncodes++] = rc;
}

/* Count a run's outcome; print a failure at once. */
static void record(tally *t, const scenario *sc, int fault, uint64_t at, const run_result *r)
{
    char why[600], what[200], line[1024];
    t->runs[fault]++;
    if (!r->hung && r->seconds > t->slowest)
        t->slowest = r->seconds;
    switch (judge(r, fault, why, sizeof why)) {
    case O_RIGHT:
        t->right[fault]++;
        return;
    case O_CLEAN:
        t->clean[fault]++;
        note_clean_code(t, g->rc);
        return;
    case O_FAIL:
        break;
    }
    t->failed[fault]++;
    t->failures++;
    t->hangs += r->hung;
    describe_fault(fault, r->pid, what, sizeof what);
    snprintf(line, sizeof line, "%s: %s (planned at #%llu): %s", sc->name, what,
             (unsigned long long)at, why);
    printf("FAULT FAILURE %s\n", line);
    if (!t->first[0])
        snprintf(t->first, sizeof t->first, "%s", line);
}

/* Runs per fault kind and scenario at most, and hangs after which a
 * scenario's sweep stops (each costs the whole deadline). */
#define BUDGET 64
#define MAX_HANGS 3

/* The plan of a sweep: per fault kind, the call indexes to fail. */
typedef struct sweep_plan {
    uint64_t at[NFAULTS][BUDGET];
    int n[NFAULTS];
} sweep_plan;

/* The counting run's call indexes that admit `fault`: all of them, or
 * BUDGET spread evenly over them. Returns how many admit it. */
static int plan_fault(uint64_t ncalls, int fault, sweep_plan *p)
{
    uint64_t limit = ncalls < MAX_CALLS ? ncalls : MAX_CALLS;
    uint64_t *all = malloc((limit + 1) * sizeof *all);
    ck_assert_ptr_nonnull(all);
    uint64_t n = 0;
    for (uint64_t i = 0; i < limit; i++)
        if (g->admits[i] & BIT(fault))
            all[n++] = i;
    int k = n < BUDGET ? (int)n : BUDGET;
    for (int j = 0; j < k; j++)
        p->at[fault][j] = all[(uint64_t)j * n / (uint64_t)k];
    p->n[fault] = k;
    free(all);
    return (int)n;
}

/* WT_FAULT="<scenario> <fault> <index>" (e.g. "stream short 16") makes
 * the plan that one case alone, and its standard error is shown: how a
 * failure is reproduced. Other scenarios make only their counting run. */
static void plan_only(const scenario *sc, const char *spec, sweep_plan *p)
{
    char name[32] = "", fault[32] = "";
    unsigned long long k = 0;
    sscanf(spec, "%31s %31s %llu", name, fault, &k);
    for (int f = F_EINTR; f < NFAULTS; f++) {
        p->n[f] = strcmp(name, sc->name) == 0 && strcmp(fault, fault_names[f]) == 0;
        p->at[f][0] = k;
    }
}

static void print_tally(const scenario *sc, uint64_t ncalls, const tally *t, double seconds)
{
    printf("%s: %llu wrapped calls counted; %.1f s, slowest run %.2f s\n", sc->name,
           (unsigned long long)ncalls, seconds, t->slowest);
    for (int f = F_EINTR; f < NFAULTS; f++)
        printf("  %-8s %3d runs of %3d eligible calls: %3d right, %3d clean errors, %d failed\n",
               fault_names[f], t->runs[f], t->eligible[f], t->right[f], t->clean[f],
               t->failed[f]);
    printf("  clean errors:");
    for (int i = 0; i < t->ncodes; i++) {
        const char *name = weft_err_name(t->codes[i]);
        printf(" %s", strcmp(name, "UNKNOWN") ? name : strerrorname_np(-t->codes[i]));
    }
    printf("\n");
    fflush(stdout);
}

static void sweep(const scenario *sc)
{
    if (!g) {
        g = mmap(NULL, sizeof *g, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        ck_assert_ptr_ne(g, MAP_FAILED);
    }
    int errfd = __real_memfd_create("run-stderr", 0);
    ck_assert_int_ge(errfd, 0);
    double t0 = now_s();
    run_result r;
    char why[600];
    run_once(sc, F_NONE, UINT64_MAX, errfd, &r);
    if (judge(&r, F_NONE, why, sizeof why) != O_RIGHT)
        ck_abort_msg("%s without faults: %s\n%s", sc->name, why, r.err);
    uint64_t ncalls = g->calls;

    static sweep_plan p;
    tally t = {0};
    for (int f = F_EINTR; f < NFAULTS; f++)
        t.eligible[f] = plan_fault(ncalls, f, &p);
    const char *only = getenv("WT_FAULT");
    if (only)
        plan_only(sc, only, &p);
    for (int f = F_EINTR; f < NFAULTS && t.hangs < MAX_HANGS; f++)
        for (int i = 0; i < p.n[f] && t.hangs < MAX_HANGS; i++) {
            run_once(sc, f, p.at[f][i], errfd, &r);
            record(&t, sc, f, p.at[f][i], &r);
            if (only)
                printf("%s", r.err);
        }
    close(errfd);
    print_tally(sc, ncalls, &t, now_s() - t0);
    ck_assert_msg(t.failures == 0, "%d faulted runs failed%s; the first: %s", t.failures,
                  t.hangs >= MAX_HANGS ? " (the sweep stopped after hangs)" : "", t.first);
}

#define SWEEP(i, name)                                                                  \
    START_TEST(name)                                                                    \
    {                                                                                   \
        sweep(&scenarios[i]);                                                           \
    }                                                                                   \
    END_TEST

SWEEP(0, loop)
SWEEP(1, net)
SWEEP(2, stream)
SWEEP(3, process)
SWEEP(4, pool)

WT_MAIN("faults", 60, loop, net, stream, process, pool)
