/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The guest payload's small library: what the boot stubs hand over, serial,
 * printf-lite, CMOS, ACPI tables, interrupts, LAPIC/IOAPIC, CPL3, power.
 *
 * Output protocol on COM1 (the runner parses it):
 *   BOOT <entry> <test>       once per boot; entry is linux64 or pvh
 *   INFO ...                  free-form
 *   FAIL <test>: <why>        one per failed check
 *   PASS <test>               the test succeeded (printed only without FAILs)
 * and the payload ends by powering off through ACPI S5.
 */
#pragma once

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* ---- boot hand-over (boot.c) ---- */

enum boot_entry {
    BOOT_ENTRY_LINUX64 = 1, /* vmlinux / bzImage: %rsi = boot_params */
    BOOT_ENTRY_PVH = 2,     /* Xen PVH: %ebx = hvm_start_info */
    BOOT_ENTRY_LINUX32 = 3, /* 32-bit boot protocol (the bzImage's own setup code) */
};

#define E820_RAM      1
#define E820_RESERVED 2
#define MAX_E820      128

struct e820_entry {
    uint64_t addr;
    uint64_t size;
    uint32_t type;
};

struct boot_info {
    enum boot_entry entry;
    uint64_t info_addr; /* boot_params or start_info */
    const char *cmdline;
    uint64_t cmdline_addr;
    uint64_t initrd_addr, initrd_size;
    bool has_initrd;
    uint64_t rsdp_addr; /* 0: not given by the loader */
    unsigned n_e820;
    struct e820_entry e820[MAX_E820];
    const char *error; /* the hand-over itself was malformed */
};

extern struct boot_info boot;
/* Linker symbols: the image's extent. */
extern char _image_start[], _image_end[];

void boot_info_parse(enum boot_entry entry, uint64_t info);

/* ---- strings and formatting (lib.c) ---- */

void *memset(void *s, int c, size_t n);
void *memcpy(void *d, const void *s, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);

void vprint(const char *fmt, va_list ap);
void print(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Formats into buf (always terminated), returns the length written. */
int snprint(char *buf, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Kernel command line "key=value key2=value2" lookups. */
const char *cmdline_get(const char *key, char *buf, size_t size);
uint64_t cmdline_get_u64(const char *key, uint64_t def);
/* Parses decimal or 0x hex, with an optional K/M/G suffix. */
bool parse_u64(const char *s, uint64_t *out);

/* ---- COM1 16550 (serial.c) ---- */

void serial_init(void);
void serial_putc(char c);
void serial_write(const char *s, size_t n);
bool serial_getc(char *c);
void serial_enable_rx_irq(void);

/* Any byte-wide output port, e.g. the 0xe9 debug console. */
void port_puts(uint16_t port, const char *s);

/* ---- test reporting (main.c) ---- */

extern const char *test_name;
extern unsigned test_failures;
void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void check(bool cond, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prints PASS (or nothing more if something failed) and powers off. */
__attribute__((noreturn)) void finish(void);

/* ---- CMOS (platform.c) ---- */

uint8_t cmos_read(uint8_t index);
void cmos_write(uint8_t index, uint8_t value);

/* ---- ACPI (acpi.c) ---- */

struct acpi_info {
    uint64_t rsdp;
    bool rsdp_from_loader;
    unsigned n_tables;
    char signatures[32][5];
    /* FADT */
    bool have_fadt;
    uint16_t sci_irq;
    uint32_t smi_cmd;
    uint8_t acpi_enable;
    uint32_t pm1a_evt, pm1a_cnt;
    uint8_t pm1_evt_len;
    uint32_t fadt_flags;
    uint8_t reset_space;
    uint64_t reset_addr;
    uint8_t reset_value;
    int s5_slp_typ; /* -1: no _S5 in the DSDT */
    /* MADT */
    bool have_madt;
    uint32_t lapic_addr;
    unsigned cpus_enabled, cpus_listed;
    uint32_t ioapic_addr, ioapic_gsi_base;
    unsigned n_ioapics;
    /* Interrupt source overrides, indexed by ISA IRQ (gsi -1: none). */
    int iso_gsi[16];
    uint16_t iso_flags[16];
    bool checksum_errors;
};

#define FADT_PWR_BUTTON    (1u << 4) /* set: no fixed-feature power button */
#define FADT_RESET_REG_SUP (1u << 10)
#define FADT_HW_REDUCED    (1u << 20)

extern struct acpi_info acpi;
/* Finds and checks every table, once per boot (later calls return the first
 * answer); checksum or structure problems are reported through fail() when
 * strict, else only printed. Returns false when the RSDP or the root table
 * is missing. */
bool acpi_init(bool strict);

/* ---- interrupts (trap.c, isr.S) ---- */

struct trap_frame {
    uint64_t r15, r14, r13, r12, r11, r10, r9, r8;
    uint64_t rbp, rdi, rsi, rdx, rcx, rbx, rax;
    uint64_t vector, error;
    uint64_t rip, cs, rflags, rsp, ss;
};

typedef void (*trap_handler)(struct trap_frame *f);

#define VEC_TIMER    0x20
#define VEC_COM1     0x24
#define VEC_SCI      0x29
#define VEC_SPURIOUS 0xff

void trap_init(void);
void trap_set_handler(unsigned vector, trap_handler h);
/* Points the vector's gate straight at `entry`, an assembly stub that saves
 * what it touches and ends in iretq: no trap_dispatch on the way, for
 * handlers whose first instructions are timed (bench/blk_payload.c). */
void trap_set_gate(unsigned vector, void (*entry)(void));
/* Loads a zero-limit IDT: the next exception escalates to a triple fault. */
void trap_load_empty_idt(void);

/* ---- CPL3 (cpu.c, isr.S) ---- */

#define SEL_KERNEL_CS 0x10
#define SEL_KERNEL_DS 0x18
#define SEL_USER_DS   0x2b
#define SEL_USER_CS   0x33
#define SEL_TSS       0x38

void cpu_init(void); /* TSS, task register */
__attribute__((noreturn)) void enter_user(void (*fn)(void), void *stack_top);
extern char user_stack_top[];

/* ---- APIC (apic.c) ---- */

void pic_disable(void);
void lapic_init(void);
void lapic_eoi(void);
uint32_t lapic_id(void);
/* Periodic timer at `vector` every `ns` nanoseconds (1 GHz APIC bus). */
void lapic_timer_periodic(uint8_t vector, uint32_t ns);
void lapic_timer_stop(void);
/* Routes ISA IRQ `irq` (honouring the MADT's override for it) to `vector`
 * on this CPU; default_level/default_low describe the line when there is
 * no override. */
void ioapic_route_isa(unsigned irq, uint8_t vector, bool default_level, bool default_low);
extern volatile uint64_t jiffies; /* timer ticks, when the tick handler runs */

/* ---- power (platform.c) ---- */

__attribute__((noreturn)) void acpi_poweroff(void);
void reset_i8042(void);
void reset_acpi(void);

/* ---- tests (tests.c) ---- */

void run_test(const char *name);
/* PCI and virtio tests (virtio_tests.c); false when name is not one. */
bool run_virtio_test(const char *name);
