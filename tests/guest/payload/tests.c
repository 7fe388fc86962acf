/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The tests, chosen by test= on the command line. Each prints PASS/FAIL
 * lines and powers off (finish()); the runner (run_guest.py) supplies the
 * expectations as command-line parameters and checks what the host sees.
 */
#include "io.h"
#include "payload.h"
#include "virtio.h"

/* The platform's map (vmm-core/arch/x86/layout.h). */
#define LOW_RAM_END        0x9fc00ULL
#define HIGH_RAM_START     0x100000ULL
#define LOW_4G_HOLE        0xc0000000ULL
#define LAYOUT_LAPIC       0xfee00000u
#define LAYOUT_IOAPIC      0xfec00000u
#define LAYOUT_SCI         9
#define LAYOUT_PM1A_EVT    0x600
#define LAYOUT_PM1A_CNT    0x604
#define LAYOUT_RESET_PORT  0xcf9
#define LAYOUT_RESET_VALUE 6
#define LAYOUT_S5          5

#define PAGE_SIZE  4096ULL
#define PM1_PWRBTN (1u << 8) /* PWRBTN_STS in PM1_STS, PWRBTN_EN in PM1_EN */
#define PM1_SCI_EN 1u

/* The runner writes the same pattern into the initramfs file. */
#define PATTERN_MULTIPLIER 0x9e3779b97f4a7c15ULL

#define TICK_NS          10000000u /* 10 ms housekeeping tick for waits */
#define TICKS_PER_SECOND 100

static uint64_t param(const char *key, uint64_t def)
{
    return cmdline_get_u64(key, def);
}

static bool param_is(const char *key, const char *value)
{
    char buf[32];
    return cmdline_get(key, buf, sizeof(buf)) && strlen(buf) == strlen(value) &&
           memcmp(buf, value, strlen(value)) == 0;
}

static void tick_handler(struct trap_frame *f)
{
    (void)f;
    jiffies++;
    lapic_eoi();
}

/* The basic interrupt setup: PIC masked, LAPIC on, a 10 ms jiffies tick. */
static void interrupts_init(void)
{
    pic_disable();
    lapic_init();
    trap_set_handler(VEC_TIMER, tick_handler);
    lapic_timer_periodic(VEC_TIMER, TICK_NS);
}

/* ------------------------------------------------------------------ boot */

static bool in_ram(uint64_t addr, uint64_t len)
{
    for (unsigned i = 0; i < boot.n_e820; i++) {
        const struct e820_entry *e = &boot.e820[i];
        if (e->type == E820_RAM && addr >= e->addr && addr + len <= e->addr + e->size)
            return true;
    }
    return false;
}

static bool overlaps(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
    return a < b + blen && b < a + alen;
}

static void check_e820(uint64_t ram, bool strict)
{
    uint64_t ram_total = 0;
    /* Adjacent RAM entries merged, in address order. */
    uint64_t runs[8][2];
    unsigned n_runs = 0;

    check(boot.n_e820 > 0, "the memory map is empty");
    for (unsigned i = 0; i < boot.n_e820; i++) {
        const struct e820_entry *e = &boot.e820[i];
        print("INFO e820 %u: [0x%09lx, 0x%09lx) type %u\n", i, e->addr, e->addr + e->size, e->type);
        check(e->size > 0, "e820 entry %u is empty", i);
        check(e->addr + e->size >= e->addr, "e820 entry %u wraps", i);
        if (i > 0) {
            const struct e820_entry *p = &boot.e820[i - 1];
            check(p->addr < e->addr, "e820 entries %u and %u are not sorted", i - 1, i);
            check(p->addr + p->size <= e->addr, "e820 entries %u and %u overlap", i - 1, i);
        }
        if (e->type != E820_RAM)
            continue;
        ram_total += e->size;
        if (n_runs > 0 && runs[n_runs - 1][1] == e->addr)
            runs[n_runs - 1][1] = e->addr + e->size;
        else if (n_runs < ARRAY_SIZE(runs)) {
            runs[n_runs][0] = e->addr;
            runs[n_runs][1] = e->addr + e->size;
            n_runs++;
        }
    }
    if (!strict) {
        /* Other platforms (QEMU's BIOS) keep a few pages for themselves. */
        check(ram_total <= ram && ram_total + (4ULL << 20) >= ram,
              "e820 RAM adds up to 0x%lx, configured 0x%lx", ram_total, ram);
        return;
    }
    if (ram > LOW_4G_HOLE) {
        fail("ram=0x%lx: the runner should use less than 3 GiB", ram);
        return;
    }
    check(n_runs == 2 && runs[0][0] == 0 && runs[0][1] == LOW_RAM_END && runs[1][0] == HIGH_RAM_START &&
              runs[1][1] == ram,
          "e820 RAM is not exactly [0, 0x9fc00) + [1 MiB, 0x%lx) (%u runs, first [0x%lx, 0x%lx))", ram,
          n_runs, n_runs ? runs[0][0] : 0, n_runs ? runs[0][1] : 0);
    bool hole_reserved = false;
    for (unsigned i = 0; i < boot.n_e820; i++) {
        const struct e820_entry *e = &boot.e820[i];
        if (e->type == E820_RESERVED && e->addr <= LOW_RAM_END && e->addr + e->size >= HIGH_RAM_START)
            hole_reserved = true;
    }
    check(hole_reserved, "[0x9fc00, 1 MiB) is not one reserved e820 entry");
}

static void check_initrd(uint64_t expect_size, bool strict)
{
    uint64_t image = (uintptr_t)_image_start, image_len = (uintptr_t)_image_end - image;

    if (!expect_size) {
        check(!boot.has_initrd, "an initramfs at 0x%lx size 0x%lx, none was given", boot.initrd_addr,
              boot.initrd_size);
        return;
    }
    if (!boot.has_initrd) {
        fail("no initramfs in the boot information, expected %lu bytes", expect_size);
        return;
    }
    print("INFO initramfs at 0x%lx, %lu bytes\n", boot.initrd_addr, boot.initrd_size);
    check(boot.initrd_size == expect_size, "initramfs size %lu, the file has %lu", boot.initrd_size,
          expect_size);
    if (strict)
        check(boot.initrd_addr % PAGE_SIZE == 0, "initramfs at 0x%lx is not page aligned", boot.initrd_addr);
    if (!in_ram(boot.initrd_addr, boot.initrd_size)) {
        fail("initramfs [0x%lx, +0x%lx) is not inside one e820 RAM entry", boot.initrd_addr,
             boot.initrd_size);
        return;
    }
    check(!overlaps(boot.initrd_addr, boot.initrd_size, image, image_len),
          "initramfs overlaps the payload image [0x%lx, 0x%lx)", image, image + image_len);

    const uint8_t *p = (const uint8_t *)(uintptr_t)boot.initrd_addr;
    uint64_t size = boot.initrd_size < expect_size ? boot.initrd_size : expect_size;
    uint64_t words = size / 8;
    for (uint64_t k = 0; k < words; k++) {
        uint64_t v;
        memcpy(&v, p + k * 8, 8);
        if (v != (k + 1) * PATTERN_MULTIPLIER) {
            fail("initramfs bytes differ from the file at offset %lu", k * 8);
            return;
        }
    }
    uint64_t last = (words + 1) * PATTERN_MULTIPLIER;
    for (uint64_t i = words * 8; i < size; i++)
        if (p[i] != (uint8_t)(last >> (8 * (i % 8)))) {
            fail("initramfs bytes differ from the file at offset %lu", i);
            return;
        }
}

static void check_memory(uint64_t ram, bool strict)
{
    /* The last RAM page below the initramfs is free: write and read back. */
    uint64_t top = boot.has_initrd ? boot.initrd_addr : ram;
    volatile uint64_t *probe = (volatile uint64_t *)(uintptr_t)(top - 8);
    if (in_ram(top - 8, 8) && top - 8 >= (uintptr_t)_image_end) {
        *probe = PATTERN_MULTIPLIER;
        check(*probe == PATTERN_MULTIPLIER, "RAM at 0x%lx does not keep what was written", top - 8);
    }
    if (strict && ram < LOW_4G_HOLE) {
        /* Past the end there is no memory slot: reads come back all ones. */
        uint32_t past = *(volatile uint32_t *)(uintptr_t)ram;
        check(past == 0xffffffffu, "reading 0x%lx, past the configured RAM, gave 0x%x (RAM there?)", ram,
              past);
    }
}

static void check_acpi(bool strict)
{
    if (!acpi_init(true))
        return;
    print("INFO acpi: RSDP at 0x%lx (%s), %u tables:", acpi.rsdp,
          acpi.rsdp_from_loader ? "from the loader" : "found by scanning", acpi.n_tables);
    for (unsigned i = 0; i < acpi.n_tables && i < ARRAY_SIZE(acpi.signatures); i++)
        print(" %s", acpi.signatures[i]);
    print("\n");
    if (strict && boot.entry == BOOT_ENTRY_PVH)
        check(acpi.rsdp_from_loader, "start_info.rsdp_paddr does not give the RSDP");

    uint64_t cpus = param("cpus", 1), maxcpus = param("maxcpus", cpus);
    check(acpi.have_madt, "no MADT");
    if (acpi.have_madt) {
        print("INFO madt: %u CPUs enabled, %u listed, IOAPIC 0x%x gsi base %u\n", acpi.cpus_enabled,
              acpi.cpus_listed, acpi.ioapic_addr, acpi.ioapic_gsi_base);
        check(acpi.cpus_enabled == cpus, "MADT has %u enabled CPUs, expected %lu", acpi.cpus_enabled, cpus);
        check(acpi.cpus_listed == maxcpus, "MADT lists %u CPUs, expected %lu", acpi.cpus_listed, maxcpus);
        check(acpi.n_ioapics >= 1, "MADT has no IOAPIC");
        check(acpi.lapic_addr == LAYOUT_LAPIC, "MADT LAPIC address 0x%x", acpi.lapic_addr);
        check(acpi.ioapic_addr == LAYOUT_IOAPIC && acpi.ioapic_gsi_base == 0,
              "MADT IOAPIC at 0x%x gsi base %u", acpi.ioapic_addr, acpi.ioapic_gsi_base);
    }
    check(acpi.have_fadt, "no FADT");
    if (!acpi.have_fadt)
        return;
    print("INFO fadt: SCI %u, PM1a_EVT 0x%x, PM1a_CNT 0x%x, flags 0x%x, reset %u:0x%lx=0x%x, _S5 %d\n",
          acpi.sci_irq, acpi.pm1a_evt, acpi.pm1a_cnt, acpi.fadt_flags, acpi.reset_space, acpi.reset_addr,
          acpi.reset_value, acpi.s5_slp_typ);
    if (!strict)
        return;
    check(acpi.sci_irq == LAYOUT_SCI, "FADT SCI_INT %u", acpi.sci_irq);
    check(acpi.pm1a_evt == LAYOUT_PM1A_EVT && acpi.pm1_evt_len == 4, "FADT PM1a_EVT_BLK 0x%x len %u",
          acpi.pm1a_evt, acpi.pm1_evt_len);
    check(acpi.pm1a_cnt == LAYOUT_PM1A_CNT, "FADT PM1a_CNT_BLK 0x%x", acpi.pm1a_cnt);
    check(!(acpi.fadt_flags & FADT_PWR_BUTTON), "FADT says there is no fixed-feature power button");
    check(!(acpi.fadt_flags & FADT_HW_REDUCED), "FADT says hardware-reduced ACPI (no PM1 blocks)");
    check((acpi.fadt_flags & FADT_RESET_REG_SUP) && acpi.reset_space == 1 &&
              acpi.reset_addr == LAYOUT_RESET_PORT && acpi.reset_value == LAYOUT_RESET_VALUE,
          "FADT reset register is not I/O 0xcf9 = 6");
    check(acpi.s5_slp_typ == LAYOUT_S5, "DSDT _S5 SLP_TYP %d, expected %d", acpi.s5_slp_typ, LAYOUT_S5);
}

static void test_boot(void)
{
    uint64_t ram = param("ram", 0);
    bool strict = !param_is("platform", "qemu");
    char want[16];

    if (cmdline_get("entry", want, sizeof(want))) {
        const char *got = boot.entry == BOOT_ENTRY_PVH       ? "pvh"
                          : boot.entry == BOOT_ENTRY_LINUX64 ? "linux64"
                                                             : "linux32";
        check(strlen(want) == strlen(got) && memcmp(want, got, strlen(got)) == 0,
              "entered through %s, expected %s", got, want);
    }
    /* The runner compares this with what it passed. */
    print("CMDLINE %s\n", boot.cmdline);
    check(in_ram(boot.cmdline_addr, strlen(boot.cmdline) + 1), "the command line at 0x%lx is not in RAM",
          boot.cmdline_addr);
    check(in_ram(boot.info_addr, boot.entry == BOOT_ENTRY_PVH ? 56 : 4096),
          "the boot information at 0x%lx is not in RAM", boot.info_addr);
    check(in_ram((uintptr_t)_image_start, (uintptr_t)(_image_end - _image_start)),
          "the payload [0x%p, 0x%p) is not in RAM", (void *)_image_start, (void *)_image_end);

    if (!ram)
        fail("no ram= on the command line");
    else
        check_e820(ram, strict);
    check_initrd(param("initrd", 0), strict);
    if (ram)
        check_memory(ram, strict);
    check_acpi(strict);
}

/* ---------------------------------------------------------------- serial */

#define RX_BUF 256
static volatile char rx_buf[RX_BUF];
static volatile unsigned rx_len;
static volatile unsigned rx_irqs;

static void rx_drain(void)
{
    char c;
    while (serial_getc(&c))
        if (rx_len < RX_BUF - 1)
            rx_buf[rx_len++] = c;
}

static void com1_handler(struct trap_frame *f)
{
    (void)f;
    rx_irqs++;
    rx_drain();
    lapic_eoi();
}

/* The first non-empty line received, or false after timeout_s seconds.
 * Prints the READY line every half second until then: output sent before
 * the host connects (socket mode) is dropped, so one line is not enough. */
static bool serial_read_line(char *line, size_t size, uint64_t timeout_s)
{
    uint64_t deadline = jiffies + timeout_s * TICKS_PER_SECOND, next_ready = jiffies;

    for (;;) {
        irq_disable();
        rx_drain();
        for (unsigned i = 0; i < rx_len; i++) {
            if (rx_buf[i] != '\n' && rx_buf[i] != '\r')
                continue;
            if (i == 0) {
                /* Drop a leading line end (the \n of a \r\n). */
                for (unsigned j = 1; j < rx_len; j++)
                    rx_buf[j - 1] = rx_buf[j];
                rx_len--;
                i = (unsigned)-1;
                continue;
            }
            size_t n = i < size - 1 ? i : size - 1;
            for (size_t j = 0; j < n; j++)
                line[j] = rx_buf[j];
            line[n] = '\0';
            return true;
        }
        if (jiffies >= deadline)
            return false;
        if (jiffies >= next_ready) {
            print("READY %s\n", test_name);
            next_ready = jiffies + TICKS_PER_SECOND / 2;
        }
        wait_for_interrupt();
    }
}

static void test_serial(void)
{
    char line[RX_BUF];

    /* Every printable character, and a line longer than any FIFO. */
    print("OUT 1 %s\n", " !\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`"
                        "abcdefghijklmnopqrstuvwxyz{|}~");
    print("OUT 2 ");
    for (unsigned i = 0; i < 1000; i++)
        serial_putc((char)('a' + i % 26));
    print("\n");
    if (!param("input", 0))
        return;

    acpi_init(false);
    interrupts_init();
    trap_set_handler(VEC_COM1, com1_handler);
    ioapic_route_isa(4, VEC_COM1, false, false);
    rx_drain(); /* whatever arrived before we listened is not the test line */
    rx_len = 0;
    serial_enable_rx_irq();
    if (!serial_read_line(line, sizeof(line), param("timeout", 60))) {
        fail("no input line within the timeout");
        return;
    }
    print("ECHO %s\n", line);
    print("INFO serial: %u receive interrupts\n", rx_irqs);
}

/* ---------------------------------------------------- pause/resume (CPL3) */

static volatile uint64_t user_counter;
static uint64_t ticks, ticks_wanted, last_counter, stalled_ticks;

static void user_count_loop(void)
{
    for (;;)
        user_counter++;
}

static void pause_tick(struct trap_frame *f)
{
    uint64_t c = user_counter;

    ticks++;
    print("TICK %lu %lu\n", ticks, c);
    /* A tick left pending across a pause may arrive before CPL3 ran again,
     * and on a loaded host (CI runs suites side by side on 2 cores) a
     * tick's serial exits can outlast the 20 ms period, so the next tick is
     * already due at EOI: a few unchanged counts in a row happen. Ten in a
     * row (200 ms without one CPL3 instruction) is a stalled CPL3. */
    stalled_ticks = ticks > 1 && c == last_counter ? stalled_ticks + 1 : 0;
    check(stalled_ticks < 10, "the CPL3 counter did not move for ticks %lu to %lu", ticks - 10, ticks);
    check(c >= last_counter, "the CPL3 counter went back from %lu to %lu", last_counter, c);
    check((f->cs & 3) == 3, "tick %lu interrupted CPL%lu code, expected the CPL3 loop", ticks, f->cs & 3);
    last_counter = c;
    lapic_eoi();
    if (ticks >= ticks_wanted || test_failures)
        finish();
}

static void test_pause(void)
{
    ticks_wanted = param("ticks", 100);
    acpi_init(false);
    pic_disable();
    lapic_init();
    trap_set_handler(VEC_TIMER, pause_tick);
    lapic_timer_periodic(VEC_TIMER, (uint32_t)param("period_ms", 20) * 1000000u);
    enter_user(user_count_loop, user_stack_top);
}

/* ------------------------------------------- snapshot/restore (CPL3) */

/* State the VMM's devices hold, not guest RAM: a restore that lost a
 * device's registers shows up on the next tick. */
#define SNAP_CMOS_INDEX 0x41
#define SNAP_CMOS_VALUE 0x5a
#define COM1_SCR        0x3ff
#define SNAP_SCR_VALUE  0xa5

static bool snapshot_blk;

static void snapshot_tick(struct trap_frame *f)
{
    if (snapshot_blk)
        snapshot_blk_tick(ticks + 1); /* the number pause_tick gives this tick */
    uint8_t cmos = cmos_read(SNAP_CMOS_INDEX), scr = inb(COM1_SCR);
    uint16_t en = inw((uint16_t)(acpi.pm1a_evt + 2));

    check(cmos == SNAP_CMOS_VALUE, "CMOS byte 0x%x is 0x%x, expected 0x%x", SNAP_CMOS_INDEX, cmos,
          SNAP_CMOS_VALUE);
    check(scr == SNAP_SCR_VALUE, "COM1 scratch register is 0x%x, expected 0x%x", scr, SNAP_SCR_VALUE);
    check(en & PM1_PWRBTN, "PM1_EN lost PWRBTN_EN (0x%x)", en);
    pause_tick(f);
}

/* test=pause's ticking CPL3 counter, plus device state to carry over and,
 * with blk=1, a virtio-blk queue kept busy. */
static void test_snapshot(void)
{
    ticks_wanted = param("ticks", 100);
    acpi_init(false);
    snapshot_blk = param("blk", 0);
    if (snapshot_blk && !snapshot_blk_init())
        finish();
    pic_disable();
    lapic_init();
    cmos_write(SNAP_CMOS_INDEX, SNAP_CMOS_VALUE);
    outb(COM1_SCR, SNAP_SCR_VALUE);
    outw((uint16_t)(acpi.pm1a_evt + 2), PM1_PWRBTN);
    trap_set_handler(VEC_TIMER, snapshot_tick);
    lapic_timer_periodic(VEC_TIMER, (uint32_t)param("period_ms", 20) * 1000000u);
    enter_user(user_count_loop, user_stack_top);
}

/* ------------------------------------------------------- CPL3 exceptions */

#define USER_UNMAPPED 0x140000000ULL /* above the 4 GiB identity map */
extern char irq_stack_top[];
static volatile unsigned user_stage;

static void user_fault_code(void)
{
    __asm__ volatile("ud2");
    user_stage = 1;
    (void)*(volatile uint64_t *)(uintptr_t)USER_UNMAPPED;
    for (;;)
        user_counter++;
}

static bool on_irq_stack(void)
{
    char here;
    uintptr_t p = (uintptr_t)&here;
    return p < (uintptr_t)irq_stack_top && p > (uintptr_t)irq_stack_top - 16384;
}

static void user_ud_handler(struct trap_frame *f)
{
    const uint8_t *ip = (const uint8_t *)(uintptr_t)f->rip;
    check(f->cs == SEL_USER_CS && f->ss == SEL_USER_DS, "#UD frame cs 0x%lx ss 0x%lx", f->cs, f->ss);
    check(ip[0] == 0x0f && ip[1] == 0x0b, "#UD rip 0x%lx is not at the ud2", f->rip);
    check(on_irq_stack(), "#UD from CPL3 did not switch to the TSS rsp0 stack");
    print("INFO #UD from CPL3 at 0x%lx, returning past it\n", f->rip);
    f->rip += 2;
    if (test_failures)
        finish();
}

static void user_pf_handler(struct trap_frame *f)
{
    uint64_t cr2 = read_cr2();
    check(f->cs == SEL_USER_CS, "#PF frame cs 0x%lx", f->cs);
    check(user_stage == 1, "CPL3 did not continue after the #UD handler returned");
    check(cr2 == USER_UNMAPPED, "#PF cr2 0x%lx, expected 0x%llx", cr2, USER_UNMAPPED);
    check((f->error & 0x5) == 0x4, "#PF error 0x%lx, expected user + not-present", f->error);
    print("INFO #PF from CPL3 at 0x%lx cr2 0x%lx error 0x%lx\n", f->rip, cr2, f->error);
    finish();
}

static void test_usermode(void)
{
    acpi_init(false);
    trap_set_handler(6, user_ud_handler);
    trap_set_handler(14, user_pf_handler);
    enter_user(user_fault_code, user_stack_top);
}

/* ----------------------------------------------------------- power button */

static void sci_handler(struct trap_frame *f)
{
    uint16_t evt = (uint16_t)acpi.pm1a_evt;
    uint16_t sts = inw(evt);

    (void)f;
    print("INFO SCI: PM1_STS 0x%x\n", sts);
    if (!(sts & PM1_PWRBTN)) {
        outw(evt, sts); /* write-one-to-clear whatever it was */
        lapic_eoi();
        return;
    }
    outw(evt, PM1_PWRBTN);
    sts = inw(evt);
    check(!(sts & PM1_PWRBTN), "PWRBTN_STS still set after writing 1 to clear it (0x%x)", sts);
    lapic_eoi();
    print("INFO power button pressed\n");
    finish();
}

static void test_power_button(void)
{
    if (!acpi_init(false) || !acpi.have_fadt) {
        fail("no FADT: no PM1 event block to enable the power button in");
        return;
    }
    check(!(acpi.fadt_flags & FADT_PWR_BUTTON), "FADT has no fixed-feature power button");
    uint16_t evt = (uint16_t)acpi.pm1a_evt;
    uint16_t en = (uint16_t)(evt + acpi.pm1_evt_len / 2);

    /* An OS switches to ACPI mode when the FADT has an SMI command port
     * (QEMU's BIOS); our VMM has none and is always in ACPI mode. */
    if (acpi.smi_cmd && acpi.smi_cmd <= 0xffff && !(inw((uint16_t)acpi.pm1a_cnt) & PM1_SCI_EN)) {
        outb((uint16_t)acpi.smi_cmd, acpi.acpi_enable);
        for (unsigned i = 0; i < 1000 && !(inw((uint16_t)acpi.pm1a_cnt) & PM1_SCI_EN); i++)
            cpu_relax();
    }
    interrupts_init();
    trap_set_handler(VEC_SCI, sci_handler);
    outw(evt, PM1_PWRBTN); /* stale status from before we listened */
    outw(en, PM1_PWRBTN);
    /* The SCI is level, active high on this platform unless the MADT says. */
    ioapic_route_isa(acpi.sci_irq, VEC_SCI, true, false);
    uint64_t deadline = jiffies + param("timeout", 60) * TICKS_PER_SECOND, next_ready = 0;
    while (jiffies < deadline) {
        if (jiffies >= next_ready) {
            print("READY %s\n", test_name);
            next_ready = jiffies + TICKS_PER_SECOND;
        }
        wait_for_interrupt();
    }
    fail("no power button event within the timeout");
}

/* ------------------------------------------------------------------ reset */

#define CMOS_MARKER_INDEX 0x40
#define CMOS_MARKER       0xa5

static void test_reset(void)
{
    bool acpi_method = param_is("method", "acpi");
    uint8_t m = cmos_read(CMOS_MARKER_INDEX);

    acpi_init(false);
    if (m == CMOS_MARKER) {
        print("INFO reset: marker found, this is the boot after the reset\n");
        cmos_write(CMOS_MARKER_INDEX, 0);
        check(cmos_read(CMOS_MARKER_INDEX) == 0, "CMOS index 0x%x did not clear", CMOS_MARKER_INDEX);
        return;
    }
    cmos_write(CMOS_MARKER_INDEX, CMOS_MARKER);
    m = cmos_read(CMOS_MARKER_INDEX);
    if (m != CMOS_MARKER) {
        fail("CMOS index 0x%x reads 0x%x after writing 0x%x", CMOS_MARKER_INDEX, m, CMOS_MARKER);
        return;
    }
    print("RESETTING %s\n", acpi_method ? "acpi" : "i8042");
    if (acpi_method)
        reset_acpi();
    else
        reset_i8042();
    /* The VMM may take the request asynchronously: wait to be stopped. The
     * runner's timeout reports a reset that never happens. */
    for (;;)
        __asm__ volatile("cli; hlt");
}

/* ----------------------------------------------------------- triple fault */

static void test_triple_fault(void)
{
    print("INFO loading an empty IDT and raising #UD\n");
    trap_load_empty_idt();
    __asm__ volatile("ud2");
    fail("still running after an exception with no IDT");
}

/* ---------------------------------------------------------- debug console */

static void test_debug_console(void)
{
    uint16_t port = (uint16_t)param("dbgport", 0xe9);

    port_puts(port, "DEBUGCON hello from the guest\n");
    port_puts(port, "DEBUGCON !\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`"
                    "abcdefghijklmnopqrstuvwxyz{|}~\n");
}

/* ------------------------------------------------------------------------ */

/* String number index of an SMBIOS structure whose strings start at strs. */
static const char *smbios_string(const char *strs, uint8_t index)
{
    if (!index)
        return "-";
    for (uint8_t i = 1; *strs; i++, strs += strlen(strs) + 1)
        if (i == index)
            return strs;
    return "(missing)";
}

/* test=smbios: finds the SMBIOS 3.0 entry point as Linux's legacy scan does
 * (16-byte steps over 0xf0000-0xfffff), checks it, walks the structure table
 * and prints what the system and OEM strings structures say, for the runner
 * to compare with --platform. */
static void test_smbios(void)
{
    const uint8_t *ep = NULL;
    for (uintptr_t a = 0xf0000; a < 0x100000 && !ep; a += 16)
        if (memcmp((const void *)a, "_SM3_", 5) == 0)
            ep = (const uint8_t *)a;
    if (!ep) {
        fail("no _SM3_ entry point in 0xf0000-0xfffff");
        return;
    }
    uint8_t sum = 0;
    for (unsigned i = 0; i < 24; i++)
        sum = (uint8_t)(sum + ep[i]);
    check(sum == 0 && ep[6] == 24 && ep[7] == 3, "entry point at %p: checksum %u, length %u, version %u", ep, sum,
          ep[6], ep[7]);
    uint64_t table = *(const uint64_t *)(ep + 16);
    uint32_t len = *(const uint32_t *)(ep + 12);
    if (table < 0xf0000 || table + len > 0x100000 || len < 4) {
        fail("structure table [0x%lx, +%u) outside the BIOS area", table, len);
        return;
    }
    print("INFO smbios entry point %p, table 0x%lx, %u bytes\n", ep, table, len);
    const uint8_t *p = (const uint8_t *)(uintptr_t)table, *end = p + len;
    unsigned structures = 0;
    bool ended = false;
    while (!ended && p + 4 <= end && p[1] >= 4) {
        const char *strs = (const char *)p + p[1];
        if (p[0] == 1 && p[1] >= 0x19) {
            print("INFO smbios system vendor=%s product=%s serial=%s uuid=", smbios_string(strs, p[4]),
                  smbios_string(strs, p[5]), smbios_string(strs, p[7]));
            for (unsigned i = 0; i < 16; i++)
                print("%02x", p[8 + i]);
            print("\n");
        }
        if (p[0] == 11)
            for (uint8_t i = 1; i <= p[4]; i++)
                print("INFO smbios oem %u=%s\n", i, smbios_string(strs, i));
        ended = p[0] == 127;
        /* Past the strings: one NUL ends each, one more the set (two for none). */
        const char *s = strs;
        if (!*s)
            s += 2;
        else {
            while (*s)
                s += strlen(s) + 1;
            s++;
        }
        p = (const uint8_t *)s;
        structures++;
    }
    check(ended && p == end, "the table does not end with type 127 at its length (%u structures)", structures);
}

/* ------------------------------------------------------------------------ */

struct test_case {
    const char *name;
    void (*run)(void);
};

static const struct test_case tests[] = {
    {"boot", test_boot},
    {"serial", test_serial},
    {"pause", test_pause},
    {"snapshot", test_snapshot},
    {"usermode", test_usermode},
    {"powerbtn", test_power_button},
    {"reset", test_reset},
    {"triplefault", test_triple_fault},
    {"debugcon", test_debug_console},
    {"smbios", test_smbios},
};

void run_test(const char *name)
{
    for (unsigned i = 0; i < ARRAY_SIZE(tests); i++) {
        if (strlen(tests[i].name) == strlen(name) && memcmp(tests[i].name, name, strlen(name)) == 0) {
            tests[i].run();
            return;
        }
    }
    if (run_virtio_test(name))
        return;
    fail("unknown test");
}
