#!/usr/bin/python3
"""Writes seed inputs for the device fuzz targets (tests/fuzz/fuzz-qtest.c
documents the encoding) into the directory given: device bring-up sequences
the fuzzer mutates from, made here rather than committed as binaries.
Usage: make-qtest-seeds.py DIR [TARGET] (default fuzz-qtest).

Regions are numbered as tests/fuzz/fuzz-qtest-profiles.c lists them for
the target, then the BARs of its PCI slots in the order fuzz-qtest.c
assigns them (BAR number order, function by function): keep in step."""
import struct
import sys
from pathlib import Path

OUT, IN, WRITE, READ, CLOCK, RAM, VQ_SETUP, VQ_KICK = range(8)
B, W, L, Q = range(4)           # access widths
WINDOW = 0x100000               # the RAM window's guest address
VIRTIO_F_INDIRECT = 1 << 28
VIRTIO_F_EVENT_IDX = 1 << 29


def out(region, off, width, value):
    return struct.pack("<BBHBI", OUT, region, off, width, value)


def inp(region, off, width):
    return struct.pack("<BBHB", IN, region, off, width)


def write(region, off, width, value):
    return struct.pack("<BBIBQ", WRITE, region, off, width, value)


def read(region, off, width):
    return struct.pack("<BBIB", READ, region, off, width)


def clock(us):
    return struct.pack("<BH", CLOCK, us)


def ram(off, data):
    """RAM window write; data over 255 bytes takes several operations."""
    ops = b""
    for i in range(0, max(len(data), 1), 255):
        part = data[i:i + 255]
        ops += (struct.pack("<B", RAM) + (off + i).to_bytes(3, "little") +
                bytes([len(part)]) + part)
    return ops


def desc(addr, length, flags, nxt):
    return struct.pack("<QIHH", addr, length, flags, nxt)


NEXT, WRITABLE, INDIRECT = 1, 2, 4


def ring(dev, queue):
    """The ring slot fuzz-qtest.c's virtio_setup uses (window offset)."""
    return (dev * 8 + queue) % 16 * 0x10000


def virtio_chain(dev, queue, descs, features=0, data=()):
    """Queue set-up, a descriptor table, avail ring entry 0, a kick.
    data: (window offset, bytes) the buffers hold."""
    r = ring(dev, queue)
    table = b"".join(desc(*d) for d in descs)
    ops = struct.pack("<BBBI", VQ_SETUP, dev, queue, features)
    for off, b in data:
        ops += ram(off, b)
    return (ops + ram(r, table) + ram(r + 0x8000, struct.pack("<HHH", 0, 1, 0))
            + struct.pack("<BBB", VQ_KICK, dev, queue) + clock(1000))


def buf(off):
    """Guest address of window offset off."""
    return WINDOW + off


# ---- fuzz-qtest: every device ----

PIC, PIC2, ELCR, PIT, PORT61, KBD_DATA, KBD_CMD, PORT92, COM1, DEBUGCON, \
    PCI, ACPI_PM, RESET = range(13)
IOAPIC, LAPIC, RAMWIN = range(3)

ALL = {
    "uart": out(COM1, 3, B, 0x80) + out(COM1, 0, B, 1) +
    out(COM1, 3, B, 3) + out(COM1, 2, B, 0xc7) + out(COM1, 1, B, 0xf) +
    out(COM1, 0, B, 0x41) + inp(COM1, 2, B) + inp(COM1, 5, B) + clock(100),
    "pit": out(PIT, 3, B, 0x34) + out(PIT, 0, B, 0) + out(PIT, 0, B, 0x10) +
    clock(20000) + out(PIT, 3, B, 0xc2) + inp(PIT, 0, B),
    "pic-ioapic": out(PIC, 0, B, 0x11) + out(PIC, 1, B, 0x20) +
    out(PIC, 1, B, 4) + out(PIC, 1, B, 1) + write(IOAPIC, 0, L, 0x10) +
    write(IOAPIC, 0x10, L, 0x30) + write(LAPIC, 0, L, 0x4041),
    "i8042": out(KBD_CMD, 0, B, 0xaa) + inp(KBD_DATA, 0, B) +
    out(KBD_CMD, 0, B, 0x60) + out(KBD_DATA, 0, B, 0x47) +
    out(KBD_CMD, 0, B, 0xd2) + out(KBD_DATA, 0, B, 0x12),
    "pci-config": out(PCI, 0, L, 0x80001800) + inp(PCI, 4, L) +
    out(PCI, 0, L, 0x80001804) + out(PCI, 4, W, 0xffff),
    "virtio-blk-read": virtio_chain(0, 0, [
        (buf(0x80000), 16, NEXT, 1), (buf(0x81000), 512, NEXT | WRITABLE, 2),
        (buf(0x82000), 1, WRITABLE, 0)],
        data=[(0x80000, struct.pack("<IIQ", 0, 0, 0))]),
    "virtio-blk-loop": virtio_chain(0, 0, [
        (buf(0x80000), 16, NEXT, 1), (buf(0x81000), 512, NEXT | WRITABLE, 0)]),
    "virtio-rng": virtio_chain(1, 0, [(buf(0x80000), 64, WRITABLE, 0)]),
    "virtio-net-tx": virtio_chain(2, 1, [(buf(0x80000), 64, 0, 0)]),
    "virtio-indirect": virtio_chain(0, 0, [(buf(0x90000), 48, INDIRECT, 0)],
                                    VIRTIO_F_INDIRECT,
                                    [(0x90000, desc(buf(0x90000), 48, 4, 0))]),
    "virtio-serial-ctrl": virtio_chain(3, 3, [(buf(0x80000), 8, 0, 0)]),
}

# ---- one virtio device (its profile: ports PCI; MMIO MSI, RAM, BARs) ----

VPCI = 0
V_MSI, V_RAM, V_MSIX_BAR, V_MODERN_BAR = range(4)
# the modern BAR's common configuration (virtio 1.x 4.1.4.3)
COMMON_STATUS, COMMON_Q_SELECT, COMMON_Q_SIZE = 0x14, 0x16, 0x18


def blk_req(kind, sector, data_len, extra=b""):
    """A virtio-blk request: header, data, status; one chain."""
    hdr = struct.pack("<IIQ", kind, 0, sector)
    descs = [(buf(0x80000), 16, NEXT, 1)]
    writable = WRITABLE if kind in (0, 8) else 0
    if data_len:
        descs.append((buf(0x81000), data_len, NEXT | writable, 2))
    descs.append((buf(0x82000), 1, WRITABLE, 0))
    if not data_len:
        descs[0] = (buf(0x80000), 16, NEXT, 1)
        descs[1] = (buf(0x82000), 1, WRITABLE, 0)
    return virtio_chain(0, 0, descs, VIRTIO_F_INDIRECT,
                        [(0x80000, hdr), (0x81000, extra)])


VIRTIO_BLK = {
    "read": blk_req(0, 0, 512),
    "write": blk_req(1, 7, 1024, b"\xaa" * 64),
    "flush": blk_req(4, 0, 0),
    "get-id": blk_req(8, 0, 20),
    "discard": blk_req(11, 0, 16, struct.pack("<QII", 0, 8, 0)),
    "write-zeroes": blk_req(13, 0, 16, struct.pack("<QII", 8, 8, 0)),
    "past-end": blk_req(0, 1 << 40, 512),
    "indirect": virtio_chain(0, 0, [(buf(0x90000), 48, INDIRECT, 0)],
                             VIRTIO_F_INDIRECT, [
        (0x90000, desc(buf(0x80000), 16, NEXT, 1) +
         desc(buf(0x81000), 512, NEXT | WRITABLE, 2) +
         desc(buf(0x82000), 1, WRITABLE, 0)),
        (0x80000, struct.pack("<IIQ", 0, 0, 3))]),
    "queue-size": write(V_MODERN_BAR, COMMON_Q_SELECT, W, 0) +
    write(V_MODERN_BAR, COMMON_Q_SIZE, W, 3) + blk_req(0, 0, 512),
    "config": read(V_MODERN_BAR, 0x2000, Q) + read(V_MODERN_BAR, 0x2014, L) +
    write(V_MSIX_BAR, 0, L, 0xfee00000) + write(V_MSIX_BAR, 8, L, 0x4041),
}

NET_HDR = bytes(12)     # virtio_net_hdr with num_buffers (version 1)
ETH = bytes.fromhex("ffffffffffff525400123456" "0806") + bytes(28)
VIRTIO_NET = {
    "tx": virtio_chain(0, 1, [(buf(0x80000), 12 + len(ETH), 0, 0)], 0,
                       [(0x80000, NET_HDR + ETH)]),
    "tx-chain": virtio_chain(0, 1, [(buf(0x80000), 12, NEXT, 1),
                                    (buf(0x81000), len(ETH), 0, 0)], 0,
                             [(0x80000, NET_HDR), (0x81000, ETH)]),
    "rx": virtio_chain(0, 0, [(buf(0x80000), 1526, WRITABLE, 0)]),
    # VIRTIO_NET_F_CTRL_VQ (17), CTRL_RX (18): promiscuous on
    "ctrl-rx": virtio_chain(0, 2, [(buf(0x80000), 2, NEXT, 1),
                                   (buf(0x81000), 1, NEXT, 2),
                                   (buf(0x82000), 1, WRITABLE, 0)],
                            (1 << 17) | (1 << 18),
                            [(0x80000, b"\x00\x00"), (0x81000, b"\x01")]),
    # MAC table set: class 1, command 0, two tables
    "ctrl-mac": virtio_chain(0, 2, [(buf(0x80000), 2, NEXT, 1),
                                    (buf(0x81000), 22, NEXT, 2),
                                    (buf(0x82000), 1, WRITABLE, 0)],
                             1 << 17,
                             [(0x80000, b"\x01\x00"),
                              (0x81000, struct.pack("<I", 1) + bytes(6) +
                               struct.pack("<I", 1) + bytes(6))]),
}

VIRTIO_SERIAL = {
    # VIRTIO_CONSOLE_F_MULTIPORT (1): DEVICE_READY on the control tx queue
    "device-ready": virtio_chain(0, 3, [(buf(0x80000), 8, 0, 0)], 2,
                                 [(0x80000, struct.pack("<IHH", 0, 0, 1))]),
    "port-ready": virtio_chain(0, 3, [(buf(0x80000), 8, 0, 0)], 2,
                               [(0x80000, struct.pack("<IHH", 1, 3, 1))]),
    "port-open": virtio_chain(0, 3, [(buf(0x80000), 8, 0, 0)], 2,
                              [(0x80000, struct.pack("<IHH", 1, 6, 1))]),
    "ctrl-rx": virtio_chain(0, 2, [(buf(0x80000), 64, WRITABLE, 0)], 2),
    "console-tx": virtio_chain(0, 1, [(buf(0x80000), 5, 0, 0)], 0,
                               [(0x80000, b"hello")]),
    "port1-tx": virtio_chain(0, 5, [(buf(0x80000), 5, 0, 0)], 2,
                             [(0x80000, b"hello")]),
}

VIRTIO_RNG = {
    "read": virtio_chain(0, 0, [(buf(0x80000), 64, WRITABLE, 0)]),
    "big": virtio_chain(0, 0, [(buf(0x80000), 0x10000, WRITABLE, 0)]),
    "chain": virtio_chain(0, 0, [(buf(0x80000), 16, NEXT | WRITABLE, 1),
                                 (buf(0x81000), 16, WRITABLE, 0)]) +
    clock(0),
}

PFNS = struct.pack("<4I", 0x180, 0x181, 0x182, 0x3ffff)
VIRTIO_BALLOON = {
    "inflate": virtio_chain(0, 0, [(buf(0x80000), len(PFNS), 0, 0)], 0,
                            [(0x80000, PFNS)]),
    "deflate": virtio_chain(0, 1, [(buf(0x80000), len(PFNS), 0, 0)], 0,
                            [(0x80000, PFNS)]),
    # VIRTIO_BALLOON_F_STATS_VQ (1): tag 0 (swap in) = 5
    "stats": virtio_chain(0, 2, [(buf(0x80000), 10, 0, 0)], 2,
                          [(0x80000, struct.pack("<HQ", 0, 5))]),
    # VIRTIO_BALLOON_F_REPORTING (5): free pages in the window
    "report": virtio_chain(0, 3, [(buf(0x90000), 0x2000, WRITABLE, 0)],
                           1 << 5),
    "config": write(V_MODERN_BAR, 0x2004, L, 0x100) +
    read(V_MODERN_BAR, 0x2000, L),
}

# ---- IDE: ports IDE0, IDE0 control, IDE1, IDE1 control, PCI; BMDMA ----

IDE0, IDE0CTL, IDE1, IDE1CTL, IPCI, BMDMA = range(6)
I_MSI, I_RAM = range(2)


def ata(bus, cmd, lba=0, count=1, feature=0, dev=0xe0):
    r = IDE0 if bus == 0 else IDE1
    return (out(r, 1, B, feature) + out(r, 2, B, count) +
            out(r, 3, B, lba & 0xff) + out(r, 4, B, lba >> 8 & 0xff) +
            out(r, 5, B, lba >> 16 & 0xff) + out(r, 6, B, dev) +
            out(r, 7, B, cmd))


def pio_read(bus, words):
    r = IDE0 if bus == 0 else IDE1
    return b"".join(inp(r, 0, W) for _ in range(words)) + inp(r, 7, B)


def packet(cdb, length=0x800):
    """ATAPI PACKET on the CD (secondary master): the CDB as 6 words."""
    ops = ata(1, 0xa0, lba=length << 8, count=0, dev=0xa0)
    cdb = cdb.ljust(12, b"\0")
    for i in range(0, 12, 2):
        ops += out(IDE1, 0, W, cdb[i] | cdb[i + 1] << 8)
    return ops + pio_read(1, 16)


def bmdma(bus, cmd, lba, count, prd_len=512, to_memory=True):
    """Bus-master DMA: a PRD at window 0x10000, the buffer at 0x20000."""
    base = 0 if bus == 0 else 8
    prd = struct.pack("<IHH", buf(0x20000), prd_len & 0xffff, 0x8000)
    return (ram(0x10000, prd) + out(BMDMA, base + 4, L, buf(0x10000)) +
            ata(bus, cmd, lba, count) +
            out(BMDMA, base, B, 1 | (8 if to_memory else 0)) + clock(1000) +
            inp(BMDMA, base + 2, B) + out(BMDMA, base, B, 0))


IDE = {
    "identify": ata(0, 0xec) + pio_read(0, 256),
    "read-pio": ata(0, 0x20, lba=1, count=2) + pio_read(0, 256),
    "write-pio": ata(0, 0x30, lba=2) +
    b"".join(out(IDE0, 0, W, 0x5aa5) for _ in range(256)) + inp(IDE0, 7, B),
    "read-dma": bmdma(0, 0xc8, 0, 1),
    "write-dma": bmdma(0, 0xca, 3, 1, to_memory=False),
    "read-dma-ext": ata(0, 0x25, 0, 1) + bmdma(0, 0x25, 0, 1, 0),
    "set-features": ata(0, 0xef, count=0x45, feature=3) + inp(IDE0, 7, B),
    "srst": out(IDE0CTL, 0, B, 4) + out(IDE0CTL, 0, B, 0) + inp(IDE0, 7, B),
    "atapi-identify": ata(1, 0xa1, dev=0xa0) + pio_read(1, 256),
    "atapi-inquiry": packet(bytes([0x12, 0, 0, 0, 36])),
    "atapi-tur-sense": packet(b"\x00") + packet(bytes([3, 0, 0, 0, 18])),
    "atapi-read10": packet(bytes([0x28, 0, 0, 0, 0, 1, 0, 0, 1])),
    "atapi-toc": packet(bytes([0x43, 0, 0, 0, 0, 0, 0, 0, 0x20])),
    "atapi-config": packet(bytes([0x46, 2, 0, 0, 0, 0, 0, 0, 0x40])),
    "atapi-mode-sense": packet(bytes([0x5a, 0, 0x2a, 0, 0, 0, 0, 0, 0x40])),
    "atapi-capacity": packet(bytes([0x25])),
    "atapi-event": packet(bytes([0x4a, 1, 0, 0, 0x10, 0, 0, 0, 8])),
    "atapi-dma": ata(1, 0xa0, 0, 0, feature=1, dev=0xa0) +
    b"".join(out(IDE1, 0, W, w) for w in (0x28, 0, 0, 0x100, 0, 0)) +
    ram(0x10000, struct.pack("<IHH", buf(0x20000), 2048, 0x8000)) +
    out(BMDMA, 12, L, buf(0x10000)) + out(BMDMA, 8, B, 9) + clock(1000),
}

# ---- AHCI (q35): ports PCI, the index/data pair BAR; MMIO MSI, RAM, ABAR

APCI, AIDP = range(2)
A_MSI, A_RAM, ABAR = range(3)


def ahci_cmd(port, fis, atapi_cdb=None, write_=False, prd_len=512):
    """A command in slot 0 of port: list at 0x1000*(port+1), FIS area
    at 0x8000+0x100*port, table at 0x10000+0x1000*port, data 0x40000."""
    clb = 0x1000 * (port + 1)
    table = 0x10000 + 0x1000 * port
    flags = 5 | (1 << 5 if atapi_cdb else 0) | (1 << 6 if write_ else 0)
    header = struct.pack("<HHIQ", flags, 1, 0, buf(table)) + bytes(16)
    cfis = fis.ljust(0x40, b"\0")
    acmd = (atapi_cdb or b"").ljust(0x40, b"\0")
    prdt = struct.pack("<QII", buf(0x40000), 0, prd_len - 1)
    p = 0x100 + 0x80 * port
    return (ram(clb, header) + ram(table, cfis + acmd) +
            ram(table + 0x80, prdt) +
            write(ABAR, 4, L, 1 << 31) +                   # GHC.AE
            write(ABAR, p + 0x00, L, buf(clb)) +           # PxCLB
            write(ABAR, p + 0x08, L, buf(0x8000 + 0x100 * port)) +  # PxFB
            write(ABAR, p + 0x14, L, 0xffffffff) +         # PxIE
            write(ABAR, p + 0x18, L, 0x11) +               # PxCMD ST|FRE
            write(ABAR, p + 0x38, L, 1) + clock(1000) +    # PxCI
            read(ABAR, p + 0x10, L) + read(ABAR, p + 0x20, L) +
            write(ABAR, 8, L, 0xffffffff))


def h2d(cmd, lba=0, count=1, feature=0):
    return struct.pack("<BBBBBBBBBBBBHBB", 0x27, 0x80, cmd, feature,
                       lba & 0xff, lba >> 8 & 0xff, lba >> 16 & 0xff, 0x40,
                       lba >> 24 & 0xff, 0, 0, 0, count, 0, 0)


AHCI = {
    "identify": ahci_cmd(0, h2d(0xec)),
    "read-dma": ahci_cmd(0, h2d(0x25, 1, 1)),
    "write-dma": ahci_cmd(0, h2d(0x35, 2, 1), write_=True),
    "ncq-read": ahci_cmd(0, struct.pack("<BBBB", 0x27, 0x80, 0x60, 1) +
                         bytes(8) + struct.pack("<BB", 0, 0) + bytes(4)),
    "flush": ahci_cmd(0, h2d(0xe7, count=0)),
    "atapi-inquiry": ahci_cmd(1, h2d(0xa0, feature=1),
                              bytes([0x12, 0, 0, 0, 36])),
    "atapi-read10": ahci_cmd(1, h2d(0xa0, feature=1),
                             bytes([0x28, 0, 0, 0, 0, 1, 0, 0, 1]),
                             prd_len=2048),
    "regs": read(ABAR, 0, L) + read(ABAR, 0x0c, L) + write(ABAR, 4, L, 1) +
    read(ABAR, 0x128, L) + out(AIDP, 0, L, 0x10) + inp(AIDP, 4, L),
}

# ---- e1000: ports PCI, the I/O BAR; MMIO MSI, RAM, the register BAR ----

EPCI, EIO = range(2)
E_MSI, E_RAM, EREGS = range(3)
TX_DESC = struct.pack("<QHBBBBH", buf(0x20000), len(ETH), 0, 0x0b, 0, 0, 0)


def e1000_tx(descs, data=()):
    ops = b""
    for off, b in data:
        ops += ram(off, b)
    return (ops + ram(0x10000, b"".join(descs)) +
            write(EREGS, 0x3800, L, buf(0x10000)) +    # TDBAL
            write(EREGS, 0x3808, L, 0x80 * 16) +       # TDLEN
            write(EREGS, 0x3810, L, 0) + write(EREGS, 0x0400, L, 0x2) +
            write(EREGS, 0x3818, L, len(descs)) + clock(1000) +
            read(EREGS, 0xc0, L))


E1000 = {
    "tx": e1000_tx([TX_DESC], [(0x20000, ETH)]),
    # a TCP segmentation context descriptor (TUCMD: DEXT|TSE|IP|TCP), then
    # a data descriptor (DTYP 1, DCMD: DEXT|RS|TSE|EOP)
    "tx-tso": e1000_tx([
        struct.pack("<BBHBBHIBBH", 14, 24, 33, 34, 50, 0,
                    160 | 0x27 << 24, 0, 54, 64),
        struct.pack("<QII", buf(0x20000), 214 | 1 << 20 | 0x2d << 24, 0)],
        [(0x20000, ETH + bytes(180))]),
    "rx": ram(0x10000, struct.pack("<QQ", buf(0x20000), 0) * 4) +
    write(EREGS, 0x2800, L, buf(0x10000)) + write(EREGS, 0x2808, L, 512) +
    write(EREGS, 0x2810, L, 0) + write(EREGS, 0x2818, L, 3) +
    write(EREGS, 0x100, L, 0x801a) + write(EREGS, 0xd0, L, 0x9d) +
    clock(1000) + read(EREGS, 0xc0, L),
    "eeprom-mdic": write(EREGS, 0x14, L, 1 | 3 << 8) + read(EREGS, 0x14, L) +
    write(EREGS, 0x20, L, 0x08220000) + read(EREGS, 0x20, L) +
    read(EREGS, 0x08, L) + read(EREGS, 0x5400, L),
    "ioport": out(EIO, 0, L, 0x3818) + out(EIO, 4, L, 1) +
    out(EIO, 0, L, 0x8) + inp(EIO, 4, L),
}

# ---- VGA: ports VGA 0x3b0-0x3df, VBE, PCI; MMIO legacy, VRAM, registers

VGAP, VBE, VPCI_ = range(3)
LEGACY, VRAM, VREGS = range(3)


def vbe(index, value):
    return out(VBE, 0, W, index) + out(VBE, 1, W, value)


VGA = {
    "vbe-mode": vbe(4, 0) + vbe(1, 640) + vbe(2, 480) + vbe(3, 32) +
    vbe(4, 0x41) + write(VRAM, 0, L, 0xffffff) + vbe(6, 800) +
    vbe(8, 10) + vbe(9, 10) + inp(VBE, 1, W),
    "vbe-banked": vbe(1, 1024) + vbe(2, 768) + vbe(3, 8) + vbe(4, 1) +
    vbe(5, 3) + write(LEGACY, 0x100, W, 0x1234) + read(LEGACY, 0x100, W),
    "vbe-mmio": write(VREGS, 0x500 + 2, W, 1280) +
    write(VREGS, 0x500 + 4, W, 1024) + write(VREGS, 0x500 + 6, W, 16) +
    write(VREGS, 0x500 + 8, W, 0x41) + write(VREGS, 0x604, L, 0) +
    read(VREGS, 0x600, L),
    # mode 13h-like: sequencer, graphics controller, CRTC, DAC, attributes
    "planar": out(VGAP, 0x12, B, 0x63) + out(VGAP, 0x14, W, 0x0f02) +
    out(VGAP, 0x14, W, 0x0604) + out(VGAP, 0x1e, W, 0x4005) +
    out(VGAP, 0x1e, W, 0x0506) + out(VGAP, 0x24, W, 0x0e11) +
    out(VGAP, 0x24, W, 0x5f00) + out(VGAP, 0x18, B, 1) +
    out(VGAP, 0x19, B, 0x3f) + inp(VGAP, 0x2a, B) + out(VGAP, 0x10, B, 0x10) +
    out(VGAP, 0x10, B, 0x41) + write(LEGACY, 0, B, 0x55) +
    read(LEGACY, 0, B),
    "text": out(VGAP, 0x1e, W, 0x0e06) + write(LEGACY, 0x18000, W, 0x0741) +
    out(VGAP, 0x24, W, 0x000e) + out(VGAP, 0x24, W, 0x500f) +
    read(LEGACY, 0x18000, W),
}

# ---- fw_cfg: ports 0x510-0x51b; MMIO MSI, RAM ----

FWCFG = 0
F_MSI, F_RAM = range(2)


def fw_dma(control, length, to_off=0x2000):
    """A DMA access at window 0x1000 (big-endian, fw_cfg.rst), then the
    address written to 0x514 (high, big-endian) and 0x518 (low)."""
    access = struct.pack(">IIQ", control, length, buf(to_off))
    addr = buf(0x1000)
    return (ram(0x1000, access) + out(FWCFG, 4, L, 0) +
            out(FWCFG, 8, L, int.from_bytes(addr.to_bytes(4, "big"),
                                            "little")) + clock(100))


FW_CFG = {
    "signature": out(FWCFG, 0, W, 0) +
    b"".join(inp(FWCFG, 1, B) for _ in range(4)),
    "file-dir": out(FWCFG, 0, W, 0x19) +
    b"".join(inp(FWCFG, 1, B) for _ in range(64)),
    "dma-select-read": fw_dma(0x19 << 16 | 0x08 | 0x02, 64),
    "dma-skip-read": fw_dma(0x19 << 16 | 0x08 | 0x04, 4) +
    fw_dma(0x02, 64),
    "dma-write": fw_dma(0x0e << 16 | 0x08 | 0x10, 4),
    "dma-id": out(FWCFG, 0, W, 1) + inp(FWCFG, 1, B) + inp(FWCFG, 4, L) +
    inp(FWCFG, 8, L),
}

# ---- RTC: index/data 0x70, extended 0x72 ----

RTC_P, RTC_EXT = range(2)


def cmos(reg, value=None):
    if value is None:
        return out(RTC_P, 0, B, reg) + inp(RTC_P, 1, B)
    return out(RTC_P, 0, B, reg) + out(RTC_P, 1, B, value)


RTC = {
    "time": b"".join(cmos(r) for r in (0, 2, 4, 6, 7, 8, 9, 0x32, 0x0a, 0x0b)),
    "periodic": cmos(0x0a, 0x26) + cmos(0x0b, 0x42) + clock(2000) +
    cmos(0x0c) + clock(0) + cmos(0x0c),
    "alarm": cmos(0x0b, 0x22) + cmos(1, 5) + cmos(3, 0xff) + cmos(5, 0xff) +
    clock(60000) + cmos(0x0c),
    "set-time": cmos(0x0b, 0x86) + cmos(0, 0x59) + cmos(2, 0x59) +
    cmos(4, 0x23) + cmos(7, 0x31) + cmos(8, 0x12) + cmos(9, 0x99) +
    cmos(0x0b, 0x06) + clock(0) + cmos(0) + cmos(0x0a),
    "binary-12h": cmos(0x0b, 0x84) + cmos(4, 0x8c) + cmos(0x0b, 0x04) +
    cmos(4),
    "ext-nmi": out(RTC_EXT, 0, B, 0x80) + out(RTC_EXT, 1, B, 0x12) +
    inp(RTC_EXT, 1, B) + out(RTC_P, 0, B, 0x8f) + inp(RTC_P, 1, B),
}

# ---- i8042: data 0x60, command/status 0x64 ----

KDATA, KCMD = range(2)


def kcmd(c, data=None):
    ops = out(KCMD, 0, B, c)
    if data is not None:
        ops += out(KDATA, 0, B, data)
    return ops + inp(KCMD, 0, B) + inp(KDATA, 0, B)


def mouse(*bytes_):
    return b"".join(kcmd(0xd4, b) for b in bytes_)


def kbd(*bytes_):
    return b"".join(out(KDATA, 0, B, b) + inp(KDATA, 0, B) for b in bytes_)


I8042 = {
    "self-test": kcmd(0xaa) + kcmd(0xab) + kcmd(0x20) + kcmd(0x60, 0x47),
    "mouse-intellimouse": kcmd(0xa8) + mouse(0xf3, 200, 0xf3, 100, 0xf3, 80,
                                             0xf2, 0xf4, 0xe8, 3, 0xe9),
    "mouse-wrap": mouse(0xee, 0x12, 0xec, 0xff) + clock(1000),
    "kbd": kbd(0xff, 0xed, 7, 0xf0, 2, 0xf0, 0, 0xf3, 0x20, 0xf4, 0xee),
    "output-buffers": kcmd(0xd2, 0x1c) + kcmd(0xd3, 0x08) + kcmd(0xd0) +
    kcmd(0xd1, 0xdf) + kcmd(0xad) + kcmd(0xae),
    "reset-pulse": kcmd(0xfe) + kcmd(0xf0),
}

# ---- pflash: MMIO flash (vars then code), its alias below 1 MiB, RAM --

FLASH, ALIAS, P_RAM = range(3)
CODE = 0x20000      # the code unit's offset in the flash region


def fl(off, v):
    return write(FLASH, off, B, v)


PFLASH = {
    "cfi-query": fl(0x55, 0x98) +
    b"".join(read(FLASH, o, B) for o in range(0x10, 0x40, 3)) + fl(0, 0xff),
    "read-id": fl(0, 0x90) + read(FLASH, 0, B) + read(FLASH, 1, B) +
    fl(0, 0xff) + read(ALIAS, 0x1fff0, L),
    "program": fl(0x100, 0x40) + fl(0x100, 0x5a) + fl(0, 0x70) +
    read(FLASH, 0, B) + fl(0, 0x50) + fl(0, 0xff) + read(FLASH, 0x100, B),
    "erase": fl(0x1000, 0x20) + fl(0x1000, 0xd0) + read(FLASH, 0x1000, B) +
    fl(0, 0xff),
    "write-buffer": fl(0x200, 0xe8) + read(FLASH, 0x200, B) + fl(0x200, 3) +
    b"".join(fl(0x200 + i, 0x11 * i) for i in range(4)) + fl(0x200, 0xd0) +
    fl(0, 0x70) + read(FLASH, 0, B),
    "code-readonly": fl(CODE + 0x10, 0x40) + fl(CODE + 0x10, 0) +
    fl(CODE, 0x20) + fl(CODE, 0xd0) + fl(0, 0x70) + read(FLASH, CODE, B),
    "lock": fl(0x300, 0x60) + fl(0x300, 0x01) + fl(0x300, 0x40) +
    fl(0x300, 0) + fl(0x300, 0x60) + fl(0x300, 0xd0),
}

TARGETS = {
    "fuzz-qtest": ALL,
    "fuzz-virtio-blk": VIRTIO_BLK,
    "fuzz-virtio-net": VIRTIO_NET,
    "fuzz-virtio-serial": VIRTIO_SERIAL,
    "fuzz-virtio-rng": VIRTIO_RNG,
    "fuzz-virtio-balloon": VIRTIO_BALLOON,
    "fuzz-ide": IDE,
    "fuzz-ahci": AHCI,
    "fuzz-e1000": E1000,
    "fuzz-vga": VGA,
    "fuzz-fw-cfg": FW_CFG,
    "fuzz-rtc": RTC,
    "fuzz-i8042": I8042,
    "fuzz-pflash": PFLASH,
}


def main():
    out_dir = Path(sys.argv[1])
    target = sys.argv[2] if len(sys.argv) > 2 else "fuzz-qtest"
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, data in TARGETS[target].items():
        (out_dir / name).write_bytes(data)


if __name__ == "__main__":
    main()
