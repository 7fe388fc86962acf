#!/bin/busybox sh
# /init of the L2 guest (the Linux that `vmm` boots) in the `linux` suite.
# The case comes from the kernel command line: vmmtest=CASE.
#   boot, boot-pvh: print the marker, power off.
#   power-button:   print the marker, wait for KEY_POWER (the vmm's ACPI power
#                   button, pressed through its API), then power off.
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
    esac
done

echo "VMM-L2-OK uname=$(uname -r) cpus=$(nproc) case=$case_name uptime=$(cut -d' ' -f1 /proc/uptime)"

# A guest whose timer interrupts do not arrive hangs here, and says so.
echo "VMM-L2-SLEEP 0.3s"
usleep 300000
echo "VMM-L2-TIMER ok uptime=$(cut -d' ' -f1 /proc/uptime)"

if [ "$case_name" = power-button ]; then
    # Fixed-feature power button -> button.ko -> input device -> evdev.ko.
    # shellcheck disable=SC2013
    for m in $(cat /lib/modules/order); do
        insmod "/lib/modules/$m.ko" || echo "VMM-L2-FAIL insmod $m"
    done
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
