/*
 * lock_counter.c - five threads increment one counter under a Lock.
 * Mirrors seed 003, "Threading Locks":
 *
 *   counter = 0
 *   lock = threading.Lock()
 *   def increment():
 *       global counter
 *       for _ in range(100000):
 *           with lock:
 *               counter += 1
 *   threads = [threading.Thread(target=increment) for _ in range(5)]
 *   for t in threads: t.start()
 *   for t in threads: t.join()
 *   print(counter)  # Exactly 500000
 *
 * In C the lock matters even more than in Python: there is no GIL, the
 * five threads really run at once, and `counter++` (load, add, store)
 * loses updates without it. Remove the acquire/release and the total comes
 * out short (and ThreadSanitizer reports the race).
 */
#include <stdio.h>

#include "check.h"

#define NTHREADS 5
#define ROUNDS 100000

static long counter = 0;
static weft_lock lock = WEFT_LOCK_INIT; /* lock = threading.Lock() */

static void *increment(void *arg)
{
    for (int i = 0; i < ROUNDS; i++) {
        weft_lock_acquire(&lock, WEFT_FOREVER); /* with lock: */
        counter += 1;
        weft_lock_release(&lock);
    }
    return NULL;
}

int main(void)
{
    weft_thread *threads[NTHREADS];

    for (int i = 0; i < NTHREADS; i++)
        CHECK(weft_thread_new(&threads[i], increment, NULL, NULL));
    for (int i = 0; i < NTHREADS; i++)
        CHECK(weft_thread_start(threads[i]));
    for (int i = 0; i < NTHREADS; i++) {
        CHECK(weft_thread_join(threads[i], WEFT_FOREVER));
        weft_thread_unref(threads[i]);
    }
    printf("%ld\n", counter); /* Exactly 500000 */
    return counter == (long)NTHREADS * ROUNDS ? 0 : 1;
}

/* Output:
 * expect: ^500000$
 */
