/*
 * Stress validators, one per primitive: many threads, many rounds, mixed
 * blocking/timeout/non-blocking calls, and a conservation check at the end
 * (counts balance, every permit comes back, every notify is consumed, every
 * generation completes). Sized to take well under a second plain.
 */
#include <pthread.h>
#include <sched.h>

#include "wt.h"

enum { NT = 8 };

static void run_threads(void *(*fn)(void *), int n)
{
    pthread_t t[NT];
    for (int i = 0; i < n; i++)
        ck_assert_int_eq(pthread_create(&t[i], NULL, fn, (void *)(intptr_t)i), 0);
    for (int i = 0; i < n; i++)
        pthread_join(t[i], NULL);
}

/* ---------------------------------------------------------------- RLock */

static weft_rlock rl = WEFT_RLOCK_INIT;
static int rl_inside;
static long rl_count, rl_timeouts;

static void *rlock_worker(void *arg)
{
    for (int i = 0; i < 4000; i++) {
        int rc = i % 5 == 0 ? weft_rlock_acquire(&rl, 0.0002)
                 : i % 5 == 1 ? weft_rlock_acquire(&rl, 0)
                              : weft_rlock_acquire(&rl, WEFT_FOREVER);
        if (rc != 0) {
            ck_assert(rc == WEFT_ETIMEDOUT || rc == WEFT_EBUSY);
            __atomic_fetch_add(&rl_timeouts, 1, __ATOMIC_RELAXED);
            continue;
        }
        ck_assert_int_eq(__atomic_fetch_add(&rl_inside, 1, __ATOMIC_RELAXED), 0);
        int depth = 1 + i % 3;
        for (int d = 1; d < depth; d++)
            WT_OK(weft_rlock_acquire(&rl, WEFT_FOREVER));
        ck_assert_uint_eq(weft_rlock_count(&rl), (unsigned)depth);
        rl_count++;
        __atomic_fetch_sub(&rl_inside, 1, __ATOMIC_RELAXED);
        for (int d = 0; d < depth; d++)
            WT_OK(weft_rlock_release(&rl));
        ck_assert(!weft_rlock_is_owned(&rl));
    }
    return NULL;
}

START_TEST(stress_rlock)
{
    run_threads(rlock_worker, NT);
    ck_assert_int_eq(rl_count + rl_timeouts, NT * 4000);
    ck_assert_uint_eq(__atomic_load_n(&rl.lock_.word_, __ATOMIC_RELAXED), 0);
    ck_assert_uint_eq(rl.owner_, 0);
}
END_TEST

/* ------------------------------------------------------------ Condition */

/* Tokens: producers add one and notify(1); consumers wait for one and take
 * it. Every token added is taken exactly once, and when all is done no
 * waiter is left. Some consumer waits time out and retry. */
enum { TOKENS_PER_PRODUCER = 6000 };
static weft_lock tk_lock = WEFT_LOCK_INIT;
static weft_condition tk_cond;
static long tokens, taken, timeouts;

static bool have_token(void *arg)
{
    return tokens > 0;
}

static void *token_producer(void *arg)
{
    for (int i = 0; i < TOKENS_PER_PRODUCER; i++) {
        WT_OK(weft_condition_acquire(&tk_cond, WEFT_FOREVER));
        tokens++;
        WT_OK(weft_condition_notify(&tk_cond, 1));
        WT_OK(weft_condition_release(&tk_cond));
    }
    return NULL;
}

static void *token_consumer(void *arg)
{
    for (int i = 0; i < TOKENS_PER_PRODUCER; i++) {
        WT_OK(weft_condition_acquire(&tk_cond, WEFT_FOREVER));
        for (;;) {
            int rc = i % 2 ? weft_condition_wait_for(&tk_cond, have_token, NULL, 0.001)
                           : (tokens > 0 ? 0 : weft_condition_wait(&tk_cond, 0.001));
            ck_assert(weft_lock_locked(&tk_lock));
            if (tokens > 0)
                break;
            if (rc == WEFT_ETIMEDOUT)
                timeouts++;
        }
        tokens--;
        taken++;
        WT_OK(weft_condition_release(&tk_cond));
    }
    return NULL;
}

static void *token_role(void *arg)
{
    return (intptr_t)arg % 2 ? token_producer(arg) : token_consumer(arg);
}

START_TEST(stress_condition)
{
    WT_OK(weft_condition_init(&tk_cond, &tk_lock));
    run_threads(token_role, NT);
    ck_assert_int_eq(taken, (long)NT / 2 * TOKENS_PER_PRODUCER);
    ck_assert_int_eq(tokens, 0);
    ck_assert_uint_eq(tk_cond.waiters_, 0);
    ck_assert_uint_eq(__atomic_load_n(&tk_lock.word_, __ATOMIC_RELAXED), 0);
}
END_TEST

/* A private-RLock condition, notify_all: a counter that each thread
 * advances in turn (thread i moves it when counter % NT == i). */
enum { TURNS = 600 };
static weft_condition turn_cond;
static long turn;

static bool my_turn(void *arg)
{
    return turn % NT == (intptr_t)arg;
}

static void *take_turns(void *arg)
{
    for (int i = 0; i < TURNS; i++) {
        WT_OK(weft_condition_acquire(&turn_cond, WEFT_FOREVER));
        WT_OK(weft_condition_acquire(&turn_cond, WEFT_FOREVER)); /* two levels across the wait */
        WT_OK(weft_condition_wait_for(&turn_cond, my_turn, arg, WEFT_FOREVER));
        ck_assert_uint_eq(weft_rlock_count(turn_cond.lock_), 2);
        turn++;
        WT_OK(weft_condition_notify_all(&turn_cond));
        WT_OK(weft_condition_release(&turn_cond));
        WT_OK(weft_condition_release(&turn_cond));
    }
    return NULL;
}

START_TEST(stress_condition_turns)
{
    WT_OK(weft_condition_init(&turn_cond, NULL));
    run_threads(take_turns, NT);
    ck_assert_int_eq(turn, (long)NT * TURNS);
    ck_assert_uint_eq(turn_cond.waiters_, 0);
}
END_TEST

/* ------------------------------------------------------------ Semaphore */

/* Permits are conserved: with value 3 and 8 threads holding 1 or 2 at a
 * time (release_n), never more than 3 are out and all 3 come back. */
static weft_semaphore sem = WEFT_BOUNDED_SEMAPHORE_INIT(3);
static int out;

static void *sem_worker(void *arg)
{
    for (int i = 0; i < 1500; i++) {
        unsigned k = 1 + (i + (int)(intptr_t)arg) % 2;
        unsigned got = 0;
        for (; got < k; got++) {
            /* Waiting without end only while holding nothing: holders of
             * one permit waiting for a second could otherwise deadlock. */
            int rc = got > 0 || i % 7 == 0 ? weft_semaphore_acquire(&sem, 0.0002)
                                           : weft_semaphore_acquire(&sem, WEFT_FOREVER);
            if (rc != 0) {
                WT_ERR(rc, WEFT_ETIMEDOUT);
                break;
            }
            ck_assert_int_le(__atomic_add_fetch(&out, 1, __ATOMIC_RELAXED), 3);
        }
        if (got == 0)
            continue;
        __atomic_sub_fetch(&out, (int)got, __ATOMIC_RELAXED);
        WT_OK(got == 1 ? weft_semaphore_release(&sem) : weft_semaphore_release_n(&sem, got));
    }
    return NULL;
}

START_TEST(stress_semaphore)
{
    run_threads(sem_worker, NT);
    ck_assert_int_eq(out, 0);
    ck_assert_uint_eq(__atomic_load_n(&sem.word_, __ATOMIC_RELAXED), 3u << 1);
    WT_ERR(weft_semaphore_release(&sem), WEFT_EOVERFLOW);
}
END_TEST

/* ---------------------------------------------------------------- Event */

/* Rounds of: one setter, NT-1 waiters; every waiter sees every set once.
 * A barrier separates the rounds so the clear cannot undo a set before its
 * waiters looked. */
enum { EV_ROUNDS = 1500 };
static weft_event ev = WEFT_EVENT_INIT;
static weft_barrier ev_b1, ev_b2;
static long ev_seen;

static void *event_worker(void *arg)
{
    bool setter = (intptr_t)arg == 0;
    for (int r = 0; r < EV_ROUNDS; r++) {
        if (setter) {
            if (r % 2)
                sched_yield(); /* let waiters park in some rounds */
            WT_OK(weft_event_set(&ev));
        } else {
            WT_OK(weft_event_wait(&ev, r % 3 ? WEFT_FOREVER : 10.0));
            __atomic_fetch_add(&ev_seen, 1, __ATOMIC_RELAXED);
        }
        WT_OK(weft_barrier_wait(&ev_b1, NULL, WEFT_FOREVER));
        if (setter)
            WT_OK(weft_event_clear(&ev));
        WT_OK(weft_barrier_wait(&ev_b2, NULL, WEFT_FOREVER));
    }
    return NULL;
}

START_TEST(stress_event)
{
    WT_OK(weft_barrier_init(&ev_b1, NT, NULL, NULL));
    WT_OK(weft_barrier_init(&ev_b2, NT, NULL, NULL));
    run_threads(event_worker, NT);
    ck_assert_int_eq(ev_seen, (long)(NT - 1) * EV_ROUNDS);
    ck_assert_uint_eq(__atomic_load_n(&ev.word_, __ATOMIC_RELAXED) & 3u, 0);
}
END_TEST

/* -------------------------------------------------------------- Barrier */

/* Every generation: indices a permutation (their sum checks it along with
 * the per-generation count), the action once, and a shared counter that the
 * action sees complete. */
enum { B_GENS = 2000 };
static weft_barrier bar;
static long gen_sum[B_GENS], gen_hits[B_GENS], work[B_GENS];
static long actions;
static int action_saw_incomplete;

static int bar_action(void *arg)
{
    long g = actions++;
    if (__atomic_load_n(&work[g], __ATOMIC_RELAXED) != NT)
        action_saw_incomplete = 1;
    return 0;
}

static void *barrier_worker(void *arg)
{
    for (int g = 0; g < B_GENS; g++) {
        __atomic_fetch_add(&work[g], 1, __ATOMIC_RELAXED);
        unsigned idx;
        WT_OK(weft_barrier_wait(&bar, &idx, WEFT_FOREVER));
        __atomic_fetch_add(&gen_sum[g], idx, __ATOMIC_RELAXED);
        __atomic_fetch_add(&gen_hits[g], 1, __ATOMIC_RELAXED);
    }
    return NULL;
}

START_TEST(stress_barrier)
{
    WT_OK(weft_barrier_init(&bar, NT, bar_action, NULL));
    run_threads(barrier_worker, NT);
    ck_assert_int_eq(actions, B_GENS);
    ck_assert(!action_saw_incomplete);
    for (int g = 0; g < B_GENS; g++) {
        ck_assert_int_eq(gen_hits[g], NT);
        ck_assert_int_eq(gen_sum[g], NT * (NT - 1) / 2);
    }
    ck_assert_uint_eq(weft_barrier_n_waiting(&bar), 0);
    ck_assert(!weft_barrier_broken(&bar));
}
END_TEST

WT_MAIN("sync_stress", 60, stress_rlock, stress_condition, stress_condition_turns,
        stress_semaphore, stress_event, stress_barrier)
