/*
 * Names: getaddrinfo off the loop (connect.c builds create_connection and
 * create_server on it).
 *
 * getaddrinfo(3) blocks (DNS, /etc/hosts, NSS modules), so a lookup runs
 * on the default thread pool and the caller waits for its future: a
 * coroutine suspends, and its cancellation or timeout simply stops the
 * waiting. The lookup itself cannot be interrupted; it finishes in the
 * background and the last of (caller, lookup) to let go frees its result.
 * Numeric hosts are answered in the caller at once (AI_NUMERICHOST never
 * touches the network).
 */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "internal/clock.h"
#include "internal/error.h"
#include "weft/executor.h"
#include "weft/future.h"
#include "weft/net.h"

/* ------------------------------------------------------- getaddrinfo */

static int map_eai(int e)
{
    switch (e) {
    case 0:
        return 0;
    case EAI_NONAME:
#ifdef EAI_NODATA
    case EAI_NODATA:
#endif
#ifdef EAI_ADDRFAMILY
    case EAI_ADDRFAMILY:
#endif
        return WEFT_ENOENT;
    case EAI_AGAIN:
        return WEFT_EAGAIN;
    case EAI_MEMORY:
        return WEFT_ENOMEM;
    case EAI_SYSTEM:
        return errno ? weft__errno_code(errno) : WEFT_EIO;
    case EAI_FAMILY:
    case EAI_SOCKTYPE:
    case EAI_BADFLAGS:
    case EAI_SERVICE:
        return WEFT_EINVAL;
    default:
        return -EIO;
    }
}

void weft_addrinfo_free(weft_addrinfo *ai)
{
    while (ai) {
        weft_addrinfo *next = ai->next;
        free(ai->canonname);
        free(ai);
        ai = next;
    }
}

static int convert(const struct addrinfo *res, weft_addrinfo **out)
{
    weft_addrinfo *head = NULL, **tail = &head;
    for (const struct addrinfo *r = res; r; r = r->ai_next) {
        if (r->ai_addrlen > sizeof(struct sockaddr_storage))
            continue;
        weft_addrinfo *a = calloc(1, sizeof *a);
        if (!a || (r->ai_canonname && !(a->canonname = strdup(r->ai_canonname)))) {
            free(a);
            weft_addrinfo_free(head);
            return WEFT_ENOMEM;
        }
        a->family = r->ai_family;
        a->type = r->ai_socktype;
        a->protocol = r->ai_protocol;
        memcpy(&a->addr.ss, r->ai_addr, r->ai_addrlen);
        a->addr.len = r->ai_addrlen;
        *tail = a;
        tail = &a->next;
    }
    if (!head)
        return WEFT_ENOENT;
    *out = head;
    return 0;
}

typedef struct lookup {
    unsigned refs;            /* atomic: the caller and the future's callback */
    char *host;               /* NULL for the wildcard */
    char port[8];
    struct addrinfo hints;
    weft_addrinfo *result;
    int code;
} lookup;

static int resolve_now(const char *host, const char *port, const struct addrinfo *hints,
                       weft_addrinfo **out)
{
    struct addrinfo *res = NULL;
    errno = 0;
    int rc = map_eai(getaddrinfo(host, port, hints, &res));
    if (rc == 0) {
        rc = convert(res, out);
        freeaddrinfo(res);
    }
    return rc;
}

static void lookup_unref(lookup *l)
{
    if (__atomic_sub_fetch(&l->refs, 1, __ATOMIC_ACQ_REL))
        return;
    weft_addrinfo_free(l->result);
    free(l->host);
    free(l);
}

static int lookup_run(void *arg, void **result)
{
    lookup *l = arg;
    l->code = resolve_now(l->host, l->port, &l->hints, &l->result);
    return 0;
}

static int lookup_done(weft_future *f, void *arg)
{
    lookup_unref(arg);
    return 0;
}

int weft_getaddrinfo(const char *host, int port, int family, int type, int flags,
                     weft_addrinfo **out, double timeout)
{
    if (out)
        *out = NULL;
    if (!out || port < 0 || port > 65535 || weft__timeout_valid(timeout) ||
        (family != AF_UNSPEC && family != AF_INET && family != AF_INET6) ||
        (type != 0 && type != SOCK_STREAM && type != SOCK_DGRAM))
        return WEFT_EINVAL;
    if (!host && !(flags & AI_PASSIVE))
        return WEFT_EINVAL;
    struct addrinfo hints = {.ai_flags = flags, .ai_family = family, .ai_socktype = type};
    char portbuf[8];
    snprintf(portbuf, sizeof portbuf, "%d", port);

    /* Numeric hosts (and the wildcard) need no thread. */
    struct addrinfo numeric = hints;
    numeric.ai_flags |= AI_NUMERICHOST | AI_NUMERICSERV;
    int rc = resolve_now(host, portbuf, &numeric, out);
    if (rc != WEFT_ENOENT || (flags & AI_NUMERICHOST) || !host)
        return rc;

    lookup *l = calloc(1, sizeof *l);
    if (!l || !(l->host = strdup(host))) {
        free(l);
        return WEFT_ENOMEM;
    }
    l->refs = 2;
    memcpy(l->port, portbuf, sizeof portbuf);
    l->hints = hints;
    l->hints.ai_flags |= AI_NUMERICSERV;

    weft_future *f = NULL;
    rc = weft_executor_submit(weft_default_executor(), lookup_run, l, &f);
    if (rc) {
        l->refs = 1;
        lookup_unref(l);
        return rc;
    }
    if (weft_future_add_done_callback(f, lookup_done, l) != 0) {
        /* The callback could not be recorded: wait for the lookup here
         * (a pool thread is already on it or will be soon), then free. */
        weft_future_exception(f, WEFT_FOREVER);
        lookup_unref(l);
    }
    rc = weft_future_exception(f, timeout);
    if (rc == 0) {
        rc = l->code;
        if (rc == 0) {
            *out = l->result;
            l->result = NULL;
        }
    } else {
        /* Timed out or cancelled: a lookup not yet started never will
         * (its callback then frees it); one running finishes alone. */
        weft_future_cancel(f);
    }
    weft_future_unref(f);
    lookup_unref(l);
    return rc;
}
