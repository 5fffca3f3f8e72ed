/*
 * weft demo: threads and locks at work, explained as they run (what the
 * weft program showed before the tour).
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include <weft.h>

#include "cli.h"

/* ----------------------------------------------------- 1. lock counter */

#define COUNTER_ROUNDS 100000

static weft_lock counter_lock = WEFT_LOCK_INIT;
static long counter;

static void *count_up(void *arg)
{
    for (int i = 0; i < COUNTER_ROUNDS; i++) {
        weft_lock_acquire(&counter_lock, WEFT_FOREVER);
        counter++;
        weft_lock_release(&counter_lock);
    }
    return NULL;
}

static int demo_counter(void)
{
    /* At least 4 threads, so there is contention even on a 2-core box. */
    int n = weft_cpu_count() < 4 ? 4 : (int)weft_cpu_count();
    weft_thread **threads = calloc((size_t)n, sizeof *threads);
    if (!threads)
        return WEFT_ENOMEM;

    printf("1. Counter: %d threads each add 1, %d times, under one weft_lock\n", n,
           COUNTER_ROUNDS);
    double start = weft_monotonic();
    for (int i = 0; i < n; i++) {
        CHECK(weft_thread_new(&threads[i], count_up, NULL, NULL));
        CHECK(weft_thread_start(threads[i]));
    }
    for (int i = 0; i < n; i++) {
        CHECK(weft_thread_join(threads[i], WEFT_FOREVER));
        weft_thread_unref(threads[i]);
    }
    double secs = weft_monotonic() - start;
    free(threads);

    long want = (long)n * COUNTER_ROUNDS;
    printf("   total %ld (expected %ld): %s\n", counter, want,
           counter == want ? "no update lost" : "UPDATES LOST");
    printf("   %.3f s, %.1f million acquire/release pairs per second\n\n", secs,
           (double)want / secs / 1e6);
    return counter == want ? 0 : 1;
}

/* ---------------------------------------------------- 2. thread states */

static weft_event entered = WEFT_EVENT_INIT, finish = WEFT_EVENT_INIT;
static weft_lock held_by_main = WEFT_LOCK_INIT;
static atomic_int may_go_on;

/* Runs, then blocks on a lock main holds, then waits on an event: each
 * step holds still until main has seen it, so the output is the same on
 * every run. */
static void *watched(void *arg)
{
    weft_event_set(&entered);
    while (!atomic_load_explicit(&may_go_on, memory_order_acquire))
        ; /* busy: main sees "running" */
    weft_lock_acquire(&held_by_main, WEFT_FOREVER); /* main holds it: "waiting on lock" */
    weft_lock_release(&held_by_main);
    weft_event_wait(&finish, WEFT_FOREVER); /* "waiting on event" */
    return NULL;
}

static void print_state(const char *what, const weft_thread *t)
{
    weft_thread_state st = weft_thread_get_state(t);
    printf("   %-34s %s", what, weft_thread_status_name(st.status));
    if (st.status == WEFT_THREAD_WAITING)
        printf(" on %s", weft_wait_kind_name(st.waiting_on));
    printf(" (alive: %s)\n", weft_thread_is_alive(t) ? "yes" : "no");
}

/* Poll until the thread waits on `kind`: states are snapshots. */
static void wait_until_waiting(const weft_thread *t, weft_wait_kind kind)
{
    for (;;) {
        weft_thread_state st = weft_thread_get_state(t);
        if (st.status == WEFT_THREAD_WAITING && st.waiting_on == kind)
            return;
        weft_sleep(0.0005);
    }
}

static int demo_states(void)
{
    weft_thread *t;
    weft_thread_opts opts = {.name = "watched"};

    printf("2. Thread states: one thread, watched from main\n");
    CHECK(weft_thread_new(&t, watched, NULL, &opts));
    print_state("created:", t);

    CHECK(weft_lock_acquire(&held_by_main, WEFT_FOREVER));
    CHECK(weft_thread_start(t));
    CHECK(weft_event_wait(&entered, WEFT_FOREVER));
    print_state("started, computing:", t);

    atomic_store_explicit(&may_go_on, 1, memory_order_release);
    wait_until_waiting(t, WEFT_WAIT_LOCK);
    print_state("blocked on a lock main holds:", t);

    CHECK(weft_lock_release(&held_by_main));
    wait_until_waiting(t, WEFT_WAIT_EVENT);
    print_state("waiting for an event:", t);

    CHECK(weft_event_set(&finish));
    CHECK(weft_thread_join(t, WEFT_FOREVER));
    print_state("joined:", t);
    weft_thread_unref(t);
    printf("\n");
    return 0;
}

/* ---------------------------------------------- 3. RLock + Condition */

#define HANDOFFS 10000

/* Two players pass a turn back and forth. The condition is bound to an
 * RLock so that record_pass, which takes the lock itself, can be called by
 * a player that already holds it. */
static weft_rlock table_lock = WEFT_RLOCK_INIT;
static weft_condition table;
static int turn;      /* whose turn: 0 or 1; under table_lock */
static int passes;    /* under table_lock */
static int max_depth; /* deepest RLock nesting seen; under table_lock */

static void record_pass(void)
{
    weft_rlock_acquire(&table_lock, WEFT_FOREVER); /* re-entered: the caller holds it */
    passes++;
    if ((int)weft_rlock_count(&table_lock) > max_depth)
        max_depth = (int)weft_rlock_count(&table_lock);
    weft_rlock_release(&table_lock);
}

static void *player(void *arg)
{
    int me = *(const int *)arg;
    for (int i = 0; i < HANDOFFS / 2; i++) {
        weft_condition_acquire(&table, WEFT_FOREVER);
        while (turn != me)
            weft_condition_wait(&table, WEFT_FOREVER);
        record_pass();
        turn = 1 - me;
        weft_condition_notify(&table, 1);
        weft_condition_release(&table);
    }
    return NULL;
}

static int demo_handoff(void)
{
    static const int ids[2] = {0, 1};
    weft_thread *t[2];

    printf("3. Handoff: two threads pass a turn back and forth %d times\n", HANDOFFS);
    printf("   through a weft_condition bound to a weft_rlock\n");
    CHECK(weft_condition_init_rlock(&table, &table_lock));
    double start = weft_monotonic();
    for (int i = 0; i < 2; i++) {
        CHECK(weft_thread_new(&t[i], player, (void *)&ids[i], NULL));
        CHECK(weft_thread_start(t[i]));
    }
    for (int i = 0; i < 2; i++) {
        CHECK(weft_thread_join(t[i], WEFT_FOREVER));
        weft_thread_unref(t[i]);
    }
    double secs = weft_monotonic() - start;
    weft_condition_destroy(&table);

    printf("   %d passes in %.3f s, %.1f us per handoff (a wake-up each)\n", passes, secs,
           secs / HANDOFFS * 1e6);
    printf("   the RLock was held %d deep inside record_pass\n", max_depth);
    return passes == HANDOFFS ? 0 : 1;
}

int cmd_demo(void)
{
    printf("weft %s demo: threads and locks (%ld CPUs)\n\n", WEFT_VERSION_STRING, (long)weft_cpu_count());
    int rc = demo_counter();
    rc |= demo_states();
    rc |= demo_handoff();
    printf("\n%s\n", rc ? "demo FAILED" : "demo done");
    return rc ? EXIT_FAILURE : EXIT_SUCCESS;
}

