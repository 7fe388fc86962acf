/* SPDX-License-Identifier: Apache-2.0 */
/*
 * 16550A UART. Register semantics follow the 16550 datasheet; see serial.h
 * for the two simplifications (instant transmit, instant receive timeout)
 * and the interrupt-line model. Every guest access is byte-wise: a wider
 * access is split into consecutive registers, as the ISA bus would do.
 */
#include "serial.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "char_backend.h"

/* Register offsets. */
#define REG_RBR_THR 0 /* DLL when LCR.DLAB */
#define REG_IER     1 /* DLM when LCR.DLAB */
#define REG_IIR_FCR 2
#define REG_LCR     3
#define REG_MCR     4
#define REG_LSR     5
#define REG_MSR     6
#define REG_SCR     7

#define IER_ERBFI 0x01 /* received data available */
#define IER_ETBEI 0x02 /* THR empty */
#define IER_ELSI  0x04 /* receiver line status */
#define IER_EDSSI 0x08 /* modem status */
#define IER_MASK  0x0f

#define IIR_NO_INT  0x01
#define IIR_MSR     0x00
#define IIR_THRE    0x02
#define IIR_RDA     0x04
#define IIR_RLS     0x06
#define IIR_TIMEOUT 0x0c
#define IIR_ID_MASK 0x0e
#define IIR_FIFO_ON 0xc0

#define FCR_ENABLE   0x01
#define FCR_CLEAR_RX 0x02
#define FCR_CLEAR_TX 0x04
#define FCR_STORED   0xc9 /* enable, DMA mode, trigger level */

#define LCR_DLAB 0x80

#define MCR_DTR  0x01
#define MCR_RTS  0x02
#define MCR_OUT1 0x04
#define MCR_OUT2 0x08
#define MCR_LOOP 0x10
#define MCR_MASK 0x1f

#define LSR_DR     0x01
#define LSR_OE     0x02
#define LSR_PE     0x04
#define LSR_FE     0x08
#define LSR_BI     0x10
#define LSR_THRE   0x20
#define LSR_TEMT   0x40
#define LSR_ERRORS (LSR_OE | LSR_PE | LSR_FE | LSR_BI)

#define MSR_DCTS   0x01
#define MSR_DDSR   0x02
#define MSR_TERI   0x04
#define MSR_DDCD   0x08
#define MSR_DELTAS 0x0f
#define MSR_CTS    0x10
#define MSR_DSR    0x20
#define MSR_RI     0x40
#define MSR_DCD    0x80

struct Serial {
    pthread_mutex_t lock;
    BusDevice bus;
    IrqLine irq;
    bool irq_level;
    CharBackend *backend;

    uint8_t ier, lcr, mcr, fcr, scr, dll, dlm;
    uint8_t lsr_errors; /* sticky until LSR is read */
    uint8_t msr_lines;  /* CTS/DSR/RI/DCD as the chip sees them */
    uint8_t msr_deltas; /* sticky until MSR is read */
    bool thre_pending;  /* THRE interrupt armed; cleared by an IIR read that reports it */

    uint8_t rx[SERIAL_FIFO_SIZE];
    unsigned rx_head, rx_count;

    SerialCounters ctr;
};

/* ------------------------------------------------------------ helpers */

static bool fifo_enabled(const Serial *s)
{
    return s->fcr & FCR_ENABLE;
}

static unsigned rx_capacity(const Serial *s)
{
    return fifo_enabled(s) ? SERIAL_FIFO_SIZE : 1;
}

static unsigned rx_trigger(const Serial *s)
{
    static const unsigned levels[4] = {1, 4, 8, 14};
    return levels[s->fcr >> 6];
}

static void rx_clear(Serial *s)
{
    s->rx_head = s->rx_count = 0;
}

static void rx_push(Serial *s, uint8_t byte)
{
    if (s->rx_count >= rx_capacity(s)) {
        /* Overrun: in FIFO mode the new character is lost; without FIFOs
         * it overwrites the holding register. Either way OE is raised. */
        s->lsr_errors |= LSR_OE;
        s->ctr.rx_overruns++;
        if (!fifo_enabled(s))
            s->rx[s->rx_head] = byte;
        return;
    }
    s->rx[(s->rx_head + s->rx_count) % SERIAL_FIFO_SIZE] = byte;
    s->rx_count++;
}

static uint8_t rx_pop(Serial *s)
{
    if (s->rx_count == 0)
        return 0;
    uint8_t byte = s->rx[s->rx_head];
    s->rx_head = (s->rx_head + 1) % SERIAL_FIFO_SIZE;
    s->rx_count--;
    /* Room again: the backend resumes reading the host. */
    char_backend_input_ready(s->backend);
    return byte;
}

/* In loopback the modem inputs are wired to the MCR outputs. */
static uint8_t modem_inputs(const Serial *s)
{
    if (!(s->mcr & MCR_LOOP))
        return MSR_CTS | MSR_DSR | MSR_DCD; /* a host that is always there */
    uint8_t v = 0;
    if (s->mcr & MCR_RTS)
        v |= MSR_CTS;
    if (s->mcr & MCR_DTR)
        v |= MSR_DSR;
    if (s->mcr & MCR_OUT1)
        v |= MSR_RI;
    if (s->mcr & MCR_OUT2)
        v |= MSR_DCD;
    return v;
}

static void update_modem_lines(Serial *s)
{
    uint8_t now = modem_inputs(s);
    uint8_t changed = now ^ s->msr_lines;
    if (changed & MSR_CTS)
        s->msr_deltas |= MSR_DCTS;
    if (changed & MSR_DSR)
        s->msr_deltas |= MSR_DDSR;
    if ((s->msr_lines & MSR_RI) && !(now & MSR_RI))
        s->msr_deltas |= MSR_TERI; /* trailing edge only */
    if (changed & MSR_DCD)
        s->msr_deltas |= MSR_DDCD;
    s->msr_lines = now;
}

/* Highest-priority pending, enabled source (datasheet table 4). */
static uint8_t iir_id(const Serial *s)
{
    if ((s->ier & IER_ELSI) && (s->lsr_errors & LSR_ERRORS))
        return IIR_RLS;
    if ((s->ier & IER_ERBFI) && s->rx_count > 0)
        return fifo_enabled(s) && s->rx_count < rx_trigger(s) ? IIR_TIMEOUT : IIR_RDA;
    if ((s->ier & IER_ETBEI) && s->thre_pending)
        return IIR_THRE;
    if ((s->ier & IER_EDSSI) && (s->msr_deltas & MSR_DELTAS))
        return IIR_MSR;
    return IIR_NO_INT;
}

static void update_irq(Serial *s)
{
    bool level = iir_id(s) != IIR_NO_INT;
    if (level != s->irq_level) {
        s->irq_level = level;
        irq_line_set(&s->irq, level);
    }
}

/* --------------------------------------------------------- registers */

static uint8_t reg_read(Serial *s, unsigned reg)
{
    bool dlab = s->lcr & LCR_DLAB;
    uint8_t v;
    switch (reg) {
    case REG_RBR_THR:
        return dlab ? s->dll : rx_pop(s);
    case REG_IER:
        return dlab ? s->dlm : s->ier;
    case REG_IIR_FCR: {
        uint8_t id = iir_id(s);
        /* Reading IIR is what acknowledges a THRE interrupt. */
        if (id == IIR_THRE)
            s->thre_pending = false;
        return id | (fifo_enabled(s) ? IIR_FIFO_ON : 0);
    }
    case REG_LCR:
        return s->lcr;
    case REG_MCR:
        return s->mcr;
    case REG_LSR:
        v = s->lsr_errors | LSR_THRE | LSR_TEMT | (s->rx_count ? LSR_DR : 0);
        s->lsr_errors = 0;
        return v;
    case REG_MSR:
        v = s->msr_lines | s->msr_deltas;
        s->msr_deltas = 0;
        return v;
    case REG_SCR:
        return s->scr;
    default:
        return 0xff;
    }
}

static void thr_write(Serial *s, uint8_t v)
{
    if (s->mcr & MCR_LOOP) {
        rx_push(s, v);
    } else {
        s->ctr.tx_bytes++;
        char_backend_write(s->backend, &v, 1);
    }
    /* Sent at once: THR is empty again. */
    s->thre_pending = true;
}

static void fcr_write(Serial *s, uint8_t v)
{
    bool was_on = fifo_enabled(s);
    bool on = v & FCR_ENABLE;
    /* Toggling the FIFO mode empties both FIFOs; the other FCR bits only
     * take effect together with the enable bit. */
    if (on != was_on || (on && (v & FCR_CLEAR_RX)))
        rx_clear(s);
    s->fcr = on ? (v & FCR_STORED) : 0;
    char_backend_input_ready(s->backend); /* capacity or fill changed */
}

static void reg_write(Serial *s, unsigned reg, uint8_t v)
{
    bool dlab = s->lcr & LCR_DLAB;
    switch (reg) {
    case REG_RBR_THR:
        if (dlab)
            s->dll = v;
        else
            thr_write(s, v);
        break;
    case REG_IER:
        if (dlab) {
            s->dlm = v;
        } else {
            /* Enabling THRE with THR empty interrupts at once; Linux's
             * 8250 probes for exactly this. */
            if ((v & IER_ETBEI) && !(s->ier & IER_ETBEI))
                s->thre_pending = true;
            s->ier = v & IER_MASK;
        }
        break;
    case REG_IIR_FCR:
        fcr_write(s, v);
        break;
    case REG_LCR:
        s->lcr = v;
        break;
    case REG_MCR: {
        bool was_loop = s->mcr & MCR_LOOP;
        s->mcr = v & MCR_MASK;
        update_modem_lines(s);
        if (was_loop != !!(s->mcr & MCR_LOOP))
            char_backend_input_ready(s->backend); /* host input is cut off in loopback */
        break;
    }
    case REG_SCR:
        s->scr = v;
        break;
    default:
        /* LSR and MSR writes are factory-test only on the 16550A. */
        break;
    }
}

/* --------------------------------------------------------- bus glue */

static void serial_read(void *opaque, uint64_t offset, uint8_t *data, uint32_t len)
{
    Serial *s = opaque;
    pthread_mutex_lock(&s->lock);
    for (uint32_t i = 0; i < len; i++) {
        bool in_range = offset < SERIAL_PIO_LEN && i < SERIAL_PIO_LEN - offset;
        data[i] = in_range ? reg_read(s, (unsigned)(offset + i)) : 0xff;
    }
    update_irq(s);
    pthread_mutex_unlock(&s->lock);
}

static void serial_write(void *opaque, uint64_t offset, const uint8_t *data, uint32_t len)
{
    Serial *s = opaque;
    pthread_mutex_lock(&s->lock);
    for (uint32_t i = 0; i < len; i++) {
        if (offset < SERIAL_PIO_LEN && i < SERIAL_PIO_LEN - offset)
            reg_write(s, (unsigned)(offset + i), data[i]);
    }
    update_irq(s);
    pthread_mutex_unlock(&s->lock);
}

/* Backend input hooks: called with s->lock held. */
static size_t input_space(void *opaque)
{
    Serial *s = opaque;
    if (s->mcr & MCR_LOOP)
        return 0; /* the receiver listens to the transmitter only */
    return rx_capacity(s) - s->rx_count;
}

static void input_push(void *opaque, const uint8_t *data, size_t len)
{
    Serial *s = opaque;
    for (size_t i = 0; i < len && input_space(s) > 0; i++) {
        rx_push(s, data[i]);
        s->ctr.rx_bytes++;
    }
    update_irq(s);
}

/* ------------------------------------------------------------ public */

static void reset_locked(Serial *s)
{
    /* Master reset: SCR and the divisor latch are not affected. */
    s->ier = s->lcr = s->mcr = s->fcr = 0;
    s->lsr_errors = 0;
    s->thre_pending = false;
    rx_clear(s);
    s->msr_lines = modem_inputs(s);
    s->msr_deltas = 0;
    update_irq(s);
}

Serial *serial_new(const ConsoleConfig *cfg, const IrqLine *irq, EventLoop *loop)
{
    if (!serial_config_enabled(cfg)) {
        errno = EINVAL;
        return NULL;
    }
    Serial *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    pthread_mutex_init(&s->lock, NULL);
    if (irq)
        s->irq = *irq;
    s->dll = 12; /* 9600 baud, what a PC BIOS leaves behind */
    s->msr_lines = modem_inputs(s);
    s->bus = (BusDevice){.name = "serial", .opaque = s, .read = serial_read, .write = serial_write};

    CharBackendInput input = {.space = input_space, .push = input_push, .opaque = s};
    CharBackendParams params = {
        .label = "serial",
        .mode = cfg->mode,
        .path = cfg->mode == CONSOLE_MODE_SOCKET ? cfg->socket : cfg->file,
        .lock = &s->lock,
        .loop = loop,
        .input = &input,
    };
    CharBackend *be = char_backend_new(&params);
    /* The loop may already be delivering input (it only needs the lock). */
    pthread_mutex_lock(&s->lock);
    s->backend = be;
    pthread_mutex_unlock(&s->lock);
    if (!s->backend) {
        int saved = errno;
        pthread_mutex_destroy(&s->lock);
        free(s);
        errno = saved;
        return NULL;
    }
    return s;
}

void serial_free(Serial *s)
{
    if (!s)
        return;
    char_backend_free(s->backend);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

const BusDevice *serial_bus_device(Serial *s)
{
    return &s->bus;
}

void serial_reset(Serial *s)
{
    pthread_mutex_lock(&s->lock);
    reset_locked(s);
    char_backend_input_ready(s->backend);
    pthread_mutex_unlock(&s->lock);
}

size_t serial_feed_input(Serial *s, const uint8_t *data, size_t len)
{
    pthread_mutex_lock(&s->lock);
    size_t space = input_space(s);
    size_t take = len < space ? len : space;
    input_push(s, data, take);
    pthread_mutex_unlock(&s->lock);
    return take;
}

const char *serial_pty_path(const Serial *s)
{
    return s ? char_backend_pty_path(s->backend) : NULL;
}

void serial_get_counters(Serial *s, SerialCounters *out)
{
    pthread_mutex_lock(&s->lock);
    *out = s->ctr;
    CharBackendCounters bc;
    char_backend_counters(s->backend, &bc);
    out->tx_dropped = bc.out_dropped;
    pthread_mutex_unlock(&s->lock);
}

void serial_save(Serial *s, SnapshotWriter *w)
{
    pthread_mutex_lock(&s->lock);
    const uint8_t regs[] = {s->ier, s->lcr, s->mcr,        s->fcr,       s->scr,
                            s->dll, s->dlm, s->lsr_errors, s->msr_lines, s->msr_deltas};
    snapshot_put_bytes(w, regs, sizeof(regs));
    snapshot_put_u8(w, s->thre_pending);
    snapshot_put_u8(w, s->irq_level);
    snapshot_put_u8(w, (uint8_t)s->rx_count);
    /* The FIFO from its head, so the load needs no ring position. */
    for (unsigned i = 0; i < s->rx_count; i++)
        snapshot_put_u8(w, s->rx[(s->rx_head + i) % SERIAL_FIFO_SIZE]);
    pthread_mutex_unlock(&s->lock);
}

int serial_load(Serial *s, SnapshotReader *r)
{
    uint8_t regs[10];
    snapshot_get_bytes(r, regs, sizeof(regs));
    uint8_t thre = snapshot_get_u8(r), level = snapshot_get_u8(r), count = snapshot_get_u8(r);
    if (r->failed || (regs[0] & ~IER_MASK) || (regs[2] & ~MCR_MASK) || (regs[3] & ~FCR_STORED) || thre > 1 ||
        level > 1 || count > ((regs[3] & FCR_ENABLE) ? SERIAL_FIFO_SIZE : 1))
        return -EINVAL;
    uint8_t rx[SERIAL_FIFO_SIZE];
    snapshot_get_bytes(r, rx, count);
    if (r->failed)
        return -EINVAL;
    pthread_mutex_lock(&s->lock);
    s->ier = regs[0];
    s->lcr = regs[1];
    s->mcr = regs[2];
    s->fcr = regs[3];
    s->scr = regs[4];
    s->dll = regs[5];
    s->dlm = regs[6];
    s->lsr_errors = regs[7];
    s->msr_lines = regs[8];
    s->msr_deltas = regs[9];
    s->thre_pending = thre;
    /* The line level as the restored IOAPIC last saw it; no edge now. */
    s->irq_level = level;
    memcpy(s->rx, rx, count);
    s->rx_head = 0;
    s->rx_count = count;
    char_backend_input_ready(s->backend);
    pthread_mutex_unlock(&s->lock);
    return 0;
}
