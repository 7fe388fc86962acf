/* SPDX-License-Identifier: Apache-2.0 */
/* The event monitor: Cloud Hypervisor's exact line format on every kind of
 * sink, ordering, subscribers, and that a reader who stops reading costs
 * dropped records, never a blocked emitter. */
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
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "control_test.h"
#include "event_monitor.h"

typedef struct Lines {
    char **v;
    size_t n;
    bool torn_tail; /* data after the last newline */
} Lines;

static void lines_free(Lines *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    memset(l, 0, sizeof(*l));
}

static Lines split_lines(const char *buf, size_t len)
{
    Lines l = {0};
    size_t start = 0;
    for (size_t i = 0; i < len; i++) {
        if (buf[i] != '\n')
            continue;
        l.v = realloc(l.v, (l.n + 1) * sizeof(*l.v));
        l.v[l.n++] = strndup(buf + start, i - start);
        start = i + 1;
    }
    l.torn_tail = start < len;
    return l;
}

static char *slurp_fd(int fd, size_t *len)
{
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    for (;;) {
        if (n == cap)
            buf = realloc(buf, cap *= 2);
        ssize_t r = read(fd, buf + n, cap - n);
        if (r <= 0)
            break;
        n += (size_t)r;
    }
    *len = n;
    return buf;
}

static Lines read_file_lines(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    assert_true(fd >= 0);
    size_t len;
    char *buf = slurp_fd(fd, &len);
    close(fd);
    Lines l = split_lines(buf, len);
    free(buf);
    return l;
}

static char *temp_path(const char *name)
{
    const char *dir = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    char *p;
    assert_true(asprintf(&p, "%s/vmm-evmon-%d-%s", dir, (int)getpid(), name) > 0);
    unlink(p);
    return p;
}

/* Checks one line field by field and returns its timestamp in ns. */
static uint64_t check_line(const char *line, const char *source, const char *event, const char *const *props)
{
    /* The exact byte layout first: key order and no whitespace. */
    if (strncmp(line, "{\"timestamp\":{\"secs\":", 21) != 0)
        fail_msg("bad line start: %s", line);
    json_object *o = json_tokener_parse(line);
    if (!o)
        fail_msg("not JSON: %s", line);
    assert_int_equal(json_object_object_length(o), 4);
    json_object *ts, *v;
    assert_true(json_object_object_get_ex(o, "timestamp", &ts));
    assert_int_equal(json_object_object_length(ts), 2);
    assert_true(json_object_object_get_ex(ts, "secs", &v));
    assert_true(json_object_is_type(v, json_type_int));
    uint64_t secs = (uint64_t)json_object_get_int64(v);
    assert_true(json_object_object_get_ex(ts, "nanos", &v));
    assert_true(json_object_is_type(v, json_type_int));
    int64_t nanos = json_object_get_int64(v);
    assert_true(nanos >= 0 && nanos < 1000000000);
    assert_true(secs < 60);

    char expect[1024];
    char props_json[512] = "null";
    if (props) {
        json_object *p = json_object_new_object();
        for (size_t i = 0; props[i]; i += 2)
            json_object_object_add(p, props[i], json_object_new_string(props[i + 1]));
        snprintf(props_json, sizeof(props_json), "%s",
                 json_object_to_json_string_ext(p, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
        json_object_put(p);
    }
    snprintf(expect, sizeof(expect), "},\"source\":\"%s\",\"event\":\"%s\",\"properties\":%s}", source, event,
             props_json);
    const char *tail = strstr(line, "},\"source\"");
    if (!tail || strcmp(tail, expect) != 0)
        fail_msg("line %s\n  does not end with %s", line, expect);
    json_object_put(o);
    return secs * 1000000000ull + (uint64_t)nanos;
}

static void test_file_sink_exact_format(void **state)
{
    (void)state;
    char *path = temp_path("format");
    char err[256] = "";
    EventMonitor *m = event_monitor_new(path, -1, err, sizeof(err));
    assert_non_null(m);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);

    const char *const disk[] = {"id", "_disk0", "path", "/dev/vda", NULL};
    const char *const quote[] = {"reason", "a \"quoted\"\nline\\", NULL};
    const char *const empty[] = {NULL};
    event_monitor_emit(m, "vmm", "starting", NULL);
    event_monitor_emit(m, "vm", "booted", NULL);
    event_monitor_emit(m, "virtio-device", "activated", disk);
    event_monitor_emit(m, "guest", "panic", quote);
    event_monitor_emit(m, "vm", "resized", empty);
    event_monitor_free(m);

    Lines l = read_file_lines(path);
    assert_int_equal(l.n, 5);
    assert_false(l.torn_tail);
    uint64_t t[5];
    t[0] = check_line(l.v[0], "vmm", "starting", NULL);
    t[1] = check_line(l.v[1], "vm", "booted", NULL);
    t[2] = check_line(l.v[2], "virtio-device", "activated", disk);
    /* Slashes stay as they are, as serde_json writes them. */
    assert_non_null(strstr(l.v[2], "\"properties\":{\"id\":\"_disk0\",\"path\":\"/dev/vda\"}}"));
    t[3] = check_line(l.v[3], "guest", "panic", quote);
    assert_non_null(strstr(l.v[3], "\"a \\\"quoted\\\"\\nline\\\\\""));
    t[4] = check_line(l.v[4], "vm", "resized", empty);
    assert_non_null(strstr(l.v[4], "\"properties\":{}}"));
    for (int i = 1; i < 5; i++)
        assert_true(t[i] >= t[i - 1]);
    lines_free(&l);
    unlink(path);
    free(path);
}

static void test_file_sink_appends(void **state)
{
    (void)state;
    char *path = temp_path("append");
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    assert_int_equal(write(fd, "earlier\n", 8), 8);
    close(fd);
    char err[256];
    EventMonitor *m = event_monitor_new(path, -1, err, sizeof(err));
    assert_non_null(m);
    event_monitor_emit(m, "vm", "booting", NULL);
    event_monitor_free(m);
    Lines l = read_file_lines(path);
    assert_int_equal(l.n, 2);
    assert_string_equal(l.v[0], "earlier");
    check_line(l.v[1], "vm", "booting", NULL);
    lines_free(&l);
    unlink(path);
    free(path);
}

static void test_timestamps_are_time_since_start(void **state)
{
    (void)state;
    char *path = temp_path("elapsed");
    char err[256];
    EventMonitor *m = event_monitor_new(path, -1, err, sizeof(err));
    event_monitor_emit(m, "vm", "a", NULL);
    usleep(300 * 1000);
    event_monitor_emit(m, "vm", "b", NULL);
    event_monitor_free(m);
    Lines l = read_file_lines(path);
    assert_int_equal(l.n, 2);
    uint64_t a = check_line(l.v[0], "vm", "a", NULL);
    uint64_t b = check_line(l.v[1], "vm", "b", NULL);
    assert_true(a < 200000000ull);
    assert_true(b - a >= 290000000ull);
    lines_free(&l);
    unlink(path);
    free(path);
}

typedef struct Emitter {
    EventMonitor *m;
    int id;
    int count;
} Emitter;

static void *emit_many(void *arg)
{
    Emitter *e = arg;
    char idx[16], who[16];
    snprintf(who, sizeof(who), "%d", e->id);
    for (int i = 0; i < e->count; i++) {
        snprintf(idx, sizeof(idx), "%d", i);
        const char *const props[] = {"thread", who, "i", idx, NULL};
        event_monitor_emit(e->m, "vm", "tick", props);
        if (i % 64 == 0)
            usleep(100);
    }
    return NULL;
}

static void test_concurrent_emitters(void **state)
{
    (void)state;
    char *path = temp_path("threads");
    char err[256];
    EventMonitor *m = event_monitor_new(path, -1, err, sizeof(err));
    enum { THREADS = 4, EACH = 2000 };
    pthread_t th[THREADS];
    Emitter e[THREADS];
    for (int i = 0; i < THREADS; i++) {
        e[i] = (Emitter){m, i, EACH};
        pthread_create(&th[i], NULL, emit_many, &e[i]);
    }
    for (int i = 0; i < THREADS; i++)
        pthread_join(th[i], NULL);
    uint64_t dropped_before_free = event_monitor_dropped(m);
    event_monitor_free(m);

    Lines l = read_file_lines(path);
    assert_false(l.torn_tail);
    /* Nothing lost silently: every record is either written or counted. */
    assert_true(dropped_before_free <= (uint64_t)THREADS * EACH);
    uint64_t prev = 0;
    int last[THREADS];
    for (int i = 0; i < THREADS; i++)
        last[i] = -1;
    for (size_t i = 0; i < l.n; i++) {
        json_object *o = json_tokener_parse(l.v[i]);
        assert_non_null(o);
        json_object *ts, *v, *props;
        json_object_object_get_ex(o, "timestamp", &ts);
        json_object_object_get_ex(ts, "secs", &v);
        uint64_t t = (uint64_t)json_object_get_int64(v) * 1000000000ull;
        json_object_object_get_ex(ts, "nanos", &v);
        t += (uint64_t)json_object_get_int64(v);
        assert_true(t >= prev);
        prev = t;
        /* Per emitter, order is kept. */
        json_object_object_get_ex(o, "properties", &props);
        json_object_object_get_ex(props, "thread", &v);
        int who = atoi(json_object_get_string(v));
        json_object_object_get_ex(props, "i", &v);
        int idx = atoi(json_object_get_string(v));
        assert_true(idx > last[who]);
        last[who] = idx;
        json_object_put(o);
    }
    lines_free(&l);
    unlink(path);
    free(path);
}

typedef struct Reader {
    int fd;
    char *buf;
    size_t len;
} Reader;

static void *read_all(void *arg)
{
    Reader *r = arg;
    r->buf = slurp_fd(r->fd, &r->len);
    return NULL;
}

static void test_pipe_fd_sink(void **state)
{
    (void)state;
    int p[2];
    assert_int_equal(pipe2(p, O_CLOEXEC), 0);
    Reader r = {.fd = p[0]};
    pthread_t th;
    pthread_create(&th, NULL, read_all, &r);
    char err[256];
    EventMonitor *m = event_monitor_new(NULL, p[1], err, sizeof(err));
    assert_non_null(m);
    for (int i = 0; i < 100; i++)
        event_monitor_emit(m, "vm", "booted", NULL);
    assert_int_equal(event_monitor_dropped(m), 0);
    event_monitor_free(m); /* closes p[1]: the reader sees EOF */
    pthread_join(th, NULL);
    Lines l = split_lines(r.buf, r.len);
    assert_int_equal(l.n, 100);
    for (size_t i = 0; i < l.n; i++)
        check_line(l.v[i], "vm", "booted", NULL);
    assert_int_equal(event_monitor_dropped(NULL), 0);
    lines_free(&l);
    free(r.buf);
    close(p[0]);
}

static void test_socket_fd_sink(void **state)
{
    (void)state;
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    char err[256];
    EventMonitor *m = event_monitor_new(NULL, sv[1], err, sizeof(err));
    assert_non_null(m);
    const char *const props[] = {"id", "net0", NULL};
    event_monitor_emit(m, "virtio-device", "reset", props);
    event_monitor_free(m);
    size_t len;
    char *buf = slurp_fd(sv[0], &len);
    Lines l = split_lines(buf, len);
    assert_int_equal(l.n, 1);
    check_line(l.v[0], "virtio-device", "reset", props);
    lines_free(&l);
    free(buf);
    close(sv[0]);
}

/* The reader is alive but never reads: the pipe fills, the writer thread
 * stalls, and emitters must still return at once. */
static void test_stalled_reader_never_blocks_emit(void **state)
{
    (void)state;
    int p[2];
    assert_int_equal(pipe2(p, O_CLOEXEC), 0);
    char err[256];
    EventMonitor *m = event_monitor_new(NULL, p[1], err, sizeof(err));
    assert_non_null(m);
    enum { TOTAL = 100000 };
    const char *const props[] = {"id", "_disk0", "padding",
                                 "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", NULL};
    uint64_t t0 = now_ms();
    for (int i = 0; i < TOTAL; i++)
        event_monitor_emit(m, "vm", "tick", props);
    uint64_t emit_ms = now_ms() - t0;
    /* ~100 bytes a record: far more than a 64 KiB pipe and both queues. */
    assert_true(event_monitor_dropped(m) > 0);
    t0 = now_ms();
    event_monitor_free(m);
    uint64_t free_ms = now_ms() - t0;
    print_message("100k emits into a stalled pipe: %llu ms; free: %llu ms\n", (unsigned long long)emit_ms,
                  (unsigned long long)free_ms);
    /* A blocking emit would never finish: the reader never reads. The bound
     * only has to catch that, on a loaded sanitizer build too (unloaded:
     * ~0.2 s plain, ~2 s with ASan). */
    assert_true(emit_ms < 30000);
    assert_true(free_ms < EVENT_MONITOR_FLUSH_MS + 3000);

    /* What the pipe holds is whole lines; with the dropped ones it adds up
     * to everything emitted (a record cut by the flush deadline counts as
     * dropped and is the only possible partial line). */
    int fl = fcntl(p[0], F_GETFL);
    fcntl(p[0], F_SETFL, fl | O_NONBLOCK);
    size_t len;
    char *buf = slurp_fd(p[0], &len);
    Lines l = split_lines(buf, len);
    assert_true(l.n > 0);
    for (size_t i = 0; i < l.n; i++)
        check_line(l.v[i], "vm", "tick", props);
    lines_free(&l);
    free(buf);
    close(p[0]);
}

/* Every record is either written whole or counted as dropped. */
static void test_stalled_reader_accounting(void **state)
{
    (void)state;
    int p[2];
    assert_int_equal(pipe2(p, O_CLOEXEC), 0);
    char err[256];
    EventMonitor *m = event_monitor_new(NULL, p[1], err, sizeof(err));
    enum { TOTAL = 20000 };
    for (int i = 0; i < TOTAL; i++)
        event_monitor_emit(m, "vm", "tick", NULL);
    /* Now the reader wakes up and drains until the books balance. */
    int fl = fcntl(p[0], F_GETFL);
    fcntl(p[0], F_SETFL, fl | O_NONBLOCK);
    size_t cap = 1 << 20, len = 0, lines = 0;
    char *buf = malloc(cap);
    uint64_t until = now_ms() + 10000;
    while (lines + event_monitor_dropped(m) < TOTAL && now_ms() < until) {
        if (len == cap)
            buf = realloc(buf, cap *= 2);
        ssize_t r = read(p[0], buf + len, cap - len);
        if (r > 0) {
            for (ssize_t i = 0; i < r; i++)
                lines += buf[len + (size_t)i] == '\n';
            len += (size_t)r;
        } else {
            wait_readable(p[0], 10);
        }
    }
    uint64_t dropped = event_monitor_dropped(m);
    assert_true(dropped > 0);
    assert_int_equal(lines + dropped, TOTAL);
    Lines l = split_lines(buf, len);
    assert_false(l.torn_tail);
    for (size_t i = 0; i < l.n; i++)
        check_line(l.v[i], "vm", "tick", NULL);
    lines_free(&l);
    free(buf);
    event_monitor_free(m);
    close(p[0]);
}

typedef struct Collected {
    pthread_mutex_t lock;
    char **lines;
    size_t n;
    pthread_t emitter;
    atomic_int on_emitter_thread;
} Collected;

static void collect(void *ctx, const char *line)
{
    Collected *c = ctx;
    if (pthread_equal(pthread_self(), c->emitter))
        atomic_store(&c->on_emitter_thread, 1);
    pthread_mutex_lock(&c->lock);
    c->lines = realloc(c->lines, (c->n + 1) * sizeof(*c->lines));
    c->lines[c->n++] = strdup(line);
    pthread_mutex_unlock(&c->lock);
}

static size_t collected(Collected *c)
{
    pthread_mutex_lock(&c->lock);
    size_t n = c->n;
    pthread_mutex_unlock(&c->lock);
    return n;
}

static void collected_free(Collected *c)
{
    for (size_t i = 0; i < c->n; i++)
        free(c->lines[i]);
    free(c->lines);
    pthread_mutex_destroy(&c->lock);
}

static bool wait_collected(Collected *c, size_t n)
{
    uint64_t until = now_ms() + 5000;
    while (collected(c) < n && now_ms() < until)
        usleep(1000);
    return collected(c) >= n;
}

static void test_subscribers(void **state)
{
    (void)state;
    char err[256];
    /* No sink: the monitor only feeds subscribers (vmm without --event-monitor). */
    EventMonitor *m = event_monitor_new(NULL, -1, err, sizeof(err));
    assert_non_null(m);
    Collected a = {.lock = PTHREAD_MUTEX_INITIALIZER, .emitter = pthread_self()};
    Collected b = {.lock = PTHREAD_MUTEX_INITIALIZER, .emitter = pthread_self()};
    assert_int_equal(event_monitor_subscribe(m, collect, &a), 0);
    assert_int_equal(event_monitor_subscribe(m, collect, &a), -EEXIST);
    assert_int_equal(event_monitor_subscribe(m, collect, &b), 0);
    const char *const props[] = {"id", "_disk0", NULL};
    event_monitor_emit(m, "vm", "booted", NULL);
    event_monitor_emit(m, "virtio-device", "activated", props);
    assert_true(wait_collected(&a, 2));
    assert_true(wait_collected(&b, 2));
    event_monitor_unsubscribe(m, collect, &b);
    event_monitor_emit(m, "vm", "shutdown", NULL);
    assert_true(wait_collected(&a, 3));
    event_monitor_free(m);

    assert_int_equal(a.n, 3);
    assert_int_equal(b.n, 2);
    check_line(a.lines[0], "vm", "booted", NULL);
    check_line(a.lines[1], "virtio-device", "activated", props);
    check_line(a.lines[2], "vm", "shutdown", NULL);
    assert_string_equal(a.lines[0], b.lines[0]);
    /* Never a newline in what subscribers get. */
    assert_null(strchr(a.lines[0], '\n'));
    assert_int_equal(atomic_load(&a.on_emitter_thread), 0);
    collected_free(&a);
    collected_free(&b);
}

/* A stalled sink must not starve subscribers: they are fed first. */
static void test_stalled_sink_does_not_starve_subscribers(void **state)
{
    (void)state;
    int p[2];
    assert_int_equal(pipe2(p, O_CLOEXEC), 0);
    char err[256];
    EventMonitor *m = event_monitor_new(NULL, p[1], err, sizeof(err));
    Collected a = {.lock = PTHREAD_MUTEX_INITIALIZER, .emitter = pthread_self()};
    assert_int_equal(event_monitor_subscribe(m, collect, &a), 0);
    /* Fill the pipe and the writer's sink queue, slowly enough that the
     * writer keeps up with the emit queue itself. */
    for (int i = 0; i < 3000; i++) {
        event_monitor_emit(m, "vm", "tick", NULL);
        if (i % 256 == 0)
            assert_true(wait_collected(&a, (size_t)i + 1));
    }
    event_monitor_emit(m, "vm", "last", NULL);
    assert_true(wait_collected(&a, 3001));
    check_line(a.lines[3000], "vm", "last", NULL);
    assert_true(event_monitor_dropped(m) > 0); /* the sink side */
    event_monitor_unsubscribe(m, collect, &a);
    event_monitor_free(m);
    close(p[0]);
    collected_free(&a);
}

typedef struct SelfRemover {
    EventMonitor *m;
    atomic_int calls;
} SelfRemover;

static void remove_self(void *ctx, const char *line)
{
    (void)line;
    SelfRemover *s = ctx;
    atomic_fetch_add(&s->calls, 1);
    event_monitor_unsubscribe(s->m, remove_self, s);
}

static void test_unsubscribe_inside_callback(void **state)
{
    (void)state;
    char err[256];
    EventMonitor *m = event_monitor_new(NULL, -1, err, sizeof(err));
    SelfRemover s = {.m = m};
    Collected a = {.lock = PTHREAD_MUTEX_INITIALIZER, .emitter = pthread_self()};
    assert_int_equal(event_monitor_subscribe(m, remove_self, &s), 0);
    assert_int_equal(event_monitor_subscribe(m, collect, &a), 0);
    for (int i = 0; i < 10; i++)
        event_monitor_emit(m, "vm", "tick", NULL);
    assert_true(wait_collected(&a, 10));
    event_monitor_free(m);
    assert_int_equal(atomic_load(&s.calls), 1);
    collected_free(&a);
}

static void test_fifo_without_reader(void **state)
{
    (void)state;
    char *path = temp_path("fifo");
    assert_int_equal(mkfifo(path, 0600), 0);
    char err[256];
    uint64_t t0 = now_ms();
    EventMonitor *m = event_monitor_new(path, -1, err, sizeof(err));
    assert_non_null(m);
    assert_true(now_ms() - t0 < 1000);
    event_monitor_emit(m, "vmm", "starting", NULL);
    event_monitor_emit(m, "vm", "booted", NULL);
    /* A reader that comes later still gets what was emitted. */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    assert_true(fd >= 0);
    char buf[4096];
    size_t len = 0;
    uint64_t until = now_ms() + 5000;
    while (now_ms() < until) {
        ssize_t r = read(fd, buf + len, sizeof(buf) - 1 - len);
        if (r > 0)
            len += (size_t)r;
        Lines l = split_lines(buf, len);
        size_t n = l.n;
        lines_free(&l);
        if (n >= 2)
            break;
        usleep(1000);
    }
    Lines l = split_lines(buf, len);
    assert_int_equal(l.n, 2);
    check_line(l.v[0], "vmm", "starting", NULL);
    check_line(l.v[1], "vm", "booted", NULL);
    lines_free(&l);
    event_monitor_free(m);
    close(fd);
    unlink(path);
    free(path);
}

/* The FIFO's reader goes away mid-run: no SIGPIPE death, and the next
 * reader gets later events. */
static void test_fifo_reader_leaves(void **state)
{
    (void)state;
    char *path = temp_path("fifo2");
    assert_int_equal(mkfifo(path, 0600), 0);
    int rd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    assert_true(rd >= 0);
    char err[256];
    EventMonitor *m = event_monitor_new(path, -1, err, sizeof(err));
    assert_non_null(m);
    close(rd);
    for (int i = 0; i < 10; i++) {
        event_monitor_emit(m, "vm", "lost", NULL);
        usleep(2000);
    }
    usleep(50 * 1000);
    rd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    assert_true(rd >= 0);
    event_monitor_emit(m, "vm", "seen", NULL);
    char buf[8192];
    size_t len = 0;
    uint64_t until = now_ms() + 5000;
    while (now_ms() < until && !memmem(buf, len, "seen", 4)) {
        ssize_t r = read(rd, buf + len, sizeof(buf) - len);
        if (r > 0)
            len += (size_t)r;
        else
            usleep(1000);
    }
    assert_non_null(memmem(buf, len, "\"seen\"", 6));
    Lines l = split_lines(buf, len);
    assert_false(l.torn_tail);
    for (size_t i = 0; i < l.n; i++)
        assert_true(strncmp(l.v[i], "{\"timestamp\":", 13) == 0);
    lines_free(&l);
    event_monitor_free(m);
    close(rd);
    unlink(path);
    free(path);
}

static void test_open_errors(void **state)
{
    (void)state;
    char err[256] = "";
    assert_null(event_monitor_new("/nonexistent-dir/events", -1, err, sizeof(err)));
    assert_non_null(strstr(err, "/nonexistent-dir/events"));
    int p[2];
    assert_int_equal(pipe2(p, O_CLOEXEC), 0);
    err[0] = '\0';
    assert_null(event_monitor_new("/tmp/x", p[1], err, sizeof(err)));
    assert_non_null(strstr(err, "exclusive"));
    /* A read-only fd is refused (and, being owned, closed). */
    err[0] = '\0';
    assert_null(event_monitor_new(NULL, p[0], err, sizeof(err)));
    assert_non_null(strstr(err, "not open for writing"));
    assert_true(fcntl(p[0], F_GETFD) < 0 && errno == EBADF);
    assert_true(fcntl(p[1], F_GETFD) < 0 && errno == EBADF);
    assert_null(event_monitor_new(NULL, 9999, err, sizeof(err)));
    /* NULL-safe. */
    event_monitor_emit(NULL, "vm", "booted", NULL);
    event_monitor_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_file_sink_exact_format),
        cmocka_unit_test(test_file_sink_appends),
        cmocka_unit_test(test_timestamps_are_time_since_start),
        cmocka_unit_test(test_concurrent_emitters),
        cmocka_unit_test(test_pipe_fd_sink),
        cmocka_unit_test(test_socket_fd_sink),
        cmocka_unit_test(test_stalled_reader_never_blocks_emit),
        cmocka_unit_test(test_stalled_reader_accounting),
        cmocka_unit_test(test_subscribers),
        cmocka_unit_test(test_stalled_sink_does_not_starve_subscribers),
        cmocka_unit_test(test_unsubscribe_inside_callback),
        cmocka_unit_test(test_fifo_without_reader),
        cmocka_unit_test(test_fifo_reader_leaves),
        cmocka_unit_test(test_open_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
