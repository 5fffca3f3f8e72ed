/**
 * what every weft module shares: the export macro, the version, the error
 * codes and their names, where a failure's text lives, time (timeouts, the
 * monotonic clock), and the grammar every header keeps.
 *
 * THE GRAMMAR. A user who knows one header can predict the next. The rules
 * a script can judge are checked by tests/check_grammar.py (run by make
 * test) over every installed header.
 *
 * Names. `weft_<object>_<verb>` for an object's calls (weft_queue_put), with
 * Python's verb where Python has one; `weft_<verb>` for calls of no object
 * (weft_sleep, weft_gather); WEFT_ for macros and enum values. Nothing else
 * is exported.
 *
 * Results. A call that can fail returns int: 0, or a negative WEFT_E* code
 * from the one table below (codes with an errno twin are the negated
 * errno, weft's own lie below -4000); never a positive value, so
 * `if (rc) fail;` is always right. Values come back through out
 * parameters, after the inputs; on failure an out pointer is set to NULL
 * (an out number to 0) where the call documents it. A call that cannot
 * fail returns its value directly (a getter, a bool, a count).
 *
 * Waiting. A call that may wait takes `double timeout` as its last
 * parameter: WEFT_FOREVER waits without end, 0 polls (tries once, never
 * sleeps), a positive value waits at most that many seconds on the
 * monotonic clock. When the time runs out, a poll included, the call
 * returns WEFT_ETIMEDOUT (Python's False from acquire, queue.Empty and
 * queue.Full, TimeoutError). There are no _timeout, try_ or _nowait twins:
 * the timeout is the form. NaN and negative timeouts other than
 * WEFT_FOREVER are WEFT_EINVAL. Inside a coroutine a wait suspends only
 * the coroutine, and the coroutine's cancellation ends it with
 * WEFT_ECANCELLED. Calls that run something to its end take no timeout:
 * weft_run, weft_loop_run_forever and _run_until_complete,
 * weft_server_serve_forever, weft_to_thread, weft_task_group_wait (inside
 * a coroutine a timeout scope, weft_timeout_enter, bounds them, as
 * asyncio.timeout does).
 *
 * Lifetime.
 *
 *     _init / _destroy   an object embedded in the caller's memory (lock,
 *                        event, ...), with a static initializer where one can
 *                        exist.
 *     _new / _free       an object weft allocates, with one owner.
 *     _ref / _unref      an object with shared owners (futures and tasks,
 *                        threads, loop handles): _new gives one reference.
 *     _close             Python's close(): the object stops doing its work (a
 *                        socket's descriptor is closed, a pool takes no more
 *                        work) but is not freed; a second close is 0. _free
 *                        closes what is still open.
 *
 * _destroy, _free and _unref return void, accept NULL and never fail; a
 * misuse they cannot honour (freeing a running loop) is reported through
 * weft_report_error and the object is left as it was.
 *
 * Cancel. `weft_<object>_cancel` returns bool: whether the object is
 * cancelled when the call returns (Python's Future.cancel()); false once
 * its work started or finished. A task is a future: weft_future_cancel.
 *
 * Messages. A failure's code is the return value; its text, when there is
 * one, travels with the future that failed (weft_future_message). A call
 * that reports a failure without handing you a future (a map, an
 * iterator's next, weft_run, weft_to_thread, an HTTP fetch) leaves the
 * text in weft_last_message() until the thread's next such call. A task
 * sets its own text with weft_task_set_message.
 *
 * Getters, sizes, lists. A getter takes a const pointer and returns the
 * value; it is named after Python's attribute (weft_thread_name,
 * weft_barrier_parties), or `weft_<object>_get_<what>` where `<what>` is
 * already a type's name (weft_thread_get_state). A count is Python's name
 * where Python has one (qsize, n_waiting, active_count), else
 * `weft_<object>_<what>_len`. A list is copied into the caller's array:
 * (out, cap, &n) fills out[0..min(cap, n)) and sets n to how many there
 * are. A list of things of different sizes is a snapshot object instead
 * (weft_pdict_keys).
 *
 * Options. A call with more than a few optional settings takes a pointer
 * to an options struct; NULL or all-zero means Python's defaults, so a
 * field can be added without breaking a caller.
 *
 * @file
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
#define WEFT_VERSION_MINOR 2
#define WEFT_VERSION_PATCH 0
#define WEFT_VERSION_STRING "0.2.0"
/** The version as one number, 0xMMmmpp, for comparisons in `#if`. */
#define WEFT_VERSION_HEX \
    ((WEFT_VERSION_MAJOR << 16) | (WEFT_VERSION_MINOR << 8) | WEFT_VERSION_PATCH)

/** The version of the library the program runs with (WEFT_VERSION_HEX of
 *  its build), which may differ from the headers it was compiled with. */
WEFT_API unsigned weft_version(void);
/** The same as text ("0.2.0"). */
WEFT_API const char *weft_version_string(void);

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

/** Where weft reports failures nobody can return to a caller (a done
 *  callback's error, a worker's unexpected failure). The default prints one
 *  line to stderr: `weft: <what>: <code name> (<message or strerror>)`.
 *  Pass NULL to restore it. The handler may be called from any thread, and
 *  from several at once; one replaced may still be called once by a report
 *  already under way. */
typedef void (*weft_report_fn)(const char *what, int code, const char *message, void *arg);
WEFT_API void weft_set_report_handler(weft_report_fn fn, void *arg);
/** Report through the handler. */
WEFT_API void weft_report_error(const char *what, int code, const char *message);


/** Wait without end: pass as a timeout. */
#define WEFT_FOREVER (-1.0)

/** Seconds on the monotonic clock (Python's time.monotonic()). */
WEFT_API double weft_monotonic(void);


/** Give back the memory weft keeps for reuse after a burst of work. Future,
 *  task and loop handle records come from slabs kept for the next burst, up
 *  to 128 MiB of futures, 512 MiB of tasks and 128 MiB of handles (their
 *  size for about a million each);
 *  coroutine stacks idle for 10 s go back on their own. This frees now
 *  every record slab that holds no live record, and gives idle stacks back
 *  (lazily: the kernel takes those pages under memory pressure). Records
 *  that other threads keep cached (a few hundred a thread) keep their
 *  slabs. Any thread, any time; it walks the free records, so it is for a
 *  quiet moment, not a hot path (malloc_trim's role for weft's own
 *  allocators; Python has no twin). Returns the bytes given back. */
WEFT_API size_t weft_trim_memory(void);

/* ----------------------------------------------------------------- bytes */

/*
 * Bytes with their length: what crosses between processes (a process
 * pool's task arguments and results, weft/procpool.h) and what any call
 * that takes bytes takes. One allocation holds len, then the len bytes,
 * then a 0 byte (so text reads as a C string); weft_bytes_new makes it and
 * weft_bytes_free alone releases it. weft knows the ones it made: a
 * process pool refuses any other pointer with WEFT_EINVAL rather than
 * read it, so a weft_bytes is never declared, copied by value or made
 * with malloc. len may be lowered (fewer bytes count), never raised.
 *
 * In C the bytes are b->data. C++ has no flexible array member, so there
 * the member is absent and weft_bytes_data(b) gives the same address (C
 * code may use either).
 */
typedef struct weft_bytes {
    size_t len; /**< how many bytes */
#ifndef __cplusplus
    unsigned char data[]; /**< len bytes, followed by a 0 byte */
#endif
} weft_bytes;

/** A new weft_bytes holding a copy of data[0..len) (zeroed when data is
 *  NULL): 0 and *out, the caller's to free. WEFT_EINVAL for a NULL out,
 *  WEFT_ENOMEM. */
WEFT_API int weft_bytes_new(weft_bytes **out, const void *data, size_t len);
/** Release b; NULL allowed. A weft_bytes freed already, or one the caller
 *  does not own (a process pool task's argument is the pool's), is a bug
 *  that weft reports (weft_report_error) where it can tell, leaving the
 *  memory alone. */
WEFT_API void weft_bytes_free(weft_bytes *b);
/** The address of b's bytes (b->data in C), writable by b's owner; NULL
 *  for a NULL b. The way to the bytes from C++. */
WEFT_API unsigned char *weft_bytes_data(const weft_bytes *b);

#ifdef __cplusplus
}
#endif

#endif
