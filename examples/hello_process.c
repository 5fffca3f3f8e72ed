/*
 * hello_process.c - a child process says hello with its pid. Mirrors seed
 * 001, "multiprocessing":
 *
 *   def hello_from_process():
 *       print(f"Hello from child process {os.getpid()}")
 *
 *   if __name__ == '__main__':
 *       child_process = multiprocessing.Process(target=hello_from_process)
 *       child_process.start()
 *       print(f"Hello from parent process {os.getpid()}")
 *       child_process.join()
 *
 * The seed's output shows the parent first, but nothing orders the two
 * prints: the parent may print before or after the child. Here the parent
 * prints first and then joins, and the child's line comes either side of it.
 * Each process has its own memory and its own pid; in C as in Python a
 * child is a whole process, here forked from weft's forkserver (the default
 * start method).
 */
#include <stdio.h>
#include <unistd.h>

#include "check.h"

static int hello_from_process(void *arg)
{
    printf("Hello from child process %d\n", (int)getpid());
    fflush(stdout);
    return 0;
}

int main(void)
{
    weft_process *child;
    CHECK(weft_process_new(&child, hello_from_process, NULL, NULL)); /* Process(target=...) */
    CHECK(weft_process_start(child));                               /* child_process.start() */
    printf("Hello from parent process %d\n", (int)getpid());
    fflush(stdout);
    CHECK(weft_process_join(child, WEFT_FOREVER)); /* child_process.join() */
    int code;
    CHECK(weft_process_exitcode(child, &code));
    printf("child exit code %d; the two pids differ: %s\n", code,
           weft_process_pid(child) != getpid() ? "yes" : "no");
    CHECK(weft_process_close(child));
    weft_process_free(child);
    return 0;
}

/* Output (the first two lines in either order; check.sh matches in order,
 * so only the parent's line and the last one are checked):
 * expect: ^Hello from parent process [0-9]+$
 * expect: ^child exit code 0; the two pids differ: yes$
 */
