/* SPDX-License-Identifier: Apache-2.0 */
#include "snapshot_kvm.h"

#include <errno.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

/* Far above KVM's list (~40 here, a few hundred at most elsewhere). */
#define MAX_SAVED_MSRS 1024u

static int ioctl_failed(char *errbuf, size_t errlen, const char *who, const char *what)
{
    int r = -errno;
    snprintf(errbuf, errlen, "snapshot: %s: %s failed: %s", who, what, strerror(errno));
    return r;
}

static int missing(char *errbuf, size_t errlen, const char *who, const char *what, const SnapshotSection *sec,
                   size_t want)
{
    if (!sec)
        snprintf(errbuf, errlen, "snapshot state is invalid: %s: no %s section", who, what);
    else
        snprintf(errbuf, errlen, "snapshot state is invalid: %s: %s section is %zu bytes, expected %zu", who,
                 what, sec->len, want);
    return -EINVAL;
}

/* A section that must hold exactly one KVM structure. */
static int load_exact(const SnapshotState *s, uint32_t type, uint32_t instance, void *out, size_t size,
                      const char *who, const char *what, char *errbuf, size_t errlen)
{
    const SnapshotSection *sec = snapshot_state_find(s, type, instance);
    if (!sec || sec->len != size)
        return missing(errbuf, errlen, who, what, sec, size);
    memcpy(out, sec->data, size);
    return 0;
}

/* ------------------------------------------------------------------ VM */

static const char *const chip_names[] = {"PIC master", "PIC slave", "IOAPIC"};

int snapshot_vm_save(const Vm *vm, SnapshotWriter *w, char *errbuf, size_t errlen)
{
    for (uint32_t chip = 0; chip < 3; chip++) {
        struct kvm_irqchip c;
        memset(&c, 0, sizeof(c));
        c.chip_id = chip;
        if (ioctl(vm->vm_fd, KVM_GET_IRQCHIP, &c) < 0)
            return ioctl_failed(errbuf, errlen, chip_names[chip], "KVM_GET_IRQCHIP");
        snapshot_put_section(w, SNAPSHOT_SEC_VM_IRQCHIP, chip, &c, sizeof(c));
    }
    struct kvm_pit_state2 pit;
    memset(&pit, 0, sizeof(pit));
    if (ioctl(vm->vm_fd, KVM_GET_PIT2, &pit) < 0)
        return ioctl_failed(errbuf, errlen, "PIT", "KVM_GET_PIT2");
    snapshot_put_section(w, SNAPSHOT_SEC_VM_PIT, 0, &pit, sizeof(pit));
    struct kvm_clock_data clock;
    memset(&clock, 0, sizeof(clock));
    if (ioctl(vm->vm_fd, KVM_GET_CLOCK, &clock) < 0)
        return ioctl_failed(errbuf, errlen, "KVM clock", "KVM_GET_CLOCK");
    snapshot_put_section(w, SNAPSHOT_SEC_VM_CLOCK, 0, &clock, sizeof(clock));
    return 0;
}

int snapshot_vm_restore(const Vm *vm, const SnapshotState *s, char *errbuf, size_t errlen)
{
    int r;
    for (uint32_t chip = 0; chip < 3; chip++) {
        struct kvm_irqchip c;
        if ((r = load_exact(s, SNAPSHOT_SEC_VM_IRQCHIP, chip, &c, sizeof(c), chip_names[chip], "irqchip",
                            errbuf, errlen)) < 0)
            return r;
        if (c.chip_id != chip)
            return missing(errbuf, errlen, chip_names[chip], "irqchip (wrong chip id)", NULL, 0);
        if (ioctl(vm->vm_fd, KVM_SET_IRQCHIP, &c) < 0)
            return ioctl_failed(errbuf, errlen, chip_names[chip], "KVM_SET_IRQCHIP");
    }
    struct kvm_pit_state2 pit;
    if ((r = load_exact(s, SNAPSHOT_SEC_VM_PIT, 0, &pit, sizeof(pit), "PIT", "PIT", errbuf, errlen)) < 0)
        return r;
    if (ioctl(vm->vm_fd, KVM_SET_PIT2, &pit) < 0)
        return ioctl_failed(errbuf, errlen, "PIT", "KVM_SET_PIT2");
    struct kvm_clock_data clock;
    if ((r = load_exact(s, SNAPSHOT_SEC_VM_CLOCK, 0, &clock, sizeof(clock), "KVM clock", "clock", errbuf,
                        errlen)) < 0)
        return r;
    /* Only the clock value carries over: the host TSC and realtime pair
     * belong to the host that took the snapshot. */
    struct kvm_clock_data set = {.clock = clock.clock};
    if (ioctl(vm->vm_fd, KVM_SET_CLOCK, &set) < 0)
        return ioctl_failed(errbuf, errlen, "KVM clock", "KVM_SET_CLOCK");
    return 0;
}

/* --------------------------------------------------------------- vCPUs */

static struct kvm_msrs *msrs_to_save(int kvm_fd, char *errbuf, size_t errlen, const char *who)
{
    struct kvm_msr_list probe = {.nmsrs = 0};
    if (ioctl(kvm_fd, KVM_GET_MSR_INDEX_LIST, &probe) < 0 && errno != E2BIG) {
        ioctl_failed(errbuf, errlen, who, "KVM_GET_MSR_INDEX_LIST");
        return NULL;
    }
    if (probe.nmsrs > MAX_SAVED_MSRS) {
        snprintf(errbuf, errlen, "snapshot: %s: KVM lists %u MSRs, more than %u", who, probe.nmsrs,
                 MAX_SAVED_MSRS);
        return NULL;
    }
    struct kvm_msr_list *list = calloc(1, sizeof(*list) + probe.nmsrs * sizeof(uint32_t));
    struct kvm_msrs *msrs = calloc(1, sizeof(*msrs) + probe.nmsrs * sizeof(struct kvm_msr_entry));
    if (!list || !msrs) {
        free(list);
        free(msrs);
        snprintf(errbuf, errlen, "out of memory");
        return NULL;
    }
    list->nmsrs = probe.nmsrs;
    if (ioctl(kvm_fd, KVM_GET_MSR_INDEX_LIST, list) < 0) {
        ioctl_failed(errbuf, errlen, who, "KVM_GET_MSR_INDEX_LIST");
        free(list);
        free(msrs);
        return NULL;
    }
    msrs->nmsrs = list->nmsrs;
    for (uint32_t i = 0; i < list->nmsrs; i++)
        msrs->entries[i].index = list->indices[i];
    free(list);
    return msrs;
}

static int save_msrs(Vcpu *v, int kvm_fd, SnapshotWriter *w, char *errbuf, size_t errlen, const char *who)
{
    struct kvm_msrs *msrs = msrs_to_save(kvm_fd, errbuf, errlen, who);
    if (!msrs)
        return -EIO;
    /* KVM stops at the first MSR it cannot read (one the host CPU lacks):
     * drop that one and read the rest. */
    for (;;) {
        int n = ioctl(v->fd, KVM_GET_MSRS, msrs);
        if (n < 0) {
            int r = ioctl_failed(errbuf, errlen, who, "KVM_GET_MSRS");
            free(msrs);
            return r;
        }
        if ((uint32_t)n >= msrs->nmsrs)
            break;
        memmove(&msrs->entries[n], &msrs->entries[n + 1],
                (msrs->nmsrs - (uint32_t)n - 1) * sizeof(msrs->entries[0]));
        msrs->nmsrs--;
    }
    snapshot_section_begin(w, SNAPSHOT_SEC_VCPU_MSRS, v->id);
    snapshot_put_u32(w, msrs->nmsrs);
    for (uint32_t i = 0; i < msrs->nmsrs; i++) {
        snapshot_put_u32(w, msrs->entries[i].index);
        snapshot_put_u64(w, msrs->entries[i].data);
    }
    snapshot_section_end(w);
    free(msrs);
    return 0;
}

static int restore_msrs(Vcpu *v, const SnapshotState *s, char *errbuf, size_t errlen, const char *who)
{
    SnapshotReader r;
    if (!snapshot_reader_open(&r, s, SNAPSHOT_SEC_VCPU_MSRS, v->id))
        return missing(errbuf, errlen, who, "MSR", NULL, 0);
    uint32_t n = snapshot_get_u32(&r);
    if (n > MAX_SAVED_MSRS || r.left != (size_t)n * 12) {
        snprintf(errbuf, errlen, "snapshot state is invalid: %s: MSR section does not hold its %u MSRs", who,
                 n);
        return -EINVAL;
    }
    struct kvm_msrs *msrs = calloc(1, sizeof(*msrs) + n * sizeof(struct kvm_msr_entry));
    if (!msrs) {
        snprintf(errbuf, errlen, "out of memory");
        return -ENOMEM;
    }
    msrs->nmsrs = n;
    for (uint32_t i = 0; i < n; i++) {
        msrs->entries[i].index = snapshot_get_u32(&r);
        msrs->entries[i].data = snapshot_get_u64(&r);
    }
    int set = ioctl(v->fd, KVM_SET_MSRS, msrs);
    int ret = 0;
    if (set < 0) {
        ret = ioctl_failed(errbuf, errlen, who, "KVM_SET_MSRS");
    } else if ((uint32_t)set != n) {
        snprintf(errbuf, errlen, "snapshot: %s: KVM refused MSR 0x%x = 0x%llx (a different host CPU?)", who,
                 msrs->entries[set].index, (unsigned long long)msrs->entries[set].data);
        ret = -EINVAL;
    }
    free(msrs);
    return ret;
}

/* Lets KVM finish an instruction whose exit was handled in userspace: its
 * result (an IN's data, a string I/O's registers) is only written back into
 * the vCPU on the next KVM_RUN. */
static int complete_pending_exit(Vcpu *v, char *errbuf, size_t errlen, const char *who)
{
    v->run->immediate_exit = 1;
    int r = ioctl(v->fd, KVM_RUN, 0);
    int e = errno;
    v->run->immediate_exit = 0;
    if (r == 0 || e == EINTR || e == EAGAIN)
        return 0;
    errno = e;
    return ioctl_failed(errbuf, errlen, who, "KVM_RUN (completing the last exit)");
}

int snapshot_vcpu_save(Vcpu *v, int kvm_fd, SnapshotWriter *w, char *errbuf, size_t errlen)
{
    char who[32];
    snprintf(who, sizeof(who), "vCPU %u", v->id);
    int r = complete_pending_exit(v, errbuf, errlen, who);
    if (r < 0)
        return r;

    /* MP state first: reading it makes KVM process pending APIC events
     * (INIT, SIPI), so the rest is read after them. */
    struct kvm_mp_state mp;
    if (ioctl(v->fd, KVM_GET_MP_STATE, &mp) < 0)
        return ioctl_failed(errbuf, errlen, who, "KVM_GET_MP_STATE");
    snapshot_put_section(w, SNAPSHOT_SEC_VCPU_MP_STATE, v->id, &mp, sizeof(mp));

    struct kvm_regs regs;
    if (ioctl(v->fd, KVM_GET_REGS, &regs) < 0)
        return ioctl_failed(errbuf, errlen, who, "KVM_GET_REGS");
    snapshot_put_section(w, SNAPSHOT_SEC_VCPU_REGS, v->id, &regs, sizeof(regs));

    struct kvm_sregs sregs;
    if (ioctl(v->fd, KVM_GET_SREGS, &sregs) < 0)
        return ioctl_failed(errbuf, errlen, who, "KVM_GET_SREGS");
    snapshot_put_section(w, SNAPSHOT_SEC_VCPU_SREGS, v->id, &sregs, sizeof(sregs));

    struct kvm_fpu fpu;
    if (ioctl(v->fd, KVM_GET_FPU, &fpu) < 0)
        return ioctl_failed(errbuf, errlen, who, "KVM_GET_FPU");
    snapshot_put_section(w, SNAPSHOT_SEC_VCPU_FPU, v->id, &fpu, sizeof(fpu));

    if (ioctl(kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_XSAVE) > 0) {
        struct kvm_xsave *xsave = calloc(1, sizeof(*xsave));
        if (!xsave) {
            snprintf(errbuf, errlen, "out of memory");
            return -ENOMEM;
        }
        if (ioctl(v->fd, KVM_GET_XSAVE, xsave) < 0) {
            r = ioctl_failed(errbuf, errlen, who, "KVM_GET_XSAVE");
            free(xsave);
            return r;
        }
        snapshot_put_section(w, SNAPSHOT_SEC_VCPU_XSAVE, v->id, xsave, sizeof(*xsave));
        free(xsave);
    }
    if (ioctl(kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_XCRS) > 0) {
        struct kvm_xcrs xcrs;
        if (ioctl(v->fd, KVM_GET_XCRS, &xcrs) < 0)
            return ioctl_failed(errbuf, errlen, who, "KVM_GET_XCRS");
        snapshot_put_section(w, SNAPSHOT_SEC_VCPU_XCRS, v->id, &xcrs, sizeof(xcrs));
    }

    struct kvm_lapic_state lapic;
    if (ioctl(v->fd, KVM_GET_LAPIC, &lapic) < 0)
        return ioctl_failed(errbuf, errlen, who, "KVM_GET_LAPIC");
    snapshot_put_section(w, SNAPSHOT_SEC_VCPU_LAPIC, v->id, &lapic, sizeof(lapic));

    if ((r = save_msrs(v, kvm_fd, w, errbuf, errlen, who)) < 0)
        return r;

    struct kvm_vcpu_events events;
    if (ioctl(v->fd, KVM_GET_VCPU_EVENTS, &events) < 0)
        return ioctl_failed(errbuf, errlen, who, "KVM_GET_VCPU_EVENTS");
    snapshot_put_section(w, SNAPSHOT_SEC_VCPU_EVENTS, v->id, &events, sizeof(events));

    struct kvm_debugregs dbg;
    if (ioctl(v->fd, KVM_GET_DEBUGREGS, &dbg) < 0)
        return ioctl_failed(errbuf, errlen, who, "KVM_GET_DEBUGREGS");
    snapshot_put_section(w, SNAPSHOT_SEC_VCPU_DEBUGREGS, v->id, &dbg, sizeof(dbg));
    return 0;
}

int snapshot_vcpu_restore(Vcpu *v, int kvm_fd, const SnapshotState *s, char *errbuf, size_t errlen)
{
    char who[32];
    snprintf(who, sizeof(who), "vCPU %u", v->id);
    int r;

    /* The order matters: segments (with the APIC base) before the LAPIC,
     * the LAPIC before the MSRs (the TSC deadline is armed against it),
     * pending events after everything they refer to. */
    struct kvm_regs regs;
    if ((r = load_exact(s, SNAPSHOT_SEC_VCPU_REGS, v->id, &regs, sizeof(regs), who, "register", errbuf,
                        errlen)) < 0)
        return r;
    if (ioctl(v->fd, KVM_SET_REGS, &regs) < 0)
        return ioctl_failed(errbuf, errlen, who, "KVM_SET_REGS");

    struct kvm_sregs sregs;
    if ((r = load_exact(s, SNAPSHOT_SEC_VCPU_SREGS, v->id, &sregs, sizeof(sregs), who, "segment register",
                        errbuf, errlen)) < 0)
        return r;
    if (ioctl(v->fd, KVM_SET_SREGS, &sregs) < 0)
        return ioctl_failed(errbuf, errlen, who, "KVM_SET_SREGS");

    /* XSAVE includes the FPU; the FPU section is for hosts without it. */
    const SnapshotSection *xs = snapshot_state_find(s, SNAPSHOT_SEC_VCPU_XSAVE, v->id);
    if (xs) {
        if (ioctl(kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_XSAVE) <= 0) {
            snprintf(errbuf, errlen,
                     "snapshot: %s: the snapshot holds XSAVE state and this host's KVM lacks XSAVE", who);
            return -ENOTSUP;
        }
        struct kvm_xsave *xsave = calloc(1, sizeof(*xsave));
        if (!xsave) {
            snprintf(errbuf, errlen, "out of memory");
            return -ENOMEM;
        }
        r = load_exact(s, SNAPSHOT_SEC_VCPU_XSAVE, v->id, xsave, sizeof(*xsave), who, "XSAVE", errbuf,
                       errlen);
        if (r == 0 && ioctl(v->fd, KVM_SET_XSAVE, xsave) < 0)
            r = ioctl_failed(errbuf, errlen, who, "KVM_SET_XSAVE");
        free(xsave);
        if (r < 0)
            return r;
    } else {
        struct kvm_fpu fpu;
        if ((r = load_exact(s, SNAPSHOT_SEC_VCPU_FPU, v->id, &fpu, sizeof(fpu), who, "FPU", errbuf, errlen)) <
            0)
            return r;
        if (ioctl(v->fd, KVM_SET_FPU, &fpu) < 0)
            return ioctl_failed(errbuf, errlen, who, "KVM_SET_FPU");
    }
    if (snapshot_state_find(s, SNAPSHOT_SEC_VCPU_XCRS, v->id)) {
        struct kvm_xcrs xcrs;
        if ((r = load_exact(s, SNAPSHOT_SEC_VCPU_XCRS, v->id, &xcrs, sizeof(xcrs), who, "XCR", errbuf,
                            errlen)) < 0)
            return r;
        if (xcrs.nr_xcrs > KVM_MAX_XCRS)
            return missing(errbuf, errlen, who, "XCR (too many XCRs)", NULL, 0);
        if (ioctl(v->fd, KVM_SET_XCRS, &xcrs) < 0)
            return ioctl_failed(errbuf, errlen, who, "KVM_SET_XCRS");
    }

    struct kvm_lapic_state lapic;
    if ((r = load_exact(s, SNAPSHOT_SEC_VCPU_LAPIC, v->id, &lapic, sizeof(lapic), who, "LAPIC", errbuf,
                        errlen)) < 0)
        return r;
    if (ioctl(v->fd, KVM_SET_LAPIC, &lapic) < 0)
        return ioctl_failed(errbuf, errlen, who, "KVM_SET_LAPIC");

    if ((r = restore_msrs(v, s, errbuf, errlen, who)) < 0)
        return r;

    struct kvm_mp_state mp;
    if ((r = load_exact(s, SNAPSHOT_SEC_VCPU_MP_STATE, v->id, &mp, sizeof(mp), who, "MP state", errbuf,
                        errlen)) < 0)
        return r;
    if (ioctl(v->fd, KVM_SET_MP_STATE, &mp) < 0)
        return ioctl_failed(errbuf, errlen, who, "KVM_SET_MP_STATE");

    struct kvm_vcpu_events events;
    if ((r = load_exact(s, SNAPSHOT_SEC_VCPU_EVENTS, v->id, &events, sizeof(events), who, "event", errbuf,
                        errlen)) < 0)
        return r;
    /* KVM_GET_VCPU_EVENTS fills these fields but does not flag them. */
    events.flags |= KVM_VCPUEVENT_VALID_NMI_PENDING | KVM_VCPUEVENT_VALID_SIPI_VECTOR;
    if (ioctl(v->fd, KVM_SET_VCPU_EVENTS, &events) < 0)
        return ioctl_failed(errbuf, errlen, who, "KVM_SET_VCPU_EVENTS");

    struct kvm_debugregs dbg;
    if ((r = load_exact(s, SNAPSHOT_SEC_VCPU_DEBUGREGS, v->id, &dbg, sizeof(dbg), who, "debug register",
                        errbuf, errlen)) < 0)
        return r;
    if (ioctl(v->fd, KVM_SET_DEBUGREGS, &dbg) < 0)
        return ioctl_failed(errbuf, errlen, who, "KVM_SET_DEBUGREGS");
    return 0;
}
