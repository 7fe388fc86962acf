/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Snapshot and restore of a whole VM (docs/snapshot.md). A snapshot is a
 * directory: config.json (the VM's configuration), memory (guest RAM, the
 * regions back to back, sparse) and state.bin (KVM's and the devices'
 * state, snapshot_format.h), which also carries the size and checksum of
 * config.json and the size of memory, so that files from two different
 * snapshots are never restored together.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "guest_memory.h"
#include "snapshot_format.h"
#include "vcpu.h"
#include "vm.h"
#include "vmm_devices.h"

#define SNAPSHOT_CONFIG_FILE "config.json"
#define SNAPSHOT_STATE_FILE  "state.bin"
#define SNAPSHOT_MEMORY_FILE "memory"

/* The pieces of a running VM a snapshot is taken from or restored into. */
typedef struct SnapshotVm {
    const VmConfig *cfg;
    GuestMemory *mem;
    const Vm *vm;
    Vcpu *const *vcpus;
    size_t n_vcpus;
    VmmDevices *devices;
} SnapshotVm;

/* The path of a "file:///abs/path" URL (Cloud Hypervisor's form); NULL with
 * a message naming what (destination_url, source_url) for anything else. */
const char *snapshot_url_path(const char *url, const char *what, char *errbuf, size_t errlen);

/* Writes the snapshot into the existing directory dir. The vCPUs must be
 * parked (the VM paused). On failure no state.bin is left behind, so a
 * half-written snapshot cannot be restored. */
int snapshot_save(const char *dir, const SnapshotVm *vm, char *errbuf, size_t errlen);

/* A snapshot opened for restore: every file read and checked. */
typedef struct Snapshot {
    uint8_t *state_buf;
    size_t state_len;
    SnapshotState state;
    VmConfig config; /* parsed and validated config.json */
    bool has_config;
    int memory_fd;
} Snapshot;

/* Opens and checks the snapshot at source_url: state.bin's format, version
 * and checksums, config.json against the size and checksum state.bin
 * records, the configuration itself, and the memory file's size. Returns 0
 * or a negative errno with a message that says which file is wrong. */
int snapshot_open(Snapshot *s, const char *source_url, char *errbuf, size_t errlen);
void snapshot_close(Snapshot *s);

/* Puts the snapshot's RAM into mem (created from the snapshot's own
 * configuration): a private mapping of the memory file, so restoring does
 * not read the whole file, or, for shared=on and hugepages=on memory, a
 * copy into the fresh memory. prefault populates the mapping at once. */
int snapshot_restore_memory(const Snapshot *s, GuestMemory *mem, const MemoryConfig *cfg, bool prefault,
                            char *errbuf, size_t errlen);
/* The PCI slot of each virtio function, in the order they are created, as
 * the snapshotted VM had them (hot-plugged ones need not follow the
 * configuration's order): at most max entries into slots, their count in
 * *n (0 when the snapshot predates the record). -EINVAL when malformed. */
int snapshot_slot_plan(const Snapshot *s, uint8_t *slots, size_t max, size_t *n, char *errbuf, size_t errlen);
/* KVM's and the devices' state, into a VM and vCPUs just created from the
 * snapshot's configuration that never ran. */
int snapshot_restore_state(const Snapshot *s, const SnapshotVm *vm, char *errbuf, size_t errlen);
