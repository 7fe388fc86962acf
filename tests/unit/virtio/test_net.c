/* SPDX-License-Identifier: Apache-2.0 */
/*
 * virtio-net request handling against a fake guest, with a datagram
 * socketpair standing in for the tap (one read = one packet, as a tap):
 * transmit headers checked against the negotiated features, receive chains
 * deferred while the "tap" is empty and oversize packets dropped, control
 * commands parsed from hostile chains.
 */
#include "virtio_test.h"

#include <sys/socket.h>
#include <unistd.h>

#include "net.h"

typedef struct Fixture {
    FakeGuest g;
    VirtioNet *net;
    int host; /* the other end of the "tap" */
} Fixture;

static const uint8_t MAC[6] = {0x52, 0x54, 0, 1, 2, 3};

static int setup_net(void **state, const RateLimiterConfig *limit)
{
    Fixture *f = calloc(1, sizeof(*f));
    fg_init(&f->g, false, false);
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
    int buf = 1 << 20;
    setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &buf, sizeof(buf));
    setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &buf, sizeof(buf));
    NetConfig cfg = {.num_queues = 2, .queue_size = 16, .offload_csum = true, .offload_tso = true};
    memcpy(cfg.mac.bytes, MAC, 6);
    if (limit) {
        cfg.has_rate_limiter_config = true;
        cfg.rate_limiter_config = *limit;
    }
    char err[256];
    f->net = virtio_net_new(&cfg, "_net0", NULL, &sv[0], err, sizeof(err));
    assert_non_null(f->net);
    close(sv[0]); /* the device holds its own duplicate */
    f->host = sv[1];
    /* Checksum offload and IPv4 TSO negotiated; not UFO, not TSO6. */
    virtio_net_activate(f->net, 1ULL << VIRTIO_NET_F_CSUM | 1ULL << VIRTIO_NET_F_HOST_TSO4 |
                                    1ULL << VIRTIO_NET_F_CTRL_VQ | 1ULL << VIRTIO_NET_F_CTRL_RX);
    *state = f;
    return 0;
}

static int setup(void **state)
{
    return setup_net(state, NULL);
}

/* ops_size=1 with a refill of a minute: one packet each way, then waits. */
static int setup_limited(void **state)
{
    RateLimiterConfig rl = {.has_ops = true, .ops = {.size = 1, .refill_time = 60000}};
    return setup_net(state, &rl);
}

static int teardown(void **state)
{
    Fixture *f = *state;
    virtio_net_free(f->net);
    close(f->host);
    fg_free(&f->g);
    free(f);
    return 0;
}

static uint32_t run(Fixture *f, uint16_t q)
{
    VirtqChain c;
    assert_int_equal(virtq_pop(&f->g.vq, &c), VIRTQ_CHAIN);
    return virtio_net_handle_request(f->net, q, &f->g.vq, &c);
}

static VirtioNetCounters counters(Fixture *f)
{
    VirtioNetCounters c;
    virtio_net_get_counters(f->net, &c);
    return c;
}

/* A header + 60-byte frame at DATA, sent as one readable buffer. */
static uint32_t send_frame(Fixture *f, uint8_t flags, uint8_t gso, uint16_t gso_size, uint16_t csum_start,
                           uint16_t csum_offset)
{
    uint8_t pkt[VIRTIO_NET_HDR_LEN + 60] = {flags, gso};
    memcpy(pkt + 4, &gso_size, 2);
    memcpy(pkt + 6, &csum_start, 2);
    memcpy(pkt + 8, &csum_offset, 2);
    memcpy(pkt + VIRTIO_NET_HDR_LEN, MAC, 6);
    guest_memory_write(&f->g.mem, DATA, pkt, sizeof(pkt));
    fg_desc(&f->g, 0, DATA, sizeof(pkt), 0, 0);
    fg_publish(&f->g, 0);
    return run(f, 1);
}

static ssize_t host_read(Fixture *f, uint8_t *buf, size_t len)
{
    return recv(f->host, buf, len, MSG_DONTWAIT);
}

static void test_transmit(void **state)
{
    Fixture *f = *state;
    uint8_t buf[256];
    assert_int_equal(send_frame(f, 0, 0, 0, 0, 0), 0);
    assert_int_equal(host_read(f, buf, sizeof(buf)), VIRTIO_NET_HDR_LEN + 60);
    assert_memory_equal(buf + VIRTIO_NET_HDR_LEN, MAC, 6);
    /* Negotiated offloads pass: partial checksum, IPv4 TSO. */
    assert_int_equal(send_frame(f, VIRTIO_NET_HDR_F_NEEDS_CSUM, 0, 0, 34, 16), 0);
    assert_int_equal(send_frame(f, VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO_TCPV4, 1448, 34, 16), 0);
    assert_int_equal(host_read(f, buf, sizeof(buf)), VIRTIO_NET_HDR_LEN + 60);
    assert_int_equal(host_read(f, buf, sizeof(buf)), VIRTIO_NET_HDR_LEN + 60);
    VirtioNetCounters c = counters(f);
    assert_int_equal(c.tx_packets, 3);
    assert_int_equal(c.request_errors, 0);
}

static void test_transmit_hostile(void **state)
{
    Fixture *f = *state;
    uint8_t buf[256];
    /* Each of these is completed, counted and never reaches the host. */
    assert_int_equal(send_frame(f, 0x80, 0, 0, 0, 0), 0);                          /* unknown flag */
    assert_int_equal(send_frame(f, 0, VIRTIO_NET_HDR_GSO_TCPV4, 1448, 0, 0), 0);   /* GSO, no csum */
    assert_int_equal(send_frame(f, 1, VIRTIO_NET_HDR_GSO_TCPV6, 1448, 34, 16), 0); /* not negotiated */
    assert_int_equal(send_frame(f, 1, VIRTIO_NET_HDR_GSO_UDP, 1448, 34, 6), 0);    /* not negotiated */
    assert_int_equal(send_frame(f, 1, VIRTIO_NET_HDR_GSO_TCPV4 | VIRTIO_NET_HDR_GSO_ECN, 1448, 34, 16), 0);
    assert_int_equal(send_frame(f, 1, VIRTIO_NET_HDR_GSO_TCPV4, 0, 34, 16), 0); /* gso_size 0 */
    assert_int_equal(send_frame(f, 1, 0, 0, 0xfff0, 0x20), 0);                  /* csum past the end */
    assert_int_equal(send_frame(f, 0, 7, 0, 0, 0), 0);                          /* unknown GSO */
    assert_int_equal(send_frame(f, 0, VIRTIO_NET_HDR_GSO_ECN, 0, 0, 0), 0);     /* ECN alone */
    /* Shorter than header + Ethernet header; writable; larger than any frame. */
    fg_desc(&f->g, 0, DATA, VIRTIO_NET_HDR_LEN + 13, 0, 0);
    fg_publish(&f->g, 0);
    assert_int_equal(run(f, 1), 0);
    fg_desc(&f->g, 0, DATA, 100, VIRTQ_DESC_F_WRITE, 0);
    fg_publish(&f->g, 0);
    assert_int_equal(run(f, 1), 0);
    fg_desc(&f->g, 0, DATA, VIRTIO_NET_HDR_LEN + VIRTIO_NET_MAX_FRAME + 1, 0, 0);
    fg_publish(&f->g, 0);
    assert_int_equal(run(f, 1), 0);
    assert_true(host_read(f, buf, sizeof(buf)) < 0);
    VirtioNetCounters c = counters(f);
    assert_int_equal(c.request_errors, 12);
    assert_int_equal(c.tx_packets, 0);
}

static void test_receive(void **state)
{
    Fixture *f = *state;
    VirtqChain c;
    fg_desc(&f->g, 0, DATA, 8, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 1);
    fg_desc(&f->g, 1, DATA + 0x100, 200, VIRTQ_DESC_F_WRITE, 0);
    fg_publish(&f->g, 0);
    /* The tap is empty: the chain stays with the guest. */
    assert_int_equal(virtq_pop(&f->g.vq, &c), VIRTQ_CHAIN);
    assert_int_equal(virtio_net_handle_request(f->net, 0, &f->g.vq, &c), VIRTIO_CHAIN_DEFER);
    virtq_unpop(&f->g.vq);
    /* Too big for the 208-byte chain: dropped; the next one fits. */
    uint8_t pkt[400] = {0};
    assert_int_equal(send(f->host, pkt, 300, 0), 300);
    pkt[VIRTIO_NET_HDR_LEN] = 0xab;
    pkt[10] = 7; /* num_buffers from the host is overwritten */
    assert_int_equal(send(f->host, pkt, 100, 0), 100);
    assert_int_equal(run(f, 0), 100);
    uint8_t hdr[VIRTIO_NET_HDR_LEN + 1];
    guest_memory_read(&f->g.mem, DATA, hdr, 8);
    guest_memory_read(&f->g.mem, DATA + 0x100, hdr + 8, 5);
    assert_int_equal(hdr[10], 1);
    assert_int_equal(hdr[11], 0);
    assert_int_equal(hdr[VIRTIO_NET_HDR_LEN], 0xab);
    /* A runt from the host (shorter than the header) is dropped too. */
    assert_int_equal(send(f->host, pkt, 5, 0), 5);
    fg_publish(&f->g, 0);
    assert_int_equal(virtq_pop(&f->g.vq, &c), VIRTQ_CHAIN);
    assert_int_equal(virtio_net_handle_request(f->net, 0, &f->g.vq, &c), VIRTIO_CHAIN_DEFER);
    VirtioNetCounters n = counters(f);
    assert_int_equal(n.rx_packets, 1);
    assert_int_equal(n.rx_dropped, 2);
}

/* Each queue has its own buckets: transmit waits before a frame that does
 * not fit; receive pays after the packet (its size is unknown before), so
 * the packet after the one that emptied the bucket waits. A waiting chain
 * stays with the guest: nothing is sent, read or dropped. */
static void test_rate_limited(void **state)
{
    Fixture *f = *state;
    uint8_t buf[256];
    assert_int_equal(send_frame(f, 0, 0, 0, 0, 0), 0);
    /* (the transport would put the chain back; this fake ring moves on) */
    assert_int_equal(send_frame(f, 0, 0, 0, 0, 0), VIRTIO_CHAIN_DEFER);
    assert_int_equal(host_read(f, buf, sizeof(buf)), VIRTIO_NET_HDR_LEN + 60);
    assert_true(host_read(f, buf, sizeof(buf)) < 0);

    uint8_t pkt[100] = {0};
    for (int i = 0; i < 3; i++)
        assert_int_equal(send(f->host, pkt, sizeof(pkt), 0), sizeof(pkt));
    fg_desc(&f->g, 2, DATA + 0x1000, 200, VIRTQ_DESC_F_WRITE, 0);
    for (int i = 0; i < 2; i++) {
        fg_publish(&f->g, 2);
        assert_int_equal(run(f, 0), sizeof(pkt));
    }
    fg_publish(&f->g, 2);
    assert_int_equal(run(f, 0), VIRTIO_CHAIN_DEFER);
    VirtioNetCounters c = counters(f);
    assert_int_equal(c.tx_packets, 1);
    assert_int_equal(c.tx_throttled, 1);
    assert_int_equal(c.rx_packets, 2);
    assert_int_equal(c.rx_throttled, 1);
    assert_int_equal(c.rx_dropped, 0);
}

static void test_receive_hostile(void **state)
{
    Fixture *f = *state;
    /* Smaller than a header, or readable: handed back empty, counted. */
    fg_desc(&f->g, 0, DATA, VIRTIO_NET_HDR_LEN - 1, VIRTQ_DESC_F_WRITE, 0);
    fg_publish(&f->g, 0);
    assert_int_equal(run(f, 0), 0);
    fg_desc(&f->g, 0, DATA, 64, 0, 1);
    fg_publish(&f->g, 0);
    assert_int_equal(run(f, 0), 0);
    assert_int_equal(counters(f).request_errors, 2);
}

static uint8_t ctrl(Fixture *f, const uint8_t *cmd, uint32_t len, uint32_t ack_len, uint32_t *used)
{
    uint8_t ack = 0xee;
    guest_memory_write(&f->g.mem, DATA, cmd, len);
    guest_memory_write(&f->g.mem, DATA + 0x100, &ack, 1);
    if (len) {
        fg_desc(&f->g, 0, DATA, len, ack_len ? VIRTQ_DESC_F_NEXT : 0, 1);
        fg_desc(&f->g, 1, DATA + 0x100, ack_len, VIRTQ_DESC_F_WRITE, 0);
    } else {
        fg_desc(&f->g, 0, DATA + 0x100, ack_len, VIRTQ_DESC_F_WRITE, 0);
    }
    fg_publish(&f->g, 0);
    *used = run(f, 2);
    guest_memory_read(&f->g.mem, DATA + 0x100, &ack, 1);
    return ack;
}

static void test_control(void **state)
{
    Fixture *f = *state;
    uint32_t used;
    assert_int_equal(ctrl(f, (const uint8_t[]){VIRTIO_NET_CTRL_RX, 0, 1}, 3, 1, &used), VIRTIO_NET_OK);
    assert_int_equal(used, 1);
    assert_int_equal(ctrl(f, (const uint8_t[]){VIRTIO_NET_CTRL_RX, 1, 0}, 3, 1, &used), VIRTIO_NET_OK);
    /* Bad values, lengths, classes; MQ not negotiated. */
    assert_int_equal(ctrl(f, (const uint8_t[]){VIRTIO_NET_CTRL_RX, 0, 2}, 3, 1, &used), VIRTIO_NET_ERR);
    assert_int_equal(ctrl(f, (const uint8_t[]){VIRTIO_NET_CTRL_RX, 5, 1}, 3, 1, &used), VIRTIO_NET_ERR);
    assert_int_equal(ctrl(f, (const uint8_t[]){VIRTIO_NET_CTRL_RX, 0}, 2, 1, &used), VIRTIO_NET_ERR);
    assert_int_equal(ctrl(f, (const uint8_t[]){VIRTIO_NET_CTRL_MQ, 0, 1, 0}, 4, 1, &used), VIRTIO_NET_ERR);
    assert_int_equal(ctrl(f, (const uint8_t[]){200, 200, 0}, 3, 1, &used), VIRTIO_NET_ERR);
    assert_int_equal(ctrl(f, (const uint8_t[]){0}, 1, 1, &used), VIRTIO_NET_ERR);
    assert_int_equal(ctrl(f, NULL, 0, 1, &used), VIRTIO_NET_ERR); /* no command at all */
    /* No room for the ack: nothing written, counted. */
    assert_int_equal(ctrl(f, (const uint8_t[]){VIRTIO_NET_CTRL_RX, 0, 1}, 3, 0, &used), 0xee);
    assert_int_equal(used, 0);
    /* A queue the device does not have. */
    fg_desc(&f->g, 0, DATA, 16, 0, 0);
    fg_publish(&f->g, 0);
    assert_int_equal(run(f, 9), 0);
    VirtioNetCounters c = counters(f);
    assert_int_equal(c.ctrl_ops, 9);
    assert_int_equal(c.request_errors, 9);
}

/* MAC_TABLE_SET comes with CTRL_RX: Linux's virtio_net sends one on every
 * rx-mode change and warns "Failed to set MAC filter table" on an error. */
static void test_control_mac_table(void **state)
{
    Fixture *f = *state;
    uint32_t used;
    const uint8_t set = VIRTIO_NET_CTRL_MAC_TABLE_SET;
    /* What Linux sends for an interface without extra addresses. */
    const uint8_t empty[] = {VIRTIO_NET_CTRL_MAC, set, 0, 0, 0, 0, 0, 0, 0, 0};
    assert_int_equal(ctrl(f, empty, sizeof(empty), 1, &used), VIRTIO_NET_OK);
    assert_int_equal(used, 1);
    /* One unicast and two multicast addresses. */
    const uint8_t full[] = {VIRTIO_NET_CTRL_MAC, set, 1, 0, 0, 0, 0x52, 0x54, 0, 1, 2, 3,
                            2, 0, 0, 0, 0x01, 0, 0x5e, 0, 0, 1, 0x33, 0x33, 0, 0, 0, 1};
    assert_int_equal(ctrl(f, full, sizeof(full), 1, &used), VIRTIO_NET_OK);
    /* Broken shapes: no multicast table, a count past the data, data past
     * the tables, a huge count, and the unoffered MAC_ADDR_SET. */
    assert_int_equal(ctrl(f, full, 12, 1, &used), VIRTIO_NET_ERR);
    const uint8_t lying[] = {VIRTIO_NET_CTRL_MAC, set, 2, 0, 0, 0, 0x52, 0x54, 0, 1, 2, 3, 0, 0, 0, 0};
    assert_int_equal(ctrl(f, lying, sizeof(lying), 1, &used), VIRTIO_NET_ERR);
    const uint8_t trailing[] = {VIRTIO_NET_CTRL_MAC, set, 0, 0, 0, 0, 0, 0, 0, 0, 0xff};
    assert_int_equal(ctrl(f, trailing, sizeof(trailing), 1, &used), VIRTIO_NET_ERR);
    const uint8_t huge[] = {VIRTIO_NET_CTRL_MAC, set, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0};
    assert_int_equal(ctrl(f, huge, sizeof(huge), 1, &used), VIRTIO_NET_ERR);
    const uint8_t addr_set[] = {VIRTIO_NET_CTRL_MAC, 1, 0x52, 0x54, 0, 1, 2, 3};
    assert_int_equal(ctrl(f, addr_set, sizeof(addr_set), 1, &used), VIRTIO_NET_ERR);
    VirtioNetCounters c = counters(f);
    assert_int_equal(c.ctrl_ops, 7);
    assert_int_equal(c.request_errors, 5);
}

static void test_config(void **state)
{
    (void)state;
    char err[256];
    NetConfig one = {.num_queues = 1, .queue_size = 16};
    assert_null(virtio_net_new(&one, "_net0", NULL, NULL, err, sizeof(err)));
    assert_non_null(strstr(err, "num_queues"));
    int fds[1] = {0};
    NetConfig mismatch = {.num_queues = 4, .queue_size = 16, .fds = fds, .n_fds = 1};
    assert_null(virtio_net_new(&mismatch, "_net0", NULL, NULL, err, sizeof(err)));
    /* stdin is not a tap. */
    NetConfig notap = {.num_queues = 2, .queue_size = 16, .fds = fds, .n_fds = 1};
    assert_null(virtio_net_new(&notap, "_net0", NULL, NULL, err, sizeof(err)));
    assert_non_null(strstr(err, "not a tap"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_transmit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_transmit_hostile, setup, teardown),
        cmocka_unit_test_setup_teardown(test_receive, setup, teardown),
        cmocka_unit_test_setup_teardown(test_receive_hostile, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rate_limited, setup_limited, teardown),
        cmocka_unit_test_setup_teardown(test_control, setup, teardown),
        cmocka_unit_test_setup_teardown(test_control_mac_table, setup, teardown),
        cmocka_unit_test(test_config),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
