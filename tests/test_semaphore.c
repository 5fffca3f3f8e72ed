/* weft_semaphore: counting, bounds, errors, FIFO hand-off, exclusion. */
#include <pthread.h>
#include <sched.h>

#include "internal/park.h"
#include "wt.h"

#define PARKED 1u /* src/sync/semaphore.c: waiters may be parked */

START_TEST(semaphore_basic)
{
    weft_semaphore s = WEFT_SEMAPHORE_INIT(2);
    ck_assert_uint_eq(weft_semaphore_value(&s), 2);
    WT_OK(weft_semaphore_acquire(&s, WEFT_FOREVER));
    WT_OK(weft_semaphore_acquire(&s, 0));
    ck_assert_uint_eq(weft_semaphore_value(&s), 0);
    WT_ERR(weft_semaphore_acquire(&s, 0), WEFT_ETIMEDOUT);
    WT_ERR(weft_semaphore_acquire(&s, 0), WEFT_ETIMEDOUT);
    WT_OK(weft_semaphore_release(&s));
    WT_OK(weft_semaphore_acquire(&s, 0));
    WT_OK(weft_semaphore_release_n(&s, 5));
    ck_assert_uint_eq(weft_semaphore_value(&s), 5);
    WT_OK(weft_semaphore_acquire(&s, WEFT_FOREVER));
    ck_assert_uint_eq(weft_semaphore_value(&s), 4);
    weft_semaphore_destroy(&s);

    weft_semaphore z;
    WT_OK(weft_semaphore_init(&z, 0));
    WT_ERR(weft_semaphore_acquire(&z, 0), WEFT_ETIMEDOUT);
    WT_OK(weft_semaphore_init(&z, WEFT_SEMAPHORE_MAX));
    ck_assert_uint_eq(weft_semaphore_value(&z), WEFT_SEMAPHORE_MAX);
}
END_TEST

START_TEST(semaphore_errors)
{
    weft_semaphore s;
    WT_ERR(weft_semaphore_init(&s, WEFT_SEMAPHORE_MAX + 1u), WEFT_EINVAL);
    WT_ERR(weft_bounded_semaphore_init(&s, WEFT_SEMAPHORE_MAX + 1u), WEFT_EINVAL);
    WT_OK(weft_semaphore_init(&s, 1));
    WT_ERR(weft_semaphore_init(NULL, 1), WEFT_EINVAL);
    WT_ERR(weft_bounded_semaphore_init(NULL, 1), WEFT_EINVAL);
    weft_semaphore_destroy(NULL); /* harmless */
    WT_ERR(weft_semaphore_acquire(NULL, WEFT_FOREVER), WEFT_EINVAL);
    WT_ERR(weft_semaphore_acquire(NULL, 0), WEFT_EINVAL);
    WT_ERR(weft_semaphore_acquire(NULL, 1), WEFT_EINVAL);
    WT_ERR(weft_semaphore_release(NULL), WEFT_EINVAL);
    WT_ERR(weft_semaphore_release_n(NULL, 1), WEFT_EINVAL);
    WT_ERR(weft_semaphore_release_n(&s, 0), WEFT_EINVAL);
    WT_ERR(weft_semaphore_acquire(&s, -1.5), WEFT_EINVAL);
    WT_ERR(weft_semaphore_acquire(&s, 0.0 / 0.0), WEFT_EINVAL);
    ck_assert_uint_eq(weft_semaphore_value(NULL), 0);
    /* Nothing above changed the value. */
    ck_assert_uint_eq(weft_semaphore_value(&s), 1);
    /* Even an unbounded semaphore stops at WEFT_SEMAPHORE_MAX. */
    WT_OK(weft_semaphore_init(&s, WEFT_SEMAPHORE_MAX - 1));
    WT_ERR(weft_semaphore_release_n(&s, 2), WEFT_EOVERFLOW);
    WT_OK(weft_semaphore_release(&s));
    WT_ERR(weft_semaphore_release(&s), WEFT_EOVERFLOW);
    ck_assert_uint_eq(weft_semaphore_value(&s), WEFT_SEMAPHORE_MAX);
}
END_TEST

START_TEST(bounded_semaphore_over_release)
{
    weft_semaphore s = WEFT_BOUNDED_SEMAPHORE_INIT(2);
    WT_ERR(weft_semaphore_release(&s), WEFT_EOVERFLOW);
    ck_assert_uint_eq(weft_semaphore_value(&s), 2);
    WT_OK(weft_semaphore_acquire(&s, WEFT_FOREVER));
    WT_ERR(weft_semaphore_release_n(&s, 2), WEFT_EOVERFLOW);
    ck_assert_uint_eq(weft_semaphore_value(&s), 1);
    WT_OK(weft_semaphore_release(&s));
    ck_assert_uint_eq(weft_semaphore_value(&s), 2);
    WT_OK(weft_semaphore_acquire(&s, WEFT_FOREVER));
    WT_OK(weft_semaphore_acquire(&s, WEFT_FOREVER));
    WT_ERR(weft_semaphore_release_n(&s, 3), WEFT_EOVERFLOW);
    ck_assert_uint_eq(weft_semaphore_value(&s), 0);
    WT_OK(weft_semaphore_release_n(&s, 2));
    ck_assert_uint_eq(weft_semaphore_value(&s), 2);

    /* BoundedSemaphore(0) refuses every release, as in Python. */
    weft_semaphore z;
    WT_OK(weft_bounded_semaphore_init(&z, 0));
    WT_ERR(weft_semaphore_release(&z), WEFT_EOVERFLOW);
    ck_assert_uint_eq(weft_semaphore_value(&z), 0);
    weft_semaphore zi = WEFT_BOUNDED_SEMAPHORE_INIT(0);
    WT_ERR(weft_semaphore_release(&zi), WEFT_EOVERFLOW);
}
END_TEST

START_TEST(semaphore_timeout_expires)
{
    weft_semaphore s = WEFT_SEMAPHORE_INIT(0);
    double t0 = weft_monotonic();
    WT_ERR(weft_semaphore_acquire(&s, 0.02), WEFT_ETIMEDOUT);
    ck_assert(weft_monotonic() - t0 >= 0.02);
    ck_assert_uint_eq(__atomic_load_n(&s.word_, __ATOMIC_RELAXED), 0); /* no PARKED left behind */
}
END_TEST

typedef struct waiter {
    weft_semaphore *sem;
    weft__wait_slot slot;
    int rc;
    int done;
} waiter;

static void *acquire_one(void *arg)
{
    waiter *w = arg;
    weft__my_wait_slot = &w->slot;
    w->rc = weft_semaphore_acquire(w->sem, WEFT_FOREVER);
    __atomic_store_n(&w->done, 1, __ATOMIC_RELEASE);
    return NULL;
}

/* Start waiters one by one, each parked before the next starts: their
 * park order is their index. */
static void start_in_order(weft_semaphore *sem, waiter *w, pthread_t *t, int n)
{
    for (int i = 0; i < n; i++) {
        w[i] = (waiter){.sem = sem, .rc = 1};
        ck_assert_int_eq(pthread_create(&t[i], NULL, acquire_one, &w[i]), 0);
        wt_wait_until_parked(&w[i].slot, WEFT_WAIT_SEMAPHORE);
        ck_assert_ptr_eq(__atomic_load_n(&w[i].slot.what, __ATOMIC_RELAXED), sem);
    }
}

static void assert_parked(waiter *w, int from, int to)
{
    for (int i = from; i < to; i++) {
        ck_assert_msg(!__atomic_load_n(&w[i].done, __ATOMIC_ACQUIRE), "waiter %d returned", i);
        ck_assert_int_eq(__atomic_load_n(&w[i].slot.why, __ATOMIC_ACQUIRE),
                         WEFT_WAIT_SEMAPHORE);
    }
}

/* Releases go to the oldest waiters, release_n to several at once, and a
 * newcomer cannot take a permit while anyone waits. */
START_TEST(semaphore_fifo_handoff)
{
    enum { N = 5 };
    weft_semaphore s = WEFT_SEMAPHORE_INIT(0);
    waiter w[N];
    pthread_t t[N];
    start_in_order(&s, w, t, N);

    WT_OK(weft_semaphore_release(&s));
    pthread_join(t[0], NULL);
    WT_OK(w[0].rc);
    ck_assert_uint_eq(weft_semaphore_value(&s), 0);
    WT_ERR(weft_semaphore_acquire(&s, 0), WEFT_ETIMEDOUT);
    assert_parked(w, 1, N);

    WT_OK(weft_semaphore_release_n(&s, 3));
    for (int i = 1; i < 4; i++) {
        pthread_join(t[i], NULL);
        WT_OK(w[i].rc);
    }
    ck_assert_uint_eq(weft_semaphore_value(&s), 0);
    weft_sleep(0.005); /* time for a wrong wake-up to show */
    assert_parked(w, 4, N);
    ck_assert_uint_eq(__atomic_load_n(&s.word_, __ATOMIC_RELAXED), PARKED);

    /* More permits than waiters: the rest goes to the value. */
    WT_OK(weft_semaphore_release_n(&s, 3));
    pthread_join(t[4], NULL);
    WT_OK(w[4].rc);
    ck_assert_uint_eq(weft_semaphore_value(&s), 2);
    ck_assert_uint_eq(__atomic_load_n(&s.word_, __ATOMIC_RELAXED) & PARKED, 0);
}
END_TEST

/* A bounded semaphore hands a release to a waiter; the bound still holds
 * afterwards. */
START_TEST(bounded_semaphore_with_waiters)
{
    weft_semaphore s = WEFT_BOUNDED_SEMAPHORE_INIT(1);
    WT_OK(weft_semaphore_acquire(&s, WEFT_FOREVER));
    waiter w[1];
    pthread_t t[1];
    start_in_order(&s, w, t, 1);
    WT_ERR(weft_semaphore_release_n(&s, 2), WEFT_EOVERFLOW);
    assert_parked(w, 0, 1);
    WT_OK(weft_semaphore_release(&s));
    pthread_join(t[0], NULL);
    WT_OK(w[0].rc);
    ck_assert_uint_eq(weft_semaphore_value(&s), 0);
    WT_OK(weft_semaphore_release(&s));
    WT_ERR(weft_semaphore_release(&s), WEFT_EOVERFLOW);
    ck_assert_uint_eq(__atomic_load_n(&s.word_, __ATOMIC_RELAXED), 2);
}
END_TEST

/* One of several waiters times out: the others stay parked and get the
 * next permits; the last one out leaves no PARKED bit. */
START_TEST(semaphore_timeout_among_waiters)
{
    weft_semaphore s = WEFT_SEMAPHORE_INIT(0);
    waiter w[2];
    pthread_t t[2];
    start_in_order(&s, w, t, 2);
    WT_ERR(weft_semaphore_acquire(&s, 0.01), WEFT_ETIMEDOUT);
    ck_assert_uint_eq(__atomic_load_n(&s.word_, __ATOMIC_RELAXED), PARKED);
    WT_OK(weft_semaphore_release_n(&s, 2));
    for (int i = 0; i < 2; i++) {
        pthread_join(t[i], NULL);
        WT_OK(w[i].rc);
    }
    ck_assert_uint_eq(__atomic_load_n(&s.word_, __ATOMIC_RELAXED), 0);
}
END_TEST

/* 8 threads contend for 3 permits: never more than 3 holders at once. */
static weft_semaphore pool = WEFT_SEMAPHORE_INIT(3);
static int holders, max_holders;

static void *use_pool(void *arg)
{
    for (int i = 0; i < 3000; i++) {
        int rc = i % 4 == 0 ? weft_semaphore_acquire(&pool, 0)
                 : i % 4 == 1 ? weft_semaphore_acquire(&pool, 0.0002)
                              : weft_semaphore_acquire(&pool, WEFT_FOREVER);
        if (rc != 0) {
            WT_ERR(rc, WEFT_ETIMEDOUT);
            continue;
        }
        int h = __atomic_add_fetch(&holders, 1, __ATOMIC_RELAXED);
        ck_assert_int_le(h, 3);
        int m = __atomic_load_n(&max_holders, __ATOMIC_RELAXED);
        while (h > m && !__atomic_compare_exchange_n(&max_holders, &m, h, true,
                                                     __ATOMIC_RELAXED, __ATOMIC_RELAXED))
            ;
        if (i % 128 == 0)
            sched_yield();
        __atomic_sub_fetch(&holders, 1, __ATOMIC_RELAXED);
        WT_OK(weft_semaphore_release(&pool));
    }
    return NULL;
}

START_TEST(semaphore_never_exceeds_count)
{
    enum { N = 8 };
    pthread_t t[N];
    for (int i = 0; i < N; i++)
        ck_assert_int_eq(pthread_create(&t[i], NULL, use_pool, NULL), 0);
    for (int i = 0; i < N; i++)
        pthread_join(t[i], NULL);
    ck_assert_int_le(max_holders, 3);
    ck_assert_uint_eq(__atomic_load_n(&pool.word_, __ATOMIC_RELAXED), 3u << 1);
}
END_TEST

/* Python's test_BoundedSemaphore_limit: for each bound n, n threads take
 * the n permits and n other threads give them back, all at once; every
 * release succeeds (none is refused by a race with another), and one more
 * is WEFT_EOVERFLOW. */
typedef struct sem_crowd {
    weft_semaphore *sem;
    weft_barrier *start;
    bool release;
    int rc;
} sem_crowd;

static void *crowd_member(void *arg)
{
    sem_crowd *c = arg;
    weft_barrier_wait(c->start, NULL, WEFT_FOREVER);
    c->rc = c->release ? weft_semaphore_release(c->sem) : weft_semaphore_acquire(c->sem, 0);
    return NULL;
}

static void crowd(weft_semaphore *sem, int n, bool release)
{
    weft_barrier start;
    WT_OK(weft_barrier_init(&start, (unsigned)n, NULL, NULL));
    sem_crowd c[9];
    pthread_t t[9];
    for (int i = 0; i < n; i++) {
        c[i] = (sem_crowd){sem, &start, release, 1};
        ck_assert_int_eq(pthread_create(&t[i], NULL, crowd_member, &c[i]), 0);
    }
    for (int i = 0; i < n; i++) {
        pthread_join(t[i], NULL);
        WT_OK(c[i].rc);
    }
}

START_TEST(bounded_semaphore_limit_under_concurrency)
{
    for (int limit = 1; limit <= 9; limit++) {
        weft_semaphore sem;
        WT_OK(weft_bounded_semaphore_init(&sem, (unsigned)limit));
        crowd(&sem, limit, false);
        ck_assert_uint_eq(weft_semaphore_value(&sem), 0);
        crowd(&sem, limit, true);
        ck_assert_uint_eq(weft_semaphore_value(&sem), (unsigned)limit);
        WT_ERR(weft_semaphore_release(&sem), WEFT_EOVERFLOW);
        ck_assert_uint_eq(weft_semaphore_value(&sem), (unsigned)limit);
    }
}
END_TEST

WT_MAIN("semaphore", 30, semaphore_basic, semaphore_errors, bounded_semaphore_over_release,
        semaphore_timeout_expires, semaphore_fifo_handoff, bounded_semaphore_with_waiters,
        semaphore_timeout_among_waiters, semaphore_never_exceeds_count,
        bounded_semaphore_limit_under_concurrency)
