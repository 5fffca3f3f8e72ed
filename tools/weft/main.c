/*
 * weft - the command-line program.
 *
 *   weft            the tour (what `make run` runs)
 *   weft tour [--quick] [--json FILE] [--csv FILE] [--plot FILE.svg|FILE.png]
 *                   the seeds' scenarios with every model, measured here,
 *                   and the "when to use what" table (tour.c, tour_report.c)
 *   weft bench [NAME...]   the benchmarks of `make bench` and their peers
 *   weft demo       threads and locks at work, explained as they run
 *   weft info       version, how this build was made, CPUs, pool sizes
 *   weft help       the commands
 *
 * An unknown command prints the usage on stderr and exits with status 2,
 * as command-line tools conventionally do for usage errors.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <weft.h>

#include "cli.h"
#include "tour.h"

#ifndef WEFT_BUILD_TYPE
#define WEFT_BUILD_TYPE "unknown"
#endif
#ifndef WEFT_BUILD_SANITIZE
#define WEFT_BUILD_SANITIZE ""
#endif
#ifndef WEFT_CORO_SWITCH_NAME
#define WEFT_CORO_SWITCH_NAME "unknown"
#endif

/* ------------------------------------------------------------- info */

static int cmd_info(void)
{
    const char *san = WEFT_BUILD_SANITIZE;
    printf("weft %s\n", WEFT_VERSION_STRING);
    printf("build type: %s\n", WEFT_BUILD_TYPE);
    printf("sanitizer:  %s\n", !*san                      ? "none"
                               : !strcmp(san, "address") ? "address (ASan+UBSan)"
                               : !strcmp(san, "thread")  ? "thread (TSan)"
                                                         : san);
#if defined(__clang__)
    printf("compiler:   clang %s\n", __clang_version__);
#elif defined(__GNUC__)
    printf("compiler:   gcc %s\n", __VERSION__);
#else
    printf("compiler:   unknown\n");
#endif
#if defined(__x86_64__)
    printf("arch:       x86_64\n");
#elif defined(__aarch64__)
    printf("arch:       aarch64\n");
#else
    printf("arch:       other\n");
#endif
    printf("coroutines: %s context switch\n", WEFT_CORO_SWITCH_NAME);
    printf("http:       %s\n", WEFT_HAVE_HTTP ? "on (libcurl)" : "off (built without libcurl)");
    printf("cpus:       %u usable\n", weft_cpu_count());
    unsigned cpus = weft_cpu_count();
    printf("pools:      thread pool %u workers, process pool %u workers (defaults)\n",
           cpus + 4 < 32 ? cpus + 4 : 32, cpus);
    return EXIT_SUCCESS;
}

/* ------------------------------------------------------------- tour */

static int cmd_tour(int argc, char **argv)
{
    bool quick = false;
    const char *json = NULL, *csv = NULL, *plot = NULL;
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--quick")) {
            quick = true;
        } else if (i + 1 < argc && !strcmp(argv[i], "--json")) {
            json = argv[++i];
        } else if (i + 1 < argc && !strcmp(argv[i], "--csv")) {
            csv = argv[++i];
        } else if (i + 1 < argc && !strcmp(argv[i], "--plot")) {
            plot = argv[++i];
        } else {
            fprintf(stderr, "weft tour: unknown option '%s'\n", argv[i]);
            return 2;
        }
    }
    size_t plen = plot ? strlen(plot) : 0;
    bool png = plot && plen > 4 && !strcmp(plot + plen - 4, ".png");
    if (png && !report_png_possible()) {
        fprintf(stderr, "weft tour: a PNG chart needs gnuplot (apt-get install gnuplot-nox); "
                        "--plot FILE.svg needs nothing\n");
        return 2;
    }
    /* With JSON or CSV on stdout, the table and progress go to stderr. */
    bool data_on_stdout = (json && !strcmp(json, "-")) || (csv && !strcmp(csv, "-"));
    int saved = -1;
    if (data_on_stdout) {
        fflush(stdout);
        saved = dup(STDOUT_FILENO);
        dup2(STDERR_FILENO, STDOUT_FILENO);
    }
    printf("weft %s tour: the seeds' scenarios with every model (%s)\n", WEFT_VERSION_STRING,
           quick ? "quick" : "under a minute");
    fflush(stdout);
    scenario *s;
    int n;
    int rc = tour_run(&s, &n, quick);
    if (!rc)
        report_table(stdout, s, n, quick);
    fflush(stdout);
    if (saved >= 0) {
        dup2(saved, STDOUT_FILENO);
        close(saved);
    }
    if (rc) {
        fprintf(stderr, "weft tour: %s\n", weft_strerror(rc));
        return EXIT_FAILURE;
    }
    if (json && (rc = report_json(json, s, n, quick)) != 0)
        fprintf(stderr, "weft tour: cannot write %s\n", json);
    if (!rc && csv && (rc = report_csv(csv, s, n)) != 0)
        fprintf(stderr, "weft tour: cannot write %s\n", csv);
    if (!rc && plot && (rc = png ? report_png(plot, s, n) : report_svg(plot, s, n)) != 0)
        fprintf(stderr, "weft tour: cannot write %s\n", plot);
    for (int i = 0; i < n; i++)
        for (int m = 0; m < NMODELS; m++)
            if (!s[i].res[m].ok)
                rc = rc ? rc : WEFT_EINVAL;
    return rc ? EXIT_FAILURE : EXIT_SUCCESS;
}

/* ------------------------------------------------------------ bench */

/* The benchmark program is built next to this one in the build tree
 * (bench/weft-bench beside tools/weft/weft). */
static int cmd_bench(int argc, char **argv)
{
    char self[PATH_MAX], path[PATH_MAX + 32];
    ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
    if (len <= 0) {
        fprintf(stderr, "weft bench: cannot find this program's path\n");
        return EXIT_FAILURE;
    }
    self[len] = 0;
    char *slash = strrchr(self, '/');
    if (slash)
        *slash = 0;
    snprintf(path, sizeof path, "%s/../../bench/weft-bench", self);
    if (access(path, X_OK) != 0) {
        fprintf(stderr,
                "weft bench: %s is not built (configure with -DWEFT_BENCH=ON, or run make bench)\n",
                path);
        return EXIT_FAILURE;
    }
    char **args = calloc((size_t)argc + 2, sizeof *args);
    if (!args)
        return EXIT_FAILURE;
    args[0] = path;
    for (int i = 0; i < argc; i++)
        args[i + 1] = argv[i];
    execv(path, args);
    perror("weft bench: exec");
    free(args);
    return EXIT_FAILURE;
}

/* ------------------------------------------------------------- main */

static void usage(FILE *to)
{
    fprintf(to, "usage: weft [command]\n"
                "\n"
                "commands:\n"
                "  tour    the seeds' scenarios with every model, measured here (the default)\n"
                "          [--quick] [--json FILE|-] [--csv FILE|-] [--plot FILE.svg|.png]\n"
                "  bench   the benchmarks and their peers [NAME...]\n"
                "  demo    threads and locks at work\n"
                "  info    version, build options, CPUs, pool sizes\n"
                "  help    this text\n");
}

int main(int argc, char **argv)
{
    const char *cmd = argc > 1 ? argv[1] : "tour";

    if (!strcmp(cmd, "tour"))
        return cmd_tour(argc > 1 ? argc - 2 : 0, argv + 2);
    if (!strcmp(cmd, "bench"))
        return cmd_bench(argc - 2, argv + 2);
    if (!strcmp(cmd, "demo"))
        return cmd_demo();
    if (!strcmp(cmd, "info"))
        return cmd_info();
    if (!strcmp(cmd, "help") || !strcmp(cmd, "--help") || !strcmp(cmd, "-h")) {
        usage(stdout);
        return EXIT_SUCCESS;
    }
    fprintf(stderr, "weft: unknown command '%s'\n", cmd);
    usage(stderr);
    return 2;
}

/* What the tests check (tests/examples.cmake runs each command through
 * examples/check.sh; each line a regular expression, in order):
 *
 * expect-demo: ^weft [0-9.]+ demo: threads and locks \([0-9]+ CPUs\)$
 * expect-demo: ^   total [0-9]+ \(expected [0-9]+\): no update lost$
 * expect-demo: ^   created: +new \(alive: no\)$
 * expect-demo: ^   started, computing: +running \(alive: yes\)$
 * expect-demo: ^   blocked on a lock main holds: +waiting on lock \(alive: yes\)$
 * expect-demo: ^   waiting for an event: +waiting on event \(alive: yes\)$
 * expect-demo: ^   joined: +finished \(alive: no\)$
 * expect-demo: ^   10000 passes in
 * expect-demo: ^   the RLock was held 2 deep inside record_pass$
 * expect-demo: ^demo done$
 *
 * expect-tour: ^weft [0-9.]+ tour: the seeds' scenarios with every model \(quick\)$
 * expect-tour: ^io-sleep: serial [0-9.]+ s
 * expect-tour: ^io-sleep: coroutines [0-9.]+ s
 * expect-tour: ^cpu-sum: threads [0-9.]+ s
 * expect-tour: ^mixed: coroutines [0-9.]+ s
 * expect-tour: ^When to use what, measured on this machine
 * expect-tour: ^  advice: I/O-bound waits
 * expect-tour: ^  unlike Python: its GIL keeps CPU-bound threads near 1x
 *
 * expect-info: ^weft [0-9]+\.[0-9]+\.[0-9]+$
 * expect-info: ^sanitizer: +(none|address|thread)
 * expect-info: ^compiler: +
 * expect-info: ^coroutines: +[a-z0-9_]+ context switch$
 * expect-info: ^http: +(on|off)
 * expect-info: ^cpus: +[0-9]+ usable$
 * expect-info: ^pools: +thread pool [0-9]+ workers
 *
 * expect-help: ^usage: weft
 * expect-help: ^  tour
 * expect-help: ^  bench
 * expect-help: ^  demo
 * expect-help: ^  info
 */
