"""vireo-img against qemu-img: every command runs on the same inputs with
both tools and their outputs (human and JSON) are compared, and images go
both ways between them (what vireo-img writes passes `qemu-img check` and
`qemu-img compare`; what qemu-img and qemu-io write, vireo-img reads).

Needs qemu-img and qemu-io (Debian's qemu-utils); skipped without them.
VIREO_IMG names the binary, else <build>/tools/vireo-img.
"""

import json
import os
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

import vmrun

QEMU_IMG = shutil.which("qemu-img")
QEMU_IO = shutil.which("qemu-io")
pytestmark = pytest.mark.skipif(
    not QEMU_IMG or not QEMU_IO,
    reason="needs qemu-img and qemu-io (Debian package qemu-utils)")

MIB = 1 << 20


def vireo_img_path():
    return Path(os.environ.get("VIREO_IMG",
                               vmrun.BUILD_DIR / "tools" / "vireo-img"))


@pytest.fixture(scope="session")
def vimg():
    path = vireo_img_path()
    if not (path.is_file() and os.access(path, os.X_OK)):
        pytest.skip(f"vireo-img not built at {path} (run `make`, or set "
                    "VIREO_IMG)")
    return str(path)


@pytest.fixture
def work(tmp_path, monkeypatch):
    """A scratch folder that is also the working directory, so both tools
    print the same relative file names."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def run(cmd, *args, check=None, timeout=300, **kw):
    """Runs a tool; check=N asserts its exit status. Asserts it was not
    killed by a signal (a crash)."""
    p = subprocess.run([cmd, *map(str, args)], capture_output=True,
                       text=True, timeout=timeout, **kw)
    assert p.returncode >= 0, (
        f"{cmd} {args} died of signal {-p.returncode}:\n{p.stderr}")
    if check is not None:
        assert p.returncode == check, (
            f"{cmd} {' '.join(map(str, args))} exited {p.returncode} "
            f"(wanted {check})\n--- stdout\n{p.stdout}--- stderr\n{p.stderr}")
    return p


def qimg(*args, check=0):
    return run(QEMU_IMG, *args, check=check)


def qio(img, *cmds, fmt="qcow2"):
    args = ["-f", fmt]
    for c in cmds:
        args += ["-c", c]
    p = run(QEMU_IO, *args, img, check=0)
    assert "error" not in p.stdout.lower() and "failed" not in \
        p.stdout.lower(), p.stdout
    return p


def both(vimg, *args, check=None):
    """The same command line through vireo-img and qemu-img."""
    return run(vimg, *args, check=check), run(QEMU_IMG, *args, check=check)


def assert_qemu_check_clean(img):
    p = qimg("check", "--output=json", img, check=None)
    assert p.returncode == 0, f"qemu-img check {img}:\n{p.stdout}{p.stderr}"
    r = json.loads(p.stdout)
    assert r.get("corruptions", 0) == 0 and r.get("leaks", 0) == 0, r


def assert_same_data(a, b, fmt_a="qcow2", fmt_b="qcow2"):
    p = qimg("compare", "-f", fmt_a, "-F", fmt_b, a, b, check=None)
    assert p.returncode == 0 and "Images are identical." in p.stdout, (
        f"qemu-img compare {a} {b}: {p.stdout}{p.stderr}")


def make_mixed_qcow2(path, *opts, size="64M"):
    """A qemu-made qcow2 with data, zeroes, compressed clusters, a
    discarded area and unallocated space."""
    qimg("create", "-q", "-f", "qcow2", *opts, path, size)
    qio(path,
        "write -P 0x11 0 1M",
        "write -P 0x22 1536k 100k",        # partial clusters
        "write -z 4M 1M",                  # zero clusters
        "write -c -P 0x33 8M 256k",        # compressed
        "write -P 0x44 12M 2M",
        "discard 12M 512k",
        "write -P 0x55 63M 4k")            # near the end


# ---- create -------------------------------------------------------------

CREATE_CASES = [
    ("qcow2", []),
    ("qcow2", ["-o", "cluster_size=4k"]),
    ("qcow2", ["-o", "cluster_size=2M,lazy_refcounts=on"]),
    ("qcow2", ["-o", "compat=0.10"]),
    ("qcow2", ["-o", "compat=v3,refcount_bits=8"]),
    ("qcow2", ["-o", "refcount_bits=64"]),
    ("qcow2", ["-o", "extended_l2=on"]),
    ("qcow2", ["-o", "compression_type=zstd"]),
    ("qcow2", ["-o", "preallocation=metadata"]),
    ("qcow2", ["-o", "preallocation=falloc"]),
    ("qcow2", ["-o", "preallocation=full", "-o", "cluster_size=128k"]),
    ("raw", []),
    ("raw", ["-o", "preallocation=full"]),
]


@pytest.mark.parametrize("fmt,opts", CREATE_CASES,
                         ids=[f"{f}{''.join(o[1:2])}" for f, o in
                              CREATE_CASES])
def test_create_prints_qemu_formatting_line_and_passes_check(vimg, work, fmt,
                                                             opts):
    ours = run(vimg, "create", "-f", fmt, *opts, "v.img", "100M", check=0)
    theirs = qimg("create", "-f", fmt, *opts, "v.img", "100M")
    assert ours.stdout == theirs.stdout
    (work / "v.img").unlink()
    run(vimg, "create", "-q", "-f", fmt, *opts, "v.img", "100M", check=0)
    info = json.loads(qimg("info", "--output=json", "v.img").stdout)
    assert info["format"] == fmt and info["virtual-size"] == 100 * MIB
    if fmt == "qcow2":
        assert_qemu_check_clean("v.img")
        data = info["format-specific"]["data"]
        joined = ",".join(opts[1::2])
        if "compat=0.10" in joined:
            assert data["compat"] == "0.10"
        if "lazy_refcounts=on" in joined:
            assert data["lazy-refcounts"] is True
        if "extended_l2=on" in joined:
            assert data["extended-l2"] is True
        if "zstd" in joined:
            assert data["compression-type"] == "zstd"
        if "refcount_bits=8" in joined:
            assert data["refcount-bits"] == 8
        if "cluster_size=4k" in joined:
            assert info["cluster-size"] == 4096


def test_create_sizes_like_qemu(vimg, work):
    for size in ["1000", "1k", "1.5M", "2G", "1T"]:
        ours, theirs = both(vimg, "create", "-f", "qcow2", "s.qcow2", size,
                            check=0)
        assert ours.stdout == theirs.stdout


def test_create_with_backing_file(vimg, work):
    qimg("create", "-q", "-f", "qcow2", "base.qcow2", "32M")
    ours = run(vimg, "create", "-f", "qcow2", "-b", "base.qcow2", "-F",
               "qcow2", "top.qcow2", check=0)
    theirs = qimg("create", "-f", "qcow2", "-b", "base.qcow2", "-F", "qcow2",
                  "top2.qcow2")
    assert ours.stdout.replace("top.qcow2", "top2.qcow2") == theirs.stdout
    info = json.loads(qimg("info", "--output=json", "top.qcow2").stdout)
    assert info["backing-filename"] == "base.qcow2"
    assert info["backing-filename-format"] == "qcow2"
    assert info["virtual-size"] == 32 * MIB
    assert_qemu_check_clean("top.qcow2")
    # 7.2 insists on the backing format
    p = run(vimg, "create", "-f", "qcow2", "-b", "base.qcow2", "x.qcow2",
            check=1)
    assert "Backing file specified without backing format" in p.stderr


def test_create_help_lists_qemu_options(vimg, work):
    ours = run(vimg, "create", "-f", "qcow2", "-o", "help", check=0).stdout
    theirs = qimg("create", "-f", "qcow2", "-o", "help").stdout
    assert ours.startswith("Supported qcow2 options:\n")
    for line in ours.splitlines():
        assert line in theirs.splitlines(), line
    for key in ["cluster_size", "compat", "lazy_refcounts", "refcount_bits",
                "extended_l2", "compression_type", "preallocation",
                "backing_file", "backing_fmt", "size"]:
        assert f"  {key}=" in ours
    ours, theirs = both(vimg, "create", "-f", "raw", "-o", "help", check=0)
    assert ours.stdout == theirs.stdout


@pytest.mark.parametrize("args,message", [
    (["create", "-f", "qcow2", "x.qcow2", "12Q"], "Invalid image size"),
    (["create", "-f", "foo", "x.img", "1M"], "Unknown file format 'foo'"),
    (["create", "-f", "qcow2", "-o", "foo=bar", "x.qcow2", "1M"],
     "Invalid parameter 'foo'"),
    (["create", "-f", "qcow2", "x.qcow2"], "needs a size"),
    (["create", "-f", "qcow2", "-o", "cluster_size=3000", "x.qcow2", "1M"],
     "luster size"),
    (["info", "missing.qcow2"], "missing.qcow2"),
    (["info", "-f", "foo", "missing.qcow2"], "foo"),
    (["bogus"], "Command not found: bogus"),
    (["check", "-r", "foo", "x"], "expecting 'leaks' or 'all'"),
    (["measure"], "Either --size N or one filename must be specified."),
    (["convert", "-O", "foo", "a", "b"], "foo"),
    (["convert", "-m", "17", "a", "b"], "coroutines"),
    (["convert", "-S", "1000", "a", "b"], "sparse"),
    (["rebase", "x"], "Must specify backing file (-b) or use unsafe mode"),
    ([], "Not enough arguments"),
])
def test_bad_input_is_a_clear_error(vimg, work, args, message):
    p = run(vimg, *args, check=1)
    assert p.stderr.startswith("vireo-img: "), p.stderr
    assert message in p.stderr
    assert "Traceback" not in p.stderr


def test_corrupt_qcow2_header_is_an_error(vimg, work):
    qimg("create", "-q", "-f", "qcow2", "bad.qcow2", "16M")
    with open("bad.qcow2", "r+b") as f:
        f.seek(4)
        f.write(struct.pack(">I", 99))          # version 99
    for cmd in (["info"], ["check"], ["map"], ["convert", "-O", "raw"]):
        extra = ["out.raw"] if cmd[0] == "convert" else []
        p = run(vimg, *cmd, "bad.qcow2", *extra, check=1)
        assert p.stderr.startswith("vireo-img: ")
    with open("bad.qcow2", "r+b") as f:
        f.seek(4)
        f.write(struct.pack(">I", 3))
        f.seek(20)
        f.write(struct.pack(">I", 40))          # cluster_bits 40
    p = run(vimg, "info", "bad.qcow2", check=1)
    assert p.stderr.startswith("vireo-img: ")
    with open("trunc.qcow2", "wb") as f:
        f.write(b"QFI\xfb\0\0\0\3")             # cut short
    p = run(vimg, "info", "-f", "qcow2", "trunc.qcow2", check=1)
    assert p.stderr.startswith("vireo-img: ")


def test_version_and_help(vimg):
    p = run(vimg, "--version", check=0)
    assert "vireo-img version" in p.stdout
    p = run(vimg, "--help", check=0)
    for cmd in ("create", "info", "check", "convert", "snapshot", "resize",
                "commit", "rebase", "map", "compare", "measure", "amend"):
        assert f"  {cmd} " in p.stdout


# ---- info ---------------------------------------------------------------

def test_info_matches_qemu_img(vimg, work):
    make_mixed_qcow2("m.qcow2")
    qimg("snapshot", "-c", "first", "m.qcow2")
    qio("m.qcow2", "write -P 0x66 0 64k")
    qimg("snapshot", "-c", "second", "m.qcow2")
    ours, theirs = both(vimg, "info", "m.qcow2", check=0)
    assert ours.stdout == theirs.stdout
    ours, theirs = both(vimg, "info", "--output=json", "m.qcow2", check=0)
    assert ours.stdout == theirs.stdout
    # same keys in the same order
    assert list(json.loads(ours.stdout)) == list(json.loads(theirs.stdout))


def test_info_raw_and_backing_chain(vimg, work):
    qimg("create", "-q", "-f", "raw", "r.raw", "10M")
    qio("r.raw", "write -P 1 0 64k", fmt="raw")
    for args in (["-f", "raw", "r.raw"], ["--output=json", "-f", "raw",
                                          "r.raw"]):
        ours, theirs = both(vimg, "info", *args, check=0)
        assert json.loads(ours.stdout) == json.loads(theirs.stdout) \
            if "--output=json" in args else ours.stdout == theirs.stdout
    qimg("create", "-q", "-f", "qcow2", "base.qcow2", "32M")
    qimg("create", "-q", "-f", "qcow2", "-b", "base.qcow2", "-F", "qcow2",
         "mid.qcow2")
    qimg("create", "-q", "-f", "qcow2", "-b", "mid.qcow2", "-F", "qcow2",
         "top.qcow2")
    for args in (["top.qcow2"], ["--backing-chain", "top.qcow2"],
                 ["--output=json", "--backing-chain", "top.qcow2"]):
        ours, theirs = both(vimg, "info", *args, check=0)
        assert ours.stdout == theirs.stdout, args


# ---- check --------------------------------------------------------------

def refblock_offset(img):
    """Host offset of the first refcount block of a qcow2 image."""
    with open(img, "rb") as f:
        hdr = f.read(104)
        rt_off = struct.unpack(">Q", hdr[48:56])[0]
        f.seek(rt_off)
        return struct.unpack(">Q", f.read(8))[0]


def set_refcount(img, cluster, value):
    """16-bit refcount of a host cluster, written into the image."""
    off = refblock_offset(img) + 2 * cluster
    with open(img, "r+b") as f:
        f.seek(off)
        f.write(struct.pack(">H", value))


def test_check_clean_image_matches_qemu(vimg, work):
    make_mixed_qcow2("m.qcow2")
    for args in ([], ["--output=json"]):
        ours, theirs = both(vimg, "check", *args, "m.qcow2", check=0)
        assert ours.stdout == theirs.stdout


def test_check_reports_and_repairs_leaks(vimg, work):
    qimg("create", "-q", "-f", "qcow2", "l.qcow2", "16M")
    qio("l.qcow2", "write -P 1 0 64k")
    size = os.path.getsize("l.qcow2")
    with open("l.qcow2", "r+b") as f:
        f.truncate(size + 65536)
    set_refcount("l.qcow2", size // 65536, 1)     # a leaked cluster
    ours, theirs = both(vimg, "check", "l.qcow2", check=3)
    assert "1 leaked clusters were found on the image." in ours.stdout
    assert ours.stdout == theirs.stdout
    ours, theirs = both(vimg, "check", "--output=json", "l.qcow2", check=3)
    assert json.loads(ours.stdout) == json.loads(theirs.stdout)
    p = run(vimg, "check", "-r", "leaks", "l.qcow2", check=0)
    assert "The following inconsistencies were found and repaired" in \
        p.stdout
    assert_qemu_check_clean("l.qcow2")


def test_check_reports_corruption(vimg, work):
    qimg("create", "-q", "-f", "qcow2", "c.qcow2", "16M")
    qio("c.qcow2", "write -P 1 0 64k")
    set_refcount("c.qcow2", 4, 0)       # the data cluster, still in use
    ours, theirs = both(vimg, "check", "c.qcow2", check=2)
    assert "errors were found on the image." in ours.stdout
    assert ours.stdout == theirs.stdout


def test_check_raw_is_unsupported(vimg, work):
    qimg("create", "-q", "-f", "raw", "r.raw", "1M")
    p = run(vimg, "check", "-f", "raw", "r.raw", check=63)
    assert "does not support checks" in p.stderr


# ---- convert ------------------------------------------------------------

def convert_both_to_raw(vimg, src, *opts):
    run(vimg, "convert", *opts, "-O", "raw", src, "ours.raw", check=0)
    qimg("convert", *opts, "-O", "raw", src, "theirs.raw")
    with open("ours.raw", "rb") as a, open("theirs.raw", "rb") as b:
        while True:
            x, y = a.read(MIB), b.read(MIB)
            assert x == y, f"convert of {src} differs from qemu-img's"
            if not x:
                break


@pytest.mark.parametrize("opts", [[], ["-o", "compression_type=zstd"],
                                  ["-o", "cluster_size=4k"],
                                  ["-o", "extended_l2=on"],
                                  ["-o", "compat=0.10"]],
                         ids=["zlib", "zstd", "4k", "extl2", "v2"])
def test_convert_qemu_qcow2_to_raw(vimg, work, opts):
    make_mixed_qcow2("m.qcow2", *opts)
    if "extended_l2=on" in opts:
        qio("m.qcow2", "write -P 0x77 20M 4k", "write -z 20M 2k",
            "write -P 0x78 21M 8k")
    convert_both_to_raw(vimg, "m.qcow2")


def test_convert_snapshot_and_backing_chain_to_raw(vimg, work):
    make_mixed_qcow2("base.qcow2")
    qimg("snapshot", "-c", "s1", "base.qcow2")
    qio("base.qcow2", "write -P 0x99 0 128k")    # after the snapshot
    qimg("create", "-q", "-f", "qcow2", "-b", "base.qcow2", "-F", "qcow2",
         "top.qcow2", "80M")
    qio("top.qcow2", "write -P 0xaa 512k 1M", "write -z 12M 64k")
    convert_both_to_raw(vimg, "top.qcow2")
    convert_both_to_raw(vimg, "base.qcow2")


def make_raw_source(path, size=32 * MIB):
    """Random data, text and holes."""
    with open(path, "wb") as f:
        f.truncate(size)
        f.seek(0)
        f.write(os.urandom(size // 10 + 1000))
        f.seek(size // 4)
        f.write((b"the quick brown fox jumps over the lazy dog\n") *
                (size // 700))
        f.seek(size * 5 // 8 + 512)
        f.write(os.urandom(70000))
        f.seek(size - 4096)
        f.write(b"\xff" * 4096)


@pytest.mark.parametrize("opts", [[], ["-c"], ["-o", "cluster_size=4k"],
                                  ["-c", "-o", "compression_type=zstd"],
                                  ["-S", "0"]],
                         ids=["plain", "compressed", "4k", "zstd", "S0"])
def test_convert_raw_to_qcow2_is_identical(vimg, work, opts):
    make_raw_source("src.raw")
    run(vimg, "convert", "-f", "raw", "-O", "qcow2", *opts, "src.raw",
        "out.qcow2", check=0)
    assert_qemu_check_clean("out.qcow2")
    assert_same_data("src.raw", "out.qcow2", fmt_a="raw")
    chk = json.loads(qimg("check", "--output=json", "out.qcow2").stdout)
    if "-c" in opts:
        assert chk.get("compressed-clusters", 0) > 0
    # the sparse source stays sparse (S0 allocates everything)
    allocated = chk.get("allocated-clusters", 0) * \
        json.loads(qimg("info", "--output=json",
                        "out.qcow2").stdout)["cluster-size"]
    if "-S" not in opts:
        assert allocated < 16 * MIB


def test_convert_raw_to_raw_and_several_sources(vimg, work):
    make_raw_source("a.raw", 8 * MIB)
    make_raw_source("b.raw", 8 * MIB)
    run(vimg, "convert", "-f", "raw", "-O", "raw", "a.raw", "b.raw",
        "cat.raw", check=0)
    with open("cat.raw", "rb") as f:
        data = f.read()
    assert data == Path("a.raw").read_bytes() + Path("b.raw").read_bytes()


def test_convert_existing_target_and_progress(vimg, work):
    make_raw_source("src.raw", 8 * MIB)
    qimg("create", "-q", "-f", "qcow2", "t.qcow2", "8M")
    qio("t.qcow2", "write -P 0xee 0 8M")     # must be overwritten, holes too
    p = run(vimg, "convert", "-p", "-n", "-f", "raw", "-O", "qcow2",
            "src.raw", "t.qcow2", check=0)
    assert "(100.00/100%)" in p.stdout
    assert_same_data("src.raw", "t.qcow2", fmt_a="raw")


def test_convert_with_backing_target(vimg, work):
    make_mixed_qcow2("base.qcow2")
    qimg("create", "-q", "-f", "qcow2", "-b", "base.qcow2", "-F", "qcow2",
         "top.qcow2")
    qio("top.qcow2", "write -P 0x5a 2M 1M")
    run(vimg, "convert", "-O", "qcow2", "-B", "base.qcow2", "-F", "qcow2",
        "top.qcow2", "new.qcow2", check=0)
    assert_qemu_check_clean("new.qcow2")
    assert_same_data("top.qcow2", "new.qcow2")
    info = json.loads(qimg("info", "--output=json", "new.qcow2").stdout)
    assert info["backing-filename"] == "base.qcow2"


# ---- snapshot -----------------------------------------------------------

def test_snapshots_made_by_vireo_img(vimg, work):
    qimg("create", "-q", "-f", "qcow2", "s.qcow2", "16M")
    qio("s.qcow2", "write -P 0x01 0 1M")
    run(vimg, "snapshot", "-c", "before", "s.qcow2", check=0)
    qio("s.qcow2", "write -P 0x02 0 1M")
    run(vimg, "snapshot", "-c", "after", "s.qcow2", check=0)
    listing = qimg("snapshot", "-l", "s.qcow2").stdout
    assert "before" in listing and "after" in listing
    ours, theirs = both(vimg, "snapshot", "-l", "s.qcow2", check=0)
    assert ours.stdout == theirs.stdout
    assert_qemu_check_clean("s.qcow2")
    run(vimg, "snapshot", "-a", "before", "s.qcow2", check=0)
    qio("s.qcow2", "read -P 0x01 0 1M")
    run(vimg, "snapshot", "-d", "after", "s.qcow2", check=0)
    listing = qimg("snapshot", "-l", "s.qcow2").stdout
    assert "before" in listing and "after" not in listing
    assert_qemu_check_clean("s.qcow2")
    p = run(vimg, "snapshot", "-a", "nope", "s.qcow2", check=1)
    assert "Could not apply snapshot 'nope'" in p.stderr
    p = run(vimg, "snapshot", "-d", "nope", "s.qcow2", check=1)
    assert "Could not delete snapshot 'nope'" in p.stderr


# ---- resize -------------------------------------------------------------

def test_resize(vimg, work):
    qimg("create", "-q", "-f", "qcow2", "r.qcow2", "16M")
    qio("r.qcow2", "write -P 3 0 1M")
    p = run(vimg, "resize", "r.qcow2", "+16M", check=0)
    assert p.stdout == "Image resized.\n"
    info = json.loads(qimg("info", "--output=json", "r.qcow2").stdout)
    assert info["virtual-size"] == 32 * MIB
    assert_qemu_check_clean("r.qcow2")
    p = run(vimg, "resize", "r.qcow2", "8M", check=1)
    assert "Use the --shrink option to perform a shrink operation." in \
        p.stderr
    run(vimg, "resize", "--shrink", "r.qcow2", "8M", check=0)
    info = json.loads(qimg("info", "--output=json", "r.qcow2").stdout)
    assert info["virtual-size"] == 8 * MIB
    qio("r.qcow2", "read -P 3 0 1M")
    qimg("create", "-q", "-f", "raw", "r.raw", "1M")
    run(vimg, "resize", "-f", "raw", "r.raw", "3M", check=0)
    assert os.path.getsize("r.raw") == 3 * MIB
    p = run(vimg, "resize", "-f", "raw", "r.raw", "-5M", check=1)
    assert "New image size must be positive" in p.stderr


# ---- commit and rebase --------------------------------------------------

def test_commit(vimg, work):
    qimg("create", "-q", "-f", "qcow2", "base.qcow2", "16M")
    qio("base.qcow2", "write -P 0x10 0 4M")
    qimg("create", "-q", "-f", "qcow2", "-b", "base.qcow2", "-F", "qcow2",
         "top.qcow2")
    qio("top.qcow2", "write -P 0x20 1M 1M", "write -z 3M 64k",
        "write -P 0x30 10M 100k")
    qimg("convert", "-O", "raw", "top.qcow2", "expected.raw")
    p = run(vimg, "commit", "top.qcow2", check=0)
    assert p.stdout == "Image committed.\n"
    assert_same_data("expected.raw", "base.qcow2", fmt_a="raw")
    assert_same_data("expected.raw", "top.qcow2", fmt_a="raw")
    assert_qemu_check_clean("base.qcow2")
    assert_qemu_check_clean("top.qcow2")
    # the top is empty again: everything comes from the base
    for e in json.loads(qimg("map", "--output=json", "top.qcow2").stdout):
        assert e["depth"] == 1 or not e["present"], e
    p = run(vimg, "commit", "base.qcow2", check=1)
    assert "Image does not have a backing file" in p.stderr


def test_rebase_safe_and_unsafe(vimg, work):
    qimg("create", "-q", "-f", "qcow2", "old.qcow2", "16M")
    qio("old.qcow2", "write -P 0x0a 0 8M")
    qimg("create", "-q", "-f", "qcow2", "new.qcow2", "16M")
    qio("new.qcow2", "write -P 0x0a 0 2M", "write -P 0x0b 2M 2M")
    qimg("create", "-q", "-f", "qcow2", "-b", "old.qcow2", "-F", "qcow2",
         "top.qcow2")
    qio("top.qcow2", "write -P 0x0c 5M 64k")
    qimg("convert", "-O", "raw", "top.qcow2", "expected.raw")
    run(vimg, "rebase", "-b", "new.qcow2", "-F", "qcow2", "top.qcow2",
        check=0)
    info = json.loads(qimg("info", "--output=json", "top.qcow2").stdout)
    assert info["backing-filename"] == "new.qcow2"
    assert_same_data("expected.raw", "top.qcow2", fmt_a="raw")
    assert_qemu_check_clean("top.qcow2")
    # -u only rewrites the name; -b "" drops the backing file
    run(vimg, "rebase", "-u", "-b", "old.qcow2", "-F", "qcow2", "top.qcow2",
        check=0)
    info = json.loads(qimg("info", "--output=json", "top.qcow2").stdout)
    assert info["backing-filename"] == "old.qcow2"
    run(vimg, "rebase", "-u", "-b", "", "top.qcow2", check=0)
    info = json.loads(qimg("info", "--output=json", "top.qcow2").stdout)
    assert "backing-filename" not in info
    assert_qemu_check_clean("top.qcow2")


# ---- map, compare, measure, amend ----------------------------------------

def test_map_matches_qemu_img(vimg, work):
    qimg("create", "-q", "-f", "qcow2", "base.qcow2", "64M")
    qio("base.qcow2", "write -P 0x11 0 1M", "write -z 4M 1M",
        "write -P 0x44 12M 2M")
    qimg("create", "-q", "-f", "qcow2", "-b", "base.qcow2", "-F", "qcow2",
         "top.qcow2")
    qio("top.qcow2", "write -P 0x22 512k 1M", "write -z 13M 64k")
    for img in ("base.qcow2", "top.qcow2"):
        for out in ("json", "human"):
            ours, theirs = both(vimg, "map", f"--output={out}", img, check=0)
            assert ours.stdout == theirs.stdout, (img, out)
    make_mixed_qcow2("m.qcow2")
    ours, theirs = both(vimg, "map", "--output=json", "m.qcow2", check=0)
    assert ours.stdout == theirs.stdout
    # the human layout cannot show compressed clusters
    ours, theirs = both(vimg, "map", "m.qcow2", check=1)
    assert "compressed clusters" in ours.stderr


def test_compare_matches_qemu_img(vimg, work):
    qimg("create", "-q", "-f", "raw", "a.raw", "10M")
    qimg("create", "-q", "-f", "raw", "b.raw", "20M")
    qimg("create", "-q", "-f", "qcow2", "c.qcow2", "10M")
    cases = [(["-f", "raw", "-F", "qcow2", "a.raw", "c.qcow2"], 0),
             (["-f", "raw", "-F", "raw", "a.raw", "b.raw"], 0),
             (["-s", "-f", "raw", "-F", "raw", "a.raw", "b.raw"], 1)]
    for args, rc in cases:
        ours, theirs = both(vimg, "compare", *args, check=rc)
        assert ours.stdout == theirs.stdout, args
    qio("b.raw", "write -P 1 15M 4k", fmt="raw")
    qio("c.qcow2", "write -P 2 1000 1", fmt="qcow2")
    for args in (["-f", "raw", "-F", "raw", "a.raw", "b.raw"],
                 ["-f", "raw", "-F", "qcow2", "a.raw", "c.qcow2"]):
        ours, theirs = both(vimg, "compare", *args, check=1)
        assert ours.stdout == theirs.stdout, args
    p = run(vimg, "compare", "a.raw", "missing.raw", check=2)
    assert p.stderr.startswith("vireo-img: ")


MEASURE_CASES = [
    ["--size", "1G", "-O", "qcow2"],
    ["--size", "10G", "-O", "qcow2", "-o", "cluster_size=4k,refcount_bits=1"],
    ["--size", "1G", "-O", "qcow2", "-o", "preallocation=full"],
    ["--size", "1G", "-O", "qcow2", "-o", "extended_l2=on"],
    ["--size", "3000", "-O", "qcow2", "-o", "cluster_size=2M"],
    ["--size", "1G", "-O", "raw"],
    ["--output=json", "--size", "100G", "-O", "qcow2"],
    ["-O", "qcow2", "m.qcow2"],
    ["-O", "raw", "m.qcow2"],
    ["--output=json", "-O", "qcow2", "m.qcow2"],
    ["-O", "qcow2", "-o", "cluster_size=4k", "m.qcow2"],
    ["-O", "qcow2", "-f", "raw", "src.raw"],
    ["-O", "qcow2", "-o", "compat=0.10", "m.qcow2"],
]


@pytest.mark.parametrize("args", MEASURE_CASES,
                         ids=[" ".join(a) for a in MEASURE_CASES])
def test_measure_matches_qemu_img(vimg, work, args):
    make_mixed_qcow2("m.qcow2")
    make_raw_source("src.raw", 16 * MIB)
    ours, theirs = both(vimg, "measure", *args, check=0)
    assert ours.stdout == theirs.stdout


def test_amend(vimg, work):
    qimg("create", "-q", "-f", "qcow2", "a.qcow2", "16M")
    qio("a.qcow2", "write -P 7 0 1M")
    run(vimg, "amend", "-o", "lazy_refcounts=on", "a.qcow2", check=0)
    data = json.loads(qimg("info", "--output=json",
                           "a.qcow2").stdout)["format-specific"]["data"]
    assert data["lazy-refcounts"] is True
    run(vimg, "amend", "-o", "lazy_refcounts=off,compat=0.10", "a.qcow2",
        check=0)
    data = json.loads(qimg("info", "--output=json",
                           "a.qcow2").stdout)["format-specific"]["data"]
    assert data["compat"] == "0.10"
    assert_qemu_check_clean("a.qcow2")
    qio("a.qcow2", "read -P 7 0 1M")
    p = run(vimg, "amend", "a.qcow2", check=1)
    assert "Must specify options (-o)" in p.stderr
    qimg("create", "-q", "-f", "raw", "r.raw", "1M")
    p = run(vimg, "amend", "-f", "raw", "-o", "size=2M", "r.raw", check=1)
    assert "does not support option amendment" in p.stderr


def test_commit_into_a_deeper_base(vimg, work):
    qimg("create", "-q", "-f", "qcow2", "base.qcow2", "16M")
    qio("base.qcow2", "write -P 0x01 0 4M")
    qimg("create", "-q", "-f", "qcow2", "-b", "base.qcow2", "-F", "qcow2",
         "mid.qcow2")
    qio("mid.qcow2", "write -P 0x02 1M 1M")
    qimg("create", "-q", "-f", "qcow2", "-b", "mid.qcow2", "-F", "qcow2",
         "top.qcow2")
    qio("top.qcow2", "write -P 0x03 3M 64k")
    qimg("convert", "-O", "raw", "top.qcow2", "expected.raw")
    run(vimg, "commit", "-b", "base.qcow2", "top.qcow2", check=0)
    assert_same_data("expected.raw", "base.qcow2", fmt_a="raw")
    assert_qemu_check_clean("base.qcow2")
    p = run(vimg, "commit", "-b", "nowhere.qcow2", "top.qcow2", check=1)
    assert "Did not find 'nowhere.qcow2' in the backing chain" in p.stderr
