/* SPDX-License-Identifier: Apache-2.0 */
/*
 * virtio-vsock against a fake guest and real unix sockets: the guest's
 * packets parsed from hostile chains (short, misaddressed, lying lengths,
 * unknown operations and connections, credit overruns), the CONNECT line
 * from hostile host clients, credit-based flow control towards the
 * guest, and the transport reset event after a restore.
 */
#include "virtio_test.h"

#include <stdio.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "vsock.h"

#define CID   3
#define RXBUF (DATA + 0x80000)

typedef struct Fixture {
    FakeGuest g;
    VirtioVsock *vs;
    char dir[48], path[80];
} Fixture;

static int setup(void **state)
{
    Fixture *f = calloc(1, sizeof(*f));
    fg_init(&f->g, false, false);
    snprintf(f->dir, sizeof(f->dir), "/tmp/vmm-test-vsock-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof(f->path), "%s/v.sock", f->dir);
    VsockConfig cfg = {.cid = CID, .socket = f->path};
    char err[256];
    f->vs = virtio_vsock_new(&cfg, "_vsock", NULL, err, sizeof(err));
    assert_non_null(f->vs);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    Fixture *f = *state;
    virtio_vsock_free(f->vs);
    char p[160];
    snprintf(p, sizeof(p), "%s/v.sock_77", f->dir);
    unlink(p);
    rmdir(f->dir);
    fg_free(&f->g);
    free(f);
    return 0;
}

static uint32_t run(Fixture *f, uint16_t q)
{
    VirtqChain c;
    assert_int_equal(virtq_pop(&f->g.vq, &c), VIRTQ_CHAIN);
    uint32_t r = virtio_vsock_handle_request(f->vs, q, &f->g.vq, &c);
    if (r == VIRTIO_CHAIN_DEFER)
        virtq_unpop(&f->g.vq);
    return r;
}

/* A packet from the guest: header (+ data) as one readable buffer. */
static void guest_send(Fixture *f, uint64_t src_cid, uint32_t sport, uint32_t dport, uint16_t op,
                       uint32_t flags, const void *data, uint32_t len, uint32_t len_field, uint32_t buf_alloc,
                       uint32_t fwd_cnt)
{
    VirtioVsockHdr h = {src_cid,   VIRTIO_VSOCK_HOST_CID,
                        sport,     dport,
                        len_field, VIRTIO_VSOCK_TYPE_STREAM,
                        op,        flags,
                        buf_alloc, fwd_cnt};
    guest_memory_write(&f->g.mem, DATA, &h, sizeof(h));
    if (len && data)
        guest_memory_write(&f->g.mem, DATA + sizeof(h), data, len);
    fg_desc(&f->g, 0, DATA, (uint32_t)sizeof(h) + len, 0, 0);
    fg_publish(&f->g, 0);
    assert_int_equal(run(f, VIRTIO_VSOCK_TX), 0);
}

static void send_op(Fixture *f, uint32_t sport, uint32_t dport, uint16_t op)
{
    guest_send(f, CID, sport, dport, op, 0, NULL, 0, 0, 65536, 0);
}

/* The next packet for the guest: its header (and data into buf), or false
 * when the device has nothing (the chain was deferred). */
static bool guest_recv(Fixture *f, VirtioVsockHdr *h, char *buf, size_t size)
{
    fg_desc(&f->g, 0, RXBUF, 4096, VIRTQ_DESC_F_WRITE, 0);
    fg_publish(&f->g, 0);
    uint32_t r = run(f, VIRTIO_VSOCK_RX);
    if (r == VIRTIO_CHAIN_DEFER) {
        f->g.avail_idx--; /* take the chain back: the next publish reuses the slot */
        return false;
    }
    assert_true(r >= sizeof(*h));
    guest_memory_read(&f->g.mem, RXBUF, h, sizeof(*h));
    assert_int_equal(r, sizeof(*h) + h->len);
    assert_int_equal(h->src_cid, VIRTIO_VSOCK_HOST_CID);
    assert_int_equal(h->dst_cid, CID);
    if (buf) {
        size_t n = h->len < size - 1 ? h->len : size - 1;
        guest_memory_read(&f->g.mem, RXBUF + sizeof(*h), buf, n);
        buf[n] = '\0';
    }
    return true;
}

static void expect(Fixture *f, uint16_t op, uint32_t sport, uint32_t dport)
{
    VirtioVsockHdr h;
    assert_true(guest_recv(f, &h, NULL, 0));
    assert_int_equal(h.op, op);
    assert_int_equal(h.src_port, sport);
    assert_int_equal(h.dst_port, dport);
}

static VirtioVsockCounters counters(Fixture *f)
{
    VirtioVsockCounters c;
    virtio_vsock_get_counters(f->vs, &c);
    return c;
}

static int listen_port(Fixture *f, uint32_t port)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s_%u", f->path, port);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(fd, 4), 0);
    return fd;
}

static int host_client(Fixture *f)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", f->path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    return fd;
}

static void test_hostile_packets(void **state)
{
    Fixture *f = *state;
    VirtioVsockHdr h;
    /* Too short for a header; writable buffers on the transmit queue. */
    fg_desc(&f->g, 0, DATA, VIRTIO_VSOCK_HDR_LEN - 1, 0, 0);
    fg_publish(&f->g, 0);
    assert_int_equal(run(f, VIRTIO_VSOCK_TX), 0);
    fg_desc(&f->g, 0, DATA, 64, VIRTQ_DESC_F_WRITE, 0);
    fg_publish(&f->g, 0);
    assert_int_equal(run(f, VIRTIO_VSOCK_TX), 0);
    /* Somebody else's CID: dropped without an answer. */
    guest_send(f, CID + 1, 1, 2, VIRTIO_VSOCK_OP_REQUEST, 0, NULL, 0, 0, 0, 0);
    assert_false(guest_recv(f, &h, NULL, 0));
    /* Length that lies, data on a non-RW op, unknown op, RW/credit for
     * nothing: each answered by RST to the sender's port. */
    guest_send(f, CID, 10, 11, VIRTIO_VSOCK_OP_RW, 0, "abc", 3, 1000, 0, 0);
    expect(f, VIRTIO_VSOCK_OP_RST, 11, 10);
    guest_send(f, CID, 12, 13, VIRTIO_VSOCK_OP_REQUEST, 0, "abc", 3, 3, 0, 0);
    expect(f, VIRTIO_VSOCK_OP_RST, 13, 12);
    send_op(f, 14, 15, 99);
    expect(f, VIRTIO_VSOCK_OP_RST, 15, 14);
    send_op(f, 16, 17, VIRTIO_VSOCK_OP_RW);
    expect(f, VIRTIO_VSOCK_OP_RST, 17, 16);
    send_op(f, 18, 19, VIRTIO_VSOCK_OP_CREDIT_UPDATE);
    expect(f, VIRTIO_VSOCK_OP_RST, 19, 18);
    send_op(f, 20, 21, VIRTIO_VSOCK_OP_RESPONSE);
    expect(f, VIRTIO_VSOCK_OP_RST, 21, 20);
    /* A RST for nothing is not answered (no RST ping-pong). */
    send_op(f, 22, 23, VIRTIO_VSOCK_OP_RST);
    assert_false(guest_recv(f, &h, NULL, 0));
    /* Nobody listens on PATH_4321. */
    send_op(f, 24, 4321, VIRTIO_VSOCK_OP_REQUEST);
    expect(f, VIRTIO_VSOCK_OP_RST, 4321, 24);
    /* A receive chain without room for a header. */
    fg_desc(&f->g, 0, RXBUF, VIRTIO_VSOCK_HDR_LEN - 1, VIRTQ_DESC_F_WRITE, 0);
    fg_publish(&f->g, 0);
    assert_int_equal(run(f, VIRTIO_VSOCK_RX), 0);
    VirtioVsockCounters c = counters(f);
    assert_int_equal(c.request_errors, 9); /* RST and CREDIT_UPDATE for nothing are races, not errors */
    assert_int_equal(c.conns_refused, 1);
}

static void test_guest_connect(void **state)
{
    Fixture *f = *state;
    int l = listen_port(f, 77);
    send_op(f, 500, 77, VIRTIO_VSOCK_OP_REQUEST);
    expect(f, VIRTIO_VSOCK_OP_RESPONSE, 77, 500);
    int peer = accept4(l, NULL, NULL, SOCK_CLOEXEC);
    assert_true(peer >= 0);
    guest_send(f, CID, 500, 77, VIRTIO_VSOCK_OP_RW, 0, "hello", 5, 5, 65536, 0);
    char buf[16] = {0};
    assert_int_equal(recv(peer, buf, sizeof(buf), 0), 5);
    assert_string_equal(buf, "hello");
    /* A second REQUEST for a live connection resets it. */
    send_op(f, 500, 77, VIRTIO_VSOCK_OP_REQUEST);
    expect(f, VIRTIO_VSOCK_OP_RST, 77, 500);
    assert_int_equal(recv(peer, buf, sizeof(buf), 0), 0);
    close(peer);

    /* Overrunning the credit we gave: RST. */
    send_op(f, 501, 77, VIRTIO_VSOCK_OP_REQUEST);
    expect(f, VIRTIO_VSOCK_OP_RESPONSE, 77, 501);
    peer = accept4(l, NULL, NULL, SOCK_CLOEXEC);
    guest_send(f, CID, 501, 77, VIRTIO_VSOCK_OP_RW, 0, NULL, VIRTIO_VSOCK_BUF_ALLOC + 1,
               VIRTIO_VSOCK_BUF_ALLOC + 1, 65536, 0);
    expect(f, VIRTIO_VSOCK_OP_RST, 77, 501);
    close(peer);
    close(l);
}

static void test_host_connect(void **state)
{
    Fixture *f = *state;
    VirtioVsockHdr h;
    char buf[64];
    int cl = host_client(f);
    /* The line may come in pieces. */
    assert_int_equal(send(cl, "CONNECT 5", 9, 0), 9);
    virtio_vsock_host_event(f->vs);
    virtio_vsock_host_event(f->vs);
    assert_false(guest_recv(f, &h, NULL, 0));
    assert_int_equal(send(cl, "2\nearly", 7, 0), 7);
    virtio_vsock_host_event(f->vs);
    assert_true(guest_recv(f, &h, NULL, 0));
    assert_int_equal(h.op, VIRTIO_VSOCK_OP_REQUEST);
    assert_int_equal(h.dst_port, 52);
    uint32_t hp = h.src_port;
    /* The guest offers 4 bytes of buffer. */
    guest_send(f, CID, 52, hp, VIRTIO_VSOCK_OP_RESPONSE, 0, NULL, 0, 0, 4, 0);
    ssize_t n = recv(cl, buf, sizeof(buf) - 1, 0);
    assert_true(n > 0);
    buf[n] = '\0';
    char want[32];
    snprintf(want, sizeof(want), "OK %u\n", hp);
    assert_string_equal(buf, want);
    /* Bytes after the line are data: at most the credit goes out. */
    virtio_vsock_host_event(f->vs);
    assert_true(guest_recv(f, &h, buf, sizeof(buf)));
    assert_int_equal(h.op, VIRTIO_VSOCK_OP_RW);
    assert_string_equal(buf, "earl");
    assert_false(guest_recv(f, &h, NULL, 0)); /* no credit left */
    guest_send(f, CID, 52, hp, VIRTIO_VSOCK_OP_CREDIT_UPDATE, 0, NULL, 0, 0, 4, 4);
    assert_true(guest_recv(f, &h, buf, sizeof(buf)));
    assert_string_equal(buf, "y");
    /* A fwd_cnt beyond what we sent is no credit at all. */
    assert_int_equal(send(cl, "zz", 2, 0), 2);
    virtio_vsock_host_event(f->vs);
    guest_send(f, CID, 52, hp, VIRTIO_VSOCK_OP_CREDIT_UPDATE, 0, NULL, 0, 0, 4, 1000);
    assert_false(guest_recv(f, &h, NULL, 0));
    /* The host closes: SHUTDOWN, the guest's RST ends it. */
    guest_send(f, CID, 52, hp, VIRTIO_VSOCK_OP_CREDIT_UPDATE, 0, NULL, 0, 0, 4, 5);
    assert_true(guest_recv(f, &h, buf, sizeof(buf)));
    assert_string_equal(buf, "zz");
    close(cl);
    virtio_vsock_host_event(f->vs);
    assert_true(guest_recv(f, &h, NULL, 0));
    assert_int_equal(h.op, VIRTIO_VSOCK_OP_SHUTDOWN);
    send_op(f, 52, hp, VIRTIO_VSOCK_OP_RST);
    assert_int_equal(counters(f).conns_from_host, 1);
}

static void test_bad_connect_lines(void **state)
{
    Fixture *f = *state;
    static const char *bad[] = {"CONNECT\n",    "CONNECT x\n",          "CONNECT 1 2\n", "connect 5\n",
                                "CONNECT -1\n", "CONNECT 4294967296\n", "CONNECT \n"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int cl = host_client(f);
        assert_int_equal(send(cl, bad[i], strlen(bad[i]), 0), (ssize_t)strlen(bad[i]));
        virtio_vsock_host_event(f->vs);
        virtio_vsock_host_event(f->vs);
        char b[8];
        assert_true(recv(cl, b, sizeof(b), 0) <= 0); /* closed on us (reset: our bytes were unread) */
        close(cl);
    }
    /* A line that never ends. */
    int cl = host_client(f);
    char junk[VIRTIO_VSOCK_CONNECT_LINE];
    memset(junk, 'A', sizeof(junk));
    assert_int_equal(send(cl, junk, sizeof(junk), 0), (ssize_t)sizeof(junk));
    virtio_vsock_host_event(f->vs);
    virtio_vsock_host_event(f->vs);
    char b[8];
    assert_true(recv(cl, b, sizeof(b), 0) <= 0);
    close(cl);
    VirtioVsockHdr h;
    assert_false(guest_recv(f, &h, NULL, 0));
    assert_int_equal(counters(f).conns_refused, 8);
}

static void test_reset_closes(void **state)
{
    Fixture *f = *state;
    int cl = host_client(f);
    assert_int_equal(send(cl, "CONNECT 9\n", 10, 0), 10);
    virtio_vsock_host_event(f->vs);
    virtio_vsock_host_event(f->vs);
    virtio_vsock_reset(f->vs);
    char b[8];
    assert_int_equal(recv(cl, b, sizeof(b), 0), 0);
    close(cl);
    VirtioVsockHdr h;
    assert_false(guest_recv(f, &h, NULL, 0)); /* the pending REQUEST went too */
}

/* An event-queue chain, run: the used length (VIRTIO_CHAIN_DEFER: kept). */
static uint32_t event_chain(Fixture *f, uint32_t len, uint16_t flags)
{
    uint32_t junk = 0xdeadbeef;
    guest_memory_write(&f->g.mem, RXBUF, &junk, sizeof(junk));
    fg_desc(&f->g, 0, RXBUF, len, flags, 0);
    fg_publish(&f->g, 0);
    uint32_t r = run(f, VIRTIO_VSOCK_EVT);
    if (r == VIRTIO_CHAIN_DEFER)
        f->g.avail_idx--;
    return r;
}

static void test_transport_reset_after_restore(void **state)
{
    Fixture *f = *state;
    /* A running device has no event to give: the chain waits. */
    assert_int_equal(event_chain(f, 4, VIRTQ_DESC_F_WRITE), VIRTIO_CHAIN_DEFER);
    virtio_vsock_restored(f->vs);
    /* Chains that cannot hold the event are used empty; the event waits
     * for one that can. */
    assert_int_equal(event_chain(f, 3, VIRTQ_DESC_F_WRITE), 0);
    assert_int_equal(event_chain(f, 4, 0), 0);
    assert_int_equal(counters(f).transport_resets, 0);
    assert_int_equal(event_chain(f, 8, VIRTQ_DESC_F_WRITE), VIRTIO_VSOCK_EVENT_LEN);
    uint32_t id = 1;
    guest_memory_read(&f->g.mem, RXBUF, &id, sizeof(id));
    assert_int_equal(id, VIRTIO_VSOCK_EVENT_TRANSPORT_RESET);
    VirtioVsockCounters c = counters(f);
    assert_int_equal(c.transport_resets, 1);
    assert_int_equal(c.request_errors, 2);
    /* Once. */
    assert_int_equal(event_chain(f, 4, VIRTQ_DESC_F_WRITE), VIRTIO_CHAIN_DEFER);
    /* Data for a connection the snapshotted device had: RST, not silence. */
    guest_send(f, CID, 600, 1u << 30, VIRTIO_VSOCK_OP_RW, 0, "late", 4, 4, 65536, 0);
    expect(f, VIRTIO_VSOCK_OP_RST, 1u << 30, 600);
    /* A driver that resets the device after a restore starts clean. */
    virtio_vsock_restored(f->vs);
    virtio_vsock_reset(f->vs);
    assert_int_equal(event_chain(f, 4, VIRTQ_DESC_F_WRITE), VIRTIO_CHAIN_DEFER);
    assert_int_equal(counters(f).transport_resets, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_hostile_packets, setup, teardown),
        cmocka_unit_test_setup_teardown(test_guest_connect, setup, teardown),
        cmocka_unit_test_setup_teardown(test_host_connect, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_connect_lines, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reset_closes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_transport_reset_after_restore, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
