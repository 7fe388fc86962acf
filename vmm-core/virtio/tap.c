/* SPDX-License-Identifier: Apache-2.0 */
#include "tap.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if_arp.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

int tap_open(const char *name, uint16_t pairs, int *fds, char ifname[IFNAMSIZ], char *errbuf, size_t errlen,
             const char *id)
{
    int r;
    for (uint16_t i = 0; i < pairs; i++)
        fds[i] = -1;
    for (uint16_t i = 0; i < pairs; i++) {
        int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
        if (fd < 0) {
            r = -errno;
            snprintf(errbuf, errlen, "%s: cannot open /dev/net/tun: %s", id, strerror(-r));
            goto fail;
        }
        struct ifreq ifr;
        memset(&ifr, 0, sizeof(ifr));
        /* The first open names (or creates) the device; the others attach
         * further queues to the same one. */
        snprintf(ifr.ifr_name, IFNAMSIZ, "%s", i ? ifname : name ? name : "");
        ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR | (pairs > 1 ? IFF_MULTI_QUEUE : 0);
        if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
            r = -errno;
            close(fd);
            snprintf(errbuf, errlen, "%s: cannot open tap %s: %s%s", id, name && *name ? name : "(new)",
                     strerror(-r),
                     r == -EINVAL ? " (exists with other flags, e.g. without multi_queue?)" : "");
            goto fail;
        }
        snprintf(ifname, IFNAMSIZ, "%.*s", IFNAMSIZ - 1, ifr.ifr_name);
        fds[i] = fd;
    }
    return 0;

fail:
    for (uint16_t i = 0; i < pairs; i++) {
        if (fds[i] >= 0)
            close(fds[i]);
        fds[i] = -1;
    }
    return r;
}

static int if_ioctl(int sock, unsigned long req, struct ifreq *ifr, const char *what, char *errbuf,
                    size_t errlen, const char *id)
{
    if (ioctl(sock, req, ifr) == 0)
        return 0;
    int e = errno;
    snprintf(errbuf, errlen, "%s: tap %s: cannot set %s: %s", id, ifr->ifr_name, what, strerror(e));
    return -e;
}

int tap_configure_host(const char *ifname, const NetConfig *cfg, char *errbuf, size_t errlen, const char *id)
{
    int sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (sock < 0) {
        snprintf(errbuf, errlen, "%s: socket: %s", id, strerror(errno));
        return -errno;
    }
    int r = 0;
    struct ifreq ifr;
    memset(&ifr, 0, sizeof(ifr));
    snprintf(ifr.ifr_name, IFNAMSIZ, "%s", ifname);
    if (cfg->ip) {
        struct sockaddr_in *sin = (struct sockaddr_in *)&ifr.ifr_addr;
        sin->sin_family = AF_INET;
        sin->sin_addr.s_addr = htonl(cfg->ip);
        if ((r = if_ioctl(sock, SIOCSIFADDR, &ifr, "ip", errbuf, errlen, id)) < 0)
            goto out;
        sin->sin_addr.s_addr = htonl(cfg->mask);
        if ((r = if_ioctl(sock, SIOCSIFNETMASK, &ifr, "mask", errbuf, errlen, id)) < 0)
            goto out;
    }
    if (cfg->has_host_mac) {
        memset(&ifr.ifr_hwaddr, 0, sizeof(ifr.ifr_hwaddr));
        ifr.ifr_hwaddr.sa_family = ARPHRD_ETHER;
        memcpy(ifr.ifr_hwaddr.sa_data, cfg->host_mac.bytes, 6);
        if ((r = if_ioctl(sock, SIOCSIFHWADDR, &ifr, "host_mac", errbuf, errlen, id)) < 0)
            goto out;
    }
    if (cfg->mtu.present) {
        ifr.ifr_mtu = cfg->mtu.value;
        if ((r = if_ioctl(sock, SIOCSIFMTU, &ifr, "mtu", errbuf, errlen, id)) < 0)
            goto out;
    }
    if ((r = if_ioctl(sock, SIOCGIFFLAGS, &ifr, "flags", errbuf, errlen, id)) < 0)
        goto out;
    ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
    r = if_ioctl(sock, SIOCSIFFLAGS, &ifr, "up", errbuf, errlen, id);
out:
    close(sock);
    return r;
}
