/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A hostile driver for the virtqueue fuzzers: 2 MiB of real guest memory
 * (the smallest guest_memory_create takes) whose first bytes (ring layout, descriptors, avail ring, data) come
 * straight from the fuzzer's input, so descriptor addresses, lengths,
 * flags and chain links are all the fuzzer's choice.
 */
#pragma once

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "guest_memory.h"
#include "virtqueue.h"

#define FG_RAM (2ULL << 20)

static GuestMemory fg_mem;

static void fg_init_once(void)
{
    static int done;
    if (done)
        return;
    MemoryConfig cfg;
    char err[256];
    memset(&cfg, 0, sizeof(cfg));
    cfg.size = FG_RAM;
    if (guest_memory_create(&fg_mem, &cfg, err, sizeof(err)) < 0) {
        fprintf(stderr, "fuzz: %s\n", err);
        abort();
    }
    done = 1;
}

/* Header: queue size (2 bytes), features (1), then the memory image. The
 * rings sit at fixed spots: descriptors 0x1000, avail 0x2000, used 0x3000
 * (a size the fuzzer picks too large just runs them into one another). */
static int fg_setup_queue(Virtqueue *vq, const uint8_t *data, size_t size)
{
    if (size < 3)
        return -1;
    uint16_t qsize = (uint16_t)(data[0] | data[1] << 8);
    uint8_t features = data[2];
    data += 3;
    size -= 3;
    void *ram = guest_memory_ptr(&fg_mem, 0, FG_RAM);
    memset(ram, 0, FG_RAM);
    memcpy(ram, data, size < FG_RAM ? size : FG_RAM);
    /* Power-of-two sizes up to 256 keep the rings inside the image. */
    memset(vq, 0, sizeof(*vq));
    virtq_reset(vq, 256);
    vq->size = qsize;
    vq->desc = 0x1000;
    vq->avail = 0x2000;
    vq->used = 0x3000;
    if (virtq_activate(vq, &fg_mem, features & 1, features & 2) < 0) {
        virtq_free(vq);
        return -1;
    }
    return 0;
}
