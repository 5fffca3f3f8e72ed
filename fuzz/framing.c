/*
 * The framing of pipes and process queues against a model of their bytes
 * (fz_framing, fuzz/fuzz.h).
 *
 * The input is a program: a configuration byte, then operations, each an
 * opcode byte and its argument bytes. Two objects live side by side:
 *
 * A pipe (weft/ipc.h). Its frames are an 8-byte native length and then the
 * bytes, over an AF_UNIX stream socket pair. The driver writes into the
 * sending end both through weft_conn_send_bytes (well-formed messages) and
 * as a broken or hostile peer would: raw bytes straight into the socket
 * (garbage, lengths past any cap, 2^63, truncated messages, headers cut in
 * two), then the end of the stream (shutdown, or close). The receiving end
 * is read with recv_bytes (with a cap), recv_bytes_alloc (with a maxlen)
 * and poll, with time-out 0, a short one, or none where the model says the
 * call returns at once. The model is the stream of bytes the peer wrote
 * and what the receiver has consumed of it; every outcome must be the
 * model's: a whole message exactly as the bytes framed it, WEFT_EMSGSIZE
 * with the framed length (the message staying first in line), WEFT_EEOF
 * at a message boundary, WEFT_EBROKEN for a message the end of the stream
 * cut (and for good after that), or a time-out; never a desynchronised
 * "message". One state is left out on purpose: bytes of a message that
 * has begun, with the rest missing and the peer still open. A receive then
 * reads the message to its end whatever its time-out says (weft/ipc.h:
 * the time-out bounds the wait for a message to start), so it would wait
 * for the peer for ever; the driver checks that poll reports the begun
 * message and makes no receive until the peer writes more or ends.
 *
 * A process queue (weft_pqueue). Its items are records (an 8-byte length,
 * then the bytes, padded to 8) in a ring of shared memory. Out of scope:
 * raw bytes in that ring. No peer can put them there: the ring, its
 * indices, the lock and the futex words sit in one shared block that only
 * weft's own code writes, in the processes that share the queue (the
 * creator and the children it started), which trust one another as the
 * threads of one program do; a process that scribbles on that block can
 * corrupt the lock as well as a length, and no reader can defend against
 * that. A reader trusts the length at the ring's tail because the put that
 * wrote it under the lock committed it. In scope: what another process can
 * do to a queue, which is to die at any instruction, the lock held. The
 * driver kills a thread (a robust lock's owner dying is the same event for
 * a thread as for a process) inside a put's commit, inside a get after its
 * copy, inside a get's commit, inside task_done's commit, and inside the
 * repair of an earlier death's commit, through the hook src/process/pqueue.c gives
 * tests. A putter dying before its commit leaves bytes beyond the head,
 * where the ring already holds the stale bytes of earlier items (which the
 * driver's puts and gets leave there) and which no reader reads. The model
 * is the queue's items (lengths and contents), the ring's bytes in use,
 * maxsize, the unfinished count and what qsize reads before a repair; the
 * operations are put, put_nowait, get (with a cap), get_nowait, get_alloc,
 * qsize, empty, full, max_item, task_done, join, close, with time-out 0 or
 * a short one, in a ring small enough to wrap often.
 */
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz.h"
#include "weft.h"

/* In src/process/pqueue.c (see tests/test_pqueue.c): called with the queue's lock
 * held inside a get after its copy (1), inside a commit once its journal
 * is written (2). */
extern void (*weft__pqueue_hook)(int where);
enum { HOOK_COPIED = 1, HOOK_JOURNAL = 2 };

/* ------------------------------------------------------------- the input */

typedef struct prog {
    const uint8_t *p, *end;
} prog;

static unsigned next(prog *g)
{
    return g->p < g->end ? *g->p++ : 0;
}

static unsigned next16(prog *g)
{
    unsigned v = next(g);
    return v | next(g) << 8;
}

/* A time-out: 0 (a poll) mostly, sometimes a short wait. */
static double short_timeout(prog *g)
{
    return next(g) % 8 == 7 ? 0.0002 : 0;
}

/* A receive's time-out: as short_timeout, or (6) none where the model says
 * the call returns at once. */
static double recv_timeout(prog *g, bool returns_at_once)
{
    unsigned k = next(g) % 8;
    return k == 7 ? 0.0002 : k == 6 && returns_at_once ? WEFT_FOREVER : 0;
}

/* Message and item contents: a pattern from a seed, so that long ones cost
 * no input. */
static void pattern(uint8_t *p, size_t n, unsigned seed)
{
    uint32_t x = seed * 2654435761u + 1;
    for (size_t i = 0; i < n; i++) {
        x = x * 1103515245u + 12345u;
        p[i] = (uint8_t)(x >> 16);
    }
}

static unsigned cur_step; /* for messages */

static int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "fz_framing: step %u: ", cur_step);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return -1;
}

/* ----------------------------------------------------------------- pipe */

/* Less than a socket buffer holds (208 KiB, counting each write's kernel
 * overhead), so that no write ever waits for the reader. */
#define P_MAX_BYTES 16384
#define P_MAX_WRITES 96
#define P_MAX_MSG 4096

typedef struct pmodel {
    uint8_t data[P_MAX_BYTES]; /* every byte the peer wrote */
    size_t sent, pos;          /* written; consumed by the receiver */
    unsigned writes;
    bool have_len;             /* the receiver has read a header ... */
    uint64_t next_len;         /* ... which said this */
    bool broken;               /* a message was cut: no more receives */
    bool shut;                 /* the peer's sending side has ended */
    bool closed;               /* the peer's end is closed (weft_conn_close) */
} pmodel;

enum { HANG = 1 }; /* a model outcome beside the weft codes */

/* A receive, on the model: its code, and for a message its place in data.
 * HANG: the message has begun, the rest is missing and the peer is open. */
static int m_recv(pmodel *m, size_t cap, size_t *len, size_t *from)
{
    *len = 0;
    if (m->broken)
        return WEFT_EBROKEN;
    if (!m->have_len) {
        size_t avail = m->sent - m->pos;
        if (avail == 0)
            return m->shut ? WEFT_EEOF : WEFT_ETIMEDOUT;
        if (avail < sizeof m->next_len) {
            if (!m->shut)
                return HANG;
            m->pos = m->sent;
            m->broken = true;
            return WEFT_EBROKEN;
        }
        memcpy(&m->next_len, m->data + m->pos, sizeof m->next_len);
        m->pos += sizeof m->next_len;
        m->have_len = true;
    }
    if (m->next_len > cap) {
        *len = (size_t)m->next_len;
        return WEFT_EMSGSIZE;
    }
    size_t avail = m->sent - m->pos;
    if (avail < m->next_len) {
        if (!m->shut)
            return HANG;
        m->have_len = false;
        m->pos = m->sent;
        m->broken = true;
        return WEFT_EBROKEN;
    }
    *from = m->pos;
    *len = (size_t)m->next_len;
    m->pos += *len;
    m->have_len = false;
    return 0;
}

static bool m_poll(const pmodel *m)
{
    return m->broken || m->have_len || m->sent > m->pos || m->shut;
}

typedef struct pipe_fx {
    weft_conn *a, *b; /* a receives; b sends (and receives too when duplex) */
    int wfd;          /* b's socket, where the hostile bytes go; -1 once closed */
    bool duplex;
    pmodel m;
} pipe_fx;

/* b's fd: weft has no call for it (Python's fileno()). socketpair takes the
 * two lowest free numbers in order, which two opens of /dev/null tell
 * beforehand; a frame written there must then come out of a. */
static int pipe_open(pipe_fx *x, bool duplex)
{
    int lo = open("/dev/null", O_RDONLY | O_CLOEXEC);
    int hi = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (lo < 0 || hi < 0 || lo > hi)
        return fail("pipe set-up: open /dev/null");
    close(lo);
    close(hi);
    int rc = weft_pipe(&x->a, &x->b, duplex);
    if (rc)
        return fail("weft_pipe: %s", weft_err_name(rc));
    x->duplex = duplex;
    struct stat st;
    if (fstat(hi, &st) != 0 || !S_ISSOCK(st.st_mode))
        return fail("pipe set-up: fd %d is not the pipe's", hi);
    uint8_t probe[9] = {1, 0, 0, 0, 0, 0, 0, 0, 'V'};
    char got = 0;
    size_t len = 0;
    if (write(hi, probe, sizeof probe) != (ssize_t)sizeof probe ||
        weft_conn_recv_bytes(x->a, &got, 1, &len, 0) != 0 || len != 1 || got != 'V')
        return fail("pipe set-up: fd %d is not the sending end", hi);
    x->wfd = hi;
    return 0;
}

static bool p_room(const pmodel *m, size_t n)
{
    return m->writes < P_MAX_WRITES && m->sent + n <= P_MAX_BYTES;
}

/* Hostile bytes, straight into the socket. */
static int p_raw(pipe_fx *x, const uint8_t *p, size_t n)
{
    pmodel *m = &x->m;
    if (m->shut || !n || !p_room(m, n))
        return 0;
    ssize_t w = send(x->wfd, p, n, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (w != (ssize_t)n)
        return fail("raw write of %zu bytes: %zd", n, w);
    memcpy(m->data + m->sent, p, n);
    m->sent += n;
    m->writes++;
    return 0;
}

/* Lengths a hostile header may carry (and a few a writer's bug may). */
static uint64_t hostile_len(prog *g)
{
    static const uint64_t table[] = {
        0, 1, 7, 8, 9, 255, 4095, 4096, 4097, 65536, (uint64_t)1 << 31, (uint64_t)1 << 32,
        ((uint64_t)1 << 32) + 5, (uint64_t)1 << 62, (uint64_t)1 << 63, ((uint64_t)1 << 63) + 3,
        UINT64_MAX - 7, UINT64_MAX, (uint64_t)SSIZE_MAX, (uint64_t)SSIZE_MAX - 8};
    unsigned k = next(g);
    if (k < 128)
        return k % 48; /* small: often a whole message, or one cut short */
    if (k < 192)
        return next16(g);
    return table[k % (sizeof table / sizeof *table)];
}

static int p_send(pipe_fx *x, prog *g, unsigned seed)
{
    pmodel *m = &x->m;
    size_t n = next(g) % 4 == 0 ? next16(g) % (P_MAX_MSG + 1) : next(g) % 40;
    double t = next(g) % 4 == 0 ? WEFT_FOREVER : short_timeout(g);
    if (!m->closed && !m->shut && !p_room(m, 8 + n))
        return 0;
    uint8_t *buf = malloc(n ? n : 1);
    if (!buf)
        return fail("out of memory");
    pattern(buf, n, seed);
    int want = m->closed ? WEFT_ESTATE : m->shut ? WEFT_EPIPE : 0;
    int rc = weft_conn_send_bytes(x->b, n ? buf : NULL, n, t);
    if (rc != want) {
        free(buf);
        return fail("send_bytes(%zu): %s, the model says %s", n, weft_err_name(rc),
                    weft_err_name(want));
    }
    if (rc == 0) {
        uint64_t hdr = n;
        memcpy(m->data + m->sent, &hdr, 8);
        memcpy(m->data + m->sent + 8, buf, n);
        m->sent += 8 + n;
        m->writes++;
    }
    free(buf);
    return 0;
}

/* recv_bytes (alloc false) or recv_bytes_alloc with cap as its maxlen;
 * its time-out from the program (g), or 0 when g is NULL. */
static int p_recv(pipe_fx *x, bool alloc, size_t cap, prog *g)
{
    pmodel *m = &x->m, after = *m;
    size_t wlen, from = 0;
    int want = m_recv(&after, cap, &wlen, &from);
    double t = g ? recv_timeout(g, want != WEFT_ETIMEDOUT && want != HANG) : 0;
    const char *what = alloc ? "recv_bytes_alloc" : "recv_bytes";
    if (want == HANG) {
        /* Not called (see the file comment); poll must see the message. */
        int r = weft_conn_poll(x->a, 0);
        return r == 0 ? 0 : fail("poll with a message begun: %d (%s)", r, weft_err_name(r));
    }
    size_t len = 0xdead;
    uint8_t *buf = NULL;
    int rc;
    if (alloc) {
        void *p = (void *)&len; /* must stay unchanged on failure */
        rc = weft_conn_recv_bytes_alloc(x->a, &p, &len, cap, t);
        if (rc == 0)
            buf = p;
        else if (p != (void *)&len)
            return fail("%s: %s changed *buf", what, weft_err_name(rc));
    } else {
        /* Exactly cap bytes, so that ASan sees a write past the cap. */
        buf = cap ? malloc(cap) : NULL;
        if (cap && !buf)
            return fail("out of memory");
        rc = weft_conn_recv_bytes(x->a, buf, cap, &len, t);
    }
    int out = 0;
    if (rc != want) {
        out = fail("%s(%zu): %s, the model says %s (next_len %llu)", what, cap,
                   weft_err_name(rc), weft_err_name(want), (unsigned long long)after.next_len);
    } else if ((rc == 0 || rc == WEFT_EMSGSIZE) && len != wlen) {
        out = fail("%s(%zu): %s with length %zu, the model says %zu", what, cap,
                   weft_err_name(rc), len, wlen);
    } else if (rc == 0 && wlen && memcmp(buf, m->data + from, wlen) != 0) {
        out = fail("%s(%zu): a misread message of %zu bytes", what, cap, wlen);
    }
    free(buf);
    *m = after;
    return out;
}

static int p_poll(pipe_fx *x, prog *g)
{
    bool ready = m_poll(&x->m);
    int want = ready ? 0 : WEFT_ETIMEDOUT, r = weft_conn_poll(x->a, recv_timeout(g, ready));
    return r == want ? 0 : fail("poll: %d (%s), the model says %d", r, weft_err_name(r), want);
}

/* The other way (duplex) or the wrong way (one-way): a sends, b receives. */
static int p_reverse(pipe_fx *x, prog *g, unsigned seed)
{
    uint8_t out[64], in[64];
    size_t n = next(g) % sizeof out, len = 0;
    pattern(out, n, seed);
    int rc = weft_conn_send_bytes(x->a, out, n, 0);
    int want = !x->duplex ? WEFT_EINVAL : x->m.closed ? WEFT_EPIPE : 0;
    if (rc != want)
        return fail("send_bytes on a: %s, want %s", weft_err_name(rc), weft_err_name(want));
    rc = weft_conn_recv_bytes(x->b, in, sizeof in, &len, 0);
    want = x->m.closed ? WEFT_ESTATE : !x->duplex ? WEFT_EINVAL : 0;
    if (rc != want)
        return fail("recv_bytes on b: %s, want %s", weft_err_name(rc), weft_err_name(want));
    if (rc == 0 && (len != n || memcmp(in, out, n) != 0))
        return fail("recv_bytes on b: %zu bytes, want %zu", len, n);
    return 0;
}

/* ---------------------------------------------------------------- queue */

#define Q_MAX_ITEMS 1024 /* more than the largest ring (4096 bytes) holds */
#define Q_MAX_LEN 8192

typedef struct qitem {
    size_t len;
    unsigned seed;
} qitem;

typedef struct qmodel {
    qitem items[Q_MAX_ITEMS];
    size_t first, n;     /* items[first .. first + n) mod Q_MAX_ITEMS */
    size_t used;         /* ring bytes the items take */
    size_t cap, maxsize; /* ring bytes; items (0: no limit) */
    bool joinable, closed;
    uint64_t unfinished;
    /* A thread died inside a commit: the shared state (what qsize reads,
     * `visible` items) is the one before it until the next locker repairs
     * it. The model's state is the repaired one. */
    bool journal;
    size_t visible;
} qmodel;

/* A call took the queue's lock (and finished its commit): any commit a
 * dead thread left is repaired, and the shared state is the model's. */
static void q_locked(qmodel *m)
{
    m->journal = false;
    m->visible = m->n;
}

static size_t rec_size(size_t len)
{
    return 8 + ((len + 7) & ~(size_t)7);
}

static bool q_fits(const qmodel *m, size_t len)
{
    return (!m->maxsize || m->n < m->maxsize) && m->cap - m->used >= rec_size(len);
}

static void q_push(qmodel *m, size_t len, unsigned seed)
{
    m->items[(m->first + m->n++) % Q_MAX_ITEMS] = (qitem){len, seed};
    m->used += rec_size(len);
    if (m->joinable)
        m->unfinished++;
}

static void q_pop(qmodel *m)
{
    m->used -= rec_size(m->items[m->first].len);
    m->first = (m->first + 1) % Q_MAX_ITEMS;
    m->n--;
}

typedef struct queue_fx {
    weft_pqueue *q;
    qmodel m;
    uint8_t buf[Q_MAX_LEN];  /* what a put sends */
    uint8_t want[Q_MAX_LEN]; /* what a get must give */
} queue_fx;

static size_t item_len(const qmodel *m, prog *g)
{
    size_t max = m->cap - 8;
    switch (next(g) % 6) {
    case 0:
        return 0;
    case 1:
        return next(g) % 16;
    case 2:
        return max - next(g) % 4; /* the largest items */
    case 3:
        return max + 1 + next(g) % 16; /* never fit: WEFT_EMSGSIZE */
    default:
        return next16(g) % (m->cap + 1);
    }
}

/* A get's outcome on the model, unapplied: 0 and the front item, or its
 * error (time-outs as WEFT_ETIMEDOUT). */
static int q_want_get(const qmodel *m, bool alloc, size_t cap, qitem *it)
{
    if (m->closed)
        return WEFT_ESTATE;
    if (!m->n)
        return WEFT_ETIMEDOUT;
    *it = m->items[m->first];
    return !alloc && it->len > cap ? WEFT_EMSGSIZE : 0;
}

static int q_check_item(queue_fx *x, const char *what, const uint8_t *got, const qitem *it)
{
    pattern(x->want, it->len, it->seed);
    if (it->len && memcmp(got, x->want, it->len) != 0)
        return fail("%s: a misread item of %zu bytes", what, it->len);
    return 0;
}

/* put (how 0), put_nowait (1), or put with a short wait (2). */
static int q_put(queue_fx *x, prog *g, unsigned seed)
{
    qmodel *m = &x->m;
    size_t len = item_len(m, g);
    if (len > Q_MAX_LEN)
        len = Q_MAX_LEN;
    unsigned how = next(g) % 3;
    pattern(x->buf, len, seed);
    int rc = how == 1 ? weft_pqueue_put(x->q, len ? x->buf : NULL, len, 0)
                      : weft_pqueue_put(x->q, len ? x->buf : NULL, len, how ? 0.0002 : 0);
    int want = m->closed          ? WEFT_ESTATE
               : len > m->cap - 8 ? WEFT_EMSGSIZE
               : !q_fits(m, len)  ? WEFT_ETIMEDOUT
                                  : 0;
    if (rc != want)
        return fail("put(%zu) #%u: %s, the model says %s (%zu items, %zu of %zu bytes)", len,
                    how, weft_err_name(rc), weft_err_name(want), m->n, m->used, m->cap);
    if (rc == 0)
        q_push(m, len, seed);
    if (!m->closed && want != WEFT_EMSGSIZE)
        q_locked(m);
    return 0;
}

/* get (how 0), get_nowait (1), get with a short wait (2), get_alloc (3). */
static int q_get(queue_fx *x, prog *g)
{
    qmodel *m = &x->m;
    unsigned how = next(g) % 4;
    size_t cap = next(g) % 3 ? next16(g) % (m->cap + 1) : m->cap;
    qitem it = {0};
    int want = q_want_get(m, how == 3, cap, &it);
    size_t len = 0xdead;
    uint8_t *buf = NULL;
    int rc;
    if (how == 3) {
        void *p = &len;
        rc = weft_pqueue_get_alloc(x->q, &p, &len, short_timeout(g));
        if (rc == 0)
            buf = p;
        else if (p != (void *)&len)
            return fail("get_alloc: %s changed *buf", weft_err_name(rc));
    } else {
        buf = cap ? malloc(cap) : NULL; /* exactly cap: ASan sees a write past it */
        if (cap && !buf)
            return fail("out of memory");
        rc = how == 1 ? weft_pqueue_get(x->q, buf, cap, &len, 0)
                      : weft_pqueue_get(x->q, buf, cap, &len, how ? 0.0002 : 0);
    }
    int out = 0;
    if (rc != want)
        out = fail("get(%zu) #%u: %s, the model says %s (%zu items)", cap, how,
                   weft_err_name(rc), weft_err_name(want), m->n);
    else if ((rc == 0 || rc == WEFT_EMSGSIZE) && len != it.len)
        out = fail("get(%zu) #%u: %s with length %zu, the model says %zu", cap, how,
                   weft_err_name(rc), len, it.len);
    else if (rc == 0)
        out = q_check_item(x, "get", buf, &it);
    free(buf);
    if (rc == 0 && !out)
        q_pop(m);
    if (!m->closed)
        q_locked(m);
    return out;
}

static int q_state(queue_fx *x)
{
    const qmodel *m = &x->m;
    size_t n = m->closed ? 0 : m->visible;
    bool full = !m->closed && m->maxsize && n >= m->maxsize;
    if (weft_pqueue_qsize(x->q) != n || weft_pqueue_empty(x->q) != (n == 0) ||
        weft_pqueue_full(x->q) != full || weft_pqueue_max_item(x->q) != m->cap - 8)
        return fail("qsize %zu empty %d full %d max_item %zu; the model says %zu %d %d %zu",
                    weft_pqueue_qsize(x->q), weft_pqueue_empty(x->q), weft_pqueue_full(x->q),
                    weft_pqueue_max_item(x->q), n, n == 0, full, m->cap - 8);
    return 0;
}

static int q_task_done(queue_fx *x)
{
    qmodel *m = &x->m;
    int want = m->closed || !m->joinable ? WEFT_ESTATE : m->unfinished ? 0 : WEFT_EOVERFLOW;
    int rc = weft_pqueue_task_done(x->q);
    if (rc != want)
        return fail("task_done: %s, the model says %s", weft_err_name(rc), weft_err_name(want));
    if (rc == 0)
        m->unfinished--;
    if (want != WEFT_ESTATE)
        q_locked(m);
    return 0;
}

static int q_join(queue_fx *x, prog *g)
{
    qmodel *m = &x->m;
    int want = m->closed || !m->joinable ? WEFT_ESTATE : m->unfinished ? WEFT_ETIMEDOUT : 0;
    int rc = weft_pqueue_join(x->q, short_timeout(g));
    if (rc != want)
        return fail("join: %s, the model says %s (%llu unfinished)", weft_err_name(rc),
                    weft_err_name(want), (unsigned long long)m->unfinished);
    if (want != WEFT_ESTATE)
        q_locked(m);
    return 0;
}

/* --------------------------------------------------- deaths in the queue */

/* This thread dies at hook `doomed_at`, after letting `doomed_skip` calls
 * of it pass. */
static _Thread_local int doomed_at, doomed_skip;

static void die_in_hook(int where)
{
    if (where == doomed_at && doomed_skip-- == 0)
        pthread_exit(NULL); /* the lock held: its next taker repairs */
}

enum { DIE_PUT, DIE_GET_COPIED, DIE_GET_COMMIT, DIE_TASK_DONE, NDIES };

typedef struct doomed {
    weft_pqueue *q;
    int kind, at, skip;
    const uint8_t *item;
    size_t len, cap;
    uint8_t *buf;
    int rc;
    bool returned;
} doomed;

static void *doomed_main(void *arg)
{
    doomed *d = arg;
    size_t len;
    doomed_at = d->at;
    doomed_skip = d->skip;
    switch (d->kind) {
    case DIE_PUT:
        d->rc = weft_pqueue_put(d->q, d->len ? d->item : NULL, d->len, 0);
        break;
    case DIE_GET_COPIED:
    case DIE_GET_COMMIT:
        d->rc = weft_pqueue_get(d->q, d->buf, d->cap, &len, 0);
        break;
    default:
        d->rc = weft_pqueue_task_done(d->q);
        break;
    }
    d->returned = true;
    return NULL;
}

/* A thread that dies inside an operation, if the operation gets as far as
 * the hook; else it returns, and its outcome is checked as any call's. It
 * dies inside its own commit, or after its get's copy, or (in_repair) in
 * the commit of the repair it makes of a commit an earlier death left. */
static int q_die(queue_fx *x, prog *g, unsigned seed)
{
    qmodel *m = &x->m;
    unsigned b = next(g);
    doomed d = {.q = x->q, .kind = (int)(b % NDIES)};
    if (d.kind == DIE_PUT) {
        d.len = next(g) % 64;
        pattern(x->buf, d.len, seed);
        d.item = x->buf;
    } else {
        d.cap = m->cap;
        d.buf = malloc(d.cap);
        if (!d.buf)
            return fail("out of memory");
    }
    /* The outcome had the thread not died. */
    qitem it = {0};
    int want;
    if (d.kind == DIE_PUT)
        want = m->closed             ? WEFT_ESTATE
               : d.len > m->cap - 8 ? WEFT_EMSGSIZE
               : !q_fits(m, d.len)  ? WEFT_ETIMEDOUT
                                    : 0;
    else if (d.kind == DIE_TASK_DONE)
        want = m->closed || !m->joinable ? WEFT_ESTATE : m->unfinished ? 0 : WEFT_EOVERFLOW;
    else
        want = q_want_get(m, false, d.cap, &it);
    bool locks = want != WEFT_ESTATE && want != WEFT_EMSGSIZE;
    bool in_repair = locks && m->journal && (b / NDIES) % 2;
    d.at = d.kind == DIE_GET_COPIED && !in_repair ? HOOK_COPIED : HOOK_JOURNAL;
    d.skip = d.at == HOOK_JOURNAL && locks && m->journal && !in_repair; /* the repair's */
    weft__pqueue_hook = die_in_hook;
    pthread_t t;
    int r = pthread_create(&t, NULL, doomed_main, &d);
    if (r == 0)
        pthread_join(t, NULL);
    weft__pqueue_hook = NULL;
    free(d.buf);
    if (r != 0)
        return fail("pthread_create: %d", r);
    static const char *const names[] = {"put", "get (after its copy)", "get (in its commit)",
                                        "task_done"};
    bool dies = in_repair || want == 0;
    if (d.returned) {
        if (dies)
            return fail("%s: returned %s, never reaching its hook%s", names[d.kind],
                        weft_err_name(d.rc), in_repair ? " (in a repair)" : "");
        if (d.rc != want)
            return fail("%s: %s, the model says %s", names[d.kind], weft_err_name(d.rc),
                        weft_err_name(want));
        if (locks)
            q_locked(m);
        return 0;
    }
    if (!dies)
        return fail("%s died in its hook; the model says %s", names[d.kind],
                    weft_err_name(want));
    if (in_repair)
        return 0; /* the repair is left as it was; the call never began */
    if (d.kind == DIE_GET_COPIED) {
        q_locked(m); /* repaired; the get never happened */
        return 0;
    }
    /* Died in its commit: it stands once the next locker repairs it. */
    size_t before = m->n;
    if (d.kind == DIE_PUT)
        q_push(m, d.len, seed);
    else if (d.kind == DIE_GET_COMMIT)
        q_pop(m);
    else
        m->unfinished--;
    m->journal = true;
    m->visible = before;
    return 0;
}

/* ------------------------------------------------------------- the program */

enum op {
    P_SEND, P_RAW_BYTES, P_RAW_FRAME, P_SHUT, P_CLOSE, P_RECV, P_RECV_ALLOC, P_POLL, P_REVERSE,
    Q_PUT, Q_GET, Q_STATE, Q_TASK_DONE, Q_JOIN, Q_DIE, Q_CLOSE, NOPS
};

/* A cap or a maxlen: around the lengths the program frames. */
static size_t recv_cap(prog *g)
{
    unsigned k = next(g);
    if (k < 160)
        return k % 48;
    if (k < 224)
        return next16(g) % (P_MAX_MSG + 16);
    return (size_t)1 << (k % 21); /* up to 1 MiB: a maxlen weft may malloc */
}

static int step(pipe_fx *px, queue_fx *qx, prog *g, unsigned seed)
{
    uint8_t raw[64];
    enum op op = (enum op)(next(g) % NOPS);
    switch (op) {
    case P_SEND:
        return p_send(px, g, seed);
    case P_RAW_BYTES: {
        size_t n = next(g) % 33;
        for (size_t i = 0; i < n; i++)
            raw[i] = (uint8_t)next(g);
        return p_raw(px, raw, n);
    }
    case P_RAW_FRAME: {
        /* A header, then some of the bytes it announces (or more). */
        uint64_t len = hostile_len(g);
        size_t body = next(g) % 4 == 0 ? next(g) % 56 : (len < 56 ? (size_t)len : 56);
        memcpy(raw, &len, 8);
        pattern(raw + 8, body, seed);
        size_t n = 8 + body, cut = next(g) % 4 == 0 ? 1 + next(g) % 7 : n;
        if (cut < n) /* the header in two writes */
            if (p_raw(px, raw, cut) != 0)
                return -1;
        return p_raw(px, raw + (cut < n ? cut : 0), cut < n ? n - cut : n);
    }
    case P_SHUT:
        if (!px->m.shut && shutdown(px->wfd, SHUT_WR) != 0)
            return fail("shutdown: %m");
        px->m.shut = true;
        return 0;
    case P_CLOSE: {
        int want = 0, rc = weft_conn_close(px->b); /* twice is harmless */
        if (rc != want)
            return fail("close: %s, want %s", weft_err_name(rc), weft_err_name(want));
        px->m.closed = px->m.shut = true;
        px->wfd = -1;
        return 0;
    }
    case P_RECV:
    case P_RECV_ALLOC: {
        size_t cap = recv_cap(g);
        return p_recv(px, op == P_RECV_ALLOC, cap, g);
    }
    case P_POLL:
        return p_poll(px, g);
    case P_REVERSE:
        return p_reverse(px, g, seed);
    case Q_PUT:
        return q_put(qx, g, seed);
    case Q_GET:
        return q_get(qx, g);
    case Q_STATE:
        return q_state(qx);
    case Q_TASK_DONE:
        return q_task_done(qx);
    case Q_JOIN:
        return q_join(qx, g);
    case Q_DIE:
        return q_die(qx, g, seed);
    case Q_CLOSE: {
        int want = 0, rc = weft_pqueue_close(qx->q); /* twice is harmless */
        if (rc != want)
            return fail("pqueue close: %s, want %s", weft_err_name(rc), weft_err_name(want));
        qx->m.closed = true;
        return 0;
    }
    default:
        return 0;
    }
}

/* End the stream and read what is left as the model says it frames, to
 * the end (or to a message longer than any the stream can hold whole). */
static int p_drain(pipe_fx *x)
{
    if (!x->m.shut && shutdown(x->wfd, SHUT_WR) != 0)
        return fail("shutdown: %m");
    x->m.shut = true;
    for (int i = 0; i < P_MAX_WRITES * 2 + 4; i++) {
        pmodel probe = x->m;
        size_t len, from;
        int want = m_recv(&probe, P_MAX_BYTES, &len, &from);
        if (p_recv(x, i % 2, P_MAX_BYTES, NULL) != 0)
            return -1;
        if (want != 0)
            return 0;
    }
    return fail("the stream did not end");
}

int fz_framing(const uint8_t *data, size_t size)
{
    prog g = {data, data + size};
    unsigned conf = next(&g);
    static const size_t caps[] = {64, 128, 192, 256, 320, 512, 1024, 4096};
    pipe_fx *px = calloc(1, sizeof *px);
    queue_fx *qx = calloc(1, sizeof *qx);
    int rc = -1;
    if (!px || !qx) {
        fail("out of memory");
        goto out;
    }
    px->wfd = -1;
    if (pipe_open(px, conf & 1) != 0)
        goto out;
    qmodel *m = &qx->m;
    m->cap = caps[(conf >> 1) % 8];
    m->maxsize = (conf >> 4) % 8;
    m->joinable = conf >> 7;
    weft_pqueue_opts o = {.maxsize = m->maxsize, .capacity = m->cap, .joinable = m->joinable};
    int r = weft_pqueue_new(&qx->q, &o);
    if (r) {
        fail("pqueue_new: %s", weft_err_name(r));
        goto out;
    }
    for (cur_step = 0; g.p < g.end; cur_step++)
        if (step(px, qx, &g, cur_step + 1) != 0)
            goto out;
    rc = p_drain(px);
    /* The queue's items, to its end. */
    while (rc == 0 && !m->closed && m->n) {
        qitem it = m->items[m->first];
        size_t len = 0;
        r = weft_pqueue_get(qx->q, qx->buf, sizeof qx->buf, &len, 0);
        if (r != 0 || len != it.len)
            rc = fail("final get: %s, length %zu, want %zu", weft_err_name(r), len, it.len);
        else if ((rc = q_check_item(qx, "final get", qx->buf, &it)) == 0)
            q_pop(m);
    }
    if (rc == 0 && !m->closed) {
        size_t len;
        r = weft_pqueue_get(qx->q, NULL, 0, &len, 0);
        if (r != WEFT_ETIMEDOUT || weft_pqueue_qsize(qx->q) != 0)
            rc = fail("the queue is not empty at the end: %s, qsize %zu", weft_err_name(r),
                      weft_pqueue_qsize(qx->q));
    }
out:
    if (px) {
        weft_conn_free(px->a);
        weft_conn_free(px->b);
    }
    if (qx)
        weft_pqueue_free(qx->q);
    free(px);
    free(qx);
    return rc;
}
