/*
 * process_queue.c - a producer process and a consumer process sharing a
 * queue. Mirrors seed 003, "Process Queues":
 *
 *   def producer(queue):
 *       for i in range(5):
 *           queue.put(i)
 *       queue.put(None)
 *
 *   def consumer(queue):
 *       while True:
 *           item = queue.get()
 *           if item is None:
 *               break
 *           print(f"Got: {item}")
 *
 *   if __name__ == "__main__":
 *       queue = multiprocessing.Queue()
 *       multiprocessing.Process(target=producer, args=(queue,)).start()
 *       multiprocessing.Process(target=consumer, args=(queue,)).start()
 *
 * Python pickles each item; weft moves bytes. An int travels as its four
 * bytes, and None, the end marker, as an empty item (zero bytes). The queue
 * is passed to each child as its argument, as Python's args=(queue,).
 *
 * Python joins non-daemon children when the main program ends; C has no
 * such exit hook, so main joins them itself, then frees the queue (the
 * creator owns its shared memory and must outlive its users).
 */
#include <stdio.h>

#include "check.h"

static int producer(void *arg)
{
    weft_pqueue *queue = arg;
    for (int i = 0; i < 5; i++)
        CHECK(weft_pqueue_put(queue, &i, sizeof i, WEFT_FOREVER));
    CHECK(weft_pqueue_put(queue, NULL, 0, WEFT_FOREVER)); /* None */
    return 0;
}

static int consumer(void *arg)
{
    weft_pqueue *queue = arg;
    for (;;) {
        int item;
        size_t len;
        CHECK(weft_pqueue_get(queue, &item, sizeof item, &len, WEFT_FOREVER));
        if (len == 0) /* item is None */
            break;
        printf("Got: %d\n", item);
    }
    return 0;
}

int main(void)
{
    weft_pqueue *queue;
    weft_process *p, *c;

    CHECK(weft_pqueue_new(&queue, NULL));
    CHECK(weft_process_new(&p, producer, queue, NULL));
    CHECK(weft_process_start(p));
    CHECK(weft_process_new(&c, consumer, queue, NULL));
    CHECK(weft_process_start(c));

    int code_p, code_c;
    CHECK(weft_process_join(p, WEFT_FOREVER));
    CHECK(weft_process_join(c, WEFT_FOREVER));
    CHECK(weft_process_exitcode(p, &code_p));
    CHECK(weft_process_exitcode(c, &code_c));
    printf("producer exit code %d, consumer exit code %d\n", code_p, code_c);
    weft_process_free(p);
    weft_process_free(c);
    weft_pqueue_free(queue);
    return 0;
}

/* Output:
 * expect: ^Got: 0$
 * expect: ^Got: 1$
 * expect: ^Got: 2$
 * expect: ^Got: 3$
 * expect: ^Got: 4$
 * expect: ^producer exit code 0, consumer exit code 0$
 */
