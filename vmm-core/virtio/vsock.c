/* SPDX-License-Identifier: Apache-2.0 */
#include "vsock.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "unix_socket.h"

#define RX_CHUNK        65536 /* stream bytes per receive packet, at most */
#define FIRST_HOST_PORT (1u << 30)

typedef enum ConnState {
    CONN_LINE,        /* host client connected, "CONNECT <port>\n" not read yet */
    CONN_REQUESTED,   /* REQUEST sent to the guest, waiting for RESPONSE */
    CONN_ESTABLISHED, /* data flows */
} ConnState;

typedef struct Conn {
    struct Conn *next;
    int fd;
    ConnState state;
    uint32_t host_port, guest_port;
    /* The guest's receive side, as it last told us. */
    uint32_t peer_buf_alloc, peer_fwd_cnt;
    uint32_t tx_cnt;       /* stream bytes sent to the guest */
    uint32_t rx_cnt;       /* stream bytes received from the guest */
    uint32_t fwd_cnt;      /* of those, written to the host socket */
    uint32_t reported_fwd; /* fwd_cnt the guest last heard */
    uint8_t *buf;          /* guest data the socket has not taken: ring of BUF_ALLOC */
    size_t head, len;
    bool readable;   /* the socket has data or EOF for the guest */
    bool guest_shut; /* the guest will send no more: SHUT_WR after the buffer */
    bool host_done;  /* the host end hit EOF: SHUTDOWN sent, nothing more to read */
    uint32_t events; /* epoll interest; 0: not in the set */
    char line[VIRTIO_VSOCK_CONNECT_LINE];
} Conn;

typedef struct Pending {
    uint32_t host_port, guest_port;
    uint16_t op;
    uint32_t flags;
} Pending;

struct VirtioVsock {
    uint64_t cid;
    char *path;
    int listen_fd, epfd;
    dev_t sock_dev;
    ino_t sock_ino;
    Conn *conns;
    size_t n_conns;
    uint32_t next_port;
    bool reset_due;   /* restored: the driver's connections are not ours */
    Pending *pending; /* ring of MAX_PENDING */
    size_t p_head, p_len;
    uint8_t *buf; /* RX_CHUNK + header */
    VirtioDeviceOps ops;
    VirtioPci *transport;
    VirtioVsockCounters counters;
};

static void count(uint64_t *c, uint64_t n)
{
    __atomic_fetch_add(c, n, __ATOMIC_RELAXED);
}

static void wake_rx(VirtioVsock *v)
{
    if (v->transport)
        virtio_pci_kick(v->transport, VIRTIO_VSOCK_RX);
}

/* ------------------------------------------------------- connections */

static Conn *find(VirtioVsock *v, uint32_t host_port, uint32_t guest_port)
{
    for (Conn *c = v->conns; c; c = c->next)
        if (c->state != CONN_LINE && c->host_port == host_port && c->guest_port == guest_port)
            return c;
    return NULL;
}

static bool host_port_used(VirtioVsock *v, uint32_t port)
{
    for (Conn *c = v->conns; c; c = c->next)
        if (c->state != CONN_LINE && c->host_port == port)
            return true;
    return false;
}

/* Credit the guest has left for us (5.10.6.3.1); never more than it offered. */
static uint32_t peer_credit(const Conn *c)
{
    uint32_t in_flight = c->tx_cnt - c->peer_fwd_cnt;
    return in_flight > c->peer_buf_alloc ? 0 : c->peer_buf_alloc - in_flight;
}

/* Interest follows state, so level-triggered readiness never spins: read
 * while a line is due or the guest can take data we have not seen yet,
 * write while guest data waits. A socket with nothing to wait for leaves the
 * set (a hangup would be reported again and again otherwise). */
static void update_interest(VirtioVsock *v, Conn *c)
{
    uint32_t want = 0;
    if (c->state == CONN_LINE || (c->state == CONN_ESTABLISHED && !c->readable && !c->host_done))
        want |= EPOLLIN;
    if (c->len)
        want |= EPOLLOUT;
    if (want == c->events)
        return;
    struct epoll_event ev = {.events = want, .data.ptr = c};
    int op = !c->events ? EPOLL_CTL_ADD : !want ? EPOLL_CTL_DEL : EPOLL_CTL_MOD;
    if (epoll_ctl(v->epfd, op, c->fd, &ev) == 0)
        c->events = want;
}

static void conn_close(VirtioVsock *v, Conn *c)
{
    for (Conn **p = &v->conns; *p; p = &(*p)->next)
        if (*p == c) {
            *p = c->next;
            break;
        }
    if (c->events)
        epoll_ctl(v->epfd, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    free(c->buf);
    free(c);
    v->n_conns--;
}

static Conn *conn_new(VirtioVsock *v, int fd, ConnState state)
{
    Conn *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->fd = fd;
    c->state = state;
    c->next = v->conns;
    v->conns = c;
    v->n_conns++;
    return c;
}

static void queue_packet(VirtioVsock *v, uint32_t host_port, uint32_t guest_port, uint16_t op, uint32_t flags)
{
    if (v->p_len == VIRTIO_VSOCK_MAX_PENDING) {
        /* A guest that sends garbage faster than it reads the answers. */
        count(&v->counters.pending_dropped, 1);
        return;
    }
    v->pending[(v->p_head + v->p_len) % VIRTIO_VSOCK_MAX_PENDING] =
        (Pending){.host_port = host_port, .guest_port = guest_port, .op = op, .flags = flags};
    v->p_len++;
    wake_rx(v);
}

static void send_rst(VirtioVsock *v, uint32_t host_port, uint32_t guest_port)
{
    count(&v->counters.rst_sent, 1);
    queue_packet(v, host_port, guest_port, VIRTIO_VSOCK_OP_RST, 0);
}

/* Closes our side and tells the guest. */
static void conn_reset(VirtioVsock *v, Conn *c)
{
    if (c->state != CONN_LINE)
        send_rst(v, c->host_port, c->guest_port);
    conn_close(v, c);
}

/* Writes buffered guest data to the socket. False when the socket failed. */
static bool flush(VirtioVsock *v, Conn *c)
{
    while (c->len) {
        size_t chunk = VIRTIO_VSOCK_BUF_ALLOC - c->head;
        if (chunk > c->len)
            chunk = c->len;
        ssize_t n = send(c->fd, c->buf + c->head, chunk, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        if (n <= 0)
            return false;
        c->head = (c->head + (size_t)n) % VIRTIO_VSOCK_BUF_ALLOC;
        c->len -= (size_t)n;
        c->fwd_cnt += (uint32_t)n;
    }
    if (!c->len)
        c->head = 0;
    if (!c->len && c->guest_shut)
        shutdown(c->fd, SHUT_WR);
    /* Tell the guest about freed space before it could run dry. */
    if (c->fwd_cnt - c->reported_fwd >= VIRTIO_VSOCK_BUF_ALLOC / 4 ||
        (!c->len && c->fwd_cnt != c->reported_fwd &&
         c->rx_cnt - c->reported_fwd >= VIRTIO_VSOCK_BUF_ALLOC / 2))
        queue_packet(v, c->host_port, c->guest_port, VIRTIO_VSOCK_OP_CREDIT_UPDATE, 0);
    return true;
}

/* ------------------------------------------------------------ host side */

static void accept_clients(VirtioVsock *v)
{
    for (;;) {
        int fd = accept4(v->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return;
        Conn *c = v->n_conns < VIRTIO_VSOCK_MAX_CONNS ? conn_new(v, fd, CONN_LINE) : NULL;
        if (!c) {
            count(&v->counters.conns_refused, 1);
            close(fd);
            continue;
        }
        update_interest(v, c);
    }
}

/* "CONNECT <port>\n": decimal, no sign, no spaces beyond the one, fits u32. */
static bool parse_connect(const char *line, uint32_t *port)
{
    if (strncmp(line, "CONNECT ", 8) != 0)
        return false;
    const char *p = line + 8;
    uint64_t n = 0;
    if (*p < '0' || *p > '9')
        return false;
    for (; *p >= '0' && *p <= '9'; p++) {
        n = n * 10 + (uint64_t)(*p - '0');
        if (n > UINT32_MAX)
            return false;
    }
    if (*p != '\0')
        return false;
    *port = (uint32_t)n;
    return true;
}

static void read_connect_line(VirtioVsock *v, Conn *c)
{
    /* Peek first: bytes after the newline are stream data for the guest
     * and must stay in the socket. */
    char buf[VIRTIO_VSOCK_CONNECT_LINE];
    ssize_t n = recv(c->fd, buf, sizeof(buf), MSG_PEEK | MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    char *nl = n > 0 ? memchr(buf, '\n', (size_t)n) : NULL;
    if (!nl) {
        if (n <= 0 || (size_t)n == sizeof(buf)) {
            count(&v->counters.conns_refused, 1);
            conn_close(v, c);
        }
        return; /* a partial line: wait for the rest */
    }
    size_t len = (size_t)(nl - buf) + 1;
    if (recv(c->fd, buf, len, MSG_DONTWAIT) != (ssize_t)len) {
        conn_close(v, c);
        return;
    }
    buf[len - 1] = '\0';
    uint32_t port;
    if (!parse_connect(buf, &port)) {
        count(&v->counters.conns_refused, 1);
        conn_close(v, c);
        return;
    }
    uint32_t hp = v->next_port;
    for (unsigned tries = 0; host_port_used(v, hp) && tries < VIRTIO_VSOCK_MAX_CONNS + 1; tries++)
        hp = hp + 1 < FIRST_HOST_PORT ? FIRST_HOST_PORT : hp + 1;
    v->next_port = hp + 1 < FIRST_HOST_PORT ? FIRST_HOST_PORT : hp + 1;
    c->host_port = hp;
    c->guest_port = port;
    c->state = CONN_REQUESTED;
    update_interest(v, c);
    queue_packet(v, hp, port, VIRTIO_VSOCK_OP_REQUEST, 0);
}

void virtio_vsock_host_event(VirtioVsock *v)
{
    struct epoll_event ev[32];
    int n = epoll_wait(v->epfd, ev, 32, 0);
    for (int i = 0; i < n; i++) {
        Conn *c = ev[i].data.ptr;
        if (!c) {
            accept_clients(v);
            continue;
        }
        /* A connection closed earlier in this batch is not in ev twice:
         * each fd has one entry, and only its own event closes it. */
        if (c->state == CONN_LINE) {
            read_connect_line(v, c);
            continue;
        }
        if ((ev[i].events & EPOLLOUT) && !flush(v, c)) {
            conn_reset(v, c);
            continue;
        }
        if ((ev[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) && !c->host_done) {
            c->readable = true;
            wake_rx(v);
        }
        update_interest(v, c);
    }
}

static void host_event(void *dev)
{
    virtio_vsock_host_event(dev);
}

/* --------------------------------------------------------- to the guest */

static uint32_t put_packet(VirtioVsock *v, const Virtqueue *vq, const VirtqChain *ch, Conn *c,
                           uint32_t host_port, uint32_t guest_port, uint16_t op, uint32_t flags, uint32_t len)
{
    VirtioVsockHdr h = {
        .src_cid = VIRTIO_VSOCK_HOST_CID,
        .dst_cid = v->cid,
        .src_port = host_port,
        .dst_port = guest_port,
        .len = len,
        .type = VIRTIO_VSOCK_TYPE_STREAM,
        .op = op,
        .flags = flags,
        .buf_alloc = c ? VIRTIO_VSOCK_BUF_ALLOC : 0,
        .fwd_cnt = c ? c->fwd_cnt : 0,
    };
    if (c)
        c->reported_fwd = c->fwd_cnt;
    memcpy(v->buf, &h, sizeof(h));
    if (virtq_chain_write(vq, ch, 0, v->buf, VIRTIO_VSOCK_HDR_LEN + (uint64_t)len) !=
        (int64_t)(VIRTIO_VSOCK_HDR_LEN + len))
        return 0;
    count(&v->counters.rx_packets, 1);
    count(&v->counters.rx_bytes, len);
    return VIRTIO_VSOCK_HDR_LEN + len;
}

/* Sockets take turns: the one just served goes last. */
static void rotate_to_tail(VirtioVsock *v, Conn *c)
{
    if (!c->next)
        return;
    Conn **p = &v->conns;
    while (*p != c)
        p = &(*p)->next;
    *p = c->next;
    while (*p)
        p = &(*p)->next;
    *p = c;
    c->next = NULL;
}

/* Data (or the end of it) from one host socket; 0 when none had any. */
static uint32_t receive_data(VirtioVsock *v, const Virtqueue *vq, const VirtqChain *ch)
{
    for (Conn *c = v->conns, *next; c; c = next) {
        next = c->next;
        if (c->state != CONN_ESTABLISHED || !c->readable)
            continue;
        uint32_t credit = peer_credit(c);
        if (credit == 0)
            continue; /* until the guest's CREDIT_UPDATE */
        uint64_t room = ch->writable_len - VIRTIO_VSOCK_HDR_LEN;
        size_t want = credit;
        if (want > room)
            want = (size_t)room;
        if (want > RX_CHUNK)
            want = RX_CHUNK;
        if (want == 0)
            return 0;
        ssize_t n = recv(c->fd, v->buf + VIRTIO_VSOCK_HDR_LEN, want, MSG_DONTWAIT);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
            c->readable = false;
            update_interest(v, c);
            continue;
        }
        if (n <= 0) {
            /* The host closed (or broke) its end: the guest finishes with
             * RST (5.10.6.6), which closes ours. */
            c->readable = false;
            c->host_done = true;
            uint32_t r = put_packet(v, vq, ch, c, c->host_port, c->guest_port, VIRTIO_VSOCK_OP_SHUTDOWN,
                                    VIRTIO_VSOCK_SHUTDOWN_RCV | VIRTIO_VSOCK_SHUTDOWN_SEND, 0);
            update_interest(v, c);
            return r;
        }
        c->tx_cnt += (uint32_t)n;
        uint32_t r =
            put_packet(v, vq, ch, c, c->host_port, c->guest_port, VIRTIO_VSOCK_OP_RW, 0, (uint32_t)n);
        rotate_to_tail(v, c);
        return r;
    }
    return 0;
}

static uint32_t receive(VirtioVsock *v, const Virtqueue *vq, const VirtqChain *ch)
{
    if (ch->writable_len < VIRTIO_VSOCK_HDR_LEN || ch->readable_len) {
        count(&v->counters.request_errors, 1);
        return 0;
    }
    while (v->p_len) {
        Pending p = v->pending[v->p_head];
        v->p_head = (v->p_head + 1) % VIRTIO_VSOCK_MAX_PENDING;
        v->p_len--;
        Conn *c = find(v, p.host_port, p.guest_port);
        /* A REQUEST whose client left meanwhile is not worth sending. */
        if (p.op == VIRTIO_VSOCK_OP_REQUEST && (!c || c->state != CONN_REQUESTED))
            continue;
        return put_packet(v, vq, ch, c, p.host_port, p.guest_port, p.op, p.flags, 0);
    }
    uint32_t r = receive_data(v, vq, ch);
    return r ? r : VIRTIO_CHAIN_DEFER;
}

/* ------------------------------------------------------- from the guest */

static void guest_connect(VirtioVsock *v, const VirtioVsockHdr *h)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int len = snprintf(sa.sun_path, sizeof(sa.sun_path), "%s_%u", v->path, h->dst_port);
    int fd = -1;
    if (len > 0 && (size_t)len < sizeof(sa.sun_path) && v->n_conns < VIRTIO_VSOCK_MAX_CONNS)
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        close(fd);
        fd = -1;
    }
    Conn *c = fd >= 0 ? conn_new(v, fd, CONN_ESTABLISHED) : NULL;
    if (!c) {
        if (fd >= 0)
            close(fd);
        count(&v->counters.conns_refused, 1);
        send_rst(v, h->dst_port, h->src_port);
        return;
    }
    c->host_port = h->dst_port;
    c->guest_port = h->src_port;
    c->peer_buf_alloc = h->buf_alloc;
    c->peer_fwd_cnt = h->fwd_cnt;
    count(&v->counters.conns_from_guest, 1);
    update_interest(v, c);
    queue_packet(v, c->host_port, c->guest_port, VIRTIO_VSOCK_OP_RESPONSE, 0);
}

/* Stream data from the guest: straight to the socket, the rest buffered
 * within the credit we gave. False: the guest overran it. */
static bool guest_data(VirtioVsock *v, Conn *c, const Virtqueue *vq, const VirtqChain *ch, uint32_t len)
{
    if (len > VIRTIO_VSOCK_BUF_ALLOC - c->len)
        return false;
    if (!c->buf && !(c->buf = malloc(VIRTIO_VSOCK_BUF_ALLOC)))
        return false;
    uint32_t done = 0;
    while (done < len) {
        size_t tail = (c->head + c->len) % VIRTIO_VSOCK_BUF_ALLOC;
        size_t n = VIRTIO_VSOCK_BUF_ALLOC - tail;
        if (n > len - done)
            n = len - done;
        if (virtq_chain_read(vq, ch, VIRTIO_VSOCK_HDR_LEN + (uint64_t)done, c->buf + tail, n) != (int64_t)n)
            return false;
        c->len += n;
        done += (uint32_t)n;
    }
    c->rx_cnt += len;
    count(&v->counters.tx_bytes, len);
    return flush(v, c);
}

static uint32_t transmit(VirtioVsock *v, const Virtqueue *vq, const VirtqChain *ch)
{
    VirtioVsockHdr h;
    if (ch->writable_len || ch->readable_len < VIRTIO_VSOCK_HDR_LEN ||
        virtq_chain_read(vq, ch, 0, &h, sizeof(h)) != (int64_t)sizeof(h)) {
        count(&v->counters.request_errors, 1);
        return 0;
    }
    count(&v->counters.tx_packets, 1);
    /* Misaddressed packets are dropped: answering would be talking for
     * someone else. */
    if (h.src_cid != v->cid || h.dst_cid != VIRTIO_VSOCK_HOST_CID) {
        count(&v->counters.request_errors, 1);
        return 0;
    }
    Conn *c = find(v, h.dst_port, h.src_port);
    bool bad = h.type != VIRTIO_VSOCK_TYPE_STREAM || h.len != ch->readable_len - VIRTIO_VSOCK_HDR_LEN ||
               (h.len && h.op != VIRTIO_VSOCK_OP_RW);
    if (bad) {
        count(&v->counters.request_errors, 1);
        if (h.op == VIRTIO_VSOCK_OP_RST)
            return 0;
        if (c)
            conn_reset(v, c);
        else
            send_rst(v, h.dst_port, h.src_port);
        return 0;
    }
    if (c) {
        c->peer_buf_alloc = h.buf_alloc;
        c->peer_fwd_cnt = h.fwd_cnt;
    }
    switch (h.op) {
    case VIRTIO_VSOCK_OP_REQUEST:
        if (c) {
            count(&v->counters.request_errors, 1);
            conn_reset(v, c);
        } else
            guest_connect(v, &h);
        break;
    case VIRTIO_VSOCK_OP_RESPONSE:
        if (c && c->state == CONN_REQUESTED) {
            char ok[32];
            int n = snprintf(ok, sizeof(ok), "OK %u\n", c->host_port);
            if (send(c->fd, ok, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL) != n) {
                conn_reset(v, c);
                break;
            }
            c->state = CONN_ESTABLISHED;
            count(&v->counters.conns_from_host, 1);
            update_interest(v, c);
        } else {
            count(&v->counters.request_errors, 1);
            if (c)
                conn_reset(v, c);
            else
                send_rst(v, h.dst_port, h.src_port);
        }
        break;
    case VIRTIO_VSOCK_OP_RW:
        if (!c || c->state != CONN_ESTABLISHED || c->guest_shut) {
            count(&v->counters.request_errors, 1);
            if (c)
                conn_reset(v, c);
            else
                send_rst(v, h.dst_port, h.src_port);
        } else if (!guest_data(v, c, vq, ch, h.len)) {
            count(&v->counters.request_errors, 1);
            conn_reset(v, c);
        } else
            update_interest(v, c);
        break;
    case VIRTIO_VSOCK_OP_CREDIT_UPDATE:
        if (!c)
            send_rst(v, h.dst_port, h.src_port);
        else if (c->readable && peer_credit(c))
            wake_rx(v);
        break;
    case VIRTIO_VSOCK_OP_CREDIT_REQUEST:
        if (c)
            queue_packet(v, c->host_port, c->guest_port, VIRTIO_VSOCK_OP_CREDIT_UPDATE, 0);
        else
            send_rst(v, h.dst_port, h.src_port);
        break;
    case VIRTIO_VSOCK_OP_SHUTDOWN:
        if (!c) {
            send_rst(v, h.dst_port, h.src_port);
        } else if ((h.flags & (VIRTIO_VSOCK_SHUTDOWN_RCV | VIRTIO_VSOCK_SHUTDOWN_SEND)) ==
                   (VIRTIO_VSOCK_SHUTDOWN_RCV | VIRTIO_VSOCK_SHUTDOWN_SEND)) {
            /* Both directions: what the socket takes now goes, then RST. */
            flush(v, c);
            conn_reset(v, c);
        } else if (h.flags & VIRTIO_VSOCK_SHUTDOWN_SEND) {
            c->guest_shut = true;
            if (!c->len)
                shutdown(c->fd, SHUT_WR);
        }
        break;
    case VIRTIO_VSOCK_OP_RST:
        if (c)
            conn_close(v, c);
        break;
    default:
        count(&v->counters.request_errors, 1);
        if (c)
            conn_reset(v, c);
        else
            send_rst(v, h.dst_port, h.src_port);
    }
    return 0;
}

/* --------------------------------------------------------- event queue */

/* The event queue's only use: after a restore, one TRANSPORT_RESET. Until
 * then its chains stay published. */
static uint32_t transport_event(VirtioVsock *v, const Virtqueue *vq, const VirtqChain *ch)
{
    if (!v->reset_due)
        return VIRTIO_CHAIN_DEFER;
    /* A chain that cannot hold the event is used empty; the next one gets it. */
    uint32_t id = VIRTIO_VSOCK_EVENT_TRANSPORT_RESET; /* le32: x86 is little-endian */
    if (ch->readable_len || ch->writable_len < VIRTIO_VSOCK_EVENT_LEN ||
        virtq_chain_write(vq, ch, 0, &id, VIRTIO_VSOCK_EVENT_LEN) != VIRTIO_VSOCK_EVENT_LEN) {
        count(&v->counters.request_errors, 1);
        return 0;
    }
    v->reset_due = false;
    count(&v->counters.transport_resets, 1);
    return VIRTIO_VSOCK_EVENT_LEN;
}

uint32_t virtio_vsock_handle_request(VirtioVsock *v, uint16_t q, const Virtqueue *vq, const VirtqChain *c)
{
    switch (q) {
    case VIRTIO_VSOCK_RX:
        return receive(v, vq, c);
    case VIRTIO_VSOCK_TX:
        return transmit(v, vq, c);
    case VIRTIO_VSOCK_EVT:
        return transport_event(v, vq, c);
    default:
        count(&v->counters.request_errors, 1);
        return 0;
    }
}

static uint32_t vsock_handle(void *dev, uint16_t q, const Virtqueue *vq, const VirtqChain *c)
{
    return virtio_vsock_handle_request(dev, q, vq, c);
}

void virtio_vsock_reset(VirtioVsock *v)
{
    /* The guest forgot every connection; host clients see theirs close. */
    while (v->conns)
        conn_close(v, v->conns);
    v->p_head = v->p_len = 0;
    v->reset_due = false; /* a driver that starts over has no connections */
}

static void vsock_reset(void *dev)
{
    virtio_vsock_reset(dev);
}

void virtio_vsock_restored(VirtioVsock *v)
{
    v->reset_due = true;
}

static void vsock_restored(void *dev)
{
    virtio_vsock_restored(dev);
}

static void vsock_config_read(void *dev, uint32_t offset, uint8_t *data, uint32_t len)
{
    VirtioVsock *v = dev;
    uint8_t cfg[8];
    for (int i = 0; i < 8; i++)
        cfg[i] = (uint8_t)(v->cid >> (8 * i));
    if (offset < sizeof(cfg))
        memcpy(data, cfg + offset, len <= sizeof(cfg) - offset ? len : sizeof(cfg) - offset);
}

/* ----------------------------------------------------------- lifetime */

VirtioVsock *virtio_vsock_new(const VsockConfig *cfg, const char *id, const VirtioPciConfig *transport,
                              char *errbuf, size_t errlen)
{
    VirtioVsock *v = calloc(1, sizeof(*v));
    if (!v) {
        snprintf(errbuf, errlen, "%s: out of memory", id);
        return NULL;
    }
    v->listen_fd = v->epfd = -1;
    v->cid = cfg->cid;
    v->next_port = FIRST_HOST_PORT;
    v->path = cfg->socket ? strdup(cfg->socket) : NULL;
    v->pending = calloc(VIRTIO_VSOCK_MAX_PENDING, sizeof(*v->pending));
    v->buf = malloc(VIRTIO_VSOCK_HDR_LEN + RX_CHUNK);
    if (!v->path || !v->pending || !v->buf) {
        snprintf(errbuf, errlen, "%s: %s", id, cfg->socket ? "out of memory" : "--vsock needs socket=");
        virtio_vsock_free(v);
        return NULL;
    }
    v->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (v->epfd < 0) {
        snprintf(errbuf, errlen, "%s: epoll: %s", id, strerror(errno));
        virtio_vsock_free(v);
        return NULL;
    }
    v->listen_fd = unix_socket_listen(v->path, 64, &v->sock_dev, &v->sock_ino);
    if (v->listen_fd < 0) {
        snprintf(errbuf, errlen, "%s: cannot listen on --vsock socket=%s: %s", id, v->path,
                 strerror(-v->listen_fd));
        v->listen_fd = -1;
        virtio_vsock_free(v);
        return NULL;
    }
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
    epoll_ctl(v->epfd, EPOLL_CTL_ADD, v->listen_fd, &ev);
    v->ops = (VirtioDeviceOps){
        .type = VIRTIO_ID_VSOCK,
        .pci_class = 0xff0000,
        .config_size = 8,
        .config_read = vsock_config_read,
        .handle = vsock_handle,
        .reset = vsock_reset,
        .restored = vsock_restored,
        .host_event = host_event,
    };
    if (transport) {
        VirtioPciConfig tc = *transport;
        tc.id = id;
        tc.num_queues = 3;
        tc.queue_size = 256;
        v->transport = virtio_pci_new(&v->ops, v, &tc, errbuf, errlen);
        int r = v->transport ? virtio_pci_watch_host(v->transport, v->epfd) : 0;
        if (!v->transport || r < 0) {
            if (r < 0)
                snprintf(errbuf, errlen, "%s: epoll: %s", id, strerror(-r));
            virtio_vsock_free(v);
            return NULL;
        }
    }
    return v;
}

int virtio_vsock_attach(VirtioVsock *v, PciBus *bus, char *errbuf, size_t errlen)
{
    return virtio_pci_attach(v->transport, bus, errbuf, errlen);
}

void virtio_vsock_free(VirtioVsock *v)
{
    if (!v)
        return;
    virtio_pci_free(v->transport); /* no handler or host event after this */
    while (v->conns)
        conn_close(v, v->conns);
    if (v->listen_fd >= 0) {
        close(v->listen_fd);
        unix_socket_unlink_if_ours(v->path, v->sock_dev, v->sock_ino);
    }
    if (v->epfd >= 0)
        close(v->epfd);
    free(v->path);
    free(v->pending);
    free(v->buf);
    free(v);
}

VirtioPci *virtio_vsock_transport(VirtioVsock *v)
{
    return v->transport;
}

void virtio_vsock_get_counters(const VirtioVsock *v, VirtioVsockCounters *out)
{
    const uint64_t *src = (const uint64_t *)&v->counters;
    uint64_t *dst = (uint64_t *)out;
    for (size_t i = 0; i < sizeof(*out) / sizeof(uint64_t); i++)
        dst[i] = __atomic_load_n(&src[i], __ATOMIC_RELAXED);
}
