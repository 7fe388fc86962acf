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

#include "limits.h"
#include "vm-sandbox.h"

typedef struct Vm Vm;
typedef struct PolkitQuery PolkitQuery;

typedef struct Manager {
    sd_event *event;
    sd_bus *bus;
    char *state_dir;    /* VM definitions, <name>.json */
    char *runtime_dir;  /* control sockets, configs and logs of running VMMs */
    char *vmm_path;     /* the vmm binary to fork+exec */
    VmmSandbox sandbox; /* who the VMMs run as (--vmm-user) */

    Vm **vms; /* sorted by name, so listings are stable */
    size_t n_vms;
    size_t n_running;            /* VMs with a live VMM, for STATUS= */
    size_t n_adopting;           /* adoptions waiting for their VMM's vm.info */
    bool ready;                  /* the name is owned and autostart done */
    PolkitQuery *polkit_queries; /* calls held back until polkit answers */

    Limits limits;
    CallerBucket *buckets; /* callers that made state-changing calls lately */
    size_t n_buckets;
    bool signals_congested;   /* dropping signals until the bus reads again */
    uint64_t signals_dropped; /* since vmmd started */
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

/* Adopts every VMM an earlier vmmd left running, then (once they all
 * answered) owns the bus name, starts the Autostart VMs and says READY=1:
 * a client that sees the name sees every VM in its real state. */
int manager_start(Manager *m);
/* One adoption ended (either way). */
void manager_adoption_settled(Manager *m);

/* sd_notify STATUS= with the number of VMs running. */
void manager_update_status(Manager *m);

/* True when /dev/kvm can be opened read-write. */
bool hypervisor_available(void);
