/* SPDX-License-Identifier: Apache-2.0 */
#include "vmm_devices.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "acpi_pm.h"
#include "debug_console.h"
#include "guest_memory.h"
#include "i8042.h"
#include "layout.h"
#include "post.h"
#include "pvpanic.h"
#include "rtc.h"
#include "serial.h"

static int attach(Bus *pio, uint64_t port, uint64_t len, const BusDevice *dev, char *errbuf, size_t errlen)
{
    int r = bus_register(pio, port, len, dev);
    if (r < 0)
        snprintf(errbuf, errlen, "cannot place %s at port 0x%llx: %s", dev->name, (unsigned long long)port,
                 strerror(-r));
    return r;
}

static int created(void *dev, const char *what, char *errbuf, size_t errlen)
{
    if (dev)
        return 0;
    int r = errno ? -errno : -ENOMEM;
    snprintf(errbuf, errlen, "cannot set up %s: %s", what, strerror(-r));
    return r;
}

int vmm_devices_create(VmmDevices *d, const VmConfig *cfg, EventLoop *loop, Vm *vm, VmControl control, Bus *pio,
                       char *errbuf, size_t errlen)
{
    int r;
    memset(d, 0, sizeof(*d));
    d->irq_com1 = (IrqLine){.set_level = vm_irq_line_cb, .ctx = vm, .gsi = IRQ_COM1};
    d->irq_sci = (IrqLine){.set_level = vm_irq_line_cb, .ctx = vm, .gsi = IRQ_ACPI_SCI};

    if (serial_config_enabled(&cfg->serial)) {
        errno = 0;
        d->serial = serial_new(&cfg->serial, &d->irq_com1, loop);
        if ((r = created(d->serial, "--serial", errbuf, errlen)) < 0 ||
            (r = attach(pio, PORT_COM1, SERIAL_PIO_LEN, serial_bus_device(d->serial), errbuf, errlen)) < 0)
            goto fail;
    }

    errno = 0;
    d->i8042 = i8042_new(&control);
    if ((r = created(d->i8042, "the i8042 controller", errbuf, errlen)) < 0 ||
        (r = attach(pio, PORT_I8042_DATA, I8042_PIO_LEN, i8042_bus_device(d->i8042), errbuf, errlen)) < 0)
        goto fail;

    /* CMOS reports the RAM sizes the way a BIOS would. */
    uint64_t below = cfg->memory.size < LAYOUT_MEM_32BIT_GAP_START ? cfg->memory.size : LAYOUT_MEM_32BIT_GAP_START;
    errno = 0;
    d->rtc = rtc_new(below, cfg->memory.size - below);
    if ((r = created(d->rtc, "the CMOS RTC", errbuf, errlen)) < 0 ||
        (r = attach(pio, PORT_RTC, 2, rtc_bus_device(d->rtc), errbuf, errlen)) < 0)
        goto fail;

    errno = 0;
    d->acpi_pm = acpi_pm_new(&d->irq_sci, &control);
    if ((r = created(d->acpi_pm, "the ACPI PM block", errbuf, errlen)) < 0 ||
        (r = attach(pio, PORT_ACPI_PM1A_EVT, 4, acpi_pm_evt_bus_device(d->acpi_pm), errbuf, errlen)) < 0 ||
        (r = attach(pio, PORT_ACPI_PM1A_CNT, 2, acpi_pm_cnt_bus_device(d->acpi_pm), errbuf, errlen)) < 0 ||
        (r = attach(pio, PORT_ACPI_RESET, 1, acpi_pm_reset_bus_device(d->acpi_pm), errbuf, errlen)) < 0)
        goto fail;

    errno = 0;
    d->post = post_new();
    if ((r = created(d->post, "the POST port", errbuf, errlen)) < 0 ||
        (r = attach(pio, PORT_POST, 1, post_bus_device(d->post), errbuf, errlen)) < 0)
        goto fail;

    if (cfg->pvpanic) {
        errno = 0;
        d->pvpanic = pvpanic_new(&control);
        if ((r = created(d->pvpanic, "--pvpanic", errbuf, errlen)) < 0 ||
            (r = attach(pio, PORT_PVPANIC, 1, pvpanic_bus_device(d->pvpanic), errbuf, errlen)) < 0)
            goto fail;
    }

    if (debug_console_config_enabled(&cfg->debug_console)) {
        errno = 0;
        d->debug_console = debug_console_new(&cfg->debug_console, loop);
        if ((r = created(d->debug_console, "--debug-console", errbuf, errlen)) < 0 ||
            (r = attach(pio, debug_console_iobase(d->debug_console), 1, debug_console_bus_device(d->debug_console),
                        errbuf, errlen)) < 0)
            goto fail;
    }
    return 0;

fail:
    vmm_devices_destroy(d);
    return r;
}

void vmm_devices_destroy(VmmDevices *d)
{
    if (d->serial)
        serial_free(d->serial);
    if (d->i8042)
        i8042_free(d->i8042);
    if (d->rtc)
        rtc_free(d->rtc);
    if (d->acpi_pm)
        acpi_pm_free(d->acpi_pm);
    if (d->post)
        post_free(d->post);
    if (d->pvpanic)
        pvpanic_free(d->pvpanic);
    if (d->debug_console)
        debug_console_free(d->debug_console);
    memset(d, 0, sizeof(*d));
}

void vmm_devices_reset(VmmDevices *d)
{
    if (d->serial)
        serial_reset(d->serial);
    if (d->i8042)
        i8042_reset(d->i8042);
    if (d->rtc)
        rtc_reset(d->rtc);
    if (d->acpi_pm)
        acpi_pm_reset(d->acpi_pm);
}

void vmm_devices_power_button(VmmDevices *d)
{
    if (d->acpi_pm)
        acpi_pm_power_button(d->acpi_pm);
}

const char *vmm_devices_serial_pty(const VmmDevices *d)
{
    return d->serial ? serial_pty_path(d->serial) : NULL;
}

static void add_u64(json_object *o, const char *key, uint64_t v)
{
    json_object_object_add(o, key, json_object_new_uint64(v));
}

void vmm_devices_add_counters(const VmmDevices *d, json_object *counters)
{
    if (d->serial) {
        SerialCounters c;
        serial_get_counters(d->serial, &c);
        json_object *o = json_object_new_object();
        add_u64(o, "tx_bytes", c.tx_bytes);
        add_u64(o, "tx_dropped", c.tx_dropped);
        add_u64(o, "rx_bytes", c.rx_bytes);
        add_u64(o, "rx_overruns", c.rx_overruns);
        json_object_object_add(counters, "serial", o);
    }
    if (d->acpi_pm) {
        AcpiPmCounters c;
        acpi_pm_get_counters(d->acpi_pm, &c);
        json_object *o = json_object_new_object();
        add_u64(o, "power_button_presses", c.power_button_presses);
        add_u64(o, "sleep_requests", c.sleep_requests);
        add_u64(o, "resets", c.resets);
        json_object_object_add(counters, "acpi_pm", o);
    }
    if (d->post) {
        PostCounters c;
        post_get_counters(d->post, &c);
        json_object *o = json_object_new_object();
        add_u64(o, "writes", c.writes);
        add_u64(o, "last_code", c.last_code);
        json_object_object_add(counters, "post", o);
    }
    if (d->pvpanic) {
        PvpanicCounters c;
        pvpanic_get_counters(d->pvpanic, &c);
        json_object *o = json_object_new_object();
        add_u64(o, "panics", c.panics);
        add_u64(o, "crash_loaded", c.crash_loaded);
        json_object_object_add(counters, "pvpanic", o);
    }
    if (d->debug_console) {
        DebugConsoleCounters c;
        debug_console_get_counters(d->debug_console, &c);
        json_object *o = json_object_new_object();
        add_u64(o, "out_bytes", c.out_bytes);
        add_u64(o, "out_dropped", c.out_dropped);
        json_object_object_add(counters, "debug_console", o);
    }
}
