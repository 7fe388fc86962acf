/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The guest's SMBIOS (DMI) tables, version 3.0, as Cloud Hypervisor builds
 * them from --platform: a 64-bit entry point ("_SM3_") at LAYOUT_SMBIOS_START,
 * where Linux's legacy scan of 0xf0000-0xfffff finds it, then the structure
 * table right after it:
 *
 *   type 0   BIOS information: this VMM, "the system is a virtual machine"
 *   type 1   system information: manufacturer and product "vmm", version,
 *            serial_number, uuid (all zero without one)
 *   type 11  OEM strings: oem_strings, when there are any
 *   type 127 end of table
 *
 * In the guest that is /sys/class/dmi/id/{sys_vendor,product_name,
 * product_serial,product_uuid} and dmidecode's view; cloud-init and systemd
 * read the serial and UUID from there.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "guest_memory.h"

#define SMBIOS_ENTRY_POINT_LEN 24

/*
 * Builds the tables for guest address base into buf (size bytes, zeroed
 * first); platform may be NULL. Returns the bytes used, or -EINVAL for a
 * uuid that is not 8-4-4-4-12 hex digits or an empty OEM string, -ENOSPC
 * when the strings do not fit, with errbuf saying which.
 */
long smbios_build(uint8_t *buf, size_t size, uint64_t base, const PlatformConfig *platform, char *errbuf,
                  size_t errlen);
/* smbios_build() into [LAYOUT_SMBIOS_START, LAYOUT_SMBIOS_END) of guest RAM. */
int smbios_write_tables(GuestMemory *mem, const PlatformConfig *platform, char *errbuf, size_t errlen);
