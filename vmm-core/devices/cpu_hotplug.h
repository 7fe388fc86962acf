/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The CPU hotplug controller the DSDT's processor devices talk to: 32-bit
 * registers in port I/O at PORT_CPU_HOTPLUG, one bit per vCPU (APIC id and
 * ACPI processor UID are the vCPU index, as in the MADT).
 *
 *   +0x00..+0x1c CPR0-7  read: vCPUs present (the _STA of processor C<n>)
 *   +0x20..+0x3c CIN0-7  read: vCPUs added since the last read of that
 *                        register (cleared by the read)
 *
 * A vCPU added with cpu_hotplug_plug() pulses the Generic Event Device's
 * interrupt, the one PCI hotplug uses; its _EVT reads CIN0-7 and sends a
 * device check to each new processor, and Linux's ACPI processor driver then
 * makes it a CPU the guest can bring online. vCPUs are only ever added: the
 * controller has no eject.
 */
#pragma once

#include <stdint.h>

#include "bus.h"
#include "platform.h"

#define PORT_CPU_HOTPLUG      0xae20
#define CPU_HOTPLUG_PIO_LEN   0x40
#define CPU_HOTPLUG_CPR       0x00
#define CPU_HOTPLUG_CIN       0x20
#define CPU_HOTPLUG_MAX_VCPUS 256

typedef struct CpuHotplug CpuHotplug;

typedef struct CpuHotplugCounters {
    uint64_t plugs;        /* vCPUs announced in CIN */
    uint64_t bad_accesses; /* odd widths or offsets, writes */
} CpuHotplugCounters;

/* NULL with errno set. irq is the GED's line, kept by pointer; vCPUs 0 to
 * n_present - 1 are present from the start. */
CpuHotplug *cpu_hotplug_new(const IrqLine *irq, uint32_t n_present);
void cpu_hotplug_free(CpuHotplug *h);
const BusDevice *cpu_hotplug_bus_device(CpuHotplug *h);
/* vCPU index was added: present, announced in CIN, the GED pulsed. */
void cpu_hotplug_plug(CpuHotplug *h, uint32_t index);
/* Guest reset: announcements not yet read are dropped (the new guest
 * finds the present vCPUs in the MADT). */
void cpu_hotplug_reset(CpuHotplug *h);
void cpu_hotplug_get_counters(CpuHotplug *h, CpuHotplugCounters *out);
