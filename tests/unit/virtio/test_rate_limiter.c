/* SPDX-License-Identifier: Apache-2.0 */
/* The token buckets behind bw_* / ops_* and --rate-limit-group, on a
 * clock the tests choose, and the handles' timers on the real one. */
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/timerfd.h>

#include <cmocka.h>

#include "rate_limiter.h"

#define MS 1000000ULL

static RateLimiterConfig limits(uint64_t bw_size, uint64_t bw_burst, uint64_t bw_refill_ms, uint64_t ops_size,
                                uint64_t ops_burst, uint64_t ops_refill_ms)
{
    RateLimiterConfig c;
    memset(&c, 0, sizeof(c));
    c.has_bandwidth = bw_size || bw_refill_ms;
    c.bandwidth.size = bw_size;
    c.bandwidth.one_time_burst = (OptU64){.present = bw_burst != 0, .value = bw_burst};
    c.bandwidth.refill_time = bw_refill_ms;
    c.has_ops = ops_size || ops_refill_ms;
    c.ops.size = ops_size;
    c.ops.one_time_burst = (OptU64){.present = ops_burst != 0, .value = ops_burst};
    c.ops.refill_time = ops_refill_ms;
    return c;
}

static bool take(RateLimiter *l, uint64_t ops, uint64_t bytes, uint64_t now, uint64_t *wait)
{
    uint64_t w = 0;
    bool ok = rate_limiter_consume(l, ops, bytes, now, &w);
    if (wait)
        *wait = w;
    return ok;
}

static void test_zero_config_is_unlimited(void **state)
{
    (void)state;
    const RateLimiterConfig none[] = {
        limits(0, 0, 0, 0, 0, 0),     /* nothing given */
        limits(0, 0, 100, 0, 0, 100), /* no size */
        limits(1000, 0, 0, 10, 0, 0), /* no refill time */
        limits(0, 500, 0, 0, 500, 0), /* a burst alone limits nothing */
    };
    for (size_t i = 0; i < sizeof(none) / sizeof(none[0]); i++) {
        assert_false(rate_limiter_config_enabled(&none[i]));
        RateLimiter *l = rate_limiter_new(&none[i]);
        assert_non_null(l);
        uint64_t now = rate_limiter_now();
        for (int k = 0; k < 1000; k++)
            assert_true(take(l, 1000, UINT64_MAX / 2, now, NULL));
        rate_limiter_charge(l, UINT64_MAX, UINT64_MAX, now);
        assert_true(take(l, 1, 1, now, NULL));
        rate_limiter_unref(l);
    }
    RateLimiterConfig ops_only = limits(0, 0, 0, 10, 0, 100);
    assert_true(rate_limiter_config_enabled(&ops_only));
}

static void test_refill(void **state)
{
    (void)state;
    RateLimiterConfig c = limits(0, 0, 0, 10, 0, 100); /* 10 ops per 100 ms: one per 10 ms */
    RateLimiter *l = rate_limiter_new(&c);
    uint64_t t = rate_limiter_now(), wait;
    /* It starts full. */
    for (int i = 0; i < 10; i++)
        assert_true(take(l, 1, 0, t, NULL));
    assert_false(take(l, 1, 0, t, &wait));
    assert_int_equal(wait, 10 * MS);
    assert_false(take(l, 1, 0, t + 10 * MS - 1, &wait));
    assert_int_equal(wait, 1);
    assert_true(take(l, 1, 0, t + 10 * MS, NULL));
    assert_false(take(l, 1, 0, t + 10 * MS, NULL));
    /* Linear: half the refill time, half the bucket; fractions carry over. */
    t += 10 * MS;
    assert_false(take(l, 6, 0, t + 55 * MS, &wait));
    assert_int_equal(wait, 5 * MS);
    assert_true(take(l, 5, 0, t + 55 * MS, NULL));
    assert_true(take(l, 1, 0, t + 60 * MS, NULL));
    /* Idle time fills it to size and no further. */
    t += 60 * MS;
    assert_true(take(l, 10, 0, t + 10000 * MS, NULL));
    assert_false(take(l, 1, 0, t + 10000 * MS, NULL));
    /* A clock read earlier than the last update (another thread) earns nothing. */
    assert_false(take(l, 1, 0, t, NULL));
    rate_limiter_unref(l);
}

static void test_one_time_burst(void **state)
{
    (void)state;
    RateLimiterConfig c = limits(0, 0, 0, 2, 5, 1000);
    RateLimiter *l = rate_limiter_new(&c);
    uint64_t t = rate_limiter_now(), wait;
    /* Burst first, then the bucket; a request may take from both. */
    assert_true(take(l, 4, 0, t, NULL));
    assert_true(take(l, 3, 0, t, NULL));
    assert_false(take(l, 1, 0, t, &wait));
    assert_int_equal(wait, 500 * MS);
    /* The burst never comes back: a full refill gives the bucket only. */
    assert_true(take(l, 2, 0, t + 1000 * MS, NULL));
    assert_false(take(l, 1, 0, t + 1000 * MS, NULL));
    rate_limiter_unref(l);

    /* A request refused for its bytes keeps the burst its op would have used. */
    c = limits(100, 0, 1000, 10, 5, 1000);
    l = rate_limiter_new(&c);
    t = rate_limiter_now();
    assert_true(take(l, 1, 100, t, NULL));
    assert_false(take(l, 1, 1, t, NULL));
    assert_true(take(l, 14, 0, t, NULL)); /* 4 of burst, 10 in the bucket */
    assert_false(take(l, 1, 0, t, NULL));
    rate_limiter_unref(l);
}

static void test_both_buckets_or_neither(void **state)
{
    (void)state;
    RateLimiterConfig c = limits(100, 0, 1000, 10, 0, 1000);
    RateLimiter *l = rate_limiter_new(&c);
    uint64_t t = rate_limiter_now(), wait;
    assert_true(take(l, 1, 50, t, NULL));
    /* The bytes are missing: the op is not taken either. */
    assert_false(take(l, 1, 60, t, &wait));
    assert_int_equal(wait, 100 * MS); /* 10 bytes at 10 ms each */
    for (int i = 0; i < 9; i++)
        assert_true(take(l, 1, 0, t, NULL));
    /* Now the ops are missing; the wait is the longer of the two. */
    assert_false(take(l, 1, 60, t, &wait));
    assert_int_equal(wait, 100 * MS);
    assert_false(take(l, 2, 0, t, &wait));
    assert_int_equal(wait, 200 * MS);
    rate_limiter_unref(l);
}

static void test_oversize_request(void **state)
{
    (void)state;
    /* 1000 bytes per 100 ms: a byte takes 100 us. */
    RateLimiterConfig c = limits(1000, 0, 100, 0, 0, 0);
    RateLimiter *l = rate_limiter_new(&c);
    uint64_t t = rate_limiter_now(), wait;
    /* Five buckets' worth goes through at once from a full bucket... */
    assert_true(take(l, 0, 5000, t, NULL));
    /* ...and whatever follows waits the 4000 bytes of excess plus its own. */
    assert_false(take(l, 0, 1, t, &wait));
    assert_int_equal(wait, 4001 * 100000ULL);
    assert_false(take(l, 0, 1, t + 400 * MS, &wait));
    assert_int_equal(wait, 100000);
    assert_true(take(l, 0, 1, t + 400 * MS + 100000, NULL));

    /* From a bucket that is not full it waits until the bucket is. */
    t += 10000 * MS;
    assert_true(take(l, 0, 1, t, NULL));
    assert_false(take(l, 0, 3000, t, &wait));
    assert_int_equal(wait, 100000);
    assert_true(take(l, 0, 3000, t + wait, NULL));
    rate_limiter_unref(l);
}

static void test_charge_makes_debt(void **state)
{
    (void)state;
    RateLimiterConfig c = limits(1000, 0, 100, 10, 0, 100);
    RateLimiter *l = rate_limiter_new(&c);
    uint64_t t = rate_limiter_now(), wait;
    rate_limiter_charge(l, 1, 1500, t); /* a received packet larger than the bucket */
    assert_false(take(l, 0, 0, t, &wait));
    assert_int_equal(wait, 50 * MS); /* 500 bytes owed */
    assert_true(take(l, 0, 0, t + 50 * MS, NULL));
    rate_limiter_unref(l);
}

/* ---------------------------------------------------- the group, threaded */

#define GROUP_OPS   2000
#define GROUP_USERS 4

typedef struct GroupUser {
    RateLimiterHandle h;
    uint64_t admitted;
    bool timer_armed;
} GroupUser;

static void *group_user(void *arg)
{
    GroupUser *u = arg;
    /* One more than the group holds: each user is refused at least once. */
    for (int i = 0; i < GROUP_OPS + 1; i++)
        if (rate_limiter_handle_admit(&u->h, 1, 0))
            u->admitted++;
    struct itimerspec its;
    u->timer_armed = timerfd_gettime(u->h.timer_fd, &its) == 0 && u->h.armed &&
                     (its.it_value.tv_sec || its.it_value.tv_nsec);
    rate_limiter_handle_destroy(&u->h);
    return NULL;
}

static void test_group_shared_across_threads(void **state)
{
    (void)state;
    /* A bucket that refills over ~11 days: nothing comes back during the
     * test, so the users together get exactly its size. */
    RateLimiterConfig c = limits(0, 0, 0, GROUP_OPS, 0, 1000000000ULL);
    RateLimiter *group = rate_limiter_new(&c);
    GroupUser users[GROUP_USERS];
    pthread_t threads[GROUP_USERS];
    memset(users, 0, sizeof(users));
    for (int i = 0; i < GROUP_USERS; i++)
        assert_int_equal(rate_limiter_handle_init(&users[i].h, group), 0);
    /* The handles hold references of their own; the last to go frees it. */
    rate_limiter_unref(group);
    for (int i = 0; i < GROUP_USERS; i++)
        assert_int_equal(pthread_create(&threads[i], NULL, group_user, &users[i]), 0);
    uint64_t total = 0;
    for (int i = 0; i < GROUP_USERS; i++) {
        pthread_join(threads[i], NULL);
        total += users[i].admitted;
        /* Each was refused at some point and armed its own timer. */
        assert_true(users[i].timer_armed);
    }
    assert_int_equal(total, GROUP_OPS);
}

/* ------------------------------------------------------------ the timer */

static uint64_t elapsed_ms_since(uint64_t start)
{
    return (rate_limiter_now() - start) / MS;
}

static void test_handle_timer(void **state)
{
    (void)state;
    RateLimiterConfig c = limits(0, 0, 0, 1, 0, 50);
    RateLimiter *l = rate_limiter_new(&c);
    RateLimiterHandle h;
    assert_int_equal(rate_limiter_handle_init(&h, l), 0);
    rate_limiter_unref(l);
    uint64_t start = rate_limiter_now();
    assert_true(rate_limiter_handle_admit(&h, 1, 0));
    assert_false(rate_limiter_handle_expired(&h)); /* never armed */
    assert_false(rate_limiter_handle_admit(&h, 1, 0));
    assert_true(h.armed);
    assert_false(rate_limiter_handle_admit(&h, 1, 0)); /* still waiting */
    struct pollfd p = {.fd = h.timer_fd, .events = POLLIN};
    assert_int_equal(poll(&p, 1, 5000), 1);
    assert_true(elapsed_ms_since(start) >= 50);
    assert_true(rate_limiter_handle_expired(&h));
    assert_false(h.armed);
    assert_false(rate_limiter_handle_expired(&h)); /* read once */
    assert_true(rate_limiter_handle_admit(&h, 1, 0));
    rate_limiter_handle_destroy(&h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_zero_config_is_unlimited),
        cmocka_unit_test(test_refill),
        cmocka_unit_test(test_one_time_burst),
        cmocka_unit_test(test_both_buckets_or_neither),
        cmocka_unit_test(test_oversize_request),
        cmocka_unit_test(test_charge_makes_debt),
        cmocka_unit_test(test_group_shared_across_threads),
        cmocka_unit_test(test_handle_timer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
