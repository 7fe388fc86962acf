/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Host side of the character devices. See char_backend.h for the locking
 * rule (the device's mutex guards everything here).
 *
 * Event-loop registration: an input fd that is also the output fd (pty
 * master, socket client) is one watch; tty mode has two (stdin, stdout).
 * Interest follows state: EPOLLIN only while the device has room (a full
 * FIFO stops reading, which pushes back on the host instead of dropping),
 * EPOLLOUT only while output is buffered. Watches are added and modified
 * from any thread, but only removed on the loop thread (or at free), which
 * is what event_loop_remove() allows while a device lock is held.
 */
#include "char_backend.h"

#include "inherited_fd.h"
#include "unix_socket.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

typedef struct Watch {
    int fd;
    uint32_t events; /* what the loop currently watches for */
    bool active;     /* registered with the loop */
} Watch;

struct CharBackend {
    char label[32];
    ConsoleOutputMode mode;
    pthread_mutex_t *lock;
    EventLoop *loop;
    bool has_input;
    CharBackendInput input;

    int out_fd;         /* -1: nowhere (null, socket without client) */
    bool out_is_socket; /* send(MSG_NOSIGNAL): a closed peer must not raise SIGPIPE */
    bool out_broken;    /* a write failed for good: drop from now on */
    int in_fd;          /* -1: no input */
    Watch io;           /* in_fd, and out_fd too when they are the same */
    Watch out;          /* out_fd when it differs from in_fd (tty: stdout) */

    int pty_slave_fd; /* held open so the master never sees a hangup */
    char pty_path[64];

    int listen_fd;
    char *socket_path;
    dev_t socket_dev;
    ino_t socket_ino;
    bool owns_stdin;

    uint8_t *ring; /* pending output, CHAR_BACKEND_OUT_BUFFER bytes */
    size_t ring_head, ring_len;

    CharBackendCounters ctr;
};

/* ------------------------------------------------------------ terminal */

static struct termios saved_termios;
static volatile sig_atomic_t termios_saved;
static volatile sig_atomic_t stdin_taken;

void char_backend_restore_terminal(void)
{
    if (termios_saved) {
        tcsetattr(STDIN_FILENO, TCSANOW, &saved_termios);
        termios_saved = 0;
    }
}

/*
 * Keystrokes go to the guest unprocessed (Ctrl-C included, as with Cloud
 * Hypervisor), but output post-processing stays on, as QEMU does, so the
 * VMM's own messages on the same terminal keep their carriage returns.
 */
static void make_stdin_raw(void)
{
    static bool atexit_done;
    struct termios t;
    if (termios_saved || tcgetattr(STDIN_FILENO, &t) < 0)
        return;
    saved_termios = t;
    termios_saved = 1;
    if (!atexit_done) {
        atexit(char_backend_restore_terminal);
        atexit_done = true;
    }
    cfmakeraw(&t);
    t.c_oflag |= OPOST;
    tcsetattr(STDIN_FILENO, TCSANOW, &t);
}

/*
 * Our own open file description of a tty or pipe behind fd, so O_NONBLOCK
 * does not leak to the shell sharing the original one. Regular files keep
 * the shared description (a reopen would lose the offset and O_APPEND);
 * their writes never return EAGAIN anyway.
 */
static int reopen_std_fd(int fd, int flags, bool *is_socket)
{
    struct stat st;
    *is_socket = false;
    if (fstat(fd, &st) < 0)
        return -1;
    if (S_ISCHR(st.st_mode) && isatty(fd)) {
        char path[32];
        snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
        int nfd = open(path, flags | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
        if (nfd >= 0)
            return nfd;
        char name[256];
        if (ttyname_r(fd, name, sizeof(name)) == 0) {
            nfd = open(name, flags | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
            if (nfd >= 0)
                return nfd;
        }
    } else if (S_ISFIFO(st.st_mode)) {
        char path[32];
        snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
        int nfd = open(path, flags | O_NONBLOCK | O_CLOEXEC);
        if (nfd >= 0)
            return nfd;
    } else if (S_ISSOCK(st.st_mode)) {
        *is_socket = true; /* send(MSG_DONTWAIT) gives non-blocking without O_NONBLOCK */
    }
    return fcntl(fd, F_DUPFD_CLOEXEC, 3);
}

/* ------------------------------------------------------------- output */

static ssize_t raw_write(CharBackend *be, const uint8_t *data, size_t len)
{
    ssize_t n;
    do {
        if (be->out_is_socket)
            n = send(be->out_fd, data, len, MSG_DONTWAIT | MSG_NOSIGNAL);
        else
            n = write(be->out_fd, data, len);
    } while (n < 0 && errno == EINTR);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        n = 0;
    return n;
}

static void drop_ring(CharBackend *be)
{
    be->ctr.out_dropped += be->ring_len;
    be->ring_head = be->ring_len = 0;
}

static void mark_output_broken(CharBackend *be)
{
    be->out_broken = true;
    drop_ring(be);
}

static void flush_ring(CharBackend *be)
{
    while (be->ring_len > 0 && !be->out_broken) {
        size_t chunk = CHAR_BACKEND_OUT_BUFFER - be->ring_head;
        if (chunk > be->ring_len)
            chunk = be->ring_len;
        ssize_t n = raw_write(be, be->ring + be->ring_head, chunk);
        if (n < 0) {
            mark_output_broken(be);
            return;
        }
        if (n == 0)
            return;
        be->ctr.out_bytes += (uint64_t)n;
        be->ring_head = (be->ring_head + (size_t)n) % CHAR_BACKEND_OUT_BUFFER;
        be->ring_len -= (size_t)n;
        if (be->ring_len == 0)
            be->ring_head = 0;
    }
}

/* --------------------------------------------------------------- watches */

static size_t input_space(CharBackend *be)
{
    if (!be->has_input || be->in_fd < 0)
        return 0;
    return be->input.space(be->input.opaque);
}

static void watch_set(CharBackend *be, Watch *w, uint32_t events)
{
    if (!w->active || w->events == events)
        return;
    if (event_loop_modify(be->loop, w->fd, events) == 0)
        w->events = events;
}

static void rearm(CharBackend *be)
{
    bool pending = be->ring_len > 0 && !be->out_broken;
    if (be->io.active) {
        uint32_t ev = input_space(be) > 0 ? EPOLLIN : 0;
        if (be->io.fd == be->out_fd && pending)
            ev |= EPOLLOUT;
        watch_set(be, &be->io, ev);
    }
    if (be->out.active)
        watch_set(be, &be->out, pending ? EPOLLOUT : 0);
}

static int watch_add(CharBackend *be, Watch *w, int fd, EventCallback cb)
{
    w->fd = fd;
    w->events = 0;
    int r = event_loop_add(be->loop, fd, 0, cb, be);
    w->active = r == 0;
    return r;
}

/* Loop thread only, or at free with no callback able to run. */
static void watch_remove(CharBackend *be, Watch *w)
{
    if (w->active)
        event_loop_remove(be->loop, w->fd);
    w->active = false;
}

/* -------------------------------------------------------- event callbacks */

static void close_client(CharBackend *be)
{
    watch_remove(be, &be->io);
    if (be->in_fd >= 0)
        close(be->in_fd);
    be->in_fd = be->out_fd = -1;
    be->out_broken = false;
    drop_ring(be);
}

/* Reads while the device has room. False when the input is finished (EOF,
 * hangup, error). */
static bool read_input(CharBackend *be)
{
    uint8_t buf[256];
    size_t space;
    while ((space = input_space(be)) > 0) {
        ssize_t n = read(be->in_fd, buf, space < sizeof(buf) ? space : sizeof(buf));
        if (n > 0) {
            be->ctr.in_bytes += (uint64_t)n;
            be->input.push(be->input.opaque, buf, (size_t)n);
            continue;
        }
        if (n == 0)
            return false;
        if (errno == EINTR)
            continue;
        return errno == EAGAIN || errno == EWOULDBLOCK;
    }
    return true;
}

static void input_finished(CharBackend *be)
{
    if (be->mode == CONSOLE_MODE_SOCKET) {
        close_client(be);
    } else {
        /* tty: the terminal hung up; output (a different fd) carries on.
         * pty: cannot happen while we hold the slave; if it does anyway,
         * stop watching rather than spin on a hangup nobody can clear. */
        watch_remove(be, &be->io);
        be->has_input = false;
    }
}

static void on_io(void *ctx, uint32_t events)
{
    CharBackend *be = ctx;
    pthread_mutex_lock(be->lock);
    if (be->io.active) {
        if (be->io.fd == be->out_fd)
            flush_ring(be);
        bool alive = true;
        if (be->has_input && (events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
            alive = read_input(be);
        /* A hangup with the device full would be reported again and again
         * (epoll always reports it); the peer is gone, so let it go. */
        if (alive && (events & (EPOLLHUP | EPOLLERR)))
            alive = false;
        if (be->mode == CONSOLE_MODE_SOCKET && be->out_broken)
            alive = false;
        if (!alive)
            input_finished(be);
        rearm(be);
    }
    pthread_mutex_unlock(be->lock);
}

static void on_out(void *ctx, uint32_t events)
{
    CharBackend *be = ctx;
    pthread_mutex_lock(be->lock);
    if (be->out.active) {
        flush_ring(be);
        if ((events & (EPOLLHUP | EPOLLERR)) || be->out_broken) {
            mark_output_broken(be);
            watch_remove(be, &be->out);
        }
        rearm(be);
    }
    pthread_mutex_unlock(be->lock);
}

static void on_listen(void *ctx, uint32_t events)
{
    (void)events;
    CharBackend *be = ctx;
    pthread_mutex_lock(be->lock);
    int fd = accept4(be->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0) {
        if (be->in_fd >= 0) {
            /* One client at a time; leaving it in the backlog would keep
             * the listener readable and spin the loop. */
            close(fd);
        } else {
            be->in_fd = be->out_fd = fd;
            be->out_is_socket = true;
            be->out_broken = false;
            if (watch_add(be, &be->io, fd, on_io) < 0) {
                close(fd);
                be->in_fd = be->out_fd = -1;
            }
            rearm(be);
        }
    }
    pthread_mutex_unlock(be->lock);
}

/* ------------------------------------------------------------ public */

void char_backend_write(CharBackend *be, const uint8_t *data, size_t len)
{
    if (!be || len == 0)
        return;
    if (be->mode == CONSOLE_MODE_NULL) {
        be->ctr.out_bytes += len;
        return;
    }
    if (be->out_fd < 0 || be->out_broken) {
        be->ctr.out_dropped += len;
        return;
    }
    flush_ring(be); /* keeps byte order: older output first */
    size_t done = 0;
    if (be->ring_len == 0 && !be->out_broken) {
        ssize_t n = raw_write(be, data, len);
        if (n < 0) {
            mark_output_broken(be);
        } else {
            done = (size_t)n;
            be->ctr.out_bytes += (uint64_t)n;
        }
    }
    if (be->out_broken) {
        be->ctr.out_dropped += len - done;
        return;
    }
    size_t rest = len - done;
    size_t room = CHAR_BACKEND_OUT_BUFFER - be->ring_len;
    size_t take = rest < room ? rest : room;
    for (size_t i = 0; i < take; i++)
        be->ring[(be->ring_head + be->ring_len + i) % CHAR_BACKEND_OUT_BUFFER] = data[done + i];
    be->ring_len += take;
    be->ctr.out_dropped += rest - take;
    rearm(be);
}

void char_backend_input_ready(CharBackend *be)
{
    if (be)
        rearm(be);
}

const char *char_backend_pty_path(const CharBackend *be)
{
    return be && be->mode == CONSOLE_MODE_PTY ? be->pty_path : NULL;
}

void char_backend_counters(const CharBackend *be, CharBackendCounters *out)
{
    if (be)
        *out = be->ctr;
    else
        memset(out, 0, sizeof(*out));
}

/* ------------------------------------------------------------ setup */

static int open_pty(CharBackend *be)
{
    int master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (master < 0)
        return -errno;
    if (grantpt(master) < 0 || unlockpt(master) < 0 ||
        ptsname_r(master, be->pty_path, sizeof(be->pty_path)) != 0)
        goto fail;
    int fl = fcntl(master, F_GETFL);
    if (fl < 0 || fcntl(master, F_SETFL, fl | O_NONBLOCK) < 0)
        goto fail;
    be->pty_slave_fd = open(be->pty_path, O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (be->pty_slave_fd < 0)
        goto fail;
    /* Raw both ways: no echo of guest output back as guest input, no
     * newline translation of what the guest writes. */
    struct termios t;
    if (tcgetattr(be->pty_slave_fd, &t) == 0) {
        cfmakeraw(&t);
        tcsetattr(be->pty_slave_fd, TCSANOW, &t);
    }
    be->in_fd = be->out_fd = master;
    fprintf(stderr, "vmm: %s pty: %s\n", be->label, be->pty_path);
    return 0;

fail:;
    int r = -errno;
    close(master);
    return r ? r : -EIO;
}

static int open_tty(CharBackend *be)
{
    be->out_fd = reopen_std_fd(STDOUT_FILENO, O_WRONLY, &be->out_is_socket);
    if (be->out_fd < 0)
        return -errno;
    if (be->has_input && be->loop && isatty(STDIN_FILENO) && !stdin_taken) {
        bool sock;
        be->in_fd = reopen_std_fd(STDIN_FILENO, O_RDONLY, &sock);
        if (be->in_fd >= 0) {
            stdin_taken = 1;
            be->owns_stdin = true;
            make_stdin_raw();
        }
    }
    return 0;
}

static int open_file(CharBackend *be, const char *path)
{
    /* Appends: an existing log is kept. Mode 0600: guest console output can
     * carry secrets. O_NONBLOCK matters only if path is a FIFO. */
    be->out_fd = open_or_inherit(path, O_WRONLY | O_CREAT | O_APPEND | O_NOCTTY | O_NONBLOCK, 0600);
    return be->out_fd < 0 ? -errno : 0;
}

static int open_socket(CharBackend *be, const char *path)
{
    if (!be->loop)
        return -EINVAL;
    int fd = unix_socket_listen(path, 4, &be->socket_dev, &be->socket_ino);
    if (fd < 0)
        return fd;
    be->listen_fd = fd;
    be->socket_path = strdup(path);
    if (!be->socket_path) {
        unlink(path);
        return -ENOMEM;
    }
    return event_loop_add(be->loop, be->listen_fd, EPOLLIN, on_listen, be);
}

CharBackend *char_backend_new(const CharBackendParams *p)
{
    if (!p || !p->lock || p->mode == CONSOLE_MODE_OFF || p->mode > CONSOLE_MODE_NULL) {
        errno = EINVAL;
        return NULL;
    }
    if ((p->mode == CONSOLE_MODE_FILE || p->mode == CONSOLE_MODE_SOCKET) && (!p->path || !*p->path)) {
        errno = EINVAL;
        return NULL;
    }
    if (p->input && (!p->input->space || !p->input->push)) {
        errno = EINVAL;
        return NULL;
    }
    CharBackend *be = calloc(1, sizeof(*be));
    if (!be)
        return NULL;
    snprintf(be->label, sizeof(be->label), "%s", p->label ? p->label : "console");
    be->mode = p->mode;
    be->lock = p->lock;
    be->loop = p->loop;
    be->has_input = p->input != NULL;
    if (p->input)
        be->input = *p->input;
    be->out_fd = be->in_fd = be->pty_slave_fd = be->listen_fd = -1;

    /* Before any fd is watched: a callback may run as soon as one is. */
    int r = 0;
    if (p->mode != CONSOLE_MODE_NULL) {
        be->ring = malloc(CHAR_BACKEND_OUT_BUFFER);
        if (!be->ring) {
            free(be);
            errno = ENOMEM;
            return NULL;
        }
    }
    switch (p->mode) {
    case CONSOLE_MODE_TTY:
        r = open_tty(be);
        break;
    case CONSOLE_MODE_PTY:
        r = open_pty(be);
        break;
    case CONSOLE_MODE_FILE:
        r = open_file(be, p->path);
        break;
    case CONSOLE_MODE_SOCKET:
        r = open_socket(be, p->path);
        break;
    default: /* null: nothing to open */
        break;
    }
    if (r == 0 && be->loop) {
        /* Failing to watch is not fatal: a regular file cannot be polled
         * (EPERM) and never needs to be; input simply stays off. */
        if (be->in_fd >= 0)
            watch_add(be, &be->io, be->in_fd, on_io);
        if (be->out_fd >= 0 && be->out_fd != be->in_fd)
            watch_add(be, &be->out, be->out_fd, on_out);
        pthread_mutex_lock(be->lock);
        rearm(be);
        pthread_mutex_unlock(be->lock);
    }
    if (r < 0) {
        char_backend_free(be);
        errno = -r;
        return NULL;
    }
    return be;
}

void char_backend_free(CharBackend *be)
{
    if (!be)
        return;
    if (be->loop) {
        watch_remove(be, &be->io);
        watch_remove(be, &be->out);
        if (be->listen_fd >= 0)
            event_loop_remove(be->loop, be->listen_fd);
    }
    if (be->in_fd >= 0)
        close(be->in_fd);
    if (be->out_fd >= 0 && be->out_fd != be->in_fd)
        close(be->out_fd);
    if (be->pty_slave_fd >= 0)
        close(be->pty_slave_fd);
    if (be->listen_fd >= 0)
        close(be->listen_fd);
    if (be->socket_path) {
        /* Only the socket we bound: someone may have replaced it since. */
        unix_socket_unlink_if_ours(be->socket_path, be->socket_dev, be->socket_ino);
        free(be->socket_path);
    }
    if (be->owns_stdin) {
        char_backend_restore_terminal();
        stdin_taken = 0;
    }
    free(be->ring);
    free(be);
}
