/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The x86 guest-physical address map. Everything that places something in
 * the guest (loader, ACPI, e820, devices) takes its addresses from here.
 *
 *   0x0000_0000  real-mode IVT / BDA (RAM)
 *   0x0000_0500  boot GDT           0x0000_0520  boot IDT (empty)
 *   0x0000_6000  PVH start_info, then its memmap
 *   0x0000_7000  Linux zero page (boot_params)
 *   0x0000_8ff0  initial stack top
 *   0x0000_9000  PML4, 0xa000 PDPT, 0xb000-0xefff four PDs (identity 4 GiB, 2 MiB pages)
 *   0x0002_0000  kernel command line (up to 64 KiB)
 *   0x0009_fc00  EBDA start -> reserved up to 1 MiB (MP table at 0x9fc00)
 *   0x000e_0000  ACPI RSDP and tables (reserved)
 *   0x000f_e000  SMBIOS entry point and tables (reserved)
 *   0x0010_0000  kernel (bzImage protected-mode part, or per ELF headers)
 *   ...          RAM up to min(size, 3 GiB); initramfs at its top, page aligned
 *   0xc000_0000  32-bit hole: PCI MMIO window (512 MiB)
 *   0xe000_0000  PCI ECAM (256 MiB)
 *   0xfec0_0000  IOAPIC             0xfee0_0000  LAPIC
 *   0xfffb_c000  KVM identity map page, 0xfffb_d000 KVM TSS (3 pages)
 *   0x1_0000_0000 RAM above 4 GiB (the rest of the configured size)
 */
#pragma once

#define LAYOUT_BOOT_GDT 0x500ULL
#define LAYOUT_BOOT_IDT 0x520ULL
#define LAYOUT_PVH_START_INFO 0x6000ULL
#define LAYOUT_ZERO_PAGE 0x7000ULL
#define LAYOUT_BOOT_STACK 0x8ff0ULL
#define LAYOUT_PML4 0x9000ULL
#define LAYOUT_PDPT 0xa000ULL
#define LAYOUT_PD 0xb000ULL /* 4 pages */
#define LAYOUT_CMDLINE 0x20000ULL
#define LAYOUT_CMDLINE_MAX 0x10000ULL
#define LAYOUT_EBDA_START 0x9fc00ULL
#define LAYOUT_MPTABLE LAYOUT_EBDA_START
#define LAYOUT_ACPI_START 0xe0000ULL
#define LAYOUT_ACPI_END 0xfe000ULL
#define LAYOUT_SMBIOS_START LAYOUT_ACPI_END /* 16-byte aligned, inside the 0xf0000 scan */
#define LAYOUT_SMBIOS_END 0x100000ULL
#define LAYOUT_HIGH_MEMORY_START 0x100000ULL /* 1 MiB: where kernels load */

#define LAYOUT_MEM_32BIT_GAP_START 0xc0000000ULL
#define LAYOUT_MEM_32BIT_GAP_SIZE 0x40000000ULL
#define LAYOUT_RAM_64BIT_START 0x100000000ULL
#define LAYOUT_PCI_MMIO_START 0xc0000000ULL
#define LAYOUT_PCI_MMIO_SIZE 0x20000000ULL
#define LAYOUT_PCI_ECAM_START 0xe0000000ULL
#define LAYOUT_PCI_ECAM_SIZE 0x10000000ULL
#define LAYOUT_IOAPIC_START 0xfec00000ULL
#define LAYOUT_LAPIC_START 0xfee00000ULL
#define LAYOUT_KVM_IDENTITY_MAP 0xfffbc000ULL
#define LAYOUT_KVM_TSS 0xfffbd000ULL

/* Port I/O map of the platform devices. */
#define PORT_PIC_MASTER 0x20
#define PORT_PIT 0x40
#define PORT_I8042_DATA 0x60
#define PORT_I8042_CMD 0x64
#define PORT_RTC 0x70 /* 0x70 index, 0x71 data */
#define PORT_POST 0x80
#define PORT_PVPANIC 0x505
#define PORT_ACPI_PM1A_EVT 0x600 /* 4 bytes: PM1_STS (2), PM1_EN (2) */
#define PORT_ACPI_PM1A_CNT 0x604 /* 2 bytes */
#define PORT_ACPI_RESET 0xcf9    /* FADT RESET_REG, value ACPI_RESET_VALUE */
#define ACPI_RESET_VALUE 0x06
#define PORT_COM1 0x3f8
#define PORT_PCI_CONFIG_ADDRESS 0xcf8
#define PORT_PCI_CONFIG_DATA 0xcfc

/* IRQs (IOAPIC pins = GSIs). */
#define IRQ_COM1 4
#define IRQ_ACPI_SCI 9
#define IRQ_RTC 8

/* Sleep type the DSDT's _S5 advertises and the PM1 control decoder expects. */
#define ACPI_S5_SLP_TYP 5
