/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The JSON form of VmConfig, field for field Cloud Hypervisor's serde form:
 * same names, same order, same defaults, enums as variant names, MAC and IPv4
 * addresses as strings, None omitted on output and accepted as missing or
 * null on input.
 *
 * Both directions are driven by one table per struct (Field/StructDesc
 * below), so a field is described once and cannot drift between reader and
 * writer.
 *
 * Where serde would accept a document we refuse it, because these documents
 * come from callers we do not trust (REST/D-Bus clients, files):
 *  - unknown fields are an error at every level (CH ignores them, except in
 *    RateLimiterConfig);
 *  - everything serde_json rejects but json-c lets through is checked by a
 *    pass over the raw text (scan_text): duplicate keys (json-c keeps the
 *    last), integers above u64 (json-c clamps them), NaN/Infinity, "1.",
 *    single-quoted strings, raw control characters and lone surrogates in
 *    strings, NUL in keys.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

/* json-c counts arrays and objects; CH's deepest document is 5 levels. */
#define JSON_MAX_DEPTH 32

/* ------------------------------------------------------------ descriptors */

typedef enum FieldKind {
    FK_BOOL,
    FK_U8,
    FK_U16,
    FK_U32,
    FK_U64,
    FK_USIZE,
    FK_I32,
    FK_OPT_U16,
    FK_OPT_U32,
    FK_OPT_U64,
    FK_STR,    /* char *; NULL = None for F_OPT, "" otherwise */
    FK_MAC,    /* MacAddr; optional (Option<MacAddr>) when has_off is set */
    FK_IPV4,   /* uint32_t, host byte order */
    FK_ENUM,   /* sub = EnumKind */
    FK_STRUCT, /* nested struct; optional when has_off is set */
    FK_LIST,   /* pointer + count of structs */
    FK_VALUES, /* pointer + count of scalars; sub = element FieldKind */
} FieldKind;

typedef enum EnumKind {
    EN_CONSOLE,
    EN_HOTPLUG,
    EN_VHOST,
} EnumKind;

/* F_REQ: serde has no default, the key must be there (and not null).
 * F_OPT: an Option: null reads as missing, None is omitted on output.
 * Neither: a plain field with a serde default (null is a type error). */
#define F_REQ          0x1
#define F_OPT          0x2
#define F_EMPTY_STRING 0x4 /* String with #[serde(default)]: missing reads as "" */

#define NO_OFF SIZE_MAX

typedef struct StructDesc StructDesc;

typedef struct Field {
    const char *name;
    FieldKind kind;
    unsigned flags;
    int sub; /* EnumKind for FK_ENUM, element FieldKind for FK_VALUES */
    size_t off;
    size_t n_off;   /* lists: offset of the size_t count */
    size_t has_off; /* bool has_xxx flag, or NO_OFF */
    const StructDesc *desc;
} Field;

struct StructDesc {
    size_t size;
    void (*init)(void *); /* defaults when the object is given; NULL = all zero */
    void (*free)(void *); /* NULL = owns nothing */
    const Field *fields;
    size_t n_fields;
};

/* Table rows, one field per line (clang-format would pack them). */
/* clang-format off */
#define FLD(S, m, k, fl)         {#m, k, fl, 0, offsetof(S, m), NO_OFF, NO_OFF, NULL}
#define FENUM(S, m, e, fl)       {#m, FK_ENUM, fl, e, offsetof(S, m), NO_OFF, NO_OFF, NULL}
#define FOPTMAC(S, m, has)       {#m, FK_MAC, F_OPT, 0, offsetof(S, m), NO_OFF, offsetof(S, has), NULL}
#define FSTRUCT(S, m, d)         {#m, FK_STRUCT, 0, 0, offsetof(S, m), NO_OFF, NO_OFF, &(d)}
#define FOPTSTRUCT(S, m, has, d) {#m, FK_STRUCT, F_OPT, 0, offsetof(S, m), NO_OFF, offsetof(S, has), &(d)}
#define FLIST(S, m, n, d, fl)    {#m, FK_LIST, fl, 0, offsetof(S, m), offsetof(S, n), NO_OFF, &(d)}
#define FVALUES(S, m, n, ek, fl) {#m, FK_VALUES, fl, ek, offsetof(S, m), offsetof(S, n), NO_OFF, NULL}
#define FVALUES_HAS(S, m, n, has, ek)                                                                        \
    {#m, FK_VALUES, F_OPT, ek, offsetof(S, m), offsetof(S, n), offsetof(S, has), NULL}
#define DESC(S, init_fn, free_fn, table)                                                                     \
    {sizeof(S), init_fn, free_fn, table, sizeof(table) / sizeof(table[0])}

/* The init and free functions take typed pointers; the tables need void *. */
#define VOID_WRAPPER(name, T, fn)                                                                          \
    static void name(void *p)                                                                              \
    {                                                                                                      \
        fn((T *)p);                                                                                        \
    }

VOID_WRAPPER(cpus_init_v, CpusConfig, cpus_config_init)
VOID_WRAPPER(memory_init_v, MemoryConfig, memory_config_init)
VOID_WRAPPER(platform_init_v, PlatformConfig, platform_config_init)
VOID_WRAPPER(disk_init_v, DiskConfig, disk_config_init)
VOID_WRAPPER(net_init_v, NetConfig, net_config_init)
VOID_WRAPPER(fs_init_v, FsConfig, fs_config_init)
VOID_WRAPPER(vdpa_init_v, VdpaConfig, vdpa_config_init)
VOID_WRAPPER(cpus_free_v, CpusConfig, cpus_config_free)
VOID_WRAPPER(zone_free_v, MemoryZoneConfig, memory_zone_config_free)
VOID_WRAPPER(memory_free_v, MemoryConfig, memory_config_free)
VOID_WRAPPER(platform_free_v, PlatformConfig, platform_config_free)
VOID_WRAPPER(group_free_v, RateLimiterGroupConfig, rate_limiter_group_config_free)
VOID_WRAPPER(disk_free_v, DiskConfig, disk_config_free)
VOID_WRAPPER(net_free_v, NetConfig, net_config_free)
VOID_WRAPPER(rng_free_v, RngConfig, rng_config_free)
VOID_WRAPPER(fs_free_v, FsConfig, fs_config_free)
VOID_WRAPPER(pmem_free_v, PmemConfig, pmem_config_free)
VOID_WRAPPER(console_free_v, ConsoleConfig, console_config_free)
VOID_WRAPPER(debug_console_free_v, DebugConsoleConfig, debug_console_config_free)
VOID_WRAPPER(device_free_v, DeviceConfig, device_config_free)
VOID_WRAPPER(user_device_free_v, UserDeviceConfig, user_device_config_free)
VOID_WRAPPER(vdpa_free_v, VdpaConfig, vdpa_config_free)
VOID_WRAPPER(vsock_free_v, VsockConfig, vsock_config_free)
VOID_WRAPPER(sgx_epc_free_v, SgxEpcConfig, sgx_epc_config_free)
VOID_WRAPPER(numa_free_v, NumaConfig, numa_config_free)
VOID_WRAPPER(payload_free_v, PayloadConfig, payload_config_free)
VOID_WRAPPER(tpm_free_v, TpmConfig, tpm_config_free)
VOID_WRAPPER(landlock_free_v, LandlockConfig, landlock_config_free)

static void cpu_affinity_free_v(void *p)
{
    CpuAffinity *a = p;
    free(a->host_cpus);
    memset(a, 0, sizeof(*a));
}

/* A given debug_console object starts from DebugConsoleConfig's defaults
 * except iobase: it is an Option without #[serde(default)], so a missing key
 * is None, exactly as CH's --debug-console parser leaves it. */
static void debug_console_init_v(void *p)
{
    DebugConsoleConfig *c = p;
    debug_console_config_init(c);
    c->iobase.present = false;
    c->iobase.value = 0;
}

static const Field cpu_topology_fields[] = {
    FLD(CpuTopology, threads_per_core, FK_U8, F_REQ),
    FLD(CpuTopology, cores_per_die, FK_U8, F_REQ),
    FLD(CpuTopology, dies_per_package, FK_U8, F_REQ),
    FLD(CpuTopology, packages, FK_U8, F_REQ),
};
static const StructDesc cpu_topology_desc = DESC(CpuTopology, NULL, NULL, cpu_topology_fields);

static const Field cpu_affinity_fields[] = {
    FLD(CpuAffinity, vcpu, FK_U8, F_REQ),
    FVALUES(CpuAffinity, host_cpus, n_host_cpus, FK_USIZE, F_REQ),
};
static const StructDesc cpu_affinity_desc = DESC(CpuAffinity, NULL, cpu_affinity_free_v, cpu_affinity_fields);

static const Field cpu_features_fields[] = {
    FLD(CpuFeatures, amx, FK_BOOL, 0),
};
static const StructDesc cpu_features_desc = DESC(CpuFeatures, NULL, NULL, cpu_features_fields);

static const Field cpus_fields[] = {
    FLD(CpusConfig, boot_vcpus, FK_U8, F_REQ),
    FLD(CpusConfig, max_vcpus, FK_U8, F_REQ),
    FOPTSTRUCT(CpusConfig, topology, has_topology, cpu_topology_desc),
    FLD(CpusConfig, kvm_hyperv, FK_BOOL, 0),
    FLD(CpusConfig, max_phys_bits, FK_U8, 0),
    FLIST(CpusConfig, affinity, n_affinity, cpu_affinity_desc, F_OPT),
    FSTRUCT(CpusConfig, features, cpu_features_desc),
};
static const StructDesc cpus_desc = DESC(CpusConfig, cpus_init_v, cpus_free_v, cpus_fields);

static const Field platform_fields[] = {
    FLD(PlatformConfig, num_pci_segments, FK_U16, 0),
    /* Some([]) and None differ here (the iommu flag), hence the has flag */
    FVALUES_HAS(PlatformConfig, iommu_segments, n_iommu_segments, has_iommu_segments, FK_U16),
    FLD(PlatformConfig, serial_number, FK_STR, F_OPT),
    FLD(PlatformConfig, uuid, FK_STR, F_OPT),
    FVALUES(PlatformConfig, oem_strings, n_oem_strings, FK_STR, F_OPT),
};
static const StructDesc platform_desc =
    DESC(PlatformConfig, platform_init_v, platform_free_v, platform_fields);

static const Field memory_zone_fields[] = {
    FLD(MemoryZoneConfig, id, FK_STR, F_REQ),
    FLD(MemoryZoneConfig, size, FK_U64, F_REQ),
    FLD(MemoryZoneConfig, file, FK_STR, F_OPT),
    FLD(MemoryZoneConfig, shared, FK_BOOL, 0),
    FLD(MemoryZoneConfig, hugepages, FK_BOOL, 0),
    FLD(MemoryZoneConfig, hugepage_size, FK_OPT_U64, F_OPT),
    FLD(MemoryZoneConfig, host_numa_node, FK_OPT_U32, F_OPT),
    FLD(MemoryZoneConfig, hotplug_size, FK_OPT_U64, F_OPT),
    FLD(MemoryZoneConfig, hotplugged_size, FK_OPT_U64, F_OPT),
    FLD(MemoryZoneConfig, prefault, FK_BOOL, 0),
};
static const StructDesc memory_zone_desc = DESC(MemoryZoneConfig, NULL, zone_free_v, memory_zone_fields);

static const Field memory_fields[] = {
    FLD(MemoryConfig, size, FK_U64, F_REQ),
    FLD(MemoryConfig, mergeable, FK_BOOL, 0),
    FENUM(MemoryConfig, hotplug_method, EN_HOTPLUG, 0),
    FLD(MemoryConfig, hotplug_size, FK_OPT_U64, F_OPT),
    FLD(MemoryConfig, hotplugged_size, FK_OPT_U64, F_OPT),
    FLD(MemoryConfig, shared, FK_BOOL, 0),
    FLD(MemoryConfig, hugepages, FK_BOOL, 0),
    FLD(MemoryConfig, hugepage_size, FK_OPT_U64, F_OPT),
    FLD(MemoryConfig, prefault, FK_BOOL, 0),
    FLIST(MemoryConfig, zones, n_zones, memory_zone_desc, F_OPT),
    FLD(MemoryConfig, thp, FK_BOOL, 0),
};
static const StructDesc memory_desc = DESC(MemoryConfig, memory_init_v, memory_free_v, memory_fields);

/* TokenBucketConfig and RateLimiterConfig have no serde defaults at all. */
static const Field token_bucket_fields[] = {
    FLD(TokenBucketConfig, size, FK_U64, F_REQ),
    FLD(TokenBucketConfig, one_time_burst, FK_OPT_U64, F_OPT),
    FLD(TokenBucketConfig, refill_time, FK_U64, F_REQ),
};
static const StructDesc token_bucket_desc = DESC(TokenBucketConfig, NULL, NULL, token_bucket_fields);

static const Field rate_limiter_fields[] = {
    FOPTSTRUCT(RateLimiterConfig, bandwidth, has_bandwidth, token_bucket_desc),
    FOPTSTRUCT(RateLimiterConfig, ops, has_ops, token_bucket_desc),
};
static const StructDesc rate_limiter_desc = DESC(RateLimiterConfig, NULL, NULL, rate_limiter_fields);

static const Field rate_limit_group_fields[] = {
    FLD(RateLimiterGroupConfig, id, FK_STR, F_EMPTY_STRING),
    FSTRUCT(RateLimiterGroupConfig, rate_limiter_config, rate_limiter_desc),
};
static const StructDesc rate_limit_group_desc =
    DESC(RateLimiterGroupConfig, NULL, group_free_v, rate_limit_group_fields);

static const Field disk_fields[] = {
    FLD(DiskConfig, path, FK_STR, F_OPT),
    FLD(DiskConfig, readonly, FK_BOOL, 0),
    FLD(DiskConfig, direct, FK_BOOL, 0),
    FLD(DiskConfig, iommu, FK_BOOL, 0),
    FLD(DiskConfig, num_queues, FK_USIZE, 0),
    FLD(DiskConfig, queue_size, FK_U16, 0),
    FLD(DiskConfig, vhost_user, FK_BOOL, 0),
    FLD(DiskConfig, vhost_socket, FK_STR, F_OPT),
    FLD(DiskConfig, rate_limit_group, FK_STR, F_OPT),
    FOPTSTRUCT(DiskConfig, rate_limiter_config, has_rate_limiter_config, rate_limiter_desc),
    FLD(DiskConfig, id, FK_STR, F_OPT),
    FLD(DiskConfig, disable_io_uring, FK_BOOL, 0),
    FLD(DiskConfig, disable_aio, FK_BOOL, 0),
    FLD(DiskConfig, pci_segment, FK_U16, 0),
    FLD(DiskConfig, serial, FK_STR, F_OPT),
};
static const StructDesc disk_desc = DESC(DiskConfig, disk_init_v, disk_free_v, disk_fields);

static const Field net_fields[] = {
    FLD(NetConfig, tap, FK_STR, F_OPT),
    FLD(NetConfig, ip, FK_IPV4, 0),
    FLD(NetConfig, mask, FK_IPV4, 0),
    FLD(NetConfig, mac, FK_MAC, 0),
    FOPTMAC(NetConfig, host_mac, has_host_mac),
    FLD(NetConfig, mtu, FK_OPT_U16, F_OPT),
    FLD(NetConfig, iommu, FK_BOOL, 0),
    FLD(NetConfig, num_queues, FK_USIZE, 0),
    FLD(NetConfig, queue_size, FK_U16, 0),
    FLD(NetConfig, vhost_user, FK_BOOL, 0),
    FLD(NetConfig, vhost_socket, FK_STR, F_OPT),
    FENUM(NetConfig, vhost_mode, EN_VHOST, 0),
    FLD(NetConfig, id, FK_STR, F_OPT),
    FVALUES(NetConfig, fds, n_fds, FK_I32, F_OPT),
    FOPTSTRUCT(NetConfig, rate_limiter_config, has_rate_limiter_config, rate_limiter_desc),
    FLD(NetConfig, pci_segment, FK_U16, 0),
    FLD(NetConfig, offload_tso, FK_BOOL, 0),
    FLD(NetConfig, offload_ufo, FK_BOOL, 0),
    FLD(NetConfig, offload_csum, FK_BOOL, 0),
};
static const StructDesc net_desc = DESC(NetConfig, net_init_v, net_free_v, net_fields);

static const Field rng_fields[] = {
    FLD(RngConfig, src, FK_STR, F_REQ),
    FLD(RngConfig, iommu, FK_BOOL, 0),
};
static const StructDesc rng_desc = DESC(RngConfig, NULL, rng_free_v, rng_fields);

static const Field balloon_fields[] = {
    FLD(BalloonConfig, size, FK_U64, F_REQ),
    FLD(BalloonConfig, deflate_on_oom, FK_BOOL, 0),
    FLD(BalloonConfig, free_page_reporting, FK_BOOL, 0),
};
static const StructDesc balloon_desc = DESC(BalloonConfig, NULL, NULL, balloon_fields);

static const Field fs_fields[] = {
    FLD(FsConfig, tag, FK_STR, F_REQ),
    FLD(FsConfig, socket, FK_STR, F_REQ),
    FLD(FsConfig, num_queues, FK_USIZE, 0),
    FLD(FsConfig, queue_size, FK_U16, 0),
    FLD(FsConfig, id, FK_STR, F_OPT),
    FLD(FsConfig, pci_segment, FK_U16, 0),
};
static const StructDesc fs_desc = DESC(FsConfig, fs_init_v, fs_free_v, fs_fields);

static const Field pmem_fields[] = {
    FLD(PmemConfig, file, FK_STR, F_REQ),
    FLD(PmemConfig, size, FK_OPT_U64, F_OPT),
    FLD(PmemConfig, iommu, FK_BOOL, 0),
    FLD(PmemConfig, discard_writes, FK_BOOL, 0),
    FLD(PmemConfig, id, FK_STR, F_OPT),
    FLD(PmemConfig, pci_segment, FK_U16, 0),
};
static const StructDesc pmem_desc = DESC(PmemConfig, NULL, pmem_free_v, pmem_fields);

static const Field console_fields[] = {
    FLD(ConsoleConfig, file, FK_STR, F_OPT),
    FENUM(ConsoleConfig, mode, EN_CONSOLE, F_REQ),
    FLD(ConsoleConfig, iommu, FK_BOOL, 0),
    FLD(ConsoleConfig, socket, FK_STR, F_OPT),
};
static const StructDesc console_desc = DESC(ConsoleConfig, NULL, console_free_v, console_fields);

static const Field debug_console_fields[] = {
    FLD(DebugConsoleConfig, file, FK_STR, F_OPT),
    FENUM(DebugConsoleConfig, mode, EN_CONSOLE, F_REQ),
    FLD(DebugConsoleConfig, iobase, FK_OPT_U16, F_OPT),
};
static const StructDesc debug_console_desc =
    DESC(DebugConsoleConfig, debug_console_init_v, debug_console_free_v, debug_console_fields);

static const Field device_fields[] = {
    FLD(DeviceConfig, path, FK_STR, F_REQ),
    FLD(DeviceConfig, iommu, FK_BOOL, 0),
    FLD(DeviceConfig, id, FK_STR, F_OPT),
    FLD(DeviceConfig, pci_segment, FK_U16, 0),
};
static const StructDesc device_desc = DESC(DeviceConfig, NULL, device_free_v, device_fields);

static const Field user_device_fields[] = {
    FLD(UserDeviceConfig, socket, FK_STR, F_REQ),
    FLD(UserDeviceConfig, id, FK_STR, F_OPT),
    FLD(UserDeviceConfig, pci_segment, FK_U16, 0),
};
static const StructDesc user_device_desc =
    DESC(UserDeviceConfig, NULL, user_device_free_v, user_device_fields);

static const Field vdpa_fields[] = {
    FLD(VdpaConfig, path, FK_STR, F_REQ),
    FLD(VdpaConfig, num_queues, FK_USIZE, 0),
    FLD(VdpaConfig, iommu, FK_BOOL, 0),
    FLD(VdpaConfig, id, FK_STR, F_OPT),
    FLD(VdpaConfig, pci_segment, FK_U16, 0),
};
static const StructDesc vdpa_desc = DESC(VdpaConfig, vdpa_init_v, vdpa_free_v, vdpa_fields);

static const Field vsock_fields[] = {
    FLD(VsockConfig, cid, FK_U32, F_REQ),
    FLD(VsockConfig, socket, FK_STR, F_REQ),
    FLD(VsockConfig, iommu, FK_BOOL, 0),
    FLD(VsockConfig, id, FK_STR, F_OPT),
    FLD(VsockConfig, pci_segment, FK_U16, 0),
};
static const StructDesc vsock_desc = DESC(VsockConfig, NULL, vsock_free_v, vsock_fields);

static const Field sgx_epc_fields[] = {
    FLD(SgxEpcConfig, id, FK_STR, F_REQ),
    FLD(SgxEpcConfig, size, FK_U64, 0),
    FLD(SgxEpcConfig, prefault, FK_BOOL, 0),
};
static const StructDesc sgx_epc_desc = DESC(SgxEpcConfig, NULL, sgx_epc_free_v, sgx_epc_fields);

static const Field numa_distance_fields[] = {
    FLD(NumaDistance, destination, FK_U32, 0),
    FLD(NumaDistance, distance, FK_U8, 0),
};
static const StructDesc numa_distance_desc = DESC(NumaDistance, NULL, NULL, numa_distance_fields);

static const Field numa_fields[] = {
    FLD(NumaConfig, guest_numa_id, FK_U32, 0),
    FVALUES(NumaConfig, cpus, n_cpus, FK_U8, F_OPT),
    FLIST(NumaConfig, distances, n_distances, numa_distance_desc, F_OPT),
    FVALUES(NumaConfig, memory_zones, n_memory_zones, FK_STR, F_OPT),
    FVALUES(NumaConfig, sgx_epc_sections, n_sgx_epc_sections, FK_STR, F_OPT),
    FVALUES(NumaConfig, pci_segments, n_pci_segments, FK_U16, F_OPT),
};
static const StructDesc numa_desc = DESC(NumaConfig, NULL, numa_free_v, numa_fields);

static const Field payload_fields[] = {
    FLD(PayloadConfig, firmware, FK_STR, F_OPT),
    FLD(PayloadConfig, kernel, FK_STR, F_OPT),
    FLD(PayloadConfig, cmdline, FK_STR, F_OPT),
    FLD(PayloadConfig, initramfs, FK_STR, F_OPT),
};
static const StructDesc payload_desc = DESC(PayloadConfig, NULL, payload_free_v, payload_fields);

static const Field tpm_fields[] = {
    FLD(TpmConfig, socket, FK_STR, F_REQ),
};
static const StructDesc tpm_desc = DESC(TpmConfig, NULL, tpm_free_v, tpm_fields);

static const Field landlock_fields[] = {
    FLD(LandlockConfig, path, FK_STR, F_REQ),
    FLD(LandlockConfig, access, FK_STR, F_REQ),
};
static const StructDesc landlock_desc = DESC(LandlockConfig, NULL, landlock_free_v, landlock_fields);

/* CH's VmConfig order; sgx_epc sits between iommu and numa as in CH. */
static const Field vm_fields[] = {
    FSTRUCT(VmConfig, cpus, cpus_desc),
    FSTRUCT(VmConfig, memory, memory_desc),
    FOPTSTRUCT(VmConfig, payload, has_payload, payload_desc),
    FLIST(VmConfig, rate_limit_groups, n_rate_limit_groups, rate_limit_group_desc, F_OPT),
    FLIST(VmConfig, disks, n_disks, disk_desc, F_OPT),
    FLIST(VmConfig, net, n_net, net_desc, F_OPT),
    FSTRUCT(VmConfig, rng, rng_desc),
    FOPTSTRUCT(VmConfig, balloon, has_balloon, balloon_desc),
    FLIST(VmConfig, fs, n_fs, fs_desc, F_OPT),
    FLIST(VmConfig, pmem, n_pmem, pmem_desc, F_OPT),
    FSTRUCT(VmConfig, serial, console_desc),
    FSTRUCT(VmConfig, console, console_desc),
    FSTRUCT(VmConfig, debug_console, debug_console_desc),
    FLIST(VmConfig, devices, n_devices, device_desc, F_OPT),
    FLIST(VmConfig, user_devices, n_user_devices, user_device_desc, F_OPT),
    FLIST(VmConfig, vdpa, n_vdpa, vdpa_desc, F_OPT),
    FOPTSTRUCT(VmConfig, vsock, has_vsock, vsock_desc),
    FLD(VmConfig, pvpanic, FK_BOOL, 0),
    FLD(VmConfig, iommu, FK_BOOL, 0),
    FLIST(VmConfig, sgx_epc, n_sgx_epc, sgx_epc_desc, F_OPT),
    FLIST(VmConfig, numa, n_numa, numa_desc, F_OPT),
    FLD(VmConfig, watchdog, FK_BOOL, 0),
    FOPTSTRUCT(VmConfig, platform, has_platform, platform_desc),
    FOPTSTRUCT(VmConfig, tpm, has_tpm, tpm_desc),
    FLD(VmConfig, landlock_enable, FK_BOOL, 0),
    FLIST(VmConfig, landlock_rules, n_landlock_rules, landlock_desc, F_OPT),
};
static const StructDesc vm_desc = DESC(VmConfig, NULL, NULL, vm_fields);
/* clang-format on */

/* ------------------------------------------------------ scalar helpers */

static size_t scalar_size(FieldKind k)
{
    switch (k) {
    case FK_U8:
        return sizeof(uint8_t);
    case FK_U16:
        return sizeof(uint16_t);
    case FK_U32:
        return sizeof(uint32_t);
    case FK_U64:
        return sizeof(uint64_t);
    case FK_USIZE:
        return sizeof(size_t);
    case FK_I32:
        return sizeof(int);
    case FK_STR:
        return sizeof(char *);
    default:
        return 0;
    }
}

static uint64_t uint_max(FieldKind k)
{
    switch (k) {
    case FK_U8:
        return UINT8_MAX;
    case FK_U16:
    case FK_OPT_U16:
        return UINT16_MAX;
    case FK_U32:
    case FK_OPT_U32:
        return UINT32_MAX;
    case FK_USIZE:
        return SIZE_MAX;
    default:
        return UINT64_MAX;
    }
}

static const char *enum_to_string(int which, const void *p)
{
    switch (which) {
    case EN_CONSOLE:
        return console_mode_to_string(*(const ConsoleOutputMode *)p);
    case EN_HOTPLUG:
        return hotplug_method_to_string(*(const HotplugMethod *)p);
    default:
        return vhost_mode_to_string(*(const VhostMode *)p);
    }
}

static int enum_from_string(int which, const char *s, void *p)
{
    switch (which) {
    case EN_CONSOLE:
        return console_mode_from_string(s, p);
    case EN_HOTPLUG:
        return hotplug_method_from_string(s, p);
    default:
        return vhost_mode_from_string(s, p);
    }
}

static const char *const enum_choices[] = {
    [EN_CONSOLE] = "Off, Pty, Tty, File, Socket, Null",
    [EN_HOTPLUG] = "Acpi, VirtioMem",
    [EN_VHOST] = "Client, Server",
};

/* ================================================================ writer */

/* Adds val under key; consumes val. Returns -1 on allocation failure. */
static int add(json_object *obj, const char *key, json_object *val)
{
    if (!val)
        return -1;
    /* Keys are string literals from the tables: json-c need not copy them. */
    if (json_object_object_add_ex(obj, key, val,
                                  JSON_C_OBJECT_ADD_KEY_IS_NEW | JSON_C_OBJECT_KEY_IS_CONSTANT)) {
        json_object_put(val);
        return -1;
    }
    return 0;
}

static json_object *write_scalar(FieldKind k, const void *p)
{
    switch (k) {
    case FK_BOOL:
        return json_object_new_boolean(*(const bool *)p);
    case FK_U8:
        return json_object_new_uint64(*(const uint8_t *)p);
    case FK_U16:
        return json_object_new_uint64(*(const uint16_t *)p);
    case FK_U32:
        return json_object_new_uint64(*(const uint32_t *)p);
    case FK_U64:
        return json_object_new_uint64(*(const uint64_t *)p);
    case FK_USIZE:
        return json_object_new_uint64(*(const size_t *)p);
    case FK_I32:
        return json_object_new_int64(*(const int *)p);
    case FK_STR: {
        const char *s = *(char *const *)p;
        /* A String (not Option) field left NULL in C still needs a value. */
        return json_object_new_string(s ? s : "");
    }
    default:
        return NULL;
    }
}

static json_object *write_struct(const void *base, const StructDesc *d);

static json_object *write_values(const void *arr, size_t n, FieldKind ek)
{
    json_object *a = json_object_new_array_ext((int)n);
    if (!a)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        json_object *v = write_scalar(ek, (const char *)arr + i * scalar_size(ek));
        if (!v || json_object_array_add(a, v)) {
            json_object_put(v);
            json_object_put(a);
            return NULL;
        }
    }
    return a;
}

static json_object *write_list(const void *arr, size_t n, const StructDesc *d)
{
    json_object *a = json_object_new_array_ext((int)n);
    if (!a)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        json_object *v = write_struct((const char *)arr + i * d->size, d);
        if (!v || json_object_array_add(a, v)) {
            json_object_put(v);
            json_object_put(a);
            return NULL;
        }
    }
    return a;
}

/* Returns 0 with *out NULL when the field is a None to omit. */
static int write_field(const void *base, const Field *f, json_object **out)
{
    const char *p = (const char *)base + f->off;
    bool has = f->has_off == NO_OFF || *(const bool *)((const char *)base + f->has_off);
    char buf[18];

    *out = NULL;
    switch (f->kind) {
    case FK_OPT_U16:
        if (((const OptU16 *)p)->present)
            *out = json_object_new_uint64(((const OptU16 *)p)->value);
        else
            return 0;
        break;
    case FK_OPT_U32:
        if (((const OptU32 *)p)->present)
            *out = json_object_new_uint64(((const OptU32 *)p)->value);
        else
            return 0;
        break;
    case FK_OPT_U64:
        if (((const OptU64 *)p)->present)
            *out = json_object_new_uint64(((const OptU64 *)p)->value);
        else
            return 0;
        break;
    case FK_STR:
        if (!*(char *const *)p && (f->flags & F_OPT))
            return 0;
        *out = write_scalar(FK_STR, p);
        break;
    case FK_MAC:
        if (!has)
            return 0;
        mac_addr_format((const MacAddr *)p, buf);
        *out = json_object_new_string(buf);
        break;
    case FK_IPV4:
        ipv4_format(*(const uint32_t *)p, buf);
        *out = json_object_new_string(buf);
        break;
    case FK_ENUM: {
        const char *s = enum_to_string(f->sub, p);
        if (!s)
            return -1; /* an out-of-range enum in C: a bug, not a JSON value */
        *out = json_object_new_string(s);
        break;
    }
    case FK_STRUCT:
        if (!has)
            return 0;
        *out = write_struct(p, f->desc);
        break;
    case FK_LIST:
    case FK_VALUES: {
        const void *arr = *(void *const *)p;
        size_t n = *(const size_t *)((const char *)base + f->n_off);
        /* count 0 is None for an Option<Vec> unless a has flag says Some([]) */
        if ((f->flags & F_OPT) && (n == 0 || !arr) && (f->has_off == NO_OFF || !has))
            return 0;
        if (!arr)
            n = 0;
        *out = f->kind == FK_LIST ? write_list(arr, n, f->desc) : write_values(arr, n, f->sub);
        break;
    }
    default:
        *out = write_scalar(f->kind, p);
        break;
    }
    return *out ? 0 : -1;
}

static json_object *write_struct(const void *base, const StructDesc *d)
{
    json_object *obj = json_object_new_object();
    if (!obj)
        return NULL;
    for (size_t i = 0; i < d->n_fields; i++) {
        json_object *v;
        if (write_field(base, &d->fields[i], &v) || (v && add(obj, d->fields[i].name, v))) {
            json_object_put(obj);
            return NULL;
        }
    }
    return obj;
}

char *vm_config_to_json(const VmConfig *c, bool pretty)
{
    json_object *obj = write_struct(c, &vm_desc);
    if (!obj)
        return NULL;
    /* Paths are everywhere in a config: "\/dev\/urandom" helps nobody. */
    int flags = JSON_C_TO_STRING_NOSLASHESCAPE |
                (pretty ? JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED : JSON_C_TO_STRING_PLAIN);
    const char *s = json_object_to_json_string_ext(obj, flags);
    char *out = s ? strdup(s) : NULL; /* s belongs to obj */
    json_object_put(obj);
    return out;
}

/* ================================================================ reader */

/* The JSON path of the value being read ("disks[1].queue_size"), for messages. */
typedef struct Path {
    char buf[160];
    size_t len;
} Path;

static size_t path_push_key(Path *p, const char *key)
{
    size_t old = p->len;
    if (p->len && p->len < sizeof(p->buf) - 1)
        p->buf[p->len++] = '.';
    /* Keys come from the caller and end up in logs and D-Bus replies: only
     * printable ASCII goes through (a cut UTF-8 sequence would not be valid). */
    for (; *key && p->len < sizeof(p->buf) - 1; key++)
        p->buf[p->len++] = (*key >= 0x20 && *key < 0x7f) ? *key : '?';
    p->buf[p->len] = '\0';
    return old;
}

static size_t path_push_index(Path *p, size_t i)
{
    size_t old = p->len;
    int n = snprintf(p->buf + p->len, sizeof(p->buf) - p->len, "[%zu]", i);
    if (n > 0)
        p->len += (size_t)n < sizeof(p->buf) - p->len ? (size_t)n : sizeof(p->buf) - p->len - 1;
    return old;
}

static void path_pop(Path *p, size_t old)
{
    p->len = old;
    p->buf[old] = '\0';
}

static int path_error(ConfigError *err, const Path *p, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int path_error(ConfigError *err, const Path *p, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return config_error_set(err, CONFIG_ERR_JSON, "%s: %s", p->len ? p->buf : "(top level)", msg);
}

static int no_memory(ConfigError *err)
{
    return config_error_set(err, CONFIG_ERR_NO_MEMORY, "out of memory while reading the JSON configuration");
}

/* Copies at most 32 printable ASCII characters of a bad value for a message. */
static void sanitize(const char *s, char out[36])
{
    size_t n = 0;
    for (; *s && n < 32; s++)
        out[n++] = (*s >= 0x20 && *s < 0x7f && *s != '"') ? *s : '?';
    if (*s)
        out[n++] = '.', out[n++] = '.', out[n++] = '.';
    out[n] = '\0';
}

/* A string without embedded NUL (json-c keeps them, C strings cannot). */
static int get_string(json_object *v, const Path *p, const char **out, ConfigError *err)
{
    if (!json_object_is_type(v, json_type_string))
        return path_error(err, p, "expected a string");
    const char *s = json_object_get_string(v);
    if (strlen(s) != (size_t)json_object_get_string_len(v))
        return path_error(err, p, "string contains a NUL character");
    *out = s;
    return 0;
}

/* Integers only: serde refuses 128.0 for a u16 and so do we. */
static int get_int(json_object *v, const Path *p, int64_t min, uint64_t max, bool *neg, uint64_t *out,
                   ConfigError *err)
{
    if (json_object_is_type(v, json_type_int)) {
        int64_t s = json_object_get_int64(v);
        /* json-c keeps values above INT64_MAX as uint64; get_int64 then
         * saturates to INT64_MAX, still positive. */
        if (s < 0 && s >= min) {
            *neg = true;
            *out = (uint64_t)s;
            return 0;
        }
        if (s >= 0 && json_object_get_uint64(v) <= max) {
            *neg = false;
            *out = json_object_get_uint64(v);
            return 0;
        }
    }
    if (min < 0)
        return path_error(err, p, "expected an integer in %" PRId64 "..%" PRIu64, min, max);
    return path_error(err, p, "expected an integer in 0..%" PRIu64, max);
}

static int get_uint(json_object *v, const Path *p, uint64_t max, uint64_t *out, ConfigError *err)
{
    bool neg;
    return get_int(v, p, 0, max, &neg, out, err);
}

/* Reads one scalar of kind k into dst (FK_STR: a fresh malloc'ed string). */
static int read_scalar(json_object *v, FieldKind k, void *dst, const Path *p, ConfigError *err)
{
    uint64_t u = 0;
    int rc;

    switch (k) {
    case FK_BOOL:
        if (!json_object_is_type(v, json_type_boolean))
            return path_error(err, p, "expected a boolean");
        *(bool *)dst = json_object_get_boolean(v);
        return 0;
    case FK_I32: {
        bool neg;
        rc = get_int(v, p, INT32_MIN, INT32_MAX, &neg, &u, err);
        if (!rc)
            *(int *)dst = (int)(int64_t)u;
        return rc;
    }
    case FK_STR: {
        const char *s;
        if ((rc = get_string(v, p, &s, err)))
            return rc;
        char *copy = strdup(s);
        if (!copy)
            return no_memory(err);
        free(*(char **)dst);
        *(char **)dst = copy;
        return 0;
    }
    default:
        break;
    }

    if ((rc = get_uint(v, p, uint_max(k), &u, err)))
        return rc;
    switch (k) {
    case FK_U8:
        *(uint8_t *)dst = (uint8_t)u;
        break;
    case FK_U16:
        *(uint16_t *)dst = (uint16_t)u;
        break;
    case FK_U32:
        *(uint32_t *)dst = (uint32_t)u;
        break;
    case FK_USIZE:
        *(size_t *)dst = (size_t)u;
        break;
    case FK_OPT_U16:
        ((OptU16 *)dst)->value = (uint16_t)u;
        ((OptU16 *)dst)->present = true;
        break;
    case FK_OPT_U32:
        ((OptU32 *)dst)->value = (uint32_t)u;
        ((OptU32 *)dst)->present = true;
        break;
    case FK_OPT_U64:
        ((OptU64 *)dst)->value = u;
        ((OptU64 *)dst)->present = true;
        break;
    default:
        *(uint64_t *)dst = u;
        break;
    }
    return 0;
}

static int read_struct(json_object *obj, void *base, const StructDesc *d, Path *p, ConfigError *err);

/* Lists: a fresh array, owned by base as soon as it exists so that an error
 * halfway leaves something vm_config_free() can release. [] stays None. */
static int read_array(json_object *v, void *base, const Field *f, Path *p, ConfigError *err)
{
    if (!json_object_is_type(v, json_type_array))
        return path_error(err, p, "expected an array");
    void **arr = (void **)((char *)base + f->off);
    size_t *count = (size_t *)((char *)base + f->n_off);
    size_t n = json_object_array_length(v);
    size_t elem = f->kind == FK_LIST ? f->desc->size : scalar_size(f->sub);

    if (f->has_off != NO_OFF)
        *(bool *)((char *)base + f->has_off) = true;
    if (n == 0)
        return 0;
    *arr = calloc(n, elem);
    if (!*arr)
        return no_memory(err);
    *count = n;
    for (size_t i = 0; i < n; i++) {
        void *item = (char *)*arr + i * elem;
        size_t old = path_push_index(p, i);
        int rc;
        if (f->kind == FK_LIST) {
            if (f->desc->init)
                f->desc->init(item);
            rc = read_struct(json_object_array_get_idx(v, i), item, f->desc, p, err);
        } else {
            rc = read_scalar(json_object_array_get_idx(v, i), f->sub, item, p, err);
        }
        if (rc)
            return rc;
        path_pop(p, old);
    }
    return 0;
}

static int read_field(json_object *v, void *base, const Field *f, Path *p, ConfigError *err)
{
    void *dst = (char *)base + f->off;
    bool *has = f->has_off == NO_OFF ? NULL : (bool *)((char *)base + f->has_off);
    const char *s;
    char bad[36];
    int rc;

    switch (f->kind) {
    case FK_MAC:
        if ((rc = get_string(v, p, &s, err)))
            return rc;
        if (mac_addr_parse(s, dst))
            return path_error(err, p, "invalid MAC address");
        if (has)
            *has = true;
        return 0;
    case FK_IPV4:
        if ((rc = get_string(v, p, &s, err)))
            return rc;
        if (ipv4_parse(s, dst))
            return path_error(err, p, "invalid IPv4 address");
        return 0;
    case FK_ENUM:
        if ((rc = get_string(v, p, &s, err)))
            return rc;
        if (enum_from_string(f->sub, s, dst)) {
            sanitize(s, bad);
            return path_error(err, p, "unknown variant \"%s\", expected one of %s", bad,
                              enum_choices[f->sub]);
        }
        return 0;
    case FK_STRUCT:
        /* A given object replaces the default wholesale, as serde does. */
        if (f->desc->free)
            f->desc->free(dst);
        if (f->desc->init)
            f->desc->init(dst);
        else
            memset(dst, 0, f->desc->size);
        if (has)
            *has = true;
        return read_struct(v, dst, f->desc, p, err);
    case FK_LIST:
    case FK_VALUES:
        return read_array(v, base, f, p, err);
    default:
        return read_scalar(v, f->kind, dst, p, err);
    }
}

static int read_struct(json_object *obj, void *base, const StructDesc *d, Path *p, ConfigError *err)
{
    if (!json_object_is_type(obj, json_type_object))
        return path_error(err, p, "expected an object");

    /* Unknown fields first: a typo should be named as such, not reported as
     * the missing field it was meant to be. */
    json_object_object_foreach(obj, key, unused)
    {
        (void)unused;
        size_t i = 0;
        while (i < d->n_fields && strcmp(d->fields[i].name, key) != 0)
            i++;
        if (i == d->n_fields) {
            path_push_key(p, key);
            return path_error(err, p, "unknown field");
        }
    }

    for (size_t i = 0; i < d->n_fields; i++) {
        const Field *f = &d->fields[i];
        json_object *v = NULL;
        bool found = json_object_object_get_ex(obj, f->name, &v);
        size_t old = path_push_key(p, f->name);
        int rc = 0;

        if (found && !v && (f->flags & F_OPT))
            found = false; /* null is None */
        if (!found) {
            if (f->flags & F_REQ)
                return path_error(err, p, "missing field");
            if ((f->flags & F_EMPTY_STRING) && !*(char **)((char *)base + f->off)) {
                *(char **)((char *)base + f->off) = strdup("");
                if (!*(char **)((char *)base + f->off))
                    return no_memory(err);
            }
        } else if (!v) {
            return path_error(err, p, "expected a value, got null");
        } else {
            rc = read_field(v, base, f, p, err);
        }
        if (rc)
            return rc;
        path_pop(p, old);
    }
    return 0;
}

/* ------------------------------------------------ raw text checks */

/*
 * What the text-level pass found, for the tree walk to report with a path:
 * the key count of every object in document order (json-c silently keeps the
 * last of duplicate keys, so the tree then holds fewer keys than the text)
 * and the ordinal of the first number literal too large for 64 bits (json-c
 * saturates it to UINT64_MAX).
 */
typedef struct TextScan {
    size_t *obj_keys;
    size_t n_obj;
    size_t cap_obj;
    size_t first_big; /* ordinal among number literals, or SIZE_MAX */
} TextScan;

static bool json_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static int hex4(const char *s, size_t len, size_t i, unsigned *out)
{
    unsigned v = 0;
    if (i + 4 > len)
        return -1;
    for (size_t k = i; k < i + 4; k++) {
        char c = s[k];
        int d = is_digit(c)              ? c - '0'
                : (c >= 'a' && c <= 'f') ? c - 'a' + 10
                : (c >= 'A' && c <= 'F') ? c - 'A' + 10
                                         : -1;
        if (d < 0)
            return -1;
        v = v << 4 | (unsigned)d;
    }
    *out = v;
    return 0;
}

/* Length of the well-formed UTF-8 sequence at s[i] (RFC 3629: no overlong
 * forms, no surrogates, nothing above U+10FFFF), or 0. json-c's own check
 * only counts continuation bytes. */
static size_t utf8_len(const char *str, size_t len, size_t i)
{
    const unsigned char *s = (const unsigned char *)str;
    unsigned char c = s[i];
    size_t n;
    unsigned char lo = 0x80, hi = 0xbf; /* allowed range of the second byte */

    if (c >= 0xc2 && c <= 0xdf)
        n = 2;
    else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        if (c == 0xe0)
            lo = 0xa0; /* overlong */
        else if (c == 0xed)
            hi = 0x9f; /* surrogates */
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        if (c == 0xf0)
            lo = 0x90; /* overlong */
        else if (c == 0xf4)
            hi = 0x8f; /* above U+10FFFF */
    } else
        return 0;
    if (i + n > len || s[i + 1] < lo || s[i + 1] > hi)
        return 0;
    for (size_t k = 2; k < n; k++)
        if (s[i + k] < 0x80 || s[i + k] > 0xbf)
            return 0;
    return n;
}

/* Skips the string opening at s[i]; returns the index after its closing quote
 * or SIZE_MAX (with err set). */
static size_t scan_string(const char *s, size_t len, size_t i, bool *has_nul, ConfigError *err)
{
    *has_nul = false;
    for (i++; i < len && s[i] != '"'; i++) {
        if ((unsigned char)s[i] < 0x20) {
            config_error_set(err, CONFIG_ERR_JSON, "control character in a string at offset %zu", i);
            return SIZE_MAX;
        }
        if ((unsigned char)s[i] >= 0x80) {
            size_t n = utf8_len(s, len, i);
            if (!n) {
                config_error_set(err, CONFIG_ERR_JSON, "invalid UTF-8 in a string at offset %zu", i);
                return SIZE_MAX;
            }
            i += n - 1;
            continue;
        }
        if (s[i] != '\\')
            continue;
        if (i + 1 < len && s[i + 1] == 'u') {
            unsigned u, lo;
            if (hex4(s, len, i + 2, &u))
                break;
            if (u == 0)
                *has_nul = true;
            if (u >= 0xdc00 && u <= 0xdfff)
                goto lone;
            if (u >= 0xd800 && u <= 0xdbff) {
                /* must be followed by its low half */
                if (i + 7 >= len || s[i + 6] != '\\' || s[i + 7] != 'u' || hex4(s, len, i + 8, &lo) ||
                    lo < 0xdc00 || lo > 0xdfff)
                    goto lone;
                i += 6;
            }
            i += 5;
        } else {
            i++;
        }
    }
    if (i >= len) {
        config_error_set(err, CONFIG_ERR_JSON, "malformed string in JSON document");
        return SIZE_MAX;
    }
    return i + 1;
lone:
    config_error_set(err, CONFIG_ERR_JSON, "lone UTF-16 surrogate in a \\u escape at offset %zu", i);
    return SIZE_MAX;
}

/* Checks the number at s[i] against JSON's grammar; returns the index after
 * it or SIZE_MAX. *big: a non-negative integer above UINT64_MAX. */
static size_t scan_number(const char *s, size_t len, size_t i, bool *big, ConfigError *err)
{
    size_t start = i, digits_start;
    bool integral = true, neg = false;

    if (s[i] == '-')
        neg = true, i++;
    digits_start = i;
    if (i < len && s[i] == '0')
        i++;
    else if (i < len && is_digit(s[i]))
        while (i < len && is_digit(s[i]))
            i++;
    else
        goto bad;
    size_t digits_end = i;
    if (i < len && s[i] == '.') {
        integral = false;
        if (++i >= len || !is_digit(s[i]))
            goto bad;
        while (i < len && is_digit(s[i]))
            i++;
    }
    if (i < len && (s[i] == 'e' || s[i] == 'E')) {
        integral = false;
        if (++i < len && (s[i] == '+' || s[i] == '-'))
            i++;
        if (i >= len || !is_digit(s[i]))
            goto bad;
        while (i < len && is_digit(s[i]))
            i++;
    }
    if (i < len &&
        (is_digit(s[i]) || s[i] == '.' || s[i] == 'e' || s[i] == 'E' || s[i] == '+' || s[i] == '-'))
        goto bad;
    size_t nd = digits_end - digits_start;
    *big = integral && !neg &&
           (nd > 20 || (nd == 20 && memcmp(s + digits_start, "18446744073709551615", 20) > 0));
    return i;
bad:
    config_error_set(err, CONFIG_ERR_JSON, "invalid number at offset %zu", start);
    return SIZE_MAX;
}

/* Runs on text json-c has already accepted, so brackets balance and strings
 * close; it only looks for what json-c accepts and JSON does not. */
static int scan_text(const char *s, size_t len, TextScan *sc, ConfigError *err)
{
    size_t stack[JSON_MAX_DEPTH + 1];
    size_t depth = 0, numbers = 0;

    sc->first_big = SIZE_MAX;
    for (size_t i = 0; i < len;) {
        char c = s[i];
        if (c == '"') {
            bool has_nul;
            size_t end = scan_string(s, len, i, &has_nul, err);
            if (end == SIZE_MAX)
                return -EINVAL;
            size_t k = end;
            while (k < len && json_space(s[k]))
                k++;
            if (k < len && s[k] == ':' && depth) {
                if (has_nul)
                    return config_error_set(err, CONFIG_ERR_JSON,
                                            "object key with a NUL character at offset %zu", i);
                sc->obj_keys[stack[depth - 1]]++;
            }
            i = end;
        } else if (c == '-' || is_digit(c)) {
            bool big;
            size_t end = scan_number(s, len, i, &big, err);
            if (end == SIZE_MAX)
                return -EINVAL;
            if (big && sc->first_big == SIZE_MAX)
                sc->first_big = numbers;
            numbers++;
            i = end;
        } else if (c == '{') {
            if (depth > JSON_MAX_DEPTH)
                return config_error_set(err, CONFIG_ERR_JSON, "JSON document nested too deeply");
            if (sc->n_obj == sc->cap_obj) {
                size_t cap = sc->cap_obj ? sc->cap_obj * 2 : 64;
                size_t *n = realloc(sc->obj_keys, cap * sizeof(*n));
                if (!n)
                    return no_memory(err);
                sc->obj_keys = n;
                sc->cap_obj = cap;
            }
            sc->obj_keys[sc->n_obj] = 0;
            stack[depth++] = sc->n_obj++;
            i++;
        } else if (c == '}') {
            if (depth)
                depth--;
            i++;
        } else if (c == '\'') {
            return config_error_set(err, CONFIG_ERR_JSON, "single-quoted string at offset %zu", i);
        } else if (c == 'N' || c == 'I') {
            return config_error_set(err, CONFIG_ERR_JSON, "NaN and Infinity are not JSON (offset %zu)", i);
        } else {
            i++;
        }
    }
    return 0;
}

/* Walks the tree in document order alongside what scan_text counted. */
static int walk_tree(json_object *v, const TextScan *sc, size_t *obj_i, size_t *num_i, Path *p,
                     ConfigError *err)
{
    switch (json_object_get_type(v)) {
    case json_type_object: {
        if (*obj_i >= sc->n_obj || sc->obj_keys[*obj_i] != (size_t)json_object_object_length(v))
            return path_error(err, p, "duplicate field");
        (*obj_i)++;
        json_object_object_foreach(v, key, child)
        {
            size_t old = path_push_key(p, key);
            int rc = walk_tree(child, sc, obj_i, num_i, p, err);
            if (rc)
                return rc;
            path_pop(p, old);
        }
        return 0;
    }
    case json_type_array:
        for (size_t i = 0; i < json_object_array_length(v); i++) {
            size_t old = path_push_index(p, i);
            int rc = walk_tree(json_object_array_get_idx(v, i), sc, obj_i, num_i, p, err);
            if (rc)
                return rc;
            path_pop(p, old);
        }
        return 0;
    case json_type_int:
    case json_type_double:
        if ((*num_i)++ == sc->first_big)
            return path_error(err, p, "integer too large");
        return 0;
    default:
        return 0;
    }
}

static int parse_document(const char *json, size_t len, json_object **out, ConfigError *err)
{
    *out = NULL;
    if (!json)
        return config_error_set(err, CONFIG_ERR_JSON, "no JSON document");
    if (len > CONFIG_MAX_INPUT)
        return config_error_set(err, CONFIG_ERR_JSON, "JSON document too large (%zu bytes, at most %u)", len,
                                CONFIG_MAX_INPUT);

    json_tokener *tok = json_tokener_new_ex(JSON_MAX_DEPTH);
    if (!tok)
        return no_memory(err);
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
    json_object *root = json_tokener_parse_ex(tok, json, (int)len);
    enum json_tokener_error jerr = json_tokener_get_error(tok);
    size_t end = json_tokener_get_parse_end(tok);
    if (jerr == json_tokener_continue) {
        /* json-c cannot tell "null" or "12" from a prefix of "nullx" or
         * "123" until it sees a terminator: give it the NUL. */
        root = json_tokener_parse_ex(tok, "", 1);
        jerr = json_tokener_get_error(tok);
        end = len;
    }
    json_tokener_free(tok);

    int rc = 0;
    if (jerr == json_tokener_continue || jerr == json_tokener_error_parse_eof)
        rc = config_error_set(err, CONFIG_ERR_JSON, "malformed JSON: unexpected end of input at offset %zu",
                              len);
    else if (jerr != json_tokener_success)
        rc = config_error_set(err, CONFIG_ERR_JSON, "malformed JSON: %s at offset %zu",
                              json_tokener_error_desc(jerr), end);
    else if (end != len) /* only a NUL byte can stop json-c early without an error */
        rc = config_error_set(err, CONFIG_ERR_JSON, "malformed JSON: trailing data at offset %zu", end);
    else if (!json_object_is_type(root, json_type_object)) /* a NULL root is the document "null" */
        rc = config_error_set(err, CONFIG_ERR_JSON, "the JSON document must be an object, not %s",
                              json_type_to_name(json_object_get_type(root)));
    if (!rc) {
        TextScan sc = {0};
        Path p = {{0}, 0};
        size_t obj_i = 0, num_i = 0;
        rc = scan_text(json, len, &sc, err);
        if (!rc)
            rc = walk_tree(root, &sc, &obj_i, &num_i, &p, err);
        free(sc.obj_keys);
    }
    if (rc) {
        json_object_put(root);
        return rc;
    }
    *out = root;
    return 0;
}

int vm_config_from_json(const char *json, size_t len, VmConfig *out, ConfigError *err)
{
    json_object *root;
    int rc = vm_config_init(out);
    if (rc) {
        vm_config_free(out);
        return no_memory(err);
    }
    rc = parse_document(json, len, &root, err);
    if (!rc) {
        Path p = {{0}, 0};
        rc = read_struct(root, out, &vm_desc, &p, err);
        json_object_put(root);
    }
    if (rc)
        vm_config_free(out);
    return rc;
}
