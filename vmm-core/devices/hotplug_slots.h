/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The bits an ACPI hotplug controller keeps for its slots (vCPUs in
 * cpu_hotplug.c, memory slots in mem_hotplug.c), one per slot in 32-bit
 * words as its registers show them: the slots present (their devices' _STA)
 * and those added since the guest's _EVT last read them (read to clear).
 * The owner holds its lock around every call.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "snapshot_format.h"

#define HOTPLUG_SLOTS_MAX   256u
#define HOTPLUG_SLOTS_WORDS (HOTPLUG_SLOTS_MAX / 32)

typedef struct HotplugSlots {
    uint32_t present[HOTPLUG_SLOTS_WORDS];
    uint32_t inserted[HOTPLUG_SLOTS_WORDS]; /* announced, not yet read */
} HotplugSlots;

/* Slots 0 to n_present - 1 present, nothing announced. */
void hotplug_slots_init(HotplugSlots *s, uint32_t n_present);
/* Slot index added: present and announced. False past the last slot. */
bool hotplug_slots_add(HotplugSlots *s, uint32_t index);
/* Word w of the announcements, cleared by the read. */
uint32_t hotplug_slots_take_inserted(HotplugSlots *s, unsigned w);
/* Snapshots: both sets. The load wants the restored controller's present
 * slots and announcements only of present ones (-EINVAL, nothing taken). */
void hotplug_slots_save(const HotplugSlots *s, SnapshotWriter *w);
int hotplug_slots_load(HotplugSlots *s, SnapshotReader *r);
