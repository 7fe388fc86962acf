/* SPDX-License-Identifier: Apache-2.0 */
/*
 * How vmmd starts a VMM unprivileged (docs/security.md): vmmd opens what
 * needs privilege (/dev/kvm, disk images, kernel and initramfs, file
 * outputs, the rng source, tap devices) and hands the descriptors over; the
 * forked child then confines itself - resource limits, its own mount and
 * IPC namespaces, the VMM user, no capabilities, no_new_privs - and execs
 * the VMM, which takes the files as /dev/fd/N and /dev/kvm as --kvm-fd.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define VMM_DEFAULT_USER "vmm"
/* When VMM_DEFAULT_USER does not exist and no --vmm-user was given. */
#define VMM_FALLBACK_USER "nobody"

typedef struct VmmSandbox {
    /* vmmd runs as root: namespaces, and the VMMs run as uid/gid. An
     * unprivileged vmmd can do neither; its VMMs run as itself. */
    bool privileged;
    char *user;
    uid_t uid;
    gid_t gid;
    /* The kernel's Landlock ABI when VMMs run with --landlock, else 0
     * (vmmd --no-landlock, or a kernel without it). */
    int landlock_abi;
} VmmSandbox;

/* Resolves the VMM user: `user` (from --vmm-user; it must exist), or NULL
 * for VMM_DEFAULT_USER, falling back to VMM_FALLBACK_USER with a warning.
 * With `landlock`, asks the kernel once whether VMMs can run with
 * --landlock, and logs the answer. Returns 0, or -errno after logging why. */
int vmm_sandbox_init(VmmSandbox *s, const char *user, bool landlock);
void vmm_sandbox_free(VmmSandbox *s);

/* The files of one VM, open, and the configuration naming them. */
typedef struct VmmFiles {
    int *fds; /* fds[i] becomes descriptor first_fd + i in the VMM */
    size_t n;
    char *config_json; /* the VM's configuration, paths as /dev/fd/N */
} VmmFiles;

/*
 * Opens every file and tap the configuration names, as vmmd (whose
 * privileges decide), numbering them from first_fd; returns 0, or -errno
 * with errbuf saying which file and why (nothing stays open). With
 * s->landlock_abi, the configuration enables Landlock and adds an `rw` rule
 * for descriptor snapshot_dir_fd, the VM's snapshot directory: the only
 * path the VMM still writes by name once confined (the descriptors need no
 * rule).
 */
int vmm_files_open(const VmmSandbox *s, const char *config_json, int first_fd, int snapshot_dir_fd,
                   VmmFiles *ret, char *errbuf, size_t errlen);
void vmm_files_close(VmmFiles *f);
/*
 * One device hot-added to a running VM (AddDisk, AddNet): entry_json is a
 * DiskConfig (member "disks") or NetConfig ("net", the VM's index-th),
 * opened as vmm_files_open() opens it at start, with the same refusals.
 * ret->config_json is the entry for vm.add-disk / vm.add-net naming the
 * descriptors ret->fds as "fd:K", in order.
 */
int vmm_files_open_device(const char *member, const char *entry_json, size_t index, VmmFiles *ret,
                          char *errbuf, size_t errlen);

/* The descriptors a VMM may hold: its devices' eventfds, vCPU fds, sockets
 * and the inherited files, with room to spare. */
#define VMM_NOFILE_LIMIT 4096

/*
 * In the forked child, right before exec: resource limits sized from the
 * guest's memory, new mount and IPC namespaces, the VMM user, every
 * capability dropped (bounding, ambient, inheritable; setuid clears the
 * rest), no_new_privs. Only async-signal-safe calls. Returns 0, or -errno
 * with *what naming the step that failed.
 */
int vmm_sandbox_enter(const VmmSandbox *s, uint64_t memory_size, const char **what);
