/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What devices may ask of the VM around them, as callbacks, so a device
 * never includes the KVM or lifecycle code and unit tests can capture calls.
 */
#pragma once

#include <stdint.h>

typedef enum VmRequest {
    VM_REQUEST_SHUTDOWN, /* guest powered off (ACPI S5): vmm exits 0 */
    VM_REQUEST_REBOOT,   /* guest reset (i8042 0xfe, ACPI reset register) */
    VM_REQUEST_PANIC,    /* pvpanic: guest reported a panic */
} VmRequest;

typedef struct IrqLine {
    /* level 1 = assert, 0 = deassert; an edge is assert then deassert. */
    void (*set_level)(void *ctx, uint32_t gsi, int level);
    void *ctx;
    uint32_t gsi;
} IrqLine;

typedef struct VmControl {
    void (*request)(void *ctx, VmRequest req);
    void *ctx;
} VmControl;

static inline void irq_line_set(const IrqLine *irq, int level)
{
    if (irq && irq->set_level)
        irq->set_level(irq->ctx, irq->gsi, level);
}

static inline void irq_line_pulse(const IrqLine *irq)
{
    irq_line_set(irq, 1);
    irq_line_set(irq, 0);
}

static inline void vm_control_request(const VmControl *c, VmRequest req)
{
    if (c && c->request)
        c->request(c->ctx, req);
}
