/* SPDX-License-Identifier: Apache-2.0 */
/* Legacy PIC off, local APIC (EOI, timer), IOAPIC routing of ISA IRQs. */
#include "io.h"
#include "payload.h"

#define PIC_MASTER_DATA 0x21
#define PIC_SLAVE_DATA  0xa1

#define MSR_APIC_BASE  0x1b
#define APIC_BASE_MASK 0xfffff000ULL
#define DEFAULT_LAPIC  0xfee00000ULL
#define DEFAULT_IOAPIC 0xfec00000ULL

#define LAPIC_ID            0x20
#define LAPIC_TPR           0x80
#define LAPIC_EOI           0xb0
#define LAPIC_SVR           0xf0
#define LAPIC_LVT_TIMER     0x320
#define LAPIC_LVT_LINT0     0x350
#define LAPIC_TIMER_INITIAL 0x380
#define LAPIC_TIMER_DIVIDE  0x3e0

#define SVR_ENABLE         0x100
#define LVT_MASKED         (1u << 16)
#define LVT_TIMER_PERIODIC (1u << 17)
#define TIMER_DIVIDE_BY_1  0xb

#define IOAPIC_INDEX      0x00
#define IOAPIC_DATA       0x10
#define IOAPIC_REDIR(pin) (0x10 + 2 * (pin))
#define REDIR_ACTIVE_LOW  (1u << 13)
#define REDIR_LEVEL       (1u << 15)

/* MADT interrupt source override flags (MPS INTI flags). */
#define ISO_POLARITY_MASK 0x3
#define ISO_POLARITY_HIGH 0x1
#define ISO_POLARITY_LOW  0x3
#define ISO_TRIGGER_SHIFT 2
#define ISO_TRIGGER_EDGE  0x1
#define ISO_TRIGGER_LEVEL 0x3

static uintptr_t lapic_base = DEFAULT_LAPIC;
volatile uint64_t jiffies;

void pic_disable(void)
{
    /* Outside an init sequence a write to the data port sets the mask: no
     * 8259 interrupt can then reach LINT0 as ExtINT next to the IOAPIC. */
    outb(PIC_MASTER_DATA, 0xff);
    outb(PIC_SLAVE_DATA, 0xff);
}

void lapic_init(void)
{
    uint64_t base = rdmsr(MSR_APIC_BASE) & APIC_BASE_MASK;
    if (base && base < 0x100000000ULL)
        lapic_base = (uintptr_t)base;
    mmio_write32(lapic_base + LAPIC_TPR, 0);
    mmio_write32(lapic_base + LAPIC_LVT_LINT0, LVT_MASKED);
    mmio_write32(lapic_base + LAPIC_SVR, SVR_ENABLE | VEC_SPURIOUS);
}

void lapic_eoi(void)
{
    mmio_write32(lapic_base + LAPIC_EOI, 0);
}

uint32_t lapic_id(void)
{
    return mmio_read32(lapic_base + LAPIC_ID) >> 24;
}

void lapic_timer_periodic(uint8_t vector, uint32_t ns)
{
    mmio_write32(lapic_base + LAPIC_TIMER_DIVIDE, TIMER_DIVIDE_BY_1);
    mmio_write32(lapic_base + LAPIC_LVT_TIMER, LVT_TIMER_PERIODIC | vector);
    /* KVM's and QEMU's APIC bus runs at 1 GHz: one count per nanosecond. */
    mmio_write32(lapic_base + LAPIC_TIMER_INITIAL, ns);
}

void lapic_timer_stop(void)
{
    mmio_write32(lapic_base + LAPIC_TIMER_INITIAL, 0);
    mmio_write32(lapic_base + LAPIC_LVT_TIMER, LVT_MASKED);
}

static void ioapic_write(uintptr_t base, uint32_t reg, uint32_t v)
{
    mmio_write32(base + IOAPIC_INDEX, reg);
    mmio_write32(base + IOAPIC_DATA, v);
}

void ioapic_route_isa(unsigned irq, uint8_t vector, bool level, bool active_low)
{
    uintptr_t base = acpi.ioapic_addr ? acpi.ioapic_addr : DEFAULT_IOAPIC;
    unsigned gsi = irq;

    if (irq < 16 && acpi.iso_gsi[irq] >= 0) {
        uint16_t flags = acpi.iso_flags[irq];
        unsigned pol = flags & ISO_POLARITY_MASK;
        unsigned trig = (flags >> ISO_TRIGGER_SHIFT) & 0x3;
        gsi = (unsigned)acpi.iso_gsi[irq];
        if (pol == ISO_POLARITY_HIGH || pol == ISO_POLARITY_LOW)
            active_low = pol == ISO_POLARITY_LOW;
        if (trig == ISO_TRIGGER_EDGE || trig == ISO_TRIGGER_LEVEL)
            level = trig == ISO_TRIGGER_LEVEL;
    }
    unsigned pin = gsi - acpi.ioapic_gsi_base;
    uint32_t low = vector | (level ? REDIR_LEVEL : 0) | (active_low ? REDIR_ACTIVE_LOW : 0);
    print("INFO ioapic: irq %u -> gsi %u pin %u vector 0x%x %s %s\n", irq, gsi, pin, vector,
          level ? "level" : "edge", active_low ? "low" : "high");
    ioapic_write(base, IOAPIC_REDIR(pin) + 1, lapic_id() << 24);
    ioapic_write(base, IOAPIC_REDIR(pin), low);
}
