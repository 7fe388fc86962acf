/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The VMM proper: builds a VM from a validated configuration, boots it, and
 * runs it until the guest powers off, the VM fails, or the VMM is told to
 * stop (signal or API). Reboots happen inside: the VM is torn down and
 * booted again in the same process.
 */
#pragma once

#include "config.h"
#include "vmm_seccomp.h"

typedef struct VmmOptions {
    const char *api_socket_path; /* NULL or a path to listen on */
    int api_socket_fd;           /* -1 or an inherited socket */
    const char *event_monitor_path;
    int event_monitor_fd; /* -1 or an inherited fd */
    int kvm_fd;           /* -1 (open /dev/kvm) or an inherited /dev/kvm fd */
    unsigned verbosity;
    VmmSeccompMode seccomp; /* --seccomp: each thread confines itself (seccomp/vmm_seccomp.h) */
    /* --restore: the checked snapshot (snapshot/snapshot.h, whose config cfg
     * is) to restore, paused, instead of booting; NULL to boot. */
    const struct Snapshot *restore;
    bool restore_prefault;
} VmmOptions;

/* Returns the process exit status: 0 when the guest powered off or the VMM
 * was asked to shut down, 1 when the VM could not be built or crashed.
 * Errors are printed on stderr as "vmm: ...". */
int vmm_run(const VmConfig *cfg, const VmmOptions *opts);
