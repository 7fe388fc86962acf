/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A small epoll loop for the VMM's non-vCPU work (serial input, API socket,
 * signals). Callbacks run on the loop's thread. Thread-safe add/remove.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

typedef struct EventLoop EventLoop;
typedef void (*EventCallback)(void *ctx, uint32_t epoll_events);

EventLoop *event_loop_new(void);
void event_loop_free(EventLoop *loop);
/* events: EPOLLIN/EPOLLOUT/...; the same fd may be added once. */
int event_loop_add(EventLoop *loop, int fd, uint32_t events, EventCallback cb, void *ctx);
int event_loop_modify(EventLoop *loop, int fd, uint32_t events);
int event_loop_remove(EventLoop *loop, int fd);
/* Runs until event_loop_quit(); returns 0, or -errno if epoll fails. */
int event_loop_run(EventLoop *loop);
/* Callable from any thread or a signal-safe context (writes an eventfd). */
void event_loop_quit(EventLoop *loop);
