#!/usr/bin/env bash
# The whole test suite: install what is missing, then build and test twice,
# once warnings-as-errors and once under AddressSanitizer + UBSan.
# Suites can be run one at a time: meson test -C build --suite unit
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh

run_suite() {
    local dir=$1 test_args=$2
    shift 2
    if [ ! -d "$dir" ]; then
        meson setup "$dir" -Dwerror=true "$@" >/dev/null
    fi
    meson compile -C "$dir"
    # --verbose shows each program's own summary (cmocka's [ PASSED ] lines).
    local rc=0
    meson test -C "$dir" --verbose --num-processes 2 $test_args || rc=$?
    summarize "$dir/meson-logs/testlog.json"
    return $rc
}

# One "N passed, N failed, N skipped" line per run, from meson's JSON log.
summarize() {
    python3 - "$1" <<'PY'
import json, sys
counts = {"OK": 0, "FAIL": 0, "SKIP": 0}
for line in open(sys.argv[1]):
    r = json.loads(line)["result"]
    key = "OK" if r in ("OK", "EXPECTEDFAIL") else "SKIP" if r == "SKIP" else "FAIL"
    counts[key] += 1
print(f"meson: {counts['OK']} passed, {counts['FAIL']} failed, {counts['SKIP']} skipped")
PY
}

# Every stage runs even when an earlier one failed, so one run shows every
# failure; the script fails at the end if any stage did.
failed=()

echo "== build (-Werror) and test: every suite"
run_suite build-test "" || failed+=(werror)

# Benchmarks and the nested Linux guests measure or boot through QEMU's
# emulator; running them a second time under sanitizers adds time, not checks.
echo "== build with AddressSanitizer + UBSan and test: every suite but bench and linux"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
run_suite build-asan "--no-suite bench --no-suite linux" -Db_sanitize=address,undefined -Dbuildtype=debug ||
    failed+=(asan)

# libFuzzer targets (tests/fuzz/), each for VMM_FUZZ_SECONDS over its seed corpus.
echo "== build with clang + libFuzzer, ASan + UBSan: the fuzz suite"
export VMM_FUZZ_SECONDS=${VMM_FUZZ_SECONDS:-45}
# Not -Werror here: clang builds the whole tree, and the guest payloads carry
# gcc-only flags; the two gcc builds above are the -Werror ones.
CC=clang run_suite build-fuzz "--suite fuzz" -Dfuzz=true -Db_sanitize=address,undefined -Db_lundef=false -Dwerror=false ||
    failed+=(fuzz)

if [ ${#failed[@]} -gt 0 ]; then
    echo "== failed: ${failed[*]}"
    exit 1
fi
echo "== every stage passed"
