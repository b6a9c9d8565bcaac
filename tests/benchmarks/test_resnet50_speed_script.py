"""The ResNet50 speed benchmark still runs (tiny model on the CPU, a few batches). Not a timing
test: it checks the plumbing (raw loop on the worker's path, the LoadGen Offline child, the
SingleStream run) and that LoadGen completed the samples it reports."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "resnet50_speed.py"


def test_script_runs_raw_and_loadgen(tmp_path: Path) -> None:
    out = tmp_path / "speed.json"
    cmd = [
        sys.executable, str(SCRIPT), "--device", "cpu", "--variant", "tiny", "--modes", "eager",
        "--dtypes", "fp32", "--batch", "8", "--raw-batches", "4", "--offline-ms", "300",
        "--loop-threads", "1", "--no-server", "--ss-ms", "100", "--ss-queries", "64",
        "--store", "device", "--out", str(tmp_path / "runs"), "--json", str(out),
    ]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    data = json.loads(out.read_text())
    (row,) = data["rows"]
    assert (row["mode"], row["dtype"]) == ("eager", "fp32")
    assert row["raw"]["samples"] == 32 and row["raw"]["samples_per_s"] > 0
    lg = row["loadgen"]
    assert lg["status"] in ("ok", "invalid") and lg["samples"] >= 8
    assert row["efficiency"] > 0
    stored = json.loads((Path(lg["run_dir"]) / "result.json").read_text())
    assert stored["sample_store"]["kind"] == "device"
    assert stored["config"]["backend_options"]["mode"] == "eager"  # the torch section
    ss = data["single_stream"]
    assert ss["queries"] >= 64 and ss["p90_ms"] > 0
    assert "efficiency" in proc.stdout and "SingleStream" in proc.stdout
