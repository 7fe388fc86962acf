/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Validation of a VmConfig.
 *
 * vm_config_validate() follows Cloud Hypervisor's VmConfig::validate(): the
 * same checks, in the same order, with the same messages, so that a config
 * CH refuses is refused here with the error a CH user expects (the first
 * failing check decides which error is reported). Where CH's arithmetic can
 * wrap (u8 topology product, u64 RAM sum) we compute exactly instead.
 *
 * vm_config_check_supported() is ours: it refuses valid configs asking for
 * something this VMM does not implement, instead of silently ignoring it.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define VALIDATION_FAIL(err, code, fmt, ...)                                                                 \
    config_error_set(err, code, "Error validating configuration: " fmt, ##__VA_ARGS__)

/* ------------------------------------------------------------- string set */

/*
 * An open-addressing set of borrowed strings with a u32 value per key. The
 * identifier, device path and NUMA memory-zone checks all ask "seen before?"
 * for lists that a JSON document can make large, so a quadratic scan is not
 * an option.
 */
typedef struct StrMap {
    const char **keys;
    uint32_t *values;
    size_t cap; /* power of two, or 0 */
    size_t len;
} StrMap;

static uint64_t str_hash(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ULL; /* FNV-1a */
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 0x100000001b3ULL;
    }
    return h;
}

static void strmap_free(StrMap *m)
{
    free(m->keys);
    free(m->values);
    memset(m, 0, sizeof(*m));
}

/* Returns the slot holding key, or the empty slot where it would go. */
static size_t strmap_slot(const StrMap *m, const char *key)
{
    size_t i = (size_t)str_hash(key) & (m->cap - 1);
    while (m->keys[i] && strcmp(m->keys[i], key) != 0)
        i = (i + 1) & (m->cap - 1);
    return i;
}

static int strmap_grow(StrMap *m)
{
    size_t cap = m->cap ? m->cap * 2 : 16;
    if (cap < m->cap)
        return -ENOMEM;
    StrMap n = {.keys = calloc(cap, sizeof(*n.keys)), .values = calloc(cap, sizeof(*n.values)), .cap = cap};
    if (!n.keys || !n.values) {
        strmap_free(&n);
        return -ENOMEM;
    }
    for (size_t i = 0; i < m->cap; i++) {
        if (m->keys[i]) {
            size_t s = strmap_slot(&n, m->keys[i]);
            n.keys[s] = m->keys[i];
            n.values[s] = m->values[i];
            n.len++;
        }
    }
    strmap_free(m);
    *m = n;
    return 0;
}

/* Returns the existing entry's value through *old and 1 if key is present,
 * 0 after inserting it, or -ENOMEM. */
static int strmap_insert(StrMap *m, const char *key, uint32_t value, uint32_t *old)
{
    if (m->cap) {
        size_t s = strmap_slot(m, key);
        if (m->keys[s]) {
            if (old)
                *old = m->values[s];
            return 1;
        }
    }
    /* Keep the load factor under 1/2 so probing stays short. */
    if ((m->len + 1) * 2 > m->cap && strmap_grow(m) < 0)
        return -ENOMEM;
    size_t s = strmap_slot(m, key);
    m->keys[s] = key;
    m->values[s] = value;
    m->len++;
    return 0;
}

static int no_memory(ConfigError *err)
{
    return config_error_set(err, CONFIG_ERR_NO_MEMORY, "Error validating configuration: out of memory");
}

/* CH's validate_identifier(): ids are optional; "__" is reserved for ids the
 * VMM generates itself, and every id must be unique across all device kinds. */
static int validate_identifier(StrMap *ids, const char *id, ConfigError *err)
{
    if (!id)
        return 0;
    if (strncmp(id, "__", 2) == 0)
        return VALIDATION_FAIL(err, CONFIG_ERR_INVALID_IDENTIFIER, "Identifier %s is invalid", id);
    int r = strmap_insert(ids, id, 0, NULL);
    if (r < 0)
        return no_memory(err);
    if (r > 0)
        return VALIDATION_FAIL(err, CONFIG_ERR_IDENTIFIER_NOT_UNIQUE, "Identifier %s is not unique", id);
    return 0;
}

/* ------------------------------------------------------- per-item checks */

static bool segment_listed(const PlatformConfig *p, uint16_t segment)
{
    for (size_t i = 0; i < p->n_iommu_segments; i++)
        if (p->iommu_segments[i] == segment)
            return true;
    return false;
}

/*
 * The PCI segment part shared by every device's validate() in CH. Devices
 * that can sit behind the virtual IOMMU must opt in when placed on an IOMMU
 * segment; those that cannot (vhost-user-fs, vfio-user) must stay off it.
 * Without --platform CH does not look at pci_segment at all.
 */
static int validate_pci_segment(const VmConfig *c, uint16_t segment, bool can_iommu, bool iommu,
                                ConfigError *err)
{
    if (!c->has_platform)
        return 0;
    if (segment >= c->platform.num_pci_segments)
        return VALIDATION_FAIL(err, CONFIG_ERR_INVALID_PCI_SEGMENT, "Invalid PCI segment id: %u", segment);
    if (!segment_listed(&c->platform, segment))
        return 0;
    if (!can_iommu)
        return VALIDATION_FAIL(err, CONFIG_ERR_IOMMU_NOT_SUPPORTED_ON_SEGMENT,
                               "Device is on an IOMMU PCI segment (%u) but does not support being placed "
                               "behind IOMMU",
                               segment);
    if (!iommu)
        return VALIDATION_FAIL(err, CONFIG_ERR_ON_IOMMU_SEGMENT,
                               "Device is on an IOMMU PCI segment (%u) but not placed behind IOMMU", segment);
    return 0;
}

static int validate_platform(const PlatformConfig *p, ConfigError *err)
{
    if (p->num_pci_segments == 0 || p->num_pci_segments > MAX_NUM_PCI_SEGMENTS)
        return VALIDATION_FAIL(err, CONFIG_ERR_INVALID_NUM_PCI_SEGMENTS,
                               "Number of PCI segments (%u) not in range of 1 to %u", p->num_pci_segments,
                               MAX_NUM_PCI_SEGMENTS);
    for (size_t i = 0; i < p->n_iommu_segments; i++)
        if (p->iommu_segments[i] >= p->num_pci_segments)
            return VALIDATION_FAIL(err, CONFIG_ERR_INVALID_PCI_SEGMENT, "Invalid PCI segment id: %u",
                                   p->iommu_segments[i]);
    return 0;
}

static int validate_rate_limit_group(const RateLimiterGroupConfig *g, ConfigError *err)
{
    /* A group that limits nothing, or that no disk can name, is a mistake. */
    if (!g->rate_limiter_config.has_bandwidth && !g->rate_limiter_config.has_ops)
        return VALIDATION_FAIL(err, CONFIG_ERR_INVALID_RATE_LIMITER_GROUP, "Invalid rate-limiter group");
    if (!g->id || g->id[0] == '\0')
        return VALIDATION_FAIL(err, CONFIG_ERR_INVALID_RATE_LIMITER_GROUP, "Invalid rate-limiter group");
    return 0;
}

static int validate_disk(const VmConfig *c, const DiskConfig *d, ConfigError *err)
{
    if (d->num_queues > c->cpus.boot_vcpus)
        return VALIDATION_FAIL(err, CONFIG_ERR_TOO_MANY_QUEUES,
                               "Number of vCPUs is insufficient for number of queues");
    if (d->vhost_user && d->iommu)
        return VALIDATION_FAIL(err, CONFIG_ERR_IOMMU_NOT_SUPPORTED,
                               "Device does not support being placed behind IOMMU");
    int r = validate_pci_segment(c, d->pci_segment, true, d->iommu, err);
    if (r < 0)
        return r;
    if (d->has_rate_limiter_config && d->rate_limit_group)
        return VALIDATION_FAIL(err, CONFIG_ERR_INVALID_RATE_LIMITER_GROUP, "Invalid rate-limiter group");
    return 0;
}

static int validate_net(const VmConfig *c, const NetConfig *n, ConfigError *err)
{
    if (n->num_queues < 2)
        return VALIDATION_FAIL(err, CONFIG_ERR_VNET_QUEUE_LOWER_THAN_2,
                               "Number of queues to virtio_net less than 2");
    /* One fd per queue pair. n_fds is bounded by the input size, so the
     * product cannot wrap. */
    if (n->n_fds && n->n_fds * 2 != n->num_queues)
        return VALIDATION_FAIL(err, CONFIG_ERR_VNET_QUEUE_FD_MISMATCH,
                               "Number of queues to virtio_net does not match the number of input FDs");
    for (size_t i = 0; i < n->n_fds; i++)
        if (n->fds[i] <= 2)
            return VALIDATION_FAIL(err, CONFIG_ERR_VNET_RESERVED_FD, "Reserved fd number (<= 2)");
    if (n->num_queues / 2 > c->cpus.boot_vcpus)
        return VALIDATION_FAIL(err, CONFIG_ERR_TOO_MANY_QUEUES,
                               "Number of vCPUs is insufficient for number of queues");
    if (n->vhost_user && n->iommu)
        return VALIDATION_FAIL(err, CONFIG_ERR_IOMMU_NOT_SUPPORTED,
                               "Device does not support being placed behind IOMMU");
    int r = validate_pci_segment(c, n->pci_segment, true, n->iommu, err);
    if (r < 0)
        return r;
    if (n->mtu.present && n->mtu.value < VIRTIO_NET_MIN_MTU)
        return VALIDATION_FAIL(err, CONFIG_ERR_INVALID_MTU,
                               "Provided MTU %u is lower than 1280 (expected by VIRTIO specification)",
                               n->mtu.value);
    /* TSO/UFO need checksum offload. The message is CH's, typo included. */
    if (!n->offload_csum && (n->offload_tso || n->offload_ufo))
        return VALIDATION_FAIL(err, CONFIG_ERR_NO_HARDWARE_CHECKSUM_OFFLOAD,
                               "\"offload_tso\" and \"offload_ufo\" depend on \"offload_tso\"");
    return 0;
}

static int validate_fs(const VmConfig *c, const FsConfig *f, ConfigError *err)
{
    if (f->num_queues > c->cpus.boot_vcpus)
        return VALIDATION_FAIL(err, CONFIG_ERR_TOO_MANY_QUEUES,
                               "Number of vCPUs is insufficient for number of queues");
    return validate_pci_segment(c, f->pci_segment, false, false, err);
}

/* ------------------------------------------------------------ NUMA checks */

static int validate_numa(const VmConfig *c, ConfigError *err)
{
    uint16_t num_pci_segments = c->has_platform ? c->platform.num_pci_segments : 1;
    StrMap zones = {0};
    /* Segment ids are u16: a direct table is simpler than hashing. Only
     * allocated when some node lists segments. */
    uint32_t *segment_node = NULL;
    uint8_t *segment_used = NULL;
    int r = 0;

    for (size_t i = 0; i < c->n_numa && r == 0; i++) {
        const NumaConfig *node = &c->numa[i];
        for (size_t z = 0; z < node->n_memory_zones; z++) {
            uint32_t first = 0;
            int ins = strmap_insert(&zones, node->memory_zones[z], node->guest_numa_id, &first);
            if (ins < 0) {
                r = no_memory(err);
                break;
            }
            if (ins > 0) {
                r = VALIDATION_FAIL(err, CONFIG_ERR_MEMORY_ZONE_REUSED,
                                    "Memory zone: %s belongs to multiple NUMA nodes %u and %u",
                                    node->memory_zones[z], first, node->guest_numa_id);
                break;
            }
        }
        if (r)
            break;
        if (node->n_pci_segments && !segment_node) {
            segment_node = calloc(UINT16_MAX + 1, sizeof(*segment_node));
            segment_used = calloc(UINT16_MAX + 1, sizeof(*segment_used));
            if (!segment_node || !segment_used) {
                r = no_memory(err);
                break;
            }
        }
        for (size_t s = 0; s < node->n_pci_segments; s++) {
            uint16_t seg = node->pci_segments[s];
            if (seg >= num_pci_segments) {
                r = VALIDATION_FAIL(err, CONFIG_ERR_INVALID_PCI_SEGMENT, "Invalid PCI segment id: %u", seg);
                break;
            }
            /* Segment 0 hosts the default devices; it belongs to node 0. */
            if (seg == 0 && node->guest_numa_id != 0) {
                r = VALIDATION_FAIL(err, CONFIG_ERR_DEFAULT_PCI_SEGMENT_INVALID_NODE,
                                    "Default PCI segment assigned to non-zero NUMA node %u",
                                    node->guest_numa_id);
                break;
            }
            if (segment_used[seg]) {
                r = VALIDATION_FAIL(err, CONFIG_ERR_PCI_SEGMENT_REUSED,
                                    "PCI segment: %u belongs to multiple NUMA nodes %u and %u", seg,
                                    segment_node[seg], node->guest_numa_id);
                break;
            }
            segment_used[seg] = 1;
            segment_node[seg] = node->guest_numa_id;
        }
    }
    strmap_free(&zones);
    free(segment_node);
    free(segment_used);
    return r;
}

/* ----------------------------------------------------------- the VM check */

static int validate_all(VmConfig *c, StrMap *ids, StrMap *paths, ConfigError *err)
{
    int r;

    if (!c->has_payload)
        return VALIDATION_FAIL(err, CONFIG_ERR_KERNEL_MISSING, "No kernel specified");

    /* serial=tty plus console=tty is allowed on purpose (boot logs on the
     * serial port, the rest on virtio-console); CH only warns about it. */
    if (c->console.mode == CONSOLE_MODE_FILE && !c->console.file)
        return VALIDATION_FAIL(err, CONFIG_ERR_CONSOLE_FILE_MISSING,
                               "Path missing when using file console mode");
    if (c->serial.mode == CONSOLE_MODE_FILE && !c->serial.file)
        return VALIDATION_FAIL(err, CONFIG_ERR_CONSOLE_FILE_MISSING,
                               "Path missing when using file console mode");

    if (c->cpus.max_vcpus < c->cpus.boot_vcpus)
        return VALIDATION_FAIL(err, CONFIG_ERR_CPUS_MAX_LOWER_THAN_BOOT, "Max CPUs lower than boot CPUs");

    for (size_t i = 0; i < c->n_rate_limit_groups; i++) {
        const RateLimiterGroupConfig *g = &c->rate_limit_groups[i];
        if ((r = validate_rate_limit_group(g, err)) < 0)
            return r;
        if ((r = validate_identifier(ids, g->id, err)) < 0)
            return r;
    }

    for (size_t i = 0; i < c->n_disks; i++) {
        const DiskConfig *d = &c->disks[i];
        if (d->vhost_socket && d->path)
            return VALIDATION_FAIL(err, CONFIG_ERR_DISK_SOCKET_AND_PATH,
                                   "Disk path and vhost socket both provided");
        /* The vhost-user backend maps guest RAM, so RAM must be shareable. */
        if (d->vhost_user && !vm_config_backed_by_shared_memory(c))
            return VALIDATION_FAIL(err, CONFIG_ERR_VHOST_USER_REQUIRES_SHARED_MEMORY,
                                   "Using vhost-user requires using shared memory or huge pages");
        if (d->vhost_user && !d->vhost_socket)
            return VALIDATION_FAIL(err, CONFIG_ERR_VHOST_USER_MISSING_SOCKET,
                                   "No socket provided when using vhost-user");
        if (d->rate_limit_group) {
            bool found = false;
            for (size_t g = 0; g < c->n_rate_limit_groups && !found; g++)
                found = c->rate_limit_groups[g].id &&
                        strcmp(c->rate_limit_groups[g].id, d->rate_limit_group) == 0;
            if (!found)
                return VALIDATION_FAIL(err, CONFIG_ERR_INVALID_RATE_LIMITER_GROUP,
                                       "Invalid rate-limiter group");
        }
        if ((r = validate_disk(c, d, err)) < 0)
            return r;
        c->iommu |= d->iommu;
        if ((r = validate_identifier(ids, d->id, err)) < 0)
            return r;
    }

    for (size_t i = 0; i < c->n_net; i++) {
        const NetConfig *n = &c->net[i];
        if (n->vhost_user && !vm_config_backed_by_shared_memory(c))
            return VALIDATION_FAIL(err, CONFIG_ERR_VHOST_USER_REQUIRES_SHARED_MEMORY,
                                   "Using vhost-user requires using shared memory or huge pages");
        if ((r = validate_net(c, n, err)) < 0)
            return r;
        c->iommu |= n->iommu;
        if ((r = validate_identifier(ids, n->id, err)) < 0)
            return r;
    }

    /* virtio-fs is always vhost-user. */
    if (c->n_fs && !vm_config_backed_by_shared_memory(c))
        return VALIDATION_FAIL(err, CONFIG_ERR_VHOST_USER_REQUIRES_SHARED_MEMORY,
                               "Using vhost-user requires using shared memory or huge pages");
    for (size_t i = 0; i < c->n_fs; i++) {
        if ((r = validate_fs(c, &c->fs[i], err)) < 0)
            return r;
        if ((r = validate_identifier(ids, c->fs[i].id, err)) < 0)
            return r;
    }

    for (size_t i = 0; i < c->n_pmem; i++) {
        const PmemConfig *p = &c->pmem[i];
        if ((r = validate_pci_segment(c, p->pci_segment, true, p->iommu, err)) < 0)
            return r;
        c->iommu |= p->iommu;
        if ((r = validate_identifier(ids, p->id, err)) < 0)
            return r;
    }

    c->iommu |= c->rng.iommu;
    c->iommu |= c->console.iommu;

    if (c->cpus.has_topology) {
        const CpuTopology *t = &c->cpus.topology;
        if (t->threads_per_core == 0 || t->cores_per_die == 0 || t->dies_per_package == 0 || t->packages == 0)
            return VALIDATION_FAIL(err, CONFIG_ERR_CPU_TOPOLOGY_ZERO_PART,
                                   "No part of the CPU topology can be zero");
        /* CH multiplies in u8, which wraps (16*16 == 0); 255^4 fits in 64 bits,
         * so a product too large for max_vcpus simply never matches. */
        uint64_t total = (uint64_t)t->threads_per_core * t->cores_per_die * t->dies_per_package * t->packages;
        if (total != c->cpus.max_vcpus)
            return VALIDATION_FAIL(err, CONFIG_ERR_CPU_TOPOLOGY_COUNT,
                                   "Product of CPU topology parts does not match maximum vCPUs");
    }

    if (c->memory.hugepage_size.present) {
        uint64_t size = c->memory.hugepage_size.value;
        if (!c->memory.hugepages)
            return VALIDATION_FAIL(err, CONFIG_ERR_HUGE_PAGE_SIZE_WITHOUT_HUGE_PAGES,
                                   "Huge page size specified but huge pages not enabled");
        /* Zero is not a power of two (as in Rust's is_power_of_two()). */
        if (size == 0 || (size & (size - 1)) != 0)
            return VALIDATION_FAIL(err, CONFIG_ERR_INVALID_HUGE_PAGE_SIZE,
                                   "Huge page size is not power of 2: %llu", (unsigned long long)size);
    }

    /* vfio-user devices DMA into guest RAM from another process. */
    if (c->n_user_devices && !vm_config_backed_by_shared_memory(c))
        return VALIDATION_FAIL(err, CONFIG_ERR_USER_DEVICES_REQUIRE_SHARED_MEMORY,
                               "Using user devices requires using shared memory or huge pages");
    for (size_t i = 0; i < c->n_user_devices; i++) {
        const UserDeviceConfig *u = &c->user_devices[i];
        if ((r = validate_pci_segment(c, u->pci_segment, false, false, err)) < 0)
            return r;
        if ((r = validate_identifier(ids, u->id, err)) < 0)
            return r;
    }

    for (size_t i = 0; i < c->n_vdpa; i++) {
        const VdpaConfig *v = &c->vdpa[i];
        if ((r = validate_pci_segment(c, v->pci_segment, true, v->iommu, err)) < 0)
            return r;
        c->iommu |= v->iommu;
        if ((r = validate_identifier(ids, v->id, err)) < 0)
            return r;
    }

    /* VMADDR_CID_ANY, the hypervisor, local and host CIDs cannot name a guest. */
    if (c->has_vsock) {
        uint32_t cid = c->vsock.cid;
        if (cid == UINT32_MAX || cid == 0 || cid == 1 || cid == 2)
            return VALIDATION_FAIL(err, CONFIG_ERR_VSOCK_SPECIAL_CID, "%u is a special VSOCK CID", cid);
    }

    if (c->has_balloon) {
        /* CH's u64 sum can wrap; a RAM size beyond 2^64 is larger than any
         * balloon, so an overflow means the balloon fits. */
        uint64_t ram = c->memory.size;
        bool overflow = false;
        for (size_t i = 0; i < c->memory.n_zones && !overflow; i++)
            overflow = __builtin_add_overflow(ram, c->memory.zones[i].size, &ram);
        if (!overflow && c->balloon.size >= ram)
            return VALIDATION_FAIL(err, CONFIG_ERR_BALLOON_LARGER_THAN_RAM,
                                   "Ballon size (%llu) greater than RAM (%llu)",
                                   (unsigned long long)c->balloon.size, (unsigned long long)ram);
    }

    for (size_t i = 0; i < c->n_devices; i++) {
        const DeviceConfig *d = &c->devices[i];
        /* Passing the same host device twice cannot work. A missing path
         * (impossible from the parsers) compares as the empty path. */
        const char *path = d->path ? d->path : "";
        int ins = strmap_insert(paths, path, 0, NULL);
        if (ins < 0)
            return no_memory(err);
        if (ins > 0)
            return VALIDATION_FAIL(err, CONFIG_ERR_DUPLICATE_DEVICE_PATH, "Duplicated device path: %s", path);
        if ((r = validate_pci_segment(c, d->pci_segment, true, d->iommu, err)) < 0)
            return r;
        c->iommu |= d->iommu;
        if ((r = validate_identifier(ids, d->id, err)) < 0)
            return r;
    }

    if (c->has_vsock) {
        if ((r = validate_pci_segment(c, c->vsock.pci_segment, true, c->vsock.iommu, err)) < 0)
            return r;
        c->iommu |= c->vsock.iommu;
        if ((r = validate_identifier(ids, c->vsock.id, err)) < 0)
            return r;
    }

    if ((r = validate_numa(c, err)) < 0)
        return r;

    /* Zone and SGX EPC ids are mandatory in the parsers, so NULL (only
     * possible from hand-built configs) is skipped rather than dereferenced. */
    for (size_t i = 0; i < c->memory.n_zones; i++)
        if ((r = validate_identifier(ids, c->memory.zones[i].id, err)) < 0)
            return r;
    for (size_t i = 0; i < c->n_sgx_epc; i++)
        if ((r = validate_identifier(ids, c->sgx_epc[i].id, err)) < 0)
            return r;

    if (c->has_platform) {
        if ((r = validate_platform(&c->platform, err)) < 0)
            return r;
        /* Even an empty iommu_segments list asks for a virtual IOMMU. */
        c->iommu |= c->platform.has_iommu_segments;
    }
    return 0;
}

int vm_config_validate(VmConfig *c, ConfigError *err)
{
    StrMap ids = {0}, paths = {0};
    int r = validate_all(c, &ids, &paths, err);
    strmap_free(&ids);
    strmap_free(&paths);
    return r;
}

/* ------------------------------------------------------ supported subset */

/*
 * Each entry refuses one thing this VMM does not implement. The predicate
 * receives a config that already passed vm_config_validate(). Order matters
 * only for which message a config with several problems gets: whole devices
 * come before their options (a vfio device with iommu=on is reported as
 * "--device", not as "iommu").
 */
typedef struct Unsupported {
    bool (*present)(const VmConfig *c);
    const char *what; /* "<CH option> (<what it is>)" */
} Unsupported;

#define ANY(list, n, cond)                                                                                   \
    ({                                                                                                       \
        bool any_ = false;                                                                                   \
        for (size_t i_ = 0; i_ < (n) && !any_; i_++) {                                                       \
            __typeof__(&(list)[0]) it = &(list)[i_];                                                         \
            any_ = (cond);                                                                                   \
        }                                                                                                    \
        any_;                                                                                                \
    })

static bool has_firmware(const VmConfig *c)
{
    return c->has_payload && c->payload.firmware;
}
static bool lacks_kernel(const VmConfig *c)
{
    return c->has_payload && !c->payload.firmware && !c->payload.kernel;
}
static bool has_devices(const VmConfig *c)
{
    return c->n_devices > 0;
}
static bool has_user_devices(const VmConfig *c)
{
    return c->n_user_devices > 0;
}
static bool has_vdpa(const VmConfig *c)
{
    return c->n_vdpa > 0;
}
static bool has_fs(const VmConfig *c)
{
    return c->n_fs > 0;
}
static bool has_pmem(const VmConfig *c)
{
    return c->n_pmem > 0;
}
static bool has_sgx_epc(const VmConfig *c)
{
    return c->n_sgx_epc > 0;
}
static bool has_tpm(const VmConfig *c)
{
    return c->has_tpm;
}
static bool has_numa(const VmConfig *c)
{
    return c->n_numa > 0;
}
static bool has_watchdog(const VmConfig *c)
{
    return c->watchdog;
}
static bool has_vhost_user_disk(const VmConfig *c)
{
    return ANY(c->disks, c->n_disks, it->vhost_user || it->vhost_socket);
}
static bool has_vhost_user_net(const VmConfig *c)
{
    return ANY(c->net, c->n_net, it->vhost_user || it->vhost_socket);
}
static bool has_disk_without_path(const VmConfig *c)
{
    return ANY(c->disks, c->n_disks, !it->path);
}
static bool has_kvm_hyperv(const VmConfig *c)
{
    return c->cpus.kvm_hyperv;
}
static bool has_amx(const VmConfig *c)
{
    return c->cpus.features.amx;
}
/* ACPI hotplug of --memory's private RAM is built (guest_memory.c); the
 * other kinds are not. */
static bool has_unsupported_memory_hotplug(const VmConfig *c)
{
    const MemoryConfig *m = &c->memory;
    bool hotplug = m->hotplug_size.present || m->hotplugged_size.present;
    return (hotplug && (m->hotplug_method != HOTPLUG_METHOD_ACPI || m->shared || m->hugepages)) ||
           ANY(m->zones, m->n_zones, it->hotplug_size.present || it->hotplugged_size.present);
}
static bool has_memory_zones(const VmConfig *c)
{
    return c->memory.n_zones > 0;
}
static bool has_pci_segments(const VmConfig *c)
{
    return c->has_platform && c->platform.num_pci_segments > 1;
}
static bool has_nonzero_pci_segment(const VmConfig *c)
{
    /* Without --platform, CH's validation ignores pci_segment entirely. */
    return ANY(c->disks, c->n_disks, it->pci_segment != 0) || ANY(c->net, c->n_net, it->pci_segment != 0) ||
           (c->has_vsock && c->vsock.pci_segment != 0);
}
static bool has_iommu_segments(const VmConfig *c)
{
    return c->has_platform && c->platform.has_iommu_segments;
}
static bool has_device_iommu(const VmConfig *c)
{
    return c->iommu || ANY(c->disks, c->n_disks, it->iommu) || ANY(c->net, c->n_net, it->iommu) ||
           c->rng.iommu || c->console.iommu || (c->has_vsock && c->vsock.iommu);
}

/* Devices whose backends are still being written (issue 4): refused rather
 * than booting a VM that silently lacks them. Each row goes when its
 * device lands. */

static const Unsupported unsupported[] = {
    /* Boot: only direct kernel boot (PVH / bzImage) is implemented so far. */
    {has_firmware, "--firmware (firmware boot)"},
    {lacks_kernel, "a payload without --kernel"},
    /* Device passthrough needs VFIO container/group plumbing and an IOMMU
     * model we do not have and do not plan. */
    {has_devices, "--device (VFIO passthrough)"},
    {has_user_devices, "--user-device (vfio-user)"},
    {has_vdpa, "--vdpa (vhost-vdpa)"},
    /* Out-of-process vhost-user backends are not implemented. */
    {has_fs, "--fs (vhost-user-fs)"},
    {has_vhost_user_disk, "--disk vhost_user=on/socket= (vhost-user-blk)"},
    {has_vhost_user_net, "--net vhost_user=on/socket= (vhost-user-net)"},
    /* Disks are raw image files; a disk without path= has no backend. */
    {has_disk_without_path, "--disk without path="},
    {has_pmem, "--pmem (virtio-pmem)"},
    {has_sgx_epc, "--sgx-epc (Intel SGX)"},
    {has_tpm, "--tpm (TPM emulation)"},
    {has_watchdog, "--watchdog (virtio-watchdog)"},
    /* Hyper-V enlightenments and AMX state permission are not set up. */
    {has_kvm_hyperv, "--cpus kvm_hyperv=on (Hyper-V enlightenments)"},
    {has_amx, "--cpus features=amx"},
    /* Guest RAM is one anonymous or shared region (plus, with ACPI hotplug,
     * a private one that grows): no virtio-mem, no per-zone backing, no
     * guest NUMA. */
    {has_unsupported_memory_hotplug,
     "memory hotplug other than hotplug_method=acpi of private --memory (virtio-mem, shared=on, hugepages, "
     "--memory-zone hotplug_size/hotplugged_size)"},
    {has_memory_zones, "--memory-zone (memory zones)"},
    {has_numa, "--numa (guest NUMA topology)"},
    /* A single PCI segment and no virtual IOMMU. */
    {has_pci_segments, "--platform num_pci_segments > 1 (multiple PCI segments)"},
    {has_nonzero_pci_segment, "pci_segment other than 0"},
    {has_iommu_segments, "--platform iommu_segments (virtio-iommu)"},
    {has_device_iommu, "iommu=on (virtio-iommu)"},
};

int vm_config_check_supported(const VmConfig *c, ConfigError *err)
{
    for (size_t i = 0; i < sizeof(unsupported) / sizeof(unsupported[0]); i++)
        if (unsupported[i].present(c))
            return config_error_set(err, CONFIG_ERR_NOT_SUPPORTED, "%s is not supported by this VMM",
                                    unsupported[i].what);
    return 0;
}
