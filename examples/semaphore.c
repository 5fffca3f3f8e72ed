/*
 * semaphore.c - a BoundedSemaphore lets at most two threads into a section
 * at once. Seed 000 lists the primitive ("Semaphore: Control access with
 * counters"); in Python this is:
 *
 *   pool = threading.BoundedSemaphore(2)
 *   def download(i):
 *       with pool:             # at most 2 downloads at a time
 *           print(f"download {i} running")
 *           time.sleep(0.01)
 *   threads = [threading.Thread(target=download, args=(i,)) for i in range(6)]
 *   ...start and join...
 *   pool.release()             # ValueError: released too many times
 *
 * The example measures how many threads were inside at once, to show the
 * limit holds.
 */
#include <stdint.h>
#include <stdio.h>

#include "check.h"

#define NTHREADS 6
#define SLOTS 2

static weft_semaphore pool = WEFT_BOUNDED_SEMAPHORE_INIT(SLOTS);

/* Bookkeeping for the demonstration only, under its own lock. */
static weft_lock stats_lock = WEFT_LOCK_INIT;
static int inside, most_inside;

static void *download(void *arg)
{
    int i = (int)(intptr_t)arg;

    weft_semaphore_acquire(&pool, WEFT_FOREVER); /* with pool: */
    weft_lock_acquire(&stats_lock, WEFT_FOREVER);
    if (++inside > most_inside)
        most_inside = inside;
    weft_lock_release(&stats_lock);

    printf("download %d running\n", i);
    weft_sleep(0.010);

    weft_lock_acquire(&stats_lock, WEFT_FOREVER);
    inside--;
    weft_lock_release(&stats_lock);
    weft_semaphore_release(&pool);
    return NULL;
}

int main(void)
{
    weft_thread *threads[NTHREADS];

    for (int i = 0; i < NTHREADS; i++) {
        CHECK(weft_thread_new(&threads[i], download, (void *)(intptr_t)i, NULL));
        CHECK(weft_thread_start(threads[i]));
    }
    for (int i = 0; i < NTHREADS; i++) {
        CHECK(weft_thread_join(threads[i], WEFT_FOREVER));
        weft_thread_unref(threads[i]);
    }
    printf("%d downloads, at most %d at once (limit %d)\n", NTHREADS, most_inside, SLOTS);

    /* A bounded semaphore refuses to go above its initial value: Python's
     * ValueError is WEFT_EOVERFLOW, and the value stays as it was. */
    int rc = weft_semaphore_release(&pool);
    printf("extra release -> %s, value still %u\n", weft_err_name(rc),
           weft_semaphore_value(&pool));
    return most_inside <= SLOTS && rc == WEFT_EOVERFLOW ? 0 : 1;
}

/* Output:
 * expect: ^download [0-5] running$
 * expect: ^6 downloads, at most [12] at once \(limit 2\)$
 * expect: ^extra release -> EOVERFLOW, value still 2$
 */
