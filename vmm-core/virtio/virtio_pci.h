/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The virtio-pci transport, modern (virtio 1.x) only: vendor 0x1af4, device
 * 0x1040 + type, revision 1. One 32 KiB memory BAR (BAR 0) holds
 *
 *   0x0000  common configuration (struct virtio_pci_common_cfg)
 *   0x1000  ISR status (read to acknowledge; clears INTx)
 *   0x2000  device-specific configuration
 *   0x3000  notifications: queue q at 0x3000 + 4 * q (notify_off_multiplier 4),
 *           each backed by an ioeventfd so a kick never exits to userspace
 *   0x4000  MSI-X table (one vector per queue + one for config changes)
 *   0x5000  MSI-X PBA
 *
 * Queues are processed on one worker thread per device (epoll on the
 * notify eventfds), which pushes used buffers and raises the queue's MSI-X
 * vector through its irqfd, or INTx when MSI-X is off. The device state
 * lock is held while a queue is processed, so a reset (status 0) written by
 * a vCPU waits for the request in flight and then no buffer of the old
 * rings is touched again.
 *
 * A broken ring or chain (virtqueue.h) sets DEVICE_NEEDS_RESET, raises a
 * configuration-change interrupt and stops all queue processing until the
 * driver resets the device.
 */
#pragma once

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "guest_memory.h"
#include "irq.h"
#include "pci.h"
#include "platform.h"
#include "snapshot_format.h"
#include "virtqueue.h"
#include "vm.h"

#define VIRTIO_PCI_VENDOR      0x1af4
#define VIRTIO_PCI_DEVICE_BASE 0x1040

#define VIRTIO_ID_BLOCK   2
#define VIRTIO_ID_NET     1
#define VIRTIO_ID_CONSOLE 3
#define VIRTIO_ID_RNG     4
#define VIRTIO_ID_BALLOON 5
#define VIRTIO_ID_VSOCK   19

#define VIRTIO_F_INDIRECT_DESC 28
#define VIRTIO_F_EVENT_IDX     29
#define VIRTIO_F_VERSION_1     32

#define VIRTIO_STATUS_ACKNOWLEDGE 1
#define VIRTIO_STATUS_DRIVER      2
#define VIRTIO_STATUS_DRIVER_OK   4
#define VIRTIO_STATUS_FEATURES_OK 8
#define VIRTIO_STATUS_NEEDS_RESET 0x40
#define VIRTIO_STATUS_FAILED      0x80

#define VIRTIO_MSI_NO_VECTOR  0xffff
#define VIRTIO_PCI_MAX_QUEUES 64

#define VIRTIO_PCI_BAR_SIZE    0x8000
#define VIRTIO_PCI_COMMON      0x0000
#define VIRTIO_PCI_ISR         0x1000
#define VIRTIO_PCI_DEVICE_CFG  0x2000
#define VIRTIO_PCI_NOTIFY      0x3000
#define VIRTIO_PCI_NOTIFY_MULT 4
#define VIRTIO_PCI_MSIX_TABLE  0x4000
#define VIRTIO_PCI_MSIX_PBA    0x5000

/* A handle() result: the device cannot complete this chain yet (a receive
 * queue with nothing to deliver). The chain stays published and the queue
 * is left alone until the next kick, which the device gives itself with
 * virtio_pci_kick() once it has something. */
#define VIRTIO_CHAIN_DEFER UINT32_MAX
/* A handle() result: the device took the chain and completes it later
 * with virtio_pci_complete() (asynchronous I/O). It must have copied out
 * of the chain whatever it needs: the next pop reuses its buffers. */
#define VIRTIO_CHAIN_ASYNC (UINT32_MAX - 1)

typedef struct VirtioDeviceOps {
    uint16_t type;
    uint32_t pci_class;
    uint64_t features; /* device-specific; the transport adds its own */
    uint32_t config_size;
    void (*config_read)(void *dev, uint32_t offset, uint8_t *data, uint32_t len);
    /* One chain of queue q; returns the bytes written into its writable
     * part (the used length). Runs on the worker with the device locked. */
    uint32_t (*handle)(void *dev, uint16_t q, const Virtqueue *vq, const VirtqChain *c);
    /* Optional: queue q has no more chains to hand over for now (or
     * cannot take more): the device starts what it batched. Runs on the
     * worker with the device locked, after every pass over the queue. */
    void (*queue_done)(void *dev, uint16_t q);
    /* The driver reset the device (or the guest rebooted). A device with
     * chains in flight (VIRTIO_CHAIN_ASYNC) waits for them and drops them:
     * the driver may reuse their buffers once the reset returns. */
    void (*reset)(void *dev);
    /* Optional: completes every chain in flight (virtio_pci_freeze). */
    void (*quiesce)(void *dev);
    /* Optional: DRIVER_OK with these negotiated features. Runs with the
     * device locked, before any queue is processed. */
    void (*activate)(void *dev, uint64_t features);
    /* Optional: the fd given to virtio_pci_watch_host() is readable. Runs
     * on the worker with the device locked, whatever the device status. */
    void (*host_event)(void *dev);
    /* Optional: a driver write into the device configuration (offset and
     * length already inside config_size). Without it such writes are
     * refused and counted. Runs with the device locked. */
    void (*config_write)(void *dev, uint32_t offset, const uint8_t *data, uint32_t len);
    /* Optional: the transport's state was just loaded from a snapshot
     * (after activate, before the queues are kicked): the device learns
     * that its host side is new while the driver's is not. Runs with the
     * device locked. */
    void (*restored)(void *dev);
} VirtioDeviceOps;

typedef struct VirtioCounters {
    uint64_t notifications;    /* queue kicks seen by the worker */
    uint64_t interrupts;       /* MSI-X messages or INTx assertions */
    uint64_t chains;           /* requests completed */
    uint64_t chain_errors;     /* broken rings/chains (-> NEEDS_RESET) */
    uint64_t needs_reset;      /* times NEEDS_RESET was set */
    uint64_t resets;           /* driver resets */
    uint64_t activations;      /* DRIVER_OK */
    uint64_t feature_refusals; /* FEATURES_OK refused */
    uint64_t bad_accesses;     /* writes at odd offsets/widths, bad values */
} VirtioCounters;

typedef struct VirtioPciConfig {
    const char *id; /* the device id in events and counters */
    uint16_t num_queues, queue_size;
    const GuestMemory *mem;
    Vm *vm;
    KvmIrq *irq; /* NULL: no MSI-X delivery (unit tests) */
    void (*set_intx)(void *ctx, uint32_t gsi, int level);
    void *intx_ctx;
    void (*emit)(void *ctx, const char *event, const char *id);
    void *emit_ctx;
} VirtioPciConfig;

typedef struct VirtioPci VirtioPci;

/* NULL with a message on failure. */
VirtioPci *virtio_pci_new(const VirtioDeviceOps *ops, void *dev, const VirtioPciConfig *cfg, char *errbuf,
                          size_t errlen);
/* Puts the function on the bus and starts the worker. */
int virtio_pci_attach(VirtioPci *t, PciBus *bus, char *errbuf, size_t errlen);
void virtio_pci_free(VirtioPci *t);
/* The guest rebooted: the old VM and its irqfds/ioeventfds are gone. */
void virtio_pci_reboot(VirtioPci *t);
void virtio_pci_get_counters(VirtioPci *t, VirtioCounters *out);
/* Makes the worker look at queue q again, as a guest kick would. Any thread,
 * any lock: it only writes the queue's eventfd. */
void virtio_pci_kick(VirtioPci *t, uint16_t q);
/* The device changed its configuration on the host's behalf (a new balloon
 * target): bumps config_generation and raises the configuration-change
 * interrupt. Any thread; takes the device lock. */
void virtio_pci_config_changed(VirtioPci *t);
/* The bus slot attach gave the function. */
unsigned virtio_pci_slot(const VirtioPci *t);
/* Hot unplug: takes the function off its bus (BAR unmapped, ioeventfds
 * gone) before virtio_pci_free; the vCPUs must be parked. */
void virtio_pci_detach(VirtioPci *t);
/* A chain the device took with VIRTIO_CHAIN_ASYNC is done: puts it in the
 * used ring with len bytes written. Device locked (ops->host_event or
 * ops->quiesce); the queue's interrupt, if the driver wants one, follows
 * once that callback returns. Dropped when the queue is no longer live. */
void virtio_pci_complete(VirtioPci *t, uint16_t q, uint16_t head, uint32_t len);
/* Before attach: the worker also processes queue q whenever fd becomes
 * readable (edge-triggered: the device drains fd until EAGAIN or defers).
 * For host sources such as a tap. */
int virtio_pci_watch_fd(VirtioPci *t, int fd, uint16_t q);
/* Before attach: while fd is readable (level-triggered), the worker calls
 * ops->host_event. For devices with host-side state of their own (an epoll
 * set of sockets): everything then runs on the worker under one lock. */
int virtio_pci_watch_host(VirtioPci *t, int fd);
const char *virtio_pci_id(const VirtioPci *t);

/* Snapshots (snapshot/snapshot.c). freeze takes the device lock and thaw
 * gives it back: in between the worker has finished the request it was
 * serving and starts no other, and requests in flight have completed
 * (ops->quiesce), so guest RAM and the rings hold still while a snapshot
 * is written. Only with the vCPUs parked. */
void virtio_pci_freeze(VirtioPci *t);
void virtio_pci_thaw(VirtioPci *t);
/* Frozen: status, features, vectors, and every queue's addresses and ring
 * positions. */
void virtio_pci_save(VirtioPci *t, SnapshotWriter *w);
/* Into the same device, fresh, whose PCI function (BAR, MSI-X) was loaded
 * first: the queues go live again where they were, the device is activated
 * if the driver had it running, and each live queue is looked at once for
 * requests published before the snapshot. -EINVAL for a malformed section
 * or one of another device. */
int virtio_pci_load(VirtioPci *t, SnapshotReader *r);
