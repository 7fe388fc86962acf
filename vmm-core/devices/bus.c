/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Address-range dispatch. Ranges are kept sorted by base and never overlap,
 * so a lookup is one binary search. Callbacks run under the read lock: once
 * bus_unregister() returns, no vCPU is still inside that device, and the
 * caller may free it.
 */
#include "bus.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Inclusive last address; callers guarantee len >= 1 and no wrap. */
static uint64_t range_last(const BusRange *r)
{
    return r->base + (r->len - 1);
}

void bus_init(Bus *bus, const char *name)
{
    memset(bus, 0, sizeof(*bus));
    bus->name = name;

    /* vCPUs take the read lock on every exit; without writer preference a
     * busy guest could starve hotplug registration forever. */
    pthread_rwlockattr_t attr;
    pthread_rwlockattr_init(&attr);
    pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(&bus->lock, &attr);
    pthread_rwlockattr_destroy(&attr);
}

void bus_destroy(Bus *bus)
{
    if (!bus)
        return;
    free(bus->ranges);
    bus->ranges = NULL;
    bus->n_ranges = bus->cap = 0;
    pthread_rwlock_destroy(&bus->lock);
}

/* Index of the first range whose base is greater than addr. */
static size_t upper_bound(const Bus *bus, uint64_t addr)
{
    size_t lo = 0, hi = bus->n_ranges;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (bus->ranges[mid].base <= addr)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

int bus_register(Bus *bus, uint64_t base, uint64_t len, const BusDevice *dev)
{
    if (!bus || !dev || len == 0 || len - 1 > UINT64_MAX - base)
        return -EINVAL;
    uint64_t last = base + (len - 1);

    pthread_rwlock_wrlock(&bus->lock);
    int r = 0;
    size_t pos = upper_bound(bus, base);
    /* Only the neighbours can overlap: ranges are sorted and disjoint. */
    if (pos > 0 && range_last(&bus->ranges[pos - 1]) >= base)
        r = -EEXIST;
    else if (pos < bus->n_ranges && bus->ranges[pos].base <= last)
        r = -EEXIST;
    if (r == 0 && bus->n_ranges == bus->cap) {
        size_t cap = bus->cap ? bus->cap * 2 : 16;
        BusRange *grown = cap > SIZE_MAX / sizeof(*grown) ? NULL : realloc(bus->ranges, cap * sizeof(*grown));
        if (!grown) {
            r = -ENOMEM;
        } else {
            bus->ranges = grown;
            bus->cap = cap;
        }
    }
    if (r == 0) {
        memmove(&bus->ranges[pos + 1], &bus->ranges[pos], (bus->n_ranges - pos) * sizeof(*bus->ranges));
        bus->ranges[pos] = (BusRange){.base = base, .len = len, .dev = dev};
        bus->n_ranges++;
    }
    pthread_rwlock_unlock(&bus->lock);
    return r;
}

int bus_unregister(Bus *bus, uint64_t base)
{
    if (!bus)
        return -EINVAL;
    pthread_rwlock_wrlock(&bus->lock);
    int r = -ENOENT;
    size_t pos = upper_bound(bus, base);
    if (pos > 0 && bus->ranges[pos - 1].base == base) {
        pos--;
        memmove(&bus->ranges[pos], &bus->ranges[pos + 1], (bus->n_ranges - pos - 1) * sizeof(*bus->ranges));
        bus->n_ranges--;
        r = 0;
    }
    pthread_rwlock_unlock(&bus->lock);
    return r;
}

/*
 * The range holding the whole access [addr, addr+len), or NULL. An access
 * that starts in a device but runs past its end is refused rather than
 * truncated or handed over: no device ever sees an offset+len beyond what
 * it registered.
 */
static const BusRange *lookup_locked(const Bus *bus, uint64_t addr, uint32_t len)
{
    size_t pos = upper_bound(bus, addr);
    if (pos == 0)
        return NULL;
    const BusRange *r = &bus->ranges[pos - 1];
    uint64_t last = range_last(r);
    if (addr > last || (uint64_t)len - 1 > last - addr)
        return NULL;
    return r;
}

static bool valid_len(uint32_t len)
{
    return len >= 1 && len <= 8;
}

bool bus_read(Bus *bus, uint64_t addr, uint8_t *data, uint32_t len)
{
    if (!bus || !data)
        return false;
    bool handled = false;
    if (valid_len(len)) {
        pthread_rwlock_rdlock(&bus->lock);
        const BusRange *r = lookup_locked(bus, addr, len);
        if (r) {
            handled = true;
            if (r->dev->read)
                r->dev->read(r->dev->opaque, addr - r->base, data, len);
            else
                memset(data, 0xff, len);
        }
        pthread_rwlock_unlock(&bus->lock);
    }
    if (!handled) {
        /* What an unclaimed ISA/PCI read floats to. */
        memset(data, 0xff, len);
        __atomic_fetch_add(&bus->unhandled_reads, 1, __ATOMIC_RELAXED);
    }
    return handled;
}

bool bus_write(Bus *bus, uint64_t addr, const uint8_t *data, uint32_t len)
{
    if (!bus || !data)
        return false;
    bool handled = false;
    if (valid_len(len)) {
        pthread_rwlock_rdlock(&bus->lock);
        const BusRange *r = lookup_locked(bus, addr, len);
        if (r) {
            handled = true;
            if (r->dev->write)
                r->dev->write(r->dev->opaque, addr - r->base, data, len);
        }
        pthread_rwlock_unlock(&bus->lock);
    }
    if (!handled)
        __atomic_fetch_add(&bus->unhandled_writes, 1, __ATOMIC_RELAXED);
    return handled;
}
