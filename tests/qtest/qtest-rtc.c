/*
 * The MC146818 RTC on pc (ports 0x70/0x71, IRQ 8) as the MC146818A
 * datasheet says and guests rely on: BCD/binary and 12/24-hour time,
 * setting the time under SET, periodic, alarm and update interrupts timed
 * on the virtual clock (-rtc clock=vm), register C, the NMI mask bit, -rtc
 * base=, and the CMOS bytes SeaBIOS reads.
 */
#include <string.h>
#include <time.h>

#include "libqtest.h"

#define RTC_SECONDS         0x00
#define RTC_SECONDS_ALARM   0x01
#define RTC_MINUTES         0x02
#define RTC_MINUTES_ALARM   0x03
#define RTC_HOURS           0x04
#define RTC_HOURS_ALARM     0x05
#define RTC_DAY_OF_WEEK     0x06
#define RTC_DAY_OF_MONTH    0x07
#define RTC_MONTH           0x08
#define RTC_YEAR            0x09
#define RTC_REG_A           0x0a
#define RTC_REG_B           0x0b
#define RTC_REG_C           0x0c
#define RTC_REG_D           0x0d
#define RTC_CENTURY         0x32

#define REG_A_UIP   0x80
#define REG_B_SET   0x80
#define REG_B_PIE   0x40
#define REG_B_AIE   0x20
#define REG_B_UIE   0x10
#define REG_B_DM    0x04
#define REG_B_24H   0x02
#define REG_C_IRQF  0x80
#define REG_C_PF    0x40
#define REG_C_AF    0x20
#define REG_C_UF    0x10

#define RTC_GSI     8
#define NS          1000000000LL
#define BASE        "2006-06-17T16:01:21"   /* a Saturday */

static uint8_t cmos_read(QTestState *s, uint8_t reg)
{
    qtest_outb(s, 0x70, reg);
    return qtest_inb(s, 0x71);
}

static void cmos_write(QTestState *s, uint8_t reg, uint8_t val)
{
    qtest_outb(s, 0x70, reg);
    qtest_outb(s, 0x71, val);
}

/* An RTC on the virtual clock, at BASE when the clock is 0. */
static QTestState *start_vm_clock(void)
{
    QTestState *s = qtest_init("-M pc -rtc base=" BASE ",clock=vm");

    qtest_irq_intercept_in(s, "ioapic");
    return s;
}

static void assert_time(QTestState *s, uint8_t cent, uint8_t year,
                        uint8_t mon, uint8_t day, uint8_t hour, uint8_t min,
                        uint8_t sec)
{
    g_assert_cmphex(cmos_read(s, RTC_SECONDS), ==, sec);
    g_assert_cmphex(cmos_read(s, RTC_MINUTES), ==, min);
    g_assert_cmphex(cmos_read(s, RTC_HOURS), ==, hour);
    g_assert_cmphex(cmos_read(s, RTC_DAY_OF_MONTH), ==, day);
    g_assert_cmphex(cmos_read(s, RTC_MONTH), ==, mon);
    g_assert_cmphex(cmos_read(s, RTC_YEAR), ==, year);
    g_assert_cmphex(cmos_read(s, RTC_CENTURY), ==, cent);
}

/* -rtc base=DATE in the registers, BCD and 24-hour as firmware leaves it. */
static void test_base_date_bcd(void)
{
    QTestState *s = start_vm_clock();

    g_assert_cmphex(cmos_read(s, RTC_REG_A), ==, 0x26);
    g_assert_cmphex(cmos_read(s, RTC_REG_B), ==, REG_B_24H);
    g_assert_cmphex(cmos_read(s, RTC_REG_D), ==, 0x80);
    assert_time(s, 0x20, 0x06, 0x06, 0x17, 0x16, 0x01, 0x21);
    g_assert_cmphex(cmos_read(s, RTC_DAY_OF_WEEK), ==, 7);
    qtest_clock_step(s, NS - 1);
    g_assert_cmphex(cmos_read(s, RTC_SECONDS), ==, 0x21);
    qtest_clock_step(s, 1);
    g_assert_cmphex(cmos_read(s, RTC_SECONDS), ==, 0x22);
    qtest_clock_step(s, 100 * NS);
    assert_time(s, 0x20, 0x06, 0x06, 0x17, 0x16, 0x03, 0x02);
    qtest_quit(s);
}

/* The century register turns with the year. */
static void test_century_rollover(void)
{
    QTestState *s = qtest_init("-M pc -rtc base=2099-12-31T23:59:59,"
                               "clock=vm");

    assert_time(s, 0x20, 0x99, 0x12, 0x31, 0x23, 0x59, 0x59);
    g_assert_cmphex(cmos_read(s, RTC_DAY_OF_WEEK), ==, 5);     /* Thu */
    qtest_clock_step(s, NS);
    assert_time(s, 0x21, 0x00, 0x01, 0x01, 0x00, 0x00, 0x00);
    g_assert_cmphex(cmos_read(s, RTC_DAY_OF_WEEK), ==, 6);
    qtest_quit(s);
}

static void test_binary_and_12_hour(void)
{
    QTestState *s = start_vm_clock();

    cmos_write(s, RTC_REG_B, REG_B_DM | REG_B_24H);
    g_assert_cmpuint(cmos_read(s, RTC_SECONDS), ==, 21);
    g_assert_cmpuint(cmos_read(s, RTC_HOURS), ==, 16);
    g_assert_cmpuint(cmos_read(s, RTC_YEAR), ==, 6);
    g_assert_cmpuint(cmos_read(s, RTC_CENTURY), ==, 20);
    /* 12-hour binary: 4 PM */
    cmos_write(s, RTC_REG_B, REG_B_DM);
    g_assert_cmphex(cmos_read(s, RTC_HOURS), ==, 0x80 | 4);
    /* 12-hour BCD: midnight is 12 AM, noon 12 PM */
    cmos_write(s, RTC_REG_B, REG_B_24H | REG_B_SET);
    cmos_write(s, RTC_HOURS, 0x00);
    cmos_write(s, RTC_REG_B, REG_B_24H);
    cmos_write(s, RTC_REG_B, 0);
    g_assert_cmphex(cmos_read(s, RTC_HOURS), ==, 0x12);
    cmos_write(s, RTC_REG_B, REG_B_24H | REG_B_SET);
    cmos_write(s, RTC_HOURS, 0x12);
    cmos_write(s, RTC_REG_B, REG_B_24H);
    cmos_write(s, RTC_REG_B, 0);
    g_assert_cmphex(cmos_read(s, RTC_HOURS), ==, 0x80 | 0x12);
    /* a 12-hour time written under SET reads back in 24-hour mode */
    cmos_write(s, RTC_REG_B, REG_B_SET);
    cmos_write(s, RTC_HOURS, 0x80 | 0x11);
    cmos_write(s, RTC_REG_B, 0);
    cmos_write(s, RTC_REG_B, REG_B_24H);
    g_assert_cmphex(cmos_read(s, RTC_HOURS), ==, 0x23);
    qtest_quit(s);
}

static int64_t event_offset(QTestState *s)
{
    json_t *ev = qtest_qmp_eventwait_ref(s, "RTC_CHANGE");
    json_t *data = json_object_get(ev, "data");
    int64_t off = json_integer_value(json_object_get(data, "offset"));

    g_assert_true(json_is_string(json_object_get(data, "qom-path")));
    json_decref(ev);
    return off;
}

static int64_t utc_seconds(int y, int mo, int d, int h, int mi, int sec)
{
    struct tm tm = { .tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d,
                     .tm_hour = h, .tm_min = mi, .tm_sec = sec };
    return timegm(&tm);
}

/*
 * Linux's way: SET, write the fields, clear SET. The clock holds still
 * meanwhile, then runs from the new time; RTC_CHANGE says by how much.
 */
static void test_set_time(void)
{
    QTestState *s = start_vm_clock();

    qtest_clock_step(s, NS / 4);
    cmos_write(s, RTC_REG_B, REG_B_24H | REG_B_SET);
    cmos_write(s, RTC_SECONDS, 0x58);
    cmos_write(s, RTC_MINUTES, 0x59);
    cmos_write(s, RTC_HOURS, 0x23);
    cmos_write(s, RTC_DAY_OF_MONTH, 0x29);
    cmos_write(s, RTC_MONTH, 0x02);
    cmos_write(s, RTC_YEAR, 0x20);
    qtest_clock_step(s, 3 * NS);
    g_assert_cmphex(cmos_read(s, RTC_SECONDS), ==, 0x58);
    cmos_write(s, RTC_REG_B, REG_B_24H);
    g_assert_cmpint(event_offset(s), ==,
                    utc_seconds(2020, 2, 29, 23, 59, 58) -
                    utc_seconds(2006, 6, 17, 16, 1, 24));
    assert_time(s, 0x20, 0x20, 0x02, 0x29, 0x23, 0x59, 0x58);
    /* the divider kept its phase: the next update is 0.75 s away */
    qtest_clock_step(s, NS * 3 / 4 - 1);
    g_assert_cmphex(cmos_read(s, RTC_SECONDS), ==, 0x58);
    qtest_clock_step(s, 1 + NS);
    assert_time(s, 0x20, 0x20, 0x03, 0x01, 0x00, 0x00, 0x00);
    qtest_quit(s);
}

/* A write to a field of the running clock takes effect at once. */
static void test_write_running_clock(void)
{
    QTestState *s = start_vm_clock();

    cmos_write(s, RTC_MINUTES, 0x30);
    g_assert_cmpint(event_offset(s), ==, 29 * 60);
    assert_time(s, 0x20, 0x06, 0x06, 0x17, 0x16, 0x30, 0x21);
    qtest_clock_step(s, NS);
    g_assert_cmphex(cmos_read(s, RTC_SECONDS), ==, 0x22);
    qtest_quit(s);
}

/* Releasing the divider from reset starts a second half a second later. */
static void test_divider_reset(void)
{
    QTestState *s = start_vm_clock();
    int64_t t0;

    cmos_write(s, RTC_REG_A, 0x70);
    qtest_clock_step(s, 5 * NS);
    g_assert_cmphex(cmos_read(s, RTC_SECONDS), ==, 0x21);
    cmos_write(s, RTC_REG_A, 0x26);
    t0 = qtest_clock_step(s, 0);
    qtest_clock_set(s, t0 + NS / 2 - 1);
    g_assert_cmphex(cmos_read(s, RTC_SECONDS), ==, 0x21);
    qtest_clock_set(s, t0 + NS / 2);
    g_assert_cmphex(cmos_read(s, RTC_SECONDS), ==, 0x22);
    qtest_quit(s);
}

/* UIP is up in the 244 us before each update. */
static void test_uip(void)
{
    QTestState *s = start_vm_clock();

    g_assert_false(cmos_read(s, RTC_REG_A) & REG_A_UIP);
    qtest_clock_set(s, NS - 244000);
    g_assert_true(cmos_read(s, RTC_REG_A) & REG_A_UIP);
    qtest_clock_set(s, NS);
    g_assert_false(cmos_read(s, RTC_REG_A) & REG_A_UIP);
    qtest_quit(s);
}

/* Rate 15 is 2 Hz: IRQ 8 at 0.5 s, not before; C says PF and clears. */
static void test_periodic_2hz(void)
{
    QTestState *s = start_vm_clock();

    cmos_write(s, RTC_REG_A, 0x2f);
    cmos_read(s, RTC_REG_C);
    cmos_write(s, RTC_REG_B, REG_B_24H | REG_B_PIE);
    qtest_clock_set(s, NS / 2 - 1);
    g_assert_false(qtest_get_irq(s, RTC_GSI));
    qtest_clock_set(s, NS / 2);
    g_assert_true(qtest_get_irq(s, RTC_GSI));
    g_assert_cmphex(cmos_read(s, RTC_REG_C), ==, REG_C_IRQF | REG_C_PF);
    g_assert_false(qtest_get_irq(s, RTC_GSI));
    g_assert_cmphex(cmos_read(s, RTC_REG_C), ==, 0);
    /* the line stays up until C is read, whatever else happens */
    qtest_clock_set(s, 2 * NS);
    g_assert_true(qtest_get_irq(s, RTC_GSI));
    qtest_clock_step(s, NS);
    g_assert_cmphex(cmos_read(s, RTC_REG_C), ==,
                    REG_C_IRQF | REG_C_PF | REG_C_UF);
    qtest_quit(s);
}

/*
 * The first `edges` edges of a second at rate `rate` (hz a second): IRQ 8 rises at every edge of the 32.768 kHz
 * divider chain's period, aligned with the second, and not a ns earlier.
 */
static void check_periodic(QTestState *s, uint8_t rate, unsigned hz,
                           unsigned edges)
{
    int64_t sec = (qtest_clock_step(s, 0) / NS + 1) * NS;
    unsigned before;

    cmos_write(s, RTC_REG_A, 0x20 | rate);
    cmos_write(s, RTC_REG_B, REG_B_24H | REG_B_PIE);
    qtest_clock_set(s, sec);
    cmos_read(s, RTC_REG_C);
    before = qtest_irq_raise_count(s, RTC_GSI);
    for (unsigned k = 1; k <= edges; k++) {
        int64_t edge = sec + (k * NS + hz - 1) / hz;

        qtest_clock_set(s, edge - 1);
        g_assert_false(qtest_get_irq(s, RTC_GSI));
        qtest_clock_set(s, edge);
        g_assert_true(qtest_get_irq(s, RTC_GSI));
        g_assert_true(cmos_read(s, RTC_REG_C) & REG_C_PF);
    }
    g_assert_cmpuint(qtest_irq_raise_count(s, RTC_GSI) - before, ==, edges);
    cmos_write(s, RTC_REG_B, REG_B_24H);
    cmos_read(s, RTC_REG_C);
}

static void test_periodic_rates(void)
{
    QTestState *s = start_vm_clock();
    unsigned before;

    check_periodic(s, 6, 1024, 1024);
    check_periodic(s, 15, 2, 2);
    check_periodic(s, 10, 64, 64);
    check_periodic(s, 3, 8192, 300);
    check_periodic(s, 1, 256, 256);     /* as rate 8 */
    /* rate 0: no periodic interrupt */
    cmos_write(s, RTC_REG_A, 0x20);
    cmos_read(s, RTC_REG_C);
    cmos_write(s, RTC_REG_B, REG_B_24H | REG_B_PIE);
    before = qtest_irq_raise_count(s, RTC_GSI);
    qtest_clock_step(s, 2 * NS);
    g_assert_cmpuint(qtest_irq_raise_count(s, RTC_GSI), ==, before);
    g_assert_false(cmos_read(s, RTC_REG_C) & REG_C_PF);
    qtest_quit(s);
}

/* The alarm fires at the update that makes the time equal to it. */
static void test_alarm(void)
{
    QTestState *s = start_vm_clock();

    cmos_write(s, RTC_SECONDS_ALARM, 0x25);
    cmos_write(s, RTC_MINUTES_ALARM, 0x01);
    cmos_write(s, RTC_HOURS_ALARM, 0x16);
    cmos_read(s, RTC_REG_C);
    cmos_write(s, RTC_REG_B, REG_B_24H | REG_B_AIE);
    qtest_clock_set(s, 4 * NS - 1);
    g_assert_false(qtest_get_irq(s, RTC_GSI));
    qtest_clock_set(s, 4 * NS);
    g_assert_true(qtest_get_irq(s, RTC_GSI));
    g_assert_cmphex(cmos_read(s, RTC_REG_C) & (REG_C_IRQF | REG_C_AF), ==,
                    REG_C_IRQF | REG_C_AF);
    g_assert_false(qtest_get_irq(s, RTC_GSI));
    /* not a minute later: hours, minutes and seconds must all match */
    qtest_clock_step(s, 60 * NS);
    g_assert_false(qtest_get_irq(s, RTC_GSI));
    /* set back to 16:01:23, it comes again two seconds on */
    cmos_write(s, RTC_REG_B, REG_B_24H | REG_B_AIE | REG_B_SET);
    cmos_write(s, RTC_MINUTES, 0x01);
    cmos_write(s, RTC_SECONDS, 0x23);
    cmos_write(s, RTC_REG_B, REG_B_24H | REG_B_AIE);
    qtest_clock_step(s, 2 * NS);
    g_assert_true(qtest_get_irq(s, RTC_GSI));
    qtest_quit(s);
}

/* 0xc0-0xff in an alarm byte matches anything: every minute at :30. */
static void test_alarm_dont_care(void)
{
    QTestState *s = start_vm_clock();

    cmos_write(s, RTC_SECONDS_ALARM, 0x30);
    cmos_write(s, RTC_MINUTES_ALARM, 0xc0);
    cmos_write(s, RTC_HOURS_ALARM, 0xff);
    cmos_read(s, RTC_REG_C);
    cmos_write(s, RTC_REG_B, REG_B_24H | REG_B_AIE);
    qtest_clock_set(s, 9 * NS - 1);
    g_assert_false(qtest_get_irq(s, RTC_GSI));
    qtest_clock_set(s, 9 * NS);
    g_assert_true(qtest_get_irq(s, RTC_GSI));
    cmos_read(s, RTC_REG_C);
    qtest_clock_set(s, 69 * NS - 1);
    g_assert_false(qtest_get_irq(s, RTC_GSI));
    qtest_clock_set(s, 69 * NS);
    g_assert_true(qtest_get_irq(s, RTC_GSI));
    qtest_quit(s);
}

/* Update-ended interrupts once a second; SET stops them and clears UIE. */
static void test_update_interrupt(void)
{
    QTestState *s = start_vm_clock();
    unsigned n = qtest_irq_raise_count(s, RTC_GSI);

    cmos_write(s, RTC_REG_A, 0x20);     /* no periodic flag meanwhile */
    cmos_read(s, RTC_REG_C);
    cmos_write(s, RTC_REG_B, REG_B_24H | REG_B_UIE);
    for (int i = 1; i <= 3; i++) {
        qtest_clock_set(s, i * NS - 1);
        g_assert_false(qtest_get_irq(s, RTC_GSI));
        qtest_clock_set(s, i * NS);
        g_assert_cmpuint(qtest_irq_raise_count(s, RTC_GSI), ==, n + i);
        g_assert_cmphex(cmos_read(s, RTC_REG_C), ==, REG_C_IRQF | REG_C_UF);
    }
    cmos_write(s, RTC_REG_B, REG_B_24H | REG_B_UIE | REG_B_SET);
    g_assert_cmphex(cmos_read(s, RTC_REG_B), ==, REG_B_24H | REG_B_SET);
    qtest_clock_step(s, 3 * NS);
    g_assert_cmphex(cmos_read(s, RTC_REG_C), ==, 0);
    qtest_quit(s);
}

/* Flags are set with the interrupt disabled too, and IRQF only with it. */
static void test_reg_c_flags(void)
{
    QTestState *s = start_vm_clock();

    cmos_read(s, RTC_REG_C);
    qtest_clock_step(s, NS);
    g_assert_cmphex(cmos_read(s, RTC_REG_C), ==, REG_C_PF | REG_C_UF);
    g_assert_cmphex(cmos_read(s, RTC_REG_C), ==, 0);
    g_assert_false(qtest_get_irq(s, RTC_GSI));
    /* enabling an interrupt whose flag is up raises IRQ 8 at once */
    qtest_clock_step(s, NS);
    cmos_write(s, RTC_REG_B, REG_B_24H | REG_B_UIE);
    g_assert_true(qtest_get_irq(s, RTC_GSI));
    g_assert_cmphex(cmos_read(s, RTC_REG_C), ==,
                    REG_C_IRQF | REG_C_PF | REG_C_UF);
    /* C and D are read-only */
    cmos_write(s, RTC_REG_C, 0xff);
    cmos_write(s, RTC_REG_D, 0x00);
    g_assert_cmphex(cmos_read(s, RTC_REG_C), ==, 0);
    g_assert_cmphex(cmos_read(s, RTC_REG_D), ==, 0x80);
    qtest_quit(s);
}

/* Bit 7 of the index is the NMI mask: the index is bits 6:0. */
static void test_nmi_mask_bit(void)
{
    QTestState *s = start_vm_clock();

    qtest_outb(s, 0x70, 0x80 | RTC_SECONDS);
    g_assert_cmphex(qtest_inb(s, 0x71), ==, 0x21);
    qtest_outb(s, 0x70, 0x80 | 0x40);
    qtest_outb(s, 0x71, 0x5a);
    g_assert_cmphex(cmos_read(s, 0x40), ==, 0x5a);
    /* 0x72/0x73 reach the upper 128 bytes, and the lower ones too */
    qtest_outb(s, 0x72, 0xc0);
    qtest_outb(s, 0x73, 0xa5);
    qtest_outb(s, 0x72, 0xc0);
    g_assert_cmphex(qtest_inb(s, 0x73), ==, 0xa5);
    g_assert_cmphex(cmos_read(s, 0x40), ==, 0x5a);
    qtest_outb(s, 0x72, 0x40);
    g_assert_cmphex(qtest_inb(s, 0x73), ==, 0x5a);
    qtest_quit(s);
}

/*
 * Garbage in every clock register (bad BCD, month 0 and 13, hour 0xff,
 * every rate) keeps the device answering, and a good time set after it
 * reads back.
 */
static void test_hostile_values(void)
{
    QTestState *s = start_vm_clock();
    static const uint8_t junk[] = { 0xff, 0x00, 0x9a, 0xaa, 0x13, 0x7f };

    for (size_t j = 0; j < G_N_ELEMENTS(junk); j++) {
        cmos_write(s, RTC_REG_B, REG_B_SET | (junk[j] & 0x07));
        for (uint8_t r = 0; r <= RTC_YEAR; r++) {
            cmos_write(s, r, junk[j]);
        }
        cmos_write(s, RTC_CENTURY, junk[j]);
        cmos_write(s, RTC_REG_B, (junk[j] & 0x7f) | REG_B_PIE | REG_B_AIE);
        cmos_write(s, RTC_REG_A, junk[j]);
        qtest_clock_step(s, NS + 12345);
        for (uint8_t r = 0; r <= RTC_REG_D; r++) {
            cmos_read(s, r);
        }
        cmos_read(s, RTC_CENTURY);
    }
    cmos_write(s, RTC_REG_A, 0x26);
    cmos_write(s, RTC_REG_B, REG_B_24H | REG_B_SET);
    cmos_write(s, RTC_SECONDS, 0x00);
    cmos_write(s, RTC_MINUTES, 0x00);
    cmos_write(s, RTC_HOURS, 0x12);
    cmos_write(s, RTC_DAY_OF_MONTH, 0x01);
    cmos_write(s, RTC_MONTH, 0x01);
    cmos_write(s, RTC_YEAR, 0x24);
    cmos_write(s, RTC_CENTURY, 0x20);
    cmos_write(s, RTC_REG_B, REG_B_24H);
    assert_time(s, 0x20, 0x24, 0x01, 0x01, 0x12, 0x00, 0x00);
    g_assert_true(qtest_alive(s));
    qtest_quit(s);
}

/* By default the RTC reads the host's UTC time. */
static void test_host_clock_default(void)
{
    QTestState *s = qtest_init("-M pc");
    time_t before = time(NULL), after;
    struct tm tm;
    int sec, min, hour;

    sec = cmos_read(s, RTC_SECONDS);
    min = cmos_read(s, RTC_MINUTES);
    hour = cmos_read(s, RTC_HOURS);
    after = time(NULL);
    sec = (sec >> 4) * 10 + (sec & 15);
    min = (min >> 4) * 10 + (min & 15);
    hour = (hour >> 4) * 10 + (hour & 15);
    gmtime_r(&before, &tm);
    int64_t got = hour * 3600 + min * 60 + sec;
    int64_t lo = tm.tm_hour * 3600 + tm.tm_min * 60 + tm.tm_sec;
    int64_t diff = ((got - lo) % 86400 + 86400) % 86400;
    g_assert_cmpint(diff, <=, after - before + 1);
    qtest_quit(s);
}

static uint16_t cmos_read16(QTestState *s, uint8_t lo)
{
    return cmos_read(s, lo) | cmos_read(s, lo + 1) << 8;
}

static void test_cmos_512m(void)
{
    QTestState *s = qtest_init("-M pc -m 512 -smp 2");

    g_assert_cmpuint(cmos_read16(s, 0x15), ==, 640);
    g_assert_cmpuint(cmos_read16(s, 0x17), ==, 0xffff);
    g_assert_cmpuint(cmos_read16(s, 0x30), ==, 0xffff);
    g_assert_cmpuint(cmos_read16(s, 0x34), ==, (512 - 16) * 16);
    g_assert_cmpuint(cmos_read(s, 0x5b), ==, 0);
    g_assert_cmpuint(cmos_read(s, 0x5c), ==, 0);
    g_assert_cmpuint(cmos_read(s, 0x5d), ==, 0);
    g_assert_cmpuint(cmos_read(s, 0x5f), ==, 1);
    /* FPU and PS/2 mouse, VGA, no floppies */
    g_assert_cmphex(cmos_read(s, 0x14), ==, 0x06);
    g_assert_cmphex(cmos_read(s, 0x10), ==, 0x00);
    /* default boot order "cad": disk, floppy, CD-ROM */
    g_assert_cmphex(cmos_read(s, 0x3d), ==, 0x12);
    g_assert_cmphex(cmos_read(s, 0x38), ==, 0x30);
    qtest_quit(s);
}

/* 3 GiB below 4 GiB, 1 GiB above it (16384 units of 64 KiB). */
static void test_cmos_4g(void)
{
    QTestState *s = qtest_init("-M pc -m 4G");

    g_assert_cmpuint(cmos_read16(s, 0x17), ==, 0xffff);
    g_assert_cmpuint(cmos_read16(s, 0x34), ==, (3072 - 16) * 16);
    g_assert_cmphex(cmos_read(s, 0x5b), ==, 0x00);
    g_assert_cmphex(cmos_read(s, 0x5c), ==, 0x40);
    g_assert_cmphex(cmos_read(s, 0x5d), ==, 0x00);
    g_assert_cmpuint(cmos_read(s, 0x5f), ==, 0);
    qtest_quit(s);
}

static void test_cmos_small_and_boot_order(void)
{
    QTestState *s = qtest_init("-M pc -m 8 -boot order=dn");

    g_assert_cmpuint(cmos_read16(s, 0x17), ==, 7 * 1024);
    g_assert_cmpuint(cmos_read16(s, 0x34), ==, 0);
    g_assert_cmphex(cmos_read(s, 0x3d), ==, 0x43);
    g_assert_cmphex(cmos_read(s, 0x38), ==, 0x00);
    qtest_quit(s);
}

/* microvm has QEMU's rtc= option: the RTC unless KVM (qtest is not), with
 * the same CMOS memory bytes; without it the ports read as unassigned. */
static void test_microvm(void)
{
    static const char *const with[] = { "-M microvm -m 256",
                                         "-M microvm,rtc=on -m 256" };

    for (size_t i = 0; i < G_N_ELEMENTS(with); i++) {
        QTestState *s = qtest_init(with[i]);
        g_assert_cmphex(cmos_read(s, RTC_REG_D), ==, 0x80);
        g_assert_cmpuint(cmos_read16(s, 0x34), ==, (256 - 16) * 16);
        qtest_quit(s);
    }
    QTestState *s = qtest_init("-M microvm,rtc=off");
    g_assert_cmphex(cmos_read(s, RTC_REG_D), ==, 0xff);
    qtest_quit(s);
}

/* vireo with args exits non-zero with a message containing want. */
static void assert_start_fails(const char *args, const char *want)
{
    g_autofree char *cmd = g_strdup_printf("%s -M pc -accel qtest "
                                           "-display none %s",
                                           qtest_vireo_binary(), args);
    g_auto(GStrv) argv = NULL;
    g_autofree char *out = NULL, *err = NULL;
    int status;

    g_assert_true(g_shell_parse_argv(cmd, NULL, &argv, NULL));
    g_assert_true(g_spawn_sync(NULL, argv, NULL, G_SPAWN_DEFAULT, NULL,
                               NULL, &out, &err, &status, NULL));
    g_assert_false(g_spawn_check_wait_status(status, NULL));
    if (!strstr(err, want)) {
        g_test_message("stderr: %s", err);
    }
    g_assert_nonnull(strstr(err, want));
}

static void test_bad_options(void)
{
    assert_start_fails("-rtc base=2006-13-01", "-rtc base=2006-13-01");
    assert_start_fails("-rtc base=2006-02-30", "expected utc, localtime");
    assert_start_fails("-rtc base=yesterday", "expected utc, localtime");
    assert_start_fails("-rtc clock=wall", "clock=wall: expected host, rt "
                       "or vm");
    assert_start_fails("-rtc driftfix=fast", "driftfix=fast");
    assert_start_fails("-rtc speed=2", "speed");
    assert_start_fails("-boot order=cdan", "too many boot devices");
    assert_start_fails("-boot order=e", "invalid boot device");
    assert_start_fails("-M pc,rtc=on", "-machine rtc: only the microvm "
                       "machine has this option");
    assert_start_fails("-M microvm,rtc=maybe", "rtc=maybe: expected on, off "
                       "or auto");
    assert_start_fails("-M microvm,kernel-decompress=1x",
                       "kernel-decompress=1x: expected on, off or auto");
}

static void test_good_options(void)
{
    QTestState *s = qtest_init("-M pc -rtc base=localtime,clock=rt,"
                               "driftfix=slew");

    g_assert_cmphex(cmos_read(s, RTC_REG_D), ==, 0x80);
    qtest_quit(s);
    s = qtest_init("-M pc -rtc base=2006-06-17,clock=vm");
    assert_time(s, 0x20, 0x06, 0x06, 0x17, 0x00, 0x00, 0x00);
    qtest_quit(s);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/qtest/rtc/base-date-bcd", test_base_date_bcd);
    g_test_add_func("/qtest/rtc/century-rollover", test_century_rollover);
    g_test_add_func("/qtest/rtc/binary-12-hour", test_binary_and_12_hour);
    g_test_add_func("/qtest/rtc/set-time", test_set_time);
    g_test_add_func("/qtest/rtc/write-running-clock",
                    test_write_running_clock);
    g_test_add_func("/qtest/rtc/divider-reset", test_divider_reset);
    g_test_add_func("/qtest/rtc/uip", test_uip);
    g_test_add_func("/qtest/rtc/periodic-2hz", test_periodic_2hz);
    g_test_add_func("/qtest/rtc/periodic-rates", test_periodic_rates);
    g_test_add_func("/qtest/rtc/alarm", test_alarm);
    g_test_add_func("/qtest/rtc/alarm-dont-care", test_alarm_dont_care);
    g_test_add_func("/qtest/rtc/update-interrupt", test_update_interrupt);
    g_test_add_func("/qtest/rtc/reg-c-flags", test_reg_c_flags);
    g_test_add_func("/qtest/rtc/nmi-mask-bit", test_nmi_mask_bit);
    g_test_add_func("/qtest/rtc/hostile-values", test_hostile_values);
    g_test_add_func("/qtest/rtc/host-clock-default",
                    test_host_clock_default);
    g_test_add_func("/qtest/rtc/cmos-512m", test_cmos_512m);
    g_test_add_func("/qtest/rtc/cmos-4g", test_cmos_4g);
    g_test_add_func("/qtest/rtc/cmos-small-boot-order",
                    test_cmos_small_and_boot_order);
    g_test_add_func("/qtest/rtc/microvm", test_microvm);
    g_test_add_func("/qtest/rtc/bad-options", test_bad_options);
    g_test_add_func("/qtest/rtc/good-options", test_good_options);
    return g_test_run();
}
