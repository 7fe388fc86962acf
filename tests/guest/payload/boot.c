/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What the loader handed over, from either Linux's boot_params (zero page) or
 * a PVH hvm_start_info, into one struct boot_info the tests read. Offsets are
 * the ones in Linux's Documentation/arch/x86/zero-page.rst and boot.rst and
 * Xen's public/arch-x86/hvm/start_info.h.
 */
#include "payload.h"

struct boot_info boot;

/* boot_params */
#define BP_ACPI_RSDP_ADDR    0x070
#define BP_EXT_RAMDISK_IMAGE 0x0c0
#define BP_EXT_RAMDISK_SIZE  0x0c4
#define BP_EXT_CMD_LINE_PTR  0x0c8
#define BP_E820_ENTRIES      0x1e8
#define BP_HDR_RAMDISK_IMAGE 0x218
#define BP_HDR_RAMDISK_SIZE  0x21c
#define BP_HDR_CMD_LINE_PTR  0x228
#define BP_E820_TABLE        0x2d0
#define BP_E820_ENTRY_SIZE   20
#define BP_E820_MAX          128

/* hvm_start_info */
#define PVH_MAGIC            0x336ec578
#define SI_MAGIC             0
#define SI_VERSION           4
#define SI_NR_MODULES        12
#define SI_MODLIST_PADDR     16
#define SI_CMDLINE_PADDR     24
#define SI_RSDP_PADDR        32
#define SI_MEMMAP_PADDR      40
#define SI_MEMMAP_ENTRIES    48
#define SI_MOD_SIZE          32 /* paddr, size, cmdline_paddr, reserved */
#define SI_MEMMAP_ENTRY_SIZE 24

static uint32_t rd8(uint64_t base, unsigned off)
{
    return *(const volatile uint8_t *)(uintptr_t)(base + off);
}

static uint32_t rd32(uint64_t base, unsigned off)
{
    uint32_t v;
    memcpy(&v, (const void *)(uintptr_t)(base + off), sizeof(v));
    return v;
}

static uint64_t rd64(uint64_t base, unsigned off)
{
    uint64_t v;
    memcpy(&v, (const void *)(uintptr_t)(base + off), sizeof(v));
    return v;
}

/* Anything the payload dereferences must be inside the identity map. */
static bool addr_ok(uint64_t addr, uint64_t len)
{
    return addr && addr + len >= addr && addr + len <= 0x100000000ULL;
}

static void parse_boot_params(uint64_t bp)
{
    uint64_t cmd = rd32(bp, BP_HDR_CMD_LINE_PTR) | (uint64_t)rd32(bp, BP_EXT_CMD_LINE_PTR) << 32;
    uint64_t rd_addr = rd32(bp, BP_HDR_RAMDISK_IMAGE) | (uint64_t)rd32(bp, BP_EXT_RAMDISK_IMAGE) << 32;
    uint64_t rd_size = rd32(bp, BP_HDR_RAMDISK_SIZE) | (uint64_t)rd32(bp, BP_EXT_RAMDISK_SIZE) << 32;
    unsigned n = rd8(bp, BP_E820_ENTRIES);

    boot.cmdline_addr = cmd;
    boot.has_initrd = rd_addr != 0 || rd_size != 0;
    boot.initrd_addr = rd_addr;
    boot.initrd_size = rd_size;
    boot.rsdp_addr = rd64(bp, BP_ACPI_RSDP_ADDR);
    if (n > BP_E820_MAX) {
        boot.error = "boot_params e820_entries over 128";
        n = BP_E820_MAX;
    }
    for (unsigned i = 0; i < n; i++) {
        unsigned off = BP_E820_TABLE + i * BP_E820_ENTRY_SIZE;
        boot.e820[i].addr = rd64(bp, off);
        boot.e820[i].size = rd64(bp, off + 8);
        boot.e820[i].type = rd32(bp, off + 16);
    }
    boot.n_e820 = n;
}

static void parse_start_info(uint64_t si)
{
    if (rd32(si, SI_MAGIC) != PVH_MAGIC) {
        boot.error = "hvm_start_info magic is wrong";
        return;
    }
    uint32_t version = rd32(si, SI_VERSION);
    uint32_t nr_modules = rd32(si, SI_NR_MODULES);
    uint64_t modlist = rd64(si, SI_MODLIST_PADDR);

    boot.cmdline_addr = rd64(si, SI_CMDLINE_PADDR);
    boot.rsdp_addr = rd64(si, SI_RSDP_PADDR);
    if (nr_modules > 0) {
        if (!addr_ok(modlist, (uint64_t)nr_modules * SI_MOD_SIZE)) {
            boot.error = "hvm_start_info modlist_paddr outside the low 4 GiB";
        } else {
            boot.has_initrd = true;
            boot.initrd_addr = rd64(modlist, 0);
            boot.initrd_size = rd64(modlist, 8);
        }
    }
    if (version < 1) {
        boot.error = "hvm_start_info version 0 has no memmap";
        return;
    }
    uint64_t memmap = rd64(si, SI_MEMMAP_PADDR);
    uint32_t n = rd32(si, SI_MEMMAP_ENTRIES);
    if (n > MAX_E820) {
        boot.error = "hvm_start_info memmap_entries over 128";
        n = MAX_E820;
    }
    if (n && !addr_ok(memmap, (uint64_t)n * SI_MEMMAP_ENTRY_SIZE)) {
        boot.error = "hvm_start_info memmap_paddr outside the low 4 GiB";
        return;
    }
    for (uint32_t i = 0; i < n; i++) {
        uint64_t e = memmap + (uint64_t)i * SI_MEMMAP_ENTRY_SIZE;
        boot.e820[i].addr = rd64(e, 0);
        boot.e820[i].size = rd64(e, 8);
        boot.e820[i].type = rd32(e, 16);
    }
    boot.n_e820 = n;
}

void boot_info_parse(enum boot_entry entry, uint64_t info)
{
    boot.entry = entry;
    boot.info_addr = info;
    if (!addr_ok(info, 4096)) {
        boot.error = "boot information pointer outside the low 4 GiB";
        return;
    }
    if (entry == BOOT_ENTRY_PVH)
        parse_start_info(info);
    else
        parse_boot_params(info);
    if (boot.cmdline_addr && addr_ok(boot.cmdline_addr, 1))
        boot.cmdline = (const char *)(uintptr_t)boot.cmdline_addr;
}
