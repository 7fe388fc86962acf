/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Threads: reads, parsing, dispatch and connection teardown happen on the
 * event loop's thread; the event monitor's writer thread pushes events into
 * subscribed connections. Each connection's output queue (and the list of
 * connections) is guarded by the server's mutex, and every send is
 * non-blocking, so neither thread ever waits on a client. The writer thread
 * never closes a connection: it shuts the socket down, which wakes the loop
 * thread, and the loop thread frees it.
 *
 * Lock order: server lock, then the event loop's (event_loop_modify). The
 * monitor calls us with its subscriber lock held, so the server lock is never
 * held while calling into the monitor.
 */
#include "api_server.h"

#include "api_request.h"
#include "errbuf.h"
#include "unix_socket.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define SERIALIZE_FLAGS (JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)

typedef struct OutMsg {
    struct OutMsg *next;
    size_t len;
    size_t off; /* bytes already sent (stream only) */
    char data[];
} OutMsg;

typedef struct ApiConn {
    struct ApiServer *server;
    int fd;
    bool packet; /* SOCK_SEQPACKET: one message per packet, no newline */

    /* Loop thread only. */
    char *in; /* API_MAX_MESSAGE + 2: a message, its newline, a NUL */
    size_t in_len;
    bool discarding; /* skipping the rest of an oversized line */

    /* Under server->lock. */
    bool linked;
    bool dead; /* send failed or over API_MAX_OUTPUT: the loop closes it */
    bool read_closed;
    bool subscribed;
    uint32_t events; /* what the event loop watches for fd */
    OutMsg *out_head;
    OutMsg *out_tail;
    size_t out_bytes;
    struct ApiConn *next;
} ApiConn;

struct ApiServer {
    EventLoop *loop;
    EventMonitor *events;
    ApiDispatch dispatch;
    void *ctx;

    int listen_fd;
    bool listen_packet;
    bool listen_paused; /* out of fds: wait for a connection to close */
    char *path;         /* the socket file we created, removed on free */
    dev_t path_dev;
    ino_t path_ino;

    json_tokener *tok; /* loop thread */

    pthread_mutex_t lock;
    ApiConn *conns;
    unsigned n_conns;
};

const char *api_error_code_from_errno(int r)
{
    switch (r) {
    case -EINVAL:
        return "InvalidArgs";
    case -ENOENT:
        return "UnknownAction";
    case -EBUSY:
    case -EALREADY:
        return "InvalidState";
    case -EOPNOTSUPP:
        return "NotSupported";
    case -E2BIG:
    case -EMSGSIZE:
        return "TooLarge";
    case -EAGAIN:
        return "Busy";
    default:
        return "Failed";
    }
}

/* ------------------------------------------------------------ output */

static void out_free_all(ApiConn *c)
{
    OutMsg *m = c->out_head;
    while (m) {
        OutMsg *next = m->next;
        free(m);
        m = next;
    }
    c->out_head = c->out_tail = NULL;
    c->out_bytes = 0;
}

/* Any thread. The socket is shut down so the loop thread wakes (EPOLLHUP is
 * always reported) and closes it; closing here could race with the loop. */
static void conn_doom_locked(ApiConn *c)
{
    if (c->dead)
        return;
    c->dead = true;
    c->subscribed = false;
    out_free_all(c);
    shutdown(c->fd, SHUT_RDWR);
}

static void conn_update_events_locked(ApiConn *c)
{
    if (c->dead)
        return;
    uint32_t want = (c->read_closed ? 0 : EPOLLIN | EPOLLRDHUP) | (c->out_head ? EPOLLOUT : 0);
    if (want != c->events && event_loop_modify(c->server->loop, c->fd, want) == 0)
        c->events = want;
}

static void conn_flush_locked(ApiConn *c)
{
    while (!c->dead && c->out_head) {
        OutMsg *m = c->out_head;
        ssize_t n = send(c->fd, m->data + m->off, m->len - m->off, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                break;
            conn_doom_locked(c);
            return;
        }
        m->off += (size_t)n;
        if (m->off < m->len)
            continue;
        c->out_bytes -= m->len;
        c->out_head = m->next;
        if (!c->out_head)
            c->out_tail = NULL;
        free(m);
    }
    conn_update_events_locked(c);
}

static void conn_queue_locked(ApiConn *c, const char *data, size_t len)
{
    if (c->dead)
        return;
    size_t total = len + (c->packet ? 0 : 1);
    if (c->out_bytes + total > API_MAX_OUTPUT) {
        /* The client stopped reading; holding more would let it grow the
         * VMM's memory, and waiting would stall the VMM. */
        conn_doom_locked(c);
        return;
    }
    OutMsg *m = malloc(sizeof(*m) + total);
    if (!m) {
        conn_doom_locked(c);
        return;
    }
    memcpy(m->data, data, len);
    if (!c->packet)
        m->data[len] = '\n';
    m->len = total;
    m->off = 0;
    m->next = NULL;
    if (c->out_tail)
        c->out_tail->next = m;
    else
        c->out_head = m;
    c->out_tail = m;
    c->out_bytes += total;
    conn_flush_locked(c);
}

static json_object *error_object(const char *code, const char *message)
{
    json_object *e = json_object_new_object();
    json_object_object_add(e, "code", json_object_new_string(code));
    json_object_object_add(e, "message", json_object_new_string(message));
    return e;
}

/* Takes ownership of result; id is borrowed (NULL -> "id":null). */
static void send_reply(ApiConn *c, json_object *id, json_object *result, json_object *error,
                       bool then_subscribe, bool then_unsubscribe)
{
    ApiServer *s = c->server;
    json_object *reply = json_object_new_object();
    json_object_object_add(reply, "id", json_object_get(id));
    if (error)
        json_object_object_add(reply, "error", error);
    else
        json_object_object_add(reply, "result", result);

    size_t len = 0;
    const char *text = json_object_to_json_string_length(reply, SERIALIZE_FLAGS, &len);
    if (text && len > API_MAX_MESSAGE) {
        /* Clients size their buffers for API_MAX_MESSAGE both ways. */
        char msg[128];
        snprintf(msg, sizeof(msg), "the reply (%zu bytes) exceeds the %d-byte message limit", len,
                 API_MAX_MESSAGE);
        json_object_put(reply);
        reply = json_object_new_object();
        json_object_object_add(reply, "id", json_object_get(id));
        json_object_object_add(reply, "error", error_object("TooLarge", msg));
        text = json_object_to_json_string_length(reply, SERIALIZE_FLAGS, &len);
    }

    pthread_mutex_lock(&s->lock);
    if (text)
        conn_queue_locked(c, text, len);
    else
        conn_doom_locked(c);
    /* Under the same lock as the reply, so no event can precede the reply
     * to events.subscribe, nor follow the reply to events.unsubscribe. */
    if (then_subscribe && !c->dead)
        c->subscribed = true;
    if (then_unsubscribe)
        c->subscribed = false;
    pthread_mutex_unlock(&s->lock);
    json_object_put(reply);
}

static void send_error(ApiConn *c, json_object *id, const char *code, const char *message)
{
    send_reply(c, id, NULL, error_object(code, message), false, false);
}

/* ------------------------------------------------------------ requests */

static void run_request(ApiConn *c, const ApiRequest *req)
{
    ApiServer *s = c->server;
    if (strcmp(req->action, "events.subscribe") == 0) {
        if (!s->events)
            send_error(c, req->id, "NotSupported", "this VMM has no event monitor");
        else
            send_reply(c, req->id, NULL, NULL, true, false);
    } else if (strcmp(req->action, "events.unsubscribe") == 0) {
        send_reply(c, req->id, NULL, NULL, false, true);
    } else {
        json_object *result = NULL;
        char errbuf[512] = "";
        int r = s->dispatch(s->ctx, req->action, req->args, &result, errbuf, sizeof(errbuf));
        if (r < 0) {
            json_object_put(result);
            send_error(c, req->id, api_error_code_from_errno(r), errbuf[0] ? errbuf : strerror(-r));
        } else {
            send_reply(c, req->id, result, NULL, false, false);
        }
    }
}

/* data[len] is writable (the buffers keep a spare byte). fds are the
 * descriptors the message carried (packets only); the caller closes them
 * once this returns, so a request holds them only while it runs. */
static void handle_message(ApiConn *c, char *data, size_t len, const int *fds, size_t n_fds)
{
    ApiRequest req;
    char msg[160];
    int r;
    data[len] = '\0';
    switch (api_request_parse(c->server->tok, data, len, &req, msg, sizeof(msg))) {
    case API_PARSE_REQUEST:
        if (n_fds && (r = api_request_bind_fds(&req, fds, n_fds, msg, sizeof(msg))) < 0)
            send_error(c, req.id, r == -ENOMEM ? "Failed" : "InvalidRequest", msg);
        else
            run_request(c, &req);
        break;
    case API_PARSE_INVALID:
        send_error(c, req.id, "InvalidRequest", msg);
        break;
    case API_PARSE_BLANK:
        break;
    }
    api_request_release(&req);
}

static void send_too_large(ApiConn *c)
{
    char msg[96];
    snprintf(msg, sizeof(msg), "the message exceeds the %d-byte limit", API_MAX_MESSAGE);
    send_error(c, NULL, "TooLarge", msg);
}

/* ------------------------------------------------------------ connections */

static bool conn_dead(ApiConn *c)
{
    pthread_mutex_lock(&c->server->lock);
    bool dead = c->dead;
    pthread_mutex_unlock(&c->server->lock);
    return dead;
}

static void conn_destroy(ApiConn *c)
{
    event_loop_remove(c->server->loop, c->fd);
    close(c->fd);
    out_free_all(c);
    free(c->in);
    free(c);
}

/* Loop thread. If api_server_free already took the connection, it owns the
 * teardown and is waiting for this callback to return. */
static void conn_close(ApiConn *c)
{
    ApiServer *s = c->server;
    pthread_mutex_lock(&s->lock);
    if (!c->linked) {
        pthread_mutex_unlock(&s->lock);
        return;
    }
    for (ApiConn **p = &s->conns; *p; p = &(*p)->next) {
        if (*p == c) {
            *p = c->next;
            break;
        }
    }
    c->linked = false;
    s->n_conns--;
    bool resume = s->listen_paused;
    s->listen_paused = false;
    pthread_mutex_unlock(&s->lock);
    conn_destroy(c);
    if (resume)
        event_loop_modify(s->loop, s->listen_fd, EPOLLIN);
}

/* Peer finished sending: answer what it sent, then close once the answers
 * are out (a client may half-close after its last request). */
static bool conn_read_eof(ApiConn *c)
{
    if (!c->packet && c->in_len > 0 && !c->discarding)
        handle_message(c, c->in, c->in_len, NULL, 0);
    c->in_len = 0;
    pthread_mutex_lock(&c->server->lock);
    c->read_closed = true;
    c->subscribed = false;
    bool done = c->dead || !c->out_head;
    conn_update_events_locked(c);
    pthread_mutex_unlock(&c->server->lock);
    if (done)
        conn_close(c);
    return done;
}

/* Both readers return true when they closed (freed) the connection. */
static bool conn_read_packet(ApiConn *c)
{
    struct iovec iov = {.iov_base = c->in, .iov_len = API_MAX_MESSAGE + 1};
    /* Room for API_MAX_FDS descriptors: the kernel closes any beyond it
     * and sets MSG_CTRUNC. Other control messages (credentials) are not
     * enabled on the socket. */
    union {
        char buf[CMSG_SPACE(API_MAX_FDS * sizeof(int))];
        struct cmsghdr align;
    } control;
    struct msghdr msg = {
        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf, .msg_controllen = sizeof(control.buf)};
    /* CLOEXEC: a received descriptor must never reach a child process. */
    ssize_t n = recvmsg(c->fd, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
            return false;
        conn_close(c);
        return true;
    }
    int fds[API_MAX_FDS];
    size_t n_fds = 0;
    for (struct cmsghdr *cm = CMSG_FIRSTHDR(&msg); cm; cm = CMSG_NXTHDR(&msg, cm)) {
        if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
            continue;
        size_t k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < k; i++) {
            int fd;
            memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
            if (n_fds < API_MAX_FDS)
                fds[n_fds++] = fd;
            else
                close(fd);
        }
    }
    bool closed = false;
    if (n == 0) {
        /* A zero-length packet cannot be told from the peer closing. */
        closed = conn_read_eof(c);
    } else if ((msg.msg_flags & MSG_TRUNC) || (size_t)n > API_MAX_MESSAGE) {
        send_too_large(c);
    } else if (msg.msg_flags & MSG_CTRUNC) {
        char text[96];
        snprintf(text, sizeof(text), "a message carries at most %d file descriptors", API_MAX_FDS);
        send_error(c, NULL, "TooLarge", text);
    } else {
        handle_message(c, c->in, (size_t)n, fds, n_fds);
    }
    /* Whatever the request did with them, it worked on these numbers only
     * while it ran (a device keeps its own duplicate). */
    for (size_t i = 0; i < n_fds; i++)
        close(fds[i]);
    return closed;
}

static bool conn_read_stream(ApiConn *c)
{
    const size_t cap = API_MAX_MESSAGE + 1; /* a maximal message and its newline */
    ssize_t n = recv(c->fd, c->in + c->in_len, cap - c->in_len, MSG_DONTWAIT);
    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
            return false;
        conn_close(c);
        return true;
    }
    if (n == 0)
        return conn_read_eof(c);
    c->in_len += (size_t)n;

    size_t start = 0;
    char *nl;
    while (start < c->in_len && (nl = memchr(c->in + start, '\n', c->in_len - start))) {
        size_t len = (size_t)(nl - (c->in + start));
        if (c->discarding)
            c->discarding = false; /* the tail of an oversized line */
        else
            handle_message(c, c->in + start, len, NULL, 0);
        start += len + 1;
        if (conn_dead(c))
            return false;
    }
    if (c->discarding) {
        c->in_len = 0;
        return false;
    }
    memmove(c->in, c->in + start, c->in_len - start);
    c->in_len -= start;
    if (c->in_len == cap) {
        /* Keep the connection: skip to the next newline and go on. */
        send_too_large(c);
        c->discarding = true;
        c->in_len = 0;
    }
    return false;
}

static void on_conn(void *ctx, uint32_t events)
{
    ApiConn *c = ctx;
    ApiServer *s = c->server;

    pthread_mutex_lock(&s->lock);
    if (events & EPOLLOUT)
        conn_flush_locked(c);
    bool dead = c->dead;
    bool read_closed = c->read_closed;
    bool drained = !c->out_head;
    pthread_mutex_unlock(&s->lock);
    /* With reading over, a hangup means the answers can no longer go out. */
    if (dead || (read_closed && (drained || (events & (EPOLLHUP | EPOLLERR))))) {
        conn_close(c);
        return;
    }
    if (read_closed || !(events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)))
        return;
    /* Data a peer sent before hanging up is still read and acted on. */
    bool closed = c->packet ? conn_read_packet(c) : conn_read_stream(c);
    if (!closed && conn_dead(c))
        conn_close(c);
}

/* A reply to no request: the client is told why before it is closed. */
static void reject_connection(int fd, bool packet)
{
    char msg[160];
    int n =
        snprintf(msg, sizeof(msg),
                 "{\"id\":null,\"error\":{\"code\":\"Busy\",\"message\":\"too many API clients (%d)\"}}%s",
                 API_MAX_CLIENTS, packet ? "" : "\n");
    ssize_t w = send(fd, msg, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL);
    (void)w;
    close(fd);
}

static int conn_add(ApiServer *s, int fd, bool packet)
{
    ApiConn *c = calloc(1, sizeof(*c));
    char *in = malloc(API_MAX_MESSAGE + 2);
    if (!c || !in) {
        free(c);
        free(in);
        close(fd);
        return -ENOMEM;
    }
    c->server = s;
    c->fd = fd;
    c->packet = packet;
    c->in = in;
    c->events = EPOLLIN | EPOLLRDHUP;

    pthread_mutex_lock(&s->lock);
    c->linked = true;
    c->next = s->conns;
    s->conns = c;
    s->n_conns++;
    pthread_mutex_unlock(&s->lock);

    int r = event_loop_add(s->loop, fd, c->events, on_conn, c);
    if (r < 0) {
        pthread_mutex_lock(&s->lock);
        for (ApiConn **p = &s->conns; *p; p = &(*p)->next) {
            if (*p == c) {
                *p = c->next;
                break;
            }
        }
        s->n_conns--;
        pthread_mutex_unlock(&s->lock);
        close(fd);
        free(in);
        free(c);
    }
    return r;
}

static void on_listen(void *ctx, uint32_t events)
{
    (void)events;
    ApiServer *s = ctx;
    for (;;) {
        int fd = accept4(s->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                /* Level-triggered accept would spin; wait for a close. With
                 * nothing to close we keep retrying instead of going deaf. */
                pthread_mutex_lock(&s->lock);
                bool pause = s->n_conns > 0;
                s->listen_paused = pause;
                pthread_mutex_unlock(&s->lock);
                if (pause)
                    event_loop_modify(s->loop, s->listen_fd, 0);
            }
            return;
        }
        pthread_mutex_lock(&s->lock);
        bool full = s->n_conns >= API_MAX_CLIENTS;
        pthread_mutex_unlock(&s->lock);
        if (full)
            reject_connection(fd, s->listen_packet);
        else
            conn_add(s, fd, s->listen_packet);
    }
}

/* ------------------------------------------------------------ events */

/* The monitor's writer thread, with the monitor's subscriber lock held. */
static void on_event(void *ctx, const char *line)
{
    ApiServer *s = ctx;
    size_t line_len = strlen(line);
    static const char head[] = "{\"event\":";
    size_t len = sizeof(head) - 1 + line_len + 1;
    if (len > API_MAX_MESSAGE)
        return;
    char *msg = malloc(len + 1);
    if (!msg)
        return;
    memcpy(msg, head, sizeof(head) - 1);
    memcpy(msg + sizeof(head) - 1, line, line_len);
    msg[len - 1] = '}';
    msg[len] = '\0';

    pthread_mutex_lock(&s->lock);
    for (ApiConn *c = s->conns; c; c = c->next)
        if (c->subscribed)
            conn_queue_locked(c, msg, len);
    pthread_mutex_unlock(&s->lock);
    free(msg);
}

/* ------------------------------------------------------------ setup */

static int listen_on_path(ApiServer *s, const char *path, char *errbuf, size_t errlen)
{
    int fd = unix_socket_listen(path, API_MAX_CLIENTS, &s->path_dev, &s->path_ino);
    if (fd == -ENAMETOOLONG)
        return errbuf_errno(errbuf, errlen, ENAMETOOLONG, "socket path \"%s\" is empty or longer than %zu bytes", path,
                    sizeof(((struct sockaddr_un *)0)->sun_path) - 1);
    if (fd == -EEXIST)
        return errbuf_errno(errbuf, errlen, EEXIST, "%s exists and is not a socket; not replacing it", path);
    if (fd == -EADDRINUSE)
        return errbuf_errno(errbuf, errlen, EADDRINUSE, "%s is in use by another process", path);
    if (fd < 0)
        return errbuf_errno(errbuf, errlen, -fd, "cannot listen on %s", path);
    s->path = strdup(path);
    s->listen_fd = fd;
    s->listen_packet = false;
    return 0;
}

/* -ECANCELED: failed, and fd is already closed. */
static int adopt_fd_checked(ApiServer *s, int fd, char *errbuf, size_t errlen)
{
    int domain = 0, type = 0, accepting = 0;
    socklen_t len = sizeof(int);
    if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) < 0)
        return errbuf_errno(errbuf, errlen, errno, "fd %d", fd);
    len = sizeof(int);
    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0)
        return errbuf_errno(errbuf, errlen, errno, "fd %d", fd);
    len = sizeof(int);
    if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &accepting, &len) < 0)
        return errbuf_errno(errbuf, errlen, errno, "fd %d", fd);
    if (domain != AF_UNIX)
        return errbuf_errno(errbuf, errlen, EINVAL, "fd %d is not a unix socket", fd);
    if (type != SOCK_STREAM && type != SOCK_SEQPACKET)
        return errbuf_errno(errbuf, errlen, EINVAL, "fd %d is neither SOCK_STREAM nor SOCK_SEQPACKET", fd);
    /* The fd is ours now, so its flags are ours to set. */
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0 || fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)
        return errbuf_errno(errbuf, errlen, errno, "fd %d", fd);

    bool packet = type == SOCK_SEQPACKET;
    if (accepting) {
        s->listen_fd = fd;
        s->listen_packet = packet;
        return 0;
    }
    /* conn_add closes fd itself when it fails. */
    int r = conn_add(s, fd, packet);
    if (r < 0) {
        errbuf_errno(errbuf, errlen, -r, "cannot watch fd %d", fd);
        return -ECANCELED;
    }
    return 0;
}

/* Consumes fd, also on failure. */
static int adopt_fd(ApiServer *s, int fd, char *errbuf, size_t errlen)
{
    int r = adopt_fd_checked(s, fd, errbuf, errlen);
    if (r < 0 && r != -ECANCELED)
        close(fd);
    return r;
}

ApiServer *api_server_new(EventLoop *loop, const char *path, int fd, EventMonitor *events,
                          ApiDispatch dispatch, void *ctx, char *errbuf, size_t errlen)
{
    if (!loop || !dispatch || (path != NULL) == (fd >= 0)) {
        snprintf(errbuf, errlen, "exactly one of path or fd is required");
        if (fd >= 0)
            close(fd);
        return NULL;
    }
    ApiServer *s = calloc(1, sizeof(*s));
    if (!s) {
        snprintf(errbuf, errlen, "out of memory");
        if (fd >= 0)
            close(fd);
        return NULL;
    }
    s->loop = loop;
    s->events = events;
    s->dispatch = dispatch;
    s->ctx = ctx;
    s->listen_fd = -1;
    pthread_mutex_init(&s->lock, NULL);
    s->tok = api_request_tokener_new();
    if (!s->tok) {
        snprintf(errbuf, errlen, "out of memory");
        if (fd >= 0)
            close(fd);
        goto fail;
    }

    if (path) {
        if (listen_on_path(s, path, errbuf, errlen) < 0)
            goto fail;
    } else if (adopt_fd(s, fd, errbuf, errlen) < 0) {
        goto fail;
    }
    if (s->listen_fd >= 0) {
        int r = event_loop_add(loop, s->listen_fd, EPOLLIN, on_listen, s);
        if (r < 0) {
            errbuf_errno(errbuf, errlen, -r, "cannot watch the API socket");
            goto fail;
        }
    }
    if (events) {
        int r = event_monitor_subscribe(events, on_event, s);
        if (r < 0) {
            errbuf_errno(errbuf, errlen, -r, "cannot subscribe to events");
            goto fail;
        }
    }
    return s;

fail:
    api_server_free(s);
    return NULL;
}

void api_server_free(ApiServer *s)
{
    if (!s)
        return;
    /* First, so the writer thread no longer touches connections. */
    if (s->events)
        event_monitor_unsubscribe(s->events, on_event, s);

    if (s->listen_fd >= 0) {
        event_loop_remove(s->loop, s->listen_fd);
        close(s->listen_fd);
    }
    /* Only our own socket file: another VMM may have replaced it since. */
    unix_socket_unlink_if_ours(s->path, s->path_dev, s->path_ino);

    for (;;) {
        pthread_mutex_lock(&s->lock);
        ApiConn *c = s->conns;
        if (c) {
            s->conns = c->next;
            c->linked = false;
            s->n_conns--;
            /* Last chance for replies such as the one to vmm.shutdown. */
            conn_flush_locked(c);
        }
        pthread_mutex_unlock(&s->lock);
        if (!c)
            break;
        conn_destroy(c);
    }
    json_tokener_free(s->tok);
    pthread_mutex_destroy(&s->lock);
    free(s->path);
    free(s);
}
