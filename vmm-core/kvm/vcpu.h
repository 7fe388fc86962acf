/* SPDX-License-Identifier: Apache-2.0 */
/*
 * One vCPU: its fd and kvm_run page, its boot-time state (CPUID, MSRs, FPU,
 * LAPIC LINT0/LINT1), and the handling of one exit. Threads, pausing and
 * kicking live in vmm.c; this file only talks to KVM.
 */
#pragma once

#include <linux/kvm.h>
#include <stdint.h>

#include "boot.h"
#include "bus.h"
#include "config.h"
#include "vm.h"

typedef struct Vcpu {
    uint32_t id;
    int fd;
    struct kvm_run *run;
    size_t run_size;
    /* Exits seen, by kind, for vm.counters. */
    uint64_t exits_io, exits_mmio, exits_other;
} Vcpu;

typedef enum VcpuExit {
    VCPU_EXIT_CONTINUE,    /* handled; run again */
    VCPU_EXIT_INTERRUPTED, /* KVM_RUN returned EINTR (a kick) */
    VCPU_EXIT_SHUTDOWN,    /* triple fault (KVM_EXIT_SHUTDOWN) */
    VCPU_EXIT_RESET,       /* KVM_EXIT_SYSTEM_EVENT reset */
    VCPU_EXIT_POWEROFF,    /* KVM_EXIT_SYSTEM_EVENT shutdown */
    VCPU_EXIT_ERROR,       /* unrecoverable: message in the buffer */
} VcpuExit;

int vcpu_create(Vcpu *v, Vm *vm, uint32_t id, const struct kvm_cpuid2 *supported_cpuid, const CpusConfig *cpus,
                char *errbuf, size_t errlen);
void vcpu_destroy(Vcpu *v);
/* Registers, segments and paging of the boot processor for the payload. */
int vcpu_set_boot_state(Vcpu *v, const X86BootSetup *boot, char *errbuf, size_t errlen);
/* One KVM_RUN and the dispatch of its exit to the buses. */
VcpuExit vcpu_run_once(Vcpu *v, Bus *pio, Bus *mmio, char *errbuf, size_t errlen);
