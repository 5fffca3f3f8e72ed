/*
 * Pipes: two connected ends exchanging whole messages of bytes. See
 * weft/ipc.h for the contract.
 *
 * Transport: an AF_UNIX SOCK_STREAM socketpair carrying each message as an
 * 8-byte length (native order: both ends run on this machine) followed by
 * the bytes. SOCK_SEQPACKET would keep message boundaries for us, but the
 * kernel sends a seqpacket message in one piece, so it must fit the socket
 * send buffer (net.core.wmem_max, 208 KiB by default; larger is EMSGSIZE
 * from the kernel). A stream has no such limit: messages of many MiB flow
 * through in pieces while the receiver reads. The price is the framing
 * below, and that a send cut half-way must break the stream on purpose
 * (see send) rather than leave the receiver reading garbage lengths.
 *
 * Why fds and not shared memory: each process's copy of an end is an fd,
 * and the kernel tells EOF exactly when the last copy of the other end is
 * closed (or its process has exited), which is Python's per-process
 * semantics for free.
 *
 * The fds are blocking and close-on-exec. In a thread, a call without a
 * deadline makes plain blocking calls (a round trip is then one sendmsg
 * and two recvs a side: the header, then the bytes); a call with a
 * deadline passes MSG_DONTWAIT and waits in ppoll for the time left.
 * (O_NONBLOCK is not used for that: it sits on the socket, shared by every
 * process's copy.) Sends use MSG_NOSIGNAL so that a closed peer is
 * WEFT_EPIPE, not a SIGPIPE that kills the process.
 *
 * Coroutines: every call passes MSG_DONTWAIT and waits through fdwait
 * (internal/fdwait.h), so a coroutine that waits for a pipe suspends
 * itself, not its loop. Each wait registers a duplicate of the fd with the
 * loop and drops it after (the registration reports the readiness the fd
 * has then, so an edge that came after the EAGAIN is not lost): an end
 * stays free of any loop between calls, a sender and a receiver of one
 * duplex end may wait at once, and a child's copy of the struct names no
 * loop of its parent's. Cancellation is as the timeout: it ends a wait for
 * a message to start (WEFT_ECANCELLED, nothing sent or consumed); once a
 * message has begun, the call masks it and goes on to the message's end,
 * so a cancelled task never cuts a message.
 *
 * The struct lives in handle memory (internal/share.h), so a child gets its
 * own copy with the fd numbers, whatever the start method; the fds are
 * registered so children get them at those numbers. Nothing is buffered
 * in user space: a byte read ahead here would be read twice if a child
 * were started meanwhile (a copy of the buffer), so reads take a message's
 * header, then exactly its bytes.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "internal/clock.h"
#include "internal/fdwait.h"
#include "internal/park.h"
#include "internal/share.h"
#include "internal/thread.h"
#include "weft/ipc.h"
#include "weft/loop.h"

struct weft_conn {
    int fd;            /* -1 once closed in this process */
    bool can_send;     /* duplex, or the send-only end */
    bool can_recv;     /* duplex, or the receive-only end */
    bool send_broken;  /* a send was cut half-way: no more sends */
    bool recv_broken;  /* EOF inside a message: no more receives */
    bool have_len;     /* a header was read; its message is next */
    uint64_t next_len; /* the length from that header */
};

typedef uint64_t frame_header;

static int errno_code(int e)
{
    switch (e) {
    case EMFILE:
    case ENFILE:
        return WEFT_EMFILE;
    case ENOMEM:
    case ENOBUFS:
        return WEFT_ENOMEM;
    case EPIPE:
    case ECONNRESET:
        return WEFT_EPIPE;
    default:
        return WEFT_EBROKEN;
    }
}

static weft_conn *conn_new(int fd, bool can_send, bool can_recv)
{
    weft_conn *c = weft__handle_alloc(sizeof *c);
    if (!c)
        return NULL;
    if (weft__share_fd_add(fd) != 0) {
        weft__handle_free(c);
        return NULL;
    }
    c->fd = fd;
    c->can_send = can_send;
    c->can_recv = can_recv;
    return c;
}

int weft_pipe(weft_conn **a, weft_conn **b, bool duplex)
{
    if (!a || !b)
        return WEFT_EINVAL;
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
        return errno_code(errno);
    if (!duplex) {
        /* As Python: the first end receives, the second sends. Shutting the
         * unused directions down makes the kernel agree with the flags. */
        shutdown(sv[0], SHUT_WR);
        shutdown(sv[1], SHUT_RD);
    }
    weft_conn *ca = conn_new(sv[0], duplex, true);
    weft_conn *cb = ca ? conn_new(sv[1], true, duplex) : NULL;
    if (!cb) {
        if (ca) {
            weft__share_fd_remove(sv[0]);
            weft__handle_free(ca);
        }
        close(sv[0]);
        close(sv[1]);
        return WEFT_ENOMEM;
    }
    *a = ca;
    *b = cb;
    return 0;
}

/* In a coroutine: wait through the loop on a duplicate of fd (see
 * Coroutines above). 0, WEFT_ETIMEDOUT, WEFT_ECANCELLED, or 1 when the
 * loop cannot watch it (no fd left for the duplicate, the poller's error):
 * the caller then waits as a thread does. */
static int wait_fd_coroutine(int fd, short events, int64_t deadline)
{
    if (deadline != WEFT__NO_DEADLINE && weft__now_ns() >= deadline)
        return WEFT_ETIMEDOUT; /* a poll: the caller's try was the look */
    int dup_fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (dup_fd < 0)
        return 1;
    weft__fdw w;
    weft__fdw_init(&w, dup_fd);
    int rc = weft__fdw_wait(&w, events == POLLIN ? WEFT__IO_READ : WEFT__IO_WRITE, deadline);
    weft__fdw_close(&w); /* on the loop's thread: the registration goes now */
    close(dup_fd);
    if (rc == 0 || rc == WEFT_ETIMEDOUT || rc == WEFT_ECANCELLED)
        return rc;
    return 1;
}

/* Wait until fd is ready for `events` or the deadline passes: 0 (ready, or
 * worth another try: EINTR is a spurious return), WEFT_ETIMEDOUT, or in a
 * coroutine WEFT_ECANCELLED. */
static int wait_fd(int fd, short events, int64_t deadline)
{
    if (weft_in_coroutine()) {
        int rc = wait_fd_coroutine(fd, events, deadline);
        if (rc <= 0)
            return rc;
    }
    struct timespec ts, *tsp = NULL;
    if (deadline != WEFT__NO_DEADLINE) {
        int64_t left = deadline - weft__now_ns();
        if (left <= 0)
            return WEFT_ETIMEDOUT;
        ts = weft__ns_to_timespec(left);
        tsp = &ts;
    }
    struct pollfd pfd = {.fd = fd, .events = events};
    int r = ppoll(&pfd, 1, tsp, NULL);
    if (r == 0 && deadline != WEFT__NO_DEADLINE && weft__now_ns() >= deadline)
        return WEFT_ETIMEDOUT;
    return 0;
}

/* A send stopped half-way: shut the sending direction so that the receiver
 * sees EOF inside the message (WEFT_EBROKEN) and never takes the following
 * bytes of another message for this one's. */
static int break_send(weft_conn *c)
{
    c->send_broken = true;
    shutdown(c->fd, SHUT_WR);
    return WEFT_EBROKEN;
}

/* Once a message has begun, a coroutine's cancellation waits for its end
 * (see Coroutines above): the first bytes mask it, the call's end unmasks
 * (both no-ops in a thread). */
static void message_begun(bool *masked)
{
    if (!*masked) {
        weft__cancel_mask();
        *masked = true;
    }
}

static int send_message(weft_conn *c, const void *buf, size_t len, double timeout,
                        bool *masked);

int weft_conn_send_bytes(weft_conn *c, const void *buf, size_t len, double timeout)
{
    bool masked = false;
    int rc = send_message(c, buf, len, timeout, &masked);
    if (masked)
        weft__cancel_unmask();
    return rc;
}

static int send_message(weft_conn *c, const void *buf, size_t len, double timeout,
                        bool *masked)
{
    if (!c || (!buf && len) || weft__timeout_valid(timeout))
        return WEFT_EINVAL;
    if (c->fd < 0)
        return WEFT_ESTATE;
    if (!c->can_send)
        return WEFT_EINVAL;
    if (c->send_broken)
        return WEFT_EBROKEN;
    if (len > (size_t)SSIZE_MAX - sizeof(frame_header))
        return WEFT_EMSGSIZE; /* sendmsg's total must fit a ssize_t */
    frame_header hdr = len;
    struct iovec iov[2] = {{.iov_base = &hdr, .iov_len = sizeof hdr},
                           {.iov_base = (void *)buf, .iov_len = len}};
    size_t total = sizeof hdr + len, done = 0;
    int64_t deadline = WEFT__NO_DEADLINE;
    bool have_deadline = timeout == WEFT_FOREVER;
    /* Without a deadline, in a thread, the kernel blocks until the whole
     * message is sent (a signal may cut that short: the loop goes on). */
    bool blocking = have_deadline && !weft_in_coroutine();
    int flags = MSG_NOSIGNAL | (blocking ? 0 : MSG_DONTWAIT);
    for (;;) {
        /* Skip what was sent already: the header first, then the bytes. */
        struct iovec part[2];
        int n = 0;
        if (done < sizeof hdr) {
            part[n++] = (struct iovec){.iov_base = (char *)&hdr + done,
                                       .iov_len = sizeof hdr - done};
            if (len)
                part[n++] = iov[1];
        } else {
            part[n++] = (struct iovec){.iov_base = (char *)buf + (done - sizeof hdr),
                                       .iov_len = total - done};
        }
        struct msghdr mh = {.msg_iov = part, .msg_iovlen = (size_t)n};
        ssize_t w = sendmsg(c->fd, &mh, flags);
        if (w > 0) {
            done += (size_t)w;
            if (done == total)
                return 0;
            message_begun(masked);
            continue;
        }
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && errno != EAGAIN) {
            int e = errno_code(errno);
            if (done == 0)
                return e;
            /* A peer that is gone reads nothing more; anything else cut the
             * message and must break the stream. */
            return e == WEFT_EPIPE ? WEFT_EPIPE : break_send(c);
        }
        if (!have_deadline) {
            deadline = weft__deadline(timeout);
            have_deadline = true;
        }
        int rc = wait_fd(c->fd, POLLOUT, deadline);
        if (rc == WEFT_ETIMEDOUT)
            return done == 0 ? WEFT_ETIMEDOUT : break_send(c);
        if (rc) /* cancelled, before the message began (masked after) */
            return rc;
    }
}

/* Read exactly n bytes of a message already begun: without a deadline (see
 * weft/ipc.h), EOF here is a cut message. A coroutine waits through its
 * loop, its cancellation masked. */
static int read_rest(weft_conn *c, char *p, size_t n)
{
    bool coroutine = weft_in_coroutine();
    if (coroutine)
        weft__cancel_mask();
    int rc = 0;
    while (n > 0) {
        ssize_t r = recv(c->fd, p, n, coroutine ? MSG_DONTWAIT : MSG_WAITALL);
        if (r > 0) {
            p += r;
            n -= (size_t)r;
            continue;
        }
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 && errno == EAGAIN && coroutine) {
            wait_fd(c->fd, POLLIN, WEFT__NO_DEADLINE);
            continue;
        }
        c->recv_broken = true;
        rc = WEFT_EBROKEN;
        break;
    }
    if (coroutine)
        weft__cancel_unmask();
    return rc;
}

static int recv_check(weft_conn *c, double timeout)
{
    if (weft__timeout_valid(timeout))
        return WEFT_EINVAL;
    if (c->fd < 0)
        return WEFT_ESTATE;
    if (!c->can_recv)
        return WEFT_EINVAL;
    if (c->recv_broken)
        return WEFT_EBROKEN;
    return 0;
}

/* How long a receiver retries a non-blocking recv before it sleeps in the
 * kernel (system calls, but no sleep). A round trip whose answer comes
 * within this time costs no sleep and no wake-up, which on a virtual
 * machine take tens of microseconds each: the pipe round trip fell from
 * about 65 us to about 7. Only where another CPU can be running the
 * sender, and never in a coroutine (it would hold up its loop). */
#define RECV_SPIN_NS 30000

static bool spin_for_data(weft_conn *c, frame_header *hdr, ssize_t *r, int64_t deadline)
{
    if (!weft__can_spin() || !weft__park_should_spin())
        return false;
    int64_t until = weft__now_ns() + RECV_SPIN_NS;
    if (until > deadline)
        until = deadline;
    do {
        *r = recv(c->fd, hdr, sizeof *hdr, MSG_DONTWAIT);
        if (*r >= 0 || (errno != EAGAIN && errno != EINTR))
            return true; /* data, EOF or an error: the caller sorts it out */
    } while (weft__now_ns() < until);
    return false;
}

/* Make sure the next message's header has been read (c->next_len). The
 * deadline bounds the wait for its first byte only. */
static int read_header(weft_conn *c, double timeout)
{
    if (c->have_len)
        return 0;
    frame_header hdr;
    ssize_t r;
    int64_t deadline = WEFT__NO_DEADLINE;
    bool have_deadline = timeout == WEFT_FOREVER;
    int flags = have_deadline && !weft_in_coroutine() ? MSG_WAITALL : MSG_DONTWAIT;
    if (timeout != 0) {
        int64_t d = weft__deadline(timeout);
        if (spin_for_data(c, &hdr, &r, d))
            goto got; /* the same outcomes as the first recv below */
        if (!have_deadline) {
            deadline = d; /* the spin counts against the timeout */
            have_deadline = true;
        }
    }
    for (;;) {
        r = recv(c->fd, &hdr, sizeof hdr, flags);
    got:
        if (r > 0)
            break;
        if (r == 0)
            return WEFT_EEOF; /* at a message boundary: a clean end */
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN) {
            c->recv_broken = true;
            return WEFT_EBROKEN;
        }
        if (!have_deadline) {
            deadline = weft__deadline(timeout);
            have_deadline = true;
        }
        int rc = wait_fd(c->fd, POLLIN, deadline);
        if (rc) /* WEFT_ETIMEDOUT, WEFT_ECANCELLED: nothing consumed */
            return rc;
    }
    if ((size_t)r < sizeof hdr) {
        int rc = read_rest(c, (char *)&hdr + r, sizeof hdr - (size_t)r);
        if (rc)
            return rc;
    }
    c->next_len = hdr;
    c->have_len = true;
    return 0;
}

/* The next message's length, once its header is read: in *n, or
 * WEFT_EMSGSIZE (its length in *len) when it is longer than limit, the
 * message then staying next. */
static int next_message(weft_conn *c, size_t limit, size_t *n, size_t *len, double timeout)
{
    int rc = recv_check(c, timeout);
    if (!rc)
        rc = read_header(c, timeout);
    if (rc)
        return rc;
    if (c->next_len > limit) {
        *len = c->next_len > SIZE_MAX ? SIZE_MAX : (size_t)c->next_len;
        return WEFT_EMSGSIZE;
    }
    *n = (size_t)c->next_len;
    return 0;
}

int weft_conn_recv_bytes(weft_conn *c, void *buf, size_t cap, size_t *len, double timeout)
{
    if (!c || !len || (!buf && cap))
        return WEFT_EINVAL;
    size_t n;
    int rc = next_message(c, cap, &n, len, timeout);
    if (rc)
        return rc;
    c->have_len = false;
    rc = read_rest(c, buf, n);
    if (rc)
        return rc;
    *len = n;
    return 0;
}

int weft_conn_recv_bytes_alloc(weft_conn *c, void **buf, size_t *len, size_t maxlen,
                               double timeout)
{
    if (!c || !buf || !len)
        return WEFT_EINVAL;
    size_t n;
    int rc = next_message(c, maxlen, &n, len, timeout);
    if (rc)
        return rc;
    char *p = malloc(n ? n : 1);
    if (!p)
        return WEFT_ENOMEM; /* the header stays read: the message stays next */
    c->have_len = false;
    rc = read_rest(c, p, n);
    if (rc) {
        free(p);
        return rc;
    }
    *buf = p;
    *len = n;
    return 0;
}

int weft_conn_poll(weft_conn *c, double timeout)
{
    if (!c)
        return WEFT_EINVAL;
    int rc = recv_check(c, timeout);
    if (rc == WEFT_EBROKEN)
        return 0; /* a receive returns at once (with the error) */
    if (rc)
        return rc;
    if (c->have_len)
        return 0;
    int64_t deadline = weft__deadline(timeout);
    for (;;) {
        struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
        if (poll(&pfd, 1, 0) > 0)
            return 0;
        rc = wait_fd(c->fd, POLLIN, deadline);
        if (rc) /* WEFT_ETIMEDOUT, WEFT_ECANCELLED */
            return rc;
    }
}

int weft_conn_fileno(const weft_conn *c)
{
    return c ? c->fd : -1;
}

int weft_conn_close(weft_conn *c)
{
    if (!c)
        return WEFT_EINVAL;
    if (c->fd < 0)
        return 0; /* closing twice is harmless, as in Python */
    weft__share_fd_remove(c->fd);
    close(c->fd);
    c->fd = -1;
    return 0;
}

void weft_conn_free(weft_conn *c)
{
    if (!c)
        return;
    if (c->fd >= 0)
        weft_conn_close(c);
    weft__handle_free(c);
}
