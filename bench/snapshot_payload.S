/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The snapshot benchmark's guest (bench_snapshot.py): a PVH entry point
 * (32-bit protected mode, paging off) that our vmm and QEMU boot from the
 * same ELF. It finds the largest RAM range below 4 GiB in hvm_start_info's
 * memory map and, forever, writes the pass number into the first dword of
 * every 4 KiB page from 2 MiB (above this code) to the range's end: every
 * page it passes is non-zero, so neither VMM can leave it out of a snapshot,
 * and a pass after a restore writes every page again (copy-on-write of a
 * lazily mapped snapshot shows there). COM1 gets '.' after each MiB and '|'
 * after each pass, so the host sees when the guest runs and how long a
 * pass takes; "E" means no memory map or no RAM above 2 MiB.
 * At CPL0 every instruction is emulated on kvm_pvm hosts (docs/kvm-here.md),
 * so the loop is kept to six instructions a page.
 */
#define COM1         0x3f8
#define SI_MEMMAP    40      /* hvm_start_info.memmap_paddr (u64) */
#define SI_ENTRIES   48      /* hvm_start_info.memmap_entries (u32) */
#define SI_VERSION   4
#define E820_RAM     1
#define FIRST_PAGE   0x200000

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
    movw $COM1, %dx
    cmpl $1, SI_VERSION(%ebx)       /* version 0 has no memory map */
    jb no_ram
    movl SI_MEMMAP(%ebx), %edi      /* entries: u64 addr, u64 size, u32 type, u32 pad */
    movl SI_ENTRIES(%ebx), %ecx
    xorl %esi, %esi                 /* end of the largest range so far */
    xorl %ebp, %ebp                 /* its size (low 32 bits: below 4 GiB) */
1:  testl %ecx, %ecx
    jz 3f
    cmpl $E820_RAM, 16(%edi)
    jne 2f
    cmpl $0, 4(%edi)                /* starts above 4 GiB */
    jne 2f
    movl 8(%edi), %eax
    cmpl $0, 12(%edi)               /* 4 GiB or more long: cannot be below 4 GiB */
    jne 2f
    cmpl %ebp, %eax
    jbe 2f
    movl %eax, %ebp
    addl (%edi), %eax
    movl %eax, %esi
2:  addl $24, %edi
    decl %ecx
    jmp 1b
3:  andl $0xfffff000, %esi
    cmpl $FIRST_PAGE + 0x1000, %esi
    jb no_ram

    movl $1, %ebp                   /* the pass number: never zero */
pass:
    movl $FIRST_PAGE, %edi
4:  movl %ebp, (%edi)
    addl $0x1000, %edi
    testl $0xfffff, %edi
    jnz 5f
    movb $'.', %al
    outb %al, %dx
5:  cmpl %esi, %edi
    jb 4b
    movb $'|', %al
    outb %al, %dx
    incl %ebp
    jmp pass

no_ram:
    movb $'E', %al
    outb %al, %dx
6:  hlt
    jmp 6b
