/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The small platform devices, each driven through its BusDevice: CMOS RTC
 * (host time in BCD and binary, 12/24 h, status registers, CMOS RAM, the
 * guest setting the clock), i8042 reset, ACPI PM1 (S5, SCI from the power
 * button, reset register), pvpanic, port 0x80, the debug console. Each also
 * takes a hostile-access run.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "acpi_pm.h"
#include "debug_console.h"
#include "device_test.h"
#include "i8042.h"
#include "layout.h"
#include "post.h"
#include "pvpanic.h"
#include "rtc.h"

/* ------------------------------------------------------------------ RTC */

static time_t fixed_time;
static time_t fixed_clock(void)
{
    return fixed_time;
}

static uint8_t cmos_read(const BusDevice *d, uint8_t index)
{
    dev_out8(d, 0, index);
    return dev_in8(d, 1);
}

static void cmos_write(const BusDevice *d, uint8_t index, uint8_t v)
{
    dev_out8(d, 0, index);
    dev_out8(d, 1, v);
}

static unsigned bcd(uint8_t v)
{
    return (v >> 4) * 10 + (v & 0x0f);
}

static void test_rtc_fixed_time(void **state)
{
    (void)state;
    Rtc *rtc = rtc_new(512ULL << 20, 0);
    assert_non_null(rtc);
    const BusDevice *d = rtc_bus_device(rtc);
    /* Thu 2024-02-29 13:45:56 UTC */
    fixed_time = 1709214356;
    rtc_set_clock(rtc, fixed_clock);

    /* Power-on: BCD, 24 h, A = 0x26 without UIP, D = valid RAM. */
    assert_int_equal(cmos_read(d, 0x0a), 0x26);
    assert_int_equal(cmos_read(d, 0x0b), 0x02);
    assert_int_equal(cmos_read(d, 0x0c), 0x00);
    assert_int_equal(cmos_read(d, 0x0d), 0x80);
    assert_int_equal(cmos_read(d, 0x00), 0x56);
    assert_int_equal(cmos_read(d, 0x02), 0x45);
    assert_int_equal(cmos_read(d, 0x04), 0x13);
    assert_int_equal(cmos_read(d, 0x06), 0x05); /* Thursday: Sunday = 1 */
    assert_int_equal(cmos_read(d, 0x07), 0x29);
    assert_int_equal(cmos_read(d, 0x08), 0x02);
    assert_int_equal(cmos_read(d, 0x09), 0x24);
    assert_int_equal(cmos_read(d, 0x32), 0x20);
    /* The NMI-mask bit on the index port does not change the register. */
    assert_int_equal(cmos_read(d, 0x80 | 0x09), 0x24);
    /* The index port itself is write-only. */
    assert_int_equal(dev_in8(d, 0), 0xff);

    /* Binary mode. */
    cmos_write(d, 0x0b, 0x06);
    assert_int_equal(cmos_read(d, 0x00), 56);
    assert_int_equal(cmos_read(d, 0x04), 13);
    assert_int_equal(cmos_read(d, 0x09), 24);
    assert_int_equal(cmos_read(d, 0x32), 20);
    /* 12-hour mode: 1 PM. */
    cmos_write(d, 0x0b, 0x04);
    assert_int_equal(cmos_read(d, 0x04), 0x80 | 1);
    cmos_write(d, 0x0b, 0x00);
    assert_int_equal(cmos_read(d, 0x04), 0x81);

    /* The clock runs. */
    cmos_write(d, 0x0b, 0x02);
    fixed_time += 3600 * 11; /* -> 2024-03-01 00:45:56 */
    assert_int_equal(cmos_read(d, 0x04), 0x00);
    assert_int_equal(cmos_read(d, 0x07), 0x01);
    assert_int_equal(cmos_read(d, 0x08), 0x03);

    /* UIP and C/D stay read-only. */
    cmos_write(d, 0x0a, 0xff);
    assert_int_equal(cmos_read(d, 0x0a), 0x7f);
    cmos_write(d, 0x0a, 0x26);
    cmos_write(d, 0x0c, 0xff);
    cmos_write(d, 0x0d, 0x00);
    assert_int_equal(cmos_read(d, 0x0c), 0);
    assert_int_equal(cmos_read(d, 0x0d), 0x80);
    rtc_free(rtc);
}

static void test_rtc_guest_sets_time(void **state)
{
    (void)state;
    Rtc *rtc = rtc_new(0, 0);
    const BusDevice *d = rtc_bus_device(rtc);
    fixed_time = 1709214356; /* 2024-02-29 13:45:56 */
    rtc_set_clock(rtc, fixed_clock);

    /* hwclock's way: SET, write every field, clear SET. */
    cmos_write(d, 0x0b, 0x82);
    cmos_write(d, 0x00, 0x00);
    cmos_write(d, 0x02, 0x30);
    cmos_write(d, 0x04, 0x08);
    cmos_write(d, 0x07, 0x15);
    cmos_write(d, 0x08, 0x06);
    cmos_write(d, 0x09, 0x99);
    cmos_write(d, 0x32, 0x19);
    /* Stopped while SET: reads show what was written. */
    fixed_time += 100;
    assert_int_equal(cmos_read(d, 0x00), 0x00);
    cmos_write(d, 0x0b, 0x02);
    /* 1999-06-15 08:30:00, running from there. */
    assert_int_equal(cmos_read(d, 0x09), 0x99);
    assert_int_equal(cmos_read(d, 0x32), 0x19);
    assert_int_equal(cmos_read(d, 0x04), 0x08);
    fixed_time += 61;
    assert_int_equal(cmos_read(d, 0x02), 0x31);
    assert_int_equal(cmos_read(d, 0x00), 0x01);

    /* One field on a running clock. */
    cmos_write(d, 0x09, 0x05); /* 1905 */
    assert_int_equal(cmos_read(d, 0x09), 0x05);
    assert_int_equal(cmos_read(d, 0x02), 0x31);

    /* Nonsense is ignored: the clock keeps its time. */
    cmos_write(d, 0x08, 0x13);
    assert_int_equal(cmos_read(d, 0x08), 0x06);
    cmos_write(d, 0x04, 0xff);
    assert_int_equal(cmos_read(d, 0x04), 0x08);

    /* A guest reset keeps the guest's time (battery-backed). */
    rtc_reset(rtc);
    assert_int_equal(cmos_read(d, 0x09), 0x05);
    rtc_free(rtc);
}

/* Against the real host clock, BCD and binary. */
static void test_rtc_host_time(void **state)
{
    (void)state;
    Rtc *rtc = rtc_new(0, 0);
    const BusDevice *d = rtc_bus_device(rtc);
    for (int mode = 0; mode < 2; mode++) {
        bool binary = mode == 1;
        cmos_write(d, 0x0b, binary ? 0x06 : 0x02);
        for (int attempt = 0; attempt < 5; attempt++) {
            time_t before = time(NULL);
            unsigned v[7];
            const uint8_t idx[7] = {0x00, 0x02, 0x04, 0x07, 0x08, 0x09, 0x32};
            for (int i = 0; i < 7; i++) {
                uint8_t raw = cmos_read(d, idx[i]);
                v[i] = binary ? raw : bcd(raw);
            }
            if (time(NULL) != before)
                continue; /* a second ticked over mid-read */
            struct tm tm;
            gmtime_r(&before, &tm);
            assert_int_equal(v[0], tm.tm_sec);
            assert_int_equal(v[1], tm.tm_min);
            assert_int_equal(v[2], tm.tm_hour);
            assert_int_equal(v[3], tm.tm_mday);
            assert_int_equal(v[4], tm.tm_mon + 1);
            assert_int_equal(v[5], (tm.tm_year + 1900) % 100);
            assert_int_equal(v[6], (tm.tm_year + 1900) / 100);
            break;
        }
    }
    rtc_free(rtc);
}

static void test_rtc_cmos_ram(void **state)
{
    (void)state;
    /* 3 GiB below 4 GiB, 1 GiB above. */
    Rtc *rtc = rtc_new(3ULL << 30, 1ULL << 30);
    const BusDevice *d = rtc_bus_device(rtc);
    assert_int_equal(cmos_read(d, 0x15) | cmos_read(d, 0x16) << 8, 640);
    assert_int_equal(cmos_read(d, 0x30) | cmos_read(d, 0x31) << 8, 0xfc00);
    unsigned above16 = cmos_read(d, 0x34) | cmos_read(d, 0x35) << 8;
    assert_int_equal(above16, ((3ULL << 30) - (16ULL << 20)) >> 16);
    unsigned above4g = cmos_read(d, 0x5b) | cmos_read(d, 0x5c) << 8 | (unsigned)cmos_read(d, 0x5d) << 16;
    assert_int_equal(above4g, (1ULL << 30) >> 16);

    for (unsigned i = 0x0e; i < 0x80; i++)
        if (i != 0x32)
            cmos_write(d, (uint8_t)i, (uint8_t)(i ^ 0x5a));
    for (unsigned i = 0x0e; i < 0x80; i++)
        if (i != 0x32)
            assert_int_equal(cmos_read(d, (uint8_t)i), (uint8_t)(i ^ 0x5a));
    /* RAM survives a reset. */
    rtc_reset(rtc);
    assert_int_equal(cmos_read(d, 0x40), 0x40 ^ 0x5a);
    /* A 16-bit write: index then data in one access. */
    dev_out16(d, 0, 0x7741);
    assert_int_equal(cmos_read(d, 0x41), 0x77);
    rtc_free(rtc);
}

static void test_rtc_hostile(void **state)
{
    (void)state;
    Rtc *rtc = rtc_new(UINT64_MAX, UINT64_MAX);
    fuzz_device(rtc_bus_device(rtc), RTC_PIO_LEN, 300000, 7);
    rtc_free(rtc);
}

/* ---------------------------------------------------------------- i8042 */

static void test_i8042(void **state)
{
    (void)state;
    ControlCapture cc;
    VmControl ctl = control_capture(&cc);
    I8042 *k = i8042_new(&ctl);
    const BusDevice *d = i8042_bus_device(k);
    const uint64_t data = 0, cmd = PORT_I8042_CMD - PORT_I8042_DATA;

    uint8_t st = dev_in8(d, cmd);
    assert_int_equal(st & 0x01, 0); /* output buffer empty */
    assert_int_equal(st & 0x02, 0); /* input buffer empty: ready for commands */
    assert_int_equal(st & 0x04, 0x04);
    assert_int_equal(dev_in8(d, data), 0);

    /* Self-test and command byte answer through the output buffer. */
    dev_out8(d, cmd, 0xaa);
    assert_int_equal(dev_in8(d, cmd) & 0x01, 0x01);
    assert_int_equal(dev_in8(d, data), 0x55);
    assert_int_equal(dev_in8(d, cmd) & 0x01, 0);
    dev_out8(d, cmd, 0x60);
    dev_out8(d, data, 0x47);
    dev_out8(d, cmd, 0x20);
    assert_int_equal(dev_in8(d, data), 0x47);
    /* Output port write with the reset line high: nothing. */
    dev_out8(d, cmd, 0xd1);
    dev_out8(d, data, 0x03);
    assert_int_equal(cc.total, 0);
    /* Unknown commands and keyboard bytes are swallowed. */
    for (unsigned c = 0; c < 0xf0; c++)
        if (c != 0xd1 && c != 0x60)
            dev_out8(d, cmd, (uint8_t)c);
    dev_out8(d, data, 0xff);
    assert_int_equal(cc.total, 0);
    /* Odd pulse commands leave reset alone. */
    dev_out8(d, cmd, 0xff);
    assert_int_equal(cc.total, 0);

    dev_out8(d, cmd, 0xfe);
    assert_int_equal(cc.count[VM_REQUEST_REBOOT], 1);
    /* Reset through the output port (bit 0 low). */
    dev_out8(d, cmd, 0xd1);
    dev_out8(d, data, 0x02);
    assert_int_equal(cc.count[VM_REQUEST_REBOOT], 2);
    assert_int_equal(cc.total, 2);
    /* Ports 0x61-0x63 inside the range are not the controller's. */
    assert_int_equal(dev_in8(d, 1), 0xff);

    i8042_reset(k);
    assert_int_equal(dev_in8(d, cmd) & 0x01, 0);
    i8042_free(k);
}

static void test_i8042_hostile(void **state)
{
    (void)state;
    ControlCapture cc;
    VmControl ctl = control_capture(&cc);
    I8042 *k = i8042_new(&ctl);
    fuzz_device(i8042_bus_device(k), I8042_PIO_LEN, 300000, 11);
    /* Only ever reboot requests. */
    assert_int_equal(cc.total, cc.count[VM_REQUEST_REBOOT]);
    i8042_free(k);
}

/* -------------------------------------------------------------- ACPI PM */

typedef struct Pm {
    IrqCapture sci;
    ControlCapture cc;
    AcpiPm *pm;
    const BusDevice *evt, *cnt, *rst;
} Pm;

static void pm_open(Pm *p)
{
    IrqLine sci = irq_capture_line(&p->sci, IRQ_ACPI_SCI);
    VmControl ctl = control_capture(&p->cc);
    p->pm = acpi_pm_new(&sci, &ctl);
    assert_non_null(p->pm);
    p->evt = acpi_pm_evt_bus_device(p->pm);
    p->cnt = acpi_pm_cnt_bus_device(p->pm);
    p->rst = acpi_pm_reset_bus_device(p->pm);
}

static void test_acpi_s5(void **state)
{
    (void)state;
    Pm p;
    pm_open(&p);
    /* SCI_EN reads 1 from power-on. */
    assert_int_equal(dev_in16(p.cnt, 0) & 0x0001, 1);
    /* SLP_TYP alone: nothing. */
    dev_out16(p.cnt, 0, ACPI_S5_SLP_TYP << 10);
    assert_int_equal(p.cc.total, 0);
    assert_int_equal(dev_in16(p.cnt, 0), (ACPI_S5_SLP_TYP << 10) | 1);
    /* Other sleep types with SLP_EN: nothing (not implemented). */
    for (unsigned typ = 0; typ < 8; typ++) {
        if (typ == ACPI_S5_SLP_TYP)
            continue;
        dev_out16(p.cnt, 0, (uint16_t)(typ << 10 | 0x2000));
    }
    assert_int_equal(p.cc.total, 0);
    /* S5: shutdown. SLP_EN is write-only. */
    dev_out16(p.cnt, 0, ACPI_S5_SLP_TYP << 10 | 0x2000);
    assert_int_equal(p.cc.count[VM_REQUEST_SHUTDOWN], 1);
    assert_int_equal(dev_in16(p.cnt, 0) & 0x2000, 0);
    /* The high byte alone carries SLP_TYP and SLP_EN. */
    dev_out8(p.cnt, 1, (ACPI_S5_SLP_TYP << 2) | 0x20);
    assert_int_equal(p.cc.count[VM_REQUEST_SHUTDOWN], 2);
    /* Writing only the low byte never sleeps, whatever the high byte holds. */
    dev_out8(p.cnt, 0, 0xff);
    assert_int_equal(p.cc.count[VM_REQUEST_SHUTDOWN], 2);
    assert_int_equal(p.cc.total, 2);
    AcpiPmCounters c;
    acpi_pm_get_counters(p.pm, &c);
    assert_int_equal(c.sleep_requests, 9);
    acpi_pm_free(p.pm);
}

static void test_acpi_power_button(void **state)
{
    (void)state;
    Pm p;
    pm_open(&p);
    /* Not enabled: status set, no SCI. */
    assert_false(acpi_pm_power_button(p.pm));
    assert_int_equal(irq_level(&p.sci), 0);
    assert_int_equal(dev_in16(p.evt, 0), ACPI_PM1_STS_PWRBTN);
    /* Enabling with the status pending raises the SCI. */
    dev_out16(p.evt, 2, ACPI_PM1_EN_PWRBTN);
    assert_int_equal(irq_level(&p.sci), 1);
    assert_int_equal(p.sci.gsi, IRQ_ACPI_SCI);
    /* Writing 0 to STS clears nothing; 1 clears. */
    dev_out16(p.evt, 0, 0);
    assert_int_equal(irq_level(&p.sci), 1);
    dev_out16(p.evt, 0, ACPI_PM1_STS_PWRBTN);
    assert_int_equal(irq_level(&p.sci), 0);
    assert_int_equal(dev_in16(p.evt, 0), 0);

    /* Press with the event enabled: SCI until the guest clears it. */
    assert_true(acpi_pm_power_button(p.pm));
    assert_int_equal(irq_level(&p.sci), 1);
    /* A 32-bit read sees STS and EN together. */
    assert_int_equal(dev_in32(p.evt, 0), (uint32_t)ACPI_PM1_EN_PWRBTN << 16 | ACPI_PM1_STS_PWRBTN);
    /* Disabling the event drops the line too. */
    dev_out16(p.evt, 2, 0);
    assert_int_equal(irq_level(&p.sci), 0);
    dev_out16(p.evt, 2, ACPI_PM1_EN_PWRBTN);
    assert_int_equal(irq_level(&p.sci), 1);
    /* Unimplemented enables read back 0. */
    dev_out16(p.evt, 2, 0xffff);
    assert_int_equal(dev_in16(p.evt, 2), ACPI_PM1_EN_PWRBTN);
    /* The byte lane of STS holding PWRBTN_STS is the high one. */
    dev_out8(p.evt, 1, 0x01);
    assert_int_equal(irq_level(&p.sci), 0);
    assert_int_equal(p.cc.total, 0);

    /* Reset: everything cleared, line down. */
    acpi_pm_power_button(p.pm);
    assert_int_equal(irq_level(&p.sci), 1);
    acpi_pm_reset(p.pm);
    assert_int_equal(irq_level(&p.sci), 0);
    assert_int_equal(dev_in32(p.evt, 0), 0);
    acpi_pm_free(p.pm);
}

static void test_acpi_reset_register(void **state)
{
    (void)state;
    Pm p;
    pm_open(&p);
    for (unsigned v = 0; v < 256; v++)
        if (v != ACPI_RESET_VALUE && v != 0x0e)
            dev_out8(p.rst, 0, (uint8_t)v);
    assert_int_equal(p.cc.total, 0);
    /* Stored (reboot=pci reads it first), RST_CPU excluded. */
    dev_out8(p.rst, 0, 0x02);
    assert_int_equal(dev_in8(p.rst, 0), 0x02);
    dev_out8(p.rst, 0, ACPI_RESET_VALUE);
    assert_int_equal(p.cc.count[VM_REQUEST_REBOOT], 1);
    dev_out8(p.rst, 0, 0x0e);
    assert_int_equal(p.cc.count[VM_REQUEST_REBOOT], 2);
    acpi_pm_reset_write(p.pm, ACPI_RESET_VALUE); /* the PCI host bridge's path */
    assert_int_equal(p.cc.count[VM_REQUEST_REBOOT], 3);
    assert_int_equal(acpi_pm_reset_read(p.pm), 0x02);
    assert_int_equal(p.cc.total, 3);
    acpi_pm_free(p.pm);
}

static void test_acpi_hostile(void **state)
{
    (void)state;
    Pm p;
    pm_open(&p);
    fuzz_device(p.evt, ACPI_PM_EVT_LEN, 200000, 3);
    fuzz_device(p.cnt, ACPI_PM_CNT_LEN, 200000, 5);
    fuzz_device(p.rst, ACPI_PM_RESET_LEN, 50000, 9);
    assert_int_equal(p.cc.count[VM_REQUEST_PANIC], 0);
    /* The SCI level still follows STS & EN. */
    dev_out16(p.evt, 0, 0xffff);
    dev_out16(p.evt, 2, 0);
    assert_int_equal(irq_level(&p.sci), 0);
    acpi_pm_free(p.pm);
}

/* -------------------------------------------------------------- pvpanic */

static void test_pvpanic(void **state)
{
    (void)state;
    ControlCapture cc;
    VmControl ctl = control_capture(&cc);
    Pvpanic *pv = pvpanic_new(&ctl);
    const BusDevice *d = pvpanic_bus_device(pv);
    assert_int_equal(dev_in8(d, 0), PVPANIC_PANICKED | PVPANIC_CRASH_LOADED);
    dev_out8(d, 0, 0);
    dev_out8(d, 0, PVPANIC_CRASH_LOADED);
    assert_int_equal(cc.total, 0);
    dev_out8(d, 0, PVPANIC_PANICKED);
    assert_int_equal(cc.count[VM_REQUEST_PANIC], 1);
    dev_out8(d, 0, 0xff);
    assert_int_equal(cc.count[VM_REQUEST_PANIC], 2);
    PvpanicCounters c;
    pvpanic_get_counters(pv, &c);
    assert_int_equal(c.panics, 2);
    assert_int_equal(c.crash_loaded, 1);
    fuzz_device(d, PVPANIC_PIO_LEN, 10000, 13);
    assert_int_equal(cc.total, cc.count[VM_REQUEST_PANIC]);
    pvpanic_free(pv);
}

/* ----------------------------------------------------------------- POST */

static void test_post(void **state)
{
    (void)state;
    PostPort *p = post_new();
    const BusDevice *d = post_bus_device(p);
    dev_out8(d, 0, 0x12);
    dev_out8(d, 0, 0x34);
    assert_int_equal(dev_in8(d, 0), 0);
    assert_int_equal(dev_in32(d, 0), 0);
    PostCounters c;
    post_get_counters(p, &c);
    assert_int_equal(c.writes, 2);
    assert_int_equal(c.last_code, 0x34);
    fuzz_device(d, POST_PIO_LEN, 10000, 17);
    post_free(p);
}

/* -------------------------------------------------------- debug console */

static void test_debug_console_file(void **state)
{
    (void)state;
    char dir[] = "/tmp/vmm-dbgcon-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[64];
    snprintf(path, sizeof(path), "%s/out", dir);

    DebugConsoleConfig cfg;
    debug_console_config_init(&cfg);
    assert_false(debug_console_config_enabled(&cfg));
    errno = 0;
    assert_null(debug_console_new(&cfg, NULL));
    assert_int_equal(errno, EINVAL);

    cfg.mode = CONSOLE_MODE_FILE;
    cfg.file = path;
    DebugConsole *dc = debug_console_new(&cfg, NULL);
    assert_non_null(dc);
    assert_int_equal(debug_console_iobase(dc), 0xe9);
    const BusDevice *d = debug_console_bus_device(dc);
    assert_int_equal(dev_in8(d, 0), 0xe9);
    for (const char *s = "PASS\n"; *s; s++)
        dev_out8(d, 0, (uint8_t)*s);
    /* A wider write puts only its first byte on the port. */
    dev_out32(d, 0, 0x44434241);
    fuzz_device(d, DEBUG_CONSOLE_PIO_LEN, 0, 19);
    DebugConsoleCounters c;
    debug_console_get_counters(dc, &c);
    debug_console_free(dc);

    int fd = open(path, O_RDONLY);
    char buf[64] = {0};
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    assert_true(n >= 6);
    assert_memory_equal(buf, "PASS\nA", 6);
    assert_int_equal(c.out_bytes, (uint64_t)n);
    assert_int_equal(c.out_dropped, 0);
    unlink(path);
    rmdir(dir);

    /* Another port, null sink. */
    cfg.mode = CONSOLE_MODE_NULL;
    cfg.file = NULL;
    cfg.iobase = (OptU16){.present = true, .value = 0x402};
    dc = debug_console_new(&cfg, NULL);
    assert_non_null(dc);
    assert_int_equal(debug_console_iobase(dc), 0x402);
    dev_out8(debug_console_bus_device(dc), 0, 'x');
    debug_console_get_counters(dc, &c);
    assert_int_equal(c.out_bytes, 1);
    debug_console_free(dc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rtc_fixed_time),
        cmocka_unit_test(test_rtc_guest_sets_time),
        cmocka_unit_test(test_rtc_host_time),
        cmocka_unit_test(test_rtc_cmos_ram),
        cmocka_unit_test(test_rtc_hostile),
        cmocka_unit_test(test_i8042),
        cmocka_unit_test(test_i8042_hostile),
        cmocka_unit_test(test_acpi_s5),
        cmocka_unit_test(test_acpi_power_button),
        cmocka_unit_test(test_acpi_reset_register),
        cmocka_unit_test(test_acpi_hostile),
        cmocka_unit_test(test_pvpanic),
        cmocka_unit_test(test_post),
        cmocka_unit_test(test_debug_console_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
