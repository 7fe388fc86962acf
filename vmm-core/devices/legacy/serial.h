/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A 16550A UART (COM1: PORT_COM1, IRQ_COM1) behind --serial.
 *
 * Transmission is instantaneous: THR is always empty (LSR.THRE|TEMT set) and
 * each byte goes straight to the host backend (dropped and counted if the
 * host cannot take it). Reception is flow-controlled: host input is read
 * only while the RX FIFO (16 bytes, 1 with FIFOs off) has room, so nothing
 * typed on the host is lost to a guest that reads slowly. A receive-timeout
 * interrupt (IIR 0xc) is reported at once whenever data sits below the FIFO
 * trigger level: with no notion of character time, "no more data is coming
 * for now" is always true.
 *
 * Interrupt output: modelled as the chip's INTR pin, a level (asserted while
 * IIR has a pending, enabled source) sent to the IRQ line only when it
 * changes. On the IOAPIC's ISA pin (edge-triggered, as the MADT describes
 * IRQ 4) each 0->1 is one interrupt, exactly as the PC wires a real 8250;
 * Linux's 8250 driver services every source until IIR reads "none", which
 * drops the line, so the next source raises a fresh edge. It is equally
 * right if the pin is ever level-triggered. MCR.OUT2 does not gate it (as in
 * QEMU and Cloud Hypervisor): simple guests that never set OUT2 still work.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bus.h"
#include "config.h"
#include "event_loop.h"
#include "platform.h"
#include "snapshot_format.h"

#define SERIAL_PIO_LEN   8
#define SERIAL_FIFO_SIZE 16

typedef struct Serial Serial;

typedef struct SerialCounters {
    uint64_t tx_bytes;    /* written by the guest to THR (loopback excluded) */
    uint64_t tx_dropped;  /* of those, lost on the host side (full, no client) */
    uint64_t rx_bytes;    /* host input delivered to the RX FIFO */
    uint64_t rx_overruns; /* bytes lost to a full FIFO (loopback only: host input waits) */
} SerialCounters;

/* --serial off means no UART at all: the caller registers nothing. */
static inline bool serial_config_enabled(const ConsoleConfig *cfg)
{
    return cfg && cfg->mode != CONSOLE_MODE_OFF;
}

/*
 * Opens the backend per cfg (null, tty, pty, file=, socket=). loop may be
 * NULL: no host input then (socket mode needs a loop: EINVAL). The IrqLine
 * is copied. NULL with errno set on failure (EINVAL for mode off).
 * Register serial_bus_device() at PORT_COM1, length SERIAL_PIO_LEN.
 */
Serial *serial_new(const ConsoleConfig *cfg, const IrqLine *irq, EventLoop *loop);
/* After unregistering from the bus; not from a loop callback. */
void serial_free(Serial *s);
const BusDevice *serial_bus_device(Serial *s);

/* Power-on register state (guest reset). Host connections stay. */
void serial_reset(Serial *s);

/* Host input, as the backend delivers it: takes what fits in the RX FIFO,
 * returns how many bytes were taken. For tests and other input sources. */
size_t serial_feed_input(Serial *s, const uint8_t *data, size_t len);

/* The pty path in pty mode (for vm.info), else NULL. Valid until free. */
const char *serial_pty_path(const Serial *s);
void serial_get_counters(Serial *s, SerialCounters *out);

/* Registers and the receive FIFO, to and from a snapshot section
 * (snapshot/snapshot.c); load returns -EINVAL for values the chip cannot
 * hold. The backend is the new process's own, from the configuration. */
void serial_save(Serial *s, SnapshotWriter *w);
int serial_load(Serial *s, SnapshotReader *r);
