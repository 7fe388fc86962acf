/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vmmd's state: the bus connection, the VM definitions and where they live.
 * One Manager per process; the org.vmm.Manager object is manager-bus.c, one
 * org.vmm.VM object per VM is vm-bus.c.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

typedef struct Vm Vm;

typedef struct Manager {
    sd_event *event;
    sd_bus *bus;
    char *state_dir;   /* VM definitions, <name>.json */
    char *runtime_dir; /* control sockets, configs and logs of running VMMs */
    char *vmm_path;    /* the vmm binary to fork+exec */

    Vm **vms; /* sorted by name, so listings are stable */
    size_t n_vms;
    size_t n_running; /* VMs with a live VMM, for STATUS= */
} Manager;

#define VMM_BUS_NAME          "org.vmm.Manager"
#define VMM_OBJECT_ROOT       "/org/vmm"
#define VMM_MANAGER_PATH      "/org/vmm/Manager"
#define VMM_MANAGER_INTERFACE "org.vmm.Manager"
#define VMM_VM_PREFIX         "/org/vmm/vm"
#define VMM_VM_INTERFACE      "org.vmm.VM"

Vm *manager_find_vm(Manager *m, const char *name);
int manager_add_vm(Manager *m, Vm *vm);
void manager_remove_vm(Manager *m, Vm *vm);

/* Loads every <name>.json of the state directory; a broken file is logged
 * and skipped (moved aside), never fatal. */
int manager_load(Manager *m);

/* Registers the Manager object, the VM fallback vtable and the object manager. */
int manager_bus_register(Manager *m);
int manager_emit_vms_changed(Manager *m);

/* sd_notify STATUS= with the number of VMs running. */
void manager_update_status(Manager *m);

/* True when /dev/kvm can be opened read-write. */
bool hypervisor_available(void);
