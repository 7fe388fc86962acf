/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Loading a Linux payload and preparing the boot vCPU's state:
 *  - bzImage: setup header parsed and validated, protected-mode part loaded at
 *    1 MiB, 64-bit entry at load address + 0x200, boot_params (zero page)
 *    with e820, cmdline and initramfs;
 *  - vmlinux ELF: PT_LOAD segments placed at their physical addresses; PVH
 *    entry (32-bit, start_info in %ebx) when the ELF has the
 *    XEN_ELFNOTE_PHYS32_ENTRY note, else the 64-bit entry at e_entry with
 *    boot_params in %rsi.
 * The kernel and initramfs files are hostile input: every header field,
 * offset and size is checked against the file and against guest RAM.
 */
#pragma once

#include <linux/kvm.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "guest_memory.h"

typedef enum X86EntryMode {
    X86_ENTRY_LINUX64, /* long mode, %rsi = boot_params */
    X86_ENTRY_PVH,     /* 32-bit protected mode, paging off, %ebx = start_info */
} X86EntryMode;

typedef struct X86BootSetup {
    X86EntryMode mode;
    uint64_t entry;          /* guest-physical entry point */
    uint64_t boot_info;      /* zero page or PVH start_info */
    uint64_t kernel_start;   /* lowest loaded byte */
    uint64_t kernel_end;     /* one past the highest loaded byte */
    uint64_t initramfs_addr; /* 0 when none */
    uint64_t initramfs_size;
} X86BootSetup;

/*
 * Loads payload->kernel (+ initramfs, cmdline) into mem, writes the e820 map
 * (from mem's regions plus the reserved low areas) into boot_params or the
 * PVH memmap, and records rsdp (0 = none) for the guest. Also writes the boot
 * GDT, IDT and identity page tables. Returns 0 or -errno with a message that
 * names the file and what is wrong with it.
 */
int x86_load_payload(GuestMemory *mem, const PayloadConfig *payload, uint64_t rsdp, X86BootSetup *out,
                     char *errbuf, size_t errlen);

/* Register state for the boot vCPU (the BSP); sregs comes from KVM_GET_SREGS
 * and is modified in place (segments, GDT/IDT, CR0/CR3/CR4/EFER). */
void x86_boot_regs(const X86BootSetup *b, struct kvm_regs *regs);
void x86_boot_sregs(const X86BootSetup *b, struct kvm_sregs *sregs);
