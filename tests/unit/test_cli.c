/* SPDX-License-Identifier: Apache-2.0 */
/* argv -> VmmCli: clap's value rules for Cloud Hypervisor's options, the
 * process options, and the errors a mistyped command line must produce. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cli.h"

#define ARGV(...) ((char *const[]){"vmm", __VA_ARGS__, NULL})
#define ARGC(...) ((int)(sizeof((char *const[]){"vmm", __VA_ARGS__}) / sizeof(char *)))
/* Parses the given arguments into cli; returns the result. */
#define PARSE(cli, err, ...) vmm_cli_parse(ARGC(__VA_ARGS__), ARGV(__VA_ARGS__), (cli), (err))

static void expect_list(const char *const *items, size_t n, const char *const *want, size_t n_want)
{
    assert_int_equal(n, n_want);
    for (size_t i = 0; i < n_want; i++)
        assert_string_equal(items[i], want[i]);
}

static void expect_error(int r, const VmmCli *cli, const ConfigError *err, ConfigErrorCode code,
                         const char *fragment)
{
    (void)cli;
    if (r >= 0)
        fail_msg("expected an error naming '%s'", fragment);
    if (err->code != code)
        fail_msg("code %d, want %d (%s)", err->code, code, err->message);
    if (!strstr(err->message, fragment))
        fail_msg("message '%s' lacks '%s'", err->message, fragment);
}

static void test_defaults(void **state)
{
    (void)state;
    VmmCli cli;
    ConfigError err = {0};

    assert_int_equal(PARSE(&cli, &err, "--kernel", "/k"), 0);
    assert_string_equal(cli.vm.kernel, "/k");
    assert_true(cli.vm_options_given);
    assert_null(cli.vm.cpus);
    assert_null(cli.vm.memory);
    assert_null(cli.vm.rng);
    assert_null(cli.vm.serial);
    assert_null(cli.vm.console);
    assert_null(cli.vm.debug_console);
    assert_int_equal(cli.vm.n_disks + cli.vm.n_net + cli.vm.n_memory_zones + cli.vm.n_fs, 0);
    assert_null(cli.vm.disks);
    assert_false(cli.vm.pvpanic || cli.vm.watchdog || cli.vm.landlock_enable);
    assert_int_equal(cli.seccomp, VMM_SECCOMP_TRUE);
    assert_int_equal(cli.verbosity, 0);
    assert_int_equal(cli.api_socket_fd, -1);
    assert_int_equal(cli.event_monitor_fd, -1);
    assert_null(cli.api_socket_path);
    assert_null(cli.event_monitor_path);
    assert_false(cli.has_restore);
    assert_false(cli.help || cli.version || cli.print_config);
    assert_null(cli.config_file);
    assert_null(cli.log_file);
    vmm_cli_free(&cli);

    /* Nothing at all is not an error for the parser (main prints the help). */
    char *const only_prog[] = {"vmm", NULL};
    assert_int_equal(vmm_cli_parse(1, only_prog, &cli, &err), 0);
    assert_false(cli.vm_options_given);
    vmm_cli_free(&cli);
}

static void test_multi_values(void **state)
{
    (void)state;
    VmmCli cli;
    ConfigError err = {0};
    static const char *const ab[] = {"path=a", "path=b"};
    static const char *const abc[] = {"path=a", "path=b", "path=c"};

    /* several values after one flag */
    assert_int_equal(PARSE(&cli, &err, "--disk", "path=a", "path=b"), 0);
    expect_list(cli.vm.disks, cli.vm.n_disks, ab, 2);
    vmm_cli_free(&cli);

    /* repeated flags */
    assert_int_equal(PARSE(&cli, &err, "--disk", "path=a", "--disk", "path=b"), 0);
    expect_list(cli.vm.disks, cli.vm.n_disks, ab, 2);
    vmm_cli_free(&cli);

    /* both, interleaved with other options */
    assert_int_equal(
        PARSE(&cli, &err, "--disk", "path=a", "path=b", "--net", "tap=t0", "--disk=path=c", "--kernel", "/k"),
        0);
    expect_list(cli.vm.disks, cli.vm.n_disks, abc, 3);
    static const char *const net[] = {"tap=t0"};
    expect_list(cli.vm.net, cli.vm.n_net, net, 1);
    vmm_cli_free(&cli);

    /* every multi-valued option lands in its own VmParams list */
    assert_int_equal(PARSE(&cli, &err, "--memory-zone", "id=m0", "id=m1", "--rate-limit-group", "id=g",
                           "--fs", "tag=t,socket=/s", "--pmem", "file=/p", "--device", "path=/d",
                           "--user-device", "socket=/u", "--vdpa", "path=/v", "--numa", "guest_numa_id=0",
                           "--landlock-rules", "path=/tmp,access=r", "--sgx-epc", "id=e"),
                     0);
    assert_int_equal(cli.vm.n_memory_zones, 2);
    assert_string_equal(cli.vm.memory_zones[1], "id=m1");
    assert_int_equal(cli.vm.n_rate_limit_groups, 1);
    assert_int_equal(cli.vm.n_fs, 1);
    assert_int_equal(cli.vm.n_pmem, 1);
    assert_int_equal(cli.vm.n_devices, 1);
    assert_int_equal(cli.vm.n_user_devices, 1);
    assert_int_equal(cli.vm.n_vdpa, 1);
    assert_int_equal(cli.vm.n_numa, 1);
    assert_int_equal(cli.vm.n_landlock_rules, 1);
    assert_int_equal(cli.vm.n_sgx_epc, 1);
    assert_string_equal(cli.vm.sgx_epc[0], "id=e");
    vmm_cli_free(&cli);

    /* many values: the arrays grow */
    char *many[2 + 100 + 1];
    many[0] = "vmm";
    many[1] = "--disk";
    for (int i = 0; i < 100; i++)
        many[2 + i] = "path=x";
    many[102] = NULL;
    assert_int_equal(vmm_cli_parse(102, many, &cli, &err), 0);
    assert_int_equal(cli.vm.n_disks, 100);
    vmm_cli_free(&cli);
}

static void test_single_values(void **state)
{
    (void)state;
    VmmCli cli;
    ConfigError err = {0};

    assert_int_equal(PARSE(&cli, &err, "--cpus=boot=2,max=4", "--memory", "size=1G", "--kernel=/k",
                           "--cmdline", "console=ttyS0 root=/dev/vda", "--initramfs", "/i", "--firmware",
                           "/f", "--rng", "src=/dev/random", "--balloon", "size=1G", "--serial", "tty",
                           "--console", "off", "--debug-console", "pty", "--vsock", "cid=3,socket=/s",
                           "--platform", "num_pci_segments=2", "--tpm", "socket=/t"),
                     0);
    assert_string_equal(cli.vm.cpus, "boot=2,max=4");
    assert_string_equal(cli.vm.memory, "size=1G");
    assert_string_equal(cli.vm.kernel, "/k");
    assert_string_equal(cli.vm.cmdline, "console=ttyS0 root=/dev/vda");
    assert_string_equal(cli.vm.initramfs, "/i");
    assert_string_equal(cli.vm.firmware, "/f");
    assert_string_equal(cli.vm.rng, "src=/dev/random");
    assert_string_equal(cli.vm.balloon, "size=1G");
    assert_string_equal(cli.vm.serial, "tty");
    assert_string_equal(cli.vm.console, "off");
    assert_string_equal(cli.vm.debug_console, "pty");
    assert_string_equal(cli.vm.vsock, "cid=3,socket=/s");
    assert_string_equal(cli.vm.platform, "num_pci_segments=2");
    assert_string_equal(cli.vm.tpm, "socket=/t");
    vmm_cli_free(&cli);

    /* "--opt=" is an empty value, and "-" alone is a value, not an option. */
    assert_int_equal(PARSE(&cli, &err, "--cmdline=", "--log-file", "-"), 0);
    assert_string_equal(cli.vm.cmdline, "");
    assert_string_equal(cli.log_file, "-");
    vmm_cli_free(&cli);
}

static void test_flags(void **state)
{
    (void)state;
    VmmCli cli;
    ConfigError err = {0};

    assert_int_equal(PARSE(&cli, &err, "--pvpanic", "--watchdog", "--landlock", "--print-config"), 0);
    assert_true(cli.vm.pvpanic);
    assert_true(cli.vm.watchdog);
    assert_true(cli.vm.landlock_enable);
    assert_true(cli.print_config);
    assert_true(cli.vm_options_given);
    vmm_cli_free(&cli);

    assert_int_equal(PARSE(&cli, &err, "--print-config"), 0);
    assert_true(cli.print_config);
    assert_false(cli.vm_options_given);
    vmm_cli_free(&cli);

    assert_int_equal(PARSE(&cli, &err, "-v", "-vv", "-V"), 0);
    assert_int_equal(cli.verbosity, 3);
    assert_true(cli.version);
    vmm_cli_free(&cli);

    assert_int_equal(PARSE(&cli, &err, "--version"), 0);
    assert_true(cli.version);
    vmm_cli_free(&cli);

    /* Help answers at once, whatever comes after it. */
    assert_int_equal(PARSE(&cli, &err, "--kernel", "/k", "-h", "--bogus", "--kernel"), 0);
    assert_true(cli.help);
    vmm_cli_free(&cli);
    assert_int_equal(PARSE(&cli, &err, "--help"), 0);
    assert_true(cli.help);
    vmm_cli_free(&cli);
}

static void test_process_options(void **state)
{
    (void)state;
    VmmCli cli;
    ConfigError err = {0};

    assert_int_equal(PARSE(&cli, &err, "--api-socket", "/run/vmm.sock"), 0);
    assert_string_equal(cli.api_socket_path, "/run/vmm.sock");
    assert_int_equal(cli.api_socket_fd, -1);
    assert_false(cli.vm_options_given);
    vmm_cli_free(&cli);

    assert_int_equal(PARSE(&cli, &err, "--api-socket", "path=/run/a.sock"), 0);
    assert_string_equal(cli.api_socket_path, "/run/a.sock");
    vmm_cli_free(&cli);

    assert_int_equal(PARSE(&cli, &err, "--api-socket=fd=5"), 0);
    assert_null(cli.api_socket_path);
    assert_int_equal(cli.api_socket_fd, 5);
    vmm_cli_free(&cli);

    /* A path with a comma is still a bare path. */
    assert_int_equal(PARSE(&cli, &err, "--api-socket", "/tmp/a,b.sock"), 0);
    assert_string_equal(cli.api_socket_path, "/tmp/a,b.sock");
    vmm_cli_free(&cli);

    expect_error(PARSE(&cli, &err, "--api-socket", "fd=x"), &cli, &err, CONFIG_ERR_PARSE, "--api-socket");
    vmm_cli_free(&cli);
    expect_error(PARSE(&cli, &err, "--api-socket", "fd=2147483648"), &cli, &err, CONFIG_ERR_PARSE,
                 "--api-socket");
    vmm_cli_free(&cli);

    assert_int_equal(PARSE(&cli, &err, "--event-monitor", "path=/tmp/events"), 0);
    assert_string_equal(cli.event_monitor_path, "/tmp/events");
    assert_int_equal(cli.event_monitor_fd, -1);
    vmm_cli_free(&cli);
    assert_int_equal(PARSE(&cli, &err, "--event-monitor", "fd=9"), 0);
    assert_null(cli.event_monitor_path);
    assert_int_equal(cli.event_monitor_fd, 9);
    vmm_cli_free(&cli);
    expect_error(PARSE(&cli, &err, "--event-monitor", "path="), &cli, &err, CONFIG_ERR_MISSING_FIELD,
                 "Error parsing --event-monitor: path or fd required");
    vmm_cli_free(&cli);
    expect_error(PARSE(&cli, &err, "--event-monitor="), &cli, &err, CONFIG_ERR_MISSING_FIELD,
                 "path or fd required");
    vmm_cli_free(&cli);
    expect_error(PARSE(&cli, &err, "--event-monitor", "/tmp/events"), &cli, &err, CONFIG_ERR_PARSE,
                 "Error parsing --event-monitor");
    vmm_cli_free(&cli);
    expect_error(PARSE(&cli, &err, "--event-monitor", "fd=-1"), &cli, &err, CONFIG_ERR_PARSE,
                 "--event-monitor");
    vmm_cli_free(&cli);

    assert_int_equal(PARSE(&cli, &err, "--restore", "source_url=file:///snap,prefault=on"), 0);
    assert_true(cli.has_restore);
    assert_string_equal(cli.restore_source_url, "file:///snap");
    assert_true(cli.restore_prefault);
    vmm_cli_free(&cli);
    expect_error(PARSE(&cli, &err, "--restore", "prefault=on"), &cli, &err, CONFIG_ERR_MISSING_FIELD,
                 "Error parsing --restore: source_url missing");
    vmm_cli_free(&cli);
    expect_error(PARSE(&cli, &err, "--restore", "source_url=/s,prefault=maybe"), &cli, &err, CONFIG_ERR_PARSE,
                 "Error parsing --restore");
    vmm_cli_free(&cli);

    static const struct {
        char *arg;
        VmmSeccomp want;
    } seccomp[] = {{"true", VMM_SECCOMP_TRUE}, {"false", VMM_SECCOMP_FALSE}, {"log", VMM_SECCOMP_LOG}};
    for (size_t i = 0; i < sizeof(seccomp) / sizeof(seccomp[0]); i++) {
        assert_int_equal(PARSE(&cli, &err, "--seccomp", seccomp[i].arg), 0);
        assert_int_equal(cli.seccomp, seccomp[i].want);
        vmm_cli_free(&cli);
    }
    expect_error(PARSE(&cli, &err, "--seccomp", "maybe"), &cli, &err, CONFIG_ERR_ARGS, "--seccomp");
    vmm_cli_free(&cli);

    assert_int_equal(PARSE(&cli, &err, "--log-file", "/tmp/vmm.log", "--config", "/tmp/vm.json"), 0);
    assert_string_equal(cli.log_file, "/tmp/vmm.log");
    assert_string_equal(cli.config_file, "/tmp/vm.json");
    assert_false(cli.vm_options_given);
    vmm_cli_free(&cli);
}

static void test_errors(void **state)
{
    (void)state;
    VmmCli cli;
    ConfigError err = {0};
    static const struct {
        const char *args[4];
        const char *fragment;
    } cases[] = {
        {{"--bogus"}, "'--bogus'"},
        {{"--kernel", "/k", "--disks", "path=/a"}, "'--disks'"},
        {{"-x"}, "'-x'"},
        {{"stray"}, "'stray'"},
        {{"--"}, "'--'"},
        {{"--kernel"}, "'--kernel'"},
        {{"--kernel", "--cpus", "boot=1"}, "'--kernel'"},
        {{"--disk"}, "'--disk'"},
        {{"--disk", "--net", "tap=t"}, "'--disk'"},
        {{"--kernel", "/a", "--kernel", "/b"}, "'--kernel' cannot be used multiple times"},
        {{"--cpus", "boot=1", "--cpus=boot=2"}, "'--cpus' cannot be used multiple times"},
        {{"--pvpanic", "--pvpanic"}, "'--pvpanic' cannot be used multiple times"},
        {{"--watchdog=on"}, "'--watchdog'"},
        {{"--kernel", "/k", "/extra"}, "'/extra'"},
        {{"--disk=path=a", "path=b"}, "'path=b'"},
        {{"--config"}, "'--config'"},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *argv[6] = {"vmm"};
        int argc = 1;
        for (size_t j = 0; j < 4 && cases[i].args[j]; j++)
            argv[argc++] = (char *)cases[i].args[j];
        argv[argc] = NULL;
        int r = vmm_cli_parse(argc, argv, &cli, &err);
        if (r >= 0)
            fail_msg("case %zu (%s) was accepted", i, cases[i].args[0]);
        if (err.code != CONFIG_ERR_ARGS || !strstr(err.message, cases[i].fragment))
            fail_msg("case %zu: code %d message '%s', want '%s'", i, err.code, err.message,
                     cases[i].fragment);
        vmm_cli_free(&cli);
    }
}

static void test_vm_config_from_cli(void **state)
{
    (void)state;
    VmmCli cli;
    VmConfig cfg;
    ConfigError err = {0};

    assert_int_equal(PARSE(&cli, &err, "--kernel", "/k", "--cpus", "boot=2", "--disk", "path=/a", "path=/b",
                           "--net", "tap=tap0", "--disk", "path=/c,readonly=on", "--pvpanic"),
                     0);
    if (vm_config_parse(&cli.vm, &cfg, &err) != 0)
        fail_msg("%s", err.message);
    assert_int_equal(cfg.cpus.boot_vcpus, 2);
    assert_int_equal(cfg.cpus.max_vcpus, 2);
    assert_int_equal(cfg.n_disks, 3);
    assert_string_equal(cfg.disks[0].path, "/a");
    assert_string_equal(cfg.disks[1].path, "/b");
    assert_true(cfg.disks[2].readonly);
    assert_int_equal(cfg.n_net, 1);
    assert_string_equal(cfg.net[0].tap, "tap0");
    assert_true(cfg.pvpanic);
    assert_int_equal(cfg.memory.size, 512ULL << 20);
    assert_int_equal(cfg.serial.mode, CONSOLE_MODE_NULL);
    assert_int_equal(cfg.console.mode, CONSOLE_MODE_TTY);
    vm_config_free(&cfg);
    vmm_cli_free(&cli);

    assert_int_equal(PARSE(&cli, &err, "--kernel", "/k", "--disk", "path=/a", "path=/b,queue_size=65536"), 0);
    assert_int_not_equal(vm_config_parse(&cli.vm, &cfg, &err), 0);
    assert_int_equal(err.code, CONFIG_ERR_PARSE);
    assert_non_null(strstr(err.message, "Error parsing --disk"));
    vmm_cli_free(&cli);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),           cmocka_unit_test(test_multi_values),
        cmocka_unit_test(test_single_values),      cmocka_unit_test(test_flags),
        cmocka_unit_test(test_process_options),    cmocka_unit_test(test_errors),
        cmocka_unit_test(test_vm_config_from_cli),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
