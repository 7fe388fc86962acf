/* SPDX-License-Identifier: Apache-2.0 */
#include "post.h"

#include <stdlib.h>
#include <string.h>

/* Lock-free: the state is a counter and a byte, and port 0x80 is hit on
 * every Linux I/O delay, from every vCPU. */
struct PostPort {
    BusDevice bus;
    uint64_t writes;
    uint8_t last_code;
};

static void post_read(void *opaque, uint64_t offset, uint8_t *data, uint32_t len)
{
    (void)opaque;
    (void)offset;
    memset(data, 0, len);
}

static void post_write(void *opaque, uint64_t offset, const uint8_t *data, uint32_t len)
{
    PostPort *p = opaque;
    (void)offset;
    if (len == 0)
        return;
    __atomic_fetch_add(&p->writes, 1, __ATOMIC_RELAXED);
    __atomic_store_n(&p->last_code, data[0], __ATOMIC_RELAXED);
}

PostPort *post_new(void)
{
    PostPort *p = calloc(1, sizeof(*p));
    if (!p)
        return NULL;
    p->bus = (BusDevice){.name = "post", .opaque = p, .read = post_read, .write = post_write};
    return p;
}

void post_free(PostPort *p)
{
    free(p);
}

const BusDevice *post_bus_device(PostPort *p)
{
    return &p->bus;
}

void post_get_counters(PostPort *p, PostCounters *out)
{
    out->writes = __atomic_load_n(&p->writes, __ATOMIC_RELAXED);
    out->last_code = __atomic_load_n(&p->last_code, __ATOMIC_RELAXED);
}
