/*
 * pool_map.c - a pool of worker processes. Mirrors seed 003, "Process
 * Pools":
 *
 *   def compute(n):
 *       return n * n, os.getpid()
 *
 *   # Pool of workers
 *   with multiprocessing.Pool(processes=4) as pool:
 *       results = pool.map(compute, range(10))
 *   print(results)
 *   # [(0, pid1), (1, pid2), (4, pid1), ...]
 *
 *   # Apply async
 *   with multiprocessing.Pool(2) as pool:
 *       async_result = pool.apply_async(compute, (5,))
 *       print(async_result.get())
 *
 * What crosses between processes is bytes. For map, items of a fixed size
 * need no packing: weft_pool_map_fixed hands each worker a run of ints and
 * takes back a run of (square, pid) pairs. apply_async takes a weft_bytes
 * argument and returns a future (Python's AsyncResult) whose result is a
 * weft_bytes the caller frees. The workers are started with the default
 * start method (forkserver): compute is sent as its place in the program,
 * not as a pointer, so it is found in processes with another layout.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "check.h"

struct square_pid {
    int square;
    int pid;
};

/* One item of the map: in an int, out its square and the worker's pid. */
static int compute(const void *in, void *out)
{
    int n = *(const int *)in;
    *(struct square_pid *)out = (struct square_pid){n * n, getpid()};
    return 0;
}

/* The same for apply_async, whose tasks take and return bytes. */
static int compute_task(void *arg, void **result)
{
    weft_bytes *in = arg;
    struct square_pid out;
    if (!in || in->len != sizeof(int))
        return WEFT_EINVAL;
    compute(in->data, &out);
    return weft_bytes_new((weft_bytes **)result, &out, sizeof out);
}

int main(void)
{
    weft_pool *pool;
    CHECK(weft_pool_new(&pool, &(weft_process_pool_opts){.max_workers = 4}));
    int range[10];
    struct square_pid results[10];
    for (int i = 0; i < 10; i++)
        range[i] = i;
    CHECK(weft_pool_map_fixed(pool, compute, range, sizeof range[0], results,
                              sizeof results[0], 10, 0, WEFT_FOREVER));
    weft_pool_free(pool);

    printf("[");
    for (int i = 0; i < 10; i++)
        printf("%s(%d, %d)", i ? ", " : "", results[i].square, results[i].pid);
    printf("]\n");
    int others = 0;
    for (int i = 0; i < 10; i++)
        others += results[i].pid != getpid();
    printf("%d of 10 computed in worker processes\n", others);

    CHECK(weft_pool_new(&pool, &(weft_process_pool_opts){.max_workers = 2}));
    weft_bytes *five;
    CHECK(weft_bytes_new(&five, &(int){5}, sizeof(int)));
    weft_future *async_result;
    CHECK(weft_pool_apply_async(pool, compute_task, five, NULL, NULL, NULL, &async_result));
    weft_bytes_free(five); /* the pool copied it */
    weft_bytes *got;
    CHECK(weft_process_pool_result(async_result, &got, WEFT_FOREVER));
    struct square_pid r;
    memcpy(&r, got->data, sizeof r);
    printf("(%d, %d)\n", r.square, r.pid);
    weft_bytes_free(got);
    weft_future_unref(async_result);
    weft_pool_free(pool);
    return 0;
}

/* Output (pids vary):
 * expect: ^\[\(0, [0-9]+\), \(1, [0-9]+\), \(4, [0-9]+\), \(9, [0-9]+\), .*\(81, [0-9]+\)\]$
 * expect: ^10 of 10 computed in worker processes$
 * expect: ^\(25, [0-9]+\)$
 */
