/* SPDX-License-Identifier: Apache-2.0 */
/*
 * AML shared by the DSDT's hotplug slots whose controller keeps one bit per
 * slot in 32-bit registers (devices/hotplug_slots.h): processors C000..
 * (acpi_cpu_hotplug.c) and memory devices M000.. (acpi_mem_hotplug.c), all
 * in \_SB, their registers fields named <reg><word> there.
 */
#pragma once

#include <stdint.h>

#include "aml.h"

#define ACPI_NOTIFY_DEVICE_CHECK  1
#define ACPI_NOTIFY_EJECT_REQUEST 3

/* <scope><letter><index as 3 hex digits>, e.g. "\\_SB.C002". */
void acpi_slot_name(char out[24], const char *scope, char letter, uint32_t index);
/* "\\_SB.<reg><word>". */
void acpi_slot_register(char out[24], const char *reg, uint32_t word);
/* Method(_STA): 0x0f (present, enabled, shown, functioning) when slot
 * index's bit of register <reg><index / 32> is set, else 0. */
void acpi_slot_sta(AmlBuf *b, const char *reg, uint32_t index);
/* Statements for an _EVT: Store(<reg><word>, Local<local>) (read once: the
 * register clears on read), then Notify(\_SB.<letter>NNN, value) for each
 * slot of that word below n whose bit is set. */
void acpi_slot_notify_word(AmlBuf *b, const char *reg, uint32_t word, uint32_t n, char letter, unsigned local,
                           uint64_t value);
