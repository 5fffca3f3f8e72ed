/*
 * weft - the command-line program.
 *
 *   weft            the tour (what `make run` runs)
 *   weft tour [--quick] [--json FILE] [--csv FILE] [--plot FILE.svg|FILE.png]
 *                   I/O-bound, CPU-bound and mixed work run with every model,
 *                   measured here, and the "when to use what" table they
 *                   make (tour.c, tour_report.c)
 *   weft bench [NAME...] [--quick] [--out FILE]
 *                   the benchmarks of `make bench` and their peers
 *   weft demo       threads and locks at work, explained as they run
 *   weft info       version, how this build was made, CPUs, pool sizes
 *   weft help [COMMAND]   the commands, or one command's options
 *   weft --version
 *
 * Every command takes --help. Options are parsed by getopt_long, so a
 * value follows its option as "--json FILE" or "--json=FILE". A usage
 * error (an unknown command or option, a missing value, a chart format
 * the tour cannot draw, an output path that cannot be written) prints a
 * message and the usage on stderr and exits with status 2, as command-line
 * tools conventionally do, before any work starts.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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

/* ---------------------------------------------------------- commands */

/* A command: its name, its synopsis (after "usage: weft NAME"), the line
 * the command list shows, and the text its --help prints after the
 * synopsis. run gets the command's arguments with argv[0] "weft NAME", so
 * that getopt_long's messages name the command. */
typedef struct command {
    const char *name;
    const char *synopsis;
    const char *summary;
    const char *help;
    int (*run)(const struct command *cmd, int argc, char **argv);
} command;

static void usage(FILE *to);

/* The usage of one command (on stderr after a usage error, on stdout for
 * --help, where the text that explains it follows). */
static void command_usage(FILE *to, const command *cmd, bool full)
{
    fprintf(to, "usage: weft %s%s%s\n", cmd->name, *cmd->synopsis ? " " : "", cmd->synopsis);
    if (full)
        fprintf(to, "\n%s", cmd->help);
    else
        fprintf(to, "'weft %s --help' says more.\n", cmd->name);
}

/* A usage error: what was wrong (getopt_long may have said it already)
 * and the command's usage on stderr; the exit status is 2. */
static int usage_error(const command *cmd, const char *what)
{
    if (what)
        fprintf(stderr, "weft %s: %s\n", cmd->name, what);
    command_usage(stderr, cmd, false);
    return 2;
}

/* Parse the options of a command that has none but --help: 1 when it
 * printed its help, 2 after a usage error, 0 to go on. */
static int no_options(const command *cmd, int argc, char **argv)
{
    static const struct option opts[] = {{"help", no_argument, NULL, 'h'}, {0}};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (c != 'h')
            return usage_error(cmd, NULL);
        command_usage(stdout, cmd, true);
        return 1;
    }
    if (optind < argc) {
        char what[128];
        snprintf(what, sizeof what, "unexpected argument '%.80s'", argv[optind]);
        return usage_error(cmd, what);
    }
    return 0;
}

/* An option's value that is itself an option ("--json --quick": the file
 * name was forgotten) is a missing value, not a file named "--quick". A
 * lone "-" is a value: stdout. */
static bool value_missing(const char *value)
{
    return value[0] == '-' && value[1] != 0;
}

/* Whether the program can write PATH ("-" is stdout): an existing file is
 * opened for writing, without truncating it; a new one needs its directory
 * writable. Checked before the work starts, so that a typo in a path does
 * not cost a whole tour. Returns 0, or prints why not and returns 2. */
static int check_writable(const command *cmd, const char *option, const char *path)
{
    if (!strcmp(path, "-"))
        return 0;
    int fd = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd >= 0) {
        close(fd);
        return 0;
    }
    int err = errno;
    if (err == ENOENT) {
        char dir[PATH_MAX];
        snprintf(dir, sizeof dir, "%s", path);
        char *slash = strrchr(dir, '/');
        if (!slash)
            snprintf(dir, sizeof dir, ".");
        else
            slash[slash == dir] = 0; /* "/x" -> "/", "a/b/x" -> "a/b" */
        struct stat st;
        if (stat(dir, &st) != 0)
            err = errno;
        else if (!S_ISDIR(st.st_mode))
            err = ENOTDIR;
        else
            err = access(dir, W_OK | X_OK) == 0 ? 0 : errno;
        if (!err)
            return 0;
    }
    fprintf(stderr, "weft %s: %s %s: cannot write there: %s\n", cmd->name, option, path,
            strerror(err));
    return 2;
}

/* ------------------------------------------------------------- info */

static int cmd_info(const command *cmd, int argc, char **argv)
{
    int rc = no_options(cmd, argc, argv);
    if (rc)
        return rc == 1 ? EXIT_SUCCESS : rc;
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

/* Take an option's value into *to, or say why it is missing (2). */
static int take_value(const command *cmd, const char *option, const char **to)
{
    if (!*optarg || value_missing(optarg)) {
        char what[160];
        snprintf(what, sizeof what, "%s needs a value%s%.80s%s", option,
                 *optarg ? " (got the option '" : "", optarg, *optarg ? "')" : "");
        return usage_error(cmd, what);
    }
    *to = optarg;
    return 0;
}

static int cmd_tour(const command *cmd, int argc, char **argv)
{
    static const struct option opts[] = {
        {"quick", no_argument, NULL, 'q'},    {"json", required_argument, NULL, 'j'},
        {"csv", required_argument, NULL, 'c'}, {"plot", required_argument, NULL, 'p'},
        {"help", no_argument, NULL, 'h'},     {0},
    };
    bool quick = false;
    const char *json = NULL, *csv = NULL, *plot = NULL;
    int c, rc = 0;
    optind = 1;
    while (!rc && (c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'q':
            quick = true;
            break;
        case 'j':
            rc = take_value(cmd, "--json", &json);
            break;
        case 'c':
            rc = take_value(cmd, "--csv", &csv);
            break;
        case 'p':
            rc = take_value(cmd, "--plot", &plot);
            break;
        case 'h':
            command_usage(stdout, cmd, true);
            return EXIT_SUCCESS;
        default:
            return usage_error(cmd, NULL);
        }
    }
    if (rc)
        return rc;
    if (optind < argc) {
        char what[128];
        snprintf(what, sizeof what, "unexpected argument '%.80s'", argv[optind]);
        return usage_error(cmd, what);
    }
    /* The chart's format is its file's extension. */
    bool png = false;
    if (plot) {
        const char *base = strrchr(plot, '/') ? strrchr(plot, '/') + 1 : plot;
        const char *ext = strrchr(base, '.');
        png = ext && !strcmp(ext, ".png");
        if (!png && !(ext && !strcmp(ext, ".svg"))) {
            char what[200];
            snprintf(what, sizeof what,
                     "--plot %.80s: the chart is drawn as SVG or PNG: name it FILE.svg or FILE.png",
                     plot);
            return usage_error(cmd, what);
        }
    }
    if ((json && (rc = check_writable(cmd, "--json", json))) ||
        (csv && (rc = check_writable(cmd, "--csv", csv))) ||
        (plot && (rc = check_writable(cmd, "--plot", plot))))
        return rc;
    if (plot && !report_chart_possible()) {
        fprintf(stderr, "weft tour: the chart (SVG or PNG) is drawn by gnuplot, which is not "
                        "installed (apt-get install gnuplot-nox)\n");
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
    printf("weft %s tour: I/O-bound, CPU-bound and mixed work with every model (%s)\n",
           WEFT_VERSION_STRING, quick ? "quick" : "a minute or two");
    fflush(stdout);
    scenario *s;
    int n;
    rc = tour_run(&s, &n, quick);
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
    if (!rc && plot && (rc = report_chart(plot, s, n, png)) != 0)
        fprintf(stderr, "weft tour: cannot write %s\n", plot);
    for (int i = 0; i < n; i++)
        for (int m = 0; m < NMODELS; m++)
            if (!s[i].res[m].ok)
                rc = rc ? rc : WEFT_EINVAL;
    /* Python that was there but whose runs could not be read is an error
     * (the table said so and showed weft alone); Python's absence is not. */
    if (tour_python()->failed) {
        fprintf(stderr, "weft tour: %s\n", tour_python()->why_not);
        rc = rc ? rc : WEFT_EINVAL;
    }
    return rc ? EXIT_FAILURE : EXIT_SUCCESS;
}

/* ------------------------------------------------------------ bench */

/* The benchmark program is built next to this one in a build tree
 * (bench/weft-bench beside tools/weft/weft) and is not installed: it
 * starts its peers by their paths in the build tree. Elsewhere the
 * command says where the benchmarks run. */
static int cmd_bench(const command *cmd, int argc, char **argv)
{
    static const struct option opts[] = {
        {"quick", no_argument, NULL, 'q'},
        {"out", required_argument, NULL, 'o'},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    bool quick = false;
    const char *out = NULL;
    int c, rc = 0;
    optind = 1;
    while (!rc && (c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'q':
            quick = true;
            break;
        case 'o':
            rc = take_value(cmd, "--out", &out);
            break;
        case 'h':
            command_usage(stdout, cmd, true);
            return EXIT_SUCCESS;
        default:
            return usage_error(cmd, NULL);
        }
    }
    if (rc || (out && (rc = check_writable(cmd, "--out", out))))
        return rc;

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
        snprintf(path, sizeof path, "%s/../../CMakeCache.txt", self);
        if (access(path, R_OK) == 0)
            fprintf(stderr, "weft bench: this build has no benchmarks (it was configured with "
                            "-DWEFT_BENCH=OFF). Run `make bench` in weft's source directory, "
                            "or configure a build with -DWEFT_BENCH=ON.\n");
        else
            fprintf(stderr, "weft bench: the benchmarks are not installed with weft: they run "
                            "from its source directory, where `make bench` builds and runs them "
                            "and writes bench/results/latest.md.\n");
        return EXIT_FAILURE;
    }
    /* weft-bench [NAME...] [--quick] [--out FILE]; getopt_long has moved
     * the names to the end of argv. */
    char **args = calloc((size_t)argc + 4, sizeof *args);
    if (!args)
        return EXIT_FAILURE;
    int k = 0;
    args[k++] = path;
    for (int i = optind; i < argc; i++)
        args[k++] = argv[i];
    if (quick)
        args[k++] = "--quick";
    if (out) {
        args[k++] = "--out";
        args[k++] = (char *)out;
    }
    execv(path, args);
    perror("weft bench: exec");
    free(args);
    return EXIT_FAILURE;
}

/* ------------------------------------------------------ demo, help */

static int cmd_demo_options(const command *cmd, int argc, char **argv)
{
    int rc = no_options(cmd, argc, argv);
    return rc ? (rc == 1 ? EXIT_SUCCESS : rc) : cmd_demo();
}

static const command *find_command(const char *name);

static int cmd_help(const command *cmd, int argc, char **argv)
{
    static const struct option opts[] = {{"help", no_argument, NULL, 'h'}, {0}};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (c != 'h')
            return usage_error(cmd, NULL);
        command_usage(stdout, cmd, true);
        return EXIT_SUCCESS;
    }
    if (optind == argc) {
        usage(stdout);
        return EXIT_SUCCESS;
    }
    const command *of = find_command(argv[optind]);
    if (!of || optind + 1 < argc) {
        char what[128];
        snprintf(what, sizeof what, "%s '%.80s'", of ? "unexpected argument" : "no command named",
                 argv[of ? optind + 1 : optind]);
        return usage_error(cmd, what);
    }
    command_usage(stdout, of, true);
    return EXIT_SUCCESS;
}

/* ------------------------------------------------------------- main */

static const command commands[] = {
    {"tour", "[--quick] [--json FILE|-] [--csv FILE|-] [--plot FILE.svg|FILE.png]",
     "I/O-bound, CPU-bound and mixed work with every model, measured here (the default)",
     "Runs I/O-bound, CPU-bound and mixed work with serial code, threads, processes\n"
     "and coroutines on this machine, then prints the \"when to use what\" table that\n"
     "the measurements make. `weft` without a command runs the full tour.\n"
     "Where python3 is installed ($WEFT_PYTHON chooses another), the same work\n"
     "runs in Python too (tour.py, installed with weft), with threads, processes\n"
     "and asyncio, and the table shows both.\n"
     "\n"
     "options:\n"
     "  --quick        smaller sizes: a few seconds in all\n"
     "  --json FILE    write every measurement as JSON (- for stdout)\n"
     "  --csv FILE     write them as CSV, a line per run (- for stdout)\n"
     "  --plot FILE    draw the speed-ups as a chart: FILE.svg, or FILE.png\n"
     "                 (drawn by gnuplot)\n"
     "  -h, --help     this text\n"
     "\n"
     "A value follows its option as `--json FILE` or `--json=FILE`. The output\n"
     "files are checked before the tour starts. With JSON or CSV on stdout, the\n"
     "table and the progress go to stderr.\n",
     cmd_tour},
    {"bench", "[NAME...] [--quick] [--out FILE]", "the benchmarks and their peers",
     "Runs weft's benchmarks (all of them, or those named) beside their peers and\n"
     "prints the results as Markdown.\n"
     "\n"
     "options:\n"
     "  --quick        smaller sizes and fewer runs\n"
     "  --out FILE     write the results to FILE instead of stdout\n"
     "  -h, --help     this text\n"
     "\n"
     "The benchmarks run from weft's source directory and are not installed:\n"
     "there, `make bench` builds them, runs them and writes bench/results/latest.md;\n"
     "a build configured with -DWEFT_BENCH=ON has them too, and `weft bench` in\n"
     "that build runs them.\n",
     cmd_bench},
    {"demo", "", "threads and locks at work",
     "Starts threads that share a counter under a lock, and shows each thread's\n"
     "state as it is created, runs, waits on a lock and an event, and is joined.\n"
     "\n"
     "options:\n"
     "  -h, --help     this text\n",
     cmd_demo_options},
    {"info", "", "version, build options, CPUs, pool sizes",
     "Prints weft's version, how this program was built (build type, sanitizer,\n"
     "compiler, context switch, HTTP), the usable CPUs and the pools' default sizes.\n"
     "\n"
     "options:\n"
     "  -h, --help     this text\n",
     cmd_info},
    {"help", "[COMMAND]", "this text, or a command's options",
     "Lists the commands, or shows one command's options (as `weft COMMAND --help`).\n"
     "\n"
     "options:\n"
     "  -h, --help     this text\n",
     cmd_help},
};

static const command *find_command(const char *name)
{
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(commands[i].name, name))
            return &commands[i];
    return NULL;
}

static void usage(FILE *to)
{
    fprintf(to, "usage: weft [COMMAND] [OPTIONS]\n"
                "\n"
                "commands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        fprintf(to, "  %-7s %s\n", commands[i].name, commands[i].summary);
        if (*commands[i].synopsis)
            fprintf(to, "          %s\n", commands[i].synopsis);
    }
    fprintf(to, "\n`weft COMMAND --help` shows a command's options; `weft --version` the version.\n");
}

int main(int argc, char **argv)
{
    const char *name = argc > 1 ? argv[1] : "tour";
    if (!strcmp(name, "--version")) {
        printf("weft %s\n", WEFT_VERSION_STRING);
        return EXIT_SUCCESS;
    }
    if (!strcmp(name, "--help") || !strcmp(name, "-h")) {
        usage(stdout);
        return EXIT_SUCCESS;
    }
    const command *cmd = find_command(name);
    if (!cmd) {
        fprintf(stderr, "weft: unknown %s '%s'\n", name[0] == '-' ? "option" : "command", name);
        usage(stderr);
        return 2;
    }
    /* The command sees "weft NAME" as its argv[0], which getopt_long's
     * messages print. */
    char label[32];
    snprintf(label, sizeof label, "weft %s", cmd->name);
    char *none[] = {label, NULL};
    if (argc < 2)
        return cmd->run(cmd, 1, none);
    argv[1] = label;
    return cmd->run(cmd, argc - 1, argv + 1);
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
 * expect-tour: ^weft [0-9.]+ tour: I/O-bound, CPU-bound and mixed work with every model \(quick\)$
 * expect-tour: ^io-sleep: serial [0-9.]+ s \(cpu [0-9.]+ s, run 1 of 5\)$
 * expect-tour: ^io-sleep: coroutines [0-9.]+ s
 * expect-tour: ^cpu-sum: threads [0-9.]+ s
 * expect-tour: ^mixed: coroutines [0-9.]+ s \(cpu [0-9.]+ s, run 5 of 5\)$
 * expect-tour: ^When to use what, measured on this machine \([0-9]+ CPUs, --quick sizes; 5 runs of each
 * expect-tour: ^io-sleep: 20 tasks that each wait 20 ms; pools of 20 \(one per item: they wait\)$
 * expect-tour: ^  verdict: (coroutines|threads)
 * expect-tour: ^  why: the items wait
 * expect-tour: ^cpu-sum: 4 x summing 1000000 integers; pools of [0-9]+ \(one per core: no waits\)$
 * expect-tour: ^  verdict: [a-z]+
 * expect-tour: ^  why: 
 * expect-tour: ^The pools' sizes follow the work
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
