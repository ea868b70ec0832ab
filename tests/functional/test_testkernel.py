"""Boot the Vireo test kernel (tests/guest/testkernel) on microvm and pc,
through multiboot (ELF and a.out kludge) and the Linux boot protocol, and
check from inside the guest: command line, memory map, modules/initrd, ACPI
tables, SMP start-up, LAPIC timer, COM1 interrupts; then the ways out:
isa-debug-exit, ACPI poweroff, the reset paths with and without -no-reboot,
and serial on stdio, a file and a unix socket.

Every test runs under KVM ("vireo") and on the software CPU ("vireo-tcg").
VIREO_TEST_QEMU=1 runs them against Debian's qemu-system-x86_64 as well, to
check that the kernel and the expectations match QEMU.
"""
import os
import random
import shutil
import socket
import tempfile
import time

import pytest

import testkernel as tk
from vmrun import VMProcess, kvm_usable, run_vm, vireo_binary, vireo_built

TIMEOUT = 60
MACHINES = ("microvm", "pc")
VMMS = ["vireo", "vireo-tcg"] + (
    ["qemu"] if os.environ.get("VIREO_TEST_QEMU") == "1" else [])
QEMU = shutil.which("qemu-system-x86_64")


@pytest.fixture(scope="session")
def images():
    missing = tk.toolchain_missing()
    if missing:
        pytest.skip(f"cannot build the test kernel: {missing}")
    try:
        return tk.build()
    except tk.BuildError as e:
        pytest.fail(f"test kernel build failed:\n{e}", pytrace=False)


@pytest.fixture(params=VMMS)
def vmm(request):
    if request.param != "qemu" and not vireo_built():
        pytest.skip(f"vireo binary not found at {vireo_binary()} (run `make`, "
                    "or set VIREO=/path/to/vireo)")
    if request.param != "vireo-tcg" and not kvm_usable()[0]:
        pytest.skip(f"needs KVM: {kvm_usable()[1]}")
    if request.param == "qemu" and not QEMU:
        pytest.skip("qemu-system-x86_64 not installed")
    return request.param


@pytest.fixture(scope="session")
def modules(tmp_path_factory):
    """Two multiboot modules (one smaller than a page, one spanning many)
    and their concatenation as an initrd, with known contents."""
    d = tmp_path_factory.mktemp("modules")
    rng = random.Random(20240601)
    data = [b"vireo module zero\n", rng.randbytes(300001)]
    paths = []
    for i, blob in enumerate(data):
        paths.append(d / f"mod{i}")
        paths[-1].write_bytes(blob)
    initrd = d / "initrd"
    initrd.write_bytes(b"".join(data))
    return {"paths": paths, "data": data, "initrd": initrd,
            "initrd_data": b"".join(data)}


def command(vmm, machine, kernel, *, mem="512M", smp=1, initrd=None,
            append="", console=("-nographic",), no_reboot=True,
            debug_exit=True):
    if vmm == "vireo":
        args = [vireo_binary(), "-M", machine, "-enable-kvm", "-cpu", "host"]
    elif vmm == "vireo-tcg":
        args = [vireo_binary(), "-M", machine, "-accel", "tcg"]
    else:
        # Debian's QEMU with -cpu host aborts on the nested kvm_pvm (it
        # cannot set MSR_IA32_ARCH_CAPABILITIES); its default model boots.
        args = [QEMU, "-M", machine, "-enable-kvm"]
    args += ["-m", mem, "-smp", str(smp), "-kernel", kernel]
    if initrd is not None:
        args += ["-initrd", initrd]
    args += ["-append", append, *console]
    if debug_exit:
        args += tk.DEBUG_EXIT
    if no_reboot:
        args.append("-no-reboot")
    return [str(a) for a in args]


def verdict(r):
    v = tk.parse(r.output)
    assert not r.timed_out, r.describe()
    return v


def assert_all_passed(r, tests, rc=tk.EXIT_PASS):
    v = verdict(r)
    assert not v["failed"], f"guest reported failures {v['failed']}\n{r.describe()}"
    assert v["done"] == (len(tests), 0), r.describe()
    assert set(tests) <= v["passed"], r.describe()
    assert r.returncode == rc, r.describe()
    return v


@pytest.mark.parametrize("image", ["elf", "mb"])
@pytest.mark.parametrize("smp", [1, 4])
@pytest.mark.parametrize("machine", MACHINES)
def test_multiboot_all(vmm, images, modules, machine, smp, image):
    """Every guest-side test through multiboot, with two modules."""
    m0, m1 = modules["paths"]
    append = (f"test=all cpus={smp} mem=512M expect=hello-world hello-world "
              f"modules=2 mod0={tk.module_spec(modules['data'][0])} "
              f"mod1={tk.module_spec(modules['data'][1])} modarg0=arg0 "
              f"modarg1=second-arg")
    r = run_vm(command(vmm, machine, images[image], smp=smp,
                       initrd=f"{m0} arg0,{m1} second-arg", append=append),
               timeout=TIMEOUT)
    v = assert_all_passed(r, tk.ALL_TESTS)
    assert v["boot"] == "multiboot"


@pytest.mark.parametrize("smp", [1, 4])
@pytest.mark.parametrize("machine", MACHINES)
def test_bzimage_all(vmm, images, modules, machine, smp):
    """Every guest-side test through the Linux boot protocol: e820 map,
    command line and initrd from boot_params."""
    append = (f"test=all cpus={smp} mem=512M expect=hello-world hello-world "
              f"modules=1 mod0={tk.module_spec(modules['initrd_data'])}")
    r = run_vm(command(vmm, machine, images["bzimage"], smp=smp,
                       initrd=modules["initrd"], append=append),
               timeout=TIMEOUT)
    v = assert_all_passed(r, tk.ALL_TESTS)
    assert v["boot"] in ("linux32", "linux64")


@pytest.mark.parametrize("machine", MACHINES)
def test_linux64_entry(vmm, images, modules, machine):
    """The kernel's own 64-bit boot-protocol entry, reached by re-entering
    itself from multiboot (so it is covered on loaders that enter at
    code32_start or in real mode)."""
    m0 = modules["paths"][0]
    append = (f"test=all reenter=linux64 cpus=2 mem=512M modules=1 "
              f"mod0={tk.module_spec(modules['data'][0])}")
    r = run_vm(command(vmm, machine, images["elf"], smp=2, initrd=m0,
                       append=append), timeout=TIMEOUT)
    v = assert_all_passed(r, tk.ALL_TESTS)
    assert v["boot"] == "linux64"


@pytest.mark.parametrize("machine", MACHINES)
def test_memory_above_4g(vmm, images, machine):
    """-m 5G: RAM above 4 GiB is in the map, mapped, writable."""
    r = run_vm(command(vmm, machine, images["bzimage"], mem="5G",
                       append="test=mem mem=5G"), timeout=TIMEOUT)
    assert_all_passed(r, ["mem"])
    assert "KiB above 4G" in r.output and " 0 KiB above 4G" not in r.output, \
        r.describe()


@pytest.mark.parametrize("machine", MACHINES)
def test_acpi_poweroff(vmm, images, machine):
    """ACPI S5 (SLP_TYP from the DSDT) ends the VMM with status 0."""
    r = run_vm(command(vmm, machine, images["elf"],
                       append="test=acpi action=poweroff"), timeout=TIMEOUT)
    assert_all_passed(r, ["acpi"], rc=0)
    assert "poweroff:" in r.output, r.describe()


REBOOTS = [("pc", "kbd"), ("pc", "cf9"), ("pc", "triple"),
           ("microvm", "triple"), ("microvm", "acpi")]


@pytest.mark.parametrize("machine,how", REBOOTS)
def test_reboot_with_no_reboot_exits(vmm, images, machine, how):
    """A guest reset (8042 pulse, 0xcf9, FADT reset register or triple
    fault) with -no-reboot ends the VMM with status 0, as QEMU does."""
    r = run_vm(command(vmm, machine, images["elf"],
                       append=f"test=none action=reboot reboot={how}"),
               timeout=TIMEOUT)
    v = verdict(r)
    assert f"reboot: {how}" in r.output, r.describe()
    assert "reboot" not in v["failed"], r.describe()
    assert r.returncode == 0, r.describe()
    assert r.output.count("vireo testkernel:") == 1, r.describe()


@pytest.mark.parametrize("machine", MACHINES)
def test_triple_fault_resets_in_a_loop(vmm, images, machine):
    """A kernel that triple-faults at once: without -no-reboot the machine
    resets and boots it again and again; the VMM does not hang, and if the
    faults come quickly enough it gives up with a clear error."""
    args = command(vmm, machine, images["elf"], append="early=triple",
                   no_reboot=False)
    with VMProcess(args, stdin=False) as vm:
        seen = vm.expect(r"(?s)(early triple fault.*){3}", timeout=TIMEOUT)
        alive = vm.proc.poll() is None
        r = vm.wait(timeout=0.1 if alive else 10)
    assert seen, r.describe()
    assert alive or (r.returncode == 1 and "triple-faults right after "
                     "every reset" in r.output), r.describe()


@pytest.mark.parametrize("machine", MACHINES)
def test_triple_fault_with_no_reboot_exits(vmm, images, machine):
    r = run_vm(command(vmm, machine, images["elf"], append="early=triple"),
               timeout=TIMEOUT)
    assert r.returncode == 0, r.describe()
    assert r.output.count("early triple fault") == 1, r.describe()


@pytest.mark.parametrize("machine", MACHINES)
def test_serial_to_file(vmm, images, machine, tmp_path):
    out = tmp_path / "serial.log"
    r = run_vm(command(vmm, machine, images["elf"], append="test=cmdline",
                       console=("-display", "none", "-serial", f"file:{out}")),
               timeout=TIMEOUT)
    assert r.returncode == tk.EXIT_PASS, r.describe()
    text = out.read_text(errors="replace")
    assert tk.parse(text)["done"] == (1, 0), text


@pytest.mark.parametrize("machine", MACHINES)
def test_serial_typing_on_stdio(vmm, images, machine):
    """Characters typed on stdin reach the guest as COM1 receive
    interrupts (IOAPIC GSI 4) and come back on stdout."""
    args = command(vmm, machine, images["elf"],
                   append="test=serial-irq action=echo echo_timeout=30")
    with VMProcess(args) as vm:
        assert vm.expect("ECHO READY", timeout=TIMEOUT), vm.output
        vm.send("typed-text-42")
        assert vm.expect("typed-text-42", timeout=20), vm.output
        vm.send("q")
        r = vm.wait(timeout=TIMEOUT)
    assert "ECHO DONE" in r.output, r.describe()
    assert_all_passed(r, ["serial-irq"])


@pytest.mark.parametrize("machine", MACHINES)
def test_serial_unix_socket(vmm, images, machine):
    """-serial unix:PATH,server=on,wait=off: the VM runs before anyone
    connects; a client can then talk to the guest both ways."""
    d = tempfile.mkdtemp(prefix="tk", dir="/tmp")  # sun_path is short
    path = os.path.join(d, "s")
    args = command(vmm, machine, images["elf"],
                   append="test=none action=echo echo_timeout=30",
                   console=("-display", "none", "-serial",
                            f"unix:{path},server=on,wait=off"))
    try:
        with VMProcess(args, stdin=False) as vm:
            deadline = time.monotonic() + 20
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            while True:     # the path exists between bind and listen too
                try:
                    s.connect(path)
                    break
                except (FileNotFoundError, ConnectionRefusedError):
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.05)
            got = b""

            def receive_until(token, deadline, resend=None):
                nonlocal got
                next_send = 0
                while token not in got and time.monotonic() < deadline:
                    if resend and time.monotonic() >= next_send:
                        s.settimeout(5)
                        s.sendall(resend)
                        next_send = time.monotonic() + 0.5
                    s.settimeout(0.2 if resend else
                                 max(0.1, deadline - time.monotonic()))
                    try:
                        chunk = s.recv(4096)
                    except socket.timeout:
                        continue
                    if not chunk:
                        break
                    got += chunk

            # The guest may not have set up its UART yet (which empties the
            # receive FIFO), and whatever it printed before we connected is
            # gone: poke until the echo loop answers, then talk.
            receive_until(b"!", time.monotonic() + 30, resend=b"!")
            s.sendall(b"over-the-socket")
            receive_until(b"over-the-socket", time.monotonic() + 30)
            s.sendall(b"q")
            receive_until(b"ECHO DONE", time.monotonic() + 30)
            s.close()
            r = vm.wait(timeout=TIMEOUT)
    finally:
        shutil.rmtree(d, ignore_errors=True)
    assert b"over-the-socket" in got, (got, r.describe())
    assert b"ECHO DONE" in got, (got, r.describe())
    assert r.returncode == tk.EXIT_PASS, r.describe()
