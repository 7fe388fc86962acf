#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Snapshot and restore time vs guest memory size: vmm and QEMU side by side.

Usage: bench_snapshot.py --vmm VMM --payload bench_snapshot.elf --work DIR
                         [--sizes 64M,256M,1G,2G] [--sparse 2G]

One PVH payload (bench/snapshot_payload.S) for both VMMs: it writes every
4 KiB page of its RAM above 2 MiB, pass after pass, printing '.' per MiB and
'|' per pass. Each VMM boots it with SIZE of RAM; after its second pass (all
RAM written, then one pass over populated RAM, the baseline) it is paused and
snapshotted: vm.pause + vm.snapshot for vmm, QMP stop + migrate to
"exec:cat > FILE" for QEMU 7.2 (its migrate has no file: URI yet). Then a new
process restores it (vmm --restore, with and without prefault=on; QEMU
-incoming defer + migrate-incoming "exec:cat FILE") and is resumed.
--sparse adds a guest of that size snapshotted after writing only 64 MiB
(mostly zero pages). Right before each snapshot, the guest paused, the
directory gets a file of the guest's size written and removed (warm(),
untimed), so neither VMM pays for memory the host below has not backed yet. Figures and method: docs/benchmarks.md.
Prints figures, asserts nothing about them; fails when a VMM cannot snapshot,
restore or run the restored guest. Exits 77 without /dev/kvm or
qemu-system-x86_64.
"""
import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../tests/pylib"))
from kvm_check import kvm_unusable  # noqa: E402

BOOT_TIMEOUT = 120.0
SPARSE_MIB = 64


class Failure(Exception):
    pass


def parse_size(s):
    units = {"M": 1 << 20, "G": 1 << 30}
    return int(s[:-1]) * units[s[-1].upper()]


class Serial(threading.Thread):
    """Reads a VMM's stdout (the guest's COM1) and stamps every '.' and '|'
    with its arrival time."""

    def __init__(self, pipe):
        super().__init__(daemon=True)
        self.fd = pipe.fileno()
        self.cond = threading.Condition()
        self.dots, self.bars, self.tail = [], [], b""
        self.eof = False
        self.start()

    def run(self):
        while True:
            data = os.read(self.fd, 65536)
            now = time.perf_counter()
            with self.cond:
                if not data:
                    self.eof = True
                else:
                    self.dots += [now] * data.count(b".")
                    self.bars += [now] * data.count(b"|")
                    self.tail = (self.tail + data)[-200:]
                self.cond.notify_all()
            if not data:
                return

    def wait(self, what, count, timeout):
        """The arrival time of the count-th '.' or '|'."""
        with self.cond:
            end = time.perf_counter() + timeout
            while len(getattr(self, what)) < count:
                left = end - time.perf_counter()
                if self.eof or left <= 0:
                    raise Failure(f"no {count} x '{'.' if what == 'dots' else '|'}' from the guest "
                                  f"({'it exited' if self.eof else f'{timeout:.0f} s'}); serial ends {self.tail!r}")
                self.cond.wait(left)
            return getattr(self, what)[count - 1]


def connect_unix(path, proc, timeout=30.0):
    end = time.perf_counter() + timeout
    while True:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.connect(path)
            return s
        except OSError:
            s.close()
            if proc.poll() is not None:
                raise Failure(f"{proc.args[0]} exited ({proc.returncode}) before its socket {path} answered")
            if time.perf_counter() > end:
                raise Failure(f"no socket at {path} after {timeout:.0f} s")
            time.sleep(0.001)


class JsonLines:
    """Newline-delimited JSON over a unix socket (our API and QMP alike)."""

    def __init__(self, sock):
        self.sock, self.buf = sock, b""
        self.sock.settimeout(120)

    def send(self, obj):
        self.sock.sendall(json.dumps(obj).encode() + b"\n")

    def recv(self):
        while b"\n" not in self.buf:
            data = self.sock.recv(65536)
            if not data:
                raise Failure("the VMM closed its control socket")
            self.buf += data
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)


class VmmApi(JsonLines):
    def call(self, action, args=None):
        req = {"id": 1, "action": action}
        if args is not None:
            req["args"] = args
        self.send(req)
        while True:
            msg = self.recv()
            if "id" in msg:
                if "error" in msg:
                    raise Failure(f"vmm {action}: {msg['error']}")
                return msg["result"]


class Qmp(JsonLines):
    def __init__(self, sock):
        super().__init__(sock)
        self.recv()  # the greeting
        self.call("qmp_capabilities")

    def call(self, cmd, args=None):
        self.send({"execute": cmd, **({"arguments": args} if args else {})})
        while True:
            msg = self.recv()
            if "error" in msg:
                raise Failure(f"QMP {cmd}: {msg['error']}")
            if "return" in msg:
                return msg["return"]

    def wait_migration(self):
        """Until a MIGRATION event says completed (needs the events capability)."""
        while True:
            msg = self.recv()
            if msg.get("event") == "MIGRATION":
                status = msg["data"]["status"]
                if status == "completed":
                    return
                if status in ("failed", "cancelled"):
                    info = self.call("query-migrate")
                    raise Failure(f"QEMU migration {status}: {info.get('error-desc', info)}")


class Process:
    """A VMM whose stdout is the guest's serial port and whose stderr goes
    to a log file, quoted when something fails; killed on leaving."""

    def __init__(self, cmd, log):
        self.log = log
        with open(log, "wb") as err:
            self.t0 = time.perf_counter()
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err)
        self.serial = Serial(self.proc.stdout)

    def __enter__(self):
        return self

    def __exit__(self, kind, exc, tb):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        if isinstance(exc, Failure):
            with open(self.log, errors="replace") as f:
                err = f.read()[-2000:].strip()
            raise Failure(f"{exc}\n  {' '.join(self.proc.args)}\n  stderr: {err or '(empty)'}") from None


def rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def disk_usage(paths):
    """(apparent bytes, allocated bytes) of the files."""
    st = [os.stat(p) for p in paths]
    return sum(s.st_size for s in st), sum(s.st_blocks * 512 for s in st)


def ready_to_pause(serial, written_mib):
    """Waits for the guest's second pass and returns its duration (the
    baseline: a pass over RAM that is all populated); with written_mib,
    only for that many MiB of its first pass (a mostly empty guest)."""
    if written_mib:
        serial.wait("dots", written_mib, BOOT_TIMEOUT)
        return None
    first = serial.wait("bars", 1, BOOT_TIMEOUT)
    return serial.wait("bars", 2, BOOT_TIMEOUT) - first


def after_resume(serial, t_resume):
    """(resume -> first serial byte, resume -> end of the first pass), s."""
    first = serial.wait("dots", 1, BOOT_TIMEOUT)
    bar = serial.wait("bars", 1, BOOT_TIMEOUT)
    return first - t_resume, bar - t_resume


# ------------------------------------------------------------------ vmm

def vmm_snapshot(opts, size, written_mib, work, snap):
    sock = os.path.join(work, "vmm.sock")
    cmd = [opts.vmm, "--kernel", opts.payload, "--memory", f"size={size}", "--serial", "tty", "--console", "off",
           "--api-socket", f"path={sock}"]
    with Process(cmd, os.path.join(work, "vmm.log")) as p:
        api = VmmApi(connect_unix(sock, p.proc))
        base = ready_to_pause(p.serial, written_mib)
        t0 = time.perf_counter()
        api.call("vm.pause")
        t_paused = time.perf_counter()
        warm(work, parse_size(size))
        t1 = time.perf_counter()
        api.call("vm.snapshot", {"destination_url": f"file://{snap}"})
        t2 = time.perf_counter()
    files = [os.path.join(snap, n) for n in ("config.json", "state.bin", "memory")]
    return {"base": base, "pause": t_paused - t0, "save": t2 - t1, "files": disk_usage(files)}


def vmm_restore(opts, work, snap, prefault):
    sock = os.path.join(work, "vmm-restored.sock")
    url = f"source_url=file://{snap}" + (",prefault=on" if prefault else "")
    with Process([opts.vmm, "--restore", url, "--api-socket", f"path={sock}"],
                 os.path.join(work, "vmm-restored.log")) as p:
        api = VmmApi(connect_unix(sock, p.proc))
        # Requests are served once the restore is done: the answer is the
        # moment the VM is paused and ready.
        state = api.call("vm.info")["state"]
        ready = time.perf_counter() - p.t0
        if state != "Paused":
            raise Failure(f"the restored VM is {state}, not Paused")
        rss = rss_mib(p.proc.pid)
        t_resume = time.perf_counter()
        api.call("vm.resume")
        first, pass_s = after_resume(p.serial, t_resume)
    return {"ready": ready, "rss": rss, "first": first, "pass": pass_s}


# ----------------------------------------------------------------- QEMU

def qemu_cmd(opts, size, qmp, extra=()):
    return [opts.qemu, "-M", "microvm", "-accel", "kvm", "-m", size, "-nodefaults", "-no-user-config",
            "-display", "none", "-serial", "stdio", "-kernel", opts.payload, "-qmp",
            f"unix:{qmp},server=on,wait=off", *extra]


def qemu_snapshot(opts, size, written_mib, work, image):
    sock = os.path.join(work, "qmp.sock")
    with Process(qemu_cmd(opts, size, sock), os.path.join(work, "qemu.log")) as p:
        qmp = Qmp(connect_unix(sock, p.proc))
        # Untimed set-up: completion events, and no bandwidth cap (QEMU's
        # default is 32 MiB/s, meant for live migration over a network).
        qmp.call("migrate-set-capabilities", {"capabilities": [{"capability": "events", "state": True}]})
        qmp.call("migrate-set-parameters", {"max-bandwidth": 1 << 40})
        base = ready_to_pause(p.serial, written_mib)
        t0 = time.perf_counter()
        qmp.call("stop")
        t_stopped = time.perf_counter()
        warm(work, parse_size(size))
        t1 = time.perf_counter()
        qmp.call("migrate", {"uri": f"exec:cat > {image}"})
        qmp.wait_migration()
        t2 = time.perf_counter()
    return {"base": base, "pause": t_stopped - t0, "save": t2 - t1, "files": disk_usage([image])}


def qemu_restore(opts, size, work, image):
    sock = os.path.join(work, "qmp-restored.sock")
    with Process(qemu_cmd(opts, size, sock, ["-S", "-incoming", "defer"]),
                 os.path.join(work, "qemu-restored.log")) as p:
        qmp = Qmp(connect_unix(sock, p.proc))
        qmp.call("migrate-set-capabilities", {"capabilities": [{"capability": "events", "state": True}]})
        qmp.call("migrate-incoming", {"uri": f"exec:cat {image}"})
        qmp.wait_migration()
        ready = time.perf_counter() - p.t0
        rss = rss_mib(p.proc.pid)
        t_resume = time.perf_counter()
        qmp.call("cont")
        first, pass_s = after_resume(p.serial, t_resume)
    return {"ready": ready, "rss": rss, "first": first, "pass": pass_s}


# ----------------------------------------------------------------- main

def snapshot_dir(opts, biggest):
    """tmpfs when it has room (the figures are then the VMMs', not the
    disk's), else the work directory."""
    need = 3 * biggest
    for d in ("/dev/shm", opts.work):
        st = os.statvfs(d)
        if st.f_bavail * st.f_frsize >= need:
            return d
    raise Failure(f"neither /dev/shm nor {opts.work} has {need >> 20} MiB free for the snapshot files")


def warm(where, size):
    """Writes a file of size bytes into where and removes it, with the guest
    paused, right before its snapshot (untimed). On a host that is itself a
    VM (as ours), the first use of memory the hypervisor below has not backed
    yet costs a fault there: a 2 GiB tmpfs file took 6 s to write the first
    time and 0.8-1.4 s after. Without this, whichever VMM writes its snapshot
    first pays for that, not for its own work; done before the guest boots,
    the guest's RAM takes the warmed pages."""
    path = os.path.join(where, "warm")
    chunk = b"\xa5" * (1 << 20)
    with open(path, "wb") as f:
        for _ in range(size >> 20):
            f.write(chunk)
    os.unlink(path)


def mem_available():
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    return 0


def ms(s):
    return f"{s * 1e3:.0f}" if s >= 0.1 else f"{s * 1e3:.1f}"


def print_table(results):
    print("snapshot and restore, same PVH payload, 1 vCPU; times in ms, sizes in MiB")
    head = (f"{'':13}{'':14}{'pause':>8}{'snapshot':>10}{'file':>8}{'on disk':>9}{'restore':>9}{'RSS':>7}"
            f"{'1st byte':>10}{'pass':>8}{'pass before':>13}")
    print(head)
    for label, rows in results.items():
        for name, r in rows:
            snap = r.get("snap")
            cells = [ms(snap["pause"]), ms(snap["save"]), f"{snap['files'][0] >> 20}", f"{snap['files'][1] >> 20}"] \
                if snap else ["\"", "\"", "\"", "\""]
            base = ms(r["base"]) if r["base"] is not None else "-"
            print(f"{label:13}{name:14}{cells[0]:>8}{cells[1]:>10}{cells[2]:>8}{cells[3]:>9}{ms(r['ready']):>9}"
                  f"{r['rss']:>7.0f}{ms(r['first']):>10}{ms(r['pass']):>8}{base:>13}")
    print("  pause/snapshot: API or QMP round trip (QEMU: stop, then migrate until its completed event);")
    print("  file: apparent size, on disk: allocated blocks; restore: process start -> paused and ready;")
    print("  RSS: the restored process's then; 1st byte / pass: resume -> first serial byte / the guest's")
    print("  first full pass writing every page; pass before: the same pass before the snapshot")
    print("  (\"+64M\": snapshotted after writing only its first ~64 MiB: mostly zero pages; its")
    print("  pass is the rest of the first one, writing pages never written before)")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--vmm", required=True)
    ap.add_argument("--payload", required=True)
    ap.add_argument("--work", required=True, help="for the snapshot files when /dev/shm has no room")
    ap.add_argument("--sizes", default="64M,256M,1G,2G")
    ap.add_argument("--sparse", default="2G", help="also this size with only 64 MiB written ('' for none)")
    opts = ap.parse_args()

    why = kvm_unusable()
    if why:
        print(f"SKIP: {why}")
        return 77
    opts.qemu = shutil.which("qemu-system-x86_64")
    if not opts.qemu:
        print("SKIP: qemu-system-x86_64 not installed")
        return 77

    cases = [(size, size, None) for size in opts.sizes.split(",")]
    if opts.sparse:
        cases.append((f"{opts.sparse}, +64M", opts.sparse, SPARSE_MIB))
    try:
        where = snapshot_dir(opts, max(parse_size(size) for _, size, _ in cases))
        print(f"snapshot files in {where}")
        results = {}
        for label, size, written_mib in cases:
            # The guest, its snapshot file, the warming file and a prefaulted restore.
            if mem_available() < 4 * parse_size(size):
                print(f"note: {size} left out: less than 4x that much memory available")
                continue
            work = tempfile.mkdtemp(prefix="snap-bench-", dir=where)
            try:
                snap = os.path.join(work, "snap")
                os.mkdir(snap)
                s = vmm_snapshot(opts, size, written_mib, work, snap)
                rows = []
                for prefault in (False, True):
                    r = vmm_restore(opts, work, snap, prefault)
                    rows.append(("vmm prefault" if prefault else "vmm", {**r, "base": s["base"],
                                                                        "snap": None if prefault else s}))
                shutil.rmtree(snap)
                image = os.path.join(work, "qemu.mig")
                s = qemu_snapshot(opts, size, written_mib, work, image)
                rows.append(("qemu microvm", {**qemu_restore(opts, size, work, image), "base": s["base"], "snap": s}))
                results[label] = rows
            finally:
                shutil.rmtree(work, ignore_errors=True)
        if not results:
            raise Failure("no size could be measured")
        print_table(results)
    except Failure as e:
        print(f"FAIL: {e}")
        return 1
    return 0


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    sys.exit(main())
