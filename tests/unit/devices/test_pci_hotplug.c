/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The ACPI PCI hotplug controller through its port-I/O registers, as the
 * DSDT's _EVT and _EJ0 drive it: plug and unplug announcements (read to
 * clear, one GED pulse each), ejects handed to the owner through the
 * eventfd, and hostile guest writes (slot 0, empty slots, odd widths,
 * writes to the read-only registers) that change nothing but a counter.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>

#include "device_test.h"
#include "pci_hotplug.h"

typedef struct Fixture {
    IrqCapture irq;
    IrqLine line;
    PciHotplug *h;
    const BusDevice *dev;
} Fixture;

static int setup(void **state)
{
    Fixture *f = calloc(1, sizeof(*f));
    f->line = irq_capture_line(&f->irq, PCI_HOTPLUG_GSI);
    f->h = pci_hotplug_new(&f->line);
    assert_non_null(f->h);
    f->dev = pci_hotplug_bus_device(f->h);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    Fixture *f = *state;
    pci_hotplug_free(f->h);
    free(f);
    return 0;
}

static PciHotplugCounters counters(Fixture *f)
{
    PciHotplugCounters c;
    pci_hotplug_get_counters(f->h, &c);
    return c;
}

static bool eject_pending(Fixture *f)
{
    struct pollfd p = {.fd = pci_hotplug_eject_fd(f->h), .events = POLLIN};
    return poll(&p, 1, 0) == 1;
}

static void test_plug_announced_once(void **state)
{
    Fixture *f = *state;
    assert_int_equal(dev_in32(f->dev, PCI_HOTPLUG_PCIU), 0);
    pci_hotplug_plug(f->h, 3);
    pci_hotplug_plug(f->h, 5);
    /* One edge per announcement, the line left low. */
    assert_int_equal(f->irq.raises, 2);
    assert_int_equal(irq_level(&f->irq), 0);
    assert_int_equal(f->irq.gsi, PCI_HOTPLUG_GSI);
    assert_int_equal(dev_in32(f->dev, PCI_HOTPLUG_PCIU), (1u << 3) | (1u << 5));
    assert_int_equal(dev_in32(f->dev, PCI_HOTPLUG_PCIU), 0); /* read to clear */
    assert_int_equal(dev_in32(f->dev, PCI_HOTPLUG_PCID), 0);
    assert_int_equal(counters(f).plugs, 2);
    /* Slot 0 (host bridge) and slots past 31 are never plugged. */
    pci_hotplug_plug(f->h, 0);
    pci_hotplug_plug(f->h, 32);
    assert_int_equal(f->irq.raises, 2);
    assert_int_equal(dev_in32(f->dev, PCI_HOTPLUG_PCIU), 0);
}

static void test_unplug_then_eject(void **state)
{
    Fixture *f = *state;
    pci_hotplug_set_present(f->h, 4);
    assert_int_equal(pci_hotplug_request_unplug(f->h, 4), 0);
    assert_int_equal(pci_hotplug_request_unplug(f->h, 4), -EALREADY);
    assert_int_equal(pci_hotplug_request_unplug(f->h, 6), -ENOENT); /* nothing there */
    assert_int_equal(pci_hotplug_request_unplug(f->h, 0), -ENOENT);
    assert_int_equal(f->irq.raises, 1);
    assert_int_equal(dev_in32(f->dev, PCI_HOTPLUG_PCID), 1u << 4);
    assert_int_equal(dev_in32(f->dev, PCI_HOTPLUG_PCID), 0);
    assert_false(eject_pending(f));
    assert_int_equal(pci_hotplug_take_ejected(f->h), 0);

    dev_out32(f->dev, PCI_HOTPLUG_B0EJ, 1u << 4);
    assert_true(eject_pending(f));
    assert_int_equal(pci_hotplug_take_ejected(f->h), 1u << 4);
    assert_false(eject_pending(f));
    assert_int_equal(counters(f).ejects, 1);
    /* Gone: a second eject of the slot is refused, so is a new request. */
    dev_out32(f->dev, PCI_HOTPLUG_B0EJ, 1u << 4);
    assert_int_equal(pci_hotplug_take_ejected(f->h), 0);
    assert_int_equal(pci_hotplug_request_unplug(f->h, 4), -ENOENT);
    assert_int_equal(counters(f).bad_accesses, 1);
}

/* The guest may eject a present function it was never asked about (Linux
 * does, from sysfs); only present slots count. */
static void test_guest_initiated_eject(void **state)
{
    Fixture *f = *state;
    pci_hotplug_set_present(f->h, 2);
    pci_hotplug_set_present(f->h, 9);
    dev_out32(f->dev, PCI_HOTPLUG_B0EJ, (1u << 2) | (1u << 9) | (1u << 10) | 1u);
    assert_int_equal(pci_hotplug_take_ejected(f->h), (1u << 2) | (1u << 9));
    assert_int_equal(counters(f).ejects, 2);
    assert_int_equal(counters(f).bad_accesses, 1);
}

static void test_hostile_accesses(void **state)
{
    Fixture *f = *state;
    pci_hotplug_set_present(f->h, 7);
    pci_hotplug_plug(f->h, 8);
    /* Writes to the read-only registers, byte and word accesses, offsets
     * past the registers: refused and counted, state untouched. */
    dev_out32(f->dev, PCI_HOTPLUG_PCIU, UINT32_MAX);
    dev_out32(f->dev, PCI_HOTPLUG_PCID, UINT32_MAX);
    dev_out8(f->dev, PCI_HOTPLUG_B0EJ, 0x80);
    dev_out16(f->dev, PCI_HOTPLUG_B0EJ, 0x80);
    assert_int_equal(dev_in8(f->dev, PCI_HOTPLUG_PCIU), 0xff);
    assert_int_equal(dev_in16(f->dev, PCI_HOTPLUG_PCIU + 2), 0xffff);
    assert_int_equal(counters(f).bad_accesses, 6);
    assert_int_equal(pci_hotplug_take_ejected(f->h), 0);
    assert_int_equal(dev_in32(f->dev, PCI_HOTPLUG_PCIU), 1u << 8);
    assert_int_equal(dev_in32(f->dev, PCI_HOTPLUG_B0EJ), 0);
    fuzz_device(f->dev, PCI_HOTPLUG_PIO_LEN, 2000, 42);
    /* Whatever the fuzzer ejected was present; nothing else. */
    assert_int_equal(pci_hotplug_take_ejected(f->h) & ~((1u << 7) | (1u << 8)), 0);
}

/* A reboot drops announcements the old guest never read; a new request for
 * the same slot is then possible. */
/* A snapshot keeps the announcements the guest has not read and the
 * removals it has not answered, for slots the restored VM has. */
static void test_snapshot(void **state)
{
    Fixture *f = *state;
    pci_hotplug_plug(f->h, 3);
    pci_hotplug_set_present(f->h, 5);
    assert_int_equal(pci_hotplug_request_unplug(f->h, 5), 0);
    SectionFile file;
    SnapshotReader r;
    pci_hotplug_save(f->h, section_file_begin(&file, SNAPSHOT_SEC_DEV_PCI_HOTPLUG));
    section_file_open(&file, &r);
    PciHotplug *restored = pci_hotplug_new(&f->line);
    pci_hotplug_set_present(restored, 3);
    pci_hotplug_set_present(restored, 5);
    assert_int_equal(pci_hotplug_load(restored, &r), 0);
    assert_true(snapshot_reader_done(&r));
    const BusDevice *dev = pci_hotplug_bus_device(restored);
    assert_int_equal(dev_in32(dev, PCI_HOTPLUG_PCIU), 1u << 3);
    assert_int_equal(dev_in32(dev, PCI_HOTPLUG_PCID), 1u << 5);
    assert_int_equal(pci_hotplug_request_unplug(restored, 5), -EALREADY); /* still pending */
    pci_hotplug_free(restored);
    section_file_free(&file);

    /* A slot the restored VM has nothing in: refused, nothing taken. */
    pci_hotplug_save(f->h, section_file_begin(&file, SNAPSHOT_SEC_DEV_PCI_HOTPLUG));
    section_file_open(&file, &r);
    restored = pci_hotplug_new(&f->line);
    pci_hotplug_set_present(restored, 3);
    assert_int_equal(pci_hotplug_load(restored, &r), -EINVAL);
    assert_int_equal(dev_in32(pci_hotplug_bus_device(restored), PCI_HOTPLUG_PCIU), 0);
    pci_hotplug_free(restored);
    section_file_free(&file);
}

static void test_reset(void **state)
{
    Fixture *f = *state;
    pci_hotplug_plug(f->h, 3);
    assert_int_equal(pci_hotplug_request_unplug(f->h, 3), 0);
    pci_hotplug_reset(f->h);
    assert_int_equal(dev_in32(f->dev, PCI_HOTPLUG_PCIU), 0);
    assert_int_equal(dev_in32(f->dev, PCI_HOTPLUG_PCID), 0);
    assert_int_equal(pci_hotplug_request_unplug(f->h, 3), 0);
    assert_int_equal(dev_in32(f->dev, PCI_HOTPLUG_PCID), 1u << 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_plug_announced_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unplug_then_eject, setup, teardown),
        cmocka_unit_test_setup_teardown(test_guest_initiated_eject, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hostile_accesses, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reset, setup, teardown),
        cmocka_unit_test_setup_teardown(test_snapshot, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
