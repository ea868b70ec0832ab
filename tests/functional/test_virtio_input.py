"""virtio-tablet-pci and virtio-keyboard-pci with Linux's virtio_input
driver in the Debian test guest (tests/guest/build-debian-guest.sh): the
guest lists them under their QEMU names and IDs, and events sent with QMP
input-send-event arrive on their evdev nodes with Linux's type, code and
value, each group ended by SYN_REPORT. Once the tablet's driver is ready,
it takes buttons from the PS/2 mouse (query-mice: the pointer is
absolute), and gives them back when its driver is unbound. LED changes
come back over the status queue. One boot carries all guest cases, as
boots on the software CPU take a while; -device help, bad properties and
the migration state description need no guest."""

import itertools
import json
import re

import pytest

from qmp import QMPClient
from test_debian_guest import TIMEOUT, guest_args
from vmrun import VMProcess, run_vm

PROMPT = r"vireo-guest:/# "

# linux/input-event-codes.h
EV_SYN, EV_KEY, EV_REL, EV_ABS, EV_LED = 0, 1, 2, 3, 0x11
SYN_REPORT = 0
ABS_X, ABS_Y = 0, 1
REL_WHEEL = 8
BTN_LEFT, BTN_RIGHT = 0x110, 0x111
KEY_A, KEY_LEFTSHIFT, KEY_UP, KEY_F12 = 30, 42, 103, 88

_marks = itertools.count()


class Guest:
    def __init__(self, vm, qmp):
        self.vm = vm
        self.qmp = qmp

    def run(self, cmd, timeout=60):
        """Runs a shell command in the guest; returns its output. The
        markers are quoted apart so that the echoed command line (which
        the console wraps) never matches them."""
        n = next(_marks)
        self.vm.send(f'echo "BE""GIN{n}"; {cmd}; echo "MA""RK{n}-$?"\n')
        m = self.vm.expect(rf"BEGIN{n}\r?\n((?s:.*?))MARK{n}-(\d+)",
                           timeout=timeout)
        assert m, self.vm.output[-3000:]
        return m.group(1).decode("utf-8", "replace")

    def event_node(self, name):
        out = self.run(f"grep -l '^{name}$' "
                       "/sys/class/input/event*/device/name | cut -d/ -f5")
        m = re.search(r"event\d+", out)
        assert m, out
        return m.group(0)

    def capture(self, name, send):
        """Reads the evdev node of device `name` while send() runs; returns
        its events as (type, code, value)."""
        node = self.event_node(name)
        self.run(f"cat /dev/input/{node} >/tmp/ev & echo $! >/tmp/ev.pid")
        # cat needs a moment to open the device; a shell answer after a
        # sleep means it has been scheduled since
        self.run("sleep 1")
        send()
        out = self.run("sleep 1; kill $(cat /tmp/ev.pid); "
                       "od -An -v -tx1 /tmp/ev")
        return input_events(out)

    def send_events(self, *events):
        self.qmp.cmd("input-send-event", {"events": list(events)})


def input_events(od_text):
    """(type, code, value) of the struct input_event records (64-bit:
    16 bytes of time, u16 type, u16 code, s32 value) in `od -tx1` output."""
    data = bytes(int(b, 16) for b in re.findall(r"\b[0-9a-f]{2}\b", od_text))
    out = []
    for off in range(0, len(data) - len(data) % 24, 24):
        ev = data[off:off + 24]
        out.append((int.from_bytes(ev[16:18], "little"),
                    int.from_bytes(ev[18:20], "little"),
                    int.from_bytes(ev[20:24], "little", signed=True)))
    return out


def abs_ev(axis, value):
    return {"type": "abs", "data": {"axis": axis, "value": value}}


def btn_ev(button, down):
    return {"type": "btn", "data": {"button": button, "down": down}}


def key_ev(key, down):
    return {"type": "key", "data": {"key": {"type": "qcode", "data": key},
                                    "down": down}}


SYN = (EV_SYN, SYN_REPORT, 0)


@pytest.fixture(scope="module")
def guest(vireo_binary, debian_guest, tmp_path_factory):
    sock = tmp_path_factory.mktemp("vinput") / "qmp.sock"
    args = guest_args(vireo_binary, debian_guest, "pc", 1,
                      "console=ttyS0 vireo.task=shell") + \
        ["-device", "virtio-tablet-pci",
         "-device", "virtio-keyboard-pci,serial=vireo-kbd-1",
         "-qmp", f"unix:{sock},server=on,wait=off"]
    with VMProcess(args) as vm, QMPClient(sock) as c:
        assert vm.expect(PROMPT, timeout=TIMEOUT), vm.output
        g = Guest(vm, c)
        # the drivers are ready once their evdev nodes exist
        g.run("i=0; while [ $i -lt 100 ] && [ $(grep -c 'QEMU Virtio' "
              "/proc/bus/input/devices) -lt 2 ]; do sleep 0.2; "
              "i=$((i+1)); done")
        yield g
        vm.send("poweroff -f\n")
        r = vm.wait(timeout=60)
        assert not r.timed_out, r.describe()
        assert r.returncode == 0, r.describe()


@pytest.mark.slow
def test_guest_lists_the_devices(guest):
    out = guest.run("cat /proc/bus/input/devices")
    blocks = {}
    for block in out.replace("\r", "").split("\n\n"):
        m = re.search(r'N: Name="([^"]*)"', block)
        if m:
            blocks[m.group(1)] = block
    tablet = blocks.get("QEMU Virtio Tablet")
    kbd = blocks.get("QEMU Virtio Keyboard")
    assert tablet and kbd, out
    assert "I: Bus=0006 Vendor=0627 Product=0003 Version=0001" in tablet
    assert "I: Bus=0006 Vendor=0627 Product=0001 Version=0001" in kbd
    # EV= bitmaps: tablet SYN KEY REL ABS; keyboard SYN KEY LED REP
    assert re.search(r"B: EV=f\b", tablet), tablet
    assert re.search(r"B: EV=120003\b", kbd), kbd
    assert re.search(r"B: ABS=3\b", tablet), tablet
    # the serial property is the driver's uniq
    assert "U: Uniq=vireo-kbd-1" in kbd, kbd
    assert re.search(r"^U: Uniq=\s*$", tablet, re.M), tablet


def current_mouse(qmp):
    mice = qmp.cmd("query-mice")
    current = [m for m in mice if m["current"]]
    assert len(current) == 1, mice
    return current[0]


@pytest.mark.slow
def test_tablet_takes_the_pointer_while_its_driver_is_bound(guest):
    """Ready, the tablet is the current, absolute pointer; with its driver
    unbound (the device reset) the PS/2 mouse is again; bound again, the
    tablet takes over and gets events."""
    mouse = current_mouse(guest.qmp)
    assert mouse["name"] == "QEMU Virtio Tablet" and mouse["absolute"], mouse
    dev = guest.run("basename $(readlink /sys/class/input/$(grep -l "
                    "'^QEMU Virtio Tablet$' /sys/class/input/event*/device/"
                    "name | cut -d/ -f5)/device/device)").strip()
    assert re.fullmatch(r"virtio\d+", dev), dev
    guest.run(f"echo {dev} >/sys/bus/virtio/drivers/virtio_input/unbind")
    mouse = current_mouse(guest.qmp)
    assert mouse["name"] == "QEMU PS/2 Mouse" and not mouse["absolute"], \
        mouse
    # buttons go to the PS/2 mouse now; abs has no ready taker, dropped
    guest.send_events(btn_ev("left", True), abs_ev("x", 5))
    guest.send_events(btn_ev("left", False))
    guest.run(f"echo {dev} >/sys/bus/virtio/drivers/virtio_input/bind")
    guest.run("i=0; while [ $i -lt 100 ] && ! grep -q 'QEMU Virtio Tablet' "
              "/sys/class/input/event*/device/name; do sleep 0.2; "
              "i=$((i+1)); done")
    mouse = current_mouse(guest.qmp)
    assert mouse["name"] == "QEMU Virtio Tablet" and mouse["absolute"], mouse
    events = guest.capture("QEMU Virtio Tablet", lambda: guest.send_events(
        abs_ev("x", 300), abs_ev("y", 400)))
    assert events == [(EV_ABS, ABS_X, 300), (EV_ABS, ABS_Y, 400), SYN], \
        events


@pytest.mark.slow
def test_tablet_gets_absolute_motion_and_buttons(guest):
    def send():
        guest.send_events(abs_ev("x", 1000), abs_ev("y", 20000))
        guest.send_events(btn_ev("left", True))
        guest.send_events(btn_ev("left", False))
        guest.send_events(abs_ev("x", 0x7fff), abs_ev("y", 0),
                          btn_ev("right", True))
        guest.send_events(btn_ev("right", False))
        guest.send_events(btn_ev("wheel-up", True), btn_ev("wheel-up", False))
        guest.send_events(btn_ev("wheel-down", True),
                          btn_ev("wheel-down", False))

    events = guest.capture("QEMU Virtio Tablet", send)
    assert events == [
        (EV_ABS, ABS_X, 1000), (EV_ABS, ABS_Y, 20000), SYN,
        (EV_KEY, BTN_LEFT, 1), SYN,
        (EV_KEY, BTN_LEFT, 0), SYN,
        (EV_ABS, ABS_X, 0x7fff), (EV_ABS, ABS_Y, 0),
        (EV_KEY, BTN_RIGHT, 1), SYN,
        (EV_KEY, BTN_RIGHT, 0), SYN,
        (EV_REL, REL_WHEEL, 1), SYN,
        (EV_REL, REL_WHEEL, -1), SYN,
    ], events


@pytest.mark.slow
def test_keyboard_gets_keys(guest):
    def send():
        guest.send_events(key_ev("a", True))
        guest.send_events(key_ev("a", False))
        guest.send_events(key_ev("shift", True), key_ev("up", True))
        guest.send_events(key_ev("up", False), key_ev("shift", False))
        guest.qmp.cmd("send-key", {"keys": [{"type": "qcode",
                                             "data": "f12"}]})

    events = [e for e in guest.capture("QEMU Virtio Keyboard", send)
              if e[0] != 4]     # EV_MSC: none expected, but harmless
    assert events == [
        (EV_KEY, KEY_A, 1), SYN,
        (EV_KEY, KEY_A, 0), SYN,
        # one input-send-event is one group
        (EV_KEY, KEY_LEFTSHIFT, 1), (EV_KEY, KEY_UP, 1), SYN,
        (EV_KEY, KEY_UP, 0), (EV_KEY, KEY_LEFTSHIFT, 0), SYN,
        (EV_KEY, KEY_F12, 1), SYN,
        (EV_KEY, KEY_F12, 0), SYN,
    ], events


@pytest.mark.slow
def test_keyboard_leds_from_the_guest(guest):
    """Linux sends LED changes on the status queue: the device takes each
    buffer and hands it back with an interrupt (the status vector's count
    grows), and the keyboard carries on."""
    node = guest.event_node("QEMU Virtio Keyboard")
    vdev = guest.run(f"basename $(readlink /sys/class/input/{node}/device/"
                     "device)").strip()
    assert re.fullmatch(r"virtio\d+", vdev), vdev

    def status_irqs():
        out = guest.run(f"grep ' {vdev}-status$' /proc/interrupts")
        m = re.match(r"\s*\d+:\s+(\d+)", out)
        assert m, out
        return int(m.group(1))

    before = status_irqs()
    # struct input_event written to the evdev node: 16 bytes of time, then
    # EV_LED, LED_CAPSL, value 1 and 0 (Linux hands them to the driver)
    for value in (1, 0):
        ev = "\\0" * 16 + f"\\021\\0\\001\\0\\{value:03o}\\0\\0\\0"
        guest.run(f"printf '{ev}' >/dev/input/{node}")
    assert status_irqs() >= before + 2
    events = guest.capture("QEMU Virtio Keyboard", lambda: guest.send_events(
        key_ev("b", True), key_ev("b", False)))
    # the console's keyboard handler may set the LEDs back meanwhile
    events = [e for e in events if e[0] != EV_LED]
    assert events == [(EV_KEY, 48, 1), (EV_KEY, 48, 0), SYN], events


def test_device_help_lists_the_input_devices(vireo_binary):
    r = run_vm([vireo_binary, "-device", "help"], timeout=30)
    assert r.returncode == 0, r.describe()
    for kind in ("keyboard", "mouse", "tablet"):
        assert f'name "virtio-{kind}-pci", bus PCI' in r.output, r.output
        assert f'name "virtio-{kind}-device", bus virtio-bus' in r.output, \
            r.output


@pytest.mark.parametrize("machine, opt, message", [
    ("pc", "virtio-tablet-pci,bogus=1", "has no property 'bogus'"),
    ("pc", "virtio-mouse-pci,vectors=x", "vectors"),
    ("pc", "virtio-keyboard-pci,serial=" + "s" * 200, "serial: at most 128"),
    ("microvm", "virtio-tablet-device,serial=" + "s" * 129, "at most 128"),
    ("pc", "virtio-mouse-device", "no free virtio-mmio slot"),
])
def test_bad_properties_are_clear_errors(vireo_binary, machine, opt,
                                         message):
    r = run_vm([vireo_binary, "-M", machine, "-accel", "qtest", "-display",
                "none", "-device", opt], timeout=30)
    assert r.returncode != 0, r.describe()
    assert message in r.output, r.describe()


def test_device_state_is_described_for_migration(vireo_binary, tmp_path):
    """-dump-vmstate: each device saves its transport, then the driver's
    config selection, the events waiting for buffers and the LEDs."""
    path = tmp_path / "vmstate.json"
    r = run_vm([vireo_binary, "-dump-vmstate", path], timeout=30)
    assert r.returncode == 0, r.describe()
    dump = json.loads(path.read_text())

    def fields(desc):
        return {f["field"]: f for f in desc["Fields"]}

    for kind in ("keyboard", "mouse", "tablet"):
        pci = fields(dump[f"virtio-{kind}-pci"]["Description"])
        assert list(pci) == ["proxy", "hid"], pci
        hid = fields(pci["hid"]["Description"])
        assert hid["leds"]["type"] == "uint32"
        state = fields(hid["input"]["Description"])
        assert {"select", "subsel", "pending", "complete_len"} <= set(state)
        mmio = fields(dump[f"virtio-{kind}-device"]["Description"])
        assert list(mmio) == ["hid"], mmio
