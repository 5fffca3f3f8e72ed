/**
 * fetching URLs on the event loop: Python's async web scraping of many URLs
 * (asyncio with aiohttp), in C.
 *
 * An HTTP(S) client built on libcurl's multi-socket interface: libcurl's
 * sockets are watched by the loop and its timeouts are loop timers, so
 * hundreds of transfers run at once in the loop's one thread, each awaited
 * by its own coroutine. A client allows at most `max_connections`
 * transfers at once from its coroutines; the others wait their turn, in
 * order, inside the client (the concurrency limit).
 *
 * Called outside a coroutine, weft_http_fetch runs the transfer in the
 * calling thread (curl_easy_perform), with the same options and timeouts.
 *
 * Feature flag: weft/config.h says WEFT_HAVE_HTTP 1 when weft was built
 * with libcurl. Without it these functions exist and return WEFT_ENOTSUP.
 *
 * Python (aiohttp) to weft:
 *
 *     async with ClientSession(connector=TCPConnector(limit=20)) as s:
 *                                     weft_http_client_new(&c, &(weft_http_client_opts){.max_connections = 20})
 *     async with s.get(url) as r: body = await r.read()
 *                                     weft_http_fetch(c, url, NULL, &r, WEFT_FOREVER); r->body, r->body_len
 *     s.post(url, data=b)             weft_http_fetch(c, url, &(weft_http_request){.method = "POST", .body = b, .body_len = n}, &r, WEFT_FOREVER)
 *     r.status / r.headers["X"] / r.url
 *                                     r->status / weft_http_response_header(r, "X") / r->url
 *     ClientTimeout(total=t, connect=c)   the fetch's timeout / request.connect_timeout
 *     allow_redirects, max_redirects  request.follow_redirects, the client's opts.max_redirects
 *     asyncio.gather(*(fetch(u) for u in urls))   a task per URL, weft_gather
 *     aiohttp.ClientError             a negative code (below), its text from weft_last_message()
 *
 * @file
 */
#ifndef WEFT_HTTP_H
#define WEFT_HTTP_H

#include "weft/common.h"
#include "weft/config.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct weft_http_client weft_http_client;

/** Client options; all-zero (or NULL) means the defaults. */
typedef struct weft_http_client_opts {
    long max_connections;     /**< open at once, all hosts (0: 100) */
    double timeout;           /**< a bound on every fetch's total time (0: 300 s) */
    double connect_timeout;   /**< default connect timeout (0: 30 s) */
    long max_redirects;       /**< default redirect limit (0: 10; -1: none followed) */
    const char *user_agent;   /**< copied (NULL: "weft/<version>") */
} weft_http_client_opts;

/** A new client for the running loop (its coroutines fetch with it), or
 *  for plain threads when no loop runs on this thread. */
WEFT_API int weft_http_client_new(weft_http_client **out, const weft_http_client_opts *opts);
/** Free a client with no fetch in flight (one with fetches in flight is
 *  reported through weft_report_error and left as it is). NULL is
 *  allowed. */
WEFT_API void weft_http_client_free(weft_http_client *c);

/** One request; all-zero (or NULL) is a GET with the client's defaults. */
typedef struct weft_http_request {
    const char *method;          /**< NULL: "GET" ("POST" with a body) */
    const char *const *headers;  /**< NULL-terminated "Name: value" lines, or NULL */
    const void *body;            /**< request body (copied by nobody: keep it alive) */
    size_t body_len;
    double connect_timeout;      /**< seconds (0: the client's) */
    int follow_redirects;        /**< 0: the client's default (follow), 1 follow, -1 not */
    size_t max_body;             /**< larger responses fail with WEFT_EMSGSIZE (0: 64 MiB) */
} weft_http_request;

typedef struct weft_http_header {
    char *name, *value;
} weft_http_header;

/** A response: the last one after redirects. */
typedef struct weft_http_response {
    long status;                 /**< 200, 404, ... (a 404 is a response, not an error) */
    char *url;                   /**< the effective URL */
    char *body;                  /**< body_len bytes, NUL-terminated for convenience */
    size_t body_len;
    weft_http_header *headers;   /**< in the order received */
    size_t nheaders;
} weft_http_response;

/** Fetch url, within `timeout` (the total, the wait for a connection slot
 *  included, as aiohttp's) and the client's timeout, whichever ends first.
 *  In a coroutine this suspends only the coroutine (the
 *  client's loop must be the running loop: WEFT_ESTATE otherwise); its
 *  cancellation aborts the transfer (WEFT_ECANCELLED). 0 and a response
 *  to free with weft_http_response_free, or: WEFT_ETIMEDOUT, WEFT_ECONNREFUSED
 *  (could not connect), WEFT_ENOENT (host name not found), WEFT_EMSGSIZE
 *  (body over max_body, or a header line over libcurl's limit), WEFT_ELOOP
 *  (too many redirects), WEFT_EPROTO (the server broke HTTP: an answer
 *  that is not HTTP, malformed, cut short, or none at all), a negated
 *  errno such as WEFT_ECONNRESET (the connection failed once the request was
 *  out), WEFT_ENOMEM, WEFT_EINVAL (bad URL or input), WEFT_EIO (any other
 *  failure before the request went out), with the failure's text (libcurl's)
 *  in weft_last_message(),
 *  WEFT_ENOTSUP (built without libcurl). */
WEFT_API int weft_http_fetch(weft_http_client *c, const char *url, const weft_http_request *req,
                             weft_http_response **out, double timeout);

/** The first header of that name (any case), or NULL. */
WEFT_API const char *weft_http_response_header(const weft_http_response *r, const char *name);
WEFT_API void weft_http_response_free(weft_http_response *r);

#ifdef __cplusplus
}
#endif

#endif
