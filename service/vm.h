/* SPDX-License-Identifier: Apache-2.0 */
/*
 * One VM: its persisted definition and, while it runs, its VMM process (a
 * pidfd), control channel and event stream.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "manager.h"
#include <json-c/json.h>

#include "vmm_conn.h"

typedef enum VmState {
    VM_STATE_CREATED,
    VM_STATE_STARTING,
    VM_STATE_RUNNING,
    VM_STATE_PAUSED,
    VM_STATE_SHUTTING_DOWN,
    VM_STATE_SHUTDOWN,
    VM_STATE_CRASHED,
    _VM_STATE_MAX,
} VmState;

const char *vm_state_to_string(VmState s);
int vm_state_from_string(const char *s, VmState *ret);
/* A VMM process exists in these states. */
bool vm_state_is_active(VmState s);

/* Timeouts for requests to a VMM (vmmd never waits without one). */
#define VMM_REQUEST_TIMEOUT_USEC  (10ULL * 1000000ULL)
#define VMM_BOOT_TIMEOUT_USEC     (30ULL * 1000000ULL)
#define VMM_SNAPSHOT_TIMEOUT_USEC (300ULL * 1000000ULL) /* vm.snapshot writes all of RAM first */
#define VMM_POWEROFF_TIMEOUT_USEC (10ULL * 1000000ULL)

struct Vm {
    Manager *manager;
    char *name;
    char *path; /* /org/vmm/vm/<escaped name> */
    char *uuid;
    char *config_json; /* the resolved configuration, compact JSON */
    uint32_t vcpus;
    uint64_t memory_size; /* guest RAM, hot-plugged memory included */
    uint64_t memory_max;  /* with all of hotplug_size: the VMM's address-space limit */
    bool autostart;

    VmState state;
    uint32_t pid; /* 0 when no VMM runs */
    char *console_path;
    uint64_t started_at; /* CLOCK_REALTIME usec of the last Start, 0 if never */
    char *exit_reason;

    /* While a VMM runs. */
    /* Our child's, reaped when SIGCHLD says it exited (vm_reap_if_exited),
     * or an adopted VMM's, watched by pidfd_source. */
    int pidfd;
    /* A VMM started by an earlier vmmd is not our child: its exit is seen
     * on its pidfd (no exit status) and its events come over the control
     * channel (events.subscribe). */
    bool adopted;
    bool adopting; /* vm.info not answered yet */
    sd_event_source *pidfd_source;
    bool shutdown_seen; /* the VMM emitted vm/shutdown */
    VmmConn *api;
    VmmConn *events;
    sd_event_source *boot_timer;
    sd_event_source *kill_timer;
    bool crash_reported; /* the VMM emitted vm/crashed */
    bool poweroff_requested;
    bool restoring; /* the VMM runs --restore: vm/restored ends the start, paused */
    bool killed_by_us;
    sd_bus_message *start_call;  /* Start's reply waits for vm/booted */
    sd_bus_message **exit_calls; /* PowerOff's replies wait for the exit */
    size_t n_exit_calls;
};

/* A new VM in state created, from a resolved configuration. */
int vm_new(Manager *m, const char *name, const char *uuid, const char *config_json, Vm **ret);
void vm_free(Vm *vm);

/* Writes the definition to <state-dir>/<name>.json atomically. */
int vm_save(Vm *vm);
/* Removes the definition file and the runtime files. */
int vm_remove_files(Vm *vm);

int vm_set_state(Vm *vm, VmState s);

/* The org.vmm.VM interface (vm-bus.c). */
extern const sd_bus_vtable vm_vtable[];
int vm_object_find(sd_bus *bus, const char *path, const char *interface, void *userdata, void **found,
                   sd_bus_error *error);
int vm_node_enumerator(sd_bus *bus, const char *path, void *userdata, char ***nodes, sd_bus_error *error);
int vm_emit_event(Vm *vm, const char *source, const char *event, const char *const *props, uint64_t usec);

/* Process control (vm-run.c). */
int vm_start(Vm *vm, sd_bus_message *m, sd_bus_error *error);
/* Reaps the VM's VMM if it is our child and has exited (on SIGCHLD). */
void vm_reap_if_exited(Vm *vm);
int vm_request(Vm *vm, sd_bus_message *m, const char *action, sd_bus_error *error);
/* The D-Bus error for a request that could not be sent to the VMM (r from
 * vmm_conn_call: -EBUSY when too many wait already). */
int vm_send_failed(Vm *vm, const char *action, int r, sd_bus_error *error);
/* Answers call with the D-Bus error for a failed VMM reply (error < 0 from
 * vmm_conn: -EREMOTEIO with the VMM's code and message, -ETIMEDOUT, or the
 * connection gone). */
void vm_reply_failed(Vm *vm, sd_bus_message *call, const char *action, int error, const char *code,
                     const char *message);
/* The same with the request's args (not consumed) and its own timeout. */
int vm_request_args(Vm *vm, sd_bus_message *m, const char *action, json_object *args, uint64_t timeout_usec,
                    sd_bus_error *error);
/* Starts the VMM restoring the VM from a snapshot (RestoreVM): the reply,
 * the object path, comes with vm/restored, the VM then paused. */
int vm_restore(Vm *vm, sd_bus_message *m, const char *source_url, sd_bus_error *error);
/* The URL the VMM is given for a snapshot `url` names: one directory
 * file://<state>/snapshots/<name>/NAME becomes file:///dev/fd/7/NAME (the
 * VMM's descriptor of that directory). Snapshot (create: the directory is
 * made for the VMM user) accepts nothing else; RestoreVM passes any other
 * URL as it is. Returns 0 with *ret, or an error set in `error`. */
int vm_snapshot_url(Vm *vm, const char *url, bool create, char **ret, sd_bus_error *error);
int vm_poweroff(Vm *vm, sd_bus_message *m, sd_bus_error *error);
int vm_query(Vm *vm, sd_bus_message *m, const char *action, sd_bus_error *error);

/* Hotplug (vm-hotplug.c): AddDisk and AddNet reply with the new device's
 * id once the VMM plugged it; RemoveDevice once the guest was asked to
 * eject it. vm_device_removed() drops an ejected device (vm/device-removed)
 * from the definition. */
int vm_add_disk(Vm *vm, sd_bus_message *m, sd_bus_error *error);
/* ResizeVCPUs(u): vm.resize desired_vcpus. More vCPUs: the definition's
 * boot_vcpus follows the VMM's answer; fewer: the guest is asked to eject
 * them, and vm_vcpus_changed() follows its vm/resized events. */
int vm_resize_vcpus(Vm *vm, sd_bus_message *m, sd_bus_error *error);
/* The VMM runs vcpus vCPUs now: the definition's boot_vcpus, Config and
 * VCPUs follow. -ERANGE for 0 or more than the definition's max_vcpus. */
int vm_vcpus_changed(Vm *vm, uint32_t vcpus);
/* ResizeMemory(t): vm.resize desired_ram (memory.hotplug_size); the
 * definition's hotplugged_size and MemorySize follow the VMM's answer. */
int vm_resize_memory(Vm *vm, sd_bus_message *m, sd_bus_error *error);
int vm_add_net(Vm *vm, sd_bus_message *m, sd_bus_error *error);
int vm_remove_device(Vm *vm, sd_bus_message *m, sd_bus_error *error);
void vm_device_removed(Vm *vm, const char *id);
/* Reconnects to a VMM left running by an earlier vmmd (<runtime>/<name>.sock).
 * Returns 1 when adoption is under way (manager->n_adopting counts it and
 * manager_adoption_settled() is called when it ends), 0 when no VMM serves
 * the socket. */
int vm_adopt(Vm *vm);

/* vmmd's view of the VM as JSON (GetInfo's base; `vmm` holds vm.info). */
json_object *vm_info_json(Vm *vm);
