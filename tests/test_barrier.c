/* weft_barrier: arrival indices, the action, breaking (timeout, action
 * failure, abort), reset, and reuse over many generations. */
#include <pthread.h>
#include <sched.h>

#include "internal/park.h"
#include "wt.h"

START_TEST(barrier_errors)
{
    weft_barrier b;
    WT_ERR(weft_barrier_init(&b, 0, NULL, NULL), WEFT_EINVAL);
    WT_ERR(weft_barrier_init(&b, (unsigned)-1, NULL, NULL), WEFT_EINVAL); /* Python's -1 */
    WT_ERR(weft_barrier_init(NULL, 2, NULL, NULL), WEFT_EINVAL);
    WT_OK(weft_barrier_init(&b, 2, NULL, NULL));
    WT_ERR(weft_barrier_wait(NULL, NULL, WEFT_FOREVER), WEFT_EINVAL);
    WT_ERR(weft_barrier_wait(NULL, NULL, 1), WEFT_EINVAL);
    WT_ERR(weft_barrier_wait(&b, NULL, -1.5), WEFT_EINVAL);
    WT_ERR(weft_barrier_wait(&b, NULL, 0.0 / 0.0), WEFT_EINVAL);
    WT_ERR(weft_barrier_abort(NULL), WEFT_EINVAL);
    WT_ERR(weft_barrier_reset(NULL), WEFT_EINVAL);
    weft_barrier_destroy(NULL); /* harmless */
    ck_assert_uint_eq(weft_barrier_parties(NULL), 0);
    ck_assert_uint_eq(weft_barrier_n_waiting(NULL), 0);
    ck_assert(!weft_barrier_broken(NULL));
    /* The failed calls changed nothing. */
    ck_assert_uint_eq(weft_barrier_parties(&b), 2);
    ck_assert_uint_eq(weft_barrier_n_waiting(&b), 0);
    ck_assert(!weft_barrier_broken(&b));
    weft_barrier_destroy(&b);
}
END_TEST

static int count_action(void *arg)
{
    __atomic_fetch_add((int *)arg, 1, __ATOMIC_RELAXED);
    return 0;
}

START_TEST(barrier_single_party)
{
    weft_barrier b;
    int runs = 0;
    WT_OK(weft_barrier_init(&b, 1, count_action, &runs));
    for (int i = 0; i < 3; i++)
    {
        unsigned idx = 99;
        WT_OK(weft_barrier_wait(&b, &idx, WEFT_FOREVER));
        ck_assert_uint_eq(idx, 0); /* the only, hence last, arrival */
    }
    ck_assert_int_eq(runs, 3);
    ck_assert(!weft_barrier_broken(&b));
}
END_TEST

typedef struct party {
    weft_barrier *b;
    double timeout;
    weft__wait_slot slot;
    int rc;
    unsigned index;
} party;

static void *arrive(void *arg)
{
    party *p = arg;
    weft__my_wait_slot = &p->slot;
    p->rc = weft_barrier_wait(p->b, &p->index, p->timeout);
    return NULL;
}

/* Start n parties one after another, each parked before the next arrives. */
static void start_parties(weft_barrier *b, party *p, pthread_t *t, int n, double timeout)
{
    for (int i = 0; i < n; i++) {
        p[i] = (party){.b = b, .timeout = timeout, .rc = 1, .index = 99};
        ck_assert_int_eq(pthread_create(&t[i], NULL, arrive, &p[i]), 0);
        wt_wait_until_parked(&p[i].slot, WEFT_WAIT_BARRIER);
        ck_assert_ptr_eq(__atomic_load_n(&p[i].slot.what, __ATOMIC_RELAXED), b);
        ck_assert_uint_eq(weft_barrier_n_waiting(b), (unsigned)i + 1);
    }
}

static void join_all(party *p, pthread_t *t, int n, int want)
{
    for (int i = 0; i < n; i++) {
        pthread_join(t[i], NULL);
        WT_ERR(p[i].rc, want);
    }
}

/* Arrival order is the index; the last runs the action and gets parties-1. */
START_TEST(barrier_indices_in_arrival_order)
{
    enum { N = 4 };
    weft_barrier b;
    int runs = 0;
    WT_OK(weft_barrier_init(&b, N, count_action, &runs));
    party p[N - 1];
    pthread_t t[N - 1];
    start_parties(&b, p, t, N - 1, WEFT_FOREVER);
    ck_assert_int_eq(runs, 0);
    unsigned idx;
    WT_OK(weft_barrier_wait(&b, &idx, WEFT_FOREVER));
    ck_assert_uint_eq(idx, N - 1);
    ck_assert_int_eq(runs, 1);
    for (int i = 0; i < N - 1; i++) {
        pthread_join(t[i], NULL);
        WT_OK(p[i].rc);
        ck_assert_uint_eq(p[i].index, (unsigned)i);
    }
    ck_assert_uint_eq(weft_barrier_n_waiting(&b), 0);
}
END_TEST

/* A timeout while others wait breaks the barrier for everyone. */
START_TEST(barrier_timeout_breaks)
{
    weft_barrier b;
    WT_OK(weft_barrier_init(&b, 4, NULL, NULL));
    party p[2];
    pthread_t t[2];
    start_parties(&b, p, t, 2, WEFT_FOREVER);
    double t0 = weft_monotonic();
    WT_ERR(weft_barrier_wait(&b, NULL, 0.02), WEFT_EBROKEN);
    ck_assert(weft_monotonic() - t0 >= 0.02);
    join_all(p, t, 2, WEFT_EBROKEN);
    ck_assert(weft_barrier_broken(&b));
    ck_assert_uint_eq(weft_barrier_n_waiting(&b), 0);
    /* Broken stays broken. */
    WT_ERR(weft_barrier_wait(&b, NULL, WEFT_FOREVER), WEFT_EBROKEN);
    WT_ERR(weft_barrier_wait(&b, NULL, 0), WEFT_EBROKEN);
}
END_TEST

/* wait(0) by a party that is not the last breaks it, as in Python. */
START_TEST(barrier_zero_timeout)
{
    weft_barrier b;
    WT_OK(weft_barrier_init(&b, 2, NULL, NULL));
    WT_ERR(weft_barrier_wait(&b, NULL, 0), WEFT_EBROKEN);
    ck_assert(weft_barrier_broken(&b));
    WT_OK(weft_barrier_reset(&b));
    ck_assert(!weft_barrier_broken(&b));
}
END_TEST

static int failing_action(void *arg)
{
    return *(int *)arg;
}

/* The third party's wait passes the barrier as its last arrival, and the
 * two started parties passed as the first and second. */
static void expect_last_of_three(weft_barrier *b, party *p, pthread_t *t)
{
    unsigned idx;
    WT_OK(weft_barrier_wait(b, &idx, WEFT_FOREVER));
    ck_assert_uint_eq(idx, 2);
    for (unsigned i = 0; i < 2; i++) {
        pthread_join(t[i], NULL);
        WT_OK(p[i].rc);
        ck_assert_uint_eq(p[i].index, i);
    }
}

/* An action that fails breaks the barrier: its thread gets the code, the
 * others WEFT_EBROKEN. A positive code is reported as WEFT_EBROKEN. */
START_TEST(barrier_action_failure)
{
    weft_barrier b;
    int code = WEFT_ECANCELLED;
    WT_OK(weft_barrier_init(&b, 3, failing_action, &code));
    party p[2];
    pthread_t t[2];
    start_parties(&b, p, t, 2, WEFT_FOREVER);
    WT_ERR(weft_barrier_wait(&b, NULL, WEFT_FOREVER), WEFT_ECANCELLED);
    join_all(p, t, 2, WEFT_EBROKEN);
    ck_assert(weft_barrier_broken(&b));

    WT_OK(weft_barrier_reset(&b));
    code = 7;
    start_parties(&b, p, t, 2, WEFT_FOREVER);
    WT_ERR(weft_barrier_wait(&b, NULL, WEFT_FOREVER), WEFT_EBROKEN);
    join_all(p, t, 2, WEFT_EBROKEN);

    WT_OK(weft_barrier_reset(&b));
    code = 0;
    start_parties(&b, p, t, 2, WEFT_FOREVER);
    expect_last_of_three(&b, p, t);
}
END_TEST

START_TEST(barrier_abort)
{
    weft_barrier b;
    WT_OK(weft_barrier_init(&b, 3, NULL, NULL));
    party p[2];
    pthread_t t[2];
    start_parties(&b, p, t, 2, WEFT_FOREVER);
    WT_OK(weft_barrier_abort(&b));
    join_all(p, t, 2, WEFT_EBROKEN);
    ck_assert(weft_barrier_broken(&b));
    WT_ERR(weft_barrier_wait(&b, NULL, WEFT_FOREVER), WEFT_EBROKEN);
    WT_OK(weft_barrier_abort(&b)); /* aborting a broken barrier is harmless */
    WT_OK(weft_barrier_reset(&b));
    ck_assert(!weft_barrier_broken(&b));
}
END_TEST

/* Reset wakes the current waiters with WEFT_EBROKEN and leaves an empty,
 * unbroken barrier that works at once. */
START_TEST(barrier_reset_with_waiters)
{
    weft_barrier b;
    int runs = 0;
    WT_OK(weft_barrier_init(&b, 3, count_action, &runs));
    party p[2];
    pthread_t t[2];
    start_parties(&b, p, t, 2, WEFT_FOREVER);
    WT_OK(weft_barrier_reset(&b));
    join_all(p, t, 2, WEFT_EBROKEN);
    ck_assert(!weft_barrier_broken(&b));
    ck_assert_uint_eq(weft_barrier_n_waiting(&b), 0);
    ck_assert_int_eq(runs, 0);

    start_parties(&b, p, t, 2, WEFT_FOREVER);
    expect_last_of_three(&b, p, t);
    ck_assert_int_eq(runs, 1);
}
END_TEST

/* Python decides a barrier's timeout race by who takes the barrier's lock
 * first. A party whose deadline passes after the last party arrived (here,
 * while the action runs) passes with the others: the generation is not
 * broken. The action holds the barrier's lock and waits until the timed-out
 * party is queued on it (bit 1 of the lock's word). If the deadline passed
 * before the last party could take the lock, the timed-out party broke the
 * barrier first (as in Python): reset and try again with a longer one. */
typedef struct late_party {
    weft_barrier *b;
    bool wait_for_late, ran;
} late_party;

static int wait_for_late_party(void *arg)
{
    late_party *lp = arg;
    lp->ran = true;
    while (lp->wait_for_late && !(__atomic_load_n(&lp->b->lock_.word_, __ATOMIC_ACQUIRE) & 2u))
        sched_yield();
    return 0;
}

START_TEST(barrier_timeout_during_action_passes)
{
    weft_barrier b;
    late_party lp = {.b = &b, .wait_for_late = true};
    WT_OK(weft_barrier_init(&b, 2, wait_for_late_party, &lp));
    party p[1];
    pthread_t t[1];
    for (double timeout = 0.02;; timeout *= 2) {
        ck_assert(timeout < 10);
        lp.ran = false;
        start_parties(&b, p, t, 1, timeout);
        unsigned idx;
        int rc = weft_barrier_wait(&b, &idx, WEFT_FOREVER);
        if (!lp.ran) {
            WT_ERR(rc, WEFT_EBROKEN); /* the timed-out party came first */
            join_all(p, t, 1, WEFT_EBROKEN);
            WT_OK(weft_barrier_reset(&b));
            continue;
        }
        WT_OK(rc);
        ck_assert_uint_eq(idx, 1);
        join_all(p, t, 1, 0);
        ck_assert_uint_eq(p[0].index, 0);
        break;
    }
    ck_assert(!weft_barrier_broken(&b));
    /* The next generation passes as usual. */
    lp.wait_for_late = false;
    start_parties(&b, p, t, 1, WEFT_FOREVER);
    unsigned idx;
    WT_OK(weft_barrier_wait(&b, &idx, WEFT_FOREVER));
    ck_assert_uint_eq(idx, 1);
    join_all(p, t, 1, 0);
}
END_TEST

/* Python's test_abort_and_reset: a barrier broken by an abort while
 * parties wait, then reset once everyone has left it, passes a whole
 * generation again (indices, action and all). */
START_TEST(barrier_abort_then_reset_passes_again)
{
    weft_barrier b;
    int runs = 0;
    WT_OK(weft_barrier_init(&b, 3, count_action, &runs));
    party p[2];
    pthread_t t[2];
    start_parties(&b, p, t, 2, WEFT_FOREVER);
    WT_OK(weft_barrier_abort(&b));
    join_all(p, t, 2, WEFT_EBROKEN);
    WT_ERR(weft_barrier_wait(&b, NULL, 0), WEFT_EBROKEN);
    ck_assert(weft_barrier_broken(&b));
    ck_assert_int_eq(runs, 0);

    WT_OK(weft_barrier_reset(&b));
    ck_assert(!weft_barrier_broken(&b));
    start_parties(&b, p, t, 2, WEFT_FOREVER);
    expect_last_of_three(&b, p, t);
    ck_assert_int_eq(runs, 1);
    ck_assert(!weft_barrier_broken(&b));
}
END_TEST

/* Many generations: each generation's indices are a permutation of
 * 0..parties-1 and its action runs exactly once, before anyone leaves. */
enum { PARTIES = 4, GENS = 300 };
static weft_barrier gb;
static int seen[GENS][PARTIES];
static int actions, action_gen_ok = 1;
static int left[GENS];

static int gen_action(void *arg)
{
    int g = actions++;
    /* Nobody of this generation has left yet. */
    if (__atomic_load_n(&left[g], __ATOMIC_RELAXED) != 0)
        action_gen_ok = 0;
    return 0;
}

static void *many_generations(void *arg)
{
    for (int g = 0; g < GENS; g++) {
        unsigned idx;
        WT_OK(weft_barrier_wait(&gb, &idx, WEFT_FOREVER));
        ck_assert_uint_lt(idx, PARTIES);
        __atomic_fetch_add(&seen[g][idx], 1, __ATOMIC_RELAXED);
        __atomic_fetch_add(&left[g], 1, __ATOMIC_RELAXED);
    }
    return NULL;
}

START_TEST(barrier_reuse_generations)
{
    WT_OK(weft_barrier_init(&gb, PARTIES, gen_action, NULL));
    pthread_t t[PARTIES];
    for (int i = 0; i < PARTIES; i++)
        ck_assert_int_eq(pthread_create(&t[i], NULL, many_generations, NULL), 0);
    for (int i = 0; i < PARTIES; i++)
        pthread_join(t[i], NULL);
    ck_assert_int_eq(actions, GENS);
    ck_assert(action_gen_ok);
    for (int g = 0; g < GENS; g++)
        for (int i = 0; i < PARTIES; i++)
            ck_assert_msg(seen[g][i] == 1, "generation %d index %d seen %d times", g, i,
                          seen[g][i]);
    ck_assert(!weft_barrier_broken(&gb));
}
END_TEST

/* An action that calls its own barrier gets WEFT_EDEADLK instead of
 * waiting for ever on the barrier's lock, and the calls change nothing:
 * the generation still passes. The getters work from the action. */
typedef struct reentrant {
    weft_barrier *b;
    int wait_rc, poll_rc, abort_rc, reset_rc;
    unsigned parties, waiting;
    bool broken;
} reentrant;

static int call_own_barrier(void *arg)
{
    reentrant *r = arg;
    unsigned idx = 99;
    r->wait_rc = weft_barrier_wait(r->b, &idx, WEFT_FOREVER);
    r->poll_rc = weft_barrier_wait(r->b, NULL, 0);
    r->abort_rc = weft_barrier_abort(r->b);
    r->reset_rc = weft_barrier_reset(r->b);
    r->parties = weft_barrier_parties(r->b);
    r->waiting = weft_barrier_n_waiting(r->b);
    r->broken = weft_barrier_broken(r->b);
    return idx == 0 ? 0 : WEFT_EINVAL; /* the refused wait set no index */
}

START_TEST(barrier_action_calls_barrier)
{
    weft_barrier b;
    reentrant r = {.b = &b};
    WT_OK(weft_barrier_init(&b, 2, call_own_barrier, &r));
    party p[1];
    pthread_t t[1];
    start_parties(&b, p, t, 1, WEFT_FOREVER);
    unsigned idx;
    WT_OK(weft_barrier_wait(&b, &idx, WEFT_FOREVER));
    ck_assert_uint_eq(idx, 1);
    join_all(p, t, 1, 0);
    WT_ERR(r.wait_rc, WEFT_EDEADLK);
    WT_ERR(r.poll_rc, WEFT_EDEADLK);
    WT_ERR(r.abort_rc, WEFT_EDEADLK);
    WT_ERR(r.reset_rc, WEFT_EDEADLK);
    ck_assert_uint_eq(r.parties, 2);
    ck_assert_uint_eq(r.waiting, 2);
    ck_assert(!r.broken);
    ck_assert(!weft_barrier_broken(&b));
    /* Outside the action the same calls work again. */
    WT_OK(weft_barrier_abort(&b));
    WT_OK(weft_barrier_reset(&b));
}
END_TEST

WT_MAIN("barrier", 30, barrier_errors, barrier_single_party, barrier_indices_in_arrival_order,
        barrier_timeout_breaks, barrier_zero_timeout, barrier_action_failure,
        barrier_abort, barrier_reset_with_waiters, barrier_reuse_generations,
        barrier_action_calls_barrier, barrier_abort_then_reset_passes_again,
        barrier_timeout_during_action_passes)
