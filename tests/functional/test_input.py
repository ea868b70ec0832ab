"""Keys sent over QMP (send-key) and HMP (sendkey) reach real guests
through the i8042 and the PS/2 keyboard: SeaBIOS opens its boot menu on
ESC, and the Debian test guest (tests/guest/build-debian-guest.sh), as
Linux's i8042 and atkbd drivers see them, gets them typed on its console
(tty1) and as key codes on the keyboard's evdev device, extended (0xE0)
keys and shifted letters included. One boot on pc carries the Linux part,
as boots on the software CPU take a while."""

import re
import time

import pytest

import pcimages
from qmp import QMPClient
from test_debian_guest import TIMEOUT, guest_args
from vmrun import VMProcess

PROMPT = r"vireo-guest:/# "

# Linux input key codes (linux/input-event-codes.h)
KEY_A, KEY_RIGHTCTRL, KEY_UP, KEY_LEFTSHIFT = 30, 97, 103, 42
EV_KEY = 1


def send_key(c, *keys, hold=20):
    c.cmd("send-key", {"keys": [{"type": "qcode", "data": k} for k in keys],
                       "hold-time": hold})


def key_events(od_text):
    """(code, value) of the EV_KEY events in `od -An -v -tx1` output of
    struct input_event (64-bit: 16 bytes of time, u16 type, u16 code,
    s32 value)."""
    data = bytes(int(b, 16) for b in re.findall(r"\b[0-9a-f]{2}\b", od_text))
    out = []
    for off in range(0, len(data) - len(data) % 24, 24):
        ev = data[off:off + 24]
        etype = int.from_bytes(ev[16:18], "little")
        code = int.from_bytes(ev[18:20], "little")
        value = int.from_bytes(ev[20:24], "little", signed=True)
        if etype == EV_KEY:
            out.append((code, value))
    return out


def test_seabios_boot_menu_opens_on_esc(vireo_binary, tmp_path):
    """SeaBIOS reads the keyboard through its own PS/2 driver (set 1 codes
    translated by the i8042, IRQ 1): ESC at its prompt opens the menu."""
    if pcimages.seabios_dir() is None:
        pytest.skip("SeaBIOS is not installed (package seabios)")
    log = tmp_path / "seabios.log"
    sock = tmp_path / "qmp.sock"
    args = [vireo_binary, "-M", "pc", "-accel", "tcg", "-m", "128",
            "-display", "none", "-serial", "none",
            "-boot", "menu=on,splash-time=30000",
            *pcimages.debugcon_args(log),
            "-qmp", f"unix:{sock},server=on,wait=off"]
    with VMProcess(args, stdin=False) as vm, QMPClient(sock) as c:
        deadline = time.monotonic() + 90
        while "Press ESC for boot menu" not in pcimages.read_log(log):
            assert vm.proc.poll() is None, vm.output
            if time.monotonic() > deadline:
                pytest.skip("SeaBIOS does not show its boot menu prompt on "
                            f"Vireo's pc yet: {pcimages.read_log(log)[-500:]}")
            time.sleep(0.1)
        assert "PS2 keyboard initialized" in pcimages.read_log(log)
        assert "Select boot device" not in pcimages.read_log(log)
        send_key(c, "esc")
        while "Select boot device" not in pcimages.read_log(log):
            assert time.monotonic() < deadline + 30, pcimages.read_log(log)
            time.sleep(0.1)


@pytest.mark.slow
def test_keys_reach_the_guest(vireo_binary, debian_guest, tmp_path):
    sock = tmp_path / "qmp.sock"
    args = guest_args(vireo_binary, debian_guest, "pc", 1,
                      "console=ttyS0 vireo.task=shell") + \
        ["-qmp", f"unix:{sock},server=on,wait=off"]
    with VMProcess(args) as vm, QMPClient(sock) as c:
        assert vm.expect(PROMPT, timeout=TIMEOUT), vm.output

        # a line typed on the keyboard arrives on tty1; OPE""NED appears in
        # the output only once tty1 is open, not in the echoed command
        vm.send('(exec </dev/tty1; echo OPE""NED; read -r line; '
                'echo "GOT=[$line]")\n')
        assert vm.expect(r"OPENED", timeout=60), vm.output
        for k in ("k", "e", "y", "s", "1", "2"):
            send_key(c, k)
        send_key(c, "shift", "a")
        assert c.hmp("sendkey ret 20") == ""
        assert vm.expect(r"GOT=\[keys12A\]", timeout=60), vm.output

        # the key codes on the keyboard's evdev device
        vm.send("ev=$(grep -l 'AT Translated' "
                "/sys/class/input/event*/device/name | cut -d/ -f5); "
                "cat /dev/input/$ev >/tmp/ev & echo EV=$ev-STARTED\n")
        assert vm.expect(r"EV=event\d+-STARTED", timeout=60), vm.output
        # cat needs a moment to open the device; the shell answering an
        # echo means it has been scheduled since
        vm.send("sleep 1; echo SLE\"\"PT\n")
        assert vm.expect(r"SLEPT", timeout=60), vm.output
        send_key(c, "a")
        send_key(c, "ctrl_r", "up")
        vm.send("sleep 1; kill $!; od -An -v -tx1 /tmp/ev; "
                "echo EV\"\"DONE\n")
        assert vm.expect(r"EVDONE", timeout=60), vm.output
        text = vm.output.rsplit("SLEPT", 1)[1].split("EVDONE")[0]
        events = key_events(text.split("/tmp/ev; echo", 1)[-1])
        assert events == [(KEY_A, 1), (KEY_A, 0),
                          (KEY_RIGHTCTRL, 1), (KEY_UP, 1),
                          (KEY_UP, 0), (KEY_RIGHTCTRL, 0)], (events, text)

        vm.send("poweroff -f\n")
        r = vm.wait(timeout=60)
    assert not r.timed_out, r.describe()
    assert r.returncode == 0, r.describe()
