/* SPDX-License-Identifier: Apache-2.0 */
/* A snapshot's state file as someone else may write it. The target first
 * makes the size field and both CRCs right, as anyone able to write the file
 * can, so the mutations reach the section parser and the devices' loaders
 * instead of dying at the checksums. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "acpi_pm.h"
#include "i8042.h"
#include "platform.h"
#include "rtc.h"
#include "serial.h"
#include "snapshot_format.h"

static void store32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void irq_set(void *ctx, uint32_t gsi, int level)
{
    (void)ctx, (void)gsi, (void)level;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static Serial *serial;
    static Rtc *rtc;
    static I8042 *kbd;
    static AcpiPm *pm;
    static VmControl control;
    static IrqLine irq = {.set_level = irq_set};
    if (!serial) {
        ConsoleConfig cfg = {.mode = CONSOLE_MODE_NULL};
        serial = serial_new(&cfg, &irq, NULL);
        rtc = rtc_new(64 << 20, 0);
        kbd = i8042_new(&control);
        pm = acpi_pm_new(&irq, &control);
        if (!serial || !rtc || !kbd || !pm)
            abort();
    }
    /* An exact-size copy: ASan sees any read past the file. */
    uint8_t *buf = malloc(size ? size : 1);
    if (!buf)
        abort();
    memcpy(buf, data, size);
    if (size >= SNAPSHOT_HEADER_SIZE) {
        uint64_t body = size - SNAPSHOT_HEADER_SIZE;
        for (int i = 0; i < 8; i++)
            buf[16 + i] = (uint8_t)(body >> (8 * i));
        store32(buf + 24, snapshot_crc32(0, buf + SNAPSHOT_HEADER_SIZE, (size_t)body));
        store32(buf + 60, snapshot_crc32(0, buf, 60));
    }
    SnapshotState s;
    char err[256];
    if (snapshot_state_parse(buf, size, &s, err, sizeof(err)) == 0) {
        SnapshotReader r;
        if (snapshot_reader_open(&r, &s, SNAPSHOT_SEC_DEV_SERIAL, 0))
            (void)serial_load(serial, &r);
        if (snapshot_reader_open(&r, &s, SNAPSHOT_SEC_DEV_RTC, 0))
            (void)rtc_load(rtc, &r);
        if (snapshot_reader_open(&r, &s, SNAPSHOT_SEC_DEV_I8042, 0))
            (void)i8042_load(kbd, &r);
        if (snapshot_reader_open(&r, &s, SNAPSHOT_SEC_DEV_ACPI_PM, 0))
            (void)acpi_pm_load(pm, &r);
        snapshot_state_free(&s);
    }
    free(buf);
    return 0;
}
