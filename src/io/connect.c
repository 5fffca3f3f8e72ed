/*
 * asyncio's create_connection and create_server for sockets: a name
 * resolved (resolve.c), then each address tried in turn.
 */
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <sys/socket.h>

#include "internal/clock.h"
#include "internal/error.h"
#include "weft/net.h"

int weft_create_connection(weft_socket **out, const char *host, int port, double timeout)
{
    if (out)
        *out = NULL;
    if (!out || !host || weft__timeout_valid(timeout))
        return WEFT_EINVAL;
    int64_t deadline = weft__deadline(timeout);
    weft_addrinfo *list = NULL;
    int rc = weft_getaddrinfo(host, port, AF_UNSPEC, SOCK_STREAM, 0, &list, timeout);
    if (rc)
        return rc;
    rc = WEFT_ENOENT;
    for (weft_addrinfo *ai = list; ai; ai = ai->next) {
        weft_socket *s = NULL;
        rc = weft_socket_new(&s, ai->family, SOCK_STREAM);
        if (rc)
            continue;
        double left = weft__remaining(deadline);
        rc = weft_socket_connect(s, &ai->addr, left);
        if (rc == 0) {
            int one = 1;
            weft_socket_setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
            *out = s;
            break;
        }
        weft_socket_free(s);
        if (rc == WEFT_ETIMEDOUT || rc == WEFT_ECANCELLED)
            break;
    }
    weft_addrinfo_free(list);
    return rc;
}

static int listen_on(weft_socket **out, const weft_sockaddr *a, bool v6only,
                     const weft_server_opts *o)
{
    weft_socket *s = NULL;
    int family = a->ss.ss_family;
    int rc = weft_socket_new(&s, family, SOCK_STREAM);
    if (rc)
        return rc;
    int one = 1, v6 = v6only;
    if (family != AF_UNIX)
        rc = weft_socket_setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (!rc && o->reuse_port)
        rc = weft_socket_setsockopt(s, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
    if (!rc && family == AF_INET6)
        rc = weft_socket_setsockopt(s, IPPROTO_IPV6, IPV6_V6ONLY, &v6, sizeof v6);
    if (!rc)
        rc = weft_socket_bind(s, a);
    if (!rc)
        rc = weft_socket_listen(s, o->backlog);
    if (rc) {
        weft_socket_free(s);
        return rc;
    }
    *out = s;
    return 0;
}

int weft_create_server(weft_socket **out, const char *host, int port,
                       const weft_server_opts *opts)
{
    if (out)
        *out = NULL;
    weft_server_opts o = opts ? *opts : (weft_server_opts){0};
    if (!out || o.backlog < 0 || port < 0 || port > 65535 ||
        (o.family != 0 && o.family != AF_INET && o.family != AF_INET6 && o.family != AF_UNIX))
        return WEFT_EINVAL;
    weft_sockaddr a;
    int rc;
    if (o.family == AF_UNIX) {
        rc = weft_sockaddr_unix(&a, host);
        return rc ? rc : listen_on(out, &a, false, &o);
    }
    if (!host || !*host) {
        /* The wildcard: IPv6 taking IPv4 too when the family is open,
         * else the family's own. */
        if (o.family != AF_INET) {
            weft_sockaddr_ip(&a, "::", port);
            rc = listen_on(out, &a, o.family == AF_INET6 && !o.dualstack_ipv6, &o);
            if (rc != -EAFNOSUPPORT || o.family == AF_INET6)
                return rc;
        }
        weft_sockaddr_ip(&a, NULL, port);
        return listen_on(out, &a, false, &o);
    }
    weft_addrinfo *list = NULL;
    rc = weft_getaddrinfo(host, port, o.family, SOCK_STREAM, AI_PASSIVE, &list, WEFT_FOREVER);
    if (rc)
        return rc;
    rc = listen_on(out, &list->addr, !o.dualstack_ipv6, &o);
    weft_addrinfo_free(list);
    return rc;
}
