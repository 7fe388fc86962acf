/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The DSDT's side of ACPI memory hotplug (devices/mem_hotplug.h is the
 * register side), emitted only with --memory hotplug_size: one memory device
 * (PNP0C80) per slot of GUEST_MEMORY_HOTPLUG_SLOT bytes of the hotplug
 * region, its _CRS that slot's range, its _STA the controller's MPR bit, and
 * the part of the GED's _EVT that tells the guest about slots plugged since
 * it last looked.
 */
#pragma once

#include <stdint.h>

#include "aml.h"

/* Inside \_SB: the registers as fields, and devices M000 to M<slots-1>
 * for [base + i * slot_size, + slot_size). */
void acpi_mem_hotplug_devices(AmlBuf *b, uint64_t base, uint64_t slot_size, uint32_t slots);
/* Statements of the GED's _EVT: a device check to each memory device
 * announced in MIN0-7. Uses Local4. */
void acpi_mem_hotplug_evt(AmlBuf *b, uint32_t slots);
