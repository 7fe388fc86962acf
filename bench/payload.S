/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The benchmark guest: a PVH entry point (32-bit protected mode, paging off)
 * that both our vmm and QEMU's microvm can boot from the same ELF. It writes
 * one byte to COM1, optionally performs BENCH_EXITS port writes to port 0x80
 * (each one a VM exit), then powers off: ACPI S5 on our PM1a control port,
 * and QEMU's isa-debug-exit port for QEMU. With BENCH_IDLE it stays halted
 * instead, so the VMM's own memory can be measured while a guest runs.
 * Only a handful of CPL0 instructions run: cheap under any emulation.
 */
#ifndef BENCH_EXITS
#define BENCH_EXITS 0
#endif

    .section .note.Xen, "a"
    .p2align 2
    .long 4                 /* name size */
    .long 4                 /* descriptor size */
    .long 18                /* XEN_ELFNOTE_PHYS32_ENTRY */
    .asciz "Xen"
    .long pvh_start

    .text
    .code32
    .globl pvh_start
pvh_start:
    cli
    movw $0x3f8, %dx
    movb $'!', %al
    outb %al, %dx
    movb $'\n', %al
    outb %al, %dx

    movl $BENCH_EXITS, %ecx
    testl %ecx, %ecx
    jz 2f
1:  outb %al, $0x80
    decl %ecx
    jnz 1b
2:

#ifdef BENCH_IDLE
3:  hlt
    jmp 3b
#else
    movw $0x604, %dx        /* our PM1a control: SLP_TYP 5 | SLP_EN */
    movw $0x3400, %ax
    outw %ax, %dx
    movw $0xf4, %dx         /* QEMU isa-debug-exit */
    xorl %eax, %eax
    outl %eax, %dx
4:  hlt
    jmp 4b
#endif
