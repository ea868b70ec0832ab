"""pytest harness for Vireo's whole test suite (`make check` runs
`python3 -m pytest -n auto tests/`).

- GTest programs that meson builds as build/tests/unit/test-* are collected
  from tests/unit/meson.build: one pytest item per GTest test case, run as
  `test-X -p <path> --tap`; a failing case fails its item with its output.
- Fixtures for the functional tests: the vireo binary, KVM availability,
  and the Debian test guest (built once per worker by
  tests/guest/build-debian-guest.sh; the script itself serializes workers).
  The plain helpers live in tests/functional/vmrun.py.

Environment: VIREO (vireo binary), VIREO_BUILD_DIR (meson build dir,
default <repo>/build), VIREO_UNIT_TIMEOUT (seconds per GTest case, default
120), VIREO_KVM_RUNS_LINUX=0/1 (override kvm_runs_stock_linux()).
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "functional"))
import vmrun  # noqa: E402

UNIT_DIR = vmrun.BUILD_DIR / "tests" / "unit"
UNIT_TIMEOUT = float(os.environ.get("VIREO_UNIT_TIMEOUT", "120"))


# --- GTest programs as pytest items ----------------------------------------

class GTestError(Exception):
    """A GTest case that failed; carries the text to show."""


def pytest_collect_file(file_path, parent):
    if file_path.name == "meson.build" and file_path.parent.name == "unit" \
            and file_path.parent.parent.name == "tests":
        return GTestSuite.from_parent(parent, path=file_path)
    return None


def _unit_binaries():
    if not UNIT_DIR.is_dir():
        return []
    return sorted(p for p in UNIT_DIR.iterdir()
                  if p.name.startswith("test-") and p.is_file()
                  and os.access(p, os.X_OK))


class GTestSuite(pytest.File):
    """tests/unit/meson.build stands for the GTest programs it builds."""

    def collect(self):
        binaries = _unit_binaries()
        if not binaries:
            yield NotBuiltItem.from_parent(
                self, name="unit-tests-not-built",
                reason=f"no GTest programs in {UNIT_DIR}; run `make` first")
            return
        for binary in binaries:
            yield GTestProgram.from_parent(self, name=binary.name,
                                           binary=binary)


class GTestProgram(pytest.Collector):
    def __init__(self, *, binary, **kw):
        super().__init__(**kw)
        self.binary = binary

    def collect(self):
        try:
            p = subprocess.run([str(self.binary), "-l"], capture_output=True,
                               text=True, timeout=60)
        except (OSError, subprocess.TimeoutExpired) as e:
            yield BrokenItem.from_parent(self, name="list",
                                         message=f"{self.binary} -l: {e}")
            return
        paths = [l.strip() for l in p.stdout.splitlines()
                 if l.startswith("/")]
        if p.returncode != 0 or not paths:
            yield BrokenItem.from_parent(
                self, name="list",
                message=(f"{self.binary} -l exited {p.returncode} listing "
                         f"{len(paths)} cases:\n{p.stdout}{p.stderr}"))
            return
        for path in paths:
            # -p also runs the cases below a path; -s keeps this item to one.
            below = [q for q in paths if q.startswith(path + "/")]
            yield GTestCase.from_parent(self, name=path, binary=self.binary,
                                        path=path, below=below)


class GTestCase(pytest.Item):
    def __init__(self, *, binary, path, below, **kw):
        super().__init__(**kw)
        self.binary = binary
        self.path = path
        self.below = below

    def runtest(self):
        args = [str(self.binary), "--tap", "-p", self.path]
        for q in self.below:
            args += ["-s", q]
        try:
            p = subprocess.run(args, capture_output=True, text=True,
                               timeout=UNIT_TIMEOUT)
        except subprocess.TimeoutExpired as e:
            out = (e.stdout or b"").decode(errors="replace") \
                if isinstance(e.stdout, bytes) else (e.stdout or "")
            raise GTestError(f"$ {' '.join(args)}\ntimed out after "
                             f"{UNIT_TIMEOUT:.0f}s\n{out}")
        status = None
        for line in p.stdout.splitlines():
            words = line.split(None, 2)
            if len(words) >= 3 and words[0] in ("ok", "not") and \
                    line.split("#")[0].split()[-1] == self.path:
                status = line
        report = (f"$ {' '.join(args)}\nexit status {p.returncode}\n"
                  f"--- stdout\n{p.stdout}--- stderr\n{p.stderr}")
        if status is None:
            why = f"killed by signal {-p.returncode}" if p.returncode < 0 \
                else f"exit status {p.returncode}"
            raise GTestError(f"{self.path}: no TAP result ({why})\n{report}")
        directive = status.partition("#")[2].strip()
        if status.startswith("ok") and directive.upper().startswith("SKIP"):
            pytest.skip(f"{self.binary.name} {self.path}: "
                        f"{directive[4:].strip() or 'skipped by the test'}")
        if status.startswith("not ok") and directive.upper().startswith("TODO"):
            pytest.xfail(directive[4:].strip() or "marked TODO")
        if not status.startswith("ok") or p.returncode != 0:
            raise GTestError(report)

    def repr_failure(self, excinfo):
        if isinstance(excinfo.value, GTestError):
            return str(excinfo.value)
        return super().repr_failure(excinfo)

    def reportinfo(self):
        return self.binary, None, f"{self.binary.name}: {self.path}"


class NotBuiltItem(pytest.Item):
    def __init__(self, *, reason, **kw):
        super().__init__(**kw)
        self.reason = reason

    def runtest(self):
        pytest.skip(self.reason)

    def reportinfo(self):
        return self.path, None, self.name


class BrokenItem(pytest.Item):
    def __init__(self, *, message, **kw):
        super().__init__(**kw)
        self.message = message

    def runtest(self):
        raise GTestError(self.message)

    def repr_failure(self, excinfo):
        return str(excinfo.value)

    def reportinfo(self):
        return self.path, None, self.name


# --- fixtures for functional tests -------------------------------------------

@pytest.fixture(scope="session")
def vireo_binary():
    """Path of the vireo binary; skips the test when it is not built."""
    path = vmrun.vireo_binary()
    if not vmrun.vireo_built():
        pytest.skip(f"vireo binary not found at {path} (run `make`, or set "
                    "VIREO=/path/to/vireo)")
    return path


@pytest.fixture(scope="session")
def require_kvm():
    """Skips the test unless /dev/kvm can be opened read-write."""
    ok, reason = vmrun.kvm_usable()
    if not ok:
        pytest.skip(f"needs KVM: {reason}")


@pytest.fixture(scope="session")
def require_kvm_stock_linux():
    """Skips the test unless this host's KVM can run a stock Linux kernel
    (see vmrun.kvm_runs_stock_linux for how that is decided)."""
    ok, reason = vmrun.kvm_runs_stock_linux()
    if not ok:
        pytest.skip(f"needs a KVM that runs a stock Linux kernel: {reason}")


@pytest.fixture(scope="session")
def debian_guest(tmp_path_factory):
    """The Debian kernel + busybox initramfs guest, built (or found up to
    date) by tests/guest/build-debian-guest.sh: a dict with vmlinuz, initrd
    and the facts of guest.env (KERNEL_RELEASE, INITRD_SHA256, ...)."""
    try:
        return vmrun.build_debian_guest()
    except vmrun.GuestBuildError as e:
        msg = str(e)
        if "apt-get download" in msg or "apt-get update" in msg or \
                "cannot resolve the kernel package" in msg:
            pytest.skip(f"cannot build the Debian test guest: {msg}")
        pytest.fail(f"tests/guest/build-debian-guest.sh failed:\n{msg}",
                    pytrace=False)
    except subprocess.TimeoutExpired:
        pytest.fail("tests/guest/build-debian-guest.sh timed out",
                    pytrace=False)


def pytest_report_header(config):
    kvm_ok, kvm_reason = vmrun.kvm_usable()
    linux_ok, linux_reason = vmrun.kvm_runs_stock_linux()
    return [f"vireo: {vmrun.vireo_binary()}"
            f"{'' if vmrun.vireo_built() else ' (not built)'}",
            f"kvm: {kvm_reason}; stock Linux under KVM: "
            f"{'yes' if linux_ok else 'no'} ({linux_reason})"]
