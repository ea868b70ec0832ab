"""tests/bench/virtio without booting a guest: its help and options, the
guest programs it compiles (randio and timeit, run here on the host
against a temporary file; tcprr against its own echo server), the qcow2
images it makes with qemu-img, the tap device it makes and deletes (when
this host lets it), the guest script and VMM command lines of each
--formats and --net, the initrd archive it builds, how it reads the
guest's lines, its report (also as tests/bench/summary reads it), and
that writing its RESULTS.md section keeps the other benchmarks' sections.
A few seconds in all."""

import importlib.machinery
import importlib.util
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

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
    both = bench.guest_script(bench.parse_args(["--rand-seconds", "7",
                                                "--net", "user"]),
                              {"user": (8080, 8081)})
    assert not re.search(r"@\w+@", both)
    for line in ("rand randread vbench-data",
                 "rand randwrite vbench-rawwrite -w -u 65536",
                 "rand qcow2read vbench-qread",
                 "rand qcow2write vbench-qwrite -w -u 65536",
                 "randio \"$@\" -q 16 -t 7.0 -b 4096 $d",
                 "VBENCH-MARK seqread", "netbench download rr"):
        assert line in both
    qcow2 = bench.guest_script(bench.parse_args(["--formats", "qcow2",
                                                 "--net", "user"]),
                               {"user": (1, 2)})
    assert "qcow2write" in qcow2 and "download" in qcow2
    assert "seqread" not in qcow2 and "randwrite" not in qcow2
    raw = bench.guest_script(bench.parse_args(["--formats", "raw",
                                               "--net", "user"]),
                             {"user": (1, 2)})
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
    args = bench.parse_args(["-n", "2", "--net", "user"])
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
    assert len(rows) == 7          # and the request-response row
    assert rows[3].startswith("| pc | virtio-blk qcow2 4 KiB random read")
    assert rows[3].endswith("| 800 IOPS / 850 IOPS / 900 IOPS | "
                            "1600 IOPS / 1700 IOPS / 1800 IOPS | 0.50 |")
    assert "random write (allocating)" in rows[4] and "≤ 10 s" in rows[4]
    assert "| pc | qcow2write |" in text
    assert "Vireo on pc 4000 of 16384 clusters for 4000 writes" in text
    raw = bench.report_text(bench.parse_args(["--formats", "raw",
                                              "--net", "user"]), "tcg",
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


# --- the network: --net, tcprr and its echo server, the tap ----------------

def test_net_defaults_to_user_and_tap_and_parses(bench):
    args = bench.parse_args([])
    assert args.nets == ["user", "tap"] and args.net_auto
    assert (args.rr_size, args.rr_seconds) == (1, 5)
    assert re.fullmatch(r"vbtap\d+", args.tap_name)
    assert len(args.tap_name) <= 15
    args = bench.parse_args(["--net", "tap", "--rr-size", "64"])
    assert args.nets == ["tap"] and not args.net_auto
    assert args.rr_size == 64
    assert bench.parse_args(["--net", "user"]).nets == ["user"]


@pytest.mark.parametrize("argv, message", [
    (["--net", "bridge"], "unknown backend 'bridge'"),
    (["--net", "user,"], "unknown backend ''"),
    (["--net", "tap,tap"], "a backend given twice"),
    (["--rr-size", "0"], "--rr-size must be from 1 to 65536"),
    (["--rr-size", "65537"], "--rr-size must be from 1 to 65536"),
    (["--rr-seconds", "0"], "--rr-seconds must be above 0"),
    (["--net-mib", "0"], "--net-mib must be at least 1"),
])
def test_bad_net_options_exit_2_with_the_reason(argv, message):
    p = subprocess.run([sys.executable, str(SCRIPT), *argv],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 2 and message in p.stderr, p.stderr


def test_guest_script_measures_each_net_on_its_own_nic(bench):
    tap = SimpleNamespace(host_ip="10.77.3.1", guest_ip="10.77.3.2")
    text = bench.guest_script(bench.parse_args(["--formats", "raw",
                                                "--rr-seconds", "2",
                                                "--rr-size", "64"]),
                              {"user": (8080, 8081), "tap": (9090, 9091)},
                              tap)
    assert not re.search(r"@\w+@", text)
    assert ("netbench download rr 52:54:00:12:34:56 10.0.2.15/24 "
            "10.0.2.2 \\\n    8080 8081") in text
    assert ("netbench tapdownload taprr 52:54:00:77:00:02 10.77.3.2/24 "
            "\\\n    10.77.3.1 9090 9091") in text
    assert "tcprr -s 64 -t 2.0 $5 $7" in text
    assert text.rstrip().endswith('echo "VBENCH-DONE"')
    user = bench.guest_script(bench.parse_args(["--net", "user"]),
                              {"user": (1, 2)})
    assert "netbench download" in user and "taprr" not in user
    tap_only = bench.guest_script(bench.parse_args(["--net", "tap"]),
                                  {"tap": (1, 2)}, tap)
    assert "netbench tapdownload" in tap_only
    assert "netbench download" not in tap_only
    if shutil.which("sh"):
        for script in (text, user, tap_only):
            p = subprocess.run(["sh", "-n"], input=script, text=True,
                               capture_output=True, timeout=30)
            assert p.returncode == 0, p.stderr


def test_guest_script_nic_lookup_and_failure_lines_run_in_sh(bench,
                                                             tmp_path):
    """netbench with a MAC no NIC has: both metrics fail, by name, and
    the script goes on to VBENCH-DONE (run here in sh, no guest)."""
    if not shutil.which("sh"):
        pytest.skip("no sh")
    text = bench.guest_script(bench.parse_args(["--formats", "raw",
                                                "--net", "user"]),
                              {"user": (1, 2)})
    net = text[text.index("nic_of()"):]
    net = net.replace("52:54:00:12:34:56", "02:00:00:de:ad:01")
    p = subprocess.run(["sh", "-c", net], capture_output=True, text=True,
                       timeout=30)
    assert p.stdout.splitlines() == [
        "VBENCH-FAIL download no virtio-net interface with MAC "
        "02:00:00:de:ad:01",
        "VBENCH-FAIL rr no virtio-net interface with MAC 02:00:00:de:ad:01",
        "VBENCH-DONE"], p.stdout + p.stderr


def test_both_vmms_get_the_same_nics(bench, tmp_path):
    args = bench.parse_args(["--formats", "raw", "--machines", "microvm"])
    guest = {"vmlinuz": "K"}
    cmds = [bench.vmm_args(vmm, "/bin/" + vmm, "microvm", "tcg", guest, "I",
                           [], args) for vmm in ("vireo", "qemu")]
    assert cmds[0][1:] == cmds[1][1:len(cmds[0])]
    netdevs = [cmds[0][i + 1] for i, a in enumerate(cmds[0])
               if a == "-netdev"]
    assert netdevs == ["user,id=n0",
                       f"tap,id=t0,ifname={args.tap_name},script=no,"
                       "downscript=no"]
    devices = [cmds[0][i + 1] for i, a in enumerate(cmds[0])
               if a == "-device"]
    assert devices == ["virtio-net-device,netdev=n0,mac=52:54:00:12:34:56",
                       "virtio-net-device,netdev=t0,mac=52:54:00:77:00:02"]
    user = bench.vmm_args("vireo", "v", "pc", "tcg", guest, "I", [],
                          bench.parse_args(["--net", "user"]))
    assert "-netdev" in user and not any("tap" in a for a in user)


@pytest.fixture
def echo(bench, programs):
    server = bench.EchoServer(programs["tcprr"])
    yield server
    server.stop()


def test_tcprr_ping_pongs_with_its_echo_server(programs, echo):
    p = subprocess.run([str(programs["tcprr"]), "-s", "64", "-t", "0.3",
                        "127.0.0.1", str(echo.port)],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stderr
    m = re.fullmatch(r"TCPRR tps=(\d+) trans=(\d+) seconds=([\d.]+) "
                     r"mean_us=([\d.]+) median_us=([\d.]+) min_us=([\d.]+) "
                     r"max_us=([\d.]+) size=64", p.stdout.strip())
    assert m, p.stdout
    tps, trans, secs = int(m.group(1)), int(m.group(2)), float(m.group(3))
    mean, median, lo, hi = map(float, m.group(4, 5, 6, 7))
    assert trans > 10 and 0.3 <= secs < 5
    assert tps == pytest.approx(trans / secs, rel=0.01, abs=1)
    assert mean == pytest.approx(secs / trans * 1e6, rel=0.01)
    assert lo <= median <= hi and lo <= mean <= hi


def test_host_rr_and_download_measure_the_loopback(bench, programs, echo):
    tps, rtt = bench.host_rr(programs["tcprr"], echo.port, 1, 0.2)
    assert tps > 0 and rtt == pytest.approx(1e6 / tps, rel=0.05)
    server = bench.BlobServer(4 << 20)
    try:
        url = f"http://127.0.0.1:{server.port}/blob"
        assert bench.host_download(url, 4 << 20) > 0
        with pytest.raises(RuntimeError, match="got 4194304 bytes of 5"):
            bench.host_download(url, 5)
    finally:
        server.stop()


def test_tcprr_fails_clearly(programs, bench, tmp_path):
    tcprr = str(programs["tcprr"])
    port = socket.socket()                  # a port nobody listens on
    port.bind(("127.0.0.1", 0))
    free = port.getsockname()[1]
    port.close()
    p = subprocess.run([tcprr, "-t", "0.1", "127.0.0.1", str(free)],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 1 and not p.stdout
    assert "connect to 127.0.0.1" in p.stderr and "refused" in p.stderr
    with pytest.raises(RuntimeError, match="tcprr -s 1 -t 0.1 .* failed"):
        bench.host_rr(tcprr, free, 1, 0.1)
    for argv in (["-s", "0", "h", "1"], ["-s", "70000", "h", "1"],
                 ["-t", "x", "h", "1"], ["127.0.0.1"],
                 ["127.0.0.1", "99999"], ["-l"], ["-x"]):
        p = subprocess.run([tcprr, *argv], capture_output=True, text=True,
                           timeout=30)
        assert p.returncode == 2 and "usage" in p.stderr, argv
    p = subprocess.run([tcprr, "-t", "0.1", "not-an-ip", "1"],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 1 and "not an IPv4 address" in p.stderr
    with pytest.raises(RuntimeError, match="not an IPv4 address"):
        bench.EchoServer(tcprr, "10.0.0.999")


def test_tcprr_client_gives_up_on_a_server_that_never_answers(programs):
    """A peer that takes the connection and never echoes: the client
    fails after its 10 s I/O timeout instead of hanging."""
    quiet = socket.socket()
    quiet.bind(("127.0.0.1", 0))
    quiet.listen(1)
    try:
        t0 = time.monotonic()
        p = subprocess.run([str(programs["tcprr"]), "-t", "1", "127.0.0.1",
                            str(quiet.getsockname()[1])],
                           capture_output=True, text=True, timeout=60)
        assert p.returncode == 1 and "timed out" in p.stderr, p.stderr
        assert 9 < time.monotonic() - t0 < 30
    finally:
        quiet.close()


def test_echo_server_survives_hostile_clients(programs, echo):
    """Clients that close at once, mid-message, or flood it and never
    read: the echo server keeps serving a real client."""
    addr = ("127.0.0.1", echo.port)
    socket.create_connection(addr).close()
    s = socket.create_connection(addr)
    s.sendall(b"x" * 100)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                 struct.pack("ii", 1, 0))        # close with a reset
    s.close()
    flood = socket.create_connection(addr)
    flood.setblocking(False)
    try:
        for _ in range(1000):
            flood.send(b"y" * 65536)
    except BlockingIOError:
        pass                                     # it stopped reading us
    p = subprocess.run([str(programs["tcprr"]), "-t", "0.2", "127.0.0.1",
                        str(echo.port)],
                       capture_output=True, text=True, timeout=30)
    flood.close()
    assert p.returncode == 0 and p.stdout.startswith("TCPRR tps="), p.stderr
    assert echo.proc.poll() is None


def test_free_tap_subnet_skips_the_used_ones(bench):
    used = ("2: eth0    inet 10.77.0.1/24 brd 10.77.0.255 scope global\n"
            "3: vb    inet 10.77.1.7/24 scope global\n"
            "4: x    inet 110.77.2.1/8 scope global\n")
    assert bench.free_tap_subnet(used) == 2
    assert bench.free_tap_subnet("") == 0
    every = "".join(f"inet 10.77.{n}.1/24\n" for n in range(256))
    with pytest.raises(RuntimeError, match="every subnet"):
        bench.free_tap_subnet(every)


def test_a_tap_that_cannot_be_made_is_dropped_or_fatal(bench, monkeypatch):
    def no_tap(name=None):
        raise RuntimeError("/dev/net/tun does not exist")
    monkeypatch.setattr(bench, "Tap", no_tap)
    args = bench.parse_args([])
    tap, note = bench.open_tap(args)
    assert tap is None and args.nets == ["user"]
    assert "No tap metrics" in note and "/dev/net/tun" in note
    with pytest.raises(SystemExit, match="--net tap: cannot make"):
        bench.open_tap(bench.parse_args(["--net", "tap"]))
    assert bench.open_tap(bench.parse_args(["--net", "user"])) == \
        (None, None)


def can_make_taps():
    return os.geteuid() == 0 and os.path.exists("/dev/net/tun") and \
        shutil.which("ip") is not None


def link_exists(name):
    return subprocess.run(["ip", "link", "show", name], capture_output=True,
                          timeout=30).returncode == 0


@pytest.fixture
def tap_name():
    if not can_make_taps():
        pytest.skip("making a tap device needs root, ip and /dev/net/tun")
    name = f"vbtest{os.getpid() % 100000}"
    yield name
    if link_exists(name):                        # a failed test's leftover
        subprocess.run(["ip", "link", "del", name], timeout=30)


def test_tap_is_made_with_its_address_and_deleted(bench, tap_name):
    with bench.Tap(tap_name) as tap:
        out = subprocess.run(["ip", "-4", "-o", "addr", "show", "dev",
                              tap_name], capture_output=True, text=True,
                             timeout=30).stdout
        assert f"inet {tap.host_ip}/24" in out
        assert tap.guest_ip == tap.host_ip[:-1] + "2"
        # a second tap takes the next free subnet
        with bench.Tap(tap_name + "b") as other:
            assert other.host_ip != tap.host_ip
        assert not link_exists(tap_name + "b")
        # the servers bind to its host address
        server = bench.BlobServer(1 << 20, tap.host_ip)
        server.stop()
    assert not link_exists(tap_name)
    tap.delete()                                 # twice is fine


def test_tap_is_deleted_when_its_with_block_fails(bench, tap_name):
    with pytest.raises(ZeroDivisionError):
        with bench.Tap(tap_name):
            assert link_exists(tap_name)
            1 / 0
    assert not link_exists(tap_name)


def test_tap_name_in_use_or_too_long_is_an_error(bench, tap_name):
    with bench.Tap(tap_name):
        with pytest.raises(RuntimeError, match="ip tuntap add .* failed"):
            bench.Tap(tap_name)
        assert link_exists(tap_name)             # not the other's to delete
    with pytest.raises(RuntimeError, match="longer than 15"):
        bench.Tap("x" * 16)


def test_sigterm_deletes_the_tap(tap_name):
    """The script's SIGTERM handler exits through the with blocks, as
    Ctrl-C does: the tap goes."""
    code = f"""
import importlib.machinery, importlib.util, signal, sys, time
loader = importlib.machinery.SourceFileLoader("b", {str(SCRIPT)!r})
spec = importlib.util.spec_from_loader("b", loader)
b = importlib.util.module_from_spec(spec)
loader.exec_module(b)
signal.signal(signal.SIGTERM, b.sigterm_exits)
with b.Tap({tap_name!r}):
    print("READY", flush=True)
    time.sleep(60)
"""
    p = subprocess.Popen([sys.executable, "-c", code],
                         stdout=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline().strip() == "READY"
        assert link_exists(tap_name)
        p.send_signal(signal.SIGTERM)
        assert p.wait(timeout=30) == 128 + signal.SIGTERM
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        p.stdout.close()
    assert not link_exists(tap_name)


def test_net_lines_become_metrics_with_their_round_trips(bench):
    lines = [(1.0, "VBENCH-MARK download", None),
             (2.0, "VBENCH download bytes=67108864 TIMEIT seconds=1.000000 "
                   "status=0", None),
             (2.1, "VBENCH-MARK rr", None),
             (5.1, "VBENCH rr TCPRR tps=2264 trans=6792 seconds=3.000000 "
                   "mean_us=441.7 median_us=0.0 min_us=0.0 max_us=8000.0 "
                   "size=1", None),
             (5.2, "VBENCH-MARK tapdownload", None),
             (5.4, "VBENCH tapdownload bytes=67108864 TIMEIT "
                   "seconds=0.200000 status=0", None),
             (5.5, "VBENCH-FAIL taprr tcprr: connect to 10.77.0.1:5: "
                   "Connection timed out", None)]
    values, failures = bench.parse_guest(lines)
    assert values["download"][:2] == pytest.approx((67.108864, 1.0))
    assert values["rr"][:3] == pytest.approx((2264.0, 3.0, 3.0))
    assert values["tapdownload"][0] == pytest.approx(335.54432)
    assert failures == {"taprr": "tcprr: connect to 10.77.0.1:5: "
                                 "Connection timed out"}
    assert bench.rr_mean_us(lines, "rr") == 441.7
    assert bench.rr_mean_us(lines, "taprr") is None
    bad = [(1.0, "VBENCH rr TCPRR trans=5", None)]
    assert "cannot parse" in bench.parse_guest(bad)[1]["rr"]


def net_report(bench):
    args = bench.parse_args(["-n", "2", "--formats", "raw", "--machines",
                             "microvm"])
    vireo = {"seqread": [100, 120], "randread": [1000, 1100],
             "randwrite": [900, 900], "download": [30, 34],
             "rr": [1000, 1200], "rr:rtt": [1000, 833],
             "tapdownload": [100, 120], "taprr": [2000, 2000],
             "taprr:rtt": [500, 500]}
    qemu = {k: [v * 2 for v in vals] for k, vals in vireo.items()}
    ref = {"download": [1000, 1100], "rr": [20000, 20000],
           "rr:rtt": [50, 50]}
    return bench.report_text(args, "tcg", {"vireo": 1, "qemu": 1},
                             ["microvm"], {("vireo", "microvm"): vireo,
                                           ("qemu", "microvm"): qemu},
                             {}, [], ref)


def test_report_has_the_net_rows_loopback_and_round_trips(bench):
    text = net_report(bench)
    rows = [ln for ln in text.splitlines()
            if ln.startswith("| microvm | virtio-net")]
    assert len(rows) == 4
    assert rows[1] == ("| microvm | virtio-net TCP request-response over "
                       "slirp, 1-byte ping-pong, transactions/s (higher is "
                       "better), 5 s | 1000 tr/s / 1100 tr/s / 1200 tr/s | "
                       "2000 tr/s / 2200 tr/s / 2400 tr/s | 0.50 |")
    assert rows[2].startswith("| microvm | virtio-net download over tap "
                              "(wget), 256 MiB | 100.0 MB/s")
    assert "request-response over tap" in rows[3]
    assert "| microvm | taprr |" in text
    assert "-netdev tap,script=no,downscript=no" in text
    assert ("Host loopback reference (medians of 2, one before each round "
            "of boots): download 1050 MB/s") in text
    assert "request-response 20000 tr/s, mean round trip 50.0 µs" in text
    assert ("Vireo on microvm: slirp download 0.030, slirp "
            "request-response 0.055, tap download 0.105, tap "
            "request-response 0.100") in text
    assert ("QEMU on microvm: slirp download 0.061, slirp "
            "request-response 0.110") in text
    assert ("Request-response round-trip times, medians of each run's "
            "mean (lower is better): Vireo on microvm slirp 916 µs, tap "
            "500 µs; QEMU on microvm slirp 1833 µs, tap 1000 µs.") in text
    failed = bench.report_text(bench.parse_args(["--net", "user"]), "tcg",
                               {"vireo": 1}, ["pc"], {}, {}, [],
                               {"errors": ["curl: refused"]})
    assert "Host loopback reference: failed (curl: refused)." in failed
    none = bench.report_text(bench.parse_args(["--formats", "raw", "--net",
                                               "user"]), "tcg", {"vireo": 1},
                             ["pc"], {}, {}, [], {})
    assert "tap" not in none.split("\n\n")[1]


def test_summary_reads_the_net_rows_as_rates(bench, tmp_path):
    """tests/bench/summary on a RESULTS.md with the report: every row a
    comparison, and the request-response rows (transactions/s) rates like
    the downloads: Vireo at half QEMU's rate is an advantage of 0.5."""
    loader = importlib.machinery.SourceFileLoader("bench_summary",
                                                  str(BENCH / "summary"))
    spec = importlib.util.spec_from_loader("bench_summary", loader)
    summary = importlib.util.module_from_spec(spec)
    loader.exec_module(summary)
    rows = summary.parse_results("# Benchmarks\n\n" + net_report(bench))
    assert len(rows) == 7, [r.metric for r in rows]
    for r in rows:
        assert r.advantage == pytest.approx(0.5, rel=0.02), r.metric
    rr = [r for r in rows if "request-response" in r.metric]
    assert len(rr) == 2 and all(summary.is_rate(r) for r in rr)
