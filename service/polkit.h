/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Authorization of state changes through polkit (action org.vmm.manage).
 *
 * One sd-bus filter sees every incoming call before it is dispatched. A
 * call that changes state (polkit_call_needs_auth()) from a caller that is
 * not root is held back: vmmd asks polkit's Authority over D-Bus,
 * asynchronously, and when the answer comes the same message is queued
 * again for dispatch (sd_bus_enqueue_for_read): refused, it gets the error;
 * allowed, it runs as if it had just arrived. Nothing blocks the loop while
 * polkit (or the user at an authentication agent) thinks.
 */
#pragma once

#include <systemd/sd-bus.h>

#define VMM_POLKIT_ACTION "org.vmm.manage"

typedef struct Manager Manager;

int polkit_setup(Manager *m);
/* Drops the questions still open (their callers get no answer: vmmd exits). */
void polkit_free_queries(Manager *m);
