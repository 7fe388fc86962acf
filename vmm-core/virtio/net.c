/* SPDX-License-Identifier: Apache-2.0 */
#include "net.h"
#include "rate_limiter.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "tap.h"

/* Packets dropped in one go before the worker looks at other queues. */
#define RX_DROP_BUDGET 64

struct VirtioNet {
    uint16_t pairs;
    int *fds; /* one per queue pair */
    char tap_name[IFNAMSIZ];
    uint8_t mac[6];
    uint16_t mtu;
    uint64_t features; /* negotiated, at DRIVER_OK */
    uint8_t *buf;      /* VIRTIO_NET_HDR_LEN + VIRTIO_NET_MAX_FRAME; worker only */
    VirtioDeviceOps ops;
    VirtioPci *transport;
    VirtioNetCounters counters;
    RateLimiterHandle *limits; /* one per rx/tx queue, numbered as they are; NULL: unlimited */
};

static void count(uint64_t *c, uint64_t n)
{
    __atomic_fetch_add(c, n, __ATOMIC_RELAXED);
}

static bool has(uint64_t features, int bit)
{
    return features & (1ULL << bit);
}

/* ------------------------------------------------------------- tap */

static int set_nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    return fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 ? -errno : 0;
}

static int adopt_fds(VirtioNet *n, const int *fds, bool check_tap, char *errbuf, size_t errlen,
                     const char *id)
{
    for (uint16_t i = 0; i < n->pairs; i++) {
        int fd = fcntl(fds[i], F_DUPFD_CLOEXEC, 3);
        if (fd < 0) {
            snprintf(errbuf, errlen, "%s: fd %d: %s", id, fds[i], strerror(errno));
            return -errno;
        }
        n->fds[i] = fd;
        if (check_tap) {
            struct ifreq ifr;
            memset(&ifr, 0, sizeof(ifr));
            if (ioctl(fd, TUNGETIFF, &ifr) < 0 || !(ifr.ifr_flags & IFF_TAP) ||
                !(ifr.ifr_flags & IFF_VNET_HDR) || !(ifr.ifr_flags & IFF_NO_PI)) {
                snprintf(errbuf, errlen, "%s: fd %d is not a tap opened with IFF_TAP|IFF_NO_PI|IFF_VNET_HDR",
                         id, fds[i]);
                return -EINVAL;
            }
            snprintf(n->tap_name, sizeof(n->tap_name), "%.*s", IFNAMSIZ - 1, ifr.ifr_name);
        }
        int r = set_nonblock(fd);
        if (r < 0) {
            snprintf(errbuf, errlen, "%s: fd %d: %s", id, fds[i], strerror(-r));
            return r;
        }
    }
    return 0;
}

/* -------------------------------------------------------------- header */

typedef struct NetHdr {
    uint8_t flags, gso_type;
    uint16_t hdr_len, gso_size, csum_start, csum_offset, num_buffers;
} NetHdr;

/* What the guest put in a transmit header must be something it negotiated:
 * the host kernel would otherwise be asked for work the guest never agreed
 * to (and it is the one place a guest steers the host's skb setup). */
static bool tx_header_ok(const VirtioNet *n, const NetHdr *h, uint64_t frame_len)
{
    if (h->flags & ~VIRTIO_NET_HDR_F_NEEDS_CSUM)
        return false;
    if ((h->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) &&
        (!has(n->features, VIRTIO_NET_F_CSUM) || (uint32_t)h->csum_start + h->csum_offset + 2 > frame_len))
        return false;
    uint8_t gso = h->gso_type & (uint8_t)~VIRTIO_NET_HDR_GSO_ECN;
    if (gso == VIRTIO_NET_HDR_GSO_NONE)
        return !(h->gso_type & VIRTIO_NET_HDR_GSO_ECN);
    if (!(h->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) || h->gso_size == 0)
        return false;
    if ((h->gso_type & VIRTIO_NET_HDR_GSO_ECN) && !has(n->features, VIRTIO_NET_F_HOST_ECN))
        return false;
    switch (gso) {
    case VIRTIO_NET_HDR_GSO_TCPV4:
        return has(n->features, VIRTIO_NET_F_HOST_TSO4);
    case VIRTIO_NET_HDR_GSO_TCPV6:
        return has(n->features, VIRTIO_NET_F_HOST_TSO6);
    case VIRTIO_NET_HDR_GSO_UDP:
        return has(n->features, VIRTIO_NET_F_HOST_UFO);
    default:
        return false;
    }
}

/* ------------------------------------------------------------- queues */

static uint32_t transmit(VirtioNet *n, uint16_t pair, const Virtqueue *vq, const VirtqChain *c)
{
    if (c->writable_len || c->readable_len < VIRTIO_NET_HDR_LEN + 14 ||
        c->readable_len > VIRTIO_NET_HDR_LEN + VIRTIO_NET_MAX_FRAME) {
        count(&n->counters.request_errors, 1);
        return 0;
    }
    uint64_t len = c->readable_len;
    if (n->limits && !rate_limiter_handle_admit(&n->limits[2 * pair + 1], 1, len)) {
        count(&n->counters.tx_throttled, 1);
        return VIRTIO_CHAIN_DEFER;
    }
    if (virtq_chain_read(vq, c, 0, n->buf, len) != (int64_t)len) {
        count(&n->counters.request_errors, 1);
        return 0;
    }
    NetHdr h;
    memcpy(&h, n->buf, sizeof(h));
    if (!tx_header_ok(n, &h, len - VIRTIO_NET_HDR_LEN)) {
        count(&n->counters.request_errors, 1);
        return 0;
    }
    /* num_buffers means nothing on transmit; the tap need not see it. */
    memset(n->buf + 10, 0, 2);
    ssize_t w;
    do
        w = write(n->fds[pair], n->buf, len);
    while (w < 0 && errno == EINTR);
    if (w != (ssize_t)len) {
        count(&n->counters.tx_errors, 1);
        return 0;
    }
    count(&n->counters.tx_packets, 1);
    count(&n->counters.tx_bytes, len - VIRTIO_NET_HDR_LEN);
    return 0;
}

static uint32_t receive(VirtioNet *n, uint16_t pair, const Virtqueue *vq, const VirtqChain *c)
{
    if (c->readable_len || c->writable_len < VIRTIO_NET_HDR_LEN) {
        /* A buffer no packet can ever go into: hand it back empty. */
        count(&n->counters.request_errors, 1);
        return 0;
    }
    /* Only a limiter still owed for earlier packets holds this one back:
     * its size is unknown until it is read. */
    RateLimiterHandle *limit = n->limits ? &n->limits[2 * pair] : NULL;
    if (limit && !rate_limiter_handle_admit(limit, 0, 0)) {
        count(&n->counters.rx_throttled, 1);
        return VIRTIO_CHAIN_DEFER;
    }
    for (unsigned dropped = 0;;) {
        ssize_t r = read(n->fds[pair], n->buf, VIRTIO_NET_HDR_LEN + VIRTIO_NET_MAX_FRAME);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            /* EAGAIN: the tap is empty, its next packet wakes us. Another
             * error (the tap went away) is treated the same way. */
            return VIRTIO_CHAIN_DEFER;
        }
        if (r < VIRTIO_NET_HDR_LEN || (uint64_t)r > c->writable_len) {
            count(&n->counters.rx_dropped, 1);
            if (++dropped < RX_DROP_BUDGET)
                continue;
            /* Come back after the other queues had their turn. */
            virtio_pci_kick(n->transport, (uint16_t)(2 * pair));
            return VIRTIO_CHAIN_DEFER;
        }
        /* One buffer per packet (no MRG_RXBUF): num_buffers is 1. */
        n->buf[10] = 1;
        n->buf[11] = 0;
        if (virtq_chain_write(vq, c, 0, n->buf, (uint64_t)r) != r) {
            count(&n->counters.request_errors, 1);
            return 0;
        }
        if (limit)
            rate_limiter_handle_charge(limit, 1, (uint64_t)r);
        count(&n->counters.rx_packets, 1);
        count(&n->counters.rx_bytes, (uint64_t)r - VIRTIO_NET_HDR_LEN);
        return (uint32_t)r;
    }
}

/* VIRTIO_NET_CTRL_MAC_TABLE_SET: a unicast and a multicast table, each a
 * le32 count and that many 6-byte MACs, and nothing after them. */
static bool mac_table_ok(const Virtqueue *vq, const VirtqChain *c)
{
    uint64_t off = 2;
    for (int table = 0; table < 2; table++) {
        uint8_t le[4];
        if (c->readable_len - off < 4 || virtq_chain_read(vq, c, off, le, 4) != 4)
            return false;
        uint64_t entries = le[0] | (uint64_t)le[1] << 8 | (uint64_t)le[2] << 16 | (uint64_t)le[3] << 24;
        off += 4;
        if (entries > (c->readable_len - off) / 6)
            return false;
        off += entries * 6;
    }
    return off == c->readable_len;
}

static uint8_t control(VirtioNet *n, const Virtqueue *vq, const VirtqChain *c)
{
    uint8_t cmd[2 + 8];
    uint64_t len = c->readable_len < sizeof(cmd) ? c->readable_len : sizeof(cmd);
    if (len < 2 || virtq_chain_read(vq, c, 0, cmd, len) != (int64_t)len)
        return VIRTIO_NET_ERR;
    uint64_t data = c->readable_len - 2;
    switch (cmd[0]) {
    case VIRTIO_NET_CTRL_RX:
        /* PROMISC, ALLMULTI (1-byte on/off): the tap hands us everything
         * anyway, so any setting is honoured by not filtering. */
        return cmd[1] <= 1 && data == 1 && cmd[2] <= 1 ? VIRTIO_NET_OK : VIRTIO_NET_ERR;
    case VIRTIO_NET_CTRL_MAC:
        /* The MAC filter table belongs to CTRL_RX (virtio 1.2, 5.1.6.5.2),
         * and Linux sets it on every rx-mode change; like PROMISC it is
         * honoured by not filtering, so only its shape is checked. Setting
         * the device MAC needs CTRL_MAC_ADDR, which is not offered. */
        return cmd[1] == VIRTIO_NET_CTRL_MAC_TABLE_SET && mac_table_ok(vq, c) ? VIRTIO_NET_OK : VIRTIO_NET_ERR;
    case VIRTIO_NET_CTRL_MQ:
        if (cmd[1] == VIRTIO_NET_CTRL_MQ_PAIRS_SET && data == 2 && has(n->features, VIRTIO_NET_F_MQ)) {
            uint16_t want = (uint16_t)(cmd[2] | cmd[3] << 8);
            return want >= 1 && want <= n->pairs ? VIRTIO_NET_OK : VIRTIO_NET_ERR;
        }
        return VIRTIO_NET_ERR;
    default:
        return VIRTIO_NET_ERR; /* not offered: VLANs, announcements, offload changes */
    }
}

uint32_t virtio_net_handle_request(VirtioNet *n, uint16_t q, const Virtqueue *vq, const VirtqChain *c)
{
    if (q < 2 * n->pairs)
        return q & 1 ? transmit(n, q / 2, vq, c) : receive(n, q / 2, vq, c);
    if (q != 2 * n->pairs || c->writable_len < 1) {
        count(&n->counters.request_errors, 1);
        return 0;
    }
    uint8_t ack = control(n, vq, c);
    count(&n->counters.ctrl_ops, 1);
    if (ack != VIRTIO_NET_OK)
        count(&n->counters.request_errors, 1);
    return virtq_chain_write(vq, c, 0, &ack, 1) == 1 ? 1 : 0;
}

static uint32_t net_handle(void *dev, uint16_t q, const Virtqueue *vq, const VirtqChain *c)
{
    return virtio_net_handle_request(dev, q, vq, c);
}

void virtio_net_activate(VirtioNet *n, uint64_t features)
{
    n->features = features;
    /* What the tap may give us is what the guest can take. */
    unsigned off = 0;
    if (has(features, VIRTIO_NET_F_GUEST_CSUM)) {
        off |= TUN_F_CSUM;
        if (has(features, VIRTIO_NET_F_GUEST_TSO4))
            off |= TUN_F_TSO4;
        if (has(features, VIRTIO_NET_F_GUEST_TSO6))
            off |= TUN_F_TSO6;
        if ((off & (TUN_F_TSO4 | TUN_F_TSO6)) && has(features, VIRTIO_NET_F_GUEST_ECN))
            off |= TUN_F_TSO_ECN;
        if (has(features, VIRTIO_NET_F_GUEST_UFO))
            off |= TUN_F_UFO;
    }
    for (uint16_t i = 0; i < n->pairs; i++)
        if (ioctl(n->fds[i], TUNSETOFFLOAD, off) < 0 && off)
            ioctl(n->fds[i], TUNSETOFFLOAD, 0); /* a refused set: plain frames only */
}

static void net_activate(void *dev, uint64_t features)
{
    virtio_net_activate(dev, features);
}

/* A limiter's timer expired: its queue may go on. */
static void net_host_event(void *dev)
{
    VirtioNet *n = dev;
    for (uint16_t q = 0; q < 2 * n->pairs; q++)
        if (rate_limiter_handle_expired(&n->limits[q]))
            virtio_pci_kick(n->transport, q);
}

/* Each rx and tx queue gets buckets of its own, as in Cloud Hypervisor. */
static int create_limits(VirtioNet *n, const RateLimiterConfig *cfg, char *errbuf, size_t errlen,
                         const char *id)
{
    uint16_t nq = (uint16_t)(2 * n->pairs);
    n->limits = calloc(nq, sizeof(*n->limits));
    if (!n->limits) {
        snprintf(errbuf, errlen, "%s: out of memory", id);
        return -ENOMEM;
    }
    for (uint16_t q = 0; q < nq; q++)
        n->limits[q].timer_fd = -1;
    for (uint16_t q = 0; q < nq; q++) {
        RateLimiter *l = rate_limiter_new(cfg);
        int r = l ? rate_limiter_handle_init(&n->limits[q], l) : -ENOMEM;
        rate_limiter_unref(l);
        if (r < 0) {
            snprintf(errbuf, errlen, "%s: rate limiter: %s", id, strerror(-r));
            return r;
        }
    }
    return 0;
}

static void net_reset(void *dev)
{
    VirtioNet *n = dev;
    n->features = 0;
}

static void net_config_read(void *dev, uint32_t offset, uint8_t *data, uint32_t len)
{
    VirtioNet *n = dev;
    uint8_t cfg[VIRTIO_NET_CONFIG_SIZE];
    memcpy(cfg, n->mac, 6);
    cfg[6] = 1; /* VIRTIO_NET_S_LINK_UP */
    cfg[7] = 0;
    cfg[8] = (uint8_t)n->pairs;
    cfg[9] = (uint8_t)(n->pairs >> 8);
    cfg[10] = (uint8_t)n->mtu;
    cfg[11] = (uint8_t)(n->mtu >> 8);
    if (offset < sizeof(cfg))
        memcpy(data, cfg + offset, len <= sizeof(cfg) - offset ? len : sizeof(cfg) - offset);
}

/* ----------------------------------------------------------- lifetime */

VirtioNet *virtio_net_new(const NetConfig *cfg, const char *id, const VirtioPciConfig *transport,
                          const int *tap_fds, char *errbuf, size_t errlen)
{
    if (cfg->num_queues < 2 || cfg->num_queues > VIRTIO_PCI_MAX_QUEUES - 1) {
        snprintf(errbuf, errlen, "%s: num_queues must be 2-%d", id, VIRTIO_PCI_MAX_QUEUES - 1);
        return NULL;
    }
    if (cfg->vhost_user) {
        snprintf(errbuf, errlen, "%s: vhost-user is not supported", id);
        return NULL;
    }
    VirtioNet *n = calloc(1, sizeof(*n));
    if (!n) {
        snprintf(errbuf, errlen, "%s: out of memory", id);
        return NULL;
    }
    n->pairs = (uint16_t)(cfg->num_queues / 2);
    n->fds = malloc(n->pairs * sizeof(int));
    n->buf = malloc(VIRTIO_NET_HDR_LEN + VIRTIO_NET_MAX_FRAME);
    if (!n->fds || !n->buf) {
        snprintf(errbuf, errlen, "%s: out of memory", id);
        free(n->fds);
        free(n->buf);
        free(n);
        return NULL;
    }
    for (uint16_t i = 0; i < n->pairs; i++)
        n->fds[i] = -1;
    memcpy(n->mac, cfg->mac.bytes, 6);
    n->mtu = cfg->mtu.present ? cfg->mtu.value : 1500;

    int r;
    if (tap_fds)
        r = adopt_fds(n, tap_fds, false, errbuf, errlen, id);
    else if (cfg->n_fds)
        r = cfg->n_fds == n->pairs ? adopt_fds(n, cfg->fds, true, errbuf, errlen, id) : -EINVAL;
    else {
        r = tap_open(cfg->tap, n->pairs, n->fds, n->tap_name, errbuf, errlen, id);
        if (r == 0)
            r = tap_configure_host(n->tap_name, cfg, errbuf, errlen, id);
    }
    if (r == 0 && !tap_fds) {
        int hdr = VIRTIO_NET_HDR_LEN;
        for (uint16_t i = 0; i < n->pairs && r == 0; i++)
            if (ioctl(n->fds[i], TUNSETVNETHDRSZ, &hdr) < 0) {
                r = -errno;
                snprintf(errbuf, errlen, "%s: tap %s: TUNSETVNETHDRSZ: %s", id, n->tap_name, strerror(errno));
            }
    }
    if (r < 0) {
        if (r == -EINVAL && cfg->n_fds && cfg->n_fds != n->pairs)
            snprintf(errbuf, errlen, "%s: %zu fds for %u queue pairs", id, cfg->n_fds, n->pairs);
        virtio_net_free(n);
        return NULL;
    }

    uint64_t f = 1ULL << VIRTIO_NET_F_MAC | 1ULL << VIRTIO_NET_F_STATUS | 1ULL << VIRTIO_NET_F_CTRL_VQ |
                 1ULL << VIRTIO_NET_F_CTRL_RX;
    if (cfg->mtu.present)
        f |= 1ULL << VIRTIO_NET_F_MTU;
    if (n->pairs > 1)
        f |= 1ULL << VIRTIO_NET_F_MQ;
    /* TSO and UFO depend on checksum offload (virtio 1.2, 5.1.3.1). */
    if (cfg->offload_csum) {
        f |= 1ULL << VIRTIO_NET_F_CSUM | 1ULL << VIRTIO_NET_F_GUEST_CSUM;
        if (cfg->offload_tso)
            f |= 1ULL << VIRTIO_NET_F_HOST_TSO4 | 1ULL << VIRTIO_NET_F_HOST_TSO6 |
                 1ULL << VIRTIO_NET_F_HOST_ECN | 1ULL << VIRTIO_NET_F_GUEST_TSO4 |
                 1ULL << VIRTIO_NET_F_GUEST_TSO6 | 1ULL << VIRTIO_NET_F_GUEST_ECN;
        if (cfg->offload_ufo)
            f |= 1ULL << VIRTIO_NET_F_HOST_UFO | 1ULL << VIRTIO_NET_F_GUEST_UFO;
    }
    if (cfg->has_rate_limiter_config && rate_limiter_config_enabled(&cfg->rate_limiter_config) &&
        create_limits(n, &cfg->rate_limiter_config, errbuf, errlen, id) < 0) {
        virtio_net_free(n);
        return NULL;
    }
    n->ops = (VirtioDeviceOps){
        .type = VIRTIO_ID_NET,
        .pci_class = 0x020000, /* Ethernet controller */
        .features = f,
        .config_size = VIRTIO_NET_CONFIG_SIZE,
        .config_read = net_config_read,
        .handle = net_handle,
        .reset = net_reset,
        .activate = net_activate,
        .host_event = n->limits ? net_host_event : NULL,
    };
    if (transport) {
        VirtioPciConfig tc = *transport;
        tc.id = id;
        tc.num_queues = (uint16_t)(2 * n->pairs + 1);
        tc.queue_size = cfg->queue_size;
        n->transport = virtio_pci_new(&n->ops, n, &tc, errbuf, errlen);
        if (!n->transport) {
            virtio_net_free(n);
            return NULL;
        }
        for (uint16_t i = 0; i < n->pairs; i++)
            if ((r = virtio_pci_watch_fd(n->transport, n->fds[i], (uint16_t)(2 * i))) < 0) {
                snprintf(errbuf, errlen, "%s: epoll: %s", id, strerror(-r));
                virtio_net_free(n);
                return NULL;
            }
        for (uint16_t q = 0; n->limits && q < 2 * n->pairs; q++)
            if ((r = virtio_pci_watch_host(n->transport, n->limits[q].timer_fd)) < 0) {
                snprintf(errbuf, errlen, "%s: epoll: %s", id, strerror(-r));
                virtio_net_free(n);
                return NULL;
            }
    }
    return n;
}

int virtio_net_attach(VirtioNet *n, PciBus *bus, char *errbuf, size_t errlen)
{
    return virtio_pci_attach(n->transport, bus, errbuf, errlen);
}

void virtio_net_free(VirtioNet *n)
{
    if (!n)
        return;
    virtio_pci_free(n->transport); /* the worker stops before the fds close */
    for (uint16_t i = 0; n->fds && i < n->pairs; i++)
        if (n->fds[i] >= 0)
            close(n->fds[i]);
    for (uint16_t q = 0; n->limits && q < 2 * n->pairs; q++)
        rate_limiter_handle_destroy(&n->limits[q]);
    free(n->limits);
    free(n->fds);
    free(n->buf);
    free(n);
}

VirtioPci *virtio_net_transport(VirtioNet *n)
{
    return n->transport;
}

const char *virtio_net_tap_name(const VirtioNet *n)
{
    return n->tap_name;
}

void virtio_net_get_counters(const VirtioNet *n, VirtioNetCounters *out)
{
    out->rx_packets = __atomic_load_n(&n->counters.rx_packets, __ATOMIC_RELAXED);
    out->rx_bytes = __atomic_load_n(&n->counters.rx_bytes, __ATOMIC_RELAXED);
    out->rx_dropped = __atomic_load_n(&n->counters.rx_dropped, __ATOMIC_RELAXED);
    out->tx_packets = __atomic_load_n(&n->counters.tx_packets, __ATOMIC_RELAXED);
    out->tx_bytes = __atomic_load_n(&n->counters.tx_bytes, __ATOMIC_RELAXED);
    out->tx_errors = __atomic_load_n(&n->counters.tx_errors, __ATOMIC_RELAXED);
    out->ctrl_ops = __atomic_load_n(&n->counters.ctrl_ops, __ATOMIC_RELAXED);
    out->request_errors = __atomic_load_n(&n->counters.request_errors, __ATOMIC_RELAXED);
    out->rx_throttled = __atomic_load_n(&n->counters.rx_throttled, __ATOMIC_RELAXED);
    out->tx_throttled = __atomic_load_n(&n->counters.tx_throttled, __ATOMIC_RELAXED);
}
