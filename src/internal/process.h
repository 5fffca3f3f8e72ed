/* What other modules (the process pool) need of a weft_process beyond its
 * public API. */
#ifndef WEFT_INTERNAL_PROCESS_H
#define WEFT_INTERNAL_PROCESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "weft/process.h"

/* Between process.c and forkserver.c (the two files of the process
 * module): a start through the server, and the child's common entry. */
struct weft__fs_spec {
    weft_process_fn fn;
    const void *arg; /* arg_size bytes, or the pointer value itself */
    size_t arg_size;
    const char *name;
    bool daemon;
};
struct weft__fs_child {
    int sock;  /* the child socket: the exit code arrives here */
    int pidfd; /* a pidfd of the child, from the child itself */
    pid_t pid;
};
int weft__fs_start(const struct weft__fs_spec *spec, struct weft__fs_child *out);
bool weft__fs_supported(void);
_Noreturn void weft__process_run_child(weft_process_fn fn, void *arg, const char *name,
                                       bool daemon, pid_t parent);

/* Messages on a served child's socket towards the parent: the child's ack,
 * or the exit code from the server. */
enum { WEFT__FS_MSG_ACK = 1, WEFT__FS_MSG_EXIT = 2 };
struct weft__fs_msg {
    int32_t kind;
    int32_t value; /* ACK: 0 or a WEFT_E* code; EXIT: the exit code */
    int32_t pid;
};

/* An fd that becomes readable when the started child has exited (poll it,
 * then weft_process_join reaps it or reads its code), owned by p and valid
 * until p is freed; -1 before start or when the kernel has no pidfd. Never
 * a pidfd opened by pid after the fact: the child may already have been
 * reaped and its pid reused. */
int weft__process_exit_fd(const weft_process *p);

#endif
