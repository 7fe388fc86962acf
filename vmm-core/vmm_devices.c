/* SPDX-License-Identifier: Apache-2.0 */
#include "vmm_devices.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "acpi_pm.h"
#include "balloon.h"
#include "blk.h"
#include "console.h"
#include "debug_console.h"
#include "guest_memory.h"
#include "i8042.h"
#include "net.h"
#include "layout.h"
#include "cpu_hotplug.h"
#include "mem_hotplug.h"
#include "pci_hotplug.h"
#include "post.h"
#include "pvpanic.h"
#include "rate_limiter.h"
#include "rng.h"
#include "rtc.h"
#include "serial.h"
#include "vsock.h"
#include "virtio_pci.h"

static int attach(Bus *pio, uint64_t port, uint64_t len, const BusDevice *dev, char *errbuf, size_t errlen)
{
    int r = bus_register(pio, port, len, dev);
    if (r < 0)
        snprintf(errbuf, errlen, "cannot place %s at port 0x%llx: %s", dev->name, (unsigned long long)port,
                 strerror(-r));
    return r;
}

static int created(void *dev, const char *what, char *errbuf, size_t errlen)
{
    if (dev)
        return 0;
    int r = errno ? -errno : -ENOMEM;
    snprintf(errbuf, errlen, "cannot set up %s: %s", what, strerror(-r));
    return r;
}

static void reset_port_write(void *ctx, uint8_t value)
{
    acpi_pm_reset_write(ctx, value);
}

static uint8_t reset_port_read(void *ctx)
{
    return acpi_pm_reset_read(ctx);
}

static void virtio_emit(void *ctx, const char *event, const char *id)
{
    VmmDevices *d = ctx;
    const char *props[] = {"id", id, NULL};
    if (d->events)
        event_monitor_emit(d->events, "virtio-device", event, props);
}

/* Cloud Hypervisor's default device names. */
static void default_id(char *buf, size_t len, const char *given, const char *prefix, size_t index)
{
    if (given)
        snprintf(buf, len, "%s", given);
    else
        snprintf(buf, len, "%s%zu", prefix, index);
}

/* Cloud Hypervisor's groups: one set of buckets for every disk naming it. */
static int create_rate_limit_groups(VmmDevices *d, const VmConfig *cfg, char *errbuf, size_t errlen)
{
    if (!cfg->n_rate_limit_groups)
        return 0;
    d->rate_limit_groups = calloc(cfg->n_rate_limit_groups, sizeof(*d->rate_limit_groups));
    if (!d->rate_limit_groups) {
        snprintf(errbuf, errlen, "out of memory");
        return -ENOMEM;
    }
    d->n_rate_limit_groups = cfg->n_rate_limit_groups;
    for (size_t i = 0; i < cfg->n_rate_limit_groups; i++) {
        const RateLimiterConfig *rl = &cfg->rate_limit_groups[i].rate_limiter_config;
        if (!rate_limiter_config_enabled(rl))
            continue;
        d->rate_limit_groups[i] = rate_limiter_new(rl);
        if (!d->rate_limit_groups[i]) {
            snprintf(errbuf, errlen, "out of memory");
            return -ENOMEM;
        }
    }
    return 0;
}

/* Validation made sure a named group exists. */
static RateLimiter *find_rate_limit_group(const VmmDevices *d, const VmConfig *cfg, const char *name)
{
    for (size_t i = 0; name && i < d->n_rate_limit_groups; i++)
        if (cfg->rate_limit_groups[i].id && strcmp(cfg->rate_limit_groups[i].id, name) == 0)
            return d->rate_limit_groups[i];
    return NULL;
}

static int create_pci(VmmDevices *d, const VmConfig *cfg, EventLoop *loop, Vm *vm, Bus *pio, Bus *mmio,
                      const GuestMemory *mem, const uint8_t *slot_plan, size_t n_slot_plan, char *errbuf,
                      size_t errlen)
{
    int r;
    d->pci = calloc(1, sizeof(*d->pci));
    d->irq = calloc(1, sizeof(*d->irq));
    if (!d->pci || !d->irq) {
        free(d->pci);
        free(d->irq);
        d->pci = NULL;
        d->irq = NULL;
        snprintf(errbuf, errlen, "out of memory");
        return -ENOMEM;
    }
    pci_bus_init(d->pci);
    d->pci->slot_plan = slot_plan;
    d->pci->n_slot_plan = n_slot_plan;
    kvm_irq_init(d->irq, vm);
    /* 0xcf9 is inside the CONFIG_ADDRESS dword: the bus hands it over. */
    d->pci->reset_write = reset_port_write;
    d->pci->reset_read = reset_port_read;
    d->pci->reset_ctx = d->acpi_pm;
    if ((r = pci_bus_attach(d->pci, pio, mmio)) < 0) {
        snprintf(errbuf, errlen, "cannot place the PCI host bridge: %s", strerror(-r));
        return r;
    }

    d->transport = (VirtioPciConfig){
        .mem = mem,
        .vm = vm,
        .irq = d->irq,
        .set_intx = vm_irq_line_cb,
        .intx_ctx = vm,
        .emit = virtio_emit,
        .emit_ctx = d,
    };
    const VirtioPciConfig tc = d->transport;
    char id[128];
    if ((r = create_rate_limit_groups(d, cfg, errbuf, errlen)) < 0)
        return r;
    if (cfg->n_disks) {
        d->disks = calloc(cfg->n_disks, sizeof(*d->disks));
        if (!d->disks) {
            snprintf(errbuf, errlen, "out of memory");
            return -ENOMEM;
        }
    }
    for (size_t i = 0; i < cfg->n_disks; i++) {
        default_id(id, sizeof(id), cfg->disks[i].id, "_disk", i);
        d->disks[i] = virtio_blk_new(&cfg->disks[i], id, &tc, errbuf, errlen);
        if (!d->disks[i])
            return -EINVAL;
        d->n_disks = i + 1;
        RateLimiter *group = find_rate_limit_group(d, cfg, cfg->disks[i].rate_limit_group);
        if (group && (r = virtio_blk_set_rate_limiter(d->disks[i], group, errbuf, errlen)) < 0)
            return r;
        if ((r = virtio_blk_attach(d->disks[i], d->pci, errbuf, errlen)) < 0)
            return r;
    }
    if (cfg->rng.src) {
        d->rng = virtio_rng_new(&cfg->rng, "_rng", &tc, errbuf, errlen);
        if (!d->rng)
            return -EINVAL;
        if ((r = virtio_rng_attach(d->rng, d->pci, errbuf, errlen)) < 0)
            return r;
    }
    if (cfg->console.mode != CONSOLE_MODE_OFF) {
        d->console = virtio_console_new(&cfg->console, "_console", loop, &tc, errbuf, errlen);
        if (!d->console)
            return -EINVAL;
        if ((r = virtio_console_attach(d->console, d->pci, errbuf, errlen)) < 0)
            return r;
    }
    if (cfg->n_net) {
        d->nets = calloc(cfg->n_net, sizeof(*d->nets));
        if (!d->nets) {
            snprintf(errbuf, errlen, "out of memory");
            return -ENOMEM;
        }
    }
    for (size_t i = 0; i < cfg->n_net; i++) {
        default_id(id, sizeof(id), cfg->net[i].id, "_net", i);
        d->nets[i] = virtio_net_new(&cfg->net[i], id, &tc, NULL, errbuf, errlen);
        if (!d->nets[i])
            return -EINVAL;
        d->n_nets = i + 1;
        if ((r = virtio_net_attach(d->nets[i], d->pci, errbuf, errlen)) < 0)
            return r;
    }
    if (cfg->has_vsock) {
        const char *vsock_id = cfg->vsock.id ? cfg->vsock.id : "_vsock";
        d->vsock = virtio_vsock_new(&cfg->vsock, vsock_id, &tc, errbuf, errlen);
        if (!d->vsock)
            return -EINVAL;
        if ((r = virtio_vsock_attach(d->vsock, d->pci, errbuf, errlen)) < 0)
            return r;
    }
    if (cfg->has_balloon) {
        d->balloon = virtio_balloon_new(&cfg->balloon, "_balloon", mem, &tc, errbuf, errlen);
        if (!d->balloon)
            return -EINVAL;
        if ((r = virtio_balloon_attach(d->balloon, d->pci, errbuf, errlen)) < 0)
            return r;
    }
    /* Hot-adds from now on take the first free slot. */
    size_t planned = d->pci->next_planned;
    d->pci->slot_plan = NULL;
    d->pci->n_slot_plan = d->pci->next_planned = 0;
    if (planned != n_slot_plan) {
        snprintf(errbuf, errlen, "the snapshot places %zu PCI functions, the configuration has %zu", n_slot_plan,
                 planned);
        return -EINVAL;
    }
    return 0;
}

int vmm_devices_create(VmmDevices *d, const VmConfig *cfg, EventLoop *loop, Vm *vm, VmControl control, Bus *pio,
                       Bus *mmio, const GuestMemory *mem, EventMonitor *events, const uint8_t *slot_plan,
                       size_t n_slot_plan, char *errbuf, size_t errlen)
{
    int r;
    memset(d, 0, sizeof(*d));
    d->irq_com1 = (IrqLine){.set_level = vm_irq_line_cb, .ctx = vm, .gsi = IRQ_COM1};
    d->irq_sci = (IrqLine){.set_level = vm_irq_line_cb, .ctx = vm, .gsi = IRQ_ACPI_SCI};
    d->irq_ged = (IrqLine){.set_level = vm_irq_line_cb, .ctx = vm, .gsi = PCI_HOTPLUG_GSI};
    d->events = events;

    if (serial_config_enabled(&cfg->serial)) {
        errno = 0;
        d->serial = serial_new(&cfg->serial, &d->irq_com1, loop);
        if ((r = created(d->serial, "--serial", errbuf, errlen)) < 0 ||
            (r = attach(pio, PORT_COM1, SERIAL_PIO_LEN, serial_bus_device(d->serial), errbuf, errlen)) < 0)
            goto fail;
    }

    errno = 0;
    d->i8042 = i8042_new(&control);
    if ((r = created(d->i8042, "the i8042 controller", errbuf, errlen)) < 0 ||
        (r = attach(pio, PORT_I8042_DATA, I8042_PIO_LEN, i8042_bus_device(d->i8042), errbuf, errlen)) < 0)
        goto fail;

    /* CMOS reports the RAM sizes the way a BIOS would. */
    uint64_t below = cfg->memory.size < LAYOUT_MEM_32BIT_GAP_START ? cfg->memory.size : LAYOUT_MEM_32BIT_GAP_START;
    errno = 0;
    d->rtc = rtc_new(below, cfg->memory.size - below);
    if ((r = created(d->rtc, "the CMOS RTC", errbuf, errlen)) < 0 ||
        (r = attach(pio, PORT_RTC, 2, rtc_bus_device(d->rtc), errbuf, errlen)) < 0)
        goto fail;

    errno = 0;
    d->acpi_pm = acpi_pm_new(&d->irq_sci, &control);
    if ((r = created(d->acpi_pm, "the ACPI PM block", errbuf, errlen)) < 0 ||
        (r = attach(pio, PORT_ACPI_PM1A_EVT, 4, acpi_pm_evt_bus_device(d->acpi_pm), errbuf, errlen)) < 0 ||
        (r = attach(pio, PORT_ACPI_PM1A_CNT, 2, acpi_pm_cnt_bus_device(d->acpi_pm), errbuf, errlen)) < 0)
        goto fail;
    /* The reset register at 0xcf9 is reached through the PCI bus's 0xcf8 range. */
    if ((r = create_pci(d, cfg, loop, vm, pio, mmio, mem, slot_plan, n_slot_plan, errbuf, errlen)) < 0)
        goto fail;

    errno = 0;
    d->hotplug = pci_hotplug_new(&d->irq_ged);
    if ((r = created(d->hotplug, "the PCI hotplug controller", errbuf, errlen)) < 0 ||
        (r = attach(pio, PORT_PCI_HOTPLUG, PCI_HOTPLUG_PIO_LEN, pci_hotplug_bus_device(d->hotplug), errbuf,
                    errlen)) < 0)
        goto fail;
    vmm_devices_mark_removable(d);

    /* Always there, whether or not the DSDT describes processors: a guest
     * restored from a snapshot keeps the tables it booted with. */
    errno = 0;
    d->cpu_hotplug = cpu_hotplug_new(&d->irq_ged, cfg->cpus.boot_vcpus);
    if ((r = created(d->cpu_hotplug, "the CPU hotplug controller", errbuf, errlen)) < 0 ||
        (r = attach(pio, PORT_CPU_HOTPLUG, CPU_HOTPLUG_PIO_LEN, cpu_hotplug_bus_device(d->cpu_hotplug), errbuf,
                    errlen)) < 0)
        goto fail;

    const GuestRegion *hp = guest_memory_hotplug_region(mem);
    if (hp) {
        _Static_assert(GUEST_MEMORY_HOTPLUG_SLOTS <= MEM_HOTPLUG_SLOTS, "a bit for every memory slot");
        errno = 0;
        d->mem_hotplug = mem_hotplug_new(&d->irq_ged, (uint32_t)(hp->size / GUEST_MEMORY_HOTPLUG_SLOT));
        if ((r = created(d->mem_hotplug, "the memory hotplug controller", errbuf, errlen)) < 0 ||
            (r = attach(pio, PORT_MEM_HOTPLUG, MEM_HOTPLUG_PIO_LEN, mem_hotplug_bus_device(d->mem_hotplug),
                        errbuf, errlen)) < 0)
            goto fail;
    }

    errno = 0;
    d->post = post_new();
    if ((r = created(d->post, "the POST port", errbuf, errlen)) < 0 ||
        (r = attach(pio, PORT_POST, 1, post_bus_device(d->post), errbuf, errlen)) < 0)
        goto fail;

    if (cfg->pvpanic) {
        errno = 0;
        d->pvpanic = pvpanic_new(&control);
        if ((r = created(d->pvpanic, "--pvpanic", errbuf, errlen)) < 0 ||
            (r = attach(pio, PORT_PVPANIC, 1, pvpanic_bus_device(d->pvpanic), errbuf, errlen)) < 0)
            goto fail;
    }

    if (debug_console_config_enabled(&cfg->debug_console)) {
        errno = 0;
        d->debug_console = debug_console_new(&cfg->debug_console, loop);
        if ((r = created(d->debug_console, "--debug-console", errbuf, errlen)) < 0 ||
            (r = attach(pio, debug_console_iobase(d->debug_console), 1, debug_console_bus_device(d->debug_console),
                        errbuf, errlen)) < 0)
            goto fail;
    }
    return 0;

fail:
    vmm_devices_destroy(d);
    return r;
}

int vmm_devices_vm_created(VmmDevices *d, char *errbuf, size_t errlen)
{
    int r = kvm_irq_commit(d->irq);
    if (r < 0)
        snprintf(errbuf, errlen, "KVM: KVM_SET_GSI_ROUTING failed: %s", strerror(-r));
    return r;
}

void vmm_devices_destroy(VmmDevices *d)
{
    /* Workers stop before anything they might touch goes away. */
    for (size_t i = 0; i < d->n_disks; i++)
        virtio_blk_free(d->disks[i]);
    free(d->disks);
    for (size_t i = 0; i < d->n_rate_limit_groups; i++)
        rate_limiter_unref(d->rate_limit_groups[i]);
    free(d->rate_limit_groups);
    if (d->rng)
        virtio_rng_free(d->rng);
    if (d->console)
        virtio_console_free(d->console);
    for (size_t i = 0; i < d->n_nets; i++)
        virtio_net_free(d->nets[i]);
    free(d->nets);
    if (d->vsock)
        virtio_vsock_free(d->vsock);
    if (d->balloon)
        virtio_balloon_free(d->balloon);
    pci_hotplug_free(d->hotplug);
    cpu_hotplug_free(d->cpu_hotplug);
    mem_hotplug_free(d->mem_hotplug);
    if (d->pci)
        pci_bus_destroy(d->pci);
    free(d->pci);
    if (d->irq)
        kvm_irq_destroy(d->irq);
    free(d->irq);
    if (d->serial)
        serial_free(d->serial);
    if (d->i8042)
        i8042_free(d->i8042);
    if (d->rtc)
        rtc_free(d->rtc);
    if (d->acpi_pm)
        acpi_pm_free(d->acpi_pm);
    if (d->post)
        post_free(d->post);
    if (d->pvpanic)
        pvpanic_free(d->pvpanic);
    if (d->debug_console)
        debug_console_free(d->debug_console);
    memset(d, 0, sizeof(*d));
}

void vmm_devices_reset(VmmDevices *d, uint32_t n_vcpus)
{
    if (d->serial)
        serial_reset(d->serial);
    if (d->i8042)
        i8042_reset(d->i8042);
    if (d->rtc)
        rtc_reset(d->rtc);
    if (d->acpi_pm)
        acpi_pm_reset(d->acpi_pm);
    /* The old VM took its irqfds, ioeventfds and routes with it. */
    for (size_t i = 0; i < d->n_disks; i++)
        virtio_pci_reboot(virtio_blk_transport(d->disks[i]));
    if (d->rng)
        virtio_pci_reboot(virtio_rng_transport(d->rng));
    if (d->console)
        virtio_pci_reboot(virtio_console_transport(d->console));
    for (size_t i = 0; i < d->n_nets; i++)
        virtio_pci_reboot(virtio_net_transport(d->nets[i]));
    if (d->vsock)
        virtio_pci_reboot(virtio_vsock_transport(d->vsock));
    if (d->balloon)
        virtio_pci_reboot(virtio_balloon_transport(d->balloon));
    if (d->hotplug)
        pci_hotplug_reset(d->hotplug);
    if (d->cpu_hotplug)
        cpu_hotplug_reset(d->cpu_hotplug, n_vcpus);
    if (d->mem_hotplug)
        mem_hotplug_reset(d->mem_hotplug);
    if (d->pci)
        pci_bus_reset(d->pci);
    if (d->irq)
        kvm_irq_reset(d->irq);
}

void vmm_devices_power_button(VmmDevices *d)
{
    if (d->acpi_pm)
        acpi_pm_power_button(d->acpi_pm);
}

const char *vmm_devices_serial_pty(const VmmDevices *d)
{
    return d->serial ? serial_pty_path(d->serial) : NULL;
}

const char *vmm_devices_console_pty(const VmmDevices *d)
{
    return d->console ? virtio_console_pty_path(d->console) : NULL;
}

static void add_u64(json_object *o, const char *key, uint64_t v)
{
    json_object_object_add(o, key, json_object_new_uint64(v));
}

static void add_virtio_counters(json_object *o, VirtioPci *t)
{
    VirtioCounters c;
    virtio_pci_get_counters(t, &c);
    add_u64(o, "notifications", c.notifications);
    add_u64(o, "interrupts", c.interrupts);
    add_u64(o, "requests", c.chains);
    add_u64(o, "chain_errors", c.chain_errors);
    add_u64(o, "needs_reset", c.needs_reset);
    add_u64(o, "resets", c.resets);
    add_u64(o, "activations", c.activations);
    add_u64(o, "feature_refusals", c.feature_refusals);
    add_u64(o, "bad_accesses", c.bad_accesses);
}

static void add_pci_counters(const VmmDevices *d, json_object *counters)
{
    for (size_t i = 0; i < d->n_disks; i++) {
        VirtioBlkCounters c;
        virtio_blk_get_counters(d->disks[i], &c);
        json_object *o = json_object_new_object();
        add_virtio_counters(o, virtio_blk_transport(d->disks[i]));
        add_u64(o, "read_ops", c.read_ops);
        add_u64(o, "read_bytes", c.read_bytes);
        add_u64(o, "write_ops", c.write_ops);
        add_u64(o, "write_bytes", c.write_bytes);
        add_u64(o, "flush_ops", c.flush_ops);
        add_u64(o, "get_id_ops", c.get_id_ops);
        add_u64(o, "discard_ops", c.discard_ops);
        add_u64(o, "write_zeroes_ops", c.write_zeroes_ops);
        add_u64(o, "request_errors", c.request_errors);
        add_u64(o, "io_errors", c.io_errors);
        add_u64(o, "unsupported", c.unsupported);
        add_u64(o, "throttled", c.throttled);
        json_object_object_add(counters, virtio_pci_id(virtio_blk_transport(d->disks[i])), o);
    }
    if (d->rng) {
        VirtioRngCounters c;
        virtio_rng_get_counters(d->rng, &c);
        json_object *o = json_object_new_object();
        add_virtio_counters(o, virtio_rng_transport(d->rng));
        add_u64(o, "read_ops", c.requests);
        add_u64(o, "read_bytes", c.bytes);
        add_u64(o, "request_errors", c.request_errors);
        json_object_object_add(counters, "_rng", o);
    }
    if (d->console) {
        VirtioConsoleCounters c;
        virtio_console_get_counters(d->console, &c);
        json_object *o = json_object_new_object();
        add_virtio_counters(o, virtio_console_transport(d->console));
        add_u64(o, "tx_ops", c.tx_ops);
        add_u64(o, "tx_bytes", c.tx_bytes);
        add_u64(o, "tx_dropped", c.tx_dropped);
        add_u64(o, "rx_ops", c.rx_ops);
        add_u64(o, "rx_bytes", c.rx_bytes);
        add_u64(o, "request_errors", c.request_errors);
        json_object_object_add(counters, "_console", o);
    }
    for (size_t i = 0; i < d->n_nets; i++) {
        VirtioNetCounters c;
        virtio_net_get_counters(d->nets[i], &c);
        json_object *o = json_object_new_object();
        add_virtio_counters(o, virtio_net_transport(d->nets[i]));
        add_u64(o, "rx_packets", c.rx_packets);
        add_u64(o, "rx_bytes", c.rx_bytes);
        add_u64(o, "rx_dropped", c.rx_dropped);
        add_u64(o, "tx_packets", c.tx_packets);
        add_u64(o, "tx_bytes", c.tx_bytes);
        add_u64(o, "tx_errors", c.tx_errors);
        add_u64(o, "ctrl_ops", c.ctrl_ops);
        add_u64(o, "request_errors", c.request_errors);
        add_u64(o, "rx_throttled", c.rx_throttled);
        add_u64(o, "tx_throttled", c.tx_throttled);
        json_object_object_add(counters, virtio_pci_id(virtio_net_transport(d->nets[i])), o);
    }
    if (d->vsock) {
        VirtioVsockCounters c;
        virtio_vsock_get_counters(d->vsock, &c);
        json_object *o = json_object_new_object();
        add_virtio_counters(o, virtio_vsock_transport(d->vsock));
        add_u64(o, "conns_from_host", c.conns_from_host);
        add_u64(o, "conns_from_guest", c.conns_from_guest);
        add_u64(o, "conns_refused", c.conns_refused);
        add_u64(o, "rx_packets", c.rx_packets);
        add_u64(o, "rx_bytes", c.rx_bytes);
        add_u64(o, "tx_packets", c.tx_packets);
        add_u64(o, "tx_bytes", c.tx_bytes);
        add_u64(o, "rst_sent", c.rst_sent);
        add_u64(o, "pending_dropped", c.pending_dropped);
        add_u64(o, "request_errors", c.request_errors);
        add_u64(o, "transport_resets", c.transport_resets);
        json_object_object_add(counters, virtio_pci_id(virtio_vsock_transport(d->vsock)), o);
    }
    if (d->balloon) {
        VirtioBalloonCounters c;
        virtio_balloon_get_counters(d->balloon, &c);
        json_object *o = json_object_new_object();
        add_virtio_counters(o, virtio_balloon_transport(d->balloon));
        add_u64(o, "inflated_pages", c.inflated_pages);
        add_u64(o, "deflated_pages", c.deflated_pages);
        add_u64(o, "reported_bytes", c.reported_bytes);
        add_u64(o, "discard_errors", c.discard_errors);
        add_u64(o, "request_errors", c.request_errors);
        add_u64(o, "target_pages", c.target_pages);
        add_u64(o, "actual_pages", c.actual_pages);
        json_object_object_add(counters, "_balloon", o);
    }
    if (d->hotplug) {
        PciHotplugCounters c;
        pci_hotplug_get_counters(d->hotplug, &c);
        json_object *o = json_object_new_object();
        add_u64(o, "plugs", c.plugs);
        add_u64(o, "unplug_requests", c.unplug_requests);
        add_u64(o, "ejects", c.ejects);
        add_u64(o, "bad_accesses", c.bad_accesses);
        json_object_object_add(counters, "pci_hotplug", o);
    }
    if (d->cpu_hotplug) {
        CpuHotplugCounters c;
        cpu_hotplug_get_counters(d->cpu_hotplug, &c);
        json_object *o = json_object_new_object();
        add_u64(o, "plugs", c.plugs);
        add_u64(o, "unplug_requests", c.unplug_requests);
        add_u64(o, "ejects", c.ejects);
        add_u64(o, "bad_accesses", c.bad_accesses);
        json_object_object_add(counters, "cpu_hotplug", o);
    }
    if (d->mem_hotplug) {
        MemHotplugCounters c;
        mem_hotplug_get_counters(d->mem_hotplug, &c);
        json_object *o = json_object_new_object();
        add_u64(o, "plugs", c.plugs);
        add_u64(o, "bad_accesses", c.bad_accesses);
        json_object_object_add(counters, "mem_hotplug", o);
    }
    if (d->pci) {
        json_object *o = json_object_new_object();
        add_u64(o, "config_reads", d->pci->counters.config_reads);
        add_u64(o, "config_writes", d->pci->counters.config_writes);
        add_u64(o, "config_unclaimed", d->pci->counters.config_unclaimed);
        add_u64(o, "bar_unclaimed", d->pci->counters.bar_unclaimed);
        json_object_object_add(counters, "pci", o);
    }
}

void vmm_devices_add_counters(const VmmDevices *d, json_object *counters)
{
    add_pci_counters(d, counters);
    if (d->serial) {
        SerialCounters c;
        serial_get_counters(d->serial, &c);
        json_object *o = json_object_new_object();
        add_u64(o, "tx_bytes", c.tx_bytes);
        add_u64(o, "tx_dropped", c.tx_dropped);
        add_u64(o, "rx_bytes", c.rx_bytes);
        add_u64(o, "rx_overruns", c.rx_overruns);
        json_object_object_add(counters, "serial", o);
    }
    if (d->acpi_pm) {
        AcpiPmCounters c;
        acpi_pm_get_counters(d->acpi_pm, &c);
        json_object *o = json_object_new_object();
        add_u64(o, "power_button_presses", c.power_button_presses);
        add_u64(o, "sleep_requests", c.sleep_requests);
        add_u64(o, "resets", c.resets);
        json_object_object_add(counters, "acpi_pm", o);
    }
    if (d->post) {
        PostCounters c;
        post_get_counters(d->post, &c);
        json_object *o = json_object_new_object();
        add_u64(o, "writes", c.writes);
        add_u64(o, "last_code", c.last_code);
        json_object_object_add(counters, "post", o);
    }
    if (d->pvpanic) {
        PvpanicCounters c;
        pvpanic_get_counters(d->pvpanic, &c);
        json_object *o = json_object_new_object();
        add_u64(o, "panics", c.panics);
        add_u64(o, "crash_loaded", c.crash_loaded);
        json_object_object_add(counters, "pvpanic", o);
    }
    if (d->debug_console) {
        DebugConsoleCounters c;
        debug_console_get_counters(d->debug_console, &c);
        json_object *o = json_object_new_object();
        add_u64(o, "out_bytes", c.out_bytes);
        add_u64(o, "out_dropped", c.out_dropped);
        json_object_object_add(counters, "debug_console", o);
    }
}
