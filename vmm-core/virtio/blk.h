/* SPDX-License-Identifier: Apache-2.0 */
/*
 * virtio-blk (virtio 1.2, 5.2) on a raw image file. Requests IN, OUT,
 * FLUSH, GET_ID, DISCARD and WRITE_ZEROES; capacity is the file size
 * rounded down to 512 bytes (a partial last sector is never read or
 * written). Every request is checked before the file is touched: header
 * readable and complete, a status byte to write, data a whole number of
 * sectors, the sector range inside the capacity, writes refused on a
 * read-only disk, data buffers in the direction the request needs.
 * A bad request completes with VIRTIO_BLK_S_IOERR or _UNSUPP and is counted.
 *
 * Reads and writes go straight between the file and guest RAM (iovecs
 * from virtq_chain_iov); with direct=on (O_DIRECT) only when every segment
 * is aligned to the device's logical block, else through a page-aligned
 * bounce buffer. A disk on a transport has an io_uring (blk_io.h): the
 * worker queues every read, write and flush of a batch, submits them at
 * once and completes each as it finishes, in that order; a flush starts
 * after every request queued before it has finished. Without io_uring
 * (or with _disable_io_uring) each request is done synchronously.
 */
#pragma once

#include <stdint.h>

#include "config.h"
#include "rate_limiter.h"
#include "virtio_pci.h"

#define VIRTIO_BLK_T_IN           0
#define VIRTIO_BLK_T_OUT          1
#define VIRTIO_BLK_T_FLUSH        4
#define VIRTIO_BLK_T_GET_ID       8
#define VIRTIO_BLK_T_DISCARD      11
#define VIRTIO_BLK_T_WRITE_ZEROES 13
#define VIRTIO_BLK_S_OK           0
#define VIRTIO_BLK_S_IOERR        1
#define VIRTIO_BLK_S_UNSUPP       2
#define VIRTIO_BLK_ID_BYTES       20
#define VIRTIO_BLK_SECTOR         512

typedef struct VirtioBlk VirtioBlk;

typedef struct VirtioBlkCounters {
    uint64_t read_ops, read_bytes;
    uint64_t write_ops, write_bytes;
    uint64_t flush_ops, get_id_ops, discard_ops, write_zeroes_ops;
    uint64_t request_errors; /* malformed or out-of-range requests */
    uint64_t io_errors;      /* the host file failed us */
    uint64_t unsupported;
    uint64_t throttled; /* requests left waiting by the rate limiter */
} VirtioBlkCounters;

/* Opens the image. transport NULL: no PCI function (unit tests drive
 * virtio_blk_handle_request directly). The disk's own bw_* / ops_* limits
 * apply from here on. */
VirtioBlk *virtio_blk_new(const DiskConfig *cfg, const char *id, const VirtioPciConfig *transport,
                          char *errbuf, size_t errlen);
/* Before attach, at most once, and not for a disk with bw_* / ops_* of
 * its own: limit the disk with l, which other disks may share (a
 * --rate-limit-group); takes a reference. Every request costs one op, and
 * reads and writes their data bytes. A request that does not fit waits in
 * the ring (counted in `throttled`) until the limiter's timer resumes the
 * queue. */
int virtio_blk_set_rate_limiter(VirtioBlk *b, RateLimiter *l, char *errbuf, size_t errlen);
int virtio_blk_attach(VirtioBlk *b, PciBus *bus, char *errbuf, size_t errlen);
void virtio_blk_free(VirtioBlk *b);
VirtioPci *virtio_blk_transport(VirtioBlk *b);
uint64_t virtio_blk_capacity(const VirtioBlk *b); /* sectors */
/* Handles one request chain synchronously (a disk without transport);
 * returns the used length. */
uint32_t virtio_blk_handle_request(VirtioBlk *b, const Virtqueue *vq, const VirtqChain *c);
void virtio_blk_get_counters(const VirtioBlk *b, VirtioBlkCounters *out);
