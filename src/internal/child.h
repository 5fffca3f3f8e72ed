/* A process started by weft, under either start method: the entry it runs
 * once its method has set it up, and the identity that entry gives it. */
#ifndef WEFT_INTERNAL_CHILD_H
#define WEFT_INTERNAL_CHILD_H

#include <stdbool.h>
#include <sys/types.h>

#include "weft/process.h"

/* Take the identity (name, daemon flag, parent), run fn(arg), wait for
 * what fn left running, and exit with fn's status. name and arg must live
 * as long as the child. */
_Noreturn void weft__child_run(weft_process_fn fn, void *arg, const char *name, bool daemon,
                               pid_t parent);

/* This process's daemon flag: what a process it makes inherits. False in
 * a process weft did not start. */
bool weft__child_daemon(void);

#endif
