/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Cloud Hypervisor's --debug-console: the Bochs/QEMU "port 0xe9 hack". Every
 * byte the guest writes to the port goes to the sink (null, tty, pty, file=);
 * a read returns 0xe9, which is how guests detect the port. Output only.
 * It is also the payload tests' "test port".
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "bus.h"
#include "config.h"
#include "event_loop.h"

#define DEBUG_CONSOLE_PIO_LEN    1
#define DEBUG_CONSOLE_READ_VALUE 0xe9

typedef struct DebugConsole DebugConsole;

typedef struct DebugConsoleCounters {
    uint64_t out_bytes;   /* written by the guest */
    uint64_t out_dropped; /* of those, lost on the host side */
} DebugConsoleCounters;

static inline bool debug_console_config_enabled(const DebugConsoleConfig *cfg)
{
    return cfg && cfg->mode != CONSOLE_MODE_OFF;
}

/* The port the config asks for (DEFAULT_DEBUG_CONSOLE_PORT when unset). */
static inline uint16_t debug_console_config_iobase(const DebugConsoleConfig *cfg)
{
    return cfg->iobase.present ? cfg->iobase.value : DEFAULT_DEBUG_CONSOLE_PORT;
}

/*
 * NULL with errno set (EINVAL for mode off). loop may be NULL: output that
 * the host cannot take at once is then dropped sooner. Register
 * debug_console_bus_device() at debug_console_iobase(), length
 * DEBUG_CONSOLE_PIO_LEN.
 */
DebugConsole *debug_console_new(const DebugConsoleConfig *cfg, EventLoop *loop);
/* After unregistering from the bus; not from a loop callback. */
void debug_console_free(DebugConsole *dc);
const BusDevice *debug_console_bus_device(DebugConsole *dc);
uint16_t debug_console_iobase(const DebugConsole *dc);
/* The pty path in pty mode, else NULL. */
const char *debug_console_pty_path(const DebugConsole *dc);
void debug_console_get_counters(DebugConsole *dc, DebugConsoleCounters *out);
