/*
 * The tour beside Python: tour.py, shipped with weft, runs the tour's
 * scenarios with Python's threads, processes and asyncio, as a child
 * process; this file finds it and an interpreter, starts it with the
 * scenarios' sizes, and reads its report.
 *
 * tour.py is found beside the weft binary (the build tree copies it there)
 * or in ../share/weft from it (where `cmake --install` puts it). The
 * interpreter is $WEFT_PYTHON, or python3 on PATH.
 *
 * The report is one JSON object per line, each of a fixed shape with its
 * keys in a fixed order (tour.py's docstring), which the reader below
 * checks as it goes: anything else, a line cut short or a report without
 * its last line, fails the whole report with a message that says where.
 * The reader takes only what tour.py writes (no nesting, strings whose
 * escapes are \" \\ \/ \n \t and \uXXXX), so it stays small.
 */
#include <errno.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <weft.h>

#include "tour.h"

extern char **environ;

const char *const python_model_names[NMODELS] = {"serial", "threads", "processes", "asyncio"};

static tour_python_state state;

const tour_python_state *tour_python(void)
{
    return &state;
}

/* ------------------------------------------------------ the reader */

typedef struct reader {
    const char *p;
    char error[160];
} reader;

static bool fail(reader *r, const char *fmt, ...)
{
    if (r->error[0])
        return false;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->error, sizeof r->error, fmt, ap);
    va_end(ap);
    return false;
}

static void skip_space(reader *r)
{
    while (*r->p == ' ' || *r->p == '\t')
        r->p++;
}

static bool expect(reader *r, char c)
{
    skip_space(r);
    if (*r->p != c)
        return fail(r, "expected '%c' at \"%.20s\"", c, r->p);
    r->p++;
    return true;
}

/* A string into buf (cut to its size). */
static bool read_string(reader *r, char *buf, size_t len)
{
    skip_space(r);
    if (*r->p != '"')
        return fail(r, "expected a string at \"%.20s\"", r->p);
    r->p++;
    size_t k = 0;
    for (;;) {
        char c = *r->p++;
        if (c == '"')
            break;
        if (c == 0)
            return fail(r, "a string that does not end");
        if (c == '\\') {
            c = *r->p++;
            if (c == 'n' || c == 't')
                c = ' ';
            else if (c == 'u') {
                for (int i = 0; i < 4; i++, r->p++)
                    if (!*r->p || !strchr("0123456789abcdefABCDEF", *r->p))
                        return fail(r, "a bad \\u escape");
                c = '?';
            } else if (c != '"' && c != '\\' && c != '/')
                return fail(r, "an escape weft does not read: \\%c", c ? c : '0');
        }
        if (k + 1 < len)
            buf[k++] = c;
    }
    buf[k] = 0;
    return true;
}

/* "key": , checking that the key is the one expected here. */
static bool key(reader *r, const char *want)
{
    char got[32];
    if (!read_string(r, got, sizeof got))
        return false;
    if (strcmp(got, want) != 0)
        return fail(r, "expected the key \"%s\", found \"%s\"", want, got);
    return expect(r, ':');
}

static bool read_number(reader *r, double *v)
{
    skip_space(r);
    char *end;
    errno = 0;
    *v = strtod(r->p, &end);
    if (end == r->p || errno || *v != *v)
        return fail(r, "expected a number at \"%.20s\"", r->p);
    r->p = end;
    return true;
}

static bool read_bool(reader *r, bool *v)
{
    skip_space(r);
    if (!strncmp(r->p, "true", 4))
        return *v = true, r->p += 4, true;
    if (!strncmp(r->p, "false", 5))
        return *v = false, r->p += 5, true;
    return fail(r, "expected true or false at \"%.20s\"", r->p);
}

static bool at_end(reader *r)
{
    skip_space(r);
    if (*r->p)
        return fail(r, "more after the object: \"%.20s\"", r->p);
    return true;
}

static int index_of(const char *const *names, int n, const char *name)
{
    for (int i = 0; i < n; i++)
        if (!strcmp(names[i], name))
            return i;
    return -1;
}

/* One run's line: {"scenario": S, "model": M, "run": K, "ok": B,
 * "wall_s": X, "cpu_s": Y, "error": E}, into its scenario's results. */
static bool read_run(reader *r, scenario *s, int n, int nruns)
{
    char sname[32], model[32];
    double run;
    run_result res = {0};
    if (!(expect(r, '{') && key(r, "scenario") && read_string(r, sname, sizeof sname) &&
          expect(r, ',') && key(r, "model") && read_string(r, model, sizeof model) &&
          expect(r, ',') && key(r, "run") && read_number(r, &run) && expect(r, ',') &&
          key(r, "ok") && read_bool(r, &res.ok) && expect(r, ',') && key(r, "wall_s") &&
          read_number(r, &res.wall) && expect(r, ',') && key(r, "cpu_s") &&
          read_number(r, &res.cpu) && expect(r, ',') && key(r, "error") &&
          read_string(r, res.error, sizeof res.error) && expect(r, '}') && at_end(r)))
        return false;
    int sc = -1;
    for (int i = 0; i < n && sc < 0; i++)
        if (!strcmp(s[i].name, sname))
            sc = i;
    int m = index_of(python_model_names, NMODELS, model);
    if (sc < 0 || m < 0)
        return fail(r, "a run of an unknown %s: \"%s\"", sc < 0 ? "scenario" : "model",
                    sc < 0 ? sname : model);
    model_result *mr = &s[sc].py[m];
    if (run != mr->nruns + 1 || mr->nruns >= nruns)
        return fail(r, "%s %s: run %g out of order", sname, model, run);
    if (res.ok && (res.wall <= 0 || res.cpu < 0))
        return fail(r, "%s %s: a time that cannot be", sname, model);
    if (!res.ok && !res.error[0])
        snprintf(res.error, sizeof res.error, "failed");
    mr->runs[mr->nruns++] = res;
    progress_python(sc, s[sc].name, m, (int)run - 1, &res);
    return true;
}

/* ------------------------------------------------------ the child */

/* The scenarios as tour.py's SPEC (its docstring). */
static char *make_spec(const scenario *s, int n, int nruns, int port, const char *dir)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        return NULL;
    fprintf(f, "{\"runs\": %d, \"cpu_scale\": %d, \"scenarios\": [", nruns, TOUR_PYTHON_CPU_SCALE);
    for (int i = 0; i < n; i++)
        fprintf(f, "%s{\"name\": \"%s\", \"items\": %d, \"workers\": %d, \"wait\": %g, "
                   "\"work\": %llu, \"port\": %d, \"dir\": \"%s\"}",
                i ? ", " : "", s[i].name, s[i].items, s[i].workers, s[i].wait, s[i].work, port,
                dir);
    fprintf(f, "]}");
    return fclose(f) == 0 ? buf : (free(buf), NULL);
}

/* tour.py beside this program, or in ../share/weft from it; into buf. */
static bool find_script(char *buf, size_t len)
{
    char exe[4096];
    ssize_t k = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (k <= 0)
        return false;
    exe[k] = 0;
    char *slash = strrchr(exe, '/');
    if (!slash)
        return false;
    *slash = 0;
    snprintf(buf, len, "%s/tour.py", exe);
    if (access(buf, R_OK) == 0)
        return true;
    snprintf(buf, len, "%s/../share/weft/tour.py", exe);
    return access(buf, R_OK) == 0;
}

static void not_run(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(state.why_not, sizeof state.why_not, fmt, ap);
    va_end(ap);
}

int tour_python_run(scenario *s, int n, int nruns, int port, const char *dir)
{
    memset(&state, 0, sizeof state);
    state.cpu_scale = TOUR_PYTHON_CPU_SCALE;
    char python[512], script[4200];
    const char *chosen = getenv("WEFT_PYTHON");
    if (chosen && *chosen) {
        if (access(chosen, X_OK) != 0) {
            not_run("WEFT_PYTHON=%.200s is not a program this user can run: weft alone", chosen);
            return 0;
        }
        snprintf(python, sizeof python, "%s", chosen);
    } else if (!tour_which("python3", python, sizeof python)) {
        not_run("python3 is not installed: weft alone");
        return 0;
    }
    if (!find_script(script, sizeof script)) {
        not_run("tour.py is not beside the weft program nor in ../share/weft: weft alone");
        return 0;
    }
    char *spec = make_spec(s, n, nruns, port, dir);
    if (!spec)
        return WEFT_ENOMEM;
    int out[2];
    if (pipe(out) != 0) {
        free(spec);
        return WEFT_ENOMEM;
    }
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, out[1], STDOUT_FILENO);
    posix_spawn_file_actions_addclose(&fa, out[0]);
    posix_spawn_file_actions_addclose(&fa, out[1]);
    char *argv[] = {python, script, spec, NULL};
    pid_t pid;
    int err = posix_spawn(&pid, python, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(out[1]);
    free(spec);
    if (err) {
        close(out[0]);
        not_run("%s could not start (%s): weft alone", python, strerror(err));
        state.failed = true;
        return 0;
    }
    FILE *f = fdopen(out[0], "r");
    char *line = NULL;
    size_t cap = 0;
    reader r = {0};
    int lineno = 0, bad_line = 0;
    bool done = false;
    for (int i = 0; i < n; i++)
        memset(s[i].py, 0, sizeof s[i].py);
    ssize_t got;
    while (f && !r.error[0] && (got = getline(&line, &cap, f)) > 0) {
        if (line[got - 1] == '\n')
            line[got - 1] = 0;
        r.p = line;
        lineno++;
        if (done) {
            fail(&r, "more after {\"done\": true}");
        } else if (lineno == 1) {
            if (expect(&r, '{') && key(&r, "python") &&
                read_string(&r, state.version, sizeof state.version) && expect(&r, '}'))
                at_end(&r);
        } else if (!strncmp(line, "{\"done\"", 7)) {
            bool yes;
            if (expect(&r, '{') && key(&r, "done") && read_bool(&r, &yes) && expect(&r, '}') &&
                at_end(&r) && !yes)
                fail(&r, "done is false");
            done = true;
        } else {
            read_run(&r, s, n, nruns);
        }
        if (r.error[0])
            bad_line = lineno;
    }
    free(line);
    if (f)
        fclose(f);
    else
        close(out[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (!r.error[0] && !done)
        fail(&r, "it ended before its last line (exit status %d)",
             WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
    for (int i = 0; i < n && !r.error[0]; i++)
        for (int m = 0; m < NMODELS; m++)
            if (s[i].py[m].nruns != nruns)
                fail(&r, "%s %s: %d runs, not %d", s[i].name, python_model_names[m],
                     s[i].py[m].nruns, nruns);
    if (r.error[0]) {
        char where[24] = "";
        if (bad_line)
            snprintf(where, sizeof where, " at line %d", bad_line);
        not_run("Python's report (tour.py) is malformed%s: %s; weft alone", where, r.error);
        state.failed = true;
        for (int i = 0; i < n; i++)
            memset(s[i].py, 0, sizeof s[i].py);
        return 0;
    }
    for (int i = 0; i < n; i++)
        for (int m = 0; m < NMODELS; m++)
            model_summarise(&s[i].py[m]);
    state.ran = true;
    return 0;
}
