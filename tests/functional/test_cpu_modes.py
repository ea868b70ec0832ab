"""CPU correctness of the software CPU (`-accel tcg`), checked from inside
the guest by the CPU test kernels (tests/guest/cputest), one per mode:

- real: IVT exceptions (#DE, #BP, INTO, #UD, #BR), int n / iret, far
  call/ret, 16-bit wraparound, operand/address-size prefixes, PIT IRQ0
  through the 8259 with sti/hlt;
- pm32: exceptions and error codes, ring 3 through the TSS stack switch and
  a DPL-3 gate, IOPL, #DF, 2-level and PAE paging (#PF codes, CR2, WP, U/S,
  NX, A/D bits, PSE, invlpg), the LAPIC timer;
- lm64: 4-level paging with 4K/2M/1G pages, #PF codes (P W U I RSVD),
  canonical #GP, IST and #DF, iretq / int 0x80 / syscall+sysret / swapgs,
  cmpxchg16b, rdtsc, CPUID, the LAPIC timer (one-shot, TSC deadline), and
  with -smp 2/4 the AP start-up and a lock-xadd race on all CPUs.

VIREO_TEST_QEMU=1 runs them under Debian's qemu-system-x86_64 -accel tcg as
well: the reference that the kernels themselves are right.
"""
import os
import shutil

import pytest

import cputest as ct
from vmrun import run_vm, vireo_binary, vireo_built

TIMEOUT = 180           # an interpreter is slow, but every wait is bounded
SMP_TIMEOUT = 600
VMMS = ["vireo"] + (["qemu"] if os.environ.get("VIREO_TEST_QEMU") == "1"
                    else [])
QEMU = shutil.which("qemu-system-x86_64")


@pytest.fixture(scope="session")
def kernels():
    missing = ct.toolchain_missing()
    if missing:
        pytest.skip(f"cannot build the CPU test kernels: {missing}")
    try:
        return ct.build()
    except ct.BuildError as e:
        pytest.fail(f"CPU test kernel build failed:\n{e}", pytrace=False)


@pytest.fixture(params=VMMS)
def vmm(request, kernels):
    if request.param == "qemu":
        if not QEMU:
            pytest.skip("qemu-system-x86_64 not installed")
        return QEMU
    if not vireo_built():
        pytest.skip(f"vireo binary not found at {vireo_binary()} (run `make`, "
                    "or set VIREO=/path/to/vireo)")
    return vireo_binary()


def run_and_check(vmm, kernel, mode, smp=1, timeout=TIMEOUT):
    r = run_vm(ct.command(vmm, kernel, smp=smp), timeout=timeout)
    bad = ct.problems(r, mode, smp)
    assert not bad, "\n".join(bad) + "\n\n" + r.describe()
    return r


@pytest.mark.parametrize("mode", ct.MODES)
def test_cpu_mode(vmm, kernels, mode):
    """Every check of the mode's kernel passes on one CPU."""
    run_and_check(vmm, kernels[mode], mode)


@pytest.mark.parametrize("smp", [2, 4])
def test_long_mode_smp(vmm, kernels, smp):
    """The long-mode checks with APs started by INIT-SIPI-SIPI; each CPU
    adds 1 to a shared counter a million times with lock xadd and the total
    must be exact (locked instructions are atomic across vCPU threads)."""
    run_and_check(vmm, kernels["lm64"], "lm64", smp=smp, timeout=SMP_TIMEOUT)
