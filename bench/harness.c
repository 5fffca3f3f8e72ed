/*
 * weft-bench: runs the benchmarks and writes the report.
 *
 *   weft-bench [NAME...] [--out FILE] [--quick]
 *
 * Each benchmark runs in a child process of its own: a module under
 * development that hangs or crashes costs its own table ("failed"), not the
 * whole report, and every benchmark starts from a fresh process (no park
 * buckets or thread stacks left warm by the previous one). The child sends
 * its figures back through a pipe.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

#ifndef WEFT_BENCH_PEERS
#define WEFT_BENCH_PEERS "bench/peers"
#endif

/* A hung benchmark is killed after this long (the million-coroutine ones
 * take half a minute on an idle machine, several on a busy one). */
#define CHILD_TIMEOUT_S 300

/* Filled by WB_REGISTER before main runs, then sorted by order. */
#define MAX_BENCH 64
static const wb_bench *all_benches[MAX_BENCH];
static int bench_order[MAX_BENCH];
static size_t NBENCH;

void wb_register(const wb_bench *b, int order)
{
    if (NBENCH == MAX_BENCH) {
        fprintf(stderr, "weft-bench: more than %d benchmarks\n", MAX_BENCH);
        abort();
    }
    size_t k = NBENCH++;
    for (; k > 0 && bench_order[k - 1] > order; k--) {
        all_benches[k] = all_benches[k - 1];
        bench_order[k] = bench_order[k - 1];
    }
    all_benches[k] = b;
    bench_order[k] = order;
}

enum { RES_OK, RES_SKIP, RES_FAIL };

typedef struct wb_res {
    int state;
    double median, min; /* in the benchmark's unit */
    long scaled_from;   /* quantity peer run with this n, scaled to the bench's */
    char note[120];
} wb_res;

static bool quick;
static char *current_note; /* the row a C workload's wb_note writes */
static char python[256];
static char go[256];

double wb_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void wb_wait_flag(const int *flag)
{
    while (!__atomic_load_n(flag, __ATOMIC_ACQUIRE))
        ;
}

void wb_note(const char *fmt, ...)
{
    if (!current_note)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(current_note, sizeof((wb_res *)0)->note, fmt, ap);
    va_end(ap);
}

/* What a C workload's return value is multiplied by to be in the unit. */
static double unit_scale(const wb_bench *b)
{
    if (b->quantity)
        return 1;
    if (strcmp(b->unit, "ms") == 0)
        return 1e3;
    return strcmp(b->unit, "us") == 0 ? 1e6 : 1e9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void find_python(void)
{
    /* The system interpreter, not whatever a version manager put first on
     * PATH: the figures should not depend on the user's shell setup. */
    if (access("/usr/bin/python3", X_OK) == 0) {
        snprintf(python, sizeof python, "/usr/bin/python3");
        return;
    }
    const char *path = getenv("PATH");
    while (path && *path) {
        const char *end = strchr(path, ':');
        size_t len = end ? (size_t)(end - path) : strlen(path);
        snprintf(python, sizeof python, "%.*s/python3", (int)len, path);
        if (len && access(python, X_OK) == 0)
            return;
        path = end ? end + 1 : NULL;
    }
    python[0] = '\0';
}

/* `name` on PATH (or in one of `extra`, tried first), into buf; "" if none. */
static void find_program(char *buf, size_t len, const char *name, const char *const *extra)
{
    for (; extra && *extra; extra++) {
        snprintf(buf, len, "%s/%s", *extra, name);
        if (access(buf, X_OK) == 0)
            return;
    }
    const char *path = getenv("PATH");
    while (path && *path) {
        const char *end = strchr(path, ':');
        size_t n = end ? (size_t)(end - path) : strlen(path);
        snprintf(buf, len, "%.*s/%s", (int)n, path, name);
        if (n && access(buf, X_OK) == 0)
            return;
        path = end ? end + 1 : NULL;
    }
    buf[0] = '\0';
}

/* Read a peer's "result MEDIAN_NS MIN_NS" line from `cmd`. */
static void run_peer_cmd(const char *cmd, const char *what, wb_res *r)
{
    FILE *p = popen(cmd, "r");
    char line[256];
    bool got = false;
    while (p && fgets(line, sizeof line, p))
        if (sscanf(line, "result %lf %lf", &r->median, &r->min) == 2)
            got = true;
    int st = p ? pclose(p) : -1;
    if (!got || st != 0) {
        r->state = RES_FAIL;
        snprintf(r->note, sizeof r->note, "failed (%s exited %d)", what, st);
    }
}

/* A Python peer times its own runs (interpreter start-up is not part of the
 * workload) and prints "result MEDIAN_NS MIN_NS" per operation. */
static void run_python(const wb_contender *c, long n, int runs, wb_res *r)
{
    if (!python[0]) {
        r->state = RES_SKIP;
        snprintf(r->note, sizeof r->note, "n/a (python3 not found)");
        return;
    }
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "'%s' '%s/%s' %s %ld %d", python, WEFT_BENCH_PEERS, c->py_script,
             c->py_case, n, runs);
    run_peer_cmd(cmd, c->py_script, r);
}

const char *wb_python(void)
{
    return python;
}

const char *wb_go(void)
{
    return go;
}

int wb_go_build(const char *go_dir, char *dir, size_t dirlen, char *why, size_t whylen)
{
    if (!go[0]) {
        snprintf(why, whylen, "n/a (go not found)");
        return -1;
    }
    snprintf(dir, dirlen, "/tmp/weft-bench-go-XXXXXX");
    if (!mkdtemp(dir)) {
        snprintf(why, whylen, "failed (mkdtemp: %s)", strerror(errno));
        return -1;
    }
    char cmd[2048];
    snprintf(cmd, sizeof cmd,
             "cd '%s/go/%s' && GOCACHE='%s/cache' GOPATH='%s/path' GOFLAGS=-mod=mod "
             "'%s' build -o '%s/peer' . >'%s/build.log' 2>&1",
             WEFT_BENCH_PEERS, go_dir, dir, dir, go, dir, dir);
    if (system(cmd) != 0) {
        snprintf(why, whylen, "failed (go build of %s; see %s/build.log)", go_dir, dir);
        return -1;
    }
    return 0;
}

void wb_remove_dir(const char *dir)
{
    char cmd[1100];
    snprintf(cmd, sizeof cmd, "chmod -R u+w '%s' && rm -rf '%s'", dir, dir);
    if (system(cmd) != 0)
        fprintf(stderr, "weft-bench: could not remove %s\n", dir);
}

/* A Go peer is built now, then run like a Python peer: `peer CASE N RUNS`
 * prints "result MEDIAN_NS MIN_NS". */
static void run_go(const wb_contender *c, long n, int runs, wb_res *r)
{
    char dir[64];
    if (wb_go_build(c->go_dir, dir, sizeof dir, r->note, sizeof r->note) != 0) {
        r->state = go[0] ? RES_FAIL : RES_SKIP;
        return;
    }
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "'%s/peer' %s %ld %d", dir, c->py_case, n, runs);
    run_peer_cmd(cmd, c->go_dir, r);
    wb_remove_dir(dir);
}

/* A figure from /proc/self/status ("VmRSS:" ...), in KiB, or -1. */
static long status_kib(const char *key)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long v = -1;
    size_t len = strlen(key);
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, key, len) == 0) {
            v = atol(line + len);
            break;
        }
    if (f)
        fclose(f);
    return v;
}

double wb_child_rss(wb_run_fn fn, long n, double *seconds)
{
    int fd[2];
    if (pipe(fd) != 0)
        return -1;
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        close(fd[0]);
        close(fd[1]);
        return -1;
    }
    if (pid == 0) {
        close(fd[0]);
        /* A benchmark child killed for a timeout takes this one with it. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        /* Writing 5 to clear_refs resets the high-water mark to the current
         * resident size (Linux 4.0+). Without it VmHWM may still hold a
         * peak from before the workload; the first figures are then taken
         * from the resident size before, which only the parent's own past
         * peaks can inflate (small in a benchmark child). */
        int c = open("/proc/self/clear_refs", O_WRONLY | O_CLOEXEC);
        if (c >= 0) {
            if (write(c, "5", 1) != 1)
                fprintf(stderr, "weft-bench: could not reset VmHWM\n");
            close(c);
        }
        long before = status_kib("VmRSS:");
        double out[2] = {-1, fn(n)};
        long hwm = status_kib("VmHWM:"), rss = status_kib("VmRSS:");
        /* The kernel folds per-CPU RSS counts into the mark lazily: the
         * current size can read a little above it. */
        if (rss > hwm)
            hwm = rss;
        if (out[1] >= 0 && before >= 0 && hwm >= 0)
            out[0] = (double)(hwm > before ? hwm - before : 0) / 1024.0;
        ssize_t w = write(fd[1], out, sizeof out);
        _exit(w == (ssize_t)sizeof out ? 0 : 1);
    }
    close(fd[1]);
    double out[2] = {-1, -1};
    size_t got = 0;
    double deadline = wb_now() + CHILD_TIMEOUT_S;
    while (got < sizeof out) {
        struct pollfd pfd = {fd[0], POLLIN, 0};
        int left = (int)((deadline - wb_now()) * 1000);
        if (left <= 0 || poll(&pfd, 1, left) == 0) {
            kill(pid, SIGKILL);
            break;
        }
        ssize_t r = read(fd[0], (char *)out + got, sizeof out - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    close(fd[0]);
    int st;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    if (got < sizeof out) {
        out[0] = out[1] = -1;
    }
    if (seconds)
        *seconds = out[1];
    return out[0];
}

/* In the child: run every contender, interleaved, and fill res[]. */
static void run_bench(const wb_bench *b, wb_res *res)
{
    int runs = quick ? 3 : b->runs;
    long n = quick ? b->n / 10 : b->n;
    double scale = unit_scale(b);
    double samples[WB_MAX_CONTENDERS][32];

    for (int i = 0; i < WB_MAX_CONTENDERS && b->c[i].name; i++) {
        const wb_contender *c = &b->c[i];
        if (c->skip) {
            res[i].state = RES_SKIP;
            snprintf(res[i].note, sizeof res[i].note, "%s", c->skip);
        } else if (c->run && !b->quantity && c->run(n / 10 ? n / 10 : 1) < 0) {
            /* The warm-up: a quantity (memory) has no cache to warm. */
            res[i].state = RES_FAIL;
            snprintf(res[i].note, sizeof res[i].note, "failed (workload error)");
        }
    }
    for (int k = 0; k < runs; k++) {
        for (int i = 0; i < WB_MAX_CONTENDERS && b->c[i].name; i++) {
            if (res[i].state != RES_OK || !b->c[i].run)
                continue;
            current_note = res[i].note;
            double t = b->c[i].run(n);
            current_note = NULL;
            if (t < 0) {
                res[i].state = RES_FAIL;
                snprintf(res[i].note, sizeof res[i].note, "failed (workload error)");
            }
            samples[i][k] = t * scale;
        }
    }
    for (int i = 0; i < WB_MAX_CONTENDERS && b->c[i].name; i++) {
        const wb_contender *c = &b->c[i];
        if (res[i].state != RES_OK)
            continue;
        if (!c->run) {
            /* Python and Go run after the C contenders, in their own
             * processes. */
            long pn = !c->py_n ? n : quick && c->py_n >= 10 ? c->py_n / 10 : c->py_n;
            if (c->go_dir)
                run_go(c, pn, runs, &res[i]);
            else
                run_python(c, pn, runs, &res[i]);
            if (res[i].state == RES_OK && b->quantity && pn != n) {
                /* A peer run smaller (Python) is scaled to the same n. */
                res[i].median *= (double)n / (double)pn;
                res[i].min *= (double)n / (double)pn;
                res[i].scaled_from = pn;
            } else if (res[i].state == RES_OK && !b->quantity) {
                res[i].median /= 1e9 / scale;
                res[i].min /= 1e9 / scale;
            }
            continue;
        }
        qsort(samples[i], (size_t)runs, sizeof(double), cmp_double);
        res[i].median = samples[i][runs / 2];
        res[i].min = samples[i][0];
    }
}

/* Fork, run the benchmark in the child, read its figures back. */
static void run_isolated(const wb_bench *b, wb_res *res)
{
    int fd[2];
    memset(res, 0, sizeof(wb_res) * WB_MAX_CONTENDERS);
    if (pipe(fd) != 0) {
        perror("weft-bench: pipe");
        exit(1);
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        close(fd[0]);
        run_bench(b, res);
        ssize_t w = write(fd[1], res, sizeof(wb_res) * WB_MAX_CONTENDERS);
        _exit(w == (ssize_t)(sizeof(wb_res) * WB_MAX_CONTENDERS) ? 0 : 1);
    }
    close(fd[1]);
    size_t got = 0, want = sizeof(wb_res) * WB_MAX_CONTENDERS;
    double deadline = wb_now() + CHILD_TIMEOUT_S;
    const char *why = NULL;
    while (got < want) {
        struct pollfd pfd = {fd[0], POLLIN, 0};
        int left = (int)((deadline - wb_now()) * 1000);
        if (left <= 0 || poll(&pfd, 1, left) == 0) {
            kill(pid, SIGKILL);
            why = "failed (timed out)";
            break;
        }
        ssize_t r = read(fd[0], (char *)res + got, want - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            why = "failed (crashed)";
            break;
        }
        got += (size_t)r;
    }
    close(fd[0]);
    waitpid(pid, NULL, 0);
    if (why) {
        for (int i = 0; i < WB_MAX_CONTENDERS; i++) {
            res[i].state = RES_FAIL;
            snprintf(res[i].note, sizeof res[i].note, "%s", why);
        }
    }
}

static void fmt_fig(char *buf, size_t len, double v, const char *unit)
{
    snprintf(buf, len, v >= 100 ? "%.0f %s" : v >= 10 ? "%.1f %s" : "%.2f %s", v, unit);
}

static void report_bench(FILE *f, const wb_bench *b, const wb_res *res)
{
    if (b->quantity)
        fprintf(f, "\n## %s\n\n%s In %s (not a time), lower is better; %d runs (median, min).\n",
                b->name, b->what, b->unit, quick ? 3 : b->runs);
    else
        fprintf(f, "\n## %s\n\n%s Per operation, lower is better; %d runs (median, min).\n",
                b->name, b->what, quick ? 3 : b->runs);
    if (b->target_peer)
        fprintf(f, "Target: weft / %s <= %.2f.\n", b->c[b->target_peer].name, b->target);
    for (int i = 1; i < WB_MAX_CONTENDERS && b->c[i].name; i++)
        if (b->c[i].target > 0 && i != b->target_peer)
            fprintf(f, "Target: weft / %s <= %.2f.\n", b->c[i].name, b->c[i].target);
    fprintf(f, "\n| implementation | median | min | weft / this | target |\n"
               "|---|---:|---:|---:|---|\n");
    for (int i = 0; i < WB_MAX_CONTENDERS && b->c[i].name; i++) {
        const wb_contender *c = &b->c[i];
        char med[32], min[32], ratio[32] = "", target[48] = "", suffix[64] = "";
        if (c->floor)
            snprintf(suffix, sizeof suffix, " (floor)");
        else if (res[i].state == RES_OK && res[i].scaled_from)
            snprintf(suffix, sizeof suffix, " (scaled from n=%ld)", res[i].scaled_from);
        if (res[i].state != RES_OK) {
            fprintf(f, "| %s%s | %s | | | %s |\n", c->name, suffix, res[i].note,
                    i == b->target_peer || c->target > 0 ? "no figure" : "");
            continue;
        }
        fmt_fig(med, sizeof med, res[i].median, b->unit);
        fmt_fig(min, sizeof min, res[i].min, b->unit);
        if (i > 0 && res[0].state == RES_OK) {
            double q = res[0].median / res[i].median;
            snprintf(ratio, sizeof ratio, "%.3f", q);
            double want = i == b->target_peer ? b->target : c->target;
            if (want > 0)
                snprintf(target, sizeof target, "<= %.2f: %s", want,
                         q <= want ? "pass" : "**miss**");
        } else if (i == 0) {
            snprintf(ratio, sizeof ratio, "—");
        }
        fprintf(f, "| %s%s | %s | %s | %s | %s%s%s |\n", c->name, suffix, med, min, ratio, target,
                target[0] && res[i].note[0] ? "; " : "", res[i].note);
    }
}

static void cpu_model(char *buf, size_t len)
{
    snprintf(buf, len, "unknown");
    FILE *f = fopen("/proc/cpuinfo", "r");
    char line[512];
    while (f && fgets(line, sizeof line, f)) {
        char *colon = strchr(line, ':');
        if (strncmp(line, "model name", 10) == 0 && colon) {
            snprintf(buf, len, "%s", colon + 2);
            buf[strcspn(buf, "\n")] = '\0';
            break;
        }
    }
    if (f)
        fclose(f);
}

static void report_header(FILE *f)
{
    char date[64], cpu[256], load[64] = "?";
    time_t now = time(NULL);
    strftime(date, sizeof date, "%Y-%m-%d %H:%M UTC", gmtime(&now));
    cpu_model(cpu, sizeof cpu);
    FILE *l = fopen("/proc/loadavg", "r");
    if (l) {
        if (fgets(load, sizeof load, l))
            load[strcspn(load, "\n")] = '\0';
        fclose(l);
    }
#if defined(__clang__)
    const char *cc = "clang " __clang_version__;
#elif defined(__GNUC__)
    const char *cc = "gcc " __VERSION__;
#else
    const char *cc = "unknown";
#endif
    fprintf(f, "# weft benchmarks\n\n"
               "Generated by `make bench` (bench/harness.c); do not edit by hand.\n\n"
               "- date: %s\n- CPU: %s, %ld cores online\n- compiler: %s\n"
               "- Python peers: %s\n- Go peers: %s\n- load average at start: %s\n- mode: %s\n\n"
               "Each contender runs in the same process run as weft, interleaved with it, after "
               "one warm-up run. Ratios are weft's median time over the other's: below 1 weft "
               "is faster (in rows of a quantity, such as memory in MiB, the ratio is of that "
               "quantity: below 1 weft uses less). Python peers run the same workload with the standard library "
               "(smaller sizes, figures per operation).\n",
            date, cpu, sysconf(_SC_NPROCESSORS_ONLN), cc, python[0] ? python : "not found",
            go[0] ? go : "not found", load,
            quick ? "--quick (sizes / 10, 3 runs)" : "full");
}

int main(int argc, char **argv)
{
    const char *out = NULL;
    bool selected[MAX_BENCH] = {false}, any = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0) {
            quick = true;
        } else if (strcmp(argv[i], "--out") == 0 && i + 1 < argc) {
            out = argv[++i];
        } else if (argv[i][0] == '-') {
            fprintf(stderr, "usage: %s [NAME...] [--out FILE] [--quick]\nbenchmarks:", argv[0]);
            for (size_t k = 0; k < NBENCH; k++)
                fprintf(stderr, " %s", all_benches[k]->name);
            fprintf(stderr, "\n");
            return 2;
        } else {
            size_t k = 0;
            while (k < NBENCH && strcmp(all_benches[k]->name, argv[i]) != 0)
                k++;
            if (k == NBENCH) {
                fprintf(stderr, "weft-bench: no benchmark named %s\n", argv[i]);
                return 2;
            }
            selected[k] = any = true;
        }
    }
    find_python();
    {
        const char *const go_dirs[] = {"/usr/lib/go/bin", "/usr/local/go/bin", NULL};
        find_program(go, sizeof go, "go", go_dirs);
    }

    /* Write to a temporary file and rename at the end: an interrupted run
     * leaves the previous report intact. */
    char tmp[1100];
    FILE *f = stdout;
    if (out) {
        snprintf(tmp, sizeof tmp, "%s.tmp", out);
        f = fopen(tmp, "w");
        if (!f) {
            fprintf(stderr, "weft-bench: cannot write %s: %s\n", tmp, strerror(errno));
            return 1;
        }
    }
    report_header(f);
    for (size_t k = 0; k < NBENCH; k++) {
        if (any && !selected[k])
            continue;
        const wb_bench *b = all_benches[k];
        wb_res res[WB_MAX_CONTENDERS];
        fprintf(stderr, "weft-bench: %s ...\n", b->name);
        double t0 = wb_now();
        run_isolated(b, res);
        report_bench(f, b, res);
        if (f != stdout)
            report_bench(stderr, b, res);
        fprintf(stderr, "(%.1f s)\n", wb_now() - t0);
    }
    if (out) {
        fclose(f);
        if (rename(tmp, out) != 0) {
            fprintf(stderr, "weft-bench: cannot rename %s: %s\n", tmp, strerror(errno));
            return 1;
        }
        fprintf(stderr, "weft-bench: wrote %s\n", out);
    }
    return 0;
}
