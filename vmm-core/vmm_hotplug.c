/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Hot-added and hot-removed virtio functions (vm.add-disk, vm.add-net,
 * vm.add-vsock, vm.remove-device): created as at boot, put in a free slot of
 * bus 0 and announced through the ACPI hotplug controller; removed once the
 * guest ejected the slot. The device arrays keep the configuration's order
 * (a new function is appended, a removed one taken out in place), which is
 * what vm.info, the counters and snapshots pair them by.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blk.h"
#include "net.h"
#include "pci_hotplug.h"
#include "rate_limiter.h"
#include "virtio_pci.h"
#include "vmm_devices.h"
#include "vsock.h"

static int no_hotplug(const VmmDevices *d, char *errbuf, size_t errlen)
{
    if (d->pci && d->hotplug)
        return 0;
    snprintf(errbuf, errlen, "this VM has no PCI hotplug controller");
    return -EOPNOTSUPP;
}

/* The function is on the bus and its worker runs: tell the guest. */
static int plugged(VmmDevices *d, VirtioPci *t)
{
    unsigned slot = virtio_pci_slot(t);
    pci_hotplug_plug(d->hotplug, slot);
    return (int)slot;
}

/* attach failed after the function may have got a slot. */
static void unplug_failed(VirtioPci *t)
{
    virtio_pci_detach(t);
}

static RateLimiter *group_named(const VmmDevices *d, const VmConfig *cfg, const char *name)
{
    for (size_t i = 0; name && i < d->n_rate_limit_groups && i < cfg->n_rate_limit_groups; i++)
        if (cfg->rate_limit_groups[i].id && strcmp(cfg->rate_limit_groups[i].id, name) == 0)
            return d->rate_limit_groups[i];
    return NULL;
}

int vmm_devices_add_disk(VmmDevices *d, const VmConfig *cfg, const DiskConfig *disk, const char *id,
                         char *errbuf, size_t errlen)
{
    int r = no_hotplug(d, errbuf, errlen);
    if (r < 0)
        return r;
    VirtioBlk **grown = realloc(d->disks, (d->n_disks + 1) * sizeof(*grown));
    if (!grown) {
        snprintf(errbuf, errlen, "out of memory");
        return -ENOMEM;
    }
    d->disks = grown;
    VirtioBlk *b = virtio_blk_new(disk, id, &d->transport, errbuf, errlen);
    if (!b)
        return -EINVAL;
    RateLimiter *group = group_named(d, cfg, disk->rate_limit_group);
    if ((group && (r = virtio_blk_set_rate_limiter(b, group, errbuf, errlen)) < 0) ||
        (r = virtio_blk_attach(b, d->pci, errbuf, errlen)) < 0) {
        unplug_failed(virtio_blk_transport(b));
        virtio_blk_free(b);
        return r;
    }
    d->disks[d->n_disks++] = b;
    return plugged(d, virtio_blk_transport(b));
}

int vmm_devices_add_net(VmmDevices *d, const NetConfig *net, const char *id, char *errbuf, size_t errlen)
{
    int r = no_hotplug(d, errbuf, errlen);
    if (r < 0)
        return r;
    VirtioNet **grown = realloc(d->nets, (d->n_nets + 1) * sizeof(*grown));
    if (!grown) {
        snprintf(errbuf, errlen, "out of memory");
        return -ENOMEM;
    }
    d->nets = grown;
    VirtioNet *n = virtio_net_new(net, id, &d->transport, NULL, errbuf, errlen);
    if (!n)
        return -EINVAL;
    if ((r = virtio_net_attach(n, d->pci, errbuf, errlen)) < 0) {
        unplug_failed(virtio_net_transport(n));
        virtio_net_free(n);
        return r;
    }
    d->nets[d->n_nets++] = n;
    return plugged(d, virtio_net_transport(n));
}

int vmm_devices_add_vsock(VmmDevices *d, const VsockConfig *vsock, const char *id, char *errbuf,
                          size_t errlen)
{
    int r = no_hotplug(d, errbuf, errlen);
    if (r < 0)
        return r;
    if (d->vsock) {
        snprintf(errbuf, errlen, "the VM has a vsock device already (%s)",
                 virtio_pci_id(virtio_vsock_transport(d->vsock)));
        return -EBUSY;
    }
    VirtioVsock *v = virtio_vsock_new(vsock, id, &d->transport, errbuf, errlen);
    if (!v)
        return -EINVAL;
    if ((r = virtio_vsock_attach(v, d->pci, errbuf, errlen)) < 0) {
        unplug_failed(virtio_vsock_transport(v));
        virtio_vsock_free(v);
        return r;
    }
    d->vsock = v;
    return plugged(d, virtio_vsock_transport(v));
}

/* Every removable function's transport, in one walk. */
typedef bool (*TransportVisit)(VirtioPci *t, void *ctx);

static void each_removable(const VmmDevices *d, TransportVisit visit, void *ctx)
{
    for (size_t i = 0; i < d->n_disks; i++)
        if (visit(virtio_blk_transport(d->disks[i]), ctx))
            return;
    for (size_t i = 0; i < d->n_nets; i++)
        if (visit(virtio_net_transport(d->nets[i]), ctx))
            return;
    if (d->vsock)
        visit(virtio_vsock_transport(d->vsock), ctx);
}

static bool mark(VirtioPci *t, void *ctx)
{
    pci_hotplug_set_present(ctx, virtio_pci_slot(t));
    return false;
}

void vmm_devices_mark_removable(VmmDevices *d)
{
    if (d->hotplug)
        each_removable(d, mark, d->hotplug);
}

typedef struct Lookup {
    const char *id;
    unsigned slot;
    VirtioPci *found;
} Lookup;

static bool by_id(VirtioPci *t, void *ctx)
{
    Lookup *l = ctx;
    if (strcmp(virtio_pci_id(t), l->id) != 0)
        return false;
    l->found = t;
    return true;
}

static bool by_slot(VirtioPci *t, void *ctx)
{
    Lookup *l = ctx;
    if (virtio_pci_slot(t) != l->slot)
        return false;
    l->found = t;
    return true;
}

int vmm_devices_find(const VmmDevices *d, const char *id)
{
    Lookup l = {.id = id};
    each_removable(d, by_id, &l);
    return l.found ? (int)virtio_pci_slot(l.found) : -ENOENT;
}

const char *vmm_devices_id_at(const VmmDevices *d, unsigned slot)
{
    Lookup l = {.slot = slot};
    each_removable(d, by_slot, &l);
    return l.found ? virtio_pci_id(l.found) : NULL;
}

void vmm_devices_remove_slot(VmmDevices *d, unsigned slot)
{
    for (size_t i = 0; i < d->n_disks; i++) {
        if (virtio_pci_slot(virtio_blk_transport(d->disks[i])) != slot)
            continue;
        virtio_pci_detach(virtio_blk_transport(d->disks[i]));
        virtio_blk_free(d->disks[i]);
        memmove(&d->disks[i], &d->disks[i + 1], (d->n_disks - i - 1) * sizeof(*d->disks));
        d->n_disks--;
        return;
    }
    for (size_t i = 0; i < d->n_nets; i++) {
        if (virtio_pci_slot(virtio_net_transport(d->nets[i])) != slot)
            continue;
        virtio_pci_detach(virtio_net_transport(d->nets[i]));
        virtio_net_free(d->nets[i]);
        memmove(&d->nets[i], &d->nets[i + 1], (d->n_nets - i - 1) * sizeof(*d->nets));
        d->n_nets--;
        return;
    }
    if (d->vsock && virtio_pci_slot(virtio_vsock_transport(d->vsock)) == slot) {
        virtio_pci_detach(virtio_vsock_transport(d->vsock));
        virtio_vsock_free(d->vsock);
        d->vsock = NULL;
    }
}
