/*
 * The network benchmarks: servers in their own processes, measured by one
 * load generator.
 *
 *   net_echo_50, net_echo_1000   TCP echo of 64-byte messages over 50 and
 *                                1,000 connections, each with one message
 *                                in flight: weft (a coroutine per
 *                                connection, bench/servers/echo_weft.c) vs
 *                                libuv, a hand-written epoll loop, Python
 *                                asyncio (Protocol) and Go (goroutine per
 *                                connection)
 *   net_http_hello               an HTTP/1.1 keep-alive "hello" server under
 *                                wrk -c50: weft vs nginx with one worker
 *   net_fetch_1000               GET of 1,000 URLs from a local server, 50 at
 *                                a time: weft/http.h vs Python threads and
 *                                asyncio
 *
 * The figure is time per round trip (per request), the inverse of the
 * throughput, so that lower is better as everywhere in the report; each
 * row's note gives the throughput and the latency percentiles. `n` is the
 * measured time in ms (after a 200 ms warm-up inside each run). The load
 * generator runs in this process on one thread and shares the machine's
 * cores with the server under test, as the figures did.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "weft/http.h"
#include "weft/loop.h"

extern char **environ;

#define MSG 64
#define WARMUP_S 0.2

/* ---------------------------------------------------------- servers */

typedef struct server {
    pid_t pid;
    int port;
} server;

/* Start argv with its stdout on a pipe and read its "port P" line. */
static int server_start(server *s, char *const argv[])
{
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0)
        return -1;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, p[1], 1);
    int rc = posix_spawn(&s->pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(p[1]);
    if (rc != 0) {
        close(p[0]);
        return -1;
    }
    char line[64] = "";
    size_t got = 0;
    s->port = 0;
    while (got < sizeof line - 1) {
        struct pollfd pfd = {p[0], POLLIN, 0};
        if (poll(&pfd, 1, 20000) <= 0)
            break;
        ssize_t r = read(p[0], line + got, sizeof line - 1 - got);
        if (r <= 0)
            break;
        got += (size_t)r;
        line[got] = 0;
        if (strchr(line, '\n'))
            break;
    }
    close(p[0]);
    if (sscanf(line, "port %d", &s->port) != 1) {
        kill(s->pid, SIGKILL);
        waitpid(s->pid, NULL, 0);
        return -1;
    }
    return 0;
}

static void server_stop(server *s)
{
    kill(s->pid, SIGKILL);
    waitpid(s->pid, NULL, 0);
}

/* ----------------------------------------------------- load generator */

/* Latencies in a log-linear histogram: 16 buckets per power of two of
 * nanoseconds, so percentiles are within 1/16 of the truth and recording
 * costs a few instructions. */
#define SUB 16
#define HBUCKETS (64 * SUB)

static int bucket_of(uint64_t ns)
{
    if (ns < SUB)
        return (int)ns;
    int msb = 63 - __builtin_clzll(ns);
    int sub = (int)((ns >> (msb - 4)) & (SUB - 1));
    return (msb - 3) * SUB + sub;
}

static double bucket_value(int b)
{
    if (b < SUB)
        return b;
    int msb = b / SUB + 3, sub = b % SUB;
    return ldexp(1.0 + (sub + 0.5) / SUB, msb);
}

static double percentile(const uint64_t *h, uint64_t total, double q)
{
    uint64_t want = (uint64_t)(q * (double)total), seen = 0;
    for (int b = 0; b < HBUCKETS; b++) {
        seen += h[b];
        if (seen > want)
            return bucket_value(b);
    }
    return 0;
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

typedef struct conn {
    int fd;
    unsigned got;
    uint64_t sent;
} conn;

typedef struct load {
    double per_trip;  /* seconds per round trip */
    double rate;      /* round trips per second */
    double p50, p99;  /* microseconds */
} load;

/* Keep one 64-byte message in flight on each of `nconn` connections for
 * WARMUP_S, then count round trips for `secs`. */
static int run_load(int port, int nconn, double secs, load *out)
{
    conn *c = calloc((size_t)nconn, sizeof *c);
    uint64_t *hist = calloc(HBUCKETS, sizeof *hist);
    int ep = epoll_create1(EPOLL_CLOEXEC);
    int rc = c && hist && ep >= 0 ? 0 : -1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    char msg[MSG];
    memset(msg, 'm', sizeof msg);
    int opened = 0;
    for (; rc == 0 && opened < nconn; opened++) {
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        int one = 1;
        if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
            if (fd >= 0)
                close(fd);
            rc = -1;
            break;
        }
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        fcntl(fd, F_SETFL, O_NONBLOCK);
        c[opened].fd = fd;
        struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)opened};
        epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
    }
    uint64_t t0 = now_ns(), start = t0 + (uint64_t)(WARMUP_S * 1e9);
    uint64_t end = start + (uint64_t)(secs * 1e9), trips = 0;
    for (int i = 0; rc == 0 && i < nconn; i++) {
        c[i].sent = t0;
        if (write(c[i].fd, msg, MSG) != MSG)
            rc = -1;
    }
    struct epoll_event evs[256];
    char buf[MSG];
    while (rc == 0) {
        int n = epoll_wait(ep, evs, 256, 1000);
        if (n <= 0) {
            rc = n < 0 && errno == EINTR ? 0 : -1; /* a second of silence: the server died */
            continue;
        }
        uint64_t now = now_ns();
        if (now >= end)
            break;
        for (int i = 0; i < n && rc == 0; i++) {
            conn *k = &c[evs[i].data.u32];
            ssize_t r = read(k->fd, buf, MSG - k->got);
            if (r <= 0) {
                if (r < 0 && errno == EAGAIN)
                    continue;
                rc = -1;
                break;
            }
            k->got += (unsigned)r;
            if (k->got < MSG)
                continue;
            k->got = 0;
            if (now >= start) {
                trips++;
                hist[bucket_of(now - k->sent)]++;
            }
            k->sent = now;
            if (write(k->fd, msg, MSG) != MSG)
                rc = -1;
        }
    }
    for (int i = 0; i < opened; i++)
        close(c[i].fd);
    if (ep >= 0)
        close(ep);
    if (rc == 0 && trips) {
        out->rate = (double)trips / secs;
        out->per_trip = secs / (double)trips;
        out->p50 = percentile(hist, trips, 0.50) / 1e3;
        out->p99 = percentile(hist, trips, 0.99) / 1e3;
    }
    free(c);
    free(hist);
    return rc == 0 && trips ? 0 : -1;
}

/* ------------------------------------------------------- contenders */

static char go_echo[128];

static void go_cleanup(void)
{
    char dir[128];
    snprintf(dir, sizeof dir, "%s", go_echo);
    char *slash = strrchr(dir, '/');
    if (slash) {
        *slash = 0;
        wb_remove_dir(dir);
    }
}

/* Start the server named by `kind` and measure it. */
static double echo_run(const char *kind, int nconn, long ms)
{
    char loops_arg[] = "2";
    char *argv[6] = {0};
    char py[256];
    if (!strcmp(kind, "weft") || !strcmp(kind, "weft2")) {
        argv[0] = WB_ECHO_WEFT;
        if (kind[4] == '2') {
            argv[1] = "--loops";
            argv[2] = loops_arg;
        }
    } else if (!strcmp(kind, "epoll")) {
        argv[0] = WB_ECHO_EPOLL;
#ifdef WB_ECHO_LIBUV
    } else if (!strcmp(kind, "libuv")) {
        argv[0] = WB_ECHO_LIBUV;
#endif
    } else if (!strcmp(kind, "asyncio")) {
        snprintf(py, sizeof py, "%s/echo_asyncio.py", WEFT_BENCH_PEERS);
        argv[0] = (char *)wb_python();
        argv[1] = py;
    } else if (!strcmp(kind, "go")) {
        if (!go_echo[0]) {
            char dir[64], why[128];
            if (wb_go_build("echo", dir, sizeof dir, why, sizeof why) != 0) {
                fprintf(stderr, "weft-bench: %s\n", why);
                return -1;
            }
            snprintf(go_echo, sizeof go_echo, "%s/peer", dir);
            atexit(go_cleanup);
        }
        argv[0] = go_echo;
    } else {
        return -1;
    }
    server s;
    if (server_start(&s, argv) != 0)
        return -1;
    load l;
    int rc = run_load(s.port, nconn, (double)ms / 1e3, &l);
    server_stop(&s);
    if (rc)
        return -1;
    wb_note("%.1f K round trips/s, p50 %.0f us, p99 %.0f us", l.rate / 1e3, l.p50, l.p99);
    return l.per_trip;
}

#define ECHO_CONTENDER(kind, nconn)                                                             \
    static double echo_##kind##_##nconn(long ms)                                              \
    {                                                                                          \
        return echo_run(#kind, nconn, ms);                                                     \
    }
#define ECHO_ALL(nconn)                                                                        \
    ECHO_CONTENDER(weft, nconn)                                                                \
    ECHO_CONTENDER(weft2, nconn)                                                               \
    ECHO_CONTENDER(libuv, nconn)                                                               \
    ECHO_CONTENDER(epoll, nconn)                                                               \
    ECHO_CONTENDER(asyncio, nconn)                                                             \
    ECHO_CONTENDER(go, nconn)
ECHO_ALL(50)
ECHO_ALL(1000)

#ifdef WB_ECHO_LIBUV
#define LIBUV_SKIP NULL
#else
#define LIBUV_SKIP "n/a (libuv not found at build time)"
#endif

#define ECHO_BENCH(nconn)                                                                      \
    {                                                                                          \
        .name = "net_echo_" #nconn,                                                            \
        .what = "TCP echo of 64-byte messages over " #nconn " connections, one message in "   \
                "flight on each, for 2 s per run: the time per round trip (the inverse of "   \
                "the server's round trips per second). weft serves with a coroutine per "     \
                "connection on one loop.",                                                    \
        .unit = "us", .n = 2000, .runs = 3, .target_peer = 1, .target = 1.0,                  \
        .c = {                                                                                 \
            {.name = "weft coroutines, 1 loop", .run = echo_weft_##nconn},                    \
            {.name = "libuv", .run = echo_libuv_##nconn, .skip = LIBUV_SKIP},                 \
            {.name = "hand-written epoll", .run = echo_epoll_##nconn, .target = 1.053},       \
            {.name = "Python asyncio (Protocol)", .run = echo_asyncio_##nconn, .target = 0.2},\
            {.name = "Go goroutines", .run = echo_go_##nconn},                                \
            {.name = "weft coroutines, 2 loops (SO_REUSEPORT)", .run = echo_weft2_##nconn},   \
        },                                                                                     \
    }

static const wb_bench wb_net_echo_50 = ECHO_BENCH(50);
static const wb_bench wb_net_echo_1000 = ECHO_BENCH(1000);
WB_REGISTER(wb_net_echo_50, 700)
WB_REGISTER(wb_net_echo_1000, 701)

/* ------------------------------------------------------ HTTP hello */

static char wrk_path[256];

static bool find_wrk(void)
{
    const char *dirs[] = {"/usr/bin/wrk", "/usr/local/bin/wrk", NULL};
    for (int i = 0; dirs[i]; i++)
        if (access(dirs[i], X_OK) == 0) {
            snprintf(wrk_path, sizeof wrk_path, "%s", dirs[i]);
            return true;
        }
    return false;
}

/* wrk -t1 -c50 for `ms` against the port; its Requests/sec and p99. */
static double run_wrk(int port, long ms)
{
    if (!wrk_path[0] && !find_wrk())
        return -1;
    char cmd[512];
    long secs = (ms + 999) / 1000; /* wrk takes whole seconds */
    snprintf(cmd, sizeof cmd, "'%s' -t1 -c50 -d%lds --latency http://127.0.0.1:%d/ 2>&1",
             wrk_path, secs, port);
    FILE *p = popen(cmd, "r");
    char line[256];
    double rps = 0, p99 = -1, p50 = -1;
    while (p && fgets(line, sizeof line, p)) {
        double v;
        char unit[8];
        sscanf(line, " Requests/sec: %lf", &rps);
        if (sscanf(line, " 99%% %lf%7s", &v, unit) == 2)
            p99 = v * (!strcmp(unit, "us") ? 1 : !strcmp(unit, "ms") ? 1e3 : 1e6);
        if (sscanf(line, " 50%% %lf%7s", &v, unit) == 2)
            p50 = v * (!strcmp(unit, "us") ? 1 : !strcmp(unit, "ms") ? 1e3 : 1e6);
    }
    if (!p || pclose(p) != 0 || rps <= 0)
        return -1;
    wb_note("%.1f K requests/s, p50 %.0f us, p99 %.0f us", rps / 1e3, p50, p99);
    return 1.0 / rps;
}

static double http_weft_loops(long ms, char *loops)
{
    char *argv[] = {WB_HTTP_WEFT, loops ? "--loops" : NULL, loops, NULL};
    server s;
    if (server_start(&s, argv) != 0)
        return -1;
    double r = run_wrk(s.port, ms);
    server_stop(&s);
    return r;
}

static double http_weft(long ms)
{
    return http_weft_loops(ms, NULL);
}

static double http_weft2(long ms)
{
    char two[] = "2";
    return http_weft_loops(ms, two);
}

/* nginx with one worker, configured in a temporary directory. */
static double http_nginx(long ms)
{
    if (access("/usr/sbin/nginx", X_OK) != 0)
        return -1;
    /* A free port: bind port 0, read it, let it go. */
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof a;
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &alen) != 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    close(fd);
    int port = ntohs(a.sin_port);
    char dir[] = "/tmp/weft-bench-nginx-XXXXXX";
    if (!mkdtemp(dir))
        return -1;
    char conf[1100];
    snprintf(conf, sizeof conf, "%s/nginx.conf", dir);
    FILE *f = fopen(conf, "w");
    if (!f)
        return -1;
    fprintf(f,
            "worker_processes 1;\ndaemon off;\npid %s/nginx.pid;\nerror_log %s/error.log;\n"
            "events { worker_connections 4096; }\n"
            "http {\n  access_log off;\n  client_body_temp_path %s;\n  proxy_temp_path %s;\n"
            "  fastcgi_temp_path %s;\n  uwsgi_temp_path %s;\n  scgi_temp_path %s;\n"
            "  server {\n    listen 127.0.0.1:%d;\n"
            "    location / { default_type text/plain; return 200 \"Hello, world!\"; }\n"
            "  }\n}\n",
            dir, dir, dir, dir, dir, dir, dir, port);
    fclose(f);
    char *argv[] = {"/usr/sbin/nginx", "-p", dir, "-c", conf, NULL};
    pid_t pid;
    double r = -1;
    if (posix_spawn(&pid, argv[0], NULL, NULL, argv, environ) == 0) {
        /* Ready once it accepts a connection (10 s at most). */
        for (int i = 0; i < 1000; i++) {
            int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
            a.sin_port = htons((uint16_t)port);
            int ok = connect(c, (struct sockaddr *)&a, sizeof a) == 0;
            close(c);
            if (ok) {
                r = run_wrk(port, ms);
                break;
            }
            usleep(10000);
        }
        kill(pid, SIGTERM);
        waitpid(pid, NULL, 0);
    }
    char cmd[1100];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "weft-bench: could not remove %s\n", dir);
    return r;
}

static const wb_bench wb_net_http = {
    .name = "net_http_hello",
    .what = "A minimal HTTP/1.1 keep-alive \"hello\" server under wrk -t1 -c50 for 2 s per "
            "run: the time per request (the inverse of requests per second). weft serves "
            "with a coroutine per connection.",
    .unit = "us",
    .n = 2000,
    .runs = 3,
    .target_peer = 1,
    .target = 1.0,
    .c = {
        {.name = "weft coroutines, 1 loop", .run = http_weft},
        {.name = "nginx, 1 worker", .run = http_nginx},
        {.name = "weft coroutines, 2 loops (SO_REUSEPORT)", .run = http_weft2},
    },
};
WB_REGISTER(wb_net_http, 702)

/* ------------------------------------------------- fetching many URLs */

#define FETCH_CONCURRENCY 50

typedef struct fetch_job {
    weft_http_client *c;
    int port;
    long i;
    size_t got;
} fetch_job;

static int fetch_one(void *arg, void **result)
{
    fetch_job *j = arg;
    char url[96];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/item/%ld", j->port, j->i);
    weft_http_response *r;
    int rc = weft_http_fetch(j->c, url, NULL, &r, WEFT_FOREVER);
    if (rc == 0) {
        j->got = r->status == 200 ? r->body_len : 0;
        weft_http_response_free(r);
    }
    return rc;
}

typedef struct fetch_run {
    int port;
    long n;
    double seconds;
    size_t bytes;
} fetch_run;

/* A task per URL, at most FETCH_CONCURRENCY connections at once: the
 * aiohttp way (gather over a session with a connection limit). */
static int fetch_main(void *arg, void **result)
{
    fetch_run *fr = arg;
    weft_http_client *c;
    weft_http_client_opts o = {.max_connections = FETCH_CONCURRENCY};
    int rc = weft_http_client_new(&c, &o);
    if (rc)
        return rc;
    fetch_job *jobs = calloc((size_t)fr->n, sizeof *jobs);
    weft_future **fs = calloc((size_t)fr->n, sizeof *fs);
    weft_future *g = NULL;
    double t0 = wb_now();
    for (long i = 0; jobs && fs && i < fr->n && !rc; i++) {
        jobs[i] = (fetch_job){c, fr->port, i, 0};
        rc = weft_create_task(NULL, fetch_one, &jobs[i], NULL, &fs[i]);
    }
    if (!rc && jobs && fs && (rc = weft_gather(fs, (size_t)fr->n, false, &g)) == 0)
        rc = weft_await(g, NULL, WEFT_FOREVER);
    fr->seconds = wb_now() - t0;
    weft_future_unref(g);
    for (long i = 0; jobs && fs && i < fr->n; i++) {
        fr->bytes += jobs[i].got;
        weft_future_unref(fs[i]);
    }
    free(jobs);
    free(fs);
    weft_http_client_free(c);
    return rc ? rc : !fs ? WEFT_ENOMEM : 0;
}

static double fetch_weft(long n)
{
    if (!WEFT_HAVE_HTTP)
        return -1;
    char *argv[] = {WB_HTTP_WEFT, NULL};
    server s;
    if (server_start(&s, argv) != 0)
        return -1;
    fetch_run fr = {.port = s.port, .n = n};
    int rc = weft_run(fetch_main, &fr, NULL);
    server_stop(&s);
    if (rc || fr.bytes != (size_t)n * 13)
        return -1;
    wb_note("%.0f URLs/s", (double)n / fr.seconds);
    return fr.seconds * 1000 / (double)n;
}

/* The Python peers start the same server: they find it here. */
__attribute__((constructor)) static void export_server_path(void)
{
    setenv("WB_HTTP_SERVER", WB_HTTP_WEFT, 1);
}

static const wb_bench wb_net_fetch = {
    .name = "net_fetch_1000",
    .what = "GET of many URLs from a local HTTP/1.1 server (weft-http-hello), 50 at a time: "
            "the time per 1,000 URLs. weft: a coroutine per URL over weft/http.h "
            "(libcurl's multi interface on the loop, 50 connections); Python: a thread "
            "pool of 50 with urllib, and asyncio with 50 kept-alive stream connections.",
    .unit = "ms",
    .n = 1000,
    .runs = 3,
    .c = {
        {.name = "weft coroutines + weft/http.h", .run = fetch_weft,
         .skip = WEFT_HAVE_HTTP ? NULL : "n/a (weft built without libcurl)"},
        {.name = "Python ThreadPoolExecutor(50) + urllib", .py_script = "fetch.py",
         .py_case = "threads", .py_n = 1000},
        {.name = "Python asyncio streams, 50 connections", .py_script = "fetch.py",
         .py_case = "asyncio", .py_n = 1000},
    },
};
WB_REGISTER(wb_net_fetch, 703)
