/*
 * asyncio_gather.c - three coroutines gathered: their sleeps overlap on one
 * thread. Mirrors seed 004 "Simple asyncio Example":
 *
 *   async def task(name):
 *       print(f"Task {name} starting")
 *       await asyncio.sleep(2)
 *       print(f"Task {name} finished")
 *
 *   async def main():
 *       await asyncio.gather(task("A"), task("B"), task("C"))
 *
 *   asyncio.run(main())
 *
 * The sleep is scaled from 2 s to 20 ms. A coroutine in weft is a plain C
 * function with the task signature; weft_create_task plays the part of
 * calling `task("A")` inside gather (Python wraps each coroutine in a task),
 * and weft_sleep inside a coroutine suspends only that coroutine. Three
 * sleeps of 20 ms finish in about 20 ms, not 60: all three are asleep at
 * once.
 *
 * Ownership: the names are string literals; each task's future is the
 * caller's reference, dropped once gathered.
 */
#include <stdio.h>

#include "check.h"

#define SLEEP 0.020 /* the seed's asyncio.sleep(2), scaled */

/* The latest time a sleep began and the earliest one ended: the sleeps
 * overlapped if every one began before any ended. One loop thread runs the
 * tasks, so plain doubles do. */
static double last_start, first_end;

static int task(void *arg, void **result)
{
    const char *name = arg;
    printf("Task %s starting\n", name);
    double t = weft_monotonic();
    if (t > last_start)
        last_start = t;
    int rc = weft_sleep(SLEEP); /* await asyncio.sleep(2) */
    if (rc)
        return rc;
    t = weft_monotonic();
    if (first_end == 0 || t < first_end)
        first_end = t;
    printf("Task %s finished\n", name);
    return 0;
}

static int async_main(void *arg, void **result)
{
    static const char *const names[] = {"A", "B", "C"};
    weft_future *tasks[3], *all;
    for (int i = 0; i < 3; i++)
        CHECK(weft_create_task(NULL, task, (void *)names[i], names[i], &tasks[i]));
    CHECK(weft_gather(tasks, 3, false, &all)); /* asyncio.gather(...) */
    int rc = weft_await(all, NULL, WEFT_FOREVER);            /* await */
    weft_future_unref(all);
    for (int i = 0; i < 3; i++)
        weft_future_unref(tasks[i]);
    return rc;
}

int main(void)
{
    double start = weft_monotonic();
    CHECK(weft_run(async_main, NULL, NULL)); /* asyncio.run(main()) */
    double took = weft_monotonic() - start;
    /* Overlap, not the total, says the sleeps ran together: the total also
     * holds the loop's start and end, which a sanitizer slows down. */
    if (last_start < first_end)
        printf("3 sleeps of %.0f ms overlapped: all three were asleep at once\n", SLEEP * 1000);
    else
        printf("the sleeps did not overlap\n");
    printf("(took %.0f ms in all)\n", took * 1000);
    return 0;
}

/* Output:
 * expect: ^Task A starting$
 * expect: ^Task B starting$
 * expect: ^Task C starting$
 * expect: ^Task A finished$
 * expect: ^Task B finished$
 * expect: ^Task C finished$
 * expect: ^3 sleeps of 20 ms overlapped: all three were asleep at once$
 */
