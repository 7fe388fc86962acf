/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Tests of the multi-queue virtio devices: test=console (more to come).
 * The runner (run_guest.py) drives the host side of each device and checks
 * vm.counters; the payload prints READY lines on COM1 at the points where
 * the host has to act.
 */
#include "io.h"
#include "payload.h"
#include "virtio.h"

#define F_VERSION_1 (1ULL << 32)

/* Waits long enough for the host to act (the runner's deadline bounds it). */
static bool wait_used_long(struct vdev *q, uint32_t *len)
{
    for (unsigned i = 0; i < 20; i++)
        if (vdev_wait_used(q, len))
            return true;
    return false;
}

/* ------------------------------------------------------------ console */

static char con_rx[64] __attribute__((aligned(64)));
static char con_tx[2][128] __attribute__((aligned(64)));
static char con_line[128];

static bool console_send(struct vdev *tx, const char *a, const char *b)
{
    /* Two buffers in one chain: the device must join them in order. */
    unsigned la = (unsigned)strlen(a), lb = (unsigned)strlen(b);
    memcpy(con_tx[0], a, la);
    memcpy(con_tx[1], b, lb);
    tx->desc[0] = (struct vring_desc){(uint64_t)(uintptr_t)con_tx[0], la, VIRTQ_DESC_F_NEXT, 1};
    tx->desc[1] = (struct vring_desc){(uint64_t)(uintptr_t)con_tx[1], lb, 0, 0};
    vdev_submit(tx, 0);
    uint32_t used = 99;
    bool ok = vdev_wait_used(tx, &used);
    check(ok && used == 0, "console transmit: used %u (wanted 0)", used);
    return ok;
}

static void post_rx(struct vdev *rx)
{
    rx->desc[0] = (struct vring_desc){(uint64_t)(uintptr_t)con_rx, sizeof(con_rx), VIRTQ_DESC_F_WRITE, 0};
    vdev_submit(rx, 0);
}

static void test_console(void)
{
    struct vdev d, q[2];
    if (!vdev_find(&d, VIRTIO_DEV_CONSOLE)) {
        fail("no virtio-console");
        return;
    }
    if (!vdev_init_queues(&d, F_VERSION_1, q, 2))
        return;
    struct vdev *rx = &q[0], *tx = &q[1];
    /* A receive buffer waits before there is any input: the device holds it. */
    post_rx(rx);
    if (!console_send(tx, "CONSOLE-OUT hello ", "from virtio-console\n"))
        return;
    print("READY console\n");

    /* The host sends one line, maybe in pieces; echo it back. */
    unsigned n = 0;
    while (n < sizeof(con_line) - 1) {
        uint32_t len = 0;
        if (!wait_used_long(rx, &len)) {
            fail("console: no input from the host (got %u bytes)", n);
            return;
        }
        check(len > 0 && len <= sizeof(con_rx), "console receive: used length %u", len);
        bool nl = false;
        for (uint32_t i = 0; i < len && n < sizeof(con_line) - 1; i++) {
            con_line[n++] = con_rx[i];
            nl |= con_rx[i] == '\n';
        }
        if (nl)
            break;
        post_rx(rx);
    }
    con_line[n] = '\0';
    print("INFO console received %u bytes\n", n);
    console_send(tx, "ECHO ", con_line);

    /* Wrong-direction chains are answered and counted, the device runs on. */
    tx->desc[0] = (struct vring_desc){(uint64_t)(uintptr_t)con_tx[0], 16, VIRTQ_DESC_F_WRITE, 0};
    vdev_submit(tx, 0);
    uint32_t used = 0;
    check(vdev_wait_used(tx, &used) && used == 0, "console: writable transmit chain not completed");
    check(!(vdev_status(&d) & VIRTIO_STATUS_NEEDS_RESET), "console: NEEDS_RESET after a request error");
    console_send(tx, "CONSOLE-END", "\n");
    /* The runner reads vm.counters now, then sends one more byte to finish. */
    post_rx(rx);
    uint32_t len = 0;
    check(wait_used_long(rx, &len) && len >= 1, "console: no final input");
    vdev_reset(&d);
}

/* ---------------------------------------------------------------- net */

#define NET_F_MTU     (1ULL << 3)
#define NET_F_MAC     (1ULL << 5)
#define NET_F_STATUS  (1ULL << 16)
#define NET_F_CTRL_VQ (1ULL << 17)
#define NET_F_CTRL_RX (1ULL << 18)
#define NET_HDR       12
#define NET_ETHERTYPE 0x88b5 /* IEEE local experimental: nobody else sends it */

static uint8_t net_rx[2048] __attribute__((aligned(64)));
static uint8_t net_tx[128] __attribute__((aligned(64)));
static uint8_t net_ctrl[16] __attribute__((aligned(16)));
static volatile uint8_t net_ack;

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static bool parse_mac(const char *s, uint8_t mac[6])
{
    for (unsigned i = 0; i < 6; i++) {
        int hi = hexval(s[3 * i]), lo = hexval(s[3 * i + 1]);
        if (hi < 0 || lo < 0 || (i < 5 && s[3 * i + 2] != ':'))
            return false;
        mac[i] = (uint8_t)(hi << 4 | lo);
    }
    return true;
}

/* One control command; returns the ack byte (0xee: no answer). */
static uint8_t net_command(struct vdev *ctrl, uint8_t cls, uint8_t cmd, uint8_t data)
{
    net_ctrl[0] = cls;
    net_ctrl[1] = cmd;
    net_ctrl[2] = data;
    net_ack = 0xee;
    ctrl->desc[0] = (struct vring_desc){(uint64_t)(uintptr_t)net_ctrl, 3, VIRTQ_DESC_F_NEXT, 1};
    ctrl->desc[1] = (struct vring_desc){(uint64_t)(uintptr_t)&net_ack, 1, VIRTQ_DESC_F_WRITE, 0};
    vdev_submit(ctrl, 0);
    uint32_t used = 0;
    if (!vdev_wait_used(ctrl, &used) || used != 1)
        return 0xee;
    return net_ack;
}

static bool net_send(struct vdev *tx, const uint8_t *frame, uint32_t len)
{
    tx->desc[0] = (struct vring_desc){(uint64_t)(uintptr_t)frame, len, 0, 0};
    vdev_submit(tx, 0);
    uint32_t used = 99;
    return vdev_wait_used(tx, &used) && used == 0;
}

static void net_post_rx(struct vdev *rx)
{
    rx->desc[0] = (struct vring_desc){(uint64_t)(uintptr_t)net_rx, sizeof(net_rx), VIRTQ_DESC_F_WRITE, 0};
    vdev_submit(rx, 0);
}

static void test_net(void)
{
    struct vdev d, q[3];
    uint8_t want_mac[6], mac[6];
    char arg[32];
    if (!cmdline_get("mac", arg, sizeof(arg)) || !parse_mac(arg, want_mac)) {
        fail("net: mac= missing on the command line");
        return;
    }
    if (!vdev_find(&d, VIRTIO_DEV_NET)) {
        fail("no virtio-net");
        return;
    }
    uint64_t offered = vdev_device_features(&d);
    check((offered & (NET_F_MAC | NET_F_STATUS | NET_F_CTRL_VQ | NET_F_MTU)) ==
              (NET_F_MAC | NET_F_STATUS | NET_F_CTRL_VQ | NET_F_MTU),
          "net features 0x%lx lack MAC/STATUS/CTRL_VQ/MTU", offered);
    if (!vdev_init_queues(
            &d, F_VERSION_1 | NET_F_MAC | NET_F_STATUS | NET_F_CTRL_VQ | NET_F_CTRL_RX | NET_F_MTU, q, 3))
        return;
    uint64_t cfg = d.bar + d.device;
    for (unsigned i = 0; i < 6; i++)
        mac[i] = mmio_read8(cfg + i);
    check(!memcmp(mac, want_mac, 6), "net: config MAC %x:%x:%x:%x:%x:%x", mac[0], mac[1], mac[2], mac[3],
          mac[4], mac[5]);
    check(mmio_read16(cfg + 6) == 1, "net: link not up");
    check(mmio_read16(cfg + 8) == 1, "net: max_virtqueue_pairs %u", mmio_read16(cfg + 8));
    check(mmio_read16(cfg + 10) == cmdline_get_u64("mtu", 0), "net: mtu %u", mmio_read16(cfg + 10));
    struct vdev *rx = &q[0], *tx = &q[1], *ctrl = &q[2];
    check(net_command(ctrl, 0, 0, 1) == 0, "net: RX_PROMISC on not acknowledged");
    check(net_command(ctrl, 99, 0, 0) == 1, "net: unknown control class not refused");

    /* Host -> guest: skip whatever else the host stack sends on the tap. */
    net_post_rx(rx);
    print("READY net-rx\n");
    bool got = false;
    for (unsigned k = 0; k < 64 && !got; k++) {
        uint32_t len = 0;
        if (!wait_used_long(rx, &len)) {
            fail("net: no frame from the host");
            return;
        }
        const uint8_t *f = net_rx + NET_HDR;
        got = len >= NET_HDR + 14 + 21 && f[12] == (NET_ETHERTYPE >> 8) && f[13] == (NET_ETHERTYPE & 0xff) &&
              !memcmp(f + 14, "VMM-NET-HOST-TO-GUEST", 21);
        if (got)
            check(!memcmp(f, want_mac, 6), "net: frame not addressed to our MAC");
        else
            net_post_rx(rx);
    }
    check(got, "net: the host's frame never came");
    print("INFO net received the host frame\n");

    /* Guest -> host. */
    memset(net_tx, 0, sizeof(net_tx));
    uint8_t *f = net_tx + NET_HDR;
    memset(f, 0xff, 6);
    memcpy(f + 6, mac, 6);
    f[12] = NET_ETHERTYPE >> 8;
    f[13] = NET_ETHERTYPE & 0xff;
    memcpy(f + 14, "VMM-NET-GUEST-TO-HOST", 21);
    check(net_send(tx, net_tx, NET_HDR + 60), "net: transmit not completed");

    /* Hostile transmits: GSO that was not negotiated, a chain shorter than
     * a header and an Ethernet header. Completed, counted, not sent. */
    net_tx[1] = 1; /* GSO_TCPV4 */
    net_tx[0] = 1; /* NEEDS_CSUM */
    check(net_send(tx, net_tx, NET_HDR + 60), "net: bad-GSO transmit not completed");
    memset(net_tx, 0, NET_HDR);
    check(net_send(tx, net_tx, 8), "net: short transmit not completed");
    check(!(vdev_status(&d) & VIRTIO_STATUS_NEEDS_RESET), "net: NEEDS_RESET after request errors");
    print("READY net-done\n");
    char c;
    for (;;)
        if (serial_getc(&c) && c == '\n')
            break;
    vdev_reset(&d);
}

/* -------------------------------------------------------------- vsock */

struct vsock_hdr {
    uint64_t src_cid, dst_cid;
    uint32_t src_port, dst_port, len;
    uint16_t type, op;
    uint32_t flags, buf_alloc, fwd_cnt;
} __attribute__((packed));

enum { VS_REQUEST = 1, VS_RESPONSE, VS_RST, VS_SHUTDOWN, VS_RW, VS_CREDIT_UPDATE, VS_CREDIT_REQUEST };

static struct {
    struct vsock_hdr h;
    char data[64];
} __attribute__((packed)) vs_tx;
static uint8_t vs_rx[4096] __attribute__((aligned(64)));
static uint64_t vs_cid;
static uint32_t vs_fwd; /* stream bytes this guest consumed, per connection */

static void vs_post(struct vdev *rx)
{
    rx->desc[0] = (struct vring_desc){(uint64_t)(uintptr_t)vs_rx, sizeof(vs_rx), VIRTQ_DESC_F_WRITE, 0};
    vdev_submit(rx, 0);
}

static bool vs_send(struct vdev *tx, uint64_t src_cid, uint32_t sport, uint32_t dport, uint16_t op,
                    uint32_t flags, const char *data, uint32_t hdr_len_field)
{
    uint32_t n = data ? (uint32_t)strlen(data) : 0;
    vs_tx.h = (struct vsock_hdr){src_cid, 2,  sport, dport, hdr_len_field ? hdr_len_field : n,
                                 1,       op, flags, 65536, vs_fwd};
    if (n)
        memcpy(vs_tx.data, data, n);
    tx->desc[0] = (struct vring_desc){(uint64_t)(uintptr_t)&vs_tx, (uint32_t)sizeof(vs_tx.h) + n, 0, 0};
    vdev_submit(tx, 0);
    uint32_t used = 99;
    return vdev_wait_used(tx, &used) && used == 0;
}

/* The next packet that is not a credit update; false on timeout. */
static bool vs_recv(struct vdev *rx, struct vsock_hdr *h, char *data, unsigned size)
{
    for (unsigned k = 0; k < 16; k++) {
        uint32_t len = 0;
        if (!wait_used_long(rx, &len) || len < sizeof(*h)) {
            fail("vsock: no packet from the device (used %u)", len);
            return false;
        }
        memcpy(h, vs_rx, sizeof(*h));
        unsigned n = h->len < size - 1 ? h->len : size - 1;
        memcpy(data, vs_rx + sizeof(*h), n);
        data[n] = '\0';
        check(len == sizeof(*h) + h->len, "vsock: used %u for a %u-byte payload", len, h->len);
        check(h->src_cid == 2 && h->dst_cid == vs_cid && h->type == 1, "vsock: header cids %lu->%lu type %u",
              h->src_cid, h->dst_cid, h->type);
        vs_fwd += h->len;
        vs_post(rx);
        if (h->op != VS_CREDIT_UPDATE)
            return true;
    }
    fail("vsock: only credit updates");
    return false;
}

static bool vs_expect(struct vdev *rx, uint16_t op, uint32_t sport, uint32_t dport, const char *data,
                      struct vsock_hdr *out)
{
    struct vsock_hdr h;
    char buf[80];
    if (!vs_recv(rx, &h, buf, sizeof(buf)))
        return false;
    if (out)
        *out = h;
    bool ok = h.op == op && (!sport || h.src_port == sport) && h.dst_port == dport &&
              (!data || !memcmp(buf, data, strlen(data) + 1));
    check(ok, "vsock: got op %u %u->%u \"%s\", wanted op %u %u->%u", h.op, h.src_port, h.dst_port, buf, op,
          sport, dport);
    return ok;
}

static uint32_t vs_event[2] __attribute__((aligned(64)));

/* The second connection of a restored VM (snap=1), host -> guest like the
 * first: CONNECT 6001 through the new vmm. Its host port, or 0. */
static uint32_t vs_accept_again(struct vdev *rx, struct vdev *tx)
{
    struct vsock_hdr req;
    vs_fwd = 0;
    print("READY vsock-relisten\n");
    if (!vs_expect(rx, VS_REQUEST, 0, 6001, NULL, &req))
        return 0;
    vs_send(tx, vs_cid, 6001, req.src_port, VS_RESPONSE, 0, NULL, 0);
    if (!vs_expect(rx, VS_RW, req.src_port, 6001, "ping", NULL))
        return 0;
    vs_send(tx, vs_cid, 6001, req.src_port, VS_RW, 0, "pong", 0);
    return req.src_port;
}

/* snap=1: the runner snapshots the VM here, with the connection hp <-> 6000
 * open, and restores it in a new vmm, whose device has no connection. It
 * must say so (TRANSPORT_RESET on the event queue), answer data on the old
 * connection with RST, and take new ones. The host port of the new
 * connection, or 0. */
static uint32_t vs_across_snapshot(struct vdev *rx, struct vdev *tx, struct vdev *evt, uint32_t hp)
{
    vs_event[0] = 0xffffffffu;
    evt->desc[0] =
        (struct vring_desc){(uint64_t)(uintptr_t)vs_event, sizeof(vs_event), VIRTQ_DESC_F_WRITE, 0};
    vdev_submit(evt, 0);
    print("READY vsock-snapshot\n");
    /* Long: the runner pauses, snapshots and restores meanwhile (a paused
     * guest does not count). */
    uint32_t len = 0;
    bool got = false;
    for (unsigned i = 0; i < 400 && !got; i++)
        got = vdev_wait_used(evt, &len);
    if (!got) {
        fail("vsock: no event from the restored device");
        return 0;
    }
    check(len == 4 && vs_event[0] == 0, "vsock: event used %u id %u, wanted TRANSPORT_RESET (0)", len,
          vs_event[0]);
    print("INFO vsock transport reset\n");
    vs_send(tx, vs_cid, 6000, hp, VS_RW, 0, "stale", 0);
    if (!vs_expect(rx, VS_RST, hp, 6000, NULL, NULL))
        return 0;
    return vs_accept_again(rx, tx);
}

static void test_vsock(void)
{
    struct vdev d, q[3];
    vs_cid = cmdline_get_u64("cid", 3);
    bool snap = cmdline_get_u64("snap", 0) != 0;
    if (!vdev_find(&d, VIRTIO_DEV_VSOCK)) {
        fail("no virtio-vsock");
        return;
    }
    if (!vdev_init_queues(&d, F_VERSION_1, q, 3))
        return;
    uint64_t cfg = d.bar + d.device;
    uint64_t cid = mmio_read32(cfg) | (uint64_t)mmio_read32(cfg + 4) << 32;
    check(cid == vs_cid, "vsock: config guest_cid %lu", cid);
    struct vdev *rx = &q[0], *tx = &q[1];
    vs_post(rx);

    /* Guest -> host: port 1234 is PATH_1234 on the host. */
    vs_send(tx, vs_cid, 5000, 1234, VS_REQUEST, 0, NULL, 0);
    if (!vs_expect(rx, VS_RESPONSE, 1234, 5000, NULL, NULL))
        return;
    vs_send(tx, vs_cid, 5000, 1234, VS_RW, 0, "hello-from-guest", 0);
    if (!vs_expect(rx, VS_RW, 1234, 5000, "hello-from-host", NULL))
        return;
    vs_send(tx, vs_cid, 5000, 1234, VS_SHUTDOWN, 3, NULL, 0);
    vs_expect(rx, VS_RST, 1234, 5000, NULL, NULL);
    print("INFO vsock guest->host done\n");

    /* Host -> guest: the runner writes CONNECT 6000 on PATH. */
    vs_fwd = 0; /* a new connection counts from zero */
    print("READY vsock-listen\n");
    struct vsock_hdr req;
    if (!vs_expect(rx, VS_REQUEST, 0, 6000, NULL, &req))
        return;
    uint32_t hp = req.src_port;
    vs_send(tx, vs_cid, 6000, hp, VS_RESPONSE, 0, NULL, 0);
    if (!vs_expect(rx, VS_RW, hp, 6000, "ping", NULL))
        return;
    vs_send(tx, vs_cid, 6000, hp, VS_RW, 0, "pong", 0);
    uint32_t port = 6000;
    if (snap) {
        port = 6001;
        if (!(hp = vs_across_snapshot(rx, tx, &q[2], hp)))
            return;
    }
    /* The runner closes its end: SHUTDOWN, which we finish with RST. */
    if (!vs_expect(rx, VS_SHUTDOWN, hp, port, NULL, NULL))
        return;
    vs_send(tx, vs_cid, port, hp, VS_RST, 0, NULL, 0);
    print("INFO vsock host->guest done\n");

    /* Hostile: data for no connection, a foreign source CID (dropped
     * silently), nobody listening, a length that lies. */
    vs_send(tx, vs_cid, 7000, 7001, VS_RW, 0, "stray", 0);
    vs_expect(rx, VS_RST, 7001, 7000, NULL, NULL);
    vs_send(tx, vs_cid + 1, 7002, 7003, VS_REQUEST, 0, NULL, 0);
    vs_send(tx, vs_cid, 7004, 4321, VS_REQUEST, 0, NULL, 0);
    vs_expect(rx, VS_RST, 4321, 7004, NULL, NULL);
    vs_send(tx, vs_cid, 7006, 7007, VS_RW, 0, "abc", 1000);
    vs_expect(rx, VS_RST, 7007, 7006, NULL, NULL);
    check(!(vdev_status(&d) & VIRTIO_STATUS_NEEDS_RESET), "vsock: NEEDS_RESET after request errors");
    print("READY vsock-done\n");
    char c;
    for (;;)
        if (serial_getc(&c) && c == '\n')
            break;
    vdev_reset(&d);
}

/* ------------------------------------------------------------ balloon */

#define BALLOON_F_DEFLATE_ON_OOM (1ULL << 2)
#define BALLOON_F_PAGE_REPORTING (1ULL << 5)
#define BALLOON_BASE             (32ULL << 20) /* 16 MiB the payload never uses otherwise */
#define BALLOON_PAGES            4096
#define REPORT_BASE              (48ULL << 20)
#define REPORT_LEN               (2ULL << 20)

static uint32_t balloon_pfns[256] __attribute__((aligned(64)));

static void wait_newline(void)
{
    char c;
    for (;;)
        if (serial_getc(&c) && c == '\n')
            break;
}

static bool balloon_pfn_chain(struct vdev *q, uint32_t bytes)
{
    q->desc[0] = (struct vring_desc){(uint64_t)(uintptr_t)balloon_pfns, bytes, 0, 0};
    vdev_submit(q, 0);
    uint32_t used = 0;
    return vdev_wait_used(q, &used);
}

static void test_balloon(void)
{
    struct vdev d, q[3];
    bool reporting = cmdline_get_u64("reporting", 0);
    if (!vdev_find(&d, VIRTIO_DEV_BALLOON)) {
        fail("no virtio-balloon");
        return;
    }
    uint64_t want = F_VERSION_1 | BALLOON_F_DEFLATE_ON_OOM | (reporting ? BALLOON_F_PAGE_REPORTING : 0);
    check((vdev_device_features(&d) & want) == want, "balloon features 0x%lx", vdev_device_features(&d));
    if (!vdev_init_queues(&d, want, q, reporting ? 3 : 2))
        return;
    uint64_t cfg = d.bar + d.device;
    check(mmio_read32(cfg) == cmdline_get_u64("pages", 0), "balloon num_pages %u", mmio_read32(cfg));

    for (uint64_t a = BALLOON_BASE; a < BALLOON_BASE + BALLOON_PAGES * 4096ULL; a += 4096)
        *(volatile uint8_t *)a = 0xab;
    if (reporting)
        for (uint64_t a = REPORT_BASE; a < REPORT_BASE + REPORT_LEN; a += 4096)
            *(volatile uint8_t *)a = 0xcd;
    print("READY balloon-touched\n");
    wait_newline();

    for (unsigned chunk = 0; chunk < BALLOON_PAGES / 256; chunk++) {
        for (unsigned i = 0; i < 256; i++)
            balloon_pfns[i] = (uint32_t)((BALLOON_BASE >> 12) + chunk * 256 + i);
        check(balloon_pfn_chain(&q[0], sizeof(balloon_pfns)), "balloon inflate chunk %u", chunk);
    }
    mmio_write32(cfg + 4, BALLOON_PAGES);
    check(mmio_read32(cfg + 4) == BALLOON_PAGES, "balloon actual reads %u", mmio_read32(cfg + 4));
    if (reporting) {
        /* One free range, device-writable as the driver hands them over. */
        q[2].desc[0] = (struct vring_desc){REPORT_BASE, (uint32_t)REPORT_LEN, VIRTQ_DESC_F_WRITE, 0};
        vdev_submit(&q[2], 0);
        uint32_t used;
        check(vdev_wait_used(&q[2], &used), "balloon report not completed");
        check(*(volatile uint8_t *)REPORT_BASE == 0, "reported page not given back");
    }
    /* Hostile: a PFN past RAM, a length that is not whole PFNs. */
    balloon_pfns[0] = 0xffffffffu;
    check(balloon_pfn_chain(&q[0], 4), "balloon: PFN past RAM not completed");
    check(balloon_pfn_chain(&q[0], 6), "balloon: odd length not completed");
    check(!(vdev_status(&d) & VIRTIO_STATUS_NEEDS_RESET), "balloon: NEEDS_RESET after request errors");
    print("READY balloon-inflated\n");
    wait_newline();

    /* Deflate the first 256 pages: they come back as zero pages. */
    for (unsigned i = 0; i < 256; i++)
        balloon_pfns[i] = (uint32_t)((BALLOON_BASE >> 12) + i);
    check(balloon_pfn_chain(&q[1], sizeof(balloon_pfns)), "balloon deflate");
    check(*(volatile uint8_t *)BALLOON_BASE == 0, "a ballooned page kept its contents");

    /* vm.resize: the host changes num_pages at run time and says so with a
     * configuration-change interrupt (ISR bit 1, INTx here) and a new
     * config_generation. */
    uint32_t resized = (uint32_t)cmdline_get_u64("resize_pages", 0);
    if (resized) {
        uint64_t common = d.bar + d.common;
        uint8_t generation = mmio_read8(common + 0x15);
        (void)mmio_read8(d.bar + d.isr); /* drop what the queues left */
        print("READY balloon-resize\n");
        unsigned i = 0;
        while (mmio_read32(cfg) != resized && i < 2000000)
            i++;
        check(mmio_read32(cfg) == resized, "balloon num_pages %u after vm.resize, wanted %u", mmio_read32(cfg),
              resized);
        check(mmio_read8(d.bar + d.isr) & 2, "no configuration-change interrupt for the new target");
        check(mmio_read8(common + 0x15) != generation, "config_generation did not change");
        mmio_write32(cfg + 4, resized);
        print("READY balloon-resized\n");
        wait_newline();
    }
    vdev_reset(&d);
}

bool run_virtio_device_test(const char *name)
{
    if (!memcmp(name, "console", 8))
        test_console();
    else if (!memcmp(name, "net", 4))
        test_net();
    else if (!memcmp(name, "vsock", 6))
        test_vsock();
    else if (!memcmp(name, "balloon", 8))
        test_balloon();
    else
        return false;
    return true;
}
