/* SPDX-License-Identifier: Apache-2.0 */
/* Placeholder: being written. */
#include "config.h"
#include <errno.h>
int vm_config_parse(const VmParams *params, VmConfig *out, ConfigError *err)
{
    (void)params;
    (void)out;
    return config_error_set(err, CONFIG_ERR_PARSE, "not written yet");
}
