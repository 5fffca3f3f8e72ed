/*
 * event.c - threads wait for a signal from main. The Python equivalent:
 *
 *   ready = threading.Event()
 *   config = None
 *   def worker(i):
 *       ready.wait()                       # block until main says go
 *       print(f"worker {i} sees config {config}")
 *   ...start three workers...
 *   config = 42
 *   ready.set()                            # wake every waiter at once
 *   ...join them...
 *   ready.clear()
 *   print(ready.wait(timeout=0.01))        # False: nobody sets it
 *
 * set() also publishes what main wrote before it: a worker returning from
 * wait sees config == 42 without any other lock.
 */
#include <stdint.h>
#include <stdio.h>

#include "check.h"

#define NWORKERS 3

static weft_event ready = WEFT_EVENT_INIT;
static int config; /* written before set(), read after wait() */

static void *worker(void *arg)
{
    weft_event_wait(&ready, WEFT_FOREVER);
    printf("worker %d sees config %d\n", (int)(intptr_t)arg, config);
    return NULL;
}

int main(void)
{
    weft_thread *threads[NWORKERS];

    for (int i = 0; i < NWORKERS; i++) {
        CHECK(weft_thread_new(&threads[i], worker, (void *)(intptr_t)i, NULL));
        CHECK(weft_thread_start(threads[i]));
    }
    config = 42;
    printf("main: config ready, setting the event\n");
    CHECK(weft_event_set(&ready));
    for (int i = 0; i < NWORKERS; i++) {
        CHECK(weft_thread_join(threads[i], WEFT_FOREVER));
        weft_thread_unref(threads[i]);
    }

    CHECK(weft_event_clear(&ready));
    /* Python's wait() returns the flag; weft returns 0 for True and
     * WEFT_ETIMEDOUT for False. */
    int rc = weft_event_wait(&ready, 0.010);
    printf("wait on a cleared event for 10 ms -> %s\n", weft_err_name(rc));
    return rc == WEFT_ETIMEDOUT ? 0 : 1;
}

/* Output:
 * expect: ^main: config ready, setting the event$
 * expect: ^worker [0-2] sees config 42$
 * expect: ^worker [0-2] sees config 42$
 * expect: ^worker [0-2] sees config 42$
 * expect: ^wait on a cleared event for 10 ms -> ETIMEDOUT$
 */
