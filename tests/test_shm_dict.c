/* The shared dict and list: operations, capacity (WEFT_EFULL), many
 * processes writing at once, and robustness: a process SIGKILLed while it
 * holds the structure's lock, at each step of each call that changes it,
 * leaves a structure the others use at once, holding exactly the state
 * before or after that call, with no storage lost. Children report through
 * exit codes; the dying ones kill themselves at a chosen point (a test
 * hook), so every death is deterministic. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal/share.h"
#include "weft/shm.h"
#include "wt.h"

/* A test that starts processes runs twice, under each start method: fork
 * and forkserver (whose children get nothing but shared memory, the
 * registered fds and arg_size copies, which is all these tests give). */
#define METHOD_TEST(name)                                                               \
    static void name##_body(void);                                                      \
    START_TEST(name)                                                                    \
    {                                                                                   \
        static const enum weft_start_method methods[] = {WEFT_START_FORK,               \
                                                         WEFT_START_FORKSERVER};        \
        for (int m = 0; m < 2; m++) {                                                   \
            WT_OK(weft_set_start_method(methods[m]));                                   \
            name##_body();                                                              \
        }                                                                               \
    }                                                                                   \
    END_TEST                                                                            \
    static void name##_body(void)

extern int weft__shm_dict_crash_at;
weft_plock *weft__pdict_lock(weft_pdict *d);
weft_plock *weft__plist_lock(weft_plist *l);

enum {
    CRASH_DICT_NEW = 1,
    CRASH_DICT_REPLACE,
    CRASH_DICT_DELETE,
    CRASH_DICT_REHASH,
    CRASH_DICT_CLEAR,
    CRASH_LIST_APPEND,
    CRASH_LIST_SET,
    CRASH_LIST_POP,
    CRASH_LIST_POP_LAST,
    CRASH_LIST_INSERT,
    CRASH_LIST_CLEAR,
};

static weft_process *spawn(weft_process_fn fn, void *arg)
{
    weft_process *p;
    WT_OK(weft_process_new(&p, fn, arg, NULL));
    WT_OK(weft_process_start(p));
    return p;
}

static int reap(weft_process *p)
{
    WT_OK(weft_process_join(p, WEFT_FOREVER));
    int code = 12345;
    WT_OK(weft_process_exitcode(p, &code));
    WT_OK(weft_process_close(p));
    weft_process_free(p);
    return code;
}

static int run_child(weft_process_fn fn, void *arg)
{
    return reap(spawn(fn, arg));
}

#define S(str) str, strlen(str)

static void pop_discard(weft_plist *l, ptrdiff_t i)
{
    void *v = NULL;
    WT_OK(weft_plist_pop_alloc(l, i, &v, NULL));
    free(v);
}

static void expect_value(weft_pdict *d, const char *key, const char *want)
{
    char buf[256];
    size_t n = 0;
    WT_OK(weft_pdict_get(d, S(key), buf, sizeof buf, &n));
    ck_assert_uint_eq(n, strlen(want));
    ck_assert_int_eq(memcmp(buf, want, n), 0);
}

static void expect_item(weft_plist *l, ptrdiff_t i, const char *want)
{
    char buf[256];
    size_t n = 0;
    WT_OK(weft_plist_get(l, i, buf, sizeof buf, &n));
    ck_assert_uint_eq(n, strlen(want));
    ck_assert_int_eq(memcmp(buf, want, n), 0);
}

/* ----------------------------------------------------------------- dict */

START_TEST(pdict_operations)
{
    weft_pdict *d;
    WT_OK(weft_pdict_new(&d, 16, 4096));
    ck_assert_uint_eq(weft_pdict_len(d), 0);
    ck_assert(!weft_pdict_contains(d, S("a")));
    WT_OK(weft_pdict_set(d, S("a"), S("apple")));
    WT_OK(weft_pdict_set(d, S("b"), S("banana")));
    ck_assert_uint_eq(weft_pdict_len(d), 2);
    ck_assert(weft_pdict_contains(d, S("a")));
    expect_value(d, "a", "apple");
    expect_value(d, "b", "banana");
    /* Replace, with a longer value spanning chunks. */
    char big[200];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = 0;
    WT_OK(weft_pdict_set(d, S("a"), S(big)));
    expect_value(d, "a", big);
    ck_assert_uint_eq(weft_pdict_len(d), 2);
    /* Too small a buffer: the length needed, nothing copied. */
    char small[4] = "zzz";
    size_t n = 0;
    WT_ERR(weft_pdict_get(d, S("b"), small, sizeof small, &n), WEFT_EMSGSIZE);
    ck_assert_uint_eq(n, 6);
    ck_assert_str_eq(small, "zzz");
    /* The allocating form, NUL-terminated. */
    void *v = NULL;
    WT_OK(weft_pdict_get_alloc(d, S("b"), &v, &n));
    ck_assert_uint_eq(n, 6);
    ck_assert_str_eq(v, "banana");
    free(v);
    WT_ERR(weft_pdict_get_alloc(d, S("nope"), &v, &n), WEFT_ENOENT);
    WT_ERR(weft_pdict_get(d, S("nope"), small, sizeof small, &n), WEFT_ENOENT);
    /* Binary keys, empty keys and values. */
    const char bin[] = {0, 1, 0, 2};
    WT_OK(weft_pdict_set(d, bin, sizeof bin, NULL, 0));
    WT_OK(weft_pdict_set(d, NULL, 0, S("empty key")));
    ck_assert(weft_pdict_contains(d, bin, sizeof bin));
    ck_assert(!weft_pdict_contains(d, bin, 3));
    WT_OK(weft_pdict_get(d, bin, sizeof bin, NULL, 0, &n));
    ck_assert_uint_eq(n, 0);
    expect_value(d, "", "empty key");
    ck_assert_uint_eq(weft_pdict_len(d), 4);
    /* Keys: a snapshot. */
    weft_pdict_keys *k;
    WT_OK(weft_pdict_keys_new(d, &k));
    WT_OK(weft_pdict_delete(d, S("a"))); /* after the snapshot: still in it */
    ck_assert_uint_eq(weft_pdict_keys_len(k), 4);
    int seen = 0;
    for (size_t i = 0; i < weft_pdict_keys_len(k); i++) {
        size_t len;
        const char *key = weft_pdict_keys_get(k, i, &len);
        if (len == 1 && key[0] == 'a')
            seen |= 1;
        else if (len == 1 && key[0] == 'b')
            seen |= 2;
        else if (len == 4 && !memcmp(key, bin, 4))
            seen |= 4;
        else if (len == 0)
            seen |= 8;
    }
    ck_assert_int_eq(seen, 15);
    ck_assert_ptr_null(weft_pdict_keys_get(k, 4, &n));
    weft_pdict_keys_free(k);
    /* Delete. */
    WT_ERR(weft_pdict_delete(d, S("a")), WEFT_ENOENT);
    ck_assert(!weft_pdict_contains(d, S("a")));
    ck_assert_uint_eq(weft_pdict_len(d), 3);
    WT_OK(weft_pdict_clear(d));
    ck_assert_uint_eq(weft_pdict_len(d), 0);
    ck_assert(!weft_pdict_contains(d, S("b")));
    WT_OK(weft_pdict_keys_new(d, &k));
    ck_assert_uint_eq(weft_pdict_keys_len(k), 0);
    weft_pdict_keys_free(k);
    WT_OK(weft_pdict_set(d, S("b"), S("again")));
    expect_value(d, "b", "again");
    weft_pdict_free(d);
}
END_TEST

/* How many more one-chunk entries fit: the free storage, seen from
 * outside. Removes them again. */
static int room(weft_pdict *d)
{
    char key[32];
    int n = 0;
    for (;; n++) {
        snprintf(key, sizeof key, "room%d", n);
        int rc = weft_pdict_set(d, S(key), S("x"));
        if (rc == WEFT_EFULL)
            break;
        ck_assert_int_eq(rc, 0);
    }
    for (int i = 0; i < n; i++) {
        snprintf(key, sizeof key, "room%d", i);
        WT_OK(weft_pdict_delete(d, S(key)));
    }
    return n;
}

START_TEST(pdict_capacity)
{
    weft_pdict *d;
    /* 3 entries, 10 chunks of storage. */
    WT_OK(weft_pdict_new(&d, 3, 10 * WEFT_PDICT_CHUNK));
    WT_OK(weft_pdict_set(d, S("a"), S("1")));
    WT_OK(weft_pdict_set(d, S("b"), S("2")));
    WT_OK(weft_pdict_set(d, S("c"), S("3")));
    WT_ERR(weft_pdict_set(d, S("d"), S("4")), WEFT_EFULL); /* entries */
    ck_assert(!weft_pdict_contains(d, S("d")));
    WT_OK(weft_pdict_set(d, S("c"), S("33"))); /* a replacement is no new entry */
    WT_OK(weft_pdict_delete(d, S("c")));
    /* 8 chunks left: an entry of exactly 8 chunks fits, one byte more not. */
    size_t max = 8 * WEFT_PDICT_CHUNK - 8 - 1;
    char *big = malloc(max + 2);
    memset(big, 'v', max + 2);
    WT_ERR(weft_pdict_set(d, S("c"), big, max + 1), WEFT_EFULL);
    WT_OK(weft_pdict_set(d, S("c"), big, max));
    /* Storage now full: even a one-chunk entry is refused, whatever the
     * entry count; and a replacement needs room for the new value. */
    WT_OK(weft_pdict_delete(d, S("a")));
    WT_OK(weft_pdict_set(d, S("a"), S("1")));
    WT_ERR(weft_pdict_set(d, S("b"), S("22")), WEFT_EFULL);
    expect_value(d, "b", "2");
    WT_OK(weft_pdict_delete(d, S("a")));
    WT_OK(weft_pdict_set(d, S("b"), S("22")));
    expect_value(d, "b", "22");
    /* More than the whole storage can never fit. */
    WT_ERR(weft_pdict_set(d, S("z"), big, 10 * WEFT_PDICT_CHUNK), WEFT_EFULL);
    free(big);
    weft_pdict_free(d);

    /* Many inserts and deletes of distinct keys: tombstones are cleared
     * by rehashing, the table never fills up. */
    WT_OK(weft_pdict_new(&d, 4, 4096));
    WT_OK(weft_pdict_set(d, S("keep"), S("me")));
    for (int i = 0; i < 5000; i++) {
        char key[32];
        snprintf(key, sizeof key, "k%d", i);
        WT_OK(weft_pdict_set(d, S(key), S(key)));
        expect_value(d, key, key);
        WT_OK(weft_pdict_delete(d, S(key)));
    }
    expect_value(d, "keep", "me");
    ck_assert_uint_eq(weft_pdict_len(d), 1);
    ck_assert_int_eq(room(d), 3);
    weft_pdict_free(d);
}
END_TEST

enum { WRITERS = 4, KEYS = 300 };

struct shared {
    weft_pdict *d;
    weft_plist *l;
    weft_pevent *held, *never;
    int id;
    int crash;
};

static int writer(void *arg)
{
    struct shared *sh = arg;
    int id = __atomic_fetch_add(&sh->id, 1, __ATOMIC_RELAXED);
    char key[32], val[32];
    for (int i = 0; i < KEYS; i++) {
        snprintf(key, sizeof key, "p%d-%d", id, i);
        snprintf(val, sizeof val, "v%d", i * id);
        if (weft_pdict_set(sh->d, S(key), S(val)) != 0)
            return 10;
        if (weft_plist_append(sh->l, S(key)) != 0)
            return 11;
        /* Shared keys too: every writer overwrites "last". */
        if (weft_pdict_set(sh->d, S("last"), S(key)) != 0)
            return 12;
        /* Read back our own, delete every third. */
        char buf[32];
        size_t n;
        if (weft_pdict_get(sh->d, S(key), buf, sizeof buf, &n) != 0 || n != strlen(val) ||
            memcmp(buf, val, n))
            return 13;
        if (i % 3 == 0 && weft_pdict_delete(sh->d, S(key)) != 0)
            return 14;
    }
    return 0;
}

static struct shared *shared_new(size_t entries, size_t bytes)
{
    struct shared *sh = weft__shared_alloc(sizeof *sh);
    ck_assert_ptr_nonnull(sh);
    WT_OK(weft_pdict_new(&sh->d, entries, bytes));
    WT_OK(weft_plist_new(&sh->l, entries, bytes));
    WT_OK(weft_pevent_new(&sh->held));
    WT_OK(weft_pevent_new(&sh->never));
    return sh;
}

static void shared_free(struct shared *sh)
{
    weft_pdict_free(sh->d);
    weft_plist_free(sh->l);
    weft_pevent_free(sh->held);
    weft_pevent_free(sh->never);
    weft__shared_free(sh);
}

METHOD_TEST(pdict_plist_many_processes)
{
    struct shared *sh = shared_new(WRITERS * KEYS + 1, (WRITERS * KEYS + 1) * 2 * 64);
    weft_process *p[WRITERS];
    for (int i = 0; i < WRITERS; i++)
        p[i] = spawn(writer, sh);
    for (int i = 0; i < WRITERS; i++)
        ck_assert_int_eq(reap(p[i]), 0);
    /* Each writer's keys but every third, plus "last". */
    int per = KEYS - (KEYS + 2) / 3;
    ck_assert_uint_eq(weft_pdict_len(sh->d), WRITERS * per + 1);
    ck_assert_uint_eq(weft_plist_len(sh->l), WRITERS * KEYS);
    for (int id = 0; id < WRITERS; id++) {
        for (int i = 0; i < KEYS; i++) {
            char key[32], val[32];
            snprintf(key, sizeof key, "p%d-%d", id, i);
            snprintf(val, sizeof val, "v%d", i * id);
            if (i % 3 == 0)
                ck_assert(!weft_pdict_contains(sh->d, S(key)));
            else
                expect_value(sh->d, key, val);
        }
    }
    /* Every append is there once, each writer's in its own order. */
    int next[WRITERS] = {0};
    for (size_t i = 0; i < weft_plist_len(sh->l); i++) {
        char buf[32];
        size_t n;
        WT_OK(weft_plist_get(sh->l, (ptrdiff_t)i, buf, sizeof buf - 1, &n));
        buf[n] = 0;
        int id, k;
        ck_assert_int_eq(sscanf(buf, "p%d-%d", &id, &k), 2);
        ck_assert_int_eq(k, next[id]++);
    }
    for (int id = 0; id < WRITERS; id++)
        ck_assert_int_eq(next[id], KEYS);
    void *last;
    WT_OK(weft_pdict_get_alloc(sh->d, S("last"), &last, NULL));
    ck_assert_int_eq(((char *)last)[0], 'p');
    free(last);
    shared_free(sh);
}

/* ----------------------------------------------------------------- list */

START_TEST(plist_operations)
{
    weft_plist *l;
    WT_OK(weft_plist_new(&l, 5, 1000));
    ck_assert_uint_eq(weft_plist_len(l), 0);
    char buf[64];
    size_t n;
    WT_ERR(weft_plist_pop(l, -1, buf, sizeof buf, &n), WEFT_EEMPTY);
    WT_ERR(weft_plist_get(l, 0, buf, sizeof buf, &n), WEFT_EINVAL);
    WT_OK(weft_plist_append(l, S("zero")));
    WT_OK(weft_plist_append(l, S("one")));
    WT_OK(weft_plist_append(l, S("two")));
    WT_OK(weft_plist_append(l, NULL, 0));
    ck_assert_uint_eq(weft_plist_len(l), 4);
    expect_item(l, 0, "zero");
    expect_item(l, 2, "two");
    expect_item(l, -1, "");
    expect_item(l, -4, "zero");
    WT_ERR(weft_plist_get(l, 4, buf, sizeof buf, &n), WEFT_EINVAL);
    WT_ERR(weft_plist_get(l, -5, buf, sizeof buf, &n), WEFT_EINVAL);
    WT_ERR(weft_plist_get(l, PTRDIFF_MIN, buf, sizeof buf, &n), WEFT_EINVAL);
    WT_ERR(weft_plist_get(l, PTRDIFF_MAX, buf, sizeof buf, &n), WEFT_EINVAL);
    WT_OK(weft_plist_set(l, -1, S("three")));
    expect_item(l, 3, "three");
    WT_ERR(weft_plist_set(l, 4, S("x")), WEFT_EINVAL);
    void *v;
    WT_OK(weft_plist_get_alloc(l, 1, &v, &n));
    ck_assert_str_eq(v, "one");
    free(v);
    /* pop from the middle moves the later items; too small a buffer
     * leaves the item in place. */
    WT_ERR(weft_plist_pop(l, 1, buf, 2, &n), WEFT_EMSGSIZE);
    ck_assert_uint_eq(n, 3);
    ck_assert_uint_eq(weft_plist_len(l), 4);
    WT_OK(weft_plist_pop(l, 1, buf, sizeof buf, &n));
    ck_assert_int_eq(memcmp(buf, "one", 3), 0);
    ck_assert_uint_eq(weft_plist_len(l), 3);
    expect_item(l, 0, "zero");
    expect_item(l, 1, "two");
    expect_item(l, 2, "three");
    WT_OK(weft_plist_pop_alloc(l, -1, &v, &n));
    ck_assert_str_eq(v, "three");
    free(v);
    WT_OK(weft_plist_pop_alloc(l, 0, &v, &n));
    ck_assert_str_eq(v, "zero");
    free(v);
    WT_ERR(weft_plist_pop(l, 1, buf, sizeof buf, &n), WEFT_EINVAL);
    WT_OK(weft_plist_pop(l, 0, buf, sizeof buf, &n));
    WT_ERR(weft_plist_pop_alloc(l, -1, &v, &n), WEFT_EEMPTY);
    /* Capacity: 5 items; 1000 bytes are 17 chunks. */
    for (int i = 0; i < 5; i++)
        WT_OK(weft_plist_append(l, S("item")));
    WT_ERR(weft_plist_append(l, S("item")), WEFT_EFULL);
    ck_assert_uint_eq(weft_plist_len(l), 5);
    char big[13 * WEFT_PDICT_CHUNK];
    memset(big, 'b', sizeof big);
    /* 12 chunks free: the largest value that fits, then one too big. */
    WT_ERR(weft_plist_set(l, 0, big, 12 * WEFT_PDICT_CHUNK - 8 + 1), WEFT_EFULL);
    WT_OK(weft_plist_set(l, 0, big, 12 * WEFT_PDICT_CHUNK - 8));
    /* One chunk is left (item 0's old one came back): a two-chunk
     * replacement does not fit, a one-chunk one does. */
    WT_ERR(weft_plist_set(l, 1, big, WEFT_PDICT_CHUNK), WEFT_EFULL);
    WT_OK(weft_plist_set(l, 1, S("12345678")));
    WT_ERR(weft_plist_append(l, big, sizeof big), WEFT_EFULL);
    WT_ERR(weft_plist_get(l, 0, NULL, 0, &n), WEFT_EMSGSIZE);
    ck_assert_uint_eq(n, 12 * WEFT_PDICT_CHUNK - 8);
    weft_plist_free(l);
}
END_TEST

/* ----------------------------------------------------------- robustness */

/* Sets up the state each crash test starts from, in the parent. */
static void base_state(struct shared *sh)
{
    WT_OK(weft_pdict_clear(sh->d));
    WT_OK(weft_pdict_set(sh->d, S("a"), S("1")));
    WT_OK(weft_pdict_set(sh->d, S("b"), S("2")));
    while (weft_plist_len(sh->l))
        pop_discard(sh->l, -1);
}

#define LONG_A "one, longer than a chunk: 0123456789012345678901234567890123456789"

/* Runs one call with a crash point set: it must never come back. */
static int crasher(void *arg)
{
    struct shared *sh = arg;
    weft__shm_dict_crash_at = sh->crash;
    switch (sh->crash) {
    case CRASH_DICT_NEW:
        weft_pdict_set(sh->d, S("c"), S("3"));
        break;
    case CRASH_DICT_REPLACE:
        weft_pdict_set(sh->d, S("a"), S(LONG_A));
        break;
    case CRASH_DICT_DELETE:
        weft_pdict_delete(sh->d, S("b"));
        break;
    case CRASH_DICT_REHASH:
        /* Distinct keys in and out until the tombstones force a rehash. */
        for (int i = 0; i < 1000; i++) {
            char key[32];
            snprintf(key, sizeof key, "t%d", i);
            weft_pdict_set(sh->d, S(key), S("t"));
            weft_pdict_delete(sh->d, S(key));
        }
        break;
    case CRASH_DICT_CLEAR:
        weft_pdict_clear(sh->d);
        break;
    case CRASH_LIST_APPEND:
        weft_plist_append(sh->l, S("new"));
        break;
    case CRASH_LIST_SET:
        weft_plist_set(sh->l, 1, S("replaced"));
        break;
    case CRASH_LIST_POP:
        weft_plist_pop_alloc(sh->l, 0, &(void *){NULL}, NULL); /* from the middle */
        break;
    case CRASH_LIST_POP_LAST:
        weft_plist_pop_alloc(sh->l, -1, &(void *){NULL}, NULL);
        break;
    case CRASH_LIST_INSERT:
        weft_plist_insert(sh->l, 1, S("inserted"));
        break;
    case CRASH_LIST_CLEAR:
        weft_plist_clear(sh->l);
        break;
    }
    return 10;
}

/* How many more one-chunk items fit (the callers make storage, not the
 * item count, the bound). Removes them again. */
static int list_room(weft_plist *l)
{
    int n = 0;
    while (weft_plist_append(l, S("r")) == 0)
        n++;
    for (int i = 0; i < n; i++)
        pop_discard(l, -1);
    return n;
}

METHOD_TEST(pdict_crash_each_step)
{
    /* 64 entries, 20 chunks: storage is the bound room() measures. */
    struct shared *sh = shared_new(64, 20 * WEFT_PDICT_CHUNK);
    for (int crash = CRASH_DICT_NEW; crash <= CRASH_DICT_CLEAR; crash++) {
        base_state(sh);
        ck_assert_int_eq(room(sh->d), 18);
        sh->crash = crash;
        ck_assert_int_eq(run_child(crasher, sh), -SIGKILL);
        /* The next call repairs and goes on; the call that died happened
         * whole or not at all. */
        switch (crash) {
        case CRASH_DICT_NEW: /* not published: not there */
            ck_assert(!weft_pdict_contains(sh->d, S("c")));
            ck_assert_uint_eq(weft_pdict_len(sh->d), 2);
            ck_assert_int_eq(room(sh->d), 18);
            break;
        case CRASH_DICT_REPLACE: /* published: the new value, old freed */
            expect_value(sh->d, "a", LONG_A);
            ck_assert_uint_eq(weft_pdict_len(sh->d), 2);
            ck_assert_int_eq(room(sh->d), 18 - 1);
            break;
        case CRASH_DICT_DELETE:
            ck_assert(!weft_pdict_contains(sh->d, S("b")));
            ck_assert_uint_eq(weft_pdict_len(sh->d), 1);
            ck_assert_int_eq(room(sh->d), 19);
            break;
        case CRASH_DICT_REHASH:
            expect_value(sh->d, "a", "1");
            expect_value(sh->d, "b", "2");
            ck_assert_uint_eq(weft_pdict_len(sh->d), 2);
            ck_assert_int_eq(room(sh->d), 18);
            break;
        case CRASH_DICT_CLEAR:
            ck_assert_uint_eq(weft_pdict_len(sh->d), 0);
            ck_assert_int_eq(room(sh->d), 20);
            break;
        }
        if (crash != CRASH_DICT_DELETE && crash != CRASH_DICT_CLEAR) {
            expect_value(sh->d, "b", "2");
            if (crash != CRASH_DICT_REPLACE)
                expect_value(sh->d, "a", "1");
        }
    }
    shared_free(sh);
}

METHOD_TEST(plist_crash_each_step)
{
    /* 64 items, 20 chunks. */
    struct shared *sh = shared_new(64, 20 * WEFT_PDICT_CHUNK);
    for (int crash = CRASH_LIST_APPEND; crash <= CRASH_LIST_CLEAR; crash++) {
        base_state(sh);
        WT_OK(weft_plist_append(sh->l, S("x0")));
        WT_OK(weft_plist_append(sh->l, S("x1")));
        WT_OK(weft_plist_append(sh->l, S("x2")));
        ck_assert_int_eq(list_room(sh->l), 17);
        sh->crash = crash;
        ck_assert_int_eq(run_child(crasher, sh), -SIGKILL);
        switch (crash) {
        case CRASH_LIST_APPEND:
            ck_assert_uint_eq(weft_plist_len(sh->l), 3);
            expect_item(sh->l, 2, "x2");
            ck_assert_int_eq(list_room(sh->l), 17);
            break;
        case CRASH_LIST_SET:
            ck_assert_uint_eq(weft_plist_len(sh->l), 3);
            expect_item(sh->l, 0, "x0");
            expect_item(sh->l, 1, "replaced");
            expect_item(sh->l, 2, "x2");
            ck_assert_int_eq(list_room(sh->l), 17);
            break;
        case CRASH_LIST_POP: /* not flipped in: nothing popped */
            ck_assert_uint_eq(weft_plist_len(sh->l), 3);
            expect_item(sh->l, 0, "x0");
            expect_item(sh->l, 1, "x1");
            expect_item(sh->l, 2, "x2");
            ck_assert_int_eq(list_room(sh->l), 17);
            break;
        case CRASH_LIST_POP_LAST: /* popped, its chunk given back */
            ck_assert_uint_eq(weft_plist_len(sh->l), 2);
            expect_item(sh->l, 1, "x1");
            ck_assert_int_eq(list_room(sh->l), 18);
            break;
        case CRASH_LIST_INSERT: /* not flipped in: not there, its chunk back */
            ck_assert_uint_eq(weft_plist_len(sh->l), 3);
            expect_item(sh->l, 1, "x1");
            ck_assert_int_eq(list_room(sh->l), 17);
            break;
        case CRASH_LIST_CLEAR: /* published: empty, every chunk back */
            ck_assert_uint_eq(weft_plist_len(sh->l), 0);
            ck_assert_int_eq(list_room(sh->l), 20);
            break;
        }
    }
    shared_free(sh);
}

/* Holds the dict's and the list's own locks and is SIGKILLed from outside. */
static int hold_locks(void *arg)
{
    struct shared *sh = arg;
    if (weft_plock_acquire(weft__pdict_lock(sh->d), WEFT_FOREVER) != 0 ||
        weft_plock_acquire(weft__plist_lock(sh->l), WEFT_FOREVER) != 0)
        return 10;
    weft_pevent_set(sh->held);
    weft_pevent_wait(sh->never, WEFT_FOREVER);
    return 11;
}

METHOD_TEST(pdict_plist_killed_holder)
{
    struct shared *sh = shared_new(8, 1000);
    base_state(sh);
    WT_OK(weft_plist_append(sh->l, S("item")));
    weft_process *p = spawn(hold_locks, sh);
    WT_OK(weft_pevent_wait(sh->held, WEFT_FOREVER));
    WT_ERR(weft_plock_acquire(weft__pdict_lock(sh->d), 0), WEFT_ETIMEDOUT);
    WT_OK(weft_process_kill(p));
    ck_assert_int_eq(reap(p), -SIGKILL);
    expect_value(sh->d, "a", "1");
    WT_OK(weft_pdict_set(sh->d, S("c"), S("3")));
    ck_assert_uint_eq(weft_pdict_len(sh->d), 3);
    expect_item(sh->l, 0, "item");
    WT_OK(weft_plist_append(sh->l, S("more")));
    ck_assert_uint_eq(weft_plist_len(sh->l), 2);
    shared_free(sh);
}

/* d.pop(k): the value and the entry's removal in one call; a buffer too
 * small leaves the entry, as a get's would. */
START_TEST(pdict_pop)
{
    weft_pdict *d;
    WT_OK(weft_pdict_new(&d, 8, 1000));
    WT_OK(weft_pdict_set(d, S("a"), S("alpha")));
    WT_OK(weft_pdict_set(d, S("b"), S("beta")));
    char buf[16];
    size_t n = 0;
    WT_ERR(weft_pdict_pop(d, S("a"), buf, 2, &n), WEFT_EMSGSIZE);
    ck_assert_uint_eq(n, 5);
    expect_value(d, "a", "alpha");
    WT_OK(weft_pdict_pop(d, S("a"), buf, sizeof buf, &n));
    ck_assert_uint_eq(n, 5);
    ck_assert_int_eq(memcmp(buf, "alpha", 5), 0);
    ck_assert(!weft_pdict_contains(d, S("a")));
    WT_ERR(weft_pdict_pop(d, S("a"), buf, sizeof buf, &n), WEFT_ENOENT);
    void *v = NULL;
    WT_OK(weft_pdict_pop_alloc(d, S("b"), &v, &n));
    ck_assert_str_eq(v, "beta");
    free(v);
    ck_assert_uint_eq(weft_pdict_len(d), 0);
    WT_ERR(weft_pdict_pop_alloc(d, S("b"), &v, &n), WEFT_ENOENT);
    /* The storage came back: the dict holds as much as when new. */
    int fit = 0;
    while (weft_pdict_set(d, &fit, sizeof fit, S("v")) == 0)
        fit++;
    ck_assert_int_eq(fit, 8);
    weft_pdict_free(d);
}
END_TEST

static void expect_list(weft_plist *l, const char *const *want, size_t n)
{
    ck_assert_uint_eq(weft_plist_len(l), n);
    for (size_t i = 0; i < n; i++)
        expect_item(l, (ptrdiff_t)i, want[i]);
}

/* l.insert(i, x) as Python's: negative from the end, past either end at
 * that end; l.clear() empties it and gives every chunk back. */
START_TEST(plist_insert_clear)
{
    weft_plist *l;
    WT_OK(weft_plist_new(&l, 6, 6 * WEFT_PDICT_CHUNK));
    WT_OK(weft_plist_insert(l, 0, S("b")));        /* empty list */
    WT_OK(weft_plist_insert(l, 0, S("a")));        /* front */
    WT_OK(weft_plist_insert(l, 99, S("d")));       /* past the end: appends */
    WT_OK(weft_plist_insert(l, -1, S("c")));       /* before the last */
    WT_OK(weft_plist_insert(l, -99, S("0")));      /* before the start: front */
    expect_list(l, (const char *const[]){"0", "a", "b", "c", "d"}, 5);
    WT_OK(weft_plist_insert(l, 5, S("e")));        /* at len: appends */
    expect_list(l, (const char *const[]){"0", "a", "b", "c", "d", "e"}, 6);
    WT_ERR(weft_plist_insert(l, 0, S("full")), WEFT_EFULL);
    ck_assert_uint_eq(weft_plist_len(l), 6);
    WT_OK(weft_plist_clear(l));
    ck_assert_uint_eq(weft_plist_len(l), 0);
    WT_OK(weft_plist_clear(l)); /* an empty list too */
    /* Every chunk is free again: six one-chunk items fit. */
    for (int i = 0; i < 6; i++)
        WT_OK(weft_plist_append(l, S("again")));
    WT_ERR(weft_plist_insert(NULL, 0, S("a")), WEFT_EINVAL);
    WT_ERR(weft_plist_insert(l, 0, NULL, 1), WEFT_EINVAL);
    WT_ERR(weft_plist_clear(NULL), WEFT_EINVAL);
    WT_ERR(weft_pdict_pop(NULL, S("a"), (char[4]){0}, 4, &(size_t){0}), WEFT_EINVAL);
    WT_ERR(weft_pdict_pop_alloc(NULL, S("a"), &(void *){NULL}, NULL), WEFT_EINVAL);
    weft_plist_free(l);
}
END_TEST

START_TEST(pdict_plist_bad_input)
{
    weft_pdict *d = NULL;
    weft_plist *l = NULL;
    WT_ERR(weft_pdict_new(NULL, 1, 1), WEFT_EINVAL);
    WT_ERR(weft_pdict_new(&d, 0, 100), WEFT_EINVAL);
    WT_ERR(weft_pdict_new(&d, 10, 0), WEFT_EINVAL);
    WT_ERR(weft_pdict_new(&d, ((size_t)1 << 28) + 1, 100), WEFT_EINVAL);
    WT_ERR(weft_pdict_new(&d, 1, SIZE_MAX), WEFT_EINVAL);
    WT_ERR(weft_pdict_new(&d, 1, (size_t)1 << 40), WEFT_EINVAL); /* > 2^32 chunks */
    ck_assert_ptr_null(d);
    WT_ERR(weft_plist_new(NULL, 1, 1), WEFT_EINVAL);
    WT_ERR(weft_plist_new(&l, 0, 1), WEFT_EINVAL);
    WT_ERR(weft_plist_new(&l, 1, 0), WEFT_EINVAL);
    ck_assert_ptr_null(l);
    char buf[8];
    size_t n;
    void *v;
    WT_ERR(weft_pdict_set(NULL, S("a"), S("b")), WEFT_EINVAL);
    WT_ERR(weft_pdict_get(NULL, S("a"), buf, sizeof buf, &n), WEFT_EINVAL);
    WT_ERR(weft_pdict_get_alloc(NULL, S("a"), &v, &n), WEFT_EINVAL);
    WT_ERR(weft_pdict_delete(NULL, S("a")), WEFT_EINVAL);
    ck_assert(!weft_pdict_contains(NULL, S("a")));
    ck_assert_uint_eq(weft_pdict_len(NULL), 0);
    WT_ERR(weft_pdict_clear(NULL), WEFT_EINVAL);
    WT_ERR(weft_pdict_keys_new(NULL, &(weft_pdict_keys *){NULL}), WEFT_EINVAL);
    ck_assert_uint_eq(weft_pdict_keys_len(NULL), 0);
    ck_assert_ptr_null(weft_pdict_keys_get(NULL, 0, &n));
    weft_pdict_keys_free(NULL);
    weft_pdict_free(NULL);
    WT_OK(weft_pdict_new(&d, 2, 100));
    WT_ERR(weft_pdict_set(d, NULL, 1, S("b")), WEFT_EINVAL);
    WT_ERR(weft_pdict_set(d, S("a"), NULL, 1), WEFT_EINVAL);
    WT_ERR(weft_pdict_get(d, NULL, 1, buf, sizeof buf, &n), WEFT_EINVAL);
    WT_ERR(weft_pdict_get(d, S("a"), NULL, 1, &n), WEFT_EINVAL);
    WT_ERR(weft_pdict_get_alloc(d, S("a"), NULL, &n), WEFT_EINVAL);
    WT_ERR(weft_pdict_delete(d, NULL, 1), WEFT_EINVAL);
    ck_assert(!weft_pdict_contains(d, NULL, 1));
    WT_ERR(weft_pdict_keys_new(d, NULL), WEFT_EINVAL);
    WT_ERR(weft_pdict_set(d, S("a"), buf, SIZE_MAX), WEFT_EFULL);
    weft_pdict_free(d);
    WT_ERR(weft_plist_append(NULL, S("a")), WEFT_EINVAL);
    WT_ERR(weft_plist_get(NULL, 0, buf, sizeof buf, &n), WEFT_EINVAL);
    WT_ERR(weft_plist_get_alloc(NULL, 0, &v, &n), WEFT_EINVAL);
    WT_ERR(weft_plist_set(NULL, 0, S("a")), WEFT_EINVAL);
    WT_ERR(weft_plist_pop(NULL, 0, buf, sizeof buf, &n), WEFT_EINVAL);
    WT_ERR(weft_plist_pop_alloc(NULL, 0, &v, &n), WEFT_EINVAL);
    ck_assert_uint_eq(weft_plist_len(NULL), 0);
    weft_plist_free(NULL);
    WT_OK(weft_plist_new(&l, 2, 100));
    WT_ERR(weft_plist_append(l, NULL, 1), WEFT_EINVAL);
    WT_ERR(weft_plist_append(l, buf, SIZE_MAX), WEFT_EFULL);
    WT_OK(weft_plist_append(l, S("a")));
    WT_ERR(weft_plist_get(l, 0, NULL, 1, &n), WEFT_EINVAL);
    WT_ERR(weft_plist_get_alloc(l, 0, NULL, &n), WEFT_EINVAL);
    WT_ERR(weft_plist_set(l, 0, NULL, 1), WEFT_EINVAL);
    WT_ERR(weft_plist_pop(l, 0, NULL, 1, &n), WEFT_EINVAL);
    WT_ERR(weft_plist_pop_alloc(l, 0, NULL, &n), WEFT_EINVAL);
    ck_assert_uint_eq(weft_plist_len(l), 1);
    weft_plist_free(l);
}
END_TEST

WT_MAIN("shm_dict", 60, pdict_operations, pdict_capacity, pdict_plist_many_processes,
        plist_operations, pdict_crash_each_step, plist_crash_each_step,
        pdict_plist_killed_holder, pdict_pop, plist_insert_clear, pdict_plist_bad_input)
