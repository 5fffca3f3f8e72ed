/**
 * coroutines on an event loop: Python's asyncio for C.
 *
 * A coroutine is an ordinary C function with the task signature of
 * weft/executor.h, `int fn(void *arg, void **result)`, run on its own small
 * stack by an event loop. Wherever it would block - weft_await on a future,
 * weft_sleep, a weft_lock, weft_event, weft_queue, any weft primitive - it
 * suspends only itself and the loop runs something else. The same primitives
 * called from a plain thread sleep that thread: one set of primitives for
 * both worlds.
 *
 * One loop runs on one thread at a time. Loop functions are called from the
 * loop's thread (from its callbacks and coroutines, or before it runs),
 * except the ones marked "any thread". Those must not race with
 * weft_loop_free: the owner makes sure every other thread is done calling
 * them (joined, or told to stop) before it frees the loop. A future completed on another thread
 * (a thread-pool result) wakes the coroutine awaiting it safely. A loop
 * cannot be used in a child after fork(): make a new one there.
 *
 * Cancellation is asyncio's: cancelling a task makes its current (or next)
 * suspension return WEFT_ECANCELLED once. The coroutine may clean up - and
 * should then return WEFT_ECANCELLED itself, which ends its future
 * cancelled - or refuse (weft_task_uncancel) and go on.
 *
 * Ownership: tasks are futures (weft/future.h): weft_create_task gives the
 * caller a reference to drop with weft_future_unref; the loop keeps its own
 * until the coroutine returns. Handles from call_soon, call_later, call_at
 * and call_soon_threadsafe are reference-counted the same way. There are
 * no contextvars in C (Python's context= argument and 3.12's
 * Handle.get_context): a callback's state travels in its arg.
 *
 * Python to weft:
 *
 *     asyncio.run(main())             weft_run(main, arg, &result)
 *     asyncio.new_event_loop()        weft_loop_new(&loop, NULL)
 *     get_running_loop()              weft_get_running_loop()
 *     loop.call_soon(cb, arg)         weft_loop_call_soon(loop, cb, arg, &handle)
 *     loop.call_later / call_at       weft_loop_call_later / weft_loop_call_at
 *     loop.call_soon_threadsafe       weft_loop_call_soon_threadsafe(loop, cb, arg, &handle)
 *     run_coroutine_threadsafe(c, loop)   weft_run_coroutine_threadsafe(loop, fn, arg, &fut)
 *     handle.cancel()                 weft_handle_cancel(handle)
 *     loop.run_forever / stop         weft_loop_run_forever / weft_loop_stop
 *     loop.run_until_complete(fut)    weft_loop_run_until_complete(loop, fut, &result)
 *     loop.time() / close()           weft_loop_time / weft_loop_close, then weft_loop_free
 *     loop.is_closed()                weft_loop_is_closed
 *     loop.set_exception_handler      weft_loop_set_exception_handler
 *     loop.set_debug / PYTHONASYNCIODEBUG   weft_loop_set_debug / WEFT_DEBUG=1
 *     asyncio.create_task(coro, name) weft_create_task(NULL, fn, arg, name, &task)
 *     await fut                       weft_await(fut, &result, WEFT_FOREVER)
 *     current_task() / all_tasks()    weft_current_task() / weft_all_tasks
 *     task.cancel(), uncancel(), cancelling()
 *                                     weft_future_cancel, weft_task_uncancel, weft_task_cancelling
 *     task.cancel(msg)                weft_task_cancel_msg(task, msg)
 *     task.get_name() / set_name()    weft_task_name / weft_task_set_name
 *     asyncio.sleep(s)                weft_sleep(s)   (0 yields to the loop)
 *     gather(*aws, return_exceptions) weft_gather(fs, n, return_exceptions, &g)
 *     wait_for(aw, timeout)           weft_await(fut, &result, timeout)
 *     async with timeout(delay)       weft_timeout_enter / weft_timeout_exit
 *     async with timeout_at(when)     weft_timeout_enter_at / weft_timeout_exit
 *     cm.when(), reschedule(), expired()   weft_timeout_when / _reschedule / _expired
 *     shield(aw)                      weft_shield(fut, &outer)
 *     wait(aws, return_when) / as_completed   weft_wait / weft_as_completed_new (weft/future.h)
 *     TaskGroup                       weft_task_group_new / _create_task / _wait / _free
 *     TaskGroup.cancel()              weft_task_group_cancel
 *     to_thread(fn, arg)              weft_to_thread(fn, arg, &result)
 *     loop.run_in_executor(ex, fn)    weft_run_in_executor(loop, ex, fn, arg, &fut)
 *     CancelledError / TimeoutError   WEFT_ECANCELLED / WEFT_ETIMEDOUT
 *
 * @file
 */
#ifndef WEFT_LOOP_H
#define WEFT_LOOP_H

#include "weft/common.h"
#include "weft/executor.h"
#include "weft/future.h"
#include "weft/thread.h" /* weft_sleep: asyncio.sleep inside a coroutine */

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ loop */

typedef struct weft_loop weft_loop;
typedef struct weft_handle weft_handle;

/** A callback scheduled on a loop. */
typedef void (*weft_callback)(void *arg);

/** Loop options; all-zero (or NULL) means asyncio's defaults. */
typedef struct weft_loop_opts {
    /** 0: from the environment (WEFT_DEBUG=1 turns it on), 1 on, -1 off. */
    int debug;
    /** In debug mode, warn about a callback or task step that runs longer
     *  than this many seconds (0: 0.1, asyncio's slow_callback_duration). */
    double slow_callback_duration;
} weft_loop_opts;

/** A new loop, not running. 0, WEFT_EINVAL (NULL out, bad options) or
 *  WEFT_ENOMEM (or the code of a failed epoll/eventfd). */
WEFT_API int weft_loop_new(weft_loop **out, const weft_loop_opts *opts);

/** Python's loop.close(), for a loop that is not running (WEFT_ESTATE if
 *  it is, and from a coroutine of another running loop while tasks are
 *  pending). Tasks still pending are reported (asyncio's "Task was
 *  destroyed but it is pending"), cancelled, and the loop runs until they
 *  have ended (a task that keeps refusing cancellation is cancelled again
 *  at each of its waits); then callbacks not yet run are dropped. A closed
 *  loop no longer runs or takes callbacks (WEFT_ESTATE); closing twice is
 *  0. */
WEFT_API int weft_loop_close(weft_loop *loop);
/** Close (if it is not closed) and free; NULL is allowed. A loop that
 *  cannot be closed (running) is reported (weft_report_error) and left
 *  as it is. */
WEFT_API void weft_loop_free(weft_loop *loop);

/** The loop running on the calling thread (in its callbacks and
 *  coroutines), or NULL. */
WEFT_API weft_loop *weft_get_running_loop(void);

/** The loop's clock: seconds on the monotonic clock, as weft_monotonic. */
WEFT_API double weft_loop_time(const weft_loop *loop);

/** Run fn(arg) once, soon, in FIFO order with other ready callbacks. If
 *  `out` is not NULL it gets a handle reference (weft_handle_unref). A NULL
 *  loop means the running loop (WEFT_ESTATE if none). */
WEFT_API int weft_loop_call_soon(weft_loop *loop, weft_callback fn, void *arg,
                                 weft_handle **out);
/** Run fn(arg) after `delay` seconds. As in asyncio, a delay of 0 or less
 *  (a negative one included) runs it in the next iteration, after the
 *  callbacks already ready, timers due together in deadline order; an
 *  infinite delay never comes. NaN is WEFT_EINVAL. */
WEFT_API int weft_loop_call_later(weft_loop *loop, double delay, weft_callback fn, void *arg,
                                  weft_handle **out);
/** Run fn(arg) at loop time `when` (a weft_loop_time value); a time already
 *  past runs it in the next iteration, in deadline order, as call_later
 *  with a negative delay. NaN is WEFT_EINVAL. */
WEFT_API int weft_loop_call_at(weft_loop *loop, double when, weft_callback fn, void *arg,
                               weft_handle **out);
/** Any thread: schedule fn(arg), FIFO with the loop's other callbacks, and
 *  wake the loop. If `out` is not NULL it gets a handle reference
 *  (weft_handle_unref, from any thread), which weft_handle_cancel cancels
 *  from any thread, the loop running or not: true if fn will not run,
 *  false once it started. WEFT_ESTATE if the loop is closed or being freed
 *  (fn never runs then, *out untouched); never after it was freed (see
 *  the threads rule at the top). One malloc per call. */
WEFT_API int weft_loop_call_soon_threadsafe(weft_loop *loop, weft_callback fn, void *arg,
                                            weft_handle **out);

/** asyncio.run_coroutine_threadsafe. Any thread: start fn(arg) as a task
 *  on `loop` (NULL: the running loop) and get in *out a future the calling
 *  thread can wait on (weft_future_result; in a coroutine of another loop
 *  it suspends only that coroutine), one reference for the caller. The
 *  task starts on the loop's thread at its next iteration; the future
 *  stays PENDING until the task ends and then gets its outcome (result,
 *  error code and message, or cancelled). As in Python, cancelling the
 *  future works while the task runs: the future is CANCELLED at once and
 *  the task is cancelled on its loop (an any-thread call on the loop: it
 *  must not race with weft_loop_free). A loop closed before the task
 *  started cancels the future. 0, WEFT_EINVAL (NULL fn or out),
 *  WEFT_ESTATE (no running loop for NULL, a closed loop), WEFT_ENOMEM; on
 *  failure *out is NULL. */
WEFT_API int weft_run_coroutine_threadsafe(weft_loop *loop, weft_task_fn fn, void *arg,
                                           weft_future **out);

/** Cancel a handle that has not run: it never will. Whether it is
 *  cancelled: true now and on a second cancel, false once its callback
 *  ran (and for NULL). A call_soon_threadsafe handle: from any thread. The
 *  others: from the loop's thread, or while the loop is not running (from
 *  another thread while it runs: false, nothing done). */
WEFT_API bool weft_handle_cancel(weft_handle *h);
WEFT_API bool weft_handle_cancelled(const weft_handle *h);
/** For a call_later/call_at handle: its loop time; otherwise -1. */
WEFT_API double weft_handle_when(const weft_handle *h);
/** Take another reference (on the loop's thread; any thread for a
 *  call_soon_threadsafe handle); returns h. */
WEFT_API weft_handle *weft_handle_ref(weft_handle *h);
/** Drop a reference (as ref, for the thread). NULL is allowed. */
WEFT_API void weft_handle_unref(weft_handle *h);

/** Run callbacks and coroutines until weft_loop_stop. 0, or WEFT_ESTATE if
 *  the loop is already running, or the calling thread runs another loop. */
WEFT_API int weft_loop_run_forever(weft_loop *loop);
/** Run until f is done (it need not belong to the loop: a thread-pool future
 *  wakes it too). Returns f's outcome as weft_future_result(f, result, 0)
 *  would; WEFT_ESTATE as above, or when the loop was stopped before f was
 *  done (asyncio's RuntimeError). */
WEFT_API int weft_loop_run_until_complete(weft_loop *loop, weft_future *f, void **result);
/** Any thread: make a running loop return after its current iteration (if
 *  it is not running, its next run returns after one iteration, as
 *  asyncio). */
WEFT_API int weft_loop_stop(weft_loop *loop);
WEFT_API bool weft_loop_is_running(const weft_loop *loop);
/** Python's loop.is_closed(): true once weft_loop_close has closed it
 *  (false for NULL). */
WEFT_API bool weft_loop_is_closed(const weft_loop *loop);

/** What a loop reports to its exception handler. */
typedef struct weft_loop_error {
    const char *message;  /**< what happened, e.g. "Task exception was never retrieved" */
    int code;             /**< the error code, or 0 */
    const char *detail;   /**< the error's message (weft_future_message), or NULL */
    weft_future *task;    /**< the task concerned (borrowed), or NULL */
} weft_loop_error;

typedef void (*weft_exception_handler)(weft_loop *loop, const weft_loop_error *err, void *arg);

/** Replace the handler; NULL restores the default, which reports through
 *  weft_report_error (stderr unless weft_set_report_handler says else). */
WEFT_API void weft_loop_set_exception_handler(weft_loop *loop, weft_exception_handler fn,
                                              void *arg);
/** Call the loop's exception handler (for code that runs on the loop). */
WEFT_API void weft_loop_call_exception_handler(weft_loop *loop, const weft_loop_error *err);

/** Debug mode: warnings (through the exception handler) for a callback or
 *  task step that blocks the loop longer than slow_callback_duration, a
 *  task whose error was never retrieved, and a task still pending when its
 *  loop is freed. The last two are reported in any mode. */
WEFT_API void weft_loop_set_debug(weft_loop *loop, bool on);
WEFT_API bool weft_loop_get_debug(const weft_loop *loop);

/* ------------------------------------------------------------------ tasks */

/** Task options; all-zero (or NULL) means the defaults. */
typedef struct weft_task_opts {
    const char *name;   /**< copied; NULL: "Task-N" */
    size_t stack_size;  /**< 0: 64 KiB of address space (only touched pages
                             cost memory); at least 16 KiB */
} weft_task_opts;

/** Run fn(arg, &result) as a coroutine on `loop` (NULL: the running loop)
 *  and give its future in *out (a reference for the caller; `out` may be
 *  NULL to let the task run unwatched). The coroutine starts at the loop's
 *  next iteration. Its future finishes with fn's result or error; it ends
 *  cancelled when fn returns WEFT_ECANCELLED, and also when fn returns 0
 *  while a cancel request is still undelivered (one that came after its
 *  last wait: asyncio cancels a task whose coroutine returns right after
 *  cancel()). Only fn ends it: weft_future_set_result, _set_error and
 *  _set_running_or_notify_cancel on a task's future are WEFT_ESTATE
 *  (asyncio's RuntimeError).
 *  0, WEFT_EINVAL, WEFT_ESTATE (no running loop for NULL, a freed loop) or
 *  WEFT_ENOMEM. */
WEFT_API int weft_create_task(weft_loop *loop, weft_task_fn fn, void *arg, const char *name,
                              weft_future **out);
WEFT_API int weft_create_task_opts(weft_loop *loop, weft_task_fn fn, void *arg,
                                   const weft_task_opts *opts, weft_future **out);

/** The task running on this thread (borrowed), or NULL outside a coroutine. */
WEFT_API weft_future *weft_current_task(void);
/** True inside a coroutine (where waits suspend the coroutine). */
WEFT_API bool weft_in_coroutine(void);

/** The tasks of `loop` (NULL: running loop) not yet done: up to `cap` new
 *  references into out[], and the total count in *n. */
WEFT_API int weft_all_tasks(weft_loop *loop, weft_future **out, size_t cap, size_t *n);

/** True if f is a task's future. */
WEFT_API bool weft_is_task(const weft_future *f);
/** A task's name (valid while the task lives and until set_name), or NULL
 *  for a future that is not a task. */
WEFT_API const char *weft_task_name(const weft_future *task);
WEFT_API int weft_task_set_name(weft_future *task, const char *name);

/** Cancel requests not yet withdrawn (asyncio's cancelling()); 0 for a
 *  future that is not a task. */
WEFT_API unsigned weft_task_cancelling(const weft_future *task);
/** Withdraw one cancel request: 0 and the count left in *remaining (may be
 *  NULL), or WEFT_EINVAL for a future that is not a task. Withdrawing the
 *  last one also drops a request not yet delivered, and its message. */
WEFT_API int weft_task_uncancel(weft_future *task, unsigned *remaining);

/** Python's task.cancel(msg): weft_future_cancel with a message (copied;
 *  NULL for none), from any thread. A task that ends cancelled carries the
 *  message of its last request that gave one (weft_future_message on the
 *  task, as CancelledError(msg)); without one, the text its coroutine set
 *  with weft_task_set_message, if any. A task that awaits another
 *  (weft_await) and is cancelled passes its message on.
 *  Whether the task is cancelled, as weft_future_cancel. A gather passes
 *  the message to its children (its own text is then the last cancelled
 *  child's). Another future that is not a task is cancelled as
 *  weft_future_cancel does, without keeping the message. */
WEFT_API bool weft_task_cancel_msg(weft_future *task, const char *msg);

/** Wait up to `timeout` for f (asyncio's await, and asyncio.wait_for with
 *  a timeout): its outcome as weft_future_result gives it. Inside a
 *  coroutine this suspends the coroutine. If the time runs out, or the
 *  coroutine is cancelled, while f is not done, f is cancelled too (use
 *  weft_shield to protect it) and WEFT_ETIMEDOUT or WEFT_ECANCELLED is
 *  returned once a cancelled task f has finished its clean-up (a task that
 *  finished after all while being cancelled gives its own outcome). A
 *  cancel request that reaches the waiting task during that clean-up is
 *  kept for its next wait, not passed on to f as asyncio passes each one
 *  (f's clean-up may hold what the caller's stack lends it). A task
 *  awaiting its own future gets WEFT_EDEADLK at once, whatever the timeout
 *  (asyncio's "Task cannot await on itself"); so does any wait of a task
 *  on its own future (weft_future_result, weft_future_exception), and a
 *  callback of a loop (not a coroutine) awaiting a pending task of that
 *  loop with a timeout other than 0: the task could not run while the
 *  loop's thread waits. */
WEFT_API int weft_await(weft_future *f, void **result, double timeout);

/** A future that finishes when every future of fs[0..n) is done. Without
 *  return_exceptions it fails with the first error, or with WEFT_ECANCELLED
 *  when a child ends cancelled (the others go on); with it, it succeeds
 *  once all are done and each child tells its own outcome. Read the
 *  results from the children, in order. n may be 0 (done at once).
 *  Cancelling the gather future is asyncio's: a request passed to the
 *  children not done (true if one took it; false once they are all done),
 *  and the gather ends through them: without return_exceptions when the
 *  first ends cancelled, with it when the last ends; either way it then
 *  fails with WEFT_ECANCELLED (asyncio's CancelledError as the exception:
 *  weft_future_cancelled stays false). weft_await on a gather it cancels
 *  (its own cancellation, a timeout) waits for that end. */
WEFT_API int weft_gather(weft_future *const *fs, size_t n, bool return_exceptions,
                         weft_future **out);


/** A future with f's outcome that can be cancelled without cancelling f. */
WEFT_API int weft_shield(weft_future *f, weft_future **out);

/** A timeout scope (asyncio.timeout), in caller storage (the coroutine's
 *  stack). When the deadline passes the current task is cancelled; exit
 *  turns that cancellation into WEFT_ETIMEDOUT:
 *
 *      weft_timeout t;
 *      weft_timeout_enter(&t, 2.0);
 *      int rc = do_work();                // sees WEFT_ECANCELLED at the deadline
 *      rc = weft_timeout_exit(&t, rc);    // WEFT_ETIMEDOUT if it expired
 *
 *  The calls are for the loop's thread. A scope is live from enter to
 *  exit; a task that ends with scopes still live closes them (their timers
 *  stop). Entering a live scope again is WEFT_ESTATE (asyncio: "has
 *  already been entered"); storage whose scope has exited may be entered
 *  anew (caller storage is reused in C, where asyncio makes a new object).
 *  Scopes nest: when several expire at once, only the outermost turns the
 *  cancellation into WEFT_ETIMEDOUT; the inner ones pass WEFT_ECANCELLED
 *  on. A cancel request from elsewhere while the scope is live is never
 *  turned into a timeout. */
typedef struct weft_timeout {
    void *priv_[8]; /**< private */
} weft_timeout;

/** Enter in a task: expire `delay` seconds from now (WEFT_FOREVER: never,
 *  until rescheduled; 0: at the loop's next iteration). WEFT_ESTATE outside
 *  a task, or for a scope that is live; WEFT_EINVAL for NaN or a negative
 *  delay other than WEFT_FOREVER (asyncio takes one as "expired": pass 0);
 *  WEFT_ENOMEM. */
WEFT_API int weft_timeout_enter(weft_timeout *t, double delay);
/** asyncio.timeout_at: enter, expiring at loop time `when` (a
 *  weft_loop_time value; one already past expires at the loop's next
 *  iteration; WEFT_FOREVER: never). As weft_timeout_enter otherwise. */
WEFT_API int weft_timeout_enter_at(weft_timeout *t, double when);
/** Move a live scope's deadline to loop time `when` (WEFT_FOREVER: none;
 *  a time past expires it at the loop's next iteration), from the task or
 *  from another task or callback of its loop. WEFT_ESTATE for a scope
 *  never entered, exited or already expired; WEFT_EINVAL for NaN or a
 *  negative `when` other than WEFT_FOREVER. */
WEFT_API int weft_timeout_reschedule(weft_timeout *t, double when);
/** The deadline in loop time (asyncio's when()), or WEFT_FOREVER for none
 *  (Python's None) and for a scope never entered. Still readable after
 *  exit. */
WEFT_API double weft_timeout_when(const weft_timeout *t);
/** Whether the deadline passed while the scope was live (also after
 *  exit). */
WEFT_API bool weft_timeout_expired(const weft_timeout *t);
/** Leave the scope with the code the body ended with: returns
 *  WEFT_ETIMEDOUT if the scope expired, rc is WEFT_ECANCELLED and no other
 *  cancel request came since enter; else rc. The expiry's own cancel
 *  request is withdrawn either way (weft_task_uncancel). WEFT_ESTATE, the
 *  scope untouched, for a scope that is not live or that another task
 *  entered. */
WEFT_API int weft_timeout_exit(weft_timeout *t, int rc);

/** Structured concurrency (asyncio.TaskGroup). */
typedef struct weft_task_group weft_task_group;

/** A group in the current task (WEFT_ESTATE outside a task). */
WEFT_API int weft_task_group_new(weft_task_group **out);
/** Start a child (as weft_create_task on the running loop). WEFT_ESTATE
 *  once the group is shutting down (a child failed, or wait returned). */
WEFT_API int weft_task_group_create_task(weft_task_group *g, weft_task_fn fn, void *arg,
                                         const char *name, weft_future **out);
/** Await every child. When a child fails the others (and the waiting
 *  task, if it is still in the body) are cancelled. Returns 0, the first
 *  child failure's code (every failure is listed by weft_task_group_errors),
 *  or WEFT_ECANCELLED if the task itself was cancelled (a request other
 *  than the group's own, made since weft_task_group_new) and no child
 *  failed. When children failed and such a request stands too, the
 *  failure's code is returned and the request stays pending, as Python
 *  3.13's TaskGroup re-cancels its parent: the task's next wait returns
 *  WEFT_ECANCELLED (or, if it returns 0 at once, it ends cancelled). The
 *  group's own cancel request is withdrawn. A second call returns the
 *  same code. WEFT_ESTATE from another task than the group's. */
WEFT_API int weft_task_group_wait(weft_task_group *g);
/** Python 3.15's TaskGroup.cancel(), on the loop's thread (the body, a
 *  child or a callback): cancel the children not done and, if the group's
 *  task is still in the body, the task too (its next wait returns
 *  WEFT_ECANCELLED); weft_task_group_wait then returns 0, not
 *  WEFT_ECANCELLED, unless a child failed or the task was also cancelled
 *  from elsewhere. New children are refused (WEFT_ESTATE). Whether the
 *  group is shutting down (cancelled, or after a child's failure); false
 *  for NULL and for a group whose wait returned without either. */
WEFT_API bool weft_task_group_cancel(weft_task_group *g);
/** The failed children, in the order they failed (Python's
 *  ExceptionGroup.exceptions): their futures, borrowed from the group, in
 *  out[0..cap) (code and message through weft_future_exception and
 *  weft_future_message), and how many failed in *n. */
WEFT_API int weft_task_group_errors(const weft_task_group *g, weft_future **out, size_t cap,
                                    size_t *n);
/** Free a group after wait (or one that never started a child). */
WEFT_API void weft_task_group_free(weft_task_group *g);

/** Run fn(arg) on the default thread pool and await it (in a coroutine;
 *  elsewhere it blocks the thread). */
WEFT_API int weft_to_thread(weft_task_fn fn, void *arg, void **result);
/** Submit fn(arg) to `ex` (NULL: the default thread pool); the future
 *  wakes the loop's coroutine that awaits it. */
WEFT_API int weft_run_in_executor(weft_loop *loop, weft_executor *ex, weft_task_fn fn,
                                  void *arg, weft_future **out);

/** asyncio.run: a new loop runs main as a task to completion; then the
 *  tasks still pending are cancelled and awaited, and the loop is freed.
 *  Returns main's outcome (its result in *result). WEFT_ESTATE if the
 *  calling thread already runs a loop. */
WEFT_API int weft_run(weft_task_fn main, void *arg, void **result);

#ifdef __cplusplus
}
#endif

#endif
