/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vmmd's side of one VMM's control channel: a SOCK_SEQPACKET socket speaking
 * the JSON API of docs/api.md, one message per packet.
 *
 * Everything is asynchronous on vmmd's sd-event loop: a request is queued
 * and its callback runs when the reply arrives, when its timeout expires
 * (-ETIMEDOUT) or when the connection goes away (-ECONNRESET). A VMM that
 * stops answering can therefore never stall vmmd.
 *
 * The same type reads the event-monitor socket (VMM_CONN_EVENT_SINK): there
 * every packet is one bare event record, and nothing is ever sent.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include <json-c/json.h>
#include <systemd/sd-event.h>

typedef struct VmmConn VmmConn;

typedef enum VmmConnKind {
    VMM_CONN_API,        /* requests/replies, and {"event": ...} after events.subscribe */
    VMM_CONN_EVENT_SINK, /* --event-monitor fd=N: one record per packet */
} VmmConnKind;

/* error is 0 on success (result may be NULL: the API's null), a negative
 * errno from the transport (-ETIMEDOUT, -ECONNRESET), or -EREMOTEIO when the
 * VMM answered with an error; then code/message are the VMM's. */
typedef void (*vmm_reply_fn)(int error, const char *code, const char *message, json_object *result,
                             void *userdata);
/* One event record ({"timestamp":...,"source":...,"event":...,"properties":...}). */
typedef void (*vmm_event_fn)(json_object *record, void *userdata);
/* The peer closed or the socket failed; the connection is dead after this. */
typedef void (*vmm_closed_fn)(void *userdata);

/* Takes ownership of fd (made non-blocking here). */
int vmm_conn_new(sd_event *event, int fd, VmmConnKind kind, vmm_event_fn on_event, vmm_closed_fn on_closed,
                 void *userdata, VmmConn **ret);
/* Fails every pending request with -ECONNRESET (callbacks run), then frees. */
void vmm_conn_free(VmmConn *c);

/* Reads whatever is already queued on the socket, without waiting: used
 * when the VMM has exited, so that its last records are handled before the
 * exit itself. */
void vmm_conn_drain(VmmConn *c);

/* Requests waiting for their reply on one connection. Each waits at most
 * its timeout, so a VMM that stops answering holds this many at most, and
 * callers flooding reads (GetInfo) cannot queue more behind it. */
#define VMM_CONN_MAX_PENDING 64

/* Sends {"id": N, "action": action, "args": args}. args may be NULL and is
 * not consumed. The callback is called exactly once, never from inside this
 * function. -EBUSY: VMM_CONN_MAX_PENDING requests are waiting already. */
int vmm_conn_call(VmmConn *c, const char *action, json_object *args, uint64_t timeout_usec, vmm_reply_fn cb,
                  void *userdata);

/* Descriptors one request may carry (the VMM's API_MAX_FDS). */
#define VMM_CONN_MAX_FDS 8

/* The same, sending fds[0..n_fds) with the request (SCM_RIGHTS): its args
 * name them "fd:K" (docs/api.md). Takes the descriptors, also on failure;
 * they are closed once sent, or with the request if it never is. */
int vmm_conn_call_fds(VmmConn *c, const char *action, json_object *args, int *fds, size_t n_fds,
                      uint64_t timeout_usec, vmm_reply_fn cb, void *userdata);

/* Maps the API's error codes (docs/api.md) to org.vmm.Error names. */
const char *vmm_api_code_to_bus_error(const char *code);
