/* SPDX-License-Identifier: Apache-2.0 */
#include "console.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "char_backend.h"

#define CHUNK 4096

/*
 * Lock order: the transport's lock (held around handle) before c->lock.
 * The backend's callbacks take c->lock only and never the transport's: they
 * wake the receive queue through its eventfd (virtio_pci_kick).
 */
struct VirtioConsole {
    pthread_mutex_t lock; /* the backend, the FIFO, closing */
    CharBackend *backend;
    uint8_t fifo[VIRTIO_CONSOLE_IN_FIFO];
    size_t fifo_head, fifo_len;
    bool closing; /* no more kicks: the transport is going away */
    uint8_t buf[CHUNK];
    VirtioDeviceOps ops;
    VirtioPci *transport;
    VirtioConsoleCounters counters;
};

static void count(uint64_t *c, uint64_t n)
{
    __atomic_fetch_add(c, n, __ATOMIC_RELAXED);
}

/* ----------------------------------------------------------- input */

static size_t fifo_room(const VirtioConsole *c)
{
    return VIRTIO_CONSOLE_IN_FIFO - c->fifo_len;
}

/* c->lock held. */
static size_t fifo_put(VirtioConsole *c, const uint8_t *data, size_t len)
{
    size_t take = len < fifo_room(c) ? len : fifo_room(c);
    for (size_t i = 0; i < take; i++)
        c->fifo[(c->fifo_head + c->fifo_len + i) % VIRTIO_CONSOLE_IN_FIFO] = data[i];
    c->fifo_len += take;
    return take;
}

static size_t backend_space(void *opaque)
{
    return fifo_room(opaque);
}

/* Backend callback, c->lock held. */
static void backend_push(void *opaque, const uint8_t *data, size_t len)
{
    VirtioConsole *c = opaque;
    fifo_put(c, data, len);
    if (c->transport && !c->closing)
        virtio_pci_kick(c->transport, VIRTIO_CONSOLE_RX);
}

size_t virtio_console_input(VirtioConsole *c, const uint8_t *data, size_t len)
{
    pthread_mutex_lock(&c->lock);
    size_t n = fifo_put(c, data, len);
    if (n && c->transport && !c->closing)
        virtio_pci_kick(c->transport, VIRTIO_CONSOLE_RX);
    pthread_mutex_unlock(&c->lock);
    return n;
}

/* c->lock held. Fills the chain's writable buffers from the FIFO. */
static uint32_t receive(VirtioConsole *c, const Virtqueue *vq, const VirtqChain *ch)
{
    if (ch->writable_len == 0) {
        /* Nothing can ever be put in it: complete it, do not hold it. */
        count(&c->counters.request_errors, 1);
        return 0;
    }
    if (c->fifo_len == 0)
        return VIRTIO_CHAIN_DEFER;
    if (ch->readable_len) /* counted once, when the chain is used */
        count(&c->counters.request_errors, 1);
    uint64_t done = 0;
    while (c->fifo_len > 0 && done < ch->writable_len) {
        size_t n = VIRTIO_CONSOLE_IN_FIFO - c->fifo_head; /* contiguous part */
        if (n > c->fifo_len)
            n = c->fifo_len;
        if (n > ch->writable_len - done)
            n = (size_t)(ch->writable_len - done);
        if (virtq_chain_write(vq, ch, done, c->fifo + c->fifo_head, n) != (int64_t)n)
            break; /* cannot happen: the chain was checked against RAM */
        c->fifo_head = (c->fifo_head + n) % VIRTIO_CONSOLE_IN_FIFO;
        c->fifo_len -= n;
        done += n;
    }
    if (c->fifo_len == 0)
        c->fifo_head = 0;
    count(&c->counters.rx_ops, 1);
    count(&c->counters.rx_bytes, done);
    /* Room again: the backend resumes reading the host side. */
    char_backend_input_ready(c->backend);
    return (uint32_t)done;
}

/* ---------------------------------------------------------- output */

/* c->lock held. */
static uint32_t transmit(VirtioConsole *c, const Virtqueue *vq, const VirtqChain *ch)
{
    if (ch->writable_len)
        count(&c->counters.request_errors, 1);
    uint64_t want = ch->readable_len;
    if (want > VIRTIO_CONSOLE_MAX_TX_CHAIN) {
        /* Linux sends at most a page per buffer; a huge chain only holds
         * the worker. Its head is written, the rest dropped and counted. */
        count(&c->counters.request_errors, 1);
        count(&c->counters.tx_dropped, want - VIRTIO_CONSOLE_MAX_TX_CHAIN);
        want = VIRTIO_CONSOLE_MAX_TX_CHAIN;
    }
    uint64_t done = 0;
    while (done < want) {
        size_t n = want - done < CHUNK ? (size_t)(want - done) : CHUNK;
        if (virtq_chain_read(vq, ch, done, c->buf, n) != (int64_t)n)
            break;
        char_backend_write(c->backend, c->buf, n);
        done += n;
    }
    count(&c->counters.tx_ops, 1);
    count(&c->counters.tx_bytes, done);
    return 0;
}

uint32_t virtio_console_handle_request(VirtioConsole *c, uint16_t q, const Virtqueue *vq,
                                       const VirtqChain *ch)
{
    pthread_mutex_lock(&c->lock);
    uint32_t r;
    if (q == VIRTIO_CONSOLE_RX)
        r = receive(c, vq, ch);
    else if (q == VIRTIO_CONSOLE_TX)
        r = transmit(c, vq, ch);
    else {
        count(&c->counters.request_errors, 1);
        r = 0;
    }
    pthread_mutex_unlock(&c->lock);
    return r;
}

static uint32_t console_handle(void *dev, uint16_t q, const Virtqueue *vq, const VirtqChain *ch)
{
    return virtio_console_handle_request(dev, q, vq, ch);
}

static void console_config_read(void *dev, uint32_t offset, uint8_t *data, uint32_t len)
{
    /* cols, rows (no VIRTIO_CONSOLE_F_SIZE: 0), max_nr_ports (no
     * MULTIPORT: 1 by meaning, read only with the feature), emerg_wr. */
    (void)dev;
    uint8_t cfg[VIRTIO_CONSOLE_CONFIG_SIZE] = {0};
    cfg[4] = 1;
    if (offset < sizeof(cfg))
        memcpy(data, cfg + offset, len <= sizeof(cfg) - offset ? len : sizeof(cfg) - offset);
}

/* ---------------------------------------------------------- lifetime */

VirtioConsole *virtio_console_new(const ConsoleConfig *cfg, const char *id, EventLoop *loop,
                                  const VirtioPciConfig *transport, char *errbuf, size_t errlen)
{
    if (cfg->mode == CONSOLE_MODE_OFF) {
        snprintf(errbuf, errlen, "%s: --console off has no device", id);
        return NULL;
    }
    VirtioConsole *c = calloc(1, sizeof(*c));
    if (!c) {
        snprintf(errbuf, errlen, "%s: out of memory", id);
        return NULL;
    }
    pthread_mutex_init(&c->lock, NULL);
    CharBackendInput input = {.space = backend_space, .push = backend_push, .opaque = c};
    CharBackendParams params = {
        .label = "console",
        .mode = cfg->mode,
        .path = cfg->mode == CONSOLE_MODE_SOCKET ? cfg->socket : cfg->file,
        .lock = &c->lock,
        .loop = loop,
        .input = loop ? &input : NULL,
    };
    errno = 0;
    c->backend = char_backend_new(&params);
    if (!c->backend) {
        snprintf(errbuf, errlen, "%s: cannot set up --console: %s", id, strerror(errno ? errno : EINVAL));
        pthread_mutex_destroy(&c->lock);
        free(c);
        return NULL;
    }
    c->ops = (VirtioDeviceOps){
        .type = VIRTIO_ID_CONSOLE,
        .pci_class = 0x078000, /* simple communication controller, other */
        .config_size = VIRTIO_CONSOLE_CONFIG_SIZE,
        .config_read = console_config_read,
        .handle = console_handle,
    };
    if (transport) {
        VirtioPciConfig tc = *transport;
        tc.id = id;
        tc.num_queues = 2;
        tc.queue_size = 256;
        c->transport = virtio_pci_new(&c->ops, c, &tc, errbuf, errlen);
        if (!c->transport) {
            virtio_console_free(c);
            return NULL;
        }
    }
    return c;
}

int virtio_console_attach(VirtioConsole *c, PciBus *bus, char *errbuf, size_t errlen)
{
    return virtio_pci_attach(c->transport, bus, errbuf, errlen);
}

void virtio_console_free(VirtioConsole *c)
{
    if (!c)
        return;
    /* Backend callbacks may still run until char_backend_free: they must
     * not kick a transport that is being torn down. */
    pthread_mutex_lock(&c->lock);
    c->closing = true;
    pthread_mutex_unlock(&c->lock);
    virtio_pci_free(c->transport); /* joins the worker: no handler runs after */
    c->transport = NULL;
    char_backend_free(c->backend);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

VirtioPci *virtio_console_transport(VirtioConsole *c)
{
    return c->transport;
}

const char *virtio_console_pty_path(const VirtioConsole *c)
{
    return char_backend_pty_path(c->backend);
}

void virtio_console_get_counters(VirtioConsole *c, VirtioConsoleCounters *out)
{
    out->tx_ops = __atomic_load_n(&c->counters.tx_ops, __ATOMIC_RELAXED);
    out->tx_bytes = __atomic_load_n(&c->counters.tx_bytes, __ATOMIC_RELAXED);
    out->rx_ops = __atomic_load_n(&c->counters.rx_ops, __ATOMIC_RELAXED);
    out->rx_bytes = __atomic_load_n(&c->counters.rx_bytes, __ATOMIC_RELAXED);
    out->request_errors = __atomic_load_n(&c->counters.request_errors, __ATOMIC_RELAXED);
    CharBackendCounters bc;
    pthread_mutex_lock(&c->lock);
    char_backend_counters(c->backend, &bc);
    pthread_mutex_unlock(&c->lock);
    out->tx_dropped = __atomic_load_n(&c->counters.tx_dropped, __ATOMIC_RELAXED) + bc.out_dropped;
}
