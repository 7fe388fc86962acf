#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Service benchmarks: vmmd on a private bus, real vmm processes, figures only.

Usage: bench_service.py --vmmd VMMD --vmm VMM --payload bench_idle.elf --source-root DIR
                        [--runs 50] [--vms 100] [--clients 8] [--seconds 3]

(a) CreateVM + Start until State=running, and Start -> vm/booted Event
    latency, median over --runs VMs started one after another;
(b) --vms VMs running at once (16 MiB, the idle payload: halted, so they
    stay up at no CPU cost): time to start them all with every Start in
    flight at once, vmmd's RSS, CPU and fds while they idle, each VMM's RSS;
(c) GetAll on a VM object from --clients concurrent clients (processes,
    each its own connection, one call at a time): calls per second.

The bus is a private dbus-daemon with the dbus suite's configuration
(tests/dbus/bus.conf.in plus dbus/org.vmm.Manager.conf). The client is the
D-Bus wire protocol written out below (no D-Bus module for Python is a
dependency here), so the figures are vmmd's and the bus's, not a tool's
start-up time. Nothing is asserted about the figures; the run fails (exit
1) when the service fails: an error reply, a VM not running, vmmd dying or
not exiting 0 on SIGTERM. Exit 77 without /dev/kvm or dbus-daemon.
"""
import argparse
import json
import multiprocessing
import os
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../tests/pylib"))
from kvm_check import kvm_unusable  # noqa: E402

SKIP = 77
DEST = "org.vmm.Manager"
MANAGER = "/org/vmm/Manager"
MEM = 16 << 20


class ServiceFailed(Exception):
    pass


# ------------------------------------------------------------ the wire protocol
# Little-endian messages (D-Bus specification, "Message Protocol"). Only the
# types these benchmarks send or read are here.

METHOD_CALL, METHOD_RETURN, ERROR, SIGNAL = 1, 2, 3, 4
F_PATH, F_INTERFACE, F_MEMBER, F_ERROR_NAME, F_REPLY_SERIAL, F_DESTINATION, F_SIGNATURE = 1, 2, 3, 4, 5, 6, 8
FIELD_SIG = {F_PATH: "o", F_INTERFACE: "s", F_MEMBER: "s", F_DESTINATION: "s", F_SIGNATURE: "g"}


class Writer:
    def __init__(self):
        self.b = bytearray()

    def align(self, n):
        self.b += bytes(-len(self.b) % n)

    def put(self, sig, v):
        if sig == "y":
            self.b.append(v)
        elif sig == "u":
            self.align(4)
            self.b += struct.pack("<I", v)
        elif sig in "so":
            e = v.encode()
            self.put("u", len(e))
            self.b += e + b"\0"
        elif sig == "g":
            e = v.encode()
            self.b.append(len(e))
            self.b += e + b"\0"
        else:
            raise ValueError(f"cannot marshal {sig}")


class Reader:
    def __init__(self, b):
        self.b, self.pos = b, 0

    def align(self, n):
        self.pos += -self.pos % n

    def get(self, sig):
        if sig == "y":
            self.pos += 1
            return self.b[self.pos - 1]
        if sig in "ub":
            self.align(4)
            self.pos += 4
            v = struct.unpack_from("<I", self.b, self.pos - 4)[0]
            return bool(v) if sig == "b" else v
        if sig in "so":
            n = self.get("u")
            self.pos += n + 1
            return self.b[self.pos - n - 1:self.pos - 1].decode()
        if sig == "g":
            n = self.get("y")
            self.pos += n + 1
            return self.b[self.pos - n - 1:self.pos - 1].decode()
        if sig == "v":
            return self.get(self.get("g"))
        raise ValueError(f"cannot unmarshal {sig}")


def marshal(mtype, serial, fields, sig="", args=()):
    body = Writer()
    for t, a in zip(sig, args):
        body.put(t, a)
    if sig:
        fields = {**fields, F_SIGNATURE: sig}
    arr = Writer()  # starts at offset 16, so its 8-byte alignment is the message's
    for code, value in fields.items():
        arr.align(8)
        arr.put("y", code)
        arr.put("g", FIELD_SIG[code])
        arr.put(FIELD_SIG[code], value)
    head = Writer()
    head.b += bytes([ord("l"), mtype, 0, 1]) + struct.pack("<III", len(body.b), serial, len(arr.b))
    head.b += arr.b
    head.align(8)
    return bytes(head.b + body.b)


class Bus:
    """One connection: synchronous calls, or several sent and then awaited."""

    def __init__(self, address):
        path = dict(kv.split("=", 1) for kv in address.split(":", 1)[1].split(","))["path"]
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(path)
        self.sock.sendall(b"\0AUTH EXTERNAL " + str(os.getuid()).encode().hex().encode() + b"\r\n")
        line = self._line()
        if not line.startswith(b"OK "):
            raise ServiceFailed(f"bus authentication: {line!r}")
        self.sock.sendall(b"BEGIN\r\n")
        self.buf = bytearray()
        self.serial = 0
        self.replies = {}
        self.signals = []  # (receipt time, path, member, body reader)
        self.call("org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus", "Hello")

    def _line(self):
        data = b""
        while not data.endswith(b"\r\n"):
            chunk = self.sock.recv(1)
            if not chunk:
                raise ServiceFailed("the bus closed the connection during authentication")
            data += chunk
        return data

    def send(self, dest, path, iface, member, sig="", *args):
        self.serial += 1
        fields = {F_PATH: path, F_INTERFACE: iface, F_MEMBER: member, F_DESTINATION: dest}
        self.sock.sendall(marshal(METHOD_CALL, self.serial, fields, sig, args))
        return self.serial

    def _read_one(self):
        while True:
            if len(self.buf) >= 16:
                body_len, _, fields_len = struct.unpack_from("<III", self.buf, 4)
                start = 16 + fields_len + (-(16 + fields_len) % 8)
                if len(self.buf) >= start + body_len:
                    break
            chunk = self.sock.recv(1 << 16)
            if not chunk:
                raise ServiceFailed("the bus closed the connection")
            self.buf += chunk
        now = time.perf_counter()
        mtype = self.buf[1]
        fr = Reader(bytes(self.buf[16:16 + fields_len]))
        fields = {}
        while fr.pos < fields_len:
            fr.align(8)
            code = fr.get("y")
            fields[code] = fr.get(fr.get("g"))
        body = Reader(bytes(self.buf[start:start + body_len]))
        del self.buf[:start + body_len]
        if mtype == SIGNAL:
            self.signals.append((now, fields.get(F_PATH), fields.get(F_MEMBER), body))
        elif mtype in (METHOD_RETURN, ERROR):
            self.replies[fields[F_REPLY_SERIAL]] = (mtype, fields, body, now)

    def wait(self, serial):
        """The reply to serial: (body reader, receipt time); an error reply raises."""
        while serial not in self.replies:
            self._read_one()
        mtype, fields, body, now = self.replies.pop(serial)
        if mtype == ERROR:
            msg = body.get("s") if fields.get(F_SIGNATURE, "").startswith("s") else ""
            raise ServiceFailed(f"{fields.get(F_ERROR_NAME)}: {msg}")
        return body, now

    def call(self, dest, path, iface, member, sig="", *args):
        return self.wait(self.send(dest, path, iface, member, sig, *args))[0]

    def manager(self, member, sig="", *args):
        return self.call(DEST, MANAGER, "org.vmm.Manager", member, sig, *args)

    def vm(self, path, member):
        return self.call(DEST, path, "org.vmm.VM", member)

    def prop(self, path, name):
        return self.call(DEST, path, "org.freedesktop.DBus.Properties", "Get", "ss", "org.vmm.VM", name).get("v")


# ------------------------------------------------------------------ the setup

class Service:
    """A private bus and vmmd on it, in a temporary directory."""

    def __init__(self, opts):
        self.opts = opts
        self.tmp = tempfile.mkdtemp(prefix="vmm-bench-")
        self.bus = self.vmmd = None

    def start(self):
        with open(os.path.join(self.opts.source_root, "tests", "dbus", "bus.conf.in")) as f:
            conf = f.read()
        sock = os.path.join(self.tmp, "bus")
        conf = conf.replace("@SOCKET@", sock).replace("@SERVICEDIR@", self.tmp)
        conf = conf.replace("@POLICY@", os.path.join(self.opts.source_root, "dbus", "org.vmm.Manager.conf"))
        with open(os.path.join(self.tmp, "bus.conf"), "w") as f:
            f.write(conf)
        self.bus = subprocess.Popen(["dbus-daemon", "--config-file=" + os.path.join(self.tmp, "bus.conf"),
                                     "--nofork", "--print-address=1"], stdout=subprocess.PIPE,
                                    stderr=subprocess.DEVNULL, text=True)
        self.address = self.bus.stdout.readline().strip()
        if not self.address:
            raise ServiceFailed(f"dbus-daemon exited with {self.bus.wait()}")
        state, run = os.path.join(self.tmp, "state"), os.path.join(self.tmp, "run")
        self.log = open(os.path.join(self.tmp, "vmmd.log"), "w")
        self.vmmd = subprocess.Popen([self.opts.vmmd, "--state-dir", state, "--runtime-dir", run,
                                      "--vmm", self.opts.vmm],
                                     env=dict(os.environ, DBUS_SYSTEM_BUS_ADDRESS=self.address),
                                     stdout=self.log, stderr=subprocess.STDOUT)
        self.conn = Bus(self.address)
        deadline = time.monotonic() + 10
        while not self.conn.call("org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
                                 "NameHasOwner", "s", DEST).get("b"):
            if self.vmmd.poll() is not None or time.monotonic() > deadline:
                raise ServiceFailed("vmmd did not own org.vmm.Manager")
            time.sleep(0.02)
        self.conn.call("org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus", "AddMatch", "s",
                       f"type='signal',sender='{DEST}',interface='org.vmm.VM',member='Event'")

    def alive(self):
        if self.vmmd.poll() is not None:
            raise ServiceFailed(f"vmmd exited with {self.vmmd.returncode}")

    def stop(self):
        """vmmd must exit 0 on SIGTERM; returns its log on failure."""
        rc = None
        if self.vmmd and self.vmmd.poll() is None:
            self.vmmd.send_signal(signal.SIGTERM)
            try:
                rc = self.vmmd.wait(10)
            except subprocess.TimeoutExpired:
                self.vmmd.kill()
                self.vmmd.wait()
        if self.bus:
            self.bus.terminate()
            self.bus.wait()
        return rc

    def kill_leftovers(self):
        """VMMs outlive vmmd by design; those of a failed run are found by
        their configuration under this run's directory."""
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    if self.tmp.encode() in f.read():
                        os.kill(int(pid), signal.SIGKILL)
            except (FileNotFoundError, ProcessLookupError):
                pass

    def log_tail(self):
        try:
            with open(os.path.join(self.tmp, "vmmd.log"), errors="replace") as f:
                return "".join(f.readlines()[-30:])
        except FileNotFoundError:
            return "(vmmd did not start)"


def vm_config(payload):
    return json.dumps({"payload": {"kernel": payload}, "memory": {"size": MEM}, "serial": {"mode": "Null"},
                       "console": {"mode": "Off"}})


def booted_at(conn, path):
    for t, p, member, body in conn.signals:
        if p == path and member == "Event":
            r = Reader(body.b)
            if (r.get("s"), r.get("s")) == ("vm", "booted"):
                return t
    return None


def proc_status(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise ServiceFailed(f"/proc/{pid}/status has no {key}")


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def ms(v):
    return f"{v * 1e3:.1f} ms"


# --------------------------------------------------------------- the benchmarks

def bench_start(svc, opts):
    """(a) CreateVM + Start until running, one VM at a time; Start -> vm/booted."""
    conn = svc.conn
    create, start, booted, total = [], [], [], []
    for i in range(opts.runs):
        t0 = time.perf_counter()
        path = conn.manager("CreateVM", "ss", f"a{i}", vm_config(opts.payload)).get("o")
        t1 = time.perf_counter()
        _, t2 = conn.wait(conn.send(DEST, path, "org.vmm.VM", "Start"))
        state = conn.prop(path, "State")
        t3 = time.perf_counter()
        if state != "running":
            raise ServiceFailed(f"{path}: State {state} after Start")
        tb = booted_at(conn, path)
        if tb is None:
            raise ServiceFailed(f"{path}: no vm/booted Event before Start returned")
        create.append(t1 - t0)
        start.append(t2 - t1)
        booted.append(tb - t1)
        total.append(t3 - t0)
        conn.signals.clear()
        conn.vm(path, "PowerOff")
        conn.manager("DeleteVM", "s", f"a{i}")
    svc.alive()
    med = statistics.median
    return [("CreateVM", ms(med(create))),
            ("Start (reply)", ms(med(start))),
            ("Start -> vm/booted Event", ms(med(booted))),
            ("CreateVM + Start until State=running", ms(med(total))),
            ("  min / max", f"{ms(min(total))} / {ms(max(total))}")]


def getall_client(address, path, seconds, start_at, out):
    conn = Bus(address)
    while time.monotonic() < start_at:
        time.sleep(0.001)
    n, end = 0, start_at + seconds
    while time.monotonic() < end:
        conn.call(DEST, path, "org.freedesktop.DBus.Properties", "GetAll", "s", "org.vmm.VM")
        n += 1
    out.send(n)


def bench_getall(svc, opts):
    """(c) GetAll calls per second from 1 and from --clients concurrent clients."""
    conn = svc.conn
    path = conn.manager("CreateVM", "ss", "getall", vm_config(opts.payload)).get("o")
    conn.vm(path, "Start")
    rows = []
    ctx = multiprocessing.get_context("fork")
    for clients in (1, opts.clients):
        pipes, procs = [], []
        start_at = time.monotonic() + 0.5
        for _ in range(clients):
            r, w = ctx.Pipe(duplex=False)
            p = ctx.Process(target=getall_client, args=(svc.address, path, opts.seconds, start_at, w))
            p.start()
            pipes.append(r)
            procs.append(p)
        cpu0 = {pid: cpu_seconds(pid) for pid in (svc.vmmd.pid, svc.bus.pid)}
        counts = []
        for r, p in zip(pipes, procs):
            if not r.poll(opts.seconds + 30):
                raise ServiceFailed("a GetAll client got no answers")
            counts.append(r.recv())
            p.join()
            if p.exitcode != 0:
                raise ServiceFailed(f"a GetAll client failed (exit {p.exitcode})")
        used = {pid: cpu_seconds(pid) - c for pid, c in cpu0.items()}
        rate = sum(counts) / opts.seconds
        rows.append((f"GetAll, {clients} client{'s' if clients > 1 else ''}",
                     f"{rate:.0f} calls/s ({1e6 / rate * clients:.0f} us per call per client); "
                     f"CPU vmmd {used[svc.vmmd.pid] / opts.seconds * 100:.0f}%, "
                     f"dbus-daemon {used[svc.bus.pid] / opts.seconds * 100:.0f}%"))
    svc.alive()
    conn.vm(path, "PowerOff")
    conn.manager("DeleteVM", "s", "getall")
    return rows


def bench_many(svc, opts):
    """(b) --vms VMs at once: start them all, idle figures, power them all off."""
    conn = svc.conn
    names = [f"m{i:03d}" for i in range(opts.vms)]
    t0 = time.perf_counter()
    paths = [conn.manager("CreateVM", "ss", n, vm_config(opts.payload)).get("o") for n in names]
    t1 = time.perf_counter()
    # Every Start in flight at once, as at boot with Autostart.
    serials = [conn.send(DEST, p, "org.vmm.VM", "Start") for p in paths]
    last = max(conn.wait(s)[1] for s in serials)
    t_start = last - t1
    states = [conn.prop(p, "State") for p in paths]
    if states.count("running") != len(paths):
        raise ServiceFailed(f"only {states.count('running')} of {len(paths)} VMs running")
    pids = [conn.prop(p, "PID") for p in paths]
    if len(set(pids)) != len(pids) or not all(pids):
        raise ServiceFailed(f"VMM PIDs not distinct: {pids}")
    svc.alive()

    time.sleep(1.0)  # let the start-up settle
    vpid = svc.vmmd.pid
    window = 5.0
    cpu0 = cpu_seconds(vpid)
    vmm_cpu0 = sum(cpu_seconds(p) for p in pids)
    time.sleep(window)
    vmmd_cpu = (cpu_seconds(vpid) - cpu0) / window
    vmm_cpu = (sum(cpu_seconds(p) for p in pids) - vmm_cpu0) / window
    rss = sorted(proc_status(p, "VmRSS") for p in pids)
    fds = len(os.listdir(f"/proc/{vpid}/fd"))
    soft, _ = map(int, open(f"/proc/{vpid}/limits").read().split("Max open files")[1].split()[:2])
    rows = [(f"{opts.vms} x CreateVM", f"{ms(t1 - t0)} ({ms((t1 - t0) / opts.vms)} each)"),
            (f"{opts.vms} x Start, all in flight, until the last reply", f"{ms(t_start)} "
             f"({ms(t_start / opts.vms)} per VM)"),
            ("vmmd RSS, idle", f"{proc_status(vpid, 'VmRSS') / 1024:.1f} MiB"),
            ("vmmd CPU, idle", f"{vmmd_cpu * 100:.2f}% over {window:.0f} s"),
            ("vmmd open fds", f"{fds} (soft limit {soft})"),
            ("VMM RSS per VM, median (min-max)", f"{statistics.median(rss) / 1024:.1f} MiB "
             f"({rss[0] / 1024:.1f}-{rss[-1] / 1024:.1f})"),
            ("VMM RSS, all VMs", f"{sum(rss) / 1024:.0f} MiB"),
            ("VMM CPU, all VMs, idle", f"{vmm_cpu * 100:.2f}%"),
            ("dbus-daemon RSS", f"{proc_status(svc.bus.pid, 'VmRSS') / 1024:.1f} MiB")]

    t0 = time.perf_counter()
    serials = [conn.send(DEST, p, "org.vmm.VM", "PowerOff") for p in paths]
    last = max(conn.wait(s)[1] for s in serials)
    rows.append((f"{opts.vms} x PowerOff, all in flight", ms(last - t0)))
    for n in names:
        conn.manager("DeleteVM", "s", n)
    svc.alive()
    return rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--vmmd", required=True)
    ap.add_argument("--vmm", required=True)
    ap.add_argument("--payload", required=True)
    ap.add_argument("--source-root", required=True)
    ap.add_argument("--runs", type=int, default=50)
    ap.add_argument("--vms", type=int, default=100)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=3.0)
    opts = ap.parse_args()
    for k in ("vmmd", "vmm", "payload"):
        setattr(opts, k, os.path.abspath(getattr(opts, k)))
    why = kvm_unusable() or (None if shutil.which("dbus-daemon") else "dbus-daemon is not installed")
    if why:
        print(f"SKIP: {why}")
        return SKIP

    svc = Service(opts)
    sections = []
    try:
        svc.start()
        sections.append((f"(a) one VM at a time, median of {opts.runs} (16 MiB, idle payload)",
                         bench_start(svc, opts)))
        # (c) before (b): the calls measured on a host without 100 VMMs.
        sections.append((f"(c) method-call throughput on a running VM's object, {opts.seconds:.0f} s each",
                         bench_getall(svc, opts)))
        sections.append((f"(b) {opts.vms} VMs running at once (16 MiB each, idle payload)", bench_many(svc, opts)))
    except ServiceFailed as e:
        print(f"FAIL: {e}\n--- vmmd log (last lines)\n{svc.log_tail()}")
        return 1
    finally:
        rc = svc.stop()
        svc.kill_leftovers()
    if rc != 0:
        print(f"FAIL: vmmd exited with {rc} on SIGTERM\n{svc.log_tail()}")
        return 1
    shutil.rmtree(svc.tmp, ignore_errors=True)

    width = max(len(k) for _, rows in sections for k, _ in rows)
    print(f"vmmd benchmarks ({os.cpu_count()} CPUs; figures, not assertions)")
    for title, rows in sections:
        print(f"\n{title}")
        for k, v in rows:
            print(f"  {k:<{width}}  {v}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
