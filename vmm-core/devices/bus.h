/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Port-I/O and MMIO buses: devices register address ranges, the vCPU loop
 * dispatches exits by address. Lookup is a sorted array and a binary search;
 * registration happens before vCPUs start (and under the write lock later,
 * for hotplug), dispatch takes the read lock. Each device serialises its own
 * state (vCPUs may hit one device concurrently).
 */
#pragma once

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct BusDevice {
    const char *name;
    void *opaque;
    /* offset is relative to the registered base; len is 1, 2, 4 or 8. */
    void (*read)(void *opaque, uint64_t offset, uint8_t *data, uint32_t len);
    void (*write)(void *opaque, uint64_t offset, const uint8_t *data, uint32_t len);
} BusDevice;

typedef struct BusRange {
    uint64_t base;
    uint64_t len;
    const BusDevice *dev;
} BusRange;

typedef struct Bus {
    const char *name; /* "pio" or "mmio", for messages */
    pthread_rwlock_t lock;
    BusRange *ranges;
    size_t n_ranges, cap;
    uint64_t unhandled_reads, unhandled_writes; /* counted, never fatal */
} Bus;

void bus_init(Bus *bus, const char *name);
void bus_destroy(Bus *bus);
/* -EEXIST when [base, base+len) overlaps a registered range; -EINVAL for len 0 or wrap. */
int bus_register(Bus *bus, uint64_t base, uint64_t len, const BusDevice *dev);
int bus_unregister(Bus *bus, uint64_t base);
/* Unhandled reads return all ones and are counted; unhandled writes are counted. */
bool bus_read(Bus *bus, uint64_t addr, uint8_t *data, uint32_t len);
bool bus_write(Bus *bus, uint64_t addr, const uint8_t *data, uint32_t len);
