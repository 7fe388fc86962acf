/* SPDX-License-Identifier: Apache-2.0 */
#include "vcpu.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "cpuid.h"

static int ioctl_failed(char *errbuf, size_t errlen, uint32_t id, const char *what)
{
    int r = -errno;
    snprintf(errbuf, errlen, "KVM: vCPU %u: %s failed: %s", id, what, strerror(errno));
    return r;
}

/* MSRs a freshly reset x86 CPU is expected to have, as Linux's boot code
 * finds them on real hardware. */
static const struct {
    uint32_t index;
    uint64_t value;
} boot_msrs[] = {
    {0x174, 0},               /* IA32_SYSENTER_CS */
    {0x175, 0},               /* IA32_SYSENTER_ESP */
    {0x176, 0},               /* IA32_SYSENTER_EIP */
    {0xc0000081, 0},          /* STAR */
    {0xc0000082, 0},          /* LSTAR */
    {0xc0000083, 0},          /* CSTAR */
    {0xc0000084, 0},          /* SYSCALL_MASK */
    {0xc0000102, 0},          /* KERNEL_GS_BASE */
    {0x10, 0},                /* IA32_TSC */
    {0x1a0, 1},               /* IA32_MISC_ENABLE: fast strings */
    {0x2ff, (1u << 11) | 6},  /* MTRRdefType: MTRRs on, default write-back */
};

static bool msr_supported(const struct kvm_msr_list *list, uint32_t index)
{
    for (uint32_t i = 0; list && i < list->nmsrs; i++)
        if (list->indices[i] == index)
            return true;
    return false;
}

static struct kvm_msr_list *msr_index_list(int kvm_fd)
{
    struct kvm_msr_list probe = {.nmsrs = 0};
    if (ioctl(kvm_fd, KVM_GET_MSR_INDEX_LIST, &probe) < 0 && errno != E2BIG)
        return NULL;
    struct kvm_msr_list *list = calloc(1, sizeof(*list) + probe.nmsrs * sizeof(uint32_t));
    if (!list)
        return NULL;
    list->nmsrs = probe.nmsrs;
    if (ioctl(kvm_fd, KVM_GET_MSR_INDEX_LIST, list) < 0) {
        free(list);
        return NULL;
    }
    return list;
}

static int setup_msrs(Vcpu *v, int kvm_fd, char *errbuf, size_t errlen)
{
    struct kvm_msr_list *supported = msr_index_list(kvm_fd);
    size_t n = sizeof(boot_msrs) / sizeof(boot_msrs[0]);
    struct kvm_msrs *msrs = calloc(1, sizeof(*msrs) + n * sizeof(struct kvm_msr_entry));
    if (!msrs) {
        free(supported);
        snprintf(errbuf, errlen, "out of memory");
        return -ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        /* MTRRdefType is emulated by KVM but not always in the index list. */
        if (supported && !msr_supported(supported, boot_msrs[i].index) && boot_msrs[i].index != 0x2ff)
            continue;
        msrs->entries[msrs->nmsrs].index = boot_msrs[i].index;
        msrs->entries[msrs->nmsrs].data = boot_msrs[i].value;
        msrs->nmsrs++;
    }
    int set = ioctl(v->fd, KVM_SET_MSRS, msrs);
    int r = 0;
    if (set < 0)
        r = ioctl_failed(errbuf, errlen, v->id, "KVM_SET_MSRS");
    else if ((uint32_t)set != msrs->nmsrs) {
        snprintf(errbuf, errlen, "KVM: vCPU %u: KVM_SET_MSRS refused MSR 0x%x", v->id,
                 msrs->entries[set].index);
        r = -EINVAL;
    }
    free(msrs);
    free(supported);
    return r;
}

static int setup_fpu(Vcpu *v, char *errbuf, size_t errlen)
{
    struct kvm_fpu fpu;
    memset(&fpu, 0, sizeof(fpu));
    fpu.fcw = 0x37f;    /* x87 reset value: all exceptions masked, 64-bit precision */
    fpu.mxcsr = 0x1f80; /* SSE reset value */
    if (ioctl(v->fd, KVM_SET_FPU, &fpu) < 0)
        return ioctl_failed(errbuf, errlen, v->id, "KVM_SET_FPU");
    return 0;
}

#define APIC_LVT_LINT0 0x350
#define APIC_LVT_LINT1 0x360
#define APIC_MODE_NMI 0x4
#define APIC_MODE_EXTINT 0x7

static void lapic_set_lvt_mode(struct kvm_lapic_state *l, unsigned reg, uint32_t mode)
{
    uint32_t v;
    memcpy(&v, &l->regs[reg], sizeof(v));
    v = (v & ~0x700u) | (mode << 8);
    memcpy(&l->regs[reg], &v, sizeof(v));
}

static int setup_lapic(Vcpu *v, char *errbuf, size_t errlen)
{
    /* LINT0 carries the PIC's ExtINT and LINT1 the NMI, as a BIOS leaves them. */
    struct kvm_lapic_state l;
    if (ioctl(v->fd, KVM_GET_LAPIC, &l) < 0)
        return ioctl_failed(errbuf, errlen, v->id, "KVM_GET_LAPIC");
    lapic_set_lvt_mode(&l, APIC_LVT_LINT0, APIC_MODE_EXTINT);
    lapic_set_lvt_mode(&l, APIC_LVT_LINT1, APIC_MODE_NMI);
    if (ioctl(v->fd, KVM_SET_LAPIC, &l) < 0)
        return ioctl_failed(errbuf, errlen, v->id, "KVM_SET_LAPIC");
    return 0;
}

int vcpu_create(Vcpu *v, Vm *vm, uint32_t id, const struct kvm_cpuid2 *supported_cpuid, const CpusConfig *cpus,
                char *errbuf, size_t errlen)
{
    int r;
    memset(v, 0, sizeof(*v));
    v->id = id;
    v->fd = ioctl(vm->vm_fd, KVM_CREATE_VCPU, (unsigned long)id);
    if (v->fd < 0) {
        v->fd = -1;
        return ioctl_failed(errbuf, errlen, id, "KVM_CREATE_VCPU");
    }
    v->run_size = vm->run_size;
    v->run = mmap(NULL, v->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, v->fd, 0);
    if (v->run == MAP_FAILED) {
        v->run = NULL;
        r = -errno;
        snprintf(errbuf, errlen, "KVM: vCPU %u: mmap of kvm_run failed: %s", id, strerror(errno));
        goto fail;
    }

    bool tsc_deadline = ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_TSC_DEADLINE_TIMER) > 0;
    struct kvm_cpuid2 *cpuid = cpuid_for_vcpu(supported_cpuid, cpus, id, tsc_deadline);
    if (!cpuid) {
        snprintf(errbuf, errlen, "out of memory");
        r = -ENOMEM;
        goto fail;
    }
    r = ioctl(v->fd, KVM_SET_CPUID2, cpuid);
    free(cpuid);
    if (r < 0) {
        r = ioctl_failed(errbuf, errlen, id, "KVM_SET_CPUID2");
        goto fail;
    }
    if ((r = setup_msrs(v, vm->kvm_fd, errbuf, errlen)) < 0 || (r = setup_fpu(v, errbuf, errlen)) < 0 ||
        (r = setup_lapic(v, errbuf, errlen)) < 0)
        goto fail;
    return 0;

fail:
    vcpu_destroy(v);
    return r;
}

void vcpu_destroy(Vcpu *v)
{
    if (v->run)
        munmap(v->run, v->run_size);
    if (v->fd >= 0)
        close(v->fd);
    v->run = NULL;
    v->fd = -1;
}

int vcpu_set_boot_state(Vcpu *v, const X86BootSetup *boot, char *errbuf, size_t errlen)
{
    struct kvm_sregs sregs;
    if (ioctl(v->fd, KVM_GET_SREGS, &sregs) < 0)
        return ioctl_failed(errbuf, errlen, v->id, "KVM_GET_SREGS");
    x86_boot_sregs(boot, &sregs);
    if (ioctl(v->fd, KVM_SET_SREGS, &sregs) < 0)
        return ioctl_failed(errbuf, errlen, v->id, "KVM_SET_SREGS");

    struct kvm_regs regs;
    memset(&regs, 0, sizeof(regs));
    x86_boot_regs(boot, &regs);
    if (ioctl(v->fd, KVM_SET_REGS, &regs) < 0)
        return ioctl_failed(errbuf, errlen, v->id, "KVM_SET_REGS");
    return 0;
}

static VcpuExit handle_io(Vcpu *v, Bus *pio)
{
    struct kvm_run *run = v->run;
    uint32_t size = run->io.size;
    /* KVM guarantees data_offset/size/count describe bytes inside the
     * kvm_run mapping; check anyway rather than trust it blindly. */
    uint64_t total = (uint64_t)size * run->io.count;
    if (size == 0 || size > 4 || run->io.data_offset > v->run_size || total > v->run_size - run->io.data_offset)
        return VCPU_EXIT_CONTINUE;
    uint8_t *data = (uint8_t *)run + run->io.data_offset;
    for (uint32_t i = 0; i < run->io.count; i++, data += size) {
        if (run->io.direction == KVM_EXIT_IO_OUT)
            bus_write(pio, run->io.port, data, size);
        else
            bus_read(pio, run->io.port, data, size);
    }
    return VCPU_EXIT_CONTINUE;
}

static VcpuExit handle_mmio(Vcpu *v, Bus *mmio)
{
    struct kvm_run *run = v->run;
    uint32_t len = run->mmio.len;
    if (len == 0 || len > sizeof(run->mmio.data))
        return VCPU_EXIT_CONTINUE;
    if (run->mmio.is_write)
        bus_write(mmio, run->mmio.phys_addr, run->mmio.data, len);
    else
        bus_read(mmio, run->mmio.phys_addr, run->mmio.data, len);
    return VCPU_EXIT_CONTINUE;
}

static VcpuExit internal_error(Vcpu *v, char *errbuf, size_t errlen)
{
    struct kvm_run *run = v->run;
    int n = snprintf(errbuf, errlen, "vCPU %u: KVM internal error, suberror %u", v->id, run->internal.suberror);
    /* The emulation-failure suberror carries the instruction bytes. */
    for (uint32_t i = 0; i < run->internal.ndata && i < 16 && n > 0 && (size_t)n < errlen; i++)
        n += snprintf(errbuf + n, errlen - (size_t)n, "%s0x%llx", i ? " " : ", data ",
                      (unsigned long long)run->internal.data[i]);
    return VCPU_EXIT_ERROR;
}

VcpuExit vcpu_run_once(Vcpu *v, Bus *pio, Bus *mmio, char *errbuf, size_t errlen)
{
    if (ioctl(v->fd, KVM_RUN, 0) < 0) {
        if (errno == EINTR || errno == EAGAIN)
            return VCPU_EXIT_INTERRUPTED;
        snprintf(errbuf, errlen, "KVM: vCPU %u: KVM_RUN failed: %s", v->id, strerror(errno));
        return VCPU_EXIT_ERROR;
    }

    struct kvm_run *run = v->run;
    switch (run->exit_reason) {
    case KVM_EXIT_IO:
        v->exits_io++;
        return handle_io(v, pio);
    case KVM_EXIT_MMIO:
        v->exits_mmio++;
        return handle_mmio(v, mmio);
    case KVM_EXIT_INTR:
        return VCPU_EXIT_INTERRUPTED;
    case KVM_EXIT_HLT:
        /* With the in-kernel LAPIC a halt only exits when nothing can wake it. */
        v->exits_other++;
        snprintf(errbuf, errlen, "vCPU %u halted with interrupts off", v->id);
        return VCPU_EXIT_ERROR;
    case KVM_EXIT_SHUTDOWN:
        v->exits_other++;
        snprintf(errbuf, errlen, "vCPU %u: triple fault", v->id);
        return VCPU_EXIT_SHUTDOWN;
    case KVM_EXIT_SYSTEM_EVENT:
        v->exits_other++;
        if (run->system_event.type == KVM_SYSTEM_EVENT_RESET)
            return VCPU_EXIT_RESET;
        if (run->system_event.type == KVM_SYSTEM_EVENT_SHUTDOWN)
            return VCPU_EXIT_POWEROFF;
        snprintf(errbuf, errlen, "vCPU %u: system event %u", v->id, run->system_event.type);
        return VCPU_EXIT_ERROR;
    case KVM_EXIT_INTERNAL_ERROR:
        v->exits_other++;
        return internal_error(v, errbuf, errlen);
    case KVM_EXIT_FAIL_ENTRY:
        v->exits_other++;
        snprintf(errbuf, errlen, "vCPU %u: VM entry failed, hardware reason 0x%llx", v->id,
                 (unsigned long long)run->fail_entry.hardware_entry_failure_reason);
        return VCPU_EXIT_ERROR;
    default:
        v->exits_other++;
        snprintf(errbuf, errlen, "vCPU %u: unexpected KVM exit %u", v->id, run->exit_reason);
        return VCPU_EXIT_ERROR;
    }
}
