/* Polled 16550 UART on COM1, the console the tests read. */
#include "testkernel.h"

#define UART_RBR 0
#define UART_THR 0
#define UART_IER 1
#define UART_FCR 2
#define UART_LCR 3
#define UART_MCR 4
#define UART_LSR 5
#define UART_LSR_DR 0x01
#define UART_LSR_THRE 0x20

void uart_init(void)
{
    outb(COM1 + UART_IER, 0x00);
    outb(COM1 + UART_LCR, 0x80);    /* DLAB */
    outb(COM1 + 0, 0x01);           /* 115200 baud */
    outb(COM1 + 1, 0x00);
    outb(COM1 + UART_LCR, 0x03);    /* 8N1 */
    outb(COM1 + UART_FCR, 0x07);    /* FIFO on, cleared */
    outb(COM1 + UART_MCR, 0x0b);    /* DTR, RTS, OUT2 (IRQ gate) */
}

void uart_putc(char c)
{
    /* bounded: a UART that never drains must not hang us */
    for (int i = 0; i < 1000000; i++) {
        if (inb(COM1 + UART_LSR) & UART_LSR_THRE)
            break;
        cpu_relax();
    }
    outb(COM1 + UART_THR, (uint8_t)c);
}

int uart_getc_nowait(void)
{
    if (inb(COM1 + UART_LSR) & UART_LSR_DR)
        return inb(COM1 + UART_RBR);
    return -1;
}
