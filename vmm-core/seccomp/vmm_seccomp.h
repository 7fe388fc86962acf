/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Per-thread seccomp allow-lists (docs/security.md). Each thread of the VMM
 * installs the filter of its kind on itself once its setup is done, before it
 * touches anything a guest or an API client controls:
 *
 *   vmm_seccomp_setup(mode, ...)      main thread, before any thread starts
 *   vmm_seccomp_apply(VMM_THREAD_X)   each thread, at the top of its loop
 *
 * Filters stack: a thread created after its creator installed a filter runs
 * under both, so the main list also covers what a new vCPU thread does
 * before it installs its own (glibc's thread start-up, and on reboot the
 * vCPU's first calls).
 */
#pragma once

#include <stddef.h>

typedef enum VmmThreadKind {
    VMM_THREAD_MAIN,          /* event loop: API socket, serial input, signals (signalfd), reboots */
    VMM_THREAD_VCPU,          /* KVM_RUN and the device emulation it dispatches */
    VMM_THREAD_EVENT_MONITOR, /* writes the event monitor's sink and API subscribers */
    VMM_THREAD_VIRTIO_WORKER, /* one per virtio device: queues, backend I/O, interrupts */
    VMM_THREAD_KIND_COUNT,
} VmmThreadKind;

typedef enum VmmSeccompMode {
    VMM_SECCOMP_MODE_OFF,  /* --seccomp false; also the library default */
    VMM_SECCOMP_MODE_TRAP, /* --seccomp true: name the syscall, then the process is killed */
    VMM_SECCOMP_MODE_LOG,  /* --seccomp log: allowed, and logged by the kernel (audit) */
} VmmSeccompMode;

/* Process-wide: compiles every kind's filter, installs the SIGSYS handler
 * (TRAP mode) and sets no_new_privs. Must run on the main thread before any
 * other thread exists, since no_new_privs is inherited, not shared. Returns
 * 0 or a negative errno with errbuf set. MODE_OFF makes every apply a no-op. */
int vmm_seccomp_setup(VmmSeccompMode mode, char *errbuf, size_t errlen);

/* Installs the filter of kind on the calling thread; a no-op (0) when setup
 * did not run or the mode is off. Returns 0 or a negative errno. Allocates
 * nothing, so it is safe on any thread at any time after setup. */
int vmm_seccomp_apply(VmmThreadKind kind);

/* vmm_seccomp_apply() for a thread that has no way to report an error: a
 * thread that should be confined and cannot be must not go on, so this
 * prints "vmm: seccomp: ..." and exits the process with status 1. */
void vmm_seccomp_enter(VmmThreadKind kind);

VmmSeccompMode vmm_seccomp_mode(void);
const char *vmm_thread_kind_name(VmmThreadKind kind);
