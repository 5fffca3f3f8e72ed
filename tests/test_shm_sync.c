/* Cross-process Lock, RLock, Semaphore, Event and Condition: exclusion and
 * wake-ups between real processes, robust locks whose holder is SIGKILLed,
 * timeouts, and every error path. Children are weft processes; they learn
 * and report through shared events and their exit codes, never sleeps. */
#include <math.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "internal/share.h"
#include "weft/shm.h"
#include "wt.h"

/* A test that starts processes runs twice, under each start method: fork
 * and forkserver (whose children get nothing but shared memory, the
 * registered fds and arg_size copies, which is all these tests give). */
#define METHOD_TEST(name)                                                               \
    static void name##_body(void);                                                      \
    START_TEST(name)                                                                    \
    {                                                                                   \
        static const enum weft_start_method methods[] = {WEFT_START_FORK,               \
                                                         WEFT_START_FORKSERVER};        \
        for (int m = 0; m < 2; m++) {                                                   \
            WT_OK(weft_set_start_method(methods[m]));                                   \
            name##_body();                                                              \
        }                                                                               \
    }                                                                                   \
    END_TEST                                                                            \
    static void name##_body(void)

static weft_process *spawn(weft_process_fn fn, void *arg)
{
    weft_process *p;
    WT_OK(weft_process_new(&p, fn, arg, NULL));
    WT_OK(weft_process_start(p));
    return p;
}

static int reap(weft_process *p)
{
    WT_OK(weft_process_join(p, WEFT_FOREVER));
    int code = 12345;
    WT_OK(weft_process_exitcode(p, &code));
    WT_OK(weft_process_close(p));
    weft_process_free(p);
    return code;
}

static weft_thread *thread(weft_thread_fn fn, void *arg)
{
    weft_thread *t;
    WT_OK(weft_thread_new(&t, fn, arg, NULL));
    WT_OK(weft_thread_start(t));
    return t;
}

static int thread_rc(weft_thread *t)
{
    void *res = NULL;
    WT_OK(weft_thread_join(t, WEFT_FOREVER));
    WT_OK(weft_thread_result(t, &res));
    weft_thread_unref(t);
    return (int)(intptr_t)res;
}

static int run_child(weft_process_fn fn, void *arg)
{
    return reap(spawn(fn, arg));
}

/* What the children share: all of it in shared memory. */
struct ctx {
    weft_plock *lock;
    weft_prlock *rlock;
    weft_psem *sem;
    weft_pevent *held, *go, *never;
    weft_pcond *cond;
    weft_pbarrier *bar; /* two parties */
    long counter;
    int flag;
    int depth;
};

static struct ctx *ctx_new(void)
{
    struct ctx *c = weft__shared_alloc(sizeof *c);
    ck_assert_ptr_nonnull(c);
    WT_OK(weft_plock_new(&c->lock));
    WT_OK(weft_prlock_new(&c->rlock));
    WT_OK(weft_psem_new(&c->sem, 0));
    WT_OK(weft_pevent_new(&c->held));
    WT_OK(weft_pevent_new(&c->go));
    WT_OK(weft_pevent_new(&c->never));
    WT_OK(weft_pcond_new(&c->cond, c->lock));
    WT_OK(weft_pbarrier_new(&c->bar, 2));
    return c;
}

static void ctx_free(struct ctx *c)
{
    weft_pcond_free(c->cond);
    weft_pbarrier_free(c->bar);
    weft_plock_free(c->lock);
    weft_prlock_free(c->rlock);
    weft_psem_free(c->sem);
    weft_pevent_free(c->held);
    weft_pevent_free(c->go);
    weft_pevent_free(c->never);
    weft__shared_free(c);
}

/* ----------------------------------------------------------------- lock */

START_TEST(plock_single_process)
{
    weft_plock *l;
    WT_OK(weft_plock_new(&l));
    ck_assert(!weft_plock_is_owned(l));
    WT_ERR(weft_plock_release(l), WEFT_ENOTOWNER);
    WT_OK(weft_plock_acquire(l, WEFT_FOREVER));
    ck_assert(weft_plock_is_owned(l));
    WT_ERR(weft_plock_acquire(l, WEFT_FOREVER), WEFT_EDEADLK);
    WT_ERR(weft_plock_acquire(l, 0.01), WEFT_EDEADLK);
    WT_ERR(weft_plock_acquire(l, 0), WEFT_ETIMEDOUT);
    WT_ERR(weft_plock_acquire(l, 0), WEFT_ETIMEDOUT);
    WT_OK(weft_plock_release(l));
    WT_ERR(weft_plock_release(l), WEFT_ENOTOWNER);
    WT_OK(weft_plock_acquire(l, 0));
    WT_OK(weft_plock_release(l));
    WT_OK(weft_plock_acquire(l, 0));
    WT_OK(weft_plock_release(l));
    WT_OK(weft_plock_acquire(l, WEFT_FOREVER));
    WT_OK(weft_plock_release(l));
    WT_ERR(weft_plock_acquire(l, -2), WEFT_EINVAL);
    WT_ERR(weft_plock_acquire(l, NAN), WEFT_EINVAL);
    weft_plock_free(l);
}
END_TEST

/* Takes the lock, says so, and keeps it until `go`. */
static int hold_lock(void *arg)
{
    struct ctx *c = arg;
    if (weft_plock_acquire(c->lock, WEFT_FOREVER) != 0)
        return 10;
    weft_pevent_set(c->held);
    if (weft_pevent_wait(c->go, WEFT_FOREVER) != 0)
        return 11;
    return weft_plock_release(c->lock) == 0 ? 0 : 12;
}

static void *release_from_thread(void *arg)
{
    struct ctx *c = arg;
    return (void *)(intptr_t)weft_plock_release(c->lock);
}

METHOD_TEST(plock_excludes_processes)
{
    struct ctx *c = ctx_new();
    weft_process *p = spawn(hold_lock, c);
    WT_OK(weft_pevent_wait(c->held, WEFT_FOREVER));
    WT_ERR(weft_plock_acquire(c->lock, 0), WEFT_ETIMEDOUT);
    WT_ERR(weft_plock_acquire(c->lock, 0), WEFT_ETIMEDOUT);
    WT_ERR(weft_plock_acquire(c->lock, 0.02), WEFT_ETIMEDOUT);
    ck_assert(!weft_plock_is_owned(c->lock));
    /* Another process's hold cannot be released from here. */
    WT_ERR(weft_plock_release(c->lock), WEFT_ENOTOWNER);
    WT_OK(weft_pevent_set(c->go));
    WT_OK(weft_plock_acquire(c->lock, WEFT_FOREVER)); /* waits for the child's release */
    ck_assert_int_eq(reap(p), 0);
    /* Another thread of ours cannot release it either. */
    ck_assert_int_eq(thread_rc(thread(release_from_thread, c)), WEFT_ENOTOWNER);
    WT_OK(weft_plock_release(c->lock));
    ctx_free(c);
}

enum { ROUNDS = 20000, WORKERS = 4 };

static int add_under_lock(void *arg)
{
    struct ctx *c = arg;
    for (int i = 0; i < ROUNDS; i++) {
        int rc = (i & 1) ? weft_plock_acquire(c->lock, WEFT_FOREVER)
                         : weft_plock_acquire(c->lock, 60);
        if (rc != 0)
            return 10;
        c->counter++;
        if (weft_plock_release(c->lock) != 0)
            return 11;
    }
    return 0;
}

METHOD_TEST(plock_counter)
{
    struct ctx *c = ctx_new();
    weft_process *p[WORKERS];
    for (int i = 0; i < WORKERS; i++)
        p[i] = spawn(add_under_lock, c);
    for (int i = 0; i < WORKERS; i++)
        ck_assert_int_eq(reap(p[i]), 0);
    ck_assert_int_eq(c->counter, (long)WORKERS * ROUNDS);
    ctx_free(c);
}

/* Blocks in acquire until the holder dies; reports what acquire said. */
static int wait_lock(void *arg)
{
    struct ctx *c = arg;
    int rc = weft_plock_acquire(c->lock, WEFT_FOREVER);
    if (rc != WEFT_EOWNERDEAD)
        return 10;
    c->counter = 42; /* the protected state, repaired */
    return weft_plock_release(c->lock) == 0 ? 0 : 11;
}

static int hold_and_die(void *arg)
{
    struct ctx *c = arg;
    if (weft_plock_acquire(c->lock, WEFT_FOREVER) != 0)
        return 10;
    c->counter = -1; /* half-done work */
    weft_pevent_set(c->held);
    weft_pevent_wait(c->never, WEFT_FOREVER);
    return 11;
}

METHOD_TEST(plock_robust_killed_holder)
{
    struct ctx *c = ctx_new();
    weft_process *holder = spawn(hold_and_die, c);
    WT_OK(weft_pevent_wait(c->held, WEFT_FOREVER));
    /* A waiter in another process, blocked (or about to be) in acquire. */
    weft_process *waiter = spawn(wait_lock, c);
    WT_OK(weft_process_kill(holder));
    ck_assert_int_eq(reap(holder), -SIGKILL);
    ck_assert_int_eq(reap(waiter), 0);
    ck_assert_int_eq(c->counter, 42);
    /* The lock is consistent again: plain acquires from now on. */
    WT_OK(weft_plock_acquire(c->lock, WEFT_FOREVER));
    WT_OK(weft_plock_release(c->lock));

    /* Same again, with nobody waiting: the next acquire, here a timed
     * one, gets the report; then a poll and a try do too in their turn. */
    for (int form = 0; form < 3; form++) {
        weft_pevent_clear(c->held);
        holder = spawn(hold_and_die, c);
        WT_OK(weft_pevent_wait(c->held, WEFT_FOREVER));
        WT_OK(weft_process_kill(holder));
        ck_assert_int_eq(reap(holder), -SIGKILL);
        int rc = form == 0   ? weft_plock_acquire(c->lock, 10)
                 : form == 1 ? weft_plock_acquire(c->lock, 0)
                             : weft_plock_acquire(c->lock, 0);
        WT_ERR(rc, WEFT_EOWNERDEAD);
        ck_assert(weft_plock_is_owned(c->lock));
        WT_OK(weft_plock_release(c->lock));
        WT_OK(weft_plock_acquire(c->lock, 0));
        WT_OK(weft_plock_release(c->lock));
    }
    ctx_free(c);
}

/* locked() (Python 3.14's Lock/RLock/Condition.locked()): whoever holds it,
 * in any process; a holder that died no longer counts. */
METHOD_TEST(plock_locked)
{
    struct ctx *c = ctx_new();
    ck_assert(!weft_plock_locked(c->lock));
    WT_OK(weft_plock_acquire(c->lock, WEFT_FOREVER));
    ck_assert(weft_plock_locked(c->lock));
    WT_OK(weft_plock_release(c->lock));
    ck_assert(!weft_plock_locked(c->lock));
    weft_process *holder = spawn(hold_and_die, c);
    WT_OK(weft_pevent_wait(c->held, WEFT_FOREVER));
    ck_assert(weft_plock_locked(c->lock));
    ck_assert(!weft_plock_is_owned(c->lock));
    WT_OK(weft_process_kill(holder));
    ck_assert_int_eq(reap(holder), -SIGKILL);
    ck_assert(!weft_plock_locked(c->lock));
    WT_ERR(weft_plock_acquire(c->lock, 0), WEFT_EOWNERDEAD);
    ck_assert(weft_plock_locked(c->lock));
    WT_OK(weft_plock_release(c->lock));

    weft_prlock *r;
    weft_pcond *cond;
    WT_OK(weft_prlock_new(&r));
    WT_OK(weft_pcond_new_rlock(&cond, r));
    ck_assert(!weft_prlock_locked(r) && !weft_pcond_locked(cond));
    WT_OK(weft_prlock_acquire(r, 0));
    WT_OK(weft_prlock_acquire(r, 0));
    ck_assert(weft_prlock_locked(r) && weft_pcond_locked(cond));
    WT_OK(weft_prlock_release(r));
    ck_assert(weft_prlock_locked(r)); /* still one level */
    WT_OK(weft_prlock_release(r));
    ck_assert(!weft_prlock_locked(r) && !weft_pcond_locked(cond));
    ck_assert(!weft_plock_locked(NULL) && !weft_prlock_locked(NULL) && !weft_pcond_locked(NULL));
    weft_pcond_free(cond);
    weft_prlock_free(r);
    ctx_free(c);
}

/* A holder that returns without releasing: the same as dying. */
static int exit_holding(void *arg)
{
    struct ctx *c = arg;
    return weft_plock_acquire(c->lock, WEFT_FOREVER) == 0 ? 0 : 10;
}

METHOD_TEST(plock_robust_exited_holder)
{
    struct ctx *c = ctx_new();
    ck_assert_int_eq(run_child(exit_holding, c), 0);
    WT_ERR(weft_plock_acquire(c->lock, WEFT_FOREVER), WEFT_EOWNERDEAD);
    WT_OK(weft_plock_release(c->lock));
    ctx_free(c);
}

/* A thread, not a process, that ends holding the lock. */
static void *thread_exit_holding(void *arg)
{
    struct ctx *c = arg;
    return (void *)(intptr_t)weft_plock_acquire(c->lock, WEFT_FOREVER);
}

START_TEST(plock_robust_thread_exit)
{
    struct ctx *c = ctx_new();
    ck_assert_int_eq(thread_rc(thread(thread_exit_holding, c)), 0);
    WT_ERR(weft_plock_acquire(c->lock, WEFT_FOREVER), WEFT_EOWNERDEAD);
    WT_OK(weft_plock_release(c->lock));
    /* A timed acquire takes it over the same way. */
    ck_assert_int_eq(thread_rc(thread(thread_exit_holding, c)), 0);
    WT_ERR(weft_plock_acquire(c->lock, 10), WEFT_EOWNERDEAD);
    WT_OK(weft_plock_release(c->lock));
    /* And a lock left held by a dead thread can still be freed: the free
     * takes it over first (ctx_free frees it without acquiring it). */
    ck_assert_int_eq(thread_rc(thread(thread_exit_holding, c)), 0);
    ctx_free(c);
}
END_TEST

/* ---------------------------------------------------------------- rlock */

static int rlock_hold_and_die(void *arg)
{
    struct ctx *c = arg;
    for (int i = 0; i < 3; i++)
        if (weft_prlock_acquire(c->rlock, WEFT_FOREVER) != 0)
            return 10;
    if (weft_prlock_count(c->rlock) != 3)
        return 11;
    weft_pevent_set(c->held);
    weft_pevent_wait(c->never, WEFT_FOREVER);
    return 12;
}

static int rlock_try(void *arg)
{
    struct ctx *c = arg;
    if (weft_pevent_wait(c->go, WEFT_FOREVER) != 0)
        return 9;
    if (weft_prlock_acquire(c->rlock, 0) != WEFT_ETIMEDOUT)
        return 10;
    if (weft_prlock_acquire(c->rlock, 0.01) != WEFT_ETIMEDOUT)
        return 11;
    if (weft_prlock_release(c->rlock) != WEFT_ENOTOWNER)
        return 12;
    if (weft_prlock_is_owned(c->rlock) || weft_prlock_count(c->rlock) != 0)
        return 13;
    return 0;
}

METHOD_TEST(prlock_recursion_and_robust)
{
    struct ctx *c = ctx_new();
    weft_prlock *r = c->rlock;
    /* Children are started while we hold no lock of theirs: TSan would
     * take a fork under a lock and the child's later acquires for a lock
     * order inversion with weft's fork handlers. */
    weft_process *tryer = spawn(rlock_try, c);
    ck_assert_uint_eq(weft_prlock_count(r), 0);
    WT_ERR(weft_prlock_release(r), WEFT_ENOTOWNER);
    WT_OK(weft_prlock_acquire(r, WEFT_FOREVER));
    WT_OK(weft_prlock_acquire(r, 0));
    WT_OK(weft_prlock_acquire(r, 0));
    WT_OK(weft_prlock_acquire(r, 1));
    ck_assert_uint_eq(weft_prlock_count(r), 4);
    ck_assert(weft_prlock_is_owned(r));
    WT_OK(weft_pevent_set(c->go));
    ck_assert_int_eq(reap(tryer), 0);
    for (int i = 0; i < 4; i++)
        WT_OK(weft_prlock_release(r));
    ck_assert(!weft_prlock_is_owned(r));
    WT_ERR(weft_prlock_release(r), WEFT_ENOTOWNER);
    WT_ERR(weft_prlock_acquire(r, NAN), WEFT_EINVAL);

    /* Killed at depth 3: the next holder starts at depth 1. */
    weft_process *p = spawn(rlock_hold_and_die, c);
    WT_OK(weft_pevent_wait(c->held, WEFT_FOREVER));
    WT_OK(weft_process_kill(p));
    ck_assert_int_eq(reap(p), -SIGKILL);
    WT_ERR(weft_prlock_acquire(r, WEFT_FOREVER), WEFT_EOWNERDEAD);
    ck_assert_uint_eq(weft_prlock_count(r), 1);
    WT_OK(weft_prlock_acquire(r, WEFT_FOREVER));
    WT_OK(weft_prlock_release(r));
    WT_OK(weft_prlock_release(r));
    WT_ERR(weft_prlock_release(r), WEFT_ENOTOWNER);
    WT_OK(weft_prlock_acquire(r, 0));
    WT_OK(weft_prlock_release(r));
    ctx_free(c);
}

/* ------------------------------------------------------------ semaphore */

static int sem_take_two(void *arg)
{
    struct ctx *c = arg;
    weft_pevent_set(c->held);
    if (weft_psem_acquire(c->sem, WEFT_FOREVER) != 0)
        return 10;
    if (weft_psem_acquire(c->sem, 60) != 0)
        return 11;
    return 0;
}

METHOD_TEST(psem_across_processes)
{
    struct ctx *c = ctx_new();
    ck_assert_uint_eq(weft_psem_value(c->sem), 0);
    WT_ERR(weft_psem_acquire(c->sem, 0), WEFT_ETIMEDOUT);
    WT_ERR(weft_psem_acquire(c->sem, 0), WEFT_ETIMEDOUT);
    WT_ERR(weft_psem_acquire(c->sem, 0.02), WEFT_ETIMEDOUT);
    weft_process *p = spawn(sem_take_two, c);
    WT_OK(weft_pevent_wait(c->held, WEFT_FOREVER));
    WT_OK(weft_psem_release(c->sem));
    WT_OK(weft_psem_release(c->sem));
    ck_assert_int_eq(reap(p), 0);
    ck_assert_uint_eq(weft_psem_value(c->sem), 0);
    WT_OK(weft_psem_release_n(c->sem, 3));
    ck_assert_uint_eq(weft_psem_value(c->sem), 3);
    WT_OK(weft_psem_acquire(c->sem, 0));
    WT_OK(weft_psem_acquire(c->sem, WEFT_FOREVER));
    WT_OK(weft_psem_acquire(c->sem, 0));
    WT_ERR(weft_psem_release_n(c->sem, 0), WEFT_EINVAL);
    WT_ERR(weft_psem_acquire(c->sem, -0.5), WEFT_EINVAL);
    /* The unbounded limit. */
    WT_OK(weft_psem_release_n(c->sem, WEFT_SEMAPHORE_MAX));
    WT_ERR(weft_psem_release(c->sem), WEFT_EOVERFLOW);
    WT_ERR(weft_psem_release_n(c->sem, UINT32_MAX), WEFT_EOVERFLOW);
    ck_assert_uint_eq(weft_psem_value(c->sem), WEFT_SEMAPHORE_MAX);
    ctx_free(c);

    weft_psem *b;
    WT_ERR(weft_psem_new(&b, WEFT_SEMAPHORE_MAX + 1u), WEFT_EINVAL);
    WT_ERR(weft_psem_new_bounded(&b, WEFT_SEMAPHORE_MAX + 1u), WEFT_EINVAL);
    WT_OK(weft_psem_new_bounded(&b, 2));
    WT_ERR(weft_psem_release(b), WEFT_EOVERFLOW);
    WT_OK(weft_psem_acquire(b, WEFT_FOREVER));
    WT_ERR(weft_psem_release_n(b, 2), WEFT_EOVERFLOW);
    WT_OK(weft_psem_release(b));
    ck_assert_uint_eq(weft_psem_value(b), 2);
    weft_psem_free(b);
}

/* A permit count shared by 4 processes: never more than 2 inside. */
struct inside {
    weft_psem *sem;
    weft_plock *lock;
    int now, max;
};

static int limited(void *arg)
{
    struct inside *in = arg;
    for (int i = 0; i < 2000; i++) {
        if (weft_psem_acquire(in->sem, WEFT_FOREVER) != 0)
            return 10;
        int n = __atomic_add_fetch(&in->now, 1, __ATOMIC_SEQ_CST);
        int m = __atomic_load_n(&in->max, __ATOMIC_RELAXED);
        while (n > m && !__atomic_compare_exchange_n(&in->max, &m, n, true, __ATOMIC_RELAXED,
                                                     __ATOMIC_RELAXED))
            ;
        __atomic_sub_fetch(&in->now, 1, __ATOMIC_SEQ_CST);
        if (weft_psem_release(in->sem) != 0)
            return 11;
    }
    return 0;
}

METHOD_TEST(psem_limits)
{
    struct inside *in = weft__shared_alloc(sizeof *in);
    WT_OK(weft_psem_new_bounded(&in->sem, 2));
    weft_process *p[4];
    for (int i = 0; i < 4; i++)
        p[i] = spawn(limited, in);
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(reap(p[i]), 0);
    ck_assert_int_le(in->max, 2);
    ck_assert_int_ge(in->max, 1);
    ck_assert_uint_eq(weft_psem_value(in->sem), 2);
    weft_psem_free(in->sem);
    weft__shared_free(in);
}

/* ---------------------------------------------------------------- event */

static int event_waiter(void *arg)
{
    struct ctx *c = arg;
    weft_pevent_set(c->held);
    return weft_pevent_wait(c->go, WEFT_FOREVER) == 0 ? 0 : 11;
}

METHOD_TEST(pevent_across_processes)
{
    struct ctx *c = ctx_new();
    ck_assert(!weft_pevent_is_set(c->go));
    WT_ERR(weft_pevent_wait(c->go, 0), WEFT_ETIMEDOUT);
    WT_ERR(weft_pevent_wait(c->go, 0.02), WEFT_ETIMEDOUT);
    weft_process *p[3];
    for (int i = 0; i < 3; i++)
        p[i] = spawn(event_waiter, c);
    WT_OK(weft_pevent_wait(c->held, WEFT_FOREVER));
    WT_OK(weft_pevent_set(c->go)); /* wakes all three */
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(reap(p[i]), 0);
    ck_assert(weft_pevent_is_set(c->go));
    WT_OK(weft_pevent_wait(c->go, 0));
    WT_OK(weft_pevent_set(c->go));
    WT_OK(weft_pevent_clear(c->go));
    ck_assert(!weft_pevent_is_set(c->go));
    WT_ERR(weft_pevent_wait(c->go, NAN), WEFT_EINVAL);
    ctx_free(c);
}

/* ------------------------------------------------------------ condition */

static bool flag_is(void *arg)
{
    struct ctx *c = arg;
    return c->flag == c->depth;
}

/* Counts up with the parent: waits for each odd value, writes the even. */
static int cond_child(void *arg)
{
    struct ctx *c = arg;
    if (weft_pcond_acquire(c->cond, WEFT_FOREVER) != 0)
        return 10;
    for (int i = 1; i < 20; i += 2) {
        c->depth = i;
        if (weft_pcond_wait_for(c->cond, flag_is, c, WEFT_FOREVER) != 0)
            return 11;
        c->flag = i + 1;
        if (weft_pcond_notify(c->cond, 1) != 0)
            return 12;
    }
    return weft_pcond_release(c->cond) == 0 ? 0 : 13;
}

static bool flag_even(void *arg)
{
    struct ctx *c = arg;
    return c->flag % 2 == 0;
}

METHOD_TEST(pcond_ping_pong)
{
    struct ctx *c = ctx_new();
    c->flag = 0;
    c->depth = -1;
    weft_process *p = spawn(cond_child, c);
    WT_OK(weft_pcond_acquire(c->cond, WEFT_FOREVER));
    for (int i = 0; i < 20; i += 2) {
        /* Plain wait in a loop, as with any condition variable. */
        while (!flag_even(c) || c->flag != i) {
            int rc = weft_pcond_wait(c->cond, WEFT_FOREVER);
            ck_assert_int_eq(rc, 0);
        }
        c->flag = i + 1;
        WT_OK(weft_pcond_notify_all(c->cond));
    }
    WT_OK(weft_pcond_release(c->cond));
    ck_assert_int_eq(reap(p), 0);
    ck_assert_int_eq(c->flag, 20);
    ctx_free(c);
}

static bool never(void *arg)
{
    return false;
}

START_TEST(pcond_rules_and_timeouts)
{
    weft_pcond *c;
    WT_OK(weft_pcond_new(&c, NULL)); /* a private RLock */
    WT_ERR(weft_pcond_wait(c, 0.01), WEFT_ENOTOWNER);
    WT_ERR(weft_pcond_wait_for(c, never, NULL, 0.01), WEFT_ENOTOWNER);
    WT_ERR(weft_pcond_notify(c, 1), WEFT_ENOTOWNER);
    WT_ERR(weft_pcond_notify_all(c), WEFT_ENOTOWNER);
    WT_ERR(weft_pcond_release(c), WEFT_ENOTOWNER);
    WT_OK(weft_pcond_acquire(c, WEFT_FOREVER));
    WT_OK(weft_pcond_acquire(c, 0));
    WT_OK(weft_pcond_acquire(c, 0)); /* depth 3 */
    WT_ERR(weft_pcond_wait(c, 0), WEFT_ETIMEDOUT);
    WT_ERR(weft_pcond_wait(c, 0.02), WEFT_ETIMEDOUT);
    WT_ERR(weft_pcond_wait_for(c, never, NULL, 0.02), WEFT_ETIMEDOUT);
    WT_ERR(weft_pcond_wait_for(c, never, NULL, 0), WEFT_ETIMEDOUT);
    WT_ERR(weft_pcond_wait(c, -3), WEFT_EINVAL);
    WT_ERR(weft_pcond_wait_for(c, NULL, NULL, 1), WEFT_EINVAL);
    WT_OK(weft_pcond_notify(c, 0));
    WT_OK(weft_pcond_notify(c, 5));
    /* Every level came back. */
    WT_OK(weft_pcond_release(c));
    WT_OK(weft_pcond_release(c));
    WT_OK(weft_pcond_release(c));
    WT_ERR(weft_pcond_release(c), WEFT_ENOTOWNER);
    weft_pcond_free(c);

    weft_prlock *r;
    WT_OK(weft_prlock_new(&r));
    WT_OK(weft_pcond_new_rlock(&c, r));
    WT_OK(weft_prlock_acquire(r, WEFT_FOREVER));
    WT_OK(weft_prlock_acquire(r, WEFT_FOREVER));
    WT_ERR(weft_pcond_wait(c, 0.01), WEFT_ETIMEDOUT);
    ck_assert_uint_eq(weft_prlock_count(r), 2);
    WT_OK(weft_prlock_release(r));
    WT_OK(weft_prlock_release(r));
    weft_pcond_free(c);
    weft_prlock_free(r);
}
END_TEST

/* The condition's lock holder is killed while the parent waits: the
 * parent's wait comes back holding the lock, told WEFT_EOWNERDEAD. */
static int cond_notify_and_die(void *arg)
{
    struct ctx *c = arg;
    if (weft_pevent_wait(c->go, WEFT_FOREVER) != 0)
        return 9;
    if (weft_pcond_acquire(c->cond, WEFT_FOREVER) != 0)
        return 10;
    c->flag = 1;
    weft_pcond_notify(c->cond, 1);
    weft_pevent_set(c->held);
    weft_pevent_wait(c->never, WEFT_FOREVER);
    return 11;
}

struct killer {
    struct ctx *c;
    weft_process *p;
};

static void *kill_when_held(void *arg)
{
    struct killer *k = arg;
    weft_pevent_wait(k->c->held, WEFT_FOREVER);
    return (void *)(intptr_t)weft_process_kill(k->p);
}

METHOD_TEST(pcond_holder_dies)
{
    struct ctx *c = ctx_new();
    struct killer k = {c, spawn(cond_notify_and_die, c)};
    WT_OK(weft_pcond_acquire(c->cond, WEFT_FOREVER));
    WT_OK(weft_pevent_set(c->go));
    /* The child can take the lock only while we wait (which releases it),
     * and never gives it back: our wait can only return with the flag set
     * by re-acquiring the lock from the dead child. */
    weft_thread *t = thread(kill_when_held, &k);
    int rc = 0;
    while (c->flag == 0) {
        rc = weft_pcond_wait(c->cond, WEFT_FOREVER);
        ck_assert(rc == 0 || rc == WEFT_EOWNERDEAD);
    }
    WT_ERR(rc, WEFT_EOWNERDEAD);
    ck_assert(weft_plock_is_owned(c->lock));
    WT_OK(weft_pcond_release(c->cond));
    ck_assert_int_eq(thread_rc(t), 0);
    ck_assert_int_eq(reap(k.p), -SIGKILL);
    ctx_free(c);
}

START_TEST(psync_bad_input)
{
    WT_ERR(weft_plock_new(NULL), WEFT_EINVAL);
    WT_ERR(weft_plock_acquire(NULL, WEFT_FOREVER), WEFT_EINVAL);
    WT_ERR(weft_plock_acquire(NULL, 1), WEFT_EINVAL);
    WT_ERR(weft_plock_acquire(NULL, 0), WEFT_EINVAL);
    WT_ERR(weft_plock_release(NULL), WEFT_EINVAL);
    ck_assert(!weft_plock_is_owned(NULL));
    weft_plock_free(NULL);
    WT_ERR(weft_prlock_new(NULL), WEFT_EINVAL);
    WT_ERR(weft_prlock_acquire(NULL, WEFT_FOREVER), WEFT_EINVAL);
    WT_ERR(weft_prlock_acquire(NULL, 1), WEFT_EINVAL);
    WT_ERR(weft_prlock_acquire(NULL, 0), WEFT_EINVAL);
    WT_ERR(weft_prlock_release(NULL), WEFT_EINVAL);
    ck_assert(!weft_prlock_is_owned(NULL));
    ck_assert_uint_eq(weft_prlock_count(NULL), 0);
    weft_prlock_free(NULL);
    WT_ERR(weft_psem_new(NULL, 1), WEFT_EINVAL);
    WT_ERR(weft_psem_new_bounded(NULL, 1), WEFT_EINVAL);
    WT_ERR(weft_psem_acquire(NULL, WEFT_FOREVER), WEFT_EINVAL);
    WT_ERR(weft_psem_acquire(NULL, 1), WEFT_EINVAL);
    WT_ERR(weft_psem_acquire(NULL, 0), WEFT_EINVAL);
    WT_ERR(weft_psem_release(NULL), WEFT_EINVAL);
    WT_ERR(weft_psem_release_n(NULL, 1), WEFT_EINVAL);
    ck_assert_uint_eq(weft_psem_value(NULL), 0);
    weft_psem_free(NULL);
    WT_ERR(weft_pevent_new(NULL), WEFT_EINVAL);
    WT_ERR(weft_pevent_set(NULL), WEFT_EINVAL);
    WT_ERR(weft_pevent_clear(NULL), WEFT_EINVAL);
    WT_ERR(weft_pevent_wait(NULL, 1), WEFT_EINVAL);
    ck_assert(!weft_pevent_is_set(NULL));
    weft_pevent_free(NULL);
    weft_pcond *c = NULL;
    WT_ERR(weft_pcond_new(NULL, NULL), WEFT_EINVAL);
    WT_ERR(weft_pcond_new_rlock(&c, NULL), WEFT_EINVAL);
    WT_ERR(weft_pcond_new_rlock(NULL, NULL), WEFT_EINVAL);
    ck_assert_ptr_null(c);
    WT_ERR(weft_pcond_acquire(NULL, WEFT_FOREVER), WEFT_EINVAL);
    WT_ERR(weft_pcond_acquire(NULL, 1), WEFT_EINVAL);
    WT_ERR(weft_pcond_acquire(NULL, 0), WEFT_EINVAL);
    WT_ERR(weft_pcond_release(NULL), WEFT_EINVAL);
    WT_ERR(weft_pcond_wait(NULL, 1), WEFT_EINVAL);
    WT_ERR(weft_pcond_wait_for(NULL, never, NULL, 1), WEFT_EINVAL);
    WT_ERR(weft_pcond_notify(NULL, 1), WEFT_EINVAL);
    WT_ERR(weft_pcond_notify_all(NULL), WEFT_EINVAL);
    weft_pcond_free(NULL);
}
END_TEST

/* A child's _free of its parent's objects does nothing. */
static int child_frees(void *arg)
{
    struct ctx *c = arg;
    weft_plock_free(c->lock);
    weft_prlock_free(c->rlock);
    weft_psem_free(c->sem);
    weft_pevent_free(c->go);
    weft_pcond_free(c->cond);
    weft_pbarrier_free(c->bar);
    return 0;
}

METHOD_TEST(psync_child_free_is_noop)
{
    struct ctx *c = ctx_new();
    ck_assert_int_eq(run_child(child_frees, c), 0);
    WT_OK(weft_plock_acquire(c->lock, WEFT_FOREVER));
    WT_OK(weft_pcond_notify(c->cond, 1));
    WT_OK(weft_plock_release(c->lock));
    WT_OK(weft_prlock_acquire(c->rlock, WEFT_FOREVER));
    WT_OK(weft_prlock_release(c->rlock));
    WT_OK(weft_psem_release(c->sem));
    WT_OK(weft_pevent_set(c->go));
    ctx_free(c);
}

/* -------------------------------------------------------------- barrier */

enum { BROUNDS = 50, BPARTIES = 4 };

struct bar {
    weft_pbarrier *b;
    int sums[BROUNDS];
    int last[BROUNDS];
};

static int barrier_party(void *arg)
{
    struct bar *x = arg;
    for (int r = 0; r < BROUNDS; r++) {
        unsigned idx;
        if (weft_pbarrier_wait(x->b, &idx, r % 2 ? WEFT_FOREVER : 60) != 0 || idx >= BPARTIES)
            return 10;
        __atomic_fetch_add(&x->sums[r], idx, __ATOMIC_RELAXED);
        if (idx == BPARTIES - 1)
            __atomic_fetch_add(&x->last[r], 1, __ATOMIC_RELAXED);
    }
    return 0;
}

METHOD_TEST(pbarrier_rounds)
{
    struct bar *x = weft__shared_alloc(sizeof *x);
    WT_OK(weft_pbarrier_new(&x->b, BPARTIES));
    ck_assert_uint_eq(weft_pbarrier_parties(x->b), BPARTIES);
    weft_process *p[BPARTIES - 1];
    for (int i = 0; i < BPARTIES - 1; i++)
        p[i] = spawn(barrier_party, x);
    ck_assert_int_eq(barrier_party(x), 0);
    for (int i = 0; i < BPARTIES - 1; i++)
        ck_assert_int_eq(reap(p[i]), 0);
    /* Each round, one of each index 0..3. */
    for (int r = 0; r < BROUNDS; r++) {
        ck_assert_int_eq(x->sums[r], 0 + 1 + 2 + 3);
        ck_assert_int_eq(x->last[r], 1);
    }
    ck_assert(!weft_pbarrier_broken(x->b));
    weft_pbarrier_free(x->b);
    weft__shared_free(x);
}

static int barrier_expect_broken(void *arg)
{
    struct ctx *c = arg;
    return weft_pbarrier_wait(c->bar, NULL, WEFT_FOREVER) == WEFT_EBROKEN ? 0 : 10;
}

static int barrier_expect_index(void *arg)
{
    struct ctx *c = arg;
    return weft_pbarrier_wait(c->bar, NULL, 60) == 0 ? 0 : 10;
}

static void wait_waiting(weft_pbarrier *b, unsigned n)
{
    while (weft_pbarrier_n_waiting(b) != n)
        sched_yield();
}

METHOD_TEST(pbarrier_break)
{
    struct ctx *c = ctx_new();
    weft_pbarrier *b = c->bar;

    /* A timeout breaks it, for later waits too, until reset. */
    WT_ERR(weft_pbarrier_wait(b, NULL, 0.02), WEFT_EBROKEN);
    ck_assert(weft_pbarrier_broken(b));
    WT_ERR(weft_pbarrier_wait(b, NULL, WEFT_FOREVER), WEFT_EBROKEN);
    ck_assert_uint_eq(weft_pbarrier_n_waiting(b), 0);
    WT_OK(weft_pbarrier_reset(b));
    ck_assert(!weft_pbarrier_broken(b));
    WT_ERR(weft_pbarrier_wait(b, NULL, 0), WEFT_EBROKEN); /* 0 polls: breaks */
    WT_OK(weft_pbarrier_reset(b));

    /* Abort reaches a waiter in another process. */
    weft_process *p = spawn(barrier_expect_broken, c);
    wait_waiting(b, 1);
    WT_OK(weft_pbarrier_abort(b));
    ck_assert_int_eq(reap(p), 0);
    ck_assert(weft_pbarrier_broken(b));
    WT_OK(weft_pbarrier_reset(b));

    /* So does a reset, and the barrier works again after it. */
    p = spawn(barrier_expect_broken, c);
    wait_waiting(b, 1);
    WT_OK(weft_pbarrier_reset(b));
    ck_assert_int_eq(reap(p), 0);
    ck_assert(!weft_pbarrier_broken(b));
    p = spawn(barrier_expect_index, c);
    wait_waiting(b, 1);
    unsigned idx;
    WT_OK(weft_pbarrier_wait(b, &idx, 60));
    ck_assert_uint_eq(idx, 1);
    ck_assert_int_eq(reap(p), 0);

    ctx_free(c);
}

START_TEST(pbarrier_bad_input)
{
    weft_pbarrier *b = NULL;
    WT_ERR(weft_pbarrier_new(NULL, 2), WEFT_EINVAL);
    WT_ERR(weft_pbarrier_new(&b, 0), WEFT_EINVAL);
    WT_ERR(weft_pbarrier_new(&b, UINT32_MAX), WEFT_EINVAL);
    ck_assert_ptr_null(b);
    WT_ERR(weft_pbarrier_wait(NULL, NULL, 1), WEFT_EINVAL);
    WT_ERR(weft_pbarrier_abort(NULL), WEFT_EINVAL);
    WT_ERR(weft_pbarrier_reset(NULL), WEFT_EINVAL);
    ck_assert_uint_eq(weft_pbarrier_parties(NULL), 0);
    ck_assert_uint_eq(weft_pbarrier_n_waiting(NULL), 0);
    ck_assert(!weft_pbarrier_broken(NULL));
    weft_pbarrier_free(NULL);
    WT_OK(weft_pbarrier_new(&b, 1));
    WT_ERR(weft_pbarrier_wait(b, NULL, NAN), WEFT_EINVAL);
    WT_ERR(weft_pbarrier_wait(b, NULL, -1.5), WEFT_EINVAL);
    WT_ERR(weft_pbarrier_wait(b, NULL, 0), 0); /* one party: always the last */
    WT_ERR(weft_pbarrier_wait(b, NULL, WEFT_FOREVER), 0);
    weft_pbarrier_free(b);
}
END_TEST

WT_MAIN("shm_sync", 60, plock_single_process, plock_locked, plock_excludes_processes, plock_counter,
        plock_robust_killed_holder, plock_robust_exited_holder, plock_robust_thread_exit, prlock_recursion_and_robust,
        psem_across_processes, psem_limits, pevent_across_processes, pcond_ping_pong,
        pcond_rules_and_timeouts, pcond_holder_dies, psync_bad_input, psync_child_free_is_noop,
        pbarrier_rounds, pbarrier_break, pbarrier_bad_input)
