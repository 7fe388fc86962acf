/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bzImage: the setup header (Documentation/arch/x86/boot.rst) validated
 * against the file and guest RAM, the protected-mode kernel copied to RAM.
 *
 * We require boot protocol 2.12: we only use the 64-bit entry point
 * (load address + 0x200), which a kernel advertises with XLF_KERNEL_64 in
 * xloadflags, a 2.12 field; 2.12 also guarantees the fields we rely on
 * (cmdline_size 2.06, pref_address/init_size 2.10). Every x86-64 kernel
 * since 3.8 speaks at least 2.12.
 */
#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "layout.h"
#include "loader.h"

#define BZ_HDR_OFFSET          0x1f1 /* struct setup_header in the file and in boot_params */
#define BZ_JUMP_LEN_OFFSET     0x201 /* the header ends at 0x202 + this byte */
#define BZ_MAGIC_OFFSET        0x202
#define BZ_MAGIC               0x53726448U /* "HdrS" */
#define BZ_BOOT_FLAG           0xaa55
#define BZ_MIN_VERSION         0x020c
#define BZ_SECTOR              512
#define BZ_DEFAULT_SETUP_SECTS 4
#define BZ_ENTRY64_OFFSET      0x200
#define BZ_DEFAULT_INITRD_MAX  0x37ffffffU /* protocol default for old kernels */

_Static_assert(offsetof(struct boot_params, hdr) == BZ_HDR_OFFSET, "setup header offset");
_Static_assert(BZ_HDR_OFFSET + offsetof(struct setup_header, boot_flag) == 0x1fe, "boot_flag offset");
_Static_assert(BZ_HDR_OFFSET + offsetof(struct setup_header, header) == BZ_MAGIC_OFFSET, "magic offset");
_Static_assert(BZ_HDR_OFFSET + offsetof(struct setup_header, xloadflags) == 0x236, "xloadflags offset");
_Static_assert(BZ_HDR_OFFSET + offsetof(struct setup_header, pref_address) == 0x258, "pref_address offset");
_Static_assert(BZ_HDR_OFFSET + offsetof(struct setup_header, init_size) == 0x260, "init_size offset");

static inline uint64_t align_up(uint64_t v, uint64_t a)
{
    return (v + a - 1) & ~(a - 1);
}

/* True when [start, start+len) is RAM of one region, without overflow. */
static bool fits_in_ram(const GuestMemory *mem, uint64_t start, uint64_t len)
{
    uint64_t end = loader_ram_end_from(mem, start);
    return end != 0 && len <= end - start;
}

int bzimage_load(GuestMemory *mem, const LoaderFile *f, LoadedKernel *k, char *errbuf, size_t errlen)
{
    uint8_t buf[0x400] = {0};
    size_t n = f->size < sizeof(buf) ? (size_t)f->size : sizeof(buf);
    struct setup_header *h = &k->hdr;
    int r;

    if (f->size < BZ_MAGIC_OFFSET + 4)
        return loader_error(f, errbuf, errlen, -ENOEXEC, "file too short for a bzImage (%llu bytes)",
                            (unsigned long long)f->size);
    r = loader_pread_exact(f, 0, buf, n);
    if (r < 0)
        return loader_error(f, errbuf, errlen, r, "cannot read the setup header: %s", strerror(-r));

    /* The header is as long as its own jump instruction says: bytes past it
     * belong to the setup code, not to fields this kernel knows about. */
    size_t hdr_end = BZ_MAGIC_OFFSET + buf[BZ_JUMP_LEN_OFFSET];
    memset(h, 0, sizeof(*h));
    k->hdr_len = hdr_end - BZ_HDR_OFFSET;
    if (k->hdr_len > sizeof(*h))
        k->hdr_len = sizeof(*h);
    memcpy(h, buf + BZ_HDR_OFFSET, k->hdr_len < n - BZ_HDR_OFFSET ? k->hdr_len : n - BZ_HDR_OFFSET);
    k->has_setup_header = true;

    if (h->header != BZ_MAGIC)
        return loader_error(f, errbuf, errlen, -ENOEXEC, "no \"HdrS\" magic at 0x202: not a bzImage");
    if (h->boot_flag != BZ_BOOT_FLAG)
        return loader_error(f, errbuf, errlen, -ENOEXEC, "boot flag is 0x%04x, expected 0xaa55",
                            h->boot_flag);
    if (h->version < BZ_MIN_VERSION)
        return loader_error(f, errbuf, errlen, -ENOEXEC,
                            "boot protocol %u.%02u is too old: 2.12 or later is needed for the 64-bit entry",
                            h->version >> 8, h->version & 0xff);
    if (hdr_end > f->size)
        return loader_error(f, errbuf, errlen, -ENOEXEC,
                            "truncated: the setup header ends at 0x%zx, past the end", hdr_end);
    if (k->hdr_len < offsetof(struct setup_header, init_size) + sizeof(h->init_size))
        return loader_error(f, errbuf, errlen, -ENOEXEC,
                            "setup header ends at 0x%zx, before init_size (0x260) that protocol 2.10+ has",
                            hdr_end);

    uint64_t setup_sects = h->setup_sects ? h->setup_sects : BZ_DEFAULT_SETUP_SECTS;
    uint64_t setup_size = (setup_sects + 1) * BZ_SECTOR;
    if (setup_size >= f->size)
        return loader_error(
            f, errbuf, errlen, -ENOEXEC,
            "setup_sects %llu puts the kernel at offset %llu, past the end of the %llu-byte file",
            (unsigned long long)setup_sects, (unsigned long long)setup_size, (unsigned long long)f->size);
    if (!(h->loadflags & LOADED_HIGH))
        return loader_error(f, errbuf, errlen, -ENOEXEC,
                            "not loadable at 1 MiB (LOADED_HIGH clear: a zImage)");
    if (!(h->xloadflags & XLF_KERNEL_64))
        return loader_error(f, errbuf, errlen, -ENOEXEC, "no 64-bit entry point (XLF_KERNEL_64 clear)");

    /* syssize counts 16-byte paragraphs of protected-mode code; a signed
     * kernel carries its signature after them, which we do not load. */
    uint64_t pm_bytes = (uint64_t)h->syssize * 16;
    if (pm_bytes == 0)
        return loader_error(f, errbuf, errlen, -ENOEXEC, "syssize is 0");
    if (pm_bytes > f->size - setup_size)
        return loader_error(
            f, errbuf, errlen, -ENOEXEC,
            "truncated: syssize says %llu bytes of kernel, the file has %llu after the setup code",
            (unsigned long long)pm_bytes, (unsigned long long)(f->size - setup_size));

    bool relocatable = h->relocatable_kernel != 0;
    uint64_t align = h->kernel_alignment;
    if (relocatable && (align == 0 || (align & (align - 1)) != 0 || align > LAYOUT_MEM_32BIT_GAP_START))
        return loader_error(f, errbuf, errlen, -ENOEXEC, "kernel_alignment 0x%llx is not a power of two",
                            (unsigned long long)align);
    uint64_t init_size = h->init_size > pm_bytes ? h->init_size : pm_bytes;

    /* Where the kernel will run: a relocatable kernel decompresses at its
     * load address rounded up to kernel_alignment, a fixed one always at
     * pref_address. init_size bytes from there must be RAM. */
    uint64_t load = LAYOUT_HIGH_MEMORY_START, run;
    uint64_t pref = h->pref_address;
    if (relocatable && pref > LAYOUT_HIGH_MEMORY_START && (pref & (align - 1)) == 0 &&
        fits_in_ram(mem, pref, init_size))
        load = pref; /* saves the kernel moving itself */
    run = relocatable ? align_up(load, align) : (pref ? pref : load);

    if (!fits_in_ram(mem, load, pm_bytes))
        return loader_error(f, errbuf, errlen, -ENOMEM,
                            "%llu bytes of kernel do not fit in guest RAM at 0x%llx",
                            (unsigned long long)pm_bytes, (unsigned long long)load);
    if (!fits_in_ram(mem, run, init_size)) {
        uint64_t end = loader_ram_end_from(mem, run);
        if (end == 0)
            return loader_error(f, errbuf, errlen, -ENOMEM,
                                "init_size: the kernel runs at 0x%llx, which is not guest RAM",
                                (unsigned long long)run);
        return loader_error(
            f, errbuf, errlen, -ENOMEM,
            "init_size: the kernel needs %llu bytes of RAM from 0x%llx, guest RAM there ends at 0x%llx",
            (unsigned long long)init_size, (unsigned long long)run, (unsigned long long)end);
    }

    r = loader_read_to_guest(f, mem, setup_size, load, pm_bytes);
    if (r < 0)
        return loader_error(f, errbuf, errlen, r, "cannot read the kernel: %s", strerror(-r));

    k->mode = X86_ENTRY_LINUX64;
    k->entry = load + BZ_ENTRY64_OFFSET;
    k->start = load;
    k->end = load + pm_bytes;
    k->reserve_end = run + init_size > k->end ? run + init_size : k->end;
    k->initrd_max = h->initrd_addr_max ? h->initrd_addr_max : BZ_DEFAULT_INITRD_MAX;
    /* 2.06+ always has cmdline_size; 0 would make any command line too long,
     * so treat it like the pre-2.06 limit. */
    k->cmdline_max = h->cmdline_size ? h->cmdline_size : 255;
    return 0;
}
