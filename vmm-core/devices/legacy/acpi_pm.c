/* SPDX-License-Identifier: Apache-2.0 */
#include "acpi_pm.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

#include "layout.h"

/* Enables we implement; others read back 0, which tells the OS so. */
#define EN_IMPLEMENTED ACPI_PM1_EN_PWRBTN
/* SCI_EN, BM_RLD and SLP_TYP read back; GBL_RLS and SLP_EN are write-only. */
#define CNT_STORED (ACPI_PM1_CNT_SCI_EN | 0x0002 | ACPI_PM1_CNT_SLP_TYP_MASK)

#define RESET_FULL 0x0e /* ACPI_RESET_VALUE | FULL_RST */

struct AcpiPm {
    pthread_mutex_t lock;
    BusDevice evt_bus, cnt_bus, reset_bus;
    IrqLine sci;
    VmControl control;
    bool sci_level;
    uint16_t sts, en, cnt;
    uint8_t reset_reg;
    AcpiPmCounters ctr;
};

static void update_sci(AcpiPm *pm)
{
    bool level = (pm->sts & pm->en) != 0;
    if (level != pm->sci_level) {
        pm->sci_level = level;
        irq_line_set(&pm->sci, level);
    }
}

/* Byte-wise views of 16-bit registers: an access may be 8, 16 or 32 bits
 * wide and start anywhere in the block. */
static uint8_t reg_byte(uint16_t reg, unsigned byte)
{
    return (uint8_t)(reg >> (8 * byte));
}

static void evt_read(void *opaque, uint64_t offset, uint8_t *data, uint32_t len)
{
    AcpiPm *pm = opaque;
    pthread_mutex_lock(&pm->lock);
    for (uint32_t i = 0; i < len; i++) {
        if (offset >= ACPI_PM_EVT_LEN || i >= ACPI_PM_EVT_LEN - offset) {
            data[i] = 0xff;
            continue;
        }
        unsigned off = (unsigned)(offset + i);
        data[i] = reg_byte(off < 2 ? pm->sts : pm->en, off % 2);
    }
    pthread_mutex_unlock(&pm->lock);
}

static void evt_write(void *opaque, uint64_t offset, const uint8_t *data, uint32_t len)
{
    AcpiPm *pm = opaque;
    pthread_mutex_lock(&pm->lock);
    for (uint32_t i = 0; i < len; i++) {
        if (offset >= ACPI_PM_EVT_LEN || i >= ACPI_PM_EVT_LEN - offset)
            break;
        unsigned off = (unsigned)(offset + i);
        unsigned shift = 8 * (off % 2);
        uint16_t bits = (uint16_t)(data[i] << shift);
        uint16_t lane = (uint16_t)(0xff << shift);
        if (off < 2)
            pm->sts &= (uint16_t)~bits; /* write 1 to clear */
        else
            pm->en = (uint16_t)((pm->en & ~lane) | (bits & EN_IMPLEMENTED));
    }
    update_sci(pm);
    pthread_mutex_unlock(&pm->lock);
}

static void cnt_read(void *opaque, uint64_t offset, uint8_t *data, uint32_t len)
{
    AcpiPm *pm = opaque;
    pthread_mutex_lock(&pm->lock);
    for (uint32_t i = 0; i < len; i++) {
        bool in_range = offset < ACPI_PM_CNT_LEN && i < ACPI_PM_CNT_LEN - offset;
        data[i] = in_range ? reg_byte(pm->cnt, (unsigned)(offset + i)) : 0xff;
    }
    pthread_mutex_unlock(&pm->lock);
}

static void cnt_write(void *opaque, uint64_t offset, const uint8_t *data, uint32_t len)
{
    AcpiPm *pm = opaque;
    pthread_mutex_lock(&pm->lock);
    /* Assemble the whole access first: SLP_TYP and SLP_EN written together
     * are one request, whatever the access width. */
    uint16_t value = pm->cnt, written = 0;
    for (uint32_t i = 0; i < len; i++) {
        if (offset >= ACPI_PM_CNT_LEN || i >= ACPI_PM_CNT_LEN - offset)
            break;
        unsigned shift = 8 * (unsigned)(offset + i);
        value = (uint16_t)((value & ~(0xff << shift)) | (data[i] << shift));
        written |= (uint16_t)(0xff << shift);
    }
    pm->cnt = (uint16_t)((value & CNT_STORED) | ACPI_PM1_CNT_SCI_EN);
    bool sleep = (written & ACPI_PM1_CNT_SLP_EN) && (value & ACPI_PM1_CNT_SLP_EN);
    unsigned slp_typ = (value & ACPI_PM1_CNT_SLP_TYP_MASK) >> ACPI_PM1_CNT_SLP_TYP_SHIFT;
    if (sleep) {
        pm->ctr.sleep_requests++;
        if (slp_typ == ACPI_S5_SLP_TYP)
            vm_control_request(&pm->control, VM_REQUEST_SHUTDOWN);
    }
    pthread_mutex_unlock(&pm->lock);
}

void acpi_pm_reset_write(AcpiPm *pm, uint8_t value)
{
    pthread_mutex_lock(&pm->lock);
    /* RST_CPU (bit 2) is a trigger, not state. */
    pm->reset_reg = value & (uint8_t)~0x04;
    if (value == ACPI_RESET_VALUE || value == RESET_FULL) {
        pm->ctr.resets++;
        vm_control_request(&pm->control, VM_REQUEST_REBOOT);
    }
    pthread_mutex_unlock(&pm->lock);
}

uint8_t acpi_pm_reset_read(AcpiPm *pm)
{
    pthread_mutex_lock(&pm->lock);
    uint8_t v = pm->reset_reg;
    pthread_mutex_unlock(&pm->lock);
    return v;
}

static void reset_bus_read(void *opaque, uint64_t offset, uint8_t *data, uint32_t len)
{
    for (uint32_t i = 0; i < len; i++)
        data[i] = offset == 0 && i == 0 ? acpi_pm_reset_read(opaque) : 0xff;
}

static void reset_bus_write(void *opaque, uint64_t offset, const uint8_t *data, uint32_t len)
{
    /* The register is a byte; a wider write's first byte is what lands on it. */
    if (offset == 0 && len >= 1)
        acpi_pm_reset_write(opaque, data[0]);
}

static void reset_locked(AcpiPm *pm)
{
    pm->sts = pm->en = 0;
    pm->cnt = ACPI_PM1_CNT_SCI_EN;
    pm->reset_reg = 0;
    update_sci(pm);
}

AcpiPm *acpi_pm_new(const IrqLine *sci, const VmControl *control)
{
    AcpiPm *pm = calloc(1, sizeof(*pm));
    if (!pm)
        return NULL;
    pthread_mutex_init(&pm->lock, NULL);
    if (sci)
        pm->sci = *sci;
    if (control)
        pm->control = *control;
    pm->evt_bus = (BusDevice){.name = "acpi-pm1-evt", .opaque = pm, .read = evt_read, .write = evt_write};
    pm->cnt_bus = (BusDevice){.name = "acpi-pm1-cnt", .opaque = pm, .read = cnt_read, .write = cnt_write};
    pm->reset_bus =
        (BusDevice){.name = "acpi-reset", .opaque = pm, .read = reset_bus_read, .write = reset_bus_write};
    reset_locked(pm);
    return pm;
}

void acpi_pm_free(AcpiPm *pm)
{
    if (!pm)
        return;
    pthread_mutex_destroy(&pm->lock);
    free(pm);
}

const BusDevice *acpi_pm_evt_bus_device(AcpiPm *pm)
{
    return &pm->evt_bus;
}

const BusDevice *acpi_pm_cnt_bus_device(AcpiPm *pm)
{
    return &pm->cnt_bus;
}

const BusDevice *acpi_pm_reset_bus_device(AcpiPm *pm)
{
    return &pm->reset_bus;
}

bool acpi_pm_power_button(AcpiPm *pm)
{
    pthread_mutex_lock(&pm->lock);
    pm->sts |= ACPI_PM1_STS_PWRBTN;
    pm->ctr.power_button_presses++;
    update_sci(pm);
    bool listening = pm->en & ACPI_PM1_EN_PWRBTN;
    pthread_mutex_unlock(&pm->lock);
    return listening;
}

void acpi_pm_reset(AcpiPm *pm)
{
    pthread_mutex_lock(&pm->lock);
    reset_locked(pm);
    pthread_mutex_unlock(&pm->lock);
}

void acpi_pm_get_counters(AcpiPm *pm, AcpiPmCounters *out)
{
    pthread_mutex_lock(&pm->lock);
    *out = pm->ctr;
    pthread_mutex_unlock(&pm->lock);
}

void acpi_pm_save(AcpiPm *pm, SnapshotWriter *w)
{
    pthread_mutex_lock(&pm->lock);
    snapshot_put_u16(w, pm->sts);
    snapshot_put_u16(w, pm->en);
    snapshot_put_u16(w, pm->cnt);
    snapshot_put_u8(w, pm->reset_reg);
    snapshot_put_u8(w, pm->sci_level);
    pthread_mutex_unlock(&pm->lock);
}

int acpi_pm_load(AcpiPm *pm, SnapshotReader *r)
{
    uint16_t sts = snapshot_get_u16(r), en = snapshot_get_u16(r), cnt = snapshot_get_u16(r);
    uint8_t reset = snapshot_get_u8(r), level = snapshot_get_u8(r);
    /* The level must agree with status and enables, or the SCI would stick. */
    if (r->failed || level != ((sts & en) != 0))
        return -EINVAL;
    pthread_mutex_lock(&pm->lock);
    pm->sts = sts;
    pm->en = en;
    pm->cnt = cnt;
    pm->reset_reg = reset;
    pm->sci_level = level;
    pthread_mutex_unlock(&pm->lock);
    return 0;
}
