/* SPDX-License-Identifier: Apache-2.0 */
#include "acpi_slots.h"

#include <stdio.h>

#define STA_PRESENT_ENABLED 0x0f

void acpi_slot_name(char out[24], const char *scope, char letter, uint32_t index)
{
    snprintf(out, 24, "%s%c%03X", scope, letter, index);
}

void acpi_slot_register(char out[24], const char *reg, uint32_t word)
{
    snprintf(out, 24, "\\_SB.%s%u", reg, word);
}

/* Opens If (And(<reg or Local<local>>, slot index's bit)); close it with
 * aml_end(b, returned). */
static size_t if_slot_bit(AmlBuf *b, const char *reg, unsigned local, uint32_t index)
{
    size_t cond = aml_if_begin(b);
    aml_and(b);
    if (reg)
        aml_namestring(b, reg);
    else
        aml_local(b, local);
    aml_integer(b, 1ULL << (index % 32));
    aml_no_target(b);
    return cond;
}

void acpi_slot_sta(AmlBuf *b, const char *reg, uint32_t index)
{
    char path[24];
    acpi_slot_register(path, reg, index / 32);
    size_t m = aml_method_begin(b, "_STA", 0);
    size_t cond = if_slot_bit(b, path, 0, index);
    aml_return(b);
    aml_integer(b, STA_PRESENT_ENABLED);
    aml_end(b, cond);
    aml_return(b);
    aml_integer(b, 0);
    aml_end(b, m);
}

void acpi_slot_notify_word(AmlBuf *b, const char *reg, uint32_t word, uint32_t n, char letter, unsigned local,
                           uint64_t value)
{
    char path[24];
    acpi_slot_register(path, reg, word);
    aml_store(b);
    aml_namestring(b, path);
    aml_local(b, local);
    for (uint32_t i = word * 32; i < n && i < (word + 1) * 32; i++) {
        char name[24];
        acpi_slot_name(name, "\\_SB.", letter, i);
        size_t cond = if_slot_bit(b, NULL, local, i);
        aml_notify(b);
        aml_namestring(b, name);
        aml_integer(b, value);
        aml_end(b, cond);
    }
}
