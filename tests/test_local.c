/* weft_local: per-thread values, the destructor at thread exit, errors. */
#include <pthread.h>

#include "wt.h"

static void *seen_value;
static int destroyed;

static void destroy(void *v)
{
    seen_value = v;
    destroyed++;
}

struct ctx {
    weft_local *l;
    void *mine;
    void *before;
    void *after;
};

static void *set_own(void *arg)
{
    struct ctx *c = arg;
    c->before = weft_local_get(c->l);
    WT_OK(weft_local_set(c->l, c->mine));
    c->after = weft_local_get(c->l);
    return NULL;
}

START_TEST(local_per_thread)
{
    weft_local *l;
    WT_OK(weft_local_new(&l, NULL));
    ck_assert_ptr_null(weft_local_get(l));
    int a, b;
    WT_OK(weft_local_set(l, &a));
    ck_assert_ptr_eq(weft_local_get(l), &a);

    struct ctx c = {l, &b, NULL, NULL};
    weft_thread *t;
    WT_OK(weft_thread_new(&t, set_own, &c, NULL));
    WT_OK(weft_thread_start(t));
    WT_OK(weft_thread_join(t, WEFT_FOREVER));
    weft_thread_unref(t);
    ck_assert_ptr_null(c.before); /* a new thread starts empty */
    ck_assert_ptr_eq(c.after, &b);
    ck_assert_ptr_eq(weft_local_get(l), &a); /* ours is untouched */
    WT_OK(weft_local_set(l, NULL));
    ck_assert_ptr_null(weft_local_get(l));
    weft_local_free(l);
}
END_TEST

START_TEST(local_destructor_at_exit)
{
    weft_local *l;
    WT_OK(weft_local_new(&l, destroy));
    int v;
    struct ctx c = {l, &v, NULL, NULL};
    weft_thread *t;
    WT_OK(weft_thread_new(&t, set_own, &c, NULL));
    WT_OK(weft_thread_start(t));
    /* The (first) joiner reaps the pthread, after its destructors ran. */
    WT_OK(weft_thread_join(t, WEFT_FOREVER));
    weft_thread_unref(t);
    ck_assert_int_eq(destroyed, 1);
    ck_assert_ptr_eq(seen_value, &v);

    /* Not for a NULL value; and a raw pthread's value too. */
    c.mine = NULL;
    WT_OK(weft_thread_new(&t, set_own, &c, NULL));
    WT_OK(weft_thread_start(t));
    WT_OK(weft_thread_join(t, WEFT_FOREVER));
    weft_thread_unref(t);
    ck_assert_int_eq(destroyed, 1);

    c.mine = &c;
    pthread_t pt;
    ck_assert_int_eq(pthread_create(&pt, NULL, set_own, &c), 0);
    pthread_join(pt, NULL);
    ck_assert_int_eq(destroyed, 2);
    ck_assert_ptr_eq(seen_value, &c);
    weft_local_free(l);
}
END_TEST

START_TEST(local_errors)
{
    WT_ERR(weft_local_new(NULL, NULL), WEFT_EINVAL);
    WT_ERR(weft_local_set(NULL, &destroyed), WEFT_EINVAL);
    ck_assert_ptr_null(weft_local_get(NULL));
    weft_local_free(NULL);
}
END_TEST

/* Keys run out (PTHREAD_KEYS_MAX): EAGAIN, and freeing gives them back. */
START_TEST(local_exhaustion)
{
    enum { MAX = 4096 };
    static weft_local *ls[MAX];
    int n = 0, rc = 0;
    while (n < MAX && (rc = weft_local_new(&ls[n], NULL)) == 0)
        n++;
    ck_assert_int_eq(rc, WEFT_EAGAIN);
    ck_assert_int_gt(n, 0);
    weft_local_free(ls[--n]);
    WT_OK(weft_local_new(&ls[n], NULL));
    n++;
    while (n > 0)
        weft_local_free(ls[--n]);
}
END_TEST

WT_MAIN("local", 30, local_per_thread, local_destructor_at_exit, local_errors,
        local_exhaustion)
