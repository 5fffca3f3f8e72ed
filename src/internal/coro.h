/*
 * coro - stackful coroutines: a stack, a saved context and a switch.
 *
 * This layer knows nothing of loops or tasks. A coroutine is resumed by the
 * code that runs it (the loop's thread, outside any coroutine) and runs until
 * it yields or its function returns; both give control back to the resumer.
 * That asymmetric pair (resume / yield) is all the event loop needs: a task
 * always suspends back to its loop.
 *
 * The switch saves only what the ABI says a callee must preserve: on x86-64
 * (System V) rbx, rbp, r12-r15, rsp, the x87 control word and MXCSR; on
 * AArch64 x19-x29, lr, sp, d8-d15 and FPCR. It lives in src/arch/<arch>/ and
 * is picked at build time; other machines get a portable fallback on
 * ucontext (makecontext/swapcontext), slower but correct. weft__coro_impl
 * names the one built.
 *
 * Stacks come from a pool (stack.c): mmap-ed in slabs, each stack with a
 * 64 KiB guard below it (installed with MADV_GUARD_INSTALL where the kernel
 * has it, so a million stacks do not cost a million memory mappings;
 * mprotect otherwise). Only the pages a coroutine touches become resident.
 * A stack overflow hits the guard: a SIGSEGV handler on an alternate signal
 * stack recognises a fault inside the running coroutine's guard, writes
 * "weft: coroutine stack overflow (stack of N bytes at ADDR)" to stderr and
 * aborts; any other SIGSEGV goes to the handler installed before weft's (or
 * the default action), with that handler's flags and mask honoured.
 *
 * Sanitizers: under ASan every switch is announced with
 * __sanitizer_start_switch_fiber / __sanitizer_finish_switch_fiber; under
 * TSan each coroutine has a TSan fiber (__tsan_create_fiber /
 * __tsan_switch_to_fiber / __tsan_destroy_fiber), so reports stay meaningful.
 *
 * Threads: a coroutine is created on any thread but resumed by one thread at
 * a time; it may be resumed by a different thread later only once it has
 * yielded (the loop never does this, but nothing forbids it).
 */
#ifndef WEFT_INTERNAL_CORO_H
#define WEFT_INTERNAL_CORO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct weft__coro weft__coro;
typedef void (*weft__coro_fn)(void *arg);

/* 0 selects the default stack size: WEFT__CORO_STACK_DEFAULT bytes of
 * address space, of which only touched pages cost memory. */
#define WEFT__CORO_STACK_DEFAULT (64u * 1024u)
/* Smallest accepted size: enough for the switch, a few calls and a printf. */
#define WEFT__CORO_STACK_MIN (16u * 1024u)

/* A new suspended coroutine that will run fn(arg) at its first resume. The
 * stack size is rounded up to whole pages (0: the default; below the minimum:
 * WEFT_EINVAL). 0, WEFT_EINVAL (NULL out or fn) or WEFT_ENOMEM. The record
 * lives inside the stack's mapping (no separate malloc). */
int weft__coro_new(weft__coro **out, size_t stack_size, weft__coro_fn fn, void *arg);

/* Run co until it yields or its function returns. Returns true while it can
 * be resumed again, false once fn has returned (then free it). Must not be
 * called from inside co itself, nor on a finished coroutine. Resuming from
 * inside another coroutine nests (the inner yields back to the outer). */
bool weft__coro_resume(weft__coro *co);

/* From inside a coroutine: suspend it and return to whoever resumed it. */
void weft__coro_yield(void);

/* Ask the CPU to bring co's record (deep: false), or the frames its next
 * resume will pop (deep: true, best once the record is in cache), into
 * the cache ahead of that resume. A hint only: nothing is written, and a
 * coroutine that is freed or resumed first is no harm. The loop warms the
 * next task while the current one runs: with a million coroutines each
 * resume would otherwise wait for its stack's page walk and cache lines. */
void weft__coro_prefetch(const weft__coro *co, bool deep);

/* From inside a coroutine: suspend it and run `to` (new or suspended, not
 * this one) in its place, as if its resumer had resumed `to` instead: when
 * `to` yields or returns, that resumer's resume returns (with to's result).
 * One switch instead of two (back to the resumer, then into `to`), for a
 * scheduler that knows what it would resume next. The caller does its own
 * bookkeeping: the resumer must tell, when its resume returns, which
 * coroutine came back. */
void weft__coro_transfer(weft__coro *to);

/* The coroutine running on this thread, or NULL outside any. */
weft__coro *weft__coro_current(void);

/* Release a coroutine that has finished or was never resumed, or one that is
 * suspended (its stack frames are simply abandoned: nothing on them runs).
 * NULL is ignored. Never from inside co. Its stack goes back to the pool. */
void weft__coro_free(weft__coro *co);

/* What a stack overflow of co reports it as: the name of the task it runs
 * ("in task 'name'"). The string is the caller's, and must stay valid
 * until the next call or until co is freed; NULL for none. */
void weft__coro_set_name(weft__coro *co, const char *name);

/* The usable stack size of co in bytes (after rounding). */
size_t weft__coro_stack_size(const weft__coro *co);

/* "x86_64", "aarch64" or "ucontext": the switch this build uses. */
extern const char weft__coro_impl[];

/* The stack pool keeps at least this many free stacks of each size ready
 * for reuse; slabs whose stacks are all free (idle) beyond it give their
 * memory back to the kernel once they have been idle WEFT__STACK_DECAY_NS
 * (a burst that follows a burst reuses them warm). Ten seconds, as
 * allocators decay their dirty pages: the end of a burst of a million
 * tasks can itself take seconds (on a virtual machine, its first run
 * faults every stack in), and with one second the slabs of its first
 * tasks went cold before its last ones finished, so the next burst
 * paid a fault per stack again. */
#define WEFT__STACK_CACHE_MAX 4096
#define WEFT__STACK_DECAY_NS ((int64_t)10 * 1000 * 1000 * 1000)

/* Limits under the sanitizers: a TSan fiber is a whole TSan thread state
 * (about half a millisecond to create and destroy, and TSan holds at most
 * 8128 threads and fibers at once), so TSan runs must keep fewer coroutines
 * alive than that. Under ASan the default stack is twice as large. */

/* ------------------------------------------------------------ stack pool */

/* The pool's own record of a stack lives in the top WEFT__STACK_HDR bytes of
 * its usable range: a stack's user (coro.c) must leave them alone. */
#define WEFT__STACK_HDR 16u

/* Bytes of guard below every stack (rounded up to whole pages: see
 * weft__stack_guard). A frame that skips more than this without touching
 * it lands in the stack below: code built with -fstack-clash-protection
 * touches every page of a large frame, other code is safe for frames up
 * to this size. */
#define WEFT__STACK_GUARD (64u * 1024u)

/* A stack of `size` usable bytes (a multiple of the page size, at least
 * WEFT__CORO_STACK_MIN): returns its lowest usable address; its guard is
 * the weft__stack_guard() bytes just below it. NULL if the kernel has no memory for it.
 * Never a syscall when a stack of that size was freed recently. */
void *weft__stack_alloc(size_t size);

/* Give back a stack from weft__stack_alloc (its base and size). */
void weft__stack_free(void *base, size_t size);

/* Give back the memory of idle slabs that have decayed by `now` (the
 * monotonic clock, ns). Returns the ns until the next one decays (0: due
 * already, for a later call), or -1 if none will without more frees. Cheap
 * when nothing is due: an idle event loop calls it before it sleeps and
 * caps its sleep with the result. Any thread. */
int64_t weft__stack_trim(int64_t now);

/* weft_trim_memory: what weft__stack_trim would give back once every idle
 * slab has decayed, given back now (the stacks that the pool keeps
 * warm in any case stay). Returns the bytes of the slabs let go. */
size_t weft__stack_trim_all(void);

/* Tests: the decay in ns (a negative value restores the default), and the
 * address space of idle slabs. */
void weft__stack_set_decay(int64_t ns);
size_t weft__stack_idle_bytes(void);

/* The system page size (the rounding unit). */
size_t weft__stack_page(void);

/* The guard below each stack: WEFT__STACK_GUARD rounded up to pages. */
size_t weft__stack_guard(void);

/* True when guards are MADV_GUARD_INSTALL markers (no memory mapping per
 * stack); false when the kernel refused them and each guard is an
 * mprotect-ed range, which splits the slab's mapping: about
 * vm.max_map_count / 2 stacks can then exist at once (some 32,000 with the
 * default 65530). Meaningful once a stack has been allocated. */
bool weft__stack_guard_is_marker(void);

#endif
