/*
 * Sockets (weft/net.h) against real sockets on 127.0.0.1, ::1 and Unix
 * paths: in coroutines (one loop), in plain threads, and between the two.
 */
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal/net.h"
#include "wt.h"

/* A listening socket on `host` port 0, and its address. */
static weft_socket *listener(const char *host, weft_sockaddr *addr)
{
    weft_socket *l = NULL;
    WT_OK(weft_create_server(&l, host, 0, NULL));
    WT_OK(weft_socket_getsockname(l, addr));
    return l;
}

/* ------------------------------------------------------------ addresses */

START_TEST(addresses)
{
    weft_sockaddr a;
    char buf[128];
    WT_OK(weft_sockaddr_ip(&a, "127.0.0.1", 8080));
    WT_OK(weft_sockaddr_format(&a, buf, sizeof buf));
    ck_assert_str_eq(buf, "127.0.0.1:8080");
    ck_assert_int_eq(weft_sockaddr_port(&a), 8080);
    WT_OK(weft_sockaddr_ip(&a, "::1", 443));
    WT_OK(weft_sockaddr_format(&a, buf, sizeof buf));
    ck_assert_str_eq(buf, "[::1]:443");
    WT_OK(weft_sockaddr_ip(&a, NULL, 0));
    WT_OK(weft_sockaddr_format(&a, buf, sizeof buf));
    ck_assert_str_eq(buf, "0.0.0.0:0");
    WT_ERR(weft_sockaddr_format(&a, buf, 4), WEFT_EMSGSIZE);
    ck_assert_str_eq(buf, "0.0");
    WT_OK(weft_sockaddr_unix(&a, "/tmp/x.sock"));
    WT_OK(weft_sockaddr_format(&a, buf, sizeof buf));
    ck_assert_str_eq(buf, "/tmp/x.sock");
    ck_assert_int_eq(weft_sockaddr_port(&a), 0); /* a Unix address has none */

    char longpath[200];
    memset(longpath, 'a', sizeof longpath - 1);
    longpath[sizeof longpath - 1] = 0;
    WT_ERR(weft_sockaddr_unix(&a, longpath), WEFT_EMSGSIZE);
    WT_ERR(weft_sockaddr_unix(&a, ""), WEFT_EINVAL);
    WT_ERR(weft_sockaddr_unix(NULL, "/x"), WEFT_EINVAL);
    WT_ERR(weft_sockaddr_ip(&a, "localhost", 1), WEFT_EINVAL); /* names are not resolved */
    WT_ERR(weft_sockaddr_ip(&a, "1.2.3.4", 65536), WEFT_EINVAL);
    WT_ERR(weft_sockaddr_ip(&a, "1.2.3.4", -1), WEFT_EINVAL);
    WT_ERR(weft_sockaddr_ip(NULL, "1.2.3.4", 1), WEFT_EINVAL);
    WT_ERR(weft_sockaddr_format(NULL, buf, sizeof buf), WEFT_EINVAL);
    a.len = 0;
    WT_ERR(weft_sockaddr_format(&a, buf, sizeof buf), WEFT_EINVAL);
}
END_TEST

START_TEST(bad_input)
{
    weft_socket *s = NULL;
    char b[4];
    size_t n;
    weft_sockaddr a;
    WT_ERR(weft_socket_new(NULL, AF_INET, SOCK_STREAM), WEFT_EINVAL);
    WT_ERR(weft_socket_new(&s, AF_PACKET, SOCK_STREAM), WEFT_EINVAL);
    WT_ERR(weft_socket_new(&s, AF_INET, SOCK_RAW), WEFT_EINVAL);
    ck_assert_ptr_null(s);
    WT_ERR(weft_socket_from_fd(&s, -1), WEFT_EINVAL);
    WT_ERR(weft_socket_from_fd(&s, 1000000), -EBADF);
    WT_ERR(weft_socket_close(NULL), WEFT_EINVAL);
    weft_socket_free(NULL);

    WT_OK(weft_socket_new(&s, AF_INET, SOCK_STREAM));
    ck_assert_int_eq(weft_socket_family(s), AF_INET);
    ck_assert_int_eq(weft_socket_type(s), SOCK_STREAM);
    ck_assert_int_ge(weft_socket_fd(s), 0);
    ck_assert_int_eq(fcntl(weft_socket_fd(s), F_GETFL) & O_NONBLOCK, O_NONBLOCK);
    ck_assert_int_eq(fcntl(weft_socket_fd(s), F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
    WT_ERR(weft_socket_recv(s, b, 0, &n, 0), WEFT_EINVAL);
    WT_ERR(weft_socket_recv(s, NULL, 4, &n, 0), WEFT_EINVAL);
    WT_ERR(weft_socket_recv(s, b, 4, NULL, 0), WEFT_EINVAL);
    WT_ERR(weft_socket_recv(s, b, 4, &n, -2), WEFT_EINVAL);
    WT_ERR(weft_socket_recv(s, b, 4, &n, 0.0 / 0.0), WEFT_EINVAL);
    WT_ERR(weft_socket_recv(NULL, b, 4, &n, 0), WEFT_EINVAL);
    WT_ERR(weft_socket_send(s, b, 0, &n, 0), WEFT_EINVAL);
    WT_ERR(weft_socket_sendall(s, NULL, 4, NULL, 0), WEFT_EINVAL);
    WT_ERR(weft_socket_listen(s, -1), WEFT_EINVAL);
    WT_ERR(weft_socket_shutdown(s, 7), WEFT_EINVAL);
    WT_ERR(weft_socket_bind(s, NULL), WEFT_EINVAL);
    WT_ERR(weft_socket_connect(s, NULL, 1), WEFT_EINVAL);
    WT_ERR(weft_socket_accept(s, NULL, NULL, 1), WEFT_EINVAL);
    WT_ERR(weft_socket_setsockopt(s, SOL_SOCKET, SO_REUSEADDR, NULL, 4), WEFT_EINVAL);
    WT_ERR(weft_socket_getpeername(s, &a), -ENOTCONN);
    /* Not connected: recv says so instead of waiting. */
    ck_assert_int_lt(weft_socket_recv(s, b, 4, &n, 0), 0);
    WT_OK(weft_socket_close(s));
    weft_socket_free(s);

    weft_addrinfo *ai = NULL;
    WT_ERR(weft_getaddrinfo("localhost", 80, AF_UNIX, 0, 0, &ai, 1), WEFT_EINVAL);
    WT_ERR(weft_getaddrinfo("localhost", 80, 0, SOCK_RAW, 0, &ai, 1), WEFT_EINVAL);
    WT_ERR(weft_getaddrinfo("localhost", 70000, 0, 0, 0, &ai, 1), WEFT_EINVAL);
    WT_ERR(weft_getaddrinfo(NULL, 80, 0, 0, 0, &ai, 1), WEFT_EINVAL);
    WT_ERR(weft_getaddrinfo("localhost", 80, 0, 0, 0, NULL, 1), WEFT_EINVAL);
    WT_ERR(weft_getaddrinfo("localhost", 80, 0, 0, 0, &ai, -3), WEFT_EINVAL);
    WT_ERR(weft_getaddrinfo("some.name", 80, 0, 0, AI_NUMERICHOST, &ai, 1), WEFT_ENOENT);
    ck_assert_ptr_null(ai);
    weft_addrinfo_free(NULL);
    WT_ERR(weft_create_connection(&s, NULL, 80, 1), WEFT_EINVAL);
    WT_ERR(weft_create_server(&s, NULL, 80, &(weft_server_opts){.family = 99}), WEFT_EINVAL);
    WT_ERR(weft_create_server(&s, NULL, -1, NULL), WEFT_EINVAL);
}
END_TEST

/* ------------------------------------------------- threads: the basics */

static void echo_pair_thread(const char *host)
{
    weft_sockaddr addr;
    weft_socket *l = listener(host, &addr), *c = NULL, *srv = NULL;
    WT_OK(weft_socket_new(&c, addr.ss.ss_family, SOCK_STREAM));
    WT_OK(weft_socket_connect(c, &addr, 5));
    weft_sockaddr peer;
    WT_OK(weft_socket_accept(l, &srv, &peer, 5));
    weft_sockaddr mine;
    WT_OK(weft_socket_getsockname(c, &mine));
    ck_assert_int_eq(weft_sockaddr_port(&peer), weft_sockaddr_port(&mine));
    size_t n;
    WT_OK(weft_socket_sendall(c, "hello", 5, NULL, 5));
    char buf[16];
    WT_OK(weft_socket_recv(srv, buf, sizeof buf, &n, 5));
    ck_assert_uint_eq(n, 5);
    WT_OK(weft_socket_send(srv, buf, n, &n, 5));
    ck_assert_uint_eq(n, 5);
    WT_OK(weft_socket_recv(c, buf, sizeof buf, &n, 5));
    ck_assert_int_eq(memcmp(buf, "hello", 5), 0);
    /* EOF after the peer's shutdown. */
    WT_OK(weft_socket_shutdown(c, SHUT_WR));
    WT_OK(weft_socket_recv(srv, buf, sizeof buf, &n, 5));
    ck_assert_uint_eq(n, 0);
    WT_OK(weft_socket_close(srv));
    weft_socket_free(srv);
    WT_OK(weft_socket_close(c));
    weft_socket_free(c);
    WT_OK(weft_socket_close(l));
    weft_socket_free(l);
}

START_TEST(thread_echo_v4_v6)
{
    echo_pair_thread("127.0.0.1");
    echo_pair_thread("::1");
}
END_TEST

START_TEST(thread_timeouts)
{
    weft_sockaddr addr;
    weft_socket *l = listener("127.0.0.1", &addr), *c = NULL, *srv = NULL;
    weft_socket *none = NULL;
    WT_ERR(weft_socket_accept(l, &none, NULL, 0), WEFT_ETIMEDOUT);
    WT_ERR(weft_socket_accept(l, &none, NULL, 0.02), WEFT_ETIMEDOUT);
    ck_assert_ptr_null(none);
    WT_OK(weft_socket_new(&c, AF_INET, SOCK_STREAM));
    WT_OK(weft_socket_connect(c, &addr, 5));
    WT_OK(weft_socket_accept(l, &srv, NULL, 5));
    char buf[8];
    size_t n = 99;
    double t0 = weft_monotonic();
    WT_ERR(weft_socket_recv(srv, buf, sizeof buf, &n, 0.05), WEFT_ETIMEDOUT);
    ck_assert_double_ge(weft_monotonic() - t0, 0.045);
    ck_assert_uint_eq(n, 0);
    /* Still usable. */
    WT_OK(weft_socket_sendall(c, "x", 1, NULL, 1));
    WT_OK(weft_socket_recv(srv, buf, sizeof buf, &n, 5));
    ck_assert_uint_eq(n, 1);
    WT_OK(weft_socket_close(srv));
    weft_socket_free(srv);
    WT_OK(weft_socket_close(c));
    weft_socket_free(c);
    WT_OK(weft_socket_close(l));
    weft_socket_free(l);
}
END_TEST

START_TEST(connect_refused)
{
    /* A bound socket that does not listen answers a SYN with a reset. */
    weft_socket *b = NULL, *c = NULL;
    weft_sockaddr addr;
    WT_OK(weft_socket_new(&b, AF_INET, SOCK_STREAM));
    WT_OK(weft_sockaddr_ip(&addr, "127.0.0.1", 0));
    WT_OK(weft_socket_bind(b, &addr));
    WT_OK(weft_socket_getsockname(b, &addr));
    WT_OK(weft_socket_new(&c, AF_INET, SOCK_STREAM));
    WT_ERR(weft_socket_connect(c, &addr, 5), -ECONNREFUSED);
    WT_OK(weft_socket_close(c));
    weft_socket_free(c);
    WT_ERR(weft_create_connection(&c, "127.0.0.1", weft_sockaddr_port(&addr), 5),
           -ECONNREFUSED);
    ck_assert_ptr_null(c);
    WT_OK(weft_socket_close(b));
    weft_socket_free(b);
}
END_TEST

/* A listener whose accept queue is full drops new SYNs: connects to it
 * stay in progress until their timeout. */
static int connect_until_timeout(weft_socket **held, int max)
{
    weft_sockaddr addr;
    weft_socket *l = NULL;
    WT_OK(weft_socket_new(&l, AF_INET, SOCK_STREAM));
    WT_OK(weft_sockaddr_ip(&addr, "127.0.0.1", 0));
    WT_OK(weft_socket_bind(l, &addr));
    WT_OK(listen(weft_socket_fd(l), 0) == 0 ? 0 : -errno);
    WT_OK(weft_socket_getsockname(l, &addr));
    int timed_out = -1;
    for (int i = 0; i < max && timed_out < 0; i++) {
        WT_OK(weft_socket_new(&held[i], AF_INET, SOCK_STREAM));
        double t0 = weft_monotonic();
        int rc = weft_socket_connect(held[i], &addr, 0.2);
        if (rc == WEFT_ETIMEDOUT) {
            ck_assert_double_ge(weft_monotonic() - t0, 0.19);
            timed_out = i;
        } else {
            WT_OK(rc);
        }
    }
    held[max] = l;
    return timed_out;
}

START_TEST(connect_timeout)
{
    weft_socket *held[17] = {0};
    ck_assert_int_ge(connect_until_timeout(held, 16), 0);
    for (int i = 0; i < 17; i++)
        weft_socket_free(held[i]); /* the ones made; NULL for the rest */
}
END_TEST

START_TEST(udp_v4_v6)
{
    const char *hosts[] = {"127.0.0.1", "::1"};
    for (int h = 0; h < 2; h++) {
        weft_sockaddr a, b, from;
        weft_socket *x = NULL, *y = NULL;
        WT_OK(weft_sockaddr_ip(&a, hosts[h], 0));
        WT_OK(weft_socket_new(&x, a.ss.ss_family, SOCK_DGRAM));
        WT_OK(weft_socket_new(&y, a.ss.ss_family, SOCK_DGRAM));
        WT_OK(weft_socket_bind(x, &a));
        WT_OK(weft_socket_bind(y, &a));
        WT_OK(weft_socket_getsockname(x, &a));
        WT_OK(weft_socket_getsockname(y, &b));
        char buf[64];
        size_t n;
        WT_ERR(weft_socket_recvfrom(x, buf, sizeof buf, &n, &from, 0), WEFT_ETIMEDOUT);
        WT_OK(weft_socket_sendto(y, "ping", 4, &a, 1));
        WT_OK(weft_socket_recvfrom(x, buf, sizeof buf, &n, &from, 5));
        ck_assert_uint_eq(n, 4);
        ck_assert_int_eq(memcmp(buf, "ping", 4), 0);
        ck_assert_int_eq(weft_sockaddr_port(&from), weft_sockaddr_port(&b));
        WT_OK(weft_socket_sendto(x, "pong!", 5, &from, 1));
        WT_OK(weft_socket_recvfrom(y, buf, 2, &n, NULL, 5)); /* truncated, as recvfrom */
        ck_assert_uint_eq(n, 2);
        WT_OK(weft_socket_close(x));
        weft_socket_free(x);
        WT_OK(weft_socket_close(y));
        weft_socket_free(y);
    }
}
END_TEST

START_TEST(unix_and_pipes)
{
    char dir[] = "/tmp/weft-net-XXXXXX", path[64];
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/s", dir);
    weft_socket *l = NULL, *c = NULL, *srv = NULL;
    WT_OK(weft_create_server(&l, path, 0, &(weft_server_opts){.family = AF_UNIX}));
    weft_sockaddr addr;
    WT_OK(weft_sockaddr_unix(&addr, path));
    WT_OK(weft_socket_new(&c, AF_UNIX, SOCK_STREAM));
    WT_OK(weft_socket_connect(c, &addr, 5));
    WT_OK(weft_socket_accept(l, &srv, NULL, 5));
    WT_OK(weft_socket_sendall(srv, "unix", 4, NULL, 5));
    char buf[8];
    size_t n;
    WT_OK(weft_socket_recv(c, buf, sizeof buf, &n, 5));
    ck_assert_uint_eq(n, 4);
    WT_OK(weft_socket_getsockname(l, &addr));
    char name[80];
    WT_OK(weft_sockaddr_format(&addr, name, sizeof name));
    ck_assert_str_eq(name, path);
    WT_OK(weft_socket_close(srv));
    weft_socket_free(srv);
    WT_OK(weft_socket_close(c));
    weft_socket_free(c);
    WT_OK(weft_socket_close(l));
    weft_socket_free(l);
    unlink(path);
    rmdir(dir);

    /* A pipe through from_fd: read/write, EOF, and EPIPE without SIGPIPE. */
    int p[2];
    ck_assert_int_eq(pipe(p), 0);
    weft_socket *r = NULL, *w = NULL;
    WT_OK(weft_socket_from_fd(&r, p[0]));
    WT_OK(weft_socket_from_fd(&w, p[1]));
    ck_assert_int_eq(weft_socket_family(r), AF_UNSPEC);
    ck_assert_int_eq(weft_socket_type(r), 0);
    WT_ERR(weft_socket_shutdown(r, SHUT_RD), -ENOTSOCK);
    WT_OK(weft_socket_sendall(w, "pipe", 4, NULL, 5));
    WT_OK(weft_socket_recv(r, buf, sizeof buf, &n, 5));
    ck_assert_uint_eq(n, 4);
    WT_ERR(weft_socket_recv(r, buf, sizeof buf, &n, 0.01), WEFT_ETIMEDOUT);
    WT_OK(weft_socket_close(w));
    weft_socket_free(w);
    WT_OK(weft_socket_recv(r, buf, sizeof buf, &n, 5));
    ck_assert_uint_eq(n, 0);
    WT_OK(weft_socket_close(r));
    weft_socket_free(r);
    ck_assert_int_eq(pipe(p), 0);
    WT_OK(weft_socket_from_fd(&r, p[0]));
    WT_OK(weft_socket_from_fd(&w, p[1]));
    WT_OK(weft_socket_close(r));
    weft_socket_free(r);
    WT_ERR(weft_socket_send(w, "x", 1, &n, 1), -EPIPE); /* the test lives: no SIGPIPE */
    WT_OK(weft_socket_close(w));
    weft_socket_free(w);
}
END_TEST

/* --------------------------------------------------------- coroutines */

typedef struct echo_ctx {
    weft_socket *listener;
    weft_sockaddr addr;
    int clients;
    int rounds;
    size_t served;
} echo_ctx;

static int serve_one(void *arg, void **result)
{
    weft_socket *s = arg;
    char buf[256];
    size_t n;
    int rc;
    while ((rc = weft_socket_recv(s, buf, sizeof buf, &n, 10)) == 0 && n > 0)
        if ((rc = weft_socket_sendall(s, buf, n, NULL, 10)) != 0)
            break;
    weft_socket_free(s);
    return rc;
}

static int echo_server(void *arg, void **result)
{
    echo_ctx *e = arg;
    weft_future *handlers[64];
    for (int i = 0; i < e->clients; i++) {
        weft_socket *c = NULL;
        int rc = weft_socket_accept(e->listener, &c, NULL, 10);
        if (rc)
            return rc;
        rc = weft_create_task(NULL, serve_one, c, NULL, &handlers[i]);
        if (rc)
            return rc;
    }
    int rc = 0;
    for (int i = 0; i < e->clients; i++) {
        int r = weft_await(handlers[i], NULL, WEFT_FOREVER);
        rc = rc ? rc : r;
        weft_future_unref(handlers[i]);
    }
    return rc;
}

static int echo_client(void *arg, void **result)
{
    echo_ctx *e = arg;
    weft_socket *c = NULL;
    int rc = weft_socket_new(&c, e->addr.ss.ss_family, SOCK_STREAM);
    if (rc)
        return rc;
    if ((rc = weft_socket_connect(c, &e->addr, 10)) != 0)
        goto out;
    for (int i = 0; i < e->rounds; i++) {
        char msg[64], back[64];
        memset(msg, 'a' + i % 26, sizeof msg);
        size_t got = 0, n;
        if ((rc = weft_socket_sendall(c, msg, sizeof msg, NULL, 10)) != 0)
            goto out;
        while (got < sizeof back) {
            if ((rc = weft_socket_recv(c, back + got, sizeof back - got, &n, 10)) != 0)
                goto out;
            if (n == 0) {
                rc = WEFT_EEOF;
                goto out;
            }
            got += n;
        }
        if (memcmp(msg, back, sizeof msg) != 0) {
            rc = WEFT_EINVAL;
            goto out;
        }
        __atomic_add_fetch(&e->served, 1, __ATOMIC_RELAXED);
    }
out:
    weft_socket_free(c);
    return rc;
}

static int echo_main(void *arg, void **result)
{
    echo_ctx *e = arg;
    weft_future *srv, *cl[64];
    int rc = weft_create_task(NULL, echo_server, e, "server", &srv);
    if (rc)
        return rc;
    for (int i = 0; i < e->clients; i++)
        if ((rc = weft_create_task(NULL, echo_client, e, NULL, &cl[i])) != 0)
            return rc;
    for (int i = 0; i < e->clients; i++) {
        int r = weft_await(cl[i], NULL, WEFT_FOREVER);
        rc = rc ? rc : r;
        weft_future_unref(cl[i]);
    }
    int r = weft_await(srv, NULL, WEFT_FOREVER);
    weft_future_unref(srv);
    return rc ? rc : r;
}

START_TEST(coroutine_echo_many_clients)
{
    const char *hosts[] = {"127.0.0.1", "::1"};
    for (int h = 0; h < 2; h++) {
        echo_ctx e = {.clients = 50, .rounds = 20};
        e.listener = listener(hosts[h], &e.addr);
        WT_OK(weft_run(echo_main, &e, NULL));
        ck_assert_uint_eq(e.served, 50 * 20);
        WT_OK(weft_socket_close(e.listener));
        weft_socket_free(e.listener);
    }
}
END_TEST

/* A task on a loop and a plain thread talk through one connection. */
static void *thread_side(void *arg)
{
    return (void *)(intptr_t)echo_client(arg, NULL);
}

START_TEST(task_and_thread)
{
    echo_ctx e = {.clients = 1, .rounds = 200};
    e.listener = listener("127.0.0.1", &e.addr);
    weft_thread *t = NULL;
    WT_OK(weft_thread_new(&t, thread_side, &e, NULL));
    WT_OK(weft_thread_start(t));
    WT_OK(weft_run(echo_server, &e, NULL));
    void *res;
    WT_OK(weft_thread_join(t, WEFT_FOREVER));
    WT_OK(weft_thread_result(t, &res));
    WT_OK((int)(intptr_t)res);
    weft_thread_unref(t);
    ck_assert_uint_eq(e.served, 200);
    WT_OK(weft_socket_close(e.listener));
    weft_socket_free(e.listener);
}
END_TEST

/* Connected pair for coroutine tests (made before the loop runs). */
typedef struct pair {
    weft_socket *a, *b;
    bool entered;
    int rc;
} pair;

static void make_pair(pair *p)
{
    weft_sockaddr addr;
    weft_socket *l = listener("127.0.0.1", &addr);
    WT_OK(weft_socket_new(&p->a, AF_INET, SOCK_STREAM));
    WT_OK(weft_socket_connect(p->a, &addr, 5));
    WT_OK(weft_socket_accept(l, &p->b, NULL, 5));
    WT_OK(weft_socket_close(l));
    weft_socket_free(l);
}

static int blocked_recv(void *arg, void **result)
{
    pair *p = arg;
    char buf[8];
    size_t n;
    /* Flag and wait in the same step: once the main task sees the flag
     * after a yield, this task is parked in recv. */
    __atomic_store_n(&p->entered, true, __ATOMIC_RELEASE);
    return weft_socket_recv(p->a, buf, sizeof buf, &n, WEFT_FOREVER);
}

/* A task of this loop parked in recv on p->a. */
static weft_future *start_blocked_recv(pair *p)
{
    weft_future *t;
    WT_OK(weft_create_task(NULL, blocked_recv, p, NULL, &t));
    while (!p->entered)
        weft_sleep(0);
    return t;
}

static int cancel_pending_recv(void *arg, void **result)
{
    pair *p = arg;
    weft_future *t = start_blocked_recv(p);
    ck_assert(weft_future_cancel(t));
    WT_ERR(weft_await(t, NULL, WEFT_FOREVER), WEFT_ECANCELLED);
    ck_assert(weft_future_cancelled(t));
    weft_future_unref(t);
    /* The socket is still registered and works: data sent now arrives. */
    WT_OK(weft_socket_sendall(p->b, "after", 5, NULL, 5));
    char buf[8];
    size_t n;
    WT_OK(weft_socket_recv(p->a, buf, sizeof buf, &n, 5));
    ck_assert_uint_eq(n, 5);
    /* A coroutine's timeout leaves it usable too. */
    WT_ERR(weft_socket_recv(p->a, buf, sizeof buf, &n, 0.02), WEFT_ETIMEDOUT);
    WT_ERR(weft_socket_recv(p->a, buf, sizeof buf, &n, 0), WEFT_ETIMEDOUT);
    WT_OK(weft_socket_sendall(p->b, "again", 5, NULL, 5));
    WT_OK(weft_socket_recv(p->a, buf, sizeof buf, &n, 5));
    ck_assert_uint_eq(n, 5);
    return 0;
}

START_TEST(coroutine_cancel_and_timeout)
{
    pair p = {0};
    make_pair(&p);
    WT_OK(weft_run(cancel_pending_recv, &p, NULL));
    WT_OK(weft_socket_close(p.a));
    weft_socket_free(p.a);
    WT_OK(weft_socket_close(p.b));
    weft_socket_free(p.b);
}
END_TEST

static void *blocked_recv_thread(void *arg)
{
    return (void *)(intptr_t)blocked_recv(arg, NULL);
}

static int close_wakes_waiter(void *arg, void **result)
{
    pair *p = arg;
    weft_future *t = start_blocked_recv(p);
    WT_OK(weft_socket_close(p->a));
    weft_socket_free(p->a);
    WT_ERR(weft_await(t, NULL, WEFT_FOREVER), -EBADF);
    weft_future_unref(t);
    return 0;
}

START_TEST(close_while_waiting)
{
    /* A coroutine of the same loop. */
    pair p = {0};
    make_pair(&p);
    WT_OK(weft_run(close_wakes_waiter, &p, NULL));
    WT_OK(weft_socket_close(p.b));
    weft_socket_free(p.b);

    /* A thread blocked in recv, closed from another thread. */
    pair q = {0};
    make_pair(&q);
    weft_thread *t = NULL;
    WT_OK(weft_thread_new(&t, blocked_recv_thread, &q, NULL));
    WT_OK(weft_thread_start(t));
    /* Wait until its recv has begun (a call may not start after close):
     * it may not have reached poll yet, and either way it must end with
     * -EBADF and the descriptor must stay open until it has. */
    while (weft__socket_users(q.a) < 1)
        sched_yield();
    WT_OK(weft_socket_close(q.a));
    weft_socket_free(q.a);
    void *res;
    WT_OK(weft_thread_join(t, WEFT_FOREVER));
    WT_OK(weft_thread_result(t, &res));
    ck_assert_int_eq((int)(intptr_t)res, -EBADF);
    weft_thread_unref(t);
    WT_OK(weft_socket_close(q.b));
    weft_socket_free(q.b);
}
END_TEST

/* A coroutine of a loop running in another thread waits in recv; this
 * thread closes the socket. The coroutine wakes with -EBADF, and the last
 * user's clean-up (deregistering from that loop) is handed to the loop's
 * own thread (ASan checks nothing leaks or is used after it is freed). */
typedef struct remote {
    pair p;
    weft_event parked, release;
    bool idle; /* wait on `release` instead of the socket */
    int rc;
} remote;

static int remote_recv(void *arg, void **result)
{
    remote *r = arg;
    char buf[8];
    size_t n;
    /* Registered with this loop once the first wait has begun. */
    WT_ERR(weft_socket_recv(r->p.a, buf, sizeof buf, &n, 0), WEFT_ETIMEDOUT);
    WT_OK(weft_event_set(&r->parked));
    if (!r->idle)
        r->rc = weft_socket_recv(r->p.a, buf, sizeof buf, &n, WEFT_FOREVER);
    /* The loop may be freed only once the closing thread is done with it
     * (loop.h's rule for calls from other threads). */
    return weft_event_wait(&r->release, 30);
}

static void *remote_loop(void *arg)
{
    return (void *)(intptr_t)weft_run(remote_recv, arg, NULL);
}

START_TEST(close_from_another_thread)
{
    remote r = {0};
    make_pair(&r.p);
    WT_OK(weft_event_init(&r.parked));
    WT_OK(weft_event_init(&r.release));
    weft_thread *t;
    WT_OK(weft_thread_new(&t, remote_loop, &r, NULL));
    WT_OK(weft_thread_start(t));
    WT_OK(weft_event_wait(&r.parked, 10));
    /* Its recv may not be parked yet: either way it must end with -EBADF. */
    while (weft__socket_users(r.p.a) < 1)
        sched_yield();
    WT_OK(weft_socket_close(r.p.a));
    weft_socket_free(r.p.a);
    WT_OK(weft_event_set(&r.release));
    WT_OK(weft_thread_join(t, WEFT_FOREVER));
    void *res;
    WT_OK(weft_thread_result(t, &res));
    WT_OK((int)(intptr_t)res);
    weft_thread_unref(t);
    WT_ERR(r.rc, -EBADF);
    WT_OK(weft_socket_close(r.p.b));
    weft_socket_free(r.p.b);

    /* No call in flight: the close itself is the last user, and it hands
     * the deregistration to the other thread's running loop. */
    remote q = {.idle = true};
    make_pair(&q.p);
    WT_OK(weft_event_init(&q.parked));
    WT_OK(weft_event_init(&q.release));
    WT_OK(weft_thread_new(&t, remote_loop, &q, NULL));
    WT_OK(weft_thread_start(t));
    WT_OK(weft_event_wait(&q.parked, 10));
    WT_OK(weft_socket_close(q.p.a));
    weft_socket_free(q.p.a);
    WT_OK(weft_event_set(&q.release));
    WT_OK(weft_thread_join(t, WEFT_FOREVER));
    WT_OK(weft_thread_result(t, &res));
    WT_OK((int)(intptr_t)res);
    weft_thread_unref(t);
    WT_OK(weft_socket_close(q.p.b));
    weft_socket_free(q.p.b);
}
END_TEST

/* Two tasks on one socket: one waits to read, one to write. */
typedef struct duplex {
    pair p;
    size_t filled;
    bool writer_in, reader_in;
} duplex;

static int duplex_writer(void *arg, void **result)
{
    duplex *d = arg;
    static char chunk[65536];
    d->writer_in = true;
    return weft_socket_sendall(d->p.a, chunk, sizeof chunk, NULL, 10);
}

static int duplex_reader(void *arg, void **result)
{
    duplex *d = arg;
    char c;
    size_t n;
    d->reader_in = true;
    int rc = weft_socket_recv(d->p.a, &c, 1, &n, 10);
    return rc ? rc : (n == 1 && c == 'r') ? 0 : WEFT_EINVAL;
}

static int duplex_main(void *arg, void **result)
{
    duplex *d = arg;
    /* Fill a's send buffer (and b's receive buffer) until a send would
     * block. (A small send buffer only: on loopback a receive window below
     * one 64 KiB segment stalls the sender on its persist timer.) */
    int sz = 4096;
    setsockopt(weft_socket_fd(d->p.a), SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz);
    char junk[4096] = {0};
    size_t n;
    while (weft_socket_send(d->p.a, junk, sizeof junk, &n, 0) == 0)
        d->filled += n;
    weft_future *w, *r;
    WT_OK(weft_create_task(NULL, duplex_writer, d, "writer", &w));
    WT_OK(weft_create_task(NULL, duplex_reader, d, "reader", &r));
    while (!d->writer_in || !d->reader_in)
        weft_sleep(0);
    ck_assert(!weft_future_done(w) && !weft_future_done(r));
    /* Wake the reader first, then let the writer through by draining b. */
    WT_OK(weft_socket_sendall(d->p.b, "r", 1, NULL, 5));
    WT_OK(weft_await(r, NULL, WEFT_FOREVER));
    ck_assert(!weft_future_done(w));
    size_t total = 0, want = d->filled + 65536;
    char buf[8192];
    while (total < want) {
        WT_OK(weft_socket_recv(d->p.b, buf, sizeof buf, &n, 10));
        ck_assert_uint_gt(n, 0);
        total += n;
    }
    WT_OK(weft_await(w, NULL, WEFT_FOREVER));
    weft_future_unref(w);
    weft_future_unref(r);
    return 0;
}

START_TEST(read_and_write_waiters)
{
    duplex d = {0};
    make_pair(&d.p);
    WT_OK(weft_run(duplex_main, &d, NULL));
    WT_OK(weft_socket_close(d.p.a));
    weft_socket_free(d.p.a);
    WT_OK(weft_socket_close(d.p.b));
    weft_socket_free(d.p.b);
}
END_TEST

/* sendall of 8 MiB to a reader that takes 4 KiB per step. */
typedef struct bulk {
    pair p;
    unsigned char *data;
    size_t len;
    uint64_t sum_in;
} bulk;

static int slow_reader(void *arg, void **result)
{
    bulk *b = arg;
    unsigned char buf[4096];
    size_t n, total = 0;
    int rc;
    while ((rc = weft_socket_recv(b->p.b, buf, sizeof buf, &n, 10)) == 0 && n > 0) {
        for (size_t i = 0; i < n; i++)
            if (buf[i] != b->data[total + i])
                return WEFT_EINVAL;
        total += n;
        weft_sleep(0);
    }
    return rc ? rc : total == b->len ? 0 : WEFT_EEOF;
}

static int bulk_main(void *arg, void **result)
{
    bulk *b = arg;
    weft_future *r;
    WT_OK(weft_create_task(NULL, slow_reader, b, "reader", &r));
    size_t sent = 0;
    WT_OK(weft_socket_sendall(b->p.a, b->data, b->len, &sent, 30));
    ck_assert_uint_eq(sent, b->len);
    WT_OK(weft_socket_shutdown(b->p.a, SHUT_WR));
    WT_OK(weft_await(r, NULL, WEFT_FOREVER));
    weft_future_unref(r);
    /* A sendall that cannot finish in time says how far it got. */
    int sz = 4096;
    setsockopt(weft_socket_fd(b->p.b), SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz);
    sent = 0;
    WT_ERR(weft_socket_sendall(b->p.b, b->data, b->len, &sent, 0.05), WEFT_ETIMEDOUT);
    ck_assert_uint_gt(sent, 0);
    ck_assert_uint_lt(sent, b->len);
    return 0;
}

START_TEST(large_sendall_slow_reader)
{
    bulk b = {.len = 8u << 20};
    b.data = malloc(b.len);
    for (size_t i = 0; i < b.len; i++)
        b.data[i] = (unsigned char)(i * 131 + (i >> 12));
    make_pair(&b.p);
    WT_OK(weft_run(bulk_main, &b, NULL));
    WT_OK(weft_socket_close(b.p.a));
    weft_socket_free(b.p.a);
    WT_OK(weft_socket_close(b.p.b));
    weft_socket_free(b.p.b);
    free(b.data);
}
END_TEST

/* A socket registered with one loop refuses a coroutine of another. */
static int wait_once(void *arg, void **result)
{
    pair *p = arg;
    char c;
    size_t n;
    return weft_socket_recv(p->a, &c, 1, &n, 0.01);
}

START_TEST(one_loop_per_socket)
{
    pair p = {0};
    make_pair(&p);
    weft_loop *l1, *l2;
    WT_OK(weft_loop_new(&l1, NULL));
    WT_OK(weft_loop_new(&l2, NULL));
    weft_future *f;
    WT_OK(weft_create_task(l1, wait_once, &p, NULL, &f));
    WT_ERR(weft_loop_run_until_complete(l1, f, NULL), WEFT_ETIMEDOUT);
    weft_future_unref(f);
    WT_OK(weft_create_task(l2, wait_once, &p, NULL, &f));
    WT_ERR(weft_loop_run_until_complete(l2, f, NULL), WEFT_ESTATE);
    weft_future_unref(f);
    /* Once l1 is gone, l2 may take it. */
    WT_OK(weft_loop_close(l1));
    weft_loop_free(l1);
    WT_OK(weft_create_task(l2, wait_once, &p, NULL, &f));
    WT_ERR(weft_loop_run_until_complete(l2, f, NULL), WEFT_ETIMEDOUT);
    weft_future_unref(f);
    /* Closed on a thread while its loop does not run. */
    WT_OK(weft_socket_close(p.a));
    weft_socket_free(p.a);
    WT_OK(weft_loop_close(l2));
    weft_loop_free(l2);
    WT_OK(weft_socket_close(p.b));
    weft_socket_free(p.b);
}
END_TEST

/* ------------------------------------------------------------- names */

static int resolve_in_task(void *arg, void **result)
{
    weft_addrinfo *ai = NULL;
    WT_OK(weft_getaddrinfo("localhost", 8080, AF_INET, SOCK_STREAM, 0, &ai, 10));
    ck_assert_ptr_nonnull(ai);
    char buf[64];
    WT_OK(weft_sockaddr_format(&ai->addr, buf, sizeof buf));
    ck_assert_str_eq(buf, "127.0.0.1:8080");
    weft_addrinfo_free(ai);
    /* Connect by name, in a coroutine. */
    weft_sockaddr addr;
    weft_socket *l = listener("127.0.0.1", &addr), *c = NULL;
    WT_OK(weft_create_connection(&c, "localhost", weft_sockaddr_port(&addr), 10));
    int one = 0;
    size_t len = sizeof one;
    WT_OK(weft_socket_getsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, &len));
    ck_assert_int_ne(one, 0);
    weft_socket_free(c);
    weft_socket_free(l);
    return 0;
}

START_TEST(getaddrinfo_names)
{
    weft_addrinfo *ai = NULL;
    WT_OK(weft_getaddrinfo("::1", 80, 0, SOCK_STREAM, 0, &ai, 0));
    ck_assert_int_eq(ai->family, AF_INET6);
    ck_assert_ptr_null(ai->next);
    weft_addrinfo_free(ai);
    WT_OK(weft_getaddrinfo(NULL, 80, AF_INET, SOCK_STREAM, AI_PASSIVE, &ai, 0));
    char buf[64];
    WT_OK(weft_sockaddr_format(&ai->addr, buf, sizeof buf));
    ck_assert_str_eq(buf, "0.0.0.0:80");
    weft_addrinfo_free(ai);
    WT_OK(weft_getaddrinfo("localhost", 80, AF_INET, SOCK_STREAM, 0, &ai, 10));
    ck_assert_int_eq(ai->family, AF_INET);
    weft_addrinfo_free(ai);
    WT_OK(weft_run(resolve_in_task, NULL, NULL));
}
END_TEST

/* Fill the default pool with blockers so that a lookup stays queued,
 * then cancel (and time out) the task waiting for it. */
static weft_event release;

static int blocker(void *arg, void **result)
{
    return weft_event_wait(&release, 30);
}

static int lookup_task(void *arg, void **result)
{
    bool *entered = arg;
    weft_addrinfo *ai = NULL;
    *entered = true;
    int rc = weft_getaddrinfo("localhost", 1, 0, 0, 0, &ai, WEFT_FOREVER);
    weft_addrinfo_free(ai);
    return rc;
}

static int cancel_lookup(void *arg, void **result)
{
    bool entered = false;
    weft_future *t;
    WT_OK(weft_create_task(NULL, lookup_task, &entered, NULL, &t));
    while (!entered)
        weft_sleep(0);
    ck_assert(weft_future_cancel(t));
    WT_ERR(weft_await(t, NULL, WEFT_FOREVER), WEFT_ECANCELLED);
    weft_future_unref(t);
    weft_addrinfo *ai = NULL;
    WT_ERR(weft_getaddrinfo("localhost", 1, 0, 0, 0, &ai, 0.02), WEFT_ETIMEDOUT);
    ck_assert_ptr_null(ai);
    return 0;
}

START_TEST(getaddrinfo_cancel)
{
    WT_OK(weft_event_init(&release));
    enum { BLOCKERS = 40 };
    weft_future *b[BLOCKERS];
    for (int i = 0; i < BLOCKERS; i++)
        WT_OK(weft_executor_submit(weft_default_executor(), blocker, NULL, &b[i]));
    WT_OK(weft_run(cancel_lookup, NULL, NULL));
    WT_OK(weft_event_set(&release));
    for (int i = 0; i < BLOCKERS; i++) {
        WT_OK(weft_future_result(b[i], NULL, 30));
        weft_future_unref(b[i]);
    }
    /* The abandoned lookups were freed (ASan's leak check says so) and
     * the pool works. */
    weft_addrinfo *ai = NULL;
    WT_OK(weft_getaddrinfo("localhost", 1, AF_INET, 0, 0, &ai, 10));
    weft_addrinfo_free(ai);
}
END_TEST

START_TEST(create_server_options)
{
    /* Two sockets on one port with reuse_port. */
    weft_server_opts o = {.reuse_port = true, .family = AF_INET};
    weft_socket *a = NULL, *b = NULL, *c = NULL;
    WT_OK(weft_create_server(&a, "127.0.0.1", 0, &o));
    weft_sockaddr addr;
    WT_OK(weft_socket_getsockname(a, &addr));
    int port = weft_sockaddr_port(&addr);
    WT_OK(weft_create_server(&b, "127.0.0.1", port, &o));
    WT_ERR(weft_create_server(&c, "127.0.0.1", port, NULL), -EADDRINUSE);
    WT_OK(weft_socket_close(a));
    weft_socket_free(a);
    WT_OK(weft_socket_close(b));
    weft_socket_free(b);
    /* The wildcard with both families, reached over IPv4. */
    WT_OK(weft_create_server(&a, NULL, 0, NULL));
    WT_OK(weft_socket_getsockname(a, &addr));
    WT_OK(weft_create_connection(&c, "127.0.0.1", weft_sockaddr_port(&addr), 5));
    WT_OK(weft_socket_accept(a, &b, NULL, 5));
    WT_OK(weft_socket_close(b));
    weft_socket_free(b);
    WT_OK(weft_socket_close(c));
    weft_socket_free(c);
    WT_OK(weft_socket_close(a));
    weft_socket_free(a);
}
END_TEST

WT_MAIN("net", 30, addresses, bad_input, thread_echo_v4_v6, thread_timeouts, connect_refused,
        connect_timeout, udp_v4_v6, unix_and_pipes, coroutine_echo_many_clients, task_and_thread,
        coroutine_cancel_and_timeout, close_while_waiting, close_from_another_thread, read_and_write_waiters,
        large_sendall_slow_reader, one_loop_per_socket, getaddrinfo_names, getaddrinfo_cancel,
        create_server_options)
