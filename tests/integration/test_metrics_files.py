"""A null-backend run writes metrics.json/metrics.csv/telemetry.csv and result.json last."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from inferlab.results.system import ENV_SYSTEM_JSON, REQUIRED_FIELDS
from tests.integration.helpers import run_cfg

OFFLINE = ["loadgen.min_duration=0", "loadgen.min_query_count=100", "loadgen.target_qps=1000"]


@pytest.fixture(autouse=True)
def _no_user_system_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_SYSTEM_JSON, raising=False)


def test_performance_run_writes_metrics_and_telemetry(tmp_path: Path) -> None:
    res = run_cfg(
        tmp_path,
        OFFLINE,
        benchmark="resnet50",
        backend="null",
        scenario="Offline",
        count=64,
        calibrate=False,
    )
    assert res["status"] == "ok", res.get("error")
    run_dir = Path(res["run_dir"])
    files = {p.name: p for p in run_dir.iterdir() if p.is_file()}
    for name in ("metrics.json", "metrics.csv", "telemetry.csv", "result.json"):
        assert name in files, sorted(files)
    newest = max(files.values(), key=lambda p: p.stat().st_mtime_ns)
    assert files["result.json"].stat().st_mtime_ns == newest.stat().st_mtime_ns

    system = res["system"]
    assert set(REQUIRED_FIELDS) <= set(system) and system["system_name"]
    tel = res["telemetry"]
    assert tel["file"] == "telemetry.csv" and tel["ticks"] >= 1
    assert tel["samples"] == res["result"]["counts"]["samples"] == 100
    if tel["gpu"] is None:
        assert tel["gpu_reason"] and tel["energy_j"] is None
    if tel["cpu"] is not None:
        assert 0 <= (tel["cpu"]["util_avg_pct"] or 0) <= 100

    doc = json.loads(files["metrics.json"].read_text())
    prefix = f"{system['system_name']}_null-fp32_k_99-Offline-"
    got = {m["metricName"]: m for m in doc["metrics"]}
    assert all(n.startswith(prefix) for n in got)
    assert got[prefix + "PerformanceMode"]["metricValue"] == 1
    tput = got[prefix + "result_samples_per_second"]
    assert tput["metricValue"] == res["result"]["raw_value"]
    assert tput["metadata"]["run_dir"] == str(run_dir)
    with open(files["metrics.csv"], newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["MetricName"] for r in rows] == [m["metricName"] for m in doc["metrics"]]
    with open(files["telemetry.csv"], newline="") as fh:
        assert next(csv.reader(fh))[:3] == ["timestamp", "elapsed_s", "device"]


def test_accuracy_run_with_system_override(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    override = tmp_path / "system.json"
    override.write_text(json.dumps({"system_name": "lab box 7", "submitter": "ACME"}))
    monkeypatch.setenv(ENV_SYSTEM_JSON, str(override))
    res = run_cfg(
        tmp_path,
        [],
        benchmark="resnet50",
        backend="null",
        scenario="Offline",
        mode="accuracy",
        count=32,
        calibrate=False,
    )
    assert res["status"] == "ok", res.get("error")
    assert res["system"]["submitter"] == "ACME"
    assert res["system"]["_sources"]["override"] == str(override)
    doc = json.loads((Path(res["run_dir"]) / "metrics.json").read_text())
    names = [m["metricName"] for m in doc["metrics"]]
    prefix = "lab-box-7_null-fp32_k_99-Offline-"
    # synthetic data: a measured value, no PASS/FAIL verdict
    assert prefix + "AccuracyValue-acc" in names
    assert prefix + "AccuracyMode" not in names
