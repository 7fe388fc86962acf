/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The VMM's control API: JSON requests and responses on a unix socket
 * (docs/api.md). `--api-socket path=` listens on a SOCK_STREAM socket with
 * newline-delimited messages; a SOCK_SEQPACKET connection (what vmmd uses)
 * carries one message per packet. Events can be subscribed on the same
 * connection. Malformed or oversized messages get an error reply and never
 * reach the VM.
 */
#pragma once

#include <json-c/json.h>
#include <stddef.h>

#include "event_monitor.h"
#include "event_loop.h"

#define API_MAX_MESSAGE (64 * 1024)

/*
 * Runs one action ("vm.pause", ...) with its validated "args" object (never
 * NULL). Returns 0 and sets *result (may stay NULL = no payload), or a
 * negative errno with a message; the server turns that into an error reply.
 */
typedef int (*ApiDispatch)(void *ctx, const char *action, json_object *args, json_object **result,
                           char *errbuf, size_t errlen);

typedef struct ApiServer ApiServer;

/* Exactly one of path / fd: path creates and listens (refusing to replace a
 * non-socket file); fd is a listening socket or an already connected
 * SOCK_SEQPACKET/SOCK_STREAM socket. */
ApiServer *api_server_new(EventLoop *loop, const char *path, int fd, EventMonitor *events, ApiDispatch dispatch,
                          void *ctx, char *errbuf, size_t errlen);
void api_server_free(ApiServer *s);
