/*
 * park: validate, FIFO order, tokens, filters, timeouts and the
 * have_more/was_last bookkeeping that primitives rely on.
 */
#include <pthread.h>

#include "internal/clock.h"
#include "internal/park.h"
#include "wt.h"

/* A waiter thread parks on `key` and records what park returned. */
typedef struct parked {
    const void *key;
    uintptr_t park_token;
    double timeout;          /* WEFT_FOREVER or seconds */
    int rc;
    uintptr_t unpark_token;
    int order;               /* wake order, from a shared counter */
    pthread_t th;
} parked;

static int wake_counter;
static int queued_count; /* waiters that reached before_sleep */

static void note_queued(void *ctx)
{
    __atomic_fetch_add(&queued_count, 1, __ATOMIC_RELEASE);
}

static void *park_thread(void *arg)
{
    parked *p = arg;
    weft__park_spec spec = {.before_sleep = note_queued, .token = p->park_token,
                            .why = WEFT_WAIT_OTHER};
    int64_t deadline = p->timeout == WEFT_FOREVER ? WEFT__NO_DEADLINE : weft__deadline(p->timeout);
    p->rc = weft__park(p->key, &spec, deadline, &p->unpark_token);
    p->order = __atomic_fetch_add(&wake_counter, 1, __ATOMIC_RELAXED);
    return NULL;
}

/* Start a waiter and wait until it is queued (before_sleep ran), so the
 * queue order is the start order. */
static void start_parked(parked *p, const void *key, uintptr_t token, double timeout)
{
    int before = __atomic_load_n(&queued_count, __ATOMIC_ACQUIRE);
    p->key = key;
    p->park_token = token;
    p->timeout = timeout;
    ck_assert_int_eq(pthread_create(&p->th, NULL, park_thread, p), 0);
    while (__atomic_load_n(&queued_count, __ATOMIC_ACQUIRE) == before)
        sched_yield();
}

static bool refuse(void *ctx)
{
    return false;
}

START_TEST(park_validate_refuses)
{
    static int key;
    weft__park_spec spec = {.validate = refuse};
    WT_ERR(weft__park(&key, &spec, WEFT__NO_DEADLINE, NULL), WEFT_EAGAIN);
    ck_assert_uint_eq(weft__unpark(&key, 1, NULL, NULL), 0);
}
END_TEST

static weft__unpark_result last_result;
static int cb_calls;

static uintptr_t record_cb(void *ctx, weft__unpark_result r)
{
    last_result = r;
    cb_calls++;
    return (uintptr_t)ctx;
}

START_TEST(park_fifo_and_tokens)
{
    static int key;
    parked p[4] = {0};
    for (int i = 0; i < 4; i++)
        start_parked(&p[i], &key, 0, WEFT_FOREVER);

    /* Unpark one at a time: oldest first, with the callback's token. */
    ck_assert_uint_eq(weft__unpark(&key, 1, record_cb, (void *)7), 1);
    ck_assert_uint_eq(last_result.unparked, 1);
    ck_assert(last_result.have_more);
    pthread_join(p[0].th, NULL);
    WT_OK(p[0].rc);
    ck_assert_uint_eq(p[0].unpark_token, 7);

    /* Then the rest at once. */
    ck_assert_uint_eq(weft__unpark(&key, SIZE_MAX, record_cb, (void *)9), 3);
    ck_assert_uint_eq(last_result.unparked, 3);
    ck_assert(!last_result.have_more);
    for (int i = 1; i < 4; i++) {
        pthread_join(p[i].th, NULL);
        WT_OK(p[i].rc);
        ck_assert_uint_eq(p[i].unpark_token, 9);
    }
    ck_assert_int_eq(p[0].order, 0);

    /* Nobody left: the callback still runs and reports nothing. */
    cb_calls = 0;
    ck_assert_uint_eq(weft__unpark(&key, 1, record_cb, NULL), 0);
    ck_assert_int_eq(cb_calls, 1);
    ck_assert_uint_eq(last_result.unparked, 0);
    ck_assert(!last_result.have_more);
}
END_TEST

/* Many keys in one bucket table: waking one key never wakes another. */
START_TEST(park_keys_are_separate)
{
    enum { N = 64 };
    static char keys[N];
    parked p[N] = {0};
    for (int i = 0; i < N; i++)
        start_parked(&p[i], &keys[i], 0, WEFT_FOREVER);
    for (int i = N - 1; i >= 0; i--) {
        ck_assert_uint_eq(weft__unpark(&keys[i], SIZE_MAX, record_cb, (void *)(uintptr_t)i), 1);
        pthread_join(p[i].th, NULL);
        ck_assert_uint_eq(p[i].unpark_token, (uintptr_t)i);
    }
}
END_TEST

static weft__filter_result odd_only(void *ctx, uintptr_t token)
{
    return (token & 1) ? WEFT__FILTER_UNPARK : WEFT__FILTER_SKIP;
}

static weft__filter_result stop_at_two(void *ctx, uintptr_t token)
{
    return token == 2 ? WEFT__FILTER_STOP : WEFT__FILTER_UNPARK;
}

START_TEST(park_filter)
{
    static int key;
    parked p[4] = {0};
    for (int i = 0; i < 4; i++)
        start_parked(&p[i], &key, (uintptr_t)i, WEFT_FOREVER);
    /* Skip evens: wakes 1 and 3, reports that others remain. */
    ck_assert_uint_eq(weft__unpark_filter(&key, SIZE_MAX, odd_only, record_cb, NULL), 2);
    ck_assert(last_result.have_more);
    pthread_join(p[1].th, NULL);
    pthread_join(p[3].th, NULL);
    /* Stop at token 2: wakes 0 only. */
    ck_assert_uint_eq(weft__unpark_filter(&key, SIZE_MAX, stop_at_two, record_cb, NULL), 1);
    ck_assert(last_result.have_more);
    pthread_join(p[0].th, NULL);
    ck_assert_uint_eq(weft__unpark(&key, SIZE_MAX, NULL, NULL), 1);
    pthread_join(p[2].th, NULL);
}
END_TEST

static int timed_out_calls;
static bool timed_out_last;

static void on_timeout(void *ctx, bool was_last)
{
    timed_out_calls++;
    timed_out_last = was_last;
}

START_TEST(park_timeout)
{
    static int key;
    weft__park_spec spec = {.timed_out = on_timeout};
    double t0 = weft_monotonic();
    WT_ERR(weft__park(&key, &spec, weft__deadline(0.02), NULL), WEFT_ETIMEDOUT);
    ck_assert(weft_monotonic() - t0 >= 0.02);
    ck_assert_int_eq(timed_out_calls, 1);
    ck_assert(timed_out_last);
    /* A deadline already past times out at once, still through the callback. */
    WT_ERR(weft__park(&key, &spec, weft__now_ns() - 1, NULL), WEFT_ETIMEDOUT);
    ck_assert_int_eq(timed_out_calls, 2);
    /* It left nothing queued. */
    ck_assert_uint_eq(weft__unpark(&key, SIZE_MAX, NULL, NULL), 0);
}
END_TEST

/* A waiter that times out while another stays: was_last is false. */
START_TEST(park_timeout_not_last)
{
    static int key;
    parked stay = {0};
    start_parked(&stay, &key, 0, WEFT_FOREVER);
    weft__park_spec spec = {.timed_out = on_timeout};
    WT_ERR(weft__park(&key, &spec, weft__deadline(0.01), NULL), WEFT_ETIMEDOUT);
    ck_assert_int_eq(timed_out_calls, 1);
    ck_assert(!timed_out_last);
    ck_assert_uint_eq(weft__unpark(&key, 1, NULL, NULL), 1);
    pthread_join(stay.th, NULL);
    WT_OK(stay.rc);
}
END_TEST

/* Wake-ups racing with deadlines: every waiter either is woken (and counted
 * by unpark) or times out, never both and never neither. */
START_TEST(park_timeout_races_unpark)
{
    enum { N = 8, ROUNDS = 300 };
    static int key;
    for (int round = 0; round < ROUNDS; round++) {
        parked p[N] = {0};
        __atomic_store_n(&queued_count, 0, __ATOMIC_RELAXED);
        for (int i = 0; i < N; i++) {
            p[i].key = &key;
            p[i].timeout = 0.0002 * (i % 4);
            ck_assert_int_eq(pthread_create(&p[i].th, NULL, park_thread, &p[i]), 0);
        }
        size_t woken = 0;
        while (__atomic_load_n(&queued_count, __ATOMIC_ACQUIRE) < N / 2)
            sched_yield();
        woken += weft__unpark(&key, N / 2, NULL, NULL);
        for (int i = 0; i < N; i++)
            pthread_join(p[i].th, NULL);
        ck_assert_uint_eq(weft__unpark(&key, SIZE_MAX, NULL, NULL), 0); /* nothing left */
        size_t ok = 0, timeouts = 0;
        for (int i = 0; i < N; i++) {
            if (p[i].rc == 0)
                ok++;
            else
                timeouts += p[i].rc == WEFT_ETIMEDOUT;
        }
        /* Every waiter has a deadline, so all have returned: each one
         * counted by unpark returned 0, every other one timed out. */
        ck_assert_uint_eq(ok + timeouts, N);
        ck_assert_uint_eq(ok, woken);
    }
}
END_TEST

/* The calling thread's wait slot shows what it parks on. */
static weft__wait_slot slot;
static int observed_why;
static const void *observed_what;

static void look_at_slot(void *ctx, bool was_last)
{
    observed_why = __atomic_load_n(&slot.why, __ATOMIC_ACQUIRE);
    observed_what = __atomic_load_n(&slot.what, __ATOMIC_RELAXED);
}

START_TEST(park_wait_slot)
{
    static int key;
    weft__my_wait_slot = &slot;
    /* timed_out runs after the wait: the slot was set while sleeping and the
     * callback sees it still set (it is cleared just before park returns). */
    weft__park_spec spec = {.timed_out = look_at_slot, .why = WEFT_WAIT_EVENT,
                            .what = &key};
    WT_ERR(weft__park(&key, &spec, weft__deadline(0.001), NULL), WEFT_ETIMEDOUT);
    ck_assert_int_eq(observed_why, WEFT_WAIT_EVENT);
    ck_assert_ptr_eq(observed_what, &key);
    ck_assert_int_eq(slot.why, WEFT_WAIT_NONE);
    ck_assert_ptr_null(slot.what);
    weft__my_wait_slot = NULL;
}
END_TEST

WT_MAIN("park", 30, park_validate_refuses, park_fifo_and_tokens, park_keys_are_separate,
        park_filter, park_timeout, park_timeout_not_last, park_timeout_races_unpark,
        park_wait_slot)
