#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Runs one case of the `guest` suite: the project's payload under `vmm`.

Usage: run_guest.py --vmm VMM --elf PAYLOAD.elf --pvh PAYLOAD-pvh.elf
                    --bzimage PAYLOAD.bzImage --case CASE [--keep] [--no-landlock]

Starts `vmm` with the case's options (kernel flavour, command line,
initramfs, serial mode, --event-monitor, --api-socket), talks to the API
socket where the case needs it, and checks the serial output, the exit code
and the events. Every run has a deadline: past it `vmm` is killed and the
case fails with the serial log. Exit 0 = pass, 1 = fail, 77 = skipped
(no usable /dev/kvm, or the VMM says the feature is not there yet).

The payload's side of each case is tests/guest/payload/tests.c; the output
protocol (BOOT/INFO/FAIL/PASS lines) is described in payload/payload.h.
"""
import argparse
import ctypes
import errno
import json
import os
import re
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import termios
import threading
import time
import tty

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../pylib"))
from kvm_check import kvm_unusable  # noqa: E402

SKIP = 77
# Must match PATTERN_MULTIPLIER in payload/tests.c.
PATTERN_MULTIPLIER = 0x9E3779B97F4A7C15
PRINTABLE = "".join(chr(c) for c in range(0x20, 0x7F))
SERIAL_OUT = [f"OUT 1 {PRINTABLE}", "OUT 2 " + "".join(chr(ord("a") + i % 26) for i in range(1000))]


class Failure(Exception):
    pass


class Skip(Exception):
    pass


def landlock_unusable():
    """None when the kernel has Landlock, else the reason (vmm --landlock refuses to run without it)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    # landlock_create_ruleset(NULL, 0, LANDLOCK_CREATE_RULESET_VERSION) returns the ABI version.
    if libc.syscall(ctypes.c_long(444), None, ctypes.c_size_t(0), ctypes.c_uint32(1)) < 0:
        return f"no Landlock in this kernel: {os.strerror(ctypes.get_errno())}"
    return None


def pattern_bytes(size):
    words = (size + 7) // 8
    mask = (1 << 64) - 1
    return b"".join(struct.pack("<Q", ((k + 1) * PATTERN_MULTIPLIER) & mask) for k in range(words))[:size]


class Reader(threading.Thread):
    """Collects everything a file descriptor yields, until EOF or stop()."""

    def __init__(self, fd, name):
        super().__init__(daemon=True, name=name)
        self.fd = fd
        self.data = bytearray()
        self.lock = threading.Lock()
        self.done = False
        self.stopping = False

    def run(self):
        while not self.stopping:
            try:
                r, _, _ = select.select([self.fd], [], [], 0.1)
                if not r:
                    continue
                chunk = os.read(self.fd, 65536)
            except OSError as e:
                if e.errno == errno.EINTR:
                    continue
                break  # EIO: the pty's other side closed
            if not chunk:
                break
            with self.lock:
                self.data += chunk
        self.done = True

    def text(self):
        with self.lock:
            return self.data.decode("utf-8", "replace")

    def stop(self):
        self.stopping = True
        self.join(1)


class Vmm:
    """One `vmm` process, its serial output, API socket and events."""

    def __init__(self, opts, work, case):
        self.opts = opts
        self.work = work
        self.case = case
        self.proc = None
        self.serial_reader = None
        self.serial_fd = None
        self.stdin_master = None
        self.serial_sock = None
        self.serial_mode = None
        self.serial_path = None
        self.stdout_reader = self.stderr_reader = None
        self.api_sock = None
        self.api_buf = b""
        self.api_id = 0
        self.events_path = os.path.join(work, "events.jsonl")
        self.api_path = os.path.join(work, "api.sock")
        self.deadline = None
        self.rc = None

    # -- lifetime

    def start(self, kernel, cmdline, serial="tty", memory="64M", cpus="boot=1", initramfs=None,
              extra=(), stdin_pipe=False, timeout=30, console="off", wrap=()):
        self.serial_mode = serial
        self.deadline = time.monotonic() + timeout
        serial_opt = serial
        if serial == "file":
            self.serial_path = os.path.join(self.work, "serial.log")
            serial_opt = f"file={self.serial_path}"
        elif serial == "socket":
            self.serial_path = os.path.join(self.work, "serial.sock")
            serial_opt = f"socket={self.serial_path}"
        args = list(wrap) + [self.opts.vmm, "--kernel", kernel, "--cmdline", cmdline, "--memory", f"size={memory}",
                "--cpus", cpus, "--serial", serial_opt,
                "--event-monitor", f"path={self.events_path}", "--api-socket", f"path={self.api_path}"]
        if console is not None:  # None: the default (tty)
            args += ["--console", console]
        if initramfs:
            args += ["--initramfs", initramfs]
        args += list(extra)
        if self.opts.landlock:
            args.append("--landlock")
        self._spawn(args, stdin_pipe)
        if serial == "tty":
            self.serial_reader = self.stdout_reader
        elif serial == "pty":
            self._open_pty()
        elif serial == "socket":
            self._connect_serial_socket()

    def _spawn(self, args, stdin_pipe):
        """Runs vmm with args, reading its stdout and stderr; stdin_pipe: on
        a terminal whose other end is self.stdin_master."""
        self.command = args
        stdin = subprocess.DEVNULL
        if stdin_pipe:
            # A terminal, as a user's: vmm reads stdin in tty mode only when
            # it is one (and makes it raw).
            self.stdin_master, slave = os.openpty()
            stdin = slave
        self.proc = subprocess.Popen(args, stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     start_new_session=True)
        if stdin_pipe:
            os.close(slave)
        self.stdout_reader = Reader(self.proc.stdout.fileno(), "stdout")
        self.stderr_reader = Reader(self.proc.stderr.fileno(), "stderr")
        self.stdout_reader.start()
        self.stderr_reader.start()

    def remaining(self):
        return max(0.0, self.deadline - time.monotonic())

    def _check_alive(self, what):
        if self.proc.poll() is not None:
            self.rc = self.proc.returncode
            raise Failure(f"vmm exited with {self.rc} while waiting for {what}")
        if self.remaining() <= 0:
            raise Failure(f"timeout waiting for {what}")

    def _open_pty(self):
        path = None
        while path is None:
            m = re.search(r"serial pty: (/dev/pts/\d+)", self.stderr_reader.text())
            if m:
                path = m.group(1)
                break
            self._check_alive("the serial pty path on stderr")
            time.sleep(0.02)
        self.serial_path = path
        self.serial_fd = os.open(path, os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)
        # Our end raw as well: no echo of guest output back into the guest,
        # no newline translation of what we send.
        tty.setraw(self.serial_fd, termios.TCSANOW)
        self.serial_reader = Reader(self.serial_fd, "pty")
        self.serial_reader.start()

    def _connect_serial_socket(self):
        while True:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
            try:
                s.connect(self.serial_path)
                break
            except OSError:
                s.close()
                self._check_alive("the serial socket")
                time.sleep(0.02)
        self.serial_sock = s
        self.serial_reader = Reader(s.fileno(), "serial-socket")
        self.serial_reader.start()

    def wait_exit(self, what="vmm to exit"):
        try:
            self.rc = self.proc.wait(timeout=self.remaining())
        except subprocess.TimeoutExpired:
            raise Failure(f"timeout waiting for {what}")
        return self.rc

    def stop(self):
        """Kills what is left and closes everything (idempotent)."""
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        for r in (self.stdout_reader, self.stderr_reader, self.serial_reader):
            if r:
                r.stop()
        for fd in (self.serial_fd, self.stdin_master):
            if fd is not None:
                os.close(fd)
        self.serial_fd = self.stdin_master = None
        for s in (self.serial_sock, self.api_sock):
            if s:
                s.close()
        self.serial_sock = self.api_sock = None
        if self.proc:
            for f in (self.proc.stdout, self.proc.stderr):
                if f:
                    f.close()

    # -- serial

    def serial(self):
        if self.serial_mode == "file":
            try:
                with open(self.serial_path, "rb") as f:
                    raw = f.read()
            except FileNotFoundError:
                return ""
            return raw.decode("utf-8", "replace").replace("\r", "")
        return self.serial_reader.text().replace("\r", "") if self.serial_reader else ""

    def lines(self):
        return self.serial().split("\n")

    def wait_for(self, regex, what=None, count=1):
        """Waits until `count` serial lines match regex; returns the last match."""
        rx = re.compile(regex)
        while True:
            matches = [m for m in (rx.fullmatch(l) for l in self.lines()) if m]
            if len(matches) >= count:
                return matches[count - 1]
            self._check_alive(what or f"serial line /{regex}/")
            time.sleep(0.01)

    def send_serial(self, text):
        data = text.encode()
        if self.serial_mode == "tty":
            if self.stdin_master is None:
                raise Failure("tty input needs start(stdin_pipe=True)")
            os.write(self.stdin_master, data)
        elif self.serial_mode == "pty":
            os.write(self.serial_fd, data)
        elif self.serial_mode == "socket":
            self.serial_sock.sendall(data)
        else:
            raise Failure(f"serial mode {self.serial_mode} has no input")

    # -- API

    def api(self, action, args=None):
        """Sends one request; returns its result or raises Failure on an error reply."""
        if self.api_sock is None:
            while True:
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
                try:
                    s.connect(self.api_path)
                    break
                except OSError:
                    s.close()
                    self._check_alive("the API socket")
                    time.sleep(0.02)
            self.api_sock = s
        self.api_id += 1
        req = {"id": self.api_id, "action": action}
        if args is not None:
            req["args"] = args
        self.api_sock.sendall(json.dumps(req).encode() + b"\n")
        while True:
            while b"\n" in self.api_buf:
                line, self.api_buf = self.api_buf.split(b"\n", 1)
                if not line.strip():
                    continue
                reply = json.loads(line)
                if reply.get("id") != self.api_id:
                    continue  # a pushed event or an older reply
                if "error" in reply:
                    raise Failure(f"API {action}: {reply['error']}")
                return reply.get("result")
            r, _, _ = select.select([self.api_sock], [], [], min(0.1, self.remaining()))
            if r:
                chunk = self.api_sock.recv(65536)
                if not chunk:
                    raise Failure(f"API {action}: the VMM closed the connection without a reply")
                self.api_buf += chunk
            else:
                self._check_alive(f"the reply to {action}")

    # -- events

    def events(self):
        out = []
        try:
            with open(self.events_path) as f:
                for line in f:
                    line = line.strip()
                    if line:
                        rec = json.loads(line)
                        out.append((rec.get("source"), rec.get("event"), rec.get("properties")))
        except FileNotFoundError:
            pass
        return out

    def report(self):
        print(f"--- command: {' '.join(self.command)}")
        print(f"--- exit code: {self.rc if self.rc is not None else self.proc.poll()}")
        print("--- serial:")
        print(self.serial().rstrip())
        if self.serial_mode != "tty":
            print("--- stdout:")
            print(self.stdout_reader.text().rstrip())
        print("--- stderr:")
        print(self.stderr_reader.text().rstrip())
        print("--- events:")
        for src, ev, props in self.events():
            print(f"{src}/{ev}" + (f" {json.dumps(props)}" if props else ""))


# ---------------------------------------------------------------- checks

def expect_api_error(vm, action, args, code):
    """The request must fail with this error code (and not take the VMM down)."""
    try:
        vm.api(action, args)
    except Failure as e:
        if f"'code': '{code}'" not in str(e):
            raise Failure(f"{action} {args}: wanted {code}, got {e}")
        return
    raise Failure(f"{action} {args} succeeded; wanted {code}")


def expect_pass(vm, test):
    lines = vm.lines()
    fails = [l for l in lines if l.startswith("FAIL ")]
    if fails:
        raise Failure("the guest reported: " + "; ".join(fails))
    if f"PASS {test}" not in lines:
        raise Failure(f"no 'PASS {test}' line from the guest")


def expect_clean_exit(vm):
    rc = vm.wait_exit()
    if rc != 0:
        raise Failure(f"vmm exited with {rc}, expected 0 after the guest powered off")


def expect_events(vm, *wanted):
    got = [f"{s}/{e}" for s, e, _ in vm.events()]
    missing = [w for w in wanted if w not in got]
    if missing:
        raise Failure(f"events missing: {', '.join(missing)} (got: {', '.join(got) or 'none'})")
    return got


def expect_boot_lines(vm, entry, test, count=1):
    boots = [l for l in vm.lines() if l.startswith("BOOT ")]
    if len(boots) != count:
        raise Failure(f"{len(boots)} BOOT lines, expected {count}")
    for b in boots:
        if b != f"BOOT {entry} {test}":
            raise Failure(f"'{b}', expected 'BOOT {entry} {test}'")


# ----------------------------------------------------------------- cases

def case_boot(vm, opts, flavour):
    kernel, entry, ram, cpus, maxcpus, initrd_size = {
        "elf": (opts.elf, "linux64", "64M", 1, 1, 65536),
        "pvh": (opts.pvh, "pvh", "128M", 2, 2, 65560),
        "bzimage": (opts.bzimage, "linux64", "96M", 1, 2, 12345),
    }[flavour]
    initrd = os.path.join(vm.work, "initramfs.bin")
    with open(initrd, "wb") as f:
        f.write(pattern_bytes(initrd_size))
    # A long line with odd characters: it must arrive byte for byte.
    pad = "".join(chr(ord("A") + i % 26) for i in range(600))
    cmdline = (f"test=boot ram={ram} cpus={cpus} maxcpus={maxcpus} initrd={initrd_size} entry={entry} "
               f"quote=\"a,b\" pad={pad}")
    cpu_opt = f"boot={cpus}" + (f",max={maxcpus}" if maxcpus != cpus else "")
    vm.start(kernel, cmdline, memory=ram, cpus=cpu_opt, initramfs=initrd)
    expect_clean_exit(vm)
    expect_boot_lines(vm, entry, "boot")
    got = [l[len("CMDLINE "):] for l in vm.lines() if l.startswith("CMDLINE ")]
    if got != [cmdline]:
        raise Failure(f"the guest's command line differs from --cmdline: {got[:1]!r}")
    expect_pass(vm, "boot")
    expect_events(vm, "vm/booted", "vm/shutdown")


def case_smbios(vm, opts):
    """--platform serial_number, uuid and oem_strings reach the guest as SMBIOS
    3.0 tables it finds where Linux looks (0xf0000-0xfffff); a UUID that is
    not one stops the VMM before the guest runs."""
    uuid = "1e8aa28a-435d-4027-87f4-40dceff1fa0a"
    vm.start(opts.elf, "test=smbios", extra=["--platform", f"serial_number=SN-4711,uuid={uuid},oem_strings=[one,two]"])
    expect_clean_exit(vm)
    expect_pass(vm, "smbios")
    # SMBIOS 2.6+ stores the UUID's first three fields little-endian.
    raw = bytes.fromhex(uuid.replace("-", ""))
    stored = (raw[3::-1] + raw[5:3:-1] + raw[7:5:-1] + raw[8:]).hex()
    want = ["INFO smbios system vendor=vmm product=vmm serial=SN-4711 uuid=" + stored,
            "INFO smbios oem 1=one", "INFO smbios oem 2=two"]
    got = [l for l in vm.lines() if l.startswith("INFO smbios ") and "entry point" not in l]
    if got != want:
        raise Failure(f"the guest read {got}, wanted {want}")
    p = subprocess.run([opts.vmm, "--kernel", opts.elf, "--platform", "uuid=1-2-3"], stdin=subprocess.DEVNULL,
                       capture_output=True, text=True, timeout=20)
    if p.returncode == 0 or "uuid=1-2-3 is not a UUID" not in p.stderr:
        raise Failure(f"--platform uuid=1-2-3: exit {p.returncode}, stderr {p.stderr.strip()!r}")


def case_serial(vm, opts, mode, want_input):
    cmdline = f"test=serial input={1 if want_input else 0}"
    vm.start(opts.elf, cmdline, serial=mode, stdin_pipe=(mode == "tty" and want_input))
    if want_input:
        vm.wait_for(r"READY serial", "the guest to wait for input")
        line = f"hello from the host over {mode} 0123456789"
        vm.send_serial(line + "\n")
        vm.wait_for(r"ECHO .*", "the guest's echo")
    expect_clean_exit(vm)
    lines = vm.lines()
    for want in SERIAL_OUT:
        if want not in lines:
            head = want[:20]
            seen = next((l for l in lines if l.startswith(head[:6])), None)
            raise Failure(f"serial line {head}... missing or altered (got {seen!r:.80})")
    if want_input:
        echoes = [l for l in lines if l.startswith("ECHO ")]
        if echoes != [f"ECHO {line}"]:
            raise Failure(f"the guest echoed {echoes!r}, expected ['ECHO {line}']")
    expect_pass(vm, "serial")
    expect_events(vm, "vm/shutdown")


def tick_lines(vm):
    return tick_lines_of(vm.serial())


def tick_lines_of(text):
    return [l for l in text.split("\n") if re.fullmatch(r"TICK \d+ \d+", l)]


def case_pause_resume(vm, opts):
    vm.start(opts.elf, "test=pause ticks=100 period_ms=20", timeout=60)
    vm.wait_for(r"TICK 10 \d+", "10 timer ticks")
    vm.api("vm.pause")
    time.sleep(0.3)  # output already queued in the VMM drains
    before = len(tick_lines(vm))
    info = vm.api("vm.info")
    if not isinstance(info, dict) or info.get("state") != "Paused":
        raise Failure(f"vm.info after vm.pause: state {info.get('state') if isinstance(info, dict) else info!r}")
    time.sleep(1.0)
    after = len(tick_lines(vm))
    if after != before:
        raise Failure(f"{after - before} TICK lines arrived during the 1 s pause")
    if before >= 100:
        raise Failure("the guest finished before it could be paused")
    vm.api("vm.resume")
    vm.wait_for(r"TICK \d+ \d+", "ticks after vm.resume", count=before + 3)
    expect_clean_exit(vm)
    ticks = [int(l.split()[1]) for l in tick_lines(vm)]
    if ticks != list(range(1, len(ticks) + 1)) or len(ticks) < 100:
        raise Failure(f"TICK lines not 1..100 in order: {ticks[:5]}...{ticks[-5:]}")
    expect_pass(vm, "pause")
    got = expect_events(vm, "vm/pausing", "vm/paused", "vm/resuming", "vm/resumed", "vm/shutdown")
    if got.index("vm/paused") > got.index("vm/resumed"):
        raise Failure("vm/resumed came before vm/paused")


# ------------------------------------------------------ snapshot/restore

class RestoredVmm(Vmm):
    """A `vmm --restore` process; the snapshots here are of --serial tty VMs,
    so the restored guest's serial output is on its stdout."""

    def start_restore(self, source, prefault=False, timeout=30, stdin_pipe=False):
        self.serial_mode = "tty"
        self.deadline = time.monotonic() + timeout
        url = f"source_url=file://{source}" + (",prefault=on" if prefault else "")
        self._spawn([self.opts.vmm, "--restore", url, "--event-monitor", f"path={self.events_path}",
                     "--api-socket", f"path={self.api_path}"], stdin_pipe)
        self.serial_reader = self.stdout_reader


def wait_events(vm, *wanted, timeout=5.0):
    """expect_events, allowing the monitor's writer thread time to catch up."""
    end = time.monotonic() + timeout
    while True:
        try:
            return expect_events(vm, *wanted)
        except Failure:
            if time.monotonic() > end:
                raise
            time.sleep(0.05)


def take_snapshot(vm, opts, ticks, at_tick, disk=None, memory="64M", cpus="boot=1"):
    """Boots test=snapshot (with a virtio-blk disk when given), pauses it at
    TICK at_tick, snapshots it into <work>/snap and kills the VMM; returns
    (snapshot dir, serial output seen)."""
    extra = ["--disk", f"path={disk}"] if disk else []
    snap = os.path.join(vm.work, "snap")
    os.mkdir(snap)
    if opts.landlock:
        # A snapshot's destination is named only at run time: under Landlock it needs a rule from the
        # start (the restored VMM keeps it: it is in the snapshot's configuration).
        extra += ["--landlock-rules", f"path={snap},access=rw"]
    vm.start(opts.elf, f"test=snapshot ticks={ticks} period_ms=20 blk={1 if disk else 0}", timeout=60, extra=extra,
             memory=memory, cpus=cpus)
    vm.wait_for(rf"TICK {at_tick} \d+", f"{at_tick} timer ticks")
    try:
        vm.api("vm.snapshot", {"destination_url": f"file://{snap}"})
        raise Failure("vm.snapshot of a running VM succeeded; it must be paused first")
    except Failure as e:
        if "InvalidState" not in str(e):
            raise
    vm.api("vm.pause")
    for bad in ({"destination_url": snap}, {"destination_url": "file://" + os.path.join(snap, "missing")}, {}):
        try:
            vm.api("vm.snapshot", bad)
            raise Failure(f"vm.snapshot with {bad} succeeded")
        except Failure as e:
            if "InvalidArgs" not in str(e) and "Failed" not in str(e):
                raise
    if opts.landlock:
        outside = os.path.join(vm.work, "outside")
        os.mkdir(outside)
        try:
            vm.api("vm.snapshot", {"destination_url": f"file://{outside}"})
            raise Failure("--landlock let vm.snapshot write a directory no rule names")
        except Failure as e:
            if "Permission denied" not in str(e):
                raise
        if os.listdir(outside):
            raise Failure(f"the refused snapshot left {os.listdir(outside)}")
    vm.api("vm.snapshot", {"destination_url": f"file://{snap}"})
    got = wait_events(vm, "vm/paused", "vm/snapshotting", "vm/snapshotted")
    if got.index("vm/snapshotting") > got.index("vm/snapshotted"):
        raise Failure("vm/snapshotted came before vm/snapshotting")
    for name in ("config.json", "state.bin", "memory"):
        if not os.path.isfile(os.path.join(snap, name)):
            raise Failure(f"the snapshot has no {name}")
    if os.path.getsize(os.path.join(snap, "memory")) != 64 << 20:
        raise Failure("the memory file is not the guest's 64 MiB")
    time.sleep(0.2)  # serial output queued before the pause drains
    before = vm.serial()
    vm.stop()
    return snap, before


def run_restored(vm, work_name, body):
    """Runs body(restored) with a RestoredVmm in its own work directory and
    reports its logs when body fails."""
    work = os.path.join(vm.work, work_name)
    os.mkdir(work)
    restored = RestoredVmm(vm.opts, work, vm.case)
    try:
        body(restored)
    except Failure:
        restored.stop()
        print("=== the restored VMM:")
        restored.report()
        raise
    finally:
        restored.stop()


def check_ticks_go_on(vm, before, ticks):
    """The restored guest's TICK lines continue those before the snapshot up
    to the last, with the CPL3 counter never going back. `before` is the
    serial output of the snapshotted process: the pause may fall in the
    middle of a line, which the restored guest then finishes, so the two
    outputs are read as one stream."""
    n_before = len(tick_lines_of(before))
    if not n_before:
        raise Failure("no TICK line before the snapshot")
    if not tick_lines(vm):
        raise Failure("no TICK line from the restored guest")
    seen = [tuple(int(x) for x in l.split()[1:]) for l in tick_lines_of(before + vm.serial())]
    last_tick, last_count = seen[n_before - 1]
    after = seen[n_before:]
    if not after or [t for t, _ in after] != list(range(last_tick + 1, ticks + 1)):
        got = f"{after[0][0]}..{after[-1][0]}" if after else "none"
        raise Failure(f"the restored guest's ticks are {got}, "
                      f"expected {last_tick + 1}..{ticks} (it must go on from the snapshot, not start over)")
    if after[0][1] < last_count:
        raise Failure(f"the CPL3 counter restarted: {after[0][1]} after restore, {last_count} before")
    if any(l.startswith("BOOT ") for l in vm.lines()):
        raise Failure("the restored guest booted again")
    expect_pass(vm, "snapshot")


def case_snapshot_again(vm, opts, memory):
    """Two vCPUs; the restored VM snapshots again into the directory it was
    restored from (whose memory file its RAM may be mapping), and a third
    process restores that second snapshot. shared=on memory is restored by
    copying, private memory by mapping the file."""
    ticks = 150
    snap, before = take_snapshot(vm, opts, ticks, 15, memory=memory, cpus="boot=2")
    again = []

    def second(restored):
        restored.start_restore(snap, timeout=60)
        restored.api("vm.resume")
        restored.wait_for(r"TICK 60 \d+", "tick 60 after the restore")
        restored.api("vm.pause")
        restored.api("vm.snapshot", {"destination_url": f"file://{snap}"})
        time.sleep(0.2)
        again.append(restored.serial())
        restored.api("vm.resume")
        expect_clean_exit(restored)
        check_ticks_go_on(restored, before, ticks)

    def third(restored):
        restored.start_restore(snap, timeout=60)
        restored.api("vm.resume")
        expect_clean_exit(restored)
        check_ticks_go_on(restored, again[0], ticks)

    run_restored(vm, "restored", second)
    run_restored(vm, "restored-again", third)


def case_snapshot_restore(vm, opts):
    ticks = 150
    disk = os.path.join(vm.work, "disk.img")
    make_image(disk, 1 << 20)
    snap, before = take_snapshot(vm, opts, ticks, 15, disk)
    if int(tick_lines_of(before)[-1].split()[1]) >= ticks:
        raise Failure("the guest finished before it could be snapshotted")

    def body(restored):
        restored.start_restore(snap, prefault=True, timeout=60)
        info = restored.api("vm.info")
        if info.get("state") != "Paused":
            raise Failure(f"the restored VM is {info.get('state')}, expected Paused until vm.resume")
        time.sleep(0.3)
        if tick_lines(restored):
            raise Failure("the restored guest ran before vm.resume")
        restored.api("vm.resume")
        expect_clean_exit(restored)
        check_ticks_go_on(restored, before, ticks)
        # The restored guest's last write, as the disk holds it (64 sectors in turn).
        with open(disk, "rb") as f:
            f.seek((ticks % 64) * 512)
            if f.read(512) != seeded_pattern(512, ticks):
                raise Failure(f"the disk's sector {ticks % 64} does not hold tick {ticks}'s pattern")
        got = expect_events(restored, "vm/restoring", "vm/restored", "vm/resuming", "vm/resumed", "vm/shutdown")
        if "vm/booting" in got or got.index("vm/restored") > got.index("vm/resumed"):
            raise Failure(f"restore events out of order: {got}")

    run_restored(vm, "restored", body)


def case_snapshot_damaged(vm, opts):
    snap, _ = take_snapshot(vm, opts, 100000, 3)

    def variant(name, damage):
        d = os.path.join(vm.work, name)
        shutil.copytree(snap, d)
        damage(d)
        return d

    def truncate_memory(d):
        os.truncate(os.path.join(d, "memory"), (64 << 20) - 4096)

    def flip_state_byte(d):
        p = os.path.join(d, "state.bin")
        data = bytearray(open(p, "rb").read())
        data[len(data) // 2] ^= 0x01
        open(p, "wb").write(bytes(data))

    def wrong_version(d):
        p = os.path.join(d, "state.bin")
        data = bytearray(open(p, "rb").read())
        struct.pack_into("<I", data, 8, 2)
        open(p, "wb").write(bytes(data))

    def other_config(d):
        # A configuration that is valid but not the one the state was taken with.
        p = os.path.join(d, "config.json")
        cfg = json.load(open(p))
        cfg["memory"]["size"] = 128 << 20
        open(p, "w").write(json.dumps(cfg))

    def other_memory(d):
        os.truncate(os.path.join(d, "memory"), 128 << 20)

    def no_state(d):
        os.unlink(os.path.join(d, "state.bin"))

    cases = [
        ("truncated-memory", truncate_memory, "truncated"),
        ("flipped-state", flip_state_byte, "checksum mismatch"),
        ("wrong-version", wrong_version, "format version 2"),
        ("other-config", other_config, "is not the configuration"),
        ("other-memory", other_memory, "the snapshot's RAM is 67108864"),
        ("no-state", no_state, "state.bin"),
    ]
    for name, damage, why in cases:
        d = variant(name, damage)
        p = subprocess.run([opts.vmm, "--restore", f"source_url=file://{d}"], stdin=subprocess.DEVNULL,
                           capture_output=True, text=True, timeout=20)
        if p.returncode == 0 or why not in p.stderr or "cannot restore" not in p.stderr:
            raise Failure(f"restore of the {name} snapshot: exit {p.returncode}, stderr {p.stderr.strip()!r}; "
                          f"expected a non-zero exit and an error naming '{why}'")

    # The same snapshot undamaged restores: the refusals above are the damage's.
    def body(restored):
        restored.start_restore(variant("intact", lambda d: None))
        info = restored.api("vm.info")
        if info.get("state") != "Paused":
            raise Failure(f"the intact copy restored as {info.get('state')}, expected Paused")
        restored.api("vm.resume")
        restored.wait_for(r"TICK \d+ \d+", "a tick from the intact copy")

    run_restored(vm, "restored", body)


def case_usermode(vm, opts):
    vm.start(opts.elf, "test=usermode")
    expect_clean_exit(vm)
    expect_pass(vm, "usermode")


def case_power_button(vm, opts):
    vm.start(opts.pvh, "test=powerbtn", timeout=30)
    vm.wait_for(r"READY powerbtn", "the guest to arm the power button")
    vm.api("vm.power-button")
    expect_clean_exit(vm)
    if "INFO power button pressed" not in vm.lines():
        raise Failure("the guest never saw PWRBTN_STS")
    expect_pass(vm, "powerbtn")
    expect_events(vm, "vm/shutdown")


def case_cpu_resize(vm, opts):
    """vm.resize desired_vcpus: new vCPUs up to --cpus max, running or paused,
    never more than max; counters, configuration, vm.info and vm/resized
    follow. Fewer is only asked of the guest: this one never ejects, so the
    count stays until a resize up calls the removal off. (Linux bringing one
    online and taking one away: the linux_hotplug case.)"""
    vm.start(opts.pvh, "test=powerbtn", cpus="boot=1,max=3", timeout=30)
    vm.wait_for(r"READY powerbtn", "the guest to arm the power button")
    for args, code in (({"desired_vcpus": 0}, "InvalidArgs"), ({"desired_vcpus": 4}, "InvalidArgs"),
                       ({"desired_vcpus": -1}, "InvalidArgs"), ({"desired_vcpus": "2"}, "InvalidArgs"),
                       ({"desired_vcpus": 2, "bogus": 1}, "InvalidArgs"),
                       ({"desired_vcpus": 2, "desired_balloon": 1 << 20}, "NotSupported")):  # no balloon
        expect_api_error(vm, "vm.resize", args, code)
    if [k for k in vm.api("vm.counters") if k.startswith("vcpu")] != ["vcpu0"]:
        raise Failure("a refused vm.resize added a vCPU")
    vm.api("vm.resize", {"desired_vcpus": 2})
    vm.api("vm.resize", {"desired_vcpus": 1})  # asked; this guest never ejects
    if vm.api("vm.info")["vcpus"] != 2:
        raise Failure("vm.resize to 1 took a vCPU the guest did not eject")
    vm.api("vm.pause")
    vm.api("vm.resize", {"desired_vcpus": 3})
    vm.api("vm.resume")
    vm.api("vm.resize", {"desired_vcpus": 3})  # already there: nothing to do
    c = vm.api("vm.counters")
    info = vm.api("vm.info")
    print(f"INFO cpu_hotplug counters: {json.dumps(c.get('cpu_hotplug'))}")
    if [k for k in c if k.startswith("vcpu")] != ["vcpu0", "vcpu1", "vcpu2"] \
            or c.get("cpu_hotplug") != {"plugs": 2, "unplug_requests": 1, "ejects": 0, "bad_accesses": 0} \
            or info["config"]["cpus"]["boot_vcpus"] != 3 or info["config"]["cpus"]["max_vcpus"] != 3:
        raise Failure(f"after vm.resize to 3: counters {c}, cpus {info['config']['cpus']}")
    vm.api("vm.power-button")
    expect_clean_exit(vm)
    expect_pass(vm, "powerbtn")
    resized = [p for s, e, p in vm.events() if s == "vm" and e == "resized"]
    if resized != [{"vcpus": "2"}, {"vcpus": "3"}]:
        raise Failure(f"vm/resized events {resized}, wanted vcpus 2 then 3")


def case_cpu_unplug(vm, opts):
    """vm.resize to fewer vCPUs: the guest is asked (CRM), ejects them (CEJ,
    as its processors' _EJ0 would), their threads park for good and the count,
    configuration, counters and vm/resized follow; a snapshot waits for the
    ejects; a resize up brings an ejected vCPU back."""
    vm.start(opts.elf, "test=cpuhp", cpus="boot=1,max=3", timeout=60)
    vm.wait_for(r"READY cpuhp-add", "the guest to look for new vCPUs")
    vm.api("vm.resize", {"desired_vcpus": 3})
    vm.wait_for(r"READY cpuhp-remove", "the guest to see vCPUs 1 and 2")
    vm.api("vm.pause")
    vm.api("vm.resize", {"desired_vcpus": 1})
    if vm.api("vm.info")["vcpus"] != 3:
        raise Failure("vm.resize to 1 took vCPUs away before the guest ejected them")
    expect_api_error(vm, "vm.snapshot", {"destination_url": f"file://{vm.work}"}, "InvalidState")
    vm.api("vm.resume")
    vm.wait_for(r"READY cpuhp-readd", "the guest to eject vCPUs 1 and 2")
    deadline = time.monotonic() + 10
    while vm.api("vm.info")["vcpus"] != 1:
        if time.monotonic() > deadline:
            raise Failure(f"vm.info vcpus {vm.api('vm.info')['vcpus']} 10 s after the ejects, wanted 1")
        time.sleep(0.05)
    c = vm.api("vm.counters")
    info = vm.api("vm.info")
    print(f"INFO cpu_hotplug counters: {json.dumps(c.get('cpu_hotplug'))}")
    if [k for k in c if k.startswith("vcpu")] != ["vcpu0"] \
            or c.get("cpu_hotplug") != {"plugs": 2, "unplug_requests": 2, "ejects": 2, "bad_accesses": 1} \
            or info["config"]["cpus"]["boot_vcpus"] != 1:
        raise Failure(f"after the ejects: counters {c}, cpus {info['config']['cpus']}")
    # Paused with two parked for good: pause and resume wait for every thread.
    vm.api("vm.pause")
    vm.api("vm.resume")
    vm.api("vm.resize", {"desired_vcpus": 2})
    vm.wait_for(r"INFO cpuhp done", "the guest to see vCPU 1 again")
    expect_clean_exit(vm)
    expect_pass(vm, "cpuhp")
    # The two ejects may be taken one at a time: 3, (2,) 1, then 2 again.
    resized = [p.get("vcpus") for s, e, p in vm.events() if s == "vm" and e == "resized"]
    if resized not in (["3", "1", "2"], ["3", "2", "1", "2"]):
        raise Failure(f"vm/resized events with vcpus {resized}, wanted 3, (2,) 1, 2")


def case_snapshot_cpu_hotplug(vm, opts):
    """vCPUs added while paused, snapshotted before the guest looked: the
    restored VM has them, and the guest still finds them announced (CIN) and
    present; then removes and re-adds them in the restored process."""
    snap = os.path.join(vm.work, "snap")
    os.mkdir(snap)
    extra = ["--landlock-rules", f"path={snap},access=rw"] if opts.landlock else []
    vm.start(opts.elf, "test=cpuhp", cpus="boot=1,max=3", timeout=60, extra=extra)
    vm.wait_for(r"READY cpuhp-add", "the guest to look for new vCPUs")
    vm.api("vm.pause")
    vm.api("vm.resize", {"desired_vcpus": 3})
    vm.api("vm.snapshot", {"destination_url": f"file://{snap}"})
    vm.stop()
    if json.load(open(os.path.join(snap, "config.json")))["cpus"]["boot_vcpus"] != 3:
        raise Failure("the snapshot's configuration does not have the added vCPUs")

    def body(restored):
        restored.start_restore(snap, timeout=60)
        if [k for k in restored.api("vm.counters") if k.startswith("vcpu")] != ["vcpu0", "vcpu1", "vcpu2"]:
            raise Failure("the restored VM lacks the vCPUs added before the snapshot")
        restored.api("vm.resume")
        restored.wait_for(r"READY cpuhp-remove", "the restored guest to find vCPUs 1 and 2 announced")
        restored.api("vm.resize", {"desired_vcpus": 1})
        restored.wait_for(r"READY cpuhp-readd", "the restored guest to eject them")
        restored.api("vm.resize", {"desired_vcpus": 2})
        restored.wait_for(r"INFO cpuhp done", "the restored guest to see vCPU 1 again")
        expect_clean_exit(restored)
        expect_pass(restored, "cpuhp")

    run_restored(vm, "restored", body)


def case_memory_hotplug(vm, opts):
    """vm.resize desired_ram with --memory hotplug_method=acpi: two 128 MiB
    slots plugged, announced (MIN) and present (MPR) for the guest, which
    writes a pattern over them at 4 GiB; sizes it cannot plug are refused; the
    configuration, vm.info and vm/resized follow; a snapshot carries the
    plugged memory, and the guest reads its pattern back in the restored
    vmm."""
    snap = os.path.join(vm.work, "snap")
    os.mkdir(snap)
    extra = ["--landlock-rules", f"path={snap},access=rw"] if opts.landlock else []
    vm.start(opts.elf, "test=memhp", memory="64M,hotplug_method=acpi,hotplug_size=512M", timeout=60, extra=extra)
    vm.wait_for(r"READY memhp-add", "the guest to look for new memory")
    for args, code in (({"desired_ram": (64 + 100) << 20}, "InvalidArgs"),  # not whole slots
                       ({"desired_ram": (64 + 640) << 20}, "InvalidArgs"),  # past hotplug_size
                       ({"desired_ram": 32 << 20}, "NotSupported"),  # never unplugged
                       ({"desired_ram": "1G"}, "InvalidArgs")):
        expect_api_error(vm, "vm.resize", args, code)
    vm.api("vm.resize", {"desired_ram": (64 + 256) << 20})
    info = vm.api("vm.info")
    if info["memory_actual_size"] != (64 + 256) << 20 or info["config"]["memory"].get("hotplugged_size") != 256 << 20:
        raise Failure(f"after vm.resize: memory_actual_size {info['memory_actual_size']}, "
                      f"memory {info['config']['memory']}")
    c = vm.api("vm.counters").get("mem_hotplug")
    if c != {"plugs": 2, "bad_accesses": 1}:
        raise Failure(f"mem_hotplug counters {c}")
    vm.wait_for(r"READY memhp-snapshot", "the guest to write over the new memory")
    vm.api("vm.pause")
    vm.api("vm.snapshot", {"destination_url": f"file://{snap}"})
    resized = [p for s, e, p in vm.events() if s == "vm" and e == "resized"]
    vm.stop()
    if resized != [{"memory": str((64 + 256) << 20)}]:
        raise Failure(f"vm/resized events {resized}")
    if os.path.getsize(os.path.join(snap, "memory")) != (64 + 256) << 20:
        raise Failure("the snapshot's memory file is not the guest's 320 MiB")

    def body(restored):
        restored.start_restore(snap, stdin_pipe=True, timeout=60)
        if restored.api("vm.info")["memory_actual_size"] != (64 + 256) << 20:
            raise Failure("the restored VM lacks the plugged memory")
        restored.api("vm.resume")
        restored.send_serial("\n")
        restored.wait_for(r"INFO memhp done", "the restored guest to read its pattern back")
        expect_clean_exit(restored)
        expect_pass(restored, "memhp")

    run_restored(vm, "restored", body)


def case_reboot(vm, opts, method):
    vm.start(opts.elf, f"test=reset method={method}", timeout=30)
    # A VMM that loses CMOS RAM across the reset would loop: stop at a third boot.
    while True:
        boots = [l for l in vm.lines() if l.startswith("BOOT ")]
        if len(boots) > 2:
            raise Failure("a third boot: the CMOS marker did not survive the reset")
        if vm.proc.poll() is not None:
            break
        if vm.remaining() <= 0:
            raise Failure("timeout waiting for the reset and the second boot")
        time.sleep(0.02)
    expect_clean_exit(vm)
    expect_boot_lines(vm, "linux64", "reset", count=2)
    if f"RESETTING {method}" not in vm.lines():
        raise Failure(f"no 'RESETTING {method}' line from the first boot")
    expect_pass(vm, "reset")
    got = expect_events(vm, "vm/rebooting", "vm/rebooted", "vm/shutdown")
    if got.index("vm/rebooting") > got.index("vm/rebooted"):
        raise Failure("vm/rebooted came before vm/rebooting")


def case_landlock(vm, opts):
    """--landlock in the real VMM: the kernel it was started with stays
    readable for a reboot, but a file put at that path afterwards (another
    inode, which no rule names) is refused, and the VMM says so."""
    kernel = os.path.join(vm.work, "kernel.elf")
    shutil.copyfile(opts.pvh, kernel)
    share = os.path.join(vm.work, "share")
    os.mkdir(share)
    extra = ["--landlock-rules", f"path={share},access=r"]
    if not opts.landlock:
        extra.append("--landlock")
    vm.start(kernel, "test=powerbtn", extra=extra, timeout=30)
    vm.wait_for(r"READY powerbtn", "the guest to arm the power button")
    vm.api("vm.reboot")
    vm.wait_for(r"READY powerbtn", "the guest to boot again", count=2)
    shutil.copyfile(opts.pvh, kernel + ".new")
    os.rename(kernel + ".new", kernel)
    vm.api("vm.reboot")
    rc = vm.wait_exit("vmm to fail the reboot")
    if rc == 0:
        raise Failure("vmm rebooted from a kernel file no Landlock rule names")
    err = vm.stderr_reader.text()
    if "Permission denied" not in err:
        raise Failure(f"vmm failed without a Landlock denial on stderr: {err.strip()[-300:]!r}")
    reasons = [p.get("reason") for s, e, p in vm.events() if (s, e) == ("vm", "crashed") and p]
    if reasons != ["reboot failed"]:
        raise Failure(f"vm/crashed reasons {reasons}, expected ['reboot failed']")
    expect_events(vm, "vm/rebooted", "vm/crashed", "vm/shutdown")


def case_triple_fault(vm, opts):
    vm.start(opts.elf, "test=triplefault")
    vm.wait_exit()
    if vm.rc == 0:
        raise Failure("vmm exited 0 after a triple fault")
    if "INFO loading an empty IDT and raising #UD" not in vm.lines():
        raise Failure("the guest did not get to the fault")
    if any(l.startswith("PASS ") for l in vm.lines()):
        raise Failure("the guest went on after the triple fault")
    if not vm.stderr_reader.text().strip():
        raise Failure("vmm exited non-zero without saying why on stderr")
    crashed = [p for s, e, p in vm.events() if (s, e) == ("vm", "crashed")]
    if not crashed:
        expect_events(vm, "vm/crashed")
    if not isinstance(crashed[0], dict) or not crashed[0].get("reason"):
        raise Failure(f"vm/crashed has no reason: {crashed[0]!r}")


def case_debug_console(vm, opts):
    path = os.path.join(vm.work, "debugcon.log")
    vm.start(opts.elf, "test=debugcon dbgport=0xe9", extra=["--debug-console", f"file={path},iobase=0xe9"])
    expect_clean_exit(vm)
    expect_pass(vm, "debugcon")
    want = f"DEBUGCON hello from the guest\nDEBUGCON{PRINTABLE}\n"
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            got = f.read()
    except FileNotFoundError:
        raise Failure(f"--debug-console file {path} was not created")
    if got != want:
        raise Failure(f"debug console file holds {got!r:.200}, expected {want!r:.200}")


# ------------------------------------------------------------ PCI / virtio

IMAGE_FILL = 0xAB


def make_image(path, size):
    with open(path, "wb") as f:
        f.write(bytes([IMAGE_FILL]) * size)


def seeded_pattern(size, seed):
    mask = (1 << 64) - 1
    return b"".join(struct.pack("<Q", ((k + seed) * PATTERN_MULTIPLIER) & mask) for k in range(size // 8))


def case_pci_enum(vm, opts):
    img = os.path.join(vm.work, "disk.img")
    make_image(img, 1 << 20)
    vm.start(opts.elf, "test=pci disks=1", extra=["--disk", f"path={img}"])
    expect_clean_exit(vm)
    expect_pass(vm, "pci")


def case_virtio_blk(vm, opts, direct):
    img = os.path.join(vm.work, "disk.img")
    size = (1 << 20) + 300  # a partial last sector the guest must never see
    make_image(img, size)
    cap = size // 512
    serial = "vmm-serial-42"
    disk = f"path={img},serial={serial}" + (",direct=on" if direct else "")
    vm.start(opts.elf, f"test=blk cap={cap} serial={serial}", extra=["--disk", disk])
    expect_clean_exit(vm)
    expect_pass(vm, "blk")
    with open(img, "rb") as f:
        data = f.read()
    fill = bytes([IMAGE_FILL])
    if len(data) != size:
        raise Failure(f"the image changed size: {len(data)}, was {size}")
    if data[:4096] != seeded_pattern(4096, 1):
        raise Failure("sectors 0-7 of the image do not hold the guest's pattern")
    if data[(cap - 1) * 512:cap * 512] != seeded_pattern(512, 2):
        raise Failure("the last sector of the image does not hold the guest's pattern")
    if data[16 * 512:17 * 512] != bytes(512):
        raise Failure("sector 16 is not zero after WRITE_ZEROES")
    if data[4096:8192] != fill * 4096 or data[17 * 512:18 * 512] != fill * 512:
        raise Failure("sectors the guest never wrote changed")
    if data[cap * 512:] != fill * (size - cap * 512):
        raise Failure("the partial tail sector was touched")
    got = [(s, e, p) for s, e, p in vm.events() if s == "virtio-device"]
    if not any(e == "activated" and p == {"id": "_disk0"} for _, e, p in got):
        raise Failure(f"no virtio-device/activated for _disk0 (got {got})")
    if not any(e == "reset" and p == {"id": "_disk0"} for _, e, p in got):
        raise Failure(f"no virtio-device/reset for _disk0 (got {got})")


def case_virtio_blk_throttle(vm, opts):
    """A rate-limited disk: 4 ops up front, then one per 25 ms (ops_size=4,
    ops_refill_time=100), so 40 requests cannot finish in less than 0.9 s.
    Only a lower bound: throttling is the behaviour, a slow host is not."""
    img = os.path.join(vm.work, "disk.img")
    make_image(img, 1 << 20)
    n, size, refill_ms = 40, 4, 100
    started = time.monotonic()
    vm.start(opts.elf, f"test=blk-throttle requests={n}",
             extra=["--disk", f"path={img},ops_size={size},ops_refill_time={refill_ms}"], stdin_pipe=True,
             timeout=60)
    vm.wait_for(rf"READY blk-throttle {n}", "the throttled requests")
    took = time.monotonic() - started
    least = (n - size) * refill_ms / size / 1000
    print(f"INFO {n} requests took {took:.3f} s (at least {least:.3f} s)")
    counters = vm.api("vm.counters")
    disk = counters.get("_disk0", {}) if isinstance(counters, dict) else {}
    print(f"INFO _disk0 counters: {json.dumps(disk)}")
    vm.send_serial("\n")
    expect_clean_exit(vm)
    expect_pass(vm, "blk-throttle")
    if took < least:
        raise Failure(f"{n} requests took {took:.3f} s, the limit allows no less than {least:.3f} s")
    if disk.get("get_id_ops", 0) + disk.get("read_ops", 0) != n:
        raise Failure(f"the disk saw {disk.get('get_id_ops')} GET_IDs and {disk.get('read_ops')} reads, "
                      f"the guest sent {n}")
    if not isinstance(disk.get("throttled"), int) or disk["throttled"] < 1:
        raise Failure(f"no request was throttled: {disk.get('throttled')}")


def case_virtio_rng(vm, opts):
    vm.start(opts.elf, "test=rng")
    expect_clean_exit(vm)
    expect_pass(vm, "rng")


def case_virtio_hostile(vm, opts):
    img = os.path.join(vm.work, "disk.img")
    make_image(img, 1 << 20)
    vm.start(opts.elf, "test=hostile", extra=["--disk", f"path={img}"], stdin_pipe=True, timeout=90)
    m = vm.wait_for(r"HOSTILE broken=(\d+)", "the hostile driver to finish")
    broken = int(m.group(1))
    vm.wait_for(r"READY hostile", "the hostile driver to finish")
    counters = vm.api("vm.counters")
    disk = counters.get("_disk0", {}) if isinstance(counters, dict) else {}
    print(f"INFO _disk0 counters: {json.dumps(disk)}")
    want = {"chain_errors": broken, "needs_reset": broken, "request_errors": 1, "feature_refusals": 2,
            "bad_accesses": 1}
    low = {k: disk.get(k) for k, v in want.items() if not isinstance(disk.get(k), int) or disk[k] < v}
    if low:
        raise Failure(f"counters below what the guest provoked: {low} (wanted at least {want})")
    vm.send_serial("\n")
    expect_clean_exit(vm)
    expect_pass(vm, "hostile")


def connect_unix(vm, path, what):
    while True:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        try:
            s.connect(path)
            return s
        except OSError:
            s.close()
            vm._check_alive(what)
            time.sleep(0.02)


def wait_text(vm, reader, needle, what):
    while needle not in reader.text():
        vm._check_alive(what)
        time.sleep(0.01)


def check_console_counters(vm, sent):
    c = vm.api("vm.counters").get("_console", {})
    print(f"INFO _console counters: {json.dumps(c)}")
    if c.get("rx_bytes") != len(sent) or not c.get("tx_bytes") or c.get("request_errors", 0) < 1:
        raise Failure(f"_console counters: rx_bytes {c.get('rx_bytes')} (sent {len(sent)}), "
                      f"tx_bytes {c.get('tx_bytes')}, request_errors {c.get('request_errors')} (wanted >= 1)")


def case_virtio_console(vm, opts):
    """--console socket=: output reaches the socket, a line sent back is echoed."""
    path = os.path.join(vm.work, "console.sock")
    vm.start(opts.elf, "test=console", console=f"socket={path}")
    sock = connect_unix(vm, path, "the console socket")
    reader = Reader(sock.fileno(), "console")
    reader.start()
    try:
        wait_text(vm, reader, "CONSOLE-OUT hello from virtio-console\n", "console output on the socket")
        vm.wait_for(r"READY console", "the payload to wait for console input")
        sent = b"PING 12345 over virtio-console\n"
        sock.sendall(sent[:7])
        time.sleep(0.05)
        sock.sendall(sent[7:])
        wait_text(vm, reader, "ECHO " + sent.decode(), "the echo on the console socket")
        wait_text(vm, reader, "CONSOLE-END\n", "the last console line")
        check_console_counters(vm, sent)
        sock.sendall(b"\n")
        expect_clean_exit(vm)
        expect_pass(vm, "console")
    finally:
        reader.stop()
        sock.close()
    got = [(e, p) for s, e, p in vm.events() if s == "virtio-device"]
    for ev in ("activated", "reset"):
        if (ev, {"id": "_console"}) not in got:
            raise Failure(f"no virtio-device/{ev} for _console (got {got})")


def case_virtio_console_tty(vm, opts):
    """No --console at all: the default is a virtio-console on the terminal."""
    vm.start(opts.elf, "test=console", serial="file", console=None, stdin_pipe=True)
    out = vm.stdout_reader
    wait_text(vm, out, "CONSOLE-OUT hello from virtio-console", "console output on stdout")
    vm.wait_for(r"READY console", "the payload to wait for console input")
    sent = b"PING tty\n"
    os.write(vm.stdin_master, sent)
    wait_text(vm, out, "ECHO PING tty", "the echo on stdout")
    wait_text(vm, out, "CONSOLE-END", "the last console line")
    check_console_counters(vm, sent)
    os.write(vm.stdin_master, b"\n")
    expect_clean_exit(vm)
    expect_pass(vm, "console")


CLONE_NEWNET = 0x40000000
ETH_P_ALL = 0x0003
NET_ETHERTYPE = 0x88B5


def enter_netns(name):
    """Moves this process into network namespace `name` (sockets made later live there)."""
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(f"/var/run/netns/{name}", os.O_RDONLY | os.O_CLOEXEC)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            raise Skip(f"setns: {os.strerror(ctypes.get_errno())}")
    finally:
        os.close(fd)


def case_virtio_net(vm, opts):
    """A tap in a private network namespace: frames both ways, host settings applied."""
    if not shutil.which("ip"):
        raise Skip("no `ip` command")
    ns = f"vmm-guest-net-{os.getpid()}"
    r = subprocess.run(["ip", "netns", "add", ns], capture_output=True, text=True)
    if r.returncode != 0:
        raise Skip(f"ip netns add: {r.stderr.strip()}")
    try:
        enter_netns(ns)
        subprocess.run(["ip", "link", "set", "lo", "up"], check=False)
        tap, mac, host_mac = "vmmtap0", "52:54:00:12:34:56", "52:54:00:aa:bb:cc"
        net = f"tap={tap},mac={mac},host_mac={host_mac},ip=10.0.2.1,mask=255.255.255.0,mtu=1400"
        vm.start(opts.elf, f"test=net mac={mac} mtu=1400", extra=["--net", net], stdin_pipe=True,
                 wrap=["ip", "netns", "exec", ns])
        vm.wait_for(r"READY net-rx", "the guest to post a receive buffer")
        link = subprocess.run(["ip", "-o", "addr", "show", "dev", tap], capture_output=True, text=True).stdout
        link += subprocess.run(["ip", "-o", "link", "show", "dev", tap], capture_output=True, text=True).stdout
        for want in ("10.0.2.1/24", "mtu 1400", host_mac, "UP"):
            if want not in link:
                raise Failure(f"tap {tap} lacks {want!r}: {link}")
        sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        try:
            sock.bind((tap, 0))
            dst = bytes.fromhex(mac.replace(":", ""))
            src = bytes.fromhex(host_mac.replace(":", ""))
            frame = dst + src + struct.pack(">H", NET_ETHERTYPE) + b"VMM-NET-HOST-TO-GUEST"
            sock.send(frame.ljust(60, b"\0"))
            vm.wait_for(r"INFO net received the host frame", "the guest to receive the host's frame")
            while True:
                r, _, _ = select.select([sock], [], [], 0.1)
                if r:
                    pkt = sock.recv(65536)
                    if pkt[12:14] == struct.pack(">H", NET_ETHERTYPE) and pkt[6:12] == dst:
                        if b"VMM-NET-GUEST-TO-HOST" not in pkt:
                            raise Failure(f"guest frame mangled: {pkt[:64].hex()}")
                        break
                else:
                    vm._check_alive("the guest's frame on the tap")
        finally:
            sock.close()
        vm.wait_for(r"READY net-done", "the guest's hostile transmits")
        c = vm.api("vm.counters").get("_net0", {})
        print(f"INFO _net0 counters: {json.dumps(c)}")
        if c.get("tx_packets", 0) < 1 or c.get("rx_packets", 0) < 1 or c.get("request_errors", 0) < 3 \
                or c.get("ctrl_ops", 0) < 2:
            raise Failure(f"_net0 counters: {c}")
        vm.send_serial("\n")
        expect_clean_exit(vm)
        expect_pass(vm, "net")
    finally:
        vm.stop()
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)


def read_until(vm, sock, buf, needle, what):
    while needle not in buf:
        r, _, _ = select.select([sock], [], [], 0.1)
        if r:
            chunk = sock.recv(4096)
            if not chunk:
                raise Failure(f"{what}: the socket closed (got {buf!r})")
            buf += chunk
        else:
            vm._check_alive(what)
    return buf


def vsock_guest_to_host(vm, listener):
    """The payload's first vsock connection (test=vsock): to host port 1234,
    which is PATH_1234, data both ways, then the guest's SHUTDOWN."""
    while not select.select([listener], [], [], 0.1)[0]:
        vm._check_alive("the guest's connection to PATH_1234")
    peer, _ = listener.accept()
    with peer:
        read_until(vm, peer, b"", b"hello-from-guest", "the guest's data on PATH_1234")
        peer.sendall(b"hello-from-host")
        vm.wait_for(r"INFO vsock guest->host done", "the guest to finish its connection")
        if read_until(vm, peer, b"", b"", "EOF") != b"" or peer.recv(16) != b"":
            raise Failure("PATH_1234 not closed after the guest's SHUTDOWN")


def vsock_host_to_guest(vm, path, port):
    """CONNECT <port> through the vsock socket at path, once the guest
    listens; ping, pong. Returns the open connection."""
    host = connect_unix(vm, path, "the vsock socket")
    try:
        host.sendall(f"CONNECT {port}\n".encode())
        reply = read_until(vm, host, b"", b"\n", "OK <port>")
        if not re.fullmatch(rb"OK \d+\n", reply):
            raise Failure(f"CONNECT {port} answered {reply!r}")
        host.sendall(b"ping")
        read_until(vm, host, b"", b"pong", "pong from the guest")
    except BaseException:
        host.close()
        raise
    return host


def vsock_finish(vm, host, conns_from_host):
    """The runner closes the host -> guest connection; the guest sees it end,
    sends its hostile packets; the counters show it all. Returns them."""
    host.close()
    vm.wait_for(r"INFO vsock host->guest done", "the guest to see the close")
    vm.wait_for(r"READY vsock-done", "the guest's hostile packets")
    c = vm.api("vm.counters").get("_vsock", {})
    print(f"INFO _vsock counters: {json.dumps(c)}")
    if c.get("conns_from_host") != conns_from_host or c.get("conns_refused", 0) < 1 \
            or c.get("request_errors", 0) < 3 or c.get("rst_sent", 0) < 4:
        raise Failure(f"_vsock counters: {c}")
    vm.send_serial("\n")
    expect_clean_exit(vm)
    expect_pass(vm, "vsock")
    return c


def vsock_listener(path):
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
    listener.bind(f"{path}_1234")
    listener.listen(1)
    return listener


def case_virtio_vsock(vm, opts):
    """Hybrid vsock: guest -> host through PATH_1234, host -> guest through CONNECT."""
    path = os.path.join(vm.work, "vsock.sock")
    with vsock_listener(path) as listener:
        vm.start(opts.elf, "test=vsock cid=3", extra=["--vsock", f"cid=3,socket={path}"], stdin_pipe=True)
        vsock_guest_to_host(vm, listener)
    vm.wait_for(r"READY vsock-listen", "the guest to listen")
    c = vsock_finish(vm, vsock_host_to_guest(vm, path, 6000), 1)
    if c.get("conns_from_guest") != 1 or c.get("transport_resets") != 0:
        raise Failure(f"_vsock counters: {c}")
    got = [(e, p) for s, e, p in vm.events() if s == "virtio-device"]
    for ev in ("activated", "reset"):
        if (ev, {"id": "_vsock"}) not in got:
            raise Failure(f"no virtio-device/{ev} for _vsock (got {got})")


def case_snapshot_vsock(vm, opts):
    """A VM with vsock snapshotted while a host -> guest connection is open:
    the restored vmm listens on the same socket, tells the guest its
    connections are gone (TRANSPORT_RESET), answers data on the old one with
    RST and takes a new one."""
    path = os.path.join(vm.work, "vsock.sock")
    snap = os.path.join(vm.work, "snap")
    os.mkdir(snap)
    extra = ["--vsock", f"cid=3,socket={path}"]
    if opts.landlock:
        extra += ["--landlock-rules", f"path={snap},access=rw"]
    with vsock_listener(path) as listener:
        vm.start(opts.elf, "test=vsock cid=3 snap=1", extra=extra, timeout=60)
        vsock_guest_to_host(vm, listener)
    vm.wait_for(r"READY vsock-listen", "the guest to listen")
    with vsock_host_to_guest(vm, path, 6000) as old:
        vm.wait_for(r"READY vsock-snapshot", "the guest to wait for the snapshot")
        vm.api("vm.pause")
        vm.api("vm.snapshot", {"destination_url": f"file://{snap}"})
        wait_events(vm, "vm/snapshotting", "vm/snapshotted")
        vm.stop()
        # The snapshotted vmm took its end of the connection with it.
        old.settimeout(10)
        try:
            left = old.recv(16)
        except ConnectionResetError:
            left = b""
        except socket.timeout:
            raise Failure("the connection to the snapshotted vmm stayed open after it exited")
        if left:
            raise Failure(f"the snapshotted vmm's connection sent {left!r} after the pong")

    def body(restored):
        restored.start_restore(snap, stdin_pipe=True, timeout=60)
        restored.api("vm.resume")
        restored.wait_for(r"INFO vsock transport reset", "the guest to get TRANSPORT_RESET")
        restored.wait_for(r"READY vsock-relisten", "the guest to listen again")
        c = vsock_finish(restored, vsock_host_to_guest(restored, path, 6001), 1)
        if c.get("transport_resets") != 1 or c.get("conns_from_guest") != 0:
            raise Failure(f"the restored _vsock counters: {c}")

    run_restored(vm, "restored", body)


def rss_kib(pid):
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            if line.startswith("Rss:"):
                return int(line.split()[1])
    raise Failure("no Rss in smaps_rollup")


def case_virtio_balloon(vm, opts, shared, reporting):
    """Inflating 16 MiB the guest had touched gives it back: the VMM's RSS drops."""
    memory = "64M,shared=on" if shared else "64M"
    balloon = "size=16M,deflate_on_oom=on" + (",free_page_reporting=on" if reporting else "")
    vm.start(opts.elf, f"test=balloon pages=4096 reporting={int(reporting)} resize_pages=2048", memory=memory,
             extra=["--balloon", balloon], stdin_pipe=True)
    vm.wait_for(r"READY balloon-touched", "the guest to touch its memory")
    before = rss_kib(vm.proc.pid)
    vm.send_serial("\n")
    vm.wait_for(r"READY balloon-inflated", "the guest to inflate")
    after = rss_kib(vm.proc.pid)
    print(f"INFO vmm RSS {before} KiB -> {after} KiB")
    want = 14 * 1024 + (2 * 1024 if reporting else 0)
    if before - after < want:
        raise Failure(f"RSS dropped by {before - after} KiB ({before} -> {after}), wanted at least {want}")
    c = vm.api("vm.counters").get("_balloon", {})
    print(f"INFO _balloon counters: {json.dumps(c)}")
    if c.get("inflated_pages", 0) < 4096 or c.get("actual_pages") != 4096 or c.get("target_pages") != 4096 \
            or c.get("discard_errors") != 0 or c.get("request_errors", 0) < 2 \
            or (reporting and c.get("reported_bytes") != 2 << 20):
        raise Failure(f"_balloon counters: {c}")
    vm.send_serial("\n")
    vm.wait_for(r"READY balloon-resize", "the guest to deflate")
    # Hostile or unsupported resizes change nothing.
    for args, code in (({"desired_balloon": 65 << 20}, "InvalidArgs"), ({"desired_balloon": -1}, "InvalidArgs"),
                       ({"desired_balloon": "8M"}, "InvalidArgs"), ({}, "InvalidArgs"),
                       ({"desired_balloon": 8 << 20, "size": 1}, "InvalidArgs"),
                       ({"desired_vcpus": 2}, "InvalidArgs"),  # --cpus max is 1
                       ({"desired_ram": 128 << 20}, "NotSupported")):
        expect_api_error(vm, "vm.resize", args, code)
    vm.api("vm.resize", {"desired_balloon": 8 << 20})
    vm.wait_for(r"READY balloon-resized", "the guest to see the new target")
    c = vm.api("vm.counters").get("_balloon", {})
    size = vm.api("vm.info")["config"]["balloon"]["size"]
    print(f"INFO after vm.resize: target_pages {c.get('target_pages')} actual_pages {c.get('actual_pages')} "
          f"config size {size}")
    if c.get("target_pages") != 2048 or c.get("actual_pages") != 2048 or size != 8 << 20:
        raise Failure(f"after vm.resize: _balloon counters {c}, config balloon size {size}")
    vm.send_serial("\n")
    expect_clean_exit(vm)
    expect_pass(vm, "balloon")


def case_hotplug(vm, opts):
    """ACPI PCI hotplug: vm.add-disk while the guest runs, the guest finds the
    slot in PCIU and the function on the bus and does I/O on it;
    vm.remove-device, the guest sees PCID and ejects; only then is the disk
    gone from the bus, the configuration and the counters. With --landlock a
    path the rules do not cover is refused and one they cover works."""
    img = os.path.join(vm.work, "hot.img")
    make_image(img, 1 << 20)
    with open(img, "r+b") as f:
        f.write(seeded_pattern(512, 7))
    extra = []
    if opts.landlock:
        extra = ["--landlock-rules", f"path={vm.work},access=rw"]
        outside = tempfile.mkdtemp(prefix="vmm-hotplug-outside-")
        denied = os.path.join(outside, "other.img")
        make_image(denied, 1 << 20)
    vm.start(opts.elf, "test=hotplug", extra=extra)
    vm.wait_for(r"READY hotplug-add", "the guest to be ready")
    # Hostile bodies: each refused, nothing added.
    for args in ({}, {"path": 5}, {"path": img, "bogus": 1}, {"path": img, "num_queues": -1},
                 {"path": os.path.join(vm.work, "missing.img")}):
        expect_api_error(vm, "vm.add-disk", args, "InvalidArgs")
    expect_api_error(vm, "vm.remove-device", {"id": "_disk0"}, "InvalidArgs")
    expect_api_error(vm, "vm.remove-device", {}, "InvalidArgs")
    if opts.landlock:
        try:
            vm.api("vm.add-disk", {"path": denied})
            raise Failure("--landlock let a hot-added disk outside the rules through")
        except Failure as e:
            if "--landlock" not in str(e):
                raise Failure(f"the refusal does not name --landlock: {e}")
        shutil.rmtree(outside, ignore_errors=True)
    got = vm.api("vm.add-disk", {"path": img, "id": "hot0"})
    if got.get("id") != "hot0" or not re.fullmatch(r"0000:00:[0-1][0-9a-f]\.0", got.get("bdf", "")):
        raise Failure(f"vm.add-disk answered {got}")
    expect_api_error(vm, "vm.add-disk", {"path": img, "id": "hot0"}, "InvalidArgs")  # the id is taken
    disks = vm.api("vm.info")["config"].get("disks", [])
    if [d.get("id") for d in disks] != ["hot0"] or disks[0].get("path") != img:
        raise Failure(f"vm.info's disks after vm.add-disk: {disks}")
    slot = int(got["bdf"].split(":")[2].split(".")[0], 16)
    vm.wait_for(rf"READY hotplug-io slot={slot}\b", "the guest to use the hot-added disk")
    # A snapshot with the hot-added function: the restore puts it back in its
    # slot (the configuration lists it, but not where it was plugged), and
    # the rest of the case runs in the restored VMM.
    vm.api("vm.pause")
    snap = os.path.join(vm.work, "snap")
    os.mkdir(snap)
    vm.api("vm.snapshot", {"destination_url": f"file://{snap}"})
    added = [(e, p) for s, e, p in vm.events() if s == "vm" and e.startswith("device-")]
    if added != [("device-added", {"id": "hot0", "bdf": got["bdf"]})]:
        raise Failure(f"device events before the snapshot {added}")
    vm.stop()

    def body(restored):
        restored.start_restore(snap, timeout=60)
        disks = restored.api("vm.info")["config"].get("disks", [])
        if [d.get("id") for d in disks] != ["hot0"]:
            raise Failure(f"the restored VM's disks: {disks}")
        # Paused, the guest cannot eject in between: the second request finds the first pending.
        restored.api("vm.remove-device", {"id": "hot0"})
        expect_api_error(restored, "vm.remove-device", {"id": "hot0"}, "InvalidState")
        restored.api("vm.resume")
        restored.wait_for(r"READY hotplug-gone", "the restored guest to eject the disk")
        deadline = time.monotonic() + 5
        while restored.api("vm.info")["config"].get("disks") and time.monotonic() < deadline:
            time.sleep(0.05)
        if restored.api("vm.info")["config"].get("disks"):
            raise Failure("the disk is still in the configuration after the guest ejected it")
        c = restored.api("vm.counters")
        print(f"INFO pci_hotplug counters after the restore: {json.dumps(c.get('pci_hotplug'))}")
        hp = c.get("pci_hotplug", {})
        if "hot0" in c or hp.get("unplug_requests") != 1 or hp.get("ejects") != 1 or hp.get("bad_accesses"):
            raise Failure(f"counters after the eject: hot0 {c.get('hot0')}, pci_hotplug {hp}")
        expect_clean_exit(restored)
        expect_pass(restored, "hotplug")
        removed = [(e, p) for s, e, p in restored.events() if s == "vm" and e.startswith("device-")]
        if removed[:1] != [("device-removed", {"id": "hot0", "bdf": got["bdf"]})]:
            raise Failure(f"the restored VMM's device events {removed}")

    run_restored(vm, "restored", body)
    with open(img, "rb") as f:
        f.seek(512)
        if f.read(512) != seeded_pattern(512, 8):
            raise Failure("sector 1 of the hot-added disk does not hold the guest's pattern")



CASES = {
    "boot-elf": lambda vm, o: case_boot(vm, o, "elf"),
    "boot-pvh": lambda vm, o: case_boot(vm, o, "pvh"),
    "boot-bzimage": lambda vm, o: case_boot(vm, o, "bzimage"),
    "smbios": case_smbios,
    "serial-tty": lambda vm, o: case_serial(vm, o, "tty", False),
    "serial-tty-input": lambda vm, o: case_serial(vm, o, "tty", True),
    "serial-file": lambda vm, o: case_serial(vm, o, "file", False),
    "serial-pty": lambda vm, o: case_serial(vm, o, "pty", True),
    "serial-socket": lambda vm, o: case_serial(vm, o, "socket", True),
    "pause-resume": case_pause_resume,
    "snapshot-restore": case_snapshot_restore,
    "snapshot-damaged": case_snapshot_damaged,
    "snapshot-again": lambda vm, o: case_snapshot_again(vm, o, "64M"),
    "snapshot-shared": lambda vm, o: case_snapshot_again(vm, o, "64M,shared=on"),
    "snapshot-vsock": case_snapshot_vsock,
    "usermode": case_usermode,
    "power-button": case_power_button,
    "cpu-resize": case_cpu_resize,
    "cpu-unplug": case_cpu_unplug,
    "snapshot-cpu-hotplug": case_snapshot_cpu_hotplug,
    "memory-hotplug": case_memory_hotplug,
    "reboot-i8042": lambda vm, o: case_reboot(vm, o, "i8042"),
    "reboot-acpi": lambda vm, o: case_reboot(vm, o, "acpi"),
    "triple-fault": case_triple_fault,
    "landlock": case_landlock,
    "debug-console": case_debug_console,
    "pci-enum": case_pci_enum,
    "virtio-blk": lambda vm, o: case_virtio_blk(vm, o, False),
    "virtio-blk-direct": lambda vm, o: case_virtio_blk(vm, o, True),
    "virtio-blk-throttle": case_virtio_blk_throttle,
    "virtio-rng": case_virtio_rng,
    "virtio-hostile": case_virtio_hostile,
    "virtio-console": case_virtio_console,
    "virtio-console-tty": case_virtio_console_tty,
    "virtio-net": case_virtio_net,
    "virtio-vsock": case_virtio_vsock,
    "virtio-balloon": lambda vm, o: case_virtio_balloon(vm, o, False, False),
    "virtio-balloon-shared": lambda vm, o: case_virtio_balloon(vm, o, True, True),
    "hotplug": case_hotplug,
}


def main():
    ap = argparse.ArgumentParser(description="Runs one guest-suite case under vmm.")
    ap.add_argument("--vmm", required=True)
    ap.add_argument("--elf", required=True)
    ap.add_argument("--pvh", required=True)
    ap.add_argument("--bzimage", required=True)
    ap.add_argument("--case", required=True, choices=sorted(CASES))
    ap.add_argument("--keep", action="store_true", help="keep the work directory (printed)")
    ap.add_argument("--show-log", action="store_true", help="print the serial log and events on success too")
    ap.add_argument("--no-landlock", dest="landlock", action="store_false",
                    help="run vmm without --landlock (by default every case runs with it where the kernel has "
                         "Landlock, so it also shows the rules let every path it uses through)")
    opts = ap.parse_args()

    no_landlock = landlock_unusable()
    if no_landlock:
        print(f"INFO running without --landlock: {no_landlock}")
        opts.landlock = False
    reason = kvm_unusable() or (opts.case == "landlock" and no_landlock)
    if reason:
        print(f"SKIP {opts.case}: {reason}")
        return SKIP

    work = tempfile.mkdtemp(prefix=f"vmm-guest-{opts.case}-")
    vm = Vmm(opts, work, opts.case)
    started = time.monotonic()
    status = 1
    try:
        CASES[opts.case](vm, opts)
        status = 0
        print(f"ok   {opts.case} ({time.monotonic() - started:.2f} s)")
        if opts.show_log:
            vm.stop()
            vm.report()
    except Skip as e:
        status = SKIP
        print(f"SKIP {opts.case}: {e}")
    except Failure as e:
        print(f"FAIL {opts.case}: {e} ({time.monotonic() - started:.2f} s)")
        vm.stop()
        vm.report()
    finally:
        vm.stop()
        if opts.keep:
            print(f"work directory: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
