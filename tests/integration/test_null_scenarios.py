"""Every scenario x mode through the real LoadGen with the null backend."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.helpers import detail_errors, logged_indices, run_cfg

N = 64
N_ACC = 60  # not a multiple of 8: MultiStream pads

PERF_SETTINGS = {
    "Offline": ["loadgen.min_duration=0", "loadgen.min_query_count=100", "loadgen.target_qps=1000"],
    "SingleStream": ["loadgen.min_duration=0", "loadgen.min_query_count=100"],
    "MultiStream": ["loadgen.min_duration=0", "loadgen.min_query_count=662"],
    "Server": ["loadgen.min_duration=0", "loadgen.min_query_count=600", "loadgen.target_qps=1000"],
}
EXPECTED_SAMPLES = {"Offline": 100, "SingleStream": 100, "MultiStream": 662 * 8, "Server": 600}


@pytest.mark.parametrize("scenario", list(PERF_SETTINGS))
def test_null_performance(tmp_path: Path, scenario: str) -> None:
    res = run_cfg(
        tmp_path,
        PERF_SETTINGS[scenario],
        benchmark="resnet50",
        backend="null",
        scenario=scenario,
        count=N,
        calibrate=False,
    )
    assert res["status"] == "ok", res.get("error") or res["result"]
    r = res["result"]
    assert r["validity"] == "VALID"
    assert r["value"] is not None and r["value"] > 0
    assert r["counts"]["samples"] == EXPECTED_SAMPLES[scenario]
    eff = res["loadgen"]["effective"]
    assert eff["effective_performance_sample_count"] == N  # QSL smaller than 1024
    assert res["loadgen"]["keys"]["performance_sample_count_override"]["source"] == "harness"
    assert res["flags"]["synthetic"] and not res["flags"]["submittable"]
    run_dir = Path(res["run_dir"])
    assert (run_dir / "user.conf").read_text().count(f"resnet50.{scenario}.") >= 3
    assert detail_errors(run_dir) == []


@pytest.mark.parametrize("scenario", list(PERF_SETTINGS))
def test_null_accuracy_covers_every_sample(tmp_path: Path, scenario: str) -> None:
    sets = ["loadgen.target_qps=2000"] if scenario == "Server" else []
    res = run_cfg(
        tmp_path,
        sets,
        benchmark="resnet50",
        backend="null",
        scenario=scenario,
        mode="accuracy",
        count=N_ACC,
        calibrate=False,
    )
    assert res["status"] == "ok", res.get("error")
    run_dir = Path(res["run_dir"])
    idx = logged_indices(run_dir)
    assert sorted(set(idx)) == list(range(N_ACC))
    if scenario == "MultiStream":
        assert len(idx) > N_ACC  # LoadGen pads the set to whole 8-sample queries
        assert res["accuracy"]["log"]["duplicates"] == len(idx) - N_ACC
    assert detail_errors(run_dir) == []
    acc = res["accuracy"]
    assert acc["status"] == "n/a-synthetic"
    assert acc["log"]["complete"] and acc["log"]["unique_samples"] == N_ACC
    assert (run_dir / "val_map.txt").is_file()
    assert (run_dir / "accuracy.txt").read_text().startswith("accuracy=")


def test_calibrated_server_states_offered_load_and_why_invalid(tmp_path: Path) -> None:
    from inferlab.report.console import summary
    from inferlab.results.models import RunResult

    res = run_cfg(
        tmp_path,
        ["loadgen.min_duration=0", "loadgen.min_query_count=100"],
        benchmark="resnet50",
        backend="null",
        scenario="Server",
        count=N,
        null_service_time_ms=20,
        batch_size=8,
    )
    assert res["status"] == "invalid"
    key = res["loadgen"]["keys"]["target_qps"]
    assert key["source"] == "calibration" and "0.5 x sustainable rate" in key["note"]
    calib = res["calibration"]
    # 20 ms per batch, over half the 15 ms bound even for one sample: 1 / 20 ms (issue 15)
    assert calib["server_batch"] == 1
    assert key["value"] == pytest.approx(0.5 * calib["sustainable_sps"], rel=1e-3)
    text = summary(RunResult.model_validate(res))
    assert "validity : INVALID" in text
    assert "latency constraint not met" in text and "15.0 ms" in text
    assert "setting  : target_qps" in text and "offered load" in text
    assert "[SYNTHETIC DATA]" in text and "[NULL BACKEND]" in text
    # --count on generated data sizes the generated set: not a subset of anything (issue 15)
    assert "[SUBSET]" not in text and res["flags"]["subset"] is False
    run_dir = Path(res["run_dir"])
    conf = (run_dir / "user.conf").read_text()
    assert f"resnet50.Server.target_qps = {key['value']}" in conf
