/*
 * The 8254 PIT on pc (ports 0x40-0x43, counter 0 on IRQ 0, counter 2 gated
 * through port 0x61), timed on the virtual clock as the Intel 8254
 * datasheet says: 1.193182 MHz input, interrupt edges to the nanosecond,
 * counter latch and read-back, the gate and OUT of counter 2.
 */
#include "libqtest.h"

#define PIT_FREQ_HZ 1193182ULL
#define PIT_CH0 0x40
#define PIT_CH2 0x42
#define PIT_MODE 0x43
#define PORT61 0x61
#define PIT_GSI 0

/* control word: SC1:0 RW1:0 M2:0 BCD */
#define CW(ch, rw, mode) (((ch) << 6) | ((rw) << 4) | ((mode) << 1))
#define RW_LATCH 0
#define RW_LSB_MSB 3
#define READ_BACK(count, status, chmask)                                     \
    (0xc0 | ((count) ? 0 : 0x20) | ((status) ? 0 : 0x10) | ((chmask) << 1))
#define STATUS_OUT 0x80
#define STATUS_NULL_COUNT 0x40
#define P61_GATE2 0x01
#define P61_OUT2 0x20

/* The virtual time at which `ticks` input clocks have passed. */
static int64_t ticks_ns(uint64_t ticks)
{
    return (ticks * 1000000000ULL + PIT_FREQ_HZ - 1) / PIT_FREQ_HZ;
}

static QTestState *start(void)
{
    QTestState *s = qtest_init("-M pc");

    qtest_irq_intercept_in(s, "ioapic");
    return s;
}

static int64_t now(QTestState *s)
{
    return qtest_clock_step(s, 0);
}

/* Programs a counter and loads count: returns the load time. */
static int64_t pit_load(QTestState *s, int ch, int mode, uint16_t count)
{
    qtest_outb(s, PIT_MODE, CW(ch, RW_LSB_MSB, mode));
    qtest_outb(s, PIT_CH0 + ch, count & 0xff);
    qtest_outb(s, PIT_CH0 + ch, count >> 8);
    return now(s);
}

static uint16_t pit_read_count(QTestState *s, int ch)
{
    uint8_t lo = qtest_inb(s, PIT_CH0 + ch);

    return lo | qtest_inb(s, PIT_CH0 + ch) << 8;
}

/* Mode 2 (rate generator): one interrupt per period of `count` clocks. */
static void test_mode2_irq_period(void)
{
    QTestState *s = start();
    const uint16_t count = 1193;    /* ~1 ms, as Linux's HZ=1000 tick */
    int64_t t0 = pit_load(s, 0, 2, count);
    unsigned raises = qtest_irq_raise_count(s, PIT_GSI);

    for (int period = 1; period <= 3; period++) {
        int64_t edge = t0 + ticks_ns((uint64_t)period * count);

        qtest_clock_set(s, edge - 1);
        g_assert_cmpuint(qtest_irq_raise_count(s, PIT_GSI), ==, raises);
        qtest_clock_step(s, 1);
        g_assert_cmpuint(qtest_irq_raise_count(s, PIT_GSI), ==, ++raises);
        g_assert_true(qtest_get_irq(s, PIT_GSI));
    }
    qtest_quit(s);
}

/* Mode 0: OUT low from the control word, high at terminal count. */
static void test_mode0_terminal_count(void)
{
    QTestState *s = start();
    int64_t t0;

    qtest_outb(s, PIT_MODE, CW(0, RW_LSB_MSB, 0));
    g_assert_false(qtest_get_irq(s, PIT_GSI));
    qtest_outb(s, PIT_CH0, 100);
    qtest_outb(s, PIT_CH0, 0);
    t0 = now(s);
    qtest_clock_set(s, t0 + ticks_ns(100) - 1);
    g_assert_false(qtest_get_irq(s, PIT_GSI));
    qtest_clock_step(s, 1);
    g_assert_true(qtest_get_irq(s, PIT_GSI));
    /* it stays high: mode 0 interrupts once */
    qtest_clock_step(s, ticks_ns(70000));
    g_assert_true(qtest_get_irq(s, PIT_GSI));
    qtest_quit(s);
}

static void test_counter_latch(void)
{
    QTestState *s = start();
    int64_t t0 = pit_load(s, 0, 2, 1000);

    qtest_clock_set(s, t0 + ticks_ns(250));
    g_assert_cmpuint(pit_read_count(s, 0), ==, 750);
    /* a latched count holds while time moves on, until read */
    qtest_outb(s, PIT_MODE, CW(0, RW_LATCH, 0));
    qtest_clock_set(s, t0 + ticks_ns(400));
    g_assert_cmpuint(pit_read_count(s, 0), ==, 750);
    g_assert_cmpuint(pit_read_count(s, 0), ==, 600);
    /* the counter reloads at the end of each period */
    qtest_clock_set(s, t0 + ticks_ns(1100));
    g_assert_cmpuint(pit_read_count(s, 0), ==, 900);
    qtest_quit(s);
}

static void test_read_back(void)
{
    QTestState *s = start();
    int64_t t0;

    qtest_outb(s, PIT_MODE, CW(0, RW_LSB_MSB, 2));
    /* status before a count is written: null count set */
    qtest_outb(s, PIT_MODE, READ_BACK(false, true, 1));
    g_assert_cmphex(qtest_inb(s, PIT_CH0) & STATUS_NULL_COUNT, ==,
                    STATUS_NULL_COUNT);
    qtest_outb(s, PIT_CH0, 0xe8);
    qtest_outb(s, PIT_CH0, 0x03);   /* 1000 */
    t0 = now(s);
    qtest_clock_set(s, t0 + ticks_ns(123));
    qtest_outb(s, PIT_MODE, READ_BACK(true, true, 1));
    /* status first (OUT high, LSB/MSB, mode 2, binary), then the count */
    g_assert_cmphex(qtest_inb(s, PIT_CH0), ==,
                    STATUS_OUT | (RW_LSB_MSB << 4) | (2 << 1));
    g_assert_cmpuint(pit_read_count(s, 0), ==, 1000 - 123);
    qtest_quit(s);
}

/* Counter 2's gate is port 0x61 bit 0 and its OUT shows in bit 5. */
static void test_channel2_gate_out(void)
{
    QTestState *s = start();
    int64_t t1;

    qtest_outb(s, PORT61, 0);
    pit_load(s, 2, 0, 100);
    g_assert_cmphex(qtest_inb(s, PORT61) & P61_OUT2, ==, 0);
    /* gate low suspends a mode 0 count */
    qtest_clock_step(s, ticks_ns(500));
    g_assert_cmphex(qtest_inb(s, PORT61) & P61_OUT2, ==, 0);
    g_assert_cmpuint(pit_read_count(s, 2), ==, 100);
    qtest_outb(s, PORT61, P61_GATE2);
    t1 = now(s);
    g_assert_cmphex(qtest_inb(s, PORT61) & P61_GATE2, ==, P61_GATE2);
    qtest_clock_set(s, t1 + ticks_ns(100) - 1);
    g_assert_cmphex(qtest_inb(s, PORT61) & P61_OUT2, ==, 0);
    qtest_clock_step(s, 1);
    g_assert_cmphex(qtest_inb(s, PORT61) & P61_OUT2, ==, P61_OUT2);
    qtest_quit(s);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/qtest/pit/mode2-irq-period", test_mode2_irq_period);
    g_test_add_func("/qtest/pit/mode0-terminal-count",
                    test_mode0_terminal_count);
    g_test_add_func("/qtest/pit/counter-latch", test_counter_latch);
    g_test_add_func("/qtest/pit/read-back", test_read_back);
    g_test_add_func("/qtest/pit/channel2-gate-out", test_channel2_gate_out);
    return g_test_run();
}
