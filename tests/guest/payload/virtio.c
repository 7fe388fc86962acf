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
#define C_STATUS      0x14
#define C_QSEL        0x16
#define C_QSIZE       0x18
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

static uint8_t ecam_read8(unsigned slot, unsigned off)
{
    return mmio_read8(ecam(slot, off));
}

bool vdev_find(struct vdev *d, uint16_t device_id)
{
    memset(d, 0, sizeof(*d));
    for (unsigned s = 0; s < 32; s++) {
        uint32_t id = pci_ecam_read32(s, 0);
        if ((id & 0xffff) != VIRTIO_VENDOR || (id >> 16) != device_id)
            continue;
        d->slot = s;
        d->device_id = device_id;
        d->bar = pci_ecam_read32(s, 0x10) & ~0xfu;
        /* Walk the vendor capabilities for the four structures. */
        unsigned p = ecam_read8(s, 0x34);
        for (unsigned guard = 0; p && guard < 48; guard++) {
            if (ecam_read8(s, p) == 0x09) {
                uint8_t type = ecam_read8(s, p + 3);
                uint32_t off = pci_ecam_read32(s, p + 8);
                if (type == 1)
                    d->common = off;
                else if (type == 2) {
                    d->notify = off;
                    d->notify_mult = pci_ecam_read32(s, p + 16);
                } else if (type == 3)
                    d->isr = off;
                else if (type == 4)
                    d->device = off;
            }
            p = ecam_read8(s, p + 1);
        }
        /* Memory space and bus mastering on. */
        pci_ecam_write32(s, 0x04, 0x6);
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
