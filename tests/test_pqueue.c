/* weft_pqueue: order and sizes, the ring wrapping, bounded puts and timed
 * gets, many producer and consumer processes losing and duplicating
 * nothing, JoinableQueue, a consumer killed while it holds the lock in the
 * middle of a get, a child's free, bad input.
 *
 * Children report through their exit status (0: every check passed) and
 * through queues and pipes; their arguments live in handle memory and
 * their tallies in shared memory, so they work under every start method.
 * Nothing waits by sleeping: a test that needs a child stopped inside a get
 * stops it there with a hook and learns so through a pipe. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "internal/share.h"
#include "wt.h"
#include "wt_process.h"

/* In src/process/pqueue.c: called with the queue's lock held, inside a get after
 * the copy and before the commit (1), inside a commit once its journal is
 * written and before it is applied (2). */
extern void (*weft__pqueue_hook)(int where);

static weft_pqueue *new_queue(size_t maxsize, size_t capacity, bool joinable)
{
    weft_pqueue_opts o = {.maxsize = maxsize, .capacity = capacity, .joinable = joinable};
    weft_pqueue *q = NULL;
    WT_OK(weft_pqueue_new(&q, &o));
    return q;
}

static void get_str(weft_pqueue *q, const char *want)
{
    char buf[256];
    size_t len = 0;
    WT_OK(weft_pqueue_get(q, buf, sizeof buf, &len, WEFT_FOREVER));
    ck_assert_uint_eq(len, strlen(want));
    ck_assert(memcmp(buf, want, len) == 0);
}

START_TEST(pqueue_basic)
{
    weft_pqueue *q;
    WT_OK(weft_pqueue_new(&q, NULL));
    ck_assert_uint_eq(weft_pqueue_max_item(q), WEFT_PQUEUE_DEFAULT_CAPACITY - 8);
    ck_assert(weft_pqueue_empty(q));
    ck_assert(!weft_pqueue_full(q));
    WT_OK(weft_pqueue_put(q, "one", 3, 0));
    WT_OK(weft_pqueue_put(q, NULL, 0, 0));
    WT_OK(weft_pqueue_put(q, "three", 5, WEFT_FOREVER));
    ck_assert_uint_eq(weft_pqueue_qsize(q), 3);
    ck_assert(!weft_pqueue_empty(q));
    get_str(q, "one");
    /* The empty item, into no buffer; then one too big for the buffer,
     * which stays first. */
    size_t len = 9;
    WT_OK(weft_pqueue_get(q, NULL, 0, &len, 0));
    ck_assert_uint_eq(len, 0);
    char buf[4];
    WT_ERR(weft_pqueue_get(q, buf, 4, &len, 0), WEFT_EMSGSIZE);
    ck_assert_uint_eq(len, 5);
    ck_assert_uint_eq(weft_pqueue_qsize(q), 1);
    void *p = NULL;
    WT_OK(weft_pqueue_get_alloc(q, &p, &len, 0));
    ck_assert_uint_eq(len, 5);
    ck_assert(memcmp(p, "three", 5) == 0);
    free(p);
    WT_ERR(weft_pqueue_get(q, buf, 4, &len, 0), WEFT_ETIMEDOUT);
    WT_OK(weft_pqueue_put(q, NULL, 0, 0));
    p = NULL;
    WT_OK(weft_pqueue_get_alloc(q, &p, &len, 0));
    ck_assert_uint_eq(len, 0);
    ck_assert_ptr_nonnull(p);
    free(p);
    weft_pqueue_free(q);
}
END_TEST

/* A small ring, items of every size from 0 to 40 bytes in a long run: the
 * records and their bytes wrap around the ring's end many times. */
START_TEST(pqueue_wraps)
{
    weft_pqueue *q = new_queue(0, 100, false); /* rounded up to 128 */
    ck_assert_uint_eq(weft_pqueue_max_item(q), 120);
    unsigned char in[64], out[64];
    unsigned next_in = 0, next_out = 0;
    for (int round = 0; round < 2000; round++) {
        size_t n = (size_t)(round % 41);
        for (size_t i = 0; i < n; i++)
            in[i] = (unsigned char)(next_in + i);
        int rc = weft_pqueue_put(q, in, n, 0);
        if (rc == WEFT_ETIMEDOUT) {
            /* Make room: take the oldest and check it. */
            size_t len;
            WT_OK(weft_pqueue_get(q, out, sizeof out, &len, 0));
            for (size_t i = 0; i < len; i++)
                ck_assert_uint_eq(out[i], (unsigned char)(next_out + i));
            next_out += (unsigned)len * 7 + 1;
            round--;
            continue;
        }
        WT_OK(rc);
        next_in += (unsigned)n * 7 + 1;
    }
    size_t len;
    while (weft_pqueue_get(q, out, sizeof out, &len, 0) == 0) {
        for (size_t i = 0; i < len; i++)
            ck_assert_uint_eq(out[i], (unsigned char)(next_out + i));
        next_out += (unsigned)len * 7 + 1;
    }
    ck_assert_uint_eq(next_in, next_out);
    weft_pqueue_free(q);
}
END_TEST

START_TEST(pqueue_bounded_put_timeout)
{
    /* Bounded by count. */
    weft_pqueue *q = new_queue(2, 0, false);
    WT_OK(weft_pqueue_put(q, "a", 1, 0));
    WT_OK(weft_pqueue_put(q, "b", 1, 0));
    ck_assert(weft_pqueue_full(q));
    WT_ERR(weft_pqueue_put(q, "c", 1, 0), WEFT_ETIMEDOUT);
    WT_ERR(weft_pqueue_put(q, "c", 1, 0), WEFT_ETIMEDOUT);
    double t0 = weft_monotonic();
    WT_ERR(weft_pqueue_put(q, "c", 1, 0.02), WEFT_ETIMEDOUT);
    ck_assert(weft_monotonic() - t0 >= 0.019);
    get_str(q, "a");
    WT_OK(weft_pqueue_put(q, "c", 1, 0));
    get_str(q, "b");
    get_str(q, "c");
    weft_pqueue_free(q);

    /* Bounded by bytes: 64 of ring, one 50-byte item fills it. */
    q = new_queue(0, 64, false);
    char big[56] = {0};
    WT_ERR(weft_pqueue_put(q, big, 57, 0), WEFT_EMSGSIZE);
    WT_OK(weft_pqueue_put(q, big, 50, 0));
    ck_assert(!weft_pqueue_full(q)); /* full() counts items only */
    WT_ERR(weft_pqueue_put(q, NULL, 0, 0), WEFT_ETIMEDOUT);
    WT_ERR(weft_pqueue_put(q, "x", 1, 0.01), WEFT_ETIMEDOUT);
    ck_assert_uint_eq(weft_pqueue_qsize(q), 1);
    weft_pqueue_free(q);
}
END_TEST

START_TEST(pqueue_get_timeout)
{
    weft_pqueue *q = new_queue(0, 0, false);
    char buf[8];
    size_t len = 77;
    void *p = NULL;
    WT_ERR(weft_pqueue_get(q, buf, sizeof buf, &len, 0), WEFT_ETIMEDOUT);
    WT_ERR(weft_pqueue_get(q, buf, sizeof buf, &len, 0), WEFT_ETIMEDOUT);
    double t0 = weft_monotonic();
    WT_ERR(weft_pqueue_get(q, buf, sizeof buf, &len, 0.02), WEFT_ETIMEDOUT);
    ck_assert(weft_monotonic() - t0 >= 0.019);
    WT_ERR(weft_pqueue_get_alloc(q, &p, &len, 0.001), WEFT_ETIMEDOUT);
    ck_assert_ptr_null(p);
    ck_assert_uint_eq(len, 77);
    weft_pqueue_free(q);
}
END_TEST

/* ---- the seeds' producer and consumer, across processes ---- */

struct pc {
    weft_pqueue *q, *back;
};

/* Child: gets items until an empty one, answers each with its double on
 * back; blocks in get while the parent has nothing to say. */
static int doubler_child(void *arg)
{
    struct pc *a = arg;
    for (;;) {
        uint64_t v;
        size_t len;
        if (weft_pqueue_get(a->q, &v, sizeof v, &len, WEFT_FOREVER) != 0)
            return 1;
        if (len == 0)
            return 0;
        v *= 2;
        if (weft_pqueue_put(a->back, &v, sizeof v, WEFT_FOREVER) != 0)
            return 2;
    }
}

static void pqueue_across_processes(void)
{
    struct pc *a = weft__handle_alloc(sizeof *a);
    a->q = new_queue(0, 0, false);
    a->back = new_queue(1, 0, false); /* the child blocks in put too */
    weft_process *p = spawn(doubler_child, a);
    for (uint64_t i = 1; i <= 1000; i++)
        WT_OK(weft_pqueue_put(a->q, &i, sizeof i, WEFT_FOREVER));
    WT_OK(weft_pqueue_put(a->q, NULL, 0, WEFT_FOREVER));
    for (uint64_t i = 1; i <= 1000; i++) {
        uint64_t v;
        size_t len;
        WT_OK(weft_pqueue_get(a->back, &v, sizeof v, &len, WEFT_FOREVER));
        ck_assert_uint_eq(len, sizeof v);
        ck_assert_uint_eq(v, 2 * i);
    }
    ck_assert_int_eq(reap(p), 0);
    weft_pqueue_free(a->q);
    weft_pqueue_free(a->back);
    weft__handle_free(a);
}
BOTH(pqueue_across_processes)

/* ---- 4 producers, 4 consumers: no item lost, none twice ---- */

#define NPROD 4
#define NCONS 4
#define PER_PRODUCER 20000

struct item {
    uint32_t producer, seq;
    unsigned char pad[24]; /* 0..24 bytes of it are sent */
};

struct mpmc {
    weft_pqueue *q;
    uint32_t *seen; /* shared: NPROD * PER_PRODUCER counters */
    uint32_t id;
};

static int producer_child(void *arg)
{
    struct mpmc *m = arg;
    for (uint32_t i = 0; i < PER_PRODUCER; i++) {
        struct item it = {.producer = m->id, .seq = i};
        size_t extra = (i * 7 + m->id) % 25;
        memset(it.pad, (int)(i & 0xff), extra);
        if (weft_pqueue_put(m->q, &it, 8 + extra, WEFT_FOREVER) != 0)
            return 1;
    }
    return 0;
}

static int consumer_child(void *arg)
{
    struct mpmc *m = arg;
    for (;;) {
        struct item it;
        size_t len;
        if (weft_pqueue_get(m->q, &it, sizeof it, &len, WEFT_FOREVER) != 0)
            return 1;
        if (len == 0)
            return 0; /* the end marker: one per consumer */
        if (len < 8 || it.producer >= NPROD || it.seq >= PER_PRODUCER)
            return 2;
        if (len != 8 + (it.seq * 7 + it.producer) % 25)
            return 3;
        for (size_t i = 0; i < len - 8; i++)
            if (it.pad[i] != (unsigned char)(it.seq & 0xff))
                return 4;
        __atomic_fetch_add(&m->seen[it.producer * PER_PRODUCER + it.seq], 1, __ATOMIC_RELAXED);
    }
}

static void pqueue_4_producers_4_consumers(void)
{
    /* A small ring and a count bound: producers block on both. */
    weft_pqueue *q = new_queue(64, 1024, false);
    uint32_t *seen = weft__shared_alloc(sizeof *seen * NPROD * PER_PRODUCER);
    ck_assert_ptr_nonnull(seen);
    weft_process *prod[NPROD], *cons[NCONS];
    struct mpmc *args = weft__handle_alloc(sizeof *args * (NPROD + NCONS));
    for (int i = 0; i < NCONS; i++) {
        args[i] = (struct mpmc){.q = q, .seen = seen, .id = (uint32_t)i};
        cons[i] = spawn(consumer_child, &args[i]);
    }
    for (int i = 0; i < NPROD; i++) {
        args[NCONS + i] = (struct mpmc){.q = q, .seen = seen, .id = (uint32_t)i};
        prod[i] = spawn(producer_child, &args[NCONS + i]);
    }
    for (int i = 0; i < NPROD; i++)
        ck_assert_int_eq(reap(prod[i]), 0);
    for (int i = 0; i < NCONS; i++)
        WT_OK(weft_pqueue_put(q, NULL, 0, WEFT_FOREVER));
    for (int i = 0; i < NCONS; i++)
        ck_assert_int_eq(reap(cons[i]), 0);
    for (int i = 0; i < NPROD * PER_PRODUCER; i++)
        ck_assert_msg(seen[i] == 1, "item %d of producer %d got %u times", i % PER_PRODUCER,
                      i / PER_PRODUCER, seen[i]);
    ck_assert(weft_pqueue_empty(q));
    weft__handle_free(args);
    weft__shared_free(seen);
    weft_pqueue_free(q);
}
BOTH(pqueue_4_producers_4_consumers)

/* ---- JoinableQueue ---- */

/* Child: gets three items, marks each done, then frees its handle (which
 * must leave the parent's queue alone). */
static int worker_child(void *arg)
{
    weft_pqueue *q = arg;
    for (int i = 0; i < 3; i++) {
        char buf[8];
        size_t len;
        if (weft_pqueue_get(q, buf, sizeof buf, &len, WEFT_FOREVER) != 0)
            return 1;
        if (weft_pqueue_task_done(q) != 0)
            return 2;
    }
    weft_pqueue_free(q);
    return 0;
}

static void pqueue_joinable(void)
{
    weft_pqueue *q = new_queue(0, 0, true);
    WT_OK(weft_pqueue_join(q, 0)); /* nothing put yet */
    WT_ERR(weft_pqueue_task_done(q), WEFT_EOVERFLOW);
    WT_OK(weft_pqueue_put(q, "a", 1, 0));
    WT_OK(weft_pqueue_put(q, "b", 1, 0));
    WT_OK(weft_pqueue_put(q, "c", 1, 0));
    WT_ERR(weft_pqueue_join(q, 0), WEFT_ETIMEDOUT);
    WT_ERR(weft_pqueue_join(q, 0.01), WEFT_ETIMEDOUT);
    weft_process *p = spawn(worker_child, q);
    WT_OK(weft_pqueue_join(q, WEFT_FOREVER));
    ck_assert_int_eq(reap(p), 0);
    /* The child's free released only its handle. */
    ck_assert(weft_pqueue_empty(q));
    WT_OK(weft_pqueue_put(q, "d", 1, 0));
    get_str(q, "d");
    WT_ERR(weft_pqueue_join(q, 0), WEFT_ETIMEDOUT);
    WT_OK(weft_pqueue_task_done(q));
    WT_OK(weft_pqueue_join(q, 0));
    WT_ERR(weft_pqueue_task_done(q), WEFT_EOVERFLOW);
    weft_pqueue_free(q);

    /* A plain Queue has no task tracking. */
    q = new_queue(0, 0, false);
    WT_OK(weft_pqueue_put(q, "a", 1, 0));
    WT_ERR(weft_pqueue_task_done(q), WEFT_ESTATE);
    WT_ERR(weft_pqueue_join(q, 0), WEFT_ESTATE);
    weft_pqueue_free(q);
}
BOTH(pqueue_joinable)

/* ---- a consumer killed in the middle of a get ---- */

static weft_conn *g_stall_conn;
static int g_stall_where;

/* The hook, in the child: at the chosen point, say "inside" and block for
 * good with the queue's lock held. */
static void stall_in_get(int where)
{
    if (where != g_stall_where)
        return;
    weft_conn_send_bytes(g_stall_conn, "inside", 6, WEFT_FOREVER);
    char c;
    size_t len;
    for (;;)
        weft_conn_recv_bytes(g_stall_conn, &c, 1, &len, WEFT_FOREVER);
}

struct killed {
    weft_pqueue *q;
    weft_conn *parent_end, *child_end;
    int where;
};

static int stalled_consumer_child(void *arg)
{
    struct killed *k = arg;
    weft_conn_close(k->parent_end);
    g_stall_conn = k->child_end;
    g_stall_where = k->where;
    weft__pqueue_hook = stall_in_get;
    char buf[16];
    size_t len;
    weft_pqueue_get(k->q, buf, sizeof buf, &len, WEFT_FOREVER);
    return 1; /* never reached */
}

/* A consumer stopped inside its get at `where`, then killed: returns the
 * queue, which holds "first" (unless the get committed) and "second". */
static weft_pqueue *kill_consumer_at(int where)
{
    struct killed *k = weft__handle_alloc(sizeof *k);
    k->q = new_queue(0, 0, true);
    k->where = where;
    WT_OK(weft_pipe(&k->parent_end, &k->child_end, true));
    WT_OK(weft_pqueue_put(k->q, "first", 5, 0));
    WT_OK(weft_pqueue_put(k->q, "second", 6, 0));
    weft_process *p = spawn(stalled_consumer_child, k);
    char buf[8];
    size_t len;
    WT_OK(weft_conn_recv_bytes(k->parent_end, buf, sizeof buf, &len, WEFT_FOREVER));
    ck_assert_uint_eq(len, 6);
    /* The child holds the lock now, inside its get: a timeout still ends
     * a call that waits for it. */
    WT_ERR(weft_pqueue_get(k->q, buf, sizeof buf, &len, 0.01), WEFT_ETIMEDOUT);
    WT_ERR(weft_pqueue_join(k->q, 0.01), WEFT_ETIMEDOUT);
    WT_OK(weft_process_kill(p));
    ck_assert_int_eq(reap(p), -9);
    weft_pqueue *q = k->q;
    weft_conn_free(k->parent_end);
    weft_conn_free(k->child_end);
    weft__handle_free(k);
    return q;
}

static void pqueue_killed_consumer(void)
{
    /* Killed after its copy, before its commit: the get never happened.
     * The queue is not wedged and the first item is still first. */
    weft_pqueue *q = kill_consumer_at(1);
    ck_assert_uint_eq(weft_pqueue_qsize(q), 2);
    get_str(q, "first");
    get_str(q, "second");
    WT_OK(weft_pqueue_put(q, "third", 5, 0));
    get_str(q, "third");
    for (int i = 0; i < 3; i++)
        WT_OK(weft_pqueue_task_done(q));
    WT_OK(weft_pqueue_join(q, 0));
    weft_pqueue_free(q);
}
BOTH(pqueue_killed_consumer)

static void pqueue_killed_in_commit(void)
{
    /* Killed half-way through its commit (journal written, state not yet
     * updated): the next locker finishes the commit. The get happened
     * (its caller never saw it: the item is gone with the process, as with
     * a consumer killed just after its get returned); the state is whole. */
    weft_pqueue *q = kill_consumer_at(2);
    get_str(q, "second"); /* the first lock repairs (qsize does not lock) */
    ck_assert_uint_eq(weft_pqueue_qsize(q), 0);
    WT_ERR(weft_pqueue_get(q, NULL, 0, &(size_t){0}, 0), WEFT_ETIMEDOUT);
    WT_OK(weft_pqueue_put(q, "third", 5, 0));
    get_str(q, "third");
    /* Three puts, two task_done owed by the living consumer (this test),
     * one by the dead one: join waits for it as Python's would. */
    WT_OK(weft_pqueue_task_done(q));
    WT_OK(weft_pqueue_task_done(q));
    WT_ERR(weft_pqueue_join(q, 0), WEFT_ETIMEDOUT);
    WT_OK(weft_pqueue_task_done(q));
    WT_OK(weft_pqueue_join(q, 0));
    weft_pqueue_free(q);
}
BOTH(pqueue_killed_in_commit)

START_TEST(pqueue_bad_input)
{
    weft_pqueue *q;
    WT_ERR(weft_pqueue_new(NULL, NULL), WEFT_EINVAL);
    weft_pqueue_opts huge = {.capacity = (size_t)1 << 41};
    WT_ERR(weft_pqueue_new(&q, &huge), WEFT_EINVAL);
    WT_OK(weft_pqueue_new(&q, NULL));
    char buf[4];
    size_t len;
    void *p = NULL;
    WT_ERR(weft_pqueue_put(NULL, "x", 1, 0), WEFT_EINVAL);
    WT_ERR(weft_pqueue_put(q, NULL, 1, 0), WEFT_EINVAL);
    WT_ERR(weft_pqueue_put(q, "x", 1, -1.5), WEFT_EINVAL);
    WT_ERR(weft_pqueue_put(q, "x", 1, NAN), WEFT_EINVAL);
    WT_ERR(weft_pqueue_put(NULL, "x", 1, 0), WEFT_EINVAL);
    WT_ERR(weft_pqueue_put(q, NULL, 2, 0), WEFT_EINVAL);
    WT_ERR(weft_pqueue_get(NULL, buf, 4, &len, 0), WEFT_EINVAL);
    WT_ERR(weft_pqueue_get(q, NULL, 4, &len, 0), WEFT_EINVAL);
    WT_ERR(weft_pqueue_get(q, buf, 4, NULL, 0), WEFT_EINVAL);
    WT_ERR(weft_pqueue_get(q, buf, 4, &len, -2), WEFT_EINVAL);
    WT_ERR(weft_pqueue_get(q, buf, 4, &len, NAN), WEFT_EINVAL);
    WT_ERR(weft_pqueue_get(NULL, buf, 4, &len, 0), WEFT_EINVAL);
    WT_ERR(weft_pqueue_get(q, buf, 4, NULL, 0), WEFT_EINVAL);
    WT_ERR(weft_pqueue_get_alloc(NULL, &p, &len, 0), WEFT_EINVAL);
    WT_ERR(weft_pqueue_get_alloc(q, NULL, &len, 0), WEFT_EINVAL);
    WT_ERR(weft_pqueue_get_alloc(q, &p, NULL, 0), WEFT_EINVAL);
    WT_ERR(weft_pqueue_get_alloc(q, &p, &len, NAN), WEFT_EINVAL);
    WT_ERR(weft_pqueue_task_done(NULL), WEFT_EINVAL);
    WT_ERR(weft_pqueue_join(NULL, 0), WEFT_EINVAL);
    WT_ERR(weft_pqueue_join(q, NAN), WEFT_EINVAL);
    WT_ERR(weft_pqueue_close(NULL), WEFT_EINVAL);
    ck_assert_uint_eq(weft_pqueue_qsize(NULL), 0);
    ck_assert(weft_pqueue_empty(NULL));
    ck_assert(!weft_pqueue_full(NULL));
    ck_assert_uint_eq(weft_pqueue_max_item(NULL), 0);
    /* Closed in this process: every call is refused. */
    WT_OK(weft_pqueue_put(q, "x", 1, 0));
    WT_OK(weft_pqueue_close(q));
    WT_OK(weft_pqueue_close(q)); /* twice: harmless */
    WT_ERR(weft_pqueue_put(q, "x", 1, 0), WEFT_ESTATE);
    WT_ERR(weft_pqueue_put(q, "x", 1, 0), WEFT_ESTATE);
    WT_ERR(weft_pqueue_get(q, buf, 4, &len, 0), WEFT_ESTATE);
    WT_ERR(weft_pqueue_get(q, buf, 4, &len, 0), WEFT_ESTATE);
    WT_ERR(weft_pqueue_get_alloc(q, &p, &len, 0), WEFT_ESTATE);
    WT_ERR(weft_pqueue_task_done(q), WEFT_ESTATE);
    WT_ERR(weft_pqueue_join(q, 0), WEFT_ESTATE);
    ck_assert_uint_eq(weft_pqueue_qsize(q), 0);
    ck_assert_ptr_null(p);
    weft_pqueue_free(q);
    weft_pqueue_free(NULL);
}
END_TEST

WT_MAIN("pqueue", 60, pqueue_basic, pqueue_wraps, pqueue_bounded_put_timeout,
        pqueue_get_timeout, pqueue_across_processes_fork, pqueue_across_processes_forkserver,
        pqueue_4_producers_4_consumers_fork, pqueue_4_producers_4_consumers_forkserver,
        pqueue_joinable_fork, pqueue_joinable_forkserver, pqueue_killed_consumer_fork,
        pqueue_killed_consumer_forkserver, pqueue_killed_in_commit_fork,
        pqueue_killed_in_commit_forkserver, pqueue_bad_input)
