/* SPDX-License-Identifier: Apache-2.0 */
/* `vmm`: build a VM configuration from the command line or a JSON file. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "config.h"
#include "inherited_fd.h"
#include "snapshot.h"
#include "vmm.h"

/* Reads a whole file of at most CONFIG_MAX_INPUT bytes into a NUL-terminated
 * buffer. vmmd gives its unprivileged VMM the file as /dev/fd/N. */
static char *read_config_file(const char *path, size_t *len, ConfigError *err)
{
    int fd = open_or_inherit(path, O_RDONLY, 0);
    FILE *f = fd >= 0 ? fdopen(fd, "rb") : NULL;
    if (!f) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        config_error_set(err, CONFIG_ERR_ARGS, "cannot open %s: %s", path, strerror(e));
        return NULL;
    }
    char *buf = malloc(CONFIG_MAX_INPUT + 1);
    if (!buf) {
        fclose(f);
        config_error_set(err, CONFIG_ERR_NO_MEMORY, "out of memory");
        return NULL;
    }
    /* One byte more than allowed tells an oversized file from one that fits. */
    size_t n = fread(buf, 1, CONFIG_MAX_INPUT + 1, f);
    bool failed = ferror(f);
    fclose(f);
    if (failed || n > CONFIG_MAX_INPUT) {
        if (failed)
            config_error_set(err, CONFIG_ERR_ARGS, "cannot read %s", path);
        else
            config_error_set(err, CONFIG_ERR_ARGS, "%s is larger than %u bytes", path, CONFIG_MAX_INPUT);
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

static int build_config(const VmmCli *cli, VmConfig *cfg, ConfigError *err)
{
    if (!cli->config_file)
        return vm_config_parse(&cli->vm, cfg, err);
    if (cli->vm_options_given)
        return config_error_set(err, CONFIG_ERR_ARGS, "--config cannot be combined with VM options");

    size_t len = 0;
    char *json = read_config_file(cli->config_file, &len, err);
    if (!json)
        return -EINVAL;
    int r = vm_config_from_json(json, len, cfg, err);
    free(json);
    if (r == 0 && (r = vm_config_validate(cfg, err)) < 0)
        vm_config_free(cfg);
    return r;
}

static VmmOptions vmm_options(const VmmCli *cli)
{
    return (VmmOptions){
        .api_socket_path = cli->api_socket_path,
        .api_socket_fd = cli->api_socket_fd,
        .event_monitor_path = cli->event_monitor_path,
        .event_monitor_fd = cli->event_monitor_fd,
        .kvm_fd = cli->kvm_fd,
        .verbosity = cli->verbosity,
        .seccomp = cli->seccomp == VMM_SECCOMP_FALSE ? VMM_SECCOMP_MODE_OFF
                   : cli->seccomp == VMM_SECCOMP_LOG ? VMM_SECCOMP_MODE_LOG
                                                     : VMM_SECCOMP_MODE_TRAP,
    };
}

/* --restore: the configuration comes from the snapshot, so no VM option
 * may be given (Cloud Hypervisor refuses them too). */
static int run_restore(const VmmCli *cli, ConfigError *err)
{
    if (cli->vm_options_given || cli->config_file)
        return config_error_set(err, CONFIG_ERR_ARGS,
                                "--restore cannot be combined with VM options or --config");
    Snapshot snap;
    char msg[sizeof(err->message)];
    int r = snapshot_open(&snap, cli->restore_source_url, msg, sizeof(msg));
    if (r < 0)
        return config_error_set(err, CONFIG_ERR_ARGS, "cannot restore: %s", msg);
    r = vm_config_check_supported(&snap.config, err);
    if (r == 0) {
        VmmOptions opts = vmm_options(cli);
        opts.restore = &snap;
        opts.restore_prefault = cli->restore_prefault;
        r = vmm_run(&snap.config, &opts);
    }
    snapshot_close(&snap);
    return r;
}

/* Returns the process exit status, or a negative errno with err set. */
static int run(const VmmCli *cli, ConfigError *err)
{
    VmConfig cfg;
    if (cli->has_restore)
        return run_restore(cli, err);
    int r = build_config(cli, &cfg, err);
    if (r < 0)
        return r;

    if (cli->print_config) {
        char *json = vm_config_to_json(&cfg, true);
        vm_config_free(&cfg);
        if (!json)
            return config_error_set(err, CONFIG_ERR_NO_MEMORY, "out of memory");
        fputs(json, stdout);
        fputc('\n', stdout);
        free(json);
        return fflush(stdout) == 0 ? 0 : config_error_set(err, CONFIG_ERR_ARGS, "cannot write to stdout");
    }

    r = vm_config_check_supported(&cfg, err);
    if (r < 0) {
        vm_config_free(&cfg);
        return r;
    }
    VmmOptions opts = vmm_options(cli);
    int status = vmm_run(&cfg, &opts);
    vm_config_free(&cfg);
    return status;
}

int main(int argc, char **argv)
{
    /* Cloud Hypervisor (clap's arg_required_else_help) prints the help on
     * stderr and exits with clap's usage code, 2, when given no argument. */
    if (argc <= 1) {
        vmm_cli_print_help(stderr);
        return 2;
    }

    VmmCli cli;
    ConfigError err = {0};
    int status = 1;

    if (vmm_cli_parse(argc, argv, &cli, &err) < 0) {
        fprintf(stderr, "vmm: %s\n", err.message);
    } else if (cli.help) {
        vmm_cli_print_help(stdout);
        status = 0;
    } else if (cli.version) {
        printf("vmm %s\n", VMM_VERSION);
        status = 0;
    } else {
        int r = run(&cli, &err);
        if (r < 0)
            fprintf(stderr, "vmm: %s\n", err.message);
        else
            status = r;
    }
    vmm_cli_free(&cli);
    return status;
}
