/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test=hotplug: ACPI PCI hotplug seen from the guest, without ACPI. The
 * runner hot-adds a disk (vm.add-disk); the payload finds its slot in the
 * controller's PCIU register as the DSDT's _EVT would, finds the function
 * by PCI enumeration, reads the runner's pattern from it and writes its
 * own; the runner asks for its removal (vm.remove-device), the payload sees
 * the slot in PCID, ejects it through B0EJ as the slot's _EJ0 would, and
 * waits for the function to vanish from configuration space.
 */
#include "io.h"
#include "payload.h"
#include "virtio.h"

#define HP_PORT            0xae00 /* PORT_PCI_HOTPLUG */
#define HP_PCIU            0x0
#define HP_PCID            0x4
#define HP_B0EJ            0x8
#define F_VERSION_1        (1ULL << 32)
#define PATTERN_MULTIPLIER 0x9e3779b97f4a7c15ULL
#define POLLS              2000000u /* port reads: seconds at this host's CPL0 speed */

static struct {
    uint32_t type, reserved;
    uint64_t sector;
} hp_hdr __attribute__((aligned(16)));
static uint64_t hp_data[64] __attribute__((aligned(4096)));
static volatile uint8_t hp_status;

static uint32_t wait_register(unsigned reg)
{
    for (unsigned i = 0; i < POLLS; i++) {
        uint32_t v = inl((uint16_t)(HP_PORT + reg));
        if (v)
            return v;
    }
    return 0;
}

static unsigned lowest_bit(uint32_t v)
{
    unsigned n = 0;
    while (n < 32 && !(v & (1u << n)))
        n++;
    return n;
}

/* One 512-byte request on queue 0; the status, 0xff without an answer. */
static uint8_t hp_blk(struct vdev *d, uint32_t type, uint64_t sector)
{
    hp_hdr.type = type;
    hp_hdr.reserved = 0;
    hp_hdr.sector = sector;
    hp_status = 0xee;
    d->desc[0] = (struct vring_desc){(uint64_t)(uintptr_t)&hp_hdr, 16, VIRTQ_DESC_F_NEXT, 1};
    d->desc[1] = (struct vring_desc){(uint64_t)(uintptr_t)hp_data, 512,
                                     (uint16_t)(VIRTQ_DESC_F_NEXT | (type == 0 ? VIRTQ_DESC_F_WRITE : 0)), 2};
    d->desc[2] = (struct vring_desc){(uint64_t)(uintptr_t)&hp_status, 1, VIRTQ_DESC_F_WRITE, 0};
    vdev_submit(d, 0);
    uint32_t used;
    return vdev_wait_used(d, &used) ? hp_status : 0xff;
}

void test_hotplug(void)
{
    struct vdev d;
    /* Hostile writes: ejecting the host bridge or an empty slot, a byte
     * access. The controller counts them and nothing happens. */
    outl(HP_PORT + HP_B0EJ, 1u);
    outl(HP_PORT + HP_B0EJ, 1u << 30);
    outb(HP_PORT + HP_PCIU, 0xff);
    check(inl(HP_PORT + HP_PCIU) == 0 && inl(HP_PORT + HP_PCID) == 0, "hotplug registers not clear at boot");
    check(!vdev_find(&d, VIRTIO_DEV_BLK), "a virtio-blk before vm.add-disk");
    print("READY hotplug-add\n");

    uint32_t up = wait_register(HP_PCIU);
    check(up && !(up & (up - 1)) && !(up & 1), "PCIU 0x%x after vm.add-disk: wanted one slot", up);
    check(inl(HP_PORT + HP_PCIU) == 0, "reading PCIU did not clear it");
    unsigned slot = lowest_bit(up);
    if (!vdev_find(&d, VIRTIO_DEV_BLK)) {
        fail("no virtio-blk on the bus after PCIU announced slot %u", slot);
        return;
    }
    check(d.slot == slot, "the new virtio-blk is in slot %u, PCIU said %u", d.slot, slot);
    if (!vdev_init(&d, F_VERSION_1))
        return;
    check(hp_blk(&d, 0, 0) == 0, "read of the hot-added disk failed");
    for (unsigned k = 0; k < 64; k++)
        if (hp_data[k] != (k + 7) * PATTERN_MULTIPLIER) {
            fail("sector 0 of the hot-added disk: word %u differs", k);
            break;
        }
    for (unsigned k = 0; k < 64; k++)
        hp_data[k] = (k + 8) * PATTERN_MULTIPLIER;
    check(hp_blk(&d, 1, 1) == 0, "write to the hot-added disk failed");
    print("READY hotplug-io slot=%u\n", slot);

    uint32_t down = wait_register(HP_PCID);
    check(down == up, "PCID 0x%x after vm.remove-device, wanted 0x%x", down, up);
    vdev_reset(&d); /* as a driver lets go before the eject */
    outl(HP_PORT + HP_B0EJ, down);
    /* The VMM tears the function down on its main thread. */
    unsigned i = 0;
    while (pci_cf8_read32(slot, 0) != 0xffffffffu && i < POLLS)
        i++;
    check(pci_cf8_read32(slot, 0) == 0xffffffffu, "slot %u still answers after the eject", slot);
    check(!vdev_find(&d, VIRTIO_DEV_BLK), "a virtio-blk is still found after the eject");
    print("READY hotplug-gone\n");
}
