#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""The dbus suite: real dbus-daemon, real vmmd, real vmm processes.

Usage: test_dbus.py --case CASE --vmmd VMMD --vmmctl VMMCTL --vmm VMM
                    --payload PAYLOAD.elf --source-root DIR [--build-root DIR]

Each case starts its own private dbus-daemon (a system-like policy plus the
project's dbus/org.vmm.Manager.conf) and its own vmmd with state and runtime
directories in a temporary directory, drives them with busctl (JSON output),
gdbus (for error names) and vmmctl, and checks what comes back. Exit 0 =
pass, 1 = fail, 77 = skipped (the reason on stdout).
"""
import argparse
import ctypes
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../pylib"))
from kvm_check import kvm_unusable  # noqa: E402

SKIP = 77
DEST = "org.vmm.Manager"
MANAGER = "/org/vmm/Manager"
PR_SET_CHILD_SUBREAPER = 36


class Failure(Exception):
    pass


class Skip(Exception):
    pass


def check(cond, what):
    if not cond:
        raise Failure(what)


def landlock_abi():
    """The kernel's Landlock ABI, 0 without Landlock (what vmmd asks once at start)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    # landlock_create_ruleset(NULL, 0, LANDLOCK_CREATE_RULESET_VERSION)
    return max(0, libc.syscall(ctypes.c_long(444), None, ctypes.c_size_t(0), ctypes.c_uint32(1)))


def wait_until(pred, what, timeout=10.0):
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise Failure(f"timeout waiting for {what}")
        time.sleep(0.02)


class Env:
    """A private bus and a vmmd on it."""

    def __init__(self, opts):
        self.opts = opts
        self.tmp = tempfile.mkdtemp(prefix="vmm-dbus-")
        self.state = os.path.join(self.tmp, "state")
        self.run = os.path.join(self.tmp, "run")
        os.makedirs(self.state)
        os.makedirs(self.run)
        self.bus_pid = None
        self.vmmd = None
        self.activated_pid = None  # a vmmd the bus started: not our child
        self.vmmd_log = os.path.join(self.tmp, "vmmd.log")
        self.monitors = []
        self.env = dict(os.environ)

    # -- bus and service

    def start_bus(self, log=None):
        """log: a file for the bus's stderr, and so for what the services it activates write."""
        conf_in = os.path.join(self.opts.source_root, "tests", "dbus", "bus.conf.in")
        policy = os.path.join(self.opts.source_root, "dbus", "org.vmm.Manager.conf")
        svcdir = os.path.join(self.tmp, "services")
        os.makedirs(svcdir, exist_ok=True)
        sock = os.path.join(self.tmp, "bus")
        with open(conf_in) as f:
            text = f.read()
        text = text.replace("@SOCKET@", sock).replace("@SERVICEDIR@", svcdir).replace("@POLICY@", policy)
        extra = getattr(self, "extra_policy", None)
        if extra:
            text = text.replace("</busconfig>", f"  <include>{extra}</include>\n</busconfig>")
        conf = os.path.join(self.tmp, "bus.conf")
        with open(conf, "w") as f:
            f.write(text)
        # --fork sends stderr to /dev/null unless DBUS_DEBUG_OUTPUT is set.
        out = subprocess.run(["dbus-daemon", f"--config-file={conf}", "--fork", "--print-address=1",
                              "--print-pid=1"], stdout=subprocess.PIPE, stderr=log or subprocess.PIPE,
                             env=dict(os.environ, DBUS_DEBUG_OUTPUT="1") if log else None, text=True, timeout=10)
        if out.returncode != 0:
            raise Failure(f"dbus-daemon failed: {(out.stderr or 'see ' + log.name).strip()}")
        lines = out.stdout.split()
        self.address, self.bus_pid = lines[0], int(lines[1])
        self.env["DBUS_SYSTEM_BUS_ADDRESS"] = self.address

    def start_vmmd(self):
        self.vmmd_out = open(self.vmmd_log, "a")
        self.vmmd = subprocess.Popen([self.opts.vmmd, "--state-dir", self.state, "--runtime-dir", self.run,
                                      "--vmm", self.opts.vmm, "--debug", *getattr(self, "vmmd_args", [])],
                                     env=self.env,
                                     stdout=self.vmmd_out, stderr=subprocess.STDOUT)
        wait_until(lambda: self.vmmd.poll() is not None or self.name_has_owner(), "vmmd to own org.vmm.Manager")
        if self.vmmd.poll() is not None:
            raise Failure(f"vmmd exited with {self.vmmd.returncode}")

    def stop_vmmd(self, sig=signal.SIGTERM):
        if self.vmmd and self.vmmd.poll() is None:
            self.vmmd.send_signal(sig)
            rc = self.vmmd.wait(10)
            # A clean stop is exit 0 (a sanitizer report would make it 1).
            if sig == signal.SIGTERM and rc != 0:
                self.vmmd = None
                raise Failure(f"vmmd exited with {rc} on SIGTERM")
        self.vmmd = None
        if not os.path.exists(self.vmmd_log):
            return
        with open(self.vmmd_log, errors="replace") as f:
            if "Sanitizer" in f.read():
                raise Failure("a sanitizer report in vmmd's log")

    def name_has_owner(self):
        r = subprocess.run(["busctl", "--json=short", "call", "org.freedesktop.DBus", "/org/freedesktop/DBus",
                            "org.freedesktop.DBus", "NameHasOwner", "s", DEST], env=self.env,
                           capture_output=True, text=True, timeout=10)
        return r.returncode == 0 and json.loads(r.stdout)["data"][0]

    def cleanup(self):
        for m in self.monitors:
            m.stop()
        # VMMs outlive vmmd by design; a test must not leave any behind.
        pids = []
        try:
            for vm in self.list_vms():
                pid = self.prop(vm[2], "PID")
                if pid:
                    pids.append(pid)
        except Exception:
            pass
        try:
            self.stop_vmmd()
        except (Failure, OSError) as e:
            print(f"cleanup: {e}")
            self.failed_cleanup = True
        for pid in pids + ([self.activated_pid] if self.activated_pid else []):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if self.bus_pid:
            try:
                os.kill(self.bus_pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        if not self.opts.keep:
            shutil.rmtree(self.tmp, ignore_errors=True)

    # -- calls

    def busctl(self, *args, check_ok=True):
        r = subprocess.run(["busctl", "--json=short", *args], env=self.env, capture_output=True, text=True,
                           timeout=60)
        if check_ok and r.returncode != 0:
            raise Failure(f"busctl {' '.join(args)[:200]}: {r.stderr.strip()}")
        return json.loads(r.stdout) if r.returncode == 0 and r.stdout.strip() else None

    def call(self, path, iface, method, sig="", *args):
        # "--": arguments such as "--kernel" are data, not busctl options.
        out = self.busctl("call", DEST, path, iface, method, sig, "--", *[str(a) for a in args]) if sig else \
            self.busctl("call", DEST, path, iface, method)
        return out["data"] if out else []

    def manager(self, method, sig="", *args):
        return self.call(MANAGER, "org.vmm.Manager", method, sig, *args)

    def vm(self, path, method):
        return self.call(path, "org.vmm.VM", method)

    def prop(self, path, name, iface="org.vmm.VM"):
        return self.busctl("get-property", DEST, path, iface, name)["data"]

    def list_vms(self):
        return self.manager("ListVMs")[0]

    def expect_error(self, name, path, iface, method, *args, sig=None):
        """Calls through gdbus, which prints the error name; returns the message."""
        cmd = ["gdbus", "call", "--address", self.address, "--dest", DEST, "--object-path", path,
               "--method", f"{iface}.{method}", *args]
        r = subprocess.run(cmd, env=self.env, capture_output=True, text=True, timeout=60)
        if r.returncode == 0:
            raise Failure(f"{method}{args!r:.100} succeeded, expected {name}: {r.stdout.strip()[:200]}")
        m = re.search(r"GDBus\.Error:([\w.]+): (.*)", r.stderr, re.S)
        got = m.group(1) if m else r.stderr.strip()
        if got != name:
            raise Failure(f"{method}{args!r:.100}: expected {name}, got {got}: {r.stderr.strip()[:300]}")
        msg = m.group(2).strip()
        check(len(msg) > 10, f"{method}: error {name} without a useful message: {msg!r}")
        return msg

    def create_args(self, name, args):
        return self.manager("CreateVMFromArgs", "sas", name, len(args), *args)[0]

    def create_json(self, name, cfg):
        return self.manager("CreateVM", "ss", name, json.dumps(cfg))[0]

    def vmmctl(self, *args, input=None, ok=True):
        r = subprocess.run([self.opts.vmmctl, *args], env=self.env, capture_output=True, text=True, timeout=60,
                           input=input)
        if ok and r.returncode != 0:
            raise Failure(f"vmmctl {' '.join(args)}: exit {r.returncode}: {r.stderr.strip()}")
        return r

    def monitor(self):
        m = Monitor(self)
        self.monitors.append(m)
        return m

    def wait_state(self, path, state, timeout=20):
        wait_until(lambda: self.prop(path, "State") == state, f"{path} State={state}", timeout)


class Monitor:
    """busctl monitor of everything org.vmm.Manager sends and receives."""

    def __init__(self, env):
        self.env = env
        self.msgs = []
        self.lock = threading.Lock()
        self.proc = subprocess.Popen(["busctl", "--json=short", "monitor", DEST], env=env.env,
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()
        # In place once it sees a call we make.
        def pinged():
            env.call(MANAGER, "org.freedesktop.DBus.Peer", "Ping")
            return any(m.get("member") == "Ping" for m in self.snapshot())
        wait_until(pinged, "busctl monitor to start")

    def _read(self):
        for line in self.proc.stdout:
            line = line.strip()
            if not line.startswith("{"):
                continue
            try:
                msg = json.loads(line)
            except ValueError:
                continue
            with self.lock:
                self.msgs.append(msg)

    def snapshot(self):
        with self.lock:
            return list(self.msgs)

    def signals(self, path=None, member=None):
        return [m for m in self.snapshot() if m.get("type") == "signal" and m.get("sender") != "org.freedesktop.DBus"
                and (path is None or m.get("path") == path) and (member is None or m.get("member") == member)]

    def events(self, path):
        return [tuple(m["payload"]["data"][:2]) for m in self.signals(path, "Event")]

    def event_records(self, path):
        return [m["payload"]["data"] for m in self.signals(path, "Event")]

    def states(self, path):
        out = []
        for m in self.signals(path, "PropertiesChanged"):
            changed = m["payload"]["data"][1]
            if "State" in changed:
                out.append(changed["State"]["data"])
        return out

    def wait_event(self, path, event, count=1, timeout=20):
        src, ev = event.split("/")
        wait_until(lambda: self.events(path).count((src, ev)) >= count, f"event {event} on {path}", timeout)

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def in_order(seq, wanted, what):
    """wanted appear in seq in this order (other items may come between)."""
    i = 0
    for item in seq:
        if i < len(wanted) and item == wanted[i]:
            i += 1
    check(i == len(wanted), f"{what}: expected {wanted} in order, got {seq}")


def payload_args(opts, test, serial, extra=()):
    return ["--kernel", opts.payload, "--cmdline", test, "--memory", "size=32M", "--serial", serial,
            "--console", "off", *extra]


def serial_text(path):
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except FileNotFoundError:
        return ""


# ----------------------------------------------------------------- cases

def normalize(elem):
    """An introspection element as a comparable tree (no comments, no text)."""
    return (elem.tag, tuple(sorted(elem.attrib.items())), tuple(normalize(c) for c in elem if isinstance(c.tag, str)))


def interface_of(xml_text, name):
    root = ET.fromstring(xml_text)
    for i in root.iter("interface"):
        if i.get("name") == name:
            return i
    raise Failure(f"interface {name} not in the introspection data")


def case_contract(env, opts):
    """Introspection equals dbus/*.xml; every bad input gets the right error and changes nothing."""
    path = env.create_json("contract", {"payload": {"kernel": opts.payload}, "console": {"mode": "Off"}})
    check(path == "/org/vmm/vm/contract", f"CreateVM returned {path}")
    for obj, iface, xml_file in ((MANAGER, "org.vmm.Manager", "org.vmm.Manager.xml"),
                                 (path, "org.vmm.VM", "org.vmm.VM.xml")):
        live = env.call(obj, "org.freedesktop.DBus.Introspectable", "Introspect")[0]
        with open(os.path.join(opts.source_root, "dbus", xml_file)) as f:
            want = f.read()
        a, b = normalize(interface_of(live, iface)), normalize(interface_of(want, iface))
        if a != b:
            raise Failure(f"{iface}: the running service differs from dbus/{xml_file}:\n live {a}\n file {b}")

    check(env.prop(MANAGER, "Version", "org.vmm.Manager") == "0.1.0", "Version")
    check(isinstance(env.prop(MANAGER, "HypervisorAvailable", "org.vmm.Manager"), bool), "HypervisorAvailable")
    check(env.prop(MANAGER, "VMs", "org.vmm.Manager") == [path], "VMs property")
    managed = env.call("/org/vmm", "org.freedesktop.DBus.ObjectManager", "GetManagedObjects")[0]
    check(path in managed and "org.vmm.VM" in managed[path], f"ObjectManager does not list {path}")
    check(managed[path]["org.vmm.VM"]["State"]["data"] == "created", "ObjectManager State")

    # Properties of a created VM.
    uuid = env.prop(path, "UUID")
    check(re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", uuid), f"UUID {uuid}")
    check(env.prop(path, "Name") == "contract", "Name")
    check(env.prop(path, "VCPUs") == 1, "VCPUs default 1")
    check(env.prop(path, "MemorySize") == 512 << 20, "MemorySize default 512M")
    check(env.prop(path, "PID") == 0 and env.prop(path, "StartedAt") == 0, "PID/StartedAt before Start")
    cfg = json.loads(env.prop(path, "Config"))
    check(cfg["payload"]["kernel"] == opts.payload and cfg["serial"]["mode"] == "Null", f"Config {cfg}")

    # The escaping of names in object paths.
    p2 = env.create_args("web-1.x_y", ["--kernel", opts.payload, "--cpus", "boot=2", "--memory", "size=64M",
                                       "--serial", "tty", "--console", "off"])
    check(p2 == "/org/vmm/vm/web_2d1_2ex_5fy", f"escaped path {p2}")
    check(env.prop(p2, "VCPUs") == 2 and env.prop(p2, "MemorySize") == 64 << 20, "CreateVMFromArgs sizes")
    check(json.loads(env.prop(p2, "Config"))["serial"]["mode"] == "Pty", "serial tty is mapped to pty")
    check(env.manager("GetVM", "s", "web-1.x_y")[0] == p2, "GetVM")

    before = sorted(os.listdir(env.state))
    vms_before = env.list_vms()
    good = json.dumps({"payload": {"kernel": opts.payload}})
    M, VM = "org.vmm.Manager", "org.vmm.VM"
    bad_names = ["", "a" * 65, "a/b", "a b", "ü", "../x", "x\n"]
    for n in bad_names:
        env.expect_error("org.freedesktop.DBus.Error.InvalidArgs", MANAGER, M, "CreateVM", n, good)
    env.expect_error("org.vmm.Error.AlreadyExists", MANAGER, M, "CreateVM", "contract", good)
    msg = env.expect_error("org.vmm.Error.InvalidConfig", MANAGER, M, "CreateVM", "j1", "{not json")
    env.expect_error("org.vmm.Error.InvalidConfig", MANAGER, M, "CreateVM", "j2", "[]")
    msg = env.expect_error("org.vmm.Error.InvalidConfig", MANAGER, M, "CreateVM", "j3",
                           json.dumps({"payload": {"kernel": "k"}, "bogus": 1}))
    check("bogus" in msg, f"unknown field not named: {msg}")
    msg = env.expect_error("org.vmm.Error.InvalidConfig", MANAGER, M, "CreateVM", "j4",
                           json.dumps({"payload": {"kernel": "k"}, "cpus": {"boot_vcpus": "two"}}))
    check("boot_vcpus" in msg, f"wrong type not located: {msg}")
    env.expect_error("org.vmm.Error.InvalidConfig", MANAGER, M, "CreateVM", "j5",
                     json.dumps({"cpus": {"boot_vcpus": 4, "max_vcpus": 2}, "payload": {"kernel": "k"}}))
    env.expect_error("org.vmm.Error.InvalidConfig", MANAGER, M, "CreateVM", "j6", json.dumps({}))
    env.expect_error("org.vmm.Error.NotSupported", MANAGER, M, "CreateVM", "j7",
                     json.dumps({"payload": {"kernel": "k"}, "watchdog": True}))
    env.expect_error("org.vmm.Error.InvalidConfig", MANAGER, M, "CreateVMFromArgs", "a1", "['--kernel']")
    env.expect_error("org.vmm.Error.InvalidConfig", MANAGER, M, "CreateVMFromArgs", "a2", "['--bogus', 'x']")
    env.expect_error("org.vmm.Error.InvalidConfig", MANAGER, M, "CreateVMFromArgs", "a3", "@as []")
    msg = env.expect_error("org.vmm.Error.InvalidConfig", MANAGER, M, "CreateVMFromArgs", "a4",
                           f"['--kernel', '{opts.payload}', '--api-socket', 'path=/tmp/x']")
    check("--api-socket" in msg, f"process option not named: {msg}")
    env.expect_error("org.vmm.Error.InvalidConfig", MANAGER, M, "CreateVMFromArgs", "a5",
                     f"['--kernel', '{opts.payload}', '--cpus', 'boot=4,max=2']")
    env.expect_error("org.vmm.Error.NotFound", MANAGER, M, "GetVM", "nope")
    env.expect_error("org.vmm.Error.NotFound", MANAGER, M, "DeleteVM", "nope")
    env.expect_error("org.freedesktop.DBus.Error.UnknownObject", "/org/vmm/vm/nope", VM, "Start")
    env.expect_error("org.freedesktop.DBus.Error.InvalidArgs", MANAGER, M, "CreateVM", "x")
    for method in ("Pause", "Resume", "Shutdown", "Reboot", "PowerOff", "GetCounters"):
        env.expect_error("org.vmm.Error.InvalidState", path, VM, method)
    # Oversized JSON (over 1 MiB) goes through vmmctl's stdin: argv cannot hold it.
    big = json.dumps({"payload": {"kernel": "k", "cmdline": "x" * (1 << 20)}})
    r = env.vmmctl("create", "big", "--config", "-", input=big, ok=False)
    check(r.returncode == 1 and "bytes" in r.stderr, f"oversized JSON: exit {r.returncode} {r.stderr.strip()}")
    check(env.list_vms() == vms_before, "a refused call changed the VM list")
    check(sorted(os.listdir(env.state)) == before, f"a refused call changed the state directory: {os.listdir(env.state)}")

    # GetInfo without a VMM: vmmd's view.
    info = json.loads(env.vm(path, "GetInfo")[0])
    check(info["name"] == "contract" and info["state"] == "created" and info["vmm"] is None, f"GetInfo {info}")

    # Autostart is writable and persisted; definitions survive a restart.
    env.busctl("set-property", DEST, path, "org.vmm.VM", "Autostart", "b", "true")
    check(env.prop(path, "Autostart") is True, "Autostart not set")
    config = env.prop(path, "Config")
    env.stop_vmmd(signal.SIGKILL)
    env.start_vmmd()
    check(env.prop(path, "UUID") == uuid and env.prop(path, "Config") == config, "definition changed over a restart")
    check(env.prop(path, "Autostart") is True, "Autostart not persisted")
    check(sorted(v[0] for v in env.list_vms()) == ["contract", "web-1.x_y"], f"VMs after restart {env.list_vms()}")
    check(not any(f.endswith(".tmp") for f in os.listdir(env.state)), "temporary files left in the state dir")

    # A broken definition is set aside, not fatal.
    with open(os.path.join(env.state, "broken.json"), "w") as f:
        f.write("{")
    env.stop_vmmd()
    env.start_vmmd()
    check(os.path.exists(os.path.join(env.state, "broken.json.broken")), "broken definition not set aside")
    check(len(env.list_vms()) == 2, "broken definition loaded")

    # Delete: signals, object gone, file gone.
    mon = env.monitor()
    env.manager("DeleteVM", "s", "web-1.x_y")
    wait_until(lambda: mon.signals(MANAGER, "VMDeleted"), "VMDeleted")
    wait_until(lambda: mon.signals("/org/vmm", "InterfacesRemoved"), "InterfacesRemoved")
    check(mon.signals(MANAGER, "VMDeleted")[0]["payload"]["data"] == ["web-1.x_y", p2], "VMDeleted arguments")
    env.expect_error("org.freedesktop.DBus.Error.UnknownObject", p2, "org.freedesktop.DBus.Properties", "Get",
                     "org.vmm.VM", "State")
    check(not os.path.exists(os.path.join(env.state, "web-1.x_y.json")), "definition file left after DeleteVM")
    env.create_json("again", {"payload": {"kernel": opts.payload}})
    wait_until(lambda: mon.signals(MANAGER, "VMCreated"), "VMCreated")
    wait_until(lambda: mon.signals("/org/vmm", "InterfacesAdded"), "InterfacesAdded")


def case_lifecycle(env, opts):
    """Start, events in order, pause/resume, reboot, power button, poweroff, delete."""
    serial = os.path.join(env.tmp, "life.serial")
    mon = env.monitor()
    path = env.create_json("life", {
        "payload": {"kernel": opts.payload, "cmdline": "test=powerbtn timeout=120"},
        "memory": {"size": 32 << 20}, "serial": {"mode": "File", "file": serial}, "console": {"mode": "Off"}})
    env.vm(path, "Start")
    check(env.prop(path, "State") == "running", "State after Start returned")
    pid = env.prop(path, "PID")
    check(pid > 0 and os.path.exists(f"/proc/{pid}"), f"PID {pid}")
    check(env.prop(path, "StartedAt") > 0, "StartedAt")
    in_order(mon.events(path), [("vmm", "starting"), ("vm", "booting"), ("vm", "booted")], "boot events")
    in_order(mon.states(path), ["starting", "running"], "State changes at Start")
    ts = [r[3] for r in mon.event_records(path)]
    check(ts == sorted(ts) and abs(ts[0] - time.time() * 1e6) < 60e6, f"event timestamps {ts}")
    env.expect_error("org.vmm.Error.InvalidState", path, "org.vmm.VM", "Start")
    env.expect_error("org.vmm.Error.InvalidState", MANAGER, "org.vmm.Manager", "DeleteVM", "life")

    info = json.loads(env.vm(path, "GetInfo")[0])
    check(info["state"] == "running" and info["vmm"]["state"] == "Running" and info["vmm"]["pid"] == pid,
          f"GetInfo {info}")
    # The guest's SMBIOS system UUID is the VM's, as libvirt does; the definition does not change.
    uuid = env.prop(path, "UUID")
    check(info["vmm"]["config"].get("platform", {}).get("uuid") == uuid,
          f"the VMM's platform {info['vmm']['config'].get('platform')}, VM UUID {uuid}")
    check((json.loads(env.prop(path, "Config")).get("platform") or {}).get("uuid") is None,
          "the VM's UUID was written into its definition")
    counters = json.loads(env.vm(path, "GetCounters")[0])
    check("vcpu0" in counters and "bus" in counters, f"GetCounters {counters}")

    wait_until(lambda: "READY powerbtn" in serial_text(serial), "the guest to arm the power button")
    env.vm(path, "Pause")
    check(env.prop(path, "State") == "paused", "State after Pause")
    env.expect_error("org.vmm.Error.InvalidState", path, "org.vmm.VM", "Pause")
    env.expect_error("org.vmm.Error.InvalidState", path, "org.vmm.VM", "Shutdown")
    env.vm(path, "Resume")
    check(env.prop(path, "State") == "running", "State after Resume")
    mon.wait_event(path, "vm/resumed")
    in_order(mon.events(path), [("vm", "pausing"), ("vm", "paused"), ("vm", "resuming"), ("vm", "resumed")],
             "pause events")
    in_order(mon.states(path), ["starting", "running", "paused", "running"], "State changes at Pause/Resume")

    env.vm(path, "Reboot")
    mon.wait_event(path, "vm/rebooted")
    in_order(mon.events(path), [("vm", "rebooting"), ("vm", "rebooted")], "reboot events")
    # The first boot's READY lines do not count: the button must find the
    # second boot listening, so look after its BOOT line only.
    wait_until(lambda: serial_text(serial).count("BOOT ") >= 2
               and "READY powerbtn" in serial_text(serial).rsplit("BOOT ", 1)[1],
               "the second boot to arm the power button")
    check(env.prop(path, "PID") == pid, "Reboot changed the VMM process")

    env.vm(path, "Shutdown")
    env.wait_state(path, "shutdown")
    check("INFO power button pressed" in serial_text(serial), "the guest did not see the power button")
    in_order(mon.states(path), ["running", "shutting-down", "shutdown"], "State changes at Shutdown")
    mon.wait_event(path, "vm/shutdown")
    check(env.prop(path, "PID") == 0, "PID after shutdown")
    check(env.prop(path, "ExitReason") == "the guest powered off", f"ExitReason {env.prop(path, 'ExitReason')}")

    # Again, from args, with a pty serial, and PowerOff.
    p2 = env.create_args("life2", payload_args(opts, "test=powerbtn timeout=120", "pty"))
    env.vm(p2, "Start")
    console = env.prop(p2, "ConsolePath")
    check(re.fullmatch(r"/dev/pts/\d+", console), f"ConsolePath {console!r}")
    env.vm(p2, "PowerOff")
    check(env.prop(p2, "State") == "shutdown", "State after PowerOff returned")
    check(env.prop(p2, "ExitReason") == "powered off by PowerOff", f"ExitReason {env.prop(p2, 'ExitReason')}")
    check(env.prop(p2, "ConsolePath") == "", "ConsolePath after PowerOff")
    # Start after shutdown works.
    env.vm(path, "Start")
    env.vm(path, "PowerOff")
    for n in ("life", "life2"):
        env.manager("DeleteVM", "s", n)
    check(env.list_vms() == [], "VMs left after DeleteVM")
    check(os.listdir(env.state) == [], f"state dir after DeleteVM: {os.listdir(env.state)}")


def case_crash(env, opts):
    """kill -9 of one VMM among several -> crashed, the others untouched; a VM that fails -> crashed."""
    mon = env.monitor()
    paths = []
    for i in range(6):
        paths.append(env.create_args(f"vm{i}", payload_args(opts, "test=powerbtn timeout=120", "null")))
    for p in paths:
        env.vm(p, "Start")
    pids = [env.prop(p, "PID") for p in paths]
    check(len(set(pids)) == len(pids) and all(pids), f"PIDs {pids}")
    victim = paths[2]
    os.kill(pids[2], signal.SIGKILL)
    env.wait_state(victim, "crashed")
    reason = env.prop(victim, "ExitReason")
    check("signal 9" in reason, f"ExitReason {reason!r}")
    mon.wait_event(victim, "vm/crashed")
    crashed = [r for r in mon.event_records(victim) if r[:2] == ["vm", "crashed"]]
    check(crashed[0][2].get("reason") == reason, f"vm/crashed properties {crashed[0][2]}")
    check(env.prop(victim, "PID") == 0, "PID of the crashed VM")
    for p, pid in zip(paths, pids):
        if p != victim:
            check(env.prop(p, "State") == "running" and os.path.exists(f"/proc/{pid}"), f"{p} was disturbed")
    # A crashed VM starts again.
    env.vm(victim, "Start")
    check(env.prop(victim, "State") == "running" and env.prop(victim, "ExitReason") == "", "restart after crash")

    # The guest triple-faults: the VMM reports vm/crashed itself and exits 1.
    tf = env.create_args("tf", payload_args(opts, "test=triplefault", "null"))
    env.busctl("call", DEST, tf, "org.vmm.VM", "Start", check_ok=False)
    env.wait_state(tf, "crashed")
    check(env.prop(tf, "ExitReason").startswith("the VM crashed"), f"ExitReason {env.prop(tf, 'ExitReason')}")

    # A VMM that cannot start at all: Start fails with VmmFailed and says why.
    bad = env.create_args("badkernel", ["--kernel", "/nonexistent/kernel", "--serial", "null", "--console", "off"])
    msg = env.expect_error("org.vmm.Error.VmmFailed", bad, "org.vmm.VM", "Start")
    check("/nonexistent/kernel" in msg, f"Start failure does not say why: {msg}")
    check(env.prop(bad, "State") == "crashed", "State after a failed start")

    for p in paths:
        env.vm(p, "PowerOff")
    check(all(env.prop(p, "State") == "shutdown" for p in paths), "PowerOff of all")
    check(env.vmmd.poll() is None, "vmmd died")


def case_vmmctl(env, opts):
    """The command line: create, list, info, start, pause, resume, events, poweroff, delete, exit codes."""
    cfg = os.path.join(env.tmp, "vm.json")
    with open(cfg, "w") as f:
        json.dump({"payload": {"kernel": opts.payload, "cmdline": "test=powerbtn timeout=120"},
                   "memory": {"size": 32 << 20}, "serial": {"mode": "Null"}, "console": {"mode": "Off"},
                   "balloon": {"size": 8 << 20}}, f)
    r = env.vmmctl("create", "c1", "--config", cfg)
    check("c1" in r.stdout, f"create output {r.stdout!r}")
    env.vmmctl("create", "c2", "--", *payload_args(opts, "test=powerbtn timeout=120", "null"))
    listing = json.loads(env.vmmctl("--json", "list").stdout)
    check([v["name"] for v in listing] == ["c1", "c2"] and listing[0]["state"] == "created", f"list {listing}")
    check("c2" in env.vmmctl("list").stdout, "plain list")

    ev_out = os.path.join(env.tmp, "events.out")
    with open(ev_out, "w") as f:
        follower = subprocess.Popen([opts.vmmctl, "--json", "events", "c1"], env=env.env, stdout=f,
                                    stderr=subprocess.DEVNULL)
    try:
        time.sleep(0.5)  # the match is added before the first event can come
        env.vmmctl("start", "c1")
        info = json.loads(env.vmmctl("--json", "info", "c1").stdout)
        check(info["state"] == "running" and info["pid"] > 0, f"info {info}")
        check("running" in env.vmmctl("info", "c1").stdout, "plain info")
        check("vcpu0" in env.vmmctl("counters", "c1").stdout, "counters")
        env.vmmctl("pause", "c1")
        r = env.vmmctl("pause", "c1", ok=False)
        check(r.returncode == 4 and "paused" in r.stderr, f"pause twice: {r.returncode} {r.stderr!r}")
        env.vmmctl("resume", "c1")
        # VM.ResizeBalloon: the running VMM's target follows; the definition keeps its size.
        env.vmmctl("balloon", "c1", "4M")
        info = json.loads(env.vmmctl("--json", "info", "c1").stdout)
        check(info["vmm"]["config"]["balloon"]["size"] == 4 << 20, f"balloon after resize: {info['vmm']['config']}")
        r = env.vmmctl("balloon", "c1", "64G", ok=False)
        check(r.returncode == 1 and "RAM" in r.stderr, f"balloon past RAM: {r.returncode} {r.stderr!r}")
        r = env.vmmctl("balloon", "c1", "lots", ok=False)
        check(r.returncode == 2, f"balloon with a bad size: {r.returncode} {r.stderr!r}")
        r = env.vmmctl("balloon", "c2", "4M", ok=False)
        check(r.returncode == 4, f"balloon of a stopped VM: {r.returncode} {r.stderr!r}")
        r = env.vmmctl("delete", "c1", ok=False)
        check(r.returncode == 4, f"delete running: exit {r.returncode}")
        env.vmmctl("poweroff", "c1")

        def seen():
            with open(ev_out) as f:
                return [(e["source"], e["event"]) for e in map(json.loads, f.read().split("\n")[:-1])]
        wait_until(lambda: ("vmm", "shutdown") in seen(), "vmmctl events to print vmm/shutdown")
        in_order(seen(), [("vm", "booted"), ("vm", "paused"), ("vm", "resumed"), ("vm", "shutdown")],
                 "vmmctl events")
    finally:
        follower.terminate()
        follower.wait(5)

    r = env.vmmctl("start", "nope", ok=False)
    check(r.returncode == 3 and "nope" in r.stderr, f"start nope: {r.returncode} {r.stderr!r}")
    r = env.vmmctl("frobnicate", ok=False)
    check(r.returncode == 2, f"unknown command: exit {r.returncode}")
    r = env.vmmctl("create", "x", "--config", "/nonexistent.json", ok=False)
    check(r.returncode == 1 and "nonexistent" in r.stderr, f"missing config file: {r.returncode} {r.stderr!r}")
    r = env.vmmctl("create", "bad name", "--", "--kernel", opts.payload, ok=False)
    check(r.returncode == 1 and "invalid VM name" in r.stderr, f"bad name: {r.returncode} {r.stderr!r}")
    env.vmmctl("delete", "c1")
    env.vmmctl("delete", "c2")
    check(json.loads(env.vmmctl("--json", "list").stdout) == [], "list after delete")
    # No service: exit 5.
    env.stop_vmmd()
    r = env.vmmctl("list", ok=False)
    check(r.returncode == 5, f"no service: exit {r.returncode} {r.stderr!r}")


def case_readopt(env, opts):
    """kill -9 of vmmd with VMs running: the next vmmd re-adopts them, state, events and all."""
    serial = os.path.join(env.tmp, "a.serial")
    pa = env.create_json("a", {
        "payload": {"kernel": opts.payload, "cmdline": "test=powerbtn timeout=120"},
        "memory": {"size": 32 << 20}, "serial": {"mode": "File", "file": serial}, "console": {"mode": "Off"}})
    pb = env.create_args("b", payload_args(opts, "test=powerbtn timeout=120", "pty"))
    pc = env.create_args("c", payload_args(opts, "test=powerbtn timeout=120", "null"))
    for p in (pa, pb):
        env.vm(p, "Start")
    env.vm(pb, "Pause")
    before = {p: (env.prop(p, "PID"), env.prop(p, "StartedAt"), env.prop(p, "ConsolePath"))
              for p in (pa, pb, pc)}
    defs = sorted(os.listdir(env.state))
    wait_until(lambda: "READY powerbtn" in serial_text(serial), "the guest to arm the power button")

    env.stop_vmmd(signal.SIGKILL)
    for p in (pa, pb):
        pid = before[p][0]
        check(os.path.exists(f"/proc/{pid}"), f"the VMM {pid} of {p} did not survive vmmd")
    env.start_vmmd()

    check(sorted(os.listdir(env.state)) == defs, f"definitions after restart: {os.listdir(env.state)}")
    check([v[0] for v in env.list_vms()] == ["a", "b", "c"], f"VMs after restart: {env.list_vms()}")
    # Seen as soon as the name is owned: adoption finishes before that.
    check(env.prop(pa, "State") == "running", f"a: State {env.prop(pa, 'State')}")
    check(env.prop(pb, "State") == "paused", f"b: State {env.prop(pb, 'State')}")
    check(env.prop(pc, "State") == "created", f"c: State {env.prop(pc, 'State')}")
    for p in (pa, pb):
        pid, started, console = before[p]
        check(env.prop(p, "PID") == pid, f"{p}: PID {env.prop(p, 'PID')}, was {pid}")
        check(abs(env.prop(p, "StartedAt") - started) < 1e6, f"{p}: StartedAt {env.prop(p, 'StartedAt')} vs {started}")
        check(env.prop(p, "ConsolePath") == console, f"{p}: ConsolePath {env.prop(p, 'ConsolePath')!r}")
    info = json.loads(env.vm(pb, "GetInfo")[0])
    check(info["state"] == "paused" and info["vmm"]["state"] == "Paused", f"GetInfo after adoption {info}")
    env.expect_error("org.vmm.Error.InvalidState", pa, "org.vmm.VM", "Start")

    # Events flow again, on the control channel now.
    mon = env.monitor()
    env.vm(pb, "Resume")
    check(env.prop(pb, "State") == "running", "b: State after Resume")
    mon.wait_event(pb, "vm/resumed")
    ts = [r[3] for r in mon.event_records(pb)]
    check(all(abs(t - time.time() * 1e6) < 30e6 for t in ts), f"event timestamps after adoption {ts}")
    env.vm(pa, "Shutdown")
    env.wait_state(pa, "shutdown")
    check("INFO power button pressed" in serial_text(serial), "the adopted guest did not see the power button")
    in_order(mon.states(pa), ["shutting-down", "shutdown"], "State changes at Shutdown after adoption")
    mon.wait_event(pa, "vm/shutdown")
    check(env.prop(pa, "ExitReason") == "the guest powered off", f"a: ExitReason {env.prop(pa, 'ExitReason')}")
    check(env.prop(pa, "PID") == 0, "a: PID after shutdown")
    env.vm(pb, "PowerOff")
    check(env.prop(pb, "State") == "shutdown", "b: State after PowerOff")
    check(env.prop(pb, "ExitReason") == "powered off by PowerOff", f"b: ExitReason {env.prop(pb, 'ExitReason')}")
    # The socket is ours again: Start works, a VMM killed from outside is a crash.
    env.vm(pa, "Start")
    env.stop_vmmd(signal.SIGKILL)
    env.start_vmmd()
    check(env.prop(pa, "State") == "running", "a: not re-adopted the second time")
    mon2 = env.monitor()
    os.kill(env.prop(pa, "PID"), signal.SIGKILL)
    env.wait_state(pa, "crashed")
    mon2.wait_event(pa, "vm/crashed")
    check("unknown" in env.prop(pa, "ExitReason"), f"a: ExitReason {env.prop(pa, 'ExitReason')}")


def case_autostart(env, opts):
    """Autostart VMs start with vmmd, once: a re-adopted one is not started again."""
    pa = env.create_args("auto", payload_args(opts, "test=powerbtn timeout=120", "null"))
    pb = env.create_args("manual", payload_args(opts, "test=powerbtn timeout=120", "null"))
    env.busctl("set-property", DEST, pa, "org.vmm.VM", "Autostart", "b", "true")
    env.stop_vmmd()
    env.start_vmmd()
    env.wait_state(pa, "running")
    check(env.prop(pb, "State") == "created", f"manual: State {env.prop(pb, 'State')}")
    pid = env.prop(pa, "PID")
    env.stop_vmmd(signal.SIGKILL)
    env.start_vmmd()
    check(env.prop(pa, "State") == "running", f"auto: State {env.prop(pa, 'State')} after restart")
    check(env.prop(pa, "PID") == pid, f"auto: PID {env.prop(pa, 'PID')}, was {pid}: started twice")
    with open(env.vmmd_log) as f:
        check("Autostart failed" not in f.read(), "an Autostart failure in vmmd's log")
    env.vm(pa, "PowerOff")
    # Autostart of a VM that cannot start is logged, never fatal.
    env.busctl("set-property", DEST, pb, "org.vmm.VM", "Autostart", "b", "true")
    env.stop_vmmd()
    saved, env.opts.vmm = env.opts.vmm, "/nonexistent/vmm"
    try:
        env.start_vmmd()
    finally:
        env.opts.vmm = saved
    check(env.prop(pb, "State") == "created" and env.prop(pa, "State") == "created", "states without a VMM")
    wait_until(lambda: "Autostart failed" in open(env.vmmd_log).read(), "the Autostart failure to be logged")


POLKIT_RULES = """
// The dbus suite's rule: uid "daemon" may manage VMs, nobody else (but root).
polkit.addRule(function(action, subject) {
    if (action.id == "org.vmm.manage" && subject.user == "daemon")
        return polkit.Result.YES;
});
"""


def start_polkitd(env, opts):
    """polkitd on the private bus, seeing only the project's actions and the test's rules.

    polkitd reads fixed directories; a mount namespace of its own puts ours
    there without touching the host's."""
    polkitd = "/usr/lib/polkit-1/polkitd"
    if not os.path.exists(polkitd):
        raise Skip("polkitd is not installed (Debian package polkitd)")
    for tool in ("unshare", "setpriv"):
        if not shutil.which(tool):
            raise Skip(f"{tool} is not installed")
    actions, rules = os.path.join(env.tmp, "pk-actions"), os.path.join(env.tmp, "pk-rules")
    os.makedirs(actions)
    os.makedirs(rules)
    shutil.copy(os.path.join(opts.source_root, "polkit", "org.vmm.policy"), actions)
    with open(os.path.join(rules, "50-vmm-test.rules"), "w") as f:
        f.write(POLKIT_RULES)
    for d in (env.tmp, actions, rules):
        os.chmod(d, 0o755)  # polkitd runs as its own user; the test's callers as nobody/daemon
    os.chmod(os.path.join(rules, "50-vmm-test.rules"), 0o644)
    log = open(os.path.join(env.tmp, "polkitd.log"), "w")
    script = (f"mount --bind {actions} /usr/share/polkit-1/actions && "
              f"mount --bind {rules} /etc/polkit-1/rules.d && exec {polkitd}")
    proc = subprocess.Popen(["unshare", "--mount", "--propagation", "private", "sh", "-c", script], env=env.env,
                            stdout=log, stderr=subprocess.STDOUT)

    def owned():
        if proc.poll() is not None:
            return True
        r = subprocess.run(["busctl", "--json=short", "call", "org.freedesktop.DBus", "/org/freedesktop/DBus",
                            "org.freedesktop.DBus", "NameHasOwner", "s", "org.freedesktop.PolicyKit1"],
                           env=env.env, capture_output=True, text=True, timeout=10)
        return r.returncode == 0 and json.loads(r.stdout)["data"][0]
    wait_until(owned, "polkitd to own org.freedesktop.PolicyKit1")
    if proc.poll() is not None:
        with open(os.path.join(env.tmp, "polkitd.log")) as f:
            raise Skip(f"polkitd cannot run here: {f.read().strip()[-300:]}")
    return proc


def as_user(env, user, *args):
    cmd = ["setpriv", f"--reuid={user}", f"--regid={user if user != 'nobody' else 'nogroup'}", "--clear-groups",
           *args]
    return subprocess.run(cmd, env=env.env, capture_output=True, text=True, timeout=60)


def gdbus_as(env, user, path, iface, method, *args):
    r = as_user(env, user, "gdbus", "call", "--address", env.address, "--dest", DEST, "--object-path", path,
                "--method", f"{iface}.{method}", *args)
    m = re.search(r"GDBus\.Error:([\w.]+): (.*)", r.stderr, re.S)
    return r.returncode, (m.group(1) if m else r.stderr.strip()), r.stdout


def case_polkit(env, opts):
    """A real polkitd: non-root callers may read, need org.vmm.manage to change anything; root always may."""
    # The bus admits polkitd's name (its own policy file, as on the system bus).
    env.stop_vmmd()
    os.kill(env.bus_pid, signal.SIGTERM)
    env.extra_policy = "/usr/share/dbus-1/system.d/org.freedesktop.PolicyKit1.conf"
    if not os.path.exists(env.extra_policy):
        raise Skip(f"{env.extra_policy} is missing")
    os.chmod(env.tmp, 0o755)
    env.start_bus()
    pk = start_polkitd(env, opts)
    try:
        env.start_vmmd()
        path = env.create_args("pk", payload_args(opts, "test=powerbtn", "null"))
        refused = ("org.freedesktop.DBus.Error.InteractiveAuthorizationRequired",
                   "org.freedesktop.DBus.Error.AccessDenied")

        def state():
            return env.list_vms(), sorted(os.listdir(env.state)), env.prop(path, "Autostart"), env.prop(path, "State")
        before = state()
        # Reads are open.
        rc, err, out = gdbus_as(env, "nobody", MANAGER, "org.vmm.Manager", "ListVMs")
        check(rc == 0 and "pk" in out, f"ListVMs as nobody: {rc} {err}")
        rc, err, out = gdbus_as(env, "nobody", path, "org.freedesktop.DBus.Properties", "Get", "org.vmm.VM", "State")
        check(rc == 0 and "created" in out, f"Get State as nobody: {rc} {err}")
        rc, err, out = gdbus_as(env, "nobody", path, "org.vmm.VM", "GetInfo")
        check(rc == 0 and "pk" in out, f"GetInfo as nobody: {rc} {err}")
        # State changes are refused, and change nothing.
        for call in ((MANAGER, "org.vmm.Manager", "CreateVMFromArgs", "x", f"['--kernel', '{opts.payload}']"),
                     (MANAGER, "org.vmm.Manager", "DeleteVM", "pk"),
                     (path, "org.vmm.VM", "Start"), (path, "org.vmm.VM", "PowerOff"),
                     (path, "org.vmm.VM", "ResizeBalloon", "4194304"), (path, "org.vmm.VM", "ResizeVCPUs", "2"),
                     (path, "org.vmm.VM", "AddDisk", '{"path": "/x"}'), (path, "org.vmm.VM", "RemoveDevice", "_disk0"),
                     (path, "org.freedesktop.DBus.Properties", "Set", "org.vmm.VM", "Autostart", "<true>")):
            rc, err, _ = gdbus_as(env, "nobody", *call)
            check(rc != 0 and err in refused, f"{call[2]} as nobody: expected a refusal, got {rc} {err}")
        check(state() == before, f"a refused call changed something: {state()} vs {before}")
        r = as_user(env, "nobody", "busctl", "--allow-interactive-authorization=no", "call", DEST, path,
                    "org.vmm.VM", "Start")
        check(r.returncode != 0, "Start through busctl as nobody")
        # The rule lets "daemon" manage.
        rc, err, _ = gdbus_as(env, "daemon", path, "org.freedesktop.DBus.Properties", "Set", "org.vmm.VM",
                              "Autostart", "<true>")
        check(rc == 0, f"Set Autostart as daemon: {rc} {err}")
        check(env.prop(path, "Autostart") is True, "Autostart after daemon set it")
        with open(os.path.join(env.state, "pk.json")) as f:
            check(json.load(f)["autostart"] is True, "Autostart persisted")
        rc, err, _ = gdbus_as(env, "daemon", MANAGER, "org.vmm.Manager", "CreateVMFromArgs", "d",
                              f"['--kernel', '{opts.payload}']")
        check(rc == 0, f"CreateVMFromArgs as daemon: {rc} {err}")
        rc, err, _ = gdbus_as(env, "daemon", MANAGER, "org.vmm.Manager", "DeleteVM", "d")
        check(rc == 0, f"DeleteVM as daemon: {rc} {err}")
        # Bad arguments from an authorized caller still get their own error.
        rc, err, _ = gdbus_as(env, "daemon", MANAGER, "org.vmm.Manager", "DeleteVM", "nope")
        check(err == "org.vmm.Error.NotFound", f"DeleteVM nope as daemon: {err}")
        # Root never asks.
        env.busctl("set-property", DEST, path, "org.vmm.VM", "Autostart", "b", "false")
    finally:
        pk.terminate()
        pk.wait(10)
    # Without polkit nobody but root changes anything (fail closed).
    rc, err, _ = gdbus_as(env, "daemon", MANAGER, "org.vmm.Manager", "DeleteVM", "pk")
    check(rc != 0 and err == "org.freedesktop.DBus.Error.AccessDenied", f"DeleteVM without polkitd: {rc} {err}")
    check([v[0] for v in env.list_vms()] == ["pk"], "the VM after a refused DeleteVM")
    env.manager("DeleteVM", "s", "pk")


def case_console(env, opts):
    """OpenConsole hands out the serial pty; vmmctl console shows what the guest writes."""
    path = env.create_args("con", payload_args(opts, "test=powerbtn timeout=120", "pty"))
    pnull = env.create_args("nocon", payload_args(opts, "test=powerbtn timeout=120", "null"))
    env.expect_error("org.vmm.Error.InvalidState", path, "org.vmm.VM", "OpenConsole")
    env.vm(path, "Start")
    env.vm(pnull, "Start")
    env.expect_error("org.vmm.Error.NotSupported", pnull, "org.vmm.VM", "OpenConsole")
    env.vm(pnull, "PowerOff")
    out = os.path.join(env.tmp, "console.out")
    with open(out, "wb") as f:
        con = subprocess.Popen([opts.vmmctl, "console", "con"], env=env.env, stdin=subprocess.PIPE, stdout=f,
                               stderr=subprocess.PIPE)
    try:
        # What the guest wrote before anyone attached waits in the pty.
        wait_until(lambda: "READY powerbtn" in serial_text(out), "the guest's serial output through OpenConsole")
        env.vm(path, "Shutdown")
        wait_until(lambda: "power button pressed" in serial_text(out), "the power button message on the console")
        # The VM stopping ends the console (the pty hangs up).
        rc = con.wait(20)
        check(rc == 0, f"vmmctl console exit {rc}: {con.stderr.read()!r}")
    finally:
        if con.poll() is None:
            con.kill()
            con.wait()
    env.wait_state(path, "shutdown")
    r = env.vmmctl("console", "con", ok=False)
    check(r.returncode == 4, f"console of a stopped VM: exit {r.returncode} {r.stderr!r}")


def case_units(env, opts):
    """The units pass systemd-analyze verify (binaries pointed at the build)."""
    if not shutil.which("systemd-analyze"):
        raise Skip("systemd-analyze is not installed")
    d = os.path.join(env.tmp, "units")
    os.makedirs(d)
    for name in ("vmmd.service", "vmm@.service"):
        with open(os.path.join(opts.build_root, "units", name)) as f:
            text = f.read()
        text = re.sub(r"ExecStart=\S*/vmmd", f"ExecStart={opts.vmmd}", text)
        text = re.sub(r"(Exec\w+)=\S*/vmmctl", lambda m: f"{m.group(1)}={opts.vmmctl}", text)
        with open(os.path.join(d, name), "w") as f:
            f.write(text)
    r = subprocess.run(["systemd-analyze", "verify", "--man=no", os.path.join(d, "vmmd.service"),
                        os.path.join(d, "vmm@test.service")], capture_output=True, text=True, cwd=d, timeout=60)
    # Lines about other units on the host are not ours.
    ours = [l for l in (r.stdout + r.stderr).splitlines() if "vmm" in l]
    check(r.returncode == 0 and not ours, f"systemd-analyze verify: {r.returncode}: {ours or r.stderr}")


def ini_keys(path):
    """The section headers and key=value pairs of a .service file (D-Bus or systemd)."""
    sections, keys = [], {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line.startswith("["):
                sections.append(line)
            elif "=" in line and not line.startswith("#"):
                k, v = line.split("=", 1)
                keys.setdefault(k, v)
    return sections, keys


def bus_pid_of(env, name):
    return env.busctl("call", "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
                      "GetConnectionUnixProcessID", "s", name)["data"][0]


def stop_activated(env, pid, since):
    """SIGTERM to a vmmd the bus started; it must exit 0. Its log is the
    bus's stderr, from offset since on."""
    os.kill(pid, signal.SIGTERM)

    def reaped():
        # (0, 0) while the child runs, (pid, status) once it exited.
        got = os.waitpid(pid, os.WNOHANG)
        return got if got[0] else None
    _, status = wait_until(reaped, f"the activated vmmd {pid} to exit")
    check(os.waitstatus_to_exitcode(status) == 0,
          f"the activated vmmd exited with {os.waitstatus_to_exitcode(status)} on SIGTERM")
    wait_until(lambda: not env.name_has_owner(), "org.vmm.Manager to be released")
    env.activated_pid = None
    with open(env.vmmd_log, errors="replace") as f:
        log = f.read()[since:]
    check("signal 15: stopping" in log and "Sanitizer" not in log, f"the activated vmmd did not stop cleanly:\n{log[-2000:]}")


def case_activation(env, opts):
    """No vmmd running: the first call to org.vmm.Manager starts it through the bus's activation file."""
    # The file meson installs (dbus/org.vmm.Manager.service, configured) must
    # name our bus name, the unit that owns it, and the binary that unit runs.
    base = "org.vmm.Manager.service"
    built = os.path.join(opts.build_root, "dbus", base)
    sections, keys = ini_keys(built)
    _, unit = ini_keys(os.path.join(opts.build_root, "units", "vmmd.service"))
    check(sections == ["[D-BUS Service]"], f"{built}: sections {sections}")
    check(keys.get("Name") == DEST and base == DEST + ".service",
          f"{built}: Name={keys.get('Name')} (the system bus looks services up by file name)")
    check(keys.get("SystemdService") == "vmmd.service", f"{built}: SystemdService={keys.get('SystemdService')}")
    check(unit.get("BusName") == DEST, f"vmmd.service: BusName={unit.get('BusName')}")
    check(keys.get("User") == "root", f"{built}: User={keys.get('User')} (only root may own {DEST})")
    check(keys.get("Exec", "").startswith("/") and keys.get("Exec") == unit.get("ExecStart"),
          f"{built}: Exec={keys.get('Exec')} is not the unit's ExecStart={unit.get('ExecStart')}")

    # This bus's copy: the same file with Exec= running the built vmmd on the
    # test's directories; no vmmd runs until a call needs it.
    env.stop_vmmd()
    os.kill(env.bus_pid, signal.SIGTERM)
    # The bus double-forks what it activates; as a subreaper this test
    # inherits the orphan and reads its exit status.
    check(ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0,
          f"PR_SET_CHILD_SUBREAPER: {os.strerror(ctypes.get_errno())}")
    svcdir = os.path.join(env.tmp, "services")
    os.makedirs(svcdir, exist_ok=True)
    argv = [opts.vmmd, "--state-dir", env.state, "--runtime-dir", env.run, "--vmm", opts.vmm, "--debug"]
    with open(built) as f:
        text = re.sub(r"(?m)^Exec=.*$", "Exec=" + " ".join(argv), f.read())
    service = os.path.join(svcdir, base)
    with open(service, "w") as f:
        f.write(text)
    env.vmmd_log = os.path.join(env.tmp, "bus.log")
    env.start_bus(log=open(env.vmmd_log, "a"))
    try:
        check(not env.name_has_owner(), "org.vmm.Manager is owned before any call")
        names = env.busctl("call", "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
                           "ListActivatableNames")["data"][0]
        check(DEST in names, f"{DEST} not activatable: {names}")

        # The first call starts vmmd and is answered by it.
        since = os.path.getsize(env.vmmd_log)
        t0 = time.monotonic()
        check(env.list_vms() == [], "ListVMs through activation")
        took = time.monotonic() - t0
        env.activated_pid = pid = bus_pid_of(env, DEST)
        with open(f"/proc/{pid}/cmdline") as f:
            cmdline = f.read().split("\0")[:-1]
        check(cmdline == argv, f"the activated process runs {cmdline}, not {argv}")
        print(f"activation: the first call answered after {took * 1e3:.0f} ms")
        # Fully working: it runs VMs with the VMM its Exec= line names.
        path = env.create_args("act", payload_args(opts, "test=powerbtn timeout=120", "null"))
        env.vm(path, "Start")
        check(env.prop(path, "State") == "running", "State after Start on the activated vmmd")
        env.vm(path, "PowerOff")
        stop_activated(env, pid, since)

        # Stopped, it comes back on the next call, with the definitions it stored.
        since = os.path.getsize(env.vmmd_log)
        check([v[0] for v in env.list_vms()] == ["act"], "the VM after re-activation")
        env.activated_pid = pid2 = bus_pid_of(env, DEST)
        check(pid2 != pid, "re-activation reused the old process")
        env.manager("DeleteVM", "s", "act")
        stop_activated(env, pid2, since)

        # Without the file, nothing starts vmmd: it was the activation file.
        os.remove(service)
        env.busctl("call", "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus", "ReloadConfig")
        env.expect_error("org.freedesktop.DBus.Error.ServiceUnknown", MANAGER, "org.vmm.Manager", "ListVMs")
    finally:
        # A call made while cleaning up must not start a vmmd nobody stops.
        if os.path.exists(service):
            os.remove(service)
            env.busctl("call", "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
                       "ReloadConfig", check_ok=False)


def case_ten_vms(env, opts):
    """Ten VMs at once: all run; kill -9 of one VMM crashes that one only; all shut down cleanly."""
    mon = env.monitor()
    n = 10
    serials = [os.path.join(env.tmp, f"ten{i}.serial") for i in range(n)]
    paths = [env.create_args(f"ten{i}", payload_args(opts, "test=powerbtn timeout=300", f"file={serials[i]}"))
             for i in range(n)]
    # All ten Start calls in flight at once.
    starts = [subprocess.Popen(["busctl", "call", DEST, p, "org.vmm.VM", "Start"], env=env.env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) for p in paths]
    for p, proc in zip(paths, starts):
        _, err = proc.communicate(timeout=60)
        check(proc.returncode == 0, f"Start of {p}: {err.strip()}")
    check(all(env.prop(p, "State") == "running" for p in paths), "not all ten running")
    pids = [env.prop(p, "PID") for p in paths]
    check(len(set(pids)) == n and all(os.path.exists(f"/proc/{pid}") for pid in pids), f"PIDs {pids}")
    for s in serials:
        wait_until(lambda: "READY powerbtn" in serial_text(s), f"{s}: the guest to arm the power button", 30)

    victim = 4
    os.kill(pids[victim], signal.SIGKILL)
    env.wait_state(paths[victim], "crashed")
    reason = env.prop(paths[victim], "ExitReason")
    check("signal 9" in reason, f"ExitReason {reason!r}")
    mon.wait_event(paths[victim], "vm/crashed")
    crashed = [r for r in mon.event_records(paths[victim]) if r[:2] == ["vm", "crashed"]]
    check(len(crashed) == 1 and crashed[0][2].get("reason") == reason, f"vm/crashed records {crashed}")
    check(env.prop(paths[victim], "PID") == 0, "PID of the crashed VM")

    others = [i for i in range(n) if i != victim]
    for i in others:
        p = paths[i]
        check(env.prop(p, "State") == "running" and env.prop(p, "PID") == pids[i] and env.prop(p, "ExitReason") == "",
              f"{p} was disturbed: {env.prop(p, 'State')} PID {env.prop(p, 'PID')}")
        info = json.loads(env.vm(p, "GetInfo")[0])
        check(info["vmm"]["pid"] == pids[i] and info["vmm"]["state"] == "Running", f"GetInfo of {p}: {info}")
        env.vm(p, "Pause")
        check(env.prop(p, "State") == "paused", f"{p} after Pause")
        env.vm(p, "Resume")
        check(env.prop(p, "State") == "running", f"{p} after Resume")
        check(("vm", "crashed") not in mon.events(p), f"{p} got a vm/crashed")

    # The crashed one starts again (its serial file emptied, so READY is the
    # new boot's); then the guests power off through the button.
    open(serials[victim], "w").close()
    env.vm(paths[victim], "Start")
    pids.append(env.prop(paths[victim], "PID"))
    wait_until(lambda: "READY powerbtn" in serial_text(serials[victim]), "the restarted guest to arm the button", 30)
    for p in paths:
        env.vm(p, "Shutdown")
    for p in paths:
        env.wait_state(p, "shutdown", 30)
        mon.wait_event(p, "vm/shutdown")
        check(env.prop(p, "ExitReason") == "the guest powered off" and env.prop(p, "PID") == 0,
              f"{p}: ExitReason {env.prop(p, 'ExitReason')!r} PID {env.prop(p, 'PID')}")
    check(all("INFO power button pressed" in serial_text(s) for s in serials), "a guest missed the power button")
    wait_until(lambda: not any(os.path.exists(f"/proc/{pid}") for pid in pids), "the VMM processes to go")
    check(env.vmmd.poll() is None, "vmmd died")


def case_install(env, opts):
    """meson install into a DESTDIR: every file under the prefix in its standard place, and every path the
    installed files name (activation Exec=, units, Documentation=, vmmd's default VMM) installed."""
    meson = shutil.which("meson")
    if not meson:
        raise Skip("meson is not in PATH")
    r = subprocess.run([meson, "introspect", "--buildoptions", opts.build_root], capture_output=True, text=True,
                       timeout=60)
    check(r.returncode == 0, f"meson introspect: {r.stderr.strip()}")
    o = {b["name"]: b["value"] for b in json.loads(r.stdout)}
    prefix = o["prefix"]
    dest = os.path.join(env.tmp, "dest")
    # --no-rebuild: the tests run on what is built; installing must not build.
    r = subprocess.run([meson, "install", "-C", opts.build_root, "--no-rebuild", "--quiet", "--destdir", dest],
                       capture_output=True, text=True, timeout=120)
    check(r.returncode == 0, f"meson install: {r.stdout.strip()} {r.stderr.strip()}")
    root = dest + prefix
    files = sorted(os.path.join(d, f) for d, _, fs in os.walk(dest) for f in fs)
    outside = [f for f in files if not f.startswith(root + "/")]
    check(files and not outside, f"installed outside the prefix {prefix}: {outside}")

    def at(*parts):
        return os.path.join(root, *parts)
    share = o["datadir"]
    standard = [at(o["bindir"], "vmm"), at(o["bindir"], "vmmctl"), at(o["libexecdir"], "vmmd"),
                at(share, "dbus-1", "system.d", "org.vmm.Manager.conf"),
                at(share, "dbus-1", "system-services", "org.vmm.Manager.service"),
                at(share, "dbus-1", "interfaces", "org.vmm.Manager.xml"),
                at(share, "dbus-1", "interfaces", "org.vmm.VM.xml"),
                at("lib", "systemd", "system", "vmmd.service"), at("lib", "systemd", "system", "vmm@.service"),
                at(share, "polkit-1", "actions", "org.vmm.policy"), at(share, "doc", "vmm", "service.md")]
    missing = [f[len(dest):] for f in standard if f not in files]
    check(not missing, f"not installed where expected: {missing}; installed: {[f[len(dest):] for f in files]}")

    # What the installed files point at is installed too.
    _, act = ini_keys(at(share, "dbus-1", "system-services", "org.vmm.Manager.service"))
    _, unit = ini_keys(at("lib", "systemd", "system", "vmmd.service"))
    _, tmpl = ini_keys(at("lib", "systemd", "system", "vmm@.service"))
    named = [act["Exec"], unit["ExecStart"], tmpl["ExecStart"].split()[0], tmpl["ExecStop"].split()[0]]
    named += [u["Documentation"][len("file://"):] for u in (unit, tmpl)]
    for path in named:
        check(os.path.exists(dest + path), f"{path} is named by an installed file but not installed")
    # Installed binaries run (meson drops the build's rpath).
    for exe, arg, want in ((at(o["bindir"], "vmm"), "--version", "0.1.0"),
                           (at(o["libexecdir"], "vmmd"), "--version", "0.1.0"),
                           (at(o["bindir"], "vmmctl"), "--help", "Usage")):
        r = subprocess.run([exe, arg], capture_output=True, text=True, timeout=10)
        check(r.returncode == 0 and want in r.stdout, f"installed {exe} {arg}: {r.returncode} {r.stderr}")
    r = subprocess.run([at(o["libexecdir"], "vmmd"), "--help"], capture_output=True, text=True, timeout=10)
    m = re.search(r"--vmm PATH.*\(default (\S+)\)", r.stdout)
    check(m and m.group(1) == os.path.join(prefix, o["bindir"], "vmm"), f"vmmd's default VMM: {r.stdout}")


def proc_fields(pid, name):
    """/proc/PID/<name> as {key: value} for its "Key:\tvalue" lines."""
    with open(f"/proc/{pid}/{name}") as f:
        return dict(line.rstrip("\n").split(":\t", 1) for line in f if ":\t" in line)


def proc_limits(pid):
    """/proc/PID/limits as {name: (soft, hard)}."""
    out = {}
    with open(f"/proc/{pid}/limits") as f:
        for line in f.readlines()[1:]:
            m = re.match(r"(.+?)\s{2,}(\S+)\s+(\S+)", line)
            if m:
                out[m.group(1)] = (m.group(2), m.group(3))
    return out


def case_unprivileged(env, opts):
    """vmmd opens the files (root's, mode 0600) and a tap; the VMM runs as --vmm-user, without
    capabilities, with no_new_privs, its own mount and IPC namespaces and resource limits, and still
    does its disk I/O and serial output; an adopted unprivileged VMM is still driven."""
    if os.geteuid() != 0:
        raise Skip("only root's vmmd switches the VMM's user")
    sys.path.insert(0, os.path.join(opts.source_root, "tests", "guest"))
    import run_guest
    import pwd
    user = pwd.getpwnam("daemon")  # not the fallback user: proves --vmm-user is what counts
    env.stop_vmmd()
    env.vmmd_args = ["--vmm-user", "daemon"]
    env.start_vmmd()

    # Everything the VMM uses is root's, 0600, in a 0700 directory: only vmmd can open it.
    os.chmod(env.tmp, 0o700)
    kernel = os.path.join(env.tmp, "kernel.elf")
    shutil.copyfile(opts.payload, kernel)
    img, ro_img = os.path.join(env.tmp, "disk.img"), os.path.join(env.tmp, "ro.img")
    size = (1 << 20) + 300
    cap = size // 512
    run_guest.make_image(img, size)
    run_guest.make_image(ro_img, 1 << 20)
    for f in (kernel, img, ro_img):
        os.chmod(f, 0o600)
    blk_serial, serial = os.path.join(env.tmp, "blk.serial"), os.path.join(env.tmp, "confined.serial")
    tap = f"vmmu{os.getpid() % 100000}"
    net = os.path.exists("/dev/net/tun")

    # A guest that writes its disk: the VMM has only the descriptor vmmd opened.
    blk = env.create_args("blk", ["--kernel", kernel, "--cmdline", f"test=blk cap={cap} serial=s42",
                                  "--memory", "size=32M", "--serial", f"file={blk_serial}", "--console", "off",
                                  "--disk", f"path={img},serial=s42"])
    env.vm(blk, "Start")
    env.wait_state(blk, "shutdown", timeout=60)
    check(env.prop(blk, "ExitReason") == "the guest powered off", f"blk ExitReason {env.prop(blk, 'ExitReason')}")
    check("PASS blk" in serial_text(blk_serial), f"the guest's disk test: {serial_text(blk_serial)[-500:]}")
    with open(img, "rb") as f:
        data = f.read()
    check(len(data) == size and data[:4096] == run_guest.seeded_pattern(4096, 1), "the guest's writes are not in the image")
    check(os.stat(img).st_uid == 0 and os.stat(img).st_mode & 0o777 == 0o600, "the image changed hands")

    extra = ["--disk", f"path={ro_img},readonly=on"]
    if net:
        extra += ["--net", f"tap={tap},ip=192.168.251.1,mask=255.255.255.0"]
    args = payload_args(opts, "test=powerbtn timeout=120", f"file={serial}", extra)
    confined = env.create_args("confined", ["--kernel", kernel] + args[2:])
    env.vm(confined, "Start")
    pid = env.prop(confined, "PID")
    wait_until(lambda: "READY powerbtn" in serial_text(serial), "the confined guest's serial output")

    st = proc_fields(pid, "status")
    check(st["Uid"].split() == [str(user.pw_uid)] * 4, f"VMM Uid {st['Uid']}")
    check(st["Gid"].split() == [str(user.pw_gid)] * 4, f"VMM Gid {st['Gid']}")
    check(st["Groups"].strip() == "", f"VMM supplementary groups {st['Groups']!r}")
    for c in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"):
        check(int(st[c], 16) == 0, f"VMM {c} {st[c]}")
    check(st["NoNewPrivs"] == "1", f"VMM NoNewPrivs {st['NoNewPrivs']}")
    for ns in ("mnt", "ipc"):
        mine, vmmd = os.readlink(f"/proc/{pid}/ns/{ns}"), os.readlink(f"/proc/{env.vmmd.pid}/ns/{ns}")
        check(mine != vmmd, f"the VMM shares vmmd's {ns} namespace {mine}")
    # Soft = hard = the VMM's share, never above vmmd's own hard limit (the
    # VMM gets less, not more).
    lim, vmmd_lim = proc_limits(pid), proc_limits(env.vmmd.pid)

    def limited(name, value):
        hard = vmmd_lim[name][1]
        want = str(value if hard == "unlimited" else min(value, int(hard)))
        check(lim[name] == (want, want), f"VMM {name} {lim[name]}, expected {want}")
    limited("Max open files", 4096)
    limited("Max core file size", 0)
    limited("Max locked memory", 32 << 20)
    with open(f"/proc/{pid}/maps") as f:
        asan = "libasan" in f.read()
    if asan:  # ASan reserves terabytes of shadow memory: no address-space limit there
        check(lim["Max address space"] == vmmd_lim["Max address space"], f"ASan VMM {lim['Max address space']}")
    else:
        limited("Max address space", (32 << 20) + (4 << 30))
    with open(os.path.join(env.run, "confined.config.json")) as f:
        ran = json.load(f)
    check(ran["payload"]["kernel"].startswith("/dev/fd/") and
          all(d["path"].startswith("/dev/fd/") for d in ran["disks"]) and ran["serial"]["file"].startswith("/dev/fd/"),
          f"the VMM's configuration names paths, not descriptors: {ran}")
    # vmmd runs every VMM with --landlock where the kernel has it; its only path rule is the VM's snapshot
    # directory, inherited as fd 7 (everything else is a descriptor already).
    abi = landlock_abi()
    with open(env.vmmd_log, errors="replace") as f:
        log = f.read()
    if abi > 0:
        check(ran.get("landlock_enable") is True and ran.get("landlock_rules") == [{"path": "/dev/fd/7", "access": "rw"}],
              f"the VMM runs without Landlock: {ran.get('landlock_enable')} {ran.get('landlock_rules')}")
        check(f"Landlock: ABI {abi}; VMMs run with --landlock" in log, "vmmd did not log the Landlock ABI")
        snapdir = os.stat(os.path.join(env.state, "snapshots", "confined"))
        check((snapdir.st_uid, snapdir.st_mode & 0o777) == (int(st["Uid"].split()[0]), 0o700),
              f"snapshot directory owner {snapdir.st_uid} mode {snapdir.st_mode & 0o777:o}")
    else:
        check(not ran.get("landlock_enable") and "Landlock: not available" in log,
              "without Landlock in the kernel vmmd must say so and run the VMM without it")
    if net:
        check(ran["net"][0].get("fds") and not ran["net"][0].get("tap"), f"net not handed over: {ran['net']}")
        with open(f"/sys/class/net/{tap}/flags") as f:
            check(int(f.read(), 16) & 1, f"tap {tap} is not up")
        addr = subprocess.run(["ip", "-4", "-o", "addr", "show", "dev", tap], capture_output=True, text=True)
        check("192.168.251.1/24" in addr.stdout, f"tap {tap} address: {addr.stdout} {addr.stderr}")
    # Nothing the configuration names is reachable by path for the VMM user.
    for path in (kernel, img, serial):
        r = subprocess.run(["setpriv", f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}", "--clear-groups",
                            "cat", path], capture_output=True)
        check(r.returncode != 0, f"the VMM user can read {path} by itself: the test proves nothing")

    # Re-adoption of an unprivileged VMM: kill -9 of vmmd, the next one drives it.
    env.stop_vmmd(signal.SIGKILL)
    env.start_vmmd()
    check(env.prop(confined, "State") == "running" and env.prop(confined, "PID") == pid, "adoption after restart")
    env.vm(confined, "Shutdown")
    env.wait_state(confined, "shutdown")
    check("INFO power button pressed" in serial_text(serial), "the adopted guest did not see the power button")
    if net:
        wait_until(lambda: not os.path.exists(f"/sys/class/net/{tap}"), "the tap to go with its VMM")


def tick_numbers(path):
    return [int(m.group(1)) for m in re.finditer(r"^TICK (\d+) \d+$", serial_text(path), re.M)]


def case_snapshot(env, opts):
    """VM.Snapshot of the paused guest, PowerOff, Manager.RestoreVM (vmmctl restore): the VM comes back
    paused, and after Resume the guest's ticks go on from the snapshot to the end, booted once. Snapshot
    of a running VM and RestoreVM of a running one are InvalidState; a damaged copy fails RestoreVM.
    The VM has a vsock device: the restored VMM listens on its socket again."""
    serial = os.path.join(env.tmp, "snap.serial")
    mon = env.monitor()
    ticks = 120
    # The VMM user makes the vsock socket: a directory it may write.
    sockdir = tempfile.mkdtemp(prefix="vmm-dbus-vsock-")
    os.chmod(sockdir, 0o777)
    vsock = os.path.join(sockdir, "v.sock")
    path = env.create_json("snap", {
        "payload": {"kernel": opts.payload, "cmdline": f"test=snapshot ticks={ticks} period_ms=20"},
        "memory": {"size": 32 << 20}, "serial": {"mode": "File", "file": serial}, "console": {"mode": "Off"},
        "vsock": {"cid": 3, "socket": vsock}})
    # vmmd makes the directory in the VM's snapshot directory, the only place its (Landlock-confined)
    # VMM may write; anywhere else is refused, and so is more than one level.
    snap = os.path.join(env.state, "snapshots", "snap", "one")
    url = "file://" + snap
    elsewhere = tempfile.mkdtemp(prefix="vmm-dbus-snap-")
    os.chmod(elsewhere, 0o777)

    def vsock_listens(when):
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            try:
                s.connect(vsock)
            except OSError as e:
                raise Failure(f"the vsock socket {when}: {e}")

    try:
        env.vm(path, "Start")
        wait_until(lambda: len(tick_numbers(serial)) >= 10, "10 ticks", timeout=20)
        vsock_listens("before the snapshot")
        env.expect_error("org.vmm.Error.InvalidState", path, "org.vmm.VM", "Snapshot", url)
        env.expect_error("org.vmm.Error.InvalidState", MANAGER, "org.vmm.Manager", "RestoreVM", "snap", url)
        env.vm(path, "Pause")
        for bad in ("file://" + elsewhere, url + "/deeper", os.path.dirname(url) + "/..",
                    os.path.dirname(url) + "/"):
            env.expect_error("org.freedesktop.DBus.Error.InvalidArgs", path, "org.vmm.VM", "Snapshot", bad)
        check(os.listdir(elsewhere) == [], "a refused Snapshot wrote nothing")
        env.call(path, "org.vmm.VM", "Snapshot", "s", url)
        mon.wait_event(path, "vm/snapshotted")
        check(env.prop(path, "State") == "paused", "State after Snapshot")
        time.sleep(0.2)
        before = tick_numbers(serial)
        check(before and before[-1] < ticks, f"the guest finished before the snapshot: {before[-3:]}")
        env.vm(path, "PowerOff")

        # A damaged copy (the memory file cut short), readable by the VMM user as the original is.
        bad = snap + "-bad"
        shutil.copytree(snap, bad)
        st = os.stat(os.path.join(snap, "memory"))
        for name in os.listdir(bad):
            os.chown(os.path.join(bad, name), st.st_uid, st.st_gid)
        os.chown(bad, st.st_uid, st.st_gid)
        os.truncate(os.path.join(bad, "memory"), st.st_size - 4096)
        env.expect_error("org.vmm.Error.VmmFailed", MANAGER, "org.vmm.Manager", "RestoreVM", "snap",
                         "file://" + bad)
        reason = env.prop(path, "ExitReason")
        check("truncated" in reason, f"ExitReason after the damaged restore: {reason!r}")

        env.vmmctl("restore", "snap", snap)
        check(env.prop(path, "State") == "paused", "State after RestoreVM")
        vsock_listens("after RestoreVM")
        time.sleep(0.3)
        check(tick_numbers(serial) == before, "the restored guest ran before Resume")
        env.vmmctl("resume", "snap")
        env.wait_state(path, "shutdown", timeout=30)
        got = tick_numbers(serial)
        check(got == list(range(1, ticks + 1)), f"ticks across the restore: {got[:3]}...{got[-3:]} "
              f"({len(got)}), expected 1..{ticks} once each")
        text = serial_text(serial)
        check(text.count("BOOT ") == 1 and "PASS snapshot" in text, "one boot and PASS snapshot in the serial log")
        in_order(mon.events(path), [("vm", "snapshotting"), ("vm", "snapshotted"), ("vm", "restoring"),
                                    ("vm", "restored"), ("vm", "resuming"), ("vm", "resumed")], "snapshot events")
    finally:
        shutil.rmtree(snap, ignore_errors=True)
        shutil.rmtree(snap + "-bad", ignore_errors=True)
        shutil.rmtree(elsewhere, ignore_errors=True)
        shutil.rmtree(sockdir, ignore_errors=True)


def case_hotplug(env, opts):
    """AddDisk of a root-owned 0600 image into a running guest whose VMM runs as another user (vmmd
    sends it the descriptor with vm.add-disk); the guest does I/O on it; RemoveDevice, the guest
    ejects it. Events device-added/device-removed carry id and bdf; the Config property and the stored
    definition follow each step (the removal only once the guest ejected). Bad inputs - malformed
    JSON, /dev/fd and /proc paths, unknown fields and ids, a stopped VM, a caller polkit refuses -
    get their error and change nothing."""
    if os.geteuid() != 0:
        raise Skip("only root's vmmd switches the VMM's user")
    sys.path.insert(0, os.path.join(opts.source_root, "tests", "guest"))
    import run_guest
    import pwd
    env.stop_vmmd()
    env.vmmd_args = ["--vmm-user", "daemon"]
    env.start_vmmd()
    # The bus socket open to "nobody"; the image in a 0700 directory, root's, 0600: only vmmd opens it.
    os.chmod(env.tmp, 0o755)
    private = os.path.join(env.tmp, "private")
    os.mkdir(private, 0o700)
    img = os.path.join(private, "hot.img")
    run_guest.make_image(img, 1 << 20)
    with open(img, "r+b") as f:
        f.write(run_guest.seeded_pattern(512, 7))
    os.chmod(img, 0o600)
    serial = os.path.join(env.tmp, "hotplug.serial")
    mon = env.monitor()
    path = env.create_args("hp", payload_args(opts, "test=hotplug", f"file={serial}"))
    VM = "org.vmm.VM"
    good = json.dumps({"path": img})

    def stored():
        with open(os.path.join(env.state, "hp.json")) as f:
            return json.load(f)["config"]

    def disks():
        cfg = json.loads(env.prop(path, "Config"))
        check(cfg == stored(), "the Config property differs from the stored definition")
        return cfg.get("disks") or []

    def device_events():
        return [(r[1], r[2]) for r in mon.event_records(path) if r[1].startswith("device-")]

    def config_changes():
        return sum("Config" in m["payload"]["data"][1] for m in mon.signals(path, "PropertiesChanged"))

    # Stopped: nothing to plug into.
    env.expect_error("org.vmm.Error.InvalidState", path, VM, "AddDisk", good)
    env.expect_error("org.vmm.Error.InvalidState", path, VM, "RemoveDevice", "_disk0")
    env.vm(path, "Start")
    wait_until(lambda: "READY hotplug-add" in serial_text(serial), "the guest to wait for a disk", timeout=30)
    uid = proc_fields(env.prop(path, "PID"), "status")["Uid"].split()[0]
    check(uid == str(pwd.getpwnam("daemon").pw_uid), f"the VMM runs as uid {uid}, not daemon")

    before = stored()
    for bad in ("{not json", "[]", json.dumps({"path": "/dev/fd/3"}), json.dumps({"path": "/proc/self/fd/3"}),
                json.dumps({"path": img, "bogus": 1}), json.dumps({"path": os.path.join(private, "missing.img")}),
                json.dumps({"path": img, "num_queues": -1})):
        env.expect_error("org.vmm.Error.InvalidConfig", path, VM, "AddDisk", bad)
    env.expect_error("org.vmm.Error.NotSupported", path, VM, "AddDisk", json.dumps({"readonly": True}))
    env.expect_error("org.vmm.Error.NotFound", path, VM, "RemoveDevice", "nope")
    refused = ("org.freedesktop.DBus.Error.InteractiveAuthorizationRequired",
               "org.freedesktop.DBus.Error.AccessDenied")
    for method, arg in (("AddDisk", good), ("AddNet", json.dumps({"tap": "x"})), ("RemoveDevice", "_disk0")):
        rc, err, _ = gdbus_as(env, "nobody", path, VM, method, arg)
        check(rc != 0 and err in refused, f"{method} as nobody: expected a refusal, got {rc} {err}")
    check(stored() == before and disks() == [], "a refused AddDisk changed the definition")
    check(device_events() == [] and config_changes() == 0, f"a refused call plugged something: {device_events()}")

    # vmmctl converts --disk syntax; the id is the VMM's default.
    got = env.vmmctl("add-disk", "hp", f"path={img}").stdout.strip()
    check(got == "_disk0", f"vmmctl add-disk printed {got!r}")
    mon.wait_event(path, "vm/device-added")
    (_, props), = device_events()
    check(props.get("id") == "_disk0" and re.fullmatch(r"0000:00:[0-1][0-9a-f]\.0", props.get("bdf", "")),
          f"device-added {props}")
    got_disks = disks()
    check([(d.get("path"), d.get("id")) for d in got_disks] == [(img, "_disk0")], f"stored disks {got_disks}")
    wait_until(lambda: config_changes() >= 1, "PropertiesChanged of Config")
    # Its id is taken now.
    msg = env.expect_error("org.vmm.Error.InvalidConfig", path, VM, "AddDisk",
                           json.dumps({"path": img, "id": "_disk0"}))
    check("not unique" in msg, f"a taken id: {msg}")
    slot = int(props["bdf"].split(":")[2].split(".")[0], 16)
    wait_until(lambda: f"READY hotplug-io slot={slot}\n" in serial_text(serial), "the guest's I/O", timeout=20)

    # Paused, the guest cannot eject: the disk stays defined until it does.
    env.vm(path, "Pause")
    env.vmmctl("remove-device", "hp", "_disk0")
    env.expect_error("org.vmm.Error.InvalidState", path, VM, "RemoveDevice", "_disk0")
    time.sleep(0.2)
    check(len(disks()) == 1 and [e for e, _ in device_events()] == ["device-added"], "removed before the eject")
    env.vm(path, "Resume")
    mon.wait_event(path, "vm/device-removed")
    check(device_events()[1] == ("device-removed", props), f"device events {device_events()}")
    wait_until(lambda: disks() == [], "the definition to drop the ejected disk")
    wait_until(lambda: config_changes() >= 2, "PropertiesChanged of Config after the eject")

    env.wait_state(path, "shutdown", timeout=30)
    text = serial_text(serial)
    check("PASS hotplug" in text, f"the guest's hotplug test: {text[-500:]}")
    with open(img, "rb") as f:
        data = f.read(1024)
    check(data[512:] == run_guest.seeded_pattern(512, 8), "the guest's write is not in the image")
    st = os.stat(img)
    check(st.st_uid == 0 and st.st_mode & 0o777 == 0o600, "the image changed hands")
    r = env.vmmctl("add-disk", "hp", f"path={img}", ok=False)
    check(r.returncode == 4, f"vmmctl add-disk on a stopped VM: exit {r.returncode} {r.stderr.strip()}")
    r = env.vmmctl("add-disk", "hp", "path=x,bogus=1", ok=False)
    check(r.returncode == 2 and "bogus" in r.stderr, f"vmmctl add-disk with a bad option: {r.returncode} {r.stderr}")
    check(stored().get("disks") in (None, []), "the definition after the run")

    # AddNet: vmmd opens the tap and sets up its host side, the VMM adopts the queue descriptor.
    env.expect_error("org.vmm.Error.InvalidConfig", path, VM, "AddNet", "{not json")
    if not os.path.exists("/dev/net/tun"):
        return
    tap = f"vmmh{os.getpid() % 100000}"
    net_serial = os.path.join(env.tmp, "net.serial")
    npath = env.create_args("hpnet", payload_args(opts, "test=powerbtn timeout=120", f"file={net_serial}"))
    env.vm(npath, "Start")
    wait_until(lambda: "READY powerbtn" in serial_text(net_serial), "the net guest's serial output")
    env.expect_error("org.vmm.Error.InvalidConfig", npath, VM, "AddNet", json.dumps({"fds": [3]}))
    got = env.vmmctl("add-net", "hpnet", f"tap={tap},ip=192.168.252.1,mask=255.255.255.0").stdout.strip()
    check(got == "_net0", f"vmmctl add-net printed {got!r}")
    mon.wait_event(npath, "vm/device-added")
    addr = subprocess.run(["ip", "-4", "-o", "addr", "show", "dev", tap], capture_output=True, text=True)
    check("192.168.252.1/24" in addr.stdout, f"tap {tap} address: {addr.stdout} {addr.stderr}")
    with open(os.path.join(env.state, "hpnet.json")) as f:
        nets = json.load(f)["config"].get("net") or []
    check([(n.get("tap"), n.get("id")) for n in nets] == [(tap, "_net0")], f"stored nets {nets}")
    info = json.loads(env.vm(npath, "GetInfo")[0])["vmm"]["config"]["net"]
    check(info[0].get("fds") and not info[0].get("tap"), f"the VMM's net is not the passed tap: {info}")
    env.vm(npath, "PowerOff")
    wait_until(lambda: not os.path.exists(f"/sys/class/net/{tap}"), "the tap to go with its VMM")
    # The next Start has the hot-added net from the definition.
    env.vm(npath, "Start")
    info = json.loads(env.vm(npath, "GetInfo")[0])["vmm"]["config"]["net"]
    check([n.get("id") for n in info] == ["_net0"] and os.path.exists(f"/sys/class/net/{tap}"),
          f"the restarted VM's nets: {info}")
    env.vm(npath, "PowerOff")


def case_vcpus(env, opts):
    """ResizeVCPUs adds vCPUs to a running VM up to its cpus.max_vcpus (vm.resize desired_vcpus): VCPUs,
    Config and the stored definition follow, with PropertiesChanged, and vm/resized arrives as an Event;
    zero, more than max and a stopped VM get their error and change nothing; vmmctl vcpus does the same.
    Fewer: the call returns once the guest is asked, and the definition follows when it ejected them (the
    test=cpuhp payload ejects as a processor's _EJ0 would). The next Start boots with the new count."""
    serial = os.path.join(env.tmp, "vcpus.serial")
    mon = env.monitor()
    path = env.create_args("cpu", payload_args(opts, "test=cpuhp", f"file={serial}", ("--cpus", "boot=1,max=3")))
    VM = "org.vmm.VM"

    def stored():
        with open(os.path.join(env.state, "cpu.json")) as f:
            return json.load(f)["config"]["cpus"]["boot_vcpus"]

    def defined():
        return json.loads(env.prop(path, "Config"))["cpus"]["boot_vcpus"], env.prop(path, "VCPUs"), stored()

    env.expect_error("org.vmm.Error.InvalidState", path, VM, "ResizeVCPUs", "2")
    env.vm(path, "Start")
    wait_until(lambda: "READY cpuhp-add" in serial_text(serial), "the guest to boot", timeout=30)
    for name, arg in (("org.freedesktop.DBus.Error.InvalidArgs", "0"), ("org.vmm.Error.InvalidConfig", "4")):
        env.expect_error(name, path, VM, "ResizeVCPUs", arg)
    check(defined() == (1, 1, 1), f"a refused ResizeVCPUs changed the definition: {defined()}")
    r = env.vmmctl("vcpus", "cpu", "two", ok=False)
    check(r.returncode != 0 and "not a vCPU count" in r.stderr, f"vmmctl vcpus cpu two: {r.returncode} {r.stderr}")

    env.call(path, VM, "ResizeVCPUs", "u", 2)
    check(defined() == (2, 2, 2), f"after ResizeVCPUs 2: Config, VCPUs, stored {defined()}")
    env.vmmctl("vcpus", "cpu", "3")
    check(defined() == (3, 3, 3), f"after vmmctl vcpus cpu 3: Config, VCPUs, stored {defined()}")
    counters = json.loads(env.call(path, VM, "GetCounters")[0])
    check(sorted(k for k in counters if k.startswith("vcpu")) == ["vcpu0", "vcpu1", "vcpu2"]
          and counters.get("cpu_hotplug", {}).get("plugs") == 2, f"GetCounters after the resizes: {counters}")
    wait_until(lambda: "READY cpuhp-remove" in serial_text(serial), "the guest to see vCPUs 1 and 2", timeout=30)

    # Fewer: asked of the guest, which ejects both; then the definition follows.
    env.call(path, VM, "ResizeVCPUs", "u", 1)
    wait_until(lambda: defined() == (1, 1, 1), "the definition to follow the guest's ejects", timeout=30)
    counters = json.loads(env.call(path, VM, "GetCounters")[0])
    check(sorted(k for k in counters if k.startswith("vcpu")) == ["vcpu0"]
          and counters.get("cpu_hotplug", {}).get("ejects") == 2, f"GetCounters after the ejects: {counters}")
    wait_until(lambda: "READY cpuhp-readd" in serial_text(serial), "the guest to wait for a vCPU again", timeout=30)
    env.vmmctl("vcpus", "cpu", "2")
    check(defined() == (2, 2, 2), f"after vmmctl vcpus cpu 2: Config, VCPUs, stored {defined()}")
    wait_until(lambda: "PASS cpuhp" in serial_text(serial), "the guest to see vCPU 1 again", timeout=30)
    # The guest's two ejects may be taken one at a time (3, 2, 1) or together (3, 1).
    wait_until(lambda: [r[2].get("vcpus") for r in mon.event_records(path) if r[1] == "resized"]
               in (["2", "3", "1", "2"], ["2", "3", "2", "1", "2"]), "the vm/resized events")
    events = len([r for r in mon.event_records(path) if r[1] == "resized"])
    changed = sum("VCPUs" in m["payload"]["data"][1] for m in mon.signals(path, "PropertiesChanged"))
    check(changed == events, f"{changed} PropertiesChanged of VCPUs for {events} vm/resized events")

    env.wait_state(path, "shutdown", timeout=30)
    env.vm(path, "Start")
    wait_until(lambda: serial_text(serial).count("READY cpuhp-add") == 2, "the guest to boot again", timeout=30)
    info = json.loads(env.call(path, VM, "GetInfo")[0])
    check(info["vmm"]["config"]["cpus"]["boot_vcpus"] == 2, f"the second Start's VMM: {info['vmm']['config']['cpus']}")
    env.vm(path, "PowerOff")


def case_memory(env, opts):
    """ResizeMemory plugs RAM into a VM defined with memory.hotplug_size (8 GiB reserved: vmmd's address-space
    limit for the VMM must count it): the test=memhp guest finds the two slots and writes over them; MemorySize,
    Config (hotplugged_size) and the stored definition follow; less than now is NotSupported, more than allowed
    InvalidConfig, a VM without hotplug_size NotSupported, a stopped VM InvalidState; vmmctl memory does the same;
    the next Start boots with the memory."""
    serial = os.path.join(env.tmp, "memory.serial")
    path = env.create_args("mem", ["--kernel", opts.payload, "--cmdline", "test=memhp", "--serial", f"file={serial}",
                                   "--console", "off", "--memory", "size=32M,hotplug_method=acpi,hotplug_size=8G"])
    plain = env.create_args("plain", payload_args(opts, "test=powerbtn", "null"))
    VM = "org.vmm.VM"
    MIB = 1 << 20

    def stored():
        with open(os.path.join(env.state, "mem.json")) as f:
            return json.load(f)["config"]["memory"].get("hotplugged_size")

    def defined():
        return (json.loads(env.prop(path, "Config"))["memory"].get("hotplugged_size"), env.prop(path, "MemorySize"),
                stored())

    env.expect_error("org.vmm.Error.InvalidState", path, VM, "ResizeMemory", str(288 * MIB))
    check(env.prop(path, "MemorySize") == 32 * MIB, "MemorySize before any plug")
    env.vm(path, "Start")
    wait_until(lambda: "READY memhp-add" in serial_text(serial), "the guest to boot", timeout=30)
    env.vm(plain, "Start")
    env.expect_error("org.vmm.Error.NotSupported", plain, VM, "ResizeMemory", str(288 * MIB))
    env.vm(plain, "PowerOff")
    for name, arg in (("org.vmm.Error.NotSupported", str(16 * MIB)),
                      ("org.vmm.Error.InvalidConfig", str(32 * MIB + (9 << 30)))):
        env.expect_error(name, path, VM, "ResizeMemory", arg)
    r = env.vmmctl("memory", "mem", "lots", ok=False)
    check(r.returncode != 0 and "not a size" in r.stderr, f"vmmctl memory mem lots: {r.returncode} {r.stderr}")
    check(defined() == (None, 32 * MIB, None), f"a refused resize changed the definition: {defined()}")

    env.call(path, VM, "ResizeMemory", "t", 160 * MIB)
    check(defined() == (128 * MIB, 160 * MIB, 128 * MIB), f"after ResizeMemory 160M: {defined()}")
    env.vmmctl("memory", "mem", "288M")
    check(defined() == (256 * MIB, 288 * MIB, 256 * MIB), f"after vmmctl memory mem 288M: {defined()}")
    wait_until(lambda: "READY memhp-snapshot" in serial_text(serial), "the guest to write over its new memory",
               timeout=30)
    check("FAIL" not in serial_text(serial), f"the guest failed: {serial_text(serial)[-400:]}")
    info = json.loads(env.call(path, VM, "GetInfo")[0])
    check(info["vmm"]["memory_actual_size"] == 288 * MIB, f"GetInfo: {info['vmm'].get('memory_actual_size')}")
    env.vm(path, "PowerOff")
    env.vm(path, "Start")
    info = json.loads(env.call(path, VM, "GetInfo")[0])
    check(info["vmm"]["memory_actual_size"] == 288 * MIB, f"the second Start: {info['vmm'].get('memory_actual_size')}")
    env.vm(path, "PowerOff")


CASES = {
    "contract": (case_contract, False),
    "lifecycle": (case_lifecycle, True),
    "crash": (case_crash, True),
    "vmmctl": (case_vmmctl, True),
    "readopt": (case_readopt, True),
    "autostart": (case_autostart, True),
    "polkit": (case_polkit, False),
    "console": (case_console, True),
    "units": (case_units, None),
    "activation": (case_activation, True),
    "ten-vms": (case_ten_vms, True),
    "install": (case_install, None),
    "unprivileged": (case_unprivileged, True),
    "snapshot": (case_snapshot, True),
    "hotplug": (case_hotplug, True),
    "vcpus": (case_vcpus, True),
    "memory": (case_memory, True),
}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--case", required=True, choices=sorted(CASES))
    ap.add_argument("--vmmd", required=True)
    ap.add_argument("--vmmctl", required=True)
    ap.add_argument("--vmm", required=True)
    ap.add_argument("--payload", required=True)
    ap.add_argument("--source-root", required=True)
    ap.add_argument("--build-root", required=True)
    ap.add_argument("--keep", action="store_true")
    opts = ap.parse_args()
    # meson passes paths relative to the build directory; vmmd and the units need them absolute.
    for k in ("vmmd", "vmmctl", "vmm", "payload", "build_root"):
        setattr(opts, k, os.path.abspath(getattr(opts, k)))
    fn, needs_kvm = CASES[opts.case]

    env = None
    try:
        if needs_kvm is not None:
            for tool in ("dbus-daemon", "busctl", "gdbus"):
                if not shutil.which(tool):
                    raise Skip(f"{tool} is not installed")
        if needs_kvm:
            why = kvm_unusable()
            if why:
                raise Skip(why)
        env = Env(opts)
        if needs_kvm is not None:
            env.start_bus()
            env.start_vmmd()
        fn(env, opts)
        if env.vmmd and env.vmmd.poll() is not None:
            raise Failure(f"vmmd exited with {env.vmmd.returncode}")
    except Skip as e:
        print(f"SKIP: {e}")
        return SKIP
    except Failure as e:
        print(f"FAIL {opts.case}: {e}")
        if env:
            try:
                with open(env.vmmd_log) as f:
                    print("--- vmmd log (last 40 lines)\n" + "".join(f.readlines()[-40:]))
            except OSError:
                pass
        return 1
    finally:
        if env:
            env.cleanup()
    if env and getattr(env, "failed_cleanup", False):
        print(f"FAIL {opts.case}: vmmd did not stop cleanly")
        return 1
    print(f"PASS {opts.case}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
