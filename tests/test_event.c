/* weft_event: the flag, timeouts, errors, and set waking every waiter. */
#include <pthread.h>
#include <sched.h>

#include "internal/park.h"
#include "wt.h"

#define PARKED 2u /* src/sync/event.c: waiters may be parked */

START_TEST(event_basic)
{
    weft_event ev = WEFT_EVENT_INIT;
    ck_assert(!weft_event_is_set(&ev));
    WT_ERR(weft_event_wait(&ev, 0), WEFT_ETIMEDOUT);
    WT_OK(weft_event_set(&ev));
    ck_assert(weft_event_is_set(&ev));
    WT_OK(weft_event_set(&ev)); /* setting a set flag is harmless */
    WT_OK(weft_event_wait(&ev, 0));
    WT_OK(weft_event_wait(&ev, 1));
    WT_OK(weft_event_wait(&ev, WEFT_FOREVER));
    WT_OK(weft_event_clear(&ev));
    ck_assert(!weft_event_is_set(&ev));
    WT_OK(weft_event_clear(&ev));
    WT_ERR(weft_event_wait(&ev, 0), WEFT_ETIMEDOUT);
    weft_event_destroy(&ev);
}
END_TEST

START_TEST(event_errors)
{
    weft_event ev;
    WT_OK(weft_event_init(&ev));
    WT_ERR(weft_event_init(NULL), WEFT_EINVAL);
    weft_event_destroy(NULL); /* harmless */
    WT_ERR(weft_event_set(NULL), WEFT_EINVAL);
    WT_ERR(weft_event_clear(NULL), WEFT_EINVAL);
    WT_ERR(weft_event_wait(NULL, 0), WEFT_EINVAL);
    WT_ERR(weft_event_wait(&ev, -3), WEFT_EINVAL);
    WT_ERR(weft_event_wait(&ev, 0.0 / 0.0), WEFT_EINVAL);
    ck_assert(!weft_event_is_set(NULL));
    ck_assert(!weft_event_is_set(&ev));
    ck_assert_uint_eq(__atomic_load_n(&ev.word_, __ATOMIC_RELAXED), 0);
}
END_TEST

START_TEST(event_wait_timeout)
{
    weft_event ev = WEFT_EVENT_INIT;
    double t0 = weft_monotonic();
    WT_ERR(weft_event_wait(&ev, 0.03), WEFT_ETIMEDOUT);
    double waited = weft_monotonic() - t0;
    ck_assert_msg(waited >= 0.03, "waited %.3f s", waited);
    /* The timed-out waiter was the last: no PARKED bit left behind. */
    ck_assert_uint_eq(__atomic_load_n(&ev.word_, __ATOMIC_RELAXED) & PARKED, 0);
}
END_TEST

typedef struct waiter {
    weft_event *ev;
    double timeout;
    weft__wait_slot slot;
    int rc;
} waiter;

static void *wait_event(void *arg)
{
    waiter *w = arg;
    weft__my_wait_slot = &w->slot;
    w->rc = weft_event_wait(w->ev, w->timeout);
    return NULL;
}

enum { NW = 6 };

static void start_waiters(weft_event *ev, waiter *w, pthread_t *t, double timeout)
{
    for (int i = 0; i < NW; i++) {
        w[i] = (waiter){.ev = ev, .timeout = timeout, .rc = 1};
        ck_assert_int_eq(pthread_create(&t[i], NULL, wait_event, &w[i]), 0);
    }
    for (int i = 0; i < NW; i++) {
        wt_wait_until_parked(&w[i].slot, WEFT_WAIT_EVENT);
        ck_assert_ptr_eq(__atomic_load_n(&w[i].slot.what, __ATOMIC_RELAXED), ev);
    }
}

START_TEST(event_set_wakes_all)
{
    weft_event ev = WEFT_EVENT_INIT;
    waiter w[NW];
    pthread_t t[NW];
    start_waiters(&ev, w, t, WEFT_FOREVER);
    ck_assert_uint_ne(__atomic_load_n(&ev.word_, __ATOMIC_RELAXED) & PARKED, 0);
    WT_OK(weft_event_set(&ev));
    for (int i = 0; i < NW; i++) {
        pthread_join(t[i], NULL);
        WT_OK(w[i].rc);
    }
    ck_assert_uint_eq(__atomic_load_n(&ev.word_, __ATOMIC_RELAXED) & PARKED, 0);
    ck_assert(weft_event_is_set(&ev));
}
END_TEST

/* A set undone by a clear before the waiters run still counts for the
 * waiters that were parked when it happened (Python's wait returns True). */
START_TEST(event_set_then_clear_still_wakes)
{
    weft_event ev = WEFT_EVENT_INIT;
    waiter w[NW];
    pthread_t t[NW];
    start_waiters(&ev, w, t, 10.0);
    WT_OK(weft_event_set(&ev));
    WT_OK(weft_event_clear(&ev));
    for (int i = 0; i < NW; i++) {
        pthread_join(t[i], NULL);
        WT_OK(w[i].rc);
    }
    ck_assert(!weft_event_is_set(&ev));
    ck_assert_uint_eq(__atomic_load_n(&ev.word_, __ATOMIC_RELAXED) & PARKED, 0);
    /* Later waiters wait for a new set. */
    WT_ERR(weft_event_wait(&ev, 0.001), WEFT_ETIMEDOUT);
}
END_TEST

/* One waiter timing out leaves the others parked, and the PARKED bit with
 * them; set still wakes them. */
START_TEST(event_timeout_among_waiters)
{
    weft_event ev = WEFT_EVENT_INIT;
    waiter w[NW];
    pthread_t t[NW];
    start_waiters(&ev, w, t, WEFT_FOREVER);
    WT_ERR(weft_event_wait(&ev, 0.01), WEFT_ETIMEDOUT);
    ck_assert_uint_ne(__atomic_load_n(&ev.word_, __ATOMIC_RELAXED) & PARKED, 0);
    WT_OK(weft_event_set(&ev));
    for (int i = 0; i < NW; i++) {
        pthread_join(t[i], NULL);
        WT_OK(w[i].rc);
    }
    ck_assert_uint_eq(__atomic_load_n(&ev.word_, __ATOMIC_RELAXED) & PARKED, 0);
}
END_TEST

/* Ping-pong through two events: every set is seen by the other side. */
static weft_event ping = WEFT_EVENT_INIT, pong = WEFT_EVENT_INIT;

static void *ponger(void *arg)
{
    long n = (long)(intptr_t)arg;
    for (long i = 0; i < n; i++) {
        WT_OK(weft_event_wait(&ping, WEFT_FOREVER));
        WT_OK(weft_event_clear(&ping));
        WT_OK(weft_event_set(&pong));
    }
    return NULL;
}

START_TEST(event_ping_pong)
{
    enum { ROUNDS = 5000 };
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, ponger, (void *)(intptr_t)ROUNDS), 0);
    for (int i = 0; i < ROUNDS; i++) {
        WT_OK(weft_event_set(&ping));
        WT_OK(weft_event_wait(&pong, 5.0));
        WT_OK(weft_event_clear(&pong));
    }
    pthread_join(t, NULL);
    ck_assert_uint_eq(__atomic_load_n(&ping.word_, __ATOMIC_RELAXED) & 3u, 0);
    ck_assert_uint_eq(__atomic_load_n(&pong.word_, __ATOMIC_RELAXED) & 3u, 0);
}
END_TEST

WT_MAIN("event", 30, event_basic, event_errors, event_wait_timeout, event_set_wakes_all,
        event_set_then_clear_still_wakes, event_timeout_among_waiters, event_ping_pong)
