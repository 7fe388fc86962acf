#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Wraps the payload ELF into a bzImage (Linux x86 boot protocol 2.15).

Usage: mkbzimage.py PAYLOAD.ELF OUT.bzImage

The protected-mode part is the ELF's PT_LOAD segments laid out flat from
1 MiB (gaps zero-filled, bss left to init_size). It is not compressed and not
relocatable: loaded at pref_address = code32_start = 1 MiB, with the 64-bit
entry at +0x200 (XLF_KERNEL_64), the 32-bit one at +0 and kernel_info at
+0x40, as head.S lays them out. Field offsets and meanings are those of
Linux's Documentation/arch/x86/boot.rst.

The real-mode part is the boot sector (with the setup header's first bytes)
and one setup sector: the rest of the header and the version string. There
is no real-mode setup code (a loader that runs it finds a halt loop): the
payload is entered through the 64-bit protocol (+0x200), as our VMM and
Cloud Hypervisor do, or the 32-bit one (code32_start).
"""
import argparse
import struct
import sys

LOAD_ADDRESS = 0x100000
ENTRY64_OFFSET = 0x200
KERNEL_INFO_OFFSET = 0x40
SECTOR = 512

BOOT_PROTOCOL = 0x020F  # 2.15
LOADED_HIGH = 0x01
XLF_KERNEL_64 = 0x01
CMDLINE_SIZE = 4095  # longest command line we accept, without the NUL
INITRD_ADDR_MAX = 0x7FFFFFFF
# Where the jump at 0x200 lands (a halt loop): right after the 2.15 header,
# within a short jump's signed 8-bit reach.
SETUP_CODE_OFFSET = 0x270
VERSION_OFFSET = 0x280
VERSION = b"vmm guest payload (tests/guest)\0"

PT_LOAD = 1


def flat_image(elf):
    """(bytes of [1 MiB, end of file data), memory size incl. bss)."""
    if elf[:4] != b"\x7fELF" or elf[4] != 2 or elf[5] != 1:
        sys.exit("mkbzimage: not a little-endian ELF64 file")
    e_entry, e_phoff = struct.unpack_from("<QQ", elf, 24)
    e_phentsize, e_phnum = struct.unpack_from("<HH", elf, 54)
    if e_entry != LOAD_ADDRESS + ENTRY64_OFFSET:
        sys.exit(f"mkbzimage: entry 0x{e_entry:x}, the bzImage format needs 0x{LOAD_ADDRESS + ENTRY64_OFFSET:x}")
    segments = []
    for i in range(e_phnum):
        p_type, _flags, p_offset, _vaddr, p_paddr, p_filesz, p_memsz, _align = struct.unpack_from(
            "<IIQQQQQQ", elf, e_phoff + i * e_phentsize)
        if p_type == PT_LOAD and p_memsz:
            segments.append((p_paddr, elf[p_offset:p_offset + p_filesz], p_memsz))
    if not segments or min(s[0] for s in segments) != LOAD_ADDRESS:
        sys.exit("mkbzimage: the payload must be linked at 1 MiB")
    file_end = max(addr + len(data) for addr, data, _ in segments)
    mem_end = max(addr + memsz for addr, _, memsz in segments)
    image = bytearray(file_end - LOAD_ADDRESS)
    for addr, data, _ in sorted(segments):
        image[addr - LOAD_ADDRESS:addr - LOAD_ADDRESS + len(data)] = data
    if image[KERNEL_INFO_OFFSET:KERNEL_INFO_OFFSET + 4] != b"LToP":
        sys.exit("mkbzimage: no kernel_info (\"LToP\") at +0x40")
    return bytes(image), mem_end - LOAD_ADDRESS


def setup_part(pm_len, init_size):
    setup_sects = 1
    buf = bytearray((setup_sects + 1) * SECTOR)
    # Boot sector: stop if a BIOS ever runs it directly (cli; hlt; jmp $-1).
    buf[0:4] = b"\xfa\xf4\xeb\xfd"
    struct.pack_into("<B", buf, 0x1F1, setup_sects)
    struct.pack_into("<H", buf, 0x1F2, 0)                        # root_flags
    struct.pack_into("<I", buf, 0x1F4, (pm_len + 15) // 16)     # syssize, 16-byte units
    struct.pack_into("<H", buf, 0x1FA, 0xFFFF)                   # vid_mode: normal
    struct.pack_into("<H", buf, 0x1FE, 0xAA55)                   # boot_flag
    # 0x200: a short jump over the header to the real-mode setup code.
    buf[0x200] = 0xEB
    assert SETUP_CODE_OFFSET - 0x202 < 0x80
    buf[0x201] = SETUP_CODE_OFFSET - 0x202
    buf[0x202:0x206] = b"HdrS"
    struct.pack_into("<H", buf, 0x206, BOOT_PROTOCOL)
    struct.pack_into("<H", buf, 0x20E, VERSION_OFFSET - 0x200)  # kernel_version
    struct.pack_into("<B", buf, 0x211, LOADED_HIGH)              # loadflags
    struct.pack_into("<I", buf, 0x214, LOAD_ADDRESS)             # code32_start
    struct.pack_into("<I", buf, 0x22C, INITRD_ADDR_MAX)
    struct.pack_into("<I", buf, 0x230, LOAD_ADDRESS)             # kernel_alignment
    struct.pack_into("<B", buf, 0x234, 0)                        # relocatable_kernel: no
    struct.pack_into("<B", buf, 0x235, 20)                       # min_alignment: 1 MiB (log2)
    struct.pack_into("<H", buf, 0x236, XLF_KERNEL_64)            # xloadflags
    struct.pack_into("<I", buf, 0x238, CMDLINE_SIZE)
    struct.pack_into("<Q", buf, 0x258, LOAD_ADDRESS)             # pref_address
    struct.pack_into("<I", buf, 0x260, init_size)
    struct.pack_into("<I", buf, 0x268, KERNEL_INFO_OFFSET)       # kernel_info_offset
    buf[VERSION_OFFSET:VERSION_OFFSET + len(VERSION)] = VERSION
    buf[SETUP_CODE_OFFSET:SETUP_CODE_OFFSET + 4] = b"\xfa\xf4\xeb\xfd"
    return bytes(buf)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("elf")
    ap.add_argument("output")
    args = ap.parse_args()
    with open(args.elf, "rb") as f:
        pm, mem_size = flat_image(f.read())
    # syssize counts 16-byte units and loaders read all of them: pad, as
    # Linux's arch/x86/boot/tools/build does.
    pm += bytes(-len(pm) % 16)
    # The loader reserves init_size from the load address: code, data, bss
    # and stacks, page aligned.
    init_size = (mem_size + 0xFFF) & ~0xFFF
    with open(args.output, "wb") as f:
        f.write(setup_part(len(pm), init_size))
        f.write(pm)
    return 0


if __name__ == "__main__":
    sys.exit(main())
