/*
 * Between processes: the items/s of a process queue (one producer process
 * puts 64-byte items, the parent gets them; the figure is time per item,
 * its inverse the items/s), and the round trip of a 64-byte message
 * through a pipe to an echoing child and back. Peers: Python's
 * multiprocessing.Queue and Pipe (bench/peers/ipc.py).
 *
 * The clock starts once the first item (or the first echo) is back, so
 * neither side's process start-up is counted.
 */
#include <stdint.h>
#include <string.h>

#include "harness.h"
#include "internal/share.h"
#include "weft/ipc.h"
#include "weft/process.h"

#define ITEM_BYTES 64

/* A child's argument, in handle memory so that it reaches the child under
 * every start method. */
struct ipc_arg {
    weft_pqueue *q;
    weft_conn *parent_end, *child_end;
    long n;
};

static weft_process *start_child(weft_process_fn fn, struct ipc_arg *a)
{
    weft_process *p;
    if (weft_process_new(&p, fn, a, NULL) != 0)
        return NULL;
    if (weft_process_start(p) != 0) {
        weft_process_free(p);
        return NULL;
    }
    return p;
}

static bool child_ok(weft_process *p)
{
    int code = -1;
    bool ok = weft_process_join(p, WEFT_FOREVER) == 0 && weft_process_exitcode(p, &code) == 0 &&
              code == 0;
    weft_process_free(p);
    return ok;
}

/* ------------------------------------------------- process queue */

static int queue_producer(void *arg)
{
    struct ipc_arg *a = arg;
    unsigned char item[ITEM_BYTES] = {0};
    for (long i = 0; i < a->n; i++) {
        memcpy(item, &i, sizeof i);
        if (weft_pqueue_put(a->q, item, sizeof item, WEFT_FOREVER) != 0)
            return 1;
    }
    return 0;
}

static double weft_queue_items(long n)
{
    struct ipc_arg *a = weft__handle_alloc(sizeof *a);
    if (!a || weft_pqueue_new(&a->q, NULL) != 0) {
        weft__handle_free(a);
        return -1;
    }
    a->n = n;
    weft_process *p = start_child(queue_producer, a);
    bool ok = p != NULL;
    double t0 = 0;
    for (long i = 0; ok && i < n; i++) {
        unsigned char item[ITEM_BYTES];
        size_t len;
        long v;
        ok = weft_pqueue_get(a->q, item, sizeof item, &len, WEFT_FOREVER) == 0 &&
             len == ITEM_BYTES && (memcpy(&v, item, sizeof v), v == i);
        if (i == 0)
            t0 = wb_now();
    }
    double dt = wb_now() - t0;
    if (p && !child_ok(p))
        ok = false;
    weft_pqueue_free(a->q);
    weft__handle_free(a);
    return ok ? dt / (double)(n - 1) : -1;
}

const wb_bench wb_process_queue = {
    .name = "process queue items/s",
    .what = "Process queue items/s: a producer process puts 64-byte items, the parent gets "
            "them (weft_pqueue with its default 1 MiB ring; Python multiprocessing.Queue). "
            "Figure: time per item, the inverse of items/s.",
    .unit = "ns",
    .n = 2000000,
    .runs = 5,
    .c = {
        {.name = "weft_pqueue", .run = weft_queue_items},
        {.name = "Python multiprocessing.Queue", .py_script = "ipc.py", .py_case = "queue",
         .py_n = 200000},
    },
};

WB_REGISTER(wb_process_queue, 500)

/* ------------------------------------------------------- pipe */

/* Echoes each message until an empty one. */
static int pipe_echo(void *arg)
{
    struct ipc_arg *a = arg;
    weft_conn_close(a->parent_end);
    unsigned char buf[ITEM_BYTES];
    for (;;) {
        size_t len;
        if (weft_conn_recv_bytes(a->child_end, buf, sizeof buf, &len, WEFT_FOREVER) != 0)
            return 1;
        if (len == 0)
            return 0;
        if (weft_conn_send_bytes(a->child_end, buf, len, WEFT_FOREVER) != 0)
            return 2;
    }
}

static double weft_pipe_roundtrip(long n)
{
    struct ipc_arg *a = weft__handle_alloc(sizeof *a);
    if (!a || weft_pipe(&a->parent_end, &a->child_end, true) != 0) {
        weft__handle_free(a);
        return -1;
    }
    weft_process *p = start_child(pipe_echo, a);
    bool ok = p != NULL && weft_conn_close(a->child_end) == 0;
    unsigned char msg[ITEM_BYTES] = {0}, back[ITEM_BYTES];
    double t0 = 0;
    /* Round trip 0 is the warm-up: the clock starts once it is back. */
    for (long i = 0; ok && i <= n; i++) {
        size_t len;
        memcpy(msg, &i, sizeof i);
        ok = weft_conn_send_bytes(a->parent_end, msg, sizeof msg, WEFT_FOREVER) == 0 &&
             weft_conn_recv_bytes(a->parent_end, back, sizeof back, &len, WEFT_FOREVER) == 0 &&
             len == ITEM_BYTES && memcmp(back, msg, ITEM_BYTES) == 0;
        if (i == 0)
            t0 = wb_now();
    }
    double dt = wb_now() - t0;
    if (p) {
        weft_conn_send_bytes(a->parent_end, NULL, 0, WEFT_FOREVER);
        if (!child_ok(p))
            ok = false;
    }
    weft_conn_free(a->parent_end);
    weft_conn_free(a->child_end);
    weft__handle_free(a);
    return ok ? dt / (double)n : -1;
}

const wb_bench wb_pipe_roundtrip = {
    .name = "pipe roundtrip",
    .what = "Pipe round trip: the parent sends a 64-byte message through a duplex pipe to a "
            "child that sends it back (weft_pipe; Python multiprocessing.Pipe with "
            "send_bytes/recv_bytes).",
    .unit = "us",
    .n = 200000,
    .runs = 5,
    .c = {
        {.name = "weft_pipe", .run = weft_pipe_roundtrip},
        {.name = "Python multiprocessing.Pipe", .py_script = "ipc.py", .py_case = "pipe",
         .py_n = 50000},
    },
};

WB_REGISTER(wb_pipe_roundtrip, 510)
