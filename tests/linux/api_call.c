/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vmm-api-call: one request to a vmm API socket (docs/api.md), for places
 * without Python - the L1 guest of the `linux` suite. Linked statically so it
 * runs in any initramfs.
 *
 *   vmm-api-call [-t SECONDS] SOCKET ACTION [ARGS-JSON]
 *
 * Sends {"id":1,"action":ACTION[,"args":ARGS-JSON]} and a newline, prints the
 * reply line. Waits (up to the timeout, default 30 s) for the socket to
 * appear and accept. Exit: 0 when the reply has a "result" and no "error",
 * 1 when it has an error or is not a reply, 2 on usage, 3 on timeout or
 * connection failure.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "helper_io.h"

#define REPLY_MAX (64 * 1024)

/* Reads one newline-terminated reply (or everything until EOF). */
static int read_reply(int fd, char *buf, size_t cap, long long deadline)
{
    size_t len = 0;
    while (len + 1 < cap) {
        long long left = deadline - now_ms();
        if (left <= 0)
            return -ETIMEDOUT;
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int r = poll(&p, 1, (int)left);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return r < 0 ? -errno : -ETIMEDOUT;
        ssize_t got = read(fd, buf + len, cap - 1 - len);
        if (got < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (got == 0)
            break;
        len += (size_t)got;
        buf[len] = '\0';
        char *nl = memchr(buf, '\n', len);
        if (nl) {
            *nl = '\0';
            return 0;
        }
    }
    buf[len] = '\0';
    return len > 0 ? 0 : -EPIPE;
}

static void usage(void)
{
    fprintf(stderr, "usage: vmm-api-call [-t SECONDS] SOCKET ACTION [ARGS-JSON]\n");
}

int main(int argc, char **argv)
{
    long timeout_s = 30;
    int opt;
    while ((opt = getopt(argc, argv, "t:")) != -1) {
        if (opt == 't') {
            timeout_s = strtol(optarg, NULL, 10);
        } else {
            usage();
            return 2;
        }
    }
    if (argc - optind < 2 || argc - optind > 3 || timeout_s <= 0) {
        usage();
        return 2;
    }
    const char *path = argv[optind];
    const char *action = argv[optind + 1];
    const char *args = argc - optind == 3 ? argv[optind + 2] : NULL;

    /* The action names are ours and plain (letters, dots, dashes): refuse
     * anything that would need JSON escaping rather than escape it. */
    for (const char *c = action; *c; c++) {
        if (*c == '"' || *c == '\\' || (unsigned char)*c < 0x20) {
            fprintf(stderr, "vmm-api-call: bad action name\n");
            return 2;
        }
    }

    long long deadline = now_ms() + timeout_s * 1000;
    int fd = connect_until("vmm-api-call", path, deadline);
    if (fd < 0)
        return 3;

    size_t reqlen = strlen(action) + (args ? strlen(args) : 0) + 64;
    char *req = malloc(reqlen);
    if (!req)
        return 1;
    if (args)
        snprintf(req, reqlen, "{\"id\":1,\"action\":\"%s\",\"args\":%s}\n", action, args);
    else
        snprintf(req, reqlen, "{\"id\":1,\"action\":\"%s\"}\n", action);
    if (write_all(fd, req, strlen(req)) < 0) {
        perror("vmm-api-call: write");
        free(req);
        close(fd);
        return 3;
    }
    free(req);

    static char reply[REPLY_MAX];
    int r = read_reply(fd, reply, sizeof(reply), deadline);
    close(fd);
    if (r < 0) {
        fprintf(stderr, "vmm-api-call: no reply: %s\n", strerror(-r));
        return 3;
    }
    printf("%s\n", reply);
    fflush(stdout);
    /* A reply carries exactly one of "result" and "error" at its top level;
     * neither key can appear inside a result of the actions this tool sends. */
    if (strstr(reply, "\"error\"") || !strstr(reply, "\"result\""))
        return 1;
    return 0;
}
