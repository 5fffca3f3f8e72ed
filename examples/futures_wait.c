/*
 * futures_wait.c - wait for the first of several futures, then take the
 * rest as they complete. The Python it mirrors (concurrent.futures' wait
 * and as_completed; the seeds use submit and map, this is the next step):
 *
 *   with ThreadPoolExecutor(max_workers=3) as ex:
 *       fs = {ex.submit(job, name): name for name in "ABC"}
 *       done, not_done = wait(fs, timeout=0.01)             # nothing yet
 *       done, not_done = wait(fs, return_when=FIRST_COMPLETED)
 *       for f in as_completed(fs):
 *           try:
 *               print(fs[f], f.result())
 *           except Exception as e:
 *               print(fs[f], "raised", e)
 *
 * Real jobs finish whenever they finish; here each job waits for its own
 * Event and main sets them one at a time, so the order is certain: B, then
 * C, then A (which fails, as a job raising an exception would).
 *
 * Differences from Python: wait() fills a done[] flag per future and a
 * count instead of two sets, and returns WEFT_ETIMEDOUT when the time ran
 * out first (Python returns the two sets either way). as_completed is an
 * iterator object: _next gives a borrowed future until WEFT_EEMPTY.
 */
#include <stdint.h>
#include <stdio.h>

#include "check.h"

#define NJOBS 3

static const char names[NJOBS] = {'A', 'B', 'C'};
static weft_event go[NJOBS] = {WEFT_EVENT_INIT, WEFT_EVENT_INIT, WEFT_EVENT_INIT};

static int job(void *arg, void **result)
{
    intptr_t i = (intptr_t)arg;
    /* Wait for main's signal; the bound only keeps a bug from hanging. */
    if (weft_event_wait(&go[i], 5.0) != 0)
        return WEFT_ETIMEDOUT;
    if (names[i] == 'A') {
        weft_task_set_message("job %c: the disk is full", names[i]);
        return -ENOSPC; /* any negative code: Python's raise */
    }
    *result = (void *)(100 + i);
    return 0;
}

static int index_of(weft_future *const *fs, const weft_future *f)
{
    for (int i = 0; i < NJOBS; i++)
        if (fs[i] == f)
            return i;
    return -1;
}

static void print_sets(const char *when, const bool *done)
{
    printf("%s: done {", when);
    for (int i = 0, first = 1; i < NJOBS; i++)
        if (done[i])
            printf(first ? "%c" : ", %c", names[i]), first = 0;
    printf("}, not done {");
    for (int i = 0, first = 1; i < NJOBS; i++)
        if (!done[i])
            printf(first ? "%c" : ", %c", names[i]), first = 0;
    printf("}\n");
}

int main(void)
{
    weft_executor *ex;
    weft_future *fs[NJOBS];
    bool done[NJOBS];
    size_t ndone;

    weft_thread_pool_opts opts = {.max_workers = NJOBS};
    CHECK(weft_thread_pool_new(&ex, &opts));
    for (intptr_t i = 0; i < NJOBS; i++)
        CHECK(weft_executor_submit(ex, job, (void *)i, &fs[i]));

    /* Nothing can finish before main sets an event: the wait times out. */
    int rc = weft_wait(fs, NJOBS, WEFT_ALL_COMPLETED, done, &ndone, 0.010);
    printf("wait(timeout=10 ms): %s, %zu done\n", weft_err_name(rc), ndone);

    /* Let B finish; FIRST_COMPLETED returns as soon as it has. */
    CHECK(weft_event_set(&go[1]));
    CHECK(weft_wait(fs, NJOBS, WEFT_FIRST_COMPLETED, done, &ndone, WEFT_FOREVER));
    print_sets("wait(FIRST_COMPLETED)", done);

    /* as_completed gives B first (already done); each time main gets one,
     * it lets the next job finish: C, then A. */
    weft_as_completed *it;
    CHECK(weft_as_completed_new(&it, fs, NJOBS, WEFT_FOREVER));
    const int next_to_release[NJOBS] = {2, 0, -1}; /* after B: C; after C: A */
    weft_future *f;
    for (int k = 0; (rc = weft_as_completed_next(it, &f, WEFT_FOREVER)) == 0; k++) {
        int i = index_of(fs, f);
        void *r;
        int err = weft_future_result(f, &r, 0);
        if (err == 0)
            printf("as_completed: %c -> %ld\n", names[i], (long)(intptr_t)r);
        else
            printf("as_completed: %c raised %s: %s\n", names[i], weft_strerror(err),
                   weft_future_message(f) ? weft_future_message(f) : "");
        if (k < NJOBS && next_to_release[k] >= 0)
            CHECK(weft_event_set(&go[next_to_release[k]]));
    }
    printf("as_completed ended: %s\n", weft_err_name(rc));
    weft_as_completed_free(it);

    weft_executor_free(ex);
    for (int i = 0; i < NJOBS; i++)
        weft_future_unref(fs[i]);
    return rc == WEFT_EEMPTY ? 0 : 1;
}

/* Output:
 * expect: ^wait\(timeout=10 ms\): ETIMEDOUT, 0 done$
 * expect: ^wait\(FIRST_COMPLETED\): done \{B\}, not done \{A, C\}$
 * expect: ^as_completed: B -> 101$
 * expect: ^as_completed: C -> 102$
 * expect: ^as_completed: A raised no space left on device: job A: the disk is full$
 * expect: ^as_completed ended: EEMPTY$
 */
