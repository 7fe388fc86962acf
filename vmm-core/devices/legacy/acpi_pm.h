/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ACPI fixed hardware (ACPI 6.5, 4.8): the PM1a event block (PM1_STS,
 * PM1_EN) at PORT_ACPI_PM1A_EVT, the PM1a control block (PM1_CNT) at
 * PORT_ACPI_PM1A_CNT, and the FADT reset register at PORT_ACPI_RESET.
 *
 * - Power button: acpi_pm_power_button() sets PM1_STS.PWRBTN_STS; the SCI
 *   (IRQ_ACPI_SCI) is a level, asserted while PM1_STS & PM1_EN has a bit set,
 *   so it drops when the guest clears the status (write 1 to clear) or
 *   disables the event. The MADT must describe IRQ 9 as level-triggered.
 * - PM1_CNT: SCI_EN always reads 1 (ACPI mode from power-on, no SMI_CMD
 *   handshake). SLP_EN with SLP_TYP == ACPI_S5_SLP_TYP -> VM_REQUEST_SHUTDOWN;
 *   other sleep types are not implemented and leave the guest running.
 * - Reset register (a chipset's 0xcf9): a write of ACPI_RESET_VALUE (0x06)
 *   or 0x0e (the same plus "full reset", what Linux's reboot=pci writes)
 *   -> VM_REQUEST_REBOOT; other values are stored (Linux reads the register
 *   first) and otherwise ignored.
 *
 * 0xcf9 sits inside the PCI configuration-address dword (0xcf8-0xcfb). If
 * that range is registered by the PCI host bridge, it forwards byte writes
 * at 0xcf9 to acpi_pm_reset_write() (and reads to acpi_pm_reset_read());
 * otherwise register acpi_pm_reset_bus_device() at PORT_ACPI_RESET, length
 * ACPI_PM_RESET_LEN.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "bus.h"
#include "platform.h"
#include "snapshot_format.h"

#define ACPI_PM_EVT_LEN   4 /* PM1_STS, PM1_EN: 16 bits each (FADT PM1_EVT_LEN) */
#define ACPI_PM_CNT_LEN   2 /* FADT PM1_CNT_LEN */
#define ACPI_PM_RESET_LEN 1

#define ACPI_PM1_STS_PWRBTN        0x0100
#define ACPI_PM1_STS_WAK           0x8000
#define ACPI_PM1_EN_PWRBTN         0x0100
#define ACPI_PM1_CNT_SCI_EN        0x0001
#define ACPI_PM1_CNT_SLP_TYP_SHIFT 10
#define ACPI_PM1_CNT_SLP_TYP_MASK  0x1c00
#define ACPI_PM1_CNT_SLP_EN        0x2000

typedef struct AcpiPm AcpiPm;

typedef struct AcpiPmCounters {
    uint64_t power_button_presses;
    uint64_t sleep_requests; /* SLP_EN writes, S5 included */
    uint64_t resets;
} AcpiPmCounters;

/* sci and control are copied. NULL with errno set on allocation failure. */
AcpiPm *acpi_pm_new(const IrqLine *sci, const VmControl *control);
void acpi_pm_free(AcpiPm *pm);
const BusDevice *acpi_pm_evt_bus_device(AcpiPm *pm);   /* at PORT_ACPI_PM1A_EVT */
const BusDevice *acpi_pm_cnt_bus_device(AcpiPm *pm);   /* at PORT_ACPI_PM1A_CNT */
const BusDevice *acpi_pm_reset_bus_device(AcpiPm *pm); /* at PORT_ACPI_RESET */
void acpi_pm_reset_write(AcpiPm *pm, uint8_t value);
uint8_t acpi_pm_reset_read(AcpiPm *pm);

/* Presses the power button. True if the guest has the event enabled (an
 * SCI was raised), false if it is not listening (yet). */
bool acpi_pm_power_button(AcpiPm *pm);
/* Guest reset: registers back to power-on, SCI deasserted. */
void acpi_pm_reset(AcpiPm *pm);
void acpi_pm_get_counters(AcpiPm *pm, AcpiPmCounters *out);

/* PM1 status, enable and control, the reset register and the SCI level, to
 * and from a snapshot section (snapshot/snapshot.c). */
void acpi_pm_save(AcpiPm *pm, SnapshotWriter *w);
int acpi_pm_load(AcpiPm *pm, SnapshotReader *r);
