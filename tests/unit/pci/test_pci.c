/* SPDX-License-Identifier: Apache-2.0 */
/* PCI bus 0 driven through the port and MMIO buses, as a guest would. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "bus.h"
#include "layout.h"
#include "pci.h"

typedef struct Fixture {
    Bus pio, mmio;
    PciBus pci;
    PciDevice dev;
    uint64_t mapped[PCI_NUM_BARS];
    unsigned map_calls;
    unsigned reset_writes;
    uint8_t reset_value;
    unsigned delivered[8];
    bool usable[8];
    uint64_t addr[8];
    uint32_t data[8];
    uint8_t bar_mem[0x8000];
} Fixture;

static void f_bar_read(PciDevice *d, int bar, uint64_t off, uint8_t *data, uint32_t len)
{
    Fixture *f = d->opaque;
    if (pci_msix_bar_access(&d->msix, bar, off, data, len, false))
        return;
    memcpy(data, &f->bar_mem[off], len);
}

static void f_bar_write(PciDevice *d, int bar, uint64_t off, const uint8_t *data, uint32_t len)
{
    Fixture *f = d->opaque;
    if (pci_msix_bar_access(&d->msix, bar, off, (uint8_t *)data, len, true))
        return;
    memcpy(&f->bar_mem[off], data, len);
}

static void f_bar_mapped(PciDevice *d, int bar, uint64_t addr)
{
    Fixture *f = d->opaque;
    f->mapped[bar] = addr;
    f->map_calls++;
}

static const PciDeviceOps f_ops = {f_bar_read, f_bar_write, f_bar_mapped};

static void f_vector_update(void *ctx, uint16_t v, bool usable, uint64_t addr, uint32_t data)
{
    Fixture *f = ctx;
    f->usable[v] = usable;
    f->addr[v] = addr;
    f->data[v] = data;
}

static void f_deliver(void *ctx, uint16_t v)
{
    Fixture *f = ctx;
    f->delivered[v]++;
}

static void f_reset_write(void *ctx, uint8_t v)
{
    Fixture *f = ctx;
    f->reset_writes++;
    f->reset_value = v;
}

static uint8_t f_reset_read(void *ctx)
{
    Fixture *f = ctx;
    return f->reset_value;
}

static int setup(void **state)
{
    Fixture *f = calloc(1, sizeof(*f));
    bus_init(&f->pio, "pio");
    bus_init(&f->mmio, "mmio");
    pci_bus_init(&f->pci);
    f->pci.reset_write = f_reset_write;
    f->pci.reset_read = f_reset_read;
    f->pci.reset_ctx = f;
    assert_int_equal(pci_bus_attach(&f->pci, &f->pio, &f->mmio), 0);
    pci_device_init(&f->dev, 0x1af4, 0x1042, 0x018000, 1, 0x1af4, 2, &f_ops, f);
    assert_int_equal(pci_device_add_bar(&f->dev, 0, 0x8000, false), 0);
    assert_int_equal(pci_device_add_msix(&f->dev, 4, 0, 0x4000, 0x5000, f_vector_update, f_deliver, f), 0);
    assert_int_equal(pci_bus_add_device(&f->pci, &f->dev), 1);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    Fixture *f = *state;
    pci_device_destroy(&f->dev);
    pci_bus_destroy(&f->pci);
    bus_destroy(&f->pio);
    bus_destroy(&f->mmio);
    free(f);
    return 0;
}

static uint64_t ecam_addr(unsigned slot, unsigned off)
{
    return LAYOUT_PCI_ECAM_START + ((uint64_t)slot << 15) + off;
}

static uint32_t ecam_read(Fixture *f, unsigned slot, unsigned off, unsigned len)
{
    uint8_t b[4] = {0};
    bus_read(&f->mmio, ecam_addr(slot, off), b, len);
    return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

static void ecam_write(Fixture *f, unsigned slot, unsigned off, uint32_t v, unsigned len)
{
    uint8_t b[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    bus_write(&f->mmio, ecam_addr(slot, off), b, len);
}

static void cf8_select(Fixture *f, unsigned slot, unsigned off)
{
    uint32_t a = 0x80000000u | slot << 11 | (off & 0xfc);
    bus_write(&f->pio, 0xcf8, (uint8_t *)&a, 4);
}

static uint32_t cf8_read(Fixture *f, unsigned slot, unsigned off, unsigned len)
{
    cf8_select(f, slot, off);
    uint32_t v = 0;
    bus_read(&f->pio, 0xcfc + (off & 3), (uint8_t *)&v, len);
    return v;
}

/* Both mechanisms agree at every offset and width, and read-only bytes
 * stay put whatever is written there. */
static void test_every_offset_and_width(void **state)
{
    Fixture *f = *state;
    uint8_t before[PCI_CFG_SIZE];
    memcpy(before, f->dev.cfg, sizeof(before));
    for (unsigned off = 0; off < 256; off++) {
        for (unsigned len = 1; len <= 4; len <<= 1) {
            if ((off & 3) + len > 4)
                continue;
            uint32_t mask = len == 4 ? 0xffffffffu : (1u << (8 * len)) - 1;
            assert_int_equal(cf8_read(f, 1, off, len) & mask, ecam_read(f, 1, off, len) & mask);
        }
    }
    /* Hostile: all ones, then garbage, at every offset of the 4 KiB. */
    for (unsigned off = 0; off < PCI_CFG_SIZE; off++)
        ecam_write(f, 1, off, 0xffffffffu, 1);
    for (unsigned off = 0; off < PCI_CFG_SIZE; off += 2)
        ecam_write(f, 1, off, 0x5a5a ^ off, 2);
    for (unsigned off = 0; off < PCI_CFG_SIZE; off++) {
        uint8_t w = f->dev.wmask[off], c = f->dev.w1cmask[off];
        if (w == 0 && c == 0)
            assert_int_equal(f->dev.cfg[off], before[off]);
    }
    assert_int_equal(ecam_read(f, 1, 0, 4), 0x10421af4u);
    assert_int_equal(ecam_read(f, 1, 8, 4) >> 8, 0x018000);
    assert_int_equal(ecam_read(f, 1, PCI_CAPABILITY_LIST, 1), before[PCI_CAPABILITY_LIST]);
    /* Extended space reads 0 (no extended capabilities), stays 0. */
    assert_int_equal(ecam_read(f, 1, 0x100, 4), 0);
}

static void test_unclaimed_and_odd(void **state)
{
    Fixture *f = *state;
    assert_int_equal(ecam_read(f, 7, 0, 4), 0xffffffffu);
    assert_int_equal(cf8_read(f, 7, 0, 4), 0xffffffffu);
    /* Other buses and functions do not exist. */
    assert_int_equal(ecam_read(f, 1, 0, 4), 0x10421af4u);
    uint32_t v = 0;
    bus_read(&f->mmio, LAYOUT_PCI_ECAM_START + (1u << 20) + (1u << 15), (uint8_t *)&v, 4);
    assert_int_equal(v, 0xffffffffu);
    bus_read(&f->mmio, LAYOUT_PCI_ECAM_START + (1u << 12) + (1u << 15), (uint8_t *)&v, 4);
    assert_int_equal(v, 0xffffffffu);
    /* An 8-byte access spilling past the function's 4 KiB reads ones. */
    uint64_t q = 0;
    bus_read(&f->mmio, ecam_addr(1, 0xffc), (uint8_t *)&q, 8);
    assert_true(q == UINT64_MAX);
    /* Disabled CONFIG_ADDRESS: no config cycle. */
    uint32_t zero = 0;
    bus_write(&f->pio, 0xcf8, (uint8_t *)&zero, 4);
    bus_read(&f->pio, 0xcfc, (uint8_t *)&v, 4);
    assert_int_equal(v, 0xffffffffu);
    /* A 16-bit write at 0xcf8 does not latch; 0xcf9 is the reset register. */
    cf8_select(f, 1, 0);
    uint16_t w = 0;
    bus_write(&f->pio, 0xcf8, (uint8_t *)&w, 2);
    assert_int_equal(cf8_read(f, 1, 0, 4), 0x10421af4u);
    uint8_t b = 6;
    bus_write(&f->pio, 0xcf9, &b, 1);
    assert_int_equal(f->reset_writes, 1);
    assert_int_equal(f->reset_value, 6);
    b = 0;
    bus_read(&f->pio, 0xcf9, &b, 1);
    assert_int_equal(b, 6);
}

static void test_bar_sizing_and_mapping(void **state)
{
    Fixture *f = *state;
    uint32_t bar = ecam_read(f, 1, PCI_BAR0, 4);
    assert_true(bar >= LAYOUT_PCI_MMIO_START && bar < LAYOUT_PCI_MMIO_START + LAYOUT_PCI_MMIO_SIZE);
    assert_int_equal(bar & 0x7fff, 0);
    ecam_write(f, 1, PCI_BAR0, 0xffffffffu, 4);
    assert_int_equal(ecam_read(f, 1, PCI_BAR0, 4), 0xffff8000u);
    /* Unused BARs size to 0; the ROM BAR does not exist. */
    ecam_write(f, 1, PCI_BAR0 + 4, 0xffffffffu, 4);
    assert_int_equal(ecam_read(f, 1, PCI_BAR0 + 4, 4), 0);
    ecam_write(f, 1, PCI_ROM_ADDRESS, 0xffffffffu, 4);
    assert_int_equal(ecam_read(f, 1, PCI_ROM_ADDRESS, 4), 0);
    ecam_write(f, 1, PCI_BAR0, bar, 4);
    assert_int_equal(f->map_calls, 0);

    /* Decoding follows Memory Space Enable. */
    ecam_write(f, 1, PCI_COMMAND, PCI_COMMAND_MEMORY, 2);
    assert_int_equal(f->mapped[0], bar);
    uint32_t v = 0x11223344;
    bus_write(&f->mmio, bar + 0x10, (uint8_t *)&v, 4);
    assert_memory_equal(&f->bar_mem[0x10], &v, 4);
    /* A BAR moved out of the window (over RAM) stops decoding. */
    ecam_write(f, 1, PCI_BAR0, 0x100000, 4);
    assert_int_equal(f->mapped[0], 0);
    /* Size alignment is forced by the mask: 0x...c000 lands on 0x...8000. */
    ecam_write(f, 1, PCI_BAR0, (uint32_t)(LAYOUT_PCI_MMIO_START + LAYOUT_PCI_MMIO_SIZE - 0x4000), 4);
    assert_int_equal(f->mapped[0], LAYOUT_PCI_MMIO_START + LAYOUT_PCI_MMIO_SIZE - 0x8000);
    ecam_write(f, 1, PCI_BAR0, (uint32_t)LAYOUT_PCI_ECAM_START, 4); /* over ECAM */
    assert_int_equal(f->mapped[0], 0);
    ecam_write(f, 1, PCI_BAR0, bar + 0x100000, 4);
    assert_int_equal(f->mapped[0], bar + 0x100000);
    v = 0;
    bus_read(&f->mmio, bar + 0x100000 + 0x10, (uint8_t *)&v, 4);
    assert_int_equal(v, 0x11223344);
    /* The old place is empty now. */
    uint64_t before = f->pci.counters.bar_unclaimed;
    bus_read(&f->mmio, bar + 0x10, (uint8_t *)&v, 4);
    assert_int_equal(v, 0xffffffffu);
    assert_int_equal(f->pci.counters.bar_unclaimed, before + 1);
    ecam_write(f, 1, PCI_COMMAND, 0, 2);
    assert_int_equal(f->mapped[0], 0);
    /* Reset restores the power-on BAR. */
    pci_bus_reset(&f->pci);
    assert_int_equal(ecam_read(f, 1, PCI_BAR0, 4), bar);
}

/* Hot unplug: the function leaves its slot, its BAR stops decoding (the
 * owner hears bar_mapped(0)), and the next function added takes the slot
 * with a BAR of its own. */
static void test_remove_device(void **state)
{
    Fixture *f = *state;
    uint32_t bar = ecam_read(f, 1, PCI_BAR0, 4);
    ecam_write(f, 1, PCI_COMMAND, PCI_COMMAND_MEMORY, 2);
    assert_int_equal(f->mapped[0], bar);
    pci_bus_remove_device(&f->pci, &f->dev);
    assert_int_equal(f->mapped[0], 0);
    assert_null(f->dev.bus);
    assert_int_equal(ecam_read(f, 1, PCI_VENDOR_ID, 4), 0xffffffffu);
    uint32_t v = 0;
    bus_read(&f->mmio, bar + 0x10, (uint8_t *)&v, 4);
    assert_int_equal(v, 0xffffffffu);
    /* Twice, or from a bus it is not on: nothing happens. */
    unsigned calls = f->map_calls;
    pci_bus_remove_device(&f->pci, &f->dev);
    assert_int_equal(f->map_calls, calls);

    PciDevice other;
    pci_device_init(&other, 0x1af4, 0x1041, 0x020000, 1, 0x1af4, 1, &f_ops, f);
    assert_int_equal(pci_device_add_bar(&other, 0, 0x8000, false), 0);
    assert_int_equal(pci_bus_add_device(&f->pci, &other), 1);
    assert_int_equal(ecam_read(f, 1, PCI_DEVICE_ID, 2), 0x1041);
    assert_true(ecam_read(f, 1, PCI_BAR0, 4) != bar);
    pci_bus_remove_device(&f->pci, &other);
    pci_device_destroy(&other);
}

/* A restore's slot plan: the n-th add takes the n-th planned slot, a slot
 * that is taken or out of range is refused, and once the plan is used up
 * adds take the first free slot again. (The fixture's device sits in 1.) */
static void test_slot_plan(void **state)
{
    Fixture *f = *state;
    static const uint8_t plan[] = {7, 3, 1, 0, 32};
    PciDevice d[6];
    for (int i = 0; i < 6; i++) {
        pci_device_init(&d[i], 0x1af4, 0x1041, 0x020000, 1, 0x1af4, 1, &f_ops, f);
        assert_int_equal(pci_device_add_bar(&d[i], 0, 0x1000, false), 0);
    }
    f->pci.slot_plan = plan;
    f->pci.n_slot_plan = sizeof(plan);
    assert_int_equal(pci_bus_add_device(&f->pci, &d[0]), 7);
    assert_int_equal(pci_bus_add_device(&f->pci, &d[1]), 3);
    assert_int_equal(pci_bus_add_device(&f->pci, &d[2]), -EINVAL); /* 1 is taken */
    assert_int_equal(pci_bus_add_device(&f->pci, &d[2]), -EINVAL); /* 0: the host bridge */
    assert_int_equal(pci_bus_add_device(&f->pci, &d[2]), -EINVAL); /* past the last slot */
    assert_null(d[2].bus);
    assert_int_equal(pci_bus_add_device(&f->pci, &d[2]), 2);
    assert_int_equal(pci_bus_add_device(&f->pci, &d[3]), 4);
    assert_int_equal(ecam_read(f, 7, PCI_DEVICE_ID, 2), 0x1041);
    for (int i = 0; i < 4; i++)
        pci_bus_remove_device(&f->pci, &d[i]);
    for (int i = 0; i < 6; i++)
        pci_device_destroy(&d[i]);
}

static void msix_write(Fixture *f, unsigned vector, unsigned word, uint32_t v)
{
    pci_msix_table_write(&f->dev.msix, vector * 16 + word * 4, (uint8_t *)&v, 4);
}

static void test_msix(void **state)
{
    Fixture *f = *state;
    PciMsix *m = &f->dev.msix;
    unsigned cap = m->cap;
    assert_int_equal(ecam_read(f, 1, cap, 1), PCI_CAP_ID_MSIX);
    assert_int_equal(ecam_read(f, 1, cap + 2, 2) & 0x7ff, 3);
    /* Table size is read-only. */
    ecam_write(f, 1, cap + 2, 0x07ff, 2);
    assert_int_equal(ecam_read(f, 1, cap + 2, 2) & 0x7ff, 3);
    assert_false(pci_msix_notify(m, 0)); /* off: the caller uses INTx */

    ecam_write(f, 1, cap + 2, PCI_MSIX_FLAGS_ENABLE, 2);
    assert_true(pci_msix_notify(m, 1)); /* masked: pending */
    uint64_t pba = 0;
    pci_msix_pba_read(m, 0, (uint8_t *)&pba, 8);
    assert_int_equal(pba, 2);
    msix_write(f, 1, 0, 0xfee00000);
    msix_write(f, 1, 2, 0x41);
    assert_false(f->usable[1]);
    msix_write(f, 1, 3, 0xfffffffe); /* unmask; reserved bits ignored */
    assert_true(f->usable[1]);
    assert_int_equal(f->addr[1], 0xfee00000);
    assert_int_equal(f->data[1], 0x41);
    assert_int_equal(f->delivered[1], 1); /* the pending one */
    pci_msix_pba_read(m, 0, (uint8_t *)&pba, 8);
    assert_int_equal(pba, 0);
    uint32_t ctrl = 0;
    pci_msix_table_read(m, 16 + 12, (uint8_t *)&ctrl, 4);
    assert_int_equal(ctrl, 0);
    assert_true(pci_msix_notify(m, 1));
    assert_int_equal(f->delivered[1], 2);
    /* Function mask pends everything. */
    ecam_write(f, 1, cap + 2, PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL, 2);
    assert_false(f->usable[1]);
    assert_true(pci_msix_notify(m, 1));
    assert_int_equal(f->delivered[1], 2);
    ecam_write(f, 1, cap + 2, PCI_MSIX_FLAGS_ENABLE, 2);
    assert_int_equal(f->delivered[1], 3);
    /* Vectors that do not exist are dropped and counted. */
    assert_true(pci_msix_notify(m, 4));
    assert_true(pci_msix_notify(m, 0xffff));
    assert_int_equal(m->dropped, 2);

    /* Garbage everywhere in the table, at every width and offset, through
     * the BAR; the PBA ignores writes. Nothing outside the table changes. */
    ecam_write(f, 1, PCI_COMMAND, PCI_COMMAND_MEMORY, 2);
    uint64_t bar = f->mapped[0];
    srand(4);
    for (int i = 0; i < 20000; i++) {
        uint32_t len = 1u << (rand() % 4);
        uint64_t off = 0x4000 + (uint64_t)(rand() % 0x2100);
        uint64_t junk = (uint64_t)rand() << 32 | (uint64_t)rand();
        bus_write(&f->mmio, bar + off, (uint8_t *)&junk, len);
        bus_read(&f->mmio, bar + off, (uint8_t *)&junk, len);
    }
    for (unsigned v = 0; v < 4; v++)
        assert_int_equal(m->table[v].ctrl & ~1u, 0);
    pci_msix_pba_read(m, 0, (uint8_t *)&pba, 8);
    assert_int_equal(pba & ~0xfULL, 0);

    pci_bus_reset(&f->pci);
    assert_false(m->enabled);
    for (unsigned v = 0; v < 4; v++)
        assert_false(f->usable[v]);
}

static void test_bad_setup(void **state)
{
    (void)state;
    PciDevice d;
    pci_device_init(&d, 1, 2, 0, 0, 0, 0, NULL, NULL);
    assert_int_equal(pci_device_add_bar(&d, 0, 0x3000, false), -EINVAL);
    assert_int_equal(pci_device_add_bar(&d, 5, 0x4000, true), -EINVAL);
    assert_int_equal(pci_device_add_bar(&d, 6, 0x4000, false), -EINVAL);
    assert_int_equal(pci_device_add_msix(&d, 4, 0, 0, 0x100, NULL, NULL, NULL), -EINVAL); /* no BAR */
    assert_int_equal(pci_device_add_bar(&d, 0, 0x1000, false), 0);
    assert_int_equal(pci_device_add_msix(&d, 300, 0, 0, 0x800, NULL, NULL, NULL), -EINVAL); /* too big */
    /* Capabilities fill the 256-byte space and then refuse. */
    uint8_t body[64] = {9};
    int n = 0;
    while (pci_device_add_cap(&d, body, sizeof(body), NULL) > 0)
        n++;
    assert_int_equal(n, 3);
    pci_device_destroy(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_every_offset_and_width, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unclaimed_and_odd, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bar_sizing_and_mapping, setup, teardown),
        cmocka_unit_test_setup_teardown(test_slot_plan, setup, teardown),
        cmocka_unit_test_setup_teardown(test_msix, setup, teardown),
        cmocka_unit_test_setup_teardown(test_remove_device, setup, teardown),
        cmocka_unit_test(test_bad_setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
