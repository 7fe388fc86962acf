/* SPDX-License-Identifier: Apache-2.0 */
/*
 * PCI and virtio tests: test=pci, test=blk, test=blk-throttle, test=rng,
 * test=hostile. The
 * runner (run_guest.py) passes expectations on the command line and checks
 * the disk image and vm.counters from the host side.
 */
#include "io.h"
#include "payload.h"
#include "virtio.h"

#define PATTERN_MULTIPLIER 0x9e3779b97f4a7c15ULL
#define F_VERSION_1        (1ULL << 32)
#define F_INDIRECT         (1ULL << 28)
#define BLK_F_FLUSH        (1ULL << 9)
#define BLK_F_WRITE_ZEROES (1ULL << 14)
#define BLK_T_IN           0
#define BLK_T_OUT          1
#define BLK_T_FLUSH        4
#define BLK_T_GET_ID       8
#define BLK_T_WRITE_ZEROES 13

static struct {
    uint32_t type, reserved;
    uint64_t sector;
} blk_hdr __attribute__((aligned(16)));
static uint8_t blk_data[4096] __attribute__((aligned(4096)));
static volatile uint8_t blk_status;
static struct vring_desc indirect_table[4] __attribute__((aligned(16)));

/* The same words run_guest.py expects in the image: seed selects the run. */
static void fill_pattern(uint8_t *buf, unsigned len, uint64_t seed)
{
    uint64_t *w = (uint64_t *)buf;
    for (unsigned k = 0; k < len / 8; k++)
        w[k] = (k + seed) * PATTERN_MULTIPLIER;
}

static bool check_pattern(const uint8_t *buf, unsigned len, uint64_t seed)
{
    const uint64_t *w = (const uint64_t *)buf;
    for (unsigned k = 0; k < len / 8; k++)
        if (w[k] != (k + seed) * PATTERN_MULTIPLIER)
            return false;
    return true;
}

/* One request: header, optional data, status. Returns the status, or 0xff
 * when the device did not answer. */
static uint8_t blk_request(struct vdev *d, uint32_t type, uint64_t sector, void *data, uint32_t len,
                           bool device_writes, uint32_t *used)
{
    blk_hdr.type = type;
    blk_hdr.reserved = 0;
    blk_hdr.sector = sector;
    blk_status = 0xee;
    d->desc[0] = (struct vring_desc){(uint64_t)(uintptr_t)&blk_hdr, 16, VIRTQ_DESC_F_NEXT, 1};
    uint16_t st = 1;
    if (len) {
        d->desc[1] =
            (struct vring_desc){(uint64_t)(uintptr_t)data, len,
                                (uint16_t)(VIRTQ_DESC_F_NEXT | (device_writes ? VIRTQ_DESC_F_WRITE : 0)), 2};
        st = 2;
    }
    d->desc[st] = (struct vring_desc){(uint64_t)(uintptr_t)&blk_status, 1, VIRTQ_DESC_F_WRITE, 0};
    vdev_submit(d, 0);
    uint32_t n = 0;
    if (!vdev_wait_used(d, &n))
        return 0xff;
    if (used)
        *used = n;
    return blk_status;
}

/* ------------------------------------------------------------------ pci */

/* The PCI configuration access capability (virtio 1.2, 4.1.4.9): BAR
 * accesses through config space agree with the same accesses over MMIO. */
static uint8_t cfg8(unsigned slot, unsigned off)
{
    return (uint8_t)(pci_ecam_read32(slot, off & ~3u) >> (8 * (off & 3)));
}

static uint32_t cfg_cap_access(unsigned slot, unsigned cap, uint32_t off, unsigned len, bool write, uint32_t v)
{
    pci_ecam_write8(slot, cap + 4, 0); /* BAR 0 */
    pci_ecam_write32(slot, cap + 8, off);
    pci_ecam_write32(slot, cap + 12, len);
    if (write) {
        pci_ecam_write32(slot, cap + 16, v);
        return 0;
    }
    return pci_ecam_read32(slot, cap + 16);
}

static void test_pci_cfg_cap(struct vdev *d)
{
    unsigned p = cfg8(d->slot, 0x34), cap = 0;
    for (unsigned g = 0; p && g < 48; g++) {
        if (cfg8(d->slot, p) == 0x09 && cfg8(d->slot, p + 3) == 5)
            cap = p;
        p = cfg8(d->slot, p + 1);
    }
    if (!cap) {
        fail("no VIRTIO_PCI_CAP_PCI_CFG capability");
        return;
    }
    check(cfg8(d->slot, cap + 2) == 20, "PCI_CFG capability length");
    /* Device config (the disk's capacity, low dword) and common config
     * (num_queues, a 2-byte access) read the same both ways. */
    uint32_t via_cfg = cfg_cap_access(d->slot, cap, d->device, 4, false, 0);
    check(via_cfg == mmio_read32(d->bar + d->device), "capacity through PCI_CFG 0x%x, MMIO 0x%x", via_cfg,
          mmio_read32(d->bar + d->device));
    via_cfg = cfg_cap_access(d->slot, cap, d->common + 0x12, 2, false, 0) & 0xffff;
    check(via_cfg == mmio_read16(d->bar + d->common + 0x12), "num_queues through PCI_CFG");
    /* A write lands: device_feature_select = 1 selects the high word,
     * where VERSION_1 (bit 32) shows. */
    cfg_cap_access(d->slot, cap, d->common + 0x0, 4, true, 1);
    check(mmio_read32(d->bar + d->common) == 1, "device_feature_select write through PCI_CFG lost");
    check(mmio_read32(d->bar + d->common + 4) & 1, "VERSION_1 missing from the high feature word");
    mmio_write32(d->bar + d->common, 0);
    /* Malformed requests are dropped: a length of 3, an offset past the
     * BAR, another BAR. Reads give zero and nothing is written. */
    check(cfg_cap_access(d->slot, cap, d->device, 3, false, 0) == 0, "length 3 accepted");
    check(cfg_cap_access(d->slot, cap, 0x10000, 4, false, 0) == 0, "offset past the BAR accepted");
    pci_ecam_write8(d->slot, cap + 4, 5);
    check(pci_ecam_read32(d->slot, cap + 16) == 0, "BAR 5 accepted");
    cfg_cap_access(d->slot, cap, d->common + 0x0, 3, true, 1);
    check(mmio_read32(d->bar + d->common) == 0, "a length-3 write landed");
}

static void test_pci_enum(void)
{
    unsigned found = 0, blk = 0, rng = 0;
    for (unsigned s = 0; s < 32; s++) {
        uint32_t a = pci_cf8_read32(s, 0), b = pci_ecam_read32(s, 0);
        check(a == b, "slot %u: CF8 reads id 0x%x, ECAM 0x%x", s, a, b);
        if (a == 0xffffffffu)
            continue;
        found++;
        uint32_t class_cf8 = pci_cf8_read32(s, 8) >> 8, class_ecam = pci_ecam_read32(s, 8) >> 8;
        check(class_cf8 == class_ecam, "slot %u: class differs between CF8 and ECAM", s);
        /* Byte reads at every offset of the dword agree with the dword. */
        for (unsigned o = 0; o < 4; o++)
            check(pci_cf8_read8(s, o) == (uint8_t)(a >> (8 * o)), "slot %u: CF8 byte %u", s, o);
        print("INFO pci 00:%02x.0 %04x:%04x class %06x\n", s, a & 0xffff, a >> 16, class_cf8);
        if (a == (VIRTIO_VENDOR | (uint32_t)VIRTIO_DEV_BLK << 16))
            blk++;
        if (a == (VIRTIO_VENDOR | (uint32_t)VIRTIO_DEV_RNG << 16))
            rng++;
        if (s == 0)
            check(class_cf8 >> 8 == 0x0600, "00:00.0 is not a host bridge (class %06x)", class_cf8);
    }
    check(blk == cmdline_get_u64("disks", 0), "%u virtio-blk functions", blk);
    check(rng == 1, "%u virtio-rng functions", rng);
    print("INFO %u PCI functions\n", found);

    struct vdev d;
    if (!vdev_find(&d, VIRTIO_DEV_BLK)) {
        fail("no virtio-blk");
        return;
    }
    /* Read-only fields stay put. */
    pci_ecam_write32(d.slot, 0, 0x12345678);
    check(pci_ecam_read32(d.slot, 0) == (VIRTIO_VENDOR | (uint32_t)VIRTIO_DEV_BLK << 16),
          "vendor ID writable");
    pci_ecam_write8(d.slot, 0x0a, 0x55);
    check((pci_ecam_read32(d.slot, 8) >> 8) == 0x018000, "class code writable");
    /* BAR sizing: all ones reads back the size mask, then restore. */
    uint32_t bar = pci_cf8_read32(d.slot, 0x10);
    pci_ecam_write32(d.slot, 0x04, 0); /* decode off while sizing */
    pci_cf8_write32(d.slot, 0x10, 0xffffffffu);
    uint32_t mask = pci_cf8_read32(d.slot, 0x10);
    pci_cf8_write32(d.slot, 0x10, bar);
    pci_ecam_write32(d.slot, 0x04, 6);
    check(mask == 0xffff8000u, "BAR0 sizing read 0x%x, expected 0xffff8000 (32 KiB)", mask);
    check(bar >= 0xc0000000u && bar < 0xe0000000u, "BAR0 0x%x outside the PCI window", bar);
    check(pci_ecam_read32(d.slot, 0x10) == bar, "BAR0 not restored");
    /* MSI-X capability: table size = queues + 1. */
    unsigned p = pci_ecam_read32(d.slot, 0x34) & 0xff, msix = 0;
    for (unsigned g = 0; p && g < 48; g++) {
        uint32_t w = pci_ecam_read32(d.slot, p);
        if ((w & 0xff) == 0x11)
            msix = p;
        p = (w >> 8) & 0xff;
    }
    check(msix != 0, "no MSI-X capability");
    if (msix)
        check(((pci_ecam_read32(d.slot, msix) >> 16) & 0x7ff) + 1 == 2, "MSI-X table size not 2");
    check(d.notify && d.isr && d.device && d.notify_mult == 4, "virtio capabilities missing");
    /* Past the function's 4 KiB and non-existent functions read all ones. */
    check(pci_ecam_read32(31, 0) == 0xffffffffu || pci_ecam_read32(31, 0) != 0, "slot 31");
    check(pci_ecam_read32(d.slot, 0x100) == 0, "extended capability list not empty");
    test_pci_cfg_cap(&d);
}

/* ------------------------------------------------------------------ blk */

static void test_blk(void)
{
    struct vdev d;
    if (!vdev_find(&d, VIRTIO_DEV_BLK)) {
        fail("no virtio-blk");
        return;
    }
    if (!vdev_init(&d, F_VERSION_1 | BLK_F_FLUSH | BLK_F_WRITE_ZEROES))
        return;
    uint64_t cap = mmio_read32(d.bar + d.device) | (uint64_t)mmio_read32(d.bar + d.device + 4) << 32;
    uint64_t want_cap = cmdline_get_u64("cap", 0);
    check(cap == want_cap, "capacity %lu sectors, expected %lu", cap, want_cap);
    uint32_t used = 0;

    /* Sectors 0-7 (seed 1) and the last sector (seed 2). */
    fill_pattern(blk_data, 4096, 1);
    check(blk_request(&d, BLK_T_OUT, 0, blk_data, 4096, false, NULL) == 0, "write of sectors 0-7");
    fill_pattern(blk_data, 512, 2);
    check(blk_request(&d, BLK_T_OUT, cap - 1, blk_data, 512, false, NULL) == 0, "write of the last sector");
    /* Sector 16: written, then zeroed. */
    fill_pattern(blk_data, 512, 3);
    check(blk_request(&d, BLK_T_OUT, 16, blk_data, 512, false, NULL) == 0, "write of sector 16");
    static struct {
        uint64_t sector;
        uint32_t n, flags;
    } wz __attribute__((aligned(16)));
    wz.sector = 16;
    wz.n = 1;
    wz.flags = 0;
    check(blk_request(&d, BLK_T_WRITE_ZEROES, 0, &wz, sizeof(wz), false, NULL) == 0, "write zeroes");
    check(blk_request(&d, BLK_T_FLUSH, 0, NULL, 0, false, &used) == 0 && used == 1, "flush");

    memset(blk_data, 0, 4096);
    check(blk_request(&d, BLK_T_IN, 0, blk_data, 4096, true, &used) == 0 && used == 4097,
          "read of sectors 0-7");
    check(check_pattern(blk_data, 4096, 1), "sectors 0-7 read back differ");
    check(blk_request(&d, BLK_T_IN, cap - 1, blk_data, 512, true, NULL) == 0, "read of the last sector");
    check(check_pattern(blk_data, 512, 2), "last sector reads back different");
    check(blk_request(&d, BLK_T_IN, 16, blk_data, 512, true, NULL) == 0, "read of sector 16");
    bool zero = true;
    for (unsigned i = 0; i < 512; i++)
        zero &= blk_data[i] == 0;
    check(zero, "sector 16 not zero after WRITE_ZEROES");

    /* Past the end, and straddling it: IOERR, nothing read. */
    check(blk_request(&d, BLK_T_IN, cap, blk_data, 512, true, NULL) == 1, "read past capacity not IOERR");
    check(blk_request(&d, BLK_T_IN, cap - 1, blk_data, 1024, true, NULL) == 1,
          "read across the end not IOERR");
    check(blk_request(&d, BLK_T_OUT, ~0ULL, blk_data, 512, false, NULL) == 1,
          "write at sector 2^64-1 not IOERR");
    check(blk_request(&d, 0x7777, 0, NULL, 0, false, NULL) == 2, "unknown request not UNSUPP");

    char serial[32];
    memset(blk_data, 0, 32);
    check(blk_request(&d, BLK_T_GET_ID, 0, blk_data, 20, true, &used) == 0, "GET_ID");
    if (cmdline_get("serial", serial, sizeof(serial)))
        check(memcmp(blk_data, serial, strlen(serial)) == 0, "GET_ID returned '%s'", (char *)blk_data);
    vdev_reset(&d);
}

/* ------------------------------------------------------------------ rng */

static uint8_t rng_buf[2][64] __attribute__((aligned(64)));

static void test_rng(void)
{
    struct vdev d;
    if (!vdev_find(&d, VIRTIO_DEV_RNG)) {
        fail("no virtio-rng");
        return;
    }
    if (!vdev_init(&d, F_VERSION_1))
        return;
    for (unsigned k = 0; k < 2; k++) {
        d.desc[0] = (struct vring_desc){(uint64_t)(uintptr_t)rng_buf[k], 64, VIRTQ_DESC_F_WRITE, 0};
        vdev_submit(&d, 0);
        uint32_t len = 0;
        check(vdev_wait_used(&d, &len) && len == 64, "rng request %u: used length %u", k, len);
    }
    check(memcmp(rng_buf[0], rng_buf[1], 64) != 0, "two rng reads returned the same bytes");
    vdev_reset(&d);
}

/* --------------------------------------------------------- blk-throttle */

/* The runner limits the disk (bw_* / ops_*): a request may be answered
 * late, never lost. vdev_wait_used gives up after a fixed number of spins,
 * so keep asking while the device is healthy. */
static bool wait_used_patiently(struct vdev *d, uint32_t *len)
{
    for (unsigned tries = 0; tries < 200; tries++) {
        if (vdev_wait_used(d, len))
            return true;
        if (vdev_status(d) & VIRTIO_STATUS_NEEDS_RESET)
            return false;
    }
    return false;
}

/* requests=N GET_IDs and sector reads, one at a time; then the runner reads
 * vm.counters and sends a line to finish. */
static void test_blk_throttle(void)
{
    struct vdev d;
    if (!vdev_find(&d, VIRTIO_DEV_BLK)) {
        fail("no virtio-blk");
        return;
    }
    if (!vdev_init(&d, F_VERSION_1))
        return;
    uint64_t n = cmdline_get_u64("requests", 20);
    for (uint64_t i = 0; i < n; i++) {
        bool read = i & 1;
        blk_hdr.type = read ? BLK_T_IN : BLK_T_GET_ID;
        blk_hdr.reserved = 0;
        blk_hdr.sector = i;
        blk_status = 0xee;
        d.desc[0] = (struct vring_desc){(uint64_t)(uintptr_t)&blk_hdr, 16, VIRTQ_DESC_F_NEXT, 1};
        d.desc[1] = (struct vring_desc){(uint64_t)(uintptr_t)blk_data, read ? 512 : 20,
                                        VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 2};
        d.desc[2] = (struct vring_desc){(uint64_t)(uintptr_t)&blk_status, 1, VIRTQ_DESC_F_WRITE, 0};
        vdev_submit(&d, 0);
        uint32_t used = 0;
        if (!wait_used_patiently(&d, &used)) {
            fail("request %lu never completed", i);
            return;
        }
        check(blk_status == 0 && used == (read ? 513u : 21u), "request %lu: status %u used %u", i, blk_status,
              used);
    }
    print("READY blk-throttle %lu\n", n);
    char c;
    for (;;)
        if (serial_getc(&c) && c == '\n')
            break;
}

/* -------------------------------------------------------------- hostile */

static unsigned broken_expected;

/* Submits what is in the descriptor table at head, expects NEEDS_RESET,
 * then resets and checks that a valid request works again. */
static void expect_broken(struct vdev *d, const char *what, uint16_t head)
{
    vdev_submit(d, head);
    check(vdev_wait_needs_reset(d), "%s: no NEEDS_RESET", what);
    broken_expected++;
    /* Nothing may come back on a broken queue. */
    check(d->used[1] == d->used_seen, "%s: device completed a broken chain", what);
    if (!vdev_init(d, F_VERSION_1 | F_INDIRECT))
        return;
    check(blk_request(d, BLK_T_IN, 0, blk_data, 512, true, NULL) == 0, "%s: valid request after reset", what);
}

static void test_hostile(void)
{
    struct vdev d;
    if (!vdev_find(&d, VIRTIO_DEV_BLK)) {
        fail("no virtio-blk");
        return;
    }
    /* Bad feature sets: an unoffered bit, and no VERSION_1. */
    vdev_reset(&d);
    mmio_write8(d.bar + d.common + 0x14, 3);
    mmio_write32(d.bar + d.common + 0x08, 1);
    mmio_write32(d.bar + d.common + 0x0c, 1u << 31 | 1);
    mmio_write8(d.bar + d.common + 0x14, 0xb);
    check(!(vdev_status(&d) & VIRTIO_STATUS_FEATURES_OK), "FEATURES_OK accepted with unoffered feature bits");
    vdev_reset(&d);
    mmio_write8(d.bar + d.common + 0x14, 3);
    mmio_write8(d.bar + d.common + 0x14, 0xb);
    check(!(vdev_status(&d) & VIRTIO_STATUS_FEATURES_OK), "FEATURES_OK accepted without VERSION_1");
    /* DRIVER_OK without FEATURES_OK is refused. */
    mmio_write8(d.bar + d.common + 0x14, 7);
    check(!(vdev_status(&d) & VIRTIO_STATUS_DRIVER_OK), "DRIVER_OK without FEATURES_OK");

    if (!vdev_init(&d, F_VERSION_1 | F_INDIRECT))
        return;
    /* Config writes at odd offsets and widths: ignored, device unharmed. */
    for (unsigned o = 0; o < 0x40; o += 3)
        mmio_write8(d.bar + d.common + o + 1, 0xa5);
    mmio_write32(d.bar + d.common + 0x13, 0xffffffffu);
    mmio_write16(d.bar + d.device + 1, 0xbeef);
    mmio_write8(d.bar + d.isr + 2, 0xff);
    /* MSI-X table garbage with MSI-X enabled and everything unmasked. */
    for (unsigned o = 0; o < 2 * 16; o += 4)
        mmio_write32(d.bar + 0x4000 + o, 0xdeadbee0u + o);
    mmio_write32(d.bar + 0x4000 + 12, 0);
    mmio_write32(d.bar + 0x4000 + 28, 0);
    mmio_write32(d.bar + 0x5000, 0xffffffffu); /* PBA is read-only */
    vdev_reset(&d);
    if (!vdev_init(&d, F_VERSION_1 | F_INDIRECT))
        return;
    check(blk_request(&d, BLK_T_IN, 0, blk_data, 512, true, NULL) == 0, "request after config garbage");

    uint64_t ram_end = 0x4000000; /* the runner gives 64 MiB */
    struct vring_desc *t = d.desc;
    uint64_t hdr = (uint64_t)(uintptr_t)&blk_hdr, data = (uint64_t)(uintptr_t)blk_data;
    uint64_t status = (uint64_t)(uintptr_t)&blk_status;
    blk_hdr.type = BLK_T_IN;
    blk_hdr.sector = 0;

    t[0] = (struct vring_desc){hdr, 16, VIRTQ_DESC_F_NEXT, 0};
    expect_broken(&d, "descriptor loop", 0);

    for (unsigned i = 0; i < VQ_SIZE; i++)
        t[i] = (struct vring_desc){hdr, 16, VIRTQ_DESC_F_NEXT, (uint16_t)((i + 1) % VQ_SIZE)};
    expect_broken(&d, "chain longer than the queue", 0);

    expect_broken(&d, "head index past the ring", 200);

    t[0] = (struct vring_desc){hdr, 16, VIRTQ_DESC_F_NEXT, 99};
    expect_broken(&d, "next index past the ring", 0);

    t[0] = (struct vring_desc){hdr, 16, VIRTQ_DESC_F_NEXT, 1};
    t[1] = (struct vring_desc){ram_end + 0x1000, 512, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 2};
    t[2] = (struct vring_desc){status, 1, VIRTQ_DESC_F_WRITE, 0};
    expect_broken(&d, "buffer outside RAM", 0);

    t[1].addr = d.bar; /* the device's own BAR */
    expect_broken(&d, "buffer over MMIO", 0);

    t[1].addr = data;
    t[1].len = 0xffffffffu;
    expect_broken(&d, "huge length", 0);

    t[1].len = 512;
    t[0] = (struct vring_desc){(uint64_t)(uintptr_t)indirect_table, 32, VIRTQ_DESC_F_INDIRECT, 0};
    indirect_table[0] =
        (struct vring_desc){(uint64_t)(uintptr_t)indirect_table, 32, VIRTQ_DESC_F_INDIRECT, 0};
    expect_broken(&d, "nested indirect table", 0);

    t[0] = (struct vring_desc){(uint64_t)(uintptr_t)indirect_table, 24, VIRTQ_DESC_F_INDIRECT, 0};
    expect_broken(&d, "indirect table length not a multiple of 16", 0);

    t[0] = (struct vring_desc){hdr, 16, VIRTQ_DESC_F_NEXT, 1};
    t[1] = (struct vring_desc){status, 1, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 2};
    t[2] = (struct vring_desc){data, 512, VIRTQ_DESC_F_NEXT, 3};
    t[3] = (struct vring_desc){status, 1, VIRTQ_DESC_F_WRITE, 0};
    expect_broken(&d, "readable after writable", 0);

    /* avail->idx jumping by more than the queue size. */
    d.avail[1] = (uint16_t)(d.avail_idx + 1000);
    mmio_write16(d.notify_addr, 0);
    check(vdev_wait_needs_reset(&d), "avail index jump: no NEEDS_RESET");
    broken_expected++;
    if (!vdev_init(&d, F_VERSION_1 | F_INDIRECT))
        return;

    /* A read whose data buffer is device-readable: request-level IOERR. */
    check(blk_request(&d, BLK_T_IN, 0, blk_data, 512, false, NULL) == 1,
          "IN into a read-only buffer not IOERR");
    check(!(vdev_status(&d) & VIRTIO_STATUS_NEEDS_RESET), "request error set NEEDS_RESET");
    /* A valid request through an indirect table still works. */
    indirect_table[0] = (struct vring_desc){hdr, 16, VIRTQ_DESC_F_NEXT, 1};
    indirect_table[1] = (struct vring_desc){data, 512, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 2};
    indirect_table[2] = (struct vring_desc){status, 1, VIRTQ_DESC_F_WRITE, 0};
    t[0] = (struct vring_desc){(uint64_t)(uintptr_t)indirect_table, 48, VIRTQ_DESC_F_INDIRECT, 0};
    blk_status = 0xee;
    vdev_submit(&d, 0);
    uint32_t used = 0;
    check(vdev_wait_used(&d, &used) && blk_status == 0 && used == 513, "indirect request: status %u used %u",
          blk_status, used);

    print("HOSTILE broken=%u\n", broken_expected);
    /* The runner reads vm.counters now, then sends a line to finish. */
    print("READY hostile\n");
    char c;
    for (;;)
        if (serial_getc(&c) && c == '\n')
            break;
}

/* ------------------------------------------------ snapshot (tests.c) */

#define SNAP_BLK_SECTORS 64
static struct vdev snap_blk;

bool snapshot_blk_init(void)
{
    if (!vdev_find(&snap_blk, VIRTIO_DEV_BLK)) {
        fail("no virtio-blk");
        return false;
    }
    return vdev_init(&snap_blk, F_VERSION_1);
}

/* Writes this tick's sector and reads back the last tick's, so the first
 * tick after a restore uses the queue where the snapshot left it and reads
 * what the snapshotted guest wrote. */
void snapshot_blk_tick(uint64_t tick)
{
    fill_pattern(blk_data, 512, tick);
    check(blk_request(&snap_blk, BLK_T_OUT, tick % SNAP_BLK_SECTORS, blk_data, 512, false, NULL) == 0,
          "tick %lu: virtio-blk write failed", tick);
    if (tick < 2)
        return;
    memset(blk_data, 0, 512);
    check(blk_request(&snap_blk, BLK_T_IN, (tick - 1) % SNAP_BLK_SECTORS, blk_data, 512, true, NULL) == 0,
          "tick %lu: virtio-blk read failed", tick);
    check(check_pattern(blk_data, 512, tick - 1), "tick %lu: the sector of tick %lu reads back different",
          tick, tick - 1);
}

bool run_virtio_test(const char *name)
{
    if (!memcmp(name, "pci", 4))
        test_pci_enum();
    else if (!memcmp(name, "blk", 4))
        test_blk();
    else if (!memcmp(name, "blk-throttle", 13))
        test_blk_throttle();
    else if (!memcmp(name, "rng", 4))
        test_rng();
    else if (!memcmp(name, "hostile", 8))
        test_hostile();
    else if (!memcmp(name, "hotplug", 8))
        test_hotplug();
    else if (!memcmp(name, "cpuhp", 6))
        test_cpu_hotplug();
    else if (!memcmp(name, "memhp", 6))
        test_mem_hotplug();
    else
        return run_virtio_device_test(name);
    return true;
}
