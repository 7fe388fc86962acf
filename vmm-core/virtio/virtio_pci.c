/* SPDX-License-Identifier: Apache-2.0 */
#include "virtio_pci.h"
#include "landlock.h"
#include "le.h"
#include "vmm_seccomp.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define CAP_COMMON 1
#define CAP_NOTIFY 2
#define CAP_ISR    3
#define CAP_DEVICE 4
#define CAP_PCI_CFG 5

#define ISR_QUEUE  1
#define ISR_CONFIG 2

#define COMMON_SIZE 0x40
#define CTL_TOKEN   UINT64_MAX
#define WATCH_TOKEN (1ULL << 32) /* | queue: a host fd of the device */
#define HOST_TOKEN  (1ULL << 33) /* ops->host_event */

struct VirtioPci {
    PciDevice pci;
    const VirtioDeviceOps *ops;
    void *dev;
    char *id;
    const GuestMemory *mem;
    Vm *vm;
    KvmIrq *irq;
    void (*set_intx)(void *ctx, uint32_t gsi, int level);
    void *intx_ctx;
    void (*emit)(void *ctx, const char *event, const char *id);
    void *emit_ctx;

    pthread_mutex_t lock; /* everything below */
    uint64_t device_features, driver_features;
    uint32_t device_feature_select, driver_feature_select;
    uint16_t config_vector;
    uint8_t status;
    uint8_t config_generation;
    uint16_t queue_select;
    uint16_t num_queues, max_queue_size;
    Virtqueue *queues;
    uint8_t isr;
    bool intx_level;
    uint64_t bar_addr; /* where notify ioeventfds are registered, 0: none */
    int *notify_fds;
    KvmMsiVector *vectors; /* num_queues + 1 */
    uint16_t n_vectors;
    VirtioCounters counters;
    uint64_t completed; /* bit q: virtio_pci_complete() pushed to queue q */

    int epfd, ctl_fd;
    pthread_t worker;
    bool worker_started;
    bool stopping;
};

const char *virtio_pci_id(const VirtioPci *t)
{
    return t->id;
}

/* ------------------------------------------------------- interrupts */

static void set_intx(VirtioPci *t, bool level)
{
    if (t->intx_level == level)
        return;
    t->intx_level = level;
    pci_device_set_intx_status(&t->pci, level);
    if (t->set_intx)
        t->set_intx(t->intx_ctx, pci_device_intx_gsi(&t->pci), level);
}

/* Lock held. */
static void raise_interrupt(VirtioPci *t, uint16_t vector, uint8_t isr_bit)
{
    t->counters.interrupts++;
    if (t->pci.has_msix && pci_msix_notify(&t->pci.msix, vector))
        return;
    t->isr |= isr_bit;
    set_intx(t, true);
}

static void msix_vector_update(void *ctx, uint16_t v, bool usable, uint64_t addr, uint32_t data)
{
    VirtioPci *t = ctx;
    if (!t->irq || v >= t->n_vectors)
        return;
    if (usable)
        kvm_irq_msi_vector_route(t->irq, &t->vectors[v], addr, data);
    else
        kvm_irq_msi_vector_unroute(t->irq, &t->vectors[v]);
}

static void msix_deliver(void *ctx, uint16_t v)
{
    VirtioPci *t = ctx;
    if (t->irq && v < t->n_vectors)
        kvm_irq_msi_vector_signal(&t->vectors[v]);
}

/* Lock held: the device cannot go on until the driver resets it. */
static void needs_reset(VirtioPci *t, uint16_t q, const char *why)
{
    t->counters.chain_errors++;
    if (t->status & VIRTIO_STATUS_NEEDS_RESET)
        return;
    t->counters.needs_reset++;
    fprintf(stderr, "vmm: %s: queue %u: %s; device needs reset\n", t->id, q, why ? why : "broken ring");
    t->status |= VIRTIO_STATUS_NEEDS_RESET;
    t->config_generation++;
    raise_interrupt(t, t->config_vector, ISR_CONFIG);
}

/* ------------------------------------------------------------ queues */

static bool queue_live(VirtioPci *t, uint16_t q)
{
    return (t->status & VIRTIO_STATUS_DRIVER_OK) &&
           !(t->status & (VIRTIO_STATUS_NEEDS_RESET | VIRTIO_STATUS_FAILED)) && q < t->num_queues &&
           t->queues[q].ready;
}

/* Lock held. Takes every chain the driver published, hands each to the
 * device, and raises at most one interrupt for the batch. */
static void process_queue(VirtioPci *t, uint16_t q)
{
    Virtqueue *vq = &t->queues[q];
    bool pushed = false, broken = false;
    for (;;) {
        VirtqChain c;
        VirtqPop p = virtq_pop(vq, &c);
        if (p == VIRTQ_BROKEN) {
            needs_reset(t, q, vq->error);
            broken = true;
            break;
        }
        if (p == VIRTQ_EMPTY) {
            /* Re-check after publishing avail_event: the driver may have
             * added a chain without kicking because it saw the old one. */
            virtq_update_avail_event(vq);
            if (!virtq_has_work(vq))
                break;
            continue;
        }
        uint32_t len = t->ops->handle(t->dev, q, vq, &c);
        if (len == VIRTIO_CHAIN_DEFER) {
            virtq_unpop(vq);
            break;
        }
        if (len == VIRTIO_CHAIN_ASYNC)
            continue;
        if (virtq_push(vq, c.head, len) < 0) {
            needs_reset(t, q, "used ring unwritable");
            broken = true;
            break;
        }
        t->counters.chains++;
        pushed = true;
    }
    /* However the pass ended, what the device batched starts now. */
    if (t->ops->queue_done)
        t->ops->queue_done(t->dev, q);
    if (!broken && pushed && virtq_should_notify(vq))
        raise_interrupt(t, vq->msix_vector, ISR_QUEUE);
}

void virtio_pci_complete(VirtioPci *t, uint16_t q, uint16_t head, uint32_t len)
{
    if (!queue_live(t, q))
        return;
    if (virtq_push(&t->queues[q], head, len) < 0) {
        needs_reset(t, q, "used ring unwritable");
        return;
    }
    t->counters.chains++;
    t->completed |= 1ULL << q;
}

/* Lock held: after the device completed chains outside process_queue, one
 * interrupt per queue if the driver wants it (EVENT_IDX as for a pass). */
static void signal_completed(VirtioPci *t)
{
    uint64_t done = t->completed;
    t->completed = 0;
    for (uint16_t q = 0; done && q < t->num_queues; q++)
        if ((done & (1ULL << q)) && queue_live(t, q) && virtq_should_notify(&t->queues[q]))
            raise_interrupt(t, t->queues[q].msix_vector, ISR_QUEUE);
}

static void *worker_main(void *arg)
{
    VirtioPci *t = arg;
    /* Started before the main thread confines itself, so confined here. */
    vmm_landlock_enter();
    vmm_seccomp_enter(VMM_THREAD_VIRTIO_WORKER);
    for (;;) {
        struct epoll_event ev[16];
        int n = epoll_wait(t->epfd, ev, 16, -1);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        for (int i = 0; i < n; i++) {
            uint64_t tok = ev[i].data.u64, v;
            if (tok == CTL_TOKEN) {
                if (read(t->ctl_fd, &v, sizeof(v)) < 0) {
                    /* spurious wake-up */
                }
                pthread_mutex_lock(&t->lock);
                bool stop = t->stopping;
                pthread_mutex_unlock(&t->lock);
                if (stop)
                    return NULL;
                continue;
            }
            uint16_t q = (uint16_t)tok;
            if (tok == HOST_TOKEN) {
                pthread_mutex_lock(&t->lock);
                t->ops->host_event(t->dev);
                signal_completed(t);
                pthread_mutex_unlock(&t->lock);
                continue;
            }
            if (tok & WATCH_TOKEN) {
                pthread_mutex_lock(&t->lock);
                if (queue_live(t, q))
                    process_queue(t, q);
                pthread_mutex_unlock(&t->lock);
                continue;
            }
            if (read(t->notify_fds[q], &v, sizeof(v)) < 0)
                continue;
            pthread_mutex_lock(&t->lock);
            t->counters.notifications++;
            if (queue_live(t, q))
                process_queue(t, q);
            pthread_mutex_unlock(&t->lock);
        }
    }
    return NULL;
}

static void kick(VirtioPci *t, uint16_t q)
{
    uint64_t one = 1;
    if (write(t->notify_fds[q], &one, sizeof(one)) < 0) {
        /* saturated: a kick is pending anyway */
    }
}

void virtio_pci_kick(VirtioPci *t, uint16_t q)
{
    if (q < t->num_queues)
        kick(t, q);
}

unsigned virtio_pci_slot(const VirtioPci *t)
{
    return t->pci.slot;
}

void virtio_pci_detach(VirtioPci *t)
{
    if (t->pci.bus)
        pci_bus_remove_device(t->pci.bus, &t->pci);
}

void virtio_pci_config_changed(VirtioPci *t)
{
    pthread_mutex_lock(&t->lock);
    t->config_generation++;
    /* Before DRIVER_OK the driver reads the configuration anyway. */
    if (t->status & VIRTIO_STATUS_DRIVER_OK)
        raise_interrupt(t, t->config_vector, ISR_CONFIG);
    pthread_mutex_unlock(&t->lock);
}

/* ------------------------------------------------- ioeventfds (lock held) */

static void notify_unregister(VirtioPci *t)
{
    if (!t->bar_addr)
        return;
    for (uint16_t q = 0; q < t->num_queues; q++)
        kvm_ioeventfd_deassign(t->vm, t->bar_addr + VIRTIO_PCI_NOTIFY + VIRTIO_PCI_NOTIFY_MULT * q, 2,
                               t->notify_fds[q]);
    t->bar_addr = 0;
}

static void notify_register(VirtioPci *t, uint64_t bar)
{
    notify_unregister(t);
    if (!bar || !t->vm)
        return;
    t->bar_addr = bar;
    /* A failure (another BAR already claimed the address) only costs a
     * userspace exit per kick: bar_write forwards those to the eventfd. */
    for (uint16_t q = 0; q < t->num_queues; q++)
        kvm_ioeventfd_assign(t->vm, bar + VIRTIO_PCI_NOTIFY + VIRTIO_PCI_NOTIFY_MULT * q, 2,
                             t->notify_fds[q]);
}

static void bar_mapped(PciDevice *d, int bar, uint64_t addr)
{
    VirtioPci *t = d->opaque;
    if (bar != 0)
        return;
    pthread_mutex_lock(&t->lock);
    notify_register(t, addr);
    pthread_mutex_unlock(&t->lock);
}

/* ------------------------------------------------------------- reset */

/* Lock held. */
static void device_reset(VirtioPci *t)
{
    bool was_live = t->status != 0;
    t->status = 0;
    t->driver_features = 0;
    t->device_feature_select = t->driver_feature_select = 0;
    t->config_vector = VIRTIO_MSI_NO_VECTOR;
    t->queue_select = 0;
    t->isr = 0;
    set_intx(t, false);
    for (uint16_t q = 0; q < t->num_queues; q++)
        virtq_reset(&t->queues[q], t->max_queue_size);
    if (t->ops->reset)
        t->ops->reset(t->dev);
    if (was_live) {
        t->counters.resets++;
        if (t->emit)
            t->emit(t->emit_ctx, "reset", t->id);
    }
}

/* ---------------------------------------------------- common config */

static void common_snapshot(VirtioPci *t, uint8_t *c)
{
    memset(c, 0, COMMON_SIZE);
    put32(c + 0x00, t->device_feature_select);
    uint32_t df =
        t->device_feature_select < 2 ? (uint32_t)(t->device_features >> (32 * t->device_feature_select)) : 0;
    put32(c + 0x04, df);
    put32(c + 0x08, t->driver_feature_select);
    uint32_t gf =
        t->driver_feature_select < 2 ? (uint32_t)(t->driver_features >> (32 * t->driver_feature_select)) : 0;
    put32(c + 0x0c, gf);
    put16(c + 0x10, t->config_vector);
    put16(c + 0x12, t->num_queues);
    c[0x14] = t->status;
    c[0x15] = t->config_generation;
    put16(c + 0x16, t->queue_select);
    if (t->queue_select < t->num_queues) {
        const Virtqueue *vq = &t->queues[t->queue_select];
        put16(c + 0x18, vq->size);
        put16(c + 0x1a, vq->msix_vector);
        put16(c + 0x1c, vq->ready);
        put16(c + 0x1e, t->queue_select); /* queue_notify_off */
        put64(c + 0x20, vq->desc);
        put64(c + 0x28, vq->avail);
        put64(c + 0x30, vq->used);
        put16(c + 0x38, t->queue_select); /* queue_notify_data (unused) */
    }
}

static uint16_t checked_vector(VirtioPci *t, uint16_t v)
{
    /* virtio 1.2, 4.1.5.1.2: a vector the device cannot use reads back as
     * NO_VECTOR, which is how drivers learn the mapping failed. */
    return v < t->n_vectors ? v : VIRTIO_MSI_NO_VECTOR;
}

/* Lock held. */
static void write_status(VirtioPci *t, uint8_t v)
{
    if (v == 0) {
        device_reset(t);
        return;
    }
    uint8_t old = t->status;
    /* Bits are only ever added (a reset clears them); NEEDS_RESET is ours. */
    uint8_t want = (uint8_t)((old | v) & ~VIRTIO_STATUS_NEEDS_RESET) | (old & VIRTIO_STATUS_NEEDS_RESET);
    if ((want & VIRTIO_STATUS_FEATURES_OK) && !(old & VIRTIO_STATUS_FEATURES_OK)) {
        bool ok = !(t->driver_features & ~t->device_features) &&
                  (t->driver_features & (1ULL << VIRTIO_F_VERSION_1));
        if (!ok) {
            want &= (uint8_t)~VIRTIO_STATUS_FEATURES_OK;
            t->counters.feature_refusals++;
        }
    }
    if ((want & VIRTIO_STATUS_DRIVER_OK) && !(old & VIRTIO_STATUS_DRIVER_OK)) {
        if (!(want & VIRTIO_STATUS_FEATURES_OK)) {
            want &= (uint8_t)~VIRTIO_STATUS_DRIVER_OK;
            t->counters.bad_accesses++;
        } else {
            t->status = want;
            t->counters.activations++;
            if (t->ops->activate)
                t->ops->activate(t->dev, t->driver_features);
            if (t->emit)
                t->emit(t->emit_ctx, "activated", t->id);
            /* Buffers published before DRIVER_OK are processed now. */
            for (uint16_t q = 0; q < t->num_queues; q++)
                if (t->queues[q].ready)
                    kick(t, q);
            return;
        }
    }
    t->status = want;
}

/* Lock held. */
static void queue_enable(VirtioPci *t, Virtqueue *vq)
{
    if (vq->ready || (t->status & VIRTIO_STATUS_NEEDS_RESET))
        return;
    if (vq->size > t->max_queue_size) {
        vq->error = "queue size above the maximum";
        needs_reset(t, (uint16_t)(vq - t->queues), vq->error);
        return;
    }
    bool event_idx = t->driver_features & (1ULL << VIRTIO_F_EVENT_IDX);
    bool indirect = t->driver_features & (1ULL << VIRTIO_F_INDIRECT_DESC);
    if (virtq_activate(vq, t->mem, event_idx, indirect) < 0) {
        needs_reset(t, (uint16_t)(vq - t->queues), vq->error);
        return;
    }
    vq->ready = true;
}

static void common_write(VirtioPci *t, uint32_t off, const uint8_t *data, uint32_t len)
{
    uint64_t v = 0;
    for (uint32_t i = 0; i < len; i++)
        v |= (uint64_t)data[i] << (8 * i);
    Virtqueue *vq = t->queue_select < t->num_queues ? &t->queues[t->queue_select] : NULL;
    /* Queue setup is frozen once the queue is enabled or the device runs. */
    bool q_writable = vq && !vq->ready && !(t->status & VIRTIO_STATUS_DRIVER_OK);
    bool features_open = !(t->status & VIRTIO_STATUS_FEATURES_OK);

#define FIELD(o, l) (off == (o) && len == (l))
    if (FIELD(0x00, 4))
        t->device_feature_select = (uint32_t)v;
    else if (FIELD(0x08, 4))
        t->driver_feature_select = (uint32_t)v;
    else if (FIELD(0x0c, 4) && features_open && t->driver_feature_select < 2) {
        unsigned sh = 32 * t->driver_feature_select;
        t->driver_features = (t->driver_features & ~(0xffffffffULL << sh)) | (v << sh);
    } else if (FIELD(0x10, 2))
        t->config_vector = checked_vector(t, (uint16_t)v);
    else if (FIELD(0x14, 1))
        write_status(t, (uint8_t)v);
    else if (FIELD(0x16, 2))
        t->queue_select = (uint16_t)v;
    else if (FIELD(0x18, 2) && q_writable)
        vq->size = (uint16_t)v;
    else if (FIELD(0x1a, 2) && vq)
        vq->msix_vector = checked_vector(t, (uint16_t)v);
    else if (FIELD(0x1c, 2) && vq && v == 1)
        queue_enable(t, vq);
    else if ((FIELD(0x20, 4) || FIELD(0x24, 4) || FIELD(0x28, 4) || FIELD(0x2c, 4) || FIELD(0x30, 4) ||
              FIELD(0x34, 4)) &&
             q_writable) {
        uint64_t *f = off < 0x28 ? &vq->desc : off < 0x30 ? &vq->avail : &vq->used;
        unsigned sh = (off & 4) ? 32 : 0;
        *f = (*f & ~(0xffffffffULL << sh)) | (v << sh);
    } else if ((FIELD(0x20, 8) || FIELD(0x28, 8) || FIELD(0x30, 8)) && q_writable) {
        uint64_t *f = off == 0x20 ? &vq->desc : off == 0x28 ? &vq->avail : &vq->used;
        *f = v;
    } else
        t->counters.bad_accesses++;
#undef FIELD
}

/* ---------------------------------------------------------------- BAR */

static void bar_read(PciDevice *d, int bar, uint64_t off, uint8_t *data, uint32_t len)
{
    VirtioPci *t = d->opaque;
    memset(data, 0, len);
    if (bar != 0)
        return;
    if (pci_msix_bar_access(&d->msix, bar, off, data, len, false))
        return;
    pthread_mutex_lock(&t->lock);
    if (off < COMMON_SIZE) {
        uint8_t c[COMMON_SIZE];
        common_snapshot(t, c);
        for (uint32_t i = 0; i < len; i++)
            data[i] = off + i < COMMON_SIZE ? c[off + i] : 0;
    } else if (off >= VIRTIO_PCI_ISR && off < VIRTIO_PCI_ISR + 4) {
        /* Reading the ISR acknowledges it (virtio 1.2, 4.1.4.5). */
        if (off == VIRTIO_PCI_ISR) {
            data[0] = t->isr;
            t->isr = 0;
            set_intx(t, false);
        }
    } else if (off >= VIRTIO_PCI_DEVICE_CFG && off < VIRTIO_PCI_DEVICE_CFG + t->ops->config_size) {
        uint32_t o = (uint32_t)(off - VIRTIO_PCI_DEVICE_CFG);
        uint32_t n = len;
        if (o + n > t->ops->config_size)
            n = t->ops->config_size - o;
        if (t->ops->config_read)
            t->ops->config_read(t->dev, o, data, n);
    }
    pthread_mutex_unlock(&t->lock);
}

static void bar_write(PciDevice *d, int bar, uint64_t off, const uint8_t *data, uint32_t len)
{
    VirtioPci *t = d->opaque;
    if (bar != 0)
        return;
    if (pci_msix_bar_access(&d->msix, bar, off, (uint8_t *)data, len, true))
        return;
    if (off >= VIRTIO_PCI_NOTIFY &&
        off < VIRTIO_PCI_NOTIFY + VIRTIO_PCI_NOTIFY_MULT * (uint64_t)t->num_queues) {
        /* A kick the ioeventfd did not catch (other width, or no KVM
         * registration): same path, through the eventfd. */
        kick(t, (uint16_t)((off - VIRTIO_PCI_NOTIFY) / VIRTIO_PCI_NOTIFY_MULT));
        return;
    }
    pthread_mutex_lock(&t->lock);
    if (off < COMMON_SIZE)
        common_write(t, (uint32_t)off, data, len);
    else if (t->ops->config_write && off >= VIRTIO_PCI_DEVICE_CFG &&
             off - VIRTIO_PCI_DEVICE_CFG < t->ops->config_size &&
             len <= t->ops->config_size - (off - VIRTIO_PCI_DEVICE_CFG))
        t->ops->config_write(t->dev, (uint32_t)(off - VIRTIO_PCI_DEVICE_CFG), data, len);
    else
        t->counters.bad_accesses++; /* ISR, and device config unless the device takes writes */
    pthread_mutex_unlock(&t->lock);
}

/* The PCI configuration access capability (virtio 1.2, 4.1.4.9): the
 * driver puts bar, offset and length (1, 2 or 4) into the capability, then
 * reads or writes pci_cfg_data, and the device performs that BAR access.
 * Firmware that cannot map BARs yet uses it; Linux does not. Anything but a
 * well-formed access into our BAR is dropped (reads give zeroes) and
 * counted. */
static void pci_cfg_window(PciDevice *d, uint32_t offset, uint8_t *data, uint32_t len, bool write)
{
    VirtioPci *t = d->opaque;
    const uint8_t *cap = &d->cfg[d->cfg_window - 16];
    uint8_t bar = cap[4];
    uint32_t off = get32(cap + 8), n = get32(cap + 12);
    /* The access to pci_cfg_data is meant to have cap.length's width; a
     * wider one is served too (bytes past the length read 0), but a write
     * must start at the window's first byte and cover the length. */
    bool ok = bar == 0 && (n == 1 || n == 2 || n == 4) && off % n == 0 && off <= VIRTIO_PCI_BAR_SIZE - n &&
              offset < n && (!write || (offset == 0 && len >= n));
    if (!write)
        memset(data, 0, len);
    if (!ok) {
        pthread_mutex_lock(&t->lock);
        t->counters.bad_accesses++;
        pthread_mutex_unlock(&t->lock);
        return;
    }
    if (write) {
        bar_write(d, 0, off, data, n);
    } else {
        uint8_t buf[4] = {0};
        bar_read(d, 0, off, buf, n);
        memcpy(data, buf + offset, len);
    }
}

static const PciDeviceOps virtio_pci_ops = {
    .bar_read = bar_read,
    .bar_write = bar_write,
    .bar_mapped = bar_mapped,
    .cfg_window_access = pci_cfg_window,
};

/* ----------------------------------------------------------- lifetime */

static int add_virtio_cap(PciDevice *d, uint8_t type, uint32_t offset, uint32_t length, bool notify)
{
    uint8_t body[20] = {PCI_CAP_ID_VNDR, 0, notify ? 20 : 16, type, 0 /* bar */};
    put32(body + 8, offset);
    put32(body + 12, length);
    if (notify)
        put32(body + 16, VIRTIO_PCI_NOTIFY_MULT);
    return pci_device_add_cap(d, body, notify ? 20 : 16, NULL);
}

/* virtio_pci_cap (bar, offset and length writable by the driver) followed
 * by the 4-byte pci_cfg_data window. */
static int add_pci_cfg_cap(PciDevice *d)
{
    uint8_t body[20] = {PCI_CAP_ID_VNDR, 0, 20, CAP_PCI_CFG};
    uint8_t wmask[20] = {0};
    wmask[4] = 0xff;
    memset(wmask + 8, 0xff, 8);
    int off = pci_device_add_cap(d, body, sizeof(body), wmask);
    if (off >= 0)
        d->cfg_window = (uint8_t)(off + 16);
    return off;
}

static int fail(char *errbuf, size_t errlen, int r, const char *id, const char *what)
{
    snprintf(errbuf, errlen, "%s: %s: %s", id, what, strerror(-r));
    return r;
}

VirtioPci *virtio_pci_new(const VirtioDeviceOps *ops, void *dev, const VirtioPciConfig *cfg, char *errbuf,
                          size_t errlen)
{
    int r;
    if (cfg->num_queues == 0 || cfg->num_queues > VIRTIO_PCI_MAX_QUEUES || cfg->queue_size == 0 ||
        cfg->queue_size > VIRTQ_MAX_SIZE || (cfg->queue_size & (cfg->queue_size - 1))) {
        snprintf(errbuf, errlen, "%s: num_queues must be 1-%d and queue_size a power of two up to %d",
                 cfg->id, VIRTIO_PCI_MAX_QUEUES, VIRTQ_MAX_SIZE);
        return NULL;
    }
    VirtioPci *t = calloc(1, sizeof(*t));
    if (!t) {
        fail(errbuf, errlen, -ENOMEM, cfg->id, "allocation");
        return NULL;
    }
    pthread_mutex_init(&t->lock, NULL);
    t->epfd = t->ctl_fd = -1;
    t->ops = ops;
    t->dev = dev;
    t->id = strdup(cfg->id);
    t->mem = cfg->mem;
    t->vm = cfg->vm;
    t->irq = cfg->irq;
    t->set_intx = cfg->set_intx;
    t->intx_ctx = cfg->intx_ctx;
    t->emit = cfg->emit;
    t->emit_ctx = cfg->emit_ctx;
    t->num_queues = cfg->num_queues;
    t->max_queue_size = cfg->queue_size;
    t->device_features = ops->features | 1ULL << VIRTIO_F_VERSION_1 | 1ULL << VIRTIO_F_EVENT_IDX |
                         1ULL << VIRTIO_F_INDIRECT_DESC;
    t->n_vectors = (uint16_t)(cfg->num_queues + 1);
    t->queues = calloc(t->num_queues, sizeof(*t->queues));
    t->notify_fds = calloc(t->num_queues, sizeof(int));
    t->vectors = calloc(t->n_vectors, sizeof(*t->vectors));
    if (!t->id || !t->queues || !t->notify_fds || !t->vectors) {
        r = fail(errbuf, errlen, -ENOMEM, cfg->id, "allocation");
        goto err;
    }
    for (uint16_t q = 0; q < t->num_queues; q++)
        t->notify_fds[q] = -1;
    for (uint16_t v = 0; v < t->n_vectors; v++)
        t->vectors[v].efd = -1;
    for (uint16_t q = 0; q < t->num_queues; q++) {
        virtq_reset(&t->queues[q], t->max_queue_size);
        t->notify_fds[q] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (t->notify_fds[q] < 0) {
            r = fail(errbuf, errlen, -errno, cfg->id, "eventfd");
            goto err;
        }
    }
    if (t->irq) {
        for (uint16_t v = 0; v < t->n_vectors; v++) {
            if ((r = kvm_irq_msi_vector_init(t->irq, &t->vectors[v])) < 0) {
                fail(errbuf, errlen, r, cfg->id, "MSI vector");
                goto err;
            }
        }
    }
    t->config_vector = VIRTIO_MSI_NO_VECTOR;

    PciDevice *d = &t->pci;
    pci_device_init(d, VIRTIO_PCI_VENDOR, (uint16_t)(VIRTIO_PCI_DEVICE_BASE + ops->type), ops->pci_class, 1,
                    VIRTIO_PCI_VENDOR, ops->type, &virtio_pci_ops, t);
    if ((r = pci_device_add_bar(d, 0, VIRTIO_PCI_BAR_SIZE, false)) < 0 ||
        (r = add_virtio_cap(d, CAP_COMMON, VIRTIO_PCI_COMMON, COMMON_SIZE, false)) < 0 ||
        (r = add_virtio_cap(d, CAP_ISR, VIRTIO_PCI_ISR, 4, false)) < 0 ||
        /* The device configuration capability is optional, and Linux's
         * virtio_pci refuses the whole device when one has length 0 ("bad
         * capability len"): a device without configuration (rng) has none. */
        (ops->config_size > 0 &&
         (r = add_virtio_cap(d, CAP_DEVICE, VIRTIO_PCI_DEVICE_CFG, ops->config_size, false)) < 0) ||
        (r = add_virtio_cap(d, CAP_NOTIFY, VIRTIO_PCI_NOTIFY, VIRTIO_PCI_NOTIFY_MULT * t->num_queues, true)) <
            0 ||
        (r = pci_device_add_msix(d, t->n_vectors, 0, VIRTIO_PCI_MSIX_TABLE, VIRTIO_PCI_MSIX_PBA,
                                 msix_vector_update, msix_deliver, t)) < 0 ||
        (r = add_pci_cfg_cap(d)) < 0) {
        fail(errbuf, errlen, r, cfg->id, "PCI function");
        goto err;
    }

    t->epfd = epoll_create1(EPOLL_CLOEXEC);
    t->ctl_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (t->epfd < 0 || t->ctl_fd < 0) {
        r = fail(errbuf, errlen, -errno, cfg->id, "epoll");
        goto err;
    }
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = CTL_TOKEN};
    if (epoll_ctl(t->epfd, EPOLL_CTL_ADD, t->ctl_fd, &ev) < 0) {
        r = fail(errbuf, errlen, -errno, cfg->id, "epoll_ctl");
        goto err;
    }
    for (uint16_t q = 0; q < t->num_queues; q++) {
        ev = (struct epoll_event){.events = EPOLLIN, .data.u64 = q};
        if (epoll_ctl(t->epfd, EPOLL_CTL_ADD, t->notify_fds[q], &ev) < 0) {
            r = fail(errbuf, errlen, -errno, cfg->id, "epoll_ctl");
            goto err;
        }
    }
    return t;

err:
    virtio_pci_free(t);
    return NULL;
}

int virtio_pci_watch_fd(VirtioPci *t, int fd, uint16_t q)
{
    if (q >= t->num_queues)
        return -EINVAL;
    struct epoll_event ev = {.events = EPOLLIN | EPOLLET, .data.u64 = WATCH_TOKEN | q};
    return epoll_ctl(t->epfd, EPOLL_CTL_ADD, fd, &ev) < 0 ? -errno : 0;
}

int virtio_pci_watch_host(VirtioPci *t, int fd)
{
    if (!t->ops->host_event)
        return -EINVAL;
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = HOST_TOKEN};
    return epoll_ctl(t->epfd, EPOLL_CTL_ADD, fd, &ev) < 0 ? -errno : 0;
}

int virtio_pci_attach(VirtioPci *t, PciBus *bus, char *errbuf, size_t errlen)
{
    int r = pci_bus_add_device(bus, &t->pci);
    if (r < 0)
        return fail(errbuf, errlen, r, t->id,
                    r == -EINVAL ? "the snapshot's PCI slot for it is taken or invalid"
                                 : "no free PCI slot or window space");
    r = pthread_create(&t->worker, NULL, worker_main, t);
    if (r != 0)
        return fail(errbuf, errlen, -r, t->id, "worker thread");
    t->worker_started = true;
    return 0;
}

void virtio_pci_free(VirtioPci *t)
{
    if (!t)
        return;
    if (t->worker_started) {
        pthread_mutex_lock(&t->lock);
        t->stopping = true;
        pthread_mutex_unlock(&t->lock);
        uint64_t one = 1;
        if (write(t->ctl_fd, &one, sizeof(one)) < 0) {
            /* cannot fail on a fresh eventfd */
        }
        pthread_join(t->worker, NULL);
    }
    pthread_mutex_lock(&t->lock);
    if (t->notify_fds)
        notify_unregister(t);
    pthread_mutex_unlock(&t->lock);
    if (t->irq && t->vectors)
        for (uint16_t v = 0; v < t->n_vectors; v++) {
            if (t->vectors[v].efd >= 0)
                kvm_irq_msi_vector_unroute(t->irq, &t->vectors[v]);
            kvm_irq_msi_vector_destroy(t->irq, &t->vectors[v]);
        }
    for (uint16_t q = 0; t->notify_fds && q < t->num_queues; q++)
        if (t->notify_fds[q] >= 0)
            close(t->notify_fds[q]);
    for (uint16_t q = 0; t->queues && q < t->num_queues; q++)
        virtq_free(&t->queues[q]);
    if (t->epfd >= 0)
        close(t->epfd);
    if (t->ctl_fd >= 0)
        close(t->ctl_fd);
    pci_device_destroy(&t->pci);
    pthread_mutex_destroy(&t->lock);
    free(t->queues);
    free(t->notify_fds);
    free(t->vectors);
    free(t->id);
    free(t);
}

void virtio_pci_reboot(VirtioPci *t)
{
    pthread_mutex_lock(&t->lock);
    /* The KVM objects died with the old VM; only our bookkeeping is left. */
    t->bar_addr = 0;
    for (uint16_t v = 0; v < t->n_vectors; v++)
        t->vectors[v].irqfd_bound = false;
    device_reset(t);
    pthread_mutex_unlock(&t->lock);
}

void virtio_pci_get_counters(VirtioPci *t, VirtioCounters *out)
{
    pthread_mutex_lock(&t->lock);
    *out = t->counters;
    pthread_mutex_unlock(&t->lock);
}

/* ----------------------------------------------------------- snapshots */

void virtio_pci_freeze(VirtioPci *t)
{
    pthread_mutex_lock(&t->lock);
    if (t->ops->quiesce) {
        t->ops->quiesce(t->dev);
        signal_completed(t);
    }
}

void virtio_pci_thaw(VirtioPci *t)
{
    pthread_mutex_unlock(&t->lock);
}

void virtio_pci_save(VirtioPci *t, SnapshotWriter *w)
{
    snapshot_put_u16(w, t->ops->type);
    snapshot_put_u16(w, t->num_queues);
    snapshot_put_u16(w, t->max_queue_size);
    snapshot_put_u64(w, t->device_features);
    snapshot_put_u64(w, t->driver_features);
    snapshot_put_u32(w, t->device_feature_select);
    snapshot_put_u32(w, t->driver_feature_select);
    snapshot_put_u16(w, t->config_vector);
    snapshot_put_u8(w, t->status);
    snapshot_put_u8(w, t->config_generation);
    snapshot_put_u16(w, t->queue_select);
    snapshot_put_u8(w, t->isr);
    snapshot_put_u8(w, t->intx_level);
    for (uint16_t q = 0; q < t->num_queues; q++) {
        const Virtqueue *vq = &t->queues[q];
        snapshot_put_u16(w, vq->size);
        snapshot_put_u64(w, vq->desc);
        snapshot_put_u64(w, vq->avail);
        snapshot_put_u64(w, vq->used);
        snapshot_put_u8(w, vq->ready);
        snapshot_put_u16(w, vq->msix_vector);
        snapshot_put_u16(w, vq->last_avail);
        snapshot_put_u16(w, vq->used_idx);
        snapshot_put_u16(w, vq->signalled_used);
        snapshot_put_u8(w, vq->signalled_valid);
    }
}

static bool vector_ok(const VirtioPci *t, uint16_t v)
{
    return v == VIRTIO_MSI_NO_VECTOR || v < t->n_vectors;
}

/* Lock held. One queue's saved state; the rings are checked again as a
 * driver enabling the queue would have them checked. */
static int queue_load(VirtioPci *t, Virtqueue *vq, SnapshotReader *r)
{
    uint16_t size = snapshot_get_u16(r);
    uint64_t desc = snapshot_get_u64(r), avail = snapshot_get_u64(r), used = snapshot_get_u64(r);
    uint8_t ready = snapshot_get_u8(r);
    uint16_t vector = snapshot_get_u16(r), last_avail = snapshot_get_u16(r), used_idx = snapshot_get_u16(r),
             signalled = snapshot_get_u16(r);
    uint8_t signalled_valid = snapshot_get_u8(r);
    if (r->failed || size > t->max_queue_size || ready > 1 || signalled_valid > 1 || !vector_ok(t, vector))
        return -EINVAL;
    vq->size = size;
    vq->desc = desc;
    vq->avail = avail;
    vq->used = used;
    vq->msix_vector = vector;
    if (!ready)
        return 0;
    bool event_idx = t->driver_features & (1ULL << VIRTIO_F_EVENT_IDX);
    bool indirect = t->driver_features & (1ULL << VIRTIO_F_INDIRECT_DESC);
    if (virtq_activate(vq, t->mem, event_idx, indirect) < 0)
        return -EINVAL;
    vq->last_avail = last_avail;
    vq->used_idx = used_idx;
    vq->signalled_used = signalled;
    vq->signalled_valid = signalled_valid;
    vq->ready = true;
    return 0;
}

int virtio_pci_load(VirtioPci *t, SnapshotReader *r)
{
    uint16_t type = snapshot_get_u16(r), num_queues = snapshot_get_u16(r), max_size = snapshot_get_u16(r);
    uint64_t device_features = snapshot_get_u64(r), driver_features = snapshot_get_u64(r);
    uint32_t dfs = snapshot_get_u32(r), drfs = snapshot_get_u32(r);
    uint16_t config_vector = snapshot_get_u16(r);
    uint8_t status = snapshot_get_u8(r), generation = snapshot_get_u8(r);
    uint16_t queue_select = snapshot_get_u16(r);
    uint8_t isr = snapshot_get_u8(r), intx = snapshot_get_u8(r);
    if (r->failed || type != t->ops->type || num_queues != t->num_queues || max_size != t->max_queue_size ||
        device_features != t->device_features || (driver_features & ~device_features) ||
        !vector_ok(t, config_vector) || isr > (ISR_QUEUE | ISR_CONFIG) || intx > 1)
        return -EINVAL;

    pthread_mutex_lock(&t->lock);
    t->driver_features = driver_features;
    t->device_feature_select = dfs;
    t->driver_feature_select = drfs;
    t->config_vector = config_vector;
    t->status = status;
    t->config_generation = generation;
    t->queue_select = queue_select;
    t->isr = isr;
    /* The IOAPIC's restored state already holds the line's level. */
    t->intx_level = intx;
    int ret = 0;
    for (uint16_t q = 0; ret == 0 && q < t->num_queues; q++)
        ret = queue_load(t, &t->queues[q], r);
    if (ret == 0 && !snapshot_reader_done(r))
        ret = -EINVAL;
    if (ret < 0) {
        device_reset(t);
        pthread_mutex_unlock(&t->lock);
        return ret;
    }
    if ((status & VIRTIO_STATUS_DRIVER_OK) && t->ops->activate)
        t->ops->activate(t->dev, t->driver_features);
    if (t->ops->restored)
        t->ops->restored(t->dev);
    for (uint16_t q = 0; q < t->num_queues; q++)
        if (t->queues[q].ready)
            kick(t, q);
    pthread_mutex_unlock(&t->lock);
    return 0;
}
