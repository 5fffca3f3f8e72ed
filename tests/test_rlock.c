/* weft_rlock: nesting, ownership, the error paths, blocking and contention. */
#include <pthread.h>
#include <sched.h>

#include "internal/park.h"
#include "wt.h"

START_TEST(rlock_nesting)
{
    weft_rlock r = WEFT_RLOCK_INIT;
    ck_assert(!weft_rlock_is_owned(&r));
    ck_assert_uint_eq(weft_rlock_count(&r), 0);
    WT_OK(weft_rlock_acquire(&r, WEFT_FOREVER));
    WT_OK(weft_rlock_acquire(&r, 0));
    WT_OK(weft_rlock_acquire(&r, 0));
    WT_OK(weft_rlock_acquire(&r, WEFT_FOREVER));
    ck_assert(weft_rlock_is_owned(&r));
    ck_assert_uint_eq(weft_rlock_count(&r), 4);
    for (unsigned i = 4; i > 0; i--) {
        ck_assert_uint_eq(weft_rlock_count(&r), i);
        WT_OK(weft_rlock_release(&r));
    }
    ck_assert(!weft_rlock_is_owned(&r));
    ck_assert_uint_eq(weft_rlock_count(&r), 0);
    WT_ERR(weft_rlock_release(&r), WEFT_ENOTOWNER);
    ck_assert_uint_eq(__atomic_load_n(&r.lock_.word_, __ATOMIC_RELAXED), 0);
    weft_rlock_destroy(&r);
}
END_TEST

START_TEST(rlock_errors)
{
    weft_rlock r;
    WT_OK(weft_rlock_init(&r));
    WT_ERR(weft_rlock_init(NULL), WEFT_EINVAL);
    weft_rlock_destroy(NULL); /* harmless */
    WT_ERR(weft_rlock_acquire(NULL, WEFT_FOREVER), WEFT_EINVAL);
    WT_ERR(weft_rlock_acquire(NULL, 0), WEFT_EINVAL);
    WT_ERR(weft_rlock_acquire(NULL, 1), WEFT_EINVAL);
    WT_ERR(weft_rlock_release(NULL), WEFT_EINVAL);
    WT_ERR(weft_rlock_acquire(&r, -0.5), WEFT_EINVAL);
    WT_ERR(weft_rlock_acquire(&r, 0.0 / 0.0), WEFT_EINVAL);
    ck_assert(!weft_rlock_is_owned(NULL));
    ck_assert_uint_eq(weft_rlock_count(NULL), 0);
    /* The failed calls changed nothing. */
    ck_assert(!weft_rlock_is_owned(&r));
    ck_assert_uint_eq(__atomic_load_n(&r.lock_.word_, __ATOMIC_RELAXED), 0);
}
END_TEST

/* What another thread sees of an RLock the main thread holds twice. */
typedef struct probe {
    weft_rlock *r;
    int release_rc, try_rc, timeout_rc;
    bool owned;
    unsigned count;
} probe;

static void *probe_other(void *arg)
{
    probe *p = arg;
    p->release_rc = weft_rlock_release(p->r);
    p->try_rc = weft_rlock_acquire(p->r, 0);
    p->timeout_rc = weft_rlock_acquire(p->r, 0.01);
    p->owned = weft_rlock_is_owned(p->r);
    p->count = weft_rlock_count(p->r);
    return NULL;
}

START_TEST(rlock_release_by_non_owner)
{
    weft_rlock r = WEFT_RLOCK_INIT;
    WT_OK(weft_rlock_acquire(&r, WEFT_FOREVER));
    WT_OK(weft_rlock_acquire(&r, WEFT_FOREVER));
    probe p = {.r = &r};
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, probe_other, &p), 0);
    pthread_join(t, NULL);
    WT_ERR(p.release_rc, WEFT_ENOTOWNER);
    WT_ERR(p.try_rc, WEFT_ETIMEDOUT);
    WT_ERR(p.timeout_rc, WEFT_ETIMEDOUT);
    ck_assert(!p.owned);
    ck_assert_uint_eq(p.count, 0);
    /* Still ours, at the same depth. */
    ck_assert_uint_eq(weft_rlock_count(&r), 2);
    WT_OK(weft_rlock_release(&r));
    WT_OK(weft_rlock_release(&r));
}
END_TEST

typedef struct blocked {
    weft_rlock *r;
    weft__wait_slot slot;
    int rc;
    unsigned count;
} blocked;

static void *acquire_blocking(void *arg)
{
    blocked *b = arg;
    weft__my_wait_slot = &b->slot;
    b->rc = weft_rlock_acquire(b->r, WEFT_FOREVER);
    b->count = weft_rlock_count(b->r);
    weft_rlock_release(b->r);
    return NULL;
}

/* A blocked acquirer shows the RLock as what it waits on, and gets it only
 * when the owner has released every level. */
START_TEST(rlock_blocks_until_fully_released)
{
    weft_rlock r = WEFT_RLOCK_INIT;
    WT_OK(weft_rlock_acquire(&r, WEFT_FOREVER));
    WT_OK(weft_rlock_acquire(&r, WEFT_FOREVER));
    blocked b = {.r = &r};
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, acquire_blocking, &b), 0);
    wt_wait_until_parked(&b.slot, WEFT_WAIT_RLOCK);
    ck_assert_ptr_eq(__atomic_load_n(&b.slot.what, __ATOMIC_RELAXED), &r);
    WT_OK(weft_rlock_release(&r));
    ck_assert_int_eq(__atomic_load_n(&b.slot.why, __ATOMIC_ACQUIRE), WEFT_WAIT_RLOCK);
    WT_OK(weft_rlock_release(&r));
    pthread_join(t, NULL);
    WT_OK(b.rc);
    ck_assert_uint_eq(b.count, 1);
    ck_assert_uint_eq(__atomic_load_n(&r.lock_.word_, __ATOMIC_RELAXED), 0);
}
END_TEST

START_TEST(rlock_timeout_expires)
{
    weft_rlock r = WEFT_RLOCK_INIT;
    WT_OK(weft_rlock_acquire(&r, WEFT_FOREVER));
    probe p = {.r = &r};
    pthread_t t;
    double t0 = weft_monotonic();
    ck_assert_int_eq(pthread_create(&t, NULL, probe_other, &p), 0);
    pthread_join(t, NULL);
    ck_assert(weft_monotonic() - t0 >= 0.01);
    WT_ERR(p.timeout_rc, WEFT_ETIMEDOUT);
    WT_OK(weft_rlock_release(&r));
    ck_assert_uint_eq(__atomic_load_n(&r.lock_.word_, __ATOMIC_RELAXED), 0);
}
END_TEST

/* Nested acquisitions under contention: exclusion holds, depth is per owner. */
static weft_rlock counter_lock = WEFT_RLOCK_INIT;
static long counter;

static void *nested_increment(void *arg)
{
    for (int i = 0; i < 20000; i++) {
        WT_OK(weft_rlock_acquire(&counter_lock, WEFT_FOREVER));
        WT_OK(i % 2 ? weft_rlock_acquire(&counter_lock, 1.0)
                    : weft_rlock_acquire(&counter_lock, WEFT_FOREVER));
        ck_assert_uint_eq(weft_rlock_count(&counter_lock), 2);
        counter++;
        WT_OK(weft_rlock_release(&counter_lock));
        counter++;
        WT_OK(weft_rlock_release(&counter_lock));
    }
    return NULL;
}

START_TEST(rlock_contention)
{
    enum { N = 4 };
    pthread_t t[N];
    for (int i = 0; i < N; i++)
        ck_assert_int_eq(pthread_create(&t[i], NULL, nested_increment, NULL), 0);
    for (int i = 0; i < N; i++)
        pthread_join(t[i], NULL);
    ck_assert_int_eq(counter, N * 20000 * 2);
    ck_assert_uint_eq(__atomic_load_n(&counter_lock.lock_.word_, __ATOMIC_RELAXED), 0);
    ck_assert_uint_eq(counter_lock.owner_, 0);
}
END_TEST

/* Python 3.14's RLock.locked(): held by anyone, seen from any thread. */
typedef struct locked_probe {
    weft_rlock *r;
    bool locked, owned;
} locked_probe;

static void *look_at_rlock(void *arg)
{
    locked_probe *p = arg;
    p->locked = weft_rlock_locked(p->r);
    p->owned = weft_rlock_is_owned(p->r);
    return NULL;
}

static locked_probe probe_from_other_thread(weft_rlock *r)
{
    locked_probe p = {.r = r};
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, look_at_rlock, &p), 0);
    pthread_join(t, NULL);
    return p;
}

START_TEST(rlock_locked_seen_by_every_thread)
{
    weft_rlock r = WEFT_RLOCK_INIT;
    ck_assert(!weft_rlock_locked(&r));
    ck_assert(!weft_rlock_locked(NULL));
    ck_assert(!probe_from_other_thread(&r).locked);
    WT_OK(weft_rlock_acquire(&r, WEFT_FOREVER));
    WT_OK(weft_rlock_acquire(&r, WEFT_FOREVER));
    ck_assert(weft_rlock_locked(&r));
    locked_probe p = probe_from_other_thread(&r);
    ck_assert(p.locked);
    ck_assert(!p.owned);
    WT_OK(weft_rlock_release(&r));
    ck_assert(weft_rlock_locked(&r)); /* one level left */
    WT_OK(weft_rlock_release(&r));
    ck_assert(!weft_rlock_locked(&r));
    ck_assert(!probe_from_other_thread(&r).locked);
}
END_TEST

WT_MAIN("rlock", 30, rlock_nesting, rlock_errors, rlock_release_by_non_owner,
        rlock_blocks_until_fully_released, rlock_timeout_expires, rlock_contention,
        rlock_locked_seen_by_every_thread)
