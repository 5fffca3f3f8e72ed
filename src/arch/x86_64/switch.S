/*
 * The coroutine context switch for x86-64 (System V ABI).
 *
 * A switch is a call, so it saves only what a callee must preserve: rbx,
 * rbp, r12-r15, the stack pointer, and the FP control state (the x87 control
 * word and MXCSR; rounding mode and exception masks are callee-saved too).
 * Everything else is dead across the call as far as the caller knows.
 *
 * The frame pushed on the departing stack, lowest address first:
 *
 *     sp+0   MXCSR (4 bytes), x87 control word (2 bytes), padding
 *     sp+8   r15, r14, r13, r12, rbx, rbp
 *     sp+56  return address
 *
 * coro.c builds the same frame on a new coroutine's stack, with the return
 * address pointing at weft__ctx_start and r12/r13 carrying the coroutine and
 * its entry function.
 */
    .text

/* bool weft__ctx_switch(void **save, void *to, bool ret): the other
 * context's call of weft__ctx_switch returns `ret`. */
    .globl  weft__ctx_switch
    .hidden weft__ctx_switch
    .type   weft__ctx_switch, @function
    .p2align 4
weft__ctx_switch:
    .cfi_startproc
    pushq   %rbp
    .cfi_adjust_cfa_offset 8
    .cfi_rel_offset %rbp, 0
    pushq   %rbx
    .cfi_adjust_cfa_offset 8
    .cfi_rel_offset %rbx, 0
    pushq   %r12
    .cfi_adjust_cfa_offset 8
    .cfi_rel_offset %r12, 0
    pushq   %r13
    .cfi_adjust_cfa_offset 8
    .cfi_rel_offset %r13, 0
    pushq   %r14
    .cfi_adjust_cfa_offset 8
    .cfi_rel_offset %r14, 0
    pushq   %r15
    .cfi_adjust_cfa_offset 8
    .cfi_rel_offset %r15, 0
    subq    $8, %rsp
    .cfi_adjust_cfa_offset 8
    stmxcsr (%rsp)
    fnstcw  4(%rsp)
    movq    %rsp, (%rdi)
    /* The other stack holds a frame of the same shape: the unwind rules
     * above describe it just as well. */
    movq    %rsi, %rsp
    ldmxcsr (%rsp)
    fldcw   4(%rsp)
    addq    $8, %rsp
    .cfi_adjust_cfa_offset -8
    popq    %r15
    .cfi_adjust_cfa_offset -8
    .cfi_restore %r15
    popq    %r14
    .cfi_adjust_cfa_offset -8
    .cfi_restore %r14
    popq    %r13
    .cfi_adjust_cfa_offset -8
    .cfi_restore %r13
    popq    %r12
    .cfi_adjust_cfa_offset -8
    .cfi_restore %r12
    popq    %rbx
    .cfi_adjust_cfa_offset -8
    .cfi_restore %rbx
    popq    %rbp
    .cfi_adjust_cfa_offset -8
    .cfi_restore %rbp
    /* Not `ret`: the return address is the other context's, never the one
     * this call pushed on the CPU's return-stack predictor, so a `ret`
     * would be mispredicted at every switch. An indirect jump is predicted
     * from the branch history, which a ping-pong repeats. */
    movl    %edx, %eax
    popq    %rcx
    .cfi_adjust_cfa_offset -8
    .cfi_register %rip, %rcx
    jmpq    *%rcx
    .cfi_endproc
    .size   weft__ctx_switch, .-weft__ctx_switch

/* The first frame of every coroutine: call entry(co) with r13 = entry and
 * r12 = co, as the switch popped them. The entry function never returns
 * (it switches away for good). The return address is marked undefined so
 * that debuggers and unwinders stop here instead of walking into garbage. */
    .globl  weft__ctx_start
    .hidden weft__ctx_start
    .type   weft__ctx_start, @function
    .p2align 4
weft__ctx_start:
    .cfi_startproc
    .cfi_undefined %rip
    movq    %r12, %rdi
    callq   *%r13
    ud2
    .cfi_endproc
    .size   weft__ctx_start, .-weft__ctx_start

    .section .note.GNU-stack, "", @progbits
