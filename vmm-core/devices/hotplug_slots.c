/* SPDX-License-Identifier: Apache-2.0 */
#include "hotplug_slots.h"

#include <errno.h>
#include <string.h>

void hotplug_slots_init(HotplugSlots *s, uint32_t n_present)
{
    memset(s, 0, sizeof(*s));
    for (uint32_t i = 0; i < n_present && i < HOTPLUG_SLOTS_MAX; i++)
        s->present[i / 32] |= 1U << (i % 32);
}

bool hotplug_slots_add(HotplugSlots *s, uint32_t index)
{
    if (index >= HOTPLUG_SLOTS_MAX)
        return false;
    s->present[index / 32] |= 1U << (index % 32);
    s->inserted[index / 32] |= 1U << (index % 32);
    return true;
}

uint32_t hotplug_slots_take_inserted(HotplugSlots *s, unsigned w)
{
    uint32_t v = s->inserted[w];
    s->inserted[w] = 0;
    return v;
}

void hotplug_slots_save(const HotplugSlots *s, SnapshotWriter *w)
{
    for (unsigned i = 0; i < HOTPLUG_SLOTS_WORDS; i++) {
        snapshot_put_u32(w, s->present[i]);
        snapshot_put_u32(w, s->inserted[i]);
    }
}

int hotplug_slots_load(HotplugSlots *s, SnapshotReader *r)
{
    uint32_t present[HOTPLUG_SLOTS_WORDS], inserted[HOTPLUG_SLOTS_WORDS];
    for (unsigned i = 0; i < HOTPLUG_SLOTS_WORDS; i++) {
        present[i] = snapshot_get_u32(r);
        inserted[i] = snapshot_get_u32(r);
    }
    if (r->failed)
        return -EINVAL;
    for (unsigned i = 0; i < HOTPLUG_SLOTS_WORDS; i++)
        if (present[i] != s->present[i] || (inserted[i] & ~present[i]))
            return -EINVAL;
    memcpy(s->inserted, inserted, sizeof(inserted));
    return 0;
}
