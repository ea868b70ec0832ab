/*
 * The HPET on pc at 0xfed00000 (IA-PC HPET 1.0a): capabilities, a main
 * counter at 100 MHz on the virtual clock, one-shot and periodic timers on
 * the legacy replacement route (IRQ 0 and 8, the RTC's IRQ 8 taken over),
 * level-triggered status, 32-bit mode, and hostile register writes.
 */
#include "libqtest.h"

#define HPET_BASE       0xfed00000ULL
#define HPET_GCAP_ID    0x000
#define HPET_GEN_CONF   0x010
#define HPET_GINTR_STA  0x020
#define HPET_MAIN_CNT   0x0f0
#define HPET_TN_CONF(n) (0x100 + 0x20 * (n))
#define HPET_TN_CMP(n)  (0x108 + 0x20 * (n))

#define CONF_ENABLE     0x1
#define CONF_LEG_RT     0x2
#define TN_LEVEL        (1u << 1)
#define TN_INT_ENB      (1u << 2)
#define TN_PERIODIC     (1u << 3)
#define TN_VAL_SET      (1u << 6)
#define TN_32MODE       (1u << 8)
#define TN_ROUTE(r)     ((r) << 9)

#define NS_PER_TICK     10

static uint32_t hpet_readl(QTestState *s, uint32_t reg)
{
    return qtest_readl(s, HPET_BASE + reg);
}

static void hpet_writel(QTestState *s, uint32_t reg, uint32_t val)
{
    qtest_writel(s, HPET_BASE + reg, val);
}

static uint64_t hpet_counter(QTestState *s)
{
    return qtest_readq(s, HPET_BASE + HPET_MAIN_CNT);
}

static QTestState *start(void)
{
    QTestState *s = qtest_init("-M pc");

    qtest_irq_intercept_in(s, "ioapic");
    return s;
}

static void test_capabilities(void)
{
    QTestState *s = start();

    /* rev 1, 3 timers, 64-bit, legacy route capable, vendor 8086 */
    g_assert_cmphex(hpet_readl(s, HPET_GCAP_ID), ==, 0x8086a201);
    g_assert_cmpuint(hpet_readl(s, HPET_GCAP_ID + 4), ==, 10000000);
    for (int n = 0; n < 3; n++) {
        /* periodic and 64-bit capable; routable to IOAPIC input 2 */
        g_assert_cmphex(hpet_readl(s, HPET_TN_CONF(n)), ==, 0x30);
        g_assert_cmphex(hpet_readl(s, HPET_TN_CONF(n) + 4), ==, 0x4);
        g_assert_cmphex(qtest_readq(s, HPET_BASE + HPET_TN_CMP(n)), ==,
                        ~0ULL);
    }
    qtest_quit(s);
}

/* The counter counts 100 MHz ticks of virtual time, only while enabled. */
static void test_counter(void)
{
    QTestState *s = start();

    qtest_clock_step(s, 1000000);
    g_assert_cmpuint(hpet_counter(s), ==, 0);
    hpet_writel(s, HPET_GEN_CONF, CONF_ENABLE);
    qtest_clock_step(s, 1000);
    g_assert_cmpuint(hpet_counter(s), ==, 100);
    qtest_clock_step(s, 1000000000);
    g_assert_cmpuint(hpet_counter(s), ==, 100000100);
    hpet_writel(s, HPET_GEN_CONF, 0);
    qtest_clock_step(s, 5000);
    g_assert_cmpuint(hpet_counter(s), ==, 100000100);
    /* halted, software sets it, in halves */
    hpet_writel(s, HPET_MAIN_CNT, 0xfffffff0);
    hpet_writel(s, HPET_MAIN_CNT + 4, 0x1);
    g_assert_cmphex(hpet_counter(s), ==, 0x1fffffff0ULL);
    hpet_writel(s, HPET_GEN_CONF, CONF_ENABLE);
    qtest_clock_step(s, 200);
    g_assert_cmphex(hpet_readl(s, HPET_MAIN_CNT), ==, 0x4);
    g_assert_cmphex(hpet_readl(s, HPET_MAIN_CNT + 4), ==, 0x2);
    qtest_quit(s);
}

/* Legacy route: timer 0 one-shot on IRQ 0, exactly at the match, once. */
static void test_oneshot_legacy_irq0(void)
{
    QTestState *s = start();
    unsigned n;
    int64_t t0;

    hpet_writel(s, HPET_GEN_CONF, CONF_ENABLE | CONF_LEG_RT);
    t0 = qtest_clock_step(s, 0);
    n = qtest_irq_raise_count(s, 0);
    hpet_writel(s, HPET_TN_CONF(0), TN_INT_ENB);
    hpet_writel(s, HPET_TN_CMP(0), hpet_readl(s, HPET_MAIN_CNT) + 1000);
    hpet_writel(s, HPET_TN_CMP(0) + 4, 0);
    qtest_clock_set(s, t0 + 1000 * NS_PER_TICK - 1);
    /* the 8254's own edges on IRQ 0 no longer get through either */
    g_assert_cmpuint(qtest_irq_raise_count(s, 0), ==, n);
    qtest_clock_set(s, t0 + 1000 * NS_PER_TICK);
    g_assert_cmpuint(qtest_irq_raise_count(s, 0), ==, n + 1);
    qtest_clock_step(s, 100000000);
    g_assert_cmpuint(qtest_irq_raise_count(s, 0), ==, n + 1);
    /* the comparator of a one-shot stays */
    g_assert_cmpuint(hpet_readl(s, HPET_TN_CMP(0)), ==, 1000);
    qtest_quit(s);
}

/*
 * Legacy route: timer 1 periodic on IRQ 8, Linux's way (VAL_SET, the
 * comparator, then the period); the comparator moves on by the period.
 */
static void test_periodic_legacy_irq8(void)
{
    QTestState *s = start();
    const uint32_t period = 50000;      /* 500 us */
    unsigned n;
    int64_t t0;

    hpet_writel(s, HPET_GEN_CONF, CONF_ENABLE | CONF_LEG_RT);
    t0 = qtest_clock_step(s, 0);
    hpet_writel(s, HPET_TN_CONF(1), TN_INT_ENB | TN_PERIODIC | TN_VAL_SET |
                TN_32MODE);
    hpet_writel(s, HPET_TN_CMP(1), period);
    hpet_writel(s, HPET_TN_CMP(1), period);
    g_assert_false(hpet_readl(s, HPET_TN_CONF(1)) & TN_VAL_SET);
    n = qtest_irq_raise_count(s, 8);
    for (unsigned k = 1; k <= 5; k++) {
        qtest_clock_set(s, t0 + (int64_t)k * period * NS_PER_TICK - 1);
        g_assert_cmpuint(qtest_irq_raise_count(s, 8), ==, n + k - 1);
        qtest_clock_set(s, t0 + (int64_t)k * period * NS_PER_TICK);
        g_assert_cmpuint(qtest_irq_raise_count(s, 8), ==, n + k);
        g_assert_cmpuint(hpet_readl(s, HPET_TN_CMP(1)), ==,
                         (k + 1) * period);
    }
    /* missed periods make one interrupt, and the comparator catches up */
    qtest_clock_set(s, t0 + 10 * (int64_t)period * NS_PER_TICK + 7);
    g_assert_cmpuint(hpet_readl(s, HPET_TN_CMP(1)), ==, 11 * period);
    qtest_quit(s);
}

/*
 * A periodic timer with its interrupt disabled, as Linux leaves timer 0:
 * no interrupts, but the comparator still moves on by the period, and
 * re-enabled it interrupts at the next period again.
 */
static void test_periodic_disabled(void)
{
    QTestState *s = start();
    const uint32_t period = 100000;     /* 1 ms */
    unsigned n;
    int64_t t0;

    hpet_writel(s, HPET_GEN_CONF, CONF_ENABLE | CONF_LEG_RT);
    t0 = qtest_clock_step(s, 0);
    hpet_writel(s, HPET_TN_CONF(0), TN_INT_ENB | TN_PERIODIC | TN_VAL_SET |
                TN_32MODE);
    hpet_writel(s, HPET_TN_CMP(0), period);
    hpet_writel(s, HPET_TN_CMP(0), period);
    n = qtest_irq_raise_count(s, 0);
    qtest_clock_set(s, t0 + (int64_t)period * NS_PER_TICK);
    g_assert_cmpuint(qtest_irq_raise_count(s, 0), ==, n + 1);

    hpet_writel(s, HPET_TN_CONF(0), TN_PERIODIC | TN_32MODE);
    qtest_clock_set(s, t0 + 10 * (int64_t)period * NS_PER_TICK + 5);
    g_assert_cmpuint(qtest_irq_raise_count(s, 0), ==, n + 1);
    g_assert_cmpuint(hpet_readl(s, HPET_TN_CMP(0)), ==, 11 * period);
    qtest_clock_set(s, t0 + 20 * (int64_t)period * NS_PER_TICK + 5);
    hpet_writel(s, HPET_TN_CONF(0), TN_INT_ENB | TN_PERIODIC | TN_32MODE);
    g_assert_cmpuint(hpet_readl(s, HPET_TN_CMP(0)), ==, 21 * period);
    qtest_clock_set(s, t0 + 21 * (int64_t)period * NS_PER_TICK - 1);
    g_assert_cmpuint(qtest_irq_raise_count(s, 0), ==, n + 1);
    qtest_clock_set(s, t0 + 21 * (int64_t)period * NS_PER_TICK);
    g_assert_cmpuint(qtest_irq_raise_count(s, 0), ==, n + 2);
    qtest_quit(s);
}

/*
 * While the legacy route holds IRQ 0 the 8254 is stopped, as QEMU's is:
 * its square wave (18.2 Hz since reset) no longer wakes the VMM. Given
 * back, it interrupts again.
 */
static void test_legacy_route_stops_pit(void)
{
    QTestState *s = start();
    int64_t t0, t1;
    unsigned n;

    t0 = qtest_clock_step(s, 0);
    t1 = qtest_clock_step_next(s);
    g_assert_cmpint(t1 - t0, <=, 27500000);     /* half of 65536 ticks */
    hpet_writel(s, HPET_GEN_CONF, CONF_LEG_RT);
    t0 = qtest_clock_step(s, 0);
    t1 = qtest_clock_step_next(s);
    /* no deadline at all, or none of the 8254's */
    g_assert_true(t1 == t0 || t1 - t0 > 100000000);
    hpet_writel(s, HPET_GEN_CONF, 0);
    n = qtest_irq_raise_count(s, 0);
    qtest_clock_step(s, 100000000);
    g_assert_cmpuint(qtest_irq_raise_count(s, 0), >=, n + 1);
    qtest_quit(s);
}

static uint8_t cmos_read(QTestState *s, uint8_t reg)
{
    qtest_outb(s, 0x70, reg);
    return qtest_inb(s, 0x71);
}

/* While the legacy route holds IRQ 8, the RTC's interrupt is cut off. */
static void test_legacy_route_masks_rtc(void)
{
    QTestState *s = qtest_init("-M pc -rtc clock=vm");
    unsigned n;

    qtest_irq_intercept_in(s, "ioapic");
    hpet_writel(s, HPET_GEN_CONF, CONF_ENABLE | CONF_LEG_RT);
    n = qtest_irq_raise_count(s, 8);
    cmos_read(s, 0x0c);
    qtest_outb(s, 0x70, 0x0b);
    qtest_outb(s, 0x71, 0x12);     /* UIE, 24-hour */
    qtest_clock_step(s, 3000000000LL);
    g_assert_cmpuint(qtest_irq_raise_count(s, 8), ==, n);
    g_assert_false(qtest_get_irq(s, 8));
    /* the RTC's pending interrupt appears once the route is given back */
    hpet_writel(s, HPET_GEN_CONF, CONF_ENABLE);
    g_assert_true(qtest_get_irq(s, 8));
    g_assert_true(cmos_read(s, 0x0c) & 0x80);
    g_assert_false(qtest_get_irq(s, 8));
    qtest_quit(s);
}

/* Level-triggered timer 2 on IOAPIC input 2: status holds the line. */
static void test_level_status(void)
{
    QTestState *s = start();

    hpet_writel(s, HPET_GEN_CONF, CONF_ENABLE);
    hpet_writel(s, HPET_TN_CONF(2), TN_LEVEL | TN_INT_ENB | TN_ROUTE(2));
    g_assert_cmphex(hpet_readl(s, HPET_TN_CONF(2)) & 0x3e00, ==,
                    TN_ROUTE(2));
    hpet_writel(s, HPET_TN_CMP(2), hpet_readl(s, HPET_MAIN_CNT) + 100);
    hpet_writel(s, HPET_TN_CMP(2) + 4, 0);
    g_assert_false(qtest_get_irq(s, 2));
    qtest_clock_step(s, 100 * NS_PER_TICK);
    g_assert_true(qtest_get_irq(s, 2));
    g_assert_cmphex(hpet_readl(s, HPET_GINTR_STA), ==, 1u << 2);
    qtest_clock_step(s, 1000000);
    g_assert_true(qtest_get_irq(s, 2));
    hpet_writel(s, HPET_GINTR_STA, 1u << 2);
    g_assert_false(qtest_get_irq(s, 2));
    g_assert_cmphex(hpet_readl(s, HPET_GINTR_STA), ==, 0);
    qtest_quit(s);
}

/* A route the timer's INT_ROUTE_CAP lacks delivers nothing. */
static void test_unsupported_route(void)
{
    QTestState *s = start();
    unsigned n = qtest_irq_raise_count(s, 5);

    hpet_writel(s, HPET_GEN_CONF, CONF_ENABLE);
    hpet_writel(s, HPET_TN_CONF(2), TN_INT_ENB | TN_ROUTE(5));
    hpet_writel(s, HPET_TN_CMP(2), hpet_readl(s, HPET_MAIN_CNT) + 10);
    hpet_writel(s, HPET_TN_CMP(2) + 4, 0);
    qtest_clock_step(s, 1000000);
    g_assert_cmpuint(qtest_irq_raise_count(s, 5), ==, n);
    qtest_quit(s);
}

/* 32-bit mode: the comparator's upper half is 0 and stays so. */
static void test_32bit_mode(void)
{
    QTestState *s = start();

    hpet_writel(s, HPET_TN_CONF(0), TN_32MODE);
    g_assert_cmphex(qtest_readq(s, HPET_BASE + HPET_TN_CMP(0)), ==,
                    0xffffffffULL);
    hpet_writel(s, HPET_TN_CMP(0) + 4, 0x1234);
    hpet_writel(s, HPET_TN_CMP(0), 0x10);
    g_assert_cmphex(qtest_readq(s, HPET_BASE + HPET_TN_CMP(0)), ==, 0x10);
    /* and it matches the counter's low half: counter 0x1_0000_0000 + 0x10 */
    hpet_writel(s, HPET_TN_CONF(0), TN_32MODE | TN_INT_ENB);
    hpet_writel(s, HPET_MAIN_CNT, 0);
    hpet_writel(s, HPET_MAIN_CNT + 4, 1);
    hpet_writel(s, HPET_GEN_CONF, CONF_ENABLE | CONF_LEG_RT);
    unsigned n = qtest_irq_raise_count(s, 0);
    qtest_clock_step(s, 0x10 * NS_PER_TICK);
    g_assert_cmpuint(qtest_irq_raise_count(s, 0), ==, n + 1);
    qtest_quit(s);
}

/* Every register, every width, all-ones and junk: the device goes on. */
static void test_hostile_writes(void)
{
    QTestState *s = start();
    static const uint64_t junk[] = { ~0ULL, 0, 0x5555555555555555ULL,
                                     0xaaaaaaaaaaaaaaaaULL, 1, 0x80000000 };

    for (size_t j = 0; j < G_N_ELEMENTS(junk); j++) {
        for (uint32_t off = 0; off < 0x400; off += 4) {
            qtest_writel(s, HPET_BASE + off, junk[j]);
            qtest_writeb(s, HPET_BASE + off + 1, junk[j] >> 8);
            qtest_writew(s, HPET_BASE + off + 2, junk[j] >> 16);
        }
        for (uint32_t off = 0; off < 0x400; off += 8) {
            qtest_writeq(s, HPET_BASE + off, junk[j]);
            qtest_readq(s, HPET_BASE + off);
        }
        qtest_clock_step(s, 1000000);
    }
    /* read-only bits stayed so */
    g_assert_cmphex(hpet_readl(s, HPET_GCAP_ID), ==, 0x8086a201);
    g_assert_cmphex(hpet_readl(s, HPET_TN_CONF(0)) & ~0x3f4eu, ==, 0x30);
    g_assert_cmphex(hpet_readl(s, HPET_GEN_CONF) & ~0x3u, ==, 0);
    hpet_writel(s, HPET_GEN_CONF, 0);
    g_assert_true(qtest_alive(s));
    qtest_quit(s);
}

static void test_no_hpet(void)
{
    QTestState *s = qtest_init("-M pc -no-hpet");

    g_assert_cmphex(hpet_readl(s, HPET_GCAP_ID), !=, 0x8086a201);
    qtest_quit(s);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/qtest/hpet/capabilities", test_capabilities);
    g_test_add_func("/qtest/hpet/counter", test_counter);
    g_test_add_func("/qtest/hpet/oneshot-legacy-irq0",
                    test_oneshot_legacy_irq0);
    g_test_add_func("/qtest/hpet/periodic-legacy-irq8",
                    test_periodic_legacy_irq8);
    g_test_add_func("/qtest/hpet/periodic-disabled", test_periodic_disabled);
    g_test_add_func("/qtest/hpet/legacy-route-stops-pit",
                    test_legacy_route_stops_pit);
    g_test_add_func("/qtest/hpet/legacy-route-masks-rtc",
                    test_legacy_route_masks_rtc);
    g_test_add_func("/qtest/hpet/level-status", test_level_status);
    g_test_add_func("/qtest/hpet/unsupported-route", test_unsupported_route);
    g_test_add_func("/qtest/hpet/32bit-mode", test_32bit_mode);
    g_test_add_func("/qtest/hpet/hostile-writes", test_hostile_writes);
    g_test_add_func("/qtest/hpet/no-hpet", test_no_hpet);
    return g_test_run();
}
