/*
 * Streams: asyncio's StreamReader and StreamWriter over one weft_socket.
 *
 * Reading goes through one contiguous buffer: unread bytes are
 * rbuf[rpos .. rpos + rlen). A call that needs more data reads from the
 * socket into the buffer's tail (compacting or growing it first) and looks
 * again, so a call that times out or is cancelled has consumed nothing.
 * A plain read with nothing buffered reads straight into the caller's
 * buffer (no copy).
 *
 * Writing sends at once when nothing is queued; what the socket does not
 * take goes into wbuf (pending bytes wbuf[wpos .. wpos + wlen)). The rest
 * is sent from the socket's readiness edges (fdw on_ready) on the loop's
 * thread, with no coroutine of its own; from a plain thread, drain and
 * close send it. Above the high-water mark the writer is "paused" and
 * drain waits until the queue is back under the low-water mark.
 *
 * Threads: a stream belongs to one thread at a time - its loop's, for a
 * stream used by coroutines (the edges are delivered there).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "internal/clock.h"
#include "internal/fdwait.h"
#include "internal/net.h"
#include "internal/park.h"
#include "weft/stream.h"

#define DEFAULT_LIMIT (64u * 1024)
#define DEFAULT_HIGH (64u * 1024)
#define READ_CHUNK (16u * 1024)  /* the least room made before a read */
#define FLUSH_CLOSE_TIMEOUT 10.0 /* a handler's stream, closed by its server */

struct weft_stream {
    weft_socket *sock;
    weft__fdw *w;
    size_t limit, high, low;

    char *rbuf;
    size_t rcap, rpos, rlen;
    bool eof;             /* the peer ended the stream */
    bool reading;         /* a read call is in progress (it may be suspended) */

    char *wbuf;
    size_t wcap, wpos, wlen;
    int werr;             /* the first send failure: every later write says it */
    bool werr_told;       /* a call returned werr (close does not repeat it) */
    bool paused;          /* over high water until back under low water */
    bool eof_wanted;      /* write_eof came with bytes still queued */
    bool eof_sent;
    bool closing;         /* close began: no more writes */
    bool closed;          /* close ended: the socket is closed */
    unsigned drainers;    /* coroutines parked in drain */
};

/* ------------------------------------------------------------ life */

static void on_ready(weft__fdw *w, unsigned events);

int weft_stream_new(weft_stream **out, weft_socket *sock, const weft_stream_opts *opts)
{
    if (out)
        *out = NULL;
    weft_stream_opts o = opts ? *opts : (weft_stream_opts){0};
    if (!out || !sock || (o.low_water && o.high_water && o.low_water > o.high_water)) {
        weft_socket_free(sock);
        return WEFT_EINVAL;
    }
    weft_stream *st = calloc(1, sizeof *st);
    if (!st) {
        weft_socket_free(sock);
        return WEFT_ENOMEM;
    }
    st->sock = sock;
    st->w = weft__socket_fdw(sock);
    st->limit = o.limit ? o.limit : DEFAULT_LIMIT;
    st->high = o.high_water ? o.high_water : DEFAULT_HIGH;
    st->low = o.low_water ? o.low_water : st->high / 4;
    if (st->low > st->high)
        st->low = st->high;
    st->w->on_ready = on_ready;
    st->w->on_ready_arg = st;
    *out = st;
    return 0;
}

int weft_open_connection(weft_stream **out, const char *host, int port,
                         const weft_stream_opts *opts, double timeout)
{
    if (out)
        *out = NULL;
    if (!out)
        return WEFT_EINVAL;
    weft_socket *s = NULL;
    int rc = weft_create_connection(&s, host, port, timeout);
    return rc ? rc : weft_stream_new(out, s, opts);
}

int weft_open_unix_connection(weft_stream **out, const char *path, const weft_stream_opts *opts,
                              double timeout)
{
    if (out)
        *out = NULL;
    weft_sockaddr a;
    int rc = out ? weft_sockaddr_unix(&a, path) : WEFT_EINVAL;
    if (rc)
        return rc;
    weft_socket *s = NULL;
    if ((rc = weft_socket_new(&s, AF_UNIX, SOCK_STREAM)) != 0)
        return rc;
    if ((rc = weft_socket_connect(s, &a, timeout)) != 0) {
        weft_socket_free(s);
        return rc;
    }
    return weft_stream_new(out, s, opts);
}

weft_socket *weft_stream_socket(const weft_stream *st)
{
    return st ? st->sock : NULL;
}

int weft_stream_peername(const weft_stream *st, weft_sockaddr *a)
{
    return st ? weft_socket_getpeername(st->sock, a) : WEFT_EINVAL;
}

/* ---------------------------------------------------------- reading */

static bool bad_timeout(double timeout)
{
    return weft__timeout_valid(timeout) != 0;
}

/* The capacity, doubled from `cap`, that holds `need` bytes; 0 if none
 * can (the doubling would overflow first). */
static size_t grown_cap(size_t cap, size_t need)
{
    if (need > SIZE_MAX / 2)
        return 0;
    while (cap < need)
        cap *= 2;
    return cap;
}

/* Make room for at least `want` more bytes after the unread ones (moving
 * them to the front first). */
static int make_room(weft_stream *st, size_t want)
{
    if (want > SIZE_MAX / 2 - st->rlen)
        return WEFT_ENOMEM; /* no buffer that large can exist */
    if (st->rpos && st->rcap - st->rpos - st->rlen < want) {
        memmove(st->rbuf, st->rbuf + st->rpos, st->rlen);
        st->rpos = 0;
    }
    size_t need = st->rpos + st->rlen + want;
    if (need <= st->rcap)
        return 0;
    size_t cap = grown_cap(st->rcap ? st->rcap : READ_CHUNK, need);
    if (!cap)
        return WEFT_ENOMEM;
    char *b = realloc(st->rbuf, cap);
    if (!b)
        return WEFT_ENOMEM;
    st->rbuf = b;
    st->rcap = cap;
    return 0;
}

/* Receive from the socket, waiting up to `timeout`. As asyncio's
 * StreamReader, one reader waits at a time: a read that must wait while
 * another coroutine's read is suspended waiting is WEFT_ESTATE (Python's
 * RuntimeError), for the two would race for the same bytes, and the one
 * readiness edge may wake only one of them. */
static int recv_guarded(weft_stream *st, void *buf, size_t len, size_t *n, double timeout)
{
    if (st->reading)
        return WEFT_ESTATE;
    st->reading = true;
    int rc = weft_socket_recv(st->sock, buf, len, n, timeout);
    st->reading = false;
    return rc;
}

/* Read what the socket has (waiting until `deadline` for something) into
 * the buffer's tail. 0 also when it was the end of the stream (st->eof). */
static int fill(weft_stream *st, int64_t deadline)
{
    if (st->eof)
        return 0;
    int rc = make_room(st, READ_CHUNK);
    if (rc)
        return rc;
    size_t n = 0, room = st->rcap - st->rpos - st->rlen;
    rc = recv_guarded(st, st->rbuf + st->rpos + st->rlen, room, &n, weft__remaining(deadline));
    if (rc)
        return rc;
    if (n == 0)
        st->eof = true;
    st->rlen += n;
    return 0;
}

/* Take n unread bytes off the front (into buf unless NULL). With n == 0
 * the buffer may not exist yet: nothing is touched. */
static void consume(weft_stream *st, void *buf, size_t n)
{
    if (n == 0)
        return;
    if (buf)
        memcpy(buf, st->rbuf + st->rpos, n);
    st->rpos += n;
    st->rlen -= n;
    if (st->rlen == 0)
        st->rpos = 0;
}

int weft_stream_read(weft_stream *st, void *buf, size_t n, size_t *got, double timeout)
{
    if (got)
        *got = 0;
    if (!st || (!buf && n) || !got || bad_timeout(timeout))
        return WEFT_EINVAL;
    if (n == 0)
        return 0; /* asyncio's read(0): b'' at once, nothing consumed */
    if (st->rlen) {
        size_t k = st->rlen < n ? st->rlen : n;
        consume(st, buf, k);
        *got = k;
        return 0;
    }
    if (st->eof)
        return 0;
    /* Nothing buffered: straight into the caller's buffer. */
    int rc = recv_guarded(st, buf, n, got, timeout);
    if (rc == 0 && *got == 0)
        st->eof = true;
    return rc;
}

int weft_stream_read_all(weft_stream *st, void **buf, size_t *len, size_t max, double timeout)
{
    if (buf)
        *buf = NULL;
    if (len)
        *len = 0;
    if (!st || !buf || !len || bad_timeout(timeout))
        return WEFT_EINVAL;
    int64_t deadline = weft__deadline(timeout);
    while (!st->eof) {
        if (st->rlen > max)
            return WEFT_EMSGSIZE;
        int rc = fill(st, deadline);
        if (rc)
            return rc;
    }
    if (st->rlen > max)
        return WEFT_EMSGSIZE;
    char *b = malloc(st->rlen ? st->rlen : 1);
    if (!b)
        return WEFT_ENOMEM;
    *len = st->rlen;
    consume(st, b, st->rlen);
    *buf = b;
    return 0;
}

int weft_stream_readexactly(weft_stream *st, void *buf, size_t n, size_t *got, double timeout)
{
    if (got)
        *got = 0;
    if (!st || (!buf && n) || !got || bad_timeout(timeout))
        return WEFT_EINVAL;
    int64_t deadline = weft__deadline(timeout);
    while (st->rlen < n) {
        if (st->eof) {
            size_t k = st->rlen;
            consume(st, buf, k);
            *got = k;
            return WEFT_EEOF;
        }
        int rc = make_room(st, n - st->rlen);
        if (!rc)
            rc = fill(st, deadline);
        if (rc)
            return rc;
    }
    consume(st, buf, n);
    *got = n;
    return 0;
}

/*
 * Where sep starts in the unread bytes, or -1. *searched counts the unread
 * bytes a search for this same separator has already looked at, so that a
 * call that waits for more data does not search its buffer again: it
 * resumes seplen - 1 bytes back (a separator may straddle the old end).
 * The count lives in the caller's frame, never in the stream: a call that
 * returns without consuming (a time-out, a cancellation, the limit) leaves
 * nothing behind for the next call, which may look for another separator.
 */
static long find_sep(const weft_stream *st, const void *sep, size_t seplen, size_t *searched)
{
    if (st->rlen < seplen)
        return -1;
    size_t from = *searched > seplen - 1 ? *searched - (seplen - 1) : 0;
    const char *base = st->rbuf + st->rpos;
    const char *hit = memmem(base + from, st->rlen - from, sep, seplen);
    if (hit)
        return (long)(hit - base);
    *searched = st->rlen;
    return -1;
}

int weft_stream_readuntil(weft_stream *st, const void *sep, size_t seplen, void *buf, size_t cap,
                          size_t *len, double timeout)
{
    if (len)
        *len = 0;
    if (!st || !sep || seplen == 0 || !buf || !len || cap == 0 || bad_timeout(timeout))
        return WEFT_EINVAL;
    int64_t deadline = weft__deadline(timeout);
    size_t limit = cap < st->limit ? cap : st->limit, searched = 0;
    for (;;) {
        long at = find_sep(st, sep, seplen, &searched);
        if (at >= 0) {
            size_t n = (size_t)at + seplen;
            if (n > limit)
                return WEFT_EMSGSIZE; /* the bytes stay buffered */
            consume(st, buf, n);
            *len = n;
            return 0;
        }
        if (st->rlen > limit)
            return WEFT_EMSGSIZE;
        if (st->eof) {
            size_t k = st->rlen < cap ? st->rlen : cap;
            consume(st, buf, k);
            *len = k;
            return WEFT_EEOF;
        }
        int rc = fill(st, deadline);
        if (rc)
            return rc;
    }
}

int weft_stream_readline(weft_stream *st, void *buf, size_t cap, size_t *len, double timeout)
{
    int rc = weft_stream_readuntil(st, "\n", 1, buf, cap, len, timeout);
    if (rc == WEFT_EEOF)
        return 0; /* the last, unterminated line (or nothing) */
    if (rc == WEFT_EMSGSIZE) {
        /* asyncio drops the line that was too long: through its newline
         * if it is there, else everything buffered. */
        size_t searched = 0;
        long at = find_sep(st, "\n", 1, &searched);
        consume(st, NULL, at >= 0 ? (size_t)at + 1 : st->rlen);
    }
    return rc;
}

bool weft_stream_at_eof(const weft_stream *st)
{
    return st && st->eof && st->rlen == 0;
}

/* ---------------------------------------------------------- writing */

static void wake_drainers(weft_stream *st)
{
    if (st->drainers)
        weft__unpark(&st->wlen, SIZE_MAX, NULL, NULL);
}

/* Send queued bytes until the socket would block. */
static void flush_now(weft_stream *st)
{
    size_t before = st->wlen;
    while (st->wlen && !st->werr) {
        size_t n = 0;
        int rc = weft__socket_send_now(st->sock, st->wbuf + st->wpos, st->wlen, &n);
        if (rc == WEFT_EAGAIN)
            break;
        if (rc) {
            st->werr = rc;
            break;
        }
        st->wpos += n;
        st->wlen -= n;
    }
    if (st->wlen == 0)
        st->wpos = 0;
    if (st->wlen == 0 && st->eof_wanted && !st->eof_sent && !st->werr) {
        st->eof_sent = true;
        shutdown(weft_socket_fd(st->sock), SHUT_WR);
    }
    if (st->paused && (st->wlen <= st->low || st->werr))
        st->paused = false;
    /* Each waiter checks its own mark (drain's low water, close's empty
     * queue) when it wakes. */
    if (st->wlen < before || st->werr)
        wake_drainers(st);
}

static void on_ready(weft__fdw *w, unsigned events)
{
    weft_stream *st = w->on_ready_arg;
    if ((events & WEFT__IO_WRITE) && st->wlen)
        flush_now(st);
}

static int queue_bytes(weft_stream *st, const char *data, size_t len)
{
    if (st->wpos && st->wcap - st->wpos - st->wlen < len) {
        memmove(st->wbuf, st->wbuf + st->wpos, st->wlen);
        st->wpos = 0;
    }
    if (len > SIZE_MAX / 2 - st->wlen)
        return WEFT_ENOMEM; /* no buffer that large can exist */
    size_t need = st->wpos + st->wlen + len;
    if (need > st->wcap) {
        size_t cap = grown_cap(st->wcap ? st->wcap : 16384, need);
        if (!cap)
            return WEFT_ENOMEM;
        char *b = realloc(st->wbuf, cap);
        if (!b)
            return WEFT_ENOMEM;
        st->wbuf = b;
        st->wcap = cap;
    }
    memcpy(st->wbuf + st->wpos + st->wlen, data, len);
    st->wlen += len;
    return 0;
}

static int tell(weft_stream *st)
{
    st->werr_told = true;
    return st->werr;
}

/* After the first send failure the writer stays broken: every later call
 * returns the same code. */
int weft_stream_write(weft_stream *st, const void *data, size_t len)
{
    if (!st || (!data && len))
        return WEFT_EINVAL;
    if (st->werr)
        return tell(st);
    if (st->closing || st->eof_wanted)
        return WEFT_ESTATE;
    if (len == 0)
        return 0;
    const char *p = data;
    if (st->wlen == 0) {
        size_t n = 0;
        int rc = weft__socket_send_now(st->sock, p, len, &n);
        if (rc && rc != WEFT_EAGAIN) {
            st->werr = rc;
            return tell(st);
        }
        p += n;
        len -= n;
        if (len == 0)
            return 0;
    }
    int rc = queue_bytes(st, p, len);
    if (rc)
        return rc;
    /* The loop sends the rest as the socket drains: make sure it sees the
     * socket's edges (a stream written before it ever waited). Outside a
     * coroutine, drain and close send it. */
    if (weft_in_coroutine())
        weft__fdw_attach(st->w);
    if (st->wlen > st->high)
        st->paused = true;
    return 0;
}

typedef struct drain_wait {
    weft_stream *st;
    size_t target;
} drain_wait;

static bool drain_validate(void *ctx)
{
    const drain_wait *d = ctx;
    return d->st->wlen > d->target && !d->st->werr;
}

/* Wait until at most `target` bytes are queued (flushing them ourselves
 * where no loop does it for us). */
static int wait_queue(weft_stream *st, size_t target, int64_t deadline)
{
    for (;;) {
        if (st->werr)
            return tell(st);
        if (st->wlen <= target)
            return 0;
        flush_now(st);
        if (st->werr || st->wlen <= target)
            continue;
        int rc;
        if (weft_in_coroutine() && weft__fdw_attach(st->w) == 0) {
            /* The loop flushes from the socket's edges and wakes us. */
            drain_wait d = {st, target};
            weft__park_spec spec = {.validate = drain_validate, .ctx = &d,
                                    .why = WEFT_WAIT_OTHER, .what = st};
            st->drainers++;
            rc = weft__park(&st->wlen, &spec, deadline, NULL);
            st->drainers--;
            if (rc == WEFT_EAGAIN)
                rc = 0;
        } else {
            rc = weft__fdw_wait(st->w, WEFT__IO_WRITE, deadline);
        }
        if (rc)
            return rc;
    }
}

int weft_stream_drain(weft_stream *st, double timeout)
{
    if (!st || bad_timeout(timeout))
        return WEFT_EINVAL;
    if (st->werr)
        return tell(st);
    if (!st->paused)
        return 0;
    return wait_queue(st, st->low, weft__deadline(timeout));
}

bool weft_stream_can_write_eof(const weft_stream *st)
{
    return st && weft__socket_is_socket(st->sock) && weft_socket_type(st->sock) == SOCK_STREAM;
}

int weft_stream_write_eof(weft_stream *st)
{
    if (!st)
        return WEFT_EINVAL;
    if (!weft_stream_can_write_eof(st))
        return WEFT_ENOTSUP;
    if (st->werr)
        return tell(st);
    if (st->closing)
        return WEFT_ESTATE;
    if (st->eof_wanted)
        return 0;
    st->eof_wanted = true;
    flush_now(st);
    return st->werr ? tell(st) : 0;
}

bool weft_stream_is_closing(const weft_stream *st)
{
    return st && (st->closing || st->werr);
}

int weft_stream_close(weft_stream *st, double timeout)
{
    if (!st || bad_timeout(timeout))
        return WEFT_EINVAL;
    if (st->closed)
        return 0;
    st->closing = true;
    bool told = st->werr_told;
    int rc = wait_queue(st, 0, weft__deadline(timeout));
    /* An error a write already reported is not reported again. */
    if (told && rc == st->werr)
        rc = 0;
    st->w->on_ready = NULL;
    st->closed = true;
    int rc2 = weft_socket_close(st->sock);
    return rc ? rc : rc2;
}

void weft_stream_free(weft_stream *st)
{
    if (!st)
        return;
    weft_stream_close(st, 0);
    weft_socket_free(st->sock);
    free(st->rbuf);
    free(st->wbuf);
    free(st);
}

/* For the server: a handler's stream is flushed for a bounded time. */
int weft__stream_close_served(weft_stream *st)
{
    int rc = weft_stream_close(st, FLUSH_CLOSE_TIMEOUT);
    weft_stream_free(st);
    return rc;
}
