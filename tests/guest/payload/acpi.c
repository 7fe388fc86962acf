/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ACPI table walker: RSDP (from the loader or the BIOS-area scan), XSDT or
 * RSDT, every table's checksum, and the facts the tests need from the FADT,
 * the DSDT (_S5) and the MADT. Offsets from the ACPI 6.x specification.
 */
#include "payload.h"

struct acpi_info acpi;

#define SDT_HEADER_LEN 36
/* Generous: our tables are a few KiB; a wild length must not walk memory. */
#define SDT_MAX_LEN (1u << 20)

#define RSDP_V1_LEN   20
#define RSDP_REVISION 15
#define RSDP_RSDT     16
#define RSDP_LENGTH   20
#define RSDP_XSDT     24

#define FADT_FACS         36
#define FADT_DSDT         40
#define FADT_SCI_INT      46
#define FADT_SMI_CMD      48
#define FADT_ACPI_ENABLE  52
#define FADT_PM1A_EVT_BLK 56
#define FADT_PM1A_CNT_BLK 64
#define FADT_PM1_EVT_LEN  88
#define FADT_FLAGS        112
#define FADT_RESET_REG    116 /* GAS: space id, bit width, bit offset, access size, address */
#define FADT_RESET_VALUE  128
#define FADT_X_DSDT       140

#define MADT_LAPIC_ADDR     36
#define MADT_ENTRIES        44
#define MADT_LAPIC          0
#define MADT_IOAPIC         1
#define MADT_ISO            2
#define MADT_X2APIC         9
#define MADT_ENABLED        1u
#define MADT_ONLINE_CAPABLE 2u

#define BIOS_AREA_START  0xe0000
#define BIOS_AREA_END    0x100000
#define BDA_EBDA_SEGMENT 0x40e

static bool strict;

static void problem(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void problem(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    if (strict) {
        print("FAIL %s: ", test_name);
        test_failures++;
    } else {
        print("INFO acpi: ");
    }
    vprint(fmt, ap);
    print("\n");
    va_end(ap);
}

static const uint8_t *ptr(uint64_t addr)
{
    return (const uint8_t *)(uintptr_t)addr;
}

static uint32_t get32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, sizeof(v));
    return v;
}

static uint64_t get64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, sizeof(v));
    return v;
}

static uint8_t sum(const uint8_t *p, uint32_t len)
{
    uint8_t s = 0;
    /* Eight bytes per step: this loop is the biggest CPL0 cost of the boot
     * test, and emulated instructions are what cost. */
    uint32_t i = 0;
    for (; i + 8 <= len; i += 8) {
        uint64_t w = get64(p + i);
        w = (w & 0x00ff00ff00ff00ffULL) + ((w >> 8) & 0x00ff00ff00ff00ffULL);
        w = (w & 0x0000ffff0000ffffULL) + ((w >> 16) & 0x0000ffff0000ffffULL);
        w = (w & 0xffffffffULL) + (w >> 32);
        s = (uint8_t)(s + (uint8_t)w);
    }
    for (; i < len; i++)
        s = (uint8_t)(s + p[i]);
    return s;
}

static bool addr_ok(uint64_t addr, uint64_t len)
{
    return addr && addr + len > addr && addr + len <= 0x100000000ULL;
}

static bool rsdp_valid(uint64_t addr)
{
    const uint8_t *p = ptr(addr);
    if (memcmp(p, "RSD PTR ", 8) != 0 || sum(p, RSDP_V1_LEN) != 0)
        return false;
    if (p[RSDP_REVISION] >= 2) {
        uint32_t len = get32(p + RSDP_LENGTH);
        if (len < 36 || len > 4096 || sum(p, len) != 0)
            return false;
    }
    return true;
}

static uint64_t rsdp_scan(uint64_t start, uint64_t end)
{
    for (uint64_t a = start; a + RSDP_V1_LEN <= end; a += 16)
        if (get64(ptr(a)) == 0x2052545020445352ULL /* "RSD PTR " */ && rsdp_valid(a))
            return a;
    return 0;
}

/* Checks a table's header and checksum; returns its length or 0. */
static uint32_t table_check(uint64_t addr, const char *what)
{
    if (!addr_ok(addr, SDT_HEADER_LEN)) {
        problem("%s at 0x%lx is outside the low 4 GiB", what, addr);
        return 0;
    }
    const uint8_t *t = ptr(addr);
    uint32_t len = get32(t + 4);
    if (len < SDT_HEADER_LEN || len > SDT_MAX_LEN || !addr_ok(addr, len)) {
        problem("%s at 0x%lx has a bad length %u", what, addr, len);
        return 0;
    }
    if (sum(t, len) != 0) {
        problem("%s (%c%c%c%c) at 0x%lx: checksum does not add up to 0", what, t[0], t[1], t[2], t[3], addr);
        acpi.checksum_errors = true;
    }
    return len;
}

/* Name(_S5, Package() { SLP_TYPa, ... }): the first element's value. */
static void parse_s5(const uint8_t *dsdt, uint32_t len)
{
    for (uint32_t i = SDT_HEADER_LEN; i + 8 < len; i++) {
        if (memcmp(dsdt + i, "_S5_", 4) != 0 || dsdt[i + 4] != 0x12 /* PackageOp */)
            continue;
        uint32_t j = i + 5;
        j += 1 + (dsdt[j] >> 6); /* PkgLength: lead byte + its follow-on bytes */
        j += 1;                  /* NumElements */
        if (j + 2 >= len)
            return;
        switch (dsdt[j]) {
        case 0x00: /* ZeroOp */
            acpi.s5_slp_typ = 0;
            break;
        case 0x01: /* OneOp */
            acpi.s5_slp_typ = 1;
            break;
        case 0x0a: /* BytePrefix */
            acpi.s5_slp_typ = dsdt[j + 1];
            break;
        default:
            break;
        }
        return;
    }
}

static void parse_fadt(const uint8_t *t, uint32_t len)
{
    /* ACPI 1.0's FADT ends after the flags (QEMU's pc machine has one). */
    if (len < FADT_FLAGS + 4) {
        problem("FADT too short (%u bytes)", len);
        return;
    }
    acpi.have_fadt = true;
    acpi.sci_irq = (uint16_t)(t[FADT_SCI_INT] | t[FADT_SCI_INT + 1] << 8);
    acpi.smi_cmd = get32(t + FADT_SMI_CMD);
    acpi.acpi_enable = t[FADT_ACPI_ENABLE];
    acpi.pm1a_evt = get32(t + FADT_PM1A_EVT_BLK);
    acpi.pm1a_cnt = get32(t + FADT_PM1A_CNT_BLK);
    acpi.pm1_evt_len = t[FADT_PM1_EVT_LEN];
    acpi.fadt_flags = get32(t + FADT_FLAGS);
    if (len > FADT_RESET_VALUE) {
        acpi.reset_space = t[FADT_RESET_REG];
        acpi.reset_addr = get64(t + FADT_RESET_REG + 4);
        acpi.reset_value = t[FADT_RESET_VALUE];
    }

    uint64_t dsdt = get32(t + FADT_DSDT);
    if (len >= FADT_X_DSDT + 8 && get64(t + FADT_X_DSDT))
        dsdt = get64(t + FADT_X_DSDT);
    if (!dsdt) {
        problem("FADT has no DSDT");
        return;
    }
    uint32_t dlen = table_check(dsdt, "DSDT");
    if (dlen) {
        if (memcmp(ptr(dsdt), "DSDT", 4) != 0)
            problem("FADT's DSDT pointer 0x%lx does not point at a DSDT", dsdt);
        parse_s5(ptr(dsdt), dlen);
    }
    uint64_t facs = get32(t + FADT_FACS);
    if (facs && addr_ok(facs, 64) && memcmp(ptr(facs), "FACS", 4) != 0)
        problem("FADT's FACS pointer 0x%lx does not point at a FACS", facs);
}

static void parse_madt(const uint8_t *t, uint32_t len)
{
    acpi.have_madt = true;
    acpi.lapic_addr = get32(t + MADT_LAPIC_ADDR);
    for (uint32_t off = MADT_ENTRIES; off + 2 <= len;) {
        uint8_t type = t[off], elen = t[off + 1];
        if (elen < 2 || off + elen > len) {
            problem("MADT entry at offset %u has a bad length %u", off, elen);
            return;
        }
        const uint8_t *e = t + off;
        if ((type == MADT_LAPIC && elen >= 8) || (type == MADT_X2APIC && elen >= 16)) {
            uint32_t flags = get32(e + (type == MADT_LAPIC ? 4 : 8));
            if (flags & (MADT_ENABLED | MADT_ONLINE_CAPABLE))
                acpi.cpus_listed++;
            if (flags & MADT_ENABLED)
                acpi.cpus_enabled++;
        } else if (type == MADT_IOAPIC && elen >= 12) {
            if (acpi.n_ioapics++ == 0) {
                acpi.ioapic_addr = get32(e + 4);
                acpi.ioapic_gsi_base = get32(e + 8);
            }
        } else if (type == MADT_ISO && elen >= 10) {
            uint8_t src = e[3];
            if (src < 16) {
                acpi.iso_gsi[src] = (int)get32(e + 4);
                acpi.iso_flags[src] = (uint16_t)(e[8] | e[9] << 8);
            }
        }
        off += elen;
    }
}

bool acpi_init(bool strict_checks)
{
    static bool done, found;

    /* Once per boot: the tables do not change, and counts must not double. */
    if (done)
        return found;
    done = true;
    strict = strict_checks;
    acpi.s5_slp_typ = -1;
    for (unsigned i = 0; i < 16; i++)
        acpi.iso_gsi[i] = -1;

    uint64_t rsdp = 0;
    if (boot.rsdp_addr) {
        if (addr_ok(boot.rsdp_addr, 36) && rsdp_valid(boot.rsdp_addr)) {
            rsdp = boot.rsdp_addr;
            acpi.rsdp_from_loader = true;
        } else {
            problem("the loader's RSDP address 0x%lx holds no valid RSDP", boot.rsdp_addr);
        }
    }
    if (!rsdp) {
        uint64_t ebda = (uint64_t)(*(const volatile uint16_t *)(uintptr_t)BDA_EBDA_SEGMENT) << 4;
        if (ebda >= 0x80000 && ebda < 0xa0000)
            rsdp = rsdp_scan(ebda, ebda + 1024);
    }
    if (!rsdp)
        rsdp = rsdp_scan(BIOS_AREA_START, BIOS_AREA_END);
    if (!rsdp) {
        problem("no RSDP: not given by the loader, not in the EBDA nor in 0xe0000-0xfffff");
        return found = false;
    }
    acpi.rsdp = rsdp;

    const uint8_t *r = ptr(rsdp);
    bool xsdt = r[RSDP_REVISION] >= 2 && get64(r + RSDP_XSDT) != 0;
    uint64_t root = xsdt ? get64(r + RSDP_XSDT) : get32(r + RSDP_RSDT);
    uint32_t len = table_check(root, xsdt ? "XSDT" : "RSDT");
    if (!len)
        return found = false;
    if (memcmp(ptr(root), xsdt ? "XSDT" : "RSDT", 4) != 0) {
        problem("the RSDP's root table at 0x%lx has the wrong signature", root);
        return found = false;
    }
    unsigned width = xsdt ? 8 : 4;
    for (uint32_t off = SDT_HEADER_LEN; off + width <= len; off += width) {
        uint64_t a = xsdt ? get64(ptr(root) + off) : get32(ptr(root) + off);
        uint32_t tlen = table_check(a, "table");
        if (!tlen)
            continue;
        const uint8_t *t = ptr(a);
        if (acpi.n_tables < ARRAY_SIZE(acpi.signatures)) {
            memcpy(acpi.signatures[acpi.n_tables], t, 4);
            acpi.signatures[acpi.n_tables][4] = '\0';
        }
        acpi.n_tables++;
        if (memcmp(t, "FACP", 4) == 0)
            parse_fadt(t, tlen);
        else if (memcmp(t, "APIC", 4) == 0)
            parse_madt(t, tlen);
    }
    return found = true;
}
