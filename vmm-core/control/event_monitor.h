/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The event monitor: one JSON object per line in Cloud Hypervisor's shape,
 *   {"timestamp":{"secs":S,"nanos":N},"source":"vm","event":"booted","properties":{...}|null}
 * where timestamp is the time since the VMM started. Emitting never blocks:
 * records go to a bounded queue drained by a writer thread; when the reader
 * is too slow the oldest records are dropped and counted. Subscribers (API
 * connections) get each line too.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

typedef struct EventMonitor EventMonitor;

/* path or fd (>= 0) selects the sink; both unset gives a monitor that only
 * feeds subscribers. Returns NULL with a message on failure. */
EventMonitor *event_monitor_new(const char *path, int fd, char *errbuf, size_t errlen);
/* Flushes what is queued (bounded wait), stops the writer, closes the sink. */
void event_monitor_free(EventMonitor *m);

/* props: NULL, or a NULL-terminated array of key, value, key, value... */
void event_monitor_emit(EventMonitor *m, const char *source, const char *event, const char *const *props);

typedef void (*EventSubscriber)(void *ctx, const char *json_line);
int event_monitor_subscribe(EventMonitor *m, EventSubscriber cb, void *ctx);
void event_monitor_unsubscribe(EventMonitor *m, EventSubscriber cb, void *ctx);
uint64_t event_monitor_dropped(const EventMonitor *m);
