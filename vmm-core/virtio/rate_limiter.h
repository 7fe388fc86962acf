/* SPDX-License-Identifier: Apache-2.0 */
/*
 * I/O rate limiting with token buckets, as Cloud Hypervisor's --disk/--net
 * bw_* and ops_* keys and --rate-limit-group define them: a bandwidth
 * bucket (bytes) and an operations bucket, each of `size` tokens refilled
 * linearly over `refill_time` ms, starting full, plus a `one_time_burst`
 * credit that is spent first and never refilled. A bucket with size 0 or
 * refill_time 0 does not limit.
 *
 * A RateLimiter is the buckets; several devices (the disks of one
 * --rate-limit-group) may share one, from their own worker threads. Each
 * device holds a RateLimiterHandle: the limiter plus its own timerfd, which
 * the device's worker watches. A request that does not fit is not done: the
 * device leaves it in the ring and arms the timer for when the buckets will
 * hold enough, then retries. Nothing waits in a loop and nothing is
 * dropped; a shared limiter needs no thread of its own, since every waiting
 * device wakes on its own timer.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "config.h"

typedef struct RateLimiter RateLimiter;

/* Reference count 1. NULL only when out of memory. */
RateLimiter *rate_limiter_new(const RateLimiterConfig *cfg);
RateLimiter *rate_limiter_ref(RateLimiter *l);
void rate_limiter_unref(RateLimiter *l);
/* Whether cfg limits anything at all (a bucket with a size and a refill
 * time): devices without a limit need no limiter or timer. */
bool rate_limiter_config_enabled(const RateLimiterConfig *cfg);

/* Takes `ops` and `bytes` tokens at time now_ns (CLOCK_MONOTONIC) from both
 * buckets, or nothing: then false, and *wait_ns is how long until they
 * would be there (if no one else takes them first). A request larger than
 * a bucket goes once that bucket is full and leaves it owing the rest, so
 * what follows waits as long as the excess takes to refill. */
bool rate_limiter_consume(RateLimiter *l, uint64_t ops, uint64_t bytes, uint64_t now_ns, uint64_t *wait_ns);
/* Takes the tokens whatever the buckets hold (what exceeds them is owed):
 * for work whose size is only known once done, such as a received packet. */
void rate_limiter_charge(RateLimiter *l, uint64_t ops, uint64_t bytes, uint64_t now_ns);
uint64_t rate_limiter_now(void);

/* One device's use of a limiter. Used by the device's worker only. */
typedef struct RateLimiterHandle {
    RateLimiter *limiter; /* NULL: not limited */
    int timer_fd;         /* timerfd, non-blocking; the worker watches it */
    bool armed;
} RateLimiterHandle;

/* Takes a reference on l and creates the timer (at setup, not in the
 * worker: its seccomp filter has no timerfd_create). -errno on failure. */
int rate_limiter_handle_init(RateLimiterHandle *h, RateLimiter *l);
void rate_limiter_handle_destroy(RateLimiterHandle *h);
/* rate_limiter_consume() now; on false the timer is armed for the retry. */
bool rate_limiter_handle_admit(RateLimiterHandle *h, uint64_t ops, uint64_t bytes);
void rate_limiter_handle_charge(RateLimiterHandle *h, uint64_t ops, uint64_t bytes);
/* The timer fd was readable: true when the timer had expired (it is read
 * and disarmed, and the device should retry what it left waiting). */
bool rate_limiter_handle_expired(RateLimiterHandle *h);
