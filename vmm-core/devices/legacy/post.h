/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Port 0x80, the POST-code port, which Linux also writes for I/O delays:
 * writes are counted (and the last code kept, handy when a guest hangs
 * early), reads return 0. Nothing else is behind it, so the same BusDevice
 * can be registered at other ports that need nothing but an answer: it
 * ignores the offset. Ports Linux probes that KVM already handles in the
 * kernel (PIC 0x20/0xa0/0x4d0, PIT 0x40-0x43, speaker 0x61 with
 * KVM_CREATE_PIT2) never reach it.
 * Register post_bus_device() at PORT_POST, length POST_PIO_LEN.
 */
#pragma once

#include <stdint.h>

#include "bus.h"

#define POST_PIO_LEN 1

typedef struct PostPort PostPort;

typedef struct PostCounters {
    uint64_t writes;
    uint8_t last_code;
} PostCounters;

/* NULL with errno set on allocation failure. */
PostPort *post_new(void);
void post_free(PostPort *p);
const BusDevice *post_bus_device(PostPort *p);
void post_get_counters(PostPort *p, PostCounters *out);
