/* SPDX-License-Identifier: Apache-2.0 */
#include "acpi_pci_hotplug.h"

#include <stdio.h>

#include "pci.h"
#include "pci_hotplug.h"

#define NOTIFY_DEVICE_CHECK  1
#define NOTIFY_EJECT_REQUEST 3

static void slot_name(char out[16], const char *prefix, unsigned slot)
{
    snprintf(out, 16, "%sS%03u", prefix, slot);
}

void acpi_pci_hotplug_slots(AmlBuf *b)
{
    static const AmlFieldUnit regs[] = {{"PCIU", 32}, {"PCID", 32}, {"B0EJ", 32}};
    aml_operation_region(b, "PCST", AML_REGION_SYSTEM_IO, PORT_PCI_HOTPLUG, PCI_HOTPLUG_PIO_LEN);
    aml_field_dword(b, "PCST", regs, sizeof(regs) / sizeof(regs[0]));
    for (unsigned slot = 1; slot < PCI_MAX_SLOTS; slot++) {
        char name[16];
        slot_name(name, "", slot);
        size_t dev = aml_device_begin(b, name);
        aml_name(b, "_ADR");
        aml_integer(b, (uint64_t)slot << 16); /* device slot, function 0 */
        aml_name(b, "_SUN");
        aml_integer(b, slot);
        size_t m = aml_method_begin(b, "_EJ0", 1);
        aml_store(b);
        aml_integer(b, 1ULL << slot);
        aml_namestring(b, "\\_SB.PCI0.B0EJ");
        aml_end(b, m);
        aml_end(b, dev);
    }
}

/* If (And(Local<local>, bit)) { Notify(slot, value) } for every slot. */
static void notify_slots(AmlBuf *b, unsigned local, uint64_t value)
{
    for (unsigned slot = 1; slot < PCI_MAX_SLOTS; slot++) {
        char name[32];
        slot_name(name, "\\_SB.PCI0.", slot);
        size_t m = aml_if_begin(b);
        aml_and(b);
        aml_local(b, local);
        aml_integer(b, 1ULL << slot);
        aml_no_target(b);
        aml_notify(b);
        aml_namestring(b, name);
        aml_integer(b, value);
        aml_end(b, m);
    }
}

void acpi_pci_hotplug_evt(AmlBuf *b)
{
    /* Each register is read once: reading clears it. */
    aml_store(b);
    aml_namestring(b, "\\_SB.PCI0.PCIU");
    aml_local(b, 0);
    aml_store(b);
    aml_namestring(b, "\\_SB.PCI0.PCID");
    aml_local(b, 1);
    notify_slots(b, 0, NOTIFY_DEVICE_CHECK);
    notify_slots(b, 1, NOTIFY_EJECT_REQUEST);
}
