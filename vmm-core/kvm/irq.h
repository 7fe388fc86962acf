/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Interrupt plumbing for devices that live off the vCPU threads: the GSI
 * routing table (the in-kernel PIC/IOAPIC pins plus one MSI route per MSI-X
 * vector in use), irqfds that turn an eventfd write into an MSI, and
 * ioeventfds that turn a guest write to a notify address into an eventfd
 * signal without a userspace exit.
 *
 * The routing table lives here, not in KVM: KVM_SET_GSI_ROUTING replaces the
 * whole table, so every change rewrites it from this copy. A reboot creates
 * a new KVM VM; kvm_irq_reset() forgets the routes and irqfd bindings (they
 * died with the old VM) but keeps each vector's GSI and eventfd, so devices
 * hold on to their KvmMsiVector across reboots.
 */
#pragma once

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "vm.h"

/* GSIs 0-23 are the IOAPIC pins (0-15 also the PICs); MSI routes follow. */
#define KVM_IRQ_IOAPIC_PINS  24
#define KVM_IRQ_MSI_GSI_BASE 24
#define KVM_IRQ_MAX_MSI      1000

typedef struct KvmMsiRoute {
    uint64_t addr;
    uint32_t data;
    bool valid;
} KvmMsiRoute;

typedef struct KvmIrq {
    Vm *vm; /* vm->vm_fd changes on reboot; read at every ioctl */
    pthread_mutex_t lock;
    KvmMsiRoute routes[KVM_IRQ_MAX_MSI];
    uint32_t n_gsis; /* MSI GSIs handed out: KVM_IRQ_MSI_GSI_BASE + [0, n_gsis) */
    uint64_t commits, commit_errors;
} KvmIrq;

/* One MSI source: a GSI of its own and the eventfd that triggers it. */
typedef struct KvmMsiVector {
    uint32_t gsi;
    int efd;
    bool irqfd_bound; /* KVM_IRQFD done on the current VM */
} KvmMsiVector;

void kvm_irq_init(KvmIrq *k, Vm *vm);
void kvm_irq_destroy(KvmIrq *k);
/* The old VM is gone: routes and irqfd bindings with it. */
void kvm_irq_reset(KvmIrq *k);

/* Allocates a GSI and an eventfd; -ENOSPC when the GSIs run out. */
int kvm_irq_msi_vector_init(KvmIrq *k, KvmMsiVector *v);
void kvm_irq_msi_vector_destroy(KvmIrq *k, KvmMsiVector *v);
/* Points the vector's GSI at (addr, data), rewrites the routing table and
 * binds the irqfd on first use. Any guest-chosen address and data are
 * accepted: KVM validates the message and an unroutable one is lost, which
 * is what hardware does with a garbage MSI. */
int kvm_irq_msi_vector_route(KvmIrq *k, KvmMsiVector *v, uint64_t addr, uint32_t data);
/* Removes the route (and irqfd binding). */
void kvm_irq_msi_vector_unroute(KvmIrq *k, KvmMsiVector *v);
/* Raises the MSI; any thread, never blocks. */
void kvm_irq_msi_vector_signal(const KvmMsiVector *v);
/* Writes the whole table now (IOAPIC/PIC pins + valid MSI routes). */
int kvm_irq_commit(KvmIrq *k);

/* KVM_IOEVENTFD for an MMIO range of len bytes (1, 2, 4 or 8), any data. */
int kvm_ioeventfd_assign(Vm *vm, uint64_t addr, uint32_t len, int efd);
int kvm_ioeventfd_deassign(Vm *vm, uint64_t addr, uint32_t len, int efd);
