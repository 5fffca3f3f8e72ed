/*
 * weft's echo server for the network benchmarks: a coroutine per
 * connection on one loop (or one loop per thread with --loops N, sharing
 * the port with SO_REUSEPORT). Prints "port P" once it listens and serves
 * until it is killed.
 *
 *   weft-echo [--loops N] [--stack BYTES]
 */
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "weft.h"

static int port;
static size_t stack_size = 16 * 1024;

static int serve_connection(void *arg, void **result)
{
    weft_socket *s = arg;
    char buf[4096];
    size_t n;
    int rc;
    while ((rc = weft_socket_recv(s, buf, sizeof buf, &n, WEFT_FOREVER)) == 0 && n)
        if ((rc = weft_socket_sendall(s, buf, n, NULL, WEFT_FOREVER)) != 0)
            break;
    weft_socket_close(s);
    return 0;
}

static int serve(void *arg, void **result)
{
    weft_socket *l = arg;
    weft_task_opts o = {.name = "conn", .stack_size = stack_size};
    for (;;) {
        weft_socket *c;
        int rc = weft_socket_accept(l, &c, NULL, WEFT_FOREVER);
        if (rc == -EMFILE || rc == -ENFILE) {
            weft_sleep(0.1);
            continue;
        }
        if (rc)
            return rc;
        int one = 1;
        weft_socket_setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        if (weft_create_task_opts(NULL, serve_connection, c, &o, NULL) != 0)
            weft_socket_close(c);
    }
}

static void *loop_thread(void *arg)
{
    return (void *)(intptr_t)weft_run(serve, arg, NULL);
}

int main(int argc, char **argv)
{
    int loops = 1;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--loops"))
            loops = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--stack"))
            stack_size = (size_t)atol(argv[i + 1]);
    }
    if (loops < 1 || loops > 64) {
        fprintf(stderr, "weft-echo: --loops 1..64\n");
        return 2;
    }
    weft_socket *ls[64];
    weft_server_opts so = {.family = AF_INET, .reuse_port = loops > 1, .backlog = 4096};
    for (int i = 0; i < loops; i++) {
        int rc = weft_create_server(&ls[i], "127.0.0.1", port, &so);
        if (rc) {
            fprintf(stderr, "weft-echo: listen: %s\n", weft_strerror(rc));
            return 1;
        }
        weft_sockaddr a;
        weft_socket_getsockname(ls[i], &a);
        port = weft_sockaddr_port(&a);
    }
    printf("port %d\n", port);
    fflush(stdout);
    for (int i = 1; i < loops; i++) {
        weft_thread *t;
        if (weft_thread_new(&t, loop_thread, ls[i], NULL) != 0 || weft_thread_start(t) != 0)
            return 1;
    }
    return weft_run(serve, ls[0], NULL) ? 1 : 0;
}
