/*
 * weft's HTTP/1.1 "hello" server for the benchmarks: a coroutine per
 * connection, keep-alive, one fixed response per request (a request ends
 * at its blank line; bodies are not expected). Prints "port P" and serves
 * until killed.
 *
 *   weft-http-hello [--loops N]
 */
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "weft.h"

static const char RESPONSE[] = "HTTP/1.1 200 OK\r\n"
                               "Server: weft\r\n"
                               "Content-Type: text/plain\r\n"
                               "Content-Length: 13\r\n"
                               "\r\n"
                               "Hello, world!";

static int serve_connection(void *arg, void **result)
{
    weft_socket *s = arg;
    char buf[8192];
    size_t have = 0, n;
    while (weft_socket_recv(s, buf + have, sizeof buf - have, &n, 60) == 0 && n) {
        have += n;
        /* Answer every complete request in the buffer (pipelining). */
        size_t start = 0;
        int answers = 0;
        char *end;
        while ((end = memmem(buf + start, have - start, "\r\n\r\n", 4)) != NULL) {
            start = (size_t)(end - buf) + 4;
            answers++;
        }
        for (int i = 0; i < answers; i++)
            if (weft_socket_sendall(s, RESPONSE, sizeof RESPONSE - 1, NULL, 60) != 0)
                goto out;
        memmove(buf, buf + start, have - start);
        have -= start;
        if (have == sizeof buf)
            break; /* a header over 8 KiB: not this benchmark's client */
    }
out:
    weft_socket_close(s);
    return 0;
}

static int serve(void *arg, void **result)
{
    weft_socket *l = arg;
    weft_task_opts o = {.name = "http", .stack_size = 32 * 1024};
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
    int loops = argc == 3 && !strcmp(argv[1], "--loops") ? atoi(argv[2]) : 1;
    if (loops < 1 || loops > 64)
        return 2;
    weft_socket *ls[64];
    int port = 0;
    weft_server_opts so = {.family = AF_INET, .reuse_port = loops > 1, .backlog = 4096};
    for (int i = 0; i < loops; i++) {
        int rc = weft_create_server(&ls[i], "127.0.0.1", port, &so);
        if (rc) {
            fprintf(stderr, "weft-http-hello: listen: %s\n", weft_strerror(rc));
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
