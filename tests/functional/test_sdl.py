"""The SDL2 window (-display sdl) under Xvfb, looked at and typed into the
way a person would: xwd screenshots of the window (converted with
ImageMagick) match QMP screendumps of the same moment, at GRUB's menu and
at a Linux text console, at the guest's size and scaled (with letterboxing
when the aspect differs); keys typed with xdotool reach GRUB (which then
boots Linux from typed commands) and a Linux tty; a relative mouse moves
only while grabbed (a click grabs), a tablet follows the host pointer
through the scaling; the title shows the VM's name, its state and the grab;
the hot-keys (Ctrl+Alt+G/F/U, right Ctrl with grab-mod=rctrl) never reach
the guest; full screen (with a minimal window manager, as Xvfb has none)
covers the screen; closing the window quits with reason host-ui, or does
nothing under -no-quit; the default display is the window when DISPLAY is
set and none otherwise; an idle window costs almost no CPU.

Skips, saying why, when Vireo was built without SDL2 or Xvfb, xdotool,
xwd or ImageMagick are missing. Guests run on the software CPU, so the PC
guest (GRUB, then Linux) boots once per module.
"""

import ctypes
import os
import re
import shutil
import subprocess
import time

import pytest

import pcimages
import vmrun
from qmp import QMPClient

X_TOOLS = ("Xvfb", "xdotool", "xwd", "convert")
GUEST_PROMPT = r"vireo-guest:/# "
BOOT_TIMEOUT = 120
LINUX_TIMEOUT = 300


# --- the X server and its tools ---------------------------------------------

@pytest.fixture(scope="module")
def vireo():
    if not vmrun.vireo_built():
        pytest.skip(f"{vmrun.vireo_binary()} is not built")
    binary = vmrun.vireo_binary()
    out = subprocess.run([str(binary), "-display", "help"],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         text=True, timeout=30).stdout
    if "sdl" not in out.split():
        pytest.skip("this Vireo was built without SDL2 (libsdl2-dev)")
    return binary


class XServer:
    def __init__(self, proc, display):
        self.proc, self.display = proc, display
        self.env = dict(os.environ, DISPLAY=display)
        self.env.pop("WAYLAND_DISPLAY", None)

    def run(self, *args, check=True):
        p = subprocess.run([str(a) for a in args], env=self.env,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=30)
        if check and p.returncode != 0:
            raise AssertionError(f"{args}: {p.stderr.decode().strip()}")
        return p.stdout

    def xdotool(self, *args, check=True):
        return self.run("xdotool", *args, check=check).decode().strip()


@pytest.fixture(scope="module")
def xserver():
    missing = [t for t in X_TOOLS if not shutil.which(t)]
    if missing:
        pytest.skip(f"{', '.join(missing)} not installed (packages xvfb, "
                    "xdotool, x11-apps, imagemagick)")
    # -displayfd: Xvfb picks a free display number and tells it
    r, w = os.pipe()
    proc = subprocess.Popen(
        ["Xvfb", "-displayfd", str(w), "-screen", "0", "1280x1024x24",
         "-nolisten", "tcp"], pass_fds=(w,), stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL, start_new_session=True)
    os.close(w)
    with os.fdopen(r) as f:
        number = f.readline().strip()
    if not number:
        proc.kill()
        proc.wait()
        pytest.skip("Xvfb did not start")
    server = XServer(proc, f":{number}")
    yield server
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def find_window(x, name, timeout=30):
    """The id of the window whose title starts with `name`."""
    deadline = time.monotonic() + timeout
    while True:
        out = x.xdotool("search", "--name", "^" + re.escape(name),
                        check=False)
        if out:
            return out.split()[0]
        if time.monotonic() > deadline:
            raise AssertionError(f"no window titled {name!r}")
        time.sleep(0.2)


def window_title(x, wid):
    return x.xdotool("getwindowname", wid)


def wait_title(x, wid, pred, timeout=10):
    deadline = time.monotonic() + timeout
    while True:
        title = window_title(x, wid)
        if pred(title) or time.monotonic() > deadline:
            return title
        time.sleep(0.1)


def window_size(x, wid):
    out = x.xdotool("getwindowgeometry", "--shell", wid)
    vals = dict(line.split("=", 1) for line in out.splitlines())
    return int(vals["WIDTH"]), int(vals["HEIGHT"])


def wait_size(x, wid, size, timeout=10):
    deadline = time.monotonic() + timeout
    while window_size(x, wid) != size and time.monotonic() < deadline:
        time.sleep(0.1)
    return window_size(x, wid)


def screenshot(x, wid, path):
    """The window's pixels as a pcimages.Screen (xwd | convert)."""
    xwd = x.run("xwd", "-silent", "-id", wid)
    p = subprocess.run(["convert", "xwd:-", f"ppm:{path}"], input=xwd,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=60)
    assert p.returncode == 0, p.stderr.decode()
    return pcimages.load_screen(path)


def resized(path, width, height, out):
    """The picture at path stretched to width x height (bilinear)."""
    subprocess.run(["convert", str(path), "-filter", "Triangle", "-resize",
                    f"{width}x{height}!", f"ppm:{out}"], check=True,
                   timeout=60)
    return pcimages.load_screen(out)


def crop(screen, x0, y0, w, h):
    rows = [screen.rgb[((y0 + y) * screen.width + x0) * 3:
                       ((y0 + y) * screen.width + x0 + w) * 3]
            for y in range(h)]
    return pcimages.Screen(w, h, b"".join(rows))


def mean_diff(a, b):
    """Mean absolute difference of two same-sized pictures, per channel."""
    assert (a.width, a.height) == (b.width, b.height)
    return sum(abs(p - q) for p, q in zip(a.rgb, b.rgb)) / len(a.rgb)


def black_like(screen):
    return pcimages.Screen(screen.width, screen.height,
                           bytes(len(screen.rgb)))


def assert_looks_alike(shot, ref, exact=False):
    """shot shows ref: equal at 1:1, else much closer to it than to a black
    screen (scaling filters differ between SDL and ImageMagick)."""
    d = mean_diff(shot, ref)
    if exact:
        assert d < 0.5, f"window differs from the screendump by {d:.2f}"
        return
    d_black = mean_diff(black_like(shot), ref)
    assert d < 0.35 * d_black and d < 12, \
        f"window differs from the screendump by {d:.2f} (black: {d_black:.2f})"


def screendump(c, path):
    c.cmd("screendump", {"filename": str(path), "format": "ppm"})
    return pcimages.load_screen(path)


def send_wm_delete(display, wid):
    """What a window manager's close button does: a WM_DELETE_WINDOW
    ClientMessage (ICCCM 4.2.8.1) to the window."""
    class ClientMessage(ctypes.Structure):
        _fields_ = [("type", ctypes.c_int), ("serial", ctypes.c_ulong),
                    ("send_event", ctypes.c_int),
                    ("display", ctypes.c_void_p),
                    ("window", ctypes.c_ulong),
                    ("message_type", ctypes.c_ulong),
                    ("format", ctypes.c_int), ("data", ctypes.c_long * 5)]

    class XEvent(ctypes.Union):
        _fields_ = [("xclient", ClientMessage), ("pad", ctypes.c_long * 24)]

    xlib = ctypes.CDLL("libX11.so.6")
    xlib.XOpenDisplay.restype = ctypes.c_void_p
    xlib.XOpenDisplay.argtypes = [ctypes.c_char_p]
    xlib.XInternAtom.restype = ctypes.c_ulong
    xlib.XInternAtom.argtypes = [ctypes.c_void_p, ctypes.c_char_p,
                                 ctypes.c_int]
    xlib.XSendEvent.argtypes = [ctypes.c_void_p, ctypes.c_ulong, ctypes.c_int,
                                ctypes.c_long, ctypes.POINTER(XEvent)]
    xlib.XFlush.argtypes = [ctypes.c_void_p]
    xlib.XCloseDisplay.argtypes = [ctypes.c_void_p]
    dpy = xlib.XOpenDisplay(display.encode())
    assert dpy, f"cannot open X display {display}"
    ev = XEvent()
    ev.xclient.type = 33        # ClientMessage
    ev.xclient.window = int(wid)
    ev.xclient.message_type = xlib.XInternAtom(dpy, b"WM_PROTOCOLS", 0)
    ev.xclient.format = 32
    ev.xclient.data[0] = xlib.XInternAtom(dpy, b"WM_DELETE_WINDOW", 0)
    xlib.XSendEvent(dpy, int(wid), 0, 0, ctypes.byref(ev))
    xlib.XFlush(dpy)
    xlib.XCloseDisplay(dpy)


def assert_no_sanitizer_report(output):
    """Under an --enable-asan/--enable-ubsan build, Vireo said nothing."""
    assert "Sanitizer" not in output and "runtime error" not in output, \
        output[-4000:]


_runs = 0


def start_vm(vireo, x, tmp_path, *extra, accel="qtest", env=None):
    global _runs
    _runs += 1
    sock = tmp_path / f"sdl-qmp{_runs}.sock"
    args = [vireo, "-M", "pc", "-accel", accel, "-m", "128",
            "-qmp", f"unix:{sock},server=on,wait=off", *extra]
    vm = vmrun.VMProcess(args, env=env if env is not None else x.env,
                         stdin=False)
    try:
        client = QMPClient(sock)
    except Exception:
        vm.kill()
        raise AssertionError(f"Vireo did not start:\n{vm.wait(5).output}")
    return vm, client


# --- GRUB's menu and prompt (VGA text mode) ---------------------------------

@pytest.fixture(scope="module")
def grub_vm(vireo, xserver, tmp_path_factory):
    """GRUB's rescue CD at its menu, with the syslinux disk's Debian kernel
    and initramfs on an IDE disk for GRUB to boot later (linux_vm), the
    serial port on stdio, and a virtio tablet and mouse for the Linux guest
    (the mouse, probed last, takes the pointer first)."""
    if pcimages.seabios_dir() is None or pcimages.vga_font16() is None:
        pytest.skip("SeaBIOS and its VGA BIOS are not installed (seabios)")
    try:
        images = pcimages.build_pc_images()
    except (pcimages.ImageBuildError, vmrun.GuestBuildError) as e:
        pytest.skip(f"cannot build the PC test images: {e}")
    tmp = tmp_path_factory.mktemp("sdl-pc")
    disk = tmp / "linux.img"
    shutil.copyfile(images["linux_disk"], disk)
    sock = tmp / "qmp.sock"
    args = [vireo, "-M", "pc", "-accel", "tcg", "-m", "512", "-name",
            "pcvm", "-display", "sdl", "-serial", "stdio",
            "-drive", f"file={disk},format=raw,if=ide",
            "-cdrom", images["grub_iso"], "-boot", "d",
            "-device", "virtio-tablet-pci,addr=0x5",
            "-device", "virtio-mouse-pci,addr=0x6",
            "-qmp", f"unix:{sock},server=on,wait=off"]
    with vmrun.VMProcess(args, env=xserver.env) as vm, QMPClient(sock) as c:
        wid = find_window(xserver, "pcvm - Vireo")
        # xwd sees only what is on the screen: keep the window on it
        xserver.xdotool("windowmove", wid, 0, 0)
        deadline = time.monotonic() + BOOT_TIMEOUT
        while True:
            lines = pcimages.screen_text(screendump(c, tmp / "boot.ppm"))
            if pcimages.screen_has(lines, "GNU GRUB"):
                break
            assert time.monotonic() < deadline, \
                "no GRUB menu:\n" + "\n".join(lines)
            time.sleep(0.5)
        # a key stops the menu's countdown, so the screen holds still
        xserver.xdotool("key", "--window", wid, "Down")
        time.sleep(0.5)
        yield vm, c, wid, tmp
        vm.send("poweroff -f\n")
        r = vm.wait(timeout=30)
    assert_no_sanitizer_report(r.output)


def grub_text(c, tmp):
    return pcimages.screen_text(screendump(c, tmp / "text.ppm"))


def wait_grub_text(c, tmp, pred, timeout=30):
    deadline = time.monotonic() + timeout
    while True:
        lines = grub_text(c, tmp)
        if pred(lines) or time.monotonic() > deadline:
            return lines
        time.sleep(0.3)


def frozen_pair(c, x, wid, tmp, name):
    """A screendump and a window screenshot of one moment: the VM is
    stopped meanwhile and the window has had time to present."""
    c.cmd("stop")
    try:
        time.sleep(0.5)
        dump = screendump(c, tmp / f"{name}-dump.ppm")
        shot = screenshot(x, wid, tmp / f"{name}-shot.ppm")
    finally:
        c.cmd("cont")
    return dump, shot


def test_title_names_the_vm(xserver, grub_vm):
    _, _, wid, _ = grub_vm
    assert window_title(xserver, wid) == "pcvm - Vireo"


def test_window_shows_grub_menu(xserver, grub_vm):
    """At the guest's size the window shows the screendump's pixels: GRUB's
    menu can be read off the screenshot with the VGA font."""
    _, c, wid, tmp = grub_vm
    assert window_size(xserver, wid) == (720, 400)
    dump, shot = frozen_pair(c, xserver, wid, tmp, "menu")
    assert (shot.width, shot.height) == (dump.width, dump.height) == \
        (720, 400)
    assert_looks_alike(shot, dump, exact=True)
    assert pcimages.screen_has(pcimages.screen_text(shot), "GNU GRUB")


def test_paused_in_title_after_stop(xserver, grub_vm):
    _, c, wid, _ = grub_vm
    c.cmd("stop")
    try:
        title = wait_title(xserver, wid, lambda t: "[Paused]" in t)
        assert title == "pcvm - Vireo [Paused]"
    finally:
        c.cmd("cont")
    assert wait_title(xserver, wid, lambda t: "Paused" not in t) == \
        "pcvm - Vireo"


def test_resized_window_scales_the_picture(xserver, grub_vm):
    """A bigger window shows the picture scaled; another aspect gets black
    bars; Ctrl+Alt+U puts the window back to the guest's size."""
    _, c, wid, tmp = grub_vm
    try:
        xserver.xdotool("windowsize", wid, 1080, 600)
        assert wait_size(xserver, wid, (1080, 600)) == (1080, 600)
        time.sleep(0.3)
        dump, shot = frozen_pair(c, xserver, wid, tmp, "scaled")
        assert (shot.width, shot.height) == (1080, 600)
        assert_looks_alike(shot, resized(tmp / "scaled-dump.ppm", 1080, 600,
                                          tmp / "scaled-ref.ppm"))

        # taller than 9:5: the 720x400 picture sits between 100-pixel bars
        xserver.xdotool("windowsize", wid, 720, 600)
        assert wait_size(xserver, wid, (720, 600)) == (720, 600)
        time.sleep(0.3)
        dump, shot = frozen_pair(c, xserver, wid, tmp, "letterbox")
        bars = crop(shot, 0, 0, 720, 98).rgb + crop(shot, 0, 502, 720,
                                                   98).rgb
        assert bars == bytes(len(bars)), "the bars are not black"
        assert_looks_alike(crop(shot, 0, 100, 720, 400), dump, exact=True)
    finally:
        xserver.xdotool("key", "--window", wid, "ctrl+alt+u")
    assert wait_size(xserver, wid, (720, 400)) == (720, 400)


def test_keys_typed_into_window_reach_grub(xserver, grub_vm):
    _, c, wid, tmp = grub_vm
    xserver.xdotool("key", "--window", wid, "c")
    lines = wait_grub_text(c, tmp, lambda ls: pcimages.screen_has(ls,
                                                                  "grub>"))
    assert pcimages.screen_has(lines, "grub>"), "\n".join(lines)
    xserver.xdotool("type", "--window", wid, "--delay", "30",
                    "echo Typed_In_SDL")
    xserver.xdotool("key", "--window", wid, "Return")
    lines = wait_grub_text(c, tmp, lambda ls: any(
        ln.rstrip() == "Typed_In_SDL" for ln in ls))
    assert any(ln.rstrip() == "Typed_In_SDL" for ln in lines), \
        "\n".join(lines)


def last_prompt(lines):
    """The last GRUB prompt line, without the cursor ('?' when the read
    catches it on)."""
    line = [ln.rstrip() for ln in lines if ln.startswith("grub>")][-1]
    return line[:-1].rstrip() if line.endswith("?") else line


def test_hotkeys_are_not_seen_by_guest(xserver, grub_vm):
    """Ctrl+Alt+G grabs and releases (the title says how to leave);
    Ctrl+Alt+F goes full screen, which takes the grab, and back. Neither
    the hot-keys nor stuck modifiers reach the guest: a plain key typed
    afterwards arrives as itself."""
    _, c, wid, tmp = grub_vm
    grab_hint = " - Press Ctrl+Alt+G to exit grab"
    xserver.xdotool("key", "--window", wid, "ctrl+alt+g")
    assert wait_title(xserver, wid, lambda t: grab_hint in t) == \
        "pcvm - Vireo" + grab_hint
    xserver.xdotool("key", "--window", wid, "ctrl+alt+g")
    assert wait_title(xserver, wid, lambda t: "grab" not in t) == \
        "pcvm - Vireo"

    xserver.xdotool("key", "--window", wid, "ctrl+alt+f")
    assert grab_hint in wait_title(xserver, wid, lambda t: grab_hint in t)
    xserver.xdotool("key", "--window", wid, "ctrl+alt+f")
    assert wait_title(xserver, wid, lambda t: "grab" not in t) == \
        "pcvm - Vireo"
    assert wait_size(xserver, wid, (720, 400)) == (720, 400)

    xserver.xdotool("key", "--window", wid, "x")
    lines = wait_grub_text(c, tmp, lambda ls: last_prompt(ls) != "grub>")
    assert last_prompt(lines) == "grub> x", "\n".join(lines)
    xserver.xdotool("key", "--window", wid, "BackSpace")


def wait_screen_size(c, tmp, size, timeout=60):
    deadline = time.monotonic() + timeout
    while True:
        screen = screendump(c, tmp / "mode.ppm")
        if ((screen.width, screen.height) == size and not screen.blank()) \
                or time.monotonic() > deadline:
            return screen
        time.sleep(0.5)


def test_vbe_mode_bigger_than_screen(xserver, grub_vm):
    """GRUB's gfxterm at 1600x1200 (a VBE mode) on the 1280x1024 screen:
    the window follows the mode change but fits on the screen (1280x960,
    the picture scaled down), and shows the screendump's picture; back in
    text mode, the window is 720x400 again."""
    _, c, wid, tmp = grub_vm
    xserver.xdotool("type", "--window", wid, "--delay", "30",
                    "insmod vbe; set gfxmode=1600x1200; "
                    "terminal_output gfxterm")
    xserver.xdotool("key", "--window", wid, "Return")
    try:
        screen = wait_screen_size(c, tmp, (1600, 1200))
        assert (screen.width, screen.height) == (1600, 1200)
        assert wait_size(xserver, wid, (1280, 960)) == (1280, 960)
        time.sleep(1)
        dump, shot = frozen_pair(c, xserver, wid, tmp, "vbe")
        ref = resized(tmp / "vbe-dump.ppm", 1280, 960, tmp / "vbe-ref.ppm")
        assert_looks_alike(shot, ref)
        # and where the prompt is, so the black rest does not decide it
        assert_looks_alike(crop(shot, 0, 0, 160, 40), crop(ref, 0, 0, 160, 40))
    finally:
        # slowly: each key is a redraw of 1600x1200 pixels for GRUB, and
        # a keyboard's buffer is small
        xserver.xdotool("type", "--window", wid, "--delay", "150",
                        "terminal_output console")
        xserver.xdotool("key", "--window", wid, "Return")
    screen = wait_screen_size(c, tmp, (720, 400), timeout=120)
    assert (screen.width, screen.height) == (720, 400)
    assert wait_size(xserver, wid, (720, 400)) == (720, 400)


# --- a Linux guest: VGA text console, typing on tty1, virtio tablet --------

@pytest.fixture(scope="module")
def linux_vm(xserver, grub_vm):
    """The same VM, after GRUB's prompt (typed into the window) booted the
    Debian kernel in VGA text mode, to a shell on the serial port."""
    vm, c, wid, tmp = grub_vm

    def prompts(lines):
        return sum(1 for ln in lines if ln.startswith("grub>"))

    if not prompts(grub_text(c, tmp)):
        xserver.xdotool("key", "--window", wid, "c")
        lines = wait_grub_text(c, tmp, prompts)
        assert prompts(lines), "\n".join(lines)
    for line in ["linux (hd0,msdos1)/vmlinuz console=tty0 console=ttyS0 "
                 "vireo.task=shell", "initrd (hd0,msdos1)/initrd.img"]:
        before = prompts(grub_text(c, tmp))
        xserver.xdotool("type", "--window", wid, "--delay", "30", line)
        xserver.xdotool("key", "--window", wid, "Return")
        # loading takes a while: type on only at the next prompt
        lines = wait_grub_text(c, tmp, lambda ls: prompts(ls) > before,
                               timeout=120)
        assert prompts(lines) > before, "\n".join(lines)
        assert not any(ln.startswith("error:") for ln in lines), \
            "\n".join(lines)
    xserver.xdotool("type", "--window", wid, "boot")
    xserver.xdotool("key", "--window", wid, "Return")
    if not vm.expect(GUEST_PROMPT, timeout=LINUX_TIMEOUT):
        lines = pcimages.screen_text(screendump(c, tmp / "linux.ppm"))
        raise AssertionError("no shell:\n" + "\n".join(lines) +
                             vm.output[-3000:])
    # the kernel's last messages are on the screen now
    time.sleep(1)
    return vm, c, wid, tmp


def guest_run(vm, command, marker, timeout=60):
    """Runs a shell command on the serial console; the output up to the
    marker it echoes (split so the echoed command line does not match)."""
    start = len(vm.output)
    half = len(marker) // 2
    vm.send(f'{command}; echo "{marker[:half]}""{marker[half:]}"\n')
    assert vm.expect(re.escape(marker) + r"\r?\n", timeout=timeout), \
        vm.output[-3000:]
    return vm.output[start:].split(marker, 1)[0]


def test_linux_text_console_matches_screendump(xserver, linux_vm):
    _, c, wid, tmp = linux_vm
    assert window_size(xserver, wid) == (720, 400)
    dump, shot = frozen_pair(c, xserver, wid, tmp, "console")
    assert (dump.width, dump.height) == (720, 400)
    assert_looks_alike(shot, dump, exact=True)
    text = pcimages.screen_text(shot)
    assert any(line.strip() for line in text)
    assert text == pcimages.screen_text(dump)


def test_keys_typed_into_window_reach_linux_tty(xserver, linux_vm):
    vm, _, wid, _ = linux_vm
    vm.send('(exec </dev/tty1; echo OPE""NED; read -r line; '
            'echo "GOT=[$line]")\n')
    assert vm.expect(r"OPENED", timeout=60), vm.output[-3000:]
    xserver.xdotool("type", "--window", wid, "--delay", "40",
                    "Sdl typed: A-Z_1/2")
    xserver.xdotool("key", "--window", wid, "Return")
    assert vm.expect(r"GOT=\[Sdl typed: A-Z_1/2\]", timeout=60), \
        vm.output[-3000:]


EV_KEY, EV_ABS = 1, 3
ABS_X, ABS_Y, BTN_LEFT, BTN_RIGHT = 0, 1, 0x110, 0x111


def input_events(od_text):
    """(type, code, value) of struct input_event records (64-bit: 16 bytes
    of time, u16 type, u16 code, s32 value) in `od -An -v -tx1` output."""
    data = bytes(int(b, 16) for b in re.findall(r"\b[0-9a-f]{2}\b", od_text))
    out = []
    for off in range(0, len(data) - len(data) % 24, 24):
        ev = data[off:off + 24]
        out.append((int.from_bytes(ev[16:18], "little"),
                    int.from_bytes(ev[18:20], "little"),
                    int.from_bytes(ev[20:24], "little", signed=True)))
    return out


EV_REL, REL_X, REL_Y = 2, 0, 1


def record_events(vm, device_name, tag):
    """Starts copying the guest's evdev device named device_name to
    /tmp/TAG in the background."""
    out = guest_run(vm, f"ev=$(grep -l '{device_name}' "
                    "/sys/class/input/event*/device/name | cut -d/ -f5); "
                    f"echo DEV=$ev; cat /dev/input/$ev >/tmp/{tag} & "
                    "sleep 1", f"{tag.upper()}-OPEN")
    assert re.search(r"DEV=event\d+", out), out


def recorded_events(vm, tag):
    out = guest_run(vm, f"sleep 1; kill $!; od -An -v -tx1 /tmp/{tag}",
                    f"{tag.upper()}-DONE")
    return input_events(out.split(f"/tmp/{tag}", 2)[-1])


def test_mouse_moves_relative_while_grabbed(xserver, linux_vm):
    """With a relative mouse the guest sees nothing until a click into the
    window grabs the pointer (that click is not passed on); then motion
    arrives as relative movement and clicks as buttons; Ctrl+Alt+G lets
    go."""
    vm, _, wid, _ = linux_vm
    record_events(vm, "Virtio Mouse", "mouse")
    xserver.xdotool("mousemove", "--window", wid, 200, 200)
    time.sleep(0.3)
    xserver.xdotool("click", "--window", wid, "1")
    assert "grab" in wait_title(xserver, wid, lambda t: "grab" in t), \
        "a click did not grab the pointer"
    try:
        time.sleep(0.3)
        xserver.xdotool("mousemove_relative", "--", 30, 20)
        time.sleep(0.3)
        xserver.xdotool("click", "--window", wid, "3")
        time.sleep(0.3)
    finally:
        xserver.xdotool("key", "--window", wid, "ctrl+alt+g")
    assert "grab" not in wait_title(xserver, wid, lambda t: "grab" not in t)
    events = recorded_events(vm, "mouse")
    dx = sum(v for t, code, v in events if t == EV_REL and code == REL_X)
    dy = sum(v for t, code, v in events if t == EV_REL and code == REL_Y)
    assert dx > 0 and dy > 0, events
    buttons = [(code, v) for t, code, v in events if t == EV_KEY]
    assert buttons == [(BTN_RIGHT, 1), (BTN_RIGHT, 0)], events


def test_tablet_follows_pointer_through_scaling(xserver, linux_vm):
    """With the guest's tablet (once the mouse is gone), the pointer needs
    no grab: a position in the window (here letterboxed: 140-pixel bars
    left and right) reaches the guest as the guest-screen position it
    shows, and a click as a button."""
    vm, _, wid, _ = linux_vm
    # unbinding the mouse's driver resets it: the tablet takes the pointer
    guest_run(vm, "echo 0000:00:06.0 >/sys/bus/pci/drivers/virtio-pci/unbind",
              "UNBOUND")
    record_events(vm, "Virtio Tablet", "tab")
    try:
        xserver.xdotool("windowsize", wid, 1000, 400)
        assert wait_size(xserver, wid, (1000, 400)) == (1000, 400)
        time.sleep(0.5)
        # guest pixel (180, 100) is at window (140 + 180, 100)
        xserver.xdotool("mousemove", "--window", wid, 320, 100)
        time.sleep(0.5)
        xserver.xdotool("click", "--window", wid, "1")
        time.sleep(0.5)
    finally:
        xserver.xdotool("key", "--window", wid, "ctrl+alt+u")
    events = recorded_events(vm, "tab")
    xs = [v for t, code, v in events if t == EV_ABS and code == ABS_X]
    ys = [v for t, code, v in events if t == EV_ABS and code == ABS_Y]
    assert xs and ys, events
    assert abs(xs[-1] - 180 * 0x7fff // 719) < 100, (xs, ys)
    assert abs(ys[-1] - 100 * 0x7fff // 399) < 100, (xs, ys)
    buttons = [v for t, code, v in events if t == EV_KEY and code == BTN_LEFT]
    assert buttons == [1, 0], events
    assert window_title(xserver, wid) == "pcvm - Vireo"


# --- window close, default display, errors (no guest needed) ---------------

def test_closing_window_quits_with_host_ui(vireo, xserver, tmp_path):
    vm, c = start_vm(vireo, xserver, tmp_path, "-name", "closevm",
                     "-display", "sdl")
    with vm, c:
        wid = find_window(xserver, "closevm - Vireo")
        send_wm_delete(xserver.display, wid)
        ev = c.wait_event("SHUTDOWN", timeout=30)
        assert ev["data"]["reason"] == "host-ui", ev
        r = vm.wait(timeout=30)
    assert not r.timed_out, r.describe()
    assert r.returncode == 0, r.describe()
    assert_no_sanitizer_report(r.output)


@pytest.mark.parametrize("option", [["-no-quit"],
                                    ["-display", "sdl,window-close=off"]])
def test_no_quit_ignores_close(vireo, xserver, tmp_path, option):
    vm, c = start_vm(vireo, xserver, tmp_path, "-name", "stayvm", *option)
    with vm, c:
        wid = find_window(xserver, "stayvm - Vireo")
        send_wm_delete(xserver.display, wid)
        time.sleep(1.5)
        assert c.cmd("query-status")["status"] == "running"
        assert vm.proc.poll() is None
        assert not [e for e in c.events if e["event"] == "SHUTDOWN"]
        assert find_window(xserver, "stayvm - Vireo", timeout=1) == wid


def test_click_grabs_relative_pointer(vireo, xserver, tmp_path):
    """Without a tablet (the PS/2 mouse is relative) a click into the
    window grabs the pointer, as in QEMU; Ctrl+Alt+G lets it go."""
    vm, c = start_vm(vireo, xserver, tmp_path, "-name", "clickvm",
                     "-display", "sdl")
    with vm, c:
        wid = find_window(xserver, "clickvm - Vireo")
        # the first click may come before the window is mapped: try again
        for _ in range(5):
            xserver.xdotool("mousemove", "--window", wid, 100, 100)
            xserver.xdotool("click", "--window", wid, "1")
            title = wait_title(xserver, wid, lambda t: "grab" in t,
                               timeout=2)
            if "grab" in title:
                break
        assert title == "clickvm - Vireo - Press Ctrl+Alt+G to exit grab"
        xserver.xdotool("key", "--window", wid, "ctrl+alt+g")
        assert wait_title(xserver, wid, lambda t: "grab" not in t) == \
            "clickvm - Vireo"


def test_grab_mod_rctrl(vireo, xserver, tmp_path):
    """grab-mod=rctrl: right Ctrl alone is the hot-key modifier, and
    Ctrl+Alt+G is an ordinary key combination."""
    vm, c = start_vm(vireo, xserver, tmp_path, "-name", "rctrlvm",
                     "-display", "sdl,grab-mod=rctrl")
    with vm, c:
        wid = find_window(xserver, "rctrlvm - Vireo")
        xserver.xdotool("key", "--window", wid, "ctrl+alt+g")
        time.sleep(0.5)
        assert window_title(xserver, wid) == "rctrlvm - Vireo"
        xserver.xdotool("key", "--window", wid, "Control_R+g")
        assert wait_title(xserver, wid, lambda t: "grab" in t) == \
            "rctrlvm - Vireo - Press Right Ctrl+G to exit grab"


class MiniWM:
    """Just enough of a window manager for full screen (Xvfb has none):
    maps and configures windows as asked, and honours EWMH's
    _NET_WM_STATE_FULLSCREEN client messages by covering the screen and
    setting the _NET_WM_STATE property. Runs in a thread on its own
    display connection."""

    class _Any(ctypes.Structure):
        _fields_ = [("type", ctypes.c_int), ("serial", ctypes.c_ulong),
                    ("send_event", ctypes.c_int),
                    ("display", ctypes.c_void_p),
                    ("parent", ctypes.c_ulong), ("window", ctypes.c_ulong)]

    class _Configure(ctypes.Structure):    # XConfigureRequestEvent
        _fields_ = [("type", ctypes.c_int), ("serial", ctypes.c_ulong),
                    ("send_event", ctypes.c_int),
                    ("display", ctypes.c_void_p),
                    ("parent", ctypes.c_ulong), ("window", ctypes.c_ulong),
                    ("x", ctypes.c_int), ("y", ctypes.c_int),
                    ("width", ctypes.c_int), ("height", ctypes.c_int),
                    ("border_width", ctypes.c_int),
                    ("above", ctypes.c_ulong), ("detail", ctypes.c_int),
                    ("value_mask", ctypes.c_ulong)]

    class _Client(ctypes.Structure):       # XClientMessageEvent
        _fields_ = [("type", ctypes.c_int), ("serial", ctypes.c_ulong),
                    ("send_event", ctypes.c_int),
                    ("display", ctypes.c_void_p),
                    ("window", ctypes.c_ulong),
                    ("message_type", ctypes.c_ulong),
                    ("format", ctypes.c_int), ("data", ctypes.c_long * 5)]

    class _Changes(ctypes.Structure):      # XWindowChanges
        _fields_ = [("x", ctypes.c_int), ("y", ctypes.c_int),
                    ("width", ctypes.c_int), ("height", ctypes.c_int),
                    ("border_width", ctypes.c_int),
                    ("sibling", ctypes.c_ulong),
                    ("stack_mode", ctypes.c_int)]

    class _Event(ctypes.Union):
        pass

    _Event._fields_ = [("any", _Any), ("configure", _Configure),
                       ("client", _Client), ("pad", ctypes.c_long * 24)]

    MAP_REQUEST, CONFIGURE_REQUEST, CLIENT_MESSAGE = 20, 23, 33
    SUBSTRUCTURE_REDIRECT_NOTIFY = (1 << 19) | (1 << 20)

    def __init__(self, display, width, height):
        import threading
        x = self.x = ctypes.CDLL("libX11.so.6")
        x.XOpenDisplay.restype = ctypes.c_void_p
        x.XOpenDisplay.argtypes = [ctypes.c_char_p]
        x.XDefaultRootWindow.restype = ctypes.c_ulong
        x.XDefaultRootWindow.argtypes = [ctypes.c_void_p]
        x.XInternAtom.restype = ctypes.c_ulong
        x.XInternAtom.argtypes = [ctypes.c_void_p, ctypes.c_char_p,
                                  ctypes.c_int]
        x.XSelectInput.argtypes = [ctypes.c_void_p, ctypes.c_ulong,
                                   ctypes.c_long]
        x.XPending.argtypes = [ctypes.c_void_p]
        x.XNextEvent.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
        x.XMapWindow.argtypes = [ctypes.c_void_p, ctypes.c_ulong]
        x.XConfigureWindow.argtypes = [ctypes.c_void_p, ctypes.c_ulong,
                                       ctypes.c_uint, ctypes.c_void_p]
        x.XMoveResizeWindow.argtypes = [ctypes.c_void_p, ctypes.c_ulong,
                                        ctypes.c_int, ctypes.c_int,
                                        ctypes.c_uint, ctypes.c_uint]
        x.XChangeProperty.argtypes = [ctypes.c_void_p, ctypes.c_ulong,
                                      ctypes.c_ulong, ctypes.c_ulong,
                                      ctypes.c_int, ctypes.c_int,
                                      ctypes.c_void_p, ctypes.c_int]
        x.XDeleteProperty.argtypes = [ctypes.c_void_p, ctypes.c_ulong,
                                      ctypes.c_ulong]
        x.XFlush.argtypes = [ctypes.c_void_p]
        x.XCloseDisplay.argtypes = [ctypes.c_void_p]
        self.dpy = x.XOpenDisplay(display.encode())
        assert self.dpy, f"cannot open X display {display}"
        self.size = (width, height)
        self.saved = {}
        self.state = x.XInternAtom(self.dpy, b"_NET_WM_STATE", 0)
        self.full = x.XInternAtom(self.dpy, b"_NET_WM_STATE_FULLSCREEN", 0)
        self.atom = x.XInternAtom(self.dpy, b"ATOM", 0)
        x.XSelectInput(self.dpy, x.XDefaultRootWindow(self.dpy),
                       self.SUBSTRUCTURE_REDIRECT_NOTIFY)
        x.XFlush(self.dpy)
        self.stop = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _fullscreen(self, win, action, geometry):
        on = {0: False, 1: True}.get(action, win not in self.saved)
        if on and win not in self.saved:
            self.saved[win] = geometry
            self.x.XMoveResizeWindow(self.dpy, win, 0, 0, *self.size)
            prop = ctypes.c_ulong(self.full)
            self.x.XChangeProperty(self.dpy, win, self.state, self.atom, 32,
                                   0, ctypes.byref(prop), 1)
        elif not on and win in self.saved:
            self.x.XMoveResizeWindow(self.dpy, win, *self.saved.pop(win))
            self.x.XDeleteProperty(self.dpy, win, self.state)

    def _run(self):
        ev = self._Event()
        geometry = {}
        while not self.stop:
            if not self.x.XPending(self.dpy):
                time.sleep(0.005)
                continue
            self.x.XNextEvent(self.dpy, ctypes.byref(ev))
            if ev.any.type == self.MAP_REQUEST:
                self.x.XMapWindow(self.dpy, ev.any.window)
            elif ev.any.type == self.CONFIGURE_REQUEST:
                cr = ev.configure
                ch = self._Changes(cr.x, cr.y, cr.width, cr.height,
                                   cr.border_width, cr.above, cr.detail)
                self.x.XConfigureWindow(self.dpy, cr.window,
                                        cr.value_mask & 0x7f,
                                        ctypes.byref(ch))
                geometry[cr.window] = (cr.x, cr.y, cr.width, cr.height)
            elif ev.any.type == self.CLIENT_MESSAGE and \
                    ev.client.message_type == self.state and \
                    self.full in (ev.client.data[1], ev.client.data[2]):
                win = ev.client.window
                self._fullscreen(win, ev.client.data[0],
                                 geometry.get(win, (0, 0, 640, 480)))
            self.x.XFlush(self.dpy)

    def close(self):
        self.stop = True
        self.thread.join(timeout=5)
        self.x.XCloseDisplay(self.dpy)


@pytest.fixture
def window_manager(xserver):
    wm = MiniWM(xserver.display, 1280, 1024)
    yield wm
    wm.close()


def test_full_screen_option_and_hotkey(vireo, xserver, window_manager,
                                       tmp_path):
    """-full-screen starts full screen (the window covers the screen, the
    picture scaled in it) and, as in QEMU, grabs a relative pointer;
    Ctrl+Alt+F leaves both, back to the guest's size, and goes full screen
    again."""
    vm, c = start_vm(vireo, xserver, tmp_path, "-name", "fullvm",
                     "-display", "sdl", "-full-screen")
    with vm, c:
        wid = find_window(xserver, "fullvm - Vireo")
        assert wait_title(xserver, wid, lambda t: "grab" in t) == \
            "fullvm - Vireo - Press Ctrl+Alt+G to exit grab"
        assert wait_size(xserver, wid, (1280, 1024)) == (1280, 1024)
        dump = screendump(c, tmp_path / "full-dump.ppm")
        guest = (dump.width, dump.height)

        xserver.xdotool("key", "--window", wid, "ctrl+alt+f")
        assert wait_title(xserver, wid, lambda t: "grab" not in t) == \
            "fullvm - Vireo"
        assert wait_size(xserver, wid, guest) == guest

        xserver.xdotool("key", "--window", wid, "ctrl+alt+f")
        assert wait_size(xserver, wid, (1280, 1024)) == (1280, 1024)
        xserver.xdotool("key", "--window", wid, "ctrl+alt+f")
        assert wait_size(xserver, wid, guest) == guest


def test_default_display_is_window_when_display_set(vireo, xserver,
                                                    tmp_path):
    vm, c = start_vm(vireo, xserver, tmp_path, "-name", "defaultvm")
    with vm, c:
        assert find_window(xserver, "defaultvm - Vireo")


def test_default_display_is_none_without_display(vireo, xserver, tmp_path):
    env = dict(os.environ)
    env.pop("DISPLAY", None)
    env.pop("WAYLAND_DISPLAY", None)
    vm, c = start_vm(vireo, xserver, tmp_path, "-name", "headlessvm",
                     env=env)
    with vm, c:
        assert c.cmd("query-status")["status"] == "running"
        time.sleep(0.5)
        assert not xserver.xdotool("search", "--name", "headlessvm",
                                   check=False)


def test_sdl_without_display_is_clear_error(vireo):
    env = dict(os.environ)
    env.pop("DISPLAY", None)
    env.pop("WAYLAND_DISPLAY", None)
    r = vmrun.run_vm([vireo, "-M", "pc", "-accel", "qtest", "-display",
                      "sdl"], timeout=30, env=env)
    assert r.returncode != 0, r.describe()
    assert "-display sdl" in r.output and "DISPLAY" in r.output, r.output


def test_sdl_with_unreachable_display_is_clear_error(vireo):
    env = dict(os.environ, DISPLAY=":1999")
    env.pop("WAYLAND_DISPLAY", None)
    r = vmrun.run_vm([vireo, "-M", "pc", "-accel", "qtest", "-display",
                      "sdl"], timeout=30, env=env)
    assert r.returncode != 0, r.describe()
    assert "DISPLAY=':1999'" in r.output, r.output


def test_default_display_with_unreachable_display_runs_without(vireo,
                                                               tmp_path):
    """A stale DISPLAY does not stop a VM that asked for no window: a
    warning, and it runs as with -display none."""
    env = dict(os.environ, DISPLAY=":1999")
    env.pop("WAYLAND_DISPLAY", None)
    sock = tmp_path / "qmp.sock"
    vm = vmrun.VMProcess([vireo, "-M", "pc", "-accel", "qtest", "-qmp",
                          f"unix:{sock},server=on,wait=off"], env=env,
                         stdin=False)
    with vm, QMPClient(sock) as c:
        assert c.cmd("query-status")["status"] == "running"
        assert vm.expect(r"warning: .*running without a window",
                         timeout=10), vm.output


def test_idle_window_costs_little_cpu(vireo, xserver, tmp_path):
    """With nothing changing, the window presents nothing: the process
    (no vCPU under qtest) uses well under a tenth of a CPU."""
    vm, c = start_vm(vireo, xserver, tmp_path, "-name", "idlevm")
    with vm, c:
        find_window(xserver, "idlevm - Vireo")
        time.sleep(1)

        def cpu():
            with open(f"/proc/{vm.proc.pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf(
                "SC_CLK_TCK")
        before = cpu()
        time.sleep(3)
        used = cpu() - before
    assert used < 0.3, f"{used:.2f}s of CPU in 3s while idle"
