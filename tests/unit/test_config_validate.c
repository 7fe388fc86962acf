/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vm_config_validate(): every case of Cloud Hypervisor's
 * test_config_validation, plus the checks that test does not reach and the
 * overflow guards where CH's arithmetic wraps. vm_config_check_supported():
 * each refused option, and a plain config that must be accepted.
 *
 * Cases are table-driven: build CH's valid base config, apply one mutation,
 * expect success or one error code (and, for some, a message fragment).
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"

#define MIB (1ULL << 20)

/* ------------------------------------------------------------- builders */

static char *xstrdup(const char *s)
{
    char *p = strdup(s);
    assert_non_null(p);
    return p;
}

/* Appends one zeroed element to a ptr+count list and returns it. */
static void *push_item(void **arr, size_t *n, size_t elem_size)
{
    char *p = realloc(*arr, (*n + 1) * elem_size);
    assert_non_null(p);
    memset(p + *n * elem_size, 0, elem_size);
    *arr = p;
    return p + (*n)++ * elem_size;
}
#define PUSH(arr, n) ((__typeof__(arr))push_item((void **)&(arr), &(n), sizeof(*(arr))))

static char **string_list(size_t *n, const char *a, const char *b)
{
    char **l = calloc(2, sizeof(*l));
    assert_non_null(l);
    l[0] = xstrdup(a);
    *n = 1;
    if (b) {
        l[1] = xstrdup(b);
        *n = 2;
    }
    return l;
}

/* CH's valid_config: 1 vCPU, 512 MiB, a kernel, the default rng, serial Null
 * and console Tty (the last three are vm_config_init() defaults). */
static void build_base(VmConfig *c)
{
    assert_int_equal(vm_config_init(c), 0);
    c->cpus.boot_vcpus = 1;
    c->cpus.max_vcpus = 1;
    c->memory.size = 536870912;
    c->has_payload = true;
    c->payload.kernel = xstrdup("/path/to/kernel");
}

/* CH's fixtures, appended to (or set on) the config. */
static DiskConfig *add_disk(VmConfig *c)
{
    DiskConfig *d = PUSH(c->disks, c->n_disks);
    disk_config_init(d);
    d->path = xstrdup("/path/to_file");
    return d;
}

static NetConfig *add_net(VmConfig *c)
{
    NetConfig *n = PUSH(c->net, c->n_net);
    net_config_init(n);
    assert_int_equal(mac_addr_parse("de:ad:be:ef:12:34", &n->mac), 0);
    n->has_host_mac = true;
    assert_int_equal(mac_addr_parse("12:34:de:ad:be:ef", &n->host_mac), 0);
    return n;
}

static FsConfig *add_fs(VmConfig *c)
{
    FsConfig *f = PUSH(c->fs, c->n_fs);
    fs_config_init(f);
    f->socket = xstrdup("/tmp/sock");
    f->tag = xstrdup("mytag");
    return f;
}

static PmemConfig *add_pmem(VmConfig *c)
{
    PmemConfig *p = PUSH(c->pmem, c->n_pmem);
    p->file = xstrdup("/tmp/pmem");
    p->size.present = true;
    p->size.value = 128 * MIB;
    return p;
}

static DeviceConfig *add_device(VmConfig *c, const char *path)
{
    DeviceConfig *d = PUSH(c->devices, c->n_devices);
    d->path = xstrdup(path);
    return d;
}

static UserDeviceConfig *add_user_device(VmConfig *c)
{
    UserDeviceConfig *u = PUSH(c->user_devices, c->n_user_devices);
    u->socket = xstrdup("");
    return u;
}

static VdpaConfig *add_vdpa(VmConfig *c)
{
    VdpaConfig *v = PUSH(c->vdpa, c->n_vdpa);
    vdpa_config_init(v);
    v->path = xstrdup("/dev/vhost-vdpa");
    return v;
}

static void set_vsock(VmConfig *c, uint32_t cid, bool iommu, uint16_t pci_segment)
{
    c->has_vsock = true;
    c->vsock.cid = cid;
    c->vsock.socket = xstrdup("");
    c->vsock.iommu = iommu;
    c->vsock.pci_segment = pci_segment;
}

/* platform_fixture(): MAX_NUM_PCI_SEGMENTS segments, nothing else. */
static PlatformConfig *set_platform(VmConfig *c)
{
    c->has_platform = true;
    platform_config_init(&c->platform);
    c->platform.num_pci_segments = MAX_NUM_PCI_SEGMENTS;
    return &c->platform;
}

static void set_iommu_segments(VmConfig *c, uint16_t a, uint16_t b, uint16_t cc, size_t n)
{
    PlatformConfig *p = c->has_platform ? &c->platform : set_platform(c);
    p->has_iommu_segments = true;
    p->n_iommu_segments = n;
    if (n) {
        p->iommu_segments = calloc(n, sizeof(*p->iommu_segments));
        assert_non_null(p->iommu_segments);
        uint16_t v[3] = {a, b, cc};
        memcpy(p->iommu_segments, v, n * sizeof(uint16_t));
    }
}

static void set_iommu_segments_123(VmConfig *c)
{
    set_iommu_segments(c, 1, 2, 3, 3);
}

static NumaConfig *add_numa(VmConfig *c, uint32_t id)
{
    NumaConfig *n = PUSH(c->numa, c->n_numa);
    n->guest_numa_id = id;
    return n;
}

static void numa_set_segment(NumaConfig *n, uint16_t seg)
{
    n->pci_segments = calloc(1, sizeof(*n->pci_segments));
    assert_non_null(n->pci_segments);
    n->pci_segments[0] = seg;
    n->n_pci_segments = 1;
}

static MemoryZoneConfig *add_zone(VmConfig *c, const char *id, uint64_t size)
{
    MemoryZoneConfig *z = PUSH(c->memory.zones, c->memory.n_zones);
    z->id = xstrdup(id);
    z->size = size;
    return z;
}

static RateLimiterGroupConfig *add_group(VmConfig *c, const char *id)
{
    RateLimiterGroupConfig *g = PUSH(c->rate_limit_groups, c->n_rate_limit_groups);
    g->id = xstrdup(id);
    g->rate_limiter_config.has_bandwidth = true;
    g->rate_limiter_config.bandwidth.size = 1000;
    g->rate_limiter_config.bandwidth.refill_time = 100;
    return g;
}

/* ------------------------------------------- CH's test_config_validation */

static void m_none(VmConfig *c)
{
    (void)c;
}

/* CH validates the unchanged config here (a slip in its test); we validate
 * the mutated one: serial and console may both be Tty. */
static void m_serial_and_console_tty(VmConfig *c)
{
    c->serial.mode = CONSOLE_MODE_TTY;
    c->console.mode = CONSOLE_MODE_TTY;
}

static void m_no_payload(VmConfig *c)
{
    payload_config_free(&c->payload);
    c->has_payload = false;
}

static void m_serial_file_without_path(VmConfig *c)
{
    c->serial.mode = CONSOLE_MODE_FILE;
}

static void m_max_lower_than_boot(VmConfig *c)
{
    c->cpus.max_vcpus = 16;
    c->cpus.boot_vcpus = 32;
}

static void m_topology_count(VmConfig *c)
{
    c->cpus.max_vcpus = 16;
    c->cpus.boot_vcpus = 16;
    c->cpus.has_topology = true;
    c->cpus.topology = (CpuTopology){2, 8, 1, 2};
}

static void m_disk_socket_and_path(VmConfig *c)
{
    add_disk(c)->vhost_socket = xstrdup("/path/to/sock");
}

static void m_vhost_user_disk_without_socket(VmConfig *c)
{
    c->memory.shared = true;
    DiskConfig *d = add_disk(c);
    free(d->path);
    d->path = NULL;
    d->vhost_user = true;
}

static void vhost_user_disk(VmConfig *c)
{
    DiskConfig *d = add_disk(c);
    free(d->path);
    d->path = NULL;
    d->vhost_user = true;
    d->vhost_socket = xstrdup("/path/to/sock");
}

static void m_vhost_user_disk_private_memory(VmConfig *c)
{
    vhost_user_disk(c);
}

static void m_vhost_user_disk_shared_memory(VmConfig *c)
{
    vhost_user_disk(c);
    c->memory.shared = true;
}

static void m_vhost_user_net_private_memory(VmConfig *c)
{
    add_net(c)->vhost_user = true;
}

static void m_vhost_user_net_shared_memory(VmConfig *c)
{
    NetConfig *n = add_net(c);
    n->vhost_user = true;
    n->vhost_socket = xstrdup("/path/to/sock");
    c->memory.shared = true;
}

static void m_net_reserved_fd(VmConfig *c)
{
    NetConfig *n = add_net(c);
    n->fds = calloc(1, sizeof(*n->fds));
    assert_non_null(n->fds);
    n->fds[0] = 0;
    n->n_fds = 1;
}

static void m_net_no_checksum_offload(VmConfig *c)
{
    add_net(c)->offload_csum = false;
}

static void m_fs_private_memory(VmConfig *c)
{
    add_fs(c);
}

static void m_shared_memory(VmConfig *c)
{
    c->memory.shared = true;
}

static void m_hugepages(VmConfig *c)
{
    c->memory.hugepages = true;
}

static void m_hugepages_2m(VmConfig *c)
{
    c->memory.hugepages = true;
    c->memory.hugepage_size = (OptU64){true, 2 * MIB};
}

static void m_hugepage_size_without_hugepages(VmConfig *c)
{
    c->memory.hugepages = false;
    c->memory.hugepage_size = (OptU64){true, 2 * MIB};
}

static void m_hugepage_size_3m(VmConfig *c)
{
    c->memory.hugepages = true;
    c->memory.hugepage_size = (OptU64){true, 3 * MIB};
}

static void m_platform(VmConfig *c)
{
    set_platform(c);
}

static void m_platform_too_many_segments(VmConfig *c)
{
    set_platform(c)->num_pci_segments = MAX_NUM_PCI_SEGMENTS + 1;
}

static void m_iommu_segments(VmConfig *c)
{
    set_iommu_segments_123(c);
}

static void m_iommu_segments_out_of_range(VmConfig *c)
{
    set_iommu_segments(c, MAX_NUM_PCI_SEGMENTS + 1, MAX_NUM_PCI_SEGMENTS + 2, 0, 2);
}

static void m_iommu_segment_disk(VmConfig *c)
{
    set_iommu_segments_123(c);
    DiskConfig *d = add_disk(c);
    d->iommu = true;
    d->pci_segment = 1;
}

static void m_iommu_segment_net(VmConfig *c)
{
    set_iommu_segments_123(c);
    NetConfig *n = add_net(c);
    n->iommu = true;
    n->pci_segment = 1;
}

static void m_iommu_segment_pmem(VmConfig *c)
{
    set_iommu_segments_123(c);
    PmemConfig *p = add_pmem(c);
    p->iommu = true;
    p->pci_segment = 1;
}

static void m_iommu_segment_device(VmConfig *c)
{
    set_iommu_segments_123(c);
    DeviceConfig *d = add_device(c, "/path/to/device");
    d->iommu = true;
    d->pci_segment = 1;
}

static void m_iommu_segment_vsock(VmConfig *c)
{
    set_iommu_segments_123(c);
    set_vsock(c, 3, true, 1);
}

static void m_iommu_segment_disk_no_iommu(VmConfig *c)
{
    set_iommu_segments_123(c);
    add_disk(c)->pci_segment = 1;
}

static void m_iommu_segment_net_no_iommu(VmConfig *c)
{
    set_iommu_segments_123(c);
    add_net(c)->pci_segment = 1;
}

static void m_iommu_segment_pmem_no_iommu(VmConfig *c)
{
    set_iommu_segments_123(c);
    add_pmem(c)->pci_segment = 1;
}

static void m_iommu_segment_device_no_iommu(VmConfig *c)
{
    set_iommu_segments_123(c);
    add_device(c, "/path/to/device")->pci_segment = 1;
}

static void m_iommu_segment_vsock_no_iommu(VmConfig *c)
{
    set_iommu_segments_123(c);
    set_vsock(c, 3, false, 1);
}

static void m_iommu_segment_user_device(VmConfig *c)
{
    c->memory.shared = true;
    set_iommu_segments_123(c);
    add_user_device(c)->pci_segment = 1;
}

static void m_iommu_segment_vdpa(VmConfig *c)
{
    set_iommu_segments_123(c);
    add_vdpa(c)->pci_segment = 1;
}

static void m_iommu_segment_fs(VmConfig *c)
{
    c->memory.shared = true;
    set_iommu_segments_123(c);
    add_fs(c)->pci_segment = 1;
}

static void m_numa_pci_segment_reused(VmConfig *c)
{
    set_platform(c)->num_pci_segments = 2;
    numa_set_segment(add_numa(c, 0), 1);
    numa_set_segment(add_numa(c, 1), 1);
}

static void m_numa_default_segment_on_node_1(VmConfig *c)
{
    add_numa(c, 0);
    numa_set_segment(add_numa(c, 1), 0);
}

static void m_numa_segment_without_platform(VmConfig *c)
{
    numa_set_segment(add_numa(c, 0), 0);
    numa_set_segment(add_numa(c, 1), 1);
}

static void m_disk_unknown_rate_limit_group(VmConfig *c)
{
    add_disk(c)->rate_limit_group = xstrdup("foo");
}

static void m_two_devices(VmConfig *c)
{
    add_device(c, "/device1");
    add_device(c, "/device2");
}

static void m_duplicate_device_path(VmConfig *c)
{
    add_device(c, "/device1");
    add_device(c, "/device1");
}

/* ------------------------------------------------ checks CH's test skips */

static void m_console_file_without_path(VmConfig *c)
{
    c->console.mode = CONSOLE_MODE_FILE;
}

static void m_console_file_with_path(VmConfig *c)
{
    c->console.mode = CONSOLE_MODE_FILE;
    c->console.file = xstrdup("/tmp/console.log");
    c->serial.mode = CONSOLE_MODE_FILE;
    c->serial.file = xstrdup("/tmp/serial.log");
}

/* Several faults at once: the earliest check in CH's order wins. */
static void m_order_console_before_cpus(VmConfig *c)
{
    c->console.mode = CONSOLE_MODE_FILE;
    c->cpus.max_vcpus = 0;
    add_disk(c)->num_queues = 64;
}

static void m_order_disk_before_net(VmConfig *c)
{
    add_net(c)->num_queues = 1;
    add_disk(c)->num_queues = 64;
}

static void m_order_vsock_cid_before_balloon(VmConfig *c)
{
    c->has_balloon = true;
    c->balloon.size = UINT64_MAX;
    set_vsock(c, 2, false, 0);
}

static void m_order_platform_last(VmConfig *c)
{
    set_platform(c)->num_pci_segments = 0;
    add_zone(c, "__zone", MIB);
}

static void m_group_without_limits(VmConfig *c)
{
    RateLimiterGroupConfig *g = add_group(c, "group0");
    g->rate_limiter_config.has_bandwidth = false;
}

static void m_group_ops_only(VmConfig *c)
{
    RateLimiterGroupConfig *g = add_group(c, "group0");
    g->rate_limiter_config.has_bandwidth = false;
    g->rate_limiter_config.has_ops = true;
    g->rate_limiter_config.ops.size = 10;
    g->rate_limiter_config.ops.refill_time = 100;
}

static void m_group_empty_id(VmConfig *c)
{
    add_group(c, "");
}

static void m_disk_known_rate_limit_group(VmConfig *c)
{
    add_group(c, "group0");
    add_group(c, "group1");
    add_disk(c)->rate_limit_group = xstrdup("group1");
}

static void m_disk_group_and_own_limiter(VmConfig *c)
{
    add_group(c, "group0");
    DiskConfig *d = add_disk(c);
    d->rate_limit_group = xstrdup("group0");
    d->has_rate_limiter_config = true;
    d->rate_limiter_config.has_ops = true;
    d->rate_limiter_config.ops.size = 10;
}

static void m_disk_too_many_queues(VmConfig *c)
{
    add_disk(c)->num_queues = 2;
}

static void m_disk_queues_match_vcpus(VmConfig *c)
{
    c->cpus.boot_vcpus = 4;
    c->cpus.max_vcpus = 4;
    add_disk(c)->num_queues = 4;
}

static void m_vhost_user_disk_iommu(VmConfig *c)
{
    vhost_user_disk(c);
    c->memory.shared = true;
    c->disks[0].iommu = true;
}

static void m_disk_segment_out_of_range(VmConfig *c)
{
    set_platform(c)->num_pci_segments = 2;
    add_disk(c)->pci_segment = 2;
}

/* Without --platform CH does not look at pci_segment. */
static void m_disk_segment_without_platform(VmConfig *c)
{
    add_disk(c)->pci_segment = 7;
}

static void m_net_one_queue(VmConfig *c)
{
    add_net(c)->num_queues = 1;
}

static void m_net_fd_mismatch(VmConfig *c)
{
    NetConfig *n = add_net(c);
    n->fds = calloc(2, sizeof(*n->fds));
    assert_non_null(n->fds);
    n->fds[0] = 10;
    n->fds[1] = 11;
    n->n_fds = 2;
}

static void m_net_negative_fd(VmConfig *c)
{
    NetConfig *n = add_net(c);
    n->fds = calloc(1, sizeof(*n->fds));
    assert_non_null(n->fds);
    n->fds[0] = -1;
    n->n_fds = 1;
}

static void m_net_too_many_queues(VmConfig *c)
{
    add_net(c)->num_queues = 4;
}

static void m_vhost_user_net_iommu(VmConfig *c)
{
    NetConfig *n = add_net(c);
    n->vhost_user = true;
    n->vhost_socket = xstrdup("/path/to/sock");
    n->iommu = true;
    c->memory.hugepages = true;
}

static void m_net_mtu_too_small(VmConfig *c)
{
    add_net(c)->mtu = (OptU16){true, 1279};
}

static void m_net_mtu_minimum(VmConfig *c)
{
    add_net(c)->mtu = (OptU16){true, 1280};
}

static void m_net_all_offloads_off(VmConfig *c)
{
    NetConfig *n = add_net(c);
    n->offload_csum = false;
    n->offload_tso = false;
    n->offload_ufo = false;
}

static void m_net_ufo_without_csum(VmConfig *c)
{
    NetConfig *n = add_net(c);
    n->offload_csum = false;
    n->offload_tso = false;
}

static void m_fs_shared_memory(VmConfig *c)
{
    c->memory.shared = true;
    add_fs(c);
}

static void m_fs_too_many_queues(VmConfig *c)
{
    c->memory.shared = true;
    add_fs(c)->num_queues = 2;
}

/* All RAM from shared zones counts as shared memory. */
static void m_fs_shared_zones(VmConfig *c)
{
    c->memory.size = 0;
    add_zone(c, "z0", 256 * MIB)->shared = true;
    add_zone(c, "z1", 256 * MIB)->hugepages = true;
    add_fs(c);
}

static void m_fs_one_private_zone(VmConfig *c)
{
    c->memory.size = 0;
    add_zone(c, "z0", 256 * MIB)->shared = true;
    add_zone(c, "z1", 256 * MIB);
    add_fs(c);
}

static void m_topology_zero_part(VmConfig *c)
{
    c->cpus.has_topology = true;
    c->cpus.topology = (CpuTopology){1, 1, 0, 1};
}

static void m_topology_matches(VmConfig *c)
{
    c->cpus.boot_vcpus = 2;
    c->cpus.max_vcpus = 16;
    c->cpus.has_topology = true;
    c->cpus.topology = (CpuTopology){2, 4, 1, 2};
}

/* 16 * 16 == 0 in CH's u8 arithmetic, which would "match" max 0. */
static void m_topology_wraps_to_zero(VmConfig *c)
{
    c->cpus.boot_vcpus = 0;
    c->cpus.max_vcpus = 0;
    c->cpus.has_topology = true;
    c->cpus.topology = (CpuTopology){16, 16, 1, 1};
}

/* 2 * 2 * 2 * 33 == 264 == 8 (mod 256). */
static void m_topology_wraps_to_max(VmConfig *c)
{
    c->cpus.boot_vcpus = 8;
    c->cpus.max_vcpus = 8;
    c->cpus.has_topology = true;
    c->cpus.topology = (CpuTopology){2, 2, 2, 33};
}

static void m_topology_largest(VmConfig *c)
{
    c->cpus.max_vcpus = 255;
    c->cpus.has_topology = true;
    c->cpus.topology = (CpuTopology){255, 255, 255, 255};
}

static void m_topology_255(VmConfig *c)
{
    c->cpus.max_vcpus = 255;
    c->cpus.has_topology = true;
    c->cpus.topology = (CpuTopology){1, 5, 1, 51};
}

static void m_hugepage_size_zero(VmConfig *c)
{
    c->memory.hugepages = true;
    c->memory.hugepage_size = (OptU64){true, 0};
}

static void m_hugepage_size_1g(VmConfig *c)
{
    c->memory.hugepages = true;
    c->memory.hugepage_size = (OptU64){true, 1ULL << 30};
}

static void m_user_device_private_memory(VmConfig *c)
{
    add_user_device(c);
}

static void m_user_device_shared_memory(VmConfig *c)
{
    c->memory.shared = true;
    add_user_device(c);
}

static void m_vsock_cid_0(VmConfig *c)
{
    set_vsock(c, 0, false, 0);
}

static void m_vsock_cid_1(VmConfig *c)
{
    set_vsock(c, 1, false, 0);
}

static void m_vsock_cid_2(VmConfig *c)
{
    set_vsock(c, 2, false, 0);
}

static void m_vsock_cid_max(VmConfig *c)
{
    set_vsock(c, UINT32_MAX, false, 0);
}

static void m_vsock_cid_3(VmConfig *c)
{
    set_vsock(c, 3, false, 0);
}

static void m_vsock_cid_max_minus_1(VmConfig *c)
{
    set_vsock(c, UINT32_MAX - 1, false, 0);
}

static void m_balloon_equal_to_ram(VmConfig *c)
{
    c->has_balloon = true;
    c->balloon.size = 512 * MIB;
}

static void m_balloon_smaller_than_ram(VmConfig *c)
{
    c->has_balloon = true;
    c->balloon.size = 512 * MIB - 1;
}

/* Zones count towards RAM. */
static void m_balloon_within_zones(VmConfig *c)
{
    add_zone(c, "z0", 1024 * MIB);
    c->has_balloon = true;
    c->balloon.size = 1024 * MIB;
}

static void m_balloon_beyond_zones(VmConfig *c)
{
    add_zone(c, "z0", 1024 * MIB);
    c->has_balloon = true;
    c->balloon.size = 1536 * MIB;
}

/* 512 MiB + (2^64 - 512 MiB) wraps to 0 in CH; the real RAM is larger than
 * any balloon. */
static void m_balloon_zone_sum_wraps(VmConfig *c)
{
    add_zone(c, "z0", UINT64_MAX - 512 * MIB + 1);
    c->has_balloon = true;
    c->balloon.size = 1024 * MIB;
}

/* Close to the top without wrapping: still compared exactly. */
static void m_balloon_zone_sum_near_max(VmConfig *c)
{
    add_zone(c, "z0", UINT64_MAX / 2);
    add_zone(c, "z1", UINT64_MAX / 2 - 512 * MIB);
    c->has_balloon = true;
    c->balloon.size = UINT64_MAX - 1;
}

static void m_balloon_many_huge_zones(VmConfig *c)
{
    add_zone(c, "z0", UINT64_MAX);
    add_zone(c, "z1", UINT64_MAX);
    add_zone(c, "z2", UINT64_MAX);
    c->has_balloon = true;
    c->balloon.size = UINT64_MAX;
}

static void m_numa_memory_zone_reused(VmConfig *c)
{
    add_zone(c, "z0", MIB);
    NumaConfig *n0 = add_numa(c, 0);
    n0->memory_zones = string_list(&n0->n_memory_zones, "z0", NULL);
    NumaConfig *n1 = add_numa(c, 1);
    n1->memory_zones = string_list(&n1->n_memory_zones, "z1", "z0");
}

static void m_numa_memory_zones_distinct(VmConfig *c)
{
    set_platform(c)->num_pci_segments = 3;
    NumaConfig *n0 = add_numa(c, 0);
    n0->memory_zones = string_list(&n0->n_memory_zones, "z0", NULL);
    numa_set_segment(n0, 0);
    NumaConfig *n1 = add_numa(c, 1);
    n1->memory_zones = string_list(&n1->n_memory_zones, "z1", "z2");
    numa_set_segment(n1, 2);
}

static void m_platform_zero_segments(VmConfig *c)
{
    set_platform(c)->num_pci_segments = 0;
}

static void m_identifier_reserved_prefix(VmConfig *c)
{
    add_disk(c)->id = xstrdup("__disk0");
}

static void m_identifier_single_underscore(VmConfig *c)
{
    add_disk(c)->id = xstrdup("_disk0");
}

static void m_identifier_disk_and_net(VmConfig *c)
{
    add_disk(c)->id = xstrdup("dev0");
    add_net(c)->id = xstrdup("dev0");
}

static void m_identifier_group_and_disk(VmConfig *c)
{
    add_group(c, "same");
    add_disk(c)->id = xstrdup("same");
}

static void m_identifier_vsock_and_device(VmConfig *c)
{
    add_device(c, "/dev/vfio/1")->id = xstrdup("x");
    set_vsock(c, 3, false, 0);
    c->vsock.id = xstrdup("x");
}

static void m_identifier_zone_and_pmem(VmConfig *c)
{
    add_pmem(c)->id = xstrdup("mem0");
    add_zone(c, "mem0", MIB);
}

static void m_identifier_sgx_and_zone(VmConfig *c)
{
    add_zone(c, "epc", MIB);
    SgxEpcConfig *s = PUSH(c->sgx_epc, c->n_sgx_epc);
    s->id = xstrdup("epc");
    s->size = MIB;
}

static void m_identifiers_distinct(VmConfig *c)
{
    add_group(c, "g");
    add_disk(c)->id = xstrdup("d");
    add_net(c)->id = xstrdup("n");
    c->memory.shared = true;
    add_fs(c)->id = xstrdup("f");
    add_pmem(c)->id = xstrdup("p");
    add_user_device(c)->id = xstrdup("u");
    add_vdpa(c)->id = xstrdup("v");
    add_device(c, "/dev/vfio/1")->id = xstrdup("dev");
    set_vsock(c, 3, false, 0);
    c->vsock.id = xstrdup("vs");
    add_zone(c, "z", MIB);
    SgxEpcConfig *s = PUSH(c->sgx_epc, c->n_sgx_epc);
    s->id = xstrdup("s");
}

/* Enough ids to make the id set grow several times; the last repeats one. */
static void m_many_disks_last_duplicate(VmConfig *c)
{
    char id[32];
    for (int i = 0; i < 1000; i++) {
        snprintf(id, sizeof(id), "disk%d", i);
        add_disk(c)->id = xstrdup(id);
    }
    add_disk(c)->id = xstrdup("disk617");
}

/* ---------------------------------------------- vm_config_check_supported */

static void s_plain(VmConfig *c)
{
    c->cpus.boot_vcpus = 2;
    c->cpus.max_vcpus = 2;
    c->payload.cmdline = xstrdup("console=ttyS0 root=/dev/vda");
    add_disk(c)->readonly = true;
    c->serial.mode = CONSOLE_MODE_TTY;
    c->console.mode = CONSOLE_MODE_PTY;
    c->pvpanic = true;
    set_platform(c)->num_pci_segments = 1;
}

/* Valid, and accepted now that their virtio devices exist (issue 4). */
static void s_net(VmConfig *c)
{
    add_net(c)->tap = xstrdup("tap0");
}

static void s_vsock(VmConfig *c)
{
    set_vsock(c, 3, false, 0);
}

static void s_balloon(VmConfig *c)
{
    c->has_balloon = true;
    c->balloon.size = 64 * MIB;
}

static void s_memory_options(VmConfig *c)
{
    c->memory.shared = true;
    c->memory.hugepages = true;
    c->memory.hugepage_size = (OptU64){true, 2 * MIB};
    c->memory.mergeable = true;
    c->memory.prefault = true;
}

static void s_firmware(VmConfig *c)
{
    c->payload.firmware = xstrdup("/path/to/firmware");
}

static void s_no_kernel(VmConfig *c)
{
    free(c->payload.kernel);
    c->payload.kernel = NULL;
}

static void s_device(VmConfig *c)
{
    add_device(c, "/sys/bus/pci/devices/0000:01:00.0/");
}

static void s_user_device(VmConfig *c)
{
    c->memory.shared = true;
    add_user_device(c);
}

static void s_vdpa(VmConfig *c)
{
    add_vdpa(c);
}

static void s_fs(VmConfig *c)
{
    c->memory.shared = true;
    add_fs(c);
}

static void s_vhost_user_disk(VmConfig *c)
{
    c->memory.shared = true;
    vhost_user_disk(c);
}

static void s_vhost_user_net(VmConfig *c)
{
    c->memory.shared = true;
    NetConfig *n = add_net(c);
    n->vhost_user = true;
    n->vhost_socket = xstrdup("/path/to/sock");
}

static void s_disk_without_path(VmConfig *c)
{
    DiskConfig *d = add_disk(c);
    free(d->path);
    d->path = NULL;
}

static void s_pmem(VmConfig *c)
{
    add_pmem(c);
}

static void s_sgx_epc(VmConfig *c)
{
    SgxEpcConfig *s = PUSH(c->sgx_epc, c->n_sgx_epc);
    s->id = xstrdup("epc0");
    s->size = 64 * MIB;
}

static void s_tpm(VmConfig *c)
{
    c->has_tpm = true;
    c->tpm.socket = xstrdup("/tmp/swtpm.sock");
}

static void s_watchdog(VmConfig *c)
{
    c->watchdog = true;
}

static void s_kvm_hyperv(VmConfig *c)
{
    c->cpus.kvm_hyperv = true;
}

static void s_amx(VmConfig *c)
{
    c->cpus.features.amx = true;
}

static void s_hotplug_size(VmConfig *c)
{
    c->memory.hotplug_size = (OptU64){true, 1024 * MIB};
    c->memory.shared = true;
}

static void s_hotplugged_size(VmConfig *c)
{
    c->memory.hotplug_method = HOTPLUG_METHOD_VIRTIO_MEM;
    c->memory.hotplug_size = (OptU64){true, 1024 * MIB};
    c->memory.hotplugged_size = (OptU64){true, 512 * MIB};
}

static void s_zone_hotplug(VmConfig *c)
{
    c->memory.size = 0;
    add_zone(c, "z0", 512 * MIB)->hotplug_size = (OptU64){true, 1024 * MIB};
}

static void s_memory_zone(VmConfig *c)
{
    c->memory.size = 0;
    add_zone(c, "z0", 512 * MIB);
}

static void s_numa(VmConfig *c)
{
    add_numa(c, 0);
}

static void s_pci_segments(VmConfig *c)
{
    set_platform(c)->num_pci_segments = 2;
}

static void s_pci_segment_without_platform(VmConfig *c)
{
    add_net(c)->pci_segment = 1;
}

static void s_iommu_segments(VmConfig *c)
{
    set_platform(c)->num_pci_segments = 1;
    set_iommu_segments(c, 0, 0, 0, 1);
}

static void s_empty_iommu_segments(VmConfig *c)
{
    set_platform(c)->num_pci_segments = 1;
    set_iommu_segments(c, 0, 0, 0, 0);
}

static void s_disk_iommu(VmConfig *c)
{
    add_disk(c)->iommu = true;
}

static void s_net_iommu(VmConfig *c)
{
    add_net(c)->iommu = true;
}

static void s_rng_iommu(VmConfig *c)
{
    c->rng.iommu = true;
}

static void s_console_iommu(VmConfig *c)
{
    c->console.iommu = true;
}

static void s_vsock_iommu(VmConfig *c)
{
    set_vsock(c, 3, true, 0);
}

static void s_rate_limit_group(VmConfig *c)
{
    add_group(c, "group0");
}

static void s_disk_rate_limiter(VmConfig *c)
{
    DiskConfig *d = add_disk(c);
    d->has_rate_limiter_config = true;
    d->rate_limiter_config.has_bandwidth = true;
    d->rate_limiter_config.bandwidth.size = 1000;
}

static void s_net_rate_limiter(VmConfig *c)
{
    NetConfig *n = add_net(c);
    n->has_rate_limiter_config = true;
    n->rate_limiter_config.has_ops = true;
    n->rate_limiter_config.ops.size = 10;
}

static void s_debug_console(VmConfig *c)
{
    c->debug_console.mode = CONSOLE_MODE_TTY;
}

static void s_landlock(VmConfig *c)
{
    c->landlock_enable = true;
}

/* A vfio device behind the IOMMU is reported as the device, not the flag. */
static void s_device_with_iommu(VmConfig *c)
{
    add_device(c, "/dev/vfio/1")->iommu = true;
}

/* ------------------------------------------------------------------ table */

typedef enum CaseKind {
    VALIDATE,  /* vm_config_validate() result */
    SUPPORTED, /* valid config; vm_config_check_supported() result */
} CaseKind;

typedef struct Case {
    const char *name;
    CaseKind kind;
    void (*mutate)(VmConfig *c);
    ConfigErrorCode expect; /* CONFIG_OK for success */
    const char *message;    /* fragment the error message must contain, or NULL */
} Case;

#define V(fn, code, msg)                                                                                     \
    {                                                                                                        \
#fn, VALIDATE, fn, code, msg                                                                         \
    }
#define S(fn, code, msg)                                                                                     \
    {                                                                                                        \
#fn, SUPPORTED, fn, code, msg                                                                        \
    }

static const Case cases[] = {
    /* Cloud Hypervisor's test_config_validation, in its order. */
    V(m_none, CONFIG_OK, NULL),
    V(m_serial_and_console_tty, CONFIG_OK, NULL),
    V(m_no_payload, CONFIG_ERR_KERNEL_MISSING, "No kernel specified"),
    V(m_serial_file_without_path, CONFIG_ERR_CONSOLE_FILE_MISSING,
      "Path missing when using file console mode"),
    V(m_max_lower_than_boot, CONFIG_ERR_CPUS_MAX_LOWER_THAN_BOOT, "Max CPUs lower than boot CPUs"),
    V(m_topology_count, CONFIG_ERR_CPU_TOPOLOGY_COUNT, "does not match maximum vCPUs"),
    V(m_disk_socket_and_path, CONFIG_ERR_DISK_SOCKET_AND_PATH, "Disk path and vhost socket both provided"),
    V(m_vhost_user_disk_without_socket, CONFIG_ERR_VHOST_USER_MISSING_SOCKET, "No socket provided"),
    V(m_vhost_user_disk_private_memory, CONFIG_ERR_VHOST_USER_REQUIRES_SHARED_MEMORY,
      "shared memory or huge"),
    V(m_vhost_user_disk_shared_memory, CONFIG_OK, NULL),
    V(m_vhost_user_net_private_memory, CONFIG_ERR_VHOST_USER_REQUIRES_SHARED_MEMORY, NULL),
    V(m_vhost_user_net_shared_memory, CONFIG_OK, NULL),
    V(m_net_reserved_fd, CONFIG_ERR_VNET_RESERVED_FD, "Reserved fd number (<= 2)"),
    V(m_net_no_checksum_offload, CONFIG_ERR_NO_HARDWARE_CHECKSUM_OFFLOAD,
      "\"offload_tso\" and \"offload_ufo\" depend on \"offload_tso\""),
    V(m_fs_private_memory, CONFIG_ERR_VHOST_USER_REQUIRES_SHARED_MEMORY, NULL),
    V(m_shared_memory, CONFIG_OK, NULL),
    V(m_hugepages, CONFIG_OK, NULL),
    V(m_hugepages_2m, CONFIG_OK, NULL),
    V(m_hugepage_size_without_hugepages, CONFIG_ERR_HUGE_PAGE_SIZE_WITHOUT_HUGE_PAGES,
      "Huge page size specified but huge pages not enabled"),
    V(m_hugepage_size_3m, CONFIG_ERR_INVALID_HUGE_PAGE_SIZE, "Huge page size is not power of 2: 3145728"),
    V(m_platform, CONFIG_OK, NULL),
    V(m_platform_too_many_segments, CONFIG_ERR_INVALID_NUM_PCI_SEGMENTS,
      "Number of PCI segments (97) not in range of 1 to 96"),
    V(m_iommu_segments, CONFIG_OK, NULL),
    V(m_iommu_segments_out_of_range, CONFIG_ERR_INVALID_PCI_SEGMENT, "Invalid PCI segment id: 97"),
    V(m_iommu_segment_disk, CONFIG_OK, NULL),
    V(m_iommu_segment_net, CONFIG_OK, NULL),
    V(m_iommu_segment_pmem, CONFIG_OK, NULL),
    V(m_iommu_segment_device, CONFIG_OK, NULL),
    V(m_iommu_segment_vsock, CONFIG_OK, NULL),
    V(m_iommu_segment_disk_no_iommu, CONFIG_ERR_ON_IOMMU_SEGMENT,
      "Device is on an IOMMU PCI segment (1) but not placed behind IOMMU"),
    V(m_iommu_segment_net_no_iommu, CONFIG_ERR_ON_IOMMU_SEGMENT, NULL),
    V(m_iommu_segment_pmem_no_iommu, CONFIG_ERR_ON_IOMMU_SEGMENT, NULL),
    V(m_iommu_segment_device_no_iommu, CONFIG_ERR_ON_IOMMU_SEGMENT, NULL),
    V(m_iommu_segment_vsock_no_iommu, CONFIG_ERR_ON_IOMMU_SEGMENT, NULL),
    V(m_iommu_segment_user_device, CONFIG_ERR_IOMMU_NOT_SUPPORTED_ON_SEGMENT,
      "Device is on an IOMMU PCI segment (1) but does not support being placed behind IOMMU"),
    V(m_iommu_segment_vdpa, CONFIG_ERR_ON_IOMMU_SEGMENT, NULL),
    V(m_iommu_segment_fs, CONFIG_ERR_IOMMU_NOT_SUPPORTED_ON_SEGMENT, NULL),
    V(m_numa_pci_segment_reused, CONFIG_ERR_PCI_SEGMENT_REUSED,
      "PCI segment: 1 belongs to multiple NUMA nodes 0 and 1"),
    V(m_numa_default_segment_on_node_1, CONFIG_ERR_DEFAULT_PCI_SEGMENT_INVALID_NODE,
      "Default PCI segment assigned to non-zero NUMA node 1"),
    V(m_numa_segment_without_platform, CONFIG_ERR_INVALID_PCI_SEGMENT, "Invalid PCI segment id: 1"),
    V(m_disk_unknown_rate_limit_group, CONFIG_ERR_INVALID_RATE_LIMITER_GROUP, "Invalid rate-limiter group"),
    V(m_two_devices, CONFIG_OK, NULL),
    V(m_duplicate_device_path, CONFIG_ERR_DUPLICATE_DEVICE_PATH, "Duplicated device path: /device1"),
    /* (CH's last case, preserved fds, is test_net_fds_from_dev_null.) */

    /* Checks CH's test does not reach, and orderings. */
    V(m_console_file_without_path, CONFIG_ERR_CONSOLE_FILE_MISSING, NULL),
    V(m_console_file_with_path, CONFIG_OK, NULL),
    V(m_order_console_before_cpus, CONFIG_ERR_CONSOLE_FILE_MISSING, NULL),
    V(m_order_disk_before_net, CONFIG_ERR_TOO_MANY_QUEUES, NULL),
    V(m_order_vsock_cid_before_balloon, CONFIG_ERR_VSOCK_SPECIAL_CID, NULL),
    V(m_order_platform_last, CONFIG_ERR_INVALID_IDENTIFIER, "Identifier __zone is invalid"),
    V(m_group_without_limits, CONFIG_ERR_INVALID_RATE_LIMITER_GROUP, NULL),
    V(m_group_ops_only, CONFIG_OK, NULL),
    V(m_group_empty_id, CONFIG_ERR_INVALID_RATE_LIMITER_GROUP, NULL),
    V(m_disk_known_rate_limit_group, CONFIG_OK, NULL),
    V(m_disk_group_and_own_limiter, CONFIG_ERR_INVALID_RATE_LIMITER_GROUP, NULL),
    V(m_disk_too_many_queues, CONFIG_ERR_TOO_MANY_QUEUES,
      "Number of vCPUs is insufficient for number of queues"),
    V(m_disk_queues_match_vcpus, CONFIG_OK, NULL),
    V(m_vhost_user_disk_iommu, CONFIG_ERR_IOMMU_NOT_SUPPORTED,
      "Device does not support being placed behind IOMMU"),
    V(m_disk_segment_out_of_range, CONFIG_ERR_INVALID_PCI_SEGMENT, "Invalid PCI segment id: 2"),
    V(m_disk_segment_without_platform, CONFIG_OK, NULL),
    V(m_net_one_queue, CONFIG_ERR_VNET_QUEUE_LOWER_THAN_2, "Number of queues to virtio_net less than 2"),
    V(m_net_fd_mismatch, CONFIG_ERR_VNET_QUEUE_FD_MISMATCH, "does not match the number of input FDs"),
    V(m_net_negative_fd, CONFIG_ERR_VNET_RESERVED_FD, NULL),
    V(m_net_too_many_queues, CONFIG_ERR_TOO_MANY_QUEUES, NULL),
    V(m_vhost_user_net_iommu, CONFIG_ERR_IOMMU_NOT_SUPPORTED, NULL),
    V(m_net_mtu_too_small, CONFIG_ERR_INVALID_MTU,
      "Provided MTU 1279 is lower than 1280 (expected by VIRTIO specification)"),
    V(m_net_mtu_minimum, CONFIG_OK, NULL),
    V(m_net_all_offloads_off, CONFIG_OK, NULL),
    V(m_net_ufo_without_csum, CONFIG_ERR_NO_HARDWARE_CHECKSUM_OFFLOAD, NULL),
    V(m_fs_shared_memory, CONFIG_OK, NULL),
    V(m_fs_too_many_queues, CONFIG_ERR_TOO_MANY_QUEUES, NULL),
    V(m_fs_shared_zones, CONFIG_OK, NULL),
    V(m_fs_one_private_zone, CONFIG_ERR_VHOST_USER_REQUIRES_SHARED_MEMORY, NULL),
    V(m_topology_zero_part, CONFIG_ERR_CPU_TOPOLOGY_ZERO_PART, "No part of the CPU topology can be zero"),
    V(m_topology_matches, CONFIG_OK, NULL),
    V(m_topology_wraps_to_zero, CONFIG_ERR_CPU_TOPOLOGY_COUNT, NULL),
    V(m_topology_wraps_to_max, CONFIG_ERR_CPU_TOPOLOGY_COUNT, NULL),
    V(m_topology_largest, CONFIG_ERR_CPU_TOPOLOGY_COUNT, NULL),
    V(m_topology_255, CONFIG_OK, NULL),
    V(m_hugepage_size_zero, CONFIG_ERR_INVALID_HUGE_PAGE_SIZE, "Huge page size is not power of 2: 0"),
    V(m_hugepage_size_1g, CONFIG_OK, NULL),
    V(m_user_device_private_memory, CONFIG_ERR_USER_DEVICES_REQUIRE_SHARED_MEMORY,
      "Using user devices requires using shared memory or huge pages"),
    V(m_user_device_shared_memory, CONFIG_OK, NULL),
    V(m_vsock_cid_0, CONFIG_ERR_VSOCK_SPECIAL_CID,
      "Error validating configuration: 0 is a special VSOCK CID"),
    V(m_vsock_cid_1, CONFIG_ERR_VSOCK_SPECIAL_CID,
      "Error validating configuration: 1 is a special VSOCK CID"),
    V(m_vsock_cid_2, CONFIG_ERR_VSOCK_SPECIAL_CID,
      "Error validating configuration: 2 is a special VSOCK CID"),
    V(m_vsock_cid_max, CONFIG_ERR_VSOCK_SPECIAL_CID, "4294967295 is a special VSOCK CID"),
    V(m_vsock_cid_3, CONFIG_OK, NULL),
    V(m_vsock_cid_max_minus_1, CONFIG_OK, NULL),
    V(m_balloon_equal_to_ram, CONFIG_ERR_BALLOON_LARGER_THAN_RAM,
      "Ballon size (536870912) greater than RAM (536870912)"),
    V(m_balloon_smaller_than_ram, CONFIG_OK, NULL),
    V(m_balloon_within_zones, CONFIG_OK, NULL),
    V(m_balloon_beyond_zones, CONFIG_ERR_BALLOON_LARGER_THAN_RAM,
      "Ballon size (1610612736) greater than RAM (1610612736)"),
    V(m_balloon_zone_sum_wraps, CONFIG_OK, NULL),
    V(m_balloon_zone_sum_near_max, CONFIG_ERR_BALLOON_LARGER_THAN_RAM,
      "greater than RAM (18446744073709551614)"),
    V(m_balloon_many_huge_zones, CONFIG_OK, NULL),
    V(m_numa_memory_zone_reused, CONFIG_ERR_MEMORY_ZONE_REUSED,
      "Memory zone: z0 belongs to multiple NUMA nodes 0 and 1"),
    V(m_numa_memory_zones_distinct, CONFIG_OK, NULL),
    V(m_platform_zero_segments, CONFIG_ERR_INVALID_NUM_PCI_SEGMENTS, "Number of PCI segments (0)"),
    V(m_identifier_reserved_prefix, CONFIG_ERR_INVALID_IDENTIFIER, "Identifier __disk0 is invalid"),
    V(m_identifier_single_underscore, CONFIG_OK, NULL),
    V(m_identifier_disk_and_net, CONFIG_ERR_IDENTIFIER_NOT_UNIQUE, "Identifier dev0 is not unique"),
    V(m_identifier_group_and_disk, CONFIG_ERR_IDENTIFIER_NOT_UNIQUE, "Identifier same is not unique"),
    V(m_identifier_vsock_and_device, CONFIG_ERR_IDENTIFIER_NOT_UNIQUE, NULL),
    V(m_identifier_zone_and_pmem, CONFIG_ERR_IDENTIFIER_NOT_UNIQUE, "Identifier mem0 is not unique"),
    V(m_identifier_sgx_and_zone, CONFIG_ERR_IDENTIFIER_NOT_UNIQUE, "Identifier epc is not unique"),
    V(m_identifiers_distinct, CONFIG_OK, NULL),
    V(m_many_disks_last_duplicate, CONFIG_ERR_IDENTIFIER_NOT_UNIQUE, "Identifier disk617 is not unique"),

    /* vm_config_check_supported(). */
    S(m_none, CONFIG_OK, NULL),
    S(s_plain, CONFIG_OK, NULL),
    S(s_net, CONFIG_OK, NULL),
    S(s_vsock, CONFIG_OK, NULL),
    S(s_balloon, CONFIG_OK, NULL),
    S(s_memory_options, CONFIG_OK, NULL),
    S(s_firmware, CONFIG_ERR_NOT_SUPPORTED, "--firmware (firmware boot) is not supported by this VMM"),
    S(s_no_kernel, CONFIG_ERR_NOT_SUPPORTED, "without --kernel"),
    S(s_device, CONFIG_ERR_NOT_SUPPORTED, "--device (VFIO passthrough) is not supported by this VMM"),
    S(s_user_device, CONFIG_ERR_NOT_SUPPORTED, "--user-device"),
    S(s_vdpa, CONFIG_ERR_NOT_SUPPORTED, "--vdpa"),
    S(s_fs, CONFIG_ERR_NOT_SUPPORTED, "--fs"),
    S(s_vhost_user_disk, CONFIG_ERR_NOT_SUPPORTED, "--disk vhost_user"),
    S(s_vhost_user_net, CONFIG_ERR_NOT_SUPPORTED, "--net vhost_user"),
    S(s_disk_without_path, CONFIG_ERR_NOT_SUPPORTED, "--disk without path="),
    S(s_pmem, CONFIG_ERR_NOT_SUPPORTED, "--pmem"),
    S(s_sgx_epc, CONFIG_ERR_NOT_SUPPORTED, "--sgx-epc"),
    S(s_tpm, CONFIG_ERR_NOT_SUPPORTED, "--tpm"),
    S(s_watchdog, CONFIG_ERR_NOT_SUPPORTED, "--watchdog"),
    S(s_kvm_hyperv, CONFIG_ERR_NOT_SUPPORTED, "kvm_hyperv"),
    S(s_amx, CONFIG_ERR_NOT_SUPPORTED, "amx"),
    S(s_hotplug_size, CONFIG_ERR_NOT_SUPPORTED, "shared=on"),
    S(s_hotplugged_size, CONFIG_ERR_NOT_SUPPORTED, "memory hotplug"),
    S(s_zone_hotplug, CONFIG_ERR_NOT_SUPPORTED, "memory hotplug"),
    S(s_memory_zone, CONFIG_ERR_NOT_SUPPORTED, "--memory-zone"),
    S(s_numa, CONFIG_ERR_NOT_SUPPORTED, "--numa"),
    S(s_pci_segments, CONFIG_ERR_NOT_SUPPORTED, "num_pci_segments"),
    S(s_pci_segment_without_platform, CONFIG_ERR_NOT_SUPPORTED, "pci_segment"),
    S(s_iommu_segments, CONFIG_ERR_NOT_SUPPORTED, "iommu_segments"),
    S(s_empty_iommu_segments, CONFIG_ERR_NOT_SUPPORTED, "iommu_segments"),
    S(s_disk_iommu, CONFIG_ERR_NOT_SUPPORTED, "iommu=on"),
    S(s_net_iommu, CONFIG_ERR_NOT_SUPPORTED, "iommu=on"),
    S(s_rng_iommu, CONFIG_ERR_NOT_SUPPORTED, "iommu=on"),
    S(s_console_iommu, CONFIG_ERR_NOT_SUPPORTED, "iommu=on"),
    S(s_vsock_iommu, CONFIG_ERR_NOT_SUPPORTED, "iommu=on"),
    S(s_rate_limit_group, CONFIG_OK, NULL), /* implemented: virtio/rate_limiter.c */
    S(s_disk_rate_limiter, CONFIG_OK, NULL),
    S(s_net_rate_limiter, CONFIG_OK, NULL),
    S(s_debug_console, CONFIG_OK, NULL), /* implemented: devices/legacy/debug_console.c */
    S(s_landlock, CONFIG_OK, NULL), /* implemented: sandbox/landlock.c */
    S(s_device_with_iommu, CONFIG_ERR_NOT_SUPPORTED, "--device"),
};

#define N_CASES (sizeof(cases) / sizeof(cases[0]))

static void run_case(void **state)
{
    const Case *tc = *state;
    VmConfig c;
    ConfigError err = {0};
    build_base(&c);
    tc->mutate(&c);

    int r = vm_config_validate(&c, &err);
    if (tc->kind == SUPPORTED) {
        if (r != 0)
            fail_msg("%s: expected a valid config, got %d '%s'", tc->name, err.code, err.message);
        r = vm_config_check_supported(&c, &err);
    }
    if (tc->expect == CONFIG_OK) {
        if (r != 0)
            fail_msg("%s: expected success, got code %d '%s'", tc->name, err.code, err.message);
    } else {
        if (r != -EINVAL || err.code != tc->expect)
            fail_msg("%s: expected code %d, got r=%d code %d '%s'", tc->name, tc->expect, r, err.code,
                     err.message);
        if (tc->kind == VALIDATE && strncmp(err.message, "Error validating configuration: ", 32) != 0)
            fail_msg("%s: message '%s' lacks the prefix", tc->name, err.message);
        if (tc->message && !strstr(err.message, tc->message))
            fail_msg("%s: message '%s' lacks '%s'", tc->name, err.message, tc->message);
    }
    vm_config_free(&c);
}

/* ------------------------------------------------------- stand-alone tests */

/* CH ends its test with fds it opened on /dev/null (as preserved fds); here
 * real fds feed a net device: two fds for four queues is valid. */
static void test_net_fds_from_dev_null(void **state)
{
    (void)state;
    VmConfig c;
    ConfigError err = {0};
    build_base(&c);
    c.cpus.boot_vcpus = 2;
    c.cpus.max_vcpus = 2;
    NetConfig *n = add_net(&c);
    n->num_queues = 4;
    n->fds = calloc(2, sizeof(*n->fds));
    assert_non_null(n->fds);
    for (int i = 0; i < 2; i++) {
        n->fds[i] = open("/dev/null", O_RDONLY | O_CLOEXEC);
        assert_true(n->fds[i] > 2);
    }
    n->n_fds = 2;
    int r = vm_config_validate(&c, &err);
    close(n->fds[0]);
    close(n->fds[1]);
    vm_config_free(&c);
    if (r != 0)
        fail_msg("got '%s'", err.message);
}

static void set_pmem_iommu(VmConfig *c)
{
    add_pmem(c)->iommu = true;
}

static void set_device_iommu(VmConfig *c)
{
    add_device(c, "/dev/vfio/1")->iommu = true;
}

static void set_vdpa_iommu(VmConfig *c)
{
    add_vdpa(c)->iommu = true;
}

/* The derived iommu flag: set by any device behind the IOMMU, and by an
 * iommu_segments list even when it is empty; never by the defaults. */
static void test_iommu_flag_derivation(void **state)
{
    (void)state;
    VmConfig c;

    build_base(&c);
    assert_int_equal(vm_config_validate(&c, NULL), 0);
    assert_false(c.iommu);
    vm_config_free(&c);

    static void (*const set_iommu[])(VmConfig *) = {
        s_disk_iommu,           s_net_iommu,    s_rng_iommu,      s_console_iommu, s_vsock_iommu,
        s_empty_iommu_segments, set_pmem_iommu, set_device_iommu, set_vdpa_iommu,
    };
    for (size_t i = 0; i < sizeof(set_iommu) / sizeof(set_iommu[0]); i++) {
        build_base(&c);
        set_iommu[i](&c);
        assert_int_equal(vm_config_validate(&c, NULL), 0);
        assert_true(c.iommu);
        vm_config_free(&c);
    }

    /* serial iommu is accepted but, as in CH, does not enable the IOMMU. */
    build_base(&c);
    c.serial.iommu = true;
    assert_int_equal(vm_config_validate(&c, NULL), 0);
    assert_false(c.iommu);
    vm_config_free(&c);
}

/* A NULL ConfigError is allowed on failure too. */
static void test_null_error(void **state)
{
    (void)state;
    VmConfig c;
    build_base(&c);
    m_vsock_cid_2(&c);
    assert_int_equal(vm_config_validate(&c, NULL), -EINVAL);
    vm_config_free(&c);

    build_base(&c);
    s_tpm(&c);
    assert_int_equal(vm_config_check_supported(&c, NULL), -EINVAL);
    vm_config_free(&c);
}

/* Validating twice gives the same answer (the id set is not kept around). */
static void test_validate_twice(void **state)
{
    (void)state;
    VmConfig c;
    ConfigError err;
    build_base(&c);
    m_identifiers_distinct(&c);
    assert_int_equal(vm_config_validate(&c, &err), 0);
    assert_int_equal(vm_config_validate(&c, &err), 0);
    vm_config_free(&c);
}

int main(void)
{
    struct CMUnitTest tests[N_CASES + 4];
    char names[N_CASES][64];
    for (size_t i = 0; i < N_CASES; i++) {
        snprintf(names[i], sizeof(names[i]), "%s:%s", cases[i].kind == VALIDATE ? "validate" : "supported",
                 cases[i].name);
        tests[i] = (struct CMUnitTest){names[i], run_case, NULL, NULL, (void *)&cases[i]};
    }
    tests[N_CASES] = (struct CMUnitTest)cmocka_unit_test(test_net_fds_from_dev_null);
    tests[N_CASES + 1] = (struct CMUnitTest)cmocka_unit_test(test_iommu_flag_derivation);
    tests[N_CASES + 2] = (struct CMUnitTest)cmocka_unit_test(test_null_error);
    tests[N_CASES + 3] = (struct CMUnitTest)cmocka_unit_test(test_validate_twice);
    return cmocka_run_group_tests_name("config_validate", tests, NULL, NULL);
}
