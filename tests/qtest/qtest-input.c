/*
 * Input from the monitor to the guest's PS/2 devices on pc: QMP send-key,
 * input-send-event and HMP sendkey/mouse_move/mouse_button, read back as
 * the guest reads them: scancodes (translated to set 1 or raw set 2) on
 * port 0x60 with IRQ 1, mouse packets with IRQ 12. Includes floods and
 * sequences a hostile guest or client might send.
 */
#include <string.h>

#include "libqtest.h"

#define DATA 0x60
#define STATUS 0x64
#define CMD 0x64
#define KBD_GSI 1
#define AUX_GSI 12

#define STR_OBF 0x01
#define STR_AUXDATA 0x20
#define CTR_KBDINT 0x01
#define CTR_AUXINT 0x02
#define CTR_XLATE 0x40

#define MS 1000000LL

static QTestState *start(void)
{
    QTestState *s = qtest_init("-M pc");

    qtest_irq_intercept_in(s, "ioapic");
    return s;
}

static void write_ctr(QTestState *s, uint8_t ctr)
{
    qtest_outb(s, CMD, 0x60);
    qtest_outb(s, DATA, ctr);
}

static uint8_t read_ctr(QTestState *s)
{
    qtest_outb(s, CMD, 0x20);
    return qtest_inb(s, DATA);
}

/* Everything in the output buffer now, as a hex string "1e 9e". */
static char *drain(QTestState *s, uint8_t want_aux)
{
    GString *out = g_string_new(NULL);

    for (int i = 0; i < 4096; i++) {
        uint8_t st = qtest_inb(s, STATUS);
        if (!(st & STR_OBF)) {
            break;
        }
        g_assert_cmphex(st & STR_AUXDATA, ==, want_aux);
        g_string_append_printf(out, "%s%02x", out->len ? " " : "",
                               qtest_inb(s, DATA));
    }
    return g_string_free(out, FALSE);
}

/* Reads until the output buffer stays empty, whoever the bytes are from. */
static void drain_any(QTestState *s)
{
    for (int i = 0; i < 4096 && (qtest_inb(s, STATUS) & STR_OBF); i++) {
        qtest_inb(s, DATA);
    }
    g_assert_cmphex(qtest_inb(s, STATUS) & STR_OBF, ==, 0);
}

static void assert_keys(QTestState *s, const char *want)
{
    g_autofree char *got = drain(s, 0);
    g_assert_cmpstr(got, ==, want);
}

static void assert_mouse(QTestState *s, const char *want)
{
    g_autofree char *got = drain(s, STR_AUXDATA);
    g_assert_cmpstr(got, ==, want);
}

static void send_key(QTestState *s, const char *keys, int hold_ms)
{
    g_autoptr(GString) list = g_string_new(NULL);
    g_auto(GStrv) names = g_strsplit(keys, "-", -1);

    for (char **k = names; *k; k++) {
        g_string_append_printf(list, "%s{'type':'qcode','data':'%s'}",
                               list->len ? "," : "", *k);
    }
    qtest_qmp_assert_success(s, "{'execute':'send-key','arguments':"
                             "{'keys':[%s],'hold-time':%d}}", list->str,
                             hold_ms);
}

/* Sends the key and its release (after hold_ms) and returns all bytes. */
static void check_key(QTestState *s, const char *key, const char *make,
                      const char *brk)
{
    send_key(s, key, 10);
    assert_keys(s, make);
    qtest_clock_step(s, 10 * MS);
    assert_keys(s, brk);
}

static void test_send_key_translated(void)
{
    QTestState *s = start();

    g_free(drain(s, 0));
    g_assert_cmphex(read_ctr(s) & CTR_XLATE, ==, CTR_XLATE);
    write_ctr(s, read_ctr(s) | CTR_KBDINT);
    send_key(s, "a", 100);
    g_assert_true(qtest_get_irq(s, KBD_GSI));
    assert_keys(s, "1e");
    g_assert_false(qtest_get_irq(s, KBD_GSI));
    /* the release waits for hold-time on the guest's clock */
    qtest_clock_step(s, 99 * MS);
    assert_keys(s, "");
    qtest_clock_step(s, 1 * MS);
    g_assert_true(qtest_get_irq(s, KBD_GSI));
    assert_keys(s, "9e");

    check_key(s, "ctrl_r", "e0 1d", "e0 9d");
    check_key(s, "up", "e0 48", "e0 c8");
    check_key(s, "kp_enter", "e0 1c", "e0 9c");
    check_key(s, "kp_1", "4f", "cf");
    check_key(s, "f7", "41", "c1");
    check_key(s, "print", "e0 2a e0 37", "e0 b7 e0 aa");
    check_key(s, "pause", "e1 1d 45 e1 9d c5", "");
    check_key(s, "sysrq", "54", "d4");
    check_key(s, "meta_l", "e0 5b", "e0 db");
    qtest_quit(s);
}

static void test_send_key_set2(void)
{
    QTestState *s = start();

    g_free(drain(s, 0));
    write_ctr(s, read_ctr(s) & ~CTR_XLATE);
    check_key(s, "a", "1c", "f0 1c");
    check_key(s, "ctrl_r", "e0 14", "e0 f0 14");
    check_key(s, "left", "e0 6b", "e0 f0 6b");
    check_key(s, "print", "e0 12 e0 7c", "e0 f0 7c e0 f0 12");
    check_key(s, "pause", "e1 14 77 e1 f0 14 f0 77", "");
    check_key(s, "f7", "83", "f0 83");
    /* ctrl + pause is Break; shift + print sends the short sequence */
    send_key(s, "ctrl-pause", 10);
    assert_keys(s, "14 e0 7e e0 f0 7e");
    qtest_clock_step(s, 10 * MS);
    assert_keys(s, "f0 14");
    send_key(s, "shift-print", 10);
    assert_keys(s, "12 e0 7c");
    qtest_clock_step(s, 10 * MS);
    assert_keys(s, "e0 f0 7c f0 12");

    /* a keyboard switched to set 1 sends set 1 itself */
    qtest_outb(s, DATA, 0xf0);
    qtest_outb(s, DATA, 0x01);
    assert_keys(s, "fa fa");
    check_key(s, "a", "1e", "9e");
    check_key(s, "delete", "e0 53", "e0 d3");
    qtest_quit(s);
}

/* Presses in order, releases in reverse order after hold-time. */
static void test_send_key_order(void)
{
    QTestState *s = start();
    json_t *r;

    g_free(drain(s, 0));
    qtest_qmp_assert_success(s, "{'execute':'send-key','arguments':{'keys':"
                             "[{'type':'qcode','data':'ctrl'},"
                             "{'type':'qcode','data':'alt'},"
                             "{'type':'number','data':211}],"
                             "'hold-time':50}}");
    assert_keys(s, "1d 38 e0 53");
    /* keys sent meanwhile wait behind the releases */
    send_key(s, "b", 10);
    assert_keys(s, "");
    qtest_clock_step(s, 49 * MS);
    assert_keys(s, "");
    qtest_clock_step(s, 1 * MS);
    assert_keys(s, "e0 d3 b8 9d 30");
    qtest_clock_step(s, 10 * MS);
    assert_keys(s, "b0");

    /* the default hold time is 100 ms */
    r = qtest_qmp(s, "{'execute':'send-key','arguments':{'keys':"
                  "[{'type':'number','data':30}]}}");
    g_assert_nonnull(json_object_get(r, "return"));
    json_decref(r);
    assert_keys(s, "1e");
    qtest_clock_step(s, 99 * MS);
    assert_keys(s, "");
    qtest_clock_step(s, 1 * MS);
    assert_keys(s, "9e");
    qtest_quit(s);
}

static void assert_qmp_error(QTestState *s, const char *cmd,
                             const char *want)
{
    json_t *r = qtest_qmp(s, "%s", cmd);
    const char *desc = json_string_value(
        json_object_get(json_object_get(r, "error"), "desc"));

    g_assert_nonnull(desc);
    if (!strstr(desc, want)) {
        g_error("error '%s' does not say '%s'", desc, want);
    }
    json_decref(r);
}

static void test_send_key_errors(void)
{
    QTestState *s = start();

    g_free(drain(s, 0));
    assert_qmp_error(s, "{'execute':'send-key','arguments':{'keys':"
                     "[{'type':'qcode','data':'a'},"
                     "{'type':'qcode','data':'nosuchkey'}]}}",
                     "Parameter 'keys[1].data' does not accept value "
                     "'nosuchkey'");
    assert_qmp_error(s, "{'execute':'send-key','arguments':{'keys':"
                     "[{'type':'qcode','data':5}]}}", "keys[0].data");
    assert_qmp_error(s, "{'execute':'send-key','arguments':{'keys':"
                     "[{'type':'number','data':'a'}]}}", "keys[0].data");
    assert_qmp_error(s, "{'execute':'send-key','arguments':{'keys':"
                     "[{'type':'scancode','data':1}]}}", "keys[0].type");
    assert_qmp_error(s, "{'execute':'send-key','arguments':{'keys':"
                     "[{'type':'qcode'}]}}", "keys[0].data");
    assert_qmp_error(s, "{'execute':'send-key','arguments':{'keys':"
                     "[{'type':'qcode','data':'a'}],'hold-time':-1}}",
                     "hold-time");
    /* nothing was sent by the failed commands */
    assert_keys(s, "");
    /* numbers no key has are ignored, as in QEMU */
    qtest_qmp_assert_success(s, "{'execute':'send-key','arguments':{'keys':"
                             "[{'type':'number','data':-5},"
                             "{'type':'number','data':100000}]}}");
    qtest_clock_step(s, 100 * MS);
    assert_keys(s, "");
    qtest_quit(s);
}

/* HMP sendkey: QEMU's key names joined by '-', numbers, hold time. */
static void test_hmp_sendkey(void)
{
    QTestState *s = start();
    char *out;

    g_free(drain(s, 0));
    out = qtest_hmp(s, "sendkey ctrl-alt-delete 20");
    g_assert_cmpstr(out, ==, "");
    g_free(out);
    assert_keys(s, "1d 38 e0 53");
    qtest_clock_step(s, 20 * MS);
    assert_keys(s, "e0 d3 b8 9d");
    out = qtest_hmp(s, "sendkey 0x1e");
    g_free(out);
    assert_keys(s, "1e");
    qtest_clock_step(s, 100 * MS);
    assert_keys(s, "9e");
    out = qtest_hmp(s, "sendkey ctrl-nosuchkey");
    g_assert_nonnull(strstr(out, "invalid parameter: nosuchkey"));
    g_free(out);
    out = qtest_hmp(s, "sendkey");
    g_assert_nonnull(strstr(out, "sendkey"));
    g_free(out);
    qtest_clock_step(s, 100 * MS);
    assert_keys(s, "");
    qtest_quit(s);
}

/* A flood of keys fills the keyboard's buffer: an overrun code, no crash. */
static void test_key_flood(void)
{
    QTestState *s = start();
    GString *ev = g_string_new(NULL);
    json_t *r;
    g_autofree char *got = NULL;
    char **bytes;
    int n;

    g_free(drain(s, 0));
    for (int i = 0; i < 1000; i++) {
        g_string_append_printf(ev, "%s{'type':'key','data':{'down':%s,"
                               "'key':{'type':'qcode','data':'a'}}}",
                               i ? "," : "", i % 2 ? "false" : "true");
    }
    r = qtest_qmp(s, "{'execute':'input-send-event','arguments':"
                  "{'events':[%s]}}", ev->str);
    g_assert_nonnull(json_object_get(r, "return"));
    json_decref(r);
    got = drain(s, 0);
    bytes = g_strsplit(got, " ", -1);
    n = g_strv_length(bytes);
    /* whole key events up to the buffer's size, then the overrun code
     * (0x00 in set 2, translated to set 1's 0xff) */
    g_assert_cmpint(n, <=, 256);
    g_assert_cmpint(n, >, 150);
    g_assert_cmpstr(bytes[n - 1], ==, "ff");
    g_assert_cmpstr(bytes[0], ==, "1e");
    g_assert_cmpstr(bytes[1], ==, "9e");
    g_strfreev(bytes);

    /* 300 keys at once through send-key: the releases still come */
    g_string_truncate(ev, 0);
    for (int i = 0; i < 300; i++) {
        g_string_append_printf(ev, "%s{'type':'qcode','data':'%s'}",
                               i ? "," : "", i % 2 ? "b" : "c");
    }
    r = qtest_qmp(s, "{'execute':'send-key','arguments':{'keys':[%s]}}",
                  ev->str);
    g_assert_nonnull(json_object_get(r, "return"));
    json_decref(r);
    g_free(drain(s, 0));
    qtest_clock_step(s, 100 * MS);
    g_free(drain(s, 0));
    /* more keys than the router's queue holds: refused, not half sent */
    g_string_truncate(ev, 0);
    for (int i = 0; i < 1000; i++) {
        g_string_append_printf(ev, "%s{'type':'qcode','data':'a'}",
                               i ? "," : "");
    }
    {
        g_autofree char *cmd = g_strdup_printf(
            "{'execute':'send-key','arguments':{'keys':[%s]}}", ev->str);
        assert_qmp_error(s, cmd, "Too many keys");
    }
    g_string_free(ev, TRUE);
    /* the keyboard works as before */
    check_key(s, "x", "2d", "ad");
    qtest_quit(s);
}

/* ---- mouse ---- */

static void aux_command(QTestState *s, uint8_t cmd)
{
    qtest_outb(s, CMD, 0xd4);
    qtest_outb(s, DATA, cmd);
}

#define AUX(s, cmd, want)                                               \
    do {                                                                \
        aux_command(s, cmd);                                            \
        assert_mouse(s, want);                                          \
    } while (0)

static QTestState *start_mouse(void)
{
    QTestState *s = start();

    g_free(drain(s, 0));
    qtest_outb(s, CMD, 0xa8);
    write_ctr(s, (read_ctr(s) | CTR_AUXINT) & ~0x20);
    AUX(s, 0xff, "fa aa 00");
    AUX(s, 0xf4, "fa");
    return s;
}

static void mouse_event(QTestState *s, const char *events)
{
    qtest_qmp_assert_success(s, "{'execute':'input-send-event','arguments':"
                             "{'events':[%s]}}", events);
}

#define REL(axis, v) "{'type':'rel','data':{'axis':'" axis "','value':" #v "}}"
#define BTN(b, d) "{'type':'btn','data':{'button':'" b "','down':" d "}}"

static void test_mouse_packet(void)
{
    QTestState *s = start_mouse();

    g_assert_false(qtest_get_irq(s, AUX_GSI));
    /* right 10, up 5 (the screen's y is down, PS/2's is up) */
    mouse_event(s, REL("x", 10) "," REL("y", -5));
    g_assert_true(qtest_get_irq(s, AUX_GSI));
    g_assert_false(qtest_get_irq(s, KBD_GSI));
    assert_mouse(s, "08 0a 05");
    g_assert_false(qtest_get_irq(s, AUX_GSI));
    /* left 3, down 2 with the left button: sign bits */
    mouse_event(s, BTN("left", "true") "," REL("x", -3) "," REL("y", 2));
    assert_mouse(s, "39 fd fe");
    mouse_event(s, BTN("left", "false"));
    assert_mouse(s, "08 00 00");
    mouse_event(s, BTN("right", "true"));
    assert_mouse(s, "0a 00 00");
    mouse_event(s, BTN("middle", "true"));
    assert_mouse(s, "0e 00 00");
    /* no wheel byte on a plain PS/2 mouse */
    mouse_event(s, BTN("wheel-up", "true"));
    assert_mouse(s, "");
    /* a status request shows the buttons: left, middle, right order */
    AUX(s, 0xe9, "fa 23 02 64");
    /* large motions are split: at most 255 per packet */
    mouse_event(s, BTN("right", "false") "," BTN("middle", "false") ","
                REL("x", 600));
    assert_mouse(s, "08 ff 00 08 ff 00 08 5a 00");
    mouse_event(s, REL("y", 300));
    assert_mouse(s, "28 00 00 28 00 d4");
    /* 2:1 scaling doubles larger motions, overflow bit past 255 */
    AUX(s, 0xe7, "fa");
    mouse_event(s, REL("x", 4));
    assert_mouse(s, "08 06 00");
    mouse_event(s, REL("x", 200));
    assert_mouse(s, "48 ff 00");
    AUX(s, 0xe6, "fa");
    /* absolute events need a tablet */
    assert_qmp_error(s, "{'execute':'input-send-event','arguments':{'events':"
                     "[{'type':'abs','data':{'axis':'x','value':10}}]}}",
                     "Input handler not found for event type abs");
    qtest_quit(s);
}

static void test_mouse_intellimouse(void)
{
    QTestState *s = start_mouse();

    AUX(s, 0xf2, "fa 00");
    /* the IntelliMouse knock: sample rates 200, 100, 80 */
    AUX(s, 0xf3, "fa");
    AUX(s, 200, "fa");
    AUX(s, 0xf3, "fa");
    AUX(s, 100, "fa");
    AUX(s, 0xf3, "fa");
    AUX(s, 80, "fa");
    AUX(s, 0xf2, "fa 03");
    mouse_event(s, BTN("wheel-down", "true") "," BTN("wheel-down", "false"));
    assert_mouse(s, "08 00 00 01");
    mouse_event(s, REL("x", 1) "," BTN("wheel-up", "true"));
    assert_mouse(s, "08 01 00 ff");
    /* the Explorer knock: 200, 200, 80 -> 5 buttons */
    AUX(s, 0xf3, "fa");
    AUX(s, 200, "fa");
    AUX(s, 0xf3, "fa");
    AUX(s, 200, "fa");
    AUX(s, 0xf3, "fa");
    AUX(s, 80, "fa");
    AUX(s, 0xf2, "fa 04");
    mouse_event(s, BTN("side", "true") "," BTN("wheel-up", "true"));
    assert_mouse(s, "08 00 00 1f");
    mouse_event(s, BTN("extra", "true"));
    assert_mouse(s, "08 00 00 30");
    /* a status request reports the last sample rate and resolution */
    AUX(s, 0xe8, "fa");
    AUX(s, 0x03, "fa");
    AUX(s, 0xe9, "fa 20 03 50");
    /* reset: a plain PS/2 mouse again */
    AUX(s, 0xff, "fa aa 00");
    AUX(s, 0xf2, "fa 00");
    qtest_quit(s);
}

static void test_mouse_modes(void)
{
    QTestState *s = start_mouse();
    char *out;

    /* disabled reporting: motion is dropped */
    AUX(s, 0xf5, "fa");
    mouse_event(s, REL("x", 5));
    assert_mouse(s, "");
    AUX(s, 0xf4, "fa");
    assert_mouse(s, "");
    /* remote mode: nothing until read data (0xeb) asks */
    AUX(s, 0xf0, "fa");
    mouse_event(s, REL("x", 7));
    assert_mouse(s, "");
    AUX(s, 0xeb, "fa 08 07 00");
    AUX(s, 0xeb, "fa 08 00 00");
    AUX(s, 0xe9, "fa 60 02 64");
    AUX(s, 0xea, "fa");
    /* wrap mode echoes bytes until 0xec */
    AUX(s, 0xee, "fa");
    AUX(s, 0x42, "42");
    AUX(s, 0xf4, "f4");
    AUX(s, 0xec, "fa");
    AUX(s, 0x42, "fe");
    /* a disabled aux port holds the packet until enabled */
    qtest_outb(s, CMD, 0xa7);
    mouse_event(s, REL("x", 1));
    g_assert_cmphex(qtest_inb(s, STATUS) & STR_OBF, ==, 0);
    qtest_outb(s, CMD, 0xa8);
    assert_mouse(s, "08 01 00");
    /* HMP: mouse_move dx dy [dz], mouse_button bits 1 left 2 right 4 mid */
    out = qtest_hmp(s, "mouse_move 3 -4");
    g_assert_cmpstr(out, ==, "");
    g_free(out);
    assert_mouse(s, "08 03 04");
    out = qtest_hmp(s, "mouse_button 3");
    g_free(out);
    assert_mouse(s, "0b 00 00");
    out = qtest_hmp(s, "mouse_button 0");
    g_free(out);
    assert_mouse(s, "08 00 00");
    qtest_quit(s);
}

/* Commands cut short, bytes to disabled devices, junk: sane answers. */
static void test_hostile_sequences(void)
{
    QTestState *s = start_mouse();
    GRand *r = g_rand_new_with_seed(8042);

    /* sample rate command followed by another command: that one runs */
    aux_command(s, 0xf3);
    assert_mouse(s, "fa");
    AUX(s, 0xf2, "fa 00");
    AUX(s, 0x00, "fe");
    /* the keyboard flooded with LED commands without data */
    for (int i = 0; i < 300; i++) {
        qtest_outb(s, DATA, 0xed);
    }
    g_free(drain(s, 0));
    /* random bytes on every port and command; then both devices reset */
    for (int i = 0; i < 3000; i++) {
        uint8_t v = g_rand_int(r);
        switch (g_rand_int_range(r, 0, 4)) {
        case 0:
            qtest_outb(s, DATA, v);
            break;
        case 1:
            /* not the reset-pulse commands, not the output port */
            if ((v & 0xf0) != 0xf0 && v != 0xd1) {
                qtest_outb(s, CMD, v);
            }
            break;
        case 2:
            aux_command(s, v);
            break;
        default:
            qtest_inb(s, DATA);
            break;
        }
    }
    g_rand_free(r);
    for (int i = 0; i < 600; i++) {
        qtest_inb(s, DATA);
    }
    write_ctr(s, CTR_KBDINT | CTR_AUXINT | CTR_XLATE | 0x04);
    drain_any(s);
    qtest_outb(s, DATA, 0xff);
    drain_any(s);
    aux_command(s, 0xff);
    drain_any(s);
    qtest_outb(s, DATA, 0xee);
    assert_keys(s, "ee");
    AUX(s, 0xf4, "fa");
    mouse_event(s, REL("x", 2));
    assert_mouse(s, "08 02 00");
    qtest_quit(s);
}

/* Malformed events are refused as a whole; huge values stay bounded. */
static void test_input_send_event_errors(void)
{
    static const struct {
        const char *events;
        const char *error;
    } bad[] = {
        { "[{'type':'key','data':{'down':true}}]",
          "Parameter 'events[0].data.key' is missing" },
        { "[{'type':'key','data':{'down':1,'key':{'type':'qcode',"
          "'data':'a'}}}]", "events[0].data.down" },
        { "[{'type':'key','data':{'down':true,'key':{'type':'qcode',"
          "'data':'nosuch'}}}]",
          "Parameter 'events[0].data.key.data' does not accept value "
          "'nosuch'" },
        { "[{'type':'key','data':{'down':true,'key':{'type':'raw',"
          "'data':1}}}]", "events[0].data.key.type" },
        { "[{'type':'btn','data':{'down':true,'button':'fourth'}}]",
          "events[0].data.button" },
        { "[{'type':'rel','data':{'axis':'z','value':1}}]",
          "events[0].data.axis" },
        { "[{'type':'rel','data':{'axis':'x','value':1.5}}]",
          "events[0].data.value" },
        { "[{'type':'rel','data':{'axis':'x','value':1,'extra':2}}]",
          "Parameter 'events[0].data.extra' is unexpected" },
        { "[{'type':'rel','data':[]}]", "events[0].data" },
        { "[{'type':'rel','data':{'axis':'x','value':1}},"
          "{'type':'touch','data':{}}]", "events[1].type" },
        { "[{'type':'rel'}]", "events[0].data" },
    };
    QTestState *s = start_mouse();
    uint32_t packets = 0, sum = 0;

    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_autofree char *cmd = g_strdup_printf(
            "{'execute':'input-send-event','arguments':{'events':%s}}",
            bad[i].events);
        assert_qmp_error(s, cmd, bad[i].error);
    }
    /* nothing of a refused list was sent */
    assert_mouse(s, "");
    /* a huge motion is bounded: packets up to 32767 counts, then quiet */
    mouse_event(s, REL("x", 4611686018427387904));
    for (int i = 0; i < 2000 && (qtest_inb(s, STATUS) & STR_OBF); i++) {
        uint8_t b0 = qtest_inb(s, DATA);
        uint8_t dx = qtest_inb(s, DATA);
        g_assert_cmphex(b0, ==, 0x08);
        g_assert_cmphex(qtest_inb(s, DATA), ==, 0);
        sum += dx;
        packets++;
    }
    g_assert_cmpuint(packets, ==, 129);
    g_assert_cmpuint(sum, ==, 32767);
    assert_mouse(s, "");
    qtest_quit(s);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/qtest/input/send-key-translated",
                    test_send_key_translated);
    g_test_add_func("/qtest/input/send-key-set2", test_send_key_set2);
    g_test_add_func("/qtest/input/send-key-order", test_send_key_order);
    g_test_add_func("/qtest/input/send-key-errors", test_send_key_errors);
    g_test_add_func("/qtest/input/hmp-sendkey", test_hmp_sendkey);
    g_test_add_func("/qtest/input/key-flood", test_key_flood);
    g_test_add_func("/qtest/input/mouse-packet", test_mouse_packet);
    g_test_add_func("/qtest/input/mouse-intellimouse",
                    test_mouse_intellimouse);
    g_test_add_func("/qtest/input/mouse-modes", test_mouse_modes);
    g_test_add_func("/qtest/input/hostile-sequences", test_hostile_sequences);
    g_test_add_func("/qtest/input/input-send-event-errors",
                    test_input_send_event_errors);
    return g_test_run();
}
