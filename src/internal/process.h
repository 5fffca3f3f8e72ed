/* What other modules (the process pool) need of a weft_process beyond its
 * public API. */
#ifndef WEFT_INTERNAL_PROCESS_H
#define WEFT_INTERNAL_PROCESS_H

#include "weft/process.h"

/* An fd that becomes readable when the started child has exited (poll it,
 * then weft_process_join reaps it or reads its code), owned by p and valid
 * until p is freed; -1 before start or when the kernel has no pidfd. Never
 * a pidfd opened by pid after the fact: the child may already have been
 * reaped and its pid reused. */
int weft__process_exit_fd(const weft_process *p);

#endif
