#!/bin/busybox sh
# /init of the L1 guest in the `linux` suite: a Linux running under QEMU's
# software emulator (which offers AMD SVM), where kvm-amd gives a real
# /dev/kvm to our vmm. Loads the KVM modules, checks that vmm's shared
# libraries resolve (vmm --version), then boots the L2 guest once per case and
# reports how vmm exited. run_linux.py on the host reads the VMM-* lines.
# /vmmtest.conf (written by run_linux.py) sets CASES, L1_MODULES, L2_CMDLINE,
# L2_MEMORY, VMM_TIMEOUT (one vmm run), WAIT_TIMEOUT (L2 ready for the power
# button), EXIT_TIMEOUT (vmm exit after the press) and VMM_LIBRARY_PATH.
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
    echo "VMM-CASE-START case=$c uptime=$(uptime_s)"
    # The guest's serial console is vmm's stdout; tee shows it on ours and
    # keeps a copy the power-button case watches for the guest being ready.
    # No `timeout` wrapper: vmm may exit 0 on SIGTERM, and a vmm that had to
    # be killed must never pass - the wait below kills it and reports rc=none.
    (
        /usr/local/bin/vmm \
            --kernel "$kernel" --initramfs /l2/initramfs.cpio \
            --cmdline "$L2_CMDLINE vmmtest=$c" \
            --cpus boot=2 --memory "size=$L2_MEMORY" \
            --serial tty --console off \
            --api-socket "path=$sock" \
            --event-monitor "path=/tmp/events-$c.json" </dev/null 2>&1 &
        echo $! > "$pidfile"
        wait $!
        echo $? > "$rcfile"
    ) | tee "$log" &
    limit=$((VMM_TIMEOUT + 10))

    if [ "$c" = power-button ]; then
        n=0
        while ! grep -q VMM-L2-WAITING "$log" && [ ! -s "$rcfile" ]; do
            if [ "$n" -ge $((WAIT_TIMEOUT * 5)) ]; then
                echo "VMM-L1-FAIL L2 not waiting for the power button after ${WAIT_TIMEOUT}s"
                break
            fi
            usleep 200000
            n=$((n + 1))
        done
        if [ ! -s "$rcfile" ]; then
            echo "VMM-API-SEND action=vm.power-button uptime=$(uptime_s)"
            reply=$(/bin/vmm-api-call -t 20 "$sock" vm.power-button 2>&1)
            echo "VMM-API action=vm.power-button rc=$? reply=$reply"
            limit=$EXIT_TIMEOUT
        fi
    fi

    if ! wait_for_file "$rcfile" "$limit"; then
        echo "VMM-L1-FAIL vmm did not exit within ${limit}s; killing it"
        # What the vmm says about the stuck VM: its state, and whether the
        # vCPUs still exit (counters 2 s apart); then L1's view of KVM.
        for action in vm.info vm.counters vm.counters; do
            echo "VMM-DIAG $action $(/bin/vmm-api-call -t 5 "$sock" "$action" 2>&1)"
            sleep 1
        done
        dmesg | grep -i -E 'kvm|svm' | tail -n 10 | sed 's/^/VMM-DIAG dmesg /'
        kill "$(cat "$pidfile")" 2>/dev/null
        wait_for_file "$rcfile" 5 || kill -9 "$(cat "$pidfile")" 2>/dev/null
        wait_for_file "$rcfile" 5
        wait
        echo "VMM-EXIT case=$c rc=none uptime=$(uptime_s)"
        return
    fi
    wait
    echo "VMM-EXIT case=$c rc=$(cat "$rcfile") uptime=$(uptime_s)"
    if [ -s "/tmp/events-$c.json" ]; then
        head -n 60 "/tmp/events-$c.json" | sed 's/^/VMM-EVENT /'
    fi
}

for c in $CASES; do
    run_case "$c"
done

echo "VMM-L1-DONE uptime=$(uptime_s)"
poweroff -f
while :; do sleep 60; done
