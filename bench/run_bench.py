#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Side-by-side figures for vmm and QEMU (microvm, KVM) on the same payload.

Usage: run_bench.py VMM PAYLOAD_DIR [--runs N]

PAYLOAD_DIR holds bench_hello.elf (print one byte, power off),
bench_exits.elf (the same plus 100000 port writes, each a VM exit) and
bench_idle.elf (print, then halt forever). Prints figures; asserts nothing
about them. Exits 77 when /dev/kvm is unusable.
"""
import os
import select
import shutil
import signal
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../tests/pylib"))
from kvm_check import kvm_unusable  # noqa: E402

EXITS = 100000
MEM_MIB = 64


def vmm_cmd(vmm, payload):
    return [vmm, "--kernel", payload, "--memory", f"size={MEM_MIB}M", "--serial", "tty", "--console", "off"]


def qemu_cmd(qemu, payload):
    return [qemu, "-M", "microvm", "-accel", "kvm", "-m", f"{MEM_MIB}M", "-nodefaults", "-no-user-config",
            "-display", "none", "-serial", "stdio", "-device", "isa-debug-exit,iobase=0xf4,iosize=4",
            "-kernel", payload]


def one_run(cmd, timeout=30.0):
    """Returns (seconds to the first serial byte, seconds to process exit)."""
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    first = None
    deadline = t0 + timeout
    while first is None:
        r, _, _ = select.select([p.stdout], [], [], max(0.0, deadline - time.perf_counter()))
        if not r:
            p.kill()
            raise RuntimeError(f"no serial output from {cmd[0]} within {timeout}s")
        if os.read(p.stdout.fileno(), 1):
            first = time.perf_counter() - t0
        else:
            break
    p.stdout.read()
    p.wait(timeout=max(0.1, deadline - time.perf_counter()))
    end = time.perf_counter() - t0
    if first is None:
        raise RuntimeError(f"{cmd[0]} exited ({p.returncode}) without serial output")
    return first, end


def median_runs(cmd, runs):
    firsts, ends = [], []
    for _ in range(runs):
        f, e = one_run(cmd)
        firsts.append(f)
        ends.append(e)
    return statistics.median(firsts), statistics.median(ends)


def rss_kib(pid, guest_bytes):
    """(total RSS, RSS of the guest RAM mapping) in KiB from /proc/PID/smaps."""
    total = guest = 0
    size = rss = 0
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            if line[0] in "0123456789abcdef" and "-" in line.split()[0]:
                if size >= guest_bytes // 1024 and rss > guest:
                    guest = rss
                size = rss = 0
            elif line.startswith("Size:"):
                size = int(line.split()[1])
            elif line.startswith("Rss:"):
                rss = int(line.split()[1])
                total += rss
    if size >= guest_bytes // 1024 and rss > guest:
        guest = rss
    return total, guest


def measure_rss(cmd):
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    try:
        r, _, _ = select.select([p.stdout], [], [], 30)
        if not r or not os.read(p.stdout.fileno(), 1):
            raise RuntimeError(f"{cmd[0]}: idle guest printed nothing")
        time.sleep(0.3)
        return rss_kib(p.pid, MEM_MIB << 20)
    finally:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout=5)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def main():
    if len(sys.argv) < 3:
        print(__doc__)
        return 2
    vmm, pdir = sys.argv[1], sys.argv[2]
    runs = int(sys.argv[sys.argv.index("--runs") + 1]) if "--runs" in sys.argv else 20
    why = kvm_unusable()
    if why:
        print(f"SKIP: {why}")
        return 77
    hello, exits, idle = (os.path.join(pdir, f"bench_{n}.elf") for n in ("hello", "exits", "idle"))
    qemu = shutil.which("qemu-system-x86_64")

    rows = [("vmm", lambda p: vmm_cmd(vmm, p))]
    if qemu:
        rows.append(("qemu microvm", lambda p: qemu_cmd(qemu, p)))
    else:
        print("note: qemu-system-x86_64 not installed: vmm figures only")

    results = {}
    for name, mk in rows:
        first, end = median_runs(mk(hello), runs)
        _, end_exits = median_runs(mk(exits), max(3, runs // 4))
        total, guest = measure_rss(mk(idle))
        results[name] = {
            "first_byte_ms": first * 1e3,
            "exit_ms": end * 1e3,
            "per_exit_us": max(0.0, end_exits - end) / EXITS * 1e6,
            "rss_kib": total,
            "own_kib": total - guest,
        }

    print(f"cold start and footprint, median of {runs} runs, {MEM_MIB} MiB guest, same PVH payload")
    print(f"{'':14} {'1st serial byte':>16} {'process exit':>13} {'per PIO exit':>13} {'RSS':>9} {'RSS - guest':>12}")
    for name, r in results.items():
        print(f"{name:14} {r['first_byte_ms']:13.2f} ms {r['exit_ms']:10.2f} ms {r['per_exit_us']:10.2f} us "
              f"{r['rss_kib'] / 1024:6.1f} MiB {r['own_kib'] / 1024:9.2f} MiB")
    if "qemu microvm" in results:
        v, q = results["vmm"], results["qemu microvm"]
        print(f"ratio vmm/qemu: first byte {v['first_byte_ms'] / q['first_byte_ms']:.2f}, "
              f"exit {v['exit_ms'] / q['exit_ms']:.2f}, own memory {v['own_kib'] / max(1, q['own_kib']):.2f} "
              f"(aims: < 0.33 for start, < 3 MiB own memory)")
    print("raw KVM port-I/O exit on this host (docs/kvm-here.md): about 8 us")
    return 0


if __name__ == "__main__":
    sys.exit(main())
