/*
 * active_count.c - who is running: active_count(), current_thread(),
 * enumerate(). Mirrors seed 001:
 *
 *   process_id = os.getpid()
 *   num_active_threads = threading.active_count()
 *   curr_thread_name = threading.current_thread().name
 *   print(f"Python process running with id: {process_id} "
 *         f"with {num_active_threads} active threads running. "
 *         f"Current thread: {curr_thread_name}")
 *   # Python process running with id: 2300 with 1 active threads running.
 *   # Current thread: MainThread
 *
 * and goes one step further: with three more threads started, the count is
 * 4 and enumerate() lists them by name.
 */
#include <stdio.h>
#include <unistd.h>

#include "check.h"

#define EXTRA 3

static weft_event done = WEFT_EVENT_INIT;

/* Park until main has looked at the thread list. */
static void *idle(void *arg)
{
    weft_event_wait(&done, WEFT_FOREVER);
    return NULL;
}

static void report(void)
{
    printf("weft process running with id: %d with %zu active threads running. "
           "Current thread: %s\n",
           (int)getpid(), weft_active_count(), weft_thread_name(weft_current_thread()));
}

int main(void)
{
    weft_thread *threads[EXTRA];
    weft_thread *all[16];
    size_t n;

    report();

    for (int i = 0; i < EXTRA; i++) {
        weft_thread_opts opts = {.name = i == 0 ? "alpha" : i == 1 ? "beta" : "gamma"};
        CHECK(weft_thread_new(&threads[i], idle, NULL, &opts));
        CHECK(weft_thread_start(threads[i]));
    }
    report();

    /* threading.enumerate(): new references, released one by one. */
    CHECK(weft_enumerate(all, sizeof all / sizeof *all, &n));
    for (size_t i = 0; i < n && i < sizeof all / sizeof *all; i++) {
        printf("  thread %s (%s)\n", weft_thread_name(all[i]),
               weft_thread_daemon(all[i]) ? "daemon" : "not daemon");
        weft_thread_unref(all[i]);
    }

    CHECK(weft_event_set(&done));
    for (int i = 0; i < EXTRA; i++) {
        CHECK(weft_thread_join(threads[i], WEFT_FOREVER));
        weft_thread_unref(threads[i]);
    }
    report();
    return 0;
}

/* Output:
 * expect: with 1 active threads running\. Current thread: MainThread$
 * expect: with 4 active threads running\. Current thread: MainThread$
 * expect: ^  thread (MainThread|alpha|beta|gamma) \(not daemon\)$
 * expect: with 1 active threads running\. Current thread: MainThread$
 */
