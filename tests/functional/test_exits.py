"""The exit benchmark's guest and script: the test kernel's action=exits
(tests/guest/testkernel/exits.c) on Vireo's microvm with a
virtio-rng-device, and tests/bench/exits's parsing and report.

Under KVM the kernel's three figures (port I/O read, MMIO read, ioeventfd
doorbell) must be there and sane, the doorbell's request must come back
from the device, and `-d exec_stats` must show that the doorbell's writes
did not exit to Vireo while the port and MMIO reads did. On the software
CPU the same lines come out (no VM exits there). Without the device, the
kernel reports what is missing and fails, but still times the port.
"""
import importlib.machinery
import importlib.util
import math
import re
import subprocess
import sys
from pathlib import Path

import pytest

import testkernel as tk
from vmrun import kvm_usable, run_vm, vireo_binary, vireo_built

BENCH = Path(__file__).resolve().parents[1] / "bench" / "exits"
ROUNDS = 20000
METRICS = ("pio", "mmio", "doorbell")

needs_vireo = pytest.mark.skipif(
    not vireo_built(), reason=f"vireo binary not found at {vireo_binary()}")
needs_kvm = pytest.mark.skipif(not kvm_usable()[0], reason=kvm_usable()[1])


def load_bench():
    loader = importlib.machinery.SourceFileLoader("bench_exits", str(BENCH))
    spec = importlib.util.spec_from_loader("bench_exits", loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def bench():
    return load_bench()


@pytest.fixture(scope="module")
def kernel():
    missing = tk.toolchain_missing()
    if missing:
        pytest.skip(f"cannot build the test kernel: {missing}")
    try:
        return tk.build()["bzimage"]
    except tk.BuildError as e:
        pytest.fail(f"test kernel build failed:\n{e}", pytrace=False)


def run_exits(kernel, accel, append="", devices=("virtio-rng-device",),
              extra=(), rounds=ROUNDS):
    args = [vireo_binary(), "-M", "microvm,acpi=off"]
    args += ["-enable-kvm", "-cpu", "host"] if accel == "kvm" \
        else ["-accel", "tcg"]
    args += ["-m", "256", "-kernel", kernel, "-append",
             f"test=none action=exits exits_n={rounds} {append}".strip(),
             "-nographic", "-no-reboot", "-d", "exec_stats",
             "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04"]
    for d in devices:
        args += ["-device", d]
    return run_vm(args + list(extra), timeout=120)


def check_figures(bench, r):
    assert r.returncode == tk.EXIT_PASS, r.describe()
    report = bench.parse_output(r.output)
    assert report["fails"] == [], r.describe()
    assert report["tsc_khz"] and report["tsc_khz"] > 100000, r.describe()
    for name in METRICS:
        m = report["metrics"].get(name)
        assert m, f"no EXITS {name} line\n{r.describe()}"
        assert m["n"] == ROUNDS
        for key in ("ns", "min_ns"):
            assert math.isfinite(m[key]) and 0 < m[key] < 1e6, (name, m)
        assert m["min_ns"] <= m["ns"], (name, m)
    assert report["delivered"], r.describe()
    return report


def rounds_of(n):
    """Accesses per metric: the timed rounds and the warm-up."""
    return n + n // 10 + 1


@needs_vireo
@needs_kvm
def test_kvm_exits_are_timed_and_the_doorbell_stays_in_the_kernel(
        bench, kernel):
    r = run_exits(kernel, "kvm")
    check_figures(bench, r)
    m = re.search(r"vCPU 0: (\d+) exits to Vireo \((\d+) I/O port, "
                  r"(\d+) MMIO\)", r.output)
    assert m, r.describe()
    io, mmio = int(m.group(2)), int(m.group(3))
    # every port read and MMIO read exits; the doorbell's writes, as many
    # again, may add only the device set-up and the final request
    assert io >= rounds_of(ROUNDS), r.describe()
    assert rounds_of(ROUNDS) <= mmio < rounds_of(ROUNDS) + ROUNDS // 10, \
        f"the doorbell exited to Vireo: {mmio} MMIO exits\n{r.describe()}"


@needs_vireo
@needs_kvm
def test_kvm_doorbell_exits_without_ioeventfd(bench, kernel):
    """The control: with the transport's ioeventfd off, each doorbell
    write is an MMIO exit, so the count above does see them."""
    mmio_exits = []
    for extra in ((), ("-global", "virtio-mmio.ioeventfd=off")):
        r = run_exits(kernel, "kvm", append="exits=doorbell", extra=extra)
        assert r.returncode == tk.EXIT_PASS, r.describe()
        m = re.search(r"(\d+) MMIO\)", r.output)
        assert m, r.describe()
        mmio_exits.append(int(m.group(1)))
    base, off = mmio_exits
    assert base < ROUNDS // 10 and off >= rounds_of(ROUNDS), (base, off)


@needs_vireo
def test_tcg_reports_the_same_figures(bench, kernel):
    check_figures(bench, run_exits(kernel, "tcg"))


@needs_vireo
def test_without_the_device_it_fails_but_times_the_port(bench, kernel):
    r = run_exits(kernel, "tcg", devices=())
    assert r.returncode == tk.EXIT_FAIL, r.describe()
    report = bench.parse_output(r.output)
    assert "pio" in report["metrics"], r.describe()
    assert "mmio" not in report["metrics"], r.describe()
    assert any("no virtio-rng device" in f for f in report["fails"]), \
        r.describe()


@needs_vireo
def test_bad_round_count_falls_back_to_the_default(bench, kernel):
    r = run_exits(kernel, "tcg", append="exits=pio exits_n=12x")
    assert r.returncode == tk.EXIT_PASS, r.describe()
    assert "exits_n must be" in r.output, r.describe()
    report = bench.parse_output(r.output)
    assert report["metrics"]["pio"]["n"] == 100000
    assert set(report["metrics"]) == {"pio"}


# --- the script, without booting -------------------------------------------

SAMPLE = """vireo testkernel: boot=linux64 loader=-\r
EXITS tsc_khz=2096141\r
EXITS virtio-rng at feb00000 version 2\r
EXITS pio n=100000 cycles=9000 ns=4293.6 min_ns=4100.0\r
EXITS mmio n=100000 cycles=12000 ns=5724.8 min_ns=5600.2\r
EXITS doorbell n=100000 cycles=3000 ns=1431.2 min_ns=1400.9\r
EXITS doorbell delivered len=64\r
EXITS DONE fail=0\r
"""


def test_script_parses_the_guest_lines(bench):
    r = bench.parse_output(SAMPLE)
    assert r["tsc_khz"] == 2096141 and r["delivered"] and not r["fails"]
    assert r["metrics"]["pio"] == {"n": 100000, "cycles": 9000,
                                   "ns": 4293.6, "min_ns": 4100.0}
    assert set(r["metrics"]) == set(METRICS)
    r = bench.parse_output(SAMPLE.replace("EXITS doorbell delivered len=64",
                                          "FAIL exits: doorbell: late"))
    assert not r["delivered"] and r["fails"] == ["FAIL exits: doorbell: late"]


def test_script_gives_both_vmms_the_same_machine_and_devices(bench):
    v = bench.vmm_args("vireo", "/v", "/k", 1000, "kvm", False)
    q = bench.vmm_args("qemu", "/q", "/k", 1000, "kvm", False)
    assert v[1:3] == q[1:3] == ["-M", "microvm,acpi=off"]
    assert "-cpu" in v and "-cpu" not in q      # nested kvm_pvm: see doc
    assert q[-2:] == ["-global", "virtio-mmio.force-legacy=false"]
    assert v[v.index("-append") + 1] == q[q.index("-append") + 1]
    assert "action=exits exits_n=1000" in v[v.index("-append") + 1]
    assert v[v.index("-m"):] == q[q.index("-m"):-2]
    t = bench.vmm_args("vireo", "/v", "/k", 1000, "tcg", False)
    assert "-accel" in t and "-enable-kvm" not in t


def test_script_report_and_results_section(bench, tmp_path):
    args = bench.parse_args(["-n", "3"])
    results = {"vireo": {"pio": [4000.0, 4100.0, 4300.0],
                         "mmio": [5000.0, 5100.0, 5200.0],
                         "doorbell": [1000.0, 1100.0, 1200.0]},
               "qemu": {"pio": [4000.0, 4100.0, 4200.0],
                        "mmio": [6000.0, 6100.0, 6200.0],
                        "doorbell": [], }}
    text = bench.report(args, {"vireo": "/v", "qemu": "/q"}, results,
                        {"qemu": "$ qemu ...\nboom"},
                        {"vireo": 2.0e9}, False)
    lines = text.splitlines()
    assert lines[0] == "## exits"
    pio = next(x for x in lines if x.startswith("| port I/O"))
    assert "4000 ns / 4100 ns / 4300 ns" in pio and pio.endswith("| 1.00 |")
    mmio = next(x for x in lines if x.startswith("| MMIO"))
    assert mmio.endswith(f"| {5100 / 6100:.2f} |")
    bell = next(x for x in lines if x.startswith("| ioeventfd"))
    assert "| failed | — |" in bell
    assert "QEMU failed" in text and "boom" in text
    results_md = tmp_path / "RESULTS.md"
    results_md.write_text("# Benchmarks: Vireo vs. QEMU\n\n## virtio\n\nv\n\n"
                          "## vireo-img convert\n\nc\n")
    bench.write_section(text, results_md)
    headings = re.findall(r"^## .*$", results_md.read_text(), re.M)
    assert headings == ["## virtio", "## exits", "## vireo-img convert"]
    tcg = bench.report(bench.parse_args(["--accel", "tcg"]),
                       {"vireo": "/v"}, {"vireo": results["vireo"]}, {},
                       {}, False)
    assert tcg.startswith("## exits -accel tcg\n")
    assert "not run" in tcg


def test_script_rejects_bad_options(bench):
    for argv in (["-n", "0"], ["--rounds", "5"], ["--accel", "hvf"]):
        with pytest.raises(SystemExit):
            bench.parse_args(argv)


@pytest.mark.skipif(kvm_usable()[0], reason="KVM is usable here")
def test_script_skips_clearly_without_kvm():
    p = subprocess.run([sys.executable, str(BENCH), "-n", "1"],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert "skipped" in p.stderr and "/dev/kvm" in p.stderr
    assert p.stdout == ""
