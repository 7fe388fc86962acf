/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A fake guest: 2 MiB of real guest memory (guest_memory_create, no KVM)
 * with a 16-entry split ring at fixed addresses, and helpers to write
 * descriptors and publish chains the way a (possibly hostile) driver would.
 */
#pragma once

#include <errno.h>
#include <setjmp.h>
#include <stdlib.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "guest_memory.h"
#include "virtqueue.h"

#define QSIZE 16
#define DESC  0x1000ULL
#define AVAIL 0x2000ULL
#define USED  0x3000ULL
#define DATA  0x10000ULL
#define RAM   (2ULL << 20)

typedef struct FakeGuest {
    GuestMemory mem;
    Virtqueue vq;
    uint16_t avail_idx;
} FakeGuest;

static inline void fg_init(FakeGuest *g, bool event_idx, bool indirect)
{
    MemoryConfig cfg;
    char err[256];
    memset(&cfg, 0, sizeof(cfg));
    cfg.size = RAM;
    memset(g, 0, sizeof(*g));
    assert_int_equal(guest_memory_create(&g->mem, &cfg, err, sizeof(err)), 0);
    virtq_reset(&g->vq, QSIZE);
    g->vq.desc = DESC;
    g->vq.avail = AVAIL;
    g->vq.used = USED;
    assert_int_equal(virtq_activate(&g->vq, &g->mem, event_idx, indirect), 0);
}

static inline void fg_free(FakeGuest *g)
{
    virtq_free(&g->vq);
    guest_memory_destroy(&g->mem);
}

static inline void fg_desc_at(FakeGuest *g, uint64_t table, uint16_t i, uint64_t addr, uint32_t len,
                              uint16_t flags, uint16_t next)
{
    struct {
        uint64_t addr;
        uint32_t len;
        uint16_t flags, next;
    } d = {addr, len, flags, next};
    assert_int_equal(guest_memory_write(&g->mem, table + 16ULL * i, &d, sizeof(d)), 0);
}

static inline void fg_desc(FakeGuest *g, uint16_t i, uint64_t addr, uint32_t len, uint16_t flags,
                           uint16_t next)
{
    fg_desc_at(g, DESC, i, addr, len, flags, next);
}

static inline void fg_publish(FakeGuest *g, uint16_t head)
{
    uint16_t slot = g->avail_idx % QSIZE;
    guest_memory_write(&g->mem, AVAIL + 4 + 2ULL * slot, &head, 2);
    g->avail_idx++;
    guest_memory_write(&g->mem, AVAIL + 2, &g->avail_idx, 2);
}

static inline uint16_t fg_used_idx(FakeGuest *g)
{
    uint16_t v;
    guest_memory_read(&g->mem, USED + 2, &v, 2);
    return v;
}
