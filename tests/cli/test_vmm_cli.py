#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""The `vmm` binary as a user runs it: --print-config, --config, errors.

Usage: test_vmm_cli.py PATH_TO_VMM
Prints one line per check and a closing "N passed, N failed" line.
"""
import json
import os
import subprocess
import sys
import tempfile

VMM = sys.argv[1]
results = {"passed": 0, "failed": 0}


def run(*args, stdin=None):
    return subprocess.run([VMM, *args], capture_output=True, text=True, input=stdin, timeout=30)


def check(name, cond, detail=""):
    if cond:
        results["passed"] += 1
        print(f"ok     {name}")
    else:
        results["failed"] += 1
        print(f"FAILED {name}\n       {detail}")


def expect_error(name, args, fragment):
    p = run(*args)
    check(name, p.returncode == 1 and fragment in p.stderr and p.stdout == "",
          f"rc={p.returncode} stdout={p.stdout[:200]!r} stderr={p.stderr[:300]!r} want {fragment!r}")


# -- help and version
p = run()
check("no arguments prints help and fails", p.returncode != 0 and "--kernel" in (p.stdout + p.stderr),
      f"rc={p.returncode}")
p = run("--help")
check("--help lists the options", p.returncode == 0 and "--disk" in p.stdout and "--print-config" in p.stdout,
      p.stdout[:200])
p = run("-V")
check("-V prints the version", p.returncode == 0 and p.stdout.startswith("vmm "), p.stdout)

# -- a VM in Cloud Hypervisor syntax, resolved with its defaults
args = ["--print-config", "--kernel", "/k", "--cpus", "boot=2,max=4",
        "--memory", "size=256M", "--disk", "path=/a.img", "path=/b.img,readonly=on",
        "--net", "tap=tap0,mac=52:54:00:00:00:01", "--serial", "tty", "--console", "off"]
p = run(*args)
check("--print-config exits 0", p.returncode == 0, p.stderr)
cfg = json.loads(p.stdout) if p.returncode == 0 else {}
check("cpus resolved", cfg.get("cpus", {}).get("boot_vcpus") == 2 and cfg["cpus"].get("max_vcpus") == 4
      and cfg["cpus"].get("max_phys_bits") == 46, cfg.get("cpus"))
check("memory size in bytes, thp default on",
      cfg.get("memory", {}).get("size") == 256 << 20 and cfg["memory"].get("thp") is True, cfg.get("memory"))
check("payload.kernel", cfg.get("payload", {}).get("kernel") == "/k", cfg.get("payload"))
disks = cfg.get("disks", [])
check("two disks after one --disk flag", len(disks) == 2 and disks[1].get("readonly") is True, disks)
check("disk defaults: 1 queue of 128", all(d.get("num_queues") == 1 and d.get("queue_size") == 128
                                           for d in disks), disks)
net = cfg.get("net", [{}])[0]
check("net defaults: 2 queues of 256, CH's default IP",
      net.get("num_queues") == 2 and net.get("queue_size") == 256 and net.get("ip") == "192.168.249.1"
      and net.get("mask") == "255.255.255.0" and net.get("mac") == "52:54:00:00:00:01", net)
check("rng default", cfg.get("rng", {}).get("src") == "/dev/urandom", cfg.get("rng"))
check("serial/console modes", cfg.get("serial", {}).get("mode") == "Tty"
      and cfg.get("console", {}).get("mode") == "Off", (cfg.get("serial"), cfg.get("console")))

# -- repeated flags equal values after one flag
p2 = run("--print-config", "--kernel", "/k", "--cpus", "boot=2,max=4", "--memory", "size=256M",
         "--disk", "path=/a.img", "--disk", "path=/b.img,readonly=on",
         "--net", "tap=tap0,mac=52:54:00:00:00:01", "--serial", "tty", "--console", "off")
check("repeated --disk equals one --disk with two values", p2.returncode == 0 and p2.stdout == p.stdout,
      p2.stderr)

# -- the printed JSON is an input that resolves to itself
with tempfile.TemporaryDirectory() as d:
    path = os.path.join(d, "vm.json")
    with open(path, "w") as f:
        f.write(p.stdout)
    p3 = run("--print-config", "--config", path)
    check("--config reads back --print-config output", p3.returncode == 0 and p3.stdout == p.stdout,
          p3.stderr)
    expect_error("--config with VM options is refused", ["--print-config", "--config", path, "--kernel", "/k"],
                 "--config")
    bad = os.path.join(d, "bad.json")
    with open(bad, "w") as f:
        f.write('{"payload":{"kernel":"/k"},"disks":[{"path":"/a","queue_sise":8}]}')
    expect_error("unknown JSON field named with its path", ["--print-config", "--config", bad], "disks[0]")
    expect_error("missing config file", ["--print-config", "--config", os.path.join(d, "nope.json")],
                 "nope.json")

# -- errors name the option and say what is wrong
expect_error("no kernel", ["--print-config", "--cpus", "boot=1"], "No kernel specified")
expect_error("bad cpus value", ["--print-config", "--kernel", "/k", "--cpus", "boot=x"], "--cpus")
expect_error("max below boot", ["--print-config", "--kernel", "/k", "--cpus", "boot=4,max=2"],
             "Max CPUs lower than boot CPUs")
expect_error("unknown disk key", ["--print-config", "--kernel", "/k", "--disk", "path=/a,bogus=1"],
             "unknown option: bogus")
expect_error("oversized memory", ["--print-config", "--kernel", "/k", "--memory", "size=99999999999G"],
             "--memory")
expect_error("special vsock cid", ["--print-config", "--kernel", "/k", "--vsock", "cid=2,socket=/s"],
             "special VSOCK CID")
expect_error("unknown flag", ["--print-config", "--kernel", "/k", "--bogus"], "--bogus")
expect_error("missing value", ["--print-config", "--kernel"], "--kernel")
expect_error("event monitor needs path or fd", ["--print-config", "--kernel", "/k", "--event-monitor", "x=1"],
             "--event-monitor")

# -- a valid VM asking for what this VMM will not do fails when started
expect_error("vfio device is valid but not supported",
             ["--kernel", "/k", "--device", "path=/sys/bus/pci/devices/0000:00:01.0"], "not supported")
p = run("--print-config", "--kernel", "/k", "--device", "path=/sys/bus/pci/devices/0000:00:01.0")
check("...while --print-config still shows it", p.returncode == 0 and '"devices"' in p.stdout, p.stderr)

print(f"{results['passed']} passed, {results['failed']} failed")
sys.exit(1 if results["failed"] else 0)
