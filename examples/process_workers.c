/*
 * process_workers.c - five worker processes, started then joined. Mirrors
 * seed 004, "Simple Multiprocessing Example":
 *
 *   def worker(name):
 *       print(f"Worker {name} starting")
 *       time.sleep(2)
 *       print(f"Worker {name} finished")
 *
 *   processes = []
 *   for i in range(5):
 *       p = multiprocessing.Process(target=worker, args=(i,))
 *       processes.append(p)
 *       p.start()
 *   for p in processes:
 *       p.join()
 *
 * time.sleep(2) is scaled to 20 ms. The workers print their pids, and the
 * parent checks each exit code (0: the function returned 0).
 *
 * The children start with the default method, forkserver (as Python 3.14):
 * each is forked from a clean server process, not from this one, so it
 * gets none of main()'s memory. The argument is the worker's number cast
 * to a pointer, a value that means the same in any process; a struct would
 * go by copy (weft_process_opts.arg_size).
 */
#include <stdint.h>
#include <stdio.h>
#include <unistd.h>

#include "check.h"

/* A process function takes one void * and returns the exit status. Each
 * line is flushed at once: the children share the parent's stdout. */
static int worker(void *arg)
{
    int name = (int)(intptr_t)arg;
    printf("Worker %d starting (pid %d)\n", name, (int)getpid());
    fflush(stdout);
    weft_sleep(0.020);
    printf("Worker %d finished\n", name);
    fflush(stdout);
    return 0;
}

int main(void)
{
    weft_process *processes[5];

    for (int i = 0; i < 5; i++) {
        CHECK(weft_process_new(&processes[i], worker, (void *)(intptr_t)i, NULL));
        CHECK(weft_process_start(processes[i]));
    }
    for (int i = 0; i < 5; i++) {
        int code;
        CHECK(weft_process_join(processes[i], WEFT_FOREVER));
        CHECK(weft_process_exitcode(processes[i], &code));
        printf("%s (pid %d) exit code %d\n", weft_process_name(processes[i]),
               (int)weft_process_pid(processes[i]), code);
        CHECK(weft_process_close(processes[i]));
        weft_process_free(processes[i]);
    }
    return 0;
}

/* Output (the workers' lines interleave in any order):
 * expect: ^Worker [0-4] (starting \(pid [0-9]+\)|finished)$
 * expect: ^Process-1 \(pid [0-9]+\) exit code 0$
 * expect: ^Process-2 \(pid [0-9]+\) exit code 0$
 * expect: ^Process-3 \(pid [0-9]+\) exit code 0$
 * expect: ^Process-4 \(pid [0-9]+\) exit code 0$
 * expect: ^Process-5 \(pid [0-9]+\) exit code 0$
 */
