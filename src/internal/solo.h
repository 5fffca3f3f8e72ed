/*
 * Read-modify-writes that skip the bus lock while the process has one
 * thread.
 *
 * A locked instruction costs several nanoseconds on x86, and a coroutine
 * hand-off through a queue makes several of them, on a lock and
 * counters that no other thread could touch: while the process has a
 * single thread nobody else can, so a load and a store do the same (glibc's
 * own mutexes skip the lock prefix the same way). glibc clears
 * __libc_single_threaded in pthread_create, before the second thread
 * exists, and the creation orders everything before it against the new
 * thread; a coroutine switches only at a call, never inside one of these.
 *
 * For process-private words only: a word in memory shared with another
 * process (the process queues, shm) keeps its atomics, as that process may
 * have threads, or be running at the same time. Loads and stores here are
 * relaxed atomics, so that the sanitizers see every access to a word as
 * atomic whichever path it took.
 */
#ifndef WEFT_INTERNAL_SOLO_H
#define WEFT_INTERNAL_SOLO_H

#include <stdbool.h>
#include <stdint.h>

#if defined(__GLIBC__) && defined(__has_include)
#if __has_include(<sys/single_threaded.h>)
#include <sys/single_threaded.h>
#define WEFT__HAVE_SOLO 1
#endif
#endif

/* Whether the process has one thread (false when it cannot tell). */
static inline bool weft__solo(void)
{
#ifdef WEFT__HAVE_SOLO
    return __libc_single_threaded != 0;
#else
    return false;
#endif
}

/* __atomic_compare_exchange_n(p, expected, desired, false, mo, relaxed). */
#define WEFT__CAS32(p, expected, desired, mo)                                                      \
    (weft__solo() ? weft__solo_cas32((p), (expected), (desired))                                   \
                  : __atomic_compare_exchange_n((p), (expected), (desired), false, (mo),           \
                                                __ATOMIC_RELAXED))

/* __atomic_exchange_n(p, v, mo). */
#define WEFT__XCHG32(p, v, mo)                                                                     \
    (weft__solo() ? weft__solo_xchg32((p), (v)) : __atomic_exchange_n((p), (v), (mo)))

/* __atomic_fetch_add(p, v, mo); a negative v subtracts. */
#define WEFT__FETCH_ADD32(p, v, mo)                                                                \
    (weft__solo() ? weft__solo_fetch_add32((p), (v)) : __atomic_fetch_add((p), (v), (mo)))

static inline bool weft__solo_cas32(uint32_t *p, uint32_t *expected, uint32_t desired)
{
    uint32_t v = __atomic_load_n(p, __ATOMIC_RELAXED);
    if (v != *expected) {
        *expected = v;
        return false;
    }
    __atomic_store_n(p, desired, __ATOMIC_RELAXED);
    return true;
}

static inline uint32_t weft__solo_xchg32(uint32_t *p, uint32_t v)
{
    uint32_t old = __atomic_load_n(p, __ATOMIC_RELAXED);
    __atomic_store_n(p, v, __ATOMIC_RELAXED);
    return old;
}

static inline uint32_t weft__solo_fetch_add32(uint32_t *p, uint32_t v)
{
    uint32_t old = __atomic_load_n(p, __ATOMIC_RELAXED);
    __atomic_store_n(p, old + v, __ATOMIC_RELAXED);
    return old;
}

#endif
