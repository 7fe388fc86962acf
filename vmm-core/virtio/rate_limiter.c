/* SPDX-License-Identifier: Apache-2.0 */
#include "rate_limiter.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#define NS_PER_MS 1000000ULL
/* The shortest retry timer. Refill times are whole milliseconds, so no
 * bucket overflows (loses tokens) while a device waits this long, and a
 * fast bucket with small requests cannot wake a worker more than 1000
 * times a second. */
#define MIN_WAIT_NS NS_PER_MS

typedef unsigned __int128 u128;

typedef struct TokenBucket {
    uint64_t size;      /* 0: this bucket does not limit */
    uint64_t refill_ns; /* from empty to size */
    uint64_t burst;     /* one-time credit left */
    uint64_t budget;    /* tokens in the bucket, at most size */
    uint64_t debt;      /* taken beyond an empty bucket; repaid before budget grows */
    uint64_t last_ns;   /* budget and debt are up to date at this time */
} TokenBucket;

struct RateLimiter {
    pthread_mutex_t lock; /* the buckets: disks of a group share them */
    TokenBucket bandwidth, ops;
    int refs;
};

static uint64_t sat_add(uint64_t a, uint64_t b)
{
    return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

static bool bucket_config_enabled(bool present, const TokenBucketConfig *c)
{
    return present && c->size && c->refill_time;
}

static void bucket_init(TokenBucket *b, bool present, const TokenBucketConfig *c, uint64_t now)
{
    if (!bucket_config_enabled(present, c))
        return; /* zeroed: unlimited, as Cloud Hypervisor does */
    b->size = c->size;
    b->refill_ns = c->refill_time > UINT64_MAX / NS_PER_MS ? UINT64_MAX : c->refill_time * NS_PER_MS;
    b->burst = c->one_time_burst.present ? c->one_time_burst.value : 0;
    b->budget = c->size;
    b->last_ns = now;
}

/* Credits what the time since last_ns earned: first the debt, then the
 * budget up to size. */
static void bucket_refill(TokenBucket *b, uint64_t now)
{
    if (now <= b->last_ns)
        return; /* another thread read the clock later and got here first */
    u128 earned = (u128)(now - b->last_ns) * b->size / b->refill_ns;
    u128 room = (u128)b->debt + (b->size - b->budget);
    if (earned >= room) {
        b->debt = 0;
        b->budget = b->size;
        b->last_ns = now;
        return;
    }
    u128 paid = earned < b->debt ? earned : b->debt;
    b->debt -= (uint64_t)paid;
    b->budget += (uint64_t)(earned - paid); /* < size - budget */
    /* Advance only by the time those whole tokens took, so the fraction of
     * the next token earned so far is not lost to rounding. earned *
     * refill_ns <= elapsed * size, so this cannot overflow. */
    b->last_ns += (uint64_t)(earned * b->refill_ns / b->size);
}

/* Tokens of an n-token request the bucket itself must hold, after the
 * burst. A request larger than the bucket needs it full. */
static uint64_t bucket_level(const TokenBucket *b, uint64_t n)
{
    uint64_t need = n > b->burst ? n - b->burst : 0;
    return need < b->size ? need : b->size;
}

/* 0 when the bucket (refilled at now) can give n tokens, else the ns
 * until it can. */
static uint64_t bucket_wait(const TokenBucket *b, uint64_t n, uint64_t now)
{
    if (!b->size)
        return 0;
    uint64_t level = bucket_level(b, n);
    if (b->debt == 0 && b->budget >= level)
        return 0;
    u128 missing = (u128)b->debt + level - b->budget;
    if (missing > (~(u128)0 - b->size) / b->refill_ns)
        return UINT64_MAX;
    u128 ns = (missing * b->refill_ns + b->size - 1) / b->size;
    /* Part of the next token is already earned: last_ns only moves by
     * whole tokens. */
    u128 earned_ns = now > b->last_ns ? now - b->last_ns : 0;
    ns = ns > earned_ns ? ns - earned_ns : 1;
    return ns > UINT64_MAX ? UINT64_MAX : (uint64_t)ns;
}

static void bucket_take(TokenBucket *b, uint64_t n)
{
    if (!b->size)
        return;
    uint64_t from_burst = n < b->burst ? n : b->burst;
    b->burst -= from_burst;
    n -= from_burst;
    if (n <= b->budget) {
        b->budget -= n;
    } else {
        b->debt = sat_add(b->debt, n - b->budget);
        b->budget = 0;
    }
}

uint64_t rate_limiter_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

RateLimiter *rate_limiter_new(const RateLimiterConfig *cfg)
{
    RateLimiter *l = calloc(1, sizeof(*l));
    if (!l)
        return NULL;
    pthread_mutex_init(&l->lock, NULL);
    uint64_t now = rate_limiter_now();
    bucket_init(&l->bandwidth, cfg->has_bandwidth, &cfg->bandwidth, now);
    bucket_init(&l->ops, cfg->has_ops, &cfg->ops, now);
    l->refs = 1;
    return l;
}

RateLimiter *rate_limiter_ref(RateLimiter *l)
{
    __atomic_fetch_add(&l->refs, 1, __ATOMIC_RELAXED);
    return l;
}

void rate_limiter_unref(RateLimiter *l)
{
    if (!l || __atomic_sub_fetch(&l->refs, 1, __ATOMIC_ACQ_REL) > 0)
        return;
    pthread_mutex_destroy(&l->lock);
    free(l);
}

bool rate_limiter_config_enabled(const RateLimiterConfig *cfg)
{
    return bucket_config_enabled(cfg->has_bandwidth, &cfg->bandwidth) ||
           bucket_config_enabled(cfg->has_ops, &cfg->ops);
}

bool rate_limiter_consume(RateLimiter *l, uint64_t ops, uint64_t bytes, uint64_t now_ns, uint64_t *wait_ns)
{
    pthread_mutex_lock(&l->lock);
    if (l->bandwidth.size)
        bucket_refill(&l->bandwidth, now_ns);
    if (l->ops.size)
        bucket_refill(&l->ops, now_ns);
    /* Both or neither: an op taken while the bytes are refused would be
     * lost to the guest. */
    uint64_t wb = bucket_wait(&l->bandwidth, bytes, now_ns), wo = bucket_wait(&l->ops, ops, now_ns);
    bool ok = wb == 0 && wo == 0;
    if (ok) {
        bucket_take(&l->bandwidth, bytes);
        bucket_take(&l->ops, ops);
    }
    pthread_mutex_unlock(&l->lock);
    *wait_ns = wb > wo ? wb : wo;
    return ok;
}

void rate_limiter_charge(RateLimiter *l, uint64_t ops, uint64_t bytes, uint64_t now_ns)
{
    pthread_mutex_lock(&l->lock);
    if (l->bandwidth.size) {
        bucket_refill(&l->bandwidth, now_ns);
        bucket_take(&l->bandwidth, bytes);
    }
    if (l->ops.size) {
        bucket_refill(&l->ops, now_ns);
        bucket_take(&l->ops, ops);
    }
    pthread_mutex_unlock(&l->lock);
}

/* ------------------------------------------------------------ handles */

int rate_limiter_handle_init(RateLimiterHandle *h, RateLimiter *l)
{
    h->limiter = NULL;
    h->armed = false;
    h->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (h->timer_fd < 0)
        return -errno;
    h->limiter = rate_limiter_ref(l);
    return 0;
}

void rate_limiter_handle_destroy(RateLimiterHandle *h)
{
    if (h->timer_fd >= 0)
        close(h->timer_fd);
    h->timer_fd = -1;
    rate_limiter_unref(h->limiter);
    h->limiter = NULL;
}

bool rate_limiter_handle_admit(RateLimiterHandle *h, uint64_t ops, uint64_t bytes)
{
    uint64_t wait;
    if (rate_limiter_consume(h->limiter, ops, bytes, rate_limiter_now(), &wait))
        return true;
    /* An armed timer fires no later than this wait asked for: the buckets
     * only ever fill up unless another device of the group takes from
     * them, and then the retry simply arms it again. */
    if (h->armed)
        return false;
    if (wait < MIN_WAIT_NS)
        wait = MIN_WAIT_NS;
    struct itimerspec its = {
        .it_value = {.tv_sec = (time_t)(wait / 1000000000ULL), .tv_nsec = (long)(wait % 1000000000ULL)},
    };
    /* Without a timer nothing would wake the queue again: better to let
     * the request through than to hang the guest's I/O. */
    if (timerfd_settime(h->timer_fd, 0, &its, NULL) < 0)
        return true;
    h->armed = true;
    return false;
}

void rate_limiter_handle_charge(RateLimiterHandle *h, uint64_t ops, uint64_t bytes)
{
    rate_limiter_charge(h->limiter, ops, bytes, rate_limiter_now());
}

bool rate_limiter_handle_expired(RateLimiterHandle *h)
{
    uint64_t ticks;
    if (read(h->timer_fd, &ticks, sizeof(ticks)) != (ssize_t)sizeof(ticks))
        return false; /* EAGAIN: not this device's timer */
    h->armed = false;
    return true;
}
