#!/usr/bin/env python3
"""Seed images for fuzz-qcow2, made with Debian's qemu-img and qemu-io:
small qcow2 files (512-byte clusters, a few KiB) with each feature the
driver reads: v2 and v3, refcount widths, extended L2, zero and
compressed clusters (zlib, zstd), snapshots, a backing file name, lazy
refcounts with the dirty bit. Usage: make-qcow2-seeds.py DIR. Without
qemu-img it writes nothing (libFuzzer then starts from scratch)."""

import os
import shutil
import subprocess
import sys
import tempfile

VARIANTS = [
    ("v3", []),
    ("v2", ["compat=0.10"]),
    ("rb1", ["refcount_bits=1"]),
    ("rb64", ["refcount_bits=64"]),
    ("extl2", ["extended_l2=on", "cluster_size=16k"]),
    ("zstd", ["compression_type=zstd"]),
    ("lazy", ["lazy_refcounts=on"]),
]


def run(*args):
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)


def make(tmp, name, opts, out):
    img = os.path.join(tmp, name + ".qcow2")
    cluster = "cluster_size=512" if not any(
        o.startswith("cluster_size") for o in opts) else None
    o = ",".join([x for x in [cluster, *opts] if x])
    run("qemu-img", "create", "-q", "-f", "qcow2", "-o", o, img, "64k")
    run("qemu-io", "-f", "qcow2", "-c", "write -P 0x5a 0 2k",
        "-c", "write -z 4k 1k", "-c", "write -P 0x11 9k 512", img)
    if name == "v3":
        run("qemu-img", "snapshot", "-c", "snap1", img)
        run("qemu-io", "-f", "qcow2", "-c", "write -P 0x22 0 1k", img)
    shutil.copy(img, os.path.join(out, name))
    if name == "lazy":
        # as a crash leaves it: the dirty bit (incompatible bit 0) set
        with open(img, "rb") as f:
            data = bytearray(f.read())
        data[79] |= 1
        with open(os.path.join(out, "lazy-dirty"), "wb") as f:
            f.write(data)
    if name in ("v3", "zstd"):
        comp = os.path.join(tmp, name + "-c.qcow2")
        ct = "compression_type=zstd" if name == "zstd" else \
            "compression_type=zlib"
        run("qemu-img", "convert", "-c", "-O", "qcow2", "-o",
            "cluster_size=512," + ct, img, comp)
        shutil.copy(comp, os.path.join(out, name + "-compressed"))


def main():
    out = sys.argv[1]
    if not shutil.which("qemu-img") or not shutil.which("qemu-io"):
        return
    with tempfile.TemporaryDirectory() as tmp:
        for name, opts in VARIANTS:
            make(tmp, name, opts, out)
        base = os.path.join(tmp, "base.qcow2")
        run("qemu-img", "create", "-q", "-f", "qcow2", "-o",
            "cluster_size=512", base, "64k")
        top = os.path.join(tmp, "top.qcow2")
        run("qemu-img", "create", "-q", "-f", "qcow2", "-o",
            "cluster_size=512", "-b", base, "-F", "qcow2", top)
        run("qemu-io", "-f", "qcow2", "-c", "write -P 0x33 1k 1k", top)
        shutil.copy(top, os.path.join(out, "backing"))


if __name__ == "__main__":
    main()
