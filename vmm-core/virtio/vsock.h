/* SPDX-License-Identifier: Apache-2.0 */
/*
 * virtio-vsock (virtio 1.2, 5.10), stream sockets, in the "hybrid" style of
 * Firecracker and Cloud Hypervisor: no /dev/vhost-vsock, the host end is
 * unix sockets.
 *
 * - Host -> guest: a host program connects to --vsock socket=PATH and
 *   writes "CONNECT <port>\n"; the device sends the guest a REQUEST for that
 *   port from a host port it picks, and on the guest's RESPONSE answers
 *   "OK <host port>\n". Then the unix stream is the connection.
 * - Guest -> host: a REQUEST to CID 2, port P connects to PATH_P (a unix
 *   socket some host program listens on); RESPONSE on success, RST if not.
 *
 * Credit-based flow control (5.10.6.3): the device never sends the guest
 * more than the guest's advertised buf_alloc minus what it has not
 * consumed, reads a host socket only while there is such credit, and
 * advertises its own buffer per connection (VIRTIO_VSOCK_BUF_ALLOC): data the
 * host socket cannot take yet waits there, a guest that overruns it gets
 * RST. CREDIT_UPDATEs go out as that buffer drains.
 *
 * Everything the guest sends is checked: header complete, length equal to
 * the payload, type STREAM, source CID the guest's, destination the host,
 * an operation that fits the connection's state; anything else is answered
 * with RST (or dropped when it is not addressed properly) and counted. All
 * state lives on the device's worker (host sockets through its own epoll,
 * virtio_pci_watch_host), under the transport lock.
 *
 * Snapshots: only the transport is saved. Connections are host sockets of
 * the snapshotted process and do not move; the restored device starts with
 * none and puts one TRANSPORT_RESET event (the spec's "Device Events") in
 * the event queue, so
 * the driver resets every connection it had (its listeners stay) instead of
 * waiting on peers that are gone.
 */
#pragma once

#include <stdint.h>

#include "config.h"
#include "virtio_pci.h"

#define VIRTIO_VSOCK_RX  0
#define VIRTIO_VSOCK_TX  1
#define VIRTIO_VSOCK_EVT 2

#define VIRTIO_VSOCK_HDR_LEN     44
#define VIRTIO_VSOCK_HOST_CID    2
#define VIRTIO_VSOCK_TYPE_STREAM 1

#define VIRTIO_VSOCK_OP_REQUEST        1
#define VIRTIO_VSOCK_OP_RESPONSE       2
#define VIRTIO_VSOCK_OP_RST            3
#define VIRTIO_VSOCK_OP_SHUTDOWN       4
#define VIRTIO_VSOCK_OP_RW             5
#define VIRTIO_VSOCK_OP_CREDIT_UPDATE  6
#define VIRTIO_VSOCK_OP_CREDIT_REQUEST 7
#define VIRTIO_VSOCK_EVENT_TRANSPORT_RESET 0
#define VIRTIO_VSOCK_EVENT_LEN             4 /* struct virtio_vsock_event: le32 id */

#define VIRTIO_VSOCK_SHUTDOWN_RCV      1
#define VIRTIO_VSOCK_SHUTDOWN_SEND     2

#define VIRTIO_VSOCK_BUF_ALLOC    (256 * 1024) /* per connection, guest -> host */
#define VIRTIO_VSOCK_MAX_CONNS    1024
#define VIRTIO_VSOCK_MAX_PENDING  4096 /* control packets waiting for a receive buffer */
#define VIRTIO_VSOCK_CONNECT_LINE 64   /* "CONNECT <port>\n" must fit */

typedef struct VirtioVsockHdr {
    uint64_t src_cid, dst_cid;
    uint32_t src_port, dst_port;
    uint32_t len;
    uint16_t type, op;
    uint32_t flags, buf_alloc, fwd_cnt;
} __attribute__((packed)) VirtioVsockHdr;

typedef struct VirtioVsock VirtioVsock;

typedef struct VirtioVsockCounters {
    uint64_t conns_from_host, conns_from_guest, conns_refused;
    uint64_t rx_packets, rx_bytes; /* to the guest; bytes of stream data */
    uint64_t tx_packets, tx_bytes; /* from the guest */
    uint64_t rst_sent;
    uint64_t pending_dropped; /* control packets lost: too many waiting */
    uint64_t request_errors;  /* malformed or misaddressed packets */
    uint64_t transport_resets; /* TRANSPORT_RESET events sent (after a restore) */
} VirtioVsockCounters;

/* transport NULL: no PCI function (unit tests call the handlers and
 * virtio_vsock_host_event themselves). */
VirtioVsock *virtio_vsock_new(const VsockConfig *cfg, const char *id, const VirtioPciConfig *transport,
                              char *errbuf, size_t errlen);
int virtio_vsock_attach(VirtioVsock *v, PciBus *bus, char *errbuf, size_t errlen);
void virtio_vsock_free(VirtioVsock *v);
VirtioPci *virtio_vsock_transport(VirtioVsock *v);
uint32_t virtio_vsock_handle_request(VirtioVsock *v, uint16_t q, const Virtqueue *vq, const VirtqChain *c);
/* Accepts clients, reads CONNECT lines, notes readable/writable sockets. */
void virtio_vsock_host_event(VirtioVsock *v);
void virtio_vsock_reset(VirtioVsock *v);
/* The transport was restored from a snapshot: the next event-queue chain
 * gets TRANSPORT_RESET. */
void virtio_vsock_restored(VirtioVsock *v);
void virtio_vsock_get_counters(const VirtioVsock *v, VirtioVsockCounters *out);
