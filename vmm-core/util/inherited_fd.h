/* SPDX-License-Identifier: Apache-2.0 */
/*
 * "/dev/fd/N" as a file path means "the descriptor N this process was
 * given", not a path to open: vmmd opens what needs privilege (disk images,
 * the kernel, output files) and starts an unprivileged VMM with the
 * descriptors (docs/security.md). Re-opening /dev/fd/N through /proc would
 * check the unprivileged user's permissions on the file again and lose
 * O_DIRECT and the access mode vmmd chose, so the descriptor is duplicated
 * instead.
 */
#pragma once

#include <sys/types.h>

/* N when path is exactly "/dev/fd/N" (decimal, N >= 0), else -1. */
int inherited_fd_number(const char *path);

/*
 * open(path, flags | O_CLOEXEC, mode), or for "/dev/fd/N" a new close-on-exec
 * duplicate of N (at 3 or above). The inherited descriptor must allow the
 * access flags asks for (EBADF otherwise); O_NONBLOCK, O_APPEND and O_DIRECT
 * in flags are set on it. Returns the descriptor, or -1 with errno set.
 */
int open_or_inherit(const char *path, int flags, mode_t mode);
