/*
 * The child's side of a start, common to both start methods: the entry a
 * child runs once its method has set it up (process.c forks it, the fork
 * server's child reads its spec from the parent first), and the identity
 * it takes there, which weft_current_process_name and weft_parent_pid
 * report. See weft/process.h for the contract.
 */
#include <stdbool.h>
#include <stdio.h>
#include <unistd.h>

#include "internal/check.h"
#include "internal/child.h"
#include "internal/executor.h"
#include "weft/process.h"
#include "weft/thread.h"

/* In a child started by weft: its own name, its daemon flag and its
 * parent. Written once, by the child's only thread, before fn runs. */
static const char *g_self_name;
static bool g_self_daemon;
static pid_t g_parent_pid;

/* The child waits for the non-daemon threads fn left running, as Python's
 * child runs threading._shutdown after its target returns: the atexit
 * handler that does it in the main process does not run here. */
_Noreturn void weft__child_run(weft_process_fn fn, void *arg, const char *name, bool daemon,
                               pid_t parent)
{
    WEFT_ASSERT(fn && name);
    g_self_name = name;
    g_self_daemon = daemon;
    g_parent_pid = parent;
    int r = fn(arg);
    weft__executors_exit(); /* the pools this child made, as threading._shutdown */
    weft_shutdown(WEFT_FOREVER);
    fflush(NULL);
    _exit(r < 0 ? 1 : (r & 0xff));
}

bool weft__child_daemon(void)
{
    return g_self_daemon;
}

const char *weft_current_process_name(void)
{
    return g_self_name ? g_self_name : "MainProcess";
}

pid_t weft_parent_pid(void)
{
    return g_parent_pid;
}
