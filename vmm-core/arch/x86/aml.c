/* SPDX-License-Identifier: Apache-2.0 */
#include <stdlib.h>
#include <string.h>

#include "aml.h"

#define AML_ZERO_OP           0x00
#define AML_ONE_OP            0x01
#define AML_NAME_OP           0x08
#define AML_BYTE_PREFIX       0x0a
#define AML_WORD_PREFIX       0x0b
#define AML_DWORD_PREFIX      0x0c
#define AML_STRING_PREFIX     0x0d
#define AML_QWORD_PREFIX      0x0e
#define AML_SCOPE_OP          0x10
#define AML_BUFFER_OP         0x11
#define AML_PACKAGE_OP        0x12
#define AML_DUAL_NAME_PREFIX  0x2e
#define AML_MULTI_NAME_PREFIX 0x2f
#define AML_EXT_OP_PREFIX     0x5b
#define AML_METHOD_OP         0x14
#define AML_LOCAL0_OP         0x60
#define AML_ARG0_OP           0x68
#define AML_STORE_OP          0x70
#define AML_AND_OP            0x7b
#define AML_NOTIFY_OP         0x86
#define AML_IF_OP             0xa0
#define AML_RETURN_OP         0xa4
#define AML_DEVICE_OP         0x82 /* after AML_EXT_OP_PREFIX */
#define AML_OP_REGION_OP      0x80 /* after AML_EXT_OP_PREFIX */
#define AML_FIELD_OP          0x81 /* after AML_EXT_OP_PREFIX */
#define AML_ROOT_CHAR         '\\'
/* FieldFlags: AccessType DWordAcc (3), NoLock, UpdateRule WriteAsZeros (2 << 5). */
#define AML_FIELD_DWORD_WRITE_ZEROS 0x43

#define AML_MAX_PKG_LENGTH (1U << 28)
#define AML_MAX_NAME_SEGS  16

/* Resource descriptor tags (ACPI 6.4 "Resource Data Types"). */
#define RES_IRQ_NO_FLAGS 0x22 /* small item 0x04, length 2 */
#define RES_IO           0x47 /* small item 0x08, length 7 */
#define RES_END_TAG      0x79 /* small item 0x0f, length 1 */
#define RES_MEM32_FIXED  0x86
#define RES_EXT_IRQ      0x89
#define RES_DWORD_ADDR   0x87
#define RES_WORD_ADDR    0x88
#define RES_QWORD_ADDR   0x8a
#define RES_ADDR_MEMORY  0
#define RES_ADDR_IO      1
#define RES_ADDR_BUS     2
/* General flags: producer (bit 0 clear), positive decode, min and max fixed. */
#define RES_ADDR_PRODUCER_FIXED 0x0c

void aml_free(AmlBuf *b)
{
    free(b->data);
    memset(b, 0, sizeof(*b));
}

bool aml_failed(const AmlBuf *b)
{
    return b->failed;
}

static bool reserve(AmlBuf *b, size_t extra)
{
    if (b->failed)
        return false;
    if (extra > AML_MAX_PKG_LENGTH || b->len + extra > AML_MAX_PKG_LENGTH) {
        b->failed = true;
        return false;
    }
    if (b->len + extra <= b->cap)
        return true;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + extra)
        cap *= 2;
    uint8_t *p = realloc(b->data, cap);
    if (!p) {
        b->failed = true;
        return false;
    }
    b->data = p;
    b->cap = cap;
    return true;
}

void aml_bytes(AmlBuf *b, const void *p, size_t n)
{
    if (!reserve(b, n))
        return;
    memcpy(b->data + b->len, p, n);
    b->len += n;
}

void aml_byte(AmlBuf *b, uint8_t v)
{
    aml_bytes(b, &v, 1);
}

static void put_le(AmlBuf *b, uint64_t v, size_t n)
{
    uint8_t tmp[8];
    for (size_t i = 0; i < n; i++)
        tmp[i] = (uint8_t)(v >> (8 * i));
    aml_bytes(b, tmp, n);
}

void aml_integer(AmlBuf *b, uint64_t v)
{
    if (v == 0) {
        aml_byte(b, AML_ZERO_OP);
    } else if (v == 1) {
        aml_byte(b, AML_ONE_OP);
    } else if (v <= UINT8_MAX) {
        aml_byte(b, AML_BYTE_PREFIX);
        put_le(b, v, 1);
    } else if (v <= UINT16_MAX) {
        aml_byte(b, AML_WORD_PREFIX);
        put_le(b, v, 2);
    } else if (v <= UINT32_MAX) {
        aml_byte(b, AML_DWORD_PREFIX);
        put_le(b, v, 4);
    } else {
        aml_byte(b, AML_QWORD_PREFIX);
        put_le(b, v, 8);
    }
}

void aml_string(AmlBuf *b, const char *s)
{
    /* AML strings are ASCII 0x01-0x7f, NUL terminated. */
    for (const char *c = s; *c; c++)
        if ((unsigned char)*c > 0x7f)
            b->failed = true;
    aml_byte(b, AML_STRING_PREFIX);
    aml_bytes(b, s, strlen(s) + 1);
}

void aml_eisaid(AmlBuf *b, const char *id)
{
    /* Three letters of 5 bits each ('A' = 1) then four hex digits, stored
     * big-endian: "PNP0A03" is the bytes 41 d0 0a 03. */
    uint32_t v = 0;
    if (strlen(id) != 7) {
        b->failed = true;
        return;
    }
    for (int i = 0; i < 3; i++) {
        if (id[i] < 'A' || id[i] > 'Z')
            b->failed = true;
        v = (v << 5) | (uint32_t)((id[i] - 0x40) & 0x1f);
    }
    for (int i = 3; i < 7; i++) {
        char c = id[i];
        uint32_t d;
        if (c >= '0' && c <= '9')
            d = (uint32_t)(c - '0');
        else if (c >= 'A' && c <= 'F')
            d = (uint32_t)(c - 'A' + 10);
        else {
            b->failed = true;
            d = 0;
        }
        v = (v << 4) | d;
    }
    uint8_t bytes[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
    aml_byte(b, AML_DWORD_PREFIX);
    aml_bytes(b, bytes, 4);
}

static bool name_char_ok(char c, bool first)
{
    return (c >= 'A' && c <= 'Z') || c == '_' || (!first && c >= '0' && c <= '9');
}

void aml_namestring(AmlBuf *b, const char *path)
{
    char segs[AML_MAX_NAME_SEGS][4];
    size_t n = 0;
    const char *p = path;

    if (*p == AML_ROOT_CHAR) {
        aml_byte(b, AML_ROOT_CHAR);
        p++;
    }
    while (*p) {
        size_t l = strcspn(p, ".");
        if (l == 0 || l > 4 || n == AML_MAX_NAME_SEGS) {
            b->failed = true;
            return;
        }
        for (size_t i = 0; i < 4; i++) {
            char c = i < l ? p[i] : '_';
            if (!name_char_ok(c, i == 0)) {
                b->failed = true;
                return;
            }
            segs[n][i] = c;
        }
        n++;
        p += l;
        if (*p == '.' && *++p == 0) {
            b->failed = true; /* trailing dot */
            return;
        }
    }
    if (n == 0) {
        aml_byte(b, 0x00); /* NullName */
        return;
    }
    if (n == 2)
        aml_byte(b, AML_DUAL_NAME_PREFIX);
    else if (n > 2) {
        aml_byte(b, AML_MULTI_NAME_PREFIX);
        aml_byte(b, (uint8_t)n);
    }
    aml_bytes(b, segs, n * 4);
}

void aml_name(AmlBuf *b, const char *path)
{
    aml_byte(b, AML_NAME_OP);
    aml_namestring(b, path);
}

size_t aml_scope_begin(AmlBuf *b, const char *path)
{
    aml_byte(b, AML_SCOPE_OP);
    size_t mark = b->len;
    aml_namestring(b, path);
    return mark;
}

size_t aml_device_begin(AmlBuf *b, const char *path)
{
    aml_byte(b, AML_EXT_OP_PREFIX);
    aml_byte(b, AML_DEVICE_OP);
    size_t mark = b->len;
    aml_namestring(b, path);
    return mark;
}

size_t aml_package_begin(AmlBuf *b, uint8_t n_elements)
{
    aml_byte(b, AML_PACKAGE_OP);
    size_t mark = b->len;
    aml_byte(b, n_elements);
    return mark;
}

/* Inserts the PkgLength for the bytes from mark to the end. The length
 * counts its own bytes: one byte holds up to 63, otherwise the lead byte
 * keeps 4 bits and 1-3 more bytes follow. */
void aml_end(AmlBuf *b, size_t mark)
{
    if (b->failed || mark > b->len)
        return;
    size_t body = b->len - mark, total, n;
    if (body + 1 < 0x40)
        n = 1;
    else if (body + 2 < 0x1000)
        n = 2;
    else if (body + 3 < 0x100000)
        n = 3;
    else
        n = 4;
    total = body + n;
    if (total >= AML_MAX_PKG_LENGTH || !reserve(b, n)) {
        b->failed = true;
        return;
    }
    memmove(b->data + mark + n, b->data + mark, body);
    uint8_t *p = b->data + mark;
    if (n == 1) {
        p[0] = (uint8_t)total;
    } else {
        p[0] = (uint8_t)(((n - 1) << 6) | (total & 0x0f));
        for (size_t i = 1; i < n; i++)
            p[i] = (uint8_t)(total >> (4 + 8 * (i - 1)));
    }
    b->len += n;
}

/* ------------------------------------------------ methods, statements */

size_t aml_method_begin(AmlBuf *b, const char *name, uint8_t n_args)
{
    aml_byte(b, AML_METHOD_OP);
    size_t mark = b->len;
    aml_namestring(b, name);
    if (n_args > 7)
        b->failed = true;
    aml_byte(b, n_args & 7); /* MethodFlags: ArgCount, NotSerialized, SyncLevel 0 */
    return mark;
}

size_t aml_if_begin(AmlBuf *b)
{
    aml_byte(b, AML_IF_OP);
    return b->len;
}

void aml_store(AmlBuf *b)
{
    aml_byte(b, AML_STORE_OP);
}

void aml_and(AmlBuf *b)
{
    aml_byte(b, AML_AND_OP);
}

void aml_notify(AmlBuf *b)
{
    aml_byte(b, AML_NOTIFY_OP);
}

void aml_local(AmlBuf *b, unsigned n)
{
    if (n > 7)
        b->failed = true;
    aml_byte(b, (uint8_t)(AML_LOCAL0_OP + (n & 7)));
}

void aml_arg(AmlBuf *b, unsigned n)
{
    if (n > 6)
        b->failed = true;
    aml_byte(b, (uint8_t)(AML_ARG0_OP + (n < 7 ? n : 0)));
}

void aml_no_target(AmlBuf *b)
{
    aml_byte(b, 0x00); /* NullName */
}

void aml_return(AmlBuf *b)
{
    aml_byte(b, AML_RETURN_OP);
}

void aml_buffer(AmlBuf *b, const void *data, size_t n)
{
    aml_byte(b, AML_BUFFER_OP);
    size_t mark = b->len;
    aml_integer(b, n);
    aml_bytes(b, data, n);
    aml_end(b, mark);
}

void aml_operation_region(AmlBuf *b, const char *name, uint8_t space, uint64_t offset, uint64_t len)
{
    aml_byte(b, AML_EXT_OP_PREFIX);
    aml_byte(b, AML_OP_REGION_OP);
    aml_namestring(b, name);
    aml_byte(b, space);
    aml_integer(b, offset);
    aml_integer(b, len);
}

/* A field unit's length in bits is a PkgLength-encoded number that, unlike
 * a package's, does not count its own bytes. */
static void field_length(AmlBuf *b, uint32_t bits)
{
    if (bits == 0 || bits >= (1U << 28)) {
        b->failed = true;
        return;
    }
    if (bits < 0x40) {
        aml_byte(b, (uint8_t)bits);
        return;
    }
    size_t n = bits < (1U << 12) ? 2 : bits < (1U << 20) ? 3 : 4;
    aml_byte(b, (uint8_t)(((n - 1) << 6) | (bits & 0x0f)));
    for (size_t i = 1; i < n; i++)
        aml_byte(b, (uint8_t)(bits >> (4 + 8 * (i - 1))));
}

void aml_field_dword(AmlBuf *b, const char *region, const AmlFieldUnit *units, size_t n)
{
    aml_byte(b, AML_EXT_OP_PREFIX);
    aml_byte(b, AML_FIELD_OP);
    size_t mark = b->len;
    aml_namestring(b, region);
    aml_byte(b, AML_FIELD_DWORD_WRITE_ZEROS);
    for (size_t i = 0; i < n; i++) {
        /* A NamedField is a bare NameSeg: exactly four characters. */
        size_t l = strlen(units[i].name);
        if (l == 0 || l > 4) {
            b->failed = true;
            return;
        }
        char seg[4];
        for (size_t j = 0; j < 4; j++) {
            seg[j] = j < l ? units[i].name[j] : '_';
            if (!name_char_ok(seg[j], j == 0)) {
                b->failed = true;
                return;
            }
        }
        aml_bytes(b, seg, 4);
        field_length(b, units[i].bits);
    }
    aml_end(b, mark);
}

/* -------------------------------------------------- resource templates */

void aml_res_io(AmlBuf *r, uint16_t port, uint8_t len)
{
    aml_byte(r, RES_IO);
    aml_byte(r, 0x01); /* 16-bit decode */
    put_le(r, port, 2);
    put_le(r, port, 2);
    aml_byte(r, 1); /* alignment */
    aml_byte(r, len);
}

void aml_res_irq(AmlBuf *r, uint8_t irq)
{
    aml_byte(r, RES_IRQ_NO_FLAGS);
    put_le(r, irq < 16 ? 1u << irq : 0, 2);
    if (irq >= 16)
        r->failed = true;
}

static void word_addr(AmlBuf *r, uint8_t type, uint8_t type_flags, uint16_t min, uint16_t max)
{
    aml_byte(r, RES_WORD_ADDR);
    put_le(r, 13, 2); /* bytes after the length field */
    aml_byte(r, type);
    aml_byte(r, RES_ADDR_PRODUCER_FIXED);
    aml_byte(r, type_flags);
    put_le(r, 0, 2); /* granularity */
    put_le(r, min, 2);
    put_le(r, max, 2);
    put_le(r, 0, 2); /* translation offset */
    put_le(r, (uint32_t)max - min + 1, 2);
    if (max < min || (uint32_t)max - min + 1 > UINT16_MAX)
        r->failed = true;
}

void aml_res_bus_range(AmlBuf *r, uint16_t min, uint16_t max)
{
    word_addr(r, RES_ADDR_BUS, 0, min, max);
}

void aml_res_io_range(AmlBuf *r, uint16_t min, uint16_t max)
{
    word_addr(r, RES_ADDR_IO, 0x03 /* ISA and non-ISA ranges */, min, max);
}

void aml_res_mem32_range(AmlBuf *r, uint32_t min, uint32_t max)
{
    aml_byte(r, RES_DWORD_ADDR);
    put_le(r, 23, 2);
    aml_byte(r, RES_ADDR_MEMORY);
    aml_byte(r, RES_ADDR_PRODUCER_FIXED);
    aml_byte(r, 0x01); /* read/write, non-cacheable */
    put_le(r, 0, 4);
    put_le(r, min, 4);
    put_le(r, max, 4);
    put_le(r, 0, 4);
    put_le(r, (uint64_t)max - min + 1, 4);
    if (max < min || (uint64_t)max - min + 1 > UINT32_MAX)
        r->failed = true;
}

void aml_res_mem32_fixed(AmlBuf *r, uint32_t base, uint32_t len)
{
    aml_byte(r, RES_MEM32_FIXED);
    put_le(r, 9, 2);
    aml_byte(r, 0x01); /* read/write */
    put_le(r, base, 4);
    put_le(r, len, 4);
}

void aml_res_mem64_fixed(AmlBuf *r, uint64_t base, uint64_t len)
{
    aml_byte(r, RES_QWORD_ADDR);
    put_le(r, 43, 2);
    aml_byte(r, RES_ADDR_MEMORY);
    aml_byte(r, 0x0d); /* consumer, positive decode, min and max fixed */
    aml_byte(r, 0x03); /* read/write, cacheable */
    put_le(r, 0, 8);   /* granularity */
    put_le(r, base, 8);
    put_le(r, base + len - 1, 8);
    put_le(r, 0, 8); /* translation */
    put_le(r, len, 8);
    if (len == 0 || base + len - 1 < base)
        r->failed = true;
}

void aml_res_interrupt_edge(AmlBuf *r, uint32_t gsi)
{
    aml_byte(r, RES_EXT_IRQ);
    put_le(r, 6, 2);
    aml_byte(r, 0x03); /* consumer, edge, active high, exclusive, not wake */
    aml_byte(r, 1);    /* one interrupt */
    put_le(r, gsi, 4);
}

void aml_resource_template(AmlBuf *b, const AmlBuf *r)
{
    if (r->failed) {
        b->failed = true;
        return;
    }
    aml_byte(b, AML_BUFFER_OP);
    size_t mark = b->len;
    aml_integer(b, r->len + 2);
    aml_bytes(b, r->data, r->len);
    aml_byte(b, RES_END_TAG);
    aml_byte(b, 0); /* checksum 0: "treat as correct" */
    aml_end(b, mark);
}
