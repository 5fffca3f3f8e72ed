/**
 * asyncio's streams for C: buffered reading and writing on a connection, and
 * servers that run a coroutine per connection.
 *
 * Python's asyncio gives a (reader, writer) pair; weft gives one
 * weft_stream that is both: the read calls are the StreamReader's, the
 * write calls the StreamWriter's. A stream is made for coroutines (every
 * wait suspends only the calling coroutine and is cancellable); a plain
 * thread may use it too, and then waits in poll(2).
 *
 * Reading: the stream reads from its socket into its own buffer, at most
 * `limit` bytes ahead (64 KiB by default, asyncio's). A call that timed
 * out or was cancelled consumed nothing: what arrived stays buffered for
 * the next call. One reader at a time, as asyncio's StreamReader: a read
 * that has to wait while another coroutine's read is waiting on the same
 * stream returns WEFT_ESTATE (Python's RuntimeError "called while another
 * coroutine is already waiting for incoming data").
 *
 * Writing: weft_stream_write never waits. It sends at once what the socket
 * takes and buffers the rest, which the stream's loop goes on sending in
 * the background (from a thread that runs no loop, the rest is sent by the
 * next drain or close). weft_stream_drain waits while more than the
 * high-water mark (64 KiB by default) is buffered: that is the
 * back-pressure of a slow reader. Errors of background sends (a reset
 * peer) are reported by the next write, drain or close.
 *
 * Python to weft:
 *
 *     asyncio.open_connection(host, port)   weft_open_connection(&st, host, port, NULL, timeout)
 *     asyncio.open_unix_connection(path)    weft_open_unix_connection(&st, path, NULL, timeout)
 *     reader.read(n) / read(-1)             weft_stream_read(st, buf, n, &got, timeout) /
 *                                           weft_stream_read_all(st, &buf, &len, max, timeout)
 *     reader.readexactly(n)                 weft_stream_readexactly(st, buf, n, &got, timeout)
 *     reader.readline()                     weft_stream_readline(st, buf, cap, &len, timeout)
 *     reader.readuntil(sep)                 weft_stream_readuntil(st, sep, seplen, buf, cap, &len, timeout)
 *     reader.at_eof()                       weft_stream_at_eof(st)
 *     IncompleteReadError                   WEFT_EEOF (the partial bytes are in buf, *got)
 *     LimitOverrunError                     WEFT_EMSGSIZE
 *     writer.write(data) / writelines       weft_stream_write(st, data, len)
 *     await writer.drain()                  weft_stream_drain(st, timeout)
 *     writer.write_eof() / can_write_eof()  weft_stream_write_eof(st) / weft_stream_can_write_eof(st)
 *     writer.close(); await wait_closed()   weft_stream_close(st, timeout), then weft_stream_free(st)
 *     writer.is_closing()                   weft_stream_is_closing(st)
 *     get_extra_info("peername"/"socket")   weft_stream_peername(st, &addr) / weft_stream_socket(st)
 *     asyncio.start_server(cb, host, port)  weft_server_start(&srv, cb, arg, host, port, &opts)
 *     server.serve_forever()                weft_server_serve_forever(srv)
 *     server.close(); await wait_closed()   weft_server_close(srv); weft_server_wait_closed(srv, timeout)
 *     server.sockets                        weft_server_sockets(srv, out, cap, &n)
 *
 * @file
 */
#ifndef WEFT_STREAM_H
#define WEFT_STREAM_H

#include "weft/common.h"
#include "weft/net.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct weft_stream weft_stream;

/** Stream options; all-zero (or NULL) means asyncio's defaults. */
typedef struct weft_stream_opts {
    size_t limit;      /**< read buffer limit and line-length limit (0: 64 KiB) */
    size_t high_water; /**< drain waits above this many buffered bytes (0: 64 KiB) */
    size_t low_water;  /**< ... until at most this many remain (0: high_water / 4) */
} weft_stream_opts;

/** A stream over `sock`, which it owns from now on (closed with it, also
 *  when this fails). sock may wrap a pipe (weft_socket_from_fd): then the
 *  stream is read-only or write-only as the pipe is. */
WEFT_API int weft_stream_new(weft_stream **out, weft_socket *sock, const weft_stream_opts *opts);

/** Connect to host:port (weft_create_connection) and make a stream. */
WEFT_API int weft_open_connection(weft_stream **out, const char *host, int port,
                                  const weft_stream_opts *opts, double timeout);
/** Connect to a Unix-domain socket at path and make a stream. */
WEFT_API int weft_open_unix_connection(weft_stream **out, const char *path,
                                       const weft_stream_opts *opts, double timeout);

/* ---------------------------------------------------------------- reading */

/** Read up to n bytes: as soon as some are there. *got == 0 only at the
 *  end of the stream, or for n == 0, which returns 0 at once without
 *  waiting (asyncio's read(0) returns b''; buf may be NULL then). */
WEFT_API int weft_stream_read(weft_stream *st, void *buf, size_t n, size_t *got, double timeout);
/** Read until the end of the stream into a new buffer (free() it): at most
 *  max bytes (WEFT_EMSGSIZE beyond, nothing consumed past max). */
WEFT_API int weft_stream_read_all(weft_stream *st, void **buf, size_t *len, size_t max,
                                  double timeout);
/** Read exactly n bytes. WEFT_EEOF if the stream ends first: the bytes read
 *  are in buf and *got (asyncio's IncompleteReadError.partial). On a
 *  timeout or cancellation nothing is consumed. n == 0 returns 0 at once
 *  (buf may be NULL then). */
WEFT_API int weft_stream_readexactly(weft_stream *st, void *buf, size_t n, size_t *got,
                                     double timeout);
/** Read up to and including the separator (seplen > 0) into buf. Longer
 *  than cap or than the stream's limit without the separator:
 *  WEFT_EMSGSIZE, and the bytes stay buffered (asyncio's
 *  LimitOverrunError). The end of the stream before the separator:
 *  WEFT_EEOF, with what was there in buf and *len (consumed). */
WEFT_API int weft_stream_readuntil(weft_stream *st, const void *sep, size_t seplen, void *buf,
                                   size_t cap, size_t *len, double timeout);
/** readuntil("\n"), except as asyncio's readline: at the end of the stream
 *  it returns 0 with the last partial line (*len == 0: nothing left), and
 *  over the limit it drops the too-long line's buffered bytes before
 *  failing with WEFT_EMSGSIZE. */
WEFT_API int weft_stream_readline(weft_stream *st, void *buf, size_t cap, size_t *len,
                                  double timeout);
/** True once the end of the stream was seen and the buffer is empty. */
WEFT_API bool weft_stream_at_eof(const weft_stream *st);

/* ---------------------------------------------------------------- writing */

/** Queue len bytes (copied): sends what the socket takes now, buffers the
 *  rest. Never waits. WEFT_ESTATE after write_eof or close; the error of
 *  an earlier background send (WEFT_EPIPE, WEFT_ECONNRESET) once the peer is
 *  gone. */
WEFT_API int weft_stream_write(weft_stream *st, const void *data, size_t len);
/** Wait while more than the high-water mark is buffered (then until the
 *  low-water mark); 0 at once below it. */
WEFT_API int weft_stream_drain(weft_stream *st, double timeout);
/** After the buffer is sent, shut down the writing side (the peer reads the
 *  end of the stream). WEFT_ENOTSUP where the transport cannot. */
WEFT_API int weft_stream_write_eof(weft_stream *st);
WEFT_API bool weft_stream_can_write_eof(const weft_stream *st);
/** True once close started (or the peer reset the connection). */
WEFT_API bool weft_stream_is_closing(const weft_stream *st);

/** asyncio's close() + wait_closed(): send what is buffered (for up to
 *  `timeout`; then the rest is dropped and WEFT_ETIMEDOUT returned) and
 *  close the socket, in every case. The stream stays readable (what was
 *  buffered) until freed; closing twice is 0. */
WEFT_API int weft_stream_close(weft_stream *st, double timeout);
/** Close (timeout 0) if not closed, and free the stream and its socket.
 *  NULL is allowed. */
WEFT_API void weft_stream_free(weft_stream *st);

/** The peer's address; the stream's socket (borrowed). */
WEFT_API int weft_stream_peername(const weft_stream *st, weft_sockaddr *a);
WEFT_API weft_socket *weft_stream_socket(const weft_stream *st);

/* ---------------------------------------------------------------- servers */

typedef struct weft_server weft_server;

/** A connection handler: runs as a task of the server's loop, one per
 *  connection. The server closes the stream after it returns (the handler
 *  must not). A failure (non-zero return) is reported through the loop's
 *  exception handler and closes only that connection. */
typedef int (*weft_connection_fn)(weft_stream *st, void *arg);

/** Server options; all-zero (or NULL) means the defaults. */
typedef struct weft_server_start_opts {
    weft_server_opts listen;  /**< family, backlog, reuse_port, dualstack_ipv6 */
    weft_stream_opts stream;  /**< for each connection's stream */
    size_t stack_size;        /**< handler tasks' stacks (0: the task default) */
} weft_server_start_opts;

/** Listen on host:port (port 0: the kernel picks) on the running loop
 *  (WEFT_ESTATE outside a coroutine) and start accepting at once: each
 *  connection runs fn(stream, arg) in its own task. Running out of
 *  descriptors (EMFILE) pauses accepting for a moment; it never stops the
 *  server or spins. With opts.listen.reuse_port, one server per loop (one
 *  loop per thread) may share a port: the kernel spreads connections. */
WEFT_API int weft_server_start(weft_server **out, weft_connection_fn fn, void *arg,
                               const char *host, int port, const weft_server_start_opts *opts);
/** The same on already listening sockets (adopted, closed with the
 *  server): asyncio's start_server(sock=...), for several addresses. */
WEFT_API int weft_server_start_sockets(weft_server **out, weft_connection_fn fn, void *arg,
                                       weft_socket *const *socks, size_t n,
                                       const weft_server_start_opts *opts);
/** Up to cap of the listening sockets (borrowed) and their count in *n. */
WEFT_API int weft_server_sockets(const weft_server *srv, weft_socket **out, size_t cap,
                                 size_t *n);
/** Suspend the calling coroutine until the server is closed (0) or the
 *  coroutine is cancelled (WEFT_ECANCELLED, and the server is closed, as
 *  asyncio's serve_forever). */
WEFT_API int weft_server_serve_forever(weft_server *srv);
/** Stop listening (the listening sockets are closed); connections already
 *  accepted go on. */
WEFT_API int weft_server_close(weft_server *srv);
/** Cancel the handlers still running (asyncio's close_clients/abort). */
WEFT_API int weft_server_close_clients(weft_server *srv);
/** Wait until the server is closed and every handler has returned. */
WEFT_API int weft_server_wait_closed(weft_server *srv, double timeout);
/** Connections being handled now. */
WEFT_API size_t weft_server_connections_len(const weft_server *srv);
/** Free a server: closes it if needed, cancels and awaits its handlers (on
 *  its loop's thread; from another thread while that loop runs it is
 *  reported through weft_report_error and left as it is). NULL is
 *  allowed. */
WEFT_API void weft_server_free(weft_server *srv);

#ifdef __cplusplus
}
#endif

#endif
