/*
 * The gdb remote protocol's framing (gdbstub/packet.c): packets, acks and
 * interrupts; escapes; bad checksums and overlong packets refused without
 * losing the next packet; whatever bytes arrive, nothing breaks.
 */
#include <string.h>

#include "gdbstub/packet.h"

/* Feeds s; returns the events that were not GDB_EV_NONE, as letters. */
static char *feed(GdbReader *r, const char *s, size_t len)
{
    static const char names[] = "-PIAKB";
    GString *ev = g_string_new(NULL);

    for (size_t i = 0; i < len; i++) {
        GdbEvent e = gdb_reader_feed(r, (uint8_t)s[i]);
        if (e != GDB_EV_NONE) {
            g_string_append_c(ev, names[e]);
        }
    }
    return g_string_free(ev, FALSE);
}

static void assert_data(GdbReader *r, const char *want, size_t want_len)
{
    size_t len;
    const uint8_t *d = gdb_reader_data(r, &len);

    g_assert_cmpmem(d, len, want, want_len);
}

static void test_packets_acks_interrupt(void)
{
    GdbReader r;
    g_autofree char *e1 = NULL, *e2 = NULL;

    gdb_reader_init(&r);
    e1 = feed(&r, "+$g#67", 6);
    g_assert_cmpstr(e1, ==, "AP");
    assert_data(&r, "g", 1);
    e2 = feed(&r, "junk\x03-$qSupported:xmlRegisters=i386#c1", 38);
    g_assert_cmpstr(e2, ==, "IKP");
    assert_data(&r, "qSupported:xmlRegisters=i386", 28);
    gdb_reader_free(&r);
}

static void test_bad_checksum_then_good(void)
{
    GdbReader r;
    g_autofree char *e1 = NULL, *e2 = NULL, *e3 = NULL;

    gdb_reader_init(&r);
    e1 = feed(&r, "$g#00$g#zz", 10);
    g_assert_cmpstr(e1, ==, "BB");
    /* a $ inside a packet starts a new one (gdb retried) */
    e2 = feed(&r, "$m0,4$m10,4#", 12);
    g_assert_cmpstr(e2, ==, "");
    e3 = feed(&r, "2e", 2);
    g_assert_cmpstr(e3, ==, "P");
    assert_data(&r, "m10,4", 5);
    gdb_reader_free(&r);
}

static void test_escapes(void)
{
    GdbReader r;
    GString *pkt = g_string_new(NULL);
    g_autofree char *ev = NULL;
    uint8_t all[256];

    for (int i = 0; i < 256; i++) {
        all[i] = i;
    }
    gdb_packet_encode(pkt, all, sizeof(all));
    /* no raw framing byte may appear inside */
    for (size_t i = 1; i < pkt->len - 3; i++) {
        g_assert_true(pkt->str[i] != '$' && pkt->str[i] != '#');
    }
    gdb_reader_init(&r);
    ev = feed(&r, pkt->str, pkt->len);
    g_assert_cmpstr(ev, ==, "P");
    assert_data(&r, (const char *)all, sizeof(all));
    gdb_reader_free(&r);
    g_string_free(pkt, TRUE);
}

static void test_too_long(void)
{
    GdbReader r;
    GString *big = g_string_new(NULL);
    char *filler = g_strnfill(GDB_PACKET_MAX + 10, 'a');
    g_autofree char *e1 = NULL, *e2 = NULL;

    gdb_packet_encode(big, filler, strlen(filler));
    gdb_reader_init(&r);
    e1 = feed(&r, big->str, big->len);
    g_assert_cmpstr(e1, ==, "B");
    g_assert_cmpuint(r.data->len, <=, GDB_PACKET_MAX);
    e2 = feed(&r, "$?#3f", 5);
    g_assert_cmpstr(e2, ==, "P");
    assert_data(&r, "?", 1);
    gdb_reader_free(&r);
    g_string_free(big, TRUE);
    g_free(filler);
}

static void test_hex(void)
{
    GString *s = g_string_new(NULL);
    uint8_t b[4], in[] = { 0x00, 0x7f, 0xa5, 0xff };
    const char *end;
    uint64_t v;

    gdb_put_hex(s, in, sizeof(in));
    g_assert_cmpstr(s->str, ==, "007fa5ff");
    g_assert_true(gdb_get_hex(s->str, s->len, b, 4));
    g_assert_cmpmem(b, 4, in, 4);
    g_assert_false(gdb_get_hex("007fa5f", 7, b, 4));
    g_assert_false(gdb_get_hex("00zz", 4, b, 2));
    g_assert_true(gdb_parse_hex("ffffffff81000000,40", &end, &v));
    g_assert_cmphex(v, ==, 0xffffffff81000000ull);
    g_assert_cmpstr(end, ==, ",40");
    g_assert_false(gdb_parse_hex(",40", &end, &v));
    g_assert_false(gdb_parse_hex("10000000000000000", &end, &v));
    g_string_free(s, TRUE);
}

/* Random bytes: any event may come, none breaks the reader. */
static void test_noise(void)
{
    GRand *rand = g_rand_new_with_seed(1);
    GdbReader r;

    gdb_reader_init(&r);
    for (int i = 0; i < 1000000; i++) {
        uint8_t byte = g_rand_int_range(rand, 0, 8) == 0
                       ? "$#}*+-\x03"[g_rand_int_range(rand, 0, 7)]
                       : g_rand_int_range(rand, 0, 256);
        gdb_reader_feed(&r, byte);
        g_assert_cmpuint(r.data->len, <=, GDB_PACKET_MAX);
    }
    g_autofree char *ev = feed(&r, "#00$k#6b", 8);
    g_assert_true(g_str_has_suffix(ev, "P"));
    assert_data(&r, "k", 1);
    gdb_reader_free(&r);
    g_rand_free(rand);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/gdb/packet/acks-interrupt", test_packets_acks_interrupt);
    g_test_add_func("/gdb/packet/bad-checksum", test_bad_checksum_then_good);
    g_test_add_func("/gdb/packet/escapes", test_escapes);
    g_test_add_func("/gdb/packet/too-long", test_too_long);
    g_test_add_func("/gdb/packet/hex", test_hex);
    g_test_add_func("/gdb/packet/noise", test_noise);
    return g_test_run();
}
