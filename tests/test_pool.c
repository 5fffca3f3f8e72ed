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

static int fail_if_negative(const void *in, void *out)
{
    if (*(const int *)in < 0)
        return WEFT_EOVERFLOW;
    return square_item(in, out);
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

/* Map items whose failures come in another order than their indexes:
 * the item that waits for `go` fails with EOVERFLOW once released, the
 * one that fails at once with EMSGSIZE, and the one that sets `go` only
 * after it. With two workers, one holds the waiting item and the other
 * runs the rest in order, so EMSGSIZE reaches the parent first. */
enum { ROLE_OK, ROLE_WAIT_THEN_FAIL, ROLE_FAIL, ROLE_SET_GO };

struct role {
    int role;
    int v;
    weft_pevent *go;
};

static int by_role(void *arg, void **result)
{
    weft_bytes *in = arg;
    struct role r;
    if (!in || in->len != sizeof r)
        return WEFT_EINVAL;
    memcpy(&r, in->data, sizeof r);
    switch (r.role) {
    case ROLE_WAIT_THEN_FAIL:
        weft_pevent_wait(r.go, WEFT_FOREVER);
        weft_task_set_message("late failure");
        return WEFT_EOVERFLOW;
    case ROLE_FAIL:
        weft_task_set_message("early failure");
        return WEFT_EMSGSIZE;
    case ROLE_SET_GO:
        weft_pevent_set(r.go);
        break;
    }
    int sq = r.v * r.v;
    return weft_bytes_new((weft_bytes **)result, &sq, sizeof sq);
}

static void role_args(weft_bytes **args, int n, weft_pevent *go)
{
    for (int i = 0; i < n; i++) {
        struct role r = {.role = i == 0 ? ROLE_WAIT_THEN_FAIL
                                 : i == 3 ? ROLE_FAIL
                                 : i == 5 ? ROLE_SET_GO
                                          : ROLE_OK,
                         .v = i, .go = go};
        WT_OK(weft_bytes_new(&args[i], &r, sizeof r));
    }
}

/* Pool.map is not fail-fast: every call runs, every success has its
 * result, and the error is the first failure to arrive (Python's
 * MapResult keeps the first failure it is given), not the first by
 * index. */
START_TEST(map_waits_for_every_call)
{
    weft_pevent *go;
    WT_OK(weft_pevent_new(&go));
    weft_pool *p = new_pool(2);
    enum { N = 12 };
    weft_bytes *args[N], *res[N];
    role_args(args, N, go);
    WT_ERR(weft_pool_map(p, by_role, (const weft_bytes *const *)args, res, N, 1, WEFT_FOREVER),
           WEFT_EMSGSIZE);
    ck_assert_str_eq(weft_last_message(), "early failure");
    for (int i = 0; i < N; i++) {
        if (i == 0 || i == 3) {
            ck_assert_ptr_null(res[i]);
        } else {
            ck_assert_int_eq(bytes_int(res[i]), i * i);
            weft_bytes_free(res[i]);
        }
    }
    /* The fixed-size map too: every item after the failing one is written. */
    enum { M = 400 };
    int in[M], out[M];
    for (int i = 0; i < M; i++) {
        in[i] = i;
        out[i] = -1;
    }
    in[7] = -7;
    WT_ERR(weft_pool_map_fixed(p, fail_if_negative, in, sizeof *in, out, sizeof *out, M, 10,
                               WEFT_FOREVER),
           WEFT_EOVERFLOW);
    for (int i = 10; i < M; i++)
        ck_assert_int_eq(out[i], i * i);
    for (int i = 0; i < N; i++)
        weft_bytes_free(args[i]);
    weft_pool_free(p);
    weft_pevent_free(go);
}
END_TEST

struct async_seen {
    int ok, failed, code;
    size_t n;
    weft_bytes *const *results;
    char msg[64];
};

static void on_map(weft_bytes *const *results, size_t n, void *arg)
{
    struct async_seen *s = arg;
    s->ok++;
    s->n = n;
    s->results = results;
}

static void on_map_error(int code, const char *msg, void *arg)
{
    struct async_seen *s = arg;
    s->failed++;
    s->code = code;
    snprintf(s->msg, sizeof s->msg, "%s", msg ? msg : "");
}

/* map_async: an AsyncResult whose callback has run by the time it is
 * ready (get, wait, ready, successful), whose result is the results
 * array, that cannot be cancelled, and whose error is the map's. */
START_TEST(map_async_callbacks_before_ready)
{
    weft_pool *p = new_pool(2);
    enum { N = 40 };
    weft_bytes *args[N], *res[N];
    for (int i = 0; i < N; i++)
        args[i] = int_bytes(i == 13 ? 12 : i);
    struct async_seen seen = {0};
    weft_future *f;
    WT_OK(weft_pool_map_async(p, square, (const weft_bytes *const *)args, res, N, 3, on_map,
                              on_map_error, &seen, &f));
    ck_assert(!weft_future_cancel(f));
    void *r = NULL;
    WT_OK(weft_future_result(f, &r, WEFT_FOREVER)); /* get() */
    ck_assert_ptr_eq(r, res);
    ck_assert_int_eq(seen.ok, 1); /* ran before get() returned */
    ck_assert_int_eq(seen.failed, 0);
    ck_assert_uint_eq(seen.n, N);
    ck_assert_ptr_eq(seen.results, res);
    ck_assert(weft_future_done(f));                 /* ready() */
    WT_OK(weft_future_exception(f, 0));             /* successful() */
    for (int i = 0; i < N; i++) {
        ck_assert_int_eq(bytes_int(res[i]), i == 13 ? 144 : i * i);
        weft_bytes_free(res[i]);
    }
    weft_future_unref(f);
    /* A failing map: the error callback, then the error. */
    weft_bytes_free(args[13]);
    args[13] = int_bytes(13);
    seen = (struct async_seen){0};
    WT_OK(weft_pool_map_async(p, square, (const weft_bytes *const *)args, res, N, 3, on_map,
                              on_map_error, &seen, &f));
    WT_ERR(weft_future_exception(f, WEFT_FOREVER), WEFT_EOVERFLOW);
    ck_assert_int_eq(seen.failed, 1);
    ck_assert_int_eq(seen.ok, 0);
    ck_assert_int_eq(seen.code, WEFT_EOVERFLOW);
    ck_assert_str_eq(seen.msg, "unlucky 13");
    ck_assert_str_eq(weft_future_message(f), "unlucky 13");
    for (int i = 0; i < N; i++)
        weft_bytes_free(res[i]);
    weft_future_unref(f);
    /* An empty map is ready at once; no future asked for is fine. */
    WT_OK(weft_pool_map_async(p, square, NULL, NULL, 0, 0, on_map, NULL, &seen, &f));
    WT_OK(weft_future_exception(f, 0));
    weft_future_unref(f);
    for (int i = 0; i < N; i++)
        weft_bytes_free(args[i]);
    weft_pool_free(p);
}
END_TEST

/* A starmap task: base ** exponent from two ints, or the count of NULL
 * arguments when there is one. */
static int power(const weft_bytes *const *args, size_t nargs, void **result)
{
    if (nargs != 2)
        return WEFT_EINVAL;
    int v;
    if (!args[0] || !args[1]) {
        v = -((args[0] == NULL) + (args[1] == NULL));
    } else if (args[0]->len != sizeof(int) || args[1]->len != sizeof(int)) {
        return WEFT_EINVAL;
    } else {
        int b, e;
        memcpy(&b, args[0]->data, sizeof b);
        memcpy(&e, args[1]->data, sizeof e);
        if (e < 0) {
            weft_task_set_message("negative exponent %d", e);
            return WEFT_ENOSPC;
        }
        v = 1;
        while (e-- > 0)
            v *= b;
    }
    return weft_bytes_new((weft_bytes **)result, &v, sizeof v);
}

/* starmap(pow, [(2, 5), (3, 2), ...]): each call gets its tuple's
 * arguments, NULLs included; failures and the async twin as map's. */
START_TEST(starmap_calls_with_each_tuple)
{
    weft_pool *p = new_pool(2);
    enum { N = 20 };
    const weft_bytes *args[2 * N];
    weft_bytes *res[N];
    for (int i = 0; i < N; i++) {
        args[2 * i] = int_bytes(i % 5);
        args[2 * i + 1] = int_bytes(i % 4);
    }
    for (size_t cs = 0; cs < 8; cs += 7) {
        WT_OK(weft_pool_starmap(p, power, args, 2, res, N, cs, WEFT_FOREVER));
        for (int i = 0; i < N; i++) {
            int want = 1;
            for (int e = 0; e < i % 4; e++)
                want *= i % 5;
            ck_assert_int_eq(bytes_int(res[i]), want);
            weft_bytes_free(res[i]);
        }
    }
    /* NULL arguments reach the task as NULL. */
    const weft_bytes *holes[4] = {NULL, args[1], NULL, NULL};
    WT_OK(weft_pool_starmap(p, power, holes, 2, res, 2, 1, WEFT_FOREVER));
    ck_assert_int_eq(bytes_int(res[0]), -1);
    ck_assert_int_eq(bytes_int(res[1]), -2);
    weft_bytes_free(res[0]);
    weft_bytes_free(res[1]);
    /* No calls: done at once. */
    WT_OK(weft_pool_starmap(p, power, NULL, 2, NULL, 0, 0, WEFT_FOREVER));
    /* A failure, with its message; the async twin. */
    weft_bytes *neg = int_bytes(-1);
    const weft_bytes *bad[4] = {args[0], args[1], args[2], neg};
    WT_ERR(weft_pool_starmap(p, power, bad, 2, res, 2, 1, WEFT_FOREVER), WEFT_ENOSPC);
    ck_assert_str_eq(weft_last_message(), "negative exponent -1");
    ck_assert_int_eq(bytes_int(res[0]), 1);
    ck_assert_ptr_null(res[1]);
    weft_bytes_free(res[0]);
    struct async_seen seen = {0};
    weft_future *f;
    WT_OK(weft_pool_starmap_async(p, power, args, 2, res, N, 3, on_map, on_map_error, &seen, &f));
    WT_OK(weft_future_exception(f, WEFT_FOREVER));
    ck_assert_int_eq(seen.ok, 1);
    for (int i = 0; i < N; i++)
        weft_bytes_free(res[i]);
    weft_future_unref(f);
    /* Arguments that are not weft_bytes are refused before anything runs. */
    int junk[8] = {0};
    const weft_bytes *wrong[2] = {args[0], (const weft_bytes *)&junk[2]};
    WT_ERR(weft_pool_starmap(p, power, wrong, 2, res, 1, 1, WEFT_FOREVER), WEFT_EINVAL);
    ck_assert_ptr_nonnull(strstr(weft_last_message(), "argument 1"));
    WT_ERR(weft_pool_starmap(p, power, NULL, 2, res, 1, 1, WEFT_FOREVER), WEFT_EINVAL);
    WT_ERR(weft_pool_starmap(p, NULL, args, 2, res, 1, 1, WEFT_FOREVER), WEFT_EINVAL);
    WT_ERR(weft_pool_starmap(p, power, args, 2, NULL, 1, 1, WEFT_FOREVER), WEFT_EINVAL);
    WT_ERR(weft_pool_starmap(p, power, args, 2, res, 1, 1, -3), WEFT_EINVAL);
    WT_ERR(weft_pool_starmap_async(p, power, NULL, 2, res, 1, 1, NULL, NULL, NULL, NULL),
           WEFT_EINVAL);
    WT_ERR(weft_pool_map_async(NULL, square, NULL, NULL, 0, 0, NULL, NULL, NULL, NULL),
           WEFT_EINVAL);
    weft_bytes_free(neg);
    for (int i = 0; i < 2 * N; i++)
        weft_bytes_free((weft_bytes *)args[i]);
    WT_OK(weft_pool_close(p));
    WT_ERR(weft_pool_starmap(p, power, args, 2, res, 0, 1, WEFT_FOREVER), WEFT_ESHUTDOWN);
    WT_ERR(weft_pool_map_async(p, square, NULL, res, 0, 0, NULL, NULL, NULL, NULL),
           WEFT_ESHUTDOWN);
    WT_OK(weft_pool_join(p, WEFT_FOREVER));
    weft_pool_free(p);
}
END_TEST

static int my_pid(void *arg, void **result)
{
    int pid = getpid();
    return weft_bytes_new((weft_bytes **)result, &pid, sizeof pid);
}

/* maxtasksperchild with close() and join(): every task queued runs, each
 * in a fresh worker (_TestPoolWorkerLifetime's early close). */
START_TEST(close_join_with_maxtasksperchild_runs_everything)
{
    weft_process_pool_opts o = {.max_workers = 1, .max_tasks_per_child = 1};
    weft_pool *p = NULL;
    WT_OK(weft_pool_new(&p, &o));
    enum { N = 6 };
    weft_future *fs[N];
    for (int i = 0; i < N; i++)
        WT_OK(weft_pool_apply_async(p, my_pid, NULL, NULL, NULL, NULL, &fs[i]));
    WT_OK(weft_pool_close(p));
    WT_OK(weft_pool_join(p, WEFT_FOREVER));
    int pids[N];
    for (int i = 0; i < N; i++) {
        weft_bytes *r;
        WT_OK(weft_process_pool_result(fs[i], &r, 0));
        pids[i] = bytes_int(r);
        weft_bytes_free(r);
        weft_future_unref(fs[i]);
        for (int j = 0; j < i; j++)
            ck_assert_int_ne(pids[i], pids[j]);
    }
    weft_pool_free(p);
}
END_TEST

/* Sets the first shared event it gets, then waits for the second. */
static int tell_and_block(void *arg, void **result)
{
    weft_bytes *in = arg;
    weft_pevent *ev[2];
    if (!in || in->len != sizeof ev)
        return WEFT_EINVAL;
    memcpy(ev, in->data, sizeof ev);
    weft_pevent_set(ev[0]);
    return weft_pevent_wait(ev[1], WEFT_FOREVER);
}

/* terminate(): what no worker took ends CANCELLED and never runs; the task
 * a worker ran fails with WEFT_ECANCELLED (not cancelled: it had started);
 * a map_async in flight ends too. */
START_TEST(terminate_cancels_what_waits)
{
    weft_pevent *evs[2];
    WT_OK(weft_pevent_new(&evs[0]));
    WT_OK(weft_pevent_new(&evs[1]));
    weft_pool *p = new_pool(1);
    weft_bytes *ev;
    WT_OK(weft_bytes_new(&ev, evs, sizeof evs));
    weft_future *running, *queued[5], *mapped;
    WT_OK(weft_pool_apply_async(p, tell_and_block, ev, NULL, NULL, NULL, &running));
    WT_OK(weft_pevent_wait(evs[0], WEFT_FOREVER));
    for (int i = 0; i < 5; i++)
        WT_OK(weft_pool_apply_async(p, square, NULL, NULL, NULL, NULL, &queued[i]));
    weft_bytes *args[3] = {int_bytes(1), int_bytes(2), int_bytes(3)}, *res[3];
    WT_OK(weft_pool_map_async(p, square, (const weft_bytes *const *)args, res, 3, 1, NULL, NULL,
                              NULL, &mapped));
    for (int i = 0; i < 5; i++)
        ck_assert_int_eq(weft_future_get_state(queued[i]), WEFT_FUTURE_PENDING);
    WT_OK(weft_pool_terminate(p));
    for (int i = 0; i < 5; i++) {
        ck_assert(weft_future_cancelled(queued[i]));
        weft_future_unref(queued[i]);
    }
    WT_ERR(weft_future_exception(running, WEFT_FOREVER), WEFT_ECANCELLED);
    ck_assert(!weft_future_cancelled(running));
    WT_ERR(weft_future_exception(mapped, WEFT_FOREVER), WEFT_ECANCELLED);
    for (int i = 0; i < 3; i++) {
        ck_assert_ptr_null(res[i]);
        weft_bytes_free(args[i]);
    }
    weft_future_unref(mapped);
    weft_future_unref(running);
    WT_OK(weft_pool_join(p, WEFT_FOREVER));
    weft_bytes_free(ev);
    weft_pool_free(p);
    weft_pevent_free(evs[0]);
    weft_pevent_free(evs[1]);
}
END_TEST

/* Waits for the first shared event it gets, at most 50 ms, then returns
 * its int: long enough that the waiting thread stops helping and the
 * pool's own thread completes the task. */
struct slow_arg {
    weft_pevent *never;
    int v;
};

static int slow_echo(void *arg, void **result)
{
    weft_bytes *in = arg;
    struct slow_arg a;
    if (!in || in->len != sizeof a)
        return WEFT_EINVAL;
    memcpy(&a, in->data, sizeof a);
    weft_pevent_wait(a.never, 0.05);
    if (a.v < 0) {
        weft_task_set_message("negative");
        return WEFT_EOVERFLOW;
    }
    return weft_bytes_new((weft_bytes **)result, &a.v, sizeof a.v);
}

struct cb_seen {
    weft_event late; /* never set: the callbacks linger on it */
    int ok, failed;
};

static void slow_cb(const weft_bytes *result, void *arg)
{
    struct cb_seen *s = arg;
    weft_event_wait(&s->late, 0.2);
    __atomic_store_n(&s->ok, bytes_int(result), __ATOMIC_RELEASE);
}

static void slow_ecb(int code, const char *message, void *arg)
{
    struct cb_seen *s = arg;
    weft_event_wait(&s->late, 0.2);
    __atomic_store_n(&s->failed, code, __ATOMIC_RELEASE);
}

/* apply_async's AsyncResult is ready only once its callback (or error
 * callback) has returned, as Python's: get() never comes first. */
START_TEST(apply_async_callback_runs_before_ready)
{
    weft_pevent *never;
    WT_OK(weft_pevent_new(&never));
    weft_pool *p = new_pool(1);
    struct cb_seen seen = {0};
    WT_OK(weft_event_init(&seen.late));
    for (int v = 7; v >= -7; v -= 14) {
        struct slow_arg a = {.never = never, .v = v};
        weft_bytes *arg;
        WT_OK(weft_bytes_new(&arg, &a, sizeof a));
        weft_future *f;
        WT_OK(weft_pool_apply_async(p, slow_echo, arg, slow_cb, slow_ecb, &seen, &f));
        weft_bytes_free(arg);
        ck_assert(!weft_future_cancel(f)); /* an AsyncResult has no cancel */
        weft_bytes *r = NULL;
        if (v > 0) {
            WT_OK(weft_process_pool_result(f, &r, WEFT_FOREVER));
            ck_assert_int_eq(__atomic_load_n(&seen.ok, __ATOMIC_ACQUIRE), 7);
            ck_assert_int_eq(bytes_int(r), 7);
            weft_bytes_free(r);
        } else {
            WT_ERR(weft_process_pool_result(f, &r, WEFT_FOREVER), WEFT_EOVERFLOW);
            ck_assert_int_eq(__atomic_load_n(&seen.failed, __ATOMIC_ACQUIRE), WEFT_EOVERFLOW);
            ck_assert_str_eq(weft_future_message(f), "negative");
        }
        weft_future_unref(f);
    }
    weft_pool_free(p);
    weft_event_destroy(&seen.late);
    weft_pevent_free(never);
}
END_TEST

/* A map item: item 0 holds the worker until released, the others count
 * their runs. */
struct hold_or_count {
    weft_pevent *release;
    weft_value *runs;
    int hold;
};

static int hold_or_count(void *arg, void **result)
{
    weft_bytes *in = arg;
    struct hold_or_count h;
    if (!in || in->len != sizeof h)
        return WEFT_EINVAL;
    memcpy(&h, in->data, sizeof h);
    if (h.hold)
        weft_pevent_wait(h.release, WEFT_FOREVER);
    else
        weft_value_add_i64(h.runs, 1, NULL);
    int one = 1;
    return weft_bytes_new((weft_bytes **)result, &one, sizeof one);
}

/* Pool.map with a timeout that runs out: the calls no worker took are
 * cancelled (never run), and nothing is written to the results once the
 * call has returned (the array is freed at once: ASan would see it). */
START_TEST(map_timeout_cancels_and_writes_nothing_later)
{
    weft_pevent *release;
    weft_value *runs;
    WT_OK(weft_pevent_new(&release));
    WT_OK(weft_value_new(&runs, WEFT_CTYPE_I64, NULL, false));
    weft_pool *p = new_pool(1);
    enum { N = 8 };
    weft_bytes *args[N];
    for (int i = 0; i < N; i++) {
        struct hold_or_count h = {.release = release, .runs = runs, .hold = i == 0};
        WT_OK(weft_bytes_new(&args[i], &h, sizeof h));
    }
    for (int round = 0; round < 2; round++) {
        weft_bytes **res = malloc(N * sizeof *res);
        WT_ERR(weft_pool_map(p, hold_or_count, (const weft_bytes *const *)args, res, N, 1, 0.02),
               WEFT_ETIMEDOUT);
        for (int i = 0; i < N; i++)
            ck_assert_ptr_null(res[i]);
        free(res);
        WT_OK(weft_pevent_set(release)); /* item 0 finishes, into nothing */
        weft_bytes *r;
        WT_OK(weft_pool_apply(p, hold_or_count, args[1], &r, WEFT_FOREVER)); /* after it */
        weft_bytes_free(r);
        WT_OK(weft_pevent_clear(release));
    }
    int64_t n;
    WT_OK(weft_value_get_i64(runs, &n));
    ck_assert_int_eq(n, 2); /* the two applies, no map item */
    for (int i = 0; i < N; i++)
        weft_bytes_free(args[i]);
    weft_pool_free(p);
    weft_value_free(runs);
    weft_pevent_free(release);
}
END_TEST

/* chunksize 0 is Python's Pool default, n / (4 x processes) rounded up:
 * 40 calls on 2 processes go 5 to a task, so the call after 13 (which
 * fails) in 13's chunk never runs, and the other chunks all do. */
START_TEST(map_default_chunksize_is_pythons)
{
    weft_pool *p = new_pool(2);
    enum { N = 40 };
    weft_bytes *args[N], *res[N];
    for (int i = 0; i < N; i++)
        args[i] = int_bytes(i);
    WT_ERR(weft_pool_map(p, square, (const weft_bytes *const *)args, res, N, 0, WEFT_FOREVER),
           WEFT_EOVERFLOW);
    for (int i = 0; i < N; i++) {
        if (i == 13 || i == 14) {
            ck_assert_ptr_null(res[i]);
        } else {
            ck_assert_int_eq(bytes_int(res[i]), i * i);
            weft_bytes_free(res[i]);
        }
        weft_bytes_free(args[i]);
    }
    weft_pool_free(p);
}
END_TEST

WT_MAIN("pool", 60, apply_and_map, apply_async_callbacks, imap_ordered_and_unordered,
        terminate_and_timeouts, not_bytes_and_dead_workers, bad_input, map_waits_for_every_call,
        map_async_callbacks_before_ready, starmap_calls_with_each_tuple,
        close_join_with_maxtasksperchild_runs_everything, terminate_cancels_what_waits,
        apply_async_callback_runs_before_ready, map_timeout_cancels_and_writes_nothing_later,
        map_default_chunksize_is_pythons)
