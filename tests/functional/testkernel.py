"""The Vireo test kernel (tests/guest/testkernel): building it into the
test cache, composing its command line, and reading its verdict from the
serial output.

The kernel prints "PASS name" / "FAIL name: reason" per test, then
"TESTKERNEL DONE pass=N fail=M", and leaves through isa-debug-exit: value 0
(the VMM exits 1) when everything passed, 1 (exit 3) otherwise. See
tests/guest/testkernel/main.c for the command-line syntax.
"""

import os
import re
import shutil
import zlib
from pathlib import Path

from vmrun import make_locked

REPO = Path(__file__).resolve().parents[2]
SOURCE_DIR = REPO / "tests" / "guest" / "testkernel"
CACHE_DIR = Path(os.environ.get("VIREO_GUEST_CACHE",
                                REPO / "tests" / "guest" / "cache"))

EXIT_PASS = 1      # isa-debug-exit value 0 -> (0 << 1) | 1
EXIT_FAIL = 3      # isa-debug-exit value 1 -> (1 << 1) | 1
DEBUG_EXIT = ["-device", "isa-debug-exit,iobase=0xf4,iosize=0x04"]
ALL_TESTS = ("cmdline", "acpi", "modules", "mem", "timer", "serial-irq",
             "cpus")


class BuildError(Exception):
    pass


def toolchain_missing():
    """Why the kernel cannot be built here, or None."""
    for tool in ("make", "gcc", "ld", "objcopy", "nm"):
        if not shutil.which(tool):
            return f"{tool} not found"
    return None


def build(outdir=None):
    """Build (or bring up to date) the three images; returns a dict with
    Paths: elf (multiboot ELF32), mb (multiboot a.out-kludge flat binary),
    bzimage (Linux boot protocol), and symbols (the same kernel as ELF64
    with gdbtest.c's debug information, for gdb). Concurrent callers (pytest-xdist
    workers) serialize on a lock file; make does nothing when up to date."""
    outdir = Path(outdir or CACHE_DIR / "testkernel")
    p = make_locked(SOURCE_DIR, outdir)
    if p.returncode != 0:
        raise BuildError(p.stdout + p.stderr)
    return {"elf": outdir / "testkernel.elf",
            "mb": outdir / "testkernel-mb.bin",
            "bzimage": outdir / "testkernel.bzImage",
            "symbols": outdir / "kernel-elf.elf"}


def module_spec(data):
    """The kernel's SIZE:CRC32 notation for a module's contents."""
    return f"{len(data)}:{zlib.crc32(data):08x}"


def parse(output):
    """Verdict from the serial output: dict with passed (set), failed
    (dict name -> reason), done (None, or (pass, fail) counts) and boot (how
    the kernel was entered: multiboot, linux32, linux64)."""
    passed, failed, done, boot = set(), {}, None, None
    for line in output.replace("\r", "").splitlines():
        m = re.match(r"PASS (\S+)$", line)
        if m:
            passed.add(m.group(1))
        m = re.match(r"FAIL ([^:]+): (.*)$", line)
        if m:
            failed[m.group(1)] = m.group(2)
        m = re.match(r"TESTKERNEL DONE pass=(\d+) fail=(\d+)", line)
        if m:
            done = (int(m.group(1)), int(m.group(2)))
        m = re.match(r"vireo testkernel: boot=(\S+)", line)
        if m:
            boot = m.group(1)
    return {"passed": passed, "failed": failed, "done": done, "boot": boot}
