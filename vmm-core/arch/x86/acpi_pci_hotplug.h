/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The DSDT's side of PCI hotplug (devices/pci_hotplug.h is the register
 * side): what Linux's acpiphp and ACPI GED drivers need to hear of a slot
 * that gained or should lose its function, and to eject it.
 */
#pragma once

#include "aml.h"

/* Inside \_SB.PCI0: the controller's registers as fields, and one device
 * per slot 1-31 (_ADR, _SUN, _EJ0 writing the slot's bit to B0EJ). */
void acpi_pci_hotplug_slots(AmlBuf *b);
/* Statements of the Generic Event Device's _EVT (acpi.c): notifies the
 * slots announced in PCIU and PCID. Uses Local0 and Local1. */
void acpi_pci_hotplug_evt(AmlBuf *b);
