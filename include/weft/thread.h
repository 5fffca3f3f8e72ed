/**
 * threads (threading.Thread and the threading module's functions), Timer, and
 * thread-local values (threading.local).
 *
 * Python to weft:
 *
 *     Thread(target=f, args=(a,), name=n, daemon=d)   weft_thread_new(&t, f, a, &opts)
 *     t.start() / t.join(timeout) / t.is_alive()      weft_thread_start / _join / _is_alive
 *     t.name / t.ident / t.native_id / t.daemon       weft_thread_name / _ident / _native_id / _daemon
 *     current_thread() / main_thread()                weft_current_thread / weft_main_thread
 *     enumerate() / active_count()                    weft_enumerate / weft_active_count
 *     get_ident() / get_native_id()                   weft_get_ident / weft_get_native_id
 *     Timer(interval, f)                              weft_timer_new
 *     local()                                         weft_local_new
 *     (interpreter exit joining non-daemon threads)   weft_shutdown, also run at exit
 *
 * Ownership: weft_thread_new gives the caller one reference; weft_thread_unref
 * drops it. A running thread keeps itself alive, so freeing a thread handle
 * while the thread runs is allowed (the thread goes on, as a Python Thread
 * object that went out of scope). Records returned by weft_current_thread and
 * weft_main_thread are borrowed (valid while that thread lives, or for the
 * main thread, always); weft_enumerate returns new references.
 *
 * Identity: weft_thread_ident / weft_get_ident are 64-bit numbers from a
 * process-wide counter, taken when a thread is started (or when a thread
 * weft did not start first needs one): unique among every thread the process
 * ever had, never reused (Python only promises uniqueness among live
 * threads). native_id is the kernel's thread id (gettid).
 *
 * Exit: the first weft_thread_start registers weft_shutdown(WEFT_FOREVER)
 * with atexit, so exit() (and returning from main) waits for non-daemon
 * threads, and not for daemons, as Python does. Being an atexit handler it
 * runs after handlers registered later, not before all of them. A thread
 * started after it (by an atexit handler that runs later) still starts,
 * where Python refuses a start at interpreter shutdown: weft's executors
 * finish their queued work during exit, and that work may start threads.
 * Nothing joins such a thread but its starter.
 *
 * Fork: in the child only the forking thread exists. It becomes the main
 * thread; every other record reads FINISHED (joining it returns 0 at once)
 * and weft's internal state is reset, so threads can be created and joined
 * in the child.
 *
 * @file
 */
#ifndef WEFT_THREAD_H
#define WEFT_THREAD_H

#include <sys/types.h>

#include "weft/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/** What a waiting thread waits on, as its state shows (weft_thread_state).
 *  New kinds are added at the end. */
typedef enum weft_wait_kind {
    WEFT_WAIT_NONE = 0,  /**< not waiting */
    WEFT_WAIT_LOCK,      /**< weft_lock */
    WEFT_WAIT_RLOCK,     /**< weft_rlock */
    WEFT_WAIT_CONDITION, /**< weft_condition (wait or wait_for) */
    WEFT_WAIT_SEMAPHORE, /**< weft_semaphore */
    WEFT_WAIT_EVENT,     /**< weft_event */
    WEFT_WAIT_BARRIER,   /**< weft_barrier */
    WEFT_WAIT_JOIN,      /**< joining a weft_thread */
    WEFT_WAIT_SLEEP,     /**< weft_sleep */
    WEFT_WAIT_OTHER,     /**< anything else that parks */
    WEFT_WAIT_QUEUE,     /**< a weft_queue: put, get or join */
    WEFT_WAIT_FUTURE     /**< a weft_future: result, wait or as_completed */
} weft_wait_kind;

/** Name of a wait kind ("lock", "condition", ...). */
WEFT_API const char *weft_wait_kind_name(weft_wait_kind kind);

/** Sleep the calling thread for `seconds` (0 yields the CPU). The thread's
 *  state reads as waiting on a sleep meanwhile. +inf, and values too large
 *  for the clock (over about 9e9), sleep without end, as they wait without
 *  end when given as a timeout. NaN and negative values, WEFT_FOREVER
 *  among them, return WEFT_EINVAL (Python's time.sleep raises ValueError).
 *  Inside a coroutine (weft/loop.h) only the coroutine sleeps
 *  (asyncio.sleep; 0 yields to the loop) and a cancellation ends the sleep
 *  with WEFT_ECANCELLED: the one way a sleep without end ends. */
WEFT_API int weft_sleep(double seconds);

typedef struct weft_thread weft_thread;

/** A thread's function; its return value is kept for weft_thread_result. */
typedef void *(*weft_thread_fn)(void *arg);

/** Options; a zero-initialised struct (or NULL) means "as Python does":
 *  name "Thread-N", daemon inherited from the creating thread (the main
 *  thread is not a daemon), the system's default stack size. */
typedef struct weft_thread_opts {
    const char *name;     /**< copied; NULL or "" for "Thread-N" */
    int daemon;           /**< WEFT_DAEMON_INHERIT (0), WEFT_DAEMON_YES or WEFT_DAEMON_NO */
    size_t stack_size;    /**< bytes; 0 for the default; at least 16 KiB otherwise
                               (less is WEFT_EINVAL); rounded up to a whole
                               page and to the system's minimum */
} weft_thread_opts;

#define WEFT_DAEMON_INHERIT 0
#define WEFT_DAEMON_YES 1
#define WEFT_DAEMON_NO 2

/** What a thread is doing, observable from any thread. */
typedef enum weft_thread_status {
    WEFT_THREAD_NEW = 0,  /**< created, not started */
    WEFT_THREAD_STARTING, /**< start called, its function not yet entered */
    WEFT_THREAD_RUNNING,  /**< running its function */
    WEFT_THREAD_WAITING,  /**< parked on a weft object or sleeping; see weft_thread_state */
    WEFT_THREAD_FINISHED  /**< its function returned */
} weft_thread_status;

typedef struct weft_thread_state {
    weft_thread_status status;
    weft_wait_kind waiting_on;  /**< when WAITING: the kind of object */
    const void *object;         /**< when WAITING: the object's address */
} weft_thread_state;

/** Create a thread in the NEW state. `fn` must not be NULL. */
WEFT_API int weft_thread_new(weft_thread **out, weft_thread_fn fn, void *arg,
                             const weft_thread_opts *opts);
/** Drop the caller's reference (see Ownership). NULL is allowed. */
WEFT_API void weft_thread_unref(weft_thread *t);
/** Take another reference. */
WEFT_API weft_thread *weft_thread_ref(weft_thread *t);

/** Start it. A second start (or starting the main or a dummy thread) is
 *  WEFT_ESTATE; a system refusal (no threads or memory left) is WEFT_EAGAIN
 *  and the thread stays NEW. Returns without waiting for the thread to run:
 *  it is STARTING until its function is entered. */
WEFT_API int weft_thread_start(weft_thread *t);
/** Wait for it to finish: 0, WEFT_ETIMEDOUT, WEFT_ESTATE if it was never
 *  started (or its start failed meanwhile) or is a dummy thread, WEFT_EDEADLK
 *  if it is the calling thread. Many threads may join the same thread; the
 *  first to see it finished also reaps the system thread, which waits for
 *  the thread's last steps (its thread-local destructors). */
WEFT_API int weft_thread_join(weft_thread *t, double timeout);
/** True from start until its function has returned. */
WEFT_API bool weft_thread_is_alive(const weft_thread *t);
/** The function's return value: 0 and *out set once finished, else
 *  WEFT_ESTATE (also for the main and dummy threads). A thread that left
 *  through pthread_exit counts as finished with NULL. */
WEFT_API int weft_thread_result(const weft_thread *t, void **out);

/** Name (valid until renamed or freed; copy it if you keep it). */
WEFT_API const char *weft_thread_name(const weft_thread *t);
/** Rename (copied). For a thread weft started and that is running, also
 *  sets the OS thread name (first 15 bytes; best effort). A weft thread
 *  whose name was given (opts.name) takes it as its OS name when it starts;
 *  a default "Thread-N" is not made an OS name (a system call per start for
 *  little), as pthreads leaves it. The main and dummy threads' OS names are
 *  left alone. */
WEFT_API int weft_thread_set_name(weft_thread *t, const char *name);
WEFT_API bool weft_thread_daemon(const weft_thread *t);
/** Change daemon-ness before start; WEFT_ESTATE after. */
WEFT_API int weft_thread_set_daemon(weft_thread *t, bool daemon);
/** Python's ident: non-zero once started (stays after it finishes), 0 before. */
WEFT_API uint64_t weft_thread_ident(const weft_thread *t);
/** The kernel's thread id once running, 0 before. */
WEFT_API pid_t weft_thread_native_id(const weft_thread *t);
/** A consistent snapshot of the status and, when waiting, of what on. */
WEFT_API weft_thread_state weft_thread_get_state(const weft_thread *t);
/** "new", "starting", "running", "waiting", "finished". */
WEFT_API const char *weft_thread_status_name(weft_thread_status s);

/** The calling thread's record. Threads not created by weft get one too (a
 *  "dummy" thread, as Python's), released when they exit. NULL only if out
 *  of memory. Borrowed. */
WEFT_API weft_thread *weft_current_thread(void);
/** The main thread (the one that first used weft, normally main()). Borrowed. */
WEFT_API weft_thread *weft_main_thread(void);
/** The live threads (started and not finished, plus the main and dummy
 *  threads): new references to the first `cap` into out[] (drop each with
 *  weft_thread_unref), and how many there are in *n (more than cap: call
 *  again with a larger array). */
WEFT_API int weft_enumerate(weft_thread **out, size_t cap, size_t *n);
/** Number of live threads, as weft_enumerate would count them. */
WEFT_API size_t weft_active_count(void);
WEFT_API uint64_t weft_get_ident(void);
WEFT_API pid_t weft_get_native_id(void);

/** Join every non-daemon thread that is alive (as Python at interpreter
 *  exit). Also registered with atexit when the first thread starts. Returns 0,
 *  or WEFT_ETIMEDOUT if `timeout` ran out first. */
WEFT_API int weft_shutdown(double timeout);

/* ----------------------------------------------------------------- Timer */

typedef struct weft_timer weft_timer;
typedef void (*weft_timer_fn)(void *arg);

/** A thread that runs fn(arg) after `interval` seconds unless cancelled
 *  first (threading.Timer). A negative interval fires at once, as Python's
 *  does (WEFT_FOREVER is a timeout, not an interval: it fires at once too;
 *  +inf waits for a cancel); NaN is WEFT_EINVAL. opts as for threads (NULL
 *  for defaults). While it waits, its thread's state reads
 *  WAITING on WEFT_WAIT_EVENT with the weft_timer as the object. */
WEFT_API int weft_timer_new(weft_timer **out, double interval, weft_timer_fn fn, void *arg,
                            const weft_thread_opts *opts);
WEFT_API int weft_timer_start(weft_timer *t);
/** Stop the timer if it has not fired yet: whether it is cancelled (true
 *  on a second cancel, false once its function started, and for NULL). */
WEFT_API bool weft_timer_cancel(weft_timer *t);
/** Wait for the timer thread to end (fired or cancelled). */
WEFT_API int weft_timer_join(weft_timer *t, double timeout);
/** Whether fn ran (true only once it has returned). */
WEFT_API bool weft_timer_fired(const weft_timer *t);
/** The timer's thread (borrowed), e.g. for its state. */
WEFT_API weft_thread *weft_timer_thread(const weft_timer *t);
/** Cancel, join, and free. NULL is allowed. Called from the timer's own
 *  function (a one-shot timer that frees itself), it returns at once and
 *  the timer's thread frees the timer when the function returns. */
WEFT_API void weft_timer_free(weft_timer *t);

/* ----------------------------------------------------------------- local */

typedef struct weft_local weft_local;

/** A per-thread value slot (threading.local). `destructor` (may be NULL) runs
 *  on a thread's non-NULL value when that thread exits (after the thread
 *  reads FINISHED). WEFT_EAGAIN when the system has no slots left
 *  (PTHREAD_KEYS_MAX). */
WEFT_API int weft_local_new(weft_local **out, void (*destructor)(void *));
/** The calling thread's value, NULL if never set. */
WEFT_API void *weft_local_get(const weft_local *l);
/** 0, WEFT_EINVAL for a NULL slot, WEFT_ENOMEM. */
WEFT_API int weft_local_set(weft_local *l, void *value);
/** Free the slot. Values still set are not destroyed (as pthread keys). */
WEFT_API void weft_local_free(weft_local *l);

#ifdef __cplusplus
}
#endif

#endif
