/*
 * weft/ipc.h - pipes and process queues: multiprocessing's Pipe, Queue and
 * JoinableQueue, for messages of bytes between processes started with
 * weft/process.h.
 *
 * Python to weft:
 *   a, b = Pipe(duplex)             weft_pipe(&a, &b, duplex)
 *   c.send_bytes(buf)               weft_conn_send_bytes(c, buf, len, timeout)
 *   c.recv_bytes(maxlength)         weft_conn_recv_bytes_alloc(c, &buf, &len, maxlen, timeout)
 *   c.recv_bytes_into(buf)          weft_conn_recv_bytes(c, buf, cap, &len, timeout)
 *   c.poll(timeout)                 weft_conn_poll(c, timeout): 0 for True, WEFT_ETIMEDOUT for False
 *   c.fileno()                      weft_conn_fileno(c)
 *   c.close()                       weft_conn_close(c), then weft_conn_free(c)
 *   EOFError                        WEFT_EEOF
 *   BrokenPipeError                 WEFT_EPIPE
 *   Queue(maxsize)                  weft_pqueue_new(&q, &opts) (opts.maxsize)
 *   JoinableQueue(maxsize)          the same with opts.joinable
 *   q.put(obj, timeout=t)           weft_pqueue_put(q, buf, len, t)
 *   q.put_nowait(obj)               weft_pqueue_put(q, buf, len, 0)
 *   q.get(timeout=t)                weft_pqueue_get_alloc(q, &buf, &len, t)
 *                                   or weft_pqueue_get(q, buf, cap, &len, t)
 *   q.get_nowait()                  weft_pqueue_get(q, buf, cap, &len, 0)
 *   queue.Full / queue.Empty        WEFT_ETIMEDOUT
 *   q.qsize() / empty() / full()    weft_pqueue_qsize / _empty / _full
 *   q.task_done() / q.join()        weft_pqueue_task_done / weft_pqueue_join
 *   q.close()                       weft_pqueue_close(q), then weft_pqueue_free(q)
 *
 * Messages are bytes: weft does not pickle. A program sends what it can
 * lay out in bytes (fixed-size structs, strings, its own encoding); a
 * pointer means nothing in another process.
 *
 * Passing to children: a connection or a queue is a pointer that a child
 * started by weft_process_start after its creation can use, under every
 * start method, as Python passes them in `args`: weft keeps each object's
 * per-process part (its fds, its flags) in memory that children get a copy
 * of, and its cross-process part in shared memory. Objects created in a
 * child after its start are that child's own.
 *
 * Timeouts: every call that can block takes a timeout in seconds:
 * WEFT_FOREVER waits without end, 0 polls (one attempt, no wait); an
 * invalid one (NaN, negative) is WEFT_EINVAL, like any NULL argument.
 *
 * Coroutines (weft/loop.h): a Pipe end is a file descriptor and waits as a
 * socket does: a send, receive or poll that must wait suspends only its
 * coroutine, and the loop runs its other tasks meanwhile. Cancelling the
 * task ends a wait for a message to start (WEFT_ECANCELLED; nothing was
 * sent or consumed); a message already begun is sent or received to its
 * end first, the cancellation held until the task's next wait. A process
 * queue waits on words in shared memory, which no loop can watch: inside
 * a coroutine its calls block the loop's whole thread (for its lock, even
 * with timeout 0, and for the queue's state with any other timeout); call
 * them through weft_to_thread, or give them timeout 0.
 *
 * Threads: a weft_pqueue may be used by any number of threads of any number
 * of processes at once. A weft_conn is like Python's Connection: one thread
 * at a time per connection in a process, and one sender at a time (and one
 * receiver at a time) per end across the processes that share it; two
 * concurrent senders on one end could interleave the bytes of their
 * messages. Use a queue for many producers or consumers.
 */
#ifndef WEFT_IPC_H
#define WEFT_IPC_H

#include <stdbool.h>
#include <stddef.h>

#include "weft/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------ Pipe */

/** One end of a pipe. */
typedef struct weft_conn weft_conn;

/**
 * Make a pipe: two connected ends that exchange whole messages of bytes.
 * With `duplex`, both ends send and receive; without it, as Python, `*a`
 * only receives and `*b` only sends (the wrong direction is WEFT_EINVAL).
 * WEFT_EMFILE when out of fds, WEFT_ENOMEM; nothing is created then.
 *
 * Per-process ends, as Python's: each process that has an end (the creator
 * and the children it started afterwards) has its own copy of it, and
 * closing it closes only that copy. A receiver sees EOF once every copy of
 * the other end, in every process, is closed (or its process has exited):
 * a process that only receives should close its copy of the sending end,
 * or it will never see EOF.
 */
WEFT_API int weft_pipe(weft_conn **a, weft_conn **b, bool duplex);

/**
 * Send one message of `len` bytes (`buf` may be NULL when len is 0; empty
 * messages are messages). Returns 0 once the whole message is handed to
 * the kernel (not once it is received).
 *
 * WEFT_EPIPE: the other end is closed everywhere (no SIGPIPE is raised).
 * WEFT_ETIMEDOUT: the timeout passed before any byte of the message was
 * sent; nothing was sent and the connection stays usable.
 * WEFT_EBROKEN: the timeout passed (or the system failed) after part of a
 * large message was sent. The message is cut and this end's sending
 * direction is broken for good: weft shuts it down (for every process that
 * shares the end), so the receiver reads what was sent of the message,
 * then gets WEFT_EBROKEN (never a misread message), and every later send
 * on this end is WEFT_EBROKEN (WEFT_EPIPE in other processes' copies).
 * Messages sent before are received whole.
 * WEFT_EMSGSIZE for a length the system cannot send (over SSIZE_MAX - 8).
 * WEFT_EINVAL for NULL, a bad timeout or a receive-only end; WEFT_ESTATE
 * once this end is closed in this process.
 */
WEFT_API int weft_conn_send_bytes(weft_conn *c, const void *buf, size_t len, double timeout);

/**
 * Receive one message into `buf` (`cap` bytes; buf may be NULL when cap is
 * 0): 0 and *len its length.
 *
 * WEFT_EMSGSIZE: the message is longer than cap. *len is set to its length
 * and the message stays first in line, unread: call again with a buffer of
 * that size, or weft_conn_recv_bytes_alloc. (Until then every receive
 * gives WEFT_EMSGSIZE again; the connection is not otherwise harmed.)
 * WEFT_EEOF: every copy of the other end is closed and every message sent
 * was received. WEFT_EBROKEN: the sender cut a message (see send) or the
 * stream is corrupt; nothing more can be received.
 * WEFT_ETIMEDOUT: no message began to arrive before the timeout (0 polls).
 * The timeout bounds the wait for a message to start: a sender writes a
 * message whole, so once its first bytes are here the call reads it to its
 * end (the sender's own timeout ends a send that stalls half-way, which
 * this end sees as WEFT_EBROKEN).
 * WEFT_EINVAL for NULL, a bad timeout or a send-only end; WEFT_ESTATE once
 * this end is closed in this process.
 */
WEFT_API int weft_conn_recv_bytes(weft_conn *c, void *buf, size_t cap, size_t *len,
                                  double timeout);

/**
 * Receive one message into memory weft allocates with malloc (the caller
 * frees it with free(); a buffer is returned for an empty message too).
 * A message longer than `maxlen` is WEFT_EMSGSIZE, with *len set to its
 * length and the message left first in line, as weft_conn_recv_bytes:
 * the limit keeps a peer from making this process allocate without bound.
 * WEFT_ENOMEM leaves the message in line too. Other results as
 * weft_conn_recv_bytes; on any failure *buf is left unchanged.
 */
WEFT_API int weft_conn_recv_bytes_alloc(weft_conn *c, void **buf, size_t *len, size_t maxlen,
                                        double timeout);

/**
 * Python's poll(timeout): whether a receive would return at once. 0 (True)
 * if a message (or its start) is here, or EOF, or a broken stream (the
 * receive reports which); WEFT_ETIMEDOUT (False) if nothing came before
 * the timeout (0 polls), as every wait of the grammar. WEFT_EINVAL /
 * WEFT_ESTATE as the receives (a negative timeout, which Python takes as
 * 0, is WEFT_EINVAL).
 */
WEFT_API int weft_conn_poll(weft_conn *c, double timeout);

/** Python's fileno(): this process's descriptor of the end, for poll(2) or
 *  epoll beside other fds (a process's sentinel, say: Python's
 *  multiprocessing.connection.wait). Readable means a receive may go on; a
 *  message whose length a receive already read (WEFT_EMSGSIZE) is not
 *  seen there, weft_conn_poll is exact. Do not read, write or close it.
 *  -1 once closed in this process, and for NULL. */
WEFT_API int weft_conn_fileno(const weft_conn *c);

/** Close this process's copy of the end (Python's close()). Later calls on
 *  it in this process are WEFT_ESTATE; other processes' copies stay open.
 *  Closing twice is 0; NULL is WEFT_EINVAL. */
WEFT_API int weft_conn_close(weft_conn *c);

/** Close this process's copy if still open and release it. NULL allowed.
 *  No other thread may be using it. */
WEFT_API void weft_conn_free(weft_conn *c);

/* ---------------------------------------------------- process Queue */

/** A queue of byte messages shared by processes (multiprocessing.Queue,
 *  or JoinableQueue with opts.joinable). */
typedef struct weft_pqueue weft_pqueue;

/** The shared ring's byte capacity when opts.capacity is 0: 1 MiB. */
#define WEFT_PQUEUE_DEFAULT_CAPACITY ((size_t)1 << 20)

/** Options; a zero-initialised struct (or NULL) means "as Python does"
 *  (unbounded by count, not joinable) with the default byte capacity. */
typedef struct weft_pqueue_opts {
    /** Most items at once; 0: no limit by count (Python's maxsize <= 0). */
    size_t maxsize;
    /** Bytes of the shared ring that holds the items, all of it allocated
     *  at creation (0: WEFT_PQUEUE_DEFAULT_CAPACITY; rounded up to 64, at
     *  least 64). Each item takes its length plus 8 bytes, rounded up to 8;
     *  a put waits while the ring lacks room, so a queue's memory is
     *  bounded whatever maxsize says. The largest item is capacity - 8
     *  bytes (weft_pqueue_max_item). */
    size_t capacity;
    /** JoinableQueue: task_done and join work (WEFT_ESTATE otherwise). */
    bool joinable;
} weft_pqueue_opts;

/**
 * Create a queue: its ring in shared memory, owned by the calling process.
 * WEFT_EINVAL for NULL out or a capacity too large to map; WEFT_ENOMEM.
 *
 * Many producer and consumer processes (and threads) may use it at once.
 * The queue's lock is a robust process-shared mutex: a process that dies
 * while holding it (killed in the middle of a put or get) does not wedge
 * the queue, and a get commits its removal only after the item is copied
 * out, so an item whose consumer died mid-get stays in the queue for the
 * others. A put that dies before its end never happened. The lock is held
 * for one copy at a time; a call with timeout 0 waits for it as for any
 * internal lock and fails only on the queue's state (empty, full). A
 * process stopped (SIGSTOP) while holding it stalls the others' calls
 * until it continues, except calls with a positive timeout, which end.
 */
WEFT_API int weft_pqueue_new(weft_pqueue **out, const weft_pqueue_opts *opts);

/**
 * Release this process's handle. In the process that created the queue
 * this also frees the shared ring: do it once the other processes are
 * done with the queue (joined). In a child it releases only the child's
 * handle (share's Ownership rule), so a child's clean-up never pulls the
 * ring from under its parent. NULL allowed; no other thread of this
 * process may be using it.
 */
WEFT_API void weft_pqueue_free(weft_pqueue *q);

/** Python's close(): this process will use the queue no more; its later
 *  calls on it are WEFT_ESTATE (other processes are not affected, and the
 *  items stay). Closing twice is 0. */
WEFT_API int weft_pqueue_close(weft_pqueue *q);

/**
 * Put one item of `len` bytes (buf may be NULL when len is 0), waiting
 * while the queue is full (maxsize items, or too few free bytes in the
 * ring) up to the timeout: 0 or WEFT_ETIMEDOUT. An item larger than
 * weft_pqueue_max_item is WEFT_EMSGSIZE at once (it could never fit).
 * A failed put leaves the queue unchanged.
 */
WEFT_API int weft_pqueue_put(weft_pqueue *q, const void *buf, size_t len, double timeout);

/**
 * Get the oldest item into `buf` (`cap` bytes; buf may be NULL when cap is
 * 0): 0 and *len its length, or WEFT_ETIMEDOUT when none came in time.
 * An item longer than cap is WEFT_EMSGSIZE with *len set to its length;
 * it stays first in the queue (another consumer may take it meanwhile).
 */
WEFT_API int weft_pqueue_get(weft_pqueue *q, void *buf, size_t cap, size_t *len,
                             double timeout);
/** get into memory weft allocates with malloc (the caller frees it; a
 *  buffer is returned for an empty item too). WEFT_ENOMEM leaves the item
 *  in the queue; *buf is unchanged on any failure. */
WEFT_API int weft_pqueue_get_alloc(weft_pqueue *q, void **buf, size_t *len, double timeout);

/** Items in the queue now; approximate, as in Python (others may change
 *  it at once). 0 for NULL or a closed handle. */
WEFT_API size_t weft_pqueue_qsize(const weft_pqueue *q);
WEFT_API bool weft_pqueue_empty(const weft_pqueue *q);
/** True when maxsize items are in (a ring too full for a given item is
 *  not reported here: put tells). */
WEFT_API bool weft_pqueue_full(const weft_pqueue *q);
/** The largest item a put accepts: the ring's capacity minus 8. */
WEFT_API size_t weft_pqueue_max_item(const weft_pqueue *q);

/** JoinableQueue: mark one item got earlier as processed. More task_done
 *  calls than items put is WEFT_EOVERFLOW (Python's ValueError) and
 *  changes nothing; WEFT_ESTATE on a queue that is not joinable. */
WEFT_API int weft_pqueue_task_done(weft_pqueue *q);
/** JoinableQueue: wait until every item ever put, by any process, has had
 *  its task_done: 0 or WEFT_ETIMEDOUT (0 polls). WEFT_ESTATE on a queue
 *  that is not joinable. */
WEFT_API int weft_pqueue_join(weft_pqueue *q, double timeout);

#ifdef __cplusplus
}
#endif

#endif
