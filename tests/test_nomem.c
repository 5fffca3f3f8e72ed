/*
 * Out of memory: an allocation weft makes can fail, and the call then
 * returns WEFT_ENOMEM with nothing changed and nothing leaked. This program
 * is linked with --wrap for malloc, calloc and realloc (tests/CMakeLists.txt)
 * so that weft's calls go through the wrappers below, which fail one chosen
 * allocation once armed. Armed only around the call under test: Check and
 * libc allocate too (libc's own internal calls, strdup's, are not wrapped).
 */
#include <stdlib.h>
#include <sys/mman.h>

#include "internal/future.h"
#include "wt.h"

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);

/* Allocations to let through before one fails; -1: none fails. Single
 * threaded while armed. mmap counts on its own (mmap_fail_in). */
static int fail_in = -1, mmap_fail_in = -1;

static bool should_fail(int *in)
{
    if (*in < 0)
        return false;
    return (*in)-- == 0; /* after failing once it is -1 again: disarmed */
}

void *__wrap_malloc(size_t n)
{
    return should_fail(&fail_in) ? NULL : __real_malloc(n);
}

void *__wrap_calloc(size_t n, size_t size)
{
    return should_fail(&fail_in) ? NULL : __real_calloc(n, size);
}

void *__wrap_realloc(void *p, size_t n)
{
    return should_fail(&fail_in) ? NULL : __real_realloc(p, n);
}

void *__real_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off);

void *__wrap_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
    return should_fail(&mmap_fail_in) ? MAP_FAILED : __real_mmap(addr, len, prot, flags, fd, off);
}

static int by_value(const void *a, const void *b, void *ctx)
{
    uintptr_t x = (uintptr_t)a, y = (uintptr_t)b;
    return (x > y) - (x < y);
}

/* Fill to the initial capacity (16 slots, src/queue/queue.c) so the next put
 * grows the storage; make that growth fail; the queue must be as before. */
static void check_growth_failure(weft_queue *q, int kind)
{
    for (uintptr_t i = 1; i <= 16; i++)
        WT_OK(weft_queue_put(q, (void *)i, WEFT_FOREVER));
    fail_in = 0;
    WT_ERR(weft_queue_put(q, (void *)17, WEFT_FOREVER), WEFT_ENOMEM);
    fail_in = 0;
    WT_ERR(weft_queue_put(q, (void *)17, 0), WEFT_ENOMEM);
    fail_in = 0;
    WT_ERR(weft_queue_put(q, (void *)17, 1), WEFT_ENOMEM);
    ck_assert_uint_eq(weft_queue_qsize(q), 16);
    WT_OK(weft_queue_put(q, (void *)17, WEFT_FOREVER)); /* now it grows */
    for (uintptr_t i = 1; i <= 17; i++) {
        void *x;
        WT_OK(weft_queue_get(q, &x, 0));
        uintptr_t want = kind == 1 ? 18 - i : i; /* LIFO reversed; FIFO, priority in order */
        ck_assert_uint_eq((uintptr_t)x, want);
        WT_OK(weft_queue_task_done(q));
    }
    /* The failed puts were never counted as unfinished tasks. */
    WT_OK(weft_queue_join(q, 0));
    WT_ERR(weft_queue_task_done(q), WEFT_EOVERFLOW);
    weft_queue_free(q);
}

START_TEST(queue_growth)
{
    weft_queue *q;
    WT_OK(weft_queue_new(&q, 0));
    check_growth_failure(q, 0);
    WT_OK(weft_lifo_queue_new(&q, 0));
    check_growth_failure(q, 1);
    WT_OK(weft_priority_queue_new(&q, 0, by_value, NULL));
    check_growth_failure(q, 2);
}
END_TEST

/* Fail the k-th allocation of create(), for k = 0, 1, ... until create
 * makes fewer than k + 1 and succeeds: each failure is WEFT_ENOMEM and
 * leaks nothing (LeakSanitizer checks that under ASan). */
static void each_allocation_fails(int (*create)(weft_queue **))
{
    for (int k = 0;; k++) {
        weft_queue *q;
        fail_in = k;
        int rc = create(&q);
        fail_in = -1;
        if (rc == 0) {
            ck_assert_int_gt(k, 0);
            weft_queue_free(q);
            return;
        }
        ck_assert_int_eq(rc, WEFT_ENOMEM);
    }
}

static int new_fifo(weft_queue **q)
{
    return weft_queue_new(q, 0);
}

static int new_priority(weft_queue **q)
{
    return weft_priority_queue_new(q, 4, by_value, NULL);
}

START_TEST(queue_create)
{
    each_allocation_fails(new_fifo);
    each_allocation_fails(new_priority);
}
END_TEST

static int calls[2];

static int count_call(weft_future *f, void *arg)
{
    calls[(intptr_t)arg]++;
    return 0;
}

START_TEST(future_second_callback)
{
    weft_future *f;
    WT_OK(weft_future_new(&f));
    WT_OK(weft_future_add_done_callback(f, count_call, (void *)0)); /* stored inline */
    fail_in = 0;
    WT_ERR(weft_future_add_done_callback(f, count_call, (void *)1), WEFT_ENOMEM);
    ck_assert_int_eq(fail_in, -1); /* the failure was the callback's */
    WT_OK(weft_future_set_result(f, NULL));
    ck_assert_int_eq(calls[0], 1);
    ck_assert_int_eq(calls[1], 0); /* a callback that failed to register never runs */
    weft_future_unref(f);
}
END_TEST

START_TEST(wait_many_and_as_completed)
{
    enum { N = 17 }; /* past the waiter's on-stack hooks */
    weft_future *fs[N];
    for (int i = 0; i < N; i++)
        WT_OK(weft_future_new(&fs[i]));
    bool done[N];
    size_t ndone = 99;
    fail_in = 0;
    WT_ERR(weft_wait(fs, N, WEFT_ALL_COMPLETED, done, &ndone, 1), WEFT_ENOMEM);
    weft_as_completed *it;
    fail_in = 0;
    WT_ERR(weft_as_completed_new(&it, fs, N, 1), WEFT_ENOMEM);
    /* The futures are untouched: they finish and are waited for normally. */
    for (int i = 0; i < N; i++)
        WT_OK(weft_future_set_result(fs[i], NULL));
    WT_OK(weft_wait(fs, N, WEFT_ALL_COMPLETED, done, &ndone, 1));
    ck_assert_uint_eq(ndone, N);
    for (int i = 0; i < N; i++)
        weft_future_unref(fs[i]);
}
END_TEST

static int ran;

static int count_task(void *arg, void **result)
{
    __atomic_fetch_add(&ran, 1, __ATOMIC_RELAXED);
    return 0;
}

START_TEST(executor_submit_and_map)
{
    weft_executor *ex;
    weft_thread_pool_opts o = {.max_workers = 1};
    for (int k = 0; k < 4; k++) { /* every allocation of a new pool */
        fail_in = k;
        int rc = weft_thread_pool_new(&ex, &o);
        fail_in = -1;
        if (rc == 0) { /* fewer allocations than k + 1: all were tried */
            weft_executor_free(ex);
            break;
        }
        ck_assert_int_eq(rc, WEFT_ENOMEM);
    }
    WT_OK(weft_thread_pool_new(&ex, &o));
    weft_future *f;
    fail_in = 0; /* the future: this thread's cache of freed ones is empty */
    WT_ERR(weft_executor_submit(ex, count_task, NULL, &f), WEFT_ENOMEM);
    void *args[3] = {0}, *res[3];
    fail_in = 0;
    WT_ERR(weft_executor_map(ex, count_task, args, res, 3, 1, WEFT_FOREVER), WEFT_ENOMEM);
    WT_OK(weft_executor_shutdown(ex, false, WEFT_FOREVER));
    ck_assert_int_eq(ran, 0); /* nothing that failed to be scheduled ran */
    weft_executor_free(ex);
}
END_TEST

static void *nothing(void *arg)
{
    return arg;
}

START_TEST(thread_and_local)
{
    weft_thread *t;
    fail_in = 0;
    WT_ERR(weft_thread_new(&t, nothing, NULL, NULL), WEFT_ENOMEM);
    weft_local *l;
    fail_in = 0;
    WT_ERR(weft_local_new(&l, NULL), WEFT_ENOMEM);
    fail_in = -1;
}
END_TEST

static int returns_7(void *arg, void **result)
{
    *result = (void *)7;
    return 0;
}

START_TEST(task_create)
{
    /* A task lives in an owned future record; this process has made none
     * yet, so the task's is the first and needs a new slab (or, under
     * ASan, a record of its own): that allocation fails, and no task is
     * made, its name copy freed (LeakSanitizer checks). */
    weft_loop *loop;
    WT_OK(weft_loop_new(&loop, NULL));
    weft_future *f = NULL;
    fail_in = 0;
    WT_ERR(weft_create_task(loop, returns_7, NULL, "named", &f), WEFT_ENOMEM);
    fail_in = -1;
    ck_assert_ptr_null(f);
    size_t n;
    WT_OK(weft_all_tasks(loop, NULL, 0, &n));
    ck_assert_uint_eq(n, 0);
    WT_OK(weft_create_task(loop, returns_7, NULL, "named", &f));
    void *res;
    WT_OK(weft_loop_run_until_complete(loop, f, &res));
    ck_assert_ptr_eq(res, (void *)7);
    weft_future_unref(f);
    WT_OK(weft_loop_close(loop));
    weft_loop_free(loop);
}
END_TEST

START_TEST(future_huge_slab)
{
#ifndef __SANITIZE_ADDRESS__
    /* Past its first 4 MiB of small slabs a record class takes 2 MiB slabs
     * from mmap (src/base/records.c); under ASan it keeps no slabs at all. Hold
     * 128 Ki plain records (8 MiB or more), the next mmap set to fail:
     * the allocation that needs it returns WEFT_ENOMEM, and the next one,
     * once mmap works again, gets a record. */
    enum { N = 1 << 17 };
    weft_future **fs = malloc(N * sizeof *fs);
    ck_assert_ptr_nonnull(fs);
    int got = 0, failures = 0;
    mmap_fail_in = 0;
    while (got < N) {
        int rc = weft__future_new2(&fs[got]);
        if (rc == WEFT_ENOMEM) {
            failures++;
            ck_assert_int_eq(mmap_fail_in, -1); /* it was the mmap */
            continue;
        }
        WT_OK(rc);
        got++;
    }
    mmap_fail_in = -1;
    ck_assert_int_eq(failures, 1);
    for (int i = 0; i < N; i++) {
        weft_future_unref(fs[i]);
        weft_future_unref(fs[i]);
    }
    free(fs);
#endif
}
END_TEST

WT_MAIN("nomem", 30, queue_growth, queue_create, future_second_callback,
        wait_many_and_as_completed, executor_submit_and_map, thread_and_local, task_create,
        future_huge_slab)
