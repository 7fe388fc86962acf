/* SPDX-License-Identifier: Apache-2.0 */
#include "debug_console.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

#include "char_backend.h"

struct DebugConsole {
    pthread_mutex_t lock;
    BusDevice bus;
    uint16_t iobase;
    CharBackend *backend;
    uint64_t out_bytes;
};

static void debug_console_read(void *opaque, uint64_t offset, uint8_t *data, uint32_t len)
{
    (void)opaque;
    for (uint32_t i = 0; i < len; i++)
        data[i] = offset == 0 && i == 0 ? DEBUG_CONSOLE_READ_VALUE : 0xff;
}

static void debug_console_write(void *opaque, uint64_t offset, const uint8_t *data, uint32_t len)
{
    DebugConsole *dc = opaque;
    /* Only the byte that lands on the port itself: a wider access would
     * spill onto the ports after it, which are not ours. */
    if (offset != 0 || len == 0)
        return;
    pthread_mutex_lock(&dc->lock);
    dc->out_bytes++;
    char_backend_write(dc->backend, data, 1);
    pthread_mutex_unlock(&dc->lock);
}

DebugConsole *debug_console_new(const DebugConsoleConfig *cfg, EventLoop *loop)
{
    if (!debug_console_config_enabled(cfg)) {
        errno = EINVAL;
        return NULL;
    }
    DebugConsole *dc = calloc(1, sizeof(*dc));
    if (!dc)
        return NULL;
    pthread_mutex_init(&dc->lock, NULL);
    dc->iobase = debug_console_config_iobase(cfg);
    dc->bus = (BusDevice){
        .name = "debug-console", .opaque = dc, .read = debug_console_read, .write = debug_console_write};
    CharBackendParams params = {
        .label = "debug-console",
        .mode = cfg->mode,
        .path = cfg->file,
        .lock = &dc->lock,
        .loop = loop,
        .input = NULL,
    };
    dc->backend = char_backend_new(&params);
    if (!dc->backend) {
        int saved = errno;
        pthread_mutex_destroy(&dc->lock);
        free(dc);
        errno = saved;
        return NULL;
    }
    return dc;
}

void debug_console_free(DebugConsole *dc)
{
    if (!dc)
        return;
    char_backend_free(dc->backend);
    pthread_mutex_destroy(&dc->lock);
    free(dc);
}

const BusDevice *debug_console_bus_device(DebugConsole *dc)
{
    return &dc->bus;
}

uint16_t debug_console_iobase(const DebugConsole *dc)
{
    return dc->iobase;
}

const char *debug_console_pty_path(const DebugConsole *dc)
{
    return dc ? char_backend_pty_path(dc->backend) : NULL;
}

void debug_console_get_counters(DebugConsole *dc, DebugConsoleCounters *out)
{
    pthread_mutex_lock(&dc->lock);
    CharBackendCounters bc;
    char_backend_counters(dc->backend, &bc);
    out->out_bytes = dc->out_bytes;
    out->out_dropped = bc.out_dropped;
    pthread_mutex_unlock(&dc->lock);
}
