/*
 * Threads: threading.Thread over joinable pthreads, the registry of live
 * threads (enumerate, active_count, shutdown), current/main/dummy records,
 * and what happens at exit and after fork.
 *
 * Ownership. A record is reference-counted. weft_thread_new gives the caller
 * one reference; a started thread holds one until its very last touch of the
 * record; a dummy record's reference belongs to its thread (dropped by the
 * pthread key destructor); the main record is static and never freed. The
 * registry holds no reference: a thread removes itself (under g_lock) before
 * it drops its own.
 *
 * Reaping. The pthread is joinable. Whoever first claims `reaped` reaps it:
 * the first joiner that sees it finished (pthread_join then returns at once,
 * or after the thread's last few instructions: it is finished only after its
 * destructors, see exit_round), or, if nobody ever joins, the
 * last reference's release (pthread_detach). Joiners wait on `status` through
 * park, never in pthread_join, so joins have timeouts and any number of
 * threads may join. pthreads created before a fork do not exist in the child
 * and are never reaped there (`gen`).
 *
 * Locking. g_lock (an internal weft_lock) guards the registry list, names,
 * `os_alive` and the NEW->STARTING and ->FINISHED transitions; nothing else
 * is taken under it except park's bucket locks. Fields read without it are
 * atomics; `result` and `pt` are published by the release store of
 * status (RUNNING / FINISHED) and read after an acquire load of it.
 *
 * Identity. ident is a 64-bit number from a global counter, taken when a
 * thread is started (or when a thread not created by weft first asks):
 * unique among all threads the process ever had, not only the live ones, and
 * never reused, unlike pthread_self(). native_id is gettid().
 */
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "internal/clock.h"
#include "internal/park.h"
#include "internal/sync.h"
#include "internal/thread.h"
#include "weft/thread.h"

enum { KIND_THREAD, KIND_MAIN, KIND_DUMMY };

#define MIN_STACK (16 * 1024)
#define OS_NAME_MAX 15 /* Linux: 16 bytes with the NUL */

struct weft_thread {
    uint32_t refs;
    uint32_t status;       /* weft_thread_status (never WAITING); park key of joiners */
    uint32_t reaped;       /* 1 once pthread_join/detach is claimed */
    uint8_t daemon;        /* atomic */
    uint8_t kind;
    bool os_alive;         /* g_lock: the pthread exists, pt may name it */
    bool pt_set;           /* atomic: pt is known (release after pt's store) */
    bool name_static;      /* the main record's initial name */
    bool named;            /* the user chose the name: it becomes the OS name */
    char *name;            /* atomic pointer; replaced under g_lock */
    weft_thread_fn fn;
    void *arg;
    void *result;
    size_t stack_size;
    pthread_t pt;
    uint64_t ident;        /* atomic */
    pid_t native_id;       /* atomic */
    unsigned gen;          /* fork generation of the pthread */
    weft__wait_slot slot;
    weft_thread *prev, *next; /* registry, g_lock */
};

static weft_lock g_lock = WEFT_LOCK_INIT;
static weft_thread g_list = {.prev = &g_list, .next = &g_list}; /* sentinel */
static size_t g_count;
static weft_thread g_main_rec;
static weft_thread *g_main;
static unsigned g_fork_gen;   /* written only by the fork child handler */
static uint64_t g_ident_counter;
static uint64_t g_name_counter;
static pthread_key_t g_dummy_key;
static bool g_dummy_key_ok;
static pthread_once_t g_init_once = PTHREAD_ONCE_INIT;
static pthread_once_t g_atexit_once = PTHREAD_ONCE_INIT;

static pthread_key_t g_exit_key;
static bool g_exit_key_ok;

static _Thread_local weft_thread *tls_self;
static _Thread_local uint64_t tls_ident;
static _Thread_local bool tls_exit_armed;     /* g_exit_key finishes this thread */
static _Thread_local unsigned tls_exit_rounds; /* its destructor's calls so far */

/* ------------------------------------------------------------- helpers */

static void g_acquire(void)
{
    /* Shown as "other" if it ever parks: it is weft's, not the user's. */
    if (weft_lock_acquire(&g_lock, 0) != 0) {
        weft__cancel_mask();
        weft__lock_acquire_until(&g_lock, WEFT__NO_DEADLINE, WEFT_WAIT_OTHER, &g_lock);
        weft__cancel_unmask();
    }
}

static void g_release(void)
{
    weft_lock_release(&g_lock);
}

static pid_t sys_gettid(void)
{
    /* Not cached: the value changes in a fork child. */
    return (pid_t)syscall(SYS_gettid);
}

static uint32_t status_of(const weft_thread *t)
{
    return __atomic_load_n(&t->status, __ATOMIC_ACQUIRE);
}

static void set_status(weft_thread *t, weft_thread_status s)
{
    __atomic_store_n(&t->status, (uint32_t)s, __ATOMIC_RELEASE);
}

static void list_insert(weft_thread *t)
{
    t->next = &g_list;
    t->prev = g_list.prev;
    g_list.prev->next = t;
    g_list.prev = t;
    g_count++;
}

static void list_remove(weft_thread *t)
{
    t->prev->next = t->next;
    t->next->prev = t->prev;
    t->prev = t->next = NULL;
    g_count--;
}

/* "<prefix>-<n>" with a fresh n. Formatted by hand: snprintf was a quarter
 * of the instructions of a thread's whole start and join. */
static char *numbered_name(const char *prefix)
{
    uint64_t n = __atomic_add_fetch(&g_name_counter, 1, __ATOMIC_RELAXED);
    char digits[20], *d = digits + sizeof digits;
    do
        *--d = (char)('0' + n % 10);
    while ((n /= 10) != 0);
    size_t plen = strlen(prefix), dlen = (size_t)(digits + sizeof digits - d);
    char *name = malloc(plen + 1 + dlen + 1);
    if (name) {
        memcpy(name, prefix, plen);
        name[plen] = '-';
        memcpy(name + plen + 1, d, dlen);
        name[plen + 1 + dlen] = '\0';
    }
    return name;
}

/* Under g_lock, with the pthread alive. Best effort: the OS name is a
 * debugging aid, and renaming another thread goes through /proc, which a
 * sandbox may refuse. */
static void os_set_name(weft_thread *t, pthread_t pt)
{
    char buf[OS_NAME_MAX + 1];
    /* The first 15 bytes, even inside a UTF-8 character, as Python 3.14's
     * Thread does (its test_set_name pins the byte cut). */
    size_t len = strnlen(t->name, OS_NAME_MAX);
    memcpy(buf, t->name, len);
    buf[len] = '\0';
    pthread_setname_np(pt, buf);
}

static void record_free(weft_thread *t)
{
    if (t->kind == KIND_THREAD && status_of(t) != WEFT_THREAD_NEW && t->gen == g_fork_gen &&
        !__atomic_exchange_n(&t->reaped, 1, __ATOMIC_ACQ_REL))
        pthread_detach(__atomic_load_n(&t->pt, __ATOMIC_RELAXED));
    if (!t->name_static)
        free(t->name);
    free(t);
}

static void unref(weft_thread *t)
{
    /* acq_rel: the freeing side must see every other holder's writes. */
    if (__atomic_sub_fetch(&t->refs, 1, __ATOMIC_ACQ_REL) == 0 && t != &g_main_rec)
        record_free(t);
}

/* A thread's last steps on its own record: leave the registry, publish
 * FINISHED, wake the joiners, drop the thread's reference. */
static void finish(weft_thread *t)
{
    g_acquire();
    list_remove(t);
    t->os_alive = false;
    set_status(t, WEFT_THREAD_FINISHED);
    g_release();
    weft__unpark(&t->status, SIZE_MAX, NULL, NULL);
    /* Anything that still runs on this thread (key destructors, a weft_local
     * destructor that parks) must not write into a record that may be freed
     * below. */
    tls_self = NULL;
    weft__my_wait_slot = NULL;
    unref(t);
}

/* ---------------------------------------------- init, exit and fork */

static void atfork_prepare(void)
{
    g_acquire();
}

static void atfork_parent(void)
{
    g_release();
}

/*
 * In the child only the forking thread exists. Park's queues, g_lock and
 * every other record describe threads that are gone: reset them. Records of
 * vanished threads are marked finished (joins return at once) and their
 * pthreads are never joined or detached here (g_fork_gen moves on). The
 * forking thread becomes the main thread, as in Python.
 */
static void atfork_child(void)
{
    weft__park_after_fork_child();
    __atomic_store_n(&g_lock.word_, 0, __ATOMIC_RELAXED);
    g_fork_gen++;

    weft_thread *self = tls_self;
    if (!self) {
        /* A thread weft did not know forked: the static main record now
         * describes it. */
        self = &g_main_rec;
        self->pt = pthread_self();
        __atomic_store_n(&self->ident, weft_get_ident(), __ATOMIC_RELAXED);
        tls_self = self;
        weft__my_wait_slot = &self->slot;
    }

    weft_thread *t = g_list.next;
    while (t != &g_list) {
        weft_thread *next = t->next;
        t->prev = t->next = NULL;
        if (t != self) {
            t->os_alive = false;
            memset(&t->slot, 0, sizeof t->slot);
            set_status(t, WEFT_THREAD_FINISHED);
            /* The vanished thread's own reference (a weft thread's, or a
             * dummy's, which its key destructor would have dropped). */
            if (t->kind != KIND_MAIN)
                unref(t);
        }
        t = next;
    }
    g_list.next = g_list.prev = &g_list;
    g_count = 0;
    memset(&self->slot, 0, sizeof self->slot);
    self->os_alive = true;
    set_status(self, WEFT_THREAD_RUNNING);
    __atomic_store_n(&self->native_id, sys_gettid(), __ATOMIC_RELAXED);
    list_insert(self);
    g_main = self;
}

static void dummy_exit(void *p)
{
    weft_thread *t = p;
    finish(t);
}

/*
 * A weft thread is FINISHED only once nothing more runs on it: after its
 * function, C++ thread_local destructors and the destructors of pthread
 * keys (weft_local's among them) run, and until they are done the thread
 * is alive and a join waits for it with its deadline (a join that saw
 * FINISHED early would then wait out a slow destructor in pthread_join).
 * glibc and musl run the thread_local destructors first, then the keys'
 * in rounds, one more (up to PTHREAD_DESTRUCTOR_ITERATIONS) while any
 * destructor sets a value again. This key's destructor sets itself again
 * until the last round and finishes the thread there, after every
 * destructor of the earlier rounds. Were the key missing (no key left at
 * init, or setspecific failing), the cleanup handler of the thread's
 * function finishes it, before the destructors, as before.
 *
 * ThreadSanitizer forgets the thread in the last round too, from a key it
 * made before any of ours, so its destructor runs first in that round: an
 * atomic operation of ours after it works on freed sanitizer state (a
 * crash when it must create the sync object). Under it, the thread
 * finishes one round earlier, while the sanitizer still knows it.
 */
#if WEFT_SANITIZE_THREAD
#define EXIT_ROUNDS (PTHREAD_DESTRUCTOR_ITERATIONS - 1)
#else
#define EXIT_ROUNDS PTHREAD_DESTRUCTOR_ITERATIONS
#endif

static void exit_round(void *p)
{
    if (++tls_exit_rounds < EXIT_ROUNDS && pthread_setspecific(g_exit_key, p) == 0)
        return;
    finish(p);
}

static void init_once(void)
{
    weft_thread *m = &g_main_rec;
    m->refs = 1; /* never dropped: the main record is always valid */
    m->kind = KIND_MAIN;
    m->name = "MainThread";
    m->name_static = true;
    m->status = WEFT_THREAD_RUNNING;
    m->reaped = 1;
    m->os_alive = true;
    m->pt = pthread_self();
    m->ident = weft_get_ident();
    m->native_id = sys_gettid();
    tls_self = m;
    weft__my_wait_slot = &m->slot;
    list_insert(m);
    g_main = m;
    g_dummy_key_ok = pthread_key_create(&g_dummy_key, dummy_exit) == 0;
    g_exit_key_ok = pthread_key_create(&g_exit_key, exit_round) == 0;
    pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
}

static void ensure_init(void)
{
    pthread_once(&g_init_once, init_once);
}

/* Run before main(), so the main record is really the main thread's. */
__attribute__((constructor)) static void thread_module_ctor(void)
{
    ensure_init();
}

static void at_exit(void)
{
    /* As Python's threading._shutdown: the main thread is finished once it
     * exits, so a thread that joins it returns instead of hanging the exit
     * (it is itself joined just below). */
    weft_thread *m = g_main;
    if (m && tls_self == m) {
        g_acquire();
        set_status(m, WEFT_THREAD_FINISHED);
        g_release();
        weft__unpark(&m->status, SIZE_MAX, NULL, NULL);
    }
    weft_shutdown(WEFT_FOREVER);
}

static void register_atexit(void)
{
    atexit(at_exit);
}

/* ------------------------------------------------------- the lifecycle */

int weft_thread_new(weft_thread **out, weft_thread_fn fn, void *arg,
                    const weft_thread_opts *opts)
{
    static const weft_thread_opts defaults;
    if (!out || !fn)
        return WEFT_EINVAL;
    if (!opts)
        opts = &defaults;
    if (opts->daemon < WEFT_DAEMON_INHERIT || opts->daemon > WEFT_DAEMON_NO ||
        (opts->stack_size && opts->stack_size < MIN_STACK))
        return WEFT_EINVAL;
    ensure_init();

    weft_thread *t = calloc(1, sizeof *t);
    if (!t)
        return WEFT_ENOMEM;
    /* Python's Thread(name="") gets a default name too. */
    t->named = opts->name && opts->name[0];
    t->name = t->named ? strdup(opts->name) : numbered_name("Thread");
    if (!t->name) {
        free(t);
        return WEFT_ENOMEM;
    }
    t->refs = 1;
    t->kind = KIND_THREAD;
    t->fn = fn;
    t->arg = arg;
    t->stack_size = opts->stack_size;
    if (opts->daemon == WEFT_DAEMON_INHERIT) {
        /* Python inherits current_thread().daemon; threads weft does not
         * know would be dummies, which are daemons. */
        weft_thread *cur = tls_self;
        t->daemon = cur ? __atomic_load_n(&cur->daemon, __ATOMIC_RELAXED) : 1;
    } else {
        t->daemon = opts->daemon == WEFT_DAEMON_YES;
    }
    *out = t;
    return 0;
}

weft_thread *weft_thread_ref(weft_thread *t)
{
    if (t)
        __atomic_add_fetch(&t->refs, 1, __ATOMIC_RELAXED);
    return t;
}

void weft_thread_unref(weft_thread *t)
{
    if (t)
        unref(t);
}

static void finish_cleanup(void *arg)
{
    if (!tls_exit_armed)
        finish(arg); /* else g_exit_key's destructor does, later */
}

/* pthread_t is an integer (glibc) or a pointer (musl) on Linux, so the
 * atomic builtins take it. Two writers store the same value. */
static void record_pt(weft_thread *t, pthread_t pt)
{
    __atomic_store_n(&t->pt, pt, __ATOMIC_RELAXED);
    __atomic_store_n(&t->pt_set, true, __ATOMIC_RELEASE);
}

static void *trampoline(void *arg)
{
    weft_thread *t = arg;
    tls_self = t;
    tls_ident = __atomic_load_n(&t->ident, __ATOMIC_RELAXED);
    weft__my_wait_slot = &t->slot;

    g_acquire();
    record_pt(t, pthread_self()); /* the starter may not have yet */
    t->os_alive = true;
    __atomic_store_n(&t->native_id, sys_gettid(), __ATOMIC_RELAXED);
    /* Only a name the user chose: a default "Thread-N" is not worth a
     * system call on every start (pthreads leaves the OS name alone too). */
    if (t->named)
        os_set_name(t, pthread_self());
    set_status(t, WEFT_THREAD_RUNNING);
    g_release();

    /* The exit key's destructor finishes the thread however it leaves
     * (a return, pthread_exit, a cancellation), after the other
     * destructors; the cleanup handler does where the key is missing. */
    tls_exit_armed = g_exit_key_ok && pthread_setspecific(g_exit_key, t) == 0;
    pthread_cleanup_push(finish_cleanup, t);
    t->result = t->fn(t->arg);
    pthread_cleanup_pop(1);
    return NULL;
}

static int create_pthread(weft_thread *t)
{
    pthread_attr_t attr;
    if (pthread_attr_init(&attr) != 0)
        return WEFT_ENOMEM;
    int rc = 0;
    if (t->stack_size) {
        size_t page = (size_t)sysconf(_SC_PAGESIZE);
        size_t min = (size_t)sysconf(_SC_THREAD_STACK_MIN);
        size_t size = t->stack_size;
        if (size > SIZE_MAX - page)
            rc = WEFT_EINVAL;
        size = (size + page - 1) / page * page;
        if (size < min)
            size = min;
        if (!rc && pthread_attr_setstacksize(&attr, size) != 0)
            rc = WEFT_EINVAL;
    }
    if (!rc) {
        pthread_t pt;
        int err = pthread_create(&pt, &attr, trampoline, t);
        /* Only EAGAIN is documented for a system short of threads or
         * memory; anything else means the same to the caller. */
        if (err) {
            rc = err == EINVAL ? WEFT_EINVAL : WEFT_EAGAIN;
        } else {
            /* Recorded here as well as by the thread itself, whichever comes
             * first, so that a join right after start can use it. */
            record_pt(t, pt);
        }
    }
    pthread_attr_destroy(&attr);
    return rc;
}

int weft_thread_start(weft_thread *t)
{
    if (!t)
        return WEFT_EINVAL;
    if (t->kind != KIND_THREAD)
        return WEFT_ESTATE;
    pthread_once(&g_atexit_once, register_atexit);

    g_acquire();
    if (status_of(t) != WEFT_THREAD_NEW) {
        g_release();
        return WEFT_ESTATE;
    }
    set_status(t, WEFT_THREAD_STARTING);
    __atomic_store_n(&t->ident, __atomic_add_fetch(&g_ident_counter, 1, __ATOMIC_RELAXED),
                     __ATOMIC_RELAXED);
    t->gen = g_fork_gen;
    /* The running thread's reference, taken before the record is visible:
     * a fork child drops it for every registered thread. */
    weft_thread_ref(t);
    /* Registered before it runs, so shutdown (and a fork) can see it. */
    list_insert(t);
    g_release();

    int rc = create_pthread(t);
    if (rc) {
        g_acquire();
        list_remove(t);
        __atomic_store_n(&t->ident, 0, __ATOMIC_RELAXED);
        set_status(t, WEFT_THREAD_NEW);
        g_release();
        /* A shutdown may have found it registered and be joining it. */
        weft__unpark(&t->status, SIZE_MAX, NULL, NULL);
        unref(t);
    }
    return rc;
}

static bool is_running(uint32_t s)
{
    return s == WEFT_THREAD_STARTING || s == WEFT_THREAD_RUNNING;
}

static bool join_validate(void *ctx)
{
    return is_running(status_of(ctx));
}

/*
 * A join without a deadline can wait in pthread_join itself, which the
 * kernel ends when the thread exits: one wake-up instead of two (park's,
 * then pthread_join's). Only the joiner that claims the reaping can; others
 * park on the status as usual and finish() wakes them.
 */
static bool join_directly(weft_thread *t)
{
    if (t->kind != KIND_THREAD)
        return false;
    /* gen was written under g_lock before the pthread was created, and
     * pt_set's acquire orders it. */
    if (!__atomic_load_n(&t->pt_set, __ATOMIC_ACQUIRE) || t->gen != g_fork_gen ||
        __atomic_exchange_n(&t->reaped, 1, __ATOMIC_ACQ_REL))
        return false;
    pthread_t pt = __atomic_load_n(&t->pt, __ATOMIC_RELAXED);
    weft__wait_slot_enter(WEFT_WAIT_JOIN, t);
    pthread_join(pt, NULL);
    weft__wait_slot_leave();
    return true;
}

int weft_thread_join(weft_thread *t, double timeout)
{
    if (!t || weft__timeout_valid(timeout))
        return WEFT_EINVAL;
    uint32_t s = status_of(t);
    if (s == WEFT_THREAD_NEW)
        return WEFT_ESTATE;
    if (t == tls_self)
        return WEFT_EDEADLK;
    if (t->kind == KIND_DUMMY)
        return WEFT_ESTATE; /* Python: "cannot join a dummy thread" */
    if (is_running(s)) {
        if (timeout == 0)
            return WEFT_ETIMEDOUT;
        /* pthread_join would block a coroutine's whole loop: coroutines
         * take the parking path. */
        if (timeout == WEFT_FOREVER && weft__park_should_spin() && join_directly(t))
            return 0;
        weft__park_spec spec = {
            .validate = join_validate,
            .ctx = t,
            .why = WEFT_WAIT_JOIN,
            .what = t,
        };
        int64_t deadline = weft__deadline(timeout);
        while (is_running(s = status_of(t))) {
            int rc = weft__park(&t->status, &spec, deadline, NULL);
            if (rc != 0 && rc != WEFT_EAGAIN)
                return rc;
        }
        if (s == WEFT_THREAD_NEW)
            return WEFT_ESTATE; /* its start failed meanwhile */
    }
    if (t->kind == KIND_THREAD && t->gen == g_fork_gen &&
        !__atomic_exchange_n(&t->reaped, 1, __ATOMIC_ACQ_REL))
        pthread_join(__atomic_load_n(&t->pt, __ATOMIC_RELAXED), NULL);
    return 0;
}

bool weft_thread_is_alive(const weft_thread *t)
{
    return t && is_running(status_of(t));
}

int weft_thread_result(const weft_thread *t, void **out)
{
    if (!t || !out)
        return WEFT_EINVAL;
    if (status_of(t) != WEFT_THREAD_FINISHED || t->kind != KIND_THREAD)
        return WEFT_ESTATE;
    *out = t->result;
    return 0;
}

/* ------------------------------------------------------------ attributes */

const char *weft_thread_name(const weft_thread *t)
{
    return t ? __atomic_load_n(&t->name, __ATOMIC_ACQUIRE) : NULL;
}

int weft_thread_set_name(weft_thread *t, const char *name)
{
    if (!t || !name)
        return WEFT_EINVAL;
    char *copy = strdup(name);
    if (!copy)
        return WEFT_ENOMEM;
    g_acquire();
    char *old = t->name;
    bool old_static = t->name_static;
    __atomic_store_n(&t->name, copy, __ATOMIC_RELEASE);
    t->name_static = false;
    t->named = true;
    if (t->kind == KIND_THREAD && t->os_alive)
        os_set_name(t, __atomic_load_n(&t->pt, __ATOMIC_RELAXED));
    g_release();
    if (!old_static)
        free(old);
    return 0;
}

bool weft_thread_daemon(const weft_thread *t)
{
    return t && __atomic_load_n(&t->daemon, __ATOMIC_RELAXED);
}

int weft_thread_set_daemon(weft_thread *t, bool daemon)
{
    if (!t)
        return WEFT_EINVAL;
    int rc = 0;
    g_acquire(); /* against a concurrent start */
    if (status_of(t) != WEFT_THREAD_NEW)
        rc = WEFT_ESTATE;
    else
        __atomic_store_n(&t->daemon, daemon, __ATOMIC_RELAXED);
    g_release();
    return rc;
}

uint64_t weft_thread_ident(const weft_thread *t)
{
    return t ? __atomic_load_n(&t->ident, __ATOMIC_RELAXED) : 0;
}

pid_t weft_thread_native_id(const weft_thread *t)
{
    return t ? __atomic_load_n(&t->native_id, __ATOMIC_RELAXED) : 0;
}

weft_thread_state weft_thread_get_state(const weft_thread *t)
{
    weft_thread_state st = {WEFT_THREAD_NEW, WEFT_WAIT_NONE, NULL};
    if (!t)
        return st;
    st.status = status_of(t);
    if (st.status == WEFT_THREAD_RUNNING) {
        int why;
        const void *what;
        weft__wait_slot_read(&t->slot, &why, &what);
        if (why != WEFT_WAIT_NONE) {
            st.status = WEFT_THREAD_WAITING;
            st.waiting_on = (weft_wait_kind)why;
            st.object = what;
        }
    }
    return st;
}

const char *weft_thread_status_name(weft_thread_status s)
{
    static const char *const names[] = {
        [WEFT_THREAD_NEW] = "new",         [WEFT_THREAD_STARTING] = "starting",
        [WEFT_THREAD_RUNNING] = "running", [WEFT_THREAD_WAITING] = "waiting",
        [WEFT_THREAD_FINISHED] = "finished",
    };
    if ((unsigned)s < sizeof names / sizeof names[0])
        return names[s];
    return "unknown";
}

/* -------------------------------------------------- the module's functions */

static weft_thread *make_dummy(void)
{
    ensure_init();
    if (!g_dummy_key_ok)
        return NULL;
    weft_thread *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->name = numbered_name("Dummy");
    if (!t->name) {
        free(t);
        return NULL;
    }
    t->refs = 1; /* the thread's, dropped by dummy_exit */
    t->kind = KIND_DUMMY;
    t->daemon = 1;
    t->reaped = 1; /* not weft's to join */
    t->status = WEFT_THREAD_RUNNING;
    t->pt = pthread_self();
    t->ident = weft_get_ident();
    t->native_id = sys_gettid();
    if (pthread_setspecific(g_dummy_key, t) != 0) {
        free(t->name);
        free(t);
        return NULL;
    }
    g_acquire();
    t->os_alive = true;
    list_insert(t);
    g_release();
    tls_self = t;
    weft__my_wait_slot = &t->slot;
    return t;
}

weft_thread *weft_current_thread(void)
{
    weft_thread *t = tls_self;
    return t ? t : make_dummy();
}

weft_thread *weft_main_thread(void)
{
    ensure_init();
    return g_main;
}

int weft_enumerate(weft_thread **out, size_t cap, size_t *n)
{
    if (!n || (cap && !out))
        return WEFT_EINVAL;
    ensure_init();
    g_acquire();
    size_t k = 0;
    for (weft_thread *t = g_list.next; t != &g_list && k < cap; t = t->next)
        out[k++] = weft_thread_ref(t);
    *n = g_count;
    g_release();
    return 0;
}

size_t weft_active_count(void)
{
    ensure_init();
    g_acquire();
    size_t n = g_count;
    g_release();
    return n;
}

uint64_t weft_get_ident(void)
{
    if (!tls_ident)
        tls_ident = __atomic_add_fetch(&g_ident_counter, 1, __ATOMIC_RELAXED);
    return tls_ident;
}

pid_t weft_get_native_id(void)
{
    return sys_gettid();
}

/* The first live non-daemon thread weft started, other than the caller,
 * with a reference; NULL if none. */
static weft_thread *next_to_join(void)
{
    weft_thread *found = NULL;
    g_acquire();
    for (weft_thread *t = g_list.next; t != &g_list; t = t->next) {
        if (t->kind == KIND_THREAD && t != tls_self &&
            !__atomic_load_n(&t->daemon, __ATOMIC_RELAXED)) {
            found = weft_thread_ref(t);
            break;
        }
    }
    g_release();
    return found;
}

int weft_shutdown(double timeout)
{
    if (weft__timeout_valid(timeout))
        return WEFT_EINVAL;
    ensure_init();
    int64_t deadline = weft__deadline(timeout);
    /* Threads started meanwhile (by the threads being joined) are joined
     * too: loop until none is left, as Python's _shutdown does. */
    weft_thread *t;
    while ((t = next_to_join())) {
        int rc = weft_thread_join(t, weft__remaining(deadline));
        unref(t);
        /* WEFT_ESTATE: its start failed meanwhile; nothing to wait for. */
        if (rc && rc != WEFT_ESTATE)
            return rc;
    }
    return 0;
}

unsigned weft__cpu_count(void)
{
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0)
        return (unsigned)CPU_COUNT(&set);
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (unsigned)n : 1;
}

bool weft__can_spin(void)
{
    /* 0 unknown, 1 one CPU, 2 more: asked once (a system call), since
     * spinners ask before every wait. */
    static int known;
    int k = __atomic_load_n(&known, __ATOMIC_RELAXED);
    if (k == 0) {
        k = weft__cpu_count() > 1 ? 2 : 1;
        __atomic_store_n(&known, k, __ATOMIC_RELAXED);
    }
    return k == 2;
}

/* The wait slot's kinds (weft/thread.h), by name. */
const char *weft_wait_kind_name(weft_wait_kind kind)
{
    static const char *const names[] = {
        [WEFT_WAIT_NONE] = "none",           [WEFT_WAIT_LOCK] = "lock",
        [WEFT_WAIT_RLOCK] = "rlock",         [WEFT_WAIT_CONDITION] = "condition",
        [WEFT_WAIT_SEMAPHORE] = "semaphore", [WEFT_WAIT_EVENT] = "event",
        [WEFT_WAIT_BARRIER] = "barrier",     [WEFT_WAIT_JOIN] = "join",
        [WEFT_WAIT_SLEEP] = "sleep",         [WEFT_WAIT_OTHER] = "other",
        [WEFT_WAIT_QUEUE] = "queue",         [WEFT_WAIT_FUTURE] = "future",
    };
    if ((unsigned)kind < sizeof names / sizeof names[0] && names[kind])
        return names[kind];
    return "unknown";
}
