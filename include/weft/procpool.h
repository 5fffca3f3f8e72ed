/**
 * the process pool (concurrent.futures.ProcessPoolExecutor).
 *
 * A process pool is an executor (weft/executor.h) whose workers are
 * processes, started with a start method of weft/process.h. What crosses
 * between processes is bytes (weft_bytes, weft/common.h), and the pool's
 * own calls say so in their types: weft_process_pool_submit and
 * weft_process_pool_map take `const weft_bytes *` arguments and give
 * `weft_bytes *` results, so that passing anything else is a compile
 * error. The executor calls (weft_executor_submit, _map, _shutdown, _free)
 * work on it too, with `void *` arguments that must then be weft_bytes (or
 * NULL): the pool checks each one without reading through it and refuses
 * anything else with WEFT_EINVAL and a weft_last_message text.
 *
 * - A task is the same `int fn(void *arg, void **result)` as a thread
 *   pool's, run in a worker. Its arg is a `weft_bytes *` (or NULL): the
 *   worker's copy of the bytes, which belongs to the pool (the task may
 *   read it, change it, pass it on, but not free or return it). It
 *   reports its result by setting *result to a weft_bytes it made with
 *   weft_bytes_new (or leaving it NULL); the pool copies it back and frees
 *   the worker's copy. Any other result (a number cast to a pointer, a
 *   pointer to the stack, a freed weft_bytes, its own argument) fails the
 *   task with WEFT_EINVAL and a message saying so; the worker lives on.
 * - The future's result in the parent is a new weft_bytes (or NULL) that
 *   the caller owns and frees with weft_bytes_free
 *   (weft_process_pool_result reads it typed). A failure is the task's
 *   code and its message (weft_task_set_message), as with threads.
 * - fn is any function of the program or of a library it loads at start:
 *   weft sends a reference (the loaded object that holds it and its offset
 *   there), not the pointer, so it works under every start method, whose
 *   workers may have another address layout. Nothing needs registering:
 *   the function's place in the program is its name. A function of a
 *   library dlopen'ed later is not loaded in a forkserver worker: its task
 *   fails with WEFT_ENOTSUP (fork workers have it).
 * - Tasks are numbered in the order they reach the pool, from 1, each
 *   submit one task and each chunk of a map one task (as Python's call
 *   items): the number a dead worker's message names.
 *
 * For the common case of fixed-size items, weft_process_pool_map_fixed runs
 * `int fn(const void *in, void *out)` over an array of inputs into an array
 * of outputs, in chunks, with no packing by hand: Pool.map(square, range(n)).
 *
 * Transport: tasks and results travel through two rings in shared memory,
 * with futex wake-ups for sleeping workers and an eventfd for the parent's
 * collector thread, written only when it sleeps. A thread that waits on one
 * of the pool's futures first takes results off the ring itself for up to
 * 50 us (on a machine with more than one CPU), so a short task's round
 * trip needs no thread to wake: done callbacks may therefore run in such a
 * waiting thread as well as in the pool's collector thread. An argument or
 * a result bigger than a quarter of its ring (opts.ring_bytes) travels in a
 * memory file of its own instead, which the worker maps: the task reads
 * its argument where the parent wrote it. An item of a map must fit a
 * quarter of the ring (WEFT_EMSGSIZE otherwise).
 *
 * Python to weft:
 *
 *     ProcessPoolExecutor(max_workers, mp_context, initializer, initargs,
 *                         max_tasks_per_child)
 *                                    weft_process_pool_new(&ex, &opts)
 *     ex.submit(fn, arg)             weft_process_pool_submit(ex, fn, bytes, &future)
 *     future.result(timeout)         weft_process_pool_result(future, &bytes, timeout)
 *     ex.map(fn, args, chunksize=)   weft_process_pool_map(ex, fn, bytes_array, results, n,
 *                                                          chunksize, timeout)
 *     Pool.map(square, ints)         weft_process_pool_map_fixed(ex, square, in, sizeof *in,
 *                                                                out, sizeof *out, n, 0, timeout)
 *     ex.shutdown(wait, cancel_futures)  weft_executor_shutdown(ex, cancel, wait ? WEFT_FOREVER : 0)
 *     ex.terminate_workers() / kill_workers()  (3.14)
 *                                    weft_process_pool_terminate_workers(ex) / _kill_workers(ex)
 *     future.cancel()                weft_future_cancel(f): true while no worker has taken the
 *                                    task (it never runs then), false once one has (RUNNING)
 *     BrokenProcessPool              WEFT_EBROKEN
 *
 * Broken: a worker that dies other than by retiring (max_tasks_per_child)
 * or by shutdown - a crash, a kill, an exit, a failing initializer - breaks
 * the pool, as Python: every pending future fails with WEFT_EBROKEN, the
 * other workers are killed, submits are refused with WEFT_EBROKEN. No call
 * hangs. A new pool then works. The messages say why: the future of the
 * task the worker was running gets "worker <pid> was killed by signal 11
 * (Segmentation fault) while running task 7 (<fn>)" (or "exited with code
 * 3"; the function's name where the dynamic symbol table has it), the
 * other futures "a process in the process pool was terminated abruptly: "
 * and the same cause.
 *
 * Ownership: the pool is the parent's; it cannot be passed to a child.
 * Waiting on a future inside a coroutine suspends only the task, as for any
 * future.
 *
 * @file
 */
#ifndef WEFT_PROCPOOL_H
#define WEFT_PROCPOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "weft/common.h"
#include "weft/executor.h"

#ifdef __cplusplus
extern "C" {
#endif

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

/** fn(arg) in a worker (Python's submit). arg is a weft_bytes made by
 *  weft_bytes_new, copied at once (the caller may free it when this
 *  returns), or NULL for none. On success *out is a new reference to the
 *  task's future (the caller unrefs it), whose result is a weft_bytes the
 *  reader owns. WEFT_EINVAL for a thread pool, a NULL fn or out, or an arg
 *  that is not a live weft_bytes (freed already); WEFT_ESHUTDOWN,
 *  WEFT_EBROKEN, WEFT_ENOMEM, WEFT_EMFILE: then the task never runs. */
WEFT_API int weft_process_pool_submit(weft_executor *ex, weft_task_fn fn, const weft_bytes *arg,
                                      weft_future **out);

/** weft_future_result for a process pool's future: 0 and *out (the task's
 *  weft_bytes, the caller's to free, or NULL for a task that set none),
 *  the task's error, or WEFT_ETIMEDOUT. WEFT_EINVAL for a future that is
 *  not a process pool's (or a NULL out). */
WEFT_API int weft_process_pool_result(weft_future *f, weft_bytes **out, double timeout);

/** Run fn over args[0..n) (each a weft_bytes or NULL; copied at once) and
 *  put the results in results[0..n) (each a new weft_bytes the caller
 *  frees, or NULL), in input order: Python's map. Items go `chunksize` to
 *  a task (0 or 1: one each); a chunk is cut to fit a quarter of the task
 *  ring, and an item alone that does not fit is WEFT_EMSGSIZE. `timeout`
 *  bounds the whole map from this call. Returns 0 when every item
 *  succeeded, else the first error in input order (its message in
 *  weft_last_message), or WEFT_ETIMEDOUT; then the items not yet started
 *  are cancelled and the results of the items before the failed one are
 *  set (the caller frees every non-NULL one). WEFT_EINVAL for a thread
 *  pool, NULL arrays with n > 0, or an argument that is not a live
 *  weft_bytes (nothing is submitted then). */
WEFT_API int weft_process_pool_map(weft_executor *ex, weft_task_fn fn,
                                   const weft_bytes *const *args, weft_bytes **results, size_t n,
                                   size_t chunksize, double timeout);

/** An item function for weft_process_pool_map_fixed: read one input, write
 *  one output; 0 or a negative error code. */
typedef int (*weft_item_fn)(const void *in, void *out);

/** A starmap task, Python's fn(*args): args[0..nargs) are the call's
 *  arguments, each the worker's copy of a weft_bytes (the pool's: read it,
 *  change it, never free or return it) or NULL. It reports its result as a
 *  weft_task_fn does: *result a weft_bytes it made with weft_bytes_new, or
 *  left NULL. */
typedef int (*weft_star_fn)(const weft_bytes *const *args, size_t nargs, void **result);

/** Run fn over n fixed-size inputs (in, in_size bytes each) into n outputs
 *  (out, out_size bytes each), in chunks of `chunksize` items per task (0:
 *  n / (4 x workers), at least 1, as Pool.map; a chunk bigger than a
 *  quarter of a ring is cut to fit). Returns 0 when every item
 *  succeeded, else the first error in input order, WEFT_ETIMEDOUT (the
 *  chunks not started are cancelled), WEFT_EBROKEN, WEFT_ESHUTDOWN, or
 *  WEFT_EMSGSIZE when a single item does not fit. WEFT_EINVAL for a
 *  thread pool, NULL arrays with n > 0, or a
 *  zero item size. */
WEFT_API int weft_process_pool_map_fixed(weft_executor *ex, weft_item_fn fn, const void *in,
                                         size_t in_size, void *out, size_t out_size, size_t n,
                                         size_t chunksize, double timeout);

/* ------------------------------------------------- multiprocessing.Pool */

/*
 * Python to weft (multiprocessing.Pool over the same workers and transport):
 *   Pool(processes, initializer, initargs, maxtasksperchild)
 *                                  weft_pool_new(&pool, &opts)
 *   pool.apply(fn, (arg,))         weft_pool_apply(pool, fn, arg, &result, timeout)
 *   pool.apply_async(fn, (arg,), callback, error_callback)
 *                                  weft_pool_apply_async(pool, fn, arg, cb, ecb, cbarg, &f)
 *   AsyncResult.get/ready/successful/wait
 *                                  weft_future_result / _done / _exception / weft_wait
 *   pool.map(fn, args, chunksize)  weft_pool_map(pool, fn, args, results, n, chunksize, timeout)
 *   pool.map(square, ints)         weft_pool_map_fixed(pool, square, in, sizeof *in, out,
 *                                                      sizeof *out, n, 0, timeout)
 *   pool.map_async(fn, args, chunksize, callback, error_callback)
 *                                  weft_pool_map_async(pool, fn, args, results, n, chunksize,
 *                                                      cb, ecb, cbarg, &f)
 *   pool.starmap(fn, tuples)       weft_pool_starmap(pool, fn, args, nargs, results, n,
 *                                                    chunksize, timeout): tuples of nargs
 *                                  weft_bytes, flat in args
 *   pool.starmap_async(...)        weft_pool_starmap_async(pool, fn, args, nargs, results, n,
 *                                                          chunksize, cb, ecb, cbarg, &f)
 *   pool.imap / imap_unordered     weft_pool_imap(pool, fn, args, n, chunksize, ordered, &it)
 *                                  + weft_pool_iter_next(it, &result, &index, timeout)
 *   pool.close() / terminate() / join()
 *                                  weft_pool_close / _terminate / _join(pool, timeout)
 *   with Pool() as pool:  (terminate at exit)   ... weft_pool_free(pool)
 *
 * Arguments are weft_bytes (or NULL), results weft_bytes the caller owns
 * (weft_bytes_free), as for weft_process_pool_submit and _map. After
 * close or terminate, new work is refused with WEFT_ESHUTDOWN. Zero
 * processes or maxtasksperchild in the options mean Python's defaults
 * (the CPU count, never), where Python's Pool raises ValueError for 0.
 *
 * Pool.map and starmap are not fail-fast, as Python's: they return once
 * every call has run, with the error of the first chunk of calls to fail
 * (first as the pool sees the results arrive, as Python's MapResult keeps
 * the first failure it is given; within a chunk the calls run in order
 * and the chunk stops at its first failure). Every call that succeeded
 * has its result set, failure or not. A timeout (Python's map has none;
 * map_async(...).get(timeout) does) returns WEFT_ETIMEDOUT, cancels the
 * calls no worker has taken, and leaves no result to come later.
 *
 * A queued task (not yet taken by a worker) is PENDING and can be
 * cancelled (weft_future_cancel); a worker's take makes it RUNNING.
 * Terminate cancels the tasks no worker took (they end CANCELLED) and
 * kills the workers: the futures of the tasks they ran fail with
 * WEFT_ECANCELLED. Python leaves such results unset for ever.
 */
typedef struct weft_pool weft_pool;
typedef struct weft_pool_iter weft_pool_iter;

/** apply_async's callbacks, run in the pool's result thread, as Python's.
 *  The result is borrowed: the pool frees it after the callback unless the
 *  caller asked for the future (then the result is the future's reader's). */
typedef void (*weft_pool_callback)(const weft_bytes *result, void *arg);
typedef void (*weft_pool_error_callback)(int code, const char *message, void *arg);

/** A Pool with opts as weft_process_pool_new's (processes = max_workers). */
WEFT_API int weft_pool_new(weft_pool **out, const weft_process_pool_opts *opts);
/** The executor under the pool (borrowed), for weft_process_pool_submit
 *  and the other executor calls. */
WEFT_API weft_executor *weft_pool_executor(const weft_pool *pool);
/** fn(arg) in a worker; waits at most `timeout` for its result: 0 and
 *  *result (NULL if the task set none), the task's error (its message in
 *  weft_last_message), WEFT_ETIMEDOUT (the task goes on; its result is
 *  dropped). */
WEFT_API int weft_pool_apply(weft_pool *pool, weft_task_fn fn, const weft_bytes *arg,
                             weft_bytes **result, double timeout);
/** fn(arg) in a worker, without waiting. On success, cb (or ecb on
 *  failure; either may be NULL) runs with cbarg once it is done; with out
 *  non-NULL, *out is its future (the AsyncResult: the caller unrefs it and
 *  frees its result, read with weft_process_pool_result). The future is
 *  done only once cb or ecb has returned, as Python's AsyncResult is ready
 *  after its callback; it cannot be cancelled (an AsyncResult has no
 *  cancel); terminate before the task started leaves it cancelled. */
WEFT_API int weft_pool_apply_async(weft_pool *pool, weft_task_fn fn, const weft_bytes *arg,
                                   weft_pool_callback cb, weft_pool_error_callback ecb,
                                   void *cbarg, weft_future **out);
/** Pool.map: fn over args[0..n) (copied at once), `chunksize` calls to a
 *  task (0: Python's default, n / (4 x processes) rounded up), results in results[0..n) in input order (each a new
 *  weft_bytes the caller frees, or NULL). Waits for every call: 0, the
 *  error of the first chunk to fail (its message in weft_last_message;
 *  the results of the calls that succeeded are set all the same), or
 *  WEFT_ETIMEDOUT (the calls not started are cancelled). WEFT_EINVAL for
 *  NULL arrays with n > 0 or an argument that is not a live weft_bytes
 *  (nothing runs), WEFT_ESHUTDOWN after close or terminate. */
WEFT_API int weft_pool_map(weft_pool *pool, weft_task_fn fn, const weft_bytes *const *args,
                           weft_bytes **results, size_t n, size_t chunksize, double timeout);

/** map_async's and starmap_async's callback: every call succeeded;
 *  results[0..n) is the caller's array, filled (the caller frees it). */
typedef void (*weft_pool_map_callback)(weft_bytes *const *results, size_t n, void *arg);

/** Pool.map_async: weft_pool_map without waiting. On success *out (if not
 *  NULL) is the AsyncResult, a future that is done once every call has
 *  run: its result is `results` (weft_future_result), its error the
 *  first chunk's to fail, with its message. cb (all succeeded) or ecb
 *  runs with cbarg in the pool's result thread before the future is
 *  done, as Python's callbacks run before get() returns. `results` must
 *  stay valid until then: the calls write into it as they finish. The
 *  future cannot be cancelled (it is RUNNING from the start, as an
 *  AsyncResult has no cancel); weft_pool_terminate ends it. On failure
 *  nothing is left running that writes to results, and every results[i]
 *  is NULL. */
WEFT_API int weft_pool_map_async(weft_pool *pool, weft_task_fn fn, const weft_bytes *const *args,
                                 weft_bytes **results, size_t n, size_t chunksize,
                                 weft_pool_map_callback cb, weft_pool_error_callback ecb,
                                 void *cbarg, weft_future **out);

/** Pool.starmap: n calls fn(*args), call i's arguments the nargs
 *  weft_bytes (or NULLs) args[i * nargs .. (i + 1) * nargs): Python's
 *  list of n tuples, flat. Results, errors, chunks and timeout as
 *  weft_pool_map's. WEFT_EINVAL also for NULL args with n x nargs > 0. */
WEFT_API int weft_pool_starmap(weft_pool *pool, weft_star_fn fn, const weft_bytes *const *args,
                               size_t nargs, weft_bytes **results, size_t n, size_t chunksize,
                               double timeout);
/** Pool.starmap_async: weft_pool_starmap without waiting, as
 *  weft_pool_map_async. */
WEFT_API int weft_pool_starmap_async(weft_pool *pool, weft_star_fn fn,
                                     const weft_bytes *const *args, size_t nargs,
                                     weft_bytes **results, size_t n, size_t chunksize,
                                     weft_pool_map_callback cb, weft_pool_error_callback ecb,
                                     void *cbarg, weft_future **out);
/** weft_process_pool_map_fixed on the pool's executor, but not fail-fast,
 *  as weft_pool_map: every chunk runs, and the error is the first chunk's
 *  to fail. */
WEFT_API int weft_pool_map_fixed(weft_pool *pool, weft_item_fn fn, const void *in,
                                 size_t in_size, void *out, size_t out_size, size_t n,
                                 size_t chunksize, double timeout);
/** Start fn over args[0..n) (copied at once: the caller may free them
 *  after this returns) and get an iterator over the results, in input order
 *  (ordered) or as they finish. */
WEFT_API int weft_pool_imap(weft_pool *pool, weft_task_fn fn, const weft_bytes *const *args,
                            size_t n, size_t chunksize, bool ordered, weft_pool_iter **out);
/** The next result: 0 with *result (the caller's) and *index (its input
 *  position; may be NULL), WEFT_EEOF after the last one, WEFT_ETIMEDOUT,
 *  or an item's error (its message from weft_last_message); after an
 *  error the iterator goes on with the next item, as Python's does. */
WEFT_API int weft_pool_iter_next(weft_pool_iter *it, weft_bytes **result, size_t *index,
                                 double timeout);
/** Free the iterator; results not taken are freed, items not started are
 *  cancelled. NULL allowed. */
WEFT_API void weft_pool_iter_free(weft_pool_iter *it);
/** No more work; the workers exit once what was submitted is done. */
WEFT_API int weft_pool_close(weft_pool *pool);
/** Stop now: the tasks no worker has taken are cancelled (their futures
 *  end CANCELLED), the workers are killed, and the futures of the tasks
 *  they ran fail with WEFT_ECANCELLED (Python leaves those unset). */
WEFT_API int weft_pool_terminate(weft_pool *pool);
/** Wait for the workers to exit after close or terminate: 0,
 *  WEFT_ETIMEDOUT, WEFT_ESTATE if neither was called (as Python's
 *  ValueError). */
WEFT_API int weft_pool_join(weft_pool *pool, double timeout);
/** terminate (as Python's context manager does), join and free. NULL
 *  allowed. */
WEFT_API void weft_pool_free(weft_pool *pool);

/** ProcessPoolExecutor.terminate_workers() (3.14): shut the pool down now.
 *  The tasks no worker has taken are cancelled, every worker is sent
 *  SIGTERM, and the futures of the tasks they ran fail with WEFT_EBROKEN
 *  ("...forcefully shut down"). Submits are refused with WEFT_ESHUTDOWN
 *  afterwards; weft_executor_shutdown then waits for the workers' exit.
 *  0 (also for a broken pool, or a second time), or WEFT_EINVAL for a
 *  thread pool. */
WEFT_API int weft_process_pool_terminate_workers(weft_executor *ex);
/** ProcessPoolExecutor.kill_workers() (3.14): the same with SIGKILL. */
WEFT_API int weft_process_pool_kill_workers(weft_executor *ex);

/** Worker processes currently running (for tests and introspection). */
WEFT_API unsigned weft_process_pool_workers_len(const weft_executor *ex);
/** Their pids: the first `cap` in out[], and how many there are in *n. */
WEFT_API int weft_process_pool_pids(const weft_executor *ex, pid_t *out, size_t cap, size_t *n);

#ifdef __cplusplus
}
#endif

#endif
