/* SPDX-License-Identifier: Apache-2.0 */
#include "api_request.h"

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#define JSON_DEPTH 32

json_tokener *api_request_tokener_new(void)
{
    json_tokener *tok = json_tokener_new_ex(JSON_DEPTH);
    if (tok)
        json_tokener_set_flags(tok, JSON_TOKENER_STRICT
#ifdef JSON_TOKENER_VALIDATE_UTF8
                                        | JSON_TOKENER_VALIDATE_UTF8
#endif
        );
    return tok;
}

static bool is_blank(const char *p, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (p[i] != ' ' && p[i] != '\t' && p[i] != '\r' && p[i] != '\n')
            return false;
    return true;
}

/* Everything a request may carry; anything else is refused so a typo such as
 * "arg" is not silently ignored. */
static bool known_member(const char *key)
{
    return strcmp(key, "id") == 0 || strcmp(key, "action") == 0 || strcmp(key, "args") == 0;
}

static ApiParseResult invalid(char *errbuf, size_t errlen, const char *msg)
{
    snprintf(errbuf, errlen, "%s", msg);
    return API_PARSE_INVALID;
}

/* The members of a parsed object, in the order their errors are reported. */
static ApiParseResult check_members(ApiRequest *req, char *errbuf, size_t errlen)
{
    json_object *root = req->root;
    json_object *id = NULL;
    if (json_object_object_get_ex(root, "id", &id)) {
        json_type t = json_object_get_type(id);
        if (t != json_type_int && t != json_type_double && t != json_type_string && t != json_type_null)
            return invalid(errbuf, errlen, "\"id\" must be a number or a string");
    }
    req->id = id;
    json_object_object_foreach(root, key, val)
    {
        (void)val;
        if (!known_member(key)) {
            snprintf(errbuf, errlen, "unknown member \"%.100s\" (a request has id, action, args)", key);
            return API_PARSE_INVALID;
        }
    }

    json_object *action = NULL;
    if (!json_object_object_get_ex(root, "action", &action))
        return invalid(errbuf, errlen, "missing \"action\"");
    if (!json_object_is_type(action, json_type_string))
        return invalid(errbuf, errlen, "\"action\" must be a string");
    const char *name = json_object_get_string(action);
    /* "vm.info\u0000..." must not pass as "vm.info". */
    if (strlen(name) != (size_t)json_object_get_string_len(action))
        return invalid(errbuf, errlen, "\"action\" contains a NUL character");

    json_object *args = NULL;
    if (json_object_object_get_ex(root, "args", &args) && !json_object_is_type(args, json_type_null)) {
        if (!json_object_is_type(args, json_type_object))
            return invalid(errbuf, errlen, "\"args\" must be an object");
        json_object_get(args);
    } else {
        args = json_object_new_object();
    }
    req->action = name;
    req->args = args;
    return API_PARSE_REQUEST;
}

ApiParseResult api_request_parse(json_tokener *tok, const char *data, size_t len, ApiRequest *req,
                                 char *errbuf, size_t errlen)
{
    *req = (ApiRequest){0};
    if (errlen)
        errbuf[0] = '\0';
    if (is_blank(data, len))
        return API_PARSE_BLANK;
    if (memchr(data, '\0', len))
        return invalid(errbuf, errlen, "the message contains a NUL byte");
    /* json-c takes an int length, the terminating NUL included. */
    if (len >= INT_MAX)
        return invalid(errbuf, errlen, "the message is too large");

    json_tokener_reset(tok);
    /* The NUL is passed too: it ends a bare top-level number or literal,
     * which would otherwise be reported as incomplete. */
    json_object *root = json_tokener_parse_ex(tok, data, (int)len + 1);
    enum json_tokener_error jerr = json_tokener_get_error(tok);
    if (jerr != json_tokener_success) {
        json_object_put(root);
        snprintf(errbuf, errlen, "invalid JSON: %s",
                 jerr == json_tokener_continue ? "unexpected end of input" : json_tokener_error_desc(jerr));
        return API_PARSE_INVALID;
    }
    /* Strict json-c refuses trailing data itself (since it has
     * JSON_TOKENER_ALLOW_TRAILING_CHARS); older ones stop after the value,
     * and one message must never carry two requests. */
    size_t end = json_tokener_get_parse_end(tok);
    if (end < len && !is_blank(data + end, len - end)) {
        json_object_put(root);
        return invalid(errbuf, errlen, "invalid JSON: data after the request object");
    }
    /* A bare `null` parses to NULL: not an object either. */
    if (!json_object_is_type(root, json_type_object)) {
        json_object_put(root);
        return invalid(errbuf, errlen, "a request must be a JSON object");
    }
    req->root = root;
    return check_members(req, errbuf, errlen);
}

void api_request_release(ApiRequest *req)
{
    json_object_put(req->args);
    json_object_put(req->root);
    *req = (ApiRequest){0};
}

/* 1 with *index for a string "fd:K", 0 for any other value, -1 for a
 * malformed K. */
static int fd_reference(json_object *v, size_t *index)
{
    if (!json_object_is_type(v, json_type_string))
        return 0;
    const char *s = json_object_get_string(v);
    if (strncmp(s, "fd:", 3) != 0)
        return 0;
    s += 3;
    size_t k = 0;
    if (!*s || strlen(s) > 3)
        return -1;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return -1;
        k = k * 10 + (size_t)(*s - '0');
    }
    *index = k;
    return 1;
}

/* The value v stands for: a new reference, or NULL with errbuf set. */
static json_object *bind_value(json_object *v, bool as_number, const int *fds, size_t n_fds, bool *used,
                               char *errbuf, size_t errlen)
{
    size_t k;
    int r = fd_reference(v, &k);
    if (r == 0)
        return json_object_get(v);
    if (r < 0 || k >= n_fds) {
        snprintf(errbuf, errlen, "\"%.40s\" names no descriptor of this message (it carried %zu)",
                 json_object_get_string(v), n_fds);
        return NULL;
    }
    used[k] = true;
    if (as_number)
        return json_object_new_int(fds[k]);
    char path[32];
    snprintf(path, sizeof(path), "/dev/fd/%d", fds[k]);
    return json_object_new_string(path);
}

int api_request_bind_fds(ApiRequest *req, const int *fds, size_t n_fds, char *errbuf, size_t errlen)
{
    bool used[API_MAX_FDS] = {false};
    if (errlen)
        errbuf[0] = '\0';
    if (n_fds > API_MAX_FDS) {
        snprintf(errbuf, errlen, "a message carries at most %d descriptors", API_MAX_FDS);
        return -EINVAL;
    }
    /* A new object: args may be shared with the parsed message. */
    json_object *bound = json_object_new_object();
    if (!bound) {
        snprintf(errbuf, errlen, "out of memory");
        return -ENOMEM;
    }
    json_object_object_foreach(req->args, key, val)
    {
        json_object *nv;
        if (strcmp(key, "fds") == 0 && json_object_is_type(val, json_type_array)) {
            nv = json_object_new_array();
            for (size_t i = 0; nv && i < json_object_array_length(val); i++) {
                json_object *e =
                    bind_value(json_object_array_get_idx(val, i), true, fds, n_fds, used, errbuf, errlen);
                if (!e || json_object_array_add(nv, e) < 0) {
                    json_object_put(e);
                    json_object_put(nv);
                    nv = NULL;
                }
            }
        } else {
            nv = bind_value(val, false, fds, n_fds, used, errbuf, errlen);
        }
        if (!nv || json_object_object_add(bound, key, nv) < 0) {
            bool oom = !errbuf[0]; /* the reference errors say what they are */
            if (oom)
                snprintf(errbuf, errlen, "out of memory");
            json_object_put(nv);
            json_object_put(bound);
            return oom ? -ENOMEM : -EINVAL;
        }
    }
    for (size_t k = 0; k < n_fds; k++) {
        if (!used[k]) {
            snprintf(errbuf, errlen,
                     "descriptor %zu of this message is named nowhere in its args (\"fd:%zu\")", k, k);
            json_object_put(bound);
            return -EINVAL;
        }
    }
    json_object_put(req->args);
    req->args = bound;
    return 0;
}
