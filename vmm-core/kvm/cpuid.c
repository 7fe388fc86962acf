/* SPDX-License-Identifier: Apache-2.0 */
#include "cpuid.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

/* KVM paravirtual feature bits (CPUID 0x40000001 EAX) that rely on
 * hypercalls: PV_UNHALT (7), PV_SEND_IPI (11), PV_SCHED_YIELD (13),
 * HC_MAP_GPA_RANGE (16). */
#define KVM_PV_HYPERCALL_FEATURES ((1u << 7) | (1u << 11) | (1u << 13) | (1u << 16))

struct kvm_cpuid2 *cpuid_supported(int kvm_fd, char *errbuf, size_t errlen)
{
    for (uint32_t n = 64; n <= 4096; n *= 2) {
        struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + n * sizeof(struct kvm_cpuid_entry2));
        if (!c) {
            snprintf(errbuf, errlen, "out of memory");
            return NULL;
        }
        c->nent = n;
        if (ioctl(kvm_fd, KVM_GET_SUPPORTED_CPUID, c) == 0)
            return c;
        int e = errno;
        free(c);
        if (e != E2BIG) {
            snprintf(errbuf, errlen, "KVM: KVM_GET_SUPPORTED_CPUID failed: %s", strerror(e));
            return NULL;
        }
    }
    snprintf(errbuf, errlen, "KVM: KVM_GET_SUPPORTED_CPUID: table too large");
    return NULL;
}

/* Bits needed to number n items (0 for n <= 1). */
static uint32_t bits_for(uint32_t n)
{
    uint32_t b = 0;
    while ((1u << b) < n)
        b++;
    return b;
}

struct kvm_cpuid2 *cpuid_for_vcpu(const struct kvm_cpuid2 *supported, const CpusConfig *cpus, uint32_t vcpu_id,
                                  bool tsc_deadline)
{
    size_t size = sizeof(*supported) + supported->nent * sizeof(struct kvm_cpuid_entry2);
    struct kvm_cpuid2 *c = malloc(size);
    if (!c)
        return NULL;
    memcpy(c, supported, size);

    uint32_t threads = 1, cores = cpus->max_vcpus, dies = 1;
    if (cpus->has_topology) {
        threads = cpus->topology.threads_per_core;
        cores = cpus->topology.cores_per_die;
        dies = cpus->topology.dies_per_package;
    }
    uint32_t per_package = threads * cores * dies;
    uint32_t smt_bits = bits_for(threads), core_bits = bits_for(threads * cores * dies);

    for (uint32_t i = 0; i < c->nent; i++) {
        struct kvm_cpuid_entry2 *e = &c->entries[i];
        switch (e->function) {
        case 0x1:
            /* EBX: initial APIC id, logical processors per package, CLFLUSH line 64 bytes. */
            e->ebx = (vcpu_id << 24) | ((per_package & 0xff) << 16) | (8u << 8);
            e->ecx |= 1u << 31; /* running under a hypervisor */
            /* Without the TSC-deadline mode Linux must calibrate the LAPIC
             * timer against the PIT, which is fragile when nested. */
            if (tsc_deadline)
                e->ecx |= 1u << 24;
            if (per_package > 1)
                e->edx |= 1u << 28; /* HTT: the count in EBX is valid */
            break;
        case 0x4:
            /* Intel deterministic cache leaf: cores per package - 1 in EAX[31:26]. */
            e->eax = (e->eax & 0x03ffffffu) | (((cores * dies - 1) & 0x3f) << 26);
            break;
        case 0xb:
        case 0x1f:
            /* Extended topology: level 0 = SMT, level 1 = core; EDX = x2APIC id. */
            e->edx = vcpu_id;
            if (e->index == 0) {
                e->eax = smt_bits;
                e->ebx = threads;
                e->ecx = (1u << 8) | 0;
            } else if (e->index == 1) {
                e->eax = core_bits;
                e->ebx = per_package;
                e->ecx = (2u << 8) | 1;
            } else {
                e->eax = 0;
                e->ebx = 0;
                e->ecx = e->index;
            }
            break;
        case 0x40000001:
            e->eax &= ~KVM_PV_HYPERCALL_FEATURES;
            break;
        case 0x80000008: {
            uint32_t phys = e->eax & 0xff;
            if (cpus->max_phys_bits && cpus->max_phys_bits < phys)
                e->eax = (e->eax & ~0xffu) | cpus->max_phys_bits;
            break;
        }
        }
    }
    return c;
}
