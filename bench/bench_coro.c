/*
 * Coroutine benchmarks: the cost of one context switch. A thread and one
 * coroutine pass control back and forth; every transfer (either way) is one
 * switch, so a resume + yield pair counts two.
 */
#include <stdlib.h>
#include <ucontext.h>

#include "harness.h"
#include "internal/coro.h"

/* ------------------------------------------------------------------ weft */

static void weft_pong(void *arg)
{
    (void)arg;
    for (;;)
        weft__coro_yield();
}

static double weft_switch(long n)
{
    weft__coro *co;
    if (weft__coro_new(&co, 0, weft_pong, NULL) != 0)
        return -1;
    weft__coro_resume(co); /* the first resume also prepares the thread */
    double t0 = wb_now();
    for (long i = 0; i < n / 2; i++)
        weft__coro_resume(co);
    double dt = wb_now() - t0;
    weft__coro_free(co);
    return dt / (double)(n / 2 * 2);
}

/* ------------------------------------------------------------ swapcontext */

static ucontext_t uc_main, uc_co;

static void uc_pong(void)
{
    for (;;)
        swapcontext(&uc_co, &uc_main);
}

static double uc_switch(long n)
{
    /* A tenth of the switches: swapcontext makes a system call each time
     * (it saves and restores the signal mask). */
    n /= 10;
    size_t size = 256 * 1024;
    void *stack = malloc(size);
    if (!stack || getcontext(&uc_co) != 0)
        return -1;
    uc_co.uc_stack.ss_sp = stack;
    uc_co.uc_stack.ss_size = size;
    uc_co.uc_link = NULL;
    makecontext(&uc_co, uc_pong, 0);
    swapcontext(&uc_main, &uc_co);
    double t0 = wb_now();
    for (long i = 0; i < n / 2; i++)
        swapcontext(&uc_main, &uc_co);
    double dt = wb_now() - t0;
    free(stack);
    return dt / (double)(n / 2 * 2);
}

/* ------------------------------------------------------- Boost.Context */

#ifdef WB_HAVE_BOOST_CONTEXT
/* Boost.Context's fcontext layer: assembly functions with C linkage
 * (boost/context/detail/fcontext.hpp declares them for C++). */
typedef void *fcontext_t;
typedef struct {
    fcontext_t fctx;
    void *data;
} transfer_t;
transfer_t jump_fcontext(fcontext_t const to, void *vp);
fcontext_t make_fcontext(void *sp, size_t size, void (*fn)(transfer_t));

static void fc_pong(transfer_t t)
{
    for (;;)
        t = jump_fcontext(t.fctx, NULL);
}

static double fc_switch(long n)
{
    size_t size = 256 * 1024;
    char *stack = malloc(size);
    if (!stack)
        return -1;
    transfer_t t = {make_fcontext(stack + size, size, fc_pong), NULL};
    t = jump_fcontext(t.fctx, NULL);
    double t0 = wb_now();
    for (long i = 0; i < n / 2; i++)
        t = jump_fcontext(t.fctx, NULL);
    double dt = wb_now() - t0;
    free(stack); /* fc_pong is abandoned where it waits */
    return dt / (double)(n / 2 * 2);
}
#define FC_SWITCH {.name = "Boost.Context jump_fcontext", .run = fc_switch, .target = 1.0}
#else
#define FC_SWITCH                                                                       \
    {.name = "Boost.Context jump_fcontext", .skip = "libboost-context-dev not installed",  \
     .target = 1.0}
#endif

const wb_bench wb_coro_switch = {
    .name = "coro switch",
    .what = "A thread and one coroutine hand control back and forth 10,000,000 times (weft: "
            "resume + yield; swapcontext: ucontext ping-pong, a tenth as many; Boost.Context: "
            "jump_fcontext both ways); time per switch, one way.",
    .unit = "ns",
    .n = 10000000,
    .runs = 5,
    .target_peer = 1,
    .target = 0.02,
    .c = {
        {.name = "weft coro resume/yield", .run = weft_switch},
        {.name = "swapcontext", .run = uc_switch},
        FC_SWITCH,
    },
};
WB_REGISTER(wb_coro_switch, 300)
