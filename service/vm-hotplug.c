/* SPDX-License-Identifier: Apache-2.0 */
/*
 * AddDisk, AddNet and RemoveDevice: devices hot-plugged into a running VM;
 * ResizeVCPUs: vCPUs added to it or taken away; ResizeMemory: RAM plugged.
 * vmmd opens the image or tap as at Start (the VMM cannot: it runs
 * unprivileged) and sends the descriptors with vm.add-disk / vm.add-net;
 * the stored definition follows each change, so the next Start has the
 * same devices. Everything is asynchronous: the D-Bus reply waits for the
 * VMM's, never vmmd.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "bus_errors.h"
#include "util.h"
#include "vm-config.h"
#include "vm.h"

/* The VMM names a disk, net or vsock without an id by its place at boot
 * ("_disk0", "_net1", "_vsock"); after a removal the places shift. Writing
 * those ids into the definition keeps its entries paired with the running
 * VMM's devices, and the next Start gives them the same ids. */
static void materialize_ids(json_object *doc)
{
    static const struct {
        const char *member, *prefix;
    } lists[] = {{"disks", "_disk"}, {"net", "_net"}};
    json_object *list, *id;
    for (size_t k = 0; k < ARRAY_SIZE(lists); k++) {
        if (!json_object_object_get_ex(doc, lists[k].member, &list) ||
            !json_object_is_type(list, json_type_array))
            continue;
        for (size_t i = 0; i < json_object_array_length(list); i++) {
            json_object *e = json_object_array_get_idx(list, i);
            if (json_object_object_get_ex(e, "id", &id) && json_object_is_type(id, json_type_string))
                continue;
            char text[32];
            snprintf(text, sizeof(text), "%s%zu", lists[k].prefix, i);
            json_object_object_add(e, "id", json_object_new_string(text));
        }
    }
    json_object *vsock;
    if (json_object_object_get_ex(doc, "vsock", &vsock) && json_object_is_type(vsock, json_type_object) &&
        !(json_object_object_get_ex(vsock, "id", &id) && json_object_is_type(id, json_type_string)))
        json_object_object_add(vsock, "id", json_object_new_string("_vsock"));
}

/* vm->config_json as an object with every device's id written in. */
static json_object *definition(Vm *vm)
{
    json_object *doc = json_tokener_parse(vm->config_json);
    if (doc && json_object_is_type(doc, json_type_object)) {
        materialize_ids(doc);
        return doc;
    }
    json_object_put(doc);
    return NULL;
}

/* Makes doc the definition: stored (atomically, vm_save) and announced. */
static int commit_definition(Vm *vm, json_object *doc)
{
    char *text = strdup(json_object_to_json_string_ext(doc, JSON_C_TO_STRING_PLAIN));
    if (!text)
        return -ENOMEM;
    char *old = vm->config_json;
    vm->config_json = text;
    int r = vm_save(vm);
    if (r < 0) {
        vm->config_json = old;
        free(text);
        return r;
    }
    free(old);
    (void)sd_bus_emit_properties_changed(vm->manager->bus, vm->path, VMM_VM_INTERFACE, "Config", NULL);
    return 0;
}

static bool live(const Vm *vm)
{
    return vm->api && (vm->state == VM_STATE_RUNNING || vm->state == VM_STATE_PAUSED);
}

static int not_live(Vm *vm, const char *what, sd_bus_error *error)
{
    return sd_bus_error_setf(error, VMM_ERROR_INVALID_STATE,
                             "cannot %s VM %s: it is %s; only a running or paused VM takes hotplug", what,
                             vm->name, vm_state_to_string(vm->state));
}

/* ---------------------------------------------------------------- vCPUs */

typedef struct Resizing {
    Vm *vm;
    sd_bus_message *call;
    uint32_t vcpus;
} Resizing;

int vm_vcpus_changed(Vm *vm, uint32_t vcpus)
{
    if (vcpus == vm->vcpus)
        return 0;
    if (vcpus == 0)
        return -ERANGE;
    _cleanup_json_ json_object *doc = definition(vm);
    json_object *cpus = NULL, *max = NULL;
    if (!doc || !json_object_object_get_ex(doc, "cpus", &cpus) ||
        !json_object_is_type(cpus, json_type_object) || !json_object_object_get_ex(cpus, "max_vcpus", &max))
        return -ENOMEM;
    /* The VMM's word, within what the definition allows. */
    if (vcpus > (uint64_t)json_object_get_int64(max))
        return -ERANGE;
    json_object_object_add(cpus, "boot_vcpus", json_object_new_uint64(vcpus));
    int r = commit_definition(vm, doc);
    if (r < 0)
        return r;
    vm->vcpus = vcpus;
    (void)sd_bus_emit_properties_changed(vm->manager->bus, vm->path, VMM_VM_INTERFACE, "VCPUs", NULL);
    return 0;
}

static void on_vcpus_resized(int error, const char *code, const char *message, json_object *result,
                             void *userdata)
{
    Resizing *z = userdata;
    Vm *vm = z->vm;
    (void)result;
    /* More vCPUs run in the guest once the VMM answers; fewer only once the
     * guest ejected them (vm/resized, vm_vcpus_changed()). */
    int r = error < 0 || z->vcpus < vm->vcpus ? 0 : vm_vcpus_changed(vm, z->vcpus);
    if (error < 0)
        vm_reply_failed(vm, z->call, "vm.resize", error, code, message);
    else if (r < 0)
        (void)sd_bus_reply_method_errorf(z->call, VMM_ERROR_VMM_FAILED,
                                         "VM %s: it runs %u vCPUs, but the definition cannot be saved: %s",
                                         vm->name, z->vcpus, strerror(-r));
    else
        (void)sd_bus_reply_method_return(z->call, NULL);
    sd_bus_message_unref(z->call);
    free(z);
}

int vm_resize_vcpus(Vm *vm, sd_bus_message *m, sd_bus_error *error)
{
    uint32_t vcpus;
    int r = sd_bus_message_read(m, "u", &vcpus);
    if (r < 0)
        return r;
    if (vcpus == 0)
        return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "a VM needs at least one vCPU");
    if (!live(vm))
        return not_live(vm, "resize the vCPUs of", error);
    _cleanup_json_ json_object *doc = definition(vm);
    json_object *cpus = NULL, *max = NULL;
    if (!doc || !json_object_object_get_ex(doc, "cpus", &cpus) ||
        !json_object_object_get_ex(cpus, "max_vcpus", &max))
        return -ENOMEM;
    if (vcpus > (uint64_t)json_object_get_int64(max))
        return sd_bus_error_setf(error, VMM_ERROR_INVALID_CONFIG,
                                 "VM %s: %u vCPUs is more than its cpus.max_vcpus (%" PRId64 ")", vm->name,
                                 vcpus, json_object_get_int64(max));
    _cleanup_json_ json_object *args = json_object_new_object();
    Resizing *z = calloc(1, sizeof(*z));
    if (!args || !z || json_object_object_add(args, "desired_vcpus", json_object_new_uint64(vcpus)) < 0) {
        free(z);
        return -ENOMEM;
    }
    *z = (Resizing){.vm = vm, .call = sd_bus_message_ref(m), .vcpus = vcpus};
    r = vmm_conn_call(vm->api, "vm.resize", args, VMM_REQUEST_TIMEOUT_USEC, on_vcpus_resized, z);
    if (r < 0) {
        sd_bus_message_unref(z->call);
        free(z);
        return vm_send_failed(vm, "vm.resize", r, error);
    }
    return 1;
}

/* --------------------------------------------------------------- memory */

typedef struct Growing {
    Vm *vm;
    sd_bus_message *call;
    uint64_t bytes;
} Growing;

static void on_memory_resized(int error, const char *code, const char *message, json_object *result,
                              void *userdata)
{
    Growing *g = userdata;
    Vm *vm = g->vm;
    (void)result;
    if (error < 0) {
        vm_reply_failed(vm, g->call, "vm.resize", error, code, message);
    } else {
        /* The memory is the guest's now: the definition boots with it. */
        _cleanup_json_ json_object *doc = definition(vm);
        json_object *memory = NULL, *size = NULL;
        int r = doc && json_object_object_get_ex(doc, "memory", &memory) &&
                        json_object_object_get_ex(memory, "size", &size) &&
                        (uint64_t)json_object_get_int64(size) <= g->bytes
                    ? 0
                    : -ENOMEM;
        if (r == 0) {
            json_object_object_add(memory, "hotplugged_size",
                                   json_object_new_uint64(g->bytes - (uint64_t)json_object_get_int64(size)));
            r = commit_definition(vm, doc);
        }
        if (r < 0) {
            (void)sd_bus_reply_method_errorf(g->call, VMM_ERROR_VMM_FAILED,
                                             "VM %s: it has %" PRIu64
                                             " bytes of RAM, but the definition cannot be saved: %s",
                                             vm->name, g->bytes, strerror(-r));
        } else {
            vm->memory_size = g->bytes;
            (void)sd_bus_emit_properties_changed(vm->manager->bus, vm->path, VMM_VM_INTERFACE, "MemorySize",
                                                 NULL);
            (void)sd_bus_reply_method_return(g->call, NULL);
        }
    }
    sd_bus_message_unref(g->call);
    free(g);
}

int vm_resize_memory(Vm *vm, sd_bus_message *m, sd_bus_error *error)
{
    uint64_t bytes;
    int r = sd_bus_message_read(m, "t", &bytes);
    if (r < 0)
        return r;
    if (!live(vm))
        return not_live(vm, "resize the memory of", error);
    if (vm->memory_max == vm->memory_size && bytes != vm->memory_size)
        return sd_bus_error_setf(error, VMM_ERROR_NOT_SUPPORTED,
                                 "VM %s has no hot-pluggable memory left (memory.hotplug_size)", vm->name);
    if (bytes < vm->memory_size)
        return sd_bus_error_setf(error, VMM_ERROR_NOT_SUPPORTED,
                                 "VM %s has %" PRIu64 " bytes of RAM: memory is never unplugged (ResizeBalloon "
                                 "gives some back)",
                                 vm->name, vm->memory_size);
    if (bytes > vm->memory_max)
        return sd_bus_error_setf(error, VMM_ERROR_INVALID_CONFIG,
                                 "VM %s: %" PRIu64 " bytes is more than its memory.size plus hotplug_size (%" PRIu64
                                 ")",
                                 vm->name, bytes, vm->memory_max);
    _cleanup_json_ json_object *args = json_object_new_object();
    Growing *g = calloc(1, sizeof(*g));
    if (!args || !g || json_object_object_add(args, "desired_ram", json_object_new_uint64(bytes)) < 0) {
        free(g);
        return -ENOMEM;
    }
    *g = (Growing){.vm = vm, .call = sd_bus_message_ref(m), .bytes = bytes};
    r = vmm_conn_call(vm->api, "vm.resize", args, VMM_REQUEST_TIMEOUT_USEC, on_memory_resized, g);
    if (r < 0) {
        sd_bus_message_unref(g->call);
        free(g);
        return vm_send_failed(vm, "vm.resize", r, error);
    }
    return 1;
}

/* --------------------------------------------------------------- adding */

typedef struct Adding {
    Vm *vm;
    sd_bus_message *call;
    const char *member; /* "disks" or "net" */
    json_object *entry; /* the resolved entry with its own path, to store */
} Adding;

static void on_added(int error, const char *code, const char *message, json_object *result, void *userdata)
{
    Adding *a = userdata;
    Vm *vm = a->vm;
    const char *action = strcmp(a->member, "net") == 0 ? "vm.add-net" : "vm.add-disk";
    json_object *id = NULL;

    if (error < 0)
        vm_reply_failed(vm, a->call, action, error, code, message);
    else if (!result || !json_object_object_get_ex(result, "id", &id) ||
             !json_object_is_type(id, json_type_string))
        (void)sd_bus_reply_method_errorf(a->call, VMM_ERROR_VMM_FAILED, "VM %s: %s: the VMM answered no id",
                                         vm->name, action);
    else {
        /* The device exists in the guest now: the definition follows, with
         * the id the VMM gave it (its default id when the entry had none). */
        _cleanup_json_ json_object *doc = definition(vm);
        json_object *list = NULL;
        int r = doc ? 0 : -ENOMEM;
        if (r == 0 && (!json_object_object_get_ex(doc, a->member, &list) ||
                       !json_object_is_type(list, json_type_array))) {
            list = json_object_new_array();
            json_object_object_add(doc, a->member, list);
        }
        if (r == 0) {
            json_object_object_add(a->entry, "id", json_object_new_string(json_object_get_string(id)));
            json_object_array_add(list, json_object_get(a->entry));
            r = commit_definition(vm, doc);
        }
        if (r < 0)
            (void)sd_bus_reply_method_errorf(
                a->call, VMM_ERROR_VMM_FAILED,
                "VM %s: %s is plugged in, but the definition cannot be saved: %s", vm->name,
                json_object_get_string(id), strerror(-r));
        else
            (void)sd_bus_reply_method_return(a->call, "s", json_object_get_string(id));
    }
    sd_bus_message_unref(a->call);
    json_object_put(a->entry);
    free(a);
}

static int add_device(Vm *vm, sd_bus_message *m, const char *member, sd_bus_error *error)
{
    bool net = strcmp(member, "net") == 0;
    const char *text;
    int r = sd_bus_message_read(m, "s", &text);
    if (r < 0)
        return r;
    if (strlen(text) > vm->manager->limits.max_config_size)
        return sd_bus_error_setf(error, VMM_ERROR_INVALID_CONFIG, "the %s is more than %zu bytes",
                                 net ? "net" : "disk", vm->manager->limits.max_config_size);
    _cleanup_json_ json_object *given = json_tokener_parse(text);
    if (!given || !json_object_is_type(given, json_type_object))
        return sd_bus_error_setf(error, VMM_ERROR_INVALID_CONFIG, "the %s must be a JSON object (%s)",
                                 net ? "net" : "disk", net ? "NetConfig" : "DiskConfig");
    if (!live(vm))
        return not_live(vm, net ? "add a net to" : "add a disk to", error);

    /* The definition with the entry must pass the same validation as at
     * CreateVM (unique ids and paths, known fields); its resolved form,
     * defaults filled in, is what gets stored. */
    _cleanup_json_ json_object *doc = definition(vm);
    json_object *list = NULL;
    if (!doc)
        return -ENOMEM;
    if (!json_object_object_get_ex(doc, member, &list) || !json_object_is_type(list, json_type_array)) {
        list = json_object_new_array();
        json_object_object_add(doc, member, list);
    }
    json_object_array_add(list, json_object_get(given));
    size_t index = json_object_array_length(list) - 1;
    _cleanup_(resolved_config_free) ResolvedConfig rc = {0};
    r = vm_config_resolve_json(json_object_to_json_string_ext(doc, JSON_C_TO_STRING_PLAIN), SIZE_MAX, &rc,
                               error);
    if (r < 0)
        return r;
    _cleanup_json_ json_object *resolved = json_tokener_parse(rc.json);
    json_object *entry = NULL;
    if (!resolved || !json_object_object_get_ex(resolved, member, &list) ||
        !(entry = json_object_array_get_idx(list, index)))
        return -ENOMEM;

    VmmFiles files;
    char why[512];
    r = vmm_files_open_device(member, json_object_to_json_string_ext(entry, JSON_C_TO_STRING_PLAIN), index,
                              &files, why, sizeof(why));
    if (r == -ENOMEM)
        return r;
    if (r < 0)
        return sd_bus_error_setf(error, VMM_ERROR_INVALID_CONFIG, "VM %s: %s", vm->name, why);
    _cleanup_json_ json_object *args = json_tokener_parse(files.config_json);
    Adding *a = calloc(1, sizeof(*a));
    if (!args || !a) {
        free(a);
        vmm_files_close(&files);
        return -ENOMEM;
    }
    a->vm = vm;
    a->call = sd_bus_message_ref(m);
    a->member = net ? "net" : "disks";
    a->entry = json_object_get(entry);
    /* The descriptors are the request's from here on. */
    int *fds = files.fds;
    size_t n_fds = files.n;
    files.n = 0;
    r = vmm_conn_call_fds(vm->api, net ? "vm.add-net" : "vm.add-disk", args, fds, n_fds,
                          VMM_REQUEST_TIMEOUT_USEC, on_added, a);
    vmm_files_close(&files);
    if (r < 0) {
        sd_bus_message_unref(a->call);
        json_object_put(a->entry);
        free(a);
        return vm_send_failed(vm, net ? "vm.add-net" : "vm.add-disk", r, error);
    }
    return 1;
}

int vm_add_disk(Vm *vm, sd_bus_message *m, sd_bus_error *error)
{
    return add_device(vm, m, "disks", error);
}

int vm_add_net(Vm *vm, sd_bus_message *m, sd_bus_error *error)
{
    return add_device(vm, m, "net", error);
}

/* ------------------------------------------------------------- removing */

/* The entry with that id: its list (or the vsock's parent) and place. */
static bool find_device(json_object *doc, const char *id, const char **member, size_t *index)
{
    json_object *list, *v;
    static const char *const lists[] = {"disks", "net"};
    for (size_t k = 0; k < ARRAY_SIZE(lists); k++) {
        if (!json_object_object_get_ex(doc, lists[k], &list) || !json_object_is_type(list, json_type_array))
            continue;
        for (size_t i = 0; i < json_object_array_length(list); i++)
            if (json_object_object_get_ex(json_object_array_get_idx(list, i), "id", &v) &&
                strcmp(json_object_get_string(v), id) == 0) {
                *member = lists[k];
                *index = i;
                return true;
            }
    }
    if (json_object_object_get_ex(doc, "vsock", &list) && json_object_object_get_ex(list, "id", &v) &&
        strcmp(json_object_get_string(v), id) == 0) {
        *member = "vsock";
        return true;
    }
    return false;
}

int vm_remove_device(Vm *vm, sd_bus_message *m, sd_bus_error *error)
{
    const char *id;
    int r = sd_bus_message_read(m, "s", &id);
    if (r < 0)
        return r;
    if (!live(vm))
        return not_live(vm, "remove a device from", error);
    _cleanup_json_ json_object *doc = definition(vm);
    const char *member;
    size_t index;
    if (!doc)
        return -ENOMEM;
    if (!find_device(doc, id, &member, &index))
        return sd_bus_error_setf(error, VMM_ERROR_NOT_FOUND,
                                 "VM %s has no disk, net or vsock with the id '%.64s'", vm->name, id);
    _cleanup_json_ json_object *args = json_object_new_object();
    if (!args || json_object_object_add(args, "id", json_object_new_string(id)) < 0)
        return -ENOMEM;
    /* Answered once the guest was asked; the definition changes when it
     * ejected the device (vm/device-removed, vm_device_removed). */
    return vm_request_args(vm, m, "vm.remove-device", args, VMM_REQUEST_TIMEOUT_USEC, error);
}

void vm_device_removed(Vm *vm, const char *id)
{
    _cleanup_json_ json_object *doc = definition(vm);
    const char *member;
    size_t index;
    if (!doc || !find_device(doc, id, &member, &index))
        return;
    if (strcmp(member, "vsock") == 0) {
        json_object_object_del(doc, "vsock");
    } else {
        json_object *list;
        json_object_object_get_ex(doc, member, &list);
        json_object_array_del_idx(list, index, 1);
    }
    int r = commit_definition(vm, doc);
    if (r < 0)
        log_error("VM %s: %s was removed, but the definition cannot be saved: %s", vm->name, id,
                  strerror(-r));
}
