/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vmmctl: the command line for vmmd (org.vmm.Manager). docs/service.md.
 *
 * Exit codes: 0 done; 1 the service refused or failed (message on stderr);
 * 2 usage error; 3 no such VM; 4 the VM is in the wrong state for that;
 * 5 the service cannot be reached.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <termios.h>
#include <time.h>

#include "bus_errors.h"
#include "config.h"
#include "manager.h"
#include "util.h"

enum { EXIT_FAILED = 1, EXIT_USAGE = 2, EXIT_NOT_FOUND = 3, EXIT_STATE = 4, EXIT_NO_SERVICE = 5 };

static bool arg_json;
static bool arg_user;

static void help(void)
{
    printf("Usage: vmmctl [--user] [--json] COMMAND [ARGS]\n\n"
           "Manage the VMs of vmmd (org.vmm.Manager).\n\n"
           "Commands:\n"
           "  create NAME --config FILE     define a VM from its JSON configuration\n"
           "  create NAME -- OPTIONS...     define a VM from vmm options (--kernel, --cpus, ...)\n"
           "  list                          the VMs and their states\n"
           "  info NAME                     properties and the VMM's view, as JSON with --json\n"
           "  start|shutdown|poweroff|reboot|pause|resume NAME\n"
           "  delete NAME                   remove a stopped VM's definition\n"
           "  events [NAME]                 follow events (all VMs, or one) until interrupted\n"
           "  counters NAME                 the VMM's counters (JSON)\n"
           "  console NAME                  attach to the serial console; Ctrl-] leaves\n"
           "  balloon NAME SIZE             set the balloon's target (bytes, or with K/M/G suffix)\n"
           "  vcpus NAME COUNT              add vCPUs up to its --cpus max, or ask the guest to eject some\n"
           "  memory NAME SIZE              plug RAM up to a new total (--memory hotplug_size)\n"
           "  snapshot NAME DIR             write the paused VM's state into DIR, <state-dir>/snapshots/NAME/X\n"
           "  restore NAME DIR              start the stopped VM from its snapshot in DIR (paused)\n"
           "  add-disk NAME DISK            hot-plug a disk: --disk syntax (path=IMG,readonly=on,...)\n"
           "                                or a DiskConfig JSON object; prints its id\n"
           "  add-net NAME NET              hot-plug a net: --net syntax (tap=NAME,...) or JSON\n"
           "  remove-device NAME ID         ask the guest to eject a disk, net or vsock\n\n"
           "Options:\n"
           "  --user    the session bus instead of the system bus\n"
           "  --json    machine-readable output\n\n"
           "Exit codes: 0 ok, 1 failed, 2 usage, 3 no such VM, 4 wrong state, 5 service unreachable.\n");
}

static int exit_code_for(const sd_bus_error *e)
{
    if (sd_bus_error_has_name(e, VMM_ERROR_NOT_FOUND) ||
        sd_bus_error_has_name(e, SD_BUS_ERROR_UNKNOWN_OBJECT))
        return EXIT_NOT_FOUND;
    if (sd_bus_error_has_name(e, VMM_ERROR_INVALID_STATE))
        return EXIT_STATE;
    if (sd_bus_error_has_name(e, SD_BUS_ERROR_SERVICE_UNKNOWN) ||
        sd_bus_error_has_name(e, SD_BUS_ERROR_NAME_HAS_NO_OWNER) ||
        sd_bus_error_has_name(e, SD_BUS_ERROR_NO_REPLY))
        return EXIT_NO_SERVICE;
    return EXIT_FAILED;
}

static int report(const char *what, const sd_bus_error *e, int r)
{
    fprintf(stderr, "vmmctl: %s: %s\n", what, e && e->message ? e->message : strerror(-r));
    return e && e->name ? exit_code_for(e) : EXIT_FAILED;
}

static int vm_path(sd_bus *bus, const char *name, char **ret)
{
    _cleanup_bus_error_ sd_bus_error e = SD_BUS_ERROR_NULL;
    _cleanup_bus_msg_ sd_bus_message *reply = NULL;
    const char *path;
    int r = sd_bus_call_method(bus, VMM_BUS_NAME, VMM_MANAGER_PATH, VMM_MANAGER_INTERFACE, "GetVM", &e,
                               &reply, "s", name);
    if (r < 0)
        return -report(name, &e, r);
    r = sd_bus_message_read(reply, "o", &path);
    if (r < 0 || !(*ret = strdup(path)))
        return -report("GetVM", NULL, r < 0 ? r : -ENOMEM);
    return 0;
}

static char *read_file_or_stdin(const char *path)
{
    char *data = NULL;
    if (strcmp(path, "-") == 0) {
        size_t cap = 0, n = 0;
        for (;;) {
            if (n + 4096 + 1 > cap) {
                cap = cap ? cap * 2 : 8192;
                char *nb = realloc(data, cap);
                if (!nb) {
                    free(data);
                    return NULL;
                }
                data = nb;
            }
            size_t k = fread(data + n, 1, cap - n - 1, stdin);
            n += k;
            if (k == 0)
                break;
        }
        data[n] = '\0';
        return data;
    }
    int r = read_file_full(path, 1u << 20, &data, NULL);
    if (r < 0) {
        fprintf(stderr, "vmmctl: cannot read %s: %s\n", path, strerror(-r));
        return NULL;
    }
    return data;
}

static int cmd_create(sd_bus *bus, int argc, char **argv)
{
    _cleanup_bus_error_ sd_bus_error e = SD_BUS_ERROR_NULL;
    _cleanup_bus_msg_ sd_bus_message *reply = NULL, *call = NULL;
    const char *name, *path;
    int r;

    if (argc < 2) {
        fprintf(stderr, "vmmctl: create NAME --config FILE | create NAME -- OPTIONS...\n");
        return EXIT_USAGE;
    }
    name = argv[1];
    if (argc == 4 && strcmp(argv[2], "--config") == 0) {
        _cleanup_free_ char *json = read_file_or_stdin(argv[3]);
        if (!json)
            return EXIT_FAILED;
        r = sd_bus_call_method(bus, VMM_BUS_NAME, VMM_MANAGER_PATH, VMM_MANAGER_INTERFACE, "CreateVM", &e,
                               &reply, "ss", name, json);
    } else if (argc >= 3 && strcmp(argv[2], "--") == 0) {
        r = sd_bus_message_new_method_call(bus, &call, VMM_BUS_NAME, VMM_MANAGER_PATH, VMM_MANAGER_INTERFACE,
                                           "CreateVMFromArgs");
        if (r >= 0)
            r = sd_bus_message_append(call, "s", name);
        if (r >= 0)
            r = sd_bus_message_append_strv(call, argv + 3);
        if (r >= 0)
            r = sd_bus_call(bus, call, 0, &e, &reply);
    } else {
        fprintf(stderr,
                "vmmctl: create NAME needs --config FILE (JSON, '-' for stdin) or -- and vmm options\n");
        return EXIT_USAGE;
    }
    if (r < 0)
        return report("create", &e, r);
    if (sd_bus_message_read(reply, "o", &path) < 0)
        return EXIT_FAILED;
    if (arg_json)
        printf("{\"name\":\"%s\",\"path\":\"%s\"}\n", name, path);
    else
        printf("VM %s created (%s)\n", name, path);
    return 0;
}

static int cmd_list(sd_bus *bus)
{
    _cleanup_bus_error_ sd_bus_error e = SD_BUS_ERROR_NULL;
    _cleanup_bus_msg_ sd_bus_message *reply = NULL;
    const char *name, *state, *path;
    int r = sd_bus_call_method(bus, VMM_BUS_NAME, VMM_MANAGER_PATH, VMM_MANAGER_INTERFACE, "ListVMs", &e,
                               &reply, "");
    if (r < 0)
        return report("list", &e, r);
    r = sd_bus_message_enter_container(reply, 'a', "(sso)");
    if (r < 0)
        return EXIT_FAILED;
    _cleanup_json_ json_object *arr = json_object_new_array();
    if (!arg_json)
        printf("%-24s %-14s %s\n", "NAME", "STATE", "PATH");
    while ((r = sd_bus_message_read(reply, "(sso)", &name, &state, &path)) > 0) {
        if (arg_json) {
            json_object *o = json_object_new_object();
            json_object_object_add(o, "name", json_object_new_string(name));
            json_object_object_add(o, "state", json_object_new_string(state));
            json_object_object_add(o, "path", json_object_new_string(path));
            json_object_array_add(arr, o);
        } else {
            printf("%-24s %-14s %s\n", name, state, path);
        }
    }
    if (arg_json)
        printf("%s\n",
               json_object_to_json_string_ext(arr, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
    return r < 0 ? EXIT_FAILED : 0;
}

/* GetInfo/GetCounters return JSON; pretty-printed for people. */
static int cmd_json_method(sd_bus *bus, const char *name, const char *method)
{
    _cleanup_bus_error_ sd_bus_error e = SD_BUS_ERROR_NULL;
    _cleanup_bus_msg_ sd_bus_message *reply = NULL;
    _cleanup_free_ char *path = NULL;
    const char *text;
    int r = vm_path(bus, name, &path);
    if (r < 0)
        return -r;
    r = sd_bus_call_method(bus, VMM_BUS_NAME, path, VMM_VM_INTERFACE, method, &e, &reply, "");
    if (r < 0)
        return report(name, &e, r);
    if (sd_bus_message_read(reply, "s", &text) < 0)
        return EXIT_FAILED;
    _cleanup_json_ json_object *o = json_tokener_parse(text);
    if (!o || arg_json) {
        printf("%s\n", text);
        return 0;
    }
    if (strcmp(method, "GetInfo") == 0) {
        /* The summary a person wants first; the configuration after. */
        json_object *v;
        static const char *const keys[] = {"name", "uuid",         "state",     "vcpus",      "memory_size",
                                           "pid",  "console_path", "autostart", "started_at", "exit_reason"};
        for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
            if (!json_object_object_get_ex(o, keys[i], &v))
                continue;
            const char *s = json_object_get_string(v);
            if (strcmp(keys[i], "started_at") == 0 && json_object_get_uint64(v) != 0) {
                time_t t = (time_t)(json_object_get_uint64(v) / 1000000u);
                static char buf[64];
                struct tm tm;
                strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S %Z", localtime_r(&t, &tm));
                s = buf;
            }
            printf("%14s: %s\n", keys[i], s && *s ? s : "-");
        }
        if (json_object_object_get_ex(o, "config", &v))
            printf(
                "%14s:\n%s\n", "config",
                json_object_to_json_string_ext(v, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
        return 0;
    }
    printf("%s\n",
           json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
    return 0;
}

static int cmd_action(sd_bus *bus, const char *name, const char *method)
{
    _cleanup_bus_error_ sd_bus_error e = SD_BUS_ERROR_NULL;
    _cleanup_free_ char *path = NULL;
    int r;
    if (strcmp(method, "DeleteVM") == 0) {
        r = sd_bus_call_method(bus, VMM_BUS_NAME, VMM_MANAGER_PATH, VMM_MANAGER_INTERFACE, method, &e, NULL,
                               "s", name);
    } else {
        r = vm_path(bus, name, &path);
        if (r < 0)
            return -r;
        /* Start waits for the boot, PowerOff for the VMM's exit: vmmd
         * bounds both, so the default bus timeout is long enough. */
        r = sd_bus_call_method(bus, VMM_BUS_NAME, path, VMM_VM_INTERFACE, method, &e, NULL, "");
    }
    if (r < 0)
        return report(name, &e, r);
    return 0;
}

/* snapshot NAME DIR (VM.Snapshot) and restore NAME DIR (Manager.RestoreVM):
 * DIR made a file:/// URL of its absolute path. */
static int cmd_snapshot_restore(sd_bus *bus, const char *name, const char *dir, bool restore)
{
    _cleanup_bus_error_ sd_bus_error e = SD_BUS_ERROR_NULL;
    _cleanup_(sd_bus_message_unrefp) sd_bus_message *call = NULL, *reply = NULL;
    _cleanup_free_ char *path = NULL, *abs = realpath(dir, NULL), *url = NULL;
    if (!abs) {
        fprintf(stderr, "vmmctl: %s: %s\n", dir, strerror(errno));
        return EXIT_FAILED;
    }
    if (asprintf(&url, "file://%s", abs) < 0)
        return EXIT_FAILED;
    int r;
    if (restore) {
        r = sd_bus_message_new_method_call(bus, &call, VMM_BUS_NAME, VMM_MANAGER_PATH, VMM_MANAGER_INTERFACE,
                                           "RestoreVM");
        if (r >= 0)
            r = sd_bus_message_append(call, "ss", name, url);
    } else {
        r = vm_path(bus, name, &path);
        if (r < 0)
            return -r;
        r = sd_bus_message_new_method_call(bus, &call, VMM_BUS_NAME, path, VMM_VM_INTERFACE, "Snapshot");
        if (r >= 0)
            r = sd_bus_message_append(call, "s", url);
    }
    /* vmmd gives the VMM minutes to write a big guest's memory. */
    if (r >= 0)
        r = sd_bus_call(bus, call, 330ULL * 1000000ULL, &e, &reply);
    if (r < 0)
        return report(name, &e, r);
    return 0;
}

/* SIZE as bytes with an optional K, M or G (binary) suffix, as --balloon size= takes it. */
static int parse_size(const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *s == '-')
        return -EINVAL;
    unsigned shift = 0;
    if (*end == 'K' || *end == 'k')
        shift = 10, end++;
    else if (*end == 'M' || *end == 'm')
        shift = 20, end++;
    else if (*end == 'G' || *end == 'g')
        shift = 30, end++;
    if (*end || (shift && v > (UINT64_MAX >> shift)))
        return -EINVAL;
    *out = (uint64_t)v << shift;
    return 0;
}

/* balloon NAME SIZE (VM.ResizeBalloon), memory NAME SIZE (VM.ResizeMemory). */
static int cmd_resize_bytes(sd_bus *bus, const char *name, const char *size, const char *method)
{
    _cleanup_bus_error_ sd_bus_error e = SD_BUS_ERROR_NULL;
    _cleanup_free_ char *path = NULL;
    uint64_t bytes;
    if (parse_size(size, &bytes) < 0) {
        fprintf(stderr, "vmmctl: '%s' is not a size (bytes, or a number with K, M or G)\n", size);
        return EXIT_USAGE;
    }
    int r = vm_path(bus, name, &path);
    if (r < 0)
        return -r;
    r = sd_bus_call_method(bus, VMM_BUS_NAME, path, VMM_VM_INTERFACE, method, &e, NULL, "t", bytes);
    if (r < 0)
        return report(name, &e, r);
    return 0;
}

/* vcpus NAME COUNT (VM.ResizeVCPUs). */
static int cmd_vcpus(sd_bus *bus, const char *name, const char *count)
{
    _cleanup_bus_error_ sd_bus_error e = SD_BUS_ERROR_NULL;
    _cleanup_free_ char *path = NULL;
    char *end;
    errno = 0;
    unsigned long n = strtoul(count, &end, 10);
    if (errno || end == count || *end || count[0] == '-' || n == 0 || n > UINT32_MAX) {
        fprintf(stderr, "vmmctl: '%s' is not a vCPU count (1 or more)\n", count);
        return EXIT_USAGE;
    }
    int r = vm_path(bus, name, &path);
    if (r < 0)
        return -r;
    r = sd_bus_call_method(bus, VMM_BUS_NAME, path, VMM_VM_INTERFACE, "ResizeVCPUs", &e, NULL, "u", (uint32_t)n);
    if (r < 0)
        return report(name, &e, r);
    return 0;
}

/* DISK or NET in Cloud Hypervisor's option syntax as the JSON object AddDisk
 * / AddNet take (with the parser `vmm --disk` uses), or a JSON object as
 * given. A relative image path is made absolute: vmmd opens it, from its
 * own working directory. */
static char *device_json(const char *spec, bool net)
{
    if (spec[0] == '{')
        return strdup(spec);
    VmConfig cfg = {0};
    ConfigError err = {0};
    char *text = NULL;
    int r;
    if (net) {
        cfg.net = calloc(1, sizeof(*cfg.net));
        cfg.n_net = cfg.net ? 1 : 0;
        r = cfg.net ? net_config_parse(spec, cfg.net, &err) : -ENOMEM;
    } else {
        cfg.disks = calloc(1, sizeof(*cfg.disks));
        cfg.n_disks = cfg.disks ? 1 : 0;
        r = cfg.disks ? disk_config_parse(spec, cfg.disks, &err) : -ENOMEM;
        char *path = r >= 0 ? cfg.disks->path : NULL, *cwd = NULL;
        if (path && path[0] != '/' && (cwd = getcwd(NULL, 0)) &&
            asprintf(&cfg.disks->path, "%s/%s", cwd, path) >= 0)
            free(path);
        free(cwd);
    }
    if (r < 0) {
        fprintf(stderr, "vmmctl: %s: %s\n", spec, err.message[0] ? err.message : strerror(-r));
    } else {
        _cleanup_free_ char *all = vm_config_to_json(&cfg, false);
        _cleanup_json_ json_object *doc = all ? json_tokener_parse(all) : NULL;
        json_object *list;
        if (doc && json_object_object_get_ex(doc, net ? "net" : "disks", &list))
            text = strdup(json_object_to_json_string_ext(
                json_object_array_get_idx(list, 0), JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
    }
    vm_config_free(&cfg);
    return text;
}

/* add-disk / add-net NAME SPEC (VM.AddDisk, VM.AddNet): prints the id. */
static int cmd_add_device(sd_bus *bus, const char *name, const char *spec, bool net)
{
    _cleanup_bus_error_ sd_bus_error e = SD_BUS_ERROR_NULL;
    _cleanup_bus_msg_ sd_bus_message *reply = NULL;
    _cleanup_free_ char *path = NULL, *json = device_json(spec, net);
    const char *id;
    if (!json)
        return EXIT_USAGE;
    int r = vm_path(bus, name, &path);
    if (r < 0)
        return -r;
    r = sd_bus_call_method(bus, VMM_BUS_NAME, path, VMM_VM_INTERFACE, net ? "AddNet" : "AddDisk", &e, &reply,
                           "s", json);
    if (r < 0)
        return report(name, &e, r);
    r = sd_bus_message_read(reply, "s", &id);
    if (r < 0)
        return report(name, NULL, r);
    printf("%s\n", id);
    return 0;
}

/* remove-device NAME ID (VM.RemoveDevice). */
static int cmd_remove_device(sd_bus *bus, const char *name, const char *id)
{
    _cleanup_bus_error_ sd_bus_error e = SD_BUS_ERROR_NULL;
    _cleanup_free_ char *path = NULL;
    int r = vm_path(bus, name, &path);
    if (r < 0)
        return -r;
    r = sd_bus_call_method(bus, VMM_BUS_NAME, path, VMM_VM_INTERFACE, "RemoveDevice", &e, NULL, "s", id);
    if (r < 0)
        return report(name, &e, r);
    return 0;
}

/* Ctrl-]: telnet's and virsh's escape, rarely needed by a guest. */
#define CONSOLE_ESCAPE 0x1d

static struct termios saved_tty;
static bool tty_raw;

static void restore_tty(void)
{
    if (tty_raw)
        (void)tcsetattr(STDIN_FILENO, TCSADRAIN, &saved_tty);
    tty_raw = false;
}

static int write_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t k = write(fd, buf, len);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        buf += k;
        len -= (size_t)k;
    }
    return 0;
}

/* Copies between the terminal and the console until Ctrl-], the end of
 * input, or the console going away (the VM stopped). */
static int cmd_console(sd_bus *bus, const char *name)
{
    _cleanup_bus_error_ sd_bus_error e = SD_BUS_ERROR_NULL;
    _cleanup_bus_msg_ sd_bus_message *reply = NULL;
    _cleanup_free_ char *path = NULL;
    int fd, r = vm_path(bus, name, &path);
    if (r < 0)
        return -r;
    r = sd_bus_call_method(bus, VMM_BUS_NAME, path, VMM_VM_INTERFACE, "OpenConsole", &e, &reply, "");
    if (r < 0)
        return report(name, &e, r);
    if (sd_bus_message_read(reply, "h", &fd) < 0)
        return EXIT_FAILED;
    /* The reply owns the fd it carries. */
    _cleanup_close_ int con = fcntl(fd, F_DUPFD_CLOEXEC, 3);
    if (con < 0)
        return report("console", NULL, -errno);
    if (isatty(con)) {
        /* Bytes as the guest sent them: no echo or line editing here. */
        struct termios t;
        if (tcgetattr(con, &t) == 0) {
            cfmakeraw(&t);
            (void)tcsetattr(con, TCSANOW, &t);
        }
    }
    bool interactive = isatty(STDIN_FILENO);
    if (interactive && tcgetattr(STDIN_FILENO, &saved_tty) == 0) {
        struct termios t = saved_tty;
        cfmakeraw(&t);
        if (tcsetattr(STDIN_FILENO, TCSADRAIN, &t) == 0) {
            tty_raw = true;
            atexit(restore_tty);
        }
        fprintf(stderr, "Connected to the console of %s; Ctrl-] leaves.\r\n", name);
    }
    struct pollfd p[2] = {{.fd = con, .events = POLLIN}, {.fd = STDIN_FILENO, .events = POLLIN}};
    char buf[4096];
    int rc = 0;
    for (;;) {
        if (poll(p, p[1].fd >= 0 ? 2 : 1, -1) < 0) {
            if (errno == EINTR)
                continue;
            rc = report("console", NULL, -errno);
            break;
        }
        if (p[0].revents) {
            ssize_t k = read(con, buf, sizeof(buf));
            /* EIO: the pty's other side closed, the VM is gone. */
            if (k <= 0 && !(k < 0 && errno == EINTR))
                break;
            if (k > 0 && write_all(STDOUT_FILENO, buf, (size_t)k) < 0)
                break;
        }
        if (p[1].fd >= 0 && p[1].revents) {
            ssize_t k = read(STDIN_FILENO, buf, sizeof(buf));
            if (k < 0 && errno == EINTR)
                continue;
            if (k <= 0) {
                /* Input ended (a script): keep showing output. */
                p[1].fd = -1;
                continue;
            }
            char *esc = interactive ? memchr(buf, CONSOLE_ESCAPE, (size_t)k) : NULL;
            size_t n = esc ? (size_t)(esc - buf) : (size_t)k;
            if (n > 0 && write_all(con, buf, n) < 0)
                break;
            if (esc)
                break;
        }
    }
    restore_tty();
    if (interactive)
        fprintf(stderr, "\nLeft the console of %s.\n", name);
    return rc;
}

static int on_event(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
    (void)userdata, (void)error;
    const char *source, *event, *k, *v;
    uint64_t usec;
    _cleanup_free_ char *name = NULL;
    if (sd_bus_path_decode(sd_bus_message_get_path(m), VMM_VM_PREFIX, &name) <= 0)
        return 0;
    if (sd_bus_message_read(m, "ss", &source, &event) < 0 ||
        sd_bus_message_enter_container(m, 'a', "{ss}") < 0)
        return 0;
    _cleanup_json_ json_object *props = json_object_new_object();
    while (sd_bus_message_read(m, "{ss}", &k, &v) > 0)
        json_object_object_add(props, k, json_object_new_string(v));
    if (sd_bus_message_exit_container(m) < 0 || sd_bus_message_read(m, "t", &usec) < 0)
        return 0;
    if (arg_json) {
        _cleanup_json_ json_object *o = json_object_new_object();
        json_object_object_add(o, "vm", json_object_new_string(name));
        json_object_object_add(o, "source", json_object_new_string(source));
        json_object_object_add(o, "event", json_object_new_string(event));
        json_object_object_add(o, "properties", json_object_get(props));
        json_object_object_add(o, "timestamp_usec", json_object_new_uint64(usec));
        printf("%s\n",
               json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
    } else {
        time_t t = (time_t)(usec / 1000000u);
        struct tm tm;
        char when[32];
        strftime(when, sizeof(when), "%H:%M:%S", localtime_r(&t, &tm));
        printf("%s.%06u %s %s/%s", when, (unsigned)(usec % 1000000u), name, source, event);
        json_object_object_foreach(props, pk, pv) printf(" %s=%s", pk, json_object_get_string(pv));
        printf("\n");
    }
    fflush(stdout);
    return 0;
}

static int cmd_events(sd_bus *bus, const char *name)
{
    _cleanup_free_ char *path = NULL, *match = NULL;
    if (name) {
        int r = vm_path(bus, name, &path);
        if (r < 0)
            return -r;
        if (asprintf(&match, "type='signal',sender='%s',interface='%s',member='Event',path='%s'",
                     VMM_BUS_NAME, VMM_VM_INTERFACE, path) < 0)
            return EXIT_FAILED;
    } else if (asprintf(&match, "type='signal',sender='%s',interface='%s',member='Event',path_namespace='%s'",
                        VMM_BUS_NAME, VMM_VM_INTERFACE, VMM_VM_PREFIX) < 0) {
        return EXIT_FAILED;
    }
    int r = sd_bus_add_match(bus, NULL, match, on_event, NULL);
    if (r < 0)
        return report("events", NULL, r);
    /* Tells scripts the match is in place: events from now on are seen. */
    if (!arg_json)
        fprintf(stderr, "Following events%s%s; Ctrl-C to stop.\n", name ? " of " : "", name ? name : "");
    for (;;) {
        r = sd_bus_process(bus, NULL);
        if (r < 0)
            return report("events", NULL, r);
        if (r > 0)
            continue;
        r = sd_bus_wait(bus, UINT64_MAX);
        if (r < 0 && r != -EINTR)
            return report("events", NULL, r);
    }
}

int main(int argc, char **argv)
{
    enum { OPT_USER = 0x100, OPT_JSON };
    static const struct option options[] = {
        {"user", no_argument, NULL, OPT_USER},
        {"json", no_argument, NULL, OPT_JSON},
        {"help", no_argument, NULL, 'h'},
        {},
    };
    int c;
    /* "+": stop at the command, so "create NAME -- --kernel ..." keeps its options. */
    while ((c = getopt_long(argc, argv, "+h", options, NULL)) >= 0) {
        switch (c) {
        case OPT_USER:
            arg_user = true;
            break;
        case OPT_JSON:
            arg_json = true;
            break;
        case 'h':
            help();
            return 0;
        default:
            return EXIT_USAGE;
        }
    }
    if (optind >= argc) {
        help();
        return EXIT_USAGE;
    }
    char **args = argv + optind;
    int nargs = argc - optind;
    const char *cmd = args[0];

    static const struct {
        const char *cmd, *method;
    } actions[] = {
        {"start", "Start"}, {"shutdown", "Shutdown"}, {"poweroff", "PowerOff"}, {"reboot", "Reboot"},
        {"pause", "Pause"}, {"resume", "Resume"},     {"delete", "DeleteVM"},
    };

    _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
    int r = arg_user ? sd_bus_open_user(&bus) : sd_bus_open_system(&bus);
    if (r < 0) {
        fprintf(stderr, "vmmctl: cannot connect to the %s bus: %s\n", arg_user ? "session" : "system",
                strerror(-r));
        return EXIT_NO_SERVICE;
    }

    if (strcmp(cmd, "create") == 0)
        return cmd_create(bus, nargs, args);
    if (strcmp(cmd, "list") == 0 && nargs == 1)
        return cmd_list(bus);
    if (strcmp(cmd, "events") == 0 && nargs <= 2)
        return cmd_events(bus, nargs == 2 ? args[1] : NULL);
    if (strcmp(cmd, "console") == 0 && nargs == 2)
        return cmd_console(bus, args[1]);
    if (strcmp(cmd, "info") == 0 && nargs == 2)
        return cmd_json_method(bus, args[1], "GetInfo");
    if (strcmp(cmd, "counters") == 0 && nargs == 2)
        return cmd_json_method(bus, args[1], "GetCounters");
    if (strcmp(cmd, "balloon") == 0 && nargs == 3)
        return cmd_resize_bytes(bus, args[1], args[2], "ResizeBalloon");
    if (strcmp(cmd, "memory") == 0 && nargs == 3)
        return cmd_resize_bytes(bus, args[1], args[2], "ResizeMemory");
    if (strcmp(cmd, "vcpus") == 0 && nargs == 3)
        return cmd_vcpus(bus, args[1], args[2]);
    if ((strcmp(cmd, "snapshot") == 0 || strcmp(cmd, "restore") == 0) && nargs == 3)
        return cmd_snapshot_restore(bus, args[1], args[2], strcmp(cmd, "restore") == 0);
    if ((strcmp(cmd, "add-disk") == 0 || strcmp(cmd, "add-net") == 0) && nargs == 3)
        return cmd_add_device(bus, args[1], args[2], strcmp(cmd, "add-net") == 0);
    if (strcmp(cmd, "remove-device") == 0 && nargs == 3)
        return cmd_remove_device(bus, args[1], args[2]);
    for (size_t i = 0; i < ARRAY_SIZE(actions); i++)
        if (strcmp(cmd, actions[i].cmd) == 0 && nargs == 2)
            return cmd_action(bus, args[1], actions[i].method);
    fprintf(stderr, "vmmctl: unknown command or wrong arguments: '%s' (vmmctl --help)\n", cmd);
    return EXIT_USAGE;
}
