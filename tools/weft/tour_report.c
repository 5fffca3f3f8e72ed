/*
 * The tour's report: each scenario's verdict, derived from its figures;
 * the "when to use what" table that shows both, with Python's figures
 * beside weft's where Python ran (and a sentence on what they say); the
 * same as JSON and CSV; the chart, SVG or PNG, drawn by gnuplot.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <weft.h>

#include "tour.h"

static const char *const kind_names[] = {"io", "cpu", "mixed"};

static int fastest_of(const model_result *res);

int scenario_winner(const scenario *s)
{
    return fastest_of(s->res);
}

/* Serial's median over this model's, among weft's results or Python's
 * (res): above 1 the model was faster. */
static double ratio_to_serial(const model_result *res, int m)
{
    const model_result *base = &res[MODEL_SERIAL], *r = &res[m];
    return base->ok && r->ok && r->median > 0 ? base->median / r->median : 0;
}

static double speedup(const scenario *s, int m)
{
    return ratio_to_serial(s->res, m);
}

/* The least median among res, or -1. */
static int fastest_of(const model_result *res)
{
    int best = -1;
    for (int m = 0; m < NMODELS; m++)
        if (res[m].ok && (best < 0 || res[m].median < res[best].median))
            best = m;
    return best;
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

/* Three significant digits or so, never an exponent: 1060, 106, 10.6, 1.06. */
static const char *fmt_num(char *buf, size_t len, double v)
{
    snprintf(buf, len, v >= 100 ? "%.0f" : v >= 10 ? "%.1f" : "%.2f", v);
    return buf;
}

/* "12.3 ms (11.9..14.0)": a model's median wall time and its spread. */
static const char *fmt_spread(char *buf, size_t len, const model_result *r)
{
    double k;
    const char *unit = unit_of(r->median, &k);
    char a[24], b[24], c[24];
    snprintf(buf, len, "%s %s (%s..%s)", fmt_num(a, sizeof a, r->median * k), unit,
             fmt_num(b, sizeof b, r->min * k), fmt_num(c, sizeof c, r->max * k));
    return buf;
}

static const char *fmt_time(char *buf, size_t len, double v)
{
    double k;
    const char *unit = unit_of(v, &k);
    char a[24];
    snprintf(buf, len, "%s %s", fmt_num(a, sizeof a, v * k), unit);
    return buf;
}

/* ---------------------------------------------------------- verdict */

/* Whether model a's lead over model b (a's median the lower) is within
 * noise: the rule of TOUR_NOISE_MARGIN in tour.h. */
static bool within_noise(const model_result *a, const model_result *b, bool *overlap,
                         double *margin)
{
    *overlap = a->max >= b->min && b->max >= a->min;
    *margin = a->median > 0 ? b->median / a->median : 1;
    return *overlap || *margin < 1 + TOUR_NOISE_MARGIN;
}

/* An item shorter than this (seconds) costs less than a hand-off to a
 * thread or a process and back: a few microseconds each way. */
#define SHORT_ITEM 50e-6

/* Why the winner won, in the words of a Python programmer. */
static void explain_winner(const scenario *s, int w, char *buf, size_t len)
{
    unsigned cpus = weft_cpu_count();
    char t[32];
    bool overlap;
    double margin;
    /* Work without waits that gained nothing measurable over serial is
     * explained as serial's win: spreading it did not pay. */
    if (w != MODEL_SERIAL && !s->waits && s->res[MODEL_SERIAL].ok &&
        within_noise(&s->res[w], &s->res[MODEL_SERIAL], &overlap, &margin))
        w = MODEL_SERIAL;
    switch (w) {
    case MODEL_SERIAL: {
        double each = s->res[MODEL_SERIAL].median / s->items;
        if (each < SHORT_ITEM)
            snprintf(buf, len,
                     "each item takes about %s on its own (serial's median over %d items): less "
                     "than handing it to a thread, a process or the loop costs, so spreading the "
                     "items does not pay. In Python too, a pool does not pay for work this small.",
                     fmt_time(t, sizeof t, each), s->items);
        else
            snprintf(buf, len,
                     "the items take about %s each, and spreading them over the cores did not pay: "
                     "the other models' start-up and hand-offs cost what the other cores gave%s.",
                     fmt_time(t, sizeof t, each),
                     tour_machine()->busy ? ", which other programs kept busy" : "");
        break;
    }
    case MODEL_THREADS:
        if (s->waits)
            snprintf(buf, len,
                     "the items wait, and the pool's %d threads wait at the same time, as a "
                     "ThreadPoolExecutor's do; a waiting thread costs only its stack%s.",
                     s->workers,
                     s->kind == KIND_MIXED ? ", and the CPU steps run on every core (C has no GIL)"
                                           : "");
        else
            snprintf(buf, len,
                     "the work is CPU-bound, and C threads have no GIL: the pool's %d threads ran "
                     "on the %u cores at once. Python's threads would not; Python needs processes "
                     "for this.",
                     s->workers, cpus);
        break;
    case MODEL_PROCESSES:
        snprintf(buf, len,
                 "each item is long enough to repay starting %d worker processes and copying its "
                 "argument and result to and fro (pickling them, in Python)%s.",
                 s->workers, s->waits ? "" : "; the processes ran on every core");
        break;
    case MODEL_COROUTINES:
        if (s->waits)
            snprintf(buf, len,
                     "the items wait, and one loop waits for all %d at once, as asyncio does, "
                     "with no thread per wait%s.",
                     s->items,
                     s->kind == KIND_MIXED ? "; the CPU steps go to threads through to_thread, "
                                             "as with asyncio.to_thread"
                                           : "");
        else
            snprintf(buf, len,
                     "the loop hands each item to the default thread pool (to_thread), so the "
                     "work ran on threads, on every core, as it does with the thread pool: "
                     "what separates the two here is their pools' sizes and noise.");
        break;
    default:
        snprintf(buf, len, "?");
    }
}

/* What a model's figure means, where it says something: the cost that
 * made it slower than serial, or C threads' lead on CPU-bound work. */
static void explain_model(const scenario *s, int m, char *buf, size_t len)
{
    const model_result *base = &s->res[MODEL_SERIAL], *r = &s->res[m];
    buf[0] = 0;
    if (m == MODEL_SERIAL || !r->ok || !base->ok)
        return;
    bool overlap;
    double margin;
    bool faster = r->median < base->median;
    if (faster ? within_noise(r, base, &overlap, &margin) : within_noise(base, r, &overlap, &margin))
        return;
    char ratio[32];
    fmt_ratio(ratio, sizeof ratio, speedup(s, m));
    if (faster) {
        if (m == MODEL_THREADS && s->kind == KIND_CPU)
            snprintf(buf, len,
                     "threads ran %s than serial: CPU-bound C threads share the cores, with no "
                     "GIL to take turns on (Python's threads would not gain here).",
                     ratio);
        return;
    }
    switch (m) {
    case MODEL_THREADS:
        snprintf(buf, len,
                 "threads ran %s than serial: each item is too short to repay handing it to a "
                 "pool thread and taking its result back.",
                 ratio);
        break;
    case MODEL_PROCESSES:
        snprintf(buf, len,
                 "processes ran %s than serial: starting %d worker processes and copying every "
                 "item's argument and result (pickling, in Python) cost more than they saved.",
                 ratio, s->workers);
        break;
    case MODEL_COROUTINES:
        snprintf(buf, len,
                 "coroutines ran %s than serial: each item goes to a thread and back through "
                 "to_thread, which costs more than the item itself.",
                 ratio);
        break;
    }
}

void scenario_judge(scenario *s)
{
    verdict *v = &s->verdict;
    memset(v, 0, sizeof *v);
    v->winner = scenario_winner(s);
    v->runner_up = -1;
    for (int m = 0; m < NMODELS; m++)
        if (m != v->winner && s->res[m].ok &&
            (v->runner_up < 0 || s->res[m].median < s->res[v->runner_up].median))
            v->runner_up = m;
    for (int m = 0; m < NMODELS; m++)
        explain_model(s, m, v->note[m], sizeof v->note[m]);
    int w = v->winner, r = v->runner_up;
    if (w < 0) {
        snprintf(v->says, sizeof v->says, "no model ran without an error");
        return;
    }
    explain_winner(s, w, v->why, sizeof v->why);
    if (r < 0) {
        snprintf(v->says, sizeof v->says, "%s, the only model that ran without an error",
                 model_names[w]);
        return;
    }
    v->within_noise = within_noise(&s->res[w], &s->res[r], &v->overlap, &v->margin);
    const model_result *wide = NULL;
    for (int k = 0; k < 2 && !wide; k++) {
        const model_result *mr = &s->res[k ? r : w];
        if (mr->max > TOUR_WIDE_SPREAD * mr->min)
            wide = mr;
    }
    v->spread_too_wide = wide != NULL;
    char ratio[32];
    fmt_ratio(ratio, sizeof ratio, v->margin);
    if (!v->within_noise)
        snprintf(v->says, sizeof v->says,
                 "%s, %s than %s, the next best: a real difference (their ranges do not overlap, "
                 "and the medians are %.0f%% apart, not under the %.0f%% the tour counts as "
                 "noise).",
                 model_names[w], ratio, model_names[r], (v->margin - 1) * 100,
                 TOUR_NOISE_MARGIN * 100);
    else if (v->overlap)
        snprintf(v->says, sizeof v->says,
                 "%s and %s, within noise: %s has the lower median, by %.*f%%, but their ranges "
                 "overlap.",
                 model_names[w], model_names[r], model_names[w], v->margin < 1.1 ? 1 : 0,
                 (v->margin - 1) * 100);
    else
        snprintf(v->says, sizeof v->says,
                 "%s and %s, within noise: their medians are %.0f%% apart, under the %.0f%% the "
                 "tour counts as noise.",
                 model_names[w], model_names[r], (v->margin - 1) * 100, TOUR_NOISE_MARGIN * 100);
    if (wide) {
        size_t used = strlen(v->says);
        char a[32], b[32];
        snprintf(v->says + used, sizeof v->says - used,
                 " The runs of %s spread from %s to %s, more than %gx: too wide to call; run "
                 "the tour again when the machine is quieter.",
                 model_names[wide == &s->res[w] ? w : r], fmt_time(a, sizeof a, wide->min),
                 fmt_time(b, sizeof b, wide->max), TOUR_WIDE_SPREAD);
    }
}

/* ------------------------------------------------------------ table */

/* A model's ratio to its side's serial, "(the base)" for serial, with a
 * star on its side's fastest. */
static const char *marked(char *buf, size_t len, const model_result *res, int m, int fastest)
{
    char ratio[32];
    const char *against = m == MODEL_SERIAL ? "(the base)"
                                            : fmt_ratio(ratio, sizeof ratio, ratio_to_serial(res, m));
    snprintf(buf, len, "%s%s", against, m == fastest ? " *" : "");
    return buf;
}

/* What Python's columns say, in a sentence, or false when there are
 * none: its fastest model and each model's ratio to Python's serial; on
 * CPU-bound work where its threads gained nothing beyond noise, the GIL,
 * which the figures have just shown. */
static bool python_says(const scenario *s, char *buf, size_t len)
{
    int w = fastest_of(s->py);
    if (!tour_python()->ran || w < 0)
        return false;
    char a[32], b[32], c[32], lead[96] = "";
    if (w != MODEL_SERIAL)
        snprintf(lead, sizeof lead, " (%s than Python's serial)",
                 fmt_ratio(a, sizeof a, ratio_to_serial(s->py, w)));
    size_t k = (size_t)snprintf(buf, len, "%s was the fastest%s; against Python's serial, threads "
                                         "ran %s, processes %s, asyncio %s.",
                                python_model_names[w], lead,
                                fmt_ratio(a, sizeof a, ratio_to_serial(s->py, MODEL_THREADS)),
                                fmt_ratio(b, sizeof b, ratio_to_serial(s->py, MODEL_PROCESSES)),
                                fmt_ratio(c, sizeof c, ratio_to_serial(s->py, MODEL_COROUTINES)));
    const model_result *t = &s->py[MODEL_THREADS], *base = &s->py[MODEL_SERIAL];
    bool overlap;
    double margin;
    if (s->kind == KIND_CPU && k < len && t->ok && base->ok &&
        (t->median >= base->median || within_noise(t, base, &overlap, &margin)))
        snprintf(buf + k, len - k,
                 " Python's threads gained nothing on this CPU-bound work: they take turns "
                 "holding the GIL, so one runs at a time; weft's C threads have no GIL.");
    return true;
}

/* `lead` then `text`, wrapped at word boundaries to `width` columns, the
 * lines after the first indented by `hang`; width 0 (not a terminal):
 * one line, whole, for whatever reads it. */
static void print_wrapped(FILE *f, int width, const char *lead, int hang, const char *text)
{
    fputs(lead, f);
    if (width <= 0) {
        fprintf(f, "%s\n", text);
        return;
    }
    const char *last_line = strrchr(lead, '\n');
    int col = (int)strlen(last_line ? last_line + 1 : lead);
    bool line_empty = true;
    for (const char *p = text; *p;) {
        while (*p == ' ')
            p++;
        const char *end = p;
        while (*end && *end != ' ')
            end++;
        int len = (int)(end - p);
        if (!len)
            break;
        if (!line_empty && col + 1 + len > width) {
            fprintf(f, "\n%*s", hang, "");
            col = hang;
            line_empty = true;
        }
        if (!line_empty)
            fputc(' ', f), col++;
        fwrite(p, 1, (size_t)len, f);
        col += len;
        line_empty = false;
        p = end;
    }
    fputc('\n', f);
}

void report_table(FILE *f, const scenario *s, int n, bool quick)
{
    int width = f == stdout ? terminal_width() : 0;
    char text[400];
    snprintf(text, sizeof text,
             "When to use what, measured on this machine (%u CPUs%s; %d runs of each, the median "
             "and the range)",
             weft_cpu_count(), quick ? ", --quick sizes" : "", n ? s[0].res[0].nruns : 0);
    print_wrapped(f, width, "\n", 0, text);
    const tour_machine_state *mach = tour_machine();
    if (mach->busy) {
        snprintf(text, sizeof text,
                 "The machine was busy: a load average of %.2f on %u CPUs in the minute before "
                 "the tour. Other programs took CPU time, so work spread over the cores gained "
                 "less than it would on a quiet machine, and the runs spread wider.",
                 mach->load1, mach->cpus);
        print_wrapped(f, width, "", 0, text);
    }
    for (int i = 0; i < n; i++) {
        int win = scenario_winner(&s[i]);
        snprintf(text, sizeof text, "%s: %s; pools of %d (%s)", s[i].name, s[i].title,
                 s[i].workers, s[i].waits ? "one per item: they wait" : "one per core: no waits");
        print_wrapped(f, width, "\n", 2, text);
        bool py = tour_python()->ran;
        if (py)
            fprintf(f, "  %-11s %-26s %9s  %-16s | %s\n", "model", "weft: median (min..max)",
                    "cpu", "against serial", "Python: median (min..max)   against serial");
        else
            fprintf(f, "  %-11s %-26s %9s  %s\n", "model", "wall: median (min..max)", "cpu",
                    "against serial");
        int py_win = fastest_of(s[i].py);
        for (int m = 0; m < NMODELS; m++) {
            const model_result *r = &s[i].res[m];
            char spread[96], cpu[32], ratio[40], weft_part[160];
            if (!r->ok)
                snprintf(weft_part, sizeof weft_part, "failed: %.60s", r->error ? r->error : "?");
            else
                snprintf(weft_part, sizeof weft_part, "%-26s %9s  %-16s",
                         fmt_spread(spread, sizeof spread, r),
                         fmt_time(cpu, sizeof cpu, r->cpu_median),
                         marked(ratio, sizeof ratio, s[i].res, m, win));
            if (!py) {
                size_t end = strlen(weft_part);
                while (end && weft_part[end - 1] == ' ')
                    weft_part[--end] = 0;
                fprintf(f, "  %-11s %s\n", model_names[m], weft_part);
                continue;
            }
            const model_result *p = &s[i].py[m];
            char py_part[160];
            if (!p->ok)
                snprintf(py_part, sizeof py_part, "%s failed: %.60s", python_model_names[m],
                         p->error ? p->error : "?");
            else
                snprintf(py_part, sizeof py_part, "%-26s  %s", fmt_spread(spread, sizeof spread, p),
                         marked(ratio, sizeof ratio, s[i].py, m, py_win));
            fprintf(f, "  %-11s %-55s| %s\n", model_names[m], weft_part, py_part);
        }
        const verdict *v = &s[i].verdict;
        print_wrapped(f, width, "  verdict: ", 4, v->says);
        if (v->why[0])
            print_wrapped(f, width, "  why: ", 4, v->why);
        for (int m = 0; m < NMODELS; m++)
            if (v->note[m][0])
                print_wrapped(f, width, "  note: ", 4, v->note[m]);
        if (python_says(&s[i], text, sizeof text))
            print_wrapped(f, width, "  in Python: ", 4, text);
    }
    char foot[400];
    snprintf(foot, sizeof foot,
             "The pools' sizes follow the work: for items that wait, one worker per item (the "
             "concurrency of the work); for items that do not, one per core (%u). Processes start "
             "by fork; coroutines run on one loop, and hand CPU work and file reads to the default "
             "thread pool (to_thread).",
             weft_cpu_count());
    print_wrapped(f, width, "\n", 0, foot);
    const tour_python_state *py = tour_python();
    if (py->ran)
        snprintf(foot, sizeof foot,
                 "Python %s ran the same items with the same pools and runs: serial, "
                 "ThreadPoolExecutor, ProcessPoolExecutor (fork) and asyncio (asyncio.to_thread "
                 "for CPU work and files), its CPU items summing or hashing %dx fewer terms or "
                 "bytes (pure Python is some hundreds of times slower at it): compare the ratios. "
                 "* marks each side's fastest.",
                 py->version, py->cpu_scale);
    else
        snprintf(foot, sizeof foot, "No Python columns: %s. * marks the fastest.", py->why_not);
    print_wrapped(f, width, "", 0, foot);
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

/* One side's results (weft's or Python's): each model's median, range,
 * CPU median, speed-up over its side's serial and every run. */
static void json_results(FILE *f, const model_result *res, const char *const *names)
{
    fprintf(f, "[");
    for (int m = 0; m < NMODELS; m++) {
        const model_result *r = &res[m];
        fprintf(f, "%s\n    {\"model\": \"%s\", \"ok\": %s, \"median_s\": %.6g, "
                   "\"min_s\": %.6g, \"max_s\": %.6g, \"cpu_median_s\": %.6g, "
                   "\"speedup\": %.6g",
                m ? "," : "", names[m], r->ok ? "true" : "false", r->median, r->min, r->max,
                r->cpu_median, ratio_to_serial(res, m));
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
    fprintf(f, "]");
}

int report_json(const char *path, const scenario *s, int n, bool quick)
{
    FILE *f = open_out(path);
    if (!f)
        return WEFT_EACCES;
    const tour_machine_state *mach = tour_machine();
    fprintf(f, "{\"weft\": \"%s\", \"cpus\": %u, \"load1\": %.2f, \"busy\": %s, "
               "\"busy_rule\": \"the load average over the minute before the tour is at least the CPU "
               "count\", \"wide_spread\": %g, ",
            WEFT_VERSION_STRING, mach->cpus, mach->load1, mach->busy ? "true" : "false",
            TOUR_WIDE_SPREAD);
    fprintf(f, "\"quick\": %s, \"noise_margin\": %g, "
               "\"noise_rule\": \"within noise: the winner's and the runner-up's ranges overlap, or "
               "the runner-up's median is less than %.0f%% above the winner's\", ",
            quick ? "true" : "false", TOUR_NOISE_MARGIN, TOUR_NOISE_MARGIN * 100);
    const tour_python_state *py = tour_python();
    fprintf(f, "\"python\": {\"ran\": %s, \"version\": ", py->ran ? "true" : "false");
    json_str(f, py->version);
    fprintf(f, ", \"why_not\": ");
    json_str(f, py->ran ? "" : py->why_not);
    fprintf(f, ", \"cpu_scale\": %d, \"models\": [", py->cpu_scale);
    for (int m = 0; m < NMODELS; m++)
        fprintf(f, "%s\"%s\"", m ? ", " : "", python_model_names[m]);
    fprintf(f, "]}, \"scenarios\": [");
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
        const verdict *v = &s[i].verdict;
        fprintf(f, ", \"runner_up\": ");
        if (v->runner_up >= 0)
            json_str(f, model_names[v->runner_up]);
        else
            fprintf(f, "null");
        fprintf(f, ", \"margin\": %.6g, \"ranges_overlap\": %s, \"within_noise\": %s, "
                   "\"spread_too_wide\": %s, \"verdict\": ",
                v->margin, v->overlap ? "true" : "false", v->within_noise ? "true" : "false",
                v->spread_too_wide ? "true" : "false");
        json_str(f, v->says);
        fprintf(f, ", \"why\": ");
        json_str(f, v->why);
        fprintf(f, ", \"notes\": [");
        for (int m = 0, k = 0; m < NMODELS; m++)
            if (v->note[m][0]) {
                fprintf(f, "%s", k++ ? ", " : "");
                json_str(f, v->note[m]);
            }
        fprintf(f, "]");
        fprintf(f, ", \"results\": ");
        json_results(f, s[i].res, model_names);
        fprintf(f, ", \"python\": ");
        if (tour_python()->ran) {
            int pw = fastest_of(s[i].py);
            fprintf(f, "{\"winner\": ");
            if (pw >= 0)
                json_str(f, python_model_names[pw]);
            else
                fprintf(f, "null");
            char says[600];
            fprintf(f, ", \"says\": ");
            json_str(f, python_says(&s[i], says, sizeof says) ? says : "");
            fprintf(f, ", \"results\": ");
            json_results(f, s[i].py, python_model_names);
            fprintf(f, "}");
        } else {
            fprintf(f, "null");
        }
        fprintf(f, "}");
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
    fprintf(f, "scenario,kind,side,model,run,ok,wall_s,cpu_s,median_s,min_s,max_s,speedup,winner,"
               "within_noise\n");
    for (int i = 0; i < n; i++) {
        for (int side = 0; side < (tour_python()->ran ? 2 : 1); side++) {
            /* Python's lines: its runs, its fastest; no verdict of noise. */
            const model_result *res = side ? s[i].py : s[i].res;
            const char *const *names = side ? python_model_names : model_names;
            int win = fastest_of(res);
            for (int m = 0; m < NMODELS; m++) {
                const model_result *r = &res[m];
                for (int k = 0; k < r->nruns; k++)
                    fprintf(f, "%s,%s,%s,%s,%d,%d,%.6g,%.6g,%.6g,%.6g,%.6g,%.6g,%s,%s\n", s[i].name,
                            kind_names[s[i].kind], side ? "python" : "weft", names[m], k + 1,
                            r->runs[k].ok, r->runs[k].wall, r->runs[k].cpu, r->median, r->min,
                            r->max, ratio_to_serial(res, m), win >= 0 ? names[win] : "",
                            side ? "" : s[i].verdict.within_noise ? "1" : "0");
            }
        }
    }
    return close_out(f);
}

/* ------------------------------------------------------------ chart */

bool tour_which(const char *name, char *buf, size_t len)
{
    const char *path = getenv("PATH");
    while (path && *path) {
        const char *end = strchr(path, ':');
        size_t dirlen = end ? (size_t)(end - path) : strlen(path);
        snprintf(buf, len, "%.*s/%s", (int)dirlen, path, name);
        if (dirlen && access(buf, X_OK) == 0)
            return true;
        path = end ? end + 1 : NULL;
    }
    return false;
}

/* gnuplot on PATH, or NULL. */
static const char *gnuplot_path(void)
{
    static char buf[512];
    return tour_which("gnuplot", buf, sizeof buf) ? buf : NULL;
}

bool report_chart_possible(void)
{
    return gnuplot_path() != NULL;
}

static const char *const colours[NMODELS] = {"#8c8c8c", "#1f77b4", "#d62728", "#2ca02c"};

/* Bars of each model's speed-up over serial, grouped by scenario, on a
 * log scale, each drawn from the 1x line (up: faster, down: slower) and
 * labelled with its ratio as the table says it; the range follows the
 * values, so that no bar is cut off, and a bar of nearly 1x still shows
 * its label. One design for both formats: gnuplot's svg or pngcairo (png
 * where cairo is missing) terminal, fed a data file (a block per model)
 * and a script in a temporary directory. */
int report_chart(const char *path, const scenario *s, int n, bool png)
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
    const double bar = 0.2; /* a bar's width, in scenarios */
    double lo = 0.5, hi = 2;
    for (int m = 0; !rc && m < NMODELS; m++) {
        fprintf(d, "# %s\n", model_names[m]);
        for (int i = 0; i < n; i++) {
            double v = speedup(&s[i], m);
            if (v <= 0)
                continue;
            char ratio[32], label[40];
            fmt_ratio(ratio, sizeof ratio, v);
            if (m == MODEL_SERIAL)
                snprintf(label, sizeof label, "1x");
            else
                snprintf(label, sizeof label, "%s", ratio);
            /* The ratio in the label as the table has it, shortened for
             * the bar: "98x faster" reads "98x", "2.5x slower" stays. */
            char *faster = strstr(label, " faster");
            if (faster)
                *faster = 0;
            double x = i + (m - (NMODELS - 1) / 2.0) * bar;
            fprintf(d, "%g %g %g %g \"%s\"\n", x, v, v < 1 ? v : 1, v < 1 ? 1 : v, label);
            lo = v / 40 < lo ? v / 40 : lo; /* room for a falling bar's label */
            hi = v * 6 > hi ? v * 6 : hi;
        }
        fprintf(d, "\n\n");
    }
    if (!rc) {
        if (png)
            fprintf(g, "if (strstrt(GPVAL_TERMINALS, 'pngcairo') > 0) {\n"
                       "  set terminal pngcairo size 960,480 noenhanced font 'sans,10'\n"
                       "} else {\n  set terminal png size 960,480 noenhanced\n}\n");
        else
            fprintf(g, "set terminal svg size 960,480 noenhanced font 'sans,11' background '#ffffff'\n");
        fprintf(g, "set output '%s'\n"
                   "set title 'weft tour: speed-up over serial, %u CPUs (log scale; up from 1x: "
                   "faster, down: slower)'\n"
                   "set logscale y\nset yrange [%g:%g]\nset xrange [-0.6:%g]\n"
                   "set ylabel 'speed-up over serial'\nset grid ytics lc rgb '#dddddd'\n"
                   "set key outside bottom center horizontal\nset style fill solid 0.9 noborder\n"
                   "set arrow from graph 0, first 1 to graph 1, first 1 nohead lw 1.5 lc rgb '#000000' front\n"
                   "set xtics nomirror scale 0 (",
                path, weft_cpu_count(), lo, hi, n - 0.4);
        for (int i = 0; i < n; i++)
            fprintf(g, "%s'%s' %d", i ? ", " : "", s[i].name, i);
        fprintf(g, ")\nplot ");
        for (int m = 0; m < NMODELS; m++)
            fprintf(g, "'%s' index %d using 1:2:($1-%g):($1+%g):3:4 with boxxyerror "
                       "lc rgb '%s' title '%s', ",
                    data, m, bar / 2, bar / 2, colours[m], model_names[m]);
        /* The labels: above a bar that rises, below one that falls. */
        fprintf(g, "'%s' using 1:($2 >= 1 ? $4 * 1.15 : 1/0):5 with labels rotate by 90 left "
                   "font ',8' notitle, "
                   "'%s' using 1:($2 < 1 ? $3 / 1.15 : 1/0):5 with labels rotate by 90 right "
                   "font ',8' notitle\n",
                data, data);
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
