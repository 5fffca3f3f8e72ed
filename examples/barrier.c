/*
 * barrier.c - three threads meet at a Barrier before going on. Seed 000
 * lists the primitive ("Barrier: Synchronize threads so they wait for each
 * other"); in Python:
 *
 *   def on_all_arrived():
 *       print("all 3 arrived")
 *   barrier = threading.Barrier(3, action=on_all_arrived)
 *   def runner(i):
 *       time.sleep(i * 0.01)             # arrive at different times
 *       print(f"runner {i} arrived")
 *       index = barrier.wait()
 *       print(f"runner {i} passed")
 *   ...start three runners, join them...
 *
 * The action runs in the last thread to arrive, before anyone is released,
 * so "all 3 arrived" always comes after the three "arrived" lines and
 * before every "passed" line.
 */
#include <stdint.h>
#include <stdio.h>

#include "check.h"

#define PARTIES 3

static weft_barrier barrier;

static int on_all_arrived(void *arg)
{
    printf("all %d arrived\n", PARTIES);
    return 0; /* non-zero would break the barrier */
}

static void *runner(void *arg)
{
    int i = (int)(intptr_t)arg;

    weft_sleep(i * 0.010);
    printf("runner %d arrived\n", i);
    int index = weft_barrier_wait(&barrier, NULL, WEFT_FOREVER); /* index = barrier.wait() */
    if (index < 0) {
        printf("runner %d: barrier broken (%s)\n", i, weft_err_name(index));
        return NULL;
    }
    printf("runner %d passed (arrival index %d)\n", i, index);
    return NULL;
}

int main(void)
{
    weft_thread *threads[PARTIES];

    /* Barrier(3, action=on_all_arrived), no default timeout. */
    CHECK(weft_barrier_init(&barrier, PARTIES, on_all_arrived, NULL));
    for (int i = 0; i < PARTIES; i++) {
        CHECK(weft_thread_new(&threads[i], runner, (void *)(intptr_t)i, NULL));
        CHECK(weft_thread_start(threads[i]));
    }
    for (int i = 0; i < PARTIES; i++) {
        CHECK(weft_thread_join(threads[i], WEFT_FOREVER));
        weft_thread_unref(threads[i]);
    }
    printf("broken: %s\n", weft_barrier_broken(&barrier) ? "yes" : "no");
    weft_barrier_destroy(&barrier);
    return 0;
}

/* Output:
 * expect: ^runner [0-2] arrived$
 * expect: ^runner [0-2] arrived$
 * expect: ^runner [0-2] arrived$
 * expect: ^all 3 arrived$
 * expect: ^runner [0-2] passed \(arrival index [0-2]\)$
 * expect: ^runner [0-2] passed \(arrival index [0-2]\)$
 * expect: ^runner [0-2] passed \(arrival index [0-2]\)$
 * expect: ^broken: no$
 */
