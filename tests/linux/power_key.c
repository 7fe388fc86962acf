/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vmm-power-key: runs inside the L2 guest of the `linux` suite. Waits until an
 * input device reports a KEY_POWER press and exits 0, so the guest's /init can
 * power off in an orderly way. No acpid is needed: the kernel's ACPI button
 * driver (button.ko) turns the fixed-feature power button event into
 * KEY_POWER on its "Power Button" input device, which evdev exposes as
 * /dev/input/eventN.
 *
 * Prints "VMM-L2-WAITING power-button devices=..." once it listens, so the
 * outside knows when pressing the button can be seen.
 *
 * Exit: 0 on a press, 2 when no device can report KEY_POWER, 3 on timeout
 * (argv[1], seconds, default 120), 1 on any other error.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/input.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "helper_io.h"

#define MAX_DEVICES 32
#define BITS_PER_LONG_ (sizeof(unsigned long) * 8)

typedef struct {
    int fd;
    char name[128];
} InputDevice;

static int test_bit(const unsigned long *bits, unsigned int bit)
{
    return (bits[bit / BITS_PER_LONG_] >> (bit % BITS_PER_LONG_)) & 1UL;
}

static int device_has_power_key(int fd)
{
    unsigned long keys[KEY_MAX / (sizeof(unsigned long) * 8) + 1];
    memset(keys, 0, sizeof(keys));
    if (ioctl(fd, EVIOCGBIT(EV_KEY, sizeof(keys)), keys) < 0)
        return 0;
    return test_bit(keys, KEY_POWER);
}

static int open_power_devices(InputDevice *devs, int max)
{
    DIR *dir = opendir("/dev/input");
    if (!dir) {
        fprintf(stderr, "vmm-power-key: /dev/input: %s\n", strerror(errno));
        return 0;
    }
    int n = 0;
    struct dirent *de;
    while ((de = readdir(dir)) != NULL && n < max) {
        if (strncmp(de->d_name, "event", 5) != 0)
            continue;
        char path[PATH_MAX];
        snprintf(path, sizeof(path), "/dev/input/%s", de->d_name);
        int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
        if (fd < 0)
            continue;
        if (!device_has_power_key(fd)) {
            close(fd);
            continue;
        }
        devs[n].fd = fd;
        memset(devs[n].name, 0, sizeof(devs[n].name));
        if (ioctl(fd, EVIOCGNAME(sizeof(devs[n].name) - 1), devs[n].name) < 0)
            snprintf(devs[n].name, sizeof(devs[n].name), "%.16s", de->d_name);
        n++;
    }
    closedir(dir);
    return n;
}

int main(int argc, char **argv)
{
    long timeout_s = argc > 1 ? strtol(argv[1], NULL, 10) : 120;
    if (timeout_s <= 0)
        timeout_s = 120;

    InputDevice devs[MAX_DEVICES];
    int n = open_power_devices(devs, MAX_DEVICES);
    if (n == 0) {
        printf("VMM-L2-FAIL no input device reports KEY_POWER\n");
        fflush(stdout);
        return 2;
    }

    printf("VMM-L2-WAITING power-button devices=");
    for (int i = 0; i < n; i++)
        printf("%s\"%s\"", i ? "," : "", devs[i].name);
    printf("\n");
    fflush(stdout);

    struct pollfd pfds[MAX_DEVICES];
    for (int i = 0; i < n; i++)
        pfds[i] = (struct pollfd){.fd = devs[i].fd, .events = POLLIN};

    long long deadline = now_ms() + timeout_s * 1000;
    for (;;) {
        long long left = deadline - now_ms();
        if (left <= 0) {
            printf("VMM-L2-FAIL no power button press within %ld s\n", timeout_s);
            fflush(stdout);
            return 3;
        }
        int r = poll(pfds, (nfds_t)n, (int)(left > 1000 ? 1000 : left));
        if (r < 0) {
            if (errno == EINTR)
                continue;
            perror("vmm-power-key: poll");
            return 1;
        }
        for (int i = 0; i < n; i++) {
            if (!(pfds[i].revents & POLLIN))
                continue;
            struct input_event ev[16];
            ssize_t got = read(pfds[i].fd, ev, sizeof(ev));
            for (ssize_t k = 0; got > 0 && k < got / (ssize_t)sizeof(ev[0]); k++) {
                if (ev[k].type == EV_KEY && ev[k].code == KEY_POWER && ev[k].value == 1) {
                    printf("VMM-L2-POWER-BUTTON device=\"%s\"\n", devs[i].name);
                    fflush(stdout);
                    return 0;
                }
            }
        }
    }
}
