/*
 * What the task module (task.c) and async I/O need from the event loop
 * (src/loop/loop.c, timers.c, inbox.c, watchers.c) beyond the public API:
 * intrusive ready items, intrusive timers and fd watchers, so that
 * resuming a coroutine, arming its timeout or waiting for a socket never
 * allocates.
 *
 * Threads: everything here is for the loop's own thread (or before the loop
 * first runs), except weft__loop_ready_threadsafe.
 */
#ifndef WEFT_INTERNAL_LOOP_H
#define WEFT_INTERNAL_LOOP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "weft/loop.h"

/* ---------------------------------------------------------- ready items */

typedef struct weft__loop_item weft__loop_item;
struct weft__loop_item {
    weft__loop_item *next;               /* the loop's queues; NULL when not queued */
    void (*run)(weft__loop_item *it);    /* called once per queuing, on the loop thread */
    /* For debug warnings: write a name for what `it` runs ("task 'Task-3'",
     * "callback my_fn"). May be NULL. */
    void (*describe)(weft__loop_item *it, char *buf, size_t len);
    /* Called instead of run when the loop is freed with the item still
     * queued, before the loop lets go of its fd watchers (an item that owns
     * memory frees it here). May be NULL. */
    void (*drop)(weft__loop_item *it);
};

/* Append `it` to the ready queue: it runs in this or the next iteration,
 * FIFO with call_soon callbacks. The caller guarantees `it` is not already
 * queued. Loop thread only. */
void weft__loop_ready(weft_loop *loop, weft__loop_item *it);

/* Any thread: hand `it` to the loop (a lock-free MPSC queue, or a lock held
 * for a few instructions) and wake the loop if it is waiting for events.
 * Never allocates. 0, or WEFT_ESTATE if the loop is being freed (then `it`
 * is not queued). The loop moves such items to the ready queue at the start
 * of an iteration. */
int weft__loop_ready_threadsafe(weft_loop *loop, weft__loop_item *it);

/* While an item of the current batch runs: the batch's next item (its
 * `next` links the rest), which runs right after this one; NULL for the
 * last. An item may read ahead (a task warms the next task's stack while it
 * runs) but must not run or unlink them. Loop thread only. */
weft__loop_item *weft__loop_upcoming(const weft_loop *loop);

/* While an item runs: the item the loop would run next with nothing in
 * between, if accept(item, ctx) agrees, taken off its queue (the caller
 * runs it now, in place of the loop): the batch's next item, or, after the
 * batch's last, when no other thread handed anything over and no stop is
 * asked, the first ready item, the others becoming the batch (with fds or
 * timers to look at: only a sole ready item, and for a bounded number of
 * such items in a row). NULL: let the loop go on. Never in debug mode.
 * Loop thread only. */
weft__loop_item *weft__loop_take_next(weft_loop *loop,
                                      bool (*accept)(weft__loop_item *it, void *ctx), void *ctx);

/* --------------------------------------------------------------- timers */

/* An intrusive timer: fire(t) runs on the loop thread once `when` (an
 * absolute CLOCK_MONOTONIC time in ns, weft__now_ns) has passed. A heap
 * (or wheel) keeps a million pending timers cheap: start and stop are
 * O(log n) at most, no allocation beyond the loop's own array growth
 * (start returns WEFT_ENOMEM if that growth fails). */
typedef struct weft__loop_timer weft__loop_timer;
struct weft__loop_timer {
    int64_t when;
    uint32_t slot;    /* loop-private position; UINT32_MAX when not pending */
    uint32_t seq;     /* loop-private: start order, which breaks ties of `when` */
    void (*fire)(weft__loop_timer *t);
};

#define WEFT__TIMER_INIT(fn) {.when = 0, .slot = UINT32_MAX, .fire = (fn)}

/* (Re)arm t for `when` (a pending t is moved). */
int weft__loop_timer_start(weft_loop *loop, weft__loop_timer *t, int64_t when);
/* Disarm t if pending; harmless otherwise. */
void weft__loop_timer_stop(weft_loop *loop, weft__loop_timer *t);
static inline bool weft__loop_timer_pending(const weft__loop_timer *t)
{
    return t->slot != UINT32_MAX;
}

/* ----------------------------------------------------------- fd watchers */

/* For async I/O: readiness of one fd, reported as WEFT__IO_READ /
 * WEFT__IO_WRITE bits (errors and hang-ups report both). Level-triggered,
 * unless WEFT__IO_EDGE is in the events: then each change of readiness is
 * reported once (and a peer's half-close reports READ). */
enum { WEFT__IO_READ = 1, WEFT__IO_WRITE = 2, WEFT__IO_EDGE = 4 };

typedef struct weft__loop_io weft__loop_io;
struct weft__loop_io {
    int fd;
    unsigned events;                        /* wanted, set by weft__loop_io_set */
    void (*ready)(weft__loop_io *io, unsigned events);
    /* Set by the loop: the loop io is registered with (from the first
     * io_set to io_close), else NULL. Written on the loop's thread with
     * release; other threads read it with acquire. weft_loop_free sets it
     * back to NULL in every io still registered (their fds then belong to
     * no loop: a later io_set may register them elsewhere). */
    weft_loop *loop;
    weft__loop_io *prev, *next;             /* loop-private list of registrations */
};

/* Watch io->fd for `events` (0 stops watching but keeps the registration;
 * weft__loop_io_close removes it). 0, WEFT_ESTATE (io is registered with
 * another loop), or the backend's error code. */
int weft__loop_io_set(weft_loop *loop, weft__loop_io *io, unsigned events);
/* Forget io (before closing its fd). Harmless on an io not registered. */
void weft__loop_io_close(weft_loop *loop, weft__loop_io *io);

/* True while `loop` is inside run_forever / run_until_complete (any
 * thread; a hint that can change at once unless the caller is that
 * loop's thread). */
bool weft__loop_is_running_any(const weft_loop *loop);

/* ------------------------------------------------------------ the rest */

/* The loop running on this thread, or NULL (same as weft_get_running_loop). */
weft_loop *weft__loop_running(void);

/* True when called on the thread that runs `loop` (false when it is not
 * running). */
bool weft__loop_on_its_thread(const weft_loop *loop);

/* Per-loop storage owned by the task module: the list of live tasks and the
 * task counter. The loop zero-fills it and never reads it. */
typedef struct weft__loop_tasks {
    void *head;          /* task.c's list of live tasks */
    size_t count;
    uint64_t next_id;    /* for "Task-N" names */
} weft__loop_tasks;

weft__loop_tasks *weft__loop_task_list(weft_loop *loop);

/* What the loop asks of the module above it that makes tasks (task.c): the
 * loop knows items, not tasks, and never calls up. task.c registers these
 * before it makes its first task, so a loop that holds a task finds them.
 *   closing  from weft_loop_close, before the loop tears itself down while
 *            its timers and queues still work: end the loop's tasks. 0, or
 *            WEFT_ESTATE when the loop has live tasks but cannot run them
 *            (this thread runs another loop): then the close fails with it.
 *   name     a task's name, for the default exception handler's report. */
typedef struct weft__loop_task_hooks {
    int (*closing)(weft_loop *loop);
    const char *(*name)(const weft_future *task);
} weft__loop_task_hooks;

void weft__loop_set_task_hooks(const weft__loop_task_hooks *hooks);
/* 0, or WEFT_ESTATE (see closing above). */
int weft__tasks_loop_freeing(weft_loop *loop);
/* Cancel the loop's pending tasks and run the loop until they have ended;
 * with report, each is reported as pending (loop freeing); without, it is
 * silent (weft_run's clean-up, as asyncio.run). 0 or WEFT_ESTATE. */
int weft__tasks_finish(weft_loop *loop, bool report);

/* Debug settings, read by task.c to time task steps the same way. */
bool weft__loop_debug(const weft_loop *loop);
double weft__loop_slow_duration(const weft_loop *loop);

/* Report "what" through the loop's exception handler with a formatted
 * message (debug warnings). */
void weft__loop_warn(weft_loop *loop, weft_future *task, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
