/* SPDX-License-Identifier: Apache-2.0 */
/* virtio-blk request parsing and execution against a temporary image. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "blk.h"
#include "virtio_test.h"

#define IMG_SIZE ((1u << 20) + 300) /* a partial last sector */
#define CAP      (IMG_SIZE / 512)
#define HDR      (DATA)
#define BUF      (DATA + 0x1000)
#define STATUS   (DATA + 0x100)

static FakeGuest *g;
static VirtioBlk *blk;
static char path[64];

static VirtioBlk *open_blk(bool readonly, const char *serial)
{
    DiskConfig cfg;
    memset(&cfg, 0, sizeof(cfg));
    cfg.path = path;
    cfg.readonly = readonly;
    cfg.num_queues = 1;
    cfg.queue_size = 16;
    cfg.serial = (char *)serial;
    char err[256];
    VirtioBlk *b = virtio_blk_new(&cfg, "_disk0", NULL, err, sizeof(err));
    if (!b)
        fail_msg("%s", err);
    return b;
}

static int setup(void **state)
{
    (void)state;
    snprintf(path, sizeof(path), "/tmp/vmm-test-blk-XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    uint8_t *fill = malloc(IMG_SIZE);
    memset(fill, 0xab, IMG_SIZE);
    assert_int_equal(write(fd, fill, IMG_SIZE), IMG_SIZE);
    free(fill);
    close(fd);
    g = calloc(1, sizeof(*g));
    fg_init(g, false, false);
    blk = open_blk(false, "serial-0123456789-abcdef");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    virtio_blk_free(blk);
    fg_free(g);
    free(g);
    unlink(path);
    return 0;
}

/* Publishes header + optional data + status and runs the request. */
static uint32_t request(uint32_t type, uint64_t sector, uint32_t len, bool data_writable, uint8_t *status)
{
    struct {
        uint32_t type, reserved;
        uint64_t sector;
    } hdr = {type, 0, sector};
    guest_memory_write(&g->mem, HDR, &hdr, sizeof(hdr));
    uint8_t st = 0xee;
    guest_memory_write(&g->mem, STATUS, &st, 1);
    fg_desc(g, 0, HDR, 16, VIRTQ_DESC_F_NEXT, 1);
    uint16_t s = 1;
    if (len) {
        fg_desc(g, 1, BUF, len, (uint16_t)(VIRTQ_DESC_F_NEXT | (data_writable ? VIRTQ_DESC_F_WRITE : 0)), 2);
        s = 2;
    }
    fg_desc(g, s, STATUS, 1, VIRTQ_DESC_F_WRITE, 0);
    fg_publish(g, 0);
    VirtqChain c;
    assert_int_equal(virtq_pop(&g->vq, &c), VIRTQ_CHAIN);
    uint32_t used = virtio_blk_handle_request(blk, &g->vq, &c);
    guest_memory_read(&g->mem, STATUS, status, 1);
    return used;
}

static void test_capacity(void **state)
{
    (void)state;
    assert_int_equal(virtio_blk_capacity(blk), CAP);
}

static void test_write_read(void **state)
{
    (void)state;
    uint8_t buf[4096], st;
    for (int i = 0; i < 4096; i++)
        buf[i] = (uint8_t)(i * 7);
    guest_memory_write(&g->mem, BUF, buf, sizeof(buf));
    assert_int_equal(request(VIRTIO_BLK_T_OUT, 2, 4096, false, &st), 1);
    assert_int_equal(st, VIRTIO_BLK_S_OK);
    uint8_t zero[4096] = {0};
    guest_memory_write(&g->mem, BUF, zero, sizeof(zero));
    assert_int_equal(request(VIRTIO_BLK_T_IN, 2, 4096, true, &st), 4097);
    assert_int_equal(st, VIRTIO_BLK_S_OK);
    uint8_t back[4096];
    guest_memory_read(&g->mem, BUF, back, sizeof(back));
    assert_memory_equal(back, buf, sizeof(buf));
    /* The last whole sector works; the tail beyond it is never touched. */
    assert_int_equal(request(VIRTIO_BLK_T_OUT, CAP - 1, 512, false, &st), 1);
    assert_int_equal(st, VIRTIO_BLK_S_OK);
    assert_int_equal(request(VIRTIO_BLK_T_FLUSH, 0, 0, false, &st), 1);
    assert_int_equal(st, VIRTIO_BLK_S_OK);
    int fd = open(path, O_RDONLY);
    uint8_t tail[300];
    assert_int_equal(pread(fd, tail, sizeof(tail), (off_t)CAP * 512), 300);
    close(fd);
    for (int i = 0; i < 300; i++)
        assert_int_equal(tail[i], 0xab);
}

static void test_ranges(void **state)
{
    (void)state;
    uint8_t st;
    const struct {
        uint32_t type;
        uint64_t sector;
        uint32_t len;
        bool writable;
    } bad[] = {
        {VIRTIO_BLK_T_IN, CAP, 512, true},
        {VIRTIO_BLK_T_IN, CAP - 1, 1024, true},
        {VIRTIO_BLK_T_IN, UINT64_MAX, 512, true},
        {VIRTIO_BLK_T_IN, UINT64_MAX / 512 + 1, 512, true}, /* sector * 512 overflows */
        {VIRTIO_BLK_T_OUT, CAP, 512, false},
        {VIRTIO_BLK_T_OUT, 0, 511, false}, /* not whole sectors */
        {VIRTIO_BLK_T_IN, 0, 100, true},
        {VIRTIO_BLK_T_IN, 0, 512, false}, /* data buffer read-only for a read */
        {VIRTIO_BLK_T_OUT, 0, 512, true}, /* data buffer writable for a write */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(request(bad[i].type, bad[i].sector, bad[i].len, bad[i].writable, &st), 1);
        assert_int_equal(st, VIRTIO_BLK_S_IOERR);
    }
    VirtioBlkCounters c;
    virtio_blk_get_counters(blk, &c);
    assert_int_equal(c.request_errors, sizeof(bad) / sizeof(bad[0]));
    assert_int_equal(c.read_ops + c.write_ops, 0);
    assert_int_equal(request(0x1234, 0, 0, false, &st), 1);
    assert_int_equal(st, VIRTIO_BLK_S_UNSUPP);
}

static void test_bad_headers(void **state)
{
    (void)state;
    VirtqChain c;
    uint8_t st;
    /* A header of 8 bytes. */
    fg_desc(g, 0, HDR, 8, VIRTQ_DESC_F_NEXT, 1);
    fg_desc(g, 1, STATUS, 1, VIRTQ_DESC_F_WRITE, 0);
    fg_publish(g, 0);
    assert_int_equal(virtq_pop(&g->vq, &c), VIRTQ_CHAIN);
    assert_int_equal(virtio_blk_handle_request(blk, &g->vq, &c), 1);
    guest_memory_read(&g->mem, STATUS, &st, 1);
    assert_int_equal(st, VIRTIO_BLK_S_IOERR);
    /* No writable byte at all: nothing written, used length 0. */
    fg_desc(g, 0, HDR, 16, 0, 0);
    fg_publish(g, 0);
    assert_int_equal(virtq_pop(&g->vq, &c), VIRTQ_CHAIN);
    assert_int_equal(virtio_blk_handle_request(blk, &g->vq, &c), 0);
    /* Header split across two descriptors is fine. */
    struct {
        uint32_t type, reserved;
        uint64_t sector;
    } hdr = {VIRTIO_BLK_T_FLUSH, 0, 0};
    guest_memory_write(&g->mem, HDR, &hdr, sizeof(hdr));
    fg_desc(g, 0, HDR, 5, VIRTQ_DESC_F_NEXT, 1);
    fg_desc(g, 1, HDR + 5, 11, VIRTQ_DESC_F_NEXT, 2);
    fg_desc(g, 2, STATUS, 1, VIRTQ_DESC_F_WRITE, 0);
    fg_publish(g, 0);
    assert_int_equal(virtq_pop(&g->vq, &c), VIRTQ_CHAIN);
    assert_int_equal(virtio_blk_handle_request(blk, &g->vq, &c), 1);
    guest_memory_read(&g->mem, STATUS, &st, 1);
    assert_int_equal(st, VIRTIO_BLK_S_OK);
}

/* Data buffers handed over as they are (no virtq_pop checks in front):
 * one that runs past the end of guest RAM is refused with IOERR before the
 * file is touched, for a read and for a write; the chain's other bytes are
 * left alone. */
static void test_buffer_outside_ram(void **state)
{
    (void)state;
    struct {
        uint32_t type, reserved;
        uint64_t sector;
    } hdr = {VIRTIO_BLK_T_IN, 0, 4};
    VirtqBuf bufs[3] = {
        {HDR, 16, false},
        {RAM - 2048, 4096, true},
        {STATUS, 1, true},
    };
    VirtqChain c = {.head = 0, .n_bufs = 3, .bufs = bufs, .n_readable = 1, .readable_len = 16,
                    .writable_len = 4097};
    uint8_t tail[2048], st = 0xee;
    memset(tail, 0x5a, sizeof(tail));
    guest_memory_write(&g->mem, RAM - 2048, tail, sizeof(tail));
    guest_memory_write(&g->mem, HDR, &hdr, sizeof(hdr));
    guest_memory_write(&g->mem, STATUS, &st, 1);
    assert_int_equal(virtio_blk_handle_request(blk, &g->vq, &c), 1);
    guest_memory_read(&g->mem, STATUS, &st, 1);
    assert_int_equal(st, VIRTIO_BLK_S_IOERR);
    uint8_t back[2048];
    guest_memory_read(&g->mem, RAM - 2048, back, sizeof(back));
    assert_memory_equal(back, tail, sizeof(tail));

    hdr.type = VIRTIO_BLK_T_OUT;
    guest_memory_write(&g->mem, HDR, &hdr, sizeof(hdr));
    bufs[1].writable = false;
    c.n_readable = 2;
    c.readable_len = 16 + 4096;
    c.writable_len = 1;
    assert_int_equal(virtio_blk_handle_request(blk, &g->vq, &c), 1);
    guest_memory_read(&g->mem, STATUS, &st, 1);
    assert_int_equal(st, VIRTIO_BLK_S_IOERR);
    int fd = open(path, O_RDONLY);
    uint8_t disk[4096];
    assert_int_equal(pread(fd, disk, sizeof(disk), 4 * 512), sizeof(disk));
    close(fd);
    for (unsigned i = 0; i < sizeof(disk); i++)
        assert_int_equal(disk[i], 0xab);
    VirtioBlkCounters cnt;
    virtio_blk_get_counters(blk, &cnt);
    assert_int_equal(cnt.request_errors, 2);
    assert_int_equal(cnt.read_ops + cnt.write_ops + cnt.io_errors, 0);
}

/* A read scattered over three guest buffers lands in each, in order. */
static void test_scattered_read(void **state)
{
    (void)state;
    struct {
        uint32_t type, reserved;
        uint64_t sector;
    } hdr = {VIRTIO_BLK_T_IN, 0, 0};
    guest_memory_write(&g->mem, HDR, &hdr, sizeof(hdr));
    fg_desc(g, 0, HDR, 16, VIRTQ_DESC_F_NEXT, 1);
    fg_desc(g, 1, BUF + 0x3000, 700, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 2);
    fg_desc(g, 2, BUF + 1, 300, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 3);
    fg_desc(g, 3, BUF + 0x2000, 24, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 4);
    fg_desc(g, 4, STATUS, 1, VIRTQ_DESC_F_WRITE, 0);
    fg_publish(g, 0);
    VirtqChain c;
    assert_int_equal(virtq_pop(&g->vq, &c), VIRTQ_CHAIN);
    assert_int_equal(virtio_blk_handle_request(blk, &g->vq, &c), 1025);
    uint8_t st, a[700], b[300], d[24];
    guest_memory_read(&g->mem, STATUS, &st, 1);
    assert_int_equal(st, VIRTIO_BLK_S_OK);
    guest_memory_read(&g->mem, BUF + 0x3000, a, sizeof(a));
    guest_memory_read(&g->mem, BUF + 1, b, sizeof(b));
    guest_memory_read(&g->mem, BUF + 0x2000, d, sizeof(d));
    for (unsigned i = 0; i < sizeof(a); i++)
        assert_int_equal(a[i], 0xab);
    for (unsigned i = 0; i < sizeof(b); i++)
        assert_int_equal(b[i], 0xab);
    for (unsigned i = 0; i < sizeof(d); i++)
        assert_int_equal(d[i], 0xab);
}

static void test_get_id(void **state)
{
    (void)state;
    uint8_t st, id[32];
    memset(id, 0, sizeof(id));
    guest_memory_write(&g->mem, BUF, id, sizeof(id));
    assert_int_equal(request(VIRTIO_BLK_T_GET_ID, 0, 32, true, &st), 21);
    assert_int_equal(st, VIRTIO_BLK_S_OK);
    guest_memory_read(&g->mem, BUF, id, sizeof(id));
    /* 20 bytes, no terminator, nothing after. */
    assert_memory_equal(id, "serial-0123456789-ab", 20);
    assert_int_equal(id[20], 0);
    assert_int_equal(request(VIRTIO_BLK_T_GET_ID, 0, 4, true, &st), 5);
}

static void test_discard_write_zeroes(void **state)
{
    (void)state;
    uint8_t st;
    struct {
        uint64_t sector;
        uint32_t n, flags;
    } seg = {4, 2, 0};
    guest_memory_write(&g->mem, BUF, &seg, sizeof(seg));
    assert_int_equal(request(VIRTIO_BLK_T_WRITE_ZEROES, 0, 16, false, &st), 1);
    assert_int_equal(st, VIRTIO_BLK_S_OK);
    int fd = open(path, O_RDONLY);
    uint8_t back[1024];
    assert_int_equal(pread(fd, back, sizeof(back), 4 * 512), 1024);
    for (int i = 0; i < 1024; i++)
        assert_int_equal(back[i], 0);
    close(fd);
    assert_int_equal(request(VIRTIO_BLK_T_DISCARD, 0, 16, false, &st), 1);
    assert_int_equal(st, VIRTIO_BLK_S_OK);
    seg.flags = 1; /* unmap is a WRITE_ZEROES flag only */
    guest_memory_write(&g->mem, BUF, &seg, sizeof(seg));
    request(VIRTIO_BLK_T_DISCARD, 0, 16, false, &st);
    assert_int_equal(st, VIRTIO_BLK_S_UNSUPP);
    seg = (typeof(seg)){CAP - 1, 2, 0};
    guest_memory_write(&g->mem, BUF, &seg, sizeof(seg));
    request(VIRTIO_BLK_T_WRITE_ZEROES, 0, 16, false, &st);
    assert_int_equal(st, VIRTIO_BLK_S_IOERR);
    /* Two segments: more than max_discard_seg. */
    request(VIRTIO_BLK_T_DISCARD, 0, 32, false, &st);
    assert_int_equal(st, VIRTIO_BLK_S_IOERR);
}

static void test_readonly(void **state)
{
    (void)state;
    virtio_blk_free(blk);
    blk = open_blk(true, NULL);
    uint8_t st;
    assert_int_equal(request(VIRTIO_BLK_T_OUT, 0, 512, false, &st), 1);
    assert_int_equal(st, VIRTIO_BLK_S_IOERR);
    struct {
        uint64_t sector;
        uint32_t n, flags;
    } seg = {0, 1, 0};
    guest_memory_write(&g->mem, BUF, &seg, sizeof(seg));
    request(VIRTIO_BLK_T_WRITE_ZEROES, 0, 16, false, &st);
    assert_int_equal(st, VIRTIO_BLK_S_IOERR);
    assert_int_equal(request(VIRTIO_BLK_T_IN, 0, 512, true, &st), 513);
    assert_int_equal(st, VIRTIO_BLK_S_OK);
    /* Without serial=, GET_ID answers the device id. */
    uint8_t id[20];
    request(VIRTIO_BLK_T_GET_ID, 0, 20, true, &st);
    guest_memory_read(&g->mem, BUF, id, sizeof(id));
    assert_memory_equal(id, "_disk0", 7);
}

static void test_open_errors(void **state)
{
    (void)state;
    DiskConfig cfg;
    memset(&cfg, 0, sizeof(cfg));
    cfg.path = (char *)"/nonexistent/disk.img";
    char err[256];
    assert_null(virtio_blk_new(&cfg, "x", NULL, err, sizeof(err)));
    assert_non_null(strstr(err, "/nonexistent/disk.img"));
    cfg.path = (char *)"/tmp";
    assert_null(virtio_blk_new(&cfg, "x", NULL, err, sizeof(err)));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_capacity, setup, teardown),
        cmocka_unit_test_setup_teardown(test_write_read, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ranges, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_headers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_buffer_outside_ram, setup, teardown),
        cmocka_unit_test_setup_teardown(test_scattered_read, setup, teardown),
        cmocka_unit_test_setup_teardown(test_get_id, setup, teardown),
        cmocka_unit_test_setup_teardown(test_discard_write_zeroes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_readonly, setup, teardown),
        cmocka_unit_test(test_open_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
