#!/bin/busybox sh
# /init of the L1 guest in the `linux` suite: a Linux running under QEMU's
# software emulator (which offers AMD SVM), where kvm-amd gives a real
# /dev/kvm to our vmm. Loads the KVM modules, checks that vmm's shared
# libraries resolve (vmm --version), then boots the L2 guest once per case and
# reports how vmm exited. run_linux.py on the host reads the VMM-* lines.
# /vmmtest.conf (written by run_linux.py) sets CASES, L1_MODULES, L2_CMDLINE,
# L2_MEMORY, L2_PLATFORM (--platform), VMM_TIMEOUT (one vmm run),
# WAIT_TIMEOUT (L2 ready for the power button), EXIT_TIMEOUT (vmm exit after the press), VMM_LIBRARY_PATH, and
# for the virtio case VIRTIO_TOKEN, VIRTIO_MAC and VIRTIO_WAIT_TIMEOUT (the
# power-button wait, which there includes the device checks), for the
# snapshot case SNAPSHOT_L2_MEMORY.
# The virtio case gives L2 QEMU's disk (/dev/vda here, an ext4 image the host
# made and checks afterwards), a tap, the console into a file, a balloon and
# vsock; L1 is the other end of the network and vsock streams and prints
# "VMM-L1-CHECK <what> rc=N <output>" lines, the console file as VMM-HVC-OUT
# lines and vm.counters as a VMM-COUNTERS line.
# The snapshot case snapshots L2 into L1's RAM, restores it in a new vmm and
# talks to L2 over its console socket before and after (snapshot_l1).
/bin/busybox mkdir -p /proc /sys /dev /tmp /run /sbin /usr/bin /usr/sbin
/bin/busybox --install -s
export PATH=/sbin:/usr/sbin:/bin:/usr/bin:/usr/local/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
# shellcheck disable=SC1091 # written by run_linux.py
. /vmmtest.conf

uptime_s() { cut -d' ' -f1 /proc/uptime; }

echo "VMM-L1-UP kernel=$(uname -r) cpus=$(nproc) uptime=$(uptime_s)"

for m in $L1_MODULES; do
    insmod "/lib/modules/$m.ko" || echo "VMM-L1-FAIL insmod $m"
done
if [ -c /dev/kvm ]; then
    echo "VMM-L1-KVM ok uptime=$(uptime_s)"
else
    echo "VMM-L1-FAIL no /dev/kvm (svm flags in cpuinfo: $(grep -c -w svm /proc/cpuinfo))"
    dmesg | grep -i -E 'kvm|svm' | tail -n 20
fi

export LD_LIBRARY_PATH="$VMM_LIBRARY_PATH"
version=$(/usr/local/bin/vmm --version 2>&1)
echo "VMM-L1-VERSION rc=$? out=$version"

# Waits until file $1 exists or $2 seconds pass; returns 1 on timeout.
wait_for_file() {
    n=0
    while [ ! -s "$1" ]; do
        [ "$n" -ge $(($2 * 5)) ] && return 1
        usleep 200000
        n=$((n + 1))
    done
    return 0
}

# Waits until $2 holds a line matching $1, at most $3 seconds, or vmm exits ($4).
wait_for_line() {
    n=0
    while ! grep -q "$1" "$2"; do
        [ -s "$4" ] && return 1
        [ "$n" -ge $(($3 * 5)) ] && return 1
        usleep 200000
        n=$((n + 1))
    done
}

# What the vmm of a stuck case is doing, as VMM-DIAG lines: per thread its
# state, wait channel, system call and kernel stack (a vCPU blocked in a
# futex is a VMM deadlock, one in KVM_RUN a guest that stopped), then the
# vmm's own view (vm.info, and vm.counters twice: do the vCPUs still exit?).
diag_vmm() {
    sock=$1 pid=$2
    for t in /proc/"$pid"/task/*; do
        [ -d "$t" ] || continue
        echo "VMM-DIAG thread ${t##*/} $(cat "$t/comm" 2>/dev/null)" \
            "state=$(cut -d' ' -f3 "$t/stat" 2>/dev/null) wchan=$(cat "$t/wchan" 2>/dev/null)" \
            "syscall=$(cut -d' ' -f1-3 "$t/syscall" 2>/dev/null)"
        head -n 8 "$t/stack" 2>/dev/null | sed 's/^/VMM-DIAG   /'
    done
    for action in vm.info vm.counters vm.counters; do
        echo "VMM-DIAG $action $(/bin/vmm-api-call -t 5 "$sock" "$action" 2>&1)"
        sleep 1
    done
    dmesg | grep -i -E 'kvm|svm' | tail -n 10 | sed 's/^/VMM-DIAG dmesg /'
}

# The hotplug case's side in L1: hot-add QEMU's disk once L2 is ready, ask for
# its removal once L2 has used it, wait for vmm to report the eject, then add
# a vCPU and take it away again.
hotplug_l1() {
    sock=$1 log=$2 rcfile=$3 timeout=$4 events=$5 pidfile=$6
    if ! wait_for_line VMM-L2-HOTPLUG-READY "$log" "$timeout" "$rcfile"; then
        echo "VMM-L1-FAIL L2 not ready for the hotplug within ${timeout}s"
        if [ ! -s "$rcfile" ]; then
            diag_vmm "$sock" "$(cat "$pidfile")"
            kill "$(cat "$pidfile")" 2>/dev/null
        fi
        return
    fi
    reply=$(/bin/vmm-api-call -t 20 "$sock" vm.add-disk '{"path":"/dev/vda","id":"hot0"}' 2>&1)
    echo "VMM-L1-CHECK hotplug-add rc=$? $reply"
    if ! wait_for_line "VMM-L2-CHECK hotplug-add" "$log" "$timeout" "$rcfile"; then
        echo "VMM-L1-FAIL L2 did not report the hot-added disk within ${timeout}s"
        return
    fi
    reply=$(/bin/vmm-api-call -t 20 "$sock" vm.remove-device '{"id":"hot0"}' 2>&1)
    echo "VMM-L1-CHECK hotplug-remove rc=$? $reply"
    wait_for_line '"device-removed"' "$events" "$timeout" "$rcfile"
    echo "VMM-L1-CHECK hotplug-ejected rc=$? $(grep -o '"device-[a-z]*".*' "$events" | tr '\n' ' ')"
    if wait_for_line VMM-L2-CPU-READY "$log" "$timeout" "$rcfile"; then
        reply=$(/bin/vmm-api-call -t 20 "$sock" vm.resize '{"desired_vcpus":3}' 2>&1)
        echo "VMM-L1-CHECK cpu-resize rc=$? $reply"
    else
        echo "VMM-L1-FAIL L2 not ready for the vCPU hotplug within ${timeout}s"
    fi
    # Fewer again: vmm asks, Linux offlines cpu2 and ejects it, vmm reports
    # two vCPUs (vm/resized).
    if wait_for_line VMM-L2-CPU-REMOVE-READY "$log" "$timeout" "$rcfile"; then
        reply=$(/bin/vmm-api-call -t 20 "$sock" vm.resize '{"desired_vcpus":2}' 2>&1)
        echo "VMM-L1-CHECK cpu-shrink rc=$? $reply"
        wait_for_line '"resized".*"vcpus": *"2"' "$events" "$timeout" "$rcfile"
        echo "VMM-L1-CHECK cpu-ejected rc=$? $(grep -o '"resized".*' "$events" | tr '\n' ' ')"
    else
        echo "VMM-L1-FAIL L2 not ready for the vCPU removal within ${timeout}s"
    fi
    # 128 MiB more RAM (--memory hotplug_method=acpi): Linux adds and onlines it.
    if wait_for_line VMM-L2-MEM-READY "$log" "$timeout" "$rcfile"; then
        ram=$(((${L2_MEMORY%M} + 128) * 1048576))
        reply=$(/bin/vmm-api-call -t 20 "$sock" vm.resize "{\"desired_ram\":$ram}" 2>&1)
        echo "VMM-L1-CHECK mem-resize rc=$? $reply"
    else
        echo "VMM-L1-FAIL L2 not ready for the memory hotplug within ${timeout}s"
    fi
    echo "VMM-COUNTERS $(/bin/vmm-api-call -t 5 "$sock" vm.counters 2>&1)"
}

# One command to L2 over its hvc0 (the console socket): prints
# "VMM-L1-CHECK <what> rc=N <answer>"; the answer starts with $3.
snap_chat() {
    reply=$(/bin/vmm-chat -t 40 "$2" "$4" "$3" 2>&1)
    echo "VMM-L1-CHECK $1 rc=$? $reply"
}

# One API request: "VMM-L1-CHECK <what> rc=N <reply>".
snap_api() {
    what=$1
    shift
    reply=$(/bin/vmm-api-call -t 20 "$@" 2>&1)
    echo "VMM-L1-CHECK $what rc=$? $reply"
}

# The snapshot case's side in L1: talk to L2, balloon it, have it open a
# vsock connection, pause and snapshot it into L1's RAM, stop that vmm,
# restore the snapshot in a new vmm (same log, rc and pid files, so run_case
# waits for it as for any vmm), resume, talk to L2 again (its vsock
# connection was reset; new ones both ways), balloon it again, press the
# power button.
snapshot_l1() {
    sock=$1 log=$2 rcfile=$3 timeout=$4 con=$5 pidfile=$6 c=$7 vsock=$8
    snap=/tmp/snap-$c
    if ! wait_for_line VMM-L2-SNAPSHOT-READY "$log" "$timeout" "$rcfile"; then
        echo "VMM-L1-FAIL L2 not ready for the snapshot within ${timeout}s"
        return
    fi
    snap_chat snap-ping-before "$con" VMM-PONG "ping 1"
    snap_chat snap-disk-before "$con" VMM-DISK disk-before
    # The peer of L2's held connection (it ends with the first vmm) and the
    # one L2 sends to after the restore.
    /bin/vmm-stream -t 60 listen "unix:${vsock}_5002" >/tmp/vsock-held.log 2>&1 &
    /bin/vmm-stream -t 170 listen "unix:${vsock}_5001" >/tmp/vsock-tx.log 2>&1 &
    vsock_tx=$!
    snap_chat snap-vsock-before "$con" VMM-VSOCK vsock-before
    snap_api balloon-resize-64 "$sock" vm.resize '{"desired_balloon":67108864}'
    snap_chat balloon-64 "$con" VMM-BALLOON "balloon 64"
    snap_api snap-pause "$sock" vm.pause
    rm -rf "$snap"
    mkdir -p "$snap"
    snap_api snap-snapshot "$sock" vm.snapshot "{\"destination_url\":\"file://$snap\"}"
    echo "VMM-L1-SNAPSHOT-SIZE KiB: $(du -k "$snap"/* | tr "\t\n" "= ")"
    snap_api snap-shutdown "$sock" vmm.shutdown
    wait_for_file "$rcfile" 20
    echo "VMM-L1-CHECK snap-first-exit rc=$(cat "$rcfile" 2>/dev/null || echo none)"
    if [ ! -s "$rcfile" ]; then
        kill -9 "$(cat "$pidfile")" 2>/dev/null
        wait_for_file "$rcfile" 5
    fi
    rm -f "$rcfile" "$pidfile" "$sock"
    echo "VMM-CASE-RESTORE case=$c uptime=$(uptime_s)"
    (
        /usr/local/bin/vmm --restore "source_url=file://$snap" \
            --api-socket "path=$sock" \
            --event-monitor "path=/tmp/events-$c-restored.json" </dev/null 2>&1 &
        echo $! > "$pidfile"
        wait $!
        echo $? > "$rcfile"
    ) | tee -a "$log" &
    snap_api snap-resume "$sock" vm.resume
    snap_chat snap-ping-after "$con" VMM-PONG "ping 2"
    snap_chat snap-disk-after "$con" VMM-DISK disk-after
    snap_chat snap-vsock-after "$con" VMM-VSOCK vsock-after
    wait "$vsock_tx"
    echo "VMM-L1-CHECK snap-vsock-tx rc=$? $(tr '\n' ' ' </tmp/vsock-tx.log)"
    out=$(/bin/vmm-stream -t 30 send "hybrid:$vsock:5000" 65536 2>&1)
    echo "VMM-L1-CHECK snap-vsock-send rc=$? $out"
    snap_chat snap-vsock-rx "$con" VMM-VSOCK vsock-rx
    snap_chat snap-ping-later "$con" VMM-PONG "ping 3"
    snap_api balloon-resize-32 "$sock" vm.resize '{"desired_balloon":33554432}'
    snap_chat balloon-32 "$con" VMM-BALLOON "balloon 32"
    snap_api balloon-resize-0 "$sock" vm.resize '{"desired_balloon":0}'
    snap_chat balloon-0 "$con" VMM-BALLOON "balloon 0"
    echo "VMM-COUNTERS $(/bin/vmm-api-call -t 5 "$sock" vm.counters 2>&1)"
    echo "VMM-API-SEND action=vm.power-button uptime=$(uptime_s)"
    reply=$(/bin/vmm-api-call -t 20 "$sock" vm.power-button 2>&1)
    echo "VMM-API action=vm.power-button rc=$? reply=$reply"
}

run_case() {
    c=$1
    log=/tmp/l2-$c.log
    rcfile=/tmp/rc-$c
    pidfile=/tmp/pid-$c
    sock=/run/vmm-$c.sock
    kernel=/l2/vmlinuz
    [ "$c" = boot-pvh ] && kernel=/l2/vmlinux
    rm -f "$log" "$rcfile" "$pidfile" "$sock"
    : > "$log"
    console=off
    cmdline="$L2_CMDLINE vmmtest=$c"
    # shellcheck disable=SC2153 # WAIT_TIMEOUT comes from /vmmtest.conf
    wait_timeout=$WAIT_TIMEOUT
    memory=$L2_MEMORY
    cpus=boot=2
    [ "$c" = snapshot ] && memory=$SNAPSHOT_L2_MEMORY
    set --
    if [ "$c" = virtio ]; then
        hvc=/tmp/hvc-$c.log
        vsock=/run/vsock-$c.sock
        console="file=$hvc"
        cmdline="$cmdline vmmtoken=$VIRTIO_TOKEN vmmmac=$VIRTIO_MAC"
        wait_timeout=$VIRTIO_WAIT_TIMEOUT
        rm -f "$hvc" "$vsock" "${vsock}_5001"
        set -- --disk path=/dev/vda \
            --net "tap=vmmtap0,mac=$VIRTIO_MAC,ip=192.168.249.1,mask=255.255.255.0" \
            --rng src=/dev/urandom --balloon size=64M \
            --vsock "cid=3,socket=$vsock"
        [ -b /dev/vda ] || echo "VMM-L1-FAIL no /dev/vda (QEMU's disk for the virtio case)"
        # Peers for what L2 sends: TCP over the tap, vsock to host port 5001.
        /bin/vmm-stream -t "$wait_timeout" listen tcp:7000 >/tmp/net-tx.log 2>&1 &
        net_tx=$!
        /bin/vmm-stream -t "$wait_timeout" listen "unix:${vsock}_5001" >/tmp/vsock-tx.log 2>&1 &
        vsock_tx=$!
    fi
    if [ "$c" = snapshot ]; then
        # QEMU's disk, a console L1 can talk to both ways, a balloon to
        # resize, vsock. Less RAM: the snapshot's memory file lives in L1's.
        [ -b /dev/vda ] || echo "VMM-L1-FAIL no /dev/vda (QEMU's disk for the snapshot case)"
        con=/run/console-$c.sock
        console="socket=$con"
        vsock=/run/vsock-$c.sock
        cmdline="$cmdline vmmtoken=$VIRTIO_TOKEN"
        wait_timeout=$VIRTIO_WAIT_TIMEOUT
        set -- --disk path=/dev/vda --rng src=/dev/urandom --balloon size=0 --vsock "cid=3,socket=$vsock"
    fi
    if [ "$c" = hotplug ]; then
        # QEMU's disk again, but hot-added once L2 runs (vm.add-disk); a
        # third vCPU added later and removed again, then 128 MiB of RAM
        # (vm.resize).
        [ -b /dev/vda ] || echo "VMM-L1-FAIL no /dev/vda (QEMU's disk for the hotplug case)"
        cmdline="$cmdline vmmtoken=$VIRTIO_TOKEN"
        cpus=boot=2,max=3
        memory="$L2_MEMORY,hotplug_method=acpi,hotplug_size=256M"
    fi
    echo "VMM-CASE-START case=$c uptime=$(uptime_s)"
    # The guest's serial console is vmm's stdout; tee shows it on ours and
    # keeps a copy the power-button case watches for the guest being ready.
    # No `timeout` wrapper: vmm may exit 0 on SIGTERM, and a vmm that had to
    # be killed must never pass - the wait below kills it and reports rc=none.
    (
        /usr/local/bin/vmm \
            --kernel "$kernel" --initramfs /l2/initramfs.cpio \
            --cmdline "$cmdline" \
            --cpus "$cpus" --memory "size=$memory" \
            --serial tty --console "$console" --platform "$L2_PLATFORM" "$@" \
            --api-socket "path=$sock" \
            --event-monitor "path=/tmp/events-$c.json" </dev/null 2>&1 &
        echo $! > "$pidfile"
        wait $!
        echo $? > "$rcfile"
    ) | tee "$log" &
    limit=$((VMM_TIMEOUT + 10))

    if [ "$c" = power-button ] || [ "$c" = virtio ]; then
        n=0
        while ! grep -q VMM-L2-WAITING "$log" && [ ! -s "$rcfile" ]; do
            if [ "$n" -ge $((wait_timeout * 5)) ]; then
                echo "VMM-L1-FAIL L2 not waiting for the power button after ${wait_timeout}s"
                break
            fi
            usleep 200000
            n=$((n + 1))
        done
        if [ "$c" = virtio ] && [ ! -s "$rcfile" ]; then
            # L2 listens for these while it waits for the power button.
            out=$(ping -c 2 -W 5 192.168.249.2 2>&1)
            echo "VMM-L1-CHECK ping-l2 rc=$? $(echo "$out" | tail -n 2 | tr '\n' ' ')"
            out=$(/bin/vmm-stream -t 30 send tcp:192.168.249.2:7001 262144 2>&1)
            echo "VMM-L1-CHECK net-rx rc=$? $out"
            out=$(/bin/vmm-stream -t 30 send "hybrid:$vsock:5000" 65536 2>&1)
            echo "VMM-L1-CHECK vsock-rx rc=$? $out"
            echo "VMM-COUNTERS $(/bin/vmm-api-call -t 5 "$sock" vm.counters 2>&1)"
        fi
        if [ ! -s "$rcfile" ]; then
            echo "VMM-API-SEND action=vm.power-button uptime=$(uptime_s)"
            reply=$(/bin/vmm-api-call -t 20 "$sock" vm.power-button 2>&1)
            echo "VMM-API action=vm.power-button rc=$? reply=$reply"
            limit=$EXIT_TIMEOUT
        fi
    fi

    if [ "$c" = hotplug ]; then
        hotplug_l1 "$sock" "$log" "$rcfile" "$wait_timeout" "/tmp/events-$c.json" "$pidfile"
    fi
    if [ "$c" = snapshot ]; then
        snapshot_l1 "$sock" "$log" "$rcfile" "$wait_timeout" "$con" "$pidfile" "$c" "$vsock"
        limit=$EXIT_TIMEOUT
    fi

    if ! wait_for_file "$rcfile" "$limit"; then
        echo "VMM-L1-FAIL vmm did not exit within ${limit}s; killing it"
        diag_vmm "$sock" "$(cat "$pidfile")"
        kill "$(cat "$pidfile")" 2>/dev/null
        wait_for_file "$rcfile" 5 || kill -9 "$(cat "$pidfile")" 2>/dev/null
        wait_for_file "$rcfile" 5
        wait
        echo "VMM-EXIT case=$c rc=none uptime=$(uptime_s)"
        return
    fi
    if [ "$c" = virtio ]; then
        wait "$net_tx"
        echo "VMM-L1-CHECK net-tx rc=$? $(tr '\n' ' ' </tmp/net-tx.log)"
        wait "$vsock_tx"
        echo "VMM-L1-CHECK vsock-tx rc=$? $(tr '\n' ' ' </tmp/vsock-tx.log)"
        sed 's/^/VMM-HVC-OUT /' "$hvc"
    fi
    wait
    echo "VMM-EXIT case=$c rc=$(cat "$rcfile") uptime=$(uptime_s)"
    for events in "/tmp/events-$c.json" "/tmp/events-$c-restored.json"; do
        [ -s "$events" ] && head -n 60 "$events" | sed 's/^/VMM-EVENT /'
    done
}

for c in $CASES; do
    run_case "$c"
done

# The virtio case's disk is QEMU's: what vmm wrote to it must reach the image
# the host reads after QEMU exits.
sync
echo "VMM-L1-DONE uptime=$(uptime_s)"
poweroff -f
while :; do sleep 60; done
