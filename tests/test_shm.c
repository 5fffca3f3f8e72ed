/* weft_shm: named segments - create, attach from a child process, close,
 * unlink, owner-only mode, unpredictable names, and every error path. The
 * children are weft processes; they report through their exit codes. */
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
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

static int run_child(weft_process_fn fn, void *arg)
{
    weft_process *p;
    WT_OK(weft_process_new(&p, fn, arg, NULL));
    WT_OK(weft_process_start(p));
    WT_OK(weft_process_join(p, WEFT_FOREVER));
    int code = -1;
    WT_OK(weft_process_exitcode(p, &code));
    WT_OK(weft_process_close(p));
    weft_process_free(p);
    return code;
}

/* Attaches by name, checks the parent's bytes, answers with its own. */
static int child_attach(void *arg)
{
    const char *name = arg;
    weft_shm *s;
    if (weft_shm_attach(&s, name) != 0)
        return 10;
    unsigned char *b = weft_shm_buf(s);
    if (weft_shm_size(s) != 10000)
        return 11;
    for (int i = 0; i < 10000; i++)
        if (b[i] != (unsigned char)(i * 7))
            return 12;
    memcpy(b, "from child", 10);
    weft_shm_free(s);
    return 0;
}

METHOD_TEST(shm_create_attach_child)
{
    weft_shm *s;
    WT_OK(weft_shm_create(&s, NULL, 10000));
    ck_assert_uint_eq(weft_shm_size(s), 10000);
    unsigned char *b = weft_shm_buf(s);
    ck_assert_ptr_nonnull(b);
    for (int i = 0; i < 10000; i++)
        ck_assert_int_eq(b[i], 0); /* zero-filled */
    for (int i = 0; i < 10000; i++)
        b[i] = (unsigned char)(i * 7);
    /* The child gets only the name, in memory every start method carries. */
    char *name = weft__shared_alloc(WEFT_SHM_NAME_MAX + 1);
    strcpy(name, weft_shm_name(s));
    ck_assert_int_eq(run_child(child_attach, name), 0);
    ck_assert_int_eq(memcmp(b, "from child", 10), 0);

    /* A second handle in this process sees the same bytes. */
    weft_shm *t;
    WT_OK(weft_shm_attach(&t, name));
    ck_assert_int_eq(memcmp(weft_shm_buf(t), "from child", 10), 0);
    ck_assert_str_eq(weft_shm_name(t), name);
    weft_shm_free(t);

    /* "/name" is the same segment. */
    char slashed[WEFT_SHM_NAME_MAX + 2] = "/";
    strcat(slashed, name);
    WT_OK(weft_shm_attach(&t, slashed));
    ck_assert_str_eq(weft_shm_name(t), name);
    weft_shm_free(t);

    WT_OK(weft_shm_close(s));
    ck_assert_ptr_null(weft_shm_buf(s));
    ck_assert_uint_eq(weft_shm_size(s), 10000);
    WT_OK(weft_shm_close(s)); /* again: nothing to do */
    WT_OK(weft_shm_unlink(s));
    weft_shm_free(s);
    weft__shared_free(name);
}

START_TEST(shm_unlink_removes)
{
    weft_shm *s, *t;
    WT_OK(weft_shm_create(&s, NULL, 100));
    char path[300];
    snprintf(path, sizeof path, "/dev/shm/%s", weft_shm_name(s));
    struct stat st;
    ck_assert_int_eq(stat(path, &st), 0);
    WT_OK(weft_shm_attach(&t, weft_shm_name(s)));
    WT_OK(weft_shm_unlink(s));
    ck_assert_int_eq(stat(path, &st), -1);
    ck_assert_int_eq(errno, ENOENT);
    WT_ERR(weft_shm_attach(&t, weft_shm_name(s)), WEFT_ENOENT);
    WT_ERR(weft_shm_unlink(s), WEFT_ENOENT);
    WT_ERR(weft_shm_unlink(t), WEFT_ENOENT);
    /* Both mappings stay usable and shared after the unlink. */
    memcpy(weft_shm_buf(s), "still", 5);
    ck_assert_int_eq(memcmp(weft_shm_buf(t), "still", 5), 0);
    weft_shm_free(t);
    weft_shm_free(s);
}
END_TEST

/* Runs as another user: must not be able to open the segment at all. */
static int child_other_user(void *arg)
{
    if (setgid(65534) != 0 || setuid(65534) != 0)
        return 20;
    char slashed[WEFT_SHM_NAME_MAX + 2] = "/";
    strcat(slashed, arg);
    int fd = shm_open(slashed, O_RDONLY, 0);
    if (fd >= 0)
        return 21;
    if (errno != EACCES)
        return 22;
    weft_shm *s;
    if (weft_shm_attach(&s, arg) != WEFT_EACCES)
        return 23;
    return 0;
}

METHOD_TEST(shm_owner_only)
{
    /* A permissive umask changes nothing; a restrictive one does not stop
     * the owner from writing. */
    mode_t masks[] = {0, 0277};
    for (int m = 0; m < 2; m++) {
        mode_t old = umask(masks[m]);
        weft_shm *s;
        WT_OK(weft_shm_create(&s, NULL, 4096));
        umask(old);
        char slashed[WEFT_SHM_NAME_MAX + 2] = "/";
        strcat(slashed, weft_shm_name(s));
        int fd = shm_open(slashed, O_RDONLY, 0);
        ck_assert_int_ge(fd, 0);
        struct stat st;
        ck_assert_int_eq(fstat(fd, &st), 0);
        close(fd);
        ck_assert_int_eq(st.st_mode & 07777, 0600);
        ck_assert_int_eq(st.st_uid, geteuid());
        ck_assert_int_eq(st.st_size, 4096);
        if (geteuid() == 0) {
            char *name = weft__shared_alloc(WEFT_SHM_NAME_MAX + 1);
            strcpy(name, weft_shm_name(s));
            ck_assert_int_eq(run_child(child_other_user, name), 0);
            weft__shared_free(name);
        }
        WT_OK(weft_shm_unlink(s));
        weft_shm_free(s);
    }
}

START_TEST(shm_random_names)
{
    enum { N = 16 };
    weft_shm *s[N];
    for (int i = 0; i < N; i++) {
        WT_OK(weft_shm_create(&s[i], NULL, 1));
        const char *n = weft_shm_name(s[i]);
        ck_assert_uint_eq(strlen(n), 5 + 16);
        ck_assert_int_eq(strncmp(n, "weft_", 5), 0);
        ck_assert_uint_eq(strspn(n + 5, "0123456789abcdef"), 16);
        for (int j = 0; j < i; j++)
            ck_assert_str_ne(n, weft_shm_name(s[j]));
    }
    for (int i = 0; i < N; i++) {
        WT_OK(weft_shm_unlink(s[i]));
        weft_shm_free(s[i]);
    }
}
END_TEST

START_TEST(shm_named_exclusive)
{
    char name[64];
    snprintf(name, sizeof name, "weft_test_%d", (int)getpid());
    weft_shm *s, *t = NULL;
    WT_OK(weft_shm_create(&s, name, 64));
    ck_assert_str_eq(weft_shm_name(s), name);
    /* Nobody gets the existing name by creating it, with or without '/'. */
    WT_ERR(weft_shm_create(&t, name, 64), WEFT_EEXIST);
    char slashed[80];
    snprintf(slashed, sizeof slashed, "/%s", name);
    WT_ERR(weft_shm_create(&t, slashed, 64), WEFT_EEXIST);
    ck_assert_ptr_null(t);
    WT_OK(weft_shm_unlink(s));
    weft_shm_free(s);
    /* A name pre-created by someone else (here: a plain file, even an
     * empty one) is never taken over. */
    int fd = shm_open(slashed, O_RDWR | O_CREAT | O_EXCL, 0666);
    ck_assert_int_ge(fd, 0);
    close(fd);
    WT_ERR(weft_shm_create(&t, name, 64), WEFT_EEXIST);
    WT_ERR(weft_shm_attach(&t, name), WEFT_EINVAL); /* empty: nothing to map */
    ck_assert_int_eq(shm_unlink(slashed), 0);
    /* A symlink planted under the name is refused, not followed. */
    char path[300], target[300];
    snprintf(path, sizeof path, "/dev/shm/%s", name);
    snprintf(target, sizeof target, "/dev/shm/%s_target", name);
    ck_assert_int_eq(symlink(target, path), 0);
    ck_assert_int_lt(weft_shm_create(&t, name, 64), 0);
    ck_assert_int_lt(weft_shm_attach(&t, name), 0);
    ck_assert_int_eq(access(target, F_OK), -1);
    ck_assert_int_eq(unlink(path), 0);
}
END_TEST

START_TEST(shm_bad_input)
{
    weft_shm *s = NULL;
    WT_ERR(weft_shm_create(NULL, NULL, 10), WEFT_EINVAL);
    WT_ERR(weft_shm_create(&s, NULL, 0), WEFT_EINVAL);
    WT_ERR(weft_shm_create(&s, NULL, SIZE_MAX), WEFT_EINVAL);
    WT_ERR(weft_shm_create(&s, "", 10), WEFT_EINVAL);
    WT_ERR(weft_shm_create(&s, "/", 10), WEFT_EINVAL);
    WT_ERR(weft_shm_create(&s, "a/b", 10), WEFT_EINVAL);
    WT_ERR(weft_shm_create(&s, "//a", 10), WEFT_EINVAL);
    WT_ERR(weft_shm_create(&s, ".", 10), WEFT_EINVAL);
    WT_ERR(weft_shm_create(&s, "..", 10), WEFT_EINVAL);
    char longname[WEFT_SHM_NAME_MAX + 2];
    memset(longname, 'x', sizeof longname - 1);
    longname[sizeof longname - 1] = 0;
    WT_ERR(weft_shm_create(&s, longname, 10), WEFT_EINVAL);
    WT_ERR(weft_shm_attach(&s, longname), WEFT_EINVAL);
    WT_ERR(weft_shm_attach(NULL, "x"), WEFT_EINVAL);
    WT_ERR(weft_shm_attach(&s, NULL), WEFT_EINVAL);
    WT_ERR(weft_shm_attach(&s, ""), WEFT_EINVAL);
    WT_ERR(weft_shm_attach(&s, "weft_surely_absent_name"), WEFT_ENOENT);
    ck_assert_ptr_null(s);
    ck_assert_ptr_null(weft_shm_buf(NULL));
    ck_assert_uint_eq(weft_shm_size(NULL), 0);
    ck_assert_ptr_null(weft_shm_name(NULL));
    WT_ERR(weft_shm_close(NULL), WEFT_EINVAL);
    WT_ERR(weft_shm_unlink(NULL), WEFT_EINVAL);
    weft_shm_free(NULL);
    /* The longest valid name works. */
    longname[WEFT_SHM_NAME_MAX] = 0;
    WT_OK(weft_shm_create(&s, longname, 10));
    WT_OK(weft_shm_unlink(s));
    weft_shm_free(s);
}
END_TEST


/* ---------------------------------------------------------- Value, Array */

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
    int code = -1;
    WT_OK(weft_process_exitcode(p, &code));
    WT_OK(weft_process_close(p));
    weft_process_free(p);
    return code;
}

enum { INCREMENTS = 100000, PROCS = 4 };

/* Python's `with v.get_lock(): v.value += 1`. */
static int increment_with_lock(void *arg)
{
    weft_value *v = arg;
    weft_prlock *l = weft_value_lock(v);
    for (int i = 0; i < INCREMENTS; i++) {
        int64_t x;
        if (weft_prlock_acquire(l, WEFT_FOREVER) != 0)
            return 10;
        if (weft_value_get_i64(v, &x) != 0 || weft_value_set_i64(v, x + 1) != 0)
            return 11;
        if (weft_prlock_release(l) != 0)
            return 12;
    }
    return 0;
}

static int increment_add(void *arg)
{
    weft_value *v = arg;
    for (int i = 0; i < INCREMENTS; i++)
        if (weft_value_add_i64(v, 1, NULL) != 0)
            return 10;
    return 0;
}

static int64_t count_with(weft_process_fn fn, bool lock)
{
    weft_value *v;
    WT_OK(weft_value_new(&v, WEFT_CTYPE_I32, NULL, lock));
    weft_process *p[PROCS];
    for (int i = 0; i < PROCS; i++)
        p[i] = spawn(fn, v);
    for (int i = 0; i < PROCS; i++)
        ck_assert_int_eq(reap(p[i]), 0);
    int64_t x;
    WT_OK(weft_value_get_i64(v, &x));
    weft_value_free(v);
    return x;
}

/* The test: 4 processes x 100,000 increments under the lock. */
METHOD_TEST(value_counter_400000)
{
    ck_assert_int_eq(count_with(increment_with_lock, true), PROCS * INCREMENTS);
    ck_assert_int_eq(count_with(increment_add, true), PROCS * INCREMENTS);
    /* Without a lock, add is still one atomic operation. */
    ck_assert_int_eq(count_with(increment_add, false), PROCS * INCREMENTS);
}

START_TEST(value_types)
{
    for (int lock = 0; lock < 2; lock++) {
        weft_value *v;
        int32_t seven = 7;
        WT_OK(weft_value_new(&v, WEFT_CTYPE_I32, &seven, lock));
        ck_assert_int_eq(weft_value_type(v), WEFT_CTYPE_I32);
        ck_assert(lock ? weft_value_lock(v) != NULL : weft_value_lock(v) == NULL);
        int32_t x = 0;
        WT_OK(weft_value_get(v, &x));
        ck_assert_int_eq(x, 7);
        x = -5;
        WT_OK(weft_value_set(v, &x));
        ck_assert_int_eq(*(int32_t *)weft_value_ptr(v), -5);
        int64_t r;
        WT_OK(weft_value_add_i64(v, 10, &r));
        ck_assert_int_eq(r, 5);
        WT_OK(weft_value_set_i64(v, INT32_MAX));
        WT_OK(weft_value_add_i64(v, 1, &r)); /* wraps, as documented */
        ck_assert_int_eq(r, INT32_MIN);
        double d;
        WT_ERR(weft_value_get_f64(v, &d), WEFT_EINVAL);
        WT_ERR(weft_value_set_f64(v, 1), WEFT_EINVAL);
        WT_ERR(weft_value_add_f64(v, 1, NULL), WEFT_EINVAL);
        weft_value_free(v);

        WT_OK(weft_value_new(&v, WEFT_CTYPE_I8, NULL, lock));
        WT_OK(weft_value_get_i64(v, &r));
        ck_assert_int_eq(r, 0);
        WT_OK(weft_value_set_i64(v, 300)); /* truncated to 44 */
        WT_OK(weft_value_get_i64(v, &r));
        ck_assert_int_eq(r, 44);
        WT_OK(weft_value_add_i64(v, -100, &r));
        ck_assert_int_eq(r, -56);
        weft_value_free(v);

        WT_OK(weft_value_new(&v, WEFT_CTYPE_U8, NULL, lock));
        WT_OK(weft_value_add_i64(v, -1, &r));
        ck_assert_int_eq(r, 255);
        weft_value_free(v);

        WT_OK(weft_value_new(&v, WEFT_CTYPE_U16, NULL, lock));
        WT_OK(weft_value_add_i64(v, 65537, &r));
        ck_assert_int_eq(r, 1);
        weft_value_free(v);

        WT_OK(weft_value_new(&v, WEFT_CTYPE_U64, NULL, lock));
        uint64_t big = UINT64_MAX;
        WT_OK(weft_value_set(v, &big));
        WT_OK(weft_value_get_i64(v, &r));
        ck_assert_int_eq(r, -1);
        WT_OK(weft_value_add_i64(v, 2, &r));
        ck_assert_int_eq(r, 1);
        weft_value_free(v);

        WT_OK(weft_value_new(&v, WEFT_CTYPE_F64, &(double){1.5}, lock));
        WT_OK(weft_value_get_f64(v, &d));
        ck_assert(d == 1.5);
        WT_OK(weft_value_add_f64(v, 0.25, &d));
        ck_assert(d == 1.75);
        WT_OK(weft_value_set_f64(v, -2));
        WT_OK(weft_value_add_f64(v, 0.5, NULL));
        WT_OK(weft_value_get(v, &d));
        ck_assert(d == -1.5);
        WT_ERR(weft_value_get_i64(v, &r), WEFT_EINVAL);
        WT_ERR(weft_value_set_i64(v, 1), WEFT_EINVAL);
        WT_ERR(weft_value_add_i64(v, 1, NULL), WEFT_EINVAL);
        weft_value_free(v);

        WT_OK(weft_value_new(&v, WEFT_CTYPE_F32, NULL, lock));
        WT_OK(weft_value_add_f64(v, 0.1, &d));
        ck_assert(d == (double)0.1f);
        float f;
        WT_OK(weft_value_get(v, &f));
        ck_assert(f == 0.1f);
        WT_OK(weft_value_set_f64(v, 3.0));
        WT_OK(weft_value_get_f64(v, &d));
        ck_assert(d == 3.0);
        weft_value_free(v);
    }
    ck_assert_uint_eq(weft_ctype_size(WEFT_CTYPE_I8), 1);
    ck_assert_uint_eq(weft_ctype_size(WEFT_CTYPE_U16), 2);
    ck_assert_uint_eq(weft_ctype_size(WEFT_CTYPE_F32), 4);
    ck_assert_uint_eq(weft_ctype_size(WEFT_CTYPE_U64), 8);
    ck_assert_uint_eq(weft_ctype_size((weft_ctype)0), 0);
    ck_assert_uint_eq(weft_ctype_size((weft_ctype)99), 0);
}
END_TEST

/* Holds the Value's lock and is killed: the others go on. */
static int hold_value_lock(void *arg)
{
    weft_value *v = arg;
    if (weft_prlock_acquire(weft_value_lock(v), WEFT_FOREVER) != 0)
        return 10;
    /* Tell the parent (which polls the raw storage), then block. */
    weft_value_set_i64(v, -99);
    pause();
    return 12;
}

METHOD_TEST(value_lock_holder_killed)
{
    weft_value *v;
    WT_OK(weft_value_new(&v, WEFT_CTYPE_I64, NULL, true));
    weft_process *p = spawn(hold_value_lock, v);
    /* Wait until the child holds the lock: it writes -99 under it, and the
     * raw read needs no lock. */
    while (__atomic_load_n((int64_t *)weft_value_ptr(v), __ATOMIC_ACQUIRE) != -99)
        sched_yield();
    WT_ERR(weft_prlock_acquire(weft_value_lock(v), 0), WEFT_ETIMEDOUT);
    WT_OK(weft_process_kill(p));
    ck_assert_int_eq(reap(p), -SIGKILL);
    int64_t r;
    WT_OK(weft_value_add_i64(v, 100, &r));
    ck_assert_int_eq(r, 1);
    /* The lock was made consistent by that call: a plain acquire now. */
    WT_OK(weft_prlock_acquire(weft_value_lock(v), WEFT_FOREVER));
    WT_OK(weft_prlock_release(weft_value_lock(v)));
    weft_value_free(v);
}

/* Under the lock, adds 1 to every element; the parent checks that no
 * reader ever sees a half-updated array. */
static int bump_all(void *arg)
{
    weft_array *a = arg;
    weft_prlock *l = weft_array_lock(a);
    size_t n = weft_array_len(a);
    for (int round = 0; round < 2000; round++) {
        if (weft_prlock_acquire(l, WEFT_FOREVER) != 0)
            return 10;
        int64_t first = 0;
        for (size_t i = 0; i < n; i++) {
            int64_t x;
            if (weft_array_get_i64(a, i, &x) != 0)
                return 11;
            if (i == 0)
                first = x;
            else if (x != first)
                return 12; /* torn: someone updated without the lock */
            if (weft_array_set_i64(a, i, x + 1) != 0)
                return 13;
        }
        if (weft_prlock_release(l) != 0)
            return 14;
    }
    return 0;
}

METHOD_TEST(array_processes)
{
    int32_t init[8] = {5, 5, 5, 5, 5, 5, 5, 5};
    weft_array *a;
    WT_OK(weft_array_new(&a, WEFT_CTYPE_I32, 8, init, true));
    ck_assert_uint_eq(weft_array_len(a), 8);
    ck_assert_int_eq(weft_array_type(a), WEFT_CTYPE_I32);
    ck_assert_ptr_nonnull(weft_array_lock(a));
    ck_assert_uint_eq((uintptr_t)weft_array_data(a) % 16, 0);
    weft_process *p[3];
    for (int i = 0; i < 3; i++)
        p[i] = spawn(bump_all, a);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(reap(p[i]), 0);
    int32_t *data = weft_array_data(a);
    for (int i = 0; i < 8; i++)
        ck_assert_int_eq(data[i], 5 + 3 * 2000);
    int32_t x = 0;
    WT_OK(weft_array_get(a, 7, &x));
    ck_assert_int_eq(x, 6005);
    x = -1;
    WT_OK(weft_array_set(a, 7, &x));
    ck_assert_int_eq(data[7], -1);
    WT_ERR(weft_array_get(a, 8, &x), WEFT_EINVAL);
    WT_ERR(weft_array_set(a, 8, &x), WEFT_EINVAL);
    WT_ERR(weft_array_get_i64(a, 8, &(int64_t){0}), WEFT_EINVAL);
    WT_ERR(weft_array_set_i64(a, SIZE_MAX, 0), WEFT_EINVAL);
    WT_ERR(weft_array_get_f64(a, 0, &(double){0}), WEFT_EINVAL);
    WT_ERR(weft_array_set_f64(a, 0, 0), WEFT_EINVAL);
    weft_array_free(a);

    /* Doubles, no lock, zero-filled; and an empty array. */
    WT_OK(weft_array_new(&a, WEFT_CTYPE_F64, 3, NULL, false));
    ck_assert_ptr_null(weft_array_lock(a));
    double d = 1;
    WT_OK(weft_array_get_f64(a, 2, &d));
    ck_assert(d == 0);
    WT_OK(weft_array_set_f64(a, 2, 2.5));
    WT_OK(weft_array_get(a, 2, &d));
    ck_assert(d == 2.5);
    WT_ERR(weft_array_get_f64(a, 3, &d), WEFT_EINVAL);
    WT_ERR(weft_array_get_i64(a, 0, &(int64_t){0}), WEFT_EINVAL);
    WT_ERR(weft_array_set_i64(a, 0, 0), WEFT_EINVAL);
    weft_array_free(a);
    WT_OK(weft_array_new(&a, WEFT_CTYPE_U8, 0, NULL, true));
    ck_assert_uint_eq(weft_array_len(a), 0);
    WT_ERR(weft_array_get(a, 0, &x), WEFT_EINVAL);
    weft_array_free(a);
}

START_TEST(value_array_bad_input)
{
    weft_value *v = NULL;
    weft_array *a = NULL;
    WT_ERR(weft_value_new(NULL, WEFT_CTYPE_I32, NULL, true), WEFT_EINVAL);
    WT_ERR(weft_value_new(&v, (weft_ctype)0, NULL, true), WEFT_EINVAL);
    WT_ERR(weft_value_new(&v, (weft_ctype)11, NULL, true), WEFT_EINVAL);
    ck_assert_ptr_null(v);
    int64_t r;
    double d;
    WT_ERR(weft_value_get(NULL, &r), WEFT_EINVAL);
    WT_ERR(weft_value_set(NULL, &r), WEFT_EINVAL);
    WT_ERR(weft_value_get_i64(NULL, &r), WEFT_EINVAL);
    WT_ERR(weft_value_set_i64(NULL, 1), WEFT_EINVAL);
    WT_ERR(weft_value_add_i64(NULL, 1, NULL), WEFT_EINVAL);
    WT_ERR(weft_value_get_f64(NULL, &d), WEFT_EINVAL);
    WT_ERR(weft_value_set_f64(NULL, 1), WEFT_EINVAL);
    WT_ERR(weft_value_add_f64(NULL, 1, NULL), WEFT_EINVAL);
    ck_assert_ptr_null(weft_value_lock(NULL));
    ck_assert_ptr_null(weft_value_ptr(NULL));
    ck_assert_int_eq(weft_value_type(NULL), 0);
    weft_value_free(NULL);
    WT_OK(weft_value_new(&v, WEFT_CTYPE_I64, NULL, true));
    WT_ERR(weft_value_get(v, NULL), WEFT_EINVAL);
    WT_ERR(weft_value_set(v, NULL), WEFT_EINVAL);
    WT_ERR(weft_value_get_i64(v, NULL), WEFT_EINVAL);
    weft_value_free(v);
    WT_ERR(weft_array_new(NULL, WEFT_CTYPE_I32, 1, NULL, true), WEFT_EINVAL);
    WT_ERR(weft_array_new(&a, (weft_ctype)42, 1, NULL, true), WEFT_EINVAL);
    WT_ERR(weft_array_new(&a, WEFT_CTYPE_I64, SIZE_MAX / 4, NULL, true), WEFT_ENOMEM);
    WT_ERR(weft_array_new(&a, WEFT_CTYPE_I64, (size_t)1 << 60, NULL, true), WEFT_ENOMEM);
    ck_assert_ptr_null(a);
    WT_ERR(weft_array_get(NULL, 0, &r), WEFT_EINVAL);
    WT_ERR(weft_array_set(NULL, 0, &r), WEFT_EINVAL);
    WT_ERR(weft_array_get_i64(NULL, 0, &r), WEFT_EINVAL);
    WT_ERR(weft_array_set_i64(NULL, 0, 1), WEFT_EINVAL);
    WT_ERR(weft_array_get_f64(NULL, 0, &d), WEFT_EINVAL);
    WT_ERR(weft_array_set_f64(NULL, 0, 1), WEFT_EINVAL);
    ck_assert_uint_eq(weft_array_len(NULL), 0);
    ck_assert_ptr_null(weft_array_data(NULL));
    ck_assert_ptr_null(weft_array_lock(NULL));
    ck_assert_int_eq(weft_array_type(NULL), 0);
    weft_array_free(NULL);
}
END_TEST

WT_MAIN("shm", 60, shm_create_attach_child, shm_unlink_removes, shm_owner_only,
        shm_random_names, shm_named_exclusive, shm_bad_input, value_counter_400000, value_types,
        value_lock_holder_killed, array_processes, value_array_bad_input)
