"""tests/bench/summary on a small RESULTS.md made here, without a VM: the
rows of its "## summary" table, the Vireo advantage of ratios worded both
ways (below 1 better, above 1 better, and rates), goals, cells that are
missing or failed, --check, and the chart (when gnuplot is installed).
Under a second in all."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "bench" / "summary"

FIXTURE = """\
# Benchmarks: Vireo vs. QEMU

Some words before the sections.

## -accel kvm

`tests/bench/boot -n 3` on host; cells are min / median / max; ratio = Vireo median / QEMU median (below 1: Vireo is faster or smaller).

| guest | machine | metric | Vireo | QEMU | ratio |
| --- | --- | --- | --- | --- | --- |
| tk | microvm | guest up | 20 ms / 21 ms / 23 ms | 50 ms / 52 ms / 66 ms | 0.40 |
| tk | microvm | peak RSS | 15.0 MiB / 15.0 MiB / 15.0 MiB | 30.0 MiB / 30.0 MiB / 31.0 MiB | 0.50 |
| tk | pc | guest up | failed | 1000 ms / 1100 ms / 1200 ms | — |
| tk | pc | guest instructions/s | 26 M/s / 26 M/s / 26 M/s | — | — |
| tk | pc | short row | 1 ms / 2 ms / 3 ms |

## virtio

`tests/bench/virtio -n 3`; **ratio = Vireo median / QEMU median: above 1 Vireo is faster**.

| machine | metric | Vireo | QEMU | ratio (>1: Vireo faster) |
| --- | --- | --- | --- | --- |
| pc | seq read, 1 MiB | 500 MB/s / 541 MB/s / 600 MB/s | 1400 MB/s / 1450 MB/s / 1500 MB/s | 0.37 |
| pc | rand read | 200 IOPS / 200 IOPS / 200 IOPS | 100 IOPS / 100 IOPS / 100 IOPS | 2.00 |

| machine | metric | Vireo: vCPU ran / waited / others | QEMU: vCPU ran / waited / others |
| --- | --- | --- | --- |
| pc | seqread | 65% / 1% / 11% | 44% / 9% / 22% |

## pc firmware boot

`tests/bench/pcboot -n 3`; ratio = Vireo median / QEMU median (below 1: Vireo is faster; the issue's goal is <= 0.7).

| boot | metric | Vireo | QEMU | ratio |
| --- | --- | --- | --- | --- |
| grub | menu | 40 ms / 41 ms / 42 ms | 99 ms / 100 ms / 101 ms | 0.41 |
| grub | ready | 111 ms / 111 ms / 111 ms | 100 ms / 100 ms / 100 ms | 1.11 |

## display

`tests/bench/display -n 2`; ratio = Vireo median / QEMU median (the issue's goal for CPU is <= 0.5).

| guest | metric | Vireo | QEMU | ratio |
| --- | --- | --- | --- | --- |
| idle | CPU | 1.00% / 1.00% / 1.00% | 4.00% / 4.00% / 4.00% | 0.25 |
| idle | updates/s | 4.0 / 4.0 / 4.0 | 5.0 / 5.0 / 5.0 | 0.80 |
| idle | updates per CPU-second | 343.9 | 363.0 | — |
"""


def run(results, *args, env=None):
    return subprocess.run([sys.executable, str(SCRIPT), "--results",
                           str(results), *args], capture_output=True,
                          text=True, timeout=60, env=env)


def summary_rows(text):
    """{(benchmark, metric): [cells]} of the "## summary" table."""
    section = text.split("## summary\n", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        if line.startswith("| ") and not line.startswith("| benchmark") \
                and not line.startswith("| ---"):
            cells = [c.strip() for c in line.strip("|").split("|")]
            rows[(cells[0], cells[1])] = cells[2:]
    return rows


@pytest.fixture
def results(tmp_path):
    path = tmp_path / "RESULTS.md"
    path.write_text(FIXTURE)
    return path


@pytest.fixture
def written(results):
    p = run(results, "--no-chart")
    assert p.returncode == 0, p.stderr
    return summary_rows(results.read_text())


def test_one_row_per_comparison_with_medians_and_min_max(written):
    # cells: Vireo median, QEMU median, Vireo min-max, QEMU min-max,
    # ratio, advantage, goal
    assert written[("boot -accel kvm", "tk · microvm · guest up")] == [
        "21 ms", "52 ms", "20 ms – 23 ms", "50 ms – 66 ms", "0.40",
        "2.48×", ""]
    assert written[("virtio", "pc · seq read, 1 MiB")][:5] == [
        "541 MB/s", "1450 MB/s", "500 MB/s – 600 MB/s",
        "1400 MB/s – 1500 MB/s", "0.37"]
    # the table without a ratio column (schedstat shares) gives no rows
    assert not [k for k in written if k[1].endswith("seqread")]
    assert len(written) == 12


def test_advantage_puts_both_wordings_one_way(written):
    # below 1 better: QEMU / Vireo from the medians
    assert written[("boot -accel kvm", "tk · microvm · peak RSS")][5] == \
        "2.00×"
    # above 1 better (virtio): Vireo / QEMU, as the ratio
    assert written[("virtio", "pc · seq read, 1 MiB")][5] == "0.37×"
    assert written[("virtio", "pc · rand read")][5] == "2.00×"
    # a rate in a below-1 section is still higher-is-better
    assert written[("display", "idle · updates/s")][5] == "0.80×"
    # a section that does not say follows its "<=" goal: lower is better
    assert written[("display", "idle · CPU")][5] == "4.00×"


def test_failed_and_missing_cells_are_reported_as_such(written):
    row = written[("boot -accel kvm", "tk · pc · guest up")]
    assert row[0] == "failed" and row[1] == "1100 ms"
    assert row[2] == "—" and row[4] == "—" and row[5] == "—"
    row = written[("boot -accel kvm", "tk · pc · guest instructions/s")]
    assert row[1] == "—" and row[4] == "—" and row[5] == "—"
    # a row missing its QEMU and ratio cells
    row = written[("boot -accel kvm", "tk · pc · short row")]
    assert row[0] == "2 ms" and row[1] == "—" and row[5] == "—"
    # a single value is a median without min - max
    row = written[("display", "idle · updates per CPU-second")]
    assert row[:4] == ["343.9", "363.0", "—", "—"]


def test_goal_met_only_where_the_section_states_one(written):
    assert written[("pc firmware boot", "grub · menu")][6] == "yes (<= 0.7)"
    assert written[("pc firmware boot", "grub · ready")][6] == "no (<= 0.7)"
    assert written[("boot -accel kvm", "tk · microvm · guest up")][6] == ""
    # "the goal for CPU": the CPU row only
    assert written[("display", "idle · CPU")][6] == "yes (<= 0.5)"
    assert written[("display", "idle · updates/s")][6] == ""


def test_summary_goes_first_keeps_the_rest_and_is_stable(results):
    assert run(results, "--no-chart").returncode == 0
    text = results.read_text()
    assert re.findall(r"^## .*", text, flags=re.M)[:2] == [
        "## summary", "## -accel kvm"]
    assert text.startswith("# Benchmarks: Vireo vs. QEMU\n")
    assert "Some words before the sections." in text
    for section in FIXTURE.split("\n## ")[1:]:
        assert section.strip() in text
    assert ("12 metrics: Vireo better in 5, worse in 3, even in 0, no "
            "comparison in 4; goals met: 2 of 3.") in text
    assert run(results, "--no-chart").returncode == 0
    assert results.read_text() == text


def test_check_fails_until_the_summary_is_current(results):
    p = run(results, "--check")
    assert p.returncode != 0 and "out of date" in p.stderr
    assert results.read_text() == FIXTURE       # --check writes nothing
    assert run(results, "--no-chart").returncode == 0
    assert run(results, "--check").returncode == 0
    # a benchmark rewrote its section since
    text = results.read_text()
    old = "99 ms / 100 ms / 101 ms | 0.41"
    assert text.count(old) == 1
    results.write_text(text.replace(old, "99 ms / 100 ms / 101 ms | 0.42"))
    p = run(results, "--check")
    assert p.returncode != 0 and "out of date" in p.stderr


def test_bad_inputs_fail_with_a_message(tmp_path):
    p = run(tmp_path / "nonexistent.md", "--no-chart")
    assert p.returncode != 0 and "cannot read" in p.stderr
    empty = tmp_path / "empty.md"
    empty.write_text("# nothing\n\n## x\n\nno table\n\n| a | b |\n")
    p = run(empty, "--no-chart")
    assert p.returncode != 0 and "no table comparing" in p.stderr
    assert "Traceback" not in p.stderr
    binary = tmp_path / "binary.md"
    binary.write_bytes(b"\xff\xfe## x\n| \x80 |\n")
    p = run(binary, "--no-chart")
    assert p.returncode != 0 and "not UTF-8" in p.stderr


def test_without_gnuplot_it_says_so_and_writes_nothing(results, tmp_path):
    nobin = tmp_path / "bin"
    nobin.mkdir()
    p = run(results, "--png", str(tmp_path / "c.png"),
            env={"PATH": str(nobin)})
    assert p.returncode != 0
    assert "gnuplot not found" in p.stderr and "gnuplot-nox" in p.stderr
    assert results.read_text() == FIXTURE
    assert not (tmp_path / "c.png").exists()


@pytest.mark.skipif(not shutil.which("gnuplot"),
                    reason="gnuplot is not installed (apt-get install "
                    "gnuplot-nox)")
def test_chart_is_a_900_px_png_and_the_same_each_time(results, tmp_path):
    png = tmp_path / "chart.png"
    p = run(results, "--png", str(png))
    assert p.returncode == 0, p.stderr
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width = int.from_bytes(data[16:20], "big")
    height = int.from_bytes(data[20:24], "big")
    assert width == 900 and height > 300
    assert "Chart: `chart.png`" in results.read_text()
    assert run(results, "--png", str(png)).returncode == 0
    assert png.read_bytes() == data


def test_quoted_output_and_notes_are_not_read_as_tables(tmp_path):
    path = tmp_path / "RESULTS.md"
    path.write_text(FIXTURE + "\n- qemu failed:\n\n```\n"
                    "| x | Vireo | QEMU | ratio |\n| --- | --- | --- | --- |\n"
                    "| y | 1 ms | 2 ms | 0.50 |\n```\n"
                    "- above 1 Vireo is faster, says a note\n")
    assert run(path, "--no-chart").returncode == 0
    rows = summary_rows(path.read_text())
    assert len(rows) == 12 and not [k for k in rows if k[1] == "y"]
    # the display section's direction still comes from its goal
    assert rows[("display", "idle · CPU")][5] == "4.00×"


def test_benchlib_puts_summary_first_and_scale_last(results):
    sys.path.insert(0, str(SCRIPT.parent))
    from benchlib import write_section
    write_section("## scale\n\nfrom tests/bench/scale\n", results)
    write_section("## summary\n\nfrom tests/bench/summary\n", results)
    headings = re.findall(r"^## .*", results.read_text(), flags=re.M)
    assert headings[0] == "## summary" and headings[-1] == "## scale"
    assert len(headings) == 6
