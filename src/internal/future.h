/* What executors need from futures beyond the public API. */
#ifndef WEFT_INTERNAL_FUTURE_H
#define WEFT_INTERNAL_FUTURE_H

#include <stdint.h>

#include "weft/executor.h"
#include "weft/future.h"

/* Run a task on behalf of `f` in the calling thread: RUNNING (unless it was
 * cancelled: then 0 without running), fn, then finish it with the result or
 * with the error and the message the task attached (weft_task_set_message).
 * Returns the task's code (0 if cancelled; WEFT_EINVAL for a positive
 * return, which fails the future with a message saying so). WEFT_ESTATE
 * without running if f was already running or done (failed by
 * fail_pending, say); WEFT_EINVAL for a NULL f or fn. The future is not
 * unref'ed. */
int weft__future_run(weft_future *f, weft_task_fn fn, void *arg);

/* Fail a PENDING future without running it (a broken pool): 0, WEFT_ESTATE
 * if it is not PENDING (cancelled, running or done), WEFT_EINVAL for a NULL f
 * or a code >= 0, WEFT_ENOMEM if the message cannot be copied. */
int weft__future_fail_pending(weft_future *f, int code, const char *message);

/* Fast allocation for executors: a future with two references (the
 * submitter's and the executor's). Records come from a per-thread cache,
 * refilled in batches from retained slabs (internal/records.h). */
int weft__future_new2(weft_future **out);

/*
 * Completion hooks: what weft_wait and as_completed register on a future.
 * Unlike done callbacks they can be removed, and they run in the completing
 * thread with the future's internal lock held, after its waiters were woken
 * and before its done callbacks. So a hook must be short and must not call
 * anything that takes the same future's lock (add_done_callback, hook_add,
 * hook_remove); reading the outcome (weft_future_exception(f, 0), state_of)
 * is fine. Holding the lock is what makes removal safe: once
 * weft__future_hook_remove returns, the hook is neither running nor will
 * run, so it may live on the waiter's stack.
 */
typedef struct weft__future_hook weft__future_hook;
struct weft__future_hook {
    weft__future_hook *next, *prev; /* the future's list, under its lock */
    void (*fn)(weft__future_hook *h, weft_future *f);
    bool linked;                    /* under the future's lock */
};

/* Register h (h->fn set by the caller) on f. true if hooked; false if f was
 * already done (then h is not hooked and fn will not run for it). */
bool weft__future_hook_add(weft_future *f, weft__future_hook *h);

/* Unhook h if it is still hooked. On return h->fn is not running and will
 * never run for this registration. */
void weft__future_hook_remove(weft_future *f, weft__future_hook *h);

/* As weft__future_run; with cancelled_ends_cancelled, a task that returns
 * WEFT_ECANCELLED ends its future CANCELLED (a coroutine task). */
int weft__future_run_ex(weft_future *f, weft_task_fn fn, void *arg, bool cancelled_ends_cancelled);

/* The calling thread's current task context (what weft_task_set_message
 * writes to) is swapped with ctx: a coroutine runtime keeps each
 * coroutine's own across switches. Returns the previous one. */
void *weft__future_task_ctx_swap(void *ctx);

/*
 * An owner: something that drives a future and wants to hear of two events
 * (a coroutine task). Set once, before the future is shared.
 *   cancel   weft_future_cancel on the future while it is RUNNING: the
 *            owner's answer is returned (the task takes a cancel request).
 *   destroy  the last reference is being dropped (the owner frees what it
 *            keeps beside the future; the outcome is still readable).
 */
typedef struct weft__future_owner {
    bool (*cancel)(weft_future *f, void *ctx);
    void (*destroy)(weft_future *f, void *ctx);
    /* Optional: a thread (never a coroutine) about to sleep on f calls
     * help(f, ctx, deadline) first. The owner may do, for a while, the work
     * that completes f (a process pool's waiter takes results off the ring
     * itself rather than wait for the pool's thread to wake and hand them
     * over); it returns when f is done or it gives up, and the wait goes on
     * as usual. */
    void (*help)(weft_future *f, void *ctx, int64_t deadline);
    /* Only the owner ends the future (a task's coroutine): the public
     * set_result, set_error and set_running_or_notify_cancel refuse it
     * with WEFT_ESTATE. */
    bool sealed;
    /* Optional: weft_future_get_state (and so running and cancelled) on a
     * PENDING future calls refresh(f, ctx) first, so that an owner that
     * learns of a start lazily (a process pool whose worker took the task)
     * can mark it RUNNING before the state is read. */
    void (*refresh)(const weft_future *f, void *ctx);
} weft__future_owner;

void weft__future_set_owner(weft_future *f, const weft__future_owner *owner, void *ctx);
/* Cancel f if it is PENDING, without asking its owner: what an owner's
 * cancel hook calls once it has made sure the work will never run (a
 * process pool's task still queued). true if f is (now or already)
 * cancelled; its waiters and done callbacks run in the caller. */
bool weft__future_cancel_pending(weft_future *f);
/* Room for an owner's record beside its future (a task's). */
#define WEFT__FUTURE_ROOM 256
/* A future with `refs` references (1 or 2) and WEFT__FUTURE_ROOM bytes of
 * room beside it, on a 64-byte line, that live and die with it: one
 * allocation for the future and its owner's record, from the same
 * per-thread caches and retained slabs as weft__future_new2's. Its owner is
 * `owner` and its owner context that room (*room, uninitialised). The
 * owner's destroy must not free the room. WEFT_EINVAL for a NULL out, room
 * or owner or another count; WEFT_ENOMEM. */
int weft__future_new_owned(weft_future **out, uint32_t refs, const weft__future_owner *owner,
                           void **room);
/* ctx if f's owner is `owner`, else NULL (also for a NULL f). */
void *weft__future_owner_ctx(const weft_future *f, const weft__future_owner *owner);
/* Wait for f to be done; inside a coroutine the wait is not ended by the
 * task's cancellation (which stays pending for its next wait): for a task
 * that must see a cancelled inner task or a worker finish first. */
void weft__future_wait_uncancellable(weft_future *f);

/* The error code of a FINISHED future without marking it retrieved (0 for
 * a result, or when not finished). */
int weft__future_code(const weft_future *f);
/* For an owned future: whether its outcome was read with result/exception. */
bool weft__future_retrieved(const weft_future *f);

#endif
