/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The guest's ACPI tables (ACPI 6.x): RSDP -> XSDT -> FADT (-> FACS, DSDT),
 * MADT, MCFG. A full (not hardware-reduced) fixed-feature platform: PM1a
 * event/control blocks for the power button and S5, SCI on IRQ 9, the 0xcf9
 * reset register. Built in a host buffer, then copied into
 * [LAYOUT_ACPI_START, LAYOUT_ACPI_END), where Linux's legacy RSDP scan of
 * 0xe0000-0xfffff would find it too.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "acpi.h"
#include "aml.h"
#include "acpi_cpu_hotplug.h"
#include "acpi_mem_hotplug.h"
#include "acpi_pci_hotplug.h"
#include "layout.h"
#include "pci.h"
#include "pci_hotplug.h"

#define ACPI_OEM_ID           "VMM   "
#define ACPI_CREATOR_ID       "VMM "
#define ACPI_OEM_REVISION     1
#define ACPI_CREATOR_REVISION 1
#define ACPI_AREA_SIZE        (LAYOUT_ACPI_END - LAYOUT_ACPI_START)

typedef struct __attribute__((packed)) AcpiRsdp {
    char signature[8];
    uint8_t checksum; /* first 20 bytes */
    char oem_id[6];
    uint8_t revision;
    uint32_t rsdt_address;
    uint32_t length;
    uint64_t xsdt_address;
    uint8_t extended_checksum; /* all 36 bytes */
    uint8_t reserved[3];
} AcpiRsdp;

typedef struct __attribute__((packed)) AcpiHeader {
    char signature[4];
    uint32_t length;
    uint8_t revision;
    uint8_t checksum;
    char oem_id[6];
    char oem_table_id[8];
    uint32_t oem_revision;
    char creator_id[4];
    uint32_t creator_revision;
} AcpiHeader;

typedef struct __attribute__((packed)) AcpiGas {
    uint8_t space_id; /* 0 system memory, 1 system I/O */
    uint8_t bit_width;
    uint8_t bit_offset;
    uint8_t access_size; /* 1 byte, 2 word, 3 dword, 4 qword */
    uint64_t address;
} AcpiGas;

typedef struct __attribute__((packed)) AcpiFadt {
    AcpiHeader h;
    uint32_t firmware_ctrl;
    uint32_t dsdt;
    uint8_t reserved0;
    uint8_t preferred_pm_profile;
    uint16_t sci_int;
    uint32_t smi_cmd;
    uint8_t acpi_enable;
    uint8_t acpi_disable;
    uint8_t s4bios_req;
    uint8_t pstate_cnt;
    uint32_t pm1a_evt_blk;
    uint32_t pm1b_evt_blk;
    uint32_t pm1a_cnt_blk;
    uint32_t pm1b_cnt_blk;
    uint32_t pm2_cnt_blk;
    uint32_t pm_tmr_blk;
    uint32_t gpe0_blk;
    uint32_t gpe1_blk;
    uint8_t pm1_evt_len;
    uint8_t pm1_cnt_len;
    uint8_t pm2_cnt_len;
    uint8_t pm_tmr_len;
    uint8_t gpe0_blk_len;
    uint8_t gpe1_blk_len;
    uint8_t gpe1_base;
    uint8_t cst_cnt;
    uint16_t p_lvl2_lat;
    uint16_t p_lvl3_lat;
    uint16_t flush_size;
    uint16_t flush_stride;
    uint8_t duty_offset;
    uint8_t duty_width;
    uint8_t day_alrm;
    uint8_t mon_alrm;
    uint8_t century;
    uint16_t iapc_boot_arch;
    uint8_t reserved1;
    uint32_t flags;
    AcpiGas reset_reg;
    uint8_t reset_value;
    uint16_t arm_boot_arch;
    uint8_t minor_version;
    uint64_t x_firmware_ctrl;
    uint64_t x_dsdt;
    AcpiGas x_pm1a_evt_blk;
    AcpiGas x_pm1b_evt_blk;
    AcpiGas x_pm1a_cnt_blk;
    AcpiGas x_pm1b_cnt_blk;
    AcpiGas x_pm2_cnt_blk;
    AcpiGas x_pm_tmr_blk;
    AcpiGas x_gpe0_blk;
    AcpiGas x_gpe1_blk;
    AcpiGas sleep_control_reg;
    AcpiGas sleep_status_reg;
    uint64_t hypervisor_vendor_id;
} AcpiFadt;

_Static_assert(sizeof(AcpiRsdp) == 36, "RSDP size");
_Static_assert(sizeof(AcpiHeader) == 36, "SDT header size");
_Static_assert(sizeof(AcpiGas) == 12, "GAS size");
_Static_assert(offsetof(AcpiFadt, sci_int) == 46, "FADT SCI_INT");
_Static_assert(offsetof(AcpiFadt, pm1a_evt_blk) == 56, "FADT PM1a_EVT_BLK");
_Static_assert(offsetof(AcpiFadt, pm1_evt_len) == 88, "FADT PM1_EVT_LEN");
_Static_assert(offsetof(AcpiFadt, iapc_boot_arch) == 109, "FADT IAPC_BOOT_ARCH");
_Static_assert(offsetof(AcpiFadt, flags) == 112, "FADT flags");
_Static_assert(offsetof(AcpiFadt, reset_reg) == 116, "FADT RESET_REG");
_Static_assert(offsetof(AcpiFadt, x_dsdt) == 140, "FADT X_DSDT");
_Static_assert(offsetof(AcpiFadt, sleep_control_reg) == 244, "FADT SLEEP_CONTROL_REG");
_Static_assert(sizeof(AcpiFadt) == 276, "FADT revision 6 size");

typedef struct __attribute__((packed)) AcpiFacs {
    char signature[4];
    uint32_t length;
    uint32_t hardware_signature;
    uint32_t firmware_waking_vector;
    uint32_t global_lock;
    uint32_t flags;
    uint64_t x_firmware_waking_vector;
    uint8_t version;
    uint8_t reserved0[3];
    uint32_t ospm_flags;
    uint8_t reserved1[24];
} AcpiFacs;
_Static_assert(sizeof(AcpiFacs) == 64, "FACS size");

/* MADT (APIC) structures. */
#define MADT_LOCAL_APIC           0
#define MADT_IO_APIC              1
#define MADT_INT_SRC_OVERRIDE     2
#define MADT_LOCAL_APIC_NMI       4
#define MADT_PCAT_COMPAT          0x1
#define MADT_LAPIC_ENABLED        0x1
#define MADT_LAPIC_ONLINE_CAPABLE 0x2 /* ACPI 6.3, MADT revision 5 */
#define MADT_REVISION             5
/* MPS INTI flags: polarity bits 1:0 (01 high, 11 low), trigger 3:2 (01 edge, 11 level). */
#define MPS_INTI_CONFORMING 0x0
#define MPS_INTI_HIGH_LEVEL 0xd

typedef struct __attribute__((packed)) MadtLapic {
    uint8_t type, length, processor_uid, apic_id;
    uint32_t flags;
} MadtLapic;
typedef struct __attribute__((packed)) MadtIoapic {
    uint8_t type, length, id, reserved;
    uint32_t address;
    uint32_t gsi_base;
} MadtIoapic;
typedef struct __attribute__((packed)) MadtOverride {
    uint8_t type, length, bus, source;
    uint32_t gsi;
    uint16_t flags;
} MadtOverride;
typedef struct __attribute__((packed)) MadtLapicNmi {
    uint8_t type, length, processor_uid;
    uint16_t flags;
    uint8_t lint;
} MadtLapicNmi;
_Static_assert(sizeof(MadtLapic) == 8 && sizeof(MadtIoapic) == 12, "MADT entry sizes");
_Static_assert(sizeof(MadtOverride) == 10 && sizeof(MadtLapicNmi) == 6, "MADT entry sizes");

typedef struct __attribute__((packed)) McfgAllocation {
    uint64_t base;
    uint16_t segment;
    uint8_t start_bus, end_bus;
    uint32_t reserved;
} McfgAllocation;
_Static_assert(sizeof(McfgAllocation) == 16, "MCFG allocation size");

/* FADT flags (ACPI 6.x table 5.10). PWR_BUTTON (bit 4) stays clear: the
 * power button is the fixed-feature one in PM1 (what Shutdown presses). */
#define FADT_WBINVD        (1u << 0)
#define FADT_PROC_C1       (1u << 2)
#define FADT_SLP_BUTTON    (1u << 5) /* no sleep button */
#define FADT_FIX_RTC       (1u << 6) /* no RTC wake status in PM1 */
#define FADT_RESET_REG_SUP (1u << 10)
/* IAPC_BOOT_ARCH: ISA devices (COM1, RTC, i8042), an 8042, no VGA. The
 * CMOS RTC exists, so "CMOS RTC not present" (bit 5) stays clear. */
#define IAPC_LEGACY_DEVICES  (1u << 0)
#define IAPC_8042            (1u << 1)
#define IAPC_VGA_NOT_PRESENT (1u << 2)

#define FADT_REVISION      6
#define FADT_MINOR_VERSION 3
#define GAS_SYSTEM_IO      1
#define GAS_ACCESS_BYTE    1

/* ---------------------------------------------------------- the area */

/* area_* offsets are >= 0; these say why a table could not be placed. */
#define AREA_FULL  (-1)
#define AREA_NOMEM (-2)

typedef struct AcpiArea {
    uint8_t *buf;
    size_t used;
} AcpiArea;

/* Reserves len bytes aligned to align; returns the offset or -1 when full. */
static long area_alloc(AcpiArea *a, size_t len, size_t align)
{
    size_t off = (a->used + align - 1) & ~(align - 1);
    if (off > ACPI_AREA_SIZE || len > ACPI_AREA_SIZE - off)
        return AREA_FULL;
    a->used = off + len;
    return (long)off;
}

static uint8_t checksum(const void *p, size_t len)
{
    const uint8_t *b = p;
    uint8_t s = 0;
    for (size_t i = 0; i < len; i++)
        s = (uint8_t)(s + b[i]);
    return (uint8_t)(0x100 - s);
}

static void header_init(AcpiHeader *h, const char *sig, uint32_t len, uint8_t rev)
{
    char table_id[9];

    memcpy(h->signature, sig, 4);
    h->length = len;
    h->revision = rev;
    memcpy(h->oem_id, ACPI_OEM_ID, 6);
    /* "VMM" + signature keeps each table's id distinct in the guest's log. */
    snprintf(table_id, sizeof(table_id), "VMM%.4s ", sig);
    memcpy(h->oem_table_id, table_id, 8);
    h->oem_revision = ACPI_OEM_REVISION;
    memcpy(h->creator_id, ACPI_CREATOR_ID, 4);
    h->creator_revision = ACPI_CREATOR_REVISION;
}

/* Copies a finished table (header + body) into the area, sets its checksum. */
static long area_put_table(AcpiArea *a, const void *table, size_t len)
{
    long off = area_alloc(a, len, 16);
    if (off < 0)
        return AREA_FULL;
    memcpy(a->buf + off, table, len);
    AcpiHeader *h = (AcpiHeader *)(a->buf + off);
    h->checksum = 0;
    h->checksum = checksum(a->buf + off, len);
    return off;
}

/* ---------------------------------------------------------- the tables */

/* The Generic Event Device (ACPI0013): its interrupt runs _EVT, which asks
 * the PCI and CPU hotplug controllers what changed and notifies those
 * devices. */
static void build_ged(AmlBuf *b, const AcpiPlatform *p)
{
    AmlBuf res = {0};
    size_t dev = aml_device_begin(b, "GED0");
    aml_name(b, "_HID");
    aml_string(b, "ACPI0013");
    aml_name(b, "_UID");
    aml_integer(b, 0);
    aml_res_interrupt_edge(&res, PCI_HOTPLUG_GSI);
    aml_name(b, "_CRS");
    aml_resource_template(b, &res);
    if (res.failed)
        b->failed = true;
    aml_free(&res);
    size_t m = aml_method_begin(b, "_EVT", 1);
    if (p->pci)
        acpi_pci_hotplug_evt(b);
    if (p->max_vcpus > p->boot_vcpus)
        acpi_cpu_hotplug_evt(b, p->max_vcpus);
    if (p->mem_slots)
        acpi_mem_hotplug_evt(b, p->mem_slots);
    aml_end(b, m);
    aml_end(b, dev);
}

static int build_dsdt(const AcpiPlatform *p, AmlBuf *b)
{
    AcpiHeader h;
    AmlBuf res = {0};
    size_t m, sb;

    memset(&h, 0, sizeof(h));
    aml_bytes(b, &h, sizeof(h)); /* filled in once the length is known */

    /* \_S5: SLP_TYPa, SLP_TYPb (no PM1b: same value), two reserved. */
    aml_name(b, "\\_S5");
    m = aml_package_begin(b, 4);
    aml_integer(b, ACPI_S5_SLP_TYP);
    aml_integer(b, ACPI_S5_SLP_TYP);
    aml_integer(b, 0);
    aml_integer(b, 0);
    aml_end(b, m);

    sb = aml_scope_begin(b, "\\_SB");
    if (p->serial) {
        m = aml_device_begin(b, "COM1");
        aml_name(b, "_HID");
        aml_eisaid(b, "PNP0501");
        aml_name(b, "_UID");
        aml_integer(b, 1);
        aml_res_io(&res, PORT_COM1, 8);
        aml_res_irq(&res, IRQ_COM1);
        aml_name(b, "_CRS");
        aml_resource_template(b, &res);
        res.len = 0;
        aml_end(b, m);
    }
    if (p->pvpanic) {
        /* Linux's pvpanic driver binds the ACPI id QEMU0001 and takes its
         * port from _CRS. */
        m = aml_device_begin(b, "PEVT");
        aml_name(b, "_HID");
        aml_string(b, "QEMU0001");
        aml_res_io(&res, PORT_PVPANIC, 1);
        aml_name(b, "_CRS");
        aml_resource_template(b, &res);
        res.len = 0;
        aml_end(b, m);
    }
    if (p->pci) {
        m = aml_device_begin(b, "PCI0");
        aml_name(b, "_HID");
        aml_eisaid(b, "PNP0A08"); /* PCI Express root bridge */
        aml_name(b, "_CID");
        aml_eisaid(b, "PNP0A03"); /* ... compatible with plain PCI */
        aml_name(b, "_ADR");
        aml_integer(b, 0);
        aml_name(b, "_SEG");
        aml_integer(b, 0);
        aml_name(b, "_UID");
        aml_integer(b, 0);
        aml_name(b, "_BBN");
        aml_integer(b, 0);
        /* INTx routing for drivers without MSI-X (or pci=nomsi): every
         * slot's INTA# goes straight to an IOAPIC GSI, no link devices.
         * Our functions only use INTA#. */
        aml_name(b, "_PRT");
        size_t prt = aml_package_begin(b, PCI_MAX_SLOTS);
        for (unsigned slot = 0; slot < PCI_MAX_SLOTS; slot++) {
            size_t e = aml_package_begin(b, 4);
            aml_integer(b, (uint64_t)slot << 16 | 0xffff); /* any function of the slot */
            aml_integer(b, 0);                             /* INTA# */
            aml_integer(b, 0);                             /* Source: none, a GSI ... */
            aml_integer(b, pci_slot_intx_gsi(slot));       /* ... this one */
            aml_end(b, e);
        }
        aml_end(b, prt);
        aml_res_bus_range(&res, 0, 0xff);
        aml_res_io(&res, PORT_PCI_CONFIG_ADDRESS, 8); /* consumed: config mechanism #1 */
        aml_res_io_range(&res, 0x0000, PORT_PCI_CONFIG_ADDRESS - 1);
        aml_res_io_range(&res, 0x0d00, 0xffff);
        aml_res_mem32_range(&res, (uint32_t)LAYOUT_PCI_MMIO_START,
                            (uint32_t)(LAYOUT_PCI_MMIO_START + LAYOUT_PCI_MMIO_SIZE - 1));
        aml_name(b, "_CRS");
        aml_resource_template(b, &res);
        res.len = 0;
        /* Every slot can take a hot-added function (vm.add-disk, ...). */
        acpi_pci_hotplug_slots(b);
        aml_end(b, m);

        /* Motherboard resource claiming ECAM, so Linux finds the MCFG space
         * reserved in ACPI as well as in e820. */
        m = aml_device_begin(b, "MRES");
        aml_name(b, "_HID");
        aml_eisaid(b, "PNP0C02");
        aml_name(b, "_UID");
        aml_integer(b, 0);
        aml_res_mem32_fixed(&res, (uint32_t)LAYOUT_PCI_ECAM_START, (uint32_t)LAYOUT_PCI_ECAM_SIZE);
        aml_name(b, "_CRS");
        aml_resource_template(b, &res);
        res.len = 0;
        aml_end(b, m);
    }
    if (p->max_vcpus > p->boot_vcpus)
        acpi_cpu_hotplug_devices(b, p->max_vcpus);
    if (p->mem_slots)
        acpi_mem_hotplug_devices(b, p->mem_hotplug_base, p->mem_slot_size, p->mem_slots);
    if (p->pci || p->max_vcpus > p->boot_vcpus || p->mem_slots)
        build_ged(b, p);
    aml_end(b, sb);
    if (res.failed)
        b->failed = true;
    aml_free(&res);
    if (aml_failed(b))
        return -ENOMEM;

    /* Revision 2: 64-bit AML integers. */
    header_init(&h, "DSDT", (uint32_t)b->len, 2);
    memcpy(b->data, &h, sizeof(h));
    return 0;
}

static void build_fadt(AcpiFadt *f, uint64_t facs, uint64_t dsdt)
{
    memset(f, 0, sizeof(*f));
    header_init(&f->h, "FACP", sizeof(*f), FADT_REVISION);
    f->firmware_ctrl = (uint32_t)facs; /* below 4 GiB: the 32-bit field, X_ stays 0 */
    f->dsdt = (uint32_t)dsdt;
    f->x_dsdt = dsdt;
    f->sci_int = IRQ_ACPI_SCI;
    /* SMI_CMD 0: no SMM handshake, the platform is always in ACPI mode. */
    f->smi_cmd = 0;
    f->pm1a_evt_blk = PORT_ACPI_PM1A_EVT;
    f->pm1_evt_len = 4;
    f->pm1a_cnt_blk = PORT_ACPI_PM1A_CNT;
    f->pm1_cnt_len = 2;
    /* C2/C3 latencies above 100/1000 us say "not supported". */
    f->p_lvl2_lat = 101;
    f->p_lvl3_lat = 1001;
    f->iapc_boot_arch = IAPC_LEGACY_DEVICES | IAPC_8042 | IAPC_VGA_NOT_PRESENT;
    f->flags = FADT_WBINVD | FADT_PROC_C1 | FADT_SLP_BUTTON | FADT_FIX_RTC | FADT_RESET_REG_SUP;
    f->reset_reg = (AcpiGas){.space_id = GAS_SYSTEM_IO,
                             .bit_width = 8,
                             .access_size = GAS_ACCESS_BYTE,
                             .address = PORT_ACPI_RESET};
    f->reset_value = ACPI_RESET_VALUE;
    f->minor_version = FADT_MINOR_VERSION;
}

static long build_madt(AcpiArea *a, const AcpiPlatform *p)
{
    size_t len = sizeof(AcpiHeader) + 8 + p->max_vcpus * sizeof(MadtLapic) + sizeof(MadtIoapic) +
                 2 * sizeof(MadtOverride) + sizeof(MadtLapicNmi);
    uint8_t *t = calloc(1, len);
    size_t off = sizeof(AcpiHeader);

    if (!t)
        return AREA_NOMEM;
    header_init((AcpiHeader *)t, "APIC", (uint32_t)len, MADT_REVISION);
    uint32_t lapic_addr = (uint32_t)LAYOUT_LAPIC_START, flags = MADT_PCAT_COMPAT;
    memcpy(t + off, &lapic_addr, 4);
    memcpy(t + off + 4, &flags, 4);
    off += 8;

    for (uint32_t i = 0; i < p->max_vcpus; i++) {
        /* vCPUs past boot_vcpus are hot-pluggable later: listed as online
         * capable so the guest sizes its per-CPU data for them. */
        MadtLapic e = {.type = MADT_LOCAL_APIC,
                       .length = sizeof(e),
                       .processor_uid = (uint8_t)i,
                       .apic_id = (uint8_t)i,
                       .flags = i < p->boot_vcpus ? MADT_LAPIC_ENABLED : MADT_LAPIC_ONLINE_CAPABLE};
        memcpy(t + off, &e, sizeof(e));
        off += sizeof(e);
    }
    MadtIoapic io = {.type = MADT_IO_APIC,
                     .length = sizeof(io),
                     .id = 0,
                     .address = (uint32_t)LAYOUT_IOAPIC_START,
                     .gsi_base = 0};
    memcpy(t + off, &io, sizeof(io));
    off += sizeof(io);
    /* The PIT's IRQ 0 arrives on IOAPIC pin 2, as on every PC. */
    MadtOverride irq0 = {.type = MADT_INT_SRC_OVERRIDE,
                         .length = sizeof(irq0),
                         .source = 0,
                         .gsi = 2,
                         .flags = MPS_INTI_CONFORMING};
    memcpy(t + off, &irq0, sizeof(irq0));
    off += sizeof(irq0);
    /* The SCI is level-triggered; the PM device drives it active high. */
    MadtOverride sci = {.type = MADT_INT_SRC_OVERRIDE,
                        .length = sizeof(sci),
                        .source = IRQ_ACPI_SCI,
                        .gsi = IRQ_ACPI_SCI,
                        .flags = MPS_INTI_HIGH_LEVEL};
    memcpy(t + off, &sci, sizeof(sci));
    off += sizeof(sci);
    /* LINT1 of every local APIC is the NMI input. */
    MadtLapicNmi nmi = {.type = MADT_LOCAL_APIC_NMI,
                        .length = sizeof(nmi),
                        .processor_uid = 0xff,
                        .flags = MPS_INTI_CONFORMING,
                        .lint = 1};
    memcpy(t + off, &nmi, sizeof(nmi));
    off += sizeof(nmi);

    long r = area_put_table(a, t, off);
    free(t);
    return r;
}

static long build_mcfg(AcpiArea *a)
{
    struct __attribute__((packed)) {
        AcpiHeader h;
        uint64_t reserved;
        McfgAllocation alloc;
    } t;

    memset(&t, 0, sizeof(t));
    header_init(&t.h, "MCFG", sizeof(t), 1);
    t.alloc = (McfgAllocation){.base = LAYOUT_PCI_ECAM_START, .segment = 0, .start_bus = 0, .end_bus = 255};
    return area_put_table(a, &t, sizeof(t));
}

int acpi_build_tables(GuestMemory *mem, const AcpiPlatform *p, uint64_t *rsdp, char *errbuf, size_t errlen)
{
    AcpiArea a = {0};
    AmlBuf dsdt = {0};
    uint64_t xsdt_entries[4];
    size_t n_xsdt = 0;
    long rsdp_off, facs_off, dsdt_off, fadt_off, off;
    int r = -ENOSPC;

    /* xAPIC ids are 8 bits and 0xff is the broadcast id. */
    if (p->max_vcpus == 0 || p->max_vcpus > 255 || p->boot_vcpus == 0 || p->boot_vcpus > p->max_vcpus) {
        snprintf(errbuf, errlen, "ACPI: cannot describe %u boot / %u max vCPUs (1 <= boot <= max <= 255)",
                 p->boot_vcpus, p->max_vcpus);
        return -EINVAL;
    }
    a.buf = calloc(1, ACPI_AREA_SIZE);
    if (!a.buf) {
        snprintf(errbuf, errlen, "ACPI: out of memory");
        return -ENOMEM;
    }

    rsdp_off = area_alloc(&a, sizeof(AcpiRsdp), 16);
    facs_off = area_alloc(&a, sizeof(AcpiFacs), 64); /* the spec wants 64-byte alignment */
    if (rsdp_off < 0 || facs_off < 0)
        goto full;
    AcpiFacs facs = {.signature = {'F', 'A', 'C', 'S'}, .length = sizeof(AcpiFacs), .version = 2};
    memcpy(a.buf + facs_off, &facs, sizeof(facs));

    r = build_dsdt(p, &dsdt);
    if (r < 0) {
        snprintf(errbuf, errlen, "ACPI: cannot build the DSDT: %s", strerror(-r));
        goto out;
    }
    r = -ENOSPC;
    dsdt_off = area_put_table(&a, dsdt.data, dsdt.len);
    if (dsdt_off < 0)
        goto full;

    AcpiFadt fadt;
    build_fadt(&fadt, LAYOUT_ACPI_START + (uint64_t)facs_off, LAYOUT_ACPI_START + (uint64_t)dsdt_off);
    fadt_off = area_put_table(&a, &fadt, sizeof(fadt));
    if (fadt_off < 0)
        goto full;
    xsdt_entries[n_xsdt++] = LAYOUT_ACPI_START + (uint64_t)fadt_off;

    off = build_madt(&a, p);
    if (off == AREA_NOMEM) {
        r = -ENOMEM;
        snprintf(errbuf, errlen, "ACPI: out of memory");
        goto out;
    }
    if (off < 0)
        goto full;
    xsdt_entries[n_xsdt++] = LAYOUT_ACPI_START + (uint64_t)off;

    if (p->pci) {
        off = build_mcfg(&a);
        if (off < 0)
            goto full;
        xsdt_entries[n_xsdt++] = LAYOUT_ACPI_START + (uint64_t)off;
    }

    struct __attribute__((packed)) {
        AcpiHeader h;
        uint64_t entries[4];
    } xsdt;
    size_t xsdt_len = sizeof(AcpiHeader) + n_xsdt * sizeof(uint64_t);
    memset(&xsdt, 0, sizeof(xsdt));
    header_init(&xsdt.h, "XSDT", (uint32_t)xsdt_len, 1);
    memcpy(xsdt.entries, xsdt_entries, n_xsdt * sizeof(uint64_t));
    off = area_put_table(&a, &xsdt, xsdt_len);
    if (off < 0)
        goto full;

    AcpiRsdp rp = {.signature = {'R', 'S', 'D', ' ', 'P', 'T', 'R', ' '},
                   .revision = 2,
                   .length = sizeof(AcpiRsdp),
                   .xsdt_address = LAYOUT_ACPI_START + (uint64_t)off};
    memcpy(rp.oem_id, ACPI_OEM_ID, 6);
    rp.checksum = checksum(&rp, 20);
    rp.extended_checksum = checksum(&rp, sizeof(rp));
    memcpy(a.buf + rsdp_off, &rp, sizeof(rp));

    /* The whole area, so stale tables from a previous boot cannot linger. */
    r = guest_memory_write(mem, LAYOUT_ACPI_START, a.buf, ACPI_AREA_SIZE);
    if (r < 0) {
        snprintf(errbuf, errlen, "ACPI: guest RAM does not cover [0x%llx, 0x%llx)",
                 (unsigned long long)LAYOUT_ACPI_START, (unsigned long long)LAYOUT_ACPI_END);
        goto out;
    }
    *rsdp = LAYOUT_ACPI_START + (uint64_t)rsdp_off;
    r = 0;
    goto out;
full:
    r = -ENOSPC;
    snprintf(errbuf, errlen, "ACPI: tables do not fit in [0x%llx, 0x%llx)",
             (unsigned long long)LAYOUT_ACPI_START, (unsigned long long)LAYOUT_ACPI_END);
out:
    aml_free(&dsdt);
    free(a.buf);
    return r;
}
