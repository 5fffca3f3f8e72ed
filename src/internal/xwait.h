/*
 * xwait - the one way to wait across processes.
 *
 * park (internal/park.h) is the one way to wait inside a process: its
 * waiter records sit on the waiters' stacks and its buckets in this
 * process's memory, where another process cannot reach. The cross-process
 * objects (process queues, the shared Lock, RLock, Semaphore, Event,
 * Condition and Barrier, the process pool's rings) live whole in shared
 * memory instead, and wait through three things defined here once:
 *
 *   - xlock, a robust process-shared lock, with one policy for a holder
 *     that died;
 *   - xword, a shared wait word: a futex word other processes sleep on,
 *     and a count of its sleepers so that a signal nobody waits for makes
 *     no system call;
 *   - xring, the framing of a byte ring of records.
 *
 * Every structure here lives in shared memory (internal/share.h: a
 * MAP_SHARED block, the same bytes at the same address in every process)
 * and holds no pointer: it means the same thing in every process.
 *
 * Coroutines. A coroutine that waits here blocks its loop's thread, as a
 * thread would: a futex word has no file descriptor that the loop's poller
 * could watch, and the other ways out (waking the loop from the signalling
 * process, or a coroutine that naps and looks again) would cost every
 * signal a system call or every wait its nap's latency. The cross-process
 * objects built on xwait say so in their headers and name the way out,
 * weft_to_thread. Where a cross-process object does have a file descriptor
 * (a Pipe end), it waits through fdwait instead, as sockets do.
 */
#ifndef WEFT_INTERNAL_XWAIT_H
#define WEFT_INTERNAL_XWAIT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ------------------------------------------------------------ xlock */

/*
 * A robust, process-shared pthread mutex. Robustness needs the kernel's
 * help, and this is the one way to get it: a thread's robust list
 * (registered by glibc at thread start) names every robust mutex it holds,
 * and when the thread dies the kernel marks each of their futex words
 * OWNER_DIED and wakes a waiter, which then gets EOWNERDEAD. Uncontended,
 * lock and unlock are a compare-and-swap on the mutex word with no system
 * call (glibc keeps the robust list in user memory).
 *
 * The owner-died policy, the only one: TAKE OVER AND REPORT. The acquirer
 * of a lock whose holder died holds it, already marked consistent, and is
 * told WEFT_EOWNERDEAD; before it unlocks, it repairs what the lock guards
 * (or has nothing to repair: it ignores the code). Proof that this is
 * safe, whatever the repair does:
 *   - Dying while holding the lock is the same event whether the mutex was
 *     marked consistent or not: the kernel marks it OWNER_DIED again and
 *     the next acquirer is told again. So a repairer that dies half-way is
 *     followed by another repair; repairs must be idempotent (a redo).
 *   - ENOTRECOVERABLE comes only from unlocking a mutex still marked
 *     inconsistent. Every EOWNERDEAD is made consistent in this one place
 *     before the caller sees it, and no code outside xwait touches the
 *     mutex, so it cannot happen: it aborts with a message, as every other
 *     outcome pthread does not document for these calls (a corrupt block).
 * Each object keeps its own contract on top: a process queue redoes its
 * journal and says nothing; a shared dict repairs its table and says
 * nothing; a Value takes a single element's lock over silently; the
 * process pool's rings have nothing to repair (head and tail move only
 * once a record is whole); a shared Lock or RLock gives WEFT_EOWNERDEAD
 * to its user, whose data it guards.
 *
 * Deadlines are absolute CLOCK_MONOTONIC ns (WEFT__NO_DEADLINE: none).
 */
typedef struct weft__xlock {
    pthread_mutex_t m;
} weft__xlock;

typedef enum weft__xlock_kind {
    WEFT__XLOCK_PLAIN,      /* relocking it by its holder is undefined */
    WEFT__XLOCK_ERRORCHECK, /* relock: WEFT_EDEADLK; unlock by another: WEFT_ENOTOWNER */
    WEFT__XLOCK_RECURSIVE,  /* its holder may take it again (a depth) */
} weft__xlock_kind;

/* Initialise in shared memory: 0 or WEFT_ENOMEM. */
int weft__xlock_init(weft__xlock *l, weft__xlock_kind kind);

/* Destroy, in the process that made it, once nobody uses it any more. A
 * holder that died left it locked, which pthread cannot destroy: it is
 * taken over first (what it guarded is being dropped: no repair). */
void weft__xlock_destroy(weft__xlock *l);

/* Take it by `deadline`: 0; WEFT_EOWNERDEAD (held: see the policy);
 * WEFT_ETIMEDOUT (not held); an ERRORCHECK lock's holder gets
 * WEFT_EDEADLK, a RECURSIVE one's WEFT_EOVERFLOW when its depth is full. */
int weft__xlock_lock(weft__xlock *l, int64_t deadline);

/* Take it if free now: as weft__xlock_lock, with WEFT_EBUSY when taken
 * (an ERRORCHECK lock's own holder gets WEFT_EDEADLK). */
int weft__xlock_trylock(weft__xlock *l);

/* 0, or WEFT_ENOTOWNER when the calling thread does not hold it (an
 * ERRORCHECK or RECURSIVE lock; a PLAIN one must be held). */
int weft__xlock_unlock(weft__xlock *l);

/* Whether a live thread holds it now (a snapshot): 1 or 0, or -1 where
 * this C library does not let it be read without taking it. */
int weft__xlock_held(const weft__xlock *l);

/* ------------------------------------------------------------ xword */

/*
 * A shared wait word: `word` is a futex word waited on with shared (not
 * private) futexes, so that a wake-up in one process reaches sleepers in
 * another; `sleepers` counts the threads of every process that are about
 * to sleep on it or sleep on it. The word is either a sequence that every
 * signal bumps (a queue's "items came") or the waited state itself (a
 * semaphore's value, an event's flag).
 *
 * The waiter's side: enter (count itself, then read the word), check its
 * condition, then sleep while the word still reads what it read, or leave
 * without sleeping. The signaller's side: change the state, bump the word
 * (or change it: it is the state), then wake if anyone is counted.
 *
 * No lost wake-up, without a lock: the count's increment and the
 * signaller's read of it are sequentially consistent, as are the bump
 * and the waiter's read of the word. Either the signaller's read sees the
 * waiter counted, and its wake-up comes after the bump, so the sleep sees
 * a changed word and returns at once or is asleep and woken; or the
 * increment comes after that read in the single order, so the waiter's
 * read of the word sees the bump and, through it, the state it published.
 *
 * Under a lock: when every waiter enters with the object's lock held and
 * every signaller changes the state under it too, the lock orders them
 * and a signaller may skip the bump when nobody is counted
 * (weft__xword_signal_locked), so that an uncontended operation makes no
 * atomic read-modify-write and no system call.
 *
 * A thread killed asleep leaves its count behind: that only costs later
 * signals a wake call that finds nobody (the kernel forgets a dead
 * sleeper). Nothing else records who waits, so a dead waiter leaves
 * nothing to repair.
 */
typedef struct weft__xword {
    uint32_t word;
    uint32_t sleepers;
} weft__xword;

/* Count the caller as a sleeper, then read the word: the value to give
 * weft__xword_sleep once the caller's condition proved false. */
static inline uint32_t weft__xword_enter(weft__xword *w)
{
    __atomic_fetch_add(&w->sleepers, 1, __ATOMIC_SEQ_CST);
    return __atomic_load_n(&w->word, __ATOMIC_SEQ_CST);
}

/* Leave the count without sleeping (the condition came true). */
static inline void weft__xword_leave(weft__xword *w)
{
    __atomic_fetch_sub(&w->sleepers, 1, __ATOMIC_RELAXED);
}

/* After weft__xword_enter: sleep while the word reads `seen`, until woken
 * or `deadline`, then leave the count. 0 (woken, the word changed, or a
 * spurious return: recheck) or WEFT_ETIMEDOUT. Blocks the thread, inside a
 * coroutine too (see the top). */
int weft__xword_sleep(weft__xword *w, uint32_t seen, int64_t deadline);

/* Wake up to n sleepers if anyone is counted (after changing the word or
 * the state it guards). */
void weft__xword_wake(weft__xword *w, int n);

/* Bump the word, then wake up to n sleepers if anyone is counted. */
static inline void weft__xword_signal(weft__xword *w, int n)
{
    __atomic_fetch_add(&w->word, 1, __ATOMIC_SEQ_CST);
    weft__xword_wake(w, n);
}

/* Under the lock every waiter enters under (see Under a lock): bump the
 * word if anyone is counted, and say whether to call weft__xword_wake once
 * the lock is released (a wake-up's system call does not lengthen the
 * lock's hold). */
static inline bool weft__xword_signal_locked(weft__xword *w)
{
    if (!__atomic_load_n(&w->sleepers, __ATOMIC_RELAXED))
        return false;
    __atomic_store_n(&w->word, __atomic_load_n(&w->word, __ATOMIC_RELAXED) + 1,
                     __ATOMIC_RELAXED);
    return true;
}

/* ------------------------------------------------------------ xring */

/*
 * The framing of a byte ring of records in shared memory, `cap` bytes (a
 * multiple of WEFT__XRING_ALIGN). The ring's owner keeps two byte counts
 * that only grow (64 bits do not wrap): where the next record is written
 * and where the oldest is read, each at its count % cap; their difference
 * is the bytes in use. A record is an 8-byte native length, then its
 * bytes, padded to WEFT__XRING_ALIGN. Because cap and every record are
 * multiples of the alignment, a length never straddles the ring's end; a
 * record's bytes may, and are copied in two pieces. So every record takes
 * exactly weft__xring_record_size of its length, wherever it falls, and
 * the largest one fits an empty ring: cap - WEFT__XRING_HDR bytes.
 *
 * The ring's owner decides when a record is visible: it writes it beyond
 * the write count (where nobody reads) and then publishes the new count,
 * and copies a record out before it publishes the new read count, so a
 * process killed in either copy leaves nothing half done.
 *
 * The process pool's rings carry records of their own (internal/
 * procpool.h): a 32-byte header read in place under the lock, and a pad
 * record where one would straddle the end, so that a record is never in
 * two pieces; they share the lock and the wait words above.
 */
#define WEFT__XRING_HDR 8
#define WEFT__XRING_ALIGN 8

static inline uint64_t weft__xring_record_size(uint64_t len)
{
    return WEFT__XRING_HDR + ((len + WEFT__XRING_ALIGN - 1) & ~(uint64_t)(WEFT__XRING_ALIGN - 1));
}

/* Write a record of `len` bytes at write count `at`; the count after it.
 * The caller made sure it fits: cap minus the bytes in use is at least
 * weft__xring_record_size(len). */
uint64_t weft__xring_put(unsigned char *ring, uint64_t cap, uint64_t at, const void *buf,
                         uint64_t len);

/* The length of the record at read count `at` (the ring is not empty). */
uint64_t weft__xring_len(const unsigned char *ring, uint64_t cap, uint64_t at);

/* Copy the bytes of the record at read count `at` (its length:
 * weft__xring_len) to dst; the read count after it. */
uint64_t weft__xring_get(const unsigned char *ring, uint64_t cap, uint64_t at, void *dst,
                         uint64_t len);

#endif
