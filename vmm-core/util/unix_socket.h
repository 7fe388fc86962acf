/* SPDX-License-Identifier: Apache-2.0 */
/* Listening unix sockets at a path, shared by the API server and the serial
 * port's socket= mode. */
#pragma once

#include <sys/types.h>

/*
 * Creates a non-blocking, close-on-exec SOCK_STREAM socket listening at path.
 * A socket file nobody accepts on (left by a VMM that died) is replaced; a
 * live socket gives -EADDRINUSE and any other kind of file -EEXIST, so we
 * never delete what is not ours. The file gets mode 0600 before listen(), so
 * nobody can connect while its mode is still wide. The dev and ino outputs identify the
 * file so its owner later unlinks it only if it is still the same file.
 * Returns the fd or -errno (-ENAMETOOLONG for an empty or too long path).
 */
int unix_socket_listen(const char *path, int backlog, dev_t *dev, ino_t *ino);

/* Unlinks path only when it is still the file unix_socket_listen() made. */
void unix_socket_unlink_if_ours(const char *path, dev_t dev, ino_t ino);
