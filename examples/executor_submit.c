/*
 * executor_submit.c - four tasks on a thread pool, their results through
 * futures. Mirrors seed 003, "concurrent.futures":
 *
 *   def task(n):
 *       time.sleep(1)
 *       return n * n
 *   with ThreadPoolExecutor(max_workers=4) as executor:
 *       futures = [executor.submit(task, i) for i in range(4)]
 *       results = [f.result() for f in futures]
 *       print(results)  # [0, 1, 4, 9] - ~1 second total
 *
 * time.sleep(1) is scaled to 50 ms. The four tasks sleep at the same time
 * in four workers, so the whole takes about one task's time, not four.
 *
 * A weft task is `int task(void *arg, void **result)`: it returns 0 and
 * sets *result, or returns a negative error code (Python's raise). Small
 * integers travel in the pointers themselves; a bigger result would be
 * allocated by the task and freed by whoever reads it (the future never
 * frees a result). Each submit gives a future holding one reference, which
 * the caller drops with weft_future_unref.
 */
#include <stdint.h>
#include <stdio.h>

#include "check.h"

#define NTASKS 4
#define TASK_SLEEP 0.050 /* the seed's time.sleep(1), scaled */

static int task(void *arg, void **result)
{
    intptr_t n = (intptr_t)arg;
    weft_sleep(TASK_SLEEP);
    *result = (void *)(n * n);
    return 0;
}

int main(void)
{
    weft_executor *executor;
    weft_future *futures[NTASKS];
    intptr_t results[NTASKS];

    double start = weft_monotonic();
    /* with ThreadPoolExecutor(max_workers=4) as executor: */
    weft_thread_pool_opts opts = {.max_workers = 4};
    CHECK(weft_thread_pool_new(&executor, &opts));

    for (intptr_t i = 0; i < NTASKS; i++) /* executor.submit(task, i) */
        CHECK(weft_executor_submit(executor, task, (void *)i, &futures[i]));
    for (int i = 0; i < NTASKS; i++) { /* f.result() */
        void *r;
        CHECK(weft_future_result(futures[i], &r, WEFT_FOREVER));
        results[i] = (intptr_t)r;
        weft_future_unref(futures[i]);
    }
    printf("[%ld, %ld, %ld, %ld]\n", (long)results[0], (long)results[1], (long)results[2],
           (long)results[3]);

    weft_executor_free(executor); /* leaving the with block: shutdown(wait=True) */
    double took = weft_monotonic() - start;

    /* Four sleeps one after the other would take 200 ms; at once, about 50.
     * The bound is generous (three sleeps) so a loaded machine passes. */
    printf("%d tasks of %.0f ms each took %.0f ms\n", NTASKS, TASK_SLEEP * 1000, took * 1000);
    if (took < 3 * TASK_SLEEP)
        printf("took about 1 task's time, not %d\n", NTASKS);
    else
        printf("took longer than expected: the tasks did not overlap\n");
    return 0;
}

/* Output (the time varies):
 * expect: ^\[0, 1, 4, 9\]$
 * expect: ^4 tasks of 50 ms each took [0-9]+ ms$
 * expect: ^took about 1 task's time, not 4$
 */
