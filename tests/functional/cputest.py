"""The CPU test kernels (tests/guest/cputest): building them into the test
cache, the VMM command line that runs one, and reading the verdict from the
serial output.

Each kernel prints "PASS name", "FAIL name: reason" or "SKIP name: reason"
(a check that needs a CPU feature the model does not report) per check,
then "CPUTEST DONE pass=N fail=M skip=K", and leaves through isa-debug-exit:
value 0 (the VMM exits 1) when nothing failed, 1 (exit 3) otherwise. A
triple fault resets the machine, which -no-reboot turns into exit status 0
before the DONE line.

Plain Python (no pytest import).
"""

import os
import re
import shutil
from pathlib import Path

from vmrun import make_locked

REPO = Path(__file__).resolve().parents[2]
SOURCE_DIR = REPO / "tests" / "guest" / "cputest"
CACHE_DIR = Path(os.environ.get("VIREO_GUEST_CACHE",
                                REPO / "tests" / "guest" / "cache"))

EXIT_PASS = 1      # isa-debug-exit value 0 -> (0 << 1) | 1
EXIT_FAIL = 3      # isa-debug-exit value 1 -> (1 << 1) | 1
MODES = ("real", "pm32", "lm64")

# Every check each kernel runs, in order.
CHECKS = {
    "real": ("rm_de", "rm_bp_into", "rm_int_n", "rm_ud", "rm_bound",
             "rm_iret", "rm_far_call", "rm_seg_wrap", "rm_prefixes",
             "rm_pit_irq"),
    "pm32": ("pm_de", "pm_bp", "pm_ud", "pm_gp_null_ss",
             "pm_gp_selector_limit", "pm_ring3_int80", "pm_gp_cpl3_hlt",
             "pm_gp_gate_dpl", "pm_popf_iopl0", "pm_cli_iopl3", "pm_df",
             "pm_pf_not_present", "pm_pf_write_ro_wp", "pm_pf_user_ro",
             "pm_pf_user_supervisor", "pm_paging_4k", "pm_invlpg",
             "pm_accessed_dirty", "pm_pse_4m", "pm_pae_nx",
             "pm_lapic_timer"),
    "lm64": ("lm_de", "lm_bp", "lm_ud", "lm_noncanonical_gp", "lm_ist",
             "lm_df_ist", "lm_ring3_int80", "lm_gp_cpl3_hlt",
             "lm_gp_gate_dpl", "lm_syscall_sysret", "lm_swapgs",
             "lm_pf_not_present", "lm_pf_write_ro", "lm_pf_user",
             "lm_pf_nx", "lm_pf_rsvd", "lm_paging_4k", "lm_invlpg",
             "lm_accessed_dirty", "lm_paging_2m", "lm_paging_1g",
             "lm_cmpxchg16b", "lm_rdtsc", "lm_cpuid", "lm_lapic_timer",
             "lm_lapic_tsc_deadline"),
}
SMP_CHECKS = ("lm_smp_start", "lm_smp_lock_xadd")

# Checks that depend on an optional CPUID feature and may report SKIP.
OPTIONAL = {"pm_pae_nx", "lm_pf_nx", "lm_paging_1g", "lm_cmpxchg16b",
            "lm_lapic_tsc_deadline"}


class BuildError(Exception):
    pass


def toolchain_missing():
    """Why the kernels cannot be built here, or None."""
    for tool in ("make", "gcc", "ld", "objcopy"):
        if not shutil.which(tool):
            return f"{tool} not found"
    return None


def build(outdir=None):
    """Build (or bring up to date) the three kernels; returns a dict mode ->
    Path. Concurrent callers serialize on a lock file; make does nothing
    when the images are up to date."""
    outdir = Path(outdir or CACHE_DIR / "cputest")
    p = make_locked(SOURCE_DIR, outdir)
    if p.returncode != 0:
        raise BuildError(p.stdout + p.stderr)
    return {mode: outdir / f"cputest-{mode}.elf" for mode in MODES}


def command(binary, kernel, *, smp=1, accel="tcg", machine="pc", mem="256",
            extra=()):
    """The command line that runs one kernel: `binary` is vireo or
    qemu-system-x86_64 (both take QEMU's options)."""
    args = [binary, "-accel", accel, "-M", machine, "-m", mem,
            "-smp", str(smp), "-nographic", "-no-reboot",
            "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04",
            "-kernel", kernel]
    if smp > 1:
        args += ["-append", f"cpus={smp}"]
    args += list(extra)
    return [str(a) for a in args]


def parse(output):
    """Verdict from the serial output: dict with passed (set), failed and
    skipped (dicts name -> reason), fail_lines (the FAIL lines as printed,
    with any detail lines after them), done (None or (pass, fail, skip)),
    last (the name on the last PASS/FAIL/SKIP line, or None)."""
    passed, failed, skipped, fail_lines, done = set(), {}, {}, [], None
    last = None
    lines = output.replace("\r", "").splitlines()
    for i, line in enumerate(lines):
        m = re.search(r"(?:^|\s)PASS (\S+)$", line)
        if m:
            passed.add(m.group(1))
            last = m.group(1)
        m = re.search(r"(?:^|\s)FAIL ([^:\s]+): (.*)$", line)
        if m:
            failed[m.group(1)] = m.group(2)
            last = m.group(1)
            fail_lines.append(line.strip())
            fail_lines += [d.strip() for d in lines[i + 1:i + 3]
                           if d.startswith("  ")]
        m = re.search(r"(?:^|\s)SKIP ([^:\s]+): (.*)$", line)
        if m:
            skipped[m.group(1)] = m.group(2)
            last = m.group(1)
        m = re.search(r"CPUTEST DONE pass=(\d+) fail=(\d+)(?: skip=(\d+))?",
                      line)
        if m:
            done = (int(m.group(1)), int(m.group(2)), int(m.group(3) or 0))
    return {"passed": passed, "failed": failed, "skipped": skipped,
            "fail_lines": fail_lines, "done": done, "last": last}


def expected_checks(mode, smp=1):
    checks = list(CHECKS[mode])
    if mode == "lm64" and smp > 1:
        checks += SMP_CHECKS
    return checks


def problems(result, mode, smp=1):
    """Everything wrong with a finished run (a vmrun.VMResult), as a list of
    lines; empty when every check of `mode` passed (or skipped for want of
    an optional CPU feature) and the VMM exited through isa-debug-exit."""
    v = parse(result.output)
    out = []
    if v["fail_lines"]:
        out.append("guest reported failures:")
        out += ["  " + line for line in v["fail_lines"]]
    for name in expected_checks(mode, smp):
        if name in v["passed"] or name in v["failed"]:
            continue
        if name in v["skipped"]:
            if name not in OPTIONAL:
                out.append(f"{name} skipped: {v['skipped'][name]}")
            continue
        out.append(f"{name}: no PASS/FAIL/SKIP line")
    if result.timed_out:
        out.append("the VM timed out (a hang: some wait was not bounded, or "
                   "the CPU stopped)")
    elif v["done"] is None:
        where = (f" (in the check after {v['last']})" if v["last"]
                 else " (before the first check)")
        if result.returncode == 0:
            out.append("the VM exited with status 0 before CPUTEST DONE: "
                       "a reset, most likely a triple fault" + where)
        else:
            out.append(f"no CPUTEST DONE line (exit status "
                       f"{result.returncode}){where}")
    elif result.returncode != (EXIT_FAIL if v["done"][1] else EXIT_PASS):
        out.append(f"exit status {result.returncode} does not match the "
                   f"verdict {v['done']}")
    return out
