"""Helpers shared by Vireo's functional tests and benchmarks: where the
binaries are, whether this host's KVM can run a given kind of guest, and
running a VM with a timeout while capturing its serial console.

Plain Python (no pytest import), so tests/bench scripts can use it too.
"""

import fcntl
import os
import re
import selectors
import shlex
import signal
import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BUILD_DIR = Path(os.environ.get("VIREO_BUILD_DIR", REPO / "build"))
GUEST_DIR = REPO / "tests" / "guest"
DEBIAN_GUEST_SCRIPT = GUEST_DIR / "build-debian-guest.sh"


def vireo_binary():
    """Path of the vireo binary under test: $VIREO, else <repo>/build/vireo."""
    return Path(os.environ.get("VIREO", BUILD_DIR / "vireo"))


def vireo_built():
    path = vireo_binary()
    return path.is_file() and os.access(path, os.X_OK)


# --- what this host's KVM can do -------------------------------------------

def kvm_usable():
    """(ok, reason): /dev/kvm exists and this user can open it read-write."""
    try:
        fd = os.open("/dev/kvm", os.O_RDWR | os.O_CLOEXEC)
    except OSError as e:
        return False, f"/dev/kvm is not usable: {e.strerror}"
    os.close(fd)
    return True, "/dev/kvm is usable"


def _cpu_flags():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def kvm_runs_stock_linux():
    """(ok, reason): can this host's KVM run an unmodified Linux kernel?

    Not every /dev/kvm can. The machines this project is developed on have a
    paravirtualized nested KVM (the kvm_pvm module) that runs small long-mode
    kernels but not a stock distribution kernel (Debian's own QEMU fails on it
    too). A KVM that can run one is backed by hardware virtualization, which
    shows as the vmx (Intel) or svm (AMD) CPU flag, also inside a VM that
    offers nested virtualization. So: /dev/kvm usable, kvm_pvm not loaded,
    and vmx or svm present. VIREO_KVM_RUNS_LINUX=1 or =0 overrides the guess.
    """
    forced = os.environ.get("VIREO_KVM_RUNS_LINUX")
    if forced in ("0", "1"):
        return forced == "1", f"VIREO_KVM_RUNS_LINUX={forced} is set"
    ok, reason = kvm_usable()
    if not ok:
        return False, reason
    if os.path.exists("/sys/module/kvm_pvm"):
        return False, ("/dev/kvm is the nested kvm_pvm, which cannot run a "
                       "stock Linux kernel")
    flags = _cpu_flags()
    if not flags & {"vmx", "svm"}:
        return False, ("the CPU shows no vmx/svm flag, so this KVM has no "
                       "hardware virtualization to run a stock Linux kernel")
    return True, "KVM with hardware virtualization"


# --- running a VM ----------------------------------------------------------

def sandbox_args(args):
    """args with `-sandbox on` after the program when VIREO_TEST_SANDBOX is
    set and the program is Vireo, so the whole suite can run sandboxed.
    VIREO_TEST_SANDBOX=1 means `on`; any other value (`on,spawn=deny`) is
    the option's argument. A test's own -sandbox comes later and adjusts
    it (see docs/sandbox.md)."""
    value = os.environ.get("VIREO_TEST_SANDBOX", "")
    if value in ("", "0") or not args:
        return args
    prog = Path(args[0])
    if prog.name not in ("vireo", "vireo-system-x86_64") and \
            prog != vireo_binary():
        return args
    return [args[0], "-sandbox", "on" if value == "1" else value, *args[1:]]


@dataclass
class VMResult:
    """What a finished (or killed) VM left behind."""
    returncode: int          # negative: killed by that signal
    output: str              # stdout and stderr, interleaved as received
    timed_out: bool
    duration: float          # seconds from start to exit
    first_output: float = None  # seconds from start to the first byte out
    args: list = field(default_factory=list)

    def __repr__(self):
        # pytest shows this in assertion rewrites; describe() has the output.
        return (f"VMResult(returncode={self.returncode}, "
                f"timed_out={self.timed_out}, duration={self.duration:.1f})")

    def describe(self):
        """A text for assertion messages: command, status and output tail."""
        state = "timed out and was killed" if self.timed_out \
            else f"exited with {self.returncode}"
        tail = self.output[-4000:]
        return (f"$ {shlex.join(str(a) for a in self.args)}\n"
                f"{state} after {self.duration:.1f}s; output (last 4000 "
                f"chars):\n{tail}")


class VMProcess:
    """A VMM process whose stdout/stderr (the serial console with
    -nographic) is collected by a background thread.

    Use as a context manager; leaving the block kills the process group if it
    is still running. `expect(pattern)` waits for output, `send()` types on
    its stdin, `wait()` waits for it to exit.
    """

    def __init__(self, args, env=None, cwd=None, stdin=True):
        self.args = sandbox_args([str(a) for a in args])
        self.start_time = time.monotonic()
        self.first_output = None
        self._buf = bytearray()
        self._cond = threading.Condition()
        self._eof = False
        self.proc = subprocess.Popen(
            self.args, stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env,
            cwd=cwd, start_new_session=True)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self):
        sel = selectors.DefaultSelector()
        fd = self.proc.stdout.fileno()
        sel.register(fd, selectors.EVENT_READ)
        while True:
            sel.select()
            chunk = os.read(fd, 65536)
            with self._cond:
                if not chunk:
                    self._eof = True
                    self._cond.notify_all()
                    break
                if self.first_output is None:
                    self.first_output = time.monotonic() - self.start_time
                self._buf += chunk
                self._cond.notify_all()
        sel.close()

    @property
    def output(self):
        with self._cond:
            return self._buf.decode("utf-8", "replace")

    def expect(self, pattern, timeout=60):
        """Wait until the output matches regex `pattern`; returns the match
        or None on timeout or when the process closed its output first."""
        rx = re.compile(pattern.encode() if isinstance(pattern, str)
                        else pattern, re.M)
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                m = rx.search(self._buf)
                if m:
                    return m
                left = deadline - time.monotonic()
                if self._eof or left <= 0:
                    return None
                self._cond.wait(left)

    def send(self, text):
        self.proc.stdin.write(text.encode() if isinstance(text, str) else text)
        self.proc.stdin.flush()

    def kill(self, sig=signal.SIGKILL):
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                pass

    def wait(self, timeout=60):
        """Wait for exit; on timeout, SIGTERM then SIGKILL the process group.
        Returns a VMResult."""
        timed_out = False
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            self.kill(signal.SIGTERM)
            try:
                self.proc.wait(timeout=3)
            except subprocess.TimeoutExpired:
                self.kill(signal.SIGKILL)
                self.proc.wait()
        duration = time.monotonic() - self.start_time
        self._reader.join(timeout=5)
        for f in (self.proc.stdin, self.proc.stdout):
            if f:
                try:
                    f.close()
                except OSError:
                    pass
        return VMResult(self.proc.returncode, self.output, timed_out,
                        duration, self.first_output, self.args)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.proc.poll() is None:
            self.kill(signal.SIGKILL)
        self.wait(timeout=10)
        return False


def read_tcp_until(port, marker, timeout=60):
    """Connects to 127.0.0.1:port (a guest's service behind hostfwd) until
    what one connection sends, read to its end, contains marker, or
    timeout seconds passed; returns the last connection's bytes."""
    got = b""
    deadline = time.monotonic() + timeout
    while marker not in got and time.monotonic() < deadline:
        got = b""
        try:
            with socket.create_connection(("127.0.0.1", port),
                                          timeout=10) as s:
                while chunk := s.recv(100):
                    got += chunk
        except OSError:
            time.sleep(0.5)
    return got


def run_vm(args, timeout=60, env=None, cwd=None, input=None):
    """Run a VMM to completion (or kill it after `timeout` seconds) and
    return a VMResult with everything it printed."""
    with VMProcess(args, env=env, cwd=cwd, stdin=input is not None) as vm:
        if input is not None:
            vm.send(input)
        return vm.wait(timeout=timeout)


# --- guests built by the tests ---------------------------------------------

def make_locked(source_dir, outdir):
    """Run `make -C source_dir O=outdir`, serialized between concurrent
    callers (pytest-xdist workers) by a lock file in outdir; make does
    nothing when the images are up to date. Returns the CompletedProcess."""
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    with open(outdir / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return subprocess.run(["make", "-s", "-C", str(source_dir),
                               f"O={outdir}"], capture_output=True,
                              text=True, timeout=300)


# --- the Debian test guest -------------------------------------------------

class GuestBuildError(Exception):
    pass


def build_debian_guest(cache=None, timeout=900):
    """Run tests/guest/build-debian-guest.sh (cached; fast when up to date)
    and return a dict: vmlinuz, initrd (Paths) and the facts of guest.env
    (KERNEL_RELEASE, INITRD_SHA256, ...). Raises GuestBuildError with the
    script's output when it fails."""
    env = dict(os.environ)
    if cache:
        env["VIREO_GUEST_CACHE"] = str(cache)
    p = subprocess.run([str(DEBIAN_GUEST_SCRIPT), "--quiet"], env=env,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True, timeout=timeout)
    if p.returncode != 0:
        raise GuestBuildError(p.stderr.strip() or p.stdout.strip())
    paths = dict(line.split("=", 1) for line in p.stdout.splitlines()
                 if "=" in line)
    guest = {"vmlinuz": Path(paths["vmlinuz"]),
             "initrd": Path(paths["initrd"])}
    with open(paths["env"]) as f:
        for line in f:
            if "=" in line:
                k, v = line.rstrip("\n").split("=", 1)
                guest[k] = v
    return guest


def parse_guest_info(output, marker="VIREO-INFO"):
    """Parse the guest's `VIREO-INFO k=v ... cmdline=<rest>` line into a
    dict (cmdline keeps its spaces), or None when the line is missing."""
    for line in output.splitlines():
        line = line.strip("\r")
        idx = line.find(marker + " ")
        if idx < 0:
            continue
        rest = line[idx + len(marker) + 1:]
        info = {}
        head, sep, cmdline = rest.partition("cmdline=")
        for word in head.split():
            if "=" in word:
                k, v = word.split("=", 1)
                info[k] = v
        if sep:
            info["cmdline"] = cmdline.strip()
        return info
    return None
