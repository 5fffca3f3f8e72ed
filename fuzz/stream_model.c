/*
 * The stream reader against a model of its bytes (fz_stream, fuzz/fuzz.h).
 *
 * The input is a program: a limit, then operations, each an opcode byte and
 * its argument bytes. A writer puts bytes into one end of a Unix stream
 * socket pair; the other end is a weft_stream, read from a coroutine with
 * time-out 0, inside a timeout scope, or from a task that is cancelled
 * while it waits. Every outcome is compared with the model's.
 *
 * The model knows where each unread byte is: in the stream's buffer, or
 * still in the kernel. That split is observable (a read returns what is
 * buffered, or else reads the kernel directly), and it is exact because the
 * whole program writes less than one fill takes: a fill moves everything
 * the kernel holds into the buffer, and an AF_UNIX stream socket has every
 * written byte readable at once. The rules below are the documented
 * behaviour of weft/stream.h, written again as plainly as possible.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fuzz.h"
#include "weft.h"

#define MAX_BYTES 4096 /* less than one fill (16 KiB) and a socket buffer */

typedef struct model {
    char data[MAX_BYTES]; /* every byte written */
    size_t sent;          /* how many */
    size_t pos;           /* the reader has consumed data[0 .. pos) */
    size_t buffered;      /* of the rest, these many are in the stream's buffer */
    size_t limit;         /* the stream's limit */
    bool shut;            /* the writer ended the stream */
    bool eof_seen;        /* the stream saw the end */
} model;

enum { WOULD_BLOCK = 1 }; /* a model call's outcome beside the weft codes */

static size_t in_kernel(const model *m)
{
    return m->sent - m->pos - m->buffered;
}

/* One fill: everything the kernel has moves to the buffer; with nothing
 * there, the end of the stream or a wait. */
static int fill(model *m)
{
    if (in_kernel(m)) {
        m->buffered += in_kernel(m);
        return 0;
    }
    if (m->shut) {
        m->eof_seen = true;
        return 0;
    }
    return WOULD_BLOCK;
}

static void consume(model *m, size_t n)
{
    m->pos += n;
    m->buffered -= n;
}

static long find(const model *m, const char *sep, size_t seplen)
{
    const char *base = m->data + m->pos;
    if (m->buffered < seplen)
        return -1;
    const char *hit = memmem(base, m->buffered, sep, seplen);
    return hit ? (long)(hit - base) : -1;
}

static int m_readuntil(model *m, const char *sep, size_t seplen, size_t cap, size_t *len)
{
    size_t limit = cap < m->limit ? cap : m->limit;
    *len = 0;
    for (;;) {
        long at = find(m, sep, seplen);
        if (at >= 0) {
            size_t n = (size_t)at + seplen;
            if (n > limit)
                return WEFT_EMSGSIZE;
            consume(m, *len = n);
            return 0;
        }
        if (m->buffered > limit)
            return WEFT_EMSGSIZE;
        if (m->eof_seen) {
            consume(m, *len = m->buffered < cap ? m->buffered : cap);
            return WEFT_EEOF;
        }
        if (fill(m))
            return WOULD_BLOCK;
    }
}

static int m_readline(model *m, size_t cap, size_t *len)
{
    int rc = m_readuntil(m, "\n", 1, cap, len);
    if (rc == WEFT_EEOF)
        return 0;
    if (rc == WEFT_EMSGSIZE) {
        long at = find(m, "\n", 1);
        consume(m, at >= 0 ? (size_t)at + 1 : m->buffered);
    }
    return rc;
}

static int m_readexactly(model *m, size_t n, size_t *len)
{
    *len = 0;
    while (m->buffered < n) {
        if (m->eof_seen) {
            consume(m, *len = m->buffered);
            return WEFT_EEOF;
        }
        if (fill(m))
            return WOULD_BLOCK;
    }
    consume(m, *len = n);
    return 0;
}

static int m_read(model *m, size_t n, size_t *len)
{
    *len = 0;
    if (m->buffered) {
        consume(m, *len = m->buffered < n ? m->buffered : n);
        return 0;
    }
    if (m->eof_seen)
        return 0;
    /* Nothing buffered: the call reads the kernel into the caller's
     * buffer, and the buffer stays empty. */
    size_t k = in_kernel(m);
    if (k) {
        *len = k < n ? k : n;
        m->pos += *len;
        return 0;
    }
    if (m->shut) {
        m->eof_seen = true;
        return 0;
    }
    return WOULD_BLOCK;
}

static int m_read_all(model *m, size_t max, size_t *len)
{
    *len = 0;
    while (!m->eof_seen) {
        if (m->buffered > max)
            return WEFT_EMSGSIZE;
        if (fill(m))
            return WOULD_BLOCK;
    }
    if (m->buffered > max)
        return WEFT_EMSGSIZE;
    consume(m, *len = m->buffered);
    return 0;
}

/* ------------------------------------------------------------ the program */

typedef struct prog {
    const uint8_t *p, *end;
} prog;

static unsigned next(prog *g)
{
    return g->p < g->end ? *g->p++ : 0;
}

static const char *const seps[] = {";", "\n", "\r\n", "\r\n\r\n", "ab", ";;", "b\n;"};
#define NSEPS (sizeof seps / sizeof *seps)
static const char alphabet[] = "ab;\n\r";

enum op { OP_WRITE, OP_READUNTIL, OP_READLINE, OP_READEXACTLY, OP_READ, OP_READ_ALL,
          OP_EOF, OP_AT_EOF, NOPS };
/* How a read call is made. */
enum how { HOW_POLL, HOW_SCOPE, HOW_CANCEL, NHOWS };

/* One read call's arguments and outcome. */
typedef struct call {
    weft_stream *st;
    enum op op;
    const char *sep;
    size_t n;          /* cap, count or max */
    double timeout;
    char buf[MAX_BYTES];
    size_t len;
    int rc;
    bool done;
} call;

static int do_call(call *c)
{
    size_t seplen = c->sep ? strlen(c->sep) : 0;
    switch (c->op) {
    case OP_READUNTIL:
        return weft_stream_readuntil(c->st, c->sep, seplen, c->buf, c->n, &c->len, c->timeout);
    case OP_READLINE:
        return weft_stream_readline(c->st, c->buf, c->n, &c->len, c->timeout);
    case OP_READEXACTLY:
        return weft_stream_readexactly(c->st, c->buf, c->n, &c->len, c->timeout);
    case OP_READ:
        return weft_stream_read(c->st, c->buf, c->n, &c->len, c->timeout);
    default: {
        void *all = NULL;
        int rc = weft_stream_read_all(c->st, &all, &c->len, c->n, c->timeout);
        if (rc == 0)
            memcpy(c->buf, all, c->len);
        free(all);
        return rc;
    }
    }
}

static int model_call(model *m, const call *c, size_t *len)
{
    switch (c->op) {
    case OP_READUNTIL:
        return m_readuntil(m, c->sep, strlen(c->sep), c->n, len);
    case OP_READLINE:
        return m_readline(m, c->n, len);
    case OP_READEXACTLY:
        return m_readexactly(m, c->n, len);
    case OP_READ:
        return m_read(m, c->n, len);
    default:
        return m_read_all(m, c->n, len);
    }
}

static int call_task(void *arg, void **result)
{
    call *c = arg;
    c->rc = do_call(c);
    c->done = true;
    return 0;
}

/* Make the call the way `how` says; its result in c->rc, c->len, c->buf. */
static int run_call(call *c, enum how how)
{
    if (how == HOW_POLL) {
        c->timeout = 0;
        c->rc = do_call(c);
        return 0;
    }
    c->timeout = WEFT_FOREVER;
    if (how == HOW_SCOPE) {
        /* An expired scope cancels the call at its first wait, and exit
         * turns that cancellation into a time-out. */
        weft_timeout t = {0};
        int rc = weft_timeout_enter(&t, 0);
        if (rc)
            return rc;
        c->rc = weft_timeout_exit(&t, do_call(c));
        return 0;
    }
    /* A task makes the call; it runs until it waits (or finishes) before
     * this coroutine runs again, and is then cancelled. */
    weft_future *t;
    int rc = weft_create_task(NULL, call_task, c, "reader", &t);
    if (rc)
        return rc;
    weft_sleep(0);
    if (!c->done)
        weft_future_cancel(t);
    rc = weft_await(t, NULL, WEFT_FOREVER);
    weft_future_unref(t);
    if (rc == WEFT_ECANCELLED && !c->done) {
        c->rc = WEFT_ECANCELLED;
        rc = 0;
    }
    return rc;
}

static const char *op_name(enum op op)
{
    static const char *const names[] = {"write", "readuntil", "readline", "readexactly",
                                        "read", "read_all", "eof", "at_eof"};
    return names[op];
}

typedef struct run_ctx {
    const uint8_t *data;
    size_t size;
    call c; /* big: kept off the coroutine's stack */
} run_ctx;

/* The separator as C would write it, for messages. */
static const char *escaped(const char *sep, char *out, size_t cap)
{
    size_t k = 0;
    for (; sep && *sep && k + 3 < cap; sep++) {
        const char *e = *sep == '\n' ? "\\n" : *sep == '\r' ? "\\r" : NULL;
        if (e) {
            out[k++] = e[0];
            out[k++] = e[1];
        } else {
            out[k++] = *sep;
        }
    }
    out[k] = '\0';
    return out;
}

static int fail(const char *what, size_t step, const call *c, int want, size_t wlen)
{
    char sep[32];
    fprintf(stderr, "fz_stream: step %zu, %s(\"%s\", %zu): %s; got %d (%s) len %zu, "
            "the model says %d (%s) len %zu\n", step, op_name(c->op),
            escaped(c->sep, sep, sizeof sep), c->n, what, c->rc, weft_err_name(c->rc), c->len,
            want, weft_err_name(want), wlen);
    return -1;
}

static int run_program(void *arg, void **result)
{
    run_ctx *x = arg;
    prog g = {x->data, x->data + x->size};
    model *m = calloc(1, sizeof *m);
    int fds[2] = {-1, -1}, rc = -1;
    weft_stream *st = NULL;
    weft_socket *s = NULL;
    if (!m || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0)
        goto out;
    m->limit = 1 + next(&g) % 48;
    int r = weft_socket_from_fd(&s, fds[0]);
    fds[0] = -1;
    if (r == 0)
        r = weft_stream_new(&st, s, &(weft_stream_opts){.limit = m->limit});
    if (r) {
        fprintf(stderr, "fz_stream: set-up failed: %s\n", weft_err_name(r));
        goto out;
    }
    for (size_t step = 0; g.p < g.end; step++) {
        enum op op = (enum op)(next(&g) % NOPS);
        call *c = &x->c;
        *c = (call){.st = st, .op = op};
        if (op == OP_WRITE) {
            size_t n = next(&g) % 24;
            char chunk[24];
            for (size_t i = 0; i < n; i++)
                chunk[i] = alphabet[next(&g) % (sizeof alphabet - 1)];
            if (m->shut || m->sent + n > MAX_BYTES)
                continue;
            if (n && write(fds[1], chunk, n) != (ssize_t)n) {
                perror("fz_stream: write");
                goto out;
            }
            memcpy(m->data + m->sent, chunk, n);
            m->sent += n;
            continue;
        }
        if (op == OP_EOF) {
            if (!m->shut && shutdown(fds[1], SHUT_WR) != 0) {
                perror("fz_stream: shutdown");
                goto out;
            }
            m->shut = true;
            continue;
        }
        if (op == OP_AT_EOF) {
            bool want = m->eof_seen && m->buffered == 0;
            if (weft_stream_at_eof(st) != want) {
                fprintf(stderr, "fz_stream: step %zu: at_eof is %d, the model says %d\n",
                        step, !want, want);
                goto out;
            }
            continue;
        }
        if (op == OP_READUNTIL)
            c->sep = seps[next(&g) % NSEPS];
        c->n = next(&g) % 64;
        if (op != OP_READEXACTLY && op != OP_READ_ALL)
            c->n++; /* a zero cap is bad input, tested elsewhere */
        enum how how = (enum how)(next(&g) % NHOWS);
        size_t from = m->pos, wlen;
        int want = model_call(m, c, &wlen);
        if (want == WOULD_BLOCK) {
            want = how == HOW_CANCEL ? WEFT_ECANCELLED : WEFT_ETIMEDOUT;
            wlen = 0;
        }
        if ((r = run_call(c, how)) != 0) {
            fprintf(stderr, "fz_stream: step %zu: the call's task: %s\n", step,
                    weft_err_name(r));
            goto out;
        }
        /* A time-out, a cancellation or an error reports no length, except
         * the partial bytes of the end of the stream (EEOF). */
        if (c->rc != want || c->len != wlen) {
            fail("wrong outcome", step, c, want, wlen);
            goto out;
        }
        if (memcmp(c->buf, m->data + from, wlen) != 0) {
            fail("wrong bytes", step, c, want, wlen);
            goto out;
        }
    }
    rc = 0;
out:
    if (st)
        weft_stream_free(st);
    else if (fds[0] >= 0)
        close(fds[0]);
    if (fds[1] >= 0)
        close(fds[1]);
    free(m);
    *result = (void *)(intptr_t)rc;
    return 0;
}

int fz_stream(const uint8_t *data, size_t size)
{
    run_ctx *x = malloc(sizeof *x);
    if (!x)
        return -1;
    x->data = data;
    x->size = size;
    void *res = NULL;
    int rc = weft_run(run_program, x, &res);
    free(x);
    if (rc) {
        fprintf(stderr, "fz_stream: weft_run: %s\n", weft_err_name(rc));
        return -1;
    }
    return (int)(intptr_t)res;
}
