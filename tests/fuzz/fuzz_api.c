/* SPDX-License-Identifier: Apache-2.0 */
/* The API request reader: the input is cut at newlines into messages, as a
 * stream connection delivers them, and each is parsed with one tokener kept
 * across messages, as the server keeps it. Every result is then used the way
 * the server uses it: the reply echoes the id, a request's args are
 * serialized (dispatch reads them). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api_request.h"
#include "api_server.h"

static json_tokener *tok;

static void use_result(ApiParseResult r, const ApiRequest *req, const char *err)
{
    json_object *reply = json_object_new_object();
    json_object_object_add(reply, "id", json_object_get(req->id));
    if (r == API_PARSE_REQUEST) {
        json_object_object_add(reply, "action", json_object_new_string(req->action));
        json_object_object_add(reply, "result", json_object_get(req->args));
    } else {
        json_object_object_add(reply, "error", json_object_new_string(err));
    }
    size_t len = 0;
    json_object_to_json_string_length(reply, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &len);
    json_object_put(reply);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!tok)
        tok = api_request_tokener_new();
    /* One copy with a spare byte per message end: the parser wants
     * data[len] == '\0', as the server's buffers provide. */
    char *buf = malloc(size + 1);
    if (!buf || !tok)
        abort();
    memcpy(buf, data, size);
    buf[size] = '\0';
    size_t start = 0;
    while (start <= size) {
        char *nl = memchr(buf + start, '\n', size - start);
        size_t len = nl ? (size_t)(nl - (buf + start)) : size - start;
        if (len <= API_MAX_MESSAGE) {
            buf[start + len] = '\0';
            ApiRequest req;
            char err[160];
            ApiParseResult r = api_request_parse(tok, buf + start, len, &req, err, sizeof(err));
            if (r != API_PARSE_BLANK)
                use_result(r, &req, err);
            api_request_release(&req);
        }
        start += len + 1;
    }
    free(buf);
    return 0;
}
