/* The forkserver start method: every test of test_process.c again (it is
 * included here with TEST_METHOD set), then what is particular to it:
 * children started while busy threads hold locks, arguments by copy,
 * functions it cannot resolve, the parent's current stdout, handle and
 * shared memory reaching the child, and the server ending with its
 * process. Each test process starts its own server (at most two), so the
 * sanitizer runs stay short. */
#define TEST_METHOD WEFT_START_FORKSERVER
#define TEST_PROCESS_NO_MAIN
#include "test_process.c"

#include <dlfcn.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>

extern bool weft__forkserver_bad_object;
extern int weft__forkserver_layout_taken;
pid_t weft__forkserver_pid(void);

START_TEST(fs_start_method)
{
    ck_assert_int_eq(weft_get_start_method(), WEFT_START_FORKSERVER); /* the default */
    WT_OK(weft_set_start_method(WEFT_START_FORK));
    ck_assert_int_eq(weft_get_start_method(), WEFT_START_FORK);
    WT_OK(weft_set_start_method(WEFT_START_DEFAULT));
    ck_assert_int_eq(weft_get_start_method(), WEFT_START_FORKSERVER);
    WT_ERR(weft_set_start_method((enum weft_start_method)-1), WEFT_EINVAL);
    ck_assert_int_eq(weft_get_start_method(), WEFT_START_FORKSERVER);
    /* No server before the first start. */
    ck_assert_int_eq(weft__forkserver_pid(), 0);
    ck_assert_int_eq(exit_of(return_arg, (void *)3), 3);
    pid_t server = weft__forkserver_pid();
    ck_assert_int_gt(server, 0);
    /* One server for every start. */
    ck_assert_int_eq(exit_of(return_arg, (void *)4), 4);
    ck_assert_int_eq(weft__forkserver_pid(), server);
}
END_TEST

/* ------------------------------------------- 8 busy threads holding locks */

#define BUSY 8
static pthread_mutex_t g_locks[BUSY] = {
    PTHREAD_MUTEX_INITIALIZER, PTHREAD_MUTEX_INITIALIZER, PTHREAD_MUTEX_INITIALIZER,
    PTHREAD_MUTEX_INITIALIZER, PTHREAD_MUTEX_INITIALIZER, PTHREAD_MUTEX_INITIALIZER,
    PTHREAD_MUTEX_INITIALIZER, PTHREAD_MUTEX_INITIALIZER};
static atomic_int g_stop;
static atomic_int g_rounds[BUSY];

struct busy {
    int i;
    FILE *sink;
};

/* Holds its mutex nearly all the time, and malloc's and stdio's locks
 * often: a fork at any moment would copy some of them held. */
static void *busy_thread(void *arg)
{
    struct busy *b = arg;
    unsigned seed = (unsigned)b->i;
    while (!atomic_load(&g_stop)) {
        pthread_mutex_lock(&g_locks[b->i]);
        for (int k = 0; k < 16; k++) {
            size_t n = 16 + (rand_r(&seed) % 4096);
            char *m = malloc(n);
            ck_assert_ptr_nonnull(m);
            memset(m, k, n);
            fprintf(b->sink, "thread %d round %d %zu\n", b->i, k, n);
            free(m);
        }
        atomic_fetch_add(&g_rounds[b->i], 1);
        pthread_mutex_unlock(&g_locks[b->i]);
    }
    return NULL;
}

/* Takes the very locks the parent's threads hold, allocates and prints. */
static int lock_malloc_print(void *arg)
{
    int id = *(int *)arg;
    for (int i = 0; i < BUSY; i++)
        pthread_mutex_lock(&g_locks[i]);
    char *m = malloc(1 << 20);
    if (!m)
        return 2;
    memset(m, 1, 1 << 20);
    printf("forkserver child %d: took %d locks, malloc and printf\n", id, BUSY);
    free(m);
    for (int i = 0; i < BUSY; i++)
        pthread_mutex_unlock(&g_locks[i]);
    return 0;
}

START_TEST(fs_busy_threads)
{
    FILE *sink = fopen("/dev/null", "w");
    ck_assert_ptr_nonnull(sink);
    pthread_t t[BUSY];
    struct busy b[BUSY];
    for (int i = 0; i < BUSY; i++) {
        b[i] = (struct busy){.i = i, .sink = sink};
        ck_assert_int_eq(pthread_create(&t[i], NULL, busy_thread, &b[i]), 0);
    }
    /* Every thread is in its loop before the first start (which also
     * starts the server). */
    for (int i = 0; i < BUSY; i++)
        while (atomic_load(&g_rounds[i]) == 0)
            sched_yield();
    weft_process *p[4];
    int ids[4];
    for (int i = 0; i < 4; i++) {
        ids[i] = i;
        weft_process_opts o = with_arg(sizeof ids[i]);
        WT_OK(weft_process_new(&p[i], lock_malloc_print, &ids[i], &o));
        WT_OK(weft_process_start(p[i]));
    }
    for (int i = 0; i < 4; i++) {
        WT_OK(weft_process_join(p[i], 60));
        int code = -100;
        WT_OK(weft_process_exitcode(p[i], &code));
        ck_assert_int_eq(code, 0);
        WT_OK(weft_process_close(p[i]));
        weft_process_free(p[i]);
    }
    atomic_store(&g_stop, 1);
    for (int i = 0; i < BUSY; i++)
        pthread_join(t[i], NULL);
    fclose(sink);
}
END_TEST

/* Threads starting children at once share one server; every child gets
 * its own argument and every exit code comes back to its own object. */
static void *starter(void *arg)
{
    int base = *(int *)arg;
    for (int k = 0; k < 6; k++) {
        int want = base + k;
        weft_process *p;
        WT_OK(weft_process_new(&p, return_arg, (void *)(intptr_t)want, NULL));
        WT_OK(weft_process_start(p));
        WT_OK(weft_process_join(p, 60));
        int code = -1;
        WT_OK(weft_process_exitcode(p, &code));
        ck_assert_int_eq(code, want);
        WT_OK(weft_process_close(p));
        weft_process_free(p);
    }
    return NULL;
}

START_TEST(fs_concurrent_starts)
{
    pthread_t t[4];
    int base[4];
    for (int i = 0; i < 4; i++) {
        base[i] = 10 * (i + 1);
        ck_assert_int_eq(pthread_create(&t[i], NULL, starter, &base[i]), 0);
    }
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
}
END_TEST

/* ------------------------------------------------------- arguments by copy */

struct blob {
    unsigned sum;
    size_t n;
    unsigned char bytes[];
};

static int check_blob(void *arg)
{
    struct blob *b = arg;
    unsigned sum = 0;
    for (size_t i = 0; i < b->n; i++)
        sum = sum * 31 + b->bytes[i];
    return sum == b->sum ? 0 : 3;
}

static struct blob *make_blob(size_t n)
{
    struct blob *b = malloc(sizeof *b + n);
    ck_assert_ptr_nonnull(b);
    b->n = n;
    b->sum = 0;
    for (size_t i = 0; i < n; i++) {
        b->bytes[i] = (unsigned char)(i * 7 + (i >> 9));
        b->sum = b->sum * 31 + b->bytes[i];
    }
    return b;
}

static void arg_copy_with(int method)
{
    size_t n = (size_t)3 << 20; /* more than a socket buffer holds */
    struct blob *b = make_blob(n);
    weft_process_opts o = {.arg_size = sizeof *b + n, .start_method = method};
    weft_process *p;
    WT_OK(weft_process_new(&p, check_blob, b, &o));
    /* Copied by new: the caller's buffer may go at once. */
    memset(b, 0, sizeof *b + n);
    free(b);
    WT_OK(weft_process_start(p));
    WT_OK(weft_process_join(p, WEFT_FOREVER));
    int code;
    WT_OK(weft_process_exitcode(p, &code));
    ck_assert_int_eq(code, 0);
    WT_OK(weft_process_close(p));
    weft_process_free(p);
}

START_TEST(fs_arg_copy)
{
    arg_copy_with(WEFT_START_FORKSERVER);
    arg_copy_with(WEFT_START_FORK);
    /* arg_size 0 passes the value as it is. */
    ck_assert_int_eq(exit_of(return_arg, (void *)77), 77);
}
END_TEST

/* A function the server cannot find is refused cleanly, however much the
 * parent was still sending, and the object stays unstarted. */
START_TEST(fs_unresolvable)
{
    size_t n = (size_t)4 << 20;
    struct blob *b = make_blob(n);
    weft_process_opts o = {.arg_size = sizeof *b + n};
    weft_process *p;
    WT_OK(weft_process_new(&p, check_blob, b, &o));
    free(b);
    weft__forkserver_bad_object = true;
    WT_ERR(weft_process_start(p), WEFT_ENOTSUP);
    WT_ERR(weft_process_start(p), WEFT_ENOTSUP);
    ck_assert(!weft_process_is_alive(p));
    ck_assert_int_eq(weft_process_pid(p), 0);
    int code;
    WT_ERR(weft_process_exitcode(p, &code), WEFT_ESTATE);
    WT_ERR(weft_process_join(p, 0), WEFT_ESTATE);
    weft__forkserver_bad_object = false;
    WT_OK(weft_process_start(p));
    WT_OK(weft_process_join(p, WEFT_FOREVER));
    WT_OK(weft_process_exitcode(p, &code));
    ck_assert_int_eq(code, 0);
    WT_OK(weft_process_close(p));
    weft_process_free(p);
    /* The real case: a function of a library we dlopen'ed, which the
     * server (started from the program as linked) does not have. libbz2
     * is on every Debian system and is none of weft's dependencies (zlib
     * was, until libcurl brought it in). */
    void *lib = dlopen("libbz2.so.1.0", RTLD_NOW | RTLD_LOCAL);
    if (lib) {
        weft_process_fn f = (weft_process_fn)(uintptr_t)dlsym(lib, "BZ2_bzlibVersion");
        ck_assert_ptr_nonnull((void *)(uintptr_t)f);
        WT_OK(weft_process_new(&p, f, NULL, NULL));
        WT_ERR(weft_process_start(p), WEFT_ENOTSUP);
        WT_OK(weft_process_close(p));
        weft_process_free(p);
        dlclose(lib);
    }
    /* NULL fn and bad methods never reach the server. */
    WT_ERR(weft_process_new(&p, NULL, NULL, NULL), WEFT_EINVAL);
    o = (weft_process_opts){.start_method = WEFT_START_FORKSERVER + 1};
    WT_ERR(weft_process_new(&p, return_arg, NULL, &o), WEFT_EINVAL);
}
END_TEST

/* ------------------------------------------------------------ what crosses */

static int say_hello(void *arg)
{
    (void)arg;
    printf("hello from %s\n", weft_current_process_name());
    return 0;
}

/* The child writes to the parent's fd 1 of the moment it starts: a pipe the
 * parent put there after the server started. */
START_TEST(fs_stdout_followed)
{
    ck_assert_int_eq(exit_of(return_arg, (void *)0), 0); /* the server is up */
    int fds[2];
    ck_assert_int_eq(pipe(fds), 0);
    fflush(stdout);
    int saved = dup(1);
    ck_assert_int_ge(saved, 0);
    ck_assert_int_eq(dup2(fds[1], 1), 1);
    weft_process_opts o = {.name = "greeter"};
    weft_process *p;
    WT_OK(weft_process_new(&p, say_hello, NULL, &o));
    int rc = weft_process_start(p);
    ck_assert_int_eq(dup2(saved, 1), 1); /* our stdout back before any check */
    close(saved);
    close(fds[1]);
    WT_OK(rc);
    WT_OK(weft_process_join(p, WEFT_FOREVER));
    WT_OK(weft_process_close(p));
    weft_process_free(p);
    char buf[64] = {0};
    size_t got = 0;
    ssize_t n;
    while ((n = read(fds[0], buf + got, sizeof buf - 1 - got)) > 0)
        got += (size_t)n;
    ck_assert_str_eq(buf, "hello from greeter\n");
    close(fds[0]);
}
END_TEST

struct crossing {
    int *handle;           /* handle memory: a copy at the same address */
    volatile int *shared;  /* shared memory: the same bytes */
    int fd;                /* a registered fd: the same number */
};

static int use_crossing(void *arg)
{
    struct crossing *c = arg;
    if (c->handle[0] != 1234 || c->handle[1] != 5678)
        return 3;
    c->handle[0] = 0; /* the child's copy only */
    if (write(c->fd, "x", 1) != 1)
        return 4;
    c->shared[0] = 42;
    return 0;
}

START_TEST(fs_share_reaches_child)
{
    struct crossing *c = weft__handle_alloc(sizeof *c);
    ck_assert_ptr_nonnull(c);
    c->handle = weft__handle_alloc(2 * sizeof(int));
    c->shared = weft__shared_alloc(sizeof(int));
    ck_assert_ptr_nonnull(c->handle);
    ck_assert_ptr_nonnull((void *)c->shared);
    c->handle[0] = 1234;
    c->handle[1] = 5678;
    int fds[2];
    make_pipe(fds, false, true);
    c->fd = fds[1];
    /* A pointer to a handle object goes as it is (no arg_size). */
    ck_assert_int_eq(exit_of(use_crossing, c), 0);
    ck_assert_int_eq(c->handle[0], 1234);
    ck_assert_int_eq(c->shared[0], 42);
    char x = 0;
    ck_assert_int_eq(read(fds[0], &x, 1), 1);
    ck_assert_int_eq(x, 'x');
    close_pipe_end(fds[1]);
    close(fds[0]);
    weft__shared_free((void *)c->shared);
    weft__handle_free(c->handle);
    weft__handle_free(c);
}
END_TEST

/* --------------------------------------------- the server ends with us */

struct server_report {
    int report; /* write end: the middle's server and fork child go here */
    int hold;   /* read end: keeps the fork child running */
};

static int wait_hold(void *arg)
{
    return block_on_pipe(arg);
}

/* Starts a forkserver child (so it has a server) and a fork child that
 * outlives it, reports both pids and returns: its server must go then,
 * although the fork child (which had a copy of everything) still runs. */
static int report_server(void *arg)
{
    struct server_report *r = arg;
    weft_process *g, *f;
    if (weft_process_new(&g, return_arg, (void *)5, NULL) || weft_process_start(g) ||
        weft_process_join(g, WEFT_FOREVER))
        return 2;
    int code = 0;
    if (weft_process_exitcode(g, &code) || code != 5 || weft_process_close(g))
        return 3;
    weft_process_free(g);
    weft_process_opts o = {.start_method = WEFT_START_FORK, .arg_size = sizeof r->hold};
    if (weft_process_new(&f, wait_hold, &r->hold, &o) || weft_process_start(f))
        return 4;
    pid_t pids[2] = {weft__forkserver_pid(), weft_process_pid(f)};
    if (pids[0] <= 0 || write(r->report, pids, sizeof pids) != sizeof pids)
        return 5;
    return 0; /* f is not freed: it must keep running past our exit */
}

START_TEST(fs_server_gone_with_parent)
{
    /* The middle's server and fork child come to us when the middle
     * exits: we see the server exit (it would hang this test otherwise). */
    ck_assert_int_eq(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
    int report[2], hold[2];
    make_pipe(report, false, true);
    make_pipe(hold, true, false);
    struct server_report r = {.report = report[1], .hold = hold[0]};
    weft_process_opts o = with_arg(sizeof r);
    weft_process *m = start(report_server, &r, &o);
    WT_OK(weft_process_join(m, WEFT_FOREVER));
    int code = -100;
    WT_OK(weft_process_exitcode(m, &code));
    ck_assert_int_eq(code, 0);
    WT_OK(weft_process_close(m));
    weft_process_free(m);
    pid_t pids[2] = {0, 0};
    ck_assert_int_eq(read(report[0], pids, sizeof pids), (ssize_t)sizeof pids);
    ck_assert_int_gt(pids[0], 0);
    ck_assert_int_gt(pids[1], 0);
    ck_assert_int_ne(pids[0], weft__forkserver_pid());
    int st;
    ck_assert_int_eq(waitpid(pids[0], &st, 0), pids[0]);
    ck_assert(WIFEXITED(st));
    ck_assert_int_eq(WEXITSTATUS(st), 0);
    /* The fork child was still running all along; now let it go. */
    ck_assert_int_eq(waitpid(pids[1], &st, WNOHANG), 0);
    close(hold[1]);
    ck_assert_int_eq(waitpid(pids[1], &st, 0), pids[1]);
    ck_assert(WIFEXITED(st));
    ck_assert_int_eq(WEXITSTATUS(st), 0);
    close_pipe_end(report[1]);
    close(report[0]);
    close_pipe_end(hold[0]);
}
END_TEST

/* Somebody kills the server: a running non-daemon child goes on as an
 * orphan and its exit code is lost (255, as with fork when someone else
 * reaped the child), a daemon child dies with the server, and the next
 * start gets a new server. */
START_TEST(fs_server_killed)
{
    signal(SIGTERM, SIG_DFL);
    int fds[2];
    make_pipe(fds, true, false);
    weft_process_opts o = {.arg_size = sizeof fds[0], .daemon = WEFT_DAEMON_NO};
    weft_process *orphan = start(block_on_pipe, &fds[0], &o);
    o.daemon = WEFT_DAEMON_YES;
    weft_process *daemon = start(block_on_pipe, &fds[0], &o);
    pid_t server = weft__forkserver_pid();
    ck_assert_int_gt(server, 0);
    ck_assert_int_eq(kill(server, SIGKILL), 0);
    WT_OK(weft_process_join(daemon, 30));
    int code;
    WT_OK(weft_process_exitcode(daemon, &code));
    ck_assert_int_eq(code, 255);
    ck_assert(weft_process_is_alive(orphan));
    WT_ERR(weft_process_join(orphan, 0.02), WEFT_ETIMEDOUT);
    /* Signals still reach it, through its pidfd. */
    WT_OK(weft_process_terminate(orphan));
    WT_OK(weft_process_join(orphan, 30));
    WT_OK(weft_process_exitcode(orphan, &code));
    ck_assert_int_eq(code, 255);
    WT_OK(weft_process_close(orphan));
    weft_process_free(orphan);
    WT_OK(weft_process_close(daemon));
    weft_process_free(daemon);
    ck_assert_int_eq(exit_of(return_arg, (void *)6), 6);
    ck_assert_int_ne(weft__forkserver_pid(), server);
    close_pipe_end(fds[0]);
    close(fds[1]);
}
END_TEST

/* A child that cannot place weft's shared memory at the parent's addresses
 * (the server's random layout is in the way) makes the parent retire that
 * server and start the child from a fresh one. The retired server goes on
 * relaying the exits of the children it started. */
START_TEST(fs_layout_taken)
{
    use_method();
    int fds[2];
    make_pipe(fds, true, false);
    struct until_closed u = until_closed_of(fds);
    weft_process_opts o = with_arg(sizeof u);
    weft_process *early;
    WT_OK(weft_process_new(&early, block_until_closed, &u, &o));
    WT_OK(weft_process_start(early));
    pid_t first = weft__forkserver_pid();
    ck_assert_int_gt(first, 0);

    weft__forkserver_layout_taken = 1;
    ck_assert_int_eq(exit_of(return_arg, (void *)9), 9);
    ck_assert_int_eq(weft__forkserver_layout_taken, 0);
    pid_t second = weft__forkserver_pid();
    ck_assert_int_gt(second, 0);
    ck_assert_int_ne(second, first);
    ck_assert_int_eq(kill(first, 0), 0); /* retired, not gone */

    /* Three refusals in a row: the start fails, passing (EAGAIN). */
    weft__forkserver_layout_taken = 3;
    weft_process *p;
    WT_OK(weft_process_new(&p, return_arg, (void *)1, NULL));
    WT_ERR(weft_process_start(p), WEFT_EAGAIN);
    WT_OK(weft_process_close(p));
    weft_process_free(p);
    weft__forkserver_layout_taken = 0;
    ck_assert_int_eq(exit_of(return_arg, (void *)5), 5);

    /* The early child's exit still comes through the retired server. */
    close(fds[1]);
    WT_OK(weft_process_join(early, 30));
    int code;
    WT_OK(weft_process_exitcode(early, &code));
    ck_assert_int_eq(code, 0);
    WT_OK(weft_process_close(early));
    weft_process_free(early);
    close_pipe_end(fds[0]);
}
END_TEST

WT_MAIN("forkserver", 60, process_exit_codes, process_killed, process_terminated,
        process_join_timeout, process_join_without_pidfd, process_free_running,
        process_daemon_dies_with_parent, process_non_daemon_survives, process_names,
        process_bad_input, fs_start_method, fs_busy_threads, fs_arg_copy, fs_unresolvable,
        fs_stdout_followed, fs_share_reaches_child, fs_server_gone_with_parent,
        fs_server_killed, fs_concurrent_starts, fs_layout_taken,
        process_waits_for_non_daemon_threads, process_does_not_wait_for_daemon_threads,
        process_active_children, process_free_leaves_active_children,
        process_child_has_no_children, process_sentinel, process_sentinel_without_pidfd,
        process_sentinel_then_is_alive, process_interrupted, process_closed_refuses,
        process_terminate_lifecycle, process_foreign_object, process_join_in_coroutine,
        process_join_in_coroutine_without_pidfd, process_active_children_concurrent)
