/*
 * The tour: I/O-bound, CPU-bound and mixed scenarios run with every model
 * weft has, measured on this machine, and the "when to use what" table
 * they make.
 *
 *   tour.c         the scenarios, the models, running and measuring them
 *   tour_python.c  the same scenarios in Python (tour.py), beside weft's
 *   progress.c     the progress line while it runs
 *   tour_report.c  the verdicts, the table; JSON, CSV and the chart
 */
#ifndef WEFT_TOOL_TOUR_H
#define WEFT_TOOL_TOUR_H

#include <stdbool.h>
#include <stdio.h>

enum { MODEL_SERIAL, MODEL_THREADS, MODEL_PROCESSES, MODEL_COROUTINES, NMODELS };

typedef enum scenario_kind { KIND_IO, KIND_CPU, KIND_MIXED } scenario_kind;

/* One measurement: a scenario run once with one model. */
typedef struct run_result {
    bool ok;
    double wall;   /* seconds */
    double cpu;    /* seconds of CPU, this process and its children */
    char error[96];
} run_result;

/* The runs of one model in one scenario, and what they add up to. */
#define TOUR_MAX_RUNS 7
typedef struct model_result {
    int nruns;
    run_result runs[TOUR_MAX_RUNS];
    bool ok;              /* every run ok */
    double median;        /* wall seconds, the median run */
    double min, max;      /* wall seconds: the spread */
    double cpu_median;    /* CPU seconds, the median */
    const char *error;    /* the first failed run's error, or NULL */
} model_result;

/* The verdict on a scenario, derived from its medians and ranges. The
 * winner has the least median. Its lead over the runner-up is within
 * noise when their ranges overlap or when the runner-up's median is less
 * than TOUR_NOISE_MARGIN above the winner's; otherwise it is real. */
#define TOUR_NOISE_MARGIN 0.10
typedef struct verdict {
    int winner;          /* the least median, or -1 */
    int runner_up;       /* the next least, or -1 */
    double margin;       /* the runner-up's median over the winner's (>= 1) */
    bool overlap;        /* their ranges overlap */
    bool within_noise;   /* overlap, or margin under 1 + TOUR_NOISE_MARGIN */
    char says[400];      /* the verdict in words */
    char why[400];       /* why the winner won, in words */
    char note[NMODELS][240]; /* what a model's figure means, or "" */
    bool spread_too_wide; /* the winner's or runner-up's max over TOUR_WIDE_SPREAD x its min */
} verdict;

/* A range whose max is more than this many times its min is too wide to
 * call a verdict on. */
#define TOUR_WIDE_SPREAD 2.0

/* The machine the tour runs on: its CPUs and how busy it was. */
typedef struct tour_machine_state {
    unsigned cpus;
    double load1;  /* the load average over the minute before the tour, or -1 */
    bool busy;     /* load1 at least the CPU count: other programs wanted every core */
} tour_machine_state;

const tour_machine_state *tour_machine(void);

typedef struct scenario {
    const char *name;      /* "io-sleep" */
    const char *title;     /* "100 tasks that each wait 100 ms" */
    scenario_kind kind;
    bool waits;            /* its items wait (a timer, a server) */
    int items;             /* how many items it runs */
    int workers;           /* the thread and process pools' size */
    double wait;           /* seconds an item waits (io-sleep, mixed) */
    unsigned long long work; /* terms an item sums, or bytes it hashes */
    model_result res[NMODELS];
    model_result py[NMODELS]; /* Python's runs (tour_python()->ran), models as python_model_names */
    verdict verdict;
} scenario;

extern const char *const model_names[NMODELS];

/* Python's models, in the order of weft's they stand beside: serial,
 * ThreadPoolExecutor, ProcessPoolExecutor, asyncio. */
extern const char *const python_model_names[NMODELS];

/* Python's CPU items sum or hash this many times fewer terms or bytes:
 * pure Python runs such loops some hundreds of times slower than C, and
 * the ratios to serial are what compare. */
#define TOUR_PYTHON_CPU_SCALE 20

/* Whether the tour ran beside Python, and which. */
typedef struct tour_python_state {
    bool ran;             /* every scenario has its Python runs */
    bool failed;          /* Python was there but its runs could not be read */
    char version[32];     /* "3.11.7" */
    char why_not[320];    /* why not, when !ran */
    int cpu_scale;        /* TOUR_PYTHON_CPU_SCALE */
} tour_python_state;

const tour_python_state *tour_python(void);
/* Run the scenarios in Python (tour.py) with the same items, pool sizes
 * and runs; the HTTP items go to the tour's server on port, the files are
 * in dir. Python's absence or a report it could not read is no error of
 * the tour's: it is said in tour_python()->why_not. */
int tour_python_run(scenario *s, int n, int nruns, int port, const char *dir);

/* The program `name` on PATH into buf, or false. */
bool tour_which(const char *name, char *buf, size_t len);

/* Run every scenario with every model, several times (the rounds take the
 * models in turn, so that a change in the machine's load reaches them
 * all); quick scales the work down to a few seconds in all. Fills each
 * scenario's results. */
int tour_run(scenario **out, int *n, bool quick);
/* Fill a model's median, spread and ok from its runs. */
void model_summarise(model_result *m);

/* The progress display: a line redrawn in place on a terminal, plain lines
 * otherwise. */
void progress_begin(int nscenarios, int nruns, bool tty);
void progress_step(int sc, const char *name, int model, int run, const run_result *r);
/* A Python run measured (tour_python.c). */
void progress_python(int sc, const char *name, int model, int run, const run_result *r);
void progress_end(void);
/* The terminal's width in columns when stdout is a terminal, else 0. */
int terminal_width(void);

/* The report. */
void report_table(FILE *f, const scenario *s, int n, bool quick);
int report_json(const char *path, const scenario *s, int n, bool quick);
int report_csv(const char *path, const scenario *s, int n);
/* The chart, as PNG (png) or SVG, drawn by gnuplot where it is installed
 * (WEFT_ENOTSUP otherwise). */
bool report_chart_possible(void);
int report_chart(const char *path, const scenario *s, int n, bool png);

/* The model that won a scenario (the least median wall time), or -1. */
int scenario_winner(const scenario *s);
/* Derive the scenario's verdict from its results. */
void scenario_judge(scenario *s);

#endif
