/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Entry points, the GDT and the identity page tables.
 *
 * Three ways in, one way on: every entry ends in start64 with %edi = how we
 * came in (enum boot_entry) and %esi = what the loader handed over.
 *   startup_64   +0x200  long mode, paging on, %rsi = boot_params (vmlinux
 *                        ELF e_entry and the bzImage 64-bit entry)
 *   pvh_start32          32-bit protected mode, paging off, %ebx = start_info
 *                        (named by the PVH ELF note)
 *   startup_32   +0x000  32-bit protected mode, paging off, %esi = boot_params
 *                        (code32_start: the bzImage's own real-mode setup)
 *
 * The 32-bit paths use no stack and touch nothing but registers, the GDT and
 * the page tables, which are initialised data: nothing has to be built at
 * CPL0 before long mode (that code is emulated on kvm_pvm hosts).
 */

#define BOOT_ENTRY_LINUX64 1
#define BOOT_ENTRY_PVH 2
#define BOOT_ENTRY_LINUX32 3

#define MSR_EFER 0xc0000080
#define EFER_LME 0x100
#define CR4_PAE 0x20
#define CR0_PE_WP_PG 0x80010001

/* 2 MiB page: present, writable, user (CPL3 code shares the identity map), large. */
#define PDE_FLAGS 0x87
/* Table entry: present, writable, user. */
#define PTE_TABLE 0x7

    .section .head.text, "ax"

    .code32
    .globl startup_32
startup_32:
    movl $BOOT_ENTRY_LINUX32, %edi
    jmp enter_long_mode

    /* Boot protocol 2.15 kernel_info, found through the setup header's
     * kernel_info_offset: the mandatory part only. */
    .org 0x40
    .globl kernel_info
kernel_info:
    .ascii "LToP"
    .long kernel_info_end - kernel_info /* size */
    .long kernel_info_end - kernel_info /* size_total */
    .long 0                             /* setup_type_max */
kernel_info_end:

    .org 0x200
    .code64
    .globl startup_64
startup_64:
    movl $BOOT_ENTRY_LINUX64, %edi
    jmp start64

/* 32-bit code has a section of its own so check_insns.py can disassemble it
 * as such. */
    .section .text32, "ax"
    .code32
    .globl pvh_start32
pvh_start32:
    movl %ebx, %esi
    movl $BOOT_ENTRY_PVH, %edi
    /* fall through */

/* %edi and %esi survive: only %eax, %ecx and %edx are used. */
enter_long_mode:
    cli
    lgdt gdt_desc
    movl $0x18, %eax
    movl %eax, %ds
    movl %eax, %es
    movl %eax, %ss
    movl %cr4, %eax
    orl $CR4_PAE, %eax
    movl %eax, %cr4
    movl $pml4, %eax
    movl %eax, %cr3
    movl $MSR_EFER, %ecx
    rdmsr
    orl $EFER_LME, %eax
    wrmsr
    movl %cr0, %eax
    orl $CR0_PE_WP_PG, %eax
    movl %eax, %cr0
    ljmp $0x10, $start64

    .section .head.text, "ax"
    .code64
start64:
    cli
    cld
    /* The upper halves are undefined after a mode switch. */
    movl %edi, %r12d
    movl %esi, %r13d
    lgdt gdt_desc(%rip)
    movl $0x18, %eax
    movl %eax, %ds
    movl %eax, %es
    movl %eax, %ss
    movl %eax, %fs
    movl %eax, %gs
    leaq boot_stack_top(%rip), %rsp
    pushq $0x10
    leaq 1f(%rip), %rax
    pushq %rax
    lretq
1:
    /* Our own tables: the VMM's identity map has no user bit. */
    leaq pml4(%rip), %rax
    movq %rax, %cr3
    /* bss may hold a previous boot's state after a reset. */
    leaq __bss_start(%rip), %rdi
    leaq _image_end(%rip), %rcx
    subq %rdi, %rcx
    xorl %eax, %eax
    rep stosb
    movl %r12d, %edi
    movq %r13, %rsi
    call payload_main
2:
    cli
    hlt
    jmp 2b

    .section .data.gdt, "aw"
    .balign 16
    .globl gdt
gdt:
    .quad 0
    .quad 0x00cf9b000000ffff /* 0x08 32-bit code */
    .quad 0x00af9b000000ffff /* 0x10 64-bit code (the VMM's selector too) */
    .quad 0x00cf93000000ffff /* 0x18 data */
    .quad 0x00cffb000000ffff /* 0x20 32-bit user code (the syscall layout's slot) */
    .quad 0x00cff3000000ffff /* 0x28 user data, selector 0x2b */
    .quad 0x00affb000000ffff /* 0x30 64-bit user code, selector 0x33 */
    .globl gdt_tss
gdt_tss:
    .quad 0, 0               /* 0x38 TSS, filled in by cpu_init() */
gdt_end:

    .balign 8
    .globl gdt_desc
gdt_desc:
    .word gdt_end - gdt - 1
    .quad gdt

/* Identity map of the low 5 GiB with 2 MiB pages (LAPIC and IOAPIC included;
 * the fifth GiB for hot-plugged memory, test=memhp), as initialised data so
 * no CPL0 loop builds it. */
    .section .data.pagetables, "aw"
    .balign 4096
pml4:
    .quad pdpt + PTE_TABLE
    .fill 511, 8, 0
pdpt:
    .quad pd + PTE_TABLE
    .quad pd + 0x1000 + PTE_TABLE
    .quad pd + 0x2000 + PTE_TABLE
    .quad pd + 0x3000 + PTE_TABLE
    .quad pd + 0x4000 + PTE_TABLE
    .fill 507, 8, 0
pd:
    .set page, 0
    .rept 2560
    .quad (page << 21) + PDE_FLAGS
    .set page, page + 1
    .endr

    .section .bss.stacks, "aw", @nobits
    .balign 4096
    .skip 16384
    .globl boot_stack_top
boot_stack_top:
    .skip 16384
    .globl irq_stack_top
irq_stack_top:
    .skip 16384
    .globl user_stack_top
user_stack_top:

    .section .note.GNU-stack, "", @progbits
