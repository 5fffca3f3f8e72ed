/*
 * What a child process gets of its parent, whatever the start method.
 *
 * A `fork` child is a copy of its parent: every pointer into the parent's
 * memory stays valid. A `forkserver` child is forked from a clean server
 * process, so it gets none of the parent's memory unless weft carries it.
 * This module is what weft carries, so that a pointer to a weft object that
 * crosses processes (a pipe connection, a process queue, a shared value, a
 * cross-process lock, a pool) works in the child under both methods, as
 * Python's multiprocessing objects do when they are passed as arguments:
 *
 * - Handle memory: process-private memory. The child gets a copy of it, at
 *   the same addresses, as it was when the child started. An object keeps
 *   its per-process part here (the fd numbers of its connection, a "closed
 *   here" flag, pointers into shared memory), never in malloc'ed memory.
 * - Shared memory: MAP_SHARED memory, the same bytes in every process that
 *   has it, at the same address in every child. An object keeps its
 *   cross-process state here (rings, counters, futex words, robust locks).
 * - Registered fds: the child gets them at the same numbers, as fork would
 *   give them, even though weft opens every fd close-on-exec.
 *
 * Ownership: shared blocks belong to the process that allocated them. Only
 * that process can free them; weft__share_free in another process (a child
 * that got the block from its parent) does nothing, so a child's cleanup
 * never pulls memory from under its parent. Handle memory is per process:
 * freeing it in a child frees only the child's copy.
 *
 * All functions are thread-safe and fork-safe (the module's lock is held
 * across fork). None is for hot paths: allocation takes a lock.
 */
#ifndef WEFT_INTERNAL_SHARE_H
#define WEFT_INTERNAL_SHARE_H

#include <stdbool.h>
#include <stddef.h>

/* Handle memory: zeroed, 16-byte aligned, NULL when out of memory (the
 * handle heap is bounded at 256 MiB). free(NULL) does nothing. */
void *weft__handle_alloc(size_t size);
void weft__handle_free(void *p);

/* Shared memory: zeroed, 64-byte aligned (a cache line; blocks of 4 KiB or
 * more are page aligned), NULL when out of memory or fds. Suitable for
 * futex words and PTHREAD_PROCESS_SHARED objects. */
void *weft__shared_alloc(size_t size);
/* Frees a block this process allocated; a block inherited from the parent
 * is left alone (see Ownership). NULL does nothing. */
void weft__shared_free(void *p);
/* True if this process allocated the block (its owner). */
bool weft__shared_owned(const void *p);

/* Register an fd that children must get at the same number: 0, or
 * WEFT_ENOMEM. Unregister before closing it. */
int weft__share_fd_add(int fd);
void weft__share_fd_remove(int fd);

/* Forkserver transfer, over a connected AF_UNIX SOCK_STREAM socket.
 * The parent calls weft__share_send: it writes the handle heap, the shared
 * mappings and the registered fds (SCM_RIGHTS). The child, forked from the
 * server with nothing of the parent, calls weft__share_recv before anything
 * else of weft: it installs the handle heap and the shared mappings at the
 * parent's addresses and the fds at the parent's numbers (closing whatever
 * the child had at those numbers, except `sock`, which it moves aside and
 * stores back in *sock). 0 or a negative WEFT_E* code; on failure in the
 * child, nothing may be used and the child must exit. */
int weft__share_send(int sock);
int weft__share_recv(int *sock);

#endif
