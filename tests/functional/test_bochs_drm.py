"""Linux's bochs DRM driver on the standard VGA, seen through screendump.

The Debian test guest (tests/guest/build-debian-guest.sh, which puts
bochs.ko and its DRM dependencies in the initramfs without loading them)
boots on pc with its default std VGA and the serial console. In the guest,
`modprobe bochs` takes the card into a 1024x768x32 Bochs VBE mode and
fbcon draws tty1 into the linear framebuffer with the CPU's plain stores;
the screendump must follow what is written on tty1 (this is what VRAM
dirty tracking must never miss: the renderer only redraws the pages the
CPU wrote). Reloading the driver with defx/defy changes the mode, and the
screendump follows the new size. One boot carries every case.

fbcon's 8x16 font (Linux's VGA8x16) is the IBM VGA font of SeaBIOS's VGA
BIOS (pcimages.vga_font16) but for a few glyphs drawn a little differently:
the first case writes all of printable ASCII, checks it against the VGA
BIOS font, and the glyphs as fbcon drew them read the text from then on.
"""

import time

import pytest

import pcimages
from qmp import QMPClient
from test_debian_guest import TIMEOUT, guest_args
from vmrun import VMProcess

PROMPT = r"vireo-guest:/# "
MARK = 0
# printable ASCII but the space, as printf octal escapes
ASCII = "".join(chr(c) for c in range(0x21, 0x7f))
ASCII_ESCAPED = "".join(f"\\{c:03o}" for c in range(0x21, 0x7f))


def cell_bits(screen, col, row):
    """The 8x16 cell as 128 bits (row by row, leftmost pixel highest): set
    where a pixel differs from the cell's most common colour."""
    w3 = screen.width * 3
    at = row * 16 * w3 + col * 24
    rows = [screen.rgb[at + y * w3:at + y * w3 + 24] for y in range(16)]
    if all(r == rows[0][:3] * 8 for r in rows):
        return 0    # one colour: blank (the common case, made quick)
    counts = {}
    for r in rows:
        for x in range(0, 24, 3):
            counts[r[x:x + 3]] = counts.get(r[x:x + 3], 0) + 1
    bg = max(counts, key=counts.get)
    bits = 0
    for r in rows:
        for x in range(0, 24, 3):
            bits = bits << 1 | (r[x:x + 3] != bg)
    return bits


def fb_text(screen, font):
    """The text of the 8x16-cell console in the top-left of screen, with
    font ({bits: character}); '?' for cells that are no glyph of it."""
    lines = []
    for r in range(screen.height // 16):
        bits = [cell_bits(screen, c, r) for c in range(screen.width // 8)]
        lines.append("".join(font.get(b, "?") if b else " " for b in bits))
    return lines


def popcount(v):
    return bin(v).count("1")


class Guest:
    def __init__(self, vm, qmp, tmp):
        self.vm, self.qmp, self.tmp = vm, qmp, tmp
        self.font = None    # fbcon's glyphs, learned from the screen

    def run(self, cmd, timeout=120):
        """Runs a shell command in the guest; returns its output."""
        global MARK
        MARK += 1
        tag = f"CMD{MARK}"
        start = len(self.vm.output)
        self.vm.send(f'{cmd}; echo "{tag}-DONE""-$?"\n')
        assert self.vm.expect(rf"{tag}-DONE-\d+", timeout=timeout), \
            self.vm.output[-3000:]
        out = self.vm.output[start:]
        return out

    def screendump(self, fmt=None):
        path = self.tmp / ("screen.png" if fmt == "png" else "screen.ppm")
        args = {"filename": str(path)}
        if fmt:
            args["format"] = fmt
        self.qmp.cmd("screendump", args)
        return pcimages.load_screen(path)

    def text(self, screen):
        return fb_text(screen, self.font)

    def wait_screen(self, pred, timeout=60):
        """Screendumps until pred(screen) holds; returns that screen."""
        deadline = time.monotonic() + timeout
        while True:
            s = self.screendump()
            if pred(s):
                return s
            assert time.monotonic() < deadline, \
                (s.width, s.height,
                 [l.rstrip() for l in self.text(s) if l.strip()]
                 if self.font else "")
            time.sleep(0.5)

    def shows(self, text, width, height):
        def pred(s):
            return (s.width, s.height) == (width, height) and \
                any(text in line for line in self.text(s))
        return pred


@pytest.fixture(scope="module")
def guest(vireo_binary, debian_guest, tmp_path_factory):
    if pcimages.vga_font16() is None:
        pytest.skip("SeaBIOS's VGA BIOS (package seabios) is needed for "
                    "its font")
    tmp = tmp_path_factory.mktemp("bochs-drm")
    sock = tmp / "qmp.sock"
    args = guest_args(vireo_binary, debian_guest, "pc", 1,
                      "console=ttyS0 vireo.task=shell") + \
        ["-qmp", f"unix:{sock},server=on,wait=off"]
    with VMProcess(args) as vm, QMPClient(sock) as qmp:
        assert vm.expect(PROMPT, timeout=TIMEOUT), vm.output
        g = Guest(vm, qmp, tmp)
        yield g
        vm.send("poweroff -f\n")
        r = vm.wait(timeout=60)
        assert not r.timed_out, r.describe()


@pytest.mark.slow
def test_fbcon_text_at_1024x768(guest):
    """modprobe bochs: 1024x768 (fbcon's 128x48 cells); the printable ASCII
    written on tty1 shows in the VGA font, then a line of text below it."""
    out = guest.run("modprobe bochs && cat /sys/class/graphics/fb0/name "
                    "/sys/class/graphics/fb0/virtual_size")
    assert "bochs-drmdrmfb" in out, out
    assert "1024,768" in out, out
    # a steady cursor: screendumps of an idle console are all the same
    guest.run("echo 0 > /sys/class/graphics/fbcon/cursor_blink")
    guest.run(f"printf '\\033[2J\\033[H{ASCII_ESCAPED}\\n' > /dev/tty1")

    # the first row fills with glyphs: 94 cells, then blank
    def ascii_row(s):
        return (s.width, s.height) == (1024, 768) and \
            all(cell_bits(s, c, 0) for c in range(len(ASCII))) and \
            not cell_bits(s, len(ASCII), 0)
    s = guest.wait_screen(ascii_row)
    # fbcon's font is the IBM VGA font: nearly every glyph is the VGA
    # BIOS's, the others close to it (Linux draws 0, M, T, V, W, X and a
    # few more its own way)
    vga = {c: int.from_bytes(g, "big")
           for g, c in pcimages.vga_font16().items()}
    cells = [cell_bits(s, c, 0) for c in range(len(ASCII))]
    same = [ch for ch, b in zip(ASCII, cells) if b == vga[ch]]
    far = [(ch, popcount(b ^ vga[ch])) for ch, b in zip(ASCII, cells)
           if popcount(b ^ vga[ch]) > 24]
    assert len(same) >= 70, (len(same), set(ASCII) - set(same), far)
    assert not far, far
    assert len(set(cells)) == len(ASCII)
    guest.font = dict(zip(cells, ASCII))

    guest.run("echo VIREO-FB-TEST > /dev/tty1")
    s = guest.wait_screen(guest.shows("VIREO-FB-TEST", 1024, 768))
    lines = guest.text(s)
    assert lines[0] == ASCII + " " * (128 - len(ASCII))
    assert lines[1].rstrip() == "VIREO-FB-TEST"
    assert s.pixel(0, 767) == b"\0\0\0"
    # PNG says the same as a PPM of the same moment: fbcon may draw the
    # cursor after the text, so the dumps are taken until they agree
    for _ in range(10):
        before = guest.screendump()
        p = guest.screendump("png")
        if guest.screendump().rgb == before.rgb:
            break
        time.sleep(0.5)
    assert (p.width, p.height) == (1024, 768)
    assert p.rgb == before.rgb


@pytest.mark.slow
def test_screen_follows_console_writes(guest):
    """Each write to tty1 shows in the next screendumps, the old text goes
    when the console is cleared, and an idle console stays as it is."""
    guest.run(r"printf '\033[2J\033[HLINE-ONE\nLINE-TWO\n' > /dev/tty1")
    s = guest.wait_screen(guest.shows("LINE-TWO", 1024, 768))
    lines = [l.rstrip() for l in guest.text(s)]
    assert lines[0] == "LINE-ONE", lines[:3]
    assert lines[1] == "LINE-TWO", lines[:3]
    assert not any("VIREO-FB-TEST" in l for l in lines), lines
    # text far down the screen: another part of the framebuffer
    guest.run(r"printf '\033[40;100HBOTTOM-RIGHT' > /dev/tty1")
    s = guest.wait_screen(guest.shows("BOTTOM-RIGHT", 1024, 768))
    assert guest.text(s)[39][99:111] == "BOTTOM-RIGHT"
    # nothing written (the cursor does not blink): the same picture twice
    time.sleep(1)
    a = guest.screendump()
    time.sleep(1)
    b = guest.screendump()
    assert a.rgb == b.rgb


@pytest.mark.slow
def test_mode_change_follows(guest):
    """The driver reloaded with another preferred mode: 800x600, and the
    screendump has the new size and the new text."""
    out = guest.run("echo 0 > /sys/class/vtconsole/vtcon1/bind && "
                    "rmmod bochs && modprobe bochs defx=800 defy=600 && "
                    "cat /sys/class/graphics/fb0/virtual_size")
    assert "800,600" in out, out
    guest.run("echo SECOND-MODE > /dev/tty1")
    s = guest.wait_screen(guest.shows("SECOND-MODE", 800, 600))
    assert (s.width, s.height) == (800, 600)
