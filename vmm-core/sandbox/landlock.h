/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Landlock (`--landlock`, `--landlock-rules`, docs/security.md): once its
 * setup is done the VMM can open only what its configuration names, with
 * the access Cloud Hypervisor gives each item, plus the user's rules.
 * Landlock checks paths when they are opened, so descriptors opened during
 * setup (disks, taps, /dev/kvm, sockets) keep working; what stays reachable
 * is what the VMM may still open later (the kernel on a reboot, a FIFO event
 * monitor whose reader left) and nothing else.
 *
 * A domain covers the thread that enters it and the threads it creates
 * afterwards, the way seccomp filters do:
 *
 *   vmm_landlock_setup(...)         main thread, before any thread starts
 *   vmm_landlock_enter()            each thread started during setup, first thing
 *   vmm_landlock_restrict_main(...) main thread, when setup is over; the vCPU
 *                                   threads it starts next inherit its domain
 */
#pragma once

#include <linux/landlock.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

/* Rights newer than Debian 12's kernel headers; the values are kernel ABI. */
#ifndef LANDLOCK_ACCESS_FS_REFER
#define LANDLOCK_ACCESS_FS_REFER (1ULL << 13) /* ABI 2 */
#endif
#ifndef LANDLOCK_ACCESS_FS_TRUNCATE
#define LANDLOCK_ACCESS_FS_TRUNCATE (1ULL << 14) /* ABI 3 */
#endif
#ifndef LANDLOCK_ACCESS_FS_IOCTL_DEV
#define LANDLOCK_ACCESS_FS_IOCTL_DEV (1ULL << 15) /* ABI 5 */
#endif

/* Cloud Hypervisor's "r": read files, list directories, execute. */
#define VMM_LANDLOCK_READ                                                                                    \
    (LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_READ_DIR)
/* Cloud Hypervisor's "w": write, truncate, create and remove anything, and
 * (where the kernel has it) use devices' ioctls, so "rw" on a device works. */
#define VMM_LANDLOCK_WRITE                                                                                   \
    (LANDLOCK_ACCESS_FS_WRITE_FILE | LANDLOCK_ACCESS_FS_REMOVE_DIR | LANDLOCK_ACCESS_FS_REMOVE_FILE |        \
     LANDLOCK_ACCESS_FS_MAKE_CHAR | LANDLOCK_ACCESS_FS_MAKE_DIR | LANDLOCK_ACCESS_FS_MAKE_REG |              \
     LANDLOCK_ACCESS_FS_MAKE_SOCK | LANDLOCK_ACCESS_FS_MAKE_FIFO | LANDLOCK_ACCESS_FS_MAKE_BLOCK |           \
     LANDLOCK_ACCESS_FS_MAKE_SYM | LANDLOCK_ACCESS_FS_REFER | LANDLOCK_ACCESS_FS_TRUNCATE |                  \
     LANDLOCK_ACCESS_FS_IOCTL_DEV)

typedef struct VmmLandlockRule {
    char *path;
    uint64_t access; /* LANDLOCK_ACCESS_FS_* granted beneath path */
} VmmLandlockRule;

typedef struct VmmLandlockRules {
    VmmLandlockRule *items;
    size_t n;
} VmmLandlockRules;

/* Cloud Hypervisor's access strings: any non-empty run of 'r' and 'w'
 * ("r", "w", "rw", "wr"). Returns 0, or -EINVAL for anything else. */
int vmm_landlock_access_parse(const char *s, uint64_t *access);

/*
 * What the configuration names, with the access each item needs, then the
 * user's --landlock-rules (see docs/security.md for the table). Paths given
 * as "/dev/fd/N" are inherited descriptors, never opened, and get no rule.
 * api_socket_path and event_monitor_path (NULL when absent) are the
 * process options. Returns 0, or a negative errno with errbuf set (an
 * invalid access string in a user rule, out of memory).
 */
int vmm_landlock_rules_from_config(const VmConfig *cfg, const char *api_socket_path,
                                   const char *event_monitor_path, VmmLandlockRules *out, char *errbuf,
                                   size_t errlen);
void vmm_landlock_rules_free(VmmLandlockRules *rules);

/* The kernel's Landlock ABI version (1, 2, ...), or -ENOSYS (not built in)
 * or -EOPNOTSUPP (built in, not enabled at boot). */
int vmm_landlock_abi(void);

/*
 * A ruleset handling every filesystem right the ABI knows (so what no rule
 * grants is denied) and granting each rule's access, narrowed to what the
 * ABI has and, for a path that is not a directory, to what applies to files.
 * skip_missing leaves out rules whose path does not exist (yet); otherwise
 * such a rule is an error. Returns the ruleset fd or a negative errno with
 * errbuf set.
 */
int vmm_landlock_ruleset_create(const VmmLandlockRules *rules, int abi, bool skip_missing, char *errbuf,
                                size_t errlen);
/* Confines the calling thread (and the threads it creates from now on) to
 * the ruleset. Needs no_new_privs. Returns 0 or a negative errno. */
int vmm_landlock_restrict_self(int ruleset_fd);

/*
 * Process-wide, on the main thread before any other thread exists. Checks
 * the user's rules (each path exists, each access is valid) as Cloud
 * Hypervisor's validation does, --landlock or not; the rest only with
 * cfg->landlock_enable. Refuses to go on (-ENOSYS/-EOPNOTSUPP) when the
 * kernel has no Landlock: asking for the sandbox and running without it
 * would be a silent downgrade. Sets no_new_privs, derives the rules and
 * builds the ruleset for the threads started during setup, from the paths
 * that exist now (the files setup creates are not among what those threads
 * open). Returns 0 or a negative errno with errbuf set.
 */
int vmm_landlock_setup(const VmConfig *cfg, const char *api_socket_path, const char *event_monitor_path,
                       char *errbuf, size_t errlen);
/* For a thread started during setup (event monitor writer, virtio workers),
 * before it handles anything; a no-op without setup. A thread that should be
 * confined and cannot be must not go on: prints "vmm: landlock: ..." and
 * exits the process with status 1. */
void vmm_landlock_enter(void);
/* The main thread, once setup is over and before the guest runs: every rule
 * now has its path. A no-op (0) without setup. Returns 0 or a negative errno
 * with errbuf set. */
int vmm_landlock_restrict_main(char *errbuf, size_t errlen);
/* Frees what setup kept; call once every thread started during setup has
 * been joined. */
void vmm_landlock_teardown(void);
