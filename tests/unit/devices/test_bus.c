/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The port/MMIO bus: registration rules (overlap, zero length, wrap),
 * dispatch by binary search with base-relative offsets, accesses that
 * straddle a range end, unregistering, unhandled accesses (0xff, counted),
 * and concurrent dispatch against registration.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

#include "device_test.h"

typedef struct Probe {
    uint64_t last_offset;
    uint32_t last_len;
    unsigned reads, writes;
    uint8_t fill;
    uint8_t written[8];
} Probe;

static void probe_read(void *opaque, uint64_t offset, uint8_t *data, uint32_t len)
{
    Probe *p = opaque;
    /* Atomic: the concurrency test has two "vCPUs" in here at once. */
    __atomic_store_n(&p->last_offset, offset, __ATOMIC_RELAXED);
    __atomic_store_n(&p->last_len, len, __ATOMIC_RELAXED);
    __atomic_fetch_add(&p->reads, 1, __ATOMIC_RELAXED);
    memset(data, p->fill, len);
}

static void probe_write(void *opaque, uint64_t offset, const uint8_t *data, uint32_t len)
{
    Probe *p = opaque;
    p->last_offset = offset;
    p->last_len = len;
    __atomic_fetch_add(&p->writes, 1, __ATOMIC_RELAXED);
    memcpy(p->written, data, len < 8 ? len : 8);
}

static BusDevice probe_device(Probe *p, uint8_t fill)
{
    memset(p, 0, sizeof(*p));
    p->fill = fill;
    return (BusDevice){.name = "probe", .opaque = p, .read = probe_read, .write = probe_write};
}

static void test_register_rules(void **state)
{
    (void)state;
    Bus bus;
    bus_init(&bus, "pio");
    Probe p;
    BusDevice d = probe_device(&p, 0x11);

    assert_int_equal(bus_register(&bus, 0x100, 0x10, &d), 0);
    /* Every way to overlap [0x100, 0x110). */
    assert_int_equal(bus_register(&bus, 0x100, 0x10, &d), -EEXIST);
    assert_int_equal(bus_register(&bus, 0xf8, 0x9, &d), -EEXIST);
    assert_int_equal(bus_register(&bus, 0x10f, 1, &d), -EEXIST);
    assert_int_equal(bus_register(&bus, 0x104, 2, &d), -EEXIST);
    assert_int_equal(bus_register(&bus, 0x0, 0x1000, &d), -EEXIST);
    /* Touching is not overlapping. */
    assert_int_equal(bus_register(&bus, 0xf0, 0x10, &d), 0);
    assert_int_equal(bus_register(&bus, 0x110, 0x10, &d), 0);
    /* Zero length, wrap, NULL device. */
    assert_int_equal(bus_register(&bus, 0x2000, 0, &d), -EINVAL);
    assert_int_equal(bus_register(&bus, UINT64_MAX - 1, 3, &d), -EINVAL);
    assert_int_equal(bus_register(&bus, 0x3000, 1, NULL), -EINVAL);
    /* A range may end exactly at the top of the address space. */
    assert_int_equal(bus_register(&bus, UINT64_MAX - 0xf, 0x10, &d), 0);
    assert_int_equal(bus_register(&bus, UINT64_MAX, 1, &d), -EEXIST);
    assert_int_equal(bus.n_ranges, 4);
    for (size_t i = 1; i < bus.n_ranges; i++)
        assert_true(bus.ranges[i - 1].base < bus.ranges[i].base);
    bus_destroy(&bus);
}

static void test_dispatch_and_unhandled(void **state)
{
    (void)state;
    Bus bus;
    bus_init(&bus, "pio");
    Probe a, b;
    BusDevice da = probe_device(&a, 0x11), db = probe_device(&b, 0x22);
    assert_int_equal(bus_register(&bus, 0x3f8, 8, &da), 0);
    assert_int_equal(bus_register(&bus, 0x70, 2, &db), 0);

    uint8_t buf[8];
    assert_true(bus_read(&bus, 0x3fd, buf, 1));
    assert_int_equal(buf[0], 0x11);
    assert_int_equal(a.last_offset, 5);
    assert_int_equal(a.last_len, 1);
    assert_true(bus_read(&bus, 0x3f8, buf, 8));
    assert_int_equal(a.last_len, 8);

    uint8_t w[2] = {0xab, 0xcd};
    assert_true(bus_write(&bus, 0x70, w, 2));
    assert_int_equal(b.last_offset, 0);
    assert_memory_equal(b.written, w, 2);

    /* Unclaimed: 0xff, counted, the devices untouched. */
    unsigned reads = a.reads + b.reads;
    memset(buf, 0, sizeof(buf));
    assert_false(bus_read(&bus, 0x2f8, buf, 4));
    for (int i = 0; i < 4; i++)
        assert_int_equal(buf[i], 0xff);
    assert_false(bus_write(&bus, 0x60, w, 1));
    assert_int_equal(bus.unhandled_reads, 1);
    assert_int_equal(bus.unhandled_writes, 1);

    /* Straddling the end of a range (or its start) is not the device's. */
    assert_false(bus_read(&bus, 0x3fe, buf, 4));
    assert_false(bus_read(&bus, 0x3f6, buf, 4));
    assert_false(bus_write(&bus, 0x71, w, 2));
    /* Widths a bus never carries. */
    assert_false(bus_read(&bus, 0x3f8, buf, 0));
    uint8_t big[16];
    assert_false(bus_read(&bus, 0x3f8, big, 16));
    assert_int_equal(a.reads + b.reads, reads);
    assert_int_equal(bus.unhandled_reads, 5);
    assert_int_equal(bus.unhandled_writes, 2);

    /* Unregister. */
    assert_int_equal(bus_unregister(&bus, 0x3f9), -ENOENT);
    assert_int_equal(bus_unregister(&bus, 0x3f8), 0);
    assert_int_equal(bus_unregister(&bus, 0x3f8), -ENOENT);
    assert_false(bus_read(&bus, 0x3f8, buf, 1));
    assert_int_equal(buf[0], 0xff);
    assert_true(bus_read(&bus, 0x71, buf, 1));
    /* The freed range can be claimed again. */
    assert_int_equal(bus_register(&bus, 0x3f8, 8, &db), 0);
    assert_true(bus_read(&bus, 0x3f8, buf, 1));
    assert_int_equal(buf[0], 0x22);
    bus_destroy(&bus);
}

static void test_callbacks_optional(void **state)
{
    (void)state;
    Bus bus;
    bus_init(&bus, "mmio");
    BusDevice silent = {.name = "silent"};
    assert_int_equal(bus_register(&bus, 0x1000, 0x100, &silent), 0);
    uint8_t buf[4] = {0};
    assert_true(bus_read(&bus, 0x1004, buf, 4));
    assert_int_equal(buf[3], 0xff);
    assert_true(bus_write(&bus, 0x1004, buf, 4));
    assert_int_equal(bus.unhandled_reads + bus.unhandled_writes, 0);
    bus_destroy(&bus);
}

/* Many ranges registered in random order: every address resolves to the
 * right one (binary search, insertion order), gaps stay unhandled. */
static void test_many_ranges(void **state)
{
    (void)state;
    enum { N = 500 };
    Bus bus;
    bus_init(&bus, "mmio");
    static Probe probes[N];
    static BusDevice devs[N];
    unsigned order[N];
    for (unsigned i = 0; i < N; i++) {
        devs[i] = probe_device(&probes[i], (uint8_t)i);
        order[i] = i;
    }
    uint64_t s = 42;
    for (unsigned i = N - 1; i > 0; i--) {
        unsigned j = (unsigned)(xorshift64(&s) % (i + 1));
        unsigned t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
    for (unsigned i = 0; i < N; i++)
        assert_int_equal(bus_register(&bus, 0x10000 + order[i] * 0x100ULL, 0x80, &devs[order[i]]), 0);
    for (unsigned i = 0; i < N; i++) {
        uint8_t v;
        assert_true(bus_read(&bus, 0x10000 + i * 0x100ULL + 0x7f, &v, 1));
        assert_int_equal(v, (uint8_t)i);
        assert_int_equal(probes[i].last_offset, 0x7f);
        assert_false(bus_read(&bus, 0x10000 + i * 0x100ULL + 0x80, &v, 1));
    }
    /* Remove every other one. */
    for (unsigned i = 0; i < N; i += 2)
        assert_int_equal(bus_unregister(&bus, 0x10000 + i * 0x100ULL), 0);
    for (unsigned i = 0; i < N; i++) {
        uint8_t v;
        assert_int_equal(bus_read(&bus, 0x10000 + i * 0x100ULL, &v, 1), i % 2 == 1);
    }
    bus_destroy(&bus);
}

typedef struct Race {
    Bus *bus;
    volatile int stop;
    unsigned long hits;
    int bad; /* cmocka asserts only on the main thread */
} Race;

static void *reader_thread(void *arg)
{
    Race *r = arg;
    while (!__atomic_load_n(&r->stop, __ATOMIC_RELAXED)) {
        uint8_t v;
        if (bus_read(r->bus, 0x500, &v, 1)) {
            if (v != 0x33)
                r->bad = 1;
            __atomic_fetch_add(&r->hits, 1, __ATOMIC_RELAXED);
        }
        bus_read(r->bus, 0x10, &v, 1);
    }
    return NULL;
}

/* vCPUs dispatching while hotplug registers and unregisters: no torn view. */
static void test_concurrent(void **state)
{
    (void)state;
    Bus bus;
    bus_init(&bus, "pio");
    Probe p, q;
    BusDevice d = probe_device(&p, 0x33), e = probe_device(&q, 0x44);
    assert_int_equal(bus_register(&bus, 0x10, 1, &e), 0);
    Race race = {.bus = &bus};
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&t[i], NULL, reader_thread, &race), 0);
    for (int i = 0; i < 2000; i++) {
        assert_int_equal(bus_register(&bus, 0x500, 4, &d), 0);
        for (int k = 0; k < 8; k++)
            assert_int_equal(bus_register(&bus, 0x1000 + k * 16ULL, 8, &e), 0);
        for (int k = 0; k < 8; k++)
            assert_int_equal(bus_unregister(&bus, 0x1000 + k * 16ULL), 0);
        assert_int_equal(bus_unregister(&bus, 0x500), 0);
    }
    __atomic_store_n(&race.stop, 1, __ATOMIC_RELAXED);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    assert_int_equal(race.bad, 0);
    assert_int_equal(bus.n_ranges, 1);
    bus_destroy(&bus);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_register_rules),     cmocka_unit_test(test_dispatch_and_unhandled),
        cmocka_unit_test(test_callbacks_optional), cmocka_unit_test(test_many_ranges),
        cmocka_unit_test(test_concurrent),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
