/*
 * The accept loop and the loops-per-thread start-up of weft's benchmark
 * servers (serve.h).
 */
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "serve.h"

static weft_task_fn serve_conn;
static size_t stack_size;

static int accept_loop(void *arg, void **result)
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
        if (weft_create_task_opts(NULL, serve_conn, c, &o, NULL) != 0)
            weft_socket_free(c);
    }
}

static void *loop_thread(void *arg)
{
    return (void *)(intptr_t)weft_run(accept_loop, arg, NULL);
}

int bench_serve(int argc, char **argv, const char *name, weft_task_fn conn, size_t stack)
{
    int loops = 1;
    serve_conn = conn;
    stack_size = stack;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--loops"))
            loops = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--stack"))
            stack_size = (size_t)atol(argv[i + 1]);
    }
    if (loops < 1 || loops > 64) {
        fprintf(stderr, "%s: --loops 1..64\n", name);
        return 2;
    }
    weft_socket *ls[64];
    int port = 0;
    weft_server_opts so = {.family = AF_INET, .reuse_port = loops > 1, .backlog = 4096};
    for (int i = 0; i < loops; i++) {
        int rc = weft_create_server(&ls[i], "127.0.0.1", port, &so);
        if (rc) {
            fprintf(stderr, "%s: listen: %s\n", name, weft_strerror(rc));
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
    return weft_run(accept_loop, ls[0], NULL) ? 1 : 0;
}
