/* SPDX-License-Identifier: Apache-2.0 */
#include "cpu_hotplug.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

#define WORDS (CPU_HOTPLUG_MAX_VCPUS / 32)

struct CpuHotplug {
    pthread_mutex_t lock;
    BusDevice bus;
    const IrqLine *irq;
    uint32_t present[WORDS];
    uint32_t inserted[WORDS]; /* announced, not yet read */
    CpuHotplugCounters ctr;
};

static void cpu_hp_read(void *opaque, uint64_t offset, uint8_t *data, uint32_t len)
{
    CpuHotplug *h = opaque;
    uint32_t v = UINT32_MAX;
    pthread_mutex_lock(&h->lock);
    if (len != 4 || offset % 4) {
        h->ctr.bad_accesses++;
    } else if (offset < CPU_HOTPLUG_CIN) {
        v = h->present[offset / 4];
    } else {
        v = h->inserted[(offset - CPU_HOTPLUG_CIN) / 4];
        h->inserted[(offset - CPU_HOTPLUG_CIN) / 4] = 0;
    }
    pthread_mutex_unlock(&h->lock);
    for (uint32_t i = 0; i < len; i++)
        data[i] = (uint8_t)(v >> (8 * (i % 4)));
}

static void cpu_hp_write(void *opaque, uint64_t offset, const uint8_t *data, uint32_t len)
{
    CpuHotplug *h = opaque;
    (void)offset, (void)data, (void)len;
    pthread_mutex_lock(&h->lock);
    h->ctr.bad_accesses++; /* every register is read-only */
    pthread_mutex_unlock(&h->lock);
}

CpuHotplug *cpu_hotplug_new(const IrqLine *irq, uint32_t n_present)
{
    if (n_present > CPU_HOTPLUG_MAX_VCPUS) {
        errno = EINVAL;
        return NULL;
    }
    CpuHotplug *h = calloc(1, sizeof(*h));
    if (!h)
        return NULL;
    pthread_mutex_init(&h->lock, NULL);
    h->irq = irq;
    for (uint32_t i = 0; i < n_present; i++)
        h->present[i / 32] |= 1U << (i % 32);
    h->bus = (BusDevice){.name = "cpu-hotplug", .opaque = h, .read = cpu_hp_read, .write = cpu_hp_write};
    return h;
}

void cpu_hotplug_free(CpuHotplug *h)
{
    if (!h)
        return;
    pthread_mutex_destroy(&h->lock);
    free(h);
}

const BusDevice *cpu_hotplug_bus_device(CpuHotplug *h)
{
    return &h->bus;
}

void cpu_hotplug_plug(CpuHotplug *h, uint32_t index)
{
    if (index >= CPU_HOTPLUG_MAX_VCPUS)
        return;
    pthread_mutex_lock(&h->lock);
    h->present[index / 32] |= 1U << (index % 32);
    h->inserted[index / 32] |= 1U << (index % 32);
    h->ctr.plugs++;
    irq_line_pulse(h->irq);
    pthread_mutex_unlock(&h->lock);
}

void cpu_hotplug_reset(CpuHotplug *h)
{
    pthread_mutex_lock(&h->lock);
    for (unsigned i = 0; i < WORDS; i++)
        h->inserted[i] = 0;
    pthread_mutex_unlock(&h->lock);
}

void cpu_hotplug_get_counters(CpuHotplug *h, CpuHotplugCounters *out)
{
    pthread_mutex_lock(&h->lock);
    *out = h->ctr;
    pthread_mutex_unlock(&h->lock);
}
