/*
 * shared_memory.c - a shared Value, Array, dict and list, changed by a
 * child process. Mirrors seed 003, "Shared Memory":
 *
 *   value = multiprocessing.Value('d', 0.0)  # 'd' = double
 *   value.value = 3.14
 *   arr = multiprocessing.Array('i', [1, 2, 3])
 *   manager = multiprocessing.Manager()
 *   shared_dict = manager.dict()
 *   shared_list = manager.list()
 *
 *   def worker(val, arr, d, lst):
 *       val.value *= 2
 *       arr[0] = 10
 *       d["key"] = "value"
 *       lst.append(42)
 *
 *   p = multiprocessing.Process(target=worker, args=(value, arr, shared_dict, shared_list))
 *   p.start()
 *   p.join()
 *   print(value.value, arr[:], dict(shared_dict), list(shared_list))
 *
 * The four objects live in memory weft shares with its children, so their
 * pointers mean the same objects in the child, whatever the start method;
 * the struct that carries the pointers is copied to the child (arg_size),
 * as Python pickles the args tuple. There is no manager process: the dict
 * and the list have a fixed capacity chosen here (entries and bytes) and
 * hold byte strings, so 42 travels as its text.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

struct args {
    weft_value *val;
    weft_array *arr;
    weft_pdict *d;
    weft_plist *lst;
};

static int worker(void *arg)
{
    struct args *a = arg;
    /* val.value *= 2 is a read and a write: hold the lock around both. */
    double x;
    CHECK(weft_prlock_acquire(weft_value_lock(a->val), WEFT_FOREVER));
    CHECK(weft_value_get_f64(a->val, &x));
    CHECK(weft_value_set_f64(a->val, x * 2));
    CHECK(weft_prlock_release(weft_value_lock(a->val)));
    CHECK(weft_array_set_i64(a->arr, 0, 10));
    CHECK(weft_pdict_set(a->d, "key", 3, "value", 5));
    CHECK(weft_plist_append(a->lst, "42", 2));
    return 0;
}

int main(void)
{
    struct args a;
    CHECK(weft_value_new(&a.val, WEFT_CTYPE_F64, &(double){0.0}, true));
    CHECK(weft_value_set_f64(a.val, 3.14));
    int32_t init[] = {1, 2, 3};
    CHECK(weft_array_new(&a.arr, WEFT_CTYPE_I32, 3, init, true));
    CHECK(weft_pdict_new(&a.d, 100, 4096));
    CHECK(weft_plist_new(&a.lst, 100, 4096));

    weft_process *p;
    weft_process_opts opts = {.arg_size = sizeof a};
    CHECK(weft_process_new(&p, worker, &a, &opts));
    CHECK(weft_process_start(p));
    CHECK(weft_process_join(p, WEFT_FOREVER));
    int code;
    CHECK(weft_process_exitcode(p, &code));
    CHECK(weft_process_close(p));
    weft_process_free(p);
    if (code != 0)
        return 1;

    double x;
    CHECK(weft_value_get_f64(a.val, &x));
    printf("%g [", x);
    for (size_t i = 0; i < weft_array_len(a.arr); i++) {
        int64_t e;
        CHECK(weft_array_get_i64(a.arr, i, &e));
        printf("%s%lld", i ? ", " : "", (long long)e);
    }
    printf("] {");
    weft_pdict_keys *keys;
    CHECK(weft_pdict_keys_new(a.d, &keys));
    for (size_t i = 0; i < weft_pdict_keys_len(keys); i++) {
        size_t klen, vlen;
        const char *k = weft_pdict_keys_get(keys, i, &klen);
        void *v;
        CHECK(weft_pdict_get_alloc(a.d, k, klen, &v, &vlen));
        printf("%s'%.*s': '%s'", i ? ", " : "", (int)klen, k, (char *)v);
        free(v);
    }
    weft_pdict_keys_free(keys);
    printf("} [");
    for (size_t i = 0; i < weft_plist_len(a.lst); i++) {
        void *v;
        CHECK(weft_plist_get_alloc(a.lst, (ptrdiff_t)i, &v, NULL));
        printf("%s%s", i ? ", " : "", (char *)v);
        free(v);
    }
    printf("]\n");

    weft_value_free(a.val);
    weft_array_free(a.arr);
    weft_pdict_free(a.d);
    weft_plist_free(a.lst);
    return 0;
}

/* Output:
 * expect: ^6\.28 \[10, 2, 3\] \{'key': 'value'\} \[42\]$
 */
