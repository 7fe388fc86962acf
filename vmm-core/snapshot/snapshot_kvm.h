/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What KVM holds of a VM, to and from snapshot sections: the in-kernel
 * irqchip (both PICs, the IOAPIC), the PIT and the KVM clock; and per vCPU
 * its registers, segments, FPU/XSAVE, XCRs, LAPIC, MSRs, pending events, MP
 * state and debug registers. The sections hold KVM's x86-64 structures as
 * the kernel ABI defines them.
 */
#pragma once

#include <stddef.h>

#include "snapshot_format.h"
#include "vcpu.h"
#include "vm.h"

int snapshot_vm_save(const Vm *vm, SnapshotWriter *w, char *errbuf, size_t errlen);
/* Into a freshly created VM (irqchip and PIT exist). */
int snapshot_vm_restore(const Vm *vm, const SnapshotState *s, char *errbuf, size_t errlen);

/* The vCPU must be parked outside KVM_RUN. It is run once with
 * immediate_exit first, so that KVM completes a port or MMIO access the
 * vCPU was in the middle of before its state is read. */
int snapshot_vcpu_save(Vcpu *v, int kvm_fd, SnapshotWriter *w, char *errbuf, size_t errlen);
/* Into a freshly created vCPU that never ran. */
int snapshot_vcpu_restore(Vcpu *v, int kvm_fd, const SnapshotState *s, char *errbuf, size_t errlen);
