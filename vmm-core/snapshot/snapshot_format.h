/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The state file of a snapshot (docs/snapshot.md): a fixed header, then
 * sections, each a (type, instance, length) header and that many bytes.
 * Building one (SnapshotWriter) never fails half-way: an allocation failure
 * is remembered and reported by snapshot_writer_finish(). Reading one
 * (snapshot_state_parse) treats the file as hostile: someone else may have
 * written it, so every length is checked before it is used, and a device
 * reading its section (SnapshotReader) can never read past it.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SNAPSHOT_MAGIC       "VMMSNAP" /* 8 bytes with the NUL */
#define SNAPSHOT_VERSION     1u
#define SNAPSHOT_HEADER_SIZE 64u
#define SNAPSHOT_SECTION_HDR 16u
/* Far above what any VM of ours writes (two vCPUs take ~20 KiB): a file
 * larger than this is refused before it is read. */
#define SNAPSHOT_STATE_MAX    (16u << 20)
#define SNAPSHOT_MAX_SECTIONS 4096u
#define SNAPSHOT_MAX_VCPUS    256u

/* Section types. The numbers are part of the format: never reuse one. */
enum {
    SNAPSHOT_SEC_VM_CLOCK = 0x0101,   /* struct kvm_clock_data */
    SNAPSHOT_SEC_VM_IRQCHIP = 0x0102, /* struct kvm_irqchip; instance = chip id */
    SNAPSHOT_SEC_VM_PIT = 0x0103,     /* struct kvm_pit_state2 */

    /* instance = vCPU index */
    SNAPSHOT_SEC_VCPU_REGS = 0x0201,
    SNAPSHOT_SEC_VCPU_SREGS = 0x0202,
    SNAPSHOT_SEC_VCPU_FPU = 0x0203,
    SNAPSHOT_SEC_VCPU_XSAVE = 0x0204,
    SNAPSHOT_SEC_VCPU_XCRS = 0x0205,
    SNAPSHOT_SEC_VCPU_LAPIC = 0x0206,
    SNAPSHOT_SEC_VCPU_MSRS = 0x0207, /* u32 count, then count x (u32 index, u64 value) */
    SNAPSHOT_SEC_VCPU_EVENTS = 0x0208,
    SNAPSHOT_SEC_VCPU_MP_STATE = 0x0209,
    SNAPSHOT_SEC_VCPU_DEBUGREGS = 0x020a,

    /* platform devices, instance 0; their own encodings (device files) */
    SNAPSHOT_SEC_DEV_SERIAL = 0x0301,
    SNAPSHOT_SEC_DEV_RTC = 0x0302,
    SNAPSHOT_SEC_DEV_I8042 = 0x0303,
    SNAPSHOT_SEC_DEV_ACPI_PM = 0x0304,
    /* the hotplug controllers' announcements the guest has not read yet
     * (pci_hotplug.c, cpu_hotplug.c); optional: none when absent */
    SNAPSHOT_SEC_DEV_PCI_HOTPLUG = 0x0305,
    SNAPSHOT_SEC_DEV_CPU_HOTPLUG = 0x0306,
    SNAPSHOT_SEC_DEV_MEM_HOTPLUG = 0x0307,

    SNAPSHOT_SEC_PCI_BUS = 0x0401,      /* instance 0 (pci.c) */
    SNAPSHOT_SEC_PCI_FUNCTION = 0x0402, /* instance = slot, 0 = host bridge (pci.c) */
    /* instance 0: u32 count, then each virtio function's slot (u8) in the
     * order vmm_devices.c creates them (snapshot.c) */
    SNAPSHOT_SEC_PCI_SLOTS = 0x0403,
    /* instance = the device's place among the virtio devices, in the order
     * vmm_devices.c creates them (virtio_pci.c, then the device's own) */
    SNAPSHOT_SEC_VIRTIO = 0x0501,
    SNAPSHOT_SEC_VIRTIO_BALLOON = 0x0502,
};

/* What the header says besides the layout itself. */
typedef struct SnapshotInfo {
    uint32_t config_crc;  /* CRC-32 of config.json */
    uint64_t config_size; /* bytes of config.json */
    uint64_t memory_size; /* bytes of the memory file = guest RAM */
    uint32_t n_vcpus;
} SnapshotInfo;

/* CRC-32 (IEEE 802.3, as zlib's crc32()): crc is 0 for a fresh sum. */
uint32_t snapshot_crc32(uint32_t crc, const void *data, size_t len);

/* ------------------------------------------------------------- writing */

typedef struct SnapshotWriter {
    uint8_t *buf;
    size_t len, cap;
    size_t section_start; /* offset of the open section's header, 0 = none */
    uint32_t n_sections;
    bool failed; /* out of memory somewhere: finish() reports it */
} SnapshotWriter;

void snapshot_writer_init(SnapshotWriter *w);
void snapshot_writer_free(SnapshotWriter *w);
void snapshot_section_begin(SnapshotWriter *w, uint32_t type, uint32_t instance);
void snapshot_section_end(SnapshotWriter *w);
/* A whole section of raw bytes (the KVM structures). */
void snapshot_put_section(SnapshotWriter *w, uint32_t type, uint32_t instance, const void *data, size_t len);
/* Little-endian fields inside the open section. */
void snapshot_put_u8(SnapshotWriter *w, uint8_t v);
void snapshot_put_u16(SnapshotWriter *w, uint16_t v);
void snapshot_put_u32(SnapshotWriter *w, uint32_t v);
void snapshot_put_u64(SnapshotWriter *w, uint64_t v);
void snapshot_put_bytes(SnapshotWriter *w, const void *data, size_t len);
/* Writes the header (with both checksums); w->buf[0..w->len) is then the
 * file. -ENOMEM when an allocation failed on the way, -EINVAL when a section
 * was left open. */
int snapshot_writer_finish(SnapshotWriter *w, const SnapshotInfo *info);

/* ------------------------------------------------------------- reading */

typedef struct SnapshotSection {
    uint32_t type, instance;
    const uint8_t *data; /* points into the parsed buffer */
    size_t len;
} SnapshotSection;

typedef struct SnapshotState {
    SnapshotInfo info;
    SnapshotSection *sections;
    size_t n_sections;
} SnapshotState;

/*
 * Checks and indexes a state file held in buf (which must outlive *out):
 * magic, version, header size and checksum, body size and checksum, every
 * section header inside the body, no (type, instance) twice, the vCPU count
 * within SNAPSHOT_MAX_VCPUS. Returns 0, or -EINVAL / -ENOMEM with a message
 * saying what is wrong.
 */
int snapshot_state_parse(const uint8_t *buf, size_t len, SnapshotState *out, char *errbuf, size_t errlen);
void snapshot_state_free(SnapshotState *s);
const SnapshotSection *snapshot_state_find(const SnapshotState *s, uint32_t type, uint32_t instance);

/* A bounded cursor over one section: reading past its end yields zeros
 * and marks the reader failed, so a short section cannot be over-read. */
typedef struct SnapshotReader {
    const uint8_t *p;
    size_t left;
    bool failed;
} SnapshotReader;

/* False when the section is absent. */
bool snapshot_reader_open(SnapshotReader *r, const SnapshotState *s, uint32_t type, uint32_t instance);
uint8_t snapshot_get_u8(SnapshotReader *r);
uint16_t snapshot_get_u16(SnapshotReader *r);
uint32_t snapshot_get_u32(SnapshotReader *r);
uint64_t snapshot_get_u64(SnapshotReader *r);
void snapshot_get_bytes(SnapshotReader *r, void *out, size_t len);
/* True when every read fitted and the section was consumed exactly. */
bool snapshot_reader_done(const SnapshotReader *r);
