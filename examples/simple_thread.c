/*
 * simple_thread.c - create, start and join one thread. Mirrors seed 004,
 * "Simple Example of Creating a Thread":
 *
 *   def print_numbers():
 *       for i in range(5):
 *           print(f"Thread: {i}")
 *           time.sleep(1)
 *   thread = threading.Thread(target=print_numbers)
 *   thread.start()
 *   thread.join()
 *   print("Main thread: execution finished")
 *
 * time.sleep(1) is scaled to 10 ms.
 */
#include <stdio.h>

#include "check.h"

/* A thread function takes one void * and returns one; Python's target
 * with no arguments ignores both. */
static void *print_numbers(void *arg)
{
    for (int i = 0; i < 5; i++) {
        printf("Thread: %d\n", i);
        weft_sleep(0.010);
    }
    return NULL;
}

int main(void)
{
    weft_thread *thread;

    /* Create new thread object to run print_numbers (NULL options: the
     * Python defaults, name "Thread-N", not a daemon). */
    CHECK(weft_thread_new(&thread, print_numbers, NULL, NULL));
    CHECK(weft_thread_start(thread));
    /* Wait for the thread to finish before exiting the main program. */
    CHECK(weft_thread_join(thread, WEFT_FOREVER));
    weft_thread_unref(thread);
    printf("Main thread: execution finished\n");
    return 0;
}

/* Output:
 * expect: ^Thread: 0$
 * expect: ^Thread: 1$
 * expect: ^Thread: 2$
 * expect: ^Thread: 3$
 * expect: ^Thread: 4$
 * expect: ^Main thread: execution finished$
 */
