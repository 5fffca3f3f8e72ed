/*
 * xwait: see internal/xwait.h. The robust shared lock over pthread, the
 * shared wait word over the shared futex calls, the ring's copies.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifdef WEFT_SANITIZE_THREAD
#include <sanitizer/tsan_interface.h>
#endif

#include "internal/clock.h"
#include "internal/xwait.h"
#include "platform/futex.h"

/* ------------------------------------------------------------ xlock */

int weft__xlock_init(weft__xlock *l, weft__xlock_kind kind)
{
    static const int types[] = {
        [WEFT__XLOCK_PLAIN] = PTHREAD_MUTEX_NORMAL,
        [WEFT__XLOCK_ERRORCHECK] = PTHREAD_MUTEX_ERRORCHECK,
        [WEFT__XLOCK_RECURSIVE] = PTHREAD_MUTEX_RECURSIVE,
    };
    pthread_mutexattr_t a;
    pthread_mutexattr_init(&a);
    pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
    pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
    pthread_mutexattr_settype(&a, types[kind]);
    int r = pthread_mutex_init(&l->m, &a);
    pthread_mutexattr_destroy(&a);
    return r ? WEFT_ENOMEM : 0;
}

void weft__xlock_destroy(weft__xlock *l)
{
    int r = pthread_mutex_trylock(&l->m);
    if (r == EOWNERDEAD)
        pthread_mutex_consistent(&l->m);
    if (r == 0 || r == EOWNERDEAD)
        pthread_mutex_unlock(&l->m);
    pthread_mutex_destroy(&l->m);
}

/* The one place a pthread result becomes the lock's outcome (see the
 * owner-died policy in internal/xwait.h). */
static int outcome(weft__xlock *l, int r)
{
    switch (r) {
    case 0:
        return 0;
    case EOWNERDEAD:
        /* We hold it, marked inconsistent: consistent at once. Should we
         * die before the caller's repair ends, the kernel marks it again
         * for the next acquirer. */
        pthread_mutex_consistent(&l->m);
        return WEFT_EOWNERDEAD;
    case ETIMEDOUT:
        return WEFT_ETIMEDOUT;
    case EBUSY:
        return WEFT_EBUSY;
    case EDEADLK:
        return WEFT_EDEADLK;
    case EAGAIN: /* a recursive lock's depth is full */
        return WEFT_EOVERFLOW;
    default:
        /* ENOTRECOVERABLE (impossible, see the policy) or a corrupt
         * mutex: the shared block was overwritten. */
        fprintf(stderr, "weft: cross-process lock failed (%d: %s)\n", r, strerror(r));
        abort();
    }
}

#ifdef WEFT_SANITIZE_THREAD
/* ThreadSanitizer intercepts pthread_mutex_timedlock but not clocklock (a
 * lock it does not see would make every access under it a "race"). Its
 * timedlock interceptor counts only a plain 0 as locked and, unlike its
 * lock and trylock interceptors, does not clear its record of a holder
 * that died: each slice therefore begins with a trylock, which takes over
 * from a holder that died before (a thread of this process, whose hold it
 * recorded), and an EOWNERDEAD from the timedlock itself (a holder that
 * died during the slice, in another process, unseen by it) is told to it
 * by hand. The realtime deadline is given in
 * slices of at most 50 ms and recomputed from the monotonic one after
 * each: a clock step cannot stretch the wait by more than a slice, nor end
 * it early. */
static int timedlock(pthread_mutex_t *m, int64_t deadline)
{
    for (;;) {
        int r = pthread_mutex_trylock(m);
        if (r != EBUSY)
            return r;
        int64_t left = deadline - weft__now_ns();
        if (left <= 0)
            return ETIMEDOUT;
        if (left > 50000000)
            left = 50000000;
        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        struct timespec ts = weft__ns_to_timespec((int64_t)now.tv_sec * 1000000000 +
                                                  now.tv_nsec + left);
        r = pthread_mutex_timedlock(m, &ts);
        if (r == EOWNERDEAD) {
            __tsan_mutex_pre_lock(m, __tsan_mutex_try_lock);
            __tsan_mutex_post_lock(m, __tsan_mutex_try_lock, 0);
        }
        if (r != ETIMEDOUT)
            return r;
    }
}
#else
static int timedlock(pthread_mutex_t *m, int64_t deadline)
{
    struct timespec ts = weft__ns_to_timespec(deadline);
    return pthread_mutex_clocklock(m, CLOCK_MONOTONIC, &ts);
}
#endif

int weft__xlock_lock(weft__xlock *l, int64_t deadline)
{
    int r = deadline == WEFT__NO_DEADLINE ? pthread_mutex_lock(&l->m) : timedlock(&l->m, deadline);
    return outcome(l, r);
}

int weft__xlock_trylock(weft__xlock *l)
{
    return outcome(l, pthread_mutex_trylock(&l->m));
}

int weft__xlock_unlock(weft__xlock *l)
{
    return pthread_mutex_unlock(&l->m) ? WEFT_ENOTOWNER : 0;
}

int weft__xlock_held(const weft__xlock *l)
{
#ifdef __GLIBC__
    /* glibc's robust mutex word is the holder's tid (low 30 bits), which
     * the kernel clears when the holder dies: a dead holder does not
     * count. */
    return (__atomic_load_n(&l->m.__data.__lock, __ATOMIC_RELAXED) & 0x3fffffff) != 0;
#else
    (void)l;
    return -1;
#endif
}

/* ------------------------------------------------------------ xword */

int weft__xword_sleep(weft__xword *w, uint32_t seen, int64_t deadline)
{
    int rc = weft__futex_wait_shared(&w->word, seen, deadline);
    weft__xword_leave(w);
    return rc == -ETIMEDOUT ? WEFT_ETIMEDOUT : 0;
}

void weft__xword_wake(weft__xword *w, int n)
{
    if (__atomic_load_n(&w->sleepers, __ATOMIC_SEQ_CST))
        weft__futex_wake_shared(&w->word, n);
}

/* ------------------------------------------------------------ xring */

static void ring_write(unsigned char *ring, uint64_t cap, uint64_t off, const void *src,
                       uint64_t n)
{
    uint64_t at = off % cap, first = cap - at < n ? cap - at : n;
    memcpy(ring + at, src, (size_t)first);
    memcpy(ring, (const char *)src + first, (size_t)(n - first));
}

static void ring_read(const unsigned char *ring, uint64_t cap, uint64_t off, void *dst, uint64_t n)
{
    uint64_t at = off % cap, first = cap - at < n ? cap - at : n;
    memcpy(dst, ring + at, (size_t)first);
    memcpy((char *)dst + first, ring, (size_t)(n - first));
}

uint64_t weft__xring_put(unsigned char *ring, uint64_t cap, uint64_t at, const void *buf,
                         uint64_t len)
{
    uint64_t hdr = len;
    ring_write(ring, cap, at, &hdr, WEFT__XRING_HDR);
    if (len)
        ring_write(ring, cap, at + WEFT__XRING_HDR, buf, len);
    return at + weft__xring_record_size(len);
}

uint64_t weft__xring_len(const unsigned char *ring, uint64_t cap, uint64_t at)
{
    uint64_t len;
    ring_read(ring, cap, at, &len, WEFT__XRING_HDR);
    return len;
}

uint64_t weft__xring_get(const unsigned char *ring, uint64_t cap, uint64_t at, void *dst,
                         uint64_t len)
{
    if (len)
        ring_read(ring, cap, at + WEFT__XRING_HDR, dst, len);
    return at + weft__xring_record_size(len);
}
