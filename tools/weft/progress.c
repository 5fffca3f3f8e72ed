/*
 * The tour's progress display. On a terminal one line is redrawn in place
 * (carriage return, erase to the end): a bar per scenario, filling as its
 * models are measured, and the model running now. Elsewhere (a pipe, a
 * file, a test) each measurement is a plain line of its own.
 */
#include <stdio.h>

#include "tour.h"

static int nscen;
static bool tty;
static int done[16]; /* models measured, per scenario */

void progress_begin(int nscenarios, bool is_tty)
{
    nscen = nscenarios < 16 ? nscenarios : 16;
    tty = is_tty;
    for (int i = 0; i < 16; i++)
        done[i] = 0;
}

static void draw(int sc, const char *name, int model)
{
    fputs("\r\033[K", stdout);
    for (int s = 0; s < nscen; s++) {
        putchar('[');
        for (int m = 0; m < NMODELS; m++)
            putchar(m < done[s] ? '#' : s == sc && m == model ? '>' : '.');
        putchar(']');
    }
    printf(" %s: %s ...", name, model_names[model]);
    fflush(stdout);
}

void progress_step(int sc, const char *name, int model, const run_result *r)
{
    if (sc < 0 || sc >= nscen)
        return;
    if (!r) {
        if (tty)
            draw(sc, name, model);
        return;
    }
    done[sc] = model + 1;
    if (tty) {
        draw(sc, name, model);
        return;
    }
    if (r->ok)
        printf("%s: %s %.3f s (cpu %.3f s)\n", name, model_names[model], r->wall, r->cpu);
    else
        printf("%s: %s failed: %s\n", name, model_names[model], r->error);
    fflush(stdout);
}

void progress_end(void)
{
    if (tty) {
        fputs("\r\033[K", stdout);
        fflush(stdout);
    }
}
