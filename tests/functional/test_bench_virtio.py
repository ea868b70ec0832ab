"""tests/bench/virtio without booting a guest: its help and options, the
guest programs it compiles (randio and timeit, run here on the host
against a temporary file), the qcow2 images it makes with qemu-img, the
guest script and VMM command lines of each --formats, the initrd archive
it builds, how it reads the guest's lines, its report, and that writing
its RESULTS.md section keeps the other benchmarks' sections. A few
seconds in all."""

import importlib.machinery
import importlib.util
import json
import re
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"
SCRIPT = BENCH / "virtio"


def load_bench():
    loader = importlib.machinery.SourceFileLoader("bench_virtio", str(SCRIPT))
    spec = importlib.util.spec_from_loader("bench_virtio", loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def bench():
    return load_bench()


@pytest.fixture(scope="module")
def programs(bench, tmp_path_factory):
    return bench.compile_guest_programs(tmp_path_factory.mktemp("progs"))


def test_help_exits_0_and_says_which_ratio_is_better():
    p = subprocess.run([sys.executable, str(SCRIPT), "--help"],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stderr
    assert "--machines" in p.stdout and "--write" in p.stdout
    assert "--formats" in p.stdout and "qcow2 rand write" in p.stdout
    assert "ABOVE 1 VIREO IS FASTER" in p.stdout


def test_formats_default_to_raw_and_qcow2_and_parse(bench):
    args = bench.parse_args([])
    assert args.formats == ["raw", "qcow2"] and args.machines == ["pc"]
    assert args.write_mib == args.disk_mib == 1024
    args = bench.parse_args(["--formats", "qcow2", "--machines",
                             "pc,microvm", "--disk-mib", "64",
                             "--write-mib", "128"])
    assert args.formats == ["qcow2"]
    assert (args.disk_mib, args.seq_mib, args.write_mib) == (64, 64, 128)


@pytest.mark.parametrize("argv, message", [
    (["--formats", "vmdk"], "unknown format 'vmdk'"),
    (["--formats", "raw,"], "unknown format ''"),
    (["--write-mib", "0"], "--write-mib must be at least 1"),
])
def test_bad_options_exit_2_with_the_reason(argv, message):
    p = subprocess.run([sys.executable, str(SCRIPT), *argv],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 2 and message in p.stderr, p.stderr


@pytest.mark.parametrize("mode", ["aio", "threads"])
def test_randio_reads_a_file_at_depth_16_and_prints_iops(programs,
                                                         tmp_path, mode):
    target = tmp_path / "disk.img"
    data = bytes(range(256)) * 4096 * 4                  # 4 MiB
    target.write_bytes(data)
    p = subprocess.run([str(programs["randio"]), "-q", "16", "-t", "0.3",
                        "-m", mode, str(target)],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stderr
    m = re.match(r"RANDREAD iops=(\d+) reads=(\d+) seconds=([\d.]+) "
                 r"depth=16 bs=4096 mode=(\w+) size=4194304$",
                 p.stdout.strip())
    assert m, p.stdout
    assert int(m.group(1)) > 0 and int(m.group(2)) > 0
    assert m.group(4) == mode
    assert target.read_bytes() == data


def written_blocks(data):
    """{offset: block} of the 4 KiB blocks of data that randio -w wrote
    over zeroes: each starts with its own offset, little-endian."""
    blocks = {}
    for off in range(0, len(data), 4096):
        block = data[off:off + 4096]
        if block != bytes(4096):
            blocks[off] = block
    return blocks


@pytest.mark.parametrize("mode", ["aio", "threads"])
def test_randio_w_writes_random_data_stamped_with_its_offset(programs,
                                                             tmp_path, mode):
    target = tmp_path / "disk.img"
    target.write_bytes(bytes(4 << 20))
    p = subprocess.run([str(programs["randio"]), "-w", "-q", "16", "-t",
                        "0.3", "-m", mode, str(target)],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stderr
    m = re.match(r"RANDWRITE iops=(\d+) writes=(\d+) seconds=([\d.]+) "
                 r"depth=16 bs=4096 mode=(\w+) size=4194304$",
                 p.stdout.strip())
    assert m and m.group(4) == mode, p.stdout
    blocks = written_blocks(target.read_bytes())
    assert 0 < len(blocks) <= int(m.group(2))
    for off, block in blocks.items():
        assert struct.unpack_from("<Q", block)[0] == off
        assert block.count(0) < 512      # random data, not zeroes


@pytest.mark.parametrize("mode", ["aio", "threads"])
def test_randio_u_writes_each_64k_region_once_then_stops(programs, tmp_path,
                                                         mode):
    target = tmp_path / "disk.img"
    target.write_bytes(bytes(4 << 20))
    p = subprocess.run([str(programs["randio"]), "-w", "-u", "65536", "-t",
                        "20", "-m", mode, str(target)],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stderr
    m = re.search(r"writes=(\d+) seconds=([\d.]+)", p.stdout)
    assert m and int(m.group(1)) == 64, p.stdout     # 4 MiB / 64 KiB
    assert float(m.group(2)) < 10                    # stopped early
    blocks = written_blocks(target.read_bytes())
    assert sorted(off // 65536 for off in blocks) == list(range(64))
    assert len({off % 65536 for off in blocks}) > 1  # not always block 0


def test_randio_fails_clearly_on_a_missing_file(programs, tmp_path):
    for opts in ([], ["-w"]):
        p = subprocess.run([str(programs["randio"]), *opts, "-t", "0.1",
                            str(tmp_path / "missing")],
                           capture_output=True, text=True, timeout=30)
        assert p.returncode == 1
        assert "No such file" in p.stderr and not p.stdout


def test_randio_rejects_a_region_that_is_not_whole_blocks(programs,
                                                          tmp_path):
    target = tmp_path / "disk.img"
    target.write_bytes(bytes(1 << 20))
    p = subprocess.run([str(programs["randio"]), "-w", "-u", "1000",
                        str(target)],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 2 and "usage" in p.stderr


@pytest.fixture
def qemu_img():
    if not shutil.which("qemu-img"):
        pytest.skip("qemu-img is missing (apt-get install qemu-utils)")


def image_info(path):
    p = subprocess.run(["qemu-img", "info", "--output=json", str(path)],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


def test_qcow2_images_allocated_copy_and_fresh(bench, tmp_path, qemu_img):
    disks = {d.id: d for d in bench.bench_disks(tmp_path, ["raw", "qcow2"])}
    bench.make_data_disk(disks["data"].path, 4)
    bench.make_qcow2_copy(disks["data"].path, disks["qread"].path)
    info = image_info(disks["qread"].path)
    assert info["format"] == "qcow2" and info["cluster-size"] == 65536
    assert info["virtual-size"] == 4 << 20
    assert bench.qcow2_check(disks["qread"].path) == (64, 64)
    p = subprocess.run(["qemu-img", "compare", "-f", "raw", "-F", "qcow2",
                        str(disks["data"].path), str(disks["qread"].path)],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stdout + p.stderr

    for _ in range(2):      # made anew, also over a written one
        bench.make_fresh_disk(disks["qwrite"], 8)
        info = image_info(disks["qwrite"].path)
        assert info["format"] == "qcow2" and info["cluster-size"] == 65536
        assert info["virtual-size"] == 8 << 20
        assert bench.qcow2_check(disks["qwrite"].path) == (0, 128)
        p = subprocess.run(["qemu-io", "-f", "qcow2", "-c", "write 64k 4k",
                            str(disks["qwrite"].path)], capture_output=True,
                           text=True, timeout=30)
        assert p.returncode == 0, p.stderr
        assert bench.qcow2_check(disks["qwrite"].path) == (1, 128)
    bench.make_fresh_disk(disks["rawwrite"], 8)
    raw = disks["rawwrite"].path
    assert raw.stat().st_size == 8 << 20
    assert raw.stat().st_blocks == 0 and image_info(raw)["format"] == "raw"


def test_written_qcow2_is_checked_and_its_clusters_counted(bench, tmp_path,
                                                          qemu_img):
    disks = bench.bench_disks(tmp_path, ["qcow2"])
    bench.make_fresh_disk(disks[1], 8)
    for off in ("0", "64k", "1M"):
        p = subprocess.run(["qemu-io", "-f", "qcow2", "-c",
                            f"write {off} 4k", str(disks[1].path)],
                           capture_output=True, text=True, timeout=30)
        assert p.returncode == 0, p.stderr
    lines = [(1.0, "VBENCH qcow2write RANDWRITE iops=3 writes=3 "
                   "seconds=1.000 depth=16 bs=4096 mode=aio size=1", None)]
    r = {}
    assert bench.check_written_qcow2(disks, lines, r) == []
    assert r == {"qcow2write:clusters": [(3, 128, 3)]}
    with open(disks[1].path, "r+b") as f:     # a refcount table at 0
        f.seek(48)
        f.write(bytes(8))
    problems = bench.check_written_qcow2(disks, lines, r)
    assert len(problems) == 1 and "damaged" in problems[0], problems
    assert len(r["qcow2write:clusters"]) == 1


def test_qcow2_check_reports_a_damaged_image(bench, tmp_path, qemu_img):
    raw, image = tmp_path / "data.img", tmp_path / "image.qcow2"
    bench.make_data_disk(raw, 1)
    bench.make_qcow2_copy(raw, image)
    with open(image, "r+b") as f:       # zero the first refcount block
        f.seek(48)
        table = struct.unpack(">Q", f.read(8))[0]
        f.seek(table)
        block = struct.unpack(">Q", f.read(8))[0]
        f.seek(block)
        f.write(bytes(65536))
    with pytest.raises(RuntimeError, match="qemu-img check"):
        bench.qcow2_check(image)


def test_qemu_img_failure_is_an_error_naming_the_command(bench, tmp_path,
                                                         qemu_img):
    with pytest.raises(RuntimeError, match="qemu-img convert.*failed"):
        bench.make_qcow2_copy(tmp_path / "missing.img",
                              tmp_path / "out.qcow2")


def test_guest_script_measures_the_metrics_of_its_formats(bench):
    both = bench.guest_script(bench.parse_args(["--rand-seconds", "7"]),
                              8080)
    assert not re.search(r"@\w+@", both)
    for line in ("rand randread vbench-data",
                 "rand randwrite vbench-rawwrite -w -u 65536",
                 "rand qcow2read vbench-qread",
                 "rand qcow2write vbench-qwrite -w -u 65536",
                 "randio \"$@\" -q 16 -t 7.0 -b 4096 $d",
                 "VBENCH-MARK seqread", "VBENCH-MARK download"):
        assert line in both
    qcow2 = bench.guest_script(bench.parse_args(["--formats", "qcow2"]), 1)
    assert "qcow2write" in qcow2 and "download" in qcow2
    assert "seqread" not in qcow2 and "randwrite" not in qcow2
    raw = bench.guest_script(bench.parse_args(["--formats", "raw"]), 1)
    assert "randwrite" in raw and "qcow2" not in raw
    if shutil.which("sh"):
        p = subprocess.run(["sh", "-n"], input=both, text=True,
                           capture_output=True, timeout=30)
        assert p.returncode == 0, p.stderr


def test_both_vmms_get_the_same_qcow2_drives(bench, tmp_path):
    args = bench.parse_args([])
    disks = bench.bench_disks(tmp_path, args.formats)
    guest = {"vmlinuz": "K"}
    cmds = [bench.vmm_args(vmm, "/bin/" + vmm, "pc", "tcg", guest, "I",
                           disks, args) for vmm in ("vireo", "qemu")]
    assert cmds[0][1:] == cmds[1][1:]
    drives = [cmds[0][i + 1] for i, a in enumerate(cmds[0]) if a == "-drive"]
    assert drives == [
        f"file={tmp_path}/data.img,format=raw,if=none,id=data,cache=none,"
        "aio=native,readonly=on",
        f"file={tmp_path}/write.img,format=raw,if=none,id=rawwrite,"
        "cache=none,aio=native",
        f"file={tmp_path}/read.qcow2,format=qcow2,if=none,id=qread,"
        "cache=none,aio=native,readonly=on",
        f"file={tmp_path}/write.qcow2,format=qcow2,if=none,id=qwrite,"
        "cache=none,aio=native"]
    assert "virtio-blk-pci,drive=qwrite,serial=vbench-qwrite" in cmds[0]


def test_timeit_reports_time_and_passes_the_status_on(programs):
    ok = subprocess.run([str(programs["timeit"]), "sleep", "0.2"],
                        capture_output=True, text=True, timeout=30)
    m = re.match(r"TIMEIT seconds=([\d.]+) status=0$", ok.stdout.strip())
    assert ok.returncode == 0 and m, ok.stdout + ok.stderr
    assert 0.15 < float(m.group(1)) < 5
    bad = subprocess.run([str(programs["timeit"]), "sh", "-c", "exit 3"],
                         capture_output=True, text=True, timeout=30)
    assert bad.returncode == 3 and "status=3" in bad.stdout


def test_initrd_archive_holds_the_script_and_programs(bench, tmp_path):
    if not shutil.which("cpio"):
        pytest.skip("cpio is missing")
    data = bench.cpio_newc([("bench", 0o040755, None),
                            ("bench/run.sh", 0o100755, b"echo hi\n")])
    assert len(data) % 512 == 0
    p = subprocess.run(["cpio", "-it", "--quiet"], input=data,
                       capture_output=True, timeout=30)
    assert p.stdout.decode().split() == ["bench", "bench/run.sh"], p.stderr


def test_guest_lines_become_metrics_and_failures(bench):
    before = {"1": ("vireo", 1.0, 0.0), "2": ("CPU 0/tcg", 5.0, 1.0)}
    after = {"1": ("vireo", 1.5, 0.5), "2": ("CPU 0/tcg", 6.0, 2.0)}
    lines = [(10.0, "VBENCH-MARK seqread", before),
             (11.0, "some kernel message", None),
             (12.0, "VBENCH seqread bytes=200000000 TIMEIT seconds=2.000000 "
                    "status=0", after),
             (12.1, "VBENCH-MARK randread", None),
             (22.2, "VBENCH randread RANDREAD iops=1500 reads=15000 "
                    "seconds=10.0 depth=16 bs=4096 mode=aio size=1", None),
             (22.3, "VBENCH-MARK qcow2read", None),
             (32.3, "VBENCH qcow2read RANDREAD iops=1200 reads=12000 "
                    "seconds=10.0 depth=16 bs=4096 mode=aio size=1", None),
             (32.4, "VBENCH-MARK qcow2write", None),
             (34.4, "VBENCH qcow2write RANDWRITE iops=800 writes=1600 "
                    "seconds=2.0 depth=16 bs=4096 mode=aio size=1", None),
             (34.5, "VBENCH-FAIL randwrite (randio exited 1)", None),
             (34.6, "VBENCH-FAIL download no virtio-net interface", None)]
    values, failures = bench.parse_guest(lines)
    assert values["seqread"] == (100.0, 2.0, 2.0, (0.5, 0.5, 0.25))
    assert values["randread"][:2] == (1500.0, 10.0)
    assert values["qcow2read"][:3] == pytest.approx((1200.0, 10.0, 10.0))
    assert values["qcow2write"][:3] == pytest.approx((800.0, 2.0, 2.0))
    assert failures == {"download": "no virtio-net interface",
                        "randwrite": "(randio exited 1)"}


def test_report_has_a_row_and_ratio_per_metric_of_its_formats(bench):
    args = bench.parse_args(["-n", "2"])
    vireo = {"seqread": [100, 120], "randread": [1000, 1100],
             "randwrite": [900, 900], "qcow2read": [800, 900],
             "qcow2write": [300, 500], "download": [10, 12],
             "qcow2write:clusters": [(3000, 16384, 3000),
                                     (5000, 16384, 5000)]}
    qemu = {k: [v * 2 for v in vals] for k, vals in vireo.items()
            if ":" not in k}
    text = bench.report_text(args, "tcg", {"vireo": 1, "qemu": 1}, ["pc"],
                             {("vireo", "pc"): vireo, ("qemu", "pc"): qemu},
                             {}, [])
    rows = [ln for ln in text.splitlines() if ln.startswith("| pc | virtio")]
    assert len(rows) == 6
    assert rows[3].startswith("| pc | virtio-blk qcow2 4 KiB random read")
    assert rows[3].endswith("| 800 IOPS / 850 IOPS / 900 IOPS | "
                            "1600 IOPS / 1700 IOPS / 1800 IOPS | 0.50 |")
    assert "random write (allocating)" in rows[4] and "≤ 10 s" in rows[4]
    assert "| pc | qcow2write |" in text
    assert "Vireo on pc 4000 of 16384 clusters for 4000 writes" in text
    raw = bench.report_text(bench.parse_args(["--formats", "raw"]), "tcg",
                            {"vireo": 1}, ["pc"], {}, {}, [])
    assert "qcow2" not in raw and "random write" in raw


def test_write_keeps_the_other_sections(tmp_path):
    sys.path.insert(0, str(BENCH))
    import benchlib
    results = tmp_path / "RESULTS.md"
    results.write_text("# Title\n\n## -accel kvm\n\nkvm\n\n"
                       "## -accel tcg\n\ntcg\n")
    benchlib.write_section("## virtio\n\nfirst\n", results)
    benchlib.write_section("## virtio\n\nsecond\n", results)
    benchlib.write_section("## -accel kvm\n\nkvm2\n", results)
    assert results.read_text() == ("# Title\n\n## -accel kvm\n\nkvm2\n\n"
                                   "## -accel tcg\n\ntcg\n\n"
                                   "## virtio\n\nsecond\n")
