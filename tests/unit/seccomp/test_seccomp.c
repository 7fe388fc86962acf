/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The per-thread filters, each installed in a forked child (a filter cannot
 * be taken off again): what a thread kind may do still works, a forbidden
 * call kills the whole process by SIGSYS with the syscall named on stderr,
 * `log` lets it through, `false` installs nothing.
 */
#include <errno.h>
#include <fcntl.h>
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
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "vmm_seccomp.h"

typedef struct ChildResult {
    int status;
    char err[1024];
} ChildResult;

typedef void (*ChildBody)(void);

static VmmSeccompMode child_mode;
static VmmThreadKind child_kind;

/* Runs body in a child whose stderr is captured; the child ends with
 * _exit(0) when body returns, so nothing at exit (LeakSanitizer included)
 * runs under the filter. */
static ChildResult run_child(VmmSeccompMode mode, VmmThreadKind kind, ChildBody body)
{
    int p[2];
    assert_int_equal(pipe2(p, O_CLOEXEC), 0);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(p[1], STDERR_FILENO);
        close(p[0]);
        char errbuf[256];
        child_mode = mode;
        child_kind = kind;
        if (vmm_seccomp_setup(mode, errbuf, sizeof(errbuf)) < 0) {
            fprintf(stderr, "setup failed: %s\n", errbuf);
            _exit(3);
        }
        body();
        _exit(0);
    }
    close(p[1]);
    ChildResult res = {0};
    size_t len = 0;
    ssize_t n;
    while ((n = read(p[0], res.err + len, sizeof(res.err) - 1 - len)) > 0)
        len += (size_t)n;
    close(p[0]);
    assert_int_equal(waitpid(pid, &res.status, 0), pid);
    return res;
}

static void assert_killed_naming(const ChildResult *res, const char *line)
{
    if (!WIFSIGNALED(res->status) || WTERMSIG(res->status) != SIGSYS)
        fail_msg("child was not killed by SIGSYS (status 0x%x), stderr: %s", res->status, res->err);
    if (!strstr(res->err, line))
        fail_msg("stderr lacks \"%s\": %s", line, res->err);
}

static void assert_exited_cleanly(const ChildResult *res)
{
    if (!WIFEXITED(res->status) || WEXITSTATUS(res->status) != 0)
        fail_msg("child status 0x%x, stderr: %s", res->status, res->err);
}

/* ------------------------------------------------------------ bodies */

static void apply_or_die(void)
{
    if (vmm_seccomp_apply(child_kind) < 0)
        _exit(4);
}

static void body_socket(void)
{
    apply_or_die();
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    /* Reached in log and off modes only. */
    _exit(fd >= 0 ? 0 : 5);
}

static void body_execve(void)
{
    apply_or_die();
    char *const argv[] = {"/bin/true", NULL};
    execve("/bin/true", argv, NULL);
    _exit(6);
}

static void body_kvm_create_vm(void)
{
    int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    apply_or_die();
    /* The request is what the filter checks; the fd does not matter. */
    ioctl(fd, KVM_CREATE_VM, 0);
    _exit(7);
}

/* What every thread kind does all day must go through. */
static void body_allowed(void)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0)
        _exit(8);
    apply_or_die();
    char buf[4] = "abc";
    if (write(p[1], buf, 3) != 3 || read(p[0], buf, 3) != 3)
        _exit(9);
    void *big = malloc(8 << 20);
    if (!big)
        _exit(10);
    memset(big, 1, 8 << 20);
    free(big);
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    (void)getpid();
    close(p[0]);
    close(p[1]);
}

static void *vcpu_thread_opens_socket(void *arg)
{
    (void)arg;
    vmm_seccomp_enter(VMM_THREAD_VCPU);
    socket(AF_UNIX, SOCK_STREAM, 0);
    return NULL;
}

/* A reboot's vCPU thread: created under the main filter, adds its own. */
static void body_stacked(void)
{
    vmm_seccomp_enter(VMM_THREAD_MAIN);
    pthread_t t;
    if (pthread_create(&t, NULL, vcpu_thread_opens_socket, NULL) != 0)
        _exit(11);
    pthread_join(t, NULL);
    _exit(12);
}

/* The event monitor's writer blocks every signal; the report must still
 * come out (the filter unblocks SIGSYS on its thread). */
static void body_all_signals_blocked(void)
{
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, NULL);
    body_socket();
}

/* ------------------------------------------------------------ tests */

static void test_vcpu_socket_kills_and_names_it(void **state)
{
    (void)state;
    ChildResult res = run_child(VMM_SECCOMP_MODE_TRAP, VMM_THREAD_VCPU, body_socket);
    assert_killed_naming(&res, "vmm: seccomp: thread vcpu made forbidden syscall socket (41)\n");
}

/* Sanitizer builds leave the main thread unconfined (vmm_seccomp.c). */
#ifdef VMM_SANITIZER_BUILD
#define FIRST_CONFINED_KIND 1
#else
#define FIRST_CONFINED_KIND 0
#endif

static void test_every_kind_refuses_execve(void **state)
{
    (void)state;
    for (int k = FIRST_CONFINED_KIND; k < VMM_THREAD_KIND_COUNT; k++) {
        ChildResult res = run_child(VMM_SECCOMP_MODE_TRAP, (VmmThreadKind)k, body_execve);
        char line[128];
        snprintf(line, sizeof(line), "thread %s made forbidden syscall execve (59)",
                 vmm_thread_kind_name((VmmThreadKind)k));
        assert_killed_naming(&res, line);
    }
}

static void test_every_kind_refuses_socket(void **state)
{
    (void)state;
    for (int k = FIRST_CONFINED_KIND; k < VMM_THREAD_KIND_COUNT; k++) {
        ChildResult res = run_child(VMM_SECCOMP_MODE_TRAP, (VmmThreadKind)k, body_socket);
        assert_killed_naming(&res, "made forbidden syscall socket (41)");
    }
}

static void test_vcpu_ioctl_is_argument_checked(void **state)
{
    (void)state;
    ChildResult res = run_child(VMM_SECCOMP_MODE_TRAP, VMM_THREAD_VCPU, body_kvm_create_vm);
    assert_killed_naming(&res, "thread vcpu made forbidden syscall ioctl (16)");
    /* The main thread builds VMs, on reboot too (and is not confined at
     * all in sanitizer builds: then the call just fails, ENOTTY). */
    res = run_child(VMM_SECCOMP_MODE_TRAP, VMM_THREAD_MAIN, body_kvm_create_vm);
    assert_true(WIFEXITED(res.status) && WEXITSTATUS(res.status) == 7);
}

static void test_allowed_calls_pass(void **state)
{
    (void)state;
    for (int k = 0; k < VMM_THREAD_KIND_COUNT; k++) {
        ChildResult res = run_child(VMM_SECCOMP_MODE_TRAP, (VmmThreadKind)k, body_allowed);
        assert_exited_cleanly(&res);
    }
}

static void test_stacked_vcpu_thread_reports_its_kind(void **state)
{
    (void)state;
    ChildResult res = run_child(VMM_SECCOMP_MODE_TRAP, VMM_THREAD_MAIN, body_stacked);
    assert_killed_naming(&res, "thread vcpu made forbidden syscall socket (41)");
}

static void test_blocked_sigsys_still_reports(void **state)
{
    (void)state;
    ChildResult res = run_child(VMM_SECCOMP_MODE_TRAP, VMM_THREAD_EVENT_MONITOR, body_all_signals_blocked);
    assert_killed_naming(&res, "thread event-monitor made forbidden syscall socket (41)");
}

static void test_log_mode_allows(void **state)
{
    (void)state;
    ChildResult res = run_child(VMM_SECCOMP_MODE_LOG, VMM_THREAD_VCPU, body_socket);
    assert_exited_cleanly(&res);
}

static void test_off_mode_installs_nothing(void **state)
{
    (void)state;
    ChildResult res = run_child(VMM_SECCOMP_MODE_OFF, VMM_THREAD_VCPU, body_socket);
    assert_exited_cleanly(&res);
    assert_int_equal(vmm_seccomp_mode(), VMM_SECCOMP_MODE_OFF);
    assert_int_equal(vmm_seccomp_apply(VMM_THREAD_VCPU), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vcpu_socket_kills_and_names_it),
        cmocka_unit_test(test_every_kind_refuses_execve),
        cmocka_unit_test(test_every_kind_refuses_socket),
        cmocka_unit_test(test_vcpu_ioctl_is_argument_checked),
        cmocka_unit_test(test_allowed_calls_pass),
        cmocka_unit_test(test_stacked_vcpu_thread_reports_its_kind),
        cmocka_unit_test(test_blocked_sigsys_still_reports),
        cmocka_unit_test(test_log_mode_allows),
        cmocka_unit_test(test_off_mode_installs_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
