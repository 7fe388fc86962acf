#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Refuses a payload whose code holds instructions kvm_pvm cannot emulate.

On hosts whose KVM is kvm_pvm (docs: /work/shared/docs/kvm-here.md) every
CPL0 instruction goes through KVM's emulator, which fails on SSE/x87 data
operations, popcnt, cmpxchg16b, rdtscp, int3 and int n, and never completes
vmcall/vmmcall. The compiler flags keep those out of C code; this check
catches the rest (inline asm, a flag lost in the build, a new libgcc call).

Usage: check_insns.py OBJDUMP STAMP ELF...
Writes STAMP when every ELF is clean, else prints each offending line and
exits 1 (so the build fails).
"""
import re
import subprocess
import sys

# Mnemonics refused outright, or by prefix (x87: every f* instruction).
FORBIDDEN = {
    "int3", "int", "int1", "into", "icebp", "popcnt", "cmpxchg16b", "rdtscp", "vmcall", "vmmcall",
    "vmlaunch", "vmresume", "xsave", "xsaveopt", "xsavec", "xsaves", "xrstor", "xrstors", "fxsave",
    "fxrstor", "fxsave64", "fxrstor64", "emms", "femms", "ldmxcsr", "stmxcsr", "lzcnt", "tzcnt",
    "syscall", "sysenter",
}
FORBIDDEN_PREFIXES = ("f",)
# Any operand naming a vector or x87 register is an SSE/MMX/AVX/x87 operation.
VECTOR_REG = re.compile(r"%(x|y|z)mm\d+|%mm\d|%st(\(\d\))?\b|%k[0-7]\b")
# objdump -d line: "  100200:\tmnemonic operands"
LINE = re.compile(r"^\s*([0-9a-f]+):\s+(\S+)(.*)$")
# Prefixes objdump prints as part of the mnemonic field.
PREFIXES = {"rep", "repz", "repnz", "repe", "repne", "lock", "data16", "addr32", "cs", "ds", "es", "ss",
            "notrack", "bnd", "rex", "rex.W", "rex.WB"}
# Allowed despite the "f" prefix rule.
ALLOWED = {"fence"}


# 32-bit code lives in its own section (the PVH and 32-bit boot entries).
SECTIONS_32BIT = {".text32"}
# Data placed inside code sections (boot protocol structures), not decoded.
DATA_SYMBOLS = {"kernel_info", "kernel_info_end"}
SECTION = re.compile(r"^Disassembly of section (\S+):")
SYMBOL = re.compile(r"^[0-9a-f]+ <([^>]+)>:")


def disassemble(objdump, path, mode, section=None):
    args = [objdump, "-d", "--no-show-raw-insn", "-M", f"{mode},att"]
    if section:
        args += ["-j", section]
    return subprocess.run(args + [path], capture_output=True, text=True, check=True).stdout


def scan(listing, path, skip_sections):
    problems = []
    section = symbol = None
    for line in listing.splitlines():
        m = SECTION.match(line)
        if m:
            section = m.group(1)
            continue
        m = SYMBOL.match(line)
        if m:
            symbol = m.group(1)
            continue
        m = LINE.match(line)
        if not m or section in skip_sections or symbol in DATA_SYMBOLS:
            continue
        words = (m.group(2) + m.group(3)).split()
        while words and (words[0] in PREFIXES or words[0].startswith("rex")):
            words = words[1:]
        if not words:
            continue
        mnemonic, operands = words[0], " ".join(words[1:])
        if (mnemonic in FORBIDDEN
                or (mnemonic.startswith(FORBIDDEN_PREFIXES) and mnemonic not in ALLOWED)
                or VECTOR_REG.search(operands) or mnemonic == "(bad)"):
            problems.append(f"{path} [{section} <{symbol}>]: {line.strip()}")
    return problems


def bad_instructions(objdump, path):
    problems = scan(disassemble(objdump, path, "x86-64"), path, SECTIONS_32BIT)
    sections = subprocess.run([objdump, "-h", path], capture_output=True, text=True, check=True).stdout
    for sec in SECTIONS_32BIT:
        if f" {sec} " in sections:
            problems += scan(disassemble(objdump, path, "i386", sec), path, set())
    return problems


def main():
    if len(sys.argv) < 4:
        print(__doc__, file=sys.stderr)
        return 2
    objdump, stamp, elfs = sys.argv[1], sys.argv[2], sys.argv[3:]
    problems = []
    for elf in elfs:
        problems += bad_instructions(objdump, elf)
    if problems:
        print("instructions kvm_pvm cannot run at CPL0 (see check_insns.py):", file=sys.stderr)
        for p in problems:
            print("  " + p, file=sys.stderr)
        return 1
    with open(stamp, "w") as f:
        f.write("clean: " + " ".join(elfs) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
