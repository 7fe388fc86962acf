#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""The hostile-D-Bus case of the dbus suite (docs/security.md, "Service hardening").

Usage: test_hostile.py --vmmd VMMD --vmmctl VMMCTL --vmm VMM --payload PAYLOAD.elf
                       --source-root DIR --build-root DIR [--seconds N]

A private dbus-daemon and vmmd as in test_dbus.py (its Env is reused), then
several clients at once, each its own bus connection (rawbus.py: the wire
protocol itself, so nothing is off limits), for --seconds: random calls on
random objects, interfaces and signatures, hostile names, oversized input,
mutated JSON and argument lists, calls in wrong states, Set on read-only
properties, create/delete/start/poweroff races, introspection floods,
hundreds of calls pipelined and the connection dropped, hang-ups in the
middle of calls, a receiver that never reads, and a non-root caller
flooding state changes. Every reply is checked against what the contract
allows; no call may go unanswered.

Afterwards vmmd must still answer, its descriptors and memory must be back
near what they were after a warm-up, every VM defined with valid input and
not deleted must be intact (its file in the state directory, GetInfo,
Config, UUID, Autostart), the state directory and ListVMs must agree, no
VMM may be left running, and all of that again after a restart of vmmd.
Then the bus itself is stopped (SIGSTOP) while a VMM emits events: vmmd
drops signals beyond --max-queued-signals, says so once, stays small, and
recovers when the bus reads again. vmmd ends with SIGTERM and exit status 0
(under ASan: LeakSanitizer found nothing).
"""
import argparse
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rawbus  # noqa: E402
import test_dbus as T  # noqa: E402

DEST, MANAGER = T.DEST, T.MANAGER
M, VM, PROPS = "org.vmm.Manager", "org.vmm.VM", "org.freedesktop.DBus.Properties"
E = "org.freedesktop.DBus.Error."
V = "org.vmm.Error."

MAX_VMS = 48
QUEUED_SIGNALS = 64
# Errors a call may get when its input is wrong in some way; anything else
# (Failed, NoMemory, NoReply, ...) is a vmmd bug.
ANY_REFUSAL = {E + "UnknownMethod", E + "UnknownObject", E + "UnknownInterface", E + "UnknownProperty",
               E + "InvalidArgs", E + "PropertyReadOnly", V + "InvalidConfig", V + "NotSupported", V + "NotFound",
               V + "AlreadyExists", V + "InvalidState", V + "LimitExceeded", V + "VmmFailed"}
SLOW_CALLS = {"Start", "PowerOff", "Shutdown", "CreateVM", "CreateVMFromArgs"}


class HostileEnv(T.Env):
    """test_dbus.Env with vmmd's limits set for this case."""

    def start_vmmd(self):
        env = dict(self.env)
        # ASan's quarantine would keep 256 MiB of freed memory resident and
        # hide what the RSS check looks for; leaks are LeakSanitizer's job.
        env["ASAN_OPTIONS"] = ":".join(filter(None, [env.get("ASAN_OPTIONS"), "quarantine_size_mb=16"]))
        self.vmmd_out = open(self.vmmd_log, "a")
        self.vmmd = subprocess.Popen([self.opts.vmmd, "--state-dir", self.state, "--runtime-dir", self.run,
                                      "--vmm", self.opts.vmm, "--max-vms", str(MAX_VMS),
                                      "--max-queued-signals", str(QUEUED_SIGNALS)], env=env,
                                     stdout=self.vmmd_out, stderr=subprocess.STDOUT)
        T.wait_until(lambda: self.vmmd.poll() is not None or self.name_has_owner(), "vmmd to own its name")
        if self.vmmd.poll() is not None:
            raise T.Failure(f"vmmd exited with {self.vmmd.returncode}")

    def log_text(self):
        with open(self.vmmd_log, errors="replace") as f:
            return f.read()


def vm_path(name):
    """sd_bus_path_encode()."""
    return "/org/vmm/vm/" + "".join(c if c.isalnum() and c.isascii() else "_%02x" % ord(c) for c in name)


def fd_count(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        return int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1))


def vmm_processes(run_dir):
    """PIDs of VMMs started for this run: their stdout is <run_dir>/<name>.log."""
    out = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            if os.readlink(f"/proc/{pid}/fd/1").startswith(run_dir + "/"):
                out.append(int(pid))
        except OSError:
            continue
    return out


class Shared:
    """What the clients found and what they defined."""

    def __init__(self, opts, env):
        self.opts, self.env = opts, env
        self.lock = threading.Lock()
        self.problems = []
        self.ledger = {}  # name -> {"uuid", "config", "autostart"}: created with valid input, not deleted
        self.runners = []  # VMs that run the guest payload (lifecycle clients)
        self.stats = {}

    def problem(self, text):
        with self.lock:
            if len(self.problems) < 50:
                self.problems.append(text)

    def count(self, key):
        with self.lock:
            self.stats[key] = self.stats.get(key, 0) + 1


def valid_config(opts, rng):
    cmdline = "test=none " + "".join(rng.choice("abc =\"'\\$ü\u2603") for _ in range(rng.randrange(0, 40)))
    vcpus = rng.randrange(1, 5)
    cfg = {"payload": {"kernel": opts.payload, "cmdline": cmdline},
           "cpus": {"boot_vcpus": vcpus, "max_vcpus": vcpus},
           "memory": {"size": rng.choice([32, 64, 128]) << 20},
           "serial": {"mode": rng.choice(["Null", "Off", "Pty"])}, "console": {"mode": "Off"}}
    if rng.random() < 0.3:
        cfg["rng"] = {"src": "/dev/urandom"}
    return cfg


def mutate(rng, value, depth=0):
    """A random change somewhere in a JSON value."""
    choices = [lambda v: None, lambda v: "x" * rng.randrange(0, 300), lambda v: -1, lambda v: 2 ** 70,
               lambda v: 1.5, lambda v: [], lambda v: {}, lambda v: True, lambda v: "\u0000",
               lambda v: {"a": {"b": {"c": [[[[[[[[[[]]]]]]]]]]}}}, lambda v: "size=" * 50]
    if isinstance(value, dict) and value and depth < 4 and rng.random() < 0.7:
        key = rng.choice(list(value))
        out = dict(value)
        r = rng.random()
        if r < 0.25:
            del out[key]
        elif r < 0.4:
            out["bogus_" + str(rng.randrange(100))] = 1
        else:
            out[key] = mutate(rng, value[key], depth + 1)
        return out
    return rng.choice(choices)(value)


def mutate_text(rng, text):
    r = rng.random()
    if r < 0.3:
        i = rng.randrange(len(text))
        return text[:i]
    if r < 0.5:
        i = rng.randrange(len(text))
        return text[:i] + rng.choice(["{", "}", "[", "]", ",", ":", "\"", "\\u00", "\\ud800", "\x7f"]) + text[i:]
    if r < 0.6:
        return "[" * 5000 + "]" * 5000
    if r < 0.7:
        return text.replace("}", ', "payload": {"kernel": "k"}}', 1)  # a duplicate key
    return json.dumps(mutate(rng, json.loads(text)))


def valid_args(opts, rng):
    return ["--kernel", opts.payload, "--cmdline", "test=none", "--cpus", f"boot={rng.randrange(1, 4)}",
            "--memory", f"size={rng.choice([32, 64])}M", "--serial", "null", "--console", "off"]


def mutate_args(opts, rng):
    args = valid_args(opts, rng)
    r = rng.random()
    if r < 0.2:
        del args[rng.randrange(len(args))]
    elif r < 0.4:
        args.insert(rng.randrange(len(args) + 1), rng.choice(
            ["--api-socket", "path=/tmp/x", "--bogus", "-v", "--seccomp", "false", "--config", "--", "",
             "--disk", "path=", "--net", "tap=,mac=zz", "--cpus", "boot=0", "--memory", "size=1T"]))
    elif r < 0.5:
        args = ["--kernel"] * rng.randrange(1, 3000)  # beyond --max-args when long
    elif r < 0.6:
        args = args + ["--cmdline", "y" * (1 << 20)]  # beyond the size limit
    else:
        i = rng.randrange(len(args))
        args[i] = args[i] + rng.choice(["=", ",", ",,x=1", "\u2603", "\x01"])
    return args


def expect(shared, what, reply, ok, errors):
    """ok: success allowed; errors: the error names allowed."""
    if reply.error is None:
        if not ok:
            shared.problem(f"{what}: succeeded, expected one of {sorted(errors)}")
        return True
    if reply.error not in errors:
        shared.problem(f"{what}: got {reply.error}: {reply.text()[:200]} (allowed: {sorted(errors)}"
                       f"{', or success' if ok else ''})")
    elif len(reply.text()) < 10:
        shared.problem(f"{what}: {reply.error} without a useful message: {reply.text()!r}")
    return False


class Client(threading.Thread):
    """One connection making random calls until the deadline."""

    def __init__(self, shared, index, deadline, seed):
        super().__init__(daemon=True)
        self.shared, self.i, self.deadline = shared, index, deadline
        self.rng = random.Random(seed * 1000 + index)
        self.tag = seed % 100000  # names differ from one storm to the next
        self.opts = shared.opts
        self.owned = []
        self.n = 0
        self.conn = None

    def connect(self):
        if self.conn:
            self.conn.close()
        self.conn = rawbus.Connection(self.shared.env.address)

    def call(self, what, path, iface, member, sig="", args=(), timeout=None):
        if timeout is None:
            timeout = 45 if member in SLOW_CALLS else 20
        try:
            return self.conn.call(path, iface, member, sig, args, timeout=timeout)
        except rawbus.BusError as e:
            self.shared.problem(f"{what}: {e}")
            self.connect()
            return None

    def fresh(self, prefix):
        self.n += 1
        return f"{prefix}{self.tag}x{self.i}-{self.n}"

    def run(self):
        actions = [(self.random_call, 6), (self.create_owned, 3), (self.delete_owned, 2), (self.mutated_json, 3),
                   (self.mutated_args, 2), (self.bad_names, 1), (self.oversized, 1), (self.wrong_state, 2),
                   (self.properties, 2), (self.introspection_flood, 2), (self.hang_up_mid_call, 1),
                   (self.pipeline_and_leave, 1), (self.races, 2)]
        funcs = [f for f, w in actions for _ in range(w)]
        try:
            self.connect()
            while time.monotonic() < self.deadline:
                f = self.rng.choice(funcs)
                f()
                self.shared.count(f.__name__)
        except Exception as e:  # a bug in the test or a dead bus: report it, do not hide it
            self.shared.problem(f"client {self.i}: {type(e).__name__}: {e}")
        finally:
            if self.conn:
                self.conn.close()

    # -- the actions

    def target_path(self):
        pool = [MANAGER, "/", "/org", "/org/vmm", "/org/vmm/vm", "/org/vmm/vm/ghost", "/org/vmm/vm/_2f",
                "/org/vmm/vm/a/b/c", "/org/vmm/Manager/x", "/org/vmm/vm/_", vm_path("x" * 64), vm_path("x" * 65)]
        with self.shared.lock:
            pool += [vm_path(n) for n in self.shared.runners]
        return self.rng.choice(pool)

    def random_call(self):
        path = self.target_path()
        iface = self.rng.choice([M, VM, PROPS, "org.freedesktop.DBus.Introspectable", "org.freedesktop.DBus.Peer",
                                 "org.freedesktop.DBus.ObjectManager", "org.vmm.Bogus", "a.b", None])
        member = self.rng.choice(["ListVMs", "GetVM", "GetInfo", "GetCounters", "Start", "PowerOff", "Pause",
                                  "Resume", "Reboot", "OpenConsole", "Get", "GetAll", "Introspect", "Ping",
                                  "GetManagedObjects", "Bogus", "CreateVM", "DeleteVM", "Set", "X" * 255])
        sig, args = self.rng.choice([
            ("", ()), ("s", ("ghost",)), ("ss", ("ghost", "{}")), ("ss", (M, "VMs")), ("ss", (VM, "State")),
            ("s", (VM,)), ("i", (7,)), ("as", (["a"] * 100,)), ("a{sv}", ({"k": ("s", "v")},)),
            ("ssv", (VM, "Bogus", ("b", True))), ("(ss)", (("a", "b"),)), ("s", ("x" * 100000,)),
            ("ay", ([0] * 1000,)), ("v", (("s", "x"),)), ("sas", ("ghost", [])), ("o", ("/org/vmm",))])
        # Properties.Set of a real, writable property is the properties() action's
        # (it must keep the ledger right); here Set only gets what it refuses.
        if member == "Set" and sig == "ssv" and args[1] == "Autostart":
            return
        if member == "DeleteVM" and sig == "s" and args[0] != "ghost":
            return
        r = self.call(f"{iface}.{member}({sig}) on {path}", path, iface, member, sig, args)
        if r is not None:
            expect(self.shared, f"{iface}.{member}({sig}) on {path}", r, True, ANY_REFUSAL)

    def record(self, name):
        """A VM this client created with valid input: what it must look like at the end."""
        path = vm_path(name)
        cfg = self.call("Get Config", path, PROPS, "Get", "ss", (VM, "Config"))
        uuid = self.call("Get UUID", path, PROPS, "Get", "ss", (VM, "UUID"))
        if cfg is None or uuid is None or cfg.error or uuid.error:
            self.shared.problem(f"{name}: created, but Get Config/UUID fails")
            return
        with self.shared.lock:
            self.shared.ledger[name] = {"uuid": uuid.body[0], "config": json.loads(cfg.body[0]), "autostart": False}
        self.owned.append(name)

    def create_owned(self):
        name = self.fresh("c")
        cfg = valid_config(self.opts, self.rng)
        via_json = self.rng.random() < 0.5
        if via_json:
            r = self.call("CreateVM", MANAGER, M, "CreateVM", "ss", (name, json.dumps(cfg)))
        else:
            r = self.call("CreateVMFromArgs", MANAGER, M, "CreateVMFromArgs", "sas",
                          (name, valid_args(self.opts, self.rng)))
        if r is None or not expect(self.shared, f"CreateVM* {name}", r, True, {V + "LimitExceeded"}):
            return
        if r.body != [vm_path(name)]:
            self.shared.problem(f"CreateVM {name} returned {r.body}")
        self.record(name)
        got = self.shared.ledger.get(name, {}).get("config")
        # The resolved configuration keeps what was given (defaults fill the rest).
        if via_json and got and (got["payload"] != cfg["payload"] or got["cpus"]["boot_vcpus"] != cfg["cpus"]["boot_vcpus"]
                                 or got["memory"]["size"] != cfg["memory"]["size"]
                                 or got["serial"]["mode"] != cfg["serial"]["mode"]):
            self.shared.problem(f"{name}: Config {got} is not what was defined: {cfg}")

    def delete_owned(self):
        if not self.owned:
            return
        name = self.owned.pop(self.rng.randrange(len(self.owned)))
        r = self.call(f"DeleteVM {name}", MANAGER, M, "DeleteVM", "s", (name,))
        if r is not None and expect(self.shared, f"DeleteVM {name}", r, True, set()):
            with self.shared.lock:
                del self.shared.ledger[name]
            if os.path.exists(os.path.join(self.shared.env.state, name + ".json")):
                self.shared.problem(f"DeleteVM {name}: its definition is still there")

    def mutated_json(self):
        name = self.fresh("m")
        text = mutate_text(self.rng, json.dumps(valid_config(self.opts, self.rng)))
        r = self.call("CreateVM (mutated)", MANAGER, M, "CreateVM", "ss", (name, text))
        if r is not None and expect(self.shared, f"CreateVM {name} {text[:120]!r}", r, True,
                                    {V + "InvalidConfig", V + "NotSupported", V + "LimitExceeded"}):
            self.record(name)  # the mutation happened to be valid

    def mutated_args(self):
        name = self.fresh("a")
        args = mutate_args(self.opts, self.rng)
        r = self.call("CreateVMFromArgs (mutated)", MANAGER, M, "CreateVMFromArgs", "sas", (name, args))
        if r is not None and expect(self.shared, f"CreateVMFromArgs {name} {str(args)[:120]}", r, True,
                                    {V + "InvalidConfig", V + "NotSupported", V + "LimitExceeded"}):
            self.record(name)

    def bad_names(self):
        name = self.rng.choice(["", "a" * 65, "a/b", "a b", "ü", "\x01", "a\u202eb", "../x", "x\n", "*", "a" * 100000,
                                "\udcff".encode("utf-8", "surrogatepass").decode("utf-8", "replace")])
        good = json.dumps(valid_config(self.opts, self.rng))
        for member, sig, args in (("CreateVM", "ss", (name, good)), ("GetVM", "s", (name,)),
                                  ("DeleteVM", "s", (name,)), ("CreateVMFromArgs", "sas", (name, ["--kernel", "k"]))):
            r = self.call(f"{member} bad name", MANAGER, M, member, sig, args)
            if r is not None:
                expect(self.shared, f"{member}({name[:40]!r})", r, False, {E + "InvalidArgs"})

    def oversized(self):
        size = self.rng.choice([(1 << 20) + 1, 3 << 20])
        big = json.dumps({"payload": {"kernel": self.opts.payload, "cmdline": "x" * size}})
        r = self.call("CreateVM oversized", MANAGER, M, "CreateVM", "ss", (self.fresh("big"), big))
        if r is not None:
            expect(self.shared, "CreateVM of more than 1 MiB", r, False, {V + "InvalidConfig", V + "LimitExceeded"})
            if r.error == V + "InvalidConfig" and "bytes" not in r.text():
                self.shared.problem(f"oversized CreateVM: the message does not say why: {r.text()[:200]}")
        r = self.call("CreateVMFromArgs many", MANAGER, M, "CreateVMFromArgs", "sas",
                      (self.fresh("big"), ["--cmdline", "x"] * 700))
        if r is not None:
            expect(self.shared, "CreateVMFromArgs with 1400 options", r, False,
                   {V + "InvalidConfig", V + "LimitExceeded"})

    def wrong_state(self):
        if not self.owned:
            return
        name = self.rng.choice(self.owned)
        for method in ("Pause", "Resume", "Shutdown", "Reboot", "GetCounters", "OpenConsole", "PowerOff"):
            r = self.call(f"{method} {name}", vm_path(name), VM, method)
            if r is not None:
                expect(self.shared, f"{method} on created VM {name}", r, False, {V + "InvalidState"})

    def properties(self):
        if not self.owned:
            return
        name = self.rng.choice(self.owned)
        path = vm_path(name)
        for prop in ("State", "Name", "UUID", "Config", "PID", "VCPUs"):
            r = self.call(f"Set {prop}", path, PROPS, "Set", "ssv", (VM, prop, ("s", "x")))
            if r is not None:
                expect(self.shared, f"Set {prop}", r, False, {E + "PropertyReadOnly", E + "InvalidArgs"})
        for args in ((VM, "Autostart", ("s", "yes")), (VM, "Bogus", ("b", True)), (M, "Autostart", ("b", True)),
                     ("org.vmm.Bogus", "Autostart", ("b", True))):
            r = self.call(f"Set {args}", path, PROPS, "Set", "ssv", args)
            if r is not None:
                expect(self.shared, f"Set {args}", r, False,
                       {E + "InvalidArgs", E + "UnknownProperty", E + "UnknownInterface"})
        r = self.call("Set Version", MANAGER, PROPS, "Set", "ssv", (M, "Version", ("s", "9")))
        if r is not None:
            expect(self.shared, "Set Version", r, False, {E + "PropertyReadOnly"})
        value = self.rng.random() < 0.5
        r = self.call("Set Autostart", path, PROPS, "Set", "ssv", (VM, "Autostart", ("b", value)))
        if r is not None and expect(self.shared, f"Set Autostart of {name}", r, True, set()):
            with self.shared.lock:
                self.shared.ledger[name]["autostart"] = value

    def introspection_flood(self):
        for _ in range(20):
            path = self.target_path()
            self.conn.send(path, "org.freedesktop.DBus.Introspectable", "Introspect", dest=DEST)
        self.conn.send("/org/vmm", "org.freedesktop.DBus.ObjectManager", "GetManagedObjects", dest=DEST)
        r = self.call("ListVMs after a flood", MANAGER, M, "ListVMs")
        if r is not None:
            expect(self.shared, "ListVMs", r, True, set())

    def hang_up_mid_call(self):
        """Calls whose caller is gone by the time the answer is ready."""
        c = rawbus.Connection(self.shared.env.address)
        with self.shared.lock:
            runners = list(self.shared.runners)
        path = vm_path(self.rng.choice(runners)) if runners else MANAGER
        for member in self.rng.sample(["Start", "PowerOff", "GetInfo", "Pause", "Resume", "Shutdown"], 3):
            c.send(path, VM, member, dest=DEST)
        c.send(MANAGER, M, "CreateVM", "ss", (self.fresh("gone"), json.dumps(valid_config(self.opts, self.rng))),
               dest=DEST)
        c.close()

    def pipeline_and_leave(self):
        """Hundreds of calls without reading a reply, then gone."""
        c = rawbus.Connection(self.shared.env.address)
        with self.shared.lock:
            paths = [vm_path(n) for n in self.shared.runners] + [vm_path(n) for n in self.owned]
        for _ in range(self.rng.randrange(50, 300)):
            if paths and self.rng.random() < 0.5:
                c.send(self.rng.choice(paths), VM, "GetInfo", dest=DEST)
            else:
                c.send(MANAGER, M, "ListVMs", dest=DEST)
        c.close()

    def races(self):
        """Clients fighting over the same few names; not in the ledger, but
        they must end consistent (checked for every VM at the end)."""
        name = f"race-{self.rng.randrange(3)}"
        ops = []
        for _ in range(self.rng.randrange(2, 8)):
            member = self.rng.choice(["CreateVM", "DeleteVM", "Start", "PowerOff", "GetInfo"])
            if member == "CreateVM":
                cfg = valid_config(self.opts, self.rng)
                cfg["payload"]["cmdline"] = "test=powerbtn"
                ops.append((member, self.conn.send(MANAGER, M, member, "ss", (name, json.dumps(cfg)), dest=DEST)))
            elif member == "DeleteVM":
                ops.append((member, self.conn.send(MANAGER, M, member, "s", (name,), dest=DEST)))
            else:
                ops.append((member, self.conn.send(vm_path(name), VM, member, dest=DEST)))
        for member, serial in ops:
            r = self.conn.wait_reply(serial, 45)
            if r is None:
                self.shared.problem(f"race {member} {name}: no reply within 45 s")
                self.connect()
                return
            expect(self.shared, f"race {member} {name}", r, True,
                   {V + "AlreadyExists", V + "NotFound", V + "InvalidState", V + "LimitExceeded", E + "UnknownObject",
                    V + "VmmFailed"})


class Lifecycle(Client):
    """Runs the guest payload in a few VMs of its own and drives them hard."""

    def run(self):
        try:
            self.connect()
            names = runner_names(self.i)
            while time.monotonic() < self.deadline:
                name = self.rng.choice(names)
                path = vm_path(name)
                # Several at once, then every answer: the order vmmd sees
                # them in is the order they were sent.
                ops = [(m, self.conn.send(path, VM, m, dest=DEST)) for m in self.rng.choices(
                    ["Start", "Start", "PowerOff", "Pause", "Resume", "Shutdown", "Reboot", "GetInfo", "GetCounters"],
                    k=self.rng.randrange(1, 5))]
                for member, serial in ops:
                    r = self.conn.wait_reply(serial, 45)
                    if r is None:
                        self.shared.problem(f"{member} {name}: no reply within 45 s")
                        self.connect()
                        break
                    expect(self.shared, f"{member} {name}", r, True, {V + "InvalidState", V + "VmmFailed"})
                    # Start fails only when the same batch stopped the VMM it started.
                    if r.error == V + "VmmFailed" and member == "Start" and "PowerOff" not in r.text():
                        self.shared.problem(f"Start {name}: {r.text()}")
                self.shared.count("lifecycle")
        except Exception as e:
            self.shared.problem(f"lifecycle {self.i}: {type(e).__name__}: {e}")
        finally:
            if self.conn:
                self.conn.close()


def runner_names(index):
    return [f"run{index}-{k}" for k in range(2)]


def create_runners(env, opts, shared):
    """Before any storm: once the other clients have filled --max-vms,
    there would be no room for them."""
    c = rawbus.Connection(env.address)
    try:
        for i in (100, 101):
            for name in runner_names(i):
                r = c.call(MANAGER, M, "CreateVMFromArgs", "sas",
                           (name, T.payload_args(opts, "test=powerbtn", "null")))
                T.check(r.error is None, f"cannot create runner {name}: {r.error} {r.text()}")
                shared.runners.append(name)
    finally:
        c.close()


def nobody_client(address, count):
    """Run as nobody (--nobody-client): a flood of state changes, and reads between them."""
    c = rawbus.Connection(address)
    serials = []
    for i in range(count):
        serials.append(("CreateVM", c.send(MANAGER, M, "CreateVM", "ss", (f"nobody{i}", "{}"), dest=DEST)))
        if i % 10 == 0:
            serials.append(("ListVMs", c.send(MANAGER, M, "ListVMs", dest=DEST)))
    # Without an interface field: sd-bus must not dispatch it around the polkit check.
    serials.append(("CreateVM-no-interface", c.send(MANAGER, None, "CreateVM", "ss", ("nobodyx", "{}"), dest=DEST)))
    out = []
    for what, s in serials:
        r = c.wait_reply(s, 30)
        out.append([what, "timeout" if r is None else (r.error or "ok")])
    print(json.dumps(out))


def check_nobody(env):
    """A non-root caller: refused (no polkit runs), then rate-limited; reads stay open."""
    os.chmod(env.tmp, 0o755)
    r = subprocess.run(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", sys.executable,
                        os.path.abspath(__file__), "--nobody-client", env.address],
                       capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        raise T.Failure(f"the client as nobody failed: {r.stderr.strip()[-400:]}")
    out = json.loads(r.stdout)
    creates = [e for w, e in out if w == "CreateVM"]
    reads = [e for w, e in out if w == "ListVMs"]
    T.check(all(e == "ok" for e in reads), f"reads of a rate-limited caller refused: {reads}")
    T.check(set(creates) <= {E + "AccessDenied", V + "LimitExceeded"}, f"nobody's CreateVM got {set(creates)}")
    denied = creates.count(E + "AccessDenied")
    T.check(denied <= 50 + 5 and creates.count(V + "LimitExceeded") >= len(creates) - 55,
            f"nobody's flood: {denied} asked polkit (burst 50), {creates.count(V + 'LimitExceeded')} rate-limited")
    T.check(out[-1][1] != "ok", f"CreateVM without an interface from nobody: {out[-1][1]}")
    names = [v[0] for v in env.list_vms()]
    T.check(not any(n.startswith("nobody") for n in names), f"nobody created a VM: {names}")


def check_definitions(env, shared, when):
    """The ledger against the state directory and the service; every VM consistent."""
    c = rawbus.Connection(env.address)
    try:
        listed = {n: (s, p) for n, s, p in c.call(MANAGER, M, "ListVMs").body[0]}
        # "snapshots" holds the snapshot directory of each VM that was started; deleted with the VM.
        snapshots = os.path.join(env.state, "snapshots")
        T.check(not os.path.isdir(snapshots) or set(os.listdir(snapshots)) <= set(listed),
                f"{when}: snapshot directories of deleted VMs: {os.listdir(snapshots)}")
        files = sorted(f for f in os.listdir(env.state) if f != "snapshots")
        T.check(not [f for f in files if not f.endswith(".json")], f"{when}: stray files in the state dir: {files}")
        on_disk = {f[:-5] for f in files}
        T.check(on_disk == set(listed), f"{when}: state dir {sorted(on_disk ^ set(listed))[:10]} differs from ListVMs")
        T.check(len(listed) <= MAX_VMS, f"{when}: {len(listed)} VMs, more than --max-vms {MAX_VMS}")
        for name in listed:
            with open(os.path.join(env.state, name + ".json")) as f:
                d = json.load(f)
            info = c.call(vm_path(name), VM, "GetInfo")
            T.check(info.error is None, f"{when}: GetInfo {name}: {info.error}")
            info = json.loads(info.body[0])
            cfg = json.loads(c.call(vm_path(name), PROPS, "Get", "ss", (VM, "Config")).body[0])
            T.check(d["name"] == name == info["name"] and d["uuid"] == info["uuid"] and
                    d["config"] == info["config"] == cfg and d["autostart"] == info["autostart"],
                    f"{when}: {name}: the file, GetInfo and Config disagree:\n file {d}\n info {info}")
            want = shared.ledger.get(name)
            if want:
                T.check(d["uuid"] == want["uuid"] and d["config"] == want["config"] and
                        d["autostart"] == want["autostart"],
                        f"{when}: {name} is not what was defined:\n want {want}\n file {d}")
        missing = sorted(set(shared.ledger) - set(listed))
        T.check(not missing, f"{when}: VMs defined and never deleted are gone: {missing}")
    finally:
        c.close()


def power_off_all(env):
    c = rawbus.Connection(env.address)
    try:
        for name, state, path in c.call(MANAGER, M, "ListVMs").body[0]:
            if state in ("starting", "running", "paused", "shutting-down"):
                r = c.call(path, VM, "PowerOff", timeout=45)
                T.check(r.error in (None, V + "InvalidState"), f"PowerOff {name}: {r.error} {r.text()}")
        T.wait_until(lambda: all(s in ("created", "shutdown", "crashed") for _, s, _ in
                                 c.call(MANAGER, M, "ListVMs").body[0]), "every VM to stop", 30)
    finally:
        c.close()


def run_clients(env, opts, shared, seconds, seed, kvm):
    deadline = time.monotonic() + seconds
    threads = [Client(shared, i, deadline, seed) for i in range(6)]
    if kvm:
        threads += [Lifecycle(shared, 100 + i, deadline, seed) for i in range(2)]
    # A receiver of every signal that never reads: the bus buffers for it.
    deaf = rawbus.Connection(env.address, rcvbuf=4096)
    deaf.send("/org/freedesktop/DBus", "org.freedesktop.DBus", "AddMatch", "s", ("type='signal'",),
              dest="org.freedesktop.DBus")
    for t in threads:
        t.start()
    for t in threads:
        t.join(seconds + 120)
        if t.is_alive():
            shared.problem(f"client {t.i} still busy two minutes after the end")
    deaf.close()


def settle(env):
    """vmmd answers, the runners are stopped, the loop is idle."""
    power_off_all(env)
    time.sleep(2)
    c = rawbus.Connection(env.address)
    t0 = time.monotonic()
    r = c.call(MANAGER, M, "ListVMs", timeout=5)
    c.close()
    T.check(r.error is None and time.monotonic() - t0 < 2, "vmmd does not answer promptly after the storm")


def congested_bus(env, shared):
    """The bus stops reading from vmmd (SIGSTOP) while a VMM emits events:
    vmmd queues up to --max-queued-signals, drops the rest, says so once,
    and recovers when the bus reads again."""
    name = shared.runners[0]  # the guest waits for the power button: it runs until PowerOff
    c = rawbus.Connection(env.address)
    r = c.call(vm_path(name), VM, "Start", timeout=45)
    T.check(r.error is None, f"Start {name}: {r.error} {r.text()}")
    listener = rawbus.Connection(env.address)
    listener.call("/org/freedesktop/DBus", "org.freedesktop.DBus", "AddMatch", "s",
                  (f"type='signal',path='{vm_path(name)}',member='Event'",), dest="org.freedesktop.DBus")
    time.sleep(0.5)
    rss_before = rss_kib(env.vmmd.pid)
    T.check(vmm_processes(env.run), "the check for VMMs left running does not see a running one")

    api = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    api.connect(os.path.join(env.run, name + ".sock"))
    api.settimeout(10)
    os.kill(env.bus_pid, signal.SIGSTOP)
    try:
        pairs, end = 0, time.monotonic() + 4
        while time.monotonic() < end:
            for action in ("vm.pause", "vm.resume"):
                api.send(json.dumps({"id": pairs, "action": action}).encode())
                reply = json.loads(api.recv(65536))
                T.check("error" not in reply or reply["error"] is None, f"{action}: {reply}")
            pairs += 1
        time.sleep(0.5)  # vmmd has read the last events
        rss_during = rss_kib(env.vmmd.pid)
        T.check(env.vmmd.poll() is None, "vmmd died while the bus was stopped")
    finally:
        os.kill(env.bus_pid, signal.SIGCONT)
    api.close()
    print(f"congestion: {pairs} pause/resume pairs ({pairs * 6} signals) while the bus was stopped; "
          f"vmmd RSS {rss_before} -> {rss_during} KiB")
    T.check(pairs * 6 > 10 * QUEUED_SIGNALS, f"only {pairs} pause/resume pairs: the test did not congest vmmd")
    t0 = time.monotonic()
    r = c.call(MANAGER, M, "ListVMs", timeout=20)
    T.check(r.error is None, "ListVMs after the bus came back")
    print(f"congestion: vmmd answered {time.monotonic() - t0:.2f} s after the bus came back")
    log = env.log_text()
    T.check(log.count("dropping signals") == 1, f"'dropping signals' logged {log.count('dropping signals')} times")
    # Signals flow again once the queue drained: a Pause arrives as events.
    r = c.call(vm_path(name), VM, "Pause")
    T.check(r.error is None, f"Pause after the congestion: {r.error}")
    T.wait_until(lambda: "takes vmmd's messages again" in env.log_text(), "vmmd to log the end of the congestion")
    got = []
    end = time.monotonic() + 10
    while time.monotonic() < end and ("vm", "paused") not in got:
        m = listener.read_message(0.5)
        if m and m.type == rawbus.SIGNAL and m.member == "Event":
            got.append(tuple(m.body[:2]))
    T.check(("vm", "paused") in got, "no vm/paused Event after the congestion ended")
    # Bounded: the queue, not one message per signal (over 100 MiB for the
    # signals above, unbounded). ASan keeps up to its 16 MiB quarantine of
    # what the events freed.
    T.check(rss_during - rss_before < (48 << 10 if is_asan(env.vmmd.pid) else 2048),
            f"vmmd grew by {rss_during - rss_before} KiB during the congestion")
    listener.close()
    c.close()


def measure(env):
    return fd_count(env.vmmd.pid), rss_kib(env.vmmd.pid)


def is_asan(pid):
    with open(f"/proc/{pid}/maps") as f:
        return "libasan" in f.read()


def case_hostile(env, opts):
    kvm = T.kvm_unusable() is None
    if not kvm:
        print("no usable /dev/kvm: no VM runs; every other part of the case does")
    seed = opts.seed if opts.seed is not None else random.randrange(1 << 30)
    print(f"seed {seed} (--seed {seed} repeats the calls, not their timing)")
    shared = Shared(opts, env)

    if kvm:
        create_runners(env, opts, shared)
    # Warm-up: the same storm, short, so that what vmmd allocates once
    # (caches, the loop, sd-bus's buffers) is in the baseline.
    run_clients(env, opts, shared, 4, seed, kvm)
    settle(env)
    fds0, rss0 = measure(env)
    run_clients(env, opts, shared, opts.seconds, seed + 1, kvm)
    if shared.problems:
        raise T.Failure("during the storm:\n  " + "\n  ".join(shared.problems))
    T.check(env.vmmd.poll() is None, f"vmmd died: {env.vmmd.returncode}")
    settle(env)
    fds1, rss1 = measure(env)
    asan = is_asan(env.vmmd.pid)
    print(f"calls: {json.dumps(shared.stats, sort_keys=True)}")
    print(f"vmmd after warm-up: {fds0} fds, {rss0} KiB; after {opts.seconds} s: {fds1} fds, {rss1} KiB"
          f"{' (ASan)' if asan else ''}")
    T.check(fds1 <= fds0 + 2, f"vmmd's descriptors grew from {fds0} to {fds1}")
    T.check(rss1 <= rss0 + (48 << 10 if asan else 8 << 10), f"vmmd's memory grew from {rss0} to {rss1} KiB")
    T.check(not vmm_processes(env.run), f"VMMs still running: {vmm_processes(env.run)}")

    check_definitions(env, shared, "after the storm")
    check_nobody(env)

    # The limit on VMs: fill up, one more is refused with a message naming it.
    c = rawbus.Connection(env.address)
    n = len(c.call(MANAGER, M, "ListVMs").body[0])
    for i in range(MAX_VMS - n):
        r = c.call(MANAGER, M, "CreateVM", "ss", (f"fill{i}", json.dumps({"payload": {"kernel": opts.payload}})))
        T.check(r.error is None, f"CreateVM fill{i}: {r.error} {r.text()}")
    r = c.call(MANAGER, M, "CreateVM", "ss", ("onetoomany", json.dumps({"payload": {"kernel": opts.payload}})))
    T.check(r.error == V + "LimitExceeded" and "--max-vms" in r.text(), f"VM {MAX_VMS + 1}: {r.error} {r.text()}")
    for i in range(MAX_VMS - n):
        T.check(c.call(MANAGER, M, "DeleteVM", "s", (f"fill{i}",)).error is None, "DeleteVM fill")
    c.close()

    # Definitions as written survive a restart (and vmmd stops cleanly).
    env.stop_vmmd()
    env.start_vmmd()
    T.wait_until(lambda: all(s != "starting" for _, s, _ in env.list_vms()), "Autostart VMs to boot", 40)
    power_off_all(env)
    check_definitions(env, shared, "after a restart")

    if kvm:
        congested_bus(env, shared)
        power_off_all(env)
    T.check(not vmm_processes(env.run), f"VMMs left running: {vmm_processes(env.run)}")


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--nobody-client":
        nobody_client(sys.argv[2], 100)  # with the ListVMs, below the bus's 128 calls in flight
        return 0
    ap = argparse.ArgumentParser()
    for a in ("--vmmd", "--vmmctl", "--vmm", "--payload", "--source-root", "--build-root"):
        ap.add_argument(a, required=True)
    ap.add_argument("--seconds", type=float, default=float(os.environ.get("VMM_HOSTILE_SECONDS", 30)))
    ap.add_argument("--seed", type=int)
    ap.add_argument("--keep", action="store_true")
    opts = ap.parse_args()
    for k in ("vmmd", "vmmctl", "vmm", "payload", "source_root", "build_root"):
        setattr(opts, k, os.path.abspath(getattr(opts, k)))
    env = None
    try:
        for tool in ("dbus-daemon", "busctl", "setpriv"):
            if not shutil.which(tool):
                raise T.Skip(f"{tool} is not installed")
        env = HostileEnv(opts)
        env.start_bus()
        env.start_vmmd()
        case_hostile(env, opts)
        if env.vmmd.poll() is not None:
            raise T.Failure(f"vmmd exited with {env.vmmd.returncode}")
    except T.Skip as e:
        print(f"SKIP: {e}")
        return T.SKIP
    except T.Failure as e:
        print(f"FAIL hostile: {e}")
        if env and os.path.exists(env.vmmd_log):
            with open(env.vmmd_log, errors="replace") as f:
                print("--- vmmd log (last 40 lines)\n" + "".join(f.readlines()[-40:]))
        return 1
    finally:
        if env:
            env.cleanup()
    if getattr(env, "failed_cleanup", False):
        print("FAIL hostile: vmmd did not stop cleanly")
        return 1
    print("PASS hostile")
    return 0


if __name__ == "__main__":
    sys.exit(main())
