/*
 * What multiprocessing.Pool (pool.c) needs of the process pool beyond the
 * executor interface: a bytes map whose chunks it can wait for one by one,
 * in order (imap) or as they finish (imap_unordered).
 */
#ifndef WEFT_INTERNAL_PROCPOOL_H
#define WEFT_INTERNAL_PROCPOOL_H

#include <stdbool.h>
#include <stddef.h>

#include "weft/procpool.h"

/* A map in flight. Chunk c covers items first[c] .. first[c+1] (first[nchunks]
 * == the items submitted); results[i] is written (a new weft_bytes, or left
 * NULL for a task that returned none) when its chunk's future completes,
 * until the run ends. A chunk stops at its first failing item: its future
 * fails with that item's error, and the items before it are ok. */
typedef struct weft__map_run {
    weft_future **fs;
    size_t *first;
    unsigned char *ok; /* ok[i] is set once item i succeeded */
    size_t nchunks;
    void *job;  /* procpool.c's */
    void *pool; /* procpool.c's */
} weft__map_run;

/* Submit fn over args[0..n) in chunks of up to `chunksize` items (0: 1).
 * results[0..n) are set to NULL first. 0 when every chunk was submitted;
 * else the error (WEFT_EBROKEN, WEFT_ESHUTDOWN, WEFT_EMSGSIZE, WEFT_ENOMEM,
 * WEFT_EINVAL for a thread pool) and run holds the chunks submitted before
 * it. Either way the run must be ended. */
int weft__procpool_map_start(weft_executor *ex, weft_task_fn fn, void *const *args,
                             void **results, size_t n, size_t chunksize, weft__map_run *run);
/* Stop writing results, cancel the chunks not started when `cancel`, and
 * let the futures go. */
void weft__procpool_map_end(weft__map_run *run, bool cancel);

/* Pool.terminate: refuse new work, kill the workers now and fail every
 * future not done with WEFT_ECANCELLED. WEFT_EINVAL for a thread pool. */
int weft__procpool_terminate(weft_executor *ex);

#endif
