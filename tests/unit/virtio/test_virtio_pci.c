/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The virtio-pci transport's capability list, read through ECAM as a guest
 * would and judged by the rules Linux's virtio_pci applies when it maps
 * them (drivers/virtio/virtio_pci_modern_dev.c): a structure it cannot map
 * fails the whole device's probe.
 */
#include "virtio_test.h"

#include "bus.h"
#include "layout.h"
#include "pci.h"
#include "virtio_pci.h"

#define CAP_ID_VNDR 0x09

typedef struct Caps {
    bool present[5]; /* by cfg_type: 1 common, 2 notify, 3 isr, 4 device */
    uint32_t offset[5], length[5];
} Caps;

static uint32_t dummy_handle(void *dev, uint16_t q, const Virtqueue *vq, const VirtqChain *c)
{
    (void)dev, (void)q, (void)vq, (void)c;
    return 0;
}

static uint32_t ecam_read(Bus *mmio, unsigned slot, unsigned off, unsigned len)
{
    uint8_t b[4] = {0};
    bus_read(mmio, LAYOUT_PCI_ECAM_START + ((uint64_t)slot << 15) + off, b, len);
    return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

/* Puts one transport with this device configuration size on a fresh bus
 * and collects its virtio structure capabilities. */
static Caps probe(uint32_t config_size)
{
    Bus pio, mmio;
    PciBus pci;
    GuestMemory mem;
    MemoryConfig mcfg = {.size = RAM};
    char err[256];
    bus_init(&pio, "pio");
    bus_init(&mmio, "mmio");
    pci_bus_init(&pci);
    assert_int_equal(pci_bus_attach(&pci, &pio, &mmio), 0);
    assert_int_equal(guest_memory_create(&mem, &mcfg, err, sizeof(err)), 0);

    VirtioDeviceOps ops = {
        .type = VIRTIO_ID_RNG,
        .pci_class = 0xff0000,
        .config_size = config_size,
        .handle = dummy_handle,
    };
    VirtioPciConfig tc = {.id = "_test", .num_queues = 1, .queue_size = 16, .mem = &mem};
    VirtioPci *t = virtio_pci_new(&ops, NULL, &tc, err, sizeof(err));
    assert_non_null(t);
    assert_int_equal(virtio_pci_attach(t, &pci, err, sizeof(err)), 0);

    Caps caps;
    memset(&caps, 0, sizeof(caps));
    unsigned slot = 1;
    assert_int_equal(ecam_read(&mmio, slot, 0, 4), VIRTIO_PCI_VENDOR | (VIRTIO_PCI_DEVICE_BASE + 4u) << 16);
    assert_true(ecam_read(&mmio, slot, 0x06, 2) & 0x10); /* capability list */
    unsigned p = ecam_read(&mmio, slot, 0x34, 1);
    for (unsigned guard = 0; p; guard++) {
        assert_true(guard < 48);
        if (ecam_read(&mmio, slot, p, 1) == CAP_ID_VNDR) {
            unsigned type = ecam_read(&mmio, slot, p + 3, 1);
            if (type >= 1 && type <= 4) {
                assert_false(caps.present[type]);
                caps.present[type] = true;
                assert_int_equal(ecam_read(&mmio, slot, p + 4, 1), 0); /* BAR 0 */
                caps.offset[type] = ecam_read(&mmio, slot, p + 8, 4);
                caps.length[type] = ecam_read(&mmio, slot, p + 12, 4);
            }
        }
        p = ecam_read(&mmio, slot, p + 1, 1);
    }

    virtio_pci_free(t);
    guest_memory_destroy(&mem);
    pci_bus_destroy(&pci);
    bus_destroy(&pio);
    bus_destroy(&mmio);
    return caps;
}

/* Every structure the driver maps is non-empty and inside the BAR. */
static void assert_mappable(const Caps *caps)
{
    for (unsigned type = 1; type <= 4; type++) {
        if (!caps->present[type])
            continue;
        assert_true(caps->length[type] > 0);
        assert_true((uint64_t)caps->offset[type] + caps->length[type] <= VIRTIO_PCI_BAR_SIZE);
    }
    assert_true(caps->present[1] && caps->present[2] && caps->present[3]);
}

/* virtio-rng has no configuration: Linux rejected its zero-length device
 * capability ("virtio_pci: bad capability len 0") and never bound the rng. */
static void test_no_config_no_device_cap(void **state)
{
    (void)state;
    Caps caps = probe(0);
    assert_mappable(&caps);
    assert_false(caps.present[4]);
}

static void test_config_has_device_cap(void **state)
{
    (void)state;
    Caps caps = probe(8);
    assert_mappable(&caps);
    assert_true(caps.present[4]);
    assert_int_equal(caps.offset[4], VIRTIO_PCI_DEVICE_CFG);
    assert_int_equal(caps.length[4], 8);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_no_config_no_device_cap),
        cmocka_unit_test(test_config_has_device_cap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
