/*
 * The i8042 keyboard controller on pc (ports 0x60/0x64, keyboard IRQ on
 * GSI 1): controller commands as firmware and Linux's i8042 driver use
 * them, the output buffer and its interrupt, and the keyboard behind it.
 */
#include "libqtest.h"

#define DATA 0x60
#define STATUS 0x64
#define CMD 0x64
#define KBD_GSI 1

/* status register */
#define STR_OBF 0x01
#define STR_IBF 0x02
#define STR_AUXDATA 0x20
#define STR_TIMEOUT 0x40
/* command byte */
#define CTR_KBDINT 0x01
#define CTR_KBDDIS 0x10
#define CTR_AUXDIS 0x20
/* controller commands */
#define CMD_READ_CTR 0x20
#define CMD_WRITE_CTR 0x60
#define CMD_AUX_DISABLE 0xa7
#define CMD_AUX_ENABLE 0xa8
#define CMD_SELF_TEST 0xaa
#define CMD_KBD_TEST 0xab
#define CMD_KBD_DISABLE 0xad
#define CMD_KBD_ENABLE 0xae
#define CMD_WRITE_KBD_OBUF 0xd2
/* keyboard commands and replies */
#define KBD_CMD_ECHO 0xee
#define KBD_CMD_RESET 0xff
#define KBD_REPLY_ACK 0xfa
#define KBD_REPLY_POR 0xaa

static QTestState *start(void)
{
    QTestState *s = qtest_init("-M pc");

    qtest_irq_intercept_in(s, "ioapic");
    return s;
}

static void drain_output(QTestState *s)
{
    for (int i = 0; i < 16 && (qtest_inb(s, STATUS) & STR_OBF); i++) {
        qtest_inb(s, DATA);
    }
    g_assert_cmphex(qtest_inb(s, STATUS) & STR_OBF, ==, 0);
}

/* The byte a command put in the output buffer. */
static uint8_t read_output(QTestState *s)
{
    g_assert_cmphex(qtest_inb(s, STATUS) & STR_OBF, ==, STR_OBF);
    return qtest_inb(s, DATA);
}

static uint8_t read_ctr(QTestState *s)
{
    qtest_outb(s, CMD, CMD_READ_CTR);
    return read_output(s);
}

static void write_ctr(QTestState *s, uint8_t ctr)
{
    qtest_outb(s, CMD, CMD_WRITE_CTR);
    qtest_outb(s, DATA, ctr);
}

static void test_self_test(void)
{
    QTestState *s = start();

    drain_output(s);
    qtest_outb(s, CMD, CMD_SELF_TEST);
    g_assert_cmphex(read_output(s), ==, 0x55);
    qtest_outb(s, CMD, CMD_KBD_TEST);
    g_assert_cmphex(read_output(s), ==, 0x00);
    g_assert_cmphex(qtest_inb(s, STATUS) & STR_OBF, ==, 0);
    qtest_quit(s);
}

static void test_command_byte(void)
{
    QTestState *s = start();
    uint8_t ctr;

    drain_output(s);
    ctr = read_ctr(s);
    write_ctr(s, 0x45);
    g_assert_cmphex(read_ctr(s), ==, 0x45);
    write_ctr(s, ctr);
    g_assert_cmphex(read_ctr(s), ==, ctr);
    g_assert_cmphex(qtest_inb(s, STATUS) & STR_IBF, ==, 0);
    qtest_quit(s);
}

/* A full output buffer raises IRQ 1 when the command byte allows it. */
static void test_output_buffer_irq(void)
{
    QTestState *s = start();

    drain_output(s);
    write_ctr(s, read_ctr(s) | CTR_KBDINT);
    g_assert_false(qtest_get_irq(s, KBD_GSI));
    qtest_outb(s, CMD, CMD_WRITE_KBD_OBUF);
    qtest_outb(s, DATA, 0x5a);
    g_assert_true(qtest_get_irq(s, KBD_GSI));
    g_assert_cmphex(qtest_inb(s, STATUS) & (STR_OBF | STR_AUXDATA), ==,
                    STR_OBF);
    g_assert_cmphex(qtest_inb(s, DATA), ==, 0x5a);
    g_assert_false(qtest_get_irq(s, KBD_GSI));
    g_assert_cmphex(qtest_inb(s, STATUS) & STR_OBF, ==, 0);

    /* with the keyboard interrupt disabled the buffer fills silently */
    write_ctr(s, read_ctr(s) & ~CTR_KBDINT);
    qtest_outb(s, CMD, CMD_WRITE_KBD_OBUF);
    qtest_outb(s, DATA, 0x5b);
    g_assert_false(qtest_get_irq(s, KBD_GSI));
    g_assert_cmphex(read_output(s), ==, 0x5b);
    qtest_quit(s);
}

/* 0xad/0xae and 0xa7/0xa8 show in the command byte (bits 4 and 5). */
static void test_port_disable_enable(void)
{
    QTestState *s = start();

    drain_output(s);
    qtest_outb(s, CMD, CMD_KBD_DISABLE);
    g_assert_cmphex(read_ctr(s) & CTR_KBDDIS, ==, CTR_KBDDIS);
    qtest_outb(s, CMD, CMD_KBD_ENABLE);
    g_assert_cmphex(read_ctr(s) & CTR_KBDDIS, ==, 0);
    qtest_outb(s, CMD, CMD_AUX_DISABLE);
    g_assert_cmphex(read_ctr(s) & CTR_AUXDIS, ==, CTR_AUXDIS);
    qtest_outb(s, CMD, CMD_AUX_ENABLE);
    g_assert_cmphex(read_ctr(s) & CTR_AUXDIS, ==, 0);
    qtest_quit(s);
}

/*
 * Whether a PS/2 keyboard answers; Vireo's i8042 has none attached yet and
 * says so with a timeout, which makes the keyboard tests TODO, not passes.
 */
static bool keyboard_attached(QTestState *s, uint8_t first_reply)
{
    if (first_reply == 0xfe && (qtest_inb(s, STATUS) & STR_TIMEOUT)) {
        g_test_incomplete("no PS/2 keyboard behind Vireo's i8042 "
                          "(hw/input/i8042.c answers 0xfe with a timeout)");
        return false;
    }
    return true;
}

static void test_keyboard_echo(void)
{
    QTestState *s = start();
    uint8_t reply;

    drain_output(s);
    qtest_outb(s, DATA, KBD_CMD_ECHO);
    reply = read_output(s);
    if (keyboard_attached(s, reply)) {
        g_assert_cmphex(reply, ==, KBD_CMD_ECHO);
    }
    qtest_quit(s);
}

static void test_keyboard_reset(void)
{
    QTestState *s = start();
    uint8_t reply;

    drain_output(s);
    qtest_outb(s, DATA, KBD_CMD_RESET);
    reply = read_output(s);
    if (keyboard_attached(s, reply)) {
        g_assert_cmphex(reply, ==, KBD_REPLY_ACK);
        g_assert_cmphex(read_output(s), ==, KBD_REPLY_POR);
    }
    qtest_quit(s);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/qtest/i8042/self-test", test_self_test);
    g_test_add_func("/qtest/i8042/command-byte", test_command_byte);
    g_test_add_func("/qtest/i8042/output-buffer-irq", test_output_buffer_irq);
    g_test_add_func("/qtest/i8042/port-disable-enable",
                    test_port_disable_enable);
    g_test_add_func("/qtest/i8042/keyboard-echo", test_keyboard_echo);
    g_test_add_func("/qtest/i8042/keyboard-reset", test_keyboard_reset);
    return g_test_run();
}
