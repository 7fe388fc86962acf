/* SPDX-License-Identifier: Apache-2.0 */
/* The JSON API over real unix sockets, with the event loop on its own
 * thread: round trips, the error replies, hostile and oversized input, the
 * SOCK_SEQPACKET transport, event subscriptions, many clients, and clients
 * that vanish or stop reading. */
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "api_request.h"
#include "api_server.h"
#include "control_test.h"

#define TIMEOUT_MS 5000

/* ------------------------------------------------------------ the VMM side */

static atomic_int dispatched;

/* Runs on the loop thread: no cmocka asserts in here. */
static int test_dispatch(void *ctx, const char *action, json_object *args, json_object **result, char *errbuf,
                         size_t errlen)
{
    (void)ctx;
    atomic_fetch_add(&dispatched, 1);
    if (strcmp(action, "vmm.ping") == 0) {
        json_object *o = json_object_new_object();
        json_object_object_add(o, "version", json_object_new_string("test"));
        *result = o;
        return 0;
    }
    if (strcmp(action, "test.echo") == 0) {
        *result = json_object_get(args);
        return 0;
    }
    if (strcmp(action, "test.null") == 0)
        return 0;
    if (strcmp(action, "test.fstat") == 0) {
        /* The size of the descriptor args.path names: proves a passed one
         * is open while its request runs. */
        json_object *path;
        struct stat st;
        int n = -1;
        if (json_object_object_get_ex(args, "path", &path))
            sscanf(json_object_get_string(path), "/dev/fd/%d", &n);
        if (n < 0 || fstat(n, &st) < 0)
            return -EINVAL;
        *result = json_object_new_int64(st.st_size);
        return 0;
    }
    if (strcmp(action, "test.busy") == 0) {
        snprintf(errbuf, errlen, "the VM is Paused, not Running");
        return -EBUSY;
    }
    if (strcmp(action, "test.einval") == 0) {
        snprintf(errbuf, errlen, "bad size");
        return -EINVAL;
    }
    if (strcmp(action, "test.eio") == 0)
        return -EIO;
    if (strcmp(action, "test.nosup") == 0)
        return -EOPNOTSUPP;
    if (strcmp(action, "test.big") == 0) {
        char *s = malloc(API_MAX_MESSAGE + 10);
        memset(s, 'b', API_MAX_MESSAGE + 9);
        s[API_MAX_MESSAGE + 9] = '\0';
        *result = json_object_new_string(s);
        free(s);
        return 0;
    }
    snprintf(errbuf, errlen, "unknown action %s", action);
    return -ENOENT;
}

/* ------------------------------------------------------------ fixture */

#define MAX_EXTRA 8

typedef struct Fixture {
    char dir[64];
    char path[128];
    EventLoop *loop;
    EventMonitor *events;
    ApiServer *server;
    ApiServer *extra[MAX_EXTRA]; /* freed once the loop has stopped */
    size_t n_extra;
    LoopThread lt;
} Fixture;

static int setup(void **state)
{
    Fixture *f = calloc(1, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "/tmp/vmm-api-XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    snprintf(f->path, sizeof(f->path), "%s/api.sock", f->dir);
    char err[256];
    f->loop = event_loop_new();
    f->events = event_monitor_new(NULL, -1, err, sizeof(err));
    f->server = api_server_new(f->loop, f->path, -1, f->events, test_dispatch, NULL, err, sizeof(err));
    if (!f->loop || !f->events || !f->server) {
        fprintf(stderr, "setup: %s\n", err);
        return -1;
    }
    if (loop_thread_start(&f->lt, f->loop) != 0)
        return -1;
    atomic_store(&dispatched, 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    Fixture *f = *state;
    int r = loop_thread_stop(&f->lt);
    api_server_free(f->server);
    for (size_t i = 0; i < f->n_extra; i++)
        api_server_free(f->extra[i]);
    event_monitor_free(f->events);
    event_loop_free(f->loop);
    /* The server removed its socket file, so the directory is empty. */
    int rm = rmdir(f->dir);
    free(f);
    return r == 0 && rm == 0 ? 0 : -1;
}

static ApiServer *extra_server(Fixture *f, const char *path, int fd, char *err, size_t errlen)
{
    ApiServer *s = api_server_new(f->loop, path, fd, f->events, test_dispatch, NULL, err, errlen);
    if (s) {
        assert_true(f->n_extra < MAX_EXTRA);
        f->extra[f->n_extra++] = s;
    }
    return s;
}

/* ------------------------------------------------------------ clients */

typedef struct Client {
    int fd;
    bool packet;
    char *buf;
    size_t len;
} Client;

static Client *client_from_fd(int fd, bool packet)
{
    Client *c = calloc(1, sizeof(*c));
    c->fd = fd;
    c->packet = packet;
    c->buf = malloc(4 * API_MAX_MESSAGE);
    return c;
}

static int connect_path(const char *path, int type)
{
    int fd = socket(AF_UNIX, type | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    assert_true(strlen(path) < sizeof(addr.sun_path));
    memcpy(addr.sun_path, path, strlen(path) + 1);
    if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
        close(fd);
        return -errno;
    }
    return fd;
}

static Client *client_connect(const char *path)
{
    int fd = connect_path(path, SOCK_STREAM);
    assert_true(fd >= 0);
    return client_from_fd(fd, false);
}

static void client_close(Client *c)
{
    if (!c)
        return;
    if (c->fd >= 0)
        close(c->fd);
    free(c->buf);
    free(c);
}

static void send_all(int fd, const void *data, size_t len)
{
    const char *p = data;
    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        assert_true(n > 0);
        p += n;
        len -= (size_t)n;
    }
}

/* Sends one message: a packet, or the text and a newline. */
static void client_send(Client *c, const char *msg)
{
    if (c->packet) {
        assert_int_equal(send(c->fd, msg, strlen(msg), MSG_NOSIGNAL), (ssize_t)strlen(msg));
        return;
    }
    send_all(c->fd, msg, strlen(msg));
    send_all(c->fd, "\n", 1);
}

/* The next message as text (malloc'd), or NULL on EOF, error or timeout. */
static char *client_recv_raw(Client *c, int timeout_ms)
{
    if (c->packet) {
        if (!wait_readable(c->fd, timeout_ms))
            return NULL;
        ssize_t n = recv(c->fd, c->buf, 4 * API_MAX_MESSAGE, 0);
        if (n <= 0)
            return NULL;
        return strndup(c->buf, (size_t)n);
    }
    for (;;) {
        char *nl = memchr(c->buf, '\n', c->len);
        if (nl) {
            size_t n = (size_t)(nl - c->buf);
            char *msg = strndup(c->buf, n);
            memmove(c->buf, nl + 1, c->len - n - 1);
            c->len -= n + 1;
            return msg;
        }
        if (c->len == 4 * API_MAX_MESSAGE || !wait_readable(c->fd, timeout_ms))
            return NULL;
        ssize_t n = recv(c->fd, c->buf + c->len, 4 * API_MAX_MESSAGE - c->len, 0);
        if (n <= 0)
            return NULL;
        c->len += (size_t)n;
    }
}

static json_object *client_recv(Client *c)
{
    char *raw = client_recv_raw(c, TIMEOUT_MS);
    if (!raw)
        return NULL;
    json_object *o = json_tokener_parse(raw);
    if (!o)
        fail_msg("the server sent invalid JSON: %s", raw);
    free(raw);
    return o;
}

static json_object *call(Client *c, const char *msg)
{
    client_send(c, msg);
    json_object *o = client_recv(c);
    if (!o)
        fail_msg("no reply to %s", msg);
    return o;
}

static json_object *member(json_object *o, const char *key)
{
    json_object *v = NULL;
    if (!json_object_object_get_ex(o, key, &v))
        fail_msg("no \"%s\" in %s", key, json_object_to_json_string(o));
    return v;
}

static const char *error_code(json_object *reply)
{
    json_object *e = member(reply, "error");
    return json_object_get_string(member(e, "code"));
}

static const char *error_message(json_object *reply)
{
    return json_object_get_string(member(member(reply, "error"), "message"));
}

static void assert_error(json_object *reply, const char *code, const char *message_part)
{
    json_object *tmp;
    if (json_object_object_get_ex(reply, "result", &tmp))
        fail_msg("expected an error, got %s", json_object_to_json_string(reply));
    if (strcmp(error_code(reply), code) != 0)
        fail_msg("expected %s, got %s", code, json_object_to_json_string(reply));
    if (message_part && !strstr(error_message(reply), message_part))
        fail_msg("message of %s lacks \"%s\"", json_object_to_json_string(reply), message_part);
}

/* The reply to msg, skipping pushed events queued before it. */
static json_object *call_skipping_events(Client *c, const char *msg)
{
    client_send(c, msg);
    for (;;) {
        json_object *o = client_recv(c);
        json_object *tmp;
        if (!o)
            fail_msg("no reply to %s", msg);
        if (!json_object_object_get_ex(o, "event", &tmp))
            return o;
        json_object_put(o);
    }
}

static void assert_ping_works(Client *c)
{
    json_object *r = call(c, "{\"id\":\"still-alive\",\"action\":\"vmm.ping\"}");
    assert_string_equal(json_object_get_string(member(r, "id")), "still-alive");
    assert_string_equal(json_object_get_string(member(member(r, "result"), "version")), "test");
    json_object_put(r);
}

/* For clients the server may refuse: a failed send shows up as no reply. */
static void try_send_line(Client *c, const char *msg)
{
    char line[256];
    int n = snprintf(line, sizeof(line), "%s\n", msg);
    ssize_t w = send(c->fd, line, (size_t)n, MSG_NOSIGNAL);
    (void)w;
}

/* A client the server accepted rather than refused as one too many. */
static Client *client_connect_served(Fixture *f)
{
    uint64_t until = now_ms() + TIMEOUT_MS;
    for (;;) {
        Client *c = client_connect(f->path);
        try_send_line(c, "{\"id\":0,\"action\":\"vmm.ping\"}");
        json_object *r = client_recv(c);
        json_object *tmp;
        bool served = r && json_object_object_get_ex(r, "result", &tmp);
        json_object_put(r);
        if (served)
            return c;
        client_close(c);
        if (now_ms() > until)
            fail_msg("never served");
        usleep(10 * 1000);
    }
}

/* Waits until the server has let go of every connection: API_MAX_CLIENTS
 * new clients are all served (closes are processed asynchronously). */
static void assert_all_slots_free(Fixture *f)
{
    uint64_t until = now_ms() + TIMEOUT_MS;
    for (;;) {
        Client *c[API_MAX_CLIENTS];
        for (int i = 0; i < API_MAX_CLIENTS; i++)
            c[i] = client_connect(f->path);
        bool all = true;
        for (int i = 0; i < API_MAX_CLIENTS; i++) {
            try_send_line(c[i], "{\"id\":1,\"action\":\"vmm.ping\"}");
            json_object *r = client_recv(c[i]);
            json_object *tmp;
            all = all && r && json_object_object_get_ex(r, "result", &tmp);
            json_object_put(r);
        }
        for (int i = 0; i < API_MAX_CLIENTS; i++)
            client_close(c[i]);
        if (all)
            return;
        if (now_ms() > until)
            fail_msg("connection slots were not returned");
        usleep(10 * 1000);
    }
}

/* ------------------------------------------------------------ tests */

static void test_ping_round_trip(void **state)
{
    Fixture *f = *state;
    struct stat st;
    assert_int_equal(stat(f->path, &st), 0);
    assert_true(S_ISSOCK(st.st_mode));
    assert_int_equal(st.st_mode & 0777, 0600);

    Client *c = client_connect(f->path);
    client_send(c, "{\"id\":1,\"action\":\"vmm.ping\"}");
    char *raw = client_recv_raw(c, TIMEOUT_MS);
    assert_non_null(raw);
    assert_string_equal(raw, "{\"id\":1,\"result\":{\"version\":\"test\"}}");
    free(raw);

    client_send(c, "{\"id\":7,\"action\":\"test.null\"}");
    raw = client_recv_raw(c, TIMEOUT_MS);
    assert_string_equal(raw, "{\"id\":7,\"result\":null}");
    free(raw);

    /* ids come back exactly as sent. */
    static const char *const ids[] = {"\"abc\"", "-7", "1.5", "9007199254740993", "\"\"", "null"};
    for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
        char req[128], want[128];
        snprintf(req, sizeof(req), "{\"action\":\"test.null\",\"id\":%s}", ids[i]);
        snprintf(want, sizeof(want), "{\"id\":%s,\"result\":null}", ids[i]);
        client_send(c, req);
        raw = client_recv_raw(c, TIMEOUT_MS);
        assert_non_null(raw);
        assert_string_equal(raw, want);
        free(raw);
    }
    /* No id at all: the reply says null. */
    json_object *r = call(c, "{\"action\":\"vmm.ping\"}");
    assert_true(json_object_is_type(member(r, "id"), json_type_null));
    json_object_put(r);
    client_close(c);
}

static void test_args_reach_dispatch(void **state)
{
    Fixture *f = *state;
    Client *c = client_connect(f->path);
    json_object *r = call(c, "{\"id\":1,\"action\":\"test.echo\",\"args\":{\"a\":[1,2],\"b\":\"/x/y\"}}");
    json_object *res = member(r, "result");
    assert_int_equal(json_object_array_length(member(res, "a")), 2);
    assert_string_equal(json_object_get_string(member(res, "b")), "/x/y");
    json_object_put(r);
    /* No args, or null args: dispatch gets {}. */
    r = call(c, "{\"id\":2,\"action\":\"test.echo\"}");
    assert_true(json_object_is_type(member(r, "result"), json_type_object));
    assert_int_equal(json_object_object_length(member(r, "result")), 0);
    json_object_put(r);
    r = call(c, "{\"id\":3,\"action\":\"test.echo\",\"args\":null}");
    assert_int_equal(json_object_object_length(member(r, "result")), 0);
    json_object_put(r);
    client_close(c);
}

static void test_dispatch_errors(void **state)
{
    Fixture *f = *state;
    Client *c = client_connect(f->path);
    json_object *r = call(c, "{\"id\":1,\"action\":\"vm.no-such-thing\"}");
    assert_error(r, "UnknownAction", "vm.no-such-thing");
    assert_int_equal(json_object_get_int(member(r, "id")), 1);
    json_object_put(r);
    r = call(c, "{\"id\":2,\"action\":\"test.busy\"}");
    assert_error(r, "InvalidState", "not Running");
    json_object_put(r);
    r = call(c, "{\"id\":3,\"action\":\"test.einval\"}");
    assert_error(r, "InvalidArgs", "bad size");
    json_object_put(r);
    r = call(c, "{\"id\":4,\"action\":\"test.eio\"}");
    assert_error(r, "Failed", strerror(EIO));
    json_object_put(r);
    r = call(c, "{\"id\":5,\"action\":\"test.nosup\"}");
    assert_error(r, "NotSupported", NULL);
    json_object_put(r);
    /* A reply over the limit becomes an error, still with its id. */
    r = call(c, "{\"id\":6,\"action\":\"test.big\"}");
    assert_error(r, "TooLarge", "reply");
    assert_int_equal(json_object_get_int(member(r, "id")), 6);
    json_object_put(r);
    assert_ping_works(c);
    client_close(c);

    assert_string_equal(api_error_code_from_errno(-EALREADY), "InvalidState");
    assert_string_equal(api_error_code_from_errno(-ENOMEM), "Failed");
    assert_string_equal(api_error_code_from_errno(-EAGAIN), "Busy");
}

typedef struct Hostile {
    const char *input;
    size_t len; /* 0: strlen */
    const char *message_part;
    const char *id; /* the id expected back, as JSON; NULL: null */
} Hostile;

static void test_hostile_requests(void **state)
{
    Fixture *f = *state;
    char deep[512] = "";
    for (int i = 0; i < 200; i++)
        strcat(deep, "[");
    static const char nul_line[] = "{\"action\":\"vmm.ping\"\0}";
    const Hostile cases[] = {
        {"{", 0, "invalid JSON", NULL},
        {"not json", 0, "invalid JSON", NULL},
        {"{\"action\":\"vmm.ping\",}", 0, "invalid JSON", NULL},
        {"{'action':'vmm.ping'}", 0, "invalid JSON", NULL},
        {"{\"action\":\"vmm.ping\"} trailing", 0, "invalid JSON", NULL},
        {"{\"action\":\"vmm.ping\"}{}", 0, "invalid JSON", NULL},
        {"{\"action\":\"vmm.ping\"} 1", 0, "invalid JSON", NULL},
        {deep, 0, "invalid JSON", NULL},
        {"{\"action\":\"\xff\xfe\"}", 0, "invalid JSON", NULL},
        {nul_line, sizeof(nul_line) - 1, "NUL", NULL},
        {"[1,2]", 0, "must be a JSON object", NULL},
        {"\"vmm.ping\"", 0, "must be a JSON object", NULL},
        {"42", 0, "must be a JSON object", NULL},
        {"null", 0, "must be a JSON object", NULL},
        {"{}", 0, "missing \"action\"", NULL},
        {"{\"id\":1}", 0, "missing \"action\"", "1"},
        {"{\"id\":\"x\",\"action\":5}", 0, "must be a string", "\"x\""},
        {"{\"id\":2,\"action\":null}", 0, "must be a string", "2"},
        {"{\"id\":3,\"action\":[\"vmm.ping\"]}", 0, "must be a string", "3"},
        {"{\"id\":4,\"action\":\"vmm.ping\",\"args\":[]}", 0, "\"args\" must be an object", "4"},
        {"{\"id\":5,\"action\":\"vmm.ping\",\"args\":\"x\"}", 0, "\"args\" must be an object", "5"},
        {"{\"id\":6,\"action\":\"vmm.ping\",\"args\":1}", 0, "\"args\" must be an object", "6"},
        {"{\"id\":{},\"action\":\"vmm.ping\"}", 0, "\"id\"", NULL},
        {"{\"id\":true,\"action\":\"vmm.ping\"}", 0, "\"id\"", NULL},
        {"{\"id\":[1],\"action\":\"vmm.ping\"}", 0, "\"id\"", NULL},
        {"{\"id\":7,\"action\":\"vmm.ping\",\"arg\":{}}", 0, "unknown member \"arg\"", "7"},
        {"{\"id\":8,\"action\":\"vmm.ping\\u0000x\"}", 0, "NUL", "8"},
    };
    Client *c = client_connect(f->path);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const Hostile *h = &cases[i];
        size_t len = h->len ? h->len : strlen(h->input);
        send_all(c->fd, h->input, len);
        send_all(c->fd, "\n", 1);
        json_object *r = client_recv(c);
        if (!r)
            fail_msg("case %zu: no reply", i);
        if (strcmp(error_code(r), "InvalidRequest") != 0 || !strstr(error_message(r), h->message_part))
            fail_msg("case %zu (%s): got %s", i, h->input, json_object_to_json_string(r));
        const char *id = json_object_to_json_string_ext(member(r, "id"), JSON_C_TO_STRING_PLAIN);
        if (strcmp(id, h->id ? h->id : "null") != 0)
            fail_msg("case %zu: id %s, expected %s", i, id, h->id ? h->id : "null");
        json_object_put(r);
    }
    /* None reached the VMM, and the connection is still good. */
    assert_int_equal(atomic_load(&dispatched), 0);
    /* Blank lines and CRLF are tolerated. */
    send_all(c->fd, "\n  \n\r\n", 6);
    send_all(c->fd, "{\"id\":9,\"action\":\"vmm.ping\"}\r\n", 30);
    json_object *r = client_recv(c);
    assert_int_equal(json_object_get_int(member(r, "id")), 9);
    json_object_put(r);
    assert_ping_works(c);
    client_close(c);
}

/* A request padded with spaces inside args to exactly len bytes. */
static char *request_of_size(size_t len, int id)
{
    char head[64];
    int h = snprintf(head, sizeof(head), "{\"id\":%d,\"action\":\"test.null\",\"args\":{\"pad\":\"", id);
    const char *tail = "\"}}";
    size_t pad = len - (size_t)h - strlen(tail);
    /* abort(), not a cmocka assert: GCC must see that the path ends. */
    char *msg = malloc(len + 1);
    if (pad >= len || !msg)
        abort();
    memcpy(msg, head, (size_t)h);
    memset(msg + h, 'p', pad);
    memcpy(msg + len - strlen(tail), tail, strlen(tail) + 1);
    assert_int_equal(strlen(msg), len);
    return msg;
}

static void test_oversized_stream(void **state)
{
    Fixture *f = *state;
    Client *c = client_connect(f->path);

    /* Exactly at the limit: fine. */
    char *msg = request_of_size(API_MAX_MESSAGE, 1);
    json_object *r = call(c, msg);
    assert_int_equal(json_object_get_int(member(r, "id")), 1);
    assert_true(json_object_is_type(member(r, "result"), json_type_null));
    json_object_put(r);
    free(msg);

    /* One over: TooLarge, never dispatched, and the connection goes on. */
    int before = atomic_load(&dispatched);
    msg = request_of_size(API_MAX_MESSAGE + 1, 2);
    r = call(c, msg);
    assert_error(r, "TooLarge", "limit");
    json_object_put(r);
    free(msg);
    assert_ping_works(c);

    /* Far over, sent in pieces with a request right behind it in the same
     * write: the big one is skipped up to its newline, the next one runs. */
    size_t big = 3 * API_MAX_MESSAGE + 17;
    char *junk = malloc(big);
    memset(junk, 'j', big);
    send_all(c->fd, junk, big / 2);
    usleep(10 * 1000);
    send_all(c->fd, junk, big - big / 2);
    free(junk);
    send_all(c->fd, "\n{\"id\":3,\"action\":\"test.null\"}\n", 32);
    r = client_recv(c);
    assert_error(r, "TooLarge", NULL);
    json_object_put(r);
    r = client_recv(c);
    assert_int_equal(json_object_get_int(member(r, "id")), 3);
    json_object_put(r);
    assert_int_equal(atomic_load(&dispatched), before + 2);
    client_close(c);
}

static void test_pipelined_and_half_close(void **state)
{
    Fixture *f = *state;
    Client *c = client_connect(f->path);
    const char *two = "{\"id\":1,\"action\":\"vmm.ping\"}\n{\"id\":2,\"action\":\"test.busy\"}\n";
    send_all(c->fd, two, strlen(two));
    json_object *r = client_recv(c);
    assert_int_equal(json_object_get_int(member(r, "id")), 1);
    json_object_put(r);
    r = client_recv(c);
    assert_int_equal(json_object_get_int(member(r, "id")), 2);
    assert_error(r, "InvalidState", NULL);
    json_object_put(r);

    /* The last request without its newline, then the write side closed, as
     * `printf ... | nc -U` does: it is still answered, then EOF. */
    const char *last = "{\"id\":3,\"action\":\"vmm.ping\"}";
    send_all(c->fd, last, strlen(last));
    shutdown(c->fd, SHUT_WR);
    r = client_recv(c);
    assert_non_null(r);
    assert_int_equal(json_object_get_int(member(r, "id")), 3);
    json_object_put(r);
    assert_null(client_recv_raw(c, TIMEOUT_MS));
    client_close(c);
}

static void test_seqpacket_connected_fd(void **state)
{
    Fixture *f = *state;
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
    char err[256];
    assert_non_null(extra_server(f, NULL, sv[1], err, sizeof(err)));
    Client *c = client_from_fd(sv[0], true);

    client_send(c, "{\"id\":1,\"action\":\"vmm.ping\"}");
    char *raw = client_recv_raw(c, TIMEOUT_MS);
    /* One message per packet: no newline. */
    assert_string_equal(raw, "{\"id\":1,\"result\":{\"version\":\"test\"}}");
    free(raw);

    /* Oversized packets: TooLarge, and the next packet still works. */
    char *msg = request_of_size(API_MAX_MESSAGE + 1, 2);
    json_object *r = call(c, msg);
    assert_error(r, "TooLarge", NULL);
    json_object_put(r);
    free(msg);
    msg = request_of_size(API_MAX_MESSAGE, 3);
    r = call(c, msg);
    assert_int_equal(json_object_get_int(member(r, "id")), 3);
    json_object_put(r);
    free(msg);
    r = call(c, "[]");
    assert_error(r, "InvalidRequest", NULL);
    json_object_put(r);

    /* Events arrive one per packet too. */
    r = call(c, "{\"id\":4,\"action\":\"events.subscribe\"}");
    assert_true(json_object_is_type(member(r, "result"), json_type_null));
    json_object_put(r);
    event_monitor_emit(f->events, "vm", "booted", NULL);
    raw = client_recv_raw(c, TIMEOUT_MS);
    assert_non_null(raw);
    assert_true(strncmp(raw, "{\"event\":{\"timestamp\":{\"secs\":", 30) == 0);
    assert_non_null(strstr(raw, "\"source\":\"vm\",\"event\":\"booted\",\"properties\":null}}"));
    free(raw);
    /* The peer going away is cleaned up (ASan/LSan would see a leak). */
    client_close(c);
    usleep(20 * 1000);
}

/* Descriptors open in this process (the server runs in it too). */
static int open_fds(void)
{
    int n = 0;
    for (int fd = 0; fd < 1024; fd++)
        n += fcntl(fd, F_GETFD) >= 0;
    return n;
}

/* Sends msg with n memfds of `size` bytes each, closing ours. */
static void send_with_fds(int sock, const char *msg, size_t n, off_t size)
{
    int fds[16];
    assert_true(n <= 16);
    for (size_t i = 0; i < n; i++) {
        fds[i] = memfd_create("passed", MFD_CLOEXEC);
        assert_true(fds[i] >= 0);
        assert_int_equal(ftruncate(fds[i], size), 0);
    }
    struct iovec iov = {.iov_base = (void *)msg, .iov_len = strlen(msg)};
    union {
        char buf[CMSG_SPACE(16 * sizeof(int))];
        struct cmsghdr align;
    } control;
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
    if (n) {
        mh.msg_control = control.buf;
        mh.msg_controllen = CMSG_SPACE(n * sizeof(int));
        struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
        cm->cmsg_level = SOL_SOCKET;
        cm->cmsg_type = SCM_RIGHTS;
        cm->cmsg_len = CMSG_LEN(n * sizeof(int));
        memcpy(CMSG_DATA(cm), fds, n * sizeof(int));
    }
    assert_int_equal(sendmsg(sock, &mh, MSG_NOSIGNAL), (ssize_t)strlen(msg));
    for (size_t i = 0; i < n; i++)
        close(fds[i]);
}

static json_object *call_with_fds(Client *c, const char *msg, size_t n, off_t size)
{
    send_with_fds(c->fd, msg, n, size);
    json_object *o = client_recv(c);
    if (!o)
        fail_msg("no reply to %s", msg);
    return o;
}

/* SCM_RIGHTS on a SOCK_SEQPACKET connection: a request's "fd:K" names the
 * descriptors it carried, which are closed once it is answered, whatever a
 * hostile sender does; on a stream connection they are dropped unread. */
static void test_passed_fds(void **state)
{
    Fixture *f = *state;
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
    char err[256];
    assert_non_null(extra_server(f, NULL, sv[1], err, sizeof(err)));
    Client *c = client_from_fd(sv[0], true);
    assert_ping_works(c);
    int before = open_fds();

    json_object *r =
        call_with_fds(c, "{\"id\":1,\"action\":\"test.fstat\",\"args\":{\"path\":\"fd:0\"}}", 1, 1234);
    assert_int_equal(json_object_get_int64(member(r, "result")), 1234);
    json_object_put(r);
    r = call_with_fds(c, "{\"id\":2,\"action\":\"test.echo\",\"args\":{\"fds\":[\"fd:1\",\"fd:0\"]}}", 2, 1);
    json_object *list = member(member(r, "result"), "fds");
    assert_int_equal(json_object_array_length(list), 2);
    assert_true(json_object_is_type(json_object_array_get_idx(list, 0), json_type_int));
    json_object_put(r);

    /* More than API_MAX_FDS: refused before parsing (the kernel closes
     * what did not fit, the server the rest). */
    r = call_with_fds(c, "{\"id\":3,\"action\":\"test.null\"}", API_MAX_FDS + 1, 1);
    assert_error(r, "TooLarge", "at most 8 file descriptors");
    json_object_put(r);
    /* Descriptors with no request: a blank packet (no reply), bad JSON. */
    send_with_fds(c->fd, " ", 2, 1);
    r = call_with_fds(c, "{not json", 1, 1);
    assert_error(r, "InvalidRequest", "invalid JSON");
    json_object_put(r);
    /* A reference to a descriptor the message lacks; one never named. */
    r = call_with_fds(c, "{\"id\":4,\"action\":\"test.fstat\",\"args\":{\"path\":\"fd:1\"}}", 1, 1);
    assert_error(r, "InvalidRequest", "\"fd:1\" names no descriptor of this message (it carried 1)");
    json_object_put(r);
    r = call_with_fds(c, "{\"id\":5,\"action\":\"test.null\"}", 1, 1);
    assert_error(r, "InvalidRequest", "named nowhere");
    json_object_put(r);
    assert_int_equal(atomic_load(&dispatched), 3); /* the ping, fstat and echo */
    /* Answered in order: once the ping is, every descriptor above is closed. */
    assert_ping_works(c);
    assert_int_equal(open_fds(), before);
    client_close(c);

    /* A stream client cannot pass descriptors: "fd:0" stays a plain string. */
    Client *s = client_connect(f->path);
    r = call_with_fds(s, "{\"id\":6,\"action\":\"test.echo\",\"args\":{\"path\":\"fd:0\"}}\n", 1, 1);
    assert_string_equal(json_object_get_string(member(member(r, "result"), "path")), "fd:0");
    json_object_put(r);
    client_close(s);
    usleep(20 * 1000);
}

static void test_listening_fd(void **state)
{
    Fixture *f = *state;
    char path[160];
    snprintf(path, sizeof(path), "%s/seq.sock", f->dir);
    int lfd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    assert_true(strlen(path) < sizeof(addr.sun_path));
    memcpy(addr.sun_path, path, strlen(path) + 1);
    assert_int_equal(bind(lfd, (struct sockaddr *)&addr, sizeof(addr)), 0);
    assert_int_equal(listen(lfd, 4), 0);
    char err[256];
    assert_non_null(extra_server(f, NULL, lfd, err, sizeof(err)));
    for (int i = 0; i < 3; i++) {
        int fd = connect_path(path, SOCK_SEQPACKET);
        assert_true(fd >= 0);
        Client *c = client_from_fd(fd, true);
        assert_ping_works(c);
        client_close(c);
    }
    /* The server did not create this file and leaves it alone. */
    unlink(path);
}

static void test_events_subscribe(void **state)
{
    Fixture *f = *state;
    Client *sub = client_connect(f->path);
    Client *other = client_connect(f->path);
    json_object *r = call(sub, "{\"id\":\"s\",\"action\":\"events.subscribe\"}");
    assert_string_equal(json_object_get_string(member(r, "id")), "s");
    assert_true(json_object_is_type(member(r, "result"), json_type_null));
    json_object_put(r);
    assert_int_equal(atomic_load(&dispatched), 0); /* handled by the server */

    const char *const props[] = {"id", "_disk0", "bdf", "0000:00:03.0", NULL};
    event_monitor_emit(f->events, "vm", "booted", NULL);
    event_monitor_emit(f->events, "vm", "device-removed", props);
    for (int i = 0; i < 2; i++) {
        r = client_recv(sub);
        assert_non_null(r);
        assert_int_equal(json_object_object_length(r), 1);
        json_object *ev = member(r, "event");
        assert_true(json_object_is_type(member(member(ev, "timestamp"), "secs"), json_type_int));
        assert_string_equal(json_object_get_string(member(ev, "source")), "vm");
        json_object *p = member(ev, "properties");
        if (i == 0) {
            assert_string_equal(json_object_get_string(member(ev, "event")), "booted");
            assert_true(json_object_is_type(p, json_type_null));
        } else {
            assert_string_equal(json_object_get_string(member(ev, "event")), "device-removed");
            assert_string_equal(json_object_get_string(member(p, "bdf")), "0000:00:03.0");
        }
        json_object_put(r);
    }
    /* Requests and events share the connection. */
    assert_ping_works(sub);

    r = call(sub, "{\"id\":\"u\",\"action\":\"events.unsubscribe\"}");
    assert_string_equal(json_object_get_string(member(r, "id")), "u");
    json_object_put(r);
    event_monitor_emit(f->events, "vm", "shutdown", NULL);
    usleep(50 * 1000);
    /* Nothing but the ping's reply follows. */
    assert_ping_works(sub);
    /* The other client never subscribed and got no events either. */
    assert_ping_works(other);
    client_close(sub);
    client_close(other);
}

static void test_many_clients(void **state)
{
    Fixture *f = *state;
    Client *c[API_MAX_CLIENTS];
    for (int i = 0; i < API_MAX_CLIENTS; i++)
        c[i] = client_connect(f->path);
    /* All requests out first, then all answers: served concurrently. */
    for (int i = 0; i < API_MAX_CLIENTS; i++) {
        char req[64];
        snprintf(req, sizeof(req), "{\"id\":%d,\"action\":\"vmm.ping\"}", i);
        client_send(c[i], req);
    }
    for (int i = API_MAX_CLIENTS - 1; i >= 0; i--) {
        json_object *r = client_recv(c[i]);
        assert_non_null(r);
        assert_int_equal(json_object_get_int(member(r, "id")), i);
        json_object_put(r);
    }
    /* One too many: told why, then closed. */
    Client *extra = client_connect(f->path);
    json_object *r = client_recv(extra);
    assert_non_null(r);
    assert_error(r, "Busy", "too many");
    json_object_put(r);
    assert_null(client_recv_raw(extra, TIMEOUT_MS));
    client_close(extra);

    /* Slots freed are slots usable again. */
    for (int i = 0; i < API_MAX_CLIENTS; i++)
        client_close(c[i]);
    assert_all_slots_free(f);
}

static void test_clients_vanish(void **state)
{
    Fixture *f = *state;
    /* Connecting faster than the server notices closes can briefly exceed
     * API_MAX_CLIENTS; such a client is refused, so its send may fail. */
    ssize_t ignored;
    /* Mid-message. */
    for (int i = 0; i < 20; i++) {
        Client *c = client_connect(f->path);
        ignored = send(c->fd, "{\"id\":1,\"act", 12, MSG_NOSIGNAL);
        client_close(c);
    }
    /* Request sent, gone before the reply: the reply hits a closed socket
     * (EPIPE without SIGPIPE, or this test process would die). */
    for (int i = 0; i < 20; i++) {
        Client *c = client_connect(f->path);
        const char *req = "{\"id\":1,\"action\":\"vmm.ping\"}\n";
        ignored = send(c->fd, req, strlen(req), MSG_NOSIGNAL);
        client_close(c);
    }
    (void)ignored;
    /* Subscribed and gone while events flow. */
    for (int i = 0; i < 10; i++) {
        Client *c = client_connect_served(f);
        json_object_put(call(c, "{\"action\":\"events.subscribe\"}"));
        event_monitor_emit(f->events, "vm", "tick", NULL);
        client_close(c);
        event_monitor_emit(f->events, "vm", "tick", NULL);
    }
    assert_all_slots_free(f);
}

/* A subscriber that reads on its own thread until the "marker" event. */
typedef struct EventReader {
    Client *c;
    atomic_size_t events;
    bool saw_marker;
} EventReader;

static void *read_events(void *arg)
{
    EventReader *r = arg;
    char *raw;
    while ((raw = client_recv_raw(r->c, TIMEOUT_MS))) {
        atomic_fetch_add(&r->events, 1);
        bool marker = strstr(raw, "\"event\":\"marker\"") != NULL;
        free(raw);
        if (marker) {
            r->saw_marker = true;
            break;
        }
    }
    return NULL;
}

/* A subscriber that never reads while events flood: it is dropped once its
 * queue passes API_MAX_OUTPUT, and nobody else waits for it - neither the
 * emitter, nor the loop, nor a subscriber that does read. */
static void test_non_reading_client_is_dropped(void **state)
{
    Fixture *f = *state;
    Client *stuck = client_connect(f->path);
    Client *ok = client_connect(f->path);
    json_object_put(call(stuck, "{\"id\":1,\"action\":\"events.subscribe\"}"));
    json_object_put(call(ok, "{\"id\":1,\"action\":\"events.subscribe\"}"));
    EventReader reader = {.c = ok};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, read_events, &reader), 0);

    const char *const props[] = {"padding",
                                 "----------------------------------------------------------------"
                                 "----------------------------------------------------------------",
                                 NULL};
    /* ~260 bytes an event: well past API_MAX_OUTPUT for `stuck`. The flood
     * is paced by the reading subscriber, so that one never has more than
     * a few hundred events queued, whatever the scheduler does. */
    enum { FLOOD = 10000, AHEAD = 300 };
    for (int i = 0; i < FLOOD; i++) {
        event_monitor_emit(f->events, "vm", "flood", props);
        uint64_t until = now_ms() + TIMEOUT_MS;
        while (atomic_load(&reader.events) + AHEAD < (size_t)i && now_ms() < until)
            usleep(100);
        assert_true(now_ms() < until);
    }

    /* The loop still answers promptly. */
    Client *fresh = client_connect(f->path);
    uint64_t t0 = now_ms();
    assert_ping_works(fresh);
    assert_true(now_ms() - t0 < 2000);
    client_close(fresh);

    /* stuck sees what fit in its socket buffer, then the end. */
    size_t stuck_events = 0;
    char *raw;
    while ((raw = client_recv_raw(stuck, TIMEOUT_MS))) {
        stuck_events++;
        free(raw);
    }
    print_message("flood: %d emitted, the stuck client got %zu before being dropped\n", FLOOD, stuck_events);
    assert_true(stuck_events < FLOOD);
    client_close(stuck);

    /* The reading subscriber stayed connected throughout. */
    event_monitor_emit(f->events, "vm", "marker", NULL);
    pthread_join(th, NULL);
    assert_true(reader.saw_marker);
    assert_int_equal(atomic_load(&reader.events), FLOOD + 1);
    json_object_put(call_skipping_events(ok, "{\"action\":\"events.unsubscribe\"}"));
    assert_ping_works(ok);
    client_close(ok);
    assert_all_slots_free(f);
}

static void test_socket_path_rules(void **state)
{
    Fixture *f = *state;
    char err[256];
    char path[160];

    /* A live socket (the fixture's) is not taken over. */
    err[0] = '\0';
    assert_null(api_server_new(f->loop, f->path, -1, NULL, test_dispatch, NULL, err, sizeof(err)));
    assert_non_null(strstr(err, "in use"));
    Client *c = client_connect(f->path);
    assert_ping_works(c);
    client_close(c);

    /* A regular file is never replaced. */
    snprintf(path, sizeof(path), "%s/file", f->dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    assert_int_equal(write(fd, "keep", 4), 4);
    close(fd);
    assert_null(api_server_new(f->loop, path, -1, NULL, test_dispatch, NULL, err, sizeof(err)));
    assert_non_null(strstr(err, "not a socket"));
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_size, 4);
    unlink(path);

    /* A stale socket file, left by a dead VMM, is replaced. */
    snprintf(path, sizeof(path), "%s/stale.sock", f->dir);
    int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    assert_true(strlen(path) < sizeof(addr.sun_path));
    memcpy(addr.sun_path, path, strlen(path) + 1);
    assert_int_equal(bind(s, (struct sockaddr *)&addr, sizeof(addr)), 0);
    close(s);
    ApiServer *srv = extra_server(f, path, -1, err, sizeof(err));
    assert_non_null(srv);
    c = client_connect(path);
    assert_ping_works(c);
    client_close(c);

    /* Too long, missing directory, both or neither of path and fd. */
    char longp[200];
    memset(longp, 'a', sizeof(longp) - 1);
    longp[sizeof(longp) - 1] = '\0';
    assert_null(api_server_new(f->loop, longp, -1, NULL, test_dispatch, NULL, err, sizeof(err)));
    assert_null(api_server_new(f->loop, "/nonexistent-dir/api.sock", -1, NULL, test_dispatch, NULL, err,
                               sizeof(err)));
    assert_non_null(strstr(err, "/nonexistent-dir/api.sock"));
    assert_null(api_server_new(f->loop, NULL, -1, NULL, test_dispatch, NULL, err, sizeof(err)));
    int p[2];
    assert_int_equal(pipe2(p, O_CLOEXEC), 0);
    assert_null(api_server_new(f->loop, path, p[0], NULL, test_dispatch, NULL, err, sizeof(err)));
    /* fds are owned even when refused. */
    assert_true(fcntl(p[0], F_GETFD) < 0);
    assert_null(api_server_new(f->loop, NULL, p[1], NULL, test_dispatch, NULL, err, sizeof(err)));
    assert_non_null(strstr(err, "fd"));
    assert_true(fcntl(p[1], F_GETFD) < 0);
    int dg = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    assert_null(api_server_new(f->loop, NULL, dg, NULL, test_dispatch, NULL, err, sizeof(err)));
    assert_non_null(strstr(err, "SOCK_SEQPACKET"));
}

static void test_no_event_monitor(void **state)
{
    Fixture *f = *state;
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    char err[256];
    ApiServer *s = api_server_new(f->loop, NULL, sv[1], NULL, test_dispatch, NULL, err, sizeof(err));
    assert_non_null(s);
    assert_true(f->n_extra < MAX_EXTRA);
    f->extra[f->n_extra++] = s;
    Client *c = client_from_fd(sv[0], false);
    json_object *r = call(c, "{\"id\":1,\"action\":\"events.subscribe\"}");
    assert_error(r, "NotSupported", NULL);
    json_object_put(r);
    assert_ping_works(c);
    client_close(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_ping_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_args_reach_dispatch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dispatch_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hostile_requests, setup, teardown),
        cmocka_unit_test_setup_teardown(test_oversized_stream, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pipelined_and_half_close, setup, teardown),
        cmocka_unit_test_setup_teardown(test_seqpacket_connected_fd, setup, teardown),
        cmocka_unit_test_setup_teardown(test_passed_fds, setup, teardown),
        cmocka_unit_test_setup_teardown(test_listening_fd, setup, teardown),
        cmocka_unit_test_setup_teardown(test_events_subscribe, setup, teardown),
        cmocka_unit_test_setup_teardown(test_many_clients, setup, teardown),
        cmocka_unit_test_setup_teardown(test_clients_vanish, setup, teardown),
        cmocka_unit_test_setup_teardown(test_non_reading_client_is_dropped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_socket_path_rules, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_event_monitor, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
