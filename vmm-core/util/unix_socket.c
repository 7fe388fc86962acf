/* SPDX-License-Identifier: Apache-2.0 */
#include "unix_socket.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

static int remove_stale_socket(const char *path, const struct sockaddr_un *addr)
{
    struct stat st;
    if (lstat(path, &st) < 0)
        return errno == ENOENT ? 0 : -errno;
    if (!S_ISSOCK(st.st_mode))
        return -EEXIST;
    int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (probe < 0)
        return -errno;
    int r = connect(probe, (const struct sockaddr *)addr, sizeof(*addr));
    int err = r < 0 ? errno : 0;
    close(probe);
    if (err != ECONNREFUSED && err != ENOENT)
        return -EADDRINUSE;
    if (unlink(path) < 0 && errno != ENOENT)
        return -errno;
    return 0;
}

int unix_socket_listen(const char *path, int backlog, dev_t *dev, ino_t *ino)
{
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    size_t len = strlen(path);
    if (len == 0 || len >= sizeof(addr.sun_path))
        return -ENAMETOOLONG;
    memcpy(addr.sun_path, path, len + 1);
    int r = remove_stale_socket(path, &addr);
    if (r < 0)
        return r;

    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
        r = -errno;
        close(fd);
        return r;
    }
    struct stat st;
    if (chmod(path, 0600) < 0 || stat(path, &st) < 0 || listen(fd, backlog) < 0) {
        r = -errno;
        close(fd);
        unlink(path);
        return r;
    }
    *dev = st.st_dev;
    *ino = st.st_ino;
    return fd;
}

void unix_socket_unlink_if_ours(const char *path, dev_t dev, ino_t ino)
{
    struct stat st;
    if (path && lstat(path, &st) == 0 && st.st_dev == dev && st.st_ino == ino)
        unlink(path);
}
