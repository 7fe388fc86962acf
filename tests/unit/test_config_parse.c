/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The per-option parsers: every case of Cloud Hypervisor's parsing tests
 * (test_cpu_parsing ... test_vsock_parsing), compared field by field, then
 * the options its tests leave out, then hostile input for every parser.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config.h"

/* String literals stored in fixtures, which are compared, never freed. */
#define S(lit) ((char *)(lit))

/* ----------------------------------------------------------- comparisons */

static void assert_str_opt(const char *what, const char *got, const char *want)
{
    if (!got && !want)
        return;
    if (!got || !want || strcmp(got, want) != 0)
        fail_msg("%s: got %s%s%s, want %s%s%s", what, got ? "'" : "", got ? got : "NULL", got ? "'" : "",
                 want ? "'" : "", want ? want : "NULL", want ? "'" : "");
}

static void assert_opt_u16(OptU16 got, OptU16 want)
{
    assert_int_equal(got.present, want.present);
    if (want.present)
        assert_int_equal(got.value, want.value);
}

static void assert_opt_u32(OptU32 got, OptU32 want)
{
    assert_int_equal(got.present, want.present);
    if (want.present)
        assert_int_equal(got.value, want.value);
}

static void assert_opt_u64(OptU64 got, OptU64 want)
{
    assert_int_equal(got.present, want.present);
    if (want.present)
        assert_int_equal(got.value, want.value);
}

static void assert_bucket_eq(const TokenBucketConfig *got, const TokenBucketConfig *want)
{
    assert_int_equal(got->size, want->size);
    assert_opt_u64(got->one_time_burst, want->one_time_burst);
    assert_int_equal(got->refill_time, want->refill_time);
}

static void assert_rate_limiter_eq(const RateLimiterConfig *got, const RateLimiterConfig *want)
{
    assert_int_equal(got->has_bandwidth, want->has_bandwidth);
    if (want->has_bandwidth)
        assert_bucket_eq(&got->bandwidth, &want->bandwidth);
    assert_int_equal(got->has_ops, want->has_ops);
    if (want->has_ops)
        assert_bucket_eq(&got->ops, &want->ops);
}

static void assert_cpus_eq(const CpusConfig *got, const CpusConfig *want)
{
    assert_int_equal(got->boot_vcpus, want->boot_vcpus);
    assert_int_equal(got->max_vcpus, want->max_vcpus);
    assert_int_equal(got->has_topology, want->has_topology);
    if (want->has_topology) {
        assert_int_equal(got->topology.threads_per_core, want->topology.threads_per_core);
        assert_int_equal(got->topology.cores_per_die, want->topology.cores_per_die);
        assert_int_equal(got->topology.dies_per_package, want->topology.dies_per_package);
        assert_int_equal(got->topology.packages, want->topology.packages);
    }
    assert_int_equal(got->kvm_hyperv, want->kvm_hyperv);
    assert_int_equal(got->max_phys_bits, want->max_phys_bits);
    assert_int_equal(got->n_affinity, want->n_affinity);
    for (size_t i = 0; i < want->n_affinity; i++) {
        assert_int_equal(got->affinity[i].vcpu, want->affinity[i].vcpu);
        assert_int_equal(got->affinity[i].n_host_cpus, want->affinity[i].n_host_cpus);
        for (size_t j = 0; j < want->affinity[i].n_host_cpus; j++)
            assert_int_equal(got->affinity[i].host_cpus[j], want->affinity[i].host_cpus[j]);
    }
    assert_int_equal(got->features.amx, want->features.amx);
}

static void assert_zone_eq(const MemoryZoneConfig *got, const MemoryZoneConfig *want)
{
    assert_str_opt("zone id", got->id, want->id);
    assert_int_equal(got->size, want->size);
    assert_str_opt("zone file", got->file, want->file);
    assert_int_equal(got->shared, want->shared);
    assert_int_equal(got->hugepages, want->hugepages);
    assert_opt_u64(got->hugepage_size, want->hugepage_size);
    assert_opt_u32(got->host_numa_node, want->host_numa_node);
    assert_opt_u64(got->hotplug_size, want->hotplug_size);
    assert_opt_u64(got->hotplugged_size, want->hotplugged_size);
    assert_int_equal(got->prefault, want->prefault);
}

static void assert_memory_eq(const MemoryConfig *got, const MemoryConfig *want)
{
    assert_int_equal(got->size, want->size);
    assert_int_equal(got->mergeable, want->mergeable);
    assert_int_equal(got->hotplug_method, want->hotplug_method);
    assert_opt_u64(got->hotplug_size, want->hotplug_size);
    assert_opt_u64(got->hotplugged_size, want->hotplugged_size);
    assert_int_equal(got->shared, want->shared);
    assert_int_equal(got->hugepages, want->hugepages);
    assert_opt_u64(got->hugepage_size, want->hugepage_size);
    assert_int_equal(got->prefault, want->prefault);
    assert_int_equal(got->thp, want->thp);
    assert_int_equal(got->n_zones, want->n_zones);
    for (size_t i = 0; i < want->n_zones; i++)
        assert_zone_eq(&got->zones[i], &want->zones[i]);
}

static void assert_disk_eq(const DiskConfig *got, const DiskConfig *want)
{
    assert_str_opt("disk path", got->path, want->path);
    assert_int_equal(got->readonly, want->readonly);
    assert_int_equal(got->direct, want->direct);
    assert_int_equal(got->iommu, want->iommu);
    assert_int_equal(got->num_queues, want->num_queues);
    assert_int_equal(got->queue_size, want->queue_size);
    assert_int_equal(got->vhost_user, want->vhost_user);
    assert_str_opt("disk socket", got->vhost_socket, want->vhost_socket);
    assert_str_opt("disk rate_limit_group", got->rate_limit_group, want->rate_limit_group);
    assert_int_equal(got->has_rate_limiter_config, want->has_rate_limiter_config);
    if (want->has_rate_limiter_config)
        assert_rate_limiter_eq(&got->rate_limiter_config, &want->rate_limiter_config);
    assert_str_opt("disk id", got->id, want->id);
    assert_int_equal(got->disable_io_uring, want->disable_io_uring);
    assert_int_equal(got->disable_aio, want->disable_aio);
    assert_int_equal(got->pci_segment, want->pci_segment);
    assert_str_opt("disk serial", got->serial, want->serial);
}

static void assert_net_eq(const NetConfig *got, const NetConfig *want)
{
    assert_str_opt("net tap", got->tap, want->tap);
    assert_int_equal(got->ip, want->ip);
    assert_int_equal(got->mask, want->mask);
    assert_memory_equal(got->mac.bytes, want->mac.bytes, 6);
    assert_int_equal(got->has_host_mac, want->has_host_mac);
    if (want->has_host_mac)
        assert_memory_equal(got->host_mac.bytes, want->host_mac.bytes, 6);
    assert_opt_u16(got->mtu, want->mtu);
    assert_int_equal(got->iommu, want->iommu);
    assert_int_equal(got->num_queues, want->num_queues);
    assert_int_equal(got->queue_size, want->queue_size);
    assert_int_equal(got->vhost_user, want->vhost_user);
    assert_str_opt("net socket", got->vhost_socket, want->vhost_socket);
    assert_int_equal(got->vhost_mode, want->vhost_mode);
    assert_str_opt("net id", got->id, want->id);
    assert_int_equal(got->n_fds, want->n_fds);
    for (size_t i = 0; i < want->n_fds; i++)
        assert_int_equal(got->fds[i], want->fds[i]);
    assert_int_equal(got->has_rate_limiter_config, want->has_rate_limiter_config);
    if (want->has_rate_limiter_config)
        assert_rate_limiter_eq(&got->rate_limiter_config, &want->rate_limiter_config);
    assert_int_equal(got->pci_segment, want->pci_segment);
    assert_int_equal(got->offload_tso, want->offload_tso);
    assert_int_equal(got->offload_ufo, want->offload_ufo);
    assert_int_equal(got->offload_csum, want->offload_csum);
}

static void assert_fs_eq(const FsConfig *got, const FsConfig *want)
{
    assert_str_opt("fs tag", got->tag, want->tag);
    assert_str_opt("fs socket", got->socket, want->socket);
    assert_int_equal(got->num_queues, want->num_queues);
    assert_int_equal(got->queue_size, want->queue_size);
    assert_str_opt("fs id", got->id, want->id);
    assert_int_equal(got->pci_segment, want->pci_segment);
}

static void assert_pmem_eq(const PmemConfig *got, const PmemConfig *want)
{
    assert_str_opt("pmem file", got->file, want->file);
    assert_opt_u64(got->size, want->size);
    assert_int_equal(got->iommu, want->iommu);
    assert_int_equal(got->discard_writes, want->discard_writes);
    assert_str_opt("pmem id", got->id, want->id);
    assert_int_equal(got->pci_segment, want->pci_segment);
}

static void assert_console_eq(const ConsoleConfig *got, const ConsoleConfig *want)
{
    assert_str_opt("console file", got->file, want->file);
    assert_int_equal(got->mode, want->mode);
    assert_int_equal(got->iommu, want->iommu);
    assert_str_opt("console socket", got->socket, want->socket);
}

static void assert_device_eq(const DeviceConfig *got, const DeviceConfig *want)
{
    assert_str_opt("device path", got->path, want->path);
    assert_int_equal(got->iommu, want->iommu);
    assert_str_opt("device id", got->id, want->id);
    assert_int_equal(got->pci_segment, want->pci_segment);
}

static void assert_vdpa_eq(const VdpaConfig *got, const VdpaConfig *want)
{
    assert_str_opt("vdpa path", got->path, want->path);
    assert_int_equal(got->num_queues, want->num_queues);
    assert_int_equal(got->iommu, want->iommu);
    assert_str_opt("vdpa id", got->id, want->id);
    assert_int_equal(got->pci_segment, want->pci_segment);
}

static void assert_vsock_eq(const VsockConfig *got, const VsockConfig *want)
{
    assert_int_equal(got->cid, want->cid);
    assert_str_opt("vsock socket", got->socket, want->socket);
    assert_int_equal(got->iommu, want->iommu);
    assert_str_opt("vsock id", got->id, want->id);
    assert_int_equal(got->pci_segment, want->pci_segment);
}

/* Fails unless err carries code and a message containing every fragment. */
static void assert_error(int r, const ConfigError *err, ConfigErrorCode code, const char *frag1,
                         const char *frag2)
{
    if (r >= 0)
        fail_msg("expected an error containing '%s', got success", frag1 ? frag1 : "");
    if (err->code != code)
        fail_msg("expected code %d, got %d (%s)", code, err->code, err->message);
    if (frag1 && !strstr(err->message, frag1))
        fail_msg("message '%s' lacks '%s'", err->message, frag1);
    if (frag2 && !strstr(err->message, frag2))
        fail_msg("message '%s' lacks '%s'", err->message, frag2);
}

/* ------------------------------------------------------- cpus, memory */

static void check_cpus(const char *in, const CpusConfig *want)
{
    CpusConfig got;
    ConfigError err = {0};
    if (cpus_config_parse(in, &got, &err) != 0)
        fail_msg("--cpus '%s': %s", in, err.message);
    assert_cpus_eq(&got, want);
    cpus_config_free(&got);
}

static void test_cpu_parsing(void **state)
{
    (void)state;
    CpusConfig want;
    ConfigError err;
    CpusConfig got;

    cpus_config_init(&want);
    check_cpus("", &want);

    cpus_config_init(&want);
    check_cpus("boot=1", &want);

    want.max_vcpus = 2;
    check_cpus("boot=1,max=2", &want);

    cpus_config_init(&want);
    want.boot_vcpus = want.max_vcpus = 8;
    want.has_topology = true;
    want.topology =
        (CpuTopology){.threads_per_core = 2, .cores_per_die = 2, .dies_per_package = 1, .packages = 2};
    check_cpus("boot=8,topology=2:2:1:2", &want);

    assert_error(cpus_config_parse("boot=8,topology=2:2:1", &got, &err), &err, CONFIG_ERR_PARSE,
                 "Error parsing --cpus", "topology");
    assert_error(cpus_config_parse("boot=8,topology=2:2:1:x", &got, &err), &err, CONFIG_ERR_PARSE,
                 "Error parsing --cpus", "unable to convert 2:2:1:x for topology");

    cpus_config_init(&want);
    want.kvm_hyperv = true;
    check_cpus("boot=1,kvm_hyperv=on", &want);

    size_t cpus0[] = {0, 2}, cpus1[] = {1, 3};
    CpuAffinity affinity[] = {{.vcpu = 0, .host_cpus = cpus0, .n_host_cpus = 2},
                              {.vcpu = 1, .host_cpus = cpus1, .n_host_cpus = 2}};
    cpus_config_init(&want);
    want.boot_vcpus = want.max_vcpus = 2;
    want.affinity = affinity;
    want.n_affinity = 2;
    check_cpus("boot=2,affinity=[0@[0,2],1@[1,3]]", &want);
}

static void test_cpu_parsing_more(void **state)
{
    (void)state;
    CpusConfig want, got;
    ConfigError err;

    cpus_config_init(&want);
    want.features.amx = true;
    want.max_phys_bits = 40;
    check_cpus("features=[amx],max_phys_bits=40", &want);
    check_cpus("features=amx,max_phys_bits=40", &want);

    /* The default option string of the command line. */
    cpus_config_init(&want);
    check_cpus("boot=1,max_phys_bits=46", &want);

    size_t range[] = {0, 1, 2, 3, 8};
    CpuAffinity affinity[] = {{.vcpu = 3, .host_cpus = range, .n_host_cpus = 5}};
    cpus_config_init(&want);
    want.boot_vcpus = 4;
    want.max_vcpus = 255;
    want.affinity = affinity;
    want.n_affinity = 1;
    check_cpus("boot=4,max=255,affinity=[3@[0-3,8]]", &want);

    assert_error(cpus_config_parse("features=[amx,avx9]", &got, &err), &err, CONFIG_ERR_INVALID_CPU_FEATURES,
                 "Invalid feature in --cpus features list: avx9", NULL);
    assert_error(cpus_config_parse("features=[]", &got, &err), &err, CONFIG_ERR_INVALID_CPU_FEATURES,
                 "Invalid feature in --cpus features list", NULL);
    assert_error(cpus_config_parse("kvm_hyperv=maybe", &got, &err), &err, CONFIG_ERR_PARSE,
                 "Error parsing --cpus", "kvm_hyperv");
    assert_error(cpus_config_parse("affinity=[0@[2-1]]", &got, &err), &err, CONFIG_ERR_PARSE,
                 "Error parsing --cpus", "affinity");
    assert_error(cpus_config_parse("affinity=0@[1]", &got, &err), &err, CONFIG_ERR_PARSE,
                 "Error parsing --cpus", "affinity");
    assert_error(cpus_config_parse("topology=1:1:1:1:1", &got, &err), &err, CONFIG_ERR_PARSE,
                 "Error parsing --cpus", "topology");
    assert_error(cpus_config_parse("topology=1:256:1:1", &got, &err), &err, CONFIG_ERR_PARSE,
                 "Error parsing --cpus", "topology");
    assert_error(cpus_config_parse("topology=::1:1", &got, &err), &err, CONFIG_ERR_PARSE,
                 "Error parsing --cpus", "topology");
}

static void check_memory(const char *in, const char *const *zones, size_t n_zones, const MemoryConfig *want)
{
    MemoryConfig got;
    ConfigError err = {0};
    if (memory_config_parse(in, zones, n_zones, &got, &err) != 0)
        fail_msg("--memory '%s': %s", in, err.message);
    assert_memory_eq(&got, want);
    memory_config_free(&got);
}

static void test_mem_parsing(void **state)
{
    (void)state;
    MemoryConfig want;

    memory_config_init(&want);
    check_memory("", NULL, 0, &want);
    check_memory("size=512M", NULL, 0, &want);

    want.mergeable = true;
    check_memory("size=512M,mergeable=on", NULL, 0, &want);
    check_memory("mergeable=on", NULL, 0, &want);

    memory_config_init(&want);
    want.size = 1ULL << 30;
    check_memory("size=1G,mergeable=off", NULL, 0, &want);

    memory_config_init(&want);
    check_memory("hotplug_method=acpi", NULL, 0, &want);

    want.hotplug_size = (OptU64){true, 512ULL << 20};
    check_memory("hotplug_method=acpi,hotplug_size=512M", NULL, 0, &want);

    want.hotplug_method = HOTPLUG_METHOD_VIRTIO_MEM;
    check_memory("hotplug_method=virtio-mem,hotplug_size=512M", NULL, 0, &want);

    memory_config_init(&want);
    want.hugepage_size = (OptU64){true, 2ULL << 20};
    want.size = 1ULL << 30;
    want.hugepages = true;
    check_memory("hugepages=on,size=1G,hugepage_size=2M", NULL, 0, &want);
}

static void test_mem_parsing_more(void **state)
{
    (void)state;
    MemoryConfig want, got;
    ConfigError err;

    memory_config_init(&want);
    want.size = 4096;
    want.shared = true;
    want.prefault = true;
    want.thp = false;
    want.hotplugged_size = (OptU64){true, 1ULL << 30};
    want.hotplug_size = (OptU64){true, 2ULL << 30};
    want.hotplug_method = HOTPLUG_METHOD_VIRTIO_MEM;
    /* "file" is a known key that Cloud Hypervisor ignores. */
    check_memory("size=4096,shared=on,prefault=on,thp=off,hotplugged_size=1G,hotplug_size=2G,"
                 "hotplug_method=VIRTIO-MEM,file=/ignored",
                 NULL, 0, &want);

    assert_error(memory_config_parse("hotplug_method=dimm", NULL, 0, &got, &err), &err, CONFIG_ERR_PARSE,
                 "Error parsing --memory", "unable to convert dimm for hotplug_method");
    assert_error(memory_config_parse("size=12Q", NULL, 0, &got, &err), &err, CONFIG_ERR_PARSE,
                 "Error parsing --memory", "size");
    assert_error(memory_config_parse("thp=yes", NULL, 0, &got, &err), &err, CONFIG_ERR_PARSE,
                 "Error parsing --memory", "thp");
}

static void test_memory_zone_parsing(void **state)
{
    (void)state;
    const char *const zones[] = {
        "id=mem0,size=1G,file=/dev/shm/mem0,shared=on,hugepages=on,hugepage_size=2M,host_numa_node=1,"
        "hotplug_size=1G,hotplugged_size=512M,prefault=on",
        "id=mem1",
    };
    MemoryZoneConfig want_zones[2] = {
        {.id = S("mem0"),
         .size = 1ULL << 30,
         .file = S("/dev/shm/mem0"),
         .shared = true,
         .hugepages = true,
         .hugepage_size = {true, 2ULL << 20},
         .host_numa_node = {true, 1},
         .hotplug_size = {true, 1ULL << 30},
         .hotplugged_size = {true, 512ULL << 20},
         .prefault = true},
        {.id = S("mem1"), .size = DEFAULT_MEMORY_MB << 20},
    };
    MemoryConfig want, got;
    ConfigError err;

    memory_config_init(&want);
    want.size = 0;
    want.zones = want_zones;
    want.n_zones = 2;
    check_memory("size=0", zones, 2, &want);

    const char *const no_id[] = {"id=mem0", "size=1G"};
    assert_error(memory_config_parse("size=0", no_id, 2, &got, &err), &err, CONFIG_ERR_MISSING_FIELD,
                 "Error parsing --memory-zone: id missing", NULL);
    const char *const bad_node[] = {"id=mem0,host_numa_node=4294967296"};
    assert_error(memory_config_parse("size=0", bad_node, 1, &got, &err), &err, CONFIG_ERR_PARSE,
                 "Error parsing --memory-zone", "host_numa_node");
    const char *const unknown[] = {"id=mem0,thp=on"};
    assert_error(memory_config_parse("size=0", unknown, 1, &got, &err), &err, CONFIG_ERR_PARSE,
                 "Error parsing --memory-zone", "unknown option: thp");
    /* A bad --memory is reported before its zones are looked at. */
    assert_error(memory_config_parse("size=x", no_id, 2, &got, &err), &err, CONFIG_ERR_PARSE,
                 "Error parsing --memory:", NULL);
}

/* --------------------------------------------------- rate limit, disk, net */

static void test_rate_limit_group_parsing(void **state)
{
    (void)state;
    RateLimiterGroupConfig got;
    ConfigError err = {0};
    RateLimiterConfig want = {0};

    assert_int_equal(rate_limiter_group_config_parse("id=group0,bw_size=1000,bw_refill_time=100", &got, &err),
                     0);
    assert_string_equal(got.id, "group0");
    want.has_bandwidth = true;
    want.bandwidth = (TokenBucketConfig){.size = 1000, .one_time_burst = {true, 0}, .refill_time = 100};
    assert_rate_limiter_eq(&got.rate_limiter_config, &want);
    rate_limiter_group_config_free(&got);

    assert_int_equal(
        rate_limiter_group_config_parse("id=group0,ops_size=1000,ops_refill_time=100", &got, &err), 0);
    assert_string_equal(got.id, "group0");
    memset(&want, 0, sizeof(want));
    want.has_ops = true;
    want.ops = (TokenBucketConfig){.size = 1000, .one_time_burst = {true, 0}, .refill_time = 100};
    assert_rate_limiter_eq(&got.rate_limiter_config, &want);
    rate_limiter_group_config_free(&got);

    /* No id and no bucket still parse (validation refuses them): id is "". */
    assert_int_equal(rate_limiter_group_config_parse("bw_size=1000", &got, &err), 0);
    assert_string_equal(got.id, "");
    memset(&want, 0, sizeof(want));
    assert_rate_limiter_eq(&got.rate_limiter_config, &want);
    rate_limiter_group_config_free(&got);

    assert_int_equal(rate_limiter_group_config_parse("id=g,bw_size=10,bw_one_time_burst=5,bw_refill_time=1,"
                                                     "ops_size=7,ops_one_time_burst=3,ops_refill_time=2",
                                                     &got, &err),
                     0);
    want.has_bandwidth = want.has_ops = true;
    want.bandwidth = (TokenBucketConfig){.size = 10, .one_time_burst = {true, 5}, .refill_time = 1};
    want.ops = (TokenBucketConfig){.size = 7, .one_time_burst = {true, 3}, .refill_time = 2};
    assert_rate_limiter_eq(&got.rate_limiter_config, &want);
    rate_limiter_group_config_free(&got);
}

static DiskConfig disk_fixture(void)
{
    DiskConfig d;
    disk_config_init(&d);
    d.path = S("/path/to_file");
    return d;
}

static void check_disk(const char *in, const DiskConfig *want)
{
    DiskConfig got;
    ConfigError err = {0};
    if (disk_config_parse(in, &got, &err) != 0)
        fail_msg("--disk '%s': %s", in, err.message);
    assert_disk_eq(&got, want);
    disk_config_free(&got);
}

static void test_disk_parsing(void **state)
{
    (void)state;
    DiskConfig want;

    want = disk_fixture();
    check_disk("path=/path/to_file", &want);

    want = disk_fixture();
    want.id = S("mydisk0");
    check_disk("path=/path/to_file,id=mydisk0", &want);

    want = disk_fixture();
    want.path = NULL;
    want.vhost_socket = S("/tmp/sock");
    want.vhost_user = true;
    check_disk("vhost_user=true,socket=/tmp/sock", &want);

    want = disk_fixture();
    want.iommu = true;
    check_disk("path=/path/to_file,iommu=on", &want);

    want.queue_size = 256;
    check_disk("path=/path/to_file,iommu=on,queue_size=256", &want);

    want.num_queues = 4;
    check_disk("path=/path/to_file,iommu=on,queue_size=256,num_queues=4", &want);

    want = disk_fixture();
    want.direct = true;
    check_disk("path=/path/to_file,direct=on", &want);

    want = disk_fixture();
    want.serial = S("test");
    check_disk("path=/path/to_file,serial=test", &want);

    want = disk_fixture();
    want.rate_limit_group = S("group0");
    check_disk("path=/path/to_file,rate_limit_group=group0", &want);
}

static void test_disk_parsing_more(void **state)
{
    (void)state;
    DiskConfig want = disk_fixture();
    want.readonly = true;
    want.disable_io_uring = true;
    want.disable_aio = true;
    want.pci_segment = 3;
    want.has_rate_limiter_config = true;
    want.rate_limiter_config.has_bandwidth = true;
    want.rate_limiter_config.bandwidth =
        (TokenBucketConfig){.size = 1000, .one_time_burst = {true, 10}, .refill_time = 100};
    want.rate_limiter_config.has_ops = true;
    want.rate_limiter_config.ops =
        (TokenBucketConfig){.size = 5, .one_time_burst = {true, 0}, .refill_time = 7};
    check_disk("path=/path/to_file,readonly=on,_disable_io_uring=on,_disable_aio=true,pci_segment=3,"
               "bw_size=1000,bw_one_time_burst=10,bw_refill_time=100,ops_size=5,ops_refill_time=7",
               &want);

    /* A bucket missing its size or refill time is no bucket at all. */
    want = disk_fixture();
    check_disk("path=/path/to_file,bw_size=1000,ops_refill_time=5", &want);

    /* Quoted values keep their commas. */
    want = disk_fixture();
    want.path = S("/a,b");
    check_disk("path=\"/a,b\"", &want);

    DiskConfig got;
    ConfigError err;
    assert_error(disk_config_parse("path=/a,queue_size=x", &got, &err), &err, CONFIG_ERR_PARSE,
                 "Error parsing --disk: unable to convert x for queue_size", NULL);
    /* Errors come in Cloud Hypervisor's conversion order: readonly before queue_size. */
    assert_error(disk_config_parse("queue_size=x,readonly=x", &got, &err), &err, CONFIG_ERR_PARSE,
                 "for readonly", NULL);
}

static NetConfig net_fixture(void)
{
    NetConfig n;
    net_config_init(&n);
    mac_addr_parse("de:ad:be:ef:12:34", &n.mac);
    n.has_host_mac = true;
    mac_addr_parse("12:34:de:ad:be:ef", &n.host_mac);
    return n;
}

static void check_net(const char *in, const NetConfig *want)
{
    NetConfig got;
    ConfigError err = {0};
    if (net_config_parse(in, &got, &err) != 0)
        fail_msg("--net '%s': %s", in, err.message);
    assert_net_eq(&got, want);
    net_config_free(&got);
}

static void test_net_parsing(void **state)
{
    (void)state;
    NetConfig want;

    want = net_fixture();
    assert_int_equal(want.ip, 0xc0a8f901);   /* 192.168.249.1 */
    assert_int_equal(want.mask, 0xffffff00); /* 255.255.255.0 */
    check_net("mac=de:ad:be:ef:12:34,host_mac=12:34:de:ad:be:ef", &want);

    want.id = S("mynet0");
    check_net("mac=de:ad:be:ef:12:34,host_mac=12:34:de:ad:be:ef,id=mynet0", &want);

    want = net_fixture();
    want.tap = S("tap0");
    ipv4_parse("192.168.100.1", &want.ip);
    ipv4_parse("255.255.255.128", &want.mask);
    check_net(
        "mac=de:ad:be:ef:12:34,host_mac=12:34:de:ad:be:ef,tap=tap0,ip=192.168.100.1,mask=255.255.255.128",
        &want);

    want = net_fixture();
    want.vhost_user = true;
    want.vhost_socket = S("/tmp/sock");
    check_net("mac=de:ad:be:ef:12:34,host_mac=12:34:de:ad:be:ef,vhost_user=true,socket=/tmp/sock", &want);

    want = net_fixture();
    want.num_queues = 4;
    want.queue_size = 1024;
    want.iommu = true;
    check_net("mac=de:ad:be:ef:12:34,host_mac=12:34:de:ad:be:ef,num_queues=4,queue_size=1024,iommu=on",
              &want);

    int fds[] = {3, 7};
    want = net_fixture();
    want.has_host_mac = false;
    want.fds = fds;
    want.n_fds = 2;
    want.num_queues = 4;
    check_net("mac=de:ad:be:ef:12:34,fd=[3,7],num_queues=4", &want);
}

static void test_net_parsing_more(void **state)
{
    (void)state;
    NetConfig want = net_fixture(), got;
    ConfigError err;

    want.has_host_mac = false;
    want.mtu = (OptU16){true, 1500};
    want.vhost_mode = VHOST_MODE_SERVER;
    want.offload_tso = want.offload_ufo = want.offload_csum = false;
    want.pci_segment = 1;
    want.has_rate_limiter_config = true;
    want.rate_limiter_config.has_ops = true;
    want.rate_limiter_config.ops =
        (TokenBucketConfig){.size = 10, .one_time_burst = {true, 0}, .refill_time = 20};
    check_net("mac=de:ad:be:ef:12:34,mtu=1500,vhost_mode=Server,offload_tso=off,offload_ufo=off,"
              "offload_csum=off,pci_segment=1,ops_size=10,ops_refill_time=20",
              &want);

    /* Without mac=, a random locally administered unicast address. */
    assert_int_equal(net_config_parse("", &got, &err), 0);
    assert_int_equal(got.mac.bytes[0] & 0x03, 0x02);
    net_config_free(&got);

    assert_error(net_config_parse("ip=1.2.3", &got, &err), &err, CONFIG_ERR_PARSE,
                 "Error parsing --net: unable to convert 1.2.3 for ip", NULL);
    assert_error(net_config_parse("mask=255.255.255.0.0", &got, &err), &err, CONFIG_ERR_PARSE, "for mask",
                 NULL);
    assert_error(net_config_parse("mac=de:ad:be:ef:12", &got, &err), &err, CONFIG_ERR_PARSE, "for mac", NULL);
    assert_error(net_config_parse("host_mac=zz:ad:be:ef:12:34", &got, &err), &err, CONFIG_ERR_PARSE,
                 "for host_mac", NULL);
    assert_error(net_config_parse("vhost_mode=both", &got, &err), &err, CONFIG_ERR_PARSE, "for vhost_mode",
                 NULL);
    assert_error(net_config_parse("fd=[3,x]", &got, &err), &err, CONFIG_ERR_PARSE, "for fd", NULL);
}

/* ---------------------------------------------------- rng, balloon, fs.. */

static void test_parse_rng(void **state)
{
    (void)state;
    RngConfig got;
    ConfigError err = {0};
    static const struct {
        const char *in;
        const char *src;
        bool iommu;
    } cases[] = {
        {"", "/dev/urandom", false},
        {"src=/dev/random", "/dev/random", false},
        {"src=/dev/random,iommu=on", "/dev/random", true},
        {"iommu=on", "/dev/urandom", true},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        if (rng_config_parse(cases[i].in, &got, &err) != 0)
            fail_msg("--rng '%s': %s", cases[i].in, err.message);
        assert_string_equal(got.src, cases[i].src);
        assert_int_equal(got.iommu, cases[i].iommu);
        rng_config_free(&got);
    }
}

static void test_balloon_parsing(void **state)
{
    (void)state;
    BalloonConfig got;
    ConfigError err = {0};

    assert_int_equal(balloon_config_parse("", &got, &err), 0);
    assert_int_equal(got.size, 0);
    assert_false(got.deflate_on_oom);
    assert_false(got.free_page_reporting);

    assert_int_equal(balloon_config_parse("size=1G,deflate_on_oom=on,free_page_reporting=on", &got, &err), 0);
    assert_int_equal(got.size, 1ULL << 30);
    assert_true(got.deflate_on_oom);
    assert_true(got.free_page_reporting);

    assert_error(balloon_config_parse("deflate_on_oom=1", &got, &err), &err, CONFIG_ERR_PARSE,
                 "Error parsing --balloon", "deflate_on_oom");
}

static FsConfig fs_fixture(void)
{
    FsConfig f;
    fs_config_init(&f);
    f.socket = S("/tmp/sock");
    f.tag = S("mytag");
    return f;
}

static void check_fs(const char *in, const FsConfig *want)
{
    FsConfig got;
    ConfigError err = {0};
    if (fs_config_parse(in, &got, &err) != 0)
        fail_msg("--fs '%s': %s", in, err.message);
    assert_fs_eq(&got, want);
    fs_config_free(&got);
}

static void test_parse_fs(void **state)
{
    (void)state;
    FsConfig want, got;
    ConfigError err;

    assert_error(fs_config_parse("", &got, &err), &err, CONFIG_ERR_MISSING_FIELD,
                 "Error parsing --fs: tag missing", NULL);
    assert_error(fs_config_parse("tag=mytag", &got, &err), &err, CONFIG_ERR_MISSING_FIELD,
                 "Error parsing --fs: socket missing", NULL);
    assert_error(fs_config_parse("socket=/tmp/sock", &got, &err), &err, CONFIG_ERR_MISSING_FIELD,
                 "Error parsing --fs: tag missing", NULL);

    want = fs_fixture();
    check_fs("tag=mytag,socket=/tmp/sock", &want);

    want.num_queues = 4;
    want.queue_size = 1024;
    check_fs("tag=mytag,socket=/tmp/sock,num_queues=4,queue_size=1024", &want);

    want = fs_fixture();
    want.id = S("myfs0");
    want.pci_segment = 2;
    want.queue_size = 512;
    check_fs("tag=mytag,socket=/tmp/sock,id=myfs0,pci_segment=2,queue_size=512", &want);
}

static PmemConfig pmem_fixture(void)
{
    return (PmemConfig){.file = S("/tmp/pmem"), .size = {true, 128ULL << 20}};
}

static void check_pmem(const char *in, const PmemConfig *want)
{
    PmemConfig got;
    ConfigError err = {0};
    if (pmem_config_parse(in, &got, &err) != 0)
        fail_msg("--pmem '%s': %s", in, err.message);
    assert_pmem_eq(&got, want);
    pmem_config_free(&got);
}

static void test_pmem_parsing(void **state)
{
    (void)state;
    PmemConfig want, got;
    ConfigError err;

    assert_error(pmem_config_parse("", &got, &err), &err, CONFIG_ERR_MISSING_FIELD,
                 "Error parsing --pmem: file missing", NULL);
    assert_error(pmem_config_parse("size=128M", &got, &err), &err, CONFIG_ERR_MISSING_FIELD,
                 "Error parsing --pmem: file missing", NULL);

    want = pmem_fixture();
    check_pmem("file=/tmp/pmem,size=128M", &want);

    want.id = S("mypmem0");
    check_pmem("file=/tmp/pmem,size=128M,id=mypmem0", &want);

    want = pmem_fixture();
    want.discard_writes = true;
    want.iommu = true;
    check_pmem("file=/tmp/pmem,size=128M,iommu=on,discard_writes=on", &want);

    /* size is optional: the file's own size is used then. */
    want = (PmemConfig){.file = S("/tmp/pmem")};
    check_pmem("file=/tmp/pmem", &want);
}

/* ------------------------------------------------------------- consoles */

static void test_console_parsing(void **state)
{
    (void)state;
    ConsoleConfig got;
    ConfigError err;
    static const struct {
        const char *in;
        ConsoleConfig want;
    } cases[] = {
        {"off", {.mode = CONSOLE_MODE_OFF}},
        {"pty", {.mode = CONSOLE_MODE_PTY}},
        {"tty", {.mode = CONSOLE_MODE_TTY}},
        {"null", {.mode = CONSOLE_MODE_NULL}},
        {"file=/tmp/console", {.mode = CONSOLE_MODE_FILE, .file = S("/tmp/console")}},
        {"null,iommu=on", {.mode = CONSOLE_MODE_NULL, .iommu = true}},
        {"file=/tmp/console,iommu=on", {.mode = CONSOLE_MODE_FILE, .iommu = true, .file = S("/tmp/console")}},
        {"socket=/tmp/serial.sock,iommu=on",
         {.mode = CONSOLE_MODE_SOCKET, .iommu = true, .socket = S("/tmp/serial.sock")}},
    };

    assert_error(console_config_parse("", "--console", &got, &err), &err, CONFIG_ERR_CONSOLE_INVALID_MODE,
                 "Error parsing --console: invalid console mode given", NULL);
    assert_error(console_config_parse("badmode", "--console", &got, &err), &err, CONFIG_ERR_PARSE,
                 "Error parsing --console", "badmode");

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        for (int serial = 0; serial < 2; serial++) {
            if (console_config_parse(cases[i].in, serial ? "--serial" : "--console", &got, &err) != 0)
                fail_msg("'%s': %s", cases[i].in, err.message);
            assert_console_eq(&got, &cases[i].want);
            console_config_free(&got);
        }
    }
}

static void test_console_parsing_more(void **state)
{
    (void)state;
    ConsoleConfig got;
    ConfigError err;

    /* The first mode word wins, in Cloud Hypervisor's order. */
    assert_int_equal(console_config_parse("file=/x,pty", "--serial", &got, &err), 0);
    assert_int_equal(got.mode, CONSOLE_MODE_PTY);
    console_config_free(&got);

    assert_error(console_config_parse("file=", "--serial", &got, &err), &err, CONFIG_ERR_CONSOLE_FILE_MISSING,
                 "--serial", NULL);
    assert_error(console_config_parse("socket=", "--console", &got, &err), &err,
                 CONFIG_ERR_CONSOLE_SOCKET_PATH_MISSING, "--console", NULL);
    assert_error(console_config_parse("iommu=on", "--serial", &got, &err), &err,
                 CONFIG_ERR_CONSOLE_INVALID_MODE, "Error parsing --serial: invalid console mode given", NULL);
    assert_error(console_config_parse("tty,iommu=x", "--serial", &got, &err), &err, CONFIG_ERR_PARSE,
                 "Error parsing --serial", "iommu");
}

static void test_debug_console_parsing(void **state)
{
    (void)state;
    DebugConsoleConfig got;
    ConfigError err;

    /* The command line's default. */
    assert_int_equal(debug_console_config_parse("off,iobase=0xe9", &got, &err), 0);
    assert_int_equal(got.mode, CONSOLE_MODE_OFF);
    assert_null(got.file);
    assert_true(got.iobase.present);
    assert_int_equal(got.iobase.value, 0xe9);
    debug_console_config_free(&got);

    /* As in Cloud Hypervisor, iobase is absent unless given. */
    static const struct {
        const char *in;
        ConsoleOutputMode mode;
        const char *file;
        OptU16 iobase;
    } cases[] = {
        {"off", CONSOLE_MODE_OFF, NULL, {false, 0}},
        {"pty", CONSOLE_MODE_PTY, NULL, {false, 0}},
        {"tty,iobase=0x3f8", CONSOLE_MODE_TTY, NULL, {true, 0x3f8}},
        {"null,iobase=0xFFFF", CONSOLE_MODE_NULL, NULL, {true, 0xffff}},
        {"file=/tmp/dbg,iobase=0x80", CONSOLE_MODE_FILE, "/tmp/dbg", {true, 0x80}},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        if (debug_console_config_parse(cases[i].in, &got, &err) != 0)
            fail_msg("--debug-console '%s': %s", cases[i].in, err.message);
        assert_int_equal(got.mode, cases[i].mode);
        assert_str_opt("debug console file", got.file, cases[i].file);
        assert_opt_u16(got.iobase, cases[i].iobase);
        debug_console_config_free(&got);
    }

    assert_error(debug_console_config_parse("tty,iobase=e9", &got, &err), &err, CONFIG_ERR_PARSE,
                 "Error parsing --debug-console", "0x");
    assert_error(debug_console_config_parse("tty,iobase=0x", &got, &err), &err, CONFIG_ERR_PARSE,
                 "--debug-console", NULL);
    assert_error(debug_console_config_parse("tty,iobase=0x10000", &got, &err), &err, CONFIG_ERR_PARSE,
                 "--debug-console", "0x10000");
    assert_error(debug_console_config_parse("tty,iobase=0xg", &got, &err), &err, CONFIG_ERR_PARSE,
                 "--debug-console", NULL);
    assert_error(debug_console_config_parse("iobase=0xe9", &got, &err), &err, CONFIG_ERR_CONSOLE_INVALID_MODE,
                 "--debug-console", NULL);
    assert_error(debug_console_config_parse("socket=/tmp/s", &got, &err), &err, CONFIG_ERR_PARSE,
                 "Error parsing --debug-console", "unknown option: socket");
    assert_error(debug_console_config_parse("file=", &got, &err), &err, CONFIG_ERR_CONSOLE_FILE_MISSING,
                 "--debug-console", NULL);
}

/* ------------------------------------------------------ devices & co */

static void test_device_parsing(void **state)
{
    (void)state;
    DeviceConfig got;
    ConfigError err;
    static const struct {
        const char *in;
        DeviceConfig want;
    } cases[] = {
        {"path=/path/to/device", {.path = S("/path/to/device")}},
        {"path=/path/to/device,iommu=on", {.path = S("/path/to/device"), .iommu = true}},
        {"path=/path/to/device,iommu=on,id=mydevice0",
         {.path = S("/path/to/device"), .iommu = true, .id = S("mydevice0")}},
        {"path=/path/to/device,pci_segment=5", {.path = S("/path/to/device"), .pci_segment = 5}},
    };

    assert_error(device_config_parse("", &got, &err), &err, CONFIG_ERR_MISSING_FIELD,
                 "Error parsing --device: path missing", NULL);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        if (device_config_parse(cases[i].in, &got, &err) != 0)
            fail_msg("--device '%s': %s", cases[i].in, err.message);
        assert_device_eq(&got, &cases[i].want);
        device_config_free(&got);
    }
}

static void test_user_device_parsing(void **state)
{
    (void)state;
    UserDeviceConfig got;
    ConfigError err;

    assert_error(user_device_config_parse("", &got, &err), &err, CONFIG_ERR_MISSING_FIELD,
                 "Error parsing --user-device: socket missing", NULL);
    assert_int_equal(user_device_config_parse("socket=/tmp/u.sock,id=ud0,pci_segment=1", &got, &err), 0);
    assert_string_equal(got.socket, "/tmp/u.sock");
    assert_string_equal(got.id, "ud0");
    assert_int_equal(got.pci_segment, 1);
    user_device_config_free(&got);
}

static void test_vdpa_parsing(void **state)
{
    (void)state;
    VdpaConfig want, got;
    ConfigError err;

    assert_error(vdpa_config_parse("", &got, &err), &err, CONFIG_ERR_MISSING_FIELD,
                 "Error parsing --vdpa: path missing", NULL);

    vdpa_config_init(&want);
    want.path = S("/dev/vhost-vdpa");
    assert_int_equal(vdpa_config_parse("path=/dev/vhost-vdpa", &got, &err), 0);
    assert_vdpa_eq(&got, &want);
    vdpa_config_free(&got);

    want.num_queues = 2;
    want.id = S("my_vdpa");
    assert_int_equal(vdpa_config_parse("path=/dev/vhost-vdpa,num_queues=2,id=my_vdpa", &got, &err), 0);
    assert_vdpa_eq(&got, &want);
    vdpa_config_free(&got);
}

static void test_tpm_parsing(void **state)
{
    (void)state;
    TpmConfig got;
    ConfigError err;

    assert_error(tpm_config_parse("", &got, &err), &err, CONFIG_ERR_MISSING_FIELD,
                 "Error parsing --tpm: path missing", NULL);
    assert_int_equal(tpm_config_parse("socket=/var/run/tpm.sock", &got, &err), 0);
    assert_string_equal(got.socket, "/var/run/tpm.sock");
    tpm_config_free(&got);
}

static void test_vsock_parsing(void **state)
{
    (void)state;
    VsockConfig got;
    ConfigError err;
    static const struct {
        const char *in;
        VsockConfig want;
    } cases[] = {
        {"socket=/tmp/sock,cid=3", {.cid = 3, .socket = S("/tmp/sock")}},
        {"socket=/tmp/sock,cid=3,iommu=on", {.cid = 3, .socket = S("/tmp/sock"), .iommu = true}},
        {"socket=/tmp/sock,cid=4294967295,id=vs0,pci_segment=2",
         {.cid = 4294967295u, .socket = S("/tmp/sock"), .id = S("vs0"), .pci_segment = 2}},
    };

    assert_error(vsock_config_parse("", &got, &err), &err, CONFIG_ERR_MISSING_FIELD,
                 "Error parsing --vsock: socket missing", NULL);
    assert_error(vsock_config_parse("socket=/tmp/sock", &got, &err), &err, CONFIG_ERR_MISSING_FIELD,
                 "Error parsing --vsock: cid missing", NULL);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        if (vsock_config_parse(cases[i].in, &got, &err) != 0)
            fail_msg("--vsock '%s': %s", cases[i].in, err.message);
        assert_vsock_eq(&got, &cases[i].want);
        vsock_config_free(&got);
    }
}

/* ------------------------------------------ platform, numa, sgx, landlock */

static void test_platform_parsing(void **state)
{
    (void)state;
    PlatformConfig got;
    ConfigError err;

    assert_int_equal(platform_config_parse("", &got, &err), 0);
    assert_int_equal(got.num_pci_segments, 1);
    assert_false(got.has_iommu_segments);
    assert_int_equal(got.n_iommu_segments, 0);
    assert_null(got.serial_number);
    assert_null(got.uuid);
    assert_int_equal(got.n_oem_strings, 0);
    platform_config_free(&got);

    assert_int_equal(platform_config_parse("num_pci_segments=96,iommu_segments=[1-3,7],serial_number=SN1,"
                                           "uuid=1e8aa28a-435d-4027-87f4-40dceff1fa0a,oem_strings=[a,b c]",
                                           &got, &err),
                     0);
    assert_int_equal(got.num_pci_segments, MAX_NUM_PCI_SEGMENTS);
    assert_true(got.has_iommu_segments);
    assert_int_equal(got.n_iommu_segments, 4);
    assert_int_equal(got.iommu_segments[0], 1);
    assert_int_equal(got.iommu_segments[2], 3);
    assert_int_equal(got.iommu_segments[3], 7);
    assert_string_equal(got.serial_number, "SN1");
    assert_string_equal(got.uuid, "1e8aa28a-435d-4027-87f4-40dceff1fa0a");
    assert_int_equal(got.n_oem_strings, 2);
    assert_string_equal(got.oem_strings[0], "a");
    assert_string_equal(got.oem_strings[1], "b c");
    platform_config_free(&got);

    assert_error(platform_config_parse("num_pci_segments=x", &got, &err), &err, CONFIG_ERR_PARSE,
                 "Error parsing --platform", "num_pci_segments");
}

static void test_numa_parsing(void **state)
{
    (void)state;
    NumaConfig got;
    ConfigError err;

    assert_int_equal(numa_config_parse("", &got, &err), 0);
    assert_int_equal(got.guest_numa_id, 0);
    assert_int_equal(
        got.n_cpus + got.n_distances + got.n_memory_zones + got.n_sgx_epc_sections + got.n_pci_segments, 0);
    numa_config_free(&got);

    assert_int_equal(numa_config_parse("guest_numa_id=1,cpus=[0-2,5],distances=[0@20,1@10],"
                                       "memory_zones=[mem0,mem1],sgx_epc_sections=[epc0],pci_segments=[1,2]",
                                       &got, &err),
                     0);
    assert_int_equal(got.guest_numa_id, 1);
    static const uint8_t cpus[] = {0, 1, 2, 5};
    assert_int_equal(got.n_cpus, 4);
    assert_memory_equal(got.cpus, cpus, sizeof(cpus));
    assert_int_equal(got.n_distances, 2);
    assert_int_equal(got.distances[0].destination, 0);
    assert_int_equal(got.distances[0].distance, 20);
    assert_int_equal(got.distances[1].destination, 1);
    assert_int_equal(got.distances[1].distance, 10);
    assert_int_equal(got.n_memory_zones, 2);
    assert_string_equal(got.memory_zones[0], "mem0");
    assert_string_equal(got.memory_zones[1], "mem1");
    assert_int_equal(got.n_sgx_epc_sections, 1);
    assert_string_equal(got.sgx_epc_sections[0], "epc0");
    assert_int_equal(got.n_pci_segments, 2);
    assert_int_equal(got.pci_segments[0], 1);
    assert_int_equal(got.pci_segments[1], 2);
    numa_config_free(&got);

    assert_error(numa_config_parse("distances=[0@[1,2]]", &got, &err), &err, CONFIG_ERR_PARSE,
                 "Error parsing --numa", "distances");
    assert_error(numa_config_parse("cpus=[3-1]", &got, &err), &err, CONFIG_ERR_PARSE, "Error parsing --numa",
                 "cpus");
}

static void test_sgx_epc_parsing(void **state)
{
    (void)state;
    SgxEpcConfig got;
    ConfigError err;

    assert_error(sgx_epc_config_parse("size=64M", &got, &err), &err, CONFIG_ERR_MISSING_FIELD,
                 "Error parsing --sgx-epc: id missing", NULL);
    assert_int_equal(sgx_epc_config_parse("id=epc0", &got, &err), 0);
    assert_string_equal(got.id, "epc0");
    assert_int_equal(got.size, 0);
    assert_false(got.prefault);
    sgx_epc_config_free(&got);
    assert_int_equal(sgx_epc_config_parse("id=epc1,size=64M,prefault=on", &got, &err), 0);
    assert_string_equal(got.id, "epc1");
    assert_int_equal(got.size, 64ULL << 20);
    assert_true(got.prefault);
    sgx_epc_config_free(&got);
}

static void test_landlock_parsing(void **state)
{
    (void)state;
    LandlockConfig got;
    ConfigError err;

    assert_int_equal(landlock_config_parse("path=/tmp,access=rw", &got, &err), 0);
    assert_string_equal(got.path, "/tmp");
    assert_string_equal(got.access, "rw");
    landlock_config_free(&got);
    assert_int_equal(landlock_config_parse("access=r,path=/usr", &got, &err), 0);
    assert_string_equal(got.path, "/usr");
    assert_string_equal(got.access, "r");
    landlock_config_free(&got);

    static const char *const missing_cases[] = {"", "path=/tmp", "access=rw", "path=,access=rw"};
    for (size_t i = 0; i < sizeof(missing_cases) / sizeof(missing_cases[0]); i++)
        assert_error(landlock_config_parse(missing_cases[i], &got, &err), &err, CONFIG_ERR_MISSING_FIELD,
                     "Error parsing --landlock-rules: path/access field missing", NULL);
    assert_error(landlock_config_parse("path=/tmp,access=rwx", &got, &err), &err, CONFIG_ERR_PARSE,
                 "Error parsing --landlock-rules", "rwx");
}

/* --------------------------------------------------------- hostile input */

/* Each parser behind one signature. The output starts as garbage so that a
 * parser relying on the caller to initialise it shows up, and must be all
 * zero after a failure ("left freed"). */
#define WRAP(name, type, call, free_fn)                                                                      \
    static int try_##name(const char *s, ConfigError *err)                                                   \
    {                                                                                                        \
        type c;                                                                                              \
        memset(&c, 0xa5, sizeof(c));                                                                         \
        int r = call;                                                                                        \
        if (r == 0) {                                                                                        \
            free_fn(&c);                                                                                     \
        } else {                                                                                             \
            static const type zero;                                                                          \
            if (memcmp(&c, &zero, sizeof(c)) != 0)                                                           \
                fail_msg(#name " '%.60s': output not cleared after an error", s);                            \
        }                                                                                                    \
        return r;                                                                                            \
    }

static void no_free(BalloonConfig *c)
{
    (void)c;
}

static int parse_zone_only(const char *s, MemoryConfig *c, ConfigError *err)
{
    return memory_config_parse("size=0", &s, 1, c, err);
}

WRAP(cpus, CpusConfig, cpus_config_parse(s, &c, err), cpus_config_free)
WRAP(platform, PlatformConfig, platform_config_parse(s, &c, err), platform_config_free)
WRAP(memory, MemoryConfig, memory_config_parse(s, NULL, 0, &c, err), memory_config_free)
WRAP(memory_zone, MemoryConfig, parse_zone_only(s, &c, err), memory_config_free)
WRAP(rate_limit_group, RateLimiterGroupConfig, rate_limiter_group_config_parse(s, &c, err),
     rate_limiter_group_config_free)
WRAP(disk, DiskConfig, disk_config_parse(s, &c, err), disk_config_free)
WRAP(net, NetConfig, net_config_parse(s, &c, err), net_config_free)
WRAP(rng, RngConfig, rng_config_parse(s, &c, err), rng_config_free)
WRAP(balloon, BalloonConfig, balloon_config_parse(s, &c, err), no_free)
WRAP(fs, FsConfig, fs_config_parse(s, &c, err), fs_config_free)
WRAP(pmem, PmemConfig, pmem_config_parse(s, &c, err), pmem_config_free)
WRAP(console, ConsoleConfig, console_config_parse(s, "--console", &c, err), console_config_free)
WRAP(serial, ConsoleConfig, console_config_parse(s, "--serial", &c, err), console_config_free)
WRAP(debug_console, DebugConsoleConfig, debug_console_config_parse(s, &c, err), debug_console_config_free)
WRAP(device, DeviceConfig, device_config_parse(s, &c, err), device_config_free)
WRAP(user_device, UserDeviceConfig, user_device_config_parse(s, &c, err), user_device_config_free)
WRAP(vdpa, VdpaConfig, vdpa_config_parse(s, &c, err), vdpa_config_free)
WRAP(vsock, VsockConfig, vsock_config_parse(s, &c, err), vsock_config_free)
WRAP(sgx_epc, SgxEpcConfig, sgx_epc_config_parse(s, &c, err), sgx_epc_config_free)
WRAP(numa, NumaConfig, numa_config_parse(s, &c, err), numa_config_free)
WRAP(tpm, TpmConfig, tpm_config_parse(s, &c, err), tpm_config_free)
WRAP(landlock, LandlockConfig, landlock_config_parse(s, &c, err), landlock_config_free)

typedef int (*ParseFn)(const char *s, ConfigError *err);

static const struct {
    const char *option;
    ParseFn fn;
    const char *known_key; /* a key the parser accepts, for the oversized string */
} parsers[] = {
    {"--cpus", try_cpus, "boot"},
    {"--platform", try_platform, "uuid"},
    {"--memory", try_memory, "size"},
    {"--memory-zone", try_memory_zone, "id"},
    {"--rate-limit-group", try_rate_limit_group, "id"},
    {"--disk", try_disk, "path"},
    {"--net", try_net, "tap"},
    {"--rng", try_rng, "src"},
    {"--balloon", try_balloon, "size"},
    {"--fs", try_fs, "tag"},
    {"--pmem", try_pmem, "file"},
    {"--console", try_console, "file"},
    {"--serial", try_serial, "file"},
    {"--debug-console", try_debug_console, "file"},
    {"--device", try_device, "path"},
    {"--user-device", try_user_device, "socket"},
    {"--vdpa", try_vdpa, "path"},
    {"--vsock", try_vsock, "socket"},
    {"--sgx-epc", try_sgx_epc, "id"},
    {"--numa", try_numa, "memory_zones"},
    {"--tpm", try_tpm, "socket"},
    {"--landlock-rules", try_landlock, "path"},
};

#define N_PARSERS (sizeof(parsers) / sizeof(parsers[0]))

static const struct {
    ParseFn fn;
    const char *option;
    const char *input;
    ConfigErrorCode code;
    const char *fragment;
} hostile[] = {
    /* nothing where something is required */
    {try_memory_zone, "--memory-zone", "", CONFIG_ERR_MISSING_FIELD, "id missing"},
    {try_fs, "--fs", "", CONFIG_ERR_MISSING_FIELD, "tag missing"},
    {try_pmem, "--pmem", "", CONFIG_ERR_MISSING_FIELD, "file missing"},
    {try_console, "--console", "", CONFIG_ERR_CONSOLE_INVALID_MODE, "invalid console mode"},
    {try_serial, "--serial", "", CONFIG_ERR_CONSOLE_INVALID_MODE, "invalid console mode"},
    {try_debug_console, "--debug-console", "", CONFIG_ERR_CONSOLE_INVALID_MODE, "invalid console mode"},
    {try_device, "--device", "", CONFIG_ERR_MISSING_FIELD, "path missing"},
    {try_user_device, "--user-device", "", CONFIG_ERR_MISSING_FIELD, "socket missing"},
    {try_vdpa, "--vdpa", "", CONFIG_ERR_MISSING_FIELD, "path missing"},
    {try_vsock, "--vsock", "", CONFIG_ERR_MISSING_FIELD, "socket missing"},
    {try_sgx_epc, "--sgx-epc", "", CONFIG_ERR_MISSING_FIELD, "id missing"},
    {try_tpm, "--tpm", "", CONFIG_ERR_MISSING_FIELD, "path missing"},
    {try_landlock, "--landlock-rules", "", CONFIG_ERR_MISSING_FIELD, "field missing"},
    {try_fs, "--fs", "tag=,socket=/s", CONFIG_ERR_MISSING_FIELD, "tag missing"},
    {try_vsock, "--vsock", "socket=/s,cid=", CONFIG_ERR_MISSING_FIELD, "cid missing"},
    {try_console, "--console", "socket=", CONFIG_ERR_CONSOLE_SOCKET_PATH_MISSING, NULL},
    {try_serial, "--serial", "file=", CONFIG_ERR_CONSOLE_FILE_MISSING, NULL},

    /* duplicate keys (Cloud Hypervisor would keep the last one) */
    {try_cpus, "--cpus", "boot=1,boot=2", CONFIG_ERR_PARSE, "duplicate option: boot"},
    {try_disk, "--disk", "path=/a,path=/b", CONFIG_ERR_PARSE, "duplicate option: path"},
    {try_net, "--net", "tap=a,tap=a", CONFIG_ERR_PARSE, "duplicate option: tap"},
    {try_console, "--console", "tty,tty", CONFIG_ERR_PARSE, "duplicate option: tty"},
    {try_memory_zone, "--memory-zone", "id=a,id=b", CONFIG_ERR_PARSE, "duplicate option: id"},
    {try_vsock, "--vsock", "socket=/s,cid=3,cid=4", CONFIG_ERR_PARSE, "duplicate option: cid"},

    /* unbalanced brackets and quotes */
    {try_cpus, "--cpus", "affinity=[0@[0,2]", CONFIG_ERR_PARSE, "invalid syntax"},
    {try_cpus, "--cpus", "affinity=[0@[0,2]]]", CONFIG_ERR_PARSE, "invalid syntax"},
    {try_disk, "--disk", "path=[/a", CONFIG_ERR_PARSE, "invalid syntax"},
    {try_disk, "--disk", "path=\"/a", CONFIG_ERR_PARSE, "invalid syntax"},
    {try_numa, "--numa", "cpus=[0,1", CONFIG_ERR_PARSE, "invalid syntax"},
    {try_platform, "--platform", "oem_strings=[a,b", CONFIG_ERR_PARSE, "invalid syntax"},
    {try_net, "--net", "fd=3,7]", CONFIG_ERR_PARSE, "invalid syntax"},

    /* syntax: a key without its value */
    {try_disk, "--disk", "path", CONFIG_ERR_PARSE, "invalid syntax"},
    {try_tpm, "--tpm", "socket", CONFIG_ERR_PARSE, "invalid syntax"},

    /* numbers that do not fit their field */
    {try_cpus, "--cpus", "boot=256", CONFIG_ERR_PARSE, "boot"},
    {try_cpus, "--cpus", "boot=1,max=256", CONFIG_ERR_PARSE, "max"},
    {try_cpus, "--cpus", "max_phys_bits=256", CONFIG_ERR_PARSE, "max_phys_bits"},
    {try_cpus, "--cpus", "boot=-1", CONFIG_ERR_PARSE, "boot"},
    {try_cpus, "--cpus", "affinity=[256@[0]]", CONFIG_ERR_PARSE, "affinity"},
    {try_cpus, "--cpus", "affinity=[0@[18446744073709551616]]", CONFIG_ERR_PARSE, "affinity"},
    {try_platform, "--platform", "num_pci_segments=65536", CONFIG_ERR_PARSE, "num_pci_segments"},
    {try_platform, "--platform", "iommu_segments=[65536]", CONFIG_ERR_PARSE, "iommu_segments"},
    {try_disk, "--disk", "path=/a,queue_size=65536", CONFIG_ERR_PARSE, "queue_size"},
    {try_disk, "--disk", "path=/a,num_queues=18446744073709551616", CONFIG_ERR_PARSE, "num_queues"},
    {try_disk, "--disk", "path=/a,pci_segment=65536", CONFIG_ERR_PARSE, "pci_segment"},
    {try_disk, "--disk", "path=/a,bw_size=18446744073709551616", CONFIG_ERR_PARSE, "bw_size"},
    {try_net, "--net", "queue_size=65536", CONFIG_ERR_PARSE, "queue_size"},
    {try_net, "--net", "mtu=65536", CONFIG_ERR_PARSE, "mtu"},
    {try_net, "--net", "fd=[2147483648]", CONFIG_ERR_PARSE, "fd"},
    {try_rate_limit_group, "--rate-limit-group", "id=g,ops_refill_time=18446744073709551616",
     CONFIG_ERR_PARSE, "ops_refill_time"},
    {try_fs, "--fs", "tag=t,socket=/s,queue_size=65536", CONFIG_ERR_PARSE, "queue_size"},
    {try_pmem, "--pmem", "file=/f,pci_segment=65536", CONFIG_ERR_PARSE, "pci_segment"},
    {try_device, "--device", "path=/d,pci_segment=65536", CONFIG_ERR_PARSE, "pci_segment"},
    {try_user_device, "--user-device", "socket=/s,pci_segment=65536", CONFIG_ERR_PARSE, "pci_segment"},
    {try_vdpa, "--vdpa", "path=/d,num_queues=-1", CONFIG_ERR_PARSE, "num_queues"},
    {try_vsock, "--vsock", "socket=/s,cid=4294967296", CONFIG_ERR_PARSE, "cid"},
    {try_numa, "--numa", "guest_numa_id=4294967296", CONFIG_ERR_PARSE, "guest_numa_id"},
    {try_numa, "--numa", "cpus=[256]", CONFIG_ERR_PARSE, "cpus"},
    {try_numa, "--numa", "distances=[1@256]", CONFIG_ERR_PARSE, "distances"},
    {try_numa, "--numa", "distances=[4294967296@10]", CONFIG_ERR_PARSE, "distances"},
    {try_numa, "--numa", "pci_segments=[65536]", CONFIG_ERR_PARSE, "pci_segments"},
    {try_memory_zone, "--memory-zone", "id=z,host_numa_node=4294967296", CONFIG_ERR_PARSE, "host_numa_node"},

    /* sizes whose unit shift overflows 64 bits */
    {try_memory, "--memory", "size=99999999999G", CONFIG_ERR_PARSE, "size"},
    {try_memory, "--memory", "hotplug_size=18446744073709551615K", CONFIG_ERR_PARSE, "hotplug_size"},
    {try_memory, "--memory", "hugepage_size=99999999999G", CONFIG_ERR_PARSE, "hugepage_size"},
    {try_memory_zone, "--memory-zone", "id=z,size=99999999999G", CONFIG_ERR_PARSE, "size"},
    {try_balloon, "--balloon", "size=99999999999G", CONFIG_ERR_PARSE, "size"},
    {try_pmem, "--pmem", "file=/f,size=99999999999G", CONFIG_ERR_PARSE, "size"},
    {try_sgx_epc, "--sgx-epc", "id=e,size=99999999999G", CONFIG_ERR_PARSE, "size"},

    /* wrong toggles */
    {try_rng, "--rng", "iommu=yes", CONFIG_ERR_PARSE, "iommu"},
    {try_pmem, "--pmem", "file=/f,discard_writes=2", CONFIG_ERR_PARSE, "discard_writes"},
    {try_sgx_epc, "--sgx-epc", "id=e,prefault=enabled", CONFIG_ERR_PARSE, "prefault"},
    {try_device, "--device", "path=/d,iommu=1", CONFIG_ERR_PARSE, "iommu"},
    {try_memory_zone, "--memory-zone", "id=z,shared=shared", CONFIG_ERR_PARSE, "shared"},
};

static void test_hostile_unknown_keys(void **state)
{
    (void)state;
    for (size_t i = 0; i < N_PARSERS; i++) {
        ConfigError err = {0};
        int r = parsers[i].fn("bogus_key=1", &err);
        assert_error(r, &err, CONFIG_ERR_PARSE, parsers[i].option, "unknown option: bogus_key");
        char prefix[64];
        snprintf(prefix, sizeof(prefix), "Error parsing %s: ", parsers[i].option);
        if (strncmp(err.message, prefix, strlen(prefix)) != 0)
            fail_msg("'%s' does not start with '%s'", err.message, prefix);
    }
}

static void test_hostile_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(hostile) / sizeof(hostile[0]); i++) {
        ConfigError err = {0};
        int r = hostile[i].fn(hostile[i].input, &err);
        if (r >= 0)
            fail_msg("%s '%s' was accepted", hostile[i].option, hostile[i].input);
        if (err.code != hostile[i].code)
            fail_msg("%s '%s': code %d, want %d (%s)", hostile[i].option, hostile[i].input, err.code,
                     hostile[i].code, err.message);
        if (!strstr(err.message, hostile[i].option))
            fail_msg("%s '%s': message '%s' does not name the option", hostile[i].option, hostile[i].input,
                     err.message);
        if (hostile[i].fragment && !strstr(err.message, hostile[i].fragment))
            fail_msg("%s '%s': message '%s' lacks '%s'", hostile[i].option, hostile[i].input, err.message,
                     hostile[i].fragment);
    }
}

static void test_hostile_oversized(void **state)
{
    (void)state;
    const size_t len = 1U << 20;
    char *big = malloc(len + 64);
    assert_non_null(big);
    for (size_t i = 0; i < N_PARSERS; i++) {
        int n = snprintf(big, 64, "%s=", parsers[i].known_key);
        memset(big + n, 'a', len);
        big[(size_t)n + len] = '\0';
        ConfigError err = {0};
        int r = parsers[i].fn(big, &err);
        assert_error(r, &err, CONFIG_ERR_PARSE, parsers[i].option, "longer than");
    }
    /* Just under the limit is fine for a plain string value. */
    memset(big, 0, len + 64);
    strcpy(big, "path=");
    memset(big + 5, 'p', 60000);
    DiskConfig d;
    ConfigError err;
    assert_int_equal(disk_config_parse(big, &d, &err), 0);
    assert_int_equal(strlen(d.path), 60000);
    disk_config_free(&d);
    free(big);
}

/* Garbage-ish strings must never crash any parser; they may succeed. */
static void test_hostile_fuzzish(void **state)
{
    (void)state;
    static const char *const inputs[] = {
        ",",           ",,,",          "=",           "==",      "[",       "]",
        "\"",          "[[[]]]",       "a=[",         "=x",      "off,=",   " , , ",
        "path=\"\"",   "id=\"a,b",     "@",           "[@]",     "cpus=[]", "fd=[]",
        "affinity=[]", "distances=[]", "size=K",      "size=",   "boot=+1", "boot= 1 ",
        "tty,",        ",tty",         "null,null=1", "iobase=", "access=", "features=",
        "topology=:::"};
    for (size_t i = 0; i < N_PARSERS; i++) {
        for (size_t j = 0; j < sizeof(inputs) / sizeof(inputs[0]); j++) {
            ConfigError err = {0};
            if (parsers[i].fn(inputs[j], &err) < 0 && !strstr(err.message, parsers[i].option) &&
                err.code != CONFIG_ERR_INVALID_CPU_FEATURES)
                fail_msg("%s '%s': message '%s' does not name the option", parsers[i].option, inputs[j],
                         err.message);
        }
    }
}

/* ------------------------------------------------------- vm_config_parse */

static void test_vm_config_parse_defaults(void **state)
{
    (void)state;
    VmParams params = {.kernel = "/boot/vmlinuz"};
    VmConfig cfg;
    ConfigError err = {0};

    if (vm_config_parse(&params, &cfg, &err) != 0)
        fail_msg("%s", err.message);
    CpusConfig cpus;
    cpus_config_init(&cpus);
    assert_cpus_eq(&cfg.cpus, &cpus);
    MemoryConfig mem;
    memory_config_init(&mem);
    assert_memory_eq(&cfg.memory, &mem);
    assert_true(cfg.has_payload);
    assert_string_equal(cfg.payload.kernel, "/boot/vmlinuz");
    assert_null(cfg.payload.cmdline);
    assert_string_equal(cfg.rng.src, "/dev/urandom");
    assert_int_equal(cfg.serial.mode, CONSOLE_MODE_NULL);
    assert_int_equal(cfg.console.mode, CONSOLE_MODE_TTY);
    assert_int_equal(cfg.debug_console.mode, CONSOLE_MODE_OFF);
    assert_true(cfg.debug_console.iobase.present);
    assert_int_equal(cfg.debug_console.iobase.value, DEFAULT_DEBUG_CONSOLE_PORT);
    assert_false(cfg.has_balloon || cfg.has_vsock || cfg.has_platform || cfg.has_tpm);
    assert_int_equal(cfg.n_disks + cfg.n_net + cfg.n_fs + cfg.n_pmem + cfg.n_devices + cfg.n_user_devices +
                         cfg.n_vdpa + cfg.n_sgx_epc + cfg.n_numa + cfg.n_rate_limit_groups +
                         cfg.n_landlock_rules,
                     0);
    assert_false(cfg.pvpanic || cfg.watchdog || cfg.landlock_enable || cfg.iommu);
    vm_config_free(&cfg);
}

static void test_vm_config_parse_full(void **state)
{
    (void)state;
    const char *const disks[] = {"path=/a.img,id=d0", "path=/b.img,readonly=on,rate_limit_group=g0"};
    const char *const net[] = {"tap=tap0,mac=52:54:00:00:00:01"};
    const char *const groups[] = {"id=g0,bw_size=1000,bw_refill_time=10"};
    const char *const zones[] = {"id=mz0,size=256M"};
    const char *const numa[] = {"guest_numa_id=0,cpus=[0-1],memory_zones=[mz0]"};
    const char *const fs[] = {"tag=t,socket=/fs.sock"};
    const char *const landlock[] = {"path=/tmp,access=rw"};
    VmParams params = {
        .cpus = "boot=2",
        .memory = "size=0,shared=on",
        .memory_zones = zones,
        .n_memory_zones = 1,
        .kernel = "/k",
        .cmdline = "console=ttyS0",
        .initramfs = "/i",
        .rate_limit_groups = groups,
        .n_rate_limit_groups = 1,
        .disks = disks,
        .n_disks = 2,
        .net = net,
        .n_net = 1,
        .rng = "src=/dev/random",
        .balloon = "size=64M",
        .fs = fs,
        .n_fs = 1,
        .serial = "tty",
        .console = "off",
        .debug_console = "pty",
        .vsock = "cid=3,socket=/v.sock",
        .pvpanic = true,
        .numa = numa,
        .n_numa = 1,
        .watchdog = true,
        .platform = "num_pci_segments=2",
        .landlock_enable = true,
        .landlock_rules = landlock,
        .n_landlock_rules = 1,
    };
    VmConfig cfg;
    ConfigError err = {0};

    if (vm_config_parse(&params, &cfg, &err) != 0)
        fail_msg("%s", err.message);
    assert_int_equal(cfg.cpus.boot_vcpus, 2);
    assert_int_equal(cfg.memory.n_zones, 1);
    assert_string_equal(cfg.memory.zones[0].id, "mz0");
    assert_string_equal(cfg.payload.cmdline, "console=ttyS0");
    assert_string_equal(cfg.payload.initramfs, "/i");
    assert_int_equal(cfg.n_disks, 2);
    assert_string_equal(cfg.disks[1].rate_limit_group, "g0");
    assert_int_equal(cfg.n_net, 1);
    assert_int_equal(cfg.n_rate_limit_groups, 1);
    assert_string_equal(cfg.rng.src, "/dev/random");
    assert_true(cfg.has_balloon);
    assert_int_equal(cfg.balloon.size, 64ULL << 20);
    assert_int_equal(cfg.n_fs, 1);
    assert_int_equal(cfg.serial.mode, CONSOLE_MODE_TTY);
    assert_int_equal(cfg.console.mode, CONSOLE_MODE_OFF);
    assert_int_equal(cfg.debug_console.mode, CONSOLE_MODE_PTY);
    assert_false(cfg.debug_console.iobase.present);
    assert_true(cfg.has_vsock);
    assert_int_equal(cfg.vsock.cid, 3);
    assert_true(cfg.pvpanic && cfg.watchdog && cfg.landlock_enable);
    assert_int_equal(cfg.n_numa, 1);
    assert_true(cfg.has_platform);
    assert_int_equal(cfg.platform.num_pci_segments, 2);
    assert_int_equal(cfg.n_landlock_rules, 1);
    vm_config_free(&cfg);
}

static void test_vm_config_parse_errors(void **state)
{
    (void)state;
    const char *const bad_disks[] = {"path=/a", "path=/b,queue_size=x"};
    const char *const bad_zone[] = {"size=1G"};
    const char *const bad_numa[] = {"cpus=[x]"};
    VmConfig cfg;
    ConfigError err;

    /* The second disk fails after the first was allocated: no leak, and
     * Cloud Hypervisor's order reports the disk before --cpus. */
    VmParams p1 = {.kernel = "/k", .disks = bad_disks, .n_disks = 2, .cpus = "boot=x"};
    assert_error(vm_config_parse(&p1, &cfg, &err), &err, CONFIG_ERR_PARSE,
                 "Error parsing --disk: unable to convert x for queue_size", NULL);

    VmParams p2 = {.kernel = "/k", .memory_zones = bad_zone, .n_memory_zones = 1};
    assert_error(vm_config_parse(&p2, &cfg, &err), &err, CONFIG_ERR_MISSING_FIELD,
                 "Error parsing --memory-zone: id missing", NULL);

    /* --numa is parsed before --cpus and --memory. */
    VmParams p3 = {.kernel = "/k", .numa = bad_numa, .n_numa = 1, .memory = "size=x"};
    assert_error(vm_config_parse(&p3, &cfg, &err), &err, CONFIG_ERR_PARSE, "Error parsing --numa", NULL);

    VmParams p4 = {.kernel = "/k", .console = "bogus", .serial = "bogus2"};
    assert_error(vm_config_parse(&p4, &cfg, &err), &err, CONFIG_ERR_PARSE, "Error parsing --console",
                 "bogus");

    VmParams p5 = {.kernel = "/k", .serial = "", .balloon = "size=1G,extra"};
    assert_error(vm_config_parse(&p5, &cfg, &err), &err, CONFIG_ERR_PARSE, "Error parsing --balloon", NULL);

    VmParams p6 = {.kernel = "/k", .debug_console = "tty,iobase=233"};
    assert_error(vm_config_parse(&p6, &cfg, &err), &err, CONFIG_ERR_PARSE, "--debug-console", NULL);

    VmParams p7 = {.kernel = "/k", .vsock = "cid=3", .tpm = "", .platform = "bogus"};
    assert_error(vm_config_parse(&p7, &cfg, &err), &err, CONFIG_ERR_MISSING_FIELD, "--vsock", NULL);

    VmParams p8 = {.kernel = "/k", .cpus = "boot=2,features=[sse]"};
    assert_error(vm_config_parse(&p8, &cfg, &err), &err, CONFIG_ERR_INVALID_CPU_FEATURES, "sse", NULL);

    /* Parsing succeeds, validation refuses: its verdict comes through. */
    VmParams p9 = {.cmdline = "quiet"};
    assert_error(vm_config_parse(&p9, &cfg, &err), &err, CONFIG_ERR_KERNEL_MISSING, NULL, NULL);
    VmParams p10 = {.kernel = "/k", .cpus = "boot=4,max=2"};
    assert_error(vm_config_parse(&p10, &cfg, &err), &err, CONFIG_ERR_CPUS_MAX_LOWER_THAN_BOOT, NULL, NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cpu_parsing),
        cmocka_unit_test(test_cpu_parsing_more),
        cmocka_unit_test(test_mem_parsing),
        cmocka_unit_test(test_mem_parsing_more),
        cmocka_unit_test(test_memory_zone_parsing),
        cmocka_unit_test(test_rate_limit_group_parsing),
        cmocka_unit_test(test_disk_parsing),
        cmocka_unit_test(test_disk_parsing_more),
        cmocka_unit_test(test_net_parsing),
        cmocka_unit_test(test_net_parsing_more),
        cmocka_unit_test(test_parse_rng),
        cmocka_unit_test(test_balloon_parsing),
        cmocka_unit_test(test_parse_fs),
        cmocka_unit_test(test_pmem_parsing),
        cmocka_unit_test(test_console_parsing),
        cmocka_unit_test(test_console_parsing_more),
        cmocka_unit_test(test_debug_console_parsing),
        cmocka_unit_test(test_device_parsing),
        cmocka_unit_test(test_user_device_parsing),
        cmocka_unit_test(test_vdpa_parsing),
        cmocka_unit_test(test_tpm_parsing),
        cmocka_unit_test(test_vsock_parsing),
        cmocka_unit_test(test_platform_parsing),
        cmocka_unit_test(test_numa_parsing),
        cmocka_unit_test(test_sgx_epc_parsing),
        cmocka_unit_test(test_landlock_parsing),
        cmocka_unit_test(test_hostile_unknown_keys),
        cmocka_unit_test(test_hostile_table),
        cmocka_unit_test(test_hostile_oversized),
        cmocka_unit_test(test_hostile_fuzzish),
        cmocka_unit_test(test_vm_config_parse_defaults),
        cmocka_unit_test(test_vm_config_parse_full),
        cmocka_unit_test(test_vm_config_parse_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
