/* SPDX-License-Identifier: Apache-2.0 */
#include "pci.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "layout.h"
#include "le.h"

/* Red Hat's generic PCIe host bridge ID: Linux binds nothing special to it. */
#define HOST_BRIDGE_VENDOR 0x1b36
#define HOST_BRIDGE_DEVICE 0x0008
#define CLASS_HOST_BRIDGE  0x060000

/* Writable command bits: memory space, bus master, parity and SERR# response,
 * INTx disable. I/O space stays 0: no function has an I/O BAR. */
#define COMMAND_WMASK 0x0546
/* Status error bits are write-1-to-clear (never set by us, but keep the shape). */
#define STATUS_W1C 0xf900

void pci_device_init(PciDevice *d, uint16_t vendor, uint16_t device, uint32_t class_code, uint8_t revision,
                     uint16_t subsys_vendor, uint16_t subsys_id, const PciDeviceOps *ops, void *opaque)
{
    memset(d, 0, sizeof(*d));
    put16(&d->cfg[PCI_VENDOR_ID], vendor);
    put16(&d->cfg[PCI_DEVICE_ID], device);
    d->cfg[PCI_REVISION_ID] = revision;
    d->cfg[PCI_CLASS_PROG] = (uint8_t)class_code;
    d->cfg[PCI_CLASS_PROG + 1] = (uint8_t)(class_code >> 8);
    d->cfg[PCI_CLASS_PROG + 2] = (uint8_t)(class_code >> 16);
    put16(&d->cfg[PCI_SUBSYSTEM_VENDOR_ID], subsys_vendor);
    put16(&d->cfg[PCI_SUBSYSTEM_ID], subsys_id);
    put16(&d->wmask[PCI_COMMAND], COMMAND_WMASK);
    put16(&d->w1cmask[PCI_STATUS], STATUS_W1C);
    d->wmask[0x0c] = 0xff; /* cache line size */
    d->wmask[0x0d] = 0xff; /* latency timer */
    d->wmask[PCI_INTERRUPT_LINE] = 0xff;
    d->next_cap = 0x40;
    d->ops = ops;
    d->opaque = opaque;
    memcpy(d->cfg_power_on, d->cfg, sizeof(d->cfg));
}

int pci_device_add_bar(PciDevice *d, int bar, uint64_t size, bool is_64)
{
    if (bar < 0 || bar >= PCI_NUM_BARS || (is_64 && bar == PCI_NUM_BARS - 1) || size < 4096 ||
        (size & (size - 1)) || (!is_64 && size > (1ULL << 31)))
        return -EINVAL;
    d->bars[bar] = (PciBar){.size = size, .is_64 = is_64};
    uint8_t *w = &d->wmask[PCI_BAR0 + 4 * bar];
    uint64_t mask = ~(size - 1);
    put32(w, (uint32_t)mask & ~0xfu);
    d->cfg[PCI_BAR0 + 4 * bar] = is_64 ? PCI_BAR_MEM64 : 0;
    if (is_64)
        put32(w + 4, (uint32_t)(mask >> 32));
    memcpy(d->cfg_power_on, d->cfg, sizeof(d->cfg));
    return 0;
}

int pci_device_add_cap(PciDevice *d, const uint8_t *body, uint8_t len, const uint8_t *wmask)
{
    unsigned off = (d->next_cap + 3u) & ~3u;
    if (len < 2 || off + len > PCI_CFG_LEGACY_SIZE)
        return -ENOSPC;
    memcpy(&d->cfg[off], body, len);
    if (wmask)
        memcpy(&d->wmask[off], wmask, len);
    /* The list is built head first; order carries no meaning. */
    d->cfg[off + 1] = d->cfg[PCI_CAPABILITY_LIST];
    d->wmask[off] = d->wmask[off + 1] = 0;
    d->cfg[PCI_CAPABILITY_LIST] = (uint8_t)off;
    d->cfg[PCI_STATUS] |= PCI_STATUS_CAP_LIST;
    d->next_cap = (uint8_t)(off + len);
    memcpy(d->cfg_power_on, d->cfg, sizeof(d->cfg));
    return (int)off;
}

void pci_device_destroy(PciDevice *d)
{
    if (d->has_msix) {
        pthread_mutex_destroy(&d->msix.lock);
        free(d->msix.table);
        free(d->msix.pba);
        free(d->msix.usable);
        d->has_msix = false;
    }
}

uint32_t pci_slot_intx_gsi(unsigned slot)
{
    return PCI_INTX_GSI_BASE + slot % 8;
}

uint32_t pci_device_intx_gsi(const PciDevice *d)
{
    return pci_slot_intx_gsi(d->slot);
}

void pci_device_set_intx_status(PciDevice *d, bool asserted)
{
    /* Only the status bit; the caller drives the line. A racy byte update
     * is harmless: the bit is informational. */
    if (asserted)
        __atomic_fetch_or(&d->cfg[PCI_STATUS], PCI_STATUS_INTERRUPT, __ATOMIC_RELAXED);
    else
        __atomic_fetch_and(&d->cfg[PCI_STATUS], (uint8_t)~PCI_STATUS_INTERRUPT, __ATOMIC_RELAXED);
}

/* ------------------------------------------------------------- BARs */

static uint64_t bar_address(const PciDevice *d, int bar)
{
    uint64_t a = get32(&d->cfg[PCI_BAR0 + 4 * bar]) & ~0xfULL;
    if (d->bars[bar].is_64)
        a |= (uint64_t)get32(&d->cfg[PCI_BAR0 + 4 * bar + 4]) << 32;
    return a;
}

/*
 * Recomputes what each BAR decodes. A BAR decodes only with Memory Space
 * on and when it lies wholly in the PCI window: anywhere else (RAM, the
 * LAPIC, half outside) it is simply not reachable, so a guest cannot use a
 * BAR to shadow something else. Called with the bus lock held.
 */
static void update_bars(PciDevice *d)
{
    bool mem_on = get16(&d->cfg[PCI_COMMAND]) & PCI_COMMAND_MEMORY;
    for (int i = 0; i < PCI_NUM_BARS; i++) {
        PciBar *b = &d->bars[i];
        if (!b->size)
            continue;
        uint64_t a = bar_address(d, i);
        bool inside =
            a >= LAYOUT_PCI_MMIO_START && a - LAYOUT_PCI_MMIO_START <= LAYOUT_PCI_MMIO_SIZE - b->size;
        uint64_t want = mem_on && inside ? a : 0;
        if (want == b->mapped)
            continue;
        b->mapped = want;
        if (d->ops && d->ops->bar_mapped)
            d->ops->bar_mapped(d, i, want);
    }
}

/* ------------------------------------------------------- config space */

static bool touches(uint32_t offset, uint32_t len, uint32_t start, uint32_t size)
{
    return offset < start + size && start < offset + len;
}

/* Hands the part of an access inside the device's config window to it. */
static void window_part(PciDevice *d, uint32_t offset, uint8_t *data, uint32_t len, bool write)
{
    const uint32_t w = d->cfg_window, wlen = 4;
    if (!w || !d->ops || !d->ops->cfg_window_access || !touches(offset, len, w, wlen))
        return;
    uint32_t start = offset > w ? offset : w;
    uint32_t end = offset + len < w + wlen ? offset + len : w + wlen;
    d->ops->cfg_window_access(d, start - w, data + (start - offset), end - start, write);
}

void pci_config_read(PciBus *bus, PciDevice *d, uint32_t offset, uint8_t *data, uint32_t len)
{
    (void)bus;
    for (uint32_t i = 0; i < len; i++) {
        uint32_t o = offset + i;
        data[i] = o < PCI_CFG_SIZE ? d->cfg[o] : 0xff;
    }
    window_part(d, offset, data, len, false);
}

static void msix_control_written(PciMsix *m, uint16_t ctrl);

void pci_config_write(PciBus *bus, PciDevice *d, uint32_t offset, const uint8_t *data, uint32_t len)
{
    (void)bus;
    for (uint32_t i = 0; i < len; i++) {
        uint32_t o = offset + i;
        if (o >= PCI_CFG_SIZE)
            break;
        uint8_t w = d->wmask[o], c = d->w1cmask[o];
        d->cfg[o] = (uint8_t)((d->cfg[o] & ~w) | (data[i] & w));
        d->cfg[o] &= (uint8_t) ~(data[i] & c);
    }
    window_part(d, offset, (uint8_t *)data, len, true);
    if (touches(offset, len, PCI_COMMAND, 2) || touches(offset, len, PCI_BAR0, 4 * PCI_NUM_BARS))
        update_bars(d);
    if (d->has_msix && touches(offset, len, d->msix.cap + 2u, 2))
        msix_control_written(&d->msix, get16(&d->cfg[d->msix.cap + 2]));
}

/* -------------------------------------------------------------- MSI-X */

int pci_device_add_msix(PciDevice *d, uint16_t n, int bar, uint32_t table_offset, uint32_t pba_offset,
                        void (*vector_update)(void *, uint16_t, bool, uint64_t, uint32_t),
                        void (*deliver)(void *, uint16_t), void *ctx)
{
    if (n == 0 || n > 2048 || bar < 0 || bar >= PCI_NUM_BARS || !d->bars[bar].size || (table_offset & 7) ||
        (pba_offset & 7) || (uint64_t)table_offset + n * 16ULL > d->bars[bar].size ||
        (uint64_t)pba_offset + ((n + 63u) / 64u) * 8ULL > d->bars[bar].size)
        return -EINVAL;
    PciMsix *m = &d->msix;
    memset(m, 0, sizeof(*m));
    m->table = calloc(n, sizeof(*m->table));
    m->pba = calloc((n + 63u) / 64u, sizeof(uint64_t));
    m->usable = calloc(n, sizeof(bool));
    if (!m->table || !m->pba || !m->usable) {
        free(m->table);
        free(m->pba);
        free(m->usable);
        return -ENOMEM;
    }
    for (uint16_t i = 0; i < n; i++)
        m->table[i].ctrl = PCI_MSIX_CTRL_MASKED;
    pthread_mutex_init(&m->lock, NULL);
    m->n_vectors = n;
    m->bar = bar;
    m->table_offset = table_offset;
    m->pba_offset = pba_offset;
    m->vector_update = vector_update;
    m->deliver = deliver;
    m->ctx = ctx;

    uint8_t body[12] = {PCI_CAP_ID_MSIX, 0};
    put16(&body[2], (uint16_t)(n - 1)); /* table size, read-only */
    put32(&body[4], table_offset | (uint32_t)bar);
    put32(&body[8], pba_offset | (uint32_t)bar);
    uint8_t wmask[12] = {0};
    put16(&wmask[2], PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL);
    int off = pci_device_add_cap(d, body, sizeof(body), wmask);
    if (off < 0) {
        free(m->table);
        free(m->pba);
        free(m->usable);
        pthread_mutex_destroy(&m->lock);
        return off;
    }
    m->cap = (uint8_t)off;
    d->has_msix = true;
    return 0;
}

static bool vector_masked(const PciMsix *m, uint16_t v)
{
    return !m->enabled || m->masked_all || (m->table[v].ctrl & PCI_MSIX_CTRL_MASKED);
}

/* Tells the owner about a vector whose state changed, then delivers a
 * pending message that just became deliverable. Lock held. */
static void refresh_vector(PciMsix *m, uint16_t v, bool force)
{
    bool usable = !vector_masked(m, v);
    if (usable != m->usable[v] || (usable && force)) {
        m->usable[v] = usable;
        if (m->vector_update) {
            const PciMsixEntry *e = &m->table[v];
            m->vector_update(m->ctx, v, usable, (uint64_t)e->addr_hi << 32 | e->addr_lo, e->data);
        }
    }
    if (usable && (m->pba[v / 64] & (1ULL << (v % 64)))) {
        m->pba[v / 64] &= ~(1ULL << (v % 64));
        m->delivered++;
        if (m->deliver)
            m->deliver(m->ctx, v);
    }
}

static void msix_control_written(PciMsix *m, uint16_t ctrl)
{
    pthread_mutex_lock(&m->lock);
    m->enabled = ctrl & PCI_MSIX_FLAGS_ENABLE;
    m->masked_all = ctrl & PCI_MSIX_FLAGS_MASKALL;
    for (uint16_t v = 0; v < m->n_vectors; v++)
        refresh_vector(m, v, false);
    pthread_mutex_unlock(&m->lock);
}

bool pci_msix_enabled(PciMsix *m)
{
    pthread_mutex_lock(&m->lock);
    bool e = m->enabled;
    pthread_mutex_unlock(&m->lock);
    return e;
}

bool pci_msix_notify(PciMsix *m, uint16_t vector)
{
    pthread_mutex_lock(&m->lock);
    if (!m->enabled) {
        pthread_mutex_unlock(&m->lock);
        return false;
    }
    if (vector >= m->n_vectors) {
        m->dropped++; /* no such vector: the driver did not ask for one */
    } else if (vector_masked(m, vector)) {
        m->pba[vector / 64] |= 1ULL << (vector % 64);
        m->pended++;
    } else {
        m->delivered++;
        if (m->deliver)
            m->deliver(m->ctx, vector);
    }
    pthread_mutex_unlock(&m->lock);
    return true;
}

void pci_msix_table_read(PciMsix *m, uint64_t offset, uint8_t *data, uint32_t len)
{
    uint64_t size = (uint64_t)m->n_vectors * PCI_MSIX_ENTRY_SIZE;
    pthread_mutex_lock(&m->lock);
    for (uint32_t i = 0; i < len; i++) {
        uint64_t o = offset + i;
        if (o >= size) {
            data[i] = 0xff;
            continue;
        }
        const PciMsixEntry *e = &m->table[o / 16];
        uint32_t words[4] = {e->addr_lo, e->addr_hi, e->data, e->ctrl};
        data[i] = (uint8_t)(words[(o % 16) / 4] >> (8 * (o % 4)));
    }
    pthread_mutex_unlock(&m->lock);
}

void pci_msix_table_write(PciMsix *m, uint64_t offset, const uint8_t *data, uint32_t len)
{
    uint64_t size = (uint64_t)m->n_vectors * PCI_MSIX_ENTRY_SIZE;
    if (offset >= size)
        return;
    pthread_mutex_lock(&m->lock);
    uint64_t first = offset / 16, last = first;
    for (uint32_t i = 0; i < len && offset + i < size; i++) {
        uint64_t o = offset + i;
        PciMsixEntry *e = &m->table[o / 16];
        uint32_t *words[4] = {&e->addr_lo, &e->addr_hi, &e->data, &e->ctrl};
        uint32_t *w = words[(o % 16) / 4];
        unsigned shift = 8 * (o % 4);
        *w = (*w & ~(0xffu << shift)) | ((uint32_t)data[i] << shift);
        /* Vector control: only the mask bit exists; the rest reads 0. */
        e->ctrl &= PCI_MSIX_CTRL_MASKED;
        last = o / 16;
    }
    /* A changed address/data of a live vector needs its route rewritten
     * (drivers should mask first, but not all do). */
    for (uint64_t v = first; v <= last; v++)
        refresh_vector(m, (uint16_t)v, true);
    pthread_mutex_unlock(&m->lock);
}

void pci_msix_pba_read(PciMsix *m, uint64_t offset, uint8_t *data, uint32_t len)
{
    uint64_t size = ((m->n_vectors + 63u) / 64u) * 8ULL;
    pthread_mutex_lock(&m->lock);
    for (uint32_t i = 0; i < len; i++) {
        uint64_t o = offset + i;
        data[i] = o < size ? (uint8_t)(m->pba[o / 8] >> (8 * (o % 8))) : 0;
    }
    pthread_mutex_unlock(&m->lock);
}

bool pci_msix_bar_access(PciMsix *m, int bar, uint64_t offset, uint8_t *data, uint32_t len, bool write)
{
    if (bar != m->bar || !m->table)
        return false;
    uint64_t tsize = (uint64_t)m->n_vectors * PCI_MSIX_ENTRY_SIZE;
    uint64_t psize = ((m->n_vectors + 63u) / 64u) * 8ULL;
    if (offset >= m->table_offset && offset - m->table_offset < tsize) {
        if (write)
            pci_msix_table_write(m, offset - m->table_offset, data, len);
        else
            pci_msix_table_read(m, offset - m->table_offset, data, len);
        return true;
    }
    if (offset >= m->pba_offset && offset - m->pba_offset < psize) {
        if (!write) /* the PBA is read-only */
            pci_msix_pba_read(m, offset - m->pba_offset, data, len);
        return true;
    }
    return false;
}

static void msix_reset(PciMsix *m)
{
    pthread_mutex_lock(&m->lock);
    m->enabled = m->masked_all = false;
    for (uint16_t v = 0; v < m->n_vectors; v++) {
        m->table[v] = (PciMsixEntry){.ctrl = PCI_MSIX_CTRL_MASKED};
        refresh_vector(m, v, false);
    }
    memset(m->pba, 0, ((m->n_vectors + 63u) / 64u) * sizeof(uint64_t));
    pthread_mutex_unlock(&m->lock);
}

/* ---------------------------------------------------------------- bus */

static PciDevice *lookup(PciBus *bus, uint32_t busno, uint32_t dev, uint32_t fn)
{
    if (busno != 0 || fn != 0 || dev >= PCI_MAX_SLOTS)
        return NULL;
    return bus->slots[dev];
}

static void config_access(PciBus *bus, uint32_t busno, uint32_t dev, uint32_t fn, uint32_t reg, uint8_t *data,
                          uint32_t len, bool write)
{
    pthread_mutex_lock(&bus->lock);
    PciDevice *d = lookup(bus, busno, dev, fn);
    if (!d) {
        bus->counters.config_unclaimed++;
        if (!write)
            memset(data, 0xff, len); /* master abort */
    } else if (write) {
        bus->counters.config_writes++;
        pci_config_write(bus, d, reg, data, len);
    } else {
        bus->counters.config_reads++;
        pci_config_read(bus, d, reg, data, len);
    }
    pthread_mutex_unlock(&bus->lock);
}

/* 0xcf8-0xcfb: CONFIG_ADDRESS is latched by dword accesses only (narrower
 * ones are ordinary I/O on a real chipset), and the byte at 0xcf9 is the
 * ACPI reset register. */
static void pio_address_read(void *opaque, uint64_t offset, uint8_t *data, uint32_t len)
{
    PciBus *bus = opaque;
    if (offset == 0 && len == 4) {
        pthread_mutex_lock(&bus->lock);
        put32(data, bus->config_address);
        pthread_mutex_unlock(&bus->lock);
    } else if (offset == 1 && len == 1 && bus->reset_read) {
        data[0] = bus->reset_read(bus->reset_ctx);
    } else {
        memset(data, 0xff, len);
    }
}

static void pio_address_write(void *opaque, uint64_t offset, const uint8_t *data, uint32_t len)
{
    PciBus *bus = opaque;
    if (offset == 0 && len == 4) {
        pthread_mutex_lock(&bus->lock);
        bus->config_address = get32(data) & 0x80fffffcu;
        pthread_mutex_unlock(&bus->lock);
    } else if (offset == 1 && len == 1 && bus->reset_write) {
        bus->reset_write(bus->reset_ctx, data[0]);
    }
}

static void pio_data_access(PciBus *bus, uint64_t offset, uint8_t *data, uint32_t len, bool write)
{
    pthread_mutex_lock(&bus->lock);
    uint32_t a = bus->config_address;
    pthread_mutex_unlock(&bus->lock);
    if (!(a & 0x80000000u)) {
        if (!write)
            memset(data, 0xff, len);
        return;
    }
    /* The bus refuses an access running past 0xcff, so reg + len <= 256. */
    config_access(bus, (a >> 16) & 0xff, (a >> 11) & 0x1f, (a >> 8) & 7, (a & 0xfc) + (uint32_t)offset, data,
                  len, write);
}

static void pio_data_read(void *opaque, uint64_t offset, uint8_t *data, uint32_t len)
{
    pio_data_access(opaque, offset, data, len, false);
}

static void pio_data_write(void *opaque, uint64_t offset, const uint8_t *data, uint32_t len)
{
    pio_data_access(opaque, offset, (uint8_t *)data, len, true);
}

static void ecam_access(PciBus *bus, uint64_t offset, uint8_t *data, uint32_t len, bool write)
{
    uint32_t reg = (uint32_t)(offset & 0xfff);
    if (reg + len > PCI_CFG_SIZE) { /* would spill into the next function */
        if (!write)
            memset(data, 0xff, len);
        return;
    }
    config_access(bus, (uint32_t)(offset >> 20) & 0xff, (uint32_t)(offset >> 15) & 0x1f,
                  (uint32_t)(offset >> 12) & 7, reg, data, len, write);
}

static void ecam_read(void *opaque, uint64_t offset, uint8_t *data, uint32_t len)
{
    ecam_access(opaque, offset, data, len, false);
}

static void ecam_write(void *opaque, uint64_t offset, const uint8_t *data, uint32_t len)
{
    ecam_access(opaque, offset, (uint8_t *)data, len, true);
}

/* The MMIO window: find the decoded BAR holding the whole access. */
static void window_access(PciBus *bus, uint64_t offset, uint8_t *data, uint32_t len, bool write)
{
    uint64_t addr = LAYOUT_PCI_MMIO_START + offset;
    PciDevice *hit = NULL;
    int hit_bar = -1;
    uint64_t hit_off = 0;
    pthread_mutex_lock(&bus->lock);
    for (int s = 0; s < PCI_MAX_SLOTS && !hit; s++) {
        PciDevice *d = bus->slots[s];
        if (!d)
            continue;
        for (int i = 0; i < PCI_NUM_BARS; i++) {
            const PciBar *b = &d->bars[i];
            if (b->size && b->mapped && addr >= b->mapped && addr - b->mapped <= b->size - len) {
                hit = d;
                hit_bar = i;
                hit_off = addr - b->mapped;
                break;
            }
        }
    }
    if (!hit)
        bus->counters.bar_unclaimed++;
    pthread_mutex_unlock(&bus->lock);
    if (!hit) {
        if (!write)
            memset(data, 0xff, len);
        return;
    }
    /* Devices live as long as the bus; a BAR moved meanwhile only means
     * this one access lands at the old place, as a posted write would. */
    if (write) {
        if (hit->ops && hit->ops->bar_write)
            hit->ops->bar_write(hit, hit_bar, hit_off, data, len);
    } else {
        memset(data, 0xff, len);
        if (hit->ops && hit->ops->bar_read)
            hit->ops->bar_read(hit, hit_bar, hit_off, data, len);
    }
}

static void window_read(void *opaque, uint64_t offset, uint8_t *data, uint32_t len)
{
    window_access(opaque, offset, data, len, false);
}

static void window_write(void *opaque, uint64_t offset, const uint8_t *data, uint32_t len)
{
    window_access(opaque, offset, (uint8_t *)data, len, true);
}

void pci_bus_init(PciBus *bus)
{
    memset(bus, 0, sizeof(*bus));
    pthread_mutex_init(&bus->lock, NULL);
    bus->mmio_next = LAYOUT_PCI_MMIO_START;
    pci_device_init(&bus->host_bridge, HOST_BRIDGE_VENDOR, HOST_BRIDGE_DEVICE, CLASS_HOST_BRIDGE, 0, 0, 0,
                    NULL, NULL);
    bus->host_bridge.bus = bus;
    bus->slots[0] = &bus->host_bridge;
    bus->pio_address = (BusDevice){"pci-config-address", bus, pio_address_read, pio_address_write};
    bus->pio_data = (BusDevice){"pci-config-data", bus, pio_data_read, pio_data_write};
    bus->ecam = (BusDevice){"pci-ecam", bus, ecam_read, ecam_write};
    bus->window = (BusDevice){"pci-mmio-window", bus, window_read, window_write};
}

void pci_bus_destroy(PciBus *bus)
{
    pthread_mutex_destroy(&bus->lock);
}

int pci_bus_attach(PciBus *bus, Bus *pio, Bus *mmio)
{
    int r;
    if ((r = bus_register(pio, PORT_PCI_CONFIG_ADDRESS, 4, &bus->pio_address)) < 0 ||
        (r = bus_register(pio, PORT_PCI_CONFIG_DATA, 4, &bus->pio_data)) < 0 ||
        (r = bus_register(mmio, LAYOUT_PCI_ECAM_START, LAYOUT_PCI_ECAM_SIZE, &bus->ecam)) < 0 ||
        (r = bus_register(mmio, LAYOUT_PCI_MMIO_START, LAYOUT_PCI_MMIO_SIZE, &bus->window)) < 0)
        return r;
    return 0;
}

int pci_bus_add_device(PciBus *bus, PciDevice *d)
{
    pthread_mutex_lock(&bus->lock);
    int slot = -1;
    if (bus->next_planned < bus->n_slot_plan) {
        uint8_t want = bus->slot_plan[bus->next_planned++];
        if (want == 0 || want >= PCI_MAX_SLOTS || bus->slots[want]) {
            pthread_mutex_unlock(&bus->lock);
            return -EINVAL;
        }
        slot = want;
    }
    for (int s = 1; s < PCI_MAX_SLOTS && slot < 0; s++) {
        if (!bus->slots[s])
            slot = s;
    }
    if (slot < 0) {
        pthread_mutex_unlock(&bus->lock);
        return -ENOSPC;
    }
    /* Naturally aligned addresses, biggest first would pack better; devices
     * here have one small BAR each, so first fit in order is enough. */
    uint64_t next = bus->mmio_next;
    for (int i = 0; i < PCI_NUM_BARS; i++) {
        uint64_t size = d->bars[i].size;
        if (!size)
            continue;
        uint64_t a = (next + size - 1) & ~(size - 1);
        if (a + size > LAYOUT_PCI_MMIO_START + LAYOUT_PCI_MMIO_SIZE) {
            pthread_mutex_unlock(&bus->lock);
            return -ENOSPC;
        }
        put32(&d->cfg[PCI_BAR0 + 4 * i], (uint32_t)a | (d->bars[i].is_64 ? PCI_BAR_MEM64 : 0));
        if (d->bars[i].is_64)
            put32(&d->cfg[PCI_BAR0 + 4 * i + 4], (uint32_t)(a >> 32));
        next = a + size;
    }
    bus->mmio_next = next;
    d->slot = (uint8_t)slot;
    d->bus = bus;
    d->cfg[PCI_INTERRUPT_PIN] = 1; /* INTA# */
    d->cfg[PCI_INTERRUPT_LINE] = (uint8_t)pci_device_intx_gsi(d);
    memcpy(d->cfg_power_on, d->cfg, sizeof(d->cfg));
    bus->slots[slot] = d;
    pthread_mutex_unlock(&bus->lock);
    return slot;
}

void pci_bus_remove_device(PciBus *bus, PciDevice *d)
{
    pthread_mutex_lock(&bus->lock);
    if (d->bus == bus && bus->slots[d->slot] == d) {
        bus->slots[d->slot] = NULL;
        /* Unmapped first, so the owner drops what it had registered at the
         * BAR's address (ioeventfds) before the function goes away. */
        for (int i = 0; i < PCI_NUM_BARS; i++) {
            if (!d->bars[i].mapped)
                continue;
            d->bars[i].mapped = 0;
            if (d->ops && d->ops->bar_mapped)
                d->ops->bar_mapped(d, i, 0);
        }
        d->bus = NULL;
    }
    pthread_mutex_unlock(&bus->lock);
}

void pci_bus_reset(PciBus *bus)
{
    pthread_mutex_lock(&bus->lock);
    bus->config_address = 0;
    for (int s = 0; s < PCI_MAX_SLOTS; s++) {
        PciDevice *d = bus->slots[s];
        if (!d)
            continue;
        memcpy(d->cfg, d->cfg_power_on, sizeof(d->cfg));
        update_bars(d);
        if (d->has_msix)
            msix_reset(&d->msix);
    }
    pthread_mutex_unlock(&bus->lock);
}

/* ----------------------------------------------------------- snapshots */

static void function_save(PciDevice *d, uint32_t slot, SnapshotWriter *w)
{
    snapshot_section_begin(w, SNAPSHOT_SEC_PCI_FUNCTION, slot);
    snapshot_put_bytes(w, d->cfg, sizeof(d->cfg));
    uint16_t n = d->has_msix ? d->msix.n_vectors : 0;
    snapshot_put_u16(w, n);
    if (n) {
        PciMsix *m = &d->msix;
        pthread_mutex_lock(&m->lock);
        for (uint16_t v = 0; v < n; v++) {
            snapshot_put_u32(w, m->table[v].addr_lo);
            snapshot_put_u32(w, m->table[v].addr_hi);
            snapshot_put_u32(w, m->table[v].data);
            snapshot_put_u32(w, m->table[v].ctrl);
        }
        for (uint16_t i = 0; i < (n + 63u) / 64u; i++)
            snapshot_put_u64(w, m->pba[i]);
        pthread_mutex_unlock(&m->lock);
    }
    snapshot_section_end(w);
}

void pci_bus_save(PciBus *bus, SnapshotWriter *w)
{
    pthread_mutex_lock(&bus->lock);
    snapshot_section_begin(w, SNAPSHOT_SEC_PCI_BUS, 0);
    snapshot_put_u32(w, bus->config_address);
    snapshot_section_end(w);
    for (uint32_t s = 0; s < PCI_MAX_SLOTS; s++)
        if (bus->slots[s])
            function_save(bus->slots[s], s, w);
    pthread_mutex_unlock(&bus->lock);
}

static int function_bad(char *errbuf, size_t errlen, uint32_t slot, const char *why)
{
    snprintf(errbuf, errlen, "snapshot state is invalid: PCI slot %u: %s", slot, why);
    return -EINVAL;
}

/* Bus lock held. */
static int function_load(PciDevice *d, uint32_t slot, const SnapshotState *s, char *errbuf, size_t errlen)
{
    SnapshotReader r;
    if (!snapshot_reader_open(&r, s, SNAPSHOT_SEC_PCI_FUNCTION, slot))
        return function_bad(errbuf, errlen, slot, "no section for this function");
    uint8_t cfg[PCI_CFG_SIZE];
    snapshot_get_bytes(&r, cfg, sizeof(cfg));
    uint16_t n = snapshot_get_u16(&r);
    if (r.failed || n != (d->has_msix ? d->msix.n_vectors : 0))
        return function_bad(errbuf, errlen, slot, "malformed section or another MSI-X table size");
    /* Only what the guest can write may differ from a fresh function; the
     * interrupt status bit is the device's, outside the masks. */
    for (uint32_t o = 0; o < PCI_CFG_SIZE; o++) {
        uint8_t diff = (uint8_t)((cfg[o] ^ d->cfg[o]) & ~(d->wmask[o] | d->w1cmask[o]));
        if (o == PCI_STATUS)
            diff &= (uint8_t)~PCI_STATUS_INTERRUPT;
        if (diff)
            return function_bad(errbuf, errlen, slot, "a different function (read-only config bytes differ)");
    }
    PciMsixEntry *table = n ? calloc(n, sizeof(*table)) : NULL;
    uint64_t pba[32] = {0}; /* 2048 vectors at most */
    if (n && !table)
        return function_bad(errbuf, errlen, slot, "out of memory");
    for (uint16_t v = 0; v < n; v++) {
        table[v].addr_lo = snapshot_get_u32(&r);
        table[v].addr_hi = snapshot_get_u32(&r);
        table[v].data = snapshot_get_u32(&r);
        table[v].ctrl = snapshot_get_u32(&r) & PCI_MSIX_CTRL_MASKED;
    }
    for (uint16_t i = 0; i < (n + 63u) / 64u; i++)
        pba[i] = snapshot_get_u64(&r);
    if (!snapshot_reader_done(&r)) {
        free(table);
        return function_bad(errbuf, errlen, slot, "malformed MSI-X state");
    }
    memcpy(d->cfg, cfg, sizeof(cfg));
    update_bars(d);
    if (n) {
        PciMsix *m = &d->msix;
        pthread_mutex_lock(&m->lock);
        memcpy(m->table, table, n * sizeof(*table));
        memcpy(m->pba, pba, ((n + 63u) / 64u) * sizeof(uint64_t));
        uint16_t ctrl = get16(&d->cfg[m->cap + 2]);
        m->enabled = ctrl & PCI_MSIX_FLAGS_ENABLE;
        m->masked_all = ctrl & PCI_MSIX_FLAGS_MASKALL;
        for (uint16_t v = 0; v < n; v++)
            refresh_vector(m, v, false);
        pthread_mutex_unlock(&m->lock);
    }
    free(table);
    return 0;
}

int pci_bus_load(PciBus *bus, const SnapshotState *s, char *errbuf, size_t errlen)
{
    SnapshotReader r;
    if (!snapshot_reader_open(&r, s, SNAPSHOT_SEC_PCI_BUS, 0)) {
        snprintf(errbuf, errlen, "snapshot state is invalid: no PCI bus section");
        return -EINVAL;
    }
    uint32_t address = snapshot_get_u32(&r);
    if (!snapshot_reader_done(&r)) {
        snprintf(errbuf, errlen, "snapshot state is invalid: malformed PCI bus section");
        return -EINVAL;
    }
    pthread_mutex_lock(&bus->lock);
    bus->config_address = address;
    int ret = 0;
    for (uint32_t slot = 0; ret == 0 && slot < PCI_MAX_SLOTS; slot++) {
        if (bus->slots[slot])
            ret = function_load(bus->slots[slot], slot, s, errbuf, errlen);
        else if (snapshot_state_find(s, SNAPSHOT_SEC_PCI_FUNCTION, slot))
            ret = function_bad(errbuf, errlen, slot, "the snapshot has a function here, this VM none");
    }
    /* The BARs keep the addresses the snapshotted VM gave them, which after
     * a hotplug lie past this VM's allocator: a later hot-add starts above. */
    for (uint32_t slot = 1; ret == 0 && slot < PCI_MAX_SLOTS; slot++) {
        const PciDevice *d = bus->slots[slot];
        for (int i = 0; d && i < PCI_NUM_BARS; i++) {
            uint64_t size = d->bars[i].size, a = bar_address(d, i);
            if (size && a >= LAYOUT_PCI_MMIO_START &&
                a - LAYOUT_PCI_MMIO_START <= LAYOUT_PCI_MMIO_SIZE - size && a + size > bus->mmio_next)
                bus->mmio_next = a + size;
        }
    }
    pthread_mutex_unlock(&bus->lock);
    return ret;
}
