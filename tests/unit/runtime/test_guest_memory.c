/* SPDX-License-Identifier: Apache-2.0 */
/* Guest RAM layout and the bounds-checked accessor every device relies on. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "e820.h"
#include "guest_memory.h"
#include "layout.h"

static int create(GuestMemory *m, uint64_t size, bool shared)
{
    MemoryConfig cfg;
    memory_config_init(&cfg);
    cfg.size = size;
    cfg.shared = shared;
    char err[256];
    return guest_memory_create(m, &cfg, err, sizeof(err));
}

static void test_small_ram_is_one_region(void **state)
{
    (void)state;
    GuestMemory m;
    assert_int_equal(create(&m, 64ULL << 20, false), 0);
    assert_int_equal(m.n_regions, 1);
    assert_true(m.regions[0].gpa == 0 && m.regions[0].size == 64ULL << 20);
    assert_true(guest_memory_end_below_4g(&m) == 64ULL << 20);
    assert_int_equal(m.memfd, -1);
    guest_memory_destroy(&m);
}

static void test_large_ram_splits_around_the_hole(void **state)
{
    (void)state;
    GuestMemory m;
    /* MAP_NORESERVE: nothing is touched, so 3.5 GiB costs nothing here. */
    assert_int_equal(create(&m, 3584ULL << 20, false), 0);
    assert_int_equal(m.n_regions, 2);
    assert_true(m.regions[0].gpa == 0 && m.regions[0].size == LAYOUT_MEM_32BIT_GAP_START);
    assert_true(m.regions[1].gpa == LAYOUT_RAM_64BIT_START);
    assert_true(m.regions[1].size == (3584ULL << 20) - LAYOUT_MEM_32BIT_GAP_START);
    assert_true(m.ram_size == 3584ULL << 20);
    assert_true(guest_memory_end_below_4g(&m) == LAYOUT_MEM_32BIT_GAP_START);
    /* The hole itself is not RAM. */
    assert_null(guest_memory_ptr(&m, LAYOUT_MEM_32BIT_GAP_START, 1));
    assert_null(guest_memory_ptr(&m, LAYOUT_IOAPIC_START, 4));
    /* A range that runs from below the hole into it is refused. */
    assert_null(guest_memory_ptr(&m, LAYOUT_MEM_32BIT_GAP_START - 2, 4));
    assert_non_null(guest_memory_ptr(&m, LAYOUT_RAM_64BIT_START, 4096));
    guest_memory_destroy(&m);
}

/* --memory hotplug_size: a reserved region above the rest, of which only
 * the plugged part is RAM; plugs grow it slot by slot up to hotplug_size. */
static void test_hotplug_region(void **state)
{
    (void)state;
    MemoryConfig cfg;
    memory_config_init(&cfg);
    cfg.size = 64ULL << 20;
    cfg.hotplug_size = (OptU64){true, 512ULL << 20};
    cfg.hotplugged_size = (OptU64){true, 128ULL << 20};
    char err[256];
    GuestMemory m;
    assert_int_equal(guest_memory_create(&m, &cfg, err, sizeof(err)), 0);
    const GuestRegion *hp = guest_memory_hotplug_region(&m);
    assert_non_null(hp);
    assert_int_equal(m.n_regions, 2);
    assert_true(hp->gpa == LAYOUT_RAM_64BIT_START && hp->size == 128ULL << 20 && hp->reserved == 512ULL << 20);
    assert_true(hp->file_offset == 64ULL << 20); /* after the rest in a snapshot's memory file */
    assert_true(m.ram_size == 192ULL << 20);
    assert_non_null(guest_memory_ptr(&m, hp->gpa + (128ULL << 20) - 8, 8));
    assert_null(guest_memory_ptr(&m, hp->gpa + (128ULL << 20), 1)); /* reserved, not plugged */
    /* The e820 map leaves it to the ACPI memory devices. */
    X86E820Entry e[X86_E820_MAX_ENTRIES];
    int n = x86_e820_build(&m, e, X86_E820_MAX_ENTRIES);
    assert_true(n > 0);
    for (int i = 0; i < n; i++)
        assert_true(e[i].addr + e[i].size <= hp->gpa || e[i].addr >= hp->gpa + hp->reserved);
    uint64_t gpa = 0;
    assert_int_equal(guest_memory_plug(&m, 256ULL << 20, &gpa), 0);
    assert_true(gpa == hp->gpa + (128ULL << 20));
    assert_non_null(guest_memory_ptr(&m, gpa + (256ULL << 20) - 8, 8));
    assert_true(m.ram_size == 448ULL << 20);
    /* Past hotplug_size, not a whole slot, nothing: refused, nothing changes. */
    assert_int_equal(guest_memory_plug(&m, 256ULL << 20, &gpa), -ENOSPC);
    assert_int_equal(guest_memory_plug(&m, 4096, &gpa), -EINVAL);
    assert_int_equal(guest_memory_plug(&m, 0, &gpa), -EINVAL);
    assert_true(m.ram_size == 448ULL << 20);
    assert_int_equal(guest_memory_plug(&m, 128ULL << 20, &gpa), 0);
    assert_null(guest_memory_ptr(&m, hp->gpa + (512ULL << 20), 1));
    guest_memory_destroy(&m);

    /* Without hotplug_size there is nothing to plug. */
    assert_int_equal(create(&m, 64ULL << 20, false), 0);
    assert_null(guest_memory_hotplug_region(&m));
    assert_int_equal(guest_memory_plug(&m, 128ULL << 20, &gpa), -EINVAL);
    guest_memory_destroy(&m);

    /* Sizes this VMM cannot plug. */
    static const uint64_t bad[][2] = {{100ULL << 20, 0}, {512ULL << 20, 100ULL << 20}, {256ULL << 20, 384ULL << 20},
                                      {(256ULL + 1) * (128ULL << 20), 0}};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cfg.hotplug_size = (OptU64){true, bad[i][0]};
        cfg.hotplugged_size = (OptU64){bad[i][1] != 0, bad[i][1]};
        err[0] = '\0';
        assert_int_equal(guest_memory_create(&m, &cfg, err, sizeof(err)), -EINVAL);
        assert_non_null(strstr(err, "hotplug"));
    }
    cfg.hotplug_size = (OptU64){false, 0};
    cfg.hotplugged_size = (OptU64){true, 128ULL << 20};
    assert_int_equal(guest_memory_create(&m, &cfg, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "needs hotplug_size"));
    cfg.hotplug_size = (OptU64){true, 128ULL << 20};
    cfg.hotplugged_size = (OptU64){false, 0};
    cfg.shared = true;
    assert_int_equal(guest_memory_create(&m, &cfg, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "shared=on"));
}

static void test_accessor_bounds(void **state)
{
    (void)state;
    GuestMemory m;
    uint64_t size = 16ULL << 20;
    assert_int_equal(create(&m, size, false), 0);

    assert_non_null(guest_memory_ptr(&m, 0, size));
    assert_non_null(guest_memory_ptr(&m, size - 1, 1));
    assert_null(guest_memory_ptr(&m, size - 1, 2));
    assert_null(guest_memory_ptr(&m, size, 1));
    assert_null(guest_memory_ptr(&m, 0, 0));
    /* Lengths and addresses chosen so that a naive gpa + len wraps. */
    assert_null(guest_memory_ptr(&m, 1, UINT64_MAX));
    assert_null(guest_memory_ptr(&m, UINT64_MAX, 2));
    assert_null(guest_memory_ptr(&m, UINT64_MAX - 4095, 8192));

    uint8_t out[8] = {1, 2, 3, 4, 5, 6, 7, 8}, in[8] = {0};
    assert_int_equal(guest_memory_write(&m, 0x1000, out, sizeof(out)), 0);
    assert_int_equal(guest_memory_read(&m, 0x1000, in, sizeof(in)), 0);
    assert_memory_equal(in, out, sizeof(out));
    assert_int_equal(guest_memory_write(&m, size - 4, out, sizeof(out)), -EFAULT);
    assert_int_equal(guest_memory_read(&m, size - 4, in, sizeof(in)), -EFAULT);
    assert_false(guest_memory_range_ok(&m, size - 4, 8));
    assert_true(guest_memory_range_ok(&m, size - 8, 8));
    guest_memory_destroy(&m);
}

static void test_clear_zeroes(void **state)
{
    (void)state;
    for (int shared = 0; shared <= 1; shared++) {
        GuestMemory m;
        assert_int_equal(create(&m, 8ULL << 20, shared), 0);
        assert_true(shared ? m.memfd >= 0 : m.memfd == -1);
        uint32_t v = 0xdeadbeef, back = 1;
        assert_int_equal(guest_memory_write(&m, 0x5000, &v, sizeof(v)), 0);
        assert_int_equal(guest_memory_clear(&m), 0);
        assert_int_equal(guest_memory_read(&m, 0x5000, &back, sizeof(back)), 0);
        assert_int_equal(back, 0);
        guest_memory_destroy(&m);
    }
}

static void test_bad_sizes_refused(void **state)
{
    (void)state;
    GuestMemory m;
    assert_int_equal(create(&m, 0, false), -EINVAL);
    assert_int_equal(create(&m, (16ULL << 20) + 1, false), -EINVAL);
    assert_int_equal(create(&m, 4096, false), -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_small_ram_is_one_region),
        cmocka_unit_test(test_large_ram_splits_around_the_hole),
        cmocka_unit_test(test_accessor_bounds),
        cmocka_unit_test(test_hotplug_region),
        cmocka_unit_test(test_clear_zeroes),
        cmocka_unit_test(test_bad_sizes_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
