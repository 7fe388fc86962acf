/* SPDX-License-Identifier: Apache-2.0 */
#include "errbuf.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int errbuf_errno(char *errbuf, size_t errlen, int err, const char *fmt, ...)
{
    char what[384];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    snprintf(errbuf, errlen, "%s: %s", what, strerror(err));
    return -err;
}
