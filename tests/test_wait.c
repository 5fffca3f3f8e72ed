/* weft_wait and weft_as_completed: the three return conditions, timeouts,
 * duplicates, hooks removed before return, and completion races. */
#include <pthread.h>
#include <sched.h>
#include <string.h>

#include "internal/park.h"
#include "wt.h"

static void make(weft_future **fs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        WT_OK(weft_future_new(&fs[i]));
}

static void drop(weft_future **fs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        weft_future_unref(fs[i]);
}

static void assert_done(const bool *done, const char *want)
{
    for (size_t i = 0; want[i]; i++)
        ck_assert_msg(done[i] == (want[i] == '1'), "done[%zu] is %d, want %s", i, done[i], want);
}

/* A weft_wait in a helper thread. */
typedef struct waiter {
    weft_future **fs;
    size_t n;
    double timeout;
    weft_return_when when;
    bool done[64];
    size_t ndone;
    weft__wait_slot slot;
    int rc;
    int returned;
} waiter;

static void *wait_thread(void *arg)
{
    waiter *w = arg;
    weft__my_wait_slot = &w->slot;
    w->rc = weft_wait(w->fs, w->n, w->when, w->done, &w->ndone, w->timeout);
    __atomic_store_n(&w->returned, 1, __ATOMIC_RELEASE);
    return NULL;
}

static void start_wait(waiter *w, pthread_t *t, weft_future **fs, size_t n, weft_return_when when)
{
    *w = (waiter){.fs = fs, .n = n, .timeout = WEFT_FOREVER, .when = when, .rc = 1};
    ck_assert_int_eq(pthread_create(t, NULL, wait_thread, w), 0);
    wt_wait_until_parked(&w->slot, WEFT_WAIT_FUTURE);
}

/* The waiter is parked and no completion met its condition: nothing can
 * wake it. The short sleep only gives a wrong wake-up a chance to show. */
static void assert_still_waiting(waiter *w)
{
    weft_sleep(0.01);
    ck_assert_int_eq(__atomic_load_n(&w->returned, __ATOMIC_ACQUIRE), 0);
}

/* ---------------------------------------------------------------- wait */

START_TEST(wait_errors)
{
    weft_future *fs[2];
    make(fs, 2);
    bool done[2];
    size_t ndone = 99;
    WT_ERR(weft_wait(NULL, 1, WEFT_ALL_COMPLETED, NULL, NULL, 0), WEFT_EINVAL);
    weft_future *withnull[] = {fs[0], NULL};
    WT_ERR(weft_wait(withnull, 2, WEFT_ALL_COMPLETED, NULL, NULL, 0), WEFT_EINVAL);
    WT_ERR(weft_wait(fs, 2, WEFT_ALL_COMPLETED, NULL, NULL, -1.5), WEFT_EINVAL);
    WT_ERR(weft_wait(fs, 2, WEFT_ALL_COMPLETED, NULL, NULL, 0.0 / 0.0), WEFT_EINVAL);
    WT_ERR(weft_wait(fs, 2, (weft_return_when)7, NULL, NULL, 0), WEFT_EINVAL);
    /* Nothing to wait for: done at once, whatever the condition. */
    WT_OK(weft_wait(NULL, 0, WEFT_ALL_COMPLETED, done, &ndone, WEFT_FOREVER));
    ck_assert_uint_eq(ndone, 0);
    WT_OK(weft_wait(fs, 0, WEFT_FIRST_COMPLETED, NULL, NULL, WEFT_FOREVER));
    WT_ERR(weft_wait(fs, 2, WEFT_FIRST_COMPLETED, done, &ndone, 0), WEFT_ETIMEDOUT);
    assert_done(done, "00");
    ck_assert_uint_eq(ndone, 0);
    drop(fs, 2);
}
END_TEST

START_TEST(wait_already_done)
{
    weft_future *fs[3];
    make(fs, 3);
    WT_OK(weft_future_set_result(fs[0], NULL));
    ck_assert(weft_future_cancel(fs[1]));
    WT_OK(weft_future_set_error(fs[2], WEFT_EAGAIN, NULL));
    bool done[3];
    size_t ndone;
    for (int when = WEFT_FIRST_COMPLETED; when <= WEFT_ALL_COMPLETED; when++) {
        memset(done, 0, sizeof done);
        WT_OK(weft_wait(fs, 3, (weft_return_when)when, done, &ndone, 0));
        assert_done(done, "111");
        ck_assert_uint_eq(ndone, 3);
    }
    drop(fs, 3);
}
END_TEST

START_TEST(wait_first_completed)
{
    weft_future *fs[3];
    make(fs, 3);
    waiter w;
    pthread_t t;
    start_wait(&w, &t, fs, 3, WEFT_FIRST_COMPLETED);
    WT_OK(weft_future_set_result(fs[1], NULL));
    pthread_join(t, NULL);
    WT_OK(w.rc);
    assert_done(w.done, "010");
    ck_assert_uint_eq(w.ndone, 1);
    /* The waiter's hooks (on its dead stack) are gone: completing the
     * others now touches nothing of it (ASan would see it). */
    WT_OK(weft_future_set_result(fs[0], NULL));
    ck_assert(weft_future_cancel(fs[2]));
    drop(fs, 3);
}
END_TEST

START_TEST(wait_first_completed_by_cancel)
{
    weft_future *fs[2];
    make(fs, 2);
    waiter w;
    pthread_t t;
    start_wait(&w, &t, fs, 2, WEFT_FIRST_COMPLETED);
    ck_assert(weft_future_cancel(fs[0]));
    pthread_join(t, NULL);
    WT_OK(w.rc);
    assert_done(w.done, "10");
    drop(fs, 2);
}
END_TEST

START_TEST(wait_first_exception)
{
    /* Returns at the first failure while others still pend; results and
     * cancellations before it do not end the wait. */
    weft_future *fs[4];
    make(fs, 4);
    waiter w;
    pthread_t t;
    start_wait(&w, &t, fs, 4, WEFT_FIRST_EXCEPTION);
    WT_OK(weft_future_set_result(fs[0], NULL));
    assert_still_waiting(&w);
    ck_assert(weft_future_cancel(fs[1]));
    assert_still_waiting(&w);
    WT_OK(weft_future_set_error(fs[2], WEFT_EBUSY, "no"));
    pthread_join(t, NULL);
    WT_OK(w.rc);
    assert_done(w.done, "1110");
    ck_assert_uint_eq(w.ndone, 3);
    ck_assert(!weft_future_done(fs[3]));
    WT_OK(weft_future_set_result(fs[3], NULL));
    drop(fs, 4);
}
END_TEST

START_TEST(wait_first_exception_no_error)
{
    /* No failure at all: it returns once every future is done. */
    weft_future *fs[3];
    make(fs, 3);
    waiter w;
    pthread_t t;
    start_wait(&w, &t, fs, 3, WEFT_FIRST_EXCEPTION);
    WT_OK(weft_future_set_result(fs[2], NULL));
    ck_assert(weft_future_cancel(fs[0]));
    assert_still_waiting(&w);
    WT_OK(weft_future_set_result(fs[1], NULL));
    pthread_join(t, NULL);
    WT_OK(w.rc);
    assert_done(w.done, "111");
    drop(fs, 3);
}
END_TEST

START_TEST(wait_first_exception_already_failed)
{
    weft_future *fs[3];
    make(fs, 3);
    WT_OK(weft_future_set_error(fs[1], WEFT_EAGAIN, NULL));
    bool done[3];
    size_t ndone;
    WT_OK(weft_wait(fs, 3, WEFT_FIRST_EXCEPTION, done, &ndone, WEFT_FOREVER));
    assert_done(done, "010");
    ck_assert_uint_eq(ndone, 1);
    /* A cancelled one does not count as a failure. */
    weft_future *gs[2];
    make(gs, 2);
    ck_assert(weft_future_cancel(gs[0]));
    WT_ERR(weft_wait(gs, 2, WEFT_FIRST_EXCEPTION, done, &ndone, 0), WEFT_ETIMEDOUT);
    assert_done(done, "10");
    drop(fs, 3);
    WT_OK(weft_future_set_result(gs[1], NULL));
    drop(gs, 2);
}
END_TEST

START_TEST(wait_all_completed)
{
    weft_future *fs[3];
    make(fs, 3);
    WT_OK(weft_future_set_result(fs[1], NULL)); /* one done before */
    waiter w;
    pthread_t t;
    start_wait(&w, &t, fs, 3, WEFT_ALL_COMPLETED);
    WT_OK(weft_future_set_error(fs[0], WEFT_EAGAIN, NULL)); /* a failure does not end it */
    assert_still_waiting(&w);
    ck_assert(weft_future_cancel(fs[2]));
    pthread_join(t, NULL);
    WT_OK(w.rc);
    assert_done(w.done, "111");
    ck_assert_uint_eq(w.ndone, 3);
    drop(fs, 3);
}
END_TEST

START_TEST(wait_timeout)
{
    weft_future *fs[3];
    make(fs, 3);
    WT_OK(weft_future_set_result(fs[0], NULL));
    bool done[3];
    size_t ndone;
    double t0 = weft_monotonic();
    WT_ERR(weft_wait(fs, 3, WEFT_ALL_COMPLETED, done, &ndone, 0.03), WEFT_ETIMEDOUT);
    double waited = weft_monotonic() - t0;
    ck_assert_msg(waited >= 0.03, "waited %.3f s", waited);
    assert_done(done, "100");
    ck_assert_uint_eq(ndone, 1);
    WT_ERR(weft_wait(fs + 1, 2, WEFT_FIRST_COMPLETED, done, NULL, 0.01), WEFT_ETIMEDOUT);
    assert_done(done, "00");
    WT_ERR(weft_wait(fs, 3, WEFT_FIRST_EXCEPTION, NULL, &ndone, 0), WEFT_ETIMEDOUT);
    ck_assert_uint_eq(ndone, 1);
    /* Completing after the timed-out waits touches no stale hook. */
    WT_OK(weft_future_set_result(fs[1], NULL));
    WT_OK(weft_future_set_error(fs[2], WEFT_EAGAIN, NULL));
    WT_OK(weft_wait(fs, 3, WEFT_ALL_COMPLETED, done, &ndone, 0));
    ck_assert_uint_eq(ndone, 3);
    drop(fs, 3);
}
END_TEST

START_TEST(wait_duplicates)
{
    weft_future *f[2];
    make(f, 2);
    weft_future *fs[4] = {f[0], f[1], f[0], f[0]};
    waiter w;
    pthread_t t;
    start_wait(&w, &t, fs, 4, WEFT_ALL_COMPLETED);
    WT_OK(weft_future_set_result(f[0], NULL));
    assert_still_waiting(&w);
    WT_OK(weft_future_set_result(f[1], NULL));
    pthread_join(t, NULL);
    WT_OK(w.rc);
    assert_done(w.done, "1111");
    ck_assert_uint_eq(w.ndone, 4);

    weft_future *g[2];
    make(g, 2);
    weft_future *gs[3] = {g[0], g[1], g[0]};
    start_wait(&w, &t, gs, 3, WEFT_FIRST_EXCEPTION);
    WT_OK(weft_future_set_error(g[0], WEFT_EAGAIN, NULL));
    pthread_join(t, NULL);
    WT_OK(w.rc);
    assert_done(w.done, "101");
    ck_assert_uint_eq(w.ndone, 2);
    WT_OK(weft_future_set_result(g[1], NULL));
    drop(f, 2);
    drop(g, 2);
}
END_TEST

enum { MANY = 40 };

static void *complete_all(void *arg)
{
    weft_future **fs = arg;
    for (int i = MANY - 1; i >= 0; i--)
        WT_OK(weft_future_set_result(fs[i], NULL));
    return NULL;
}

START_TEST(wait_many)
{
    /* More futures than the waiter keeps on its stack. */
    weft_future *fs[MANY];
    make(fs, MANY);
    waiter w;
    pthread_t t, c;
    start_wait(&w, &t, fs, MANY, WEFT_ALL_COMPLETED);
    ck_assert_int_eq(pthread_create(&c, NULL, complete_all, fs), 0);
    pthread_join(c, NULL);
    pthread_join(t, NULL);
    WT_OK(w.rc);
    ck_assert_uint_eq(w.ndone, MANY);
    drop(fs, MANY);
}
END_TEST

/* Completers race the waiter's registration and removal of its hooks. */
enum { STRESS_ROUNDS = 500, STRESS_N = 6 };

typedef struct stress {
    weft_barrier bar;
    weft_future *fs[STRESS_N];
} stress;

typedef struct completer {
    stress *s;
    int parity; /* this completer ends the futures of this parity */
} completer;

static void *stress_completer(void *arg)
{
    completer *c = arg;
    for (int r = 0; r < STRESS_ROUNDS; r++) {
        weft_barrier_wait(&c->s->bar, NULL, WEFT_FOREVER);
        for (int i = c->parity; i < STRESS_N; i += 2) {
            if ((r + i) % 4 == 0)
                WT_OK(weft_future_set_error(c->s->fs[i], WEFT_EAGAIN, NULL));
            else
                WT_OK(weft_future_set_result(c->s->fs[i], NULL));
        }
        weft_barrier_wait(&c->s->bar, NULL, WEFT_FOREVER);
    }
    return NULL;
}

START_TEST(wait_stress)
{
    stress s;
    WT_OK(weft_barrier_init(&s.bar, 3, NULL, NULL));
    completer c[2] = {{&s, 0}, {&s, 1}};
    pthread_t t[2];
    for (int k = 0; k < 2; k++)
        ck_assert_int_eq(pthread_create(&t[k], NULL, stress_completer, &c[k]), 0);
    for (int r = 0; r < STRESS_ROUNDS; r++) {
        make(s.fs, STRESS_N);
        weft_barrier_wait(&s.bar, NULL, WEFT_FOREVER); /* the completers start as we wait */
        weft_return_when when = (weft_return_when)(r % 3);
        bool done[STRESS_N];
        size_t ndone;
        WT_OK(weft_wait(s.fs, STRESS_N, when, done, &ndone, WEFT_FOREVER));
        ck_assert_uint_ge(ndone, when == WEFT_ALL_COMPLETED ? STRESS_N : 1);
        weft_barrier_wait(&s.bar, NULL, WEFT_FOREVER);
        WT_OK(weft_wait(s.fs, STRESS_N, WEFT_ALL_COMPLETED, NULL, &ndone, 0));
        ck_assert_uint_eq(ndone, STRESS_N);
        drop(s.fs, STRESS_N);
    }
    for (int k = 0; k < 2; k++)
        pthread_join(t[k], NULL);
    weft_barrier_destroy(&s.bar);
}
END_TEST

/* -------------------------------------------------------- as_completed */

START_TEST(ac_errors)
{
    weft_as_completed *it;
    weft_future *fs[2];
    make(fs, 2);
    weft_future *withnull[] = {fs[0], NULL};
    WT_ERR(weft_as_completed_new(NULL, fs, 2, 0), WEFT_EINVAL);
    WT_ERR(weft_as_completed_new(&it, NULL, 2, 0), WEFT_EINVAL);
    WT_ERR(weft_as_completed_new(&it, withnull, 2, 0), WEFT_EINVAL);
    WT_ERR(weft_as_completed_new(&it, fs, 2, -4), WEFT_EINVAL);
    WT_OK(weft_as_completed_new(&it, NULL, 0, WEFT_FOREVER));
    weft_future *f;
    WT_ERR(weft_as_completed_next(it, &f, WEFT_FOREVER), WEFT_EEMPTY);
    WT_ERR(weft_as_completed_next(it, NULL, WEFT_FOREVER), WEFT_EINVAL);
    WT_ERR(weft_as_completed_next(NULL, &f, WEFT_FOREVER), WEFT_EINVAL);
    weft_as_completed_free(it);
    weft_as_completed_free(NULL);
    drop(fs, 2);
}
END_TEST

START_TEST(ac_order)
{
    weft_future *fs[4];
    make(fs, 4);
    WT_OK(weft_future_set_result(fs[3], NULL));
    WT_OK(weft_future_set_error(fs[1], WEFT_EAGAIN, NULL)); /* done later, listed earlier */
    weft_as_completed *it;
    WT_OK(weft_as_completed_new(&it, fs, 4, WEFT_FOREVER));
    weft_future *f;
    WT_OK(weft_as_completed_next(it, &f, WEFT_FOREVER));
    ck_assert_ptr_eq(f, fs[1]); /* the done ones first, in input order */
    WT_OK(weft_as_completed_next(it, &f, WEFT_FOREVER));
    ck_assert_ptr_eq(f, fs[3]);
    WT_OK(weft_future_set_result(fs[2], NULL)); /* then in completion order */
    ck_assert(weft_future_cancel(fs[0]));
    WT_OK(weft_as_completed_next(it, &f, WEFT_FOREVER));
    ck_assert_ptr_eq(f, fs[2]);
    WT_OK(weft_as_completed_next(it, &f, WEFT_FOREVER));
    ck_assert_ptr_eq(f, fs[0]);
    WT_ERR(weft_as_completed_next(it, &f, WEFT_FOREVER), WEFT_EEMPTY);
    WT_ERR(weft_as_completed_next(it, &f, WEFT_FOREVER), WEFT_EEMPTY);
    weft_as_completed_free(it);
    drop(fs, 4);
}
END_TEST

typedef struct nexter {
    weft_as_completed *it;
    weft_future *got;
    weft__wait_slot slot;
    int rc;
} nexter;

static void *next_thread(void *arg)
{
    nexter *n = arg;
    weft__my_wait_slot = &n->slot;
    n->rc = weft_as_completed_next(n->it, &n->got, WEFT_FOREVER);
    return NULL;
}

START_TEST(ac_blocks_until_completion)
{
    weft_future *fs[2];
    make(fs, 2);
    weft_as_completed *it;
    WT_OK(weft_as_completed_new(&it, fs, 2, 60));
    nexter n = {.it = it, .rc = 1};
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, next_thread, &n), 0);
    wt_wait_until_parked(&n.slot, WEFT_WAIT_FUTURE);
    WT_OK(weft_future_set_result(fs[1], NULL));
    pthread_join(t, NULL);
    WT_OK(n.rc);
    ck_assert_ptr_eq(n.got, fs[1]);
    weft_as_completed_free(it);
    WT_OK(weft_future_set_result(fs[0], NULL));
    drop(fs, 2);
}
END_TEST

START_TEST(ac_timeout)
{
    weft_future *fs[3];
    make(fs, 3);
    WT_OK(weft_future_set_result(fs[2], NULL));
    weft_as_completed *it;
    double t0 = weft_monotonic();
    WT_OK(weft_as_completed_new(&it, fs, 3, 0.05));
    weft_future *f;
    WT_OK(weft_as_completed_next(it, &f, WEFT_FOREVER));
    ck_assert_ptr_eq(f, fs[2]);
    WT_ERR(weft_as_completed_next(it, &f, WEFT_FOREVER), WEFT_ETIMEDOUT);
    double waited = weft_monotonic() - t0;
    ck_assert_msg(waited >= 0.05, "waited %.3f s", waited);
    /* The timeout covers the whole iteration: no fresh 0.05 s now. */
    double t1 = weft_monotonic();
    WT_ERR(weft_as_completed_next(it, &f, WEFT_FOREVER), WEFT_ETIMEDOUT);
    ck_assert_msg(weft_monotonic() - t1 < 0.04, "waited again");
    /* What completes afterwards is still handed out. */
    WT_OK(weft_future_set_result(fs[0], NULL));
    WT_OK(weft_as_completed_next(it, &f, WEFT_FOREVER));
    ck_assert_ptr_eq(f, fs[0]);
    WT_ERR(weft_as_completed_next(it, &f, WEFT_FOREVER), WEFT_ETIMEDOUT);
    weft_as_completed_free(it);

    /* Timeout 0: the done ones, then ETIMEDOUT at once. */
    WT_OK(weft_as_completed_new(&it, fs, 3, 0));
    WT_OK(weft_as_completed_next(it, &f, WEFT_FOREVER));
    WT_OK(weft_as_completed_next(it, &f, WEFT_FOREVER));
    WT_ERR(weft_as_completed_next(it, &f, WEFT_FOREVER), WEFT_ETIMEDOUT);
    weft_as_completed_free(it);
    WT_OK(weft_future_set_result(fs[1], NULL));
    drop(fs, 3);
}
END_TEST

START_TEST(ac_free_while_pending)
{
    weft_future *fs[3];
    make(fs, 3);
    weft_as_completed *it;
    WT_OK(weft_as_completed_new(&it, fs, 3, WEFT_FOREVER));
    weft_future *keep[3] = {fs[0], fs[1], fs[2]};
    drop(fs, 3); /* the iterator's references keep them alive */
    ck_assert(!weft_future_done(keep[0]));
    weft_future_ref(keep[1]);
    weft_as_completed_free(it); /* unhooks and frees keep[0], keep[2] */
    WT_OK(weft_future_set_result(keep[1], NULL)); /* no hook left to run */
    weft_future_unref(keep[1]);
}
END_TEST

START_TEST(ac_duplicates)
{
    weft_future *fs[2];
    make(fs, 2);
    weft_future *list[5] = {fs[0], fs[1], fs[0], fs[1], fs[0]};
    weft_as_completed *it;
    WT_OK(weft_as_completed_new(&it, list, 5, WEFT_FOREVER));
    WT_OK(weft_future_set_result(fs[1], NULL));
    WT_OK(weft_future_set_result(fs[0], NULL));
    weft_future *f;
    WT_OK(weft_as_completed_next(it, &f, WEFT_FOREVER));
    ck_assert_ptr_eq(f, fs[1]);
    WT_OK(weft_as_completed_next(it, &f, WEFT_FOREVER));
    ck_assert_ptr_eq(f, fs[0]);
    WT_ERR(weft_as_completed_next(it, &f, WEFT_FOREVER), WEFT_EEMPTY);
    weft_as_completed_free(it);
    drop(fs, 2);
}
END_TEST

enum { AC_N = 200, AC_THREADS = 4 };

typedef struct ac_stress {
    weft_future **fs;
    int k;
} ac_stress;

static void *ac_completer(void *arg)
{
    ac_stress *s = arg;
    for (int i = s->k; i < AC_N; i += AC_THREADS) {
        if (i % 5 == 0)
            ck_assert(weft_future_cancel(s->fs[i]));
        else
            WT_OK(weft_future_set_result(s->fs[i], (void *)(intptr_t)i));
    }
    return NULL;
}

START_TEST(ac_stress_all_once)
{
    for (int round = 0; round < 10; round++) {
        weft_future *fs[AC_N];
        make(fs, AC_N);
        weft_as_completed *it;
        WT_OK(weft_as_completed_new(&it, fs, AC_N, WEFT_FOREVER));
        ac_stress s[AC_THREADS];
        pthread_t t[AC_THREADS];
        for (int k = 0; k < AC_THREADS; k++) {
            s[k] = (ac_stress){fs, k};
            ck_assert_int_eq(pthread_create(&t[k], NULL, ac_completer, &s[k]), 0);
        }
        static bool seen[AC_N];
        memset(seen, 0, sizeof seen);
        weft_future *f;
        for (int i = 0; i < AC_N; i++) {
            WT_OK(weft_as_completed_next(it, &f, WEFT_FOREVER));
            ck_assert(weft_future_done(f));
            int idx = -1;
            for (int j = 0; j < AC_N; j++)
                if (fs[j] == f)
                    idx = j;
            ck_assert_int_ge(idx, 0);
            ck_assert(!seen[idx]);
            seen[idx] = true;
        }
        WT_ERR(weft_as_completed_next(it, &f, WEFT_FOREVER), WEFT_EEMPTY);
        for (int k = 0; k < AC_THREADS; k++)
            pthread_join(t[k], NULL);
        weft_as_completed_free(it);
        drop(fs, AC_N);
    }
}
END_TEST

WT_MAIN("wait", 30, wait_errors, wait_already_done, wait_first_completed,
        wait_first_completed_by_cancel, wait_first_exception, wait_first_exception_no_error,
        wait_first_exception_already_failed, wait_all_completed, wait_timeout, wait_duplicates,
        wait_many, wait_stress, ac_errors, ac_order, ac_blocks_until_completion, ac_timeout,
        ac_free_while_pending, ac_duplicates, ac_stress_all_once)
