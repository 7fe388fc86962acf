/* SPDX-License-Identifier: Apache-2.0 */
/*
 * x86_load_payload(): opens the kernel, hands it to the bzImage or ELF
 * parser, then places the command line and initramfs and writes the boot
 * information the entry mode expects (Linux zero page or PVH start_info).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "e820.h"
#include "inherited_fd.h"
#include "layout.h"
#include "loader.h"

#define PAGE_SIZE_4K               4096ULL
#define BOOT_LOADER_TYPE_UNDEFINED 0xff /* boot.rst: "no assigned ID" */
#define BOOT_VID_MODE_NORMAL       0xffff
#define BOOT_HEAP_END              0xfe00 /* setup heap end, relative to the real-mode code */
#define BOOT_HDR_MAGIC             0x53726448U
#define BOOT_FLAG                  0xaa55
#define BOOT_ELF_PROTOCOL          0x020c /* what our synthetic setup header claims */
#define BOOT_ELF_KERNEL_ALIGN      0x1000000

/* The Xen PVH boot ABI (xen/include/public/arch-x86/hvm/start_info.h). */
#define HVM_START_MAGIC 0x336ec578U
typedef struct HvmStartInfo {
    uint32_t magic;
    uint32_t version;
    uint32_t flags;
    uint32_t nr_modules;
    uint64_t modlist_paddr;
    uint64_t cmdline_paddr;
    uint64_t rsdp_paddr;
    uint64_t memmap_paddr; /* version 1 */
    uint32_t memmap_entries;
    uint32_t reserved;
} HvmStartInfo;
typedef struct HvmModlistEntry {
    uint64_t paddr;
    uint64_t size;
    uint64_t cmdline_paddr;
    uint64_t reserved;
} HvmModlistEntry;
typedef struct HvmMemmapEntry {
    uint64_t addr;
    uint64_t size;
    uint32_t type; /* e820 values */
    uint32_t reserved;
} HvmMemmapEntry;
_Static_assert(sizeof(HvmStartInfo) == 56, "hvm_start_info size");
_Static_assert(sizeof(HvmModlistEntry) == 32, "hvm_modlist_entry size");
_Static_assert(sizeof(HvmMemmapEntry) == 24, "hvm_memmap_table_entry size");

/* PVH blocks packed after start_info inside its page, before the zero page. */
#define PVH_MODLIST (LAYOUT_PVH_START_INFO + 0x40)
#define PVH_MEMMAP  (PVH_MODLIST + 0x40)
_Static_assert(PVH_MEMMAP + X86_E820_MAX_ENTRIES * sizeof(HvmMemmapEntry) <= LAYOUT_ZERO_PAGE, "PVH page");

_Static_assert(sizeof(struct boot_params) == 4096, "zero page size");
_Static_assert(offsetof(struct boot_params, acpi_rsdp_addr) == 0x070, "acpi_rsdp_addr");
_Static_assert(offsetof(struct boot_params, ext_ramdisk_image) == 0x0c0, "ext_ramdisk_image");
_Static_assert(offsetof(struct boot_params, e820_entries) == 0x1e8, "e820_entries");
_Static_assert(offsetof(struct boot_params, e820_table) == 0x2d0, "e820_table");
_Static_assert(X86_E820_MAX_ENTRIES <= E820_MAX_ENTRIES_ZEROPAGE, "e820 fits the zero page");

/* ------------------------------------------------------------ helpers */

int loader_error(const LoaderFile *f, char *errbuf, size_t errlen, int err, const char *fmt, ...)
{
    if (errbuf && errlen) {
        int n = snprintf(errbuf, errlen, "%s %s: ", f->what, f->path);
        if (n >= 0 && (size_t)n < errlen) {
            va_list ap;
            va_start(ap, fmt);
            vsnprintf(errbuf + n, errlen - (size_t)n, fmt, ap);
            va_end(ap);
        }
    }
    return err;
}

int loader_pread_exact(const LoaderFile *f, uint64_t off, void *buf, size_t len)
{
    uint8_t *p = buf;
    while (len) {
        ssize_t n = pread(f->fd, p, len, (off_t)off);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (n == 0)
            return -EIO; /* the file shrank under us */
        p += n;
        off += (uint64_t)n;
        len -= (size_t)n;
    }
    return 0;
}

int loader_read_to_guest(const LoaderFile *f, GuestMemory *mem, uint64_t off, uint64_t gpa, uint64_t len)
{
    if (len == 0)
        return 0;
    void *dst = guest_memory_ptr(mem, gpa, len);
    if (!dst || len > SIZE_MAX)
        return -EFAULT;
    return loader_pread_exact(f, off, dst, (size_t)len);
}

int loader_zero_guest(GuestMemory *mem, uint64_t gpa, uint64_t len)
{
    if (len == 0)
        return 0;
    void *dst = guest_memory_ptr(mem, gpa, len);
    if (!dst)
        return -EFAULT;
    memset(dst, 0, len);
    return 0;
}

uint64_t loader_ram_end_from(const GuestMemory *mem, uint64_t gpa)
{
    for (size_t i = 0; i < mem->n_regions && i < GUEST_MEMORY_MAX_REGIONS; i++) {
        const GuestRegion *r = &mem->regions[i];
        if (gpa >= r->gpa && gpa - r->gpa < r->size)
            return r->gpa + r->size;
    }
    return 0;
}

static int open_file(LoaderFile *f, const char *what, const char *path, char *errbuf, size_t errlen)
{
    struct stat st;

    f->what = what;
    f->path = path;
    /* A reboot loads the payload again: an inherited /dev/fd/N is
     * duplicated each time and read with pread only, so its offset never
     * matters. */
    f->fd = open_or_inherit(path, O_RDONLY, 0);
    if (f->fd < 0)
        return loader_error(f, errbuf, errlen, -errno, "cannot open: %s", strerror(errno));
    if (fstat(f->fd, &st) < 0)
        return loader_error(f, errbuf, errlen, -errno, "cannot stat: %s", strerror(errno));
    if (!S_ISREG(st.st_mode))
        return loader_error(f, errbuf, errlen, -EINVAL, "not a regular file");
    f->size = (uint64_t)st.st_size;
    return 0;
}

static void close_file(LoaderFile *f)
{
    if (f->fd >= 0)
        close(f->fd);
    f->fd = -1;
}

/* -------------------------------------------------------- boot info */

static void fill_e820(struct boot_params *bp, const X86E820Entry *e, int n)
{
    bp->e820_entries = (uint8_t)n;
    for (int i = 0; i < n; i++) {
        bp->e820_table[i].addr = e[i].addr;
        bp->e820_table[i].size = e[i].size;
        bp->e820_table[i].type = e[i].type;
    }
}

static int write_zero_page(GuestMemory *mem, const LoadedKernel *k, const X86BootSetup *b,
                           const X86E820Entry *e820, int n_e820, uint64_t rsdp)
{
    struct boot_params bp;
    struct setup_header *h = &bp.hdr;

    memset(&bp, 0, sizeof(bp));
    if (k->has_setup_header) {
        /* Only the bytes the kernel's own header declares, so fields it
         * does not know about stay zero (boot.rst: copy the setup header). */
        memcpy(h, &k->hdr, k->hdr_len);
        h->code32_start = (uint32_t)k->start;
    } else {
        /* A vmlinux has no setup header: make the one startup_64 reads. */
        h->boot_flag = BOOT_FLAG;
        h->header = BOOT_HDR_MAGIC;
        h->version = BOOT_ELF_PROTOCOL;
        h->loadflags = LOADED_HIGH;
        h->kernel_alignment = BOOT_ELF_KERNEL_ALIGN;
        h->cmdline_size = LAYOUT_CMDLINE_MAX - 1;
        h->initrd_addr_max = (uint32_t)k->initrd_max;
        h->xloadflags = XLF_KERNEL_64;
    }
    h->type_of_loader = BOOT_LOADER_TYPE_UNDEFINED;
    h->loadflags |= CAN_USE_HEAP;
    h->heap_end_ptr = BOOT_HEAP_END;
    h->vid_mode = BOOT_VID_MODE_NORMAL;
    h->cmd_line_ptr = (uint32_t)LAYOUT_CMDLINE;
    bp.ext_cmd_line_ptr = 0;
    if (b->initramfs_size) {
        h->ramdisk_image = (uint32_t)b->initramfs_addr;
        h->ramdisk_size = (uint32_t)b->initramfs_size;
        bp.ext_ramdisk_image = (uint32_t)(b->initramfs_addr >> 32);
        bp.ext_ramdisk_size = (uint32_t)(b->initramfs_size >> 32);
    }
    fill_e820(&bp, e820, n_e820);
    if (rsdp)
        bp.acpi_rsdp_addr = rsdp;
    return guest_memory_write(mem, LAYOUT_ZERO_PAGE, &bp, sizeof(bp));
}

static int write_pvh_start_info(GuestMemory *mem, const X86BootSetup *b, const X86E820Entry *e820, int n_e820,
                                uint64_t rsdp)
{
    HvmStartInfo si = {
        .magic = HVM_START_MAGIC,
        .version = 1,
        .cmdline_paddr = LAYOUT_CMDLINE,
        .rsdp_paddr = rsdp,
        .memmap_paddr = PVH_MEMMAP,
        .memmap_entries = (uint32_t)n_e820,
    };
    HvmMemmapEntry mm[X86_E820_MAX_ENTRIES];
    int r;

    if (b->initramfs_size) {
        HvmModlistEntry mod = {.paddr = b->initramfs_addr, .size = b->initramfs_size};
        si.nr_modules = 1;
        si.modlist_paddr = PVH_MODLIST;
        r = guest_memory_write(mem, PVH_MODLIST, &mod, sizeof(mod));
        if (r < 0)
            return r;
    }
    memset(mm, 0, sizeof(mm));
    for (int i = 0; i < n_e820; i++)
        mm[i] = (HvmMemmapEntry){.addr = e820[i].addr, .size = e820[i].size, .type = e820[i].type};
    r = guest_memory_write(mem, PVH_MEMMAP, mm, (size_t)n_e820 * sizeof(mm[0]));
    if (r < 0)
        return r;
    return guest_memory_write(mem, LAYOUT_PVH_START_INFO, &si, sizeof(si));
}

/* ------------------------------------------------------------- loading */

static int load_kernel(GuestMemory *mem, const LoaderFile *f, LoadedKernel *k, char *errbuf, size_t errlen)
{
    uint8_t magic[4] = {0};
    int r;

    if (f->size < 4)
        return loader_error(f, errbuf, errlen, -ENOEXEC, "file too short to be a kernel (%llu bytes)",
                            (unsigned long long)f->size);
    r = loader_pread_exact(f, 0, magic, sizeof(magic));
    if (r < 0)
        return loader_error(f, errbuf, errlen, r, "cannot read: %s", strerror(-r));
    if (memcmp(magic, "\177ELF", 4) == 0)
        return elf_load(mem, f, k, errbuf, errlen);
    if (f->size >= 0x206) {
        r = loader_pread_exact(f, 0x202, magic, sizeof(magic));
        if (r < 0)
            return loader_error(f, errbuf, errlen, r, "cannot read: %s", strerror(-r));
        if (memcmp(magic, "HdrS", 4) == 0)
            return bzimage_load(mem, f, k, errbuf, errlen);
    }
    return loader_error(f, errbuf, errlen, -ENOEXEC,
                        "neither a bzImage (no \"HdrS\" at 0x202) nor an ELF vmlinux");
}

/* Top of RAM below 4 GiB (and below the kernel's limit), page aligned,
 * above everything the kernel claims. */
static int load_initramfs(GuestMemory *mem, const char *path, const LoadedKernel *k, X86BootSetup *out,
                          char *errbuf, size_t errlen)
{
    LoaderFile f = {.fd = -1};
    int r = open_file(&f, "initramfs", path, errbuf, errlen);
    if (r < 0)
        goto out;

    uint64_t top = loader_ram_end_from(mem, LAYOUT_HIGH_MEMORY_START);
    if (top > LAYOUT_MEM_32BIT_GAP_START)
        top = LAYOUT_MEM_32BIT_GAP_START;
    if (k->initrd_max < UINT64_MAX && top > k->initrd_max + 1)
        top = k->initrd_max + 1;
    top &= ~(PAGE_SIZE_4K - 1);

    if (f.size == 0) {
        r = loader_error(&f, errbuf, errlen, -EINVAL, "empty file");
        goto out;
    }
    if (f.size > top || ((top - f.size) & ~(PAGE_SIZE_4K - 1)) < k->reserve_end) {
        r = loader_error(&f, errbuf, errlen, -ENOMEM,
                         "%llu bytes do not fit between the kernel (up to 0x%llx) and the top of usable RAM "
                         "(0x%llx)",
                         (unsigned long long)f.size, (unsigned long long)k->reserve_end,
                         (unsigned long long)top);
        goto out;
    }
    uint64_t addr = (top - f.size) & ~(PAGE_SIZE_4K - 1);
    r = loader_read_to_guest(&f, mem, 0, addr, f.size);
    if (r < 0) {
        loader_error(&f, errbuf, errlen, r, "cannot read: %s", strerror(-r));
        goto out;
    }
    out->initramfs_addr = addr;
    out->initramfs_size = f.size;
out:
    close_file(&f);
    return r;
}

int x86_load_payload(GuestMemory *mem, const PayloadConfig *payload, uint64_t rsdp, X86BootSetup *out,
                     char *errbuf, size_t errlen)
{
    LoaderFile kf = {.what = "kernel", .path = "", .fd = -1};
    LoadedKernel k;
    X86E820Entry e820[X86_E820_MAX_ENTRIES];
    int r, n_e820;

    memset(out, 0, sizeof(*out));
    memset(&k, 0, sizeof(k));
    if (!payload || !payload->kernel) {
        snprintf(errbuf, errlen, "%s",
                 payload && payload->firmware ? "firmware payloads are not supported: boot a kernel"
                                              : "no kernel to boot");
        return payload && payload->firmware ? -ENOTSUP : -EINVAL;
    }

    r = open_file(&kf, "kernel", payload->kernel, errbuf, errlen);
    if (r < 0)
        goto out;
    r = load_kernel(mem, &kf, &k, errbuf, errlen);
    if (r < 0)
        goto out;

    const char *cmdline = payload->cmdline ? payload->cmdline : "";
    size_t cmdline_len = strlen(cmdline);
    if (cmdline_len > k.cmdline_max || cmdline_len >= LAYOUT_CMDLINE_MAX) {
        r = loader_error(&kf, errbuf, errlen, -E2BIG,
                         "command line is %zu bytes, the kernel accepts at most %u", cmdline_len,
                         k.cmdline_max < LAYOUT_CMDLINE_MAX - 1 ? k.cmdline_max
                                                                : (unsigned)(LAYOUT_CMDLINE_MAX - 1));
        goto out;
    }
    r = guest_memory_write(mem, LAYOUT_CMDLINE, cmdline, cmdline_len + 1);
    if (r < 0) {
        loader_error(&kf, errbuf, errlen, r, "guest RAM has no room for the command line at 0x%llx",
                     (unsigned long long)LAYOUT_CMDLINE);
        goto out;
    }

    out->mode = k.mode;
    out->entry = k.entry;
    out->kernel_start = k.start;
    out->kernel_end = k.end;
    out->boot_info = k.mode == X86_ENTRY_PVH ? LAYOUT_PVH_START_INFO : LAYOUT_ZERO_PAGE;

    if (payload->initramfs) {
        r = load_initramfs(mem, payload->initramfs, &k, out, errbuf, errlen);
        if (r < 0)
            goto out;
    }

    n_e820 = x86_e820_build(mem, e820, X86_E820_MAX_ENTRIES);
    if (n_e820 < 0) {
        r = loader_error(&kf, errbuf, errlen, n_e820, "cannot build the e820 map: %s", strerror(-n_e820));
        goto out;
    }
    r = x86_write_boot_tables(mem, k.mode);
    if (r < 0) {
        loader_error(&kf, errbuf, errlen, r, "guest RAM below 1 MiB cannot hold the boot page tables");
        goto out;
    }
    if (k.mode == X86_ENTRY_PVH)
        r = write_pvh_start_info(mem, out, e820, n_e820, rsdp);
    else
        r = write_zero_page(mem, &k, out, e820, n_e820, rsdp);
    if (r < 0)
        loader_error(&kf, errbuf, errlen, r, "guest RAM cannot hold the boot information");
out:
    close_file(&kf);
    if (r < 0)
        memset(out, 0, sizeof(*out));
    return r;
}
