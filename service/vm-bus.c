/* SPDX-License-Identifier: Apache-2.0 */
/* The org.vmm.VM interface: one object per VM under /org/vmm/vm, served by
 * a fallback vtable so objects exist exactly while their VM does. */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "bus_errors.h"
#include "util.h"
#include "vm.h"

json_object *vm_info_json(Vm *vm)
{
    json_object *o = json_object_new_object();
    if (!o)
        return NULL;
    json_object_object_add(o, "name", json_object_new_string(vm->name));
    json_object_object_add(o, "uuid", json_object_new_string(vm->uuid));
    json_object_object_add(o, "state", json_object_new_string(vm_state_to_string(vm->state)));
    json_object_object_add(o, "path", json_object_new_string(vm->path));
    json_object_object_add(o, "vcpus", json_object_new_uint64(vm->vcpus));
    json_object_object_add(o, "memory_size", json_object_new_uint64(vm->memory_size));
    json_object_object_add(o, "pid", json_object_new_uint64(vm->pid));
    json_object_object_add(o, "console_path",
                           json_object_new_string(vm->console_path ? vm->console_path : ""));
    json_object_object_add(o, "autostart", json_object_new_boolean(vm->autostart));
    json_object_object_add(o, "started_at", json_object_new_uint64(vm->started_at));
    json_object_object_add(o, "exit_reason", json_object_new_string(vm->exit_reason ? vm->exit_reason : ""));
    json_object_object_add(o, "config", json_tokener_parse(vm->config_json));
    return o;
}

int vm_emit_event(Vm *vm, const char *source, const char *event, const char *const *props, uint64_t usec)
{
    _cleanup_bus_msg_ sd_bus_message *s = NULL;
    if (!limits_may_emit_signal(vm->manager))
        return 0;
    int r = sd_bus_message_new_signal(vm->manager->bus, &s, vm->path, VMM_VM_INTERFACE, "Event");
    if (r < 0)
        return r;
    r = sd_bus_message_append(s, "ss", source, event);
    if (r < 0)
        return r;
    r = sd_bus_message_open_container(s, 'a', "{ss}");
    if (r < 0)
        return r;
    for (size_t i = 0; props && props[i] && props[i + 1]; i += 2) {
        r = sd_bus_message_append(s, "{ss}", props[i], props[i + 1]);
        if (r < 0)
            return r;
    }
    r = sd_bus_message_close_container(s);
    if (r < 0)
        return r;
    r = sd_bus_message_append(s, "t", usec);
    if (r < 0)
        return r;
    return sd_bus_send(vm->manager->bus, s, NULL);
}

/* ---------------------------------------------------------------- methods */

static int refuse(sd_bus_error *error, Vm *vm, const char *what, const char *hint)
{
    return sd_bus_error_setf(error, VMM_ERROR_INVALID_STATE, "cannot %s VM %s: it is %s; %s", what, vm->name,
                             vm_state_to_string(vm->state), hint);
}

static int method_start(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
    Vm *vm = userdata;
    if (vm_state_is_active(vm->state))
        return refuse(error, vm, "start", "it already has a VMM (PowerOff stops it)");
    return vm_start(vm, m, error);
}

static int method_shutdown(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
    Vm *vm = userdata;
    if (vm->state == VM_STATE_PAUSED)
        return refuse(error, vm, "shut down",
                      "a paused guest cannot see the power button: Resume it, or PowerOff");
    if (vm->state != VM_STATE_RUNNING && vm->state != VM_STATE_SHUTTING_DOWN)
        return refuse(error, vm, "shut down", "only a running VM can be shut down");
    return vm_request(vm, m, "vm.power-button", error);
}

static int method_poweroff(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
    Vm *vm = userdata;
    if (!vm_state_is_active(vm->state))
        return refuse(error, vm, "power off", "it is not running");
    return vm_poweroff(vm, m, error);
}

static int method_reboot(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
    Vm *vm = userdata;
    if (vm->state != VM_STATE_RUNNING && vm->state != VM_STATE_PAUSED)
        return refuse(error, vm, "reboot", "only a running or paused VM can be rebooted");
    return vm_request(vm, m, "vm.reboot", error);
}

static int method_pause(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
    Vm *vm = userdata;
    if (vm->state != VM_STATE_RUNNING)
        return refuse(error, vm, "pause", "only a running VM can be paused");
    return vm_request(vm, m, "vm.pause", error);
}

static int method_resume(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
    Vm *vm = userdata;
    if (vm->state != VM_STATE_PAUSED)
        return refuse(error, vm, "resume", "only a paused VM can be resumed");
    return vm_request(vm, m, "vm.resume", error);
}

/* Cloud Hypervisor's vm.snapshot (docs/snapshot.md), into one directory
 * of the VM's snapshot directory, which the VMM reaches through a
 * descriptor (vm_snapshot_url()). */
static int method_snapshot(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
    Vm *vm = userdata;
    const char *url;
    int r = sd_bus_message_read(m, "s", &url);
    if (r < 0)
        return r;
    if (strncmp(url, "file:///", 8) != 0)
        return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                 "destination_url must be file:///absolute/path, not '%.200s'", url);
    if (vm->state != VM_STATE_PAUSED)
        return refuse(error, vm, "snapshot", "Pause it first");
    _cleanup_free_ char *vmm_url = NULL;
    if ((r = vm_snapshot_url(vm, url, true, &vmm_url, error)) < 0)
        return r;
    _cleanup_json_ json_object *args = json_object_new_object();
    if (!args || json_object_object_add(args, "destination_url", json_object_new_string(vmm_url)) < 0)
        return -ENOMEM;
    return vm_request_args(vm, m, "vm.snapshot", args, VMM_SNAPSHOT_TIMEOUT_USEC, error);
}

/* Cloud Hypervisor's vm.resize with desired_balloon: the running VM's
 * balloon target changes; the definition keeps its --balloon size. */
static int method_resize_balloon(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
    Vm *vm = userdata;
    uint64_t bytes;
    int r = sd_bus_message_read(m, "t", &bytes);
    if (r < 0)
        return r;
    if (vm->state != VM_STATE_RUNNING && vm->state != VM_STATE_PAUSED)
        return refuse(error, vm, "resize the balloon of", "only a running or paused VM has one");
    _cleanup_json_ json_object *args = json_object_new_object();
    if (!args || json_object_object_add(args, "desired_balloon", json_object_new_uint64(bytes)) < 0)
        return -ENOMEM;
    return vm_request_args(vm, m, "vm.resize", args, VMM_REQUEST_TIMEOUT_USEC, error);
}

static int method_resize_vcpus(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
    return vm_resize_vcpus(userdata, m, error);
}

static int method_resize_memory(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
    return vm_resize_memory(userdata, m, error);
}

static int method_add_disk(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
    return vm_add_disk(userdata, m, error);
}

static int method_add_net(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
    return vm_add_net(userdata, m, error);
}

static int method_remove_device(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
    return vm_remove_device(userdata, m, error);
}

static int method_get_info(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
    return vm_query(userdata, m, "vm.info", error);
}

static int method_get_counters(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
    return vm_query(userdata, m, "vm.counters", error);
}

/* The serial console as an fd: the pty's terminal side, or a connection to
 * the VMM's serial socket. The caller is authorized (polkit) before this
 * runs; a console is as good as a keyboard on the guest. */
static int open_pty(Vm *vm, sd_bus_error *error)
{
    /* The path comes from the VMM, which a guest might have subverted: only
     * a /dev/pts terminal is opened, never whatever file it names. */
    unsigned n;
    char end;
    if (!vm->console_path || sscanf(vm->console_path, "/dev/pts/%u%c", &n, &end) != 1)
        return sd_bus_error_setf(error, VMM_ERROR_VMM_FAILED, "VM %s: the VMM reported no usable pty (%s)",
                                 vm->name, vm->console_path ? vm->console_path : "none");
    int fd = open(vm->console_path, O_RDWR | O_NOCTTY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return sd_bus_error_setf(error, VMM_ERROR_VMM_FAILED, "VM %s: cannot open %s: %s", vm->name,
                                 vm->console_path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISCHR(st.st_mode) || !isatty(fd)) {
        close(fd);
        return sd_bus_error_setf(error, VMM_ERROR_VMM_FAILED, "VM %s: %s is not a terminal", vm->name,
                                 vm->console_path);
    }
    return fd;
}

static int connect_serial_socket(Vm *vm, const char *path, sd_bus_error *error)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof(sa.sun_path))
        return sd_bus_error_setf(error, VMM_ERROR_VMM_FAILED, "VM %s: serial socket path too long", vm->name);
    strcpy(sa.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        int e = errno;
        close(fd);
        return sd_bus_error_setf(error, VMM_ERROR_VMM_FAILED,
                                 "VM %s: cannot connect to its serial socket %s: %s", vm->name, path,
                                 strerror(e));
    }
    return fd;
}

static int method_open_console(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
    Vm *vm = userdata;
    if (vm->state != VM_STATE_RUNNING && vm->state != VM_STATE_PAUSED && vm->state != VM_STATE_SHUTTING_DOWN)
        return refuse(error, vm, "open the console of", "Start it first");
    _cleanup_json_ json_object *cfg = json_tokener_parse(vm->config_json);
    json_object *serial = NULL, *mode = NULL, *sock = NULL;
    const char *mode_s = "Null";
    if (cfg && json_object_object_get_ex(cfg, "serial", &serial) &&
        json_object_object_get_ex(serial, "mode", &mode))
        mode_s = json_object_get_string(mode);
    int fd;
    if (strcmp(mode_s, "Pty") == 0)
        fd = open_pty(vm, error);
    else if (strcmp(mode_s, "Socket") == 0 && json_object_object_get_ex(serial, "socket", &sock) &&
             json_object_is_type(sock, json_type_string))
        fd = connect_serial_socket(vm, json_object_get_string(sock), error);
    else
        return sd_bus_error_setf(error, VMM_ERROR_NOT_SUPPORTED,
                                 "VM %s has serial mode %s; OpenConsole needs --serial pty or socket=PATH",
                                 vm->name, mode_s);
    if (fd < 0 || sd_bus_error_is_set(error))
        return fd < 0 ? fd : -EIO;
    /* sd-bus sends a duplicate; ours is closed either way. */
    int r = sd_bus_reply_method_return(m, "h", fd);
    close(fd);
    return r;
}

/* ------------------------------------------------------------- properties */

static int property_get_state(sd_bus *bus, const char *path, const char *interface, const char *property,
                              sd_bus_message *reply, void *userdata, sd_bus_error *error)
{
    Vm *vm = userdata;
    (void)bus, (void)path, (void)interface, (void)property, (void)error;
    return sd_bus_message_append(reply, "s", vm_state_to_string(vm->state));
}

/* NULL strings read as "" (no console, no exit yet). */
static int property_get_string_or_empty(sd_bus *bus, const char *path, const char *interface,
                                        const char *property, sd_bus_message *reply, void *userdata,
                                        sd_bus_error *error)
{
    char *const *s = userdata;
    (void)bus, (void)path, (void)interface, (void)property, (void)error;
    return sd_bus_message_append(reply, "s", *s ? *s : "");
}

/* Offset 0: the setter needs the whole Vm to save it, and sd-bus passes
 * userdata + offset to both accessors. */
static int property_get_autostart(sd_bus *bus, const char *path, const char *interface, const char *property,
                                  sd_bus_message *reply, void *userdata, sd_bus_error *error)
{
    Vm *vm = userdata;
    (void)bus, (void)path, (void)interface, (void)property, (void)error;
    return sd_bus_message_append(reply, "b", (int)vm->autostart);
}

static int property_set_autostart(sd_bus *bus, const char *path, const char *interface, const char *property,
                                  sd_bus_message *value, void *userdata, sd_bus_error *error)
{
    Vm *vm = userdata;
    int b;
    (void)path, (void)interface, (void)property;
    int r = sd_bus_message_read(value, "b", &b);
    if (r < 0)
        return r;
    if (vm->autostart == !!b)
        return 0;
    vm->autostart = b;
    r = vm_save(vm);
    if (r < 0) {
        vm->autostart = !b;
        return sd_bus_error_setf(error, SD_BUS_ERROR_IO_ERROR, "cannot save VM %s: %s", vm->name,
                                 strerror(-r));
    }
    return sd_bus_emit_properties_changed(bus, vm->path, VMM_VM_INTERFACE, "Autostart", NULL);
}

/* ----------------------------------------------------------- the objects */

static Vm *vm_from_path(Manager *m, const char *path)
{
    _cleanup_free_ char *name = NULL;
    if (sd_bus_path_decode(path, VMM_VM_PREFIX, &name) <= 0)
        return NULL;
    return manager_find_vm(m, name);
}

int vm_object_find(sd_bus *bus, const char *path, const char *interface, void *userdata, void **found,
                   sd_bus_error *error)
{
    (void)bus, (void)interface, (void)error;
    Vm *vm = vm_from_path(userdata, path);
    if (!vm)
        return 0;
    *found = vm;
    return 1;
}

int vm_node_enumerator(sd_bus *bus, const char *path, void *userdata, char ***nodes, sd_bus_error *error)
{
    Manager *m = userdata;
    (void)bus, (void)path, (void)error;
    char **l = calloc(m->n_vms + 1, sizeof(char *));
    if (!l)
        return -ENOMEM;
    for (size_t i = 0; i < m->n_vms; i++) {
        l[i] = strdup(m->vms[i]->path);
        if (!l[i]) {
            for (size_t j = 0; j < i; j++)
                free(l[j]);
            free(l);
            return -ENOMEM;
        }
    }
    *nodes = l;
    return 0;
}

const sd_bus_vtable vm_vtable[] = {
    SD_BUS_VTABLE_START(0),
    SD_BUS_PROPERTY("Name", "s", NULL, offsetof(Vm, name), SD_BUS_VTABLE_PROPERTY_CONST),
    SD_BUS_PROPERTY("UUID", "s", NULL, offsetof(Vm, uuid), SD_BUS_VTABLE_PROPERTY_CONST),
    SD_BUS_PROPERTY("State", "s", property_get_state, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
    /* Changes with AddDisk, AddNet and an ejected device. */
    SD_BUS_PROPERTY("Config", "s", NULL, offsetof(Vm, config_json), SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
    SD_BUS_PROPERTY("VCPUs", "u", NULL, offsetof(Vm, vcpus), SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
    SD_BUS_PROPERTY("MemorySize", "t", NULL, offsetof(Vm, memory_size), SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
    SD_BUS_PROPERTY("PID", "u", NULL, offsetof(Vm, pid), SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
    SD_BUS_PROPERTY("ConsolePath", "s", property_get_string_or_empty, offsetof(Vm, console_path),
                    SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
    SD_BUS_WRITABLE_PROPERTY("Autostart", "b", property_get_autostart, property_set_autostart, 0,
                             SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE | SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_PROPERTY("StartedAt", "t", NULL, offsetof(Vm, started_at), SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
    SD_BUS_PROPERTY("ExitReason", "s", property_get_string_or_empty, offsetof(Vm, exit_reason),
                    SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
    SD_BUS_METHOD("Start", "", "", method_start, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD("Shutdown", "", "", method_shutdown, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD("PowerOff", "", "", method_poweroff, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD("Reboot", "", "", method_reboot, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD("Pause", "", "", method_pause, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD("Resume", "", "", method_resume, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_NAMES("Snapshot", "s", SD_BUS_PARAM(destination_url), "", , method_snapshot,
                             SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_NAMES("ResizeBalloon", "t", SD_BUS_PARAM(bytes), "", , method_resize_balloon,
                             SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_NAMES("ResizeVCPUs", "u", SD_BUS_PARAM(vcpus), "", , method_resize_vcpus,
                             SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_NAMES("ResizeMemory", "t", SD_BUS_PARAM(bytes), "", , method_resize_memory,
                             SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_NAMES("AddDisk", "s", SD_BUS_PARAM(config), "s", SD_BUS_PARAM(id), method_add_disk,
                             SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_NAMES("AddNet", "s", SD_BUS_PARAM(config), "s", SD_BUS_PARAM(id), method_add_net,
                             SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_NAMES("RemoveDevice", "s", SD_BUS_PARAM(id), "", , method_remove_device,
                             SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_NAMES("GetInfo", "", , "s", SD_BUS_PARAM(info), method_get_info,
                             SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_NAMES("GetCounters", "", , "s", SD_BUS_PARAM(counters), method_get_counters,
                             SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_NAMES("OpenConsole", "", , "h", SD_BUS_PARAM(console), method_open_console,
                             SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_SIGNAL_WITH_NAMES(
        "Event", "ssa{ss}t",
        SD_BUS_PARAM(source) SD_BUS_PARAM(event) SD_BUS_PARAM(properties) SD_BUS_PARAM(timestamp_usec), 0),
    SD_BUS_VTABLE_END,
};
