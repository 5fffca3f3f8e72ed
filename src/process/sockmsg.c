/*
 * Whole messages over a Unix socket, fds attached. See internal/sockmsg.h.
 */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "internal/check.h"
#include "internal/sockmsg.h"
#include "weft/common.h"

int weft__sock_send_all(int sock, const void *buf, size_t len, weft__errno_map code)
{
    const char *p = buf;
    while (len > 0) {
        ssize_t n = send(sock, p, len, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return code(errno);
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int weft__sock_recv_all(int sock, void *buf, size_t len, weft__errno_map code)
{
    char *p = buf;
    while (len > 0) {
        ssize_t n = recv(sock, p, len, 0);
        if (n == 0)
            return WEFT_EEOF;
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return code(errno);
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

typedef union {
    char buf[CMSG_SPACE(sizeof(int) * WEFT__SOCK_FDS_MAX)];
    struct cmsghdr align;
} fd_space;

int weft__sock_send_fds(int sock, const void *buf, size_t len, const int *fds, int nfds,
                        weft__errno_map code)
{
    WEFT_ASSERT(nfds >= 0 && nfds <= WEFT__SOCK_FDS_MAX);
    fd_space u;
    struct iovec iov = {.iov_base = (void *)buf, .iov_len = len};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
    if (nfds > 0) {
        memset(&u, 0, CMSG_SPACE(sizeof(int) * (size_t)nfds));
        msg.msg_control = u.buf;
        msg.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfds);
        struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
        cm->cmsg_level = SOL_SOCKET;
        cm->cmsg_type = SCM_RIGHTS;
        cm->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
        memcpy(CMSG_DATA(cm), fds, sizeof(int) * (size_t)nfds);
    }
    ssize_t r;
    do
        r = sendmsg(sock, &msg, MSG_NOSIGNAL);
    while (r < 0 && errno == EINTR);
    if (r < 0)
        return code(errno);
    return (size_t)r == len ? 0 : WEFT_EPIPE;
}

int weft__sock_recv_fds(int sock, void *buf, size_t len, int *fds, int max, weft__errno_map code)
{
    for (int i = 0; i < max; i++)
        fds[i] = -1;
    int got = 0;
    char *p = buf;
    while (len > 0) {
        fd_space u;
        struct iovec iov = {.iov_base = p, .iov_len = len};
        struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
                             .msg_controllen = sizeof u.buf};
        ssize_t n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
        if (n < 0 && errno == EINTR)
            continue;
        for (struct cmsghdr *cm = n > 0 ? CMSG_FIRSTHDR(&msg) : NULL; cm;
             cm = CMSG_NXTHDR(&msg, cm)) {
            if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
                continue;
            int k = (int)((cm->cmsg_len - CMSG_LEN(0)) / sizeof(int));
            for (int i = 0; i < k; i++) {
                int fd;
                memcpy(&fd, CMSG_DATA(cm) + sizeof(int) * (size_t)i, sizeof fd);
                if (got < max)
                    fds[got++] = fd;
                else
                    close(fd);
            }
        }
        if (n <= 0) {
            int rc = n == 0 ? WEFT_EEOF : code(errno);
            for (int i = 0; i < got; i++) {
                close(fds[i]);
                fds[i] = -1;
            }
            return rc;
        }
        p += n;
        len -= (size_t)n;
    }
    return got;
}
