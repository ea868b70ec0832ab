"""QMP as clients use it: over unix and TCP sockets, -mon and stdio, with
several clients at once, against a running guest that must keep running
whatever a client sends. The guest is a tiny kernel on the software CPU
that counts in memory, so the tests can see it run, stop and go on."""

import json
import os
import socket
import subprocess
import time

import pytest

import minikernel
from qmp import QMPClient
from vmrun import VMProcess, vireo_binary

# prints READY, then counts in the 32-bit word at 2 MiB for ever
COUNTER_ADDR = 0x200000
COUNT = minikernel.PUTS + """
 xor %eax, %eax
3: inc %eax
 mov %eax, 0x200000
 jmp 3b
"""

TCG = ["-M", "pc", "-accel", "tcg", "-m", "64", "-display", "none"]


@pytest.fixture
def counter_kernel(tmp_path):
    return minikernel.build("count", tmp_path, COUNT)


def counter(client):
    """The guest's counter, read through HMP's xp (physical memory)."""
    out = client.hmp(f"xp /1wx {COUNTER_ADDR:#x}")
    return int(out.split(":")[1].split()[0], 16)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(kernel, tmp_path, *extra):
    sock = tmp_path / "qmp.sock"
    vm = VMProcess([vireo_binary(), *TCG, "-kernel", kernel, "-nodefaults",
                    "-serial", "stdio",
                    "-qmp", f"unix:{sock},server=on,wait=off", *extra],
                   stdin=False)
    return vm, sock


def test_greeting_negotiation_and_queries(counter_kernel, tmp_path):
    vm, sock = start(counter_kernel, tmp_path, "-name", "vm-one", "-uuid",
                     "6f2c8a51-7d9e-4b3a-9c1d-2e5f6a7b8c9d", "-smp", "2")
    with vm, QMPClient(sock, negotiate=False) as c:
        qmp = c.greeting["QMP"]
        assert set(qmp["version"]["qemu"]) == {"major", "minor", "micro"}
        assert "vireo" in qmp["version"]["package"]
        assert qmp["capabilities"] == []
        rsp = c.execute("query-status")
        assert rsp["error"]["class"] == "CommandNotFound", rsp
        assert c.execute("qmp_capabilities", id="neg") == \
            {"return": {}, "id": "neg"}

        assert c.cmd("query-status") == {"running": True,
                                         "singlestep": False,
                                         "status": "running"}
        assert c.cmd("query-name") == {"name": "vm-one"}
        assert c.cmd("query-uuid") == \
            {"UUID": "6f2c8a51-7d9e-4b3a-9c1d-2e5f6a7b8c9d"}
        assert c.cmd("query-kvm")["enabled"] is False
        cpus = c.cmd("query-cpus-fast")
        assert [x["cpu-index"] for x in cpus] == [0, 1]
        assert all(x["target"] == "x86_64" and x["thread-id"] > 0
                   for x in cpus)
        tids = os.listdir(f"/proc/{vm.proc.pid}/task")
        assert all(str(x["thread-id"]) in tids for x in cpus)
        machines = {m["name"]: m for m in c.cmd("query-machines")}
        assert {"pc", "microvm", "none"} <= set(machines)
        assert machines["pc"].get("is-default") is True
        labels = {d["label"]: d for d in c.cmd("query-chardev")}
        assert labels["compat_monitor0"]["filename"].startswith("unix:")
        names = {x["name"] for x in c.cmd("query-commands")}
        assert {"qmp_capabilities", "query-status", "stop", "cont", "quit",
                "human-monitor-command", "qom-list"} <= names
        schema = c.cmd("query-qmp-schema")
        entries = {e["name"]: e for e in schema}
        for name in names:
            assert entries[name]["meta-type"] == "command"
        assert entries["SHUTDOWN"]["meta-type"] == "event"
        c.cmd("quit")
        ev = c.wait_event("SHUTDOWN", timeout=10)
        assert ev["data"] == {"guest": False, "reason": "host-qmp-quit"}
        r = vm.wait(timeout=10)
    assert r.returncode == 0, r.describe()


def test_stop_and_cont_stop_the_guest(counter_kernel, tmp_path):
    vm, sock = start(counter_kernel, tmp_path)
    with vm, QMPClient(sock) as c:
        assert vm.expect("READY", timeout=20), vm.output
        a = counter(c)
        time.sleep(0.2)
        assert counter(c) != a          # it runs
        c.cmd("stop")
        assert c.wait_event("STOP", timeout=5)
        assert c.cmd("query-status")["status"] == "paused"
        a = counter(c)
        time.sleep(0.3)
        assert counter(c) == a          # it does not
        c.cmd("stop")                   # stopping twice changes nothing
        c.cmd("cont")
        assert c.wait_event("RESUME", timeout=5)
        assert c.cmd("query-status")["running"] is True
        time.sleep(0.2)
        assert counter(c) != a
        c.cmd("quit")
        r = vm.wait(timeout=10)
    assert r.returncode == 0, r.describe()


def test_start_paused_with_S(counter_kernel, tmp_path):
    vm, sock = start(counter_kernel, tmp_path, "-S")
    with vm, QMPClient(sock) as c:
        assert c.cmd("query-status") == {"running": False,
                                         "singlestep": False,
                                         "status": "prelaunch"}
        time.sleep(0.3)
        assert "READY" not in vm.output     # no guest code ran
        c.cmd("cont")
        assert vm.expect("READY", timeout=20), vm.output
        assert c.wait_event("RESUME", timeout=5)
        assert c.cmd("query-status")["status"] == "running"
        c.cmd("quit")
        assert vm.wait(timeout=10).returncode == 0


def test_system_reset_restarts_the_guest(counter_kernel, tmp_path):
    vm, sock = start(counter_kernel, tmp_path)
    with vm, QMPClient(sock) as c:
        assert vm.expect("READY", timeout=20), vm.output
        c.cmd("system_reset")
        ev = c.wait_event("RESET", timeout=10)
        assert ev["data"] == {"guest": False,
                              "reason": "host-qmp-system-reset"}
        deadline = time.monotonic() + 20
        while vm.output.count("READY") < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert vm.output.count("READY") == 2, vm.output
        # reset while stopped: the VM waits in prelaunch until cont
        c.cmd("stop")
        c.cmd("system_reset")
        c.wait_event("RESET", timeout=10)
        assert c.cmd("query-status")["status"] == "prelaunch"
        c.cmd("cont")
        assert c.cmd("query-status")["status"] == "running"
        c.cmd("quit")
        assert vm.wait(timeout=10).returncode == 0


def test_action_reboot_shutdown_turns_reset_into_exit(tmp_path):
    """-action reboot=shutdown (-no-reboot): even a reset from QMP ends
    the VM, with QEMU's SHUTDOWN event."""
    kernel = minikernel.build("idle", tmp_path)
    vm, sock = start(kernel, tmp_path, "-action", "reboot=shutdown")
    with vm, QMPClient(sock) as c:
        c.cmd("system_reset")
        ev = c.wait_event("SHUTDOWN", timeout=10)
        assert ev["data"] == {"guest": False,
                              "reason": "host-qmp-system-reset"}
        r = vm.wait(timeout=10)
    assert r.returncode == 0, r.describe()


def test_tcp_mon_pretty_and_several_clients(counter_kernel, tmp_path):
    port = free_port()
    sock2 = tmp_path / "q2.sock"
    vm, sock = start(counter_kernel, tmp_path,
                     "-qmp", f"tcp:127.0.0.1:{port},server=on,wait=off",
                     "-chardev",
                     f"socket,id=mon2,path={sock2},server=on,wait=off",
                     "-mon", "chardev=mon2,mode=control,pretty=on")
    with vm, QMPClient(sock) as a, QMPClient(("127.0.0.1", port)) as b, \
            QMPClient(sock2) as p:
        a.cmd("stop")
        # every client that negotiated sees the event
        for cl in (a, b, p):
            assert cl.wait_event("STOP", timeout=5)
        assert b.cmd("query-status")["status"] == "paused"
        p.send_raw('{"execute": "query-status"}')
        raw = b""
        while raw.count(b"\n") < 5:
            raw += p.sock.recv(4096)
        assert b'\n    "return": {\n' in raw       # indented
        b.cmd("cont")
        for cl in (a, p):
            assert cl.wait_event("RESUME", timeout=5)
        a.cmd("quit")
        assert vm.wait(timeout=10).returncode == 0


def test_qmp_on_stdio(counter_kernel):
    cmds = (b'{"execute": "qmp_capabilities"}\n'
            b'{"execute": "query-status", "id": 1}\n'
            b'{"execute": "quit"}\n')
    r = subprocess.run([vireo_binary(), *TCG, "-kernel", counter_kernel,
                        "-nodefaults", "-qmp", "stdio"], input=cmds,
                       capture_output=True, timeout=30)
    lines = [json.loads(x) for x in r.stdout.splitlines()]
    assert "QMP" in lines[0]
    assert {"return": {"running": True, "singlestep": False,
                       "status": "running"}, "id": 1} in lines
    assert r.returncode == 0


@pytest.fixture
def two_monitors(counter_kernel, tmp_path):
    s1, s2 = tmp_path / "a.sock", tmp_path / "b.sock"
    vm = VMProcess([vireo_binary(), *TCG, "-kernel", counter_kernel,
                    "-nodefaults", "-serial", "stdio",
                    "-qmp", f"unix:{s1},server=on,wait=off",
                    "-qmp", f"unix:{s2},server=on,wait=off"], stdin=False)
    with vm:
        assert vm.expect("READY", timeout=20), vm.output
        with QMPClient(s1) as watcher:
            yield vm, watcher, s2


def errors_for(sock, payload, negotiate=True, count=1):
    with QMPClient(sock, negotiate=negotiate) as c:
        c.send_raw(payload)
        return [c.response(timeout=20)["error"] for _ in range(count)]


BAD_INPUT = [
    # (name, payload, expected class, expected desc or a fragment)
    ("not-json", b"this is not json\n", "GenericError", "JSON parse error"),
    ("not-an-object", b"[1, 2]\n", "GenericError",
     "QMP input must be a JSON object"),
    ("unknown-command", b'{"execute": "no-such-command"}\n',
     "CommandNotFound", "The command no-such-command has not been found"),
    ("wrong-argument-type",
     b'{"execute": "qom-list", "arguments": {"path": 42}}\n',
     "GenericError", "Invalid parameter type for 'path', expected: string"),
    ("extra-argument",
     b'{"execute": "query-status", "arguments": {"verbose": true}}\n',
     "GenericError", "Parameter 'verbose' is unexpected"),
    ("missing-argument", b'{"execute": "qom-get", "arguments": {}}\n',
     "GenericError", "Parameter 'path' is missing"),
    ("bad-envelope", b'{"execute": "query-status", "x": 1}\n',
     "GenericError", "QMP input member 'x' is unexpected"),
]


@pytest.mark.parametrize("name,payload,cls,desc", BAD_INPUT,
                         ids=[b[0] for b in BAD_INPUT])
def test_bad_input_gets_qemus_error(two_monitors, name, payload, cls, desc):
    vm, watcher, s2 = two_monitors
    err, = errors_for(s2, payload)
    assert err["class"] == cls and desc in err["desc"], err
    assert_still_fine(vm, watcher)


def assert_still_fine(vm, watcher):
    assert vm.proc.poll() is None, vm.output
    a = counter(watcher)
    time.sleep(0.1)
    assert counter(watcher) != a
    assert watcher.cmd("query-status")["status"] == "running"


def test_command_before_negotiation(two_monitors):
    vm, watcher, s2 = two_monitors
    err, = errors_for(s2, b'{"execute": "stop"}\n', negotiate=False)
    assert err["class"] == "CommandNotFound", err
    assert "qmp_capabilities" in err["desc"]
    assert_still_fine(vm, watcher)      # and the stop did not happen


def test_ten_mib_line(two_monitors):
    vm, watcher, s2 = two_monitors
    big = (b'{"execute": "query-status", "arguments": {"x": "'
           + b"A" * (10 << 20) + b'"}}\n{"execute": "query-version"}\n')
    with QMPClient(s2) as c:
        c.send_raw(big)
        rsp = c.response(timeout=60)
        assert rsp["error"]["class"] == "GenericError", rsp
        assert "exceeds" in rsp["error"]["desc"], rsp
        assert "return" in c.response(timeout=20)   # the stream goes on
    assert_still_fine(vm, watcher)


def test_client_leaving_mid_command(two_monitors):
    vm, watcher, s2 = two_monitors
    for _ in range(3):
        with QMPClient(s2) as c:
            c.send_raw(b'{"execute": "sto')
    with QMPClient(s2) as c:                   # a fresh greeting each time
        assert c.cmd("query-status")["status"] == "running"
    assert_still_fine(vm, watcher)


def test_bad_monitor_options(counter_kernel, tmp_path):
    cases = [
        (["-mon", "chardev=nope"], "chardev 'nope' not found"),
        (["-mon", "mode=control"], "'chardev' is missing"),
        (["-chardev", "null,id=c", "-mon", "chardev=c,mode=json"],
         "expected readline or control"),
        (["-qmp", "bogus:x"], "unknown character backend 'bogus'"),
        (["-uuid", "not-a-uuid"], "-uuid not-a-uuid: not a UUID"),
        (["-action", "reboot=explode"], "expected reset|shutdown"),
        (["-action", "panic=pause,boom=1"], "boom"),
    ]
    for extra, msg in cases:
        r = subprocess.run([vireo_binary(), *TCG, "-kernel", counter_kernel,
                            "-nodefaults", *extra], capture_output=True,
                           text=True, timeout=20)
        assert r.returncode == 1 and msg in r.stderr, (extra, r.stderr)


def test_machine_none_for_probing(tmp_path):
    sock = tmp_path / "q.sock"
    vm = VMProcess([vireo_binary(), "-M", "none", "-accel", "tcg",
                    "-display", "none", "-qmp",
                    f"unix:{sock},server=on,wait=off"], stdin=False)
    with vm, QMPClient(sock) as c:
        assert c.cmd("query-cpus-fast") == []
        assert c.cmd("query-status")["status"] == "running"
        assert any(m["name"] == "none" for m in c.cmd("query-machines"))
        err = c.execute("system_powerdown")["error"]
        assert "no ACPI power button" in err["desc"], err
        c.cmd("quit")
        assert vm.wait(timeout=10).returncode == 0
