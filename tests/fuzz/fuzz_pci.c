/* SPDX-License-Identifier: Apache-2.0 */
/*
 * PCI config space (mechanism #1 ports and ECAM) and the MSI-X table and
 * PBA, driven by a stream of 14-byte accesses: kind, size, address, value.
 * The guest may program BARs anywhere, enable MSI-X, mask vectors and
 * write past every structure; nothing may touch memory it does not own.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus.h"
#include "layout.h"
#include "pci.h"

typedef struct Fixture {
    Bus pio, mmio;
    PciBus pci;
    PciDevice dev, dev64;
    uint8_t reset_value;
} Fixture;

static void bar_read(PciDevice *d, int bar, uint64_t offset, uint8_t *data, uint32_t len)
{
    if (!d->has_msix || !pci_msix_bar_access(&d->msix, bar, offset, data, len, false))
        memset(data, 0, len);
}

static void bar_write(PciDevice *d, int bar, uint64_t offset, const uint8_t *data, uint32_t len)
{
    if (d->has_msix)
        pci_msix_bar_access(&d->msix, bar, offset, (uint8_t *)data, len, true);
}

static const PciDeviceOps ops = {.bar_read = bar_read, .bar_write = bar_write};

static void vector_update(void *ctx, uint16_t v, bool usable, uint64_t addr, uint32_t data)
{
    (void)ctx, (void)v, (void)usable, (void)addr, (void)data;
}

static void deliver(void *ctx, uint16_t v)
{
    (void)ctx, (void)v;
}

static void reset_write(void *ctx, uint8_t v)
{
    ((Fixture *)ctx)->reset_value = v;
}

static uint8_t reset_read(void *ctx)
{
    return ((Fixture *)ctx)->reset_value;
}

static Fixture *fixture_new(void)
{
    Fixture *f = calloc(1, sizeof(*f));
    bus_init(&f->pio, "pio");
    bus_init(&f->mmio, "mmio");
    pci_bus_init(&f->pci);
    f->pci.reset_write = reset_write;
    f->pci.reset_read = reset_read;
    f->pci.reset_ctx = f;
    if (pci_bus_attach(&f->pci, &f->pio, &f->mmio) < 0)
        abort();
    pci_device_init(&f->dev, 0x1af4, 0x1042, 0x018000, 1, 0x1af4, 2, &ops, f);
    static const uint8_t cap[8] = {0x09, 0, 8, 1, 2, 3, 4, 5};
    static const uint8_t wmask[8] = {0, 0, 0, 0xff, 0xff, 0, 0, 0};
    if (pci_device_add_bar(&f->dev, 0, 0x8000, false) < 0 ||
        pci_device_add_cap(&f->dev, cap, sizeof(cap), wmask) < 0 ||
        pci_device_add_msix(&f->dev, 8, 0, 0x4000, 0x5000, vector_update, deliver, f) < 0 ||
        pci_bus_add_device(&f->pci, &f->dev) < 0)
        abort();
    pci_device_init(&f->dev64, 0x1af4, 0x1044, 0x00ff00, 1, 0x1af4, 4, &ops, f);
    if (pci_device_add_bar(&f->dev64, 2, 0x4000, true) < 0 ||
        pci_device_add_msix(&f->dev64, 2, 2, 0x0, 0x1000, vector_update, deliver, f) < 0 ||
        pci_bus_add_device(&f->pci, &f->dev64) < 0)
        abort();
    return f;
}

static void fixture_free(Fixture *f)
{
    pci_device_destroy(&f->dev);
    pci_device_destroy(&f->dev64);
    pci_bus_destroy(&f->pci);
    bus_destroy(&f->pio);
    bus_destroy(&f->mmio);
    free(f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    Fixture *f = fixture_new();
    static const uint32_t lens[4] = {1, 2, 4, 8};
    for (; size >= 14; data += 14, size -= 14) {
        uint8_t kind = data[0];
        uint32_t len = lens[data[1] & 3];
        uint32_t addr;
        uint8_t val[8];
        memcpy(&addr, data + 2, 4);
        memcpy(val, data + 6, 8);
        switch (kind % 8) {
        case 0:
            bus_write(&f->pio, 0xcf8 + (addr & 7), val, len > 4 ? 4 : len);
            break;
        case 1:
            bus_read(&f->pio, 0xcf8 + (addr & 7), val, len > 4 ? 4 : len);
            break;
        case 2:
            bus_write(&f->mmio, LAYOUT_PCI_ECAM_START + (addr & 0x1fffff), val, len);
            break;
        case 3:
            bus_read(&f->mmio, LAYOUT_PCI_ECAM_START + (addr & 0x1fffff), val, len);
            break;
        case 4: /* wherever the guest put the BARs (or nowhere) */
            bus_write(&f->mmio, addr, val, len);
            break;
        case 5:
            bus_read(&f->mmio, addr, val, len);
            break;
        case 6:
            pci_msix_notify(&f->dev.msix, (uint16_t)addr);
            pci_msix_notify(&f->dev64.msix, (uint16_t)(addr >> 16));
            break;
        case 7:
            pci_device_set_intx_status(&f->dev, addr & 1);
            if (addr & 2)
                pci_bus_reset(&f->pci);
            break;
        }
    }
    fixture_free(f);
    return 0;
}
