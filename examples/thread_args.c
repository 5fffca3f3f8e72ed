/*
 * thread_args.c - threads with arguments. Mirrors seed 003,
 * "Threading Basics":
 *
 *   def task(name, delay):
 *       print(f"{name} started")
 *       time.sleep(delay)
 *       print(f"{name} finished")
 *   t1 = threading.Thread(target=task, args=("Thread-1", 2))
 *   t2 = threading.Thread(target=task, args=("Thread-2", 1))
 *   t1.start(); t2.start()
 *   t1.join();  t2.join()
 *   print("All threads done")
 *
 * Delays are scaled from seconds to tens of milliseconds (2 s -> 20 ms).
 */
#include <stdio.h>

#include "check.h"

/* args=(name, delay): C passes one pointer, so the arguments go in a
 * struct. It lives in main's frame, which outlives both threads because
 * main joins them before returning. */
struct task_args {
    const char *name;
    double delay;
};

static void *task(void *arg)
{
    const struct task_args *a = arg;
    printf("%s started\n", a->name);
    weft_sleep(a->delay);
    printf("%s finished\n", a->name);
    return NULL;
}

int main(void)
{
    struct task_args args1 = {"Thread-1", 0.020}, args2 = {"Thread-2", 0.010};
    weft_thread *t1, *t2;

    CHECK(weft_thread_new(&t1, task, &args1, NULL));
    CHECK(weft_thread_new(&t2, task, &args2, NULL));
    CHECK(weft_thread_start(t1));
    CHECK(weft_thread_start(t2));
    CHECK(weft_thread_join(t1, WEFT_FOREVER));
    CHECK(weft_thread_join(t2, WEFT_FOREVER));
    weft_thread_unref(t1);
    weft_thread_unref(t2);
    printf("All threads done\n");
    return 0;
}

/* Output: both "started" lines, then usually Thread-2 finishes first (it
 * sleeps less), then:
 * expect: ^Thread-[12] started$
 * expect: ^Thread-[12] finished$
 * expect: ^All threads done$
 */
