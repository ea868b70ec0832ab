"""The command line and process behaviour: help output, bad input with a
clear error and exit status 1, signals, pidfile, daemonize, reset rules."""
import os
import shlex
import shutil
import signal
import tempfile
import time
from pathlib import Path

import pytest

import minikernel
from vmrun import VMProcess, kvm_usable, run_vm, vireo_binary

needs_kvm = pytest.mark.skipif(not kvm_usable()[0], reason=kvm_usable()[1])
DEBUG_EXIT = ["-device", "isa-debug-exit,iobase=0xf4,iosize=0x04"]


def vireo(*args, timeout=30, **kw):
    return run_vm([vireo_binary(), *args], timeout=timeout, **kw)


@pytest.fixture(scope="module")
def kernels(tmp_path_factory):
    d = tmp_path_factory.mktemp("mini")
    return {k: minikernel.build(k, d) for k in minikernel.BODIES}


def test_version_and_help_exit_zero():
    r = vireo("-version")
    assert r.returncode == 0 and "Vireo emulator version" in r.output
    r = vireo("-h")
    assert r.returncode == 0 and "-kernel" in r.output
    r = vireo("-machine", "help")
    assert r.returncode == 0 and "microvm" in r.output and "pc" in r.output
    r = vireo("-device", "help")
    assert r.returncode == 0 and "isa-debug-exit" in r.output
    r = vireo("-device", "isa-debug-exit,help")
    assert r.returncode == 0 and "iobase" in r.output


def test_installed_name_for_qemu_tools():
    # meson installs vireo-system-x86_64 as a link to vireo
    meson_build = (vireo_binary().parents[1] / "meson.build").read_text()
    assert "vireo-system-x86_64" in meson_build


@pytest.mark.parametrize("args,message", [
    (["-m", "0"], "-m 0"),
    (["-m", "12X"], "-m 12X"),
    (["-smp", "0"], "-smp 0"),
    (["-smp", "cpus=4,sockets=3,cores=1"], "maxcpus"),
    (["-M", "nosuchmachine"], "nosuchmachine"),
    (["-nosuchoption"], "-nosuchoption: invalid option"),
    (["-kernel"], "-kernel: requires an argument"),
    (["-cpu", "pentium"], "-cpu pentium"),
    (["-device", "nosuchdev"], "nosuchdev"),
    (["-serial", "bogus:x"], "bogus"),
    (["-accel", "whpx"], "whpx"),
    (["-accel", "tcg,thread=single"], "thread=single is not supported"),
    (["-accel", "kvm,thread=multi"], "thread=multi is not supported"),
    (["-accel", "tcg,tb-size=64"], "invalid parameter 'tb-size'"),
    (["-accel", "bogus:tcg"], "-accel bogus: no such accelerator"),
    (["-machine", "accel=kvm:whpx"], "whpx"),
    (["-accel", "tcg", "-smp", "256"], "at most 255 vCPUs"),
    (["-d", "nosuchitem"], "nosuchitem"),
    (["-drive", "file=/nonexistent.img,format=raw"], "Could not open"),
    (["-drive", "file=/dev/null,cache=bogus"], "invalid cache option"),
    (["-drive", "file=/dev/null,format=qcow9"], "qcow9"),
    (["-M", "none", "-accel", "tcg", "-drive",
      "file=/dev/null,format=raw,if=virtio"],
     "no device for if=virtio drives yet"),
    (["-global", "virtio-mmio.bogus=1"],
     "device 'virtio-mmio' has no property 'bogus'"),
    (["-global", "nosuch.x=1"], "'nosuch' is not a valid device model name"),
    (["-global", "junk"], "expected DRIVER.PROPERTY=VALUE"),
    (["-netdev", "bogus,id=n"], "'bogus' is not supported"),
    (["-netdev", "user"], "'id' is missing"),
    (["-netdev", "user,id=n,hostfwd=tcp::22"], "invalid host forwarding"),
    (["-accel", "tcg", "-bios", "/nonexistent/bios.bin"],
     "firmware file '/nonexistent/bios.bin' not found"),
    (["-accel", "tcg", "-bios", "bios-missing.bin"],
     "install Debian's 'seabios' package, or give its folder with -L"),
    (["-accel", "tcg", "-bios", "/etc/hostname"], "not a multiple of 64 KiB"),
])
def test_bad_options_fail_with_a_clear_error(args, message):
    r = vireo(*args)
    assert r.returncode == 1, r.describe()
    assert message in r.output, r.describe()
    assert "vireo:" in r.output


@needs_kvm
def test_missing_kernel(tmp_path):
    r = vireo("-M", "microvm", "-kernel", tmp_path / "nope", "-display",
              "none")
    assert r.returncode == 1
    assert "nope" in r.output and "No such file" in r.output, r.describe()


@needs_kvm
def test_unreadable_kernel(tmp_path):
    r = vireo("-M", "microvm", "-kernel", tmp_path, "-display", "none")
    assert r.returncode == 1
    assert str(tmp_path) in r.output, r.describe()


@needs_kvm
def test_not_a_kernel(tmp_path):
    junk = tmp_path / "junk"
    junk.write_bytes(os.urandom(20000))
    r = vireo("-M", "pc", "-kernel", junk, "-display", "none")
    assert r.returncode == 1
    assert "not a Linux bzImage or multiboot image" in r.output, r.describe()


@needs_kvm
def test_module_that_does_not_fit_in_ram(tmp_path, kernels):
    big = tmp_path / "big"
    with open(big, "wb") as f:
        f.truncate(64 << 20)
    r = vireo("-M", "microvm", "-m", "32", "-kernel", kernels["exit"],
              "-initrd", big, "-display", "none")
    assert r.returncode == 1
    assert "big" in r.output and "RAM" in r.output, r.describe()


@needs_kvm
def test_more_ram_than_the_host_can_map(kernels):
    r = vireo("-M", "microvm", "-m", "300T", "-kernel", kernels["exit"],
              "-display", "none")
    assert r.returncode == 1
    assert "-m" in r.output or "RAM" in r.output, r.describe()


@needs_kvm
def test_more_vcpus_than_kvm_allows(kernels):
    r = vireo("-M", "microvm", "-smp", "4096", "-kernel", kernels["exit"],
              "-display", "none")
    assert r.returncode == 1
    assert "-smp 4096" in r.output, r.describe()


@needs_kvm
@pytest.mark.parametrize("props,message", [
    ("iosize=9", "iosize"),
    ("iobase=0xffff,iosize=4", "outside the I/O port space"),
    ("iobase=banana", "not a 32-bit unsigned number"),
    ("nosuchprop=1", "no property 'nosuchprop'"),
])
def test_debug_exit_bad_properties(kernels, props, message):
    r = vireo("-M", "microvm", "-kernel", kernels["exit"], "-display", "none",
              "-device", f"isa-debug-exit,{props}")
    assert r.returncode == 1, r.describe()
    assert message in r.output, r.describe()


@needs_kvm
def test_debug_exit_status(kernels):
    r = vireo("-M", "microvm", "-kernel", kernels["exit"], "-nographic",
              *DEBUG_EXIT)
    assert r.returncode == 1, r.describe()
    assert "READY" in r.output


@needs_kvm
def test_triple_fault_with_no_reboot_exits_zero(kernels):
    r = vireo("-M", "pc", "-kernel", kernels["triple"], "-nographic",
              "-no-reboot")
    assert r.returncode == 0, r.describe()
    assert "triple fault" in r.output


@needs_kvm
def test_kernel_that_triple_faults_at_once_is_given_up_on(kernels):
    r = vireo("-M", "microvm", "-kernel", kernels["triple"], "-nographic")
    assert r.returncode == 1, r.describe()
    assert r.output.count("READY") >= 2      # it was reset and rerun
    assert "triple-faults right after every reset" in r.output


@needs_kvm
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT,
                                 signal.SIGHUP])
def test_signals_shut_down_in_order(kernels, sig):
    with VMProcess([vireo_binary(), "-M", "microvm", "-smp", "2",
                    "-kernel", kernels["idle"], "-display", "none",
                    "-serial", "stdio"]) as vm:
        assert vm.expect("READY", timeout=20), vm.output
        os.kill(vm.proc.pid, sig)
        r = vm.wait(timeout=20)
    assert r.returncode == 0, r.describe()
    assert f"terminating on signal {int(sig)}" in r.output


@needs_kvm
def test_pidfile_and_daemonize(tmp_path, kernels):
    pidfile = tmp_path / "vm.pid"
    out = tmp_path / "serial.txt"
    r = vireo("-M", "microvm", "-kernel", kernels["idle"], "-display", "none",
              "-serial", f"file:{out}", "-daemonize", "-pidfile", pidfile,
              "-name", "vm1,process=vireo-vm1")
    assert r.returncode == 0, r.describe()
    pid = int(pidfile.read_text())
    try:
        deadline = time.monotonic() + 20
        while "READY" not in out.read_text() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert "READY" in out.read_text()
        assert open(f"/proc/{pid}/comm").read().strip() == "vireo-vm1"
        # a second VM cannot take the same pidfile
        r2 = vireo("-M", "microvm", "-kernel", kernels["idle"], "-display",
                   "none", "-pidfile", pidfile)
        assert r2.returncode == 1 and "pidfile" in r2.output
    finally:
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 20
    while os.path.exists(f"/proc/{pid}") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not pidfile.exists()


@needs_kvm
def test_daemonize_refuses_stdio(kernels):
    r = vireo("-M", "microvm", "-kernel", kernels["idle"], "-nographic",
              "-daemonize")
    assert r.returncode == 1 and "-daemonize" in r.output


@needs_kvm
def test_debug_log_file(tmp_path, kernels):
    log = tmp_path / "log.txt"
    r = vireo("-M", "microvm", "-kernel", kernels["triple"], "-nographic",
              "-no-reboot", "-d", "cpu_reset,guest_errors", "-D", log)
    assert r.returncode == 0, r.describe()
    assert log.exists()


@needs_kvm
def test_no_shutdown_pauses_and_a_signal_still_ends_it(kernels):
    # the test kernel powers off through ACPI S5 with action=poweroff
    import testkernel
    kernel = testkernel.build()["elf"]
    with VMProcess([vireo_binary(), "-M", "pc", "-kernel", kernel,
                    "-append", "test=cmdline action=poweroff", "-display",
                    "none", "-serial", "stdio", "-no-shutdown"]) as vm:
        assert vm.expect("TESTKERNEL DONE", timeout=20), vm.output
        time.sleep(0.5)
        assert vm.proc.poll() is None, "-no-shutdown must keep the process"
        os.kill(vm.proc.pid, signal.SIGTERM)
        r = vm.wait(timeout=20)
    assert r.returncode == 0, r.describe()


def _mini_exit_kernel(tmp_path):
    return minikernel.build("exit", tmp_path)


def _run_as_nobody(tmp_path, *args):
    # pytest's own temporary directories are private to root
    public = Path(tempfile.mkdtemp(prefix="vireo-nobody-"))
    os.chmod(public, 0o755)
    kernel = shutil.copy(_mini_exit_kernel(tmp_path), public)
    os.chmod(kernel, 0o644)
    try:
        return run_vm(["setpriv", "--reuid=nobody", "--regid=nogroup",
                       "--clear-groups", vireo_binary(), "-M", "microvm",
                       "-kernel", kernel, "-display", "none", *args],
                      timeout=30)
    finally:
        shutil.rmtree(public)


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("setpriv"),
                    reason="needs root and setpriv to drop privileges")
def test_kvm_without_permission(tmp_path):
    if not os.path.exists("/dev/kvm"):
        pytest.skip("no /dev/kvm on this host")
    if os.access("/dev/kvm", os.R_OK | os.W_OK) and \
            os.stat("/dev/kvm").st_mode & 0o006 == 0o006:
        pytest.skip("/dev/kvm is world-accessible here")
    r = _run_as_nobody(tmp_path, "-accel", "kvm")
    assert r.returncode == 1, r.describe()
    assert "no permission to open /dev/kvm" in r.output, r.describe()
    # without an explicit accelerator, the software CPU takes over
    r = _run_as_nobody(tmp_path, *DEBUG_EXIT, "-serial", "stdio")
    assert r.returncode == 1, r.describe()     # isa-debug-exit: 0 -> 1
    assert "READY" in r.output and "falling back to tcg" in r.output


def _run_without_dev_kvm(tmp_path, *args):
    kernel = _mini_exit_kernel(tmp_path)
    script = (f"mount -t tmpfs none /dev && exec {vireo_binary()} "
              f"-M microvm -kernel {kernel} -display none -nodefaults "
              + " ".join(shlex.quote(a) for a in args))
    r = run_vm(["unshare", "-m", "sh", "-c", script], timeout=30)
    if "mount" in r.output and "vireo" not in r.output:
        pytest.skip(f"cannot make a private /dev here: {r.output}")
    return r


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("unshare"),
                    reason="needs root and unshare for a private /dev")
@pytest.mark.parametrize("accel", [["-accel", "kvm"], ["-enable-kvm"],
                                   ["-machine", "accel=kvm"]])
def test_kvm_missing(tmp_path, accel):
    r = _run_without_dev_kvm(tmp_path, *accel)
    assert r.returncode == 1, r.describe()
    assert "/dev/kvm does not exist" in r.output, r.describe()


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("unshare"),
                    reason="needs root and unshare for a private /dev")
@pytest.mark.parametrize("accel", [[], ["-accel", "kvm", "-accel", "tcg"],
                                   ["-accel", "kvm:tcg"],
                                   ["-machine", "accel=kvm:tcg"]])
def test_kvm_missing_falls_back_to_tcg(tmp_path, accel):
    r = _run_without_dev_kvm(tmp_path, *accel, *DEBUG_EXIT, "-serial",
                             "stdio")
    assert r.returncode == 1, r.describe()     # isa-debug-exit: 0 -> 1
    assert "READY" in r.output, r.describe()
    assert "/dev/kvm does not exist" in r.output, r.describe()
    assert "falling back to tcg" in r.output, r.describe()


@pytest.mark.parametrize("args,message", [
    (["-device", "virtio-blk-device"], "drive property not set"),
    (["-device", "virtio-blk-device,drive=nope"], "drive=nope: no such drive"),
    (["-drive", "file=/dev/null,format=raw,if=none,id=d",
      "-device", "virtio-blk-device,drive=d,num-queues=0"],
     "num-queues=0: must be 1 to 16"),
    (["-drive", "file=/dev/null,format=raw,if=none,id=d",
      "-device", "virtio-blk-device,drive=d,queue-size=100"],
     "queue-size=100: must be a power of 2"),
    (["-drive", "file=/dev/null,format=raw,if=none,id=d",
      "-device", "virtio-blk-device,drive=d",
      "-device", "virtio-blk-device,drive=d"], "already in use"),
    (["-device", "virtio-net-device,netdev=nope"],
     "netdev=nope: no such netdev"),
    (["-netdev", "user,id=n", "-device", "virtio-net-device,netdev=n",
      "-device", "virtio-net-device,netdev=n"], "already in use"),
    (["-device", "virtio-net-device,mac=01:00:00:00:00:01"],
     "not a unicast MAC"),
    (["-device", "virtio-net-device,mac=52:54:00:zz:00:01"],
     "not a unicast MAC"),
    (["-nic", "user,model=e1000"], "no NIC model 'e1000'"),
    (["-nic", "user,hostfwd=bogus"], "invalid host forwarding rule"),
    (["-nic", "bogus"], "'bogus' is not supported"),
])
def test_bad_virtio_device_options(tmp_path, args, message):
    """Bad device and NIC options on microvm stop Vireo with an error naming
    the property, before any guest code runs."""
    kernel = minikernel.build("idle", tmp_path)
    r = run_vm([vireo_binary(), "-M", "microvm", "-accel", "tcg",
                "-display", "none", "-kernel", kernel, *args], timeout=30)
    assert r.returncode == 1, r.describe()
    assert message in r.output, r.describe()
