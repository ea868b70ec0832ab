/*
 * isa-debug-exit: a value written to its port ends vireo with status
 * (value << 1) | 1, QEMU's rule that test guests report results by.
 */
#include "libqtest.h"

static void test_exit_status(void)
{
    QTestState *s = qtest_init("-M pc -device isa-debug-exit,iobase=0xf4,"
                               "iosize=0x04");

    g_assert_true(qtest_alive(s));
    /* vireo may be gone before it answers the write */
    qtest_send(s, "outb 0xf4 0x21");
    g_assert_cmpint(qtest_wait_exit(s, QTEST_TIMEOUT_S * 1000), ==,
                    (0x21 << 1) | 1);
    g_assert_false(qtest_alive(s));
    qtest_quit(s);
}

static void test_other_ports_do_not_exit(void)
{
    QTestState *s = qtest_init("-M pc -device isa-debug-exit,iobase=0xf4,"
                               "iosize=0x04");

    qtest_outb(s, 0xf8, 0x01);  /* just past the device's four ports */
    qtest_outb(s, 0xf0, 0x01);
    qtest_clock_step(s, 1000000);
    g_assert_true(qtest_alive(s));
    /* a dword write exits too; value 0 gives status 1 */
    qtest_send(s, "outl 0xf4 0x0");
    g_assert_cmpint(qtest_wait_exit(s, QTEST_TIMEOUT_S * 1000), ==, 1);
    qtest_quit(s);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/qtest/debugexit/exit-status", test_exit_status);
    g_test_add_func("/qtest/debugexit/other-ports", test_other_ports_do_not_exit);
    return g_test_run();
}
