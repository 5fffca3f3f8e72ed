/* weft_shm: named segments - create, attach from a child process, close,
 * unlink, owner-only mode, unpredictable names, and every error path. The
 * children are weft processes; they report through their exit codes. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "weft/shm.h"
#include "wt.h"

static int run_child(weft_process_fn fn, void *arg)
{
    weft_process *p;
    WT_OK(weft_process_new(&p, fn, arg, NULL));
    WT_OK(weft_process_start(p));
    WT_OK(weft_process_join(p, WEFT_FOREVER));
    int code = -1;
    WT_OK(weft_process_exitcode(p, &code));
    WT_OK(weft_process_close(p));
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

START_TEST(shm_create_attach_child)
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
    /* The child gets only the name, as with any start method. */
    char name[WEFT_SHM_NAME_MAX + 1];
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
}
END_TEST

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

START_TEST(shm_owner_only)
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
            char name[WEFT_SHM_NAME_MAX + 1];
            strcpy(name, weft_shm_name(s));
            ck_assert_int_eq(run_child(child_other_user, name), 0);
        }
        WT_OK(weft_shm_unlink(s));
        weft_shm_free(s);
    }
}
END_TEST

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

WT_MAIN("shm", 30, shm_create_attach_child, shm_unlink_removes, shm_owner_only,
        shm_random_names, shm_named_exclusive, shm_bad_input)
