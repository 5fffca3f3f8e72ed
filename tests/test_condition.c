/* weft_condition: ownership errors, timeouts with the lock re-held, exact
 * FIFO notify, RLock levels, wait_for, and the producer/consumer seed. */
#include <pthread.h>
#include <sched.h>

#include "internal/park.h"
#include "wt.h"

/* waiters_ is read under the lock: a waiter counts itself and queues before
 * it lets the lock go, so a count seen under the lock means "parked". */
static void wait_for_waiters(weft_condition *c, uint32_t n)
{
    for (;;) {
        WT_OK(weft_condition_acquire(c, WEFT_FOREVER));
        uint32_t w = c->waiters_;
        WT_OK(weft_condition_release(c));
        if (w == n)
            return;
        sched_yield();
    }
}

START_TEST(condition_errors)
{
    weft_lock l = WEFT_LOCK_INIT;
    weft_condition c;
    WT_OK(weft_condition_init(&c, &l));
    WT_ERR(weft_condition_init(NULL, &l), WEFT_EINVAL);
    WT_ERR(weft_condition_init_rlock(NULL, NULL), WEFT_EINVAL);
    WT_ERR(weft_condition_init_rlock(&c, NULL), WEFT_EINVAL);
    weft_condition_destroy(NULL); /* harmless */
    WT_ERR(weft_condition_acquire(NULL, WEFT_FOREVER), WEFT_EINVAL);
    WT_ERR(weft_condition_acquire(NULL, 0), WEFT_EINVAL);
    WT_ERR(weft_condition_acquire(NULL, 0), WEFT_EINVAL);
    WT_ERR(weft_condition_release(NULL), WEFT_EINVAL);
    WT_ERR(weft_condition_wait(NULL, 0), WEFT_EINVAL);
    WT_ERR(weft_condition_notify(NULL, 1), WEFT_EINVAL);
    WT_ERR(weft_condition_notify_all(NULL), WEFT_EINVAL);
    /* Without the lock. */
    WT_ERR(weft_condition_wait(&c, 0), WEFT_ENOTOWNER);
    WT_ERR(weft_condition_wait(&c, WEFT_FOREVER), WEFT_ENOTOWNER);
    WT_ERR(weft_condition_wait_for(&c, NULL, NULL, 1), WEFT_EINVAL);
    WT_ERR(weft_condition_notify(&c, 1), WEFT_ENOTOWNER);
    WT_ERR(weft_condition_notify_all(&c), WEFT_ENOTOWNER);
    WT_ERR(weft_condition_release(&c), WEFT_ENOTLOCKED);
    WT_OK(weft_condition_acquire(&c, WEFT_FOREVER));
    WT_ERR(weft_condition_wait(&c, -1.5), WEFT_EINVAL);
    WT_ERR(weft_condition_wait(&c, 0.0 / 0.0), WEFT_EINVAL);
    WT_OK(weft_condition_notify(&c, 0));
    WT_OK(weft_condition_notify(&c, 3)); /* nobody waits: fine */
    WT_OK(weft_condition_notify_all(&c));
    WT_ERR(weft_condition_acquire(&c, 0), WEFT_ETIMEDOUT);
    WT_ERR(weft_condition_acquire(&c, 0), WEFT_ETIMEDOUT);
    WT_OK(weft_condition_release(&c));
    ck_assert_uint_eq(__atomic_load_n(&l.word_, __ATOMIC_RELAXED), 0);
    ck_assert_uint_eq(c.waiters_, 0);
    weft_condition_destroy(&c);

    /* The default private RLock: not owned until acquired. */
    weft_condition d;
    WT_OK(weft_condition_init(&d, NULL));
    WT_ERR(weft_condition_wait(&d, 0), WEFT_ENOTOWNER);
    WT_ERR(weft_condition_notify(&d, 1), WEFT_ENOTOWNER);
    WT_ERR(weft_condition_release(&d), WEFT_ENOTOWNER);
}
END_TEST

START_TEST(condition_wait_timeout_reholds_lock)
{
    weft_lock l = WEFT_LOCK_INIT;
    weft_condition c;
    WT_OK(weft_condition_init(&c, &l));
    WT_OK(weft_condition_acquire(&c, WEFT_FOREVER));
    WT_ERR(weft_condition_wait(&c, 0), WEFT_ETIMEDOUT);
    ck_assert(weft_lock_locked(&l));
    double t0 = weft_monotonic();
    WT_ERR(weft_condition_wait(&c, 0.02), WEFT_ETIMEDOUT);
    ck_assert(weft_monotonic() - t0 >= 0.02);
    ck_assert(weft_lock_locked(&l));
    ck_assert_uint_eq(c.waiters_, 0);
    WT_OK(weft_condition_release(&c));

    /* With an RLock held three deep, all three levels come back. */
    weft_rlock r = WEFT_RLOCK_INIT;
    WT_OK(weft_condition_init_rlock(&c, &r));
    for (int i = 0; i < 3; i++)
        WT_OK(weft_condition_acquire(&c, WEFT_FOREVER));
    WT_ERR(weft_condition_wait(&c, 0.01), WEFT_ETIMEDOUT);
    ck_assert(weft_rlock_is_owned(&r));
    ck_assert_uint_eq(weft_rlock_count(&r), 3);
    for (int i = 0; i < 3; i++)
        WT_OK(weft_condition_release(&c));
    ck_assert(!weft_rlock_is_owned(&r));
    ck_assert_uint_eq(__atomic_load_n(&r.lock_.word_, __ATOMIC_RELAXED), 0);
}
END_TEST

/* Waiters record the order in which they return. */
typedef struct waiters {
    weft_condition *c;
    int order[16];
    int returned;
} waiters;

typedef struct waiter {
    waiters *all;
    int id;
    weft__wait_slot slot;
    int rc;
} waiter;

static void *wait_once(void *arg)
{
    waiter *w = arg;
    weft__my_wait_slot = &w->slot;
    WT_OK(weft_condition_acquire(w->all->c, WEFT_FOREVER));
    w->rc = weft_condition_wait(w->all->c, WEFT_FOREVER);
    w->all->order[w->all->returned++] = w->id;
    WT_OK(weft_condition_release(w->all->c));
    return NULL;
}

static int returned(waiters *all)
{
    WT_OK(weft_condition_acquire(all->c, WEFT_FOREVER));
    int n = all->returned;
    WT_OK(weft_condition_release(all->c));
    return n;
}

/* notify(1) wakes exactly one waiter, the oldest; notify(2) the next two;
 * notify_all the rest. */
START_TEST(condition_notify_exact_fifo)
{
    enum { N = 6 };
    weft_lock l = WEFT_LOCK_INIT;
    weft_condition c;
    WT_OK(weft_condition_init(&c, &l));
    waiters all = {.c = &c};
    waiter w[N];
    pthread_t t[N];
    for (int i = 0; i < N; i++) {
        w[i] = (waiter){.all = &all, .id = i, .rc = 1};
        ck_assert_int_eq(pthread_create(&t[i], NULL, wait_once, &w[i]), 0);
        wait_for_waiters(&c, (uint32_t)i + 1);
    }
    for (int i = 0; i < N; i++) {
        wait_for_waiters(&c, N); /* re-read, and the slot shows the condition */
        while (__atomic_load_n(&w[i].slot.why, __ATOMIC_ACQUIRE) != WEFT_WAIT_CONDITION)
            sched_yield();
        ck_assert_ptr_eq(__atomic_load_n(&w[i].slot.what, __ATOMIC_RELAXED), &c);
    }

    WT_OK(weft_condition_acquire(&c, WEFT_FOREVER));
    WT_OK(weft_condition_notify(&c, 1));
    ck_assert_uint_eq(c.waiters_, N - 1);
    WT_OK(weft_condition_release(&c));
    pthread_join(t[0], NULL);
    weft_sleep(0.005); /* time for a second, wrong, wake-up to show */
    ck_assert_int_eq(returned(&all), 1);

    WT_OK(weft_condition_acquire(&c, WEFT_FOREVER));
    WT_OK(weft_condition_notify(&c, 2));
    WT_OK(weft_condition_release(&c));
    pthread_join(t[1], NULL);
    pthread_join(t[2], NULL);
    weft_sleep(0.005);
    ck_assert_int_eq(returned(&all), 3);

    WT_OK(weft_condition_acquire(&c, WEFT_FOREVER));
    WT_OK(weft_condition_notify_all(&c));
    ck_assert_uint_eq(c.waiters_, 0);
    WT_OK(weft_condition_release(&c));
    for (int i = 3; i < N; i++)
        pthread_join(t[i], NULL);
    ck_assert_int_eq(all.returned, N);
    /* Each batch returns in any order, the batches in FIFO order. */
    ck_assert_int_eq(all.order[0], 0);
    ck_assert_int_eq(all.order[1] + all.order[2], 1 + 2);
    for (int i = 0; i < N; i++)
        WT_OK(w[i].rc);
    ck_assert_uint_eq(__atomic_load_n(&l.word_, __ATOMIC_RELAXED), 0);
}
END_TEST

/* A waiter holding an RLock twice releases both levels while it waits (we
 * can take the lock) and has both back when it returns. */
typedef struct rwaiter {
    weft_condition *c;
    int rc;
    unsigned depth;
} rwaiter;

static void *rlock_wait(void *arg)
{
    rwaiter *w = arg;
    WT_OK(weft_condition_acquire(w->c, WEFT_FOREVER));
    WT_OK(weft_condition_acquire(w->c, WEFT_FOREVER));
    w->rc = weft_condition_wait(w->c, 10.0);
    w->depth = weft_rlock_count(w->c->lock_);
    WT_OK(weft_condition_release(w->c));
    WT_OK(weft_condition_release(w->c));
    return NULL;
}

START_TEST(condition_rlock_levels)
{
    weft_condition c;
    WT_OK(weft_condition_init(&c, NULL)); /* a private RLock, as in Python */
    rwaiter w = {.c = &c, .rc = 1};
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, rlock_wait, &w), 0);
    wait_for_waiters(&c, 1);
    WT_OK(weft_condition_acquire(&c, WEFT_FOREVER));
    ck_assert_uint_eq(weft_rlock_count(c.lock_), 1);
    WT_OK(weft_condition_notify(&c, 1));
    WT_OK(weft_condition_release(&c));
    pthread_join(t, NULL);
    WT_OK(w.rc);
    ck_assert_uint_eq(w.depth, 2);
    ck_assert_uint_eq(__atomic_load_n(&c.own_.lock_.word_, __ATOMIC_RELAXED), 0);
}
END_TEST

/* wait_for: the predicate is checked first; notifies that leave it false
 * do not end the wait; the time left shrinks across wake-ups. */
static int level;

static bool level_reached(void *arg)
{
    return level >= (int)(intptr_t)arg;
}

static weft_condition lc;

static void *raise_level(void *arg)
{
    for (int i = 0; i < 5; i++) {
        WT_OK(weft_condition_acquire(&lc, WEFT_FOREVER));
        level++;
        WT_OK(weft_condition_notify_all(&lc));
        WT_OK(weft_condition_release(&lc));
    }
    return NULL;
}

START_TEST(condition_wait_for)
{
    weft_lock l = WEFT_LOCK_INIT;
    WT_OK(weft_condition_init(&lc, &l));
    WT_OK(weft_condition_acquire(&lc, WEFT_FOREVER));
    WT_ERR(weft_condition_wait_for(&lc, level_reached, (void *)1, -2), WEFT_EINVAL);
    WT_OK(weft_condition_wait_for(&lc, level_reached, (void *)0, 0));
    WT_ERR(weft_condition_wait_for(&lc, level_reached, (void *)1, 0), WEFT_ETIMEDOUT);
    double t0 = weft_monotonic();
    WT_ERR(weft_condition_wait_for(&lc, level_reached, (void *)1, 0.02), WEFT_ETIMEDOUT);
    ck_assert(weft_monotonic() - t0 >= 0.02);
    ck_assert(weft_lock_locked(&l));

    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, raise_level, NULL), 0);
    WT_OK(weft_condition_wait_for(&lc, level_reached, (void *)5, 10.0));
    ck_assert_int_eq(level, 5);
    ck_assert(weft_lock_locked(&l));
    WT_OK(weft_condition_release(&lc));
    pthread_join(t, NULL);
    WT_ERR(weft_condition_wait_for(&lc, level_reached, (void *)5, 0), WEFT_ENOTOWNER);
}
END_TEST

/* The seed's producer/consumer: a bounded buffer, two conditions on one
 * lock, every item consumed exactly once. */
enum { CAP = 4, ITEMS = 20000, PRODUCERS = 2, CONSUMERS = 2 };
static weft_lock buf_lock = WEFT_LOCK_INIT;
static weft_condition not_empty, not_full;
static long buf[CAP];
static int head, len;
static long consumed_sum, consumed_n;

static bool has_room(void *arg)
{
    return len < CAP;
}

static bool has_item(void *arg)
{
    return len > 0;
}

static void *producer(void *arg)
{
    long base = (long)(intptr_t)arg;
    for (long i = 0; i < ITEMS / PRODUCERS; i++) {
        WT_OK(weft_condition_acquire(&not_full, WEFT_FOREVER));
        WT_OK(weft_condition_wait_for(&not_full, has_room, NULL, WEFT_FOREVER));
        buf[(head + len++) % CAP] = base + i;
        WT_OK(weft_condition_notify(&not_empty, 1));
        WT_OK(weft_condition_release(&not_full));
    }
    return NULL;
}

static void *consumer(void *arg)
{
    for (long i = 0; i < ITEMS / CONSUMERS; i++) {
        WT_OK(weft_condition_acquire(&not_empty, WEFT_FOREVER));
        if (i % 2)
            WT_OK(weft_condition_wait_for(&not_empty, has_item, NULL, WEFT_FOREVER));
        else
            while (len == 0)
                WT_OK(weft_condition_wait(&not_empty, WEFT_FOREVER));
        long v = buf[head];
        head = (head + 1) % CAP;
        len--;
        consumed_sum += v;
        consumed_n++;
        WT_OK(weft_condition_notify(&not_full, 1));
        WT_OK(weft_condition_release(&not_empty));
    }
    return NULL;
}

START_TEST(condition_producer_consumer)
{
    WT_OK(weft_condition_init(&not_empty, &buf_lock));
    WT_OK(weft_condition_init(&not_full, &buf_lock));
    pthread_t p[PRODUCERS], c[CONSUMERS];
    for (int i = 0; i < PRODUCERS; i++)
        ck_assert_int_eq(
            pthread_create(&p[i], NULL, producer, (void *)(intptr_t)(i * (ITEMS / PRODUCERS))),
            0);
    for (int i = 0; i < CONSUMERS; i++)
        ck_assert_int_eq(pthread_create(&c[i], NULL, consumer, NULL), 0);
    for (int i = 0; i < PRODUCERS; i++)
        pthread_join(p[i], NULL);
    for (int i = 0; i < CONSUMERS; i++)
        pthread_join(c[i], NULL);
    ck_assert_int_eq(consumed_n, ITEMS);
    ck_assert_int_eq(consumed_sum, (long)ITEMS * (ITEMS - 1) / 2);
    ck_assert_int_eq(len, 0);
    ck_assert_uint_eq(not_empty.waiters_, 0);
    ck_assert_uint_eq(not_full.waiters_, 0);
    ck_assert_uint_eq(__atomic_load_n(&buf_lock.word_, __ATOMIC_RELAXED), 0);
}
END_TEST

/* Python 3.14's Condition.locked(): the underlying lock, whoever holds it,
 * for the default RLock, a given RLock and a given Lock. */
static void *take_and_keep(void *arg)
{
    return (void *)(intptr_t)weft_condition_acquire(arg, WEFT_FOREVER);
}

START_TEST(condition_locked)
{
    ck_assert(!weft_condition_locked(NULL));
    weft_condition d;
    WT_OK(weft_condition_init(&d, NULL));
    ck_assert(!weft_condition_locked(&d));
    WT_OK(weft_condition_acquire(&d, WEFT_FOREVER));
    WT_OK(weft_condition_acquire(&d, WEFT_FOREVER));
    ck_assert(weft_condition_locked(&d));
    WT_OK(weft_condition_release(&d));
    ck_assert(weft_condition_locked(&d));
    WT_OK(weft_condition_release(&d));
    ck_assert(!weft_condition_locked(&d));

    weft_rlock r = WEFT_RLOCK_INIT;
    weft_condition cr;
    WT_OK(weft_condition_init_rlock(&cr, &r));
    WT_OK(weft_rlock_acquire(&r, WEFT_FOREVER));
    ck_assert(weft_condition_locked(&cr));
    WT_OK(weft_rlock_release(&r));
    ck_assert(!weft_condition_locked(&cr));

    /* Held by another thread: locked, though not ours. */
    weft_lock l = WEFT_LOCK_INIT;
    weft_condition cl;
    WT_OK(weft_condition_init(&cl, &l));
    pthread_t t;
    void *rc;
    ck_assert_int_eq(pthread_create(&t, NULL, take_and_keep, &cl), 0);
    pthread_join(t, &rc);
    ck_assert_int_eq((intptr_t)rc, 0);
    ck_assert(weft_condition_locked(&cl));
    WT_OK(weft_lock_release(&l));
    ck_assert(!weft_condition_locked(&cl));
}
END_TEST

WT_MAIN("condition", 30, condition_errors, condition_wait_timeout_reholds_lock,
        condition_notify_exact_fifo, condition_rlock_levels, condition_wait_for,
        condition_producer_consumer, condition_locked)
