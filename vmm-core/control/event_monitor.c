/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Two bounded queues keep every emitter free of I/O: emitters append
 * formatted lines to `queue` under a short mutex; the writer thread takes them
 * all at once, hands them to subscribers, then moves them to `sinkq`, which it
 * writes to the sink with non-blocking writes. A stalled sink reader therefore
 * fills `sinkq` (oldest dropped) but never delays subscribers or emitters.
 */
#include "event_monitor.h"
#include "errbuf.h"
#include "landlock.h"
#include "vmm_seccomp.h"

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define WRITE_BATCH 64

typedef struct Record {
    char *line; /* NUL-terminated, no newline */
    size_t len;
} Record;

typedef struct Ring {
    Record items[EVENT_MONITOR_QUEUE_LEN];
    size_t head;
    size_t count;
} Ring;

typedef enum SinkKind {
    SINK_FILE,          /* write(2); non-blocking unless max_write says otherwise */
    SINK_STREAM_SOCKET, /* sendmsg(MSG_DONTWAIT), the fd's own flags untouched */
    SINK_PACKET_SOCKET, /* as above, one record per message */
} SinkKind;

typedef struct Subscriber {
    EventSubscriber cb; /* NULL: unsubscribed during delivery, compacted after */
    void *ctx;
} Subscriber;

struct EventMonitor {
    struct timespec start;

    pthread_mutex_t lock; /* queue, stopping, deadline, writer_idle */
    Ring queue;
    bool stopping;
    struct timespec deadline;
    bool writer_idle; /* the writer is (about to be) asleep in poll */
    int wake_fd;
    pthread_t writer;
    bool writer_started;
    uint64_t dropped; /* __atomic */

    /* Held by the writer for a whole delivery round, so unsubscribe from
     * another thread waits out a callback in flight. */
    pthread_mutex_t sub_lock;
    Subscriber *subs;
    size_t n_subs;
    size_t cap_subs;
    bool subs_dirty;

    /* Writer thread only (after creation). */
    int sink_fd;
    SinkKind sink_kind;
    size_t max_write; /* bytes per write: SIZE_MAX, or PIPE_BUF for a blocking fd */
    char *fifo_path;  /* set when the path sink is a FIFO: reopened after EPIPE */
    Ring sinkq;
    size_t sink_off; /* bytes of sinkq's first record already written */
    bool sink_warned;
};

/* Which monitor's writer the current thread is, so subscriber callbacks can
 * (un)subscribe without taking the lock their writer already holds. */
static __thread EventMonitor *tls_writer_of;

static void add_dropped(EventMonitor *m, uint64_t n)
{
    __atomic_add_fetch(&m->dropped, n, __ATOMIC_RELAXED);
}

uint64_t event_monitor_dropped(const EventMonitor *m)
{
    return m ? __atomic_load_n(&m->dropped, __ATOMIC_RELAXED) : 0;
}

/* ------------------------------------------------------------ rings */

static Record *ring_at(Ring *r, size_t i)
{
    return &r->items[(r->head + i) % EVENT_MONITOR_QUEUE_LEN];
}

static Record ring_pop(Ring *r)
{
    Record rec = r->items[r->head];
    r->head = (r->head + 1) % EVENT_MONITOR_QUEUE_LEN;
    r->count--;
    return rec;
}

static void ring_push(Ring *r, Record rec)
{
    *ring_at(r, r->count) = rec;
    r->count++;
}

static size_t ring_clear(Ring *r)
{
    size_t n = r->count;
    while (r->count)
        free(ring_pop(r).line);
    return n;
}

/* ------------------------------------------------------------ the sink */

static void sink_warn(EventMonitor *m, const char *what, int err)
{
    if (m->sink_warned)
        return;
    m->sink_warned = true;
    fprintf(stderr, "vmm: event monitor: %s: %s; events now reach API subscribers only\n", what,
            strerror(err));
}

static void sink_close(EventMonitor *m)
{
    if (m->sink_fd >= 0)
        close(m->sink_fd);
    m->sink_fd = -1;
    add_dropped(m, ring_clear(&m->sinkq));
    m->sink_off = 0;
}

/* A FIFO whose reader went away: keep a read end ourselves so records wait
 * in the pipe for the next reader instead of failing. The half-written
 * record is lost, or the next reader would start mid-line. */
static bool sink_reopen_fifo(EventMonitor *m)
{
    int fd = open(m->fifo_path, O_RDWR | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return false;
    close(m->sink_fd);
    m->sink_fd = fd;
    if (m->sink_off > 0) {
        free(ring_pop(&m->sinkq).line);
        m->sink_off = 0;
        add_dropped(m, 1);
    }
    return true;
}

/* A write to a pipe without reader raises SIGPIPE on this thread, where all
 * signals are blocked; consume it so it never surfaces elsewhere. */
static void consume_sigpipe(void)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    struct timespec zero = {0, 0};
    while (sigtimedwait(&set, NULL, &zero) == SIGPIPE)
        ;
}

static ssize_t sink_write_once(EventMonitor *m)
{
    static char newline[] = "\n";
    struct iovec iov[2 * WRITE_BATCH];
    size_t n_iov = 0;
    size_t total = 0;
    size_t limit = m->sink_kind == SINK_PACKET_SOCKET ? 1 : WRITE_BATCH;

    for (size_t i = 0; i < m->sinkq.count && i < limit && total < m->max_write; i++) {
        Record *rec = ring_at(&m->sinkq, i);
        size_t skip = i == 0 ? m->sink_off : 0;
        if (skip < rec->len) {
            iov[n_iov].iov_base = rec->line + skip;
            iov[n_iov].iov_len = rec->len - skip;
            total += iov[n_iov++].iov_len;
            skip = 0;
        } else {
            skip -= rec->len;
        }
        iov[n_iov].iov_base = newline + skip;
        iov[n_iov].iov_len = 1 - skip;
        total += iov[n_iov++].iov_len;
    }
    /* A blocking fd after POLLOUT only takes PIPE_BUF bytes without waiting. */
    while (total > m->max_write) {
        size_t excess = total - m->max_write;
        struct iovec *last = &iov[n_iov - 1];
        if (last->iov_len > excess) {
            last->iov_len -= excess;
            total -= excess;
        } else {
            total -= last->iov_len;
            n_iov--;
        }
    }

    if (m->sink_kind == SINK_FILE)
        return writev(m->sink_fd, iov, (int)n_iov);
    struct msghdr msg = {.msg_iov = iov, .msg_iovlen = n_iov};
    return sendmsg(m->sink_fd, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
}

static void sink_advance(EventMonitor *m, size_t written)
{
    while (written > 0 && m->sinkq.count > 0) {
        Record *rec = ring_at(&m->sinkq, 0);
        size_t left = rec->len + 1 - m->sink_off;
        if (written < left) {
            m->sink_off += written;
            return;
        }
        written -= left;
        free(ring_pop(&m->sinkq).line);
        m->sink_off = 0;
    }
}

/* Writes until the sink would block or sinkq is empty. */
static void sink_flush(EventMonitor *m)
{
    while (m->sink_fd >= 0 && m->sinkq.count > 0) {
        ssize_t w = sink_write_once(m);
        if (w >= 0) {
            sink_advance(m, (size_t)w);
            continue;
        }
        int err = errno;
        if (err == EINTR)
            continue;
        if (err == EAGAIN || err == EWOULDBLOCK || err == ENOBUFS)
            return;
        if (err == EPIPE)
            consume_sigpipe();
        if (err == EMSGSIZE && m->sink_kind == SINK_PACKET_SOCKET) {
            free(ring_pop(&m->sinkq).line);
            add_dropped(m, 1);
            continue;
        }
        if (err == EPIPE && m->fifo_path && sink_reopen_fifo(m))
            continue;
        sink_warn(m, "writing the sink failed", err);
        sink_close(m);
    }
}

/* The writer owns the first record once any byte of it is out: dropping it
 * would tear a line, so the second-oldest goes instead. */
static void sinkq_push(EventMonitor *m, Record rec)
{
    Ring *q = &m->sinkq;
    if (q->count == EVENT_MONITOR_QUEUE_LEN) {
        if (m->sink_off > 0) {
            Record *second = ring_at(q, 1);
            free(second->line);
            *second = *ring_at(q, 0);
            q->head = (q->head + 1) % EVENT_MONITOR_QUEUE_LEN;
            q->count--;
        } else {
            free(ring_pop(q).line);
        }
        add_dropped(m, 1);
    }
    ring_push(q, rec);
}

/* ------------------------------------------------------------ writer */

static void deliver(EventMonitor *m, const Record *batch, size_t n)
{
    pthread_mutex_lock(&m->sub_lock);
    for (size_t r = 0; r < n; r++) {
        /* Re-read subs and n_subs: a callback may subscribe (realloc). */
        for (size_t i = 0; i < m->n_subs; i++) {
            Subscriber s = m->subs[i];
            if (s.cb)
                s.cb(s.ctx, batch[r].line);
        }
    }
    if (m->subs_dirty) {
        size_t k = 0;
        for (size_t i = 0; i < m->n_subs; i++)
            if (m->subs[i].cb)
                m->subs[k++] = m->subs[i];
        m->n_subs = k;
        m->subs_dirty = false;
    }
    pthread_mutex_unlock(&m->sub_lock);
}

static int64_t ms_until(const struct timespec *deadline)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    int64_t ms =
        (int64_t)(deadline->tv_sec - now.tv_sec) * 1000 + (deadline->tv_nsec - now.tv_nsec) / 1000000;
    return ms < 0 ? 0 : ms;
}

static void *writer_main(void *arg)
{
    EventMonitor *m = arg;
    tls_writer_of = m;
    /* Started before the main thread confines itself, so confined here. */
    vmm_landlock_enter();
    vmm_seccomp_enter(VMM_THREAD_EVENT_MONITOR);
    /* Per-thread so the 16 KiB batch does not sit on a small stack. */
    Record *batch = malloc(sizeof(Record) * EVENT_MONITOR_QUEUE_LEN);

    for (;;) {
        size_t n = 0;
        pthread_mutex_lock(&m->lock);
        while (m->queue.count && batch)
            batch[n++] = ring_pop(&m->queue);
        if (!batch)
            add_dropped(m, ring_clear(&m->queue));
        bool stopping = m->stopping;
        struct timespec deadline = m->deadline;
        m->writer_idle = n == 0;
        pthread_mutex_unlock(&m->lock);

        if (n > 0) {
            deliver(m, batch, n);
            for (size_t i = 0; i < n; i++) {
                if (m->sink_fd >= 0)
                    sinkq_push(m, batch[i]);
                else
                    free(batch[i].line);
            }
        }
        sink_flush(m);
        if (n > 0)
            continue;

        bool pending = m->sink_fd >= 0 && m->sinkq.count > 0;
        if (stopping && !pending)
            break;
        int timeout = -1;
        if (stopping) {
            int64_t left = ms_until(&deadline);
            if (left == 0)
                break;
            timeout = (int)left;
        }
        struct pollfd pfd[2] = {
            {.fd = m->wake_fd, .events = POLLIN},
            {.fd = pending ? m->sink_fd : -1, .events = POLLOUT},
        };
        if (poll(pfd, 2, timeout) > 0 && (pfd[0].revents & POLLIN)) {
            uint64_t v;
            ssize_t rd = read(m->wake_fd, &v, sizeof(v));
            (void)rd;
        }
    }
    /* Past the flush deadline: what the sink did not take is lost. */
    add_dropped(m, ring_clear(&m->sinkq));
    m->sink_off = 0;
    free(batch);
    return NULL;
}

/* ------------------------------------------------------------ setup */

static int open_path_sink(EventMonitor *m, const char *path, char *errbuf, size_t errlen)
{
    /* O_NONBLOCK: opening a FIFO write-only would otherwise wait for a
     * reader, and writes to it must not block the writer's flush deadline. */
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NONBLOCK | O_NOCTTY, 0600);
    if (fd < 0 && errno == ENXIO) {
        /* A FIFO without reader (or a socket file, refused below). Linux
         * opens a FIFO read-write without waiting; records then wait in the
         * pipe until someone reads. */
        fd = open(path, O_RDWR | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    }
    if (fd < 0)
        return errbuf_errno(errbuf, errlen, errno, "cannot open %s", path);
    struct stat st;
    if (fstat(fd, &st) < 0) {
        int err = errno;
        close(fd);
        return errbuf_errno(errbuf, errlen, err, "cannot stat %s", path);
    }
    if (S_ISFIFO(st.st_mode)) {
        m->fifo_path = strdup(path);
        if (!m->fifo_path) {
            close(fd);
            return errbuf_errno(errbuf, errlen, ENOMEM, "%s", path);
        }
    }
    m->sink_fd = fd;
    m->sink_kind = SINK_FILE;
    return 0;
}

/* The fd's open file description may be shared with whoever passed it, so
 * its flags are left alone: sockets get MSG_DONTWAIT per call, pipes and
 * ttys are reopened through /proc for a private non-blocking description. */
static int adopt_fd_sink(EventMonitor *m, int fd, char *errbuf, size_t errlen)
{
    char name[32];
    snprintf(name, sizeof(name), "fd %d", fd);
    struct stat st;
    if (fstat(fd, &st) < 0)
        return errbuf_errno(errbuf, errlen, errno, "%s", name);
    int acc = fcntl(fd, F_GETFL);
    if (acc < 0)
        return errbuf_errno(errbuf, errlen, errno, "%s", name);
    m->sink_fd = fd;
    m->sink_kind = SINK_FILE;

    if (S_ISSOCK(st.st_mode)) {
        int type = 0;
        socklen_t len = sizeof(type);
        if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0)
            return errbuf_errno(errbuf, errlen, errno, "%s", name);
        m->sink_kind = type == SOCK_STREAM ? SINK_STREAM_SOCKET : SINK_PACKET_SOCKET;
        return 0;
    }
    if ((acc & O_ACCMODE) == O_RDONLY)
        return errbuf_errno(errbuf, errlen, EBADF, "%s is not open for writing", name);
    if (S_ISREG(st.st_mode) || (acc & O_NONBLOCK))
        return 0;

    char proc[64];
    snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
    int own = open(proc, O_WRONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    if (own >= 0) {
        close(fd);
        m->sink_fd = own;
        return 0;
    }
    /* No /proc, or a pipe whose reader is gone: keep the blocking fd and
     * only write what a POLLOUT pipe takes without waiting. */
    m->max_write = PIPE_BUF;
    return 0;
}

EventMonitor *event_monitor_new(const char *path, int fd, char *errbuf, size_t errlen)
{
    if (path && fd >= 0) {
        snprintf(errbuf, errlen, "path and fd are mutually exclusive");
        close(fd);
        return NULL;
    }
    EventMonitor *m = calloc(1, sizeof(*m));
    if (!m) {
        snprintf(errbuf, errlen, "out of memory");
        if (fd >= 0)
            close(fd);
        return NULL;
    }
    clock_gettime(CLOCK_MONOTONIC, &m->start);
    m->sink_fd = -1;
    m->max_write = SIZE_MAX;
    pthread_mutex_init(&m->lock, NULL);
    pthread_mutex_init(&m->sub_lock, NULL);
    m->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (m->wake_fd < 0) {
        errbuf_errno(errbuf, errlen, errno, "%s", "eventfd");
        if (fd >= 0)
            close(fd);
        goto fail;
    }

    if (path) {
        if (open_path_sink(m, path, errbuf, errlen) < 0)
            goto fail;
    } else if (fd >= 0) {
        if (adopt_fd_sink(m, fd, errbuf, errlen) < 0) {
            m->sink_fd = -1;
            close(fd);
            goto fail;
        }
    }

    /* The writer must never run a signal handler meant for the main thread,
     * and SIGPIPE from a vanished FIFO reader is consumed there. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int r = pthread_create(&m->writer, NULL, writer_main, m);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (r != 0) {
        errbuf_errno(errbuf, errlen, r, "%s", "cannot start the writer thread");
        goto fail;
    }
    m->writer_started = true;
    return m;

fail:
    event_monitor_free(m);
    return NULL;
}

void event_monitor_stop(EventMonitor *m)
{
    if (!m)
        return;
    if (m->writer_started) {
        pthread_mutex_lock(&m->lock);
        m->stopping = true;
        clock_gettime(CLOCK_MONOTONIC, &m->deadline);
        m->deadline.tv_sec += EVENT_MONITOR_FLUSH_MS / 1000;
        m->deadline.tv_nsec += (long)(EVENT_MONITOR_FLUSH_MS % 1000) * 1000000L;
        if (m->deadline.tv_nsec >= 1000000000L) {
            m->deadline.tv_sec++;
            m->deadline.tv_nsec -= 1000000000L;
        }
        pthread_mutex_unlock(&m->lock);
        uint64_t one = 1;
        ssize_t w = write(m->wake_fd, &one, sizeof(one));
        (void)w;
        pthread_join(m->writer, NULL);
        m->writer_started = false;
    }
}

void event_monitor_free(EventMonitor *m)
{
    if (!m)
        return;
    event_monitor_stop(m);
    add_dropped(m, ring_clear(&m->queue));
    ring_clear(&m->sinkq);
    if (m->sink_fd >= 0)
        close(m->sink_fd);
    if (m->wake_fd >= 0)
        close(m->wake_fd);
    free(m->fifo_path);
    free(m->subs);
    pthread_mutex_destroy(&m->lock);
    pthread_mutex_destroy(&m->sub_lock);
    free(m);
}

/* ------------------------------------------------------------ emit */

void event_monitor_emit(EventMonitor *m, const char *source, const char *event, const char *const *props)
{
    if (!m || !source || !event)
        return;

    /* Everything but the timestamp is built outside the lock; the timestamp
     * is taken under it so lines come out with non-decreasing times. */
    json_object *o = json_object_new_object();
    if (!o)
        goto oom;
    json_object_object_add(o, "source", json_object_new_string(source));
    json_object_object_add(o, "event", json_object_new_string(event));
    json_object *p = NULL;
    if (props) {
        p = json_object_new_object();
        for (size_t i = 0; p && props[i] && props[i + 1]; i += 2)
            json_object_object_add(p, props[i], json_object_new_string(props[i + 1]));
    }
    json_object_object_add(o, "properties", p);
    size_t body_len = 0;
    const char *body = json_object_to_json_string_length(
        o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &body_len);
    /* "{\"timestamp\":{\"secs\":<20 digits>,\"nanos\":<9 digits>}," fits in 64. */
    size_t cap = body_len + 64;
    char *line = body ? malloc(cap) : NULL;
    if (!line) {
        json_object_put(o);
        goto oom;
    }

    Record old = {0};
    bool wake;
    pthread_mutex_lock(&m->lock);
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    time_t secs = now.tv_sec - m->start.tv_sec;
    long nanos = now.tv_nsec - m->start.tv_nsec;
    if (nanos < 0) {
        nanos += 1000000000L;
        secs--;
    }
    int len = snprintf(line, cap, "{\"timestamp\":{\"secs\":%lld,\"nanos\":%ld},%s", (long long)secs, nanos,
                       body + 1);
    if (m->queue.count == EVENT_MONITOR_QUEUE_LEN) {
        old = ring_pop(&m->queue);
        add_dropped(m, 1);
    }
    ring_push(&m->queue, (Record){.line = line, .len = (size_t)len});
    wake = m->writer_idle;
    m->writer_idle = false;
    pthread_mutex_unlock(&m->lock);

    json_object_put(o);
    free(old.line);
    if (wake) {
        uint64_t one = 1;
        ssize_t w = write(m->wake_fd, &one, sizeof(one));
        (void)w;
    }
    return;

oom:
    add_dropped(m, 1);
}

/* ------------------------------------------------------------ subscribers */

int event_monitor_subscribe(EventMonitor *m, EventSubscriber cb, void *ctx)
{
    if (!m || !cb)
        return -EINVAL;
    bool locked = tls_writer_of != m;
    if (locked)
        pthread_mutex_lock(&m->sub_lock);
    int r = 0;
    for (size_t i = 0; i < m->n_subs; i++)
        if (m->subs[i].cb == cb && m->subs[i].ctx == ctx)
            r = -EEXIST;
    if (r == 0 && m->n_subs == m->cap_subs) {
        size_t cap = m->cap_subs ? m->cap_subs * 2 : 8;
        Subscriber *subs = realloc(m->subs, cap * sizeof(*subs));
        if (subs) {
            m->subs = subs;
            m->cap_subs = cap;
        } else {
            r = -ENOMEM;
        }
    }
    if (r == 0)
        m->subs[m->n_subs++] = (Subscriber){.cb = cb, .ctx = ctx};
    if (locked)
        pthread_mutex_unlock(&m->sub_lock);
    return r;
}

void event_monitor_unsubscribe(EventMonitor *m, EventSubscriber cb, void *ctx)
{
    if (!m || !cb)
        return;
    if (tls_writer_of == m) {
        /* Inside a delivery round that is iterating subs: mark only. */
        for (size_t i = 0; i < m->n_subs; i++) {
            if (m->subs[i].cb == cb && m->subs[i].ctx == ctx) {
                m->subs[i].cb = NULL;
                m->subs_dirty = true;
            }
        }
        return;
    }
    pthread_mutex_lock(&m->sub_lock);
    for (size_t i = 0; i < m->n_subs; i++) {
        if (m->subs[i].cb == cb && m->subs[i].ctx == ctx) {
            memmove(&m->subs[i], &m->subs[i + 1], (m->n_subs - i - 1) * sizeof(*m->subs));
            m->n_subs--;
            break;
        }
    }
    pthread_mutex_unlock(&m->sub_lock);
}
