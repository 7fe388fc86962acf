/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A minimal PCI and modern virtio-pci driver for the payload: enumeration
 * through CF8/CFC and ECAM, one split queue per device, polling for
 * completion (no interrupts). Rings and buffers are static: the payload is
 * identity-mapped, so a pointer is its guest-physical address.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#define PCI_ECAM_BASE  0xe0000000ULL
#define VIRTIO_VENDOR  0x1af4
#define VIRTIO_DEV_BLK 0x1042
#define VIRTIO_DEV_RNG 0x1044
#define VIRTIO_DEV_NET     0x1041
#define VIRTIO_DEV_CONSOLE 0x1043
#define VIRTIO_DEV_BALLOON 0x1045
#define VIRTIO_DEV_VSOCK   0x1053

#define VDEV_MAX_QUEUES 4

/* The bench payload (bench/) builds this driver with a deeper queue. */
#ifndef VQ_SIZE
#define VQ_SIZE 16
#endif

#define VIRTQ_DESC_F_NEXT     1
#define VIRTQ_DESC_F_WRITE    2
#define VIRTQ_DESC_F_INDIRECT 4

#define VIRTIO_STATUS_ACK         1
#define VIRTIO_STATUS_DRIVER      2
#define VIRTIO_STATUS_DRIVER_OK   4
#define VIRTIO_STATUS_FEATURES_OK 8
#define VIRTIO_STATUS_NEEDS_RESET 0x40

#define VIRTIO_NO_VECTOR 0xffff

struct vring_desc {
    uint64_t addr;
    uint32_t len;
    uint16_t flags;
    uint16_t next;
};

struct vdev {
    unsigned slot;
    uint16_t device_id;
    uint64_t bar;
    uint32_t common, notify, isr, device;
    uint32_t notify_mult;
    uint16_t qsize;
    uint64_t notify_addr;
    struct vring_desc *desc;
    volatile uint16_t *avail; /* flags, idx, ring[] */
    volatile uint16_t *used;  /* flags, idx, then {u32 id, u32 len}[] */
    uint16_t avail_idx, used_seen;
};

/* Where vdev_find reads configuration space: ECAM at this base, or with 0
 * mechanism #1 (CF8/CFC), which every PC VMM has. Defaults to our ECAM. */
extern uint64_t pci_ecam_base;

uint32_t pci_cf8_read32(unsigned slot, unsigned off);
uint8_t pci_cf8_read8(unsigned slot, unsigned off);
void pci_cf8_write32(unsigned slot, unsigned off, uint32_t v);
uint32_t pci_ecam_read32(unsigned slot, unsigned off);
void pci_ecam_write32(unsigned slot, unsigned off, uint32_t v);
void pci_ecam_write8(unsigned slot, unsigned off, uint8_t v);

/* Finds the first function with this device ID and locates the virtio
 * structures through its capabilities (32- or 64-bit BARs); false if none.
 * d->bar is the BAR of the common configuration, the other offsets are
 * relative to it. */
bool vdev_find(struct vdev *d, uint16_t device_id);
/* Reset, feature negotiation (features offered & wanted), queue 0 setup,
 * DRIVER_OK. Returns false (with a FAIL) when the device refuses. */
bool vdev_init(struct vdev *d, uint64_t wanted_features);
/* The same for a device with n queues: qs[q] (a copy of d with its own
 * rings) drives queue q through vdev_submit/vdev_wait_used. One such device
 * at a time: the rings are shared between calls. */
/* vdev_init with MSI-X: queue 0 signals table entry `vector`, configuration
 * changes none. */
bool vdev_init_msix(struct vdev *d, uint64_t wanted_features, uint16_t vector);
/* Programs MSI-X table entry `entry` as a fixed, edge interrupt at `vector`
 * on the local APIC `apic_id`, unmasks it and enables MSI-X. */
bool vdev_msix_setup(struct vdev *d, unsigned entry, uint32_t apic_id, uint8_t vector);
bool vdev_init_queues(struct vdev *d, uint64_t wanted, struct vdev *qs, unsigned n);
uint8_t vdev_status(struct vdev *d);
void vdev_reset(struct vdev *d);
uint64_t vdev_device_features(struct vdev *d);
/* Publishes a chain starting at descriptor head and kicks the queue. */
void vdev_submit(struct vdev *d, uint16_t head);
/* Waits for the next used element; false on timeout or NEEDS_RESET. */
bool vdev_wait_used(struct vdev *d, uint32_t *len);
/* Waits for NEEDS_RESET in device_status. */
bool vdev_wait_needs_reset(struct vdev *d);

uint8_t mmio_read8(uint64_t a);
uint16_t mmio_read16(uint64_t a);
void mmio_write8(uint64_t a, uint8_t v);
void mmio_write16(uint64_t a, uint16_t v);

/* test=snapshot blk=1 (tests.c): the first virtio-blk, and one tick's write
 * and read-back of a pattern (virtio_tests.c). */
bool snapshot_blk_init(void);
void snapshot_blk_tick(uint64_t tick);

/* test=console and the other multi-queue device tests (virtio_device_tests.c). */
bool run_virtio_device_test(const char *name);

/* test=hotplug and test=cpuhp (hotplug_tests.c). */
void test_hotplug(void);
void test_cpu_hotplug(void);
void test_mem_hotplug(void);
