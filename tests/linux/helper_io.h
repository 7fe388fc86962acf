/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What the static helpers that run inside the nested guests (vmm-api-call,
 * vmm-chat, vmm-stream, vmm-power-key) share: a monotonic clock in ms,
 * connecting to a vmm's unix socket that may not exist yet, and a write
 * that finishes.
 */
#ifndef VMM_LINUX_HELPER_IO_H
#define VMM_LINUX_HELPER_IO_H

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static inline long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Connects to the stream socket at path, retrying until deadline while it
 * does not exist or nobody listens yet: a vmm creates its sockets during
 * setup, a restored one only once it has loaded the state. prog prefixes
 * the error messages. */
static inline int connect_until(const char *prog, const char *path, long long deadline)
{
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof(addr.sun_path)) {
        fprintf(stderr, "%s: socket path too long\n", prog);
        return -1;
    }
    memcpy(addr.sun_path, path, strlen(path) + 1);
    for (;;) {
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            fprintf(stderr, "%s: socket: %s\n", prog, strerror(errno));
            return -1;
        }
        if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0)
            return fd;
        int err = errno;
        close(fd);
        if ((err != ENOENT && err != ECONNREFUSED) || now_ms() >= deadline) {
            fprintf(stderr, "%s: connect %s: %s\n", prog, path, strerror(err));
            return -1;
        }
        usleep(100 * 1000);
    }
}

static inline int write_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len > 0) {
        ssize_t w = write(fd, p, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

#endif
