"""The software CPU (-accel tcg) against hostile guest code: whatever the
guest executes, Vireo ends with the outcome real hardware has (an exception,
a triple fault and reset) and never crashes or stops answering."""

import os
import random
import signal

import pytest

import minikernel
from vmrun import VMProcess, run_vm, vireo_binary

TCG = ["-accel", "tcg", "-M", "microvm", "-m", "64", "-display", "none",
       "-serial", "stdio", "-no-reboot"]


def boot(kernel, *extra, timeout=30):
    r = run_vm([vireo_binary(), *TCG, "-kernel", kernel, *extra],
               timeout=timeout)
    # under --enable-asan builds: sanitizer reports fail the test too
    assert "runtime error:" not in r.output, r.describe()
    assert "Sanitizer" not in r.output, r.describe()
    return r


def assert_triple_fault_exit(r):
    assert not r.timed_out and r.returncode == 0, r.describe()
    assert "READY" in r.output, r.describe()
    assert "triple fault" in r.output and "-no-reboot" in r.output, \
        r.describe()


def test_invalid_opcode_without_idt_is_a_triple_fault(tmp_path):
    assert_triple_fault_exit(boot(minikernel.build("triple", tmp_path)))


def test_triple_fault_loop_gives_up(tmp_path):
    """Without -no-reboot every reset faults again at once: Vireo stops
    with an error instead of spinning through resets for ever."""
    kernel = minikernel.build("triple", tmp_path)
    args = [a for a in TCG if a != "-no-reboot"]
    r = run_vm([vireo_binary(), *args, "-kernel", kernel], timeout=60)
    assert not r.timed_out and r.returncode == 1, r.describe()
    assert "triple-faults right after every reset" in r.output, r.describe()


@pytest.mark.parametrize("kind", ["jump_mmio", "jump_unmapped"])
def test_executing_device_or_unmapped_memory(tmp_path, kind):
    """Code fetched from an MMIO window or from nowhere runs what reads
    return (0xff bytes from nowhere: an invalid opcode); with no IDT the
    guest triple-faults and Vireo exits cleanly."""
    assert_triple_fault_exit(boot(minikernel.build(kind, tmp_path)))


def test_spinning_guest_with_interrupts_off_still_stops(tmp_path):
    """A vCPU in a tight loop with IF=0 never exits on its own: a signal
    must still end Vireo promptly and in order."""
    kernel = minikernel.build("spin", tmp_path)
    with VMProcess([vireo_binary(), *TCG, "-smp", "2", "-kernel",
                    kernel]) as vm:
        assert vm.expect("READY", timeout=20), vm.output
        os.killpg(vm.proc.pid, signal.SIGTERM)
        r = vm.wait(timeout=10)
    assert not r.timed_out and r.returncode == 0, r.describe()
    assert "terminating on signal 15" in r.output, r.describe()


@pytest.mark.parametrize("seed", range(24))
def test_random_code(tmp_path, seed):
    """Random bytes as 32-bit code with no IDT: whatever they do (fault,
    reset, write anywhere, loop), Vireo exits by itself or on SIGTERM with
    status 0, never by a crash."""
    rnd = random.Random(seed)
    body = minikernel.PUTS + " .byte " + ", ".join(
        str(rnd.randrange(256)) for _ in range(256)) + "\n"
    kernel = minikernel.build(f"random{seed}", tmp_path, body)
    r = boot(kernel, timeout=5)
    # a timeout here ends with SIGTERM, which Vireo must handle in order
    assert r.returncode == 0, r.describe()
    assert "READY" in r.output, r.describe()
