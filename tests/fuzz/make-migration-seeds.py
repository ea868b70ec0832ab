#!/usr/bin/python3
"""Writes seed inputs for fuzz-migration (tests/fuzz/fuzz-migration.c
documents the encoding) into the directory given: the machine's own
stream, device and vCPU sections unchanged and with a few patches."""
import struct
import sys
from pathlib import Path

WHOLE, STREAM, DEVICES, CPUS = range(4)
OVERWRITE, INSERT, DELETE = range(3)


def patch(op, off, data=b"", length=None):
    n = len(data) if length is None else length
    return struct.pack("<BIB", op, off, n) + (data if op != DELETE else b"")


SEEDS = {
    "stream": bytes([STREAM]),
    "devices": bytes([DEVICES]),
    "cpus": bytes([CPUS]),
    "stream-header": bytes([STREAM]) + patch(OVERWRITE, 9, b"\xff\xff"),
    "stream-cut": bytes([STREAM]) + patch(DELETE, 64, length=200),
    "devices-poke": bytes([DEVICES]) + patch(OVERWRITE, 40, b"\xff" * 4) +
    patch(INSERT, 100, b"\x00\x01"),
    "cpus-poke": bytes([CPUS]) + patch(OVERWRITE, 16, b"\x7f" * 8),
    "garbage": bytes([WHOLE]) + b"VIREOMIG" + bytes(16),
}


def main():
    out_dir = Path(sys.argv[1])
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, data in SEEDS.items():
        (out_dir / name).write_bytes(data)


if __name__ == "__main__":
    main()
