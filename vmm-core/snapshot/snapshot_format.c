/* SPDX-License-Identifier: Apache-2.0 */
#include "snapshot_format.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "le.h"

/* Header field offsets (docs/snapshot.md). */
#define OFF_MAGIC       0
#define OFF_VERSION     8
#define OFF_HEADER_SIZE 12
#define OFF_BODY_SIZE   16
#define OFF_BODY_CRC    24
#define OFF_CONFIG_CRC  28
#define OFF_CONFIG_SIZE 32
#define OFF_MEMORY_SIZE 40
#define OFF_N_VCPUS     48
#define OFF_N_SECTIONS  52
#define OFF_RESERVED    56
#define OFF_HEADER_CRC  60

uint32_t snapshot_crc32(uint32_t crc, const void *data, size_t len)
{
    /* Bitwise: the state files are small, and no table means nothing to
     * initialise or get wrong. */
    const uint8_t *p = data;
    crc = ~crc;
    for (size_t i = 0; i < len; i++) {
        crc ^= p[i];
        for (int b = 0; b < 8; b++)
            crc = (crc >> 1) ^ (0xedb88320u & (0u - (crc & 1u)));
    }
    return ~crc;
}

/* ------------------------------------------------------------- writing */

static uint8_t *reserve(SnapshotWriter *w, size_t n)
{
    if (w->failed)
        return NULL;
    if (n > SIZE_MAX - w->len) {
        w->failed = true;
        return NULL;
    }
    if (w->len + n > w->cap) {
        size_t cap = w->cap ? w->cap : 4096;
        while (cap < w->len + n)
            cap *= 2;
        uint8_t *b = realloc(w->buf, cap);
        if (!b) {
            w->failed = true;
            return NULL;
        }
        w->buf = b;
        w->cap = cap;
    }
    uint8_t *p = w->buf + w->len;
    w->len += n;
    return p;
}

void snapshot_writer_init(SnapshotWriter *w)
{
    memset(w, 0, sizeof(*w));
    /* The header is filled by finish(), once the body is known. */
    uint8_t *h = reserve(w, SNAPSHOT_HEADER_SIZE);
    if (h)
        memset(h, 0, SNAPSHOT_HEADER_SIZE);
}

void snapshot_writer_free(SnapshotWriter *w)
{
    free(w->buf);
    memset(w, 0, sizeof(*w));
}

void snapshot_section_begin(SnapshotWriter *w, uint32_t type, uint32_t instance)
{
    if (w->section_start) {
        /* A missing end() is a bug of ours; the file must not come out. */
        w->failed = true;
        return;
    }
    size_t start = w->len;
    uint8_t *h = reserve(w, SNAPSHOT_SECTION_HDR);
    if (!h)
        return;
    le_store(h, type, 4);
    le_store(h + 4, instance, 4);
    le_store(h + 8, 0, 8);
    w->section_start = start;
}

void snapshot_section_end(SnapshotWriter *w)
{
    if (!w->section_start) {
        w->failed = true;
        return;
    }
    if (!w->failed)
        le_store(w->buf + w->section_start + 8, w->len - w->section_start - SNAPSHOT_SECTION_HDR, 8);
    w->section_start = 0;
    w->n_sections++;
}

void snapshot_put_bytes(SnapshotWriter *w, const void *data, size_t len)
{
    uint8_t *p = reserve(w, len);
    if (p && len)
        memcpy(p, data, len);
}

static void put_le(SnapshotWriter *w, uint64_t v, unsigned bytes)
{
    uint8_t *p = reserve(w, bytes);
    if (p)
        le_store(p, v, bytes);
}

void snapshot_put_u8(SnapshotWriter *w, uint8_t v)
{
    put_le(w, v, 1);
}

void snapshot_put_u16(SnapshotWriter *w, uint16_t v)
{
    put_le(w, v, 2);
}

void snapshot_put_u32(SnapshotWriter *w, uint32_t v)
{
    put_le(w, v, 4);
}

void snapshot_put_u64(SnapshotWriter *w, uint64_t v)
{
    put_le(w, v, 8);
}

void snapshot_put_section(SnapshotWriter *w, uint32_t type, uint32_t instance, const void *data, size_t len)
{
    snapshot_section_begin(w, type, instance);
    snapshot_put_bytes(w, data, len);
    snapshot_section_end(w);
}

int snapshot_writer_finish(SnapshotWriter *w, const SnapshotInfo *info)
{
    if (w->section_start)
        return -EINVAL;
    if (w->failed || w->len < SNAPSHOT_HEADER_SIZE)
        return -ENOMEM;
    uint8_t *h = w->buf;
    const uint8_t *body = w->buf + SNAPSHOT_HEADER_SIZE;
    size_t body_len = w->len - SNAPSHOT_HEADER_SIZE;
    memcpy(h + OFF_MAGIC, SNAPSHOT_MAGIC, 8);
    le_store(h + OFF_VERSION, SNAPSHOT_VERSION, 4);
    le_store(h + OFF_HEADER_SIZE, SNAPSHOT_HEADER_SIZE, 4);
    le_store(h + OFF_BODY_SIZE, body_len, 8);
    le_store(h + OFF_BODY_CRC, snapshot_crc32(0, body, body_len), 4);
    le_store(h + OFF_CONFIG_CRC, info->config_crc, 4);
    le_store(h + OFF_CONFIG_SIZE, info->config_size, 8);
    le_store(h + OFF_MEMORY_SIZE, info->memory_size, 8);
    le_store(h + OFF_N_VCPUS, info->n_vcpus, 4);
    le_store(h + OFF_N_SECTIONS, w->n_sections, 4);
    le_store(h + OFF_RESERVED, 0, 4);
    le_store(h + OFF_HEADER_CRC, snapshot_crc32(0, h, OFF_HEADER_CRC), 4);
    return 0;
}

/* ------------------------------------------------------------- reading */

static int bad(char *errbuf, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int bad(char *errbuf, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = snprintf(errbuf, errlen, "snapshot state is invalid: ");
    if (n >= 0 && (size_t)n < errlen)
        vsnprintf(errbuf + n, errlen - (size_t)n, fmt, ap);
    va_end(ap);
    return -EINVAL;
}

int snapshot_state_parse(const uint8_t *buf, size_t len, SnapshotState *out, char *errbuf, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    if (len < SNAPSHOT_HEADER_SIZE)
        return bad(errbuf, errlen, "%zu bytes, shorter than its %u-byte header", len, SNAPSHOT_HEADER_SIZE);
    if (memcmp(buf + OFF_MAGIC, SNAPSHOT_MAGIC, 8) != 0)
        return bad(errbuf, errlen, "not a snapshot of this VMM (bad magic)");
    /* The version before the checksum: a newer format may checksum differently. */
    uint32_t version = (uint32_t)le_load(buf + OFF_VERSION, 4);
    if (version != SNAPSHOT_VERSION)
        return bad(errbuf, errlen, "format version %u, this VMM reads version %u", version, SNAPSHOT_VERSION);
    if (le_load(buf + OFF_HEADER_SIZE, 4) != SNAPSHOT_HEADER_SIZE)
        return bad(errbuf, errlen, "header size %u, expected %u", (unsigned)le_load(buf + OFF_HEADER_SIZE, 4),
                   SNAPSHOT_HEADER_SIZE);
    if (le_load(buf + OFF_HEADER_CRC, 4) != snapshot_crc32(0, buf, OFF_HEADER_CRC))
        return bad(errbuf, errlen, "header checksum mismatch (the file is damaged)");
    if (le_load(buf + OFF_RESERVED, 4) != 0)
        return bad(errbuf, errlen, "reserved header field is not zero");
    uint64_t body_len = le_load(buf + OFF_BODY_SIZE, 8);
    if (body_len != len - SNAPSHOT_HEADER_SIZE)
        return bad(errbuf, errlen, "header announces %llu bytes of sections, the file holds %zu (truncated?)",
                   (unsigned long long)body_len, len - SNAPSHOT_HEADER_SIZE);
    const uint8_t *body = buf + SNAPSHOT_HEADER_SIZE;
    if (le_load(buf + OFF_BODY_CRC, 4) != snapshot_crc32(0, body, (size_t)body_len))
        return bad(errbuf, errlen, "section checksum mismatch (the file is damaged)");

    out->info.config_crc = (uint32_t)le_load(buf + OFF_CONFIG_CRC, 4);
    out->info.config_size = le_load(buf + OFF_CONFIG_SIZE, 8);
    out->info.memory_size = le_load(buf + OFF_MEMORY_SIZE, 8);
    out->info.n_vcpus = (uint32_t)le_load(buf + OFF_N_VCPUS, 4);
    if (out->info.n_vcpus == 0 || out->info.n_vcpus > SNAPSHOT_MAX_VCPUS)
        return bad(errbuf, errlen, "%u vCPUs, expected 1..%u", out->info.n_vcpus, SNAPSHOT_MAX_VCPUS);
    uint32_t n = (uint32_t)le_load(buf + OFF_N_SECTIONS, 4);
    if (n > SNAPSHOT_MAX_SECTIONS)
        return bad(errbuf, errlen, "%u sections, at most %u allowed", n, SNAPSHOT_MAX_SECTIONS);

    out->sections = calloc(n ? n : 1, sizeof(*out->sections));
    if (!out->sections) {
        snprintf(errbuf, errlen, "out of memory");
        return -ENOMEM;
    }
    size_t off = 0;
    for (uint32_t i = 0; i < n; i++) {
        if ((size_t)body_len - off < SNAPSHOT_SECTION_HDR) {
            snapshot_state_free(out);
            return bad(errbuf, errlen, "section %u of %u does not fit in the file", i, n);
        }
        const uint8_t *h = body + off;
        SnapshotSection *s = &out->sections[i];
        s->type = (uint32_t)le_load(h, 4);
        s->instance = (uint32_t)le_load(h + 4, 4);
        uint64_t slen = le_load(h + 8, 8);
        off += SNAPSHOT_SECTION_HDR;
        if (slen > (size_t)body_len - off) {
            int r = bad(errbuf, errlen, "section %u (type 0x%x) is %llu bytes, only %zu left", i, s->type,
                        (unsigned long long)slen, (size_t)body_len - off);
            snapshot_state_free(out);
            return r;
        }
        s->data = body + off;
        s->len = (size_t)slen;
        off += (size_t)slen;
        for (uint32_t j = 0; j < i; j++) {
            if (out->sections[j].type == s->type && out->sections[j].instance == s->instance) {
                int r =
                    bad(errbuf, errlen, "section type 0x%x instance %u appears twice", s->type, s->instance);
                snapshot_state_free(out);
                return r;
            }
        }
        out->n_sections = i + 1;
    }
    if (off != body_len) {
        size_t extra = (size_t)body_len - off;
        snapshot_state_free(out);
        return bad(errbuf, errlen, "%zu bytes after the last section", extra);
    }
    return 0;
}

void snapshot_state_free(SnapshotState *s)
{
    free(s->sections);
    s->sections = NULL;
    s->n_sections = 0;
}

const SnapshotSection *snapshot_state_find(const SnapshotState *s, uint32_t type, uint32_t instance)
{
    for (size_t i = 0; i < s->n_sections; i++)
        if (s->sections[i].type == type && s->sections[i].instance == instance)
            return &s->sections[i];
    return NULL;
}

bool snapshot_reader_open(SnapshotReader *r, const SnapshotState *s, uint32_t type, uint32_t instance)
{
    const SnapshotSection *sec = snapshot_state_find(s, type, instance);
    r->p = sec ? sec->data : NULL;
    r->left = sec ? sec->len : 0;
    r->failed = !sec;
    return sec != NULL;
}

void snapshot_get_bytes(SnapshotReader *r, void *out, size_t len)
{
    if (r->failed || len > r->left) {
        r->failed = true;
        memset(out, 0, len);
        return;
    }
    memcpy(out, r->p, len);
    r->p += len;
    r->left -= len;
}

static uint64_t get_le(SnapshotReader *r, unsigned bytes)
{
    uint8_t b[8];
    snapshot_get_bytes(r, b, bytes);
    return le_load(b, bytes);
}

uint8_t snapshot_get_u8(SnapshotReader *r)
{
    return (uint8_t)get_le(r, 1);
}

uint16_t snapshot_get_u16(SnapshotReader *r)
{
    return (uint16_t)get_le(r, 2);
}

uint32_t snapshot_get_u32(SnapshotReader *r)
{
    return (uint32_t)get_le(r, 4);
}

uint64_t snapshot_get_u64(SnapshotReader *r)
{
    return get_le(r, 8);
}

bool snapshot_reader_done(const SnapshotReader *r)
{
    return !r->failed && r->left == 0;
}
