/*
 * process_pool.c - ProcessPoolExecutor. Mirrors seed 003,
 * "concurrent.futures":
 *
 *   def task(n):
 *       time.sleep(1)
 *       return n * n
 *
 *   # ProcessPoolExecutor - for CPU-bound tasks
 *   with ProcessPoolExecutor(max_workers=4) as executor:
 *       results = list(executor.map(task, range(4)))
 *       print(results)  # [0, 1, 4, 9]
 *
 * The process pool is an executor, and its map is Executor.map as the
 * thread pool's (executor_map.c), with arguments and results as weft_bytes
 * because they cross into other processes: weft_process_pool_map takes and
 * gives them typed, so passing anything else does not compile. The sleep
 * is 10 ms here; the four tasks run at once in four workers, so the map
 * takes about one task's time.
 */
#include <stdio.h>
#include <string.h>

#include "check.h"

static int task(void *arg, void **result)
{
    weft_bytes *in = arg;
    int n;
    if (!in || in->len != sizeof n)
        return WEFT_EINVAL;
    memcpy(&n, in->data, sizeof n);
    weft_sleep(0.01);
    n *= n;
    return weft_bytes_new((weft_bytes **)result, &n, sizeof n);
}

int main(void)
{
    weft_executor *executor;
    CHECK(weft_process_pool_new(&executor, &(weft_process_pool_opts){.max_workers = 4}));
    weft_bytes *args[4], *results[4];
    for (int i = 0; i < 4; i++)
        CHECK(weft_bytes_new(&args[i], &i, sizeof i));

    double start = weft_monotonic();
    CHECK(weft_process_pool_map(executor, task, (const weft_bytes *const *)args, results, 4, 1,
                                WEFT_FOREVER));
    double took = weft_monotonic() - start;
    weft_executor_free(executor);

    printf("[");
    for (int i = 0; i < 4; i++) {
        int v;
        memcpy(&v, results[i]->data, sizeof v);
        printf("%s%d", i ? ", " : "", v);
        weft_bytes_free(results[i]);
        weft_bytes_free(args[i]);
    }
    printf("]\n");
    printf("4 tasks of 10 ms in %s\n", took < 0.035 ? "about the time of one" : "more than 35 ms");
    return 0;
}

/* Output:
 * expect: ^\[0, 1, 4, 9\]$
 * expect: ^4 tasks of 10 ms in
 */
