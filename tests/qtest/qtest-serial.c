/*
 * The 16550A UART at COM1 (0x3f8, GSI 4) on pc, driven as a guest driver
 * would (PC16550D datasheet): registers, loopback, FIFOs, interrupt
 * identification and line, and bytes received through a socket chardev
 * with the trigger level and the character timeout on the virtual clock.
 */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "libqtest.h"

#define COM1 0x3f8
#define COM1_GSI 4
enum { RBR, IER, IIR, LCR, MCR, LSR, MSR, SCR };
#define FCR IIR
#define DLL RBR
#define DLM IER

#define IER_RDI 0x01
#define IER_THRI 0x02
#define IER_RLSI 0x04
#define IER_MSI 0x08
#define IIR_NO_INT 0x01
#define IIR_MSI 0x00
#define IIR_THRI 0x02
#define IIR_RDI 0x04
#define IIR_RLSI 0x06
#define IIR_CTI 0x0c
#define IIR_FIFO 0xc0
#define FCR_FE 0x01
#define FCR_RFR 0x02
#define FCR_XFR 0x04
#define FCR_TRIGGER_8 0x80
#define LCR_8N1 0x03
#define LCR_DLAB 0x80
#define MCR_DTR 0x01
#define MCR_RTS 0x02
#define MCR_OUT1 0x04
#define MCR_OUT2 0x08
#define MCR_LOOP 0x10
#define LSR_DR 0x01
#define LSR_OE 0x02
#define LSR_THRE 0x20
#define LSR_TEMT 0x40
#define MSR_DCTS 0x01
#define MSR_TERI 0x04
#define MSR_CTS 0x10
#define MSR_DSR 0x20
#define MSR_RI 0x40
#define MSR_DCD 0x80

static void uart_out(QTestState *s, int reg, uint8_t val)
{
    qtest_outb(s, COM1 + reg, val);
}

static uint8_t uart_in(QTestState *s, int reg)
{
    return qtest_inb(s, COM1 + reg);
}

static QTestState *start_null(void)
{
    QTestState *s = qtest_init("-M pc -serial null");

    qtest_irq_intercept_in(s, "ioapic");
    return s;
}

static void test_scratch(void)
{
    QTestState *s = start_null();

    uart_out(s, SCR, 0x55);
    g_assert_cmphex(uart_in(s, SCR), ==, 0x55);
    uart_out(s, SCR, 0xaa);
    g_assert_cmphex(uart_in(s, SCR), ==, 0xaa);
    /* the scratch register is not an alias of another register */
    g_assert_cmphex(uart_in(s, LCR), ==, 0x00);
    qtest_quit(s);
}

static void test_divisor_latch(void)
{
    QTestState *s = start_null();

    uart_out(s, LCR, LCR_DLAB | LCR_8N1);
    uart_out(s, DLL, 0x01);
    uart_out(s, DLM, 0x02);
    g_assert_cmphex(uart_in(s, DLL), ==, 0x01);
    g_assert_cmphex(uart_in(s, DLM), ==, 0x02);
    g_assert_cmphex(uart_in(s, LCR), ==, LCR_DLAB | LCR_8N1);
    /* DLAB off: offsets 0 and 1 are RBR/THR and IER again */
    uart_out(s, LCR, LCR_8N1);
    g_assert_cmphex(uart_in(s, IER), ==, 0x00);
    uart_out(s, IER, IER_RDI);
    g_assert_cmphex(uart_in(s, IER), ==, IER_RDI);
    /* and the latch kept its value under them */
    uart_out(s, LCR, LCR_DLAB | LCR_8N1);
    g_assert_cmphex(uart_in(s, DLL), ==, 0x01);
    g_assert_cmphex(uart_in(s, DLM), ==, 0x02);
    qtest_quit(s);
}

static void test_loopback_data(void)
{
    QTestState *s = start_null();

    uart_out(s, LCR, LCR_8N1);
    uart_out(s, MCR, MCR_LOOP);
    g_assert_cmphex(uart_in(s, LSR), ==, LSR_THRE | LSR_TEMT);
    uart_out(s, RBR, 0x42);
    g_assert_cmphex(uart_in(s, LSR), ==, LSR_THRE | LSR_TEMT | LSR_DR);
    g_assert_cmphex(uart_in(s, RBR), ==, 0x42);
    g_assert_cmphex(uart_in(s, LSR) & LSR_DR, ==, 0);
    /* without FIFOs a second unread byte overruns the first */
    uart_out(s, RBR, 0x01);
    uart_out(s, RBR, 0x02);
    g_assert_cmphex(uart_in(s, LSR) & (LSR_OE | LSR_DR), ==, LSR_OE | LSR_DR);
    g_assert_cmphex(uart_in(s, LSR) & LSR_OE, ==, 0);  /* cleared by read */
    g_assert_cmphex(uart_in(s, RBR), ==, 0x02);
    qtest_quit(s);
}

/* In loopback the modem inputs follow MCR (datasheet, MCR bit 4). */
static void test_loopback_modem_status(void)
{
    QTestState *s = start_null();

    uart_out(s, MCR, MCR_LOOP);
    uart_in(s, MSR);    /* clears the deltas of entering loopback */
    g_assert_cmphex(uart_in(s, MSR), ==, 0x00);
    uart_out(s, MCR, MCR_LOOP | MCR_RTS);
    g_assert_cmphex(uart_in(s, MSR), ==, MSR_CTS | MSR_DCTS);
    g_assert_cmphex(uart_in(s, MSR), ==, MSR_CTS);
    uart_out(s, MCR, MCR_LOOP | MCR_RTS | MCR_DTR | MCR_OUT1 | MCR_OUT2);
    g_assert_cmphex(uart_in(s, MSR) & 0xf0, ==,
                    MSR_CTS | MSR_DSR | MSR_RI | MSR_DCD);
    /* RI going from on to off sets TERI */
    uart_out(s, MCR, MCR_LOOP | MCR_RTS | MCR_DTR | MCR_OUT2);
    g_assert_cmphex(uart_in(s, MSR), ==,
                    MSR_CTS | MSR_DSR | MSR_DCD | MSR_TERI);
    qtest_quit(s);
}

static void test_fifo_control(void)
{
    QTestState *s = start_null();

    g_assert_cmphex(uart_in(s, IIR), ==, IIR_NO_INT);
    uart_out(s, FCR, FCR_FE);
    g_assert_cmphex(uart_in(s, IIR), ==, IIR_FIFO | IIR_NO_INT);
    uart_out(s, MCR, MCR_LOOP);
    for (int i = 0; i < 5; i++) {
        uart_out(s, RBR, 'a' + i);
    }
    /* a FIFO holds all five, in order, without an overrun */
    g_assert_cmphex(uart_in(s, LSR) & (LSR_OE | LSR_DR), ==, LSR_DR);
    g_assert_cmphex(uart_in(s, RBR), ==, 'a');
    g_assert_cmphex(uart_in(s, RBR), ==, 'b');
    /* clearing the receive FIFO drops the rest */
    uart_out(s, FCR, FCR_FE | FCR_RFR | FCR_XFR);
    g_assert_cmphex(uart_in(s, LSR) & LSR_DR, ==, 0);
    /* and FIFO mode off clears the FIFO-enabled bits in IIR */
    uart_out(s, FCR, 0);
    g_assert_cmphex(uart_in(s, IIR), ==, IIR_NO_INT);
    qtest_quit(s);
}

static void test_thre_interrupt(void)
{
    QTestState *s = start_null();

    g_assert_false(qtest_get_irq(s, COM1_GSI));
    /* enabling THRI with THR empty raises it at once */
    uart_out(s, IER, IER_THRI);
    g_assert_true(qtest_get_irq(s, COM1_GSI));
    g_assert_cmphex(uart_in(s, IIR), ==, IIR_THRI);
    /* reading IIR acknowledged it */
    g_assert_false(qtest_get_irq(s, COM1_GSI));
    g_assert_cmphex(uart_in(s, IIR), ==, IIR_NO_INT);
    /* the next byte out empties THR again */
    uart_out(s, RBR, 'x');
    g_assert_true(qtest_get_irq(s, COM1_GSI));
    /* writing THR acknowledges too; disabling the source drops the line */
    uart_out(s, IER, 0);
    g_assert_false(qtest_get_irq(s, COM1_GSI));
    qtest_quit(s);
}

static void test_rx_and_line_status_interrupts(void)
{
    QTestState *s = start_null();

    uart_out(s, MCR, MCR_LOOP);
    uart_out(s, IER, IER_RDI | IER_RLSI);
    uart_out(s, RBR, 0x31);
    g_assert_true(qtest_get_irq(s, COM1_GSI));
    g_assert_cmphex(uart_in(s, IIR), ==, IIR_RDI);
    g_assert_cmphex(uart_in(s, RBR), ==, 0x31);
    g_assert_false(qtest_get_irq(s, COM1_GSI));
    g_assert_cmphex(uart_in(s, IIR), ==, IIR_NO_INT);
    /* an overrun is a line status interrupt, above received data */
    uart_out(s, RBR, 0x32);
    uart_out(s, RBR, 0x33);
    g_assert_cmphex(uart_in(s, IIR), ==, IIR_RLSI);
    g_assert_cmphex(uart_in(s, LSR) & LSR_OE, ==, LSR_OE);
    g_assert_cmphex(uart_in(s, IIR), ==, IIR_RDI);
    uart_in(s, RBR);
    g_assert_false(qtest_get_irq(s, COM1_GSI));
    /* modem status changes interrupt with IER bit 3 */
    uart_out(s, IER, IER_MSI);
    uart_out(s, MCR, MCR_LOOP | MCR_RTS);
    g_assert_true(qtest_get_irq(s, COM1_GSI));
    g_assert_cmphex(uart_in(s, IIR), ==, IIR_MSI);
    uart_in(s, MSR);
    g_assert_false(qtest_get_irq(s, COM1_GSI));
    qtest_quit(s);
}

/* ---- receiving from a chardev ---- */

typedef struct SerialSocket {
    QTestState *s;
    char *path;
    int fd;
} SerialSocket;

static void start_socket(SerialSocket *ss)
{
    struct sockaddr_un addr = { .sun_family = AF_UNIX };

    ss->path = qtest_tmp_path("com1.sock");
    ss->s = qtest_initf("-M pc -chardev socket,path=%s,server=on,wait=off,"
                        "id=s0 -serial chardev:s0", ss->path);
    qtest_irq_intercept_in(ss->s, "ioapic");
    ss->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    g_assert_cmpint(ss->fd, >=, 0);
    strcpy(addr.sun_path, ss->path);
    if (connect(ss->fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
        g_error("connect to %s: %s", ss->path, g_strerror(errno));
    }
    /* 115200 8N1, as a guest console: one character is 86.8 us */
    qtest_outb(ss->s, COM1 + LCR, LCR_DLAB | LCR_8N1);
    qtest_outb(ss->s, COM1 + DLL, 1);
    qtest_outb(ss->s, COM1 + DLM, 0);
    qtest_outb(ss->s, COM1 + LCR, LCR_8N1);
}

static void stop_socket(SerialSocket *ss)
{
    close(ss->fd);
    qtest_quit(ss->s);
    unlink(ss->path);
    g_free(ss->path);
}

static void send_bytes(SerialSocket *ss, const char *bytes)
{
    g_assert_cmpint(write(ss->fd, bytes, strlen(bytes)), ==, strlen(bytes));
}

/*
 * Polls IIR until it reads `want`: vireo's main loop moves socket bytes
 * into the UART between qtest commands, in real time.
 */
static void wait_iir(QTestState *s, uint8_t want)
{
    gint64 deadline = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;
    uint8_t iir;

    while ((iir = uart_in(s, IIR)) != want) {
        if (g_get_monotonic_time() > deadline) {
            g_error("IIR stayed 0x%02x, expected 0x%02x", iir, want);
        }
        g_usleep(1000);
    }
}

static void test_chardev_receive(void)
{
    SerialSocket ss;

    start_socket(&ss);
    uart_out(ss.s, IER, IER_RDI);
    send_bytes(&ss, "A");
    wait_iir(ss.s, IIR_RDI);
    g_assert_true(qtest_get_irq(ss.s, COM1_GSI));
    g_assert_cmphex(uart_in(ss.s, LSR) & LSR_DR, ==, LSR_DR);
    g_assert_cmphex(uart_in(ss.s, RBR), ==, 'A');
    g_assert_false(qtest_get_irq(ss.s, COM1_GSI));
    /* without FIFOs the UART takes the next byte only once RBR is read */
    send_bytes(&ss, "BC");
    wait_iir(ss.s, IIR_RDI);
    g_assert_cmphex(uart_in(ss.s, RBR), ==, 'B');
    wait_iir(ss.s, IIR_RDI);
    g_assert_cmphex(uart_in(ss.s, RBR), ==, 'C');
    g_assert_cmphex(uart_in(ss.s, LSR) & (LSR_DR | LSR_OE), ==, 0);
    stop_socket(&ss);
}

static void test_chardev_fifo_trigger(void)
{
    SerialSocket ss;
    char got[9] = { 0 };

    start_socket(&ss);
    uart_out(ss.s, FCR, FCR_FE | FCR_TRIGGER_8);
    uart_out(ss.s, IER, IER_RDI);
    send_bytes(&ss, "0123456");
    /* below the trigger level and with the clock stopped: no interrupt */
    for (int i = 0; i < 50; i++) {
        g_assert_cmphex(uart_in(ss.s, IIR), ==, IIR_FIFO | IIR_NO_INT);
        g_usleep(1000);
    }
    g_assert_false(qtest_get_irq(ss.s, COM1_GSI));
    send_bytes(&ss, "7");
    wait_iir(ss.s, IIR_FIFO | IIR_RDI);
    g_assert_true(qtest_get_irq(ss.s, COM1_GSI));
    for (int i = 0; i < 8; i++) {
        got[i] = uart_in(ss.s, RBR);
    }
    g_assert_cmpstr(got, ==, "01234567");
    g_assert_false(qtest_get_irq(ss.s, COM1_GSI));
    g_assert_cmphex(uart_in(ss.s, IIR), ==, IIR_FIFO | IIR_NO_INT);
    stop_socket(&ss);
}

/*
 * Data below the trigger level interrupts after four character times
 * (datasheet, "FIFO interrupt mode operation"): 347 us at 115200 8N1, on
 * the virtual clock only.
 */
static void test_chardev_character_timeout(void)
{
    SerialSocket ss;

    start_socket(&ss);
    uart_out(ss.s, FCR, FCR_FE | FCR_TRIGGER_8);
    uart_out(ss.s, IER, IER_RDI);
    send_bytes(&ss, "z");
    {
        gint64 deadline = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;
        while (!(uart_in(ss.s, LSR) & LSR_DR)) {
            g_assert_cmpint(g_get_monotonic_time(), <, deadline);
            g_usleep(1000);
        }
    }
    /* host time passing is not guest time passing */
    for (int i = 0; i < 20; i++) {
        g_usleep(1000);
        g_assert_cmphex(uart_in(ss.s, IIR), ==, IIR_FIFO | IIR_NO_INT);
    }
    qtest_clock_step(ss.s, 300 * 1000);     /* 3.5 characters */
    g_assert_cmphex(uart_in(ss.s, IIR), ==, IIR_FIFO | IIR_NO_INT);
    g_assert_false(qtest_get_irq(ss.s, COM1_GSI));
    qtest_clock_step(ss.s, 100 * 1000);     /* past 4 */
    g_assert_true(qtest_get_irq(ss.s, COM1_GSI));
    g_assert_cmphex(uart_in(ss.s, IIR), ==, IIR_FIFO | IIR_CTI);
    g_assert_cmphex(uart_in(ss.s, RBR), ==, 'z');
    g_assert_false(qtest_get_irq(ss.s, COM1_GSI));
    g_assert_cmphex(uart_in(ss.s, IIR), ==, IIR_FIFO | IIR_NO_INT);
    stop_socket(&ss);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/qtest/serial/scratch", test_scratch);
    g_test_add_func("/qtest/serial/divisor-latch", test_divisor_latch);
    g_test_add_func("/qtest/serial/loopback-data", test_loopback_data);
    g_test_add_func("/qtest/serial/loopback-modem-status",
                    test_loopback_modem_status);
    g_test_add_func("/qtest/serial/fifo-control", test_fifo_control);
    g_test_add_func("/qtest/serial/thre-interrupt", test_thre_interrupt);
    g_test_add_func("/qtest/serial/rx-line-status-interrupts",
                    test_rx_and_line_status_interrupts);
    g_test_add_func("/qtest/serial/chardev-receive", test_chardev_receive);
    g_test_add_func("/qtest/serial/chardev-fifo-trigger",
                    test_chardev_fifo_trigger);
    g_test_add_func("/qtest/serial/chardev-character-timeout",
                    test_chardev_character_timeout);
    return g_test_run();
}
