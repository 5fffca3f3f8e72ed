/*
 * coro: stackful coroutines. See src/internal/coro.h for the contract.
 *
 * A coroutine's record sits at the top of its own stack, just below the
 * pool's header, so creating one allocates nothing beyond the stack and the
 * record shares the page that the coroutine's first frames touch:
 *
 *     guard | ......... frames grow down <- | record | pool hdr |
 *           base                             top                base+size
 *
 * The switch (src/arch/<arch>/switch.S) pushes the callee-saved registers
 * and the FP control words on the current stack, stores the stack pointer,
 * loads the other one and pops the same frame from it. A new coroutine's
 * stack is made to look like a suspended one whose frame "returns" into
 * weft__ctx_start, which calls coro_entry(co). The portable build does the
 * same with makecontext/swapcontext, which also save the signal mask and
 * cost a system call per switch.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "internal/coro.h"
#include "internal/fmt.h"
#include "internal/tls.h"
#include "weft/common.h"

#if defined(WEFT_CORO_SWITCH_ucontext)
#include <ucontext.h>
#elif !defined(WEFT_CORO_SWITCH_x86_64) && !defined(WEFT_CORO_SWITCH_aarch64)
#error "no coroutine switch selected (the build defines WEFT_CORO_SWITCH_<name>)"
#endif

#ifdef WEFT_SANITIZE_ADDRESS
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif
#ifdef WEFT_SANITIZE_THREAD
#include <sanitizer/tsan_interface.h>
#endif

const char weft__coro_impl[] = WEFT_CORO_SWITCH_NAME;

enum { CO_NEW, CO_RUNNING, CO_SUSPENDED, CO_DONE };

struct weft__coro {
#ifdef WEFT_CORO_SWITCH_ucontext
    ucontext_t uc;        /* this coroutine's context while it is not running */
    ucontext_t *back;     /* the resumer's, on the resumer's stack, while running */
#else
    void *sp;             /* this coroutine's saved stack pointer while not running */
    void *back;           /* the resumer's saved stack pointer while running */
#endif
    weft__coro *outer;    /* the coroutine that resumed this one (NULL: the thread) */
    weft__coro_fn fn;
    void *arg;
    char *base;           /* usable stack: [base, base + size); its guard below */
    size_t size;
    char *guard;          /* lowest byte of the guard: [guard, base) faults */
    const char *name;     /* its task's name for the overflow report, or NULL */
    int state;
#ifdef WEFT_SANITIZE_ADDRESS
    void *fake;           /* ASan's fake stack of this coroutine while suspended */
    const void *rbottom;  /* the resumer's stack, as ASan knows it */
    size_t rsize;
    bool abandon;         /* weft__coro_free of a suspended coroutine: finish now */
    bool adopted;         /* entered by a transfer: its resumer's stack is below */
    const void *adopted_bottom;
    size_t adopted_size;
    char *low;            /* near the deepest frame live at the last switch out */
#endif
#ifdef WEFT_SANITIZE_THREAD
    void *fiber;
    void *rfiber;         /* the resumer's fiber */
#endif
};

/* The coroutine running on this thread. The SIGSEGV handler reads it: a
 * stack overflow faults in the running coroutine's guard, so this one
 * pointer (no lock, no list of stacks) is all the handler needs. */
/* Initial-exec (internal/tls.h): a switch reads these. */
static _Thread_local weft__coro *cur WEFT__TLS_IE;
static _Thread_local bool thread_ready WEFT__TLS_IE;

/* ------------------------------------------------------------- switches */

#ifdef WEFT_CORO_SWITCH_ucontext

static void ctx_start(unsigned hi, unsigned lo);

static void ctx_make(weft__coro *co, char *top)
{
    /* getcontext fills the parts makecontext keeps (signal mask, FP state):
     * the creator's, as a thread started there would have. */
    getcontext(&co->uc);
    co->uc.uc_stack.ss_sp = co->base;
    co->uc.uc_stack.ss_size = (size_t)(top - co->base);
    co->uc.uc_link = NULL;
    uintptr_t p = (uintptr_t)co;
    /* makecontext passes int arguments: the pointer in two halves. */
    makecontext(&co->uc, (void (*)(void))ctx_start, 2, (unsigned)(p >> 16 >> 16),
                (unsigned)(p & 0xffffffffu));
    /* makecontext has put the stack into the registers; uc_stack is now
     * only read by ASan's swapcontext interceptor, which would clear the
     * shadow of the whole stack at every switch (and, for large stacks, map
     * fresh shadow pages, a memory mapping per coroutine). The switch is
     * announced to ASan explicitly instead. */
    co->uc.uc_stack.ss_sp = NULL;
    co->uc.uc_stack.ss_size = 0;
}

/* What resume returns, set by the side that switches back to the resumer:
 * per thread, not per coroutine, since after a transfer that is another
 * coroutine than the one resumed. */
static _Thread_local bool uc_more;

/* Into co; returns what its side passed to switch_out. */
static inline bool switch_in(weft__coro *co)
{
    ucontext_t back;
    back.uc_stack.ss_sp = NULL; /* swapcontext leaves it alone; see above */
    back.uc_stack.ss_size = 0;
    co->back = &back;
    swapcontext(&back, &co->uc);
    return uc_more;
}

/* Back to co's resumer, whose resume returns `more`. */
static inline void switch_out(weft__coro *co, bool more)
{
    uc_more = more;
    if (more)
        swapcontext(&co->uc, co->back);
    else
        setcontext(co->back);
}

/* From co (running) straight into to, which takes over co's resumer. */
static inline void switch_across(weft__coro *co, weft__coro *to)
{
    to->back = co->back;
    swapcontext(&co->uc, &to->uc);
}

#else

/* switch.S: save this context's registers on its stack and its stack
 * pointer in *save, then load the context saved at `to`, whose own call
 * of weft__ctx_switch then returns `ret`. */
bool weft__ctx_switch(void **save, void *to, bool ret);
/* The same, ending in a return the CPU predicts when both sides switch
 * from the same place (see switch.S): for transfers. */
bool weft__ctx_switch_ret(void **save, void *to, bool ret);
/* switch.S: the first frame of every coroutine. */
void weft__ctx_start(void);

static void coro_entry(weft__coro *co);

static void ctx_make(weft__coro *co, char *top)
{
    uintptr_t *sp = (uintptr_t *)((uintptr_t)top & ~(uintptr_t)15);
#if defined(WEFT_CORO_SWITCH_x86_64)
    /* The frame weft__ctx_switch pops, lowest address first: MXCSR and the
     * x87 control word (the creator's), r15, r14, r13, r12, rbx, rbp, and
     * the return address. After its `ret` the stack pointer is 16-byte
     * aligned, as the call in weft__ctx_start needs. */
    uint32_t mxcsr;
    uint16_t fcw;
    __asm__ volatile("stmxcsr %0" : "=m"(mxcsr));
    __asm__ volatile("fnstcw %0" : "=m"(fcw));
    sp -= 8;
    sp[0] = (uintptr_t)mxcsr | (uintptr_t)fcw << 32;
    sp[1] = 0;                        /* r15 */
    sp[2] = 0;                        /* r14 */
    sp[3] = (uintptr_t)coro_entry;    /* r13: what weft__ctx_start calls */
    sp[4] = (uintptr_t)co;            /* r12: its argument */
    sp[5] = 0;                        /* rbx */
    sp[6] = 0;                        /* rbp: the end of the frame chain */
    sp[7] = (uintptr_t)weft__ctx_start;
#elif defined(WEFT_CORO_SWITCH_aarch64)
    /* x19..x28, x29 (fp), x30 (lr), d8..d15, FPCR: 22 words, 176 bytes. */
    uint64_t fpcr;
    __asm__ volatile("mrs %0, fpcr" : "=r"(fpcr));
    sp -= 22;
    memset(sp, 0, 22 * sizeof *sp);
    sp[0] = (uintptr_t)co;            /* x19: coro_entry's argument */
    sp[1] = (uintptr_t)coro_entry;    /* x20: what weft__ctx_start calls */
    sp[11] = (uintptr_t)weft__ctx_start; /* x30: where the switch returns */
    sp[20] = fpcr;
#endif
    co->sp = sp;
}

/*
 * Into co; returns what its side passes to switch_out. Resume and yield end
 * in these calls when no sanitizer needs a word after the switch, so the
 * compiler makes them jumps: the switch then lands straight in the caller
 * of resume (or yield), like a return, and no `ret` of resume or yield is
 * left to be mispredicted (the CPU's return-stack predictor holds the other
 * context's return addresses). Bookkeeping for the resumer (`cur`, the
 * result) is therefore done by the coroutine's side before it switches.
 */
static inline bool switch_in(weft__coro *co)
{
    return weft__ctx_switch(&co->back, co->sp, false);
}

/* Back to co's resumer, whose resume returns `more`. */
static inline void switch_out(weft__coro *co, bool more)
{
    weft__ctx_switch(&co->sp, co->back, more);
}

/* From co (running) straight into to, which takes over co's resumer. */
static inline void switch_across(weft__coro *co, weft__coro *to)
{
    to->back = co->back;
    weft__ctx_switch_ret(&co->sp, to->sp, false);
}

#endif

/*
 * Sanitizer announcements around each switch. ASan must know which stack is
 * live (or it takes the other stack for a huge frame and reports nonsense);
 * a NULL fake-stack save on a coroutine's last switch tells it the fake
 * stack can go. TSan keeps its shadow call stack and its clocks per fiber;
 * switching with flag 0 makes each switch a synchronisation, so a coroutine
 * resumed by another thread sees what it did before it yielded.
 */
static inline void san_resume_begin(weft__coro *co, void **fake)
{
#ifdef WEFT_SANITIZE_ADDRESS
    __sanitizer_start_switch_fiber(fake, co->base, co->size);
#endif
#ifdef WEFT_SANITIZE_THREAD
    co->rfiber = __tsan_get_current_fiber();
    __tsan_switch_to_fiber(co->fiber, 0);
#endif
    (void)co;
    (void)fake;
}

static inline void san_resume_end(weft__coro *co, void *fake)
{
#ifdef WEFT_SANITIZE_ADDRESS
    __sanitizer_finish_switch_fiber(fake, NULL, NULL);
#endif
    (void)co;
    (void)fake;
}

static inline void san_leave(weft__coro *co, bool last)
{
#ifdef WEFT_SANITIZE_ADDRESS
    if (last) {
        /* Frames that returned were unpoisoned by their epilogues; the ones
         * still live at the last switch (this one and its callers, less
         * than a page below here) keep their redzones poisoned: free
         * clears just that part of the stack. */
        uintptr_t low = (uintptr_t)__builtin_frame_address(0) - 4096;
        /* The frame address, not a local's: with detect_stack_use_after_
         * return, locals live on ASan's fake stack, elsewhere. */
        co->low = low < (uintptr_t)co->base || low >= (uintptr_t)co ? co->base : (char *)low;
    }
    __sanitizer_start_switch_fiber(last ? NULL : &co->fake, co->rbottom, co->rsize);
#endif
#ifdef WEFT_SANITIZE_THREAD
    __tsan_switch_to_fiber(co->rfiber, 0);
#endif
    (void)co;
    (void)last;
}

static inline void san_entered(weft__coro *co, bool first)
{
#ifdef WEFT_SANITIZE_ADDRESS
    __sanitizer_finish_switch_fiber(first ? NULL : co->fake, &co->rbottom, &co->rsize);
    if (co->adopted) {
        /* ASan reports the stack we came from: the coroutine that handed
         * over. The one to go back to is that coroutine's resumer. */
        co->rbottom = co->adopted_bottom;
        co->rsize = co->adopted_size;
        co->adopted = false;
    }
#endif
    (void)co;
    (void)first;
}

/* co hands over to `to` (transfer): the announcements of a switch between
 * two coroutine stacks, with `to` inheriting co's resumer. */
static inline void san_across(weft__coro *co, weft__coro *to)
{
#ifdef WEFT_SANITIZE_ADDRESS
    to->adopted = true;
    to->adopted_bottom = co->rbottom;
    to->adopted_size = co->rsize;
    __sanitizer_start_switch_fiber(&co->fake, to->base, to->size);
#endif
#ifdef WEFT_SANITIZE_THREAD
    to->rfiber = co->rfiber;
    __tsan_switch_to_fiber(to->fiber, 0);
#endif
    (void)co;
    (void)to;
}

/* ------------------------------------------------ stack overflow report */

static struct sigaction prev_segv;
static pthread_once_t segv_once = PTHREAD_ONCE_INIT;
static pthread_key_t altstack_key;

static size_t put(char *p, const char *s)
{
    size_t n = strlen(s);
    memcpy(p, s, n);
    return n;
}

/* The previous handler, called as the kernel would have called it had
 * weft's not been in front: with its mask (and SIGSEGV itself unless it
 * asked for SA_NODEFER) blocked, and with the disposition reset to the
 * default first if it asked for SA_RESETHAND, so that a handler relying on
 * the reset (report, return, and die when the instruction faults again)
 * does not loop for ever through weft's handler. weft's own handler stays
 * uninstalled then, as the previous one's would have. */
static void call_prev(const struct sigaction *p, int sig, siginfo_t *si, void *uctx)
{
    if (p->sa_flags & SA_RESETHAND) {
        struct sigaction dfl;
        memset(&dfl, 0, sizeof dfl);
        dfl.sa_handler = SIG_DFL;
        sigemptyset(&dfl.sa_mask);
        sigaction(sig, &dfl, NULL);
    }
    sigset_t set, old;
    pthread_sigmask(SIG_BLOCK, NULL, &set);
    for (int s = 1; s < NSIG; s++)
        if (sigismember(&p->sa_mask, s) == 1)
            sigaddset(&set, s);
    if (p->sa_flags & SA_NODEFER)
        sigdelset(&set, sig);
    else
        sigaddset(&set, sig);
    pthread_sigmask(SIG_SETMASK, &set, &old);
    if (p->sa_flags & SA_SIGINFO)
        p->sa_sigaction(sig, si, uctx);
    else
        p->sa_handler(sig);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
}

/*
 * Runs on the alternate signal stack (the faulting stack is exhausted).
 * Async-signal-safe only: a TLS load, arithmetic, write, abort, sigaction
 * and pthread_sigmask. Faults that are not in the running coroutine's guard
 * belong to whoever handled SIGSEGV before weft: its handler is called as
 * if weft's were not there, or, for the default action, the previous
 * disposition is put back and the faulting instruction runs again and dies
 * the ordinary way.
 */
static void on_segv(int sig, siginfo_t *si, void *uctx)
{
    int saved = errno;
    weft__coro *co = cur;
    uintptr_t a = (uintptr_t)si->si_addr;
    /* The whole guard, not only its top page: a large frame that does not
     * probe its pages may fault anywhere in it. */
    if (co && a >= (uintptr_t)co->guard && a < (uintptr_t)co->base) {
        char msg[256];
        size_t n = put(msg, "weft: coroutine stack overflow ");
        const char *name = co->name;
        if (name) {
            /* A name longer than the room is cut: the report must fit. */
            size_t len = strnlen(name, 120);
            n += put(msg + n, "in task '");
            memcpy(msg + n, name, len);
            n += len;
            n += put(msg + n, "' ");
        }
        n += put(msg + n, "(stack of ");
        n += weft__fmt_dec(msg + n, co->size);
        n += put(msg + n, " bytes at ");
        n += weft__fmt_hex(msg + n, (uintptr_t)co->base);
        n += put(msg + n, ")\n");
        ssize_t w = write(STDERR_FILENO, msg, n);
        (void)w;
        abort();
    }
    bool plain = !(prev_segv.sa_flags & SA_SIGINFO);
    if (plain && prev_segv.sa_handler == SIG_IGN && si->si_code <= 0) {
        /* A SIGSEGV sent with kill() to a process that ignored it: ignore
         * it, and keep weft's handler for the overflows to come. (A fault
         * cannot be ignored: the kernel delivers it with the default
         * action, which the branch below arranges.) */
    } else if (!plain || (prev_segv.sa_handler != SIG_DFL && prev_segv.sa_handler != SIG_IGN)) {
        call_prev(&prev_segv, sig, si, uctx);
    } else {
        sigaction(SIGSEGV, &prev_segv, NULL);
        /* A SIGSEGV sent with kill() has no instruction to run again. */
        if (si->si_code <= 0)
            raise(sig);
    }
    errno = saved;
}

/* Frees the alternate signal stack weft gave this thread, at thread exit. */
static void altstack_release(void *mem)
{
    stack_t ss;
    if (sigaltstack(NULL, &ss) == 0 && ss.ss_sp == mem && !(ss.ss_flags & SS_ONSTACK)) {
        stack_t off = {.ss_flags = SS_DISABLE};
        sigaltstack(&off, NULL);
        munmap(mem, ss.ss_size);
    }
}

static void segv_install(void)
{
    if (pthread_key_create(&altstack_key, altstack_release) != 0)
        abort(); /* out of keys at the first coroutine: cannot happen */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_segv;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGSEGV, &sa, &prev_segv);
}

/* Once per thread, at its first resume: the SIGSEGV handler (process-wide,
 * once) and an alternate signal stack for this thread, unless it has one
 * (a sanitizer's, or the application's). */
__attribute__((noinline, cold)) static void thread_prepare(void)
{
    pthread_once(&segv_once, segv_install);
    stack_t ss;
    if (sigaltstack(NULL, &ss) == 0 && (ss.ss_flags & SS_DISABLE)) {
        size_t len = 64 * 1024;
        long min = sysconf(_SC_SIGSTKSZ);
        if (min > 0 && (size_t)min * 4 > len)
            len = (size_t)min * 4;
        void *mem = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (mem != MAP_FAILED) {
            stack_t on = {.ss_sp = mem, .ss_size = len, .ss_flags = 0};
            if (sigaltstack(&on, NULL) == 0)
                pthread_setspecific(altstack_key, mem);
            else
                munmap(mem, len);
        }
        /* Without one, an overflow still dies by SIGSEGV, only without
         * the message. */
    }
    thread_ready = true;
}

/* ------------------------------------------------------------------ API */

#ifdef WEFT_CORO_SWITCH_ucontext
static void ctx_start(unsigned hi, unsigned lo)
{
    weft__coro *co = (weft__coro *)(((uintptr_t)hi << 16 << 16) | lo);
#else
static void coro_entry(weft__coro *co)
{
#endif
    san_entered(co, true);
    co->fn(co->arg);
    co->state = CO_DONE;
    cur = co->outer;
    san_leave(co, true);
    switch_out(co, false);
    abort(); /* a finished coroutine is never switched to */
}

int weft__coro_new(weft__coro **out, size_t stack_size, weft__coro_fn fn, void *arg)
{
    if (!out || !fn)
        return WEFT_EINVAL;
    if (stack_size == 0) {
        stack_size = WEFT__CORO_STACK_DEFAULT;
#ifdef WEFT_SANITIZE_ADDRESS
        /* ASan's redzones make frames several times larger. */
        stack_size *= 2;
#endif
    }
    if (stack_size < WEFT__CORO_STACK_MIN)
        return WEFT_EINVAL;
    size_t page = weft__stack_page();
    if (stack_size > SIZE_MAX / 4)
        return WEFT_ENOMEM;
    stack_size = (stack_size + page - 1) & ~(page - 1);
    char *base = weft__stack_alloc(stack_size);
    if (!base)
        return WEFT_ENOMEM;
    char *top = base + stack_size - WEFT__STACK_HDR;
    weft__coro *co = (weft__coro *)(((uintptr_t)top - sizeof *co) & ~(uintptr_t)63);
    co->outer = NULL;
    co->fn = fn;
    co->arg = arg;
    co->base = base;
    co->size = stack_size;
    co->guard = base - weft__stack_guard();
    co->name = NULL;
    co->state = CO_NEW;
#ifdef WEFT_SANITIZE_ADDRESS
    co->fake = NULL;
    co->rbottom = NULL;
    co->rsize = 0;
    co->abandon = false;
    co->adopted = false;
    co->low = base;
#endif
#ifdef WEFT_SANITIZE_THREAD
    co->fiber = __tsan_create_fiber(0);
    co->rfiber = NULL;
#endif
    ctx_make(co, (char *)co);
    *out = co;
    return 0;
}

/* The first resume on a thread: prepare it, then resume. Apart, so that
 * the common path needs no stack frame of its own (it ends in a jump). */
__attribute__((noinline, cold)) static bool resume_first(weft__coro *co)
{
    thread_prepare();
    return weft__coro_resume(co);
}

bool weft__coro_resume(weft__coro *co)
{
    if (!thread_ready)
        return resume_first(co);
    /* The record is in the coroutine's stack mapping; a state other than
     * these means a finished, running or freed coroutine was resumed. */
    if (co->state != CO_NEW && co->state != CO_SUSPENDED)
        abort();
    co->outer = cur;
    co->state = CO_RUNNING;
    cur = co;
#if defined(WEFT_SANITIZE_ADDRESS) || defined(WEFT_SANITIZE_THREAD)
    void *fake = NULL;
    san_resume_begin(co, &fake);
    bool more = switch_in(co);
    san_resume_end(co, fake);
    return more;
#else
    return switch_in(co); /* a tail call: see switch_in */
#endif
}

/* Back in co after a yield or a transfer, maybe on another thread: nothing
 * here may use a TLS address computed before the switch. */
static inline void resumed(weft__coro *co)
{
    san_entered(co, false);
#ifdef WEFT_SANITIZE_ADDRESS
    if (co->abandon) {
        /* weft__coro_free of a suspended coroutine, under ASan: leave for
         * good with a NULL fake-stack save so ASan frees the fake stack. */
        co->state = CO_DONE;
        cur = co->outer;
        san_leave(co, true);
        switch_out(co, false);
        abort();
    }
#else
    (void)co;
#endif
}

void weft__coro_yield(void)
{
    weft__coro *co = cur;
    if (!co)
        abort(); /* a yield outside any coroutine has nowhere to go */
    co->state = CO_SUSPENDED;
    cur = co->outer;
    san_leave(co, false);
    switch_out(co, true);
    resumed(co);
}

void weft__coro_transfer(weft__coro *to)
{
    weft__coro *co = cur;
    if (!co || to == co || (to->state != CO_NEW && to->state != CO_SUSPENDED))
        abort(); /* see the contract: nothing to hand over, or to */
    to->outer = co->outer;
    to->state = CO_RUNNING;
    co->state = CO_SUSPENDED;
    cur = to;
    san_across(co, to);
    switch_across(co, to);
    resumed(co);
}

void weft__coro_prefetch(const weft__coro *co, bool deep)
{
    if (!deep) {
        __builtin_prefetch(co, 0, 3);
        return;
    }
#ifdef WEFT_CORO_SWITCH_ucontext
    (void)co;
#else
    /* A suspended coroutine: from the saved frame up to the record, at
     * most 1 KiB, the frames its resume returns through (deeper ones are
     * reached later, when the CPU has had time to fetch them). A new one:
     * the 1 KiB below its first frame, which its first calls will write. */
    uintptr_t lo = (uintptr_t)co->sp & ~(uintptr_t)63, hi = (uintptr_t)co;
    if (co->state == CO_NEW) {
        hi = lo;
        lo = hi - 1024 < (uintptr_t)co->base ? (uintptr_t)co->base : hi - 1024;
    } else if (hi - lo > 1024) {
        hi = lo + 1024;
    }
    for (uintptr_t a = lo; a < hi; a += 64)
        __builtin_prefetch((const void *)a, 1, 3);
#endif
}

weft__coro *weft__coro_current(void)
{
    return cur;
}

void weft__coro_free(weft__coro *co)
{
    if (!co)
        return;
    if (co->state == CO_RUNNING)
        abort(); /* freeing a running coroutine pulls its stack from under it */
#ifdef WEFT_SANITIZE_ADDRESS
    if (co->state == CO_SUSPENDED) {
        co->abandon = true;
        weft__coro_resume(co);
    }
    /* The abandoned (or finished) frames left their redzones poisoned: the
     * next coroutine on this stack must start clean. */
    __asan_unpoison_memory_region(co->low, (size_t)((char *)co - co->low));
#endif
#ifdef WEFT_SANITIZE_THREAD
    __tsan_destroy_fiber(co->fiber);
#endif
    co->state = -1;
    weft__stack_free(co->base, co->size);
}

void weft__coro_set_name(weft__coro *co, const char *name)
{
    co->name = name;
}

size_t weft__coro_stack_size(const weft__coro *co)
{
    return co->size;
}
