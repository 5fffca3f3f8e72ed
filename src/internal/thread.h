/* What other modules need from the thread module. */
#ifndef WEFT_INTERNAL_THREAD_H
#define WEFT_INTERNAL_THREAD_H

#include <stdbool.h>

/* CPUs this process may run on (its affinity mask), at least 1: the thread
 * pool's default size and the public weft_cpu_count. */
unsigned weft__cpu_count(void);
/* Whether spinning before a sleep can pay: more than one CPU to run on (the
 * answer of the first call, kept: it is asked before every spin). */
bool weft__can_spin(void);

#endif
