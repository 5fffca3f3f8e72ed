/*
 * The event loop's poller: a handful of functions that each backend fills
 * (epoll + eventfd in poll_epoll.c; io_uring or poll(2) could follow). The
 * build compiles exactly one backend; the loop sees only this interface.
 *
 * Threads: everything is for the loop's thread, except weft__poll_wake,
 * which any thread may call while the poller is open.
 */
#ifndef WEFT_PLATFORM_POLL_H
#define WEFT_PLATFORM_POLL_H

#include <stdint.h>

/* Readiness bits, as the loop's fd watchers use them (internal/loop.h:
 * WEFT__IO_READ, WEFT__IO_WRITE). Errors and hang-ups report both. */
enum { WEFT__POLL_READ = 1, WEFT__POLL_WRITE = 2 };
/* In weft__poll_add/mod: report each change of readiness once (edge-
 * triggered) instead of for as long as it lasts. */
enum { WEFT__POLL_EDGE = 4 };

typedef struct weft__poller {
    int fd;       /* the backend's descriptor (the epoll instance) */
    int wake_fd;  /* what weft__poll_wake signals (an eventfd) */
} weft__poller;

typedef struct weft__poll_event {
    void *data;      /* what weft__poll_add registered */
    unsigned events; /* WEFT__POLL_* bits */
} weft__poll_event;

/* Open the poller. 0 or a negated errno value. */
int weft__poll_init(weft__poller *p);
/* Close it: no wake may be in flight. */
void weft__poll_close(weft__poller *p);

/* Register fd with `events` (may be 0) and `data` (never NULL), change its
 * events, or forget it. 0 or a negated errno value. */
int weft__poll_add(weft__poller *p, int fd, unsigned events, void *data);
int weft__poll_mod(weft__poller *p, int fd, unsigned events, void *data);
int weft__poll_del(weft__poller *p, int fd);

/* Wait up to timeout_ns (0 polls, < 0 waits without end) for events on
 * the registered fds or a wake. Fills ev[0..max) and returns how many (0 on
 * timeout, on a wake or on EINTR); a wake is consumed here and never
 * reported as an event. */
int weft__poll_wait(weft__poller *p, int64_t timeout_ns, weft__poll_event *ev, int max);

/* Any thread: make the current or next weft__poll_wait return. */
void weft__poll_wake(weft__poller *p);

#endif
