/*
 * SharedMemory: named POSIX shared memory segments. See weft/shm.h for the
 * contract.
 *
 * A segment is created with O_CREAT | O_EXCL and mode 0600, and fchmod'ed
 * to 0600 again at once because the umask could only have removed bits, but
 * a creator's umask of, say, 0277 would otherwise leave a segment its owner
 * cannot write. O_EXCL is what makes a name impossible to hijack: if anyone
 * (another user included) created the name first, we fail with EEXIST
 * rather than map their file. glibc's shm_open opens /dev/shm/<name> with
 * O_NOFOLLOW | O_CLOEXEC, so a symlink planted under the name is refused
 * too and no fd leaks into an exec'ed program.
 *
 * The fd is closed as soon as the segment is mapped: the mapping keeps the
 * memory, and a weft_shm then holds no fd for children to inherit.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal/error.h"
#include "weft/shm.h"

#define RANDOM_PREFIX "weft_"

struct weft_shm {
    void *buf;   /* NULL once closed */
    size_t size;
    char name[WEFT_SHM_NAME_MAX + 2]; /* with the leading '/' shm_open wants */
};

static int from_errno(int e)
{
    switch (e) {
    case ENFILE:
        return WEFT_EMFILE;
    case ENOSPC:
        return WEFT_ENOMEM;
    case ENAMETOOLONG:
        return WEFT_EINVAL;
    default:
        return weft__errno_code(e);
    }
}

/* A user's name: "name" or "/name", 1..WEFT_SHM_NAME_MAX characters, no
 * other '/', not "." or "..". Written with its leading '/' to `out`. */
static int set_name(char *out, const char *name)
{
    if (name[0] == '/')
        name++;
    size_t n = strlen(name);
    if (n == 0 || n > WEFT_SHM_NAME_MAX || strchr(name, '/') || !strcmp(name, ".") ||
        !strcmp(name, ".."))
        return WEFT_EINVAL;
    out[0] = '/';
    memcpy(out + 1, name, n + 1);
    return 0;
}

/* 64 bits from the kernel's CSPRNG: nobody can guess the next name. */
static int random_name(char *out)
{
    uint64_t r;
    size_t got = 0;
    while (got < sizeof r) {
        ssize_t k = getrandom((char *)&r + got, sizeof r - got, 0);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            return from_errno(errno);
        }
        got += (size_t)k;
    }
    snprintf(out, WEFT_SHM_NAME_MAX + 2, "/" RANDOM_PREFIX "%016llx", (unsigned long long)r);
    return 0;
}

static int map_fd(weft_shm *s, int fd, size_t size)
{
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED)
        return from_errno(errno);
    s->buf = p;
    s->size = size;
    return 0;
}

int weft_shm_create(weft_shm **out, const char *name, size_t size)
{
    if (!out || size == 0 || size > (size_t)PTRDIFF_MAX)
        return WEFT_EINVAL;
    weft_shm *s = calloc(1, sizeof *s);
    if (!s)
        return WEFT_ENOMEM;
    int rc = 0, fd = -1;
    /* A random name that happens to exist is tried again with another; a
     * user's name that exists is the user's EEXIST. */
    for (int tries = 0;; tries++) {
        rc = name ? set_name(s->name, name) : random_name(s->name);
        if (rc)
            goto fail;
        fd = shm_open(s->name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd >= 0)
            break;
        rc = from_errno(errno);
        if (name || errno != EEXIST || tries == 8)
            goto fail;
    }
    if (fchmod(fd, 0600) != 0 || ftruncate(fd, (off_t)size) != 0) {
        rc = from_errno(errno);
        goto fail_unlink;
    }
    rc = map_fd(s, fd, size);
    if (rc)
        goto fail_unlink;
    close(fd);
    *out = s;
    return 0;
fail_unlink:
    shm_unlink(s->name);
    close(fd);
fail:
    free(s);
    return rc;
}

int weft_shm_attach(weft_shm **out, const char *name)
{
    if (!out || !name)
        return WEFT_EINVAL;
    weft_shm *s = calloc(1, sizeof *s);
    if (!s)
        return WEFT_ENOMEM;
    int rc = set_name(s->name, name);
    if (rc)
        goto fail;
    int fd = shm_open(s->name, O_RDWR | O_CLOEXEC, 0);
    if (fd < 0) {
        rc = from_errno(errno);
        goto fail;
    }
    struct stat st;
    if (fstat(fd, &st) != 0)
        rc = from_errno(errno);
    else if (st.st_size <= 0) /* nothing to map: created but never sized */
        rc = WEFT_EINVAL;
    else
        rc = map_fd(s, fd, (size_t)st.st_size);
    close(fd);
    if (rc)
        goto fail;
    *out = s;
    return 0;
fail:
    free(s);
    return rc;
}

void *weft_shm_buf(const weft_shm *shm)
{
    return shm ? shm->buf : NULL;
}

size_t weft_shm_size(const weft_shm *shm)
{
    return shm ? shm->size : 0;
}

const char *weft_shm_name(const weft_shm *shm)
{
    return shm ? shm->name + 1 : NULL;
}

int weft_shm_close(weft_shm *shm)
{
    if (!shm)
        return WEFT_EINVAL;
    if (shm->buf) {
        munmap(shm->buf, shm->size);
        shm->buf = NULL;
    }
    return 0;
}

int weft_shm_unlink(weft_shm *shm)
{
    if (!shm)
        return WEFT_EINVAL;
    return shm_unlink(shm->name) == 0 ? 0 : from_errno(errno);
}

void weft_shm_free(weft_shm *shm)
{
    if (!shm)
        return;
    weft_shm_close(shm);
    free(shm);
}
