"""A small RFB (VNC) client for tests (RFC 6143 plus QEMU's extended key
event and pointer type change): handshake with None or VNC Authentication,
the client messages, and a framebuffer kept up to date from Raw, zlib and
ZRLE rectangles in any true-colour pixel format. Also raw access to the
socket, for tests that misbehave on purpose.
"""

import socket
import struct
import subprocess
import time
import zlib

RAW, COPYRECT, ZLIB, ZRLE = 0, 1, 6, 16
DESKTOP_SIZE, POINTER_TYPE, EXT_KEY = -223, -257, -258

DEFAULT_PF = dict(bpp=32, depth=24, big_endian=False, max=(255, 255, 255),
                  shift=(16, 8, 0))


class RFBError(Exception):
    pass


class AuthFailed(RFBError):
    pass


def _reverse_bits(b):
    return int(f"{b:08b}"[::-1], 2)


def des_encrypt(key, data):
    """DES-ECB of data (a multiple of 8 bytes) under an 8-byte key."""
    try:
        from cryptography.hazmat.decrepit.ciphers.algorithms import \
            TripleDES
        from cryptography.hazmat.primitives.ciphers import Cipher, modes
        enc = Cipher(TripleDES(key * 3), modes.ECB()).encryptor()
        return enc.update(data) + enc.finalize()
    except ImportError:
        out = subprocess.run(
            ["openssl", "enc", "-des-ecb", "-nopad", "-K", key.hex(),
             "-provider", "legacy", "-provider", "default"],
            input=data, capture_output=True, check=True)
        return out.stdout


def vnc_auth_response(password, challenge):
    """What a VNC viewer answers: the challenge under the password as DES
    key, each key byte bit-reversed."""
    key = bytes(_reverse_bits(b) for b in
                password.encode()[:8].ljust(8, b"\0"))
    return des_encrypt(key, challenge)


# The fixed key VNC viewers obfuscate stored passwords with (vncpasswd),
# in the bit order of VNC's DES (each byte reversed, as for passwords).
VNCPASSWD_KEY = bytes([23, 82, 107, 6, 35, 78, 88, 7])


def vncpasswd_file(password):
    """The contents of a vncpasswd file holding password."""
    key = bytes(_reverse_bits(b) for b in VNCPASSWD_KEY)
    return des_encrypt(key, password.encode()[:8].ljust(8, b"\0"))


def pixel_to_rgb(v, pf):
    out = []
    for i in range(3):
        m = pf["max"][i]
        out.append(((v >> pf["shift"][i]) & m) * 255 // m)
    return tuple(out)


class RFBClient:
    def __init__(self, address, timeout=30):
        if isinstance(address, str):
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        else:
            self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(address)
        self.buf = b""
        self.pf = dict(DEFAULT_PF)
        self.width = self.height = 0
        self.fb = bytearray()
        self.name = None
        self.zlib = None
        self.zrle = None
        self.ext_key_ok = False
        self.absolute = None
        self.resized = 0
        self.minor = None

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # ---- bytes ----

    def send(self, data):
        self.sock.sendall(data)

    def recv_exact(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(max(65536, n - len(self.buf)))
            if not chunk:
                raise RFBError(f"connection closed (wanted {n} bytes, "
                               f"have {len(self.buf)})")
            self.buf += chunk
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def u8(self):
        return self.recv_exact(1)[0]

    def u16(self):
        return struct.unpack(">H", self.recv_exact(2))[0]

    def u32(self):
        return struct.unpack(">I", self.recv_exact(4))[0]

    def closed_by_server(self, timeout=10):
        """True when the server closes the connection within timeout
        (whatever it sent before is read and thrown away)."""
        self.sock.settimeout(timeout)
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                if not self.sock.recv(65536):
                    return True
        except (ConnectionResetError, BrokenPipeError):
            return True
        except socket.timeout:
            return False
        return False

    # ---- handshake ----

    def handshake(self, version=b"RFB 003.008\n", password=None,
                  shared=True):
        server_version = self.recv_exact(12)
        if not server_version.startswith(b"RFB 003."):
            raise RFBError(f"bad server version {server_version!r}")
        self.send(version)
        self.minor = int(version[8:11])
        if self.minor < 7:
            sec = self.u32()
            if sec == 0:
                raise RFBError(self.recv_exact(self.u32()).decode())
        else:
            n = self.u8()
            if n == 0:
                raise RFBError(self.recv_exact(self.u32()).decode())
            types = self.recv_exact(n)
            sec = 2 if 2 in types else types[0]
            self.send(bytes([sec]))
        if sec == 2:
            challenge = self.recv_exact(16)
            self.send(vnc_auth_response(password or "", challenge))
        if sec == 2 or self.minor >= 8:
            if self.u32() != 0:
                reason = ""
                if self.minor >= 8:
                    reason = self.recv_exact(self.u32()).decode()
                raise AuthFailed(reason or "authentication failed")
        self.send(bytes([1 if shared else 0]))
        self.width, self.height = self.u16(), self.u16()
        pf = self.recv_exact(16)
        self.server_pf = self._parse_pf(pf)
        self.pf = dict(self.server_pf)
        self.name = self.recv_exact(self.u32()).decode()
        self.fb = bytearray(self.width * self.height * 3)
        return self

    @staticmethod
    def _parse_pf(d):
        bpp, depth, be, tc, rm, gm, bm, rs, gs, bs = struct.unpack(
            ">BBBBHHHBBB3x", d)
        return dict(bpp=bpp, depth=depth, big_endian=bool(be),
                    max=(rm, gm, bm), shift=(rs, gs, bs), truecolour=tc)

    # ---- client messages ----

    def set_pixel_format(self, pf, truecolour=1):
        self.send(struct.pack(">B3xBBBBHHHBBB3x", 0, pf["bpp"], pf["depth"],
                              int(pf["big_endian"]), truecolour,
                              *pf["max"], *pf["shift"]))
        self.pf = dict(pf)

    def set_encodings(self, encodings):
        self.send(struct.pack(">BxH", 2, len(encodings)) +
                  b"".join(struct.pack(">i", e) for e in encodings))

    def request(self, incremental=False, x=0, y=0, w=None, h=None):
        self.send(struct.pack(">BBHHHH", 3, int(incremental), x, y,
                              self.width if w is None else w,
                              self.height if h is None else h))

    def key(self, keysym, down):
        self.send(struct.pack(">BBxxI", 4, int(down), keysym))

    def type_keysyms(self, text):
        for ch in text:
            ks = 0xff0d if ch == "\n" else ord(ch)
            self.key(ks, True)
            self.key(ks, False)

    def ext_key(self, keysym, keycode, down):
        self.send(struct.pack(">BBHII", 255, 0, int(down), keysym, keycode))

    def pointer(self, mask, x, y):
        self.send(struct.pack(">BBHH", 5, mask, x, y))

    def cut_text(self, text):
        self.send(struct.pack(">B3xI", 6, len(text)) + text)

    # ---- server messages ----

    def read_message(self):
        """Reads one server message; returns its type."""
        t = self.u8()
        self.last_pixels = 0
        if t == 0:
            self.recv_exact(1)
            for _ in range(self.u16()):
                self.last_pixels += self._read_rect()
        elif t == 1:
            self.recv_exact(3)
            self.recv_exact(6 * self.u16())
        elif t == 2:
            pass
        elif t == 3:
            self.recv_exact(3)
            self.recv_exact(self.u32())
        else:
            raise RFBError(f"unknown server message {t}")
        return t

    def update(self, incremental=False, timeout=30):
        """Asks for an update and reads until a framebuffer update came."""
        self.request(incremental)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.sock.settimeout(max(deadline - time.monotonic(), 0.1))
            # pseudo-rectangles alone (pointer type) come unasked
            if self.read_message() == 0 and (self.last_pixels or
                                             incremental):
                return self
        raise RFBError("no framebuffer update")

    def _read_rect(self):
        """Reads one rectangle; returns 1 for pixels, 0 for a pseudo one."""
        x, y, w, h, enc = struct.unpack(">HHHHi", self.recv_exact(12))
        if enc in (DESKTOP_SIZE, EXT_KEY, POINTER_TYPE):
            self._pseudo(x, y, w, h, enc)
            return 0
        if enc == RAW:
            bypp = self.pf["bpp"] // 8
            self._put_pixels(x, y, w, h, self.recv_exact(w * h * bypp))
        elif enc == ZLIB:
            data = self.recv_exact(self.u32())
            if self.zlib is None:
                self.zlib = zlib.decompressobj()
            self._put_pixels(x, y, w, h, self.zlib.decompress(data))
        elif enc == ZRLE:
            data = self.recv_exact(self.u32())
            if self.zrle is None:
                self.zrle = zlib.decompressobj()
            self._zrle(x, y, w, h, self.zrle.decompress(data))
        else:
            raise RFBError(f"unexpected encoding {enc}")
        return 1

    def _pseudo(self, x, y, w, h, enc):
        if enc == DESKTOP_SIZE:
            self.width, self.height = w, h
            self.fb = bytearray(w * h * 3)
            self.resized += 1
        elif enc == EXT_KEY:
            self.ext_key_ok = True
        else:
            self.absolute = bool(x)

    def _decode(self, data, count, bypp):
        """count pixels of bypp bytes each as RGB bytes."""
        pf = self.pf
        if pf == DEFAULT_PF or (bypp == 4 and pf["shift"] == (16, 8, 0) and
                                pf["max"] == (255, 255, 255) and
                                not pf["big_endian"]):
            out = bytearray(count * 3)
            out[0::3] = data[2::4]
            out[1::3] = data[1::4]
            out[2::3] = data[0::4]
            return out
        order = "big" if pf["big_endian"] else "little"
        out = bytearray()
        for i in range(count):
            v = int.from_bytes(data[i * bypp:(i + 1) * bypp], order)
            out += bytes(pixel_to_rgb(v, pf))
        return out

    def _blit(self, x, y, w, h, rgb):
        if x + w > self.width or y + h > self.height:
            raise RFBError(f"rectangle {w}x{h}+{x}+{y} outside "
                           f"{self.width}x{self.height}")
        for j in range(h):
            at = ((y + j) * self.width + x) * 3
            self.fb[at:at + w * 3] = rgb[j * w * 3:(j + 1) * w * 3]

    def _put_pixels(self, x, y, w, h, data):
        bypp = self.pf["bpp"] // 8
        if len(data) != w * h * bypp:
            raise RFBError(f"{len(data)} bytes for a {w}x{h} rectangle")
        self._blit(x, y, w, h, self._decode(data, w * h, bypp))

    def _cpixel(self):
        pf = self.pf
        if pf["bpp"] != 32 or pf["depth"] > 24:
            return pf["bpp"] // 8, None
        used = 0
        for i in range(3):
            used |= pf["max"][i] << pf["shift"][i]
        if not used & 0xff000000:
            return 3, "high"
        if not used & 0xff:
            return 3, "low"
        return 4, None

    def _cpixel_rgb(self, b, size, dropped):
        pf = self.pf
        if size == 3:
            # put the left-out byte back where the byte order had it
            high_first = pf["big_endian"]
            if dropped == "high":
                b = (b"\0" + b) if high_first else (b + b"\0")
            else:
                b = (b + b"\0") if high_first else (b"\0" + b)
        order = "big" if pf["big_endian"] else "little"
        return bytes(pixel_to_rgb(int.from_bytes(b, order), pf))

    def _zrle(self, x, y, w, h, data):
        size, dropped = self._cpixel()
        pos = 0

        def take(n):
            nonlocal pos
            if pos + n > len(data):
                raise RFBError("ZRLE data ends early")
            pos += n
            return data[pos - n:pos]

        def cpix():
            return self._cpixel_rgb(take(size), size, dropped)

        for ty in range(y, y + h, 64):
            th = min(64, y + h - ty)
            for tx in range(x, x + w, 64):
                tw = min(64, x + w - tx)
                sub = take(1)[0]
                n = tw * th
                if sub == 0:
                    px = [cpix() for _ in range(n)]
                elif sub == 1:
                    px = [cpix()] * n
                elif 2 <= sub <= 16:
                    pal = [cpix() for _ in range(sub)]
                    bits = 1 if sub == 2 else 2 if sub <= 4 else 4
                    px = []
                    for _ in range(th):
                        rowbytes = (tw * bits + 7) // 8
                        row = take(rowbytes)
                        for i in range(tw):
                            bit = i * bits
                            v = (row[bit // 8] >> (8 - bits - bit % 8)) & \
                                ((1 << bits) - 1)
                            px.append(pal[v])
                elif sub == 128 or sub >= 130:
                    pal = [cpix() for _ in range(sub - 128)] if sub > 128 \
                        else None
                    px = []
                    while len(px) < n:
                        if pal is None:
                            colour, run = cpix(), None
                        else:
                            idx = take(1)[0]
                            colour = pal[idx & 0x7f]
                            run = None if idx & 0x80 else 1
                        if run is None:
                            run = 1
                            while True:
                                b = take(1)[0]
                                run += b
                                if b != 255:
                                    break
                        px.extend([colour] * run)
                    if len(px) != n:
                        raise RFBError("ZRLE run past the tile")
                else:
                    raise RFBError(f"bad ZRLE subencoding {sub}")
                self._blit(tx, ty, tw, th, b"".join(px))
        if pos != len(data):
            raise RFBError(f"{len(data) - pos} ZRLE bytes left over")

    def rgb(self):
        return bytes(self.fb)
