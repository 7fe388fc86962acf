/* SPDX-License-Identifier: Apache-2.0 */
/*
 * virtio-blk with requests in flight, through the whole device: the PCI
 * transport on a bus, the worker thread and the disk's io_uring. A driver
 * written here sets the queue up through BAR 0, publishes a batch and kicks
 * once, then reads the used ring: completion order, lengths, statuses, the
 * flush ordering, a reset with requests in flight, O_DIRECT with unaligned
 * guest buffers, a buffer leaving guest RAM, and the synchronous fallback
 * when io_uring is off or refused.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <seccomp.h>

#include "blk_pci_driver.h"
#include "rate_limiter.h"
#include "virtqueue.h"

#define RAM      (8ULL << 20)
#define QSIZE    256
#define IMG_SIZE (4u << 20)
#define SECTORS  (IMG_SIZE / 512)
#define MS       1000000ULL
#define RING     0x100000ULL /* desc, then avail at +0x1000, used at +0x2000 */
#define HDRS     0x110000ULL /* request i: header at +32 i, status at +32 i + 16 */
#define BUFS     0x200000ULL /* request i: data at +64 KiB i */

typedef struct Disk {
    VirtioBlk *blk;
    uint64_t bar;
    uint16_t published;
} Disk;

static BlkPciHost *f;

/* Sector s holds bytes (s * 31 + offset) & 0xff. */
static uint8_t pattern(uint64_t sector, unsigned off)
{
    return (uint8_t)(sector * 31 + off);
}

static int setup(void **state)
{
    (void)state;
    f = calloc(1, sizeof(*f));
    /* In the working directory (the build tree), not /tmp: O_DIRECT needs
     * a real file system. */
    int fd = blk_pci_host_init(f, RAM, "vmm-test-blk-async-XXXXXX");
    uint8_t *img = malloc(IMG_SIZE);
    for (uint32_t i = 0; i < IMG_SIZE; i++)
        img[i] = pattern(i / 512, i % 512);
    assert_int_equal(write(fd, img, IMG_SIZE), IMG_SIZE);
    free(img);
    close(fd);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    blk_pci_host_destroy(f);
    free(f);
    return 0;
}

static void bar_write(const Disk *d, uint64_t off, uint64_t v, uint32_t len)
{
    blk_pci_bar_write(f, d->bar, off, v, len);
}

static uint8_t bar_read8(const Disk *d, uint64_t off)
{
    return blk_pci_bar_read8(f, d->bar, off);
}

static void driver_init(Disk *d)
{
    blk_pci_driver_init(f, d->bar, QSIZE, RING, RING + 0x1000, RING + 0x2000);
    d->published = 0;
}

static void open_disk(Disk *d, bool direct, bool disable_io_uring)
{
    DiskConfig cfg;
    memset(&cfg, 0, sizeof(cfg));
    cfg.path = f->path;
    cfg.num_queues = 1;
    cfg.queue_size = QSIZE;
    cfg.direct = direct;
    cfg.disable_io_uring = disable_io_uring;
    VirtioPciConfig tc = {.mem = &f->mem};
    char err[256];
    memset(d, 0, sizeof(*d));
    d->blk = virtio_blk_new(&cfg, "_disk0", &tc, err, sizeof(err));
    if (!d->blk)
        fail_msg("%s", err);
    d->bar = blk_pci_attach(f, d->blk);
    driver_init(d);
}

/* Off the bus first: the next disk of a test may take the same slot. */
static void close_disk(Disk *d)
{
    virtio_pci_detach(virtio_blk_transport(d->blk));
    virtio_blk_free(d->blk);
}

static void put_desc(uint16_t i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
    blk_pci_put_desc(f, RING, i, addr, len, flags, next);
}

static uint64_t hdr_at(unsigned i)
{
    return HDRS + 32ULL * i;
}

static uint64_t status_at(unsigned i)
{
    return hdr_at(i) + 16;
}

static uint64_t buf_at(unsigned i)
{
    return BUFS + 0x10000ULL * i;
}

/* Request i: header, up to three data segments (len 0: none), status, at
 * descriptors 5i..; published, not kicked. Returns its head. */
static uint16_t publish_segs(Disk *d, unsigned i, uint32_t type, uint64_t sector, const uint64_t *addr,
                             const uint32_t *len, unsigned n, bool writable)
{
    struct {
        uint32_t type, reserved;
        uint64_t sector;
    } hdr = {type, 0, sector};
    assert_int_equal(guest_memory_write(&f->mem, hdr_at(i), &hdr, sizeof(hdr)), 0);
    uint8_t st = 0xee;
    assert_int_equal(guest_memory_write(&f->mem, status_at(i), &st, 1), 0);
    uint16_t head = (uint16_t)(5 * i), k = head;
    put_desc(k, hdr_at(i), 16, VIRTQ_DESC_F_NEXT, (uint16_t)(k + 1));
    k++;
    for (unsigned s = 0; s < n; s++, k++)
        put_desc(k, addr[s], len[s], (uint16_t)(VIRTQ_DESC_F_NEXT | (writable ? VIRTQ_DESC_F_WRITE : 0)),
                 (uint16_t)(k + 1));
    put_desc(k, status_at(i), 1, VIRTQ_DESC_F_WRITE, 0);
    uint16_t slot = d->published % QSIZE;
    assert_int_equal(guest_memory_write(&f->mem, RING + 0x1000 + 4 + 2ULL * slot, &head, 2), 0);
    d->published++;
    assert_int_equal(guest_memory_write(&f->mem, RING + 0x1000 + 2, &d->published, 2), 0);
    return head;
}

static uint16_t publish(Disk *d, unsigned i, uint32_t type, uint64_t sector, uint32_t len)
{
    uint64_t a = buf_at(i);
    return publish_segs(d, i, type, sector, &a, &len, len ? 1 : 0, type == VIRTIO_BLK_T_IN || type == VIRTIO_BLK_T_GET_ID);
}

static void kick(const Disk *d)
{
    bar_write(d, 0x3000, 0, 2);
}

static uint16_t used_idx(void)
{
    uint16_t v;
    assert_int_equal(guest_memory_read(&f->mem, RING + 0x2000 + 2, &v, 2), 0);
    return v;
}

static void used_elem(uint16_t n, uint32_t *id, uint32_t *len)
{
    uint32_t e[2];
    assert_int_equal(guest_memory_read(&f->mem, RING + 0x2000 + 4 + 8ULL * (n % QSIZE), e, 8), 0);
    *id = e[0];
    *len = e[1];
}

static void wait_used(uint16_t n)
{
    uint64_t deadline = rate_limiter_now() + 10000 * MS;
    while (used_idx() != n) {
        assert_true(rate_limiter_now() < deadline);
        usleep(200);
    }
}

static uint8_t status_of(unsigned i)
{
    uint8_t st;
    assert_int_equal(guest_memory_read(&f->mem, status_at(i), &st, 1), 0);
    return st;
}

/* Where head landed in the used ring, and with which length. */
static int used_pos(uint16_t n, uint16_t head, uint32_t *len)
{
    int found = -1;
    for (uint16_t k = 0; k < n; k++) {
        uint32_t id, l;
        used_elem(k, &id, &l);
        if (id == head) {
            assert_int_equal(found, -1); /* each chain exactly once */
            found = k;
            *len = l;
        }
    }
    assert_true(found >= 0);
    return found;
}

static void assert_pattern(uint64_t gpa, uint64_t sector, uint32_t len)
{
    uint8_t *b = malloc(len);
    assert_int_equal(guest_memory_read(&f->mem, gpa, b, len), 0);
    for (uint32_t k = 0; k < len; k++)
        if (b[k] != pattern(sector + k / 512, k % 512))
            fail_msg("byte %u of sector %llu", k, (unsigned long long)sector);
    free(b);
}

/* 30 reads and 2 GET_IDs in one batch: every chain is answered once, with
 * its length and data. A GET_ID is answered at once while the reads are
 * still on the ring, so the used ring runs in completion order, not in
 * the order the driver published. want_ring: the disk may use io_uring;
 * io_uring: it really has one (so that ordering is expected). */
static void run_batch(bool want_ring, bool io_uring)
{
    Disk d;
    open_disk(&d, false, !want_ring);
    uint16_t heads[32];
    for (unsigned i = 0; i < 32; i++)
        heads[i] = i == 5 || i == 20 ? publish(&d, i, VIRTIO_BLK_T_GET_ID, 0, VIRTIO_BLK_ID_BYTES)
                                     : publish(&d, i, VIRTIO_BLK_T_IN, (i * 977) % (SECTORS - 32), 16384);
    kick(&d);
    wait_used(32);
    for (unsigned i = 0; i < 32; i++) {
        uint32_t len;
        int pos = used_pos(32, heads[i], &len);
        assert_int_equal(status_of(i), VIRTIO_BLK_S_OK);
        if (i == 5 || i == 20) {
            assert_int_equal(len, VIRTIO_BLK_ID_BYTES + 1);
            /* With the ring, ahead of every read published before it. */
            if (io_uring)
                assert_true(pos == (i == 5 ? 0 : 1));
            else
                assert_int_equal(pos, (int)i);
        } else {
            assert_int_equal(len, 16385);
            assert_pattern(buf_at(i), (i * 977) % (SECTORS - 32), 16384);
        }
    }
    VirtioBlkCounters c;
    virtio_blk_get_counters(d.blk, &c);
    assert_int_equal(c.read_ops, 30);
    assert_int_equal(c.read_bytes, 30 * 16384);
    assert_int_equal(c.get_id_ops, 2);
    assert_int_equal(c.request_errors + c.io_errors, 0);
    VirtioCounters t;
    virtio_pci_get_counters(virtio_blk_transport(d.blk), &t);
    assert_int_equal(t.chains, 32);
    close_disk(&d);
}

static void test_many_in_flight_out_of_order(void **state)
{
    (void)state;
    run_batch(true, true);
}

/* 16 writes, a flush, 4 more writes, in one batch: the flush is answered
 * only after every write before it, and all the data is in the file. */
static void test_flush_after_writes(void **state)
{
    (void)state;
    Disk d;
    open_disk(&d, false, false);
    uint16_t heads[21];
    for (unsigned i = 0; i < 21; i++) {
        if (i == 16) {
            heads[i] = publish(&d, i, VIRTIO_BLK_T_FLUSH, 0, 0);
            continue;
        }
        uint8_t data[8192];
        memset(data, (int)(0x40 + i), sizeof(data));
        assert_int_equal(guest_memory_write(&f->mem, buf_at(i), data, sizeof(data)), 0);
        heads[i] = publish(&d, i, VIRTIO_BLK_T_OUT, 16ULL * i, sizeof(data));
    }
    kick(&d);
    wait_used(21);
    uint32_t len;
    int flush_pos = used_pos(21, heads[16], &len);
    assert_int_equal(len, 1);
    for (unsigned i = 0; i < 21; i++) {
        assert_int_equal(status_of(i), VIRTIO_BLK_S_OK);
        int pos = used_pos(21, heads[i], &len);
        assert_int_equal(len, 1);
        if (i < 16)
            assert_true(pos < flush_pos);
    }
    int fd = open(f->path, O_RDONLY);
    for (unsigned i = 0; i < 21; i++) {
        if (i == 16)
            continue;
        uint8_t back[8192];
        assert_int_equal(pread(fd, back, sizeof(back), (off_t)(16 * 512 * i)), sizeof(back));
        for (unsigned k = 0; k < sizeof(back); k++)
            assert_int_equal(back[k], 0x40 + i);
    }
    close(fd);
    VirtioBlkCounters c;
    virtio_blk_get_counters(d.blk, &c);
    assert_int_equal(c.flush_ops, 1);
    assert_int_equal(c.write_ops, 20);
    close_disk(&d);
}

/* A reset written while 32 reads of 64 KiB are in flight: when the write
 * returns, nothing is pushed any more (the driver may reuse the memory);
 * the device then works again after a new initialisation. */
static void test_reset_with_requests_in_flight(void **state)
{
    (void)state;
    Disk d;
    open_disk(&d, false, false);
    for (unsigned round = 0; round < 5; round++) {
        for (unsigned i = 0; i < 32; i++)
            publish(&d, i, VIRTIO_BLK_T_IN, 128ULL * i, 65536);
        kick(&d);
        usleep(round * 100);
        bar_write(&d, 0x14, 0, 1);
        assert_int_equal(bar_read8(&d, 0x14), 0);
        uint16_t at_reset = used_idx();
        uint8_t st[32];
        for (unsigned i = 0; i < 32; i++)
            st[i] = status_of(i);
        usleep(20000);
        assert_int_equal(used_idx(), at_reset);
        for (unsigned i = 0; i < 32; i++)
            assert_int_equal(status_of(i), st[i]);
        /* A new driver: fresh rings. */
        uint8_t zero[0x3000] = {0};
        assert_int_equal(guest_memory_write(&f->mem, RING, zero, sizeof(zero)), 0);
        driver_init(&d);
    }
    publish(&d, 0, VIRTIO_BLK_T_IN, 7, 4096);
    kick(&d);
    wait_used(1);
    assert_int_equal(status_of(0), VIRTIO_BLK_S_OK);
    assert_pattern(buf_at(0), 7, 4096);
    close_disk(&d);
}

static bool direct_io_works(void)
{
    int fd = open(f->path, O_RDONLY | O_DIRECT);
    if (fd < 0)
        return false;
    close(fd);
    return true;
}

/* direct=on: guest buffers that O_DIRECT cannot take (odd addresses and
 * lengths) go through the bounce buffer, aligned ones straight; both read
 * and write the right bytes. */
static void test_direct_unaligned_falls_back_to_bounce(void **state)
{
    (void)state;
    if (!direct_io_works())
        skip();
    for (int io_uring = 0; io_uring < 2; io_uring++) {
        Disk d;
        open_disk(&d, true, !io_uring);
        uint8_t data[4096];
        for (unsigned k = 0; k < sizeof(data); k++)
            data[k] = (uint8_t)(k * 13 + io_uring);
        const uint64_t odd[3] = {buf_at(0) + 1, buf_at(1) + 77, buf_at(2) + 512};
        const uint32_t odd_len[3] = {1000, 2584, 512};
        for (unsigned s = 0, off = 0; s < 3; off += odd_len[s], s++)
            assert_int_equal(guest_memory_write(&f->mem, odd[s], data + off, odd_len[s]), 0);
        publish_segs(&d, 0, VIRTIO_BLK_T_OUT, 64, odd, odd_len, 3, false);
        /* then an aligned read of the same sectors, and an unaligned one */
        publish(&d, 1, VIRTIO_BLK_T_IN, 64, 4096);
        kick(&d);
        wait_used(2);
        assert_int_equal(status_of(0), VIRTIO_BLK_S_OK);
        assert_int_equal(status_of(1), VIRTIO_BLK_S_OK);
        uint8_t back[4096];
        assert_int_equal(guest_memory_read(&f->mem, buf_at(1), back, sizeof(back)), 0);
        assert_memory_equal(back, data, sizeof(data));
        const uint64_t odd_in[2] = {buf_at(3) + 3, buf_at(4) + 5};
        const uint32_t odd_in_len[2] = {100, 3996};
        publish_segs(&d, 2, VIRTIO_BLK_T_IN, 64, odd_in, odd_in_len, 2, true);
        kick(&d);
        wait_used(3);
        assert_int_equal(status_of(2), VIRTIO_BLK_S_OK);
        uint32_t len;
        used_pos(3, 10, &len);
        assert_int_equal(len, 4097);
        assert_int_equal(guest_memory_read(&f->mem, odd_in[0], back, 100), 0);
        assert_int_equal(guest_memory_read(&f->mem, odd_in[1], back + 100, 3996), 0);
        assert_memory_equal(back, data, sizeof(data));
        VirtioBlkCounters c;
        virtio_blk_get_counters(d.blk, &c);
        assert_int_equal(c.io_errors, 0);
        close_disk(&d);
    }
}

/* A data descriptor that runs past the end of guest RAM: the chain is
 * refused before the file is touched (NEEDS_RESET, nothing used). */
static void test_buffer_leaving_ram_is_refused(void **state)
{
    (void)state;
    Disk d;
    open_disk(&d, false, false);
    const uint64_t addr = RAM - 2048;
    const uint32_t len = 4096;
    publish_segs(&d, 0, VIRTIO_BLK_T_IN, 0, &addr, &len, 1, true);
    kick(&d);
    uint64_t deadline = rate_limiter_now() + 10000 * MS;
    while (!(bar_read8(&d, 0x14) & 0x40))
        assert_true(rate_limiter_now() < deadline);
    assert_int_equal(used_idx(), 0);
    assert_int_equal(status_of(0), 0xee);
    VirtioBlkCounters c;
    virtio_blk_get_counters(d.blk, &c);
    assert_int_equal(c.read_ops, 0);
    close_disk(&d);
}

/* _disable_io_uring: one request after the other, in the driver's order. */
static void test_disabled_io_uring_is_synchronous(void **state)
{
    (void)state;
    run_batch(false, false);
}

/* io_uring_setup refused (as a seccomp filter or kernel.io_uring_disabled
 * would): the disks work synchronously and the log says so once. In a
 * child, whose filter dies with it. */
static void test_io_uring_refused_falls_back(void **state)
{
    (void)state;
    char log[64];
    snprintf(log, sizeof(log), "vmm-test-blk-async-log-XXXXXX");
    int lfd = mkstemp(log);
    assert_true(lfd >= 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(lfd, 2);
        scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
        if (!ctx || seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(io_uring_setup), 0) < 0 ||
            seccomp_load(ctx) < 0)
            _exit(2);
        seccomp_release(ctx);
        /* Two disks ask for a ring in turn (never at once: they would
         * share the test's one ring in guest RAM); the second must work
         * synchronously without saying so again. */
        Disk other;
        open_disk(&other, false, false);
        close_disk(&other);
        run_batch(true, false);
        _exit(0);
    }
    int ws;
    assert_int_equal(waitpid(pid, &ws, 0), pid);
    assert_true(WIFEXITED(ws));
    assert_int_equal(WEXITSTATUS(ws), 0);
    char text[1024] = {0};
    assert_true(pread(lfd, text, sizeof(text) - 1, 0) > 0);
    close(lfd);
    unlink(log);
    const char *msg = "io_uring unavailable (Function not implemented); disks use synchronous I/O";
    char *first = strstr(text, msg);
    assert_non_null(first);
    assert_null(strstr(first + 1, msg));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_many_in_flight_out_of_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_flush_after_writes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reset_with_requests_in_flight, setup, teardown),
        cmocka_unit_test_setup_teardown(test_direct_unaligned_falls_back_to_bounce, setup, teardown),
        cmocka_unit_test_setup_teardown(test_buffer_leaving_ram_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_disabled_io_uring_is_synchronous, setup, teardown),
        cmocka_unit_test_setup_teardown(test_io_uring_refused_falls_back, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
