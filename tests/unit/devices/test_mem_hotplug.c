/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The memory hotplug controller through its port-I/O registers, as the
 * DSDT's memory devices' _STA and the GED's _EVT read them: slots plugged
 * from boot, plugs announced once (read to clear, one GED pulse each) in the
 * right word and bit, snapshots of what the guest has not read, and hostile
 * accesses (odd widths and offsets, any write) that change nothing but a
 * counter.
 */
#include <errno.h>
#include <stdlib.h>

#include "device_test.h"
#include "mem_hotplug.h"
#include "pci_hotplug.h"

typedef struct Fixture {
    IrqCapture irq;
    IrqLine line;
    MemHotplug *h;
    const BusDevice *dev;
} Fixture;

static int setup(void **state)
{
    Fixture *f = calloc(1, sizeof(*f));
    f->line = irq_capture_line(&f->irq, PCI_HOTPLUG_GSI);
    f->h = mem_hotplug_new(&f->line, 1);
    assert_non_null(f->h);
    f->dev = mem_hotplug_bus_device(f->h);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    Fixture *f = *state;
    mem_hotplug_free(f->h);
    free(f);
    return 0;
}

static MemHotplugCounters counters(Fixture *f)
{
    MemHotplugCounters c;
    mem_hotplug_get_counters(f->h, &c);
    return c;
}

static void test_plug_announced_once(void **state)
{
    Fixture *f = *state;
    assert_int_equal(dev_in32(f->dev, MEM_HOTPLUG_MPR), 0x1);
    assert_int_equal(dev_in32(f->dev, MEM_HOTPLUG_MIN), 0);
    mem_hotplug_plug(f->h, 1);
    mem_hotplug_plug(f->h, 40);
    assert_int_equal(f->irq.raises, 2);
    assert_int_equal(irq_level(&f->irq), 0);
    assert_int_equal(dev_in32(f->dev, MEM_HOTPLUG_MPR), 0x3);
    assert_int_equal(dev_in32(f->dev, MEM_HOTPLUG_MPR + 4), 1u << 8);
    assert_int_equal(dev_in32(f->dev, MEM_HOTPLUG_MIN), 1u << 1);
    assert_int_equal(dev_in32(f->dev, MEM_HOTPLUG_MIN), 0);
    assert_int_equal(dev_in32(f->dev, MEM_HOTPLUG_MIN + 4), 1u << 8);
    mem_hotplug_plug(f->h, MEM_HOTPLUG_SLOTS); /* past the last slot: ignored */
    assert_int_equal(f->irq.raises, 2);
    assert_int_equal(counters(f).plugs, 2);
    /* A guest reset drops what was not read; plugged stays plugged. */
    mem_hotplug_plug(f->h, 2);
    mem_hotplug_reset(f->h);
    assert_int_equal(dev_in32(f->dev, MEM_HOTPLUG_MIN), 0);
    assert_int_equal(dev_in32(f->dev, MEM_HOTPLUG_MPR), 0x7);
}

static void test_hostile_accesses(void **state)
{
    Fixture *f = *state;
    mem_hotplug_plug(f->h, 3);
    uint8_t b[4] = {0xff, 0xff, 0xff, 0xff};
    for (uint32_t off = 0; off < MEM_HOTPLUG_PIO_LEN; off += 4)
        f->dev->write(f->dev->opaque, off, b, 4);
    uint8_t r[4] = {0};
    f->dev->read(f->dev->opaque, MEM_HOTPLUG_MIN, r, 2);
    assert_int_equal(r[0], 0xff);
    f->dev->read(f->dev->opaque, MEM_HOTPLUG_MIN + 2, r, 4);
    assert_int_equal(counters(f).bad_accesses, MEM_HOTPLUG_PIO_LEN / 4 + 2);
    assert_int_equal(dev_in32(f->dev, MEM_HOTPLUG_MIN), 1u << 3);
    assert_int_equal(dev_in32(f->dev, MEM_HOTPLUG_MPR), 0x9);
}

static void test_snapshot(void **state)
{
    Fixture *f = *state;
    mem_hotplug_plug(f->h, 1);
    SectionFile file;
    SnapshotReader r;
    mem_hotplug_save(f->h, section_file_begin(&file, SNAPSHOT_SEC_DEV_MEM_HOTPLUG));
    section_file_open(&file, &r);
    MemHotplug *restored = mem_hotplug_new(&f->line, 2);
    assert_int_equal(mem_hotplug_load(restored, &r), 0);
    assert_true(snapshot_reader_done(&r));
    assert_int_equal(dev_in32(mem_hotplug_bus_device(restored), MEM_HOTPLUG_MIN), 1u << 1);
    mem_hotplug_free(restored);
    section_file_free(&file);
    /* Restored with other slots plugged: refused, nothing taken. */
    mem_hotplug_save(f->h, section_file_begin(&file, SNAPSHOT_SEC_DEV_MEM_HOTPLUG));
    section_file_open(&file, &r);
    restored = mem_hotplug_new(&f->line, 3);
    assert_int_equal(mem_hotplug_load(restored, &r), -EINVAL);
    assert_int_equal(dev_in32(mem_hotplug_bus_device(restored), MEM_HOTPLUG_MIN), 0);
    mem_hotplug_free(restored);
    section_file_free(&file);
}

static void test_too_many_slots(void **state)
{
    (void)state;
    IrqCapture irq = {0};
    IrqLine line = irq_capture_line(&irq, PCI_HOTPLUG_GSI);
    errno = 0;
    assert_null(mem_hotplug_new(&line, MEM_HOTPLUG_SLOTS + 1));
    assert_int_equal(errno, EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_plug_announced_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hostile_accesses, setup, teardown),
        cmocka_unit_test_setup_teardown(test_snapshot, setup, teardown),
        cmocka_unit_test(test_too_many_slots),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
