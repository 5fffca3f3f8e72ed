/*
 * weft-bench harness: runs one workload for weft and for its peers in the
 * same process run, interleaved (weft, peer, peer, weft, peer, ...) so that
 * noise from the rest of the machine hits every contender alike, and reports
 * the median and the minimum of the repeated runs.
 *
 * A benchmark is a table: a name, a unit, an operation count, and its
 * contenders. Contender 0 is always weft; every other one is a peer and gets
 * a ratio weft/peer (a time ratio: below 1 means weft is faster). One peer
 * may carry the target ratio from the issue.
 *
 * A benchmark may report a quantity instead of a time (`quantity`: peak
 * memory in MiB, say). Then every contender gives its figure in the
 * benchmark's unit, the ratio is still weft/peer and lower is still better.
 */
#ifndef WEFT_BENCH_HARNESS_H
#define WEFT_BENCH_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WB_MAX_CONTENDERS 8

/* Runs the workload with `n` as its size and returns the time per operation
 * in seconds, or a negative value if the workload failed (a wrong count, a
 * call that returned an error). In a quantity benchmark it returns the
 * figure in the benchmark's unit instead (wb_child_rss gives MiB). */
typedef double (*wb_run_fn)(long n);

typedef struct wb_contender {
    const char *name;       /* shown in the table: "weft_lock", "pthread_mutex" */
    wb_run_fn run;          /* a C workload, or NULL for a Python or Go peer */
    const char *py_script;  /* Python peer: script under bench/peers/ ... */
    const char *py_case;    /* ... and the workload name passed to it (also a Go peer's) */
    long py_n;              /* its size (Python is ~100x slower: a smaller n; a Go
                               peer takes the C workload's n when 0). In a
                               quantity benchmark a peer's figure for py_n is
                               scaled linearly to the benchmark's n. */
    const char *go_dir;     /* Go peer: a main package under bench/peers/go/, built
                               at bench time and run like a Python peer */
    double target;          /* a second target: weft/this at most (0: none) */
    const char *skip;       /* non-NULL: not run; the note says why */
    bool floor;             /* a lower bound shown for scale, not a rival */
} wb_contender;

typedef struct wb_bench {
    const char *name;       /* selected on the command line by this */
    const char *what;       /* one sentence: the workload */
    const char *unit;       /* "ns" or "us" per operation; a quantity's unit ("MiB") */
    bool quantity;          /* figures are amounts in `unit`, not times: C workloads
                               return them as they are, peers print them as they are
                               ("result MEDIAN MIN" in `unit`, not ns) */
    long n;                 /* size of one run of a C workload */
    int runs;               /* timed runs per contender (after one warm-up) */
    int target_peer;        /* index of the peer the target is against, 0 none */
    double target;          /* the target ratio weft/peer (at most) */
    wb_contender c[WB_MAX_CONTENDERS];
} wb_bench;

/* Time now, in seconds on the monotonic clock. */
double wb_now(void);

/* Spin until *flag is non-zero (threads of a workload start together). */
void wb_wait_flag(const int *flag);

/* Runs fn(n) in a forked child and returns the child's peak resident memory
 * growth while fn ran, in MiB: the high-water mark after fn (VmHWM, reset at
 * the start where the kernel allows it) minus the resident size before.
 * Nothing the workload allocates or leaves warm reaches the caller's
 * process. If `seconds` is not NULL it gets fn's own return value (the time
 * it measured, whatever part of the work it chose to time). Returns a
 * negative value if fn failed (returned < 0), the child died, or it ran
 * longer than the harness allows a benchmark. */
double wb_child_rss(wb_run_fn fn, long n, double *seconds);

/* The peers' tools, as the harness found them: "" when missing. */
const char *wb_python(void);
const char *wb_go(void);

/* Build the Go main package bench/peers/go/<go_dir> into a new temporary
 * directory (its build cache and GOPATH too, so nothing lands in the
 * user's home): the program is <dir>/peer. 0, or -1 with the reason in
 * `why`. wb_remove_dir removes such a directory. */
int wb_go_build(const char *go_dir, char *dir, size_t dirlen, char *why, size_t whylen);
void wb_remove_dir(const char *dir);

/* From a C workload: a note shown beside the current contender's figure
 * (round trips per second, latency percentiles); the last run's wins. */
void wb_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Each bench_*.c registers its benchmarks with WB_REGISTER(bench, order);
 * the report lists them by order (100s: locks and threads, 200s: queues and
 * executors, ...). No list to edit elsewhere. */
void wb_register(const wb_bench *b, int order);
#define WB_REGISTER(bench, order)                                              \
    __attribute__((constructor)) static void wb_register_##bench(void)         \
    {                                                                          \
        wb_register(&bench, order);                                            \
    }

#endif
