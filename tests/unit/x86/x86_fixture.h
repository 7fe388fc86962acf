/* SPDX-License-Identifier: Apache-2.0 */
/* Shared helpers for the x86 boot and ACPI tests: guest RAM built by hand
 * from host buffers (no KVM), and temporary files for kernel images. */
#pragma once

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "guest_memory.h"
#include "layout.h"

#define MIB (1ULL << 20)
#define GIB (1ULL << 30)

/* RAM of `low` bytes at 0 and `high` bytes at 4 GiB, backed by anonymous
 * mappings so large sizes cost nothing until touched. */
static inline void test_mem_init(GuestMemory *m, uint64_t low, uint64_t high)
{
    memset(m, 0, sizeof(*m));
    m->memfd = -1;
    uint64_t sizes[2] = {low, high}, gpas[2] = {0, LAYOUT_RAM_64BIT_START};
    for (int i = 0; i < 2; i++) {
        if (!sizes[i])
            continue;
        void *p =
            mmap(NULL, sizes[i], PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (p == MAP_FAILED)
            abort();
        m->regions[m->n_regions++] = (GuestRegion){.gpa = gpas[i], .size = sizes[i], .hva = p};
        m->ram_size += sizes[i];
    }
}

static inline void test_mem_free(GuestMemory *m)
{
    for (size_t i = 0; i < m->n_regions; i++)
        munmap(m->regions[i].hva, m->regions[i].size);
    memset(m, 0, sizeof(*m));
}

static inline void put16(uint8_t *p, uint16_t v)
{
    memcpy(p, &v, 2);
}
static inline void put32(uint8_t *p, uint32_t v)
{
    memcpy(p, &v, 4);
}
static inline void put64(uint8_t *p, uint64_t v)
{
    memcpy(p, &v, 8);
}
static inline uint16_t get16(const uint8_t *p)
{
    uint16_t v;
    memcpy(&v, p, 2);
    return v;
}
static inline uint32_t get32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}
static inline uint64_t get64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}
