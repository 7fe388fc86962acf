/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The PS/2 controller, as much as guests need to reset the machine through
 * it: command 0xfe (pulse the reset line) -> VM_REQUEST_REBOOT. There is no
 * keyboard or mouse behind it. The usual controller commands answer sanely
 * (self-test passes, the command byte reads back) so probing drivers see a
 * controller with nothing attached rather than garbage.
 *
 * One device covering ports 0x60..0x64: register i8042_bus_device() at
 * PORT_I8042_DATA, length I8042_PIO_LEN. Offsets 1..3 (port 0x61 is the
 * in-kernel PIT's speaker port with KVM_CREATE_PIT2, and never exits) read
 * 0xff and ignore writes.
 */
#pragma once

#include <stdint.h>

#include "bus.h"
#include "platform.h"
#include "snapshot_format.h"

#define I8042_PIO_LEN 5

typedef struct I8042 I8042;

/* The VmControl is copied. NULL with errno set on allocation failure. */
I8042 *i8042_new(const VmControl *control);
void i8042_free(I8042 *k);
const BusDevice *i8042_bus_device(I8042 *k);
void i8042_reset(I8042 *k);

/* Controller state to and from a snapshot section (snapshot/snapshot.c). */
void i8042_save(I8042 *k, SnapshotWriter *w);
int i8042_load(I8042 *k, SnapshotReader *r);
