/* SPDX-License-Identifier: Apache-2.0 */
/*
 * One API request, from the bytes of one message (a line without its
 * newline, or a packet) to its id, action and args (docs/api.md). No I/O:
 * the API server frames messages and sends replies; this decides what a
 * message means, so it can be tested and fuzzed alone.
 */
#pragma once

#include <json-c/json.h>
#include <stddef.h>

typedef enum ApiParseResult {
    API_PARSE_REQUEST, /* a request to carry out */
    API_PARSE_BLANK,   /* only whitespace: nothing to answer */
    API_PARSE_INVALID, /* answer an InvalidRequest error with id and the message */
} ApiParseResult;

typedef struct ApiRequest {
    json_object *root;  /* the parsed message (owned), NULL when it was no object */
    json_object *id;    /* borrowed from root; NULL: "id":null, absent, or unusable */
    const char *action; /* borrowed from root; set for API_PARSE_REQUEST only */
    json_object *args;  /* owned reference, never NULL for API_PARSE_REQUEST ({} when absent) */
} ApiRequest;

/* The tokener every message is parsed with: strict JSON, valid UTF-8, and
 * nesting limited well below what would strain the stack. */
json_tokener *api_request_tokener_new(void);

/*
 * Parses data[0..len) as one request with tok (reset first). data[len] must
 * be '\0': a bare number or literal ends there rather than being reported as
 * incomplete. req is always filled and must be released with
 * api_request_release(), whatever the result; for API_PARSE_INVALID the
 * reason (at most errlen - 1 bytes) is in errbuf and req->id is the id to
 * answer with.
 */
ApiParseResult api_request_parse(json_tokener *tok, const char *data, size_t len, ApiRequest *req,
                                 char *errbuf, size_t errlen);
void api_request_release(ApiRequest *req);

/* Descriptors one request may carry (SCM_RIGHTS, SOCK_SEQPACKET only): a
 * tap with its queue pairs is the largest user. */
#define API_MAX_FDS 8

/*
 * A request that came with descriptors names them by their place in the
 * message, K (0-based), as the string "fd:K" in a top-level member of its
 * args: it becomes "/dev/fd/N", N the number the descriptor was received
 * as, so the VMM's inherited-descriptor paths (util/inherited_fd.c) open
 * it; inside a top-level "fds" array (NetConfig's tap queues) it becomes
 * the number N itself. fds[0..n_fds) are the received descriptors, not
 * consumed. -EINVAL with a message in errbuf when a reference is malformed
 * or names a descriptor the message did not carry, or when one carried is
 * named nowhere (a mistake on the sender's side, not to be ignored);
 * -ENOMEM. req is unchanged on failure.
 */
int api_request_bind_fds(ApiRequest *req, const int *fds, size_t n_fds, char *errbuf, size_t errlen);
