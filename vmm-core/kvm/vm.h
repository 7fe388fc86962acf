/* SPDX-License-Identifier: Apache-2.0 */
/*
 * One KVM virtual machine: /dev/kvm, the VM fd, the in-kernel irqchip
 * (PIC, IOAPIC, LAPICs) and PIT, the TSS and identity-map pages, and guest
 * RAM registered as memory slots. Every failing ioctl is reported with its name.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "guest_memory.h"

typedef struct Vm {
    int kvm_fd;
    int vm_fd;
    size_t run_size; /* KVM_GET_VCPU_MMAP_SIZE */
    GuestMemory *mem;
    uint32_t next_slot; /* the next KVM memory slot vm_add_memory() takes */
} Vm;

/* Opens /dev/kvm and checks its API version; returns the fd or -errno. */
int vm_open_kvm(char *errbuf, size_t errlen);
/* The same for an inherited /dev/kvm descriptor (--kvm-fd): an unprivileged
 * VMM may not be allowed to open the device itself. Returns a close-on-exec
 * duplicate of fd, or -errno. */
int vm_adopt_kvm(int fd, char *errbuf, size_t errlen);
/* kvm_fd < 0 opens /dev/kvm (then owned by vm); otherwise the caller keeps
 * owning kvm_fd, also on failure. */
int vm_create(Vm *vm, int kvm_fd, GuestMemory *mem, char *errbuf, size_t errlen);
/* Gives the guest [gpa, gpa+size) of RAM at hva in a new KVM memory slot
 * (memory hotplug); -errno. */
int vm_add_memory(Vm *vm, uint64_t gpa, uint64_t size, void *hva);
/* Closes the VM (vCPUs must be destroyed first); keeps /dev/kvm open when
 * keep_kvm is set, so a reboot can create the next VM from it. */
void vm_destroy(Vm *vm, bool keep_kvm);
/* Drives an IOAPIC/PIC input (KVM_IRQ_LINE). */
int vm_irq_line(Vm *vm, uint32_t gsi, int level);
/* IrqLine-compatible callback; ctx is the Vm. */
void vm_irq_line_cb(void *ctx, uint32_t gsi, int level);
/* Whether /dev/kvm exists and answers with the stable API version. */
bool vm_kvm_available(char *errbuf, size_t errlen);
