"""The test kernel's virtio-blk driver (action=blk, tests/guest/testkernel/
blk.c) on Vireo's microvm: a short run of every workload of the
benchmark tests/bench/blk on a small patterned disk, raw and qcow2, with
completions polled and by interrupt. The guest checks what it reads
(each 4 KiB block starts with its number and "VIREOBLK"; three blocks of
each request), writes the same pattern back, and sends requests past the
end of the disk, which must fail with VIRTIO_BLK_S_IOERR while the device
goes on serving. Under KVM (skipped without /dev/kvm) and on the software
CPU.
"""
import os
import re
import shutil
import struct
import subprocess
import sys

import pytest

import testkernel as tk
from vmrun import kvm_usable, run_vm, vireo_binary, vireo_built

BLOCK = 4096
DISK_MIB = 32
MAGIC = b"VIREOBLK"


@pytest.fixture(scope="module")
def kernel():
    if not vireo_built():
        pytest.skip(f"vireo binary not found at {vireo_binary()}")
    missing = tk.toolchain_missing()
    if missing:
        pytest.skip(f"cannot build the test kernel: {missing}")
    try:
        return tk.build()["bzimage"]
    except tk.BuildError as e:
        pytest.fail(f"test kernel build failed:\n{e}", pytrace=False)


def make_pattern_disk(path, mib):
    chunk = bytearray(1 << 20)
    with open(path, "wb") as f:
        for m in range(mib):
            for i in range(256):
                struct.pack_into("<Q8s", chunk, i * BLOCK, m * 256 + i, MAGIC)
            f.write(chunk)


def bad_blocks(path):
    """Block numbers whose header is not the pattern's."""
    bad = []
    with open(path, "rb") as f:
        n = 0
        while True:
            b = f.read(BLOCK)
            if not b:
                return bad
            if b[:16] != struct.pack("<Q8s", n, MAGIC) or any(b[16:]):
                bad.append(n)
            n += 1


def qemu_img():
    """qemu-img, or Vireo's compatible vireo-img next to the binary."""
    img = vireo_binary().parent / "tools" / "vireo-img"
    return str(img) if img.exists() else shutil.which("qemu-img")


@pytest.fixture(params=["raw", "qcow2"])
def disk(request, tmp_path):
    raw = tmp_path / "disk.img"
    make_pattern_disk(raw, DISK_MIB)
    if request.param == "raw":
        return raw, "raw"
    tool = qemu_img()
    if not tool:
        pytest.skip("neither vireo-img nor qemu-img found")
    q = tmp_path / "disk.qcow2"
    subprocess.run([tool, "convert", "-f", "raw", "-O", "qcow2", "-o",
                    "cluster_size=65536", str(raw), str(q)], check=True)
    return q, "qcow2"


@pytest.fixture(params=["kvm", "tcg"])
def accel(request):
    if request.param == "kvm" and not kvm_usable()[0]:
        pytest.skip(f"needs KVM: {kvm_usable()[1]}")
    return request.param


def run_blk(kernel, accel, append, drives, timeout=120):
    cmd = [vireo_binary(), "-M", "microvm,acpi=off", "-m", "256",
           "-kernel", kernel, "-append", f"test=none action=blk {append}",
           "-nographic", "-no-reboot", *tk.DEBUG_EXIT]
    cmd += ["-accel", "tcg"] if accel == "tcg" else ["-enable-kvm"]
    for i, (path, fmt) in enumerate(drives):
        cmd += ["-drive", f"file={path},format={fmt},if=none,id=d{i}",
                "-device", f"virtio-blk-device,drive=d{i}"]
    return run_vm(cmd, timeout=timeout)


def test_blk_reads_writes_and_errors_past_the_end(kernel, accel, disk):
    path, fmt = disk
    r = run_blk(kernel, accel, "blk_seconds=1 blk_mode=poll,irq "
                "blk_work=randread,seqread,randwrite,beyond", [disk])
    verdict = tk.parse(r.output)
    assert r.returncode == tk.EXIT_PASS, r.describe()
    assert {"blk", "blk-beyond-end"} <= verdict["passed"], r.describe()
    lines = re.findall(r"BLK (\w+) mode=(\w+) .*iops=(\d+) mbps=([\d.]+) "
                       r"verified=(\d+)", r.output)
    seen = {(work, mode) for work, mode, *_ in lines}
    assert seen == {(w, m) for w in ("randread", "seqread", "randwrite")
                    for m in ("poll", "irq")}, r.describe()
    for work, mode, iops, mbps, verified in lines:
        assert int(iops) > 0 and float(mbps) > 0, r.describe()
        if work != "randwrite":
            assert int(verified) > 0, r.describe()
    # the whole disk read sequentially in 1 MiB requests, three blocks of
    # each checked (the first, the last and a random one)
    seq = re.search(r"BLK seqread mode=poll .*ios=(\d+) .*verified=(\d+)",
                    r.output)
    assert int(seq.group(1)) == DISK_MIB, r.describe()
    assert int(seq.group(2)) == DISK_MIB * 3, r.describe()
    # the writes put the pattern back where it was
    if fmt == "qcow2":
        raw = path.with_suffix(".check")
        subprocess.run([qemu_img(), "convert", "-O", "raw", str(path),
                        str(raw)], check=True)
        path = raw
    assert bad_blocks(path) == []


def test_blk_with_event_idx(kernel, accel, tmp_path):
    """With VIRTIO_RING_F_EVENT_IDX negotiated, notifications and
    interrupts go by the rings' event indexes: polling and interrupts both
    still see every completion."""
    path = tmp_path / "disk.img"
    make_pattern_disk(path, 8)
    r = run_blk(kernel, accel, "blk_seconds=1 blk_mode=poll,irq "
                "blk_work=randread,seqread,beyond blk_event_idx=1",
                [(path, "raw")])
    assert r.returncode == tk.EXIT_PASS, r.describe()
    m = re.search(r"BLK device .*features=([0-9a-f]+)", r.output)
    assert m and int(m.group(1), 16) & (1 << 29), r.describe()
    irq = re.search(r"BLK randread mode=irq .*iops=(\d+) .*irqs=(\d+)",
                    r.output)
    assert int(irq.group(1)) > 0 and int(irq.group(2)) > 0, r.describe()


def test_blk_without_a_disk_fails_cleanly(kernel, accel):
    """No virtio-blk: the kernel says so and leaves; the VMM exits."""
    r = run_blk(kernel, accel, "blk_seconds=1", [], timeout=60)
    assert r.returncode == tk.EXIT_FAIL, r.describe()
    assert "no virtio-blk device" in tk.parse(r.output)["failed"].get(
        "blk", ""), r.describe()


def test_blk_detects_a_disk_without_the_pattern(kernel, accel, tmp_path):
    """A block that does not carry its number is reported: the guest's
    verification checks what it reads, not just that reads complete (here
    the last block of a 1 MiB request, which is always checked)."""
    path = tmp_path / "bad.img"
    make_pattern_disk(path, 4)
    with open(path, "r+b") as f:
        f.seek(3 * (1 << 20) + 255 * BLOCK)
        f.write(struct.pack("<Q", 12345))
    r = run_blk(kernel, accel, "blk_work=seqread", [(path, "raw")])
    assert r.returncode == tk.EXIT_FAIL, r.describe()
    assert "verification" in tk.parse(r.output)["failed"].get("blk", ""), \
        r.describe()
    assert f"block {3 * 256 + 255} reads as" in r.output, r.describe()


def test_bench_script_measures_vireo(kernel, accel, tmp_path):
    """tests/bench/blk end to end on a small image (Vireo only, no fio):
    its table has the figures of every workload and completion mode."""
    bench = tk.REPO / "tests" / "bench" / "blk"
    r = subprocess.run([sys.executable, str(bench), "--accel", accel,
                        "-n", "1", "--only", "vireo", "--formats", "raw",
                        "--aio", "native", "--disk-mib", "16", "--seconds",
                        "1", "--no-fio", "--dir", str(tmp_path)],
                       capture_output=True, text=True, timeout=300,
                       env=dict(os.environ, VIREO=str(vireo_binary())))
    assert r.returncode == 0, r.stderr
    rows = [line for line in r.stdout.splitlines()
            if line.startswith("| raw | native |")]
    assert len(rows) == 4, r.stdout + r.stderr
    for row in rows:
        vireo_cell = row.split("|")[5]
        assert "failed" not in vireo_cell and re.search(r"\d", vireo_cell), \
            row
    assert list(tmp_path.iterdir()) == [], "the bench left its images"
