/* coro: resume/yield/finish, data flow, interleaving, nesting, what a switch
 * must preserve (callee-saved integer and FP registers, the FP control
 * state), deep recursion, stack overflow reports (anywhere in the 64 KiB
 * guard) and SIGSEGV chaining (the previous handler's flags and mask), free
 * in every state, 100,000 live coroutines, the stack pool (reuse, no memory
 * mapping per stack, one touched page per small coroutine, stacks freed
 * after a thread's cache was flushed), argument checks, and coroutines
 * moving between threads. */
#include <errno.h>
#include <fenv.h>
#include <limits.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "internal/clock.h"
#include "internal/coro.h"
#include "weft/loop.h"
#include "wt.h"

#if defined(WEFT_SANITIZE_ADDRESS) || defined(WEFT_SANITIZE_THREAD)
#define SANITIZED 1
#else
#define SANITIZED 0
#endif

/* ------------------------------------------------------------ helpers */

static int log_buf[64];
static int log_n;

static void note(int v)
{
    log_buf[log_n++] = v;
}

static void check_log(const int *want, int n)
{
    ck_assert_int_eq(log_n, n);
    for (int i = 0; i < n; i++)
        ck_assert_msg(log_buf[i] == want[i], "log[%d] = %d, expected %d", i, log_buf[i], want[i]);
}

/* ---------------------------------------------------------- the basics */

static void three_steps(void *arg)
{
    int *steps = arg;
    note(1);
    ck_assert_ptr_nonnull(weft__coro_current());
    (*steps)++;
    weft__coro_yield();
    note(3);
    (*steps)++;
    weft__coro_yield();
    note(5);
    (*steps)++;
}

START_TEST(coro_basic)
{
    weft__coro *co;
    int steps = 0;
    WT_OK(weft__coro_new(&co, 0, three_steps, &steps));
    ck_assert_int_eq(steps, 0); /* nothing runs before the first resume */
    ck_assert(weft__coro_resume(co));
    note(2);
    ck_assert(weft__coro_resume(co));
    note(4);
    ck_assert(!weft__coro_resume(co));
    note(6);
    ck_assert_int_eq(steps, 3);
    check_log((const int[]){1, 2, 3, 4, 5, 6}, 6);
    weft__coro_free(co);
    weft__coro_free(NULL);
    ck_assert_msg(!strcmp(weft__coro_impl, "x86_64") || !strcmp(weft__coro_impl, "aarch64") ||
                      !strcmp(weft__coro_impl, "ucontext"),
                  "impl %s", weft__coro_impl);
}
END_TEST

/* A generator: values flow in and out through a shared record. */
typedef struct gen {
    long in, out;
    bool done;
} gen;

static void running_sum(void *arg)
{
    gen *g = arg;
    long sum = 0;
    while (g->in >= 0) {
        sum += g->in;
        g->out = sum;
        weft__coro_yield();
    }
    g->out = -sum;
    g->done = true;
}

START_TEST(coro_data_flow)
{
    weft__coro *co;
    gen g = {0};
    WT_OK(weft__coro_new(&co, 0, running_sum, &g));
    long want = 0;
    for (long i = 1; i <= 100; i++) {
        g.in = i;
        want += i;
        ck_assert(weft__coro_resume(co));
        ck_assert_int_eq(g.out, want);
    }
    g.in = -1;
    ck_assert(!weft__coro_resume(co));
    ck_assert(g.done);
    ck_assert_int_eq(g.out, -5050);
    weft__coro_free(co);
}
END_TEST

/* Transfer: a coroutine hands its resumer over to another (new, then
 * suspended): the resume that ran the first returns when the other yields
 * or ends, the first stays suspended where it transferred, and its frames
 * are intact when it is resumed. */
static weft__coro *tr_a, *tr_b;

static void tr_b_body(void *arg)
{
    (void)arg;
    ck_assert_ptr_eq(weft__coro_current(), tr_b);
    note(2);
    weft__coro_yield();
    note(4);
    weft__coro_transfer(tr_a); /* tr_a is suspended: hand over to it again */
    note(7);
}

static void tr_a_body(void *arg)
{
    long local = 12345; /* on a's stack, across both transfers */
    (void)arg;
    note(1);
    weft__coro_transfer(tr_b);
    ck_assert_ptr_eq(weft__coro_current(), tr_a);
    ck_assert_int_eq(local, 12345);
    note(5);
    weft__coro_yield();
    note(6);
}

START_TEST(coro_transfer)
{
    log_n = 0;
    WT_OK(weft__coro_new(&tr_a, 0, tr_a_body, NULL));
    WT_OK(weft__coro_new(&tr_b, 0, tr_b_body, NULL));
    ck_assert(weft__coro_resume(tr_a));  /* 1, a -> b (new), 2, b yields */
    ck_assert_ptr_null(weft__coro_current());
    note(3);
    ck_assert(weft__coro_resume(tr_b));  /* 4, b -> a (suspended), 5, a yields */
    ck_assert(!weft__coro_resume(tr_a)); /* 6: a ends */
    ck_assert(!weft__coro_resume(tr_b)); /* 7: b, suspended in its transfer, ends */
    ck_assert_ptr_null(weft__coro_current());
    ck_assert_int_eq(log_n, 7);
    for (int i = 0; i < 7; i++)
        ck_assert_int_eq(log_buf[i], i + 1);
    weft__coro_free(tr_a);
    weft__coro_free(tr_b);
}
END_TEST

/* Round robin: each coroutine keeps its own state on its own stack. */
typedef struct rr {
    int id;
    int rounds;
    long seen;
} rr;

static void rr_body(void *arg)
{
    rr *r = arg;
    long local = (long)r->id * 1000003; /* lives on this coroutine's stack */
    for (int i = 0; i < r->rounds; i++) {
        ck_assert_int_eq(local, (long)r->id * 1000003 + i);
        ck_assert_ptr_eq(weft__coro_current(), weft__coro_current());
        r->seen++;
        local++;
        weft__coro_yield();
    }
}

START_TEST(coro_round_robin)
{
    enum { N = 200, ROUNDS = 50 };
    static weft__coro *co[N];
    static rr st[N];
    for (int i = 0; i < N; i++) {
        st[i] = (rr){.id = i, .rounds = ROUNDS};
        WT_OK(weft__coro_new(&co[i], 0, rr_body, &st[i]));
    }
    int live = N;
    for (int round = 0; live > 0; round++) {
        for (int i = 0; i < N; i++) {
            if (!co[i])
                continue;
            ck_assert_int_eq(st[i].seen, round);
            if (!weft__coro_resume(co[i])) {
                ck_assert_int_eq(round, ROUNDS);
                weft__coro_free(co[i]);
                co[i] = NULL;
                live--;
            }
        }
    }
    for (int i = 0; i < N; i++)
        ck_assert_int_eq(st[i].seen, ROUNDS);
}
END_TEST

/* ------------------------------------------------------------- nesting */

static weft__coro *outer_co, *inner_co, *innermost_co;

static void innermost(void *arg)
{
    (void)arg;
    ck_assert_ptr_eq(weft__coro_current(), innermost_co);
    note(30);
    weft__coro_yield();
    note(31);
}

static void inner(void *arg)
{
    (void)arg;
    ck_assert_ptr_eq(weft__coro_current(), inner_co);
    note(20);
    ck_assert(weft__coro_resume(innermost_co));
    ck_assert_ptr_eq(weft__coro_current(), inner_co);
    note(21);
    weft__coro_yield(); /* back to outer, not to the thread */
    note(22);
    ck_assert(!weft__coro_resume(innermost_co));
    note(23);
}

static void outer(void *arg)
{
    (void)arg;
    ck_assert_ptr_eq(weft__coro_current(), outer_co);
    note(10);
    ck_assert(weft__coro_resume(inner_co));
    ck_assert_ptr_eq(weft__coro_current(), outer_co);
    note(11);
    weft__coro_yield();
    note(12);
    ck_assert(!weft__coro_resume(inner_co));
    ck_assert_ptr_eq(weft__coro_current(), outer_co);
    note(13);
}

START_TEST(coro_nested)
{
    ck_assert_ptr_null(weft__coro_current());
    WT_OK(weft__coro_new(&outer_co, 0, outer, NULL));
    WT_OK(weft__coro_new(&inner_co, 0, inner, NULL));
    WT_OK(weft__coro_new(&innermost_co, 0, innermost, NULL));
    ck_assert(weft__coro_resume(outer_co));
    ck_assert_ptr_null(weft__coro_current());
    note(1);
    ck_assert(!weft__coro_resume(outer_co));
    ck_assert_ptr_null(weft__coro_current());
    note(2);
    check_log((const int[]){10, 20, 30, 21, 11, 1, 12, 22, 31, 23, 13, 2}, 12);
    weft__coro_free(outer_co);
    weft__coro_free(inner_co);
    weft__coro_free(innermost_co);
}
END_TEST

/* ------------------------------------------- what a switch must preserve */

/* Opaque to the optimiser, so values must stay live in registers (callee-
 * saved ones, since a call sits between their definition and their use). */
__attribute__((noinline)) static long mix(long a, long b)
{
    __asm__ volatile("" : "+r"(a));
    return a * 31 + b;
}

__attribute__((noinline)) static double fmix(double a, double b)
{
    __asm__ volatile("" : "+m"(a));
    return a * 0.5 + b;
}

static void many_live(void *arg)
{
    long seed = (long)(intptr_t)arg;
    long v0 = seed + 1, v1 = seed * 3, v2 = seed ^ 0x5555, v3 = seed + 77, v4 = seed * 7,
         v5 = seed - 9, v6 = seed << 3, v7 = seed * seed;
    double d0 = (double)seed + 0.25, d1 = (double)seed * 1.5, d2 = (double)seed / 3.0,
           d3 = 2.0 - (double)seed, d4 = (double)seed * (double)seed, d5 = 0.125 * (double)seed,
           d6 = 1e3 + (double)seed, d7 = -(double)seed;
    for (int i = 0; i < 20; i++) {
        long before = mix(mix(mix(mix(mix(mix(mix(v0, v1), v2), v3), v4), v5), v6), v7);
        double fbefore = fmix(fmix(fmix(fmix(fmix(fmix(fmix(d0, d1), d2), d3), d4), d5), d6), d7);
        weft__coro_yield();
        long after = mix(mix(mix(mix(mix(mix(mix(v0, v1), v2), v3), v4), v5), v6), v7);
        double fafter = fmix(fmix(fmix(fmix(fmix(fmix(fmix(d0, d1), d2), d3), d4), d5), d6), d7);
        ck_assert_int_eq(before, after);
        ck_assert(fbefore == fafter);
        v0++, v3--, v7 ^= i;
        d0 += 1.0, d4 -= 0.5;
    }
}

START_TEST(coro_callee_saved)
{
    enum { N = 8 };
    weft__coro *co[N];
    for (int i = 0; i < N; i++)
        WT_OK(weft__coro_new(&co[i], 0, many_live, (void *)(intptr_t)(i * 1234567 + 1)));
    /* The resumer keeps its own live values across the switches too. */
    long r0 = 11, r1 = 22, r2 = 33, r3 = 44, r4 = 55, r5 = 66;
    double f0 = 1.5, f1 = 2.5, f2 = 3.5;
    long want = mix(mix(mix(mix(mix(r0, r1), r2), r3), r4), r5);
    double fwant = fmix(fmix(f0, f1), f2);
    bool live = true;
    while (live) {
        live = false;
        for (int i = 0; i < N; i++)
            live |= weft__coro_resume(co[i]);
        ck_assert_int_eq(mix(mix(mix(mix(mix(r0, r1), r2), r3), r4), r5), want);
        ck_assert(fmix(fmix(f0, f1), f2) == fwant);
    }
    for (int i = 0; i < N; i++)
        weft__coro_free(co[i]);
}
END_TEST

static double third(void)
{
    volatile double a = 1.0, b = 3.0;
    return a / b;
}

static void round_up_body(void *arg)
{
    double *nearest = arg;
    ck_assert_int_eq(fegetround(), FE_TONEAREST);
    ck_assert_int_eq(fesetround(FE_UPWARD), 0);
    ck_assert(third() > *nearest);
    weft__coro_yield();
    /* Its own mode survived the other coroutine and the thread. */
    ck_assert_int_eq(fegetround(), FE_UPWARD);
    ck_assert(third() > *nearest);
    fesetround(FE_TONEAREST);
}

static void default_mode_body(void *arg)
{
    double *nearest = arg;
    ck_assert_int_eq(fegetround(), FE_TONEAREST);
    ck_assert(third() == *nearest);
    ck_assert_int_eq(fesetround(FE_TOWARDZERO), 0);
    weft__coro_yield();
    ck_assert_int_eq(fegetround(), FE_TOWARDZERO);
}

START_TEST(coro_fp_control_private)
{
    double nearest = third();
    weft__coro *up, *other;
    WT_OK(weft__coro_new(&up, 0, round_up_body, &nearest));
    WT_OK(weft__coro_new(&other, 0, default_mode_body, &nearest));
    ck_assert(weft__coro_resume(up));
    ck_assert_int_eq(fegetround(), FE_TONEAREST);
    ck_assert(third() == nearest);
    ck_assert(weft__coro_resume(other));
    ck_assert_int_eq(fegetround(), FE_TONEAREST);
    ck_assert(!weft__coro_resume(up));
    ck_assert(!weft__coro_resume(other));
    ck_assert_int_eq(fegetround(), FE_TONEAREST);
    weft__coro_free(up);
    weft__coro_free(other);
}
END_TEST

/* ------------------------------------------------------ stack and signals */

__attribute__((noinline)) static long recurse(int depth)
{
    volatile char pad[512];
    pad[0] = (char)depth;
    pad[sizeof pad - 1] = (char)depth;
    if (depth == 0)
        return pad[0];
    return recurse(depth - 1) + pad[sizeof pad - 1];
}

static void deep_body(void *arg)
{
    *(long *)arg = recurse((int)*(long *)arg);
}

START_TEST(coro_deep_recursion)
{
    /* 300 frames of at least 512 bytes: 150+ KiB of a 256 KiB stack (512
     * KiB under ASan, whose frames are larger). */
    weft__coro *co;
    long v = 300;
#ifdef WEFT_SANITIZE_ADDRESS
    size_t size = 512 * 1024;
#else
    size_t size = 256 * 1024;
#endif
    WT_OK(weft__coro_new(&co, size, deep_body, &v));
    ck_assert(!weft__coro_resume(co));
    long want = 0;
    for (int d = 300; d > 0; d--)
        want += (char)d;
    ck_assert_int_eq(v, want);
    weft__coro_free(co);
}
END_TEST

static volatile long overflow_limit = LONG_MAX;

__attribute__((noinline)) static long overflow(long depth)
{
    volatile char pad[256];
    pad[0] = (char)depth;
    if (depth == overflow_limit)
        return 0;
    return overflow(depth + 1) + pad[0];
}

static void overflow_body(void *arg)
{
    *(long *)arg = overflow(0);
}

/* An address in the first page (not NULL itself, which UBSan reports
 * before the fault happens). */
static volatile uintptr_t bad_addr = 16;

static void null_body(void *arg)
{
    (void)arg;
    *(volatile int *)bad_addr = 1;
}

/* Runs fn in a forked child with stderr going to a pipe; returns the wait
 * status and what the child wrote. */
static int in_child(void (*fn)(void), char *out, size_t len)
{
    int fds[2];
    ck_assert_int_eq(pipe(fds), 0);
    fflush(NULL);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        dup2(fds[1], STDERR_FILENO);
        close(fds[0]);
        close(fds[1]);
        fn();
        _exit(0);
    }
    close(fds[1]);
    size_t n = 0;
    ssize_t r;
    while ((r = read(fds[0], out + n, len - 1 - n)) > 0)
        n += (size_t)r;
    out[n] = 0;
    close(fds[0]);
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    return status;
}

static void child_overflow(void)
{
    weft__coro *co;
    long v = 0;
    if (weft__coro_new(&co, WEFT__CORO_STACK_MIN, overflow_body, &v) != 0)
        _exit(3);
    weft__coro_resume(co);
    _exit(4); /* not reached */
}

START_TEST(coro_stack_overflow_aborts)
{
    char out[4096];
    int st = in_child(child_overflow, out, sizeof out);
    ck_assert_msg(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT, "status %#x, stderr: %s", st, out);
    ck_assert_msg(strstr(out, "weft: coroutine stack overflow (stack of 16384 bytes at 0x"),
                  "stderr: %s", out);
}
END_TEST

/* A task's overflow names the task, by the name it has when it overflows
 * (it renames itself after its coroutine exists). */
static int overflow_task(void *arg, void **result)
{
    (void)arg;
    if (weft_task_set_name(weft_current_task(), "deep-recursion") != 0)
        _exit(5);
    *result = (void *)(intptr_t)overflow(0);
    return 0;
}

static void child_task_overflow(void)
{
    weft_loop *loop;
    weft_future *f;
    weft_task_opts o = {.name = "first-name", .stack_size = WEFT__CORO_STACK_MIN};
    if (weft_loop_new(&loop, NULL) != 0 ||
        weft_create_task_opts(loop, overflow_task, NULL, &o, &f) != 0)
        _exit(3);
    weft_loop_run_until_complete(loop, f, NULL);
    _exit(4); /* not reached */
}

START_TEST(coro_overflow_names_task)
{
    char out[4096];
    int st = in_child(child_task_overflow, out, sizeof out);
    ck_assert_msg(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT, "status %#x, stderr: %s", st, out);
    ck_assert_msg(strstr(out, "weft: coroutine stack overflow in task 'deep-recursion' (stack of "
                              "16384 bytes at 0x"),
                  "stderr: %s", out);
}
END_TEST

/* A frame larger than a page that writes only its low end (code built
 * without -fstack-clash-protection does not touch the pages in between)
 * faults anywhere in the guard, down to its lowest byte, below which lies
 * the top of the stack under this one: each is reported as an overflow.
 * The write is made at an address rather than with a real frame, so the
 * test does not depend on the compiler's frame layout. */
static char *volatile far_target;
static volatile size_t far_skip;

static void far_body(void *arg)
{
    (void)arg;
    char *p = far_target;
    if (!p) /* a 20 KiB frame below this one, in a 16 KiB stack */
        p = (char *)__builtin_frame_address(0) - far_skip;
    *(volatile char *)p = 1;
}

/* The lowest usable byte of co's stack (its record is on the top page). */
static char *stack_base(weft__coro *co)
{
    uintptr_t page = weft__stack_page();
    return (char *)(((uintptr_t)co & ~(page - 1)) + page - weft__coro_stack_size(co));
}

static void child_far(void)
{
    weft__coro *co;
    if (weft__coro_new(&co, WEFT__CORO_STACK_MIN, far_body, NULL) != 0)
        _exit(3);
    if (far_target == (char *)1) /* "the lowest guard byte" */
        far_target = stack_base(co) - weft__stack_guard();
    weft__coro_resume(co);
    _exit(4); /* not reached */
}

START_TEST(coro_overflow_anywhere_in_guard)
{
    ck_assert_uint_ge(weft__stack_guard(), 64 * 1024);
    ck_assert_uint_eq(weft__stack_guard() % weft__stack_page(), 0);
    char out[4096];
    far_target = NULL;
    far_skip = 20 * 1024;
    int st = in_child(child_far, out, sizeof out);
    ck_assert_msg(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT, "status %#x, stderr: %s", st, out);
    ck_assert_msg(strstr(out, "weft: coroutine stack overflow (stack of 16384 bytes"), "stderr: %s",
                  out);
    far_target = (char *)1;
    st = in_child(child_far, out, sizeof out);
    ck_assert_msg(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT, "status %#x, stderr: %s", st, out);
    ck_assert_msg(strstr(out, "weft: coroutine stack overflow (stack of 16384 bytes"), "stderr: %s",
                  out);
}
END_TEST

/* A fault that is not an overflow still kills the program the ordinary
 * way: by SIGSEGV, or through the sanitizer's own SEGV report when one
 * handled SIGSEGV before weft did. */
static void child_null_in_coro(void)
{
    weft__coro *co;
    if (weft__coro_new(&co, 0, null_body, NULL) != 0)
        _exit(3);
    weft__coro_resume(co);
    _exit(4);
}

static void child_null_outside(void)
{
    weft__coro *co;
    static int steps;
    if (weft__coro_new(&co, 0, three_steps, &steps) != 0)
        _exit(3);
    weft__coro_resume(co); /* installs the handler */
    *(volatile int *)bad_addr = 1;
    _exit(4);
}

static void check_plain_segv(int st, const char *out)
{
    ck_assert_msg(!strstr(out, "stack overflow"), "stderr: %s", out);
    if (WIFSIGNALED(st)) {
        ck_assert_msg(WTERMSIG(st) == SIGSEGV, "signal %d, stderr: %s", WTERMSIG(st), out);
    } else {
        /* 3 and 4: the child did not fault at all. */
        ck_assert_msg(SANITIZED && WIFEXITED(st) && WEXITSTATUS(st) != 0 && WEXITSTATUS(st) != 3 &&
                          WEXITSTATUS(st) != 4 && strstr(out, "SEGV"),
                      "status %#x, stderr: %s", st, out);
    }
}

START_TEST(coro_segv_chains)
{
    char out[8192];
    check_plain_segv(in_child(child_null_in_coro, out, sizeof out), out);
    check_plain_segv(in_child(child_null_outside, out, sizeof out), out);
}
END_TEST

/* An application's SIGSEGV handler installed before weft's still gets the
 * faults that are not weft's. */
static sigjmp_buf segv_jmp;
static int app_handler_calls;

static void app_segv(int sig, siginfo_t *si, void *uc)
{
    (void)sig;
    (void)si;
    (void)uc;
    app_handler_calls++;
    siglongjmp(segv_jmp, 1);
}

START_TEST(coro_segv_chains_to_app_handler)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = app_segv;
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    ck_assert_int_eq(sigaction(SIGSEGV, &sa, NULL), 0);
    weft__coro *co;
    int steps = 0;
    WT_OK(weft__coro_new(&co, 0, three_steps, &steps));
    ck_assert(weft__coro_resume(co)); /* weft's handler goes in front */
    struct sigaction now;
    sigaction(SIGSEGV, NULL, &now);
    ck_assert(now.sa_sigaction != app_segv);
    if (sigsetjmp(segv_jmp, 1) == 0)
        *(volatile int *)bad_addr = 1;
    ck_assert_int_eq(app_handler_calls, 1);
    weft__coro_free(co);
}
END_TEST

/* A handler installed before weft's with SA_RESETHAND reports and returns,
 * counting on the reset disposition to kill the process when the faulting
 * instruction runs again: it is called once, with its sa_mask (and SIGSEGV)
 * blocked, and the process dies by SIGSEGV. */
static int resethand_calls;

static void resethand_reporter(int sig, siginfo_t *si, void *uc)
{
    (void)sig;
    (void)si;
    (void)uc;
    sigset_t now;
    pthread_sigmask(SIG_BLOCK, NULL, &now);
    const char *m = sigismember(&now, SIGUSR1) == 1 && sigismember(&now, SIGSEGV) == 1
                        ? "reporter: masked\n"
                        : "reporter: unmasked\n";
    ssize_t w = write(STDERR_FILENO, m, strlen(m));
    (void)w;
    if (++resethand_calls == 3)
        _exit(5); /* called again and again: the fault loops */
}

static void child_resethand(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = resethand_reporter;
    sa.sa_flags = SA_SIGINFO | SA_RESETHAND;
    sigemptyset(&sa.sa_mask);
    sigaddset(&sa.sa_mask, SIGUSR1);
    if (sigaction(SIGSEGV, &sa, NULL) != 0)
        _exit(6);
    weft__coro *co;
    static int steps;
    if (weft__coro_new(&co, 0, three_steps, &steps) != 0)
        _exit(3);
    weft__coro_resume(co); /* installs weft's handler in front */
    *(volatile int *)bad_addr = 1;
    _exit(4);
}

START_TEST(coro_segv_chain_resethand)
{
    char out[4096];
    int st = in_child(child_resethand, out, sizeof out);
    ck_assert_msg(WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV, "status %#x, stderr: %s", st, out);
    const char *first = strstr(out, "reporter: masked\n");
    ck_assert_msg(first && !strstr(first + 1, "reporter:"), "stderr: %s", out);
}
END_TEST

/* A SIGSEGV sent with kill() to a process that ignores SIGSEGV is ignored,
 * and weft's handler stays for the overflows that come later. */
static void child_ignored_kill(void)
{
    signal(SIGSEGV, SIG_IGN);
    weft__coro *co;
    static int steps;
    if (weft__coro_new(&co, 0, three_steps, &steps) != 0)
        _exit(3);
    weft__coro_resume(co);
    kill(getpid(), SIGSEGV);
    struct sigaction now;
    sigaction(SIGSEGV, NULL, &now);
    if (!(now.sa_flags & SA_SIGINFO))
        _exit(7); /* weft's handler was taken out */
    child_overflow();
}

START_TEST(coro_segv_ignored_kill)
{
    char out[4096];
    int st = in_child(child_ignored_kill, out, sizeof out);
    ck_assert_msg(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT, "status %#x, stderr: %s", st, out);
    ck_assert_msg(strstr(out, "weft: coroutine stack overflow"), "stderr: %s", out);
}
END_TEST

/* ----------------------------------------------------------------- free */

static void never_runs(void *arg)
{
    *(int *)arg = 1;
}

static void yield_forever(void *arg)
{
    char big[2048]; /* frames left behind on the stack */
    memset(big, 1, sizeof big);
    (*(int *)arg)++;
    for (;;)
        weft__coro_yield();
}

START_TEST(coro_free_unstarted_and_suspended)
{
    weft__coro *a, *b;
    int ran = 0, yields = 0;
    WT_OK(weft__coro_new(&a, 0, never_runs, &ran));
    weft__coro_free(a);
    ck_assert_int_eq(ran, 0);
    WT_OK(weft__coro_new(&b, 0, yield_forever, &yields));
    ck_assert(weft__coro_resume(b));
    ck_assert(weft__coro_resume(b));
    weft__coro_free(b);
    ck_assert_int_eq(yields, 1);
    /* The stacks are reused, and clean: run something on them. */
    for (int i = 0; i < 4; i++) {
        int steps = 0;
        WT_OK(weft__coro_new(&a, 0, three_steps, &steps));
        while (weft__coro_resume(a))
            ;
        ck_assert_int_eq(steps, 3);
        weft__coro_free(a);
    }
}
END_TEST

/* ------------------------------------------------------- many and pool */

static void park_once(void *arg)
{
    long *n = arg;
    (*n)++;
    weft__coro_yield();
    (*n)++;
}

static int count_maps(void)
{
    FILE *f = fopen("/proc/self/maps", "r");
    ck_assert_ptr_nonnull(f);
    int n = 0, c;
    while ((c = fgetc(f)) != EOF)
        n += c == '\n';
    fclose(f);
    return n;
}

START_TEST(coro_hundred_thousand)
{
#ifdef WEFT_SANITIZE_THREAD
    /* A TSan fiber is a whole thread state, and TSan has room for 8128
     * threads and fibers at once. */
    int N = 5000;
#else
    int N = 100000;
#endif
    weft__coro **co = malloc((size_t)N * sizeof *co);
    ck_assert_ptr_nonnull(co);
    long n = 0;
    int maps0 = count_maps();
    WT_OK(weft__coro_new(&co[0], 0, park_once, &n));
    /* With mprotect-ed guards (a kernel before 6.13, or an emulator) every
     * stack costs two memory mappings: stay well below vm.max_map_count. */
    bool marker = weft__stack_guard_is_marker();
    if (!marker && N > 20000)
        N = 20000;
    for (int i = 1; i < N; i++)
        WT_OK(weft__coro_new(&co[i], 0, park_once, &n));
    for (int i = 0; i < N; i++)
        ck_assert(weft__coro_resume(co[i]));
    ck_assert_int_eq(n, N);
#ifndef WEFT_SANITIZE_THREAD /* each TSan fiber maps memory of its own */
    if (marker) {
        /* Slabs are a few large mappings, not one per stack. */
        int maps = count_maps();
        ck_assert_msg(maps - maps0 < 1000, "%d mappings for %d stacks", maps - maps0, N);
    }
#endif
    (void)maps0;
    for (int i = 0; i < N; i++)
        ck_assert(!weft__coro_resume(co[i]));
    ck_assert_int_eq(n, 2 * N);
    for (int i = 0; i < N; i++)
        weft__coro_free(co[i]);
    free(co);
}
END_TEST

START_TEST(coro_stack_reuse)
{
    weft__coro *co;
    long n = 0;
    WT_OK(weft__coro_new(&co, 0, park_once, &n));
    void *first = co;
    weft__coro_free(co);
    /* The per-thread cache hands the same stack back. */
    for (int i = 0; i < 1000; i++) {
        WT_OK(weft__coro_new(&co, 0, park_once, &n));
        ck_assert_ptr_eq(co, first);
        ck_assert(weft__coro_resume(co));
        weft__coro_free(co);
    }
    /* More free stacks than the pool keeps: whole slabs go back to the
     * kernel, and the pool still works afterwards. */
#ifdef WEFT_SANITIZE_THREAD
    /* TSan: each coroutine costs a fiber (half a millisecond to make and
     * destroy, and 8128 at most at once): the plain and ASan runs cover
     * this part. */
    return;
#endif
    enum { M = WEFT__STACK_CACHE_MAX * 3 };
    weft__coro **many = malloc(M * sizeof *many);
    ck_assert_ptr_nonnull(many);
    for (int i = 0; i < M; i++)
        WT_OK(weft__coro_new(&many[i], WEFT__CORO_STACK_MIN, park_once, &n));
    for (int i = 0; i < M; i++)
        weft__coro_free(many[i]);
    for (int i = 0; i < M; i++)
        WT_OK(weft__coro_new(&many[i], WEFT__CORO_STACK_MIN, park_once, &n));
    for (int i = 0; i < M; i++) {
        ck_assert(weft__coro_resume(many[i]));
        weft__coro_free(many[i]);
    }
    free(many);
}
END_TEST

static int cmp_ptr(const void *a, const void *b)
{
    uintptr_t x = (uintptr_t) * (void *const *)a, y = (uintptr_t) * (void *const *)b;
    return x < y ? -1 : x > y;
}

/* Whole free slabs beyond the pool's cache give their memory back (here at
 * once: no decay) but stay mapped with their guards (cold): the next burst
 * gets the same stacks back, without new mappings, and every guard still
 * faults. The pool is used directly (no coroutines: TSan fibers would cap
 * the count). */
START_TEST(coro_cold_slabs)
{
    enum { M = WEFT__STACK_CACHE_MAX * 3 };
    weft__stack_set_decay(0);
    size_t page = weft__stack_page();
    size_t size = WEFT__CORO_STACK_MIN + 3 * page; /* a pool of its own */
    void **a = malloc(M * sizeof *a), **b = malloc(M * sizeof *b);
    ck_assert_ptr_nonnull(a);
    ck_assert_ptr_nonnull(b);
    for (int i = 0; i < M; i++) {
        a[i] = weft__stack_alloc(size);
        ck_assert_ptr_nonnull(a[i]);
        ((volatile char *)a[i])[size - WEFT__STACK_HDR - 1] = 1; /* a frame's first touch */
    }
    for (int i = 0; i < M; i++)
        weft__stack_free(a[i], size);
    bool marker = weft__stack_guard_is_marker();
    int maps0 = count_maps();
    qsort(a, M, sizeof *a, cmp_ptr);
    for (int i = 0; i < M; i++) {
        b[i] = weft__stack_alloc(size);
        ck_assert_ptr_nonnull(b[i]);
        char *top = (char *)b[i] + size - WEFT__STACK_HDR - 1;
        *(volatile char *)top = 2;
        ck_assert_int_eq(*(volatile char *)b[i], *(volatile char *)b[i]); /* lowest byte readable */
        /* The kernel reading the guard fails with EFAULT, at its top and
         * at its bottom. */
        errno = 0;
        ck_assert_msg(access((char *)b[i] - page, F_OK) != 0 && errno == EFAULT,
                      "guard below %p does not fault (errno %d)", b[i], errno);
        errno = 0;
        ck_assert_msg(access((char *)b[i] - weft__stack_guard(), F_OK) != 0 && errno == EFAULT,
                      "guard bottom below %p does not fault (errno %d)", b[i], errno);
        if (marker)
            ck_assert_msg(bsearch(&b[i], a, M, sizeof *a, cmp_ptr), "stack %p is new", b[i]);
    }
#ifndef WEFT_SANITIZE_THREAD
    if (marker)
        ck_assert_msg(count_maps() <= maps0, "%d mappings before, %d after", maps0, count_maps());
#endif
    (void)maps0;
    for (int i = 0; i < M; i++)
        weft__stack_free(b[i], size);
    free(a);
    free(b);
    weft__stack_set_decay(-1);
}
END_TEST

/* A slab whose stacks all came back stays resident (idle) for the decay,
 * and is given back after it, down to the pool's cache; a trim before the
 * decay gives nothing back and says when to come again. */
START_TEST(coro_idle_slabs_decay)
{
    enum { M = WEFT__STACK_CACHE_MAX * 3 };
    const int64_t hour = (int64_t)3600 * 1000000000;
    weft__stack_set_decay(hour);
    size_t page = weft__stack_page();
    size_t size = WEFT__CORO_STACK_MIN + 5 * page; /* a pool of its own */
    void **a = malloc(M * sizeof *a);
    ck_assert_ptr_nonnull(a);
    for (int i = 0; i < M; i++) {
        a[i] = weft__stack_alloc(size);
        ck_assert_ptr_nonnull(a[i]);
        ((volatile char *)a[i])[size - WEFT__STACK_HDR - 1] = 1;
    }
    size_t idle0 = weft__stack_idle_bytes();
    for (int i = 0; i < M; i++)
        weft__stack_free(a[i], size);
    size_t idle1 = weft__stack_idle_bytes();
    /* Nearly all of them (the thread's cache keeps a few, so a slab or
     * two is not wholly free). */
    ck_assert_uint_ge(idle1 - idle0, (size_t)(M - 2 * 256) * size);
    int64_t now = weft__now_ns();
    int64_t left = weft__stack_trim(now);
    ck_assert_int_gt(left, hour - (int64_t)60 * 1000000000);
    ck_assert_uint_eq(weft__stack_idle_bytes(), idle1);
    /* After the decay: all but the cache's worth go back. */
    weft__stack_trim(now + 2 * hour);
    size_t idle2 = weft__stack_idle_bytes();
    ck_assert_uint_lt(idle2, idle1);
    size_t slot = size + weft__stack_guard();
    ck_assert_uint_le(idle2 - idle0, (size_t)(WEFT__STACK_CACHE_MAX + 2 * 256) * slot);
    /* The pool still works, and the memory it gave back comes back. */
    for (int i = 0; i < M; i++) {
        a[i] = weft__stack_alloc(size);
        ck_assert_ptr_nonnull(a[i]);
        ((volatile char *)a[i])[size - WEFT__STACK_HDR - 1] = 2;
    }
    for (int i = 0; i < M; i++)
        weft__stack_free(a[i], size);
    free(a);
    weft__stack_set_decay(-1);
}
END_TEST

/* An event loop with nothing to do wakes up when idle stacks are due and
 * gives them back: here a loop sleeping 300 ms trims slabs that decay in
 * 50 ms, with nothing else touching the pool. */
static int nap_main(void *arg, void **result)
{
    (void)arg;
    (void)result;
    return weft_sleep(0.3);
}

START_TEST(coro_idle_loop_trims)
{
    enum { M = WEFT__STACK_CACHE_MAX * 3 };
    weft__stack_set_decay(50 * 1000000);
    size_t size = WEFT__CORO_STACK_MIN + 7 * weft__stack_page();
    void **a = malloc(M * sizeof *a);
    ck_assert_ptr_nonnull(a);
    for (int i = 0; i < M; i++) {
        a[i] = weft__stack_alloc(size);
        ck_assert_ptr_nonnull(a[i]);
    }
    size_t idle0 = weft__stack_idle_bytes();
    for (int i = 0; i < M; i++)
        weft__stack_free(a[i], size);
    size_t idle1 = weft__stack_idle_bytes();
    ck_assert_uint_gt(idle1, idle0);
    WT_OK(weft_run(nap_main, NULL, NULL));
    ck_assert_uint_lt(weft__stack_idle_bytes(), idle1);
    free(a);
    weft__stack_set_decay(-1);
}
END_TEST

/* Stacks come out of a slab lowest address first, however they were freed:
 * a burst walks its stacks in order. Each phase runs in a thread of its own,
 * whose exit flushes its cache to the slabs. */
enum { ORDER_N = 600 };
static void *order_buf[ORDER_N];
static size_t order_size;

static void *order_alloc(void *arg)
{
    (void)arg;
    for (int i = 0; i < ORDER_N; i++)
        order_buf[i] = weft__stack_alloc(order_size);
    return NULL;
}

static void *order_free_shuffled(void *arg)
{
    (void)arg;
    uint32_t x = 12345;
    for (int i = ORDER_N - 1; i > 0; i--) {
        x = x * 1103515245u + 12345u;
        int j = (int)((x >> 8) % (uint32_t)(i + 1));
        void *t = order_buf[i];
        order_buf[i] = order_buf[j];
        order_buf[j] = t;
    }
    for (int i = 0; i < ORDER_N; i++)
        weft__stack_free(order_buf[i], order_size);
    return NULL;
}

static void run_thread(void *(*fn)(void *))
{
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, fn, NULL), 0);
    ck_assert_int_eq(pthread_join(t, NULL), 0);
}

START_TEST(coro_stacks_in_address_order)
{
    order_size = WEFT__CORO_STACK_MIN + 9 * weft__stack_page();
    size_t slot = order_size + weft__stack_guard();
    run_thread(order_alloc);
    run_thread(order_free_shuffled);
    run_thread(order_alloc);
    int in_order = 0;
    for (int i = 1; i < ORDER_N; i++) {
        ck_assert_ptr_nonnull(order_buf[i]);
        if ((char *)order_buf[i] == (char *)order_buf[i - 1] + slot)
            in_order++;
    }
    /* Only a change of slab breaks the run (600 stacks: 3 slabs at most). */
    ck_assert_int_ge(in_order, ORDER_N - 1 - 3);
    run_thread(order_free_shuffled);
}
END_TEST

__attribute__((noinline)) static int small1(int x)
{
    __asm__ volatile("" : "+r"(x));
    return x + 1;
}

__attribute__((noinline)) static int small2(int x)
{
    return small1(x) * 2;
}

static void small_body(void *arg)
{
    *(int *)arg = small2(small1(*(int *)arg));
    weft__coro_yield();
}

/* The pages of [lo, hi) that are resident. */
static size_t resident_pages(const void *lo, size_t len)
{
    size_t page = weft__stack_page();
    unsigned char vec[1024];
    size_t n = len / page;
    ck_assert_uint_le(n, sizeof vec);
    ck_assert_int_eq(mincore((void *)lo, len, vec), 0);
    size_t r = 0;
    for (size_t i = 0; i < n; i++)
        r += vec[i] & 1;
    return r;
}

START_TEST(coro_one_page)
{
    /* A coroutine that calls a few small functions and yields touches the
     * one page that holds its record: measured on fresh stacks. */
    enum { N = 32 };
    weft__coro *co[N];
    size_t total = 0;
    for (int i = 0; i < N; i++) {
        int v = i;
        WT_OK(weft__coro_new(&co[i], 0, small_body, &v));
        ck_assert(weft__coro_resume(co[i]));
        ck_assert_int_eq(v, (i + 2) * 2);
        size_t size = weft__coro_stack_size(co[i]);
        /* The record is on the stack's top page. */
        uintptr_t page = weft__stack_page();
        char *base = (char *)(((uintptr_t)co[i] & ~(page - 1)) + page - size);
        total += resident_pages(base, size);
    }
    if (!SANITIZED && strcmp(weft__coro_impl, "ucontext") != 0)
        ck_assert_msg(total == N, "%zu pages resident for %d coroutines", total, N);
    else
        ck_assert_uint_le(total, 4 * N);
    for (int i = 0; i < N; i++) {
        ck_assert(!weft__coro_resume(co[i]));
        weft__coro_free(co[i]);
    }
}
END_TEST

/* A stack freed on an exiting thread after the pool's own destructor has
 * flushed its cache (by another key's destructor, as a thread-local
 * coroutine's owner would) goes to the shared lists, where the next
 * allocation finds it; a cache refilled then would have nobody left to
 * give it back. */
typedef struct late_free {
    size_t size;
    void *stack;
    int rounds;
} late_free;

static pthread_key_t late_key;

static void late_free_dtor(void *arg)
{
    late_free *l = arg;
    if (l->rounds++ == 0) {
        /* One more round: by then the pool's destructor has run, whatever
         * the order of the keys. */
        pthread_setspecific(late_key, l);
        return;
    }
    weft__stack_free(l->stack, l->size);
}

static void *late_free_thread(void *arg)
{
    late_free *l = arg;
    l->stack = weft__stack_alloc(l->size); /* fills this thread's cache too */
    if (l->stack)
        pthread_setspecific(late_key, l);
    return NULL;
}

START_TEST(coro_stack_freed_after_thread_cache)
{
    late_free l = {.size = WEFT__CORO_STACK_MIN + 5 * weft__stack_page()}; /* a pool of its own */
    ck_assert_int_eq(pthread_key_create(&late_key, late_free_dtor), 0);
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, late_free_thread, &l), 0);
    ck_assert_int_eq(pthread_join(t, NULL), 0);
    ck_assert_ptr_nonnull(l.stack);
    ck_assert_int_eq(l.rounds, 2);
    enum { N = 64 };
    void *got[N];
    bool found = false;
    for (int i = 0; i < N; i++) {
        got[i] = weft__stack_alloc(l.size);
        ck_assert_ptr_nonnull(got[i]);
        found |= got[i] == l.stack;
    }
    for (int i = 0; i < N; i++)
        weft__stack_free(got[i], l.size);
    ck_assert_msg(found, "the stack freed at thread exit is never handed out again");
    pthread_key_delete(late_key);
}
END_TEST

/* ------------------------------------------------------------ arguments */

START_TEST(coro_bad_arguments)
{
    weft__coro *co = NULL;
    int x = 0;
    WT_ERR(weft__coro_new(NULL, 0, never_runs, &x), WEFT_EINVAL);
    WT_ERR(weft__coro_new(&co, 0, NULL, &x), WEFT_EINVAL);
    WT_ERR(weft__coro_new(&co, WEFT__CORO_STACK_MIN - 1, never_runs, &x), WEFT_EINVAL);
    WT_ERR(weft__coro_new(&co, 1, never_runs, &x), WEFT_EINVAL);
    WT_ERR(weft__coro_new(&co, SIZE_MAX, never_runs, &x), WEFT_ENOMEM);
    ck_assert_ptr_null(co);

    WT_OK(weft__coro_new(&co, WEFT__CORO_STACK_MIN, never_runs, &x));
    ck_assert_uint_eq(weft__coro_stack_size(co), WEFT__CORO_STACK_MIN);
    weft__coro_free(co);
    WT_OK(weft__coro_new(&co, WEFT__CORO_STACK_MIN + 1, never_runs, &x));
    ck_assert_uint_eq(weft__coro_stack_size(co), WEFT__CORO_STACK_MIN + weft__stack_page());
    weft__coro_free(co);
    WT_OK(weft__coro_new(&co, 0, never_runs, &x));
    ck_assert_uint_ge(weft__coro_stack_size(co), WEFT__CORO_STACK_DEFAULT);
    ck_assert(!weft__coro_resume(co));
    ck_assert_int_eq(x, 1);
    weft__coro_free(co);
}
END_TEST

/* ---------------------------------------------------------- two threads */

typedef struct hop {
    pthread_barrier_t bar;
    weft__coro *co;
    pid_t seen[3]; /* thread ids: pthread_self() is `const`, so the
                     * compiler may reuse its value across a yield */
    int resumed_by[3];
} hop;

static void hop_body(void *arg)
{
    hop *h = arg;
    long keep = 424242;
    for (int i = 0; i < 3; i++) {
        h->seen[i] = (pid_t)syscall(SYS_gettid);
        ck_assert_ptr_eq(weft__coro_current(), h->co);
        ck_assert_int_eq(keep, 424242 + i);
        keep++;
        if (i < 2)
            weft__coro_yield();
    }
}

static void *hop_thread(void *arg)
{
    hop *h = arg;
    pthread_barrier_wait(&h->bar); /* the main thread ran it once */
    ck_assert_ptr_null(weft__coro_current());
    ck_assert(weft__coro_resume(h->co));
    h->resumed_by[1] = (int)syscall(SYS_gettid);
    pthread_barrier_wait(&h->bar);
    return NULL;
}

START_TEST(coro_other_thread)
{
    hop h = {0};
    pthread_barrier_init(&h.bar, NULL, 2);
    pthread_t t;
    pid_t tid = (pid_t)syscall(SYS_gettid);
    /* Created on one thread (the new thread has not run a coroutine yet). */
    WT_OK(weft__coro_new(&h.co, 0, hop_body, &h));
    ck_assert_int_eq(pthread_create(&t, NULL, hop_thread, &h), 0);
    ck_assert(weft__coro_resume(h.co));
    pthread_barrier_wait(&h.bar); /* hand it over */
    pthread_barrier_wait(&h.bar); /* and back */
    ck_assert(!weft__coro_resume(h.co));
    ck_assert_int_eq(h.seen[0], tid);
    ck_assert_int_ne(h.seen[1], tid);
    ck_assert_int_eq(h.seen[1], h.resumed_by[1]);
    ck_assert_int_eq(h.seen[2], tid);
    ck_assert_int_eq(pthread_join(t, NULL), 0);
    weft__coro_free(h.co);
    pthread_barrier_destroy(&h.bar);
}
END_TEST

/* Threads each running their own coroutines at once, freeing stacks that
 * other threads made (the pool's global lists and thread exit). */
static void *churn(void *arg)
{
    weft__coro **slot = arg;
#ifdef WEFT_SANITIZE_THREAD
    const int rounds = 300; /* a TSan fiber costs half a millisecond */
#else
    const int rounds = 2000;
#endif
    for (int i = 0; i < rounds; i++) {
        weft__coro *co;
        long n = 0;
        WT_OK(weft__coro_new(&co, 0, park_once, &n));
        ck_assert(weft__coro_resume(co));
        if (i % 3 == 0) {
            weft__coro *old = __atomic_exchange_n(slot, co, __ATOMIC_ACQ_REL);
            weft__coro_free(old);
        } else {
            ck_assert(!weft__coro_resume(co));
            weft__coro_free(co);
        }
    }
    return NULL;
}

START_TEST(coro_threads_share_pool)
{
    weft__coro *slot = NULL;
    pthread_t t[3];
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(pthread_create(&t[i], NULL, churn, &slot), 0);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(pthread_join(t[i], NULL), 0);
    weft__coro_free(slot);
}
END_TEST

WT_MAIN("coro", 60, coro_basic, coro_data_flow, coro_transfer, coro_round_robin, coro_nested,
        coro_callee_saved, coro_fp_control_private, coro_deep_recursion, coro_stack_overflow_aborts,
        coro_overflow_names_task, coro_overflow_anywhere_in_guard, coro_segv_chains, coro_segv_chains_to_app_handler,
        coro_segv_chain_resethand, coro_segv_ignored_kill, coro_free_unstarted_and_suspended,
        coro_hundred_thousand, coro_stack_reuse, coro_cold_slabs, coro_idle_slabs_decay,
        coro_idle_loop_trims, coro_stacks_in_address_order, coro_stack_freed_after_thread_cache,
        coro_one_page, coro_bad_arguments, coro_other_thread, coro_threads_share_pool)
