/*
 * HTTP on the loop: libcurl's multi-socket interface wired to the loop's
 * fd watchers and timers.
 *
 * libcurl tells us which sockets to watch (CURLMOPT_SOCKETFUNCTION) and
 * when it next needs a call (CURLMOPT_TIMERFUNCTION). Each watched socket
 * gets a level-triggered loop watcher; its readiness and the timer both
 * call curl_multi_socket_action, after which finished transfers are
 * collected and their coroutines woken through a weft_event on their
 * stacks. A coroutine's cancellation removes its transfer from the multi
 * handle, which aborts it. At most max_connections transfers are in the
 * multi handle at once; the others wait for a slot on a semaphore (a
 * cancellation or a timeout there ends the fetch before it started).
 *
 * Outside a coroutine a fetch is curl_easy_perform in the calling thread.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "weft/http.h"

#if WEFT_HAVE_HTTP

#include <curl/curl.h>
#include <pthread.h>

#include "internal/clock.h"
#include "internal/error.h"
#include "internal/loop.h"
#include "weft/loop.h"
#include "weft/sync.h"

#define DEFAULT_MAX_CONNECTIONS 100
#define DEFAULT_TIMEOUT 300.0
#define DEFAULT_CONNECT_TIMEOUT 30.0
#define DEFAULT_MAX_REDIRECTS 10
#define DEFAULT_MAX_BODY (64u << 20)

struct weft_http_client {
    weft_loop *loop;            /* the loop its multi handle runs on, or NULL */
    CURLM *multi;
    /* The concurrency limit, kept here rather than by libcurl: a transfer
     * waits for a slot before it joins the multi handle. libcurl can queue
     * transfers itself, but removing one from a long queue costs a walk of
     * the queue, quadratic over a burst of fetches. */
    weft_semaphore slots;
    weft__loop_timer timer;
    unsigned inflight;
    double timeout, connect_timeout;
    long max_redirects;         /* -1: redirects are not followed */
    char *user_agent;
};

typedef struct watch {
    weft__loop_io io;
    weft_http_client *c;
} watch;

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_result;

static void init_curl(void)
{
    curl_init_result = curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* ---------------------------------------------------- the multi handle */

static void collect_done(weft_http_client *c);

static void on_io(weft__loop_io *io, unsigned events)
{
    watch *w = (watch *)io;
    weft_http_client *c = w->c;
    int mask = ((events & WEFT__IO_READ) ? CURL_CSELECT_IN : 0) |
               ((events & WEFT__IO_WRITE) ? CURL_CSELECT_OUT : 0);
    int running;
    /* May remove (and free) w through on_socket: not touched after. */
    curl_multi_socket_action(c->multi, io->fd, mask, &running);
    collect_done(c);
}

static int on_socket(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
    weft_http_client *c = userp;
    watch *w = socketp;
    if (what == CURL_POLL_REMOVE) {
        if (w) {
            weft__loop_io_close(c->loop, &w->io);
            curl_multi_assign(c->multi, s, NULL);
            free(w);
        }
        return 0;
    }
    if (!w) {
        w = calloc(1, sizeof *w);
        if (!w)
            return -1;
        w->io.fd = s;
        w->io.ready = on_io;
        w->c = c;
        curl_multi_assign(c->multi, s, w);
    }
    unsigned ev = (what & CURL_POLL_IN ? WEFT__IO_READ : 0) |
                  (what & CURL_POLL_OUT ? WEFT__IO_WRITE : 0);
    return weft__loop_io_set(c->loop, &w->io, ev) == 0 ? 0 : -1;
}

static void on_timer_fire(weft__loop_timer *t)
{
    weft_http_client *c = (weft_http_client *)((char *)t - offsetof(weft_http_client, timer));
    int running;
    curl_multi_socket_action(c->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    collect_done(c);
}

static int on_timer(CURLM *multi, long timeout_ms, void *userp)
{
    weft_http_client *c = userp;
    if (timeout_ms < 0) {
        weft__loop_timer_stop(c->loop, &c->timer);
        return 0;
    }
    return weft__loop_timer_start(c->loop, &c->timer, weft__now_ns() + timeout_ms * 1000000) == 0
               ? 0
               : -1;
}

/* ------------------------------------------------------------ a fetch */

typedef struct fetch {
    CURL *easy;
    struct curl_slist *headers_out;
    char *body;
    size_t len, cap, max;
    bool too_big;
    weft_http_header *h;
    size_t nh, hcap;
    CURLcode result;
    bool done;
    weft_event done_ev;
    char errbuf[CURL_ERROR_SIZE];
} fetch;

static void collect_done(weft_http_client *c)
{
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(c->multi, &left))) {
        if (m->msg != CURLMSG_DONE)
            continue;
        CURL *e = m->easy_handle;
        CURLcode result = m->data.result; /* m is invalid after the removal */
        fetch *f = NULL;
        curl_easy_getinfo(e, CURLINFO_PRIVATE, (char **)&f);
        curl_multi_remove_handle(c->multi, e);
        c->inflight--;
        f->result = result;
        f->done = true;
        weft_event_set(&f->done_ev);
    }
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *arg)
{
    fetch *f = arg;
    size_t n = size * nmemb;
    if (n > f->max - f->len) {
        f->too_big = true;
        return 0; /* aborts the transfer: CURLE_WRITE_ERROR */
    }
    if (f->len + n + 1 > f->cap) {
        size_t cap = f->cap ? f->cap : 4096;
        while (cap < f->len + n + 1)
            cap *= 2;
        char *b = realloc(f->body, cap);
        if (!b)
            return 0;
        f->body = b;
        f->cap = cap;
    }
    memcpy(f->body + f->len, data, n);
    f->len += n;
    return n;
}

static void clear_headers(fetch *f)
{
    for (size_t i = 0; i < f->nh; i++) {
        free(f->h[i].name);
        free(f->h[i].value);
    }
    f->nh = 0;
}

/* One header line; a status line starts a new response (after a redirect
 * or a 100 Continue), whose headers replace the ones kept so far. */
static size_t on_header(char *data, size_t size, size_t nmemb, void *arg)
{
    fetch *f = arg;
    size_t n = size * nmemb;
    if (n >= 5 && memcmp(data, "HTTP/", 5) == 0) {
        clear_headers(f);
        return n;
    }
    char *colon = memchr(data, ':', n);
    if (!colon)
        return n;
    size_t nlen = (size_t)(colon - data);
    const char *v = colon + 1, *end = data + n;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' '))
        end--;
    if (f->nh == f->hcap) {
        size_t cap = f->hcap ? f->hcap * 2 : 16;
        weft_http_header *h = realloc(f->h, cap * sizeof *h);
        if (!h)
            return 0;
        f->h = h;
        f->hcap = cap;
    }
    char *name = strndup(data, nlen), *value = strndup(v, (size_t)(end - v));
    if (!name || !value) {
        free(name);
        free(value);
        return 0;
    }
    f->h[f->nh++] = (weft_http_header){name, value};
    return n;
}

/* Whether the request went out: a failure after that is in the answer. */
static bool request_sent(const fetch *f)
{
    long sent = 0;
    return curl_easy_getinfo(f->easy, CURLINFO_REQUEST_SIZE, &sent) == CURLE_OK && sent > 0;
}

/* A failure once the request is out: the connection's (the errno a
 * failed read or write left), or else the answer's. */
static int peer_failure(const fetch *f)
{
    long err = 0;
    curl_easy_getinfo(f->easy, CURLINFO_OS_ERRNO, &err);
    return err > 0 ? weft__errno_code((int)err) : WEFT_EPROTO;
}

/*
 * libcurl's result as a weft code. What the server sent that breaks HTTP
 * is WEFT_EPROTO, never a code that blames the caller: libcurl reads an
 * answer that is not HTTP as HTTP/0.9 ("unsupported protocol"), a header
 * with a stray CR as "bad argument", a short body as "partial file", and
 * so on; once the request is out, every failure without an errno is the
 * answer's. A header larger than libcurl's limit is WEFT_EMSGSIZE
 * (libcurl 7.x says "out of memory" there, 8.6 and later "too large").
 */
static int map_curl(const fetch *f, CURLcode r)
{
    switch (r) {
    case CURLE_OK:
        return 0;
    case CURLE_OPERATION_TIMEDOUT:
        return WEFT_ETIMEDOUT;
    case CURLE_COULDNT_CONNECT:
        return -ECONNREFUSED;
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
        return WEFT_ENOENT;
    case CURLE_WRITE_ERROR:
        return f->too_big ? WEFT_EMSGSIZE : WEFT_ENOMEM;
    case CURLE_TOO_MANY_REDIRECTS:
        return -ELOOP;
    case CURLE_OUT_OF_MEMORY:
        /* Once the request is out, this is the answer's size: libcurl
         * refuses a header line past its limit with this code. */
        return request_sent(f) ? WEFT_EMSGSIZE : WEFT_ENOMEM;
#if LIBCURL_VERSION_NUM >= 0x080600
    case CURLE_TOO_LARGE:
        return WEFT_EMSGSIZE;
#endif
    case CURLE_URL_MALFORMAT:
        return WEFT_EINVAL;
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_BAD_FUNCTION_ARGUMENT:
        return request_sent(f) ? WEFT_EPROTO : WEFT_EINVAL;
    default:
        return request_sent(f) ? peer_failure(f) : -EIO;
    }
}

static long ms_of(double seconds)
{
    return seconds >= 9e6 ? 0 : (long)(seconds * 1000 + 0.5);
}

static int setup(weft_http_client *c, fetch *f, const char *url, const weft_http_request *r,
                 double timeout)
{
    CURL *e = f->easy;
    double ctimeout = r->connect_timeout > 0 ? r->connect_timeout : c->connect_timeout;
    bool follow = r->follow_redirects > 0 || (r->follow_redirects == 0 && c->max_redirects >= 0);
    long maxr = c->max_redirects >= 0 ? c->max_redirects : DEFAULT_MAX_REDIRECTS;
    bool ok = curl_easy_setopt(e, CURLOPT_URL, url) == CURLE_OK;
    curl_easy_setopt(e, CURLOPT_PRIVATE, (char *)f);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, f);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, f);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, f->errbuf);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, ms_of(timeout));
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, ms_of(ctimeout));
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, follow ? 1L : 0L);
    curl_easy_setopt(e, CURLOPT_MAXREDIRS, maxr);
    curl_easy_setopt(e, CURLOPT_USERAGENT, c->user_agent);
    if (r->body) {
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->body_len);
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, r->body);
    }
    if (r->method && strcmp(r->method, r->body ? "POST" : "GET") != 0)
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, r->method);
    for (const char *const *h = r->headers; h && *h && ok; h++) {
        struct curl_slist *l = curl_slist_append(f->headers_out, *h);
        if (!l)
            return WEFT_ENOMEM;
        f->headers_out = l;
    }
    if (f->headers_out)
        curl_easy_setopt(e, CURLOPT_HTTPHEADER, f->headers_out);
    return ok ? 0 : WEFT_EINVAL;
}

static int make_response(fetch *f, weft_http_response **out)
{
    weft_http_response *r = calloc(1, sizeof *r);
    char *url = NULL;
    curl_easy_getinfo(f->easy, CURLINFO_EFFECTIVE_URL, &url);
    if (!r || !(r->url = strdup(url ? url : "")) ||
        (!f->body && !(f->body = malloc(1)))) {
        if (r)
            free(r->url);
        free(r);
        return WEFT_ENOMEM;
    }
    curl_easy_getinfo(f->easy, CURLINFO_RESPONSE_CODE, &r->status);
    f->body[f->len] = 0;
    r->body = f->body;
    r->body_len = f->len;
    r->headers = f->h;
    r->nheaders = f->nh;
    f->body = NULL;
    f->h = NULL;
    f->nh = f->hcap = 0;
    *out = r;
    return 0;
}

static void fetch_cleanup(fetch *f)
{
    if (f->easy)
        curl_easy_cleanup(f->easy);
    curl_slist_free_all(f->headers_out);
    free(f->body);
    clear_headers(f);
    free(f->h);
}

int weft_http_fetch(weft_http_client *c, const char *url, const weft_http_request *req,
                    weft_http_response **out, double timeout)
{
    if (out)
        *out = NULL;
    weft_http_request r = req ? *req : (weft_http_request){0};
    weft__set_last_message(NULL);
    if (!c || !url || !out || weft__timeout_valid(timeout) || r.connect_timeout < 0 ||
        r.connect_timeout != r.connect_timeout ||
        (r.body_len && !r.body) || r.follow_redirects < -1 || r.follow_redirects > 1)
        return WEFT_EINVAL;
    bool in_loop = weft_in_coroutine();
    if (in_loop && c->loop != weft_get_running_loop())
        return WEFT_ESTATE;
    /* The total timeout covers the wait for a slot too, as aiohttp's does
     * the wait for a connection. */
    int64_t deadline = weft__deadline(c->timeout), mine = weft__deadline(timeout);
    if (mine < deadline)
        deadline = mine;
    if (in_loop) {
        int rc = weft_semaphore_acquire(&c->slots, weft__remaining(deadline));
        if (rc) {
            weft__set_last_message(weft_strerror(rc));
            return rc;
        }
    }
    fetch f = {.max = r.max_body ? r.max_body : DEFAULT_MAX_BODY};
    int rc = (f.easy = curl_easy_init()) ? 0 : WEFT_ENOMEM;
    weft_event_init(&f.done_ev);
    if (!rc) {
        /* What is left of the total, at least a millisecond (0 would mean
         * no timeout to libcurl). */
        double left = weft__remaining(deadline);
        rc = setup(c, &f, url, &r, left < 0 ? 1e10 : left < 0.001 ? 0.001 : left);
    }
    if (!rc && in_loop) {
        if (curl_multi_add_handle(c->multi, f.easy) != CURLM_OK) {
            rc = WEFT_ENOMEM;
        } else {
            c->inflight++;
            rc = weft_event_wait(&f.done_ev, WEFT_FOREVER);
            if (rc && !f.done) {
                /* Cancelled: taking the transfer out of the multi handle
                 * aborts it (and closes its connection). */
                curl_multi_remove_handle(c->multi, f.easy);
                c->inflight--;
            }
            if (!rc)
                rc = map_curl(&f, f.result);
        }
    } else if (!rc) {
        rc = map_curl(&f, curl_easy_perform(f.easy));
    }
    if (in_loop)
        weft_semaphore_release(&c->slots);
    if (!rc)
        rc = make_response(&f, out);
    else
        weft__set_last_message(f.errbuf[0]                ? f.errbuf
                               : rc == WEFT_ECANCELLED ? "cancelled"
                               : f.too_big             ? "response body over max_body"
                                                       : weft_strerror(rc));
    fetch_cleanup(&f);
    return rc;
}

/* ----------------------------------------------------------- clients */

int weft_http_client_new(weft_http_client **out, const weft_http_client_opts *opts)
{
    if (out)
        *out = NULL;
    weft_http_client_opts o = opts ? *opts : (weft_http_client_opts){0};
    if (!out || o.max_connections < 0 || o.timeout < 0 || o.connect_timeout < 0 ||
        o.timeout != o.timeout || o.connect_timeout != o.connect_timeout || o.max_redirects < -1)
        return WEFT_EINVAL;
    pthread_once(&curl_once, init_curl);
    if (curl_init_result != CURLE_OK)
        return WEFT_ENOMEM;
    weft_http_client *c = calloc(1, sizeof *c);
    if (!c)
        return WEFT_ENOMEM;
    char ua[64];
    snprintf(ua, sizeof ua, "weft/%s", WEFT_VERSION_STRING);
    c->user_agent = strdup(o.user_agent ? o.user_agent : ua);
    c->multi = curl_multi_init();
    if (!c->user_agent || !c->multi) {
        if (c->multi)
            curl_multi_cleanup(c->multi);
        free(c->user_agent);
        free(c);
        return WEFT_ENOMEM;
    }
    c->timeout = o.timeout > 0 ? o.timeout : DEFAULT_TIMEOUT;
    c->connect_timeout = o.connect_timeout > 0 ? o.connect_timeout : DEFAULT_CONNECT_TIMEOUT;
    c->max_redirects = o.max_redirects ? o.max_redirects : DEFAULT_MAX_REDIRECTS;
    c->loop = weft_get_running_loop();
    c->timer = (weft__loop_timer)WEFT__TIMER_INIT(on_timer_fire);
    long maxc = o.max_connections ? o.max_connections : DEFAULT_MAX_CONNECTIONS;
    weft_semaphore_init(&c->slots, (unsigned)maxc);
    curl_multi_setopt(c->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, maxc);
    curl_multi_setopt(c->multi, CURLMOPT_MAXCONNECTS, maxc);
    if (c->loop) {
        curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
        curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c);
        curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, on_timer);
        curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c);
    }
    *out = c;
    return 0;
}

void weft_http_client_free(weft_http_client *c)
{
    if (!c)
        return;
    if (c->inflight) {
        weft_report_error("weft_http_client_free", WEFT_ESTATE,
                          "fetches are in flight; not freed");
        return;
    }
    /* Closing the cached connections calls on_socket(REMOVE) for each. */
    curl_multi_cleanup(c->multi);
    if (weft__loop_timer_pending(&c->timer))
        weft__loop_timer_stop(c->loop, &c->timer);
    weft_semaphore_destroy(&c->slots);
    free(c->user_agent);
    free(c);
}

#else /* !WEFT_HAVE_HTTP */

int weft_http_client_new(weft_http_client **out, const weft_http_client_opts *opts)
{
    if (out)
        *out = NULL;
    return WEFT_ENOTSUP;
}

void weft_http_client_free(weft_http_client *c)
{
    (void)c; /* none can exist: weft_http_client_new refuses */
}

int weft_http_fetch(weft_http_client *c, const char *url, const weft_http_request *req,
                    weft_http_response **out, double timeout)
{
    if (out)
        *out = NULL;
    return WEFT_ENOTSUP;
}

#endif

const char *weft_http_response_header(const weft_http_response *r, const char *name)
{
    if (!r || !name)
        return NULL;
    for (size_t i = 0; i < r->nheaders; i++)
        if (strcasecmp(r->headers[i].name, name) == 0)
            return r->headers[i].value;
    return NULL;
}

void weft_http_response_free(weft_http_response *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->nheaders; i++) {
        free(r->headers[i].name);
        free(r->headers[i].value);
    }
    free(r->headers);
    free(r->body);
    free(r->url);
    free(r);
}
