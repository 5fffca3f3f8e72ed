/*
 * Process start + join under each start method: the cost of a short-lived
 * child, from creation to the parent having its exit code (Python's
 * get_context(method).Process(target=f).start(); .join()). The forkserver
 * is started by the warm-up run, so its own start is not counted, as in
 * the Python peer.
 */
#include "harness.h"

#include "weft/process.h"

static int nothing(void *arg)
{
    (void)arg;
    return 0;
}

static double start_join(long n, int method)
{
    weft_process_opts o = {.start_method = method};
    double t0 = wb_now();
    for (long i = 0; i < n; i++) {
        weft_process *p;
        if (weft_process_new(&p, nothing, NULL, &o) != 0)
            return -1;
        int code = -1;
        if (weft_process_start(p) != 0 || weft_process_join(p, WEFT_FOREVER) != 0 ||
            weft_process_exitcode(p, &code) != 0 || code != 0) {
            weft_process_free(p);
            return -1;
        }
        weft_process_free(p);
    }
    return (wb_now() - t0) / (double)n;
}

static double fork_start_join(long n)
{
    return start_join(n, WEFT_START_FORK);
}

static double forkserver_start_join(long n)
{
    return start_join(n, WEFT_START_FORKSERVER);
}

const wb_bench wb_process_fork = {
    .name = "process start+join fork",
    .what = "Start a child process whose function returns 0 at once and join it, "
            "with the fork start method (weft: new + start + join + exitcode + free).",
    .unit = "us",
    .n = 400,
    .runs = 7,
    .c = {
        {.name = "weft_process (fork)", .run = fork_start_join},
        {.name = "Python Process (fork)", .py_script = "process.py", .py_case = "fork",
         .py_n = 200},
    },
};

const wb_bench wb_process_forkserver = {
    .name = "process start+join forkserver",
    .what = "Start a child process whose function returns 0 at once and join it, "
            "with the forkserver start method (the server already running).",
    .unit = "us",
    .n = 400,
    .runs = 7,
    .c = {
        {.name = "weft_process (forkserver)", .run = forkserver_start_join},
        {.name = "Python Process (forkserver)", .py_script = "process.py",
         .py_case = "forkserver", .py_n = 100},
    },
};

WB_REGISTER(wb_process_fork, 490)
WB_REGISTER(wb_process_forkserver, 491)
