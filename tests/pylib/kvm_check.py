# SPDX-License-Identifier: Apache-2.0
"""Whether this host can run guests on KVM, for the test and bench runners
that must skip (exit 77) with a reason instead of failing."""
import fcntl
import os

KVM_GET_API_VERSION = 0xAE00
KVM_API_VERSION = 12


def kvm_unusable():
    """None when /dev/kvm opens and speaks API 12, else the reason."""
    try:
        fd = os.open("/dev/kvm", os.O_RDWR | os.O_CLOEXEC)
    except OSError as e:
        return f"/dev/kvm: {e.strerror}"
    try:
        version = fcntl.ioctl(fd, KVM_GET_API_VERSION)
    except OSError as e:
        return f"/dev/kvm: KVM_GET_API_VERSION: {e.strerror}"
    finally:
        os.close(fd)
    if version != KVM_API_VERSION:
        return f"/dev/kvm: API version {version}, expected {KVM_API_VERSION}"
    return None
