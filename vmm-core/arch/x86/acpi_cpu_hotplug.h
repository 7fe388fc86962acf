/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The DSDT's side of vCPU hotplug (devices/cpu_hotplug.h is the register
 * side), emitted only when --cpus max is above boot: one processor device
 * per possible vCPU, present as the controller says and ejectable, and the
 * part of the GED's _EVT that tells the guest about vCPUs added or to remove
 * since it last looked.
 */
#pragma once

#include <stdint.h>

#include "aml.h"

/* Inside \_SB: the controller's registers as fields, and processor devices
 * C000 to C<max_vcpus-1> (_HID ACPI0007, _UID and _MAT's APIC id the vCPU
 * index as in the MADT, _STA from CPR<n>, _EJ0 writing CEJ<n>). */
void acpi_cpu_hotplug_devices(AmlBuf *b, uint32_t max_vcpus);
/* Statements of the GED's _EVT: a device check to each processor announced
 * in CIN0-7, an eject request to each in CRM0-7. Uses Local2 and Local3. */
void acpi_cpu_hotplug_evt(AmlBuf *b, uint32_t max_vcpus);
