/**
 * futures (concurrent.futures.Future), wait and as_completed.
 *
 * A future is the result of work that may not have finished: it ends exactly
 * once, with a result (a `void *`), with an error (a negative code and an
 * optional message: Python's exception), or cancelled.
 *
 * States: PENDING -> RUNNING -> FINISHED, or PENDING -> CANCELLED.
 *
 * Ownership: futures are reference-counted. Whoever gets a future from weft
 * (weft_future_new, weft_executor_submit) owns one reference and drops it with
 * weft_future_unref; an executor keeps its own reference while the work runs,
 * so a future outlives whoever drops it first. The result pointer belongs to
 * the user: the future never frees it.
 *
 * Error channel: the task's error code comes back from weft_future_result and
 * weft_future_exception as is. A task may fail with any negative code,
 * including WEFT_ETIMEDOUT, which then reads like a timed-out wait: check
 * weft_future_done when the difference matters (Python has the same
 * ambiguity since TimeoutError became the builtin).
 *
 * Python to weft:
 *
 *     f.result(timeout)               weft_future_result(f, &res, timeout)
 *     f.exception(timeout)            weft_future_exception(f, timeout)  (+ weft_future_message)
 *     f.cancel() / cancelled()        weft_future_cancel / weft_future_cancelled
 *     f.running() / done()            weft_future_running / weft_future_done
 *     f.add_done_callback(fn)         weft_future_add_done_callback(f, fn, arg)
 *     f.remove_done_callback(fn)      weft_future_remove_done_callback(f, fn, arg, &n)
 *     f.set_running_or_notify_cancel  weft_future_set_running_or_notify_cancel
 *     f.set_result / set_exception    weft_future_set_result / weft_future_set_error
 *     wait(fs, timeout, return_when)  weft_wait(fs, n, when, done, &ndone, timeout)
 *     as_completed(fs, timeout)       weft_as_completed_new + _next
 *     CancelledError / InvalidStateError   WEFT_ECANCELLED / WEFT_ESTATE
 *
 * @file
 */
#ifndef WEFT_FUTURE_H
#define WEFT_FUTURE_H

#include "weft/common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct weft_future weft_future;

typedef enum weft_future_state {
    WEFT_FUTURE_PENDING = 0,
    WEFT_FUTURE_RUNNING,
    WEFT_FUTURE_CANCELLED,
    WEFT_FUTURE_FINISHED /**< with a result or an error */
} weft_future_state;

/** A new PENDING future, for code that makes its own (one reference). */
WEFT_API int weft_future_new(weft_future **out);
WEFT_API weft_future *weft_future_ref(weft_future *f);
/** Drop a reference; the last one frees the future. NULL is allowed. */
WEFT_API void weft_future_unref(weft_future *f);

/** Wait up to `timeout` for the outcome. 0 with *result set (result may be
 *  NULL if not wanted), the task's error code, WEFT_ECANCELLED, or
 *  WEFT_ETIMEDOUT if it is not done in time. */
WEFT_API int weft_future_result(weft_future *f, void **result, double timeout);
/** Like result without the value: 0 if it finished with a result, the error
 *  code if it failed, WEFT_ECANCELLED, or WEFT_ETIMEDOUT. */
WEFT_API int weft_future_exception(weft_future *f, double timeout);
/** The failure's message (Python's str(exception)), or NULL: valid while the
 *  caller holds its reference. */
WEFT_API const char *weft_future_message(const weft_future *f);

/** Cancel if still PENDING: true if the future is (now or already) cancelled,
 *  false if it is running or finished. Callbacks run at once on success. */
WEFT_API bool weft_future_cancel(weft_future *f);
WEFT_API bool weft_future_cancelled(const weft_future *f);
WEFT_API bool weft_future_running(const weft_future *f);
/** Cancelled or finished. */
WEFT_API bool weft_future_done(const weft_future *f);
/** The state (a snapshot). While a set_result/set_error is under way the
 *  future still reads PENDING or RUNNING. NULL reads PENDING. */
WEFT_API weft_future_state weft_future_get_state(const weft_future *f);

/** A done callback: runs once, with the future done. A non-zero return is a
 *  failure: it is reported (weft_report_error) and the other callbacks still
 *  run. */
typedef int (*weft_future_cb)(weft_future *f, void *arg);

/** Run fn(f, arg) when the future is done: in the thread that completes it
 *  (after its waiters are woken), or at once in the caller if it is already
 *  done. Callbacks run in the order added, with no weft lock held: a
 *  callback may unref the future, add callbacks, or complete other futures.
 *  The first callback is stored in the future itself; each further one costs
 *  a malloc, and WEFT_ENOMEM means it could not be recorded (then it never
 *  runs). WEFT_EINVAL for a NULL future or fn. Callbacks of a future freed
 *  without ever being done are dropped unrun. */
WEFT_API int weft_future_add_done_callback(weft_future *f, weft_future_cb fn, void *arg);
/** asyncio's Future.remove_done_callback: remove every registration of fn
 *  with this arg that has not run, and put how many in *removed (may be
 *  NULL). 0, or WEFT_EINVAL for a NULL future or fn. Once the future is
 *  done its callbacks have been taken to run (they run, or ran): nothing
 *  is removed then. Any thread. */
WEFT_API int weft_future_remove_done_callback(weft_future *f, weft_future_cb fn, void *arg,
                                              size_t *removed);

/** For code that runs the work itself: 0 and the future is RUNNING, or
 *  WEFT_ECANCELLED if it was cancelled (do not run the work), or WEFT_ESTATE
 *  if it was already running, being finished, or done. */
WEFT_API int weft_future_set_running_or_notify_cancel(weft_future *f);
/** Finish with a result (from PENDING or RUNNING, as in Python): 0, or
 *  WEFT_ESTATE if it was already done or another set won. Wakes the
 *  waiters and runs the callbacks in the calling thread. Of concurrent
 *  set_result, set_error and cancel calls exactly one wins. */
WEFT_API int weft_future_set_result(weft_future *f, void *result);
/** Finish with an error: `code` must be negative (else WEFT_EINVAL); the
 *  message (may be NULL) is copied (WEFT_ENOMEM if it cannot be, and then
 *  nothing changed). WEFT_ESTATE if already done. */
WEFT_API int weft_future_set_error(weft_future *f, int code, const char *message);

/* -------------------------------------------------------- wait, as_completed */

typedef enum weft_return_when {
    WEFT_FIRST_COMPLETED = 0,
    WEFT_FIRST_EXCEPTION, /**< first error (not cancellation), else all */
    WEFT_ALL_COMPLETED
} weft_return_when;

/** Wait for the futures fs[0..n) (NULLs are WEFT_EINVAL; the same future may
 *  appear twice, and each entry counts). A cancelled future is done (and is
 *  not an exception for WEFT_FIRST_EXCEPTION). On return done[i] (if done
 *  is not NULL) tells whether fs[i] is done and *ndone (if not NULL) how
 *  many entries are. Returns 0 when the condition was met (at once for
 *  n == 0), WEFT_ETIMEDOUT if the time ran out first (done and ndone are
 *  still filled in, as Python returns its two sets); WEFT_EINVAL for a bad
 *  timeout or `when` (done and ndone untouched); WEFT_ENOMEM if more than
 *  16 futures must be waited for and their records cannot be allocated. */
WEFT_API int weft_wait(weft_future *const *fs, size_t n, weft_return_when when, bool *done,
                       size_t *ndone, double timeout);

typedef struct weft_as_completed weft_as_completed;

/** Iterate over fs[0..n) in the order they complete (the futures already
 *  done first, in input order). A future listed twice is returned once, as
 *  in Python. `timeout` bounds the whole iteration, from this call. The
 *  iterator holds references to the futures until freed. WEFT_EINVAL (NULL
 *  out, NULL entry, bad timeout), WEFT_ENOMEM. */
WEFT_API int weft_as_completed_new(weft_as_completed **out, weft_future *const *fs, size_t n,
                                   double timeout);
/** The next completed future (borrowed from the iterator), waiting up to
 *  `timeout` for one: 0 and *f set, WEFT_EEMPTY once every future has been
 *  returned, WEFT_ETIMEDOUT when this call's timeout or the iteration's has
 *  run out and no completed future is left to return (one that completes
 *  later is still returned by a later call). One thread at a time may call
 *  it. */
WEFT_API int weft_as_completed_next(weft_as_completed *it, weft_future **f, double timeout);
/** Free the iterator and drop its references; futures still pending are
 *  safe to complete afterwards. NULL is allowed. */
WEFT_API void weft_as_completed_free(weft_as_completed *it);


#ifdef __cplusplus
}
#endif

#endif
