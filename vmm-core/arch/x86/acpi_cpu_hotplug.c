/* SPDX-License-Identifier: Apache-2.0 */
#include "acpi_cpu_hotplug.h"

#include <stdio.h>

#include "cpu_hotplug.h"

#define NOTIFY_DEVICE_CHECK  1
#define NOTIFY_EJECT_REQUEST 3
#define STA_PRESENT_ENABLED  0x0f /* present, enabled, shown, functioning */
#define MADT_LOCAL_APIC      0
#define MADT_LAPIC_ENABLED   1

static void processor_name(char out[24], const char *prefix, uint32_t index)
{
    snprintf(out, 24, "%sC%03X", prefix, index);
}

static void register_name(char out[24], const char *reg, uint32_t word)
{
    snprintf(out, 24, "\\_SB.%s%u", reg, word);
}

/* Opens If (And(<reg or Local<local>>, vCPU index's bit)); close it with
 * aml_end(b, returned). */
static size_t if_vcpu_bit(AmlBuf *b, const char *reg, unsigned local, uint32_t index)
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

void acpi_cpu_hotplug_devices(AmlBuf *b, uint32_t max_vcpus)
{
    static const AmlFieldUnit regs[] = {
        {"CPR0", 32}, {"CPR1", 32}, {"CPR2", 32}, {"CPR3", 32}, {"CPR4", 32}, {"CPR5", 32}, {"CPR6", 32},
        {"CPR7", 32}, {"CIN0", 32}, {"CIN1", 32}, {"CIN2", 32}, {"CIN3", 32}, {"CIN4", 32}, {"CIN5", 32},
        {"CIN6", 32}, {"CIN7", 32}, {"CRM0", 32}, {"CRM1", 32}, {"CRM2", 32}, {"CRM3", 32}, {"CRM4", 32},
        {"CRM5", 32}, {"CRM6", 32}, {"CRM7", 32}, {"CEJ0", 32}, {"CEJ1", 32}, {"CEJ2", 32}, {"CEJ3", 32},
        {"CEJ4", 32}, {"CEJ5", 32}, {"CEJ6", 32}, {"CEJ7", 32}};
    _Static_assert(sizeof(regs) / sizeof(regs[0]) * 4 == CPU_HOTPLUG_PIO_LEN, "one field per register");
    aml_operation_region(b, "CPST", AML_REGION_SYSTEM_IO, PORT_CPU_HOTPLUG, CPU_HOTPLUG_PIO_LEN);
    aml_field_dword(b, "CPST", regs, sizeof(regs) / sizeof(regs[0]));
    for (uint32_t i = 0; i < max_vcpus && i < CPU_HOTPLUG_MAX_VCPUS; i++) {
        char name[24], reg[24], eject[24];
        processor_name(name, "", i);
        register_name(reg, "CPR", i / 32);
        register_name(eject, "CEJ", i / 32);
        size_t dev = aml_device_begin(b, name);
        aml_name(b, "_HID");
        aml_string(b, "ACPI0007");
        aml_name(b, "_UID");
        aml_integer(b, i);
        /* The MADT entry as it reads once the vCPU is there: Linux takes
         * the new processor's APIC id from here. */
        const uint8_t mat[8] = {MADT_LOCAL_APIC, 8, (uint8_t)i, (uint8_t)i, MADT_LAPIC_ENABLED, 0, 0, 0};
        aml_name(b, "_MAT");
        aml_buffer(b, mat, sizeof(mat));
        size_t m = aml_method_begin(b, "_STA", 0);
        size_t cond = if_vcpu_bit(b, reg, 0, i);
        aml_return(b);
        aml_integer(b, STA_PRESENT_ENABLED);
        aml_end(b, cond);
        aml_return(b);
        aml_integer(b, 0);
        aml_end(b, m);
        /* Run by the guest once the CPU is offline: the controller takes
         * the vCPU away (only one the host asked to remove). */
        m = aml_method_begin(b, "_EJ0", 1);
        aml_store(b);
        aml_integer(b, 1ULL << (i % 32));
        aml_namestring(b, eject);
        aml_end(b, m);
        aml_end(b, dev);
    }
}

/* Reads register reg<word> once into Local<local> (reading clears it), then
 * Notify(C<n>, value) for each vCPU of the word whose bit is set. */
static void notify_word(AmlBuf *b, const char *reg_prefix, uint32_t word, uint32_t max_vcpus, unsigned local,
                        uint64_t value)
{
    char reg[24];
    register_name(reg, reg_prefix, word);
    aml_store(b);
    aml_namestring(b, reg);
    aml_local(b, local);
    for (uint32_t i = word * 32; i < max_vcpus && i < (word + 1) * 32; i++) {
        char name[24];
        processor_name(name, "\\_SB.", i);
        size_t cond = if_vcpu_bit(b, NULL, local, i);
        aml_notify(b);
        aml_namestring(b, name);
        aml_integer(b, value);
        aml_end(b, cond);
    }
}

void acpi_cpu_hotplug_evt(AmlBuf *b, uint32_t max_vcpus)
{
    for (uint32_t word = 0; word * 32 < max_vcpus && word < CPU_HOTPLUG_MAX_VCPUS / 32; word++) {
        notify_word(b, "CIN", word, max_vcpus, 2, NOTIFY_DEVICE_CHECK);
        notify_word(b, "CRM", word, max_vcpus, 3, NOTIFY_EJECT_REQUEST);
    }
}
