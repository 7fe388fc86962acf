/* SPDX-License-Identifier: Apache-2.0 */
#include "limits.h"

#include <inttypes.h>
#include <string.h>
#include <time.h>

#include "bus_errors.h"
#include "config.h"
#include "manager.h"
#include "util.h"

void limits_init(Limits *l)
{
    *l = (Limits){
        .max_vms = LIMITS_DEFAULT_MAX_VMS,
        .max_config_size = CONFIG_MAX_INPUT,
        .max_args = LIMITS_DEFAULT_MAX_ARGS,
        .call_rate = LIMITS_DEFAULT_CALL_RATE,
        .call_burst = LIMITS_DEFAULT_CALL_BURST,
        .max_queued_signals = LIMITS_DEFAULT_MAX_QUEUED_SIGNALS,
    };
}

static double refilled(const Limits *l, const CallerBucket *b, uint64_t now)
{
    double t = b->tokens + (double)(now - b->updated_usec) * l->call_rate / 1e6;
    return t > l->call_burst ? l->call_burst : t;
}

int limits_charge_call(Manager *m, sd_bus_message *call)
{
    Limits *l = &m->limits;
    const char *sender = sd_bus_message_get_sender(call);
    uint64_t now;
    if (l->call_rate == 0 || !sender || sd_event_now(m->event, CLOCK_MONOTONIC, &now) < 0)
        return 0;

    /* A full bucket is the same as none: dropping those keeps the table as
     * small as the set of callers active in the last burst/rate seconds,
     * whatever the number of callers that ever called. */
    CallerBucket *b = NULL;
    for (size_t i = 0; i < m->n_buckets;) {
        CallerBucket *c = &m->buckets[i];
        c->tokens = refilled(l, c, now);
        c->updated_usec = now;
        if (strcmp(c->sender, sender) == 0) {
            b = c;
            i++;
        } else if (c->tokens >= l->call_burst) {
            free(c->sender);
            *c = m->buckets[--m->n_buckets];
        } else {
            i++;
        }
    }
    if (!b) {
        CallerBucket *n = realloc(m->buckets, (m->n_buckets + 1) * sizeof(*n));
        if (!n)
            goto nomem;
        m->buckets = n;
        b = &m->buckets[m->n_buckets];
        *b = (CallerBucket){.sender = strdup(sender), .tokens = l->call_burst, .updated_usec = now};
        if (!b->sender)
            goto nomem;
        m->n_buckets++;
    }
    if (b->tokens >= 1.0) {
        b->tokens -= 1.0;
        return 0;
    }
    log_debug("%s: %s.%s refused, over %u calls a second", sender, sd_bus_message_get_interface(call),
              sd_bus_message_get_member(call), l->call_rate);
    (void)sd_bus_reply_method_errorf(call, VMM_ERROR_LIMIT_EXCEEDED,
                                     "too many calls that change state from %s: at most %u a second (%u at "
                                     "once); wait a moment and try again",
                                     sender, l->call_rate, l->call_burst);
    return 1;
nomem:
    (void)sd_bus_reply_method_errorf(call, SD_BUS_ERROR_NO_MEMORY, "vmmd is out of memory");
    return 1;
}

bool limits_may_emit_signal(Manager *m)
{
    uint64_t queued = 0;
    if (sd_bus_get_n_queued_write(m->bus, &queued) < 0)
        return true;
    /* Congested from the bound down to half of it: the queue drains before
     * signals flow again, so the log says so once per congestion rather
     * than for every message around the bound. */
    if (!m->signals_congested && queued >= m->limits.max_queued_signals) {
        m->signals_congested = true;
        log_warning("the bus is not taking vmmd's messages (%" PRIu64 " queued): dropping signals until it "
                    "does (a receiver that does not read?)",
                    queued);
    } else if (m->signals_congested && queued < (m->limits.max_queued_signals + 1) / 2) {
        m->signals_congested = false;
        log_notice("the bus takes vmmd's messages again; %" PRIu64 " signals were dropped in all",
                   m->signals_dropped);
    }
    if (m->signals_congested)
        m->signals_dropped++;
    return !m->signals_congested;
}

void limits_free(Manager *m)
{
    for (size_t i = 0; i < m->n_buckets; i++)
        free(m->buckets[i].sender);
    free(m->buckets);
    m->buckets = NULL;
    m->n_buckets = 0;
}
