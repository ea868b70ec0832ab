"""vCPU state for snapshots and migration, with a real guest.

Debian's kernel runs on the software CPU and prints a tick every 200 ms;
the whole VM (RAM, devices, and the vCPU state of migration/cpus.c) is
saved at tick n, runs on, is loaded, and must print tick n + 1 next and go
on ticking. The VM is driven by tests/unit/test-cpu-state (its
/cpu-state/tcg/linux case, linked with libvireo), since the snapshot
commands are built elsewhere; the same program checks the tiny guests,
KVM and the hostile streams under `meson test`.
"""

import os
import subprocess

import pytest

import vmrun

TIMEOUT = 400       # one Linux boot under the software CPU on a busy host


def test_linux_continues_after_vcpu_state_load(vireo_binary, debian_guest):
    prog = vmrun.BUILD_DIR / "tests" / "unit" / "test-cpu-state"
    if not prog.exists():
        pytest.skip(f"{prog} is not built")
    env = dict(os.environ)
    env["VIREO_CPU_STATE_LINUX"] = \
        f"{debian_guest['vmlinuz']}:{debian_guest['initrd']}"
    p = subprocess.run([str(prog), "-p", "/cpu-state/tcg/linux", "--verbose"],
                       env=env, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True, timeout=TIMEOUT)
    assert p.returncode == 0, p.stdout
    assert "ok 1 /cpu-state/tcg/linux" in p.stdout, p.stdout
    assert "after the load TICK" in p.stdout, p.stdout
