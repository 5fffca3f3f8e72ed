/*
 * weft's HTTP/1.1 "hello" server for the benchmarks: a coroutine per
 * connection, keep-alive, one fixed response per request (a request ends
 * at its blank line; bodies are not expected). Prints "port P" and serves
 * until killed.
 *
 *   weft-http-hello [--loops N]
 */
#include <string.h>

#include "serve.h"

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
    weft_socket_free(s);
    return 0;
}

int main(int argc, char **argv)
{
    return bench_serve(argc, argv, "weft-http-hello", serve_connection, 32 * 1024);
}
