/* SPDX-License-Identifier: Apache-2.0 */
/* The option parser: the input is an argv (NUL-separated words), parsed the
 * way `vmm` parses its command line, then resolved and validated. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "config.h"

#define MAX_ARGS 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 16384)
        return 0;
    char *buf = malloc(size + 1);
    memcpy(buf, data, size);
    buf[size] = '\0';
    char *argv[MAX_ARGS + 2];
    int argc = 0;
    argv[argc++] = (char *)"vmm";
    for (size_t at = 0; at <= size && argc < MAX_ARGS + 1;) {
        argv[argc++] = buf + at;
        at += strlen(buf + at) + 1;
    }
    argv[argc] = NULL;

    VmmCli cli;
    ConfigError err = {0};
    if (vmm_cli_parse(argc, argv, &cli, &err) == 0) {
        VmConfig cfg;
        if (vm_config_parse(&cli.vm, &cfg, &err) == 0) {
            char *json = vm_config_to_json(&cfg, false);
            free(json);
            vm_config_free(&cfg);
        }
    }
    /* Released either way (cli.h). */
    vmm_cli_free(&cli);
    free(buf);
    return 0;
}
