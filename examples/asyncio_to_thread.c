/*
 * asyncio_to_thread.c - a blocking call offloaded to a thread, awaited from
 * a coroutine. Mirrors seed 004 "Example of Offloading CPU-Bound Task in
 * asyncio":
 *
 *   def cpu_bound_task(n):
 *       time.sleep(n)
 *       return n * n
 *
 *   async def main():
 *       result = await asyncio.to_thread(cpu_bound_task, 2)
 *       print(f"Result: {result}")
 *
 *   asyncio.run(main())
 *
 * time.sleep(2) is scaled to 20 ms. weft_to_thread runs the function on the
 * default thread pool and suspends the coroutine until it is done; meanwhile
 * the loop keeps running other coroutines - here a ticker that shows it.
 * (In C a CPU-bound function would run in parallel on another core too: the
 * thread pool has no GIL.)
 */
#include <stdint.h>
#include <stdio.h>

#include "check.h"

static int cpu_bound_task(void *arg, void **result)
{
    intptr_t n = (intptr_t)arg;
    /* A blocking call: outside any coroutine, weft_sleep sleeps the thread. */
    weft_sleep(n / 100.0);
    *result = (void *)(n * n);
    return 0;
}

static int ticker(void *arg, void **result)
{
    int *ticks = arg;
    for (;;) {
        if (weft_sleep(0.002))
            return WEFT_ECANCELLED; /* cancelled when main is done */
        ++*ticks;
    }
}

static int async_main(void *arg, void **result)
{
    int ticks = 0;
    weft_future *tick;
    CHECK(weft_create_task(NULL, ticker, &ticks, "ticker", &tick));
    void *r;
    CHECK(weft_to_thread(cpu_bound_task, (void *)2, &r)); /* await asyncio.to_thread(...) */
    printf("Result: %ld\n", (long)(intptr_t)r);
    weft_future_cancel(tick);
    weft_await(tick, NULL, WEFT_FOREVER);
    weft_future_unref(tick);
    printf("the loop kept running meanwhile: %s\n", ticks > 0 ? "yes" : "no");
    return 0;
}

int main(void)
{
    CHECK(weft_run(async_main, NULL, NULL));
    return 0;
}

/* Output:
 * expect: ^Result: 4$
 * expect: ^the loop kept running meanwhile: yes$
 */
