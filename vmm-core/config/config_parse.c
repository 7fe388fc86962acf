/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The per-option parsers of the command line ("--disk path=...,readonly=on")
 * and VmConfig assembly from a VmParams, following Cloud Hypervisor's
 * *Config::parse() functions: same keys, defaults, conversion order (which
 * decides the error reported when several values are wrong) and messages.
 *
 * Where Cloud Hypervisor narrows a parsed u64 with `as u8`/`as u16`, we
 * refuse values that do not fit instead of silently truncating them.
 */
#include "config.h"
#include "option_parser.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Option strings used when the caller leaves a VmParams field NULL; these are
 * Cloud Hypervisor's clap default values. */
#define DEFAULT_CPUS_PARAM          "boot=1,max_phys_bits=46"
#define DEFAULT_MEMORY_PARAM        "size=512M"
#define DEFAULT_RNG_PARAM           "src=" DEFAULT_RNG_SOURCE
#define DEFAULT_SERIAL_PARAM        "null"
#define DEFAULT_CONSOLE_PARAM       "tty"
#define DEFAULT_DEBUG_CONSOLE_PARAM "off,iobase=0xe9"

/* ------------------------------------------------------------- helpers */

static int no_memory(ConfigError *err)
{
    return config_error_set(err, CONFIG_ERR_NO_MEMORY, "out of memory");
}

/* A "required key is missing" error, which Cloud Hypervisor reports without
 * any parser detail ("Error parsing --fs: tag missing"). */
static int missing(ConfigError *err, const char *option, const char *what)
{
    return config_error_set(err, CONFIG_ERR_MISSING_FIELD, "Error parsing %s: %s missing", option, what);
}

/* The typed getters below return 1 (converted), 0 (absent) or -errno. */

static int get_u8(const OptionParser *p, const char *key, uint8_t *out, ConfigError *err)
{
    uint64_t v;
    int r = option_parser_get_uint(p, key, UINT8_MAX, &v, err);
    if (r == 1)
        *out = (uint8_t)v;
    return r;
}

static int get_u16(const OptionParser *p, const char *key, uint16_t *out, ConfigError *err)
{
    uint64_t v;
    int r = option_parser_get_uint(p, key, UINT16_MAX, &v, err);
    if (r == 1)
        *out = (uint16_t)v;
    return r;
}

static int get_u32(const OptionParser *p, const char *key, uint32_t *out, ConfigError *err)
{
    uint64_t v;
    int r = option_parser_get_uint(p, key, UINT32_MAX, &v, err);
    if (r == 1)
        *out = (uint32_t)v;
    return r;
}

static int get_u64(const OptionParser *p, const char *key, uint64_t *out, ConfigError *err)
{
    return option_parser_get_uint(p, key, UINT64_MAX, out, err);
}

static int get_usize(const OptionParser *p, const char *key, size_t *out, ConfigError *err)
{
    uint64_t v;
    int r = option_parser_get_uint(p, key, SIZE_MAX, &v, err);
    if (r == 1)
        *out = (size_t)v;
    return r;
}

static int get_opt_u16(const OptionParser *p, const char *key, OptU16 *out, ConfigError *err)
{
    int r = get_u16(p, key, &out->value, err);
    if (r == 1)
        out->present = true;
    return r;
}

static int get_opt_u32(const OptionParser *p, const char *key, OptU32 *out, ConfigError *err)
{
    int r = get_u32(p, key, &out->value, err);
    if (r == 1)
        out->present = true;
    return r;
}

static int get_opt_size(const OptionParser *p, const char *key, OptU64 *out, ConfigError *err)
{
    int r = option_parser_get_size(p, key, &out->value, err);
    if (r == 1)
        out->present = true;
    return r;
}

/* Copies the value of key (when given and not empty) into *out. */
static int get_string(const OptionParser *p, const char *key, char **out, ConfigError *err)
{
    const char *v = option_parser_get(p, key);
    if (!v)
        return 0;
    char *copy = strdup(v);
    if (!copy)
        return no_memory(err);
    free(*out);
    *out = copy;
    return 1;
}

/* An IntegerList whose items must fit in 0..max, copied into a u16 array. */
static int get_u16_list(const OptionParser *p, const char *key, uint16_t **out, size_t *n, ConfigError *err)
{
    uint64_t *list = NULL;
    size_t count = 0;
    int r = option_parser_get_int_list(p, key, UINT16_MAX, &list, &count, err);
    if (r <= 0)
        return r;
    uint16_t *items = malloc(count * sizeof(*items));
    if (!items) {
        free(list);
        return no_memory(err);
    }
    for (size_t i = 0; i < count; i++)
        items[i] = (uint16_t)list[i];
    free(list);
    *out = items;
    *n = count;
    return 1;
}

/*
 * The bw_* and ops_* keys shared by --disk, --net and --rate-limit-group. A
 * bucket exists only when both its size and refill time are non-zero; its
 * one_time_burst is then always present (0 when not given).
 */
static int get_rate_limiter(const OptionParser *p, RateLimiterConfig *rl, ConfigError *err)
{
    uint64_t bw_size = 0, bw_burst = 0, bw_refill = 0, ops_size = 0, ops_burst = 0, ops_refill = 0;
    int r;
    if ((r = get_u64(p, "bw_size", &bw_size, err)) < 0 ||
        (r = get_u64(p, "bw_one_time_burst", &bw_burst, err)) < 0 ||
        (r = get_u64(p, "bw_refill_time", &bw_refill, err)) < 0 ||
        (r = get_u64(p, "ops_size", &ops_size, err)) < 0 ||
        (r = get_u64(p, "ops_one_time_burst", &ops_burst, err)) < 0 ||
        (r = get_u64(p, "ops_refill_time", &ops_refill, err)) < 0)
        return r;

    memset(rl, 0, sizeof(*rl));
    if (bw_size != 0 && bw_refill != 0) {
        rl->has_bandwidth = true;
        rl->bandwidth.size = bw_size;
        rl->bandwidth.one_time_burst.present = true;
        rl->bandwidth.one_time_burst.value = bw_burst;
        rl->bandwidth.refill_time = bw_refill;
    }
    if (ops_size != 0 && ops_refill != 0) {
        rl->has_ops = true;
        rl->ops.size = ops_size;
        rl->ops.one_time_burst.present = true;
        rl->ops.one_time_burst.value = ops_burst;
        rl->ops.refill_time = ops_refill;
    }
    return 0;
}

/* Shorthand for the long chains of getters: stop at the first failure. */
#define TRY(expr)                                                                                            \
    do {                                                                                                     \
        if ((r = (expr)) < 0)                                                                                \
            goto fail;                                                                                       \
    } while (0)

/* Adds "Error parsing --x: " in front of an option parser error. */
static int parse_failed(ConfigError *err, const char *option, int r)
{
    config_error_prefix(err, "Error parsing %s: ", option);
    return r;
}

/* ---------------------------------------------------------------- cpus */

static int parse_topology(const char *s, CpuTopology *t)
{
    uint8_t parts[4];
    const char *cur = s;
    for (size_t i = 0; i < 4; i++) {
        const char *end = strchr(cur, ':');
        if ((i < 3) != (end != NULL))
            return -EINVAL;
        size_t len = end ? (size_t)(end - cur) : strlen(cur);
        char buf[8];
        uint64_t v;
        if (len >= sizeof(buf))
            return -EINVAL;
        memcpy(buf, cur, len);
        buf[len] = '\0';
        if (parse_uint_strict(buf, UINT8_MAX, &v) < 0)
            return -EINVAL;
        parts[i] = (uint8_t)v;
        cur = end ? end + 1 : cur + len;
    }
    t->threads_per_core = parts[0];
    t->cores_per_die = parts[1];
    t->dies_per_package = parts[2];
    t->packages = parts[3];
    return 0;
}

int cpus_config_parse(const char *s, CpusConfig *out, ConfigError *err)
{
    static const char *const keys[] = {"boot",          "max",      "topology", "kvm_hyperv",
                                       "max_phys_bits", "affinity", "features", NULL};
    OptionParser p;
    OptionTuple *tuples = NULL;
    size_t n_tuples = 0;
    char **features = NULL;
    size_t n_features = 0;
    int r;

    cpus_config_init(out);
    option_parser_init(&p, keys);
    TRY(option_parser_parse(&p, s ? s : "", err));

    TRY(get_u8(&p, "boot", &out->boot_vcpus, err));
    out->max_vcpus = out->boot_vcpus; /* max defaults to boot */
    TRY(get_u8(&p, "max", &out->max_vcpus, err));

    const char *topology = option_parser_get(&p, "topology");
    if (topology) {
        if (parse_topology(topology, &out->topology) < 0) {
            r = config_error_set(err, CONFIG_ERR_PARSE, "unable to convert %.200s for topology", topology);
            goto fail;
        }
        out->has_topology = true;
    }
    TRY(option_parser_get_toggle(&p, "kvm_hyperv", &out->kvm_hyperv, err));
    TRY(get_u8(&p, "max_phys_bits", &out->max_phys_bits, err));

    TRY(option_parser_get_tuples(&p, "affinity", UINT8_MAX, true, SIZE_MAX, &tuples, &n_tuples, err));
    if (n_tuples > 0) {
        out->affinity = calloc(n_tuples, sizeof(*out->affinity));
        if (!out->affinity) {
            r = no_memory(err);
            goto fail;
        }
        for (size_t i = 0; i < n_tuples; i++) {
            CpuAffinity *a = &out->affinity[i];
            out->n_affinity = i + 1;
            a->vcpu = (uint8_t)tuples[i].key;
            a->host_cpus = malloc(tuples[i].n_values * sizeof(*a->host_cpus));
            if (!a->host_cpus) {
                r = no_memory(err);
                goto fail;
            }
            for (size_t j = 0; j < tuples[i].n_values; j++)
                a->host_cpus[j] = (size_t)tuples[i].values[j];
            a->n_host_cpus = tuples[i].n_values;
        }
    }

    TRY(option_parser_get_string_list(&p, "features", &features, &n_features, err));
    for (size_t i = 0; i < n_features; i++) {
        if (strcmp(features[i], "amx") == 0) {
            out->features.amx = true;
        } else {
            /* A message of its own, without the "Error parsing" prefix. */
            r = config_error_set(err, CONFIG_ERR_INVALID_CPU_FEATURES,
                                 "Invalid feature in --cpus features list: %.200s", features[i]);
            goto out;
        }
    }
    r = 0;
    goto out;

fail:
    parse_failed(err, "--cpus", r);
out:
    string_list_free(features, n_features);
    option_tuples_free(tuples, n_tuples);
    option_parser_free(&p);
    if (r < 0)
        cpus_config_free(out);
    return r;
}

/* ------------------------------------------------------------ platform */

int platform_config_parse(const char *s, PlatformConfig *out, ConfigError *err)
{
    static const char *const keys[] = {
        "num_pci_segments", "iommu_segments", "serial_number", "uuid", "oem_strings", NULL};
    OptionParser p;
    int r;

    platform_config_init(out);
    option_parser_init(&p, keys);
    TRY(option_parser_parse(&p, s ? s : "", err));

    TRY(get_u16(&p, "num_pci_segments", &out->num_pci_segments, err));
    TRY(get_u16_list(&p, "iommu_segments", &out->iommu_segments, &out->n_iommu_segments, err));
    out->has_iommu_segments = r == 1;
    TRY(get_string(&p, "serial_number", &out->serial_number, err));
    TRY(get_string(&p, "uuid", &out->uuid, err));
    TRY(option_parser_get_string_list(&p, "oem_strings", &out->oem_strings, &out->n_oem_strings, err));

    option_parser_free(&p);
    return 0;

fail:
    option_parser_free(&p);
    platform_config_free(out);
    return parse_failed(err, "--platform", r);
}

/* -------------------------------------------------------------- memory */

static int get_hotplug_method(const OptionParser *p, HotplugMethod *out, ConfigError *err)
{
    const char *v = option_parser_get(p, "hotplug_method");
    if (!v)
        return 0;
    /* Cloud Hypervisor lower-cases the value before matching. */
    if (strcasecmp(v, "acpi") == 0)
        *out = HOTPLUG_METHOD_ACPI;
    else if (strcasecmp(v, "virtio-mem") == 0)
        *out = HOTPLUG_METHOD_VIRTIO_MEM;
    else
        return config_error_set(err, CONFIG_ERR_PARSE, "unable to convert %.200s for hotplug_method", v);
    return 1;
}

static int memory_zone_parse(const char *s, MemoryZoneConfig *z, ConfigError *err)
{
    /* clang-format off */
    static const char *const keys[] = {
        "id", "size", "file", "shared", "hugepages", "hugepage_size", "host_numa_node", "hotplug_size",
        "hotplugged_size", "prefault", NULL
    };
    /* clang-format on */
    OptionParser p;
    int r;

    memset(z, 0, sizeof(*z));
    z->size = DEFAULT_MEMORY_MB << 20;
    option_parser_init(&p, keys);
    TRY(option_parser_parse(&p, s ? s : "", err));

    if (!option_parser_get(&p, "id")) {
        option_parser_free(&p);
        return missing(err, "--memory-zone", "id");
    }
    TRY(get_string(&p, "id", &z->id, err));
    TRY(option_parser_get_size(&p, "size", &z->size, err));
    TRY(get_string(&p, "file", &z->file, err));
    TRY(option_parser_get_toggle(&p, "shared", &z->shared, err));
    TRY(option_parser_get_toggle(&p, "hugepages", &z->hugepages, err));
    TRY(get_opt_size(&p, "hugepage_size", &z->hugepage_size, err));
    TRY(get_opt_u32(&p, "host_numa_node", &z->host_numa_node, err));
    TRY(get_opt_size(&p, "hotplug_size", &z->hotplug_size, err));
    TRY(get_opt_size(&p, "hotplugged_size", &z->hotplugged_size, err));
    TRY(option_parser_get_toggle(&p, "prefault", &z->prefault, err));

    option_parser_free(&p);
    return 0;

fail:
    option_parser_free(&p);
    memory_zone_config_free(z);
    return parse_failed(err, "--memory-zone", r);
}

int memory_config_parse(const char *s, const char *const *zones, size_t n_zones, MemoryConfig *out,
                        ConfigError *err)
{
    /* "file" is accepted but unused, as in Cloud Hypervisor. */
    static const char *const keys[] = {
        "size",   "file",      "mergeable",     "hotplug_method", "hotplug_size", "hotplugged_size",
        "shared", "hugepages", "hugepage_size", "prefault",       "thp",          NULL};
    OptionParser p;
    int r;

    memory_config_init(out);
    option_parser_init(&p, keys);
    TRY(option_parser_parse(&p, s ? s : "", err));

    TRY(option_parser_get_size(&p, "size", &out->size, err));
    TRY(option_parser_get_toggle(&p, "mergeable", &out->mergeable, err));
    TRY(get_hotplug_method(&p, &out->hotplug_method, err));
    TRY(get_opt_size(&p, "hotplug_size", &out->hotplug_size, err));
    TRY(get_opt_size(&p, "hotplugged_size", &out->hotplugged_size, err));
    TRY(option_parser_get_toggle(&p, "shared", &out->shared, err));
    TRY(option_parser_get_toggle(&p, "hugepages", &out->hugepages, err));
    TRY(get_opt_size(&p, "hugepage_size", &out->hugepage_size, err));
    TRY(option_parser_get_toggle(&p, "prefault", &out->prefault, err));
    TRY(option_parser_get_toggle(&p, "thp", &out->thp, err));
    option_parser_free(&p);

    if (n_zones > 0) {
        out->zones = calloc(n_zones, sizeof(*out->zones));
        if (!out->zones) {
            memory_config_free(out);
            return no_memory(err);
        }
        for (size_t i = 0; i < n_zones; i++) {
            r = memory_zone_parse(zones[i], &out->zones[i], err);
            if (r < 0) {
                memory_config_free(out);
                return r;
            }
            out->n_zones = i + 1;
        }
    }
    return 0;

fail:
    option_parser_free(&p);
    memory_config_free(out);
    return parse_failed(err, "--memory", r);
}

/* ---------------------------------------------------- rate limit group */

int rate_limiter_group_config_parse(const char *s, RateLimiterGroupConfig *out, ConfigError *err)
{
    /* clang-format off */
    static const char *const keys[] = {
        "bw_size", "bw_one_time_burst", "bw_refill_time", "ops_size", "ops_one_time_burst",
        "ops_refill_time", "id", NULL
    };
    /* clang-format on */
    OptionParser p;
    int r;

    memset(out, 0, sizeof(*out));
    option_parser_init(&p, keys);
    TRY(option_parser_parse(&p, s ? s : "", err));

    /* The id is a plain String in Cloud Hypervisor: "" when not given, which
     * validation then rejects. */
    TRY(get_string(&p, "id", &out->id, err));
    if (!out->id && !(out->id = strdup(""))) {
        r = no_memory(err);
        goto fail;
    }
    TRY(get_rate_limiter(&p, &out->rate_limiter_config, err));

    option_parser_free(&p);
    return 0;

fail:
    option_parser_free(&p);
    rate_limiter_group_config_free(out);
    return parse_failed(err, "--rate-limit-group", r);
}

/* ---------------------------------------------------------------- disk */

int disk_config_parse(const char *s, DiskConfig *out, ConfigError *err)
{
    /* clang-format off */
    /* clang-format off */
    static const char *const keys[] = {
        "path", "readonly", "direct", "iommu", "queue_size", "num_queues", "vhost_user", "socket", "bw_size",
        "bw_one_time_burst", "bw_refill_time", "ops_size", "ops_one_time_burst", "ops_refill_time", "id",
        "_disable_io_uring", "_disable_aio", "pci_segment", "serial", "rate_limit_group", NULL
    };
    /* clang-format on */
    /* clang-format on */
    OptionParser p;
    int r;

    disk_config_init(out);
    option_parser_init(&p, keys);
    TRY(option_parser_parse(&p, s ? s : "", err));

    TRY(get_string(&p, "path", &out->path, err));
    TRY(option_parser_get_toggle(&p, "readonly", &out->readonly, err));
    TRY(option_parser_get_toggle(&p, "direct", &out->direct, err));
    TRY(option_parser_get_toggle(&p, "iommu", &out->iommu, err));
    TRY(get_u16(&p, "queue_size", &out->queue_size, err));
    TRY(get_usize(&p, "num_queues", &out->num_queues, err));
    TRY(option_parser_get_toggle(&p, "vhost_user", &out->vhost_user, err));
    TRY(get_string(&p, "socket", &out->vhost_socket, err));
    TRY(get_string(&p, "id", &out->id, err));
    TRY(option_parser_get_toggle(&p, "_disable_io_uring", &out->disable_io_uring, err));
    TRY(option_parser_get_toggle(&p, "_disable_aio", &out->disable_aio, err));
    TRY(get_u16(&p, "pci_segment", &out->pci_segment, err));
    TRY(get_string(&p, "rate_limit_group", &out->rate_limit_group, err));
    TRY(get_rate_limiter(&p, &out->rate_limiter_config, err));
    out->has_rate_limiter_config = out->rate_limiter_config.has_bandwidth || out->rate_limiter_config.has_ops;
    TRY(get_string(&p, "serial", &out->serial, err));

    option_parser_free(&p);
    return 0;

fail:
    option_parser_free(&p);
    disk_config_free(out);
    return parse_failed(err, "--disk", r);
}

/* ----------------------------------------------------------------- net */

static int get_ipv4(const OptionParser *p, const char *key, uint32_t *out, ConfigError *err)
{
    const char *v = option_parser_get(p, key);
    if (!v)
        return 0;
    if (ipv4_parse(v, out) < 0)
        return config_error_set(err, CONFIG_ERR_PARSE, "unable to convert %.200s for %s", v, key);
    return 1;
}

static int get_mac(const OptionParser *p, const char *key, MacAddr *out, ConfigError *err)
{
    const char *v = option_parser_get(p, key);
    if (!v)
        return 0;
    if (mac_addr_parse(v, out) < 0)
        return config_error_set(err, CONFIG_ERR_PARSE, "unable to convert %.200s for %s", v, key);
    return 1;
}

static int get_vhost_mode(const OptionParser *p, VhostMode *out, ConfigError *err)
{
    const char *v = option_parser_get(p, "vhost_mode");
    if (!v)
        return 0;
    if (strcasecmp(v, "client") == 0)
        *out = VHOST_MODE_CLIENT;
    else if (strcasecmp(v, "server") == 0)
        *out = VHOST_MODE_SERVER;
    else
        return config_error_set(err, CONFIG_ERR_PARSE, "unable to convert %.200s for vhost_mode", v);
    return 1;
}

/* File descriptors are i32 in Cloud Hypervisor (it casts with `as i32`). */
static int get_fds(const OptionParser *p, int **out, size_t *n, ConfigError *err)
{
    uint64_t *list = NULL;
    size_t count = 0;
    int r = option_parser_get_int_list(p, "fd", INT_MAX, &list, &count, err);
    if (r <= 0)
        return r;
    int *fds = malloc(count * sizeof(*fds));
    if (!fds) {
        free(list);
        return no_memory(err);
    }
    for (size_t i = 0; i < count; i++)
        fds[i] = (int)list[i];
    free(list);
    *out = fds;
    *n = count;
    return 1;
}

int net_config_parse(const char *s, NetConfig *out, ConfigError *err)
{
    /* clang-format off */
    /* clang-format off */
    static const char *const keys[] = {
        "tap", "ip", "mask", "mac", "host_mac", "offload_tso", "offload_ufo", "offload_csum", "mtu", "iommu",
        "queue_size", "num_queues", "vhost_user", "socket", "vhost_mode", "id", "fd", "bw_size",
        "bw_one_time_burst", "bw_refill_time", "ops_size", "ops_one_time_burst", "ops_refill_time",
        "pci_segment", NULL
    };
    /* clang-format on */
    /* clang-format on */
    OptionParser p;
    int r;

    net_config_init(out);
    option_parser_init(&p, keys);
    TRY(option_parser_parse(&p, s ? s : "", err));

    TRY(get_string(&p, "tap", &out->tap, err));
    TRY(get_ipv4(&p, "ip", &out->ip, err));
    TRY(get_ipv4(&p, "mask", &out->mask, err));
    TRY(get_mac(&p, "mac", &out->mac, err));
    TRY(get_mac(&p, "host_mac", &out->host_mac, err));
    out->has_host_mac = r == 1;
    TRY(option_parser_get_toggle(&p, "offload_tso", &out->offload_tso, err));
    TRY(option_parser_get_toggle(&p, "offload_ufo", &out->offload_ufo, err));
    TRY(option_parser_get_toggle(&p, "offload_csum", &out->offload_csum, err));
    TRY(get_opt_u16(&p, "mtu", &out->mtu, err));
    TRY(option_parser_get_toggle(&p, "iommu", &out->iommu, err));
    TRY(get_u16(&p, "queue_size", &out->queue_size, err));
    TRY(get_usize(&p, "num_queues", &out->num_queues, err));
    TRY(option_parser_get_toggle(&p, "vhost_user", &out->vhost_user, err));
    TRY(get_string(&p, "socket", &out->vhost_socket, err));
    TRY(get_vhost_mode(&p, &out->vhost_mode, err));
    TRY(get_string(&p, "id", &out->id, err));
    TRY(get_fds(&p, &out->fds, &out->n_fds, err));
    TRY(get_u16(&p, "pci_segment", &out->pci_segment, err));
    TRY(get_rate_limiter(&p, &out->rate_limiter_config, err));
    out->has_rate_limiter_config = out->rate_limiter_config.has_bandwidth || out->rate_limiter_config.has_ops;

    option_parser_free(&p);
    return 0;

fail:
    option_parser_free(&p);
    net_config_free(out);
    return parse_failed(err, "--net", r);
}

/* ----------------------------------------------------------- rng, balloon */

int rng_config_parse(const char *s, RngConfig *out, ConfigError *err)
{
    static const char *const keys[] = {"src", "iommu", NULL};
    OptionParser p;
    int r;

    memset(out, 0, sizeof(*out));
    option_parser_init(&p, keys);
    TRY(option_parser_parse(&p, s ? s : "", err));

    TRY(get_string(&p, "src", &out->src, err));
    if (!out->src && !(out->src = strdup(DEFAULT_RNG_SOURCE))) {
        r = no_memory(err);
        goto fail;
    }
    TRY(option_parser_get_toggle(&p, "iommu", &out->iommu, err));

    option_parser_free(&p);
    return 0;

fail:
    option_parser_free(&p);
    rng_config_free(out);
    return parse_failed(err, "--rng", r);
}

int balloon_config_parse(const char *s, BalloonConfig *out, ConfigError *err)
{
    static const char *const keys[] = {"size", "deflate_on_oom", "free_page_reporting", NULL};
    OptionParser p;
    int r;

    memset(out, 0, sizeof(*out));
    option_parser_init(&p, keys);
    TRY(option_parser_parse(&p, s ? s : "", err));

    TRY(option_parser_get_size(&p, "size", &out->size, err));
    TRY(option_parser_get_toggle(&p, "deflate_on_oom", &out->deflate_on_oom, err));
    TRY(option_parser_get_toggle(&p, "free_page_reporting", &out->free_page_reporting, err));

    option_parser_free(&p);
    return 0;

fail:
    option_parser_free(&p);
    memset(out, 0, sizeof(*out));
    return parse_failed(err, "--balloon", r);
}

/* ------------------------------------------------------------ fs, pmem */

int fs_config_parse(const char *s, FsConfig *out, ConfigError *err)
{
    static const char *const keys[] = {"tag", "queue_size",  "num_queues", "socket",
                                       "id",  "pci_segment", NULL};
    OptionParser p;
    int r;

    fs_config_init(out);
    option_parser_init(&p, keys);
    TRY(option_parser_parse(&p, s ? s : "", err));

    TRY(get_string(&p, "tag", &out->tag, err));
    if (!out->tag) {
        r = missing(err, "--fs", "tag");
        goto fail_missing;
    }
    TRY(get_string(&p, "socket", &out->socket, err));
    if (!out->socket) {
        r = missing(err, "--fs", "socket");
        goto fail_missing;
    }
    TRY(get_u16(&p, "queue_size", &out->queue_size, err));
    TRY(get_usize(&p, "num_queues", &out->num_queues, err));
    TRY(get_string(&p, "id", &out->id, err));
    TRY(get_u16(&p, "pci_segment", &out->pci_segment, err));

    option_parser_free(&p);
    return 0;

fail:
    parse_failed(err, "--fs", r);
fail_missing:
    option_parser_free(&p);
    fs_config_free(out);
    return r;
}

int pmem_config_parse(const char *s, PmemConfig *out, ConfigError *err)
{
    static const char *const keys[] = {"size", "file", "iommu", "discard_writes", "id", "pci_segment", NULL};
    OptionParser p;
    int r;

    memset(out, 0, sizeof(*out));
    option_parser_init(&p, keys);
    TRY(option_parser_parse(&p, s ? s : "", err));

    TRY(get_string(&p, "file", &out->file, err));
    if (!out->file) {
        r = missing(err, "--pmem", "file");
        goto fail_missing;
    }
    TRY(get_opt_size(&p, "size", &out->size, err));
    TRY(option_parser_get_toggle(&p, "iommu", &out->iommu, err));
    TRY(option_parser_get_toggle(&p, "discard_writes", &out->discard_writes, err));
    TRY(get_string(&p, "id", &out->id, err));
    TRY(get_u16(&p, "pci_segment", &out->pci_segment, err));

    option_parser_free(&p);
    return 0;

fail:
    parse_failed(err, "--pmem", r);
fail_missing:
    option_parser_free(&p);
    pmem_config_free(out);
    return r;
}

/* ------------------------------------------------------------- consoles */

/*
 * The mode words shared by --serial, --console and --debug-console. The first
 * one present wins, in Cloud Hypervisor's order; "file=" and "socket=" with an
 * empty path are its ConsoleFileMissing/ConsoleSocketPathMissing errors.
 */
static int get_console_mode(const OptionParser *p, const char *option, bool allow_socket,
                            ConsoleOutputMode *mode, char **file, char **socket, ConfigError *err)
{
    static const struct {
        const char *word;
        ConsoleOutputMode mode;
    } words[] = {{"off", CONSOLE_MODE_OFF},
                 {"pty", CONSOLE_MODE_PTY},
                 {"tty", CONSOLE_MODE_TTY},
                 {"null", CONSOLE_MODE_NULL}};

    for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
        if (option_parser_is_set(p, words[i].word)) {
            *mode = words[i].mode;
            return 0;
        }
    }
    if (option_parser_is_set(p, "file")) {
        *mode = CONSOLE_MODE_FILE;
        if (!option_parser_get(p, "file"))
            return config_error_set(err, CONFIG_ERR_CONSOLE_FILE_MISSING,
                                    "Error parsing %s: path missing when using file console mode", option);
        return get_string(p, "file", file, err) < 0 ? -ENOMEM : 0;
    }
    if (allow_socket && option_parser_is_set(p, "socket")) {
        *mode = CONSOLE_MODE_SOCKET;
        if (!option_parser_get(p, "socket"))
            return config_error_set(err, CONFIG_ERR_CONSOLE_SOCKET_PATH_MISSING,
                                    "Error parsing %s: path missing when using socket console mode", option);
        return get_string(p, "socket", socket, err) < 0 ? -ENOMEM : 0;
    }
    return config_error_set(err, CONFIG_ERR_CONSOLE_INVALID_MODE,
                            "Error parsing %s: invalid console mode given", option);
}

static void add_mode_words(OptionParser *p)
{
    option_parser_add_valueless(p, "off");
    option_parser_add_valueless(p, "pty");
    option_parser_add_valueless(p, "tty");
    option_parser_add_valueless(p, "null");
}

int console_config_parse(const char *s, const char *option_name, ConsoleConfig *out, ConfigError *err)
{
    static const char *const keys[] = {"file", "iommu", "socket", NULL};
    const char *option = option_name ? option_name : "--console";
    OptionParser p;
    int r;

    memset(out, 0, sizeof(*out));
    option_parser_init(&p, keys);
    add_mode_words(&p);
    r = option_parser_parse(&p, s ? s : "", err);
    if (r < 0) {
        parse_failed(err, option, r);
        goto out;
    }
    r = get_console_mode(&p, option, true, &out->mode, &out->file, &out->socket, err);
    if (r < 0)
        goto out;
    r = option_parser_get_toggle(&p, "iommu", &out->iommu, err);
    if (r < 0)
        parse_failed(err, option, r);
out:
    option_parser_free(&p);
    if (r < 0) {
        console_config_free(out);
        return r;
    }
    return 0;
}

/* "0x" followed by hexadecimal digits that fit a 16-bit I/O port. */
static int parse_io_port(const char *s, uint16_t *out)
{
    if (strncmp(s, "0x", 2) != 0 || s[2] == '\0')
        return -EINVAL;
    unsigned long v = 0;
    for (const char *c = s + 2; *c; c++) {
        int d;
        if (*c >= '0' && *c <= '9')
            d = *c - '0';
        else if (*c >= 'a' && *c <= 'f')
            d = *c - 'a' + 10;
        else if (*c >= 'A' && *c <= 'F')
            d = *c - 'A' + 10;
        else
            return -EINVAL;
        v = v * 16 + (unsigned long)d;
        if (v > UINT16_MAX)
            return -ERANGE;
    }
    *out = (uint16_t)v;
    return 0;
}

int debug_console_config_parse(const char *s, DebugConsoleConfig *out, ConfigError *err)
{
    static const char *const keys[] = {"file", "iobase", NULL};
    OptionParser p;
    int r;

    /* Unlike the serial port, iobase is None unless given here; the default
     * port only comes from the default option string "off,iobase=0xe9". */
    memset(out, 0, sizeof(*out));
    option_parser_init(&p, keys);
    add_mode_words(&p);
    r = option_parser_parse(&p, s ? s : "", err);
    if (r < 0) {
        parse_failed(err, "--debug-console", r);
        goto out;
    }
    r = get_console_mode(&p, "--debug-console", false, &out->mode, &out->file, NULL, err);
    if (r < 0)
        goto out;
    const char *iobase = option_parser_get(&p, "iobase");
    if (iobase) {
        if (parse_io_port(iobase, &out->iobase.value) < 0) {
            r = config_error_set(
                err, CONFIG_ERR_PARSE,
                "Error parsing --debug-console: the IO port was not properly provided in hex "
                "or a `0x` prefix is missing: %.200s",
                iobase);
            goto out;
        }
        out->iobase.present = true;
    }
out:
    option_parser_free(&p);
    if (r < 0) {
        debug_console_config_free(out);
        return r;
    }
    return 0;
}

/* -------------------------------------------------- device-like options */

int device_config_parse(const char *s, DeviceConfig *out, ConfigError *err)
{
    static const char *const keys[] = {"path", "id", "iommu", "pci_segment", NULL};
    OptionParser p;
    int r;

    memset(out, 0, sizeof(*out));
    option_parser_init(&p, keys);
    TRY(option_parser_parse(&p, s ? s : "", err));

    TRY(get_string(&p, "path", &out->path, err));
    if (!out->path) {
        r = missing(err, "--device", "path");
        goto fail_missing;
    }
    TRY(option_parser_get_toggle(&p, "iommu", &out->iommu, err));
    TRY(get_string(&p, "id", &out->id, err));
    TRY(get_u16(&p, "pci_segment", &out->pci_segment, err));

    option_parser_free(&p);
    return 0;

fail:
    parse_failed(err, "--device", r);
fail_missing:
    option_parser_free(&p);
    device_config_free(out);
    return r;
}

int user_device_config_parse(const char *s, UserDeviceConfig *out, ConfigError *err)
{
    static const char *const keys[] = {"socket", "id", "pci_segment", NULL};
    OptionParser p;
    int r;

    memset(out, 0, sizeof(*out));
    option_parser_init(&p, keys);
    TRY(option_parser_parse(&p, s ? s : "", err));

    TRY(get_string(&p, "socket", &out->socket, err));
    if (!out->socket) {
        r = missing(err, "--user-device", "socket");
        goto fail_missing;
    }
    TRY(get_string(&p, "id", &out->id, err));
    TRY(get_u16(&p, "pci_segment", &out->pci_segment, err));

    option_parser_free(&p);
    return 0;

fail:
    parse_failed(err, "--user-device", r);
fail_missing:
    option_parser_free(&p);
    user_device_config_free(out);
    return r;
}

int vdpa_config_parse(const char *s, VdpaConfig *out, ConfigError *err)
{
    static const char *const keys[] = {"path", "num_queues", "iommu", "id", "pci_segment", NULL};
    OptionParser p;
    int r;

    vdpa_config_init(out);
    option_parser_init(&p, keys);
    TRY(option_parser_parse(&p, s ? s : "", err));

    TRY(get_string(&p, "path", &out->path, err));
    if (!out->path) {
        r = missing(err, "--vdpa", "path");
        goto fail_missing;
    }
    TRY(get_usize(&p, "num_queues", &out->num_queues, err));
    TRY(option_parser_get_toggle(&p, "iommu", &out->iommu, err));
    TRY(get_string(&p, "id", &out->id, err));
    TRY(get_u16(&p, "pci_segment", &out->pci_segment, err));

    option_parser_free(&p);
    return 0;

fail:
    parse_failed(err, "--vdpa", r);
fail_missing:
    option_parser_free(&p);
    vdpa_config_free(out);
    return r;
}

int vsock_config_parse(const char *s, VsockConfig *out, ConfigError *err)
{
    static const char *const keys[] = {"socket", "cid", "iommu", "id", "pci_segment", NULL};
    OptionParser p;
    int r;

    memset(out, 0, sizeof(*out));
    option_parser_init(&p, keys);
    TRY(option_parser_parse(&p, s ? s : "", err));

    TRY(get_string(&p, "socket", &out->socket, err));
    if (!out->socket) {
        r = missing(err, "--vsock", "socket");
        goto fail_missing;
    }
    TRY(option_parser_get_toggle(&p, "iommu", &out->iommu, err));
    TRY(get_u32(&p, "cid", &out->cid, err));
    if (r == 0) {
        r = missing(err, "--vsock", "cid");
        goto fail_missing;
    }
    TRY(get_string(&p, "id", &out->id, err));
    TRY(get_u16(&p, "pci_segment", &out->pci_segment, err));

    option_parser_free(&p);
    return 0;

fail:
    parse_failed(err, "--vsock", r);
fail_missing:
    option_parser_free(&p);
    vsock_config_free(out);
    return r;
}

/* -------------------------------------------------------- sgx-epc, numa */

int sgx_epc_config_parse(const char *s, SgxEpcConfig *out, ConfigError *err)
{
    static const char *const keys[] = {"id", "size", "prefault", NULL};
    OptionParser p;
    int r;

    memset(out, 0, sizeof(*out));
    option_parser_init(&p, keys);
    TRY(option_parser_parse(&p, s ? s : "", err));

    TRY(get_string(&p, "id", &out->id, err));
    if (!out->id) {
        r = missing(err, "--sgx-epc", "id");
        goto fail_missing;
    }
    TRY(option_parser_get_size(&p, "size", &out->size, err));
    TRY(option_parser_get_toggle(&p, "prefault", &out->prefault, err));

    option_parser_free(&p);
    return 0;

fail:
    parse_failed(err, "--sgx-epc", r);
fail_missing:
    option_parser_free(&p);
    sgx_epc_config_free(out);
    return r;
}

int numa_config_parse(const char *s, NumaConfig *out, ConfigError *err)
{
    static const char *const keys[] = {"guest_numa_id",    "cpus",         "distances", "memory_zones",
                                       "sgx_epc_sections", "pci_segments", NULL};
    OptionParser p;
    uint64_t *cpus = NULL;
    size_t n_cpus = 0;
    OptionTuple *tuples = NULL;
    size_t n_tuples = 0;
    int r;

    memset(out, 0, sizeof(*out));
    option_parser_init(&p, keys);
    TRY(option_parser_parse(&p, s ? s : "", err));

    TRY(get_u32(&p, "guest_numa_id", &out->guest_numa_id, err));

    /* vCPU ids are u8 and distances u8 in the config: refuse what would not
     * fit rather than truncate. */
    TRY(option_parser_get_int_list(&p, "cpus", UINT8_MAX, &cpus, &n_cpus, err));
    if (n_cpus > 0) {
        out->cpus = malloc(n_cpus * sizeof(*out->cpus));
        if (!out->cpus) {
            r = no_memory(err);
            goto fail;
        }
        for (size_t i = 0; i < n_cpus; i++)
            out->cpus[i] = (uint8_t)cpus[i];
        out->n_cpus = n_cpus;
    }

    TRY(option_parser_get_tuples(&p, "distances", UINT32_MAX, false, UINT8_MAX, &tuples, &n_tuples, err));
    if (n_tuples > 0) {
        out->distances = malloc(n_tuples * sizeof(*out->distances));
        if (!out->distances) {
            r = no_memory(err);
            goto fail;
        }
        for (size_t i = 0; i < n_tuples; i++) {
            out->distances[i].destination = (uint32_t)tuples[i].key;
            out->distances[i].distance = (uint8_t)tuples[i].values[0];
        }
        out->n_distances = n_tuples;
    }

    TRY(option_parser_get_string_list(&p, "memory_zones", &out->memory_zones, &out->n_memory_zones, err));
    TRY(option_parser_get_string_list(&p, "sgx_epc_sections", &out->sgx_epc_sections,
                                      &out->n_sgx_epc_sections, err));
    TRY(get_u16_list(&p, "pci_segments", &out->pci_segments, &out->n_pci_segments, err));

    free(cpus);
    option_tuples_free(tuples, n_tuples);
    option_parser_free(&p);
    return 0;

fail:
    free(cpus);
    option_tuples_free(tuples, n_tuples);
    option_parser_free(&p);
    numa_config_free(out);
    return parse_failed(err, "--numa", r);
}

/* ------------------------------------------------------ tpm, landlock */

int tpm_config_parse(const char *s, TpmConfig *out, ConfigError *err)
{
    static const char *const keys[] = {"socket", NULL};
    OptionParser p;
    int r;

    memset(out, 0, sizeof(*out));
    option_parser_init(&p, keys);
    TRY(option_parser_parse(&p, s ? s : "", err));

    TRY(get_string(&p, "socket", &out->socket, err));
    if (!out->socket) {
        /* Cloud Hypervisor calls the socket "path" in this message. */
        r = missing(err, "--tpm", "path");
        goto fail_missing;
    }

    option_parser_free(&p);
    return 0;

fail:
    parse_failed(err, "--tpm", r);
fail_missing:
    option_parser_free(&p);
    tpm_config_free(out);
    return r;
}

int landlock_config_parse(const char *s, LandlockConfig *out, ConfigError *err)
{
    static const char *const keys[] = {"path", "access", NULL};
    OptionParser p;
    int r;

    memset(out, 0, sizeof(*out));
    option_parser_init(&p, keys);
    TRY(option_parser_parse(&p, s ? s : "", err));

    TRY(get_string(&p, "path", &out->path, err));
    TRY(get_string(&p, "access", &out->access, err));
    if (!out->path || !out->access) {
        r = missing(err, "--landlock-rules", "path/access field");
        goto fail_missing;
    }
    /* Only "r", "w" and their combinations make sense; which letters are
     * valid is checked by validation, the length here as in Cloud Hypervisor. */
    if (strlen(out->access) > 2) {
        r = config_error_set(err, CONFIG_ERR_PARSE, "invalid value: %.200s", out->access);
        goto fail;
    }

    option_parser_free(&p);
    return 0;

fail:
    parse_failed(err, "--landlock-rules", r);
fail_missing:
    option_parser_free(&p);
    landlock_config_free(out);
    return r;
}

/* ------------------------------------------------------------ the VM */

/* Parses n option strings into a freshly allocated array, counting only the
 * items fully parsed so that vm_config_free() can release a partial list. */
#define PARSE_LIST(strings, n, arr, count, parse_fn)                                                         \
    do {                                                                                                     \
        if ((n) > 0) {                                                                                       \
            (arr) = calloc((n), sizeof(*(arr)));                                                             \
            if (!(arr)) {                                                                                    \
                r = no_memory(err);                                                                          \
                goto fail;                                                                                   \
            }                                                                                                \
            for (size_t i_ = 0; i_ < (n); i_++) {                                                            \
                if ((r = parse_fn((strings)[i_], &(arr)[i_], err)) < 0)                                      \
                    goto fail;                                                                               \
                (count) = i_ + 1;                                                                            \
            }                                                                                                \
        }                                                                                                    \
    } while (0)

static char *dup_or_null(const char *s, bool *oom)
{
    if (!s)
        return NULL;
    char *copy = strdup(s);
    if (!copy)
        *oom = true;
    return copy;
}

int vm_config_parse(const VmParams *params, VmConfig *out, ConfigError *err)
{
    int r;

    if (vm_config_init(out) < 0) {
        vm_config_free(out);
        return no_memory(err);
    }

    /* Cloud Hypervisor's VmConfig::parse() order, which decides which error
     * a command line with several mistakes reports. */
    PARSE_LIST(params->rate_limit_groups, params->n_rate_limit_groups, out->rate_limit_groups,
               out->n_rate_limit_groups, rate_limiter_group_config_parse);
    PARSE_LIST(params->disks, params->n_disks, out->disks, out->n_disks, disk_config_parse);
    PARSE_LIST(params->net, params->n_net, out->net, out->n_net, net_config_parse);

    rng_config_free(&out->rng);
    TRY(rng_config_parse(params->rng ? params->rng : DEFAULT_RNG_PARAM, &out->rng, err));

    if (params->balloon) {
        TRY(balloon_config_parse(params->balloon, &out->balloon, err));
        out->has_balloon = true;
    }

    PARSE_LIST(params->fs, params->n_fs, out->fs, out->n_fs, fs_config_parse);
    PARSE_LIST(params->pmem, params->n_pmem, out->pmem, out->n_pmem, pmem_config_parse);

    TRY(console_config_parse(params->console ? params->console : DEFAULT_CONSOLE_PARAM, "--console",
                             &out->console, err));
    TRY(console_config_parse(params->serial ? params->serial : DEFAULT_SERIAL_PARAM, "--serial", &out->serial,
                             err));
    TRY(debug_console_config_parse(params->debug_console ? params->debug_console
                                                         : DEFAULT_DEBUG_CONSOLE_PARAM,
                                   &out->debug_console, err));

    PARSE_LIST(params->devices, params->n_devices, out->devices, out->n_devices, device_config_parse);
    PARSE_LIST(params->user_devices, params->n_user_devices, out->user_devices, out->n_user_devices,
               user_device_config_parse);
    PARSE_LIST(params->vdpa, params->n_vdpa, out->vdpa, out->n_vdpa, vdpa_config_parse);

    if (params->vsock) {
        TRY(vsock_config_parse(params->vsock, &out->vsock, err));
        out->has_vsock = true;
    }
    if (params->platform) {
        TRY(platform_config_parse(params->platform, &out->platform, err));
        out->has_platform = true;
    }

    PARSE_LIST(params->sgx_epc, params->n_sgx_epc, out->sgx_epc, out->n_sgx_epc, sgx_epc_config_parse);
    PARSE_LIST(params->numa, params->n_numa, out->numa, out->n_numa, numa_config_parse);

    /* initramfs and cmdline only count along with a kernel or firmware. */
    if (params->kernel || params->firmware) {
        bool oom = false;
        out->has_payload = true;
        out->payload.kernel = dup_or_null(params->kernel, &oom);
        out->payload.initramfs = dup_or_null(params->initramfs, &oom);
        out->payload.cmdline = dup_or_null(params->cmdline, &oom);
        out->payload.firmware = dup_or_null(params->firmware, &oom);
        if (oom) {
            r = no_memory(err);
            goto fail;
        }
    }

    if (params->tpm) {
        TRY(tpm_config_parse(params->tpm, &out->tpm, err));
        out->has_tpm = true;
    }

    PARSE_LIST(params->landlock_rules, params->n_landlock_rules, out->landlock_rules, out->n_landlock_rules,
               landlock_config_parse);

    TRY(cpus_config_parse(params->cpus ? params->cpus : DEFAULT_CPUS_PARAM, &out->cpus, err));
    memory_config_free(&out->memory);
    TRY(memory_config_parse(params->memory ? params->memory : DEFAULT_MEMORY_PARAM, params->memory_zones,
                            params->n_memory_zones, &out->memory, err));

    out->pvpanic = params->pvpanic;
    out->watchdog = params->watchdog;
    out->landlock_enable = params->landlock_enable;
    out->iommu = false; /* derived by validation */

    TRY(vm_config_validate(out, err));
    return 0;

fail:
    vm_config_free(out);
    return r;
}
