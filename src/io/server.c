/*
 * Servers: asyncio's start_server. One accept task per listening socket,
 * one task per connection running the user's handler on a weft_stream.
 *
 * Everything runs on the server's loop, so the server's fields need no
 * locks: the accept tasks, the handler tasks and the calls (which must be
 * made on that loop's thread) take turns.
 *
 * Running out of descriptors: accept fails with EMFILE (or ENFILE,
 * ENOBUFS, ENOMEM) while the pending connection stays queued, so retrying
 * at once would spin. The accept task reports it once through the loop's
 * exception handler and sleeps a moment before trying again, as asyncio
 * does; connections that close meanwhile give descriptors back.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal/loop.h"
#include "internal/park.h"
#include "internal/stream.h"
#include "weft/stream.h"
#include "weft/sync.h"

#define ACCEPT_PAUSE 0.1 /* seconds without accepting after EMFILE and the like */

typedef struct conn conn;

struct weft_server {
    weft_loop *loop;
    weft_connection_fn fn;
    void *arg;
    weft_server_start_opts opts;
    size_t nsocks;
    weft_socket **socks;
    weft_future **acceptors;
    size_t accepting;       /* accept tasks not yet done (acceptor_done) */
    conn *conns;            /* handlers running */
    size_t nconns;
    bool closed;
    bool orphan;            /* start failed: the last accept task's end frees it */
    weft_event closed_ev;   /* set by close */
    weft_event idle_ev;     /* set once closed with no task left */
};

struct conn {
    conn *prev, *next;
    weft_server *srv;
    weft_stream *st;
    weft_future *task;
    weft_sockaddr peer;
};

typedef struct acceptor_arg {
    weft_server *srv;
    size_t i;
} acceptor_arg;

static void check_idle(weft_server *srv)
{
    if (srv->closed && srv->accepting == 0 && srv->nconns == 0)
        weft_event_set(&srv->idle_ev);
}

static void report(weft_server *srv, const char *message, int code, const char *detail)
{
    weft_loop_error e = {.message = message, .code = code, .detail = detail};
    weft_loop_call_exception_handler(srv->loop, &e);
}

/* ------------------------------------------------------- handlers */

static int run_handler(void *arg, void **result)
{
    conn *c = arg;
    weft_server *srv = c->srv;
    int rc = srv->fn(c->st, srv->arg);
    if (rc && rc != WEFT_ECANCELLED) {
        char peer[80] = "";
        weft_sockaddr_format(&c->peer, peer, sizeof peer);
        char detail[160];
        snprintf(detail, sizeof detail, "connection from %s: %s", peer, weft_strerror(rc));
        report(srv, "Unhandled error in a connection handler", rc, detail);
    }
    weft__stream_close_served(c->st);
    c->st = NULL;
    return 0;
}

/* The handler's task is done - also when it was cancelled before it ever
 * ran (then its stream is still open). On the loop's thread. */
static int handler_done(weft_future *f, void *arg)
{
    conn *c = arg;
    weft_server *srv = c->srv;
    if (c->st)
        weft_stream_free(c->st);
    if (c->prev)
        c->prev->next = c->next;
    else
        srv->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    srv->nconns--;
    weft_future_unref(c->task);
    free(c);
    check_idle(srv);
    return 0;
}

static int start_handler(weft_server *srv, weft_socket *s, const weft_sockaddr *peer)
{
    conn *c = calloc(1, sizeof *c);
    if (!c) {
        weft_socket_free(s);
        return WEFT_ENOMEM;
    }
    c->srv = srv;
    c->peer = *peer;
    int rc = weft_stream_new(&c->st, s, &srv->opts.stream);
    if (rc) {
        free(c);
        return rc;
    }
    weft_task_opts to = {.name = "connection", .stack_size = srv->opts.stack_size};
    rc = weft_create_task_opts(srv->loop, run_handler, c, &to, &c->task);
    if (rc) {
        weft_stream_free(c->st);
        free(c);
        return rc;
    }
    c->next = srv->conns;
    if (srv->conns)
        srv->conns->prev = c;
    srv->conns = c;
    srv->nconns++;
    /* The first done callback lives in the future itself: this cannot
     * fail for want of memory. */
    weft_future_add_done_callback(c->task, handler_done, c);
    return 0;
}

static void free_memory(weft_server *srv)
{
    for (size_t i = 0; i < srv->nsocks; i++)
        weft_future_unref(srv->acceptors[i]);
    weft_event_destroy(&srv->closed_ev);
    weft_event_destroy(&srv->idle_ev);
    free(srv->acceptors);
    free(srv->socks);
    free(srv);
}

/* -------------------------------------------------------- accepting */

static bool out_of_resources(int rc)
{
    return rc == -EMFILE || rc == -ENFILE || rc == -ENOBUFS || rc == -ENOMEM ||
           rc == WEFT_ENOMEM;
}

static int accept_loop(void *arg, void **result)
{
    acceptor_arg *a = arg;
    weft_server *srv = a->srv;
    weft_socket *ls = srv->socks[a->i];
    bool starved = false;
    int one = 1;
    while (!srv->closed) {
        weft_socket *s = NULL;
        weft_sockaddr peer;
        int rc = weft_socket_accept(ls, &s, &peer, WEFT_FOREVER);
        if (rc == 0) {
            starved = false;
            if (peer.ss.ss_family == AF_INET || peer.ss.ss_family == AF_INET6)
                weft_socket_setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
            rc = start_handler(srv, s, &peer);
            if (rc)
                report(srv, "Could not start a connection handler", rc, NULL);
            continue;
        }
        if (rc == WEFT_ECANCELLED || rc == -EBADF || srv->closed)
            break;
        if (out_of_resources(rc)) {
            if (!starved)
                report(srv, "Out of resources accepting connections: pausing", rc, NULL);
            starved = true;
        } else {
            report(srv, "Error accepting a connection", rc, NULL);
        }
        /* Never spin on a listener that keeps failing. */
        if (weft_sleep(ACCEPT_PAUSE) == WEFT_ECANCELLED)
            break;
    }
    return 0;
}

/* An accept task is done: it returned, or it was cancelled before its
 * first step (a server closed before the loop ran it), and then
 * accept_loop never ran. Either way this callback, not the task, owns its
 * argument and takes it off the count. On the loop's thread. */
static int acceptor_done(weft_future *f, void *arg)
{
    acceptor_arg *a = arg;
    weft_server *srv = a->srv;
    free(a);
    srv->accepting--;
    check_idle(srv);
    if (srv->orphan && srv->accepting == 0)
        free_memory(srv);
    return 0;
}

/* ----------------------------------------------------------- the API */

static bool on_server_thread(const weft_server *srv)
{
    return weft_get_running_loop() == srv->loop;
}

int weft_server_start_sockets(weft_server **out, weft_connection_fn fn, void *arg,
                              weft_socket *const *socks, size_t n,
                              const weft_server_start_opts *opts)
{
    if (out)
        *out = NULL;
    if (!out || !fn || !socks || n == 0) {
        for (size_t i = 0; socks && i < n; i++)
            weft_socket_free(socks[i]);
        return WEFT_EINVAL;
    }
    weft_loop *loop = weft_get_running_loop();
    weft_server *srv = loop ? calloc(1, sizeof *srv) : NULL;
    if (srv) {
        srv->socks = calloc(n, sizeof *srv->socks);
        srv->acceptors = calloc(n, sizeof *srv->acceptors);
    }
    if (!srv || !srv->socks || !srv->acceptors) {
        for (size_t i = 0; i < n; i++)
            weft_socket_free(socks[i]);
        if (srv) {
            free(srv->socks);
            free(srv->acceptors);
            free(srv);
        }
        return loop ? WEFT_ENOMEM : WEFT_ESTATE;
    }
    srv->loop = loop;
    srv->fn = fn;
    srv->arg = arg;
    if (opts)
        srv->opts = *opts;
    srv->nsocks = n;
    memcpy(srv->socks, socks, n * sizeof *socks);
    weft_event_init(&srv->closed_ev);
    weft_event_init(&srv->idle_ev);
    int rc = 0;
    for (size_t i = 0; i < n && !rc; i++) {
        acceptor_arg *a = malloc(sizeof *a);
        if (!a) {
            rc = WEFT_ENOMEM;
            break;
        }
        *a = (acceptor_arg){srv, i};
        rc = weft_create_task(loop, accept_loop, a, "accept", &srv->acceptors[i]);
        if (rc) {
            free(a);
            break;
        }
        srv->accepting++;
        /* The first done callback lives in the future itself: this cannot
         * fail for want of memory. */
        weft_future_add_done_callback(srv->acceptors[i], acceptor_done, a);
    }
    if (rc) {
        /* The accept tasks started so far end at their first step; the
         * last one frees the server. */
        weft_server_close(srv);
        if (srv->accepting)
            srv->orphan = true;
        else
            free_memory(srv);
        return rc;
    }
    *out = srv;
    return 0;
}

int weft_server_start(weft_server **out, weft_connection_fn fn, void *arg, const char *host,
                      int port, const weft_server_start_opts *opts)
{
    if (out)
        *out = NULL;
    if (!out || !fn)
        return WEFT_EINVAL;
    if (!weft_get_running_loop())
        return WEFT_ESTATE;
    weft_socket *s = NULL;
    int rc = weft_create_server(&s, host, port, opts ? &opts->listen : NULL);
    if (rc)
        return rc;
    return weft_server_start_sockets(out, fn, arg, &s, 1, opts);
}

int weft_server_sockets(const weft_server *srv, weft_socket **out, size_t cap, size_t *n)
{
    if (!srv || !n || (cap && !out))
        return WEFT_EINVAL;
    size_t k = srv->closed ? 0 : srv->nsocks;
    for (size_t i = 0; i < k && i < cap; i++)
        out[i] = srv->socks[i];
    *n = k;
    return 0;
}

size_t weft_server_connections_len(const weft_server *srv)
{
    return srv ? srv->nconns : 0;
}

int weft_server_close(weft_server *srv)
{
    if (!srv)
        return WEFT_EINVAL;
    if (!on_server_thread(srv) && weft_loop_is_running(srv->loop))
        return WEFT_ESTATE;
    if (srv->closed)
        return 0;
    srv->closed = true;
    /* The accept tasks wake with -EBADF (or their cancellation) and end. */
    for (size_t i = 0; i < srv->nsocks; i++) {
        if (srv->acceptors[i])
            weft_future_cancel(srv->acceptors[i]);
        weft_socket_free(srv->socks[i]);
        srv->socks[i] = NULL;
    }
    weft_event_set(&srv->closed_ev);
    check_idle(srv);
    return 0;
}

int weft_server_close_clients(weft_server *srv)
{
    if (!srv)
        return WEFT_EINVAL;
    if (!on_server_thread(srv) && weft_loop_is_running(srv->loop))
        return WEFT_ESTATE;
    for (conn *c = srv->conns; c; c = c->next)
        weft_future_cancel(c->task);
    return 0;
}

int weft_server_serve_forever(weft_server *srv)
{
    if (!srv)
        return WEFT_EINVAL;
    if (!on_server_thread(srv))
        return WEFT_ESTATE;
    int rc = weft_event_wait(&srv->closed_ev, WEFT_FOREVER);
    if (rc == WEFT_ECANCELLED) {
        weft_server_close(srv);
        return rc;
    }
    return rc;
}

int weft_server_wait_closed(weft_server *srv, double timeout)
{
    if (!srv)
        return WEFT_EINVAL;
    if (!on_server_thread(srv) && weft_loop_is_running(srv->loop))
        return WEFT_ESTATE;
    if (weft_event_is_set(&srv->idle_ev))
        return 0;
    if (!on_server_thread(srv))
        return WEFT_ESTATE; /* nothing would run the tasks it waits for */
    return weft_event_wait(&srv->idle_ev, timeout);
}

void weft_server_free(weft_server *srv)
{
    if (!srv)
        return;
    if (!weft_event_is_set(&srv->idle_ev)) {
        /* Close, cancel the handlers and await them: only possible on the
         * server's loop. */
        int rc = weft_server_close(srv);
        if (!rc)
            rc = weft_server_close_clients(srv);
        if (!rc) {
            weft__cancel_mask();
            rc = weft_server_wait_closed(srv, WEFT_FOREVER);
            weft__cancel_unmask();
        }
        if (rc) {
            weft_report_error("weft_server_free", rc,
                              "not on the server's loop while it runs; not freed");
            return;
        }
    }
    free_memory(srv);
}
