"""The standard VGA and screendump with real firmware: SeaBIOS runs the VGA
BIOS (vgabios-stdvga.bin from Debian's seabios package) from the VGA's
expansion ROM, which sets 80x25 text mode and loads its font into plane 2;
SeaBIOS then prints its banner through it, and QMP/HMP screendumps show
that banner (read back as text with the VGA BIOS's own font). GRUB's
rescue CD (package grub-rescue-pc) switches to a VBE mode for gfxterm
through the VGA BIOS, and the screendump follows it.

Also checks which command lines give the pc machine a VGA (QEMU's rules:
00:02.0 by default, none with -vga none or -nodefaults, -vga std wins).

The firmware tests skip, saying why, while SeaBIOS does not reach its boot
stage on Vireo's pc or does not run the VGA BIOS yet.
"""

import re
import time

import pytest

import pcimages
import vmrun
from qmp import QMPClient

BANNER = "SeaBIOS (version"
BOOT_TIMEOUT = 60


@pytest.fixture(scope="module")
def vireo():
    if not vmrun.vireo_built():
        pytest.skip(f"{vmrun.vireo_binary()} is not built")
    return vmrun.vireo_binary()


@pytest.fixture(scope="module")
def seabios():
    if pcimages.seabios_dir() is None or pcimages.vga_font16() is None:
        pytest.skip("SeaBIOS and its VGA BIOS are not installed (package "
                    "seabios; scripts/install-deps.sh)")


_runs = 0


def start(vireo, tmp_path, *extra, accel="tcg"):
    global _runs
    _runs += 1
    sock = tmp_path / f"qmp{_runs}.sock"
    log = tmp_path / "seabios.log"
    args = [vireo, "-M", "pc", "-accel", accel, "-m", "128", "-display",
            "none", "-serial", "none", "-qmp",
            f"unix:{sock},server=on,wait=off", *pcimages.debugcon_args(log),
            *extra]
    vm = vmrun.VMProcess(args, stdin=False)
    return vm, QMPClient(sock), log


def skip_unless_vga_bios_ran(vm, log):
    """Skips (naming the missing piece) when SeaBIOS never ran the VGA
    BIOS; returns when it did."""
    deadline = time.monotonic() + BOOT_TIMEOUT
    while time.monotonic() < deadline and vm.proc.poll() is None:
        text = pcimages.read_log(log)
        if "Start SeaVGABIOS" in text:
            return
        if re.search(r"Booting from|No bootable device", text):
            pytest.skip("SeaBIOS booted on pc but did not run the VGA BIOS "
                        "from the VGA's expansion ROM (log: "
                        f"{text.strip().splitlines()[-1][:120]!r})")
        time.sleep(0.2)
    text = pcimages.read_log(log).strip()
    pytest.skip("SeaBIOS does not reach its boot stage on Vireo's pc yet "
                f"(log ends with {text.splitlines()[-1][:120] if text else '(nothing)'!r})")


def screen_lines(client, path, fmt="ppm"):
    rsp = client.execute("screendump", {"filename": str(path),
                                        "format": fmt})
    assert "return" in rsp, rsp
    screen = pcimages.load_screen(path)
    return screen, pcimages.screen_text(screen)


def wait_for_banner(client, tmp_path):
    deadline = time.monotonic() + BOOT_TIMEOUT
    while True:
        screen, lines = screen_lines(client, tmp_path / "screen.ppm")
        if pcimages.screen_has(lines, BANNER) or time.monotonic() > deadline:
            return screen, lines
        time.sleep(0.5)


def test_seabios_banner_in_screendump(vireo, seabios, tmp_path):
    """SeaBIOS's banner appears on the VGA text screen, in PPM and PNG
    screendumps and in HMP's screendump."""
    vm, client, log = start(vireo, tmp_path, "-device", "VGA")
    with vm, client:
        skip_unless_vga_bios_ran(vm, log)
        screen, lines = wait_for_banner(client, tmp_path)
        text = "\n".join(line.rstrip() for line in lines)
        assert pcimages.screen_has(lines, BANNER), \
            f"{screen.width}x{screen.height} screen:\n{text}"
        # 80x25 of 9x16 cells, as the VGA BIOS sets mode 3
        assert (screen.width, screen.height) == (720, 400)
        assert not screen.blank()

        png, png_lines = screen_lines(client, tmp_path / "screen.png", "png")
        assert (png.width, png.height) == (720, 400)
        assert pcimages.screen_has(png_lines, BANNER)

        out = client.execute("human-monitor-command", {
            "command-line": f"screendump {tmp_path / 'hmp.ppm'}"})
        assert out.get("return") == "", out
        hmp_screen = pcimages.load_screen(tmp_path / "hmp.ppm")
        assert pcimages.screen_has(pcimages.screen_text(hmp_screen), BANNER)


@pytest.fixture(scope="module")
def grub_iso(seabios):
    try:
        images = pcimages.build_pc_images()
    except (pcimages.ImageBuildError, vmrun.GuestBuildError) as e:
        pytest.skip(f"cannot build the PC test images: {e}")
    return images["grub_iso"]


def type_keys(client, text):
    names = {" ": ["spc"], ";": ["semicolon"], "_": ["shift", "minus"]}
    for ch in text:
        keys = names.get(ch, [ch])
        rsp = client.execute("send-key", {"keys": [
            {"type": "qcode", "data": k} for k in keys]})
        if rsp.get("error", {}).get("class") == "CommandNotFound":
            pytest.skip("Vireo has no QMP send-key yet")
        assert "return" in rsp, rsp
        time.sleep(0.05)


def test_vbe_mode_from_grub_gfxterm(vireo, grub_iso, tmp_path):
    """GRUB's gfxterm sets a VBE mode through the VGA BIOS's VBE calls and
    draws into the linear framebuffer: the screendump changes from 720x400
    text to a 640x480 picture with GRUB's prompt on it."""
    vm, client, log = start(vireo, tmp_path, "-device", "VGA", "-cdrom",
                            str(grub_iso), "-boot", "d")
    with vm, client:
        skip_unless_vga_bios_ran(vm, log)
        deadline = time.monotonic() + BOOT_TIMEOUT
        while True:
            screen, lines = screen_lines(client, tmp_path / "s.ppm")
            if pcimages.screen_has(lines, "GNU GRUB"):
                break
            assert time.monotonic() < deadline, "no GRUB menu:\n" + \
                "\n".join(lines)
            time.sleep(0.5)
        assert (screen.width, screen.height) == (720, 400)
        type_keys(client, "c")
        time.sleep(1)
        type_keys(client, "insmod vbe; insmod gfxterm; "
                          "terminal_output gfxterm")
        client.execute("send-key", {"keys": [{"type": "qcode",
                                               "data": "ret"}]})
        deadline = time.monotonic() + BOOT_TIMEOUT
        while True:
            screen, _ = screen_lines(client, tmp_path / "s.ppm")
            if (screen.width, screen.height) == (640, 480) and \
                    not screen.blank():
                break
            assert time.monotonic() < deadline, \
                f"still {screen.width}x{screen.height}, blank={screen.blank()}"
            time.sleep(0.5)


def vga_slots(vireo, tmp_path, *extra):
    """The slots of the 1234:1111 functions on pc with these options."""
    vm, client, _ = start(vireo, tmp_path, *extra, accel="qtest")
    with vm, client:
        rsp = client.execute("query-pci")
        assert "return" in rsp, rsp
        return [d["slot"] for bus in rsp["return"] for d in bus["devices"]
                if d["id"]["vendor"] == 0x1234 and d["id"]["device"] == 0x1111]


def test_default_vga_and_options(vireo, tmp_path):
    """QEMU's rules: a VGA at 00:02.0 by default; none with -vga none or
    -nodefaults; -nodefaults -vga std has one; -device VGA replaces it."""
    if vga_slots(vireo, tmp_path) == []:
        pytest.skip("the pc machine does not create its default VGA yet "
                    "(pc_vga_init from include/hw/display/vga.h)")
    assert vga_slots(vireo, tmp_path) == [2]
    assert vga_slots(vireo, tmp_path, "-vga", "none") == []
    assert vga_slots(vireo, tmp_path, "-nodefaults") == []
    assert vga_slots(vireo, tmp_path, "-nodefaults", "-vga", "std") == [2]
    assert vga_slots(vireo, tmp_path, "-device", "VGA,addr=5") == [5]


def test_vga_option_errors(vireo):
    r = vmrun.run_vm([vireo, "-vga", "cirrus"], timeout=10)
    assert r.returncode != 0
    assert "-vga cirrus" in r.output
    r = vmrun.run_vm([vireo, "-vga", "help"], timeout=10)
    assert r.returncode == 0
    assert re.search(r"^std\s+standard VGA", r.output, re.M)
    assert re.search(r"^none\s+no graphic card", r.output, re.M)
