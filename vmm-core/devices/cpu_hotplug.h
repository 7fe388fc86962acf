/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The CPU hotplug controller the DSDT's processor devices talk to: 32-bit
 * registers in port I/O at PORT_CPU_HOTPLUG, one bit per vCPU (APIC id and
 * ACPI processor UID are the vCPU index, as in the MADT).
 *
 *   +0x00..+0x1c CPR0-7  read: vCPUs present (the _STA of processor C<n>)
 *   +0x20..+0x3c CIN0-7  read: vCPUs added since the last read of that
 *                        register (cleared by the read)
 *   +0x40..+0x5c CRM0-7  read: vCPUs the host wants removed, asked since the
 *                        last read (cleared by the read)
 *   +0x60..+0x7c CEJ0-7  write: vCPUs the guest ejects (the _EJ0 of processor
 *                        C<n>, run once the guest took the CPU offline); reads 0
 *
 * A vCPU added with cpu_hotplug_plug() or asked for with
 * cpu_hotplug_request_unplug() pulses the Generic Event Device's interrupt,
 * the one PCI hotplug uses; its _EVT reads CIN0-7 and CRM0-7 and sends a
 * device check to each new processor and an eject request to each one to
 * remove. Only vCPUs whose removal is pending can be ejected (never one the
 * host did not ask for, so never the boot vCPU); an ejected vCPU is no
 * longer present and is handed to the owner's main thread through an
 * eventfd (the vCPU that wrote CEJ never parks another one itself).
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "bus.h"
#include "hotplug_slots.h"
#include "platform.h"
#include "snapshot_format.h"

#define PORT_CPU_HOTPLUG      0xae20
#define CPU_HOTPLUG_PIO_LEN   0x80
#define CPU_HOTPLUG_CPR       0x00
#define CPU_HOTPLUG_CIN       0x20
#define CPU_HOTPLUG_CRM       0x40
#define CPU_HOTPLUG_CEJ       0x60
#define CPU_HOTPLUG_MAX_VCPUS HOTPLUG_SLOTS_MAX
#define CPU_HOTPLUG_WORDS     HOTPLUG_SLOTS_WORDS

typedef struct CpuHotplug CpuHotplug;

typedef struct CpuHotplugCounters {
    uint64_t plugs;           /* vCPUs announced in CIN */
    uint64_t unplug_requests; /* vCPUs announced in CRM */
    uint64_t ejects;          /* vCPUs the guest ejected */
    uint64_t bad_accesses;    /* odd widths or offsets, writes but to CEJ, ejects not asked for */
} CpuHotplugCounters;

/* NULL with errno set. irq is the GED's line, kept by pointer; vCPUs 0 to
 * n_present - 1 are present from the start. */
CpuHotplug *cpu_hotplug_new(const IrqLine *irq, uint32_t n_present);
void cpu_hotplug_free(CpuHotplug *h);
const BusDevice *cpu_hotplug_bus_device(CpuHotplug *h);
/* Readable (EPOLLIN) when the guest ejected a vCPU: call take_ejected. */
int cpu_hotplug_eject_fd(const CpuHotplug *h);
/* vCPU index was added: present, announced in CIN, the GED pulsed. */
void cpu_hotplug_plug(CpuHotplug *h, uint32_t index);
/* Asks the guest to eject vCPU index (CRM, the GED pulsed). -ENOENT when it
 * is not present, -EALREADY when its removal is pending already. */
int cpu_hotplug_request_unplug(CpuHotplug *h, uint32_t index);
/* The host changed its mind: an eject of index is no longer taken. */
void cpu_hotplug_cancel_unplug(CpuHotplug *h, uint32_t index);
/* Whether any removal was asked for and not ejected yet. */
bool cpu_hotplug_unplug_pending(CpuHotplug *h);
/* The vCPUs ejected since the last call, one bit each (drains the eventfd). */
void cpu_hotplug_take_ejected(CpuHotplug *h, uint32_t out[CPU_HOTPLUG_WORDS]);
/* Guest reset into n_present vCPUs: announcements not yet read and pending
 * removals are dropped (the new guest finds its vCPUs in the MADT), and
 * vCPUs 0 to n_present - 1 are the present ones, as at creation. */
void cpu_hotplug_reset(CpuHotplug *h, uint32_t n_present);
void cpu_hotplug_get_counters(CpuHotplug *h, CpuHotplugCounters *out);
/* Snapshots: the present vCPUs and the additions the guest has not read yet
 * (CIN); a snapshot is never taken with a removal pending. The load wants
 * the same present vCPUs as the restored controller's (-EINVAL otherwise). */
void cpu_hotplug_save(CpuHotplug *h, SnapshotWriter *w);
int cpu_hotplug_load(CpuHotplug *h, SnapshotReader *r);
