/* SPDX-License-Identifier: Apache-2.0 */
/* CMOS RAM, power off and the two reset paths. */
#include "io.h"
#include "payload.h"

#define CMOS_INDEX       0x70
#define CMOS_DATA        0x71
#define CMOS_NMI_DISABLE 0x80

#define PM1_SLP_EN        (1u << 13)
#define PM1_SLP_TYP_SHIFT 10

/* The platform's own values (vmm-core/arch/x86/layout.h), used only when the
 * FADT could not be read: power off must work even when ACPI checks fail. */
#define DEFAULT_PM1A_CNT   0x604
#define DEFAULT_S5_SLP_TYP 5

#define I8042_CMD           0x64
#define I8042_PULSE_RESET   0xfe
#define DEFAULT_RESET_PORT  0xcf9
#define DEFAULT_RESET_VALUE 0x06
#define ACPI_SPACE_IO       1

uint8_t cmos_read(uint8_t index)
{
    outb(CMOS_INDEX, index & ~CMOS_NMI_DISABLE);
    return inb(CMOS_DATA);
}

void cmos_write(uint8_t index, uint8_t value)
{
    outb(CMOS_INDEX, index & ~CMOS_NMI_DISABLE);
    outb(CMOS_DATA, value);
}

void acpi_poweroff(void)
{
    uint16_t port = DEFAULT_PM1A_CNT;
    unsigned slp_typ = DEFAULT_S5_SLP_TYP;

    irq_disable();
    acpi_init(false); /* a no-op when the test already read the tables */
    if (acpi.have_fadt && acpi.pm1a_cnt && acpi.pm1a_cnt <= 0xffff)
        port = (uint16_t)acpi.pm1a_cnt;
    if (acpi.s5_slp_typ >= 0)
        slp_typ = (unsigned)acpi.s5_slp_typ;
    print("INFO poweroff: writing SLP_TYP %u | SLP_EN to port 0x%x\n", slp_typ, port);
    outw(port, (uint16_t)((slp_typ << PM1_SLP_TYP_SHIFT) | PM1_SLP_EN));
    /* The VMM stops the vCPU on that write, maybe a little later; if it
     * never does, the runner's timeout reports it with the line above last. */
    for (;;)
        __asm__ volatile("cli; hlt");
}

void reset_i8042(void)
{
    outb(I8042_CMD, I8042_PULSE_RESET);
}

void reset_acpi(void)
{
    uint16_t port = DEFAULT_RESET_PORT;
    uint8_t value = DEFAULT_RESET_VALUE;

    if (acpi.have_fadt && (acpi.fadt_flags & FADT_RESET_REG_SUP) && acpi.reset_space == ACPI_SPACE_IO &&
        acpi.reset_addr && acpi.reset_addr <= 0xffff) {
        port = (uint16_t)acpi.reset_addr;
        value = acpi.reset_value;
    }
    print("INFO reset: writing 0x%x to port 0x%x\n", value, port);
    outb(port, value);
}
