#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""The hostile-VMM case of the dbus suite (docs/security.md, "Service hardening").

Usage: test_hostile_vmm.py --vmmd VMMD --vmmctl VMMCTL --vmm VMM --payload PAYLOAD.elf
                           --source-root DIR --build-root DIR

vmmd runs fake_vmm.py as its VMM: VMs whose command line says hostile=MODE
get a VMM that speaks the control protocol and misbehaves (floods events and
junk, answers with wrong ids or never, hangs up mid-request, dies by a
signal, exits before booting); the others get the real VMM. Meanwhile a real
guest runs. vmmd must answer every call within a bound, keep its descriptors
and memory, end each hostile VM in a state that says what happened, leave
the real guest alone, and exit 0 on SIGTERM (under ASan: no leak).
"""
import argparse
import json
import os
import re
import shutil
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rawbus  # noqa: E402
import test_dbus as T  # noqa: E402
import test_hostile as H  # noqa: E402

M, VM = "org.vmm.Manager", "org.vmm.VM"
V = "org.vmm.Error."
# What vmmd must answer within while a VMM floods it (seconds).
BOUND = 2.0


class Env(H.HostileEnv):
    """vmmd with fake_vmm.py as its VMM, which execs the real one for well-behaved VMs."""

    def __init__(self, opts):
        super().__init__(opts)
        self.env["FAKE_VMM_REAL"] = opts.vmm
        opts.vmm = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fake_vmm.py")


def timed(c, path, iface, member, sig="", args=(), timeout=10):
    t0 = time.monotonic()
    r = c.call(path, iface, member, sig, args, timeout=timeout)
    return r, time.monotonic() - t0


def create(c, name, cfg):
    r = c.call(T.MANAGER, M, "CreateVM", "ss", (name, json.dumps(cfg)))
    T.check(r.error is None, f"CreateVM {name}: {r.error} {r.text()}")
    return r.body[0]


def prop(c, path, name):
    r = c.call(path, "org.freedesktop.DBus.Properties", "Get", "ss", (VM, name))
    T.check(r.error is None, f"Get {name}: {r.error}")
    return r.body[0]


def wait_state(c, path, states, timeout=20):
    T.wait_until(lambda: prop(c, path, "State") in states, f"{path} to be {states}", timeout)
    return prop(c, path, "State")


def last_spam_report(env, name):
    with open(os.path.join(env.run, f"{name}.log"), errors="replace") as f:
        got = re.findall(r"spam: (\d+) records, (\d+) junk packets, (\d+) dropped in ([\d.]+) s", f.read())
    T.check(got, "the spamming VMM reported nothing")
    records, junk, dropped, secs = got[-1]
    return int(records), int(junk), int(dropped), float(secs)


def case_hostile_vmm(env, opts):
    c = rawbus.Connection(env.address)
    fake = lambda mode: {"payload": {"kernel": opts.payload, "cmdline": f"hostile={mode}"},  # noqa: E731
                         "memory": {"size": 32 << 20}, "console": {"mode": "Off"},
                         "cpus": {"boot_vcpus": 2, "max_vcpus": 4}}

    # The bystander: a real guest ticking on its serial file for the whole case.
    serial = os.path.join(env.tmp, "good.serial")
    good = create(c, "good", {"payload": {"kernel": opts.payload, "cmdline": "test=snapshot ticks=100000 period_ms=20"},
                              "memory": {"size": 32 << 20}, "serial": {"mode": "File", "file": serial},
                              "console": {"mode": "Off"}})
    T.check(c.call(good, VM, "Start", timeout=40).error is None, "Start of the real guest")
    ticks = lambda: len(T.tick_numbers(serial))  # noqa: E731
    T.wait_until(lambda: ticks() >= 5, "the real guest to tick", 20)
    paths = {mode: create(c, mode, fake(mode)) for mode in ("spam", "wrong-ids", "hangup", "segv", "early-exit")}
    time.sleep(1)
    fds0, rss0 = H.measure(env)

    # Exits before booting: Start fails with the status and the VMM's last words.
    r = c.call(paths["early-exit"], VM, "Start", timeout=40)
    T.check(r.error == V + "VmmFailed" and "status 255" in r.text() and "refusing to boot" in r.text(),
            f"Start of a VMM that exits with 255: {r.error} {r.text()}")
    T.check(prop(c, paths["early-exit"], "State") == "crashed", "early-exit is not crashed")

    # Never answers: 64 requests wait at most (the rest are refused at once), each for its timeout.
    wrong = paths["wrong-ids"]
    T.check(c.call(wrong, VM, "Start", timeout=40).error is None, "Start of wrong-ids")
    t_sent = time.monotonic()
    pause = c.send(wrong, VM, "Pause", dest=T.DEST)
    counters = [c.send(wrong, VM, "GetCounters", dest=T.DEST) for _ in range(70)]
    refused = [c.wait_reply(s, BOUND) for s in counters[63:]]
    T.check(all(m is not None and m.error == V + "LimitExceeded" for m in refused),
            f"requests beyond 64 waiting for a silent VMM: {[m and (m.error, m.text()) for m in refused]}")

    # Floods: thousands of records a second plus junk on both sockets, answers in between.
    spam = paths["spam"]
    T.check(c.call(spam, VM, "Start", timeout=40).error is None, "Start of spam")
    worst = {}
    before = ticks()
    end = time.monotonic() + 8
    while time.monotonic() < end:
        for what, path, iface, member in (("ListVMs", T.MANAGER, M, "ListVMs"), ("good GetInfo", good, VM, "GetInfo"),
                                          ("spam GetInfo", spam, VM, "GetInfo")):
            r, dt = timed(c, path, iface, member)
            T.check(r.error is None, f"{what} during the flood: {r.error} {r.text()}")
            worst[what] = max(worst.get(what, 0), dt)
        time.sleep(0.1)
    records, junk, dropped, secs = last_spam_report(env, "spam")
    print(f"the flood: {records} records ({records / secs:.0f}/s), {junk} junk packets, {dropped} not taken "
          f"in {secs:.1f} s; slowest answers {json.dumps({k: round(v, 3) for k, v in worst.items()})}")
    T.check(records / secs >= 1000, f"the fake VMM sent only {records / secs:.0f} records/s")
    T.check(all(v < BOUND for v in worst.values()), f"vmmd answered too slowly during the flood: {worst}")
    T.check(prop(c, spam, "State") == "running", "the flooding VM is not running")
    # vm/resized with counts out of 1..max_vcpus or not counts at all: the definition keeps its 2.
    cpus = json.loads(prop(c, spam, "Config"))["cpus"]
    T.check((cpus["boot_vcpus"], prop(c, spam, "VCPUs")) == (2, 2),
            f"junk vm/resized events changed the spamming VM's vCPUs: {cpus}, VCPUs {prop(c, spam, 'VCPUs')}")
    T.check(ticks() > before + 100, f"the real guest stalled during the flood: {before} -> {ticks()} ticks")
    r = c.call(spam, VM, "PowerOff", timeout=30)
    T.check(r.error is None and wait_state(c, spam, ("shutdown",)) == "shutdown",
            f"PowerOff of the flooding VM: {r.error} {r.text()}")

    # The silent VMM's requests time out (10 s) as errors; it stays running until PowerOff kills it.
    m = c.wait_reply(pause, max(1, 15 - (time.monotonic() - t_sent)))
    T.check(m is not None and m.error == V + "VmmFailed" and "in time" in m.text(),
            f"Pause of a VMM that never answers: {m and (m.error, m.text())}")
    for s in counters[:63]:
        m = c.wait_reply(s, 5)
        T.check(m is not None and m.error == V + "VmmFailed", f"GetCounters of a silent VMM: {m and m.error}")
    T.check(prop(c, wrong, "State") == "running", "wrong-ids changed state")
    r = c.call(wrong, VM, "PowerOff", timeout=30)
    T.check(r.error is None, f"PowerOff of wrong-ids: {r.error} {r.text()}")
    reason = prop(c, wrong, "ExitReason")
    T.check(prop(c, wrong, "State") == "shutdown" and "killed by vmmd" in reason,
            f"wrong-ids after PowerOff: {prop(c, wrong, 'State')} {reason!r}")

    # Hangs up mid-request and exits 3; dies by SIGSEGV mid-request.
    for mode, why in (("hangup", "exited with status 3: hostile: hung up in the middle of a request"),
                      ("segv", "killed by signal 11 (SIGSEGV)")):
        T.check(c.call(paths[mode], VM, "Start", timeout=40).error is None, f"Start of {mode}")
        r = c.call(paths[mode], VM, "Pause", timeout=15)
        T.check(r.error == V + "VmmFailed" and "went away" in r.text(), f"Pause of {mode}: {r.error} {r.text()}")
        T.check(wait_state(c, paths[mode], ("crashed", "shutdown")) == "crashed", f"{mode} is not crashed")
        reason = prop(c, paths[mode], "ExitReason")
        T.check(why in reason, f"{mode}'s ExitReason: {reason!r}")

    # The bystander ran throughout and still works.
    T.check(prop(c, good, "State") == "running", "the real guest is not running")
    r, dt = timed(c, good, VM, "GetInfo")
    T.check(r.error is None and json.loads(r.body[0]).get("vmm", {}).get("state") == "Running" and dt < BOUND,
            f"GetInfo of the real guest: {r.error} {dt:.2f} s")
    T.check(c.call(good, VM, "PowerOff", timeout=30).error is None, "PowerOff of the real guest")
    T.check(not H.vmm_processes(env.run), f"VMMs left running: {H.vmm_processes(env.run)}")

    time.sleep(1)
    fds1, rss1 = H.measure(env)
    asan = H.is_asan(env.vmmd.pid)
    print(f"vmmd before the hostile VMMs: {fds0} fds, {rss0} KiB; after: {fds1} fds, {rss1} KiB"
          f"{' (ASan)' if asan else ''}")
    T.check(fds1 <= fds0 + 2, f"vmmd's descriptors grew from {fds0} to {fds1}")
    T.check(rss1 <= rss0 + (48 << 10 if asan else 8 << 10), f"vmmd's memory grew from {rss0} to {rss1} KiB")
    log = env.log_text()
    # Junk is logged, but not once per packet: a VMM must not flood the journal through vmmd.
    bad = len(re.findall(r"from a VMM dropped", log))
    print(f"vmmd logged {bad} lines about {junk} junk packets")
    T.check(0 < bad < 200, f"vmmd logged {bad} lines about the junk")
    c.close()


def main():
    ap = argparse.ArgumentParser()
    for a in ("--vmmd", "--vmmctl", "--vmm", "--payload", "--source-root", "--build-root"):
        ap.add_argument(a, required=True)
    ap.add_argument("--keep", action="store_true")
    opts = ap.parse_args()
    for k in ("vmmd", "vmmctl", "vmm", "payload", "source_root", "build_root"):
        setattr(opts, k, os.path.abspath(getattr(opts, k)))
    env = None
    try:
        for tool in ("dbus-daemon", "busctl"):
            if not shutil.which(tool):
                raise T.Skip(f"{tool} is not installed")
        why = T.kvm_unusable()
        if why:
            raise T.Skip(why)
        env = Env(opts)
        env.start_bus()
        env.start_vmmd()
        case_hostile_vmm(env, opts)
        if env.vmmd.poll() is not None:
            raise T.Failure(f"vmmd exited with {env.vmmd.returncode}")
    except T.Skip as e:
        print(f"SKIP: {e}")
        return T.SKIP
    except (T.Failure, rawbus.BusError) as e:
        print(f"FAIL hostile-vmm: {e}")
        if env and os.path.exists(env.vmmd_log):
            with open(env.vmmd_log, errors="replace") as f:
                print("--- vmmd log (last 40 lines)\n" + "".join(f.readlines()[-40:]))
        return 1
    finally:
        if env:
            env.cleanup()
    if getattr(env, "failed_cleanup", False):
        print("FAIL hostile-vmm: vmmd did not stop cleanly")
        return 1
    print("PASS hostile-vmm")
    return 0


if __name__ == "__main__":
    sys.exit(main())
