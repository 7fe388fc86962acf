/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The guest's memory map as the BIOS e820 call would report it. One builder
 * feeds both the Linux zero page and the PVH memmap, so the two boot paths
 * can never disagree about what is RAM.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "guest_memory.h"

#define X86_E820_RAM      1
#define X86_E820_RESERVED 2
#define X86_E820_ACPI     3

/* Enough for every region split around the reserved low area, plus the
 * reserved ranges themselves; well under the zero page's 128 slots. */
#define X86_E820_MAX_ENTRIES 16

typedef struct X86E820Entry {
    uint64_t addr;
    uint64_t size;
    uint32_t type;
} X86E820Entry;

/*
 * Fills out[] with the map for mem, sorted by address, non-overlapping:
 * RAM from the regions minus [LAYOUT_EBDA_START, 1 MiB), that hole reserved
 * (EBDA, MP table, ACPI tables, BIOS area), and the PCI ECAM window reserved
 * (Linux only trusts MCFG space the firmware reserved). Returns the number of
 * entries or -E2BIG when max is too small, -EINVAL for overlapping regions.
 */
int x86_e820_build(const GuestMemory *mem, X86E820Entry *out, size_t max);
