"""Functional test modules run again against the sanitizer builds.

The unit and qtest programs already run from build-san (conftest.py).
Here whole functional modules run a second time, in a child pytest, with
VIREO_BUILD_DIR pointing at a sanitizer build:
- VIREO_SAN_BUILD_DIR (AddressSanitizer with LeakSanitizer, and UBSan):
  memory errors, leaks at exit, undefined behaviour;
- VIREO_TSAN_BUILD_DIR (ThreadSanitizer): data races between the vCPU
  threads, the main loop, the block layer's workers and the migration
  thread.
The sanitizers write their reports to files (log_path), not to stderr,
so a report fails the case even when the module's own checks pass (TSan
lets the program go on, and a leak shows only at exit). Each case is one
module, so the workers share them out.

CI runs the modules below: every one that needs no Debian guest, and one
that boots it. `make check-san` (VIREO_SAN_ALL=1) runs every functional
module under ASan and UBSan, the Debian guest's too: about twice the
suite's time, too long for CI. Run one by hand:
VIREO_TSAN_BUILD_DIR=build-tsan pytest -k tsan-test_qmp
tests/functional/test_sanitizers.py
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
FUNCTIONAL = REPO / "tests" / "functional"

# Modules that need no Debian guest run under both; a few guest modules
# cover the virtio, block and network paths with a real driver.
BOTH = ["test_testkernel.py", "test_testkernel_blk.py", "test_cpu_modes.py",
        "test_qmp.py", "test_hmp.py", "test_migration_cli.py",
        "test_snapshot.py", "test_gdbstub.py", "test_tcg_hostile.py",
        "test_vmstate.py", "test_exits.py", "test_kvm_irqchip.py",
        "test_kvm_ioeventfd.py"]
# (a module, or one test of it: the I/O thread's test-kernel runs)
IOTHREAD_TK = "test_iothread.py::test_testkernel_blk_on_an_iothread"
MODULES = {
    "asan": BOTH + ["test_cmdline.py", "test_blockdev.py", "test_vireo_img.py",
                    "test_qtest_cli.py", "test_fw_cfg_cli.py",
                    "test_virtio_blk.py", IOTHREAD_TK],
    "tsan": BOTH + [IOTHREAD_TK],
}
if os.environ.get("VIREO_SAN_ALL"):
    # the benchmark scripts' own tests run no Vireo; test_peer_faults
    # measures memory that ASan's quarantine would inflate
    MODULES["asan"] = sorted(
        p.name for p in FUNCTIONAL.glob("test_*.py")
        if p.name not in ("test_sanitizers.py", "test_peer_faults.py")
        and not p.name.startswith("test_bench"))
BUILD_ENV = {"asan": "VIREO_SAN_BUILD_DIR", "tsan": "VIREO_TSAN_BUILD_DIR"}


def sanitizer_env(san, module, build, logs):
    env = dict(os.environ)
    for var in BUILD_ENV.values():
        env.pop(var, None)
    env["VIREO_BUILD_DIR"] = str(build)
    env.pop("VIREO", None)
    if san == "asan":
        # LeakSanitizer stops the process's threads from a tracer it
        # clones; inside -sandbox's filter (spawn=deny) that clone fails
        # and LSan gives up, so sandboxed runs check memory errors only
        leaks = 0 if module == "test_sandbox.py" else 1
        env["ASAN_OPTIONS"] = (f"log_path={logs}/asan:detect_leaks={leaks}:"
                               "abort_on_error=1:disable_coredump=1")
        env["LSAN_OPTIONS"] = (f"suppressions={REPO}/tests/"
                               "lsan-suppressions.txt:print_suppressions=0")
        # Mesa's llvmpipe leaks when SDL's GL renderer goes, and is
        # unloaded before LSan could name it: SDL draws in software here
        env["SDL_RENDER_DRIVER"] = "software"
        env["SDL_FRAMEBUFFER_ACCELERATION"] = "0"
        env["UBSAN_OPTIONS"] = (f"log_path={logs}/ubsan:halt_on_error=1:"
                                "print_stacktrace=1")
    else:
        # keep running after a report, so one run shows them all; the
        # exit status stays the program's own
        env["TSAN_OPTIONS"] = (f"log_path={logs}/tsan:halt_on_error=0:"
                               "exitcode=0:second_deadlock_stack=1:"
                               f"suppressions={REPO}/tests/"
                               "tsan-suppressions.txt")
        # GLib's slice allocator recycles memory between threads through
        # magazines TSan cannot see into
        env["G_SLICE"] = "always-malloc"
    return env


@pytest.mark.slow
@pytest.mark.parametrize("san,module",
                         [(s, m) for s in MODULES for m in MODULES[s]],
                         ids=lambda v: v.split("::")[0].removesuffix(".py"))
def test_module_under_sanitizer(san, module, tmp_path):
    var = BUILD_ENV[san]
    if not os.environ.get(var):
        pytest.skip(f"{var} is not set (scripts/test.sh builds "
                    f"{'build-san' if san == 'asan' else 'build-tsan'})")
    build = Path(os.environ[var])
    if not (build / "vireo").exists():
        pytest.skip(f"{build}/vireo is not built")
    logs = tmp_path / "reports"
    logs.mkdir()
    r = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q",
         "-rfE", str(FUNCTIONAL / module)],
        cwd=REPO, env=sanitizer_env(san, module, build, logs),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        errors="replace", timeout=1500)
    reports = sorted(p for p in logs.iterdir() if p.stat().st_size)
    text = "".join(f"--- {p.name}\n{p.read_text(errors='replace')[:6000]}"
                   for p in reports[:4])
    assert not reports, f"{len(reports)} {san} report(s):\n{text}"
    # 5: every case skipped itself (no KVM here, say)
    assert r.returncode in (0, 5), r.stdout[-8000:]
