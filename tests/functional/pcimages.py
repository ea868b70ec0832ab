"""Helpers for the PC firmware-boot tests and the pcboot benchmark: the
images of tests/guest/build-pc-images.sh, what the Vireo binary offers
(devices, QMP commands), SeaBIOS's debug console log, and reading text off a
VGA text-mode screendump.

The screen reader: a text-mode screendump is 80x25 cells drawn with the
VGA BIOS's 8x16 font (the one SeaBIOS's vgabios-stdvga.bin loads into plane
2). Each cell's most common colour is its background; the other pixels of
its first 8 columns are the glyph, which is looked up in that same font.
Cells that match no glyph read as '?'. This is exact for any renderer that
draws the font's pixels (9- or 8-pixel-wide cells), so tests can assert on
the words a guest put on the screen.

Plain Python (no pytest import), so tests/bench scripts can use it too.
"""

import os
import re
import shutil
import struct
import subprocess
import time
import zlib
from pathlib import Path

import vmrun

PC_IMAGES_SCRIPT = vmrun.GUEST_DIR / "build-pc-images.sh"
SEABIOS_DIRS = [Path("/usr/share/seabios"), Path("/usr/share/qemu")]
VGABIOS = "vgabios-stdvga.bin"
# The 8x16 font's 'A' (0x41) in the IBM VGA font that SeaBIOS's VGA BIOS
# carries; the font starts 0x41 glyphs before it.
FONT16_A = bytes([0, 0, 0x10, 0x38, 0x6c, 0xc6, 0xc6, 0xfe,
                  0xc6, 0xc6, 0xc6, 0xc6, 0, 0, 0, 0])


class ImageBuildError(Exception):
    pass


OVMF_DIR = Path("/usr/share/OVMF")
OVMF_CODE = OVMF_DIR / "OVMF_CODE_4M.fd"
OVMF_VARS = OVMF_DIR / "OVMF_VARS_4M.fd"


def build_ovmf_esp(guest, dest_dir, script_lines):
    """A FAT EFI system partition image in dest_dir, made with mtools:
    the Debian guest's kernel and initramfs as /EFI/vireo/vmlinuz.efi and
    initrd.img, and startup.nsh (OVMF's shell runs it) from script_lines.
    Raises ImageBuildError when mtools is missing or fails."""
    for tool in ("mformat", "mmd", "mcopy"):
        if not shutil.which(tool):
            raise ImageBuildError(f"{tool} is missing (Debian's 'mtools' "
                                  "package)")
    dest_dir = Path(dest_dir)
    img = dest_dir / "esp.img"
    size = guest["vmlinuz"].stat().st_size + guest["initrd"].stat().st_size
    with open(img, "wb") as f:
        f.truncate(max(48 << 20, size + (16 << 20)))
    (dest_dir / "startup.nsh").write_text("\r\n".join(script_lines + [""]))
    env = dict(os.environ, MTOOLS_SKIP_CHECK="1")
    for cmd in (["mformat", "-i", img, "-F", "-v", "VIREOESP", "::"],
                ["mmd", "-i", img, "::/EFI", "::/EFI/vireo"],
                ["mcopy", "-i", img, guest["vmlinuz"],
                 "::/EFI/vireo/vmlinuz.efi"],
                ["mcopy", "-i", img, guest["initrd"],
                 "::/EFI/vireo/initrd.img"],
                ["mcopy", "-i", img, dest_dir / "startup.nsh",
                 "::/startup.nsh"]):
        p = subprocess.run([str(c) for c in cmd], env=env,
                           capture_output=True, text=True, timeout=60)
        if p.returncode != 0:
            raise ImageBuildError(f"{cmd[0]}: {p.stderr.strip()}")
    return img


# startup.nsh's last line: the kernel through its EFI stub, with the
# initramfs (as /EFI/BOOT/BOOTX64.EFI it would get no command line)
def ovmf_kernel_line(task):
    return (r"\EFI\vireo\vmlinuz.efi initrd=\EFI\vireo\initrd.img "
            f"console=ttyS0 vireo.task={task}")


def ovmf_args(binary, vars_path, esp_img=None, mem=512):
    """q35 with OVMF in flash (code read-only, vars_path writable) and the
    ESP on virtio-blk; the serial console on stdio."""
    args = [str(binary), "-M", "q35", "-accel", "tcg", "-m", str(mem),
            "-display", "none", "-nodefaults", "-no-reboot",
            "-serial", "stdio",
            "-drive", f"if=pflash,format=raw,unit=0,readonly=on,"
                      f"file={OVMF_CODE}",
            "-drive", f"if=pflash,format=raw,unit=1,file={vars_path}"]
    if esp_img:
        args += ["-drive", f"file={esp_img},format=raw,if=none,id=esp,"
                           "readonly=on",
                 "-device", "virtio-blk-pci,drive=esp"]
    return args


def describe_boot(vm):
    """A running VMProcess's command line and the tail of its serial
    output without terminal escapes (OVMF draws with them)."""
    text = re.sub(r"\x1b\[[0-9;=]*[A-Za-z]", "", vm.output)
    return f"$ {' '.join(vm.args)}\nserial tail:\n{text[-3000:]}"


def run_to(vm, milestones, timeout):
    """Waits for each (name, regex) in order; returns {name: seconds from
    start} of those reached (stops at the first one missed)."""
    times = {}
    deadline = time.monotonic() + timeout
    for name, rx in milestones:
        if not vm.expect(rx, timeout=max(1, deadline - time.monotonic())):
            break
        times[name] = time.monotonic() - vm.start_time
    return times


def build_pc_images(timeout=900):
    """Run tests/guest/build-pc-images.sh (cached; fast when up to date) and
    return its outputs as a dict of Paths (grub_iso, linux_disk,
    memtest_iso, memtest_disk, tftp, ...) plus bootfile and the facts of
    pc.env. Raises ImageBuildError with the script's output on failure."""
    p = subprocess.run([str(PC_IMAGES_SCRIPT), "--quiet"],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True, timeout=timeout)
    if p.returncode != 0:
        raise ImageBuildError(p.stderr.strip() or p.stdout.strip())
    out = {}
    for line in p.stdout.splitlines():
        if "=" in line:
            k, v = line.split("=", 1)
            out[k] = v if k == "bootfile" else Path(v)
    with open(out["env"]) as f:
        for line in f:
            if "=" in line:
                k, v = line.rstrip("\n").split("=", 1)
                out[k] = v
    return out


# --- what the Vireo binary offers ------------------------------------------

_help_cache = {}


def _help_text(binary, *args):
    key = (str(binary), args)
    if key not in _help_cache:
        try:
            p = subprocess.run([str(binary), *args], capture_output=True,
                               text=True, timeout=30)
            _help_cache[key] = p.stdout + p.stderr
        except (OSError, subprocess.TimeoutExpired):
            _help_cache[key] = ""
    return _help_cache[key]


def vireo_devices(binary):
    """The device names `vireo -device help` lists (QEMU's format: name
    "NAME", ...; a bare name per line is accepted too)."""
    text = _help_text(binary, "-device", "help")
    names = set(re.findall(r'(?:name|alias) "([^"]+)"', text))
    if names:
        return names
    for line in text.splitlines():
        word = line.strip().split(" ", 1)[0].rstrip(",:")
        if re.fullmatch(r"[a-z0-9][a-z0-9_.+-]*", word or ""):
            names.add(word)
    return names


def missing_devices(binary, *names):
    """The names among `names` that `vireo -device help` does not list."""
    have = vireo_devices(binary)
    return [n for n in names if n not in have]


def seabios_dir():
    for d in SEABIOS_DIRS:
        if (d / "bios-256k.bin").is_file():
            return d
    return None


# --- SeaBIOS's debug console (isa-debugcon on port 0x402) ------------------

def debugcon_args(path):
    """Arguments that write SeaBIOS's debug output to path."""
    return ["-chardev", f"file,id=seabios-log,path={path}",
            "-device", "isa-debugcon,iobase=0x402,chardev=seabios-log"]


def read_log(path):
    try:
        return Path(path).read_bytes().decode("latin-1")
    except OSError:
        return ""


# --- screendumps -------------------------------------------------------------

class Screen:
    """An RGB picture: width, height and rows of (r, g, b) bytes."""

    def __init__(self, width, height, rgb):
        self.width, self.height, self.rgb = width, height, rgb

    def pixel(self, x, y):
        i = (y * self.width + x) * 3
        return self.rgb[i:i + 3]

    def colours(self, limit=64):
        """The distinct colours, up to limit (sampling every 4th pixel)."""
        seen = set()
        for i in range(0, len(self.rgb), 12):
            seen.add(self.rgb[i:i + 3])
            if len(seen) >= limit:
                break
        return seen

    def blank(self):
        return len(self.colours(2)) < 2


def _parse_ppm(data):
    fields = []
    i = 0
    while len(fields) < 4:
        while i < len(data) and data[i:i + 1].isspace():
            i += 1
        if data[i:i + 1] == b"#":
            while i < len(data) and data[i:i + 1] != b"\n":
                i += 1
            continue
        j = i
        while j < len(data) and not data[j:j + 1].isspace():
            j += 1
        fields.append(data[i:j])
        i = j
    if fields[0] != b"P6" or int(fields[3]) != 255:
        raise ValueError("not an 8-bit binary PPM (P6)")
    w, h = int(fields[1]), int(fields[2])
    rgb = data[i + 1:i + 1 + w * h * 3]
    if len(rgb) != w * h * 3:
        raise ValueError("truncated PPM")
    return Screen(w, h, rgb)


def _paeth(a, b, c):
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    return b if pb <= pc else c


def _parse_png(data):
    """8-bit RGB or RGBA, non-interlaced PNG (what screendump writes)."""
    pos = 8
    idat = b""
    w = h = ctype = None
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        pos += 12 + n
        if kind == b"IHDR":
            w, h, depth, ctype, _, _, interlace = struct.unpack(">IIBBBBB",
                                                                body)
            if depth != 8 or ctype not in (2, 6) or interlace:
                raise ValueError("unsupported PNG layout")
        elif kind == b"IDAT":
            idat += body
        elif kind == b"IEND":
            break
    bpp = 3 if ctype == 2 else 4
    raw = zlib.decompress(idat)
    stride = w * bpp
    prev = bytearray(stride)
    out = bytearray()
    for y in range(h):
        f = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for x in range(stride):
            a = line[x - bpp] if x >= bpp else 0
            b = prev[x]
            c = prev[x - bpp] if x >= bpp else 0
            if f == 1:
                line[x] = (line[x] + a) & 255
            elif f == 2:
                line[x] = (line[x] + b) & 255
            elif f == 3:
                line[x] = (line[x] + (a + b) // 2) & 255
            elif f == 4:
                line[x] = (line[x] + _paeth(a, b, c)) & 255
        prev = line
        if bpp == 3:
            out += line
        else:
            for x in range(w):
                out += line[x * 4:x * 4 + 3]
    return Screen(w, h, bytes(out))


def load_screen(path):
    """A Screen from a screendump file (PPM or PNG)."""
    data = Path(path).read_bytes()
    if data.startswith(b"\x89PNG"):
        return _parse_png(data)
    return _parse_ppm(data)


_font = None


def vga_font16():
    """{glyph rows (16 bytes): character} from SeaBIOS's VGA BIOS, or None
    when it is not installed."""
    global _font
    if _font is None:
        d = seabios_dir()
        try:
            data = (d / VGABIOS).read_bytes() if d else b""
        except OSError:
            data = b""
        at = data.find(FONT16_A)
        if at < 0x41 * 16:
            return None
        base = at - 0x41 * 16
        _font = {}
        for ch in range(0x20, 0x7f):
            glyph = data[base + ch * 16:base + ch * 16 + 16]
            _font.setdefault(glyph, chr(ch))
    return _font


def screen_text(screen, cols=80, rows=25, only=None):
    """The text on a text-mode screen as `rows` strings ('?' where a cell
    matches no printable glyph of the VGA font). Empty when the screen is
    not 8x16 (or 9x16) cells of cols x rows, e.g. in a graphics mode. With
    `only` (row numbers), just those rows are read and the others are ''."""
    font = vga_font16()
    if font is None or screen.width % cols or screen.height % rows:
        return []
    cw, ch = screen.width // cols, screen.height // rows
    if cw < 8 or ch != 16:
        return []
    lines = []
    for r in range(rows):
        if only is not None and r not in only:
            lines.append("")
            continue
        line = []
        for c in range(cols):
            x0, y0 = c * cw, r * ch
            counts = {}
            for y in range(y0, y0 + ch):
                i = (y * screen.width + x0) * 3
                row = screen.rgb[i:i + cw * 3]
                for x in range(0, cw * 3, 3):
                    px = row[x:x + 3]
                    counts[px] = counts.get(px, 0) + 1
            bg = max(counts, key=counts.get)
            glyph = bytearray()
            for y in range(y0, y0 + ch):
                bits = 0
                i = (y * screen.width + x0) * 3
                for x in range(8):
                    if screen.rgb[i + x * 3:i + x * 3 + 3] != bg:
                        bits |= 0x80 >> x
                glyph.append(bits)
            line.append(font.get(bytes(glyph), "?"))
        lines.append("".join(line))
    return lines


def screen_has(lines, text):
    """True when `text` appears on one line of screen_text's output."""
    return any(text in line for line in lines)
