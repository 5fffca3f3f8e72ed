/*
 * two_tasks.c - two tasks running concurrently. Mirrors seed 000,
 * "Multithreading in Python":
 *
 *   def task1():
 *       for i in range(5):
 *           print("Task 1 is running")
 *           time.sleep(1)
 *   def task2(): ... "Task 2 is running" ...
 *   t1 = Thread(target=task1)
 *   t2 = Thread(target=task2)
 *   t1.start(); t2.start()
 *   t1.join();  t2.join()
 *
 * time.sleep(1) is scaled to 10 ms so the example (and its test) runs fast;
 * the lines of the two tasks still interleave.
 */
#include <stdio.h>

#include "check.h"

/* Each task counts its own rounds. Only its thread writes the counter, and
 * main reads it after join: join makes everything the thread did visible to
 * the joiner, so no lock is needed. */
struct task {
    int id;
    int rounds;
};

static void *run_task(void *arg)
{
    struct task *task = arg;
    for (int i = 0; i < 5; i++) {
        printf("Task %d is running\n", task->id);
        task->rounds++;
        weft_sleep(0.010); /* time.sleep(1), scaled */
    }
    return NULL;
}

int main(void)
{
    struct task task1 = {1, 0}, task2 = {2, 0};
    weft_thread *t1, *t2;

    CHECK(weft_thread_new(&t1, run_task, &task1, NULL)); /* t1 = Thread(target=task1) */
    CHECK(weft_thread_new(&t2, run_task, &task2, NULL)); /* t2 = Thread(target=task2) */
    CHECK(weft_thread_start(t1));
    CHECK(weft_thread_start(t2));
    CHECK(weft_thread_join(t1, WEFT_FOREVER));
    CHECK(weft_thread_join(t2, WEFT_FOREVER));
    weft_thread_unref(t1);
    weft_thread_unref(t2);

    printf("Both tasks done: task 1 ran %d times, task 2 ran %d times\n", task1.rounds,
           task2.rounds);
    return task1.rounds == 5 && task2.rounds == 5 ? 0 : 1;
}

/* Output: ten "Task N is running" lines, interleaved, then:
 * expect: ^Task [12] is running$
 * expect: ^Both tasks done: task 1 ran 5 times, task 2 ran 5 times$
 */
