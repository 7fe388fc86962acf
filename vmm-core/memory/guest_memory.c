/* SPDX-License-Identifier: Apache-2.0 */
#include "guest_memory.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/memfd.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "layout.h"

#ifndef MAP_HUGE_SHIFT
#define MAP_HUGE_SHIFT 26
#endif

static int fail(char *errbuf, size_t errlen, int r, const char *what)
{
    snprintf(errbuf, errlen, "guest memory: %s: %s", what, strerror(-r));
    return r;
}

/* log2 of a power of two, for MAP_HUGE_* / MFD_HUGE_* encodings. */
static unsigned log2_u64(uint64_t v)
{
    unsigned n = 0;
    while (v > 1) {
        v >>= 1;
        n++;
    }
    return n;
}

static int map_region(GuestMemory *m, const MemoryConfig *cfg, GuestRegion *r, char *errbuf, size_t errlen)
{
    int flags = MAP_NORESERVE;
    int fd = -1;

    if (m->memfd >= 0) {
        flags |= MAP_SHARED;
        fd = m->memfd;
    } else {
        flags |= MAP_PRIVATE | MAP_ANONYMOUS;
        if (cfg->hugepages) {
            flags |= MAP_HUGETLB;
            if (cfg->hugepage_size.present)
                flags |= (int)(log2_u64(cfg->hugepage_size.value) << MAP_HUGE_SHIFT);
        }
    }
    /* Hot-pluggable RAM not plugged yet is only reserved. */
    if (cfg->prefault && r->size == r->reserved)
        flags |= MAP_POPULATE;

    void *p = mmap(NULL, r->reserved, PROT_READ | PROT_WRITE, flags, fd, (off_t)r->file_offset);
    if (p == MAP_FAILED)
        return fail(errbuf, errlen, -errno, cfg->hugepages ? "mmap of huge pages (are enough reserved?)" : "mmap");
    r->hva = p;

    /* Both are hints: a kernel without KSM or THP still runs the guest. */
    if (cfg->mergeable)
        madvise(p, r->reserved, MADV_MERGEABLE);
    if (cfg->thp && !cfg->hugepages)
        madvise(p, r->reserved, MADV_HUGEPAGE);
    else if (!cfg->thp)
        madvise(p, r->reserved, MADV_NOHUGEPAGE);
    /* Guest RAM must not end up in a core dump of the VMM. */
    madvise(p, r->reserved, MADV_DONTDUMP);
    return 0;
}

/* hotplug_size / hotplugged_size as this VMM takes them (Cloud Hypervisor
 * checks them when it builds the VM, too). */
static int check_hotplug(const MemoryConfig *cfg, char *errbuf, size_t errlen)
{
    uint64_t max = cfg->hotplug_size.present ? cfg->hotplug_size.value : 0;
    uint64_t plugged = cfg->hotplugged_size.present ? cfg->hotplugged_size.value : 0;
    if (cfg->hotplugged_size.present && !cfg->hotplug_size.present)
        snprintf(errbuf, errlen, "guest memory: hotplugged_size needs hotplug_size");
    else if (max && (cfg->shared || cfg->hugepages)) /* the memfd holds only size */
        snprintf(errbuf, errlen, "guest memory: hotplug of shared=on or hugepages memory is not supported");
    else if (max % GUEST_MEMORY_HOTPLUG_SLOT || max / GUEST_MEMORY_HOTPLUG_SLOT > GUEST_MEMORY_HOTPLUG_SLOTS)
        snprintf(errbuf, errlen, "guest memory: hotplug_size must be a multiple of 128 MiB, at most %u of them",
                 GUEST_MEMORY_HOTPLUG_SLOTS);
    else if (plugged % GUEST_MEMORY_HOTPLUG_SLOT || plugged > max)
        snprintf(errbuf, errlen, "guest memory: hotplugged_size must be a multiple of 128 MiB, at most hotplug_size");
    else
        return 0;
    return -EINVAL;
}

int guest_memory_create(GuestMemory *m, const MemoryConfig *cfg, char *errbuf, size_t errlen)
{
    memset(m, 0, sizeof(*m));
    m->memfd = -1;

    uint64_t size = cfg->size;
    if (size == 0 || size & 0xfff)
        return fail(errbuf, errlen, -EINVAL, "size must be a non-zero multiple of 4 KiB");
    /* Below this Linux and our own tables do not fit. */
    if (size < (2ULL << 20))
        return fail(errbuf, errlen, -EINVAL, "size must be at least 2 MiB");
    if (cfg->hugepages) {
        uint64_t hp = cfg->hugepage_size.present ? cfg->hugepage_size.value : (2ULL << 20);
        if (size % hp)
            return fail(errbuf, errlen, -EINVAL, "size must be a multiple of the huge page size");
    }

    int r = check_hotplug(cfg, errbuf, errlen);
    if (r < 0)
        return r;

    /* RAM below the 32-bit hole, and the rest above 4 GiB. */
    uint64_t low = size < LAYOUT_MEM_32BIT_GAP_START ? size : LAYOUT_MEM_32BIT_GAP_START;
    m->regions[0] = (GuestRegion){.gpa = 0, .size = low, .file_offset = 0, .reserved = low};
    m->n_regions = 1;
    if (size > low) {
        m->regions[1] = (GuestRegion){
            .gpa = LAYOUT_RAM_64BIT_START, .size = size - low, .file_offset = low, .reserved = size - low};
        m->n_regions = 2;
    }
    m->ram_size = size;
    /* Hot-pluggable RAM right above the rest, on a slot boundary. */
    if (cfg->hotplug_size.present && cfg->hotplug_size.value) {
        uint64_t end = LAYOUT_RAM_64BIT_START + (size - low);
        uint64_t base = (end + GUEST_MEMORY_HOTPLUG_SLOT - 1) & ~(GUEST_MEMORY_HOTPLUG_SLOT - 1);
        uint64_t plugged = cfg->hotplugged_size.present ? cfg->hotplugged_size.value : 0;
        m->regions[m->n_regions++] = (GuestRegion){
            .gpa = base, .size = plugged, .file_offset = size, .reserved = cfg->hotplug_size.value};
        m->ram_size += plugged;
        m->has_hotplug = true;
    }
    m->hugepages = cfg->hugepages;

    /* shared=on (and hugepages, as Cloud Hypervisor does) use a memfd so the
     * memory can be handed to other processes (vhost-user) or snapshotted. */
    if (cfg->shared) {
        unsigned mfd_flags = MFD_CLOEXEC;
        if (cfg->hugepages) {
            mfd_flags |= MFD_HUGETLB;
            if (cfg->hugepage_size.present)
                mfd_flags |= log2_u64(cfg->hugepage_size.value) << MFD_HUGE_SHIFT;
        }
        m->memfd = memfd_create("vmm-guest-ram", mfd_flags);
        if (m->memfd < 0)
            return fail(errbuf, errlen, -errno, "memfd_create");
        if (ftruncate(m->memfd, (off_t)size) < 0) {
            r = -errno;
            guest_memory_destroy(m);
            return fail(errbuf, errlen, r, "ftruncate of the memfd");
        }
    }

    for (size_t i = 0; i < m->n_regions; i++) {
        r = map_region(m, cfg, &m->regions[i], errbuf, errlen);
        if (r < 0) {
            guest_memory_destroy(m);
            return r;
        }
    }
    return 0;
}

const GuestRegion *guest_memory_hotplug_region(const GuestMemory *m)
{
    return m->has_hotplug ? &m->regions[m->n_regions - 1] : NULL;
}

int guest_memory_plug(GuestMemory *m, uint64_t bytes, uint64_t *gpa)
{
    if (!m->has_hotplug || bytes == 0 || bytes % GUEST_MEMORY_HOTPLUG_SLOT)
        return -EINVAL;
    GuestRegion *r = &m->regions[m->n_regions - 1];
    if (bytes > r->reserved - r->size)
        return -ENOSPC;
    *gpa = r->gpa + r->size;
    /* Device workers read sizes without the main thread's locks: they see
     * the old size (and refuse the new range) or the new one. */
    __atomic_store_n(&r->size, r->size + bytes, __ATOMIC_RELEASE);
    __atomic_store_n(&m->ram_size, m->ram_size + bytes, __ATOMIC_RELEASE);
    return 0;
}

void guest_memory_destroy(GuestMemory *m)
{
    for (size_t i = 0; i < m->n_regions; i++)
        if (m->regions[i].hva)
            munmap(m->regions[i].hva, m->regions[i].reserved);
    if (m->memfd >= 0)
        close(m->memfd);
    memset(m, 0, sizeof(*m));
    m->memfd = -1;
}

/* Replaces [p, p+len) of a file-backed region with zero-filled memory. */
static int map_fresh(uint8_t *p, uint64_t len)
{
    if (mmap(p, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE, -1,
             0) == MAP_FAILED)
        return -errno;
    madvise(p, len, MADV_DONTDUMP);
    return 0;
}

int guest_memory_clear(GuestMemory *m)
{
    if (m->file_backed) {
        for (size_t i = 0; i < m->n_regions; i++) {
            int r = map_fresh(m->regions[i].hva, m->regions[i].size);
            if (r < 0)
                return r;
        }
        m->file_backed = false;
        return 0;
    }
    for (size_t i = 0; i < m->n_regions; i++) {
        GuestRegion *r = &m->regions[i];
        if (m->memfd >= 0) {
            /* A shared mapping keeps its pages in the file: punch them out. */
            if (fallocate(m->memfd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)r->file_offset,
                          (off_t)r->size) < 0)
                return -errno;
        } else if (madvise(r->hva, r->size, MADV_DONTNEED) < 0) {
            return -errno;
        }
    }
    return 0;
}

int guest_memory_discard(const GuestMemory *m, uint64_t gpa, uint64_t len)
{
    uint8_t *p = guest_memory_ptr(m, gpa, len);
    if (!p)
        return -EFAULT;
    long page = sysconf(_SC_PAGESIZE);
    uint64_t align = page > 0 ? (uint64_t)page : 4096;
    if (m->hugepages)
        align = 2ULL << 20; /* the smallest hugepage size; a larger one fails below */
    if ((gpa | len) & (align - 1))
        return -EINVAL;
    for (size_t i = 0; i < m->n_regions; i++) {
        const GuestRegion *r = &m->regions[i];
        if (p < r->hva || p >= r->hva + r->size)
            continue;
        if (m->memfd >= 0)
            return fallocate(m->memfd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                             (off_t)(r->file_offset + (uint64_t)(p - r->hva)), (off_t)len) < 0
                       ? -errno
                       : 0;
        if (m->file_backed)
            return map_fresh(p, len);
        return madvise(p, len, MADV_DONTNEED) < 0 ? -errno : 0;
    }
    return -EFAULT;
}

void *guest_memory_ptr(const GuestMemory *m, uint64_t gpa, uint64_t len)
{
    if (len == 0)
        return NULL;
    for (size_t i = 0; i < m->n_regions; i++) {
        const GuestRegion *r = &m->regions[i];
        /* Written so that no sum can wrap: gpa - r->gpa only after gpa >= r->gpa. */
        if (gpa < r->gpa)
            continue;
        uint64_t off = gpa - r->gpa, size = __atomic_load_n(&r->size, __ATOMIC_ACQUIRE);
        if (off >= size || len > size - off)
            continue;
        return r->hva + off;
    }
    return NULL;
}

bool guest_memory_range_ok(const GuestMemory *m, uint64_t gpa, uint64_t len)
{
    return guest_memory_ptr(m, gpa, len) != NULL;
}

int guest_memory_read(const GuestMemory *m, uint64_t gpa, void *buf, size_t len)
{
    if (len == 0)
        return 0;
    void *p = guest_memory_ptr(m, gpa, len);
    if (!p)
        return -EFAULT;
    memcpy(buf, p, len);
    return 0;
}

int guest_memory_write(const GuestMemory *m, uint64_t gpa, const void *buf, size_t len)
{
    if (len == 0)
        return 0;
    void *p = guest_memory_ptr(m, gpa, len);
    if (!p)
        return -EFAULT;
    memcpy(p, buf, len);
    return 0;
}

uint64_t guest_memory_end_below_4g(const GuestMemory *m)
{
    uint64_t end = 0;
    for (size_t i = 0; i < m->n_regions; i++) {
        const GuestRegion *r = &m->regions[i];
        if (r->gpa < LAYOUT_RAM_64BIT_START && r->gpa + r->size > end)
            end = r->gpa + r->size;
    }
    return end;
}
