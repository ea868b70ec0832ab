/*
 * The qtest protocol itself, as QEMU's libqtest expects it: the exact reply
 * format of every command, the virtual clock, and that bad input gets
 * "FAIL" while vireo stays up and answers QMP.
 */
#include <string.h>

#include "libqtest.h"

#define RAM_ADDR 0x200000ULL    /* inside the default 128 MiB, above 1 MiB */
#define PCI_CONFIG_ADDRESS 0xcf8

static QTestState *start(void)
{
    return qtest_init("-M pc");
}

/* "OK 0x" followed by exactly `digits` lowercase hex digits. */
static void assert_ok_hex(const char *reply, size_t digits)
{
    g_assert_true(g_str_has_prefix(reply, "OK 0x"));
    g_assert_cmpuint(strlen(reply), ==, 5 + digits);
    for (size_t i = 5; reply[i]; i++) {
        g_assert_true(g_ascii_isxdigit(reply[i]) &&
                      !g_ascii_isupper(reply[i]));
    }
}

/* Sends cmd and checks the reply is exactly expect. */
static void assert_reply(QTestState *s, const char *cmd, const char *expect)
{
    g_autofree char *r = qtest_command(s, "%s", cmd);

    g_assert_cmpstr(r, ==, expect);
}

static void assert_fails(QTestState *s, const char *cmd)
{
    g_autofree char *r = qtest_command(s, "%s", cmd);

    if (!g_str_has_prefix(r, "FAIL")) {
        g_error("'%.60s' got '%.60s', expected FAIL", cmd, r);
    }
}

static void assert_still_up(QTestState *s)
{
    json_t *st;

    g_assert_true(qtest_alive(s));
    st = qtest_query_status(s);
    g_assert_true(json_is_string(json_object_get(st, "status")));
    g_assert_true(json_is_boolean(json_object_get(st, "running")));
    json_decref(st);
    assert_reply(s, "endianness", "OK little");
}

static void test_port_io_replies(void)
{
    QTestState *s = start();
    g_autofree char *b = NULL, *w = NULL, *l = NULL;

    /* CONFIG_ADDRESS keeps what was written, bits 1:0 read as 0 */
    assert_reply(s, "outl 0xcf8 0x80001234", "OK");
    l = qtest_command(s, "inl 0xcf8");
    assert_ok_hex(l, 8);
    g_assert_cmpstr(l, ==, "OK 0x80001234");
    /* byte and word reads are padded to four digits ("OK 0x%04x") */
    qtest_outl(s, PCI_CONFIG_ADDRESS, 0x80000000);
    b = qtest_command(s, "inb 0xcfc");
    assert_ok_hex(b, 4);
    g_assert_cmpstr(b, ==, "OK 0x0086");   /* i440FX vendor 0x8086, low */
    w = qtest_command(s, "inw 0xcfe");
    g_assert_cmpstr(w, ==, "OK 0x1237");
    assert_reply(s, "outw 0xcf8 0x1", "OK");
    assert_reply(s, "outb 0x80 0x12", "OK");
    qtest_quit(s);
}

static void test_memory_replies(void)
{
    QTestState *s = start();
    g_autofree char *rb = NULL, *rw = NULL, *rl = NULL, *rq = NULL;

    assert_reply(s, "writeq 0x200000 0x0123456789abcdef", "OK");
    rq = qtest_command(s, "readq 0x200000");
    g_assert_cmpstr(rq, ==, "OK 0x0123456789abcdef");
    /* every read width answers with 16 digits ("OK 0x%016x") */
    rb = qtest_command(s, "readb 0x200000");
    g_assert_cmpstr(rb, ==, "OK 0x00000000000000ef");
    rw = qtest_command(s, "readw 0x200002");
    g_assert_cmpstr(rw, ==, "OK 0x00000000000089ab");
    rl = qtest_command(s, "readl 0x200004");
    g_assert_cmpstr(rl, ==, "OK 0x0000000001234567");
    assert_reply(s, "writeb 0x200001 0x55", "OK");
    assert_reply(s, "writew 0x200002 0xaa55", "OK");
    assert_reply(s, "writel 0x200004 0xdeadbeef", "OK");
    /* guest memory is little-endian */
    g_assert_cmphex(qtest_readq(s, RAM_ADDR), ==, 0xdeadbeefaa5555efULL);
    assert_reply(s, "endianness", "OK little");
    qtest_quit(s);
}

static void test_read_write_round_trip(void)
{
    QTestState *s = start();
    uint8_t out[257], in[257];
    g_autofree char *r = NULL;

    for (size_t i = 0; i < sizeof(out); i++) {
        out[i] = i * 7 + 3;
    }
    qtest_memwrite(s, RAM_ADDR + 1, out, sizeof(out));
    qtest_memread(s, RAM_ADDR + 1, in, sizeof(in));
    g_assert_cmpmem(in, sizeof(in), out, sizeof(out));

    assert_reply(s, "write 0x200000 0x3 0x0a0b0c", "OK");
    r = qtest_command(s, "read 0x200000 0x3");
    g_assert_cmpstr(r, ==, "OK 0x0a0b0c");
    g_assert_cmphex(qtest_readl(s, RAM_ADDR) & 0xffffff, ==, 0x0c0b0a);
    qtest_quit(s);
}

static void test_b64_round_trip(void)
{
    QTestState *s = start();
    uint8_t out[1000], in[1000], plain[1000];
    g_autofree char *r = NULL;

    for (size_t i = 0; i < sizeof(out); i++) {
        out[i] = g_test_rand_int();
    }
    qtest_bufwrite(s, RAM_ADDR + 3, out, sizeof(out));
    qtest_bufread(s, RAM_ADDR + 3, in, sizeof(in));
    g_assert_cmpmem(in, sizeof(in), out, sizeof(out));
    /* the two encodings see the same bytes */
    qtest_memread(s, RAM_ADDR + 3, plain, sizeof(plain));
    g_assert_cmpmem(plain, sizeof(plain), out, sizeof(out));

    assert_reply(s, "b64write 0x200000 0x3 AQID", "OK");
    r = qtest_command(s, "b64read 0x200000 0x3");
    g_assert_cmpstr(r, ==, "OK AQID");
    qtest_quit(s);
}

static void test_memset(void)
{
    QTestState *s = start();
    uint8_t buf[64], expect[64];

    qtest_memset(s, RAM_ADDR, 0x11, sizeof(buf));
    assert_reply(s, "memset 0x200008 0x10 0xa5", "OK");
    memset(expect, 0x11, sizeof(expect));
    memset(expect + 8, 0xa5, 16);
    qtest_memread(s, RAM_ADDR, buf, sizeof(buf));
    g_assert_cmpmem(buf, sizeof(buf), expect, sizeof(expect));
    qtest_quit(s);
}

static int64_t reply_ns(const char *reply)
{
    char *end;
    int64_t ns;

    g_assert_true(g_str_has_prefix(reply, "OK "));
    ns = g_ascii_strtoll(reply + 3, &end, 10);
    g_assert_true(g_ascii_isdigit(reply[3]) && *end == '\0');
    return ns;
}

static void test_clock(void)
{
    QTestState *s = start();
    g_autofree char *r1 = NULL, *r2 = NULL, *r3 = NULL;
    int64_t t0, t1, next;

    /* decimal nanoseconds, and only the test moves the clock */
    r1 = qtest_command(s, "clock_step 0");
    t0 = reply_ns(r1);
    g_usleep(20 * 1000);
    r2 = qtest_command(s, "clock_step 1000");
    g_assert_cmpint(reply_ns(r2), ==, t0 + 1000);
    t1 = qtest_clock_set(s, t0 + 5000000);
    g_assert_cmpint(t1, ==, t0 + 5000000);
    /* clock_set into the past leaves the clock where it is */
    r3 = qtest_command(s, "clock_set %" G_GINT64_FORMAT, t0);
    g_assert_cmpint(reply_ns(r3), ==, t1);
    /* the PIT has a deadline: clock_step without argument goes to it */
    next = qtest_clock_step_next(s);
    g_assert_cmpint(next, >, t1);
    g_assert_cmpint(qtest_clock_step(s, 1), ==, next + 1);
    qtest_quit(s);
}

static void test_errors(void)
{
    static const char *const bad[] = {
        "frobnicate",
        "outb",
        "outb 0x80",
        "outb zz 0x1",
        "inb",
        "inl nonsense",
        "writel 0x200000",
        "readq",
        "read 0x200000",
        "write 0x200000 0x2",
        "write 0x200000 0x2 0xzzzz",
        "b64read",
        "b64write 0x200000",
        "memset 0x200000",
        "clock_step abc",
        "clock_set",
        "irq_intercept_in no-such-device",
        "read 0x0 0x100000000000",
    };
    QTestState *s = start();

    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
        assert_fails(s, bad[i]);
    }
    assert_still_up(s);
    qtest_quit(s);
}

/* Memory nobody maps reads as something and does not take vireo down. */
static void test_outside_ram(void)
{
    QTestState *s = start();
    g_autofree char *rb = NULL, *rq = NULL, *rd = NULL, *w = NULL;

    rb = qtest_command(s, "readb 0x4000000000");
    assert_ok_hex(rb, 16);
    rq = qtest_command(s, "readq 0xfffffffffffffff8");
    assert_ok_hex(rq, 16);
    w = qtest_command(s, "writel 0x4000000000 0x1");
    g_assert_cmpstr(w, ==, "OK");
    /* a range that runs off the end of RAM */
    rd = qtest_command(s, "read 0x7fffff0 0x20");
    g_assert_true(g_str_has_prefix(rd, "OK 0x") ||
                  g_str_has_prefix(rd, "FAIL"));
    assert_still_up(s);
    qtest_quit(s);
}

/* A 1 MiB command line: a valid write, and garbage. */
static void test_huge_lines(void)
{
    QTestState *s = start();
    size_t len = 512 * 1024;
    g_autofree uint8_t *out = g_malloc(len);
    g_autofree uint8_t *in = g_malloc(len);
    g_autofree char *junk = g_malloc(1024 * 1024 + 1);

    for (size_t i = 0; i < len; i++) {
        out[i] = i ^ (i >> 9);
    }
    qtest_memwrite(s, RAM_ADDR, out, len);  /* "write" + 1 MiB of hex */
    qtest_bufread(s, RAM_ADDR, in, len);
    g_assert_cmpmem(in, len, out, len);

    memset(junk, 'x', 1024 * 1024);
    junk[1024 * 1024] = '\0';
    assert_fails(s, junk);
    assert_still_up(s);
    qtest_quit(s);
}

/*
 * irq_intercept_in ioapic reports GSI changes (set_irq_in drives them);
 * a second intercept fails, as in QEMU.
 */
static void test_irq_intercept_in(void)
{
    QTestState *s = start();

    qtest_irq_intercept_in(s, "ioapic");
    assert_reply(s, "irq_intercept_in ioapic",
                 "FAIL IRQ intercept already enabled");
    assert_reply(s, "irq_intercept_out /machine",
                 "FAIL IRQ intercept already enabled");
    qtest_set_irq_in(s, "ioapic", "unnamed-gpio-in", 9, 1);
    g_assert_true(qtest_get_irq(s, 9));
    qtest_set_irq_in(s, "ioapic", "unnamed-gpio-in", 9, 0);
    g_assert_false(qtest_get_irq(s, 9));
    g_assert_cmpuint(qtest_irq_raise_count(s, 9), ==, 1);
    assert_fails(s, "set_irq_in ioapic unnamed-gpio-in 24 1");
    assert_fails(s, "set_irq_in nowhere unnamed-gpio-in 1 1");
    qtest_quit(s);
}

/* irq_intercept_out /machine: the board's GSI lines report to the test. */
static void test_irq_intercept_out(void)
{
    QTestState *s = start();

    assert_fails(s, "irq_intercept_out ioapic");
    qtest_irq_intercept_out(s, "/machine");
    /* the PIT's channel 0 in mode 2 pulses GSI 0 */
    qtest_outb(s, 0x43, 0x34);
    qtest_outb(s, 0x40, 0x00);
    qtest_outb(s, 0x40, 0x10);
    qtest_clock_step(s, 10 * 1000 * 1000);
    g_assert_cmpuint(qtest_irq_raise_count(s, 0), >, 0);
    qtest_quit(s);
}

/* A line longer than any command gets one FAIL; the next works. */
static void test_overlong_line(void)
{
    QTestState *s = start();
    size_t len = 20 * 1024 * 1024;
    g_autofree char *junk = g_malloc(len + 1);

    memset(junk, 'y', len);
    junk[len] = '\0';
    assert_fails(s, junk);
    assert_still_up(s);
    qtest_quit(s);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/qtest/protocol/port-io-replies", test_port_io_replies);
    g_test_add_func("/qtest/protocol/memory-replies", test_memory_replies);
    g_test_add_func("/qtest/protocol/read-write", test_read_write_round_trip);
    g_test_add_func("/qtest/protocol/b64", test_b64_round_trip);
    g_test_add_func("/qtest/protocol/memset", test_memset);
    g_test_add_func("/qtest/protocol/clock", test_clock);
    g_test_add_func("/qtest/protocol/errors", test_errors);
    g_test_add_func("/qtest/protocol/outside-ram", test_outside_ram);
    g_test_add_func("/qtest/protocol/huge-lines", test_huge_lines);
    g_test_add_func("/qtest/protocol/irq-intercept-in", test_irq_intercept_in);
    g_test_add_func("/qtest/protocol/irq-intercept-out",
                    test_irq_intercept_out);
    g_test_add_func("/qtest/protocol/overlong-line", test_overlong_line);
    return g_test_run();
}
