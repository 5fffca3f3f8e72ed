/*
 * cpu_bound.c - CPU-bound work in threads, the case where Python's GIL
 * gets in the way and C's threads do not. Mirrors seed 003, "The Global
 * Interpreter Lock":
 *
 *   def cpu_bound():
 *       total = 0
 *       for i in range(10 ** 7):
 *           total += i
 *       return total
 *   # This won't run faster with threads!
 *   start = time.time()
 *   threads = [threading.Thread(target=cpu_bound) for _ in range(4)]
 *   for t in threads: t.start()
 *   for t in threads: t.join()
 *   print(f"Time: {time.time() - start:.2f}s")
 *
 *   # Use multiprocessing instead for CPU-bound work
 *   with ProcessPoolExecutor(4) as executor:
 *       list(executor.map(cpu_bound, range(4)))
 *
 * C has no GIL: the four threads run on as many cores as the machine has,
 * so four jobs take about the time of one on a 4-core machine (twice as
 * long on 2 cores). The example times the same four jobs one after the
 * other, then in four threads at once, then in four worker processes, as
 * the seed's fix for Python does: in C processes buy isolation, not speed.
 * (On a machine whose CPUs share one core, or under a CPU quota, the
 * speed-up shrinks towards 1x.)
 *
 * Summing 0..n-1 is something a compiler turns into n*(n-1)/2; the loop
 * mixes the bits of each term instead, so the work stays real.
 */
#include <stdint.h>
#include <stdio.h>
#include <unistd.h>

#include "check.h"

#define JOBS 4
#define N 30000000ull /* the seed's 10**7, tripled so threads have time to pay off */

struct job {
    uint64_t seed;
    uint64_t total; /* the thread's return value, read after join */
};

static uint64_t work(uint64_t seed)
{
    uint64_t total = 0, x = seed;
    for (uint64_t i = 0; i < N; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17; /* xorshift64 */
        total += x & 0xff;
    }
    return total;
}

static void *cpu_bound(void *arg)
{
    struct job *job = arg;
    job->total = work(job->seed);
    return NULL;
}

/* The same job as a process pool item: a seed in, a total out. */
static int cpu_bound_item(const void *in, void *out)
{
    *(uint64_t *)out = work(*(const uint64_t *)in);
    return 0;
}

/* The seed's "use multiprocessing instead": ProcessPoolExecutor(4).map. */
static double run_processes(uint64_t *totals)
{
    uint64_t seeds[JOBS];
    for (int k = 0; k < JOBS; k++)
        seeds[k] = (uint64_t)k + 1;
    double start = weft_monotonic();
    weft_executor *ex;
    CHECK(weft_process_pool_new(&ex, &(weft_process_pool_opts){.max_workers = JOBS}));
    CHECK(weft_process_pool_map_fixed(ex, cpu_bound_item, seeds, sizeof seeds[0], totals,
                                      sizeof totals[0], JOBS, 1, WEFT_FOREVER));
    weft_executor_free(ex);
    return weft_monotonic() - start;
}

/* Run the jobs in threads, `at_once` of them at a time. Both timings go
 * through threads so that they run the very same code. */
static double run_jobs(struct job *jobs, int at_once)
{
    weft_thread *threads[JOBS];
    double start = weft_monotonic();

    for (int i = 0; i < JOBS; i += at_once) {
        for (int k = i; k < i + at_once; k++) {
            jobs[k].seed = (uint64_t)k + 1;
            CHECK(weft_thread_new(&threads[k], cpu_bound, &jobs[k], NULL));
            CHECK(weft_thread_start(threads[k]));
        }
        for (int k = i; k < i + at_once; k++) {
            CHECK(weft_thread_join(threads[k], WEFT_FOREVER));
            weft_thread_unref(threads[k]);
        }
    }
    return weft_monotonic() - start;
}

int main(void)
{
    struct job serial[JOBS], threaded[JOBS];

    double t_serial = run_jobs(serial, 1);      /* one after another */
    double t_threads = run_jobs(threaded, JOBS); /* all four at once */
    uint64_t by_process[JOBS];
    double t_procs = run_processes(by_process);   /* four worker processes */

    int same = 1;
    for (int i = 0; i < JOBS; i++)
        same &= serial[i].total == threaded[i].total && serial[i].total == by_process[i];

    printf("%d jobs one after another: %.3f s\n", JOBS, t_serial);
    printf("%d jobs in %d threads:      %.3f s (speed-up %.1fx on %ld CPUs)\n", JOBS, JOBS,
           t_threads, t_serial / t_threads, sysconf(_SC_NPROCESSORS_ONLN));
    printf("%d jobs in %d processes:    %.3f s (speed-up %.1fx; the pool's start included)\n",
           JOBS, JOBS, t_procs, t_serial / t_procs);
    printf("results %s\n", same ? "match" : "DIFFER");
    return same ? 0 : 1;
}

/* Output (times vary):
 * expect: ^4 jobs one after another: [0-9.]+ s$
 * expect: ^4 jobs in 4 threads: +[0-9.]+ s
 * expect: ^4 jobs in 4 processes: +[0-9.]+ s
 * expect: ^results match$
 */
