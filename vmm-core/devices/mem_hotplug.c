/* SPDX-License-Identifier: Apache-2.0 */
#include "mem_hotplug.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

struct MemHotplug {
    pthread_mutex_t lock;
    BusDevice bus;
    const IrqLine *irq;
    HotplugSlots slots;
    MemHotplugCounters ctr;
};

static void mem_hp_read(void *opaque, uint64_t offset, uint8_t *data, uint32_t len)
{
    MemHotplug *h = opaque;
    uint32_t v = UINT32_MAX;
    pthread_mutex_lock(&h->lock);
    if (len != 4 || offset % 4 || offset >= MEM_HOTPLUG_PIO_LEN)
        h->ctr.bad_accesses++;
    else if (offset < MEM_HOTPLUG_MIN)
        v = h->slots.present[offset / 4];
    else
        v = hotplug_slots_take_inserted(&h->slots, (unsigned)(offset - MEM_HOTPLUG_MIN) / 4);
    pthread_mutex_unlock(&h->lock);
    for (uint32_t i = 0; i < len; i++)
        data[i] = (uint8_t)(v >> (8 * (i % 4)));
}

static void mem_hp_write(void *opaque, uint64_t offset, const uint8_t *data, uint32_t len)
{
    MemHotplug *h = opaque;
    (void)offset, (void)data, (void)len;
    pthread_mutex_lock(&h->lock);
    h->ctr.bad_accesses++; /* every register is read-only: memory is never ejected */
    pthread_mutex_unlock(&h->lock);
}

MemHotplug *mem_hotplug_new(const IrqLine *irq, uint32_t n_plugged)
{
    if (n_plugged > MEM_HOTPLUG_SLOTS) {
        errno = EINVAL;
        return NULL;
    }
    MemHotplug *h = calloc(1, sizeof(*h));
    if (!h)
        return NULL;
    pthread_mutex_init(&h->lock, NULL);
    h->irq = irq;
    hotplug_slots_init(&h->slots, n_plugged);
    h->bus = (BusDevice){.name = "mem-hotplug", .opaque = h, .read = mem_hp_read, .write = mem_hp_write};
    return h;
}

void mem_hotplug_free(MemHotplug *h)
{
    if (!h)
        return;
    pthread_mutex_destroy(&h->lock);
    free(h);
}

const BusDevice *mem_hotplug_bus_device(MemHotplug *h)
{
    return &h->bus;
}

void mem_hotplug_plug(MemHotplug *h, uint32_t index)
{
    pthread_mutex_lock(&h->lock);
    if (hotplug_slots_add(&h->slots, index)) {
        h->ctr.plugs++;
        irq_line_pulse(h->irq);
    }
    pthread_mutex_unlock(&h->lock);
}

void mem_hotplug_reset(MemHotplug *h)
{
    pthread_mutex_lock(&h->lock);
    for (unsigned i = 0; i < HOTPLUG_SLOTS_WORDS; i++)
        h->slots.inserted[i] = 0;
    pthread_mutex_unlock(&h->lock);
}

void mem_hotplug_get_counters(MemHotplug *h, MemHotplugCounters *out)
{
    pthread_mutex_lock(&h->lock);
    *out = h->ctr;
    pthread_mutex_unlock(&h->lock);
}

void mem_hotplug_save(MemHotplug *h, SnapshotWriter *w)
{
    pthread_mutex_lock(&h->lock);
    hotplug_slots_save(&h->slots, w);
    pthread_mutex_unlock(&h->lock);
}

int mem_hotplug_load(MemHotplug *h, SnapshotReader *r)
{
    pthread_mutex_lock(&h->lock);
    int ret = hotplug_slots_load(&h->slots, r);
    pthread_mutex_unlock(&h->lock);
    return ret;
}
