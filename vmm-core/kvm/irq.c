/* SPDX-License-Identifier: Apache-2.0 */
#include "irq.h"

#include <errno.h>
#include <linux/kvm.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

void kvm_irq_init(KvmIrq *k, Vm *vm)
{
    memset(k, 0, sizeof(*k));
    k->vm = vm;
    pthread_mutex_init(&k->lock, NULL);
}

void kvm_irq_destroy(KvmIrq *k)
{
    pthread_mutex_destroy(&k->lock);
}

void kvm_irq_reset(KvmIrq *k)
{
    pthread_mutex_lock(&k->lock);
    for (uint32_t i = 0; i < k->n_gsis; i++)
        k->routes[i].valid = false;
    pthread_mutex_unlock(&k->lock);
}

int kvm_irq_msi_vector_init(KvmIrq *k, KvmMsiVector *v)
{
    v->efd = -1;
    v->irqfd_bound = false;
    pthread_mutex_lock(&k->lock);
    if (k->n_gsis >= KVM_IRQ_MAX_MSI) {
        pthread_mutex_unlock(&k->lock);
        return -ENOSPC;
    }
    v->gsi = KVM_IRQ_MSI_GSI_BASE + k->n_gsis++;
    pthread_mutex_unlock(&k->lock);
    v->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    return v->efd < 0 ? -errno : 0;
}

void kvm_irq_msi_vector_destroy(KvmIrq *k, KvmMsiVector *v)
{
    (void)k;
    if (v->efd >= 0)
        close(v->efd);
    v->efd = -1;
}

/* Called with k->lock held. */
static int commit_locked(KvmIrq *k)
{
    int vm_fd = k->vm ? k->vm->vm_fd : -1;
    if (vm_fd < 0)
        return -EBADF;
    size_t n = 0, cap = 16 + KVM_IRQ_IOAPIC_PINS + k->n_gsis;
    struct kvm_irq_routing *t = calloc(1, sizeof(*t) + cap * sizeof(t->entries[0]));
    if (!t)
        return -ENOMEM;
    /* What KVM_CREATE_IRQCHIP installs by default: GSI 0-15 on the PICs
     * (master 0-7, slave 8-15) and 0-23 on the IOAPIC. */
    for (uint32_t gsi = 0; gsi < 16; gsi++)
        t->entries[n++] = (struct kvm_irq_routing_entry){
            .gsi = gsi,
            .type = KVM_IRQ_ROUTING_IRQCHIP,
            .u.irqchip = {.irqchip = gsi < 8 ? KVM_IRQCHIP_PIC_MASTER : KVM_IRQCHIP_PIC_SLAVE,
                          .pin = gsi % 8},
        };
    /* The in-kernel PIT raises GSI 0, and the MADT tells the guest (as on
     * PC hardware) that IRQ 0 arrives on IOAPIC pin 2: wire it there, or
     * Linux finds no timer interrupt and cannot calibrate its clocks. */
    for (uint32_t gsi = 0; gsi < KVM_IRQ_IOAPIC_PINS; gsi++)
        t->entries[n++] = (struct kvm_irq_routing_entry){
            .gsi = gsi,
            .type = KVM_IRQ_ROUTING_IRQCHIP,
            .u.irqchip = {.irqchip = KVM_IRQCHIP_IOAPIC, .pin = gsi == 0 ? 2 : gsi},
        };
    for (uint32_t i = 0; i < k->n_gsis; i++) {
        if (!k->routes[i].valid)
            continue;
        t->entries[n++] = (struct kvm_irq_routing_entry){
            .gsi = KVM_IRQ_MSI_GSI_BASE + i,
            .type = KVM_IRQ_ROUTING_MSI,
            .u.msi = {.address_lo = (uint32_t)k->routes[i].addr,
                      .address_hi = (uint32_t)(k->routes[i].addr >> 32),
                      .data = k->routes[i].data},
        };
    }
    t->nr = (uint32_t)n;
    int r = ioctl(vm_fd, KVM_SET_GSI_ROUTING, t) < 0 ? -errno : 0;
    free(t);
    k->commits++;
    if (r < 0)
        k->commit_errors++;
    return r;
}

int kvm_irq_commit(KvmIrq *k)
{
    pthread_mutex_lock(&k->lock);
    int r = commit_locked(k);
    pthread_mutex_unlock(&k->lock);
    return r;
}

static int irqfd(int vm_fd, const KvmMsiVector *v, bool deassign)
{
    struct kvm_irqfd req = {
        .fd = (uint32_t)v->efd, .gsi = v->gsi, .flags = deassign ? KVM_IRQFD_FLAG_DEASSIGN : 0};
    return ioctl(vm_fd, KVM_IRQFD, &req) < 0 ? -errno : 0;
}

int kvm_irq_msi_vector_route(KvmIrq *k, KvmMsiVector *v, uint64_t addr, uint32_t data)
{
    if (v->efd < 0 || v->gsi < KVM_IRQ_MSI_GSI_BASE)
        return -EINVAL;
    uint32_t i = v->gsi - KVM_IRQ_MSI_GSI_BASE;
    pthread_mutex_lock(&k->lock);
    KvmMsiRoute *rt = &k->routes[i];
    bool same = rt->valid && rt->addr == addr && rt->data == data;
    int r = 0;
    if (!same) {
        *rt = (KvmMsiRoute){.addr = addr, .data = data, .valid = true};
        r = commit_locked(k);
    }
    /* The binding is per VM: after a reboot the route was reset, so a stale
     * irqfd_bound is caught by !same above only if the caller forgot to
     * clear it; kvm_irq_reset callers clear it through the device reset. */
    if (r == 0 && !v->irqfd_bound) {
        int vm_fd = k->vm ? k->vm->vm_fd : -1;
        r = vm_fd < 0 ? -EBADF : irqfd(vm_fd, v, false);
        if (r == 0 || r == -EEXIST) {
            v->irqfd_bound = true;
            r = 0;
        }
    }
    pthread_mutex_unlock(&k->lock);
    return r;
}

void kvm_irq_msi_vector_unroute(KvmIrq *k, KvmMsiVector *v)
{
    if (v->efd < 0 || v->gsi < KVM_IRQ_MSI_GSI_BASE)
        return;
    pthread_mutex_lock(&k->lock);
    int vm_fd = k->vm ? k->vm->vm_fd : -1;
    if (v->irqfd_bound && vm_fd >= 0)
        irqfd(vm_fd, v, true);
    v->irqfd_bound = false;
    KvmMsiRoute *rt = &k->routes[v->gsi - KVM_IRQ_MSI_GSI_BASE];
    if (rt->valid) {
        rt->valid = false;
        commit_locked(k);
    }
    pthread_mutex_unlock(&k->lock);
}

void kvm_irq_msi_vector_signal(const KvmMsiVector *v)
{
    uint64_t one = 1;
    if (v->efd >= 0 && write(v->efd, &one, sizeof(one)) < 0) {
        /* EAGAIN: the counter is saturated, an interrupt is pending anyway. */
    }
}

static int ioeventfd(Vm *vm, uint64_t addr, uint32_t len, int efd, bool deassign)
{
    if (!vm || vm->vm_fd < 0)
        return -EBADF;
    struct kvm_ioeventfd req = {
        .addr = addr,
        .len = len,
        .fd = efd,
        .flags = deassign ? KVM_IOEVENTFD_FLAG_DEASSIGN : 0,
    };
    return ioctl(vm->vm_fd, KVM_IOEVENTFD, &req) < 0 ? -errno : 0;
}

int kvm_ioeventfd_assign(Vm *vm, uint64_t addr, uint32_t len, int efd)
{
    return ioeventfd(vm, addr, len, efd, false);
}

int kvm_ioeventfd_deassign(Vm *vm, uint64_t addr, uint32_t len, int efd)
{
    return ioeventfd(vm, addr, len, efd, true);
}
