/* SPDX-License-Identifier: Apache-2.0 */
#include "rng.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "inherited_fd.h"

#define CHUNK 4096

struct VirtioRng {
    int fd;
    uint8_t buf[CHUNK];
    VirtioDeviceOps ops;
    VirtioPci *transport;
    VirtioRngCounters counters;
};

uint32_t virtio_rng_handle_request(VirtioRng *r, const Virtqueue *vq, const VirtqChain *c)
{
    if (c->readable_len)
        __atomic_fetch_add(&r->counters.request_errors, 1, __ATOMIC_RELAXED);
    uint64_t want = c->writable_len < VIRTIO_RNG_MAX_REQUEST ? c->writable_len : VIRTIO_RNG_MAX_REQUEST;
    uint64_t done = 0;
    while (done < want) {
        size_t n = want - done < CHUNK ? (size_t)(want - done) : CHUNK;
        ssize_t got = read(r->fd, r->buf, n);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0) { /* a file source ran out, or failed */
            if (got < 0)
                __atomic_fetch_add(&r->counters.request_errors, 1, __ATOMIC_RELAXED);
            break;
        }
        if (virtq_chain_write(vq, c, done, r->buf, (uint64_t)got) != got)
            break;
        done += (uint64_t)got;
    }
    __atomic_fetch_add(&r->counters.requests, 1, __ATOMIC_RELAXED);
    __atomic_fetch_add(&r->counters.bytes, done, __ATOMIC_RELAXED);
    return (uint32_t)done;
}

static uint32_t rng_handle(void *dev, uint16_t q, const Virtqueue *vq, const VirtqChain *c)
{
    (void)q;
    return virtio_rng_handle_request(dev, vq, c);
}

VirtioRng *virtio_rng_new(const RngConfig *cfg, const char *id, const VirtioPciConfig *transport,
                          char *errbuf, size_t errlen)
{
    VirtioRng *r = calloc(1, sizeof(*r));
    if (!r) {
        snprintf(errbuf, errlen, "%s: out of memory", id);
        return NULL;
    }
    const char *src = cfg->src ? cfg->src : "/dev/urandom";
    r->fd = open_or_inherit(src, O_RDONLY, 0);
    if (r->fd < 0) {
        snprintf(errbuf, errlen, "%s: cannot open --rng src=%s: %s", id, src, strerror(errno));
        free(r);
        return NULL;
    }
    r->ops = (VirtioDeviceOps){
        .type = VIRTIO_ID_RNG,
        .pci_class = 0xff0000, /* unclassified */
        .config_size = 0,
        .handle = rng_handle,
    };
    if (transport) {
        VirtioPciConfig tc = *transport;
        tc.id = id;
        tc.num_queues = 1;
        tc.queue_size = 256;
        r->transport = virtio_pci_new(&r->ops, r, &tc, errbuf, errlen);
        if (!r->transport) {
            virtio_rng_free(r);
            return NULL;
        }
    }
    return r;
}

int virtio_rng_attach(VirtioRng *r, PciBus *bus, char *errbuf, size_t errlen)
{
    return virtio_pci_attach(r->transport, bus, errbuf, errlen);
}

void virtio_rng_free(VirtioRng *r)
{
    if (!r)
        return;
    virtio_pci_free(r->transport);
    if (r->fd >= 0)
        close(r->fd);
    free(r);
}

VirtioPci *virtio_rng_transport(VirtioRng *r)
{
    return r->transport;
}

void virtio_rng_get_counters(const VirtioRng *r, VirtioRngCounters *out)
{
    out->requests = __atomic_load_n(&r->counters.requests, __ATOMIC_RELAXED);
    out->bytes = __atomic_load_n(&r->counters.bytes, __ATOMIC_RELAXED);
    out->request_errors = __atomic_load_n(&r->counters.request_errors, __ATOMIC_RELAXED);
}
