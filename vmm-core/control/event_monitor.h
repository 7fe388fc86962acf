/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The event monitor: one JSON object per line in Cloud Hypervisor's shape,
 *   {"timestamp":{"secs":S,"nanos":N},"source":"vm","event":"booted","properties":{...}|null}
 * where timestamp is CLOCK_MONOTONIC time since event_monitor_new (the VMM
 * start). Emitting never blocks on I/O: records go to a bounded queue drained
 * by a writer thread, which writes the sink without blocking; when the sink's
 * reader is too slow the oldest records are dropped and counted. Subscribers
 * (API connections) get each line too.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* Records waiting for the writer thread, and records the writer holds for a
 * stalled sink; each queue drops its oldest record beyond this. */
#define EVENT_MONITOR_QUEUE_LEN 1024
/* How long event_monitor_free keeps writing to a slow sink. */
#define EVENT_MONITOR_FLUSH_MS 1000

typedef struct EventMonitor EventMonitor;

/*
 * path or fd (>= 0) selects the sink; both unset gives a monitor that only
 * feeds subscribers. path is opened O_WRONLY|O_CREAT|O_APPEND (0600); a FIFO
 * without a reader is opened read-write instead so start never blocks or
 * fails (records wait in the pipe until a reader comes). fd is owned by the
 * monitor from then on (closed by event_monitor_free, also on failure).
 * Returns NULL with a message on failure.
 */
EventMonitor *event_monitor_new(const char *path, int fd, char *errbuf, size_t errlen);
/* Flushes what is queued (at most EVENT_MONITOR_FLUSH_MS), stops the writer,
 * closes the sink. No emit may run concurrently or after. */
void event_monitor_free(EventMonitor *m);
/* The first half of free: delivers what is queued to the sink and the
 * subscribers (bounded wait) and stops the writer; later emits are queued
 * but never written. Subscribers stay registered, so they can still
 * unsubscribe before free. Idempotent. */
void event_monitor_stop(EventMonitor *m);

/* Any thread; takes a short mutex, never waits on I/O. props: NULL
 * ("properties":null), or a NULL-terminated array of key, value, key,
 * value... (an empty array gives {}). */
void event_monitor_emit(EventMonitor *m, const char *source, const char *event, const char *const *props);

/*
 * cb gets every line emitted after subscribe returned (and possibly a few
 * queued just before), without the newline, on the monitor's writer thread
 * (never the emitter's), in emission order. It must not block; it may emit,
 * subscribe or unsubscribe. Once unsubscribe returns (from any other thread)
 * cb is not running and will not be called again with ctx. Subscribing the
 * same cb and ctx twice is -EEXIST.
 */
typedef void (*EventSubscriber)(void *ctx, const char *json_line);
int event_monitor_subscribe(EventMonitor *m, EventSubscriber cb, void *ctx);
void event_monitor_unsubscribe(EventMonitor *m, EventSubscriber cb, void *ctx);
/* Records lost: overflowed queues, the flush deadline, or a failed sink. */
uint64_t event_monitor_dropped(const EventMonitor *m);
