"""Runs each libFuzzer target briefly (tests/fuzz/run-fuzz.sh): the
suite fails if the fuzzer finds a crash, a leak, a timeout or a sanitizer
report in that time. `make fuzz` runs them for longer."""

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
# 20 targets on the suite's 2 workers: about 3 minutes in all (each
# target also takes about 8 s to start, seeds included, and 5 s to link)
SECONDS = int(os.environ.get("VIREO_FUZZ_SECONDS", "10"))
TARGETS = subprocess.run(
    ["bash", str(REPO / "tests/fuzz/run-fuzz.sh"), "--list"],
    capture_output=True, text=True, check=True).stdout.split()


def test_every_target_is_listed():
    """run-fuzz.sh (and so this suite and `make fuzz`) runs every target
    meson builds."""
    build = (REPO / "tests/fuzz/meson.build").read_text()
    assert sorted(re.findall(r"'(fuzz-[a-z0-9-]+)'", build)) == \
        sorted(TARGETS)


@pytest.mark.slow
@pytest.mark.parametrize("target", TARGETS)
def test_fuzz_target_finds_nothing(target):
    if not shutil.which("clang"):
        pytest.skip("clang is not installed (scripts/install-deps.sh "
                    "installs it)")
    r = subprocess.run(["bash", str(REPO / "tests/fuzz/run-fuzz.sh"), target],
                       cwd=REPO, env={**os.environ, "FUZZ_TIME": str(SECONDS)},
                       capture_output=True, text=True, errors="replace",
                       timeout=1200)
    tail = (r.stdout + r.stderr)[-6000:]
    assert r.returncode == 0, tail
    assert "Done" in tail and "runs in" in tail, tail
