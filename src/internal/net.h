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
/* The owner plus the calls in flight (for tests). */
unsigned weft__socket_users(const weft_socket *s);

#endif
