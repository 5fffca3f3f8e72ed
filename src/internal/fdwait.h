/*
 * fdwait - waiting for a file descriptor to become readable or writable,
 * in both of weft's worlds.
 *
 * Async I/O (sockets, streams, subprocess pipes, pidfds) works the same
 * way everywhere: try the non-blocking system call; on EAGAIN, wait for
 * readiness and try again. This module is the "wait" half.
 *
 *   - In a coroutine the fd is registered with the coroutine's loop once,
 *     edge-triggered for both directions, and stays registered until
 *     weft__fdw_close: waiting costs no system call. The loop's ready
 *     callback records the edges in `ready` and unparks the coroutines
 *     parked on the fdw; park gives the deadline and the task's
 *     cancellation (WEFT_ECANCELLED) for free.
 *   - In a plain thread it is poll(2) with the deadline.
 *
 * Why edges and a `ready` mask: a level-triggered registration would have
 * to be switched off whenever no coroutine waits (a system call per wait)
 * or it would wake the loop for data nobody asked for yet. With edges, the
 * rule is: a direction's ready bit is cleared only when its operation
 * returned EAGAIN, and set only by the loop's dispatch. Both run on the
 * loop's thread, so no edge is lost between the EAGAIN and the park.
 *
 * One loop per fdw: the first coroutine that waits registers it with its
 * loop; a coroutine of another loop then gets WEFT_ESTATE (as asyncio,
 * which ties a socket to one loop). Threads may use it meanwhile (poll).
 * When the loop is freed first, the registration is dropped and a later
 * coroutine may register it again.
 */
#ifndef WEFT_INTERNAL_FDWAIT_H
#define WEFT_INTERNAL_FDWAIT_H

#include <stdbool.h>
#include <stdint.h>

#include "internal/loop.h"

typedef struct weft__fdw {
    weft__loop_io io;     /* io.fd is the fd; registered while io.loop != NULL */
    unsigned ready;       /* loop thread: WEFT__IO_* edges not yet consumed by an EAGAIN */
    unsigned nparked[2];  /* loop thread: coroutines parked for read, for write */
    bool closed;          /* weft__fdw_close ran: waiters get -EBADF */
    /* Optional, loop thread: called with each batch of edges before the
     * parked coroutines are woken (a stream flushes its write buffer
     * here, without a coroutine of its own). */
    void (*on_ready)(struct weft__fdw *w, unsigned events);
    void *on_ready_arg;   /* for on_ready's owner */
} weft__fdw;

void weft__fdw_init(weft__fdw *w, int fd);

/*
 * The last operation in direction `dir` (WEFT__IO_READ or WEFT__IO_WRITE)
 * returned EAGAIN: wait until it may succeed. 0 means "try again" (which
 * may still give EAGAIN: then call this again). Otherwise WEFT_ETIMEDOUT
 * (the deadline passed; one already past fails at once unless readiness is
 * known), WEFT_ECANCELLED (the task was cancelled), -EBADF
 * (weft__fdw_close ran), WEFT_ESTATE (registered with another loop), or
 * the poller's error. A timed-out or cancelled wait leaves the fdw as it
 * was: the next operation tries the system call again.
 */
int weft__fdw_wait(weft__fdw *w, unsigned dir, int64_t deadline);

/*
 * In a coroutine: register the fdw with the running loop now (so that
 * on_ready sees edges before anyone waits). 0, WEFT_ESTATE (another
 * loop's, or not in a coroutine), or the poller's error.
 */
int weft__fdw_attach(weft__fdw *w);

/*
 * The fdw will not be waited on any more (before its fd is closed): it is
 * removed from its loop and coroutines parked on it wake with -EBADF. On
 * the loop's thread, or while its loop is not running. Returns true if it
 * was registered with a loop that runs on another thread: then nothing was
 * done and the caller must hand the close to that loop (weft__fdw_loop).
 */
bool weft__fdw_close(weft__fdw *w);

/* The loop the fdw is registered with, or NULL. */
static inline weft_loop *weft__fdw_loop(const weft__fdw *w)
{
    return w->io.loop;
}

#endif
