"""tests/bench/virtio without booting a guest: its help, the guest programs
it compiles (randread and timeit, run here on the host against a temporary
file), the initrd archive it builds, how it reads the guest's lines, and
that writing its RESULTS.md section keeps the other benchmarks' sections.
A few seconds in all."""

import importlib.machinery
import importlib.util
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"
SCRIPT = BENCH / "virtio"


def load_bench():
    loader = importlib.machinery.SourceFileLoader("bench_virtio", str(SCRIPT))
    spec = importlib.util.spec_from_loader("bench_virtio", loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def bench():
    return load_bench()


@pytest.fixture(scope="module")
def programs(bench, tmp_path_factory):
    return bench.compile_guest_programs(tmp_path_factory.mktemp("progs"))


def test_help_exits_0_and_says_which_ratio_is_better():
    p = subprocess.run([sys.executable, str(SCRIPT), "--help"],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stderr
    assert "--machines" in p.stdout and "--write" in p.stdout
    assert "ABOVE 1 VIREO IS FASTER" in p.stdout


@pytest.mark.parametrize("mode", ["aio", "threads"])
def test_randread_reads_a_file_at_depth_16_and_prints_iops(programs,
                                                           tmp_path, mode):
    target = tmp_path / "disk.img"
    target.write_bytes(bytes(range(256)) * 4096 * 4)    # 4 MiB
    p = subprocess.run([str(programs["randread"]), "-q", "16", "-t", "0.3",
                        "-m", mode, str(target)],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stderr
    m = re.match(r"RANDREAD iops=(\d+) reads=(\d+) seconds=([\d.]+) "
                 r"depth=16 bs=4096 mode=(\w+) size=4194304$",
                 p.stdout.strip())
    assert m, p.stdout
    assert int(m.group(1)) > 0 and int(m.group(2)) > 0
    assert m.group(4) == mode


def test_randread_fails_clearly_on_a_missing_file(programs, tmp_path):
    p = subprocess.run([str(programs["randread"]), "-t", "0.1",
                        str(tmp_path / "missing")],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 1
    assert "No such file" in p.stderr and not p.stdout


def test_timeit_reports_time_and_passes_the_status_on(programs):
    ok = subprocess.run([str(programs["timeit"]), "sleep", "0.2"],
                        capture_output=True, text=True, timeout=30)
    m = re.match(r"TIMEIT seconds=([\d.]+) status=0$", ok.stdout.strip())
    assert ok.returncode == 0 and m, ok.stdout + ok.stderr
    assert 0.15 < float(m.group(1)) < 5
    bad = subprocess.run([str(programs["timeit"]), "sh", "-c", "exit 3"],
                         capture_output=True, text=True, timeout=30)
    assert bad.returncode == 3 and "status=3" in bad.stdout


def test_initrd_archive_holds_the_script_and_programs(bench, tmp_path):
    if not shutil.which("cpio"):
        pytest.skip("cpio is missing")
    data = bench.cpio_newc([("bench", 0o040755, None),
                            ("bench/run.sh", 0o100755, b"echo hi\n")])
    assert len(data) % 512 == 0
    p = subprocess.run(["cpio", "-it", "--quiet"], input=data,
                       capture_output=True, timeout=30)
    assert p.stdout.decode().split() == ["bench", "bench/run.sh"], p.stderr


def test_guest_lines_become_metrics_and_failures(bench):
    before = {"1": ("vireo", 1.0, 0.0), "2": ("CPU 0/tcg", 5.0, 1.0)}
    after = {"1": ("vireo", 1.5, 0.5), "2": ("CPU 0/tcg", 6.0, 2.0)}
    lines = [(10.0, "VBENCH-MARK seqread", before),
             (11.0, "some kernel message", None),
             (12.0, "VBENCH seqread bytes=200000000 TIMEIT seconds=2.000000 "
                    "status=0", after),
             (12.1, "VBENCH-MARK randread", None),
             (22.2, "VBENCH randread RANDREAD iops=1500 reads=15000 "
                    "seconds=10.0 depth=16 bs=4096 mode=aio size=1", None),
             (22.3, "VBENCH-FAIL download no virtio-net interface", None)]
    values, failures = bench.parse_guest(lines)
    assert values["seqread"] == (100.0, 2.0, 2.0, (0.5, 0.5, 0.25))
    assert values["randread"][:2] == (1500.0, 10.0)
    assert failures == {"download": "no virtio-net interface"}


def test_write_keeps_the_other_sections(tmp_path):
    sys.path.insert(0, str(BENCH))
    import benchlib
    results = tmp_path / "RESULTS.md"
    results.write_text("# Title\n\n## -accel kvm\n\nkvm\n\n"
                       "## -accel tcg\n\ntcg\n")
    benchlib.write_section("## virtio\n\nfirst\n", results)
    benchlib.write_section("## virtio\n\nsecond\n", results)
    benchlib.write_section("## -accel kvm\n\nkvm2\n", results)
    assert results.read_text() == ("# Title\n\n## -accel kvm\n\nkvm2\n\n"
                                   "## -accel tcg\n\ntcg\n\n"
                                   "## virtio\n\nsecond\n")
