/* weft_queue: order per kind, bounds, blocking and timeouts, task_done/join,
 * shutdown, SimpleQueue, errors, and the seed producer/consumer. */
#include <math.h>
#include <pthread.h>
#include <stdint.h>

#include "wt.h"

#define ITEM(v) ((void *)(uintptr_t)(v))
#define VAL(p) ((uintptr_t)(p))

/* ---- a helper thread that does one blocking call, with its wait slot ---- */

enum op { OP_PUT, OP_GET, OP_JOIN, OP_PUT_TIMEOUT, OP_GET_TIMEOUT };

typedef struct worker {
    weft_queue *q;
    enum op op;
    void *item;      /* OP_PUT: what to put; OP_GET: what was got */
    double timeout;
    weft__wait_slot slot;
    int rc;
    int done;
    pthread_t t;
} worker;

static void *worker_main(void *arg)
{
    worker *w = arg;
    weft__my_wait_slot = &w->slot;
    switch (w->op) {
    case OP_PUT:
        w->rc = weft_queue_put(w->q, w->item, WEFT_FOREVER);
        break;
    case OP_PUT_TIMEOUT:
        w->rc = weft_queue_put(w->q, w->item, w->timeout);
        break;
    case OP_GET:
        w->rc = weft_queue_get(w->q, &w->item, WEFT_FOREVER);
        break;
    case OP_GET_TIMEOUT:
        w->rc = weft_queue_get(w->q, &w->item, w->timeout);
        break;
    case OP_JOIN:
        w->rc = weft_queue_join(w->q, w->timeout);
        break;
    }
    __atomic_store_n(&w->done, 1, __ATOMIC_RELEASE);
    return NULL;
}

/* Start the call and return once it is parked on the queue. */
static void start_parked(worker *w, weft_queue *q, enum op op, void *item, double timeout)
{
    *w = (worker){.q = q, .op = op, .item = item, .timeout = timeout, .rc = 1};
    ck_assert_int_eq(pthread_create(&w->t, NULL, worker_main, w), 0);
    wt_wait_until_parked(&w->slot, WEFT_WAIT_QUEUE);
    ck_assert_ptr_eq(__atomic_load_n(&w->slot.what, __ATOMIC_ACQUIRE), q);
}

static int finish(worker *w)
{
    ck_assert_int_eq(pthread_join(w->t, NULL), 0);
    return w->rc;
}

static bool is_parked(worker *w)
{
    return !__atomic_load_n(&w->done, __ATOMIC_ACQUIRE) &&
           __atomic_load_n(&w->slot.why, __ATOMIC_ACQUIRE) == WEFT_WAIT_QUEUE;
}

static void *get_ok(weft_queue *q)
{
    void *x = ITEM(0xdead);
    WT_OK(weft_queue_get(q, &x, 0));
    return x;
}

/* ---- order ---- */

START_TEST(fifo_order_and_growth)
{
    weft_queue *q;
    WT_OK(weft_queue_new(&q, 0));
    ck_assert(weft_queue_empty(q));
    ck_assert(!weft_queue_full(q));
    ck_assert_uint_eq(weft_queue_maxsize(q), 0);
    uintptr_t next_put = 1, next_get = 1;
    /* Keep the ring's head moving so growth happens while it wraps. */
    for (int round = 0; round < 50; round++) {
        for (int i = 0; i < 7 + round; i++)
            WT_OK(weft_queue_put(q, ITEM(next_put++), WEFT_FOREVER));
        for (int i = 0; i < 5; i++)
            ck_assert_uint_eq(VAL(get_ok(q)), next_get++);
        ck_assert_uint_eq(weft_queue_qsize(q), next_put - next_get);
    }
    while (next_get < next_put) {
        void *x;
        WT_OK(weft_queue_get(q, &x, WEFT_FOREVER));
        ck_assert_uint_eq(VAL(x), next_get++);
    }
    ck_assert(weft_queue_empty(q));
    void *x;
    WT_ERR(weft_queue_get(q, &x, 0), WEFT_ETIMEDOUT);
    /* NULL is an item like any other. */
    WT_OK(weft_queue_put(q, NULL, WEFT_FOREVER));
    x = ITEM(1);
    WT_OK(weft_queue_get(q, &x, WEFT_FOREVER));
    ck_assert_ptr_null(x);
    weft_queue_free(q);
}
END_TEST

START_TEST(lifo_order)
{
    weft_queue *q;
    WT_OK(weft_lifo_queue_new(&q, 0));
    for (uintptr_t i = 1; i <= 100; i++)
        WT_OK(weft_queue_put(q, ITEM(i), WEFT_FOREVER));
    ck_assert_uint_eq(weft_queue_qsize(q), 100);
    for (uintptr_t i = 100; i >= 51; i--)
        ck_assert_uint_eq(VAL(get_ok(q)), i);
    WT_OK(weft_queue_put(q, ITEM(1000), WEFT_FOREVER));
    ck_assert_uint_eq(VAL(get_ok(q)), 1000);
    for (uintptr_t i = 50; i >= 1; i--)
        ck_assert_uint_eq(VAL(get_ok(q)), i);
    ck_assert(weft_queue_empty(q));
    weft_queue_free(q);
}
END_TEST

typedef struct prio_item {
    int prio;
    int id;
} prio_item;

static int cmp_prio(const void *a, const void *b, void *ctx)
{
    int *calls = ctx;
    (*calls)++;
    const prio_item *x = a, *y = b;
    return (x->prio > y->prio) - (x->prio < y->prio);
}

START_TEST(priority_order_and_ties)
{
    enum { N = 500 };
    static prio_item items[N];
    int calls = 0;
    weft_queue *q;
    WT_OK(weft_priority_queue_new(&q, 0, cmp_prio, &calls));
    /* Few distinct priorities, scrambled: many ties. */
    for (int i = 0; i < N; i++) {
        items[i] = (prio_item){.prio = (i * 7919) % 13, .id = i};
        WT_OK(weft_queue_put(q, &items[i], WEFT_FOREVER));
    }
    ck_assert_int_gt(calls, 0); /* ctx reaches the comparator */
    ck_assert_uint_eq(weft_queue_qsize(q), N);
    const prio_item *prev = NULL;
    for (int i = 0; i < N; i++) {
        const prio_item *p = get_ok(q);
        if (prev) {
            ck_assert_int_le(prev->prio, p->prio);
            if (prev->prio == p->prio)
                ck_assert_msg(prev->id < p->id, "tie out of insertion order: %d before %d",
                              prev->id, p->id);
        }
        prev = p;
    }
    ck_assert(weft_queue_empty(q));
    /* Interleaved puts and gets keep the order. */
    prio_item a = {5, 0}, b = {1, 1}, c = {5, 2}, d = {0, 3}, e = {5, 4};
    WT_OK(weft_queue_put(q, &a, WEFT_FOREVER));
    WT_OK(weft_queue_put(q, &b, WEFT_FOREVER));
    WT_OK(weft_queue_put(q, &c, WEFT_FOREVER));
    ck_assert_ptr_eq(get_ok(q), &b);
    WT_OK(weft_queue_put(q, &d, WEFT_FOREVER));
    WT_OK(weft_queue_put(q, &e, WEFT_FOREVER));
    ck_assert_ptr_eq(get_ok(q), &d);
    ck_assert_ptr_eq(get_ok(q), &a);
    ck_assert_ptr_eq(get_ok(q), &c);
    ck_assert_ptr_eq(get_ok(q), &e);
    weft_queue_free(q);
}
END_TEST

/* ---- bounds and blocking ---- */

/* Python's Queue(maxsize=-1) (any maxsize <= 0) is unbounded: the same
 * value in a size_t is SIZE_MAX, which no queue reaches, for every kind. */
START_TEST(negative_maxsize_is_unbounded)
{
    weft_queue *q[3];
    WT_OK(weft_queue_new(&q[0], (size_t)-1));
    WT_OK(weft_lifo_queue_new(&q[1], (size_t)-1));
    WT_OK(weft_queue_new(&q[2], 0));
    for (int k = 0; k < 3; k++) {
        for (uintptr_t i = 0; i < 1000; i++)
            WT_OK(weft_queue_put(q[k], ITEM(i), 0));
        ck_assert(!weft_queue_full(q[k]));
        ck_assert_uint_eq(weft_queue_qsize(q[k]), 1000);
        void *x;
        for (int i = 0; i < 1000; i++)
            WT_OK(weft_queue_get(q[k], &x, 0));
        weft_queue_free(q[k]);
    }
}
END_TEST

START_TEST(bounded_full_and_timeouts)
{
    weft_queue *q;
    WT_OK(weft_queue_new(&q, 2));
    ck_assert_uint_eq(weft_queue_maxsize(q), 2);
    WT_OK(weft_queue_put(q, ITEM(1), 0));
    WT_OK(weft_queue_put(q, ITEM(2), 0));
    ck_assert(weft_queue_full(q));
    WT_ERR(weft_queue_put(q, ITEM(3), 0), WEFT_ETIMEDOUT);
    WT_ERR(weft_queue_put(q, ITEM(3), 0), WEFT_ETIMEDOUT);
    double t0 = weft_monotonic();
    WT_ERR(weft_queue_put(q, ITEM(3), 0.02), WEFT_ETIMEDOUT);
    ck_assert(weft_monotonic() - t0 >= 0.02);
    ck_assert_uint_eq(weft_queue_qsize(q), 2);
    ck_assert_uint_eq(VAL(get_ok(q)), 1);
    ck_assert(!weft_queue_full(q));
    WT_OK(weft_queue_put(q, ITEM(3), 1));
    ck_assert_uint_eq(VAL(get_ok(q)), 2);
    ck_assert_uint_eq(VAL(get_ok(q)), 3);
    /* Empty: the get forms. */
    void *x = ITEM(7);
    WT_ERR(weft_queue_get(q, &x, 0), WEFT_ETIMEDOUT);
    WT_ERR(weft_queue_get(q, &x, 0), WEFT_ETIMEDOUT);
    t0 = weft_monotonic();
    WT_ERR(weft_queue_get(q, &x, 0.02), WEFT_ETIMEDOUT);
    ck_assert(weft_monotonic() - t0 >= 0.02);
    ck_assert_uint_eq(VAL(x), 7); /* untouched on failure */
    /* Bounded LIFO and priority queues too. */
    weft_queue *l;
    WT_OK(weft_lifo_queue_new(&l, 1));
    WT_OK(weft_queue_put(l, ITEM(1), WEFT_FOREVER));
    WT_ERR(weft_queue_put(l, ITEM(2), 0), WEFT_ETIMEDOUT);
    weft_queue_free(l);
    int calls = 0;
    prio_item a = {1, 1}, b = {2, 2};
    WT_OK(weft_priority_queue_new(&l, 1, cmp_prio, &calls));
    WT_OK(weft_queue_put(l, &a, WEFT_FOREVER));
    WT_ERR(weft_queue_put(l, &b, 0.001), WEFT_ETIMEDOUT);
    weft_queue_free(l);
    weft_queue_free(q);
}
END_TEST

START_TEST(put_blocks_until_get)
{
    weft_queue *q;
    WT_OK(weft_queue_new(&q, 1));
    WT_OK(weft_queue_put(q, ITEM(1), WEFT_FOREVER));
    worker w;
    start_parked(&w, q, OP_PUT, ITEM(2), 0);
    ck_assert(is_parked(&w));
    ck_assert_uint_eq(weft_queue_qsize(q), 1);
    void *x;
    WT_OK(weft_queue_get(q, &x, WEFT_FOREVER));
    ck_assert_uint_eq(VAL(x), 1);
    WT_OK(finish(&w));
    WT_OK(weft_queue_get(q, &x, WEFT_FOREVER));
    ck_assert_uint_eq(VAL(x), 2);
    /* The timed form, woken in time. */
    WT_OK(weft_queue_put(q, ITEM(3), WEFT_FOREVER));
    start_parked(&w, q, OP_PUT_TIMEOUT, ITEM(4), 30);
    ck_assert_uint_eq(VAL(get_ok(q)), 3);
    WT_OK(finish(&w));
    ck_assert_uint_eq(VAL(get_ok(q)), 4);
    weft_queue_free(q);
}
END_TEST

START_TEST(get_blocks_until_put)
{
    weft_queue *q;
    WT_OK(weft_queue_new(&q, 0));
    worker w;
    start_parked(&w, q, OP_GET, NULL, 0);
    ck_assert(is_parked(&w));
    WT_OK(weft_queue_put(q, ITEM(42), WEFT_FOREVER));
    WT_OK(finish(&w));
    ck_assert_uint_eq(VAL(w.item), 42);
    ck_assert(weft_queue_empty(q));
    start_parked(&w, q, OP_GET_TIMEOUT, NULL, 30);
    WT_OK(weft_queue_put(q, ITEM(43), WEFT_FOREVER));
    WT_OK(finish(&w));
    ck_assert_uint_eq(VAL(w.item), 43);
    weft_queue_free(q);
}
END_TEST

/* One put wakes one getter; n puts wake n getters, each with its own item. */
START_TEST(each_put_wakes_a_getter)
{
    enum { N = 4 };
    weft_queue *q;
    WT_OK(weft_queue_new(&q, 0));
    worker w[N];
    for (int i = 0; i < N; i++)
        start_parked(&w[i], q, OP_GET, NULL, 0);
    WT_OK(weft_queue_put(q, ITEM(1), WEFT_FOREVER));
    /* Exactly one of them returns. */
    int done = 0;
    while (done == 0)
        for (int i = 0; i < N; i++)
            done += __atomic_load_n(&w[i].done, __ATOMIC_ACQUIRE);
    for (uintptr_t i = 2; i <= N; i++)
        WT_OK(weft_queue_put(q, ITEM(i), WEFT_FOREVER));
    unsigned seen = 0;
    for (int i = 0; i < N; i++) {
        WT_OK(finish(&w[i]));
        seen |= 1u << VAL(w[i].item);
    }
    ck_assert_uint_eq(seen, 0x1e);
    ck_assert(weft_queue_empty(q));
    weft_queue_free(q);
}
END_TEST

/* A put into an empty queue with getters parked hands the item to the
 * oldest getter: the item never takes room in the queue (qsize stays 0, a
 * bounded queue keeps its room), and getters get items in the order they
 * parked. */
START_TEST(put_hands_item_to_parked_getter)
{
    enum { N = 3 };
    weft_queue *q;
    WT_OK(weft_queue_new(&q, 1));
    worker w[N];
    for (int i = 0; i < N; i++)
        start_parked(&w[i], q, i == 1 ? OP_GET_TIMEOUT : OP_GET, NULL, 30);
    for (uintptr_t i = 0; i < N; i++) {
        WT_OK(weft_queue_put(q, ITEM(10 + i), WEFT_FOREVER));
        ck_assert_uint_eq(weft_queue_qsize(q), 0);
    }
    /* Room is left: none of the items took it. */
    WT_OK(weft_queue_put(q, ITEM(99), 0));
    ck_assert(weft_queue_full(q));
    for (int i = 0; i < N; i++) {
        WT_OK(finish(&w[i]));
        ck_assert_uint_eq(VAL(w[i].item), 10 + (uintptr_t)i);
    }
    ck_assert_uint_eq(VAL(get_ok(q)), 99);
    weft_queue_free(q);
}
END_TEST

/* A handed item counts as put for join: join waits for its task_done. */
START_TEST(handed_item_counts_for_join)
{
    weft_queue *q;
    WT_OK(weft_queue_new(&q, 0));
    worker w;
    start_parked(&w, q, OP_GET, NULL, 0);
    WT_OK(weft_queue_put(q, ITEM(5), WEFT_FOREVER));
    ck_assert_int_eq(weft_queue_join(q, 0), WEFT_ETIMEDOUT);
    WT_OK(finish(&w));
    ck_assert_uint_eq(VAL(w.item), 5);
    ck_assert_int_eq(weft_queue_join(q, 0), WEFT_ETIMEDOUT);
    WT_OK(weft_queue_task_done(q));
    WT_OK(weft_queue_join(q, 0));
    ck_assert_int_eq(weft_queue_task_done(q), WEFT_EOVERFLOW);
    weft_queue_free(q);
}
END_TEST

/* A getter that timed out is not handed anything: the next put goes into
 * the queue. */
START_TEST(timed_out_getter_not_handed)
{
    weft_queue *q;
    WT_OK(weft_queue_new(&q, 0));
    worker w;
    start_parked(&w, q, OP_GET_TIMEOUT, NULL, 0.02);
    ck_assert_int_eq(finish(&w), WEFT_ETIMEDOUT);
    WT_OK(weft_queue_put(q, ITEM(7), WEFT_FOREVER));
    ck_assert_uint_eq(weft_queue_qsize(q), 1);
    ck_assert_uint_eq(VAL(get_ok(q)), 7);
    weft_queue_free(q);
}
END_TEST

/* A get on a bounded queue wakes one parked putter per item got. */
START_TEST(each_get_wakes_a_putter)
{
    enum { N = 3 };
    weft_queue *q;
    WT_OK(weft_queue_new(&q, 1));
    WT_OK(weft_queue_put(q, ITEM(0), WEFT_FOREVER));
    worker w[N];
    for (int i = 0; i < N; i++)
        start_parked(&w[i], q, OP_PUT, ITEM(i + 1), 0);
    unsigned seen = 0;
    for (int i = 0; i <= N; i++) {
        void *x;
        WT_OK(weft_queue_get(q, &x, WEFT_FOREVER));
        seen |= 1u << VAL(x);
    }
    for (int i = 0; i < N; i++)
        WT_OK(finish(&w[i]));
    ck_assert_uint_eq(seen, 0xf);
    ck_assert(weft_queue_empty(q));
    weft_queue_free(q);
}
END_TEST

/* ---- task_done / join ---- */

START_TEST(task_done_and_join)
{
    weft_queue *q;
    WT_OK(weft_queue_new(&q, 0));
    WT_OK(weft_queue_join(q, 0)); /* nothing put: done at once */
    WT_OK(weft_queue_join(q, WEFT_FOREVER));
    WT_ERR(weft_queue_task_done(q), WEFT_EOVERFLOW);
    WT_OK(weft_queue_put(q, ITEM(1), WEFT_FOREVER));
    WT_OK(weft_queue_put(q, ITEM(2), WEFT_FOREVER));
    WT_ERR(weft_queue_join(q, 0), WEFT_ETIMEDOUT);
    double t0 = weft_monotonic();
    WT_ERR(weft_queue_join(q, 0.02), WEFT_ETIMEDOUT);
    ck_assert(weft_monotonic() - t0 >= 0.02);
    get_ok(q);
    WT_OK(weft_queue_task_done(q));
    WT_ERR(weft_queue_join(q, 0), WEFT_ETIMEDOUT);
    /* task_done counts items put, not items got (as Python). */
    WT_OK(weft_queue_task_done(q));
    WT_OK(weft_queue_join(q, 0));
    WT_ERR(weft_queue_task_done(q), WEFT_EOVERFLOW);
    /* The failed task_done changed nothing: one more put needs one more done. */
    WT_OK(weft_queue_put(q, ITEM(3), WEFT_FOREVER));
    WT_ERR(weft_queue_join(q, 0), WEFT_ETIMEDOUT);
    WT_OK(weft_queue_task_done(q));
    WT_OK(weft_queue_join(q, 0));
    ck_assert_uint_eq(weft_queue_qsize(q), 2);
    weft_queue_free(q);
}
END_TEST

START_TEST(join_completes_after_last_task_done)
{
    weft_queue *q;
    WT_OK(weft_lifo_queue_new(&q, 0));
    for (int i = 0; i < 3; i++)
        WT_OK(weft_queue_put(q, ITEM(i), WEFT_FOREVER));
    worker j[2];
    start_parked(&j[0], q, OP_JOIN, NULL, WEFT_FOREVER);
    start_parked(&j[1], q, OP_JOIN, NULL, 60);
    for (int i = 0; i < 3; i++)
        get_ok(q);
    WT_OK(weft_queue_task_done(q));
    WT_OK(weft_queue_task_done(q));
    ck_assert(is_parked(&j[0]) && is_parked(&j[1]));
    WT_OK(weft_queue_task_done(q));
    WT_OK(finish(&j[0]));
    WT_OK(finish(&j[1]));
    WT_ERR(weft_queue_task_done(q), WEFT_EOVERFLOW);
    weft_queue_free(q);
}
END_TEST

START_TEST(join_timeout_parked)
{
    weft_queue *q;
    WT_OK(weft_queue_new(&q, 0));
    WT_OK(weft_queue_put(q, ITEM(1), WEFT_FOREVER));
    /* Not start_parked: the wait may end before we would see it parked. */
    worker j = {.q = q, .op = OP_JOIN, .timeout = 0.05, .rc = 1};
    ck_assert_int_eq(pthread_create(&j.t, NULL, worker_main, &j), 0);
    WT_ERR(finish(&j), WEFT_ETIMEDOUT);
    /* The timed-out joiner left no trace: a later join still works. */
    WT_OK(weft_queue_task_done(q));
    WT_OK(weft_queue_join(q, 0));
    weft_queue_free(q);
}
END_TEST

/* ---- shutdown ---- */

START_TEST(shutdown_wakes_getters)
{
    enum { N = 3 };
    weft_queue *q;
    WT_OK(weft_queue_new(&q, 0));
    worker w[N];
    start_parked(&w[0], q, OP_GET, NULL, 0);
    start_parked(&w[1], q, OP_GET, NULL, 0);
    start_parked(&w[2], q, OP_GET_TIMEOUT, NULL, 60);
    ck_assert(!weft_queue_is_shutdown(q));
    WT_OK(weft_queue_shutdown(q, false, NULL));
    ck_assert(weft_queue_is_shutdown(q));
    for (int i = 0; i < N; i++)
        WT_ERR(finish(&w[i]), WEFT_ESHUTDOWN);
    weft_queue_free(q);
}
END_TEST

START_TEST(shutdown_wakes_putters)
{
    weft_queue *q;
    WT_OK(weft_queue_new(&q, 1));
    WT_OK(weft_queue_put(q, ITEM(1), WEFT_FOREVER));
    worker w[2];
    start_parked(&w[0], q, OP_PUT, ITEM(2), 0);
    start_parked(&w[1], q, OP_PUT_TIMEOUT, ITEM(3), 60);
    WT_OK(weft_queue_shutdown(q, false, NULL));
    WT_ERR(finish(&w[0]), WEFT_ESHUTDOWN);
    WT_ERR(finish(&w[1]), WEFT_ESHUTDOWN);
    /* The item already in stays to be drained. */
    ck_assert_uint_eq(weft_queue_qsize(q), 1);
    ck_assert_uint_eq(VAL(get_ok(q)), 1);
    weft_queue_free(q);
}
END_TEST

START_TEST(shutdown_drains)
{
    weft_queue *q;
    WT_OK(weft_queue_new(&q, 0));
    for (uintptr_t i = 1; i <= 3; i++)
        WT_OK(weft_queue_put(q, ITEM(i), WEFT_FOREVER));
    WT_OK(weft_queue_shutdown(q, false, NULL));
    WT_OK(weft_queue_shutdown(q, false, NULL)); /* again: harmless */
    WT_ERR(weft_queue_put(q, ITEM(9), WEFT_FOREVER), WEFT_ESHUTDOWN);
    WT_ERR(weft_queue_put(q, ITEM(9), 0), WEFT_ESHUTDOWN);
    WT_ERR(weft_queue_put(q, ITEM(9), 1), WEFT_ESHUTDOWN);
    ck_assert_uint_eq(weft_queue_qsize(q), 3);
    void *x;
    WT_OK(weft_queue_get(q, &x, WEFT_FOREVER));
    ck_assert_uint_eq(VAL(x), 1);
    WT_OK(weft_queue_get(q, &x, 1));
    ck_assert_uint_eq(VAL(x), 2);
    WT_OK(weft_queue_get(q, &x, 0));
    ck_assert_uint_eq(VAL(x), 3);
    WT_ERR(weft_queue_get(q, &x, WEFT_FOREVER), WEFT_ESHUTDOWN);
    WT_ERR(weft_queue_get(q, &x, 0), WEFT_ESHUTDOWN);
    WT_ERR(weft_queue_get(q, &x, 0), WEFT_ESHUTDOWN);
    WT_ERR(weft_queue_get(q, &x, 1), WEFT_ESHUTDOWN);
    /* task_done and join still work after shutdown. */
    for (int i = 0; i < 3; i++)
        WT_OK(weft_queue_task_done(q));
    WT_OK(weft_queue_join(q, 0));
    weft_queue_free(q);
}
END_TEST

static int dropped_sum;
static int dropped_n;

static void drop_item(void *item)
{
    dropped_sum += *(int *)item;
    dropped_n++;
    free(item);
}

START_TEST(shutdown_immediate_drops)
{
    weft_queue *q;
    WT_OK(weft_queue_new(&q, 0));
    for (int i = 1; i <= 5; i++) {
        int *p = malloc(sizeof *p);
        *p = i;
        WT_OK(weft_queue_put(q, p, WEFT_FOREVER));
    }
    /* One item got and not yet done: join must still wait for it. */
    int *first = get_ok(q);
    ck_assert_int_eq(*first, 1);
    worker j, g;
    start_parked(&j, q, OP_JOIN, NULL, WEFT_FOREVER);
    weft_queue *empty;
    WT_OK(weft_queue_new(&empty, 0));
    start_parked(&g, empty, OP_GET, NULL, 0);

    dropped_sum = dropped_n = 0;
    WT_OK(weft_queue_shutdown(q, true, drop_item));
    ck_assert_int_eq(dropped_n, 4);
    ck_assert_int_eq(dropped_sum, 2 + 3 + 4 + 5);
    ck_assert_uint_eq(weft_queue_qsize(q), 0);
    void *x;
    WT_ERR(weft_queue_get(q, &x, WEFT_FOREVER), WEFT_ESHUTDOWN);
    WT_ERR(weft_queue_put(q, ITEM(1), WEFT_FOREVER), WEFT_ESHUTDOWN);
    /* The dropped items count as done; the joiner still waits for `first`. */
    ck_assert(is_parked(&j));
    WT_OK(weft_queue_task_done(q));
    WT_OK(finish(&j));
    free(first);
    WT_ERR(weft_queue_task_done(q), WEFT_EOVERFLOW);

    /* Immediate shutdown with a NULL drop, waking a getter, and immediate
     * after a plain shutdown empties what is left. */
    WT_OK(weft_queue_shutdown(empty, true, NULL));
    WT_ERR(finish(&g), WEFT_ESHUTDOWN);
    weft_queue *r;
    WT_OK(weft_queue_new(&r, 0));
    WT_OK(weft_queue_put(r, ITEM(1), WEFT_FOREVER));
    WT_OK(weft_queue_put(r, ITEM(2), WEFT_FOREVER));
    WT_OK(weft_queue_shutdown(r, false, NULL));
    ck_assert_uint_eq(weft_queue_qsize(r), 2);
    WT_OK(weft_queue_shutdown(r, true, NULL));
    ck_assert_uint_eq(weft_queue_qsize(r), 0);
    WT_OK(weft_queue_join(r, 0));
    weft_queue_free(r);
    weft_queue_free(empty);
    weft_queue_free(q);
}
END_TEST

START_TEST(shutdown_immediate_wakes_joiner)
{
    weft_queue *q;
    int calls = 0;
    WT_OK(weft_priority_queue_new(&q, 0, cmp_prio, &calls));
    prio_item a = {2, 0}, b = {1, 1};
    WT_OK(weft_queue_put(q, &a, WEFT_FOREVER));
    WT_OK(weft_queue_put(q, &b, WEFT_FOREVER));
    worker j;
    start_parked(&j, q, OP_JOIN, NULL, WEFT_FOREVER);
    WT_OK(weft_queue_shutdown(q, true, NULL));
    WT_OK(finish(&j));
    weft_queue_free(q);
}
END_TEST

/* ---- SimpleQueue ---- */

START_TEST(simple_queue)
{
    weft_queue *q;
    WT_OK(weft_simple_queue_new(&q));
    ck_assert_uint_eq(weft_queue_maxsize(q), 0);
    for (uintptr_t i = 0; i < 1000; i++)
        WT_OK(weft_queue_put(q, ITEM(i), WEFT_FOREVER));
    ck_assert(!weft_queue_full(q));
    ck_assert_uint_eq(weft_queue_qsize(q), 1000);
    for (uintptr_t i = 0; i < 1000; i++)
        ck_assert_uint_eq(VAL(get_ok(q)), i);
    WT_ERR(weft_queue_task_done(q), WEFT_ESTATE);
    WT_ERR(weft_queue_join(q, 0), WEFT_ESTATE);
    WT_ERR(weft_queue_join(q, WEFT_FOREVER), WEFT_ESTATE);
    worker w;
    start_parked(&w, q, OP_GET, NULL, 0);
    WT_OK(weft_queue_put(q, ITEM(5), WEFT_FOREVER));
    WT_OK(finish(&w));
    ck_assert_uint_eq(VAL(w.item), 5);
    WT_OK(weft_queue_put(q, ITEM(6), WEFT_FOREVER));
    WT_OK(weft_queue_shutdown(q, false, NULL));
    ck_assert_uint_eq(VAL(get_ok(q)), 6);
    void *x;
    WT_ERR(weft_queue_get(q, &x, WEFT_FOREVER), WEFT_ESHUTDOWN);
    weft_queue_free(q);
}
END_TEST

/* ---- errors ---- */

START_TEST(errors)
{
    weft_queue *q;
    void *x = ITEM(3);
    WT_ERR(weft_queue_new(NULL, 0), WEFT_EINVAL);
    WT_ERR(weft_lifo_queue_new(NULL, 0), WEFT_EINVAL);
    WT_ERR(weft_simple_queue_new(NULL), WEFT_EINVAL);
    WT_ERR(weft_priority_queue_new(&q, 0, NULL, NULL), WEFT_EINVAL);
    WT_ERR(weft_priority_queue_new(NULL, 0, cmp_prio, NULL), WEFT_EINVAL);
    weft_queue_free(NULL);

    WT_ERR(weft_queue_put(NULL, x, WEFT_FOREVER), WEFT_EINVAL);
    WT_ERR(weft_queue_put(NULL, x, 0), WEFT_EINVAL);
    WT_ERR(weft_queue_put(NULL, x, 1), WEFT_EINVAL);
    WT_ERR(weft_queue_get(NULL, &x, WEFT_FOREVER), WEFT_EINVAL);
    WT_ERR(weft_queue_get(NULL, &x, 0), WEFT_EINVAL);
    WT_ERR(weft_queue_get(NULL, &x, 1), WEFT_EINVAL);
    WT_ERR(weft_queue_task_done(NULL), WEFT_EINVAL);
    WT_ERR(weft_queue_join(NULL, 1), WEFT_EINVAL);
    WT_ERR(weft_queue_shutdown(NULL, false, NULL), WEFT_EINVAL);
    ck_assert_uint_eq(weft_queue_qsize(NULL), 0);
    ck_assert(weft_queue_empty(NULL));
    ck_assert(!weft_queue_full(NULL));
    ck_assert_uint_eq(weft_queue_maxsize(NULL), 0);
    ck_assert(!weft_queue_is_shutdown(NULL));

    WT_OK(weft_queue_new(&q, 4));
    WT_OK(weft_queue_put(q, ITEM(1), WEFT_FOREVER));
    WT_ERR(weft_queue_get(q, NULL, WEFT_FOREVER), WEFT_EINVAL);
    WT_ERR(weft_queue_get(q, NULL, 0), WEFT_EINVAL);
    WT_ERR(weft_queue_get(q, NULL, 1), WEFT_EINVAL);
    WT_ERR(weft_queue_get(q, &x, -0.5), WEFT_EINVAL);
    WT_ERR(weft_queue_get(q, &x, NAN), WEFT_EINVAL);
    WT_ERR(weft_queue_put(q, x, -2), WEFT_EINVAL);
    WT_ERR(weft_queue_put(q, x, NAN), WEFT_EINVAL);
    WT_ERR(weft_queue_join(q, -3), WEFT_EINVAL);
    WT_ERR(weft_queue_join(q, NAN), WEFT_EINVAL);
    /* None of the failures changed the queue. */
    ck_assert_uint_eq(VAL(x), 3);
    ck_assert_uint_eq(weft_queue_qsize(q), 1);
    ck_assert(!weft_queue_is_shutdown(q));
    ck_assert_uint_eq(VAL(get_ok(q)), 1);
    WT_OK(weft_queue_task_done(q));
    WT_OK(weft_queue_join(q, 0));
    /* WEFT_FOREVER and +inf are valid timeouts. */
    WT_OK(weft_queue_put(q, ITEM(2), INFINITY));
    WT_OK(weft_queue_get(q, &x, WEFT_FOREVER));
    weft_queue_free(q);
}
END_TEST

/* ---- the seed example: one producer, three consumers, a sentinel each ---- */

#define CONSUMERS 3
#define ITEMS 3000
#define SENTINEL ITEM(UINTPTR_MAX)

typedef struct consumer {
    weft_queue *q;
    uintptr_t sum;
    int count;
} consumer;

static void *consume(void *arg)
{
    consumer *c = arg;
    for (;;) {
        void *x;
        if (weft_queue_get(c->q, &x, WEFT_FOREVER) != 0)
            break;
        if (x == SENTINEL) {
            weft_queue_task_done(c->q);
            break;
        }
        c->sum += VAL(x);
        c->count++;
        weft_queue_task_done(c->q);
    }
    return NULL;
}

static void *produce(void *arg)
{
    weft_queue *q = arg;
    for (uintptr_t i = 1; i <= ITEMS; i++)
        if (weft_queue_put(q, ITEM(i), WEFT_FOREVER) != 0)
            return ITEM(1);
    return NULL;
}

START_TEST(seed_producer_consumers)
{
    weft_queue *q;
    WT_OK(weft_queue_new(&q, 10));
    consumer c[CONSUMERS];
    pthread_t ct[CONSUMERS], pt;
    for (int i = 0; i < CONSUMERS; i++) {
        c[i] = (consumer){.q = q};
        ck_assert_int_eq(pthread_create(&ct[i], NULL, consume, &c[i]), 0);
    }
    ck_assert_int_eq(pthread_create(&pt, NULL, produce, q), 0);
    void *prc;
    ck_assert_int_eq(pthread_join(pt, &prc), 0);
    ck_assert_ptr_null(prc);
    for (int i = 0; i < CONSUMERS; i++)
        WT_OK(weft_queue_put(q, SENTINEL, WEFT_FOREVER));
    WT_OK(weft_queue_join(q, WEFT_FOREVER));
    uintptr_t sum = 0;
    int count = 0;
    for (int i = 0; i < CONSUMERS; i++) {
        ck_assert_int_eq(pthread_join(ct[i], NULL), 0);
        sum += c[i].sum;
        count += c[i].count;
    }
    ck_assert_int_eq(count, ITEMS);
    ck_assert_uint_eq(sum, (uintptr_t)ITEMS * (ITEMS + 1) / 2);
    ck_assert(weft_queue_empty(q));
    weft_queue_free(q);
}
END_TEST

WT_MAIN("queue", 10, fifo_order_and_growth, lifo_order, priority_order_and_ties,
        bounded_full_and_timeouts, put_blocks_until_get, get_blocks_until_put,
        each_put_wakes_a_getter, put_hands_item_to_parked_getter, handed_item_counts_for_join,
        timed_out_getter_not_handed, each_get_wakes_a_putter, task_done_and_join,
        join_completes_after_last_task_done, join_timeout_parked, shutdown_wakes_getters,
        shutdown_wakes_putters, shutdown_drains, shutdown_immediate_drops,
        shutdown_immediate_wakes_joiner, simple_queue, errors, seed_producer_consumers,
        negative_maxsize_is_unbounded)
