/* SPDX-License-Identifier: Apache-2.0 */
/*
 * virtio-balloon against a fake guest: inflated PFNs and reported ranges
 * read back as zero (the host dropped them), and hostile PFN arrays, ranges
 * and config writes are refused and counted without touching other memory.
 */
#include "virtio_test.h"

#include "balloon.h"

#define PFNS  (DATA + 0x1000)
#define PAGE0 (1ULL << 20) /* pages the tests balloon: 1 MiB up */

typedef struct Fixture {
    FakeGuest g;
    VirtioBalloon *b;
} Fixture;

static int setup_with(void **state, bool reporting)
{
    Fixture *f = calloc(1, sizeof(*f));
    fg_init(&f->g, false, false);
    BalloonConfig cfg = {.size = 1 << 20, .free_page_reporting = reporting};
    char err[256];
    f->b = virtio_balloon_new(&cfg, "_balloon", &f->g.mem, NULL, err, sizeof(err));
    assert_non_null(f->b);
    *state = f;
    return 0;
}

static int setup(void **state)
{
    return setup_with(state, true);
}

static int setup_no_reporting(void **state)
{
    return setup_with(state, false);
}

static int teardown(void **state)
{
    Fixture *f = *state;
    virtio_balloon_free(f->b);
    fg_free(&f->g);
    free(f);
    return 0;
}

static void run(Fixture *f, uint16_t q)
{
    VirtqChain c;
    assert_int_equal(virtq_pop(&f->g.vq, &c), VIRTQ_CHAIN);
    assert_int_equal(virtio_balloon_handle_request(f->b, q, &f->g.vq, &c), 0);
}

static void send_pfns(Fixture *f, uint16_t q, const uint32_t *pfns, uint32_t bytes, uint16_t flags)
{
    guest_memory_write(&f->g.mem, PFNS, pfns, bytes);
    fg_desc(&f->g, 0, PFNS, bytes, flags, 0);
    fg_publish(&f->g, 0);
    run(f, q);
}

static uint8_t byte_at(Fixture *f, uint64_t gpa)
{
    uint8_t v;
    guest_memory_read(&f->g.mem, gpa, &v, 1);
    return v;
}

static void fill(Fixture *f, uint64_t gpa, uint64_t len, uint8_t v)
{
    uint8_t page[4096];
    memset(page, v, sizeof(page));
    for (uint64_t o = 0; o < len; o += sizeof(page))
        guest_memory_write(&f->g.mem, gpa + o, page, sizeof(page));
}

static VirtioBalloonCounters counters(Fixture *f)
{
    VirtioBalloonCounters c;
    virtio_balloon_get_counters(f->b, &c);
    return c;
}

static void test_inflate_deflate(void **state)
{
    Fixture *f = *state;
    fill(f, PAGE0, 3 * 4096, 0xab);
    uint32_t pfns[2] = {(uint32_t)(PAGE0 >> 12), (uint32_t)(PAGE0 >> 12) + 2};
    send_pfns(f, VIRTIO_BALLOON_INFLATE, pfns, sizeof(pfns), 0);
    assert_int_equal(byte_at(f, PAGE0), 0);
    assert_int_equal(byte_at(f, PAGE0 + 4096), 0xab); /* not ballooned: kept */
    assert_int_equal(byte_at(f, PAGE0 + 2 * 4096 + 4095), 0);
    send_pfns(f, VIRTIO_BALLOON_DEFLATE, pfns, sizeof(pfns), 0);
    VirtioBalloonCounters c = counters(f);
    assert_int_equal(c.inflated_pages, 2);
    assert_int_equal(c.deflated_pages, 2);
    assert_int_equal(c.request_errors, 0);
    assert_int_equal(c.target_pages, 256);
}

static void test_hostile_pfns(void **state)
{
    Fixture *f = *state;
    fill(f, PAGE0, 4096, 0xab);
    /* Past RAM, the last partial page, huge: each counted, nothing else touched. */
    uint32_t bad[3] = {0xffffffffu, (uint32_t)(RAM >> 12), (uint32_t)(RAM >> 12) + 1000};
    send_pfns(f, VIRTIO_BALLOON_INFLATE, bad, sizeof(bad), 0);
    assert_int_equal(counters(f).request_errors, 3);
    /* Not a whole number of PFNs: the whole ones are used, the tail counted. */
    uint32_t one[2] = {(uint32_t)(PAGE0 >> 12), 0};
    send_pfns(f, VIRTIO_BALLOON_INFLATE, one, 6, 0);
    assert_int_equal(byte_at(f, PAGE0), 0);
    assert_int_equal(counters(f).request_errors, 4);
    /* Device-writable PFN buffers are the wrong direction: nothing read. */
    fill(f, PAGE0, 4096, 0xab);
    send_pfns(f, VIRTIO_BALLOON_INFLATE, one, 4, VIRTQ_DESC_F_WRITE);
    assert_int_equal(byte_at(f, PAGE0), 0xab);
    assert_int_equal(counters(f).request_errors, 5);
    /* A queue the device does not have. */
    send_pfns(f, 7, one, 4, 0);
    assert_int_equal(counters(f).request_errors, 6);
}

static void test_reporting(void **state)
{
    Fixture *f = *state;
    fill(f, PAGE0, 8 * 4096, 0xcd);
    fg_desc(&f->g, 0, PAGE0, 4 * 4096, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 1);
    fg_desc(&f->g, 1, PAGE0 + 5 * 4096 + 1, 4096, VIRTQ_DESC_F_WRITE, 0); /* unaligned: refused */
    fg_publish(&f->g, 0);
    run(f, VIRTIO_BALLOON_REPORTING);
    assert_int_equal(byte_at(f, PAGE0 + 3 * 4096), 0);
    assert_int_equal(byte_at(f, PAGE0 + 5 * 4096 + 1), 0xcd);
    VirtioBalloonCounters c = counters(f);
    assert_int_equal(c.reported_bytes, 4 * 4096);
    assert_int_equal(c.request_errors, 1);
}

static void test_reporting_not_offered(void **state)
{
    Fixture *f = *state;
    fill(f, PAGE0, 4096, 0xcd);
    fg_desc(&f->g, 0, PAGE0, 4096, VIRTQ_DESC_F_WRITE, 0);
    fg_publish(&f->g, 0);
    run(f, VIRTIO_BALLOON_REPORTING);
    assert_int_equal(byte_at(f, PAGE0), 0xcd);
    assert_int_equal(counters(f).request_errors, 1);
}

static void test_config_writes(void **state)
{
    Fixture *f = *state;
    uint8_t v[4] = {0x34, 0x12, 0, 0};
    virtio_balloon_config_write(f->b, 4, v, 4);
    assert_int_equal(counters(f).actual_pages, 0x1234);
    virtio_balloon_config_write(f->b, 6, v, 1); /* one byte of it */
    assert_int_equal(counters(f).actual_pages, 0x341234);
    /* num_pages is the device's; past the end; straddling. */
    virtio_balloon_config_write(f->b, 0, v, 4);
    virtio_balloon_config_write(f->b, 8, v, 1);
    virtio_balloon_config_write(f->b, 6, v, 4);
    assert_int_equal(counters(f).request_errors, 3);
    assert_int_equal(counters(f).target_pages, 256);
    assert_int_equal(counters(f).actual_pages, 0x341234);
}

/* vm.resize: the target follows, up to the guest's RAM and no further. */
static void test_resize(void **state)
{
    Fixture *f = *state;
    assert_int_equal(virtio_balloon_resize(f->b, f->g.mem.ram_size / 2), 0);
    assert_int_equal(counters(f).target_pages, f->g.mem.ram_size / 2 / 4096);
    assert_int_equal(virtio_balloon_resize(f->b, 4096 + 100), 0); /* rounded down */
    assert_int_equal(counters(f).target_pages, 1);
    assert_int_equal(virtio_balloon_resize(f->b, f->g.mem.ram_size + 4096), -EINVAL);
    assert_int_equal(virtio_balloon_resize(f->b, UINT64_MAX), -EINVAL);
    assert_int_equal(counters(f).target_pages, 1);
    assert_int_equal(virtio_balloon_resize(f->b, f->g.mem.ram_size), 0);
    assert_int_equal(counters(f).target_pages, f->g.mem.ram_size / 4096);
    assert_int_equal(virtio_balloon_resize(f->b, 0), 0);
    assert_int_equal(counters(f).target_pages, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_inflate_deflate, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hostile_pfns, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reporting, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reporting_not_offered, setup_no_reporting, teardown),
        cmocka_unit_test_setup_teardown(test_config_writes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_resize, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
