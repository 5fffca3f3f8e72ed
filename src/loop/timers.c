/*
 * The loop's timers: a 4-ary min-heap of {when, timer} (the struct in
 * internal/loop_state.h says how it is laid out). Start and stop are
 * O(log n); a million pending timers cost their entries and no more.
 */
#include <stdint.h>
#include <sys/mman.h>

#include "internal/clock.h"
#include "internal/loop_state.h"

/* Equal deadlines fire in start order: the start sequence breaks ties. It
 * is 32 bits and compared by difference, which is right for any two timers
 * started fewer than 2^31 starts apart. Only ties read the timer itself. */
static inline bool entry_less(const heap_entry *a, const heap_entry *b)
{
    if (a->when != b->when)
        return a->when < b->when;
    return (int32_t)(a->t->seq - b->t->seq) < 0;
}

static inline void heap_place(weft_loop *L, uint32_t i, heap_entry e)
{
    L->heap[i] = e;
    e.t->slot = i;
}

static void sift_up(weft_loop *L, uint32_t i, heap_entry e)
{
    while (i > 0) {
        uint32_t parent = (i - 1) / 4;
        if (!entry_less(&e, &L->heap[parent]))
            break;
        heap_place(L, i, L->heap[parent]);
        i = parent;
    }
    heap_place(L, i, e);
}

static void sift_down(weft_loop *L, uint32_t i, heap_entry e)
{
    uint32_t n = L->heap_n;
    for (;;) {
        uint32_t c = 4 * i + 1;
        if (c >= n)
            break;
        /* The grandchildren (4c+1 .. 4c+16) are four adjacent lines: fetch
         * them while these four are compared, which halves the chain of
         * cache misses down a heap too big for the cache. */
        uint32_t g = 4 * c + 1;
        if (g < n) {
            const char *p = (const char *)&L->heap[g];
            __builtin_prefetch(p);
            __builtin_prefetch(p + 64);
            __builtin_prefetch(p + 128);
            __builtin_prefetch(p + 192);
        }
        uint32_t best = c, end = c + 4 < n ? c + 4 : n;
        for (uint32_t k = c + 1; k < end; k++)
            if (entry_less(&L->heap[k], &L->heap[best]))
                best = k;
        if (!entry_less(&L->heap[best], &e))
            break;
        heap_place(L, i, L->heap[best]);
        i = best;
    }
    heap_place(L, i, e);
}

#define HEAP_SKIP 3 /* entries before heap[0] in the mapping (see struct) */
#define HEAP_MIN_MAP 4096

static int heap_resize(weft_loop *L, size_t bytes)
{
    void *m;
    if (!L->heap_map)
        m = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    else
        m = mremap(L->heap_map, L->heap_map_bytes, bytes, MREMAP_MAYMOVE);
    if (m == MAP_FAILED)
        return WEFT_ENOMEM;
    L->heap_map = m;
    L->heap_map_bytes = bytes;
    L->heap = (heap_entry *)m + HEAP_SKIP;
    size_t cap = bytes / sizeof(heap_entry) - HEAP_SKIP;
    L->heap_cap = cap > UINT32_MAX - 1 ? UINT32_MAX - 1 : (uint32_t)cap;
    return 0;
}

static void heap_push(weft_loop *L, weft__loop_timer *t)
{
    heap_entry e = {t->when, t};
    sift_up(L, L->heap_n++, e);
}

static void heap_remove(weft_loop *L, uint32_t i)
{
    uint32_t last = --L->heap_n;
    L->heap[i].t->slot = UINT32_MAX;
    if (i != last) {
        heap_entry e = L->heap[last];
        if (i > 0 && entry_less(&e, &L->heap[(i - 1) / 4]))
            sift_up(L, i, e);
        else
            sift_down(L, i, e);
    }
    /* Give memory back once a big heap has drained to a quarter: halving
     * then leaves room to grow again without an immediate mremap. */
    if (L->heap_map_bytes > 16 * HEAP_MIN_MAP &&
        (size_t)L->heap_n * sizeof(heap_entry) * 4 < L->heap_map_bytes)
        heap_resize(L, L->heap_map_bytes / 2);
}

int weft__loop_timer_start(weft_loop *L, weft__loop_timer *t, int64_t when)
{
    t->when = when;
    t->seq = L->timer_seq++;
    if (weft__loop_timer_pending(t)) {
        uint32_t i = t->slot;
        heap_entry e = {when, t};
        if (i > 0 && entry_less(&e, &L->heap[(i - 1) / 4]))
            sift_up(L, i, e);
        else
            sift_down(L, i, e);
        return 0;
    }
    if (L->heap_n >= L->heap_cap) {
        size_t bytes = L->heap_map ? L->heap_map_bytes * 2 : HEAP_MIN_MAP;
        if (L->heap_n >= UINT32_MAX - 2 || heap_resize(L, bytes) != 0)
            return WEFT_ENOMEM;
    }
    heap_push(L, t);
    return 0;
}

void weft__loop_timer_stop(weft_loop *L, weft__loop_timer *t)
{
    if (weft__loop_timer_pending(t))
        heap_remove(L, t->slot);
}

void weft__loop_timers_fire_due(weft_loop *L)
{
    int64_t now = weft__now_ns();
    while (L->heap_n && L->heap[0].when <= now) {
        weft__loop_timer *t = L->heap[0].t;
        heap_remove(L, 0);
        t->fire(t);
    }
}

void weft__loop_timers_close(weft_loop *L, void (*forget)(weft__loop_timer *t))
{
    for (uint32_t i = 0; i < L->heap_n; i++) {
        weft__loop_timer *t = L->heap[i].t;
        t->slot = UINT32_MAX;
        forget(t);
    }
    L->heap_n = 0;
    if (L->heap_map)
        munmap(L->heap_map, L->heap_map_bytes);
    L->heap_map = NULL;
    L->heap = NULL;
}
