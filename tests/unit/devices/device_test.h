/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Shared by the device tests: drive a BusDevice as a guest would, capture
 * what devices ask of the VM (IRQ levels, lifecycle requests), and fuzz the
 * register interface with hostile accesses. Header-only; every function is
 * static so each test binary takes what it uses.
 */
#pragma once

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "bus.h"
#include "platform.h"
#include "snapshot_format.h"

/* A state file with one section, written by the test between
 * section_file_begin() and section_file_open(), parsed by the real parser:
 * what a restore's load reads. */
typedef struct SectionFile {
    SnapshotWriter w;
    SnapshotState s;
    uint32_t type;
} SectionFile;

static inline SnapshotWriter *section_file_begin(SectionFile *f, uint32_t type)
{
    memset(f, 0, sizeof(*f));
    f->type = type;
    snapshot_writer_init(&f->w);
    snapshot_section_begin(&f->w, type, 0);
    return &f->w;
}

static inline void section_file_open(SectionFile *f, SnapshotReader *r)
{
    SnapshotInfo info = {.n_vcpus = 1};
    char err[128];
    snapshot_section_end(&f->w);
    assert_int_equal(snapshot_writer_finish(&f->w, &info), 0);
    assert_int_equal(snapshot_state_parse(f->w.buf, f->w.len, &f->s, err, sizeof(err)), 0);
    assert_true(snapshot_reader_open(r, &f->s, f->type, 0));
}

static inline void section_file_free(SectionFile *f)
{
    snapshot_state_free(&f->s);
    snapshot_writer_free(&f->w);
}

/* Written from the event loop's thread in some tests, hence atomics. */
typedef struct IrqCapture {
    int level;
    unsigned raises, lowers;
    uint32_t gsi;
} IrqCapture;

static inline void irq_capture_cb(void *ctx, uint32_t gsi, int level)
{
    IrqCapture *c = ctx;
    __atomic_store_n(&c->gsi, gsi, __ATOMIC_SEQ_CST);
    __atomic_store_n(&c->level, level, __ATOMIC_SEQ_CST);
    __atomic_fetch_add(level ? &c->raises : &c->lowers, 1, __ATOMIC_SEQ_CST);
}

static inline IrqLine irq_capture_line(IrqCapture *c, uint32_t gsi)
{
    memset(c, 0, sizeof(*c));
    return (IrqLine){.set_level = irq_capture_cb, .ctx = c, .gsi = gsi};
}

static inline int irq_level(IrqCapture *c)
{
    return __atomic_load_n(&c->level, __ATOMIC_SEQ_CST);
}

typedef struct ControlCapture {
    unsigned count[VM_REQUEST_PANIC + 1];
    unsigned total;
} ControlCapture;

static inline void control_capture_cb(void *ctx, VmRequest req)
{
    ControlCapture *c = ctx;
    assert_true(req <= VM_REQUEST_PANIC);
    c->count[req]++;
    c->total++;
}

static inline VmControl control_capture(ControlCapture *c)
{
    memset(c, 0, sizeof(*c));
    return (VmControl){.request = control_capture_cb, .ctx = c};
}

static inline uint8_t dev_in8(const BusDevice *d, uint64_t off)
{
    uint8_t v = 0x5a;
    d->read(d->opaque, off, &v, 1);
    return v;
}

static inline void dev_out8(const BusDevice *d, uint64_t off, uint8_t v)
{
    d->write(d->opaque, off, &v, 1);
}

static inline uint16_t dev_in16(const BusDevice *d, uint64_t off)
{
    uint8_t b[2];
    d->read(d->opaque, off, b, 2);
    return (uint16_t)(b[0] | b[1] << 8);
}

static inline void dev_out16(const BusDevice *d, uint64_t off, uint16_t v)
{
    uint8_t b[2] = {(uint8_t)v, (uint8_t)(v >> 8)};
    d->write(d->opaque, off, b, 2);
}

static inline uint32_t dev_in32(const BusDevice *d, uint64_t off)
{
    uint8_t b[4];
    d->read(d->opaque, off, b, 4);
    return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

static inline void dev_out32(const BusDevice *d, uint64_t off, uint32_t v)
{
    uint8_t b[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    d->write(d->opaque, off, b, 4);
}

static inline uint64_t xorshift64(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

/*
 * Hostile guest: every offset in and past the range (and absurd ones),
 * every width, random values, interleaved reads and writes. The buffer has
 * guard bytes after the access: a device that writes past len is caught
 * here (and by ASan for anything else).
 */
static inline void fuzz_device(const BusDevice *d, uint64_t range_len, unsigned rounds, uint64_t seed)
{
    static const uint32_t widths[] = {1, 2, 4, 8};
    const uint64_t far[] = {range_len, range_len + 7, UINT64_MAX, UINT64_MAX - 3, 1ULL << 63};
    uint64_t s = seed ? seed : 0x9e3779b97f4a7c15ULL;

    /* Systematic: each offset, each width, each direction. */
    for (uint64_t off = 0; off < range_len + 8; off++) {
        for (size_t w = 0; w < 4; w++) {
            uint8_t buf[16];
            memset(buf, 0xa5, sizeof(buf));
            d->read(d->opaque, off, buf, widths[w]);
            for (size_t i = widths[w]; i < sizeof(buf); i++)
                assert_int_equal(buf[i], 0xa5);
            uint64_t v = xorshift64(&s);
            memcpy(buf, &v, 8);
            d->write(d->opaque, off, buf, widths[w]);
        }
    }
    for (size_t i = 0; i < sizeof(far) / sizeof(far[0]); i++) {
        for (size_t w = 0; w < 4; w++) {
            uint8_t buf[16];
            memset(buf, 0xa5, sizeof(buf));
            d->read(d->opaque, far[i], buf, widths[w]);
            for (size_t j = widths[w]; j < sizeof(buf); j++)
                assert_int_equal(buf[j], 0xa5);
            d->write(d->opaque, far[i], buf, widths[w]);
        }
    }
    /* Random. */
    for (unsigned r = 0; r < rounds; r++) {
        uint64_t x = xorshift64(&s);
        uint64_t off = (x >> 8) % (range_len + 4);
        uint32_t w = widths[x & 3];
        uint8_t buf[16];
        memset(buf, 0xa5, sizeof(buf));
        if (x & 4) {
            d->read(d->opaque, off, buf, w);
            for (size_t j = w; j < sizeof(buf); j++)
                assert_int_equal(buf[j], 0xa5);
        } else {
            uint64_t v = xorshift64(&s);
            memcpy(buf, &v, 8);
            d->write(d->opaque, off, buf, w);
        }
    }
}

/* Polls cond(ctx) for up to ms milliseconds. */
static inline int wait_for(int (*cond)(void *), void *ctx, int ms)
{
    for (int i = 0; i < ms; i++) {
        if (cond(ctx))
            return 1;
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    return cond(ctx);
}
