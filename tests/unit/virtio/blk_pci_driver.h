/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A minimal virtio-blk driver for unit tests that go through the whole
 * device: guest RAM, a PCI bus on the PIO/MMIO buses, the transport's BAR 0
 * and one split ring, with the device's worker thread doing the I/O.
 */
#ifndef VMM_TEST_BLK_PCI_DRIVER_H
#define VMM_TEST_BLK_PCI_DRIVER_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "blk.h"
#include "bus.h"
#include "guest_memory.h"
#include "pci.h"

typedef struct BlkPciHost {
    Bus pio, mmio;
    PciBus pci;
    GuestMemory mem;
    char path[64]; /* the disk image */
} BlkPciHost;

/* ram bytes of guest RAM, the buses, and an empty image made by mkstemp
 * from template ("...XXXXXX"). Returns the image's fd for the caller to
 * size or fill, then close. */
static inline int blk_pci_host_init(BlkPciHost *h, uint64_t ram, const char *template)
{
    MemoryConfig mc;
    memset(&mc, 0, sizeof(mc));
    mc.size = ram;
    char err[256];
    assert_int_equal(guest_memory_create(&h->mem, &mc, err, sizeof(err)), 0);
    bus_init(&h->pio, "pio");
    bus_init(&h->mmio, "mmio");
    pci_bus_init(&h->pci);
    assert_int_equal(pci_bus_attach(&h->pci, &h->pio, &h->mmio), 0);
    snprintf(h->path, sizeof(h->path), "%s", template);
    int fd = mkstemp(h->path);
    assert_true(fd >= 0);
    return fd;
}

static inline void blk_pci_host_destroy(BlkPciHost *h)
{
    pci_bus_destroy(&h->pci);
    bus_destroy(&h->mmio);
    bus_destroy(&h->pio);
    guest_memory_destroy(&h->mem);
    unlink(h->path);
}

static inline void blk_pci_bar_write(BlkPciHost *h, uint64_t bar, uint64_t off, uint64_t v, uint32_t len)
{
    uint8_t b[8];
    for (uint32_t i = 0; i < len; i++)
        b[i] = (uint8_t)(v >> (8 * i));
    assert_true(bus_write(&h->mmio, bar + off, b, len));
}

static inline uint8_t blk_pci_bar_read8(BlkPciHost *h, uint64_t bar, uint64_t off)
{
    uint8_t v = 0;
    assert_true(bus_read(&h->mmio, bar + off, &v, 1));
    return v;
}

/* Puts blk on the bus with memory decoding on; returns BAR 0's address. */
static inline uint64_t blk_pci_attach(BlkPciHost *h, VirtioBlk *blk)
{
    char err[256];
    if (virtio_blk_attach(blk, &h->pci, err, sizeof(err)) < 0)
        fail_msg("%s", err);
    PciDevice *dev = NULL;
    for (int s = PCI_MAX_SLOTS - 1; s > 0 && !dev; s--)
        if (h->pci.slots[s] && h->pci.slots[s]->opaque == virtio_blk_transport(blk))
            dev = h->pci.slots[s];
    assert_non_null(dev);
    uint16_t cmd = 0x2; /* Memory Space Enable */
    pci_config_write(&h->pci, dev, 4, (const uint8_t *)&cmd, 2);
    assert_true(dev->bars[0].mapped != 0);
    return dev->bars[0].mapped;
}

/* What a driver does: VERSION_1 only, queue 0 (qsize entries at desc,
 * avail, used), DRIVER_OK. */
static inline void blk_pci_driver_init(BlkPciHost *h, uint64_t bar, uint16_t qsize, uint64_t desc, uint64_t avail,
                                       uint64_t used)
{
    blk_pci_bar_write(h, bar, 0x14, 1 | 2, 1); /* ACKNOWLEDGE | DRIVER */
    blk_pci_bar_write(h, bar, 0x08, 1, 4);     /* driver_feature_select: high word */
    blk_pci_bar_write(h, bar, 0x0c, 1, 4);     /* VERSION_1 */
    blk_pci_bar_write(h, bar, 0x14, 1 | 2 | 8, 1);
    assert_true(blk_pci_bar_read8(h, bar, 0x14) & 8);
    blk_pci_bar_write(h, bar, 0x16, 0, 2);
    blk_pci_bar_write(h, bar, 0x18, qsize, 2);
    blk_pci_bar_write(h, bar, 0x20, desc, 8);
    blk_pci_bar_write(h, bar, 0x28, avail, 8);
    blk_pci_bar_write(h, bar, 0x30, used, 8);
    blk_pci_bar_write(h, bar, 0x1c, 1, 2);
    blk_pci_bar_write(h, bar, 0x14, 1 | 2 | 8 | 4, 1);
    assert_int_equal(blk_pci_bar_read8(h, bar, 0x14), 1 | 2 | 8 | 4);
}

/* Descriptor i of the table at guest address table. */
static inline void blk_pci_put_desc(BlkPciHost *h, uint64_t table, uint16_t i, uint64_t addr, uint32_t len,
                                    uint16_t flags, uint16_t next)
{
    struct {
        uint64_t addr;
        uint32_t len;
        uint16_t flags, next;
    } v = {addr, len, flags, next};
    assert_int_equal(guest_memory_write(&h->mem, table + 16ULL * i, &v, sizeof(v)), 0);
}

#endif
