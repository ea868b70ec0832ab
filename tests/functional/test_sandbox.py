"""-sandbox, --secure and -run-with (docs/sandbox.md).

- The filter is in the kernel on every thread (vCPU threads too) and
  refuses what it should after start-up: with spawn=deny (here --secure)
  an exec: migration, which has to start a program, fails with "Operation
  not permitted" while the VM and its monitor run on; with plain -sandbox
  on the same migration works; a tap script at start-up still runs.
- From inside the process, as an attacker would find it (gdb makes the
  calls): each group's calls fail or end the process as documented.
- One Debian guest boot with virtio-blk, virtio-net over slirp, the serial
  console and QMP does its work under --secure, as nobody in an empty
  folder (-run-with user=nobody,chroot=DIR); the test kernel runs all its
  checks under --secure.
- -runas, -chroot, -daemonize and -pidfile together. Bad input (unknown
  user, missing folder, not root, bad -sandbox values) is a clear error.
"""

import hashlib
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

import testkernel as tk
from qmp import QMPClient
from test_debian_guest import TIMEOUT, guest_args
from test_testkernel import (assert_all_passed, command, images,  # noqa: F401
                             modules, vmm)
from test_virtio_blk import make_disk
from test_virtio_net import free_port, http_server  # noqa: F401
from test_virtio_net_tap import tap_netns_unavailable
from vmrun import VMProcess, read_tcp_until, run_vm

NOBODY = 65534


def thread_status(pid):
    """{thread name: {field: value}} from /proc/PID/task/*/status."""
    threads = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            text = (task / "status").read_text()
        except OSError:
            continue    # the thread ended meanwhile
        fields = dict(line.split(":\t", 1) for line in text.splitlines()
                      if ":\t" in line)
        threads[f"{fields['Name'].strip()} ({task.name})"] = \
            {k: v.strip() for k, v in fields.items()}
    return threads


def assert_filtered(pid, filters):
    """Every thread, vCPUs included, is in seccomp filter mode (2) with
    `filters` filters: 1, or 2 when start-up needed a group that it then
    refused (see docs/sandbox.md)."""
    threads = thread_status(pid)
    assert any(name.startswith("CPU ") for name in threads), threads.keys()
    for name, st in threads.items():
        assert st["Seccomp"] == "2", f"{name}: {st['Seccomp']}"
        assert st["Seccomp_filters"] == str(filters), \
            f"{name}: {st['Seccomp_filters']}"
        assert st["NoNewPrivs"] == "1", name


def root_only(reason="the suite runs as root to test dropping it"):
    if os.geteuid() != 0:
        pytest.skip(reason)


def proc_ids(pid):
    st = thread_status(pid)
    uids = {s["Uid"] for s in st.values()}
    gids = {s["Gid"] for s in st.values()}
    return uids, gids, os.readlink(f"/proc/{pid}/root")


def migrate_exec(c):
    """An exec: migration (Vireo has to start sh); its final state."""
    c.cmd("migrate", {"uri": "exec:cat > /dev/null"})
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        info = c.cmd("query-migrate")
        if info.get("status") in ("completed", "failed"):
            return info
        time.sleep(0.1)
    raise TimeoutError(f"migration still {info}")


def small_vm(vireo, *opts, qmp=None):
    """A paused pc on the software CPU: enough for the process-level checks,
    no guest needed."""
    args = [vireo, "-M", "pc", "-accel", "tcg", "-m", "64", "-smp", "2",
            "-display", "none", "-nodefaults", "-S", *opts]
    if qmp:
        args += ["-qmp", f"unix:{qmp},server=on,wait=off"]
    return args


# --- the filter after start-up ----------------------------------------------

def test_secure_refuses_spawning_and_the_vm_runs_on(vireo_binary, tmp_path):
    sock = tmp_path / "qmp.sock"
    with VMProcess(small_vm(vireo_binary, "--secure", qmp=sock)) as vm, \
            QMPClient(sock) as c:
        c.cmd("cont")
        assert_filtered(vm.proc.pid, 1)
        info = migrate_exec(c)
        assert info["status"] == "failed", info
        assert "Operation not permitted" in info["error-desc"], info
        # the monitor answers and the guest's CPUs run on
        assert c.cmd("query-status")["status"] == "running"
        out = c.hmp("migrate exec:true")
        assert vm.proc.poll() is None, vm.output
        assert c.cmd("query-status")["status"] == "running", out
        c.cmd("quit")
        r = vm.wait(timeout=30)
    assert r.returncode == 0, r.describe()
    assert "Operation not permitted" in r.output, r.describe()


def test_sandbox_on_alone_lets_helpers_run(vireo_binary, tmp_path):
    """Without spawn=deny the same migration works: it is the spawn group
    that refuses it, not a side effect of the filter."""
    sock = tmp_path / "qmp.sock"
    with VMProcess(small_vm(vireo_binary, "-sandbox", "on", qmp=sock)) as vm, \
            QMPClient(sock) as c:
        assert_filtered(vm.proc.pid, 1)
        info = migrate_exec(c)
        assert info["status"] == "completed", info
        c.cmd("quit")
        assert vm.wait(timeout=30).returncode == 0


def test_later_sandbox_adjusts_secure(vireo_binary, tmp_path):
    """--secure, then -sandbox on,spawn=allow: spawning works again and
    the other groups stay denied."""
    sock = tmp_path / "qmp.sock"
    args = small_vm(vireo_binary, "--secure", "-sandbox", "on,spawn=allow",
                    qmp=sock)
    with VMProcess(args) as vm, QMPClient(sock) as c:
        assert_filtered(vm.proc.pid, 1)
        assert migrate_exec(c)["status"] == "completed"
        c.cmd("quit")
        assert vm.wait(timeout=30).returncode == 0


# --- as an attacker who runs code inside Vireo would find it -----------------

# x86-64 system call numbers
SYS = {"fork": 57, "execve": 59, "setuid": 105, "setpriority": 141,
       "_sysctl": 156, "mount": 165, "sched_setaffinity": 203,
       "unshare": 272, "clone3": 435}
EPERM, ENOSYS = 1, 38


def gdb_syscalls(pid, calls, cwd):
    """Attaches gdb to pid and makes each call (name, argument text) from
    the main thread: [(return value, errno)], and gdb's whole output."""
    # gdb 13 trips on its own assertion when the process dies in a call;
    # it must neither ask nor leave a core file behind
    ex = ["-iex", "maint set internal-error quit yes",
          "-iex", "maint set internal-error corefile no"]
    for name, args in calls:
        ex += ["-ex", f"call (long)syscall({SYS[name]}L{args})",
               "-ex", "call (int)*(int *)__errno_location()"]
    r = subprocess.run(["gdb", "-nx", "-batch", "-p", str(pid), *ex],
                       capture_output=True, text=True, timeout=120, cwd=cwd)
    out = r.stdout + r.stderr
    values = [int(v) for v in re.findall(r"^\$\d+ = (-?\d+)$", out, re.M)]
    return list(zip(values[::2], values[1::2])), out


@pytest.fixture
def gdb():
    if not shutil.which("gdb"):
        pytest.skip("gdb is not installed")


def vm_past_start_up(vm):
    """Waits until both of the sandbox's steps are in (or none will be)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and vm.proc.poll() is None:
        if any(name.startswith("CPU ") for name in thread_status(vm.proc.pid)):
            return
        time.sleep(0.05)
    raise AssertionError(f"no vCPU thread: {vm.output}")


def test_refused_calls_fail_or_kill_as_their_group_says(vireo_binary, gdb,
                                                        tmp_path):
    """Under --secure: resource control and spawning fail with EPERM (the
    process goes on), clone3 looks absent (ENOSYS, so libc uses clone,
    whose flags the filter can check); mount ends the process (SIGSYS)."""
    with VMProcess(small_vm(vireo_binary, "--secure"), cwd=tmp_path) as vm:
        vm_past_start_up(vm)
        got, out = gdb_syscalls(vm.proc.pid, [
            ("setpriority", ", 0L, 0L, 5L"),
            ("sched_setaffinity", ", 0L, 8L, 0L"),
            ("fork", ""),
            ("execve", ", 0L, 0L, 0L"),
            ("unshare", ", 0x40000000L"),    # CLONE_NEWNET
            ("clone3", ", 0L, 0L"),
            ("mount", ", 0L, 0L, 0L, 0L, 0L")], tmp_path)
        assert got[:6] == [(-1, EPERM)] * 5 + [(-1, ENOSYS)], out
        r = vm.wait(timeout=30)
    assert r.returncode == -signal.SIGSYS, r.describe()


@pytest.mark.parametrize("sandbox,name,args", [
    ("on", "_sysctl", ", 0L"),                 # obsolete, denied by default
    ("on,elevateprivileges=deny", "setuid", ", 0L"),
])
def test_denied_groups_kill(vireo_binary, gdb, tmp_path, sandbox, name,
                           args):
    with VMProcess(small_vm(vireo_binary, "-sandbox", sandbox),
                   cwd=tmp_path) as vm:
        vm_past_start_up(vm)
        got, out = gdb_syscalls(vm.proc.pid, [(name, args)], tmp_path)
        assert got == [], out
        r = vm.wait(timeout=30)
    assert r.returncode == -signal.SIGSYS, r.describe()


def test_allowed_groups_are_not_filtered(vireo_binary, gdb, tmp_path):
    """-sandbox on,obsolete=allow: _sysctl reaches the kernel (which no
    longer has it: ENOSYS) and setpriority works; nothing is killed."""
    with VMProcess(small_vm(vireo_binary, "-sandbox", "on,obsolete=allow"),
                   cwd=tmp_path) as vm:
        vm_past_start_up(vm)
        got, out = gdb_syscalls(vm.proc.pid, [("_sysctl", ", 0L"),
                                              ("setpriority",
                                               ", 0L, 0L, 1L")], tmp_path)
        assert got[0] == (-1, ENOSYS) and got[1][0] == 0, out
        assert vm.proc.poll() is None, vm.output
        vm.kill(signal.SIGTERM)
        r = vm.wait(timeout=30)
    assert r.returncode == 0, r.describe()


def test_start_up_tap_script_runs_then_spawning_is_refused(vireo_binary,
                                                           tmp_path):
    """--secure with a tap whose script= runs at start-up (in a network
    namespace of its own): the script runs, since the spawn group is only
    refused once start-up is done; after that an exec: migration fails,
    and at exit the downscript cannot run (a warning, a clean exit)."""
    root_only()
    why = tap_netns_unavailable()
    if why:
        pytest.skip(f"needs a tap device in a network namespace: {why}")
    up, down = tmp_path / "up.sh", tmp_path / "down.sh"
    up.write_text(f"#!/bin/sh\necho \"$1\" > {tmp_path}/up-ran\n")
    down.write_text(f"#!/bin/sh\necho \"$1\" > {tmp_path}/down-ran\n")
    up.chmod(0o755)
    down.chmod(0o755)
    sock = tmp_path / "qmp.sock"
    args = ["unshare", "--net", *small_vm(
        vireo_binary, "--secure", "-netdev",
        f"tap,id=t0,ifname=sbx0,script={up},downscript={down}",
        "-device", "e1000,netdev=t0", qmp=sock)]
    with VMProcess(args) as vm, QMPClient(sock) as c:
        vm_past_start_up(vm)
        assert (tmp_path / "up-ran").read_text() == "sbx0\n"
        assert_filtered(vm.proc.pid, 2)     # spawn came late
        info = migrate_exec(c)
        assert info["status"] == "failed" and \
            "Operation not permitted" in info["error-desc"], info
        c.cmd("quit")
        r = vm.wait(timeout=30)
    assert r.returncode == 0, r.describe()
    assert f"downscript {down} sbx0 failed" in r.output, r.describe()
    assert not (tmp_path / "down-ran").exists()


# --- real guests under --secure ----------------------------------------------

GUEST_SCRIPT = r"""
disk() { for d in /sys/block/vd*; do
    [ "$(cat $d/serial)" = "$1" ] && echo /dev/${d##*/}; done; }
echo "PATTERN $(sha256sum $(disk pattern) | cut -d' ' -f1)"
printf 'written-under-the-sandbox' | dd of=$(disk scratch) bs=512 seek=5 \
    conv=fsync 2>/dev/null && echo "WROTE"
ip link set eth0 up; udhcpc -i eth0 -n -q -s /bin/true
ip addr add 10.0.2.15/24 dev eth0; ip route add default via 10.0.2.2
echo "GOT $(wget -q -O - http://10.0.2.2:HTTP_PORT/blob | sha256sum)"
echo "NC-READY-$((6*7))"
echo hello-from-the-sandboxed-guest | nc -l -p 7777
echo "GUEST-DONE-$((6*7))"
"""

# reads the script from its disk (serial "script") and runs it
SCRIPT_LOADER = ("for d in /sys/block/vd*; do [ $(cat $d/serial) = script ] "
                 "&& tr -d \\\\000 < /dev/${d##*/} > /s.sh; done; sh /s.sh")


def disk_args(tmp_path, names):
    args = []
    for name in names:
        args += ["-drive", f"file={tmp_path / name}.img,format=raw,"
                 f"if=none,id={name}", "-device",
                 f"virtio-blk-pci,drive={name},serial={name}"]
    return args


@pytest.mark.slow
def test_debian_guest_under_secure_as_nobody(vireo_binary, debian_guest,
                                             http_server, tmp_path):
    """One boot for all: --secure with -run-with user=nobody,chroot=DIR
    (elevateprivileges is denied, which must not stop Vireo's own drop).
    The guest reads and writes its disks, gets an address by DHCP, fetches
    a file from the host and answers through hostfwd, while the test finds
    the process as nobody in DIR with the filter on every thread, and an
    exec: migration refused with the VM and QMP running on."""
    root_only()
    http_port, blob_sha = http_server
    newroot = tmp_path / "empty-root"
    newroot.mkdir()
    pattern = os.urandom(1 << 20)
    make_disk(tmp_path / "pattern.img", pattern)
    make_disk(tmp_path / "scratch.img", b"", 1 << 20)
    make_disk(tmp_path / "script.img",
              GUEST_SCRIPT.replace("HTTP_PORT", str(http_port)).encode(),
              4096)
    fwd = free_port()
    sock = tmp_path / "qmp.sock"
    args = guest_args(vireo_binary, debian_guest, "pc", 1,
                      f'console=ttyS0 vireo.task=cmd '
                      f'vireo.cmd="{SCRIPT_LOADER}"') + \
        ["--secure", "-run-with", f"user=nobody,chroot={newroot}",
         *disk_args(tmp_path, ["script", "pattern", "scratch"]),
         "-netdev", f"user,id=n0,hostfwd=tcp:127.0.0.1:{fwd}-:7777",
         "-device", "virtio-net-pci,netdev=n0",
         "-qmp", f"unix:{sock},server=on,wait=off"]
    with VMProcess(args) as vm, QMPClient(sock) as c:
        assert vm.expect("NC-READY-42", timeout=TIMEOUT), vm.output
        uids, gids, root = proc_ids(vm.proc.pid)
        assert uids == {f"{NOBODY}\t{NOBODY}\t{NOBODY}\t{NOBODY}"}, uids
        assert gids == {f"{NOBODY}\t{NOBODY}\t{NOBODY}\t{NOBODY}"}, gids
        assert root == str(newroot)
        assert_filtered(vm.proc.pid, 2)     # elevateprivileges came late
        info = migrate_exec(c)
        assert info["status"] == "failed" and \
            "Operation not permitted" in info["error-desc"], info
        assert c.cmd("query-status")["status"] == "running"
        marker = b"hello-from-the-sandboxed-guest"
        assert marker in read_tcp_until(fwd, marker), vm.output
        assert vm.expect("GUEST-DONE-42", timeout=60), vm.output
        r = vm.wait(timeout=60)
    assert r.returncode == 0, r.describe()
    assert "VIREO-CMD-EXIT status=0" in r.output, r.describe()
    assert f"PATTERN {hashlib.sha256(pattern).hexdigest()}" in r.output, \
        r.describe()
    assert "lease of 10.0.2.15 obtained" in r.output, r.describe()
    assert f"GOT {blob_sha}" in r.output, r.describe()
    assert "WROTE" in r.output, r.describe()
    data = (tmp_path / "scratch.img").read_bytes()
    assert data[5 * 512:5 * 512 + 25] == b"written-under-the-sandbox"


def test_testkernel_under_secure(vmm, images, modules):  # noqa: F811
    """Every test kernel check (SMP start-up, timers, interrupts, ACPI)
    with the sandbox's every group denied."""
    if vmm == "qemu":
        pytest.skip("the point is Vireo's sandbox")
    append = (f"test=all cpus=2 mem=512M expect=hello-world hello-world "
              f"modules=1 mod0={tk.module_spec(modules['initrd_data'])}")
    args = command(vmm, "pc", images["bzimage"], smp=2,
                   initrd=modules["initrd"], append=append)
    r = run_vm([args[0], "--secure", *args[1:]], timeout=120)
    assert_all_passed(r, tk.ALL_TESTS)


# --- -run-with ---------------------------------------------------------------

def test_runas_chroot_daemonize_pidfile(vireo_binary, tmp_path):
    """QEMU's older spellings, in the background, with --secure: the
    daemon answers QMP as nobody inside the folder, its pidfile names it."""
    root_only()
    newroot = tmp_path / "root"
    newroot.mkdir()
    sock, pidfile = tmp_path / "qmp.sock", tmp_path / "vm.pid"
    args = small_vm(vireo_binary, "--secure", "-runas", "nobody",
                    "-chroot", str(newroot), "-daemonize", "-pidfile",
                    str(pidfile), qmp=sock)
    r = subprocess.run([str(a) for a in args], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    pid = int(pidfile.read_text())
    try:
        with QMPClient(sock) as c:
            uids, gids, root = proc_ids(pid)
            assert uids == {f"{NOBODY}\t{NOBODY}\t{NOBODY}\t{NOBODY}"}
            assert root == str(newroot)
            assert_filtered(pid, 2)
            assert c.cmd("query-status")["status"] == "prelaunch"
            c.cmd("quit")
        deadline = time.monotonic() + 30
        while os.path.exists(f"/proc/{pid}") and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not os.path.exists(f"/proc/{pid}")
    finally:
        if os.path.exists(f"/proc/{pid}"):
            os.kill(pid, 9)


# --- bad input ---------------------------------------------------------------

BAD_INPUT = [
    (["-sandbox", "maybe"],
     "-sandbox maybe: Parameter 'enable' expects 'on' or 'off'"),
    (["-sandbox", "on,spawn=maybe"],
     "-sandbox on,spawn=maybe: invalid argument for spawn"),
    (["-sandbox", "on,elevateprivileges=sometimes"],
     "invalid argument for elevateprivileges (expected allow, children or "
     "deny)"),
    (["-sandbox", "on,obsolete=children"],
     "invalid argument for obsolete (expected allow or deny)"),
    (["-sandbox", "on,resourcecontrol="],
     "invalid argument for resourcecontrol"),
    (["-sandbox", "on,bogus=deny"],
     "-sandbox on,bogus=deny: invalid parameter 'bogus'"),
    (["-runas", "no-such-user-here"],
     "-runas no-such-user-here: User \"no-such-user-here\" doesn't exist "
     "(and is not <uid>:<gid>)"),
    (["-run-with", "user=12:x"],
     "User \"12:x\" doesn't exist (and is not <uid>:<gid>)"),
    (["-run-with", "user=4294967295:0"], "doesn't exist"),
    (["-chroot", "/no/such/folder"],
     "-chroot /no/such/folder: No such file or directory"),
    (["-run-with", "chroot=/etc/passwd"],
     "-run-with chroot=/etc/passwd: not a directory"),
    (["-run-with", "async-teardown=on"],
     "-run-with async-teardown=on: invalid parameter 'async-teardown'"),
    (["-sandbox"], "-sandbox: requires an argument"),
]


@pytest.mark.parametrize("opts,message", BAD_INPUT,
                         ids=[" ".join(o) for o, _ in BAD_INPUT])
def test_bad_input_is_a_clear_error(vireo_binary, opts, message):
    r = subprocess.run([str(vireo_binary), "-M", "pc", "-accel", "tcg",
                        "-display", "none", "-S", *opts],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 1, r.stdout + r.stderr
    assert message in r.stderr, r.stderr


def test_dropping_privileges_needs_root(vireo_binary):
    """Run as nobody, -chroot and -runas root fail when they are applied,
    after start-up, with the reason; nothing crashes."""
    root_only("needs root to start Vireo as another user")

    def as_nobody():
        os.setgroups([])
        os.setgid(NOBODY)
        os.setuid(NOBODY)

    try:
        subprocess.run([str(vireo_binary), "-version"], check=True,
                       capture_output=True, timeout=30, preexec_fn=as_nobody)
    except (OSError, subprocess.CalledProcessError) as e:
        pytest.skip(f"nobody cannot run {vireo_binary}: {e}")

    for opts, message in [
            (["-chroot", "/tmp"],
             "-chroot /tmp: Operation not permitted (this needs root)"),
            (["-runas", "0:0"], "-runas 0:0: setgroups: Operation not "
             "permitted (this needs root)")]:
        r = subprocess.run([str(vireo_binary), *opts, "-M", "pc", "-accel",
                            "tcg", "-m", "64", "-display", "none",
                            "-nodefaults", "-S"], capture_output=True,
                           text=True, timeout=60, preexec_fn=as_nobody)
        assert r.returncode == 1, r.stdout + r.stderr
        assert message in r.stderr, r.stderr
