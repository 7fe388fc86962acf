/* SPDX-License-Identifier: Apache-2.0 */
/*
 * QEMU's pvpanic ISA device (the "QEMU0001" ACPI device) at PORT_PVPANIC:
 * a read returns the events supported (PANICKED | CRASH_LOADED); a write
 * with PANICKED -> VM_REQUEST_PANIC. CRASH_LOADED (a kdump kernel is taking
 * over) is only counted: the guest is still doing useful work.
 * Register pvpanic_bus_device() at PORT_PVPANIC, length PVPANIC_PIO_LEN.
 */
#pragma once

#include <stdint.h>

#include "bus.h"
#include "platform.h"

#define PVPANIC_PIO_LEN      1
#define PVPANIC_PANICKED     0x01
#define PVPANIC_CRASH_LOADED 0x02

typedef struct Pvpanic Pvpanic;

typedef struct PvpanicCounters {
    uint64_t panics;
    uint64_t crash_loaded;
} PvpanicCounters;

/* control is copied. NULL with errno set on allocation failure. */
Pvpanic *pvpanic_new(const VmControl *control);
void pvpanic_free(Pvpanic *p);
const BusDevice *pvpanic_bus_device(Pvpanic *p);
void pvpanic_get_counters(Pvpanic *p, PvpanicCounters *out);
