/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The allow-lists are written from what our code (and glibc under it) does
 * on each thread, checked by running the guest and dbus suites with the
 * filters on (docs/security.md). A syscall missing from a list shows up as
 * "vmm: seccomp: thread <kind> made forbidden syscall <name> (<nr>)" and
 * the process dies, so a missing entry fails a test instead of hiding.
 *
 * On a violation (TRAP mode) the kernel sends SIGSYS to the offending
 * thread; our handler writes the message with write(2) only, then makes the
 * one call every filter answers with SECCOMP_RET_KILL_PROCESS, so the VMM
 * dies by SIGSYS exactly as with a plain kill filter, but with a name. The
 * names come from a table filled at setup: the libseccomp resolver
 * allocates and cannot run in a signal handler.
 */
#include "vmm_seccomp.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <linux/if_tun.h>
#include <linux/kvm.h>
#include <linux/seccomp.h>
#include <linux/sockios.h>
#include <seccomp.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <termios.h>
#include <unistd.h>

/* x86-64's never-implemented tuxcall slot: no code of ours or of any library
 * calls it, so it is free to mean "kill the process" in every filter. */
#define DEATH_SYSCALL  SCMP_SYS(tuxcall)
#define NAME_TABLE_LEN 512
#define NAME_LEN       28

static const char *const kind_names[VMM_THREAD_KIND_COUNT] = {
    [VMM_THREAD_MAIN] = "main",
    [VMM_THREAD_VCPU] = "vcpu",
    [VMM_THREAD_EVENT_MONITOR] = "event-monitor",
    [VMM_THREAD_VIRTIO_WORKER] = "virtio-worker",
};

static VmmSeccompMode current_mode = VMM_SECCOMP_MODE_OFF;
static struct sock_fprog programs[VMM_THREAD_KIND_COUNT];
static char syscall_names[NAME_TABLE_LEN][NAME_LEN];
static __thread int thread_kind = -1;

/* ------------------------------------------------------------ the lists */

/* What every thread does, whatever its job: memory (malloc, thread stacks),
 * locks, time, the stdio/stderr paths, and glibc's thread exit (it blocks
 * signals, gives back its stack with madvise and exits). */
static const int common_syscalls[] = {
    SCMP_SYS(read),          SCMP_SYS(write),       SCMP_SYS(close),           SCMP_SYS(futex),
    SCMP_SYS(mmap),          SCMP_SYS(munmap),      SCMP_SYS(mprotect),        SCMP_SYS(madvise),
    SCMP_SYS(brk),           SCMP_SYS(exit),        SCMP_SYS(exit_group),      SCMP_SYS(rt_sigreturn),
    SCMP_SYS(rt_sigprocmask), SCMP_SYS(restart_syscall), SCMP_SYS(clock_gettime), SCMP_SYS(clock_nanosleep),
    SCMP_SYS(nanosleep),     SCMP_SYS(sched_yield), SCMP_SYS(getpid),          SCMP_SYS(gettid),
    SCMP_SYS(fstat),         SCMP_SYS(newfstatat),
};

/* vCPU: KVM_RUN plus the device models it dispatches to (serial output to a
 * file, tty or socket; eventfd and irqfd writes; i8042/ACPI requests posted
 * to the main thread). No open, no socket, no clone, no exec. */
static const int vcpu_syscalls[] = {
    /* the serial port (re)arms its backend's fds in the main event loop */
    SCMP_SYS(epoll_ctl),
    SCMP_SYS(sendto), /* ioctl: only the requests in vcpu_ioctls */
    SCMP_SYS(writev),
};

/* Virtio workers: wait on the queue eventfds, move data between guest RAM
 * and the backend (disk image, entropy fd, tap, char backend), then signal
 * the guest through an irqfd write. */
static const int worker_syscalls[] = {
    SCMP_SYS(epoll_wait), SCMP_SYS(epoll_pwait), SCMP_SYS(pread64),   SCMP_SYS(pwrite64),
    SCMP_SYS(preadv),     SCMP_SYS(pwritev),     SCMP_SYS(preadv2),   SCMP_SYS(pwritev2),
    SCMP_SYS(readv),      SCMP_SYS(writev),      SCMP_SYS(fsync),     SCMP_SYS(fdatasync),
    SCMP_SYS(fallocate),  SCMP_SYS(lseek),       SCMP_SYS(sendto),    SCMP_SYS(recvfrom),
    SCMP_SYS(getrandom), /* ioctl: only the requests in worker_ioctls */
    /* virtio-console rearms its char backend's watches in the main loop;
     * virtio-vsock polls its own socket set, accepts host clients, connects
     * guest streams to PATH_<port> (socket() itself: AF_UNIX only, below)
     * and half-closes them. */
    SCMP_SYS(epoll_ctl), SCMP_SYS(accept4), SCMP_SYS(connect), SCMP_SYS(shutdown),
    /* a rate-limited queue arms its timer (created at setup) to resume */
    SCMP_SYS(timerfd_settime),
    /* virtio-blk submits to its io_uring; the ring was set up and
     * restricted to the disk's file on the main thread */
    SCMP_SYS(io_uring_enter),
};

/* Event monitor writer: drains its queue into the sink (file, FIFO, fd) and
 * into subscribed API connections. */
static const int event_monitor_syscalls[] = {
    SCMP_SYS(poll),    SCMP_SYS(ppoll),  SCMP_SYS(sendto), SCMP_SYS(sendmsg),
    SCMP_SYS(writev),
    /* consumes the SIGPIPE of a FIFO whose reader went away */
    SCMP_SYS(rt_sigtimedwait),
};

/* Main thread: the event loop (API clients, serial input, signalfd, device
 * requests), reboots (the VM and its vCPU threads are built again, so the
 * payload is re-read and threads created) and the teardown. It also runs
 * under every vCPU thread it creates: glibc's thread start-up (rseq,
 * set_robust_list, sigaltstack) happens before the vCPU filter is in. */
static const int main_syscalls[] = {
    SCMP_SYS(epoll_wait), SCMP_SYS(epoll_pwait), SCMP_SYS(epoll_ctl), SCMP_SYS(epoll_create1),
    SCMP_SYS(accept4),    SCMP_SYS(recvfrom),    SCMP_SYS(sendto),    SCMP_SYS(recvmsg),
    SCMP_SYS(sendmsg),    SCMP_SYS(shutdown),    SCMP_SYS(getsockopt), SCMP_SYS(readv),
    SCMP_SYS(writev),     SCMP_SYS(open),        SCMP_SYS(openat),    SCMP_SYS(pread64),
    SCMP_SYS(lseek),      SCMP_SYS(fcntl),       SCMP_SYS(dup),       SCMP_SYS(eventfd2),
    SCMP_SYS(unlink),     SCMP_SYS(poll),        SCMP_SYS(ppoll),     SCMP_SYS(clone),
    SCMP_SYS(clone3),     SCMP_SYS(set_robust_list), SCMP_SYS(rseq),  SCMP_SYS(sigaltstack),
    SCMP_SYS(tgkill),     SCMP_SYS(getrandom),   SCMP_SYS(mremap),    SCMP_SYS(pwrite64),
    /* glibc installs its cancellation handlers on the first pthread_create,
     * which is boot()'s when there is no device worker or event monitor. */
    SCMP_SYS(rt_sigaction),
    /* vm.snapshot (snapshot/snapshot.c) sizes the sparse memory file, makes
     * each file durable and renames it into place */
    SCMP_SYS(ftruncate), SCMP_SYS(fsync), SCMP_SYS(rename),
    /* a disk hot-plugged after confinement sets its io_uring up here
     * (virtio/blk_io.c); submissions are the worker's */
    SCMP_SYS(io_uring_setup), SCMP_SYS(io_uring_register),
    /* ioctl: only the requests of all three ioctl lists */
};

/* The sanitizer runtimes (ASan, LSan, UBSan builds only): reports read
 * /proc/self/maps and the binary, LeakSanitizer's exit-time check stops the
 * world with a ptrace-ing clone, and ASan gives each thread a signal stack.
 * Allowed on every thread so that a sanitizer report is not turned into a
 * seccomp kill that hides it; release builds never include these. */
#ifdef VMM_SANITIZER_BUILD
static const int sanitizer_syscalls[] = {
    SCMP_SYS(open),         SCMP_SYS(openat),   SCMP_SYS(readlink), SCMP_SYS(readlinkat),
    SCMP_SYS(getdents64),   SCMP_SYS(lseek),    SCMP_SYS(clone),    SCMP_SYS(clone3),
    SCMP_SYS(wait4),        SCMP_SYS(ptrace),   SCMP_SYS(prctl),    SCMP_SYS(sigaltstack),
    SCMP_SYS(rt_sigaction), SCMP_SYS(tgkill),   SCMP_SYS(kill),     SCMP_SYS(getppid),
    SCMP_SYS(process_vm_readv), SCMP_SYS(mremap), SCMP_SYS(prlimit64), SCMP_SYS(getrlimit),
    SCMP_SYS(setrlimit),    SCMP_SYS(pipe2),    SCMP_SYS(uname),    SCMP_SYS(set_robust_list),
    SCMP_SYS(rseq),         SCMP_SYS(getrusage), SCMP_SYS(sched_getaffinity), SCMP_SYS(writev),
};
#endif

/* KVM requests a vCPU thread makes: its own run loop and state, and the
 * interrupt/eventfd plumbing device models touch when the guest programs
 * them (MSI-X vectors, BARs moving the ioeventfds). */
static const unsigned long vcpu_ioctls[] = {
    KVM_RUN,          KVM_GET_REGS,      KVM_SET_REGS,          KVM_GET_SREGS,        KVM_SET_SREGS,
    KVM_GET_LAPIC,    KVM_SET_LAPIC,     KVM_GET_MSRS,          KVM_SET_MSRS,         KVM_GET_FPU,
    KVM_SET_FPU,      KVM_GET_VCPU_EVENTS, KVM_SET_VCPU_EVENTS, KVM_GET_MP_STATE,     KVM_SET_MP_STATE,
    KVM_IOEVENTFD,    KVM_IRQFD,         KVM_SET_GSI_ROUTING,   KVM_SIGNAL_MSI,       KVM_IRQ_LINE,
    KVM_IRQ_LINE_STATUS, KVM_CHECK_EXTENSION, KVM_GET_CLOCK,
    /* isatty() in stdio, and virtio-net's offloads set on feature ack */
    TCGETS,           TUNSETOFFLOAD,     TUNSETVNETHDRSZ,
};

/* A worker raises interrupts through irqfds (writes); these cover a
 * device that signals an MSI directly and the net offload updates. */
static const unsigned long worker_ioctls[] = {
    KVM_SIGNAL_MSI, KVM_IRQ_LINE, KVM_IRQFD, KVM_SET_GSI_ROUTING,
    TCGETS,         TUNSETOFFLOAD, TUNSETVNETHDRSZ, FIONREAD,
};

/* Hotplug (vm.add-disk, vm.add-net, vm.add-vsock) builds a device on the
 * main thread after confinement: it sizes a block device, opens and brings
 * up a tap, and binds the vsock listener, mode 0600 (socket(): AF_UNIX, and
 * AF_INET SOCK_DGRAM for the tap's host side; see build_kind). */
static const int hotplug_syscalls[] = {SCMP_SYS(bind), SCMP_SYS(listen), SCMP_SYS(chmod)};
static const unsigned long hotplug_ioctls[] = {
    BLKGETSIZE64, BLKSSZGET, TUNSETIFF,    TUNGETIFF,    SIOCSIFADDR,  SIOCSIFNETMASK,
    SIOCSIFHWADDR, SIOCSIFMTU,  SIOCGIFFLAGS, SIOCSIFFLAGS,
};

/* The main thread builds VMs (on reboot too) and runs the terminal. */
static const unsigned long main_only_ioctls[] = {
    KVM_CREATE_VM,     KVM_GET_VCPU_MMAP_SIZE, KVM_CREATE_VCPU,  KVM_SET_USER_MEMORY_REGION,
    KVM_CREATE_IRQCHIP, KVM_CREATE_PIT2,       KVM_SET_TSS_ADDR, KVM_SET_IDENTITY_MAP_ADDR,
    KVM_SET_CPUID2,    KVM_GET_SUPPORTED_CPUID, KVM_GET_MSR_INDEX_LIST, KVM_GET_API_VERSION,
    KVM_GET_IRQCHIP,   KVM_SET_IRQCHIP,        KVM_GET_PIT2,     KVM_SET_PIT2,
    KVM_SET_CLOCK,     KVM_GET_XSAVE,          KVM_SET_XSAVE,    KVM_GET_XCRS,
    KVM_SET_XCRS,      KVM_GET_DEBUGREGS,      KVM_SET_DEBUGREGS, KVM_GET_CPUID2,
    TCSETS,            TCSETSW,                TCSETSF,          TIOCGWINSZ,
    TIOCGPTN,          TIOCSPTLCK,             FIONREAD,
};

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* ------------------------------------------------------------- building */

static int add_all(scmp_filter_ctx ctx, const int *nrs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        int r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nrs[i], 0);
        /* -EEXIST: two lists name the same call; that is fine. */
        if (r < 0 && r != -EEXIST)
            return r;
    }
    return 0;
}

static int add_ioctls(scmp_filter_ctx ctx, const unsigned long *reqs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        /* The kernel looks at the low 32 bits of the request only. */
        int r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1,
                                 SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffUL, (scmp_datum_t)reqs[i]));
        if (r < 0 && r != -EEXIST)
            return r;
    }
    return 0;
}

static int build_kind(scmp_filter_ctx ctx, VmmThreadKind kind)
{
    int r = add_all(ctx, common_syscalls, N(common_syscalls));
#ifdef VMM_SANITIZER_BUILD
    if (r == 0)
        r = add_all(ctx, sanitizer_syscalls, N(sanitizer_syscalls));
#endif
    if (r < 0)
        return r;
    switch (kind) {
    case VMM_THREAD_MAIN:
        if ((r = add_all(ctx, main_syscalls, N(main_syscalls))) < 0 ||
            (r = add_ioctls(ctx, vcpu_ioctls, N(vcpu_ioctls))) < 0 ||
            (r = add_ioctls(ctx, worker_ioctls, N(worker_ioctls))) < 0)
            return r;
        /* The worker of a hot-added device starts under this filter and adds
         * its own, so it may only do what both allow: this one must allow
         * every worker call. */
        if ((r = add_all(ctx, worker_syscalls, N(worker_syscalls))) < 0 ||
            (r = add_all(ctx, hotplug_syscalls, N(hotplug_syscalls))) < 0 ||
            (r = add_ioctls(ctx, hotplug_ioctls, N(hotplug_ioctls))) < 0)
            return r;
        r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket), 1,
                             SCMP_A0(SCMP_CMP_MASKED_EQ, 0xffffffffUL, (scmp_datum_t)AF_UNIX));
        if (r < 0 && r != -EEXIST)
            return r;
        /* The tap's addresses and link state are set through a datagram
         * socket; no other inet socket. */
        r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket), 2,
                             SCMP_A0(SCMP_CMP_MASKED_EQ, 0xffffffffUL, (scmp_datum_t)AF_INET),
                             SCMP_A1(SCMP_CMP_MASKED_EQ, 0xf, (scmp_datum_t)SOCK_DGRAM));
        if (r < 0 && r != -EEXIST)
            return r;
        if ((r = add_ioctls(ctx, main_only_ioctls, N(main_only_ioctls))) < 0)
            return r;
        /* A reboot's vCPU threads start under this filter and add theirs on
         * top; adding a filter can only take rights away. */
        return seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(seccomp), 1,
                                SCMP_A0(SCMP_CMP_EQ, SECCOMP_SET_MODE_FILTER));
    case VMM_THREAD_VCPU:
        if ((r = add_all(ctx, vcpu_syscalls, N(vcpu_syscalls))) < 0)
            return r;
        return add_ioctls(ctx, vcpu_ioctls, N(vcpu_ioctls));
    case VMM_THREAD_EVENT_MONITOR:
        return add_all(ctx, event_monitor_syscalls, N(event_monitor_syscalls));
    case VMM_THREAD_VIRTIO_WORKER:
        if ((r = add_all(ctx, worker_syscalls, N(worker_syscalls))) < 0)
            return r;
        r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket), 1, SCMP_A0(SCMP_CMP_EQ, AF_UNIX));
        if (r < 0)
            return r;
        r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket), 1,
                             SCMP_A0(SCMP_CMP_MASKED_EQ, 0xffffffffUL, (scmp_datum_t)AF_UNIX));
        if (r < 0 && r != -EEXIST)
            return r;
        return add_ioctls(ctx, worker_ioctls, N(worker_ioctls));
    case VMM_THREAD_KIND_COUNT:
        break;
    }
    return -EINVAL;
}

/* libseccomp 2.5 can only export BPF to an fd: a pipe is enough for a few
 * hundred instructions, and keeps the program in memory so that applying
 * it later allocates nothing. */
static int export_program(scmp_filter_ctx ctx, struct sock_fprog *prog)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC | O_NONBLOCK) < 0)
        return -errno;
    int r = seccomp_export_bpf(ctx, p[1]);
    close(p[1]);
    size_t cap = 65536, len = 0;
    uint8_t *buf = r == 0 ? malloc(cap) : NULL;
    if (r == 0 && !buf)
        r = -ENOMEM;
    while (r == 0) {
        ssize_t n = read(p[0], buf + len, cap - len);
        if (n < 0) {
            r = errno == EAGAIN ? 0 : -errno;
            break;
        }
        if (n == 0)
            break;
        len += (size_t)n;
        if (len == cap) {
            r = -E2BIG;
            break;
        }
    }
    close(p[0]);
    if (r == 0 && (len == 0 || len % sizeof(struct sock_filter) != 0))
        r = -EPROTO;
    if (r < 0) {
        free(buf);
        return r;
    }
    prog->len = (unsigned short)(len / sizeof(struct sock_filter));
    prog->filter = (struct sock_filter *)buf;
    return 0;
}

static int compile_kind(VmmThreadKind kind, VmmSeccompMode mode, struct sock_fprog *prog)
{
    uint32_t def = mode == VMM_SECCOMP_MODE_LOG ? SCMP_ACT_LOG : SCMP_ACT_TRAP;
    scmp_filter_ctx ctx = seccomp_init(def);
    if (!ctx)
        return -ENOMEM;
    int r = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS);
    if (r == 0)
        r = build_kind(ctx, kind);
    if (r == 0 && mode == VMM_SECCOMP_MODE_TRAP)
        r = seccomp_rule_add(ctx, SCMP_ACT_KILL_PROCESS, DEATH_SYSCALL, 0);
    if (r == 0)
        r = export_program(ctx, prog);
    seccomp_release(ctx);
    return r;
}

/* ------------------------------------------------------------ SIGSYS */

static size_t append(char *buf, size_t at, size_t cap, const char *s)
{
    while (*s && at < cap)
        buf[at++] = *s++;
    return at;
}

static size_t append_int(char *buf, size_t at, size_t cap, long v)
{
    char digits[24];
    size_t n = 0;
    unsigned long u = v < 0 ? (unsigned long)-v : (unsigned long)v;
    do {
        digits[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u && n < sizeof(digits));
    if (v < 0 && at < cap)
        buf[at++] = '-';
    while (n && at < cap)
        buf[at++] = digits[--n];
    return at;
}

/* Async-signal-safe: no stdio, no allocation, only write(2) and the kill
 * call, both allowed by every filter. */
static void sigsys_handler(int sig, siginfo_t *info, void *uctx)
{
    (void)sig;
    (void)uctx;
    int saved = errno;
    char msg[160];
    size_t at = 0, cap = sizeof(msg) - 1;
    int nr = info->si_syscall;
    int kind = thread_kind;
    at = append(msg, at, cap, "vmm: seccomp: thread ");
    at = append(msg, at, cap, kind >= 0 && kind < VMM_THREAD_KIND_COUNT ? kind_names[kind] : "unknown");
    at = append(msg, at, cap, " made forbidden syscall ");
    at = append(msg, at, cap,
                nr >= 0 && nr < NAME_TABLE_LEN && syscall_names[nr][0] ? syscall_names[nr] : "unknown");
    at = append(msg, at, cap, " (");
    at = append_int(msg, at, cap, nr);
    at = append(msg, at, cap, ")\n");
    ssize_t w = write(STDERR_FILENO, msg, at);
    (void)w;
    syscall(DEATH_SYSCALL);
    /* Not reached under a filter; never let a forbidden call "succeed". */
    errno = saved;
    _exit(128 + SIGSYS);
}

static void fill_names(void)
{
    for (int nr = 0; nr < NAME_TABLE_LEN; nr++) {
        char *name = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, nr);
        if (name) {
            snprintf(syscall_names[nr], NAME_LEN, "%s", name);
            free(name);
        }
    }
}

/* --------------------------------------------------------------- API */

int vmm_seccomp_setup(VmmSeccompMode mode, char *errbuf, size_t errlen)
{
    if (mode == VMM_SECCOMP_MODE_OFF) {
        current_mode = mode;
        return 0;
    }
    for (int k = 0; k < VMM_THREAD_KIND_COUNT; k++) {
        if (programs[k].filter)
            continue;
        int r = compile_kind((VmmThreadKind)k, mode, &programs[k]);
        if (r < 0) {
            snprintf(errbuf, errlen, "cannot build the %s seccomp filter: %s", kind_names[k], strerror(-r));
            return r;
        }
    }
    if (mode == VMM_SECCOMP_MODE_TRAP) {
        fill_names();
        struct sigaction sa;
        memset(&sa, 0, sizeof(sa));
        sa.sa_sigaction = sigsys_handler;
        sa.sa_flags = SA_SIGINFO;
        sigfillset(&sa.sa_mask);
        if (sigaction(SIGSYS, &sa, NULL) < 0) {
            snprintf(errbuf, errlen, "cannot install the SIGSYS handler: %s", strerror(errno));
            return -errno;
        }
    }
    /* Lets an unprivileged VMM install filters; inherited by every thread
     * created from here on. */
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
        snprintf(errbuf, errlen, "cannot set no_new_privs: %s", strerror(errno));
        return -errno;
    }
    current_mode = mode;
    return 0;
}

int vmm_seccomp_apply(VmmThreadKind kind)
{
    if (current_mode == VMM_SECCOMP_MODE_OFF)
        return 0;
    if ((int)kind < 0 || kind >= VMM_THREAD_KIND_COUNT || !programs[kind].filter)
        return -EINVAL;
#ifdef VMM_SANITIZER_BUILD
    /* LeakSanitizer's exit-time check runs on the main thread and clones a
     * ptrace-ing helper process whose syscalls we cannot see or report (it
     * blocks SIGSYS; killed, it leaves the VMM spinning). The sanitizer
     * builds therefore leave the main thread unconfined; the -Werror build
     * runs every suite with it confined (docs/security.md). */
    if (kind == VMM_THREAD_MAIN)
        return 0;
#endif
    thread_kind = (int)kind;
    /* Threads that block every signal (the event monitor's writer) would
     * otherwise be killed by the kernel without our message. */
    if (current_mode == VMM_SECCOMP_MODE_TRAP) {
        sigset_t sys;
        sigemptyset(&sys);
        sigaddset(&sys, SIGSYS);
        pthread_sigmask(SIG_UNBLOCK, &sys, NULL);
    }
    if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &programs[kind]) < 0)
        return -errno;
    return 0;
}

void vmm_seccomp_enter(VmmThreadKind kind)
{
    int r = vmm_seccomp_apply(kind);
    if (r < 0) {
        fprintf(stderr, "vmm: seccomp: cannot install the %s filter: %s\n", vmm_thread_kind_name(kind),
                strerror(-r));
        _exit(1);
    }
}

VmmSeccompMode vmm_seccomp_mode(void)
{
    return current_mode;
}

const char *vmm_thread_kind_name(VmmThreadKind kind)
{
    return (int)kind >= 0 && kind < VMM_THREAD_KIND_COUNT ? kind_names[kind] : "unknown";
}
