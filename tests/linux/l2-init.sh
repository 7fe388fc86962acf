#!/bin/busybox sh
# /init of the L2 guest (the Linux that `vmm` boots) in the `linux` suite.
# The case comes from the kernel command line: vmmtest=CASE (the virtio case
# also gets vmmtoken=, a per-run string, and vmmmac=, the MAC vmm was given).
#   boot, boot-pvh: print the marker, power off.
#   power-button:   print the marker, wait for KEY_POWER (the vmm's ACPI power
#                   button, pressed through its API), then power off.
#   hotplug:        load the virtio drivers, say ready, wait for the disk L1
#                   hot-adds, mount it and read hello.txt, wait for it to be
#                   ejected (L1 asks); then wait for the vCPU L1 adds, bring
#                   it online, wait for it to go again (L1 asks for fewer),
#                   then for the memory L1 plugs (MemTotal grows), and power
#                   off.
#   snapshot:       load the virtio drivers, answer L1's commands on hvc0
#                   (--console socket=) while L1 snapshots the VM and restores
#                   it in a new vmm: ping (boot id, uptime, a 0.2 s sleep),
#                   disk-before / disk-after (files on the mounted disk),
#                   balloon MIB (MemTotal follows vm.resize), vsock-before /
#                   vsock-after / vsock-rx (a connection open at the snapshot
#                   is reset after the restore, new ones work both ways);
#                   then wait for KEY_POWER.
#   virtio:         load the virtio drivers and use every device (disk, net,
#                   rng, console, balloon, vsock), printing one
#                   "VMM-L2-CHECK <device> PASS|FAIL <details>" line each;
#                   then wait for KEY_POWER while L1 talks to the guest
#                   (net-rx, vsock-rx) and reads vm.counters.
# Powering off is ACPI S5, after which the vmm is expected to exit 0.
/bin/busybox mkdir -p /proc /sys /dev /tmp /sbin /usr/bin /usr/sbin
/bin/busybox --install -s
export PATH=/sbin:/usr/sbin:/bin:/usr/bin:/usr/local/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null

case_name=boot
# shellcheck disable=SC2013 # words are wanted
for word in $(cat /proc/cmdline); do
    case "$word" in
        vmmtest=*) case_name=${word#vmmtest=} ;;
        vmmtoken=*) token=${word#vmmtoken=} ;;
        vmmmac=*) want_mac=${word#vmmmac=} ;;
    esac
done

echo "VMM-L2-OK uname=$(uname -r) cpus=$(nproc) case=$case_name uptime=$(cut -d' ' -f1 /proc/uptime)"
# What Linux read from vmm's SMBIOS tables (--platform serial_number, uuid).
dmi=/sys/class/dmi/id
echo "VMM-L2-DMI vendor=$(cat $dmi/sys_vendor) product=$(cat $dmi/product_name)" \
    "serial=$(cat $dmi/product_serial) uuid=$(cat $dmi/product_uuid)"

# A guest whose timer interrupts do not arrive hangs here, and says so.
echo "VMM-L2-SLEEP 0.3s"
usleep 300000
echo "VMM-L2-TIMER ok uptime=$(cut -d' ' -f1 /proc/uptime)"

load_modules() {
    # shellcheck disable=SC2013
    for m in $(cat "/lib/modules/$1"); do
        insmod "/lib/modules/$m.ko" || echo "VMM-L2-FAIL insmod $m"
    done
}

check() {
    echo "VMM-L2-CHECK $1 $2 $3"
}

# Waits until path $1 exists, at most $2 seconds.
wait_path() {
    n=0
    while [ ! -e "$1" ]; do
        [ "$n" -ge $(($2 * 10)) ] && return 1
        usleep 100000
        n=$((n + 1))
    done
}

mem_total_kb() {
    sed -n 's/^MemTotal: *\([0-9]*\) kB$/\1/p' /proc/meminfo
}

# The host made an ext4 image holding hello.txt and host-data.bin; read them,
# write from-l2.txt and l2-data.bin, and discard a deleted file's blocks
# (fstrim); the host checks the files with debugfs and the whole file system
# with e2fsck after the run.
check_blk() {
    wait_path /sys/block/vda 10 || { check blk FAIL "no /sys/block/vda"; return; }
    mkdir -p /mnt
    if ! mount -t ext4 /dev/vda /mnt; then
        check blk FAIL "mount /dev/vda failed"
        return
    fi
    hello=$(cat /mnt/hello.txt)
    host_sha=$(sha256sum /mnt/host-data.bin | cut -d' ' -f1)
    echo "written by L2 $token" > /mnt/from-l2.txt
    dd if=/dev/urandom of=/mnt/l2-data.bin bs=65536 count=16 2>/dev/null
    l2_sha=$(sha256sum /mnt/l2-data.bin | cut -d' ' -f1)
    dd if=/dev/urandom of=/mnt/scratch.bin bs=65536 count=8 2>/dev/null
    sync
    rm /mnt/scratch.bin
    sync
    trim=$(fstrim -v /mnt 2>&1)
    trim_rc=$?
    if ! umount /mnt; then
        check blk FAIL "umount failed"
    elif [ "$trim_rc" -ne 0 ]; then
        check blk FAIL "fstrim: $trim"
    elif [ "$hello" != "hello from the host $token" ]; then
        check blk FAIL "hello.txt reads '$hello'"
    else
        check blk PASS "size=$(cat /sys/block/vda/size) host-data-sha256=$host_sha l2-data-sha256=$l2_sha"
    fi
}

# The MAC from vmm's --net mac=, pings to the tap's address in L1 (bigger
# than the default too) and 256 KiB over TCP to a listener in L1.
check_net() {
    wait_path /sys/class/net/eth0 10 || { check net FAIL "no eth0"; return; }
    mac=$(cat /sys/class/net/eth0/address)
    if [ "$mac" != "$want_mac" ]; then
        check net FAIL "eth0 has MAC $mac, expected $want_mac"
        return
    fi
    ip link set lo up
    ip addr add 192.168.249.2/24 dev eth0
    ip link set eth0 up
    if ! ping -c 2 -W 5 192.168.249.1 >/tmp/ping.log 2>&1 ||
        ! ping -c 2 -s 1400 -W 5 192.168.249.1 >>/tmp/ping.log 2>&1; then
        check net FAIL "ping 192.168.249.1: $(tr '\n' ' ' </tmp/ping.log)"
        return
    fi
    if ! out=$(/bin/vmm-stream -t 30 send tcp:192.168.249.1:7000 262144 2>&1); then
        check net FAIL "tcp to L1: $out"
        return
    fi
    check net PASS "mac=$mac ping ok, $out"
}

check_rng() {
    wait_path /sys/class/misc/hw_random/rng_current 10 || { check rng FAIL "no hw_random"; return; }
    cur=$(cat /sys/class/misc/hw_random/rng_current)
    bytes=$(head -c 64 /dev/hwrng | od -An -tx1 | tr -d ' \n')
    case "$cur" in
        virtio_rng*) ;;
        *) check rng FAIL "rng_current is '$cur'"; return ;;
    esac
    if [ "${#bytes}" -ne 128 ] || [ -z "$(echo "$bytes" | tr -d 0)" ]; then
        check rng FAIL "/dev/hwrng gave '$bytes'"
        return
    fi
    check rng PASS "rng_current=$cur bytes=$bytes"
}

# The host side (vmm's --console file=) must hold this line afterwards.
check_console() {
    wait_path /dev/hvc0 10 || { check console FAIL "no /dev/hvc0"; return; }
    if echo "VMM-HVC-HELLO $token" > /dev/hvc0; then
        check console PASS "wrote to hvc0"
    else
        check console FAIL "write to /dev/hvc0 failed"
    fi
}

# --balloon size=64M: the driver inflates 64 MiB, which leaves MemTotal.
check_balloon() {
    wait_path /sys/bus/virtio/drivers/virtio_balloon 10 || { check balloon FAIL "no driver"; return; }
    dev=$(ls -d /sys/bus/virtio/drivers/virtio_balloon/virtio* 2>/dev/null)
    [ -n "$dev" ] || { check balloon FAIL "no device bound to virtio_balloon"; return; }
    n=0
    while :; do
        drop=$((mem_before - $(mem_total_kb)))
        [ "$drop" -ge 65536 ] && break
        if [ "$n" -ge 200 ]; then
            check balloon FAIL "MemTotal dropped by $drop kB only"
            return
        fi
        usleep 100000
        n=$((n + 1))
    done
    check balloon PASS "device=${dev##*/} memtotal-drop-kb=$drop"
}

# Guest to host: vmm connects port 5001 to the unix socket <socket>_5001 in L1.
check_vsock() {
    wait_path /sys/bus/virtio/drivers/vmw_vsock_virtio_transport 10 || {
        check vsock FAIL "no transport driver"
        return
    }
    if out=$(/bin/vmm-stream -t 30 send vsock:2:5001 65536 2>&1); then
        check vsock PASS "$out"
    else
        check vsock FAIL "to host port 5001: $out"
    fi
}

# A listener started before the power-button wait, fed by L1: pid $2, log $3.
check_listener() {
    if wait "$2"; then
        check "$1" PASS "$(cat "$3")"
    else
        check "$1" FAIL "$(tr '\n' ' ' <"$3")"
    fi
}

# The snapshot case's answers to L1's commands, one line each (L1 waits for
# the line's first word). Run before the snapshot and after the restore: the
# same kernel must answer both, with its boot id, its uptime going on, its
# timers (usleep) and the disk's queue working.
snapshot_answer() {
    case "$1" in
        ping)
            up=$(cut -d' ' -f1 /proc/uptime)
            usleep 200000
            echo "VMM-PONG $2 boot_id=$(cat /proc/sys/kernel/random/boot_id) uptime=$up" \
                "slept-to=$(cut -d' ' -f1 /proc/uptime)"
            ;;
        disk-before)
            # Mounted from here on: the snapshot holds a mounted ext4 and its
            # page cache, and the restored kernel goes on using them.
            mkdir -p /mnt
            if ! mount -t ext4 /dev/vda /mnt; then
                echo "VMM-DISK before FAIL mount /dev/vda failed"
            elif [ "$(cat /mnt/hello.txt)" != "hello from the host $token" ]; then
                echo "VMM-DISK before FAIL hello.txt reads '$(cat /mnt/hello.txt)'"
            else
                echo "before snapshot $token" > /mnt/snap-before.txt
                sync
                echo "VMM-DISK before ok"
            fi
            ;;
        disk-after)
            echo "after restore $token" > /mnt/snap-after.txt
            dd if=/dev/urandom of=/mnt/snap-data.bin bs=65536 count=16 2>/dev/null
            sha=$(sha256sum /mnt/snap-data.bin | cut -d' ' -f1)
            sync
            # Read back from the disk, not from the page cache.
            echo 3 > /proc/sys/vm/drop_caches
            before=$(cat /mnt/snap-before.txt)
            after=$(cat /mnt/snap-after.txt)
            reread=$(sha256sum /mnt/snap-data.bin | cut -d' ' -f1)
            if [ "$before" != "before snapshot $token" ] || [ "$after" != "after restore $token" ] ||
                [ "$reread" != "$sha" ]; then
                echo "VMM-DISK after FAIL read back '$before' '$after' $reread (wrote $sha)"
            elif ! umount /mnt; then
                echo "VMM-DISK after FAIL umount"
            else
                echo "VMM-DISK after ok data-sha256=$sha"
            fi
            ;;
        vsock-before)
            # A connection to host port 5002 (L1 listens on <socket>_5002),
            # open across the snapshot, and a listener on port 5000 for L1
            # to reach through the restored vmm.
            # (This runs in a command substitution: what outlives it
            # reports through files.)
            /bin/vmm-stream -t 170 listen vsock:5000 >/tmp/vsock-rx.log 2>&1 &
            rm -f /tmp/vsock-hold.rc
            (
                /bin/vmm-stream -t 170 hold vsock:2:5002
                echo $? >/tmp/vsock-hold.rc
            ) >/tmp/vsock-hold.log 2>&1 &
            n=0
            while ! grep -q held /tmp/vsock-hold.log && [ "$n" -lt 100 ]; do
                usleep 100000
                n=$((n + 1))
            done
            if grep -q held /tmp/vsock-hold.log; then
                echo "VMM-VSOCK before ok"
            else
                echo "VMM-VSOCK before FAIL hold: $(tr '\n' ' ' </tmp/vsock-hold.log)"
            fi
            ;;
        vsock-after)
            # The restored vmm's TRANSPORT_RESET ends the held connection;
            # then guest -> host through the new vmm.
            n=0
            while [ ! -s /tmp/vsock-hold.rc ] && [ "$n" -lt 100 ]; do
                usleep 100000
                n=$((n + 1))
            done
            if [ ! -s /tmp/vsock-hold.rc ]; then
                echo "VMM-VSOCK after FAIL the connection open at the snapshot still hangs 10 s after the restore"
            elif [ "$(cat /tmp/vsock-hold.rc)" != 0 ]; then
                echo "VMM-VSOCK after FAIL hold: $(tr '\n' ' ' </tmp/vsock-hold.log)"
            elif ! out=$(/bin/vmm-stream -t 30 send vsock:2:5001 65536 2>&1); then
                echo "VMM-VSOCK after FAIL to host port 5001: $out"
            else
                echo "VMM-VSOCK after ok $(grep ended /tmp/vsock-hold.log) | $out"
            fi
            ;;
        vsock-rx)
            # L1 sent to port 5000 through the restored vmm.
            if grep -q "received 65536 of 65536" /tmp/vsock-rx.log; then
                echo "VMM-VSOCK rx ok $(tr '\n' ' ' </tmp/vsock-rx.log)"
            else
                echo "VMM-VSOCK rx FAIL $(tr '\n' ' ' </tmp/vsock-rx.log)"
            fi
            ;;
        balloon)
            # vm.resize came first; the driver inflates or deflates to it.
            want=$(($2 * 1024))
            n=0
            while :; do
                drop=$((mem_before - $(mem_total_kb)))
                [ "$drop" -eq "$want" ] && break
                [ "$n" -ge 200 ] && break
                usleep 100000
                n=$((n + 1))
            done
            if [ "$drop" -eq "$want" ]; then
                echo "VMM-BALLOON ok want-kb=$want drop-kb=$drop"
            else
                echo "VMM-BALLOON FAIL want-kb=$want drop-kb=$drop after 20 s"
            fi
            ;;
        *) echo "VMM-HUH $1" ;;
    esac
}

if [ "$case_name" = snapshot ]; then
    mem_before=$(mem_total_kb)
    load_modules order-virtio
    wait_path /dev/hvc0 10 || echo "VMM-L2-FAIL no /dev/hvc0"
    (
        # Opened once for both directions, echo off (L1 would skip it, but
        # it is noise); each answer also goes to ttyS0 for the log.
        exec 3<>/dev/hvc0
        stty -echo <&3
        while read -r cmd arg <&3; do
            answer=$(snapshot_answer "$cmd" "$arg")
            echo "VMM-L2-ANSWER $answer"
            echo "$answer" >&3
        done
        echo "VMM-L2-FAIL hvc0 reader ended"
    ) &
    echo "VMM-L2-SNAPSHOT-READY boot_id=$(cat /proc/sys/kernel/random/boot_id) memtotal-kb=$mem_before"
    if /bin/vmm-power-key 170; then
        echo "VMM-L2-POWEROFF reason=power-button"
    else
        echo "VMM-L2-FAIL power key helper rc=$?"
    fi
elif [ "$case_name" = virtio ]; then
    mem_before=$(mem_total_kb)
    load_modules order-virtio
    check_blk
    check_net
    check_rng
    check_console
    check_balloon
    check_vsock
    # L1 sends to these once it sees VMM-L2-WAITING, before the press.
    /bin/vmm-stream -t 60 listen tcp:7001 >/tmp/net-rx.log 2>&1 &
    net_rx=$!
    /bin/vmm-stream -t 60 listen vsock:5000 >/tmp/vsock-rx.log 2>&1 &
    vsock_rx=$!
    if /bin/vmm-power-key 55; then
        check_listener net-rx "$net_rx" /tmp/net-rx.log
        check_listener vsock-rx "$vsock_rx" /tmp/vsock-rx.log
        echo "VMM-L2-POWEROFF reason=power-button"
    else
        echo "VMM-L2-FAIL power key helper rc=$?"
    fi
elif [ "$case_name" = hotplug ]; then
    # No disk at boot: L1 hot-adds one (vm.add-disk), Linux's acpiphp finds
    # it through the GED and the slot's Notify; then L1 asks for its removal
    # and acpiphp ejects it (_EJ0).
    load_modules order-virtio
    slots=$(ls /sys/bus/pci/slots 2>/dev/null | wc -l)
    [ -e /sys/block/vda ] && check hotplug-add FAIL "a vda before the hot-add"
    echo "VMM-L2-HOTPLUG-READY slots=$slots"
    if ! wait_path /sys/block/vda 60; then
        check hotplug-add FAIL "no /sys/block/vda 60 s after ready ($slots hotplug slots)"
    else
        pci=$(readlink -f /sys/block/vda | grep -o '0000:00:[0-9a-f]*\.0' | head -n 1)
        mkdir -p /mnt
        if ! mount -t ext4 -o ro /dev/vda /mnt; then
            check hotplug-add FAIL "mount of the hot-added /dev/vda failed"
        else
            hello=$(cat /mnt/hello.txt)
            umount /mnt
            if [ "$hello" = "hello from the host $token" ]; then
                check hotplug-add PASS "pci=$pci slots=$slots size=$(cat /sys/block/vda/size)"
            else
                check hotplug-add FAIL "hello.txt reads '$hello'"
            fi
        fi
        n=0
        while [ -e /sys/block/vda ] || [ -e "/sys/bus/pci/devices/$pci" ]; do
            [ "$n" -ge 600 ] && break
            usleep 100000
            n=$((n + 1))
        done
        if [ -e /sys/block/vda ] || [ -e "/sys/bus/pci/devices/$pci" ]; then
            check hotplug-remove FAIL "$pci still there 60 s after"
        else
            check hotplug-remove PASS "$pci gone"
        fi
    fi
    # vCPU hotplug: L1 asks vmm for a third vCPU (vm.resize); the GED's
    # Notify makes Linux's ACPI processor driver add cpu2, brought online
    # here with INIT/SIPI like any CPU.
    cpus=/sys/devices/system/cpu
    echo "VMM-L2-CPU-READY online=$(cat $cpus/online) possible=$(cat $cpus/possible)"
    if ! wait_path $cpus/cpu2/online 60; then
        check cpu-add FAIL "no cpu2 60 s after ready (present $(cat $cpus/present))"
    elif ! echo 1 >$cpus/cpu2/online; then
        check cpu-add FAIL "cpu2 would not come online"
    elif [ "$(cat $cpus/online)" != 0-2 ] || [ "$(nproc)" != 3 ]; then
        check cpu-add FAIL "online $(cat $cpus/online), nproc $(nproc)"
    else
        check cpu-add PASS "online $(cat $cpus/online) nproc $(nproc) processors $(grep -c ^processor /proc/cpuinfo)"
    fi
    # Then L1 asks for two vCPUs again: the GED's eject request makes Linux
    # take cpu2 offline and run its _EJ0; the cpu2 device goes away.
    echo "VMM-L2-CPU-REMOVE-READY online=$(cat $cpus/online)"
    n=0
    while [ -e $cpus/cpu2 ] && [ "$n" -lt 600 ]; do
        usleep 100000
        n=$((n + 1))
    done
    if [ -e $cpus/cpu2 ]; then
        check cpu-remove FAIL "cpu2 still there 60 s after ready (online $(cat $cpus/online))"
    elif [ "$(cat $cpus/online)" != 0-1 ] || [ "$(nproc)" != 2 ]; then
        check cpu-remove FAIL "online $(cat $cpus/online), nproc $(nproc)"
    else
        check cpu-remove PASS "online $(cat $cpus/online) nproc $(nproc) present $(cat $cpus/present)"
    fi
    # Memory hotplug: L1 adds 128 MiB (vm.resize desired_ram); Linux's ACPI
    # memory driver adds the block at 4 GiB (memory32: 128 MiB blocks), which
    # auto_online_blocks onlines.
    mem=/sys/devices/system/memory
    echo online >$mem/auto_online_blocks
    before=$(mem_total_kb)
    echo "VMM-L2-MEM-READY memtotal-kb=$before"
    n=0
    while [ $(($(mem_total_kb) - before)) -lt 126976 ] && [ "$n" -lt 600 ]; do
        usleep 100000
        n=$((n + 1))
    done
    grown=$(($(mem_total_kb) - before))
    if [ "$grown" -lt 126976 ]; then
        check mem-add FAIL "MemTotal grew by ${grown} kB in 60 s (memory32: $(cat $mem/memory32/state 2>&1))"
    elif [ "$(cat $mem/memory32/state)" != online ]; then
        check mem-add FAIL "memory32 is $(cat $mem/memory32/state)"
    else
        check mem-add PASS "MemTotal +${grown} kB, memory32 $(cat $mem/memory32/state)"
    fi
    echo "VMM-L2-POWEROFF reason=hotplug-done"
elif [ "$case_name" = power-button ]; then
    # Fixed-feature power button -> button.ko -> input device -> evdev.ko.
    load_modules order-power
    if /bin/vmm-power-key 55; then
        echo "VMM-L2-POWEROFF reason=power-button"
    else
        echo "VMM-L2-FAIL power key helper rc=$?"
        grep -i -E 'acpi|sci' /proc/interrupts
    fi
else
    echo "VMM-L2-POWEROFF reason=boot-case-done"
fi

# If the power-off hangs, this tells whether the guest still runs at all.
( sleep 10; echo "VMM-L2-STILL-UP 10s after poweroff -f"; grep -i -E 'acpi|sci' /proc/interrupts ) &
poweroff -f
# Only reached if the power-off request failed: never let PID 1 exit.
echo "VMM-L2-FAIL poweroff returned"
while :; do sleep 60; done
