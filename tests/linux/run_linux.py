#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Boots a real Linux (Debian's cloud kernel) under our vmm: suite `linux`.

Nested mode (hosts whose KVM cannot run Linux, e.g. kvm_pvm): L1 is the same
kernel under `qemu-system-x86_64 -accel tcg -cpu max`, which offers AMD SVM, so
kvm-amd gives L1 a real /dev/kvm; L1's /init (l1-init.sh) runs vmm to boot L2.
Direct mode (hosts with real VMX/SVM): vmm boots L2 right here.

Cases:
  boot          bzImage: L2 prints its marker with cpus=2 and powers off;
                vmm exits 0.
  boot-pvh      the same from the ELF vmlinux (PVH entry), extracted from the
                bzImage's payload with `lz4` (skips without it).
  power-button  L2 waits for KEY_POWER; vm.power-button through the API
                socket; L2 powers off; vmm exits 0.
  virtio        L2 gets virtio-blk (an ext4 image made here), -net (a tap in
                L1), -rng, -console (into a file), -balloon and -vsock and
                uses each with Linux's own drivers; L1 is the network and
                vsock peer and reads vm.counters; this runner checks every
                device's VMM-L2-CHECK/VMM-L1-CHECK lines, the console file,
                the counters and, with debugfs and e2fsck, the image. Nested
                mode only (L1 holds the tap and the peers).
  hotplug       L2 boots without a disk; L1 hot-adds QEMU's (the same ext4
                image) with vm.add-disk, L2's acpiphp finds it, L2 mounts it
                and reads hello.txt; L1 asks vm.remove-device, acpiphp
                ejects it, vmm reports vm/device-removed; then L2 (booted
                with --cpus boot=2,max=3) gets a third vCPU from vm.resize
                and brings it online; a vm.resize back to two makes Linux
                take cpu2 offline and eject it, vmm reports vm/resized;
                then (--memory hotplug_method=acpi,hotplug_size=256M)
                vm.resize desired_ram adds 128 MiB that Linux's ACPI memory
                driver adds and onlines; L2 powers off. Nested mode only.
  snapshot      L2 boots with QEMU's disk, a console socket and a balloon;
                L1 talks to it over hvc0, resizes the balloon, pauses and
                snapshots it, stops that vmm, restores the snapshot in a new
                vmm and resumes it; the same kernel (boot id, uptime going
                on) answers again, uses the disk and follows two more balloon
                resizes; its vsock connection open at the snapshot is reset
                (not left hanging), new ones go both ways through the
                restored vmm; then it powers off on the power button. This runner
                checks the answers and, with debugfs and e2fsck, the image.
                Nested mode only.

Ingredients come from Debian packages and are cached under --cache (the
build directory), so a second run downloads nothing. Missing tools or an
unreachable package mirror make the test skip (exit 77) with one line.
"""

import argparse
import fcntl
import hashlib
import json
import os
import re
import select
import shutil
import signal
import secrets
import socket
import struct
import subprocess
import sys
import time

SKIP = 77
HERE = os.path.dirname(os.path.abspath(__file__))
META_PACKAGE = "linux-image-cloud-amd64"
L1_TOP_MODULES = ["kvm-amd"]
# The virtio case: tun for vmm's tap, QEMU's virtio disk for the L2 image.
L1_VIRTIO_MODULES = ["tun", "virtio_pci", "virtio_blk"]
L2_POWER_MODULES = ["evdev", "button"]
# virtio-pci and its modules are modular in Debian's cloud kernel; ext4, jbd2,
# crc16 and crc32c are built in (module_closure fails if that changes).
L2_VIRTIO_MODULES = ["virtio_pci", "virtio_blk", "virtio_net", "virtio-rng", "virtio_console",
                     "virtio_balloon", "vmw_vsock_virtio_transport"] + L2_POWER_MODULES
VIRTIO_MAC = "52:54:00:12:34:56"
# Devices of the virtio case that L2 checks (VMM-L2-CHECK) and those L1
# checks from its side (VMM-L1-CHECK).
VIRTIO_L2_CHECKS = ["blk", "net", "rng", "console", "balloon", "vsock", "net-rx", "vsock-rx"]
VIRTIO_L1_CHECKS = ["ping-l2", "net-rx", "vsock-rx", "net-tx", "vsock-tx"]
VIRTIO_BALLOON_PAGES = 64 * 1024 * 1024 // 4096
# What the virtio case's device checks may add to the bounds, seconds.
VIRTIO_EXTRA_S = 60
L2_CMDLINE = "console=ttyS0 panic=-1 reboot=k"
# Every L2 gets SMBIOS strings; it prints what Linux's DMI code read back.
L2_SERIAL = "vmm-l2-serial"
L2_UUID = "5a3d7c1e-8f21-4b6a-9c0d-2e4f6a8b0c1d"
L2_PLATFORM = f"serial_number={L2_SERIAL},uuid={L2_UUID}"
L2_MEMORY = "512M"
L2_CPUS = 2
CASES = ["boot", "boot-pvh", "power-button", "virtio", "hotplug", "snapshot"]
# Cases that need L1 (its disk, tap and peers): nested mode only.
NESTED_CASES = ("virtio", "hotplug", "snapshot")
# The snapshot case's memory file lives in L1's RAM (QEMU's -m 2048).
SNAPSHOT_L2_MEMORY = "256M"
# What L1 does in the snapshot case, in order (VMM-L1-CHECK <what> rc=0).
SNAPSHOT_L1_CHECKS = ["snap-ping-before", "snap-disk-before", "snap-vsock-before", "balloon-resize-64",
                      "balloon-64", "snap-pause", "snap-snapshot", "snap-shutdown", "snap-first-exit", "snap-resume",
                      "snap-ping-after", "snap-disk-after", "snap-vsock-after", "snap-vsock-tx", "snap-vsock-send",
                      "snap-vsock-rx", "snap-ping-later", "balloon-resize-32", "balloon-32", "balloon-resize-0",
                      "balloon-0"]
# L2's answers about vsock across the snapshot, and how each must start.
SNAPSHOT_VSOCK_ANSWERS = {"snap-vsock-before": "VMM-VSOCK before ok", "snap-vsock-after": "VMM-VSOCK after ok",
                          "snap-vsock-rx": "VMM-VSOCK rx ok"}
SNAPSHOT_BALLOONS = {"balloon-64": 64, "balloon-32": 32, "balloon-0": 0}
HOTPLUG_L2_CHECKS = ["hotplug-add", "hotplug-remove", "cpu-add", "cpu-remove", "mem-add"]
HOTPLUG_L1_CHECKS = ["hotplug-add", "hotplug-remove", "hotplug-ejected", "cpu-resize", "cpu-shrink", "cpu-ejected",
                     "mem-resize"]


class Skip(Exception):
    pass


class Fail(Exception):
    pass


def log(msg):
    print(f"linux: {msg}", flush=True)


# --------------------------------------------------------------------------
# Tools and files


def need_tool(name, why):
    path = shutil.which(name)
    if not path:
        raise Skip(f"{name} not found ({why}); scripts/install-deps.sh installs it")
    return path


def elf_interpreter(path):
    """PT_INTERP of an ELF64 file, or None for a static one."""
    with open(path, "rb") as f:
        hdr = f.read(64)
        if len(hdr) < 64 or hdr[:4] != b"\x7fELF" or hdr[4] != 2:
            raise Fail(f"{path} is not an ELF64 executable")
        phoff, = struct.unpack_from("<Q", hdr, 0x20)
        phentsize, phnum = struct.unpack_from("<HH", hdr, 0x36)
        for i in range(phnum):
            f.seek(phoff + i * phentsize)
            ptype, = struct.unpack("<I", f.read(4))
            if ptype == 3:  # PT_INTERP
                f.seek(phoff + i * phentsize + 8)
                off, = struct.unpack("<Q", f.read(8))
                f.seek(phoff + i * phentsize + 32)
                size, = struct.unpack("<Q", f.read(8))
                f.seek(off)
                return f.read(size).rstrip(b"\0").decode()
    return None


def static_busybox():
    path = need_tool("busybox", "the guests' shell and tools, package busybox-static")
    path = os.path.realpath(path)
    if elf_interpreter(path) is not None:
        raise Skip(f"{path} is not statically linked; install busybox-static")
    return path


def shared_libraries(exe):
    """(path in guest, path on host) of every library and the loader `ldd` lists."""
    if elf_interpreter(exe) is None:
        return []
    out = subprocess.run(["ldd", exe], capture_output=True, text=True)
    if out.returncode != 0:
        raise Fail(f"ldd {exe} failed: {out.stderr.strip() or out.stdout.strip()}")
    libs = []
    for line in out.stdout.splitlines():
        line = line.strip()
        m = re.match(r"^\S+ => (/\S+) \(0x[0-9a-f]+\)$", line) or re.match(r"^(/\S+) \(0x[0-9a-f]+\)$", line)
        if m:
            libs.append((m.group(1), os.path.realpath(m.group(1))))
        elif "=> not found" in line:
            raise Fail(f"ldd {exe}: {line}")
    return libs


# --------------------------------------------------------------------------
# Kernel from Debian packages, cached


class CacheLock:
    def __init__(self, path):
        self.path = path

    def __enter__(self):
        self.fd = os.open(self.path, os.O_CREAT | os.O_RDWR, 0o644)
        fcntl.flock(self.fd, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc):
        fcntl.flock(self.fd, fcntl.LOCK_UN)
        os.close(self.fd)


def newest(paths):
    return max(paths, key=os.path.getmtime) if paths else None


def debs_named(debdir, package):
    return [os.path.join(debdir, f) for f in os.listdir(debdir)
            if f.startswith(package + "_") and f.endswith(".deb")]


def apt_download(package, debdir):
    apt_get = need_tool("apt-get", f"needed once to download {package}")
    cmd = [apt_get, "download", "-q", package]
    r = subprocess.run(cmd, cwd=debdir, capture_output=True, text=True)
    if r.returncode != 0 and os.geteuid() == 0:
        log(f"apt-get download {package} failed, running apt-get update once")
        subprocess.run([apt_get, "update", "-qq"], capture_output=True, text=True)
        r = subprocess.run(cmd, cwd=debdir, capture_output=True, text=True)
    if r.returncode != 0:
        reason = (r.stderr.strip().splitlines() or ["no message"])[-1]
        raise Skip(f"cannot download {package}: {reason}")
    log(f"downloaded {package} into {debdir}")


def kernel_package_name(meta_deb, dpkg_deb):
    depends = subprocess.run([dpkg_deb, "-f", meta_deb, "Depends"], capture_output=True,
                             text=True, check=True).stdout
    for alt in depends.replace("|", ",").split(","):
        name = alt.strip().split(" ")[0]
        if name.startswith("linux-image-") and name != META_PACKAGE:
            return name
    raise Fail(f"{meta_deb} depends on no linux-image package: {depends.strip()}")


def ensure_kernel(cache):
    """Returns (vmlinuz path, modules dir, kernel release)."""
    dpkg_deb = need_tool("dpkg-deb", "unpacks the kernel package")
    debdir = os.path.join(cache, "debs")
    os.makedirs(debdir, exist_ok=True)
    with CacheLock(os.path.join(cache, ".lock")):
        meta = newest(debs_named(debdir, META_PACKAGE))
        if not meta:
            apt_download(META_PACKAGE, debdir)
            meta = newest(debs_named(debdir, META_PACKAGE))
        image_pkg = kernel_package_name(meta, dpkg_deb)
        image = newest(debs_named(debdir, image_pkg))
        if not image:
            apt_download(image_pkg, debdir)
            image = newest(debs_named(debdir, image_pkg))
        root = os.path.join(cache, "kernel", image_pkg)
        stamp = os.path.join(root, ".unpacked")
        if not os.path.exists(stamp):
            shutil.rmtree(root, ignore_errors=True)
            tmp = root + ".tmp"
            shutil.rmtree(tmp, ignore_errors=True)
            os.makedirs(tmp)
            subprocess.run([dpkg_deb, "-x", image, tmp], check=True)
            os.rename(tmp, root)
            open(stamp, "w").close()
    boot = os.path.join(root, "boot")
    vmlinuz = [os.path.join(boot, f) for f in os.listdir(boot) if f.startswith("vmlinuz-")]
    if len(vmlinuz) != 1:
        raise Fail(f"expected one vmlinuz in {boot}, found {vmlinuz}")
    release = os.path.basename(vmlinuz[0])[len("vmlinuz-"):]
    moddir = os.path.join(root, "lib", "modules", release)
    if not os.path.isdir(moddir):
        moddir = os.path.join(root, "usr", "lib", "modules", release)
    return vmlinuz[0], moddir, release


def ensure_vmlinux(vmlinuz):
    """The ELF vmlinux inside a bzImage (LZ4 in Debian's cloud kernel), cached beside it."""
    out = os.path.join(os.path.dirname(os.path.dirname(vmlinuz)), "vmlinux")
    if os.path.exists(out):
        return out
    with open(vmlinuz, "rb") as f:
        image = f.read()
    if image[0x202:0x206] != b"HdrS":
        raise Fail(f"{vmlinuz} is not a bzImage")
    setup_sects = image[0x1f1] or 4
    payload_offset, payload_length = struct.unpack_from("<II", image, 0x248)
    start = (setup_sects + 1) * 512 + payload_offset
    payload = image[start:start + payload_length]
    # The payload ends with the decompressed size (le32), after the stream.
    size, = struct.unpack_from("<I", payload, len(payload) - 4)
    if payload[:4] == b"\x02\x21\x4c\x18":
        tool = [need_tool("lz4", "extracts vmlinux from the bzImage, package lz4"), "-dc"]
    elif payload[:2] == b"\x1f\x8b":
        tool = ["gzip", "-dc"]
    elif payload[:6] == b"\xfd7zXZ\x00":
        tool = ["xz", "-dc"]
    elif payload[:4] == b"\x28\xb5\x2f\xfd":
        tool = ["zstd", "-dc"]
    else:
        raise Skip(f"cannot extract vmlinux: unknown compression {payload[:4].hex()}")
    if not shutil.which(tool[0]):
        raise Skip(f"{tool[0]} not found: cannot extract vmlinux for the PVH case")
    # Decompressors complain about the size trailer; judge by the output.
    r = subprocess.run(tool, input=payload, capture_output=True)
    elf = r.stdout
    if len(elf) != size or elf[:4] != b"\x7fELF":
        raise Fail(f"extracting vmlinux with {tool[0]} gave {len(elf)} bytes, expected an ELF of {size}")
    with open(out + ".tmp", "wb") as f:
        f.write(elf)
    os.rename(out + ".tmp", out)
    return out


def module_closure(moddir, top):
    """Paths of the modules in `top` and their dependencies, dependencies first."""
    index = {}
    for dirpath, _, files in os.walk(moddir):
        for f in files:
            if f.endswith(".ko"):
                index[f[:-3].replace("-", "_")] = os.path.join(dirpath, f)
    order = []

    def visit(name, chain):
        key = name.replace("-", "_")
        if key not in index:
            raise Fail(f"module {name} not in {moddir}")
        if index[key] in order:
            return
        if key in chain:
            raise Fail(f"module dependency loop: {chain}")
        with open(index[key], "rb") as f:
            m = re.search(rb"(?:^|\0)depends=([^\0]*)\0", f.read())
        deps = [d for d in m.group(1).decode().split(",") if d] if m else []
        for d in deps:
            visit(d, chain + [key])
        order.append(index[key])

    for name in top:
        visit(name, [])
    return order


# --------------------------------------------------------------------------
# Initramfs images (newc cpio written here: device nodes and root ownership
# need no privileges this way)


class Cpio:
    def __init__(self, path):
        self.f = open(path, "wb")
        self.ino = 1
        self.names = set()

    def _entry(self, name, mode, data=b"", rdev=(0, 0)):
        name = name.lstrip("/")
        if name in self.names:
            return
        self.names.add(name)
        encoded = name.encode() + b"\0"
        fields = [self.ino, mode, 0, 0, 1, 0, len(data), 0, 0, rdev[0], rdev[1], len(encoded), 0]
        self.ino += 1
        self.f.write(b"070701" + b"".join(b"%08x" % v for v in fields) + encoded)
        self.f.write(b"\0" * (-(110 + len(encoded)) % 4))
        self.f.write(data)
        self.f.write(b"\0" * (-len(data) % 4))

    def dir(self, name):
        parts = name.strip("/").split("/")
        for i in range(1, len(parts) + 1):
            self._entry("/".join(parts[:i]), 0o040755)

    def file(self, name, data, mode=0o644):
        self.dir(os.path.dirname(name.strip("/")) or ".")
        self._entry(name, 0o100000 | mode, data)

    def copy(self, name, host_path, mode=None):
        with open(host_path, "rb") as f:
            data = f.read()
        if mode is None:
            mode = os.stat(host_path).st_mode & 0o777
        self.file(name, data, mode)

    def chardev(self, name, major, minor):
        self.dir(os.path.dirname(name.strip("/")))
        self._entry(name, 0o020600, rdev=(major, minor))

    def close(self):
        self._entry("TRAILER!!!", 0)
        self.f.close()


def base_image(cpio, busybox, init_script):
    for d in ("proc", "sys", "dev", "tmp", "run", "bin", "sbin", "usr/bin", "usr/sbin"):
        cpio.dir(d)
    # The kernel opens /dev/console for init before devtmpfs is mounted.
    cpio.chardev("dev/console", 5, 1)
    cpio.chardev("dev/null", 1, 3)
    cpio.copy("bin/busybox", busybox, 0o755)
    cpio.copy("init", init_script, 0o755)


def build_l2_initramfs(path, busybox, power_key, stream, moddir):
    for helper in (power_key, stream):
        if elf_interpreter(helper) is not None:
            raise Fail(f"{helper} must be statically linked")
    cpio = Cpio(path)
    base_image(cpio, busybox, os.path.join(HERE, "l2-init.sh"))
    cpio.copy("bin/vmm-power-key", power_key, 0o755)
    cpio.copy("bin/vmm-stream", stream, 0o755)
    # One list per case, dependencies first, for l2-init.sh to insmod.
    for order, top in (("order-power", L2_POWER_MODULES), ("order-virtio", L2_VIRTIO_MODULES)):
        names = []
        for ko in module_closure(moddir, top):
            name = os.path.basename(ko)[:-3]
            cpio.copy(f"lib/modules/{name}.ko", ko, 0o644)
            names.append(name)
        cpio.file(f"lib/modules/{order}", ("\n".join(names) + "\n").encode())
    cpio.close()


def build_l1_initramfs(path, busybox, vmm, api_call, moddir, l2_kernel, l2_vmlinux, l2_initramfs, cases,
                       args, token):
    if elf_interpreter(api_call) is not None:
        raise Fail(f"{api_call} must be statically linked")
    cpio = Cpio(path)
    base_image(cpio, busybox, os.path.join(HERE, "l1-init.sh"))
    cpio.copy("bin/vmm-api-call", api_call, 0o755)
    cpio.copy("bin/vmm-stream", args.stream, 0o755)
    cpio.copy("bin/vmm-chat", args.chat, 0o755)
    cpio.copy("usr/local/bin/vmm", vmm, 0o755)
    libdirs = []
    for guest_path, host_path in shared_libraries(vmm):
        cpio.copy(guest_path, host_path, 0o755)
        d = os.path.dirname(guest_path)
        if d not in libdirs:
            libdirs.append(d)
    modules = []
    top = L1_TOP_MODULES + (L1_VIRTIO_MODULES if set(NESTED_CASES) & set(cases) else [])
    for ko in module_closure(moddir, top):
        name = os.path.basename(ko)[:-3]
        cpio.copy(f"lib/modules/{name}.ko", ko, 0o644)
        modules.append(name)
    cpio.copy("l2/vmlinuz", l2_kernel, 0o644)
    if l2_vmlinux:
        cpio.copy("l2/vmlinux", l2_vmlinux, 0o644)
    cpio.copy("l2/initramfs.cpio", l2_initramfs, 0o644)
    conf = {
        "CASES": " ".join(cases),
        "L1_MODULES": " ".join(modules),
        "L2_CMDLINE": args.l2_cmdline,
        "L2_PLATFORM": L2_PLATFORM,
        "L2_MEMORY": L2_MEMORY,
        "SNAPSHOT_L2_MEMORY": SNAPSHOT_L2_MEMORY,
        "VMM_TIMEOUT": str(args.vmm_timeout),
        "WAIT_TIMEOUT": str(args.wait_timeout),
        "VIRTIO_WAIT_TIMEOUT": str(args.wait_timeout + VIRTIO_EXTRA_S),
        "EXIT_TIMEOUT": str(args.exit_timeout),
        "VMM_LIBRARY_PATH": ":".join(libdirs),
        "VIRTIO_TOKEN": token,
        "VIRTIO_MAC": VIRTIO_MAC,
    }
    cpio.file("vmmtest.conf", "".join(f"{k}='{v}'\n" for k, v in conf.items()).encode())
    cpio.close()
    return modules, libdirs


# --------------------------------------------------------------------------
# Running and reading the serial log


class SerialLog:
    """Lines of a child's stdout, each with the host time it arrived."""

    def __init__(self):
        self.lines = []  # (seconds since start, text)
        self.t0 = time.monotonic()
        self._partial = b""

    def feed(self, data):
        self._partial += data
        new = []
        while b"\n" in self._partial:
            raw, self._partial = self._partial.split(b"\n", 1)
            text = raw.decode("utf-8", "replace").rstrip("\r")
            entry = (time.monotonic() - self.t0, text)
            self.lines.append(entry)
            new.append(entry)
        return new

    def flush(self):
        if self._partial:
            self.lines.append((time.monotonic() - self.t0, self._partial.decode("utf-8", "replace")))
            self._partial = b""

    def first(self, pattern, after=0.0):
        rx = re.compile(pattern)
        for t, text in self.lines:
            if t >= after:
                m = rx.search(text)
                if m:
                    return t, m
        return None

    def text(self):
        return "\n".join(f"[{t:8.3f}] {text}" for t, text in self.lines)


def run_child(cmd, timeout, on_line=None):
    """Runs cmd, collecting its stdout+stderr into a SerialLog; kills it after timeout."""
    slog = SerialLog()
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + timeout
    timed_out = False
    fd = proc.stdout.fileno()
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                timed_out = True
                break
            ready, _, _ = select.select([fd], [], [], min(left, 1.0))
            if ready:
                data = os.read(fd, 65536)
                if not data:
                    break
                for entry in slog.feed(data):
                    if on_line:
                        on_line(entry[1])
    finally:
        if timed_out or proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        rc = proc.wait()
        proc.stdout.close()
        slog.flush()
    return slog, rc, timed_out


def make_virtio_disk(workdir, token):
    """The virtio case's ext4 image: (path, sha256 of host-data.bin)."""
    mkfs = need_tool("mkfs.ext4", "makes the virtio case's disk, package e2fsprogs")
    files = os.path.join(workdir, "disk-files")
    os.makedirs(files)
    with open(os.path.join(files, "hello.txt"), "w") as f:
        f.write(f"hello from the host {token}\n")
    data = os.urandom(1024 * 1024)
    with open(os.path.join(files, "host-data.bin"), "wb") as f:
        f.write(data)
    image = os.path.join(workdir, "disk.img")
    with open(image, "wb") as f:
        f.truncate(32 * 1024 * 1024)
    subprocess.run([mkfs, "-q", "-F", "-L", "vmmtest", "-d", files, image], check=True,
                   capture_output=True)
    return image, hashlib.sha256(data).hexdigest()


def check_virtio_disk(image, token, l2_sha):
    """What L2 left in the image, read here: a list of problems."""
    problems = []
    e2fsck = need_tool("e2fsck", "checks the virtio case's disk, package e2fsprogs")
    debugfs = need_tool("debugfs", "reads the virtio case's disk, package e2fsprogs")
    r = subprocess.run([e2fsck, "-fn", image], capture_output=True, text=True)
    if r.returncode != 0:
        problems.append(f"e2fsck -fn rc={r.returncode}: " + " / ".join(r.stdout.strip().splitlines()[-4:]))
    r = subprocess.run([debugfs, "-R", "cat /from-l2.txt", image], capture_output=True, text=True)
    if r.stdout != f"written by L2 {token}\n":
        problems.append(f"/from-l2.txt in the image reads {r.stdout!r} ({r.stderr.strip().splitlines()[-1:]})")
    dumped = image + ".l2-data.bin"
    if os.path.exists(dumped):
        os.unlink(dumped)
    subprocess.run([debugfs, "-R", f"dump /l2-data.bin {dumped}", image], capture_output=True)
    if not os.path.exists(dumped):
        problems.append("/l2-data.bin is not in the image")
    else:
        with open(dumped, "rb") as f:
            sha = hashlib.sha256(f.read()).hexdigest()
        if sha != l2_sha:
            problems.append(f"/l2-data.bin in the image has sha256 {sha}, L2 wrote {l2_sha}")
    return problems


def check_snapshot_disk(image, token, data_sha):
    """What L2 wrote before the snapshot and after the restore, read here: a list of problems."""
    problems = []
    e2fsck = need_tool("e2fsck", "checks the snapshot case's disk, package e2fsprogs")
    debugfs = need_tool("debugfs", "reads the snapshot case's disk, package e2fsprogs")
    r = subprocess.run([e2fsck, "-fn", image], capture_output=True, text=True)
    if r.returncode != 0:
        problems.append(f"e2fsck -fn rc={r.returncode}: " + " / ".join(r.stdout.strip().splitlines()[-4:]))
    for name, want in (("snap-before.txt", f"before snapshot {token}\n"),
                       ("snap-after.txt", f"after restore {token}\n")):
        r = subprocess.run([debugfs, "-R", f"cat /{name}", image], capture_output=True, text=True)
        if r.stdout != want:
            problems.append(f"/{name} in the image reads {r.stdout!r}")
    r = subprocess.run([debugfs, "-R", "cat /snap-data.bin", image], capture_output=True)
    sha = hashlib.sha256(r.stdout).hexdigest()
    if sha != data_sha:
        problems.append(f"/snap-data.bin in the image has sha256 {sha}, L2 wrote {data_sha}")
    return problems


def judge_snapshot(slog, t_start, t_end, args):
    """The snapshot case: a list of problems."""
    problems = []
    answers = {}
    for what in SNAPSHOT_L1_CHECKS:
        m = slog.first(rf"VMM-L1-CHECK {re.escape(what)} rc=(\S+) ?(.*)", t_start)
        if not m or m[0] > t_end:
            problems.append(f"L1 {what}: never ran")
        elif m[1].group(1) != "0":
            problems.append(f"L1 {what}: {m[1].group(0)}")
        else:
            answers[what] = m[1].group(2)
    # The restored kernel is the snapshotted one: same boot id, its uptime
    # goes on from where it was, its timers fire (a 0.2 s sleep ends).
    pings = ("snap-ping-before", "snap-ping-after", "snap-ping-later")
    pongs = {}
    for what in pings:
        m = re.search(r"VMM-PONG \d+ boot_id=(\S+) uptime=(\S+) slept-to=(\S+)", answers.get(what, ""))
        if what in answers and not m:
            problems.append(f"{what}: unexpected answer {answers[what]!r}")
        elif m:
            pongs[what] = (m.group(1), float(m.group(2)), float(m.group(3)))
            if pongs[what][2] - pongs[what][1] < 0.19:
                problems.append(f"{what}: a 0.2 s sleep took {pongs[what][2] - pongs[what][1]:.3f} s of uptime")
    ready = slog.first(r"VMM-L2-SNAPSHOT-READY boot_id=(\S+)", t_start)
    if len(pongs) == len(pings):
        ids = [pongs[p][0] for p in pings] + ([ready[1].group(1)] if ready else [])
        if len(set(ids)) != 1:
            problems.append(f"boot id changed: {ids} (before the snapshot, after the restore, later, at boot)")
        for earlier, later in zip(pings, pings[1:]):
            if pongs[later][1] <= pongs[earlier][2]:
                problems.append(f"L2's uptime went back: {pongs[earlier][2]} at {earlier}, "
                                f"{pongs[later][1]} at {later}")
    boots = [t for t, text in slog.lines if t_start <= t <= t_end and "VMM-L2-OK " in text]
    if len(boots) != 1:
        problems.append(f"L2 booted {len(boots)} times in the case, expected once (a restore is no boot)")
    if "snap-disk-before" in answers and not answers["snap-disk-before"].startswith("VMM-DISK before ok"):
        problems.append(f"disk before the snapshot: {answers['snap-disk-before']}")
    if "snap-disk-after" in answers:
        m = re.match(r"VMM-DISK after ok data-sha256=(\S+)", answers["snap-disk-after"])
        if not m:
            problems.append(f"disk after the restore: {answers['snap-disk-after']}")
        else:
            problems += check_snapshot_disk(args.disk, args.token, m.group(1))
    for what, want in SNAPSHOT_VSOCK_ANSWERS.items():
        if what in answers and not answers[what].startswith(want):
            problems.append(f"{what}: L2 answered {answers[what]!r}")
    # Linux resets a connection on TRANSPORT_RESET with ECONNRESET.
    after = answers.get("snap-vsock-after", "")
    if after.startswith("VMM-VSOCK after ok") and "5002 ended: Connection reset by peer" not in after:
        problems.append(f"snap-vsock-after: the held connection did not end in a reset: {after!r}")
    for what, mib in SNAPSHOT_BALLOONS.items():
        want = f"VMM-BALLOON ok want-kb={mib * 1024} drop-kb={mib * 1024}"
        if what in answers and answers[what] != want:
            problems.append(f"{what}: L2 answered {answers[what]!r}, expected {want!r}")
    m = slog.first(r"VMM-COUNTERS (.*)", t_start)
    try:
        counters = json.loads(m[1].group(1))["result"] if m else None
    except (ValueError, KeyError, TypeError):
        counters = None
    if not isinstance(counters, dict):
        problems.append("no vm.counters reply from the restored vmm: " + (m[1].group(1)[:200] if m else "never asked"))
    else:
        for dev, c in counters.items():
            for k in VIRTIO_ERROR_COUNTERS:
                if isinstance(c, dict) and c.get(k, 0) != 0:
                    problems.append(f"restored vmm: {dev}.{k} = {c[k]}")
        b = counters.get("_balloon")
        if not isinstance(b, dict) or (b.get("target_pages"), b.get("actual_pages")) != (0, 0):
            problems.append(f"restored vmm's _balloon after the resize to 0: {b}")
        v = counters.get("_vsock")
        if not isinstance(v, dict) or v.get("transport_resets") != 1 or v.get("conns_from_host") != 1 \
                or v.get("conns_from_guest") != 1:
            problems.append(f"restored vmm's _vsock: {v} (expected one TRANSPORT_RESET and one connection "
                            "each way)")
    return problems


def run_nested(args, cases, vmlinuz, vmlinux, moddir, busybox, workdir):
    qemu = need_tool("qemu-system-x86_64", "runs the L1 Linux, package qemu-system-x86")
    l2_cpio = os.path.join(workdir, "l2-initramfs.cpio")
    l1_cpio = os.path.join(workdir, "l1-initramfs.cpio")
    build_l2_initramfs(l2_cpio, busybox, args.power_key, args.stream, moddir)
    build_l1_initramfs(l1_cpio, busybox, args.vmm, args.api_call, moddir, vmlinuz, vmlinux, l2_cpio, cases,
                       args, args.token)
    cmd = [qemu, "-accel", "tcg", "-cpu", "max", "-m", "2048", "-smp", "2",
           "-nographic", "-no-reboot", "-nic", "none",
           "-kernel", vmlinuz, "-initrd", l1_cpio,
           # TCG derives every vCPU's TSC from one virtual clock, so it is
           # synchronized; without tsc=reliable L1's clocksource watchdog may
           # still call it unstable under emulation jitter, and L1's KVM then
           # gives L2 a TSC and kvm-clock it warns are unreliable.
           "-append", f"console=ttyS0 panic=-1 tsc=reliable loglevel={args.l1_loglevel}"]
    if set(NESTED_CASES) & set(cases):
        # L1 sees it as /dev/vda and gives it to vmm as L2's disk.
        cmd += ["-drive", f"file={args.disk},format=raw,if=virtio"]
    log(f"nested: L1 under QEMU TCG, {len(cases)} case(s), bound {args.timeout} s")
    return run_child(cmd, args.timeout)


def run_direct(args, cases, vmlinuz, vmlinux, moddir, busybox, workdir):
    """Real KVM: vmm boots L2 here. Writes the same VMM-* lines the L1 init prints."""
    l2_cpio = os.path.join(workdir, "l2-initramfs.cpio")
    build_l2_initramfs(l2_cpio, busybox, args.power_key, args.stream, moddir)
    combined = SerialLog()
    for c in cases:
        sock = os.path.join(workdir, f"vmm-{c}.sock")
        events = os.path.join(workdir, f"events-{c}.json")
        for p in (sock, events):
            if os.path.exists(p):
                os.unlink(p)
        kernel = vmlinux if c == "boot-pvh" else vmlinuz
        cmd = [args.vmm, "--kernel", kernel, "--initramfs", l2_cpio,
               "--cmdline", f"{args.l2_cmdline} vmmtest={c}",
               "--cpus", f"boot={L2_CPUS}", "--memory", f"size={L2_MEMORY}",
               "--serial", "tty", "--console", "off", "--platform", L2_PLATFORM,
               "--api-socket", f"path={sock}", "--event-monitor", f"path={events}"]
        extra = []

        def on_line(text, c=c, sock=sock, extra=extra):
            if c == "power-button" and "VMM-L2-WAITING" in text:
                rc, reply = api_call(sock, "vm.power-button")
                extra.append(f"VMM-API action=vm.power-button rc={rc} reply={reply}")

        start = time.monotonic() - combined.t0
        combined.lines.append((start, f"VMM-CASE-START case={c}"))
        slog, rc, timed_out = run_child(cmd, args.vmm_timeout, on_line)
        for t, text in slog.lines:
            combined.lines.append((start + t, text))
        end = time.monotonic() - combined.t0
        for text in extra:
            combined.lines.append((end, text))
        combined.lines.append((end, f"VMM-EXIT case={c} rc={'none' if timed_out else rc}"))
    return combined, 0, False


def api_call(path, action, timeout=20.0):
    deadline = time.monotonic() + timeout
    while True:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(max(0.1, deadline - time.monotonic()))
        try:
            s.connect(path)
            break
        except (FileNotFoundError, ConnectionRefusedError):
            s.close()
            if time.monotonic() >= deadline:
                return 3, "no socket"
            time.sleep(0.1)
    try:
        s.sendall(b'{"id":1,"action":"%s"}\n' % action.encode())
        buf = b""
        while b"\n" not in buf:
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
    except OSError as e:
        return 3, str(e)
    finally:
        s.close()
    reply = buf.split(b"\n", 1)[0].decode("utf-8", "replace")
    ok = '"result"' in reply and '"error"' not in reply
    return (0 if ok else 1), reply


# --------------------------------------------------------------------------
# Judging


# What vm.counters must show for each device after the virtio case's traffic:
# (device id, counter, minimum), beyond no errors anywhere.
VIRTIO_COUNTER_MINIMA = {
    "blk": [("_disk0", "read_ops", 1), ("_disk0", "write_ops", 1), ("_disk0", "flush_ops", 1),
            ("_disk0", "discard_ops", 1)],
    "net": [("_net0", "rx_packets", 1), ("_net0", "tx_packets", 1)],
    "rng": [("_rng", "read_bytes", 64)],
    "console": [("_console", "tx_bytes", 1)],
    "balloon": [("_balloon", "inflated_pages", VIRTIO_BALLOON_PAGES)],
    "vsock": [("_vsock", "conns_from_host", 1), ("_vsock", "conns_from_guest", 1)],
}
VIRTIO_ERROR_COUNTERS = ["chain_errors", "needs_reset", "request_errors", "feature_refusals", "bad_accesses"]


def judge_virtio(slog, t_start, t_end, args):
    """The virtio case, device by device: {device: [problems]}."""
    def last(pattern):
        found = None
        for t, text in slog.lines:
            if t_start <= t <= t_end:
                m = re.search(pattern, text)
                if m:
                    found = m
        return found

    devices = {d: [] for d in VIRTIO_COUNTER_MINIMA}
    owner = {"net-rx": "net", "vsock-rx": "vsock", "ping-l2": "net", "net-tx": "net", "vsock-tx": "vsock"}
    l2 = {}
    for check in VIRTIO_L2_CHECKS:
        m = last(rf"VMM-L2-CHECK {re.escape(check)} (PASS|FAIL) ?(.*)")
        dev = owner.get(check, check)
        if not m:
            devices[dev].append(f"L2 printed no {check} check")
        elif m.group(1) != "PASS":
            devices[dev].append(f"L2 {check}: {m.group(2)}")
        else:
            l2[check] = m.group(2)
    for check in VIRTIO_L1_CHECKS:
        m = last(rf"VMM-L1-CHECK {re.escape(check)} rc=(\S+) ?(.*)")
        if not m or m.group(1) != "0":
            devices[owner[check]].append(f"L1 {check}: " + (m.group(0) if m else "never ran"))

    if "blk" in l2:
        m = re.search(r"host-data-sha256=(\S+) l2-data-sha256=(\S+)", l2["blk"])
        if not m:
            devices["blk"].append(f"L2's blk line lacks the checksums: {l2['blk']}")
        else:
            if m.group(1) != args.host_data_sha:
                devices["blk"].append(f"L2 read host-data.bin as sha256 {m.group(1)}, "
                                      f"the host wrote {args.host_data_sha}")
            devices["blk"] += check_virtio_disk(args.disk, args.token, m.group(2))

    if not last(rf"VMM-HVC-OUT VMM-HVC-HELLO {re.escape(args.token)}$"):
        devices["console"].append("the --console file holds no 'VMM-HVC-HELLO <token>' line")

    m = last(r"VMM-COUNTERS (.*)")
    try:
        counters = json.loads(m.group(1))["result"] if m else None
    except (ValueError, KeyError, TypeError):
        counters = None
    if counters is None:
        for probs in devices.values():
            probs.append("no vm.counters reply: " + (m.group(1)[:200] if m else "never asked"))
        return devices
    for dev, minima in VIRTIO_COUNTER_MINIMA.items():
        ids = {i for i, _, _ in minima}
        for i in ids:
            c = counters.get(i)
            if not isinstance(c, dict):
                devices[dev].append(f"vm.counters has no {i}")
                continue
            if c.get("activations", 0) < 1:
                devices[dev].append(f"{i} was never activated (DRIVER_OK)")
            for k in VIRTIO_ERROR_COUNTERS:
                if c.get(k, 0) != 0:
                    devices[dev].append(f"{i}.{k} = {c[k]}")
        for i, k, minimum in minima:
            v = counters.get(i, {}).get(k) if isinstance(counters.get(i), dict) else None
            if v is None or v < minimum:
                devices[dev].append(f"{i}.{k} = {v}, expected at least {minimum}")
    b = counters.get("_balloon", {})
    if isinstance(b, dict) and (b.get("target_pages"), b.get("actual_pages")) != (VIRTIO_BALLOON_PAGES,) * 2:
        devices["balloon"].append(f"_balloon target_pages/actual_pages = {b.get('target_pages')}/"
                                  f"{b.get('actual_pages')}, expected {VIRTIO_BALLOON_PAGES} both")
    return devices


def judge(slog, c, release, args):
    """Returns (problems, timings, per-device problems or None) for one case from the serial log."""
    problems = []
    timings = {}
    devices = None
    start = slog.first(rf"VMM-CASE-START case={re.escape(c)}\b")
    if not start:
        problems.append(f"case {c} never started")
        return problems, timings, devices
    t_start = start[0]
    exit_ = slog.first(rf"VMM-EXIT case={re.escape(c)} rc=(\S+)", t_start)
    t_end = exit_[0] if exit_ else float("inf")
    marker = slog.first(r"VMM-L2-OK uname=(\S+) cpus=(\d+) case=(\S+)(?: uptime=(\S+))?", t_start)
    if marker and marker[0] <= t_end:
        t, m = marker
        timings["l2_marker_s"] = t - t_start
        if m.group(4):
            timings["l2_uptime_at_marker_s"] = float(m.group(4))
        if m.group(1) != release:
            problems.append(f"L2 runs kernel {m.group(1)}, expected {release}")
        if int(m.group(2)) != L2_CPUS:
            problems.append(f"L2 sees {m.group(2)} CPUs, expected {L2_CPUS}")
        if m.group(3) != c:
            problems.append(f"L2 ran case {m.group(3)}, expected {c}")
    else:
        problems.append("no VMM-L2-OK marker from L2")
    # --platform as Linux's DMI code read it from the SMBIOS tables.
    dmi = slog.first(r"VMM-L2-DMI (.*)", t_start)
    want = f"vendor=vmm product=vmm serial={L2_SERIAL} uuid={L2_UUID}"
    if not dmi or dmi[0] > t_end or dmi[1].group(1).strip() != want:
        problems.append(f"L2's DMI: {dmi[1].group(1) if dmi else 'no VMM-L2-DMI line'!r}, wanted {want!r}")
    if c in ("power-button", "virtio", "snapshot"):
        api = slog.first(r"VMM-API action=vm.power-button rc=(\S+) reply=(.*)", t_start)
        if not api or api[1].group(1) != "0":
            problems.append("vm.power-button API call failed: " + (api[1].group(0) if api else "never sent"))
        # L1's own lines share the console with L2's and can land inside
        # them ("VMM-L2-POWER-BUTTVMM-API ...ON"); the POWEROFF line is only
        # printed after the helper saw KEY_POWER, so either proves it.
        if not (slog.first(r"VMM-L2-POWER-BUTTON", t_start)
                or slog.first(r"VMM-L2-POWEROFF reason=power-button", t_start)):
            problems.append("L2 never saw the power button (KEY_POWER)")
    if c == "hotplug":
        for what in HOTPLUG_L2_CHECKS:
            m = slog.first(rf"VMM-L2-CHECK {what} (PASS|FAIL)(.*)", t_start)
            if not m or m[0] > t_end or m[1].group(1) != "PASS":
                problems.append(f"L2 {what}: " + (m[1].group(0) if m else "no check line"))
        for what in HOTPLUG_L1_CHECKS:
            m = slog.first(rf"VMM-L1-CHECK {what} rc=(\S+)(.*)", t_start)
            if not m or m[0] > t_end or m[1].group(1) != "0":
                problems.append(f"L1 {what}: " + (m[1].group(0) if m else "no check line"))
    if c == "snapshot":
        problems += judge_snapshot(slog, t_start, t_end, args)
    if c == "virtio":
        devices = judge_virtio(slog, t_start, t_end, args)
        problems += [f"{d}: {p}" for d, probs in devices.items() for p in probs]
    if not exit_:
        problems.append("vmm did not exit")
    else:
        timings["vmm_total_s"] = exit_[0] - t_start
        rc = exit_[1].group(1)
        if rc == "none":
            problems.append("vmm did not exit; L1 killed it")
        elif rc != "0":
            problems.append(f"vmm exited with rc={rc}, expected 0")
    return problems, timings, devices


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--vmm", required=True)
    ap.add_argument("--api-call", required=True, help="static vmm-api-call helper")
    ap.add_argument("--power-key", required=True, help="static vmm-power-key helper")
    ap.add_argument("--stream", required=True, help="static vmm-stream helper")
    ap.add_argument("--chat", required=True, help="static vmm-chat helper")
    ap.add_argument("--cache", required=True, help="download/image cache (in the build directory)")
    ap.add_argument("--case", action="append", choices=CASES,
                    help="case to run (repeatable; several share one L1 boot); default: all")
    ap.add_argument("--mode", choices=["auto", "nested", "direct"],
                    default=os.environ.get("VMM_LINUX_MODE", "auto"))
    ap.add_argument("--timeout", type=int,
                    help="hard bound on the whole run, seconds (default: 40 + vmm timeout + 15 per case, "
                         f"{VIRTIO_EXTRA_S} more with the virtio case)")
    ap.add_argument("--vmm-timeout", type=int, default=60,
                    help="bound on one vmm run, seconds (a healthy one takes about 10)")
    ap.add_argument("--wait-timeout", type=int, default=50,
                    help="power-button case: bound on L2 becoming ready for the press, seconds "
                         f"({VIRTIO_EXTRA_S} more in the virtio case)")
    ap.add_argument("--exit-timeout", type=int, default=30,
                    help="power-button case: bound on vmm exiting after the press, seconds")
    ap.add_argument("--l2-cmdline", default=L2_CMDLINE)
    ap.add_argument("--l1-loglevel", type=int, default=4)
    ap.add_argument("--show-log", action="store_true", help="print the serial log even on success")
    args = ap.parse_args()
    cases = args.case or CASES
    if args.timeout is None:
        args.timeout = 40 + (args.vmm_timeout + 15) * len(cases) + VIRTIO_EXTRA_S * len({"virtio", "snapshot", "hotplug"} & set(cases))
    name = "+".join(cases)

    try:
        for p in (args.vmm, args.api_call, args.power_key, args.stream, args.chat):
            if not os.access(p, os.X_OK):
                raise Fail(f"{p} is not an executable")
        args.vmm = os.path.abspath(args.vmm)
        busybox = static_busybox()
        mode = args.mode
        if mode == "auto":
            real_kvm = os.access("/dev/kvm", os.R_OK | os.W_OK) and not os.path.isdir("/sys/module/kvm_pvm")
            # The virtio case's tap and peers live in L1, a throwaway VM.
            mode = "direct" if real_kvm and not set(NESTED_CASES) & set(cases) else "nested"
        if mode == "direct" and set(NESTED_CASES) & set(cases):
            raise Skip("the virtio, hotplug and snapshot cases run nested only (their disk, tap and peers live in L1)")
        if mode == "nested":
            need_tool("qemu-system-x86_64", "runs the L1 Linux, package qemu-system-x86")
        os.makedirs(args.cache, exist_ok=True)
        t = time.monotonic()
        vmlinuz, moddir, release = ensure_kernel(os.path.abspath(args.cache))
        vmlinux = ensure_vmlinux(vmlinuz) if "boot-pvh" in cases else None
        log(f"kernel {release} ready in {time.monotonic() - t:.1f} s ({vmlinuz})")
        workdir = os.path.join(os.path.abspath(args.cache), f"work-{name}")
        shutil.rmtree(workdir, ignore_errors=True)
        os.makedirs(workdir)
        # Fresh each run, so nothing a previous run left can pass for this one's.
        args.token = secrets.token_hex(8)
        if set(NESTED_CASES) & set(cases):
            args.disk, args.host_data_sha = make_virtio_disk(workdir, args.token)
        runner = run_nested if mode == "nested" else run_direct
        slog, rc, timed_out = runner(args, cases, vmlinuz, vmlinux, moddir, busybox, workdir)
        if mode == "nested" and slog.first(r"VMM-L1-UP ") and not slog.first(r"VMM-L2-OK "):
            # The emulated stack under L2 (QEMU's TCG running SVM for L1's
            # KVM) sometimes stalls or triple-faults an L2 kernel in its
            # early boot (docs/testing.md, "Nested flakiness"). Nothing after
            # L2's /init is ever retried, nor anything in direct mode.
            first = os.path.join(workdir, "serial-attempt1.log")
            with open(first, "w") as f:
                f.write(slog.text() + "\n")
            log(f"L2 never reached its /init (nested); the first attempt's log is {first}; its last lines:")
            for _, text in slog.lines[-12:]:
                log(f"  | {text}")
            for _, text in slog.lines:
                if text.startswith(("VMM-L1-FAIL", "VMM-DIAG thread", "VMM-DIAG vm.counters")):
                    log(f"  | {text[:300]}")
            log("running it once more")
            slog, rc, timed_out = runner(args, cases, vmlinuz, vmlinux, moddir, busybox, workdir)
    except Skip as e:
        print(f"SKIP: {e}", flush=True)
        return SKIP
    except (Fail, subprocess.CalledProcessError, OSError) as e:
        print(f"FAIL: {e}", flush=True)
        return 1

    log_path = os.path.join(workdir, "serial.log")
    with open(log_path, "w") as f:
        f.write(slog.text() + "\n")

    problems = []
    if timed_out:
        problems.append(f"hard time bound of {args.timeout} s hit; killed")
    l1_up = slog.first(r"VMM-L1-UP ")
    if mode == "nested":
        if not l1_up:
            problems.append(f"L1 never reached its /init (qemu rc={rc})")
        problems += ["L1: " + text for _, text in slog.lines if text.startswith("VMM-L1-FAIL")]
        ver = slog.first(r"VMM-L1-VERSION rc=(\S+) out=(.*)")
        if ver and ver[1].group(1) != "0":
            problems.append(f"vmm --version failed inside L1: {ver[1].group(2)}")

    results = {}
    try:
        for c in cases:
            results[c] = judge(slog, c, release, args)
    except Skip as e:
        print(f"SKIP: {e}", flush=True)
        return SKIP

    summary = [f"mode {mode}"]
    if l1_up:
        summary.append(f"L1 boot to /init {l1_up[0]:.1f} s")
    done = slog.lines[-1][0] if slog.lines else 0.0
    summary.append(f"whole run {done:.1f} s")
    failed = bool(problems) or any(probs for probs, _, _ in results.values())
    # The log first, the verdict last: meson shows a failing test's tail.
    if failed or args.show_log:
        print("----- serial log (L1 and L2), host seconds since start -----")
        print(slog.text())
        print(f"----- end of serial log (also in {log_path}) -----", flush=True)
    log(", ".join(summary))
    for c, (probs, timings, devices) in results.items():
        bits = []
        if "l2_marker_s" in timings:
            bits.append(f"L2 boot to marker {timings['l2_marker_s']:.1f} s")
        if "l2_uptime_at_marker_s" in timings:
            bits.append(f"L2's own uptime at marker {timings['l2_uptime_at_marker_s']:.1f} s")
        if "vmm_total_s" in timings:
            bits.append(f"vmm start to exit {timings['vmm_total_s']:.1f} s")
        status = "FAIL" if probs else "ok"
        log(f"case {c}: {status}; " + ", ".join(bits))
        for p in probs:
            log(f"  {c}: {p}")
        for d, dprobs in (devices or {}).items():
            log(f"  {c} {d}: {'FAIL' if dprobs else 'PASS'}")
    for p in problems:
        log(f"  {p}")
    for _, text in slog.lines:
        if text.startswith(("VMM-L2-", "VMM-API", "VMM-EXIT", "VMM-L1-VERSION", "VMM-L1-CHECK", "VMM-HVC-OUT",
                            "VMM-L1-SNAPSHOT", "VMM-CASE-RESTORE",
                            "VMM-DIAG")):
            log(f"  | {text}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
