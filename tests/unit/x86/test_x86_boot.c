/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The x86 loader: bzImage and vmlinux (with and without the PVH note)
 * fixtures synthesised here, each header field then corrupted; e820 maps for
 * several memory sizes; command line and initramfs placement; the boot
 * vCPU's registers and page tables. Hostile images must fail with a message
 * naming the file, and (under ASan) without touching memory they should not.
 */
#include <asm/bootparam.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "boot.h"
#include "e820.h"
#include "layout.h"
#include "x86_fixture.h"

static char tmpdir[64];

static const char *write_file(const char *name, const void *data, size_t len)
{
    static char paths[8][128];
    static int next;
    char *p = paths[next++ % 8];
    snprintf(p, 128, "%s/%s", tmpdir, name);
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, data, len), (ssize_t)len);
    close(fd);
    return p;
}

/* A sparse file of `len` bytes: big initramfs images cost no disk. */
static const char *sparse_file(const char *name, uint64_t len)
{
    const char *p = write_file(name, "x", 1);
    assert_int_equal(truncate(p, (off_t)len), 0);
    return p;
}

static int group_setup(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/vmm-x86-test-XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

static int load(GuestMemory *m, const char *kernel, const char *initramfs, const char *cmdline, uint64_t rsdp,
                X86BootSetup *b, char *err, size_t errlen)
{
    PayloadConfig p = {.kernel = (char *)kernel, .initramfs = (char *)initramfs, .cmdline = (char *)cmdline};
    err[0] = 0;
    return x86_load_payload(m, &p, rsdp, b, err, errlen);
}

/* ------------------------------------------------------------ bzImage */

#define BZ_SETUP_SECTS 4
#define BZ_PM_OFF      ((BZ_SETUP_SECTS + 1) * 512)
#define BZ_PM_LEN      (64 * 1024)
#define BZ_LEN         (BZ_PM_OFF + BZ_PM_LEN)

static uint8_t pattern(size_t i)
{
    return (uint8_t)(i * 7 + 3);
}

/* A minimal bzImage speaking protocol 2.15: setup header + protected-mode
 * bytes; the header ends at 0x26c, as in current kernels. */
static void bz_build(uint8_t *d)
{
    memset(d, 0, BZ_LEN);
    d[0x1f1] = BZ_SETUP_SECTS;
    put32(d + 0x1f4, BZ_PM_LEN / 16);
    put16(d + 0x1fe, 0xaa55);
    d[0x200] = 0xeb;
    d[0x201] = 0x6a;
    memcpy(d + 0x202, "HdrS", 4);
    put16(d + 0x206, 0x020f);
    d[0x211] = LOADED_HIGH;
    put32(d + 0x214, 0x100000);
    put32(d + 0x22c, 0x7fffffff);
    put32(d + 0x230, 0x200000);
    d[0x234] = 1;
    put16(d + 0x236, XLF_KERNEL_64 | XLF_CAN_BE_LOADED_ABOVE_4G);
    put32(d + 0x238, 2047);
    put64(d + 0x258, 0x1000000);
    put32(d + 0x260, 0x400000);
    for (size_t i = 0; i < BZ_PM_LEN; i++)
        d[BZ_PM_OFF + i] = pattern(i);
}

static void check_e820_in_zero_page(const GuestMemory *m, const struct boot_params *bp)
{
    X86E820Entry e[X86_E820_MAX_ENTRIES];
    int n = x86_e820_build(m, e, X86_E820_MAX_ENTRIES);
    assert_true(n > 0);
    assert_int_equal(bp->e820_entries, n);
    for (int i = 0; i < n; i++) {
        assert_int_equal(bp->e820_table[i].addr, e[i].addr);
        assert_int_equal(bp->e820_table[i].size, e[i].size);
        assert_int_equal(bp->e820_table[i].type, e[i].type);
    }
}

static void test_bzimage_valid(void **state)
{
    (void)state;
    static uint8_t img[BZ_LEN];
    GuestMemory m;
    X86BootSetup b;
    char err[256];
    struct boot_params bp;
    uint8_t initrd[10000];

    bz_build(img);
    /* Bytes past the header end (0x26c) belong to setup code: never copied. */
    memset(img + 0x26c, 0x5a, 16);
    for (size_t i = 0; i < sizeof(initrd); i++)
        initrd[i] = (uint8_t)(i ^ 0x5c);
    const char *kpath = write_file("bz", img, BZ_LEN);
    const char *ipath = write_file("initrd", initrd, sizeof(initrd));

    test_mem_init(&m, 64 * MIB, 0);
    int r = load(&m, kpath, ipath, "console=ttyS0 panic=1", 0xe0000, &b, err, sizeof(err));
    assert_int_equal(r, 0);
    /* pref_address (16 MiB) + init_size (4 MiB) fits: loaded there. */
    assert_int_equal(b.mode, X86_ENTRY_LINUX64);
    assert_int_equal(b.kernel_start, 0x1000000);
    assert_int_equal(b.kernel_end, 0x1000000 + BZ_PM_LEN);
    assert_int_equal(b.entry, 0x1000200);
    assert_int_equal(b.boot_info, LAYOUT_ZERO_PAGE);
    assert_memory_equal(m.regions[0].hva + 0x1000000, img + BZ_PM_OFF, BZ_PM_LEN);

    /* Initramfs at the top of RAM, page aligned. */
    assert_int_equal(b.initramfs_size, sizeof(initrd));
    assert_int_equal(b.initramfs_addr, (64 * MIB - sizeof(initrd)) & ~0xfffULL);
    assert_memory_equal(m.regions[0].hva + b.initramfs_addr, initrd, sizeof(initrd));

    assert_int_equal(guest_memory_read(&m, LAYOUT_ZERO_PAGE, &bp, sizeof(bp)), 0);
    assert_int_equal(bp.hdr.boot_flag, 0xaa55);
    assert_int_equal(bp.hdr.header, 0x53726448);
    assert_int_equal(bp.hdr.version, 0x020f);
    assert_int_equal(bp.hdr.setup_sects, BZ_SETUP_SECTS);
    assert_int_equal(bp.hdr.type_of_loader, 0xff);
    assert_int_equal(bp.hdr.loadflags, LOADED_HIGH | CAN_USE_HEAP);
    assert_int_not_equal(bp.hdr.heap_end_ptr, 0);
    assert_int_equal(bp.hdr.vid_mode, 0xffff);
    assert_int_equal(bp.hdr.code32_start, 0x1000000);
    assert_int_equal(bp.hdr.cmd_line_ptr, LAYOUT_CMDLINE);
    assert_int_equal(bp.ext_cmd_line_ptr, 0);
    assert_int_equal(bp.hdr.ramdisk_image, b.initramfs_addr);
    assert_int_equal(bp.hdr.ramdisk_size, sizeof(initrd));
    assert_int_equal(bp.ext_ramdisk_image, 0);
    assert_int_equal(bp.ext_ramdisk_size, 0);
    assert_int_equal(bp.hdr.kernel_alignment, 0x200000);
    assert_int_equal(bp.hdr.pref_address, 0x1000000);
    assert_int_equal(bp.hdr.init_size, 0x400000);
    assert_int_equal(bp.hdr.kernel_info_offset, 0); /* lay past 0x26c in the file: garbage there */
    assert_int_equal(bp.acpi_rsdp_addr, 0xe0000);
    assert_int_equal(bp.sentinel, 0);
    check_e820_in_zero_page(&m, &bp);

    char cl[64];
    assert_int_equal(guest_memory_read(&m, LAYOUT_CMDLINE, cl, 22), 0);
    assert_string_equal(cl, "console=ttyS0 panic=1");
    test_mem_free(&m);
}

/* init_size too big for pref_address: load at 1 MiB, the kernel will run
 * from 2 MiB (aligned), and the initramfs must stay above that footprint. */
static void test_bzimage_low_load(void **state)
{
    (void)state;
    static uint8_t img[BZ_LEN];
    GuestMemory m;
    X86BootSetup b;
    char err[256];

    bz_build(img);
    put32(img + 0x260, 0x3378000); /* Debian 6.1's init_size: 51.5 MiB */
    const char *kpath = write_file("bz-low", img, BZ_LEN);
    const char *ipath = sparse_file("initrd-8m", 8 * MIB);

    test_mem_init(&m, 64 * MIB, 0);
    assert_int_equal(load(&m, kpath, ipath, NULL, 0, &b, err, sizeof(err)), 0);
    assert_int_equal(b.kernel_start, LAYOUT_HIGH_MEMORY_START);
    assert_int_equal(b.entry, LAYOUT_HIGH_MEMORY_START + 0x200);
    assert_memory_equal(m.regions[0].hva + LAYOUT_HIGH_MEMORY_START, img + BZ_PM_OFF, BZ_PM_LEN);
    assert_true(b.initramfs_addr >= 2 * MIB + 0x3378000);

    struct boot_params bp;
    assert_int_equal(guest_memory_read(&m, LAYOUT_ZERO_PAGE, &bp, sizeof(bp)), 0);
    assert_int_equal(bp.acpi_rsdp_addr, 0); /* rsdp 0: none */
    assert_int_equal(bp.hdr.ramdisk_size, 8 * MIB);

    /* 12 MiB does not fit above 53.5 MiB in 64 MiB of RAM. */
    ipath = sparse_file("initrd-12m", 12 * MIB);
    assert_int_equal(load(&m, kpath, ipath, NULL, 0, &b, err, sizeof(err)), -ENOMEM);
    assert_non_null(strstr(err, "initramfs "));
    assert_non_null(strstr(err, "do not fit"));
    test_mem_free(&m);
}

/* initrd_addr_max caps the initramfs below the top of RAM. */
static void test_bzimage_initrd_addr_max(void **state)
{
    (void)state;
    static uint8_t img[BZ_LEN];
    GuestMemory m;
    X86BootSetup b;
    char err[256];
    uint8_t initrd[5000];

    memset(initrd, 0xa5, sizeof(initrd));
    bz_build(img);
    put32(img + 0x22c, 32 * MIB - 1);
    const char *kpath = write_file("bz-max", img, BZ_LEN);
    const char *ipath = write_file("initrd-small", initrd, sizeof(initrd));
    test_mem_init(&m, 64 * MIB, 0);
    assert_int_equal(load(&m, kpath, ipath, NULL, 0, &b, err, sizeof(err)), 0);
    assert_int_equal(b.initramfs_addr, (32 * MIB - sizeof(initrd)) & ~0xfffULL);
    assert_true(b.initramfs_addr + b.initramfs_size <= 32 * MIB);

    /* A limit inside the kernel leaves no room at all. */
    put32(img + 0x22c, 0x00ffffff);
    kpath = write_file("bz-max2", img, BZ_LEN);
    assert_int_equal(load(&m, kpath, ipath, NULL, 0, &b, err, sizeof(err)), -ENOMEM);
    assert_non_null(strstr(err, "initramfs "));
    test_mem_free(&m);
}

static void test_cmdline_limits(void **state)
{
    (void)state;
    static uint8_t img[BZ_LEN];
    GuestMemory m;
    X86BootSetup b;
    char err[256];
    char cl[32];

    bz_build(img);
    put32(img + 0x238, 10); /* cmdline_size */
    const char *kpath = write_file("bz-cl", img, BZ_LEN);
    test_mem_init(&m, 64 * MIB, 0);

    memset(cl, 'a', 10);
    cl[10] = 0;
    assert_int_equal(load(&m, kpath, NULL, cl, 0, &b, err, sizeof(err)), 0);
    char back[16];
    assert_int_equal(guest_memory_read(&m, LAYOUT_CMDLINE, back, 11), 0);
    assert_string_equal(back, cl);

    strcat(cl, "b");
    assert_int_equal(load(&m, kpath, NULL, cl, 0, &b, err, sizeof(err)), -E2BIG);
    assert_non_null(strstr(err, "kernel "));
    assert_non_null(strstr(err, "command line is 11 bytes"));
    assert_int_equal(b.entry, 0); /* out is cleared on failure */

    /* A huge cmdline_size is still capped by the 64 KiB we set aside. */
    put32(img + 0x238, 0xffffffff);
    kpath = write_file("bz-cl2", img, BZ_LEN);
    char *big = malloc(LAYOUT_CMDLINE_MAX + 1);
    memset(big, 'c', LAYOUT_CMDLINE_MAX);
    big[LAYOUT_CMDLINE_MAX] = 0;
    assert_int_equal(load(&m, kpath, NULL, big, 0, &b, err, sizeof(err)), -E2BIG);
    big[LAYOUT_CMDLINE_MAX - 1] = 0;
    assert_int_equal(load(&m, kpath, NULL, big, 0, &b, err, sizeof(err)), 0);
    free(big);
    test_mem_free(&m);
}

typedef struct Patch {
    long off; /* -1: none */
    int width;
    uint64_t value;
} Patch;

typedef struct HostileCase {
    const char *name;
    Patch p1, p2;
    long truncate_to; /* -1: keep the length */
    const char *msg;
} HostileCase;

#define NOPATCH                                                                                              \
    {                                                                                                        \
        -1, 0, 0                                                                                             \
    }

static void apply(uint8_t *d, const Patch *p)
{
    if (p->off < 0)
        return;
    switch (p->width) {
    case 1:
        d[p->off] = (uint8_t)p->value;
        break;
    case 2:
        put16(d + p->off, (uint16_t)p->value);
        break;
    case 4:
        put32(d + p->off, (uint32_t)p->value);
        break;
    default:
        put64(d + p->off, p->value);
    }
}

static const HostileCase bz_cases[] = {
    {"boot flag", {0x1fe, 2, 0x1234}, NOPATCH, -1, "boot flag is 0x1234"},
    {"HdrS magic", {0x202, 4, 0x53726447}, NOPATCH, -1, "neither a bzImage"},
    {"protocol 2.06", {0x206, 2, 0x0206}, NOPATCH, -1, "too old"},
    {"protocol 0", {0x206, 2, 0}, NOPATCH, -1, "too old"},
    {"header ends early", {0x201, 1, 0x40}, NOPATCH, -1, "before init_size"},
    {"setup_sects 255", {0x1f1, 1, 255}, NOPATCH, -1, "setup_sects 255"},
    {"setup_sects 0 means 4 (ok)", {0x1f1, 1, 0}, NOPATCH, -1, NULL},
    {"no LOADED_HIGH", {0x211, 1, 0}, NOPATCH, -1, "LOADED_HIGH"},
    {"no XLF_KERNEL_64", {0x236, 2, XLF_CAN_BE_LOADED_ABOVE_4G}, NOPATCH, -1, "XLF_KERNEL_64"},
    {"syssize 0", {0x1f4, 4, 0}, NOPATCH, -1, "syssize is 0"},
    {"syssize past EOF", {0x1f4, 4, BZ_PM_LEN / 16 + 1}, NOPATCH, -1, "syssize says"},
    {"syssize max", {0x1f4, 4, 0xffffffff}, NOPATCH, -1, "syssize says"},
    {"init_size beyond RAM", {0x260, 4, 0xf0000000}, NOPATCH, -1, "init_size"},
    {"init_size max", {0x260, 4, 0xffffffff}, NOPATCH, -1, "init_size"},
    {"alignment not power of 2", {0x230, 4, 0x3000}, NOPATCH, -1, "power of two"},
    {"alignment 0", {0x230, 4, 0}, NOPATCH, -1, "power of two"},
    {"fixed kernel at pref beyond RAM", {0x234, 1, 0}, {0x258, 8, 0x10000000}, -1, "init_size"},
    {"fixed kernel at pref near 2^64", {0x234, 1, 0}, {0x258, 8, 0xffffffffffe00000ULL}, -1, "init_size"},
    {"relocatable, absurd pref (ok at 1 MiB)", {0x258, 8, 0xffffffffffe00000ULL}, NOPATCH, -1, NULL},
    {"empty file", NOPATCH, NOPATCH, 0, "too short"},
    {"3 bytes", NOPATCH, NOPATCH, 3, "too short"},
    {"boot sector only", NOPATCH, NOPATCH, 0x100, "neither a bzImage"},
    {"header cut", NOPATCH, NOPATCH, 0x210, "truncated"},
    {"setup cut", NOPATCH, NOPATCH, 0x800, "setup_sects"},
    {"kernel cut", NOPATCH, NOPATCH, BZ_PM_OFF + 100, "syssize says"},
};

static void test_bzimage_hostile(void **state)
{
    (void)state;
    static uint8_t img[BZ_LEN];
    GuestMemory m;
    X86BootSetup b;
    char err[512];

    test_mem_init(&m, 64 * MIB, 0);
    for (size_t i = 0; i < sizeof(bz_cases) / sizeof(bz_cases[0]); i++) {
        const HostileCase *c = &bz_cases[i];
        bz_build(img);
        apply(img, &c->p1);
        apply(img, &c->p2);
        const char *path =
            write_file("bz-hostile", img, c->truncate_to >= 0 ? (size_t)c->truncate_to : BZ_LEN);
        int r = load(&m, path, NULL, "", 0, &b, err, sizeof(err));
        if (!c->msg) {
            if (r != 0)
                fail_msg("case '%s': expected success, got %d: %s", c->name, r, err);
            continue;
        }
        if (r >= 0)
            fail_msg("case '%s': loaded a hostile image", c->name);
        if (getenv("VMM_TEST_VERBOSE"))
            print_message("%-40s %s\n", c->name, err);
        char prefix[256];
        snprintf(prefix, sizeof(prefix), "kernel %s: ", path);
        if (strncmp(err, prefix, strlen(prefix)) != 0 || !strstr(err, c->msg))
            fail_msg("case '%s': message '%s' lacks '%s%s'", c->name, err, prefix, c->msg);
    }
    test_mem_free(&m);
}

/* Real kernels, when the environment points at one (VMM_TEST_BZIMAGE). */
static void test_bzimage_real(void **state)
{
    (void)state;
    const char *path = getenv("VMM_TEST_BZIMAGE");
    if (!path || access(path, R_OK) != 0)
        skip();
    GuestMemory m;
    X86BootSetup b;
    char err[512];
    test_mem_init(&m, 256 * MIB, 0);
    int r = load(&m, path, NULL, "console=ttyS0", 0xe0000, &b, err, sizeof(err));
    if (r < 0)
        fail_msg("%s", err);
    assert_int_equal(b.mode, X86_ENTRY_LINUX64);
    test_mem_free(&m);
}

/* ---------------------------------------------------------------- ELF */

#define ELF_NOTE_OFF   0x100
#define ELF_TEXT_OFF   0x1000
#define ELF_TEXT_LEN   0x2000
#define ELF_TEXT_MEM   0x3000
#define ELF_DATA_OFF   0x3000
#define ELF_DATA_LEN   0x800
#define ELF_DATA_MEM   0x1000
#define ELF_LEN        0x3800
#define ELF_TEXT_PADDR 0x1000000ULL
#define ELF_DATA_PADDR 0x1400000ULL
#define ELF_PVH_ENTRY  (ELF_TEXT_PADDR + 0x100)
#define PH(i, field)   (64 + (i)*56 + offsetof(Elf64_Phdr, field))

static void elf_build(uint8_t *d, bool pvh)
{
    memset(d, 0, ELF_LEN);
    Elf64_Ehdr eh = {
        .e_ident = {ELFMAG0, ELFMAG1, ELFMAG2, ELFMAG3, ELFCLASS64, ELFDATA2LSB, EV_CURRENT},
        .e_type = ET_EXEC,
        .e_machine = EM_X86_64,
        .e_version = EV_CURRENT,
        .e_entry = ELF_TEXT_PADDR,
        .e_phoff = 64,
        .e_ehsize = sizeof(Elf64_Ehdr),
        .e_phentsize = sizeof(Elf64_Phdr),
        .e_phnum = 3,
    };
    memcpy(d, &eh, sizeof(eh));
    Elf64_Phdr ph[3] = {
        {.p_type = PT_LOAD,
         .p_offset = ELF_TEXT_OFF,
         .p_vaddr = 0xffffffff81000000ULL,
         .p_paddr = ELF_TEXT_PADDR,
         .p_filesz = ELF_TEXT_LEN,
         .p_memsz = ELF_TEXT_MEM},
        {.p_type = PT_LOAD,
         .p_offset = ELF_DATA_OFF,
         .p_vaddr = 0xffffffff81400000ULL,
         .p_paddr = ELF_DATA_PADDR,
         .p_filesz = ELF_DATA_LEN,
         .p_memsz = ELF_DATA_MEM},
        {.p_type = PT_NOTE, .p_offset = ELF_NOTE_OFF, .p_filesz = 2 * 20},
    };
    memcpy(d + 64, ph, sizeof(ph));
    /* First an unrelated Xen note (XEN_ELFNOTE_ENTRY), then PHYS32_ENTRY
     * when pvh, else a GNU note: the scanner has to walk past both. */
    uint8_t *n = d + ELF_NOTE_OFF;
    put32(n, 4), put32(n + 4, 4), put32(n + 8, 1), memcpy(n + 12, "Xen", 4), put32(n + 16, 0xdeadbeef);
    n += 20;
    if (pvh) {
        put32(n, 4), put32(n + 4, 4), put32(n + 8, 18), memcpy(n + 12, "Xen", 4);
        put32(n + 16, (uint32_t)ELF_PVH_ENTRY);
    } else {
        put32(n, 4), put32(n + 4, 4), put32(n + 8, 18), memcpy(n + 12, "GNU", 4), put32(n + 16, 0x1000);
    }
    for (size_t i = 0; i < ELF_TEXT_LEN; i++)
        d[ELF_TEXT_OFF + i] = pattern(i);
    for (size_t i = 0; i < ELF_DATA_LEN; i++)
        d[ELF_DATA_OFF + i] = pattern(i + 99);
}

static bool all_bytes(const uint8_t *p, size_t n, uint8_t v)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != v)
            return false;
    return true;
}

typedef struct __attribute__((packed)) StartInfo {
    uint32_t magic, version, flags, nr_modules;
    uint64_t modlist_paddr, cmdline_paddr, rsdp_paddr, memmap_paddr;
    uint32_t memmap_entries, reserved;
} StartInfo;

static void test_elf_pvh(void **state)
{
    (void)state;
    static uint8_t img[ELF_LEN];
    GuestMemory m;
    X86BootSetup b;
    char err[256];
    uint8_t initrd[3000];

    elf_build(img, true);
    memset(initrd, 0x77, sizeof(initrd));
    const char *kpath = write_file("vmlinux-pvh", img, ELF_LEN);
    const char *ipath = write_file("initrd-pvh", initrd, sizeof(initrd));

    test_mem_init(&m, 3 * GIB, 512 * MIB); /* 3.5 GiB split across the hole */
    /* Stale bytes from a previous boot must not survive in the bss. */
    memset(m.regions[0].hva + ELF_TEXT_PADDR, 0xaa, 8 * MIB);
    assert_int_equal(load(&m, kpath, ipath, "root=/dev/vda", 0xe0000, &b, err, sizeof(err)), 0);
    assert_int_equal(b.mode, X86_ENTRY_PVH);
    assert_int_equal(b.entry, ELF_PVH_ENTRY);
    assert_int_equal(b.boot_info, LAYOUT_PVH_START_INFO);
    assert_int_equal(b.kernel_start, ELF_TEXT_PADDR);
    assert_int_equal(b.kernel_end, ELF_DATA_PADDR + ELF_DATA_MEM);
    const uint8_t *ram = m.regions[0].hva;
    assert_memory_equal(ram + ELF_TEXT_PADDR, img + ELF_TEXT_OFF, ELF_TEXT_LEN);
    assert_true(all_bytes(ram + ELF_TEXT_PADDR + ELF_TEXT_LEN, ELF_TEXT_MEM - ELF_TEXT_LEN, 0));
    assert_memory_equal(ram + ELF_DATA_PADDR, img + ELF_DATA_OFF, ELF_DATA_LEN);
    assert_true(all_bytes(ram + ELF_DATA_PADDR + ELF_DATA_LEN, ELF_DATA_MEM - ELF_DATA_LEN, 0));
    /* Bytes between the segments are not the loader's business. */
    assert_int_equal(ram[ELF_TEXT_PADDR + ELF_TEXT_MEM], 0xaa);

    /* Initramfs at the top of RAM below the hole. */
    assert_int_equal(b.initramfs_addr, (3 * GIB - sizeof(initrd)) & ~0xfffULL);
    assert_memory_equal(ram + b.initramfs_addr, initrd, sizeof(initrd));

    StartInfo si;
    assert_int_equal(guest_memory_read(&m, LAYOUT_PVH_START_INFO, &si, sizeof(si)), 0);
    assert_int_equal(si.magic, 0x336ec578);
    assert_int_equal(si.version, 1);
    assert_int_equal(si.flags, 0);
    assert_int_equal(si.cmdline_paddr, LAYOUT_CMDLINE);
    assert_string_equal((const char *)ram + LAYOUT_CMDLINE, "root=/dev/vda");
    assert_int_equal(si.rsdp_paddr, 0xe0000);
    assert_int_equal(si.nr_modules, 1);
    uint64_t mod[4];
    assert_int_equal(guest_memory_read(&m, si.modlist_paddr, mod, sizeof(mod)), 0);
    assert_int_equal(mod[0], b.initramfs_addr);
    assert_int_equal(mod[1], sizeof(initrd));
    assert_int_equal(mod[2], 0);

    X86E820Entry e[X86_E820_MAX_ENTRIES];
    int n = x86_e820_build(&m, e, X86_E820_MAX_ENTRIES);
    assert_int_equal(si.memmap_entries, n);
    assert_true(si.memmap_paddr > LAYOUT_PVH_START_INFO && si.memmap_paddr + n * 24 <= LAYOUT_ZERO_PAGE);
    for (int i = 0; i < n; i++) {
        uint8_t ent[24];
        assert_int_equal(guest_memory_read(&m, si.memmap_paddr + i * 24, ent, 24), 0);
        assert_int_equal(get64(ent), e[i].addr);
        assert_int_equal(get64(ent + 8), e[i].size);
        assert_int_equal(get32(ent + 16), e[i].type);
        assert_int_equal(get32(ent + 20), 0);
    }

    /* PVH GDT: 32-bit code at 0x10. */
    uint64_t gdt[4];
    assert_int_equal(guest_memory_read(&m, LAYOUT_BOOT_GDT, gdt, sizeof(gdt)), 0);
    assert_int_equal(gdt[2], 0x00cf9b000000ffffULL);
    assert_int_equal(gdt[3], 0x00cf93000000ffffULL);

    /* Without an initramfs: no module. */
    assert_int_equal(load(&m, kpath, NULL, NULL, 0, &b, err, sizeof(err)), 0);
    assert_int_equal(guest_memory_read(&m, LAYOUT_PVH_START_INFO, &si, sizeof(si)), 0);
    assert_int_equal(si.nr_modules, 0);
    assert_int_equal(si.rsdp_paddr, 0);
    assert_int_equal(ram[LAYOUT_CMDLINE], 0);
    test_mem_free(&m);
}

static void test_elf_linux64(void **state)
{
    (void)state;
    static uint8_t img[ELF_LEN];
    GuestMemory m;
    X86BootSetup b;
    char err[256];
    struct boot_params bp;

    elf_build(img, false);
    const char *kpath = write_file("vmlinux", img, ELF_LEN);
    const char *ipath = write_file("initrd-elf", "0123456789", 10);
    test_mem_init(&m, 64 * MIB, 0);
    assert_int_equal(load(&m, kpath, ipath, "quiet", 0xe0000, &b, err, sizeof(err)), 0);
    assert_int_equal(b.mode, X86_ENTRY_LINUX64);
    assert_int_equal(b.entry, ELF_TEXT_PADDR);
    assert_int_equal(b.boot_info, LAYOUT_ZERO_PAGE);

    assert_int_equal(guest_memory_read(&m, LAYOUT_ZERO_PAGE, &bp, sizeof(bp)), 0);
    assert_int_equal(bp.hdr.boot_flag, 0xaa55);
    assert_int_equal(bp.hdr.header, 0x53726448);
    assert_true(bp.hdr.version >= 0x020c);
    assert_int_equal(bp.hdr.type_of_loader, 0xff);
    assert_true(bp.hdr.loadflags & LOADED_HIGH);
    assert_int_equal(bp.hdr.cmd_line_ptr, LAYOUT_CMDLINE);
    assert_true(bp.hdr.cmdline_size >= 5);
    assert_int_equal(bp.hdr.ramdisk_image, b.initramfs_addr);
    assert_int_equal(bp.hdr.ramdisk_size, 10);
    assert_true(bp.hdr.kernel_alignment != 0);
    assert_int_equal(bp.acpi_rsdp_addr, 0xe0000);
    check_e820_in_zero_page(&m, &bp);

    uint64_t gdt[4];
    assert_int_equal(guest_memory_read(&m, LAYOUT_BOOT_GDT, gdt, sizeof(gdt)), 0);
    assert_int_equal(gdt[0], 0);
    assert_int_equal(gdt[1], 0);
    assert_int_equal(gdt[2], 0x00af9b000000ffffULL);
    assert_int_equal(gdt[3], 0x00cf93000000ffffULL);

    /* e_entry outside every segment. */
    put64(img + offsetof(Elf64_Ehdr, e_entry), 0x2000000);
    kpath = write_file("vmlinux-badentry", img, ELF_LEN);
    assert_int_equal(load(&m, kpath, NULL, NULL, 0, &b, err, sizeof(err)), -ENOEXEC);
    assert_non_null(strstr(err, "ELF entry point 0x2000000"));
    test_mem_free(&m);
}

#define NOTE2 (ELF_NOTE_OFF + 20) /* the second note */

static const HostileCase elf_cases[] = {
    {"ELFCLASS32", {EI_CLASS, 1, ELFCLASS32}, NOPATCH, -1, "ELF64 x86-64"},
    {"big endian", {EI_DATA, 1, ELFDATA2MSB}, NOPATCH, -1, "ELF64 x86-64"},
    {"i386", {offsetof(Elf64_Ehdr, e_machine), 2, EM_386}, NOPATCH, -1, "ELF64 x86-64"},
    {"ET_DYN", {offsetof(Elf64_Ehdr, e_type), 2, ET_DYN}, NOPATCH, -1, "ET_EXEC"},
    {"phentsize", {offsetof(Elf64_Ehdr, e_phentsize), 2, 32}, NOPATCH, -1, "program header size 32"},
    {"phnum 0", {offsetof(Elf64_Ehdr, e_phnum), 2, 0}, NOPATCH, -1, "0 program headers"},
    {"phnum huge", {offsetof(Elf64_Ehdr, e_phnum), 2, 0xffff}, NOPATCH, -1, "65535 program headers"},
    {"phnum past EOF",
     {offsetof(Elf64_Ehdr, e_phnum), 2, 120},
     {offsetof(Elf64_Ehdr, e_phoff), 8, 0x2000},
     -1,
     "runs past the end"},
    {"phoff past EOF", {offsetof(Elf64_Ehdr, e_phoff), 8, 0x3790}, NOPATCH, -1, "runs past the end"},
    {"phoff near 2^64", {offsetof(Elf64_Ehdr, e_phoff), 8, 0xffffffffffffff00ULL}, NOPATCH, -1, "runs past"},
    {"p_offset past EOF", {PH(0, p_offset), 8, 0x100000}, NOPATCH, -1, "past the end of the"},
    {"p_offset near 2^64", {PH(0, p_offset), 8, 0xfffffffffffffff0ULL}, NOPATCH, -1, "past the end of the"},
    {"p_filesz past EOF",
     {PH(1, p_filesz), 8, 0x1000},
     {PH(1, p_memsz), 8, 0x1000},
     -1,
     "past the end of the"},
    {"filesz > memsz", {PH(0, p_filesz), 8, 0x3001}, NOPATCH, -1, "exceeds memory size"},
    {"huge filesz and memsz", {PH(0, p_filesz), 8, ~0ULL}, {PH(0, p_memsz), 8, ~0ULL}, -1, "past the end"},
    {"paddr below 1 MiB", {PH(0, p_paddr), 8, 0x8000}, NOPATCH, -1, "below 1 MiB"},
    {"paddr 0", {PH(1, p_paddr), 8, 0}, NOPATCH, -1, "below 1 MiB"},
    {"segment past RAM end", {PH(0, p_paddr), 8, 64 * MIB - 0x1000}, NOPATCH, -1, "not inside guest RAM"},
    {"segment in the 32-bit hole",
     {PH(0, p_paddr), 8, LAYOUT_PCI_MMIO_START},
     NOPATCH,
     -1,
     "not inside guest RAM"},
    {"segment on the LAPIC", {PH(1, p_paddr), 8, LAYOUT_LAPIC_START}, NOPATCH, -1, "not inside guest RAM"},
    {"paddr wraps", {PH(0, p_paddr), 8, 0xfffffffffffff000ULL}, NOPATCH, -1, "not inside guest RAM"},
    {"memsz wraps", {PH(1, p_memsz), 8, ~0ULL}, NOPATCH, -1, "not inside guest RAM"},
    {"no PT_LOAD", {PH(0, p_type), 4, PT_NULL}, {PH(1, p_type), 4, PT_NULL}, -1, "no loadable segment"},
    {"note namesz huge", {ELF_NOTE_OFF, 4, 0xfffffffe}, NOPATCH, -1, "runs past the end of its segment"},
    {"note descsz huge", {ELF_NOTE_OFF + 4, 4, 0xfffffff0}, NOPATCH, -1, "runs past the end of its segment"},
    {"note descsz just too big", {NOTE2 + 4, 4, 5}, NOPATCH, -1, "runs past the end of its segment"},
    {"PVH note 2-byte value", {NOTE2 + 4, 4, 2}, NOPATCH, -1, "2-byte value"},
    {"PVH entry outside", {NOTE2 + 16, 4, 0x5000000}, NOPATCH, -1, "PVH entry point 0x5000000"},
    {"PVH entry in bss", {NOTE2 + 16, 4, ELF_TEXT_PADDR + ELF_TEXT_LEN}, NOPATCH, -1, "PVH entry point"},
    {"note segment past EOF", {PH(2, p_offset), 8, ELF_LEN - 8}, NOPATCH, -1, "note segment 2"},
    {"note segment huge", {PH(2, p_filesz), 8, 0x100000}, {PH(2, p_offset), 8, 0}, -1, "note segment"},
    {"note segment too big to read",
     {PH(2, p_filesz), 8, ELF_LEN},
     {PH(2, p_offset), 8, 0},
     -1,
     "runs past the end of its segment"},
    {"truncated header", NOPATCH, NOPATCH, 40, "truncated ELF header"},
    {"truncated phdrs", NOPATCH, NOPATCH, 100, "runs past the end"},
    {"truncated segment", NOPATCH, NOPATCH, 0x2000, "past the end of the"},
    {"bad magic", {1, 1, 'e'}, NOPATCH, -1, "neither a bzImage"},
    {"trailing partial note (ok)", {PH(2, p_filesz), 8, 2 * 20 + 8}, NOPATCH, -1, NULL},
    {"zero-size PT_LOAD ignored (ok)", {PH(1, p_memsz), 8, 0}, {PH(1, p_filesz), 8, 0}, -1, NULL},
};

static void test_elf_hostile(void **state)
{
    (void)state;
    static uint8_t img[ELF_LEN];
    GuestMemory m;
    X86BootSetup b;
    char err[512];

    test_mem_init(&m, 64 * MIB, 0);
    for (size_t i = 0; i < sizeof(elf_cases) / sizeof(elf_cases[0]); i++) {
        const HostileCase *c = &elf_cases[i];
        elf_build(img, true);
        apply(img, &c->p1);
        apply(img, &c->p2);
        const char *path =
            write_file("elf-hostile", img, c->truncate_to >= 0 ? (size_t)c->truncate_to : ELF_LEN);
        int r = load(&m, path, NULL, "", 0, &b, err, sizeof(err));
        if (!c->msg) {
            if (r != 0)
                fail_msg("case '%s': expected success, got %d: %s", c->name, r, err);
            continue;
        }
        if (r >= 0)
            fail_msg("case '%s': loaded a hostile image", c->name);
        if (getenv("VMM_TEST_VERBOSE"))
            print_message("%-40s %s\n", c->name, err);
        char prefix[256];
        snprintf(prefix, sizeof(prefix), "kernel %s: ", path);
        if (strncmp(err, prefix, strlen(prefix)) != 0 || !strstr(err, c->msg))
            fail_msg("case '%s': message '%s' lacks '%s%s'", c->name, err, prefix, c->msg);
    }
    test_mem_free(&m);
}

/* --------------------------------------------------- files and payload */

static void test_payload_errors(void **state)
{
    (void)state;
    static uint8_t img[ELF_LEN];
    GuestMemory m;
    X86BootSetup b;
    char err[512];
    PayloadConfig p = {0};

    test_mem_init(&m, 64 * MIB, 0);
    assert_int_equal(x86_load_payload(&m, &p, 0, &b, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "no kernel"));
    p.firmware = (char *)"/x/hypervisor-fw";
    assert_int_equal(x86_load_payload(&m, &p, 0, &b, err, sizeof(err)), -ENOTSUP);

    assert_int_equal(load(&m, "/nonexistent/vmlinux", NULL, NULL, 0, &b, err, sizeof(err)), -ENOENT);
    assert_string_equal(err, "kernel /nonexistent/vmlinux: cannot open: No such file or directory");
    assert_int_equal(load(&m, tmpdir, NULL, NULL, 0, &b, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "not a regular file"));

    elf_build(img, false);
    const char *kpath = write_file("vmlinux-p", img, ELF_LEN);
    assert_int_equal(load(&m, kpath, "/nonexistent/initrd", NULL, 0, &b, err, sizeof(err)), -ENOENT);
    assert_non_null(strstr(err, "initramfs /nonexistent/initrd: cannot open"));
    const char *empty = write_file("initrd-empty", "", 0);
    assert_int_equal(load(&m, kpath, empty, NULL, 0, &b, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "empty file"));
    const char *huge = sparse_file("initrd-huge", 128 * MIB);
    assert_int_equal(load(&m, kpath, huge, NULL, 0, &b, err, sizeof(err)), -ENOMEM);
    assert_non_null(strstr(err, "initramfs "));
    assert_non_null(strstr(err, "134217728 bytes do not fit"));
    /* A tiny error buffer truncates, never overflows. */
    char small[8];
    assert_int_equal(load(&m, "/nonexistent/vmlinux", NULL, NULL, 0, &b, small, sizeof(small)), -ENOENT);
    assert_string_equal(small, "kernel ");
    test_mem_free(&m);

    /* RAM that cannot hold the kernel at all. */
    test_mem_init(&m, 2 * MIB, 0);
    assert_int_equal(load(&m, kpath, NULL, NULL, 0, &b, err, sizeof(err)), -ENOEXEC);
    assert_non_null(strstr(err, "not inside guest RAM"));
    static uint8_t bz[BZ_LEN];
    bz_build(bz);
    kpath = write_file("bz-tiny", bz, BZ_LEN);
    assert_int_equal(load(&m, kpath, NULL, NULL, 0, &b, err, sizeof(err)), -ENOMEM);
    assert_non_null(strstr(err, "init_size"));
    test_mem_free(&m);
}

/* --------------------------------------------------------------- e820 */

typedef struct E820Case {
    uint64_t low, high;
    int n;
    X86E820Entry want[6];
} E820Case;

#define E_LOW_RAM                                                                                            \
    {                                                                                                        \
        0, LAYOUT_EBDA_START, X86_E820_RAM                                                                   \
    }
#define E_LOW_RES                                                                                            \
    {                                                                                                        \
        LAYOUT_EBDA_START, MIB - LAYOUT_EBDA_START, X86_E820_RESERVED                                        \
    }
#define E_ECAM                                                                                               \
    {                                                                                                        \
        LAYOUT_PCI_ECAM_START, LAYOUT_PCI_ECAM_SIZE, X86_E820_RESERVED                                       \
    }

static const E820Case e820_cases[] = {
    {64 * MIB, 0, 4, {E_LOW_RAM, E_LOW_RES, {MIB, 63 * MIB, X86_E820_RAM}, E_ECAM}},
    {3 * GIB, 0, 4, {E_LOW_RAM, E_LOW_RES, {MIB, 3 * GIB - MIB, X86_E820_RAM}, E_ECAM}},
    {3 * GIB,
     512 * MIB,
     5,
     {E_LOW_RAM, E_LOW_RES, {MIB, 3 * GIB - MIB, X86_E820_RAM}, E_ECAM, {4 * GIB, 512 * MIB, X86_E820_RAM}}},
    {3 * GIB,
     3 * GIB,
     5,
     {E_LOW_RAM, E_LOW_RES, {MIB, 3 * GIB - MIB, X86_E820_RAM}, E_ECAM, {4 * GIB, 3 * GIB, X86_E820_RAM}}},
    /* Less than 1 MiB: no high RAM entry at all. */
    {512 * 1024, 0, 3, {{0, 512 * 1024, X86_E820_RAM}, E_LOW_RES, E_ECAM}},
};

static void test_e820(void **state)
{
    (void)state;
    for (size_t c = 0; c < sizeof(e820_cases) / sizeof(e820_cases[0]); c++) {
        const E820Case *ec = &e820_cases[c];
        GuestMemory m = {.memfd = -1};
        /* Only addresses matter to the builder: no host memory needed. */
        m.regions[m.n_regions++] = (GuestRegion){.gpa = 0, .size = ec->low};
        if (ec->high)
            m.regions[m.n_regions++] = (GuestRegion){.gpa = LAYOUT_RAM_64BIT_START, .size = ec->high};
        m.ram_size = ec->low + ec->high;

        X86E820Entry e[X86_E820_MAX_ENTRIES];
        int n = x86_e820_build(&m, e, X86_E820_MAX_ENTRIES);
        assert_int_equal(n, ec->n);
        uint64_t ram = 0;
        for (int i = 0; i < n; i++) {
            assert_int_equal(e[i].addr, ec->want[i].addr);
            assert_int_equal(e[i].size, ec->want[i].size);
            assert_int_equal(e[i].type, ec->want[i].type);
            if (e[i].type == X86_E820_RAM)
                ram += e[i].size;
            if (i)
                assert_true(e[i - 1].addr + e[i - 1].size <= e[i].addr);
        }
        /* Every byte of RAM is accounted for, less the reserved BIOS area. */
        uint64_t hidden = ec->low > MIB ? MIB - LAYOUT_EBDA_START
                                        : (ec->low > LAYOUT_EBDA_START ? ec->low - LAYOUT_EBDA_START : 0);
        assert_int_equal(ram, m.ram_size - hidden);

        assert_int_equal(x86_e820_build(&m, e, (size_t)ec->n - 1), -E2BIG);
    }
}

/* ------------------------------------------------- registers and tables */

static void test_boot_regs(void **state)
{
    (void)state;
    X86BootSetup b = {.mode = X86_ENTRY_LINUX64, .entry = 0x1000200, .boot_info = LAYOUT_ZERO_PAGE};
    struct kvm_regs regs;
    struct kvm_sregs sregs;

    memset(&regs, 0xff, sizeof(regs));
    x86_boot_regs(&b, &regs);
    assert_int_equal(regs.rflags, 2);
    assert_int_equal(regs.rip, 0x1000200);
    assert_int_equal(regs.rsp, LAYOUT_BOOT_STACK);
    assert_int_equal(regs.rsi, LAYOUT_ZERO_PAGE);
    assert_int_equal(regs.rbx, 0);
    assert_int_equal(regs.rax, 0);

    memset(&sregs, 0, sizeof(sregs));
    sregs.apic_base = 0xfee00900; /* from KVM_GET_SREGS: must survive */
    x86_boot_sregs(&b, &sregs);
    assert_int_equal(sregs.apic_base, 0xfee00900);
    assert_int_equal(sregs.cr0, 0x80050033);
    assert_int_equal(sregs.cr4, 0x620);
    assert_int_equal(sregs.efer, 0xd01);
    assert_int_equal(sregs.cr3, LAYOUT_PML4);
    assert_int_equal(sregs.cs.selector, 0x10);
    assert_int_equal(sregs.cs.l, 1);
    assert_int_equal(sregs.cs.db, 0);
    assert_int_equal(sregs.cs.type, 0xb);
    assert_int_equal(sregs.cs.present, 1);
    assert_int_equal(sregs.ds.selector, 0x18);
    assert_int_equal(sregs.ss.selector, 0x18);
    assert_int_equal(sregs.ss.type, 0x3);
    assert_int_equal(sregs.ds.limit, 0xffffffff);
    assert_int_equal(sregs.gdt.base, LAYOUT_BOOT_GDT);
    assert_int_equal(sregs.gdt.limit, 31);
    assert_int_equal(sregs.idt.base, LAYOUT_BOOT_IDT);
    assert_int_equal(sregs.tr.type, 0xb);
    assert_int_equal(sregs.tr.present, 1);

    b = (X86BootSetup){.mode = X86_ENTRY_PVH, .entry = 0x1000100, .boot_info = LAYOUT_PVH_START_INFO};
    x86_boot_regs(&b, &regs);
    assert_int_equal(regs.rip, 0x1000100);
    assert_int_equal(regs.rbx, LAYOUT_PVH_START_INFO);
    assert_int_equal(regs.rsi, 0);
    x86_boot_sregs(&b, &sregs);
    assert_int_equal(sregs.cr0, 0x11);
    assert_int_equal(sregs.cr4, 0);
    assert_int_equal(sregs.efer, 0);
    assert_int_equal(sregs.cs.selector, 0x10);
    assert_int_equal(sregs.cs.l, 0);
    assert_int_equal(sregs.cs.db, 1);
    assert_int_equal(sregs.cs.limit, 0xffffffff);
    assert_int_equal(sregs.es.db, 1);
}

static void test_page_tables(void **state)
{
    (void)state;
    static uint8_t img[ELF_LEN];
    GuestMemory m;
    X86BootSetup b;
    char err[256];

    elf_build(img, false);
    const char *kpath = write_file("vmlinux-pt", img, ELF_LEN);
    test_mem_init(&m, 64 * MIB, 0);
    memset(m.regions[0].hva + LAYOUT_PML4, 0xee, 0x6000); /* stale tables */
    assert_int_equal(load(&m, kpath, NULL, NULL, 0, &b, err, sizeof(err)), 0);
    const uint8_t *ram = m.regions[0].hva;
    assert_int_equal(get64(ram + LAYOUT_PML4), LAYOUT_PDPT | 3);
    for (int i = 1; i < 512; i++)
        assert_int_equal(get64(ram + LAYOUT_PML4 + i * 8), 0);
    for (int i = 0; i < 4; i++)
        assert_int_equal(get64(ram + LAYOUT_PDPT + i * 8), (LAYOUT_PD + i * 0x1000ULL) | 3);
    assert_int_equal(get64(ram + LAYOUT_PDPT + 4 * 8), 0);
    /* Every 2 MiB of the low 4 GiB maps to itself, LAPIC and IOAPIC included. */
    for (uint64_t i = 0; i < 2048; i++)
        assert_int_equal(get64(ram + LAYOUT_PD + i * 8), (i << 21) | 0x83);
    uint64_t lapic_pde = get64(ram + LAYOUT_PD + (LAYOUT_LAPIC_START >> 21) * 8);
    assert_int_equal(lapic_pde & ~0xfffULL, LAYOUT_LAPIC_START & ~0x1fffffULL);
    assert_true(all_bytes(ram + LAYOUT_BOOT_IDT, 16, 0));
    test_mem_free(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bzimage_valid),
        cmocka_unit_test(test_bzimage_low_load),
        cmocka_unit_test(test_bzimage_initrd_addr_max),
        cmocka_unit_test(test_cmdline_limits),
        cmocka_unit_test(test_bzimage_hostile),
        cmocka_unit_test(test_bzimage_real),
        cmocka_unit_test(test_elf_pvh),
        cmocka_unit_test(test_elf_linux64),
        cmocka_unit_test(test_elf_hostile),
        cmocka_unit_test(test_payload_errors),
        cmocka_unit_test(test_e820),
        cmocka_unit_test(test_boot_regs),
        cmocka_unit_test(test_page_tables),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
