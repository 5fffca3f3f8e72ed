/* weft_queue under load: 8 producers and 8 consumers on one queue, for each
 * kind. Conservation: every item put is got exactly once (a per-item mark),
 * and the count and the sum agree; join returns once every item is done. */
#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include "wt.h"

#define PRODUCERS 8
#define CONSUMERS 8
#define PER_PRODUCER 20000
#define TOTAL (PRODUCERS * PER_PRODUCER)
#define SENTINEL ((void *)(uintptr_t)UINTPTR_MAX)

enum mode { BLOCKING, TIMED, POLLING };

typedef struct shared {
    weft_queue *q;
    enum mode mode;
    int kind;
    unsigned char seen[TOTAL + 1];
    int dup;             /* an item got twice, or out of range */
    int failed;          /* an unexpected return code */
    int next_producer;
} shared;

typedef struct consumer {
    shared *s;
    uint64_t sum;
    long count;
} consumer;

static int put_item(shared *s, void *x)
{
    for (;;) {
        int rc;
        switch (s->mode) {
        case TIMED:
            rc = weft_queue_put(s->q, x, 0.0005);
            if (rc == WEFT_ETIMEDOUT)
                continue;
            return rc;
        case POLLING:
            rc = weft_queue_put(s->q, x, 0);
            if (rc == WEFT_ETIMEDOUT) {
                sched_yield();
                continue;
            }
            return rc;
        default:
            return weft_queue_put(s->q, x, WEFT_FOREVER);
        }
    }
}

static int get_item(shared *s, void **x)
{
    for (;;) {
        int rc;
        switch (s->mode) {
        case TIMED:
            rc = weft_queue_get(s->q, x, 0.0005);
            if (rc == WEFT_ETIMEDOUT)
                continue;
            return rc;
        case POLLING:
            rc = weft_queue_get(s->q, x, 0);
            if (rc == WEFT_ETIMEDOUT) {
                sched_yield();
                continue;
            }
            return rc;
        default:
            return weft_queue_get(s->q, x, WEFT_FOREVER);
        }
    }
}

static void *producer(void *arg)
{
    shared *s = arg;
    int p = __atomic_fetch_add(&s->next_producer, 1, __ATOMIC_RELAXED);
    for (uintptr_t i = 1; i <= PER_PRODUCER; i++) {
        uintptr_t v = (uintptr_t)p * PER_PRODUCER + i; /* 1..TOTAL */
        if (put_item(s, (void *)v) != 0)
            __atomic_store_n(&s->failed, 1, __ATOMIC_RELAXED);
    }
    return NULL;
}

static void *consumer_main(void *arg)
{
    consumer *c = arg;
    shared *s = c->s;
    for (;;) {
        void *x;
        if (get_item(s, &x) != 0) {
            __atomic_store_n(&s->failed, 1, __ATOMIC_RELAXED);
            return NULL;
        }
        bool sentinel = x == SENTINEL;
        if (!sentinel) {
            uintptr_t v = (uintptr_t)x;
            if (v == 0 || v > TOTAL ||
                __atomic_exchange_n(&s->seen[v], 1, __ATOMIC_RELAXED) != 0)
                __atomic_store_n(&s->dup, 1, __ATOMIC_RELAXED);
            c->sum += v;
            c->count++;
        }
        if (s->kind != 3 && weft_queue_task_done(s->q) != 0)
            __atomic_store_n(&s->failed, 1, __ATOMIC_RELAXED);
        if (sentinel)
            return NULL;
    }
}

static int cmp_value(const void *a, const void *b, void *ctx)
{
    uintptr_t x = (uintptr_t)a, y = (uintptr_t)b;
    /* A coarse key, so that ties are frequent. */
    x %= 97;
    y %= 97;
    return (x > y) - (x < y);
}

/* kind: 0 FIFO, 1 LIFO, 2 priority, 3 simple. */
static void run(int kind, size_t maxsize, enum mode mode)
{
    static shared s;
    memset(&s, 0, sizeof s);
    s.mode = mode;
    s.kind = kind;
    switch (kind) {
    case 0:
        WT_OK(weft_queue_new(&s.q, maxsize));
        break;
    case 1:
        WT_OK(weft_lifo_queue_new(&s.q, maxsize));
        break;
    case 2:
        WT_OK(weft_priority_queue_new(&s.q, maxsize, cmp_value, NULL));
        break;
    default:
        WT_OK(weft_simple_queue_new(&s.q));
        break;
    }
    pthread_t pt[PRODUCERS], ct[CONSUMERS];
    consumer c[CONSUMERS];
    for (int i = 0; i < CONSUMERS; i++) {
        c[i] = (consumer){.s = &s};
        ck_assert_int_eq(pthread_create(&ct[i], NULL, consumer_main, &c[i]), 0);
    }
    for (int i = 0; i < PRODUCERS; i++)
        ck_assert_int_eq(pthread_create(&pt[i], NULL, producer, &s), 0);
    for (int i = 0; i < PRODUCERS; i++)
        ck_assert_int_eq(pthread_join(pt[i], NULL), 0);
    /* One sentinel per consumer: a consumer takes at most one, since it
     * stops there. A LIFO or priority queue may hand a sentinel out before
     * items still queued, so every consumer could stop with items left:
     * with task tracking, wait for every item to be done first. */
    if (kind != 3)
        WT_OK(weft_queue_join(s.q, WEFT_FOREVER));
    for (int i = 0; i < CONSUMERS; i++)
        ck_assert_int_eq(put_item(&s, SENTINEL), 0);
    if (kind != 3)
        WT_OK(weft_queue_join(s.q, WEFT_FOREVER));
    uint64_t sum = 0;
    long count = 0;
    for (int i = 0; i < CONSUMERS; i++) {
        ck_assert_int_eq(pthread_join(ct[i], NULL), 0);
        sum += c[i].sum;
        count += c[i].count;
    }
    ck_assert_int_eq(s.failed, 0);
    ck_assert_int_eq(s.dup, 0);
    ck_assert_int_eq(count, TOTAL);
    ck_assert_uint_eq(sum, (uint64_t)TOTAL * (TOTAL + 1) / 2);
    ck_assert(weft_queue_empty(s.q));
    if (kind != 3) {
        WT_OK(weft_queue_join(s.q, 0));
        WT_ERR(weft_queue_task_done(s.q), WEFT_EOVERFLOW);
    }
    weft_queue_free(s.q);
}

START_TEST(stress_fifo_bounded) { run(0, 16, BLOCKING); }
END_TEST
START_TEST(stress_lifo_bounded) { run(1, 16, BLOCKING); }
END_TEST
START_TEST(stress_priority_bounded) { run(2, 16, BLOCKING); }
END_TEST
START_TEST(stress_fifo_unbounded) { run(0, 0, BLOCKING); }
END_TEST
START_TEST(stress_simple) { run(3, 0, BLOCKING); }
END_TEST
START_TEST(stress_fifo_bounded_tiny) { run(0, 1, BLOCKING); }
END_TEST
START_TEST(stress_fifo_timed) { run(0, 4, TIMED); }
END_TEST
START_TEST(stress_fifo_polling) { run(0, 4, POLLING); }
END_TEST

/* Shutdown racing with blocked producers and consumers: every call ends, no
 * item is got twice, and what was got plus what was dropped is what was put. */
static long race_dropped;

static void count_drop(void *item)
{
    __atomic_fetch_add(&race_dropped, 1, __ATOMIC_RELAXED);
}

typedef struct racer {
    weft_queue *q;
    long puts, gets;
} racer;

static void *race_put(void *arg)
{
    racer *r = arg;
    while (weft_queue_put(r->q, (void *)1, WEFT_FOREVER) == 0)
        r->puts++;
    return NULL;
}

static void *race_get(void *arg)
{
    racer *r = arg;
    void *x;
    while (weft_queue_get(r->q, &x, WEFT_FOREVER) == 0)
        r->gets++;
    return NULL;
}

START_TEST(stress_shutdown_race)
{
    for (int round = 0; round < 20; round++) {
        weft_queue *q;
        WT_OK(weft_queue_new(&q, 8));
        racer r[8];
        pthread_t t[8];
        for (int i = 0; i < 8; i++) {
            r[i] = (racer){.q = q};
            ck_assert_int_eq(pthread_create(&t[i], NULL, i % 2 ? race_get : race_put, &r[i]), 0);
        }
        /* Let some traffic through first. */
        while (weft_queue_qsize(q) == 0)
            sched_yield();
        race_dropped = 0;
        bool immediate = round % 2;
        WT_OK(weft_queue_shutdown(q, immediate, count_drop));
        long puts = 0, gets = 0;
        for (int i = 0; i < 8; i++) {
            ck_assert_int_eq(pthread_join(t[i], NULL), 0);
            puts += r[i].puts;
            gets += r[i].gets;
        }
        ck_assert_int_eq(puts, gets + race_dropped + (long)weft_queue_qsize(q));
        if (!immediate)
            ck_assert_int_eq(weft_queue_qsize(q), 0); /* the getters drained it */
        weft_queue_free(q);
    }
}
END_TEST

WT_MAIN("queue_stress", 30, stress_fifo_bounded, stress_lifo_bounded, stress_priority_bounded,
        stress_fifo_unbounded, stress_simple, stress_fifo_bounded_tiny, stress_fifo_timed,
        stress_fifo_polling, stress_shutdown_race)
