/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vmm-chat: one question and its answer over a vmm's console socket
 * (`--console socket=PATH`), for the `linux` suite's snapshot case inside L1,
 * which has no socat. Linked statically so it runs in any initramfs.
 *
 *   vmm-chat [-t SECONDS] SOCKET LINE PREFIX
 *
 * Connects to SOCKET (waiting for it to appear and accept), writes LINE and a
 * newline, then reads lines until one starts with PREFIX and prints it.
 * Other lines (the guest tty's echo of LINE, earlier output) are skipped.
 * Exit: 0 with the answer printed, 2 on usage, 3 on timeout or a closed or
 * failed connection.
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

#define LINE_CAP 4096

int main(int argc, char **argv)
{
    int timeout_s = 30;
    int opt;
    while ((opt = getopt(argc, argv, "t:")) != -1) {
        if (opt != 't')
            goto usage;
        timeout_s = atoi(optarg);
    }
    if (argc - optind != 3 || timeout_s <= 0)
        goto usage;
    const char *path = argv[optind], *question = argv[optind + 1], *prefix = argv[optind + 2];
    long long deadline = now_ms() + (long long)timeout_s * 1000;

    int fd = connect_until("vmm-chat", path, deadline);
    if (fd < 0)
        return 3;
    size_t qlen = strlen(question);
    char *msg = malloc(qlen + 2);
    if (!msg)
        return 3;
    memcpy(msg, question, qlen);
    msg[qlen] = '\n';
    if (send(fd, msg, qlen + 1, MSG_NOSIGNAL) != (ssize_t)(qlen + 1)) {
        perror("vmm-chat: send");
        return 3;
    }
    free(msg);

    char line[LINE_CAP];
    size_t n = 0;
    for (;;) {
        long long left = deadline - now_ms();
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int ready = left > 0 ? poll(&p, 1, (int)left) : 0;
        if (ready < 0 && errno == EINTR)
            continue;
        if (ready <= 0) {
            line[n] = '\0';
            fprintf(stderr, "vmm-chat: no '%s' answer within %d s (partial line '%s')\n", prefix,
                    timeout_s, line);
            return 3;
        }
        char c;
        ssize_t r = read(fd, &c, 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            fprintf(stderr, "vmm-chat: connection closed before the '%s' answer\n", prefix);
            return 3;
        }
        /* The guest tty turns "\n" into "\r\n". */
        if (c == '\r')
            continue;
        if (c != '\n') {
            if (n + 1 < sizeof(line))
                line[n++] = c;
            continue;
        }
        line[n] = '\0';
        n = 0;
        if (strncmp(line, prefix, strlen(prefix)) == 0) {
            printf("%s\n", line);
            return 0;
        }
    }

usage:
    fprintf(stderr, "usage: vmm-chat [-t SECONDS] SOCKET LINE PREFIX\n");
    return 2;
}
