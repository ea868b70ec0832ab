/*
 * The i8042 keyboard controller on pc (ports 0x60/0x64, keyboard IRQ on
 * GSI 1): controller commands as firmware and Linux's i8042 driver use
 * them, the output buffer and its interrupt, and the PS/2 keyboard behind
 * it (reset, identify, scancode sets, LEDs, echo, resend).
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
#define CTR_XLATE 0x40
/* controller commands */
#define CMD_READ_CTR 0x20
#define CMD_WRITE_CTR 0x60
#define CMD_AUX_DISABLE 0xa7
#define CMD_AUX_ENABLE 0xa8
#define CMD_SELF_TEST 0xaa
#define CMD_KBD_TEST 0xab
#define CMD_KBD_DISABLE 0xad
#define CMD_KBD_ENABLE 0xae
#define CMD_READ_INPORT 0xc0
#define CMD_READ_OUTPORT 0xd0
#define CMD_WRITE_KBD_OBUF 0xd2
/* keyboard commands and replies */
#define KBD_CMD_SET_LEDS 0xed
#define KBD_CMD_ECHO 0xee
#define KBD_CMD_SCANCODE 0xf0
#define KBD_CMD_GET_ID 0xf2
#define KBD_CMD_SET_RATE 0xf3
#define KBD_CMD_ENABLE 0xf4
#define KBD_CMD_RESET_DIS 0xf5
#define KBD_CMD_RESET_ENA 0xf6
#define KBD_CMD_RESEND 0xfe
#define KBD_CMD_RESET 0xff
#define KBD_REPLY_ACK 0xfa
#define KBD_REPLY_POR 0xaa
#define KBD_REPLY_RESEND 0xfe

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

/* Sends a byte to the keyboard and checks the bytes it answers with. */
static void kbd_command(QTestState *s, uint8_t cmd, const uint8_t *reply,
                        size_t n)
{
    qtest_outb(s, DATA, cmd);
    for (size_t i = 0; i < n; i++) {
        g_assert_cmphex(qtest_inb(s, STATUS) & (STR_OBF | STR_AUXDATA |
                                                STR_TIMEOUT), ==, STR_OBF);
        g_assert_cmphex(qtest_inb(s, DATA), ==, reply[i]);
    }
    g_assert_cmphex(qtest_inb(s, STATUS) & STR_OBF, ==, 0);
}

#define KBD(s, cmd, ...)                                                \
    kbd_command(s, cmd, (const uint8_t[]){ __VA_ARGS__ },               \
                sizeof((const uint8_t[]){ __VA_ARGS__ }))

static void test_keyboard_echo(void)
{
    QTestState *s = start();

    drain_output(s);
    KBD(s, KBD_CMD_ECHO, KBD_CMD_ECHO);
    qtest_quit(s);
}

static void test_keyboard_reset(void)
{
    QTestState *s = start();

    drain_output(s);
    KBD(s, KBD_CMD_RESET, KBD_REPLY_ACK, KBD_REPLY_POR);
    /* IRQ 1 for each byte while the command byte enables it */
    write_ctr(s, read_ctr(s) | CTR_KBDINT);
    qtest_outb(s, DATA, KBD_CMD_RESET);
    g_assert_true(qtest_get_irq(s, KBD_GSI));
    g_assert_cmphex(qtest_inb(s, DATA), ==, KBD_REPLY_ACK);
    g_assert_true(qtest_get_irq(s, KBD_GSI));
    g_assert_cmphex(qtest_inb(s, DATA), ==, KBD_REPLY_POR);
    g_assert_false(qtest_get_irq(s, KBD_GSI));
    qtest_quit(s);
}

/* 0xf2: an MF2 keyboard, 0xab 0x83; 0xab 0x41 through the translation. */
static void test_keyboard_identify(void)
{
    QTestState *s = start();

    drain_output(s);
    write_ctr(s, read_ctr(s) | CTR_XLATE);
    KBD(s, KBD_CMD_GET_ID, KBD_REPLY_ACK, 0xab, 0x41);
    write_ctr(s, read_ctr(s) & ~CTR_XLATE);
    KBD(s, KBD_CMD_GET_ID, KBD_REPLY_ACK, 0xab, 0x83);
    qtest_quit(s);
}

/* 0xf0: get and set the scancode set; set 3 is refused by staying in 2. */
static void test_keyboard_scancode_set(void)
{
    QTestState *s = start();

    drain_output(s);
    write_ctr(s, read_ctr(s) & ~CTR_XLATE);
    KBD(s, KBD_CMD_SCANCODE, KBD_REPLY_ACK);
    KBD(s, 0x00, KBD_REPLY_ACK, 0x02);
    KBD(s, KBD_CMD_SCANCODE, KBD_REPLY_ACK);
    KBD(s, 0x01, KBD_REPLY_ACK);
    KBD(s, KBD_CMD_SCANCODE, KBD_REPLY_ACK);
    KBD(s, 0x00, KBD_REPLY_ACK, 0x01);
    KBD(s, KBD_CMD_SCANCODE, KBD_REPLY_ACK);
    KBD(s, 0x03, KBD_REPLY_ACK);
    KBD(s, KBD_CMD_SCANCODE, KBD_REPLY_ACK);
    KBD(s, 0x00, KBD_REPLY_ACK, 0x02);
    /* a set that does not exist: resend, the command still waiting */
    KBD(s, KBD_CMD_SCANCODE, KBD_REPLY_ACK);
    KBD(s, 0x07, KBD_REPLY_RESEND);
    KBD(s, 0x00, KBD_REPLY_ACK, 0x02);
    /* translated, set 2 reads back as 0x41 (what Linux's atkbd expects) */
    write_ctr(s, read_ctr(s) | CTR_XLATE);
    KBD(s, KBD_CMD_SCANCODE, KBD_REPLY_ACK);
    KBD(s, 0x00, KBD_REPLY_ACK, 0x41);
    qtest_quit(s);
}

/* 0xed LEDs, 0xf3 typematic, enable/disable and unknown commands. */
static void test_keyboard_commands(void)
{
    QTestState *s = start();

    drain_output(s);
    KBD(s, KBD_CMD_SET_LEDS, KBD_REPLY_ACK);
    KBD(s, 0x07, KBD_REPLY_ACK);
    KBD(s, KBD_CMD_SET_RATE, KBD_REPLY_ACK);
    KBD(s, 0x20, KBD_REPLY_ACK);
    KBD(s, KBD_CMD_ENABLE, KBD_REPLY_ACK);
    KBD(s, KBD_CMD_RESET_DIS, KBD_REPLY_ACK);
    KBD(s, KBD_CMD_RESET_ENA, KBD_REPLY_ACK);
    /* unknown: resend, as a real keyboard answers */
    KBD(s, 0x42, KBD_REPLY_RESEND);
    KBD(s, 0xe0, KBD_REPLY_RESEND);
    /* resend repeats the last byte sent */
    KBD(s, KBD_CMD_ECHO, KBD_CMD_ECHO);
    KBD(s, KBD_CMD_RESEND, KBD_CMD_ECHO);
    /* a command where a data byte belongs aborts the first command */
    KBD(s, KBD_CMD_SET_LEDS, KBD_REPLY_ACK);
    KBD(s, KBD_CMD_ECHO, KBD_CMD_ECHO);
    KBD(s, KBD_CMD_SET_RATE, KBD_REPLY_ACK);
    KBD(s, KBD_CMD_RESET, KBD_REPLY_ACK, KBD_REPLY_POR);
    qtest_quit(s);
}

/* Keyboard bytes wait while the port is disabled (0xad), then come. */
static void test_keyboard_port_disabled(void)
{
    QTestState *s = start();

    drain_output(s);
    qtest_outb(s, CMD, CMD_KBD_DISABLE);
    qtest_outb(s, DATA, KBD_CMD_ECHO);
    g_assert_cmphex(qtest_inb(s, STATUS) & STR_OBF, ==, 0);
    /* the controller still answers its own commands */
    g_assert_cmphex(read_ctr(s) & CTR_KBDDIS, ==, CTR_KBDDIS);
    qtest_outb(s, CMD, CMD_KBD_ENABLE);
    g_assert_cmphex(read_output(s), ==, KBD_CMD_ECHO);
    qtest_quit(s);
}

/* A controller reply waits behind a byte already in the output buffer. */
static void test_reply_waits_for_buffer(void)
{
    QTestState *s = start();

    drain_output(s);
    qtest_outb(s, DATA, KBD_CMD_ECHO);
    qtest_outb(s, CMD, CMD_SELF_TEST);
    g_assert_cmphex(read_output(s), ==, KBD_CMD_ECHO);
    g_assert_cmphex(read_output(s), ==, 0x55);
    g_assert_cmphex(qtest_inb(s, STATUS) & STR_OBF, ==, 0);
    /* a command waiting for data is abandoned by the next command */
    qtest_outb(s, CMD, CMD_WRITE_CTR);
    qtest_outb(s, CMD, CMD_SELF_TEST);
    g_assert_cmphex(read_output(s), ==, 0x55);
    qtest_outb(s, DATA, KBD_CMD_ECHO);      /* goes to the keyboard */
    g_assert_cmphex(read_output(s), ==, KBD_CMD_ECHO);
    qtest_quit(s);
}

/* Output port: reset and A20 bits high, buffer-full bits mirror OBF. */
static void test_output_port(void)
{
    QTestState *s = start();

    drain_output(s);
    qtest_outb(s, CMD, CMD_READ_OUTPORT);
    g_assert_cmphex(read_output(s) & 0x33, ==, 0x03);
    qtest_outb(s, CMD, CMD_READ_INPORT);
    g_assert_cmphex(read_output(s), ==, 0x80);
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
    g_test_add_func("/qtest/i8042/keyboard-identify", test_keyboard_identify);
    g_test_add_func("/qtest/i8042/keyboard-scancode-set",
                    test_keyboard_scancode_set);
    g_test_add_func("/qtest/i8042/keyboard-commands", test_keyboard_commands);
    g_test_add_func("/qtest/i8042/keyboard-port-disabled",
                    test_keyboard_port_disabled);
    g_test_add_func("/qtest/i8042/reply-waits-for-buffer",
                    test_reply_waits_for_buffer);
    g_test_add_func("/qtest/i8042/output-port", test_output_port);
    return g_test_run();
}
