/* weft_pipe: messages both ways between processes, one-way pipes, size
 * limits, poll, EOF when the other end is closed everywhere, EPIPE without
 * SIGPIPE, multi-MiB messages, a send cut by its timeout, bad input, and
 * coroutines that wait on a pipe while their loop runs other tasks.
 *
 * Children report through their exit status (0: every check passed, else
 * the number of the failed step) and through the pipes themselves; their
 * arguments live in handle memory so they reach children under every start
 * method. Nothing here waits by sleeping. */
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>

#include "internal/share.h"
#include "wt.h"
#include "wt_process.h"

struct ends {
    weft_conn *a, *b, *c, *d;
    size_t n;
};

static struct ends *ends_new(void)
{
    struct ends *e = weft__handle_alloc(sizeof *e);
    ck_assert_ptr_nonnull(e);
    return e;
}

static void send_str(weft_conn *c, const char *s)
{
    WT_OK(weft_conn_send_bytes(c, s, strlen(s), WEFT_FOREVER));
}

static void recv_str(weft_conn *c, const char *want)
{
    char buf[128];
    size_t len = 0;
    WT_OK(weft_conn_recv_bytes(c, buf, sizeof buf, &len, WEFT_FOREVER));
    ck_assert_uint_eq(len, strlen(want));
    ck_assert(memcmp(buf, want, len) == 0);
}

/* Child: answers each message m on e->b with "echo:" m until "stop". */
static int echo_child(void *arg)
{
    struct ends *e = arg;
    weft_conn_close(e->a); /* only the parent keeps its end */
    for (int i = 0;; i++) {
        char buf[128], out[160];
        size_t len;
        if (weft_conn_recv_bytes(e->b, buf, sizeof buf, &len, WEFT_FOREVER) != 0)
            return 1;
        if (len == 4 && memcmp(buf, "stop", 4) == 0)
            return i == 100 ? 0 : 2;
        memcpy(out, "echo:", 5);
        memcpy(out + 5, buf, len);
        if (weft_conn_send_bytes(e->b, out, len + 5, WEFT_FOREVER) != 0)
            return 3;
    }
}

static void pipe_roundtrip(void)
{
    struct ends *e = ends_new();
    WT_OK(weft_pipe(&e->a, &e->b, true));
    weft_process *p = spawn(echo_child, e);
    WT_OK(weft_conn_close(e->b));
    for (int i = 0; i < 100; i++) {
        char msg[32], want[64];
        snprintf(msg, sizeof msg, "message %d", i);
        snprintf(want, sizeof want, "echo:message %d", i);
        send_str(e->a, msg);
        recv_str(e->a, want);
    }
    send_str(e->a, "stop");
    ck_assert_int_eq(reap(p), 0);
    /* The child exited: its copy of b is closed, and ours too. */
    size_t len;
    WT_ERR(weft_conn_recv_bytes(e->a, NULL, 0, &len, WEFT_FOREVER), WEFT_EEOF);
    weft_conn_free(e->a);
    weft_conn_free(e->b);
    weft__handle_free(e);
}
BOTH(pipe_roundtrip)

/* Child: sends on the send-only end b, checks it cannot receive there. */
static int oneway_child(void *arg)
{
    struct ends *e = arg;
    weft_conn_close(e->a);
    char buf[8];
    size_t len;
    if (weft_conn_recv_bytes(e->b, buf, sizeof buf, &len, 0) != WEFT_EINVAL)
        return 1;
    if (weft_conn_poll(e->b, 0) != WEFT_EINVAL)
        return 2;
    if (weft_conn_send_bytes(e->b, "from child", 10, WEFT_FOREVER) != 0)
        return 3;
    return 0;
}

static void pipe_oneway(void)
{
    struct ends *e = ends_new();
    WT_OK(weft_pipe(&e->a, &e->b, false));
    /* a receives only, b sends only, as Python's Pipe(duplex=False). */
    WT_ERR(weft_conn_send_bytes(e->a, "x", 1, 0), WEFT_EINVAL);
    size_t len;
    void *buf = NULL;
    WT_ERR(weft_conn_recv_bytes_alloc(e->b, &buf, &len, 100, 0), WEFT_EINVAL);
    weft_process *p = spawn(oneway_child, e);
    WT_OK(weft_conn_close(e->b));
    recv_str(e->a, "from child");
    ck_assert_int_eq(reap(p), 0);
    WT_ERR(weft_conn_recv_bytes(e->a, NULL, 0, &len, WEFT_FOREVER), WEFT_EEOF);
    weft_conn_free(e->a);
    weft_conn_free(e->b);
    weft__handle_free(e);
}
BOTH(pipe_oneway)

START_TEST(pipe_msgsize)
{
    weft_conn *a, *b;
    WT_OK(weft_pipe(&a, &b, true));
    char msg[100], buf[100];
    for (int i = 0; i < 100; i++)
        msg[i] = (char)i;
    WT_OK(weft_conn_send_bytes(a, msg, 100, 0));
    WT_OK(weft_conn_send_bytes(a, NULL, 0, 0)); /* an empty message */
    WT_OK(weft_conn_send_bytes(a, "tail", 4, 0));
    size_t len = 0;
    /* Too small a buffer: the size is told and the message stays first. */
    WT_ERR(weft_conn_recv_bytes(b, buf, 10, &len, 0), WEFT_EMSGSIZE);
    ck_assert_uint_eq(len, 100);
    WT_ERR(weft_conn_recv_bytes(b, NULL, 0, &len, WEFT_FOREVER), WEFT_EMSGSIZE);
    WT_OK(weft_conn_poll(b, 0));
    void *p = NULL;
    len = 0;
    WT_ERR(weft_conn_recv_bytes_alloc(b, &p, &len, 99, 0), WEFT_EMSGSIZE);
    ck_assert_uint_eq(len, 100);
    ck_assert_ptr_null(p);
    WT_OK(weft_conn_recv_bytes_alloc(b, &p, &len, 100, 0));
    ck_assert_uint_eq(len, 100);
    ck_assert(memcmp(p, msg, 100) == 0);
    free(p);
    /* The empty message, into no buffer at all, then an allocated one. */
    len = 7;
    WT_OK(weft_conn_recv_bytes(b, NULL, 0, &len, 0));
    ck_assert_uint_eq(len, 0);
    WT_ERR(weft_conn_recv_bytes_alloc(b, &p, &len, 3, 0), WEFT_EMSGSIZE);
    ck_assert_uint_eq(len, 4);
    WT_OK(weft_conn_recv_bytes(b, buf, sizeof buf, &len, 0));
    ck_assert_uint_eq(len, 4);
    ck_assert(memcmp(buf, "tail", 4) == 0);
    WT_OK(weft_conn_send_bytes(b, NULL, 0, 0));
    p = NULL;
    WT_OK(weft_conn_recv_bytes_alloc(a, &p, &len, 0, 0));
    ck_assert_uint_eq(len, 0);
    ck_assert_ptr_nonnull(p);
    free(p);
    weft_conn_free(a);
    weft_conn_free(b);
}
END_TEST

START_TEST(pipe_poll_timeout)
{
    weft_conn *a, *b;
    WT_OK(weft_pipe(&a, &b, true));
    WT_ERR(weft_conn_poll(a, 0), WEFT_ETIMEDOUT);
    double t0 = weft_monotonic();
    WT_ERR(weft_conn_poll(a, 0.02), WEFT_ETIMEDOUT);
    ck_assert(weft_monotonic() - t0 >= 0.019);
    size_t len;
    char buf[8];
    WT_ERR(weft_conn_recv_bytes(a, buf, sizeof buf, &len, 0), WEFT_ETIMEDOUT);
    t0 = weft_monotonic();
    WT_ERR(weft_conn_recv_bytes(a, buf, sizeof buf, &len, 0.02), WEFT_ETIMEDOUT);
    ck_assert(weft_monotonic() - t0 >= 0.019);
    void *p = NULL;
    WT_ERR(weft_conn_recv_bytes_alloc(a, &p, &len, 8, 0.001), WEFT_ETIMEDOUT);
    ck_assert_ptr_null(p);
    WT_OK(weft_conn_send_bytes(b, "x", 1, 0));
    WT_OK(weft_conn_poll(a, WEFT_FOREVER));
    WT_OK(weft_conn_poll(a, 0));
    WT_OK(weft_conn_recv_bytes(a, buf, sizeof buf, &len, 0));
    WT_ERR(weft_conn_poll(a, 0), WEFT_ETIMEDOUT);
    /* EOF counts as ready. */
    WT_OK(weft_conn_close(b));
    WT_OK(weft_conn_poll(a, WEFT_FOREVER));
    WT_ERR(weft_conn_recv_bytes(a, buf, sizeof buf, &len, 0), WEFT_EEOF);
    WT_ERR(weft_conn_recv_bytes(a, buf, sizeof buf, &len, 0), WEFT_EEOF);
    weft_conn_free(a);
    weft_conn_free(b);
}
END_TEST

/* Child: closes its copy of e->b (the parent's pipe), tells the parent so
 * on e->d, and waits on e->d for leave to exit. */
static int close_then_wait_child(void *arg)
{
    struct ends *e = arg;
    weft_conn_close(e->a);
    weft_conn_close(e->c);
    if (weft_conn_send_bytes(e->b, "last", 4, WEFT_FOREVER) != 0)
        return 1;
    if (weft_conn_close(e->b) != 0)
        return 2;
    if (weft_conn_send_bytes(e->d, "closed", 6, WEFT_FOREVER) != 0)
        return 3;
    char buf[8];
    size_t len;
    if (weft_conn_recv_bytes(e->d, buf, sizeof buf, &len, WEFT_FOREVER) != 0)
        return 4;
    return 0;
}

static void pipe_eof_when_closed_everywhere(void)
{
    struct ends *e = ends_new();
    WT_OK(weft_pipe(&e->a, &e->b, true));
    WT_OK(weft_pipe(&e->c, &e->d, true));
    weft_process *p = spawn(close_then_wait_child, e);
    recv_str(e->c, "closed"); /* the child has closed its b, ours is open */
    recv_str(e->a, "last");
    WT_ERR(weft_conn_recv_bytes(e->a, NULL, 0, &(size_t){0}, 0), WEFT_ETIMEDOUT);
    /* Closing our copy, the last one, is EOF while the child still runs. */
    WT_OK(weft_conn_close(e->b));
    WT_ERR(weft_conn_recv_bytes(e->a, NULL, 0, &(size_t){0}, WEFT_FOREVER), WEFT_EEOF);
    ck_assert(weft_process_is_alive(p));
    send_str(e->c, "go");
    ck_assert_int_eq(reap(p), 0);
    weft_conn_free(e->a);
    weft_conn_free(e->b);
    weft_conn_free(e->c);
    weft_conn_free(e->d);
    weft__handle_free(e);
}
BOTH(pipe_eof_when_closed_everywhere)

/* Child: closes its copy of the receiving end a and exits. */
static int close_a_child(void *arg)
{
    struct ends *e = arg;
    return weft_conn_close(e->a) == 0 ? 0 : 1;
}

static void pipe_epipe(void)
{
    /* SIGPIPE would kill this test if weft let it through. */
    signal(SIGPIPE, SIG_DFL);
    weft_conn *a, *b;
    WT_OK(weft_pipe(&a, &b, true));
    WT_OK(weft_conn_close(a));
    WT_ERR(weft_conn_send_bytes(b, "x", 1, WEFT_FOREVER), WEFT_EPIPE);
    WT_ERR(weft_conn_send_bytes(b, "x", 1, 0), WEFT_EPIPE);
    weft_conn_free(a);
    weft_conn_free(b);

    /* The receiving end in a child only: gone when the child exits. */
    struct ends *e = ends_new();
    WT_OK(weft_pipe(&e->a, &e->b, false));
    weft_process *p = spawn(close_a_child, e);
    WT_OK(weft_conn_close(e->a));
    ck_assert_int_eq(reap(p), 0);
    WT_ERR(weft_conn_send_bytes(e->b, "late", 4, WEFT_FOREVER), WEFT_EPIPE);
    weft_conn_free(e->a);
    weft_conn_free(e->b);
    weft__handle_free(e);
}
BOTH(pipe_epipe)

#define BIG ((size_t)6 << 20)

static unsigned char pattern(size_t i, unsigned seed)
{
    return (unsigned char)((i * 2654435761u) >> 13 ^ seed);
}

static bool check_big(const unsigned char *p, size_t len, unsigned seed)
{
    if (len != BIG)
        return false;
    for (size_t i = 0; i < len; i++)
        if (p[i] != pattern(i, seed))
            return false;
    return true;
}

/* Child: receives a big message on b, sends a different big one back. */
static int big_child(void *arg)
{
    struct ends *e = arg;
    weft_conn_close(e->a);
    void *p = NULL;
    size_t len;
    if (weft_conn_recv_bytes_alloc(e->b, &p, &len, BIG, WEFT_FOREVER) != 0)
        return 1;
    if (!check_big(p, len, 1))
        return 2;
    unsigned char *q = p;
    for (size_t i = 0; i < BIG; i++)
        q[i] = pattern(i, 2);
    int rc = weft_conn_send_bytes(e->b, q, BIG, WEFT_FOREVER);
    free(p);
    return rc == 0 ? 0 : 3;
}

static void pipe_large_messages(void)
{
    struct ends *e = ends_new();
    WT_OK(weft_pipe(&e->a, &e->b, true));
    weft_process *p = spawn(big_child, e);
    WT_OK(weft_conn_close(e->b));
    unsigned char *buf = malloc(BIG);
    ck_assert_ptr_nonnull(buf);
    for (size_t i = 0; i < BIG; i++)
        buf[i] = pattern(i, 1);
    WT_OK(weft_conn_send_bytes(e->a, buf, BIG, WEFT_FOREVER));
    memset(buf, 0, BIG);
    size_t len = 0;
    WT_OK(weft_conn_recv_bytes(e->a, buf, BIG, &len, WEFT_FOREVER));
    ck_assert(check_big(buf, len, 2));
    ck_assert_int_eq(reap(p), 0);
    free(buf);
    weft_conn_free(e->a);
    weft_conn_free(e->b);
    weft__handle_free(e);
}
BOTH(pipe_large_messages)

START_TEST(pipe_send_timeout)
{
    weft_conn *a, *b;
    WT_OK(weft_pipe(&a, &b, true));
    /* Fill the socket with empty messages until one does not fit at all:
     * ETIMEDOUT, nothing of it sent, the connection intact. */
    size_t sent = 0;
    int rc;
    while ((rc = weft_conn_send_bytes(a, NULL, 0, 0)) == 0)
        sent++;
    WT_ERR(rc, WEFT_ETIMEDOUT);
    WT_ERR(weft_conn_send_bytes(a, "x", 1, 0.01), WEFT_ETIMEDOUT);
    size_t len;
    for (size_t i = 0; i < sent; i++) {
        WT_OK(weft_conn_recv_bytes(b, NULL, 0, &len, 0));
        ck_assert_uint_eq(len, 0);
    }
    WT_ERR(weft_conn_recv_bytes(b, NULL, 0, &len, 0), WEFT_ETIMEDOUT);
    WT_OK(weft_conn_send_bytes(a, "whole", 5, 0));

    /* A message far larger than the socket can hold, with nobody reading:
     * the timeout cuts it half-way, and the connection breaks rather than
     * let the receiver misread it. */
    char *big = calloc(1, BIG);
    ck_assert_ptr_nonnull(big);
    WT_ERR(weft_conn_send_bytes(a, big, BIG, 0.02), WEFT_EBROKEN);
    WT_ERR(weft_conn_send_bytes(a, "x", 1, 0), WEFT_EBROKEN);
    char buf[8];
    WT_OK(weft_conn_recv_bytes(b, buf, sizeof buf, &len, 0));
    ck_assert_uint_eq(len, 5);
    ck_assert(memcmp(buf, "whole", 5) == 0);
    WT_ERR(weft_conn_recv_bytes(b, big, BIG, &len, WEFT_FOREVER), WEFT_EBROKEN);
    WT_ERR(weft_conn_recv_bytes(b, big, BIG, &len, WEFT_FOREVER), WEFT_EBROKEN);
    WT_OK(weft_conn_poll(b, 0));
    /* The other direction is unharmed. */
    WT_OK(weft_conn_send_bytes(b, "back", 4, 0));
    WT_OK(weft_conn_recv_bytes(a, buf, sizeof buf, &len, 0));
    ck_assert_uint_eq(len, 4);
    free(big);
    weft_conn_free(a);
    weft_conn_free(b);
}
END_TEST

/* Python's fileno(): an fd to poll beside others (multiprocessing's
 * connection.wait), readable once a message is there; -1 once closed. */
START_TEST(pipe_fileno)
{
    weft_conn *a, *b;
    WT_OK(weft_pipe(&a, &b, false));
    int fd = weft_conn_fileno(a);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_ne(fd, weft_conn_fileno(b));
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    ck_assert_int_eq(poll(&pfd, 1, 0), 0);
    WT_OK(weft_conn_send_bytes(b, "m", 1, 0));
    ck_assert_int_eq(poll(&pfd, 1, -1), 1);
    char buf[4];
    size_t len;
    WT_OK(weft_conn_recv_bytes(a, buf, sizeof buf, &len, 0));
    ck_assert_int_eq(poll(&pfd, 1, 0), 0);
    WT_OK(weft_conn_close(a));
    ck_assert_int_eq(weft_conn_fileno(a), -1);
    ck_assert_int_eq(weft_conn_fileno(NULL), -1);
    weft_conn_free(a);
    weft_conn_free(b);
}
END_TEST

START_TEST(pipe_bad_input)
{
    weft_conn *a, *b;
    WT_ERR(weft_pipe(NULL, &b, true), WEFT_EINVAL);
    WT_ERR(weft_pipe(&a, NULL, true), WEFT_EINVAL);
    WT_OK(weft_pipe(&a, &b, true));
    char buf[4];
    size_t len;
    void *p = NULL;
    WT_ERR(weft_conn_send_bytes(NULL, "x", 1, 0), WEFT_EINVAL);
    WT_ERR(weft_conn_send_bytes(a, NULL, 1, 0), WEFT_EINVAL);
    WT_ERR(weft_conn_send_bytes(a, "x", 1, -2), WEFT_EINVAL);
    WT_ERR(weft_conn_send_bytes(a, "x", 1, NAN), WEFT_EINVAL);
    WT_ERR(weft_conn_send_bytes(a, "x", SIZE_MAX, 0), WEFT_EMSGSIZE);
    WT_ERR(weft_conn_recv_bytes(NULL, buf, 4, &len, 0), WEFT_EINVAL);
    WT_ERR(weft_conn_recv_bytes(b, NULL, 4, &len, 0), WEFT_EINVAL);
    WT_ERR(weft_conn_recv_bytes(b, buf, 4, NULL, 0), WEFT_EINVAL);
    WT_ERR(weft_conn_recv_bytes(b, buf, 4, &len, -0.5), WEFT_EINVAL);
    WT_ERR(weft_conn_recv_bytes(b, buf, 4, &len, NAN), WEFT_EINVAL);
    WT_ERR(weft_conn_recv_bytes_alloc(NULL, &p, &len, 4, 0), WEFT_EINVAL);
    WT_ERR(weft_conn_recv_bytes_alloc(b, NULL, &len, 4, 0), WEFT_EINVAL);
    WT_ERR(weft_conn_recv_bytes_alloc(b, &p, NULL, 4, 0), WEFT_EINVAL);
    WT_ERR(weft_conn_recv_bytes_alloc(b, &p, &len, 4, NAN), WEFT_EINVAL);
    WT_ERR(weft_conn_poll(NULL, 0), WEFT_EINVAL);
    WT_ERR(weft_conn_poll(b, -3), WEFT_EINVAL);
    WT_ERR(weft_conn_poll(b, NAN), WEFT_EINVAL);
    WT_ERR(weft_conn_close(NULL), WEFT_EINVAL);
    /* A closed end refuses everything. */
    WT_OK(weft_conn_close(a));
    WT_OK(weft_conn_close(a)); /* twice: harmless */
    WT_ERR(weft_conn_send_bytes(a, "x", 1, 0), WEFT_ESTATE);
    WT_ERR(weft_conn_recv_bytes(a, buf, 4, &len, 0), WEFT_ESTATE);
    WT_ERR(weft_conn_recv_bytes_alloc(a, &p, &len, 4, 0), WEFT_ESTATE);
    WT_ERR(weft_conn_poll(a, 0), WEFT_ESTATE);
    ck_assert_ptr_null(p);
    weft_conn_free(a);
    weft_conn_free(b);
    weft_conn_free(NULL);
}
END_TEST

/* ---------------------------------------------------------- coroutines */

/* A coroutine that waits on a pipe suspends itself, not its loop: another
 * task of the same loop runs meanwhile. Had a wait blocked the thread, the
 * task that would end it could never run and the test would time out. */
struct co_pipe {
    weft_conn *a, *b;
    bool entered;
    char got[32];
    size_t len;
    unsigned char *big_in, *big_out;
    size_t big;
};

static int co_recv(void *arg, void **result)
{
    struct co_pipe *cp = arg;
    /* Flag and wait in the same step: once the main task sees the flag
     * after a yield, this task is suspended in the receive. */
    __atomic_store_n(&cp->entered, true, __ATOMIC_RELEASE);
    return weft_conn_recv_bytes(cp->a, cp->got, sizeof cp->got, &cp->len, WEFT_FOREVER);
}

static int co_poll(void *arg, void **result)
{
    struct co_pipe *cp = arg;
    __atomic_store_n(&cp->entered, true, __ATOMIC_RELEASE);
    return weft_conn_poll(cp->a, WEFT_FOREVER);
}

/* Start fn as a task of this loop and yield until it waits. */
static weft_future *start_waiting(weft_task_fn fn, struct co_pipe *cp)
{
    weft_future *t;
    cp->entered = false;
    WT_OK(weft_create_task(NULL, fn, cp, NULL, &t));
    while (!__atomic_load_n(&cp->entered, __ATOMIC_ACQUIRE))
        weft_sleep(0);
    return t;
}

static int co_main(void *arg, void **result)
{
    struct co_pipe *cp = arg;
    /* A receive waits while this task runs and sends. */
    weft_future *t = start_waiting(co_recv, cp);
    ck_assert(!weft_future_done(t));
    WT_OK(weft_conn_send_bytes(cp->b, "hello", 5, WEFT_FOREVER));
    WT_OK(weft_await(t, NULL, WEFT_FOREVER));
    weft_future_unref(t);
    ck_assert_uint_eq(cp->len, 5);
    ck_assert(memcmp(cp->got, "hello", 5) == 0);
    /* So does a poll. */
    t = start_waiting(co_poll, cp);
    ck_assert(!weft_future_done(t));
    WT_OK(weft_conn_send_bytes(cp->b, "again", 5, WEFT_FOREVER));
    WT_OK(weft_await(t, NULL, WEFT_FOREVER));
    weft_future_unref(t);
    char buf[8];
    size_t len;
    WT_OK(weft_conn_recv_bytes(cp->a, buf, sizeof buf, &len, 0));
    ck_assert_uint_eq(len, 5);
    /* A cancelled receive consumed nothing: the next message is whole. */
    t = start_waiting(co_recv, cp);
    ck_assert(weft_future_cancel(t));
    WT_ERR(weft_await(t, NULL, WEFT_FOREVER), WEFT_ECANCELLED);
    weft_future_unref(t);
    WT_OK(weft_conn_send_bytes(cp->b, "after", 5, WEFT_FOREVER));
    WT_OK(weft_conn_recv_bytes(cp->a, buf, sizeof buf, &len, WEFT_FOREVER));
    ck_assert_uint_eq(len, 5);
    ck_assert(memcmp(buf, "after", 5) == 0);
    /* With a timeout, a coroutine's wait ends by it and leaves the end
     * usable. */
    WT_ERR(weft_conn_recv_bytes(cp->a, buf, sizeof buf, &len, 0.02), WEFT_ETIMEDOUT);
    WT_ERR(weft_conn_poll(cp->a, 0.02), WEFT_ETIMEDOUT);
    return 0;
}

START_TEST(pipe_coroutine_wait_lets_loop_run)
{
    struct co_pipe cp = {0};
    WT_OK(weft_pipe(&cp.a, &cp.b, true));
    WT_OK(weft_run(co_main, &cp, NULL));
    weft_conn_free(cp.a);
    weft_conn_free(cp.b);
}
END_TEST

static int co_send_big(void *arg, void **result)
{
    struct co_pipe *cp = arg;
    return weft_conn_send_bytes(cp->b, cp->big_out, cp->big, WEFT_FOREVER);
}

static int co_recv_big(void *arg, void **result)
{
    struct co_pipe *cp = arg;
    size_t len;
    int rc = weft_conn_recv_bytes(cp->a, cp->big_in, cp->big, &len, WEFT_FOREVER);
    return rc ? rc : len == cp->big ? 0 : WEFT_EBROKEN;
}

/* A message many times the socket's buffers, sent and received by two
 * tasks of one loop: the sender waits for room and the receiver for the
 * rest of a begun message, each suspended while the other runs. */
static int co_big_main(void *arg, void **result)
{
    struct co_pipe *cp = arg;
    weft_future *s, *r;
    WT_OK(weft_create_task(NULL, co_send_big, cp, "sender", &s));
    WT_OK(weft_create_task(NULL, co_recv_big, cp, "receiver", &r));
    WT_OK(weft_await(s, NULL, WEFT_FOREVER));
    WT_OK(weft_await(r, NULL, WEFT_FOREVER));
    weft_future_unref(s);
    weft_future_unref(r);
    return 0;
}

START_TEST(pipe_coroutine_large_message)
{
    struct co_pipe cp = {0};
    cp.big = (size_t)8 << 20;
    cp.big_in = malloc(cp.big);
    cp.big_out = malloc(cp.big);
    ck_assert_ptr_nonnull(cp.big_in);
    ck_assert_ptr_nonnull(cp.big_out);
    for (size_t i = 0; i < cp.big; i++)
        cp.big_out[i] = (unsigned char)(i * 131 + 7);
    WT_OK(weft_pipe(&cp.a, &cp.b, true));
    WT_OK(weft_run(co_big_main, &cp, NULL));
    ck_assert(memcmp(cp.big_in, cp.big_out, cp.big) == 0);
    weft_conn_free(cp.a);
    weft_conn_free(cp.b);
    free(cp.big_in);
    free(cp.big_out);
}
END_TEST

WT_MAIN("pipe", 60, pipe_roundtrip_fork, pipe_roundtrip_forkserver, pipe_oneway_fork,
        pipe_oneway_forkserver, pipe_msgsize, pipe_poll_timeout,
        pipe_eof_when_closed_everywhere_fork, pipe_eof_when_closed_everywhere_forkserver,
        pipe_epipe_fork, pipe_epipe_forkserver, pipe_large_messages_fork,
        pipe_large_messages_forkserver, pipe_send_timeout, pipe_bad_input, pipe_fileno,
        pipe_coroutine_wait_lets_loop_run, pipe_coroutine_large_message)
