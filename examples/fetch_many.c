/*
 * fetch_many.c - "Web scraping (many URLs): async + aiohttp" (seed 003's
 * table) and "executor.map(download, urls)" (seed 002), against a local
 * HTTP server this program starts itself, so that it runs offline:
 *
 *   async def fetch(session, url):
 *       async with session.get(url) as r:
 *           return await r.text()
 *
 *   async def main(urls):
 *       async with aiohttp.ClientSession(
 *               connector=aiohttp.TCPConnector(limit=20)) as session:
 *           pages = await asyncio.gather(*(fetch(session, u) for u in urls))
 *
 *   with ThreadPoolExecutor(20) as executor:
 *       results = list(executor.map(download, urls))
 *
 * The coroutine way runs 200 fetches in one thread: weft/http.h puts
 * libcurl's sockets on the loop, and the client's 20-connection limit
 * queues the rest. The thread-pool way runs the same fetch in 20 threads
 * (outside a coroutine a fetch blocks its thread). Each server answer
 * takes 10 ms, so either way is about ten times faster than one at a time.
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "check.h"

#define N 200
#define LIMIT 20
#define SERVICE 0.010 /* the server's time per request */

/* ------------------------------------------------ the local server */

static int port;
static weft_event ready, stop;
/* Requests the server holds at once (its loop thread's alone), and the
 * most it has held, which the main thread reads and resets between the two
 * ways (an atomic: nothing else orders the two threads). */
static int in_hand, most_in_hand;

static int handle(weft_stream *st, void *arg)
{
    char head[2048];
    size_t n;
    int rc;
    while ((rc = weft_stream_readuntil(st, "\r\n\r\n", 4, head, sizeof head - 1, &n, 30)) == 0) {
        head[n] = 0;
        int page = 0;
        sscanf(head, "GET /page/%d", &page);
        if (++in_hand > __atomic_load_n(&most_in_hand, __ATOMIC_RELAXED))
            __atomic_store_n(&most_in_hand, in_hand, __ATOMIC_RELAXED);
        weft_sleep(SERVICE);
        in_hand--;
        char resp[160];
        char body[32];
        int blen = snprintf(body, sizeof body, "page %d", page);
        int len = snprintf(resp, sizeof resp, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s",
                           blen, body);
        if ((rc = weft_stream_write(st, resp, (size_t)len)) != 0)
            break;
    }
    return rc == WEFT_EEOF ? 0 : rc;
}

static int serve(void *arg, void **result)
{
    weft_server *srv;
    CHECK(weft_server_start(&srv, handle, NULL, "127.0.0.1", 0, NULL));
    weft_socket *ls;
    size_t n;
    CHECK(weft_server_sockets(srv, &ls, 1, &n));
    weft_sockaddr a;
    CHECK(weft_socket_getsockname(ls, &a));
    port = weft_sockaddr_port(&a);
    CHECK(weft_event_set(&ready));
    CHECK(weft_event_wait(&stop, WEFT_FOREVER));
    weft_server_free(srv);
    return 0;
}

static void *server_thread(void *arg)
{
    return (void *)(intptr_t)weft_run(serve, NULL, NULL);
}

/* -------------------------------------------------- the coroutines */

typedef struct page {
    weft_http_client *client;
    char url[64];
    int ok;
} page;

static int fetch(void *arg, void **result)
{
    page *p = arg;
    weft_http_response *r;
    int rc = weft_http_fetch(p->client, p->url, NULL, &r, WEFT_FOREVER); /* session.get(url) */
    if (rc)
        return rc;
    p->ok = r->status == 200 && strncmp(r->body, "page ", 5) == 0;
    weft_http_response_free(r);
    return 0;
}

static page pages[N];

static int async_main(void *arg, void **result)
{
    weft_http_client *client;
    CHECK(weft_http_client_new(&client, &(weft_http_client_opts){.max_connections = LIMIT}));
    weft_future *f[N], *all;
    for (int i = 0; i < N; i++) {
        pages[i].client = client;
        CHECK(weft_create_task(NULL, fetch, &pages[i], NULL, &f[i]));
    }
    CHECK(weft_gather(f, N, false, &all)); /* asyncio.gather(...) */
    CHECK(weft_await(all, NULL, WEFT_FOREVER));
    weft_future_unref(all);
    for (int i = 0; i < N; i++)
        weft_future_unref(f[i]);
    weft_http_client_free(client);
    return 0;
}

/* ------------------------------------------------- the thread pool */

static weft_http_client *thread_client;

static int download(void *arg, void **result)
{
    page *p = arg;
    p->client = thread_client;
    return fetch(p, result);
}

static int count_ok(void)
{
    int ok = 0;
    for (int i = 0; i < N; i++) {
        ok += pages[i].ok;
        pages[i].ok = 0;
    }
    return ok;
}

int main(void)
{
    if (!WEFT_HAVE_HTTP) {
        printf("weft was built without libcurl: weft/http.h is off\n");
        return 0;
    }
    CHECK(weft_event_init(&ready));
    CHECK(weft_event_init(&stop));
    weft_thread *server;
    CHECK(weft_thread_new(&server, server_thread, NULL, NULL));
    CHECK(weft_thread_start(server));
    CHECK(weft_event_wait(&ready, 10));
    for (int i = 0; i < N; i++)
        snprintf(pages[i].url, sizeof pages[i].url, "http://127.0.0.1:%d/page/%d", port, i);

    double t0 = weft_monotonic();
    CHECK(weft_run(async_main, NULL, NULL));
    double coro = weft_monotonic() - t0;
    printf("coroutines: %d of %d pages fetched, %d at a time\n", count_ok(), N, LIMIT);
    int coro_most = __atomic_exchange_n(&most_in_hand, 0, __ATOMIC_RELAXED);

    CHECK(weft_http_client_new(&thread_client, NULL));
    weft_executor *ex;
    CHECK(weft_thread_pool_new(&ex, &(weft_thread_pool_opts){.max_workers = LIMIT}));
    void *args[N], *results[N];
    for (int i = 0; i < N; i++)
        args[i] = &pages[i];
    t0 = weft_monotonic();
    CHECK(weft_executor_map(ex, download, args, results, N, 1, 60)); /* executor.map */
    double threads = weft_monotonic() - t0;
    int threads_most = __atomic_load_n(&most_in_hand, __ATOMIC_RELAXED);
    printf("thread pool: %d of %d pages fetched by %d threads\n", count_ok(), N, LIMIT);
    weft_executor_free(ex);
    weft_http_client_free(thread_client);

    /* Faster means both ways had requests served at the same time: the
     * server's 10 ms waits overlapped. The wall times are printed, not
     * judged: under a sanitizer, on a busy machine, each fetch costs more
     * than its service time, and a thread pool's 200 fetches took longer
     * than 2 s there once although 20 ran at a time. */
    double serial = N * SERVICE;
    bool faster = coro_most > 1 && threads_most > 1;
    printf("one at a time would take at least %.1f s; concurrency made it %s\n", serial,
           faster ? "faster" : "no faster (a busy machine?)");
    printf("(coroutines %.3f s, thread pool %.3f s; the server held up to %d and %d requests "
           "at once)\n",
           coro, threads, coro_most, threads_most);

    CHECK(weft_event_set(&stop));
    CHECK(weft_thread_join(server, WEFT_FOREVER));
    weft_thread_unref(server);
    return 0;
}

/* Output:
 * expect: ^coroutines: 200 of 200 pages fetched, 20 at a time$
 * expect: ^thread pool: 200 of 200 pages fetched by 20 threads$
 * expect: ^one at a time would take at least 2.0 s; concurrency made it faster$
 */
