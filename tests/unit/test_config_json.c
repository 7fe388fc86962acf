/* SPDX-License-Identifier: Apache-2.0 */
/* The JSON form of VmConfig: Cloud Hypervisor's field names and serde
 * defaults, a lossless round trip, and the hostile documents we refuse. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "config.h"

#define N_ITEMS 2

/* ------------------------------------------------------------- builders */

static char *xstrdup(const char *s)
{
    char *r = strdup(s);
    assert_non_null(r);
    return r;
}

static char *xfmt(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static char *xfmt(const char *fmt, ...)
{
    char buf[64];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    return xstrdup(buf);
}

static void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n, size);
    assert_non_null(p);
    return p;
}

/* {prefix0, prefix1, ...} */
static char **string_list(const char *prefix, size_t n)
{
    char **l = xcalloc(n, sizeof(*l));
    for (size_t i = 0; i < n; i++) {
        char buf[64];
        snprintf(buf, sizeof(buf), "%s%zu", prefix, i);
        l[i] = xstrdup(buf);
    }
    return l;
}

static void fill_rate_limiter(RateLimiterConfig *r, uint64_t base)
{
    r->has_bandwidth = true;
    r->bandwidth.size = base + 1;
    r->bandwidth.one_time_burst.present = true;
    r->bandwidth.one_time_burst.value = base + 2;
    r->bandwidth.refill_time = base + 3;
    r->has_ops = true;
    r->ops.size = base + 4;
    r->ops.refill_time = base + 5; /* one_time_burst None */
}

/* Every field set to something other than its default, every list with
 * N_ITEMS entries, every optional struct present. */
static void build_full(VmConfig *c)
{
    assert_int_equal(vm_config_init(c), 0);

    c->cpus.boot_vcpus = 2;
    c->cpus.max_vcpus = 255;
    c->cpus.has_topology = true;
    c->cpus.topology = (CpuTopology){1, 2, 3, 4};
    c->cpus.kvm_hyperv = true;
    c->cpus.max_phys_bits = 40;
    c->cpus.n_affinity = N_ITEMS;
    c->cpus.affinity = xcalloc(N_ITEMS, sizeof(CpuAffinity));
    for (size_t i = 0; i < N_ITEMS; i++) {
        c->cpus.affinity[i].vcpu = (uint8_t)i;
        c->cpus.affinity[i].n_host_cpus = 2;
        c->cpus.affinity[i].host_cpus = xcalloc(2, sizeof(size_t));
        c->cpus.affinity[i].host_cpus[0] = i;
        c->cpus.affinity[i].host_cpus[1] = SIZE_MAX;
    }
    c->cpus.features.amx = true;

    MemoryConfig *m = &c->memory;
    m->size = UINT64_MAX;
    m->mergeable = true;
    m->hotplug_method = HOTPLUG_METHOD_VIRTIO_MEM;
    m->hotplug_size = (OptU64){true, 1ULL << 30};
    m->hotplugged_size = (OptU64){true, 0};
    m->shared = true;
    m->hugepages = true;
    m->hugepage_size = (OptU64){true, 2ULL << 20};
    m->prefault = true;
    m->thp = false;
    m->n_zones = N_ITEMS;
    m->zones = xcalloc(N_ITEMS, sizeof(MemoryZoneConfig));
    for (size_t i = 0; i < N_ITEMS; i++) {
        MemoryZoneConfig *z = &m->zones[i];
        z->id = xfmt("mem%zu", i);
        z->size = 1ULL << 30;
        z->file = xfmt("/dev/shm/zone%zu", i);
        z->shared = z->hugepages = z->prefault = true;
        z->hugepage_size = (OptU64){true, 1ULL << 30};
        z->host_numa_node = (OptU32){true, UINT32_MAX};
        z->hotplug_size = (OptU64){true, 4096};
        z->hotplugged_size = (OptU64){true, 8192};
    }

    c->has_payload = true;
    c->payload.firmware = xstrdup("/fw");
    c->payload.kernel = xstrdup("/boot/vmlinux");
    c->payload.cmdline = xstrdup("console=ttyS0 \"quoted\" \\ é");
    c->payload.initramfs = xstrdup("/initrd");

    c->n_rate_limit_groups = N_ITEMS;
    c->rate_limit_groups = xcalloc(N_ITEMS, sizeof(RateLimiterGroupConfig));
    for (size_t i = 0; i < N_ITEMS; i++) {
        c->rate_limit_groups[i].id = xfmt("group%zu", i);
        fill_rate_limiter(&c->rate_limit_groups[i].rate_limiter_config, 10 * i);
    }

    c->n_disks = N_ITEMS;
    c->disks = xcalloc(N_ITEMS, sizeof(DiskConfig));
    for (size_t i = 0; i < N_ITEMS; i++) {
        DiskConfig *d = &c->disks[i];
        disk_config_init(d);
        d->path = xfmt("/disk%zu.img", i);
        d->readonly = d->direct = d->iommu = d->vhost_user = true;
        d->disable_io_uring = d->disable_aio = true;
        d->num_queues = 4;
        d->queue_size = UINT16_MAX;
        d->vhost_socket = xfmt("/run/vhost%zu.sock", i);
        d->rate_limit_group = xfmt("group%zu", i);
        d->has_rate_limiter_config = true;
        fill_rate_limiter(&d->rate_limiter_config, 100);
        d->id = xfmt("disk%zu", i);
        d->pci_segment = 1;
        d->serial = xfmt("SERIAL%zu", i);
    }

    c->n_net = N_ITEMS;
    c->net = xcalloc(N_ITEMS, sizeof(NetConfig));
    for (size_t i = 0; i < N_ITEMS; i++) {
        NetConfig *n = &c->net[i];
        net_config_init(n);
        n->tap = xfmt("tap%zu", i);
        n->ip = 0x0a000001u + (uint32_t)i;
        n->mask = 0xffff0000u;
        n->mac = (MacAddr){{0x12, 0x34, 0x56, 0x78, 0x9a, (uint8_t)(0xb0 + i)}};
        n->has_host_mac = true;
        n->host_mac = (MacAddr){{0xfe, 0xdc, 0xba, 0x98, 0x76, 0x54}};
        n->mtu = (OptU16){true, 9000};
        n->iommu = n->vhost_user = true;
        n->num_queues = 8;
        n->queue_size = 1024;
        n->vhost_socket = xfmt("/run/net%zu.sock", i);
        n->vhost_mode = VHOST_MODE_SERVER;
        n->id = xfmt("net%zu", i);
        n->n_fds = 2;
        n->fds = xcalloc(2, sizeof(int));
        n->fds[0] = 3;
        n->fds[1] = -1;
        n->has_rate_limiter_config = true;
        fill_rate_limiter(&n->rate_limiter_config, 200);
        n->pci_segment = 2;
        n->offload_tso = n->offload_ufo = n->offload_csum = false;
    }

    free(c->rng.src);
    c->rng.src = xstrdup("/dev/random");
    c->rng.iommu = true;

    c->has_balloon = true;
    c->balloon = (BalloonConfig){1ULL << 28, true, true};

    c->n_fs = N_ITEMS;
    c->fs = xcalloc(N_ITEMS, sizeof(FsConfig));
    for (size_t i = 0; i < N_ITEMS; i++) {
        fs_config_init(&c->fs[i]);
        c->fs[i].tag = xfmt("tag%zu", i);
        c->fs[i].socket = xfmt("/run/fs%zu.sock", i);
        c->fs[i].num_queues = 2;
        c->fs[i].queue_size = 512;
        c->fs[i].id = xfmt("fs%zu", i);
        c->fs[i].pci_segment = 3;
    }

    c->n_pmem = N_ITEMS;
    c->pmem = xcalloc(N_ITEMS, sizeof(PmemConfig));
    for (size_t i = 0; i < N_ITEMS; i++) {
        c->pmem[i].file = xfmt("/pmem%zu", i);
        c->pmem[i].size = (OptU64){true, 1ULL << 21};
        c->pmem[i].iommu = c->pmem[i].discard_writes = true;
        c->pmem[i].id = xfmt("pmem%zu", i);
        c->pmem[i].pci_segment = 4;
    }

    c->serial = (ConsoleConfig){xstrdup("/tmp/serial.log"), CONSOLE_MODE_FILE, true, NULL};
    c->console = (ConsoleConfig){NULL, CONSOLE_MODE_SOCKET, true, xstrdup("/tmp/console.sock")};
    c->debug_console = (DebugConsoleConfig){xstrdup("/tmp/debug.log"), CONSOLE_MODE_FILE, {true, 0x3f8}};

    c->n_devices = N_ITEMS;
    c->devices = xcalloc(N_ITEMS, sizeof(DeviceConfig));
    for (size_t i = 0; i < N_ITEMS; i++)
        c->devices[i] =
            (DeviceConfig){xfmt("/sys/bus/pci/devices/0000:00:0%zu.0", i), true, xfmt("dev%zu", i), 5};

    c->n_user_devices = N_ITEMS;
    c->user_devices = xcalloc(N_ITEMS, sizeof(UserDeviceConfig));
    for (size_t i = 0; i < N_ITEMS; i++)
        c->user_devices[i] = (UserDeviceConfig){xfmt("/run/user%zu.sock", i), xfmt("user%zu", i), 6};

    c->n_vdpa = N_ITEMS;
    c->vdpa = xcalloc(N_ITEMS, sizeof(VdpaConfig));
    for (size_t i = 0; i < N_ITEMS; i++)
        c->vdpa[i] = (VdpaConfig){xfmt("/dev/vhost-vdpa-%zu", i), 3, true, xfmt("vdpa%zu", i), 7};

    c->has_vsock = true;
    c->vsock = (VsockConfig){UINT32_MAX, xstrdup("/run/vsock.sock"), true, xstrdup("vsock0"), 8};
    c->pvpanic = true;
    c->iommu = true;

    c->n_sgx_epc = N_ITEMS;
    c->sgx_epc = xcalloc(N_ITEMS, sizeof(SgxEpcConfig));
    for (size_t i = 0; i < N_ITEMS; i++)
        c->sgx_epc[i] = (SgxEpcConfig){xfmt("epc%zu", i), 1ULL << 25, true};

    c->n_numa = N_ITEMS;
    c->numa = xcalloc(N_ITEMS, sizeof(NumaConfig));
    for (size_t i = 0; i < N_ITEMS; i++) {
        NumaConfig *n = &c->numa[i];
        n->guest_numa_id = (uint32_t)i;
        n->n_cpus = 2;
        n->cpus = xcalloc(2, 1);
        n->cpus[0] = (uint8_t)(2 * i);
        n->cpus[1] = 255;
        n->n_distances = N_ITEMS;
        n->distances = xcalloc(N_ITEMS, sizeof(NumaDistance));
        for (size_t j = 0; j < N_ITEMS; j++)
            n->distances[j] = (NumaDistance){(uint32_t)j, (uint8_t)(10 + j)};
        n->n_memory_zones = N_ITEMS;
        n->memory_zones = string_list("mem", N_ITEMS);
        n->n_sgx_epc_sections = N_ITEMS;
        n->sgx_epc_sections = string_list("epc", N_ITEMS);
        n->n_pci_segments = 1;
        n->pci_segments = xcalloc(1, sizeof(uint16_t));
        n->pci_segments[0] = (uint16_t)i;
    }

    c->watchdog = true;
    c->has_platform = true;
    platform_config_init(&c->platform);
    c->platform.num_pci_segments = 16;
    c->platform.has_iommu_segments = true;
    c->platform.n_iommu_segments = 2;
    c->platform.iommu_segments = xcalloc(2, sizeof(uint16_t));
    c->platform.iommu_segments[0] = 1;
    c->platform.iommu_segments[1] = 15;
    c->platform.serial_number = xstrdup("SN-1");
    c->platform.uuid = xstrdup("00000000-0000-0000-0000-000000000001");
    c->platform.n_oem_strings = N_ITEMS;
    c->platform.oem_strings = string_list("oem ", N_ITEMS);

    c->has_tpm = true;
    c->tpm.socket = xstrdup("/run/tpm.sock");
    c->landlock_enable = true;
    c->n_landlock_rules = N_ITEMS;
    c->landlock_rules = xcalloc(N_ITEMS, sizeof(LandlockConfig));
    for (size_t i = 0; i < N_ITEMS; i++)
        c->landlock_rules[i] = (LandlockConfig){xfmt("/srv/%zu", i), xstrdup("rw")};
}

/* ------------------------------------------------------------- helpers */

static int from_json(const char *s, VmConfig *c, ConfigError *err)
{
    return vm_config_from_json(s, strlen(s), c, err);
}

static void expect_error_len(const char *json, size_t len, const char *fragment)
{
    VmConfig c;
    ConfigError err = {0};
    int rc = vm_config_from_json(json, len, &c, &err);
    if (rc != -EINVAL)
        fail_msg("document '%.80s' was accepted (rc %d)", json, rc);
    assert_int_equal(err.code, CONFIG_ERR_JSON);
    if (!strstr(err.message, fragment))
        fail_msg("document '%.80s': message '%s' lacks '%s'", json, err.message, fragment);
    /* *out is left freed: all zero */
    VmConfig zero;
    memset(&zero, 0, sizeof(zero));
    assert_memory_equal(&c, &zero, sizeof(c));
}

static void expect_error(const char *json, const char *fragment)
{
    expect_error_len(json, strlen(json), fragment);
}

/* Follows "a.b[1].c" through a json-c tree. */
static json_object *lookup(json_object *root, const char *path)
{
    char buf[256];
    snprintf(buf, sizeof(buf), "%s", path);
    json_object *cur = root;
    for (char *tok = strtok(buf, "."); tok && cur; tok = strtok(NULL, ".")) {
        char *br = strchr(tok, '[');
        size_t idx = 0;
        if (br) {
            idx = strtoul(br + 1, NULL, 10);
            *br = '\0';
        }
        if (!json_object_object_get_ex(cur, tok, &cur))
            return NULL;
        if (br)
            cur = json_object_array_get_idx(cur, idx);
    }
    return cur;
}

/* --------------------------------------------------------------- tests */

static void test_round_trip_full(void **state)
{
    (void)state;
    for (int pretty = 0; pretty <= 1; pretty++) {
        VmConfig a, b;
        ConfigError err = {0};
        build_full(&a);
        char *s1 = vm_config_to_json(&a, pretty);
        assert_non_null(s1);
        if (from_json(s1, &b, &err))
            fail_msg("re-reading our own output failed: %s", err.message);
        char *s2 = vm_config_to_json(&b, pretty);
        assert_non_null(s2);
        assert_string_equal(s1, s2);

        /* spot checks that values, not only names, survived */
        assert_int_equal(b.memory.size, UINT64_MAX);
        assert_int_equal(b.cpus.affinity[1].host_cpus[1], SIZE_MAX);
        assert_int_equal(b.net[0].fds[1], -1);
        assert_int_equal(b.net[1].mac.bytes[5], 0xb1);
        assert_int_equal(b.net[0].ip, 0x0a000001u);
        assert_true(b.platform.has_iommu_segments);
        assert_int_equal(b.vsock.cid, UINT32_MAX);
        assert_int_equal(b.debug_console.iobase.value, 0x3f8);
        assert_false(b.rate_limit_groups[0].rate_limiter_config.ops.one_time_burst.present);
        assert_string_equal(b.payload.cmdline, a.payload.cmdline);
        assert_string_equal(b.platform.oem_strings[1], "oem 1");
        assert_int_equal(b.console.mode, CONSOLE_MODE_SOCKET);
        assert_int_equal(b.memory.hotplug_method, HOTPLUG_METHOD_VIRTIO_MEM);
        assert_int_equal(b.net[0].vhost_mode, VHOST_MODE_SERVER);

        /* paths are not slash-escaped; pretty output is indented */
        assert_non_null(strstr(s1, "/dev/random"));
        assert_true(pretty ? strchr(s1, '\n') != NULL : strchr(s1, '\n') == NULL);

        free(s1);
        free(s2);
        vm_config_free(&a);
        vm_config_free(&b);
    }
}

static void test_round_trip_defaults(void **state)
{
    (void)state;
    VmConfig a, b;
    ConfigError err = {0};
    assert_int_equal(vm_config_init(&a), 0);
    char *s1 = vm_config_to_json(&a, false);
    assert_non_null(s1);
    assert_int_equal(from_json(s1, &b, &err), 0);
    char *s2 = vm_config_to_json(&b, false);
    assert_string_equal(s1, s2);
    /* None is omitted, not written as null */
    assert_null(strstr(s1, "null"));
    assert_null(strstr(s1, "payload"));
    assert_null(strstr(s1, "disks"));
    assert_string_equal(s1,
                        "{\"cpus\":{\"boot_vcpus\":1,\"max_vcpus\":1,\"kvm_hyperv\":false,"
                        "\"max_phys_bits\":46,\"features\":{\"amx\":false}},"
                        "\"memory\":{\"size\":536870912,\"mergeable\":false,\"hotplug_method\":\"Acpi\","
                        "\"shared\":false,\"hugepages\":false,\"prefault\":false,\"thp\":true},"
                        "\"rng\":{\"src\":\"/dev/urandom\",\"iommu\":false},"
                        "\"serial\":{\"mode\":\"Null\",\"iommu\":false},"
                        "\"console\":{\"mode\":\"Tty\",\"iommu\":false},"
                        "\"debug_console\":{\"mode\":\"Off\",\"iobase\":233},"
                        "\"pvpanic\":false,\"iommu\":false,\"watchdog\":false,\"landlock_enable\":false}");
    free(s1);
    free(s2);
    vm_config_free(&a);
    vm_config_free(&b);
}

static void test_minimal_document_defaults(void **state)
{
    (void)state;
    VmConfig c;
    ConfigError err = {0};
    assert_int_equal(from_json("{\"payload\":{\"kernel\":\"/k\"}}", &c, &err), 0);
    assert_true(c.has_payload);
    assert_string_equal(c.payload.kernel, "/k");
    assert_null(c.payload.firmware);
    assert_int_equal(c.cpus.boot_vcpus, 1);
    assert_int_equal(c.cpus.max_vcpus, 1);
    assert_int_equal(c.cpus.max_phys_bits, 46);
    assert_false(c.cpus.has_topology);
    assert_int_equal(c.memory.size, 512ULL << 20);
    assert_true(c.memory.thp);
    assert_int_equal(c.memory.hotplug_method, HOTPLUG_METHOD_ACPI);
    assert_string_equal(c.rng.src, "/dev/urandom");
    assert_int_equal(c.serial.mode, CONSOLE_MODE_NULL);
    assert_int_equal(c.console.mode, CONSOLE_MODE_TTY);
    assert_int_equal(c.debug_console.mode, CONSOLE_MODE_OFF);
    assert_true(c.debug_console.iobase.present);
    assert_int_equal(c.debug_console.iobase.value, 0xe9);
    assert_false(c.has_balloon || c.has_vsock || c.has_platform || c.has_tpm);
    assert_int_equal(c.n_disks + c.n_net + c.n_fs + c.n_pmem + c.n_numa, 0);
    vm_config_free(&c);
}

static void test_minimal_items_defaults(void **state)
{
    (void)state;
    VmConfig c;
    ConfigError err = {0};
    const char *doc = "{\"cpus\":{\"boot_vcpus\":2,\"max_vcpus\":4},\"memory\":{\"size\":1073741824},"
                      "\"disks\":[{\"path\":\"/d\"}],\"net\":[{},{}],"
                      "\"fs\":[{\"tag\":\"t\",\"socket\":\"/s\"}],\"vdpa\":[{\"path\":\"/v\"}],"
                      "\"rate_limit_groups\":[{}],\"platform\":{},\"numa\":[{}],"
                      "\"debug_console\":{\"mode\":\"Tty\"},\"serial\":{\"mode\":\"Pty\"}}";
    if (from_json(doc, &c, &err))
        fail_msg("%s", err.message);
    assert_int_equal(c.cpus.boot_vcpus, 2);
    assert_int_equal(c.cpus.max_phys_bits, 46);
    assert_true(c.memory.thp);
    assert_int_equal(c.n_disks, 1);
    assert_int_equal(c.disks[0].num_queues, 1);
    assert_int_equal(c.disks[0].queue_size, 128);
    assert_int_equal(c.n_net, 2);
    for (size_t i = 0; i < 2; i++) {
        NetConfig *n = &c.net[i];
        char ip[16], mask[16];
        assert_int_equal(n->num_queues, 2);
        assert_int_equal(n->queue_size, 256);
        ipv4_format(n->ip, ip);
        ipv4_format(n->mask, mask);
        assert_string_equal(ip, "192.168.249.1");
        assert_string_equal(mask, "255.255.255.0");
        assert_int_equal(n->mac.bytes[0] & 0x03, 0x02); /* unicast, locally administered */
        assert_true(n->offload_tso && n->offload_ufo && n->offload_csum);
        assert_int_equal(n->vhost_mode, VHOST_MODE_CLIENT);
        assert_false(n->has_host_mac);
    }
    assert_memory_not_equal(c.net[0].mac.bytes, c.net[1].mac.bytes, 6);
    assert_int_equal(c.fs[0].num_queues, 1);
    assert_int_equal(c.fs[0].queue_size, 1024);
    assert_int_equal(c.vdpa[0].num_queues, 1);
    assert_string_equal(c.rate_limit_groups[0].id, ""); /* String with serde default */
    assert_false(c.rate_limit_groups[0].rate_limiter_config.has_bandwidth);
    assert_true(c.has_platform);
    assert_int_equal(c.platform.num_pci_segments, 1);
    assert_false(c.platform.has_iommu_segments);
    assert_int_equal(c.n_numa, 1);
    /* iobase is an Option without serde default: None once debug_console is given */
    assert_int_equal(c.debug_console.mode, CONSOLE_MODE_TTY);
    assert_false(c.debug_console.iobase.present);
    assert_int_equal(c.serial.mode, CONSOLE_MODE_PTY);
    assert_int_equal(c.console.mode, CONSOLE_MODE_TTY);
    vm_config_free(&c);
}

static void test_null_and_empty(void **state)
{
    (void)state;
    VmConfig c;
    ConfigError err = {0};
    /* null is None for Options; [] is None for lists (config.h), except
     * iommu_segments where Some([]) is kept through the has flag */
    const char *doc = "{\"payload\":null,\"disks\":[],\"net\":null,\"balloon\":null,"
                      "\"memory\":{\"size\":1,\"hotplug_size\":null,\"zones\":[]},"
                      "\"platform\":{\"iommu_segments\":[],\"uuid\":null,\"oem_strings\":[]},"
                      "\"debug_console\":{\"mode\":\"Off\",\"iobase\":null,\"file\":null}}";
    if (from_json(doc, &c, &err))
        fail_msg("%s", err.message);
    assert_false(c.has_payload);
    assert_int_equal(c.n_disks, 0);
    assert_null(c.disks);
    assert_int_equal(c.n_net, 0);
    assert_false(c.has_balloon);
    assert_false(c.memory.hotplug_size.present);
    assert_int_equal(c.memory.n_zones, 0);
    assert_true(c.platform.has_iommu_segments);
    assert_int_equal(c.platform.n_iommu_segments, 0);
    assert_null(c.platform.uuid);
    assert_int_equal(c.platform.n_oem_strings, 0);
    char *s = vm_config_to_json(&c, false);
    assert_non_null(strstr(s, "\"iommu_segments\":[]"));
    assert_null(strstr(s, "oem_strings"));
    free(s);
    vm_config_free(&c);

    /* null for a field that is not an Option is a type error, as in serde */
    expect_error("{\"cpus\":null}", "cpus: expected a value, got null");
    expect_error("{\"memory\":{\"size\":1,\"thp\":null}}", "memory.thp: expected a value, got null");
    expect_error("{\"fs\":[{\"tag\":null,\"socket\":\"/s\"}]}", "fs[0].tag: expected a value, got null");
}

static void test_ch_field_names(void **state)
{
    (void)state;
    VmConfig c;
    build_full(&c);
    char *s = vm_config_to_json(&c, true);
    assert_non_null(s);
    json_object *root = json_tokener_parse(s);
    assert_non_null(root);

    assert_int_equal(json_object_get_int(lookup(root, "cpus.boot_vcpus")), 2);
    assert_int_equal(json_object_get_uint64(lookup(root, "memory.size")), UINT64_MAX);
    assert_string_equal(json_object_get_string(lookup(root, "payload.kernel")), "/boot/vmlinux");
    assert_string_equal(json_object_get_string(lookup(root, "disks[0].vhost_socket")), "/run/vhost0.sock");
    assert_int_equal(
        json_object_get_int(lookup(root, "rate_limit_groups[0].rate_limiter_config.bandwidth.size")), 1);
    assert_null(lookup(root, "rate_limit_groups[0].rate_limiter_config.ops.one_time_burst"));
    assert_string_equal(json_object_get_string(lookup(root, "console.mode")), "Socket");
    assert_string_equal(json_object_get_string(lookup(root, "serial.mode")), "File");
    assert_string_equal(json_object_get_string(lookup(root, "memory.hotplug_method")), "VirtioMem");
    assert_string_equal(json_object_get_string(lookup(root, "net[0].vhost_mode")), "Server");
    assert_string_equal(json_object_get_string(lookup(root, "net[1].mac")), "12:34:56:78:9a:b1");
    assert_string_equal(json_object_get_string(lookup(root, "net[0].host_mac")), "fe:dc:ba:98:76:54");
    assert_string_equal(json_object_get_string(lookup(root, "net[0].ip")), "10.0.0.1");
    assert_string_equal(json_object_get_string(lookup(root, "net[0].mask")), "255.255.0.0");
    assert_int_equal(json_object_get_int(lookup(root, "cpus.topology.packages")), 4);
    assert_int_equal(json_object_get_int(lookup(root, "numa[1].distances[1].distance")), 11);
    assert_string_equal(json_object_get_string(lookup(root, "landlock_rules[1].access")), "rw");
    assert_int_equal(json_object_get_int(lookup(root, "debug_console.iobase")), 0x3f8);
    assert_true(json_object_get_boolean(lookup(root, "iommu")));
    assert_null(lookup(root, "preserved_fds"));

    /* CH's VmConfig order */
    static const char *const order[] = {"cpus",
                                        "memory",
                                        "payload",
                                        "rate_limit_groups",
                                        "disks",
                                        "net",
                                        "rng",
                                        "balloon",
                                        "fs",
                                        "pmem",
                                        "serial",
                                        "console",
                                        "debug_console",
                                        "devices",
                                        "user_devices",
                                        "vdpa",
                                        "vsock",
                                        "pvpanic",
                                        "iommu",
                                        "sgx_epc",
                                        "numa",
                                        "watchdog",
                                        "platform",
                                        "tpm",
                                        "landlock_enable",
                                        "landlock_rules"};
    size_t i = 0;
    json_object_object_foreach(root, key, val)
    {
        (void)val;
        assert_true(i < sizeof(order) / sizeof(order[0]));
        assert_string_equal(key, order[i]);
        i++;
    }
    assert_int_equal(i, sizeof(order) / sizeof(order[0]));

    json_object_put(root);
    free(s);
    vm_config_free(&c);
}

static void test_unknown_and_missing_fields(void **state)
{
    (void)state;
    expect_error("{\"foo\":1}", "foo: unknown field");
    expect_error("{\"cpus\":{\"boot_vcpus\":1,\"max_vcpus\":1,\"foo\":2}}", "cpus.foo: unknown field");
    expect_error("{\"disks\":[{},{\"pathh\":\"/x\"}]}", "disks[1].pathh: unknown field");
    expect_error(
        "{\"disks\":[{\"rate_limiter_config\":{\"bandwidth\":{\"size\":1,\"refill_time\":1,\"x\":1}}}]}",
        "disks[0].rate_limiter_config.bandwidth.x: unknown field");
    expect_error("{\"preserved_fds\":[3]}", "preserved_fds: unknown field");

    expect_error("{\"cpus\":{\"boot_vcpus\":1}}", "cpus.max_vcpus: missing field");
    expect_error("{\"cpus\":{\"max_vcpus\":1}}", "cpus.boot_vcpus: missing field");
    expect_error("{\"memory\":{}}", "memory.size: missing field");
    expect_error("{\"memory\":{\"size\":1,\"zones\":[{\"id\":\"z\"}]}}",
                 "memory.zones[0].size: missing field");
    expect_error("{\"memory\":{\"size\":1,\"zones\":[{\"size\":1}]}}", "memory.zones[0].id: missing field");
    expect_error("{\"rng\":{}}", "rng.src: missing field");
    expect_error("{\"balloon\":{}}", "balloon.size: missing field");
    expect_error("{\"fs\":[{\"tag\":\"t\"}]}", "fs[0].socket: missing field");
    expect_error("{\"fs\":[{\"socket\":\"/s\"}]}", "fs[0].tag: missing field");
    expect_error("{\"pmem\":[{}]}", "pmem[0].file: missing field");
    expect_error("{\"console\":{\"file\":\"/f\"}}", "console.mode: missing field");
    expect_error("{\"debug_console\":{}}", "debug_console.mode: missing field");
    expect_error("{\"devices\":[{}]}", "devices[0].path: missing field");
    expect_error("{\"user_devices\":[{}]}", "user_devices[0].socket: missing field");
    expect_error("{\"vdpa\":[{}]}", "vdpa[0].path: missing field");
    expect_error("{\"vsock\":{\"socket\":\"/s\"}}", "vsock.cid: missing field");
    expect_error("{\"vsock\":{\"cid\":3}}", "vsock.socket: missing field");
    expect_error("{\"sgx_epc\":[{\"size\":1}]}", "sgx_epc[0].id: missing field");
    expect_error("{\"rate_limit_groups\":[{\"rate_limiter_config\":{\"ops\":{\"size\":1}}}]}",
                 "rate_limit_groups[0].rate_limiter_config.ops.refill_time: missing field");
    expect_error("{\"net\":[{\"rate_limiter_config\":{\"bandwidth\":{\"refill_time\":1}}}]}",
                 "net[0].rate_limiter_config.bandwidth.size: missing field");
    expect_error("{\"tpm\":{}}", "tpm.socket: missing field");
    expect_error("{\"landlock_rules\":[{\"path\":\"/p\"}]}", "landlock_rules[0].access: missing field");
    expect_error("{\"landlock_rules\":[{\"access\":\"r\"}]}", "landlock_rules[0].path: missing field");
    expect_error("{\"cpus\":{\"boot_vcpus\":1,\"max_vcpus\":1,\"topology\":{\"threads_per_core\":1}}}",
                 "cpus.topology.cores_per_die: missing field");
    expect_error("{\"cpus\":{\"boot_vcpus\":1,\"max_vcpus\":1,\"affinity\":[{\"vcpu\":0}]}}",
                 "cpus.affinity[0].host_cpus: missing field");
}

static void test_wrong_types(void **state)
{
    (void)state;
    expect_error("{\"cpus\":{\"boot_vcpus\":\"1\",\"max_vcpus\":1}}",
                 "cpus.boot_vcpus: expected an integer in 0..255");
    expect_error("{\"memory\":{\"size\":1,\"thp\":1}}", "memory.thp: expected a boolean");
    expect_error("{\"disks\":{}}", "disks: expected an array");
    expect_error("{\"disks\":[1]}", "disks[0]: expected an object");
    expect_error("{\"cpus\":[]}", "cpus: expected an object");
    expect_error("{\"payload\":{\"kernel\":1}}", "payload.kernel: expected a string");
    expect_error("{\"platform\":{\"oem_strings\":[\"a\",2]}}", "platform.oem_strings[1]: expected a string");
    expect_error("{\"disks\":[{\"queue_size\":128.0}]}",
                 "disks[0].queue_size: expected an integer in 0..65535");
    expect_error("{\"disks\":[{\"queue_size\":1.5}]}", "disks[0].queue_size: expected an integer");
    expect_error("{\"disks\":[{\"queue_size\":1e2}]}", "disks[0].queue_size: expected an integer");
    expect_error("{\"memory\":{\"size\":true}}", "memory.size: expected an integer");
    expect_error("{\"net\":[{\"mac\":12}]}", "net[0].mac: expected a string");
    expect_error("{\"serial\":{\"mode\":0}}", "serial.mode: expected a string");
}

static void test_out_of_range(void **state)
{
    (void)state;
    expect_error("{\"disks\":[{\"queue_size\":65536}]}",
                 "disks[0].queue_size: expected an integer in 0..65535");
    expect_error("{\"disks\":[{},{\"queue_size\":-1}]}",
                 "disks[1].queue_size: expected an integer in 0..65535");
    expect_error("{\"cpus\":{\"boot_vcpus\":256,\"max_vcpus\":1}}",
                 "cpus.boot_vcpus: expected an integer in 0..255");
    expect_error("{\"cpus\":{\"boot_vcpus\":-1,\"max_vcpus\":1}}", "cpus.boot_vcpus");
    expect_error("{\"vsock\":{\"cid\":4294967296,\"socket\":\"/s\"}}",
                 "vsock.cid: expected an integer in 0..4294967295");
    expect_error("{\"memory\":{\"size\":-5}}", "memory.size: expected an integer in 0..18446744073709551615");
    /* json-c would saturate these to UINT64_MAX / INT64_MIN */
    expect_error("{\"memory\":{\"size\":18446744073709551616}}", "memory.size: integer too large");
    expect_error("{\"memory\":{\"size\":99999999999999999999999}}", "memory.size: integer too large");
    expect_error("{\"net\":[{\"fds\":[3,2147483648]}]}",
                 "net[0].fds[1]: expected an integer in -2147483648..2147483647");
    expect_error("{\"net\":[{\"fds\":[-99999999999999999999]}]}", "net[0].fds[0]: expected an integer");
    expect_error("{\"platform\":{\"iommu_segments\":[65536]}}",
                 "platform.iommu_segments[0]: expected an integer");
    expect_error("{\"numa\":[{\"cpus\":[256]}]}", "numa[0].cpus[0]: expected an integer in 0..255");
    expect_error("{\"debug_console\":{\"mode\":\"Off\",\"iobase\":65536}}", "debug_console.iobase");

    /* the boundaries themselves are fine */
    VmConfig c;
    ConfigError err = {0};
    assert_int_equal(from_json("{\"memory\":{\"size\":18446744073709551615},"
                               "\"disks\":[{\"queue_size\":65535,\"num_queues\":0}],"
                               "\"net\":[{\"fds\":[-2147483648,2147483647]}]}",
                               &c, &err),
                     0);
    assert_int_equal(c.memory.size, UINT64_MAX);
    assert_int_equal(c.disks[0].queue_size, 65535);
    assert_int_equal(c.net[0].fds[0], INT32_MIN);
    vm_config_free(&c);
}

static void test_bad_strings(void **state)
{
    (void)state;
    expect_error("{\"net\":[{\"mac\":\"12:34:56:78:9a\"}]}", "net[0].mac: invalid MAC address");
    expect_error("{\"net\":[{},{\"host_mac\":\"zz:34:56:78:9a:bc\"}]}",
                 "net[1].host_mac: invalid MAC address");
    expect_error("{\"net\":[{\"ip\":\"192.168.1\"}]}", "net[0].ip: invalid IPv4 address");
    expect_error("{\"net\":[{\"mask\":\"255.255.255.256\"}]}", "net[0].mask: invalid IPv4 address");
    expect_error("{\"console\":{\"mode\":\"tty\"}}", "console.mode: unknown variant \"tty\"");
    expect_error("{\"memory\":{\"size\":1,\"hotplug_method\":\"acpi\"}}",
                 "memory.hotplug_method: unknown variant");
    expect_error("{\"net\":[{\"vhost_mode\":\"Both\"}]}", "net[0].vhost_mode: unknown variant");
    expect_error("{\"payload\":{\"kernel\":\"/k\\u0000/evil\"}}",
                 "payload.kernel: string contains a NUL character");
    expect_error("{\"cpus\\u0000x\":{}}", "NUL");
}

static void test_malformed_documents(void **state)
{
    (void)state;
    expect_error("", "unexpected end of input");
    expect_error("   ", "unexpected end of input");
    expect_error("{\"cpus\":", "unexpected end of input");
    expect_error("{\"a\":1,}", "malformed JSON");
    expect_error("{\"payload\":{}} x", "malformed JSON");
    expect_error("{}{}", "malformed JSON");
    expect_error_len("{}\0", 3, "trailing data");
    expect_error("[]", "must be an object");
    expect_error("[{\"payload\":{}}]", "must be an object");
    expect_error("\"x\"", "must be an object");
    expect_error("null", "must be an object");
    expect_error("{'payload':{}}", "single-quoted");
    expect_error("{\"memory\":{\"size\":NaN}}", "NaN");
    expect_error("{\"memory\":{\"size\":-Infinity}}", "invalid number");
    expect_error("{\"memory\":{\"size\":1.}}", "invalid number");
    expect_error("{\"memory\":{\"size\":01}}", "malformed JSON");
    expect_error("/* c */{}", "malformed JSON");
    expect_error("{\"payload\":{\"cmdline\":\"a\tb\"}}", "control character");
    expect_error("{\"payload\":{\"cmdline\":\"\\ud800\"}}", "lone UTF-16 surrogate");
    expect_error("{\"payload\":{\"cmdline\":\"\\udc00\\ud800\"}}", "lone UTF-16 surrogate");
    expect_error("{\"payload\":{\"cmdline\":\"x\xff\"}}", "invalid utf-8");
    expect_error("{\"payload\":{\"cmdline\":\"\xc3\x28\"}}", "invalid utf-8");
    /* json-c's UTF-8 check lets these through; serde (Rust strings) does not */
    expect_error("{\"payload\":{\"cmdline\":\"\xed\xa0\x80\"}}", "invalid UTF-8 in a string at offset 23");
    expect_error("{\"payload\":{\"cmdline\":\"\xc0\x80\"}}", "invalid UTF-8");
    expect_error("{\"payload\":{\"cmdline\":\"\xe0\x80\xaf\"}}", "invalid UTF-8");
    expect_error("{\"payload\":{\"cmdline\":\"\xf4\x90\x80\x80\"}}", "invalid UTF-8");

    /* a surrogate pair is fine */
    VmConfig c;
    ConfigError err = {0};
    assert_int_equal(from_json("{\"payload\":{\"cmdline\":\"\\ud83d\\ude00 \xc3\xa9\"}}", &c, &err), 0);
    assert_string_equal(c.payload.cmdline, "\xf0\x9f\x98\x80 \xc3\xa9");
    vm_config_free(&c);

    assert_int_equal(vm_config_from_json(NULL, 0, &c, &err), -EINVAL);
    assert_int_equal(err.code, CONFIG_ERR_JSON);
}

static void test_duplicate_keys(void **state)
{
    (void)state;
    /* serde refuses duplicate fields; json-c would silently keep the last */
    expect_error("{\"payload\":{},\"payload\":{\"kernel\":\"/k\"}}", "(top level): duplicate field");
    expect_error("{\"disks\":[{},{\"path\":\"/a\",\"path\":\"/b\"}]}", "disks[1]: duplicate field");
    expect_error("{\"memory\":{\"size\":1,\"zones\":[{\"id\":\"a\",\"size\":1,\"id\":\"b\"}]}}",
                 "memory.zones[0]: duplicate field");
    expect_error("{\"cpus\":{\"boot_vcpus\":1,\"max_vcpus\":1,\"boot_vcpus\":2}}", "cpus: duplicate field");
    /* a duplicate whose first value held objects of its own */
    expect_error("{\"a\":{\"b\":{\"c\":1}},\"a\":2}", "duplicate field");
    /* same key in different objects is fine */
    VmConfig c;
    ConfigError err = {0};
    assert_int_equal(
        from_json("{\"disks\":[{\"id\":\"a\"},{\"id\":\"b\"}],\"net\":[{\"id\":\"c\"}]}", &c, &err), 0);
    vm_config_free(&c);
}

static void test_deep_nesting(void **state)
{
    (void)state;
    size_t depth = 1000;
    char *doc = malloc(2 * depth + 16);
    assert_non_null(doc);
    size_t n = 0;
    n += (size_t)sprintf(doc, "{\"x\":");
    for (size_t i = 0; i < depth; i++)
        doc[n++] = '[';
    for (size_t i = 0; i < depth; i++)
        doc[n++] = ']';
    doc[n++] = '}';
    expect_error_len(doc, n, "nesting too deep");
    free(doc);
}

static void test_too_large(void **state)
{
    (void)state;
    /* a valid document, just longer than CONFIG_MAX_INPUT */
    size_t len = CONFIG_MAX_INPUT + 64;
    char *doc = malloc(len + 1);
    assert_non_null(doc);
    memset(doc, ' ', len);
    memcpy(doc, "{\"payload\":{\"kernel\":\"/k\"}}", 27);
    doc[len] = '\0';
    expect_error_len(doc, len, "too large");

    /* and just at the limit it is read */
    VmConfig c;
    ConfigError err = {0};
    assert_int_equal(vm_config_from_json(doc, CONFIG_MAX_INPUT, &c, &err), 0);
    assert_string_equal(c.payload.kernel, "/k");
    vm_config_free(&c);
    free(doc);
}

/* An error after lists and strings were allocated must not leak (LSan). */
static void test_error_after_allocations(void **state)
{
    (void)state;
    expect_error("{\"payload\":{\"kernel\":\"/k\"},\"disks\":[{\"path\":\"/a\"},{\"path\":\"/b\"}],"
                 "\"platform\":{\"oem_strings\":[\"x\",\"y\"]},\"rng\":{\"src\":\"/r\"},"
                 "\"numa\":[{\"memory_zones\":[\"a\"],\"cpus\":[1,2]}],"
                 "\"landlock_rules\":[{\"path\":\"/p\",\"access\":\"r\",\"bad\":1}]}",
                 "landlock_rules[0].bad: unknown field");
    expect_error("{\"numa\":[{\"memory_zones\":[\"a\",\"b\",3]}]}", "numa[0].memory_zones[2]");
}

/* The reader keeps the messages short and printable whatever the keys are. */
static void test_hostile_key_in_message(void **state)
{
    (void)state;
    char doc[600];
    char key[400];
    memset(key, 'k', sizeof(key) - 1);
    key[sizeof(key) - 1] = '\0';
    snprintf(doc, sizeof(doc), "{\"%s\":1}", key);
    expect_error(doc, "unknown field");
    expect_error("{\"\xc3\xa9\\n\":1}", "???: unknown field");
    VmConfig c;
    ConfigError err = {0};
    assert_int_equal(from_json("{\"\xc3\xa9\\n\":1}", &c, &err), -EINVAL);
    for (const char *p = err.message; *p; p++)
        assert_true(*p >= 0x20 && *p < 0x7f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_full),
        cmocka_unit_test(test_round_trip_defaults),
        cmocka_unit_test(test_minimal_document_defaults),
        cmocka_unit_test(test_minimal_items_defaults),
        cmocka_unit_test(test_null_and_empty),
        cmocka_unit_test(test_ch_field_names),
        cmocka_unit_test(test_unknown_and_missing_fields),
        cmocka_unit_test(test_wrong_types),
        cmocka_unit_test(test_out_of_range),
        cmocka_unit_test(test_bad_strings),
        cmocka_unit_test(test_malformed_documents),
        cmocka_unit_test(test_duplicate_keys),
        cmocka_unit_test(test_deep_nesting),
        cmocka_unit_test(test_too_large),
        cmocka_unit_test(test_error_after_allocations),
        cmocka_unit_test(test_hostile_key_in_message),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
