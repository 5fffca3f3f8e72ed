/*
 * The libuv peer, written the way a libuv user tuning an echo server would:
 * a read buffer inside each connection (no malloc per read), uv_try_write
 * first, and a queued uv_write with a copy only for what the socket did
 * not take. Prints "port P", serves until killed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

typedef struct client {
    uv_tcp_t tcp;
    char buf[4096];
} client;

typedef struct wreq {
    uv_write_t req;
    uv_buf_t buf;
} wreq;

static void on_close(uv_handle_t *h)
{
    free(h);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)suggested;
    client *c = (client *)h;
    *buf = uv_buf_init(c->buf, sizeof c->buf);
}

static void on_written(uv_write_t *req, int status)
{
    wreq *w = (wreq *)req;
    free(w->buf.base);
    free(w);
    (void)status;
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    if (n < 0) {
        uv_close((uv_handle_t *)s, on_close);
        return;
    }
    if (n == 0)
        return;
    uv_buf_t b = uv_buf_init(buf->base, (unsigned)n);
    int done = uv_try_write(s, &b, 1);
    if (done == n)
        return;
    if (done < 0) {
        if (done != UV_EAGAIN) {
            uv_close((uv_handle_t *)s, on_close);
            return;
        }
        done = 0;
    }
    wreq *w = malloc(sizeof *w);
    w->buf = uv_buf_init(malloc((size_t)(n - done)), (unsigned)(n - done));
    memcpy(w->buf.base, buf->base + done, (size_t)(n - done));
    uv_write(&w->req, s, &w->buf, 1, on_written);
}

static void on_connection(uv_stream_t *server, int status)
{
    if (status < 0)
        return;
    client *c = malloc(sizeof *c);
    uv_tcp_init(uv_default_loop(), &c->tcp);
    if (uv_accept(server, (uv_stream_t *)&c->tcp) == 0) {
        uv_tcp_nodelay(&c->tcp, 1);
        uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
    } else {
        uv_close((uv_handle_t *)&c->tcp, on_close);
    }
}

int main(void)
{
    uv_tcp_t server;
    struct sockaddr_in a;
    uv_tcp_init(uv_default_loop(), &server);
    uv_ip4_addr("127.0.0.1", 0, &a);
    if (uv_tcp_bind(&server, (const struct sockaddr *)&a, 0) != 0 ||
        uv_listen((uv_stream_t *)&server, 4096, on_connection) != 0) {
        fprintf(stderr, "echo-libuv: listen failed\n");
        return 1;
    }
    int len = sizeof a;
    uv_tcp_getsockname(&server, (struct sockaddr *)&a, &len);
    printf("port %d\n", ntohs(a.sin_port));
    fflush(stdout);
    return uv_run(uv_default_loop(), UV_RUN_DEFAULT);
}
