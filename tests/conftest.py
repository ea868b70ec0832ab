"""pytest harness for Vireo's whole test suite (`make check` runs
`python3 -m pytest -n auto tests/`).

- GTest programs that meson builds are collected from the meson.build that
  builds them: build/tests/unit/test-* from tests/unit/meson.build, and the
  qtest device tests build/tests/qtest/qtest-* and
  build/tests/qtest/virtio/qtest-* from tests/qtest/meson.build and
  tests/qtest/virtio/meson.build. One pytest item per GTest test case, run
  as `PROGRAM -p <path> --tap`; a failing case fails its item with its
  output. qtest programs run against $VIREO, else <build>/vireo.
- VIREO_SAN_BUILD_DIR names a second meson build (AddressSanitizer and
  UBSan): its unit and qtest programs are collected too, under a "san"
  node of each meson.build, with its own vireo and sanitizer options that
  turn any report into a failure.
- Fixtures for the functional tests: the vireo binary, KVM availability,
  and the Debian test guest (built once per worker by
  tests/guest/build-debian-guest.sh; the script itself serializes workers).
  The plain helpers live in tests/functional/vmrun.py.

Environment: VIREO (vireo binary), VIREO_BUILD_DIR (meson build dir,
default <repo>/build), VIREO_SAN_BUILD_DIR (sanitizer build dir, optional),
VIREO_UNIT_TIMEOUT (seconds per GTest case, default 120),
VIREO_KVM_RUNS_LINUX=0/1 (override kvm_runs_stock_linux()).
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "functional"))
import vmrun  # noqa: E402

UNIT_TIMEOUT = float(os.environ.get("VIREO_UNIT_TIMEOUT", "120"))
SAN_BUILD_DIR = (Path(os.environ["VIREO_SAN_BUILD_DIR"])
                 if os.environ.get("VIREO_SAN_BUILD_DIR") else None)
# any sanitizer report ends the program with a failure
SAN_ENV = {"ASAN_OPTIONS": "detect_leaks=1:abort_on_error=1",
           "UBSAN_OPTIONS": "halt_on_error=1:print_stacktrace=1"}

# source folder of a meson.build -> prefix of the GTest programs it builds
GTEST_DIRS = {
    Path("tests/unit"): "test-",
    Path("tests/qtest"): "qtest-",
    Path("tests/qtest/virtio"): "qtest-",
}


# --- GTest programs as pytest items ----------------------------------------

class GTestError(Exception):
    """A GTest case that failed; carries the text to show."""


def pytest_collect_file(file_path, parent):
    if file_path.name != "meson.build":
        return None
    try:
        rel = file_path.parent.resolve().relative_to(vmrun.REPO)
    except ValueError:
        return None
    if rel not in GTEST_DIRS:
        return None
    return GTestSuite.from_parent(parent, path=file_path, rel=rel,
                                  prefix=GTEST_DIRS[rel])


def _gtest_binaries(directory, prefix):
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.iterdir()
                  if p.name.startswith(prefix) and p.is_file()
                  and os.access(p, os.X_OK))


def _gtest_env(build_dir, prefix, sanitized):
    """Environment additions for the programs of one build."""
    env = dict(SAN_ENV) if sanitized else {}
    if prefix == "qtest-":
        # the sanitizer build's qtests test the sanitizer build's vireo
        env["VIREO"] = str(build_dir / "vireo" if sanitized
                           else vmrun.vireo_binary())
    return env


def _collect_programs(node, build_dir, rel, prefix, sanitized):
    directory = build_dir / rel
    binaries = _gtest_binaries(directory, prefix)
    if not binaries:
        yield NotBuiltItem.from_parent(
            node, name=f"{rel.name}-tests-not-built",
            reason=f"no GTest programs {prefix}* in {directory}; "
                   "run `make` (or ninja in that build) first")
        return
    env = _gtest_env(build_dir, prefix, sanitized)
    for binary in binaries:
        yield GTestProgram.from_parent(node, name=binary.name,
                                       binary=binary, env=env)


class GTestSuite(pytest.File):
    """A tests/*/meson.build stands for the GTest programs it builds."""

    def __init__(self, *, rel, prefix, **kw):
        super().__init__(**kw)
        self.rel = rel
        self.prefix = prefix

    def collect(self):
        yield from _collect_programs(self, vmrun.BUILD_DIR, self.rel,
                                     self.prefix, sanitized=False)
        if SAN_BUILD_DIR is not None:
            yield SanitizedPrograms.from_parent(self, name="san",
                                                rel=self.rel,
                                                prefix=self.prefix)


class SanitizedPrograms(pytest.Collector):
    """The same programs from the AddressSanitizer/UBSan build."""

    def __init__(self, *, rel, prefix, **kw):
        super().__init__(**kw)
        self.rel = rel
        self.prefix = prefix

    def collect(self):
        yield from _collect_programs(self, SAN_BUILD_DIR, self.rel,
                                     self.prefix, sanitized=True)


class GTestProgram(pytest.Collector):
    def __init__(self, *, binary, env=None, **kw):
        super().__init__(**kw)
        self.binary = binary
        self.env = {**os.environ, **(env or {})}

    def collect(self):
        try:
            p = subprocess.run([str(self.binary), "-l"], capture_output=True,
                               text=True, timeout=60, env=self.env)
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
                                        path=path, below=below, env=self.env)


class GTestCase(pytest.Item):
    def __init__(self, *, binary, path, below, env, **kw):
        super().__init__(**kw)
        self.binary = binary
        self.path = path
        self.below = below
        self.env = env

    def runtest(self):
        args = [str(self.binary), "--tap", "-p", self.path]
        for q in self.below:
            args += ["-s", q]
        try:
            p = subprocess.run(args, capture_output=True, text=True,
                               timeout=UNIT_TIMEOUT, env=self.env)
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


# Modules whose tests share a module-scoped boot run on one xdist worker
# (run.py passes --dist loadgroup), so the boot happens once and tests that
# build on an earlier one (test_migration's state file) see it; the tests
# of other modules spread over the workers.
@pytest.hookimpl(tryfirst=True)   # before xdist reads the groups
def pytest_collection_modifyitems(config, items):
    for item in items:
        info = getattr(item, "_fixtureinfo", None)
        defs = info.name2fixturedefs.values() if info else ()
        if any(d and d[-1].scope == "module" for d in defs):
            item.add_marker(pytest.mark.xdist_group(item.module.__name__))


def pytest_report_header(config):
    kvm_ok, kvm_reason = vmrun.kvm_usable()
    linux_ok, linux_reason = vmrun.kvm_runs_stock_linux()
    return [f"vireo: {vmrun.vireo_binary()}"
            f"{'' if vmrun.vireo_built() else ' (not built)'}",
            f"kvm: {kvm_reason}; stock Linux under KVM: "
            f"{'yes' if linux_ok else 'no'} ({linux_reason})"]
