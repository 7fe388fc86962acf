/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vmm-stream: moves a known amount of pseudo-random bytes over one stream
 * connection and has the receiver confirm count and checksum, for the
 * `linux` suite's virtio case (inside L1 and L2, which have no Python).
 * Linked statically so it runs in any initramfs.
 *
 *   vmm-stream [-t SECONDS] listen tcp:PORT | vsock:PORT | unix:PATH
 *   vmm-stream [-t SECONDS] send tcp:IPV4:PORT | vsock:CID:PORT | hybrid:PATH:PORT BYTES
 *   vmm-stream [-t SECONDS] hold tcp:IPV4:PORT | vsock:CID:PORT | hybrid:PATH:PORT
 *
 * `hybrid` is the Firecracker / Cloud Hypervisor vsock host end: connect to
 * the vmm's unix socket PATH, write "CONNECT PORT\n", expect "OK ...\n".
 * The sender writes "LEN <bytes>\n" and the bytes; the listener (one
 * connection, then it exits) reads exactly that many and answers
 * "GOT <bytes> <fnv1a-64 hex>\n". The length prefix is there because no
 * side may half-close: a hybrid vsock host end that shuts down its sending
 * side closes the whole guest connection. Both sides print one line; exit 0
 * only when the receiver's answer matches what was sent.
 * `hold` connects once and waits for the connection to end: exit 0 only
 * when it ends in an error (the snapshot case: a guest connection open at
 * the snapshot must be reset in the restored guest, not hang).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/vm_sockets.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "helper_io.h"

#define CHUNK 16384
#define LINE_MAX_LEN 128

static uint64_t fnv1a(uint64_t h, const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

#define FNV_INIT 0xcbf29ce484222325ULL

/* Reads one '\n'-terminated line byte by byte, so nothing after it is consumed. */
static int read_line(int fd, char *buf, size_t cap)
{
    size_t n = 0;
    while (n + 1 < cap) {
        ssize_t r = read(fd, buf + n, 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        if (buf[n] == '\n') {
            buf[n] = '\0';
            return 0;
        }
        n++;
    }
    return -1;
}

static int parse_port(const char *s, unsigned *port)
{
    char *end;
    unsigned long v = strtoul(s, &end, 10);
    if (*s == '\0' || *end != '\0' || v > 0xffffffffUL)
        return -1;
    *port = (unsigned)v;
    return 0;
}

static int unix_addr(const char *path, struct sockaddr_un *sun)
{
    memset(sun, 0, sizeof(*sun));
    sun->sun_family = AF_UNIX;
    if (strlen(path) >= sizeof(sun->sun_path))
        return -1;
    memcpy(sun->sun_path, path, strlen(path) + 1);
    return 0;
}

static int do_listen(const char *spec)
{
    int fd = -1;
    unsigned port;
    if (strncmp(spec, "tcp:", 4) == 0 && parse_port(spec + 4, &port) == 0 && port <= 0xffff) {
        struct sockaddr_in in = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
        int one = 1;
        fd = socket(AF_INET, SOCK_STREAM, 0);
        if (fd >= 0 && (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
                        bind(fd, (struct sockaddr *)&in, sizeof(in)) < 0))
            goto fail;
    } else if (strncmp(spec, "vsock:", 6) == 0 && parse_port(spec + 6, &port) == 0) {
        struct sockaddr_vm vm = {.svm_family = AF_VSOCK, .svm_cid = VMADDR_CID_ANY, .svm_port = port};
        fd = socket(AF_VSOCK, SOCK_STREAM, 0);
        if (fd >= 0 && bind(fd, (struct sockaddr *)&vm, sizeof(vm)) < 0)
            goto fail;
    } else if (strncmp(spec, "unix:", 5) == 0) {
        struct sockaddr_un sun;
        if (unix_addr(spec + 5, &sun) < 0) {
            fprintf(stderr, "vmm-stream: path too long: %s\n", spec + 5);
            return 2;
        }
        unlink(spec + 5);
        fd = socket(AF_UNIX, SOCK_STREAM, 0);
        if (fd >= 0 && bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0)
            goto fail;
    } else {
        fprintf(stderr, "vmm-stream: bad listen address %s\n", spec);
        return 2;
    }
    if (fd < 0 || listen(fd, 1) < 0)
        goto fail;
    int c = accept(fd, NULL, NULL);
    if (c < 0)
        goto fail;
    close(fd);

    char line[LINE_MAX_LEN];
    unsigned long long want;
    if (read_line(c, line, sizeof(line)) < 0 || sscanf(line, "LEN %llu", &want) != 1) {
        fprintf(stderr, "vmm-stream: %s: no LEN line\n", spec);
        return 1;
    }
    static unsigned char buf[CHUNK];
    unsigned long long got = 0;
    uint64_t h = FNV_INIT;
    while (got < want) {
        size_t n = want - got < CHUNK ? (size_t)(want - got) : CHUNK;
        ssize_t r = read(c, buf, n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        h = fnv1a(h, buf, (size_t)r);
        got += (unsigned long long)r;
    }
    snprintf(line, sizeof(line), "GOT %llu %016llx\n", got, (unsigned long long)h);
    int rc = write_all(c, line, strlen(line));
    printf("vmm-stream: %s received %llu of %llu bytes, fnv %016llx%s\n", spec, got, want,
           (unsigned long long)h, rc < 0 ? ", reply failed" : "");
    /* Wait for the sender to close, so our reply is not cut off by a reset. */
    while (read(c, buf, sizeof(buf)) > 0)
        ;
    close(c);
    return got == want && rc == 0 ? 0 : 1;

fail:
    fprintf(stderr, "vmm-stream: listen %s: %s\n", spec, strerror(errno));
    return 1;
}

/* One connection attempt: the fd, -1 when it failed (maybe only for now), -2 on a bad address. */
static int do_connect(const char *spec, int verbose)
{
    int fd = -1;
    unsigned port;
    if (strncmp(spec, "tcp:", 4) == 0) {
        char host[64];
        const char *colon = strrchr(spec + 4, ':');
        struct sockaddr_in in = {.sin_family = AF_INET};
        if (!colon || (size_t)(colon - (spec + 4)) >= sizeof(host) || parse_port(colon + 1, &port) < 0 ||
            port > 0xffff)
            goto bad;
        memcpy(host, spec + 4, (size_t)(colon - (spec + 4)));
        host[colon - (spec + 4)] = '\0';
        if (inet_pton(AF_INET, host, &in.sin_addr) != 1)
            goto bad;
        in.sin_port = htons((uint16_t)port);
        fd = socket(AF_INET, SOCK_STREAM, 0);
        if (fd < 0 || connect(fd, (struct sockaddr *)&in, sizeof(in)) < 0)
            goto fail;
    } else if (strncmp(spec, "vsock:", 6) == 0) {
        unsigned cid;
        char cidbuf[16];
        const char *colon = strchr(spec + 6, ':');
        if (!colon || (size_t)(colon - (spec + 6)) >= sizeof(cidbuf))
            goto bad;
        memcpy(cidbuf, spec + 6, (size_t)(colon - (spec + 6)));
        cidbuf[colon - (spec + 6)] = '\0';
        if (parse_port(cidbuf, &cid) < 0 || parse_port(colon + 1, &port) < 0)
            goto bad;
        struct sockaddr_vm vm = {.svm_family = AF_VSOCK, .svm_cid = cid, .svm_port = port};
        fd = socket(AF_VSOCK, SOCK_STREAM, 0);
        if (fd < 0 || connect(fd, (struct sockaddr *)&vm, sizeof(vm)) < 0)
            goto fail;
    } else if (strncmp(spec, "hybrid:", 7) == 0) {
        char path[108];
        struct sockaddr_un sun;
        const char *colon = strrchr(spec + 7, ':');
        if (!colon || (size_t)(colon - (spec + 7)) >= sizeof(path) || parse_port(colon + 1, &port) < 0)
            goto bad;
        memcpy(path, spec + 7, (size_t)(colon - (spec + 7)));
        path[colon - (spec + 7)] = '\0';
        if (unix_addr(path, &sun) < 0)
            goto bad;
        fd = socket(AF_UNIX, SOCK_STREAM, 0);
        if (fd < 0 || connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0)
            goto fail;
        char line[LINE_MAX_LEN];
        snprintf(line, sizeof(line), "CONNECT %u\n", port);
        if (write_all(fd, line, strlen(line)) < 0)
            goto fail;
        if (read_line(fd, line, sizeof(line)) < 0 || strncmp(line, "OK ", 3) != 0) {
            if (verbose)
                fprintf(stderr, "vmm-stream: %s: no OK line after CONNECT\n", spec);
            close(fd);
            return -1;
        }
    } else {
        goto bad;
    }
    return fd;

bad:
    fprintf(stderr, "vmm-stream: bad address %s\n", spec);
    return -2;
fail:
    if (verbose)
        fprintf(stderr, "vmm-stream: connect %s: %s\n", spec, strerror(errno));
    if (fd >= 0)
        close(fd);
    return -1;
}

static int do_send(const char *spec, const char *count, unsigned timeout)
{
    char *end;
    unsigned long long want = strtoull(count, &end, 10);
    if (*count == '\0' || *end != '\0') {
        fprintf(stderr, "vmm-stream: bad byte count %s\n", count);
        return 2;
    }
    /* The listener may not be up yet: retry until a second before the alarm. */
    time_t last = time(NULL) + (timeout > 1 ? timeout - 1 : 0);
    int fd;
    for (;;) {
        int final = time(NULL) >= last;
        fd = do_connect(spec, final);
        if (fd != -1 || final)
            break;
        usleep(200 * 1000);
    }
    if (fd < 0)
        return fd == -2 ? 2 : 1;

    char line[LINE_MAX_LEN];
    snprintf(line, sizeof(line), "LEN %llu\n", want);
    if (write_all(fd, line, strlen(line)) < 0)
        goto fail;
    /* xorshift64: incompressible, different each run, no /dev/urandom needed. */
    uint64_t x = ((uint64_t)getpid() << 32) ^ (uint64_t)(uintptr_t)&x ^ 0x9e3779b97f4a7c15ULL;
    uint64_t h = FNV_INIT;
    static unsigned char buf[CHUNK];
    for (unsigned long long sent = 0; sent < want;) {
        size_t n = want - sent < CHUNK ? (size_t)(want - sent) : CHUNK;
        for (size_t i = 0; i < n; i++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            buf[i] = (unsigned char)x;
        }
        if (write_all(fd, buf, n) < 0)
            goto fail;
        h = fnv1a(h, buf, n);
        sent += n;
    }
    char expect[LINE_MAX_LEN];
    snprintf(expect, sizeof(expect), "GOT %llu %016llx", want, (unsigned long long)h);
    if (read_line(fd, line, sizeof(line)) < 0) {
        fprintf(stderr, "vmm-stream: %s: no reply after %llu bytes\n", spec, want);
        close(fd);
        return 1;
    }
    close(fd);
    int ok = strcmp(line, expect) == 0;
    printf("vmm-stream: %s sent %llu bytes, fnv %016llx, reply \"%s\"%s\n", spec, want, (unsigned long long)h,
           line, ok ? "" : " MISMATCH");
    return ok ? 0 : 1;

fail:
    fprintf(stderr, "vmm-stream: send %s: %s\n", spec, strerror(errno));
    close(fd);
    return 1;
}

static int do_hold(const char *spec)
{
    int fd = do_connect(spec, 1);
    if (fd < 0)
        return fd == -2 ? 2 : 1;
    printf("vmm-stream: %s held\n", spec);
    char buf[64];
    ssize_t n;
    do
        n = read(fd, buf, sizeof(buf));
    while (n < 0 && errno == EINTR);
    int err = errno;
    close(fd);
    printf("vmm-stream: %s ended: %s\n", spec, n < 0 ? strerror(err) : n == 0 ? "EOF" : "data");
    return n < 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
    unsigned timeout = 30;
    int i = 1;
    if (i + 1 < argc && strcmp(argv[i], "-t") == 0) {
        if (parse_port(argv[i + 1], &timeout) < 0) {
            fprintf(stderr, "vmm-stream: bad timeout %s\n", argv[i + 1]);
            return 2;
        }
        i += 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    /* A peer that never comes or stalls must not hang the guest's script. */
    alarm(timeout);
    if (argc - i == 2 && strcmp(argv[i], "listen") == 0)
        return do_listen(argv[i + 1]);
    if (argc - i == 3 && strcmp(argv[i], "send") == 0)
        return do_send(argv[i + 1], argv[i + 2], timeout);
    if (argc - i == 2 && strcmp(argv[i], "hold") == 0)
        return do_hold(argv[i + 1]);
    fprintf(stderr, "usage: vmm-stream [-t SECONDS] listen tcp:PORT|vsock:PORT|unix:PATH\n"
                    "       vmm-stream [-t SECONDS] send tcp:IP:PORT|vsock:CID:PORT|hybrid:PATH:PORT BYTES\n"
                    "       vmm-stream [-t SECONDS] hold tcp:IP:PORT|vsock:CID:PORT|hybrid:PATH:PORT\n");
    return 2;
}
