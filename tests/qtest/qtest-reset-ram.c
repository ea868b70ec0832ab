/*
 * A reset gives guest RAM back to the host: the cold start after it reads
 * zeros, as after power-on, unless the CMOS shutdown status (register
 * 0x0F) asks the BIOS to resume with memory kept.
 */
#include "libqtest.h"

#define MiB     (1ULL << 20)

static const uint64_t addrs[] = { 0x1000, 0x9f000, MiB, 128 * MiB,
                                  256 * MiB - 8 };

static void fill(QTestState *s)
{
    for (size_t i = 0; i < G_N_ELEMENTS(addrs); i++) {
        qtest_writeq(s, addrs[i], 0x0123456789abcdefULL + i);
    }
}

static void assert_filled(QTestState *s, bool kept)
{
    for (size_t i = 0; i < G_N_ELEMENTS(addrs); i++) {
        g_assert_cmphex(qtest_readq(s, addrs[i]), ==,
                        kept ? 0x0123456789abcdefULL + i : 0);
    }
}

static void cmos_write(QTestState *s, uint8_t reg, uint8_t val)
{
    qtest_outb(s, 0x70, reg);
    qtest_outb(s, 0x71, val);
}

static void test_reset_zeroes_ram(void)
{
    QTestState *s = qtest_initf("-M pc -m 256");

    fill(s);
    assert_filled(s, true);
    qtest_qmp_assert_success(s, "{'execute': 'system_reset'}");
    assert_filled(s, false);
    qtest_quit(s);
}

/* 0x0A: "jump via 40:67 without EOI", a 286 leaving protected mode */
static void test_shutdown_code_keeps_ram(void)
{
    QTestState *s = qtest_initf("-M pc -m 256");

    fill(s);
    cmos_write(s, 0x0f, 0x0a);
    qtest_qmp_assert_success(s, "{'execute': 'system_reset'}");
    assert_filled(s, true);
    /* the BIOS clears the code; the next reset is a cold one */
    cmos_write(s, 0x0f, 0x00);
    qtest_qmp_assert_success(s, "{'execute': 'system_reset'}");
    assert_filled(s, false);
    qtest_quit(s);
}

/* q35's RAM above 4 GiB too; microvm has no RTC to ask */
static void test_other_machines(void)
{
    const char *machines[] = { "q35 -m 4G", "microvm -m 256" };

    for (size_t i = 0; i < G_N_ELEMENTS(machines); i++) {
        QTestState *s = qtest_initf("-M %s", machines[i]);
        fill(s);
        if (i == 0) {
            qtest_writeq(s, 4ULL << 30, 42);
        }
        qtest_qmp_assert_success(s, "{'execute': 'system_reset'}");
        assert_filled(s, false);
        if (i == 0) {
            g_assert_cmphex(qtest_readq(s, 4ULL << 30), ==, 0);
        }
        qtest_quit(s);
    }
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/reset-ram/zeroes", test_reset_zeroes_ram);
    g_test_add_func("/reset-ram/shutdown-code-keeps",
                   test_shutdown_code_keeps_ram);
    g_test_add_func("/reset-ram/other-machines", test_other_machines);
    return g_test_run();
}
