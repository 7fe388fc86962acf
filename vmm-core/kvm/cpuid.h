/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The CPUID a vCPU presents: what KVM supports on this host, with our
 * topology and APIC id, the hypervisor bit, the physical address width
 * capped by max_phys_bits, and without the paravirtual features that need
 * hypercalls (they never complete on some hosts, see docs/kvm-here.md).
 */
#pragma once

#include <linux/kvm.h>
#include <stdbool.h>
#include <stdint.h>

#include "config.h"

/* Returns a malloc'ed table or NULL with a message. */
struct kvm_cpuid2 *cpuid_supported(int kvm_fd, char *errbuf, size_t errlen);
/* Adapts a copy of the supported table for one vCPU (apic id = vcpu id). */
/* tsc_deadline: KVM_CAP_TSC_DEADLINE_TIMER, which KVM emulates but
 * KVM_GET_SUPPORTED_CPUID does not report. */
struct kvm_cpuid2 *cpuid_for_vcpu(const struct kvm_cpuid2 *supported, const CpusConfig *cpus, uint32_t vcpu_id,
                                  bool tsc_deadline);
