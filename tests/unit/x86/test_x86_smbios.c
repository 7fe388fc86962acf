/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The SMBIOS tables from --platform: the entry point as Linux's legacy scan
 * checks it, every structure walked from the address it gives (types,
 * lengths, string sets), the serial number, the UUID in SMBIOS byte order
 * and the OEM strings; refusals for a malformed UUID, empty strings and
 * strings that do not fit; and, when dmidecode is installed, an independent
 * decoder reading the same bytes.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <setjmp.h>

#include <cmocka.h>

#include "layout.h"
#include "smbios.h"

#define AREA (LAYOUT_SMBIOS_END - LAYOUT_SMBIOS_START)

typedef struct Structure {
    uint8_t type, length;
    const uint8_t *formatted;
    const char *strings[8];
    size_t n_strings;
} Structure;

static uint8_t sum(const uint8_t *p, size_t n)
{
    uint8_t s = 0;
    for (size_t i = 0; i < n; i++)
        s = (uint8_t)(s + p[i]);
    return s;
}

static uint64_t get64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, sizeof(v));
    return v;
}

static uint32_t get32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, sizeof(v));
    return v;
}

/* Checks the entry point and walks the table; returns the structures. */
static size_t walk(const uint8_t *buf, long used, Structure *out, size_t max)
{
    assert_true(used > SMBIOS_ENTRY_POINT_LEN && used <= (long)AREA);
    assert_memory_equal(buf, "_SM3_", 5);
    assert_int_equal(buf[6], SMBIOS_ENTRY_POINT_LEN);
    assert_int_equal(buf[7], 3);
    assert_int_equal(sum(buf, SMBIOS_ENTRY_POINT_LEN), 0);
    uint64_t table = get64(buf + 16);
    uint32_t table_len = get32(buf + 12);
    assert_int_equal(table, LAYOUT_SMBIOS_START + SMBIOS_ENTRY_POINT_LEN);
    assert_int_equal(table_len, (uint64_t)used - SMBIOS_ENTRY_POINT_LEN);
    const uint8_t *p = buf + (table - LAYOUT_SMBIOS_START), *end = p + table_len;
    size_t n = 0;
    for (;;) {
        assert_true(n < max && p + 4 <= end);
        Structure *s = &out[n++];
        memset(s, 0, sizeof(*s));
        s->type = p[0];
        s->length = p[1];
        s->formatted = p;
        assert_true(s->length >= 4 && p + s->length + 2 <= end);
        const char *str = (const char *)p + s->length;
        if (!str[0]) {
            assert_int_equal(str[1], 0); /* no strings: two NULs */
            p = (const uint8_t *)str + 2;
        } else {
            while (*str) {
                assert_true(s->n_strings < 8);
                s->strings[s->n_strings++] = str;
                str += strlen(str) + 1;
                assert_true((const uint8_t *)str < end);
            }
            p = (const uint8_t *)str + 1;
        }
        if (s->type == 127)
            break;
    }
    assert_ptr_equal(p, end);
    /* Handles are unique. */
    for (size_t i = 0; i < n; i++)
        for (size_t k = i + 1; k < n; k++)
            assert_true(get32(out[i].formatted) >> 16 != get32(out[k].formatted) >> 16);
    return n;
}

static const char *string(const Structure *s, uint8_t index)
{
    assert_true(index >= 1 && index <= s->n_strings);
    return s->strings[index - 1];
}

static void test_without_platform(void **state)
{
    (void)state;
    static uint8_t buf[AREA];
    char err[256];
    Structure st[8];
    long used = smbios_build(buf, sizeof(buf), LAYOUT_SMBIOS_START, NULL, err, sizeof(err));
    size_t n = walk(buf, used, st, 8);
    assert_int_equal(n, 3);
    assert_int_equal(st[0].type, 0);
    assert_string_equal(string(&st[0], st[0].formatted[4]), "vmm");
    assert_int_equal(st[0].formatted[0x13] & 0x10, 0x10); /* a virtual machine */
    assert_int_equal(st[1].type, 1);
    assert_string_equal(string(&st[1], st[1].formatted[4]), "vmm");
    assert_string_equal(string(&st[1], st[1].formatted[5]), "vmm");
    assert_int_equal(st[1].formatted[7], 0); /* no serial number */
    static const uint8_t zero[16] = {0};
    assert_memory_equal(st[1].formatted + 8, zero, 16); /* no UUID */
    assert_int_equal(st[2].type, 127);
}

static void test_platform_strings(void **state)
{
    (void)state;
    static uint8_t buf[AREA];
    char err[256];
    char *oem[] = {"first", "key=value with spaces"};
    PlatformConfig p = {.num_pci_segments = 1,
                        .serial_number = "SN-4711",
                        .uuid = "1e8aa28a-435d-4027-87f4-40dceff1fa0a",
                        .oem_strings = oem,
                        .n_oem_strings = 2};
    Structure st[8];
    long used = smbios_build(buf, sizeof(buf), LAYOUT_SMBIOS_START, &p, err, sizeof(err));
    size_t n = walk(buf, used, st, 8);
    assert_int_equal(n, 4);
    assert_int_equal(st[1].type, 1);
    assert_string_equal(string(&st[1], st[1].formatted[7]), "SN-4711");
    /* SMBIOS 2.6+: time_low, time_mid, time_hi_and_version little-endian. */
    static const uint8_t uuid[16] = {0x8a, 0xa2, 0x8a, 0x1e, 0x5d, 0x43, 0x27, 0x40,
                                     0x87, 0xf4, 0x40, 0xdc, 0xef, 0xf1, 0xfa, 0x0a};
    assert_memory_equal(st[1].formatted + 8, uuid, 16);
    assert_int_equal(st[2].type, 11);
    assert_int_equal(st[2].formatted[4], 2);
    assert_string_equal(st[2].strings[0], "first");
    assert_string_equal(st[2].strings[1], "key=value with spaces");
    assert_int_equal(st[3].type, 127);

    /* dmidecode reads a dump: the entry point at 0, its table address
     * rewritten to where the table lies in the file (32). */
    if (system("command -v dmidecode >/dev/null 2>&1") != 0)
        return;
    char path[] = "/tmp/vmm-smbios-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    uint8_t ep[32] = {0};
    memcpy(ep, buf, SMBIOS_ENTRY_POINT_LEN);
    uint64_t at = 32;
    memcpy(ep + 16, &at, sizeof(at));
    ep[5] = 0;
    ep[5] = (uint8_t)(0 - sum(ep, SMBIOS_ENTRY_POINT_LEN));
    FILE *f = fdopen(fd, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(ep, sizeof(ep), 1, f), 1);
    assert_int_equal(fwrite(buf + SMBIOS_ENTRY_POINT_LEN, (size_t)used - SMBIOS_ENTRY_POINT_LEN, 1, f), 1);
    fclose(f);
    char cmd[256], out[4096] = {0};
    snprintf(cmd, sizeof(cmd), "dmidecode --from-dump %s 2>&1", path);
    FILE *pp = popen(cmd, "r");
    assert_non_null(pp);
    size_t got = fread(out, 1, sizeof(out) - 1, pp);
    pclose(pp);
    unlink(path);
    out[got] = '\0';
    if (!strstr(out, "Serial Number: SN-4711") ||
        !strstr(out, "UUID: 1e8aa28a-435d-4027-87f4-40dceff1fa0a") ||
        !strstr(out, "String 2: key=value with spaces") || !strstr(out, "System is a virtual machine") ||
        strstr(out, "nvalid") || strstr(out, "rror"))
        fail_msg("dmidecode read:\n%s", out);
}

static void test_refusals(void **state)
{
    (void)state;
    static uint8_t buf[AREA];
    char err[256];
    static const char *bad_uuids[] = {"1-2-3",
                                      "1e8aa28a-435d-4027-87f4-40dceff1fa0",
                                      "1e8aa28a-435d-4027-87f4-40dceff1fa0ax",
                                      "1e8aa28a_435d-4027-87f4-40dceff1fa0a",
                                      "1e8aa28a-435d-4027-87f4-40dceff1fa0g",
                                      ""};
    for (size_t i = 0; i < sizeof(bad_uuids) / sizeof(bad_uuids[0]); i++) {
        PlatformConfig p = {.num_pci_segments = 1, .uuid = (char *)bad_uuids[i]};
        err[0] = '\0';
        assert_int_equal(smbios_build(buf, sizeof(buf), LAYOUT_SMBIOS_START, &p, err, sizeof(err)), -EINVAL);
        assert_non_null(strstr(err, "not a UUID"));
    }
    PlatformConfig empty_serial = {.num_pci_segments = 1, .serial_number = ""};
    assert_int_equal(smbios_build(buf, sizeof(buf), LAYOUT_SMBIOS_START, &empty_serial, err, sizeof(err)),
                     -EINVAL);
    char *oem[] = {"a", ""};
    PlatformConfig empty_oem = {.num_pci_segments = 1, .oem_strings = oem, .n_oem_strings = 2};
    assert_int_equal(smbios_build(buf, sizeof(buf), LAYOUT_SMBIOS_START, &empty_oem, err, sizeof(err)),
                     -EINVAL);
    assert_non_null(strstr(err, "entry 1 is empty"));
    /* Strings past the area: refused, nothing written past it. */
    static char big[AREA];
    memset(big, 'x', sizeof(big) - 1);
    char *huge[] = {big};
    PlatformConfig too_big = {.num_pci_segments = 1, .oem_strings = huge, .n_oem_strings = 1};
    static uint8_t guard[AREA + 64];
    memset(guard, 0xa5, sizeof(guard));
    assert_int_equal(smbios_build(guard, AREA, LAYOUT_SMBIOS_START, &too_big, err, sizeof(err)), -ENOSPC);
    for (size_t i = AREA; i < sizeof(guard); i++)
        assert_int_equal(guard[i], 0xa5);
    assert_non_null(strstr(err, "do not fit"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_without_platform),
        cmocka_unit_test(test_platform_strings),
        cmocka_unit_test(test_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
