/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The VM configuration model.
 *
 * It mirrors Cloud Hypervisor's VmConfig field for field (same names, same
 * defaults, same validation order) so that its users, its JSON documents and
 * its command lines carry over unchanged. This module only parses, validates
 * and (de)serialises; nothing here touches KVM.
 *
 * Conventions:
 *  - An optional string is a char * that is NULL when absent. Every string is
 *    owned by the struct that holds it and freed by the matching *_free().
 *  - An optional number is an OptU16/OptU32/OptU64 with a `present` flag.
 *  - An optional list is a pointer + count; count == 0 means "absent" (Cloud
 *    Hypervisor's None). Lists are never empty-but-present.
 *  - Functions that can fail return 0 on success or a negative errno, and fill
 *    a ConfigError with a code and a message a person can act on.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---------------------------------------------------------------- defaults */

#define DEFAULT_VCPUS 1
#define DEFAULT_MAX_PHYS_BITS 46
#define DEFAULT_MEMORY_MB 512ULL
#define DEFAULT_NUM_PCI_SEGMENTS 1
#define MAX_NUM_PCI_SEGMENTS 96
#define DEFAULT_DISK_NUM_QUEUES 1
#define DEFAULT_DISK_QUEUE_SIZE 128
#define DEFAULT_NET_NUM_QUEUES 2
#define DEFAULT_NET_QUEUE_SIZE 256
#define DEFAULT_NET_IP "192.168.249.1"
#define DEFAULT_NET_MASK "255.255.255.0"
#define DEFAULT_FS_NUM_QUEUES 1
#define DEFAULT_FS_QUEUE_SIZE 1024
#define DEFAULT_VDPA_NUM_QUEUES 1
#define DEFAULT_RNG_SOURCE "/dev/urandom"
#define DEFAULT_DEBUG_CONSOLE_PORT 0xe9
/* The smallest MTU the virtio spec lets a driver expect (VIRTIO 1.2, 5.1.4.1). */
#define VIRTIO_NET_MIN_MTU 1280

/* Upper bound on any single option string or JSON document we accept. */
#define CONFIG_MAX_INPUT (1U << 20)

/* ------------------------------------------------------------------ errors */

typedef enum ConfigErrorCode {
    CONFIG_OK = 0,

    /* Parse errors: which option failed (the message says why). */
    CONFIG_ERR_PARSE,         /* generic syntax/conversion error */
    CONFIG_ERR_MISSING_FIELD, /* e.g. "--fs: tag missing" */
    CONFIG_ERR_INVALID_CPU_FEATURES,
    CONFIG_ERR_CONSOLE_INVALID_MODE,
    CONFIG_ERR_JSON,       /* malformed JSON, unknown field, wrong type */
    CONFIG_ERR_ARGS,       /* command-line level: unknown flag, missing value */
    CONFIG_ERR_NO_MEMORY,

    /* Validation errors, one per Cloud Hypervisor ValidationError variant. */
    CONFIG_ERR_KERNEL_MISSING,
    CONFIG_ERR_CONSOLE_FILE_MISSING,
    CONFIG_ERR_CONSOLE_SOCKET_PATH_MISSING,
    CONFIG_ERR_CPUS_MAX_LOWER_THAN_BOOT,
    CONFIG_ERR_DISK_SOCKET_AND_PATH,
    CONFIG_ERR_VHOST_USER_REQUIRES_SHARED_MEMORY,
    CONFIG_ERR_VHOST_USER_MISSING_SOCKET,
    CONFIG_ERR_IOMMU_UNSUPPORTED,
    CONFIG_ERR_VFIO_UNSUPPORTED,
    CONFIG_ERR_CPU_TOPOLOGY_COUNT,
    CONFIG_ERR_CPU_TOPOLOGY_ZERO_PART,
    CONFIG_ERR_VNET_QUEUE_LOWER_THAN_2,
    CONFIG_ERR_VNET_QUEUE_FD_MISMATCH,
    CONFIG_ERR_VNET_RESERVED_FD,
    CONFIG_ERR_NO_HARDWARE_CHECKSUM_OFFLOAD,
    CONFIG_ERR_HUGE_PAGE_SIZE_WITHOUT_HUGE_PAGES,
    CONFIG_ERR_INVALID_HUGE_PAGE_SIZE,
    CONFIG_ERR_TOO_MANY_QUEUES,
    CONFIG_ERR_USER_DEVICES_REQUIRE_SHARED_MEMORY,
    CONFIG_ERR_VSOCK_SPECIAL_CID,
    CONFIG_ERR_MEMORY_ZONE_REUSED,
    CONFIG_ERR_INVALID_NUM_PCI_SEGMENTS,
    CONFIG_ERR_INVALID_PCI_SEGMENT,
    CONFIG_ERR_BALLOON_LARGER_THAN_RAM,
    CONFIG_ERR_ON_IOMMU_SEGMENT,
    CONFIG_ERR_IOMMU_NOT_SUPPORTED_ON_SEGMENT,
    CONFIG_ERR_IDENTIFIER_NOT_UNIQUE,
    CONFIG_ERR_INVALID_IDENTIFIER,
    CONFIG_ERR_IOMMU_NOT_SUPPORTED,
    CONFIG_ERR_DUPLICATE_DEVICE_PATH,
    CONFIG_ERR_INVALID_MTU,
    CONFIG_ERR_PCI_SEGMENT_REUSED,
    CONFIG_ERR_DEFAULT_PCI_SEGMENT_INVALID_NODE,
    CONFIG_ERR_INVALID_RATE_LIMITER_GROUP,
    /* Ours, not Cloud Hypervisor's: a configuration that parses and validates
     * but asks for something this VMM does not implement (vfio, vDPA, TPM...).
     * Raised when the VM is started, never while parsing. */
    CONFIG_ERR_NOT_SUPPORTED,
} ConfigErrorCode;

typedef struct ConfigError {
    ConfigErrorCode code;
    char message[512];
} ConfigError;

/* Set *err (if not NULL) and return -EINVAL (or -ENOMEM for NO_MEMORY). */
int config_error_set(ConfigError *err, ConfigErrorCode code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Prefix the existing message, e.g. "Error parsing --disk: " + message. */
void config_error_prefix(ConfigError *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ------------------------------------------------------ optional numbers */

typedef struct OptU16 {
    bool present;
    uint16_t value;
} OptU16;

typedef struct OptU32 {
    bool present;
    uint32_t value;
} OptU32;

typedef struct OptU64 {
    bool present;
    uint64_t value;
} OptU64;

/* ------------------------------------------------------------------- cpus */

typedef struct CpuTopology {
    uint8_t threads_per_core;
    uint8_t cores_per_die;
    uint8_t dies_per_package;
    uint8_t packages;
} CpuTopology;

typedef struct CpuAffinity {
    uint8_t vcpu;
    size_t *host_cpus;
    size_t n_host_cpus;
} CpuAffinity;

typedef struct CpuFeatures {
    bool amx;
} CpuFeatures;

typedef struct CpusConfig {
    uint8_t boot_vcpus;
    uint8_t max_vcpus;
    bool has_topology;
    CpuTopology topology;
    bool kvm_hyperv;
    uint8_t max_phys_bits;
    CpuAffinity *affinity;
    size_t n_affinity;
    CpuFeatures features;
} CpusConfig;

/* --------------------------------------------------------------- platform */

typedef struct PlatformConfig {
    uint16_t num_pci_segments;
    uint16_t *iommu_segments;
    size_t n_iommu_segments;
    bool has_iommu_segments; /* Some(vec![]) differs from None for the iommu flag */
    char *serial_number;
    char *uuid;
    char **oem_strings;
    size_t n_oem_strings;
} PlatformConfig;

/* ----------------------------------------------------------------- memory */

typedef enum HotplugMethod {
    HOTPLUG_METHOD_ACPI = 0,
    HOTPLUG_METHOD_VIRTIO_MEM,
} HotplugMethod;

typedef struct MemoryZoneConfig {
    char *id;
    uint64_t size;
    char *file;
    bool shared;
    bool hugepages;
    OptU64 hugepage_size;
    OptU32 host_numa_node;
    OptU64 hotplug_size;
    OptU64 hotplugged_size;
    bool prefault;
} MemoryZoneConfig;

typedef struct MemoryConfig {
    uint64_t size;
    bool mergeable;
    HotplugMethod hotplug_method;
    OptU64 hotplug_size;
    OptU64 hotplugged_size;
    bool shared;
    bool hugepages;
    OptU64 hugepage_size;
    bool prefault;
    MemoryZoneConfig *zones;
    size_t n_zones;
    bool thp;
} MemoryConfig;

/* ----------------------------------------------------------- rate limiting */

typedef struct TokenBucketConfig {
    uint64_t size;
    OptU64 one_time_burst;
    uint64_t refill_time; /* milliseconds */
} TokenBucketConfig;

typedef struct RateLimiterConfig {
    bool has_bandwidth;
    TokenBucketConfig bandwidth;
    bool has_ops;
    TokenBucketConfig ops;
} RateLimiterConfig;

typedef struct RateLimiterGroupConfig {
    char *id;
    RateLimiterConfig rate_limiter_config;
} RateLimiterGroupConfig;

/* ------------------------------------------------------------------- disk */

typedef struct DiskConfig {
    char *path;
    bool readonly;
    bool direct;
    bool iommu;
    size_t num_queues;
    uint16_t queue_size;
    bool vhost_user;
    char *vhost_socket;
    char *rate_limit_group;
    bool has_rate_limiter_config;
    RateLimiterConfig rate_limiter_config;
    char *id;
    bool disable_io_uring; /* testing only, as in Cloud Hypervisor */
    bool disable_aio;      /* testing only, as in Cloud Hypervisor */
    uint16_t pci_segment;
    char *serial;
} DiskConfig;

/* -------------------------------------------------------------------- net */

typedef enum VhostMode {
    VHOST_MODE_CLIENT = 0,
    VHOST_MODE_SERVER,
} VhostMode;

typedef struct MacAddr {
    uint8_t bytes[6];
} MacAddr;

typedef struct NetConfig {
    char *tap;
    uint32_t ip;   /* IPv4, host byte order */
    uint32_t mask; /* IPv4, host byte order */
    MacAddr mac;
    bool has_host_mac;
    MacAddr host_mac;
    OptU16 mtu;
    bool iommu;
    size_t num_queues;
    uint16_t queue_size;
    bool vhost_user;
    char *vhost_socket;
    VhostMode vhost_mode;
    char *id;
    int *fds;
    size_t n_fds;
    bool has_rate_limiter_config;
    RateLimiterConfig rate_limiter_config;
    uint16_t pci_segment;
    bool offload_tso;
    bool offload_ufo;
    bool offload_csum;
} NetConfig;

/* ----------------------------------------------------- rng, balloon, fs.. */

typedef struct RngConfig {
    char *src;
    bool iommu;
} RngConfig;

typedef struct BalloonConfig {
    uint64_t size;
    bool deflate_on_oom;
    bool free_page_reporting;
} BalloonConfig;

typedef struct FsConfig {
    char *tag;
    char *socket;
    size_t num_queues;
    uint16_t queue_size;
    char *id;
    uint16_t pci_segment;
} FsConfig;

typedef struct PmemConfig {
    char *file;
    OptU64 size;
    bool iommu;
    bool discard_writes;
    char *id;
    uint16_t pci_segment;
} PmemConfig;

/* ---------------------------------------------------------- serial/console */

typedef enum ConsoleOutputMode {
    CONSOLE_MODE_OFF = 0,
    CONSOLE_MODE_PTY,
    CONSOLE_MODE_TTY,
    CONSOLE_MODE_FILE,
    CONSOLE_MODE_SOCKET,
    CONSOLE_MODE_NULL,
} ConsoleOutputMode;

typedef struct ConsoleConfig {
    char *file;
    ConsoleOutputMode mode;
    bool iommu;
    char *socket;
} ConsoleConfig;

typedef struct DebugConsoleConfig {
    char *file;
    ConsoleOutputMode mode;
    OptU16 iobase;
} DebugConsoleConfig;

/* ------------------------------------------- passthrough-style devices */

typedef struct DeviceConfig {
    char *path;
    bool iommu;
    char *id;
    uint16_t pci_segment;
} DeviceConfig;

typedef struct UserDeviceConfig {
    char *socket;
    char *id;
    uint16_t pci_segment;
} UserDeviceConfig;

typedef struct VdpaConfig {
    char *path;
    size_t num_queues;
    bool iommu;
    char *id;
    uint16_t pci_segment;
} VdpaConfig;

typedef struct VsockConfig {
    uint32_t cid;
    char *socket;
    bool iommu;
    char *id;
    uint16_t pci_segment;
} VsockConfig;

typedef struct SgxEpcConfig {
    char *id;
    uint64_t size;
    bool prefault;
} SgxEpcConfig;

/* ------------------------------------------------------------------- numa */

typedef struct NumaDistance {
    uint32_t destination;
    uint8_t distance;
} NumaDistance;

typedef struct NumaConfig {
    uint32_t guest_numa_id;
    uint8_t *cpus;
    size_t n_cpus;
    NumaDistance *distances;
    size_t n_distances;
    char **memory_zones;
    size_t n_memory_zones;
    char **sgx_epc_sections;
    size_t n_sgx_epc_sections;
    uint16_t *pci_segments;
    size_t n_pci_segments;
} NumaConfig;

/* ------------------------------------------------------- payload, tpm.. */

typedef struct PayloadConfig {
    char *firmware;
    char *kernel;
    char *cmdline;
    char *initramfs;
} PayloadConfig;

typedef struct TpmConfig {
    char *socket;
} TpmConfig;

typedef struct LandlockConfig {
    char *path;
    char *access;
} LandlockConfig;

/* --------------------------------------------------------------- the VM */

typedef struct VmConfig {
    CpusConfig cpus;
    MemoryConfig memory;
    bool has_payload;
    PayloadConfig payload;
    RateLimiterGroupConfig *rate_limit_groups;
    size_t n_rate_limit_groups;
    DiskConfig *disks;
    size_t n_disks;
    NetConfig *net;
    size_t n_net;
    RngConfig rng;
    bool has_balloon;
    BalloonConfig balloon;
    FsConfig *fs;
    size_t n_fs;
    PmemConfig *pmem;
    size_t n_pmem;
    ConsoleConfig serial;
    ConsoleConfig console;
    DebugConsoleConfig debug_console;
    DeviceConfig *devices;
    size_t n_devices;
    UserDeviceConfig *user_devices;
    size_t n_user_devices;
    VdpaConfig *vdpa;
    size_t n_vdpa;
    bool has_vsock;
    VsockConfig vsock;
    bool pvpanic;
    bool iommu; /* derived by vm_config_validate(), as in Cloud Hypervisor */
    SgxEpcConfig *sgx_epc;
    size_t n_sgx_epc;
    NumaConfig *numa;
    size_t n_numa;
    bool watchdog;
    bool has_platform;
    PlatformConfig platform;
    bool has_tpm;
    TpmConfig tpm;
    bool landlock_enable;
    LandlockConfig *landlock_rules;
    size_t n_landlock_rules;
} VmConfig;

/* ------------------------------------------------- defaults and lifetime */

/* Each *_init() fills the Cloud Hypervisor default for a freshly parsed item
 * (for example net: 2 queues of 256, a random locally administered MAC). */
void cpus_config_init(CpusConfig *c);
void memory_config_init(MemoryConfig *c);
void platform_config_init(PlatformConfig *c);
void disk_config_init(DiskConfig *c);
void net_config_init(NetConfig *c);
void fs_config_init(FsConfig *c);
void vdpa_config_init(VdpaConfig *c);
void debug_console_config_init(DebugConsoleConfig *c);
/* rng = /dev/urandom, serial = Null, console = Tty; everything else absent.
 * Returns -ENOMEM on allocation failure (the config is then still freeable). */
int vm_config_init(VmConfig *c);

void cpus_config_free(CpusConfig *c);
void memory_zone_config_free(MemoryZoneConfig *c);
void memory_config_free(MemoryConfig *c);
void platform_config_free(PlatformConfig *c);
void rate_limiter_group_config_free(RateLimiterGroupConfig *c);
void disk_config_free(DiskConfig *c);
void net_config_free(NetConfig *c);
void rng_config_free(RngConfig *c);
void fs_config_free(FsConfig *c);
void pmem_config_free(PmemConfig *c);
void console_config_free(ConsoleConfig *c);
void debug_console_config_free(DebugConsoleConfig *c);
void device_config_free(DeviceConfig *c);
void user_device_config_free(UserDeviceConfig *c);
void vdpa_config_free(VdpaConfig *c);
void vsock_config_free(VsockConfig *c);
void sgx_epc_config_free(SgxEpcConfig *c);
void numa_config_free(NumaConfig *c);
void payload_config_free(PayloadConfig *c);
void tpm_config_free(TpmConfig *c);
void landlock_config_free(LandlockConfig *c);
/* Frees everything the config owns and leaves it zeroed. */
void vm_config_free(VmConfig *c);

/* A random locally administered unicast MAC (like Cloud Hypervisor's). */
void mac_addr_local_random(MacAddr *mac);
/* "12:34:56:78:9a:bc" -> bytes; exactly six hex pairs separated by ':'. */
int mac_addr_parse(const char *s, MacAddr *mac);
/* "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx" (hex digits, either case) into its 16
 * bytes in the order written; -EINVAL for anything else. */
int uuid_parse(const char *s, uint8_t out[16]);
/* Writes 17 characters + NUL. */
void mac_addr_format(const MacAddr *mac, char out[18]);
/* Dotted-quad IPv4 -> host byte order; strict (no octal, no shorthand). */
int ipv4_parse(const char *s, uint32_t *addr);
void ipv4_format(uint32_t addr, char out[16]);

const char *console_mode_to_string(ConsoleOutputMode m); /* "Off", "Pty", ... (JSON form) */
int console_mode_from_string(const char *s, ConsoleOutputMode *m);
const char *hotplug_method_to_string(HotplugMethod m); /* "Acpi", "VirtioMem" */
int hotplug_method_from_string(const char *s, HotplugMethod *m);
const char *vhost_mode_to_string(VhostMode m); /* "Client", "Server" */
int vhost_mode_from_string(const char *s, VhostMode *m);

/* Like Cloud Hypervisor's backed_by_shared_memory(): shared or hugepage RAM. */
bool vm_config_backed_by_shared_memory(const VmConfig *c);

/* --------------------------------------------- per-option parsers (CLI) */

/* Each parses one option value in Cloud Hypervisor syntax ("boot=2,max=4")
 * into *out (initialised with defaults first). On error *out is left freed
 * and err says "Error parsing --cpus: ..." etc. Implemented in
 * config_parse.c. */
int cpus_config_parse(const char *s, CpusConfig *out, ConfigError *err);
int platform_config_parse(const char *s, PlatformConfig *out, ConfigError *err);
/* zones may be NULL when n_zones == 0 */
int memory_config_parse(const char *s, const char *const *zones, size_t n_zones, MemoryConfig *out,
                        ConfigError *err);
int rate_limiter_group_config_parse(const char *s, RateLimiterGroupConfig *out, ConfigError *err);
int disk_config_parse(const char *s, DiskConfig *out, ConfigError *err);
int net_config_parse(const char *s, NetConfig *out, ConfigError *err);
int rng_config_parse(const char *s, RngConfig *out, ConfigError *err);
int balloon_config_parse(const char *s, BalloonConfig *out, ConfigError *err);
int fs_config_parse(const char *s, FsConfig *out, ConfigError *err);
int pmem_config_parse(const char *s, PmemConfig *out, ConfigError *err);
/* option_name is "--serial" or "--console", used in messages only */
int console_config_parse(const char *s, const char *option_name, ConsoleConfig *out, ConfigError *err);
int debug_console_config_parse(const char *s, DebugConsoleConfig *out, ConfigError *err);
int device_config_parse(const char *s, DeviceConfig *out, ConfigError *err);
int user_device_config_parse(const char *s, UserDeviceConfig *out, ConfigError *err);
int vdpa_config_parse(const char *s, VdpaConfig *out, ConfigError *err);
int vsock_config_parse(const char *s, VsockConfig *out, ConfigError *err);
int sgx_epc_config_parse(const char *s, SgxEpcConfig *out, ConfigError *err);
int numa_config_parse(const char *s, NumaConfig *out, ConfigError *err);
int tpm_config_parse(const char *s, TpmConfig *out, ConfigError *err);
int landlock_config_parse(const char *s, LandlockConfig *out, ConfigError *err);

/* The raw option strings of one VM, as Cloud Hypervisor's VmParams: NULL or
 * count 0 for "not given"; cpus/memory/rng/serial/console fall back to their
 * defaults ("boot=1,max_phys_bits=46", "size=512M", "src=/dev/urandom",
 * "null", "tty") when NULL. */
typedef struct VmParams {
    const char *cpus;
    const char *memory;
    const char *const *memory_zones;
    size_t n_memory_zones;
    const char *firmware;
    const char *kernel;
    const char *initramfs;
    const char *cmdline;
    const char *const *rate_limit_groups;
    size_t n_rate_limit_groups;
    const char *const *disks;
    size_t n_disks;
    const char *const *net;
    size_t n_net;
    const char *rng;
    const char *balloon;
    const char *const *fs;
    size_t n_fs;
    const char *const *pmem;
    size_t n_pmem;
    const char *serial;
    const char *console;
    const char *debug_console;
    const char *const *devices;
    size_t n_devices;
    const char *const *user_devices;
    size_t n_user_devices;
    const char *const *vdpa;
    size_t n_vdpa;
    const char *vsock;
    bool pvpanic;
    const char *const *sgx_epc;
    size_t n_sgx_epc;
    const char *const *numa;
    size_t n_numa;
    bool watchdog;
    const char *platform;
    const char *tpm;
    bool landlock_enable;
    const char *const *landlock_rules;
    size_t n_landlock_rules;
} VmParams;

/* Cloud Hypervisor's VmConfig::parse(): parse every option, then validate.
 * On error *out is freed. */
int vm_config_parse(const VmParams *params, VmConfig *out, ConfigError *err);

/* ------------------------------------------------- validation (config_validate.c) */

/* Cloud Hypervisor's VmConfig::validate(), same checks in the same order.
 * Also derives c->iommu. The message is "Error validating configuration: ..." */
int vm_config_validate(VmConfig *c, ConfigError *err);

/* Refuses, with CONFIG_ERR_NOT_SUPPORTED and a message naming the option, a
 * valid configuration that asks for devices or features this VMM does not
 * implement. Called when a VM is created/started, not while parsing. */
int vm_config_check_supported(const VmConfig *c, ConfigError *err);

/* ------------------------------------------------------ JSON (config_json.c) */

/* Serialise with Cloud Hypervisor's field names. Absent optionals are
 * omitted. Returns a malloc'ed NUL-terminated string or NULL on ENOMEM.
 * pretty selects indented output. */
char *vm_config_to_json(const VmConfig *c, bool pretty);

/* Parse a JSON document into *out, filling the same defaults the command
 * line does; unknown fields and wrong types are rejected with the JSON path
 * in the message ("disks[0].queue_size: expected an integer in 0..65535").
 * Does not validate: call vm_config_validate() after. On error *out is freed. */
int vm_config_from_json(const char *json, size_t len, VmConfig *out, ConfigError *err);
