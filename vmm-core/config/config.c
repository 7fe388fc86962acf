/* SPDX-License-Identifier: Apache-2.0 */
/* Defaults, lifetime and small value types of the VM configuration. */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

int config_error_set(ConfigError *err, ConfigErrorCode code, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        err->code = code;
        vsnprintf(err->message, sizeof(err->message), fmt, ap);
        va_end(ap);
    }
    return code == CONFIG_ERR_NO_MEMORY ? -ENOMEM : -EINVAL;
}

void config_error_prefix(ConfigError *err, const char *fmt, ...)
{
    if (!err)
        return;
    char old[sizeof(err->message)];
    memcpy(old, err->message, sizeof(old));
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(err->message, sizeof(err->message), fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof(err->message) - 1)
        return;
    /* The tail is cut if prefix + message exceed the buffer. */
    size_t room = sizeof(err->message) - (size_t)n - 1;
    size_t len = strnlen(old, sizeof(old));
    if (len > room)
        len = room;
    memcpy(err->message + n, old, len);
    err->message[(size_t)n + len] = '\0';
}

/* ---------------------------------------------------------------- defaults */

void cpus_config_init(CpusConfig *c)
{
    memset(c, 0, sizeof(*c));
    c->boot_vcpus = DEFAULT_VCPUS;
    c->max_vcpus = DEFAULT_VCPUS;
    c->max_phys_bits = DEFAULT_MAX_PHYS_BITS;
}

void memory_config_init(MemoryConfig *c)
{
    memset(c, 0, sizeof(*c));
    c->size = DEFAULT_MEMORY_MB << 20;
    c->hotplug_method = HOTPLUG_METHOD_ACPI;
    c->thp = true;
}

void platform_config_init(PlatformConfig *c)
{
    memset(c, 0, sizeof(*c));
    c->num_pci_segments = DEFAULT_NUM_PCI_SEGMENTS;
}

void disk_config_init(DiskConfig *c)
{
    memset(c, 0, sizeof(*c));
    c->num_queues = DEFAULT_DISK_NUM_QUEUES;
    c->queue_size = DEFAULT_DISK_QUEUE_SIZE;
}

void net_config_init(NetConfig *c)
{
    memset(c, 0, sizeof(*c));
    ipv4_parse(DEFAULT_NET_IP, &c->ip);
    ipv4_parse(DEFAULT_NET_MASK, &c->mask);
    mac_addr_local_random(&c->mac);
    c->num_queues = DEFAULT_NET_NUM_QUEUES;
    c->queue_size = DEFAULT_NET_QUEUE_SIZE;
    c->vhost_mode = VHOST_MODE_CLIENT;
    c->offload_tso = true;
    c->offload_ufo = true;
    c->offload_csum = true;
}

void fs_config_init(FsConfig *c)
{
    memset(c, 0, sizeof(*c));
    c->num_queues = DEFAULT_FS_NUM_QUEUES;
    c->queue_size = DEFAULT_FS_QUEUE_SIZE;
}

void vdpa_config_init(VdpaConfig *c)
{
    memset(c, 0, sizeof(*c));
    c->num_queues = DEFAULT_VDPA_NUM_QUEUES;
}

void debug_console_config_init(DebugConsoleConfig *c)
{
    memset(c, 0, sizeof(*c));
    c->mode = CONSOLE_MODE_OFF;
    c->iobase.present = true;
    c->iobase.value = DEFAULT_DEBUG_CONSOLE_PORT;
}

int vm_config_init(VmConfig *c)
{
    memset(c, 0, sizeof(*c));
    cpus_config_init(&c->cpus);
    memory_config_init(&c->memory);
    c->serial.mode = CONSOLE_MODE_NULL;
    c->console.mode = CONSOLE_MODE_TTY;
    debug_console_config_init(&c->debug_console);
    c->rng.src = strdup(DEFAULT_RNG_SOURCE);
    return c->rng.src ? 0 : -ENOMEM;
}

/* ------------------------------------------------------------------- free */

#define FREE_ARRAY(arr, n, item_free)                                                                      \
    do {                                                                                                   \
        for (size_t i_ = 0; (arr) && i_ < (n); i_++)                                                       \
            item_free(&(arr)[i_]);                                                                         \
        free(arr);                                                                                         \
        (arr) = NULL;                                                                                      \
        (n) = 0;                                                                                           \
    } while (0)

static void free_strings(char ***list, size_t *n)
{
    for (size_t i = 0; *list && i < *n; i++)
        free((*list)[i]);
    free(*list);
    *list = NULL;
    *n = 0;
}

static void cpu_affinity_free(CpuAffinity *a)
{
    free(a->host_cpus);
}

void cpus_config_free(CpusConfig *c)
{
    FREE_ARRAY(c->affinity, c->n_affinity, cpu_affinity_free);
    memset(c, 0, sizeof(*c));
}

void memory_zone_config_free(MemoryZoneConfig *c)
{
    free(c->id);
    free(c->file);
    memset(c, 0, sizeof(*c));
}

void memory_config_free(MemoryConfig *c)
{
    FREE_ARRAY(c->zones, c->n_zones, memory_zone_config_free);
    memset(c, 0, sizeof(*c));
}

void platform_config_free(PlatformConfig *c)
{
    free(c->iommu_segments);
    free(c->serial_number);
    free(c->uuid);
    free_strings(&c->oem_strings, &c->n_oem_strings);
    memset(c, 0, sizeof(*c));
}

void rate_limiter_group_config_free(RateLimiterGroupConfig *c)
{
    free(c->id);
    memset(c, 0, sizeof(*c));
}

void disk_config_free(DiskConfig *c)
{
    free(c->path);
    free(c->vhost_socket);
    free(c->rate_limit_group);
    free(c->id);
    free(c->serial);
    memset(c, 0, sizeof(*c));
}

void net_config_free(NetConfig *c)
{
    free(c->tap);
    free(c->vhost_socket);
    free(c->id);
    free(c->fds);
    memset(c, 0, sizeof(*c));
}

void rng_config_free(RngConfig *c)
{
    free(c->src);
    memset(c, 0, sizeof(*c));
}

void fs_config_free(FsConfig *c)
{
    free(c->tag);
    free(c->socket);
    free(c->id);
    memset(c, 0, sizeof(*c));
}

void pmem_config_free(PmemConfig *c)
{
    free(c->file);
    free(c->id);
    memset(c, 0, sizeof(*c));
}

void console_config_free(ConsoleConfig *c)
{
    free(c->file);
    free(c->socket);
    memset(c, 0, sizeof(*c));
}

void debug_console_config_free(DebugConsoleConfig *c)
{
    free(c->file);
    memset(c, 0, sizeof(*c));
}

void device_config_free(DeviceConfig *c)
{
    free(c->path);
    free(c->id);
    memset(c, 0, sizeof(*c));
}

void user_device_config_free(UserDeviceConfig *c)
{
    free(c->socket);
    free(c->id);
    memset(c, 0, sizeof(*c));
}

void vdpa_config_free(VdpaConfig *c)
{
    free(c->path);
    free(c->id);
    memset(c, 0, sizeof(*c));
}

void vsock_config_free(VsockConfig *c)
{
    free(c->socket);
    free(c->id);
    memset(c, 0, sizeof(*c));
}

void sgx_epc_config_free(SgxEpcConfig *c)
{
    free(c->id);
    memset(c, 0, sizeof(*c));
}

void numa_config_free(NumaConfig *c)
{
    free(c->cpus);
    free(c->distances);
    free_strings(&c->memory_zones, &c->n_memory_zones);
    free_strings(&c->sgx_epc_sections, &c->n_sgx_epc_sections);
    free(c->pci_segments);
    memset(c, 0, sizeof(*c));
}

void payload_config_free(PayloadConfig *c)
{
    free(c->firmware);
    free(c->kernel);
    free(c->cmdline);
    free(c->initramfs);
    memset(c, 0, sizeof(*c));
}

void tpm_config_free(TpmConfig *c)
{
    free(c->socket);
    memset(c, 0, sizeof(*c));
}

void landlock_config_free(LandlockConfig *c)
{
    free(c->path);
    free(c->access);
    memset(c, 0, sizeof(*c));
}

void vm_config_free(VmConfig *c)
{
    cpus_config_free(&c->cpus);
    memory_config_free(&c->memory);
    payload_config_free(&c->payload);
    FREE_ARRAY(c->rate_limit_groups, c->n_rate_limit_groups, rate_limiter_group_config_free);
    FREE_ARRAY(c->disks, c->n_disks, disk_config_free);
    FREE_ARRAY(c->net, c->n_net, net_config_free);
    rng_config_free(&c->rng);
    FREE_ARRAY(c->fs, c->n_fs, fs_config_free);
    FREE_ARRAY(c->pmem, c->n_pmem, pmem_config_free);
    console_config_free(&c->serial);
    console_config_free(&c->console);
    debug_console_config_free(&c->debug_console);
    FREE_ARRAY(c->devices, c->n_devices, device_config_free);
    FREE_ARRAY(c->user_devices, c->n_user_devices, user_device_config_free);
    FREE_ARRAY(c->vdpa, c->n_vdpa, vdpa_config_free);
    vsock_config_free(&c->vsock);
    FREE_ARRAY(c->sgx_epc, c->n_sgx_epc, sgx_epc_config_free);
    FREE_ARRAY(c->numa, c->n_numa, numa_config_free);
    platform_config_free(&c->platform);
    tpm_config_free(&c->tpm);
    FREE_ARRAY(c->landlock_rules, c->n_landlock_rules, landlock_config_free);
    memset(c, 0, sizeof(*c));
}

/* ------------------------------------------------------------ value types */

void mac_addr_local_random(MacAddr *mac)
{
    if (getrandom(mac->bytes, sizeof(mac->bytes), 0) != (ssize_t)sizeof(mac->bytes)) {
        /* getrandom on 6 bytes cannot be short unless the kernel lacks it;
         * fall back to something still unlikely to collide. */
        unsigned long seed = (unsigned long)(uintptr_t)mac ^ (unsigned long)rand();
        for (size_t i = 0; i < sizeof(mac->bytes); i++)
            mac->bytes[i] = (uint8_t)(seed >> (i * 8));
    }
    /* unicast (bit 0 clear), locally administered (bit 1 set) */
    mac->bytes[0] = (uint8_t)((mac->bytes[0] & 0xfe) | 0x02);
}

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int uuid_parse(const char *s, uint8_t out[16])
{
    if (strlen(s) != 36)
        return -EINVAL;
    for (int i = 0, k = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-')
                return -EINVAL;
            continue;
        }
        int hi = hex_digit(s[i]), lo = hex_digit(s[i + 1]);
        if (hi < 0 || lo < 0)
            return -EINVAL;
        out[k++] = (uint8_t)(hi << 4 | lo);
        i++;
    }
    return 0;
}

int mac_addr_parse(const char *s, MacAddr *mac)
{
    MacAddr m;
    for (size_t i = 0; i < 6; i++) {
        int hi = hex_digit(s[0]), lo = hi < 0 ? -1 : hex_digit(s[1]);
        if (hi < 0 || lo < 0)
            return -EINVAL;
        m.bytes[i] = (uint8_t)(hi << 4 | lo);
        s += 2;
        if (i < 5) {
            if (*s != ':')
                return -EINVAL;
            s++;
        }
    }
    if (*s != '\0')
        return -EINVAL;
    *mac = m;
    return 0;
}

void mac_addr_format(const MacAddr *mac, char out[18])
{
    snprintf(out, 18, "%02x:%02x:%02x:%02x:%02x:%02x", mac->bytes[0], mac->bytes[1], mac->bytes[2],
             mac->bytes[3], mac->bytes[4], mac->bytes[5]);
}

int ipv4_parse(const char *s, uint32_t *addr)
{
    /* Rust's Ipv4Addr::from_str: four decimal octets, no leading zeros. */
    uint32_t a = 0;
    for (int part = 0; part < 4; part++) {
        if (*s < '0' || *s > '9')
            return -EINVAL;
        unsigned v = 0, digits = 0;
        const char *start = s;
        while (*s >= '0' && *s <= '9') {
            v = v * 10 + (unsigned)(*s - '0');
            if (++digits > 3 || v > 255)
                return -EINVAL;
            s++;
        }
        if (digits > 1 && *start == '0')
            return -EINVAL;
        a = a << 8 | v;
        if (part < 3) {
            if (*s != '.')
                return -EINVAL;
            s++;
        }
    }
    if (*s != '\0')
        return -EINVAL;
    *addr = a;
    return 0;
}

void ipv4_format(uint32_t addr, char out[16])
{
    snprintf(out, 16, "%u.%u.%u.%u", addr >> 24, (addr >> 16) & 0xff, (addr >> 8) & 0xff, addr & 0xff);
}

static const char *const console_mode_names[] = {
    [CONSOLE_MODE_OFF] = "Off",       [CONSOLE_MODE_PTY] = "Pty",   [CONSOLE_MODE_TTY] = "Tty",
    [CONSOLE_MODE_FILE] = "File",     [CONSOLE_MODE_SOCKET] = "Socket", [CONSOLE_MODE_NULL] = "Null",
};

const char *console_mode_to_string(ConsoleOutputMode m)
{
    if ((unsigned)m >= sizeof(console_mode_names) / sizeof(console_mode_names[0]))
        return NULL;
    return console_mode_names[m];
}

int console_mode_from_string(const char *s, ConsoleOutputMode *m)
{
    for (size_t i = 0; i < sizeof(console_mode_names) / sizeof(console_mode_names[0]); i++) {
        if (strcmp(s, console_mode_names[i]) == 0) {
            *m = (ConsoleOutputMode)i;
            return 0;
        }
    }
    return -EINVAL;
}

const char *hotplug_method_to_string(HotplugMethod m)
{
    return m == HOTPLUG_METHOD_VIRTIO_MEM ? "VirtioMem" : "Acpi";
}

int hotplug_method_from_string(const char *s, HotplugMethod *m)
{
    if (strcmp(s, "Acpi") == 0)
        *m = HOTPLUG_METHOD_ACPI;
    else if (strcmp(s, "VirtioMem") == 0)
        *m = HOTPLUG_METHOD_VIRTIO_MEM;
    else
        return -EINVAL;
    return 0;
}

const char *vhost_mode_to_string(VhostMode m)
{
    return m == VHOST_MODE_SERVER ? "Server" : "Client";
}

int vhost_mode_from_string(const char *s, VhostMode *m)
{
    if (strcmp(s, "Client") == 0)
        *m = VHOST_MODE_CLIENT;
    else if (strcmp(s, "Server") == 0)
        *m = VHOST_MODE_SERVER;
    else
        return -EINVAL;
    return 0;
}

bool vm_config_backed_by_shared_memory(const VmConfig *c)
{
    if (c->memory.shared || c->memory.hugepages)
        return true;
    if (c->memory.size != 0)
        return false;
    /* All RAM comes from zones: every one of them must be shareable. */
    for (size_t i = 0; i < c->memory.n_zones; i++)
        if (!c->memory.zones[i].shared && !c->memory.zones[i].hugepages)
            return false;
    return true;
}
