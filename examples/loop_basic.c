/*
 * loop_basic.c - the seed's most basic event loop, on a weft loop. Mirrors
 * seed 001 (see queue_event_loop.c for the same loop written by hand):
 *
 *   message_queue = queue.Queue()
 *   for i in range(5):
 *       message_queue.put(f"event_{i}")
 *   def process_message(message):
 *       print(f"Processing message: {message}")
 *   while True:
 *       message = message_queue.get(timeout=1)
 *       process_message(message)
 *
 * A weft loop is that while loop, written once: events are callbacks it
 * runs in order (call_soon), timers it runs when due (call_later), and
 * work handed over from other threads (call_soon_threadsafe). Here five
 * events are queued, a producer thread adds a sixth, and a timer stops the
 * loop once nothing is left.
 */
#include <stdio.h>

#include "check.h"

static void process_message(void *arg)
{
    printf("Processing message: %s\n", (const char *)arg);
}

static void stop(void *arg)
{
    weft_loop_stop(arg);
}

static void *producer(void *arg)
{
    /* Another thread: only the thread-safe call may touch the loop. */
    CHECK(weft_loop_call_soon_threadsafe(arg, process_message, "event_from_thread", NULL));
    return NULL;
}

int main(void)
{
    static const char *const events[] = {"event_0", "event_1", "event_2", "event_3", "event_4"};
    weft_loop *loop;
    CHECK(weft_loop_new(&loop, NULL));
    for (int i = 0; i < 5; i++)
        CHECK(weft_loop_call_soon(loop, process_message, (void *)events[i], NULL));

    weft_thread *t;
    CHECK(weft_thread_new(&t, producer, loop, NULL));
    CHECK(weft_thread_start(t));
    CHECK(weft_thread_join(t, WEFT_FOREVER));
    weft_thread_unref(t);

    CHECK(weft_loop_call_later(loop, 0.010, stop, loop, NULL));
    CHECK(weft_loop_run_forever(loop));
    CHECK(weft_loop_close(loop));
    weft_loop_free(loop);
    return 0;
}

/* Output:
 * expect: ^Processing message: event_0$
 * expect: ^Processing message: event_1$
 * expect: ^Processing message: event_2$
 * expect: ^Processing message: event_3$
 * expect: ^Processing message: event_4$
 * expect: ^Processing message: event_from_thread$
 */
