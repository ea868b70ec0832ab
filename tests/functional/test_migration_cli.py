"""The monitors' side of migration, without a guest to run (-S, the
software CPU): HMP migrate without -d holds the prompt until the migration
ends, as QEMU's does, and runs what was typed meanwhile afterwards;
human-monitor-command cannot hold it and says so; migrate_cancel ends a tcp
connect that the peer never answers. test_migration.py migrates a busy
Debian guest.
"""

import os
import socket
import time

import pytest

from qmp import QMPClient
from vmrun import VMProcess, vireo_binary

BASE = ["-M", "pc", "-accel", "tcg", "-S", "-display", "none",
        "-nodefaults", "-m", "32"]


class VM:
    def __init__(self, tmp_path, name, *extra):
        self.qmp_path = tmp_path / f"{name}.qmp"
        self.vm = VMProcess([vireo_binary(), *BASE, "-qmp",
                             f"unix:{self.qmp_path},server=on,wait=off",
                             *extra], stdin=False)
        self.qmp = QMPClient(self.qmp_path)

    def status(self, what="query-migrate"):
        return self.qmp.cmd(what)["status"]

    def close(self):
        if self.vm.proc.poll() is None:
            self.vm.kill()
        self.vm.wait(timeout=10)
        self.qmp.close()


@pytest.fixture
def vms(tmp_path):
    made = []

    def start(name, *extra):
        made.append(VM(tmp_path, name, *extra))
        return made[-1]
    yield start
    for v in made:
        v.close()


class Terminal:
    """A client of -monitor unix:...: what it reads, prompt by prompt."""

    def __init__(self, path):
        deadline = time.monotonic() + 30
        while True:
            try:
                self.sock = socket.socket(socket.AF_UNIX)
                self.sock.connect(str(path))
                break
            except OSError:
                self.sock.close()
                assert time.monotonic() < deadline, "no monitor socket"
                time.sleep(0.05)
        self.buf = b""
        self.until_prompt()

    def send(self, text):
        self.sock.sendall(text.encode())

    def until_prompt(self, timeout=60):
        """Everything up to the next prompt (and the prompt is gone)."""
        self.sock.settimeout(timeout)
        while b"(qemu) " not in self.buf:
            chunk = self.sock.recv(65536)
            assert chunk, self.buf
            self.buf += chunk
        text, _, self.buf = self.buf.partition(b"(qemu) ")
        return text.decode().replace("\r\n", "\n")

    def prompt_within(self, seconds):
        self.sock.settimeout(seconds)
        try:
            chunk = self.sock.recv(65536)
        except socket.timeout:
            return False
        self.buf += chunk
        return b"(qemu) " in self.buf


def test_hmp_migrate_waits_for_the_end(tmp_path, vms):
    sock = tmp_path / "mig.sock"
    dst = vms("dst", "-incoming", f"unix:{sock}")
    mon = tmp_path / "hmp.sock"
    src = vms("src", "-monitor", f"unix:{mon},server=on,wait=off")
    term = Terminal(mon)
    # throttled so that the migration lasts a while
    src.qmp.cmd("migrate-set-parameters", {"max-bandwidth": 512 << 10})
    term.send(f"migrate unix:{sock}\ninfo status\n")
    assert not term.prompt_within(0.5)
    assert src.status() in ("setup", "active")
    out = term.until_prompt()
    assert src.status() == "completed"
    assert "Error" not in out, out
    # typed while it waited, run once it ended
    assert "VM status: paused (postmigrate)" in term.until_prompt()
    deadline = time.monotonic() + 30
    while dst.status() != "completed":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    # a failure is told where the prompt comes back
    term.send(f"migrate unix:{tmp_path}/nobody\n")
    out = term.until_prompt()
    assert "nobody" in out and "No such file or directory" in out, out
    # a URI that does not parse fails at once, -d or not
    term.send("migrate -d x:y\n")
    assert term.until_prompt().startswith("migrate -d x:y\nError: ")


def test_human_monitor_command_migrate_detaches(tmp_path, vms):
    src = vms("src")
    out = src.qmp.hmp(f"migrate file:{tmp_path}/state")
    assert out == "terminal does not allow synchronous migration, " \
                  "continuing detached\r\n"
    deadline = time.monotonic() + 30
    while src.status() != "completed":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert os.path.getsize(tmp_path / "state") > 0


def test_cancel_ends_a_connect_nobody_answers(tmp_path, vms):
    # a listener whose backlog is full: further SYNs go unanswered
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(0)
    port = server.getsockname()[1]
    filler = socket.create_connection(("127.0.0.1", port))
    src = vms("src")
    src.qmp.cmd("migrate", {"uri": f"tcp:127.0.0.1:{port}"})
    time.sleep(0.5)
    assert src.status() == "setup"
    src.qmp.cmd("migrate_cancel")
    deadline = time.monotonic() + 3
    while src.status() != "cancelled":
        assert time.monotonic() < deadline, src.qmp.cmd("query-migrate")
        time.sleep(0.05)
    assert src.status("query-status") == "prelaunch"
    filler.close()
    server.close()
