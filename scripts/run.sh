#!/usr/bin/env bash
# The main job: install what is missing, build, then run the product as a
# user meets it - vmmd on a bus, a demo VM created, started, watched and shut
# down with vmmctl. When vmmd is not installed it runs on a private bus in
# build/demo/ (nothing outside the build directory is touched).
#
#   bash scripts/run.sh          the demo, start to finish, then clean up
#   bash scripts/run.sh --keep   leave vmmd and the demo VM running, and print
#                                how to reach them
set -euo pipefail
cd "$(dirname "$0")/.."
keep=false
[ "${1:-}" = "--keep" ] && keep=true

bash scripts/install-deps.sh
[ -d build ] || meson setup build >/dev/null
meson compile -C build >/dev/null

root=$PWD/build/demo
rm -rf "$root"
mkdir -p "$root/state" "$root/run"
bus="unix:path=$root/bus.sock"
payload=$PWD/build/tests/guest/guest-payload-pvh.elf
vmmctl() { DBUS_SYSTEM_BUS_ADDRESS=$bus build/service/vmmctl "$@"; }
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

cleanup() {
    [ -n "${events_pid:-}" ] && kill "$events_pid" 2>/dev/null || true
    [ -n "${vmmd_pid:-}" ] && kill "$vmmd_pid" 2>/dev/null && wait "$vmmd_pid" 2>/dev/null || true
    [ -n "${bus_pid:-}" ] && kill "$bus_pid" 2>/dev/null || true
}

step "a private D-Bus system bus at $root/bus.sock, with the service's bus policy"
sed -e "s|@SOCKET@|$root/bus.sock|" -e "s|@SERVICEDIR@|$root|" -e "s|@POLICY@|$PWD/dbus/org.vmm.Manager.conf|" \
    tests/dbus/bus.conf.in >"$root/bus.conf"
bus_pid=$(dbus-daemon --config-file="$root/bus.conf" --fork --print-pid=1 --print-address=2 2>/dev/null)
$keep || trap cleanup EXIT

step "vmmd: the service (org.vmm.Manager); each VM will run in its own vmm process"
DBUS_SYSTEM_BUS_ADDRESS=$bus build/service/vmmd --state-dir "$root/state" --runtime-dir "$root/run" \
    --vmm "$PWD/build/vmm-core/vmm" 2>"$root/vmmd.log" &
vmmd_pid=$!
for _ in $(seq 50); do vmmctl list >/dev/null 2>&1 && break; sleep 0.1; done

step "vmmctl create demo: the bundled guest, in Cloud Hypervisor's option syntax"
set -x
vmmctl create demo -- --kernel "$payload" --cmdline "test=powerbtn timeout=600" \
    --cpus boot=2 --memory size=64M --serial file="$root/demo-serial.log" --console off
{ set +x; } 2>/dev/null

step "vmmctl events demo (in the background): every event the VM's monitor emits, as D-Bus signals"
DBUS_SYSTEM_BUS_ADDRESS=$bus build/service/vmmctl events demo &
events_pid=$!
sleep 0.3

step "vmmctl start demo"
vmmctl start demo
vmmctl list
vmmctl info demo | sed '/^ *config:/q'

step "the guest's serial console ($root/demo-serial.log)"
sleep 1
head -5 "$root/demo-serial.log"

if $keep; then
    cat <<EOF

vmmd is running (pid $vmmd_pid) on the private bus $bus with the VM "demo".
    export DBUS_SYSTEM_BUS_ADDRESS=$bus
    build/service/vmmctl list | info demo | events demo | pause demo | resume demo | shutdown demo
    busctl --address=$bus tree org.vmm.Manager
Stop everything with: kill $vmmd_pid $bus_pid   (the VM keeps running until shut down)
EOF
    kill "$events_pid" 2>/dev/null || true
    exit 0
fi

step "vmmctl pause demo / resume demo"
vmmctl pause demo
vmmctl resume demo

step "vmmctl shutdown demo: the ACPI power button; the guest powers itself off"
vmmctl shutdown demo
for _ in $(seq 100); do vmmctl info demo --json 2>/dev/null | grep -q '"State": *"shutdown"' && break; sleep 0.1; done
vmmctl list
tail -3 "$root/demo-serial.log"

step "vmmctl delete demo"
vmmctl delete demo
vmmctl list
kill "$events_pid" && wait "$events_pid" 2>/dev/null || true
events_pid=
