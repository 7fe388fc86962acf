/* SPDX-License-Identifier: Apache-2.0 */
/* COM1, a 16550 driven by polling (output) and polling or IRQ 4 (input). */
#include "io.h"
#include "payload.h"

#define COM1     0x3f8
#define UART_RBR 0 /* read, DLAB=0 */
#define UART_THR 0 /* write, DLAB=0 */
#define UART_DLL 0 /* DLAB=1 */
#define UART_IER 1
#define UART_DLM 1 /* DLAB=1 */
#define UART_FCR 2
#define UART_LCR 3
#define UART_MCR 4
#define UART_LSR 5

#define LSR_DATA_READY 0x01
#define LSR_THR_EMPTY  0x20

#define IER_RX_AVAILABLE 0x01
#define LCR_8N1          0x03
#define LCR_DLAB         0x80
#define FCR_ENABLE_CLEAR 0x07
#define MCR_DTR_RTS_OUT2 0x0b /* OUT2 gates the IRQ line on PCs */

/* A bounded spin: a UART that never drains must not hang the payload, the
 * runner's timeout reports that better than a silent loop. */
#define THR_SPIN_LIMIT 100000

void serial_init(void)
{
    outb(COM1 + UART_IER, 0);
    outb(COM1 + UART_LCR, LCR_DLAB);
    outb(COM1 + UART_DLL, 1); /* 115200 baud */
    outb(COM1 + UART_DLM, 0);
    outb(COM1 + UART_LCR, LCR_8N1);
    outb(COM1 + UART_FCR, FCR_ENABLE_CLEAR);
    outb(COM1 + UART_MCR, MCR_DTR_RTS_OUT2);
}

void serial_putc(char c)
{
    for (unsigned i = 0; i < THR_SPIN_LIMIT; i++)
        if (inb(COM1 + UART_LSR) & LSR_THR_EMPTY)
            break;
    outb(COM1 + UART_THR, (uint8_t)c);
}

void serial_write(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        serial_putc(s[i]);
}

bool serial_getc(char *c)
{
    if (!(inb(COM1 + UART_LSR) & LSR_DATA_READY))
        return false;
    *c = (char)inb(COM1 + UART_RBR);
    return true;
}

void serial_enable_rx_irq(void)
{
    outb(COM1 + UART_IER, IER_RX_AVAILABLE);
}

void port_puts(uint16_t port, const char *s)
{
    while (*s)
        outb(port, (uint8_t)*s++);
}
