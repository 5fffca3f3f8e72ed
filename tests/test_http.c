/*
 * weft/http.h against a local HTTP/1.1 server that runs in a thread of the
 * test (a weft server on its own loop), on 127.0.0.1.
 *
 * Routes: /hello, /echo (POST: the body back), /404, /redirect/N (to
 * /redirect/N-1; /redirect/0 is a 200), /n/I (body "I", after a short
 * pause so that requests overlap), /big (1 MiB), /hang (never answers).
 */
#include <stdio.h>
#include <string.h>

#include "fuzz.h"
#include "wt.h"

#if WEFT_HAVE_HTTP

/* ------------------------------------------------------ the server */

static struct {
    int port;
    weft_event ready, stop;
    int active, max_active;          /* connections open now, at most (atomic) */
    weft_event hang_seen, hang_closed;
    int hung;                        /* /hang requests seen (atomic) */
} srv;

static int respond(weft_stream *st, int status, const char *extra, const void *body, size_t len)
{
    char head[256];
    int n = snprintf(head, sizeof head,
                     "HTTP/1.1 %d X\r\nContent-Length: %zu\r\nX-Weft-Test: yes\r\n%s\r\n", status,
                     len, extra ? extra : "");
    int rc = weft_stream_write(st, head, (size_t)n);
    if (!rc && len)
        rc = weft_stream_write(st, body, len);
    return rc ? rc : weft_stream_drain(st, 10);
}

static int handle(weft_stream *st, void *arg)
{
    int now = __atomic_add_fetch(&srv.active, 1, __ATOMIC_RELAXED);
    int max = __atomic_load_n(&srv.max_active, __ATOMIC_RELAXED);
    while (now > max && !__atomic_compare_exchange_n(&srv.max_active, &max, now, false,
                                                     __ATOMIC_RELAXED, __ATOMIC_RELAXED))
        ;
    char head[4096];
    size_t n;
    int rc = 0;
    while ((rc = weft_stream_readuntil(st, "\r\n\r\n", 4, head, sizeof head - 1, &n, 30)) == 0) {
        head[n] = 0;
        char method[16], path[256];
        if (sscanf(head, "%15s %255s", method, path) != 2)
            break;
        size_t clen = 0;
        const char *cl = strcasestr(head, "\r\nContent-Length:");
        if (cl)
            clen = strtoul(cl + 17, NULL, 10);
        char body[65536];
        if (clen > sizeof body)
            break;
        if (clen && (rc = weft_stream_readexactly(st, body, clen, &n, 10)) != 0)
            break;
        int k;
        if (!strcmp(path, "/hello")) {
            rc = respond(st, 200, "Content-Type: text/plain\r\n", "Hello, world!", 13);
        } else if (!strcmp(path, "/echo")) {
            rc = respond(st, 200, NULL, body, clen);
        } else if (sscanf(path, "/redirect/%d", &k) == 1) {
            char loc[64];
            snprintf(loc, sizeof loc, "Location: /redirect/%d\r\n", k - 1);
            rc = k > 0 ? respond(st, 302, loc, NULL, 0) : respond(st, 200, NULL, "end", 3);
        } else if (sscanf(path, "/n/%d", &k) == 1) {
            weft_sleep(0.002);
            char b[16];
            int len = snprintf(b, sizeof b, "%d", k);
            rc = respond(st, 200, NULL, b, (size_t)len);
        } else if (!strcmp(path, "/big")) {
            static char big[1 << 20];
            rc = respond(st, 200, NULL, big, sizeof big);
        } else if (!strcmp(path, "/hang")) {
            __atomic_add_fetch(&srv.hung, 1, __ATOMIC_RELAXED);
            weft_event_set(&srv.hang_seen);
            /* Never answer: wait for the client to go away. */
            char c;
            while (weft_stream_read(st, &c, 1, &n, 30) == 0 && n)
                ;
            weft_event_set(&srv.hang_closed);
            rc = 0;
            break;
        } else {
            rc = respond(st, 404, NULL, "no", 2);
        }
        if (rc)
            break;
    }
    __atomic_sub_fetch(&srv.active, 1, __ATOMIC_RELAXED);
    return 0;
}

static int server_main(void *arg, void **result)
{
    weft_server *s;
    /* Handlers keep a 64 KiB body buffer on their stacks. */
    weft_server_start_opts o = {.stack_size = 256 * 1024};
    int rc = weft_server_start(&s, handle, NULL, "127.0.0.1", 0, &o);
    if (rc)
        return rc;
    weft_socket *ls;
    size_t n;
    weft_server_sockets(s, &ls, 1, &n);
    weft_sockaddr a;
    weft_socket_getsockname(ls, &a);
    srv.port = weft_sockaddr_port(&a);
    weft_event_set(&srv.ready);
    rc = weft_event_wait(&srv.stop, 60);
    weft_server_free(s);
    return rc;
}

static void *server_thread(void *arg)
{
    return (void *)(intptr_t)weft_run(server_main, NULL, NULL);
}

static weft_thread *server_start(void)
{
    memset(&srv, 0, sizeof srv);
    weft_event_init(&srv.ready);
    weft_event_init(&srv.stop);
    weft_event_init(&srv.hang_seen);
    weft_event_init(&srv.hang_closed);
    weft_thread *t;
    WT_OK(weft_thread_new(&t, server_thread, NULL, NULL));
    WT_OK(weft_thread_start(t));
    WT_OK(weft_event_wait(&srv.ready, 10));
    return t;
}

static void server_stop(weft_thread *t)
{
    WT_OK(weft_event_set(&srv.stop));
    WT_OK(weft_thread_join(t, WEFT_FOREVER));
    void *res;
    WT_OK(weft_thread_result(t, &res));
    WT_OK((int)(intptr_t)res);
    weft_thread_unref(t);
}

static void url(char *buf, size_t len, const char *path)
{
    snprintf(buf, len, "http://127.0.0.1:%d%s", srv.port, path);
}

/* ------------------------------------------------------------ tests */

static int basics(void *arg, void **result)
{
    weft_http_client *c;
    WT_OK(weft_http_client_new(&c, NULL));
    char u[128];
    weft_http_response *r;
    url(u, sizeof u, "/hello");
    WT_OK(weft_http_fetch(c, u, NULL, &r, WEFT_FOREVER));
    ck_assert_int_eq(r->status, 200);
    ck_assert_str_eq(r->body, "Hello, world!");
    ck_assert_uint_eq(r->body_len, 13);
    ck_assert_str_eq(weft_http_response_header(r, "content-type"), "text/plain");
    ck_assert_str_eq(weft_http_response_header(r, "X-WEFT-TEST"), "yes");
    ck_assert_ptr_null(weft_http_response_header(r, "X-None"));
    ck_assert_str_eq(r->url, u);
    weft_http_response_free(r);

    /* POST echo, with a header of ours. */
    url(u, sizeof u, "/echo");
    const char *hdrs[] = {"X-Mine: 1", NULL};
    weft_http_request post = {.method = "POST", .body = "payload", .body_len = 7, .headers = hdrs};
    WT_OK(weft_http_fetch(c, u, &post, &r, WEFT_FOREVER));
    ck_assert_int_eq(r->status, 200);
    ck_assert_str_eq(r->body, "payload");
    weft_http_response_free(r);

    /* A 404 is a response. */
    url(u, sizeof u, "/404");
    WT_OK(weft_http_fetch(c, u, NULL, &r, WEFT_FOREVER));
    ck_assert_int_eq(r->status, 404);
    weft_http_response_free(r);

    /* Redirects: followed, limited, or not followed. */
    url(u, sizeof u, "/redirect/3");
    WT_OK(weft_http_fetch(c, u, NULL, &r, WEFT_FOREVER));
    ck_assert_int_eq(r->status, 200);
    ck_assert_str_eq(r->body, "end");
    ck_assert_ptr_nonnull(strstr(r->url, "/redirect/0"));
    weft_http_response_free(r);
    WT_OK(weft_http_fetch(c, u, &(weft_http_request){.follow_redirects = -1}, &r, WEFT_FOREVER));
    ck_assert_int_eq(r->status, 302);
    ck_assert_str_eq(weft_http_response_header(r, "Location"), "/redirect/2");
    weft_http_response_free(r);
    weft_http_client *c2;
    WT_OK(weft_http_client_new(&c2, &(weft_http_client_opts){.max_redirects = 2}));
    WT_ERR(weft_http_fetch(c2, u, NULL, &r, WEFT_FOREVER), WEFT_ELOOP);
    ck_assert_ptr_null(r);
    ck_assert_ptr_nonnull(weft_last_message());
    ck_assert_str_ne(weft_last_message(), "");
    weft_http_client_free(c2);

    /* A body over the maximum. */
    url(u, sizeof u, "/big");
    WT_ERR(weft_http_fetch(c, u, &(weft_http_request){.max_body = 1000}, &r, WEFT_FOREVER), WEFT_EMSGSIZE);
    WT_OK(weft_http_fetch(c, u, NULL, &r, WEFT_FOREVER));
    ck_assert_uint_eq(r->body_len, 1u << 20);
    weft_http_response_free(r);
    weft_http_client_free(c);
    return 0;
}

START_TEST(get_post_redirects)
{
    weft_thread *t = server_start();
    WT_OK(weft_run(basics, NULL, NULL));
    server_stop(t);
}
END_TEST

typedef struct many_arg {
    weft_http_client *c;
    int i;
    int ok;
} many_arg;

static int fetch_one(void *arg, void **result)
{
    many_arg *m = arg;
    char u[128], path[32];
    snprintf(path, sizeof path, "/n/%d", m->i);
    url(u, sizeof u, path);
    weft_http_response *r;
    int rc = weft_http_fetch(m->c, u, NULL, &r, WEFT_FOREVER);
    if (rc)
        return rc;
    m->ok = r->status == 200 && atoi(r->body) == m->i;
    weft_http_response_free(r);
    return 0;
}

static int many(void *arg, void **result)
{
    enum { N = 200 };
    weft_http_client *c;
    WT_OK(weft_http_client_new(&c, &(weft_http_client_opts){.max_connections = 20}));
    static many_arg m[N];
    weft_future *f[N], *g;
    for (int i = 0; i < N; i++) {
        m[i] = (many_arg){c, i, 0};
        WT_OK(weft_create_task(NULL, fetch_one, &m[i], NULL, &f[i]));
    }
    WT_OK(weft_gather(f, N, false, &g));
    WT_OK(weft_await(g, NULL, WEFT_FOREVER));
    weft_future_unref(g);
    for (int i = 0; i < N; i++) {
        ck_assert_int_eq(m[i].ok, 1);
        weft_future_unref(f[i]);
    }
    weft_http_client_free(c);
    return 0;
}

START_TEST(many_urls_with_a_limit)
{
    weft_thread *t = server_start();
    WT_OK(weft_run(many, NULL, NULL));
    int max = __atomic_load_n(&srv.max_active, __ATOMIC_RELAXED);
    ck_assert_int_le(max, 20);
    ck_assert_int_ge(max, 2); /* they did run concurrently */
    server_stop(t);
}
END_TEST

static int timeouts_and_refusals(void *arg, void **result)
{
    weft_http_client *c;
    WT_OK(weft_http_client_new(&c, NULL));
    char u[128];
    weft_http_response *r;
    url(u, sizeof u, "/hang");
    double t0 = weft_monotonic();
    WT_ERR(weft_http_fetch(c, u, NULL, &r, 0.2), WEFT_ETIMEDOUT);
    ck_assert_double_lt(weft_monotonic() - t0, 5);
    /* Nobody listening. */
    weft_socket *b;
    weft_sockaddr a;
    WT_OK(weft_socket_new(&b, AF_INET, SOCK_STREAM));
    WT_OK(weft_sockaddr_ip(&a, "127.0.0.1", 0));
    WT_OK(weft_socket_bind(b, &a));
    WT_OK(weft_socket_getsockname(b, &a));
    snprintf(u, sizeof u, "http://127.0.0.1:%d/", weft_sockaddr_port(&a));
    WT_ERR(weft_http_fetch(c, u, NULL, &r, WEFT_FOREVER), -ECONNREFUSED);
    WT_OK(weft_socket_close(b));
    weft_socket_free(b);
    /* Bad URLs and schemes. */
    WT_ERR(weft_http_fetch(c, "ftp://127.0.0.1/", NULL, &r, WEFT_FOREVER), WEFT_EINVAL);
    WT_ERR(weft_http_fetch(c, "http://[::1", NULL, &r, WEFT_FOREVER), WEFT_EINVAL);
    weft_http_client_free(c);
    return 0;
}

START_TEST(timeout_and_refused)
{
    weft_thread *t = server_start();
    WT_OK(weft_run(timeouts_and_refusals, NULL, NULL));
    server_stop(t);
}
END_TEST

static int hang_fetch(void *arg, void **result)
{
    char u[128];
    url(u, sizeof u, "/hang");
    weft_http_response *r;
    return weft_http_fetch(arg, u, NULL, &r, WEFT_FOREVER);
}

static int cancel_fetch(void *arg, void **result)
{
    weft_http_client *c;
    WT_OK(weft_http_client_new(&c, NULL));
    weft_future *t;
    WT_OK(weft_create_task(NULL, hang_fetch, c, NULL, &t));
    /* The server has the request: the transfer is in flight. */
    WT_OK(weft_event_wait(&srv.hang_seen, 10));
    ck_assert(weft_future_cancel(t));
    WT_ERR(weft_await(t, NULL, WEFT_FOREVER), WEFT_ECANCELLED);
    weft_future_unref(t);
    /* The transfer is gone: its connection closes. */
    WT_OK(weft_event_wait(&srv.hang_closed, 10));
    weft_http_client_free(NULL);
    /* The client still works. */
    char u[128];
    url(u, sizeof u, "/hello");
    weft_http_response *r;
    WT_OK(weft_http_fetch(c, u, NULL, &r, WEFT_FOREVER));
    ck_assert_int_eq(r->status, 200);
    weft_http_response_free(r);
    weft_http_client_free(c);
    return 0;
}

/* With one connection allowed and it taken, a fetch waits for the slot:
 * its timeout and its cancellation end that wait. */
static int slot_wait(void *arg, void **result)
{
    weft_http_client *c;
    WT_OK(weft_http_client_new(&c, &(weft_http_client_opts){.max_connections = 1}));
    weft_future *hog;
    WT_OK(weft_create_task(NULL, hang_fetch, c, NULL, &hog));
    WT_OK(weft_event_wait(&srv.hang_seen, 10));
    char u[128];
    url(u, sizeof u, "/hello");
    weft_http_response *r;
    double t0 = weft_monotonic();
    WT_ERR(weft_http_fetch(c, u, NULL, &r, 0.05), WEFT_ETIMEDOUT);
    double waited = weft_monotonic() - t0;
    ck_assert_msg(waited >= 0.045 && waited < 5, "waited %.3f s for the slot", waited);
    ck_assert(weft_future_cancel(hog));
    WT_ERR(weft_await(hog, NULL, WEFT_FOREVER), WEFT_ECANCELLED);
    weft_future_unref(hog);
    /* The slot is free again. */
    WT_OK(weft_http_fetch(c, u, NULL, &r, WEFT_FOREVER));
    ck_assert_int_eq(r->status, 200);
    weft_http_response_free(r);
    weft_http_client_free(c);
    return 0;
}

START_TEST(waiting_for_a_connection_slot)
{
    weft_thread *t = server_start();
    WT_OK(weft_run(slot_wait, NULL, NULL));
    server_stop(t);
}
END_TEST

START_TEST(cancel_pending_fetch)
{
    weft_thread *t = server_start();
    WT_OK(weft_run(cancel_fetch, NULL, NULL));
    server_stop(t);
}
END_TEST

START_TEST(from_a_thread)
{
    weft_thread *t = server_start();
    weft_http_client *c;
    WT_OK(weft_http_client_new(&c, NULL));
    char u[128];
    url(u, sizeof u, "/redirect/1");
    weft_http_response *r;
    WT_OK(weft_http_fetch(c, u, NULL, &r, WEFT_FOREVER));
    ck_assert_int_eq(r->status, 200);
    weft_http_response_free(r);
    url(u, sizeof u, "/hang");
    WT_ERR(weft_http_fetch(c, u, NULL, &r, 0.1), WEFT_ETIMEDOUT);
    weft_http_client_free(c);
    server_stop(t);
}
END_TEST

/* ------------------------------------------------- hostile servers */

/* Fetch from a server that answers `reply` (len bytes) and closes: the
 * code (a failure's text is in weft_last_message). */
static int fetch_reply(weft_http_client *c, const void *reply, size_t len)
{
    fz_peer *p;
    int port;
    WT_OK(fz_peer_start(&p, reply, len, &port));
    char u[64];
    snprintf(u, sizeof u, "http://127.0.0.1:%d/", port);
    weft_http_response *r = NULL;
    int rc = weft_http_fetch(c, u, NULL, &r, WEFT_FOREVER);
    fz_peer_stop(p);
    if (rc == 0)
        weft_http_response_free(r);
    else
        ck_assert_ptr_null(r);
    return rc;
}

#define WT_REPLY_ERR(c, text, code)                                                     \
    do {                                                                                \
        WT_ERR(fetch_reply(c, text, sizeof text - 1), code);                            \
        ck_assert_ptr_nonnull(weft_last_message());                                     \
        ck_assert_str_ne(weft_last_message(), "");                                      \
    } while (0)

/* A server that breaks HTTP gets a code that says so (WEFT_EPROTO), not
 * one that blames the caller (WEFT_EINVAL was returned for an answer that
 * is not HTTP, -EIO for the rest); a header line over libcurl's limit is
 * WEFT_EMSGSIZE, not WEFT_ENOMEM. */
static void hostile_answers(weft_http_client *c)
{
    WT_REPLY_ERR(c, "garbage\r\n\r\n", WEFT_EPROTO);
    WT_REPLY_ERR(c, "HTTP/1.1 abc\r\n\r\n", WEFT_EPROTO);
    WT_REPLY_ERR(c, "", WEFT_EPROTO); /* closed without an answer */
    WT_REPLY_ERR(c, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort", WEFT_EPROTO);
    WT_REPLY_ERR(c, "HTTP/1.1 200 OK\r\nContent-Length: -5\r\n\r\n", WEFT_EPROTO);
    WT_REPLY_ERR(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nxx\r\n",
                 WEFT_EPROTO);
    static const char head[] = "HTTP/1.1 200 OK\r\nX-Big: ";
    static const char tail[] = "\r\nContent-Length: 0\r\n\r\n";
    size_t big = (size_t)4 << 20, len = sizeof head - 1 + big + sizeof tail - 1;
    char *reply = malloc(len);
    ck_assert_ptr_nonnull(reply);
    memcpy(reply, head, sizeof head - 1);
    memset(reply + sizeof head - 1, 'a', big);
    memcpy(reply + sizeof head - 1 + big, tail, sizeof tail - 1);
    WT_ERR(fetch_reply(c, reply, len), WEFT_EMSGSIZE);
    free(reply);
    /* A well-formed answer from the same kind of server is a response. */
    static const char ok[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi";
    WT_OK(fetch_reply(c, ok, sizeof ok - 1));
    ck_assert_ptr_null(weft_last_message()); /* a success clears it */
}

static int hostile_in_loop(void *arg, void **result)
{
    weft_http_client *c;
    WT_OK(weft_http_client_new(&c, NULL));
    hostile_answers(c);
    weft_http_client_free(c);
    return 0;
}

START_TEST(hostile_servers)
{
    weft_http_client *c;
    WT_OK(weft_http_client_new(&c, NULL));
    hostile_answers(c); /* from a thread */
    weft_http_client_free(c);
    WT_OK(weft_run(hostile_in_loop, NULL, NULL));
}
END_TEST

START_TEST(bad_input)
{
    weft_http_client *c = NULL;
    weft_http_response *r;
    WT_ERR(weft_http_client_new(NULL, NULL), WEFT_EINVAL);
    WT_ERR(weft_http_client_new(&c, &(weft_http_client_opts){.timeout = -1}), WEFT_EINVAL);
    WT_ERR(weft_http_client_new(&c, &(weft_http_client_opts){.max_connections = -1}), WEFT_EINVAL);
    ck_assert_ptr_null(c);
    WT_OK(weft_http_client_new(&c, NULL));
    WT_ERR(weft_http_fetch(NULL, "http://x/", NULL, &r, WEFT_FOREVER), WEFT_EINVAL);
    WT_ERR(weft_http_fetch(c, NULL, NULL, &r, WEFT_FOREVER), WEFT_EINVAL);
    WT_ERR(weft_http_fetch(c, "http://x/", NULL, NULL, WEFT_FOREVER), WEFT_EINVAL);
    WT_ERR(weft_http_fetch(c, "http://x/", NULL, &r, 0.0 / 0.0),
           WEFT_EINVAL);
    WT_ERR(weft_http_fetch(c, "http://x/", &(weft_http_request){.body_len = 3}, &r, WEFT_FOREVER), WEFT_EINVAL);
    WT_ERR(weft_http_fetch(c, "http://x/", &(weft_http_request){.follow_redirects = 5}, &r, WEFT_FOREVER),
           WEFT_EINVAL);
    weft_http_client_free(c);
    weft_http_client_free(NULL);
    ck_assert_ptr_null(weft_http_response_header(NULL, "x"));
    weft_http_response_free(NULL);
}
END_TEST

WT_MAIN("http", 60, get_post_redirects, many_urls_with_a_limit, timeout_and_refused,
        waiting_for_a_connection_slot, cancel_pending_fetch, from_a_thread, hostile_servers,
        bad_input)

#else /* built without libcurl: the functions say so */

START_TEST(feature_off)
{
    weft_http_client *c = (weft_http_client *)1;
    WT_ERR(weft_http_client_new(&c, NULL), WEFT_ENOTSUP);
    ck_assert_ptr_null(c);
    weft_http_response *r;
    WT_ERR(weft_http_fetch(NULL, "http://x/", NULL, &r, WEFT_FOREVER), WEFT_ENOTSUP);
}
END_TEST

WT_MAIN("http", 10, feature_off)

#endif
