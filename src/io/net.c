/*
 * Sockets: a non-blocking fd, its fdw (internal/fdwait.h) and a count of
 * the calls in flight, which is what makes close safe while other threads
 * or coroutines still use the socket.
 *
 * Every call that can wait is the same loop: try the system call; on
 * EAGAIN wait for the direction with the call's deadline; try again.
 *
 * Life: `state` holds four flags and the number of calls in flight (users,
 * from USER up). Close sets CLOSED and wakes the calls in flight (they see
 * CLOSED after their wait and return -EBADF); whoever sees CLOSED with no
 * call in flight first (close itself, or the last call out) claims TORN and
 * tears the descriptor down: its loop registration (on the loop's own
 * thread, where one runs) and the fd, then sets DONE. So a descriptor
 * number is never reused while a call could still touch it. Free sets
 * FREED after closing; the memory goes once FREED and DONE are set and no
 * call is in flight, by whichever of free, the last call out or the
 * teardown sees that first (claiming RELEASED). The socket stays readable
 * (closed, fd -1) from close until free.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "internal/check.h"
#include "internal/clock.h"
#include "internal/error.h"
#include "internal/fdwait.h"
#include "internal/net.h"
#include "weft/net.h"

#define CLOSED 1u   /* closed by its owner: calls fail with -EBADF */
#define TORN 2u     /* the teardown of the descriptor is claimed */
#define DONE 4u     /* ... and finished: the fd is closed */
#define FREED 8u    /* freed by its owner */
#define RELEASED 16u /* the memory's release is claimed */
#define USER 32u    /* one call in flight */
#define FLAGS (USER - 1)

struct weft_socket {
    weft__fdw w;              /* first: the fdw's callbacks get the socket */
    uint32_t state;           /* atomic: flags | calls in flight * USER */
    int close_rc;             /* close(2)'s outcome, written before DONE */
    int family, type;
    bool is_socket;           /* else a pipe or other fd: read/write */
    weft__loop_item close_item;
};

/* ------------------------------------------------------------ life */

static int make_socket(weft_socket **out, int fd, int family, int type, bool is_socket)
{
    weft_socket *s = calloc(1, sizeof *s);
    if (!s) {
        close(fd);
        return WEFT_ENOMEM;
    }
    weft__fdw_init(&s->w, fd);
    s->state = 0;
    s->family = family;
    s->type = type;
    s->is_socket = is_socket;
    *out = s;
    return 0;
}

int weft_socket_new(weft_socket **out, int family, int type)
{
    if (!out)
        return WEFT_EINVAL;
    *out = NULL;
    if ((family != AF_INET && family != AF_INET6 && family != AF_UNIX) ||
        (type != SOCK_STREAM && type != SOCK_DGRAM))
        return WEFT_EINVAL;
    int fd = socket(family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return weft__errno_code(errno);
    return make_socket(out, fd, family, type, true);
}

int weft_socket_from_fd(weft_socket **out, int fd)
{
    if (!out || fd < 0) {
        if (fd >= 0)
            close(fd);
        return WEFT_EINVAL;
    }
    *out = NULL;
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || (!(fl & O_NONBLOCK) && fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)) {
        int e = weft__errno_code(errno);
        close(fd);
        return e;
    }
    int type = 0, family = AF_UNSPEC;
    socklen_t len = sizeof type;
    bool is_socket = getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == 0;
    if (is_socket) {
        len = sizeof family;
        if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &family, &len) != 0)
            family = AF_UNSPEC;
    } else {
        type = 0;
    }
    return make_socket(out, fd, family, type, is_socket);
}

/* The memory goes once nothing can touch it: freed, torn down, no call. */
static void maybe_release(weft_socket *s, uint32_t v)
{
    if ((v & (FREED | DONE)) != (FREED | DONE) || v >= USER || (v & RELEASED))
        return;
    if (!(__atomic_fetch_or(&s->state, RELEASED, __ATOMIC_ACQ_REL) & RELEASED))
        free(s);
}

/* The fd is closed; its registration was dropped before. */
static void teardown_done(weft_socket *s)
{
    s->close_rc = close(s->w.io.fd) == 0 || errno == EINTR ? 0 : weft__errno_code(errno);
    uint32_t v = __atomic_or_fetch(&s->state, DONE, __ATOMIC_ACQ_REL);
    maybe_release(s, v);
}

/* On the socket's loop: the teardown came from another thread while the
 * loop was running, so the deregistration had to be done here. Also the
 * item's drop: a loop freed before it ran this (its watchers still in
 * place then) does the same. */
static void close_on_loop(weft__loop_item *it)
{
    weft_socket *s = CONTAINER_OF(it, weft_socket, close_item);
    weft__fdw_close(&s->w);
    teardown_done(s);
}

/* Claimed TORN, with no call in flight: drop the loop registration and
 * close the fd, here or on the loop's thread. */
static void teardown(weft_socket *s)
{
    while (weft__fdw_close(&s->w)) {
        s->close_item.run = close_on_loop;
        s->close_item.drop = close_on_loop;
        if (weft__loop_ready_threadsafe(weft__fdw_loop(&s->w), &s->close_item) == 0)
            return;
        /* The loop is being freed by its owner, which releases every fd
         * it had: wait for that, then close here. */
        while (weft__fdw_loop(&s->w))
            sched_yield();
    }
    teardown_done(s);
}

/* After a change of state to v: the first to see it closed with no call in
 * flight tears the descriptor down; the memory goes when it may. */
static void settle(weft_socket *s, uint32_t v)
{
    if ((v & CLOSED) && v < USER && !(v & TORN) &&
        !(__atomic_fetch_or(&s->state, TORN, __ATOMIC_ACQ_REL) & TORN)) {
        teardown(s);
        return; /* teardown_done settles the memory */
    }
    maybe_release(s, v);
}

static int user_begin(weft_socket *s)
{
    uint32_t v = __atomic_fetch_add(&s->state, USER, __ATOMIC_ACQUIRE);
    if (v & CLOSED) {
        settle(s, __atomic_sub_fetch(&s->state, USER, __ATOMIC_ACQ_REL));
        return -EBADF;
    }
    return 0;
}

static int user_end(weft_socket *s)
{
    settle(s, __atomic_sub_fetch(&s->state, USER, __ATOMIC_ACQ_REL));
    return 0;
}

static bool is_closed(const weft_socket *s)
{
    return __atomic_load_n(&s->state, __ATOMIC_ACQUIRE) & CLOSED;
}

/* A call ends: a failure, or an end of stream, that comes while the socket
 * is being closed is the close's doing (its shutdown), and is reported as
 * such. Data that arrived is still returned. */
static int call_end(weft_socket *s, int rc, bool eof)
{
    if ((rc < 0 || eof) && rc != -EBADF && is_closed(s))
        rc = -EBADF;
    int rc2 = user_end(s);
    return rc ? rc : rc2;
}

int weft_socket_close(weft_socket *s)
{
    if (!s)
        return WEFT_EINVAL;
    uint32_t v = __atomic_fetch_or(&s->state, CLOSED, __ATOMIC_ACQ_REL);
    if (v & CLOSED)
        return 0; /* closing twice is harmless, as in Python */
    if (v >= USER) {
        /* Calls in flight: wake them. Coroutines of this thread's loop (or
         * of a loop not running) directly; anything else through the
         * socket itself: after a shutdown every poll and every edge says
         * ready, and each call then sees CLOSED. */
        weft__fdw_close(&s->w);
        if (s->is_socket)
            shutdown(s->w.io.fd, SHUT_RDWR);
    }
    settle(s, v | CLOSED);
    /* close(2)'s own failure, when the teardown was ours and finished. */
    v = __atomic_load_n(&s->state, __ATOMIC_ACQUIRE);
    return (v & DONE) && !(v & FREED) ? s->close_rc : 0;
}

void weft_socket_free(weft_socket *s)
{
    if (!s)
        return;
    weft_socket_close(s);
    settle(s, __atomic_or_fetch(&s->state, FREED, __ATOMIC_ACQ_REL));
}

int weft_socket_fd(const weft_socket *s)
{
    return !s || is_closed(s) ? -1 : s->w.io.fd;
}

int weft_socket_family(const weft_socket *s)
{
    return s ? s->family : AF_UNSPEC;
}

int weft_socket_type(const weft_socket *s)
{
    return s ? s->type : 0;
}

/* --------------------------------------------------------- waiting */

/* The last try in `dir` gave EAGAIN: wait, then report -EBADF if the
 * socket was closed meanwhile. */
static int wait_io(weft_socket *s, unsigned dir, int64_t deadline)
{
    if (is_closed(s))
        return -EBADF;
    int rc = weft__fdw_wait(&s->w, dir, deadline);
    if (rc == 0 && is_closed(s))
        return -EBADF;
    return rc;
}

static int check_timeout(double timeout)
{
    return weft__timeout_valid(timeout);
}

static bool would_block(int e)
{
    return e == EAGAIN || e == EWOULDBLOCK;
}

/* ------------------------------------------------------- addresses */

static bool addr_ok(const weft_sockaddr *a)
{
    return a && a->len > 0 && a->len <= sizeof a->ss;
}

int weft_sockaddr_ip(weft_sockaddr *a, const char *host, int port)
{
    if (!a || port < 0 || port > 65535)
        return WEFT_EINVAL;
    memset(a, 0, sizeof *a);
    if (!host || !*host) {
        struct sockaddr_in *in = (struct sockaddr_in *)&a->ss;
        in->sin_family = AF_INET;
        in->sin_port = htons((uint16_t)port);
        in->sin_addr.s_addr = htonl(INADDR_ANY);
        a->len = sizeof *in;
        return 0;
    }
    /* getaddrinfo with AI_NUMERICHOST never touches the network and knows
     * IPv6 scope ids ("fe80::1%eth0"), which inet_pton does not. */
    struct addrinfo hints = {.ai_flags = AI_NUMERICHOST, .ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM};
    struct addrinfo *res = NULL;
    int e = getaddrinfo(host, NULL, &hints, &res);
    if (e == EAI_MEMORY)
        return WEFT_ENOMEM;
    if (e || !res)
        return WEFT_EINVAL;
    if (res->ai_addrlen > sizeof a->ss) {
        freeaddrinfo(res);
        return WEFT_EINVAL;
    }
    memcpy(&a->ss, res->ai_addr, res->ai_addrlen);
    a->len = res->ai_addrlen;
    freeaddrinfo(res);
    if (a->ss.ss_family == AF_INET)
        ((struct sockaddr_in *)&a->ss)->sin_port = htons((uint16_t)port);
    else
        ((struct sockaddr_in6 *)&a->ss)->sin6_port = htons((uint16_t)port);
    return 0;
}

int weft_sockaddr_unix(weft_sockaddr *a, const char *path)
{
    if (!a || !path || !*path)
        return WEFT_EINVAL;
    memset(a, 0, sizeof *a);
    struct sockaddr_un *un = (struct sockaddr_un *)&a->ss;
    size_t n = strlen(path);
    if (n >= sizeof un->sun_path)
        return WEFT_EMSGSIZE;
    un->sun_family = AF_UNIX;
    memcpy(un->sun_path, path, n + 1);
    a->len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
    return 0;
}

int weft_sockaddr_format(const weft_sockaddr *a, char *buf, size_t len)
{
    if (!addr_ok(a) || !buf || len == 0)
        return WEFT_EINVAL;
    char host[INET6_ADDRSTRLEN] = "";
    int n;
    switch (a->ss.ss_family) {
    case AF_INET: {
        const struct sockaddr_in *in = (const struct sockaddr_in *)&a->ss;
        inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
        n = snprintf(buf, len, "%s:%d", host, ntohs(in->sin_port));
        break;
    }
    case AF_INET6: {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&a->ss;
        inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
        n = snprintf(buf, len, "[%s]:%d", host, ntohs(in6->sin6_port));
        break;
    }
    case AF_UNIX: {
        const struct sockaddr_un *un = (const struct sockaddr_un *)&a->ss;
        size_t off = offsetof(struct sockaddr_un, sun_path);
        size_t plen = a->len > off ? a->len - off : 0;
        if (plen == 0) {
            n = snprintf(buf, len, "%s", ""); /* unnamed */
        } else if (un->sun_path[0] == '\0') {
            /* The abstract namespace: Linux names it by the bytes after
             * the NUL; shown with '@' as ss(8) does. */
            n = snprintf(buf, len, "@%.*s", (int)(plen - 1), un->sun_path + 1);
        } else {
            n = snprintf(buf, len, "%.*s", (int)strnlen(un->sun_path, plen), un->sun_path);
        }
        break;
    }
    default:
        return WEFT_EINVAL;
    }
    return n >= 0 && (size_t)n < len ? 0 : WEFT_EMSGSIZE;
}

int weft_sockaddr_port(const weft_sockaddr *a)
{
    if (!addr_ok(a))
        return 0;
    if (a->ss.ss_family == AF_INET)
        return ntohs(((const struct sockaddr_in *)&a->ss)->sin_port);
    if (a->ss.ss_family == AF_INET6)
        return ntohs(((const struct sockaddr_in6 *)&a->ss)->sin6_port);
    return 0;
}

/* ------------------------------------------------ setup and names */

/* A system call's 0 or -1/errno as a weft code. */
static int sys_rc(int r)
{
    return r == 0 ? 0 : weft__errno_code(errno);
}

int weft_socket_bind(weft_socket *s, const weft_sockaddr *a)
{
    if (!s || !addr_ok(a))
        return WEFT_EINVAL;
    if (!s->is_socket)
        return -ENOTSOCK;
    return sys_rc(bind(s->w.io.fd, (const struct sockaddr *)&a->ss, a->len));
}

int weft_socket_listen(weft_socket *s, int backlog)
{
    if (!s || backlog < 0)
        return WEFT_EINVAL;
    if (!s->is_socket)
        return -ENOTSOCK;
    return sys_rc(listen(s->w.io.fd, backlog ? backlog : SOMAXCONN));
}

int weft_socket_shutdown(weft_socket *s, int how)
{
    if (!s || (how != SHUT_RD && how != SHUT_WR && how != SHUT_RDWR))
        return WEFT_EINVAL;
    if (!s->is_socket)
        return -ENOTSOCK;
    return sys_rc(shutdown(s->w.io.fd, how));
}

int weft_socket_getsockname(const weft_socket *s, weft_sockaddr *a)
{
    if (!s || !a)
        return WEFT_EINVAL;
    memset(a, 0, sizeof *a);
    a->len = sizeof a->ss;
    return sys_rc(getsockname(s->w.io.fd, (struct sockaddr *)&a->ss, &a->len));
}

int weft_socket_getpeername(const weft_socket *s, weft_sockaddr *a)
{
    if (!s || !a)
        return WEFT_EINVAL;
    memset(a, 0, sizeof *a);
    a->len = sizeof a->ss;
    return sys_rc(getpeername(s->w.io.fd, (struct sockaddr *)&a->ss, &a->len));
}

int weft_socket_setsockopt(weft_socket *s, int level, int name, const void *val, size_t len)
{
    if (!s || !val || len == 0 || len > 0x7fffffff)
        return WEFT_EINVAL;
    return sys_rc(setsockopt(s->w.io.fd, level, name, val, (socklen_t)len));
}

int weft_socket_getsockopt(const weft_socket *s, int level, int name, void *val, size_t *len)
{
    if (!s || !val || !len || *len == 0 || *len > 0x7fffffff)
        return WEFT_EINVAL;
    socklen_t l = (socklen_t)*len;
    if (getsockopt(s->w.io.fd, level, name, val, &l) != 0)
        return weft__errno_code(errno);
    *len = l;
    return 0;
}

/* ------------------------------------------------- connect, accept */

int weft_socket_connect(weft_socket *s, const weft_sockaddr *a, double timeout)
{
    if (!s || !addr_ok(a) || check_timeout(timeout))
        return WEFT_EINVAL;
    if (!s->is_socket)
        return -ENOTSOCK;
    int64_t deadline = weft__deadline(timeout);
    int rc = user_begin(s);
    if (rc)
        return rc;
    int fd = s->w.io.fd;
    if (connect(fd, (const struct sockaddr *)&a->ss, a->len) == 0) {
        rc = 0;
    } else if (errno == EINPROGRESS || errno == EINTR) {
        /* The connection goes on in the kernel; writability ends it, and
         * SO_ERROR says how. (A Unix socket whose listener's backlog is
         * full says EAGAIN instead, which is returned as it is: it is not
         * connecting and would never become writable for it.) */
        for (;;) {
            rc = wait_io(s, WEFT__IO_WRITE, deadline);
            if (rc)
                break;
            int err = 0;
            socklen_t len = sizeof err;
            if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) {
                rc = weft__errno_code(errno);
                break;
            }
            if (err) {
                rc = weft__errno_code(err);
                break;
            }
            weft_sockaddr peer;
            peer.len = sizeof peer.ss;
            if (getpeername(fd, (struct sockaddr *)&peer.ss, &peer.len) == 0) {
                rc = 0;
                break;
            }
            if (errno != ENOTCONN) {
                rc = weft__errno_code(errno);
                break;
            }
            /* A stale edge from before the connect: wait again. */
        }
    } else {
        rc = weft__errno_code(errno);
    }
    return call_end(s, rc, false);
}

/* ---------------------------------------------------- the I/O loop */

/* One attempt of a call: the system call, its result (>= 0) or -1 with
 * errno, as the system call itself. */
typedef struct io_op {
    ssize_t (*attempt)(weft_socket *s, struct io_op *op);
    void *buf;
    size_t len;
    weft_sockaddr *addr;     /* accept's peer, recvfrom's sender, sendto's target */
} io_op;

/* Try op until it succeeds (its result in *res), fails other than by
 * EAGAIN, or its wait for `dir` ends (deadline, cancellation, close). */
static int io_retry(weft_socket *s, unsigned dir, int64_t deadline, io_op *op, ssize_t *res)
{
    for (;;) {
        ssize_t r = op->attempt(s, op);
        if (r >= 0) {
            *res = r;
            return 0;
        }
        if (errno == EINTR)
            continue;
        if (!would_block(errno))
            return weft__errno_code(errno);
        int rc = wait_io(s, dir, deadline);
        if (rc)
            return rc;
    }
}

/* The public calls check their input, turn the timeout into a deadline,
 * and run one io_retry (sendall: several) as one use of the socket. For a
 * stream read, a result of 0 is the end of the stream. */
static int io_call(weft_socket *s, unsigned dir, double timeout, io_op *op, ssize_t *res,
                   bool stream_read)
{
    int64_t deadline = weft__deadline(timeout);
    int rc = user_begin(s);
    if (rc)
        return rc;
    rc = io_retry(s, dir, deadline, op, res);
    return call_end(s, rc, stream_read && rc == 0 && *res == 0);
}

/* write(2) to a pipe raises SIGPIPE when the reader is gone; sockets use
 * MSG_NOSIGNAL. Block it around the write and take back the one we
 * caused, so that the caller sees -EPIPE and the process lives on. */
static ssize_t pipe_write(int fd, const void *buf, size_t len)
{
    sigset_t pipe_set, old;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
    ssize_t r = write(fd, buf, len);
    int e = errno;
    if (r < 0 && e == EPIPE && !sigismember(&old, SIGPIPE)) {
        struct timespec zero = {0, 0};
        while (sigtimedwait(&pipe_set, NULL, &zero) < 0 && errno == EINTR)
            ;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    errno = e;
    return r;
}

static ssize_t attempt_send(weft_socket *s, io_op *op)
{
    if (!s->is_socket)
        return pipe_write(s->w.io.fd, op->buf, op->len);
    return send(s->w.io.fd, op->buf, op->len, MSG_NOSIGNAL);
}

static ssize_t attempt_recv(weft_socket *s, io_op *op)
{
    if (!s->is_socket)
        return read(s->w.io.fd, op->buf, op->len);
    return recv(s->w.io.fd, op->buf, op->len, 0);
}

static ssize_t attempt_recvfrom(weft_socket *s, io_op *op)
{
    memset(op->addr, 0, sizeof *op->addr);
    op->addr->len = sizeof op->addr->ss;
    return recvfrom(s->w.io.fd, op->buf, op->len, 0, (struct sockaddr *)&op->addr->ss,
                    &op->addr->len);
}

static ssize_t attempt_sendto(weft_socket *s, io_op *op)
{
    const weft_sockaddr *to = op->addr;
    return sendto(s->w.io.fd, op->buf, op->len, MSG_NOSIGNAL,
                  to ? (const struct sockaddr *)&to->ss : NULL, to ? to->len : 0);
}

static ssize_t attempt_accept(weft_socket *s, io_op *op)
{
    memset(op->addr, 0, sizeof *op->addr);
    op->addr->len = sizeof op->addr->ss;
    for (;;) {
        int fd = accept4(s->w.io.fd, (struct sockaddr *)&op->addr->ss, &op->addr->len,
                         SOCK_NONBLOCK | SOCK_CLOEXEC);
        /* A connection reset before it was accepted is not the
         * listener's failure: take the next one (as asyncio does). */
        if (fd >= 0 || errno != ECONNABORTED)
            return fd;
    }
}

/* ------------------------------------------------- accept and data */

int weft_socket_accept(weft_socket *s, weft_socket **out, weft_sockaddr *peer, double timeout)
{
    if (out)
        *out = NULL;
    if (!s || !out || check_timeout(timeout))
        return WEFT_EINVAL;
    if (!s->is_socket)
        return -ENOTSOCK;
    weft_sockaddr tmp;
    io_op op = {.attempt = attempt_accept, .addr = peer ? peer : &tmp};
    ssize_t fd = -1;
    int rc = io_call(s, WEFT__IO_READ, timeout, &op, &fd, false);
    if (rc) {
        if (fd >= 0)
            close((int)fd);
        return rc;
    }
    return make_socket(out, (int)fd, s->family, s->type, true);
}

int weft_socket_recv(weft_socket *s, void *buf, size_t len, size_t *n, double timeout)
{
    if (n)
        *n = 0;
    if (!s || !buf || !n || len == 0 || check_timeout(timeout))
        return WEFT_EINVAL;
    io_op op = {.attempt = attempt_recv, .buf = buf, .len = len};
    ssize_t r = 0;
    int rc = io_call(s, WEFT__IO_READ, timeout, &op, &r, s->type != SOCK_DGRAM);
    if (rc == 0)
        *n = (size_t)r;
    return rc;
}

int weft_socket_send(weft_socket *s, const void *buf, size_t len, size_t *n, double timeout)
{
    if (n)
        *n = 0;
    if (!s || !buf || !n || len == 0 || check_timeout(timeout))
        return WEFT_EINVAL;
    io_op op = {.attempt = attempt_send, .buf = (void *)buf, .len = len};
    ssize_t r = 0;
    int rc = io_call(s, WEFT__IO_WRITE, timeout, &op, &r, false);
    if (rc == 0)
        *n = (size_t)r;
    return rc;
}

int weft_socket_sendall(weft_socket *s, const void *buf, size_t len, size_t *sent,
                        double timeout)
{
    if (sent)
        *sent = 0;
    if (!s || (!buf && len) || check_timeout(timeout))
        return WEFT_EINVAL;
    int64_t deadline = weft__deadline(timeout);
    int rc = user_begin(s);
    if (rc)
        return rc;
    size_t done = 0;
    while (done < len && rc == 0) {
        io_op op = {.attempt = attempt_send, .buf = (char *)buf + done, .len = len - done};
        ssize_t r = 0;
        rc = io_retry(s, WEFT__IO_WRITE, deadline, &op, &r);
        if (rc == 0)
            done += (size_t)r;
    }
    if (sent)
        *sent = done;
    return call_end(s, rc, false);
}

int weft_socket_recvfrom(weft_socket *s, void *buf, size_t len, size_t *n, weft_sockaddr *from,
                         double timeout)
{
    if (n)
        *n = 0;
    if (!s || !buf || !n || len == 0 || check_timeout(timeout))
        return WEFT_EINVAL;
    if (!s->is_socket)
        return -ENOTSOCK;
    weft_sockaddr tmp;
    io_op op = {.attempt = attempt_recvfrom, .buf = buf, .len = len, .addr = from ? from : &tmp};
    ssize_t r = 0;
    int rc = io_call(s, WEFT__IO_READ, timeout, &op, &r, false);
    if (rc == 0)
        *n = (size_t)r;
    return rc;
}

int weft_socket_sendto(weft_socket *s, const void *buf, size_t len, const weft_sockaddr *to,
                       double timeout)
{
    if (!s || (!buf && len) || (to && !addr_ok(to)) || check_timeout(timeout))
        return WEFT_EINVAL;
    if (!s->is_socket)
        return -ENOTSOCK;
    io_op op = {.attempt = attempt_sendto, .buf = (void *)buf, .len = len,
                .addr = (weft_sockaddr *)to};
    ssize_t r = 0;
    int rc = io_call(s, WEFT__IO_WRITE, timeout, &op, &r, false);
    /* A datagram goes whole or not at all. */
    return rc ? rc : (size_t)r == len ? 0 : WEFT_EMSGSIZE;
}

/* ---------------------------------------------- for other modules */

weft__fdw *weft__socket_fdw(weft_socket *s)
{
    return &s->w;
}

int weft__socket_user_begin(weft_socket *s)
{
    return user_begin(s);
}

int weft__socket_user_end(weft_socket *s)
{
    return user_end(s);
}

bool weft__socket_is_closed(const weft_socket *s)
{
    return is_closed(s);
}

static int now(weft_socket *s, ssize_t (*attempt)(weft_socket *, io_op *), void *buf,
               size_t len, size_t *n)
{
    io_op op = {.attempt = attempt, .buf = buf, .len = len};
    *n = 0;
    for (;;) {
        ssize_t r = attempt(s, &op);
        if (r >= 0) {
            *n = (size_t)r;
            return 0;
        }
        if (errno != EINTR)
            return would_block(errno) ? WEFT_EAGAIN : weft__errno_code(errno);
    }
}

int weft__socket_send_now(weft_socket *s, const void *buf, size_t len, size_t *n)
{
    return now(s, attempt_send, (void *)buf, len, n);
}

int weft__socket_recv_now(weft_socket *s, void *buf, size_t len, size_t *n)
{
    return now(s, attempt_recv, buf, len, n);
}

bool weft__socket_is_socket(const weft_socket *s)
{
    return s->is_socket;
}

unsigned weft__socket_users(const weft_socket *s)
{
    return __atomic_load_n(&s->state, __ATOMIC_ACQUIRE) / USER;
}
