/* SPDX-License-Identifier: Apache-2.0 */
#include "virtio.h"

#include "io.h"
#include "payload.h"

#define CF8 0xcf8
#define CFC 0xcfc

/* Common configuration offsets (virtio 1.2, 4.1.4.3). */
#define C_DFSEL       0x00
#define C_DF          0x04
#define C_GFSEL       0x08
#define C_GF          0x0c
#define C_MSIX_CONFIG 0x10
#define C_STATUS      0x14
#define C_QSEL        0x16
#define C_QSIZE       0x18
#define C_QMSIX       0x1a
#define C_QENABLE     0x1c
#define C_QNOTIFY_OFF 0x1e
#define C_QDESC       0x20
#define C_QDRIVER     0x28
#define C_QDEVICE     0x30

/* One ring set per device kind; tests use one blk and one rng at most. */
static struct vring_desc ring_desc[2][VQ_SIZE] __attribute__((aligned(4096)));
static uint16_t ring_avail[2][2048] __attribute__((aligned(4096)));
static uint16_t ring_used[2][2048] __attribute__((aligned(4096)));

/* The rings of the one multi-queue device a test drives at a time. */
static struct vring_desc mq_desc[VDEV_MAX_QUEUES][VQ_SIZE] __attribute__((aligned(4096)));
static uint16_t mq_avail[VDEV_MAX_QUEUES][2048] __attribute__((aligned(4096)));
static uint16_t mq_used[VDEV_MAX_QUEUES][2048] __attribute__((aligned(4096)));

uint8_t mmio_read8(uint64_t a)
{
    return *(volatile uint8_t *)a;
}

uint16_t mmio_read16(uint64_t a)
{
    return *(volatile uint16_t *)a;
}

void mmio_write8(uint64_t a, uint8_t v)
{
    *(volatile uint8_t *)a = v;
}

void mmio_write16(uint64_t a, uint16_t v)
{
    *(volatile uint16_t *)a = v;
}

static uint32_t cf8_addr(unsigned slot, unsigned off)
{
    return 0x80000000u | (slot << 11) | (off & 0xfc);
}

uint32_t pci_cf8_read32(unsigned slot, unsigned off)
{
    outl(CF8, cf8_addr(slot, off));
    return inl(CFC);
}

uint8_t pci_cf8_read8(unsigned slot, unsigned off)
{
    outl(CF8, cf8_addr(slot, off));
    return inb((uint16_t)(CFC + (off & 3)));
}

void pci_cf8_write32(unsigned slot, unsigned off, uint32_t v)
{
    outl(CF8, cf8_addr(slot, off));
    outl(CFC, v);
}

static uint64_t ecam(unsigned slot, unsigned off)
{
    return PCI_ECAM_BASE + ((uint64_t)slot << 15) + off;
}

uint32_t pci_ecam_read32(unsigned slot, unsigned off)
{
    return mmio_read32(ecam(slot, off));
}

void pci_ecam_write32(unsigned slot, unsigned off, uint32_t v)
{
    mmio_write32(ecam(slot, off), v);
}

void pci_ecam_write8(unsigned slot, unsigned off, uint8_t v)
{
    mmio_write8(ecam(slot, off), v);
}

uint64_t pci_ecam_base = PCI_ECAM_BASE;

static uint32_t cfg_read32(unsigned slot, unsigned off)
{
    if (!pci_ecam_base)
        return pci_cf8_read32(slot, off);
    return mmio_read32(pci_ecam_base + ((uint64_t)slot << 15) + off);
}

static uint8_t cfg_read8(unsigned slot, unsigned off)
{
    if (!pci_ecam_base)
        return pci_cf8_read8(slot, off);
    return mmio_read8(pci_ecam_base + ((uint64_t)slot << 15) + off);
}

static void cfg_write32(unsigned slot, unsigned off, uint32_t v)
{
    if (!pci_ecam_base)
        pci_cf8_write32(slot, off, v);
    else
        mmio_write32(pci_ecam_base + ((uint64_t)slot << 15) + off, v);
}

/* The address of memory BAR idx (both halves of a 64-bit one), as the
 * firmware or the VMM assigned it; 0 for an I/O or missing BAR. */
static uint64_t bar_addr(unsigned slot, unsigned idx)
{
    if (idx > 5)
        return 0;
    uint32_t lo = cfg_read32(slot, 0x10 + 4 * idx);
    if (lo & 1)
        return 0;
    uint64_t a = lo & ~0xfu;
    if ((lo & 6) == 4 && idx < 5)
        a |= (uint64_t)cfg_read32(slot, 0x14 + 4 * idx) << 32;
    return a;
}

/* Offset of capability `id` in slot's configuration space, 0 if absent. */
static unsigned find_cap(unsigned slot, uint8_t id)
{
    unsigned p = cfg_read8(slot, 0x34);
    for (unsigned guard = 0; p && guard < 48; guard++) {
        if (cfg_read8(slot, p) == id)
            return p;
        p = cfg_read8(slot, p + 1);
    }
    return 0;
}

bool vdev_find(struct vdev *d, uint16_t device_id)
{
    memset(d, 0, sizeof(*d));
    for (unsigned s = 0; s < 32; s++) {
        uint32_t id = cfg_read32(s, 0);
        if ((id & 0xffff) != VIRTIO_VENDOR || (id >> 16) != device_id)
            continue;
        d->slot = s;
        d->device_id = device_id;
        /* Walk the vendor capabilities for the four structures. Each names
         * its BAR (QEMU: the 64-bit BAR 4, we: the 32-bit BAR 0); both put
         * all four in one, so offsets are kept relative to that BAR. */
        uint64_t at[5] = {0};
        unsigned bar = 0;
        unsigned p = cfg_read8(s, 0x34);
        for (unsigned guard = 0; p && guard < 48; guard++) {
            if (cfg_read8(s, p) == 0x09) {
                uint8_t type = cfg_read8(s, p + 3), b = cfg_read8(s, p + 4);
                if (type >= 1 && type <= 4 && !at[type])
                    at[type] = bar_addr(s, b) + cfg_read32(s, p + 8);
                if (type == 1)
                    bar = b;
                if (type == 2)
                    d->notify_mult = cfg_read32(s, p + 16);
            }
            p = cfg_read8(s, p + 1);
        }
        d->bar = bar_addr(s, bar);
        uint32_t *offs[5] = {NULL, &d->common, &d->notify, &d->isr, &d->device};
        for (unsigned t = 1; t <= 4; t++)
            *offs[t] = at[t] ? (uint32_t)(at[t] - d->bar) : 0;
        /* Memory space and bus mastering on. */
        cfg_write32(s, 0x04, 0x6);
        unsigned k = device_id == VIRTIO_DEV_RNG ? 1 : 0;
        d->desc = ring_desc[k];
        d->avail = ring_avail[k];
        d->used = ring_used[k];
        return true;
    }
    return false;
}

static uint64_t C(struct vdev *d, unsigned off)
{
    return d->bar + d->common + off;
}

uint8_t vdev_status(struct vdev *d)
{
    return mmio_read8(C(d, C_STATUS));
}

void vdev_reset(struct vdev *d)
{
    mmio_write8(C(d, C_STATUS), 0);
    /* The reset is complete once status reads 0 (virtio 1.2, 4.1.4.3.2). */
    for (unsigned i = 0; i < 100000 && vdev_status(d) != 0; i++)
        cpu_relax();
}

uint64_t vdev_device_features(struct vdev *d)
{
    mmio_write32(C(d, C_DFSEL), 0);
    uint64_t lo = mmio_read32(C(d, C_DF));
    mmio_write32(C(d, C_DFSEL), 1);
    uint64_t hi = mmio_read32(C(d, C_DF));
    return hi << 32 | lo;
}

static bool negotiate(struct vdev *d, uint64_t wanted)
{
    vdev_reset(d);
    mmio_write8(C(d, C_STATUS), VIRTIO_STATUS_ACK);
    mmio_write8(C(d, C_STATUS), VIRTIO_STATUS_ACK | VIRTIO_STATUS_DRIVER);
    uint64_t f = vdev_device_features(d) & wanted;
    mmio_write32(C(d, C_GFSEL), 0);
    mmio_write32(C(d, C_GF), (uint32_t)f);
    mmio_write32(C(d, C_GFSEL), 1);
    mmio_write32(C(d, C_GF), (uint32_t)(f >> 32));
    mmio_write8(C(d, C_STATUS), VIRTIO_STATUS_ACK | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK);
    if (!(vdev_status(d) & VIRTIO_STATUS_FEATURES_OK)) {
        fail("device %x refused features 0x%lx", d->device_id, f);
        return false;
    }
    return true;
}

/* Sets up queue q on the rings d points at. */
static void setup_queue(struct vdev *d, uint16_t q)
{
    mmio_write16(C(d, C_QSEL), q);
    uint16_t max = mmio_read16(C(d, C_QSIZE));
    d->qsize = max < VQ_SIZE ? max : VQ_SIZE;
    mmio_write16(C(d, C_QSIZE), d->qsize);
    memset(d->desc, 0, sizeof(ring_desc[0]));
    memset((void *)d->avail, 0, sizeof(ring_avail[0]));
    memset((void *)d->used, 0, sizeof(ring_used[0]));
    d->avail_idx = d->used_seen = 0;
    mmio_write32(C(d, C_QDESC), (uint32_t)(uintptr_t)d->desc);
    mmio_write32(C(d, C_QDESC + 4), 0);
    mmio_write32(C(d, C_QDRIVER), (uint32_t)(uintptr_t)d->avail);
    mmio_write32(C(d, C_QDRIVER + 4), 0);
    mmio_write32(C(d, C_QDEVICE), (uint32_t)(uintptr_t)d->used);
    mmio_write32(C(d, C_QDEVICE + 4), 0);
    d->notify_addr = d->bar + d->notify + (uint64_t)mmio_read16(C(d, C_QNOTIFY_OFF)) * d->notify_mult;
    mmio_write16(C(d, C_QENABLE), 1);
}

static bool driver_ok(struct vdev *d)
{
    mmio_write8(C(d, C_STATUS), VIRTIO_STATUS_ACK | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK |
                                    VIRTIO_STATUS_DRIVER_OK);
    uint8_t st = vdev_status(d);
    if (!(st & VIRTIO_STATUS_DRIVER_OK) || (st & VIRTIO_STATUS_NEEDS_RESET)) {
        fail("device %x status 0x%x after DRIVER_OK", d->device_id, st);
        return false;
    }
    return true;
}

bool vdev_init(struct vdev *d, uint64_t wanted)
{
    if (!negotiate(d, wanted))
        return false;
    setup_queue(d, 0);
    return driver_ok(d);
}

bool vdev_init_msix(struct vdev *d, uint64_t wanted, uint16_t vector)
{
    if (!negotiate(d, wanted))
        return false;
    mmio_write16(C(d, C_MSIX_CONFIG), VIRTIO_NO_VECTOR);
    mmio_write16(C(d, C_QSEL), 0);
    mmio_write16(C(d, C_QMSIX), vector);
    /* A device that cannot use the vector reads back NO_VECTOR. */
    if (mmio_read16(C(d, C_QMSIX)) != vector) {
        fail("device %x refused MSI-X vector %u for queue 0", d->device_id, vector);
        return false;
    }
    setup_queue(d, 0);
    return driver_ok(d);
}

#define PCI_CAP_MSIX      0x11
#define MSIX_ENABLE       (1u << 31) /* in the capability's first dword */
#define MSIX_FUNC_MASK    (1u << 30)
#define MSIX_ENTRY_MASKED 1u

bool vdev_msix_setup(struct vdev *d, unsigned entry, uint32_t apic_id, uint8_t vector)
{
    unsigned cap = find_cap(d->slot, PCI_CAP_MSIX);
    if (!cap) {
        fail("device %x has no MSI-X capability", d->device_id);
        return false;
    }
    uint32_t ctl = cfg_read32(d->slot, cap);
    uint32_t table = cfg_read32(d->slot, cap + 4);
    uint64_t base = bar_addr(d->slot, table & 7);
    if (!base || entry > ((ctl >> 16) & 0x7ff)) {
        fail("device %x: MSI-X table BAR %u at 0x%lx, %u entries", d->device_id, table & 7, base,
             ((ctl >> 16) & 0x7ff) + 1);
        return false;
    }
    uint64_t e = base + (table & ~7u) + 16ULL * entry;
    mmio_write32(e, 0xfee00000u | apic_id << 12);
    mmio_write32(e + 4, 0);
    mmio_write32(e + 8, vector);
    mmio_write32(e + 12, mmio_read32(e + 12) & ~MSIX_ENTRY_MASKED);
    cfg_write32(d->slot, cap, (ctl & ~MSIX_FUNC_MASK) | MSIX_ENABLE);
    return true;
}

bool vdev_init_queues(struct vdev *d, uint64_t wanted, struct vdev *qs, unsigned n)
{
    if (n > VDEV_MAX_QUEUES) {
        fail("%u queues: the payload has rings for %u", n, VDEV_MAX_QUEUES);
        return false;
    }
    if (!negotiate(d, wanted))
        return false;
    for (unsigned q = 0; q < n; q++) {
        qs[q] = *d;
        qs[q].desc = mq_desc[q];
        qs[q].avail = mq_avail[q];
        qs[q].used = mq_used[q];
        setup_queue(&qs[q], (uint16_t)q);
    }
    return driver_ok(d);
}

void vdev_submit(struct vdev *d, uint16_t head)
{
    d->avail[2 + d->avail_idx % d->qsize] = head;
    __asm__ volatile("" ::: "memory"); /* x86 keeps stores in order */
    d->avail_idx++;
    d->avail[1] = d->avail_idx;
    mmio_write16(d->notify_addr, 0);
}

bool vdev_wait_used(struct vdev *d, uint32_t *len)
{
    for (unsigned i = 0; i < 2000000; i++) {
        if (d->used[1] != d->used_seen) {
            volatile uint32_t *elem = (volatile uint32_t *)(d->used + 2) + 2 * (d->used_seen % d->qsize);
            if (len)
                *len = elem[1];
            d->used_seen++;
            return true;
        }
        if ((i & 1023) == 1023 && (vdev_status(d) & VIRTIO_STATUS_NEEDS_RESET))
            return false;
        cpu_relax();
    }
    return false;
}

bool vdev_wait_needs_reset(struct vdev *d)
{
    for (unsigned i = 0; i < 20000; i++) {
        if (vdev_status(d) & VIRTIO_STATUS_NEEDS_RESET)
            return true;
        cpu_relax();
    }
    return false;
}
