/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Internals shared by the x86 loader files (boot.c, bzimage.c, elf.c,
 * boot_cpu.c). Not for use outside arch/x86: vmm.c only needs boot.h.
 */
#pragma once

#include <asm/bootparam.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "boot.h"
#include "guest_memory.h"

/* Our own ceilings for hostile images: far above any real kernel. */
#define LOADER_MAX_PHDRS      128
#define LOADER_MAX_NOTE_BYTES (64 * 1024)

/* An open kernel or initramfs file; path is only used in messages. */
typedef struct LoaderFile {
    const char *what; /* "kernel" or "initramfs" */
    const char *path;
    int fd;
    uint64_t size;
} LoaderFile;

/* What a kernel-format parser tells boot.c after placing the image. */
typedef struct LoadedKernel {
    X86EntryMode mode;
    uint64_t entry;
    uint64_t start;       /* lowest loaded byte */
    uint64_t end;         /* one past the highest loaded byte */
    uint64_t reserve_end; /* the kernel may use RAM up to here before reading e820 */
    uint64_t initrd_max;  /* last byte an initramfs may occupy */
    uint32_t cmdline_max; /* longest command line (bytes, without NUL) */
    bool has_setup_header;
    struct setup_header hdr; /* from the bzImage; only hdr_len bytes are the file's */
    size_t hdr_len;
} LoadedKernel;

/* Formats "<what> <path>: <message>" into errbuf and returns err (negative). */
int loader_error(const LoaderFile *f, char *errbuf, size_t errlen, int err, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* Reads exactly len bytes at off; a short read is -EIO. */
int loader_pread_exact(const LoaderFile *f, uint64_t off, void *buf, size_t len);
/* Reads exactly len bytes at off straight into guest RAM [gpa, gpa+len). */
int loader_read_to_guest(const LoaderFile *f, GuestMemory *mem, uint64_t off, uint64_t gpa, uint64_t len);
/* Zeroes guest RAM [gpa, gpa+len); -EFAULT when not wholly in one region. */
int loader_zero_guest(GuestMemory *mem, uint64_t gpa, uint64_t len);

/* RAM from gpa up to the end of the region holding gpa (0 when gpa is not RAM). */
uint64_t loader_ram_end_from(const GuestMemory *mem, uint64_t gpa);

int bzimage_load(GuestMemory *mem, const LoaderFile *f, LoadedKernel *k, char *errbuf, size_t errlen);
int elf_load(GuestMemory *mem, const LoaderFile *f, LoadedKernel *k, char *errbuf, size_t errlen);

/* Boot GDT, IDT and identity page tables (boot_cpu.c). */
int x86_write_boot_tables(GuestMemory *mem, X86EntryMode mode);
