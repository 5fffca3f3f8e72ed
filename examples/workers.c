/*
 * workers.c - five threads, each given an argument. Mirrors seed 004,
 * "Simple Multithreading Example":
 *
 *   def worker(name):
 *       print(f"Worker {name} starting")
 *       time.sleep(2)
 *       print(f"Worker {name} finished")
 *   threads = []
 *   for i in range(5):
 *       t = threading.Thread(target=worker, args=(i,))
 *       threads.append(t)
 *       t.start()
 *   for t in threads:
 *       t.join()
 *
 * time.sleep(2) is scaled to 20 ms. The five sleeps overlap, so the whole
 * run takes about 20 ms, not 100.
 */
#include <stdint.h>
#include <stdio.h>

#include "check.h"

#define NWORKERS 5

/* args=(i,): a small integer fits in the void * argument itself. For more
 * than one argument pass a pointer to a struct (see thread_args.c). */
static void *worker(void *arg)
{
    int name = (int)(intptr_t)arg;
    printf("Worker %d starting\n", name);
    weft_sleep(0.020);
    printf("Worker %d finished\n", name);
    return NULL;
}

int main(void)
{
    weft_thread *threads[NWORKERS];
    double start = weft_monotonic();

    for (int i = 0; i < NWORKERS; i++) {
        CHECK(weft_thread_new(&threads[i], worker, (void *)(intptr_t)i, NULL));
        CHECK(weft_thread_start(threads[i]));
    }
    for (int i = 0; i < NWORKERS; i++) {
        CHECK(weft_thread_join(threads[i], WEFT_FOREVER));
        weft_thread_unref(threads[i]);
    }
    printf("All %d workers finished in %.0f ms (each slept 20 ms)\n", NWORKERS,
           (weft_monotonic() - start) * 1e3);
    return 0;
}

/* Output: five "starting" and five "finished" lines in some order, then:
 * expect: ^Worker [0-4] starting$
 * expect: ^Worker [0-4] finished$
 * expect: ^All 5 workers finished in [0-9]+ ms
 */
