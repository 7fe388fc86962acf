/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A tiny AML (ACPI Machine Language) emitter: just the constructs our DSDT
 * uses - names, integers, strings, packages, scopes, devices, static
 * resource templates, and the methods, fields and statements of the PCI
 * hotplug slots (acpi_pci_hotplug.c). Encodings follow ACPI 6.x chapter 20 (AML grammar)
 * and chapter 6.4 (resource descriptors).
 *
 * Errors (allocation failure, an invalid name) are sticky: emit freely,
 * then check aml_failed() once.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct AmlBuf {
    uint8_t *data;
    size_t len;
    size_t cap;
    bool failed;
} AmlBuf;

void aml_free(AmlBuf *b);
bool aml_failed(const AmlBuf *b);

void aml_bytes(AmlBuf *b, const void *p, size_t n);
void aml_byte(AmlBuf *b, uint8_t v);

/* Data objects. */
void aml_integer(AmlBuf *b, uint64_t v); /* shortest encoding: Zero/One/Byte/Word/DWord/QWord */
void aml_string(AmlBuf *b, const char *s);
void aml_eisaid(AmlBuf *b, const char *id); /* "PNP0A03" -> compressed 32-bit EISA id */
/* NameString: "\\_SB_.PCI0", "COM1", "_S5"; segments padded with '_'. */
void aml_namestring(AmlBuf *b, const char *path);

/* Name(path, <object emitted next by the caller>). */
void aml_name(AmlBuf *b, const char *path);

/* Containers with a PkgLength: begin returns a mark, aml_end() closes. */
size_t aml_scope_begin(AmlBuf *b, const char *path);
size_t aml_device_begin(AmlBuf *b, const char *path);
size_t aml_package_begin(AmlBuf *b, uint8_t n_elements);
void aml_end(AmlBuf *b, size_t mark);

/* Control methods and the few statements our hotplug AML needs. Operators
 * are written in prefix order: emit the operator, then each operand (an
 * integer, aml_local(), aml_arg(), a name through aml_namestring(), or
 * another operator), then for And its target. */
size_t aml_method_begin(AmlBuf *b, const char *name, uint8_t n_args); /* NotSerialized; aml_end() */
size_t aml_if_begin(AmlBuf *b); /* If (<predicate emitted next>) { ... } aml_end() */
void aml_store(AmlBuf *b);      /* Store(source, destination) */
void aml_and(AmlBuf *b);        /* And(operand, operand, target) */
void aml_notify(AmlBuf *b);     /* Notify(object, value) */
void aml_local(AmlBuf *b, unsigned n); /* Local0-7 */
void aml_arg(AmlBuf *b, unsigned n);   /* Arg0-6 */
void aml_no_target(AmlBuf *b);         /* the NullName target: the result is only returned */
void aml_return(AmlBuf *b);            /* Return(value emitted next) */
void aml_buffer(AmlBuf *b, const void *data, size_t n); /* Buffer(n) { data } */

/* OperationRegion(name, space, offset, len) and a Field over it with
 * DWordAcc, NoLock, WriteAsZeros: each unit's bits in order. */
#define AML_REGION_SYSTEM_MEMORY 0
#define AML_REGION_SYSTEM_IO     1
typedef struct AmlFieldUnit {
    const char *name;
    uint32_t bits;
} AmlFieldUnit;
void aml_operation_region(AmlBuf *b, const char *name, uint8_t space, uint64_t offset, uint64_t len);
void aml_field_dword(AmlBuf *b, const char *region, const AmlFieldUnit *units, size_t n);

/* Resource descriptors, appended to a separate AmlBuf holding a template. */
void aml_res_io(AmlBuf *r, uint16_t port, uint8_t len);          /* IO(Decode16, port, port, 1, len) */
void aml_res_irq(AmlBuf *r, uint8_t irq);                        /* IRQNoFlags() {irq} */
void aml_res_bus_range(AmlBuf *r, uint16_t min, uint16_t max);   /* WordBusNumber, producer */
void aml_res_io_range(AmlBuf *r, uint16_t min, uint16_t max);    /* WordIO, producer, entire range */
void aml_res_mem32_range(AmlBuf *r, uint32_t min, uint32_t max); /* DWordMemory, producer, non-cacheable RW */
void aml_res_mem32_fixed(AmlBuf *r, uint32_t base, uint32_t len); /* Memory32Fixed(ReadWrite) */
/* QWordMemory, consumer, fixed [base, base+len), cacheable read/write */
void aml_res_mem64_fixed(AmlBuf *r, uint64_t base, uint64_t len);
/* Interrupt(ResourceConsumer, Edge, ActiveHigh, Exclusive) {gsi} */
void aml_res_interrupt_edge(AmlBuf *r, uint32_t gsi);
/* Buffer holding r's descriptors plus the end tag: the value of a _CRS. */
void aml_resource_template(AmlBuf *b, const AmlBuf *r);
