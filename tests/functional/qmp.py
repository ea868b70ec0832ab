"""A small QMP client for the tests (standard library only), as a
management tool would use it: connect, read the greeting, negotiate, run
commands and collect the events that arrive in between."""

import json
import socket
import time


class QMPError(Exception):
    pass


def connect(address, timeout=30):
    """A socket to address (a unix path, or (host, port)), retrying until
    the VMM listens: it may still be starting."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if isinstance(address, tuple):
                sock = socket.create_connection(address, timeout=5)
            else:
                sock = socket.socket(socket.AF_UNIX)
                sock.connect(str(address))
            sock.settimeout(timeout)
            return sock
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


class QMPClient:
    def __init__(self, address, negotiate=True, timeout=30):
        """address: a unix socket path, or (host, port). Retries until the
        VMM listens (it may still be starting)."""
        self.events = []
        self._buf = b""
        self.sock = connect(address, timeout)
        self.greeting = self.read_message()
        if negotiate:
            rsp = self.execute("qmp_capabilities")
            if "return" not in rsp:
                raise QMPError(f"negotiation failed: {rsp}")

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def send_raw(self, data):
        self.sock.sendall(data if isinstance(data, bytes) else data.encode())

    def read_message(self, timeout=None):
        """The next JSON text from the server (reply or event), whether one
        per line or indented over several (pretty=on)."""
        if timeout is not None:
            self.sock.settimeout(timeout)
        decoder = json.JSONDecoder()
        while True:
            text = self._buf.decode().lstrip()
            if text:
                try:
                    obj, end = decoder.raw_decode(text)
                    self._buf = text[end:].encode()
                    return obj
                except json.JSONDecodeError:
                    pass    # not complete yet
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("QMP connection closed")
            self._buf += chunk

    def response(self, timeout=None):
        """The next reply, keeping events that come first in self.events."""
        while True:
            msg = self.read_message(timeout)
            if "event" in msg:
                self.events.append(msg)
            else:
                return msg

    def execute(self, name, arguments=None, id=None, timeout=None):
        """Runs a command; returns the whole reply ({"return"} or
        {"error"})."""
        req = {"execute": name}
        if arguments is not None:
            req["arguments"] = arguments
        if id is not None:
            req["id"] = id
        self.send_raw(json.dumps(req) + "\n")
        return self.response(timeout)

    def cmd(self, name, arguments=None, **kw):
        """Runs a command and returns its "return" value, or raises."""
        rsp = self.execute(name, arguments, **kw)
        if "return" not in rsp:
            raise QMPError(f"{name}: {rsp}")
        return rsp["return"]

    def hmp(self, line):
        return self.cmd("human-monitor-command", {"command-line": line})

    def wait_event(self, name, timeout=60):
        """Returns the first event called name (already received or
        arriving within timeout)."""
        deadline = time.monotonic() + timeout
        while True:
            for i, ev in enumerate(self.events):
                if ev["event"] == name:
                    return self.events.pop(i)
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no {name} event in {timeout}s; got "
                                   f"{[e['event'] for e in self.events]}")
            try:
                msg = self.read_message(timeout=left)
            except socket.timeout:
                continue
            if "event" in msg:
                self.events.append(msg)
