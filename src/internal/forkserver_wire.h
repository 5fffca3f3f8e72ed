/*
 * The forkserver start method's wire format: every message between the
 * parent, the server and a served child. forkserver.c speaks all three
 * sides; process.c reads the one message a running child's parent gets,
 * its exit code.
 *
 * One start:
 *   parent -> server (control socket, SOCK_SEQPACKET): a request, with one
 *       end of a fresh socketpair (the child socket) in SCM_RIGHTS;
 *   server: forks; the child keeps the child socket and closes every other
 *       fd it got from the server. The server keeps a copy of the child
 *       socket until it has reaped the child;
 *   parent -> child (child socket, a stream): the header, the name
 *       (name_len bytes), the arg bytes (arg_size of them), a mask byte
 *       saying which of fds 0, 1 and 2 the parent has open, with those
 *       attached in order, and weft__share_send's transfer;
 *   child -> parent: an ack (0 and its pid, with a pidfd of itself in
 *       SCM_RIGHTS; or an error code), then the child runs fn;
 *   server -> parent (same socket, through its copy): the exit code, once
 *       it has reaped the child. The parent reads it there, so no reader
 *       thread and no table of children is needed in the parent.
 *
 * The server, once started, writes one byte on the control socket to say
 * it is up.
 */
#ifndef WEFT_INTERNAL_FORKSERVER_WIRE_H
#define WEFT_INTERNAL_FORKSERVER_WIRE_H

#include <stdint.h>

#include "internal/fnref.h"

/* parent -> server, on the control socket, with the child socket attached. */
struct weft__forkserver_request {
    uint32_t daemon;
};

#define WEFT__FORKSERVER_MAGIC 0x5745465446534844ull /* "WEFTFSHD" */
#define WEFT__FORKSERVER_NAME_MAX 4096 /* name_len stays below it */

/* parent -> child, first on the child socket. fn goes as a function
 * reference (internal/fnref.h): the object that contains it and the offset
 * in it, since the server's layout is not ours (ASLR). The program's own
 * functions always resolve there; a library's resolve if the server loaded
 * it too (the program's dependencies do, one it dlopen'ed does not). */
struct weft__forkserver_header {
    uint64_t magic; /* WEFT__FORKSERVER_MAGIC */
    weft__fnref fn;
    uint64_t arg_size;
    uint64_t arg_value; /* the pointer value, when arg_size is 0 */
    uint32_t name_len;
    int32_t parent_pid;
    uint32_t daemon;
    uint32_t layout_taken; /* tests: the child acks WEFT__FORKSERVER_LAYOUT_TAKEN */
};

/* On the child socket towards the parent: the child's ack (or the
 * server's, when it could not fork), or the exit code from the server. */
enum { WEFT__FORKSERVER_ACK = 1, WEFT__FORKSERVER_EXIT = 2 };
struct weft__forkserver_msg {
    int32_t kind;
    int32_t value; /* ACK: 0 or a WEFT_E* code; EXIT: the exit code */
    int32_t pid;
};

/* An ack's value besides the WEFT_E* codes: weft's shared memory could not
 * be placed at the parent's addresses, because the server's own mappings
 * (its libraries, heap and stacks, laid out at random by the kernel) are
 * there. Every child of that server would fail the same way: the parent
 * retires the server and starts a fresh one, laid out differently. */
#define WEFT__FORKSERVER_LAYOUT_TAKEN (-4090)

#endif
