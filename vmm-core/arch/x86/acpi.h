/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ACPI tables for the guest: RSDP, XSDT, FADT (fixed-feature power button,
 * PM1a event/control blocks, SCI, reset register), MADT (one LAPIC per
 * possible vCPU, the IOAPIC, interrupt source overrides), DSDT (_S5, COM1,
 * the PCI host bridge once there is one), MCFG when PCI ECAM exists.
 * Written between LAYOUT_ACPI_START and LAYOUT_ACPI_END.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "guest_memory.h"

typedef struct AcpiPlatform {
    uint32_t boot_vcpus; /* LAPICs marked enabled */
    uint32_t max_vcpus;  /* LAPICs listed (the rest online-capable) */
    bool serial;         /* COM1 present */
    bool pvpanic;        /* QEMU-style pvpanic device at PORT_PVPANIC */
    bool pci;            /* PCI host bridge + MCFG at LAYOUT_PCI_ECAM_START */
    /* --memory hotplug_size: memory devices for mem_slots slots of
     * mem_slot_size bytes from mem_hotplug_base; 0 slots: none. */
    uint64_t mem_hotplug_base, mem_slot_size;
    uint32_t mem_slots;
} AcpiPlatform;

/* Writes the tables; *rsdp receives the RSDP's guest address. */
int acpi_build_tables(GuestMemory *mem, const AcpiPlatform *p, uint64_t *rsdp, char *errbuf, size_t errlen);
