/*
 * Streams and servers (weft/stream.h) on real sockets: 127.0.0.1, ::1.
 */
#include <netinet/in.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "fuzz.h"
#include "wt.h"

/* A connected pair of streams, made in the running coroutine. */
static void stream_pair(const char *host, weft_stream **a, weft_stream **b)
{
    weft_socket *l = NULL, *sa = NULL, *sb = NULL;
    weft_sockaddr addr;
    WT_OK(weft_create_server(&l, host, 0, NULL));
    WT_OK(weft_socket_getsockname(l, &addr));
    WT_OK(weft_socket_new(&sa, addr.ss.ss_family, SOCK_STREAM));
    WT_OK(weft_socket_connect(sa, &addr, 5));
    WT_OK(weft_socket_accept(l, &sb, NULL, 5));
    WT_OK(weft_socket_close(l));
    weft_socket_free(l);
    WT_OK(weft_stream_new(a, sa, NULL));
    WT_OK(weft_stream_new(b, sb, &(weft_stream_opts){.limit = 64}));
}

/* ---------------------------------------------------------- reading */

static int reading(void *arg, void **result)
{
    weft_stream *a, *b;
    stream_pair(arg, &a, &b);
    char buf[256];
    size_t n;
    WT_OK(weft_stream_write(a, "line one\nline two\nABCDEFGH", 26));
    WT_OK(weft_stream_readline(b, buf, sizeof buf, &n, 5));
    ck_assert_uint_eq(n, 9);
    ck_assert_int_eq(memcmp(buf, "line one\n", 9), 0);
    WT_OK(weft_stream_readuntil(b, "two\n", 4, buf, sizeof buf, &n, 5));
    ck_assert_uint_eq(n, 9);
    WT_OK(weft_stream_readexactly(b, buf, 4, &n, 5));
    ck_assert_int_eq(memcmp(buf, "ABCD", 4), 0);
    /* A readexactly that times out consumes nothing. */
    WT_ERR(weft_stream_readexactly(b, buf, 8, &n, 0.02), WEFT_ETIMEDOUT);
    WT_OK(weft_stream_write(a, "IJKL", 4));
    WT_OK(weft_stream_readexactly(b, buf, 8, &n, 5));
    ck_assert_int_eq(memcmp(buf, "EFGHIJKL", 8), 0);
    /* A separator split across two arrivals. */
    WT_OK(weft_stream_write(a, "xx\r", 3));
    WT_OK(weft_stream_drain(a, 5));
    WT_ERR(weft_stream_readuntil(b, "\r\n", 2, buf, sizeof buf, &n, 0.02), WEFT_ETIMEDOUT);
    WT_OK(weft_stream_write(a, "\nyy", 3));
    WT_OK(weft_stream_readuntil(b, "\r\n", 2, buf, sizeof buf, &n, 5));
    ck_assert_uint_eq(n, 4);
    WT_OK(weft_stream_read(b, buf, sizeof buf, &n, 5));
    ck_assert_uint_eq(n, 2);

    /* Over the limit (64 for b): an error, and the bytes stay. */
    char big[100];
    memset(big, 'z', sizeof big);
    big[99] = '\n';
    WT_OK(weft_stream_write(a, big, sizeof big));
    WT_ERR(weft_stream_readuntil(b, "\n", 1, buf, sizeof buf, &n, 5), WEFT_EMSGSIZE);
    WT_ERR(weft_stream_readuntil(b, "\n", 1, buf, 10, &n, 5), WEFT_EMSGSIZE);
    WT_OK(weft_stream_readexactly(b, buf, 100, &n, 5)); /* still all there */
    ck_assert_int_eq(buf[99], '\n');
    /* readline drops the too-long line and goes on with the next. */
    WT_OK(weft_stream_write(a, big, sizeof big));
    WT_OK(weft_stream_write(a, "ok\n", 3));
    int rc;
    while ((rc = weft_stream_readline(b, buf, sizeof buf, &n, 5)) == WEFT_EMSGSIZE)
        ;
    WT_OK(rc);
    ck_assert_uint_eq(n, 3);
    ck_assert_int_eq(memcmp(buf, "ok\n", 3), 0);

    /* The end of the stream: readexactly short, readline's last line. */
    WT_OK(weft_stream_write(a, "tail", 4));
    WT_OK(weft_stream_write_eof(a));
    ck_assert(!weft_stream_at_eof(b));
    memset(buf, 0, sizeof buf);
    WT_ERR(weft_stream_readexactly(b, buf, 10, &n, 5), WEFT_EEOF);
    ck_assert_uint_eq(n, 4);
    ck_assert_int_eq(memcmp(buf, "tail", 4), 0);
    ck_assert(weft_stream_at_eof(b));
    WT_OK(weft_stream_readline(b, buf, sizeof buf, &n, 5));
    ck_assert_uint_eq(n, 0);
    WT_OK(weft_stream_read(b, buf, sizeof buf, &n, 5));
    ck_assert_uint_eq(n, 0);
    WT_ERR(weft_stream_write(a, "x", 1), WEFT_ESTATE);
    /* b can still write to a: a half-close. */
    WT_OK(weft_stream_write(b, "back", 4));
    WT_OK(weft_stream_close(b, 5));
    weft_stream_free(b);
    void *all;
    size_t len;
    WT_OK(weft_stream_read_all(a, &all, &len, 100, 5));
    ck_assert_uint_eq(len, 4);
    ck_assert_int_eq(memcmp(all, "back", 4), 0);
    free(all);
    WT_OK(weft_stream_close(a, 5));
    weft_stream_free(a);
    return 0;
}

START_TEST(reading_v4_v6)
{
    WT_OK(weft_run(reading, "127.0.0.1", NULL));
    WT_OK(weft_run(reading, "::1", NULL));
}
END_TEST

static int read_all_limit(void *arg, void **result)
{
    weft_stream *a, *b;
    stream_pair("127.0.0.1", &a, &b);
    WT_OK(weft_stream_write(a, "0123456789", 10));
    WT_OK(weft_stream_close(a, 5));
    weft_stream_free(a);
    void *all = NULL;
    size_t len;
    WT_ERR(weft_stream_read_all(b, &all, &len, 5, 5), WEFT_EMSGSIZE);
    ck_assert_ptr_null(all);
    WT_OK(weft_stream_read_all(b, &all, &len, 10, 5));
    ck_assert_uint_eq(len, 10);
    free(all);
    WT_OK(weft_stream_close(b, 5));
    weft_stream_free(b);
    return 0;
}

START_TEST(read_all_over_max)
{
    WT_OK(weft_run(read_all_limit, NULL, NULL));
}
END_TEST

/* ------------------------------------------ back-pressure and drain */

typedef struct slow {
    weft_stream *a, *b;
    size_t total;
    bool writer_paused;
    uint64_t sum_out, sum_in;
} slow;

static int slow_reader(void *arg, void **result)
{
    slow *s = arg;
    unsigned char buf[1000];
    size_t n, got = 0;
    /* Do not read until the writer is held up in drain. */
    while (!s->writer_paused)
        weft_sleep(0);
    int rc;
    while ((rc = weft_stream_read(s->b, buf, sizeof buf, &n, 10)) == 0 && n) {
        for (size_t i = 0; i < n; i++)
            s->sum_in = s->sum_in * 31 + buf[i] + (got + i);
        got += n;
        weft_sleep(0);
    }
    return rc ? rc : got == s->total ? 0 : WEFT_EEOF;
}

static int backpressure(void *arg, void **result)
{
    slow *s = arg;
    stream_pair("127.0.0.1", &s->a, &s->b);
    /* A small send buffer so that the stream's own queue fills soon. (Not
     * a small receive buffer: on loopback, whose segments are 64 KiB, a
     * receive window below one segment stalls the sender on its persist
     * timer for seconds.) */
    int sz = 16384;
    setsockopt(weft_socket_fd(weft_stream_socket(s->a)), SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz);
    weft_future *r;
    WT_OK(weft_create_task(NULL, slow_reader, s, "reader", &r));
    unsigned char chunk[8192];
    size_t off = 0;
    int paused_drains = 0;
    for (int k = 0; k < 256; k++) {
        for (size_t i = 0; i < sizeof chunk; i++) {
            chunk[i] = (unsigned char)((off + i) * 7 + k);
            s->sum_out = s->sum_out * 31 + chunk[i] + (off + i);
        }
        WT_OK(weft_stream_write(s->a, chunk, sizeof chunk));
        off += sizeof chunk;
        if (!weft_future_done(r) && !s->writer_paused && weft_stream_drain(s->a, 0) == WEFT_ETIMEDOUT) {
            /* Over high water with nobody reading: drain really waits. */
            paused_drains++;
            s->writer_paused = true;
        }
        WT_OK(weft_stream_drain(s->a, 10));
    }
    s->total = off;
    ck_assert_int_eq(paused_drains, 1);
    WT_OK(weft_stream_close(s->a, 10));
    weft_stream_free(s->a);
    WT_OK(weft_await(r, NULL, WEFT_FOREVER));
    weft_future_unref(r);
    ck_assert_uint_eq(s->sum_in, s->sum_out);
    WT_OK(weft_stream_close(s->b, 5));
    weft_stream_free(s->b);
    return 0;
}

START_TEST(drain_with_slow_reader)
{
    slow s = {0};
    WT_OK(weft_run(backpressure, &s, NULL));
}
END_TEST

/* A stream used from a plain thread: write buffers, drain and close send. */
static void *thread_writer(void *arg)
{
    weft_stream *a = arg;
    static char data[1 << 20];
    memset(data, 'q', sizeof data);
    int rc = weft_stream_write(a, data, sizeof data);
    if (rc == 0)
        rc = weft_stream_drain(a, 10);
    if (rc == 0)
        rc = weft_stream_close(a, 10);
    weft_stream_free(a);
    return (void *)(intptr_t)rc;
}

START_TEST(thread_stream)
{
    weft_socket *l = NULL, *sa = NULL, *sb = NULL;
    weft_sockaddr addr;
    WT_OK(weft_create_server(&l, "127.0.0.1", 0, NULL));
    WT_OK(weft_socket_getsockname(l, &addr));
    WT_OK(weft_socket_new(&sa, AF_INET, SOCK_STREAM));
    WT_OK(weft_socket_connect(sa, &addr, 5));
    WT_OK(weft_socket_accept(l, &sb, NULL, 5));
    weft_stream *a, *b;
    WT_OK(weft_stream_new(&a, sa, NULL));
    WT_OK(weft_stream_new(&b, sb, NULL));
    weft_thread *t;
    WT_OK(weft_thread_new(&t, thread_writer, a, NULL));
    WT_OK(weft_thread_start(t));
    void *all;
    size_t len;
    WT_OK(weft_stream_read_all(b, &all, &len, 2u << 20, 10));
    ck_assert_uint_eq(len, 1u << 20);
    free(all);
    WT_OK(weft_thread_join(t, WEFT_FOREVER));
    void *res;
    WT_OK(weft_thread_result(t, &res));
    WT_OK((int)(intptr_t)res);
    weft_thread_unref(t);
    WT_OK(weft_stream_close(b, 1));
    weft_stream_free(b);
    WT_OK(weft_socket_close(l));
    weft_socket_free(l);
}
END_TEST

/* -------------------------------- separators, time-outs and the end */

/* A stream over one end of a Unix socket pair, with limit `limit`; the
 * test writes the other end (*wfd) directly, and every byte written is
 * readable at once. */
static weft_stream *unix_stream(int *wfd, size_t limit)
{
    int fds[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
    weft_socket *s;
    WT_OK(weft_socket_from_fd(&s, fds[0]));
    weft_stream *st;
    WT_OK(weft_stream_new(&st, s, &(weft_stream_opts){.limit = limit}));
    *wfd = fds[1];
    return st;
}

static void put(int fd, const char *text)
{
    ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
}

#define WT_BYTES(buf, n, text)                                                          \
    do {                                                                                \
        ck_assert_uint_eq((n), strlen(text));                                          \
        ck_assert_int_eq(memcmp((buf), (text), strlen(text)), 0);                       \
    } while (0)

/* A readuntil that times out leaves nothing behind for the next one, which
 * looks for another separator: the record is found at once, and later
 * data never merges two records. */
START_TEST(separator_after_timeout)
{
    int w;
    weft_stream *st = unix_stream(&w, 0);
    char buf[64];
    size_t n;
    put(w, "AB;CD");
    WT_ERR(weft_stream_readuntil(st, "\n", 1, buf, sizeof buf, &n, 0), WEFT_ETIMEDOUT);
    WT_OK(weft_stream_readuntil(st, ";", 1, buf, sizeof buf, &n, 0));
    WT_BYTES(buf, n, "AB;");
    put(w, "EF;");
    WT_OK(weft_stream_readuntil(st, ";", 1, buf, sizeof buf, &n, 0));
    WT_BYTES(buf, n, "CDEF;");
    /* Two-byte separators after a one-byte search, and back. */
    put(w, "x\r\ny;z");
    WT_ERR(weft_stream_readuntil(st, "\r\n\r\n", 4, buf, sizeof buf, &n, 0), WEFT_ETIMEDOUT);
    WT_OK(weft_stream_readuntil(st, "\r\n", 2, buf, sizeof buf, &n, 0));
    WT_BYTES(buf, n, "x\r\n");
    WT_OK(weft_stream_readuntil(st, ";", 1, buf, sizeof buf, &n, 0));
    WT_BYTES(buf, n, "y;");
    WT_OK(weft_stream_close(st, 0));
    weft_stream_free(st);
    close(w);
}
END_TEST

/* The header-then-line pattern of a protocol reader: a header read that
 * times out in a timeout scope, then a line that is already buffered. */
static int line_after_scope(void *arg, void **result)
{
    int w;
    weft_stream *st = unix_stream(&w, 0);
    char buf[64];
    size_t n;
    put(w, "Host: x\npart");
    weft_timeout t = {0};
    WT_OK(weft_timeout_enter(&t, 0.01));
    int rc = weft_stream_readuntil(st, "\r\n\r\n", 4, buf, sizeof buf, &n, WEFT_FOREVER);
    WT_ERR(weft_timeout_exit(&t, rc), WEFT_ETIMEDOUT);
    WT_OK(weft_stream_readline(st, buf, sizeof buf, &n, 0));
    WT_BYTES(buf, n, "Host: x\n");
    WT_OK(weft_stream_close(st, 0));
    weft_stream_free(st);
    close(w);
    return 0;
}

START_TEST(readline_after_scope_timeout)
{
    WT_OK(weft_run(line_after_scope, NULL, NULL));
}
END_TEST

/* A one-byte separator that is there is found at the end of the stream,
 * and a match that fits the limit is not reported as over it, whatever
 * an earlier call for another separator searched. */
START_TEST(separator_at_eof_and_limit)
{
    int w;
    weft_stream *st = unix_stream(&w, 0);
    char buf[64];
    size_t n;
    put(w, "AB;CD");
    WT_ERR(weft_stream_readuntil(st, "\n", 1, buf, sizeof buf, &n, 0), WEFT_ETIMEDOUT);
    shutdown(w, SHUT_WR);
    WT_OK(weft_stream_readuntil(st, ";", 1, buf, sizeof buf, &n, 0));
    WT_BYTES(buf, n, "AB;");
    WT_ERR(weft_stream_readuntil(st, ";", 1, buf, sizeof buf, &n, 0), WEFT_EEOF);
    WT_BYTES(buf, n, "CD");
    WT_OK(weft_stream_close(st, 0));
    weft_stream_free(st);
    close(w);

    st = unix_stream(&w, 8);
    put(w, "AB;CDEFGHIJKL");
    WT_ERR(weft_stream_readuntil(st, "\n", 1, buf, sizeof buf, &n, 0), WEFT_EMSGSIZE);
    WT_OK(weft_stream_readuntil(st, ";", 1, buf, sizeof buf, &n, 0));
    WT_BYTES(buf, n, "AB;");
    /* readline drops the over-long bytes it holds (ten, with no newline
     * among them), and no more. */
    put(w, "\nok;");
    WT_ERR(weft_stream_readline(st, buf, sizeof buf, &n, 0), WEFT_EMSGSIZE);
    WT_OK(weft_stream_readuntil(st, ";", 1, buf, sizeof buf, &n, 0));
    WT_BYTES(buf, n, "\nok;");
    WT_OK(weft_stream_close(st, 0));
    weft_stream_free(st);
    close(w);
}
END_TEST

/* The end of the stream before the stream ever had a buffer: every read
 * says so without touching a buffer that does not exist. */
START_TEST(eof_before_any_buffer)
{
    int w;
    weft_stream *st = unix_stream(&w, 0);
    char buf[16];
    size_t n = 99;
    close(w);
    WT_OK(weft_stream_read(st, buf, sizeof buf, &n, 1));
    ck_assert_uint_eq(n, 0);
    WT_ERR(weft_stream_readexactly(st, buf, 4, &n, 1), WEFT_EEOF);
    ck_assert_uint_eq(n, 0);
    WT_ERR(weft_stream_readuntil(st, ";", 1, buf, sizeof buf, &n, 1), WEFT_EEOF);
    ck_assert_uint_eq(n, 0);
    WT_OK(weft_stream_readline(st, buf, sizeof buf, &n, 1));
    ck_assert_uint_eq(n, 0);
    WT_OK(weft_stream_readexactly(st, buf, 0, &n, 1));
    void *all;
    WT_OK(weft_stream_read_all(st, &all, &n, 10, 1));
    ck_assert_uint_eq(n, 0);
    free(all);
    ck_assert(weft_stream_at_eof(st));
    WT_OK(weft_stream_close(st, 0));
    weft_stream_free(st);

    /* The same when the first call is a readexactly or a readuntil. */
    st = unix_stream(&w, 0);
    close(w);
    WT_ERR(weft_stream_readexactly(st, buf, 4, &n, 1), WEFT_EEOF);
    ck_assert_uint_eq(n, 0);
    WT_OK(weft_stream_close(st, 0));
    weft_stream_free(st);
    st = unix_stream(&w, 0);
    close(w);
    WT_ERR(weft_stream_readuntil(st, "\r\n", 2, buf, sizeof buf, &n, 1), WEFT_EEOF);
    ck_assert_uint_eq(n, 0);
    WT_OK(weft_stream_close(st, 0));
    weft_stream_free(st);
}
END_TEST

/* A count no buffer can hold fails with WEFT_ENOMEM at once, not after
 * doubling a capacity past SIZE_MAX (which wraps to 0 and never ends). */
START_TEST(readexactly_impossible_size)
{
    int w;
    weft_stream *st = unix_stream(&w, 0);
    char buf[16];
    size_t n;
    put(w, "abc");
    WT_ERR(weft_stream_readexactly(st, buf, SIZE_MAX / 2 + 2, &n, 1), WEFT_ENOMEM);
    WT_ERR(weft_stream_readexactly(st, buf, SIZE_MAX, &n, 1), WEFT_ENOMEM);
    WT_OK(weft_stream_readexactly(st, buf, 3, &n, 1)); /* nothing was lost */
    WT_BYTES(buf, n, "abc");
    WT_OK(weft_stream_close(st, 0));
    weft_stream_free(st);
    close(w);
}
END_TEST

/* The model-based test: random programs of writes, the end of the stream
 * and reads of every kind (time-outs, timeout scopes, cancellations), each
 * outcome compared with a model of the bytes (fuzz/stream_model.c). */
START_TEST(reader_matches_model)
{
    uint64_t x = 0x9e3779b97f4a7c15u;
    uint8_t prog[512];
    for (int i = 0; i < 300; i++) {
        size_t len = 8 + i % 500;
        for (size_t k = 0; k < len; k++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            prog[k] = (uint8_t)(x >> 24);
        }
        ck_assert_msg(fz_stream(prog, len) == 0, "program %d of %zu bytes (stderr has the step)",
                      i, len);
    }
}
END_TEST

/* ---------------------------------------- cancellation and resets */

typedef struct cancel_ctx {
    weft_stream *a, *b;
    bool entered;
} cancel_ctx;

static int pending_readline(void *arg, void **result)
{
    cancel_ctx *c = arg;
    char buf[64];
    size_t n;
    c->entered = true;
    return weft_stream_readline(c->b, buf, sizeof buf, &n, WEFT_FOREVER);
}

static int cancel_read(void *arg, void **result)
{
    cancel_ctx c = {0};
    stream_pair("127.0.0.1", &c.a, &c.b);
    /* Half a line arrives first: the cancelled read must not eat it. */
    WT_OK(weft_stream_write(c.a, "hal", 3));
    weft_future *t;
    WT_OK(weft_create_task(NULL, pending_readline, &c, NULL, &t));
    while (!c.entered)
        weft_sleep(0);
    weft_sleep(0);
    ck_assert(weft_future_cancel(t));
    WT_ERR(weft_await(t, NULL, WEFT_FOREVER), WEFT_ECANCELLED);
    weft_future_unref(t);
    WT_OK(weft_stream_write(c.a, "f\n", 2));
    char buf[64];
    size_t n;
    WT_OK(weft_stream_readline(c.b, buf, sizeof buf, &n, 5));
    ck_assert_uint_eq(n, 5);
    ck_assert_int_eq(memcmp(buf, "half\n", 5), 0);
    WT_OK(weft_stream_close(c.a, 1));
    weft_stream_free(c.a);
    WT_OK(weft_stream_close(c.b, 1));
    weft_stream_free(c.b);
    return 0;
}

START_TEST(cancel_pending_read)
{
    WT_OK(weft_run(cancel_read, NULL, NULL));
}
END_TEST

static int reset_peer(void *arg, void **result)
{
    weft_stream *a, *b;
    stream_pair("127.0.0.1", &a, &b);
    /* SO_LINGER 0: close sends a reset instead of a FIN. */
    struct linger lg = {.l_onoff = 1, .l_linger = 0};
    WT_OK(weft_socket_setsockopt(weft_stream_socket(b), SOL_SOCKET, SO_LINGER, &lg, sizeof lg));
    WT_OK(weft_stream_close(b, 0));
    weft_stream_free(b);
    char buf[8];
    size_t n;
    int rc = weft_stream_read(a, buf, sizeof buf, &n, 5);
    ck_assert_msg(rc == -ECONNRESET || (rc == 0 && n == 0), "read after reset: %d", rc);
    static char data[1 << 16];
    int wrc = 0;
    for (int i = 0; i < 64 && wrc == 0; i++)
        if ((wrc = weft_stream_write(a, data, sizeof data)) == 0)
            wrc = weft_stream_drain(a, 5);
    ck_assert_msg(wrc == -EPIPE || wrc == -ECONNRESET, "write after reset: %d", wrc);
    WT_ERR(weft_stream_write(a, "x", 1), wrc); /* stays broken */
    ck_assert(weft_stream_is_closing(a));
    WT_OK(weft_stream_close(a, 1)); /* already reported: not again */
    weft_stream_free(a);
    return 0;
}

START_TEST(peer_reset)
{
    WT_OK(weft_run(reset_peer, NULL, NULL));
}
END_TEST

/* ---------------------------------------------------------- servers */

typedef struct echo_srv {
    weft_server *srv;
    int port;
    size_t served_bytes;
    int clients, chunks;
    weft_event handler_started;
    bool fail_first;
    int errors_reported;
} echo_srv;

static int echo_handler(weft_stream *st, void *arg)
{
    echo_srv *e = arg;
    weft_event_set(&e->handler_started);
    char buf[4096];
    size_t n;
    int rc;
    if (e->fail_first) {
        e->fail_first = false;
        return WEFT_EBUSY;
    }
    while ((rc = weft_stream_read(st, buf, sizeof buf, &n, 10)) == 0 && n) {
        e->served_bytes += n;
        if ((rc = weft_stream_write(st, buf, n)) != 0 || (rc = weft_stream_drain(st, 10)) != 0)
            return rc;
    }
    return rc;
}

static void count_errors(weft_loop *loop, const weft_loop_error *err, void *arg)
{
    echo_srv *e = arg;
    e->errors_reported++;
}

typedef struct client_arg {
    echo_srv *e;
    int id;
} client_arg;

static int echo_client(void *arg, void **result)
{
    client_arg *ca = arg;
    echo_srv *e = ca->e;
    weft_stream *st;
    int rc = weft_open_connection(&st, "127.0.0.1", e->port, NULL, 10);
    if (rc)
        return rc;
    unsigned char out[1024], in[1024];
    for (int k = 0; k < e->chunks && !rc; k++) {
        for (size_t i = 0; i < sizeof out; i++)
            out[i] = (unsigned char)(ca->id * 13 + k * 7 + i);
        size_t n;
        rc = weft_stream_write(st, out, sizeof out);
        if (!rc)
            rc = weft_stream_readexactly(st, in, sizeof in, &n, 10);
        if (!rc && memcmp(in, out, sizeof in) != 0)
            rc = WEFT_EINVAL;
    }
    int rc2 = weft_stream_close(st, 5);
    weft_stream_free(st);
    return rc ? rc : rc2;
}

static int serve_many(void *arg, void **result)
{
    echo_srv *e = arg;
    weft_loop_set_exception_handler(weft_get_running_loop(), count_errors, e);
    WT_OK(weft_server_start(&e->srv, echo_handler, e, "127.0.0.1", 0, NULL));
    weft_socket *ls[2];
    size_t n;
    WT_OK(weft_server_sockets(e->srv, ls, 2, &n));
    ck_assert_uint_eq(n, 1);
    weft_sockaddr addr;
    WT_OK(weft_socket_getsockname(ls[0], &addr));
    e->port = weft_sockaddr_port(&addr);

    /* A handler that fails is reported and closes only its connection. */
    e->fail_first = true;
    weft_stream *st;
    WT_OK(weft_open_connection(&st, "127.0.0.1", e->port, NULL, 10));
    char c;
    size_t got;
    WT_OK(weft_stream_read(st, &c, 1, &got, 10));
    ck_assert_uint_eq(got, 0);
    WT_OK(weft_stream_close(st, 1));
    weft_stream_free(st);
    ck_assert_int_eq(e->errors_reported, 1);

    weft_future *cl[200];
    client_arg ca[200];
    for (int i = 0; i < e->clients; i++) {
        ca[i] = (client_arg){e, i};
        WT_OK(weft_create_task(NULL, echo_client, &ca[i], NULL, &cl[i]));
    }
    for (int i = 0; i < e->clients; i++) {
        WT_OK(weft_await(cl[i], NULL, WEFT_FOREVER));
        weft_future_unref(cl[i]);
    }
    WT_OK(weft_server_close(e->srv));
    WT_OK(weft_server_wait_closed(e->srv, 10));
    ck_assert_uint_eq(weft_server_connections_len(e->srv), 0);
    WT_ERR(weft_open_connection(&st, "127.0.0.1", e->port, NULL, 10), -ECONNREFUSED);
    weft_server_free(e->srv);
    return 0;
}

START_TEST(server_many_clients)
{
    echo_srv e = {.clients = 200, .chunks = 16};
    weft_event_init(&e.handler_started);
    WT_OK(weft_run(serve_many, &e, NULL));
    ck_assert_uint_eq(e.served_bytes, (size_t)200 * 16 * 1024);
}
END_TEST

/* serve_forever, close_clients, and a cancelled serve_forever. */
static int forever_task(void *arg, void **result)
{
    return weft_server_serve_forever(arg);
}

static int serve_and_stop(void *arg, void **result)
{
    echo_srv *e = arg;
    WT_OK(weft_server_start(&e->srv, echo_handler, e, "::1", 0, NULL));
    weft_socket *ls;
    size_t n;
    WT_OK(weft_server_sockets(e->srv, &ls, 1, &n));
    weft_sockaddr addr;
    WT_OK(weft_socket_getsockname(ls, &addr));
    weft_future *f;
    WT_OK(weft_create_task(NULL, forever_task, e->srv, NULL, &f));
    weft_stream *st;
    WT_OK(weft_open_connection(&st, "::1", weft_sockaddr_port(&addr), NULL, 10));
    WT_OK(weft_event_wait(&e->handler_started, 10));
    ck_assert_uint_eq(weft_server_connections_len(e->srv), 1);
    /* Closing stops listening; the connection goes on. */
    WT_OK(weft_server_close(e->srv));
    WT_OK(weft_await(f, NULL, WEFT_FOREVER));
    weft_future_unref(f);
    WT_ERR(weft_server_wait_closed(e->srv, 0.02), WEFT_ETIMEDOUT);
    WT_OK(weft_stream_write(st, "ping", 4));
    char buf[4];
    WT_OK(weft_stream_readexactly(st, buf, 4, &n, 5));
    /* close_clients cancels the handler; then wait_closed ends. */
    WT_OK(weft_server_close_clients(e->srv));
    WT_OK(weft_server_wait_closed(e->srv, 10));
    WT_OK(weft_stream_read(st, buf, 4, &n, 5));
    ck_assert_uint_eq(n, 0);
    WT_OK(weft_stream_close(st, 1));
    weft_stream_free(st);
    weft_server_free(e->srv);

    /* A cancelled serve_forever closes the server. */
    WT_OK(weft_server_start(&e->srv, echo_handler, e, "127.0.0.1", 0, NULL));
    WT_OK(weft_create_task(NULL, forever_task, e->srv, NULL, &f));
    weft_sleep(0);
    ck_assert(weft_future_cancel(f));
    WT_ERR(weft_await(f, NULL, WEFT_FOREVER), WEFT_ECANCELLED);
    weft_future_unref(f);
    WT_OK(weft_server_wait_closed(e->srv, 10));
    weft_server_free(e->srv);
    return 0;
}

START_TEST(serve_forever_and_close)
{
    echo_srv e = {0};
    weft_event_init(&e.handler_started);
    WT_OK(weft_run(serve_and_stop, &e, NULL));
}
END_TEST

/* A server closed before the loop ever ran its accept task: the task is
 * cancelled before its first step, and closing still completes (before,
 * only the task's own body counted it done, so wait_closed and free hung
 * and its argument leaked). */
static int close_before_first_step(void *arg, void **result)
{
    weft_server *srv;
    WT_OK(weft_server_start(&srv, echo_handler, arg, "127.0.0.1", 0, NULL));
    WT_OK(weft_server_close(srv));
    WT_OK(weft_server_wait_closed(srv, 5));
    weft_server_free(srv);
    WT_OK(weft_server_start(&srv, echo_handler, arg, "127.0.0.1", 0, NULL));
    weft_server_free(srv); /* free without close, no step either */
    return 0;
}

START_TEST(server_closed_before_it_ran)
{
    echo_srv e = {0};
    weft_event_init(&e.handler_started);
    WT_OK(weft_run(close_before_first_step, &e, NULL));
}
END_TEST

/* A server freed with connections still running: they are cancelled. */
static int free_busy(void *arg, void **result)
{
    echo_srv *e = arg;
    WT_OK(weft_server_start(&e->srv, echo_handler, e, "127.0.0.1", 0, NULL));
    weft_socket *ls;
    size_t n;
    WT_OK(weft_server_sockets(e->srv, &ls, 1, &n));
    weft_sockaddr addr;
    WT_OK(weft_socket_getsockname(ls, &addr));
    weft_stream *st[3];
    for (int i = 0; i < 3; i++)
        WT_OK(weft_open_connection(&st[i], "127.0.0.1", weft_sockaddr_port(&addr), NULL, 10));
    while (weft_server_connections_len(e->srv) < 3)
        weft_sleep(0);
    weft_server_free(e->srv);
    for (int i = 0; i < 3; i++) {
        WT_OK(weft_stream_close(st[i], 1));
        weft_stream_free(st[i]);
    }
    return 0;
}

START_TEST(free_with_connections)
{
    echo_srv e = {0};
    weft_event_init(&e.handler_started);
    WT_OK(weft_run(free_busy, &e, NULL));
}
END_TEST

/* ----------------------------------------------------------- EMFILE */

typedef struct starve {
    echo_srv e;
    int reported;
} starve;

static void starve_handler(weft_loop *loop, const weft_loop_error *err, void *arg)
{
    starve *s = arg;
    if (err->code == -EMFILE)
        s->reported++;
}

static int emfile_main(void *arg, void **result)
{
    starve *s = arg;
    weft_loop_set_exception_handler(weft_get_running_loop(), starve_handler, s);
    WT_OK(weft_server_start(&s->e.srv, echo_handler, &s->e, "127.0.0.1", 0, NULL));
    weft_socket *ls;
    size_t n;
    WT_OK(weft_server_sockets(s->e.srv, &ls, 1, &n));
    weft_sockaddr addr;
    WT_OK(weft_socket_getsockname(ls, &addr));
    /* Use up the descriptors, leaving room for a few client sockets. */
    int hog[4096], nhog = 0;
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = 64;
    ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
    int fd;
    while ((fd = dup(0)) >= 0)
        hog[nhog++] = fd;
    for (int i = 0; i < 4; i++)
        close(hog[--nhog]);
    /* Two clients: the first takes the server's last descriptors... */
    weft_socket *c[2];
    for (int i = 0; i < 2; i++) {
        WT_OK(weft_socket_new(&c[i], AF_INET, SOCK_STREAM));
        WT_OK(weft_socket_connect(c[i], &addr, 5));
    }
    /* ... so that accept hits EMFILE and the server pauses, reporting it once. */
    struct rusage r0, r1;
    getrusage(RUSAGE_SELF, &r0);
    double t0 = weft_monotonic();
    while (s->reported == 0 && weft_monotonic() - t0 < 10)
        weft_sleep(0.01);
    ck_assert_int_eq(s->reported, 1);
    weft_sleep(0.3);
    getrusage(RUSAGE_SELF, &r1);
    double cpu = (double)(r1.ru_utime.tv_sec - r0.ru_utime.tv_sec) +
                 (double)(r1.ru_utime.tv_usec - r0.ru_utime.tv_usec) / 1e6 +
                 (double)(r1.ru_stime.tv_sec - r0.ru_stime.tv_sec) +
                 (double)(r1.ru_stime.tv_usec - r0.ru_stime.tv_usec) / 1e6;
    ck_assert_msg(cpu < 0.2, "the paused server used %.3f s of CPU", cpu);
    ck_assert_int_eq(s->reported, 1);
    /* Descriptors come back: the server serves both clients. */
    while (nhog)
        close(hog[--nhog]);
    for (int i = 0; i < 2; i++) {
        char buf[4];
        size_t got;
        WT_OK(weft_socket_sendall(c[i], "echo", 4, NULL, 5));
        WT_OK(weft_socket_recv(c[i], buf, 4, &got, 10));
        ck_assert_uint_eq(got, 4);
        WT_OK(weft_socket_close(c[i]));
        weft_socket_free(c[i]);
    }
    weft_server_free(s->e.srv);
    return 0;
}

START_TEST(emfile_pauses_accepting)
{
    /* Check runs each test in its own process: the lowered limit stays here. */
    starve s = {0};
    weft_event_init(&s.e.handler_started);
    WT_OK(weft_run(emfile_main, &s, NULL));
}
END_TEST

/* --------------------------------------------- one loop per thread */

typedef struct shard {
    int port;
    weft_server *srv;
    weft_event ready, stop;
    size_t accepted;
} shard;

static int count_handler(weft_stream *st, void *arg)
{
    shard *sh = arg;
    sh->accepted++;
    char c;
    size_t n;
    int rc = weft_stream_read(st, &c, 1, &n, 10);
    if (!rc && n)
        rc = weft_stream_write(st, &c, 1);
    return rc;
}

static int shard_main(void *arg, void **result)
{
    shard *sh = arg;
    weft_server_start_opts o = {.listen = {.reuse_port = true, .family = AF_INET}};
    int rc = weft_server_start(&sh->srv, count_handler, sh, "127.0.0.1", sh->port, &o);
    weft_event_set(&sh->ready);
    if (rc)
        return rc;
    rc = weft_event_wait(&sh->stop, 30);
    weft_server_free(sh->srv);
    return rc;
}

static void *shard_thread(void *arg)
{
    return (void *)(intptr_t)weft_run(shard_main, arg, NULL);
}

START_TEST(reuse_port_two_loops)
{
    /* Find a free port, then let both loops bind it with SO_REUSEPORT. */
    weft_socket *probe;
    weft_sockaddr addr;
    WT_OK(weft_create_server(&probe, "127.0.0.1", 0, NULL));
    WT_OK(weft_socket_getsockname(probe, &addr));
    int port = weft_sockaddr_port(&addr);
    WT_OK(weft_socket_close(probe));
    weft_socket_free(probe);
    shard sh[2] = {{.port = port}, {.port = port}};
    weft_thread *t[2];
    for (int i = 0; i < 2; i++) {
        weft_event_init(&sh[i].ready);
        weft_event_init(&sh[i].stop);
        WT_OK(weft_thread_new(&t[i], shard_thread, &sh[i], NULL));
        WT_OK(weft_thread_start(t[i]));
        WT_OK(weft_event_wait(&sh[i].ready, 10));
    }
    for (int i = 0; i < 64; i++) {
        weft_socket *c;
        WT_OK(weft_create_connection(&c, "127.0.0.1", port, 5));
        char x = 'x';
        size_t n;
        WT_OK(weft_socket_sendall(c, &x, 1, NULL, 5));
        WT_OK(weft_socket_recv(c, &x, 1, &n, 5));
        ck_assert_uint_eq(n, 1);
        WT_OK(weft_socket_close(c));
        weft_socket_free(c);
    }
    for (int i = 0; i < 2; i++) {
        WT_OK(weft_event_set(&sh[i].stop));
        WT_OK(weft_thread_join(t[i], WEFT_FOREVER));
        void *res;
        WT_OK(weft_thread_result(t[i], &res));
        WT_OK((int)(intptr_t)res);
        weft_thread_unref(t[i]);
    }
    ck_assert_uint_eq(sh[0].accepted + sh[1].accepted, 64);
    ck_assert_uint_gt(sh[0].accepted, 0);
    ck_assert_uint_gt(sh[1].accepted, 0);
}
END_TEST

/* A server on two listening sockets at once: IPv4 and IPv6. */
static int two_listeners(void *arg, void **result)
{
    echo_srv *e = arg;
    weft_socket *ls[2];
    WT_OK(weft_create_server(&ls[0], "127.0.0.1", 0, NULL));
    WT_OK(weft_create_server(&ls[1], "::1", 0, NULL));
    WT_OK(weft_server_start_sockets(&e->srv, echo_handler, e, ls, 2, NULL));
    weft_socket *got[2];
    size_t n;
    WT_OK(weft_server_sockets(e->srv, got, 2, &n));
    ck_assert_uint_eq(n, 2);
    const char *hosts[] = {"127.0.0.1", "::1"};
    for (int i = 0; i < 2; i++) {
        weft_sockaddr a;
        WT_OK(weft_socket_getsockname(got[i], &a));
        weft_stream *st;
        WT_OK(weft_open_connection(&st, hosts[i], weft_sockaddr_port(&a), NULL, 10));
        char buf[3];
        size_t k;
        WT_OK(weft_stream_write(st, "abc", 3));
        WT_OK(weft_stream_readexactly(st, buf, 3, &k, 10));
        ck_assert_int_eq(memcmp(buf, "abc", 3), 0);
        WT_OK(weft_stream_close(st, 5));
        weft_stream_free(st);
    }
    WT_OK(weft_server_close(e->srv));
    WT_OK(weft_server_sockets(e->srv, got, 2, &n));
    ck_assert_uint_eq(n, 0);
    WT_OK(weft_server_wait_closed(e->srv, 10));
    weft_server_free(e->srv);
    return 0;
}

START_TEST(server_on_two_sockets)
{
    echo_srv e = {0};
    weft_event_init(&e.handler_started);
    WT_OK(weft_run(two_listeners, &e, NULL));
}
END_TEST

/* ------------------------------------------------------ bad input */

static int bad_server_input(void *arg, void **result)
{
    weft_server *srv = NULL;
    WT_ERR(weft_server_start(&srv, NULL, NULL, "127.0.0.1", 0, NULL), WEFT_EINVAL);
    WT_ERR(weft_server_start(NULL, echo_handler, NULL, "127.0.0.1", 0, NULL), WEFT_EINVAL);
    WT_ERR(weft_server_start(&srv, echo_handler, NULL, "127.0.0.1", 70000, NULL), WEFT_EINVAL);
    WT_ERR(weft_server_start_sockets(&srv, echo_handler, NULL, NULL, 0, NULL), WEFT_EINVAL);
    WT_ERR(weft_server_close(NULL), WEFT_EINVAL);
    WT_ERR(weft_server_serve_forever(NULL), WEFT_EINVAL);
    weft_server_free(NULL);
    return 0;
}

START_TEST(bad_input)
{
    weft_stream *st = NULL;
    WT_ERR(weft_stream_new(&st, NULL, NULL), WEFT_EINVAL);
    WT_ERR(weft_open_connection(&st, NULL, 80, NULL, 1), WEFT_EINVAL);
    WT_ERR(weft_open_connection(NULL, "127.0.0.1", 80, NULL, 1), WEFT_EINVAL);
    WT_ERR(weft_open_unix_connection(&st, NULL, NULL, 1), WEFT_EINVAL);
    WT_ERR(weft_open_unix_connection(&st, "/nonexistent/sock", NULL, 1), -ENOENT);
    ck_assert_ptr_null(st);
    weft_socket *s;
    WT_OK(weft_socket_new(&s, AF_INET, SOCK_STREAM));
    WT_ERR(weft_stream_new(&st, s, &(weft_stream_opts){.high_water = 10, .low_water = 20}),
           WEFT_EINVAL); /* and s is closed */
    int p[2];
    ck_assert_int_eq(pipe(p), 0);
    weft_socket *r;
    WT_OK(weft_socket_from_fd(&r, p[0]));
    WT_OK(weft_stream_new(&st, r, NULL));
    char buf[8];
    size_t n;
    WT_ERR(weft_stream_read(st, NULL, 8, &n, 1), WEFT_EINVAL);
    WT_ERR(weft_stream_read(st, buf, 0, NULL, 1), WEFT_EINVAL);
    WT_ERR(weft_stream_read(st, buf, 0, &n, -5), WEFT_EINVAL);
    WT_ERR(weft_stream_read(st, buf, 8, &n, 0.0 / 0.0), WEFT_EINVAL);
    WT_ERR(weft_stream_readuntil(st, "", 0, buf, 8, &n, 1), WEFT_EINVAL);
    WT_ERR(weft_stream_readuntil(st, "\n", 1, buf, 0, &n, 1), WEFT_EINVAL);
    WT_ERR(weft_stream_readexactly(st, buf, 8, NULL, 1), WEFT_EINVAL);
    WT_ERR(weft_stream_write(NULL, "x", 1), WEFT_EINVAL);
    WT_ERR(weft_stream_write(st, NULL, 1), WEFT_EINVAL);
    WT_ERR(weft_stream_drain(st, -5), WEFT_EINVAL);
    ck_assert(!weft_stream_can_write_eof(st));
    WT_ERR(weft_stream_write_eof(st), WEFT_ENOTSUP);
    /* A pipe's read end: the writer's data, then its end. */
    ck_assert_int_eq(write(p[1], "pipe", 4), 4);
    close(p[1]);
    WT_OK(weft_stream_readexactly(st, buf, 4, &n, 5));
    WT_OK(weft_stream_read(st, buf, 4, &n, 5));
    ck_assert_uint_eq(n, 0);
    ck_assert(weft_stream_at_eof(st));
    WT_OK(weft_stream_close(st, 1));
    weft_stream_free(st);
    WT_ERR(weft_stream_close(NULL, 1), WEFT_EINVAL);
    weft_stream_free(NULL);
    WT_ERR(weft_server_start(&(weft_server *){NULL}, echo_handler, NULL, NULL, 0, NULL),
           WEFT_ESTATE); /* no loop */
    WT_OK(weft_run(bad_server_input, NULL, NULL));
}
END_TEST


/* asyncio's read(0) returns b'' at once, with or without bytes buffered
 * and without waiting for any; it consumes nothing. */
static int read_zero(void *arg, void **result)
{
    weft_stream *a, *b;
    stream_pair("127.0.0.1", &a, &b);
    char buf[8];
    size_t n = 99;
    WT_OK(weft_stream_read(b, buf, 0, &n, WEFT_FOREVER)); /* nothing there: no wait */
    ck_assert_uint_eq(n, 0);
    WT_OK(weft_stream_read(b, NULL, 0, &n, 0));
    ck_assert_uint_eq(n, 0);
    WT_OK(weft_stream_write(a, "abc", 3));
    WT_OK(weft_stream_readexactly(b, buf, 1, &n, 5));
    n = 99;
    WT_OK(weft_stream_read(b, buf, 0, &n, WEFT_FOREVER)); /* "bc" buffered */
    ck_assert_uint_eq(n, 0);
    WT_OK(weft_stream_readexactly(b, NULL, 0, &n, 0));
    ck_assert_uint_eq(n, 0);
    WT_OK(weft_stream_read(b, buf, sizeof buf, &n, 5));
    ck_assert_uint_eq(n, 2);
    ck_assert_int_eq(memcmp(buf, "bc", 2), 0);
    ck_assert(!weft_stream_at_eof(b));
    WT_OK(weft_stream_close(a, 5));
    weft_stream_free(a);
    WT_OK(weft_stream_read(b, buf, sizeof buf, &n, 5));
    ck_assert_uint_eq(n, 0);
    WT_OK(weft_stream_read(b, buf, 0, &n, 5)); /* at the end: still b'' */
    ck_assert_uint_eq(n, 0);
    WT_OK(weft_stream_close(b, 5));
    weft_stream_free(b);
    return 0;
}

START_TEST(read_zero_bytes)
{
    WT_OK(weft_run(read_zero, NULL, NULL));
}
END_TEST

/* asyncio's StreamReader allows one waiting reader: a second read that
 * would wait while the first waits is refused (RuntimeError there,
 * WEFT_ESTATE here); one that finds bytes buffered is served. The first
 * reader is not disturbed. */
struct first_reader {
    weft_stream *st;
    char line[16];
    size_t len;
    int rc;
    bool waiting;
};

static int first_reader_task(void *arg, void **result)
{
    struct first_reader *r = arg;
    r->waiting = true;
    r->rc = weft_stream_readline(r->st, r->line, sizeof r->line, &r->len, 5);
    return 0;
}

static int two_readers(void *arg, void **result)
{
    weft_stream *a, *b;
    stream_pair("127.0.0.1", &a, &b);
    struct first_reader r = {.st = b, .rc = 1};
    weft_future *t;
    WT_OK(weft_create_task(NULL, first_reader_task, &r, NULL, &t));
    while (!r.waiting)
        weft_sleep(0);
    char buf[8];
    size_t n = 99;
    WT_ERR(weft_stream_read(b, buf, sizeof buf, &n, 0), WEFT_ESTATE);
    WT_ERR(weft_stream_readexactly(b, buf, 2, &n, 1), WEFT_ESTATE);
    WT_ERR(weft_stream_readuntil(b, ";", 1, buf, sizeof buf, &n, 1), WEFT_ESTATE);
    void *all = NULL;
    WT_ERR(weft_stream_read_all(b, &all, &n, 100, 1), WEFT_ESTATE);
    WT_OK(weft_stream_read(b, buf, 0, &n, 0)); /* read(0) never waits */
    WT_OK(weft_stream_write(a, "line\n", 5));
    WT_OK(weft_await(t, NULL, WEFT_FOREVER));
    weft_future_unref(t);
    WT_OK(r.rc);
    ck_assert_uint_eq(r.len, 5);
    ck_assert_int_eq(memcmp(r.line, "line\n", 5), 0);
    /* With nobody waiting, reads work again. */
    WT_OK(weft_stream_write(a, "xy", 2));
    WT_OK(weft_stream_readexactly(b, buf, 2, &n, 5));
    ck_assert_int_eq(memcmp(buf, "xy", 2), 0);
    WT_OK(weft_stream_close(a, 5));
    weft_stream_free(a);
    WT_OK(weft_stream_close(b, 5));
    weft_stream_free(b);
    return 0;
}

START_TEST(one_waiting_reader)
{
    WT_OK(weft_run(two_readers, NULL, NULL));
}
END_TEST

/* Several coroutines in drain at once (allowed since Python 3.10): all of
 * them return once the reader catches up. */
struct drainer {
    weft_stream *st;
    int rc;
    bool entered;
};

static int drain_task(void *arg, void **result)
{
    struct drainer *d = arg;
    d->entered = true;
    d->rc = weft_stream_drain(d->st, 10);
    return d->rc;
}

static int many_drains(void *arg, void **result)
{
    weft_stream *a, *b;
    stream_pair("127.0.0.1", &a, &b);
    int sz = 16384;
    setsockopt(weft_socket_fd(weft_stream_socket(a)), SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz);
    static char data[1 << 20];
    memset(data, 'd', sizeof data);
    WT_OK(weft_stream_write(a, data, sizeof data));
    WT_ERR(weft_stream_drain(a, 0), WEFT_ETIMEDOUT); /* over high water */
    struct drainer d[3];
    weft_future *t[3];
    for (int i = 0; i < 3; i++) {
        d[i] = (struct drainer){.st = a, .rc = 1};
        WT_OK(weft_create_task(NULL, drain_task, &d[i], NULL, &t[i]));
    }
    while (!d[0].entered || !d[1].entered || !d[2].entered)
        weft_sleep(0);
    /* Read it all; the drainers wake as the queue falls under low water. */
    static char buf[65536]; /* bigger than a coroutine stack */
    size_t n, got = 0;
    while (got < sizeof data) {
        WT_OK(weft_stream_read(b, buf, sizeof buf, &n, 10));
        ck_assert_uint_gt(n, 0);
        got += n;
    }
    for (int i = 0; i < 3; i++) {
        WT_OK(weft_await(t[i], NULL, WEFT_FOREVER));
        WT_OK(d[i].rc);
        weft_future_unref(t[i]);
    }
    WT_OK(weft_stream_close(a, 5));
    weft_stream_free(a);
    WT_OK(weft_stream_close(b, 5));
    weft_stream_free(b);
    return 0;
}

START_TEST(concurrent_drains)
{
    WT_OK(weft_run(many_drains, NULL, NULL));
}
END_TEST

WT_MAIN("stream", 30, reading_v4_v6, separator_after_timeout, readline_after_scope_timeout,
        separator_at_eof_and_limit, eof_before_any_buffer, readexactly_impossible_size,
        reader_matches_model, read_all_over_max, drain_with_slow_reader, thread_stream,
        cancel_pending_read, peer_reset, server_many_clients, serve_forever_and_close,
        server_closed_before_it_ran,
        free_with_connections, emfile_pauses_accepting, reuse_port_two_loops,
        server_on_two_sockets, bad_input, read_zero_bytes, one_waiting_reader,
        concurrent_drains)
