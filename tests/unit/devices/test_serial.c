/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The 16550A, driven through its BusDevice like a guest driver would: power-on
 * values, divisor latch, IER/IIR/FCR/LCR/MCR/LSR/MSR/SCR semantics, FIFO and
 * trigger levels, interrupt priorities and the INTR level, loopback (what
 * Linux's autoconfig checks), and every host backend: null, file=, socket=
 * (with the real event loop), pty, tty. Hostile register traffic last.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

#include "device_test.h"
#include "event_loop.h"
#include "layout.h"
#include "serial.h"

#define THR 0
#define RBR 0
#define DLL 0
#define IER 1
#define DLM 1
#define IIR 2
#define FCR 2
#define LCR 3
#define MCR 4
#define LSR 5
#define MSR 6
#define SCR 7

typedef struct Fixture {
    IrqCapture irq;
    Serial *s;
    const BusDevice *d;
    EventLoop *loop;
    pthread_t loop_thread;
    bool loop_running;
    char dir[48];
    char path[96]; /* fits sun_path */
} Fixture;

static void *loop_main(void *arg)
{
    event_loop_run(arg);
    return NULL;
}

static void make_dir(Fixture *f)
{
    snprintf(f->dir, sizeof(f->dir), "/tmp/vmm-serial-test-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
}

static void start_loop(Fixture *f)
{
    f->loop = event_loop_new();
    assert_non_null(f->loop);
    assert_int_equal(pthread_create(&f->loop_thread, NULL, loop_main, f->loop), 0);
    f->loop_running = true;
}

static Serial *open_serial(Fixture *f, ConsoleOutputMode mode, const char *path)
{
    ConsoleConfig cfg = {.mode = mode};
    if (mode == CONSOLE_MODE_FILE)
        cfg.file = (char *)path;
    if (mode == CONSOLE_MODE_SOCKET)
        cfg.socket = (char *)path;
    IrqLine line = irq_capture_line(&f->irq, IRQ_COM1);
    f->s = serial_new(&cfg, &line, f->loop);
    if (f->s)
        f->d = serial_bus_device(f->s);
    return f->s;
}

static void teardown(Fixture *f)
{
    if (f->loop_running) {
        event_loop_quit(f->loop);
        pthread_join(f->loop_thread, NULL);
    }
    serial_free(f->s);
    event_loop_free(f->loop);
    if (f->dir[0]) {
        if (f->path[0])
            unlink(f->path);
        rmdir(f->dir);
    }
}

static int setup_null(void **state)
{
    Fixture *f = calloc(1, sizeof(*f));
    assert_non_null(open_serial(f, CONSOLE_MODE_NULL, NULL));
    *state = f;
    return 0;
}

static int teardown_fixture(void **state)
{
    teardown(*state);
    free(*state);
    return 0;
}

/* ------------------------------------------------------------ registers */

static void test_power_on_state(void **state)
{
    Fixture *f = *state;
    assert_int_equal(dev_in8(f->d, IER), 0);
    assert_int_equal(dev_in8(f->d, IIR), 0x01);
    assert_int_equal(dev_in8(f->d, LCR), 0);
    assert_int_equal(dev_in8(f->d, MCR), 0);
    assert_int_equal(dev_in8(f->d, LSR), 0x60); /* THRE | TEMT */
    assert_int_equal(dev_in8(f->d, MSR), 0xb0); /* DCD | DSR | CTS, no deltas */
    assert_int_equal(f->irq.raises, 0);
}

static void test_divisor_latch_and_masks(void **state)
{
    Fixture *f = *state;
    dev_out8(f->d, IER, 0x05);
    dev_out8(f->d, LCR, 0x83); /* DLAB + 8N1 */
    dev_out8(f->d, DLL, 0x01);
    dev_out8(f->d, DLM, 0x02);
    assert_int_equal(dev_in8(f->d, DLL), 0x01);
    assert_int_equal(dev_in8(f->d, DLM), 0x02);
    dev_out8(f->d, LCR, 0x03);
    /* Back to RBR/IER: the divisor did not land in IER, THR sends. */
    assert_int_equal(dev_in8(f->d, IER), 0x05);
    dev_out8(f->d, THR, 'x');
    SerialCounters c;
    serial_get_counters(f->s, &c);
    assert_int_equal(c.tx_bytes, 1);
    dev_out8(f->d, LCR, 0x80);
    assert_int_equal(dev_in16(f->d, DLL), 0x0201); /* a 16-bit access is two registers */
    dev_out8(f->d, LCR, 0x1b);
    assert_int_equal(dev_in8(f->d, LCR), 0x1b);

    /* Reserved bits read back as 0 on a 16550A. */
    dev_out8(f->d, IER, 0xff);
    assert_int_equal(dev_in8(f->d, IER), 0x0f);
    dev_out8(f->d, IER, 0);
    dev_out8(f->d, MCR, 0xff);
    assert_int_equal(dev_in8(f->d, MCR), 0x1f);
    dev_out8(f->d, MCR, 0);
    dev_out8(f->d, SCR, 0xa5);
    assert_int_equal(dev_in8(f->d, SCR), 0xa5);
    /* LSR/MSR writes change nothing. */
    dev_out8(f->d, LSR, 0x00);
    assert_int_equal(dev_in8(f->d, LSR), 0x60);
    dev_out8(f->d, MSR, 0x00);
    assert_int_equal(dev_in8(f->d, MSR) & 0xf0, 0xb0);
}

static void test_thre_interrupt(void **state)
{
    Fixture *f = *state;
    /* Enabling THRE with THR empty interrupts at once. */
    dev_out8(f->d, IER, 0x02);
    assert_int_equal(irq_level(&f->irq), 1);
    assert_int_equal(f->irq.gsi, IRQ_COM1);
    assert_int_equal(dev_in8(f->d, IIR), 0x02);
    /* Reading IIR acknowledged it. */
    assert_int_equal(irq_level(&f->irq), 0);
    assert_int_equal(dev_in8(f->d, IIR), 0x01);
    /* Each transmitted byte empties THR again: a new edge. */
    unsigned raises = f->irq.raises;
    dev_out8(f->d, THR, 'a');
    assert_int_equal(irq_level(&f->irq), 1);
    assert_int_equal(f->irq.raises, raises + 1);
    /* Disabling the source drops the line without an IIR read. */
    dev_out8(f->d, IER, 0);
    assert_int_equal(irq_level(&f->irq), 0);

    /* Linux 8250's UART_BUG_THRE probe: IER=THRI, IIR, IER=0, IER=THRI,
     * IIR must again report an interrupt. */
    dev_out8(f->d, IER, 0x02);
    assert_int_equal(dev_in8(f->d, IIR) & 0x01, 0);
    dev_out8(f->d, IER, 0);
    dev_out8(f->d, IER, 0x02);
    assert_int_equal(dev_in8(f->d, IIR) & 0x01, 0);
    dev_out8(f->d, IER, 0);
}

static void test_rx_without_fifo(void **state)
{
    Fixture *f = *state;
    const uint8_t in[] = "hi";
    /* Without FIFOs the receiver holds one character: the rest waits in the
     * host (flow control), it is not lost. */
    assert_int_equal(serial_feed_input(f->s, in, 2), 1);
    assert_int_equal(dev_in8(f->d, LSR) & 0x01, 0x01);
    assert_int_equal(irq_level(&f->irq), 0); /* not enabled */
    dev_out8(f->d, IER, 0x01);
    assert_int_equal(irq_level(&f->irq), 1);
    assert_int_equal(dev_in8(f->d, IIR), 0x04); /* RDA, no FIFO bits */
    assert_int_equal(dev_in8(f->d, RBR), 'h');
    assert_int_equal(irq_level(&f->irq), 0);
    assert_int_equal(dev_in8(f->d, LSR) & 0x01, 0);
    assert_int_equal(serial_feed_input(f->s, in + 1, 1), 1);
    assert_int_equal(irq_level(&f->irq), 1);
    assert_int_equal(dev_in8(f->d, RBR), 'i');
    assert_int_equal(irq_level(&f->irq), 0);
    SerialCounters c;
    serial_get_counters(f->s, &c);
    assert_int_equal(c.rx_bytes, 2);
    assert_int_equal(c.rx_overruns, 0);
}

static void test_fifo(void **state)
{
    Fixture *f = *state;
    uint8_t data[20];
    for (int i = 0; i < 20; i++)
        data[i] = (uint8_t)('A' + i);

    dev_out8(f->d, FCR, 0xc7); /* enable, clear both, trigger 14 */
    assert_int_equal(dev_in8(f->d, IIR) & 0xc0, 0xc0);
    dev_out8(f->d, IER, 0x01);
    assert_int_equal(serial_feed_input(f->s, data, 3), 3);
    /* Below the trigger level: receive timeout. */
    assert_int_equal(dev_in8(f->d, IIR), 0xcc);
    assert_int_equal(irq_level(&f->irq), 1);
    /* Overflow from the host side is refused, not lost: 16 fit. */
    assert_int_equal(serial_feed_input(f->s, data + 3, 17), 13);
    assert_int_equal(dev_in8(f->d, IIR), 0xc4);
    assert_int_equal(dev_in8(f->d, LSR) & 0x03, 0x01); /* DR, no overrun */
    for (int i = 0; i < 16; i++)
        assert_int_equal(dev_in8(f->d, RBR), 'A' + i);
    assert_int_equal(dev_in8(f->d, LSR) & 0x01, 0);
    assert_int_equal(dev_in8(f->d, IIR), 0xc1);
    assert_int_equal(irq_level(&f->irq), 0);
    assert_int_equal(dev_in8(f->d, RBR), 0); /* empty FIFO */

    /* Trigger level 4: 3 bytes time out, 4 are "data available". */
    dev_out8(f->d, FCR, 0x41);
    serial_feed_input(f->s, data, 3);
    assert_int_equal(dev_in8(f->d, IIR), 0xcc);
    serial_feed_input(f->s, data, 1);
    assert_int_equal(dev_in8(f->d, IIR), 0xc4);
    /* FCR clear-RX empties it. */
    dev_out8(f->d, FCR, 0x43);
    assert_int_equal(dev_in8(f->d, LSR) & 0x01, 0);
    assert_int_equal(irq_level(&f->irq), 0);
    /* Turning FIFOs off empties them too and clears IIR's FIFO bits. */
    serial_feed_input(f->s, data, 5);
    dev_out8(f->d, FCR, 0x00);
    assert_int_equal(dev_in8(f->d, LSR) & 0x01, 0);
    assert_int_equal(dev_in8(f->d, IIR), 0x01);
    /* FCR bits other than enable need the enable bit. */
    dev_out8(f->d, FCR, 0xc0);
    assert_int_equal(dev_in8(f->d, IIR) & 0xc0, 0);
}

static void test_loopback(void **state)
{
    Fixture *f = *state;
    /* Linux's autoconfig loopback check: MCR = LOOP | OUT2 | RTS must show
     * DCD | CTS in MSR's upper nibble. */
    dev_out8(f->d, MCR, 0x1a);
    assert_int_equal(dev_in8(f->d, MSR) & 0xf0, 0x90);
    dev_out8(f->d, MCR, 0x1f);
    assert_int_equal(dev_in8(f->d, MSR), 0xf0 | 0x02); /* DDSR: DSR rose (CTS was up, RI rising is no TERI) */
    dev_out8(f->d, MCR, 0x10);
    uint8_t msr = dev_in8(f->d, MSR);
    assert_int_equal(msr & 0xf0, 0);
    assert_true(msr & 0x04);                 /* TERI: RI fell */
    assert_int_equal(dev_in8(f->d, MSR), 0); /* deltas cleared by the read */

    /* Data loops back and does not reach the host. */
    dev_out8(f->d, THR, 'q');
    assert_int_equal(dev_in8(f->d, LSR) & 0x01, 0x01);
    assert_int_equal(dev_in8(f->d, RBR), 'q');
    SerialCounters c;
    serial_get_counters(f->s, &c);
    assert_int_equal(c.tx_bytes, 0);
    /* Host input waits while the receiver listens to the transmitter. */
    const uint8_t in = 'h';
    assert_int_equal(serial_feed_input(f->s, &in, 1), 0);
    dev_out8(f->d, MCR, 0x00);
    assert_int_equal(dev_in8(f->d, MSR) & 0xf0, 0xb0);
    assert_int_equal(serial_feed_input(f->s, &in, 1), 1);
}

static void test_iir_priorities(void **state)
{
    Fixture *f = *state;
    /* Loopback without FIFOs, two bytes: overrun. */
    dev_out8(f->d, MCR, 0x10);
    (void)dev_in8(f->d, MSR);
    dev_out8(f->d, MCR, 0x18); /* OUT2 -> DCD: a modem-status delta */
    dev_out8(f->d, THR, '1');
    dev_out8(f->d, THR, '2');
    dev_out8(f->d, IER, 0x0f);
    assert_int_equal(irq_level(&f->irq), 1);
    assert_int_equal(dev_in8(f->d, IIR), 0x06); /* line status first */
    uint8_t lsr = dev_in8(f->d, LSR);
    assert_int_equal(lsr & 0x03, 0x03);             /* OE + DR */
    assert_int_equal(dev_in8(f->d, LSR) & 0x02, 0); /* OE cleared by the read */
    assert_int_equal(dev_in8(f->d, IIR), 0x04);     /* then received data */
    assert_int_equal(dev_in8(f->d, RBR), '2');      /* the holding register was overwritten */
    assert_int_equal(dev_in8(f->d, IIR), 0x02);     /* then THRE (read acknowledges it) */
    assert_int_equal(dev_in8(f->d, IIR), 0x00);     /* then modem status */
    assert_int_equal(irq_level(&f->irq), 1);
    assert_true(dev_in8(f->d, MSR) & 0x08); /* DDCD */
    assert_int_equal(dev_in8(f->d, IIR), 0x01);
    assert_int_equal(irq_level(&f->irq), 0);
    SerialCounters c;
    serial_get_counters(f->s, &c);
    assert_int_equal(c.rx_overruns, 1);

    /* In FIFO mode an overrun loses the new byte and keeps the 16. */
    dev_out8(f->d, FCR, 0x07);
    for (int i = 0; i < 17; i++)
        dev_out8(f->d, THR, (uint8_t)i);
    assert_int_equal(dev_in8(f->d, IIR), 0xc6);
    assert_int_equal(dev_in8(f->d, LSR) & 0x03, 0x03);
    for (int i = 0; i < 16; i++)
        assert_int_equal(dev_in8(f->d, RBR), i);
    assert_int_equal(dev_in8(f->d, LSR) & 0x01, 0);
}

static void test_reset(void **state)
{
    Fixture *f = *state;
    const uint8_t in = 'z';
    dev_out8(f->d, IER, 0x03);
    dev_out8(f->d, FCR, 0x01);
    dev_out8(f->d, SCR, 0x42);
    serial_feed_input(f->s, &in, 1);
    assert_int_equal(irq_level(&f->irq), 1);
    serial_reset(f->s);
    assert_int_equal(irq_level(&f->irq), 0);
    assert_int_equal(dev_in8(f->d, IER), 0);
    assert_int_equal(dev_in8(f->d, IIR), 0x01);
    assert_int_equal(dev_in8(f->d, LSR), 0x60);
    assert_int_equal(dev_in8(f->d, SCR), 0x42); /* master reset leaves SCR */
}

static void test_hostile(void **state)
{
    Fixture *f = *state;
    for (uint64_t seed = 1; seed <= 4; seed++) {
        fuzz_device(f->d, SERIAL_PIO_LEN, 200000, seed * 0x1234567);
        uint8_t junk[64];
        memset(junk, 0x55, sizeof(junk));
        serial_feed_input(f->s, junk, sizeof(junk));
    }
    /* Still a UART afterwards. */
    serial_reset(f->s);
    dev_out8(f->d, FCR, 0x07);
    const uint8_t in = '!';
    assert_int_equal(serial_feed_input(f->s, &in, 1), 1);
    assert_int_equal(dev_in8(f->d, RBR), '!');
    assert_int_equal(dev_in8(f->d, LSR), 0x60);
}

/* ------------------------------------------------------------ backends */

static void test_modes_refused(void **state)
{
    (void)state;
    Fixture f = {0};
    errno = 0;
    assert_null(open_serial(&f, CONSOLE_MODE_OFF, NULL));
    assert_int_equal(errno, EINVAL);
    assert_false(serial_config_enabled(&(ConsoleConfig){.mode = CONSOLE_MODE_OFF}));
    assert_true(serial_config_enabled(&(ConsoleConfig){.mode = CONSOLE_MODE_NULL}));
    /* socket= needs the loop to accept clients. */
    assert_null(open_serial(&f, CONSOLE_MODE_SOCKET, "/tmp/x.sock"));
    assert_int_equal(errno, EINVAL);
    assert_null(open_serial(&f, CONSOLE_MODE_FILE, "/nonexistent-dir/serial.log"));
    assert_int_equal(errno, ENOENT);
    assert_null(open_serial(&f, CONSOLE_MODE_FILE, NULL));
    assert_int_equal(errno, EINVAL);

    make_dir(&f);
    start_loop(&f);
    /* A socket path over sun_path's size. */
    char longpath[200];
    memset(longpath, 'a', sizeof(longpath) - 1);
    longpath[0] = '/';
    longpath[sizeof(longpath) - 1] = 0;
    assert_null(open_serial(&f, CONSOLE_MODE_SOCKET, longpath));
    /* A regular file in the way is never replaced. */
    snprintf(f.path, sizeof(f.path), "%s/file", f.dir);
    int fd = open(f.path, O_CREAT | O_WRONLY, 0600);
    assert_true(fd >= 0);
    close(fd);
    assert_null(open_serial(&f, CONSOLE_MODE_SOCKET, f.path));
    assert_int_equal(errno, EEXIST);
    unlink(f.path);
    /* A stale socket (nobody listening) is. */
    int ls = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", f.path);
    assert_int_equal(bind(ls, (struct sockaddr *)&addr, sizeof(addr)), 0);
    close(ls);
    assert_non_null(open_serial(&f, CONSOLE_MODE_SOCKET, f.path));
    /* ... but a live one is not. */
    Serial *live = f.s;
    assert_null(open_serial(&f, CONSOLE_MODE_SOCKET, f.path));
    assert_int_equal(errno, EADDRINUSE);
    f.s = live;
    teardown(&f);
    /* The socket file went away with the device. */
    struct stat st;
    assert_int_equal(stat(f.path, &st), -1);
}

static char *slurp(const char *path, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    static char buf[65536];
    *len = fread(buf, 1, sizeof(buf) - 1, fp);
    buf[*len] = 0;
    fclose(fp);
    return buf;
}

static void test_file_output(void **state)
{
    (void)state;
    Fixture f = {0};
    make_dir(&f);
    snprintf(f.path, sizeof(f.path), "%s/serial.log", f.dir);
    int fd = open(f.path, O_CREAT | O_WRONLY, 0644);
    assert_int_equal(write(fd, "old\n", 4), 4);
    close(fd);

    assert_non_null(open_serial(&f, CONSOLE_MODE_FILE, f.path));
    const char *msg = "Linux version 6.1\r\n";
    for (const char *p = msg; *p; p++)
        dev_out8(f.d, THR, (uint8_t)*p);
    /* A 32-bit write is four registers: THR, IER, FCR, LCR. */
    dev_out32(f.d, THR, 0x00000021);
    size_t len;
    char *got = slurp(f.path, &len);
    assert_string_equal(got, "old\nLinux version 6.1\r\n!");
    SerialCounters c;
    serial_get_counters(f.s, &c);
    assert_int_equal(c.tx_bytes, strlen(msg) + 1);
    assert_int_equal(c.tx_dropped, 0);
    /* No input source in file mode. */
    assert_null(serial_pty_path(f.s));
    teardown(&f);
}

static void test_tty_output(void **state)
{
    (void)state;
    Fixture f = {0};
    /* Under the test runner stdout is a pipe or file; the guest's bytes land
     * in the test log. Building the backend must not disturb fd 1. */
    int fl = fcntl(STDOUT_FILENO, F_GETFL);
    assert_non_null(open_serial(&f, CONSOLE_MODE_TTY, NULL));
    const char *msg = "[serial tty ok]\n";
    for (const char *p = msg; *p; p++)
        dev_out8(f.d, THR, (uint8_t)*p);
    assert_int_equal(fcntl(STDOUT_FILENO, F_GETFL), fl);
    teardown(&f);
}

typedef struct Conn {
    Fixture *f;
    int fd;
} Conn;

static int has_rx(void *ctx)
{
    Fixture *f = ctx;
    return dev_in8(f->d, LSR) & 0x01;
}

static int connect_to(const char *path)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path);
    assert_int_equal(connect(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
    return fd;
}

static ssize_t read_timeout(int fd, void *buf, size_t len, int ms)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    if (poll(&p, 1, ms) <= 0)
        return -2;
    return read(fd, buf, len);
}

/* The device emits one byte per THR write, so a reader may wake after the
 * first of them: collect until `want` bytes arrived, EOF, or the timeout. */
static ssize_t read_n(int fd, char *buf, size_t want, int ms)
{
    size_t got = 0;
    while (got < want) {
        ssize_t n = read_timeout(fd, buf + got, want - got, ms);
        if (n < 0 && got == 0)
            return n;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    return (ssize_t)got;
}

static void guest_puts(Fixture *f, const char *s)
{
    for (; *s; s++)
        dev_out8(f->d, THR, (uint8_t)*s);
}

static void test_socket(void **state)
{
    (void)state;
    Fixture f = {0};
    make_dir(&f);
    start_loop(&f);
    snprintf(f.path, sizeof(f.path), "%s/serial.sock", f.dir);
    assert_non_null(open_serial(&f, CONSOLE_MODE_SOCKET, f.path));

    /* No client: output is dropped and counted. */
    guest_puts(&f, "lost");
    SerialCounters c;
    serial_get_counters(f.s, &c);
    assert_int_equal(c.tx_dropped, 4);

    int cl = connect_to(f.path);
    dev_out8(f.d, FCR, 0x07);
    dev_out8(f.d, IER, 0x01);
    /* Client input reaches RBR and raises the IRQ. */
    assert_int_equal(write(cl, "k", 1), 1);
    assert_true(wait_for(has_rx, &f, 2000));
    assert_int_equal(irq_level(&f.irq), 1);
    assert_int_equal(dev_in8(f.d, RBR), 'k');
    assert_int_equal(irq_level(&f.irq), 0);

    /* Guest output reaches the client. */
    guest_puts(&f, "login: ");
    char buf[64] = {0};
    assert_int_equal(read_n(cl, buf, 7, 2000), 7);
    assert_string_equal(buf, "login: ");

    /* Flow control: 40 bytes, 16 at a time as the guest drains the FIFO
     * (EPOLLIN re-armed on each drain); nothing lost, order kept. */
    char big[41];
    for (int i = 0; i < 40; i++)
        big[i] = (char)('a' + i % 26);
    assert_int_equal(write(cl, big, 40), 40);
    char got[41] = {0};
    int n = 0;
    for (int tries = 0; n < 40 && tries < 2000; tries++) {
        if (!(dev_in8(f.d, LSR) & 0x01)) {
            struct timespec ts = {0, 1000000};
            nanosleep(&ts, NULL);
            continue;
        }
        while ((dev_in8(f.d, LSR) & 0x01) && n < 40)
            got[n++] = (char)dev_in8(f.d, RBR);
    }
    assert_int_equal(n, 40);
    assert_memory_equal(got, big, 40);
    serial_get_counters(f.s, &c);
    assert_int_equal(c.rx_bytes, 41);
    assert_int_equal(c.rx_overruns, 0);

    /* One client at a time: a second one is closed at once. */
    int cl2 = connect_to(f.path);
    assert_int_equal(read_timeout(cl2, buf, sizeof(buf), 2000), 0);
    close(cl2);

    /* Client gone: output dropped again; a new client takes over. */
    close(cl);
    struct timespec ts = {0, 50000000};
    nanosleep(&ts, NULL);
    guest_puts(&f, "zz");
    cl = connect_to(f.path);
    assert_int_equal(write(cl, "r", 1), 1);
    assert_true(wait_for(has_rx, &f, 2000));
    assert_int_equal(dev_in8(f.d, RBR), 'r');
    guest_puts(&f, "ok");
    memset(buf, 0, sizeof(buf));
    assert_int_equal(read_n(cl, buf, 2, 2000), 2);
    assert_string_equal(buf, "ok");
    close(cl);
    teardown(&f);
}

/* A client that never reads cannot stall the vCPU: writes return, the
 * overflow is dropped and counted. */
static void test_socket_output_never_blocks(void **state)
{
    (void)state;
    Fixture f = {0};
    make_dir(&f);
    start_loop(&f);
    snprintf(f.path, sizeof(f.path), "%s/serial.sock", f.dir);
    assert_non_null(open_serial(&f, CONSOLE_MODE_SOCKET, f.path));
    int cl = connect_to(f.path);
    /* Wait until the VMM accepted the client. */
    assert_int_equal(write(cl, "x", 1), 1);
    assert_true(wait_for(has_rx, &f, 2000));

    const size_t total = 1u << 20;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (size_t i = 0; i < total; i++)
        dev_out8(f.d, THR, (uint8_t)i);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    assert_true(t1.tv_sec - t0.tv_sec < 20);
    SerialCounters c;
    serial_get_counters(f.s, &c);
    assert_int_equal(c.tx_bytes, total);
    assert_true(c.tx_dropped > 0);
    assert_true(c.tx_dropped < total);

    /* What was kept arrives in order once the client reads. */
    uint8_t buf[4096];
    ssize_t n = read_timeout(cl, buf, sizeof(buf), 2000);
    assert_true(n > 0);
    for (ssize_t i = 0; i < n; i++)
        assert_int_equal(buf[i], (uint8_t)i);
    close(cl);
    teardown(&f);
}

static void test_pty(void **state)
{
    (void)state;
    Fixture f = {0};
    start_loop(&f);
    if (!open_serial(&f, CONSOLE_MODE_PTY, NULL)) {
        teardown(&f);
        skip(); /* no /dev/ptmx in this sandbox */
    }
    const char *path = serial_pty_path(f.s);
    assert_non_null(path);
    assert_memory_equal(path, "/dev/pts/", 9);
    int pt = open(path, O_RDWR | O_NOCTTY | O_CLOEXEC);
    assert_true(pt >= 0);
    guest_puts(&f, "abc\n");
    char buf[16] = {0};
    /* Raw: no "\n" -> "\r\n" translation, no echo. */
    assert_int_equal(read_n(pt, buf, 4, 2000), 4);
    assert_string_equal(buf, "abc\n");
    dev_out8(f.d, IER, 0x01);
    assert_int_equal(write(pt, "z", 1), 1);
    assert_true(wait_for(has_rx, &f, 2000));
    assert_int_equal(irq_level(&f.irq), 1);
    assert_int_equal(dev_in8(f.d, RBR), 'z');
    assert_int_equal(read_timeout(pt, buf, sizeof(buf), 100), -2); /* nothing echoed */
    close(pt);
    /* The user closing the terminal does not break the device. */
    guest_puts(&f, "still here");
    teardown(&f);
}

/* tty mode with stdin on a terminal: input is read raw and the terminal's
 * settings come back when the device goes. A pty stands in for the user's
 * terminal on fd 0. */
static void test_tty_input(void **state)
{
    (void)state;
    int master = posix_openpt(O_RDWR | O_NOCTTY);
    if (master < 0 || grantpt(master) < 0 || unlockpt(master) < 0)
        skip();
    char name[64];
    assert_int_equal(ptsname_r(master, name, sizeof(name)), 0);
    int slave = open(name, O_RDWR | O_NOCTTY);
    assert_true(slave >= 0);
    struct termios before;
    assert_int_equal(tcgetattr(slave, &before), 0);
    assert_true(before.c_lflag & ICANON);

    int saved_stdin = dup(STDIN_FILENO);
    assert_int_equal(dup2(slave, STDIN_FILENO), STDIN_FILENO);

    Fixture f = {0};
    start_loop(&f);
    assert_non_null(open_serial(&f, CONSOLE_MODE_TTY, NULL));
    struct termios raw;
    assert_int_equal(tcgetattr(slave, &raw), 0);
    assert_false(raw.c_lflag & (ICANON | ECHO | ISIG));
    assert_true(raw.c_oflag & OPOST);
    /* Keystrokes, Ctrl-C included, reach the guest one by one. */
    assert_int_equal(write(master, "a\x03", 2), 2);
    assert_true(wait_for(has_rx, &f, 2000));
    assert_int_equal(dev_in8(f.d, RBR), 'a');
    assert_true(wait_for(has_rx, &f, 2000));
    assert_int_equal(dev_in8(f.d, RBR), 0x03);
    teardown(&f);

    struct termios after;
    assert_int_equal(tcgetattr(slave, &after), 0);
    assert_int_equal(after.c_lflag, before.c_lflag);
    assert_int_equal(after.c_iflag, before.c_iflag);
    assert_int_equal(dup2(saved_stdin, STDIN_FILENO), STDIN_FILENO);
    close(saved_stdin);
    close(slave);
    close(master);
}

typedef struct Flood {
    int fd;
    volatile int stop;
} Flood;

static void *flood_main(void *arg)
{
    Flood *fl = arg;
    uint8_t buf[512];
    memset(buf, 'F', sizeof(buf));
    while (!__atomic_load_n(&fl->stop, __ATOMIC_RELAXED)) {
        struct pollfd p = {.fd = fl->fd, .events = POLLIN | POLLOUT};
        if (poll(&p, 1, 10) <= 0)
            continue;
        if (p.revents & POLLIN) {
            if (read(fl->fd, buf, sizeof(buf)) <= 0)
                break;
            memset(buf, 'F', sizeof(buf));
        }
        if ((p.revents & POLLOUT) && send(fl->fd, buf, sizeof(buf), MSG_DONTWAIT | MSG_NOSIGNAL) < 0 &&
            errno != EAGAIN)
            break;
    }
    return NULL;
}

/* Hostile register traffic while a host client floods input and drains
 * output on the loop thread: the device lock is the only thing between
 * them (run under TSan to see it hold). */
static void test_hostile_live_socket(void **state)
{
    (void)state;
    Fixture f = {0};
    make_dir(&f);
    start_loop(&f);
    snprintf(f.path, sizeof(f.path), "%s/serial.sock", f.dir);
    assert_non_null(open_serial(&f, CONSOLE_MODE_SOCKET, f.path));
    Flood fl = {.fd = connect_to(f.path)};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, flood_main, &fl), 0);
    for (uint64_t seed = 1; seed <= 3; seed++)
        fuzz_device(f.d, SERIAL_PIO_LEN, 100000, seed * 77);
    __atomic_store_n(&fl.stop, 1, __ATOMIC_RELAXED);
    pthread_join(t, NULL);
    close(fl.fd);
    SerialCounters c;
    serial_get_counters(f.s, &c);
    assert_true(c.rx_bytes > 0);
    teardown(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_power_on_state, setup_null, teardown_fixture),
        cmocka_unit_test_setup_teardown(test_divisor_latch_and_masks, setup_null, teardown_fixture),
        cmocka_unit_test_setup_teardown(test_thre_interrupt, setup_null, teardown_fixture),
        cmocka_unit_test_setup_teardown(test_rx_without_fifo, setup_null, teardown_fixture),
        cmocka_unit_test_setup_teardown(test_fifo, setup_null, teardown_fixture),
        cmocka_unit_test_setup_teardown(test_loopback, setup_null, teardown_fixture),
        cmocka_unit_test_setup_teardown(test_iir_priorities, setup_null, teardown_fixture),
        cmocka_unit_test_setup_teardown(test_reset, setup_null, teardown_fixture),
        cmocka_unit_test_setup_teardown(test_hostile, setup_null, teardown_fixture),
        cmocka_unit_test(test_modes_refused),
        cmocka_unit_test(test_file_output),
        cmocka_unit_test(test_tty_output),
        cmocka_unit_test(test_socket),
        cmocka_unit_test(test_socket_output_never_blocks),
        cmocka_unit_test(test_pty),
        cmocka_unit_test(test_tty_input),
        cmocka_unit_test(test_hostile_live_socket),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
