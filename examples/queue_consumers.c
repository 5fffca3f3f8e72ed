/*
 * queue_consumers.c - one producer, three consumers, one queue. Mirrors
 * seed 003, "Thread-safe Queue":
 *
 *   q = queue.Queue()
 *   def producer():
 *       for i in range(10):
 *           q.put(i)
 *       q.put(None)  # Signal end
 *   def consumer():
 *       while True:
 *           item = q.get()
 *           if item is None:
 *               break
 *           print(f"Got: {item}")
 *           q.task_done()
 *   for _ in range(3):
 *       threading.Thread(target=consumer).start()
 *   producer()
 *
 * The seed has a bug worth learning from: it puts ONE None for THREE
 * consumers. The first consumer to get it stops; the other two block in
 * q.get() forever, and since they are not daemon threads the Python program
 * never exits. The rule: one end marker per consumer. Here the producer puts
 * NCONSUMERS of them.
 *
 * The seed also skips task_done() for the None, so a q.join() would wait
 * forever too. Every get, end marker included, gets its task_done; then
 * main can join the queue (wait until every item put has been processed)
 * before it joins the threads.
 *
 * Items are `void *`, and the queue never frees or copies them: whoever
 * puts an item hands it over, whoever gets it owns it. Here they point into
 * a static array, so nobody frees anything, and NULL is the end marker
 * (Python's None).
 */
#include <stdio.h>

#include "check.h"

#define NITEMS 10
#define NCONSUMERS 3

static weft_queue *q;
static int numbers[NITEMS]; /* the items: q.put(&numbers[i]) */

struct consumer {
    weft_thread *thread;
    int id;
    int got[NITEMS]; /* written by this consumer only, read by main after join */
    int count;
};

static void producer(void)
{
    for (int i = 0; i < NITEMS; i++) {
        numbers[i] = i;
        CHECK(weft_queue_put(q, &numbers[i], WEFT_FOREVER));
    }
    for (int i = 0; i < NCONSUMERS; i++)
        CHECK(weft_queue_put(q, NULL, WEFT_FOREVER)); /* signal end: one per consumer */
}

static void *consumer(void *arg)
{
    struct consumer *self = arg;
    for (;;) {
        void *item;
        CHECK(weft_queue_get(q, &item, WEFT_FOREVER));
        if (item == NULL) {
            CHECK(weft_queue_task_done(q)); /* the end marker counts too */
            break;
        }
        int n = *(int *)item;
        printf("consumer %d got: %d\n", self->id, n);
        self->got[n]++;
        self->count++;
        CHECK(weft_queue_task_done(q));
    }
    return NULL;
}

int main(void)
{
    struct consumer consumers[NCONSUMERS] = {{0}};

    CHECK(weft_queue_new(&q, 0)); /* queue.Queue(): maxsize 0, unbounded */
    for (int i = 0; i < NCONSUMERS; i++) {
        consumers[i].id = i + 1;
        CHECK(weft_thread_new(&consumers[i].thread, consumer, &consumers[i], NULL));
        CHECK(weft_thread_start(consumers[i].thread));
    }
    producer();

    CHECK(weft_queue_join(q, WEFT_FOREVER)); /* q.join(): every item processed */
    printf("queue joined: every item has had its task_done\n");

    /* Which consumer got which item depends on timing; the set does not. */
    int seen[NITEMS] = {0}, total = 0, sum = 0;
    for (int i = 0; i < NCONSUMERS; i++) {
        CHECK(weft_thread_join(consumers[i].thread, WEFT_FOREVER));
        weft_thread_unref(consumers[i].thread);
        total += consumers[i].count;
        for (int n = 0; n < NITEMS; n++)
            seen[n] += consumers[i].got[n];
    }
    printf("all %d consumers stopped\n", NCONSUMERS);
    printf("items got:");
    int once = 1;
    for (int n = 0; n < NITEMS; n++) {
        for (int k = 0; k < seen[n]; k++)
            printf(" %d", n);
        once &= seen[n] == 1;
        sum += n * seen[n];
    }
    printf("\n%d items, sum %d, each exactly once: %s\n", total, sum, once ? "yes" : "no");
    weft_queue_free(q); /* empty now: nothing left to drain */
    return once ? 0 : 1;
}

/* Output: "consumer N got: I" lines in an order that varies, then:
 * expect: ^consumer [123] got: [0-9]$
 * expect: ^queue joined: every item has had its task_done$
 * expect: ^all 3 consumers stopped$
 * expect: ^items got: 0 1 2 3 4 5 6 7 8 9$
 * expect: ^10 items, sum 45, each exactly once: yes$
 */
