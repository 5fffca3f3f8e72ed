/*
 * The coroutine context switch for AArch64 (AAPCS64).
 *
 * A switch is a call, so it saves only what a callee must preserve: x19-x28,
 * the frame pointer x29, the link register x30, the low halves d8-d15 of
 * v8-v15, the stack pointer, and FPCR (rounding mode, flush-to-zero).
 *
 * The frame pushed on the departing stack (176 bytes, 16-byte aligned),
 * lowest address first:
 *
 *     sp+0    x19 x20 x21 x22 x23 x24 x25 x26 x27 x28 x29 x30
 *     sp+96   d8 d9 d10 d11 d12 d13 d14 d15
 *     sp+160  FPCR, padding
 *
 * coro.c builds the same frame on a new coroutine's stack, with x30
 * pointing at weft__ctx_start and x19/x20 carrying the coroutine and its
 * entry function.
 */
    .text

/* bool weft__ctx_switch(void **save, void *to, bool ret): the other
 * context's call of weft__ctx_switch returns `ret`. */
    .globl  weft__ctx_switch
    .hidden weft__ctx_switch
    .type   weft__ctx_switch, %function
    .p2align 4
weft__ctx_switch:
    .cfi_startproc
    sub     sp, sp, #176
    .cfi_def_cfa_offset 176
    stp     x19, x20, [sp, #0]
    stp     x21, x22, [sp, #16]
    stp     x23, x24, [sp, #32]
    stp     x25, x26, [sp, #48]
    stp     x27, x28, [sp, #64]
    stp     x29, x30, [sp, #80]
    .cfi_offset x19, -176
    .cfi_offset x20, -168
    .cfi_offset x21, -160
    .cfi_offset x22, -152
    .cfi_offset x23, -144
    .cfi_offset x24, -136
    .cfi_offset x25, -128
    .cfi_offset x26, -120
    .cfi_offset x27, -112
    .cfi_offset x28, -104
    .cfi_offset x29, -96
    .cfi_offset x30, -88
    stp     d8, d9, [sp, #96]
    stp     d10, d11, [sp, #112]
    stp     d12, d13, [sp, #128]
    stp     d14, d15, [sp, #144]
    mrs     x9, fpcr
    str     x9, [sp, #160]
    mov     x9, sp
    str     x9, [x0]
    /* The other stack holds a frame of the same shape: the unwind rules
     * above describe it just as well. */
    mov     sp, x1
    ldp     x19, x20, [sp, #0]
    ldp     x21, x22, [sp, #16]
    ldp     x23, x24, [sp, #32]
    ldp     x25, x26, [sp, #48]
    ldp     x27, x28, [sp, #64]
    ldp     x29, x30, [sp, #80]
    ldp     d8, d9, [sp, #96]
    ldp     d10, d11, [sp, #112]
    ldp     d12, d13, [sp, #128]
    ldp     d14, d15, [sp, #144]
    ldr     x9, [sp, #160]
    msr     fpcr, x9
    add     sp, sp, #176
    .cfi_def_cfa_offset 0
    and     w0, w2, #0xff
    .cfi_restore x19
    .cfi_restore x20
    .cfi_restore x21
    .cfi_restore x22
    .cfi_restore x23
    .cfi_restore x24
    .cfi_restore x25
    .cfi_restore x26
    .cfi_restore x27
    .cfi_restore x28
    .cfi_restore x29
    .cfi_restore x30
    ret
    .cfi_endproc
    .size   weft__ctx_switch, .-weft__ctx_switch

/* The transfer between two coroutines (see the x86-64 switch): the switch
 * above already returns with `ret`, which the return-stack predictor gets
 * right when both sides call it from the same place. */
    .globl  weft__ctx_switch_ret
    .hidden weft__ctx_switch_ret
    .type   weft__ctx_switch_ret, %function
    .set    weft__ctx_switch_ret, weft__ctx_switch

/* The first frame of every coroutine: call entry(co) with x20 = entry and
 * x19 = co, as the switch loaded them. The entry function never returns.
 * The return address is marked undefined so that debuggers and unwinders
 * stop here. */
    .globl  weft__ctx_start
    .hidden weft__ctx_start
    .type   weft__ctx_start, %function
    .p2align 4
weft__ctx_start:
    .cfi_startproc
    .cfi_undefined x30
    mov     x0, x19
    blr     x20
    brk     #0
    .cfi_endproc
    .size   weft__ctx_start, .-weft__ctx_start

    .section .note.GNU-stack, "", %progbits
