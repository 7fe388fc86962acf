#!/usr/bin/env bash
# Installs, from Debian 12's packages, whatever the build and the tests need
# and is not there yet. Safe to run again: it installs nothing when all is present.
set -euo pipefail

packages=(
    # build
    meson ninja-build pkg-config gcc libc6-dev binutils python3
    libsystemd-dev libjson-c-dev libseccomp-dev libcmocka-dev liburing-dev
    # tests and benchmarks: nested Linux guests and the QEMU comparison
    qemu-system-x86 busybox-static lz4 e2fsprogs
    # the dbus suite: a private dbus-daemon, busctl (systemd), gdbus (error names), a real polkitd
    dbus-daemon systemd libglib2.0-bin polkitd
    # guest suite: virtio-net in a network namespace; the ACPI and SMBIOS tables checked by iasl and dmidecode
    iproute2 acpica-tools dmidecode
    # the fuzz suite: clang and its libFuzzer/sanitizer runtimes
    clang libclang-rt-14-dev
)

missing=()
for p in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$p")
    fi
done

if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    echo "install-deps: missing packages: ${missing[*]}; run as root (or install them) first" >&2
    exit 1
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" </dev/null
