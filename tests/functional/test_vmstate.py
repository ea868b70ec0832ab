"""-dump-vmstate FILE, QEMU's option: a JSON description of the migration
state of every device class (names, versions, fields with their sizes,
nested descriptions, subsections), written without starting a VM; a path
that cannot be written is a clear error and exit status 1."""
import json

import pytest

from vmrun import run_vm, vireo_binary


def vireo(*args, timeout=30):
    return run_vm([vireo_binary(), *args], timeout=timeout)


@pytest.fixture(scope="module")
def dump(tmp_path_factory):
    path = tmp_path_factory.mktemp("vmstate") / "vmstate.json"
    r = vireo("-dump-vmstate", str(path))
    assert r.returncode == 0, r.describe()
    return json.loads(path.read_text())


def fields(desc):
    return {f["field"]: f for f in desc["Fields"]}


PCI_AND_VIRTIO = (
    "i440FX-pcihost", "i440FX", "PIIX3", "pci-testdev", "virtio-mmio",
    "virtio-rng-pci", "virtio-rng-device", "virtio-blk-pci",
    "virtio-blk-device", "virtio-net-pci", "virtio-net-device",
    "virtio-serial-pci", "virtio-serial-device",
)


def test_lists_the_devices_with_state(dump):
    for cls in ("isa-serial", "isa-pit", "x86-irqchip", "i8042", "port92",
                "acpi-pm", *PCI_AND_VIRTIO):
        assert cls in dump, sorted(dump)
        entry = dump[cls]
        assert entry["Name"] == cls
        assert entry["version_id"] >= entry["minimum_version_id"] >= 1
        desc = entry["Description"]
        assert desc["version_id"] == entry["version_id"]
        assert desc["Fields"], cls
        for f in desc["Fields"]:
            assert f["field"] and f["type"] and f["version_id"] >= 1


def test_fields_have_kinds_and_sizes(dump):
    serial = fields(dump["isa-serial"]["Description"])
    assert serial["divisor"]["type"] == "uint16"
    assert serial["divisor"]["size"] == 2
    assert serial["rx_fifo"]["type"] == "buffer"
    assert serial["rx_fifo"]["size"] == 16
    assert serial["rx_head"]["type"] == "uint32"
    assert serial["thr_ipending"]["type"] == "bool"
    # host-side pieces are not state
    assert not {"chr", "io", "timeout_source", "m"} & set(serial)

    pit = fields(dump["isa-pit"]["Description"])
    assert pit["ch"]["type"] == "struct" and pit["ch"]["num"] == 3
    channel = fields(pit["ch"]["Description"])
    assert channel["load_time"]["type"] == "int64"
    assert channel["count"]["size"] == 4


def test_nested_descriptions_of_the_irqchip(dump):
    chip = fields(dump["x86-irqchip"]["Description"])
    assert chip["lapics"]["type"] == "lapics"
    apic = fields(chip["lapics"]["Description"])
    assert apic["irr"]["num"] == 8 and apic["irr"]["size"] == 4
    assert apic["apicbase"]["type"] == "uint64"
    assert chip["ioapic"]["pointer"] is True
    ioapic = fields(chip["ioapic"]["Description"])
    assert ioapic["redtbl"]["num"] == 24 and ioapic["redtbl"]["size"] == 8
    pic = fields(chip["pic"]["Description"])
    assert pic["chip"]["num"] == 2
    assert "elcr" in fields(pic["chip"]["Description"])


def test_pci_and_virtio_nesting(dump):
    # a virtio-X-pci device: the PCI function, the transport, the device
    pci = fields(dump["virtio-blk-pci"]["Description"])
    assert list(pci) == ["proxy", "blk"]
    proxy = fields(pci["proxy"]["Description"])
    assert proxy["queue_vector"]["type"] == "virtio-pci-queue-vectors"
    function = fields(proxy["pci"]["Description"])
    assert function["config"]["type"] == "buffer"
    assert function["config"]["size"] == 256
    assert function["msix"]["type"] == "pci-msix"
    assert set(fields(function["msix"]["Description"])) == {
        "addr", "data", "ctrl", "pending"}
    assert proxy["vdev"]["pointer"] is True
    vdev = fields(proxy["vdev"]["Description"])
    assert vdev["config"]["type"] == "vbuffer"
    assert vdev["guest_features"]["type"] == "uint64"
    queue = fields(vdev["queues"]["Description"])
    for f in ("num", "ready", "desc", "avail", "used", "last_avail_idx",
              "used_idx", "signalled_used", "signalled_used_valid",
              "notification"):
        assert f in queue, f
    # on virtio-mmio the transport holds the device's virtio state
    mmio = dump["virtio-mmio"]["Description"]
    assert mmio["Subsections"][0]["Name"] == "virtio-mmio/device"
    rng = fields(dump["virtio-rng-device"]["Description"])
    assert set(fields(rng["rng"]["Description"])) == {"quota",
                                                      "refill_deadline"}
    # host-side pieces are not state
    assert not {"bar", "notify", "timer", "blk"} & set(proxy)


def test_help_lists_it():
    r = vireo("-h")
    assert r.returncode == 0 and "-dump-vmstate" in r.output


@pytest.mark.parametrize("path,reason", [
    ("/nonexistent-dir/vmstate.json", "No such file or directory"),
    ("/", "Is a directory"),
])
def test_unwritable_path_is_a_clear_error(path, reason):
    r = vireo("-dump-vmstate", path)
    assert r.returncode == 1, r.describe()
    assert f"-dump-vmstate {path}: {reason}" in r.output, r.output


def test_missing_argument():
    r = vireo("-dump-vmstate")
    assert r.returncode == 1
    assert "-dump-vmstate: requires an argument" in r.output
