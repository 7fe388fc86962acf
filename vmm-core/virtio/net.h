/* SPDX-License-Identifier: Apache-2.0 */
/*
 * virtio-net (virtio 1.2, 5.1) on a Linux tap: by name (--net tap=NAME,
 * created if missing, then given ip/mask/host_mac/mtu and brought up) or
 * by already-open fds (fd=[...], one per queue pair, left as they are).
 *
 * Queues: receiveq/transmitq per pair (2i, 2i+1), then the control queue
 * (2N). The tap speaks the same 12-byte virtio_net_hdr as a VERSION_1
 * driver (IFF_VNET_HDR, TUNSETVNETHDRSZ 12), so frames pass through with
 * their header; offloads the driver accepted are handed to the tap with
 * TUNSETOFFLOAD at DRIVER_OK, so the tap never sends what the guest cannot
 * take. Headers the guest sends are checked against what was negotiated
 * before they reach the host kernel.
 *
 * Receive chains are deferred while the tap is empty; the tap fd is
 * watched by the device's worker (edge-triggered), so a packet wakes the
 * receive queue and a refilled queue is kicked by the guest. A packet that
 * does not fit the guest's buffer is dropped and counted (no MRG_RXBUF).
 *
 * bw_* / ops_* limit each receive and each transmit queue with buckets of
 * their own, as Cloud Hypervisor does: a packet costs one op and its bytes
 * (virtio-net header included). A transmit chain that does not fit waits
 * in the ring; a received packet's size is only known once read, so it is
 * charged afterwards and the next waits while the limiter is owed. The
 * limiter's timer, watched by the worker, resumes the queue.
 */
#pragma once

#include <stdint.h>

#include "config.h"
#include "virtio_pci.h"

#define VIRTIO_NET_F_CSUM       0
#define VIRTIO_NET_F_GUEST_CSUM 1
#define VIRTIO_NET_F_MTU        3
#define VIRTIO_NET_F_MAC        5
#define VIRTIO_NET_F_GUEST_TSO4 7
#define VIRTIO_NET_F_GUEST_TSO6 8
#define VIRTIO_NET_F_GUEST_ECN  9
#define VIRTIO_NET_F_GUEST_UFO  10
#define VIRTIO_NET_F_HOST_TSO4  11
#define VIRTIO_NET_F_HOST_TSO6  12
#define VIRTIO_NET_F_HOST_ECN   13
#define VIRTIO_NET_F_HOST_UFO   14
#define VIRTIO_NET_F_STATUS     16
#define VIRTIO_NET_F_CTRL_VQ    17
#define VIRTIO_NET_F_CTRL_RX    18
#define VIRTIO_NET_F_MQ         22

#define VIRTIO_NET_HDR_LEN     12
#define VIRTIO_NET_MAX_FRAME   (65535 + 14 + 4) /* a GSO super-frame, Ethernet + VLAN */
#define VIRTIO_NET_CONFIG_SIZE 12               /* mac, status, max_virtqueue_pairs, mtu */

#define VIRTIO_NET_HDR_F_NEEDS_CSUM 1
#define VIRTIO_NET_HDR_GSO_NONE     0
#define VIRTIO_NET_HDR_GSO_TCPV4    1
#define VIRTIO_NET_HDR_GSO_UDP      3
#define VIRTIO_NET_HDR_GSO_TCPV6    4
#define VIRTIO_NET_HDR_GSO_ECN      0x80

#define VIRTIO_NET_CTRL_RX           0
#define VIRTIO_NET_CTRL_MAC          1
#define VIRTIO_NET_CTRL_MAC_TABLE_SET 0
#define VIRTIO_NET_CTRL_MQ           4
#define VIRTIO_NET_CTRL_MQ_PAIRS_SET 0
#define VIRTIO_NET_OK                0
#define VIRTIO_NET_ERR               1

typedef struct VirtioNet VirtioNet;

typedef struct VirtioNetCounters {
    uint64_t rx_packets, rx_bytes, rx_dropped; /* dropped: larger than the guest's buffer */
    uint64_t tx_packets, tx_bytes, tx_errors;  /* errors: the tap refused the frame */
    uint64_t ctrl_ops;
    uint64_t request_errors; /* malformed chains, headers or control commands */
    uint64_t rx_throttled, tx_throttled; /* times a queue waited for the rate limiter */
} VirtioNetCounters;

/* transport NULL: no PCI function. tap_fds non-NULL: use these (unit tests
 * pass socketpairs), ownership taken; else cfg->fds or cfg->tap. */
VirtioNet *virtio_net_new(const NetConfig *cfg, const char *id, const VirtioPciConfig *transport,
                          const int *tap_fds, char *errbuf, size_t errlen);
int virtio_net_attach(VirtioNet *n, PciBus *bus, char *errbuf, size_t errlen);
void virtio_net_free(VirtioNet *n);
VirtioPci *virtio_net_transport(VirtioNet *n);
const char *virtio_net_tap_name(const VirtioNet *n);
/* As the transport would call them (unit tests). */
void virtio_net_activate(VirtioNet *n, uint64_t features);
uint32_t virtio_net_handle_request(VirtioNet *n, uint16_t q, const Virtqueue *vq, const VirtqChain *c);
void virtio_net_get_counters(const VirtioNet *n, VirtioNetCounters *out);
