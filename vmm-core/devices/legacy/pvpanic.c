/* SPDX-License-Identifier: Apache-2.0 */
#include "pvpanic.h"

#include <pthread.h>
#include <stdlib.h>

struct Pvpanic {
    pthread_mutex_t lock;
    BusDevice bus;
    VmControl control;
    PvpanicCounters ctr;
};

static void pvpanic_read(void *opaque, uint64_t offset, uint8_t *data, uint32_t len)
{
    (void)opaque;
    for (uint32_t i = 0; i < len; i++)
        data[i] = offset == 0 && i == 0 ? PVPANIC_PANICKED | PVPANIC_CRASH_LOADED : 0xff;
}

static void pvpanic_write(void *opaque, uint64_t offset, const uint8_t *data, uint32_t len)
{
    Pvpanic *p = opaque;
    if (offset != 0 || len == 0)
        return;
    pthread_mutex_lock(&p->lock);
    if (data[0] & PVPANIC_PANICKED) {
        p->ctr.panics++;
        vm_control_request(&p->control, VM_REQUEST_PANIC);
    } else if (data[0] & PVPANIC_CRASH_LOADED) {
        p->ctr.crash_loaded++;
    }
    pthread_mutex_unlock(&p->lock);
}

Pvpanic *pvpanic_new(const VmControl *control)
{
    Pvpanic *p = calloc(1, sizeof(*p));
    if (!p)
        return NULL;
    pthread_mutex_init(&p->lock, NULL);
    if (control)
        p->control = *control;
    p->bus = (BusDevice){.name = "pvpanic", .opaque = p, .read = pvpanic_read, .write = pvpanic_write};
    return p;
}

void pvpanic_free(Pvpanic *p)
{
    if (!p)
        return;
    pthread_mutex_destroy(&p->lock);
    free(p);
}

const BusDevice *pvpanic_bus_device(Pvpanic *p)
{
    return &p->bus;
}

void pvpanic_get_counters(Pvpanic *p, PvpanicCounters *out)
{
    pthread_mutex_lock(&p->lock);
    *out = p->ctr;
    pthread_mutex_unlock(&p->lock);
}
