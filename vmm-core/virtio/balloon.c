/* SPDX-License-Identifier: Apache-2.0 */
#include "balloon.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PAGE      (1ULL << VIRTIO_BALLOON_PFN_SHIFT)
#define PFN_CHUNK 256 /* PFNs read at a time (Linux sends at most 256 per chain) */

struct VirtioBalloon {
    const GuestMemory *mem;
    uint32_t num_pages; /* target */
    uint32_t actual;    /* as the driver last wrote it */
    bool reporting;
    VirtioDeviceOps ops;
    VirtioPci *transport;
    VirtioBalloonCounters counters;
};

static void count(uint64_t *c, uint64_t n)
{
    __atomic_fetch_add(c, n, __ATOMIC_RELAXED);
}

static void discard(VirtioBalloon *b, uint64_t gpa, uint64_t len)
{
    int r = guest_memory_discard(b->mem, gpa, len);
    if (r == -EFAULT)
        count(&b->counters.request_errors, 1);
    else if (r < 0)
        count(&b->counters.discard_errors, 1); /* e.g. 4 KiB of a hugepage */
}

/* An array of 32-bit PFNs in the readable part of the chain. */
static void pfns(VirtioBalloon *b, bool inflate, const Virtqueue *vq, const VirtqChain *c)
{
    if (c->writable_len || c->readable_len % 4)
        count(&b->counters.request_errors, 1);
    uint64_t n = c->readable_len / 4;
    uint32_t buf[PFN_CHUNK];
    for (uint64_t done = 0; done < n;) {
        uint64_t k = n - done < PFN_CHUNK ? n - done : PFN_CHUNK;
        if (virtq_chain_read(vq, c, done * 4, buf, k * 4) != (int64_t)(k * 4))
            return;
        for (uint64_t i = 0; i < k; i++) {
            uint64_t gpa = (uint64_t)buf[i] << VIRTIO_BALLOON_PFN_SHIFT;
            if (!guest_memory_range_ok(b->mem, gpa, PAGE)) {
                count(&b->counters.request_errors, 1);
                continue;
            }
            if (inflate)
                discard(b, gpa, PAGE);
        }
        done += k;
    }
    count(inflate ? &b->counters.inflated_pages : &b->counters.deflated_pages, n);
}

/* Free page reporting: each device-writable buffer is a free range. */
static void report(VirtioBalloon *b, const VirtqChain *c)
{
    if (c->readable_len)
        count(&b->counters.request_errors, 1);
    for (uint32_t i = c->n_readable; i < c->n_bufs; i++) {
        const VirtqBuf *buf = &c->bufs[i];
        /* virtqueue.c checked the range is in RAM; the alignment is ours. */
        if ((buf->addr | buf->len) & (PAGE - 1)) {
            count(&b->counters.request_errors, 1);
            continue;
        }
        discard(b, buf->addr, buf->len);
        count(&b->counters.reported_bytes, buf->len);
    }
}

uint32_t virtio_balloon_handle_request(VirtioBalloon *b, uint16_t q, const Virtqueue *vq, const VirtqChain *c)
{
    if (q == VIRTIO_BALLOON_INFLATE || q == VIRTIO_BALLOON_DEFLATE)
        pfns(b, q == VIRTIO_BALLOON_INFLATE, vq, c);
    else if (q == VIRTIO_BALLOON_REPORTING && b->reporting)
        report(b, c);
    else
        count(&b->counters.request_errors, 1);
    return 0;
}

static uint32_t balloon_handle(void *dev, uint16_t q, const Virtqueue *vq, const VirtqChain *c)
{
    return virtio_balloon_handle_request(dev, q, vq, c);
}

static void config_bytes(const VirtioBalloon *b, uint8_t cfg[VIRTIO_BALLOON_CONFIG_SIZE])
{
    for (int i = 0; i < 4; i++) {
        cfg[i] = (uint8_t)(b->num_pages >> (8 * i));
        cfg[4 + i] = (uint8_t)(b->actual >> (8 * i));
    }
}

static void balloon_config_read(void *dev, uint32_t offset, uint8_t *data, uint32_t len)
{
    uint8_t cfg[VIRTIO_BALLOON_CONFIG_SIZE];
    config_bytes(dev, cfg);
    if (offset < sizeof(cfg))
        memcpy(data, cfg + offset, len <= sizeof(cfg) - offset ? len : sizeof(cfg) - offset);
}

void virtio_balloon_config_write(VirtioBalloon *b, uint32_t offset, const uint8_t *data, uint32_t len)
{
    /* Only `actual` is the driver's (5.5.6); num_pages is ours. Any byte
     * range inside it is merged in, as a register would take it. */
    if (offset < 4 || offset >= VIRTIO_BALLOON_CONFIG_SIZE || len > VIRTIO_BALLOON_CONFIG_SIZE - offset) {
        count(&b->counters.request_errors, 1);
        return;
    }
    uint8_t cfg[VIRTIO_BALLOON_CONFIG_SIZE];
    config_bytes(b, cfg);
    memcpy(cfg + offset, data, len);
    b->actual = (uint32_t)cfg[4] | (uint32_t)cfg[5] << 8 | (uint32_t)cfg[6] << 16 | (uint32_t)cfg[7] << 24;
    __atomic_store_n(&b->counters.actual_pages, b->actual, __ATOMIC_RELAXED);
}

static void balloon_config_write(void *dev, uint32_t offset, const uint8_t *data, uint32_t len)
{
    virtio_balloon_config_write(dev, offset, data, len);
}

static void balloon_reset(void *dev)
{
    VirtioBalloon *b = dev;
    b->actual = 0;
    __atomic_store_n(&b->counters.actual_pages, 0, __ATOMIC_RELAXED);
}

VirtioBalloon *virtio_balloon_new(const BalloonConfig *cfg, const char *id, const GuestMemory *mem,
                                  const VirtioPciConfig *transport, char *errbuf, size_t errlen)
{
    if (cfg->size / PAGE > UINT32_MAX) {
        snprintf(errbuf, errlen, "%s: --balloon size= is above what num_pages can hold", id);
        return NULL;
    }
    VirtioBalloon *b = calloc(1, sizeof(*b));
    if (!b) {
        snprintf(errbuf, errlen, "%s: out of memory", id);
        return NULL;
    }
    b->mem = mem;
    b->num_pages = (uint32_t)(cfg->size / PAGE);
    b->counters.target_pages = b->num_pages;
    b->reporting = cfg->free_page_reporting;
    uint64_t f = 0;
    if (cfg->deflate_on_oom)
        f |= 1ULL << VIRTIO_BALLOON_F_DEFLATE_ON_OOM;
    if (cfg->free_page_reporting)
        f |= 1ULL << VIRTIO_BALLOON_F_PAGE_REPORTING;
    b->ops = (VirtioDeviceOps){
        .type = VIRTIO_ID_BALLOON,
        .pci_class = 0x058000, /* memory controller, other */
        .features = f,
        .config_size = VIRTIO_BALLOON_CONFIG_SIZE,
        .config_read = balloon_config_read,
        .config_write = balloon_config_write,
        .handle = balloon_handle,
        .reset = balloon_reset,
    };
    if (transport) {
        VirtioPciConfig tc = *transport;
        tc.id = id;
        tc.num_queues = cfg->free_page_reporting ? 3 : 2;
        tc.queue_size = 128;
        b->transport = virtio_pci_new(&b->ops, b, &tc, errbuf, errlen);
        if (!b->transport) {
            free(b);
            return NULL;
        }
    }
    return b;
}

int virtio_balloon_attach(VirtioBalloon *b, PciBus *bus, char *errbuf, size_t errlen)
{
    return virtio_pci_attach(b->transport, bus, errbuf, errlen);
}

void virtio_balloon_free(VirtioBalloon *b)
{
    if (!b)
        return;
    virtio_pci_free(b->transport);
    free(b);
}

int virtio_balloon_resize(VirtioBalloon *b, uint64_t bytes)
{
    /* The guest cannot give more pages than it has. */
    if (bytes / PAGE > b->mem->ram_size / PAGE)
        return -EINVAL;
    if (b->transport)
        virtio_pci_freeze(b->transport);
    b->num_pages = (uint32_t)(bytes / PAGE);
    __atomic_store_n(&b->counters.target_pages, b->num_pages, __ATOMIC_RELAXED);
    if (b->transport) {
        virtio_pci_thaw(b->transport);
        virtio_pci_config_changed(b->transport);
    }
    return 0;
}

VirtioPci *virtio_balloon_transport(VirtioBalloon *b)
{
    return b->transport;
}

void virtio_balloon_get_counters(const VirtioBalloon *b, VirtioBalloonCounters *out)
{
    const uint64_t *src = (const uint64_t *)&b->counters;
    uint64_t *dst = (uint64_t *)out;
    for (size_t i = 0; i < sizeof(*out) / sizeof(uint64_t); i++)
        dst[i] = __atomic_load_n(&src[i], __ATOMIC_RELAXED);
}

void virtio_balloon_save(VirtioBalloon *b, SnapshotWriter *w)
{
    snapshot_put_u32(w, b->num_pages);
    snapshot_put_u32(w, b->actual);
}

int virtio_balloon_load(VirtioBalloon *b, SnapshotReader *r)
{
    uint32_t num_pages = snapshot_get_u32(r), actual = snapshot_get_u32(r);
    /* The guest has no more pages than its RAM to give. */
    if (r->failed || num_pages > b->mem->ram_size / PAGE || actual > b->mem->ram_size / PAGE)
        return -EINVAL;
    virtio_pci_freeze(b->transport);
    b->num_pages = num_pages;
    b->actual = actual;
    __atomic_store_n(&b->counters.target_pages, num_pages, __ATOMIC_RELAXED);
    __atomic_store_n(&b->counters.actual_pages, actual, __ATOMIC_RELAXED);
    virtio_pci_thaw(b->transport);
    return 0;
}
