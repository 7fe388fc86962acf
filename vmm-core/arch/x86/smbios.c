/* SPDX-License-Identifier: Apache-2.0 */
#include "smbios.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "layout.h"

#define TYPE_BIOS        0
#define TYPE_SYSTEM      1
#define TYPE_OEM_STRINGS 11
#define TYPE_END         127

#define BIOS_CHARACTERISTICS_UNSUPPORTED (1ULL << 3)
#define BIOS_EXT2_VIRTUAL_MACHINE        (1u << 4)
#define WAKE_UP_POWER_SWITCH             6

#define VENDOR "vmm"

typedef struct __attribute__((packed)) EntryPoint3 {
    char anchor[5]; /* "_SM3_" */
    uint8_t checksum;
    uint8_t length;
    uint8_t major, minor, docrev;
    uint8_t revision;
    uint8_t reserved;
    uint32_t table_max_size;
    uint64_t table_address;
} EntryPoint3;
_Static_assert(sizeof(EntryPoint3) == SMBIOS_ENTRY_POINT_LEN, "SMBIOS 3.0 entry point");

typedef struct __attribute__((packed)) Header {
    uint8_t type, length;
    uint16_t handle;
} Header;

typedef struct __attribute__((packed)) BiosInfo {
    Header h;
    uint8_t vendor, version;
    uint16_t start_segment;
    uint8_t release_date, rom_size;
    uint64_t characteristics;
    uint8_t ext1, ext2;
    uint8_t major, minor, ec_major, ec_minor;
} BiosInfo;

typedef struct __attribute__((packed)) SystemInfo {
    Header h;
    uint8_t manufacturer, product, version, serial;
    uint8_t uuid[16];
    uint8_t wake_up_type;
    uint8_t sku, family;
} SystemInfo;

typedef struct __attribute__((packed)) OemStrings {
    Header h;
    uint8_t count;
} OemStrings;

/* Structures go one after the other, each its formatted part then its
 * strings (numbered from 1, each NUL-terminated, the set ended by one more
 * NUL; a structure without strings ends in two NULs). */
typedef struct Writer {
    uint8_t *buf;
    size_t size, len;
    uint16_t next_handle;
    bool full;
} Writer;

static void put(Writer *w, const void *data, size_t n)
{
    if (w->full || n > w->size - w->len) {
        w->full = true;
        return;
    }
    memcpy(w->buf + w->len, data, n);
    w->len += n;
}

/* The formatted part (its handle filled in); strings follow with put_strings. */
static void put_structure(Writer *w, void *s, uint8_t type, uint8_t length)
{
    Header *h = s;
    h->type = type;
    h->length = length;
    h->handle = w->next_handle++;
    put(w, s, length);
}

static void put_strings(Writer *w, const char *const *strings, size_t n)
{
    for (size_t i = 0; i < n; i++)
        put(w, strings[i], strlen(strings[i]) + 1);
    put(w, "\0", n ? 1 : 2);
}

/* A UUID in SMBIOS's byte order (2.6 and later): the first three fields
 * little-endian, the rest as written. */
static bool smbios_uuid(const char *s, uint8_t out[16])
{
    uint8_t be[16];
    if (uuid_parse(s, be) < 0)
        return false;
    static const uint8_t order[16] = {3, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15};
    for (int i = 0; i < 16; i++)
        out[i] = be[order[i]];
    return true;
}

static uint8_t checksum(const void *p, size_t n)
{
    uint8_t sum = 0;
    for (size_t i = 0; i < n; i++)
        sum = (uint8_t)(sum + ((const uint8_t *)p)[i]);
    return (uint8_t)(0 - sum);
}

long smbios_build(uint8_t *buf, size_t size, uint64_t base, const PlatformConfig *platform, char *errbuf,
                  size_t errlen)
{
    const char *serial = platform ? platform->serial_number : NULL;
    SystemInfo sys = {.manufacturer = 1, .product = 2, .version = 3, .wake_up_type = WAKE_UP_POWER_SWITCH};
    if (platform && platform->uuid && !smbios_uuid(platform->uuid, sys.uuid)) {
        snprintf(errbuf, errlen, "SMBIOS: --platform uuid=%.64s is not a UUID (8-4-4-4-12 hex digits)",
                 platform->uuid);
        return -EINVAL;
    }
    /* An empty string cannot be told from the end of the set. */
    if (serial && !serial[0]) {
        snprintf(errbuf, errlen, "SMBIOS: --platform serial_number must not be empty");
        return -EINVAL;
    }
    for (size_t i = 0; platform && i < platform->n_oem_strings; i++)
        if (!platform->oem_strings[i][0]) {
            snprintf(errbuf, errlen, "SMBIOS: --platform oem_strings entry %zu is empty", i);
            return -EINVAL;
        }
    if (platform && platform->n_oem_strings > 255) {
        snprintf(errbuf, errlen, "SMBIOS: at most 255 --platform oem_strings, not %zu",
                 platform->n_oem_strings);
        return -EINVAL;
    }

    memset(buf, 0, size);
    Writer w = {.buf = buf, .size = size, .len = SMBIOS_ENTRY_POINT_LEN};

    BiosInfo bios = {.vendor = 1,
                     .version = 2,
                     .start_segment = 0xe800,
                     .release_date = 3,
                     .characteristics = BIOS_CHARACTERISTICS_UNSUPPORTED,
                     .ext2 = BIOS_EXT2_VIRTUAL_MACHINE,
                     .ec_major = 0xff,
                     .ec_minor = 0xff};
    put_structure(&w, &bios, TYPE_BIOS, sizeof(bios));
    put_strings(&w, (const char *const[]){VENDOR, VMM_VERSION, "01/01/2026"}, 3);

    if (serial)
        sys.serial = 4;
    put_structure(&w, &sys, TYPE_SYSTEM, sizeof(sys));
    put_strings(&w, (const char *const[]){VENDOR, VENDOR, VMM_VERSION, serial ? serial : ""}, serial ? 4 : 3);

    if (platform && platform->n_oem_strings) {
        OemStrings oem = {.count = (uint8_t)platform->n_oem_strings};
        put_structure(&w, &oem, TYPE_OEM_STRINGS, sizeof(oem));
        put_strings(&w, (const char *const *)platform->oem_strings, platform->n_oem_strings);
    }

    Header end = {0};
    put_structure(&w, &end, TYPE_END, sizeof(end));
    put_strings(&w, NULL, 0);
    if (w.full) {
        snprintf(errbuf, errlen, "SMBIOS: the --platform strings do not fit in the %zu bytes of the tables",
                 size - SMBIOS_ENTRY_POINT_LEN);
        return -ENOSPC;
    }

    EntryPoint3 ep = {.anchor = {'_', 'S', 'M', '3', '_'},
                      .length = SMBIOS_ENTRY_POINT_LEN,
                      .major = 3,
                      .minor = 0,
                      .revision = 1,
                      .table_max_size = (uint32_t)(w.len - SMBIOS_ENTRY_POINT_LEN),
                      .table_address = base + SMBIOS_ENTRY_POINT_LEN};
    ep.checksum = checksum(&ep, sizeof(ep));
    memcpy(buf, &ep, sizeof(ep));
    return (long)w.len;
}

int smbios_write_tables(GuestMemory *mem, const PlatformConfig *platform, char *errbuf, size_t errlen)
{
    uint8_t buf[LAYOUT_SMBIOS_END - LAYOUT_SMBIOS_START];
    long n = smbios_build(buf, sizeof(buf), LAYOUT_SMBIOS_START, platform, errbuf, errlen);
    if (n < 0)
        return (int)n;
    /* The whole area, so tables of a previous boot cannot linger. */
    if (guest_memory_write(mem, LAYOUT_SMBIOS_START, buf, sizeof(buf)) < 0) {
        snprintf(errbuf, errlen, "SMBIOS: guest RAM does not cover [0x%llx, 0x%llx)",
                 (unsigned long long)LAYOUT_SMBIOS_START, (unsigned long long)LAYOUT_SMBIOS_END);
        return -EFAULT;
    }
    return 0;
}
