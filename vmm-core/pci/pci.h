/* SPDX-License-Identifier: Apache-2.0 */
/*
 * PCI segment 0, bus 0: the host bridge at 00:00.0 and up to 31 endpoint
 * functions (function 0 of slots 1-31). The guest reaches configuration
 * space through mechanism #1 (ports 0xcf8/0xcfc, the first 256 bytes) and
 * ECAM (LAYOUT_PCI_ECAM_START, all 4 KiB); both end in the same byte-wise
 * accessor, so every offset and width behaves the same way.
 *
 * Each function's config space is 4 KiB of bytes plus a write mask and a
 * write-1-to-clear mask: read-only fields stay read-only whatever the guest
 * writes, and the BAR sizing protocol falls out of the mask (writing all
 * ones reads back ~(size - 1) | type bits).
 *
 * Memory BARs live in the 32-bit window LAYOUT_PCI_MMIO_START; the bus
 * registers that whole window on the MMIO bus once and routes accesses to
 * whichever BAR holds the address (only while the function's Memory Space
 * Enable bit is set), so moving a BAR never touches the MMIO bus - which
 * matters because a BAR moves from inside a vCPU's bus dispatch.
 *
 * Locking: one bus mutex covers every config space and BAR address. Device
 * callbacks for BAR accesses run without it; bar_mapped runs with it held
 * (a device may take its own lock inside, never the bus lock).
 */
#pragma once

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "bus.h"
#include "snapshot_format.h"

#define PCI_CFG_SIZE        4096
#define PCI_CFG_LEGACY_SIZE 256
#define PCI_MAX_SLOTS       32
#define PCI_NUM_BARS        6

/* Header offsets (PCI Local Bus 3.0, type 0). */
#define PCI_VENDOR_ID           0x00
#define PCI_DEVICE_ID           0x02
#define PCI_COMMAND             0x04
#define PCI_STATUS              0x06
#define PCI_REVISION_ID         0x08
#define PCI_CLASS_PROG          0x09
#define PCI_HEADER_TYPE         0x0e
#define PCI_BAR0                0x10
#define PCI_SUBSYSTEM_VENDOR_ID 0x2c
#define PCI_SUBSYSTEM_ID        0x2e
#define PCI_ROM_ADDRESS         0x30
#define PCI_CAPABILITY_LIST     0x34
#define PCI_INTERRUPT_LINE      0x3c
#define PCI_INTERRUPT_PIN       0x3d

#define PCI_COMMAND_IO           0x1
#define PCI_COMMAND_MEMORY       0x2
#define PCI_COMMAND_MASTER       0x4
#define PCI_COMMAND_INTX_DISABLE 0x400
#define PCI_STATUS_INTERRUPT     0x8
#define PCI_STATUS_CAP_LIST      0x10

#define PCI_CAP_ID_VNDR 0x09
#define PCI_CAP_ID_MSIX 0x11

#define PCI_BAR_MEM64 0x4

/* INTx: every endpoint uses pin INTA#, wired to IOAPIC pin
 * PCI_INTX_GSI_BASE + slot % 8 (level-triggered); see docs/devices.md. */
#define PCI_INTX_GSI_BASE 16

typedef struct PciDevice PciDevice;
typedef struct PciMsix PciMsix;

typedef struct PciDeviceOps {
    /* Access inside BAR bar at offset; len 1..8, never past the BAR's end. */
    void (*bar_read)(PciDevice *d, int bar, uint64_t offset, uint8_t *data, uint32_t len);
    void (*bar_write)(PciDevice *d, int bar, uint64_t offset, const uint8_t *data, uint32_t len);
    /* The BAR now decodes at addr (0: not decoded any more). */
    void (*bar_mapped)(PciDevice *d, int bar, uint64_t addr);
    /* Access to bytes [offset, offset + len) of the 4-byte config window
     * at PciDevice.cfg_window (virtio's PCI configuration access
     * capability); called with the bus lock held. */
    void (*cfg_window_access)(PciDevice *d, uint32_t offset, uint8_t *data, uint32_t len, bool write);
} PciDeviceOps;

typedef struct PciBar {
    uint64_t size; /* power of two >= 4 KiB; 0: no BAR */
    bool is_64;
    uint64_t mapped; /* address being decoded, 0 when not */
} PciBar;

/* MSI-X vector table entry, as the guest sees it. */
typedef struct PciMsixEntry {
    uint32_t addr_lo, addr_hi, data, ctrl;
} PciMsixEntry;

#define PCI_MSIX_ENTRY_SIZE    16
#define PCI_MSIX_CTRL_MASKED   0x1
#define PCI_MSIX_FLAGS_MASKALL 0x4000
#define PCI_MSIX_FLAGS_ENABLE  0x8000

/*
 * MSI-X: the table and PBA sit in one of the function's BARs. The device
 * raises a vector with pci_msix_notify(); a masked (or function-masked)
 * vector sets its pending bit instead, and unmasking delivers it. The owner
 * learns about every usable (unmasked, enabled) vector through
 * vector_update so it can install an MSI route before the first message.
 */
struct PciMsix {
    pthread_mutex_t lock;
    uint16_t n_vectors;
    uint8_t cap; /* config offset of the capability */
    int bar;
    uint32_t table_offset, pba_offset;
    PciMsixEntry *table;
    uint64_t *pba;
    bool enabled, masked_all;
    /* Owner callbacks, run with lock held: route (or drop, when !usable) a
     * vector; deliver a message now. */
    void (*vector_update)(void *ctx, uint16_t vector, bool usable, uint64_t addr, uint32_t data);
    void (*deliver)(void *ctx, uint16_t vector);
    void *ctx;
    /* What vector_update was last told, so unchanged vectors cost nothing. */
    bool *usable;
    uint64_t delivered, pended, dropped;
};

struct PciDevice {
    uint8_t cfg[PCI_CFG_SIZE];
    uint8_t cfg_power_on[PCI_CFG_SIZE]; /* what a reset restores */
    uint8_t wmask[PCI_CFG_SIZE];
    uint8_t w1cmask[PCI_CFG_SIZE];
    PciBar bars[PCI_NUM_BARS];
    uint8_t next_cap;   /* where pci_device_add_cap puts the next capability */
    uint8_t cfg_window; /* config offset owned by ops->cfg_window_access; 0: none */
    uint8_t slot;
    bool has_msix;
    PciMsix msix;
    const PciDeviceOps *ops;
    void *opaque;
    struct PciBus *bus;
};

typedef struct PciCounters {
    uint64_t config_reads, config_writes;
    uint64_t config_unclaimed; /* no function at the address */
    uint64_t bar_unclaimed;    /* window access outside any decoded BAR */
} PciCounters;

typedef struct PciBus {
    pthread_mutex_t lock;
    PciDevice host_bridge;
    PciDevice *slots[PCI_MAX_SLOTS];
    uint32_t config_address; /* port 0xcf8 */
    uint64_t mmio_next;      /* BAR allocator in the 32-bit window */
    /* Byte accesses at 0xcf9 belong to the ACPI reset register. */
    void (*reset_write)(void *ctx, uint8_t value);
    uint8_t (*reset_read)(void *ctx);
    void *reset_ctx;
    BusDevice pio_address, pio_data, ecam, window;
    PciCounters counters;
    /* While set (a restore building its devices), the n-th add takes
     * slot_plan[n] instead of the first free slot: hot-plugged functions
     * come back where the guest knows them. */
    const uint8_t *slot_plan;
    size_t n_slot_plan, next_planned;
} PciBus;

void pci_bus_init(PciBus *bus);
void pci_bus_destroy(PciBus *bus);
/* Registers 0xcf8-0xcfb, 0xcfc-0xcff, ECAM and the MMIO window. */
int pci_bus_attach(PciBus *bus, Bus *pio, Bus *mmio);
/* Back to power-on: every function's writable config state and MSI-X. */
void pci_bus_reset(PciBus *bus);
/* Puts d in the first free slot (or the slot plan's next one) and gives its
 * BARs addresses in the window (still not decoded: the guest turns on
 * Memory Space). -ENOSPC when full, -EINVAL for a planned slot that is
 * taken or out of range. */
int pci_bus_add_device(PciBus *bus, PciDevice *d);
/* Takes d off the bus (hot unplug): its slot is free again, its BARs stop
 * decoding (bar_mapped(0) for each decoded one). The BAR space is not
 * reused: the window is large and hotplug rare. The vCPUs must be parked
 * (BAR callbacks run without the bus lock). */
void pci_bus_remove_device(PciBus *bus, PciDevice *d);

/* Config space of a device before it is added. */
void pci_device_init(PciDevice *d, uint16_t vendor, uint16_t device, uint32_t class_code, uint8_t revision,
                     uint16_t subsys_vendor, uint16_t subsys_id, const PciDeviceOps *ops, void *opaque);
/* A 32- or 64-bit, non-prefetchable memory BAR; size a power of two. */
int pci_device_add_bar(PciDevice *d, int bar, uint64_t size, bool is_64);
/* Appends a capability of len bytes (body[0] is the cap ID, body[1] is
 * filled in); returns its offset or -ENOSPC. Read-only unless wmask given. */
int pci_device_add_cap(PciDevice *d, const uint8_t *body, uint8_t len, const uint8_t *wmask);
/* MSI-X with n vectors, table at table_offset and PBA at pba_offset in bar. */
int pci_device_add_msix(PciDevice *d, uint16_t n, int bar, uint32_t table_offset, uint32_t pba_offset,
                        void (*vector_update)(void *, uint16_t, bool, uint64_t, uint32_t),
                        void (*deliver)(void *, uint16_t), void *ctx);
void pci_device_destroy(PciDevice *d);

/* The byte-wise config accessors behind CF8/CFC and ECAM (any offset and
 * width; accesses past 4 KiB read ones and are dropped). Exported for tests. */
void pci_config_read(PciBus *bus, PciDevice *d, uint32_t offset, uint8_t *data, uint32_t len);
void pci_config_write(PciBus *bus, PciDevice *d, uint32_t offset, const uint8_t *data, uint32_t len);

/* Raises vector (true), or false when MSI-X is off so the caller uses INTx. */
bool pci_msix_notify(PciMsix *m, uint16_t vector);
bool pci_msix_enabled(PciMsix *m);
void pci_msix_table_read(PciMsix *m, uint64_t offset, uint8_t *data, uint32_t len);
void pci_msix_table_write(PciMsix *m, uint64_t offset, const uint8_t *data, uint32_t len);
void pci_msix_pba_read(PciMsix *m, uint64_t offset, uint8_t *data, uint32_t len);
/* If offset falls in the MSI-X table or PBA of bar, handles it and returns true. */
bool pci_msix_bar_access(PciMsix *m, int bar, uint64_t offset, uint8_t *data, uint32_t len, bool write);
/* INTx status bit in the config space status register. */
void pci_device_set_intx_status(PciDevice *d, bool asserted);
uint32_t pci_device_intx_gsi(const PciDevice *d);
/* The GSI INTA# of the function in slot raises (the ACPI _PRT says the same). */
uint32_t pci_slot_intx_gsi(unsigned slot);

/* Snapshots: CONFIG_ADDRESS and every function's config space and MSI-X
 * table and PBA, one section per function (instance = slot, the host bridge
 * 0). The vCPUs must be parked: nothing else changes config space. */
void pci_bus_save(PciBus *bus, SnapshotWriter *w);
/* Into a bus holding the same functions in the same slots (built from the
 * snapshot's configuration) inside a VM that exists: BARs decode again and
 * usable MSI-X vectors get their routes. -EINVAL with a message when a
 * section is missing or malformed, or its read-only bytes say it describes
 * another function. */
int pci_bus_load(PciBus *bus, const SnapshotState *s, char *errbuf, size_t errlen);
