/*
 * gdb remote protocol framing (include/gdbstub/packet.h).
 */
#include <string.h>

#include "gdbstub/packet.h"

void gdb_reader_init(GdbReader *r)
{
    memset(r, 0, sizeof(*r));
    r->data = g_byte_array_new();
}

void gdb_reader_free(GdbReader *r)
{
    if (r->data) {
        g_byte_array_unref(r->data);
    }
    memset(r, 0, sizeof(*r));
}

static int hex_digit(uint8_t c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

static void start_packet(GdbReader *r)
{
    g_byte_array_set_size(r->data, 0);
    r->sum = 0;
    r->too_long = false;
    r->state = GDB_RX_DATA;
}

static void add_byte(GdbReader *r, uint8_t byte)
{
    if (r->data->len >= GDB_PACKET_MAX) {
        r->too_long = true;     /* keep reading to its end, then refuse */
        return;
    }
    g_byte_array_append(r->data, &byte, 1);
}

GdbEvent gdb_reader_feed(GdbReader *r, uint8_t byte)
{
    switch (r->state) {
    case GDB_RX_IDLE:
        switch (byte) {
        case '$':
            start_packet(r);
            return GDB_EV_NONE;
        case 0x03:
            return GDB_EV_INTERRUPT;
        case '+':
            return GDB_EV_ACK;
        case '-':
            return GDB_EV_NAK;
        default:
            return GDB_EV_NONE;     /* noise between packets */
        }
    case GDB_RX_DATA:
        if (byte == '#') {
            r->state = GDB_RX_SUM1;
            return GDB_EV_NONE;
        }
        if (byte == '$') {
            /* gdb gave up on the last one: a new packet begins */
            start_packet(r);
            return GDB_EV_NONE;
        }
        r->sum += byte;
        if (byte == '}') {
            r->state = GDB_RX_ESCAPE;
        } else {
            add_byte(r, byte);
        }
        return GDB_EV_NONE;
    case GDB_RX_ESCAPE:
        r->sum += byte;
        add_byte(r, byte ^ 0x20);
        r->state = GDB_RX_DATA;
        return GDB_EV_NONE;
    case GDB_RX_SUM1:
        r->want = byte;
        r->state = GDB_RX_SUM2;
        return GDB_EV_NONE;
    case GDB_RX_SUM2: {
        int hi = hex_digit(r->want), lo = hex_digit(byte);
        r->state = GDB_RX_IDLE;
        if (hi < 0 || lo < 0 || ((hi << 4) | lo) != r->sum || r->too_long) {
            return GDB_EV_BAD;
        }
        return GDB_EV_PACKET;
    }
    }
    return GDB_EV_NONE;
}

const uint8_t *gdb_reader_data(const GdbReader *r, size_t *len)
{
    *len = r->data->len;
    return r->data->data;
}

void gdb_packet_encode(GString *out, const void *data, size_t len)
{
    const uint8_t *p = data;
    uint8_t sum = 0;

    g_string_append_c(out, '$');
    for (size_t i = 0; i < len; i++) {
        uint8_t c = p[i];
        if (c == '$' || c == '#' || c == '}' || c == '*') {
            g_string_append_c(out, '}');
            sum += '}';
            c ^= 0x20;
        }
        g_string_append_c(out, c);
        sum += c;
    }
    g_string_append_printf(out, "#%02x", sum);
}

void gdb_put_hex(GString *out, const void *data, size_t len)
{
    static const char digits[] = "0123456789abcdef";
    const uint8_t *p = data;

    for (size_t i = 0; i < len; i++) {
        g_string_append_c(out, digits[p[i] >> 4]);
        g_string_append_c(out, digits[p[i] & 15]);
    }
}

bool gdb_get_hex(const char *hex, size_t hex_len, uint8_t *out, size_t len)
{
    if (hex_len < 2 * len) {
        return false;
    }
    for (size_t i = 0; i < len; i++) {
        int hi = hex_digit(hex[2 * i]), lo = hex_digit(hex[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            return false;
        }
        out[i] = (hi << 4) | lo;
    }
    return true;
}

bool gdb_parse_hex(const char *s, const char **end, uint64_t *v)
{
    const char *p = s;
    uint64_t n = 0;
    int d;

    while ((d = hex_digit(*p)) >= 0) {
        if (n >> 60) {
            return false;
        }
        n = (n << 4) | d;
        p++;
    }
    if (end) {
        *end = p;
    }
    *v = n;
    return p != s;
}
