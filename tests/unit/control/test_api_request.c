/* SPDX-License-Identifier: Apache-2.0 */
/*
 * api_request_parse() alone: what each message means (request, blank,
 * invalid) with the exact error text and the id an error is answered with,
 * over valid, malformed and hostile messages, and one tokener reused across
 * all of them as the server does.
 */
#include <errno.h>
#include <json-c/json.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "api_request.h"

typedef struct Case {
    const char *input;
    size_t len; /* 0: strlen(input) */
    ApiParseResult want;
    const char *id;     /* the id as plain JSON ("null" when NULL) */
    const char *action; /* API_PARSE_REQUEST */
    const char *args;   /* API_PARSE_REQUEST: plain JSON */
    const char *error;  /* API_PARSE_INVALID: the whole message */
} Case;

#define REQ(in, id_, action_, args_)                                                                         \
    {                                                                                                        \
        in, 0, API_PARSE_REQUEST, id_, action_, args_, NULL                                                  \
    }
#define BAD(in, id_, msg)                                                                                    \
    {                                                                                                        \
        in, 0, API_PARSE_INVALID, id_, NULL, NULL, msg                                                       \
    }

static const char nul_inside[] = "{\"action\":\"vmm.ping\"\0}";

static const Case cases[] = {
    REQ("{\"action\":\"vmm.ping\"}", "null", "vmm.ping", "{}"),
    REQ("{\"id\":1,\"action\":\"vm.pause\",\"args\":{}}", "1", "vm.pause", "{}"),
    REQ("{\"id\":\"a-b\",\"action\":\"x\",\"args\":{\"k\":[1,{\"n\":null}]}}", "\"a-b\"", "x",
        "{\"k\":[1,{\"n\":null}]}"),
    REQ("{\"id\":null,\"action\":\"x\",\"args\":null}", "null", "x", "{}"),
    REQ("{\"id\":2.5,\"action\":\"x\"}", "2.5", "x", "{}"),
    REQ("{\"id\":-9223372036854775808,\"action\":\"x\"}", "-9223372036854775808", "x", "{}"),
    REQ("  {\"action\":\"\"}\t\r", "null", "", "{}"), /* an empty action is the dispatcher's to refuse */
    REQ("{\"action\":\"caf\xc3\xa9\"}", "null", "caf\xc3\xa9", "{}"),
    REQ("{\"args\":{},\"action\":\"x\",\"id\":7}", "7", "x", "{}"), /* any member order */

    {"", 0, API_PARSE_BLANK, "null", NULL, NULL, NULL},
    {" \t\r\n", 0, API_PARSE_BLANK, "null", NULL, NULL, NULL},

    {nul_inside, sizeof(nul_inside) - 1, API_PARSE_INVALID, "null", NULL, NULL,
     "the message contains a NUL byte"},
    BAD("{", "null", "invalid JSON: unexpected end of data"),
    BAD("{\"action\":\"x\"", "null", "invalid JSON: unexpected end of data"),
    BAD("not json", "null", "invalid JSON: null expected"),
    BAD("{\"action\":\"x\",}", "null", "invalid JSON: unexpected character"),
    BAD("{'action':'x'}", "null", "invalid JSON: unexpected character"),
    BAD("{\"action\":\"\xff\xfe\"}", "null", "invalid JSON: invalid utf-8 string"),
    BAD("{\"action\":\"x\"} trailing", "null", "invalid JSON: unexpected character"),
    BAD("{\"action\":\"x\"}{}", "null", "invalid JSON: unexpected character"),
    BAD("[1,2]", "null", "a request must be a JSON object"),
    BAD("42", "null", "a request must be a JSON object"),
    BAD("null", "null", "a request must be a JSON object"),
    BAD("\"vmm.ping\"", "null", "a request must be a JSON object"),
    BAD("{}", "null", "missing \"action\""),
    BAD("{\"id\":1}", "1", "missing \"action\""),
    BAD("{\"id\":\"x\",\"action\":5}", "\"x\"", "\"action\" must be a string"),
    BAD("{\"id\":2,\"action\":null}", "2", "\"action\" must be a string"),
    BAD("{\"id\":8,\"action\":\"vm.info\\u0000x\"}", "8", "\"action\" contains a NUL character"),
    BAD("{\"id\":4,\"action\":\"x\",\"args\":[]}", "4", "\"args\" must be an object"),
    BAD("{\"id\":5,\"action\":\"x\",\"args\":\"{}\"}", "5", "\"args\" must be an object"),
    /* A bad id cannot be echoed: the error goes out with "id": null. */
    BAD("{\"id\":true,\"action\":\"x\"}", "null", "\"id\" must be a number or a string"),
    BAD("{\"id\":{},\"action\":\"x\"}", "null", "\"id\" must be a number or a string"),
    BAD("{\"id\":[1],\"action\":\"x\",\"bogus\":1}", "null", "\"id\" must be a number or a string"),
    /* The id check comes first, then unknown members, then action. */
    BAD("{\"id\":7,\"arg\":{}}", "7", "unknown member \"arg\" (a request has id, action, args)"),
};

/* Plain JSON of o ("null" for NULL), copied so the caller can free it. */
static char *plain(json_object *o)
{
    return strdup(o ? json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN) : "null");
}

static void check_case(json_tokener *tok, size_t i, const Case *c)
{
    size_t len = c->len ? c->len : strlen(c->input);
    /* The contract: data[len] is a NUL the caller provides. */
    char *data = malloc(len + 1);
    assert_non_null(data);
    memcpy(data, c->input, len);
    data[len] = '\0';

    ApiRequest req;
    char err[160];
    ApiParseResult r = api_request_parse(tok, data, len, &req, err, sizeof(err));
    if (r != c->want)
        fail_msg("case %zu (%s): result %d, want %d (%s)", i, c->input, r, c->want, err);
    char *id = plain(req.id);
    if (strcmp(id, c->id) != 0)
        fail_msg("case %zu (%s): id %s, want %s", i, c->input, id, c->id);
    free(id);
    if (r == API_PARSE_REQUEST) {
        assert_string_equal(req.action, c->action);
        assert_non_null(req.args);
        char *args = plain(req.args);
        if (strcmp(args, c->args) != 0)
            fail_msg("case %zu (%s): args %s, want %s", i, c->input, args, c->args);
        free(args);
    } else {
        assert_null(req.action);
        assert_null(req.args);
    }
    if (r == API_PARSE_INVALID) {
        if (strcmp(err, c->error) != 0)
            fail_msg("case %zu (%s): error '%s', want '%s'", i, c->input, err, c->error);
    } else {
        assert_string_equal(err, "");
    }
    api_request_release(&req);
    assert_null(req.root);
    free(data);
}

static void test_table(void **state)
{
    (void)state;
    json_tokener *tok = api_request_tokener_new();
    assert_non_null(tok);
    /* Twice over with one tokener: a failed parse must leave nothing behind. */
    for (int round = 0; round < 2; round++)
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
            check_case(tok, i, &cases[i]);
    json_tokener_free(tok);
}

/* Nesting is bounded (the stack), with room for real args. */
static void test_depth(void **state)
{
    (void)state;
    json_tokener *tok = api_request_tokener_new();
    char msg[512];
    ApiRequest req;
    char err[160];
    for (int depth = 30; depth <= 32; depth++) {
        /* {"action":"x","args": + (depth - 1) objects */
        int n = snprintf(msg, sizeof(msg), "{\"action\":\"x\",\"args\":");
        for (int i = 0; i < depth - 1; i++)
            n += snprintf(msg + n, sizeof(msg) - (size_t)n, "{\"a\":");
        n += snprintf(msg + n, sizeof(msg) - (size_t)n, "1");
        for (int i = 0; i < depth - 1; i++)
            n += snprintf(msg + n, sizeof(msg) - (size_t)n, "}");
        n += snprintf(msg + n, sizeof(msg) - (size_t)n, "}");
        ApiParseResult r = api_request_parse(tok, msg, (size_t)n, &req, err, sizeof(err));
        if (depth < 32)
            assert_int_equal(r, API_PARSE_REQUEST);
        else {
            assert_int_equal(r, API_PARSE_INVALID);
            assert_string_equal(err, "invalid JSON: nesting too deep");
        }
        api_request_release(&req);
    }
    json_tokener_free(tok);
}

/* A short error buffer truncates the message, never overflows. */
static void test_short_errbuf(void **state)
{
    (void)state;
    json_tokener *tok = api_request_tokener_new();
    ApiRequest req;
    char err[8];
    const char *in = "{\"id\":3,\"nope\":1}";
    assert_int_equal(api_request_parse(tok, in, strlen(in), &req, err, sizeof(err)), API_PARSE_INVALID);
    assert_string_equal(err, "unknown");
    assert_int_equal(json_object_get_int(req.id), 3);
    api_request_release(&req);
    json_tokener_free(tok);
}

/* args after binding fds (numbers as received, here 40, 41, 42) to
 * in's "fd:K" references, or the error; req is released either way. */
static void bind_case(const char *in, size_t n_fds, const char *want_args, const char *want_error)
{
    static const int fds[API_MAX_FDS + 1] = {40, 41, 42};
    json_tokener *tok = api_request_tokener_new();
    ApiRequest req;
    char err[160] = "";
    assert_int_equal(api_request_parse(tok, in, strlen(in), &req, err, sizeof(err)), API_PARSE_REQUEST);
    int r = api_request_bind_fds(&req, fds, n_fds, err, sizeof(err));
    if (want_args) {
        if (r != 0)
            fail_msg("%s: %s", in, err);
        assert_string_equal(
            json_object_to_json_string_ext(req.args, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE),
            want_args);
    } else {
        assert_int_equal(r, -EINVAL);
        assert_string_equal(err, want_error);
    }
    api_request_release(&req);
    json_tokener_free(tok);
}

static void test_bind_fds(void **state)
{
    (void)state;
    /* A path becomes the inherited-descriptor path, an "fds" element the
     * number; other values, and references deeper down, are left alone. */
    bind_case("{\"action\":\"vm.add-disk\",\"args\":{\"path\":\"fd:0\",\"readonly\":true,\"id\":\"fd:x\"}}",
              1, NULL, "\"fd:x\" names no descriptor of this message (it carried 1)");
    bind_case("{\"action\":\"vm.add-disk\",\"args\":{\"path\":\"fd:0\",\"readonly\":true,\"id\":\"d\"}}", 1,
              "{\"path\":\"/dev/fd/40\",\"readonly\":true,\"id\":\"d\"}", NULL);
    bind_case("{\"action\":\"vm.add-net\",\"args\":{\"fds\":[\"fd:1\",\"fd:0\"],\"x\":{\"p\":\"fd:9\"}}}", 2,
              "{\"fds\":[41,40],\"x\":{\"p\":\"fd:9\"}}", NULL);
    /* Hostile or mistaken references: a descriptor the message lacks, a
     * malformed or oversized index, one carried but never named. */
    bind_case("{\"action\":\"a\",\"args\":{\"path\":\"fd:1\"}}", 1, NULL,
              "\"fd:1\" names no descriptor of this message (it carried 1)");
    bind_case("{\"action\":\"a\",\"args\":{\"fds\":[\"fd:0\",\"fd:3\"]}}", 3, NULL,
              "\"fd:3\" names no descriptor of this message (it carried 3)");
    bind_case("{\"action\":\"a\",\"args\":{\"path\":\"fd:\"}}", 1, NULL,
              "\"fd:\" names no descriptor of this message (it carried 1)");
    bind_case("{\"action\":\"a\",\"args\":{\"path\":\"fd:0000\"}}", 1, NULL,
              "\"fd:0000\" names no descriptor of this message (it carried 1)");
    bind_case("{\"action\":\"a\",\"args\":{\"path\":\"fd:-1\"}}", 1, NULL,
              "\"fd:-1\" names no descriptor of this message (it carried 1)");
    bind_case("{\"action\":\"a\",\"args\":{\"path\":\"fd:0\"}}", 2, NULL,
              "descriptor 1 of this message is named nowhere in its args (\"fd:1\")");
    bind_case("{\"action\":\"a\"}", 1, NULL,
              "descriptor 0 of this message is named nowhere in its args (\"fd:0\")");
    bind_case("{\"action\":\"a\"}", API_MAX_FDS + 1, NULL, "a message carries at most 8 descriptors");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_depth),
        cmocka_unit_test(test_short_errbuf),
        cmocka_unit_test(test_bind_fds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
