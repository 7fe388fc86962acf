/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The host side of a character device (the UART, the debug console): where
 * guest output goes and where guest input comes from, per --serial /
 * --debug-console mode: null, tty, pty, file=, socket=.
 *
 * Not thread-safe on its own: it is protected by its device's mutex, passed
 * in `lock`. Every char_backend_* call below is made with that mutex held;
 * the backend's event-loop callbacks take it themselves before touching the
 * backend or calling back into the device. One lock per device means there
 * is no lock order to get wrong between device and backend.
 *
 * Output never blocks the caller (a vCPU thread): it is written with
 * non-blocking I/O, what the host cannot take yet waits in a bounded buffer
 * drained on EPOLLOUT, and what does not fit is dropped and counted.
 */
#pragma once

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "event_loop.h"

/* Output the host has not taken yet, per backend. */
#define CHAR_BACKEND_OUT_BUFFER (64 * 1024)

typedef struct CharBackend CharBackend;

typedef struct CharBackendInput {
    /* How many bytes the device can accept right now (0 stops reading). */
    size_t (*space)(void *opaque);
    /* Hands over at most space() bytes. */
    void (*push)(void *opaque, const uint8_t *data, size_t len);
    void *opaque;
} CharBackendInput;

typedef struct CharBackendCounters {
    uint64_t in_bytes;    /* from the host into the device */
    uint64_t out_bytes;   /* from the device, written to the host (or discarded by null) */
    uint64_t out_dropped; /* lost: buffer full, no socket client, write error */
} CharBackendCounters;

typedef struct CharBackendParams {
    const char *label;             /* "serial", "debug-console": for messages */
    ConsoleOutputMode mode;        /* not CONSOLE_MODE_OFF */
    const char *path;              /* file= or socket= path */
    pthread_mutex_t *lock;         /* the owning device's mutex */
    EventLoop *loop;               /* NULL: no input and no deferred output; socket mode needs it */
    const CharBackendInput *input; /* NULL: output only */
} CharBackendParams;

/* NULL with errno set (EINVAL for a bad mode/path, or the open/bind error). */
CharBackend *char_backend_new(const CharBackendParams *params);
/* Call without the device mutex held: it removes the fds from the loop,
 * which waits for a running callback that may want that mutex. */
void char_backend_free(CharBackend *be);

/* Guest output; never blocks. */
void char_backend_write(CharBackend *be, const uint8_t *data, size_t len);
/* The device has room again: resume reading input. */
void char_backend_input_ready(CharBackend *be);
/* The pty's slave path (pty mode), else NULL. Valid until free. */
const char *char_backend_pty_path(const CharBackend *be);
void char_backend_counters(const CharBackend *be, CharBackendCounters *out);

/* Restores the terminal a tty backend put in raw mode. Async-signal-safe,
 * idempotent; also run at exit. For fatal-signal paths of the caller. */
void char_backend_restore_terminal(void);
