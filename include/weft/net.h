/**
 * sockets for threads and coroutines: Python's socket module and asyncio's
 * loop.sock_* calls in one set of functions.
 *
 * A weft_socket is a non-blocking, close-on-exec socket. Every call that
 * can wait takes a timeout (seconds; WEFT_FOREVER; 0 tries once). Inside a
 * coroutine a call that would block suspends only the coroutine until the
 * socket is ready (the socket is registered with the coroutine's loop the
 * first time, edge-triggered, and stays registered: no system call per
 * wait); the task's cancellation ends the wait with WEFT_ECANCELLED. In a
 * plain thread the call waits in poll(2). A call that timed out or was
 * cancelled has done nothing: the socket stays usable.
 *
 * One loop per socket: once a coroutine of one loop has waited on a
 * socket, a coroutine of another loop gets WEFT_ESTATE from a call that
 * must wait (threads may use it at any time). Freeing the loop releases
 * the socket for another.
 *
 * Errors are the system's, each with its code in the table (WEFT_ECONNREFUSED,
 * WEFT_ECONNRESET, WEFT_EADDRINUSE, ...), WEFT_EINVAL for bad input,
 * WEFT_ETIMEDOUT, WEFT_ECANCELLED.
 *
 * Closing: weft_socket_close closes the socket (Python's close()). Calls in
 * flight in other threads or coroutines end with WEFT_EBADF (coroutines
 * waiting on it at once; a thread's poll is woken by shutting the socket
 * down; a call that had already received data returns it), and the
 * descriptor is closed when the last of them returns, so it is never
 * reused under a call still running. Calls after close are WEFT_EBADF;
 * the weft_socket itself stays until weft_socket_free. A socket registered with a loop that runs on another thread may be closed
 * from here only while that loop is not being freed (loop.h's rule for
 * calls from other threads): its clean-up is handed to that loop.
 *
 * Python to weft:
 *
 *     socket.socket(family, type)      weft_socket_new(&s, family, type)
 *     socket.socket(fileno=fd)         weft_socket_from_fd(&s, fd)
 *     s.bind / listen / fileno         weft_socket_bind / _listen / _fd
 *     s.connect, loop.sock_connect     weft_socket_connect(s, &addr, timeout)
 *     s.accept, loop.sock_accept       weft_socket_accept(s, &c, &peer, timeout)
 *     s.recv_into, loop.sock_recv_into weft_socket_recv(s, buf, len, &n, timeout)
 *     s.send / sendall                 weft_socket_send / weft_socket_sendall
 *     s.recvfrom_into / sendto         weft_socket_recvfrom / weft_socket_sendto
 *     s.shutdown / close               weft_socket_shutdown / weft_socket_close
 *     s.getsockname / getpeername      weft_socket_getsockname / _getpeername
 *     s.setsockopt / getsockopt        weft_socket_setsockopt / _getsockopt
 *     socket.create_connection         weft_create_connection(&s, host, port, timeout)
 *     socket.create_server             weft_create_server(&s, host, port, &opts)
 *     socket.getaddrinfo, loop.getaddrinfo
 *                                      weft_getaddrinfo(host, port, family, type, flags, &ai, timeout)
 *     socket.timeout / TimeoutError    WEFT_ETIMEDOUT
 *
 * @file
 */
#ifndef WEFT_NET_H
#define WEFT_NET_H

#include <sys/socket.h>

#include "weft/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------ addresses */

/** A socket address of any family, by value. */
typedef struct weft_sockaddr {
    struct sockaddr_storage ss; /**< the address (AF_INET, AF_INET6, AF_UNIX) */
    socklen_t len;              /**< its length */
} weft_sockaddr;

/** An IPv4 or IPv6 address from a numeric host ("127.0.0.1", "::1",
 *  "fe80::1%eth0") and a port (0..65535). NULL or "" is the IPv4 wildcard
 *  0.0.0.0, "::" the IPv6 one. Names are not resolved here (WEFT_EINVAL;
 *  use weft_getaddrinfo). */
WEFT_API int weft_sockaddr_ip(weft_sockaddr *a, const char *host, int port);
/** A Unix-domain address (WEFT_EMSGSIZE if the path does not fit). */
WEFT_API int weft_sockaddr_unix(weft_sockaddr *a, const char *path);
/** Write "127.0.0.1:80", "[::1]:80" or the Unix path into buf (always
 *  terminated). WEFT_EMSGSIZE if it did not fit (truncated). */
WEFT_API int weft_sockaddr_format(const weft_sockaddr *a, char *buf, size_t len);
/** The port of an IP address; 0 for an address without one (Unix, NULL). */
WEFT_API int weft_sockaddr_port(const weft_sockaddr *a);

/* -------------------------------------------------------------- sockets */

typedef struct weft_socket weft_socket;

/** A new socket: family AF_INET, AF_INET6 or AF_UNIX, type SOCK_STREAM or
 *  SOCK_DGRAM. */
WEFT_API int weft_socket_new(weft_socket **out, int family, int type);
/** Adopt an open descriptor (a socket, or a pipe or other stream fd: then
 *  recv/send read and write it). It is made non-blocking and belongs to
 *  the weft_socket from now on, also when this fails (it is closed). */
WEFT_API int weft_socket_from_fd(weft_socket **out, int fd);
/** Close (see "Closing" above): 0, or the error close(2) reported; closing
 *  twice is 0. */
WEFT_API int weft_socket_close(weft_socket *s);
/** Close if open, and release the socket. NULL is allowed. */
WEFT_API void weft_socket_free(weft_socket *s);

/** The descriptor (for setsockopt and the like; do not close it), -1 once
 *  closed (and for NULL). */
WEFT_API int weft_socket_fd(const weft_socket *s);
/** AF_* of the socket (AF_UNSPEC for an fd that is not a socket, and for
 *  NULL). */
WEFT_API int weft_socket_family(const weft_socket *s);
/** SOCK_STREAM or SOCK_DGRAM (0 for an fd that is not a socket, and for
 *  NULL). */
WEFT_API int weft_socket_type(const weft_socket *s);

WEFT_API int weft_socket_bind(weft_socket *s, const weft_sockaddr *a);
/** Listen; backlog 0 means SOMAXCONN. */
WEFT_API int weft_socket_listen(weft_socket *s, int backlog);
/** Connect within `timeout` (a stream socket's connect that fails is
 *  reported with the socket's error: WEFT_ECONNREFUSED ...). A connect that
 *  timed out or was cancelled leaves the socket in an unspecified state:
 *  close it (as Python). */
WEFT_API int weft_socket_connect(weft_socket *s, const weft_sockaddr *a, double timeout);
/** Accept one connection into *out (non-blocking, close-on-exec); its
 *  peer's address in *peer if not NULL. */
WEFT_API int weft_socket_accept(weft_socket *s, weft_socket **out, weft_sockaddr *peer,
                                double timeout);

/** Receive up to len bytes (len > 0): 0 with *n > 0, or *n == 0 at the end
 *  of the stream (the peer shut down its side). */
WEFT_API int weft_socket_recv(weft_socket *s, void *buf, size_t len, size_t *n, double timeout);
/** Send some of buf (at least one byte when it returns 0): *n tells how
 *  many. WEFT_EPIPE once the peer is gone (SIGPIPE is never raised). */
WEFT_API int weft_socket_send(weft_socket *s, const void *buf, size_t len, size_t *n,
                              double timeout);
/** Send all of buf; the timeout covers the whole call. On an error or a
 *  timeout some bytes may have gone: *sent (if not NULL) tells how many. */
WEFT_API int weft_socket_sendall(weft_socket *s, const void *buf, size_t len, size_t *sent,
                                 double timeout);
/** Receive one datagram (truncated to len, as recvfrom) and its sender. */
WEFT_API int weft_socket_recvfrom(weft_socket *s, void *buf, size_t len, size_t *n,
                                  weft_sockaddr *from, double timeout);
/** Send one datagram to `to` (NULL: the connected peer). */
WEFT_API int weft_socket_sendto(weft_socket *s, const void *buf, size_t len,
                                const weft_sockaddr *to, double timeout);
/** Shut down reading (SHUT_RD), writing (SHUT_WR) or both (SHUT_RDWR). */
WEFT_API int weft_socket_shutdown(weft_socket *s, int how);

WEFT_API int weft_socket_getsockname(const weft_socket *s, weft_sockaddr *a);
WEFT_API int weft_socket_getpeername(const weft_socket *s, weft_sockaddr *a);
WEFT_API int weft_socket_setsockopt(weft_socket *s, int level, int name, const void *val,
                                    size_t len);
WEFT_API int weft_socket_getsockopt(const weft_socket *s, int level, int name, void *val,
                                    size_t *len);

/* ---------------------------------------------------- names and helpers */

/** One result of weft_getaddrinfo, in the resolver's order. */
typedef struct weft_addrinfo {
    struct weft_addrinfo *next;
    int family, type, protocol;
    weft_sockaddr addr;
    char *canonname; /**< with AI_CANONNAME, on the first entry; else NULL */
} weft_addrinfo;

/** Resolve host (a name or a numeric address; NULL with AI_PASSIVE: the
 *  wildcard) and port with getaddrinfo(3) on the default thread pool, so
 *  that a coroutine's loop is never blocked; family AF_UNSPEC/AF_INET/
 *  AF_INET6, type 0/SOCK_STREAM/SOCK_DGRAM, flags AI_*. The list in *out
 *  is freed with weft_addrinfo_free. A cancelled or timed-out call stops
 *  waiting; the lookup finishes in the background and its result is
 *  dropped. Resolver errors: a name that does not exist (EAI_NONAME,
 *  EAI_NODATA) is WEFT_ENOENT, a temporary failure (EAI_AGAIN)
 *  WEFT_EAGAIN, EAI_MEMORY WEFT_ENOMEM, EAI_SYSTEM the errno, bad
 *  family/type/flags WEFT_EINVAL, any other failure WEFT_EIO. */
WEFT_API int weft_getaddrinfo(const char *host, int port, int family, int type, int flags,
                              weft_addrinfo **out, double timeout);
WEFT_API void weft_addrinfo_free(weft_addrinfo *ai);

/** Connect a TCP socket to host:port: resolve, then try each address in
 *  turn; the timeout covers the whole call. The last address's error if
 *  none connects. TCP_NODELAY is set, as asyncio does. */
WEFT_API int weft_create_connection(weft_socket **out, const char *host, int port,
                                    double timeout);

/** Options of weft_create_server; all-zero (or NULL) is Python's default. */
typedef struct weft_server_opts {
    int family;          /**< 0: from host (NULL host: IPv6 wildcard with IPv4 too where
                              possible, else IPv4); AF_INET, AF_INET6 or AF_UNIX
                              (host is then the path, port ignored) */
    int backlog;         /**< 0: SOMAXCONN */
    bool reuse_port;     /**< SO_REUSEPORT: several sockets (one per loop) share the port */
    bool dualstack_ipv6; /**< an IPv6 socket that takes IPv4 too */
} weft_server_opts;

/** A listening TCP (or Unix) socket bound to host:port (port 0: the kernel
 *  picks; read it back with weft_socket_getsockname), SO_REUSEADDR on. */
WEFT_API int weft_create_server(weft_socket **out, const char *host, int port,
                                const weft_server_opts *opts);

#ifdef __cplusplus
}
#endif

#endif
