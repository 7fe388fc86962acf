/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Landlock: Cloud Hypervisor's access strings, the rules a command line
 * yields, and, in forked children (a domain cannot be left again), that a
 * confined thread cannot open what no rule names while what the rules name
 * still opens. The enforcement tests are skipped (exit 77) on a kernel
 * without Landlock; the others run everywhere.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <seccomp.h>

#include "cli.h"
#include "landlock.h"

#define RW         (VMM_LANDLOCK_READ | VMM_LANDLOCK_WRITE)
#define SOCKET_DIR LANDLOCK_ACCESS_FS_REMOVE_FILE

/* ------------------------------------------------------------ access strings */

static void test_access_strings(void **state)
{
    (void)state;
    uint64_t a = 0;
    assert_int_equal(vmm_landlock_access_parse("r", &a), 0);
    assert_true(a ==
                (LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_READ_DIR));
    assert_int_equal(vmm_landlock_access_parse("w", &a), 0);
    assert_true(a == VMM_LANDLOCK_WRITE);
    assert_true(a & LANDLOCK_ACCESS_FS_WRITE_FILE);
    assert_true(a & LANDLOCK_ACCESS_FS_MAKE_REG);
    assert_true(a & LANDLOCK_ACCESS_FS_TRUNCATE);
    assert_false(a & LANDLOCK_ACCESS_FS_READ_FILE);
    assert_int_equal(vmm_landlock_access_parse("rw", &a), 0);
    assert_true(a == RW);
    assert_int_equal(vmm_landlock_access_parse("wr", &a), 0);
    assert_true(a == RW);
    /* The JSON form has no length limit; CH takes any run of r and w. */
    assert_int_equal(vmm_landlock_access_parse("rrw", &a), 0);
    assert_true(a == RW);

    a = 42;
    const char *bad[] = {"", "x", "R", "rx", "r w", "r,w", "-"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(vmm_landlock_access_parse(bad[i], &a), -EINVAL);
    assert_int_equal(vmm_landlock_access_parse(NULL, &a), -EINVAL);
    assert_int_equal(a, 42); /* untouched on error */
}

/* ------------------------------------------------------------ derivation */

typedef struct Parsed {
    VmmCli cli;
    VmConfig cfg;
} Parsed;

static void parse_config(Parsed *p, int argc, char **argv)
{
    ConfigError err = {0};
    if (vmm_cli_parse(argc, argv, &p->cli, &err) < 0)
        fail_msg("cli: %s", err.message);
    if (vm_config_parse(&p->cli.vm, &p->cfg, &err) < 0)
        fail_msg("config: %s", err.message);
}

static void parsed_free(Parsed *p)
{
    vm_config_free(&p->cfg);
    vmm_cli_free(&p->cli);
}

#define PARSE_CONFIG(p, ...)                                                                                 \
    do {                                                                                                     \
        char *argv_[] = {"vmm", __VA_ARGS__, NULL};                                                          \
        parse_config((p), (int)(sizeof(argv_) / sizeof(argv_[0])) - 1, argv_);                               \
    } while (0)

typedef struct Want {
    const char *path;
    uint64_t access;
} Want;

/* The rules exactly, in order. */
static void expect_rules(const VmmLandlockRules *r, const Want *want, size_t n)
{
    for (size_t i = 0; i < r->n && i < n; i++) {
        if (strcmp(r->items[i].path, want[i].path) != 0 || r->items[i].access != want[i].access)
            fail_msg("rule %zu: got %s %#llx, want %s %#llx", i, r->items[i].path,
                     (unsigned long long)r->items[i].access, want[i].path,
                     (unsigned long long)want[i].access);
    }
    if (r->n != n)
        fail_msg("%zu rules, want %zu", r->n, n);
}

static void test_rules_every_item(void **state)
{
    (void)state;
    Parsed p;
    PARSE_CONFIG(&p, "--kernel", "/k/vmlinux", "--initramfs", "/k/initrd", "--cmdline", "x", "--disk",
                 "path=/img/root.raw", "path=/img/ro.iso,readonly=on", "path=/dev/fd/7", "--net", "tap=tap0",
                 "--rng", "src=/dev/hwrng", "--serial", "file=/var/log/serial.log", "--console", "pty",
                 "--debug-console", "file=dbg.log", "--vsock", "cid=3,socket=/run/vm/vsock.sock",
                 "--landlock", "--landlock-rules", "path=/srv/share,access=r", "path=/srv/out,access=w",
                 "path=/dev/fd/9,access=rw");
    VmmLandlockRules r;
    char err[256] = "";
    assert_int_equal(
        vmm_landlock_rules_from_config(&p.cfg, "api.sock", "/run/vm/events", &r, err, sizeof(err)), 0);
    const Want want[] = {
        {"/dev/kvm", RW},
        {"/k/vmlinux", VMM_LANDLOCK_READ},
        {"/k/initrd", VMM_LANDLOCK_READ},
        {"/img/root.raw", RW},
        {"/img/ro.iso", VMM_LANDLOCK_READ},
        /* /dev/fd/7 is an inherited descriptor: no rule */
        {"/dev/net/tun", RW},
        {"/dev/hwrng", VMM_LANDLOCK_READ},
        {"/var/log/serial.log", RW},
        {"/dev/pts", RW},
        {"/dev/ptmx", RW},
        {"dbg.log", RW},
        {"/run/vm/vsock.sock", RW},
        {"/run/vm", SOCKET_DIR},
        {".", SOCKET_DIR}, /* api.sock */
        {"/run/vm/events", RW},
        {"/srv/share", VMM_LANDLOCK_READ},
        {"/srv/out", VMM_LANDLOCK_WRITE},
        /* A user rule on an inherited directory stays: files are created
         * through it by path (vmmd's snapshot directory). */
        {"/dev/fd/9", RW},
    };
    expect_rules(&r, want, sizeof(want) / sizeof(want[0]));
    vmm_landlock_rules_free(&r);
    assert_null(r.items);
    parsed_free(&p);
}

static void test_rules_minimal(void **state)
{
    (void)state;
    Parsed p;
    /* Serial null, console off, no net: only KVM, the payload and the
     * default rng source. */
    PARSE_CONFIG(&p, "--kernel", "vmlinux", "--console", "off", "--landlock");
    VmmLandlockRules r;
    char err[256] = "";
    assert_int_equal(vmm_landlock_rules_from_config(&p.cfg, NULL, NULL, &r, err, sizeof(err)), 0);
    const Want want[] = {
        {"/dev/kvm", RW},
        {"vmlinux", VMM_LANDLOCK_READ},
        {"/dev/urandom", VMM_LANDLOCK_READ},
    };
    expect_rules(&r, want, sizeof(want) / sizeof(want[0]));
    vmm_landlock_rules_free(&r);
    parsed_free(&p);
}

static void test_rules_sockets_and_fds(void **state)
{
    (void)state;
    Parsed p;
    /* A net given as fds opens no tun; sockets' directories, including the
     * root, get only what removing the socket at exit needs. */
    PARSE_CONFIG(&p, "--kernel", "/dev/fd/3", "--console", "socket=/con.sock", "--serial",
                 "socket=/a/b/ser.sock", "--net", "fd=[5]");
    VmmLandlockRules r;
    char err[256] = "";
    assert_int_equal(
        vmm_landlock_rules_from_config(&p.cfg, "/run/api.sock", "/dev/fd/9", &r, err, sizeof(err)), 0);
    const Want want[] = {
        {"/dev/kvm", RW},      {"/dev/urandom", VMM_LANDLOCK_READ},
        {"/a/b/ser.sock", RW}, {"/a/b", SOCKET_DIR},
        {"/con.sock", RW},     {"/", SOCKET_DIR},
        {"/run", SOCKET_DIR},
    };
    expect_rules(&r, want, sizeof(want) / sizeof(want[0]));
    vmm_landlock_rules_free(&r);
    parsed_free(&p);
}

static void test_rules_invalid_access(void **state)
{
    (void)state;
    Parsed p;
    /* The parser bounds the length only; the letters are checked here. */
    PARSE_CONFIG(&p, "--kernel", "vmlinux", "--landlock", "--landlock-rules", "path=/tmp,access=rx");
    VmmLandlockRules r;
    char err[256] = "";
    assert_int_equal(vmm_landlock_rules_from_config(&p.cfg, NULL, NULL, &r, err, sizeof(err)), -EINVAL);
    assert_string_equal(err, "Invalid landlock access: rx");
    assert_null(r.items);
    assert_int_equal(r.n, 0);
    parsed_free(&p);
}

static void test_setup_checks_user_rules(void **state)
{
    (void)state;
    Parsed p;
    char err[256] = "";
    /* Without --landlock a valid rule does nothing. */
    PARSE_CONFIG(&p, "--kernel", "vmlinux", "--landlock-rules", "path=/,access=r");
    assert_int_equal(vmm_landlock_setup(&p.cfg, NULL, NULL, err, sizeof(err)), 0);
    assert_int_equal(vmm_landlock_restrict_main(err, sizeof(err)), 0);
    vmm_landlock_teardown();
    parsed_free(&p);

    /* Invalid ones are refused with it or without it, as Cloud Hypervisor's
     * validation refuses them, and before the kernel is asked anything. */
    PARSE_CONFIG(&p, "--kernel", "vmlinux", "--landlock-rules", "path=/nonexistent/x,access=r");
    assert_int_equal(vmm_landlock_setup(&p.cfg, NULL, NULL, err, sizeof(err)), -ENOENT);
    assert_string_equal(err, "Path /nonexistent/x provided in landlock-rules does not exist");
    parsed_free(&p);
    PARSE_CONFIG(&p, "--kernel", "vmlinux", "--landlock", "--landlock-rules", "path=/,access=ww",
                 "path=/,access=x");
    assert_int_equal(vmm_landlock_setup(&p.cfg, NULL, NULL, err, sizeof(err)), -EINVAL);
    assert_string_equal(err, "Invalid landlock access: x");
    vmm_landlock_teardown();
    parsed_free(&p);
}

/* A kernel without Landlock, faked with a seccomp filter in a child: asked
 * for, the sandbox is refused with a reason, never silently left out. */
static int expect_refused(int errno_value, const char *reason)
{
    scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
    if (!ctx ||
        seccomp_rule_add(ctx, SCMP_ACT_ERRNO(errno_value), SCMP_SYS(landlock_create_ruleset), 0) < 0 ||
        seccomp_load(ctx) < 0)
        return 10;
    seccomp_release(ctx);

    Parsed p;
    char *on[] = {"vmm", "--kernel", "vmlinux", "--landlock", NULL};
    char *off[] = {"vmm", "--kernel", "vmlinux", NULL};
    char err[256] = "";
    parse_config(&p, 3, off);
    int r = vmm_landlock_setup(&p.cfg, NULL, NULL, err, sizeof(err));
    parsed_free(&p);
    if (r != 0)
        return 11;
    parse_config(&p, 4, on);
    r = vmm_landlock_setup(&p.cfg, NULL, NULL, err, sizeof(err));
    parsed_free(&p);
    if (r != -errno_value)
        return 12;
    if (!strstr(err, "--landlock: the kernel has no Landlock") || !strstr(err, reason) ||
        !strstr(err, "refusing to run unconfined"))
        return 13;
    return 0;
}

static int child_enosys(void)
{
    return expect_refused(ENOSYS, "not built in");
}

static int child_eopnotsupp(void)
{
    return expect_refused(EOPNOTSUPP, "disabled at boot");
}

static void run_child(int (*body)(void));

static void test_no_landlock_refused(void **state)
{
    (void)state;
    run_child(child_enosys);
    run_child(child_eopnotsupp);
}

/* ------------------------------------------------------------ enforcement */

static char tmpdir[64]; /* "/tmp/vmm-landlock-XXXXXX" */

static void path_in(char *out, const char *name)
{
    snprintf(out, PATH_MAX, "%s/%s", tmpdir, name);
}

static void write_file(const char *name)
{
    char path[PATH_MAX];
    path_in(path, name);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "x", 1), 1);
    close(fd);
}

static int setup_tmpdir(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/vmm-landlock-XXXXXX");
    if (!mkdtemp(tmpdir))
        return -1;
    char path[PATH_MAX];
    path_in(path, "inside");
    if (mkdir(path, 0700) < 0)
        return -1;
    write_file("inside/data");
    write_file("outside");
    write_file("kernel");
    return 0;
}

static int teardown_tmpdir(void **state)
{
    (void)state;
    char cmd[PATH_MAX + 16];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

/* 0 when the open succeeds, else its errno. */
static int try_open(const char *name, int flags)
{
    char path[PATH_MAX];
    path_in(path, name);
    int fd = open(path, flags | O_CLOEXEC, 0600);
    if (fd < 0)
        return errno;
    close(fd);
    return 0;
}

/* The child reports the first failed check as its exit status (0: all
 * passed) and leaves with _exit, so nothing runs confined at exit. */
static void run_child(int (*body)(void))
{
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        _exit(body());
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    if (WEXITSTATUS(status) != 0)
        fail_msg("check %d failed in the child", WEXITSTATUS(status));
}

#define CHECK(n, cond)                                                                                       \
    do {                                                                                                     \
        if (!(cond))                                                                                         \
            return (n);                                                                                      \
    } while (0)

static int child_ruleset(void)
{
    char dir[PATH_MAX];
    path_in(dir, "inside");
    VmmLandlockRule rule = {.path = dir, .access = VMM_LANDLOCK_READ};
    VmmLandlockRules rules = {.items = &rule, .n = 1};
    char err[256];
    int abi = vmm_landlock_abi();
    int fd = vmm_landlock_ruleset_create(&rules, abi, false, err, sizeof(err));
    CHECK(10, fd >= 0);
    CHECK(11, prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0);
    /* Before: everything opens. */
    CHECK(12, try_open("outside", O_RDONLY) == 0);
    CHECK(13, vmm_landlock_restrict_self(fd) == 0);
    close(fd);

    CHECK(20, try_open("inside/data", O_RDONLY) == 0);
    CHECK(21, try_open("outside", O_RDONLY) == EACCES);
    CHECK(22, try_open("inside/data", O_WRONLY) == EACCES); /* "r" only */
    CHECK(23, try_open("inside/new", O_WRONLY | O_CREAT) == EACCES);
    CHECK(24, try_open("outside", O_WRONLY) == EACCES);
    return 0;
}

static void test_ruleset_enforced(void **state)
{
    (void)state;
    run_child(child_ruleset);
}

static int child_file_rule_and_missing(void)
{
    char file[PATH_MAX], missing[PATH_MAX];
    path_in(file, "outside");
    path_in(missing, "not-there");
    char err[256];
    int abi = vmm_landlock_abi();
    /* "rw" on a regular file: the directory rights are dropped, not refused. */
    VmmLandlockRule rules[] = {{.path = file, .access = RW}, {.path = missing, .access = RW}};
    VmmLandlockRules one = {.items = rules, .n = 1}, both = {.items = rules, .n = 2};
    int fd = vmm_landlock_ruleset_create(&both, abi, false, err, sizeof(err));
    CHECK(10, fd == -ENOENT && strstr(err, "not-there"));
    fd = vmm_landlock_ruleset_create(&both, abi, true, err, sizeof(err));
    CHECK(11, fd >= 0);
    close(fd);
    fd = vmm_landlock_ruleset_create(&one, abi, false, err, sizeof(err));
    CHECK(12, fd >= 0);
    CHECK(13, prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0);
    CHECK(14, vmm_landlock_restrict_self(fd) == 0);
    close(fd);
    CHECK(20, try_open("outside", O_RDWR) == 0);
    CHECK(21, try_open("kernel", O_RDONLY) == EACCES);
    return 0;
}

static void test_file_rule_and_missing_path(void **state)
{
    (void)state;
    run_child(child_file_rule_and_missing);
}

/* vmm_run()'s order: setup, a thread started during setup enters the setup
 * ruleset, files are created after setup, the main thread restricts itself,
 * a thread created afterwards inherits that domain. */
static void *helper_thread(void *arg)
{
    (void)arg;
    vmm_landlock_enter();
    intptr_t bad = 0;
    if (try_open("kernel", O_RDONLY) != 0)
        bad = 1;
    else if (try_open("outside", O_WRONLY) != EACCES)
        bad = 2;
    return (void *)bad;
}

static void *vcpu_like_thread(void *arg)
{
    (void)arg;
    intptr_t bad = 0;
    if (try_open("kernel", O_RDONLY) != 0) /* a reboot reads it again */
        bad = 1;
    else if (try_open("outside", O_WRONLY) != EACCES)
        bad = 2;
    else if (try_open("inside/new", O_WRONLY | O_CREAT) != EACCES)
        bad = 3;
    return (void *)bad;
}

static int child_process_flow(void)
{
    char kernel[PATH_MAX], events[PATH_MAX], api[PATH_MAX], serial_log[PATH_MAX];
    path_in(kernel, "kernel");
    path_in(events, "events");
    path_in(api, "inside/api.sock");
    path_in(serial_log, "serial.log");
    char serial_opt[PATH_MAX + 8];
    snprintf(serial_opt, sizeof(serial_opt), "file=%s", serial_log);
    Parsed p;
    char *argv[] = {"vmm",       "--kernel", kernel,       "--serial", serial_opt,
                    "--console", "off",      "--landlock", NULL};
    ConfigError cerr = {0};
    CHECK(10, vmm_cli_parse(8, argv, &p.cli, &cerr) == 0);
    CHECK(11, vm_config_parse(&p.cli.vm, &p.cfg, &cerr) == 0);
    char err[256];
    CHECK(12, vmm_landlock_setup(&p.cfg, api, events, err, sizeof(err)) == 0);

    pthread_t t;
    void *res;
    CHECK(20, pthread_create(&t, NULL, helper_thread, NULL) == 0);
    CHECK(21, pthread_join(t, &res) == 0);
    CHECK(22, res == NULL);

    /* Setup creates these only now; the main ruleset names them. */
    CHECK(30, try_open("serial.log", O_WRONLY | O_CREAT) == 0 && try_open("events", O_WRONLY | O_CREAT) == 0);
    CHECK(31, vmm_landlock_restrict_main(err, sizeof(err)) == 0);
    CHECK(32, try_open("serial.log", O_WRONLY | O_APPEND) == 0);
    CHECK(33, try_open("events", O_RDWR) == 0); /* a FIFO event monitor is reopened */
    CHECK(34, try_open("outside", O_WRONLY) == EACCES);

    CHECK(40, pthread_create(&t, NULL, vcpu_like_thread, NULL) == 0);
    CHECK(41, pthread_join(t, &res) == 0);
    CHECK(42, res == NULL);
    vmm_landlock_teardown();
    return 0;
}

static void test_process_flow(void **state)
{
    (void)state;
    run_child(child_process_flow);
}

int main(void)
{
    const struct CMUnitTest pure[] = {
        cmocka_unit_test(test_access_strings),       cmocka_unit_test(test_rules_every_item),
        cmocka_unit_test(test_rules_minimal),        cmocka_unit_test(test_rules_sockets_and_fds),
        cmocka_unit_test(test_rules_invalid_access), cmocka_unit_test(test_setup_checks_user_rules),
        cmocka_unit_test(test_no_landlock_refused),
    };
    const struct CMUnitTest enforced[] = {
        cmocka_unit_test(test_ruleset_enforced),
        cmocka_unit_test(test_file_rule_and_missing_path),
        cmocka_unit_test(test_process_flow),
    };
    int failed = cmocka_run_group_tests_name("landlock rules", pure, NULL, NULL);
    int abi = vmm_landlock_abi();
    if (abi < 0) {
        printf("no Landlock in this kernel (%s): enforcement tests skipped\n", strerror(-abi));
        return failed ? failed : 77;
    }
    printf("Landlock ABI %d\n", abi);
    return failed +
           cmocka_run_group_tests_name("landlock enforcement", enforced, setup_tmpdir, teardown_tmpdir);
}
