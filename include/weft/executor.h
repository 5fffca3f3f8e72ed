/**
 * executors (concurrent.futures.Executor) and the thread pool
 * (ThreadPoolExecutor).
 *
 * One interface, several backends: the thread pool here, the process pool
 * in weft/procpool.h. A task is `int fn(void *arg, void **result)`: it returns 0 and sets
 * *result, or returns a negative error code (and may attach a message with
 * weft_task_set_message). Submitting gives a future (weft/future.h).
 *
 * Python to weft:
 *
 *     ThreadPoolExecutor(max_workers, thread_name_prefix, initializer, initargs)
 *                                     weft_thread_pool_new(&ex, &opts)
 *     ex.submit(fn, arg)              weft_executor_submit(ex, fn, arg, &future)
 *     ex.map(fn, args, timeout, chunksize)
 *                                     weft_executor_map(ex, fn, args, results, n, chunksize, timeout)
 *     ex.shutdown(wait, cancel_futures)  weft_executor_shutdown(ex, cancel, wait ? WEFT_FOREVER : 0)
 *     with ThreadPoolExecutor() as ex:   ... weft_executor_free(ex)   (shutdown(wait) + free)
 *     BrokenThreadPool                WEFT_EBROKEN
 *     RuntimeError after shutdown     WEFT_ESHUTDOWN
 *
 * Exit. As Python joins its executors at interpreter exit, a program that
 * returns from main (or calls exit()) with work submitted to a thread pool
 * or a process pool it created still runs that work first, even after a
 * shutdown without wait: an atexit handler, registered when the process
 * makes its first executor, shuts down (without cancel_futures) and waits
 * for every executor not freed yet, the default one included. From then
 * on submits get WEFT_ESHUTDOWN, to those pools and to any pool made
 * later. Being an atexit handler, it runs in atexit's order: handlers
 * registered before the first executor was made run after it (their
 * submits are refused, as those of Python's atexit callbacks are), those
 * registered later run before it (their work still runs). The workers are
 * daemon threads, which weft_shutdown does not join: this handler waits
 * for them instead. A worker that calls exit() runs its own pool's queued
 * tasks itself (it cannot wait for itself), before it joins the other
 * pools, whose work may wait for those tasks. A second exit() while one is
 * under way is undefined in C, and weft does not make it work. A forked
 * child joins only the executors it made itself, never its parent's; a
 * weft child process joins them when its function returns.
 *
 * @file
 */
#ifndef WEFT_EXECUTOR_H
#define WEFT_EXECUTOR_H

#include "weft/common.h"
#include "weft/future.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct weft_executor weft_executor;

/** A task: 0 and *result (which starts NULL), or a negative error code. */
typedef int (*weft_task_fn)(void *arg, void **result);

/** Inside a task run by an executor: attach a message to the error the task
 *  is about to return (printf-style; the last call wins). Ignored if the
 *  task then succeeds. WEFT_ESTATE outside a task, WEFT_EINVAL for a NULL
 *  fmt, WEFT_ENOMEM. A task that returns a positive value fails with
 *  WEFT_EINVAL and a message saying so. */
WEFT_API int weft_task_set_message(const char *fmt, ...)
#if defined(__GNUC__) || defined(__clang__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;

/** Schedule fn(arg). On success *out is a new reference to its future (the
 *  caller unrefs it). WEFT_ESHUTDOWN after shutdown, WEFT_EBROKEN if the pool
 *  is broken, WEFT_ENOMEM; on failure the task never runs. */
WEFT_API int weft_executor_submit(weft_executor *ex, weft_task_fn fn, void *arg,
                                  weft_future **out);

/** Run fn over args[0..n) and put the results in results[0..n), in input
 *  order. `chunksize` (0 or 1 for one task per item) groups items into one
 *  task each, as Python's ProcessPoolExecutor does; `timeout` bounds the
 *  whole map from this call. Returns 0 when every item succeeded, else the
 *  first error in input order (its message, if any, from weft_last_message),
 *  or WEFT_ETIMEDOUT; then the items not yet started are cancelled, and
 *  results past the failed one are unspecified. */
WEFT_API int weft_executor_map(weft_executor *ex, weft_task_fn fn, void *const *args,
                               void **results, size_t n, size_t chunksize, double timeout);

/** Stop accepting work, and wait up to `timeout` for the started tasks to
 *  finish and the workers to exit: 0 once they have, WEFT_ETIMEDOUT while
 *  some still run (the shutdown is done either way; call again to wait
 *  more). Python's shutdown(wait=False) is timeout 0. With cancel_futures,
 *  futures not yet started are cancelled. From one of the executor's own
 *  workers the wait would never end: everything but the wait is done and
 *  WEFT_EDEADLK is returned. */
WEFT_API int weft_executor_shutdown(weft_executor *ex, bool cancel_futures, double timeout);
/** shutdown(wait=true, cancel_futures=false), then free. NULL is allowed;
 *  the default executor is refused (reported, left as it was).
 *  Must not be called from one of the executor's own workers: there it
 *  only shuts down without waiting, reports the misuse (weft_report_error)
 *  and leaves the executor allocated rather than free it under the worker. */
WEFT_API void weft_executor_free(weft_executor *ex);

/* ------------------------------------------------------------ thread pool */

/** Thread pool options; all-zero (or NULL) means Python's defaults. */
typedef struct weft_thread_pool_opts {
    /** 0: min(32, cpu count + 4) (Python's default, which it asks for with
     *  None: its ValueError for 0 has no C twin); more than 4096 is
     *  WEFT_EINVAL. */
    unsigned max_workers;
    /** Workers are named "<prefix>_<i>"; NULL or "": "ThreadPoolExecutor-N"
     *  (N counts the pools made), as Python. Copied. */
    const char *thread_name_prefix;
    /** Run once in each worker before its first task; non-zero breaks the
     *  pool: pending futures fail with WEFT_EBROKEN, submits are refused.
     *  The failure is reported (weft_report_error, "thread pool
     *  initializer"), naming the worker, its pool and the error, as Python
     *  logs "Exception in initializer"; the initializer may attach its own
     *  text with weft_task_set_message. */
    int (*initializer)(void *initarg);
    void *initarg;
} weft_thread_pool_opts;

/** A pool of up to max_workers threads, started on demand: a submit starts
 *  one only when no worker is idle, and a worker counts itself idle before
 *  it finishes a future, so tasks submitted and waited for one at a time
 *  keep one worker. WEFT_EINVAL for bad options. */
WEFT_API int weft_thread_pool_new(weft_executor **out, const weft_thread_pool_opts *opts);
/** The shared default thread pool (created on first use, shut down and
 *  waited for at exit like every pool): what to_thread and
 *  run_in_executor(NULL) use. Borrowed: weft_executor_free on it reports
 *  the misuse (weft_report_error) and leaves it as it was. NULL only if it
 *  could not be created. */
WEFT_API weft_executor *weft_default_executor(void);
/** Workers alive now: started and not yet exited (0 once a waiting
 *  shutdown returned; a worker whose initializer failed has exited). 0 for
 *  NULL or an executor that is not a thread pool. */
WEFT_API unsigned weft_thread_pool_workers_len(const weft_executor *ex);

#ifdef __cplusplus
}
#endif

#endif
