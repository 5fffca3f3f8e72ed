/* weft_thread: lifecycle, errors, observable states, identity, names, the
 * registry, daemons, shutdown and exit, fork. Interleavings are forced with
 * locks and by polling observable state, never by sleeping. */
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "wt.h"

#ifdef WEFT_SANITIZE_THREAD
/* The fork tests fork with threads running and create threads in the
 * child, which TSan refuses by default. */
const char *__tsan_default_options(void);
const char *__tsan_default_options(void)
{
    return "die_after_fork=0";
}
#endif

static void *return_arg(void *arg)
{
    return arg;
}

/* Blocks on the lock passed (held by the test), then releases it. */
static void *take_lock(void *arg)
{
    weft_lock *l = arg;
    weft_lock_acquire(l, WEFT_FOREVER);
    weft_lock_release(l);
    return (void *)(intptr_t)7;
}

static weft_thread *start(weft_thread_fn fn, void *arg, const weft_thread_opts *opts)
{
    weft_thread *t = NULL;
    WT_OK(weft_thread_new(&t, fn, arg, opts));
    WT_OK(weft_thread_start(t));
    return t;
}

START_TEST(thread_basic)
{
    int x;
    weft_thread *t;
    WT_OK(weft_thread_new(&t, return_arg, &x, NULL));
    ck_assert(!weft_thread_is_alive(t));
    ck_assert_int_eq(weft_thread_get_state(t).status, WEFT_THREAD_NEW);
    WT_OK(weft_thread_start(t));
    WT_OK(weft_thread_join(t, WEFT_FOREVER));
    ck_assert(!weft_thread_is_alive(t));
    weft_thread_state s = weft_thread_get_state(t);
    ck_assert_int_eq(s.status, WEFT_THREAD_FINISHED);
    ck_assert_int_eq(s.waiting_on, WEFT_WAIT_NONE);
    void *r = NULL;
    WT_OK(weft_thread_result(t, &r));
    ck_assert_ptr_eq(r, &x);
    /* Joining again (and polling) is fine. */
    WT_OK(weft_thread_join(t, 0));
    WT_OK(weft_thread_join(t, WEFT_FOREVER));
    weft_thread_unref(t);
}
END_TEST

START_TEST(thread_errors)
{
    weft_thread *t;
    weft_thread_opts bad_daemon = {.daemon = 3};
    weft_thread_opts bad_stack = {.stack_size = 16 * 1024 - 1};
    WT_ERR(weft_thread_new(NULL, return_arg, NULL, NULL), WEFT_EINVAL);
    WT_ERR(weft_thread_new(&t, NULL, NULL, NULL), WEFT_EINVAL);
    WT_ERR(weft_thread_new(&t, return_arg, NULL, &bad_daemon), WEFT_EINVAL);
    WT_ERR(weft_thread_new(&t, return_arg, NULL, &bad_stack), WEFT_EINVAL);

    WT_OK(weft_thread_new(&t, return_arg, NULL, NULL));
    void *r;
    WT_ERR(weft_thread_join(t, WEFT_FOREVER), WEFT_ESTATE);
    WT_ERR(weft_thread_join(t, 0), WEFT_ESTATE);
    WT_ERR(weft_thread_result(t, &r), WEFT_ESTATE);
    WT_ERR(weft_thread_result(t, NULL), WEFT_EINVAL);
    WT_ERR(weft_thread_join(t, -3), WEFT_EINVAL);
    WT_ERR(weft_thread_join(t, 0.0 / 0.0), WEFT_EINVAL);
    ck_assert_uint_eq(weft_thread_ident(t), 0);
    ck_assert_int_eq(weft_thread_native_id(t), 0);
    WT_OK(weft_thread_start(t));
    WT_ERR(weft_thread_start(t), WEFT_ESTATE);
    WT_OK(weft_thread_join(t, WEFT_FOREVER));
    WT_ERR(weft_thread_start(t), WEFT_ESTATE);
    WT_ERR(weft_thread_set_daemon(t, true), WEFT_ESTATE);
    weft_thread_unref(t);

    /* NULL everywhere. */
    WT_ERR(weft_thread_start(NULL), WEFT_EINVAL);
    WT_ERR(weft_thread_join(NULL, 1), WEFT_EINVAL);
    WT_ERR(weft_thread_result(NULL, &r), WEFT_EINVAL);
    WT_ERR(weft_thread_set_name(NULL, "x"), WEFT_EINVAL);
    WT_ERR(weft_thread_set_daemon(NULL, true), WEFT_EINVAL);
    WT_ERR(weft_enumerate(NULL, 0, NULL), WEFT_EINVAL);
    size_t nthreads;
    WT_ERR(weft_enumerate(NULL, 1, &nthreads), WEFT_EINVAL);
    WT_ERR(weft_shutdown(-2), WEFT_EINVAL);
    ck_assert(!weft_thread_is_alive(NULL));
    ck_assert(!weft_thread_daemon(NULL));
    ck_assert_ptr_null(weft_thread_name(NULL));
    ck_assert_ptr_null(weft_thread_ref(NULL));
    ck_assert_uint_eq(weft_thread_ident(NULL), 0);
    ck_assert_int_eq(weft_thread_native_id(NULL), 0);
    ck_assert_int_eq(weft_thread_get_state(NULL).status, WEFT_THREAD_NEW);
    weft_thread_unref(NULL);

    /* The main and dummy records cannot be started. */
    WT_ERR(weft_thread_start(weft_main_thread()), WEFT_ESTATE);
    WT_ERR(weft_thread_set_daemon(weft_main_thread(), true), WEFT_ESTATE);
    WT_ERR(weft_thread_result(weft_main_thread(), &r), WEFT_ESTATE);

    ck_assert_str_eq(weft_thread_status_name(WEFT_THREAD_NEW), "new");
    ck_assert_str_eq(weft_thread_status_name(WEFT_THREAD_STARTING), "starting");
    ck_assert_str_eq(weft_thread_status_name(WEFT_THREAD_RUNNING), "running");
    ck_assert_str_eq(weft_thread_status_name(WEFT_THREAD_WAITING), "waiting");
    ck_assert_str_eq(weft_thread_status_name(WEFT_THREAD_FINISHED), "finished");
    ck_assert_str_eq(weft_thread_status_name((weft_thread_status)42), "unknown");
}
END_TEST

static void *join_self(void *arg)
{
    return (void *)(intptr_t)weft_thread_join(weft_current_thread(), WEFT_FOREVER);
}

START_TEST(thread_join_self_deadlock)
{
    weft_thread *t = start(join_self, NULL, NULL);
    WT_OK(weft_thread_join(t, WEFT_FOREVER));
    void *r;
    WT_OK(weft_thread_result(t, &r));
    ck_assert_int_eq((int)(intptr_t)r, WEFT_EDEADLK);
    weft_thread_unref(t);
    WT_ERR(weft_thread_join(weft_main_thread(), 1), WEFT_EDEADLK);
}
END_TEST

START_TEST(thread_join_timeout)
{
    weft_lock l = WEFT_LOCK_INIT;
    WT_OK(weft_lock_acquire(&l, WEFT_FOREVER));
    weft_thread *t = start(take_lock, &l, NULL);
    WT_ERR(weft_thread_join(t, 0), WEFT_ETIMEDOUT);
    double t0 = weft_monotonic();
    WT_ERR(weft_thread_join(t, 0.05), WEFT_ETIMEDOUT);
    ck_assert(weft_monotonic() - t0 >= 0.05);
    ck_assert(weft_thread_is_alive(t));
    void *r;
    WT_ERR(weft_thread_result(t, &r), WEFT_ESTATE);
    WT_OK(weft_lock_release(&l));
    WT_OK(weft_thread_join(t, WEFT_FOREVER));
    WT_OK(weft_thread_result(t, &r));
    ck_assert_ptr_eq(r, (void *)(intptr_t)7);
    weft_thread_unref(t);
}
END_TEST

/* A thread is alive until its destructors are done, and a join keeps its
 * deadline meanwhile: before, FINISHED came before the destructors, and a
 * timed join waited them out in pthread_join. */
static weft_event dtor_release;
static int dtor_in; /* atomic: the raw key's destructor has started */
static int dtor_go; /* atomic: it may return */

static void slow_local_dtor(void *value)
{
    WT_OK(weft_event_wait(&dtor_release, WEFT_FOREVER));
}

static void *set_local(void *arg)
{
    WT_OK(weft_local_set(arg, (void *)1));
    return (void *)(intptr_t)5;
}

static void join_keeps_deadline(weft_thread *t)
{
    WT_ERR(weft_thread_join(t, 0), WEFT_ETIMEDOUT);
    double t0 = weft_monotonic();
    WT_ERR(weft_thread_join(t, 0.1), WEFT_ETIMEDOUT);
    double took = weft_monotonic() - t0;
    ck_assert_msg(took >= 0.1 && took < 2.0, "join(0.1) took %.3f s", took);
    ck_assert(weft_thread_is_alive(t));
}

START_TEST(thread_join_during_destructors)
{
    WT_OK(weft_event_init(&dtor_release));
    weft_local *l;
    WT_OK(weft_local_new(&l, slow_local_dtor));
    weft_thread *t = start(set_local, l, NULL);
    /* Its function returned; its weft_local destructor waits. */
    wt_wait_for_state(t, WEFT_THREAD_WAITING, WEFT_WAIT_EVENT, &dtor_release);
    join_keeps_deadline(t);
    WT_OK(weft_event_set(&dtor_release));
    WT_OK(weft_thread_join(t, WEFT_FOREVER));
    ck_assert(!weft_thread_is_alive(t));
    void *r;
    WT_OK(weft_thread_result(t, &r));
    ck_assert_ptr_eq(r, (void *)(intptr_t)5);
    weft_thread_unref(t);
    weft_local_free(l);
    weft_event_destroy(&dtor_release);
}
END_TEST

static void spinning_dtor(void *value)
{
    __atomic_store_n(&dtor_in, 1, __ATOMIC_RELEASE);
    while (!__atomic_load_n(&dtor_go, __ATOMIC_ACQUIRE))
        sched_yield();
}

static void *set_key(void *arg)
{
    pthread_setspecific(*(pthread_key_t *)arg, (void *)1);
    return NULL;
}

/* The same with a destructor weft cannot see (a plain pthread key, as a
 * C++ thread_local's would be), which never parks. */
START_TEST(thread_join_during_foreign_destructor)
{
    pthread_key_t key;
    ck_assert_int_eq(pthread_key_create(&key, spinning_dtor), 0);
    weft_thread *t = start(set_key, &key, NULL);
    while (!__atomic_load_n(&dtor_in, __ATOMIC_ACQUIRE))
        sched_yield();
    join_keeps_deadline(t);
    __atomic_store_n(&dtor_go, 1, __ATOMIC_RELEASE);
    WT_OK(weft_thread_join(t, 5));
    ck_assert(!weft_thread_is_alive(t));
    weft_thread_unref(t);
    pthread_key_delete(key);
}
END_TEST

/* Many joiners of one thread all return once it finishes. */
static void *join_it(void *arg)
{
    return (void *)(intptr_t)weft_thread_join(arg, WEFT_FOREVER);
}

START_TEST(thread_many_joiners)
{
    enum { N = 6 };
    weft_lock l = WEFT_LOCK_INIT;
    WT_OK(weft_lock_acquire(&l, WEFT_FOREVER));
    weft_thread *target = start(take_lock, &l, NULL);
    weft_thread *j[N];
    for (int i = 0; i < N; i++)
        j[i] = start(join_it, target, NULL);
    for (int i = 0; i < N; i++)
        wt_wait_for_state(j[i], WEFT_THREAD_WAITING, WEFT_WAIT_JOIN, target);
    WT_OK(weft_lock_release(&l));
    for (int i = 0; i < N; i++) {
        void *r;
        WT_OK(weft_thread_join(j[i], WEFT_FOREVER));
        WT_OK(weft_thread_result(j[i], &r));
        ck_assert_int_eq((int)(intptr_t)r, 0);
        weft_thread_unref(j[i]);
    }
    ck_assert_int_eq(weft_thread_get_state(target).status, WEFT_THREAD_FINISHED);
    WT_OK(weft_thread_join(target, 0));
    weft_thread_unref(target);
}
END_TEST

/* The states seen from another thread, stage by stage. */
static int stage;
static weft_lock stage_lock = WEFT_LOCK_INIT;

static int wait_stage(int s)
{
    while (__atomic_load_n(&stage, __ATOMIC_ACQUIRE) < s)
        ;
    return s;
}

static void *staged(void *arg)
{
    weft_thread *other = arg;
    wait_stage(1);                /* RUNNING (spinning) */
    weft_lock_acquire(&stage_lock, WEFT_FOREVER); /* WAITING on the lock */
    weft_lock_release(&stage_lock);
    weft_thread_join(other, WEFT_FOREVER); /* WAITING on JOIN */
    while (__atomic_load_n(&stage, __ATOMIC_ACQUIRE) < 2)
        weft_sleep(0.05); /* WAITING on SLEEP */
    return NULL;
}

START_TEST(thread_states)
{
    weft_lock other_lock = WEFT_LOCK_INIT;
    WT_OK(weft_lock_acquire(&other_lock, WEFT_FOREVER));
    weft_thread *other = start(take_lock, &other_lock, NULL);
    weft_thread *t;
    WT_OK(weft_thread_new(&t, staged, other, NULL));
    ck_assert_int_eq(weft_thread_get_state(t).status, WEFT_THREAD_NEW);
    WT_OK(weft_lock_acquire(&stage_lock, WEFT_FOREVER));
    WT_OK(weft_thread_start(t));
    weft_thread_status s = weft_thread_get_state(t).status;
    ck_assert(s == WEFT_THREAD_STARTING || s == WEFT_THREAD_RUNNING);
    ck_assert(weft_thread_is_alive(t));

    wt_wait_for_state(t, WEFT_THREAD_RUNNING, WEFT_WAIT_NONE, NULL);
    ck_assert_ptr_null(weft_thread_get_state(t).object);
    __atomic_store_n(&stage, 1, __ATOMIC_RELEASE);

    wt_wait_for_state(t, WEFT_THREAD_WAITING, WEFT_WAIT_LOCK, NULL);
    ck_assert_ptr_eq(weft_thread_get_state(t).object, &stage_lock);
    WT_OK(weft_lock_release(&stage_lock));

    wt_wait_for_state(t, WEFT_THREAD_WAITING, WEFT_WAIT_JOIN, NULL);
    ck_assert_ptr_eq(weft_thread_get_state(t).object, other);
    /* The joined thread itself waits on its lock. */
    wt_wait_for_state(other, WEFT_THREAD_WAITING, WEFT_WAIT_LOCK, &other_lock);
    WT_OK(weft_lock_release(&other_lock));

    wt_wait_for_state(t, WEFT_THREAD_WAITING, WEFT_WAIT_SLEEP, NULL);
    ck_assert(weft_thread_is_alive(t));
    __atomic_store_n(&stage, 2, __ATOMIC_RELEASE);

    WT_OK(weft_thread_join(t, WEFT_FOREVER));
    weft_thread_state st = weft_thread_get_state(t);
    ck_assert_int_eq(st.status, WEFT_THREAD_FINISHED);
    ck_assert_int_eq(st.waiting_on, WEFT_WAIT_NONE);
    ck_assert_ptr_null(st.object);
    WT_OK(weft_thread_join(other, WEFT_FOREVER));
    weft_thread_unref(t);
    weft_thread_unref(other);
}
END_TEST

/* The main thread's state is observable too. */
static void *watch_main(void *arg)
{
    wt_wait_for_state(weft_main_thread(), WEFT_THREAD_WAITING, WEFT_WAIT_LOCK, arg);
    weft_lock_release(arg);
    return NULL;
}

START_TEST(thread_main_state)
{
    weft_lock l = WEFT_LOCK_INIT;
    WT_OK(weft_lock_acquire(&l, WEFT_FOREVER));
    ck_assert_int_eq(weft_thread_get_state(weft_main_thread()).status, WEFT_THREAD_RUNNING);
    weft_thread *t = start(watch_main, &l, NULL);
    WT_OK(weft_lock_acquire(&l, WEFT_FOREVER)); /* released by the watcher once it saw us wait */
    WT_OK(weft_thread_join(t, WEFT_FOREVER));
    weft_thread_unref(t);
}
END_TEST

struct ids {
    uint64_t ident;
    pid_t native;
    weft_thread *current;
    char os_name[32];
};

static void *record_ids(void *arg)
{
    struct ids *ids = arg;
    ids->ident = weft_get_ident();
    ids->native = (pid_t)syscall(SYS_gettid);
    ids->current = weft_current_thread();
    pthread_getname_np(pthread_self(), ids->os_name, sizeof ids->os_name);
    ck_assert_int_eq(weft_get_native_id(), ids->native);
    return NULL;
}

START_TEST(thread_ident_and_native_id)
{
    struct ids a, b;
    weft_thread *ta = start(record_ids, &a, NULL);
    weft_thread *tb = start(record_ids, &b, NULL);
    ck_assert_uint_ne(weft_thread_ident(ta), 0); /* set as soon as start returns */
    WT_OK(weft_thread_join(ta, WEFT_FOREVER));
    WT_OK(weft_thread_join(tb, WEFT_FOREVER));
    ck_assert_ptr_eq(a.current, ta);
    ck_assert_ptr_eq(b.current, tb);
    ck_assert_uint_eq(weft_thread_ident(ta), a.ident); /* kept after finishing */
    ck_assert_uint_eq(weft_thread_ident(tb), b.ident);
    ck_assert_uint_ne(a.ident, b.ident);
    ck_assert_uint_ne(a.ident, weft_get_ident());
    ck_assert_int_eq(weft_thread_native_id(ta), a.native);
    ck_assert_int_eq(weft_thread_native_id(tb), b.native);
    ck_assert_int_ne(a.native, b.native);
    ck_assert_int_eq(weft_get_native_id(), getpid()); /* the main thread */
    ck_assert_uint_eq(weft_thread_ident(weft_main_thread()), weft_get_ident());
    ck_assert_int_eq(weft_thread_native_id(weft_main_thread()), getpid());
    weft_thread_unref(ta);
    weft_thread_unref(tb);
}
END_TEST

static weft_lock name_lock = WEFT_LOCK_INIT;

static void *report_os_name(void *arg)
{
    char *buf = arg;
    weft_lock_acquire(&name_lock, WEFT_FOREVER);
    weft_lock_release(&name_lock);
    pthread_getname_np(pthread_self(), buf, 32);
    return NULL;
}

START_TEST(thread_names)
{
    weft_thread *a, *b;
    WT_OK(weft_thread_new(&a, return_arg, NULL, NULL));
    WT_OK(weft_thread_new(&b, return_arg, NULL, NULL));
    const char *na = weft_thread_name(a), *nb = weft_thread_name(b);
    ck_assert_msg(strncmp(na, "Thread-", 7) == 0, "name %s", na);
    ck_assert_int_eq(atoi(nb + 7), atoi(na + 7) + 1);
    WT_OK(weft_thread_set_name(a, "renamed"));
    ck_assert_str_eq(weft_thread_name(a), "renamed");
    weft_thread_unref(a);
    weft_thread_unref(b);

    char given[] = "given";
    weft_thread_opts o = {.name = given};
    WT_OK(weft_thread_new(&a, return_arg, NULL, &o));
    given[0] = 'X'; /* copied */
    ck_assert_str_eq(weft_thread_name(a), "given");
    weft_thread_unref(a);

    ck_assert_str_eq(weft_thread_name(weft_main_thread()), "MainThread");

    /* The OS name: set at start (truncated to 15 bytes), and by a rename of
     * the running thread. */
    struct ids ids;
    o.name = "a-very-long-thread-name";
    a = start(record_ids, &ids, &o);
    WT_OK(weft_thread_join(a, WEFT_FOREVER));
    ck_assert_str_eq(ids.os_name, "a-very-long-thr");
    weft_thread_unref(a);

    char buf[32] = "";
    WT_OK(weft_lock_acquire(&name_lock, WEFT_FOREVER));
    a = start(report_os_name, buf, NULL);
    wt_wait_for_state(a, WEFT_THREAD_WAITING, WEFT_WAIT_LOCK, &name_lock);
    WT_OK(weft_thread_set_name(a, "worker"));
    WT_OK(weft_lock_release(&name_lock));
    WT_OK(weft_thread_join(a, WEFT_FOREVER));
    ck_assert_str_eq(buf, "worker");
    ck_assert_str_eq(weft_thread_name(a), "worker");
    WT_OK(weft_thread_set_name(a, "after")); /* finished: just the record */
    ck_assert_str_eq(weft_thread_name(a), "after");
    weft_thread_unref(a);

    WT_OK(weft_thread_set_name(weft_main_thread(), "Main2"));
    ck_assert_str_eq(weft_thread_name(weft_main_thread()), "Main2");
}
END_TEST

/* The OS name is the name's first 15 bytes, as Python 3.14 sets it: the
 * cut is in bytes, even inside a UTF-8 character (its test_set_name
 * expects the same bytes back). */
static void expect_os_name(const char *name, const char *os_name)
{
    struct ids ids;
    weft_thread_opts o = {.name = name};
    weft_thread *t = start(record_ids, &ids, &o);
    WT_OK(weft_thread_join(t, WEFT_FOREVER));
    ck_assert_str_eq(ids.os_name, os_name);
    ck_assert_str_eq(weft_thread_name(t), name); /* weft's own name is whole */
    weft_thread_unref(t);
}

START_TEST(thread_os_name_first_15_bytes)
{
    expect_os_name("CustomName", "CustomName");
    expect_os_name("nam\xc3\xa9\xe2\x82\xac", "nam\xc3\xa9\xe2\x82\xac");      /* namé€ */
    expect_os_name("xxxxxxxxxxxxxxx", "xxxxxxxxxxxxxxx");                        /* 15 */
    expect_os_name("xxxxxxxxxxxxxxxxxxxxxxxxx", "xxxxxxxxxxxxxxx");              /* 25 */
    expect_os_name("xxxxxxxxxxxxxx\xc3\xa9\xe2\x82\xac", "xxxxxxxxxxxxxx\xc3"); /* 14 + é€ */
    expect_os_name("x\xf0\x9f\x90\x8d\xf0\x9f\x90\x8d\xf0\x9f\x90\x8d\xf0\x9f\x90\x8d",
                   "x\xf0\x9f\x90\x8d\xf0\x9f\x90\x8d\xf0\x9f\x90\x8d\xf0\x9f"); /* x + snakes */
}
END_TEST

/* Python 3.14's test_change_name: a running thread that renames itself
 * changes its OS name at once. */
struct two_names {
    char before[32], after[32];
};

static void *rename_myself(void *arg)
{
    struct two_names *n = arg;
    pthread_getname_np(pthread_self(), n->before, sizeof n->before);
    WT_OK(weft_thread_set_name(weft_current_thread(), "new name"));
    pthread_getname_np(pthread_self(), n->after, sizeof n->after);
    return NULL;
}

START_TEST(thread_renames_itself)
{
    struct two_names n;
    weft_thread_opts o = {.name = "name"};
    weft_thread *t = start(rename_myself, &n, &o);
    WT_OK(weft_thread_join(t, WEFT_FOREVER));
    ck_assert_str_eq(n.before, "name");
    ck_assert_str_eq(n.after, "new name");
    ck_assert_str_eq(weft_thread_name(t), "new name");
    weft_thread_unref(t);
}
END_TEST

/* Python's Thread(name="") is named as if no name were given. */
START_TEST(thread_empty_name_is_default)
{
    weft_thread_opts o = {.name = ""};
    weft_thread *a, *b;
    WT_OK(weft_thread_new(&a, return_arg, NULL, &o));
    WT_OK(weft_thread_new(&b, return_arg, NULL, NULL));
    const char *na = weft_thread_name(a), *nb = weft_thread_name(b);
    ck_assert_msg(strncmp(na, "Thread-", 7) == 0, "name '%s'", na);
    ck_assert_int_eq(atoi(nb + 7), atoi(na + 7) + 1);
    weft_thread_unref(a);
    weft_thread_unref(b);
    /* Renaming to "" later is taken as given, as Python's t.name = "". */
    WT_OK(weft_thread_new(&a, return_arg, NULL, NULL));
    WT_OK(weft_thread_set_name(a, ""));
    ck_assert_str_eq(weft_thread_name(a), "");
    weft_thread_unref(a);
}
END_TEST

START_TEST(thread_current_and_main)
{
    weft_thread *m = weft_main_thread();
    ck_assert_ptr_nonnull(m);
    ck_assert_ptr_eq(weft_current_thread(), m);
    ck_assert(weft_thread_is_alive(m));
    ck_assert(!weft_thread_daemon(m));
    ck_assert_int_eq(weft_thread_get_state(m).status, WEFT_THREAD_RUNNING);
    ck_assert_ptr_eq(weft_thread_ref(m), m);
    weft_thread_unref(m);
    ck_assert_ptr_eq(weft_main_thread(), m);
}
END_TEST

/* A thread weft did not create gets a dummy record. */
struct dummy_seen {
    weft_thread *t;
    char name[64];
    bool daemon, alive, in_enum;
    uint64_t ident, record_ident;
    size_t active;
    int join_rc, start_rc;
};

static void *raw_thread(void *arg)
{
    struct dummy_seen *d = arg;
    d->t = weft_current_thread();
    ck_assert_ptr_eq(weft_current_thread(), d->t); /* one record per thread */
    snprintf(d->name, sizeof d->name, "%s", weft_thread_name(d->t));
    d->daemon = weft_thread_daemon(d->t);
    d->alive = weft_thread_is_alive(d->t);
    d->ident = weft_get_ident();
    d->record_ident = weft_thread_ident(d->t);
    d->active = weft_active_count();
    weft_thread *v[64];
    size_t n;
    WT_OK(weft_enumerate(v, 64, &n));
    for (size_t i = 0; i < n && i < 64; i++) {
        d->in_enum |= v[i] == d->t;
        weft_thread_unref(v[i]);
    }
    d->join_rc = weft_thread_join(d->t, 0);
    d->start_rc = weft_thread_start(d->t);
    return NULL;
}

START_TEST(thread_dummy)
{
    struct dummy_seen d = {0};
    size_t before = weft_active_count();
    pthread_t pt;
    ck_assert_int_eq(pthread_create(&pt, NULL, raw_thread, &d), 0);
    ck_assert_int_eq(pthread_join(pt, NULL), 0);
    ck_assert_msg(strncmp(d.name, "Dummy-", 6) == 0, "name %s", d.name);
    ck_assert(d.daemon);
    ck_assert(d.alive);
    ck_assert(d.in_enum);
    ck_assert_uint_ne(d.ident, 0);
    ck_assert_uint_eq(d.ident, d.record_ident);
    ck_assert_uint_eq(d.active, before + 1);
    ck_assert_int_eq(d.join_rc, WEFT_EDEADLK);
    ck_assert_int_eq(d.start_rc, WEFT_ESTATE);
    /* Released at its thread's exit. */
    ck_assert_uint_eq(weft_active_count(), before);
}
END_TEST

/* A dummy created by a thread that never asked for current_thread, but whose
 * threads inherit daemon-ness: a foreign thread's threads are daemons. */
static void *raw_creates(void *arg)
{
    weft_thread *t;
    WT_OK(weft_thread_new(&t, return_arg, NULL, NULL));
    *(bool *)arg = weft_thread_daemon(t);
    weft_thread_unref(t);
    return NULL;
}

START_TEST(thread_enumerate)
{
    enum { N = 3 };
    size_t before = weft_active_count();
    ck_assert_uint_ge(before, 1);
    weft_lock l = WEFT_LOCK_INIT;
    WT_OK(weft_lock_acquire(&l, WEFT_FOREVER));
    weft_thread *t[N];
    for (int i = 0; i < N; i++)
        t[i] = start(take_lock, &l, NULL);
    ck_assert_uint_eq(weft_active_count(), before + N);
    size_t n;
    WT_OK(weft_enumerate(NULL, 0, &n)); /* the count alone */
    ck_assert_uint_eq(n, before + N);
    weft_thread *v[64];
    ck_assert_uint_le(n, 64);
    WT_OK(weft_enumerate(v, 64, &n));
    ck_assert_uint_eq(n, before + N);
    bool seen_main = false;
    int seen = 0;
    for (size_t i = 0; i < n; i++) {
        seen_main |= v[i] == weft_main_thread();
        for (int k = 0; k < N; k++)
            seen += v[i] == t[k];
    }
    ck_assert(seen_main);
    ck_assert_int_eq(seen, N);
    WT_OK(weft_lock_release(&l));
    for (int i = 0; i < N; i++) {
        WT_OK(weft_thread_join(t[i], WEFT_FOREVER));
        weft_thread_unref(t[i]);
    }
    ck_assert_uint_eq(weft_active_count(), before);
    /* The enumerated references outlive the threads' own. */
    for (size_t i = 0; i < n; i++) {
        ck_assert_ptr_nonnull(weft_thread_name(v[i]));
        weft_thread_unref(v[i]);
    }
}
END_TEST

static void *child_daemonness(void *arg)
{
    weft_thread *t;
    WT_OK(weft_thread_new(&t, return_arg, NULL, NULL));
    bool d = weft_thread_daemon(t);
    weft_thread_unref(t);
    return (void *)(intptr_t)d;
}

START_TEST(thread_daemon)
{
    weft_thread *t;
    WT_OK(weft_thread_new(&t, return_arg, NULL, NULL));
    ck_assert(!weft_thread_daemon(t)); /* the main thread is not a daemon */
    WT_OK(weft_thread_set_daemon(t, true));
    ck_assert(weft_thread_daemon(t));
    weft_thread_unref(t);

    weft_thread_opts yes = {.daemon = WEFT_DAEMON_YES}, no = {.daemon = WEFT_DAEMON_NO};
    void *r;
    t = start(child_daemonness, NULL, &yes);
    ck_assert(weft_thread_daemon(t));
    WT_ERR(weft_thread_set_daemon(t, false), WEFT_ESTATE);
    WT_OK(weft_thread_join(t, WEFT_FOREVER));
    WT_OK(weft_thread_result(t, &r));
    ck_assert_int_eq((int)(intptr_t)r, 1); /* a daemon's threads are daemons */
    weft_thread_unref(t);

    t = start(child_daemonness, NULL, &no);
    ck_assert(!weft_thread_daemon(t));
    WT_OK(weft_thread_join(t, WEFT_FOREVER));
    WT_OK(weft_thread_result(t, &r));
    ck_assert_int_eq((int)(intptr_t)r, 0);
    weft_thread_unref(t);

    bool raw_daemon = false;
    pthread_t pt;
    ck_assert_int_eq(pthread_create(&pt, NULL, raw_creates, &raw_daemon), 0);
    pthread_join(pt, NULL);
    ck_assert(raw_daemon);
}
END_TEST

START_TEST(thread_shutdown)
{
    weft_lock l = WEFT_LOCK_INIT, dl = WEFT_LOCK_INIT;
    weft_thread_opts daemon = {.daemon = WEFT_DAEMON_YES};
    WT_OK(weft_lock_acquire(&l, WEFT_FOREVER));
    WT_OK(weft_lock_acquire(&dl, WEFT_FOREVER));
    weft_thread *a = start(take_lock, &l, NULL);
    weft_thread *b = start(take_lock, &l, NULL);
    weft_thread *d = start(take_lock, &dl, &daemon);
    WT_ERR(weft_shutdown(0), WEFT_ETIMEDOUT);
    WT_ERR(weft_shutdown(0.02), WEFT_ETIMEDOUT);
    WT_OK(weft_lock_release(&l));
    WT_OK(weft_shutdown(WEFT_FOREVER)); /* the daemon is not waited for */
    ck_assert(!weft_thread_is_alive(a));
    ck_assert(!weft_thread_is_alive(b));
    ck_assert(weft_thread_is_alive(d));
    WT_OK(weft_lock_release(&dl));
    WT_OK(weft_thread_join(d, WEFT_FOREVER));
    weft_thread_unref(a);
    weft_thread_unref(b);
    weft_thread_unref(d);
    WT_OK(weft_shutdown(0)); /* nothing left */
}
END_TEST

/* Freeing the handle of a running thread: the thread goes on and cleans up
 * after itself (ASan checks nothing leaks). */
static void *free_own_handle_later(void *arg)
{
    weft_lock_acquire(arg, WEFT_FOREVER);
    weft_lock_release(arg);
    return NULL;
}

START_TEST(thread_free_while_running)
{
    weft_lock l = WEFT_LOCK_INIT;
    WT_OK(weft_lock_acquire(&l, WEFT_FOREVER));
    weft_thread *t = start(free_own_handle_later, &l, NULL);
    size_t n = weft_active_count();
    weft_thread_unref(t);
    ck_assert_uint_eq(weft_active_count(), n); /* still registered, still running */
    WT_OK(weft_lock_release(&l));
    WT_OK(weft_shutdown(WEFT_FOREVER)); /* reaps it without a handle */
    ck_assert_uint_eq(weft_active_count(), n - 1);

    /* Never joined at all: the last reference detaches it. */
    t = start(return_arg, NULL, NULL);
    weft_thread *extra = weft_thread_ref(t);
    weft_thread_unref(t);
    while (weft_thread_is_alive(extra))
        sched_yield();
    weft_thread_unref(extra);
}
END_TEST

static void *exits_early(void *arg)
{
    pthread_exit(arg);
    return NULL;
}

START_TEST(thread_pthread_exit)
{
    weft_thread *t = start(exits_early, (void *)1, NULL);
    WT_OK(weft_thread_join(t, WEFT_FOREVER));
    void *r = (void *)2;
    WT_OK(weft_thread_result(t, &r));
    ck_assert_ptr_null(r);
    weft_thread_unref(t);
}
END_TEST

static void *stack_size_of(void *arg)
{
    pthread_attr_t a;
    size_t size = 0;
    pthread_getattr_np(pthread_self(), &a);
    pthread_attr_getstacksize(&a, &size);
    pthread_attr_destroy(&a);
    return (void *)size;
}

START_TEST(thread_stack_size)
{
    weft_thread_opts o = {.stack_size = 256 * 1024 + 1};
    weft_thread *t = start(stack_size_of, NULL, &o);
    WT_OK(weft_thread_join(t, WEFT_FOREVER));
    void *r;
    WT_OK(weft_thread_result(t, &r));
    ck_assert_uint_ge((size_t)r, 256 * 1024 + 1);
    weft_thread_unref(t);

    /* More than the address space: the system refuses, the thread stays NEW
     * and can be freed (or started again). */
    o.stack_size = (size_t)1 << 50;
    WT_OK(weft_thread_new(&t, return_arg, NULL, &o));
    size_t n = weft_active_count();
    WT_ERR(weft_thread_start(t), WEFT_EAGAIN);
    ck_assert_int_eq(weft_thread_get_state(t).status, WEFT_THREAD_NEW);
    ck_assert_uint_eq(weft_thread_ident(t), 0);
    ck_assert_uint_eq(weft_active_count(), n);
    WT_ERR(weft_thread_join(t, 0), WEFT_ESTATE);
    WT_ERR(weft_thread_start(t), WEFT_EAGAIN);
    weft_thread_unref(t);
}
END_TEST

/* ----------------------------------------------------- exit and fork */

static int read_all(int fd, char *buf, size_t cap)
{
    size_t n = 0;
    for (;;) {
        ssize_t r = read(fd, buf + n, cap - 1 - n);
        if (r <= 0)
            break;
        n += (size_t)r;
    }
    buf[n] = 0;
    return (int)n;
}

static int exit_pipe[2], go_pipe[2];

static void *exit_worker(void *arg)
{
    char c;
    ck_assert_int_eq(read(go_pipe[0], &c, 1), 1);
    ck_assert_int_eq(write(exit_pipe[1], "T", 1), 1);
    return NULL;
}

/* A process waits for its non-daemon threads at exit, as Python does. */
START_TEST(thread_exit_waits_for_non_daemon)
{
    ck_assert_int_eq(pipe(exit_pipe), 0);
    ck_assert_int_eq(pipe(go_pipe), 0);
    fflush(NULL);
    pid_t pid = fork();
    ck_assert_int_ne(pid, -1);
    if (pid == 0) {
        close(exit_pipe[0]);
        close(go_pipe[1]);
        weft_thread *t = start(exit_worker, NULL, NULL);
        weft_thread_unref(t);
        if (write(exit_pipe[1], "M", 1) != 1)
            _exit(3);
        exit(0); /* as returning from main */
    }
    close(exit_pipe[1]);
    close(go_pipe[0]);
    char c;
    ck_assert_int_eq(read(exit_pipe[0], &c, 1), 1);
    ck_assert_int_eq(c, 'M');
    /* A negative check: the child is still there, held by its thread. */
    weft_sleep(0.05);
    int status;
    ck_assert_int_eq(waitpid(pid, &status, WNOHANG), 0);
    ck_assert_int_eq(write(go_pipe[1], "g", 1), 1);
    char buf[8];
    read_all(exit_pipe[0], buf, sizeof buf);
    ck_assert_str_eq(buf, "T");
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    close(exit_pipe[0]);
    close(go_pipe[1]);
}
END_TEST

/* A non-daemon thread that joins the main thread: at exit the main thread
 * counts as finished (as Python's _shutdown makes it), so the join returns
 * and the process exits instead of both waiting for each other. */
static void *join_main(void *arg)
{
    int rc = weft_thread_join(weft_main_thread(), WEFT_FOREVER);
    char c = rc == 0 ? 'J' : 'E';
    ck_assert_int_eq(write(exit_pipe[1], &c, 1), 1);
    return NULL;
}

START_TEST(thread_exit_with_main_joined)
{
    ck_assert_int_eq(pipe(exit_pipe), 0);
    fflush(NULL);
    pid_t pid = fork();
    ck_assert_int_ne(pid, -1);
    if (pid == 0) {
        close(exit_pipe[0]);
        weft_thread_opts o = {.daemon = WEFT_DAEMON_NO};
        weft_thread *t = start(join_main, NULL, &o);
        wt_wait_for_state(t, WEFT_THREAD_WAITING, WEFT_WAIT_JOIN, weft_main_thread());
        weft_thread_unref(t);
        exit(0);
    }
    close(exit_pipe[1]);
    int status = 0;
    pid_t got = 0;
    for (double end = weft_monotonic() + 10; got == 0 && weft_monotonic() < end;) {
        got = waitpid(pid, &status, WNOHANG);
        if (got == 0)
            weft_sleep(0.005);
    }
    if (got == 0) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        ck_abort_msg("the child hung at exit: its thread joining main never returned");
    }
    char buf[8];
    read_all(exit_pipe[0], buf, sizeof buf);
    ck_assert_str_eq(buf, "J");
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    close(exit_pipe[0]);
}
END_TEST

static void *blocked_forever(void *arg)
{
    char c;
    ssize_t r = read(go_pipe[0], &c, 1); /* nobody ever writes */
    (void)r;
    return NULL;
}

START_TEST(thread_exit_leaves_daemons)
{
    ck_assert_int_eq(pipe(go_pipe), 0);
    fflush(NULL);
    pid_t pid = fork();
    ck_assert_int_ne(pid, -1);
    if (pid == 0) {
        weft_thread_opts o = {.daemon = WEFT_DAEMON_YES};
        weft_thread *t = start(blocked_forever, NULL, &o);
        weft_thread_unref(t);
        exit(0);
    }
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    close(go_pipe[0]);
    close(go_pipe[1]);
}
END_TEST

/* The child of a fork has only the forking thread: the registry, park and
 * weft's locks are usable there. Exits 0 if all is well. */
static int fork_child_checks(weft_thread *self, weft_thread *blocked, weft_lock *held)
{
    if (weft_current_thread() != self || weft_main_thread() != self)
        return 10;
    if (weft_active_count() != 1)
        return 11;
    if (weft_thread_is_alive(blocked) || weft_thread_join(blocked, WEFT_FOREVER) != 0)
        return 12;
    weft_lock l = WEFT_LOCK_INIT;
    if (weft_lock_acquire(&l, WEFT_FOREVER) || weft_lock_acquire(&l, 0.01) != WEFT_ETIMEDOUT)
        return 13;
    /* A stack size unlike the vanished threads' keeps glibc from reusing
     * one of their descriptors (stack cache), whose pthread_t TSan, which
     * does not know they are gone, would take for a duplicate. */
    weft_thread_opts o = {.stack_size = 32u << 20};
    weft_thread *t;
    if (weft_thread_new(&t, take_lock, &l, &o) || weft_thread_start(t))
        return 14;
    wt_wait_for_state(t, WEFT_THREAD_WAITING, WEFT_WAIT_LOCK, &l);
    if (weft_active_count() != 2)
        return 15;
    weft_lock_release(&l);
    void *r;
    if (weft_thread_join(t, WEFT_FOREVER) || weft_thread_result(t, &r) || r != (void *)7)
        return 16;
    weft_thread_unref(t);
    (void)held;
    return 0;
}

static int fork_and_check(weft_thread *blocked, weft_lock *held)
{
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0)
        _exit(fork_child_checks(weft_current_thread(), blocked, held));
    int status;
    if (pid < 0 || waitpid(pid, &status, 0) != pid)
        return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 100 + WTERMSIG(status);
}

START_TEST(thread_fork)
{
    weft_lock l = WEFT_LOCK_INIT;
    WT_OK(weft_lock_acquire(&l, WEFT_FOREVER));
    weft_thread *t = start(take_lock, &l, NULL);
    wt_wait_for_state(t, WEFT_THREAD_WAITING, WEFT_WAIT_LOCK, &l);
    ck_assert_int_eq(fork_and_check(t, &l), 0);
    ck_assert(weft_thread_is_alive(t)); /* the parent is untouched */
    WT_OK(weft_lock_release(&l));
    WT_OK(weft_thread_join(t, WEFT_FOREVER));
    weft_thread_unref(t);
}
END_TEST

/* Forking from a thread that is not the main one: it becomes the child's
 * main thread. */
struct fork_from {
    weft_thread *blocked;
    weft_lock *held;
};

static void *fork_from_thread(void *arg)
{
    struct fork_from *f = arg;
    /* Fork only once the other threads wait: the blocked one on the lock,
     * the main one in its join of this one. A thread still running at the
     * fork may hold a lock of ASan's allocator, which that runtime does not
     * take across fork, and the child's first malloc then hangs on it. */
    wt_wait_for_state(f->blocked, WEFT_THREAD_WAITING, WEFT_WAIT_LOCK, f->held);
    wt_wait_for_state(weft_main_thread(), WEFT_THREAD_WAITING, WEFT_WAIT_JOIN, NULL);
    return (void *)(intptr_t)fork_and_check(f->blocked, f->held);
}

START_TEST(thread_fork_from_thread)
{
    weft_lock l = WEFT_LOCK_INIT;
    WT_OK(weft_lock_acquire(&l, WEFT_FOREVER));
    weft_thread *b = start(take_lock, &l, NULL);
    struct fork_from f = {b, &l};
    weft_thread *t = start(fork_from_thread, &f, NULL);
    WT_OK(weft_thread_join(t, WEFT_FOREVER));
    void *r;
    WT_OK(weft_thread_result(t, &r));
    ck_assert_int_eq((int)(intptr_t)r, 0);
    WT_OK(weft_lock_release(&l));
    WT_OK(weft_thread_join(b, WEFT_FOREVER));
    weft_thread_unref(t);
    weft_thread_unref(b);
}
END_TEST

WT_MAIN("thread", 30, thread_basic, thread_errors, thread_join_self_deadlock,
        thread_join_timeout, thread_join_during_destructors,
        thread_join_during_foreign_destructor, thread_many_joiners, thread_states, thread_main_state,
        thread_ident_and_native_id, thread_names, thread_current_and_main, thread_dummy,
        thread_enumerate, thread_daemon, thread_shutdown, thread_free_while_running,
        thread_pthread_exit, thread_stack_size, thread_exit_waits_for_non_daemon,
        thread_exit_leaves_daemons, thread_exit_with_main_joined, thread_fork,
        thread_fork_from_thread, thread_os_name_first_15_bytes,
        thread_empty_name_is_default, thread_renames_itself)
