/*
 * echo_server.c - an echo server and its clients on one event loop: the
 * single-threaded concurrency of seed 001 ("non-blocking sockets and the
 * OS event notification system, such as epoll ... a single thread handles
 * multiple I/O operations concurrently"), written as asyncio would:
 *
 *   async def handle(reader, writer):
 *       while line := await reader.readline():
 *           writer.write(line.upper()); await writer.drain()
 *       writer.close()
 *
 *   async def client(i, port):
 *       reader, writer = await asyncio.open_connection("127.0.0.1", port)
 *       writer.write(f"hello from client {i}\n".encode())
 *       print("client", i, "got", (await reader.readline()).decode())
 *       writer.close(); await writer.wait_closed()
 *
 *   async def main():
 *       server = await asyncio.start_server(handle, "127.0.0.1", 0)
 *       port = server.sockets[0].getsockname()[1]
 *       await asyncio.gather(*(client(i, port) for i in range(3)))
 *       server.close(); await server.wait_closed()
 *
 * Each connection is a coroutine of its own; all of them, and the three
 * clients, share the loop's one thread: every read or write that would
 * block suspends only its coroutine. weft's stream is asyncio's reader and
 * writer in one object; the server closes a handler's stream after the
 * handler returns.
 */
#include <ctype.h>
#include <stdio.h>

#include "check.h"

static int handle(weft_stream *st, void *arg)
{
    char line[256];
    size_t n;
    int rc;
    while ((rc = weft_stream_readline(st, line, sizeof line, &n, 10)) == 0 && n) {
        for (size_t i = 0; i < n; i++)
            line[i] = (char)toupper((unsigned char)line[i]);
        if ((rc = weft_stream_write(st, line, n)) != 0 || (rc = weft_stream_drain(st, 10)) != 0)
            break;
    }
    return rc;
}

typedef struct client_arg {
    int i, port;
    char reply[256];
} client_arg;

static int client(void *arg, void **result)
{
    client_arg *c = arg;
    weft_stream *st;
    CHECK(weft_open_connection(&st, "127.0.0.1", c->port, NULL, 10));
    char msg[64];
    int len = snprintf(msg, sizeof msg, "hello from client %d\n", c->i);
    CHECK(weft_stream_write(st, msg, (size_t)len));
    size_t n;
    CHECK(weft_stream_readline(st, c->reply, sizeof c->reply - 1, &n, 10));
    c->reply[n] = 0;
    int rc = weft_stream_close(st, 10);
    weft_stream_free(st);
    return rc;
}

static int async_main(void *arg, void **result)
{
    weft_server *server;
    CHECK(weft_server_start(&server, handle, NULL, "127.0.0.1", 0, NULL));
    weft_socket *ls;
    size_t nsocks;
    CHECK(weft_server_sockets(server, &ls, 1, &nsocks));
    weft_sockaddr addr;
    CHECK(weft_socket_getsockname(ls, &addr));

    client_arg c[3];
    weft_future *f[3], *all;
    for (int i = 0; i < 3; i++) {
        c[i] = (client_arg){.i = i, .port = weft_sockaddr_port(&addr)};
        CHECK(weft_create_task(NULL, client, &c[i], NULL, &f[i]));
    }
    CHECK(weft_gather(f, 3, false, &all));
    CHECK(weft_await(all, NULL, WEFT_FOREVER));
    weft_future_unref(all);
    for (int i = 0; i < 3; i++) {
        weft_future_unref(f[i]);
        printf("client %d got %s", i, c[i].reply);
    }
    CHECK(weft_server_close(server));
    CHECK(weft_server_wait_closed(server, 10));
    printf("server closed, %zu connections left\n", weft_server_connections_len(server));
    weft_server_free(server);
    return 0;
}

int main(void)
{
    CHECK(weft_run(async_main, NULL, NULL));
    return 0;
}

/* Output:
 * expect: ^client 0 got HELLO FROM CLIENT 0$
 * expect: ^client 1 got HELLO FROM CLIENT 1$
 * expect: ^client 2 got HELLO FROM CLIENT 2$
 * expect: ^server closed, 0 connections left$
 */
