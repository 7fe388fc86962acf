/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Turning what a caller gives CreateVM/CreateVMFromArgs into the resolved
 * configuration vmmd stores and hands to the VMM, with the config library of
 * vmm-core (the same parsers, defaults and validation as `vmm` itself).
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include <systemd/sd-bus.h>

typedef struct ResolvedConfig {
    char *json; /* compact, every default filled in */
    uint32_t vcpus;
    uint64_t memory_size; /* guest RAM: size plus hotplugged_size */
    uint64_t memory_max;  /* what the VMM maps: size plus hotplug_size */
} ResolvedConfig;

void resolved_config_free(ResolvedConfig *rc);

/* From the JSON form (docs/config.md), at most max_size bytes. Errors:
 * InvalidConfig (too large, malformed, unknown field, wrong type, fails
 * validation), NotSupported. */
int vm_config_resolve_json(const char *json, size_t max_size, ResolvedConfig *ret, sd_bus_error *error);
/* From Cloud Hypervisor's options, as `vmm` takes them (without argv[0]):
 * at most max_args of them, max_size bytes together. Process options
 * (--api-socket, --event-monitor, --config, ...) belong to vmmd and are
 * refused. */
int vm_config_resolve_args(char **args, size_t max_size, size_t max_args, ResolvedConfig *ret,
                           sd_bus_error *error);
/* For definitions read back from the state directory: parse + validate only
 * (support may differ between versions; Start finds out). */
int vm_config_load_json(const char *json, ResolvedConfig *ret, char *errbuf, size_t errlen);

/* The configuration a VM's VMM runs: its definition, with the VM's UUID as
 * the guest's SMBIOS system UUID (/sys/class/dmi/id/product_uuid) unless the
 * definition's platform names one, as libvirt gives a domain's UUID to its
 * guest. *ret is to be freed. */
int vm_config_for_vmm(const char *definition, const char *uuid, char **ret);
