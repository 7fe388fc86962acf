#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Runs one libFuzzer target for a bounded time: first over every seed in the
source corpus (the regression cases), then mutating them for
VMM_FUZZ_SECONDS (default 45). New corpus entries and crash artifacts go
to a work folder in the build tree, never into the source tree; a crash
fails the test and names the artifact to add to tests/fuzz/<target>/."""
import os
import subprocess
import sys


def main():
    exe, seeds, work = sys.argv[1:4]
    seconds = int(os.environ.get("VMM_FUZZ_SECONDS", "45"))
    corpus = os.path.join(work, "corpus")
    os.makedirs(corpus, exist_ok=True)
    cmd = [exe, f"-max_total_time={seconds}", "-timeout=10", "-rss_limit_mb=2048",
           "-print_final_stats=1", f"-artifact_prefix={work}/", corpus]
    if os.path.isdir(seeds):
        cmd.append(seeds)
    print("+", " ".join(cmd), flush=True)
    rc = subprocess.call(cmd)
    if rc != 0:
        crashes = [f for f in os.listdir(work) if f.startswith(("crash-", "leak-", "timeout-", "oom-"))]
        print(f"FAIL {os.path.basename(exe)}: exit {rc}; artifacts in {work}: {crashes}")
        print("reproduce: " + exe + " " + os.path.join(work, "<artifact>"))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
