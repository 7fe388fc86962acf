/* SPDX-License-Identifier: Apache-2.0 */
/* The 16550 registers as the guest sees them (COM1's eight ports, DLAB,
 * FIFO control, loopback, scratch), interleaved with host input. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "event_loop.h"
#include "platform.h"
#include "serial.h"

static void irq_set(void *ctx, uint32_t gsi, int level)
{
    (void)ctx, (void)gsi, (void)level;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static EventLoop *loop;
    if (!loop)
        loop = event_loop_new();
    ConsoleConfig cfg;
    memset(&cfg, 0, sizeof(cfg));
    cfg.mode = CONSOLE_MODE_NULL;
    IrqLine irq = {.set_level = irq_set, .ctx = NULL, .gsi = 4};
    Serial *s = serial_new(&cfg, &irq, loop);
    if (!s)
        abort();
    const BusDevice *d = serial_bus_device(s);
    for (; size >= 2; data += 2, size -= 2) {
        uint8_t op = data[0], v = data[1];
        uint8_t reg = op & 7;
        switch ((op >> 3) & 3) {
        case 0:
            d->write(d->opaque, reg, &v, 1);
            break;
        case 1:
            d->read(d->opaque, reg, &v, 1);
            break;
        case 2: {
            uint8_t in[16];
            memset(in, v, sizeof(in));
            serial_feed_input(s, in, (op >> 5) * 2 + 1);
            break;
        }
        case 3:
            if (op & 0x80)
                serial_reset(s);
            break;
        }
    }
    serial_free(s);
    return 0;
}
