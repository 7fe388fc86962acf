/* SPDX-License-Identifier: Apache-2.0 */
/* Helpers shared by the control-plane tests: an event loop on its own thread,
 * and clock/polling helpers. Header-only so each test stays one executable. */
#pragma once

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <time.h>

#include "event_loop.h"

typedef struct LoopThread {
    EventLoop *loop;
    pthread_t thread;
    int result;
} LoopThread;

static inline void *loop_thread_main(void *arg)
{
    LoopThread *lt = arg;
    lt->result = event_loop_run(lt->loop);
    return NULL;
}

static inline int loop_thread_start(LoopThread *lt, EventLoop *loop)
{
    lt->loop = loop;
    lt->result = 1;
    return pthread_create(&lt->thread, NULL, loop_thread_main, lt);
}

static inline int loop_thread_stop(LoopThread *lt)
{
    event_loop_quit(lt->loop);
    pthread_join(lt->thread, NULL);
    return lt->result;
}

static inline uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Waits until fd is readable; false on timeout. */
static inline bool wait_readable(int fd, int timeout_ms)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    int r;
    do {
        r = poll(&p, 1, timeout_ms);
    } while (r < 0 && errno == EINTR);
    return r > 0;
}
