/* SPDX-License-Identifier: Apache-2.0 */
/*
 * virtio-balloon (virtio 1.2, 5.5) for --balloon size=,deflate_on_oom=,
 * free_page_reporting=. The target (num_pages) is size / 4 KiB; the guest
 * reports what it gave in `actual`.
 *
 * Queues: inflateq 0, deflateq 1, and reporting_vq 2 when
 * free_page_reporting=on (no stats queue, no free page hints, so the
 * reporting queue is the third one, as the driver numbers them). Pages the
 * guest inflates and ranges it reports free go back to the host
 * (guest_memory_discard: MADV_DONTNEED, or a hole punched in the memfd of
 * shared memory); deflated pages need nothing, the next touch faults in a
 * zero page. Every PFN and range is checked to lie in guest RAM.
 */
#pragma once

#include <stdint.h>

#include "config.h"
#include "virtio_pci.h"

#define VIRTIO_BALLOON_F_DEFLATE_ON_OOM 2
#define VIRTIO_BALLOON_F_PAGE_REPORTING 5

#define VIRTIO_BALLOON_INFLATE     0
#define VIRTIO_BALLOON_DEFLATE     1
#define VIRTIO_BALLOON_REPORTING   2
#define VIRTIO_BALLOON_PFN_SHIFT   12
#define VIRTIO_BALLOON_CONFIG_SIZE 8 /* num_pages, actual */

typedef struct VirtioBalloon VirtioBalloon;

typedef struct VirtioBalloonCounters {
    uint64_t inflated_pages, deflated_pages; /* PFNs received */
    uint64_t reported_bytes;                 /* free page reporting */
    uint64_t discard_errors;                 /* the host refused to drop a range */
    uint64_t request_errors;                 /* PFNs outside RAM, odd lengths, wrong direction */
    uint64_t target_pages, actual_pages;
} VirtioBalloonCounters;

/* transport NULL: no PCI function (unit tests). */
VirtioBalloon *virtio_balloon_new(const BalloonConfig *cfg, const char *id, const GuestMemory *mem,
                                  const VirtioPciConfig *transport, char *errbuf, size_t errlen);
int virtio_balloon_attach(VirtioBalloon *b, PciBus *bus, char *errbuf, size_t errlen);
void virtio_balloon_free(VirtioBalloon *b);
VirtioPci *virtio_balloon_transport(VirtioBalloon *b);
/* vm.resize: a new target of bytes (rounded down to pages), announced to
 * the driver with a configuration-change interrupt. -EINVAL above RAM. */
int virtio_balloon_resize(VirtioBalloon *b, uint64_t bytes);
uint32_t virtio_balloon_handle_request(VirtioBalloon *b, uint16_t q, const Virtqueue *vq,
                                       const VirtqChain *c);
void virtio_balloon_config_write(VirtioBalloon *b, uint32_t offset, const uint8_t *data, uint32_t len);
void virtio_balloon_get_counters(const VirtioBalloon *b, VirtioBalloonCounters *out);

/* The target and the driver's actual page count, to and from a snapshot
 * section; the transport is frozen (virtio_pci_freeze) around a save and
 * loaded before a load. */
void virtio_balloon_save(VirtioBalloon *b, SnapshotWriter *w);
int virtio_balloon_load(VirtioBalloon *b, SnapshotReader *r);
