"""The soak of tests/soak/soak.py (`make soak`, 10 minutes) in a short
version for CI: 90 s of disk, network, console and timer load in the
Debian guest with the monitor queried in a loop. Every data check must
pass and Vireo must say nothing. The leak check is the long run's with a
looser slope limit (1 MiB/min instead of 256 KiB/min): 45 s after the
warm-up are too few for a finer figure (one heap growth of a few hundred
KiB would weigh too much), and a leak of 200 bytes per monitor command
(about 3 MiB/min) still fails it."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

SOAK = Path(__file__).resolve().parents[1] / "soak" / "soak.py"


@pytest.mark.slow
def test_soak_short(vireo_binary, debian_guest, tmp_path):
    result = tmp_path / "soak.json"
    p = subprocess.run([sys.executable, str(SOAK), "--minutes", "1.5",
                        "--max-slope", "1024", "--json", str(result)],
                       capture_output=True, text=True, timeout=1800)
    print(p.stdout)
    assert p.returncode == 0, p.stdout[-6000:] + p.stderr[-3000:]
    res = json.loads(result.read_text())
    assert res["failures"] == [], res["failures"]
    for load in ("disk", "net_down", "net_up", "console", "timer"):
        assert res["counts"][load] > 0, res["counts"]
    assert res["qmp_total"] > 100 and res["qmp"]["hmp"] > 0, res["qmp"]
    assert res["leak"]["window_s"] > 30, res["leak"]
