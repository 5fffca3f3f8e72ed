/*
 * The loop's own state, shared by the files that make the loop:
 *   loop.c      the loop proper: an iteration, run and stop, new and close,
 *               the callbacks' handles, errors and debugging;
 *   timers.c    the timer heap;
 *   inbox.c     the cross-thread side: the hand-off queue other threads
 *               push to, the poll handshake that wakes the loop, the gate;
 *   watchers.c  the fd watchers.
 * Nothing outside src/loop/ includes it; internal/loop.h is what the loop
 * offers the rest. Only loop.c calls into the other three.
 */
#ifndef WEFT_INTERNAL_LOOP_STATE_H
#define WEFT_INTERNAL_LOOP_STATE_H

#include <stdbool.h>
#include <stdint.h>

#include "internal/loop.h"
#include "platform/poll.h"

/* Events taken from the poller per iteration; more wait for the next one. */
#define MAX_EVENTS 64

enum { STOP_USER = 1, STOP_FUTURE = 2 };
enum { POLL_BUSY = 0, POLL_WAITING = 1, POLL_WOKEN = 2 };

typedef struct heap_entry {
    int64_t when;
    weft__loop_timer *t;
} heap_entry;

struct weft_loop {
    /* What other threads write: the hand-off queue's producer end, the gate,
     * the stop requests and the poll handshake word, on their own line so
     * that the loop's private fields do not bounce with them. */
    struct {
        weft__loop_item *push;  /* Vyukov MPSC: producers exchange it */
        uint32_t gate;          /* bit 0 closed (free started), + 2 per call in flight */
        uint32_t stop;          /* STOP_* bits */
        uint32_t polling;       /* POLL_*: see inbox.c */
        uint32_t running;       /* 1 while run_forever / run_until_complete runs */
    } __attribute__((aligned(64))) shared;

    /* Loop thread only from here on. */
    weft__loop_item *pop __attribute__((aligned(64))); /* MPSC consumer end */
    weft__loop_item sentinel; /* the MPSC queue's permanent node (inbox.c) */
    weft__loop_item *ready_head, *ready_tail;
    weft__loop_item *upcoming;  /* the batch's item after the running one */

    /* The timer heap: a 4-ary min-heap of {when, timer} in an mmap'ed
     * array grown with mremap (no copy, and only touched pages cost). The
     * array starts 3 entries into the mapping so that the 4 children of
     * every node (4i+1 .. 4i+4) share one 64-byte line. */
    heap_entry *heap;
    uint32_t heap_n, heap_cap;
    void *heap_map;
    size_t heap_map_bytes;
    uint32_t timer_seq;

    weft__poller poller;
    weft__poll_event events[MAX_EVENTS];
    int nevents, event_pos;     /* the batch being dispatched */
    unsigned nwatch;            /* fds in the poller (a hint: 0 skips empty polls) */
    weft__loop_io *watchers;    /* every registered io (io_set to io_close) */
    unsigned inflight;          /* iterations in a row stalled on a producer in flight */
    unsigned skipped;           /* iterations taken over by weft__loop_take_next */

    /* The loop's memory outlives weft_loop_free while callers still hold
     * handles (which point to it): `handle_refs` counts those references
     * plus one for the loop itself. */
    uint32_t handle_refs;       /* atomic */
    bool dead;                  /* weft_loop_free ran */

    bool debug;
    double slow;
    weft_exception_handler handler;
    void *handler_arg;
    weft__loop_tasks tasks;
};

/* ------------------------------------------------------------ timers.c */

/* Fire the timers that are due (each leaves the heap before its fire
 * runs), equal deadlines in the order they were started. */
void weft__loop_timers_fire_due(weft_loop *loop);
/* A closing loop forgets its pending timers: each leaves the heap, then
 * forget(t) is called (it may free t); the heap's memory goes. */
void weft__loop_timers_close(weft_loop *loop, void (*forget)(weft__loop_timer *t));

/* ------------------------------------------------------------- inbox.c */

/* The next item other threads handed over, or NULL (none, or a producer
 * is in flight: see inbox.c). Loop thread only. */
weft__loop_item *weft__loop_inbox_pop(weft_loop *loop);

/* Whether weft__loop_inbox_pop would return NULL at once: what its first
 * step reads, so that an iteration with nothing handed over makes no
 * call. */
static inline bool weft__loop_inbox_idle(const weft_loop *L)
{
    return L->pop == &L->sentinel && !__atomic_load_n(&L->sentinel.next, __ATOMIC_ACQUIRE);
}

/* Whether a producer pushed something the loop has not taken (or is in
 * flight): seq_cst, one half of the poll handshake (inbox.c). */
static inline bool weft__loop_inbox_maybe_nonempty(weft_loop *L)
{
    return __atomic_load_n(&L->shared.push, __ATOMIC_SEQ_CST) != L->pop;
}

/* The producer's half of the poll handshake, after it published its item
 * or stop bit: write the loop's eventfd if it waits. Any thread. */
void weft__loop_wake(weft_loop *loop);
/* weft_loop_stop's work, through the gate: 0 or WEFT_ESTATE. Any thread. */
int weft__loop_request_stop(weft_loop *loop);
/* Close the gate and wait for the any-thread calls already inside. */
void weft__loop_inbox_close(weft_loop *loop);

/* ---------------------------------------------------------- watchers.c */

/* A closing loop lets go of its registered fds (their owners close them
 * later): they are no longer anyone's. */
void weft__loop_watchers_close(weft_loop *loop);

#endif
