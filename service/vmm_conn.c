/* SPDX-License-Identifier: Apache-2.0 */
#include "vmm_conn.h"

#include <errno.h>
#include <inttypes.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "bus_errors.h"
#include "util.h"

/* docs/api.md: API_MAX_MESSAGE. A reply larger than this is already replaced
 * by TooLarge on the VMM's side; one byte more tells truncation apart. */
#define VMM_MAX_MESSAGE 65536

typedef struct Pending {
    struct Pending *next;
    VmmConn *conn;
    uint64_t id;
    sd_event_source *timer;
    char *packet; /* non-NULL while not yet sent (socket full) */
    size_t packet_len;
    int fds[VMM_CONN_MAX_FDS]; /* sent with the packet, then closed */
    size_t n_fds;
    vmm_reply_fn cb;
    void *userdata;
} Pending;

struct VmmConn {
    sd_event *event;
    int fd;
    VmmConnKind kind;
    sd_event_source *io;
    vmm_event_fn on_event;
    vmm_closed_fn on_closed;
    void *userdata;
    uint64_t next_id;
    Pending *pending; /* in request order: the order replies come in */
    bool closed;
    bool dispatching; /* inside a callback: free is deferred */
    bool free_requested;
    unsigned n_bad; /* packets dropped: oversized or malformed */
};

static void close_fds(Pending *p)
{
    for (size_t i = 0; i < p->n_fds; i++)
        close(p->fds[i]);
    p->n_fds = 0;
}

static void pending_free(Pending *p)
{
    close_fds(p);
    sd_event_source_disable_unref(p->timer);
    free(p->packet);
    free(p);
}

static Pending *pending_unlink(VmmConn *c, Pending *p)
{
    for (Pending **pp = &c->pending; *pp; pp = &(*pp)->next) {
        if (*pp == p) {
            *pp = p->next;
            p->next = NULL;
            return p;
        }
    }
    return NULL;
}

static void update_io_events(VmmConn *c)
{
    if (!c->io)
        return;
    uint32_t ev = EPOLLIN;
    for (Pending *p = c->pending; p; p = p->next)
        if (p->packet)
            ev |= EPOLLOUT;
    sd_event_source_set_io_events(c->io, ev);
}

/* Sends queued packets in order until the socket is full. */
static int flush_output(VmmConn *c)
{
    for (Pending *p = c->pending; p; p = p->next) {
        if (!p->packet)
            continue;
        struct iovec iov = {.iov_base = p->packet, .iov_len = p->packet_len};
        union {
            char buf[CMSG_SPACE(VMM_CONN_MAX_FDS * sizeof(int))];
            struct cmsghdr align;
        } control;
        struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
        if (p->n_fds) {
            msg.msg_control = control.buf;
            msg.msg_controllen = CMSG_SPACE(p->n_fds * sizeof(int));
            struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
            cm->cmsg_level = SOL_SOCKET;
            cm->cmsg_type = SCM_RIGHTS;
            cm->cmsg_len = CMSG_LEN(p->n_fds * sizeof(int));
            memcpy(CMSG_DATA(cm), p->fds, p->n_fds * sizeof(int));
        }
        /* One packet: the descriptors travel with exactly this request. */
        ssize_t k = sendmsg(c->fd, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (k < 0) {
            if (errno == EAGAIN || errno == EINTR)
                break;
            return -errno;
        }
        close_fds(p);
        free(p->packet);
        p->packet = NULL;
    }
    update_io_events(c);
    return 0;
}

static void fail_all(VmmConn *c, int error)
{
    Pending *p;
    while ((p = c->pending)) {
        c->pending = p->next;
        p->cb(error, NULL, NULL, NULL, p->userdata);
        pending_free(p);
    }
}

static void conn_close(VmmConn *c)
{
    if (c->closed)
        return;
    c->closed = true;
    c->io = sd_event_source_disable_unref(c->io);
    fail_all(c, -ECONNRESET);
    if (c->on_closed)
        c->on_closed(c->userdata);
}

static void handle_reply(VmmConn *c, json_object *msg)
{
    json_object *id = NULL, *result = NULL, *err = NULL;
    json_object_object_get_ex(msg, "id", &id);
    if (!id || !json_object_is_type(id, json_type_int)) {
        log_debug("VMM reply without a numeric id, ignored");
        return;
    }
    uint64_t want = (uint64_t)json_object_get_int64(id);
    Pending *p = c->pending;
    while (p && p->id != want)
        p = p->next;
    if (!p) {
        log_debug("VMM reply to unknown request %" PRIu64 " (timed out?), ignored", want);
        return;
    }
    pending_unlink(c, p);
    if (json_object_object_get_ex(msg, "error", &err) && json_object_is_type(err, json_type_object)) {
        json_object *code = NULL, *message = NULL;
        json_object_object_get_ex(err, "code", &code);
        json_object_object_get_ex(err, "message", &message);
        p->cb(-EREMOTEIO, code ? json_object_get_string(code) : "Failed",
              message ? json_object_get_string(message) : "the VMM reported an error", NULL, p->userdata);
    } else {
        json_object_object_get_ex(msg, "result", &result);
        p->cb(0, NULL, NULL, result, p->userdata);
    }
    pending_free(p);
}

/* Logged at the 1st, 2nd, 4th, 8th... only: a VMM sending junk in a loop
 * must not flood vmmd's log (the journal) through it. */
static void bad_packet(VmmConn *c, const char *what)
{
    c->n_bad++;
    if ((c->n_bad & (c->n_bad - 1)) == 0)
        log_warning("%s from a VMM dropped (%u so far on this connection)", what, c->n_bad);
}

static void handle_packet(VmmConn *c, const char *buf, size_t len)
{
    json_tokener *tok = json_tokener_new();
    if (!tok)
        return;
    json_object *msg = json_tokener_parse_ex(tok, buf, (int)len);
    bool complete = json_tokener_get_error(tok) == json_tokener_success;
    json_tokener_free(tok);
    if (!msg || !complete || !json_object_is_type(msg, json_type_object)) {
        bad_packet(c, "a malformed message");
        json_object_put(msg);
        return;
    }
    if (c->kind == VMM_CONN_EVENT_SINK) {
        if (c->on_event)
            c->on_event(msg, c->userdata);
    } else {
        json_object *ev = NULL;
        if (json_object_object_get_ex(msg, "event", &ev)) {
            if (c->on_event && json_object_is_type(ev, json_type_object))
                c->on_event(ev, c->userdata);
        } else {
            handle_reply(c, msg);
        }
    }
    json_object_put(msg);
}

/* Returns 1 when a packet was handled, 0 when none is waiting, <0 when the
 * connection is gone. */
static int read_one(VmmConn *c)
{
    static char buf[VMM_MAX_MESSAGE + 1];
    ssize_t k = recv(c->fd, buf, sizeof(buf), MSG_DONTWAIT | MSG_TRUNC);
    if (k < 0) {
        if (errno == EAGAIN || errno == EINTR)
            return 0;
        return -errno;
    }
    if (k == 0) {
        /* An empty packet reads like the end of the connection: only a
         * hang-up ends it, or a VMM could cut vmmd's channel and keep
         * running. */
        struct pollfd p = {.fd = c->fd, .events = POLLRDHUP};
        if (poll(&p, 1, 0) != 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR)))
            return -ECONNRESET;
        bad_packet(c, "an empty message");
        return 1;
    }
    if ((size_t)k > VMM_MAX_MESSAGE) {
        bad_packet(c, "an oversized message (over 64 KiB)");
        return 1;
    }
    handle_packet(c, buf, (size_t)k);
    return 1;
}

static void maybe_free(VmmConn *c);

static int on_io(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
    VmmConn *c = userdata;
    (void)s;
    (void)fd;
    int r = 0;

    c->dispatching = true;
    if (revents & EPOLLOUT)
        r = flush_output(c);
    /* Bounded, so one chatty VMM cannot starve the others on the loop. */
    for (int i = 0; r >= 0 && i < 64 && !c->closed && !c->free_requested; i++) {
        r = read_one(c);
        if (r == 0)
            break;
    }
    if (r < 0 || ((revents & (EPOLLHUP | EPOLLERR)) && !(revents & EPOLLIN)))
        conn_close(c);
    c->dispatching = false;
    maybe_free(c);
    return 0;
}

void vmm_conn_drain(VmmConn *c)
{
    if (!c || c->closed)
        return;
    c->dispatching = true;
    int r;
    while (!c->closed && !c->free_requested && (r = read_one(c)) > 0)
        ;
    c->dispatching = false;
    maybe_free(c);
}

int vmm_conn_new(sd_event *event, int fd, VmmConnKind kind, vmm_event_fn on_event, vmm_closed_fn on_closed,
                 void *userdata, VmmConn **ret)
{
    VmmConn *c = calloc(1, sizeof(*c));
    if (!c) {
        close(fd);
        return -ENOMEM;
    }
    c->event = sd_event_ref(event);
    c->fd = fd;
    c->kind = kind;
    c->on_event = on_event;
    c->on_closed = on_closed;
    c->userdata = userdata;
    c->next_id = 1;
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) {
        int r = -errno;
        vmm_conn_free(c);
        return r;
    }
    int r = sd_event_add_io(event, &c->io, fd, EPOLLIN, on_io, c);
    if (r < 0) {
        vmm_conn_free(c);
        return r;
    }
    *ret = c;
    return 0;
}

static void conn_destroy(VmmConn *c)
{
    c->io = sd_event_source_disable_unref(c->io);
    c->closed = true;
    /* The callbacks below may call vmm_conn_free() again: keep it deferred. */
    c->dispatching = true;
    fail_all(c, -ECONNRESET);
    if (c->fd >= 0)
        close(c->fd);
    sd_event_unref(c->event);
    free(c);
}

static void maybe_free(VmmConn *c)
{
    if (c->free_requested && !c->dispatching)
        conn_destroy(c);
}

void vmm_conn_free(VmmConn *c)
{
    if (!c)
        return;
    /* Callbacks must not run into a half-freed object: when called from
     * inside one of ours, finish the dispatch first. Callers treat the
     * connection as gone either way. */
    c->on_event = NULL;
    c->on_closed = NULL;
    c->free_requested = true;
    maybe_free(c);
}

static int on_timeout(sd_event_source *s, uint64_t usec, void *userdata)
{
    Pending *p = userdata;
    VmmConn *c = p->conn;
    (void)s;
    (void)usec;
    pending_unlink(c, p);
    c->dispatching = true;
    p->cb(-ETIMEDOUT, NULL, NULL, NULL, p->userdata);
    pending_free(p);
    c->dispatching = false;
    if (!c->free_requested)
        update_io_events(c);
    maybe_free(c);
    return 0;
}

int vmm_conn_call(VmmConn *c, const char *action, json_object *args, uint64_t timeout_usec, vmm_reply_fn cb,
                  void *userdata)
{
    return vmm_conn_call_fds(c, action, args, NULL, 0, timeout_usec, cb, userdata);
}

static int close_all(int *fds, size_t n_fds, int r)
{
    for (size_t i = 0; i < n_fds; i++)
        close(fds[i]);
    return r;
}

int vmm_conn_call_fds(VmmConn *c, const char *action, json_object *args, int *fds, size_t n_fds,
                      uint64_t timeout_usec, vmm_reply_fn cb, void *userdata)
{
    if (n_fds > VMM_CONN_MAX_FDS)
        return close_all(fds, n_fds, -E2BIG);
    if (c->closed || c->free_requested || c->kind != VMM_CONN_API)
        return close_all(fds, n_fds, -ENOTCONN);
    size_t n = 0;
    for (Pending *p = c->pending; p; p = p->next)
        n++;
    if (n >= VMM_CONN_MAX_PENDING)
        return close_all(fds, n_fds, -EBUSY);

    _cleanup_json_ json_object *req = json_object_new_object();
    if (!req)
        return close_all(fds, n_fds, -ENOMEM);
    uint64_t id = c->next_id++;
    json_object_object_add(req, "id", json_object_new_uint64(id));
    json_object_object_add(req, "action", json_object_new_string(action));
    if (args)
        json_object_object_add(req, "args", json_object_get(args));

    Pending *p = calloc(1, sizeof(*p));
    if (!p)
        return close_all(fds, n_fds, -ENOMEM);
    if (n_fds)
        memcpy(p->fds, fds, n_fds * sizeof(int));
    p->n_fds = n_fds;
    p->conn = c;
    p->id = id;
    p->cb = cb;
    p->userdata = userdata;
    p->packet = strdup(json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN));
    if (!p->packet) {
        pending_free(p);
        return -ENOMEM;
    }
    p->packet_len = strlen(p->packet);
    int r = sd_event_add_time_relative(c->event, &p->timer, CLOCK_MONOTONIC, timeout_usec, 0, on_timeout, p);
    if (r < 0) {
        pending_free(p);
        return r;
    }
    Pending **tail = &c->pending;
    while (*tail)
        tail = &(*tail)->next;
    *tail = p;
    /* Sending from the loop keeps "the callback never runs inside call()"
     * true even when the socket fails right away. */
    update_io_events(c);
    return 0;
}

const char *vmm_api_code_to_bus_error(const char *code)
{
    if (!code)
        return VMM_ERROR_VMM_FAILED;
    if (strcmp(code, "InvalidState") == 0)
        return VMM_ERROR_INVALID_STATE;
    if (strcmp(code, "NotSupported") == 0 || strcmp(code, "UnknownAction") == 0)
        return VMM_ERROR_NOT_SUPPORTED;
    return VMM_ERROR_VMM_FAILED;
}
