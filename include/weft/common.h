/*
 * weft/common.h - what every weft module shares: the export macro, the error
 * codes and their names, and time (timeouts, the monotonic clock).
 *
 * Errors: every weft call that can fail returns an int, 0 on success or a
 * negative WEFT_E* code. Codes that have an errno equivalent are the negated
 * errno value (WEFT_EINVAL == -EINVAL); weft's own codes live below -4000.
 *
 * Timeouts: a double in seconds, as in Python. WEFT_FOREVER waits without end,
 * 0 polls (one attempt, no sleep), a positive value is measured on the
 * monotonic clock. NaN and negative values other than WEFT_FOREVER are
 * rejected with WEFT_EINVAL (Python raises ValueError there).
 */
#ifndef WEFT_COMMON_H
#define WEFT_COMMON_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) || defined(__clang__)
#define WEFT_API __attribute__((visibility("default")))
#else
#define WEFT_API
#endif

#define WEFT_VERSION_MAJOR 0
#define WEFT_VERSION_MINOR 1
#define WEFT_VERSION_PATCH 0
#define WEFT_VERSION_STRING "0.1.0"

/*
 * The one error table: name, value, message. weft_strerror and weft_err_name
 * are generated from it, and so is the enum below.
 */
#define WEFT_ERRNO_MAP(X)                                                      \
    X(EINVAL, -EINVAL, "invalid argument")                                     \
    X(ETIMEDOUT, -ETIMEDOUT, "timed out")                                      \
    X(EAGAIN, -EAGAIN, "resource temporarily unavailable")                     \
    X(ENOMEM, -ENOMEM, "out of memory")                                        \
    X(EBUSY, -EBUSY, "busy: a non-blocking acquire found it taken")            \
    X(EDEADLK, -EDEADLK, "would deadlock (a thread waiting on itself)")        \
    X(EOVERFLOW, -EOVERFLOW, "value too large (released too many times)")      \
    X(EMSGSIZE, -EMSGSIZE, "message too long for the buffer or the limit")    \
    X(EPIPE, -EPIPE, "broken pipe: the other end is closed")                   \
    X(ENOENT, -ENOENT, "no such object (name not found)")                      \
    X(EEXIST, -EEXIST, "already exists")                                       \
    X(EACCES, -EACCES, "permission denied")                                    \
    X(EMFILE, -EMFILE, "too many open files")                                  \
    X(ENOTSUP, -ENOTSUP, "not supported (feature off in this build)")          \
    X(EPROTO, -EPROTO, "protocol error: the peer broke the protocol")         \
    X(EOWNERDEAD, -EOWNERDEAD, "acquired, but its previous holder died holding it") \
    X(EIO, -EIO, "input/output error")                                         \
    X(EBADF, -EBADF, "bad file descriptor (closed)")                           \
    X(ENFILE, -ENFILE, "too many open files in the system")                    \
    X(ENOSPC, -ENOSPC, "no space left on device")                              \
    X(EPERM, -EPERM, "operation not permitted")                                \
    X(ESRCH, -ESRCH, "no such process")                                        \
    X(ECHILD, -ECHILD, "no child process to wait for")                         \
    X(ENOEXEC, -ENOEXEC, "not an executable format")                           \
    X(ENOTDIR, -ENOTDIR, "not a directory")                                    \
    X(EISDIR, -EISDIR, "is a directory")                                       \
    X(ENAMETOOLONG, -ENAMETOOLONG, "name too long")                            \
    X(ELOOP, -ELOOP, "too many redirects or levels of links")                  \
    X(ENOTSOCK, -ENOTSOCK, "not a socket")                                     \
    X(EAFNOSUPPORT, -EAFNOSUPPORT, "address family not supported")             \
    X(EPROTONOSUPPORT, -EPROTONOSUPPORT, "protocol not supported")             \
    X(EADDRINUSE, -EADDRINUSE, "address already in use")                       \
    X(EADDRNOTAVAIL, -EADDRNOTAVAIL, "address not available")                  \
    X(ENETDOWN, -ENETDOWN, "network is down")                                  \
    X(ENETUNREACH, -ENETUNREACH, "network unreachable")                        \
    X(EHOSTUNREACH, -EHOSTUNREACH, "host unreachable")                         \
    X(ECONNREFUSED, -ECONNREFUSED, "connection refused")                       \
    X(ECONNRESET, -ECONNRESET, "connection reset by the peer")                 \
    X(ECONNABORTED, -ECONNABORTED, "connection aborted")                       \
    X(ENOTCONN, -ENOTCONN, "socket not connected")                             \
    X(EISCONN, -EISCONN, "socket already connected")                           \
    X(ENOBUFS, -ENOBUFS, "no buffer space available")                          \
    X(ECANCELLED, -4001, "cancelled")                                          \
    X(EBROKEN, -4002, "broken (barrier or pool can no longer be used)")        \
    X(ESHUTDOWN, -4003, "shut down")                                           \
    X(EEMPTY, -4004, "empty")                                                  \
    X(EFULL, -4005, "full")                                                    \
    X(ENOTOWNER, -4006, "not owned by the calling thread")                     \
    X(ENOTLOCKED, -4007, "release of an unlocked lock")                        \
    X(ESTATE, -4008, "not allowed in the object's current state")            \
    X(EEOF, -4009, "end of file: nothing more will come")

typedef enum weft_errno {
#define WEFT__ERR_ENUM(name, value, msg) WEFT_##name = (value),
    WEFT_ERRNO_MAP(WEFT__ERR_ENUM)
#undef WEFT__ERR_ENUM
} weft_errno;

/** Human-readable message for a WEFT_E* code (or any negated errno value).
 *  Never returns NULL; unknown codes give "unknown error". */
WEFT_API const char *weft_strerror(int code);

/** The code's name without the prefix ("ETIMEDOUT"); "UNKNOWN" if unknown. */
WEFT_API const char *weft_err_name(int code);

/** The text of the last failure the calling thread was told of without a
 *  future to carry it, or NULL: a map's or an iterator's failed task, the
 *  task of weft_run or weft_to_thread, an HTTP fetch (libcurl's text). Each
 *  such call clears it first; it lives until the thread's next one. A
 *  failure that comes with a future keeps its text there
 *  (weft_future_message). */
WEFT_API const char *weft_last_message(void);

/** What a waiting thread waits on, as its state shows (weft_thread_state).
 *  Later modules (queues, futures) add their own kinds at the end. */
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

/** Wait without end: pass as a timeout. */
#define WEFT_FOREVER (-1.0)

/** Seconds on the monotonic clock (Python's time.monotonic()). */
WEFT_API double weft_monotonic(void);

/** Sleep the calling thread for `seconds` (0 yields the CPU). The thread's
 *  state reads as waiting on a sleep meanwhile. +inf, and values too large
 *  for the clock (over about 9e9), sleep without end, as they wait without
 *  end when given as a timeout. NaN and negative values, WEFT_FOREVER
 *  among them, return WEFT_EINVAL (Python's time.sleep raises ValueError).
 *  Inside a coroutine (weft/loop.h) only the coroutine sleeps
 *  (asyncio.sleep; 0 yields to the loop) and a cancellation ends the sleep
 *  with WEFT_ECANCELLED: the one way a sleep without end ends. */
WEFT_API int weft_sleep(double seconds);

/** Give back the memory weft keeps for reuse after a burst of work. Future
 *  and task records come from slabs kept for the next burst, up to 128 MiB
 *  of futures and 512 MiB of tasks (their size for about a million each);
 *  coroutine stacks idle for 10 s go back on their own. This frees now
 *  every record slab that holds no live record, and gives idle stacks back
 *  (lazily: the kernel takes those pages under memory pressure). Records
 *  that other threads keep cached (a few hundred a thread) keep their
 *  slabs. Any thread, any time; it walks the free records, so it is for a
 *  quiet moment, not a hot path (malloc_trim's role for weft's own
 *  allocators; Python has no twin). Returns the bytes given back. */
WEFT_API size_t weft_trim_memory(void);

#ifdef __cplusplus
}
#endif

#endif
