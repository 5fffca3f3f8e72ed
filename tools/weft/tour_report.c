/*
 * The tour's report: the "when to use what" table with advice, and the
 * same figures as JSON, CSV and an SVG chart (written by hand: bars of the
 * speed-up over serial, on a log scale, grouped by scenario).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <weft.h>

#include "tour.h"

static const char *const kind_names[] = {"io", "cpu", "mixed"};

int scenario_winner(const scenario *s)
{
    int best = -1;
    for (int m = 0; m < NMODELS; m++)
        if (s->res[m].ok && (best < 0 || s->res[m].median < s->res[best].median))
            best = m;
    return best;
}

/* Serial's median over this model's: above 1 the model was faster. */
static double speedup(const scenario *s, int m)
{
    const model_result *base = &s->res[MODEL_SERIAL], *r = &s->res[m];
    return base->ok && r->ok && r->median > 0 ? base->median / r->median : 0;
}

/* A ratio as a reader says it: "2.5x faster" or "2.5x slower" (never
 * "0.4x faster"), with enough digits that no ratio reads as 0 or 1 when
 * it is not. */
static const char *fmt_ratio(char *buf, size_t len, double ratio)
{
    if (ratio <= 0)
        return snprintf(buf, len, "-"), buf;
    bool faster = ratio >= 1;
    double r = faster ? ratio : 1 / ratio;
    if (r < 1.005)
        snprintf(buf, len, "the same");
    else
        snprintf(buf, len, r < 2 ? "%.2fx %s" : r < 10 ? "%.1fx %s" : "%.0fx %s", r,
                 faster ? "faster" : "slower");
    return buf;
}

/* Seconds in the unit that suits `scale`: s, ms or us. */
static const char *unit_of(double scale, double *mult)
{
    if (scale >= 1)
        return *mult = 1, "s";
    if (scale >= 1e-3)
        return *mult = 1e3, "ms";
    return *mult = 1e6, "us";
}

/* "12.3 ms (11.9..14.0)": a model's median wall time and its spread. */
static const char *fmt_spread(char *buf, size_t len, const model_result *r)
{
    double k;
    const char *unit = unit_of(r->median, &k);
    snprintf(buf, len, "%.3g %s (%.3g..%.3g)", r->median * k, unit, r->min * k, r->max * k);
    return buf;
}

static const char *fmt_time(char *buf, size_t len, double v)
{
    double k;
    const char *unit = unit_of(v, &k);
    snprintf(buf, len, "%.3g %s", v * k, unit);
    return buf;
}

void report_table(FILE *f, const scenario *s, int n, bool quick)
{
    fprintf(f, "\nWhen to use what, measured on this machine (%u CPUs%s; %d runs of each, "
               "the median and the range)\n",
            weft_cpu_count(), quick ? ", --quick sizes" : "", n ? s[0].res[0].nruns : 0);
    for (int i = 0; i < n; i++) {
        int win = scenario_winner(&s[i]);
        fprintf(f, "\n%s: %s; pools of %d (%s)\n", s[i].name, s[i].title, s[i].workers,
                s[i].waits ? "one per item: they wait" : "one per core: no waits");
        fprintf(f, "  %-11s %-28s %10s  %s\n", "model", "wall: median (min..max)", "cpu",
                "against serial");
        for (int m = 0; m < NMODELS; m++) {
            const model_result *r = &s[i].res[m];
            if (!r->ok) {
                fprintf(f, "  %-11s failed: %s\n", model_names[m], r->error ? r->error : "?");
                continue;
            }
            char spread[64], cpu[32], ratio[32];
            fprintf(f, "  %-11s %-28s %10s  %s%s\n", model_names[m],
                    fmt_spread(spread, sizeof spread, r), fmt_time(cpu, sizeof cpu, r->cpu_median),
                    m == MODEL_SERIAL ? "(the base)" : fmt_ratio(ratio, sizeof ratio, speedup(&s[i], m)),
                    m == win ? "  <- fastest" : "");
        }
        fprintf(f, "  advice: %s\n", s[i].advice);
        if (s[i].kind == KIND_CPU && s[i].res[MODEL_THREADS].ok) {
            char ratio[32];
            fprintf(f,
                    "  unlike Python: its GIL keeps CPU-bound threads near 1x; C threads ran "
                    "%s than serial here.\n",
                    fmt_ratio(ratio, sizeof ratio, speedup(&s[i], MODEL_THREADS)));
        }
    }
    fprintf(f, "\nThe pools' sizes follow the work: for items that wait, one worker per item "
               "(the concurrency of the work); for items that do not, one per core (%u). "
               "Processes start by fork; coroutines run on one loop, and hand CPU work and file "
               "reads to the default thread pool (to_thread).\n",
            weft_cpu_count());
}

/* A JSON string: the texts are ours, but escape what JSON requires. */
static void json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            fprintf(f, "\\%c", *s);
        else if ((unsigned char)*s < 0x20)
            fprintf(f, "\\u%04x", *s);
        else
            fputc(*s, f);
    }
    fputc('"', f);
}

static FILE *open_out(const char *path)
{
    return strcmp(path, "-") == 0 ? stdout : fopen(path, "w");
}

static int close_out(FILE *f)
{
    if (f == stdout)
        return fflush(f) == 0 ? 0 : WEFT_EACCES;
    return fclose(f) == 0 ? 0 : WEFT_EACCES;
}

int report_json(const char *path, const scenario *s, int n, bool quick)
{
    FILE *f = open_out(path);
    if (!f)
        return WEFT_EACCES;
    fprintf(f, "{\"weft\": \"%s\", \"cpus\": %u, \"quick\": %s, \"scenarios\": [", WEFT_VERSION_STRING,
            weft_cpu_count(), quick ? "true" : "false");
    for (int i = 0; i < n; i++) {
        int win = scenario_winner(&s[i]);
        fprintf(f, "%s\n  {\"name\": ", i ? "," : "");
        json_str(f, s[i].name);
        fprintf(f, ", \"title\": ");
        json_str(f, s[i].title);
        fprintf(f, ", \"kind\": \"%s\", \"waits\": %s, \"items\": %d, \"workers\": %d, "
                   "\"winner\": ",
                kind_names[s[i].kind], s[i].waits ? "true" : "false", s[i].items, s[i].workers);
        if (win >= 0)
            json_str(f, model_names[win]);
        else
            fprintf(f, "null");
        fprintf(f, ", \"advice\": ");
        json_str(f, s[i].advice);
        fprintf(f, ", \"results\": [");
        for (int m = 0; m < NMODELS; m++) {
            const model_result *r = &s[i].res[m];
            fprintf(f, "%s\n    {\"model\": \"%s\", \"ok\": %s, \"median_s\": %.6g, "
                       "\"min_s\": %.6g, \"max_s\": %.6g, \"cpu_median_s\": %.6g, "
                       "\"speedup\": %.6g",
                    m ? "," : "", model_names[m], r->ok ? "true" : "false", r->median, r->min,
                    r->max, r->cpu_median, speedup(&s[i], m));
            if (r->error) {
                fprintf(f, ", \"error\": ");
                json_str(f, r->error);
            }
            fprintf(f, ", \"runs\": [");
            for (int k = 0; k < r->nruns; k++)
                fprintf(f, "%s{\"ok\": %s, \"wall_s\": %.6g, \"cpu_s\": %.6g}", k ? ", " : "",
                        r->runs[k].ok ? "true" : "false", r->runs[k].wall, r->runs[k].cpu);
            fprintf(f, "]}");
        }
        fprintf(f, "]}");
    }
    fprintf(f, "\n]}\n");
    return close_out(f);
}

int report_csv(const char *path, const scenario *s, int n)
{
    FILE *f = open_out(path);
    if (!f)
        return WEFT_EACCES;
    /* A line per run; each carries its model's median and spread and its
     * scenario's verdict, so that one table holds everything. */
    fprintf(f, "scenario,kind,model,run,ok,wall_s,cpu_s,median_s,min_s,max_s,speedup,winner\n");
    for (int i = 0; i < n; i++) {
        int win = scenario_winner(&s[i]);
        for (int m = 0; m < NMODELS; m++) {
            const model_result *r = &s[i].res[m];
            for (int k = 0; k < r->nruns; k++)
                fprintf(f, "%s,%s,%s,%d,%d,%.6g,%.6g,%.6g,%.6g,%.6g,%.6g,%s\n", s[i].name,
                        kind_names[s[i].kind], model_names[m], k + 1, r->runs[k].ok,
                        r->runs[k].wall, r->runs[k].cpu, r->median, r->min, r->max,
                        speedup(&s[i], m), win >= 0 ? model_names[win] : "");
        }
    }
    return close_out(f);
}

/* ------------------------------------------------------------ SVG */

#define W 900
#define H 420
#define LEFT 70
#define RIGHT 20
#define TOP 50
#define BOTTOM 80

static const char *const colours[NMODELS] = {"#8c8c8c", "#1f77b4", "#d62728", "#2ca02c"};

/* Speed-ups from 0.1x to 1000x on a log scale. */
static double y_of(double v)
{
    double lo = -1, hi = 3;
    double l = log10(v < 0.1 ? 0.1 : v > 1000 ? 1000 : v);
    return TOP + (H - TOP - BOTTOM) * (hi - l) / (hi - lo);
}

int report_svg(const char *path, const scenario *s, int n)
{
    FILE *f = open_out(path);
    if (!f)
        return WEFT_EACCES;
    fprintf(f,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
            "viewBox=\"0 0 %d %d\" font-family=\"sans-serif\" font-size=\"12\">\n"
            "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n"
            "<text x=\"%d\" y=\"24\" font-size=\"16\">weft tour: speed-up over serial "
            "(log scale), %u CPUs</text>\n",
            W, H, W, H, LEFT, weft_cpu_count());
    /* The axis and its ticks. */
    for (double t = 0.1; t <= 1000; t *= 10) {
        double y = y_of(t);
        fprintf(f,
                "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"%s\"/>\n"
                "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%gx</text>\n",
                LEFT, y, W - RIGHT, y, t == 1 ? "black" : "#dddddd", LEFT - 6, y + 4, t);
    }
    fprintf(f, "<text x=\"16\" y=\"%d\" transform=\"rotate(-90 16 %d)\" text-anchor=\"middle\">"
               "speed-up over serial</text>\n",
            (TOP + H - BOTTOM) / 2, (TOP + H - BOTTOM) / 2);
    double group = (double)(W - LEFT - RIGHT) / (n ? n : 1), bar = group / (NMODELS + 1);
    for (int i = 0; i < n; i++) {
        double x0 = LEFT + group * i + bar / 2;
        for (int m = 0; m < NMODELS; m++) {
            double v = speedup(&s[i], m);
            if (v <= 0)
                continue;
            double y = y_of(v), base = y_of(0.1);
            fprintf(f,
                    "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\">"
                    "<title>%s, %s: %.2fx</title></rect>\n",
                    x0 + bar * m, y, bar * 0.9, base - y, colours[m], s[i].name, model_names[m], v);
        }
        fprintf(f, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%s</text>\n",
                LEFT + group * i + group / 2, H - BOTTOM + 18, s[i].name);
    }
    /* The legend. */
    for (int m = 0; m < NMODELS; m++) {
        int x = LEFT + m * 150, y = H - 30;
        fprintf(f,
                "<rect x=\"%d\" y=\"%d\" width=\"14\" height=\"14\" fill=\"%s\"/>\n"
                "<text x=\"%d\" y=\"%d\">%s</text>\n",
                x, y - 11, colours[m], x + 20, y, model_names[m]);
    }
    fprintf(f, "</svg>\n");
    return close_out(f);
}

/* ------------------------------------------------------------ PNG */

/* gnuplot on PATH, or NULL. */
static const char *gnuplot_path(void)
{
    static char buf[512];
    const char *path = getenv("PATH");
    while (path && *path) {
        const char *end = strchr(path, ':');
        size_t len = end ? (size_t)(end - path) : strlen(path);
        snprintf(buf, sizeof buf, "%.*s/gnuplot", (int)len, path);
        if (len && access(buf, X_OK) == 0)
            return buf;
        path = end ? end + 1 : NULL;
    }
    return NULL;
}

bool report_png_possible(void)
{
    return gnuplot_path() != NULL;
}

/* The same chart as the SVG, drawn by gnuplot: a data file and a script
 * in a temporary directory, then one gnuplot run. */
int report_png(const char *path, const scenario *s, int n)
{
    const char *gp = gnuplot_path();
    if (!gp)
        return WEFT_ENOTSUP;
    char dir[] = "/tmp/weft-plot-XXXXXX", data[64], script[64];
    if (!mkdtemp(dir))
        return WEFT_EACCES;
    snprintf(data, sizeof data, "%s/tour.dat", dir);
    snprintf(script, sizeof script, "%s/tour.gp", dir);
    FILE *d = fopen(data, "w"), *g = fopen(script, "w");
    int rc = d && g ? 0 : WEFT_EACCES;
    if (!rc) {
        fprintf(d, "scenario");
        for (int m = 0; m < NMODELS; m++)
            fprintf(d, " %s", model_names[m]);
        fputc('\n', d);
        for (int i = 0; i < n; i++) {
            fprintf(d, "%s", s[i].name);
            for (int m = 0; m < NMODELS; m++) {
                double v = speedup(&s[i], m);
                fprintf(d, " %.4f", v > 0 ? v : 0.1);
            }
            fputc('\n', d);
        }
        fprintf(g,
                "set terminal pngcairo size 900,420 noenhanced\n"
                "set output '%s'\n"
                "set title 'weft tour: speed-up over serial (log scale), %u CPUs'\n"
                "set style data histograms\nset style histogram clustered\n"
                "set style fill solid\nset logscale y\nset yrange [0.1:1000]\n"
                "set ylabel 'speed-up over serial'\nset key top right\n"
                "plot for [c=2:%d] '%s' using c:xtic(1) title columnheader\n",
                path, weft_cpu_count(), NMODELS + 1, data);
    }
    if (d)
        fclose(d);
    if (g)
        fclose(g);
    if (!rc) {
        char cmd[1200];
        snprintf(cmd, sizeof cmd, "'%s' '%s' 2>&1", gp, script);
        rc = system(cmd) == 0 && access(path, R_OK) == 0 ? 0 : WEFT_EINVAL;
    }
    unlink(data);
    unlink(script);
    rmdir(dir);
    return rc;
}
