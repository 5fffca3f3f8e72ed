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

/* Both switches: save this context's registers on its stack and its stack
 * pointer in *save (rdi), load the context saved at `to` (rsi), and return
 * `ret` (dl) from that context's call of a switch. They differ in how they
 * go there (see the comment at the end). */
    .macro  switch_fn name, tail
    .globl  \name
    .hidden \name
    .type   \name, @function
    .p2align 4
\name:
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
    movl    %edx, %eax
    .ifc \tail, jmp
    popq    %rcx
    .cfi_adjust_cfa_offset -8
    .cfi_register %rip, %rcx
    jmpq    *%rcx
    .else
    ret
    .endif
    .cfi_endproc
    .size   \name, .-\name
    .endm

/*
 * The CPU predicts a `ret` from its return-stack buffer: the address pushed
 * by the matching call, here the departing context's call of the switch.
 *
 * weft__ctx_switch ends in an indirect jump instead, predicted from the
 * branch history. It is for switches between two different call sites, a
 * resume and a yield: a `ret` would be mispredicted every time, and resume
 * and yield end in tail calls of it so that a resume-yield loop makes no
 * return at all. The price: the call's entry is never popped, so the
 * returns that follow the landing are predicted one level off.
 *
 * weft__ctx_switch_ret ends in `ret`. It is for a transfer between two
 * coroutines that suspend through the same code (tasks waking each other
 * through a queue or an event): both sides call it from the same place, so
 * the `ret` is predicted, and so is every return up the landing side's
 * chain, which is the departing side's chain up to where their code
 * differs. With the jump, each of those returns was mispredicted.
 */
    switch_fn weft__ctx_switch, jmp
    switch_fn weft__ctx_switch_ret, ret

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
