/*
 * Value and Array: typed data in shared memory with an optional
 * cross-process RLock. See weft/shm.h for the contract.
 *
 * A Value is an Array of one element: both are one shared block holding
 * the header and the elements, so the pointer is valid in every child.
 * Elements are naturally aligned (the data starts 16-aligned), and every
 * access to one goes through a relaxed atomic load or store of its size,
 * locked or not: no element is ever torn, and a user who reads the raw
 * storage without the lock gets stale values but no undefined behaviour
 * from us. The lock only orders operations among themselves.
 */
#include <string.h>

#include "internal/share.h"
#include "weft/shm.h"

typedef struct shdata {
    weft_prlock *lock; /* NULL without one */
    weft_ctype type;
    uint32_t esize;
    size_t n;
    _Alignas(16) unsigned char data[];
} shdata;

struct weft_value {
    shdata d;
};

struct weft_array {
    shdata d;
};

size_t weft_ctype_size(weft_ctype type)
{
    switch (type) {
    case WEFT_CTYPE_I8:
    case WEFT_CTYPE_U8:
        return 1;
    case WEFT_CTYPE_I16:
    case WEFT_CTYPE_U16:
        return 2;
    case WEFT_CTYPE_I32:
    case WEFT_CTYPE_U32:
    case WEFT_CTYPE_F32:
        return 4;
    case WEFT_CTYPE_I64:
    case WEFT_CTYPE_U64:
    case WEFT_CTYPE_F64:
        return 8;
    }
    return 0;
}

static bool is_float(weft_ctype t)
{
    return t == WEFT_CTYPE_F32 || t == WEFT_CTYPE_F64;
}

static int shdata_new(shdata **out, weft_ctype type, size_t n, const void *init, bool lock)
{
    size_t es = weft_ctype_size(type);
    if (!out || !es)
        return WEFT_EINVAL;
    if (n > (SIZE_MAX - sizeof(shdata)) / es)
        return WEFT_ENOMEM;
    shdata *d = weft__shared_alloc(sizeof(shdata) + n * es);
    if (!d)
        return WEFT_ENOMEM;
    if (lock) {
        int rc = weft_prlock_new(&d->lock);
        if (rc) {
            weft__shared_free(d);
            return rc;
        }
    }
    d->type = type;
    d->esize = (uint32_t)es;
    d->n = n;
    if (init && n)
        memcpy(d->data, init, n * es); /* not yet shared with anyone */
    *out = d;
    return 0;
}

static void shdata_free(shdata *d)
{
    if (d && weft__shared_owned(d)) {
        weft_prlock_free(d->lock);
        weft__shared_free(d);
    }
}

/* The raw bits of element i, zero-extended. */
static uint64_t load_bits(const shdata *d, size_t i)
{
    const void *p = d->data + i * d->esize;
    switch (d->esize) {
    case 1:
        return __atomic_load_n((const uint8_t *)p, __ATOMIC_RELAXED);
    case 2:
        return __atomic_load_n((const uint16_t *)p, __ATOMIC_RELAXED);
    case 4:
        return __atomic_load_n((const uint32_t *)p, __ATOMIC_RELAXED);
    default:
        return __atomic_load_n((const uint64_t *)p, __ATOMIC_RELAXED);
    }
}

/* Store the low esize bytes of `bits` into element i. */
static void store_bits(shdata *d, size_t i, uint64_t bits)
{
    void *p = d->data + i * d->esize;
    switch (d->esize) {
    case 1:
        __atomic_store_n((uint8_t *)p, (uint8_t)bits, __ATOMIC_RELAXED);
        break;
    case 2:
        __atomic_store_n((uint16_t *)p, (uint16_t)bits, __ATOMIC_RELAXED);
        break;
    case 4:
        __atomic_store_n((uint32_t *)p, (uint32_t)bits, __ATOMIC_RELAXED);
        break;
    default:
        __atomic_store_n((uint64_t *)p, bits, __ATOMIC_RELAXED);
        break;
    }
}

/* Bits (zero-extended) as the element type's integer value. */
static int64_t bits_to_i64(weft_ctype t, uint64_t b)
{
    switch (t) {
    case WEFT_CTYPE_I8:
        return (int8_t)b;
    case WEFT_CTYPE_I16:
        return (int16_t)b;
    case WEFT_CTYPE_I32:
        return (int32_t)b;
    default:
        return (int64_t)b;
    }
}

static double bits_to_f64(weft_ctype t, uint64_t b)
{
    if (t == WEFT_CTYPE_F32) {
        uint32_t w = (uint32_t)b;
        float f;
        memcpy(&f, &w, sizeof f);
        return f;
    }
    double x;
    memcpy(&x, &b, sizeof x);
    return x;
}

static uint64_t f64_to_bits(weft_ctype t, double x)
{
    if (t == WEFT_CTYPE_F32) {
        float f = (float)x;
        uint32_t w;
        memcpy(&w, &f, sizeof w);
        return w;
    }
    uint64_t b;
    memcpy(&b, &x, sizeof b);
    return b;
}

/* Take the lock if there is one. A dead previous holder is no concern for
 * a single element: it is never half written (stores are whole). */
static int lock_if(const shdata *d)
{
    if (!d->lock)
        return 0;
    int rc = weft_prlock_acquire(d->lock, WEFT_FOREVER);
    return rc == WEFT_EOWNERDEAD ? 0 : rc;
}

static void unlock_if(const shdata *d)
{
    if (d->lock)
        weft_prlock_release(d->lock);
}

static int get_raw(shdata *d, size_t i, void *out)
{
    if (!d || !out || i >= d->n)
        return WEFT_EINVAL;
    int rc = lock_if(d);
    if (rc)
        return rc;
    uint64_t b = load_bits(d, i);
    unlock_if(d);
    /* Little- or big-endian, the element's bytes are the low esize bytes
     * of the value, so narrow it through the type to copy them. */
    switch (d->esize) {
    case 1: {
        uint8_t x = (uint8_t)b;
        memcpy(out, &x, 1);
        break;
    }
    case 2: {
        uint16_t x = (uint16_t)b;
        memcpy(out, &x, 2);
        break;
    }
    case 4: {
        uint32_t x = (uint32_t)b;
        memcpy(out, &x, 4);
        break;
    }
    default:
        memcpy(out, &b, 8);
    }
    return 0;
}

static int set_raw(shdata *d, size_t i, const void *in)
{
    if (!d || !in || i >= d->n)
        return WEFT_EINVAL;
    uint64_t b;
    switch (d->esize) {
    case 1: {
        uint8_t x;
        memcpy(&x, in, 1);
        b = x;
        break;
    }
    case 2: {
        uint16_t x;
        memcpy(&x, in, 2);
        b = x;
        break;
    }
    case 4: {
        uint32_t x;
        memcpy(&x, in, 4);
        b = x;
        break;
    }
    default:
        memcpy(&b, in, 8);
    }
    int rc = lock_if(d);
    if (rc)
        return rc;
    store_bits(d, i, b);
    unlock_if(d);
    return 0;
}

static int get_i64(shdata *d, size_t i, int64_t *out)
{
    if (!d || !out || i >= d->n || is_float(d->type))
        return WEFT_EINVAL;
    int rc = lock_if(d);
    if (rc)
        return rc;
    uint64_t b = load_bits(d, i);
    unlock_if(d);
    *out = bits_to_i64(d->type, b);
    return 0;
}

static int set_i64(shdata *d, size_t i, int64_t x)
{
    if (!d || i >= d->n || is_float(d->type))
        return WEFT_EINVAL;
    int rc = lock_if(d);
    if (rc)
        return rc;
    store_bits(d, i, (uint64_t)x);
    unlock_if(d);
    return 0;
}

static int get_f64(shdata *d, size_t i, double *out)
{
    if (!d || !out || i >= d->n || !is_float(d->type))
        return WEFT_EINVAL;
    int rc = lock_if(d);
    if (rc)
        return rc;
    uint64_t b = load_bits(d, i);
    unlock_if(d);
    *out = bits_to_f64(d->type, b);
    return 0;
}

static int set_f64(shdata *d, size_t i, double x)
{
    if (!d || i >= d->n || !is_float(d->type))
        return WEFT_EINVAL;
    uint64_t b = f64_to_bits(d->type, x);
    int rc = lock_if(d);
    if (rc)
        return rc;
    store_bits(d, i, b);
    unlock_if(d);
    return 0;
}

/* ---------------------------------------------------------------- Value */

int weft_value_new(weft_value **out, weft_ctype type, const void *init, bool lock)
{
    return shdata_new((shdata **)out, type, 1, init, lock);
}

void weft_value_free(weft_value *v)
{
    shdata_free(v ? &v->d : NULL);
}

weft_ctype weft_value_type(const weft_value *v)
{
    return v ? v->d.type : (weft_ctype)0;
}

weft_prlock *weft_value_lock(const weft_value *v)
{
    return v ? v->d.lock : NULL;
}

void *weft_value_ptr(const weft_value *v)
{
    return v ? (void *)v->d.data : NULL;
}

int weft_value_get(weft_value *v, void *out)
{
    return get_raw(v ? &v->d : NULL, 0, out);
}

int weft_value_set(weft_value *v, const void *in)
{
    return set_raw(v ? &v->d : NULL, 0, in);
}

int weft_value_get_i64(weft_value *v, int64_t *out)
{
    return get_i64(v ? &v->d : NULL, 0, out);
}

int weft_value_set_i64(weft_value *v, int64_t x)
{
    return set_i64(v ? &v->d : NULL, 0, x);
}

int weft_value_get_f64(weft_value *v, double *out)
{
    return get_f64(v ? &v->d : NULL, 0, out);
}

int weft_value_set_f64(weft_value *v, double x)
{
    return set_f64(v ? &v->d : NULL, 0, x);
}

/* Without a lock: one atomic add on the element's unsigned type, which
 * wraps as the documentation says. */
static uint64_t atomic_add_bits(shdata *d, uint64_t delta)
{
    void *p = d->data;
    switch (d->esize) {
    case 1:
        return __atomic_add_fetch((uint8_t *)p, (uint8_t)delta, __ATOMIC_RELAXED);
    case 2:
        return __atomic_add_fetch((uint16_t *)p, (uint16_t)delta, __ATOMIC_RELAXED);
    case 4:
        return __atomic_add_fetch((uint32_t *)p, (uint32_t)delta, __ATOMIC_RELAXED);
    default:
        return __atomic_add_fetch((uint64_t *)p, delta, __ATOMIC_RELAXED);
    }
}

int weft_value_add_i64(weft_value *v, int64_t delta, int64_t *result)
{
    if (!v || is_float(v->d.type))
        return WEFT_EINVAL;
    shdata *d = &v->d;
    uint64_t b;
    if (d->lock) {
        int rc = lock_if(d);
        if (rc)
            return rc;
        b = load_bits(d, 0) + (uint64_t)delta;
        store_bits(d, 0, b);
        unlock_if(d);
    } else {
        b = atomic_add_bits(d, (uint64_t)delta);
    }
    if (result)
        *result = bits_to_i64(d->type, b & (d->esize == 8 ? ~0ull : (1ull << 8 * d->esize) - 1));
    return 0;
}

int weft_value_add_f64(weft_value *v, double delta, double *result)
{
    if (!v || !is_float(v->d.type))
        return WEFT_EINVAL;
    shdata *d = &v->d;
    double x;
    if (d->lock) {
        int rc = lock_if(d);
        if (rc)
            return rc;
        x = bits_to_f64(d->type, load_bits(d, 0)) + delta;
        store_bits(d, 0, f64_to_bits(d->type, x));
        unlock_if(d);
    } else if (d->esize == 4) {
        uint32_t *p = (uint32_t *)d->data;
        uint32_t old = __atomic_load_n(p, __ATOMIC_RELAXED), nw;
        do {
            x = bits_to_f64(d->type, old) + delta;
            nw = (uint32_t)f64_to_bits(d->type, x);
        } while (!__atomic_compare_exchange_n(p, &old, nw, true, __ATOMIC_RELAXED,
                                              __ATOMIC_RELAXED));
        x = bits_to_f64(d->type, nw); /* rounded to float */
    } else {
        uint64_t *p = (uint64_t *)d->data;
        uint64_t old = __atomic_load_n(p, __ATOMIC_RELAXED), nw;
        do {
            x = bits_to_f64(d->type, old) + delta;
            nw = f64_to_bits(d->type, x);
        } while (!__atomic_compare_exchange_n(p, &old, nw, true, __ATOMIC_RELAXED,
                                              __ATOMIC_RELAXED));
    }
    if (result)
        *result = d->esize == 4 ? (double)(float)x : x;
    return 0;
}

/* ---------------------------------------------------------------- Array */

int weft_array_new(weft_array **out, weft_ctype type, size_t n, const void *init, bool lock)
{
    return shdata_new((shdata **)out, type, n, init, lock);
}

void weft_array_free(weft_array *a)
{
    shdata_free(a ? &a->d : NULL);
}

weft_ctype weft_array_type(const weft_array *a)
{
    return a ? a->d.type : (weft_ctype)0;
}

size_t weft_array_len(const weft_array *a)
{
    return a ? a->d.n : 0;
}

weft_prlock *weft_array_lock(const weft_array *a)
{
    return a ? a->d.lock : NULL;
}

void *weft_array_data(const weft_array *a)
{
    return a ? (void *)a->d.data : NULL;
}

int weft_array_get(weft_array *a, size_t i, void *out)
{
    return get_raw(a ? &a->d : NULL, i, out);
}

int weft_array_set(weft_array *a, size_t i, const void *in)
{
    return set_raw(a ? &a->d : NULL, i, in);
}

int weft_array_get_i64(weft_array *a, size_t i, int64_t *out)
{
    return get_i64(a ? &a->d : NULL, i, out);
}

int weft_array_set_i64(weft_array *a, size_t i, int64_t x)
{
    return set_i64(a ? &a->d : NULL, i, x);
}

int weft_array_get_f64(weft_array *a, size_t i, double *out)
{
    return get_f64(a ? &a->d : NULL, i, out);
}

int weft_array_set_f64(weft_array *a, size_t i, double x)
{
    return set_f64(a ? &a->d : NULL, i, x);
}
