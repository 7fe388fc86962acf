/* SPDX-License-Identifier: Apache-2.0 */
/* The TSS: CPL3 needs one for the stack an interrupt switches to (rsp0). */
#include "payload.h"

struct tss64 {
    uint32_t reserved0;
    uint64_t rsp[3];
    uint64_t reserved1;
    uint64_t ist[7];
    uint64_t reserved2;
    uint16_t reserved3;
    uint16_t iomap_base;
} __attribute__((packed));

#define TSS_TYPE_AVAILABLE_64 0x89 /* present, DPL 0, available 64-bit TSS */

extern uint64_t gdt_tss[2];
extern char irq_stack_top[];

static struct tss64 tss __attribute__((aligned(16)));

void cpu_init(void)
{
    uint64_t base = (uintptr_t)&tss;
    uint64_t limit = sizeof(tss) - 1;

    tss.rsp[0] = (uintptr_t)irq_stack_top;
    /* No I/O bitmap: the offset points past the TSS limit. */
    tss.iomap_base = sizeof(tss);
    gdt_tss[0] = (limit & 0xffff) | (base & 0xffffff) << 16 | (uint64_t)TSS_TYPE_AVAILABLE_64 << 40 |
                 ((limit >> 16) & 0xf) << 48 | ((base >> 24) & 0xff) << 56;
    gdt_tss[1] = base >> 32;
    __asm__ volatile("ltr %w0" : : "r"(SEL_TSS));
}
