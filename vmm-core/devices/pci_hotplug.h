/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The PCI hotplug controller the DSDT's slot methods talk to (as Cloud
 * Hypervisor's and QEMU's ACPI PCI hotplug): three 32-bit registers in port
 * I/O at PORT_PCI_HOTPLUG, one bit per slot of bus 0.
 *
 *   +0 PCIU  read: slots that got a function since the last read (cleared by the read)
 *   +4 PCID  read: slots whose function the host wants removed (cleared by the read)
 *   +8 B0EJ  write: slots the guest ejects (the _EJ0 of the slot); reads 0
 *
 * A new bit in PCIU or PCID pulses the Generic Event Device's interrupt
 * (GSI PCI_HOTPLUG_GSI, edge); its _EVT reads both registers and notifies
 * the slots (device check for PCIU, eject request for PCID). Only slots the
 * owner marked present can be ejected; an ejected slot is handed to the
 * owner's main thread through an eventfd (the vCPU that wrote B0EJ never
 * tears a device down itself).
 */
#pragma once

#include <stdint.h>

#include "bus.h"
#include "platform.h"
#include "snapshot_format.h"

#define PORT_PCI_HOTPLUG    0xae00
#define PCI_HOTPLUG_PIO_LEN 12
#define PCI_HOTPLUG_PCIU    0x0
#define PCI_HOTPLUG_PCID    0x4
#define PCI_HOTPLUG_B0EJ    0x8
#define PCI_HOTPLUG_GSI     5

typedef struct PciHotplug PciHotplug;

typedef struct PciHotplugCounters {
    uint64_t plugs;           /* slots announced in PCIU */
    uint64_t unplug_requests; /* slots announced in PCID */
    uint64_t ejects;          /* slots the guest ejected */
    uint64_t bad_accesses;    /* odd widths/offsets, writes to PCIU/PCID, ejects of empty slots */
} PciHotplugCounters;

/* NULL with errno set. irq is the GED's line; kept by pointer. */
PciHotplug *pci_hotplug_new(const IrqLine *irq);
void pci_hotplug_free(PciHotplug *h);
const BusDevice *pci_hotplug_bus_device(PciHotplug *h);
/* Readable (EPOLLIN) when the guest ejected a slot: call take_ejected. */
int pci_hotplug_eject_fd(const PciHotplug *h);

/* A function sits in slot from boot on: the guest may eject it. */
void pci_hotplug_set_present(PciHotplug *h, unsigned slot);
/* A function was hot-added to slot: present, announced in PCIU. */
void pci_hotplug_plug(PciHotplug *h, unsigned slot);
/* Asks the guest to eject slot (PCID). -ENOENT when nothing ejectable is
 * there, -EALREADY when the request is still pending. */
int pci_hotplug_request_unplug(PciHotplug *h, unsigned slot);
/* The slots ejected since the last call (drains the eventfd). */
uint32_t pci_hotplug_take_ejected(PciHotplug *h);
/* Guest reset: announcements not yet read are dropped (the new guest
 * enumerates the bus anyway); present slots and pending ejects stay. */
void pci_hotplug_reset(PciHotplug *h);
void pci_hotplug_get_counters(PciHotplug *h, PciHotplugCounters *out);
/* Snapshots: what the guest has not read yet (PCIU, PCID) and the removals
 * it has not answered. The load takes them only for present slots
 * (-EINVAL otherwise), after the restored devices marked theirs. */
void pci_hotplug_save(PciHotplug *h, SnapshotWriter *w);
int pci_hotplug_load(PciHotplug *h, SnapshotReader *r);
