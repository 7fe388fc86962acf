/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Guest RAM: host mappings of the guest-physical ranges, and the one
 * bounds-checked accessor every device and loader uses. A guest address or
 * length comes from the guest or from a file we do not trust; nothing may
 * turn it into a host pointer except guest_memory_ptr(), which refuses any
 * range not wholly inside one RAM region.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

#define GUEST_MEMORY_MAX_REGIONS 4
/* --memory hotplug_method=acpi: RAM is added in slots of this size (a Linux
 * memory block), at most this many. */
#define GUEST_MEMORY_HOTPLUG_SLOT  (128ULL << 20)
#define GUEST_MEMORY_HOTPLUG_SLOTS 256u

typedef struct GuestRegion {
    uint64_t gpa;  /* guest-physical start */
    uint64_t size; /* bytes the guest has (the hotplug region grows: read it atomically) */
    uint8_t *hva;  /* host mapping */
    uint64_t file_offset; /* offset of this region in the memfd, when shared, and in a snapshot's memory file */
    uint64_t reserved;    /* bytes mapped at hva: size, or the hotplug region's hotplug_size */
} GuestRegion;

typedef struct GuestMemory {
    GuestRegion regions[GUEST_MEMORY_MAX_REGIONS];
    size_t n_regions;
    uint64_t ram_size; /* sum of region sizes: the configured size, plus what was hot-plugged */
    /* With hotplug_size: the last region, reserved from the start, of which
     * the first size bytes are plugged; not in the e820 map (the guest finds
     * it through ACPI memory devices). */
    bool has_hotplug;
    int memfd;         /* -1 unless shared=on or hugepages=on */
    bool hugepages;
    /* The regions are private mappings of a snapshot's memory file
     * (snapshot/snapshot.c): dropping a page there brings back the file's
     * content, not zeros, so clear and discard map fresh memory instead. */
    bool file_backed;
} GuestMemory;

/*
 * Maps cfg->size bytes of RAM split around the 32-bit hole (see
 * arch/x86/layout.h), honouring shared (memfd), hugepages (+hugepage_size),
 * mergeable (MADV_MERGEABLE), thp (MADV_HUGEPAGE) and prefault (MAP_POPULATE).
 * On failure returns -errno and writes a message naming what failed.
 */
int guest_memory_create(GuestMemory *m, const MemoryConfig *cfg, char *errbuf, size_t errlen);
void guest_memory_destroy(GuestMemory *m);
/* Plugs bytes more of the hotplug region (a multiple of the slot size) and
 * returns the guest-physical address they start at; -ENOSPC past
 * hotplug_size, -EINVAL without hotplug or for another size. The new range
 * is visible to guest_memory_ptr() from here on: register it with KVM
 * before telling the guest. */
int guest_memory_plug(GuestMemory *m, uint64_t bytes, uint64_t *gpa);
/* The hotplug region, or NULL. */
const GuestRegion *guest_memory_hotplug_region(const GuestMemory *m);

/* Gives every page back (reads as zero again), for a guest reset. */
int guest_memory_clear(GuestMemory *m);

/* Gives [gpa, gpa+len) back to the host (it reads as zero afterwards):
 * punch hole in the memfd for shared memory, MADV_DONTNEED otherwise.
 * -EFAULT when the range is not wholly in one region, -EINVAL when it is not
 * page-aligned (hugepage-aligned with hugepages). For a balloon. */
int guest_memory_discard(const GuestMemory *m, uint64_t gpa, uint64_t len);
/* Host pointer for [gpa, gpa+len) or NULL when any byte is outside RAM or
 * the range spans two regions (len 0 is refused too). Overflow-safe. */
void *guest_memory_ptr(const GuestMemory *m, uint64_t gpa, uint64_t len);
/* Copies; -EFAULT when the range is not wholly in RAM. */
int guest_memory_read(const GuestMemory *m, uint64_t gpa, void *buf, size_t len);
int guest_memory_write(const GuestMemory *m, uint64_t gpa, const void *buf, size_t len);
/* True when [gpa, gpa+len) lies inside one region. */
bool guest_memory_range_ok(const GuestMemory *m, uint64_t gpa, uint64_t len);
/* Highest guest-physical address of RAM below 4 GiB (exclusive). */
uint64_t guest_memory_end_below_4g(const GuestMemory *m);
