/*
 * future_callback.c - run a function when a future is done. Mirrors seed
 * 003, "Callbacks and Futures":
 *
 *   def task(n):
 *       time.sleep(1)
 *       return n
 *   def on_complete(future):
 *       print(f"Result: {future.result()}")
 *   with ThreadPoolExecutor(max_workers=2) as executor:
 *       future = executor.submit(task, 42)
 *       future.add_done_callback(on_complete)
 *       future.result()  # Wait for completion
 *
 * time.sleep(1) is scaled to 10 ms.
 *
 * Where the callback runs: in the thread that completes the future (here a
 * pool worker), or at once in the caller if the future is already done when
 * the callback is added. As in Python, result() may return in main a moment
 * before the worker has run the callbacks; leaving the with block (which
 * waits for the workers) is what guarantees "Result: 42" has been printed.
 *
 * A weft callback returns an int: non-zero is a failure, which weft reports
 * and which does not stop the other callbacks (Python logs the exception).
 */
#include <stdint.h>
#include <stdio.h>

#include "check.h"

static int task(void *arg, void **result)
{
    weft_sleep(0.010);
    *result = arg;
    return 0;
}

static int on_complete(weft_future *future, void *arg)
{
    void *r;
    /* The future is done: result() does not wait. */
    int rc = weft_future_result(future, &r, 0);
    if (rc != 0)
        return rc;
    printf("Result: %ld%s\n", (long)(intptr_t)r, arg ? (const char *)arg : "");
    return 0;
}

int main(void)
{
    weft_executor *executor;
    weft_future *future;
    void *r;

    weft_thread_pool_opts opts = {.max_workers = 2};
    CHECK(weft_thread_pool_new(&executor, &opts));
    CHECK(weft_executor_submit(executor, task, (void *)(intptr_t)42, &future));
    CHECK(weft_future_add_done_callback(future, on_complete, NULL));
    CHECK(weft_future_result(future, &r, WEFT_FOREVER)); /* wait for completion */
    weft_executor_free(executor); /* the with block ends: the workers are done */

    /* The future is done now: a callback added late runs at once, here. */
    CHECK(weft_future_add_done_callback(future, on_complete,
                                        " (added after completion: run at once in main)"));
    weft_future_unref(future);
    return (intptr_t)r == 42 ? 0 : 1;
}

/* Output:
 * expect: ^Result: 42$
 * expect: ^Result: 42 \(added after completion: run at once in main\)$
 */
