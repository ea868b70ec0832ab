"""Pieces the benchmarks of tests/bench share: cells of min / median / max,
the Vireo/QEMU ratio of medians, and RESULTS.md, where each benchmark owns
"## " sections and rewrites only its own."""

import os
import platform
import re
import statistics
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
TITLE = "# Benchmarks: Vireo vs. QEMU\n"
# Where a section that RESULTS.md does not have yet goes, by its heading;
# sections not named here keep their place, new ones go last. The summary
# (tests/bench/summary) is first, scale last: `make bench` runs it last.
SECTION_ORDER = ["## summary", "## -accel kvm", "## -accel tcg", "## virtio",
                 "## virtio-blk", "## exits",
                 "## vireo-img convert", "## pc firmware boot", "## display",
                 "## ovmf boot", "## migration", "## scale"]


def summary(values, fmt):
    """"min / median / max" of values, each through fmt; "failed" when
    there are none."""
    if not values:
        return "failed"
    return (f"{fmt(min(values))} / {fmt(statistics.median(values))} / "
            f"{fmt(max(values))}")


def median_ratio(vireo, qemu):
    """Vireo median / QEMU median, as text; "—" when either is missing."""
    if not vireo or not qemu:
        return "—"
    q = statistics.median(qemu)
    if not q:
        return "—"
    return f"{statistics.median(vireo) / q:.2f}"


def host_description():
    return (f"{platform.node() or 'this host'} ({os.cpu_count()} CPUs, "
            f"Linux {platform.release()})")


def _heading(section):
    return section.split("\n", 1)[0].strip()


def _rank(heading):
    for i, known in enumerate(SECTION_ORDER):
        if heading == known or heading.startswith(known + " "):
            return i
    return len(SECTION_ORDER)


def write_section(report, path=RESULTS, title=TITLE):
    """Put report (text starting with its "## heading" line) into path:
    it replaces the section with the same heading, or is inserted by
    SECTION_ORDER. Everything else in the file (its title and the other
    sections) stays as it is."""
    report = report.rstrip() + "\n"
    preamble = title
    sections = []
    if path.exists():
        parts = re.split(r"^(?=## )", path.read_text(), flags=re.M)
        if not parts[0].startswith("## "):
            preamble = parts.pop(0).rstrip() + "\n"
        sections = [p.rstrip() + "\n" for p in parts]
    heading = _heading(report)
    for i, section in enumerate(sections):
        if _heading(section) == heading:
            sections[i] = report
            break
    else:
        rank = _rank(heading)
        at = next((i for i, s in enumerate(sections)
                   if _rank(_heading(s)) > rank), len(sections))
        sections.insert(at, report)
    path.write_text(preamble + "\n" + "\n".join(sections))
