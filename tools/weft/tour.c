/*
 * The tour's scenarios and models.
 *
 * Every scenario is a list of items, and every item is the same function
 * (run_item) with a small plain struct as its argument, passed as
 * weft_bytes so that it crosses to a worker process unchanged. The four
 * models only differ in how they run the list:
 *
 *   serial      one item after the other in this thread
 *   threads     weft's thread pool, weft_executor_map
 *   processes   weft's process pool (fork), weft_process_pool_map
 *   coroutines  a task per item on one loop (weft_run); CPU work and file
 *               reads leave the loop through weft_to_thread
 *
 * Waits are weft_sleep and requests weft_http_fetch (or weft's sockets),
 * which suspend a coroutine and block a thread: one item function serves
 * every model.
 *
 * The pools are sized as the guide teaches (section 8): for work that
 * waits, one worker per item in flight (the concurrency of the work), so
 * every wait overlaps as it does for the coroutines; for work that does
 * not wait, one worker per core, since more only add switching. Both
 * pools get the same size, so that a scenario compares the models, not
 * their sizes.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <weft.h>

#include "tour.h"

const char *const model_names[NMODELS] = {"serial", "threads", "processes", "coroutines"};

enum { SC_SLEEP, SC_HTTP, SC_FILES, SC_SUM, SC_HASH, SC_MIXED, NSCENARIOS };


/* Runs of each model in each scenario: enough for a median and a spread.
 * The quick sizes are short, and noisier, so they take more runs. */
#define FULL_RUNS 3
#define QUICK_RUNS 5
_Static_assert(QUICK_RUNS <= TOUR_MAX_RUNS && FULL_RUNS <= TOUR_MAX_RUNS, "runs fit");

/* What one item does; plain data, copied to worker processes. */
typedef struct item {
    int scenario;
    int index;
    int port;          /* SC_HTTP */
    double wait;       /* seconds: SC_SLEEP, SC_MIXED */
    uint64_t work;     /* terms to sum (SC_SUM, SC_MIXED), bytes to hash (SC_HASH) */
    char dir[64];      /* SC_FILES */
} item;

/* The sizes of one tour: the full one, or --quick. */
typedef struct sizes {
    int sleep_items;
    double sleep_wait;
    int http_items;
    double http_delay;
    int files;
    int sum_items;
    uint64_t sum_terms;
    int hash_chunks;
    uint64_t hash_chunk;
    int mixed_items;
    uint64_t mixed_terms;
    double mixed_wait;
} sizes;

static const sizes full = {100, 0.100, 200, 0.005, 200, 4, 10000000, 16, 4u << 20,
                           40, 1000000, 0.020};
static const sizes quick_sizes = {20, 0.020, 40, 0.002, 50, 4, 1000000, 8, 512u << 10,
                                  8, 100000, 0.005};

/* ----------------------------------------------------------- the work */

/* Summing terms that a compiler cannot fold: a xorshift sequence. */
static uint64_t sum_terms(uint64_t n, uint64_t seed)
{
    uint64_t total = 0, x = seed | 1;
    for (uint64_t i = 0; i < n; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        total += x & 0xff;
    }
    return total;
}

/* FNV-1a over a chunk that is generated first (the same bytes in every
 * model and every process). */
static uint64_t hash_chunk(uint64_t bytes, uint64_t seed)
{
    unsigned char *buf = malloc(bytes);
    if (!buf)
        return 0;
    uint64_t x = seed | 1;
    for (uint64_t i = 0; i < bytes; i += 8) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        memcpy(buf + i, &x, bytes - i < 8 ? bytes - i : 8);
    }
    uint64_t h = 1469598103934665603ull;
    for (uint64_t i = 0; i < bytes; i++)
        h = (h ^ buf[i]) * 1099511628211ull;
    free(buf);
    return h;
}

static uint64_t read_file(const char *dir, int index)
{
    char path[128];
    snprintf(path, sizeof path, "%s/%d.txt", dir, index);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    char buf[4096];
    uint64_t sum = 0;
    ssize_t r;
    while ((r = read(fd, buf, sizeof buf)) > 0)
        for (ssize_t i = 0; i < r; i++)
            sum += (unsigned char)buf[i];
    close(fd);
    return sum;
}

/* The HTTP scenario's client. Where weft was built with HTTP
 * (WEFT_HAVE_HTTP) it is weft's own (weft/http.h), the client a user of
 * weft fetches with: http_plain, made before the scenarios on the tour's
 * thread where no loop runs, serves serial, the pool's threads (outside a
 * loop a fetch only reads its client) and the process pool's workers
 * (forked: each has its copy); http_loop is made by the coroutines' loop
 * for its run, since a client's coroutines must run on its loop. Without
 * HTTP an item sends its GET over weft's sockets, by hand, and the
 * scenario's title says so. */
#define HTTP_BODY "Hello, world!" /* what the tour's server answers */

#if WEFT_HAVE_HTTP
#define HTTP_CLIENT "weft's HTTP client"
static weft_http_client *http_plain, *http_loop;

/* The body's length when the server answered 200, else 0. */
static int http_get(int port, int index, uint64_t *bytes)
{
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/%d", port, index);
    weft_http_response *r;
    int rc = weft_http_fetch(weft_in_coroutine() ? http_loop : http_plain, url, NULL, &r, 10);
    if (rc)
        return rc;
    *bytes = r->status == 200 ? r->body_len : 0;
    weft_http_response_free(r);
    return 0;
}
#else
#define HTTP_CLIENT "a GET by hand over weft's sockets (this weft was built without HTTP)"
/* One GET over a new connection (HTTP/1.0: the server closes after its
 * answer). Returns the bytes received, the head's and the body's. */
static int http_get(int port, int index, uint64_t *bytes)
{
    weft_socket *s;
    int rc = weft_create_connection(&s, "127.0.0.1", port, 10);
    if (rc)
        return rc;
    char req[64];
    int len = snprintf(req, sizeof req, "GET /%d HTTP/1.0\r\n\r\n", index);
    rc = weft_socket_sendall(s, req, (size_t)len, NULL, 10);
    char buf[512];
    size_t n;
    *bytes = 0;
    while (!rc && (rc = weft_socket_recv(s, buf, sizeof buf, &n, 10)) == 0 && n)
        *bytes += n;
    weft_socket_free(s);
    return rc;
}
#endif

/* The CPU (or blocking) part of an item, shaped as a task so that a
 * coroutine can hand it to a thread. */
static int cpu_part(void *arg, void **result)
{
    const item *it = arg;
    uint64_t v = 0;
    switch (it->scenario) {
    case SC_SUM:
    case SC_MIXED:
        v = sum_terms(it->work, (uint64_t)it->index + 1);
        break;
    case SC_HASH:
        v = hash_chunk(it->work, (uint64_t)it->index + 1);
        break;
    case SC_FILES:
        v = read_file(it->dir, it->index);
        break;
    }
    *(uint64_t *)result = v;
    return 0;
}

/* In a coroutine the CPU part leaves the loop (asyncio.to_thread); in a
 * thread or a process it runs where it is. */
static int run_cpu(const item *it, uint64_t *v)
{
    void *r = NULL;
    int rc = weft_in_coroutine() ? weft_to_thread(cpu_part, (void *)it, &r) : cpu_part((void *)it, &r);
    *v = (uint64_t)(uintptr_t)r;
    return rc;
}

/* The item function of every model: arg is a weft_bytes holding an item,
 * the result a weft_bytes holding a uint64_t. */
static int run_item(void *arg, void **result)
{
    const weft_bytes *b = arg;
    if (!b || b->len != sizeof(item))
        return WEFT_EINVAL;
    item it;
    memcpy(&it, b->data, sizeof it);
    uint64_t v = 0;
    int rc = 0;
    switch (it.scenario) {
    case SC_SLEEP:
        rc = weft_sleep(it.wait);
        v = 1;
        break;
    case SC_HTTP:
        rc = http_get(it.port, it.index, &v);
        break;
    case SC_MIXED:
        rc = run_cpu(&it, &v);
        if (!rc)
            rc = weft_sleep(it.wait);
        break;
    default:
        rc = run_cpu(&it, &v);
        break;
    }
    if (rc)
        return rc;
    weft_bytes *out;
    rc = weft_bytes_new(&out, &v, sizeof v);
    if (!rc)
        *result = out;
    return rc;
}

/* ------------------------------------------------------ the models */

static int run_serial(weft_bytes **args, void **results, int n, int workers)
{
    (void)workers;
    for (int i = 0; i < n; i++) {
        int rc = run_item(args[i], &results[i]);
        if (rc)
            return rc;
    }
    return 0;
}

static int run_threads(weft_bytes **args, void **results, int n, int workers)
{
    weft_executor *ex;
    int rc = weft_thread_pool_new(&ex, &(weft_thread_pool_opts){.max_workers = (size_t)workers});
    if (rc)
        return rc;
    rc = weft_executor_map(ex, run_item, (void *const *)args, results, (size_t)n, 1, WEFT_FOREVER);
    weft_executor_free(ex);
    return rc;
}

static int run_processes(weft_bytes **args, void **results, int n, int workers)
{
    /* fork, so that the workers are this process's children and their
     * CPU time shows in RUSAGE_CHILDREN once the pool is gone. */
    weft_process_pool_opts o = {.max_workers = (size_t)workers, .start_method = WEFT_START_FORK};
    weft_executor *ex;
    int rc = weft_process_pool_new(&ex, &o);
    if (rc)
        return rc;
    rc = weft_process_pool_map(ex, run_item, (const weft_bytes *const *)args,
                               (weft_bytes **)results, (size_t)n, 1, WEFT_FOREVER);
    weft_executor_free(ex);
    return rc;
}

typedef struct coro_run {
    weft_bytes **args;
    void **results;
    int n;
} coro_run;

static int coro_main(void *arg, void **result)
{
    coro_run *cr = arg;
    int rc = 0, started = 0;
#if WEFT_HAVE_HTTP
    /* The HTTP scenario's items fetch with a client on this loop, which
     * lets all of them have a connection at once, as the pools do. */
    item first = {0};
    if (cr->n && cr->args[0]->len == sizeof first)
        memcpy(&first, cr->args[0]->data, sizeof first);
    if (cr->n && first.scenario == SC_HTTP &&
        (rc = weft_http_client_new(&http_loop, &(weft_http_client_opts){.max_connections = cr->n})))
        return rc;
#endif
    weft_future **fs = calloc((size_t)cr->n, sizeof *fs);
    if (!fs)
        rc = WEFT_ENOMEM;
    while (!rc && started < cr->n)
        if ((rc = weft_create_task(NULL, run_item, cr->args[started], NULL, &fs[started])) == 0)
            started++;
    for (int i = 0; i < started; i++) {
        int r = weft_await(fs[i], &cr->results[i], WEFT_FOREVER);
        rc = rc ? rc : r;
        weft_future_unref(fs[i]);
    }
    free(fs);
#if WEFT_HAVE_HTTP
    weft_http_client_free(http_loop);
    http_loop = NULL;
#endif
    return rc;
}

/* One loop; its CPU steps go to the default thread pool (to_thread). */
static int run_coroutines(weft_bytes **args, void **results, int n, int workers)
{
    (void)workers;
    coro_run cr = {args, results, n};
    return weft_run(coro_main, &cr, NULL);
}

typedef int (*model_fn)(weft_bytes **args, void **results, int n, int workers);
static const model_fn models[NMODELS] = {run_serial, run_threads, run_processes, run_coroutines};

/* ------------------------------------------------ the local server */

static struct {
    double delay;
    int port;
    weft_event ready, stop;
    weft_thread *thread;
} server;

static int serve_one(weft_stream *st, void *arg)
{
    char head[1024];
    size_t n;
    int rc = weft_stream_readuntil(st, "\r\n\r\n", 4, head, sizeof head, &n, 10);
    if (rc)
        return rc == WEFT_EEOF ? 0 : rc;
    /* The service time: what makes concurrency pay for I/O-bound work. */
    if ((rc = weft_sleep(server.delay)) != 0)
        return rc;
    static const char resp[] = "HTTP/1.0 200 OK\r\nContent-Length: 13\r\n\r\n" HTTP_BODY;
    _Static_assert(sizeof HTTP_BODY - 1 == 13, "the length the head says");
    return weft_stream_write(st, resp, sizeof resp - 1);
}

static int server_main(void *arg, void **result)
{
    weft_server *srv;
    weft_server_start_opts o = {.listen = {.backlog = 4096}};
    int rc = weft_server_start(&srv, serve_one, NULL, "127.0.0.1", 0, &o);
    if (rc) {
        weft_event_set(&server.ready);
        return rc;
    }
    weft_socket *ls;
    size_t n;
    weft_sockaddr a;
    weft_server_sockets(srv, &ls, 1, &n);
    weft_socket_getsockname(ls, &a);
    server.port = weft_sockaddr_port(&a);
    weft_event_set(&server.ready);
    rc = weft_event_wait(&server.stop, WEFT_FOREVER);
    weft_server_free(srv);
    return rc;
}

static void *server_thread(void *arg)
{
    return (void *)(intptr_t)weft_run(server_main, NULL, NULL);
}

static int server_start(double delay)
{
    server.delay = delay;
    weft_event_init(&server.ready);
    weft_event_init(&server.stop);
    int rc = weft_thread_new(&server.thread, server_thread, NULL, NULL);
    if (!rc)
        rc = weft_thread_start(server.thread);
    if (!rc)
        rc = weft_event_wait(&server.ready, 10);
    return rc ? rc : server.port ? 0 : WEFT_ESTATE;
}

static void server_stop(void)
{
    if (!server.thread)
        return;
    weft_event_set(&server.stop);
    weft_thread_join(server.thread, WEFT_FOREVER);
    weft_thread_unref(server.thread);
    server.thread = NULL;
}

/* ---------------------------------------------------- the files */

static int make_files(char *dir, size_t len, int n)
{
    snprintf(dir, len, "/tmp/weft-tour-XXXXXX");
    if (!mkdtemp(dir))
        return -errno;
    for (int i = 0; i < n; i++) {
        char path[128], text[512];
        snprintf(path, sizeof path, "%s/%d.txt", dir, i);
        int m = snprintf(text, sizeof text, "file %d\n", i);
        while (m < (int)sizeof text - 32)
            m += snprintf(text + m, sizeof text - (size_t)m, "line %d of file %d\n", m, i);
        FILE *f = fopen(path, "w");
        if (!f || fwrite(text, 1, (size_t)m, f) != (size_t)m) {
            if (f)
                fclose(f);
            return WEFT_EACCES;
        }
        fclose(f);
    }
    return 0;
}

static void remove_files(const char *dir, int n)
{
    for (int i = 0; i < n; i++) {
        char path[128];
        snprintf(path, sizeof path, "%s/%d.txt", dir, i);
        unlink(path);
    }
    rmdir(dir);
}

/* --------------------------------------------------- running */

static double cpu_seconds(void)
{
    struct rusage self, kids;
    getrusage(RUSAGE_SELF, &self);
    getrusage(RUSAGE_CHILDREN, &kids);
    return (double)(self.ru_utime.tv_sec + self.ru_stime.tv_sec + kids.ru_utime.tv_sec +
                    kids.ru_stime.tv_sec) +
           (double)(self.ru_utime.tv_usec + self.ru_stime.tv_usec + kids.ru_utime.tv_usec +
                    kids.ru_stime.tv_usec) / 1e6;
}

/* Run one scenario's items with one model and check every result. */
static void measure(int model, int workers, const item *items, int n, uint64_t want_each,
                    run_result *r)
{
    weft_bytes **args = calloc((size_t)n, sizeof *args);
    void **results = calloc((size_t)n, sizeof *results);
    int rc = args && results ? 0 : WEFT_ENOMEM;
    for (int i = 0; i < n && !rc; i++)
        rc = weft_bytes_new(&args[i], &items[i], sizeof items[i]);
    double w0 = weft_monotonic(), c0 = cpu_seconds();
    if (!rc)
        rc = models[model](args, results, n, workers);
    r->wall = weft_monotonic() - w0;
    r->cpu = cpu_seconds() - c0;
    for (int i = 0; i < n && !rc; i++) {
        const weft_bytes *b = results[i];
        uint64_t v = 0;
        if (!b || b->len != sizeof v) {
            rc = WEFT_EINVAL;
            break;
        }
        memcpy(&v, b->data, sizeof v);
        if (want_each && v != want_each)
            rc = WEFT_EINVAL;
    }
    r->ok = rc == 0;
    if (rc)
        snprintf(r->error, sizeof r->error, "%s", weft_strerror(rc));
    for (int i = 0; args && i < n; i++)
        weft_bytes_free(args[i]);
    for (int i = 0; results && i < n; i++)
        weft_bytes_free(results[i]);
    free(args);
    free(results);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median_of(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

void model_summarise(model_result *m)
{
    double wall[TOUR_MAX_RUNS], cpu[TOUR_MAX_RUNS];
    m->ok = m->nruns > 0;
    m->error = NULL;
    for (int i = 0; i < m->nruns; i++) {
        const run_result *r = &m->runs[i];
        if (!r->ok && !m->error)
            m->error = r->error;
        m->ok = m->ok && r->ok;
        wall[i] = r->wall;
        cpu[i] = r->cpu;
    }
    if (!m->ok) {
        m->median = m->min = m->max = m->cpu_median = 0;
        return;
    }
    m->median = median_of(wall, m->nruns);
    m->min = wall[0];
    m->max = wall[m->nruns - 1];
    m->cpu_median = median_of(cpu, m->nruns);
}

static scenario scenarios[NSCENARIOS] = {
    [SC_SLEEP] = {.name = "io-sleep", .kind = KIND_IO, .waits = true},
    [SC_HTTP] = {.name = "io-http", .kind = KIND_IO, .waits = true},
    [SC_FILES] = {.name = "io-files", .kind = KIND_IO, .waits = false},
    [SC_SUM] = {.name = "cpu-sum", .kind = KIND_CPU, .waits = false},
    [SC_HASH] = {.name = "cpu-hash", .kind = KIND_CPU, .waits = false},
    [SC_MIXED] = {.name = "mixed", .kind = KIND_MIXED, .waits = true},
};

static tour_machine_state machine;

const tour_machine_state *tour_machine(void)
{
    return &machine;
}

/* The load average over the last minute (/proc/loadavg), or -1. It counts
 * the threads running or ready to run: at the CPU count or over, every
 * core already had a taker. */
static void machine_sample(void)
{
    machine.cpus = weft_cpu_count();
    machine.load1 = -1;
    FILE *f = fopen("/proc/loadavg", "r");
    if (f) {
        if (fscanf(f, "%lf", &machine.load1) != 1)
            machine.load1 = -1;
        fclose(f);
    }
    machine.busy = machine.load1 >= machine.cpus;
}

int tour_run(scenario **out, int *nout, bool quick)
{
    machine_sample();
    const sizes *sz = quick ? &quick_sizes : &full;
    static char titles[NSCENARIOS][160];
    snprintf(titles[SC_SLEEP], sizeof titles[0], "%d tasks that each wait %.0f ms",
             sz->sleep_items, sz->sleep_wait * 1e3);
    snprintf(titles[SC_HTTP], sizeof titles[0], "%d requests to a local HTTP server (%.0f ms each), "
             "with " HTTP_CLIENT, sz->http_items, sz->http_delay * 1e3);
    snprintf(titles[SC_FILES], sizeof titles[0], "reading %d small files", sz->files);
    snprintf(titles[SC_SUM], sizeof titles[0], "%d x summing %llu integers", sz->sum_items,
             (unsigned long long)sz->sum_terms);
    snprintf(titles[SC_HASH], sizeof titles[0], "a hash over %llu MiB in %d chunks",
             (unsigned long long)(sz->hash_chunk * (uint64_t)sz->hash_chunks >> 20), sz->hash_chunks);
    snprintf(titles[SC_MIXED], sizeof titles[0], "%d items x (sum %llu + wait %.0f ms)",
             sz->mixed_items, (unsigned long long)sz->mixed_terms, sz->mixed_wait * 1e3);
    for (int s = 0; s < NSCENARIOS; s++) {
        scenarios[s].title = titles[s];
        memset(scenarios[s].res, 0, sizeof scenarios[s].res);
    }

    char dir[64];
    int rc = make_files(dir, sizeof dir, sz->files);
    if (rc)
        return rc;
    if ((rc = server_start(sz->http_delay)) != 0) {
        remove_files(dir, sz->files);
        return rc;
    }
#if WEFT_HAVE_HTTP
    if ((rc = weft_http_client_new(&http_plain, NULL)) != 0) {
        server_stop();
        remove_files(dir, sz->files);
        return rc;
    }
#endif
    int nruns = quick ? QUICK_RUNS : FULL_RUNS;
    progress_begin(NSCENARIOS, nruns, isatty(STDOUT_FILENO));
    for (int s = 0; s < NSCENARIOS; s++) {
        int n = 0;
        uint64_t want = 0;
        item *items = NULL;
        switch (s) {
        case SC_SLEEP: n = sz->sleep_items; want = 1; break;
        case SC_HTTP:
            n = sz->http_items;
            want = WEFT_HAVE_HTTP ? sizeof HTTP_BODY - 1 : 0; /* the body's length */
            break;
        case SC_FILES: n = sz->files; break;
        case SC_SUM: n = sz->sum_items; break;
        case SC_HASH: n = sz->hash_chunks; break;
        case SC_MIXED: n = sz->mixed_items; break;
        }
        /* The pools' size: see the top of this file. */
        scenarios[s].items = n;
        scenarios[s].workers = scenarios[s].waits ? n : (int)weft_cpu_count();
        scenarios[s].wait = s == SC_SLEEP ? sz->sleep_wait : s == SC_MIXED ? sz->mixed_wait : 0;
        scenarios[s].work = s == SC_HASH ? sz->hash_chunk : s == SC_SUM ? sz->sum_terms
                          : s == SC_MIXED ? sz->mixed_terms : 0;
        items = calloc((size_t)n, sizeof *items);
        if (!items) {
            rc = WEFT_ENOMEM;
            break;
        }
        for (int i = 0; i < n; i++) {
            item *it = &items[i];
            it->scenario = s;
            it->index = i;
            it->port = server.port;
            it->wait = scenarios[s].wait;
            it->work = scenarios[s].work;
            snprintf(it->dir, sizeof it->dir, "%s", dir);
        }
        for (int run = 0; run < nruns; run++)
            for (int m = 0; m < NMODELS; m++) {
                model_result *mr = &scenarios[s].res[m];
                progress_step(s, scenarios[s].name, m, run, NULL);
                measure(m, scenarios[s].workers, items, n, want, &mr->runs[run]);
                mr->nruns = run + 1;
                progress_step(s, scenarios[s].name, m, run, &mr->runs[run]);
            }
        for (int m = 0; m < NMODELS; m++)
            model_summarise(&scenarios[s].res[m]);
        scenario_judge(&scenarios[s]);
        free(items);
    }
    /* Python's runs, while the server and the files are there. */
    if (!rc)
        rc = tour_python_run(scenarios, NSCENARIOS, nruns, server.port, dir);
    progress_end();
#if WEFT_HAVE_HTTP
    weft_http_client_free(http_plain);
    http_plain = NULL;
#endif
    server_stop();
    remove_files(dir, sz->files);
    *out = scenarios;
    *nout = NSCENARIOS;
    return rc;
}
