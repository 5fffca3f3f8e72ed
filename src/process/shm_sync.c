/*
 * Cross-process Lock, RLock, Semaphore, Event, Condition and Barrier. See
 * weft/shm.h for the contract.
 *
 * Every object lives whole in shared memory (weft__shared_alloc): it has no
 * per-process part, so the same pointer is the same object in every child,
 * with either start method.
 *
 * Locks are robust process-shared locks (xlock, internal/xwait.h), whose
 * owner-died policy gives this file WEFT_EOWNERDEAD to pass on to the
 * user: the lock's data is theirs to repair.
 *
 * Beside the mutex, a lock keeps its owner's thread id and its depth, both
 * written only by the holder while it holds the mutex: they answer
 * "does the caller hold it" (is_owned, and the checks of release, wait and
 * notify) without a system call. Thread ids are unique system-wide while
 * the thread lives, so a live thread never mistakes another's hold for its
 * own. After an owner died its id stays in `owner` until the next acquirer
 * overwrites it; only a new thread that was given the dead one's recycled id
 * could misread it, and then its release still fails cleanly in pthread.
 *
 * Semaphores, Events, Conditions and Barriers wait on shared wait words
 * (xword, internal/xwait.h), whose protocol is the proof that no wake-up
 * is lost.
 */
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "internal/clock.h"
#include "internal/share.h"
#include "internal/xwait.h"
#include "weft/shm.h"

/* ----------------------------------------------------------- thread ids */

/* The calling thread's kernel id, cached: gettid is a system call. A fork
 * child's one thread has a new id, so the atfork handler forgets it. */
static __thread int32_t t_tid;
static pthread_once_t g_tid_once = PTHREAD_ONCE_INIT;

static void tid_forget(void)
{
    t_tid = 0;
}

static void tid_once(void)
{
    pthread_atfork(NULL, NULL, tid_forget);
}

static int32_t my_tid(void)
{
    if (__builtin_expect(t_tid == 0, 0)) {
        pthread_once(&g_tid_once, tid_once);
        t_tid = (int32_t)syscall(SYS_gettid);
    }
    return t_tid;
}

/* ---------------------------------------------------------------- locks */

/* The shared core of weft_plock and weft_prlock. */
typedef struct pmutex {
    weft__xlock lock;
    int32_t owner;   /* holder's tid, 0 when free; written by the holder */
    uint32_t count;  /* holder's depth; written by the holder */
    bool recursive;
} pmutex;

struct weft_plock {
    pmutex pm;
};

struct weft_prlock {
    pmutex pm;
};

static pmutex *pmutex_new(bool recursive)
{
    pmutex *pm = weft__shared_alloc(sizeof *pm);
    if (!pm)
        return NULL;
    /* ERRORCHECK makes a plain lock's relock by its holder WEFT_EDEADLK
     * rather than a deadlock, and an unlock by a non-holder an error. */
    if (weft__xlock_init(&pm->lock, recursive ? WEFT__XLOCK_RECURSIVE : WEFT__XLOCK_ERRORCHECK)) {
        weft__shared_free(pm);
        return NULL;
    }
    pm->recursive = recursive;
    return pm;
}

static void pmutex_free(pmutex *pm)
{
    if (pm && weft__shared_owned(pm)) {
        weft__xlock_destroy(&pm->lock);
        weft__shared_free(pm);
    }
}

/* Take the mutex: `poll` tries once (EBUSY), else waits until `deadline`. */
static int pmutex_acquire(pmutex *pm, bool poll, int64_t deadline)
{
    int rc = poll ? weft__xlock_trylock(&pm->lock) : weft__xlock_lock(&pm->lock, deadline);
    int32_t me = my_tid();
    switch (rc) {
    case 0:
        if (pm->recursive && __atomic_load_n(&pm->owner, __ATOMIC_RELAXED) == me) {
            pm->count++;
            return 0;
        }
        __atomic_store_n(&pm->owner, me, __ATOMIC_RELAXED);
        __atomic_store_n(&pm->count, 1, __ATOMIC_RELAXED);
        return 0;
    case WEFT_EOWNERDEAD:
        /* The holder died: we hold it now (consistent again), and the
         * caller is told. */
        __atomic_store_n(&pm->owner, me, __ATOMIC_RELAXED);
        __atomic_store_n(&pm->count, 1, __ATOMIC_RELAXED);
        return WEFT_EOWNERDEAD;
    case WEFT_EDEADLK: /* a poll of our own lock: taken, like any other */
        return poll ? WEFT_EBUSY : WEFT_EDEADLK;
    default: /* WEFT_EBUSY, WEFT_ETIMEDOUT, WEFT_EOVERFLOW (a full depth) */
        return rc;
    }
}

static bool pmutex_owned(const pmutex *pm)
{
    return __atomic_load_n(&pm->owner, __ATOMIC_RELAXED) == my_tid();
}

/* Held by a live thread now, as the lock tells; where it cannot, `owner`
 * answers, which still names a dead holder until the next acquire. */
static bool pmutex_locked(const pmutex *pm)
{
    int held = weft__xlock_held(&pm->lock);
    return held >= 0 ? held : __atomic_load_n(&pm->owner, __ATOMIC_RELAXED) != 0;
}

static int pmutex_release(pmutex *pm)
{
    if (!pmutex_owned(pm))
        return WEFT_ENOTOWNER;
    uint32_t c = pm->count;
    if (c == 1)
        __atomic_store_n(&pm->owner, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&pm->count, c - 1, __ATOMIC_RELAXED);
    if (weft__xlock_unlock(&pm->lock) != 0) {
        /* A recycled tid misread as ours (see the top): not ours after all. */
        __atomic_store_n(&pm->count, c, __ATOMIC_RELAXED);
        return WEFT_ENOTOWNER;
    }
    return 0;
}

static int timed(pmutex *pm, double timeout)
{
    if (weft__timeout_valid(timeout))
        return WEFT_EINVAL;
    if (timeout == 0) {
        int rc = pmutex_acquire(pm, true, 0);
        return rc == WEFT_EBUSY ? WEFT_ETIMEDOUT : rc;
    }
    return pmutex_acquire(pm, false, weft__deadline(timeout));
}

int weft_plock_new(weft_plock **out)
{
    if (!out)
        return WEFT_EINVAL;
    pmutex *pm = pmutex_new(false);
    if (!pm)
        return WEFT_ENOMEM;
    *out = (weft_plock *)pm;
    return 0;
}

void weft_plock_free(weft_plock *lock)
{
    pmutex_free(lock ? &lock->pm : NULL);
}

int weft_plock_acquire(weft_plock *lock, double timeout)
{
    return lock ? timed(&lock->pm, timeout) : WEFT_EINVAL;
}

int weft_plock_release(weft_plock *lock)
{
    return lock ? pmutex_release(&lock->pm) : WEFT_EINVAL;
}

bool weft_plock_is_owned(const weft_plock *lock)
{
    return lock && pmutex_owned(&lock->pm);
}

bool weft_plock_locked(const weft_plock *lock)
{
    return lock && pmutex_locked(&lock->pm);
}

int weft_prlock_new(weft_prlock **out)
{
    if (!out)
        return WEFT_EINVAL;
    pmutex *pm = pmutex_new(true);
    if (!pm)
        return WEFT_ENOMEM;
    *out = (weft_prlock *)pm;
    return 0;
}

void weft_prlock_free(weft_prlock *rlock)
{
    pmutex_free(rlock ? &rlock->pm : NULL);
}

int weft_prlock_acquire(weft_prlock *rlock, double timeout)
{
    return rlock ? timed(&rlock->pm, timeout) : WEFT_EINVAL;
}

int weft_prlock_release(weft_prlock *rlock)
{
    return rlock ? pmutex_release(&rlock->pm) : WEFT_EINVAL;
}

bool weft_prlock_is_owned(const weft_prlock *rlock)
{
    return rlock && pmutex_owned(&rlock->pm);
}

bool weft_prlock_locked(const weft_prlock *rlock)
{
    return rlock && pmutex_locked(&rlock->pm);
}

unsigned weft_prlock_count(const weft_prlock *rlock)
{
    return weft_prlock_is_owned(rlock) ? rlock->pm.count : 0;
}

/* ------------------------------------------------------------ semaphore */

/*
 * The wait word is the count of permits itself: a waiter enters, and
 * sleeps while it reads 0; a releaser raises it (sequentially consistent)
 * and wakes whoever is counted.
 */
struct weft_psem {
    weft__xword value;
    uint32_t bound; /* 0 unbounded, else the maximum value */
};

static int psem_new(weft_psem **out, unsigned value, bool bounded)
{
    if (!out || value > WEFT_SEMAPHORE_MAX)
        return WEFT_EINVAL;
    weft_psem *s = weft__shared_alloc(sizeof *s);
    if (!s)
        return WEFT_ENOMEM;
    s->value.word = value;
    s->bound = bounded ? value : 0;
    *out = s;
    return 0;
}

int weft_psem_new(weft_psem **out, unsigned value)
{
    return psem_new(out, value, false);
}

int weft_psem_new_bounded(weft_psem **out, unsigned value)
{
    return psem_new(out, value, true);
}

void weft_psem_free(weft_psem *sem)
{
    if (sem && weft__shared_owned(sem))
        weft__shared_free(sem);
}

static bool psem_take(weft_psem *s)
{
    uint32_t v = __atomic_load_n(&s->value.word, __ATOMIC_RELAXED);
    while (v > 0)
        if (__atomic_compare_exchange_n(&s->value.word, &v, v - 1, true, __ATOMIC_ACQUIRE,
                                        __ATOMIC_RELAXED))
            return true;
    return false;
}

static int psem_acquire_until(weft_psem *s, int64_t deadline)
{
    for (;;) {
        if (psem_take(s))
            return 0;
        if (weft__xword_enter(&s->value) != 0) {
            weft__xword_leave(&s->value); /* a permit came: take it */
            continue;
        }
        if (weft__xword_sleep(&s->value, 0, deadline) == WEFT_ETIMEDOUT)
            return psem_take(s) ? 0 : WEFT_ETIMEDOUT;
    }
}

int weft_psem_acquire(weft_psem *sem, double timeout)
{
    if (!sem || weft__timeout_valid(timeout))
        return WEFT_EINVAL;
    if (psem_take(sem))
        return 0;
    if (timeout == 0)
        return WEFT_ETIMEDOUT;
    return psem_acquire_until(sem, weft__deadline(timeout));
}

int weft_psem_release_n(weft_psem *sem, unsigned n)
{
    if (!sem || n == 0)
        return WEFT_EINVAL;
    uint32_t max = sem->bound ? sem->bound : WEFT_SEMAPHORE_MAX;
    uint32_t v = __atomic_load_n(&sem->value.word, __ATOMIC_RELAXED);
    do {
        if (n > max || v > max - n)
            return WEFT_EOVERFLOW;
    } while (!__atomic_compare_exchange_n(&sem->value.word, &v, v + n, true, __ATOMIC_SEQ_CST,
                                          __ATOMIC_RELAXED));
    weft__xword_wake(&sem->value, n > INT_MAX ? INT_MAX : (int)n);
    return 0;
}

int weft_psem_release(weft_psem *sem)
{
    return weft_psem_release_n(sem, 1);
}

unsigned weft_psem_value(const weft_psem *sem)
{
    return sem ? __atomic_load_n(&sem->value.word, __ATOMIC_RELAXED) : 0;
}

/* ---------------------------------------------------------------- event */

/* The wait word is the flag itself, as the semaphore's value. */
struct weft_pevent {
    weft__xword flag;
};

int weft_pevent_new(weft_pevent **out)
{
    if (!out)
        return WEFT_EINVAL;
    weft_pevent *e = weft__shared_alloc(sizeof *e);
    if (!e)
        return WEFT_ENOMEM;
    *out = e;
    return 0;
}

void weft_pevent_free(weft_pevent *ev)
{
    if (ev && weft__shared_owned(ev))
        weft__shared_free(ev);
}

int weft_pevent_set(weft_pevent *ev)
{
    if (!ev)
        return WEFT_EINVAL;
    __atomic_store_n(&ev->flag.word, 1, __ATOMIC_SEQ_CST);
    weft__xword_wake(&ev->flag, INT_MAX);
    return 0;
}

int weft_pevent_clear(weft_pevent *ev)
{
    if (!ev)
        return WEFT_EINVAL;
    __atomic_store_n(&ev->flag.word, 0, __ATOMIC_RELAXED);
    return 0;
}

bool weft_pevent_is_set(const weft_pevent *ev)
{
    return ev && __atomic_load_n(&ev->flag.word, __ATOMIC_ACQUIRE);
}

int weft_pevent_wait(weft_pevent *ev, double timeout)
{
    if (!ev || weft__timeout_valid(timeout))
        return WEFT_EINVAL;
    if (__atomic_load_n(&ev->flag.word, __ATOMIC_ACQUIRE))
        return 0;
    if (timeout == 0)
        return WEFT_ETIMEDOUT;
    int64_t deadline = weft__deadline(timeout);
    for (;;) {
        if (weft__xword_enter(&ev->flag)) {
            weft__xword_leave(&ev->flag);
            return 0;
        }
        int rc = weft__xword_sleep(&ev->flag, 0, deadline);
        if (__atomic_load_n(&ev->flag.word, __ATOMIC_ACQUIRE))
            return 0;
        if (rc == WEFT_ETIMEDOUT)
            return WEFT_ETIMEDOUT;
    }
}

/* ------------------------------------------------------------ condition */

/*
 * A sequence word (xword "Under a lock"): wait enters under the lock,
 * releases the lock and sleeps while the word is unchanged; notify (under
 * the lock) bumps it if anyone is counted and wakes them. A notify between
 * the waiter's release and its sleep changed the word, so the sleep
 * returns at once: no wake-up is lost. A wake-up can however reach a
 * waiter that came after the notify, which is why wake-ups may be
 * spurious.
 */
struct weft_pcond {
    weft__xword seq;
    pmutex *lock;
    pmutex *own; /* the private RLock, or NULL */
};

static int pcond_new(weft_pcond **out, pmutex *lock)
{
    weft_pcond *c = weft__shared_alloc(sizeof *c);
    if (!c)
        return WEFT_ENOMEM;
    if (!lock) {
        c->own = pmutex_new(true);
        if (!c->own) {
            weft__shared_free(c);
            return WEFT_ENOMEM;
        }
        lock = c->own;
    }
    c->lock = lock;
    *out = c;
    return 0;
}

int weft_pcond_new(weft_pcond **out, weft_plock *lock)
{
    return out ? pcond_new(out, lock ? &lock->pm : NULL) : WEFT_EINVAL;
}

int weft_pcond_new_rlock(weft_pcond **out, weft_prlock *rlock)
{
    return out && rlock ? pcond_new(out, &rlock->pm) : WEFT_EINVAL;
}

void weft_pcond_free(weft_pcond *cond)
{
    if (cond && weft__shared_owned(cond)) {
        pmutex_free(cond->own);
        weft__shared_free(cond);
    }
}

int weft_pcond_acquire(weft_pcond *cond, double timeout)
{
    return cond ? timed(cond->lock, timeout) : WEFT_EINVAL;
}

int weft_pcond_release(weft_pcond *cond)
{
    return cond ? pmutex_release(cond->lock) : WEFT_EINVAL;
}

bool weft_pcond_locked(const weft_pcond *cond)
{
    return cond && pmutex_locked(cond->lock);
}

static int pcond_wait_until(weft_pcond *c, int64_t deadline)
{
    pmutex *pm = c->lock;
    if (!pmutex_owned(pm))
        return WEFT_ENOTOWNER;
    uint32_t seen = weft__xword_enter(&c->seq);
    uint32_t depth = pm->count;
    /* Release every level: the owner fields first, as pmutex_release. */
    __atomic_store_n(&pm->owner, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&pm->count, 0, __ATOMIC_RELAXED);
    for (uint32_t i = 0; i < depth; i++)
        weft__xlock_unlock(&pm->lock);
    int rc = weft__xword_sleep(&c->seq, seen, deadline);
    int lrc = pmutex_acquire(pm, false, WEFT__NO_DEADLINE);
    /* Restore the depth: the first level was taken above (and set count to
     * 1), the others are immediate since we hold it. */
    for (uint32_t i = 1; i < depth; i++)
        weft__xlock_lock(&pm->lock, WEFT__NO_DEADLINE);
    __atomic_store_n(&pm->count, depth, __ATOMIC_RELAXED);
    return lrc == WEFT_EOWNERDEAD ? lrc : rc;
}

int weft_pcond_wait(weft_pcond *cond, double timeout)
{
    if (!cond || weft__timeout_valid(timeout))
        return WEFT_EINVAL;
    return pcond_wait_until(cond, weft__deadline(timeout));
}

int weft_pcond_wait_for(weft_pcond *cond, weft_predicate pred, void *arg, double timeout)
{
    if (!cond || !pred || weft__timeout_valid(timeout))
        return WEFT_EINVAL;
    if (!pmutex_owned(cond->lock))
        return WEFT_ENOTOWNER;
    int64_t deadline = weft__deadline(timeout);
    int died = 0;
    while (!pred(arg)) {
        if (deadline != WEFT__NO_DEADLINE && weft__now_ns() >= deadline)
            return WEFT_ETIMEDOUT;
        int rc = pcond_wait_until(cond, deadline);
        if (rc == WEFT_EOWNERDEAD)
            died = rc;
        else if (rc != 0 && rc != WEFT_ETIMEDOUT)
            return rc;
    }
    return died;
}

int weft_pcond_notify(weft_pcond *cond, unsigned n)
{
    if (!cond)
        return WEFT_EINVAL;
    if (!pmutex_owned(cond->lock))
        return WEFT_ENOTOWNER;
    if (n > 0 && weft__xword_signal_locked(&cond->seq))
        weft__xword_wake(&cond->seq, n > INT_MAX ? INT_MAX : (int)n);
    return 0;
}

int weft_pcond_notify_all(weft_pcond *cond)
{
    return weft_pcond_notify(cond, UINT_MAX);
}

/* -------------------------------------------------------------- barrier */

/*
 * count, gen, broken and hist change only under the robust lock; waiters
 * read gen and broken without it, and sleep on seq, which every event that
 * may end a wait bumps (a generation released, a break, a reset): xword's
 * protocol without a lock, the state published before the bump. A waiter
 * of generation g is done when gen moved on (released, or ended by a
 * reset: bit g % 32 of hist says which) or when broken is set while gen is
 * still g. hist keeps the outcome of the last 32 generations, so a waiter
 * that wakes that late reads its own; the bit of a generation is cleared
 * when it starts.
 */
struct weft_pbarrier {
    pmutex *lock;
    weft__xword seq;
    uint32_t parties;
    uint32_t count;  /* arrived in this generation */
    uint32_t gen;
    uint32_t broken;
    uint32_t hist;   /* bit g % 32: generation g ended broken (by a reset) */
};

int weft_pbarrier_new(weft_pbarrier **out, unsigned parties)
{
    if (!out || parties == 0 || parties > UINT32_MAX / 2)
        return WEFT_EINVAL;
    weft_pbarrier *b = weft__shared_alloc(sizeof *b);
    if (!b)
        return WEFT_ENOMEM;
    b->lock = pmutex_new(false);
    if (!b->lock) {
        weft__shared_free(b);
        return WEFT_ENOMEM;
    }
    b->parties = parties;
    *out = b;
    return 0;
}

void weft_pbarrier_free(weft_pbarrier *b)
{
    if (b && weft__shared_owned(b)) {
        pmutex_free(b->lock);
        weft__shared_free(b);
    }
}

static void pbarrier_wake(weft_pbarrier *b)
{
    weft__xword_signal(&b->seq, INT_MAX);
}

/* Take the internal lock. A holder that died there may have left the
 * counts half updated: the barrier is broken, as Python breaks a barrier
 * whose wait raised. */
static void pbarrier_lock(weft_pbarrier *b)
{
    if (pmutex_acquire(b->lock, false, WEFT__NO_DEADLINE) == WEFT_EOWNERDEAD) {
        __atomic_store_n(&b->broken, 1, __ATOMIC_RELEASE);
        pbarrier_wake(b);
    }
}

static int pbarrier_outcome(weft_pbarrier *b, uint32_t g, int idx)
{
    return __atomic_load_n(&b->hist, __ATOMIC_ACQUIRE) >> (g % 32) & 1 ? WEFT_EBROKEN : idx;
}

/* The arrival index, or a negative code. */
static int pbarrier_wait(weft_pbarrier *b, double timeout)
{
    if (!b || weft__timeout_valid(timeout))
        return WEFT_EINVAL;
    int64_t deadline = weft__deadline(timeout);
    pbarrier_lock(b);
    if (b->broken) {
        pmutex_release(b->lock);
        return WEFT_EBROKEN;
    }
    uint32_t g = b->gen;
    uint32_t arrived = b->count + 1;
    int idx = (int)arrived - 1;
    __atomic_store_n(&b->count, arrived == b->parties ? 0 : arrived, __ATOMIC_RELAXED);
    if (arrived == b->parties) {
        __atomic_and_fetch(&b->hist, ~(1u << ((g + 1) % 32)), __ATOMIC_RELAXED);
        __atomic_store_n(&b->gen, g + 1, __ATOMIC_RELEASE);
        pbarrier_wake(b);
        pmutex_release(b->lock);
        return idx;
    }
    pmutex_release(b->lock);
    for (;;) {
        uint32_t s = weft__xword_enter(&b->seq);
        if (__atomic_load_n(&b->gen, __ATOMIC_ACQUIRE) != g) {
            weft__xword_leave(&b->seq);
            return pbarrier_outcome(b, g, idx);
        }
        if (__atomic_load_n(&b->broken, __ATOMIC_ACQUIRE)) {
            weft__xword_leave(&b->seq);
            return WEFT_EBROKEN;
        }
        if (weft__xword_sleep(&b->seq, s, deadline) == WEFT_ETIMEDOUT) {
            /* Our time is up: unless the generation ended meanwhile, we
             * break it for everyone, as Python does. */
            pbarrier_lock(b);
            int rc;
            if (b->gen != g) {
                rc = pbarrier_outcome(b, g, idx);
            } else {
                if (!b->broken) {
                    __atomic_store_n(&b->broken, 1, __ATOMIC_RELEASE);
                    pbarrier_wake(b);
                }
                rc = WEFT_EBROKEN;
            }
            pmutex_release(b->lock);
            return rc;
        }
    }
}

int weft_pbarrier_wait(weft_pbarrier *b, unsigned *index, double timeout)
{
    if (index)
        *index = 0;
    int rc = pbarrier_wait(b, timeout);
    if (rc < 0)
        return rc;
    if (index)
        *index = (unsigned)rc;
    return 0;
}

int weft_pbarrier_abort(weft_pbarrier *b)
{
    if (!b)
        return WEFT_EINVAL;
    pbarrier_lock(b);
    __atomic_store_n(&b->broken, 1, __ATOMIC_RELEASE);
    pbarrier_wake(b);
    pmutex_release(b->lock);
    return 0;
}

int weft_pbarrier_reset(weft_pbarrier *b)
{
    if (!b)
        return WEFT_EINVAL;
    pbarrier_lock(b);
    uint32_t g = b->gen;
    /* The current generation ends; its waiters, if any, see it broken. */
    if (b->count > 0 || b->broken)
        __atomic_or_fetch(&b->hist, 1u << (g % 32), __ATOMIC_RELAXED);
    __atomic_and_fetch(&b->hist, ~(1u << ((g + 1) % 32)), __ATOMIC_RELAXED);
    __atomic_store_n(&b->count, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&b->broken, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&b->gen, g + 1, __ATOMIC_RELEASE);
    pbarrier_wake(b);
    pmutex_release(b->lock);
    return 0;
}

unsigned weft_pbarrier_parties(const weft_pbarrier *b)
{
    return b ? b->parties : 0;
}

unsigned weft_pbarrier_n_waiting(const weft_pbarrier *b)
{
    if (!b || __atomic_load_n(&b->broken, __ATOMIC_RELAXED))
        return 0;
    return __atomic_load_n(&b->count, __ATOMIC_RELAXED);
}

bool weft_pbarrier_broken(const weft_pbarrier *b)
{
    return b && __atomic_load_n(&b->broken, __ATOMIC_ACQUIRE);
}
