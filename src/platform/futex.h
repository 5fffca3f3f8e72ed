/*
 * Linux futex: the only way a weft thread sleeps. Everything above this file
 * goes through park (src/internal/park.h) or, across processes, through
 * xwait (src/internal/xwait.h): only park and its bucket locks call the
 * private pair, and only xwait (whose waiters may be in other processes,
 * where park cannot reach) the shared pair.
 */
#ifndef WEFT_PLATFORM_FUTEX_H
#define WEFT_PLATFORM_FUTEX_H

#include <errno.h>
#include <linux/futex.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "internal/clock.h"

/* Sleep while *word == expected, until woken or until `deadline` (absolute
 * CLOCK_MONOTONIC ns, WEFT__NO_DEADLINE for none). Returns 0 when woken or
 * when the word no longer held `expected` (the caller rechecks either way;
 * spurious returns are allowed), -ETIMEDOUT at the deadline. EINTR is a
 * spurious return. */
static inline int weft__futex_wait(uint32_t *word, uint32_t expected, int64_t deadline)
{
    struct timespec ts, *tsp = NULL;
    if (deadline != WEFT__NO_DEADLINE) {
        ts = weft__ns_to_timespec(deadline);
        tsp = &ts;
    }
    /* FUTEX_WAIT_BITSET takes an absolute timeout, so retries after EINTR do
     * not stretch the wait. */
    long r = syscall(SYS_futex, word, FUTEX_WAIT_BITSET | FUTEX_PRIVATE_FLAG,
                     expected, tsp, NULL, FUTEX_BITSET_MATCH_ANY);
    if (r == -1 && errno == ETIMEDOUT)
        return -ETIMEDOUT;
    return 0;
}

static inline void weft__futex_wake(uint32_t *word, int count)
{
    syscall(SYS_futex, word, FUTEX_WAKE | FUTEX_PRIVATE_FLAG, count, NULL, NULL, 0);
}

/* The same for a word that other processes share (a MAP_SHARED mapping):
 * no FUTEX_PRIVATE_FLAG, so that the kernel keys the wait by the page, not
 * by this process's address. Used by xwait alone, on behalf of every
 * cross-process object. */
static inline int weft__futex_wait_shared(uint32_t *word, uint32_t expected, int64_t deadline)
{
    struct timespec ts, *tsp = NULL;
    if (deadline != WEFT__NO_DEADLINE) {
        ts = weft__ns_to_timespec(deadline);
        tsp = &ts;
    }
    long r = syscall(SYS_futex, word, FUTEX_WAIT_BITSET, expected, tsp, NULL,
                     FUTEX_BITSET_MATCH_ANY);
    if (r == -1 && errno == ETIMEDOUT)
        return -ETIMEDOUT;
    return 0;
}

static inline void weft__futex_wake_shared(uint32_t *word, int count)
{
    syscall(SYS_futex, word, FUTEX_WAKE, count, NULL, NULL, 0);
}

/* Processor hint for spin loops. */
static inline void weft__cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield" ::: "memory");
#else
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
#endif
}

#endif
