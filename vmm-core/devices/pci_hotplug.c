/* SPDX-License-Identifier: Apache-2.0 */
#include "pci_hotplug.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

/* Slot 0 is the host bridge: never hot-plugged, never ejected. */
#define SLOT_OK(s) ((s) >= 1 && (s) < 32)

struct PciHotplug {
    pthread_mutex_t lock;
    BusDevice bus;
    const IrqLine *irq;
    int eject_fd;
    uint32_t up, down;  /* announced to the guest, not yet read */
    uint32_t present;   /* slots the guest may eject */
    uint32_t requested; /* unplug asked for, not yet ejected */
    uint32_t ejected;   /* ejected, not yet taken by the owner */
    PciHotplugCounters ctr;
};

static uint32_t popcount32(uint32_t v)
{
    uint32_t n = 0;
    for (; v; v &= v - 1)
        n++;
    return n;
}

static void hp_read(void *opaque, uint64_t offset, uint8_t *data, uint32_t len)
{
    PciHotplug *h = opaque;
    uint32_t v = 0;
    pthread_mutex_lock(&h->lock);
    if (len != 4 || offset % 4) {
        h->ctr.bad_accesses++;
        v = UINT32_MAX;
    } else if (offset == PCI_HOTPLUG_PCIU) {
        v = h->up;
        h->up = 0;
    } else if (offset == PCI_HOTPLUG_PCID) {
        v = h->down;
        h->down = 0;
    }
    pthread_mutex_unlock(&h->lock);
    for (uint32_t i = 0; i < len; i++)
        data[i] = (uint8_t)(v >> (8 * (i % 4)));
}

static void hp_write(void *opaque, uint64_t offset, const uint8_t *data, uint32_t len)
{
    PciHotplug *h = opaque;
    pthread_mutex_lock(&h->lock);
    if (len != 4 || offset != PCI_HOTPLUG_B0EJ) {
        h->ctr.bad_accesses++;
        pthread_mutex_unlock(&h->lock);
        return;
    }
    uint32_t v =
        (uint32_t)data[0] | (uint32_t)data[1] << 8 | (uint32_t)data[2] << 16 | (uint32_t)data[3] << 24;
    uint32_t ok = v & h->present;
    if (v & ~h->present)
        h->ctr.bad_accesses++;
    if (ok) {
        h->present &= ~ok;
        h->requested &= ~ok;
        h->ejected |= ok;
        h->ctr.ejects += popcount32(ok);
        uint64_t one = 1;
        if (write(h->eject_fd, &one, sizeof(one)) < 0) {
            /* saturated: the owner has a wakeup pending anyway */
        }
    }
    pthread_mutex_unlock(&h->lock);
}

PciHotplug *pci_hotplug_new(const IrqLine *irq)
{
    PciHotplug *h = calloc(1, sizeof(*h));
    if (!h)
        return NULL;
    h->eject_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (h->eject_fd < 0) {
        int e = errno;
        free(h);
        errno = e;
        return NULL;
    }
    pthread_mutex_init(&h->lock, NULL);
    h->irq = irq;
    h->bus = (BusDevice){.name = "pci-hotplug", .opaque = h, .read = hp_read, .write = hp_write};
    return h;
}

void pci_hotplug_free(PciHotplug *h)
{
    if (!h)
        return;
    close(h->eject_fd);
    pthread_mutex_destroy(&h->lock);
    free(h);
}

const BusDevice *pci_hotplug_bus_device(PciHotplug *h)
{
    return &h->bus;
}

int pci_hotplug_eject_fd(const PciHotplug *h)
{
    return h->eject_fd;
}

void pci_hotplug_set_present(PciHotplug *h, unsigned slot)
{
    if (!SLOT_OK(slot))
        return;
    pthread_mutex_lock(&h->lock);
    h->present |= 1U << slot;
    pthread_mutex_unlock(&h->lock);
}

void pci_hotplug_plug(PciHotplug *h, unsigned slot)
{
    if (!SLOT_OK(slot))
        return;
    pthread_mutex_lock(&h->lock);
    h->present |= 1U << slot;
    h->down &= ~(1U << slot);
    h->up |= 1U << slot;
    h->ctr.plugs++;
    irq_line_pulse(h->irq);
    pthread_mutex_unlock(&h->lock);
}

int pci_hotplug_request_unplug(PciHotplug *h, unsigned slot)
{
    if (!SLOT_OK(slot))
        return -ENOENT;
    int r = 0;
    pthread_mutex_lock(&h->lock);
    if (!(h->present & (1U << slot))) {
        r = -ENOENT;
    } else if (h->requested & (1U << slot)) {
        r = -EALREADY;
    } else {
        h->requested |= 1U << slot;
        h->up &= ~(1U << slot);
        h->down |= 1U << slot;
        h->ctr.unplug_requests++;
        irq_line_pulse(h->irq);
    }
    pthread_mutex_unlock(&h->lock);
    return r;
}

uint32_t pci_hotplug_take_ejected(PciHotplug *h)
{
    uint64_t v;
    if (read(h->eject_fd, &v, sizeof(v)) < 0) {
        /* EAGAIN: nothing new since the last call, or taken already */
    }
    pthread_mutex_lock(&h->lock);
    uint32_t e = h->ejected;
    h->ejected = 0;
    pthread_mutex_unlock(&h->lock);
    return e;
}

void pci_hotplug_reset(PciHotplug *h)
{
    pthread_mutex_lock(&h->lock);
    h->up = h->down = 0;
    /* A request the old guest never answered is dropped with it:
     * vm.remove-device may ask the new guest. */
    h->requested = 0;
    pthread_mutex_unlock(&h->lock);
}

void pci_hotplug_get_counters(PciHotplug *h, PciHotplugCounters *out)
{
    pthread_mutex_lock(&h->lock);
    *out = h->ctr;
    pthread_mutex_unlock(&h->lock);
}

void pci_hotplug_save(PciHotplug *h, SnapshotWriter *w)
{
    pthread_mutex_lock(&h->lock);
    snapshot_put_u32(w, h->up);
    snapshot_put_u32(w, h->down);
    snapshot_put_u32(w, h->requested);
    pthread_mutex_unlock(&h->lock);
}

int pci_hotplug_load(PciHotplug *h, SnapshotReader *r)
{
    uint32_t up = snapshot_get_u32(r), down = snapshot_get_u32(r), requested = snapshot_get_u32(r);
    if (r->failed)
        return -EINVAL;
    int ret = 0;
    pthread_mutex_lock(&h->lock);
    if ((up | down | requested) & ~h->present)
        ret = -EINVAL;
    else {
        h->up = up;
        h->down = down;
        h->requested = requested;
    }
    pthread_mutex_unlock(&h->lock);
    return ret;
}
