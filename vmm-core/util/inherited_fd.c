/* SPDX-License-Identifier: Apache-2.0 */
#include "inherited_fd.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>

#define PREFIX "/dev/fd/"

int inherited_fd_number(const char *path)
{
    if (!path || strncmp(path, PREFIX, strlen(PREFIX)) != 0)
        return -1;
    const char *p = path + strlen(PREFIX);
    if (*p < '0' || *p > '9')
        return -1;
    long n = 0;
    for (; *p; p++) {
        if (*p < '0' || *p > '9')
            return -1;
        n = n * 10 + (*p - '0');
        if (n > INT_MAX)
            return -1;
    }
    return (int)n;
}

int open_or_inherit(const char *path, int flags, mode_t mode)
{
    int n = inherited_fd_number(path);
    if (n < 0)
        return open(path, flags | O_CLOEXEC, mode);

    int have = fcntl(n, F_GETFL);
    if (have < 0)
        return -1;
    int want = flags & O_ACCMODE, got = have & O_ACCMODE;
    /* A read-only descriptor for a disk the guest writes would fail only
     * at the first write: refuse it now. */
    if (want != got && got != O_RDWR) {
        errno = EBADF;
        return -1;
    }
    int extra = flags & (O_NONBLOCK | O_APPEND | O_DIRECT);
    if ((have & extra) != extra && fcntl(n, F_SETFL, have | extra) < 0)
        return -1;
    return fcntl(n, F_DUPFD_CLOEXEC, 3);
}
