"""The VNC server with real clients: Debian's vncsnapshot and a Python RFB
client (rfbclient.py). One GRUB rescue CD boot on pc (SeaBIOS, the VGA
text screen, then a VBE mode for gfxterm) carries the screen tests: what
VNC clients see matches the QMP screendump of the same moment, in every
encoding and pixel format; keys typed over VNC (plain keysyms and QEMU's
extended key event) reach GRUB. Hostile clients are dropped one by one
while another client keeps getting updates and the VM keeps running.
Passwords, keyboard layouts (-k) and option errors use qtest VMs (no CPU),
which start at once: key events are read back from the i8042.
"""

import random
import re
import socket
import subprocess
import time

import pytest

import pcimages
import rfbclient
import vmrun
from qmp import QMPClient
from rfbclient import RFBClient

BOOT_TIMEOUT = 90


@pytest.fixture(scope="module")
def vireo():
    if not vmrun.vireo_built():
        pytest.skip(f"{vmrun.vireo_binary()} is not built")
    return vmrun.vireo_binary()


def vnc_spec(extra=""):
    """A TCP spec on loopback with room to find a free port."""
    first = random.randrange(200, 3000)
    return f"127.0.0.1:{first},to={first + 200}{extra}"


class VM:
    """A vireo process with QMP, and the VNC address it listens on."""

    def __init__(self, vireo, tmp, name, *args, vnc=None):
        self.qmp_path = tmp / f"{name}-qmp.sock"
        self.vm = vmrun.VMProcess(
            [vireo, "-M", "pc", "-m", "128", "-display", "none",
             "-serial", "none", "-qmp",
             f"unix:{self.qmp_path},server=on,wait=off",
             "-vnc", vnc or vnc_spec(), *args], stdin=False)
        self.qmp = QMPClient(self.qmp_path)
        info = self.qmp.cmd("query-vnc")
        if info.get("family") == "unix":
            self.addr = info["host"]
        else:
            self.addr = (info["host"], int(info["service"]))

    def client(self, **kw):
        return RFBClient(self.addr).handshake(**kw)

    def screendump(self, path):
        self.qmp.cmd("screendump", {"filename": str(path)})
        return pcimages.load_screen(path)

    def hmp(self, line):
        return self.qmp.cmd("human-monitor-command",
                            {"command-line": line})

    def close(self):
        self.qmp.close()
        self.vm.kill()


# ---- the GRUB VM ----

@pytest.fixture(scope="module")
def grub_iso():
    if pcimages.seabios_dir() is None or pcimages.vga_font16() is None:
        pytest.skip("SeaBIOS and its VGA BIOS are not installed (package "
                    "seabios)")
    try:
        images = pcimages.build_pc_images()
    except (pcimages.ImageBuildError, vmrun.GuestBuildError) as e:
        pytest.skip(f"cannot build the PC test images: {e}")
    return images["grub_iso"]


def screen_text(vm, path):
    return pcimages.screen_text(vm.screendump(path))


def wait_text(vm, path, text, timeout=BOOT_TIMEOUT):
    deadline = time.monotonic() + timeout
    while True:
        lines = screen_text(vm, path)
        if pcimages.screen_has(lines, text):
            return lines
        assert time.monotonic() < deadline, \
            f"no {text!r} on the screen:\n" + "\n".join(lines)
        time.sleep(0.5)


@pytest.fixture(scope="module")
def grub(vireo, grub_iso, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("vnc-grub")
    vm = VM(vireo, tmp, "grub", "-accel", "tcg", "-device", "VGA",
            "-cdrom", str(grub_iso), "-boot", "d", "-name", "vnc-test")
    vm.tmp = tmp
    try:
        wait_text(vm, tmp / "boot.ppm", "GNU GRUB")
        yield vm
    finally:
        vm.close()


def vncsnapshot(vm, path, *args):
    host, port = vm.addr
    display = port - 5900
    p = subprocess.run(["vncsnapshot", "-quiet", "-quality", "100", *args,
                        f"{host}:{display}", str(path)],
                       capture_output=True, text=True, timeout=60)
    return p


def rmse(a, b):
    """ImageMagick's normalised RMSE between two images (0: the same)."""
    p = subprocess.run(["compare", "-metric", "RMSE", str(a), str(b),
                        "null:"], capture_output=True, text=True)
    m = re.search(r"\(([\d.e-]+)\)", p.stderr)
    assert m, p.stderr
    return float(m.group(1))


def check_clients_match_screendump(vm, tag):
    """With the VM stopped, vncsnapshot and the Python client in each
    encoding and several pixel formats see the screendump's pixels."""
    if not shutil_which("vncsnapshot"):
        pytest.skip("vncsnapshot is not installed")
    vm.qmp.cmd("stop")
    try:
        time.sleep(0.3)
        ref_path = vm.tmp / f"{tag}.ppm"
        ref = vm.screendump(ref_path)
        # raw (its choice on one machine), then zlib (the one we have of
        # the encodings it asks a remote server for)
        for i, encs in enumerate([[], ["-encodings", "tight hextile zlib "
                                       "raw"]]):
            jpg = vm.tmp / f"{tag}{i}.jpg"
            p = vncsnapshot(vm, jpg, *encs)
            assert p.returncode == 0, p.stderr
            # JPEG at quality 100 is close, not exact
            assert rmse(jpg, ref_path) < 0.02
        for enc in (rfbclient.RAW, rfbclient.ZLIB, rfbclient.ZRLE):
            with vm.client() as c:
                c.set_encodings([enc])
                c.update()
                assert (c.width, c.height) == (ref.width, ref.height)
                assert c.rgb() == bytes(ref.rgb), f"encoding {enc}"
        formats = [
            dict(bpp=32, depth=24, big_endian=True, max=(255, 255, 255),
                 shift=(0, 8, 16)),
            dict(bpp=32, depth=24, big_endian=False, max=(255, 255, 255),
                 shift=(24, 16, 8)),
        ]
        for pf in formats:
            for enc in (rfbclient.ZRLE, rfbclient.RAW):
                with vm.client() as c:
                    c.set_pixel_format(pf)
                    c.set_encodings([enc])
                    c.update()
                    assert c.rgb() == bytes(ref.rgb), (pf, enc)
        # a still screen sends nothing to an incremental request
        with vm.client() as c:
            c.update()
            c.request(incremental=True)
            c.sock.settimeout(1.5)
            with pytest.raises(socket.timeout):
                c.read_message()
        # 16 and 8 bits a pixel lose the low bits of each channel
        for pf, tol in [(dict(bpp=16, depth=16, big_endian=True,
                              max=(31, 63, 31), shift=(11, 5, 0)), 8),
                        (dict(bpp=8, depth=8, big_endian=False,
                              max=(7, 7, 3), shift=(0, 3, 6)), 85)]:
            with vm.client() as c:
                c.set_pixel_format(pf)
                c.set_encodings([rfbclient.ZRLE])
                c.update()
                worst = max(abs(a - b) for a, b in zip(c.rgb(), ref.rgb))
                assert worst <= tol, (pf, worst)
    finally:
        vm.qmp.cmd("cont")


def shutil_which(name):
    import shutil
    return shutil.which(name)


def xt_type(c, text):
    """Types lower-case letters and spaces with QEMU's extended key event
    (XT scancodes), keysym 0 as QEMU's own clients may send."""
    codes = {ch: code for ch, code in zip(
        "qwertyuiopasdfghjklzxcvbnm ",
        [0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19,
         0x1e, 0x1f, 0x20, 0x21, 0x22, 0x23, 0x24, 0x25, 0x26,
         0x2c, 0x2d, 0x2e, 0x2f, 0x30, 0x31, 0x32, 0x39])}
    for ch in text:
        c.ext_key(ord(ch), codes[ch], True)
        c.ext_key(ord(ch), codes[ch], False)
        time.sleep(0.02)


def keysym_type(c, text):
    for ch in text:
        c.key(ord(ch), True)
        c.key(ord(ch), False)
        time.sleep(0.02)


def test_screen_keys_and_mode_change(grub):
    """The GRUB menu (VGA text mode) as vncsnapshot and the Python client
    see it; keys over VNC open GRUB's command line and type a command
    (extended key events, with an 0xE0 key, and plain keysyms with shifted
    characters); the command switches to a VBE mode, which clients with
    DesktopSize learn, and the new screen matches the screendump too."""
    vm = grub
    check_clients_match_screendump(vm, "text")
    watcher = vm.client()
    watcher.set_encodings([rfbclient.ZRLE, rfbclient.DESKTOP_SIZE,
                           rfbclient.EXT_KEY])
    watcher.update()
    assert (watcher.width, watcher.height) == (720, 400)
    assert watcher.name == "vnc-test"

    with vm.client() as typist:
        typist.set_encodings([rfbclient.RAW, rfbclient.EXT_KEY])
        typist.update()
        assert typist.ext_key_ok
        xt_type(typist, "c")
        wait_text(vm, vm.tmp / "k.ppm", "grub>", timeout=20)
        xt_type(typist, "insmod vbe")
        keysym_type(typist, "; insmod gfxterm; terminal_output gfxtem")
        # Left (0xE0 0x4B, sent as 0xCB), then the missing letter
        typist.ext_key(0xff51, 0xcb, True)
        typist.ext_key(0xff51, 0xcb, False)
        keysym_type(typist, "r")
        wait_text(vm, vm.tmp / "k.ppm",
                  "insmod vbe; insmod gfxterm; terminal_output gfxterm",
                  timeout=20)
        typist.key(0xff0d, True)
        typist.key(0xff0d, False)

    # the watcher is told about the new size, then gets the new screen
    deadline = time.monotonic() + 30
    while watcher.resized == 0:
        assert time.monotonic() < deadline, "no DesktopSize"
        watcher.update(incremental=True)
    assert (watcher.width, watcher.height) == (640, 480)
    deadline = time.monotonic() + 30
    while not any(watcher.rgb()):
        assert time.monotonic() < deadline, "the VBE screen stays black"
        watcher.update(incremental=True)
    watcher.close()
    time.sleep(1)
    check_clients_match_screendump(vm, "vbe")


def client_gone(vm, c, timeout=10):
    """Whether the server dropped client c (it closed the connection and
    query-vnc no longer lists it)."""
    port = str(c.sock.getsockname()[1])
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        listed = [x["service"] for x in vm.qmp.cmd("query-vnc")["clients"]]
        if port not in listed:
            return c.closed_by_server(timeout=5)
        time.sleep(0.1)
    return False


def raw_client(vm, handshake=True):
    c = RFBClient(vm.addr)
    if handshake:
        c.handshake()
    return c


def test_hostile_clients_are_dropped_alone(grub):
    """Each broken or hostile client is dropped by itself; a well-behaved
    client connected all along still gets updates, and the VM runs."""
    vm = grub
    good = vm.client()
    good.set_encodings([rfbclient.ZLIB])
    good.update()
    victims = []

    c = RFBClient(vm.addr)
    c.recv_exact(12)
    c.send(b"HTTP/1.1 200\r\n")
    victims.append(("bad version", c))

    c = RFBClient(vm.addr)
    c.recv_exact(12)
    c.send(b"RFB 002.000\n")
    victims.append(("old version", c))

    c = raw_client(vm)
    c.set_pixel_format(dict(bpp=24, depth=24, big_endian=False,
                            max=(255, 255, 255), shift=(16, 8, 0)))
    victims.append(("24 bpp", c))

    c = raw_client(vm)
    c.set_pixel_format(dict(bpp=16, depth=16, big_endian=False,
                            max=(255, 255, 255), shift=(11, 5, 0)))
    victims.append(("channels outside the pixel", c))

    c = raw_client(vm)
    c.set_pixel_format(rfbclient.DEFAULT_PF, truecolour=0)
    victims.append(("colour map", c))

    c = raw_client(vm)
    c.send(bytes([7, 0, 0, 0]))
    victims.append(("unknown message", c))

    c = raw_client(vm)
    c.send(bytes([255, 9, 0, 0]))
    victims.append(("unknown QEMU submessage", c))

    c = raw_client(vm)
    c.send(bytes([6, 0, 0, 0, 0x7f, 0xff, 0xff, 0xff]))
    victims.append(("huge clipboard", c))

    c = raw_client(vm)
    c.send(bytes([6, 0, 0, 0, 0xff, 0xff, 0xff, 0xf0]))
    victims.append(("negative clipboard length", c))

    for what, c in victims:
        assert client_gone(vm, c), f"the {what} client was not dropped"
        c.close()

    # a client that stops half-way through a message, then leaves
    c = raw_client(vm)
    c.send(bytes([2, 0, 0, 5, 0, 0]))
    c.close()

    # clipboard text of a sane size is read and ignored
    with vm.client() as c:
        c.cut_text(b"x" * 100000)
        c.set_encodings([rfbclient.RAW])
        c.update()
        assert (c.width, c.height) == (good.width, good.height)

    # a client that asks for full screens and never reads: dropped once
    # its queue is full, not before the others get theirs
    hog = RFBClient(vm.addr, timeout=5)
    hog.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    hog.handshake()
    hog_port = str(hog.sock.getsockname()[1])
    deadline = time.monotonic() + 30
    while True:
        ports = [x["service"] for x in vm.qmp.cmd("query-vnc")["clients"]]
        if hog_port not in ports:
            break
        assert time.monotonic() < deadline, \
            "the client that never reads was not dropped"
        try:
            # one request a read: requests in one read count once
            hog.request(incremental=False)
        except OSError:
            pass
        time.sleep(0.05)
        good.update(incremental=False, timeout=10)
    hog.close()

    # the good client saw none of this
    good.update()
    good.update(incremental=False)
    assert vm.qmp.cmd("query-status")["status"] == "running"
    clients = vm.qmp.cmd("query-vnc")["clients"]
    assert [x["service"] for x in clients] == \
        [str(good.sock.getsockname()[1])]
    good.close()


def test_query_vnc_info_vnc_and_events(grub):
    vm = grub
    with vm.client() as c:
        port = str(c.sock.getsockname()[1])
        info = vm.qmp.cmd("query-vnc")
        assert info["enabled"] is True
        assert info["host"] == "127.0.0.1"
        assert info["family"] == "ipv4"
        assert info["auth"] == "none"
        assert int(info["service"]) == vm.addr[1]
        assert {"host": "127.0.0.1", "service": port, "family": "ipv4",
                "websocket": False} in info["clients"]
        out = vm.hmp("info vnc").replace("\r\n", "\n")
        assert f"  Server: 127.0.0.1:{vm.addr[1]} (ipv4)\n" in out
        assert "    Auth: none (Sub: none)\n" in out
        assert f"  Client: 127.0.0.1:{port} (ipv4)\n" in out
        ev = vm.qmp.wait_event("VNC_INITIALIZED", timeout=10)
        assert ev["data"]["server"]["auth"] == "none"
    ev = vm.qmp.wait_event("VNC_DISCONNECTED", timeout=10)
    assert ev["data"]["client"]["family"] == "ipv4"
    # no password auth on this server: set_password fails as QEMU's does
    r = vm.qmp.execute("set_password", {"protocol": "vnc",
                                        "password": "x"})
    assert r["error"]["desc"] == "Could not set password"


# ---- qtest VMs: no CPU, instant start ----

class QtestVM(VM):
    def __init__(self, vireo, tmp, name, *args, vnc=None):
        self.qtest_path = tmp / f"{name}-qtest.sock"
        self.qtest_srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.qtest_srv.bind(str(self.qtest_path))
        self.qtest_srv.listen(1)
        super().__init__(vireo, tmp, name, "-qtest",
                         f"unix:{self.qtest_path}", *args, vnc=vnc)
        self.qtest, _ = self.qtest_srv.accept()
        self.qtest.settimeout(10)
        self.qbuf = b""

    def qtest_cmd(self, line):
        self.qtest.sendall(line.encode() + b"\n")
        while b"\n" not in self.qbuf:
            self.qbuf += self.qtest.recv(4096)
        reply, self.qbuf = self.qbuf.split(b"\n", 1)
        return reply.decode()

    def scancodes(self, timeout=3):
        """The bytes the keyboard put in the i8042, until it goes quiet."""
        out = []
        deadline = time.monotonic() + timeout
        quiet = None
        while time.monotonic() < deadline:
            st = int(self.qtest_cmd("inb 0x64").split()[1], 16)
            if st & 1:
                out.append(int(self.qtest_cmd("inb 0x60").split()[1], 16))
                quiet = None
            elif out:
                quiet = quiet or time.monotonic()
                if time.monotonic() - quiet > 0.3:
                    break
            time.sleep(0.01)
        return out

    def close(self):
        super().close()
        self.qtest.close()
        self.qtest_srv.close()


def test_password_auth(vireo, tmp_path):
    """password=on: every login fails until set_password; then a wrong
    password is refused (with a reason in 3.8) and the right one works in
    3.3 and 3.8 and with vncsnapshot; expire_password now/never."""
    vm = QtestVM(vireo, tmp_path, "pw", vnc=vnc_spec(",password=on"))
    try:
        assert vm.qmp.cmd("query-vnc")["auth"] == "vnc"
        with pytest.raises(rfbclient.AuthFailed, match="Authentication"):
            vm.client(password="")
        vm.qmp.cmd("set_password", {"protocol": "vnc",
                                    "password": "secret"})
        with pytest.raises(rfbclient.AuthFailed,
                           match="Authentication failed"):
            vm.client(password="wrong")
        with pytest.raises(rfbclient.AuthFailed):
            vm.client(password="wrong", version=b"RFB 003.003\n")
        with vm.client(password="secret") as c:
            c.update()
        with vm.client(password="secret", version=b"RFB 003.003\n") as c:
            c.update()
        with vm.client(password="secret", version=b"RFB 003.007\n") as c:
            c.update()

        if shutil_which("vncsnapshot"):
            good = tmp_path / "good.passwd"
            good.write_bytes(rfbclient.vncpasswd_file("secret"))
            bad = tmp_path / "bad.passwd"
            bad.write_bytes(rfbclient.vncpasswd_file("wrong"))
            p = vncsnapshot(vm, tmp_path / "bad.jpg", "-allowblank",
                            "-passwd", str(bad))
            assert p.returncode != 0
            assert not (tmp_path / "bad.jpg").exists()
            p = vncsnapshot(vm, tmp_path / "good.jpg", "-allowblank",
                            "-passwd", str(good))
            assert p.returncode == 0, p.stderr
            assert (tmp_path / "good.jpg").stat().st_size > 0

        vm.qmp.cmd("expire_password", {"protocol": "vnc", "time": "now"})
        with pytest.raises(rfbclient.AuthFailed):
            vm.client(password="secret")
        vm.qmp.cmd("expire_password", {"protocol": "vnc", "time": "never"})
        vm.client(password="secret").close()
        r = vm.qmp.execute("expire_password", {"protocol": "vnc",
                                               "time": "soon"})
        assert "Invalid parameter 'time'" in r["error"]["desc"]
        r = vm.qmp.execute("set_password", {"protocol": "spice",
                                            "password": "x"})
        assert "error" in r

        # the HMP forms
        assert vm.hmp("change vnc password other") == ""
        vm.client(password="other").close()
        assert vm.hmp("set_password vnc third") == ""
        vm.client(password="third").close()
        assert vm.hmp("expire_password vnc now") == ""
        with pytest.raises(rfbclient.AuthFailed):
            vm.client(password="third")
        assert vm.qmp.cmd("query-status")["status"] in ("running",
                                                        "paused")
    finally:
        vm.close()


# set 1 make codes
SC = {"a": 0x1e, "q": 0x10, "y": 0x15, "z": 0x2c, "2": 0x03,
      "shift": 0x2a, "minus": 0x0c, "ss": 0x0c}


def makes(codes):
    """The make codes of a scancode list, with their 0xE0 prefixes."""
    out = []
    for i, c in enumerate(codes):
        if c == 0xe0:
            if i + 1 < len(codes) and codes[i + 1] < 0x80:
                out.append(c)
        elif c < 0x80:
            out.append(c)
    return out


def test_keysyms_en_us_and_unix_socket(vireo, tmp_path):
    """Without -k, keysyms map to en-us keys, adding Shift for shifted
    characters; extended key events go by scancode; the server listens on
    a unix socket; pointer events reach the PS/2 mouse without trouble."""
    sock = tmp_path / "vnc.sock"
    vm = QtestVM(vireo, tmp_path, "us", vnc=f"unix:{sock}")
    try:
        info = vm.qmp.cmd("query-vnc")
        assert (info["family"], info["host"]) == ("unix", str(sock))
        with vm.client() as c:
            c.update()
            vm.scancodes(timeout=0.5)
            keysym_type(c, "a")
            assert vm.scancodes() == [SC["a"], SC["a"] | 0x80]
            keysym_type(c, "@")
            assert makes(vm.scancodes()) == [SC["shift"], SC["2"]]
            # shift held by the user and an upper-case letter: no extra
            c.key(0xffe1, True)
            keysym_type(c, "A")
            c.key(0xffe1, False)
            assert vm.scancodes() == [SC["shift"], SC["a"], SC["a"] | 0x80,
                                      SC["shift"] | 0x80]
            # extended: the Right Ctrl key (0xE0 0x1D, sent as 0x9D)
            c.ext_key(0xffe4, 0x9d, True)
            c.ext_key(0xffe4, 0x9d, False)
            assert vm.scancodes() == [0xe0, 0x1d, 0xe0, 0x9d]
            # buttons and motion do not disturb anything
            c.pointer(1, 10, 10)
            c.pointer(0, 20, 30)
            c.update()
        assert not sock.exists() or sock.is_socket()
    finally:
        vm.close()


def test_keyboard_layout_de(vireo, tmp_path):
    """-k de: keysyms are typed as on a German keyboard (z and y swapped,
    @ is AltGr+Q, sharp s on the minus key, shifted digits)."""
    vm = QtestVM(vireo, tmp_path, "de", "-k", "de")
    try:
        with vm.client() as c:
            c.update()
            vm.scancodes(timeout=0.5)
            keysym_type(c, "z")
            assert makes(vm.scancodes()) == [SC["y"]]
            keysym_type(c, "y")
            assert makes(vm.scancodes()) == [SC["z"]]
            keysym_type(c, "@")
            # AltGr is the right Alt: 0xE0 0x38
            assert makes(vm.scancodes()) == [0xe0, 0x38, SC["q"]]
            c.key(0xdf, True)       # ssharp
            c.key(0xdf, False)
            assert makes(vm.scancodes()) == [SC["ss"]]
            # Shift+2 is '"', Shift+7 is '/', AltGr+7 is '{'
            keysym_type(c, '"/')
            assert makes(vm.scancodes()) == [SC["shift"], SC["2"],
                                             SC["shift"], 0x08]
            keysym_type(c, "{Z")
            assert makes(vm.scancodes()) == [0xe0, 0x38, 0x08,
                                             SC["shift"], SC["y"]]
    finally:
        vm.close()


def bad_start(vireo, *args):
    r = vmrun.run_vm([vireo, "-M", "pc", "-accel", "qtest", "-display",
                      "none", *args], timeout=20)
    assert r.returncode != 0, r.output
    return r.output


def test_bad_specs_are_clear_errors(vireo, tmp_path):
    assert "-vnc nonsense" in bad_start(vireo, "-vnc", "nonsense")
    assert "display number" in bad_start(vireo, "-vnc", ":abc")
    assert "'bogus'" in bad_start(vireo, "-vnc", ":1,bogus=on")
    assert "reverse" in bad_start(vireo, "-vnc", "localhost:1,reverse=on")
    assert "websocket" in bad_start(vireo, "-vnc", ":1,websocket=5700")
    assert "to=" in bad_start(vireo, "-vnc", "127.0.0.1:10,to=5")
    out = bad_start(vireo, "-vnc", ":1", "-k", "no-such-layout")
    assert "no-such-layout" in out and "layout" in out
    # a port in use, and with to= no free port in the range
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(1)
    n = s.getsockname()[1] - 5900
    if n >= 0:
        out = bad_start(vireo, "-vnc", f"127.0.0.1:{n}")
        assert "Address already in use" in out
        out = bad_start(vireo, "-vnc", f"127.0.0.1:{n},to={n}")
        assert "no free port" in out
    s.close()
