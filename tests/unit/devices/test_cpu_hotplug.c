/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The CPU hotplug controller through its port-I/O registers, as the DSDT's
 * processor _STA and _EJ0 methods and the GED's _EVT use them: vCPUs
 * present from boot, additions and removal requests announced once (read to
 * clear, one GED pulse each) in the right word and bit, ejects taken only
 * for vCPUs the host asked to remove, and hostile guest accesses (odd widths
 * and offsets, writes to the read-only registers, ejects nobody asked for)
 * that change nothing but a counter.
 */
#include <errno.h>
#include <poll.h>
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
    assert_int_equal(cpu_hotplug_request_unplug(f->h, 1), 0);
    cpu_hotplug_reset(f->h, 3);
    assert_int_equal(dev_in32(f->dev, CPU_HOTPLUG_CIN), 0);
    assert_int_equal(dev_in32(f->dev, CPU_HOTPLUG_CRM), 0);
    assert_false(cpu_hotplug_unplug_pending(f->h));
    /* The rebooted guest has exactly the vCPUs it boots with. */
    assert_int_equal(dev_in32(f->dev, CPU_HOTPLUG_CPR), 0x7);
}

static bool eject_signalled(Fixture *f)
{
    struct pollfd p = {.fd = cpu_hotplug_eject_fd(f->h), .events = POLLIN};
    return poll(&p, 1, 0) == 1;
}

static void test_unplug_and_eject(void **state)
{
    Fixture *f = *state;
    uint32_t ej[CPU_HOTPLUG_WORDS];
    cpu_hotplug_plug(f->h, 40);
    (void)dev_in32(f->dev, CPU_HOTPLUG_CIN + 4);
    unsigned raises = f->irq.raises;
    assert_int_equal(cpu_hotplug_request_unplug(f->h, 1), 0);
    assert_int_equal(cpu_hotplug_request_unplug(f->h, 40), 0);
    assert_int_equal(f->irq.raises, raises + 2);
    assert_int_equal(cpu_hotplug_request_unplug(f->h, 1), -EALREADY);
    assert_int_equal(cpu_hotplug_request_unplug(f->h, 7), -ENOENT);
    assert_int_equal(cpu_hotplug_request_unplug(f->h, CPU_HOTPLUG_MAX_VCPUS), -ENOENT);
    assert_int_equal(f->irq.raises, raises + 2);
    assert_true(cpu_hotplug_unplug_pending(f->h));
    assert_int_equal(dev_in32(f->dev, CPU_HOTPLUG_CRM), 1u << 1);
    assert_int_equal(dev_in32(f->dev, CPU_HOTPLUG_CRM), 0); /* read to clear */
    assert_int_equal(dev_in32(f->dev, CPU_HOTPLUG_CRM + 4), 1u << 8);
    /* The boot vCPU was not asked for: its eject changes nothing. */
    dev_out32(f->dev, CPU_HOTPLUG_CEJ, 1u << 0);
    assert_int_equal(counters(f).bad_accesses, 1);
    assert_false(eject_signalled(f));
    /* vCPU 1's eject (with a stray bit for vCPU 3): taken, signalled once. */
    dev_out32(f->dev, CPU_HOTPLUG_CEJ, 1u << 1 | 1u << 3);
    assert_int_equal(counters(f).bad_accesses, 2);
    assert_int_equal(counters(f).ejects, 1);
    assert_int_equal(dev_in32(f->dev, CPU_HOTPLUG_CPR), 0x1);
    assert_int_equal(dev_in32(f->dev, CPU_HOTPLUG_CEJ), 0);
    assert_true(eject_signalled(f));
    cpu_hotplug_take_ejected(f->h, ej);
    assert_int_equal(ej[0], 1u << 1);
    assert_int_equal(ej[1], 0);
    assert_false(eject_signalled(f));
    assert_true(cpu_hotplug_unplug_pending(f->h)); /* vCPU 40 still */
    /* Ejected once: a second eject is one nobody asked for. */
    dev_out32(f->dev, CPU_HOTPLUG_CEJ, 1u << 1);
    assert_int_equal(counters(f).bad_accesses, 3);
    /* Called off: the guest's late eject is refused, the vCPU stays. */
    cpu_hotplug_cancel_unplug(f->h, 40);
    assert_false(cpu_hotplug_unplug_pending(f->h));
    dev_out32(f->dev, CPU_HOTPLUG_CEJ + 4, 1u << 8);
    assert_int_equal(counters(f).bad_accesses, 4);
    assert_int_equal(dev_in32(f->dev, CPU_HOTPLUG_CPR + 4), 1u << 8);
    cpu_hotplug_take_ejected(f->h, ej);
    assert_int_equal(ej[0] | ej[1], 0);
    CpuHotplugCounters c = counters(f);
    assert_int_equal(c.unplug_requests, 2);
    assert_int_equal(c.ejects, 1);
    /* Added again after its eject: present and announced as any new one. */
    cpu_hotplug_plug(f->h, 1);
    assert_int_equal(dev_in32(f->dev, CPU_HOTPLUG_CPR), 0x3);
    assert_int_equal(dev_in32(f->dev, CPU_HOTPLUG_CIN), 1u << 1);
}

/* A snapshot keeps the additions the guest has not read (a vCPU added while
 * paused); the load refuses a state whose present vCPUs differ from the
 * restored controller's, or that announces an absent one. */
static void test_snapshot(void **state)
{
    Fixture *f = *state;
    cpu_hotplug_plug(f->h, 2);
    SectionFile file;
    SnapshotReader r;
    cpu_hotplug_save(f->h, section_file_begin(&file, SNAPSHOT_SEC_DEV_CPU_HOTPLUG));
    section_file_open(&file, &r);
    CpuHotplug *restored = cpu_hotplug_new(&f->line, 3);
    assert_int_equal(cpu_hotplug_load(restored, &r), 0);
    assert_true(snapshot_reader_done(&r));
    const BusDevice *dev = cpu_hotplug_bus_device(restored);
    assert_int_equal(dev_in32(dev, CPU_HOTPLUG_CIN), 1u << 2);
    assert_int_equal(dev_in32(dev, CPU_HOTPLUG_CPR), 0x7);
    cpu_hotplug_free(restored);
    section_file_free(&file);

    /* Restored with another vCPU count: refused. */
    cpu_hotplug_save(f->h, section_file_begin(&file, SNAPSHOT_SEC_DEV_CPU_HOTPLUG));
    section_file_open(&file, &r);
    restored = cpu_hotplug_new(&f->line, 2);
    assert_int_equal(cpu_hotplug_load(restored, &r), -EINVAL);
    assert_int_equal(dev_in32(cpu_hotplug_bus_device(restored), CPU_HOTPLUG_CIN), 0);
    cpu_hotplug_free(restored);
    section_file_free(&file);

    /* Hostile: an addition of a vCPU that is not present; a short section. */
    SnapshotWriter *w = section_file_begin(&file, SNAPSHOT_SEC_DEV_CPU_HOTPLUG);
    for (unsigned i = 0; i < CPU_HOTPLUG_WORDS; i++) {
        snapshot_put_u32(w, i == 0 ? 0x3 : 0);
        snapshot_put_u32(w, i == 0 ? 0x4 : 0);
    }
    section_file_open(&file, &r);
    restored = cpu_hotplug_new(&f->line, 2);
    assert_int_equal(cpu_hotplug_load(restored, &r), -EINVAL);
    section_file_free(&file);
    snapshot_put_u32(section_file_begin(&file, SNAPSHOT_SEC_DEV_CPU_HOTPLUG), 0x3);
    section_file_open(&file, &r);
    assert_int_equal(cpu_hotplug_load(restored, &r), -EINVAL);
    assert_int_equal(dev_in32(cpu_hotplug_bus_device(restored), CPU_HOTPLUG_CIN), 0);
    cpu_hotplug_free(restored);
    section_file_free(&file);
}

static void test_hostile_accesses(void **state)
{
    Fixture *f = *state;
    cpu_hotplug_plug(f->h, 4);
    uint8_t b[4] = {0xff, 0xff, 0xff, 0xff};
    /* Writes to any register, any width: counted, nothing changes (an
     * eject with none asked for included). */
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
        cmocka_unit_test_setup_teardown(test_unplug_and_eject, setup, teardown),
        cmocka_unit_test_setup_teardown(test_snapshot, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hostile_accesses, setup, teardown),
        cmocka_unit_test(test_too_many_present),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
