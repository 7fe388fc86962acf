/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test=hotplug: ACPI PCI hotplug seen from the guest, without ACPI. The
 * runner hot-adds a disk (vm.add-disk); the payload finds its slot in the
 * controller's PCIU register as the DSDT's _EVT would, finds the function
 * by PCI enumeration, reads the runner's pattern from it and writes its
 * own; the runner asks for its removal (vm.remove-device), the payload sees
 * the slot in PCID, ejects it through B0EJ as the slot's _EJ0 would, and
 * waits for the function to vanish from configuration space.
 *
 * test=memhp: ACPI memory hotplug the same way. The runner plugs two
 * slots (vm.resize desired_ram), the payload finds them in MIN and MPR,
 * writes a pattern over them (mapped at 4 GiB by head.S), reads it back,
 * and again after the runner snapshotted the VM and restored it in a new
 * vmm (a newline on COM1 says when).
 *
 * test=cpuhp: ACPI vCPU hotplug the same way. The runner adds two vCPUs
 * (vm.resize, at once or one by one), the payload finds them in CIN and CPR; the runner asks for
 * their removal, the payload finds them in CRM and ejects each through CEJ
 * as its processor's _EJ0 would; the runner adds one back.
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
#define CPU_PORT           0xae20 /* PORT_CPU_HOTPLUG */
#define CPU_CPR            0x00
#define CPU_CIN            0x20
#define CPU_CRM            0x40
#define CPU_CEJ            0x60
#define MEM_PORT           0xaec0 /* PORT_MEM_HOTPLUG */
#define MEM_MPR            0x00
#define MEM_MIN            0x20
#define MEM_SLOT           (128UL << 20)
#define MEM_BASE           0x100000000UL /* above RAM of less than 3 GiB (guest_memory.c) */
#define MEM_STRIDE         (1UL << 20)

static struct {
    uint32_t type, reserved;
    uint64_t sector;
} hp_hdr __attribute__((aligned(16)));
static uint64_t hp_data[64] __attribute__((aligned(4096)));
static volatile uint8_t hp_status;

/* The first non-zero value of a read-to-clear register, 0 after POLLS reads. */
static uint32_t wait_port(uint16_t port)
{
    for (unsigned i = 0; i < POLLS; i++) {
        uint32_t v = inl(port);
        if (v)
            return v;
    }
    return 0;
}

/* A read-to-clear register's bits, gathered over reads until all of want
 * came (the host may announce them one at a time) or POLLS reads passed. */
static uint32_t wait_bits(uint16_t port, uint32_t want)
{
    uint32_t got = 0;
    for (unsigned i = 0; i < POLLS && (got & want) != want; i++)
        got |= inl(port);
    return got;
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

    uint32_t up = wait_port(HP_PORT + HP_PCIU);
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

    uint32_t down = wait_port(HP_PORT + HP_PCID);
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

void test_cpu_hotplug(void)
{
    /* Booted with one vCPU of three. Ejecting it, never asked for, changes
     * nothing (the controller counts it). */
    check(inl(CPU_PORT + CPU_CPR) == 1, "CPR0 0x%x at boot, wanted vCPU 0 alone", inl(CPU_PORT + CPU_CPR));
    outl(CPU_PORT + CPU_CEJ, 1u);
    check(inl(CPU_PORT + CPU_CPR) == 1, "the boot vCPU went away on an eject nobody asked for");
    check(inl(CPU_PORT + CPU_CIN) == 0 && inl(CPU_PORT + CPU_CRM) == 0, "CIN0/CRM0 not clear at boot");
    print("READY cpuhp-add\n");

    uint32_t in = wait_bits(CPU_PORT + CPU_CIN, 0x6);
    check(in == 0x6, "CIN0 0x%x after vm.resize to 3, wanted vCPUs 1 and 2", in);
    check(inl(CPU_PORT + CPU_CPR) == 0x7, "CPR0 0x%x after vm.resize to 3", inl(CPU_PORT + CPU_CPR));
    print("READY cpuhp-remove\n");

    uint32_t rm = wait_bits(CPU_PORT + CPU_CRM, 0x6);
    check(rm == 0x6, "CRM0 0x%x after vm.resize to 1, wanted vCPUs 1 and 2", rm);
    check(inl(CPU_PORT + CPU_CRM) == 0, "reading CRM0 did not clear it");
    /* Each processor's _EJ0 writes its own bit. */
    outl(CPU_PORT + CPU_CEJ, 1u << 2);
    outl(CPU_PORT + CPU_CEJ, 1u << 1);
    check(inl(CPU_PORT + CPU_CPR) == 1, "CPR0 0x%x after the ejects, wanted vCPU 0 alone", inl(CPU_PORT + CPU_CPR));
    print("READY cpuhp-readd\n");

    in = wait_bits(CPU_PORT + CPU_CIN, 0x2);
    check(in == 0x2, "CIN0 0x%x after vm.resize to 2, wanted vCPU 1", in);
    check(inl(CPU_PORT + CPU_CPR) == 0x3, "CPR0 0x%x after vm.resize to 2", inl(CPU_PORT + CPU_CPR));
    print("INFO cpuhp done\n");
}

static uint64_t mem_pattern(uint64_t off)
{
    return (off + 11) * PATTERN_MULTIPLIER;
}

/* Every MEM_STRIDE of [MEM_BASE, + len): the pattern is there. */
static bool mem_pattern_ok(uint64_t len, const char *when)
{
    for (uint64_t off = 0; off < len; off += MEM_STRIDE) {
        uint64_t got = *(volatile uint64_t *)(uintptr_t)(MEM_BASE + off);
        if (got != mem_pattern(off)) {
            fail("memhp: %s, 0x%lx holds 0x%lx, wanted 0x%lx", when, MEM_BASE + off, got, mem_pattern(off));
            return false;
        }
    }
    return true;
}

void test_mem_hotplug(void)
{
    /* Nothing plugged at boot; every register is read-only. */
    check(inl(MEM_PORT + MEM_MPR) == 0 && inl(MEM_PORT + MEM_MIN) == 0, "MPR0/MIN0 not clear at boot");
    outl(MEM_PORT + MEM_MPR, 0xffffffffu);
    check(inl(MEM_PORT + MEM_MPR) == 0, "a write to MPR0 plugged something");
    print("READY memhp-add\n");

    uint32_t in = wait_bits(MEM_PORT + MEM_MIN, 0x3);
    check(in == 0x3, "MIN0 0x%x after vm.resize, wanted slots 0 and 1", in);
    check(inl(MEM_PORT + MEM_MPR) == 0x3, "MPR0 0x%x after vm.resize", inl(MEM_PORT + MEM_MPR));
    for (uint64_t off = 0; off < 2 * MEM_SLOT; off += MEM_STRIDE)
        *(volatile uint64_t *)(uintptr_t)(MEM_BASE + off) = mem_pattern(off);
    if (!mem_pattern_ok(2 * MEM_SLOT, "written"))
        return;
    print("READY memhp-snapshot\n");
    char c;
    for (;;)
        if (serial_getc(&c) && c == '\n')
            break;
    if (mem_pattern_ok(2 * MEM_SLOT, "after the restore"))
        print("INFO memhp done\n");
}
