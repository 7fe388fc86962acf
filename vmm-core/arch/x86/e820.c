/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <stdlib.h>

#include "e820.h"
#include "layout.h"

static int push(X86E820Entry *out, size_t max, size_t *n, uint64_t addr, uint64_t size, uint32_t type)
{
    if (size == 0)
        return 0;
    if (*n >= max)
        return -E2BIG;
    out[*n] = (X86E820Entry){.addr = addr, .size = size, .type = type};
    (*n)++;
    return 0;
}

static int cmp_addr(const void *a, const void *b)
{
    const X86E820Entry *x = a, *y = b;
    return x->addr < y->addr ? -1 : x->addr > y->addr;
}

int x86_e820_build(const GuestMemory *mem, X86E820Entry *out, size_t max)
{
    const uint64_t low_res_start = LAYOUT_EBDA_START, low_res_end = LAYOUT_HIGH_MEMORY_START;
    size_t n = 0;
    int r;

    for (size_t i = 0; i < mem->n_regions && i < GUEST_MEMORY_MAX_REGIONS; i++) {
        /* Hot-pluggable RAM is the ACPI memory devices' to announce. */
        if (&mem->regions[i] == guest_memory_hotplug_region(mem))
            continue;
        uint64_t start = mem->regions[i].gpa;
        uint64_t end = start + mem->regions[i].size;

        if (end < start)
            return -EINVAL;
        /* The real-mode BIOS area is backed by RAM but must not be handed to
         * the guest's allocator: the MP table and ACPI tables live there. */
        if (start < low_res_start) {
            r = push(out, max, &n, start, (end < low_res_start ? end : low_res_start) - start, X86_E820_RAM);
            if (r < 0)
                return r;
        }
        if (end > low_res_end) {
            uint64_t s = start > low_res_end ? start : low_res_end;
            r = push(out, max, &n, s, end - s, X86_E820_RAM);
            if (r < 0)
                return r;
        }
    }
    r = push(out, max, &n, low_res_start, low_res_end - low_res_start, X86_E820_RESERVED);
    if (r < 0)
        return r;
    r = push(out, max, &n, LAYOUT_PCI_ECAM_START, LAYOUT_PCI_ECAM_SIZE, X86_E820_RESERVED);
    if (r < 0)
        return r;

    qsort(out, n, sizeof(*out), cmp_addr);
    for (size_t i = 1; i < n; i++)
        if (out[i - 1].addr + out[i - 1].size > out[i].addr)
            return -EINVAL;
    return (int)n;
}
