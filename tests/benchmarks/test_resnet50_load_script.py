"""The cold-cache sample-load benchmark still runs (8 images, 1 and 2 threads, cache written).
Not a timing test: it checks the table and that every row's crops equal the 1-thread crops."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "resnet50_load.py"


def test_script_prints_the_table() -> None:
    cmd = [sys.executable, str(SCRIPT), "--images", "8", "--threads", "1,2", "--repeats", "1",
           "--cache"]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = [ln.split() for ln in proc.stdout.splitlines() if ln.startswith(("pytorch", "mean"))]
    assert len(rows) >= 4 and {r[2] for r in rows} == {"1", "2"}
    assert all(r[-1] == "yes" for r in rows)
