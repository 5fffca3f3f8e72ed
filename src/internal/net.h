/*
 * What streams and subprocesses need of a weft_socket beyond weft/net.h:
 * its fdw (to hook the loop's readiness edges) and its count of users (so
 * that work done on a socket outside a net.c call is also safe against a
 * concurrent close).
 */
#ifndef WEFT_INTERNAL_NET_H
#define WEFT_INTERNAL_NET_H

#include <stdbool.h>

#include "internal/fdwait.h"
#include "weft/net.h"

weft__fdw *weft__socket_fdw(weft_socket *s);
/* Enter and leave a stretch of use: 0, or -EBADF once closed. The socket
 * is not freed before the matching end. */
int weft__socket_user_begin(weft_socket *s);
int weft__socket_user_end(weft_socket *s);
bool weft__socket_is_closed(const weft_socket *s);
/* One attempt, never waiting: 0 with *n bytes moved (*n == 0 from recv
 * is the end of the stream), WEFT_EAGAIN if the socket is not ready, or
 * the error. The caller is a user of the socket (or its owner). */
int weft__socket_send_now(weft_socket *s, const void *buf, size_t len, size_t *n);
int weft__socket_recv_now(weft_socket *s, void *buf, size_t len, size_t *n);
/* True for a real socket (not a pipe adopted by from_fd). */
bool weft__socket_is_socket(const weft_socket *s);
/* The calls in flight (for tests). */
unsigned weft__socket_users(const weft_socket *s);

#endif
