/*
 * Event: one word, gen << 2 | PARKED | SET.
 *
 * SET is the flag. PARKED says waiters may be parked on the event: a waiter
 * sets it in park's validate (under the bucket lock) and only the unpark and
 * timed-out callbacks (under the same bucket lock) clear it, once no waiter
 * remains. So set and clear touch the bucket only when someone waits.
 *
 * gen counts the clear-to-set transitions (modulo 2^30). A waiter parks with
 * the generation it saw the flag clear in, and set wakes exactly the waiters
 * of the generation it ends. Without it, a waiter that started after a
 * set-then-clear could be woken by that set's late unpark and report a set
 * that happened before it began waiting; with it, a waiter woken by a set
 * that a clear then undid still reports it, as in Python.
 */
#include "internal/clock.h"
#include "internal/park.h"
#include "internal/sync.h"

#define SET 1u
#define PARKED 2u
#define GEN_SHIFT 2
#define GEN_ONE (1u << GEN_SHIFT)

static uint32_t gen_of(uint32_t s)
{
    return s >> GEN_SHIFT;
}

int weft_event_init(weft_event *ev)
{
    if (!ev)
        return WEFT_EINVAL;
    ev->word_ = 0;
    return 0;
}

void weft_event_destroy(weft_event *ev)
{
    (void)ev; /* it holds nothing to release */
}

bool weft_event_is_set(const weft_event *ev)
{
    return ev && (__atomic_load_n(&ev->word_, __ATOMIC_ACQUIRE) & SET);
}

typedef struct event_wake {
    weft_event *ev;
    bool have_gen;
    uint32_t gen; /* the generation the set ends, read under the bucket lock */
} event_wake;

static weft__filter_result wake_filter(void *ctx, uintptr_t park_token)
{
    event_wake *w = ctx;
    if (!w->have_gen) {
        w->gen = gen_of(__atomic_load_n(&w->ev->word_, __ATOMIC_RELAXED));
        w->have_gen = true;
    }
    return park_token == w->gen ? WEFT__FILTER_UNPARK : WEFT__FILTER_SKIP;
}

/*
 * Set the flag with waiters parked: under the bucket lock, after the
 * waiters of the ending generation were dequeued, and nothing of the event
 * is touched after this. A woken waiter may return and free the event at
 * once; setting the flag outside the lock and clearing PARKED here after
 * let a waiter that timed out, saw the flag and freed the event meet a
 * late write from us.
 */
static uintptr_t wake_cb(void *ctx, weft__unpark_result r)
{
    event_wake *w = ctx;
    uint32_t s = __atomic_load_n(&w->ev->word_, __ATOMIC_RELAXED), n;
    do {
        n = s & SET ? s : (s + GEN_ONE) | SET;
        if (!r.have_more)
            n &= ~PARKED;
    } while (n != s && !__atomic_compare_exchange_n(&w->ev->word_, &s, n, true,
                                                    __ATOMIC_RELEASE, __ATOMIC_RELAXED));
    return 0;
}

int weft_event_set(weft_event *ev)
{
    if (!ev)
        return WEFT_EINVAL;
    uint32_t s = __atomic_load_n(&ev->word_, __ATOMIC_RELAXED);
    for (;;) {
        if (s & SET)
            return 0;
        if (s & PARKED)
            break;
        /* Nobody parked: a CAS is the whole set. */
        if (__atomic_compare_exchange_n(&ev->word_, &s, (s + GEN_ONE) | SET, true,
                                        __ATOMIC_RELEASE, __ATOMIC_RELAXED))
            return 0;
    }
    event_wake w = {ev, false, 0};
    weft__unpark_filter(ev, SIZE_MAX, wake_filter, wake_cb, &w);
    return 0;
}

int weft_event_clear(weft_event *ev)
{
    if (!ev)
        return WEFT_EINVAL;
    __atomic_fetch_and(&ev->word_, ~SET, __ATOMIC_RELAXED);
    return 0;
}

typedef struct event_park {
    weft_event *ev;
    uint32_t gen;
} event_park;

/* Park only while the flag is still clear in the generation the waiter saw;
 * acquire, because refusing means "it was set" and the caller returns 0. */
static bool event_validate(void *ctx)
{
    event_park *p = ctx;
    uint32_t s = __atomic_load_n(&p->ev->word_, __ATOMIC_ACQUIRE);
    for (;;) {
        if ((s & SET) || gen_of(s) != p->gen)
            return false;
        if (s & PARKED)
            return true;
        if (__atomic_compare_exchange_n(&p->ev->word_, &s, s | PARKED, true, __ATOMIC_ACQUIRE,
                                        __ATOMIC_ACQUIRE))
            return true;
    }
}

static void event_timed_out(void *ctx, bool was_last)
{
    event_park *p = ctx;
    if (was_last)
        __atomic_fetch_and(&p->ev->word_, ~PARKED, __ATOMIC_RELAXED);
}

int weft_event_wait(weft_event *ev, double timeout)
{
    if (!ev || weft__timeout_valid(timeout))
        return WEFT_EINVAL;
    uint32_t s = __atomic_load_n(&ev->word_, __ATOMIC_ACQUIRE);
    if (s & SET)
        return 0;
    if (timeout == 0)
        return WEFT_ETIMEDOUT;
    event_park p = {ev, gen_of(s)};
    weft__park_spec spec = {
        .validate = event_validate,
        .timed_out = event_timed_out,
        .ctx = &p,
        .token = p.gen,
        .why = WEFT_WAIT_EVENT,
        .what = ev,
    };
    int rc = weft__park(ev, &spec, weft__deadline(timeout), NULL);
    /* EAGAIN: validate saw the flag set, or a set (perhaps already undone
     * by a clear) since our look at it: either way the wait saw a set. */
    return rc == WEFT_EAGAIN ? 0 : rc;
}
