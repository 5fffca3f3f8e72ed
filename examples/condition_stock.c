/*
 * condition_stock.c - a producer and a consumer sharing a stock counter
 * through a Condition. Mirrors seed 003, "Condition Variables":
 *
 *   stock = 0
 *   condition = threading.Condition()
 *   def producer():
 *       global stock
 *       for i in range(5):
 *           with condition:
 *               stock += 1
 *               print(f"Produced: {stock}")
 *               condition.notify()  # Notify one waiting thread
 *           time.sleep(0.1)
 *   def consumer():
 *       global stock
 *       for _ in range(5):
 *           with condition:
 *               while stock == 0:
 *                   condition.wait()  # Wait for stock
 *               stock -= 1
 *               print(f"Consumed: {stock}")
 *   threading.Thread(target=producer).start()
 *   threading.Thread(target=consumer).start()
 *
 * time.sleep(0.1) is scaled to 1 ms. The seed never joins; here main joins
 * both threads and checks that every item produced was consumed.
 */
#include <stdio.h>

#include "check.h"

#define ITEMS 5

static int stock = 0;    /* guarded by condition's lock */
static int consumed = 0; /* written by the consumer only, read after join */
static weft_condition condition;

static void *producer(void *arg)
{
    for (int i = 0; i < ITEMS; i++) {
        weft_condition_acquire(&condition, WEFT_FOREVER); /* with condition: */
        stock += 1;
        printf("Produced: %d\n", stock);
        weft_condition_notify(&condition, 1); /* notify one waiting thread */
        weft_condition_release(&condition);
        weft_sleep(0.001);
    }
    return NULL;
}

static void *consumer(void *arg)
{
    for (int i = 0; i < ITEMS; i++) {
        weft_condition_acquire(&condition, WEFT_FOREVER);
        /* The loop is Python's `while stock == 0`: re-check after waking,
         * the stock may have been taken by another consumer first. */
        while (stock == 0)
            weft_condition_wait(&condition, WEFT_FOREVER); /* wait for stock */
        stock -= 1;
        consumed++;
        printf("Consumed: %d\n", stock);
        weft_condition_release(&condition);
    }
    return NULL;
}

int main(void)
{
    weft_thread *p, *c;

    /* threading.Condition(): NULL binds it to a private RLock, as Python. */
    CHECK(weft_condition_init(&condition, NULL));
    CHECK(weft_thread_new(&p, producer, NULL, NULL));
    CHECK(weft_thread_new(&c, consumer, NULL, NULL));
    CHECK(weft_thread_start(p));
    CHECK(weft_thread_start(c));
    CHECK(weft_thread_join(p, WEFT_FOREVER));
    CHECK(weft_thread_join(c, WEFT_FOREVER));
    weft_thread_unref(p);
    weft_thread_unref(c);
    weft_condition_destroy(&condition);

    printf("produced %d, consumed %d, stock left %d\n", ITEMS, consumed, stock);
    return consumed == ITEMS && stock == 0 ? 0 : 1;
}

/* Output: Produced/Consumed lines (the stock never goes below 0), then:
 * expect: ^Produced: 1$
 * expect: ^Consumed: 0$
 * expect: ^produced 5, consumed 5, stock left 0$
 */
