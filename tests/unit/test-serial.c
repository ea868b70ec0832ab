/*
 * 16550A UART and debugcon driven through the I/O address space of a bare
 * machine, checking what Linux's 8250 driver and simple polling guests rely
 * on: reset values, divisor latch, THRE interrupt on IER write, loopback
 * MSR probe, FIFO detection, receive through a chardev with trigger level
 * and character timeout, overrun, and that no register value crashes us.
 */
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib.h>

#include "chardev/char.h"
#include "hw/device.h"
#include "hw/i386/x86.h"
#include "system/memory.h"
#include "system/timer.h"
#include "io-machine.h"

#define COM1 0x3f8
enum { RBR, IER, IIR, LCR, MCR, LSR, MSR, SCR };

static int irq_level[X86_NUM_GSI];
static int irq_changes;

static void gsi_handler(void *opaque, int n, int level)
{
    irq_level[n] = level;
    irq_changes++;
}

typedef struct TestMachine {
    Machine m;
    MemoryRegion io;
    Device *serial;
} TestMachine;

static char *tmpdir;

static void tm_init(TestMachine *tm)
{
    memset(tm, 0, sizeof(*tm));
    io_machine_init(&tm->m, &tm->io, gsi_handler);
    memset(irq_level, 0, sizeof(irq_level));
    irq_changes = 0;
}

static void tm_fini(TestMachine *tm)
{
    io_machine_fini(&tm->m, &tm->io);
    chardev_cleanup_all();
}

static Device *add_device(TestMachine *tm, const char *type, const char *p1,
                          const char *v1, const char *p2, const char *v2)
{
    GError *err = NULL;
    Device *dev = device_new(type, &err);

    g_assert_no_error(err);
    if (p1) {
        g_assert_true(device_set_prop(dev, p1, v1, &err));
    }
    if (p2) {
        g_assert_true(device_set_prop(dev, p2, v2, &err));
    }
    g_assert_true(device_realize(dev, &tm->m, &err));
    g_assert_no_error(err);
    return dev;
}

static void outb(TestMachine *tm, uint16_t port, uint8_t val)
{
    address_space_st(&tm->m.as_io, port, 1, val);
}

static uint8_t inb(TestMachine *tm, uint16_t port)
{
    uint64_t v = 0;
    address_space_ld(&tm->m.as_io, port, 1, &v);
    return v;
}

static void spin_until_irq(int line, int level)
{
    gint64 deadline = g_get_monotonic_time() + 5 * G_USEC_PER_SEC;

    while (irq_level[line] != level && g_get_monotonic_time() < deadline) {
        g_main_context_iteration(NULL, FALSE);
        g_usleep(200);
    }
    g_assert_cmpint(irq_level[line], ==, level);
}

static void spin_ms(int ms)
{
    gint64 end = g_get_monotonic_time() + ms * 1000;
    while (g_get_monotonic_time() < end) {
        g_main_context_iteration(NULL, FALSE);
        g_usleep(200);
    }
}

/* A serial port on COM1 whose chardev is "pipe:" FIFOs the test holds. */
typedef struct SerialFixture {
    TestMachine tm;
    char *base;
    int to_guest;       /* write end of BASE.in */
    int from_guest;     /* read end of BASE.out */
} SerialFixture;

static void fixture_init(SerialFixture *f)
{
    static int counter;
    g_autofree char *in = NULL, *out = NULL, *spec = NULL;
    GError *err = NULL;

    tm_init(&f->tm);
    f->base = g_strdup_printf("%s/ser%d", tmpdir, counter++);
    in = g_strdup_printf("%s.in", f->base);
    out = g_strdup_printf("%s.out", f->base);
    g_assert_cmpint(mkfifo(in, 0600), ==, 0);
    g_assert_cmpint(mkfifo(out, 0600), ==, 0);
    spec = g_strdup_printf("pipe:%s", f->base);
    g_assert_nonnull(chardev_new_from_spec("serial0", spec, &err));
    g_assert_no_error(err);
    f->to_guest = open(in, O_WRONLY | O_NONBLOCK);
    f->from_guest = open(out, O_RDONLY | O_NONBLOCK);
    g_assert_cmpint(f->to_guest, >=, 0);
    g_assert_cmpint(f->from_guest, >=, 0);
    f->tm.serial = add_device(&f->tm, "isa-serial", "chardev", "serial0",
                              NULL, NULL);
}

static void fixture_fini(SerialFixture *f)
{
    tm_fini(&f->tm);
    close(f->to_guest);
    close(f->from_guest);
    g_free(f->base);
}

static GString *drain_output(SerialFixture *f)
{
    GString *s = g_string_new(NULL);
    char buf[256];
    ssize_t n;

    spin_ms(2);
    while ((n = read(f->from_guest, buf, sizeof(buf))) > 0) {
        g_string_append_len(s, buf, n);
    }
    return s;
}

static void test_reset_values(void)
{
    SerialFixture f;
    TestMachine *tm = &f.tm;

    fixture_init(&f);
    g_assert_cmphex(inb(tm, COM1 + IER), ==, 0x00);
    g_assert_cmphex(inb(tm, COM1 + IIR), ==, 0x01);
    g_assert_cmphex(inb(tm, COM1 + LCR), ==, 0x00);
    g_assert_cmphex(inb(tm, COM1 + MCR), ==, 0x08);
    g_assert_cmphex(inb(tm, COM1 + LSR), ==, 0x60);
    g_assert_cmphex(inb(tm, COM1 + MSR), ==, 0xb0);
    g_assert_cmphex(inb(tm, COM1 + SCR), ==, 0x00);
    g_assert_cmpint(irq_level[4], ==, 0);

    /* dirty everything, then a device reset brings the power-on values */
    outb(tm, COM1 + LCR, 0x83);
    outb(tm, COM1 + RBR, 0x01);
    outb(tm, COM1 + LCR, 0x03);
    outb(tm, COM1 + IIR, 0xc7);         /* FCR */
    outb(tm, COM1 + IER, 0x0f);
    outb(tm, COM1 + SCR, 0x55);
    g_assert_cmpint(irq_level[4], ==, 1);
    f.tm.serial->cls->reset(f.tm.serial);
    g_assert_cmpint(irq_level[4], ==, 0);
    g_assert_cmphex(inb(tm, COM1 + IER), ==, 0x00);
    g_assert_cmphex(inb(tm, COM1 + LCR), ==, 0x00);
    g_assert_cmphex(inb(tm, COM1 + SCR), ==, 0x00);
    outb(tm, COM1 + LCR, 0x80);
    g_assert_cmphex(inb(tm, COM1 + RBR), ==, 12);
    fixture_fini(&f);
}

static void test_divisor_latch(void)
{
    SerialFixture f;
    TestMachine *tm = &f.tm;

    fixture_init(&f);
    outb(tm, COM1 + LCR, 0x83);         /* DLAB, 8N1 */
    outb(tm, COM1 + RBR, 0x01);         /* 115200 baud */
    outb(tm, COM1 + IER, 0x00);
    g_assert_cmphex(inb(tm, COM1 + RBR), ==, 0x01);
    g_assert_cmphex(inb(tm, COM1 + IER), ==, 0x00);
    outb(tm, COM1 + IER, 0xab);
    g_assert_cmphex(inb(tm, COM1 + IER), ==, 0xab);
    outb(tm, COM1 + LCR, 0x03);
    /* the latch did not leak into IER, nor the THR write into output */
    g_assert_cmphex(inb(tm, COM1 + IER), ==, 0x00);
    g_assert_cmphex(inb(tm, COM1 + LCR), ==, 0x03);
    GString *out = drain_output(&f);
    g_assert_cmpuint(out->len, ==, 0);
    g_string_free(out, TRUE);
    outb(tm, COM1 + SCR, 0x5a);
    g_assert_cmphex(inb(tm, COM1 + SCR), ==, 0x5a);
    fixture_fini(&f);
}

static void test_transmit(void)
{
    SerialFixture f;
    TestMachine *tm = &f.tm;
    const char *msg = "Linux version 6.1\r\n";

    fixture_init(&f);
    outb(tm, COM1 + LCR, 0x03);
    for (const char *p = msg; *p; p++) {
        /* as a polling console: wait for THRE, then write */
        g_assert_true(inb(tm, COM1 + LSR) & 0x20);
        outb(tm, COM1 + RBR, *p);
    }
    g_assert_cmphex(inb(tm, COM1 + LSR), ==, 0x60);
    GString *out = drain_output(&f);
    g_assert_cmpstr(out->str, ==, msg);
    g_string_free(out, TRUE);
    fixture_fini(&f);
}

/* serial8250_do_startup's THRE test and the TX interrupt cycle. */
static void test_thre_interrupt(void)
{
    SerialFixture f;
    TestMachine *tm = &f.tm;

    fixture_init(&f);
    outb(tm, COM1 + IER, 0x02);
    g_assert_cmpint(irq_level[4], ==, 1);
    g_assert_cmphex(inb(tm, COM1 + IIR), ==, 0x02);
    /* reading IIR acknowledged it */
    g_assert_cmpint(irq_level[4], ==, 0);
    g_assert_cmphex(inb(tm, COM1 + IIR), ==, 0x01);
    outb(tm, COM1 + IER, 0x00);
    outb(tm, COM1 + IER, 0x02);
    g_assert_cmpint(irq_level[4], ==, 1);
    g_assert_cmphex(inb(tm, COM1 + IIR), ==, 0x02);

    /* each byte sent empties THR again: THRI comes back */
    outb(tm, COM1 + RBR, 'a');
    g_assert_cmpint(irq_level[4], ==, 1);
    g_assert_cmphex(inb(tm, COM1 + IIR), ==, 0x02);
    g_assert_cmpint(irq_level[4], ==, 0);
    /* the driver stops TX by clearing THRI */
    outb(tm, COM1 + RBR, 'b');
    outb(tm, COM1 + IER, 0x00);
    g_assert_cmpint(irq_level[4], ==, 0);
    g_assert_cmphex(inb(tm, COM1 + IIR), ==, 0x01);
    fixture_fini(&f);
}

/* 8250 autoconfig: MCR loopback probe, IER bits, FIFO detection. */
static void test_linux_probe(void)
{
    SerialFixture f;
    TestMachine *tm = &f.tm;

    fixture_init(&f);
    outb(tm, COM1 + IER, 0x00);
    g_assert_cmphex(inb(tm, COM1 + IER), ==, 0x00);
    outb(tm, COM1 + IER, 0xff);
    g_assert_cmphex(inb(tm, COM1 + IER), ==, 0x0f);   /* 16550A: no UUE */
    outb(tm, COM1 + IER, 0x00);

    outb(tm, COM1 + MCR, 0x1a);         /* LOOP | OUT2 | RTS */
    g_assert_cmphex(inb(tm, COM1 + MSR) & 0xf0, ==, 0x90);
    outb(tm, COM1 + MCR, 0x1f);
    g_assert_cmphex(inb(tm, COM1 + MSR) & 0xf0, ==, 0xf0);
    outb(tm, COM1 + MCR, 0x10);
    /* RI fell (TERI), CTS/DSR/DCD changed */
    g_assert_cmphex(inb(tm, COM1 + MSR), ==, 0x0f);
    g_assert_cmphex(inb(tm, COM1 + MSR), ==, 0x00);
    outb(tm, COM1 + MCR, 0x08);
    g_assert_cmphex(inb(tm, COM1 + MSR) & 0xf0, ==, 0xb0);

    outb(tm, COM1 + IIR, 0x01);         /* FCR: enable FIFOs */
    g_assert_cmphex(inb(tm, COM1 + IIR), ==, 0xc1);
    outb(tm, COM1 + IIR, 0x21);         /* 16750 64-byte bit: no effect */
    g_assert_cmphex(inb(tm, COM1 + IIR) >> 5, ==, 6);
    outb(tm, COM1 + LCR, 0xbf);         /* EFR probe: IIR reads back, != 0 */
    g_assert_cmphex(inb(tm, COM1 + IIR), !=, 0);
    outb(tm, COM1 + LCR, 0x00);
    outb(tm, COM1 + IIR, 0x00);
    g_assert_cmphex(inb(tm, COM1 + IIR), ==, 0x01);
    fixture_fini(&f);
}

static void test_loopback_no_output(void)
{
    SerialFixture f;
    TestMachine *tm = &f.tm;

    fixture_init(&f);
    outb(tm, COM1 + MCR, 0x1b);
    outb(tm, COM1 + IER, 0x01);
    outb(tm, COM1 + RBR, 'L');
    g_assert_cmpint(irq_level[4], ==, 1);
    g_assert_cmphex(inb(tm, COM1 + IIR), ==, 0x04);
    g_assert_cmphex(inb(tm, COM1 + LSR), ==, 0x61);
    g_assert_cmphex(inb(tm, COM1 + RBR), ==, 'L');
    g_assert_cmpint(irq_level[4], ==, 0);
    GString *out = drain_output(&f);
    g_assert_cmpuint(out->len, ==, 0);
    g_string_free(out, TRUE);

    /* overrun in loopback: 17 bytes into a 16-byte FIFO */
    outb(tm, COM1 + IIR, 0x07);
    outb(tm, COM1 + IER, 0x04);         /* RLSI only */
    for (int i = 0; i < 17; i++) {
        outb(tm, COM1 + RBR, 'a' + i);
    }
    g_assert_cmpint(irq_level[4], ==, 1);
    g_assert_cmphex(inb(tm, COM1 + IIR), ==, 0xc6);
    g_assert_cmphex(inb(tm, COM1 + LSR), ==, 0x63);   /* OE reported once */
    g_assert_cmpint(irq_level[4], ==, 0);
    g_assert_cmphex(inb(tm, COM1 + LSR), ==, 0x61);
    for (int i = 0; i < 16; i++) {
        g_assert_cmphex(inb(tm, COM1 + RBR), ==, 'a' + i);
    }
    g_assert_cmphex(inb(tm, COM1 + LSR), ==, 0x60);
    fixture_fini(&f);
}

static void test_receive_no_fifo(void)
{
    SerialFixture f;
    TestMachine *tm = &f.tm;

    fixture_init(&f);
    outb(tm, COM1 + IER, 0x01);
    g_assert_cmpint(write(f.to_guest, "xyz", 3), ==, 3);
    spin_until_irq(4, 1);
    g_assert_cmphex(inb(tm, COM1 + IIR), ==, 0x04);
    /* one byte at a time: no overrun even though three were waiting */
    g_assert_cmphex(inb(tm, COM1 + LSR), ==, 0x61);
    g_assert_cmphex(inb(tm, COM1 + RBR), ==, 'x');
    g_assert_cmpint(irq_level[4], ==, 0);
    spin_until_irq(4, 1);
    g_assert_cmphex(inb(tm, COM1 + RBR), ==, 'y');
    spin_until_irq(4, 1);
    g_assert_cmphex(inb(tm, COM1 + RBR), ==, 'z');
    spin_ms(5);
    g_assert_cmpint(irq_level[4], ==, 0);
    g_assert_cmphex(inb(tm, COM1 + LSR), ==, 0x60);
    fixture_fini(&f);
}

static void test_receive_fifo(void)
{
    SerialFixture f;
    TestMachine *tm = &f.tm;
    char data[20];

    fixture_init(&f);
    for (int i = 0; i < 20; i++) {
        data[i] = 'A' + i;
    }
    outb(tm, COM1 + IIR, 0xc7);         /* FIFOs on, trigger at 14 */
    outb(tm, COM1 + IER, 0x01);
    g_assert_cmpint(write(f.to_guest, data, 20), ==, 20);
    spin_until_irq(4, 1);
    g_assert_cmphex(inb(tm, COM1 + IIR), ==, 0xc4);
    /* the FIFO holds 16; the rest waits in the backend, not overrun */
    int n = 0;
    while (inb(tm, COM1 + LSR) & 0x01) {
        g_assert_cmphex(inb(tm, COM1 + RBR), ==, data[n]);
        n++;
    }
    g_assert_cmpint(n, ==, 16);
    g_assert_cmpint(irq_level[4], ==, 0);
    /* 4 bytes below the trigger level: character timeout */
    spin_until_irq(4, 1);
    g_assert_cmphex(inb(tm, COM1 + IIR), ==, 0xcc);
    while (inb(tm, COM1 + LSR) & 0x01) {
        g_assert_cmphex(inb(tm, COM1 + RBR), ==, data[n]);
        n++;
    }
    g_assert_cmpint(n, ==, 20);
    g_assert_cmpint(irq_level[4], ==, 0);
    g_assert_cmphex(inb(tm, COM1 + IIR), ==, 0xc1);

    /* a guest reading one byte per interrupt still gets them all */
    g_assert_cmpint(write(f.to_guest, "12", 2), ==, 2);
    spin_until_irq(4, 1);
    g_assert_cmphex(inb(tm, COM1 + RBR), ==, '1');
    spin_until_irq(4, 1);
    g_assert_cmphex(inb(tm, COM1 + IIR), ==, 0xcc);
    g_assert_cmphex(inb(tm, COM1 + RBR), ==, '2');

    /* FCR receive-FIFO clear drops what is there */
    g_assert_cmpint(write(f.to_guest, "zz", 2), ==, 2);
    spin_until_irq(4, 1);
    outb(tm, COM1 + IIR, 0xc3);
    g_assert_cmphex(inb(tm, COM1 + LSR) & 0x01, ==, 0);
    g_assert_cmpint(irq_level[4], ==, 0);
    fixture_fini(&f);
}

static void test_index_and_errors(void)
{
    TestMachine tm;
    GError *err = NULL;
    Device *dev;

    tm_init(&tm);
    add_device(&tm, "isa-serial", "index", "1", NULL, NULL);
    outb(&tm, 0x2f8 + IER, 0x02);
    g_assert_cmpint(irq_level[3], ==, 1);

    dev = device_new("isa-serial", &err);
    device_set_prop(dev, "chardev", "nosuch", &err);
    g_assert_false(device_realize(dev, &tm.m, &err));
    g_assert_nonnull(strstr(err->message, "chardev 'nosuch' not found"));
    g_clear_error(&err);
    device_free(dev);

    dev = device_new("isa-serial", &err);
    device_set_prop(dev, "index", "7", &err);
    g_assert_false(device_realize(dev, &tm.m, &err));
    g_clear_error(&err);
    device_free(dev);

    dev = device_new("isa-serial", &err);
    device_set_prop(dev, "irq", "99", &err);
    g_assert_false(device_realize(dev, &tm.m, &err));
    g_clear_error(&err);
    device_free(dev);
    tm_fini(&tm);
}

/* Any sequence of guest accesses: no crash, no assert, no hang. */
static void test_random_access(void)
{
    SerialFixture f;
    TestMachine *tm = &f.tm;
    GRand *r = g_rand_new_with_seed(1234);

    fixture_init(&f);
    for (int i = 0; i < 200000; i++) {
        uint16_t port = COM1 + g_rand_int_range(r, 0, 8);
        if (g_rand_boolean(r)) {
            outb(tm, port, g_rand_int_range(r, 0, 256));
        } else {
            inb(tm, port);
        }
        if (i % 1000 == 0) {
            g_main_context_iteration(NULL, FALSE);
        }
    }
    /* divisor 0 with FIFO data pending: timeout math must not divide by 0 */
    outb(tm, COM1 + MCR, 0x10);
    outb(tm, COM1 + LCR, 0x80);
    outb(tm, COM1 + RBR, 0);
    outb(tm, COM1 + IER, 0);
    outb(tm, COM1 + LCR, 0x03);
    outb(tm, COM1 + IIR, 0x01);
    outb(tm, COM1 + IER, 0x01);
    outb(tm, COM1 + RBR, 'q');
    spin_ms(5);
    g_rand_free(r);
    fixture_fini(&f);
}

static void test_debugcon(void)
{
    TestMachine tm;
    g_autofree char *path = g_strdup_printf("%s/debugcon.log", tmpdir);
    g_autofree char *spec = g_strdup_printf("file:%s", path);
    GError *err = NULL;
    char *data;

    tm_init(&tm);
    g_assert_nonnull(chardev_new_from_spec("debugcon", spec, &err));
    add_device(&tm, "isa-debugcon", "chardev", "debugcon", NULL, NULL);
    g_assert_cmphex(inb(&tm, 0xe9), ==, 0xe9);
    for (const char *p = "SeaBIOS\n"; *p; p++) {
        outb(&tm, 0xe9, *p);
    }
    g_assert_true(g_file_get_contents(path, &data, NULL, NULL));
    g_assert_cmpstr(data, ==, "SeaBIOS\n");
    g_free(data);
    tm_fini(&tm);
}

int main(int argc, char **argv)
{
    int ret;

    g_test_init(&argc, &argv, NULL);
    timers_init();      /* the character timeout is a CLK_VIRTUAL timer */
    tmpdir = g_dir_make_tmp("vireo-serial-XXXXXX", NULL);

    g_test_add_func("/serial/reset-values", test_reset_values);
    g_test_add_func("/serial/divisor-latch", test_divisor_latch);
    g_test_add_func("/serial/transmit", test_transmit);
    g_test_add_func("/serial/thre-interrupt", test_thre_interrupt);
    g_test_add_func("/serial/linux-probe", test_linux_probe);
    g_test_add_func("/serial/loopback", test_loopback_no_output);
    g_test_add_func("/serial/receive-no-fifo", test_receive_no_fifo);
    g_test_add_func("/serial/receive-fifo-timeout", test_receive_fifo);
    g_test_add_func("/serial/index-and-errors", test_index_and_errors);
    g_test_add_func("/serial/random-access", test_random_access);
    g_test_add_func("/debugcon/output", test_debugcon);
    ret = g_test_run();

    g_autofree char *cmd = g_strdup_printf("rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) {
        /* leftovers in /tmp are harmless */
    }
    g_free(tmpdir);
    return ret;
}
