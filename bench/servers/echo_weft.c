/*
 * weft's echo server for the network benchmarks: a coroutine per
 * connection on one loop (or one loop per thread with --loops N, sharing
 * the port with SO_REUSEPORT). Prints "port P" once it listens and serves
 * until it is killed.
 *
 *   weft-echo [--loops N] [--stack BYTES]
 */
#include "serve.h"

static int serve_connection(void *arg, void **result)
{
    weft_socket *s = arg;
    char buf[4096];
    size_t n;
    while (weft_socket_recv(s, buf, sizeof buf, &n, WEFT_FOREVER) == 0 && n)
        if (weft_socket_sendall(s, buf, n, NULL, WEFT_FOREVER) != 0)
            break;
    weft_socket_free(s);
    return 0;
}

int main(int argc, char **argv)
{
    return bench_serve(argc, argv, "weft-echo", serve_connection, 16 * 1024);
}
