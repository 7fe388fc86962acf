/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The platform devices of one VM, created from its configuration and
 * registered on the buses: COM1, i8042, CMOS RTC, ACPI PM (power button,
 * S5, reset register), pvpanic, the debug console, and the ports Linux
 * probes that need nothing but an answer. They outlive a guest reboot.
 */
#pragma once

#include <json-c/json.h>
#include <stddef.h>

#include "bus.h"
#include "config.h"
#include "event_loop.h"
#include "event_monitor.h"
#include "guest_memory.h"
#include "irq.h"
#include "pci.h"
#include "platform.h"
#include "virtio_pci.h"
#include "vm.h"

typedef struct Serial Serial;
typedef struct I8042 I8042;
typedef struct Rtc Rtc;
typedef struct AcpiPm AcpiPm;
typedef struct Pvpanic Pvpanic;
typedef struct DebugConsole DebugConsole;
typedef struct PostPort PostPort;
typedef struct VirtioBlk VirtioBlk;
typedef struct VirtioRng VirtioRng;
typedef struct VirtioConsole VirtioConsole;
typedef struct VirtioNet VirtioNet;
typedef struct VirtioVsock VirtioVsock;
typedef struct VirtioBalloon VirtioBalloon;
typedef struct RateLimiter RateLimiter;
typedef struct PciHotplug PciHotplug;
typedef struct CpuHotplug CpuHotplug;
typedef struct MemHotplug MemHotplug;

typedef struct VmmDevices {
    Serial *serial;
    I8042 *i8042;
    Rtc *rtc;
    AcpiPm *acpi_pm;
    Pvpanic *pvpanic;
    DebugConsole *debug_console;
    PostPort *post;
    IrqLine irq_com1, irq_sci;
    /* PCI bus 0 (always present: host bridge, 0xcf8/0xcfc, ECAM) and the
     * virtio-pci functions on it. */
    PciBus *pci;
    KvmIrq *irq;
    EventMonitor *events;
    /* --rate-limit-group, in config order; NULL for a group that limits
     * nothing. Shared by the disks that name the group. */
    RateLimiter **rate_limit_groups;
    size_t n_rate_limit_groups;
    VirtioBlk **disks;
    size_t n_disks;
    VirtioRng *rng;
    VirtioConsole *console; /* --console, unless off */
    VirtioNet **nets;
    size_t n_nets;
    VirtioVsock *vsock;
    VirtioBalloon *balloon;
    /* ACPI PCI hotplug (vmm_hotplug.c): the controller, the GED's line, and
     * what a hot-added virtio function is created with. */
    PciHotplug *hotplug;
    /* vCPU hotplug (vm.resize desired_vcpus), on the same GED line. */
    CpuHotplug *cpu_hotplug;
    MemHotplug *mem_hotplug; /* with --memory hotplug_size only */
    IrqLine irq_ged;
    VirtioPciConfig transport;
} VmmDevices;

/* vm may not exist yet (its fd is read when devices need it); mem must.
 * slot_plan (a restore's, snapshot_slot_plan()): the PCI slot of each
 * virtio function in creation order, or NULL for first-free slots. */
int vmm_devices_create(VmmDevices *d, const VmConfig *cfg, EventLoop *loop, Vm *vm, VmControl control, Bus *pio,
                       Bus *mmio, const GuestMemory *mem, EventMonitor *events, const uint8_t *slot_plan,
                       size_t n_slot_plan, char *errbuf, size_t errlen);
void vmm_devices_destroy(VmmDevices *d);
/* Installs the interrupt routing in a freshly created KVM VM (boot and reboot). */
int vmm_devices_vm_created(VmmDevices *d, char *errbuf, size_t errlen);
/* Back to power-on state for a guest reset into n_vcpus vCPUs (CMOS RAM
 * survives, as on hardware). Called after the old KVM VM is gone, before
 * the new one. */
void vmm_devices_reset(VmmDevices *d, uint32_t n_vcpus);
void vmm_devices_power_button(VmmDevices *d);
/* The serial pty path when --serial pty, else NULL. */
const char *vmm_devices_serial_pty(const VmmDevices *d);
/* The virtio-console pty path when --console pty, else NULL. */
const char *vmm_devices_console_pty(const VmmDevices *d);
void vmm_devices_add_counters(const VmmDevices *d, json_object *counters);

/* ------------------------------------------- hotplug (vmm_hotplug.c) */

/* Hot-adds a function on the running VM: created from the configuration
 * entry (cfg is the configuration that holds it, for its rate-limit
 * groups), put in a free slot and announced to the guest. Returns the slot,
 * or a negative errno with a message. Main thread only. */
int vmm_devices_add_disk(VmmDevices *d, const VmConfig *cfg, const DiskConfig *disk, const char *id,
                         char *errbuf, size_t errlen);
int vmm_devices_add_net(VmmDevices *d, const NetConfig *net, const char *id, char *errbuf, size_t errlen);
int vmm_devices_add_vsock(VmmDevices *d, const VsockConfig *vsock, const char *id, char *errbuf, size_t errlen);
/* Tells the controller which boot-time functions the guest may eject. */
void vmm_devices_mark_removable(VmmDevices *d);
/* The slot of the removable function (disk, net, vsock) with this id, or -ENOENT. */
int vmm_devices_find(const VmmDevices *d, const char *id);
/* The id of the removable function in slot, or NULL. */
const char *vmm_devices_id_at(const VmmDevices *d, unsigned slot);
/* Tears down the function in slot (the guest ejected it): off the bus,
 * worker stopped, ioeventfds and MSI routes gone. The vCPUs must be parked. */
void vmm_devices_remove_slot(VmmDevices *d, unsigned slot);
