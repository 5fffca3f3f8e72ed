/*
 * queue_event_loop.c - the most basic event loop: take events off a queue
 * and handle them, one at a time. Mirrors seed 001:
 *
 *   message_queue = queue.Queue()
 *   for i in range(5):
 *       message_queue.put(f"event_{i}")
 *   def process_message(message):
 *       print(f"Processing message: {message}")
 *   while True:
 *       try:
 *           if message_queue:
 *               message = message_queue.get(timeout=1)
 *               process_message(message)
 *       except queue.Empty:
 *           # Continue the loop and wait for new events
 *           continue
 *       except KeyboardInterrupt:
 *           break
 *
 * get(timeout=1) is scaled to 10 ms. Python raises queue.Empty when the
 * timeout runs out; weft_queue_get returns WEFT_ETIMEDOUT (a poll, timeout
 * 0, too: get_nowait's queue.Empty). The seed's loop runs
 * until Ctrl+C; this one stops at the first empty wait, so the example ends.
 * (`if message_queue:` is always true in Python, a Queue object has no
 * length; it is left out.)
 *
 * Ownership: each event is a string from malloc. Putting it hands it to the
 * queue, getting it hands it to the loop, which frees it once processed.
 */
#include <stdio.h>
#include <stdlib.h>

#include "check.h"

#define NEVENTS 5
#define GET_TIMEOUT 0.010 /* the seed's timeout=1, scaled */

static void process_message(const char *message)
{
    printf("Processing message: %s\n", message);
}

int main(void)
{
    weft_queue *message_queue;
    CHECK(weft_queue_new(&message_queue, 0));

    /* Fill the queue with dummy events. */
    for (int i = 0; i < NEVENTS; i++) {
        char *event = malloc(32);
        if (event == NULL)
            return 1;
        snprintf(event, 32, "event_%d", i);
        CHECK(weft_queue_put(message_queue, event, WEFT_FOREVER)); /* the queue owns it now */
    }

    /* Run the event loop until no event comes within the timeout. */
    int handled = 0;
    for (;;) {
        void *message;
        double start = weft_monotonic();
        int rc = weft_queue_get(message_queue, &message, GET_TIMEOUT);
        if (rc == WEFT_ETIMEDOUT) { /* except queue.Empty */
            double waited = weft_monotonic() - start;
            printf("Empty: no event within %.0f ms (waited %s), leaving the loop\n",
                   GET_TIMEOUT * 1000, waited >= GET_TIMEOUT ? "the full timeout" : "LESS");
            break;
        }
        CHECK(rc);
        process_message(message);
        free(message); /* the loop owns what it got */
        handled++;
    }

    /* A non-blocking get on the empty queue: get_nowait() raises queue.Empty. */
    void *none;
    int rc = weft_queue_get(message_queue, &none, 0);
    printf("get(0) on the empty queue: %s\n", weft_err_name(rc));

    weft_queue_free(message_queue);
    printf("%d events handled\n", handled);
    return handled == NEVENTS ? 0 : 1;
}

/* Output:
 * expect: ^Processing message: event_0$
 * expect: ^Processing message: event_1$
 * expect: ^Processing message: event_2$
 * expect: ^Processing message: event_3$
 * expect: ^Processing message: event_4$
 * expect: ^Empty: no event within 10 ms \(waited the full timeout\), leaving the loop$
 * expect: ^get\(0\) on the empty queue: ETIMEDOUT$
 * expect: ^5 events handled$
 */
