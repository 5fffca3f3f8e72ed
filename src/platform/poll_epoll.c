/*
 * The epoll backend of the loop's poller (platform/poll.h): level-triggered
 * epoll for fd watchers and an eventfd for cross-thread wake-ups.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "platform/poll.h"

/* Fixed epoll_data for the wake eventfd; watcher data are real pointers,
 * never this address. */
static char wake_tag;

int weft__poll_init(weft__poller *p)
{
    p->fd = epoll_create1(EPOLL_CLOEXEC);
    if (p->fd < 0)
        return -errno;
    p->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (p->wake_fd < 0) {
        int e = -errno;
        close(p->fd);
        return e;
    }
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &wake_tag};
    if (epoll_ctl(p->fd, EPOLL_CTL_ADD, p->wake_fd, &ev) != 0) {
        int e = -errno;
        close(p->wake_fd);
        close(p->fd);
        return e;
    }
    return 0;
}

void weft__poll_close(weft__poller *p)
{
    close(p->wake_fd);
    close(p->fd);
    p->fd = p->wake_fd = -1;
}

static uint32_t to_epoll(unsigned events)
{
    /* EPOLLRDHUP with edges: a peer's half-close is an edge of its own
     * (the data before it may have been reported already). */
    return ((events & WEFT__POLL_READ) ? EPOLLIN : 0u) |
           ((events & WEFT__POLL_WRITE) ? EPOLLOUT : 0u) |
           ((events & WEFT__POLL_EDGE) ? EPOLLET | EPOLLRDHUP : 0u);
}

int weft__poll_add(weft__poller *p, int fd, unsigned events, void *data)
{
    struct epoll_event ev = {.events = to_epoll(events), .data.ptr = data};
    return epoll_ctl(p->fd, EPOLL_CTL_ADD, fd, &ev) == 0 ? 0 : -errno;
}

int weft__poll_mod(weft__poller *p, int fd, unsigned events, void *data)
{
    struct epoll_event ev = {.events = to_epoll(events), .data.ptr = data};
    return epoll_ctl(p->fd, EPOLL_CTL_MOD, fd, &ev) == 0 ? 0 : -errno;
}

int weft__poll_del(weft__poller *p, int fd)
{
    /* Kernels before 2.6.9 wanted a non-NULL event even for DEL. */
    struct epoll_event ev = {0};
    return epoll_ctl(p->fd, EPOLL_CTL_DEL, fd, &ev) == 0 ? 0 : -errno;
}

/* epoll_pwait2 (Linux 5.11) takes a nanosecond timeout; without it the
 * timeout is rounded up to whole milliseconds, so that a timer's wait never
 * ends early and spins. Decided once per process: the kernel does not gain
 * the call later. */
static int have_pwait2 = 1;

static int wait_raw(weft__poller *p, int64_t timeout_ns, struct epoll_event *ev, int max)
{
    if (timeout_ns < 0)
        return epoll_wait(p->fd, ev, max, -1);
    if (__atomic_load_n(&have_pwait2, __ATOMIC_RELAXED)) {
        struct timespec ts = {.tv_sec = timeout_ns / 1000000000,
                              .tv_nsec = timeout_ns % 1000000000};
        int n = epoll_pwait2(p->fd, ev, max, &ts, NULL);
        if (n >= 0 || errno != ENOSYS)
            return n;
        __atomic_store_n(&have_pwait2, 0, __ATOMIC_RELAXED);
    }
    int64_t ms = (timeout_ns + 999999) / 1000000;
    return epoll_wait(p->fd, ev, max, ms > 0x7fffffff ? 0x7fffffff : (int)ms);
}

int weft__poll_wait(weft__poller *p, int64_t timeout_ns, weft__poll_event *out, int max)
{
    enum { CHUNK = 64 };
    struct epoll_event ev[CHUNK];
    int n = wait_raw(p, timeout_ns, ev, max < CHUNK ? max : CHUNK);
    if (n < 0) {
        if (errno == EINTR)
            return 0;
        /* EBADF, EFAULT or EINVAL: the loop's own descriptor is broken. */
        fprintf(stderr, "weft: epoll_wait failed: errno %d\n", errno);
        abort();
    }
    int k = 0;
    for (int i = 0; i < n; i++) {
        if (ev[i].data.ptr == &wake_tag) {
            /* Reset the counter: the loop rechecks its queues after every
             * wait, so one read covers every wake written so far. */
            uint64_t v;
            while (read(p->wake_fd, &v, sizeof v) < 0 && errno == EINTR)
                ;
            continue;
        }
        unsigned e = 0;
        if (ev[i].events & (EPOLLIN | EPOLLPRI | EPOLLRDHUP))
            e |= WEFT__POLL_READ;
        if (ev[i].events & EPOLLOUT)
            e |= WEFT__POLL_WRITE;
        if (ev[i].events & (EPOLLERR | EPOLLHUP))
            e |= WEFT__POLL_READ | WEFT__POLL_WRITE;
        out[k].data = ev[i].data.ptr;
        out[k].events = e;
        k++;
    }
    return k;
}

void weft__poll_wake(weft__poller *p)
{
    uint64_t one = 1;
    /* EAGAIN means the counter is saturated, so the loop is woken anyway. */
    while (write(p->wake_fd, &one, sizeof one) < 0 && errno == EINTR)
        ;
}
