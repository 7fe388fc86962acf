/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <stddef.h>

/* Writes "<formatted what>: <strerror(err)>" into errbuf and returns -err:
 * the one shape of setup error the control plane reports. */
int errbuf_errno(char *errbuf, size_t errlen, int err, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
