/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What one caller, or one slow bus, can cost vmmd (docs/service.md,
 * "Limits"): the number of VMs, the size of what CreateVM* takes, the rate
 * of state-changing calls per caller, and the number of signals vmmd lets
 * pile up in its own outgoing queue. Each is a vmmd option.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <systemd/sd-bus.h>

typedef struct Manager Manager;

typedef struct Limits {
    size_t max_vms;            /* defined VMs; CreateVM* beyond: LimitExceeded */
    size_t max_config_size;    /* bytes of CreateVM's JSON, of CreateVMFromArgs' options together */
    size_t max_args;           /* CreateVMFromArgs' array elements */
    unsigned call_rate;        /* state-changing calls per second and caller; 0: unlimited */
    unsigned call_burst;       /* ... of which this many at once */
    size_t max_queued_signals; /* vmmd's own outgoing queue before signals are dropped */
} Limits;

#define LIMITS_DEFAULT_MAX_VMS            1024
#define LIMITS_DEFAULT_MAX_ARGS           1024
#define LIMITS_DEFAULT_CALL_RATE          20
#define LIMITS_DEFAULT_CALL_BURST         50
#define LIMITS_DEFAULT_MAX_QUEUED_SIGNALS 1024

/* One token bucket per caller (unique bus name). */
typedef struct CallerBucket {
    char *sender;
    double tokens;
    uint64_t updated_usec; /* CLOCK_MONOTONIC of the last refill */
} CallerBucket;

void limits_init(Limits *l);

/* For a state-changing call that just arrived: takes a token from its
 * caller's bucket. Returns 0 when the call may go on; 1 when it was refused
 * (LimitExceeded has been sent); <0 on failure. */
int limits_charge_call(Manager *m, sd_bus_message *call);

/* Whether vmmd may queue one more signal: false while its outgoing queue
 * holds max_queued_signals messages or more (the bus is not reading, e.g.
 * because it buffers too much for a receiver that does not read). Signals
 * refused are counted; the first refusal of a congestion and its end are
 * logged, nothing in between. */
bool limits_may_emit_signal(Manager *m);

void limits_free(Manager *m);
