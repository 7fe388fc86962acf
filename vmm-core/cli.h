/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The `vmm` command line: Cloud Hypervisor's options and their clap rules
 * (multi-valued options take every following argument up to the next one
 * starting with '-', single-valued ones exactly one, flags none), turned into
 * a VmParams plus the process-level options.
 *
 * vmm_cli_parse() is a pure function of argv: it prints nothing and never
 * exits, so that it can be tested. The strings in VmParams point into argv,
 * which must outlive the VmmCli.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "config.h"

typedef enum VmmSeccomp {
    VMM_SECCOMP_TRUE = 0, /* the default: trap on a forbidden syscall */
    VMM_SECCOMP_FALSE,
    VMM_SECCOMP_LOG,
} VmmSeccomp;

/* The multi-valued VM options; each owns a growable array of argv pointers. */
enum {
    VMM_CLI_LIST_MEMORY_ZONE,
    VMM_CLI_LIST_RATE_LIMIT_GROUP,
    VMM_CLI_LIST_DISK,
    VMM_CLI_LIST_NET,
    VMM_CLI_LIST_FS,
    VMM_CLI_LIST_PMEM,
    VMM_CLI_LIST_DEVICE,
    VMM_CLI_LIST_USER_DEVICE,
    VMM_CLI_LIST_VDPA,
    VMM_CLI_LIST_NUMA,
    VMM_CLI_LIST_LANDLOCK_RULES,
    VMM_CLI_LIST_SGX_EPC,
    VMM_CLI_N_LISTS,
};

typedef struct VmmCliList {
    const char **items;
    size_t n, cap;
} VmmCliList;

typedef struct VmmCli {
    /* VM options; NULL / count 0 when not given (vm_config_parse() then
     * applies Cloud Hypervisor's defaults). */
    VmParams vm;
    /* True when any VM option appeared, which rules out --config. */
    bool vm_options_given;

    /* Raw values of the process options, NULL when not given. */
    const char *api_socket;
    const char *event_monitor;
    const char *restore;
    const char *seccomp_arg;
    const char *log_file;
    const char *config_file; /* ours: --config FILE.json */
    const char *kvm_fd_arg;  /* ours: --kvm-fd N */

    /* --api-socket: "path=P", "fd=N" or a bare path. fd is -1 when absent. */
    char *api_socket_path;
    int api_socket_fd;
    /* --event-monitor: "path=P" or "fd=N"; one of them is required. */
    char *event_monitor_path;
    int event_monitor_fd;
    /* --restore source_url=URL[,prefault=on|off] */
    bool has_restore;
    char *restore_source_url;
    bool restore_prefault;

    /* --kvm-fd N: /dev/kvm already open as descriptor N (vmmd's unprivileged
     * VMMs); -1 when absent. */
    int kvm_fd;

    VmmSeccomp seccomp;
    unsigned verbosity; /* number of -v */
    bool version;
    bool help; /* -h/--help: the rest of argv was not looked at */
    bool print_config;

    VmmCliList lists[VMM_CLI_N_LISTS];
} VmmCli;

/*
 * Fills *cli from argv[1..argc-1]. Returns 0, or a negative errno with err set
 * (CONFIG_ERR_ARGS for command-line mistakes, CONFIG_ERR_PARSE /
 * CONFIG_ERR_MISSING_FIELD for bad --api-socket/--event-monitor/--restore
 * values, CONFIG_ERR_NO_MEMORY). *cli must be released with vmm_cli_free()
 * either way.
 */
int vmm_cli_parse(int argc, char *const argv[], VmmCli *cli, ConfigError *err);
void vmm_cli_free(VmmCli *cli);

/* The --help text. */
void vmm_cli_print_help(FILE *out);
