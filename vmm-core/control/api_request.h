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
