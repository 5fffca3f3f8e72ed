/*
 * The loop's fd watchers: registrations in the poller (platform/poll.h),
 * kept on a list so that a closing loop can let them go. Loop thread only.
 */
#include <errno.h>

#include "internal/loop_state.h"

int weft__loop_io_set(weft_loop *L, weft__loop_io *io, unsigned events)
{
    if (io->loop && io->loop != L)
        return WEFT_ESTATE;
    unsigned bits = events & (WEFT__IO_READ | WEFT__IO_WRITE);
    io->events = bits;
    int rc;
    if (bits == 0) {
        /* Level-triggered epoll reports errors and hang-ups even for an
         * empty event mask: an idle watcher on a dead socket would spin the
         * loop. So "not watching" leaves the epoll set, and the next
         * io_set adds it back. */
        rc = weft__poll_del(&L->poller, io->fd);
        if (rc == 0)
            L->nwatch--;
        return rc == -ENOENT ? 0 : rc;
    }
    unsigned pe = bits | ((events & WEFT__IO_EDGE) ? WEFT__POLL_EDGE : 0);
    rc = weft__poll_mod(&L->poller, io->fd, pe, io);
    if (rc == -ENOENT) {
        rc = weft__poll_add(&L->poller, io->fd, pe, io);
        if (rc == 0)
            L->nwatch++;
    }
    if (rc == 0 && !io->loop) {
        io->prev = NULL;
        io->next = L->watchers;
        if (L->watchers)
            L->watchers->prev = io;
        L->watchers = io;
        __atomic_store_n(&io->loop, L, __ATOMIC_RELEASE);
    }
    if (rc)
        io->events = 0;
    return rc;
}

void weft__loop_io_close(weft_loop *L, weft__loop_io *io)
{
    if (io->loop != L)
        return;
    if (weft__poll_del(&L->poller, io->fd) == 0)
        L->nwatch--;
    io->events = 0;
    if (io->prev)
        io->prev->next = io->next;
    else
        L->watchers = io->next;
    if (io->next)
        io->next->prev = io->prev;
    io->prev = io->next = NULL;
    __atomic_store_n(&io->loop, NULL, __ATOMIC_RELEASE);
    /* A watcher closed by another's ready() must not be reported from the
     * batch being dispatched. */
    for (int i = L->event_pos; i < L->nevents; i++)
        if (L->events[i].data == io)
            L->events[i].data = NULL;
}

void weft__loop_watchers_close(weft_loop *L)
{
    for (weft__loop_io *io = L->watchers, *next; io; io = next) {
        next = io->next;
        io->prev = io->next = NULL;
        io->events = 0;
        __atomic_store_n(&io->loop, NULL, __ATOMIC_RELEASE);
    }
    L->watchers = NULL;
}
