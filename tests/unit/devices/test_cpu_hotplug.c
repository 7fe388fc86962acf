/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The CPU hotplug controller through its port-I/O registers, as the DSDT's
 * processor _STA methods and the GED's _EVT read them: vCPUs present from
 * boot, additions announced once (read to clear, one GED pulse each) in the
 * right word and bit, and hostile guest accesses (odd widths and offsets,
 * writes to the read-only registers) that change nothing but a counter.
 */
#include <errno.h>
#include <stdlib.h>

#include "cpu_hotplug.h"
#include "device_test.h"
#include "pci_hotplug.h"

typedef struct Fixture {
    IrqCapture irq;
    IrqLine line;
    CpuHotplug *h;
    const BusDevice *dev;
} Fixture;

static int setup(void **state)
{
    Fixture *f = calloc(1, sizeof(*f));
    f->line = irq_capture_line(&f->irq, PCI_HOTPLUG_GSI);
    f->h = cpu_hotplug_new(&f->line, 2);
    assert_non_null(f->h);
    f->dev = cpu_hotplug_bus_device(f->h);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    Fixture *f = *state;
    cpu_hotplug_free(f->h);
    free(f);
    return 0;
}

static CpuHotplugCounters counters(Fixture *f)
{
    CpuHotplugCounters c;
    cpu_hotplug_get_counters(f->h, &c);
    return c;
}

static void test_boot_vcpus_present(void **state)
{
    Fixture *f = *state;
    assert_int_equal(dev_in32(f->dev, CPU_HOTPLUG_CPR), 0x3);
    for (unsigned w = 1; w < 8; w++)
        assert_int_equal(dev_in32(f->dev, CPU_HOTPLUG_CPR + 4 * w), 0);
    for (unsigned w = 0; w < 8; w++)
        assert_int_equal(dev_in32(f->dev, CPU_HOTPLUG_CIN + 4 * w), 0);
    assert_int_equal(f->irq.raises, 0);
}

static void test_plug_announced_once(void **state)
{
    Fixture *f = *state;
    cpu_hotplug_plug(f->h, 2);
    cpu_hotplug_plug(f->h, 33); /* the second word */
    assert_int_equal(f->irq.raises, 2);
    assert_int_equal(irq_level(&f->irq), 0);
    assert_int_equal(dev_in32(f->dev, CPU_HOTPLUG_CPR), 0x7);
    assert_int_equal(dev_in32(f->dev, CPU_HOTPLUG_CPR + 4), 1u << 1);
    assert_int_equal(dev_in32(f->dev, CPU_HOTPLUG_CIN), 1u << 2);
    assert_int_equal(dev_in32(f->dev, CPU_HOTPLUG_CIN), 0); /* read to clear */
    assert_int_equal(dev_in32(f->dev, CPU_HOTPLUG_CIN + 4), 1u << 1);
    assert_int_equal(dev_in32(f->dev, CPU_HOTPLUG_CIN + 4), 0);
    assert_int_equal(dev_in32(f->dev, CPU_HOTPLUG_CPR), 0x7); /* present stays */
    assert_int_equal(counters(f).plugs, 2);
    /* Past the last vCPU the controller can describe: ignored. */
    cpu_hotplug_plug(f->h, CPU_HOTPLUG_MAX_VCPUS);
    assert_int_equal(f->irq.raises, 2);
    assert_int_equal(counters(f).plugs, 2);
}

static void test_reset_drops_announcements(void **state)
{
    Fixture *f = *state;
    cpu_hotplug_plug(f->h, 5);
    cpu_hotplug_reset(f->h);
    assert_int_equal(dev_in32(f->dev, CPU_HOTPLUG_CIN), 0);
    assert_int_equal(dev_in32(f->dev, CPU_HOTPLUG_CPR), 0x3 | 1u << 5);
}

static void test_hostile_accesses(void **state)
{
    Fixture *f = *state;
    cpu_hotplug_plug(f->h, 4);
    uint8_t b[4] = {0xff, 0xff, 0xff, 0xff};
    /* Writes to any register, any width: counted, nothing changes. */
    for (uint32_t off = 0; off < CPU_HOTPLUG_PIO_LEN; off += 4)
        f->dev->write(f->dev->opaque, off, b, 4);
    f->dev->write(f->dev->opaque, 1, b, 1);
    /* Reads that are not aligned dwords float to all ones and clear nothing. */
    uint8_t r[4] = {0};
    f->dev->read(f->dev->opaque, CPU_HOTPLUG_CIN, r, 2);
    assert_int_equal(r[0], 0xff);
    assert_int_equal(r[1], 0xff);
    f->dev->read(f->dev->opaque, CPU_HOTPLUG_CIN + 1, r, 4);
    assert_int_equal(r[3], 0xff);
    assert_int_equal(counters(f).bad_accesses, CPU_HOTPLUG_PIO_LEN / 4 + 1 + 2);
    assert_int_equal(dev_in32(f->dev, CPU_HOTPLUG_CIN), 1u << 4);
    assert_int_equal(dev_in32(f->dev, CPU_HOTPLUG_CPR), 0x3 | 1u << 4);
}

static void test_too_many_present(void **state)
{
    (void)state;
    IrqCapture irq = {0};
    IrqLine line = irq_capture_line(&irq, PCI_HOTPLUG_GSI);
    errno = 0;
    assert_null(cpu_hotplug_new(&line, CPU_HOTPLUG_MAX_VCPUS + 1));
    assert_int_equal(errno, EINVAL);
    CpuHotplug *h = cpu_hotplug_new(&line, CPU_HOTPLUG_MAX_VCPUS);
    assert_non_null(h);
    assert_int_equal(dev_in32(cpu_hotplug_bus_device(h), CPU_HOTPLUG_CPR + 28), UINT32_MAX);
    cpu_hotplug_free(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_boot_vcpus_present, setup, teardown),
        cmocka_unit_test_setup_teardown(test_plug_announced_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reset_drops_announcements, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hostile_accesses, setup, teardown),
        cmocka_unit_test(test_too_many_present),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
