#!/usr/bin/python3
"""Writes seed inputs for fuzz-vnc (tests/fuzz/fuzz-vnc.c documents the
encoding: a mode byte, then pieces each led by a length byte) into the
directory given: client conversations the fuzzer mutates from, made here
rather than committed as binaries."""
import struct
import sys
from pathlib import Path

HANDSHAKE_DONE, AUTH = 2, 1


def pieces(stream):
    """Feeds stream in one piece per 1021 bytes (length byte 255)."""
    out = b""
    for i in range(0, len(stream), 1021):
        out += bytes([255]) + stream[i:i + 1021]
    return out


def set_encodings(*encs):
    return struct.pack(">BxH", 2, len(encs)) + \
        b"".join(struct.pack(">i", e) for e in encs)


def pixel_format(bpp, depth, be, maxes, shifts, tc=1):
    return struct.pack(">B3xBBBBHHHBBB3x", 0, bpp, depth, be, tc, *maxes,
                       *shifts)


def request(incremental, x=0, y=0, w=64, h=48):
    return struct.pack(">BBHHHH", 3, incremental, x, y, w, h)


def key(keysym, down):
    return struct.pack(">BBxxI", 4, down, keysym)


def ext_key(keysym, code, down):
    return struct.pack(">BBHII", 255, 0, down, keysym, code)


def pointer(mask, x, y):
    return struct.pack(">BBHH", 5, mask, x, y)


def cut_text(text):
    return struct.pack(">B3xI", 6, len(text)) + text


def session(*encs):
    return (set_encodings(*encs) + request(0) + key(0x61, 1) +
            key(0x61, 0) + key(0x40, 1) + key(0x40, 0) +
            ext_key(0xff51, 0xcb, 1) + ext_key(0xff51, 0xcb, 0) +
            pointer(1, 10, 10) + pointer(0, 30, 5) + cut_text(b"hello") +
            request(1) + pixel_format(16, 16, 1, (31, 63, 31), (11, 5, 0)) +
            request(0, 5, 5, 20, 20) +
            pixel_format(8, 8, 0, (7, 7, 3), (0, 3, 6)) + request(0) +
            pixel_format(32, 24, 1, (255, 255, 255), (0, 8, 16)) +
            request(0))


def main():
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    seeds = {
        "zrle": bytes([HANDSHAKE_DONE]) + pieces(session(16, -223, -258,
                                                         -257)),
        "zlib": bytes([HANDSHAKE_DONE | 0x04]) + pieces(session(6, 0)),
        "raw-big": bytes([HANDSHAKE_DONE | 0x08 | 0x20]) +
        pieces(session(0, -223)),
        "v33": bytes([0x0c]) + pieces(b"RFB 003.003\n\x01" +
                                      session(16, 6)),
        "v37": bytes([0]) + pieces(b"RFB 003.007\n\x01\x00" + session(6)),
        "auth": bytes([AUTH]) + pieces(b"RFB 003.008\n\x02" + bytes(16) +
                                       b"\x01" + session(16)),
        "auth33": bytes([AUTH]) + pieces(b"RFB 003.003\n" + bytes(16)),
        "split": bytes([HANDSHAKE_DONE]) + b"".join(
            bytes([0]) + bytes([b]) for b in session(16, -223)),
    }
    for name, data in seeds.items():
        (out / f"seed-{name}").write_bytes(data)


if __name__ == "__main__":
    main()
