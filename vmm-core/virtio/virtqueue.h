/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Split virtqueues (virtio 1.2, 2.7), device side. Everything in the rings
 * is written by the guest and may change under our feet, so each value is
 * read once into a local copy and validated there:
 *
 * - avail->idx may run at most queue size ahead of what we consumed;
 * - a head or next index must be < the size of the table it indexes;
 * - a chain holds at most queue-size descriptors (direct and indirect
 *   together), which also ends any loop;
 * - an indirect descriptor: only with VIRTIO_F_INDIRECT_DESC, never with
 *   NEXT, never inside an indirect table, length a non-zero multiple of 16,
 *   the table wholly in guest RAM;
 * - every buffer lies wholly inside one guest RAM region (so never in MMIO
 *   or outside the guest), and device-writable buffers come after all
 *   device-readable ones.
 *
 * A violation returns VIRTQ_BROKEN: the caller marks the device
 * NEEDS_RESET, counts it and stops using the queue. Buffers are only ever
 * described by guest addresses; devices copy through virtq_chain_read/
 * write, or take host iovecs from virtq_chain_iov, which all go through
 * guest_memory again.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sys/uio.h>

#include "guest_memory.h"

#define VIRTQ_DESC_F_NEXT          1
#define VIRTQ_DESC_F_WRITE         2
#define VIRTQ_DESC_F_INDIRECT      4
#define VIRTQ_AVAIL_F_NO_INTERRUPT 1
#define VIRTQ_MAX_SIZE             32768

typedef struct VirtqBuf {
    uint64_t addr;
    uint32_t len;
    bool writable;
} VirtqBuf;

typedef struct VirtqChain {
    uint16_t head;
    uint32_t n_bufs;
    VirtqBuf *bufs;      /* capacity: queue size, owned by the Virtqueue */
    uint32_t n_readable; /* bufs[0, n_readable) readable, the rest writable */
    uint64_t readable_len, writable_len;
} VirtqChain;

typedef struct Virtqueue {
    /* Set by the driver through the transport. */
    uint16_t size;
    uint64_t desc, avail, used;
    bool ready;
    uint16_t msix_vector;
    /* Device state. */
    const GuestMemory *mem;
    bool event_idx, indirect; /* negotiated features */
    uint16_t last_avail;      /* next avail ring slot we will read */
    uint16_t used_idx;        /* our copy of used->idx */
    uint16_t signalled_used;  /* used_idx at the last interrupt */
    bool signalled_valid;
    VirtqBuf *bufs;
    uint64_t broken;   /* chains refused */
    const char *error; /* why the last chain was refused (static string) */
} Virtqueue;

typedef enum VirtqPop {
    VIRTQ_EMPTY = 0,
    VIRTQ_CHAIN = 1,
    VIRTQ_BROKEN = -1,
} VirtqPop;

/* Checks the ring addresses and sizes the driver gave, allocates the chain
 * buffer; -EINVAL (with vq->error) when the rings are unusable. */
int virtq_activate(Virtqueue *vq, const GuestMemory *mem, bool event_idx, bool indirect);
/* Back to reset state (the driver's settings too); max_size is what a
 * reset queue_size reads. */
void virtq_reset(Virtqueue *vq, uint16_t max_size);
void virtq_free(Virtqueue *vq);

VirtqPop virtq_pop(Virtqueue *vq, VirtqChain *chain);
/* Gives back the chain the last virtq_pop returned, unused: the next pop
 * reads (and validates) it again. For receive queues with nothing to
 * deliver yet. */
void virtq_unpop(Virtqueue *vq);
/* Puts the chain in the used ring with len bytes written. */
int virtq_push(Virtqueue *vq, uint16_t head, uint32_t len);
/* Whether the driver wants an interrupt for what was pushed since the last
 * one (avail flags, or used_event with EVENT_IDX). Updates the state. */
bool virtq_should_notify(Virtqueue *vq);
/* With EVENT_IDX: tell the driver to kick us when it adds past what we saw. */
void virtq_update_avail_event(Virtqueue *vq);
/* True when the driver published chains we have not taken yet. */
bool virtq_has_work(Virtqueue *vq);

/* Copies out of the chain's readable bytes starting at offset; returns the
 * bytes copied (fewer at the end), or -EFAULT. */
int64_t virtq_chain_read(const Virtqueue *vq, const VirtqChain *c, uint64_t offset, void *buf, uint64_t len);
/* Copies into the chain's writable bytes starting at offset. */
int64_t virtq_chain_write(const Virtqueue *vq, const VirtqChain *c, uint64_t offset, const void *buf,
                          uint64_t len);
/* Host iovecs for len bytes of the chain's writable (or readable) bytes
 * from offset, each piece resolved through guest_memory_ptr() again, so
 * every iovec lies wholly inside one guest RAM region; empty buffers are
 * skipped. For zero-copy I/O straight into guest memory: the pointers stay
 * valid while the guest's RAM is mapped. Returns the number of iovecs,
 * -EFAULT when a piece is not in RAM or the chain holds fewer than len
 * bytes there, -E2BIG when more than max iovecs would be needed. */
int virtq_chain_iov(const Virtqueue *vq, const VirtqChain *c, bool writable, uint64_t offset, uint64_t len,
                    struct iovec *iov, uint32_t max);
