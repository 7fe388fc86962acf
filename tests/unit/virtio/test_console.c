/* SPDX-License-Identifier: Apache-2.0 */
/*
 * virtio-console request handling against a fake guest: transmit chains
 * reach the backend (a file) in order, receive chains are deferred until
 * input exists and filled from the FIFO, and wrong-direction, empty or
 * oversized chains are completed and counted without touching anything
 * else.
 */
#include "virtio_test.h"

#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include "console.h"

typedef struct Fixture {
    FakeGuest g;
    VirtioConsole *con;
    char path[64];
} Fixture;

static int setup(void **state)
{
    Fixture *f = calloc(1, sizeof(*f));
    fg_init(&f->g, false, false);
    snprintf(f->path, sizeof(f->path), "/tmp/vmm-test-console-XXXXXX");
    int fd = mkstemp(f->path);
    assert_true(fd >= 0);
    close(fd);
    ConsoleConfig cfg = {.mode = CONSOLE_MODE_FILE, .file = f->path};
    char err[256];
    f->con = virtio_console_new(&cfg, "_console", NULL, NULL, err, sizeof(err));
    assert_non_null(f->con);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    Fixture *f = *state;
    virtio_console_free(f->con);
    unlink(f->path);
    fg_free(&f->g);
    free(f);
    return 0;
}

static uint32_t run(Fixture *f, uint16_t q)
{
    VirtqChain c;
    assert_int_equal(virtq_pop(&f->g.vq, &c), VIRTQ_CHAIN);
    return virtio_console_handle_request(f->con, q, &f->g.vq, &c);
}

static size_t file_contents(Fixture *f, char *buf, size_t len)
{
    int fd = open(f->path, O_RDONLY);
    assert_true(fd >= 0);
    ssize_t n = read(fd, buf, len);
    close(fd);
    assert_true(n >= 0);
    return (size_t)n;
}

static void test_transmit(void **state)
{
    Fixture *f = *state;
    guest_memory_write(&f->g.mem, DATA, "hello ", 6);
    guest_memory_write(&f->g.mem, DATA + 0x100, "world\n", 6);
    fg_desc(&f->g, 0, DATA, 6, VIRTQ_DESC_F_NEXT, 1);
    fg_desc(&f->g, 1, DATA + 0x100, 6, 0, 0);
    fg_publish(&f->g, 0);
    assert_int_equal(run(f, VIRTIO_CONSOLE_TX), 0);
    char buf[64];
    size_t n = file_contents(f, buf, sizeof(buf));
    assert_int_equal(n, 12);
    assert_memory_equal(buf, "hello world\n", 12);
    VirtioConsoleCounters c;
    virtio_console_get_counters(f->con, &c);
    assert_int_equal(c.tx_bytes, 12);
    assert_int_equal(c.request_errors, 0);
}

static void test_transmit_hostile(void **state)
{
    Fixture *f = *state;
    /* Writable buffers on the transmit queue: nothing written to the guest. */
    fg_desc(&f->g, 0, DATA, 64, VIRTQ_DESC_F_WRITE, 0);
    fg_publish(&f->g, 0);
    assert_int_equal(run(f, VIRTIO_CONSOLE_TX), 0);
    /* A chain above the per-chain limit: its head goes out, the rest is
     * dropped and counted. */
    fg_desc(&f->g, 0, DATA, VIRTIO_CONSOLE_MAX_TX_CHAIN, VIRTQ_DESC_F_NEXT, 1);
    fg_desc(&f->g, 1, DATA, 4096, 0, 0);
    fg_publish(&f->g, 0);
    assert_int_equal(run(f, VIRTIO_CONSOLE_TX), 0);
    /* A queue the device does not have. */
    fg_desc(&f->g, 0, DATA, 16, 0, 0);
    fg_publish(&f->g, 0);
    assert_int_equal(run(f, 7), 0);
    char *buf = malloc(2 * VIRTIO_CONSOLE_MAX_TX_CHAIN);
    assert_int_equal(file_contents(f, buf, 2 * VIRTIO_CONSOLE_MAX_TX_CHAIN), VIRTIO_CONSOLE_MAX_TX_CHAIN);
    free(buf);
    VirtioConsoleCounters c;
    virtio_console_get_counters(f->con, &c);
    assert_int_equal(c.request_errors, 3);
    assert_int_equal(c.tx_dropped, 4096);
}

static void test_receive(void **state)
{
    Fixture *f = *state;
    VirtqChain c;
    fg_desc(&f->g, 0, DATA, 4, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 1);
    fg_desc(&f->g, 1, DATA + 0x100, 4, VIRTQ_DESC_F_WRITE, 0);
    fg_publish(&f->g, 0);
    /* No input yet: the chain is held back, not completed. */
    assert_int_equal(virtq_pop(&f->g.vq, &c), VIRTQ_CHAIN);
    assert_int_equal(virtio_console_handle_request(f->con, VIRTIO_CONSOLE_RX, &f->g.vq, &c),
                     VIRTIO_CHAIN_DEFER);
    virtq_unpop(&f->g.vq);

    assert_int_equal(virtio_console_input(f->con, (const uint8_t *)"abcdefghij", 10), 10);
    assert_int_equal(run(f, VIRTIO_CONSOLE_RX), 8); /* split across both buffers */
    char buf[8];
    guest_memory_read(&f->g.mem, DATA, buf, 4);
    guest_memory_read(&f->g.mem, DATA + 0x100, buf + 4, 4);
    assert_memory_equal(buf, "abcdefgh", 8);
    fg_publish(&f->g, 0);
    assert_int_equal(run(f, VIRTIO_CONSOLE_RX), 2);
    guest_memory_read(&f->g.mem, DATA, buf, 2);
    assert_memory_equal(buf, "ij", 2);
}

static void test_receive_hostile(void **state)
{
    Fixture *f = *state;
    /* The FIFO takes what fits and no more: the rest stays with the host. */
    uint8_t *big = calloc(1, VIRTIO_CONSOLE_IN_FIFO + 100);
    assert_int_equal(virtio_console_input(f->con, big, VIRTIO_CONSOLE_IN_FIFO + 100), VIRTIO_CONSOLE_IN_FIFO);
    assert_int_equal(virtio_console_input(f->con, big, 1), 0);
    free(big);
    /* A receive chain with no writable buffer can never be filled. */
    fg_desc(&f->g, 0, DATA, 16, 0, 0);
    fg_publish(&f->g, 0);
    assert_int_equal(run(f, VIRTIO_CONSOLE_RX), 0);
    /* Readable buffers first: counted, the writable part still used. */
    fg_desc(&f->g, 0, DATA, 16, VIRTQ_DESC_F_NEXT, 1);
    fg_desc(&f->g, 1, DATA + 0x100, 32, VIRTQ_DESC_F_WRITE, 0);
    fg_publish(&f->g, 0);
    assert_int_equal(run(f, VIRTIO_CONSOLE_RX), 32);
    VirtioConsoleCounters c;
    virtio_console_get_counters(f->con, &c);
    assert_int_equal(c.request_errors, 2);
    assert_int_equal(c.rx_bytes, 32);
}

static void test_config(void **state)
{
    (void)state;
    ConsoleConfig off = {.mode = CONSOLE_MODE_OFF};
    char err[256];
    assert_null(virtio_console_new(&off, "_console", NULL, NULL, err, sizeof(err)));
    ConsoleConfig bad = {.mode = CONSOLE_MODE_FILE, .file = "/nonexistent-dir/x"};
    assert_null(virtio_console_new(&bad, "_console", NULL, NULL, err, sizeof(err)));
    assert_non_null(strstr(err, "--console"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_transmit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_transmit_hostile, setup, teardown),
        cmocka_unit_test_setup_teardown(test_receive, setup, teardown),
        cmocka_unit_test_setup_teardown(test_receive_hostile, setup, teardown),
        cmocka_unit_test(test_config),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
