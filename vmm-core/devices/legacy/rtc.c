/* SPDX-License-Identifier: Apache-2.0 */
#include "rtc.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "le.h"

#define OFF_INDEX      0
#define OFF_DATA       1
#define INDEX_NMI_MASK 0x80

#define REG_SECONDS       0x00
#define REG_SECONDS_ALARM 0x01
#define REG_MINUTES       0x02
#define REG_MINUTES_ALARM 0x03
#define REG_HOURS         0x04
#define REG_HOURS_ALARM   0x05
#define REG_WEEKDAY       0x06
#define REG_DAY           0x07
#define REG_MONTH         0x08
#define REG_YEAR          0x09
#define REG_A             0x0a
#define REG_B             0x0b
#define REG_C             0x0c
#define REG_D             0x0d
#define REG_CENTURY       0x32 /* where the FADT's CENTURY field points (IBM PC) */

#define REG_A_DEFAULT    0x26 /* divider 010 (32.768 kHz), rate 0110 (1024 Hz) */
#define REG_A_UIP        0x80
#define REG_B_DEFAULT    RTC_REG_B_24H
#define REG_B_INTERRUPTS 0x78 /* PIE, AIE, UIE, SQWE */
#define REG_D_VRT        0x80
#define HOUR_PM          0x80 /* 12-hour mode */

#define CMOS_BASE_MEM_KB   0x15 /* 2 bytes: 640 */
#define CMOS_EXT_MEM_KB    0x17 /* 2 bytes: KiB 1 MiB..64 MiB */
#define CMOS_EXT_MEM_KB2   0x30 /* the same, second copy */
#define CMOS_MEM_ABOVE_16M 0x34 /* 2 bytes: 64 KiB units, 16 MiB..4 GiB */
#define CMOS_MEM_ABOVE_4G  0x5b /* 3 bytes: 64 KiB units */

struct Rtc {
    pthread_mutex_t lock;
    BusDevice bus;
    uint8_t index;
    bool nmi_masked;
    uint8_t cmos[RTC_CMOS_SIZE];
    int64_t offset; /* guest clock minus host clock, seconds */
    time_t (*now)(void);
};

static time_t host_now(void)
{
    return time(NULL);
}

static bool is_time_reg(uint8_t idx)
{
    return idx == REG_SECONDS || idx == REG_MINUTES || idx == REG_HOURS || idx == REG_WEEKDAY ||
           idx == REG_DAY || idx == REG_MONTH || idx == REG_YEAR || idx == REG_CENTURY;
}

static bool binary_mode(const Rtc *rtc)
{
    return rtc->cmos[REG_B] & RTC_REG_B_BINARY;
}

static uint8_t to_bcd(unsigned v)
{
    return (uint8_t)(((v / 10) % 10) << 4 | (v % 10));
}

/* -1 for a byte that is not valid BCD. */
static int from_bcd(uint8_t v)
{
    if ((v & 0x0f) > 9 || (v >> 4) > 9)
        return -1;
    return (v >> 4) * 10 + (v & 0x0f);
}

static uint8_t encode(const Rtc *rtc, unsigned v)
{
    return binary_mode(rtc) ? (uint8_t)v : to_bcd(v);
}

static int decode(const Rtc *rtc, uint8_t v)
{
    return binary_mode(rtc) ? v : from_bcd(v);
}

static uint8_t encode_hour(const Rtc *rtc, unsigned hour)
{
    if (rtc->cmos[REG_B] & RTC_REG_B_24H)
        return encode(rtc, hour);
    unsigned h12 = hour % 12 ? hour % 12 : 12;
    return encode(rtc, h12) | (hour >= 12 ? HOUR_PM : 0);
}

static int decode_hour(const Rtc *rtc, uint8_t v)
{
    if (rtc->cmos[REG_B] & RTC_REG_B_24H)
        return decode(rtc, v);
    int h = decode(rtc, v & (uint8_t)~HOUR_PM);
    if (h < 1 || h > 12)
        return -1;
    return h % 12 + (v & HOUR_PM ? 12 : 0);
}

/* Writes the guest's current time into the clock registers. */
static void latch_time(Rtc *rtc)
{
    time_t t = rtc->now() + (time_t)rtc->offset;
    struct tm tm;
    if (!gmtime_r(&t, &tm))
        return;
    unsigned year = (unsigned)tm.tm_year + 1900;
    rtc->cmos[REG_SECONDS] = encode(rtc, (unsigned)tm.tm_sec);
    rtc->cmos[REG_MINUTES] = encode(rtc, (unsigned)tm.tm_min);
    rtc->cmos[REG_HOURS] = encode_hour(rtc, (unsigned)tm.tm_hour);
    rtc->cmos[REG_WEEKDAY] = encode(rtc, (unsigned)tm.tm_wday + 1);
    rtc->cmos[REG_DAY] = encode(rtc, (unsigned)tm.tm_mday);
    rtc->cmos[REG_MONTH] = encode(rtc, (unsigned)tm.tm_mon + 1);
    rtc->cmos[REG_YEAR] = encode(rtc, year % 100);
    rtc->cmos[REG_CENTURY] = encode(rtc, (year / 100) % 100);
}

/* The clock registers as the guest wrote them become the guest's time. A
 * date that makes no sense is ignored (the clock keeps running). */
static void commit_time(Rtc *rtc)
{
    int sec = decode(rtc, rtc->cmos[REG_SECONDS]);
    int min = decode(rtc, rtc->cmos[REG_MINUTES]);
    int hour = decode_hour(rtc, rtc->cmos[REG_HOURS]);
    int day = decode(rtc, rtc->cmos[REG_DAY]);
    int mon = decode(rtc, rtc->cmos[REG_MONTH]);
    int year = decode(rtc, rtc->cmos[REG_YEAR]);
    int century = decode(rtc, rtc->cmos[REG_CENTURY]);
    if (sec < 0 || sec > 59 || min < 0 || min > 59 || hour < 0 || hour > 23 || day < 1 || day > 31 ||
        mon < 1 || mon > 12 || year < 0 || year > 99 || century < 0 || century > 99)
        return;
    struct tm tm = {
        .tm_sec = sec,
        .tm_min = min,
        .tm_hour = hour,
        .tm_mday = day,
        .tm_mon = mon - 1,
        .tm_year = century * 100 + year - 1900,
    };
    time_t t = timegm(&tm);
    if (t == (time_t)-1)
        return;
    rtc->offset = (int64_t)t - (int64_t)rtc->now();
}

static uint8_t data_read(Rtc *rtc)
{
    uint8_t idx = rtc->index;
    switch (idx) {
    case REG_A:
        return rtc->cmos[REG_A] & (uint8_t)~REG_A_UIP;
    case REG_C:
        return 0; /* no interrupt flags: we raise none */
    case REG_D:
        return REG_D_VRT;
    default:
        break;
    }
    /* While SET is on the clock is stopped and reads see what was written. */
    if (is_time_reg(idx) && !(rtc->cmos[REG_B] & RTC_REG_B_SET))
        latch_time(rtc);
    return rtc->cmos[idx];
}

static void data_write(Rtc *rtc, uint8_t v)
{
    uint8_t idx = rtc->index;
    switch (idx) {
    case REG_A:
        rtc->cmos[REG_A] = v & (uint8_t)~REG_A_UIP; /* UIP is read-only */
        return;
    case REG_B: {
        bool was_set = rtc->cmos[REG_B] & RTC_REG_B_SET;
        if ((v & RTC_REG_B_SET) && !was_set)
            latch_time(rtc); /* freeze the current time for the guest to edit */
        rtc->cmos[REG_B] = v;
        if (was_set && !(v & RTC_REG_B_SET))
            commit_time(rtc);
        return;
    }
    case REG_C:
    case REG_D:
        return; /* read-only */
    default:
        break;
    }
    if (is_time_reg(idx) && !(rtc->cmos[REG_B] & RTC_REG_B_SET)) {
        /* A running clock edited one field at a time. */
        latch_time(rtc);
        rtc->cmos[idx] = v;
        commit_time(rtc);
        return;
    }
    rtc->cmos[idx] = v;
}

static void rtc_read(void *opaque, uint64_t offset, uint8_t *data, uint32_t len)
{
    Rtc *rtc = opaque;
    pthread_mutex_lock(&rtc->lock);
    for (uint32_t i = 0; i < len; i++) {
        uint64_t off = offset < RTC_PIO_LEN && i < RTC_PIO_LEN - offset ? offset + i : RTC_PIO_LEN;
        /* The index port is write-only on the real part: it floats. */
        data[i] = off == OFF_DATA ? data_read(rtc) : 0xff;
    }
    pthread_mutex_unlock(&rtc->lock);
}

static void rtc_write(void *opaque, uint64_t offset, const uint8_t *data, uint32_t len)
{
    Rtc *rtc = opaque;
    pthread_mutex_lock(&rtc->lock);
    for (uint32_t i = 0; i < len; i++) {
        if (offset >= RTC_PIO_LEN || i >= RTC_PIO_LEN - offset)
            break;
        if (offset + i == OFF_INDEX) {
            rtc->index = data[i] & (RTC_CMOS_SIZE - 1);
            rtc->nmi_masked = data[i] & INDEX_NMI_MASK;
        } else {
            data_write(rtc, data[i]);
        }
    }
    pthread_mutex_unlock(&rtc->lock);
}

static void fill_memory_fields(Rtc *rtc, uint64_t below_4g, uint64_t above_4g)
{
    const uint64_t mib = 1ULL << 20;
    uint64_t ext_kb = below_4g > mib ? (below_4g - mib) >> 10 : 0;
    if (ext_kb > 0xfc00) /* the field stops at 64 MiB - 1 MiB */
        ext_kb = 0xfc00;
    uint64_t above_16m = below_4g > 16 * mib ? (below_4g - 16 * mib) >> 16 : 0;
    if (above_16m > 0xffff)
        above_16m = 0xffff;
    uint64_t high = above_4g >> 16;
    if (high > 0xffffff)
        high = 0xffffff;
    le_store(&rtc->cmos[CMOS_BASE_MEM_KB], 640, 2);
    le_store(&rtc->cmos[CMOS_EXT_MEM_KB], ext_kb, 2);
    le_store(&rtc->cmos[CMOS_EXT_MEM_KB2], ext_kb, 2);
    le_store(&rtc->cmos[CMOS_MEM_ABOVE_16M], above_16m, 2);
    le_store(&rtc->cmos[CMOS_MEM_ABOVE_4G], high, 3);
}

/* The part is battery-backed: a machine reset leaves its time, format and
 * RAM alone and only clears its interrupt enables (the RESET pin). A clock
 * the guest left stopped (SET) is restarted with what it wrote. */
static void reset_locked(Rtc *rtc)
{
    rtc->index = 0;
    rtc->nmi_masked = false;
    if (rtc->cmos[REG_B] & RTC_REG_B_SET)
        commit_time(rtc);
    rtc->cmos[REG_B] &= (uint8_t) ~(RTC_REG_B_SET | REG_B_INTERRUPTS);
    rtc->cmos[REG_C] = 0;
}

static void power_on(Rtc *rtc)
{
    rtc->offset = 0;
    rtc->cmos[REG_A] = REG_A_DEFAULT;
    rtc->cmos[REG_B] = REG_B_DEFAULT;
    rtc->cmos[REG_D] = REG_D_VRT;
    reset_locked(rtc);
}

Rtc *rtc_new(uint64_t ram_below_4g, uint64_t ram_above_4g)
{
    /* glibc reads /etc/localtime the first time any time conversion runs,
     * gmtime_r included. The guest's first CMOS read comes on a vCPU thread
     * whose seccomp filter forbids opening files: load it now. */
    tzset();

    Rtc *rtc = calloc(1, sizeof(*rtc));
    if (!rtc)
        return NULL;
    pthread_mutex_init(&rtc->lock, NULL);
    rtc->now = host_now;
    rtc->bus = (BusDevice){.name = "rtc", .opaque = rtc, .read = rtc_read, .write = rtc_write};
    fill_memory_fields(rtc, ram_below_4g, ram_above_4g);
    power_on(rtc);
    return rtc;
}

void rtc_free(Rtc *rtc)
{
    if (!rtc)
        return;
    pthread_mutex_destroy(&rtc->lock);
    free(rtc);
}

const BusDevice *rtc_bus_device(Rtc *rtc)
{
    return &rtc->bus;
}

void rtc_reset(Rtc *rtc)
{
    pthread_mutex_lock(&rtc->lock);
    reset_locked(rtc);
    pthread_mutex_unlock(&rtc->lock);
}

void rtc_set_clock(Rtc *rtc, time_t (*now)(void))
{
    pthread_mutex_lock(&rtc->lock);
    rtc->now = now ? now : host_now;
    pthread_mutex_unlock(&rtc->lock);
}

void rtc_save(Rtc *rtc, SnapshotWriter *w)
{
    pthread_mutex_lock(&rtc->lock);
    snapshot_put_u8(w, rtc->index);
    snapshot_put_u8(w, rtc->nmi_masked);
    snapshot_put_u64(w, (uint64_t)rtc->offset);
    snapshot_put_bytes(w, rtc->cmos, sizeof(rtc->cmos));
    pthread_mutex_unlock(&rtc->lock);
}

int rtc_load(Rtc *rtc, SnapshotReader *r)
{
    uint8_t index = snapshot_get_u8(r), nmi = snapshot_get_u8(r);
    int64_t offset = (int64_t)snapshot_get_u64(r);
    uint8_t cmos[RTC_CMOS_SIZE];
    snapshot_get_bytes(r, cmos, sizeof(cmos));
    if (r->failed || index >= RTC_CMOS_SIZE || nmi > 1)
        return -EINVAL;
    pthread_mutex_lock(&rtc->lock);
    rtc->index = index;
    rtc->nmi_masked = nmi;
    rtc->offset = offset;
    memcpy(rtc->cmos, cmos, sizeof(cmos));
    pthread_mutex_unlock(&rtc->lock);
    return 0;
}
