#!/usr/bin/python3
"""Writes seed inputs for fuzz-qtest (tests/fuzz/fuzz-qtest.c documents the
encoding) into the directory given: device bring-up sequences the fuzzer
mutates from, made here rather than committed as binaries."""
import struct
import sys
from pathlib import Path

OUT, IN, WRITE, READ, CLOCK, RAM, VQ_SETUP, VQ_KICK = range(8)
# fixed port regions, in fuzz-qtest.c's order
PIC, PIC2, ELCR, PIT, PORT61, KBD_DATA, KBD_CMD, PORT92, COM1, DEBUGCON, \
    PCI, ACPI_PM, RESET = range(13)
IOAPIC, LAPIC, RAMWIN = range(3)


def out(region, off, width, value):
    return struct.pack("<BBHBI", OUT, region, off, width, value)


def inp(region, off, width):
    return struct.pack("<BBHB", IN, region, off, width)


def write(region, off, width, value):
    return struct.pack("<BBIBQ", WRITE, region, off, width, value)


def clock(us):
    return struct.pack("<BH", CLOCK, us)


def ram(off, data):
    return struct.pack("<B", RAM) + off.to_bytes(3, "little") + \
        bytes([len(data)]) + data


def desc(addr, length, flags, nxt):
    return struct.pack("<QIHH", addr, length, flags, nxt)


def virtio_chain(dev, queue, descs):
    """Queue set-up, a descriptor table, avail ring entry 0, a kick."""
    ring = (dev * 4 + queue) * 0x10000
    table = b"".join(desc(*d) for d in descs)
    return (struct.pack("<BBB", VQ_SETUP, dev, queue) + ram(ring, table) +
            ram(ring + 0x8000, struct.pack("<HHH", 0, 1, 0)) +
            struct.pack("<BBB", VQ_KICK, dev, queue) + clock(1000))


SEEDS = {
    "uart": out(COM1, 3, 0, 0x80) + out(COM1, 0, 0, 1) +
    out(COM1, 3, 0, 3) + out(COM1, 2, 0, 0xc7) + out(COM1, 1, 0, 0xf) +
    out(COM1, 0, 0, 0x41) + inp(COM1, 2, 0) + inp(COM1, 5, 0) + clock(100),
    "pit": out(PIT, 3, 0, 0x34) + out(PIT, 0, 0, 0) + out(PIT, 0, 0, 0x10) +
    clock(20000) + out(PIT, 3, 0, 0xc2) + inp(PIT, 0, 0),
    "pic-ioapic": out(PIC, 0, 0, 0x11) + out(PIC, 1, 0, 0x20) +
    out(PIC, 1, 0, 4) + out(PIC, 1, 0, 1) + write(IOAPIC, 0, 2, 0x10) +
    write(IOAPIC, 0x10, 2, 0x30) + write(LAPIC, 0, 2, 0x4041),
    "i8042": out(KBD_CMD, 0, 0, 0xaa) + inp(KBD_DATA, 0, 0) +
    out(KBD_CMD, 0, 0, 0x60) + out(KBD_DATA, 0, 0, 0x47) +
    out(KBD_CMD, 0, 0, 0xd2) + out(KBD_DATA, 0, 0, 0x12),
    "pci-config": out(PCI, 0, 2, 0x80001800) + inp(PCI, 4, 2) +
    out(PCI, 0, 2, 0x80001804) + out(PCI, 4, 1, 0xffff),
    "virtio-blk-read": virtio_chain(0, 0, [
        (0x180000, 16, 1, 1), (0x181000, 512, 3, 2), (0x182000, 1, 2, 0)]) +
    ram(0x80000, struct.pack("<IIQ", 0, 0, 0)),
    "virtio-blk-loop": virtio_chain(0, 0, [
        (0x180000, 16, 1, 1), (0x181000, 512, 3, 0)]),
    "virtio-rng": virtio_chain(1, 0, [(0x180000, 64, 2, 0)]),
    "virtio-net-tx": virtio_chain(2, 1, [(0x180000, 64, 0, 0)]),
    "virtio-indirect": virtio_chain(0, 0, [(0x190000, 48, 4, 0)]) +
    ram(0x90000, desc(0x190000, 48, 4, 0)),
    "virtio-serial-ctrl": virtio_chain(3, 3, [(0x180000, 8, 0, 0)]),
}


def main():
    out_dir = Path(sys.argv[1])
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, data in SEEDS.items():
        (out_dir / name).write_bytes(data)


if __name__ == "__main__":
    main()
