/* What other modules need from the thread module. */
#ifndef WEFT_INTERNAL_THREAD_H
#define WEFT_INTERNAL_THREAD_H

/* CPUs this process may run on (its affinity mask), at least 1: the thread
 * pool's default size and the public weft_cpu_count. */
unsigned weft__cpu_count(void);

#endif
