/* SPDX-License-Identifier: Apache-2.0 */
/* The IDT and the dispatch of every vector to a handler or a report. */
#include "io.h"
#include "payload.h"

#define IDT_ENTRIES    256
#define GATE_INTERRUPT 0x8e /* present, DPL 0, 64-bit interrupt gate */
#define NR_EXCEPTIONS  32
#define VEC_PAGE_FAULT 14

struct idt_gate {
    uint16_t offset_low;
    uint16_t selector;
    uint8_t ist;
    uint8_t type_attr;
    uint16_t offset_mid;
    uint32_t offset_high;
    uint32_t reserved;
} __attribute__((packed));

struct table_pointer {
    uint16_t limit;
    uint64_t base;
} __attribute__((packed));

extern const uint64_t trap_stub_table[IDT_ENTRIES];
void trap_dispatch(struct trap_frame *f);

static struct idt_gate idt[IDT_ENTRIES] __attribute__((aligned(16)));
static trap_handler handlers[IDT_ENTRIES];

static const char *const exception_names[NR_EXCEPTIONS] = {
    "#DE",  "#DB",  "NMI",  "#BP",  "#OF",  "#BR",  "#UD",  "#NM",  "#DF", "#MF(9)", "#TS",
    "#NP",  "#SS",  "#GP",  "#PF",  "(15)", "#MF",  "#AC",  "#MC",  "#XM", "#VE",    "#CP",
    "(22)", "(23)", "(24)", "(25)", "(26)", "(27)", "(28)", "(29)", "#SX", "(31)",
};

static void set_gate(unsigned v, uint64_t a)
{
    idt[v] = (struct idt_gate){
        .offset_low = (uint16_t)a,
        .selector = SEL_KERNEL_CS,
        .type_attr = GATE_INTERRUPT,
        .offset_mid = (uint16_t)(a >> 16),
        .offset_high = (uint32_t)(a >> 32),
    };
}

void trap_init(void)
{
    for (unsigned v = 0; v < IDT_ENTRIES; v++)
        set_gate(v, trap_stub_table[v]);
    struct table_pointer p = {.limit = sizeof(idt) - 1, .base = (uintptr_t)idt};
    __asm__ volatile("lidt %0" : : "m"(p));
}

void trap_set_gate(unsigned vector, void (*entry)(void))
{
    if (vector < IDT_ENTRIES)
        set_gate(vector, (uintptr_t)entry);
}

void trap_set_handler(unsigned vector, trap_handler h)
{
    if (vector < IDT_ENTRIES)
        handlers[vector] = h;
}

void trap_load_empty_idt(void)
{
    struct table_pointer p = {.limit = 0, .base = 0};
    __asm__ volatile("lidt %0" : : "m"(p));
}

void trap_dispatch(struct trap_frame *f)
{
    unsigned v = (unsigned)f->vector;

    if (v < IDT_ENTRIES && handlers[v]) {
        handlers[v](f);
        return;
    }
    if (v < NR_EXCEPTIONS) {
        print("FAIL %s: unexpected exception %s (vector %u) at rip 0x%lx cs 0x%lx error 0x%lx", test_name,
              exception_names[v], v, f->rip, f->cs, f->error);
        if (v == VEC_PAGE_FAULT)
            print(" cr2 0x%lx", read_cr2());
        print("\n");
        test_failures++;
        acpi_poweroff();
    }
    if (v == VEC_SPURIOUS)
        return;
    print("INFO unexpected interrupt vector 0x%x\n", v);
    lapic_eoi();
}
