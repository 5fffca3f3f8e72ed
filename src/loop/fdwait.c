/*
 * fdwait: see internal/fdwait.h. Coroutines park on the fdw (one key per
 * direction) and the loop's dispatch unparks them; threads poll(2).
 */
#include <errno.h>
#include <poll.h>

#include "internal/check.h"
#include "internal/clock.h"
#include "internal/error.h"
#include "internal/fdwait.h"
#include "internal/park.h"

#define WAKE_CLOSED 1u

/* The park key of a direction: two distinct addresses inside the fdw. */
static const void *key_of(weft__fdw *w, unsigned dir)
{
    return dir == WEFT__IO_READ ? (const void *)&w->ready : (const void *)w->nparked;
}

static unsigned index_of(unsigned dir)
{
    return dir == WEFT__IO_READ ? 0 : 1;
}

static void fdw_ready(weft__loop_io *io, unsigned events)
{
    weft__fdw *w = (weft__fdw *)io;
    /* The io-to-loop binding: only its own loop's dispatch reports edges. */
    WEFT_ASSERT(io->loop && weft__loop_on_its_thread(io->loop));
    w->ready |= events;
    if (w->on_ready)
        w->on_ready(w, events);
    for (unsigned dir = WEFT__IO_READ; dir <= WEFT__IO_WRITE; dir <<= 1)
        if ((events & dir) && w->nparked[index_of(dir)])
            weft__unpark(key_of(w, dir), SIZE_MAX, NULL, NULL);
}

void weft__fdw_init(weft__fdw *w, int fd)
{
    *w = (weft__fdw){.io = {.fd = fd, .ready = fdw_ready}};
}

typedef struct fdw_park {
    weft__fdw *w;
    unsigned dir;
} fdw_park;

static bool fdw_validate(void *ctx)
{
    fdw_park *p = ctx;
    return !(p->w->ready & p->dir) && !p->w->closed;
}

static int attach(weft__fdw *w, weft_loop *L)
{
    if (w->io.loop)
        return w->io.loop == L ? 0 : WEFT_ESTATE;
    if (w->closed)
        return -EBADF;
    /* Both directions, edge-triggered, once: the add reports the current
     * readiness as a first edge. */
    return weft__loop_io_set(L, &w->io, WEFT__IO_READ | WEFT__IO_WRITE | WEFT__IO_EDGE);
}

int weft__fdw_attach(weft__fdw *w)
{
    weft_loop *L = weft__park_should_spin() ? NULL : weft__loop_running();
    return L ? attach(w, L) : WEFT_ESTATE;
}

static int wait_coroutine(weft__fdw *w, unsigned dir, int64_t deadline)
{
    int rc = attach(w, weft__loop_running());
    if (rc)
        return rc;
    WEFT_ASSERT(w->io.loop == weft__loop_running());
    for (;;) {
        if (w->closed)
            return -EBADF;
        if (w->ready & dir) {
            /* An edge since the last EAGAIN (perhaps one that came before
             * it): try again. The caller's next EAGAIN finds the bit clear
             * and parks. */
            w->ready &= ~dir;
            return 0;
        }
        fdw_park p = {w, dir};
        weft__park_spec spec = {.validate = fdw_validate, .ctx = &p, .why = WEFT_WAIT_OTHER,
                                .what = w};
        uintptr_t token = 0;
        w->nparked[index_of(dir)]++;
        rc = weft__park(key_of(w, dir), &spec, deadline, &token);
        WEFT_ASSERT(w->nparked[index_of(dir)] > 0);
        w->nparked[index_of(dir)]--;
        if (rc == WEFT_EAGAIN)
            continue; /* validate saw an edge or the close */
        if (rc)
            return rc;
        if (token == WAKE_CLOSED || w->closed)
            return -EBADF;
    }
}

static int wait_thread(weft__fdw *w, unsigned dir, int64_t deadline)
{
    struct pollfd pfd = {.fd = w->io.fd, .events = dir == WEFT__IO_READ ? POLLIN : POLLOUT};
    for (;;) {
        int ms = -1;
        if (deadline != WEFT__NO_DEADLINE) {
            int64_t left = deadline - weft__now_ns();
            if (left < 0)
                left = 0;
            /* Round up: a wait that ends early only polls again. */
            int64_t m = (left + 999999) / 1000000;
            ms = m > 0x7fffffff ? 0x7fffffff : (int)m;
        }
        int n = poll(&pfd, 1, ms);
        if (n > 0)
            return (pfd.revents & POLLNVAL) ? -EBADF : 0;
        if (n < 0 && errno != EINTR)
            return weft__errno_code(errno);
        if (n == 0 && ms >= 0 && weft__now_ns() >= deadline)
            return WEFT_ETIMEDOUT;
    }
}

int weft__fdw_wait(weft__fdw *w, unsigned dir, int64_t deadline)
{
    if (dir != WEFT__IO_READ && dir != WEFT__IO_WRITE)
        return WEFT_EINVAL;
    if (!weft__park_should_spin() && weft__loop_running())
        return wait_coroutine(w, dir, deadline);
    if (__atomic_load_n(&w->closed, __ATOMIC_ACQUIRE))
        return -EBADF;
    return wait_thread(w, dir, deadline);
}

static uintptr_t closed_token(void *ctx, weft__unpark_result r)
{
    return WAKE_CLOSED;
}

bool weft__fdw_close(weft__fdw *w)
{
    weft_loop *L = __atomic_load_n(&w->io.loop, __ATOMIC_ACQUIRE);
    if (L && !weft__loop_on_its_thread(L) && weft__loop_is_running_any(L))
        return true;
    __atomic_store_n(&w->closed, true, __ATOMIC_RELEASE);
    if (L) {
        weft__loop_io_close(L, &w->io);
        for (unsigned dir = WEFT__IO_READ; dir <= WEFT__IO_WRITE; dir <<= 1)
            if (w->nparked[index_of(dir)])
                weft__unpark(key_of(w, dir), SIZE_MAX, closed_token, NULL);
    }
    return false;
}
