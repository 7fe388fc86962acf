/* SPDX-License-Identifier: Apache-2.0 */
#include "i8042.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

#define OFF_DATA 0 /* port 0x60 */
#define OFF_CMD  4 /* port 0x64: status on read, command on write */

#define STATUS_OBF    0x01 /* output buffer full: data waiting at 0x60 */
#define STATUS_SYS    0x04 /* system flag: POST passed */
#define STATUS_CMD    0x08 /* last write went to the command port */
#define STATUS_UNLOCK 0x10 /* keyboard not inhibited */

#define CMD_READ_CTR      0x20
#define CMD_WRITE_CTR     0x60
#define CMD_DISABLE_AUX   0xa7
#define CMD_ENABLE_AUX    0xa8
#define CMD_TEST_AUX      0xa9
#define CMD_SELF_TEST     0xaa
#define CMD_TEST_KBD      0xab
#define CMD_DISABLE_KBD   0xad
#define CMD_ENABLE_KBD    0xae
#define CMD_READ_OUTPORT  0xd0
#define CMD_WRITE_OUTPORT 0xd1

#define CTR_KBD_DISABLED 0x10
#define CTR_AUX_DISABLED 0x20
#define CTR_SYS          0x04

#define OUTPORT_RESET 0x01 /* active low: 0 holds the CPU in reset */
#define OUTPORT_A20   0x02

struct I8042 {
    pthread_mutex_t lock;
    BusDevice bus;
    VmControl control;
    uint8_t ctr;     /* controller configuration ("command") byte */
    uint8_t outport; /* output port: reset line, A20 */
    uint8_t pending; /* a command waiting for its data byte, or 0 */
    uint8_t out;     /* output buffer */
    bool out_full;
    bool last_was_cmd;
};

static void put_output(I8042 *k, uint8_t v)
{
    k->out = v;
    k->out_full = true;
}

/* Commands 0xf0..0xff pulse the output-port lines whose bit is 0 in the low
 * nibble; bit 0 is the CPU reset line, so every even one resets (0xfe is the
 * one everybody uses). */
static bool pulses_reset(uint8_t cmd)
{
    return cmd >= 0xf0 && !(cmd & 0x01);
}

static void command(I8042 *k, uint8_t cmd)
{
    k->pending = 0;
    switch (cmd) {
    case CMD_READ_CTR:
        put_output(k, k->ctr);
        break;
    case CMD_WRITE_CTR:
    case CMD_WRITE_OUTPORT:
        k->pending = cmd;
        break;
    case CMD_READ_OUTPORT:
        put_output(k, k->outport);
        break;
    case CMD_SELF_TEST:
        put_output(k, 0x55);
        break;
    case CMD_TEST_KBD:
        put_output(k, 0x00);
        break;
    case CMD_TEST_AUX:
        put_output(k, 0x00);
        break;
    case CMD_DISABLE_KBD:
        k->ctr |= CTR_KBD_DISABLED;
        break;
    case CMD_ENABLE_KBD:
        k->ctr &= (uint8_t)~CTR_KBD_DISABLED;
        break;
    case CMD_DISABLE_AUX:
        k->ctr |= CTR_AUX_DISABLED;
        break;
    case CMD_ENABLE_AUX:
        k->ctr &= (uint8_t)~CTR_AUX_DISABLED;
        break;
    default:
        if (pulses_reset(cmd))
            vm_control_request(&k->control, VM_REQUEST_REBOOT);
        /* Anything else: accepted and ignored, as a controller with no
         * devices behind it would. */
        break;
    }
}

static void data_write(I8042 *k, uint8_t v)
{
    uint8_t cmd = k->pending;
    k->pending = 0;
    if (cmd == CMD_WRITE_CTR) {
        k->ctr = v;
    } else if (cmd == CMD_WRITE_OUTPORT) {
        k->outport = v;
        if (!(v & OUTPORT_RESET))
            vm_control_request(&k->control, VM_REQUEST_REBOOT);
    }
    /* Bytes for the (absent) keyboard are dropped. */
}

static uint8_t reg_read(I8042 *k, uint64_t off)
{
    if (off == OFF_DATA) {
        uint8_t v = k->out_full ? k->out : 0;
        k->out_full = false;
        return v;
    }
    if (off == OFF_CMD) {
        return (k->out_full ? STATUS_OBF : 0) | STATUS_SYS | STATUS_UNLOCK |
               (k->last_was_cmd ? STATUS_CMD : 0);
    }
    return 0xff;
}

static void i8042_read(void *opaque, uint64_t offset, uint8_t *data, uint32_t len)
{
    I8042 *k = opaque;
    pthread_mutex_lock(&k->lock);
    for (uint32_t i = 0; i < len; i++)
        data[i] = offset < I8042_PIO_LEN && i < I8042_PIO_LEN - offset ? reg_read(k, offset + i) : 0xff;
    pthread_mutex_unlock(&k->lock);
}

static void i8042_write(void *opaque, uint64_t offset, const uint8_t *data, uint32_t len)
{
    I8042 *k = opaque;
    pthread_mutex_lock(&k->lock);
    for (uint32_t i = 0; i < len; i++) {
        if (offset >= I8042_PIO_LEN || i >= I8042_PIO_LEN - offset)
            break;
        uint64_t off = offset + i;
        if (off == OFF_DATA) {
            k->last_was_cmd = false;
            data_write(k, data[i]);
        } else if (off == OFF_CMD) {
            k->last_was_cmd = true;
            command(k, data[i]);
        }
    }
    pthread_mutex_unlock(&k->lock);
}

static void reset_locked(I8042 *k)
{
    k->ctr = CTR_SYS | CTR_AUX_DISABLED;
    k->outport = OUTPORT_RESET | OUTPORT_A20;
    k->pending = 0;
    k->out = 0;
    k->out_full = false;
    k->last_was_cmd = false;
}

I8042 *i8042_new(const VmControl *control)
{
    I8042 *k = calloc(1, sizeof(*k));
    if (!k)
        return NULL;
    pthread_mutex_init(&k->lock, NULL);
    if (control)
        k->control = *control;
    k->bus = (BusDevice){.name = "i8042", .opaque = k, .read = i8042_read, .write = i8042_write};
    reset_locked(k);
    return k;
}

void i8042_free(I8042 *k)
{
    if (!k)
        return;
    pthread_mutex_destroy(&k->lock);
    free(k);
}

const BusDevice *i8042_bus_device(I8042 *k)
{
    return &k->bus;
}

void i8042_reset(I8042 *k)
{
    pthread_mutex_lock(&k->lock);
    reset_locked(k);
    pthread_mutex_unlock(&k->lock);
}

void i8042_save(I8042 *k, SnapshotWriter *w)
{
    pthread_mutex_lock(&k->lock);
    const uint8_t state[] = {k->ctr, k->outport, k->pending, k->out, k->out_full, k->last_was_cmd};
    snapshot_put_bytes(w, state, sizeof(state));
    pthread_mutex_unlock(&k->lock);
}

int i8042_load(I8042 *k, SnapshotReader *r)
{
    uint8_t state[6];
    snapshot_get_bytes(r, state, sizeof(state));
    if (r->failed || state[4] > 1 || state[5] > 1)
        return -EINVAL;
    pthread_mutex_lock(&k->lock);
    k->ctr = state[0];
    k->outport = state[1];
    k->pending = state[2];
    k->out = state[3];
    k->out_full = state[4];
    k->last_was_cmd = state[5];
    pthread_mutex_unlock(&k->lock);
    return 0;
}
