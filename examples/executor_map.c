/*
 * executor_map.c - Executor.map: one function over many inputs, the
 * results in input order. Mirrors seed 002, "Threads":
 *
 *   with ThreadPoolExecutor() as executor:
 *       results = list(executor.map(download, urls))
 *
 * and seed 003, "ProcessPoolExecutor":
 *
 *   with ProcessPoolExecutor(max_workers=4) as executor:
 *       results = list(executor.map(task, range(4)))
 *       print(results)  # [0, 1, 4, 9]
 *
 * Seed 003 needs processes for its map because of Python's GIL; C has none,
 * so the thread pool runs CPU work in parallel too (see cpu_bound.c).
 *
 * 1. The downloads are made to finish in reverse order (each waits for the
 *    next one's event), yet map's results come back in input order.
 * 2. The n * n map of seed 003.
 * 3. What `list(executor.map(int, ["1", "2", "x", "4"]))` raises: map
 *    returns the first error in input order, with the task's message.
 *
 * Ownership: each "page" is a string the task allocates; map hands the
 * pointers back in results[], and the caller frees them.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

#define NURLS 4

static const char *urls[NURLS] = {
    "https://example.org/a",
    "https://example.org/b",
    "https://example.org/c",
    "https://example.org/d",
};
static weft_event fetched[NURLS] = {WEFT_EVENT_INIT, WEFT_EVENT_INIT, WEFT_EVENT_INIT,
                                    WEFT_EVENT_INIT};

/* A stand-in for a download: url i waits until url i+1 is fetched, so the
 * last one finishes first. The 1 s bound only keeps a bug from hanging. */
static int download(void *arg, void **result)
{
    const char *url = arg;
    int i = (int)(strrchr(url, '/')[1] - 'a');
    if (i + 1 < NURLS && weft_event_wait(&fetched[i + 1], 1.0) != 0) {
        weft_task_set_message("%s: the next download never finished", url);
        return WEFT_ETIMEDOUT;
    }
    char *page = malloc(64);
    if (page == NULL)
        return WEFT_ENOMEM;
    snprintf(page, 64, "<html>%s</html>", url);
    printf("fetched %s\n", url);
    *result = page; /* the caller of map frees it */
    weft_event_set(&fetched[i]);
    return 0;
}

static int task(void *arg, void **result)
{
    intptr_t n = (intptr_t)arg;
    *result = (void *)(n * n);
    return 0;
}

/* Python's int(s): ValueError for what is not a number. */
static int parse_int(void *arg, void **result)
{
    const char *s = arg;
    char *end;
    long v = strtol(s, &end, 10);
    if (*s == '\0' || *end != '\0') {
        weft_task_set_message("invalid literal for int() with base 10: '%s'", s);
        return WEFT_EINVAL;
    }
    *result = (void *)(intptr_t)v;
    return 0;
}

int main(void)
{
    weft_executor *executor;
    /* Four workers, so that the four chained downloads all run at once. */
    weft_thread_pool_opts opts = {.max_workers = 4};
    CHECK(weft_thread_pool_new(&executor, &opts));

    /* 1. results = list(executor.map(download, urls)) */
    void *pages[NURLS];
    CHECK(weft_executor_map(executor, download, (void *const *)urls, pages, NURLS, 0,
                            WEFT_FOREVER));
    printf("results, in input order:\n");
    for (int i = 0; i < NURLS; i++) {
        printf("  %s\n", (char *)pages[i]);
        free(pages[i]);
    }

    /* 2. results = list(executor.map(task, range(4))) */
    void *args[4] = {(void *)0, (void *)1, (void *)2, (void *)3};
    void *squares[4];
    CHECK(weft_executor_map(executor, task, args, squares, 4, 0, WEFT_FOREVER));
    printf("[%ld, %ld, %ld, %ld]\n", (long)(intptr_t)squares[0], (long)(intptr_t)squares[1],
           (long)(intptr_t)squares[2], (long)(intptr_t)squares[3]);

    /* 3. list(executor.map(int, ["1", "2", "x", "4"])) raises ValueError */
    const char *texts[4] = {"1", "2", "x", "4"};
    void *numbers[4];
    int rc = weft_executor_map(executor, parse_int, (void *const *)texts, numbers, 4, 0,
                               WEFT_FOREVER);
    const char *msg = weft_last_message();
    printf("map(int, ...) failed: %s: %s\n", weft_err_name(rc), msg ? msg : "(no message)");

    weft_executor_free(executor); /* end of the with block */
    return rc == WEFT_EINVAL ? 0 : 1;
}

/* Output: the downloads finish last first, the results are in order:
 * expect: ^fetched https://example.org/d$
 * expect: ^fetched https://example.org/c$
 * expect: ^fetched https://example.org/b$
 * expect: ^fetched https://example.org/a$
 * expect: ^results, in input order:$
 * expect: ^  <html>https://example.org/a</html>$
 * expect: ^  <html>https://example.org/b</html>$
 * expect: ^  <html>https://example.org/c</html>$
 * expect: ^  <html>https://example.org/d</html>$
 * expect: ^\[0, 1, 4, 9\]$
 * expect: ^map\(int, \.\.\.\) failed: EINVAL: invalid literal for int\(\) with base 10: 'x'$
 */
