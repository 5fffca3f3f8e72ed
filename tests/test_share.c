/* share: handle memory, shared memory, registered fds and the transfer a
 * forkserver child gets. The transfer is tested in a fork child that first
 * forgets everything it inherited (weft__share_forget), so it stands where
 * a forkserver child stands: same addresses free, nothing mapped. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "internal/share.h"
#include "wt.h"

void weft__share_forget(void);

/* Fork a child that runs fn and exits with its result; return that
 * status, or -signal. */
static int in_child(int (*fn)(void *), void *arg)
{
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0)
        _exit(fn(arg));
    int st;
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -WTERMSIG(st);
}

START_TEST(handle_alloc_sizes)
{
    size_t sizes[] = {1, 16, 17, 100, 4096, 5000, 1 << 20};
    void *p[7];
    for (int i = 0; i < 7; i++) {
        p[i] = weft__handle_alloc(sizes[i]);
        ck_assert_ptr_nonnull(p[i]);
        ck_assert_uint_eq((uintptr_t)p[i] % 16, 0);
        for (size_t k = 0; k < sizes[i]; k++)
            ck_assert_int_eq(((unsigned char *)p[i])[k], 0);
        memset(p[i], 0xab, sizes[i]);
    }
    for (int i = 0; i < 7; i++)
        for (int j = i + 1; j < 7; j++)
            ck_assert(p[i] != p[j]);
    void *first = p[3];
    weft__handle_free(p[3]);
    /* Freed memory is reused, and comes back zeroed. */
    void *again = weft__handle_alloc(100);
    ck_assert_ptr_eq(again, first);
    for (int k = 0; k < 100; k++)
        ck_assert_int_eq(((unsigned char *)again)[k], 0);
    weft__handle_free(again);
    for (int i = 0; i < 7; i++)
        if (i != 3)
            weft__handle_free(p[i]);
    weft__handle_free(NULL);
    /* Bounded: more than the heap can hold is NULL, not a crash. */
    ck_assert_ptr_null(weft__handle_alloc((size_t)1 << 30));
    ck_assert_ptr_null(weft__handle_alloc(SIZE_MAX));
}
END_TEST

START_TEST(shared_alloc_alignment_and_reuse)
{
    size_t sizes[] = {1, 64, 65, 4096, 10000, 300000, 3 << 20};
    size_t align[] = {64, 64, 64, 4096, 4096, 4096, 4096};
    void *p[7];
    for (int i = 0; i < 7; i++) {
        p[i] = weft__shared_alloc(sizes[i]);
        ck_assert_ptr_nonnull(p[i]);
        ck_assert_uint_eq((uintptr_t)p[i] % align[i], 0);
        ck_assert(weft__shared_owned(p[i]));
        memset(p[i], 0xcd, sizes[i]);
    }
    void *small = p[1];
    weft__shared_free(p[1]);
    void *again = weft__shared_alloc(50);
    ck_assert_ptr_eq(again, small);
    for (int k = 0; k < 64; k++)
        ck_assert_int_eq(((unsigned char *)again)[k], 0);
    p[1] = again;
    for (int i = 0; i < 7; i++)
        weft__shared_free(p[i]);
    weft__shared_free(NULL);
    ck_assert(!weft__shared_owned(NULL));
    int local;
    ck_assert(!weft__shared_owned(&local));
}
END_TEST

struct fork_share {
    int *word;
};

static int child_writes_shared(void *arg)
{
    struct fork_share *fs = arg;
    if (weft__shared_owned(fs->word))
        return 10; /* the parent's block is not the child's */
    __atomic_store_n(fs->word, 77, __ATOMIC_RELAXED);
    weft__shared_free(fs->word); /* does nothing: not ours */
    /* The child's own allocations come from its own chunks. */
    int *mine = weft__shared_alloc(sizeof *mine);
    if (!mine || !weft__shared_owned(mine) || mine == fs->word)
        return 11;
    weft__shared_free(mine);
    return 0;
}

START_TEST(shared_memory_is_shared_with_a_fork_child)
{
    struct fork_share fs = {.word = weft__shared_alloc(sizeof(int))};
    ck_assert_ptr_nonnull(fs.word);
    ck_assert_int_eq(in_child(child_writes_shared, &fs), 0);
    ck_assert_int_eq(*fs.word, 77);
    /* The child's free did not hand the block out again here. */
    int *other = weft__shared_alloc(sizeof(int));
    ck_assert_ptr_ne(other, fs.word);
    weft__shared_free(other);
    weft__shared_free((void *)fs.word);
}
END_TEST

/* What the parent hands over: a handle that points into shared memory and
 * names a registered fd. */
struct handle {
    int magic;
    int fd;              /* the write end of a pipe, registered */
    char *shared;        /* a shared block */
    struct handle *self; /* pointers inside the handle heap stay valid */
};

struct xfer {
    int sock;
    struct handle *h;
    int plug_fd; /* a number the child has in use before receiving */
};

static int child_receives(void *arg)
{
    struct xfer *x = arg;
    struct handle *h = x->h;
    int target = h->fd;
    weft__share_forget();
    /* Occupy the registered fd's number: the transfer must replace it. */
    if (dup2(x->plug_fd, target) < 0)
        return 20;
    int sock = x->sock;
    int r = weft__share_recv(&sock);
    if (r != 0)
        return 21;
    if (h->magic != 0x5eed || h->self != h || h->fd != target)
        return 22;
    if (strcmp(h->shared, "from the parent") != 0)
        return 23;
    if (weft__shared_owned(h->shared))
        return 24;
    strcpy(h->shared, "from the child");
    if (write(target, "!", 1) != 1)
        return 25;
    /* The fd is close-on-exec, as weft opens every fd. */
    if (!(fcntl(target, F_GETFD) & FD_CLOEXEC))
        return 26;
    /* The socket still works (moved aside if it had to be). */
    if (write(sock, "k", 1) != 1)
        return 27;
    /* The heap is this process's now: allocating and freeing work. */
    void *p = weft__handle_alloc(64);
    char *s = weft__shared_alloc(64);
    if (!p || !s || !weft__shared_owned(s))
        return 28;
    weft__handle_free(p);
    weft__shared_free(s);
    weft__handle_free(h);
    /* A second heap cannot be received on top of this one. */
    int again = sock;
    if (weft__share_recv(&again) != WEFT_ESTATE)
        return 29;
    return 0;
}

START_TEST(transfer_to_a_child_without_the_parents_memory)
{
    int pfd[2], sv[2], plug[2];
    ck_assert_int_eq(pipe2(pfd, O_CLOEXEC), 0);
    ck_assert_int_eq(pipe2(plug, O_CLOEXEC), 0);
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    struct handle *h = weft__handle_alloc(sizeof *h);
    ck_assert_ptr_nonnull(h);
    h->magic = 0x5eed;
    h->fd = pfd[1];
    h->self = h;
    h->shared = weft__shared_alloc(64);
    ck_assert_ptr_nonnull(h->shared);
    strcpy(h->shared, "from the parent");
    WT_OK(weft__share_fd_add(pfd[1]));

    struct xfer x = {.sock = sv[1], .h = h, .plug_fd = plug[1]};
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0)
        _exit(child_receives(&x));
    close(sv[1]); /* so that a child dying early is EOF here, not a hang */
    WT_OK(weft__share_send(sv[0]));
    char c = 0;
    (void)read(sv[0], &c, 1);
    int st;
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child status %d", st);
    ck_assert_int_eq(c, 'k');
    ck_assert_int_eq(read(pfd[0], &c, 1), 1);
    ck_assert_int_eq(c, '!');
    ck_assert_str_eq(h->shared, "from the child");
    /* The plug's pipe got nothing: the child wrote to the transferred fd. */
    ck_assert_int_eq(fcntl(plug[0], F_SETFL, O_NONBLOCK), 0);
    ck_assert_int_eq(read(plug[0], &c, 1), -1);

    weft__share_fd_remove(pfd[1]);
    weft__shared_free(h->shared);
    weft__handle_free(h);
    close(pfd[0]);
    close(pfd[1]);
    close(plug[0]);
    close(plug[1]);
    close(sv[0]);
}
END_TEST

static int child_recv_status(void *arg)
{
    int sock = *(int *)arg;
    weft__share_forget();
    return -weft__share_recv(&sock) & 0xff;
}

START_TEST(transfer_errors)
{
    int bad = -1;
    WT_ERR(weft__share_recv(NULL), WEFT_EINVAL);
    WT_ERR(weft__share_recv(&bad), WEFT_EINVAL);
    WT_ERR(weft__share_fd_add(-1), WEFT_EINVAL);
    weft__share_fd_remove(12345); /* not registered: nothing happens */

    /* The peer closes before sending anything: end of file. */
    int sv[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    close(sv[0]);
    ck_assert_int_eq(in_child(child_recv_status, &sv[1]), -WEFT_EEOF & 0xff);
    close(sv[1]);

    /* Garbage instead of a header. */
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    char junk[64];
    memset(junk, 0x11, sizeof junk);
    ck_assert_int_eq(write(sv[0], junk, sizeof junk), (ssize_t)sizeof junk);
    ck_assert_int_eq(in_child(child_recv_status, &sv[1]), -WEFT_EINVAL & 0xff);
    close(sv[0]);
    close(sv[1]);

    /* Sending to a closed peer fails cleanly (no SIGPIPE). */
    void *keep = weft__handle_alloc(8);
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    close(sv[1]);
    WT_ERR(weft__share_send(sv[0]), WEFT_EPIPE);
    close(sv[0]);
    weft__handle_free(keep);
}
END_TEST

static void *churn(void *arg)
{
    void *h[64], *s[64];
    for (int round = 0; round < 200; round++) {
        for (int i = 0; i < 64; i++) {
            h[i] = weft__handle_alloc((size_t)(i * 37 % 2000) + 1);
            s[i] = weft__shared_alloc((size_t)(i * 53 % 9000) + 1);
            if (!h[i] || !s[i])
                return (void *)1;
            memset(h[i], round, 1);
            memset(s[i], round, 1);
        }
        for (int i = 0; i < 64; i++) {
            weft__handle_free(h[i]);
            weft__shared_free(s[i]);
        }
    }
    return NULL;
}

START_TEST(allocators_are_thread_safe)
{
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(pthread_create(&t[i], NULL, churn, NULL), 0);
    for (int i = 0; i < 4; i++) {
        void *r;
        ck_assert_int_eq(pthread_join(t[i], &r), 0);
        ck_assert_ptr_null(r);
    }
}
END_TEST

WT_MAIN("share", 30, handle_alloc_sizes, shared_alloc_alignment_and_reuse,
        shared_memory_is_shared_with_a_fork_child,
        transfer_to_a_child_without_the_parents_memory, transfer_errors,
        allocators_are_thread_safe)
