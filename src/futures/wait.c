/*
 * weft_wait and as_completed: one completion hook per listed future, and one
 * park on a word of the waiter's own.
 *
 * A hook runs in the completing thread under its future's lock (see
 * weft__future_hook in internal/future.h), so it only does atomic updates
 * and one unpark. Every hook is removed before the waiter returns: removal
 * takes the same lock, so a hook that already started has finished by then,
 * and the hooks and the waiter's record can live on its stack. A future
 * that completes later finds no hook and touches nothing of ours.
 */
#include <stdlib.h>

#include "internal/clock.h"
#include "internal/future.h"
#include "internal/park.h"

/* ---------------------------------------------------------------- wait */

/* Hooks for up to this many futures live on the stack; more are malloc'd
 * (before blocking, never while). */
#define STACK_HOOKS 16

typedef struct waiter {
    uint32_t fired;      /* park key: 1 once the condition is met */
    size_t remaining;    /* listed entries not yet seen done */
    weft_return_when when;
} waiter;

typedef struct wait_hook {
    weft__future_hook h; /* first: the hook callback gets &h */
    waiter *w;
} wait_hook;

/* Finished with an error: Python's "raised an exception". A cancellation
 * does not count (FIRST_EXCEPTION ignores it, as Python does). */
static bool failed(weft_future *f)
{
    return weft_future_get_state(f) == WEFT_FUTURE_FINISHED && weft_future_exception(f, 0) != 0;
}

static bool condition_met(weft_future *const *fs, size_t n, weft_return_when when)
{
    size_t ndone = 0;
    for (size_t i = 0; i < n; i++) {
        if (!weft_future_done(fs[i]))
            continue;
        if (when == WEFT_FIRST_COMPLETED || (when == WEFT_FIRST_EXCEPTION && failed(fs[i])))
            return true;
        ndone++;
    }
    return ndone == n;
}

/* One listed entry is done (seen at registration, or from its hook). The
 * exchange makes only the first to meet the condition pay for the unpark. */
static void entry_done(waiter *w, weft_future *f)
{
    bool met = w->when == WEFT_FIRST_COMPLETED;
    if (!met) {
        met = __atomic_sub_fetch(&w->remaining, 1, __ATOMIC_RELAXED) == 0;
        if (w->when == WEFT_FIRST_EXCEPTION && failed(f))
            met = true;
    }
    if (met && !__atomic_exchange_n(&w->fired, 1, __ATOMIC_RELEASE))
        weft__unpark(&w->fired, 1, NULL, NULL);
}

static void wait_hook_fn(weft__future_hook *h, weft_future *f)
{
    entry_done(((wait_hook *)h)->w, f);
}

static bool fired_validate(void *ctx)
{
    return __atomic_load_n((const uint32_t *)ctx, __ATOMIC_ACQUIRE) == 0;
}

static size_t fill_done(weft_future *const *fs, size_t n, bool *done)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        bool d = weft_future_done(fs[i]);
        if (done)
            done[i] = d;
        k += d;
    }
    return k;
}

/* Hook every entry, park until the condition or the deadline, unhook.
 * Returns 0, WEFT_ETIMEDOUT or a parker's code; the caller re-reads the
 * states (they are what it reports). */
static int wait_hooked(weft_future *const *fs, size_t n, int64_t deadline, weft_return_when when,
                       wait_hook *hooks)
{
    waiter w = {0, n, when};
    const void *what = NULL;
    for (size_t i = 0; i < n; i++) {
        hooks[i] = (wait_hook){.h = {.fn = wait_hook_fn}, .w = &w};
        if (!weft__future_hook_add(fs[i], &hooks[i].h))
            entry_done(&w, fs[i]);
        else if (!what)
            what = fs[i];
    }
    weft__park_spec spec = {
        .validate = fired_validate,
        .ctx = &w.fired,
        .why = WEFT_WAIT_FUTURE,
        .what = what,
    };
    int rc = 0;
    while (!__atomic_load_n(&w.fired, __ATOMIC_ACQUIRE)) {
        rc = weft__park(&w.fired, &spec, deadline, NULL);
        if (rc != 0 && rc != WEFT_EAGAIN)
            break;
        rc = 0;
    }
    for (size_t i = 0; i < n; i++)
        weft__future_hook_remove(fs[i], &hooks[i].h);
    return rc;
}

int weft_wait(weft_future *const *fs, size_t n, weft_return_when when, bool *done,
              size_t *ndone, double timeout)
{
    if ((!fs && n) || weft__timeout_valid(timeout) || (unsigned)when > WEFT_ALL_COMPLETED)
        return WEFT_EINVAL;
    for (size_t i = 0; i < n; i++)
        if (!fs[i])
            return WEFT_EINVAL;
    int rc = 0;
    /* The condition may hold already: no clock read, no allocation. */
    if (!condition_met(fs, n, when)) {
        if (timeout == 0) {
            rc = WEFT_ETIMEDOUT;
        } else {
            int64_t deadline = weft__deadline(timeout);
            wait_hook stack[STACK_HOOKS];
            wait_hook *hooks = n <= STACK_HOOKS ? stack : malloc(n * sizeof *hooks);
            if (!hooks)
                return WEFT_ENOMEM;
            rc = wait_hooked(fs, n, deadline, when, hooks);
            if (hooks != stack)
                free(hooks);
            /* Timed out, but the condition was met in the meantime (the
             * states are what we report): success, as the sets show. */
            if (rc == WEFT_ETIMEDOUT && condition_met(fs, n, when))
                rc = 0;
        }
    }
    size_t k = fill_done(fs, n, done);
    if (ndone)
        *ndone = k;
    return rc;
}

/* -------------------------------------------------------- as_completed */

typedef struct ac_entry {
    weft__future_hook h;       /* first: the hook callback gets &h */
    weft_as_completed *it;
    weft_future *f;            /* a reference held by the iterator */
    struct ac_entry *next_done; /* link in it->completed */
    bool dup;                  /* a repeat of an earlier entry: skipped */
} ac_entry;

/*
 * Completed entries reach the iterator through `completed`, a stack the
 * hooks push onto (lock-free: hooks of different futures run in different
 * threads at once) and the iterating thread empties with one exchange,
 * reversing it into completion order. Only the iterating thread touches
 * the ready FIFO and the counters.
 */
struct weft_as_completed {
    ac_entry *completed;      /* park key; pushed by hooks, taken by next */
    int64_t deadline;
    size_t n, unique, yielded;
    size_t rd, wr;            /* the ready FIFO: ready[rd..wr) */
    ac_entry **ready;
    ac_entry entries[];
};

static void ac_hook_fn(weft__future_hook *h, weft_future *f)
{
    ac_entry *e = (ac_entry *)h;
    weft_as_completed *it = e->it;
    /* Release (a continuing release sequence through the CAS chain): the
     * iterator's acquiring exchange then sees every pushed next_done. */
    ac_entry *head = __atomic_load_n(&it->completed, __ATOMIC_RELAXED);
    do
        e->next_done = head;
    while (!__atomic_compare_exchange_n(&it->completed, &head, e, true, __ATOMIC_RELEASE,
                                        __ATOMIC_RELAXED));
    /* Still under f's lock, so `it` cannot be freed under us. */
    weft__unpark(&it->completed, 1, NULL, NULL);
}

static int cmp_ptr(const void *a, const void *b)
{
    const ac_entry *x = *(ac_entry *const *)a, *y = *(ac_entry *const *)b;
    if (x->f != y->f)
        return (uintptr_t)x->f < (uintptr_t)y->f ? -1 : 1;
    return x < y ? -1 : x > y; /* the earliest entry of a future first */
}

/* Python yields a future listed twice once: mark the later entries. Sorting
 * pointers to the entries (in the ready array, still unused) keeps it
 * O(n log n) without another allocation. */
static void mark_duplicates(weft_as_completed *it)
{
    if (it->n < 2)
        return;
    for (size_t i = 0; i < it->n; i++)
        it->ready[i] = &it->entries[i];
    qsort(it->ready, it->n, sizeof *it->ready, cmp_ptr);
    for (size_t i = 1; i < it->n; i++)
        if (it->ready[i]->f == it->ready[i - 1]->f)
            it->ready[i]->dup = true;
}

int weft_as_completed_new(weft_as_completed **out, weft_future *const *fs, size_t n,
                          double timeout)
{
    if (!out || (!fs && n) || weft__timeout_valid(timeout))
        return WEFT_EINVAL;
    for (size_t i = 0; i < n; i++)
        if (!fs[i])
            return WEFT_EINVAL;
    size_t per = sizeof(ac_entry) + sizeof(ac_entry *);
    if (n > (SIZE_MAX - sizeof(weft_as_completed)) / per)
        return WEFT_ENOMEM;
    weft_as_completed *it = calloc(1, sizeof *it + n * per);
    if (!it)
        return WEFT_ENOMEM;
    it->deadline = weft__deadline(timeout);
    it->n = n;
    it->ready = (ac_entry **)(it->entries + n);
    for (size_t i = 0; i < n; i++)
        it->entries[i] = (ac_entry){.h = {.fn = ac_hook_fn}, .it = it, .f = fs[i]};
    mark_duplicates(it);
    /* The futures already done go first, in input order. */
    for (size_t i = 0; i < n; i++) {
        ac_entry *e = &it->entries[i];
        if (e->dup)
            continue;
        it->unique++;
        weft_future_ref(e->f);
        if (!weft__future_hook_add(e->f, &e->h))
            it->ready[it->wr++] = e;
    }
    *out = it;
    return 0;
}

/* Move what the hooks pushed into the ready FIFO, in completion order. */
static void ac_drain(weft_as_completed *it)
{
    ac_entry *e = __atomic_exchange_n(&it->completed, NULL, __ATOMIC_ACQUIRE);
    ac_entry *rev = NULL;
    while (e) {
        ac_entry *next = e->next_done;
        e->next_done = rev;
        rev = e;
        e = next;
    }
    for (; rev; rev = rev->next_done)
        it->ready[it->wr++] = rev;
}

static bool ac_validate(void *ctx)
{
    return __atomic_load_n((ac_entry *const *)ctx, __ATOMIC_ACQUIRE) == NULL;
}

int weft_as_completed_next(weft_as_completed *it, weft_future **f, double timeout)
{
    if (!it || !f || weft__timeout_valid(timeout))
        return WEFT_EINVAL;
    /* The iterator's deadline (as_completed's timeout) or this call's,
     * whichever comes first; the call's is taken only if it must wait. */
    int64_t deadline = it->deadline;
    weft__park_spec spec = {
        .validate = ac_validate,
        .ctx = &it->completed,
        .why = WEFT_WAIT_FUTURE,
    };
    bool timed_out = false;
    for (;;) {
        if (it->rd == it->wr)
            ac_drain(it);
        if (it->rd < it->wr) {
            *f = it->ready[it->rd++]->f;
            it->yielded++;
            return 0;
        }
        if (it->yielded == it->unique)
            return WEFT_EEMPTY;
        if (timeout == 0)
            return WEFT_ETIMEDOUT;
        if (timeout != WEFT_FOREVER) {
            int64_t mine = weft__deadline(timeout);
            if (mine < deadline)
                deadline = mine;
            timeout = WEFT_FOREVER; /* taken once */
        }
        if (timed_out || (deadline != WEFT__NO_DEADLINE && weft__now_ns() >= deadline))
            return WEFT_ETIMEDOUT;
        int rc = weft__park(&it->completed, &spec, deadline, NULL);
        if (rc == WEFT_ETIMEDOUT)
            timed_out = true; /* one last look at what completed meanwhile */
        else if (rc != 0 && rc != WEFT_EAGAIN)
            return rc;
    }
}

void weft_as_completed_free(weft_as_completed *it)
{
    if (!it)
        return;
    /* Unhook before dropping the reference: a pending future may complete
     * at any time and must find no hook pointing into freed memory. */
    for (size_t i = 0; i < it->n; i++) {
        ac_entry *e = &it->entries[i];
        if (e->dup)
            continue;
        weft__future_hook_remove(e->f, &e->h);
        weft_future_unref(e->f);
    }
    free(it);
}
