/* SPDX-License-Identifier: Apache-2.0 */
/* The VM table, loading definitions, and the org.vmm.Manager object. */
#include "manager.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>

#include <systemd/sd-daemon.h>
#include <systemd/sd-id128.h>

#include "bus_errors.h"
#include "util.h"
#include "vm-config.h"
#include "vm.h"

/* ------------------------------------------------------------- the table */

static size_t vm_index(Manager *m, const char *name, bool *found)
{
    size_t lo = 0, hi = m->n_vms;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(m->vms[mid]->name, name);
        if (c == 0) {
            *found = true;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = false;
    return lo;
}

Vm *manager_find_vm(Manager *m, const char *name)
{
    bool found;
    size_t i = vm_index(m, name, &found);
    return found ? m->vms[i] : NULL;
}

int manager_add_vm(Manager *m, Vm *vm)
{
    bool found;
    size_t i = vm_index(m, vm->name, &found);
    if (found)
        return -EEXIST;
    Vm **n = realloc(m->vms, (m->n_vms + 1) * sizeof(*n));
    if (!n)
        return -ENOMEM;
    m->vms = n;
    memmove(m->vms + i + 1, m->vms + i, (m->n_vms - i) * sizeof(*n));
    m->vms[i] = vm;
    m->n_vms++;
    return 0;
}

void manager_remove_vm(Manager *m, Vm *vm)
{
    bool found;
    size_t i = vm_index(m, vm->name, &found);
    if (!found)
        return;
    memmove(m->vms + i, m->vms + i + 1, (m->n_vms - i - 1) * sizeof(*m->vms));
    m->n_vms--;
}

void manager_update_status(Manager *m)
{
    (void)sd_notifyf(false, "STATUS=%zu VM%s running, %zu defined", m->n_running,
                     m->n_running == 1 ? "" : "s", m->n_vms);
}

bool hypervisor_available(void)
{
    int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return false;
    close(fd);
    return true;
}

static void format_uuid(sd_id128_t id, char out[37])
{
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", id.bytes[0],
             id.bytes[1], id.bytes[2], id.bytes[3], id.bytes[4], id.bytes[5], id.bytes[6], id.bytes[7],
             id.bytes[8], id.bytes[9], id.bytes[10], id.bytes[11], id.bytes[12], id.bytes[13], id.bytes[14],
             id.bytes[15]);
}

/* ------------------------------------------------------------ loading */

/* A definition that cannot be loaded is kept, renamed, for a person to look
 * at: deleting it would lose a VM, keeping the name would fail every start. */
static void set_aside(Manager *m, const char *file, const char *why)
{
    _cleanup_free_ char *from = NULL, *to = NULL;
    log_error("cannot load %s/%s: %s; renamed to %s.broken", m->state_dir, file, why, file);
    if (asprintf(&from, "%s/%s", m->state_dir, file) >= 0 &&
        asprintf(&to, "%s/%s.broken", m->state_dir, file) >= 0)
        (void)rename(from, to);
}

static int load_one(Manager *m, const char *file)
{
    _cleanup_free_ char *path = NULL, *data = NULL, *name = NULL;
    size_t len = strlen(file);
    if (asprintf(&path, "%s/%s", m->state_dir, file) < 0 || !(name = strndup(file, len - 5)))
        return -ENOMEM;
    if (!vm_name_is_valid(name)) {
        set_aside(m, file, "not a valid VM name");
        return 0;
    }
    int r = read_file_full(path, 4u << 20, &data, NULL);
    if (r < 0) {
        set_aside(m, file, strerror(-r));
        return 0;
    }
    _cleanup_json_ json_object *o = json_tokener_parse(data);
    json_object *jname = NULL, *juuid = NULL, *jauto = NULL, *jcfg = NULL;
    if (!o || !json_object_object_get_ex(o, "name", &jname) ||
        !json_object_object_get_ex(o, "uuid", &juuid) || !json_object_object_get_ex(o, "config", &jcfg) ||
        !json_object_is_type(jname, json_type_string) || !json_object_is_type(juuid, json_type_string) ||
        strcmp(json_object_get_string(jname), name) != 0) {
        set_aside(m, file, "not a VM definition (name, uuid, config) for this file name");
        return 0;
    }
    char err[512];
    ResolvedConfig rc = {0};
    if (vm_config_load_json(json_object_to_json_string_ext(jcfg, JSON_C_TO_STRING_PLAIN), &rc, err,
                            sizeof(err)) < 0) {
        set_aside(m, file, err);
        return 0;
    }
    Vm *vm = NULL;
    r = vm_new(m, name, json_object_get_string(juuid), rc.json, &vm);
    resolved_config_free(&rc);
    if (r < 0)
        return r;
    vm->vcpus = rc.vcpus;
    vm->memory_size = rc.memory_size;
    vm->memory_max = rc.memory_max;
    vm->autostart = json_object_object_get_ex(o, "autostart", &jauto) && json_object_get_boolean(jauto);
    r = manager_add_vm(m, vm);
    if (r < 0) {
        vm_free(vm);
        return r;
    }
    return 0;
}

static bool has_suffix(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a > b && strcmp(s + a - b, suffix) == 0;
}

int manager_load(Manager *m)
{
    DIR *d = opendir(m->state_dir);
    if (!d)
        return log_error_errno(-errno, "cannot open the state directory %s: %s", m->state_dir,
                               strerror(errno));
    struct dirent *de;
    int r = 0;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.' && has_suffix(de->d_name, ".tmp")) {
            /* A write that never finished: the previous version is intact. */
            _cleanup_free_ char *p = NULL;
            if (asprintf(&p, "%s/%s", m->state_dir, de->d_name) >= 0)
                (void)unlink(p);
            continue;
        }
        if (!has_suffix(de->d_name, ".json"))
            continue;
        r = load_one(m, de->d_name);
        if (r < 0)
            break;
    }
    closedir(d);
    if (r >= 0)
        log_info("loaded %zu VM definition%s from %s", m->n_vms, m->n_vms == 1 ? "" : "s", m->state_dir);
    return r;
}

/* ------------------------------------------------------------ startup */

static void manager_ready(Manager *m)
{
    if (m->ready)
        return;
    m->ready = true;
    /* Objects first, then the name: a client that sees the name sees the
     * objects, adopted ones in their real state. */
    int r = sd_bus_request_name(m->bus, VMM_BUS_NAME, 0);
    if (r < 0) {
        log_error("cannot own %s: %s (another vmmd, or the bus policy refuses)", VMM_BUS_NAME, strerror(-r));
        (void)sd_event_exit(m->event, r);
        return;
    }
    log_info("vmmd %s ready: %zu VMs (%zu running), state %s, runtime %s, vmm %s", VMM_VERSION, m->n_vms,
             m->n_running, m->state_dir, m->runtime_dir, m->vmm_path);
    (void)sd_notify(false, "READY=1");
    manager_update_status(m);

    /* After adoption, so a VM whose VMM survived is not started twice. */
    for (size_t i = 0; i < m->n_vms; i++) {
        Vm *vm = m->vms[i];
        if (!vm->autostart || vm_state_is_active(vm->state))
            continue;
        _cleanup_bus_error_ sd_bus_error error = SD_BUS_ERROR_NULL;
        log_info("VM %s: Autostart", vm->name);
        r = vm_start(vm, NULL, &error);
        if (r < 0 || sd_bus_error_is_set(&error))
            log_error("VM %s: Autostart failed: %s", vm->name,
                      sd_bus_error_is_set(&error) ? error.message : strerror(-r));
    }
}

void manager_adoption_settled(Manager *m)
{
    if (m->n_adopting > 0)
        m->n_adopting--;
    if (m->n_adopting == 0)
        manager_ready(m);
}

int manager_start(Manager *m)
{
    for (size_t i = 0; i < m->n_vms; i++) {
        int r = vm_adopt(m->vms[i]);
        if (r < 0)
            return log_error_errno(r, "cannot adopt VM %s: %s", m->vms[i]->name, strerror(-r));
    }
    if (m->n_adopting == 0)
        manager_ready(m);
    else
        log_info("reconnecting to %zu VMM%s left running", m->n_adopting, m->n_adopting == 1 ? "" : "s");
    return 0;
}

/* ------------------------------------------------------- org.vmm.Manager */

int manager_emit_vms_changed(Manager *m)
{
    return sd_bus_emit_properties_changed(m->bus, VMM_MANAGER_PATH, VMM_MANAGER_INTERFACE, "VMs", NULL);
}

static int check_name(const char *name, sd_bus_error *error)
{
    if (!vm_name_is_valid(name))
        return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                 "invalid VM name '%.80s%s': use 1-%d characters from A-Z a-z 0-9 _ . -",
                                 name, strlen(name) > 80 ? "..." : "", VM_NAME_MAX);
    return 0;
}

static int lookup(Manager *m, const char *name, Vm **ret, sd_bus_error *error)
{
    int r = check_name(name, error);
    if (r < 0)
        return r;
    *ret = manager_find_vm(m, name);
    if (!*ret)
        return sd_bus_error_setf(error, VMM_ERROR_NOT_FOUND,
                                 "no VM named '%s'; ListVMs shows the defined ones", name);
    return 0;
}

static int check_vm_count(Manager *m, sd_bus_error *error)
{
    if (m->n_vms >= m->limits.max_vms)
        return sd_bus_error_setf(error, VMM_ERROR_LIMIT_EXCEEDED,
                                 "vmmd holds %zu VMs, as many as it may (vmmd --max-vms); delete one first",
                                 m->n_vms);
    return 0;
}

/* Consumes rc. */
static int create_vm(sd_bus_message *msg, Manager *m, const char *name, ResolvedConfig *rc,
                     sd_bus_error *error)
{
    char uuid[37];
    sd_id128_t id;
    Vm *vm = NULL;

    int r = sd_id128_randomize(&id);
    if (r < 0)
        goto out;
    /* RFC 4122 version 4 (random), variant 1. */
    id.bytes[6] = (id.bytes[6] & 0x0f) | 0x40;
    id.bytes[8] = (id.bytes[8] & 0x3f) | 0x80;
    format_uuid(id, uuid);
    r = vm_new(m, name, uuid, rc->json, &vm);
    if (r < 0)
        goto out;
    vm->vcpus = rc->vcpus;
    vm->memory_size = rc->memory_size;
    vm->memory_max = rc->memory_max;
    r = vm_save(vm);
    if (r < 0) {
        r = sd_bus_error_setf(error, SD_BUS_ERROR_IO_ERROR, "cannot save VM %s under %s: %s", name,
                              m->state_dir, strerror(-r));
        goto out;
    }
    r = manager_add_vm(m, vm);
    if (r < 0) {
        (void)vm_remove_files(vm);
        goto out;
    }
    log_info("VM %s created (%s)", name, uuid);
    (void)sd_bus_emit_object_added(m->bus, vm->path);
    (void)sd_bus_emit_signal(m->bus, VMM_MANAGER_PATH, VMM_MANAGER_INTERFACE, "VMCreated", "so", vm->name,
                             vm->path);
    (void)manager_emit_vms_changed(m);
    manager_update_status(m);
    r = sd_bus_reply_method_return(msg, "o", vm->path);
    vm = NULL;
out:
    vm_free(vm);
    resolved_config_free(rc);
    return r;
}

static int method_create_vm(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
    Manager *m = userdata;
    const char *name, *json;
    ResolvedConfig rc = {0};

    int r = sd_bus_message_read(msg, "ss", &name, &json);
    if (r < 0)
        return r;
    if ((r = check_name(name, error)) < 0)
        return r;
    if (manager_find_vm(m, name))
        return sd_bus_error_setf(error, VMM_ERROR_ALREADY_EXISTS, "a VM named '%s' exists already", name);
    if ((r = check_vm_count(m, error)) < 0)
        return r;
    r = vm_config_resolve_json(json, m->limits.max_config_size, &rc, error);
    if (r < 0)
        return r;
    return create_vm(msg, m, name, &rc, error);
}

static void strv_free(char **l)
{
    for (char **p = l; p && *p; p++)
        free(*p);
    free(l);
}

static int method_create_vm_from_args(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
    Manager *m = userdata;
    const char *name;
    char **args = NULL;
    ResolvedConfig rc = {0};

    int r = sd_bus_message_read(msg, "s", &name);
    if (r < 0)
        return r;
    r = sd_bus_message_read_strv(msg, &args);
    if (r < 0)
        return r;
    if ((r = check_name(name, error)) < 0)
        goto out;
    if (manager_find_vm(m, name)) {
        r = sd_bus_error_setf(error, VMM_ERROR_ALREADY_EXISTS, "a VM named '%s' exists already", name);
        goto out;
    }
    if ((r = check_vm_count(m, error)) < 0)
        goto out;
    r = vm_config_resolve_args(args, m->limits.max_config_size, m->limits.max_args, &rc, error);
    if (r >= 0)
        r = create_vm(msg, m, name, &rc, error);
out:
    strv_free(args);
    return r;
}

static int method_list_vms(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
    Manager *m = userdata;
    _cleanup_bus_msg_ sd_bus_message *reply = NULL;
    (void)error;
    int r = sd_bus_message_new_method_return(msg, &reply);
    if (r < 0)
        return r;
    r = sd_bus_message_open_container(reply, 'a', "(sso)");
    for (size_t i = 0; r >= 0 && i < m->n_vms; i++)
        r = sd_bus_message_append(reply, "(sso)", m->vms[i]->name, vm_state_to_string(m->vms[i]->state),
                                  m->vms[i]->path);
    if (r >= 0)
        r = sd_bus_message_close_container(reply);
    if (r < 0)
        return r;
    return sd_bus_send(NULL, reply, NULL);
}

static int method_get_vm(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
    const char *name;
    Vm *vm;
    int r = sd_bus_message_read(msg, "s", &name);
    if (r < 0)
        return r;
    if ((r = lookup(userdata, name, &vm, error)) < 0)
        return r;
    return sd_bus_reply_method_return(msg, "o", vm->path);
}

static int method_delete_vm(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
    Manager *m = userdata;
    const char *name;
    Vm *vm;
    int r = sd_bus_message_read(msg, "s", &name);
    if (r < 0)
        return r;
    if ((r = lookup(m, name, &vm, error)) < 0)
        return r;
    if (vm_state_is_active(vm->state))
        return sd_bus_error_setf(error, VMM_ERROR_INVALID_STATE,
                                 "VM %s is %s: PowerOff (or Shutdown) it before deleting it", vm->name,
                                 vm_state_to_string(vm->state));
    r = vm_remove_files(vm);
    if (r < 0)
        return sd_bus_error_setf(error, SD_BUS_ERROR_IO_ERROR, "cannot remove the definition of VM %s: %s",
                                 vm->name, strerror(-r));
    log_info("VM %s deleted", vm->name);
    /* InterfacesRemoved lists the object's interfaces: it must still exist. */
    (void)sd_bus_emit_object_removed(m->bus, vm->path);
    manager_remove_vm(m, vm);
    (void)sd_bus_emit_signal(m->bus, VMM_MANAGER_PATH, VMM_MANAGER_INTERFACE, "VMDeleted", "so", vm->name,
                             vm->path);
    (void)manager_emit_vms_changed(m);
    manager_update_status(m);
    vm_free(vm);
    return sd_bus_reply_method_return(msg, NULL);
}

/* Restores a defined VM from a snapshot taken of it: its definition (and so
 * the files vmmd opens for it) is vmmd's own, trusted one; the snapshot
 * directory, which the VMM user could write, only supplies state. */
static int method_restore_vm(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
    const char *name, *url;
    Vm *vm;
    int r = sd_bus_message_read(msg, "ss", &name, &url);
    if (r < 0)
        return r;
    if ((r = lookup(userdata, name, &vm, error)) < 0)
        return r;
    if (strncmp(url, "file:///", 8) != 0)
        return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                 "source_url must be file:///absolute/path, not '%.200s'", url);
    if (vm_state_is_active(vm->state))
        return sd_bus_error_setf(error, VMM_ERROR_INVALID_STATE,
                                 "VM %s is %s: a VM is restored in place of a start, not while a VMM runs it",
                                 vm->name, vm_state_to_string(vm->state));
    _cleanup_free_ char *vmm_url = NULL;
    if ((r = vm_snapshot_url(vm, url, false, &vmm_url, error)) < 0)
        return r;
    return vm_restore(vm, msg, vmm_url, error);
}

static int property_get_vms(sd_bus *bus, const char *path, const char *interface, const char *property,
                            sd_bus_message *reply, void *userdata, sd_bus_error *error)
{
    Manager *m = userdata;
    (void)bus, (void)path, (void)interface, (void)property, (void)error;
    int r = sd_bus_message_open_container(reply, 'a', "o");
    for (size_t i = 0; r >= 0 && i < m->n_vms; i++)
        r = sd_bus_message_append(reply, "o", m->vms[i]->path);
    if (r < 0)
        return r;
    return sd_bus_message_close_container(reply);
}

static int property_get_hypervisor(sd_bus *bus, const char *path, const char *interface, const char *property,
                                   sd_bus_message *reply, void *userdata, sd_bus_error *error)
{
    (void)bus, (void)path, (void)interface, (void)property, (void)userdata, (void)error;
    return sd_bus_message_append(reply, "b", hypervisor_available());
}

static int property_get_version(sd_bus *bus, const char *path, const char *interface, const char *property,
                                sd_bus_message *reply, void *userdata, sd_bus_error *error)
{
    (void)bus, (void)path, (void)interface, (void)property, (void)userdata, (void)error;
    return sd_bus_message_append(reply, "s", VMM_VERSION);
}

static const sd_bus_vtable manager_vtable[] = {
    SD_BUS_VTABLE_START(0),
    SD_BUS_PROPERTY("Version", "s", property_get_version, 0, SD_BUS_VTABLE_PROPERTY_CONST),
    SD_BUS_PROPERTY("VMs", "ao", property_get_vms, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
    SD_BUS_PROPERTY("HypervisorAvailable", "b", property_get_hypervisor, 0, 0),
    SD_BUS_METHOD_WITH_NAMES("CreateVM", "ss", SD_BUS_PARAM(name) SD_BUS_PARAM(config_json), "o",
                             SD_BUS_PARAM(vm), method_create_vm, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_NAMES("CreateVMFromArgs", "sas", SD_BUS_PARAM(name) SD_BUS_PARAM(args), "o",
                             SD_BUS_PARAM(vm), method_create_vm_from_args, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_NAMES("ListVMs", "", , "a(sso)", SD_BUS_PARAM(vms), method_list_vms,
                             SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_NAMES("GetVM", "s", SD_BUS_PARAM(name), "o", SD_BUS_PARAM(vm), method_get_vm,
                             SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_NAMES("DeleteVM", "s", SD_BUS_PARAM(name), "", , method_delete_vm,
                             SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_NAMES("RestoreVM", "ss", SD_BUS_PARAM(name) SD_BUS_PARAM(source_url), "o",
                             SD_BUS_PARAM(vm), method_restore_vm, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_SIGNAL_WITH_NAMES("VMCreated", "so", SD_BUS_PARAM(name) SD_BUS_PARAM(vm), 0),
    SD_BUS_SIGNAL_WITH_NAMES("VMDeleted", "so", SD_BUS_PARAM(name) SD_BUS_PARAM(vm), 0),
    SD_BUS_VTABLE_END,
};

int manager_bus_register(Manager *m)
{
    int r = sd_bus_add_object_manager(m->bus, NULL, VMM_OBJECT_ROOT);
    if (r < 0)
        return log_error_errno(r, "cannot add the object manager: %s", strerror(-r));
    r = sd_bus_add_object_vtable(m->bus, NULL, VMM_MANAGER_PATH, VMM_MANAGER_INTERFACE, manager_vtable, m);
    if (r < 0)
        return log_error_errno(r, "cannot add the Manager object: %s", strerror(-r));
    r = sd_bus_add_fallback_vtable(m->bus, NULL, VMM_VM_PREFIX, VMM_VM_INTERFACE, vm_vtable, vm_object_find,
                                   m);
    if (r < 0)
        return log_error_errno(r, "cannot add the VM objects: %s", strerror(-r));
    r = sd_bus_add_node_enumerator(m->bus, NULL, VMM_VM_PREFIX, vm_node_enumerator, m);
    if (r < 0)
        return log_error_errno(r, "cannot add the VM enumerator: %s", strerror(-r));
    return 0;
}
