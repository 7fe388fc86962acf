/* SPDX-License-Identifier: Apache-2.0 */
/*
 * virtio-console (virtio 1.2, 5.3), one port, no MULTIPORT: queue 0 is
 * receiveq (host -> guest), queue 1 transmitq (guest -> host). The host
 * side is a CharBackend per --console mode (null, tty, pty, file=,
 * socket=), the same code as the serial port.
 *
 * Input flows through a bounded FIFO: the backend reads only while the
 * FIFO has room (so a guest that stops reading pushes back on the host
 * instead of losing bytes), and a receive chain with nothing to deliver is
 * deferred (VIRTIO_CHAIN_DEFER) until input arrives. Output never blocks the
 * worker: the backend buffers or drops, and counts.
 */
#pragma once

#include <stdint.h>

#include "config.h"
#include "event_loop.h"
#include "virtio_pci.h"

#define VIRTIO_CONSOLE_RX           0
#define VIRTIO_CONSOLE_TX           1
#define VIRTIO_CONSOLE_IN_FIFO      4096
#define VIRTIO_CONSOLE_MAX_TX_CHAIN 65536 /* bytes taken from one transmit chain */
#define VIRTIO_CONSOLE_CONFIG_SIZE  12    /* cols, rows, max_nr_ports, emerg_wr */

typedef struct VirtioConsole VirtioConsole;

typedef struct VirtioConsoleCounters {
    uint64_t tx_ops, tx_bytes; /* guest output handed to the backend */
    uint64_t rx_ops, rx_bytes; /* host input delivered to the guest */
    uint64_t tx_dropped;       /* output the host side could not take */
    uint64_t request_errors;   /* chains in the wrong direction, too long */
} VirtioConsoleCounters;

/* transport NULL: no PCI function (unit tests drive the handlers). loop
 * NULL: output only. */
VirtioConsole *virtio_console_new(const ConsoleConfig *cfg, const char *id, EventLoop *loop,
                                  const VirtioPciConfig *transport, char *errbuf, size_t errlen);
int virtio_console_attach(VirtioConsole *c, PciBus *bus, char *errbuf, size_t errlen);
void virtio_console_free(VirtioConsole *c);
VirtioPci *virtio_console_transport(VirtioConsole *c);
/* The pty path in pty mode, else NULL. */
const char *virtio_console_pty_path(const VirtioConsole *c);
/* One chain of queue q; returns the used length or VIRTIO_CHAIN_DEFER. */
uint32_t virtio_console_handle_request(VirtioConsole *c, uint16_t q, const Virtqueue *vq,
                                       const VirtqChain *ch);
/* Host input, as the backend delivers it (unit tests). Returns bytes taken. */
size_t virtio_console_input(VirtioConsole *c, const uint8_t *data, size_t len);
void virtio_console_get_counters(VirtioConsole *c, VirtioConsoleCounters *out);
