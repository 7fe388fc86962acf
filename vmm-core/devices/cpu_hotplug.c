/* SPDX-License-Identifier: Apache-2.0 */
#include "cpu_hotplug.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define WORDS CPU_HOTPLUG_WORDS

struct CpuHotplug {
    pthread_mutex_t lock;
    BusDevice bus;
    const IrqLine *irq;
    int eject_fd;
    HotplugSlots slots;        /* vCPUs present, additions not yet read */
    uint32_t removing[WORDS];  /* removal asked for, not ejected yet */
    uint32_t announced[WORDS]; /* of those, not yet read from CRM */
    uint32_t ejected[WORDS];   /* ejected, not yet taken by the owner */
    CpuHotplugCounters ctr;
};

/* Reading clears: each announcement reaches the guest's _EVT once. */
static uint32_t take_word(uint32_t *words, uint64_t offset)
{
    uint32_t v = words[offset / 4];
    words[offset / 4] = 0;
    return v;
}

static void cpu_hp_read(void *opaque, uint64_t offset, uint8_t *data, uint32_t len)
{
    CpuHotplug *h = opaque;
    uint32_t v = UINT32_MAX;
    pthread_mutex_lock(&h->lock);
    if (len != 4 || offset % 4 || offset >= CPU_HOTPLUG_PIO_LEN)
        h->ctr.bad_accesses++;
    else if (offset < CPU_HOTPLUG_CIN)
        v = h->slots.present[offset / 4];
    else if (offset < CPU_HOTPLUG_CRM)
        v = hotplug_slots_take_inserted(&h->slots, (unsigned)(offset - CPU_HOTPLUG_CIN) / 4);
    else if (offset < CPU_HOTPLUG_CEJ)
        v = take_word(h->announced, offset - CPU_HOTPLUG_CRM);
    else
        v = 0;
    pthread_mutex_unlock(&h->lock);
    for (uint32_t i = 0; i < len; i++)
        data[i] = (uint8_t)(v >> (8 * (i % 4)));
}

static void cpu_hp_write(void *opaque, uint64_t offset, const uint8_t *data, uint32_t len)
{
    CpuHotplug *h = opaque;
    pthread_mutex_lock(&h->lock);
    if (len != 4 || offset % 4 || offset < CPU_HOTPLUG_CEJ || offset >= CPU_HOTPLUG_PIO_LEN) {
        h->ctr.bad_accesses++;
        pthread_mutex_unlock(&h->lock);
        return;
    }
    unsigned w = (unsigned)(offset - CPU_HOTPLUG_CEJ) / 4;
    uint32_t bits =
        (uint32_t)data[0] | (uint32_t)data[1] << 8 | (uint32_t)data[2] << 16 | (uint32_t)data[3] << 24;
    uint32_t taken = bits & h->removing[w];
    if (bits & ~taken)
        h->ctr.bad_accesses++; /* an eject nobody asked for */
    if (taken) {
        h->removing[w] &= ~taken;
        h->announced[w] &= ~taken;
        h->slots.present[w] &= ~taken;
        h->ejected[w] |= taken;
        h->ctr.ejects += (uint64_t)__builtin_popcount(taken);
        uint64_t one = 1;
        if (write(h->eject_fd, &one, sizeof(one)) < 0) {
            /* the counter cannot overflow with one write per eject */
        }
    }
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
    h->eject_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (h->eject_fd < 0) {
        free(h);
        return NULL;
    }
    pthread_mutex_init(&h->lock, NULL);
    h->irq = irq;
    hotplug_slots_init(&h->slots, n_present);
    h->bus = (BusDevice){.name = "cpu-hotplug", .opaque = h, .read = cpu_hp_read, .write = cpu_hp_write};
    return h;
}

void cpu_hotplug_free(CpuHotplug *h)
{
    if (!h)
        return;
    close(h->eject_fd);
    pthread_mutex_destroy(&h->lock);
    free(h);
}

const BusDevice *cpu_hotplug_bus_device(CpuHotplug *h)
{
    return &h->bus;
}

int cpu_hotplug_eject_fd(const CpuHotplug *h)
{
    return h->eject_fd;
}

void cpu_hotplug_plug(CpuHotplug *h, uint32_t index)
{
    if (index >= CPU_HOTPLUG_MAX_VCPUS)
        return;
    pthread_mutex_lock(&h->lock);
    hotplug_slots_add(&h->slots, index);
    h->ctr.plugs++;
    irq_line_pulse(h->irq);
    pthread_mutex_unlock(&h->lock);
}

int cpu_hotplug_request_unplug(CpuHotplug *h, uint32_t index)
{
    if (index >= CPU_HOTPLUG_MAX_VCPUS)
        return -ENOENT;
    uint32_t bit = 1U << (index % 32);
    unsigned w = index / 32;
    int r = 0;
    pthread_mutex_lock(&h->lock);
    if (!(h->slots.present[w] & bit)) {
        r = -ENOENT;
    } else if (h->removing[w] & bit) {
        r = -EALREADY;
    } else {
        h->removing[w] |= bit;
        h->announced[w] |= bit;
        h->ctr.unplug_requests++;
        irq_line_pulse(h->irq);
    }
    pthread_mutex_unlock(&h->lock);
    return r;
}

void cpu_hotplug_cancel_unplug(CpuHotplug *h, uint32_t index)
{
    if (index >= CPU_HOTPLUG_MAX_VCPUS)
        return;
    pthread_mutex_lock(&h->lock);
    h->removing[index / 32] &= ~(1U << (index % 32));
    h->announced[index / 32] &= ~(1U << (index % 32));
    pthread_mutex_unlock(&h->lock);
}

bool cpu_hotplug_unplug_pending(CpuHotplug *h)
{
    uint32_t any = 0;
    pthread_mutex_lock(&h->lock);
    for (unsigned i = 0; i < WORDS; i++)
        any |= h->removing[i];
    pthread_mutex_unlock(&h->lock);
    return any != 0;
}

void cpu_hotplug_take_ejected(CpuHotplug *h, uint32_t out[CPU_HOTPLUG_WORDS])
{
    uint64_t v;
    if (read(h->eject_fd, &v, sizeof(v)) < 0) {
        /* nothing new: EAGAIN */
    }
    pthread_mutex_lock(&h->lock);
    for (unsigned i = 0; i < WORDS; i++) {
        out[i] = h->ejected[i];
        h->ejected[i] = 0;
    }
    pthread_mutex_unlock(&h->lock);
}

void cpu_hotplug_reset(CpuHotplug *h, uint32_t n_present)
{
    pthread_mutex_lock(&h->lock);
    hotplug_slots_init(&h->slots, n_present);
    for (unsigned i = 0; i < WORDS; i++)
        h->removing[i] = h->announced[i] = 0;
    pthread_mutex_unlock(&h->lock);
}

void cpu_hotplug_get_counters(CpuHotplug *h, CpuHotplugCounters *out)
{
    pthread_mutex_lock(&h->lock);
    *out = h->ctr;
    pthread_mutex_unlock(&h->lock);
}

void cpu_hotplug_save(CpuHotplug *h, SnapshotWriter *w)
{
    pthread_mutex_lock(&h->lock);
    hotplug_slots_save(&h->slots, w);
    pthread_mutex_unlock(&h->lock);
}

int cpu_hotplug_load(CpuHotplug *h, SnapshotReader *r)
{
    pthread_mutex_lock(&h->lock);
    int ret = hotplug_slots_load(&h->slots, r);
    pthread_mutex_unlock(&h->lock);
    return ret;
}
