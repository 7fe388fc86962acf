/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Rate-limited virtio-blk through the whole device: the PCI transport on a
 * bus, the worker thread, the limiter's timer. A driver written here sets
 * the queue up through BAR 0, publishes a batch of requests and kicks once;
 * the batch must take at least as long as the ops bucket allows (a lower
 * bound only: throttling is the behaviour, slowness of the host is not).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "blk_pci_driver.h"
#include "rate_limiter.h"
#include "virtqueue.h"

#define RAM      (2ULL << 20)
#define QSIZE    16
#define REQ_SIZE 64 /* per request: 16-byte header, 20-byte id, status */
#define MS       1000000ULL

/* A disk as its driver sees it: BAR 0 and one split ring in guest RAM. */
typedef struct Disk {
    VirtioBlk *blk;
    uint64_t bar;
    uint64_t desc, avail, used, data;
    uint16_t published;
} Disk;

static BlkPciHost *f;

static int setup(void **state)
{
    (void)state;
    f = calloc(1, sizeof(*f));
    int fd = blk_pci_host_init(f, RAM, "/tmp/vmm-test-throttle-XXXXXX");
    assert_int_equal(ftruncate(fd, 1 << 20), 0);
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

/* The index-th disk: rings in their own 64 KiB of guest RAM. */
static VirtioBlk *new_disk(Disk *d, unsigned index, const RateLimiterConfig *own)
{
    DiskConfig cfg;
    memset(&cfg, 0, sizeof(cfg));
    cfg.path = f->path;
    cfg.num_queues = 1;
    cfg.queue_size = QSIZE;
    if (own) {
        cfg.has_rate_limiter_config = true;
        cfg.rate_limiter_config = *own;
    }
    VirtioPciConfig tc = {.mem = &f->mem};
    char err[256], id[16];
    snprintf(id, sizeof(id), "_disk%u", index);
    memset(d, 0, sizeof(*d));
    d->blk = virtio_blk_new(&cfg, id, &tc, err, sizeof(err));
    if (!d->blk)
        fail_msg("%s", err);
    uint64_t base = 0x100000 + 0x10000ULL * index;
    d->desc = base;
    d->avail = base + 0x1000;
    d->used = base + 0x2000;
    d->data = base + 0x4000;
    return d->blk;
}

static void attach_and_init(Disk *d)
{
    d->bar = blk_pci_attach(f, d->blk);
    blk_pci_driver_init(f, d->bar, QSIZE, d->desc, d->avail, d->used);
}

static void put_desc(const Disk *d, uint16_t i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
    blk_pci_put_desc(f, d->desc, i, addr, len, flags, next);
}

/* n GET_ID requests (two descriptors each), published at once. */
static void publish_get_ids(Disk *d, uint16_t n)
{
    assert_true(n <= QSIZE / 2);
    for (uint16_t i = 0; i < n; i++) {
        uint64_t req = d->data + REQ_SIZE * i;
        struct {
            uint32_t type, reserved;
            uint64_t sector;
        } hdr = {VIRTIO_BLK_T_GET_ID, 0, 0};
        assert_int_equal(guest_memory_write(&f->mem, req, &hdr, sizeof(hdr)), 0);
        uint8_t status = 0xee;
        assert_int_equal(guest_memory_write(&f->mem, req + 16 + VIRTIO_BLK_ID_BYTES, &status, 1), 0);
        put_desc(d, (uint16_t)(2 * i), req, 16, VIRTQ_DESC_F_NEXT, (uint16_t)(2 * i + 1));
        put_desc(d, (uint16_t)(2 * i + 1), req + 16, VIRTIO_BLK_ID_BYTES + 1, VIRTQ_DESC_F_WRITE, 0);
        uint16_t head = (uint16_t)(2 * i), slot = (uint16_t)((d->published + i) % QSIZE);
        assert_int_equal(guest_memory_write(&f->mem, d->avail + 4 + 2ULL * slot, &head, 2), 0);
    }
    d->published = (uint16_t)(d->published + n);
    assert_int_equal(guest_memory_write(&f->mem, d->avail + 2, &d->published, 2), 0);
}

static void kick(const Disk *d)
{
    blk_pci_bar_write(f, d->bar, 0x3000, 0, 2);
}

static uint16_t used_idx(const Disk *d)
{
    uint16_t v;
    assert_int_equal(guest_memory_read(&f->mem, d->used + 2, &v, 2), 0);
    return v;
}

/* Until every published request is used; fails after 10 s. */
static void wait_all_used(const Disk *d)
{
    uint64_t deadline = rate_limiter_now() + 10000 * MS;
    while (used_idx(d) != d->published) {
        assert_true(rate_limiter_now() < deadline);
        usleep(1000);
    }
    for (uint16_t i = 0; i < d->published; i++) {
        uint8_t status;
        guest_memory_read(&f->mem, d->data + REQ_SIZE * i + 16 + VIRTIO_BLK_ID_BYTES, &status, 1);
        assert_int_equal(status, VIRTIO_BLK_S_OK);
    }
}

static uint64_t throttled(const Disk *d)
{
    VirtioBlkCounters c;
    virtio_blk_get_counters(d->blk, &c);
    return c.throttled;
}

static RateLimiterConfig ops_limit(uint64_t size, uint64_t refill_ms)
{
    RateLimiterConfig c;
    memset(&c, 0, sizeof(c));
    c.has_ops = true;
    c.ops.size = size;
    c.ops.refill_time = refill_ms;
    return c;
}

static void test_disk_limit(void **state)
{
    (void)state;
    /* ops_size=2,ops_refill_time=100: the bucket starts with 2, then one
     * op per 50 ms, so 8 requests need at least 6 x 50 ms. */
    RateLimiterConfig rl = ops_limit(2, 100);
    Disk d;
    new_disk(&d, 0, &rl);
    attach_and_init(&d);
    /* From publication on: a device may take published chains before the
     * kick (virtio lets it poll), so that is where the clock starts. */
    uint64_t start = rate_limiter_now();
    publish_get_ids(&d, 8);
    kick(&d);
    wait_all_used(&d);
    uint64_t took = rate_limiter_now() - start;
    print_message("8 requests at 2 per 100 ms took %llu ms\n", (unsigned long long)(took / MS));
    assert_true(took >= 300 * MS);
    assert_true(throttled(&d) >= 1);
    virtio_blk_free(d.blk);
}

static void test_unlimited_disk_is_not_throttled(void **state)
{
    (void)state;
    /* Limits of size 0 are no limits, as in Cloud Hypervisor. */
    RateLimiterConfig rl = ops_limit(0, 100);
    Disk d;
    new_disk(&d, 0, &rl);
    attach_and_init(&d);
    publish_get_ids(&d, 8);
    kick(&d);
    wait_all_used(&d);
    assert_int_equal(throttled(&d), 0);
    virtio_blk_free(d.blk);
}

static void test_group_shared_by_disks(void **state)
{
    (void)state;
    /* Two disks, two workers, one group of 2 ops per 100 ms: 4 requests
     * each are 8 from the same bucket, at least 6 x 50 ms. */
    RateLimiterConfig rl = ops_limit(2, 100);
    RateLimiter *group = rate_limiter_new(&rl);
    Disk d[2];
    char err[256];
    for (unsigned i = 0; i < 2; i++) {
        new_disk(&d[i], i, NULL);
        if (virtio_blk_set_rate_limiter(d[i].blk, group, err, sizeof(err)) < 0)
            fail_msg("%s", err);
        attach_and_init(&d[i]);
    }
    rate_limiter_unref(group);
    /* As above: the clock starts when the first chain is published. */
    uint64_t start = rate_limiter_now();
    for (unsigned i = 0; i < 2; i++)
        publish_get_ids(&d[i], 4);
    kick(&d[0]);
    kick(&d[1]);
    wait_all_used(&d[0]);
    wait_all_used(&d[1]);
    uint64_t took = rate_limiter_now() - start;
    print_message("2 x 4 requests sharing 2 per 100 ms took %llu ms\n", (unsigned long long)(took / MS));
    assert_true(took >= 300 * MS);
    assert_true(throttled(&d[0]) + throttled(&d[1]) >= 1);
    for (unsigned i = 0; i < 2; i++)
        virtio_blk_free(d[i].blk);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_disk_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unlimited_disk_is_not_throttled, setup, teardown),
        cmocka_unit_test_setup_teardown(test_group_shared_by_disks, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
