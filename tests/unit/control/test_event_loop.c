/* SPDX-License-Identifier: Apache-2.0 */
/* The event loop: dispatch, quit from threads and signal handlers, and the
 * removal cases that decide whether a connection can free itself. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "control_test.h"
#include "event_loop.h"

typedef struct Pipe {
    int r, w;
} Pipe;

static Pipe make_pipe(void)
{
    int fds[2];
    assert_int_equal(pipe2(fds, O_CLOEXEC | O_NONBLOCK), 0);
    return (Pipe){fds[0], fds[1]};
}

static void poke(int fd)
{
    assert_int_equal(write(fd, "x", 1), 1);
}

typedef struct Counter {
    EventLoop *loop;
    int fd;
    atomic_int calls;
    bool quit_after;
} Counter;

static void on_counter(void *ctx, uint32_t events)
{
    Counter *c = ctx;
    /* No cmocka asserts here: this may run on the loop's thread. */
    if (!(events & EPOLLIN))
        return;
    char buf[64];
    while (read(c->fd, buf, sizeof(buf)) > 0)
        ;
    atomic_fetch_add(&c->calls, 1);
    if (c->quit_after)
        event_loop_quit(c->loop);
}

static void test_dispatch_and_quit(void **state)
{
    (void)state;
    EventLoop *loop = event_loop_new();
    assert_non_null(loop);
    Pipe p = make_pipe();
    Counter c = {.loop = loop, .fd = p.r, .quit_after = true};
    assert_int_equal(event_loop_add(loop, p.r, EPOLLIN, on_counter, &c), 0);
    poke(p.w);
    assert_int_equal(event_loop_run(loop), 0);
    assert_int_equal(atomic_load(&c.calls), 1);
    assert_int_equal(event_loop_remove(loop, p.r), 0);
    event_loop_free(loop);
    close(p.r);
    close(p.w);
}

static void test_argument_errors(void **state)
{
    (void)state;
    EventLoop *loop = event_loop_new();
    Pipe p = make_pipe();
    Counter c = {.loop = loop, .fd = p.r};
    assert_int_equal(event_loop_add(loop, p.r, EPOLLIN, on_counter, &c), 0);
    assert_int_equal(event_loop_add(loop, p.r, EPOLLIN, on_counter, &c), -EEXIST);
    assert_int_equal(event_loop_add(loop, -1, EPOLLIN, on_counter, &c), -EINVAL);
    assert_int_equal(event_loop_add(loop, p.w, EPOLLIN, NULL, &c), -EINVAL);
    assert_int_equal(event_loop_modify(loop, p.w, EPOLLOUT), -ENOENT);
    assert_int_equal(event_loop_remove(loop, p.w), -ENOENT);
    assert_int_equal(event_loop_modify(loop, p.r, EPOLLIN | EPOLLRDHUP), 0);
    assert_int_equal(event_loop_remove(loop, p.r), 0);
    assert_int_equal(event_loop_remove(loop, p.r), -ENOENT);
    /* Not a pollable fd: epoll's own error comes back. */
    int dir = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    assert_int_equal(event_loop_add(loop, dir, EPOLLIN, on_counter, &c), -EPERM);
    close(dir);
    event_loop_free(loop);
    close(p.r);
    close(p.w);
}

static void test_quit_before_run_is_kept(void **state)
{
    (void)state;
    EventLoop *loop = event_loop_new();
    event_loop_quit(loop);
    assert_int_equal(event_loop_run(loop), 0);
    event_loop_free(loop);
}

static void test_quit_from_other_thread_and_modify(void **state)
{
    (void)state;
    EventLoop *loop = event_loop_new();
    Pipe p = make_pipe();
    Counter c = {.loop = loop, .fd = p.r};
    /* Watched for nothing at first: the poke must not be delivered. */
    assert_int_equal(event_loop_add(loop, p.r, 0, on_counter, &c), 0);
    LoopThread lt;
    assert_int_equal(loop_thread_start(&lt, loop), 0);
    poke(p.w);
    usleep(50 * 1000);
    assert_int_equal(atomic_load(&c.calls), 0);
    assert_int_equal(event_loop_modify(loop, p.r, EPOLLIN), 0);
    uint64_t until = now_ms() + 5000;
    while (atomic_load(&c.calls) == 0 && now_ms() < until)
        usleep(1000);
    assert_int_equal(atomic_load(&c.calls), 1);
    assert_int_equal(loop_thread_stop(&lt), 0);
    event_loop_remove(loop, p.r);
    event_loop_free(loop);
    close(p.r);
    close(p.w);
}

/* Two sources ready in the same batch; whichever runs first tears both down
 * and frees both contexts. ASan catches any later use of the other one. */
typedef struct Pair {
    EventLoop *loop;
    int fd;
    struct Pair *other;
} Pair;

static atomic_int pair_calls;

static void on_pair(void *ctx, uint32_t events)
{
    (void)events;
    Pair *me = ctx;
    Pair *other = me->other;
    EventLoop *loop = me->loop;
    atomic_fetch_add(&pair_calls, 1);
    assert_int_equal(event_loop_remove(loop, other->fd), 0);
    close(other->fd);
    free(other);
    assert_int_equal(event_loop_remove(loop, me->fd), 0);
    close(me->fd);
    free(me);
    event_loop_quit(loop);
}

static void test_remove_inside_callback(void **state)
{
    (void)state;
    EventLoop *loop = event_loop_new();
    Pipe a = make_pipe(), b = make_pipe();
    Pair *pa = calloc(1, sizeof(*pa)), *pb = calloc(1, sizeof(*pb));
    *pa = (Pair){loop, a.r, pb};
    *pb = (Pair){loop, b.r, pa};
    assert_int_equal(event_loop_add(loop, a.r, EPOLLIN, on_pair, pa), 0);
    assert_int_equal(event_loop_add(loop, b.r, EPOLLIN, on_pair, pb), 0);
    poke(a.w);
    poke(b.w);
    atomic_store(&pair_calls, 0);
    assert_int_equal(event_loop_run(loop), 0);
    assert_int_equal(atomic_load(&pair_calls), 1);
    event_loop_free(loop);
    close(a.w);
    close(b.w);
}

/* A callback closes its fd and a new source gets the same fd number before
 * the batch ends: the new source must not receive the old one's event. */
typedef struct Reuse {
    EventLoop *loop;
    int fd;
    Counter *fresh;
    Pipe fresh_pipe;
} Reuse;

static atomic_int reuse_calls;

static void on_reuse(void *ctx, uint32_t events)
{
    (void)events;
    Reuse *r = ctx;
    atomic_fetch_add(&reuse_calls, 1);
    event_loop_remove(r->loop, r->fd);
    close(r->fd);
    r->fresh_pipe = make_pipe();
    r->fresh->fd = r->fresh_pipe.r;
    assert_int_equal(event_loop_add(r->loop, r->fresh_pipe.r, EPOLLIN, on_counter, r->fresh), 0);
    event_loop_quit(r->loop);
}

static void test_fd_reuse_in_batch(void **state)
{
    (void)state;
    EventLoop *loop = event_loop_new();
    Pipe p = make_pipe();
    Counter fresh = {.loop = loop};
    Reuse r = {.loop = loop, .fd = p.r, .fresh = &fresh};
    assert_int_equal(event_loop_add(loop, p.r, EPOLLIN, on_reuse, &r), 0);
    poke(p.w);
    atomic_store(&reuse_calls, 0);
    assert_int_equal(event_loop_run(loop), 0);
    assert_int_equal(atomic_load(&reuse_calls), 1);
    assert_int_equal(atomic_load(&fresh.calls), 0);
    event_loop_remove(loop, r.fresh_pipe.r);
    event_loop_free(loop);
    close(r.fresh_pipe.r);
    close(r.fresh_pipe.w);
    close(p.w);
}

/* Removal from another thread returns only after the in-flight callback. */
typedef struct Slow {
    int fd;
    atomic_int entered;
    atomic_int finished;
} Slow;

static void on_slow(void *ctx, uint32_t events)
{
    (void)events;
    Slow *s = ctx;
    char buf[8];
    while (read(s->fd, buf, sizeof(buf)) > 0)
        ;
    atomic_store(&s->entered, 1);
    usleep(200 * 1000);
    atomic_store(&s->finished, 1);
}

static void test_remove_from_other_thread_waits(void **state)
{
    (void)state;
    EventLoop *loop = event_loop_new();
    Pipe p = make_pipe();
    Slow *s = calloc(1, sizeof(*s));
    s->fd = p.r;
    assert_int_equal(event_loop_add(loop, p.r, EPOLLIN, on_slow, s), 0);
    LoopThread lt;
    assert_int_equal(loop_thread_start(&lt, loop), 0);
    poke(p.w);
    uint64_t until = now_ms() + 5000;
    while (!atomic_load(&s->entered) && now_ms() < until)
        usleep(1000);
    assert_true(atomic_load(&s->entered));
    assert_int_equal(event_loop_remove(loop, p.r), 0);
    assert_true(atomic_load(&s->finished));
    free(s);
    /* Still readable: a dispatch now would be a use after free. */
    poke(p.w);
    usleep(20 * 1000);
    assert_int_equal(loop_thread_stop(&lt), 0);
    event_loop_free(loop);
    close(p.r);
    close(p.w);
}

static EventLoop *signal_loop;

static void on_sigusr2(int sig)
{
    (void)sig;
    event_loop_quit(signal_loop);
}

static void test_quit_from_signal_handler(void **state)
{
    (void)state;
    signal_loop = event_loop_new();
    struct sigaction sa = {.sa_handler = on_sigusr2};
    sigemptyset(&sa.sa_mask);
    struct sigaction old;
    assert_int_equal(sigaction(SIGUSR2, &sa, &old), 0);
    LoopThread lt;
    assert_int_equal(loop_thread_start(&lt, signal_loop), 0);
    usleep(20 * 1000);
    /* The handler interrupts epoll_wait (EINTR) on the loop's own thread. */
    assert_int_equal(pthread_kill(lt.thread, SIGUSR2), 0);
    pthread_join(lt.thread, NULL);
    assert_int_equal(lt.result, 0);
    sigaction(SIGUSR2, &old, NULL);
    event_loop_free(signal_loop);
}

static void test_run_twice(void **state)
{
    (void)state;
    EventLoop *loop = event_loop_new();
    for (int i = 0; i < 2; i++) {
        LoopThread lt;
        assert_int_equal(loop_thread_start(&lt, loop), 0);
        usleep(5 * 1000);
        assert_int_equal(loop_thread_stop(&lt), 0);
    }
    event_loop_free(loop);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dispatch_and_quit),
        cmocka_unit_test(test_argument_errors),
        cmocka_unit_test(test_quit_before_run_is_kept),
        cmocka_unit_test(test_quit_from_other_thread_and_modify),
        cmocka_unit_test(test_remove_inside_callback),
        cmocka_unit_test(test_fd_reuse_in_batch),
        cmocka_unit_test(test_remove_from_other_thread_waits),
        cmocka_unit_test(test_quit_from_signal_handler),
        cmocka_unit_test(test_run_twice),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
