/* The forkserver start method, a backend below process.c: it starts a
 * child through the server and hands back what watches it. It knows
 * nothing of a weft_process; the child it starts enters weft__child_run
 * (internal/child.h). */
#ifndef WEFT_INTERNAL_FORKSERVER_H
#define WEFT_INTERNAL_FORKSERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "weft/process.h"

/* What the child runs and is. */
struct weft__forkserver_spec {
    weft_process_fn fn;
    const void *arg; /* arg_size bytes, or the pointer value itself */
    size_t arg_size;
    const char *name;
    bool daemon;
};

/* A started child, as its parent watches it. */
struct weft__forkserver_child {
    int sock;  /* the child socket: the exit code arrives here
                  (internal/forkserver_wire.h) */
    int pidfd; /* a pidfd of the child, from the child itself */
    pid_t pid;
};

/* 0 with *out filled, or WEFT_ENOTSUP (no pidfd, or fn lies in no object
 * the server can find), WEFT_EINVAL (a name too long), WEFT_ENOMEM,
 * WEFT_EAGAIN (a passing failure; the child never ran fn). */
int weft__forkserver_start(const struct weft__forkserver_spec *spec,
                           struct weft__forkserver_child *out);

/* Whether this kernel has what the method needs (pidfd_open). */
bool weft__forkserver_supported(void);

#endif
