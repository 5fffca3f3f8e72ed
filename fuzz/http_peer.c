/*
 * The HTTP client against a hostile server (fz_http, fuzz/fuzz.h), and the
 * one-shot raw server it uses (fz_peer), which tests use too.
 *
 * The input's first byte picks how the fetch is made (from a plain thread,
 * or from a coroutine through the client's loop) and a max_body; the rest
 * is the server's whole answer, sent after the request's head arrives,
 * before the server closes. Whatever the bytes, the fetch ends (the server
 * closes, so nothing can make the client wait) with a response that holds
 * together or with a code that says the peer broke the protocol
 * (WEFT_EPROTO), that its answer was too large (WEFT_EMSGSIZE) or that the
 * connection failed (a negated errno). Redirects are not followed: a
 * Location could name any host.
 */
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fuzz.h"
#include "weft.h"

struct fz_peer {
    int lfd;
    pthread_t th;
    const void *reply;
    size_t len;
};

/* One listening socket for the process, made on first use: a listener per
 * run would leave each run's port in TIME_WAIT (the server closes first)
 * and a fuzzer's thousands of runs a second exhaust the ephemeral ports. */
static int g_listener = -1;
static int g_port;
static pthread_once_t g_listener_once = PTHREAD_ONCE_INIT;

static void listener_init(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof a;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
    if (fd < 0)
        return;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(fd, 8) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &alen) != 0) {
        close(fd);
        return;
    }
    g_port = ntohs(a.sin_port);
    g_listener = fd;
}

/* Wait up to `ms` for fd to be readable: 1, 0 on time-out, -1 on error. */
static int readable(int fd, int ms)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    int r;
    while ((r = poll(&p, 1, ms)) < 0 && errno == EINTR)
        ;
    return r;
}

static void *serve(void *arg)
{
    fz_peer *p = arg;
    if (readable(p->lfd, 10000) <= 0)
        return NULL;
    int c = accept4(p->lfd, NULL, NULL, SOCK_CLOEXEC);
    if (c < 0)
        return NULL;
    /* The request's head (a GET has no body), so that closing leaves
     * nothing unread, which would reset the connection. */
    char head[8192];
    size_t got = 0;
    while (got < sizeof head - 1 && readable(c, 5000) > 0) {
        ssize_t n = recv(c, head + got, sizeof head - 1 - got, 0);
        if (n <= 0)
            break;
        got += (size_t)n;
        head[got] = 0;
        if (strstr(head, "\r\n\r\n"))
            break;
    }
    const char *b = p->reply;
    for (size_t left = p->len; left;) {
        ssize_t n = send(c, b, left, MSG_NOSIGNAL);
        if (n <= 0)
            break;
        b += n;
        left -= (size_t)n;
    }
    close(c);
    return NULL;
}

int fz_peer_start(fz_peer **out, const void *reply, size_t len, int *port)
{
    pthread_once(&g_listener_once, listener_init);
    if (g_listener < 0)
        return -EADDRNOTAVAIL;
    fz_peer *p = calloc(1, sizeof *p);
    if (!p)
        return WEFT_ENOMEM;
    p->lfd = g_listener;
    p->reply = reply;
    p->len = len;
    int err = pthread_create(&p->th, NULL, serve, p);
    if (err) {
        free(p);
        return -err;
    }
    *port = g_port;
    *out = p;
    return 0;
}

void fz_peer_stop(fz_peer *p)
{
    pthread_join(p->th, NULL);
    free(p);
}

/* ------------------------------------------------------------ the driver */
#if WEFT_HAVE_HTTP

typedef struct fetch_ctx {
    weft_http_client *client;
    const char *url;
    weft_http_request req;
    weft_http_response *resp;
    int rc;
} fetch_ctx;

static int fetch_in_loop(void *arg, void **result)
{
    fetch_ctx *x = arg;
    int rc = weft_http_client_new(&x->client, NULL);
    if (rc)
        return rc;
    x->rc = weft_http_fetch(x->client, x->url, &x->req, &x->resp, 20);
    weft_http_client_free(x->client);
    return 0;
}

/* What a response must hold, whatever the server sent. */
static int check_response(const weft_http_response *r, size_t sent, size_t max_body)
{
    if (r->status < 0 || !r->url || !r->body || r->body_len > sent || r->body_len > max_body ||
        r->body[r->body_len] != '\0' || (r->nheaders && !r->headers)) {
        fprintf(stderr, "fz_http: an inconsistent response (status %ld, body %zu bytes of "
                "%zu sent)\n", r->status, r->body_len, sent);
        return -1;
    }
    for (size_t i = 0; i < r->nheaders; i++) {
        if (!r->headers[i].name || !r->headers[i].value) {
            fprintf(stderr, "fz_http: header %zu has no name or value\n", i);
            return -1;
        }
    }
    return 0;
}

static bool acceptable_failure(int rc)
{
    return rc == WEFT_EPROTO || rc == WEFT_EMSGSIZE || rc == -ECONNRESET || rc == -EPIPE;
}

int fz_http(const uint8_t *data, size_t size)
{
    unsigned mode = size ? data[0] : 0;
    const uint8_t *reply = size ? data + 1 : data;
    size_t len = size ? size - 1 : 0;
    fz_peer *p;
    int port, rc = fz_peer_start(&p, reply, len, &port);
    if (rc) {
        fprintf(stderr, "fz_http: the server: %s\n", weft_strerror(rc));
        return -1;
    }
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/", port);
    fetch_ctx x = {.url = url,
                   .req = {.follow_redirects = -1, .max_body = (mode & 2) ? 16 : 0}};
    if (mode & 1) {
        rc = weft_run(fetch_in_loop, &x, NULL);
    } else if ((rc = weft_http_client_new(&x.client, NULL)) == 0) {
        x.rc = weft_http_fetch(x.client, url, &x.req, &x.resp, 20);
        weft_http_client_free(x.client);
    }
    fz_peer_stop(p);
    int out = 0;
    if (rc) {
        fprintf(stderr, "fz_http: the client: %s\n", weft_err_name(rc));
        out = -1;
    } else if (x.rc == 0) {
        out = check_response(x.resp, len, (mode & 2) ? 16 : SIZE_MAX);
    } else if (!acceptable_failure(x.rc)) {
        fprintf(stderr, "fz_http: the fetch failed with %d (%s): %s\n", x.rc,
                weft_err_name(x.rc), weft_last_message() ? weft_last_message() : "");
        out = -1;
    }
    weft_http_response_free(x.resp);
    return out;
}
#endif
