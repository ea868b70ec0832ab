/*
 * The framing of gdb's remote serial protocol (the "Overview" and "Packets"
 * sections of gdb's manual, appendix "Remote Protocol"): a packet is
 * $data#cc, cc the modulo-256 sum of data in two hex digits; the receiver
 * answers + or - (until both ends agree on QStartNoAckMode); 0x03 outside a
 * packet is an interrupt. Data may escape a byte as } then byte ^ 0x20,
 * and replies may run-length encode (not used here). Everything here is
 * hostile input: a bad checksum is NAKed, an overlong packet dropped.
 */
#ifndef GDBSTUB_PACKET_H
#define GDBSTUB_PACKET_H

#include <glib.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* What we tell gdb in qSupported; longer packets are refused. */
#define GDB_PACKET_MAX 16384

typedef enum GdbEvent {
    GDB_EV_NONE,        /* the byte is part of something still coming */
    GDB_EV_PACKET,      /* a whole, good packet: gdb_reader_data() */
    GDB_EV_INTERRUPT,   /* 0x03 between packets: gdb's Ctrl-C */
    GDB_EV_ACK,         /* + : the last packet we sent arrived */
    GDB_EV_NAK,         /* - : send it again */
    GDB_EV_BAD,         /* a packet with a wrong checksum or too long:
                         * answer - (in ack mode) and forget it */
} GdbEvent;

typedef struct GdbReader {
    enum { GDB_RX_IDLE, GDB_RX_DATA, GDB_RX_ESCAPE, GDB_RX_SUM1,
           GDB_RX_SUM2 } state;
    GByteArray *data;   /* the packet so far, escapes undone */
    uint8_t sum;        /* of the bytes as sent */
    uint8_t want;       /* the checksum's first digit */
    bool too_long;
} GdbReader;

void gdb_reader_init(GdbReader *r);
void gdb_reader_free(GdbReader *r);
/* Feeds one byte from gdb. */
GdbEvent gdb_reader_feed(GdbReader *r, uint8_t byte);
/* The last GDB_EV_PACKET's data (not NUL-terminated: binary in X). */
const uint8_t *gdb_reader_data(const GdbReader *r, size_t *len);

/* Appends $data#cc to out, escaping $ # } * in data. */
void gdb_packet_encode(GString *out, const void *data, size_t len);

/* Hex helpers for packet bodies. */
void gdb_put_hex(GString *out, const void *data, size_t len);
/* Decodes 2*len hex digits from hex into out; false on a non-hex digit or
 * too few of them. */
bool gdb_get_hex(const char *hex, size_t hex_len, uint8_t *out, size_t len);
/* A hex number in the NUL-terminated s, up to its first non-hex character
 * (*end set there);
 * false without digits or when it exceeds 64 bits. */
bool gdb_parse_hex(const char *s, const char **end, uint64_t *v);

#endif
