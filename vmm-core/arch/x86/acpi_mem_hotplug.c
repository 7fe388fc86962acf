/* SPDX-License-Identifier: Apache-2.0 */
#include "acpi_mem_hotplug.h"

#include "acpi_slots.h"
#include "mem_hotplug.h"

void acpi_mem_hotplug_devices(AmlBuf *b, uint64_t base, uint64_t slot_size, uint32_t slots)
{
    static const AmlFieldUnit regs[] = {{"MPR0", 32}, {"MPR1", 32}, {"MPR2", 32}, {"MPR3", 32},
                                        {"MPR4", 32}, {"MPR5", 32}, {"MPR6", 32}, {"MPR7", 32},
                                        {"MIN0", 32}, {"MIN1", 32}, {"MIN2", 32}, {"MIN3", 32},
                                        {"MIN4", 32}, {"MIN5", 32}, {"MIN6", 32}, {"MIN7", 32}};
    _Static_assert(sizeof(regs) / sizeof(regs[0]) * 4 == MEM_HOTPLUG_PIO_LEN, "one field per register");
    aml_operation_region(b, "MHST", AML_REGION_SYSTEM_IO, PORT_MEM_HOTPLUG, MEM_HOTPLUG_PIO_LEN);
    aml_field_dword(b, "MHST", regs, sizeof(regs) / sizeof(regs[0]));
    for (uint32_t i = 0; i < slots && i < MEM_HOTPLUG_SLOTS; i++) {
        char name[24];
        acpi_slot_name(name, "", 'M', i);
        size_t dev = aml_device_begin(b, name);
        aml_name(b, "_HID");
        aml_eisaid(b, "PNP0C80");
        aml_name(b, "_UID");
        aml_integer(b, i);
        AmlBuf res = {0};
        aml_res_mem64_fixed(&res, base + (uint64_t)i * slot_size, slot_size);
        aml_name(b, "_CRS");
        aml_resource_template(b, &res);
        if (res.failed)
            b->failed = true;
        aml_free(&res);
        acpi_slot_sta(b, "MPR", i);
        aml_end(b, dev);
    }
}

void acpi_mem_hotplug_evt(AmlBuf *b, uint32_t slots)
{
    for (uint32_t word = 0; word * 32 < slots && word < MEM_HOTPLUG_SLOTS / 32; word++)
        acpi_slot_notify_word(b, "MIN", word, slots, 'M', 4, ACPI_NOTIFY_DEVICE_CHECK);
}
