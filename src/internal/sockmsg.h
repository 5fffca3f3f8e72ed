/*
 * Whole messages over a Unix socket, fds attached: what the fork server and
 * the handle heap's hand-over to a child (share.c) send and receive. Every
 * call retries EINTR and turns any other errno into a weft code through
 * `code`, the caller's own mapping (a failed start and a failed hand-over
 * mean different things to their callers).
 */
#ifndef WEFT_INTERNAL_SOCKMSG_H
#define WEFT_INTERNAL_SOCKMSG_H

#include <stddef.h>

/* The most fds one message carries (under the kernel's SCM_MAX_FD). */
#define WEFT__SOCK_FDS_MAX 250

typedef int (*weft__errno_map)(int err);

/* Send all len bytes (MSG_NOSIGNAL): 0 or code(errno). */
int weft__sock_send_all(int sock, const void *buf, size_t len, weft__errno_map code);
/* Receive exactly len bytes: 0, WEFT_EEOF at the end of the stream first,
 * or code(errno). */
int weft__sock_recv_all(int sock, void *buf, size_t len, weft__errno_map code);
/* One message of len bytes with nfds fds (0..WEFT__SOCK_FDS_MAX) attached:
 * 0, WEFT_EPIPE when only part of it went, or code(errno). */
int weft__sock_send_fds(int sock, const void *buf, size_t len, const int *fds, int nfds,
                        weft__errno_map code);
/* Receive exactly len bytes (a stream may split them) and the fds that
 * come with them, close-on-exec: up to max into fds (-1 where none came),
 * any beyond closed. Returns how many came (0..max), or WEFT_EEOF or
 * code(errno) with the fds received so far closed. */
int weft__sock_recv_fds(int sock, void *buf, size_t len, int *fds, int max, weft__errno_map code);

#endif
