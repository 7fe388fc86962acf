/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The memory hotplug controller the DSDT's memory devices talk to (ACPI
 * memory hotplug, --memory hotplug_method=acpi): 32-bit registers in port I/O
 * at PORT_MEM_HOTPLUG, one bit per slot of GUEST_MEMORY_HOTPLUG_SLOT bytes of
 * the hotplug region.
 *
 *   +0x00..+0x1c MPR0-7  read: slots plugged (the _STA of memory device M<n>)
 *   +0x20..+0x3c MIN0-7  read: slots plugged since the last read of that
 *                        register (cleared by the read)
 *
 * A slot plugged with mem_hotplug_plug() pulses the Generic Event Device's
 * interrupt (the PCI and CPU hotplug one); its _EVT reads MIN0-7 and sends a
 * device check to each new memory device, whose _CRS is its slot's range:
 * Linux's ACPI memory driver adds that memory. Memory is never unplugged:
 * every register is read-only.
 */
#pragma once

#include <stdint.h>

#include "bus.h"
#include "hotplug_slots.h"
#include "platform.h"
#include "snapshot_format.h"

#define PORT_MEM_HOTPLUG    0xaec0
#define MEM_HOTPLUG_PIO_LEN 0x40
#define MEM_HOTPLUG_MPR     0x00
#define MEM_HOTPLUG_MIN     0x20
#define MEM_HOTPLUG_SLOTS   HOTPLUG_SLOTS_MAX

typedef struct MemHotplug MemHotplug;

typedef struct MemHotplugCounters {
    uint64_t plugs;        /* slots announced in MIN */
    uint64_t bad_accesses; /* odd widths or offsets, writes */
} MemHotplugCounters;

/* NULL with errno set. irq is the GED's line, kept by pointer; slots 0 to
 * n_plugged - 1 are plugged from the start. */
MemHotplug *mem_hotplug_new(const IrqLine *irq, uint32_t n_plugged);
void mem_hotplug_free(MemHotplug *h);
const BusDevice *mem_hotplug_bus_device(MemHotplug *h);
/* Slot index was plugged: present, announced in MIN, the GED pulsed. */
void mem_hotplug_plug(MemHotplug *h, uint32_t index);
/* Guest reset: announcements not yet read are dropped (the new guest finds
 * the plugged slots through _STA). */
void mem_hotplug_reset(MemHotplug *h);
void mem_hotplug_get_counters(MemHotplug *h, MemHotplugCounters *out);
/* Snapshots: the plugged slots and the announcements the guest has not read;
 * the load wants the restored controller's plugged slots (-EINVAL otherwise). */
void mem_hotplug_save(MemHotplug *h, SnapshotWriter *w);
int mem_hotplug_load(MemHotplug *h, SnapshotReader *r);
