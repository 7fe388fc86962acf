/* SPDX-License-Identifier: Apache-2.0 */
/* Split-ring walking against hostile rings built in a fake guest. */
#include "virtio_test.h"

static FakeGuest *g;

static int setup(void **state)
{
    (void)state;
    g = calloc(1, sizeof(*g));
    fg_init(g, false, true);
    return 0;
}

static int setup_noindirect(void **state)
{
    (void)state;
    g = calloc(1, sizeof(*g));
    fg_init(g, false, false);
    return 0;
}

static int setup_event_idx(void **state)
{
    (void)state;
    g = calloc(1, sizeof(*g));
    fg_init(g, true, true);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    fg_free(g);
    free(g);
    return 0;
}

static void expect_broken(const char *why_part)
{
    VirtqChain c;
    uint64_t before = g->vq.broken;
    assert_int_equal(virtq_pop(&g->vq, &c), VIRTQ_BROKEN);
    assert_int_equal(g->vq.broken, before + 1);
    assert_non_null(g->vq.error);
    if (why_part && !strstr(g->vq.error, why_part))
        fail_msg("error '%s' does not mention '%s'", g->vq.error, why_part);
}

static void test_valid_chain(void **state)
{
    (void)state;
    VirtqChain c;
    assert_int_equal(virtq_pop(&g->vq, &c), VIRTQ_EMPTY);
    fg_desc(g, 3, DATA, 16, VIRTQ_DESC_F_NEXT, 7);
    fg_desc(g, 7, DATA + 0x100, 512, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 1);
    fg_desc(g, 1, DATA + 0x400, 1, VIRTQ_DESC_F_WRITE, 0);
    fg_publish(g, 3);
    assert_true(virtq_has_work(&g->vq));
    assert_int_equal(virtq_pop(&g->vq, &c), VIRTQ_CHAIN);
    assert_int_equal(c.head, 3);
    assert_int_equal(c.n_bufs, 3);
    assert_int_equal(c.n_readable, 1);
    assert_int_equal(c.readable_len, 16);
    assert_int_equal(c.writable_len, 513);
    /* Copies across buffer boundaries, and refuses nothing in range. */
    uint8_t buf[600];
    memset(buf, 0x5a, sizeof(buf));
    assert_int_equal(virtq_chain_write(&g->vq, &c, 0, buf, 513), 513);
    assert_int_equal(virtq_chain_write(&g->vq, &c, 510, buf, 100), 3);
    assert_int_equal(virtq_chain_read(&g->vq, &c, 8, buf, 100), 8);
    assert_int_equal(virtq_push(&g->vq, c.head, 513), 0);
    assert_int_equal(fg_used_idx(g), 1);
    uint32_t elem[2];
    guest_memory_read(&g->mem, USED + 4, elem, 8);
    assert_int_equal(elem[0], 3);
    assert_int_equal(elem[1], 513);
    assert_true(virtq_should_notify(&g->vq));
    /* NO_INTERRUPT is honoured without EVENT_IDX. */
    uint16_t flags = VIRTQ_AVAIL_F_NO_INTERRUPT;
    guest_memory_write(&g->mem, AVAIL, &flags, 2);
    assert_false(virtq_should_notify(&g->vq));
    assert_int_equal(virtq_pop(&g->vq, &c), VIRTQ_EMPTY);
}

static void test_loop(void **state)
{
    (void)state;
    fg_desc(g, 0, DATA, 16, VIRTQ_DESC_F_NEXT, 1);
    fg_desc(g, 1, DATA, 16, VIRTQ_DESC_F_NEXT, 0);
    fg_publish(g, 0);
    expect_broken("longer than the queue");
}

static void test_self_loop_zero_length(void **state)
{
    (void)state;
    /* Zero-length descriptors add no buffer but still count. */
    fg_desc(g, 5, DATA, 0, VIRTQ_DESC_F_NEXT, 5);
    fg_publish(g, 5);
    expect_broken("loop");
}

static void test_too_long(void **state)
{
    (void)state;
    for (uint16_t i = 0; i < QSIZE; i++)
        fg_desc(g, i, DATA + 16ULL * i, 16, i == QSIZE - 1 ? 0 : VIRTQ_DESC_F_NEXT, (uint16_t)(i + 1));
    fg_publish(g, 0);
    VirtqChain c;
    assert_int_equal(virtq_pop(&g->vq, &c), VIRTQ_CHAIN); /* exactly the queue size is fine */
    assert_int_equal(c.n_bufs, QSIZE);
}

static void test_indexes_past_ring(void **state)
{
    (void)state;
    fg_publish(g, QSIZE);
    expect_broken("head");
    g->vq.last_avail = g->avail_idx;
    fg_desc(g, 0, DATA, 16, VIRTQ_DESC_F_NEXT, 0xffff);
    fg_publish(g, 0);
    expect_broken("next");
}

static void test_avail_idx_jump(void **state)
{
    (void)state;
    uint16_t idx = QSIZE + 1;
    guest_memory_write(&g->mem, AVAIL + 2, &idx, 2);
    expect_broken("avail->idx");
    idx = 0xffff; /* wraps: 65535 ahead */
    guest_memory_write(&g->mem, AVAIL + 2, &idx, 2);
    expect_broken("avail->idx");
}

static void test_out_of_ram(void **state)
{
    (void)state;
    const uint64_t bad[][2] = {
        {RAM, 1},             /* just past the end */
        {RAM - 8, 16},        /* straddling the end */
        {0xc0000000ULL, 16},  /* the PCI window */
        {0xfee00000ULL, 4},   /* the LAPIC */
        {UINT64_MAX - 7, 16}, /* wrapping */
        {DATA, 0xffffffffu},  /* huge length */
        {0, 0xffffffffu},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        fg_desc(g, 0, bad[i][0], (uint32_t)bad[i][1], VIRTQ_DESC_F_WRITE, 0);
        fg_publish(g, 0);
        expect_broken("outside guest RAM");
        g->vq.last_avail = g->avail_idx;
    }
}

static void test_indirect(void **state)
{
    (void)state;
    const uint64_t table = DATA + 0x1000;
    fg_desc_at(g, table, 0, DATA, 16, VIRTQ_DESC_F_NEXT, 1);
    fg_desc_at(g, table, 1, DATA + 0x100, 64, VIRTQ_DESC_F_WRITE, 0);
    fg_desc(g, 2, table, 32, VIRTQ_DESC_F_INDIRECT, 0);
    fg_publish(g, 2);
    VirtqChain c;
    assert_int_equal(virtq_pop(&g->vq, &c), VIRTQ_CHAIN);
    assert_int_equal(c.head, 2);
    assert_int_equal(c.n_bufs, 2);
    assert_int_equal(c.writable_len, 64);

    struct {
        uint64_t addr;
        uint32_t len;
        uint16_t flags;
        const char *why;
    } bad[] = {
        {table, 24, VIRTQ_DESC_F_INDIRECT, "multiple of 16"},
        {table, 0, VIRTQ_DESC_F_INDIRECT, "multiple of 16"},
        {table, 16 * (QSIZE + 1), VIRTQ_DESC_F_INDIRECT, "larger than the queue"},
        {RAM - 16, 32, VIRTQ_DESC_F_INDIRECT, "outside guest RAM"},
        {table, 32, VIRTQ_DESC_F_INDIRECT | VIRTQ_DESC_F_NEXT, "NEXT"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        fg_desc(g, 2, bad[i].addr, bad[i].len, bad[i].flags, 0);
        fg_publish(g, 2);
        expect_broken(bad[i].why);
        g->vq.last_avail = g->avail_idx;
    }
    /* Nested: an indirect descriptor inside the table. */
    fg_desc_at(g, table, 0, table, 32, VIRTQ_DESC_F_INDIRECT, 0);
    fg_desc(g, 2, table, 32, VIRTQ_DESC_F_INDIRECT, 0);
    fg_publish(g, 2);
    expect_broken("nested");
    g->vq.last_avail = g->avail_idx;
    /* A loop inside the table. */
    fg_desc_at(g, table, 0, DATA, 16, VIRTQ_DESC_F_NEXT, 1);
    fg_desc_at(g, table, 1, DATA, 16, VIRTQ_DESC_F_NEXT, 0);
    fg_publish(g, 2);
    expect_broken("loop");
    g->vq.last_avail = g->avail_idx;
    /* next past the table's own size. */
    fg_desc_at(g, table, 1, DATA, 16, VIRTQ_DESC_F_NEXT, 2);
    fg_publish(g, 2);
    expect_broken("next");
}

static void test_indirect_not_negotiated(void **state)
{
    (void)state;
    fg_desc(g, 0, DATA + 0x1000, 32, VIRTQ_DESC_F_INDIRECT, 0);
    fg_publish(g, 0);
    expect_broken("VIRTIO_F_INDIRECT_DESC");
}

static void test_direction(void **state)
{
    (void)state;
    fg_desc(g, 0, DATA, 16, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 1);
    fg_desc(g, 1, DATA + 0x100, 16, 0, 0);
    fg_publish(g, 0);
    expect_broken("readable buffer after");
    g->vq.last_avail = g->avail_idx;
    /* Writes never land in read-only buffers: chain_write only walks the
     * writable part, so a chain with none writes nothing. */
    fg_desc(g, 0, DATA, 16, 0, 0);
    fg_publish(g, 0);
    VirtqChain c;
    assert_int_equal(virtq_pop(&g->vq, &c), VIRTQ_CHAIN);
    uint8_t junk[16] = {1};
    assert_int_equal(virtq_chain_write(&g->vq, &c, 0, junk, 16), 0);
}

static void test_bad_rings(void **state)
{
    (void)state;
    Virtqueue vq;
    memset(&vq, 0, sizeof(vq));
    virtq_reset(&vq, QSIZE);
    vq.desc = DESC;
    vq.avail = AVAIL;
    vq.used = USED;
    vq.size = 3;
    assert_int_equal(virtq_activate(&vq, &g->mem, false, false), -EINVAL);
    vq.size = 0;
    assert_int_equal(virtq_activate(&vq, &g->mem, false, false), -EINVAL);
    vq.size = QSIZE;
    vq.desc = DESC + 8;
    assert_int_equal(virtq_activate(&vq, &g->mem, false, false), -EINVAL);
    vq.desc = RAM - 16;
    assert_int_equal(virtq_activate(&vq, &g->mem, false, false), -EINVAL);
    vq.desc = DESC;
    vq.used = 0xfee00000ULL;
    assert_int_equal(virtq_activate(&vq, &g->mem, false, false), -EINVAL);
    vq.used = USED;
    assert_int_equal(virtq_activate(&vq, &g->mem, false, false), 0);
    virtq_free(&vq);
    /* A queue never activated refuses to pop. */
    Virtqueue idle;
    memset(&idle, 0, sizeof(idle));
    virtq_reset(&idle, QSIZE);
    VirtqChain c;
    assert_int_equal(virtq_pop(&idle, &c), VIRTQ_BROKEN);
}

static void test_event_idx(void **state)
{
    (void)state;
    VirtqChain c;
    for (int i = 0; i < 3; i++) {
        fg_desc(g, (uint16_t)i, DATA, 8, VIRTQ_DESC_F_WRITE, 0);
        fg_publish(g, (uint16_t)i);
    }
    /* used_event = 1: interrupt once used->idx passes 1. */
    uint16_t used_event = 1;
    guest_memory_write(&g->mem, AVAIL + 4 + 2 * QSIZE, &used_event, 2);
    assert_int_equal(virtq_pop(&g->vq, &c), VIRTQ_CHAIN);
    virtq_push(&g->vq, c.head, 0);
    assert_true(virtq_should_notify(&g->vq)); /* first one always */
    assert_int_equal(virtq_pop(&g->vq, &c), VIRTQ_CHAIN);
    virtq_push(&g->vq, c.head, 0);
    assert_true(virtq_should_notify(&g->vq)); /* 1 -> 2 crosses used_event 1 */
    assert_int_equal(virtq_pop(&g->vq, &c), VIRTQ_CHAIN);
    virtq_push(&g->vq, c.head, 0);
    assert_false(virtq_should_notify(&g->vq)); /* 2 -> 3: not asked */
    virtq_update_avail_event(&g->vq);
    uint16_t avail_event;
    guest_memory_read(&g->mem, USED + 4 + 8 * QSIZE, &avail_event, 2);
    assert_int_equal(avail_event, 3);
}

/* Random garbage in every ring byte: pop must end (chain or broken) and
 * never report a buffer outside RAM. */
static void test_random_rings(void **state)
{
    (void)state;
    srand(7);
    for (int round = 0; round < 3000; round++) {
        uint8_t junk[16 * QSIZE];
        for (size_t i = 0; i < sizeof(junk); i++)
            junk[i] = (uint8_t)rand();
        /* Keep addresses near RAM half the time so chains get long. */
        for (int i = 0; i < QSIZE; i++)
            if (rand() & 1)
                junk[16 * i + 4] = junk[16 * i + 5] = junk[16 * i + 6] = junk[16 * i + 7] = 0;
        guest_memory_write(&g->mem, DESC, junk, sizeof(junk));
        uint16_t head = (uint16_t)(rand() % (QSIZE + 2));
        fg_publish(g, head);
        VirtqChain c;
        VirtqPop p = virtq_pop(&g->vq, &c);
        if (p == VIRTQ_CHAIN) {
            assert_true(c.n_bufs <= QSIZE);
            for (uint32_t i = 0; i < c.n_bufs; i++)
                assert_true(guest_memory_range_ok(&g->mem, c.bufs[i].addr, c.bufs[i].len));
        } else {
            assert_int_equal(p, VIRTQ_BROKEN);
            g->vq.last_avail = g->avail_idx;
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_valid_chain, setup, teardown),
        cmocka_unit_test_setup_teardown(test_loop, setup, teardown),
        cmocka_unit_test_setup_teardown(test_self_loop_zero_length, setup, teardown),
        cmocka_unit_test_setup_teardown(test_too_long, setup, teardown),
        cmocka_unit_test_setup_teardown(test_indexes_past_ring, setup, teardown),
        cmocka_unit_test_setup_teardown(test_avail_idx_jump, setup, teardown),
        cmocka_unit_test_setup_teardown(test_out_of_ram, setup, teardown),
        cmocka_unit_test_setup_teardown(test_indirect, setup, teardown),
        cmocka_unit_test_setup_teardown(test_indirect_not_negotiated, setup_noindirect, teardown),
        cmocka_unit_test_setup_teardown(test_direction, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_rings, setup, teardown),
        cmocka_unit_test_setup_teardown(test_event_idx, setup_event_idx, teardown),
        cmocka_unit_test_setup_teardown(test_random_rings, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
