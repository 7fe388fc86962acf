/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The VMM's control API: JSON requests and responses on a unix socket
 * (docs/api.md). `--api-socket path=` listens on a SOCK_STREAM socket with
 * newline-delimited messages; a SOCK_SEQPACKET connection (what vmmd uses)
 * carries one message per packet, and may pass descriptors with a request
 * (SCM_RIGHTS, api_request_bind_fds; a stream connection cannot: they are
 * discarded unread). Events can be subscribed on the same
 * connection. Malformed or oversized messages get an error reply and never
 * reach the VM; a client that does not read its replies is dropped rather
 * than allowed to block the VMM.
 */
#pragma once

#include <json-c/json.h>
#include <stddef.h>

#include "event_monitor.h"
#include "event_loop.h"

/* Largest message either way, without its newline. */
#define API_MAX_MESSAGE (64 * 1024)
/* Connections served at once; more are told so and closed. */
#define API_MAX_CLIENTS 16
/* Replies and events queued for a client that is not reading; beyond this
 * the client is disconnected. */
#define API_MAX_OUTPUT (1024 * 1024)

/*
 * Runs one action ("vm.pause", ...) with its validated "args" object (never
 * NULL; {} when the request had none). Called on the event loop's thread.
 * Returns 0 and sets *result to a new reference the server takes (or leaves
 * it NULL = "result":null), or a negative errno with a message in errbuf; the
 * server turns that into an error reply (api_error_code_from_errno). Unknown
 * actions return -ENOENT.
 */
typedef int (*ApiDispatch)(void *ctx, const char *action, json_object *args, json_object **result,
                           char *errbuf, size_t errlen);

typedef struct ApiServer ApiServer;

/*
 * Exactly one of path / fd. path creates and listens (0600; a stale socket
 * file is replaced, a live one or a non-socket file refused); fd is a
 * listening unix socket, or one already connected SOCK_SEQPACKET/SOCK_STREAM
 * unix socket, and is owned by the server from then on (closed on failure
 * too). events may be NULL (events.subscribe then fails). Returns NULL with a
 * message on failure.
 */
ApiServer *api_server_new(EventLoop *loop, const char *path, int fd, EventMonitor *events,
                          ApiDispatch dispatch, void *ctx, char *errbuf, size_t errlen);
/* Call on the loop's thread (not from inside a dispatch) or once
 * event_loop_run has returned, and before freeing the loop or the monitor.
 * Sends what can be sent without waiting, closes every connection, removes
 * the socket file it created. */
void api_server_free(ApiServer *s);

/* The error "code" string of a reply for a dispatch errno: -EINVAL
 * InvalidArgs, -ENOENT UnknownAction, -EBUSY/-EALREADY InvalidState,
 * -EOPNOTSUPP NotSupported, -E2BIG/-EMSGSIZE TooLarge, -EAGAIN Busy, else
 * Failed. */
const char *api_error_code_from_errno(int r);
