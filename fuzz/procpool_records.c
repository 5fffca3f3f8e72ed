/*
 * The process pool's records against a worker that may be buggy
 * (fz_procpool_records, fuzz/fuzz.h).
 *
 * The parent's side of a process pool is the real one (src/procpool/):
 * its submits, its bytes maps and fixed-size maps, its slots and futures,
 * its overflow, its rings, its decoding of results, its large payloads in
 * memfds. The worker is the driver, through the seam of
 * internal/procpool.h (weft__procpool_new_bare and the calls after it): a
 * pool with no worker process and no collector thread, whose task records
 * the driver takes and whose result records it writes. That keeps a run
 * to a fraction of a millisecond, with no process to start, and makes
 * every outcome depend on the input alone.
 *
 * The input is a program: a configuration byte, then operations, each an
 * opcode byte and its argument bytes. The driver submits tasks (no
 * argument, small ones, ones that go through a memfd), starts bytes maps
 * and a fixed-size map (in a thread: that call waits), takes the task
 * records as a worker does and checks that each says exactly what was
 * submitted (the records going to a worker), then answers them: with the
 * right result record (a result, none, an error and its message, a large
 * result in a memfd of its own, a chunk's outputs, a bytes map's entries,
 * a chunk stopped by a failing item), or with one a buggy worker could
 * write (a header field changed, the payload cut short with or without the
 * header saying so, a byte of it changed, a large result whose reference
 * points past its memfd's end, at no file, at a pipe with no writer, or at
 * no worker), or with raw bytes. Then it runs the collector's turn.
 *
 * What must hold: every record is decoded to a valid outcome or rejected
 * with a clear error; nothing is read or written outside the record and
 * the destination its task owns (ASan sees the rest); no allocation is
 * sized by an unchecked length; nothing leaks (LSan); every future ends by
 * the time the pool is terminated (a future left pending is a hang for its
 * waiter). A right answer, in a run where no record could have reached
 * another task (no raw bytes, no changed id, size or length), must give
 * exactly its outcome; a wrong one must give its own task a sane outcome
 * (a readable result or a negative code with a string message) and leave
 * every other task alone.
 *
 * Out of scope: a worker that scribbles over the shared block itself (the
 * rings' indices, their locks, the function table) can corrupt the state
 * of every process that shares it, as a thread can corrupt its process;
 * what a worker writes through the pool's own code is a result record, and
 * that is what a bug in it (or in its task) can make wrong.
 */
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fuzz.h"
#include "internal/procpool.h"
#include "weft.h"

#define MAX_TASKS 24
#define MAX_MAPS 2
#define MAX_ITEMS 16
#define MAX_TAKEN 96
#define MAX_FDS 48
#define BUF_BYTES 16384
#define QLEN (MAX_TASKS + MAX_MAPS * MAX_ITEMS) /* every record ever queued */

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

static void pattern(uint8_t *p, size_t n, unsigned seed)
{
    uint32_t x = seed * 2654435761u + 7;
    for (size_t i = 0; i < n; i++) {
        x = x * 1103515245u + 12345u;
        p[i] = (uint8_t)(x >> 16);
    }
}

/* A message: printable, no NUL, as a task's message is. */
static void message(uint8_t *p, size_t n, unsigned seed)
{
    pattern(p, n, seed);
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)('a' + p[i] % 26);
}

static unsigned cur_step;

static int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "fz_procpool_records: step %u: ", cur_step);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return -1;
}

/* The tasks' functions: never run (no worker runs anything), but they are
 * what the records name. */
static int task_fn(void *arg, void **result)
{
    (void)arg;
    (void)result;
    return 0;
}

static int item_fn(const void *in, void *out)
{
    (void)in;
    (void)out;
    return 0;
}

/* --------------------------------------------------------------- the state */

/* An outcome a right answer must give. */
typedef struct want {
    int code;      /* 0, or the failure's code */
    bool has;      /* code 0: a result (else none) */
    uint8_t *data; /* the result's bytes, or the failure's message */
    size_t len;    /* (a message of 0 bytes: none) */
} want;

enum answered { NOT_ANSWERED, EXACT, WRONG };

typedef struct task {
    weft_future *f;
    weft_bytes *arg; /* a copy of what was submitted, or NULL */
    enum answered ans;
    bool checked;
    want w;
} task;

typedef struct chunk {
    size_t first, count;
    enum answered ans;
    bool checked;
    size_t done;  /* items answered */
    unsigned seed;
    want w;       /* the chunk's own outcome */
} chunk;

typedef struct bmap {
    size_t n;
    weft_bytes *args[MAX_ITEMS];
    weft_bytes **results; /* exactly n: ASan sees a write past them */
    weft__map_run run;
    chunk ch[MAX_ITEMS];
    want items[MAX_ITEMS]; /* for items of chunks answered right */
} bmap;

typedef struct fmap {
    bool started, returned;
    pthread_t thread;
    weft_executor *ex;
    size_t n, in_size, out_size, chunksize, nchunks, taken_items;
    uint8_t *in, *out;
    int rc;
    chunk ch[64];
} fmap;

/* Records not yet taken, in the order they were queued. */
enum origin { FROM_TASK, FROM_MAP, FROM_FIXED };

typedef struct expect {
    enum origin from;
    unsigned idx, c; /* task or map; chunk */
} expect;

typedef struct taken {
    weft__rec h;
    expect e;
    bool answered;
} taken;

typedef struct run_ctx {
    weft_executor *ex;
    size_t cap;      /* each ring's bytes */
    unsigned workers;
    bool wild;       /* a record that could reach any task was written */
    task tasks[MAX_TASKS];
    unsigned ntasks;
    bmap maps[MAX_MAPS];
    unsigned nmaps;
    fmap fixed;
    expect queue[QLEN];
    unsigned qhead, qtail;
    taken tk[MAX_TAKEN];
    unsigned ntaken;
    int fds[MAX_FDS]; /* the driver's memfds and pipes, closed at the end */
    unsigned nfds;
    uint8_t buf[BUF_BYTES]; /* a record being built, or taken */
    uint8_t scratch[BUF_BYTES];
} run_ctx;

static void keep_fd(run_ctx *x, int fd)
{
    if (fd < 0)
        return;
    if (x->nfds < MAX_FDS)
        x->fds[x->nfds++] = fd;
    else
        close(fd);
}

/* ------------------------------------------------------------ submitting */

static int op_submit(run_ctx *x, prog *g, unsigned seed)
{
    if (x->ntasks == MAX_TASKS)
        return 0;
    unsigned k = next(g) % 4; /* none, small, up to 1200 bytes, a memfd's worth */
    size_t len = k == 0 ? 0 : k == 1 ? next(g) % 40 : k == 2 ? next16(g) % 1200
                                                            : 900 + next16(g) % 6000;
    task *t = &x->tasks[x->ntasks];
    *t = (task){0};
    if (k != 0) {
        if (weft_bytes_new(&t->arg, NULL, len) != 0)
            return fail("out of memory");
        pattern(t->arg->data, len, seed);
    }
    int rc = weft_executor_submit(x->ex, task_fn, t->arg, &t->f);
    if (rc != 0) {
        weft_bytes_free(t->arg);
        /* A pool that a record broke refuses work, as it must. */
        return x->wild && rc == WEFT_EBROKEN ? 0 : fail("submit: %s", weft_err_name(rc));
    }
    x->queue[x->qtail++] =
        (expect){FROM_TASK, x->ntasks++, 0};
    return 0;
}

static int op_map(run_ctx *x, prog *g, unsigned seed)
{
    if (x->nmaps == MAX_MAPS)
        return 0;
    bmap *m = &x->maps[x->nmaps];
    *m = (bmap){.n = 1 + next(g) % MAX_ITEMS};
    size_t chunksize = next(g) % 6;
    for (size_t i = 0; i < m->n; i++) {
        unsigned k = next(g);
        if (k % 5 == 0)
            continue; /* a NULL argument */
        size_t len = k % 5 == 4 ? next16(g) % (x->cap / 4) : next(g) % 48;
        if (weft_bytes_new(&m->args[i], NULL, len) != 0)
            return fail("out of memory");
        pattern(m->args[i]->data, len, seed * 31 + (unsigned)i);
    }
    if (!(m->results = calloc(m->n, sizeof *m->results)))
        return fail("out of memory");
    x->nmaps++;
    int rc = weft__procpool_map_start(x->ex, task_fn, (const weft_bytes *const *)m->args,
                                      m->results, m->n, chunksize, &m->run);
    /* An item alone too big for a chunk is WEFT_EMSGSIZE; the chunks before
     * it were submitted and run as any. */
    if (rc != 0 && rc != WEFT_EMSGSIZE && !(x->wild && rc == WEFT_EBROKEN))
        return fail("map_start: %s", weft_err_name(rc));
    for (unsigned c = 0; c < m->run.nchunks; c++) {
        m->ch[c] = (chunk){.first = m->run.first[c],
                           .count = m->run.first[c + 1] - m->run.first[c]};
        x->queue[x->qtail++] =
            (expect){FROM_MAP, x->nmaps - 1, c};
    }
    return 0;
}

static void *fixed_main(void *arg)
{
    fmap *f = arg;
    f->rc = weft_process_pool_map_fixed(f->ex, item_fn, f->in, f->in_size, f->out, f->out_size,
                                        f->n, f->chunksize, WEFT_FOREVER);
    __atomic_store_n(&f->returned, true, __ATOMIC_RELEASE);
    return NULL;
}

static int take_one(run_ctx *x, weft__rec *h);

/* A fixed-size map waits for its chunks, so a thread calls it; the driver
 * takes every record queued before, then the map's chunks as they come. */
static int op_fixed(run_ctx *x, prog *g, unsigned seed)
{
    fmap *f = &x->fixed;
    size_t n = 1 + next(g) % 40;
    /* Not after a record that may have broken the pool: records queued
     * before could then be gone, and the map's chunks not told apart. */
    if (f->started || x->wild || x->ntaken + (x->qtail - x->qhead) + n > MAX_TAKEN)
        return 0;
    f->n = n;
    f->in_size = 1 + next(g) % 24;
    f->out_size = 1 + next(g) % 24;
    f->chunksize = next(g) % 8;
    f->in = malloc(f->n * f->in_size);
    f->out = malloc(f->n * f->out_size);
    if (!f->in || !f->out)
        return fail("out of memory");
    pattern(f->in, f->n * f->in_size, seed);
    memset(f->out, 0xee, f->n * f->out_size);
    weft__rec h;
    int rc;
    for (unsigned tries = 0; x->qhead != x->qtail; tries++) {
        if ((rc = take_one(x, &h)) < 0)
            return rc;
        if (rc == 0)
            continue;
        if (tries > 2 * MAX_TAKEN)
            return fail("a record queued never came");
        weft__procpool_drain(x->ex); /* overflow into the ring */
    }
    f->ex = x->ex;
    f->started = true;
    if ((rc = pthread_create(&f->thread, NULL, fixed_main, f)) != 0) {
        f->started = false;
        return fail("pthread_create: %d", rc);
    }
    /* Its chunks: every item once, in order; the map may also return at
     * once (a pool that a record broke). */
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    while (f->taken_items < f->n && !__atomic_load_n(&f->returned, __ATOMIC_ACQUIRE)) {
        rc = take_one(x, &h);
        if (rc < 0)
            return rc;
        if (rc == 0)
            continue;
        weft__procpool_drain(x->ex); /* overflow into the ring */
        struct timespec t;
        clock_gettime(CLOCK_MONOTONIC, &t);
        if (t.tv_sec - t0.tv_sec > 5)
            return fail("the fixed-size map's chunks never came");
        sched_yield();
    }
    return 0;
}

/* ---------------------------------------------------------------- taking */

static int check_task_record(run_ctx *x, const weft__rec *h, const task *t)
{
    const uint8_t *p = x->buf;
    if (h->kind != WEFT__REC_TASK)
        return fail("task record of kind %u", h->kind);
    if (!t->arg)
        return h->count == 0 && h->len == 0 ? 0 : fail("task without argument: count %u", h->count);
    if (h->count == 1)
        return h->len == t->arg->len && memcmp(p, t->arg->data, h->len) == 0
                   ? 0
                   : fail("task argument of %u bytes, submitted %zu", h->len, t->arg->len);
    if (h->count != WEFT__COUNT_LARGE || h->len != sizeof(weft__large_ref))
        return fail("task record: count %u, len %u", h->count, h->len);
    weft__large_ref ref;
    memcpy(&ref, p, sizeof ref);
    if (ref.pid != getpid() || ref.len != t->arg->len)
        return fail("large argument: pid %d, len %llu", ref.pid, (unsigned long long)ref.len);
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", ref.fd);
    /* Non-blocking: in a wild run the number may be the driver's FIFO. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    /* Laid out as a weft_bytes's allocation: its head, then the bytes. */
    weft_bytes head;
    const off_t at = sizeof(weft__bytes_head);
    struct stat st;
    bool ok = fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
              pread(fd, &head, sizeof head, at) == (ssize_t)sizeof head &&
              head.len == ref.len && ref.len <= sizeof x->scratch &&
              pread(fd, x->scratch, ref.len, at + (off_t)sizeof head) == (ssize_t)ref.len &&
              memcmp(x->scratch, t->arg->data, ref.len) == 0;
    if (fd >= 0)
        close(fd);
    /* The parent closes the memfd once the task's future is done; a wrong
     * record that reached this task first (only in a wild run) leaves the
     * reference naming a closed fd, or one reused since. */
    if (!ok && x->wild && weft_future_done(t->f))
        return 0;
    return ok ? 0 : fail("large argument of %llu bytes: not what was submitted",
                         (unsigned long long)ref.len);
}

static int check_multi_record(run_ctx *x, const weft__rec *h, const bmap *m, const chunk *c)
{
    if (h->kind != WEFT__REC_MULTI || h->count != c->count)
        return fail("map chunk record: kind %u count %u, want %zu items", h->kind, h->count,
                    c->count);
    size_t off = 0;
    for (size_t i = c->first; i < c->first + c->count; i++) {
        uint64_t len;
        if (off + 8 > h->len)
            return fail("map chunk record cut at item %zu", i);
        memcpy(&len, x->buf + off, 8);
        off += 8;
        const weft_bytes *a = m->args[i];
        if (!a) {
            if (len != WEFT__NO_ITEM)
                return fail("map item %zu: NULL sent as %llu bytes", i, (unsigned long long)len);
            continue;
        }
        if (len != a->len || off + len > h->len || memcmp(x->buf + off, a->data, len) != 0)
            return fail("map item %zu: not what was submitted", i);
        off += (len + 7) & ~(size_t)7;
    }
    return off == h->len ? 0 : fail("map chunk record: %u bytes for %zu", h->len, off);
}

static int check_fixed_record(run_ctx *x, const weft__rec *h, chunk *c)
{
    fmap *f = &x->fixed;
    size_t first = f->taken_items;
    if (h->kind != WEFT__REC_CHUNK || !h->count || first + h->count > f->n ||
        h->len != h->count * f->in_size || (size_t)h->status != f->out_size)
        return fail("fixed chunk record: kind %u count %u len %u status %d", h->kind, h->count,
                    h->len, h->status);
    if (memcmp(x->buf, f->in + first * f->in_size, h->len) != 0)
        return fail("fixed chunk of items %zu..: not the input", first);
    *c = (chunk){.first = first, .count = h->count};
    f->taken_items += h->count;
    return 0;
}

/* Take the next task record, as a worker: 0, 1 when there is none, or -1. */
static int take_one(run_ctx *x, weft__rec *h)
{
    if (x->ntaken == MAX_TAKEN)
        return 1;
    int rc = weft__procpool_take_task(x->ex, h, x->buf, sizeof x->buf);
    if (rc == WEFT_EEMPTY)
        return 1;
    if (rc != 0)
        return fail("take_task: %s", weft_err_name(rc));
    taken *t = &x->tk[x->ntaken];
    *t = (taken){.h = *h};
    fmap *f = &x->fixed;
    if (f->started && x->qhead == x->qtail) {
        if (f->nchunks == sizeof f->ch / sizeof *f->ch)
            return fail("too many fixed chunks");
        t->e = (expect){FROM_FIXED, 0, (unsigned)f->nchunks};
        if (check_fixed_record(x, h, &f->ch[f->nchunks++]) != 0)
            return -1;
    } else {
        if (x->qhead == x->qtail)
            return fail("a task record nobody submitted (kind %u)", h->kind);
        t->e = x->queue[x->qhead++];
        rc = t->e.from == FROM_TASK
                 ? check_task_record(x, h, &x->tasks[t->e.idx])
                 : check_multi_record(x, h, &x->maps[t->e.idx], &x->maps[t->e.idx].ch[t->e.c]);
        if (rc)
            return -1;
    }
    x->ntaken++;
    return 0;
}

/* -------------------------------------------------------------- answering */

static const int32_t codes[] = {WEFT_EINVAL, WEFT_ENOMEM, WEFT_ETIMEDOUT, WEFT_ECANCELLED,
                                WEFT_EBROKEN, WEFT_ENOTSUP, -1, -4095, INT32_MIN};

static int want_set(want *w, int code, bool has, const uint8_t *data, size_t len)
{
    free(w->data);
    *w = (want){.code = code, .has = has, .len = len};
    if (len && !(w->data = malloc(len)))
        return fail("out of memory");
    if (len)
        memcpy(w->data, data, len);
    return 0;
}

/* The right result record for t into x->buf: its length, or 0 if none is
 * built. w gets the outcome it must give. */
static size_t answer_task(run_ctx *x, prog *g, const taken *t, want *w, unsigned seed)
{
    weft__rec *h = (weft__rec *)x->buf;
    uint8_t *p = x->buf + sizeof *h;
    *h = (weft__rec){.kind = WEFT__REC_RESULT, .id = t->h.id};
    size_t len = 0;
    switch (next(g) % 4) {
    case 0: /* a result */
        len = next16(g) % (x->cap / 4);
        pattern(p, len, seed);
        h->count = 1;
        if (want_set(w, 0, true, p, len))
            return 0;
        break;
    case 1: /* none */
        if (want_set(w, 0, false, NULL, 0))
            return 0;
        break;
    case 2: { /* a failure and its message */
        h->status = codes[next(g) % (sizeof codes / sizeof *codes)];
        len = next(g) % 80;
        message(p, len, seed);
        if (want_set(w, h->status, false, p, len))
            return 0;
        break;
    }
    default: { /* a large result, in a memfd */
        size_t n = next16(g) % 9000;
        int fd = memfd_create("fz-result", MFD_CLOEXEC);
        weft_bytes head = {.len = n};
        const off_t at = sizeof(weft__bytes_head); /* a weft_bytes's allocation */
        pattern(x->scratch, n, seed);
        if (fd < 0 || ftruncate(fd, (off_t)(at + sizeof head + n + 1)) != 0 ||
            pwrite(fd, &head, sizeof head, at) != (ssize_t)sizeof head ||
            pwrite(fd, x->scratch, n, at + (off_t)sizeof head) != (ssize_t)n) {
            if (fd >= 0)
                close(fd);
            fail("memfd: %m");
            return 0;
        }
        keep_fd(x, fd);
        weft__large_ref ref = {.pid = getpid(), .fd = fd, .len = n,
                               .worker = next(g) % x->workers};
        memcpy(p, &ref, sizeof ref);
        len = sizeof ref;
        h->count = WEFT__COUNT_LARGE;
        if (want_set(w, 0, true, x->scratch, n))
            return 0;
        break;
    }
    }
    h->len = (uint32_t)len;
    h->size = (uint32_t)((sizeof *h + len + WEFT__REC_ALIGN - 1) & ~(size_t)(WEFT__REC_ALIGN - 1));
    return sizeof *h + len;
}

/* A bytes map's chunk answered; a wrong answer may hold more entries than
 * its chunk has items. */
static size_t answer_multi(run_ctx *x, prog *g, const taken *t, bool wrong, unsigned seed)
{
    bmap *m = &x->maps[t->e.idx];
    chunk *c = &m->ch[t->e.c];
    weft__rec *h = (weft__rec *)x->buf;
    uint8_t *p = x->buf + sizeof *h;
    *h = (weft__rec){.kind = WEFT__REC_MULTI_RESULT, .id = t->h.id};
    size_t done = next(g) % (c->count + 1 + 2 * wrong), off = 0;
    bool failed = done < c->count && next(g) % 2;
    c->done = done;
    c->seed = seed;
    for (size_t k = 0; k < done + failed; k++) {
        uint32_t st = 0, has = next(g) % 4 != 0;
        uint64_t len = next(g) % 40;
        if (off + 16 + len + 8 > sizeof x->buf - sizeof *h)
            len = 0;
        if (k == done) { /* the failing item */
            st = (uint32_t)codes[next(g) % (sizeof codes / sizeof *codes)];
            has = 0;
            message(p + off + 16, len, seed + (unsigned)k);
            if (want_set(&c->w, (int32_t)st, false, p + off + 16, len))
                return 0;
        } else {
            pattern(p + off + 16, len, seed + (unsigned)k);
            if (!has)
                len = 0;
            if (k < c->count && want_set(&m->items[c->first + k], 0, has, p + off + 16, len))
                return 0;
        }
        memcpy(p + off, &st, 4);
        memcpy(p + off + 4, &has, 4);
        memcpy(p + off + 8, &len, 8);
        off += 16 + ((len + 7) & ~(size_t)7);
    }
    if (!failed && want_set(&c->w, done == c->count ? 0 : WEFT_EBROKEN, false, NULL, 0))
        return 0;
    h->count = (uint32_t)(done + failed);
    h->len = (uint32_t)off;
    h->size = (uint32_t)((sizeof *h + off + WEFT__REC_ALIGN - 1) & ~(size_t)(WEFT__REC_ALIGN - 1));
    return sizeof *h + off;
}

static size_t answer_fixed(run_ctx *x, prog *g, const taken *t, unsigned seed)
{
    fmap *f = &x->fixed;
    chunk *c = &f->ch[t->e.c];
    weft__rec *h = (weft__rec *)x->buf;
    uint8_t *p = x->buf + sizeof *h;
    *h = (weft__rec){.kind = WEFT__REC_CHUNK_RESULT, .id = t->h.id};
    size_t done = next(g) % 3 ? c->count : next(g) % (c->count + 1);
    if (done < c->count) {
        unsigned k = next(g) % (sizeof codes / sizeof *codes + 1);
        h->status = k < sizeof codes / sizeof *codes ? codes[k] : 0;
    }
    c->done = done;
    c->seed = seed;
    size_t len = done * f->out_size;
    pattern(p, len, seed);
    if (want_set(&c->w, done == c->count ? 0 : h->status ? h->status : WEFT_EBROKEN, false, NULL,
                 0))
        return 0;
    h->count = (uint32_t)done;
    h->len = (uint32_t)len;
    h->size = (uint32_t)((sizeof *h + len + WEFT__REC_ALIGN - 1) & ~(size_t)(WEFT__REC_ALIGN - 1));
    return sizeof *h + len;
}

static uint32_t odd_value(prog *g)
{
    static const uint32_t values[] = {0, 1, 2, 3, 4, 7, 31, 32, 33, 63, 64, 96, 4096, 65535,
                                      0x7fffffff, 0x80000000, 0xfffffff0, 0xffffffff};
    unsigned k = next(g);
    return k < 128 ? k % 32 : values[k % (sizeof values / sizeof *values)];
}

/* Make the record in x->buf (n bytes) wrong, as a buggy worker could:
 * returns its new length. *wild is set when it may reach another task. */
static size_t mutate(run_ctx *x, prog *g, size_t n, bool *wild)
{
    weft__rec *h = (weft__rec *)x->buf;
    size_t payload = n - sizeof *h;
    unsigned how = next(g) % 5;
    switch (how) {
    case 0: { /* a header field */
        uint32_t v = odd_value(g);
        switch (next(g) % 7) {
        case 0:
            h->size = v;
            *wild = true;
            break;
        case 1:
            h->kind = v % 8;
            break;
        case 2:
            h->id = (h->id & ~(uint64_t)UINT32_MAX) | v;
            *wild = true;
            break;
        case 3:
            h->id = (h->id & UINT32_MAX) | (uint64_t)v << 32;
            *wild = true;
            break;
        case 4:
            h->status = (int32_t)v;
            break;
        case 5:
            h->len = v;
            *wild = true;
            break;
        default:
            h->count = v;
            break;
        }
        return n;
    }
    case 1: /* the payload cut short, the header saying so */
    case 2: { /* ... or not */
        size_t cut = payload ? 1 + next(g) % payload : 0;
        n -= cut;
        if (how == 1 || !cut) {
            h->len = (uint32_t)(payload - cut);
            h->size = (uint32_t)((n + WEFT__REC_ALIGN - 1) & ~(size_t)(WEFT__REC_ALIGN - 1));
        } else {
            *wild = true;
        }
        return n;
    }
    case 3: /* a byte of the payload */
        if (payload) {
            size_t at = next16(g) % payload;
            x->buf[sizeof *h + at] = (uint8_t)next(g);
        }
        return n;
    default: { /* a large result's reference, or a multi entry's length */
        if (h->kind == WEFT__REC_RESULT && h->count == WEFT__COUNT_LARGE &&
            payload == sizeof(weft__large_ref)) {
            weft__large_ref ref;
            memcpy(&ref, x->buf + sizeof *h, sizeof ref);
            switch (next(g) % 6) {
            case 0: /* past the memfd's end */
                ref.len += 1 + next16(g);
                break;
            case 1: /* more than any memory */
                ref.len = (uint64_t)1 << (30 + next(g) % 34);
                break;
            case 2: /* no such file */
                ref.fd = 1000000 + (int)next(g);
                break;
            case 3: { /* a FIFO nobody writes to: opening it waits for a writer */
                char path[64];
                snprintf(path, sizeof path, "/tmp/fz-procpool-%d.fifo", (int)getpid());
                unlink(path);
                if (mkfifo(path, 0600) == 0) {
                    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
                    unlink(path);
                    if (fd >= 0) {
                        keep_fd(x, fd);
                        ref.fd = fd;
                    }
                }
                break;
            }
            case 4: /* no such process */
                ref.pid = next(g) % 2 ? 0 : INT32_MAX;
                break;
            default: /* no such worker */
                ref.worker = odd_value(g);
                break;
            }
            memcpy(x->buf + sizeof *h, &ref, sizeof ref);
        } else if (h->kind == WEFT__REC_MULTI_RESULT && payload >= 16) {
            uint64_t len = (uint64_t)odd_value(g) << (next(g) % 2 ? 32 : 0);
            memcpy(x->buf + sizeof *h + 8, &len, 8);
        } else if (payload) {
            x->buf[sizeof *h + next16(g) % payload] ^= (uint8_t)(1 + next(g));
        }
        return n;
    }
    }
}

static int push(run_ctx *x, const void *data, size_t n)
{
    int rc = weft__procpool_push_result(x->ex, data, n);
    if (rc == WEFT_EFULL) {
        weft__procpool_drain(x->ex);
        rc = weft__procpool_push_result(x->ex, data, n);
    }
    if (rc != 0 && rc != WEFT_EFULL)
        return fail("push_result: %s", weft_err_name(rc));
    return rc == 0 ? 0 : 1;
}

static int op_answer(run_ctx *x, prog *g, unsigned seed)
{
    unsigned open = 0;
    for (unsigned i = 0; i < x->ntaken; i++)
        open += !x->tk[i].answered;
    if (!open)
        return 0;
    unsigned pick = next(g) % open, i = 0;
    for (;; i++)
        if (!x->tk[i].answered && pick-- == 0)
            break;
    taken *t = &x->tk[i];
    bool wrong = next(g) % 3 == 0, wild = false;
    want w = {0};
    chunk *c = NULL;
    size_t n;
    if (t->e.from == FROM_TASK) {
        n = answer_task(x, g, t, &w, seed);
    } else if (t->e.from == FROM_MAP) {
        c = &x->maps[t->e.idx].ch[t->e.c];
        n = answer_multi(x, g, t, wrong, seed);
    } else {
        c = &x->fixed.ch[t->e.c];
        n = answer_fixed(x, g, t, seed);
    }
    if (!n) {
        free(w.data);
        return -1;
    }
    if (wrong)
        n = mutate(x, g, n, &wild);
    int rc = push(x, x->buf, n);
    if (rc != 0) {
        free(w.data);
        return rc < 0 ? -1 : 0; /* no room: not answered */
    }
    t->answered = true;
    x->wild |= wild;
    enum answered a = wrong ? WRONG : EXACT;
    if (t->e.from == FROM_TASK) {
        task *k = &x->tasks[t->e.idx];
        free(k->w.data);
        k->w = w;
        k->ans = a;
    } else {
        c->ans = a;
    }
    return 0;
}

static int op_raw(run_ctx *x, prog *g)
{
    size_t n = next(g) % 97;
    for (size_t i = 0; i < n; i++)
        x->buf[i] = (uint8_t)next(g);
    x->wild = true;
    return push(x, x->buf, n) < 0 ? -1 : 0;
}

/* ---------------------------------------------------------------- checking */

/* A future is done within 2 s (a thread waiting on the pool's futures may
 * be completing it). */
static bool ends(weft_future *f)
{
    int rc = weft_future_exception(f, 2.0);
    return rc != WEFT_ETIMEDOUT || weft_future_done(f);
}

/* The outcome of a done future is sane: a readable result, or a negative
 * code with a string message. Its result (the caller's) is freed. */
static volatile size_t sink; /* what is read to be checked, kept */

static int sane(weft_future *f, const char *what, bool may_have_result)
{
    void *res = NULL;
    int code = weft_future_result(f, &res, 0);
    if (code > 0 || (code == WEFT_ETIMEDOUT && !weft_future_done(f)))
        return fail("%s: outcome %d", what, code);
    if (code == 0) {
        weft_bytes *b = res;
        if (!b)
            return 0;
        for (size_t i = 0; i < b->len; i++) /* every byte: ASan sees a short one */
            sink += b->data[i];
        int rc = b->data[b->len] == 0 ? 0 : fail("%s: a result without its NUL", what);
        weft_bytes_free(b);
        if (!may_have_result && !rc)
            rc = fail("%s: a map chunk's future with a result", what);
        return rc;
    }
    const char *msg = weft_future_message(f);
    if (msg)
        sink += strlen(msg);
    return 0;
}

static int same(const want *w, int code, const char *msg, const weft_bytes *b,
                const char *what)
{
    if (code != w->code)
        return fail("%s: %s, the answer said %s", what, weft_err_name(code),
                    weft_err_name(w->code));
    if (code != 0) {
        size_t mlen = msg ? strlen(msg) : 0;
        if (mlen != w->len || (mlen && memcmp(msg, w->data, mlen) != 0))
            return fail("%s: message of %zu bytes, the answer said %zu", what, mlen, w->len);
        return 0;
    }
    if (!w->has)
        return b ? fail("%s: a result of %zu bytes, the answer said none", what, b->len) : 0;
    if (!b || b->len != w->len || (w->len && memcmp(b->data, w->data, w->len) != 0) ||
        b->data[b->len] != 0)
        return fail("%s: result of %zu bytes, the answer said %zu", what, b ? b->len : 0,
                    w->len);
    return 0;
}

/* Check a task's outcome; its result is freed. `final`: the pool is
 * terminated, so every future must be done. */
static int check_task(run_ctx *x, task *t, bool final)
{
    if (t->checked || (!final && (t->ans != EXACT || x->wild)))
        return 0;
    if (!ends(t->f))
        return fail("task %td: never completed", t - x->tasks);
    t->checked = true;
    if (t->ans != EXACT || x->wild)
        return sane(t->f, "task", true);
    void *res = NULL;
    int code = weft_future_result(t->f, &res, 0);
    int rc = same(&t->w, code, weft_future_message(t->f), res, "task");
    weft_bytes_free(res);
    return rc;
}

static int check_chunk(run_ctx *x, bmap *m, unsigned c, bool final)
{
    chunk *ch = &m->ch[c];
    weft_future *f = m->run.fs[c];
    if (ch->checked || (!final && (ch->ans != EXACT || x->wild)))
        return 0;
    if (!ends(f))
        return fail("map chunk %u: never completed", c);
    ch->checked = true;
    if (ch->ans != EXACT || x->wild)
        return sane(f, "map chunk", false);
    int code = weft_future_exception(f, 0);
    if (same(&ch->w, code, weft_future_message(f), NULL, "map chunk") != 0)
        return -1;
    for (size_t k = 0; k < ch->done; k++) {
        size_t i = ch->first + k;
        if (same(&m->items[i], 0, NULL, m->results[i], "map item") != 0)
            return -1;
        if (!m->run.ok[i])
            return fail("map item %zu: not marked done", i);
    }
    return sane(f, "map chunk", false);
}

/* No record reached the items of a chunk nobody answered. */
static int untouched(const run_ctx *x)
{
    for (unsigned i = 0; i < x->nmaps; i++) {
        const bmap *m = &x->maps[i];
        for (unsigned c = 0; c < m->run.nchunks; c++) {
            const chunk *ch = &m->ch[c];
            for (size_t k = ch->first; ch->ans == NOT_ANSWERED && k < ch->first + ch->count; k++)
                if (m->results[k] || m->run.ok[k])
                    return fail("map item %zu: written before its chunk was answered", k);
        }
    }
    return 0;
}

static int op_drain(run_ctx *x)
{
    weft__procpool_drain(x->ex);
    if (!x->wild && untouched(x) != 0)
        return -1;
    for (unsigned i = 0; i < x->ntasks; i++)
        if (check_task(x, &x->tasks[i], false) != 0)
            return -1;
    for (unsigned i = 0; i < x->nmaps; i++)
        for (unsigned c = 0; c < x->maps[i].run.nchunks; c++)
            if (check_chunk(x, &x->maps[i], c, false) != 0)
                return -1;
    return 0;
}

/* After the fixed-size map returned: its code and its outputs. */
static int check_fixed(run_ctx *x)
{
    fmap *f = &x->fixed;
    if (!f->started || x->wild)
        return 0;
    /* Its code: the first chunk's, in order, that failed (or that nobody
     * answered, cancelled by the termination). */
    int expected = 0;
    bool known = true;
    for (size_t c = 0; c < f->nchunks && !expected && known; c++) {
        if (f->ch[c].ans == NOT_ANSWERED)
            expected = WEFT_ECANCELLED;
        else if (f->ch[c].ans == WRONG)
            known = false;
        else
            expected = f->ch[c].w.code;
    }
    if (f->taken_items < f->n && !expected)
        known = false; /* chunks never taken (the map stopped early) */
    if (known && f->rc != expected)
        return fail("fixed-size map: %s, the answers say %s", weft_err_name(f->rc),
                    weft_err_name(expected));
    /* Each output: written by its own chunk's answer, or not at all. */
    uint8_t *own = x->scratch;
    for (size_t c = 0; c < f->nchunks; c++) {
        const chunk *ch = &f->ch[c];
        if (ch->ans == WRONG)
            continue;
        size_t len = ch->count * f->out_size;
        if (len > sizeof x->scratch)
            return fail("fixed chunk too big to check");
        pattern(own, ch->done * f->out_size, ch->seed);
        memset(own + ch->done * f->out_size, 0xee, len - ch->done * f->out_size);
        const uint8_t *out = f->out + ch->first * f->out_size;
        for (size_t i = 0; i < len; i++)
            if (out[i] != own[i] && out[i] != 0xee)
                return fail("fixed-size map: output byte %zu of chunk %zu written wrong",
                            i, c);
    }
    return 0;
}

/* ------------------------------------------------------------- the program */

enum op { OP_SUBMIT, OP_MAP, OP_FIXED, OP_TAKE, OP_ANSWER, OP_RAW, OP_DRAIN, NOPS };

static int step(run_ctx *x, prog *g, unsigned seed)
{
    weft__rec h;
    switch ((enum op)(next(g) % NOPS)) {
    case OP_SUBMIT:
        return op_submit(x, g, seed);
    case OP_MAP:
        return op_map(x, g, seed);
    case OP_FIXED:
        return op_fixed(x, g, seed);
    case OP_TAKE:
        for (unsigned k = 1 + next(g) % 4; k > 0; k--) {
            int rc = take_one(x, &h);
            if (rc)
                return rc < 0 ? -1 : 0;
        }
        return 0;
    case OP_ANSWER:
        return op_answer(x, g, seed);
    case OP_RAW:
        return op_raw(x, g);
    default:
        return op_drain(x);
    }
}

/* Terminate; then every future must be done, and is checked. */
static int finish(run_ctx *x, int rc)
{
    if (x->ex) {
        weft__procpool_drain(x->ex);
        weft__procpool_terminate(x->ex);
    }
    fmap *f = &x->fixed;
    if (f->started) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += 5;
        if (pthread_timedjoin_np(f->thread, NULL, &ts) != 0) {
            fail("the fixed-size map never returned");
            abort(); /* its thread cannot be cleaned up */
        }
        if (rc == 0)
            rc = check_fixed(x);
    }
    for (unsigned i = 0; i < x->ntasks; i++) {
        task *t = &x->tasks[i];
        if (rc == 0)
            rc = check_task(x, t, true);
        else if (!t->checked && weft_future_done(t->f) && weft_future_exception(t->f, 0) == 0) {
            void *res = NULL;
            weft_future_result(t->f, &res, 0);
            weft_bytes_free(res);
        }
        weft_future_unref(t->f);
        weft_bytes_free(t->arg);
        free(t->w.data);
    }
    for (unsigned i = 0; i < x->nmaps; i++) {
        bmap *m = &x->maps[i];
        for (unsigned c = 0; c < m->run.nchunks; c++) {
            if (rc == 0)
                rc = check_chunk(x, m, c, true);
            free(m->ch[c].w.data);
        }
        weft__procpool_map_end(&m->run, false);
        for (size_t k = 0; k < m->n; k++) {
            weft_bytes_free(m->args[k]);
            if (m->results)
                weft_bytes_free(m->results[k]);
            free(m->items[k].data);
        }
        free(m->results);
    }
    for (size_t c = 0; c < f->nchunks; c++)
        free(f->ch[c].w.data);
    free(f->in);
    free(f->out);
    weft_executor_free(x->ex);
    for (unsigned i = 0; i < x->nfds; i++)
        close(x->fds[i]);
    return rc;
}

int fz_procpool_records(const uint8_t *data, size_t size)
{
    prog g = {data, data + size};
    run_ctx *x = calloc(1, sizeof *x);
    if (!x)
        return fail("out of memory");
    unsigned conf = next(&g);
    x->cap = conf & 1 ? 8192 : 4096;
    x->workers = 1 + (conf >> 1) % 2;
    weft_process_pool_opts o = {.max_workers = x->workers, .ring_bytes = x->cap};
    int rc = weft__procpool_new_bare(&x->ex, &o);
    if (rc) {
        free(x);
        return fail("new_bare: %s", weft_err_name(rc));
    }
    for (cur_step = 0; rc == 0 && g.p < g.end; cur_step++)
        rc = step(x, &g, cur_step + 1);
    if (rc == 0)
        rc = op_drain(x);
    rc = finish(x, rc);
    free(x);
    return rc;
}
