/* SPDX-License-Identifier: Apache-2.0 */
/* The JSON config reader (`vmm --config`, vmmd's CreateVM): whatever it
 * accepts must validate, print and read back without harm. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > CONFIG_MAX_INPUT)
        return 0;
    char *json = malloc(size + 1);
    memcpy(json, data, size);
    json[size] = '\0';
    VmConfig cfg;
    ConfigError err = {0};
    if (vm_config_from_json(json, size, &cfg, &err) == 0) {
        if (vm_config_validate(&cfg, &err) == 0) {
            char *out = vm_config_to_json(&cfg, false);
            VmConfig again;
            if (out && vm_config_from_json(out, strlen(out), &again, &err) == 0)
                vm_config_free(&again);
            free(out);
        }
        vm_config_free(&cfg);
    }
    free(json);
    return 0;
}
