/*
 * The tour's progress display. On a terminal one line is redrawn in place
 * (carriage return, erase to the end): a bar per scenario, filling as its
 * runs are measured, the time since the tour began, and the run going on
 * now. A ticker thread redraws it twice a second, so that a long run (ten
 * seconds of serial waits) shows its time passing instead of looking
 * hung; the line is cut to the terminal's width, since a line that wraps
 * cannot be redrawn in place. Elsewhere (a pipe, a file, a test) each
 * measurement is a plain line of its own.
 *
 * Lock: `lock` guards the state below and the drawing; the tour's thread
 * and the ticker both draw under it.
 */
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <weft.h>

#include "tour.h"

enum { MAX_SCENARIOS = 16 };

static int nscen, nruns;
static bool tty;
static bool python;             /* the runs going on are Python's */
static int done[MAX_SCENARIOS]; /* runs measured, per scenario, all models */
static double started;          /* weft_monotonic() at progress_begin */
static struct {
    int sc, run;                /* the run going on now; sc -1: none */
    const char *name, *model;
} now = {-1, 0, NULL, NULL};

static weft_lock lock = WEFT_LOCK_INIT;
static weft_event stop;
static weft_thread *ticker;

int terminal_width(void)
{
    struct winsize ws;
    if (!isatty(STDOUT_FILENO) || ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) != 0 || ws.ws_col == 0)
        return 0;
    return ws.ws_col;
}

/* Under lock. */
static void draw(void)
{
    if (now.sc < 0)
        return;
    char line[512];
    size_t k = 0;
    for (int s = 0; s < nscen && k + NMODELS + 2 < sizeof line; s++) {
        /* One mark per model's worth of runs. */
        int marks = done[s] / (nruns ? nruns : 1);
        line[k++] = '[';
        for (int m = 0; m < NMODELS; m++)
            line[k++] = m < marks ? '#' : s == now.sc && m == marks ? '>' : '.';
        line[k++] = ']';
    }
    snprintf(line + k, sizeof line - k, " %.1f s  %s%s: %s, run %d of %d ...",
             weft_monotonic() - started, python ? "Python " : "", now.name, now.model,
             now.run + 1, nruns);
    int width = terminal_width();
    if (width > 1 && strlen(line) >= (size_t)width)
        line[width - 1] = 0;
    fputs("\r\033[K", stdout);
    fputs(line, stdout);
    fflush(stdout);
}

static void *tick(void *arg)
{
    (void)arg;
    while (weft_event_wait(&stop, 0.5) == WEFT_ETIMEDOUT) {
        weft_lock_acquire(&lock, WEFT_FOREVER);
        draw();
        weft_lock_release(&lock);
    }
    return NULL;
}

void progress_begin(int nscenarios, int runs, bool is_tty)
{
    nscen = nscenarios < MAX_SCENARIOS ? nscenarios : MAX_SCENARIOS;
    nruns = runs;
    tty = is_tty;
    for (int i = 0; i < MAX_SCENARIOS; i++)
        done[i] = 0;
    now.sc = -1;
    python = false;
    started = weft_monotonic();
    if (!tty)
        return;
    /* Without a ticker the line is still redrawn at every step. */
    weft_event_init(&stop);
    if (weft_thread_new(&ticker, tick, NULL, NULL) == 0 && weft_thread_start(ticker) != 0) {
        weft_thread_unref(ticker);
        ticker = NULL;
    }
}

/* A run about to start (r NULL) or measured, of weft's models or, once
 * those are done, Python's. */
static void step(bool py, int sc, const char *name, const char *model, int run,
                 const run_result *r)
{
    if (sc < 0 || sc >= nscen)
        return;
    weft_lock_acquire(&lock, WEFT_FOREVER);
    python = py;
    now.sc = sc, now.name = name, now.model = model, now.run = run;
    if (r && !py)
        done[sc]++;
    if (tty)
        draw();
    weft_lock_release(&lock);
    if (tty || !r)
        return;
    const char *lead = py ? "Python " : "";
    if (r->ok)
        printf("%s%s: %s %.3f s (cpu %.3f s, run %d of %d)\n", lead, name, model, r->wall,
               r->cpu, run + 1, nruns);
    else
        printf("%s%s: %s failed: %s (run %d of %d)\n", lead, name, model, r->error, run + 1,
               nruns);
    fflush(stdout);
}

void progress_step(int sc, const char *name, int model, int run, const run_result *r)
{
    step(false, sc, name, model_names[model], run, r);
}

void progress_python(int sc, const char *name, int model, int run, const run_result *r)
{
    step(true, sc, name, python_model_names[model], run, r);
}

void progress_end(void)
{
    if (!tty)
        return;
    if (ticker) {
        weft_event_set(&stop);
        weft_thread_join(ticker, WEFT_FOREVER);
        weft_thread_unref(ticker);
        ticker = NULL;
    }
    weft_event_destroy(&stop);
    fputs("\r\033[K", stdout);
    fflush(stdout);
}
