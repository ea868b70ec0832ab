"""The qtest accelerator from the command line, as a QEMU user drives it:
-qtest stdio with a pipe, -qtest-log, -qtest implying -accel qtest, and
bad options with a clear error."""
import re
import subprocess

from vmrun import run_vm, vireo_binary


def qtest_stdio(commands, *args, timeout=30):
    """Runs vireo -qtest stdio, feeds it commands, returns (replies, proc)."""
    p = subprocess.run(
        [str(vireo_binary()), "-qtest", "stdio", "-display", "none",
         "-nodefaults", *args],
        input="".join(c + "\n" for c in commands), capture_output=True,
        text=True, timeout=timeout)
    return p.stdout.splitlines(), p


def test_stdio_pipe_replies_and_exits_on_eof(tmp_path):
    log = tmp_path / "qtest.log"
    replies, p = qtest_stdio(
        ["endianness", "outb 0x70 0x0f", "writel 0x100000 0xdeadbeef",
         "readl 0x100000", "read 0x100000 4", "b64read 0x100000 4",
         "clock_step 1000", "clock_set 500", "clock_step", "frobnicate"],
        "-M", "pc", "-qtest-log", str(log))
    assert replies == [
        "OK little", "OK", "OK", "OK 0x00000000deadbeef", "OK 0xefbeadde",
        "OK 776t3g==", "OK 1000", "OK 1000", replies[8],
        "FAIL Unknown command 'frobnicate'"]
    assert re.fullmatch(r"OK \d+", replies[8])
    lines = log.read_text().splitlines()
    assert re.fullmatch(r"\[I \+\d+\.\d{6}\] OPENED", lines[0])
    assert re.fullmatch(r"\[R \+\d+\.\d{6}\] endianness", lines[1])
    assert re.fullmatch(r"\[S \+\d+\.\d{6}\] OK little", lines[2])


def test_log_goes_to_stderr_by_default_and_none_silences():
    _, p = qtest_stdio(["endianness"], "-M", "pc")
    assert "] endianness" in p.stderr
    _, p = qtest_stdio(["endianness"], "-M", "pc", "-qtest-log", "none")
    assert "endianness" not in p.stderr


def test_microvm_builds_without_kernel():
    replies, _ = qtest_stdio(["readl 0xfeb00000"], "-M", "microvm",
                             "-qtest-log", "none")
    assert replies == ["OK 0x0000000074726976"]  # virtio-mmio magic "virt"


def test_accel_help_lists_qtest():
    r = run_vm([vireo_binary(), "-accel", "help"], timeout=30)
    assert r.returncode == 0 and "qtest" in r.output.split()


def test_bad_qtest_options_fail_clearly(tmp_path):
    r = run_vm([vireo_binary(), "-qtest", "unix:" + str(tmp_path / "nope"),
                "-display", "none"], timeout=30)
    assert r.returncode == 1 and "nope" in r.output
    r = run_vm([vireo_binary(), "-qtest", "stdio", "-qtest-log",
                str(tmp_path / "no" / "such" / "dir"), "-display", "none"],
               timeout=30, input="")
    assert r.returncode == 1 and "-qtest-log" in r.output


def test_without_qtest_accel_the_clock_is_not_the_tests():
    # -qtest with the software CPU: memory works, clock_step refuses, and
    # the VM outlives its qtest client
    p = subprocess.Popen(
        [str(vireo_binary()), "-qtest", "stdio", "-display", "none",
         "-nodefaults", "-M", "none", "-accel", "tcg", "-qtest-log", "none"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        p.stdin.write("readb 0x0\nclock_step 10\n")
        p.stdin.close()
        assert p.stdout.readline().startswith("OK 0x")
        assert p.stdout.readline().startswith("FAIL")
        assert p.poll() is None
    finally:
        p.terminate()
        p.wait(timeout=30)
