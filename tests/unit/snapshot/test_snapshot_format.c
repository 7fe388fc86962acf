/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The snapshot state file reader (snapshot/snapshot_format.c) against files
 * someone else wrote: truncated, damaged, or crafted with valid checksums
 * around lying lengths. Plus the devices' section loaders with bad values.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "i8042.h"
#include "platform.h"
#include "rtc.h"
#include "serial.h"
#include "snapshot_format.h"

static const SnapshotInfo info = {
    .config_crc = 0x1234, .config_size = 99, .memory_size = 1 << 20, .n_vcpus = 2};

/* A file with three sections: two raw, one of little-endian fields. */
static void build(SnapshotWriter *w)
{
    snapshot_writer_init(w);
    snapshot_put_section(w, SNAPSHOT_SEC_VCPU_REGS, 0, "abcdefgh", 8);
    snapshot_put_section(w, SNAPSHOT_SEC_VCPU_REGS, 1, "", 0);
    snapshot_section_begin(w, SNAPSHOT_SEC_DEV_RTC, 0);
    snapshot_put_u8(w, 0x11);
    snapshot_put_u16(w, 0x2233);
    snapshot_put_u32(w, 0x44556677);
    snapshot_put_u64(w, 0x8899aabbccddeeffULL);
    snapshot_section_end(w);
    assert_int_equal(snapshot_writer_finish(w, &info), 0);
}

static void store32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void store64(uint8_t *p, uint64_t v)
{
    store32(p, (uint32_t)v);
    store32(p + 4, (uint32_t)(v >> 32));
}

/* What an attacker does after editing: make both checksums right again. */
static void reseal(uint8_t *buf, size_t len)
{
    store64(buf + 16, len - SNAPSHOT_HEADER_SIZE);
    store32(buf + 24, snapshot_crc32(0, buf + SNAPSHOT_HEADER_SIZE, len - SNAPSHOT_HEADER_SIZE));
    store32(buf + 60, snapshot_crc32(0, buf, 60));
}

static int parse(const uint8_t *buf, size_t len, char *err, size_t errlen)
{
    SnapshotState s;
    int r = snapshot_state_parse(buf, len, &s, err, errlen);
    snapshot_state_free(&s);
    return r;
}

static void test_crc32_known_value(void **state)
{
    (void)state;
    assert_int_equal(snapshot_crc32(0, "123456789", 9), 0xcbf43926u);
    /* Streaming gives the same as one call. */
    assert_int_equal(snapshot_crc32(snapshot_crc32(0, "1234", 4), "56789", 5), 0xcbf43926u);
}

static void test_round_trip(void **state)
{
    (void)state;
    SnapshotWriter w;
    build(&w);
    SnapshotState s;
    char err[256];
    assert_int_equal(snapshot_state_parse(w.buf, w.len, &s, err, sizeof(err)), 0);
    assert_int_equal(s.info.config_crc, info.config_crc);
    assert_int_equal(s.info.config_size, info.config_size);
    assert_int_equal(s.info.memory_size, info.memory_size);
    assert_int_equal(s.info.n_vcpus, 2);
    assert_int_equal(s.n_sections, 3);

    const SnapshotSection *sec = snapshot_state_find(&s, SNAPSHOT_SEC_VCPU_REGS, 0);
    assert_non_null(sec);
    assert_int_equal(sec->len, 8);
    assert_memory_equal(sec->data, "abcdefgh", 8);
    sec = snapshot_state_find(&s, SNAPSHOT_SEC_VCPU_REGS, 1);
    assert_non_null(sec);
    assert_int_equal(sec->len, 0);
    assert_null(snapshot_state_find(&s, SNAPSHOT_SEC_VCPU_REGS, 2));

    SnapshotReader r;
    assert_true(snapshot_reader_open(&r, &s, SNAPSHOT_SEC_DEV_RTC, 0));
    assert_int_equal(snapshot_get_u8(&r), 0x11);
    assert_int_equal(snapshot_get_u16(&r), 0x2233);
    assert_int_equal(snapshot_get_u32(&r), 0x44556677);
    assert_true(snapshot_get_u64(&r) == 0x8899aabbccddeeffULL);
    assert_true(snapshot_reader_done(&r));
    assert_false(snapshot_reader_open(&r, &s, SNAPSHOT_SEC_DEV_I8042, 0));
    snapshot_state_free(&s);
    snapshot_writer_free(&w);
}

static void test_every_truncation_refused(void **state)
{
    (void)state;
    SnapshotWriter w;
    build(&w);
    char err[256];
    for (size_t len = 0; len < w.len; len++) {
        /* A copy of exactly len bytes, so ASan sees any read past it. */
        uint8_t *copy = malloc(len ? len : 1);
        assert_non_null(copy);
        memcpy(copy, w.buf, len);
        assert_int_equal(parse(copy, len, err, sizeof(err)), -EINVAL);
        free(copy);
    }
    snapshot_writer_free(&w);
}

static void test_every_flipped_byte_refused(void **state)
{
    (void)state;
    SnapshotWriter w;
    build(&w);
    char err[256];
    for (size_t i = 0; i < w.len; i++) {
        w.buf[i] ^= 0x40;
        assert_int_equal(parse(w.buf, w.len, err, sizeof(err)), -EINVAL);
        w.buf[i] ^= 0x40;
    }
    assert_int_equal(parse(w.buf, w.len, err, sizeof(err)), 0);
    /* A byte in the sections is caught by their checksum. */
    w.buf[SNAPSHOT_HEADER_SIZE + 20] ^= 1;
    assert_int_equal(parse(w.buf, w.len, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "checksum"));
    snapshot_writer_free(&w);
}

static void test_version_and_magic(void **state)
{
    (void)state;
    SnapshotWriter w;
    build(&w);
    char err[256];
    store32(w.buf + 8, 2);
    reseal(w.buf, w.len);
    assert_int_equal(parse(w.buf, w.len, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "format version 2"));
    store32(w.buf + 8, SNAPSHOT_VERSION);
    w.buf[0] = 'X';
    reseal(w.buf, w.len);
    assert_int_equal(parse(w.buf, w.len, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "magic"));
    snapshot_writer_free(&w);
}

/* Section headers that lie, in a file whose checksums are right. */
static void test_crafted_sections_refused(void **state)
{
    (void)state;
    SnapshotWriter w;
    build(&w);
    char err[256];
    uint8_t *first = w.buf + SNAPSHOT_HEADER_SIZE;

    /* A length running past the end, and one that would wrap. */
    store64(first + 8, 1000);
    reseal(w.buf, w.len);
    assert_int_equal(parse(w.buf, w.len, err, sizeof(err)), -EINVAL);
    store64(first + 8, UINT64_MAX - 7);
    reseal(w.buf, w.len);
    assert_int_equal(parse(w.buf, w.len, err, sizeof(err)), -EINVAL);
    store64(first + 8, 8);

    /* More sections announced than there are; fewer (trailing bytes). */
    store32(w.buf + 52, 4);
    reseal(w.buf, w.len);
    assert_int_equal(parse(w.buf, w.len, err, sizeof(err)), -EINVAL);
    store32(w.buf + 52, 2);
    reseal(w.buf, w.len);
    assert_int_equal(parse(w.buf, w.len, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "after the last section"));
    store32(w.buf + 52, UINT32_MAX);
    reseal(w.buf, w.len);
    assert_int_equal(parse(w.buf, w.len, err, sizeof(err)), -EINVAL);
    store32(w.buf + 52, 3);

    /* The second section made a duplicate of the first. */
    store32(first + SNAPSHOT_SECTION_HDR + 8 + 4, 0);
    reseal(w.buf, w.len);
    assert_int_equal(parse(w.buf, w.len, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "twice"));
    store32(first + SNAPSHOT_SECTION_HDR + 8 + 4, 1);

    /* vCPU counts out of range, a reserved field set. */
    store32(w.buf + 48, 0);
    reseal(w.buf, w.len);
    assert_int_equal(parse(w.buf, w.len, err, sizeof(err)), -EINVAL);
    store32(w.buf + 48, SNAPSHOT_MAX_VCPUS + 1);
    reseal(w.buf, w.len);
    assert_int_equal(parse(w.buf, w.len, err, sizeof(err)), -EINVAL);
    store32(w.buf + 48, 2);
    store32(w.buf + 56, 1);
    reseal(w.buf, w.len);
    assert_int_equal(parse(w.buf, w.len, err, sizeof(err)), -EINVAL);
    store32(w.buf + 56, 0);

    /* A body size that is not the file's. */
    reseal(w.buf, w.len);
    store64(w.buf + 16, w.len);
    store32(w.buf + 60, snapshot_crc32(0, w.buf, 60));
    assert_int_equal(parse(w.buf, w.len, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "truncated"));

    /* Everything restored: the same bytes parse again. */
    reseal(w.buf, w.len);
    assert_int_equal(parse(w.buf, w.len, err, sizeof(err)), 0);
    snapshot_writer_free(&w);
}

static void test_reader_never_overreads(void **state)
{
    (void)state;
    const uint8_t data[3] = {1, 2, 3};
    SnapshotReader r = {.p = data, .left = sizeof(data)};
    assert_int_equal(snapshot_get_u16(&r), 0x0201);
    assert_false(snapshot_reader_done(&r)); /* one byte left */
    assert_int_equal(snapshot_get_u32(&r), 0);
    assert_true(r.failed);
    /* Once failed, it stays failed and yields zeros. */
    assert_int_equal(snapshot_get_u8(&r), 0);
    assert_false(snapshot_reader_done(&r));
}

static void test_writer_misuse(void **state)
{
    (void)state;
    SnapshotWriter w;
    snapshot_writer_init(&w);
    snapshot_section_begin(&w, 1, 0);
    assert_int_equal(snapshot_writer_finish(&w, &info), -EINVAL);
    snapshot_writer_free(&w);
    snapshot_writer_init(&w);
    snapshot_section_end(&w); /* no section open */
    assert_int_equal(snapshot_writer_finish(&w, &info), -ENOMEM);
    snapshot_writer_free(&w);
}

/* ------------------------------------------------ devices' loaders */

static SnapshotReader reader(const uint8_t *p, size_t n)
{
    return (SnapshotReader){.p = p, .left = n};
}

static void test_device_sections_checked(void **state)
{
    (void)state;
    ConsoleConfig cfg = {.mode = CONSOLE_MODE_NULL};
    Serial *s = serial_new(&cfg, NULL, NULL);
    assert_non_null(s);
    SnapshotWriter w;
    snapshot_writer_init(&w);
    size_t start = w.len;
    serial_save(s, &w);
    size_t n = w.len - start;
    uint8_t good[64];
    assert_true(n <= sizeof(good));
    memcpy(good, w.buf + start, n);
    snapshot_writer_free(&w);

    SnapshotReader r = reader(good, n);
    assert_int_equal(serial_load(s, &r), 0);
    assert_true(snapshot_reader_done(&r));
    uint8_t bad[64];
    /* IER bits the chip lacks; a FIFO fuller than the chip's. */
    memcpy(bad, good, n);
    bad[0] = 0xf0;
    r = reader(bad, n);
    assert_int_equal(serial_load(s, &r), -EINVAL);
    memcpy(bad, good, n);
    bad[12] = SERIAL_FIFO_SIZE + 1;
    r = reader(bad, sizeof(bad));
    assert_int_equal(serial_load(s, &r), -EINVAL);
    r = reader(good, n - 1);
    assert_int_equal(serial_load(s, &r), -EINVAL);
    serial_free(s);

    Rtc *rtc = rtc_new(64 << 20, 0);
    assert_non_null(rtc);
    uint8_t rtc_state[2 + 8 + RTC_CMOS_SIZE] = {0};
    rtc_state[0] = RTC_CMOS_SIZE; /* index past CMOS */
    r = reader(rtc_state, sizeof(rtc_state));
    assert_int_equal(rtc_load(rtc, &r), -EINVAL);
    rtc_state[0] = 0x10;
    r = reader(rtc_state, sizeof(rtc_state));
    assert_int_equal(rtc_load(rtc, &r), 0);
    rtc_free(rtc);

    VmControl control = {0};
    I8042 *k = i8042_new(&control);
    assert_non_null(k);
    const uint8_t kbd_bad[6] = {0, 0, 0, 0, 2, 0};
    r = reader(kbd_bad, sizeof(kbd_bad));
    assert_int_equal(i8042_load(k, &r), -EINVAL);
    i8042_free(k);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crc32_known_value),        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_every_truncation_refused), cmocka_unit_test(test_every_flipped_byte_refused),
        cmocka_unit_test(test_version_and_magic),        cmocka_unit_test(test_crafted_sections_refused),
        cmocka_unit_test(test_reader_never_overreads),   cmocka_unit_test(test_writer_misuse),
        cmocka_unit_test(test_device_sections_checked),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
