#!/usr/bin/env bash
# The main job: install what is missing, build, and show the demo VM.
# Until the VMM boots guests (next milestone) the demo is `vmm` resolving the
# configuration of an example VM given in Cloud Hypervisor's option syntax,
# and reading the same VM back from the JSON form it printed.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
[ -d build ] || meson setup build >/dev/null
meson compile -C build >/dev/null

vmm=build/vmm-core/vmm
demo_json=build/demo-vm.json

echo "== vmm --print-config, a demo VM in Cloud Hypervisor's option syntax"
set -x
"$vmm" --print-config \
    --cpus boot=2,max=4 \
    --memory size=256M,shared=on \
    --kernel /boot/vmlinuz-demo \
    --cmdline "console=ttyS0 root=/dev/vda rw" \
    --disk path=/var/lib/vmm/demo.img,num_queues=2 path=/var/lib/vmm/seed.img,readonly=on \
    --net tap=vmmtap0,mac=52:54:00:12:34:56 \
    --serial tty --console off \
    --vsock cid=3,socket=/run/vmm/demo.vsock | tee "$demo_json"
{ set +x; } 2>/dev/null

echo "== the same VM read back from its JSON form"
"$vmm" --print-config --config "$demo_json" >/dev/null && echo "ok: $demo_json validates"
