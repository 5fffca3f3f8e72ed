/*
 * The loop's cross-thread side: what other threads do to a loop (hand it
 * an item, ask it to stop, wake it from its poll), and the gate that keeps
 * a closing loop from being torn down under them. The loop's thread takes
 * the items (weft__loop_inbox_pop) at each iteration.
 */
#include <sched.h>

#include "internal/loop_state.h"

/*
 * The hand-off queue is Dmitry Vyukov's intrusive MPSC queue. A producer
 * clears its item's link, exchanges the producer end (`push`) for its item
 * and then links the previous end to it. Between the exchange and the link
 * the queue is briefly "in flight": the consumer sees push != pop but cannot
 * take the item yet, so it polls with a zero timeout until the link lands
 * (a few instructions on the producer's side). A producer preempted in
 * between keeps the queue in flight for a whole timeslice; after
 * INFLIGHT_SPINS empty turns the loop yields its CPU at each turn (see
 * run_once in loop.c), or it would spin against a producer that may be
 * waiting for that very CPU. The link is a release store and the consumer
 * reads links with acquire, so an item's contents written before it was
 * pushed are visible to the loop that runs it.
 *
 * The queue is empty exactly when push == pop after the consumer has taken
 * everything it can (the sentinel node is pushed back whenever the last
 * item is taken, so there is always a node to link to).
 */
static void mpsc_push(weft_loop *L, weft__loop_item *it)
{
    __atomic_store_n(&it->next, NULL, __ATOMIC_RELAXED);
    /* seq_cst: one half of the handshake with the poll (weft__loop_wake). */
    weft__loop_item *prev = __atomic_exchange_n(&L->shared.push, it, __ATOMIC_SEQ_CST);
    __atomic_store_n(&prev->next, it, __ATOMIC_RELEASE);
}

/* weft__loop_inbox_idle (internal/loop_state.h) is this function's first
 * step, read without the call. */
weft__loop_item *weft__loop_inbox_pop(weft_loop *L)
{
    weft__loop_item *tail = L->pop;
    weft__loop_item *next = __atomic_load_n(&tail->next, __ATOMIC_ACQUIRE);
    if (tail == &L->sentinel) {
        if (!next)
            return NULL;
        L->pop = tail = next;
        next = __atomic_load_n(&tail->next, __ATOMIC_ACQUIRE);
    }
    if (next) {
        L->pop = next;
        return tail;
    }
    if (tail != __atomic_load_n(&L->shared.push, __ATOMIC_ACQUIRE))
        return NULL; /* a producer is in flight behind `tail` */
    mpsc_push(L, &L->sentinel);
    next = __atomic_load_n(&tail->next, __ATOMIC_ACQUIRE);
    if (next) {
        L->pop = next;
        return tail;
    }
    return NULL;
}

/*
 * The poll handshake. Before it blocks, the loop stores POLL_WAITING and
 * then looks at the hand-off queue and the stop bits (both seq_cst); a
 * producer publishes its item or stop bit (seq_cst) and then loads the
 * word (seq_cst). In the single total order of these four operations either
 * the loop's look comes after the producer's publication (the loop sees the
 * work and does not block) or the producer's load comes after the loop's
 * store (the producer sees POLL_WAITING and writes the eventfd): a wake-up
 * is never lost. The first producer to turn WAITING into WOKEN writes the
 * eventfd, the others see WOKEN and do nothing; a producer that finds the
 * loop busy (POLL_BUSY) does no syscall at all.
 */
void weft__loop_wake(weft_loop *L)
{
    if (__atomic_load_n(&L->shared.polling, __ATOMIC_SEQ_CST) == POLL_WAITING &&
        __atomic_exchange_n(&L->shared.polling, POLL_WOKEN, __ATOMIC_SEQ_CST) == POLL_WAITING)
        weft__poll_wake(&L->poller);
}

/*
 * The gate keeps free from tearing the loop down under a thread that is
 * inside one of the any-thread calls: such a call adds 2 on entry and takes
 * it off on exit; free sets bit 0 and then waits for the count to drain.
 * The acquire load in free pairs with the release on exit, so free sees
 * every item those calls pushed.
 */
static bool gate_enter(weft_loop *L)
{
    uint32_t g = __atomic_fetch_add(&L->shared.gate, 2, __ATOMIC_ACQUIRE);
    if (g & 1) {
        __atomic_fetch_sub(&L->shared.gate, 2, __ATOMIC_RELEASE);
        return false;
    }
    return true;
}

static void gate_leave(weft_loop *L)
{
    __atomic_fetch_sub(&L->shared.gate, 2, __ATOMIC_RELEASE);
}

int weft__loop_ready_threadsafe(weft_loop *L, weft__loop_item *it)
{
    if (!gate_enter(L))
        return WEFT_ESTATE;
    mpsc_push(L, it);
    weft__loop_wake(L);
    gate_leave(L);
    return 0;
}

int weft__loop_request_stop(weft_loop *L)
{
    if (!gate_enter(L))
        return WEFT_ESTATE;
    __atomic_fetch_or(&L->shared.stop, STOP_USER, __ATOMIC_SEQ_CST);
    weft__loop_wake(L);
    gate_leave(L);
    return 0;
}

void weft__loop_inbox_close(weft_loop *L)
{
    __atomic_fetch_or(&L->shared.gate, 1, __ATOMIC_ACQ_REL);
    while (__atomic_load_n(&L->shared.gate, __ATOMIC_ACQUIRE) != 1)
        sched_yield();
}
