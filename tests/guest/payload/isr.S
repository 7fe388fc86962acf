/* SPDX-License-Identifier: Apache-2.0 */
/*
 * One stub per vector, pushing a uniform frame (vector, error code) for
 * trap_dispatch(), and the way down to CPL3.
 */

    .section .rodata.trap_stub_table, "a"
    .balign 8
    .globl trap_stub_table
trap_stub_table: /* one entry per vector, appended by the stubs below */

    .text

/* Vectors for which the CPU pushes an error code itself. */
#define HAS_ERROR(v) ((v) == 8 || (v) == 10 || (v) == 11 || (v) == 12 || (v) == 13 || (v) == 14 || \
                      (v) == 17 || (v) == 21 || (v) == 29 || (v) == 30)

    .balign 16
    .globl trap_stubs_start
trap_stubs_start:
    .set vec, 0
    .rept 256
1:
    .if HAS_ERROR(vec) == 0
    pushq $0
    .endif
    pushq $vec
    jmp trap_common
    .pushsection .rodata.trap_stub_table, "a"
    .quad 1b
    .popsection
    .set vec, vec + 1
    .endr

trap_common:
    pushq %rax
    pushq %rbx
    pushq %rcx
    pushq %rdx
    pushq %rsi
    pushq %rdi
    pushq %rbp
    pushq %r8
    pushq %r9
    pushq %r10
    pushq %r11
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    cld
    movq %rsp, %rdi
    call trap_dispatch
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %r11
    popq %r10
    popq %r9
    popq %r8
    popq %rbp
    popq %rdi
    popq %rsi
    popq %rdx
    popq %rcx
    popq %rbx
    popq %rax
    addq $16, %rsp
    iretq

/* void enter_user(void (*fn)(void), void *stack_top): iretq to CPL3 with
 * interrupts on, the only way down that works on kvm_pvm hosts. */
    .globl enter_user
enter_user:
    movl $0x2b, %eax
    movl %eax, %ds
    movl %eax, %es
    pushq $0x2b
    pushq %rsi
    pushq $0x202
    pushq $0x33
    pushq %rdi
    iretq

    .section .note.GNU-stack, "", @progbits
