/* SPDX-License-Identifier: Apache-2.0 */
#include "vm.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "layout.h"

static int ioctl_failed(char *errbuf, size_t errlen, const char *what)
{
    int r = -errno;
    snprintf(errbuf, errlen, "KVM: %s failed: %s", what, strerror(errno));
    return r;
}

/* Takes fd; returns it once it speaks the stable API, or closes it. */
static int check_api_version(int fd, char *errbuf, size_t errlen)
{
    int version = ioctl(fd, KVM_GET_API_VERSION, 0);
    if (version != KVM_API_VERSION) {
        snprintf(errbuf, errlen, "/dev/kvm speaks API version %d, not %d", version, KVM_API_VERSION);
        close(fd);
        return -ENOTSUP;
    }
    return fd;
}

int vm_open_kvm(char *errbuf, size_t errlen)
{
    int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        int r = -errno;
        snprintf(errbuf, errlen, "cannot open /dev/kvm: %s", strerror(errno));
        return r;
    }
    return check_api_version(fd, errbuf, errlen);
}

int vm_adopt_kvm(int fd, char *errbuf, size_t errlen)
{
    int own = fcntl(fd, F_DUPFD_CLOEXEC, 3);
    if (own < 0) {
        int r = -errno;
        snprintf(errbuf, errlen, "--kvm-fd %d: %s", fd, strerror(errno));
        return r;
    }
    return check_api_version(own, errbuf, errlen);
}

bool vm_kvm_available(char *errbuf, size_t errlen)
{
    int fd = vm_open_kvm(errbuf, errlen);
    if (fd < 0)
        return false;
    close(fd);
    return true;
}

/* Capabilities we cannot run without, each with what it is for. */
static const struct {
    int cap;
    const char *name;
} required_caps[] = {
    {KVM_CAP_IRQCHIP, "KVM_CAP_IRQCHIP (in-kernel PIC/IOAPIC/LAPIC)"},
    {KVM_CAP_USER_MEMORY, "KVM_CAP_USER_MEMORY"},
    {KVM_CAP_SET_TSS_ADDR, "KVM_CAP_SET_TSS_ADDR"},
    {KVM_CAP_PIT2, "KVM_CAP_PIT2"},
    {KVM_CAP_IMMEDIATE_EXIT, "KVM_CAP_IMMEDIATE_EXIT (clean vCPU kicks)"},
    {KVM_CAP_EXT_CPUID, "KVM_CAP_EXT_CPUID"},
};

int vm_create(Vm *vm, int kvm_fd, GuestMemory *mem, char *errbuf, size_t errlen)
{
    int r;
    memset(vm, 0, sizeof(*vm));
    vm->vm_fd = -1;
    vm->mem = mem;
    vm->kvm_fd = kvm_fd >= 0 ? kvm_fd : vm_open_kvm(errbuf, errlen);
    if (vm->kvm_fd < 0)
        return vm->kvm_fd;

    for (size_t i = 0; i < sizeof(required_caps) / sizeof(required_caps[0]); i++) {
        if (ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, required_caps[i].cap) <= 0) {
            snprintf(errbuf, errlen, "KVM lacks %s", required_caps[i].name);
            r = -ENOTSUP;
            goto fail;
        }
    }

    int run_size = ioctl(vm->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
    if (run_size <= 0) {
        r = ioctl_failed(errbuf, errlen, "KVM_GET_VCPU_MMAP_SIZE");
        goto fail;
    }
    vm->run_size = (size_t)run_size;

    do
        vm->vm_fd = ioctl(vm->kvm_fd, KVM_CREATE_VM, 0);
    while (vm->vm_fd < 0 && errno == EINTR);
    if (vm->vm_fd < 0) {
        r = ioctl_failed(errbuf, errlen, "KVM_CREATE_VM");
        goto fail;
    }

    /* Intel needs these three pages placed in guest-physical space below
     * 4 GiB and outside RAM; harmless elsewhere. */
    if (ioctl(vm->vm_fd, KVM_SET_TSS_ADDR, (unsigned long)LAYOUT_KVM_TSS) < 0) {
        r = ioctl_failed(errbuf, errlen, "KVM_SET_TSS_ADDR");
        goto fail;
    }
    uint64_t identity = LAYOUT_KVM_IDENTITY_MAP;
    if (ioctl(vm->vm_fd, KVM_SET_IDENTITY_MAP_ADDR, &identity) < 0) {
        r = ioctl_failed(errbuf, errlen, "KVM_SET_IDENTITY_MAP_ADDR");
        goto fail;
    }
    /* The irqchip must exist before any vCPU. */
    if (ioctl(vm->vm_fd, KVM_CREATE_IRQCHIP, 0) < 0) {
        r = ioctl_failed(errbuf, errlen, "KVM_CREATE_IRQCHIP");
        goto fail;
    }
    /* The dummy speaker makes KVM answer port 0x61, which Linux's PIT
     * calibration reads. */
    struct kvm_pit_config pit = {.flags = KVM_PIT_SPEAKER_DUMMY};
    if (ioctl(vm->vm_fd, KVM_CREATE_PIT2, &pit) < 0) {
        r = ioctl_failed(errbuf, errlen, "KVM_CREATE_PIT2");
        goto fail;
    }

    vm->next_slot = 0;
    for (size_t i = 0; i < mem->n_regions; i++) {
        /* A hotplug region with nothing plugged yet has no slot. */
        if (mem->regions[i].size &&
            vm_add_memory(vm, mem->regions[i].gpa, mem->regions[i].size, mem->regions[i].hva) < 0) {
            r = ioctl_failed(errbuf, errlen, "KVM_SET_USER_MEMORY_REGION");
            goto fail;
        }
    }
    return 0;

fail:
    /* A /dev/kvm fd the caller handed in stays the caller's. */
    vm_destroy(vm, kvm_fd >= 0);
    return r;
}

int vm_add_memory(Vm *vm, uint64_t gpa, uint64_t size, void *hva)
{
    struct kvm_userspace_memory_region region = {
        .slot = vm->next_slot,
        .guest_phys_addr = gpa,
        .memory_size = size,
        .userspace_addr = (uint64_t)(uintptr_t)hva,
    };
    if (ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &region) < 0)
        return -errno;
    vm->next_slot++;
    return 0;
}

void vm_destroy(Vm *vm, bool keep_kvm)
{
    if (vm->vm_fd >= 0)
        close(vm->vm_fd);
    vm->vm_fd = -1;
    if (!keep_kvm && vm->kvm_fd >= 0) {
        close(vm->kvm_fd);
        vm->kvm_fd = -1;
    }
}

int vm_irq_line(Vm *vm, uint32_t gsi, int level)
{
    struct kvm_irq_level irq = {.irq = gsi, .level = (uint32_t)level};
    if (vm->vm_fd < 0)
        return -EBADF;
    return ioctl(vm->vm_fd, KVM_IRQ_LINE, &irq) < 0 ? -errno : 0;
}

void vm_irq_line_cb(void *ctx, uint32_t gsi, int level)
{
    vm_irq_line(ctx, gsi, level);
}
