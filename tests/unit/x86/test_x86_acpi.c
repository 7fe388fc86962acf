/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ACPI tables: walk RSDP -> XSDT -> each table as a guest OS would, checking
 * signatures, lengths, checksums and that everything stays inside the ACPI
 * area; FADT fields; MADT entries for several boot/max vCPU counts; the DSDT
 * parsed down to its objects; the AML emitter's encodings. When iasl is
 * installed (acpica-tools), it disassembles the tables too
 * (VMM_TEST_ACPI_DUMP=dir keeps the binaries).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "acpi.h"
#include "aml.h"
#include "layout.h"
#include "x86_fixture.h"

typedef struct Tables {
    GuestMemory m;
    uint64_t rsdp;
    const uint8_t *xsdt, *fadt, *madt, *mcfg, *dsdt, *facs;
} Tables;

/* Host pointer to a guest range that must lie inside the ACPI area. */
static const uint8_t *acpi_ptr(const GuestMemory *m, uint64_t gpa, uint64_t len)
{
    assert_true(gpa >= LAYOUT_ACPI_START);
    assert_true(len <= LAYOUT_ACPI_END - gpa);
    const uint8_t *p = guest_memory_ptr(m, gpa, len);
    assert_non_null(p);
    return p;
}

static uint8_t sum8(const uint8_t *p, size_t len)
{
    uint8_t s = 0;
    for (size_t i = 0; i < len; i++)
        s = (uint8_t)(s + p[i]);
    return s;
}

/* A table by address: header sane, checksum zero, wholly in the area. */
static const uint8_t *table_at(const GuestMemory *m, uint64_t gpa, const char *sig)
{
    const uint8_t *h = acpi_ptr(m, gpa, 36);
    uint32_t len = get32(h + 4);
    assert_true(len >= 36);
    const uint8_t *t = acpi_ptr(m, gpa, len);
    if (sig)
        assert_memory_equal(t, sig, 4);
    assert_int_equal(sum8(t, len), 0);
    assert_memory_equal(t + 10, "VMM   ", 6);
    return t;
}

static void build_platform(Tables *t, const AcpiPlatform *p)
{
    char err[256] = "";

    memset(t, 0, sizeof(*t));
    test_mem_init(&t->m, 64 * MIB, 0);
    /* Garbage first: the builder must write every byte it relies on. */
    memset(t->m.regions[0].hva + LAYOUT_ACPI_START, 0xa5, LAYOUT_ACPI_END - LAYOUT_ACPI_START);
    int r = acpi_build_tables(&t->m, p, &t->rsdp, err, sizeof(err));
    if (r < 0)
        fail_msg("acpi_build_tables: %s", err);

    /* RSDP: v2, both checksums, 16-byte aligned in the BIOS area. */
    assert_int_equal(t->rsdp % 16, 0);
    const uint8_t *rp = acpi_ptr(&t->m, t->rsdp, 36);
    assert_memory_equal(rp, "RSD PTR ", 8);
    assert_int_equal(sum8(rp, 20), 0);
    assert_int_equal(rp[15], 2);
    assert_int_equal(get32(rp + 20), 36);
    assert_int_equal(sum8(rp, 36), 0);

    t->xsdt = table_at(&t->m, get64(rp + 24), "XSDT");
    uint32_t xlen = get32(t->xsdt + 4);
    assert_int_equal((xlen - 36) % 8, 0);
    for (uint32_t off = 36; off < xlen; off += 8) {
        uint64_t a = get64(t->xsdt + off);
        const uint8_t *tb = table_at(&t->m, a, NULL);
        if (!memcmp(tb, "FACP", 4)) {
            assert_null(t->fadt);
            t->fadt = tb;
        } else if (!memcmp(tb, "APIC", 4)) {
            assert_null(t->madt);
            t->madt = tb;
        } else if (!memcmp(tb, "MCFG", 4)) {
            assert_null(t->mcfg);
            t->mcfg = tb;
        } else {
            fail_msg("unexpected table %.4s in the XSDT", tb);
        }
    }
    assert_non_null(t->fadt);
    assert_non_null(t->madt);
    if (p->pci)
        assert_non_null(t->mcfg);
    else
        assert_null(t->mcfg);

    uint64_t dsdt = get64(t->fadt + 140);
    assert_int_equal(get32(t->fadt + 40), dsdt); /* 32-bit copy agrees */
    t->dsdt = table_at(&t->m, dsdt, "DSDT");
    assert_int_equal(t->dsdt[8], 2); /* 64-bit integers */
    uint32_t facs = get32(t->fadt + 36);
    assert_int_equal(get64(t->fadt + 132), 0);
    assert_int_equal(facs % 64, 0);
    t->facs = acpi_ptr(&t->m, facs, 64);
    assert_memory_equal(t->facs, "FACS", 4);
    assert_int_equal(get32(t->facs + 4), 64);
}

static void build(Tables *t, uint32_t boot, uint32_t max, bool serial, bool pvpanic, bool pci)
{
    AcpiPlatform p = {.boot_vcpus = boot, .max_vcpus = max, .serial = serial, .pvpanic = pvpanic, .pci = pci};
    build_platform(t, &p);
}

static void release(Tables *t)
{
    test_mem_free(&t->m);
}

static void test_fadt(void **state)
{
    (void)state;
    Tables t;
    build(&t, 1, 1, true, false, false);
    const uint8_t *f = t.fadt;
    assert_int_equal(get32(f + 4), 276);
    assert_int_equal(f[8], 6); /* revision */
    assert_int_equal(get16(f + 46), IRQ_ACPI_SCI);
    assert_int_equal(get32(f + 48), 0); /* SMI_CMD: always in ACPI mode */
    assert_int_equal(get32(f + 56), PORT_ACPI_PM1A_EVT);
    assert_int_equal(get32(f + 60), 0);
    assert_int_equal(get32(f + 64), PORT_ACPI_PM1A_CNT);
    assert_int_equal(get32(f + 68), 0);
    assert_int_equal(get32(f + 76), 0); /* no PM timer */
    assert_int_equal(f[88], 4);
    assert_int_equal(f[89], 2);
    uint16_t boot_arch = get16(f + 109);
    assert_true(boot_arch & 0x2);   /* 8042 */
    assert_true(boot_arch & 0x4);   /* no VGA */
    assert_false(boot_arch & 0x20); /* the CMOS RTC is there */
    uint32_t flags = get32(f + 112);
    assert_false(flags & (1u << 4));  /* fixed power button */
    assert_true(flags & (1u << 10));  /* RESET_REG_SUP */
    assert_false(flags & (1u << 20)); /* not hardware-reduced */
    /* RESET_REG: system I/O, 8 bits at 0xcf9, value 6. */
    assert_int_equal(f[116], 1);
    assert_int_equal(f[117], 8);
    assert_int_equal(f[118], 0);
    assert_int_equal(f[119], 1);
    assert_int_equal(get64(f + 120), PORT_ACPI_RESET);
    assert_int_equal(f[128], ACPI_RESET_VALUE);
    release(&t);
}

typedef struct MadtCount {
    int lapic, enabled, online_capable, ioapic, overrides, nmi;
} MadtCount;

static MadtCount walk_madt(const uint8_t *madt)
{
    MadtCount c = {0};
    uint32_t len = get32(madt + 4);
    assert_int_equal(madt[8], 5); /* revision with the online-capable flag */
    assert_int_equal(get32(madt + 36), LAYOUT_LAPIC_START);
    assert_int_equal(get32(madt + 40), 1); /* PCAT_COMPAT */
    for (uint32_t off = 44; off < len;) {
        const uint8_t *e = madt + off;
        assert_true(len - off >= 2);
        assert_true(e[1] >= 2 && e[1] <= len - off);
        switch (e[0]) {
        case 0:
            assert_int_equal(e[1], 8);
            assert_int_equal(e[2], c.lapic); /* UID */
            assert_int_equal(e[3], c.lapic); /* APIC id */
            if (get32(e + 4) == 1)
                c.enabled++;
            else if (get32(e + 4) == 2)
                c.online_capable++;
            else
                fail_msg("LAPIC flags %u", get32(e + 4));
            c.lapic++;
            break;
        case 1:
            assert_int_equal(e[1], 12);
            assert_int_equal(e[2], 0);
            assert_int_equal(get32(e + 4), LAYOUT_IOAPIC_START);
            assert_int_equal(get32(e + 8), 0);
            c.ioapic++;
            break;
        case 2:
            assert_int_equal(e[1], 10);
            assert_int_equal(e[2], 0); /* ISA */
            if (e[3] == 0) {
                assert_int_equal(get32(e + 4), 2);
            } else {
                assert_int_equal(e[3], IRQ_ACPI_SCI);
                assert_int_equal(get32(e + 4), IRQ_ACPI_SCI);
                assert_int_equal(get16(e + 8), 0xd); /* level, active high */
            }
            c.overrides++;
            break;
        case 4:
            assert_int_equal(e[1], 6);
            assert_int_equal(e[5], 1); /* LINT1 */
            c.nmi++;
            break;
        default:
            fail_msg("unexpected MADT entry type %u", e[0]);
        }
        off += e[1];
    }
    return c;
}

static void test_madt_counts(void **state)
{
    (void)state;
    static const uint32_t cases[][2] = {{1, 1}, {1, 2}, {2, 2}, {2, 8}, {4, 4}, {1, 255}, {255, 255}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        Tables t;
        build(&t, cases[i][0], cases[i][1], i % 2, i % 3 == 0, i % 2 == 0);
        MadtCount c = walk_madt(t.madt);
        assert_int_equal(c.lapic, cases[i][1]);
        assert_int_equal(c.enabled, cases[i][0]);
        assert_int_equal(c.online_capable, cases[i][1] - cases[i][0]);
        assert_int_equal(c.ioapic, 1);
        assert_int_equal(c.overrides, 2);
        assert_int_equal(c.nmi, 1);
        release(&t);
    }
}

static void test_mcfg(void **state)
{
    (void)state;
    Tables t;
    build(&t, 2, 2, true, true, true);
    assert_int_equal(get32(t.mcfg + 4), 60);
    assert_int_equal(get64(t.mcfg + 44), LAYOUT_PCI_ECAM_START);
    assert_int_equal(get16(t.mcfg + 52), 0);
    assert_int_equal(t.mcfg[54], 0);
    assert_int_equal(t.mcfg[55], 255);
    /* ECAM covers 256 buses x 1 MiB exactly. */
    assert_int_equal(LAYOUT_PCI_ECAM_SIZE, 256 * MIB);
    release(&t);
}

/* ------------------------------------------------------------- DSDT */

static const uint8_t *find_bytes(const uint8_t *hay, size_t n, const void *needle, size_t m)
{
    for (size_t i = 0; m <= n && i <= n - m; i++)
        if (!memcmp(hay + i, needle, m))
            return hay + i;
    return NULL;
}

/* Decodes a PkgLength; returns its value and sets *n to its byte count. */
static size_t pkg_length(const uint8_t *p, size_t *n)
{
    size_t extra = p[0] >> 6;
    size_t v = extra ? (p[0] & 0x0f) : (p[0] & 0x3f);
    for (size_t i = 0; i < extra; i++)
        v |= (size_t)p[1 + i] << (4 + 8 * i);
    *n = extra + 1;
    return v;
}

static void test_dsdt_contents(void **state)
{
    (void)state;
    static const uint8_t s5[] = {
        0x08, '\\', '_', 'S', '5', '_', 0x12, 0x08, 0x04, 0x0a, ACPI_S5_SLP_TYP, 0x0a, ACPI_S5_SLP_TYP,
        0x00, 0x00};
    static const uint8_t com1_io[] = {0x47, 0x01, 0xf8, 0x03, 0xf8, 0x03, 0x01, 0x08};
    static const uint8_t com1_irq[] = {0x22, 1 << IRQ_COM1, 0x00};
    static const uint8_t pnp0501[] = {0x0c, 0x41, 0xd0, 0x05, 0x01};
    static const uint8_t pnp0a08[] = {0x0c, 0x41, 0xd0, 0x0a, 0x08};
    static const uint8_t pnp0a03[] = {0x0c, 0x41, 0xd0, 0x0a, 0x03};
    static const uint8_t pvpanic_io[] = {0x47, 0x01, 0x05, 0x05, 0x05, 0x05, 0x01, 0x01};
    static const uint8_t mmio[] = {0x87, 0x17, 0x00, 0x00, 0x0c, 0x01, 0,    0,    0,
                                   0,    0x00, 0x00, 0x00, 0xc0, 0xff, 0xff, 0xff, 0xdf};
    /* Package(4){0x0003FFFF, Zero, Zero, 0x13} */
    static const uint8_t prt_slot3[] = {0x12, 0x0b, 0x04, 0x0c, 0xff, 0xff, 0x03, 0x00, 0x00, 0x00, 0x0a, 0x13};
    static const uint8_t ecam[] = {0x86, 0x09, 0x00, 0x01, 0x00, 0x00, 0x00, 0xe0, 0x00, 0x00, 0x00, 0x10};

    for (int mask = 0; mask < 8; mask++) {
        bool serial = mask & 1, pvpanic = mask & 2, pci = mask & 4;
        Tables t;
        build(&t, 1, 2, serial, pvpanic, pci);
        const uint8_t *d = t.dsdt + 36;
        size_t n = get32(t.dsdt + 4) - 36;

        /* Top level: Name(\_S5_, Package(4){5, 5, 0, 0}) then Scope(\_SB_)
         * whose PkgLength ends exactly at the end of the table. */
        assert_true(n > sizeof(s5));
        assert_memory_equal(d, s5, sizeof(s5));
        const uint8_t *sc = d + sizeof(s5);
        assert_int_equal(sc[0], 0x10);
        size_t ln, len = pkg_length(sc + 1, &ln);
        assert_int_equal(1 + len, n - sizeof(s5));
        assert_memory_equal(sc + 1 + ln, "\\_SB_", 5);

        assert_int_equal(find_bytes(d, n, "COM1", 4) != NULL, serial);
        assert_int_equal(find_bytes(d, n, pnp0501, sizeof(pnp0501)) != NULL, serial);
        assert_int_equal(find_bytes(d, n, com1_io, sizeof(com1_io)) != NULL, serial);
        assert_int_equal(find_bytes(d, n, com1_irq, sizeof(com1_irq)) != NULL, serial);
        assert_int_equal(find_bytes(d, n, "\x0dQEMU0001", 10) != NULL, pvpanic);
        assert_int_equal(find_bytes(d, n, pvpanic_io, sizeof(pvpanic_io)) != NULL, pvpanic);
        assert_int_equal(find_bytes(d, n, "PCI0", 4) != NULL, pci);
        assert_int_equal(find_bytes(d, n, pnp0a08, sizeof(pnp0a08)) != NULL, pci);
        assert_int_equal(find_bytes(d, n, pnp0a03, sizeof(pnp0a03)) != NULL, pci);
        assert_int_equal(find_bytes(d, n, mmio, sizeof(mmio)) != NULL, pci);
        assert_int_equal(find_bytes(d, n, ecam, sizeof(ecam)) != NULL, pci);
        /* _PRT: slot 3's INTA# -> GSI 19, as pci_slot_intx_gsi() wires it. */
        assert_int_equal(find_bytes(d, n, "_PRT", 4) != NULL, pci);
        assert_int_equal(find_bytes(d, n, prt_slot3, sizeof(prt_slot3)) != NULL, pci);
        release(&t);
    }
}

/* Processor devices and the CPU hotplug controller's region appear only
 * when vCPUs can be added (max above boot), one device per possible vCPU,
 * each with the MADT entry of its vCPU enabled as _MAT and an _EJ0 (the PCI
 * slots have theirs: 31), and the GED reads the removal requests. */
static void test_dsdt_cpu_hotplug(void **state)
{
    (void)state;
    static const uint8_t hid[] = "\x0d" "ACPI0007";
    static const uint8_t mat2[] = {0x11, 0x0b, 0x0a, 0x08, 0, 8, 2, 2, 1, 0, 0, 0}; /* Buffer(8) {...} */
    static const uint32_t cases[][2] = {{1, 1}, {2, 2}, {1, 3}, {2, 4}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        Tables t;
        build(&t, cases[i][0], cases[i][1], true, false, true);
        const uint8_t *d = t.dsdt + 36;
        size_t n = get32(t.dsdt + 4) - 36;
        bool hotplug = cases[i][1] > cases[i][0];
        size_t devices = 0;
        for (const uint8_t *p = d; (p = find_bytes(p, n - (size_t)(p - d), hid, sizeof(hid))); p++)
            devices++;
        assert_int_equal(devices, hotplug ? cases[i][1] : 0);
        size_t ej0 = 0;
        for (const uint8_t *p = d; (p = find_bytes(p, n - (size_t)(p - d), "_EJ0", 4)); p++)
            ej0++;
        assert_int_equal(ej0, 31 + (hotplug ? cases[i][1] : 0));
        assert_int_equal(find_bytes(d, n, "CPST", 4) != NULL, hotplug);
        /* CRM0 twice (the field and the _EVT's read), CEJ0 in the field and each _EJ0. */
        size_t crm = 0, cej = 0;
        for (const uint8_t *p = d; (p = find_bytes(p, n - (size_t)(p - d), "CRM0", 4)); p++)
            crm++;
        for (const uint8_t *p = d; (p = find_bytes(p, n - (size_t)(p - d), "CEJ0", 4)); p++)
            cej++;
        assert_int_equal(crm, hotplug ? 2 : 0);
        assert_int_equal(cej, hotplug ? 1 + cases[i][1] : 0);
        assert_int_equal(find_bytes(d, n, mat2, sizeof(mat2)) != NULL, hotplug && cases[i][1] > 2);
        /* The GED is there either way: PCI hotplug uses it. */
        assert_non_null(find_bytes(d, n, "GED0", 4));
        release(&t);
    }
}

/* With hot-pluggable memory: one PNP0C80 device per slot, each with its
 * slot's range as a QWordMemory _CRS, the controller's MHST region, and the
 * GED reading MIN0. */
static void test_dsdt_memory_hotplug(void **state)
{
    (void)state;
    AcpiPlatform p = {.boot_vcpus = 1, .max_vcpus = 1, .pci = true, .mem_hotplug_base = 4 * GIB,
                      .mem_slot_size = 128 * MIB, .mem_slots = 4};
    Tables t;
    build_platform(&t, &p);
    const uint8_t *d = t.dsdt + 36;
    size_t n = get32(t.dsdt + 4) - 36;
    static const uint8_t pnp0c80[] = {0x0c, 0x41, 0xd0, 0x0c, 0x80}; /* DWordPrefix, EISAID("PNP0C80") */
    size_t devices = 0;
    for (const uint8_t *q = d; (q = find_bytes(q, n - (size_t)(q - d), pnp0c80, sizeof(pnp0c80))); q++)
        devices++;
    assert_int_equal(devices, 4);
    /* Slot 2: [4 GiB + 256 MiB, + 128 MiB). */
    uint8_t qword[46] = {0x8a, 43, 0, 0, 0x0d, 0x03};
    uint64_t min = 4 * GIB + 256 * MIB, max = min + 128 * MIB - 1, len = 128 * MIB;
    memcpy(qword + 14, &min, 8);
    memcpy(qword + 22, &max, 8);
    memcpy(qword + 38, &len, 8);
    assert_non_null(find_bytes(d, n, qword, sizeof(qword)));
    assert_non_null(find_bytes(d, n, "MHST", 4));
    assert_non_null(find_bytes(d, n, "M003", 4));
    assert_null(find_bytes(d, n, "M004", 4));
    size_t min0 = 0;
    for (const uint8_t *q = d; (q = find_bytes(q, n - (size_t)(q - d), "MIN0", 4)); q++)
        min0++;
    assert_int_equal(min0, 2); /* the field and the _EVT's read */
    release(&t);

    /* The most of everything still fits the tables' area. */
    AcpiPlatform most = {.boot_vcpus = 1, .max_vcpus = 255, .serial = true, .pvpanic = true, .pci = true,
                         .mem_hotplug_base = 4 * GIB, .mem_slot_size = 128 * MIB, .mem_slots = 256};
    build_platform(&t, &most);
    printf("DSDT with 255 vCPUs and 256 memory slots: %u bytes\n", get32(t.dsdt + 4));
    release(&t);
}

/* iasl (acpica-tools), when installed, must disassemble every table without
 * complaint: an independent check of the AML and the table layouts. */
static void test_iasl_disassembles(void **state)
{
    (void)state;
    if (system("command -v iasl >/dev/null 2>&1") != 0)
        skip();
    char dir[] = "/tmp/vmm-acpi-XXXXXX";
    assert_non_null(mkdtemp(dir));
    Tables t;
    /* Everything at once: vCPU and memory hotplug, COM1, pvpanic, PCI. */
    AcpiPlatform p = {.boot_vcpus = 2, .max_vcpus = 4, .serial = true, .pvpanic = true, .pci = true,
                      .mem_hotplug_base = 4 * GIB, .mem_slot_size = 128 * MIB, .mem_slots = 3};
    build_platform(&t, &p);
    const uint8_t *tables[] = {t.xsdt, t.fadt, t.madt, t.mcfg, t.dsdt};
    for (size_t i = 0; i < sizeof(tables) / sizeof(tables[0]); i++) {
        char path[128], cmd[512];
        snprintf(path, sizeof(path), "%s/%.4s.dat", dir, tables[i]);
        FILE *f = fopen(path, "wb");
        assert_non_null(f);
        assert_int_equal(fwrite(tables[i], get32(tables[i] + 4), 1, f), 1);
        fclose(f);
        snprintf(cmd, sizeof(cmd),
                 "cd %s && iasl -d %.4s.dat >%.4s.log 2>&1 && ! grep -qiE 'error|warning' %.4s.dsl", dir,
                 tables[i], tables[i], tables[i]);
        if (system(cmd) != 0)
            fail_msg("iasl rejected %.4s (see %s)", tables[i], dir);
    }
    release(&t);
    const char *keep = getenv("VMM_TEST_ACPI_DUMP");
    char cmd[256];
    if (keep)
        snprintf(cmd, sizeof(cmd), "rm -rf '%s' && mv '%s' '%s'", keep, dir, keep);
    else
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

static void test_acpi_errors(void **state)
{
    (void)state;
    static const uint32_t bad[][2] = {{0, 1}, {1, 0}, {2, 1}, {1, 256}, {0, 0}, {256, 256}};
    GuestMemory m;
    uint64_t rsdp = 0x1234;
    char err[256];

    test_mem_init(&m, 64 * MIB, 0);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        AcpiPlatform p = {.boot_vcpus = bad[i][0], .max_vcpus = bad[i][1]};
        assert_int_equal(acpi_build_tables(&m, &p, &rsdp, err, sizeof(err)), -EINVAL);
        assert_non_null(strstr(err, "vCPUs"));
        assert_int_equal(rsdp, 0x1234);
    }
    test_mem_free(&m);

    /* RAM that does not reach the BIOS area. */
    test_mem_init(&m, 512 * 1024, 0);
    AcpiPlatform p = {.boot_vcpus = 1, .max_vcpus = 1, .serial = true, .pci = true};
    assert_true(acpi_build_tables(&m, &p, &rsdp, err, sizeof(err)) < 0);
    assert_non_null(strstr(err, "ACPI"));
    assert_int_equal(rsdp, 0x1234);
    test_mem_free(&m);
}

/* -------------------------------------------------------------- AML */

static void test_aml_integers(void **state)
{
    (void)state;
    static const struct {
        uint64_t v;
        size_t n;
        uint8_t bytes[9];
    } cases[] = {
        {0, 1, {0x00}},
        {1, 1, {0x01}},
        {2, 2, {0x0a, 0x02}},
        {0xff, 2, {0x0a, 0xff}},
        {0x100, 3, {0x0b, 0x00, 0x01}},
        {0x12345678, 5, {0x0c, 0x78, 0x56, 0x34, 0x12}},
        {0x100000000ULL, 9, {0x0e, 0, 0, 0, 0, 1, 0, 0, 0}},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        AmlBuf b = {0};
        aml_integer(&b, cases[i].v);
        assert_false(aml_failed(&b));
        assert_int_equal(b.len, cases[i].n);
        assert_memory_equal(b.data, cases[i].bytes, cases[i].n);
        aml_free(&b);
    }
}

static void test_aml_names(void **state)
{
    (void)state;
    static const struct {
        const char *path;
        size_t n;
        const char *bytes;
    } ok[] = {
        {"_S5", 4, "_S5_"},
        {"\\_SB", 5, "\\_SB_"},
        {"\\_SB.PCI0", 10, "\\\x2e_SB_PCI0"},
        {"\\_SB.PCI0.S08", 15, "\\\x2f\x03_SB_PCI0S08_"},
        {"A", 4, "A___"},
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        AmlBuf b = {0};
        aml_namestring(&b, ok[i].path);
        assert_false(aml_failed(&b));
        assert_int_equal(b.len, ok[i].n);
        assert_memory_equal(b.data, ok[i].bytes, ok[i].n);
        aml_free(&b);
    }
    static const char *bad[] = {"TOOLONG", "a", "1ABC", "_SB..X", "_SB.", "A-B", "\\\\X"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        AmlBuf b = {0};
        aml_namestring(&b, bad[i]);
        if (!aml_failed(&b))
            fail_msg("'%s' accepted", bad[i]);
        aml_free(&b);
    }
    AmlBuf b = {0};
    aml_eisaid(&b, "PNP0A03");
    assert_int_equal(b.len, 5);
    assert_memory_equal(b.data, "\x0c\x41\xd0\x0a\x03", 5);
    aml_eisaid(&b, "pnp0a03");
    assert_true(aml_failed(&b));
    aml_free(&b);
    aml_eisaid(&b, "PNP0A0");
    assert_true(aml_failed(&b));
    aml_free(&b);
    aml_string(&b, "QEMU0001");
    assert_int_equal(b.len, 10);
    assert_memory_equal(b.data, "\x0dQEMU0001", 10);
    aml_free(&b);
}

/* PkgLength at every encoding boundary: the package's body length and
 * the encoded length (which counts its own bytes) must agree. */
static void test_aml_pkg_length(void **state)
{
    (void)state;
    static const size_t bodies[] = {0,    1,    61,      62,      63,      64,       4093,    4094,
                                    4095, 4096, 0xffffc, 0xffffd, 0xfffff, 0x100000, 0x200000};
    uint8_t *fill = calloc(1, 0x200000);
    assert_non_null(fill);
    for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
        AmlBuf b = {0};
        size_t m = aml_scope_begin(&b, "ABCD");
        aml_bytes(&b, fill, bodies[i]);
        aml_end(&b, m);
        assert_false(aml_failed(&b));
        assert_int_equal(b.data[0], 0x10);
        size_t ln, v = pkg_length(b.data + 1, &ln);
        assert_int_equal(v, b.len - 1);
        assert_int_equal(v, ln + 4 + bodies[i]);
        assert_memory_equal(b.data + 1 + ln, "ABCD", 4);
        size_t want = v < 0x40 ? 1 : v < 0x1000 ? 2 : v < 0x100000 ? 3 : 4;
        assert_int_equal(ln, want);
        aml_free(&b);
    }
    free(fill);
}

static void test_aml_resources(void **state)
{
    (void)state;
    AmlBuf r = {0}, b = {0};
    aml_res_io(&r, 0x3f8, 8);
    aml_res_irq(&r, 4);
    aml_resource_template(&b, &r);
    static const uint8_t want[] = {0x11, 0x10, 0x0a, 0x0d, 0x47, 0x01, 0xf8, 0x03, 0xf8,
                                   0x03, 0x01, 0x08, 0x22, 0x10, 0x00, 0x79, 0x00};
    assert_int_equal(b.len, sizeof(want));
    assert_memory_equal(b.data, want, sizeof(want));
    aml_free(&b);
    r.len = 0;
    aml_res_bus_range(&r, 0, 0xff);
    static const uint8_t bus[] = {0x88, 0x0d, 0x00, 0x02, 0x0c, 0x00, 0,    0,
                                  0x00, 0x00, 0xff, 0x00, 0,    0,    0x00, 0x01};
    assert_int_equal(r.len, sizeof(bus));
    assert_memory_equal(r.data, bus, sizeof(bus));
    aml_res_irq(&r, 16);
    assert_true(aml_failed(&r));
    aml_resource_template(&b, &r);
    assert_true(aml_failed(&b));
    aml_free(&b);
    aml_free(&r);
}

/* The hotplug statements, byte for byte as ACPI 6.x chapter 20 encodes them. */
static void test_aml_methods(void **state)
{
    (void)state;
    AmlBuf b = {0};
    /* Method(_EJ0, 1) { Store(4, \B0EJ) } */
    size_t m = aml_method_begin(&b, "_EJ0", 1);
    aml_store(&b);
    aml_integer(&b, 4);
    aml_namestring(&b, "\\B0EJ");
    aml_end(&b, m);
    assert_false(aml_failed(&b));
    assert_int_equal(b.len, 15);
    assert_memory_equal(b.data, "\x14\x0e_EJ0\x01\x70\x0a\x04\\B0EJ", 15);
    aml_free(&b);

    /* If (And(Local1, 2, NullName)) { Notify(S001, 3) } */
    m = aml_if_begin(&b);
    aml_and(&b);
    aml_local(&b, 1);
    aml_integer(&b, 2);
    aml_no_target(&b);
    aml_notify(&b);
    aml_namestring(&b, "S001");
    aml_integer(&b, 3);
    aml_end(&b, m);
    assert_false(aml_failed(&b));
    assert_int_equal(b.len, 14);
    assert_memory_equal(b.data, "\xa0\x0d\x7b\x61\x0a\x02\x00\x86S001\x0a\x03", 14);
    aml_free(&b);

    /* OperationRegion(PCST, SystemIO, 0xae00, 12) and its Field. */
    static const AmlFieldUnit units[] = {{"PCIU", 32}, {"BIG", 100}};
    aml_operation_region(&b, "PCST", AML_REGION_SYSTEM_IO, 0xae00, 12);
    aml_field_dword(&b, "PCST", units, 2);
    assert_false(aml_failed(&b));
    static const uint8_t want[] = {0x5b, 0x80, 'P', 'C', 'S', 'T', 0x01, 0x0b, 0x00, 0xae, 0x0a, 0x0c,
                                   0x5b, 0x81, 0x11, 'P', 'C', 'S', 'T', 0x43, 'P', 'C', 'I', 'U', 0x20,
                                   'B', 'I', 'G', '_', 0x44, 0x06};
    assert_int_equal(b.len, sizeof(want));
    assert_memory_equal(b.data, want, sizeof(want));
    aml_free(&b);

    /* Hostile arguments fail the buffer instead of emitting garbage. */
    static const AmlFieldUnit bad_units[][1] = {{{"TOOLONG", 8}}, {{"1AB", 8}}, {{"PCIU", 0}}, {{"", 8}}};
    for (size_t i = 0; i < sizeof(bad_units) / sizeof(bad_units[0]); i++) {
        aml_field_dword(&b, "PCST", bad_units[i], 1);
        assert_true(aml_failed(&b));
        aml_free(&b);
    }
    aml_local(&b, 8);
    assert_true(aml_failed(&b));
    aml_free(&b);
    aml_arg(&b, 7);
    assert_true(aml_failed(&b));
    aml_free(&b);
    aml_method_begin(&b, "_EVT", 8);
    assert_true(aml_failed(&b));
    aml_free(&b);

    /* Interrupt(ResourceConsumer, Edge, ActiveHigh, Exclusive) {5} */
    AmlBuf r = {0};
    aml_res_interrupt_edge(&r, 5);
    assert_int_equal(r.len, 9);
    assert_memory_equal(r.data, "\x89\x06\x00\x03\x01\x05\x00\x00\x00", 9);
    aml_free(&r);
}

/* The DSDT has a hotplug slot per device slot and the GED that notifies them. */
static void test_dsdt_hotplug(void **state)
{
    (void)state;
    Tables t;
    build(&t, 1, 1, false, false, true);
    const uint8_t *d = t.dsdt;
    uint32_t n = get32(d + 4);
    assert_non_null(find_bytes(d, n, "ACPI0013", 8));
    assert_non_null(find_bytes(d, n, "_EVT", 4));
    assert_non_null(find_bytes(d, n, "S001", 4));
    assert_non_null(find_bytes(d, n, "S031", 4));
    assert_null(find_bytes(d, n, "S000", 4)); /* the host bridge is not a slot */
    /* OperationRegion(PCST, SystemIO, 0xae00, 12) */
    assert_non_null(find_bytes(d, n, "\x5b\x80PCST\x01\x0b\x00\xae\x0a\x0c", 12));
    release(&t);
    build(&t, 1, 1, false, false, false);
    assert_null(find_bytes(t.dsdt, get32(t.dsdt + 4), "ACPI0013", 8));
    release(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fadt),
        cmocka_unit_test(test_madt_counts),
        cmocka_unit_test(test_mcfg),
        cmocka_unit_test(test_dsdt_contents),
        cmocka_unit_test(test_dsdt_cpu_hotplug),
        cmocka_unit_test(test_dsdt_memory_hotplug),
        cmocka_unit_test(test_iasl_disassembles),
        cmocka_unit_test(test_acpi_errors),
        cmocka_unit_test(test_aml_integers),
        cmocka_unit_test(test_aml_names),
        cmocka_unit_test(test_aml_pkg_length),
        cmocka_unit_test(test_aml_resources),
        cmocka_unit_test(test_aml_methods),
        cmocka_unit_test(test_dsdt_hotplug),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
