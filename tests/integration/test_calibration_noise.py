"""Issue 15, item 7: a quick run stays VALID when the machine was busy while the worker
calibrated and idle during the test. The null backend's test-only ``slow_first``/``slow_ms``
make the calibration's batches slow (620 ms) and the test's fast (8 ms): the reported failure
(SingleStream calibrated from 5 slow batches, 624 ms against 8 ms in the run, "min duration
not met")."""

from __future__ import annotations

import json
from pathlib import Path

from tests.integration.helpers import cli


def test_quick_singlestream_is_valid_after_a_calibration_on_a_busy_machine(
    tmp_path: Path,
) -> None:
    out = tmp_path / "runs"
    proc = cli(
        "run", "resnet50", "--quick", "--scenario", "SingleStream", "--backend", "null",
        "--out", str(out),
        "--set", "null_service_time_ms=8",
        # the warm-up and the 5 timed batches of the calibration (3.1 s) are slow, no batch after
        "--set", "null_slow_first=6", "--set", "null_slow_ms=620",
    )  # fmt: skip
    (run_dir,) = out.iterdir()
    result = json.loads((run_dir / "result.json").read_text())
    calib = result["calibration"]
    assert calib["latency_p50_s"] > 0.5  # the calibration did see only the busy machine
    assert result["status"] == "ok", proc.stdout + proc.stderr
    assert result["result"]["validity"] == "VALID", result["result"]["invalid_reasons"]
    hint = result["loadgen"]["keys"]["target_latency"]
    assert hint["source"] == "calibration" and hint["value"] <= 1000 / (8 * 64)
    assert "enough queries" in hint["note"]
