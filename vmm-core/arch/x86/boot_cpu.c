/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The boot vCPU's world: a GDT with flat segments, an empty IDT (the kernel
 * installs its own before enabling interrupts), identity page tables for
 * the low 4 GiB, and the register state of each entry mode.
 *
 * Linux 64-bit boot protocol: long mode, paging on with the loaded range
 * identity-mapped, CS = 0x10 (__BOOT_CS), DS/ES/SS = 0x18 (__BOOT_DS),
 * %rsi = boot_params. PVH: 32-bit protected mode, paging off, CR0 = PE|ET,
 * CR4 = 0, flat 4 GiB segments, %ebx = hvm_start_info.
 */
#include <string.h>

#include "layout.h"
#include "loader.h"

#define GDT_CODE64  0x00af9b000000ffffULL /* P, DPL0, code exec/read accessed, L, G */
#define GDT_CODE32  0x00cf9b000000ffffULL /* same, D (32-bit) instead of L */
#define GDT_DATA    0x00cf93000000ffffULL /* P, DPL0, data read/write accessed, D/B, G */
#define GDT_ENTRIES 4
#define SEL_CODE    0x10
#define SEL_DATA    0x18
#define IDT_BYTES   16 /* one empty gate: any exception before the kernel's IDT triple-faults */

#define PTE_PRESENT 0x1ULL
#define PTE_RW      0x2ULL
#define PTE_PS      0x80ULL /* 2 MiB page in a PD entry */
#define PD_PAGES    4       /* 4 x 512 x 2 MiB = 4 GiB */

#define CR0_PE    0x1ULL
#define CR0_ET    0x10ULL
#define CR0_LONG  0x80050033ULL /* PE|MP|ET|NE|WP|AM|PG */
#define CR4_LONG  0x620ULL      /* PAE|OSFXSR|OSXMMEXCPT */
#define EFER_LONG 0xd01ULL      /* SCE|LME|LMA|NXE */

_Static_assert(LAYOUT_BOOT_GDT + GDT_ENTRIES * 8 <= LAYOUT_BOOT_IDT, "GDT overlaps IDT");
_Static_assert(LAYOUT_PDPT == LAYOUT_PML4 + 0x1000 && LAYOUT_PD == LAYOUT_PDPT + 0x1000, "page table layout");

int x86_write_boot_tables(GuestMemory *mem, X86EntryMode mode)
{
    uint64_t gdt[GDT_ENTRIES] = {0, 0, mode == X86_ENTRY_PVH ? GDT_CODE32 : GDT_CODE64, GDT_DATA};
    uint8_t idt[IDT_BYTES] = {0};
    uint64_t table[512];
    int r;

    r = guest_memory_write(mem, LAYOUT_BOOT_GDT, gdt, sizeof(gdt));
    if (r < 0)
        return r;
    r = guest_memory_write(mem, LAYOUT_BOOT_IDT, idt, sizeof(idt));
    if (r < 0)
        return r;

    memset(table, 0, sizeof(table));
    table[0] = LAYOUT_PDPT | PTE_PRESENT | PTE_RW;
    r = guest_memory_write(mem, LAYOUT_PML4, table, sizeof(table));
    if (r < 0)
        return r;

    memset(table, 0, sizeof(table));
    for (uint64_t i = 0; i < PD_PAGES; i++)
        table[i] = (LAYOUT_PD + i * 0x1000) | PTE_PRESENT | PTE_RW;
    r = guest_memory_write(mem, LAYOUT_PDPT, table, sizeof(table));
    if (r < 0)
        return r;

    for (uint64_t pd = 0; pd < PD_PAGES; pd++) {
        for (uint64_t i = 0; i < 512; i++)
            table[i] = ((pd * 512 + i) << 21) | PTE_PRESENT | PTE_RW | PTE_PS;
        r = guest_memory_write(mem, LAYOUT_PD + pd * 0x1000, table, sizeof(table));
        if (r < 0)
            return r;
    }
    return 0;
}

void x86_boot_regs(const X86BootSetup *b, struct kvm_regs *regs)
{
    memset(regs, 0, sizeof(*regs));
    regs->rflags = 0x2; /* bit 1 is reserved-one; IF clear */
    regs->rip = b->entry;
    regs->rsp = LAYOUT_BOOT_STACK;
    regs->rbp = LAYOUT_BOOT_STACK;
    if (b->mode == X86_ENTRY_PVH)
        regs->rbx = b->boot_info;
    else
        regs->rsi = b->boot_info;
}

static struct kvm_segment flat_segment(uint16_t selector, uint8_t type, bool code64)
{
    return (struct kvm_segment){
        .base = 0,
        .limit = 0xffffffff,
        .selector = selector,
        .type = type,
        .present = 1,
        .dpl = 0,
        .db = code64 ? 0 : 1, /* D must be 0 when L is 1 */
        .s = 1,
        .l = code64 ? 1 : 0,
        .g = 1,
    };
}

void x86_boot_sregs(const X86BootSetup *b, struct kvm_sregs *sregs)
{
    bool pvh = b->mode == X86_ENTRY_PVH;
    struct kvm_segment data = flat_segment(SEL_DATA, 0x3, false);

    sregs->cs = flat_segment(SEL_CODE, 0xb, !pvh);
    sregs->ds = data;
    sregs->es = data;
    sregs->fs = data;
    sregs->gs = data;
    sregs->ss = data;
    /* A busy TSS in TR is what VM entry insists on; nothing uses it before
     * the kernel loads its own. */
    sregs->tr = (struct kvm_segment){.limit = 0xffff, .type = 0xb, .present = 1};
    sregs->ldt = (struct kvm_segment){.limit = 0xffff, .type = 0x2, .present = 1};

    sregs->gdt.base = LAYOUT_BOOT_GDT;
    sregs->gdt.limit = GDT_ENTRIES * 8 - 1;
    sregs->idt.base = LAYOUT_BOOT_IDT;
    sregs->idt.limit = IDT_BYTES - 1;

    if (pvh) {
        sregs->cr0 = CR0_PE | CR0_ET;
        sregs->cr3 = 0;
        sregs->cr4 = 0;
        sregs->efer = 0;
    } else {
        sregs->cr0 = CR0_LONG;
        sregs->cr3 = LAYOUT_PML4;
        sregs->cr4 = CR4_LONG;
        sregs->efer = EFER_LONG;
    }
}
