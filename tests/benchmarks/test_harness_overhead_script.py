"""The harness-overhead benchmark still runs (few samples, two Server probes). Not a timing test:
it checks that both SUTs complete every sample under LoadGen and the table is printed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "harness_overhead.py"


def test_script_runs_both_suts(tmp_path: Path) -> None:
    out = tmp_path / "overhead.json"
    cmd = [
        sys.executable, str(SCRIPT), "--samples", "20000", "--repeats", "1", "--probes", "2",
        "--server-start", "2000", "--server-ms", "500", "--json", str(out),
    ]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    data = json.loads(out.read_text())
    for sut in ("naive", "inferlab"):
        (offline,) = data["offline"][sut]
        assert offline["validity"] == "VALID" and offline["samples"] == 20000
        probes = data["server"][sut]
        assert [p["qps"] for p in probes] == [2000.0, 3000.0]
        assert all(p["validity"] == "VALID" for p in probes)  # far below either SUT's limit
    assert "inferlab / naive: Offline" in proc.stdout
