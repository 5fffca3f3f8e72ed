/*
 * thread_states.c - a thread's life: new, started, waiting, finished.
 * Mirrors seed 000, "Thread States":
 *
 *   def worker():
 *       print(f"Worker thread {threading.get_ident()} started")
 *       time.sleep(2)
 *       print(f"Worker thread {threading.get_ident()} finished")
 *   t = threading.Thread(target=worker)
 *   print(f"Thread {t.ident} created, state: {t.is_alive()}")
 *   t.start()
 *   print(f"Thread {t.ident} started, state: {t.is_alive()}")
 *   time.sleep(1)
 *   print(f"Thread {t.ident} state: {t.is_alive()}")
 *   t.join()
 *   print(f"Thread {t.ident} joined, state: {t.is_alive()}")
 *
 * The seed sleeps 2 s in the worker and 1 s in main so that the middle
 * print lands while the worker sleeps. Sleeps only make that likely; here
 * the worker waits on an Event instead, and main looks until it sees the
 * worker waiting, so the output is the same on every run. weft also shows
 * *what* a thread waits on, which Python's is_alive() cannot.
 */
#include <stdio.h>

#include "check.h"

static weft_event go = WEFT_EVENT_INIT;

static void *worker(void *arg)
{
    printf("Worker thread %llu started\n", (unsigned long long)weft_get_ident());
    weft_event_wait(&go, WEFT_FOREVER); /* the seed's time.sleep(2) */
    printf("Worker thread %llu finished\n", (unsigned long long)weft_get_ident());
    return NULL;
}

static void show(const char *when, const weft_thread *t)
{
    weft_thread_state st = weft_thread_get_state(t);
    printf("Thread %llu %s, alive: %s, status: %s", (unsigned long long)weft_thread_ident(t),
           when, weft_thread_is_alive(t) ? "True" : "False",
           weft_thread_status_name(st.status));
    if (st.status == WEFT_THREAD_WAITING)
        printf(" on %s", weft_wait_kind_name(st.waiting_on));
    printf("\n");
}

int main(void)
{
    weft_thread *t;

    CHECK(weft_thread_new(&t, worker, NULL, NULL)); /* t = threading.Thread(target=worker) */
    show("created", t);                             /* ident 0: Python's None */

    CHECK(weft_thread_start(t));                    /* t.start() */
    printf("Thread %llu started, alive: %s\n", (unsigned long long)weft_thread_ident(t),
           weft_thread_is_alive(t) ? "True" : "False");

    /* The seed's time.sleep(1): wait until the worker is parked on `go`. */
    while (weft_thread_get_state(t).status != WEFT_THREAD_WAITING)
        weft_sleep(0.001);
    show("in the middle", t);

    CHECK(weft_event_set(&go));                     /* let the worker finish */
    CHECK(weft_thread_join(t, WEFT_FOREVER));       /* t.join() */
    show("joined", t);

    weft_thread_unref(t);
    return 0;
}

/* Output (the test checks these lines, in order; idents vary). "Thread N
 * started" and "Worker thread N started" may come in either order, so only
 * the second is checked:
 * expect: ^Thread 0 created, alive: False, status: new$
 * expect: ^Worker thread [1-9][0-9]* started$
 * expect: ^Thread [1-9][0-9]* in the middle, alive: True, status: waiting on event$
 * expect: ^Worker thread [1-9][0-9]* finished$
 * expect: ^Thread [1-9][0-9]* joined, alive: False, status: finished$
 */
