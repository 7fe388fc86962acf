/* SPDX-License-Identifier: Apache-2.0 */
/*
 * virtio-rng (virtio 1.2, 5.4): one queue; each chain's device-writable
 * buffers are filled from --rng src= (default /dev/urandom), at most
 * VIRTIO_RNG_MAX_REQUEST bytes per chain so one request cannot hold the
 * worker for long. Readable buffers in a chain are a driver bug: counted,
 * ignored.
 */
#pragma once

#include <stdint.h>

#include "config.h"
#include "virtio_pci.h"

#define VIRTIO_RNG_MAX_REQUEST 65536

typedef struct VirtioRng VirtioRng;

typedef struct VirtioRngCounters {
    uint64_t requests, bytes;
    uint64_t request_errors; /* readable buffers, source failures */
} VirtioRngCounters;

VirtioRng *virtio_rng_new(const RngConfig *cfg, const char *id, const VirtioPciConfig *transport,
                          char *errbuf, size_t errlen);
int virtio_rng_attach(VirtioRng *r, PciBus *bus, char *errbuf, size_t errlen);
void virtio_rng_free(VirtioRng *r);
VirtioPci *virtio_rng_transport(VirtioRng *r);
uint32_t virtio_rng_handle_request(VirtioRng *r, const Virtqueue *vq, const VirtqChain *c);
void virtio_rng_get_counters(const VirtioRng *r, VirtioRngCounters *out);
