/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A small epoll loop for the VMM's non-vCPU work (serial input, API socket,
 * signals). Callbacks run on the loop's thread, level-triggered unless the
 * caller passes EPOLLET. add/modify/remove are thread-safe.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/epoll.h>

typedef struct EventLoop EventLoop;
typedef void (*EventCallback)(void *ctx, uint32_t epoll_events);

/* NULL with errno set on failure. */
EventLoop *event_loop_new(void);
/* Not while event_loop_run is running. Does not close the watched fds. */
void event_loop_free(EventLoop *loop);
/* events: EPOLLIN/EPOLLOUT/...; the same fd may be added once (-EEXIST). */
int event_loop_add(EventLoop *loop, int fd, uint32_t events, EventCallback cb, void *ctx);
int event_loop_modify(EventLoop *loop, int fd, uint32_t events);
/*
 * Stops watching fd (remove before close). Once it returns, the callback is
 * never called again, and - when called from another thread - is not running
 * either, so the caller may free ctx. Safe from inside any callback,
 * including fd's own. A thread other than the loop's must not hold a lock the
 * callback takes while removing. -ENOENT if fd is not watched.
 */
int event_loop_remove(EventLoop *loop, int fd);
/* Runs until event_loop_quit(); returns 0, or -errno if epoll fails, or
 * -EBUSY if already running. A quit requested before run is not lost. */
int event_loop_run(EventLoop *loop);
/* Callable from any thread or a signal handler (one write to an eventfd). */
void event_loop_quit(EventLoop *loop);
