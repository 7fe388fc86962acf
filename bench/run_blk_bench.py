#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""virtio-blk and MSI-X interrupt figures: vmm, QEMU and the host side by side.

Usage: run_blk_bench.py --vmm VMM --payload bench-blk-payload.elf
                        --host-io blk-host-io --work DIR [--runs N] [--scale PCT]

One payload (bench/blk_payload.c) measures in the guest with the TSC and
prints BENCH lines; it boots under vmm (PVH) and under QEMU q35 with
virtio-blk-pci (SeaBIOS assigns the BARs, the payload finds them), each with
the same raw image file, in two cache modes: O_DIRECT (vmm direct=on, QEMU
cache=none) and the host page cache (direct=off, cache=writeback).
blk-host-io runs the same requests with pread/pwrite on the image: the
limit. Prints figures, asserts nothing about them; fails when a VMM or the
host gives no figures. Exits 77 without /dev/kvm or qemu-system-x86_64.
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../tests/pylib"))
from kvm_check import kvm_unusable  # noqa: E402

IMAGE_MIB = 64
MEM = "128M"
PHASES = ["read-4k-qd1", "read-4k-qd32", "write-4k-qd1", "write-4k-qd32", "read-128k-seq-qd8",
          "write-128k-seq-qd8", "irq-read-4k-qd1"]
HOST_PHASES = PHASES[:-1]
BENCH = re.compile(r"^BENCH phase=(\S+) (.*)$")


class Failure(Exception):
    pass


def direct_io_works(path):
    try:
        os.close(os.open(path, os.O_RDONLY | os.O_DIRECT))
        return True
    except OSError:
        return False


def make_image(path):
    """Written out in full: reads of holes would not touch the disk."""
    chunk = os.urandom(1 << 20)
    with open(path, "wb") as f:
        for _ in range(IMAGE_MIB):
            f.write(chunk)
        f.flush()
        os.fsync(f.fileno())


def warm_cache(path):
    """Page-cache mode measures the VMMs, not the disk: the whole image is
    cached first (O_DIRECT writes of the previous mode dropped it)."""
    with open(path, "rb") as f:
        while f.read(1 << 20):
            pass


def parse(text, phases, who):
    """{phase: {key: int}} from BENCH lines; Failure unless every phase is there."""
    got = {}
    for line in text.replace("\r", "").splitlines():
        m = BENCH.match(line)
        if m:
            got[m.group(1)] = {k: int(v) for k, v in (kv.split("=", 1) for kv in m.group(2).split())}
    missing = [p for p in phases if p not in got]
    fails = [line for line in text.replace("\r", "").splitlines() if line.startswith("FAIL")]
    if missing or fails:
        raise Failure(f"{who}: no figures for {', '.join(missing) or 'nothing'} "
                      f"{'; ' + '; '.join(fails) if fails else ''}")
    return got


def run_guest(who, cmd, timeout, image, direct):
    if not direct:
        warm_cache(image)
    try:
        r = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        out = (e.stdout or b"").decode(errors="replace")
        raise Failure(f"{who}: no power-off within {timeout} s\n  {' '.join(cmd)}\n{out}")
    out = r.stdout.decode(errors="replace")
    try:
        if r.returncode != 0:
            raise Failure(f"{who}: exit status {r.returncode}")
        return parse(out, PHASES, who)
    except Failure as e:
        raise Failure(f"{e}\n  {' '.join(cmd)}\n--- serial ---\n{out}--- stderr ---\n"
                      f"{r.stderr.decode(errors='replace')}") from None


def vmm_cmd(vmm, payload, image, direct, scale):
    return [vmm, "--kernel", payload, "--cmdline", f"test=blkbench scale={scale}", "--memory", f"size={MEM}",
            "--serial", "tty", "--console", "off",
            "--disk", f"path={image},direct={'on' if direct else 'off'}"]


def qemu_cmd(qemu, payload, image, direct, scale):
    return [qemu, "-M", "q35", "-accel", "kvm", "-m", MEM, "-nodefaults", "-no-user-config", "-display", "none",
            "-serial", "stdio", "-kernel", payload, "-append", f"test=blkbench scale={scale}",
            "-drive", f"file={image},format=raw,if=none,id=d0,cache={'none' if direct else 'writeback'}",
            "-device", "virtio-blk-pci,drive=d0,disable-legacy=on"]


def run_host(host_io, image, direct, scale):
    cmd = [host_io, image, "direct" if direct else "buffered", str(scale)]
    if not direct:
        warm_cache(image)
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        raise Failure(f"host: {' '.join(cmd)} exited {r.returncode}: {r.stderr.strip()}")
    return parse(r.stdout, HOST_PHASES, "host")


def best(runs):
    """Phase by phase the fastest run (the interrupt phase: the lowest
    handler p50): the machine is shared, and noise only ever slows."""
    key = {"irq-read-4k-qd1": lambda f: f["irq_p50"]}
    return {phase: min((r[phase] for r in runs), key=key.get(phase, lambda f: f["ns"] / f["ops"]))
            for phase in runs[0]}


def us(ns):
    return f"{ns / 1e3:.0f}" if ns >= 10e3 else f"{ns / 1e3:.1f}"


def cell(f):
    if f is None:
        return "-"
    secs = f["ns"] / 1e9
    rate = f"{f['bytes'] / secs / 1e6:.0f} MB/s" if f["bytes"] // f["ops"] >= 65536 \
        else f"{f['ops'] / secs / 1e3:.1f}k IOPS"
    return f"{rate} {us(f['lat_p50'])}/{us(f['lat_p99'])}"


def print_table(title, cols, results):
    names = list(cols)
    print(title)
    print(f"  {'':20}" + "".join(f"{n:>28}" for n in names))
    for phase in PHASES[:-1]:
        print(f"  {phase:20}" + "".join(f"{cell(results[n].get(phase)):>28}" for n in names))
    print(f"  (rate, then p50/p99 request latency in us; {IMAGE_MIB} MiB image, random 4k over all of it)")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--vmm", required=True)
    ap.add_argument("--payload", required=True)
    ap.add_argument("--host-io", required=True)
    ap.add_argument("--work", required=True, help="directory for the image (needs O_DIRECT)")
    ap.add_argument("--runs", type=int, default=2, help="runs per VMM and mode; the best figure is shown")
    ap.add_argument("--scale", type=int, default=100, help="percent of the default request counts")
    opts = ap.parse_args()

    reason = kvm_unusable()
    qemu = shutil.which("qemu-system-x86_64")
    if not reason and not qemu:
        reason = "qemu-system-x86_64 not installed"
    if reason:
        print(f"SKIP: {reason}")
        return 77

    work = tempfile.mkdtemp(prefix="blk-bench-", dir=opts.work)
    try:
        image = os.path.join(work, "disk.img")
        make_image(image)
        modes = [True, False] if direct_io_works(image) else [False]
        if modes == [False]:
            print(f"note: {opts.work} has no O_DIRECT: page-cache figures only")
        irq = {}
        for direct in modes:
            results = {"host": best([run_host(opts.host_io, image, direct, opts.scale) for _ in range(opts.runs)])}
            for name, mk, timeout in (("vmm", vmm_cmd, 90), ("qemu q35", qemu_cmd, 120)):
                cmd = mk(opts.vmm if name == "vmm" else qemu, opts.payload, image, direct, opts.scale)
                results[name] = best([run_guest(name, cmd, timeout, image, direct) for _ in range(opts.runs)])
            if direct:
                title = "virtio-blk, O_DIRECT (vmm direct=on, QEMU cache=none, host pread/pwrite O_DIRECT)"
            else:
                title = "virtio-blk, host page cache (vmm direct=off, QEMU cache=writeback, host buffered)"
            print_table(f"{title}, best of {opts.runs}", ["host", "vmm", "qemu q35"], results)
            v, q = results["vmm"], results["qemu q35"]
            ratios = []
            for phase in PHASES[:-1]:
                ratios.append(f"{phase} {q[phase]['ns'] / q[phase]['ops'] / (v[phase]['ns'] / v[phase]['ops']):.2f}")
            print("  vmm/qemu throughput: " + ", ".join(ratios))
            for n in ("vmm", "qemu q35"):
                per = ", ".join(f"{p} {results[n][p]['kicks'] / results[n][p]['ops']:.2f}" for p in PHASES[:-1])
                print(f"  {n} notifications per request: {per}")
            stray = {n: sum(results[n][p]["irqs"] for p in PHASES[:-1]) for n in ("vmm", "qemu q35")}
            if any(stray.values()):
                print(f"  note: interrupts in polled phases (used_event set never to be crossed): {stray}")
            irq[direct] = {n: results[n]["irq-read-4k-qd1"] for n in ("vmm", "qemu q35")}
            print()

        for direct, figs in irq.items():
            print(f"MSI-X completion interrupt, 4k reads at qd1 ({'O_DIRECT' if direct else 'page cache'}), "
                  f"{figs['vmm']['ops']} requests, best of {opts.runs}")
            print(f"  {'':34}{'vmm':>12}{'qemu q35':>12}")
            for key, label in (("irq_p50", "notify -> handler p50 (us)"), ("irq_p99", "notify -> handler p99 (us)"),
                               ("lat_p50", "notify -> used ring seen p50 (us)"),
                               ("used_irq_p50", "used ring seen -> handler p50 (us)")):
                print(f"  {label:34}" + "".join(f"{us(figs[n][key]):>12}" for n in ("vmm", "qemu q35")))
            print(f"  {'handler before used ring seen':34}" +
                  "".join(f"{figs[n]['irq_first'] * 100 / figs[n]['ops']:>11.0f}%" for n in ("vmm", "qemu q35")))
        print("  raw irqfd MSI -> guest handler -> ack exit on this host (docs/kvm-here.md): 25-35 us")
        return 0
    except Failure as e:
        print(f"FAIL {e}")
        return 1
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
