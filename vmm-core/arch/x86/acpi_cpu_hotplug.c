/* SPDX-License-Identifier: Apache-2.0 */
#include "acpi_cpu_hotplug.h"

#include <stdio.h>

#include "acpi_slots.h"
#include "cpu_hotplug.h"

#define MADT_LOCAL_APIC    0
#define MADT_LAPIC_ENABLED 1

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
        char name[24], eject[24];
        acpi_slot_name(name, "", 'C', i);
        acpi_slot_register(eject, "CEJ", i / 32);
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
        acpi_slot_sta(b, "CPR", i);
        /* Run by the guest once the CPU is offline: the controller takes
         * the vCPU away (only one the host asked to remove). */
        size_t m = aml_method_begin(b, "_EJ0", 1);
        aml_store(b);
        aml_integer(b, 1ULL << (i % 32));
        aml_namestring(b, eject);
        aml_end(b, m);
        aml_end(b, dev);
    }
}

void acpi_cpu_hotplug_evt(AmlBuf *b, uint32_t max_vcpus)
{
    for (uint32_t word = 0; word * 32 < max_vcpus && word < CPU_HOTPLUG_MAX_VCPUS / 32; word++) {
        acpi_slot_notify_word(b, "CIN", word, max_vcpus, 'C', 2, ACPI_NOTIFY_DEVICE_CHECK);
        acpi_slot_notify_word(b, "CRM", word, max_vcpus, 'C', 3, ACPI_NOTIFY_EJECT_REQUEST);
    }
}
