/* SPDX-License-Identifier: Apache-2.0 */
/* The `vmm` command line (see cli.h). */
#include "cli.h"

#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "option_parser.h"

typedef enum ArgKind {
    ARG_SINGLE, /* exactly one value; a second occurrence is an error */
    ARG_MULTI,  /* one or more values per occurrence, occurrences append */
    ARG_FLAG,   /* no value */
} ArgKind;

typedef struct CliOption {
    const char *name; /* long name without "--" */
    char short_name;  /* 0 when none */
    ArgKind kind;
    bool vm; /* a VM option (conflicts with --config) */
    /* ARG_SINGLE: offset of a const char * in VmmCli; ARG_FLAG: of a bool;
     * ARG_MULTI: index into VmmCli.lists. */
    size_t slot;
    const char *value_name;
    const char *help;
} CliOption;

/* clang-format off */
#define SINGLE(n, field, vm_, value, text) {n, 0, ARG_SINGLE, vm_, offsetof(VmmCli, field), value, text}
#define MULTI(n, list, value, text) {n, 0, ARG_MULTI, true, list, value, text}
#define FLAG(n, s, field, vm_, text) {n, s, ARG_FLAG, vm_, offsetof(VmmCli, field), NULL, text}
/* clang-format on */

/* Alphabetical, like Cloud Hypervisor's --help. */
static const CliOption options[] = {
    SINGLE("api-socket", api_socket, false, "api-socket",
           "HTTP API socket (UNIX domain socket): path=<path> or fd=<fd>."),
    SINGLE("balloon", vm.balloon, true, "balloon",
           "Balloon parameters \"size=<balloon_size>,deflate_on_oom=on|off,free_page_reporting=on|off\""),
    SINGLE("cmdline", vm.cmdline, true, "cmdline", "Kernel command line"),
    SINGLE("config", config_file, false, "file",
           "Read the VM configuration from a JSON file (Cloud Hypervisor's VmConfig); excludes VM options"),
    SINGLE("console", vm.console, true, "console",
           "Control (virtio) console: \"off|null|pty|tty|file=</path/to/a/file>|socket=</path/to/a/socket>,"
           "iommu=on|off\" [default: tty]"),
    SINGLE("cpus", vm.cpus, true, "cpus",
           "boot=<boot_vcpus>,max=<max_vcpus>,"
           "topology=<threads_per_core>:<cores_per_die>:<dies_per_package>:<packages>,"
           "kvm_hyperv=on|off,max_phys_bits=<maximum_number_of_physical_bits>,"
           "affinity=<list_of_vcpus_with_their_associated_cpuset>,features=<list_of_features_to_enable> "
           "[default: boot=1,max_phys_bits=46]"),
    SINGLE("debug-console", vm.debug_console, true, "debug-console",
           "Debug console: off|pty|tty|file=<path>,iobase=<port in hex> [default: off,iobase=0xe9]"),
    MULTI("device", VMM_CLI_LIST_DEVICE, "device",
          "Direct device assignment parameters "
          "\"path=<device_path>,iommu=on|off,id=<device_id>,pci_segment=<segment_id>\""),
    MULTI("disk", VMM_CLI_LIST_DISK, "disk",
          "Disk parameters \"path=<disk_image_path>,readonly=on|off,direct=on|off,iommu=on|off,"
          "num_queues=<number_of_queues>,queue_size=<size_of_each_queue>,vhost_user=on|off,"
          "socket=<vhost_user_socket_path>,bw_size=<bytes>,bw_one_time_burst=<bytes>,bw_refill_time=<ms>,"
          "ops_size=<io_ops>,ops_one_time_burst=<io_ops>,ops_refill_time=<ms>,id=<device_id>,"
          "pci_segment=<segment_id>,rate_limit_group=<group_id>,serial=<serial_number>\""),
    SINGLE("event-monitor", event_monitor, false, "event-monitor",
           "Path to report events on: path=<path> or fd=<fd>"),
    SINGLE("firmware", vm.firmware, true, "firmware",
           "Path to firmware that is loaded in an architectural specific way"),
    MULTI("fs", VMM_CLI_LIST_FS, "fs",
          "virtio-fs parameters \"tag=<tag_name>,socket=<socket_path>,num_queues=<number_of_queues>,"
          "queue_size=<size_of_each_queue>,id=<device_id>,pci_segment=<segment_id>\""),
    FLAG("help", 'h', help, false, "Print help"),
    SINGLE("initramfs", vm.initramfs, true, "initramfs", "Path to initramfs image"),
    SINGLE("kernel", vm.kernel, true, "kernel",
           "Path to kernel to load. This may be a kernel or firmware that supports a PVH entry point "
           "(e.g. vmlinux) or architecture equivalent"),
    SINGLE("kvm-fd", kvm_fd_arg, false, "fd",
           "Use this inherited descriptor of /dev/kvm instead of opening it (ours, not Cloud Hypervisor's)"),
    FLAG("landlock", 0, vm.landlock_enable, true, "enable/disable Landlock."),
    MULTI("landlock-rules", VMM_CLI_LIST_LANDLOCK_RULES, "landlock-rules",
          "Landlock parameters \"path=<path/to/{file/dir}>,access=[rw]\""),
    SINGLE("log-file", log_file, false, "log-file", "Log file. Standard error is used if not specified"),
    SINGLE("memory", vm.memory, true, "memory",
           "Memory parameters \"size=<guest_memory_size>,mergeable=on|off,shared=on|off,hugepages=on|off,"
           "hugepage_size=<hugepage_size>,hotplug_method=acpi|virtio-mem,"
           "hotplug_size=<hotpluggable_memory_size>,hotplugged_size=<hotplugged_memory_size>,"
           "prefault=on|off,thp=on|off\" [default: size=512M]"),
    MULTI("memory-zone", VMM_CLI_LIST_MEMORY_ZONE, "memory-zone",
          "User defined memory zone parameters \"size=<guest_memory_region_size>,file=<backing_file>,"
          "shared=on|off,hugepages=on|off,hugepage_size=<hugepage_size>,host_numa_node=<node_id>,"
          "id=<zone_identifier>,hotplug_size=<hotpluggable_memory_size>,"
          "hotplugged_size=<hotplugged_memory_size>,prefault=on|off\""),
    MULTI("net", VMM_CLI_LIST_NET, "net",
          "Network parameters \"tap=<if_name>,ip=<ip_addr>,mask=<net_mask>,mac=<mac_addr>,"
          "fd=<fd1,fd2...>,iommu=on|off,num_queues=<number_of_queues>,queue_size=<size_of_each_queue>,"
          "id=<device_id>,vhost_user=<vhost_user_enable>,socket=<vhost_user_socket_path>,"
          "vhost_mode=client|server,bw_size=<bytes>,bw_one_time_burst=<bytes>,bw_refill_time=<ms>,"
          "ops_size=<io_ops>,ops_one_time_burst=<io_ops>,ops_refill_time=<ms>,pci_segment=<segment_id>,"
          "offload_tso=on|off,offload_ufo=on|off,offload_csum=on|off\""),
    MULTI("numa", VMM_CLI_LIST_NUMA, "numa",
          "Settings related to a given NUMA node \"guest_numa_id=<node_id>,cpus=<cpus_id>,"
          "distances=<list_of_distances_to_destination_nodes>,memory_zones=<list_of_memory_zones>,"
          "sgx_epc_sections=<list_of_sgx_epc_sections>,pci_segments=<list_of_pci_segments>\""),
    SINGLE("platform", vm.platform, true, "platform",
           "Platform parameters \"num_pci_segments=<num_pci_segments>,iommu_segments=<list_of_segments>,"
           "serial_number=<dmi_device_serial_number>,uuid=<dmi_device_uuid>,"
           "oem_strings=<list_of_strings>\""),
    MULTI("pmem", VMM_CLI_LIST_PMEM, "pmem",
          "Persistent memory parameters \"file=<backing_file_path>,size=<persistent_memory_size>,"
          "iommu=on|off,discard_writes=on|off,id=<device_id>,pci_segment=<segment_id>\""),
    FLAG("print-config", 0, print_config, false,
         "Print the VM configuration as JSON (Cloud Hypervisor's format) and exit"),
    FLAG("pvpanic", 0, vm.pvpanic, true, "Enable pvpanic device"),
    MULTI("rate-limit-group", VMM_CLI_LIST_RATE_LIMIT_GROUP, "rate-limit-group",
          "Rate Limit Group parameters \"bw_size=<bytes>,bw_one_time_burst=<bytes>,bw_refill_time=<ms>,"
          "ops_size=<io_ops>,ops_one_time_burst=<io_ops>,ops_refill_time=<ms>,id=<device_id>\""),
    SINGLE("restore", restore, false, "restore",
           "Restore from a VM snapshot. Restore parameters \"source_url=<source_url>,prefault=on|off\""),
    SINGLE("rng", vm.rng, true, "rng",
           "Random number generator parameters \"src=<entropy_source_path>,iommu=on|off\" "
           "[default: src=/dev/urandom]"),
    SINGLE("seccomp", seccomp_arg, false, "seccomp", "[default: true] [possible values: true, false, log]"),
    SINGLE("serial", vm.serial, true, "serial",
           "Control serial port: off|null|pty|tty|file=</path/to/a/file>|socket=</path/to/a/socket> "
           "[default: null]"),
    MULTI("sgx-epc", VMM_CLI_LIST_SGX_EPC, "sgx-epc",
          "SGX EPC parameters \"id=<epc_section_identifier>,size=<epc_section_size>,prefault=on|off\""),
    SINGLE("tpm", vm.tpm, true, "tpm",
           "TPM device \"(UNIX Domain Socket from swtpm) socket=</path/to/a/socket>\""),
    MULTI("user-device", VMM_CLI_LIST_USER_DEVICE, "user-device",
          "Userspace device socket=<socket_path>,id=<device_id>,pci_segment=<segment_id>"),
    MULTI("vdpa", VMM_CLI_LIST_VDPA, "vdpa",
          "vDPA device \"path=<device_path>,num_queues=<number_of_queues>,iommu=on|off,id=<device_id>,"
          "pci_segment=<segment_id>\""),
    FLAG("version", 'V', version, false, "Print version"),
    SINGLE("vsock", vm.vsock, true, "vsock",
           "Virtio VSOCK parameters \"cid=<context_id>,socket=<socket_path>,iommu=on|off,id=<device_id>,"
           "pci_segment=<segment_id>\""),
    FLAG("watchdog", 0, vm.watchdog, true, "Enable virtio-watchdog"),
};

#define N_OPTIONS (sizeof(options) / sizeof(options[0]))

static const CliOption *find_long(const char *name, size_t len)
{
    for (size_t i = 0; i < N_OPTIONS; i++)
        if (strlen(options[i].name) == len && strncmp(options[i].name, name, len) == 0)
            return &options[i];
    return NULL;
}

static const CliOption *find_short(char c)
{
    for (size_t i = 0; i < N_OPTIONS; i++)
        if (options[i].short_name == c)
            return &options[i];
    return NULL;
}

/* Like clap: an argument starting with '-' (other than "-" alone) is never
 * taken as a value, it starts the next option. */
static bool looks_like_option(const char *arg)
{
    return arg[0] == '-' && arg[1] != '\0';
}

static int list_push(VmmCliList *l, const char *value, ConfigError *err)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 4;
        const char **items = realloc(l->items, cap * sizeof(*items));
        if (!items)
            return config_error_set(err, CONFIG_ERR_NO_MEMORY, "out of memory");
        l->items = items;
        l->cap = cap;
    }
    l->items[l->n++] = value;
    return 0;
}

static int store(VmmCli *cli, const CliOption *o, const char *spelled, const char *attached, int argc,
                 char *const argv[], int *i, ConfigError *err)
{
    if (o->vm)
        cli->vm_options_given = true;

    switch (o->kind) {
    case ARG_FLAG: {
        bool *flag = (bool *)((char *)cli + o->slot);
        if (attached)
            return config_error_set(err, CONFIG_ERR_ARGS,
                                    "unexpected value '%.200s' for '%s' found; no more were expected",
                                    attached, spelled);
        if (*flag)
            return config_error_set(err, CONFIG_ERR_ARGS, "the argument '%s' cannot be used multiple times",
                                    spelled);
        *flag = true;
        return 0;
    }
    case ARG_SINGLE: {
        const char **value = (const char **)((char *)cli + o->slot);
        if (*value)
            return config_error_set(err, CONFIG_ERR_ARGS, "the argument '%s' cannot be used multiple times",
                                    spelled);
        if (attached) {
            *value = attached;
        } else if (*i + 1 < argc && !looks_like_option(argv[*i + 1])) {
            *value = argv[++*i];
        } else {
            return config_error_set(err, CONFIG_ERR_ARGS,
                                    "a value is required for '%s' but none was supplied", spelled);
        }
        return 0;
    }
    case ARG_MULTI: {
        VmmCliList *l = &cli->lists[o->slot];
        /* "--disk=a" carries its one value; "--disk a b" takes all that follow. */
        if (attached)
            return list_push(l, attached, err);
        if (*i + 1 >= argc || looks_like_option(argv[*i + 1]))
            return config_error_set(err, CONFIG_ERR_ARGS,
                                    "a value is required for '%s' but none was supplied", spelled);
        while (*i + 1 < argc && !looks_like_option(argv[*i + 1])) {
            int r = list_push(l, argv[++*i], err);
            if (r < 0)
                return r;
        }
        return 0;
    }
    }
    return config_error_set(err, CONFIG_ERR_ARGS, "internal error on '%s'", spelled);
}

/* ------------------------------------------------------ process options */

static int parse_fd(const char *s, int *fd)
{
    uint64_t v;
    if (parse_uint_strict(s, INT_MAX, &v) < 0)
        return -EINVAL;
    *fd = (int)v;
    return 0;
}

static int dup_into(char **dst, const char *s, ConfigError *err)
{
    *dst = strdup(s);
    return *dst ? 0 : config_error_set(err, CONFIG_ERR_NO_MEMORY, "out of memory");
}

/* Cloud Hypervisor ignores syntax errors here so that any string that is not
 * "fd=N" or "path=P" is taken whole as the socket path. */
static int parse_api_socket(VmmCli *cli, ConfigError *err)
{
    static const char *const keys[] = {"path", "fd", NULL};
    OptionParser p;
    ConfigError ignored;
    int r = 0;

    option_parser_init(&p, keys);
    (void)option_parser_parse(&p, cli->api_socket, &ignored);
    const char *fd = option_parser_get(&p, "fd");
    const char *path = option_parser_get(&p, "path");
    if (fd) {
        if (parse_fd(fd, &cli->api_socket_fd) < 0)
            r = config_error_set(err, CONFIG_ERR_PARSE,
                                 "Error parsing --api-socket: unable to convert %.200s for fd", fd);
    } else {
        r = dup_into(&cli->api_socket_path, path ? path : cli->api_socket, err);
    }
    option_parser_free(&p);
    return r;
}

static int parse_event_monitor(VmmCli *cli, ConfigError *err)
{
    static const char *const keys[] = {"path", "fd", NULL};
    OptionParser p;
    int r;

    option_parser_init(&p, keys);
    r = option_parser_parse(&p, cli->event_monitor, err);
    if (r < 0) {
        config_error_prefix(err, "Error parsing --event-monitor: ");
    } else if (option_parser_get(&p, "fd")) {
        const char *fd = option_parser_get(&p, "fd");
        if (parse_fd(fd, &cli->event_monitor_fd) < 0)
            r = config_error_set(err, CONFIG_ERR_PARSE,
                                 "Error parsing --event-monitor: unable to convert %.200s for fd", fd);
    } else if (option_parser_get(&p, "path")) {
        r = dup_into(&cli->event_monitor_path, option_parser_get(&p, "path"), err);
    } else {
        r = config_error_set(err, CONFIG_ERR_MISSING_FIELD,
                             "Error parsing --event-monitor: path or fd required");
    }
    option_parser_free(&p);
    return r;
}

static int parse_restore(VmmCli *cli, ConfigError *err)
{
    static const char *const keys[] = {"source_url", "prefault", NULL};
    OptionParser p;
    int r;

    option_parser_init(&p, keys);
    r = option_parser_parse(&p, cli->restore, err);
    if (r < 0)
        goto prefix;
    if (!option_parser_get(&p, "source_url")) {
        r = config_error_set(err, CONFIG_ERR_MISSING_FIELD, "Error parsing --restore: source_url missing");
        goto out;
    }
    r = option_parser_get_toggle(&p, "prefault", &cli->restore_prefault, err);
    if (r < 0)
        goto prefix;
    r = dup_into(&cli->restore_source_url, option_parser_get(&p, "source_url"), err);
    if (r == 0)
        cli->has_restore = true;
    goto out;
prefix:
    config_error_prefix(err, "Error parsing --restore: ");
out:
    option_parser_free(&p);
    return r < 0 ? r : 0;
}

static int parse_seccomp(VmmCli *cli, ConfigError *err)
{
    static const char *const values[] = {
        [VMM_SECCOMP_TRUE] = "true", [VMM_SECCOMP_FALSE] = "false", [VMM_SECCOMP_LOG] = "log"};
    for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
        if (strcmp(cli->seccomp_arg, values[i]) == 0) {
            cli->seccomp = (VmmSeccomp)i;
            return 0;
        }
    }
    return config_error_set(err, CONFIG_ERR_ARGS,
                            "invalid value '%.200s' for '--seccomp': possible values are true, false, log",
                            cli->seccomp_arg);
}

/* --------------------------------------------------------------- parse */

static void publish_lists(VmmCli *cli)
{
    VmParams *vm = &cli->vm;
    VmmCliList *l = cli->lists;
#define PUBLISH(idx, field)                                                                                  \
    do {                                                                                                     \
        vm->field = l[idx].items;                                                                            \
        vm->n_##field = l[idx].n;                                                                            \
    } while (0)
    PUBLISH(VMM_CLI_LIST_MEMORY_ZONE, memory_zones);
    PUBLISH(VMM_CLI_LIST_RATE_LIMIT_GROUP, rate_limit_groups);
    PUBLISH(VMM_CLI_LIST_DISK, disks);
    PUBLISH(VMM_CLI_LIST_NET, net);
    PUBLISH(VMM_CLI_LIST_FS, fs);
    PUBLISH(VMM_CLI_LIST_PMEM, pmem);
    PUBLISH(VMM_CLI_LIST_DEVICE, devices);
    PUBLISH(VMM_CLI_LIST_USER_DEVICE, user_devices);
    PUBLISH(VMM_CLI_LIST_VDPA, vdpa);
    PUBLISH(VMM_CLI_LIST_NUMA, numa);
    PUBLISH(VMM_CLI_LIST_LANDLOCK_RULES, landlock_rules);
    PUBLISH(VMM_CLI_LIST_SGX_EPC, sgx_epc);
#undef PUBLISH
}

static bool is_verbosity(const char *arg)
{
    if (arg[0] != '-' || arg[1] != 'v')
        return false;
    for (const char *c = arg + 1; *c; c++)
        if (*c != 'v')
            return false;
    return true;
}

int vmm_cli_parse(int argc, char *const argv[], VmmCli *cli, ConfigError *err)
{
    int r = 0;

    memset(cli, 0, sizeof(*cli));
    cli->api_socket_fd = -1;
    cli->event_monitor_fd = -1;
    cli->kvm_fd = -1;
    cli->seccomp = VMM_SECCOMP_TRUE;

    for (int i = 1; i < argc && argv[i]; i++) {
        const char *arg = argv[i];
        const CliOption *o = NULL;
        const char *attached = NULL;
        char spelled[64];

        if (is_verbosity(arg)) {
            cli->verbosity += (unsigned)strlen(arg) - 1;
            continue;
        }
        if (arg[0] == '-' && arg[1] != '-' && arg[1] != '\0' && arg[2] == '\0') {
            o = find_short(arg[1]);
            snprintf(spelled, sizeof(spelled), "-%c", arg[1]);
        } else if (arg[0] == '-' && arg[1] == '-' && arg[2] != '\0') {
            const char *name = arg + 2;
            const char *eq = strchr(name, '=');
            size_t len = eq ? (size_t)(eq - name) : strlen(name);
            o = find_long(name, len);
            attached = eq ? eq + 1 : NULL;
            snprintf(spelled, sizeof(spelled), "--%.*s", (int)(len < 60 ? len : 60), name);
        }
        if (!o)
            return config_error_set(err, CONFIG_ERR_ARGS, "unexpected argument '%.200s' found", arg);

        /* Like clap's built-in help: answer at once, whatever follows. */
        if (o->slot == offsetof(VmmCli, help) && o->kind == ARG_FLAG && !attached) {
            cli->help = true;
            return 0;
        }
        r = store(cli, o, spelled, attached, argc, argv, &i, err);
        if (r < 0)
            return r;
    }
    publish_lists(cli);

    if (cli->seccomp_arg && (r = parse_seccomp(cli, err)) < 0)
        return r;
    if (cli->api_socket && (r = parse_api_socket(cli, err)) < 0)
        return r;
    if (cli->event_monitor && (r = parse_event_monitor(cli, err)) < 0)
        return r;
    if (cli->restore && (r = parse_restore(cli, err)) < 0)
        return r;
    if (cli->kvm_fd_arg && parse_fd(cli->kvm_fd_arg, &cli->kvm_fd) < 0)
        return config_error_set(err, CONFIG_ERR_ARGS,
                                "invalid value '%.200s' for '--kvm-fd': not a descriptor", cli->kvm_fd_arg);
    return 0;
}

void vmm_cli_free(VmmCli *cli)
{
    for (size_t i = 0; i < VMM_CLI_N_LISTS; i++)
        free(cli->lists[i].items);
    free(cli->api_socket_path);
    free(cli->event_monitor_path);
    free(cli->restore_source_url);
    memset(cli, 0, sizeof(*cli));
    cli->api_socket_fd = -1;
    cli->event_monitor_fd = -1;
    cli->kvm_fd = -1;
}

void vmm_cli_print_help(FILE *out)
{
    fprintf(out, "Launch a KVM virtual machine, configured like Cloud Hypervisor.\n\n"
                 "Usage: vmm [OPTIONS]\n\nOptions:\n");
    fprintf(out, "  -v\n          Sets the level of debugging output (repeat for more)\n");
    for (size_t i = 0; i < N_OPTIONS; i++) {
        const CliOption *o = &options[i];
        if (o->short_name)
            fprintf(out, "  -%c, --%s", o->short_name, o->name);
        else
            fprintf(out, "      --%s", o->name);
        if (o->kind == ARG_SINGLE)
            fprintf(out, " <%s>", o->value_name);
        else if (o->kind == ARG_MULTI)
            fprintf(out, " <%s>...", o->value_name);
        fprintf(out, "\n          %s\n", o->help);
    }
}
