/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vmlinux: an ELF64 x86-64 executable whose PT_LOAD segments go to their
 * physical addresses. Linux's vmlinux carries a Xen ELF note
 * (XEN_ELFNOTE_PHYS32_ENTRY) giving the 32-bit PVH entry point; without it
 * we enter at e_entry in long mode with a zero page, like a 64-bit bzImage.
 */
#include <elf.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "layout.h"
#include "loader.h"

#define XEN_ELFNOTE_PHYS32_ENTRY 18

static inline uint64_t align4(uint64_t v)
{
    return (v + 3) & ~3ULL;
}

/* Walks one PT_NOTE segment; *pvh_entry is set when the PVH note is found. */
static int scan_notes(const LoaderFile *f, const Elf64_Phdr *ph, bool *found, uint64_t *pvh_entry,
                      char *errbuf, size_t errlen)
{
    if (ph->p_filesz > LOADER_MAX_NOTE_BYTES)
        return loader_error(f, errbuf, errlen, -ENOEXEC, "note segment of %llu bytes is implausibly large",
                            (unsigned long long)ph->p_filesz);
    if (ph->p_filesz == 0)
        return 0;
    uint8_t *buf = malloc(ph->p_filesz);
    if (!buf)
        return loader_error(f, errbuf, errlen, -ENOMEM, "out of memory reading notes");
    int r = loader_pread_exact(f, ph->p_offset, buf, ph->p_filesz);
    if (r < 0) {
        free(buf);
        return loader_error(f, errbuf, errlen, r, "cannot read a note segment: %s", strerror(-r));
    }

    uint64_t len = ph->p_filesz, pos = 0;
    while (len - pos >= sizeof(Elf64_Nhdr)) {
        Elf64_Nhdr nh;
        memcpy(&nh, buf + pos, sizeof(nh));
        pos += sizeof(nh);
        uint64_t name_len = align4(nh.n_namesz), desc_len = align4(nh.n_descsz);
        if (name_len > len - pos || desc_len > len - pos - name_len) {
            free(buf);
            return loader_error(f, errbuf, errlen, -ENOEXEC,
                                "ELF note (namesz %u, descsz %u) runs past the end of its segment",
                                nh.n_namesz, nh.n_descsz);
        }
        const uint8_t *name = buf + pos, *desc = buf + pos + name_len;
        pos += name_len + desc_len;

        if (nh.n_type != XEN_ELFNOTE_PHYS32_ENTRY || nh.n_namesz != 4 || memcmp(name, "Xen", 4) != 0)
            continue;
        uint64_t v = 0;
        if (nh.n_descsz == 4) {
            uint32_t v32;
            memcpy(&v32, desc, 4);
            v = v32;
        } else if (nh.n_descsz == 8) {
            memcpy(&v, desc, 8);
        } else {
            free(buf);
            return loader_error(f, errbuf, errlen, -ENOEXEC,
                                "PVH entry note has a %u-byte value (4 expected)", nh.n_descsz);
        }
        if (v > UINT32_MAX) {
            free(buf);
            return loader_error(f, errbuf, errlen, -ENOEXEC, "PVH entry 0x%llx is not a 32-bit address",
                                (unsigned long long)v);
        }
        *found = true;
        *pvh_entry = v;
    }
    free(buf);
    return 0;
}

static int check_load_segment(const GuestMemory *mem, const LoaderFile *f, size_t i, const Elf64_Phdr *ph,
                              char *errbuf, size_t errlen)
{
    if (ph->p_filesz > ph->p_memsz)
        return loader_error(f, errbuf, errlen, -ENOEXEC,
                            "segment %zu: file size %llu exceeds memory size %llu", i,
                            (unsigned long long)ph->p_filesz, (unsigned long long)ph->p_memsz);
    if (ph->p_offset > f->size || ph->p_filesz > f->size - ph->p_offset)
        return loader_error(f, errbuf, errlen, -ENOEXEC,
                            "segment %zu: bytes [%llu, +%llu) lie past the end of the %llu-byte file", i,
                            (unsigned long long)ph->p_offset, (unsigned long long)ph->p_filesz,
                            (unsigned long long)f->size);
    /* Below 1 MiB live our own boot structures (zero page, page tables,
     * command line, ACPI): a kernel may not overwrite them. */
    if (ph->p_paddr < LAYOUT_HIGH_MEMORY_START)
        return loader_error(f, errbuf, errlen, -ENOEXEC,
                            "segment %zu: physical address 0x%llx is below 1 MiB", i,
                            (unsigned long long)ph->p_paddr);
    if (ph->p_paddr + ph->p_memsz < ph->p_paddr || !guest_memory_range_ok(mem, ph->p_paddr, ph->p_memsz))
        return loader_error(f, errbuf, errlen, -ENOEXEC,
                            "segment %zu: [0x%llx, +0x%llx) is not inside guest RAM (RAM below 4 GiB ends at "
                            "0x%llx)",
                            i, (unsigned long long)ph->p_paddr, (unsigned long long)ph->p_memsz,
                            (unsigned long long)loader_ram_end_from(mem, LAYOUT_HIGH_MEMORY_START));
    return 0;
}

int elf_load(GuestMemory *mem, const LoaderFile *f, LoadedKernel *k, char *errbuf, size_t errlen)
{
    Elf64_Ehdr eh;
    int r;

    if (f->size < sizeof(eh))
        return loader_error(f, errbuf, errlen, -ENOEXEC, "truncated ELF header (%llu bytes)",
                            (unsigned long long)f->size);
    r = loader_pread_exact(f, 0, &eh, sizeof(eh));
    if (r < 0)
        return loader_error(f, errbuf, errlen, r, "cannot read the ELF header: %s", strerror(-r));
    if (memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0)
        return loader_error(f, errbuf, errlen, -ENOEXEC, "not an ELF file");
    if (eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_ident[EI_DATA] != ELFDATA2LSB || eh.e_machine != EM_X86_64)
        return loader_error(f, errbuf, errlen, -ENOEXEC, "not a little-endian ELF64 x86-64 image");
    if (eh.e_type != ET_EXEC)
        return loader_error(f, errbuf, errlen, -ENOEXEC, "ELF type %u is not ET_EXEC (a vmlinux)", eh.e_type);
    if (eh.e_phentsize != sizeof(Elf64_Phdr))
        return loader_error(f, errbuf, errlen, -ENOEXEC, "program header size %u, expected %zu",
                            eh.e_phentsize, sizeof(Elf64_Phdr));
    if (eh.e_phnum == 0 || eh.e_phnum > LOADER_MAX_PHDRS)
        return loader_error(f, errbuf, errlen, -ENOEXEC, "%u program headers (1 to %d accepted)", eh.e_phnum,
                            LOADER_MAX_PHDRS);
    uint64_t table = (uint64_t)eh.e_phnum * sizeof(Elf64_Phdr);
    if (eh.e_phoff > f->size || table > f->size - eh.e_phoff)
        return loader_error(f, errbuf, errlen, -ENOEXEC,
                            "program header table at %llu runs past the end of the file",
                            (unsigned long long)eh.e_phoff);

    Elf64_Phdr *ph = calloc(eh.e_phnum, sizeof(*ph));
    if (!ph)
        return loader_error(f, errbuf, errlen, -ENOMEM, "out of memory");
    r = loader_pread_exact(f, eh.e_phoff, ph, table);
    if (r < 0) {
        loader_error(f, errbuf, errlen, r, "cannot read the program headers: %s", strerror(-r));
        goto out;
    }

    /* Validate everything before writing anything to guest RAM. */
    bool have_pvh = false;
    uint64_t pvh_entry = 0, lo = UINT64_MAX, hi = 0;
    for (size_t i = 0; i < eh.e_phnum; i++) {
        if (ph[i].p_type == PT_NOTE) {
            if (ph[i].p_offset > f->size || ph[i].p_filesz > f->size - ph[i].p_offset) {
                r = loader_error(f, errbuf, errlen, -ENOEXEC,
                                 "note segment %zu lies past the end of the file", i);
                goto out;
            }
            r = scan_notes(f, &ph[i], &have_pvh, &pvh_entry, errbuf, errlen);
            if (r < 0)
                goto out;
        }
        if (ph[i].p_type != PT_LOAD || ph[i].p_memsz == 0)
            continue;
        r = check_load_segment(mem, f, i, &ph[i], errbuf, errlen);
        if (r < 0)
            goto out;
        if (ph[i].p_paddr < lo)
            lo = ph[i].p_paddr;
        if (ph[i].p_paddr + ph[i].p_memsz > hi)
            hi = ph[i].p_paddr + ph[i].p_memsz;
    }
    if (hi == 0) {
        r = loader_error(f, errbuf, errlen, -ENOEXEC, "no loadable segment");
        goto out;
    }

    uint64_t entry = have_pvh ? pvh_entry : eh.e_entry;
    bool entry_ok = false;
    for (size_t i = 0; i < eh.e_phnum; i++)
        if (ph[i].p_type == PT_LOAD && entry >= ph[i].p_paddr && entry - ph[i].p_paddr < ph[i].p_filesz)
            entry_ok = true;
    if (!entry_ok) {
        r = loader_error(f, errbuf, errlen, -ENOEXEC, "%s entry point 0x%llx is not inside a loaded segment",
                         have_pvh ? "PVH" : "ELF", (unsigned long long)entry);
        goto out;
    }

    for (size_t i = 0; i < eh.e_phnum; i++) {
        if (ph[i].p_type != PT_LOAD || ph[i].p_memsz == 0)
            continue;
        if (ph[i].p_filesz) {
            r = loader_read_to_guest(f, mem, ph[i].p_offset, ph[i].p_paddr, ph[i].p_filesz);
            if (r < 0) {
                loader_error(f, errbuf, errlen, r, "cannot read segment %zu: %s", i, strerror(-r));
                goto out;
            }
        }
        /* RAM may hold a previous boot's data (reboot): clear the bss. */
        if (ph[i].p_memsz > ph[i].p_filesz) {
            r = loader_zero_guest(mem, ph[i].p_paddr + ph[i].p_filesz, ph[i].p_memsz - ph[i].p_filesz);
            if (r < 0) {
                loader_error(f, errbuf, errlen, r, "cannot clear segment %zu's bss", i);
                goto out;
            }
        }
    }

    k->mode = have_pvh ? X86_ENTRY_PVH : X86_ENTRY_LINUX64;
    k->entry = entry;
    k->start = lo;
    k->end = hi;
    k->reserve_end = hi;
    k->initrd_max = UINT32_MAX;
    k->cmdline_max = LAYOUT_CMDLINE_MAX - 1;
    k->has_setup_header = false;
    r = 0;
out:
    free(ph);
    return r;
}
