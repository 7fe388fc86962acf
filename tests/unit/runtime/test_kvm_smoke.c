/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The KVM layer on this host's /dev/kvm: a VM with RAM, the irqchip and PIT,
 * a vCPU with our CPUID/MSRs/FPU/LAPIC set up, entered in long mode on a few
 * bytes of code that write to a port; and a kick that gets a spinning vCPU
 * out of KVM_RUN. Skips (77) when /dev/kvm cannot be used.
 */
#include <errno.h>
#include <linux/kvm.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cmocka.h>

#include "cpuid.h"
#include "guest_memory.h"
#include "vcpu.h"
#include "vm.h"

#define CODE 0x100000ULL
#define PML4 0x9000ULL

/* mov dx,0x3f8; mov al,'K'; out dx,al; mov al,'O'; out dx,al; jmp $ */
static const uint8_t code[] = {0x66, 0xba, 0xf8, 0x03, 0xb0, 0x4b, 0xee, 0xb0, 0x4f, 0xee, 0xeb, 0xfe};

static GuestMemory mem;
static Vm vm;
static Vcpu vcpu;
static struct kvm_cpuid2 *supported;

static void long_mode(struct kvm_sregs *s)
{
    /* Identity map the first 1 GiB with one 2 MiB-page directory. */
    uint64_t pml4e = (PML4 + 0x1000) | 3, pdpte = (PML4 + 0x2000) | 3;
    guest_memory_write(&mem, PML4, &pml4e, 8);
    guest_memory_write(&mem, PML4 + 0x1000, &pdpte, 8);
    for (uint64_t i = 0; i < 512; i++) {
        uint64_t pde = (i << 21) | 0x83;
        guest_memory_write(&mem, PML4 + 0x2000 + i * 8, &pde, 8);
    }
    struct kvm_segment cs = {.base = 0, .limit = 0xffffffff, .selector = 0x10, .type = 11, .present = 1,
                             .dpl = 0, .db = 0, .s = 1, .l = 1, .g = 1};
    struct kvm_segment ds = cs;
    ds.selector = 0x18;
    ds.type = 3;
    ds.l = 0;
    ds.db = 1;
    s->cs = cs;
    s->ds = s->es = s->fs = s->gs = s->ss = ds;
    s->cr0 = 0x80050033;
    s->cr3 = PML4;
    s->cr4 = 0x620;
    s->efer = 0xd01;
}

static int setup(void **state)
{
    (void)state;
    char err[256];
    MemoryConfig mc;
    memory_config_init(&mc);
    mc.size = 16ULL << 20;
    if (guest_memory_create(&mem, &mc, err, sizeof(err)) < 0)
        fail_msg("%s", err);
    if (vm_create(&vm, -1, &mem, err, sizeof(err)) < 0)
        fail_msg("%s", err);
    supported = cpuid_supported(vm.kvm_fd, err, sizeof(err));
    if (!supported)
        fail_msg("%s", err);
    CpusConfig cpus;
    cpus_config_init(&cpus);
    if (vcpu_create(&vcpu, &vm, 0, supported, &cpus, err, sizeof(err)) < 0)
        fail_msg("%s", err);
    guest_memory_write(&mem, CODE, code, sizeof(code));
    struct kvm_sregs s;
    assert_int_equal(ioctl(vcpu.fd, KVM_GET_SREGS, &s), 0);
    long_mode(&s);
    assert_int_equal(ioctl(vcpu.fd, KVM_SET_SREGS, &s), 0);
    struct kvm_regs r = {.rip = CODE, .rflags = 2, .rsp = 0x8000};
    assert_int_equal(ioctl(vcpu.fd, KVM_SET_REGS, &r), 0);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    vcpu_destroy(&vcpu);
    vm_destroy(&vm, false);
    free(supported);
    guest_memory_destroy(&mem);
    return 0;
}

static void test_port_writes_exit_in_order(void **state)
{
    (void)state;
    const char expect[] = "KO";
    for (int i = 0; i < 2; i++) {
        assert_int_equal(ioctl(vcpu.fd, KVM_RUN, 0), 0);
        if (vcpu.run->exit_reason != KVM_EXIT_IO)
            fail_msg("exit %u, wanted KVM_EXIT_IO", vcpu.run->exit_reason);
        assert_int_equal(vcpu.run->io.port, 0x3f8);
        assert_int_equal(vcpu.run->io.direction, KVM_EXIT_IO_OUT);
        assert_int_equal(vcpu.run->io.size, 1);
        uint8_t b = *((uint8_t *)vcpu.run + vcpu.run->io.data_offset);
        assert_int_equal(b, expect[i]);
    }
}

static pthread_t runner;
static volatile int kicked;
static void on_kick(int sig)
{
    (void)sig;
    vcpu.run->immediate_exit = 1;
    kicked = 1;
}

static void *spin(void *arg)
{
    (void)arg;
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, SIGUSR1);
    pthread_sigmask(SIG_UNBLOCK, &s, NULL);
    long r = ioctl(vcpu.fd, KVM_RUN, 0);
    return (void *)(r < 0 ? (long)errno : 0L);
}

static void test_kick_leaves_kvm_run(void **state)
{
    (void)state;
    /* The guest now spins on `jmp $`: only a kick gets it out. */
    struct sigaction sa = {.sa_handler = on_kick};
    sigaction(SIGUSR1, &sa, NULL);
    assert_int_equal(pthread_create(&runner, NULL, spin, NULL), 0);
    usleep(50 * 1000);
    pthread_kill(runner, SIGUSR1);
    void *ret;
    pthread_join(runner, &ret);
    assert_true(kicked);
    assert_int_equal((long)ret, EINTR);
}

int main(void)
{
    char err[256];
    if (!vm_kvm_available(err, sizeof(err))) {
        printf("SKIP: %s\n", err);
        return 77;
    }
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, SIGUSR1);
    pthread_sigmask(SIG_BLOCK, &s, NULL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_port_writes_exit_in_order),
        cmocka_unit_test(test_kick_leaves_kvm_run),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
