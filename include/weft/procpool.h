/*
 * weft/procpool.h - the process pool (concurrent.futures.ProcessPoolExecutor).
 *
 * A process pool is an executor (weft/executor.h) whose workers are
 * processes, started with a start method of weft/process.h. It is used
 * through the same calls as the thread pool: weft_executor_submit, _map,
 * _shutdown, _free. What crosses between processes is bytes:
 *
 * - A task is the same `int fn(void *arg, void **result)` as a thread
 *   pool's, run in a worker. Its arg is a `weft_bytes *` (or NULL): the
 *   worker gets its own copy of the bytes. It reports its result by setting
 *   *result to a weft_bytes it made with weft_bytes_new (or leaving it
 *   NULL); the pool copies it back and frees the worker's copy.
 * - The future's result in the parent is a new weft_bytes (or NULL) that
 *   the caller owns and frees with weft_bytes_free. A failure is the
 *   task's code and its message (weft_task_set_message), as with threads.
 * - fn is any function of the program or of a library it loaded at start:
 *   weft sends a reference (the object that holds it and the offset in it),
 *   not the pointer, so it works under every start method. A function of a
 *   library dlopen'ed after start fails the submit with WEFT_ENOTSUP under
 *   forkserver... and is fine under fork.
 *
 * For the common case of fixed-size items, weft_process_pool_map_fixed runs
 * `int fn(const void *in, void *out)` over an array of inputs into an array
 * of outputs, in chunks, with no packing by hand: Pool.map(square, range(n)).
 *
 * Transport: tasks and results travel through two rings in shared memory,
 * with futex wake-ups for sleeping workers and an eventfd for the parent's
 * collector thread, written only when it sleeps. A task or result larger
 * than a quarter of its ring (opts.ring_bytes) is refused: WEFT_EMSGSIZE
 * for a submit, and the task's future fails with WEFT_EMSGSIZE for a
 * result.
 *
 * Python to weft:
 *   ProcessPoolExecutor(max_workers, mp_context, initializer, initargs,
 *                       max_tasks_per_child)
 *                                  weft_process_pool_new(&ex, &opts)
 *   ex.submit(fn, arg)             weft_executor_submit(ex, fn, bytes, &future)
 *   ex.map(fn, args, chunksize=)   weft_executor_map(ex, fn, bytes_array, results, n,
 *                                                    timeout, chunksize)
 *   Pool.map(square, ints)         weft_process_pool_map_fixed(ex, square, in, sizeof *in,
 *                                                              out, sizeof *out, n, 0, timeout)
 *   ex.shutdown(wait, cancel_futures)  weft_executor_shutdown(ex, wait, cancel)
 *   BrokenProcessPool              WEFT_EBROKEN
 *
 * Broken: a worker that dies other than by retiring (max_tasks_per_child)
 * or by shutdown - a crash, a kill, a failing initializer - breaks the
 * pool, as Python: every pending future fails with WEFT_EBROKEN, the other
 * workers are killed, submits are refused with WEFT_EBROKEN. No call
 * hangs. A new pool then works.
 *
 * Ownership: the pool is the parent's; it cannot be passed to a child.
 * Waiting on a future inside a coroutine suspends only the task, as for any
 * future.
 */
#ifndef WEFT_PROCPOOL_H
#define WEFT_PROCPOOL_H

#include <stddef.h>

#include "weft/common.h"
#include "weft/executor.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Bytes with their length: what a process pool's tasks take and return. */
typedef struct weft_bytes {
    size_t len;
    unsigned char data[]; /**< len bytes, followed by a 0 byte for convenience */
} weft_bytes;

/** A copy of data[0..len) (zeroed when data is NULL). WEFT_EINVAL for NULL
 *  out, WEFT_ENOMEM. */
WEFT_API int weft_bytes_new(weft_bytes **out, const void *data, size_t len);
/** NULL allowed. */
WEFT_API void weft_bytes_free(weft_bytes *b);

/** Process pool options; all-zero (or NULL) means Python's defaults. */
typedef struct weft_process_pool_opts {
    unsigned max_workers;          /**< 0: the CPU count (weft_cpu_count) */
    int start_method;              /**< a weft_start_method; 0: the default */
    /** A worker exits after this many tasks and a fresh one replaces it;
     *  0: never. */
    unsigned max_tasks_per_child;
    /** Run in each worker before its first task, with a copy of
     *  initarg[0..initarg_size); non-zero breaks the pool. */
    int (*initializer)(const weft_bytes *initarg);
    const void *initarg;
    size_t initarg_size;
    size_t ring_bytes;             /**< each ring's size; 0: 4 MiB; rounded up to a power of two */
} weft_process_pool_opts;

/** Start a pool: its workers start now. WEFT_EINVAL for bad options,
 *  WEFT_EAGAIN or WEFT_ENOMEM when processes or memory are short
 *  (nothing is left behind then). */
WEFT_API int weft_process_pool_new(weft_executor **out, const weft_process_pool_opts *opts);

/** An item function for weft_process_pool_map_fixed: read one input, write
 *  one output; 0 or a negative error code. */
typedef int (*weft_item_fn)(const void *in, void *out);

/** Run fn over n fixed-size inputs (in, in_size bytes each) into n outputs
 *  (out, out_size bytes each), in chunks of `chunksize` items per task (0:
 *  n / (4 x workers), at least 1, as Pool.map). Returns 0 when every item
 *  succeeded, else the first error in input order, WEFT_ETIMEDOUT (the
 *  chunks not started are cancelled), WEFT_EBROKEN, WEFT_ESHUTDOWN, or
 *  WEFT_EMSGSIZE when a chunk does not fit the rings (use a smaller
 *  chunksize). WEFT_EINVAL for a thread pool, NULL arrays with n > 0, or a
 *  zero item size. */
WEFT_API int weft_process_pool_map_fixed(weft_executor *ex, weft_item_fn fn, const void *in,
                                         size_t in_size, void *out, size_t out_size, size_t n,
                                         size_t chunksize, double timeout);

/** Worker processes currently running (for tests and introspection). */
WEFT_API unsigned weft_process_pool_workers(const weft_executor *ex);
/** Their pids, up to n of them; returns how many were written. */
WEFT_API unsigned weft_process_pool_pids(const weft_executor *ex, int *pids, unsigned n);

#ifdef __cplusplus
}
#endif

#endif
