/*
 * The 8254 PIT on the manual virtual clock: counts and OUT in modes 0, 2, 3
 * and 4, counter 0's output on its GSI (edges only when due), the counter
 * latch and read-back commands, LSB/MSB access modes, BCD counting, and
 * port 0x61 as Linux uses it to calibrate the TSC with counter 2.
 */
#include <glib.h>

#include "hw/device.h"
#include "irqchip-machine.h"

#define PIT_HZ 1193182
#define CH0 0x40
#define CH2 0x42
#define PIT_CMD 0x43

static IrqTestMachine tm;
static int irq_level;
static int irq_rises;

static void gsi0_handler(void *opaque, int n, int level)
{
    if (level && !irq_level) {
        irq_rises++;
    }
    irq_level = level;
}

static Machine *setup(void)
{
    Machine *m = itm_init(&tm, 1);
    GError *err = NULL;
    Device *dev;

    m->gsi[0].handler = gsi0_handler;
    irq_level = 0;
    irq_rises = 0;
    dev = device_new("isa-pit", &err);
    g_assert_no_error(err);
    g_assert_true(device_realize(dev, m, &err));
    g_assert_no_error(err);
    return m;
}

/* CLK_VIRTUAL ns at which `ticks` PIT clocks have passed since t0. */
static int64_t tick_time(int64_t t0, uint64_t ticks)
{
    return t0 + (int64_t)((ticks * NANOSECONDS_PER_SECOND + PIT_HZ - 1) /
                          PIT_HZ);
}

static void run_to_tick(int64_t t0, uint64_t ticks)
{
    clock_virtual_set(tick_time(t0, ticks));
}

/* Programs a counter (lo/hi) and returns the time counting started. */
static int64_t program(Machine *m, int ch, int mode, uint16_t count)
{
    itm_outb(m, PIT_CMD, (ch << 6) | 0x30 | (mode << 1));
    itm_outb(m, CH0 + ch, count & 0xff);
    itm_outb(m, CH0 + ch, count >> 8);
    return clock_get_ns(CLK_VIRTUAL);
}

static uint16_t latch_read(Machine *m, int ch)
{
    itm_outb(m, PIT_CMD, ch << 6);              /* counter latch */
    uint8_t lo = itm_inb(m, CH0 + ch);
    return lo | itm_inb(m, CH0 + ch) << 8;
}

static uint8_t read_status(Machine *m, int ch)
{
    itm_outb(m, PIT_CMD, 0xe0 | (2 << ch));     /* read-back: status */
    return itm_inb(m, CH0 + ch);
}

static void test_mode0(void)
{
    Machine *m = setup();

    itm_outb(m, PIT_CMD, 0x30);
    g_assert_cmpint(irq_level, ==, 0);          /* OUT low at once */
    irq_rises = 0;
    int64_t t0 = program(m, 0, 0, 1000);
    g_assert_cmpint(irq_level, ==, 0);
    run_to_tick(t0, 500);
    g_assert_cmpuint(latch_read(m, 0), ==, 500);
    g_assert_cmphex(read_status(m, 0) & 0x80, ==, 0);
    /* the only host timer is for the edge at terminal count */
    g_assert_cmpint(clock_virtual_deadline(), ==, tick_time(t0, 1000));
    run_to_tick(t0, 999);
    g_assert_cmpint(irq_level, ==, 0);
    run_to_tick(t0, 1000);
    g_assert_cmpint(irq_level, ==, 1);
    g_assert_cmpint(irq_rises, ==, 1);
    g_assert_cmphex(read_status(m, 0) & 0x80, ==, 0x80);
    /* the count wraps and OUT stays high; nothing more is armed */
    run_to_tick(t0, 1010);
    g_assert_cmpuint(latch_read(m, 0), ==, 65526);
    g_assert_cmpint(clock_virtual_deadline(), ==, -1);
    g_assert_cmpint(irq_rises, ==, 1);
    itm_fini(&tm);
}

static void test_mode2_rate(void)
{
    Machine *m = setup();
    int64_t t0 = program(m, 0, 2, 100);
    int rises = irq_rises;

    run_to_tick(t0, 30);
    g_assert_cmpuint(latch_read(m, 0), ==, 70);
    run_to_tick(t0, 99);
    g_assert_cmpuint(latch_read(m, 0), ==, 1);
    g_assert_cmphex(read_status(m, 0) & 0x80, ==, 0);   /* the low pulse */
    run_to_tick(t0, 100);
    g_assert_cmpuint(latch_read(m, 0), ==, 100);        /* reloaded */
    g_assert_cmpint(irq_rises, ==, rises + 1);
    run_to_tick(t0, 350);
    g_assert_cmpint(irq_rises, ==, rises + 3);
    g_assert_cmpint(irq_level, ==, 1);
    g_assert_cmpint(clock_virtual_deadline(), ==, tick_time(t0, 400));
    itm_fini(&tm);
}

static void test_mode3_square(void)
{
    Machine *m = setup();
    int64_t t0 = program(m, 0, 3, 100);
    int rises = irq_rises;

    run_to_tick(t0, 49);
    g_assert_cmpint(irq_level, ==, 1);
    g_assert_cmpuint(latch_read(m, 0), ==, 2);      /* counts by two */
    run_to_tick(t0, 50);
    g_assert_cmpint(irq_level, ==, 0);
    run_to_tick(t0, 100);
    g_assert_cmpint(irq_level, ==, 1);
    g_assert_cmpint(irq_rises, ==, rises + 1);
    run_to_tick(t0, 1000);
    g_assert_cmpint(irq_rises, ==, rises + 10);
    itm_fini(&tm);
}

static void test_mode4_strobe(void)
{
    Machine *m = setup();
    int64_t t0 = program(m, 0, 4, 10);
    int rises = irq_rises;

    g_assert_cmpint(irq_level, ==, 1);
    run_to_tick(t0, 10);
    g_assert_cmphex(read_status(m, 0) & 0x80, ==, 0);   /* strobe */
    run_to_tick(t0, 11);
    g_assert_cmpint(irq_rises, ==, rises + 1);
    run_to_tick(t0, 100000);
    g_assert_cmpint(irq_rises, ==, rises + 1);          /* only once */
    itm_fini(&tm);
}

static void test_latch_holds(void)
{
    Machine *m = setup();
    int64_t t0 = program(m, 0, 2, 5000);

    run_to_tick(t0, 1000);
    itm_outb(m, PIT_CMD, 0x00);
    run_to_tick(t0, 2000);
    itm_outb(m, PIT_CMD, 0x00);                 /* a second latch: ignored */
    g_assert_cmpuint(itm_inb(m, CH0), ==, 4000 & 0xff);
    run_to_tick(t0, 3000);
    g_assert_cmpuint(itm_inb(m, CH0), ==, 4000 >> 8);
    /* unlatched reads follow the counter */
    uint8_t lo = itm_inb(m, CH0);
    uint16_t v = lo | itm_inb(m, CH0) << 8;
    g_assert_cmpuint(v, ==, 2000);
    itm_fini(&tm);
}

static void test_read_back(void)
{
    Machine *m = setup();
    int64_t t0 = program(m, 0, 2, 300);

    run_to_tick(t0, 100);
    itm_outb(m, PIT_CMD, 0xc2);     /* count and status of counter 0 */
    run_to_tick(t0, 150);
    g_assert_cmphex(itm_inb(m, CH0), ==, 0x80 | 0x34);  /* OUT, lohi, m2 */
    g_assert_cmpuint(itm_inb(m, CH0), ==, 200);
    g_assert_cmpuint(itm_inb(m, CH0), ==, 0);
    /* after a mode write the count is null until loaded */
    itm_outb(m, PIT_CMD, 0x34);
    g_assert_cmphex(read_status(m, 0) & 0x40, ==, 0x40);
    itm_outb(m, CH0, 10);
    itm_outb(m, CH0, 0);
    g_assert_cmphex(read_status(m, 0) & 0x40, ==, 0);
    itm_fini(&tm);
}

static void test_access_modes_and_bcd(void)
{
    Machine *m = setup();

    itm_outb(m, PIT_CMD, 0x50);                 /* counter 1, LSB, mode 0 */
    itm_outb(m, 0x41, 200);
    int64_t t0 = clock_get_ns(CLK_VIRTUAL);
    run_to_tick(t0, 50);
    g_assert_cmpuint(itm_inb(m, 0x41), ==, 150);
    g_assert_cmpuint(itm_inb(m, 0x41), ==, 150);  /* LSB every time */

    itm_outb(m, PIT_CMD, 0x60);                 /* counter 1, MSB, mode 0 */
    itm_outb(m, 0x41, 0x02);                    /* 0x200 */
    t0 = clock_get_ns(CLK_VIRTUAL);
    run_to_tick(t0, 256);
    g_assert_cmpuint(itm_inb(m, 0x41), ==, 0x01);

    itm_outb(m, PIT_CMD, 0x71);                 /* lohi, mode 0, BCD */
    itm_outb(m, 0x41, 0x00);
    itm_outb(m, 0x41, 0x10);                    /* 1000 decimal */
    t0 = clock_get_ns(CLK_VIRTUAL);
    run_to_tick(t0, 1);
    g_assert_cmphex(latch_read(m, 1), ==, 0x0999);
    run_to_tick(t0, 1001);
    g_assert_cmphex(latch_read(m, 1), ==, 0x9999);  /* wraps in decimal */
    itm_fini(&tm);
}

/* Linux's pit_calibrate_tsc: gate counter 2, mode 0, poll OUT on 0x61. */
static void test_port61_counter2(void)
{
    Machine *m = setup();
    int64_t t0;

    g_assert_cmphex(itm_inb(m, 0x61) & 0x03, ==, 0);
    itm_outb(m, PIT_CMD, 0xb0);
    itm_outb(m, CH2, 1000 & 0xff);
    itm_outb(m, CH2, 1000 >> 8);
    t0 = clock_get_ns(CLK_VIRTUAL);
    run_to_tick(t0, 500);
    g_assert_cmpuint(latch_read(m, 2), ==, 1000);   /* gate low: held */

    itm_outb(m, 0x61, (itm_inb(m, 0x61) & ~0x02) | 0x01);
    g_assert_cmphex(itm_inb(m, 0x61) & 0x03, ==, 0x01);
    t0 = clock_get_ns(CLK_VIRTUAL);
    run_to_tick(t0, 400);
    g_assert_cmpuint(latch_read(m, 2), ==, 600);
    g_assert_cmphex(itm_inb(m, 0x61) & 0x20, ==, 0);
    run_to_tick(t0, 1000);
    g_assert_cmphex(itm_inb(m, 0x61) & 0x20, ==, 0x20);

    /* the refresh bit toggles every 15 us */
    uint8_t r = itm_inb(m, 0x61) & 0x10;
    clock_virtual_step(15085);
    g_assert_cmphex(itm_inb(m, 0x61) & 0x10, !=, r);
    itm_fini(&tm);
}

static void test_gate_mode2(void)
{
    Machine *m = setup();
    int64_t t0;

    itm_outb(m, 0x61, 0x01);
    t0 = program(m, 2, 2, 100);
    run_to_tick(t0, 30);
    g_assert_cmpuint(latch_read(m, 2), ==, 70);
    itm_outb(m, 0x61, 0x00);                /* gate low stops ... */
    g_assert_cmphex(itm_inb(m, 0x61) & 0x20, ==, 0x20);
    itm_outb(m, 0x61, 0x01);                /* ... the rising edge reloads */
    t0 = clock_get_ns(CLK_VIRTUAL);
    run_to_tick(t0, 10);
    g_assert_cmpuint(latch_read(m, 2), ==, 90);
    itm_fini(&tm);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/pit/mode0", test_mode0);
    g_test_add_func("/pit/mode2-rate", test_mode2_rate);
    g_test_add_func("/pit/mode3-square", test_mode3_square);
    g_test_add_func("/pit/mode4-strobe", test_mode4_strobe);
    g_test_add_func("/pit/latch-holds", test_latch_holds);
    g_test_add_func("/pit/read-back", test_read_back);
    g_test_add_func("/pit/access-modes-bcd", test_access_modes_and_bcd);
    g_test_add_func("/pit/port61-counter2", test_port61_counter2);
    g_test_add_func("/pit/gate-mode2", test_gate_mode2);
    return g_test_run();
}
