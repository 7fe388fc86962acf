/* SPDX-License-Identifier: Apache-2.0 */
#include "vm.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "util.h"

static const char *const vm_state_table[_VM_STATE_MAX] = {
    [VM_STATE_CREATED] = "created",
    [VM_STATE_STARTING] = "starting",
    [VM_STATE_RUNNING] = "running",
    [VM_STATE_PAUSED] = "paused",
    [VM_STATE_SHUTTING_DOWN] = "shutting-down",
    [VM_STATE_SHUTDOWN] = "shutdown",
    [VM_STATE_CRASHED] = "crashed",
};

const char *vm_state_to_string(VmState s)
{
    return s < _VM_STATE_MAX ? vm_state_table[s] : NULL;
}

int vm_state_from_string(const char *s, VmState *ret)
{
    for (VmState i = 0; i < _VM_STATE_MAX; i++) {
        if (strcmp(vm_state_table[i], s) == 0) {
            *ret = i;
            return 0;
        }
    }
    return -EINVAL;
}

bool vm_state_is_active(VmState s)
{
    return s == VM_STATE_STARTING || s == VM_STATE_RUNNING || s == VM_STATE_PAUSED ||
           s == VM_STATE_SHUTTING_DOWN;
}

int vm_new(Manager *m, const char *name, const char *uuid, const char *config_json, Vm **ret)
{
    Vm *vm = calloc(1, sizeof(*vm));
    if (!vm)
        return -ENOMEM;
    vm->manager = m;
    vm->pidfd = -1;
    vm->state = VM_STATE_CREATED;
    vm->name = strdup(name);
    vm->uuid = strdup(uuid);
    vm->config_json = strdup(config_json);
    int r = sd_bus_path_encode(VMM_VM_PREFIX, name, &vm->path);
    if (r < 0 || !vm->name || !vm->uuid || !vm->config_json) {
        vm_free(vm);
        return r < 0 ? r : -ENOMEM;
    }
    *ret = vm;
    return 0;
}

void vm_free(Vm *vm)
{
    if (!vm)
        return;
    vmm_conn_free(vm->api);
    vmm_conn_free(vm->events);
    sd_event_source_disable_unref(vm->pidfd_source);
    sd_event_source_disable_unref(vm->boot_timer);
    sd_event_source_disable_unref(vm->kill_timer);
    if (vm->pidfd >= 0)
        close(vm->pidfd);
    sd_bus_message_unref(vm->start_call);
    for (size_t i = 0; i < vm->n_exit_calls; i++)
        sd_bus_message_unref(vm->exit_calls[i]);
    free(vm->exit_calls);
    free(vm->name);
    free(vm->path);
    free(vm->uuid);
    free(vm->config_json);
    free(vm->console_path);
    free(vm->exit_reason);
    free(vm);
}

int vm_save(Vm *vm)
{
    _cleanup_json_ json_object *o = json_object_new_object();
    _cleanup_json_ json_object *cfg = json_tokener_parse(vm->config_json);
    _cleanup_free_ char *file = NULL;
    if (!o || !cfg)
        return -ENOMEM;
    json_object_object_add(o, "name", json_object_new_string(vm->name));
    json_object_object_add(o, "uuid", json_object_new_string(vm->uuid));
    json_object_object_add(o, "autostart", json_object_new_boolean(vm->autostart));
    json_object_object_add(o, "config", TAKE_PTR(cfg));
    const char *text =
        json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE);
    if (asprintf(&file, "%s.json", vm->name) < 0)
        return -ENOMEM;
    /* A definition may name disk images and kernels: readable by root only. */
    int r = write_file_atomic(vm->manager->state_dir, file, text, strlen(text), 0600);
    if (r < 0)
        log_error("cannot save VM %s to %s/%s: %s", vm->name, vm->manager->state_dir, file, strerror(-r));
    return r;
}

static void unlink_runtime(Vm *vm, const char *suffix)
{
    _cleanup_free_ char *p = NULL;
    if (asprintf(&p, "%s/%s%s", vm->manager->runtime_dir, vm->name, suffix) >= 0)
        (void)unlink(p);
}

int vm_remove_files(Vm *vm)
{
    _cleanup_free_ char *p = NULL;
    if (asprintf(&p, "%s/%s.json", vm->manager->state_dir, vm->name) < 0)
        return -ENOMEM;
    int r = unlink(p) < 0 && errno != ENOENT ? -errno : 0;
    unlink_runtime(vm, ".sock");
    unlink_runtime(vm, ".config.json");
    unlink_runtime(vm, ".log");
    /* The snapshot directory goes with the VM when empty; snapshots taken
     * are the caller's to keep or delete. */
    _cleanup_free_ char *snaps = NULL;
    if (asprintf(&snaps, "%s/snapshots", vm->manager->state_dir) >= 0) {
        _cleanup_free_ char *dir = NULL;
        if (asprintf(&dir, "%s/%s", snaps, vm->name) >= 0)
            (void)rmdir(dir);
        (void)rmdir(snaps);
    }
    return r;
}

int vm_set_state(Vm *vm, VmState s)
{
    if (vm->state == s)
        return 0;
    bool was_active = vm_state_is_active(vm->state);
    log_info("VM %s: %s -> %s", vm->name, vm_state_to_string(vm->state), vm_state_to_string(s));
    vm->state = s;
    if (was_active != vm_state_is_active(s)) {
        if (was_active)
            vm->manager->n_running--;
        else
            vm->manager->n_running++;
        manager_update_status(vm->manager);
    }
    /* A VMM decides how often its state changes (vm/paused, vm/resumed...),
     * so these are bounded like its Events. */
    if (!limits_may_emit_signal(vm->manager))
        return 0;
    return sd_bus_emit_properties_changed(vm->manager->bus, vm->path, VMM_VM_INTERFACE, "State", NULL);
}
