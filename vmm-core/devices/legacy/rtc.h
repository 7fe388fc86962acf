/* SPDX-License-Identifier: Apache-2.0 */
/*
 * MC146818-style CMOS RTC at PORT_RTC: index port 0x70 (bit 7 is the NMI
 * mask, kept and otherwise ignored), data port 0x71. The clock is the host's
 * UTC plus an offset the guest sets by writing the time registers; format
 * follows register B (BCD or binary, 24 or 12 hour). Status: A reads 0x26
 * (32.768 kHz, 1024 Hz, never "update in progress"), D reads "RAM valid",
 * C reads 0 (no RTC interrupts are generated: IRQ 8 stays quiet). Every
 * other index is plain CMOS RAM, which survives a guest reset; the memory
 * size fields (0x15-0x18, 0x30-0x31, 0x34-0x35, 0x5b-0x5d) are filled in at
 * creation for firmware that reads them.
 *
 * Register rtc_bus_device() at PORT_RTC, length RTC_PIO_LEN.
 */
#pragma once

#include <stdint.h>
#include <time.h>

#include "bus.h"
#include "snapshot_format.h"

#define RTC_PIO_LEN   2
#define RTC_CMOS_SIZE 128

/* Register B bits the guest may care about. */
#define RTC_REG_B_SET    0x80
#define RTC_REG_B_BINARY 0x04 /* DM: binary, else BCD */
#define RTC_REG_B_24H    0x02

typedef struct Rtc Rtc;

/* RAM below 4 GiB and above it, in bytes, for the CMOS memory fields.
 * NULL with errno set on allocation failure. */
Rtc *rtc_new(uint64_t ram_below_4g, uint64_t ram_above_4g);
void rtc_free(Rtc *rtc);
const BusDevice *rtc_bus_device(Rtc *rtc);
/* Guest reset: like the real part's RESET pin, only the index and the
 * interrupt enables; the guest's time, register B's format and CMOS RAM
 * survive (they are battery-backed on hardware). */
void rtc_reset(Rtc *rtc);
/* Test hook: replaces time(NULL) as the host clock (NULL restores it). */
void rtc_set_clock(Rtc *rtc, time_t (*now)(void));

/* CMOS RAM, index, NMI mask and the guest's offset from the host clock, to
 * and from a snapshot section (snapshot/snapshot.c). The offset carries
 * over, so the guest's clock goes on from host time, as after a power cut. */
void rtc_save(Rtc *rtc, SnapshotWriter *w);
int rtc_load(Rtc *rtc, SnapshotReader *r);
