/**
 * blocking queues (Python's queue module): Queue (FIFO), LifoQueue,
 * PriorityQueue, and SimpleQueue.
 *
 * Items are `void *`. A queue never frees, copies or looks inside an item
 * (except a PriorityQueue's comparator): ownership passes from the putter to
 * whoever gets the item. Items still in a queue when it is freed are the
 * caller's to drain first (or to lose).
 *
 * Every put and get takes its timeout last, as every wait in weft does:
 * WEFT_FOREVER waits without end, 0 polls, a positive value waits at most
 * that long; a put that finds no room, or a get that finds no item, by its
 * deadline returns WEFT_ETIMEDOUT (Python's queue.Full and queue.Empty).
 * A NULL queue, a NULL `item` out-pointer or an invalid timeout (negative
 * other than WEFT_FOREVER, NaN) is WEFT_EINVAL; storage that cannot grow is
 * WEFT_ENOMEM. A failed call leaves the queue (and *item) unchanged. NULL is
 * a valid item.
 * After weft_queue_shutdown, put fails with WEFT_ESHUTDOWN, and get drains
 * what is left, then fails with WEFT_ESHUTDOWN (immediate: at once).
 *
 * All of them are safe from any number of threads at once, and wait through
 * park (and so suspend only the calling coroutine inside one).
 *
 * A put into an empty queue while getters wait hands the item to the one
 * that has waited longest: it never takes room in the queue (qsize stays 0)
 * but counts for join. A getter handed an item returns it even if its
 * coroutine was cancelled meanwhile; the cancellation comes at its next
 * wait.
 *
 * Python to weft:
 *
 *     queue.Queue(maxsize)              weft_queue_new(&q, maxsize)
 *     queue.LifoQueue(maxsize)          weft_lifo_queue_new(&q, maxsize)
 *     queue.PriorityQueue(maxsize)      weft_priority_queue_new(&q, maxsize, cmp, ctx)
 *     queue.SimpleQueue()               weft_simple_queue_new(&q)
 *     q.put(x) / q.get()                weft_queue_put(q, x, WEFT_FOREVER) / weft_queue_get(q, &x, WEFT_FOREVER)
 *     q.put(x, timeout=t) / q.get(timeout=t)   weft_queue_put(q, x, t) / weft_queue_get(q, &x, t)
 *     q.put_nowait / q.get_nowait       weft_queue_put(q, x, 0) / weft_queue_get(q, &x, 0)
 *     queue.Full / queue.Empty          WEFT_ETIMEDOUT
 *     q.task_done() / q.join()          weft_queue_task_done / weft_queue_join
 *     q.shutdown(immediate)             weft_queue_shutdown(q, immediate, drop)
 *     queue.ShutDown                    WEFT_ESHUTDOWN
 *
 * @file
 */
#ifndef WEFT_QUEUE_H
#define WEFT_QUEUE_H

#include "weft/common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct weft_queue weft_queue;

/** Ordering of a PriorityQueue: negative if a comes out before b. Items that
 *  compare equal come out in the order they were put. It runs under the
 *  queue's internal lock: it must not call into the same queue. */
typedef int (*weft_compare_fn)(const void *a, const void *b, void *ctx);

/** A FIFO queue; maxsize 0 means unbounded. */
WEFT_API int weft_queue_new(weft_queue **out, size_t maxsize);
/** A LIFO queue (a stack); maxsize 0 means unbounded. */
WEFT_API int weft_lifo_queue_new(weft_queue **out, size_t maxsize);
/** A priority queue ordered by cmp (not NULL); lowest first. */
WEFT_API int weft_priority_queue_new(weft_queue **out, size_t maxsize, weft_compare_fn cmp,
                                     void *ctx);
/** An unbounded FIFO without task tracking: the fastest path.
 *  weft_queue_task_done and weft_queue_join on it are WEFT_ESTATE. Unlike
 *  Python's SimpleQueue.put, which may be called from a signal handler or
 *  a __del__ that interrupts another put, a put takes the queue's lock:
 *  not from a signal handler (use a pipe or an eventfd there). */
WEFT_API int weft_simple_queue_new(weft_queue **out);
/** Free the queue. No thread may be using it. NULL is allowed. */
WEFT_API void weft_queue_free(weft_queue *q);

/** Put item, waiting up to `timeout` for room: 0 or WEFT_ETIMEDOUT. */
WEFT_API int weft_queue_put(weft_queue *q, void *item, double timeout);
/** Take the next item into *item, waiting up to `timeout` for one: 0 or
 *  WEFT_ETIMEDOUT. */
WEFT_API int weft_queue_get(weft_queue *q, void **item, double timeout);

/** Approximate, as in Python: other threads may change it at once. */
WEFT_API size_t weft_queue_qsize(const weft_queue *q);
WEFT_API bool weft_queue_empty(const weft_queue *q);
WEFT_API bool weft_queue_full(const weft_queue *q);
WEFT_API size_t weft_queue_maxsize(const weft_queue *q);

/** Mark one item got earlier as processed. More task_done calls than items
 *  put is WEFT_EOVERFLOW (Python's ValueError), and changes nothing. */
WEFT_API int weft_queue_task_done(weft_queue *q);
/** Wait until every item ever put has had its task_done: 0 or WEFT_ETIMEDOUT
 *  (timeout 0 polls). Shutting the queue down does not end a join by itself:
 *  it returns once the count of unfinished tasks reaches zero (items dropped
 *  by an immediate shutdown count as done). */
WEFT_API int weft_queue_join(weft_queue *q, double timeout);

/** Shut the queue down (Python 3.13): puts fail with WEFT_ESHUTDOWN at once;
 *  gets drain the remaining items, then fail with WEFT_ESHUTDOWN. With
 *  `immediate`, the queue is emptied at once (each dropped item is passed to
 *  `drop` if not NULL, so the caller can free it, and counts as done for
 *  join) and gets fail at once. Every blocked putter and getter wakes (and
 *  fails with WEFT_ESHUTDOWN unless a getter finds an item left to drain);
 *  joiners wake when the count of unfinished tasks reaches zero. `drop` runs
 *  in the calling thread with no lock held. Shutting down again is harmless
 *  (a later immediate one still empties the queue). Works on every kind,
 *  SimpleQueue included. */
WEFT_API int weft_queue_shutdown(weft_queue *q, bool immediate, void (*drop)(void *item));
WEFT_API bool weft_queue_is_shutdown(const weft_queue *q);

#ifdef __cplusplus
}
#endif

#endif
