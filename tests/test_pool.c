/* multiprocessing.Pool: apply, apply_async with callbacks, map, imap in
 * order and unordered, close/join, terminate, results that are not bytes,
 * a worker dying mid-task, and bad input. */
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "wt.h"
#include "weft/procpool.h"
#include "weft/shm.h"

static int square(void *arg, void **result)
{
    weft_bytes *in = arg;
    if (!in || in->len != sizeof(int))
        return WEFT_EINVAL;
    int v;
    memcpy(&v, in->data, sizeof v);
    if (v == 13) {
        weft_task_set_message("unlucky %d", v);
        return WEFT_EOVERFLOW;
    }
    v *= v;
    return weft_bytes_new((weft_bytes **)result, &v, sizeof v);
}

static int square_item(const void *in, void *out)
{
    *(int *)out = *(const int *)in * *(const int *)in;
    return 0;
}

/* Blocks until the test sets the shared event it gets (made before the
 * pool, so the workers have it under either start method). */
static int block(void *arg, void **result)
{
    weft_bytes *in = arg;
    weft_pevent *ev;
    if (!in || in->len != sizeof ev)
        return WEFT_EINVAL;
    memcpy(&ev, in->data, sizeof ev);
    return weft_pevent_wait(ev, WEFT_FOREVER);
}

/* A result that is not a weft_bytes: 5 for item 5 (or no argument). */
static int number_at_5(void *arg, void **result)
{
    weft_bytes *in = arg;
    if (!in || *(int *)weft_bytes_data(in) == 5) {
        *result = (void *)(intptr_t)5;
        return 0;
    }
    return square(arg, result);
}

static int exit_3(void *arg, void **result)
{
    _exit(3);
}

static weft_bytes *int_bytes(int v)
{
    weft_bytes *b;
    WT_OK(weft_bytes_new(&b, &v, sizeof v));
    return b;
}

static int bytes_int(const weft_bytes *b)
{
    ck_assert_ptr_nonnull(b);
    ck_assert_uint_eq(b->len, sizeof(int));
    int v;
    memcpy(&v, b->data, sizeof v);
    return v;
}

static weft_pool *new_pool(unsigned n)
{
    weft_process_pool_opts o = {.max_workers = n};
    weft_pool *p = NULL;
    WT_OK(weft_pool_new(&p, &o));
    return p;
}

START_TEST(apply_and_map)
{
    weft_pool *p = new_pool(2);
    weft_bytes *a = int_bytes(7), *r = NULL;
    WT_OK(weft_pool_apply(p, square, a, &r, WEFT_FOREVER));
    ck_assert_int_eq(bytes_int(r), 49);
    weft_bytes_free(r);
    weft_bytes_free(a);
    a = int_bytes(13);
    WT_ERR(weft_pool_apply(p, square, a, &r, WEFT_FOREVER), WEFT_EOVERFLOW);
    ck_assert_ptr_null(r);
    weft_bytes_free(a);

    enum { N = 40 };
    weft_bytes *args[N], *res[N];
    for (int i = 0; i < N; i++)
        args[i] = int_bytes(i + 20);
    WT_OK(weft_pool_map(p, square, (const weft_bytes *const *)args, res, N, 4, WEFT_FOREVER));
    for (int i = 0; i < N; i++) {
        ck_assert_int_eq(bytes_int(res[i]), (i + 20) * (i + 20));
        weft_bytes_free(res[i]);
    }
    int in[100], out[100];
    for (int i = 0; i < 100; i++)
        in[i] = i;
    WT_OK(weft_pool_map_fixed(p, square_item, in, sizeof *in, out, sizeof *out, 100, 0,
                              WEFT_FOREVER));
    for (int i = 0; i < 100; i++)
        ck_assert_int_eq(out[i], i * i);
    for (int i = 0; i < N; i++)
        weft_bytes_free(args[i]);
    WT_OK(weft_pool_close(p));
    WT_OK(weft_pool_join(p, WEFT_FOREVER));
    weft_pool_free(p);
}
END_TEST

struct tally {
    weft_lock lock;
    weft_event all_in;
    int ok, failed, sum, want;
    char last_msg[160];
};

static void on_result(const weft_bytes *result, void *arg)
{
    struct tally *t = arg;
    weft_lock_acquire(&t->lock, WEFT_FOREVER);
    t->ok++;
    t->sum += bytes_int(result);
    if (t->ok + t->failed == t->want)
        weft_event_set(&t->all_in);
    weft_lock_release(&t->lock);
}

static void on_error(int code, const char *msg, void *arg)
{
    struct tally *t = arg;
    weft_lock_acquire(&t->lock, WEFT_FOREVER);
    t->failed++;
    snprintf(t->last_msg, sizeof t->last_msg, "%s (%d)", msg ? msg : "", code);
    if (t->ok + t->failed == t->want)
        weft_event_set(&t->all_in);
    weft_lock_release(&t->lock);
}

START_TEST(apply_async_callbacks)
{
    weft_pool *p = new_pool(2);
    struct tally t = {.want = 20};
    WT_OK(weft_lock_init(&t.lock));
    WT_OK(weft_event_init(&t.all_in));
    int want_sum = 0;
    for (int i = 0; i < 20; i++) {
        weft_bytes *a = int_bytes(i);
        WT_OK(weft_pool_apply_async(p, square, a, on_result, on_error, &t, NULL));
        weft_bytes_free(a);
        if (i != 13)
            want_sum += i * i;
    }
    WT_OK(weft_event_wait(&t.all_in, WEFT_FOREVER));
    ck_assert_int_eq(t.ok, 19);
    ck_assert_int_eq(t.failed, 1);
    ck_assert_int_eq(t.sum, want_sum);
    ck_assert_str_eq(t.last_msg, "unlucky 13 (-75)");

    /* With the future asked for, the result is the caller's to read. */
    weft_future *f;
    weft_bytes *a = int_bytes(5);
    WT_OK(weft_pool_apply_async(p, square, a, NULL, NULL, NULL, &f));
    weft_bytes_free(a);
    weft_bytes *r;
    WT_OK(weft_process_pool_result(f, &r, WEFT_FOREVER));
    ck_assert_int_eq(bytes_int(r), 25);
    weft_bytes_free(r);
    weft_future_unref(f);
    WT_OK(weft_pool_close(p));
    WT_OK(weft_pool_join(p, WEFT_FOREVER));
    weft_pool_free(p);
    weft_event_destroy(&t.all_in);
    weft_lock_destroy(&t.lock);
}
END_TEST

static void check_imap(weft_pool *p, bool ordered, size_t chunksize)
{
    enum { N = 50 };
    weft_bytes *args[N];
    for (int i = 0; i < N; i++)
        args[i] = int_bytes(i);
    weft_pool_iter *it;
    WT_OK(weft_pool_imap(p, square, (const weft_bytes *const *)args, N, chunksize, ordered, &it));
    for (int i = 0; i < N; i++)
        weft_bytes_free(args[i]); /* copied at once */
    bool seen[N] = {0};
    int got = 0, errors = 0;
    size_t prev = 0;
    for (;;) {
        weft_bytes *r;
        size_t idx = 999;
        int rc = weft_pool_iter_next(it, &r, &idx, WEFT_FOREVER);
        if (rc == WEFT_EEOF)
            break;
        if (rc == WEFT_EOVERFLOW) {
            ck_assert_str_eq(weft_last_message(), "unlucky 13");
            errors++;
            continue;
        }
        WT_OK(rc);
        ck_assert_uint_lt(idx, N);
        ck_assert(!seen[idx]);
        seen[idx] = true;
        if (ordered && got > 0)
            ck_assert_uint_gt(idx, prev);
        prev = idx;
        ck_assert_int_eq(bytes_int(r), (int)(idx * idx));
        weft_bytes_free(r);
        got++;
    }
    ck_assert_int_eq(errors, 1);
    /* Item 13's chunk stops at 13: the items after it in that chunk never
     * ran; the ones before it are handed out. */
    size_t cs = chunksize ? chunksize : 1;
    size_t chunk_end = (13 / cs + 1) * cs < N ? (13 / cs + 1) * cs : N;
    size_t lost = chunk_end - 14;
    ck_assert_int_eq(got, (int)(N - 1 - lost));
    for (size_t i = 0; i < 13; i++)
        ck_assert(seen[i]);
    WT_ERR(weft_pool_iter_next(it, &(weft_bytes *){NULL}, NULL, 0), WEFT_EEOF);
    weft_pool_iter_free(it);
}

START_TEST(imap_ordered_and_unordered)
{
    weft_pool *p = new_pool(2);
    check_imap(p, true, 1);
    check_imap(p, true, 7);
    check_imap(p, false, 1);
    check_imap(p, false, 5);
    /* Freed before the end: nothing leaks, nothing hangs. */
    const weft_bytes *args[10];
    for (int i = 0; i < 10; i++)
        args[i] = int_bytes(i);
    weft_pool_iter *it;
    WT_OK(weft_pool_imap(p, square, args, 10, 2, true, &it));
    weft_bytes *r;
    WT_OK(weft_pool_iter_next(it, &r, NULL, WEFT_FOREVER));
    weft_bytes_free(r);
    weft_pool_iter_free(it);
    for (int i = 0; i < 10; i++)
        weft_bytes_free((weft_bytes *)args[i]);
    weft_pool_free(p);
}
END_TEST

START_TEST(terminate_and_timeouts)
{
    weft_pevent *release;
    WT_OK(weft_pevent_new(&release));
    weft_pool *p = new_pool(1);
    weft_bytes *r = (weft_bytes *)1, *ev;
    WT_OK(weft_bytes_new(&ev, &release, sizeof release));
    /* apply's timeout: the task goes on, the call returns. */
    WT_ERR(weft_pool_apply(p, block, ev, &r, 0.01), WEFT_ETIMEDOUT);
    weft_bytes_free(ev);
    ck_assert_ptr_null(r);
    weft_future *f;
    WT_OK(weft_pool_apply_async(p, square, NULL, NULL, NULL, NULL, &f));
    /* imap next with a timeout while the only worker is blocked. */
    const weft_bytes *args[1] = {int_bytes(3)};
    weft_pool_iter *it;
    WT_OK(weft_pool_imap(p, square, args, 1, 1, false, &it));
    WT_ERR(weft_pool_iter_next(it, &r, NULL, 0.01), WEFT_ETIMEDOUT);
    WT_ERR(weft_pool_join(p, 0), WEFT_ESTATE); /* neither closed nor terminated */
    WT_OK(weft_pool_terminate(p));
    WT_ERR(weft_future_exception(f, WEFT_FOREVER), WEFT_ECANCELLED);
    weft_future_unref(f);
    WT_ERR(weft_pool_iter_next(it, &r, NULL, WEFT_FOREVER), WEFT_ECANCELLED);
    weft_pool_iter_free(it);
    weft_bytes_free((weft_bytes *)args[0]);
    WT_OK(weft_pool_join(p, WEFT_FOREVER));
    WT_ERR(weft_pool_apply(p, square, NULL, &r, 0), WEFT_ESHUTDOWN);
    WT_ERR(weft_pool_apply_async(p, square, NULL, NULL, NULL, NULL, NULL), WEFT_ESHUTDOWN);
    weft_pool_free(p);
    weft_pevent_free(release);
}
END_TEST

static const char not_bytes[] =
    "the task returned a result that is not a weft_bytes (one made by weft_bytes_new and not "
    "freed)";

static void on_bad_result(int code, const char *msg, void *arg)
{
    struct tally *t = arg;
    weft_lock_acquire(&t->lock, WEFT_FOREVER);
    t->failed++;
    snprintf(t->last_msg, sizeof t->last_msg, "%s", msg ? msg : "");
    weft_event_set(&t->all_in);
    weft_lock_release(&t->lock);
}

/* A task whose result is not a weft_bytes fails with its message through
 * every call; a worker that dies says which task it ran and why. */
START_TEST(not_bytes_and_dead_workers)
{
    weft_pool *p = new_pool(1);
    weft_bytes *r = (weft_bytes *)1;
    WT_ERR(weft_pool_apply(p, number_at_5, NULL, &r, WEFT_FOREVER), WEFT_EINVAL);
    ck_assert_ptr_null(r);
    ck_assert_str_eq(weft_last_message(), not_bytes);

    struct tally t = {.want = 1};
    WT_OK(weft_lock_init(&t.lock));
    WT_OK(weft_event_init(&t.all_in));
    WT_OK(weft_pool_apply_async(p, number_at_5, NULL, NULL, on_bad_result, &t, NULL));
    WT_OK(weft_event_wait(&t.all_in, WEFT_FOREVER));
    ck_assert_int_eq(t.failed, 1);
    ck_assert_str_eq(t.last_msg, not_bytes);
    weft_event_destroy(&t.all_in);
    weft_lock_destroy(&t.lock);

    enum { N = 8 };
    weft_bytes *args[N];
    for (int i = 0; i < N; i++)
        args[i] = int_bytes(i);
    weft_pool_iter *it;
    WT_OK(weft_pool_imap(p, number_at_5, (const weft_bytes *const *)args, N, 1, true, &it));
    for (int i = 0; i < N; i++) {
        size_t idx;
        int rc = weft_pool_iter_next(it, &r, &idx, WEFT_FOREVER);
        if (i == 5) {
            WT_ERR(rc, WEFT_EINVAL);
            ck_assert_str_eq(weft_last_message(), not_bytes);
            continue;
        }
        WT_OK(rc);
        ck_assert_int_eq(bytes_int(r), i * i);
        weft_bytes_free(r);
    }
    WT_ERR(weft_pool_iter_next(it, &r, NULL, WEFT_FOREVER), WEFT_EEOF);
    weft_pool_iter_free(it);
    weft_bytes *res[N];
    WT_ERR(weft_pool_map(p, number_at_5, (const weft_bytes *const *)args, res, N, 3, WEFT_FOREVER),
           WEFT_EINVAL);
    ck_assert_str_eq(weft_last_message(), not_bytes);
    for (int i = 0; i < N; i++) {
        weft_bytes_free(res[i]);
        weft_bytes_free(args[i]);
    }

    /* The same worker ran everything: none of it killed it. Its death in
     * the pool's 15th task (after apply, apply_async, imap's 8 items, map's
     * 3 chunks and an apply) is told. */
    pid_t pid;
    size_t n;
    WT_OK(weft_process_pool_pids(weft_pool_executor(p), &pid, 1, &n));
    ck_assert_uint_eq(n, 1);
    weft_bytes *a = int_bytes(6);
    WT_OK(weft_pool_apply(p, square, a, &r, WEFT_FOREVER));
    ck_assert_int_eq(bytes_int(r), 36);
    weft_bytes_free(r);
    weft_bytes_free(a);
    pid_t again;
    WT_OK(weft_process_pool_pids(weft_pool_executor(p), &again, 1, &n));
    ck_assert_int_eq(again, pid);
    WT_ERR(weft_pool_apply(p, exit_3, NULL, &r, WEFT_FOREVER), WEFT_EBROKEN);
    char want[120];
    snprintf(want, sizeof want, "worker %d exited with code 3 while running task 15", (int)pid);
    ck_assert_msg(strncmp(weft_last_message(), want, strlen(want)) == 0, "%s",
                  weft_last_message());
    weft_pool_free(p);
}
END_TEST

START_TEST(bad_input)
{
    weft_bytes *r;
    WT_ERR(weft_pool_new(NULL, NULL), WEFT_EINVAL);
    WT_ERR(weft_pool_apply(NULL, square, NULL, &r, 0), WEFT_EINVAL);
    WT_ERR(weft_pool_close(NULL), WEFT_EINVAL);
    WT_ERR(weft_pool_terminate(NULL), WEFT_EINVAL);
    WT_ERR(weft_pool_join(NULL, 0), WEFT_EINVAL);
    ck_assert_ptr_null(weft_pool_executor(NULL));
    weft_pool_free(NULL);
    weft_pool_iter_free(NULL);
    weft_pool *p = new_pool(1);
    ck_assert_ptr_nonnull(weft_pool_executor(p));
    WT_ERR(weft_pool_apply(p, NULL, NULL, &r, 0), WEFT_EINVAL);
    WT_ERR(weft_pool_apply(p, square, NULL, NULL, 0), WEFT_EINVAL);
    WT_ERR(weft_pool_apply(p, square, NULL, &r, -3), WEFT_EINVAL);
    WT_ERR(weft_pool_apply_async(p, NULL, NULL, NULL, NULL, NULL, NULL), WEFT_EINVAL);
    weft_pool_iter *it;
    WT_ERR(weft_pool_imap(p, square, NULL, 3, 1, true, &it), WEFT_EINVAL);
    WT_ERR(weft_pool_imap(p, square, NULL, 0, 1, true, NULL), WEFT_EINVAL);
    WT_OK(weft_pool_imap(p, square, NULL, 0, 1, true, &it));
    WT_ERR(weft_pool_iter_next(it, &r, NULL, WEFT_FOREVER), WEFT_EEOF);
    WT_ERR(weft_pool_iter_next(it, &r, NULL, -1.5), WEFT_EINVAL);
    WT_ERR(weft_pool_iter_next(NULL, &r, NULL, 0), WEFT_EINVAL);
    weft_pool_iter_free(it);
    WT_OK(weft_pool_close(p));
    WT_OK(weft_pool_close(p)); /* twice is harmless */
    WT_ERR(weft_pool_join(p, -2), WEFT_EINVAL);
    WT_OK(weft_pool_join(p, WEFT_FOREVER));
    weft_pool_free(p);
}
END_TEST

WT_MAIN("pool", 60, apply_and_map, apply_async_callbacks, imap_ordered_and_unordered,
        terminate_and_timeouts, not_bytes_and_dead_workers, bad_input)
