/*
 * The tour's progress display. On a terminal one line is redrawn in place
 * (carriage return, erase to the end): a bar per scenario, filling as its
 * runs are measured, and the run going on now. Elsewhere (a pipe, a file,
 * a test) each measurement is a plain line of its own.
 */
#include <stdio.h>

#include "tour.h"

enum { MAX_SCENARIOS = 16 };

static int nscen, nruns;
static bool tty;
static int done[MAX_SCENARIOS]; /* runs measured, per scenario, all models */

void progress_begin(int nscenarios, int runs, bool is_tty)
{
    nscen = nscenarios < MAX_SCENARIOS ? nscenarios : MAX_SCENARIOS;
    nruns = runs;
    tty = is_tty;
    for (int i = 0; i < MAX_SCENARIOS; i++)
        done[i] = 0;
}

static void draw(int sc, const char *name, int model, int run)
{
    fputs("\r\033[K", stdout);
    for (int s = 0; s < nscen; s++) {
        /* One mark per model's worth of runs. */
        int marks = done[s] / (nruns ? nruns : 1);
        putchar('[');
        for (int m = 0; m < NMODELS; m++)
            putchar(m < marks ? '#' : s == sc && m == marks ? '>' : '.');
        putchar(']');
    }
    printf(" %s: %s, run %d of %d ...", name, model_names[model], run + 1, nruns);
    fflush(stdout);
}

void progress_step(int sc, const char *name, int model, int run, const run_result *r)
{
    if (sc < 0 || sc >= nscen)
        return;
    if (!r) {
        if (tty)
            draw(sc, name, model, run);
        return;
    }
    done[sc]++;
    if (tty) {
        draw(sc, name, model, run);
        return;
    }
    if (r->ok)
        printf("%s: %s %.3f s (cpu %.3f s, run %d of %d)\n", name, model_names[model], r->wall,
               r->cpu, run + 1, nruns);
    else
        printf("%s: %s failed: %s (run %d of %d)\n", name, model_names[model], r->error, run + 1,
               nruns);
    fflush(stdout);
}

void progress_end(void)
{
    if (tty) {
        fputs("\r\033[K", stdout);
        fflush(stdout);
    }
}
