/* SPDX-License-Identifier: Apache-2.0 */
#include "vm-config.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus_errors.h"
#include "cli.h"
#include "config.h"
#include "util.h"

void resolved_config_free(ResolvedConfig *rc)
{
    free(rc->json);
    rc->json = NULL;
}

/* vmmd has no terminal to give a guest: a tty console or serial port would
 * be wired to vmmd's stdin/stdout (the journal). They become ptys, which
 * ConsolePath reports and a user can attach to. The mapping is done once, at
 * creation, so the stored Config says what actually runs. */
static void memory_sizes(const MemoryConfig *m, ResolvedConfig *ret)
{
    ret->memory_size = m->size + (m->hotplugged_size.present ? m->hotplugged_size.value : 0);
    ret->memory_max = m->size + (m->hotplug_size.present ? m->hotplug_size.value : 0);
}

static void map_tty_to_pty(VmConfig *cfg)
{
    if (cfg->serial.mode == CONSOLE_MODE_TTY)
        cfg->serial.mode = CONSOLE_MODE_PTY;
    if (cfg->console.mode == CONSOLE_MODE_TTY)
        cfg->console.mode = CONSOLE_MODE_PTY;
    if (cfg->debug_console.mode == CONSOLE_MODE_TTY)
        cfg->debug_console.mode = CONSOLE_MODE_PTY;
}

/* Consumes cfg. */
static int finish(VmConfig *cfg, ResolvedConfig *ret, sd_bus_error *error)
{
    ConfigError err = {0};
    int r = vm_config_check_supported(cfg, &err);
    if (r < 0) {
        vm_config_free(cfg);
        return sd_bus_error_setf(error, VMM_ERROR_NOT_SUPPORTED, "%s; remove it from the configuration",
                                 err.message);
    }
    map_tty_to_pty(cfg);
    char *json = vm_config_to_json(cfg, false);
    ret->vcpus = cfg->cpus.boot_vcpus;
    memory_sizes(&cfg->memory, ret);
    vm_config_free(cfg);
    if (!json)
        return -ENOMEM;
    ret->json = json;
    return 0;
}

int vm_config_resolve_json(const char *json, size_t max_size, ResolvedConfig *ret, sd_bus_error *error)
{
    VmConfig cfg;
    ConfigError err = {0};
    size_t len = strlen(json);

    if (len > max_size)
        return sd_bus_error_setf(error, VMM_ERROR_INVALID_CONFIG,
                                 "the configuration is %zu bytes, more than the %zu allowed", len, max_size);
    if (vm_config_from_json(json, len, &cfg, &err) < 0)
        return sd_bus_error_setf(error, VMM_ERROR_INVALID_CONFIG, "invalid configuration JSON: %s",
                                 err.message);
    if (vm_config_validate(&cfg, &err) < 0) {
        vm_config_free(&cfg);
        return sd_bus_error_setf(error, VMM_ERROR_INVALID_CONFIG, "%s", err.message);
    }
    return finish(&cfg, ret, error);
}

int vm_config_resolve_args(char **args, size_t max_size, size_t max_args, ResolvedConfig *ret,
                           sd_bus_error *error)
{
    size_t n = 0, total = 0;
    /* sd_bus_message_read_strv() gives NULL for an empty array. */
    for (; args && args[n]; n++)
        total += strlen(args[n]) + 1;
    if (n > max_args)
        return sd_bus_error_setf(error, VMM_ERROR_INVALID_CONFIG, "%zu options, more than the %zu allowed", n,
                                 max_args);
    if (total > max_size)
        return sd_bus_error_setf(error, VMM_ERROR_INVALID_CONFIG,
                                 "the options are %zu bytes together, more than the %zu allowed", total,
                                 max_size);
    if (n == 0)
        return sd_bus_error_setf(error, VMM_ERROR_INVALID_CONFIG,
                                 "no options given: at least --kernel is needed");

    /* vmm_cli_parse() wants a C argv: argv[0] plus the options. */
    _cleanup_free_ char **argv = calloc(n + 2, sizeof(char *));
    if (!argv)
        return -ENOMEM;
    argv[0] = (char *)"vmm";
    memcpy(argv + 1, args, n * sizeof(char *));

    VmmCli cli;
    ConfigError err = {0};
    int r = vmm_cli_parse((int)n + 1, argv, &cli, &err);
    if (r < 0) {
        vmm_cli_free(&cli);
        return sd_bus_error_setf(error, VMM_ERROR_INVALID_CONFIG, "%s", err.message);
    }
    const char *process_option = cli.help             ? "--help"
                                 : cli.version        ? "--version"
                                 : cli.print_config   ? "--print-config"
                                 : cli.config_file    ? "--config (use CreateVM with the JSON instead)"
                                 : cli.api_socket     ? "--api-socket"
                                 : cli.event_monitor  ? "--event-monitor"
                                 : cli.restore        ? "--restore"
                                 : cli.log_file       ? "--log-file"
                                 : cli.seccomp_arg    ? "--seccomp"
                                 : cli.kvm_fd_arg     ? "--kvm-fd"
                                 : cli.verbosity != 0 ? "-v"
                                                      : NULL;
    if (process_option) {
        vmm_cli_free(&cli);
        return sd_bus_error_setf(error, VMM_ERROR_INVALID_CONFIG,
                                 "%s is not a VM option: vmmd runs the VMM process itself; give only VM "
                                 "options (--kernel, --cpus, --memory, --disk, ...)",
                                 process_option);
    }
    VmConfig cfg;
    r = vm_config_parse(&cli.vm, &cfg, &err);
    vmm_cli_free(&cli);
    if (r < 0)
        return sd_bus_error_setf(error, VMM_ERROR_INVALID_CONFIG, "%s", err.message);
    return finish(&cfg, ret, error);
}

int vm_config_load_json(const char *json, ResolvedConfig *ret, char *errbuf, size_t errlen)
{
    VmConfig cfg;
    ConfigError err = {0};
    if (vm_config_from_json(json, strlen(json), &cfg, &err) < 0) {
        snprintf(errbuf, errlen, "%s", err.message);
        return -EINVAL;
    }
    if (vm_config_validate(&cfg, &err) < 0) {
        vm_config_free(&cfg);
        snprintf(errbuf, errlen, "%s", err.message);
        return -EINVAL;
    }
    char *out = vm_config_to_json(&cfg, false);
    ret->vcpus = cfg.cpus.boot_vcpus;
    memory_sizes(&cfg.memory, ret);
    vm_config_free(&cfg);
    if (!out)
        return -ENOMEM;
    ret->json = out;
    return 0;
}

int vm_config_for_vmm(const char *definition, const char *uuid, char **ret)
{
    _cleanup_json_ json_object *doc = json_tokener_parse(definition);
    if (!doc || !json_object_is_type(doc, json_type_object))
        return -EINVAL;
    json_object *platform = NULL, *given = NULL;
    if (!json_object_object_get_ex(doc, "platform", &platform) ||
        !json_object_is_type(platform, json_type_object)) {
        platform = json_object_new_object();
        if (!platform || json_object_object_add(doc, "platform", platform) < 0) {
            json_object_put(platform);
            return -ENOMEM;
        }
    }
    if (!json_object_object_get_ex(platform, "uuid", &given) || json_object_is_type(given, json_type_null))
        json_object_object_add(platform, "uuid", json_object_new_string(uuid));
    *ret = strdup(json_object_to_json_string_ext(doc, JSON_C_TO_STRING_PLAIN));
    return *ret ? 0 : -ENOMEM;
}
